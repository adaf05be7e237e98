//! The message model shared by every mail connector (Maildir and mbox now, IMAP later): raw RFC
//! 5322 bytes → [`ParsedMessage`] → [`Item`]s.
//!
//! Parsing ([`parse_message`]) does all the expensive work (MIME, charsets, HTML conversion,
//! attachment extraction) and owns its results, so that turning a message into items
//! ([`message_items`]) is cheap and pure, and a connector can add what only it knows (folder,
//! flags) in between.
//!
//! # Threads
//!
//! `thread_key` is the Message-ID of the thread's root: the first id of `References` (RFC 5322
//! lists ancestors oldest first, and clients that shorten the list keep the first), else the
//! first of `In-Reply-To`, else the message's own Message-ID. So a root and all replies whose
//! clients kept `References`/`In-Reply-To` share a key without any lookup.
//!
//! A message without any of these ids gets `subject:` plus its normalised subject (reply and
//! forward prefixes such as `Re:`, `Fwd:`, `AW:` stripped, lowercased). Limitation: such a
//! message does not join the thread of a root that has a Message-ID (the root's key is its id),
//! and unrelated messages with the same subject and no ids are grouped together. Resolving this
//! needs a lookup across stored messages, which a connector cannot do.

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use ctx_connector_api::{Item, ItemKind, ItemLink, PersonRef, PersonRole};
use mail_parser::{
    Address, HeaderName, HeaderValue, Message, MessageParser, MimeHeaders, PartType,
};

use crate::MailError;
use crate::quote::quote_start;

/// Size limits of message parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailLimits {
    /// Messages larger than this are refused before parsing (default 50 MiB).
    pub max_message_bytes: u64,
    /// Attachments larger than this are listed but not extracted (default 20 MiB).
    pub max_attachment_bytes: u64,
    /// Bodies (and extracted attachment texts) are cut to this many characters (default 500,000).
    pub max_body_chars: usize,
    /// How long one PDF attachment may take to extract (default 10 s).
    pub extract_timeout: Duration,
}

impl Default for MailLimits {
    fn default() -> Self {
        MailLimits {
            max_message_bytes: 50 * 1024 * 1024,
            max_attachment_bytes: 20 * 1024 * 1024,
            max_body_chars: 500_000,
            extract_timeout: Duration::from_secs(10),
        }
    }
}

/// One address of an address header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    /// Trimmed and lowercased; `None` when the header named no address (a bare display name).
    pub email: Option<String>,
    /// The display name, RFC 2047 decoded.
    pub name: Option<String>,
}

/// An attachment of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// 1-based position among the message's attachments; stable for a given message, and part of
    /// the attachment item's external id.
    pub index: usize,
    /// The file name, or `attachment-{index}` when the message gives none.
    pub name: String,
    /// `type/subtype`, lowercased.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
    /// Shown inline without a file name (a logo in an HTML mail): decoration, not an attachment a
    /// person would name.
    pub inline: bool,
    /// The extracted text, when this is a document ctx can read.
    pub text: Option<String>,
}

/// A parsed message: everything [`message_items`] needs, owned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedMessage {
    /// RFC 2047 decoded, whitespace collapsed; empty when missing.
    pub subject: String,
    /// The Date header in milliseconds since the Unix epoch; `None` when missing or invalid.
    pub date_ms: Option<i64>,
    pub from: Vec<Mailbox>,
    pub sender: Vec<Mailbox>,
    pub to: Vec<Mailbox>,
    pub cc: Vec<Mailbox>,
    /// Without angle brackets.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    pub list_id: Option<String>,
    /// text/plain preferred, else HTML converted to text; line endings normalised to `\n`.
    pub body: String,
    /// The body was cut at [`MailLimits::max_body_chars`].
    pub body_truncated: bool,
    pub attachments: Vec<Attachment>,
    /// Set by the connector: the mailbox flags (`seen`, `flagged`...).
    pub flags: Vec<String>,
    /// Set by the connector: the folder the message is in.
    pub folder: Option<String>,
    /// Size of the raw message in bytes.
    pub size: usize,
}

/// Parses raw RFC 5322 bytes. Never panics: a panic inside the MIME parser becomes
/// [`MailError::Panicked`]. Malformed MIME is parsed as far as it goes (mail-parser is lenient:
/// a truncated multipart yields the parts it saw).
pub fn parse_message(raw: &[u8], limits: &MailLimits) -> Result<ParsedMessage, MailError> {
    let size = raw.len() as u64;
    if size > limits.max_message_bytes {
        return Err(MailError::TooLarge {
            size,
            limit: limits.max_message_bytes,
        });
    }
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(MailError::Empty);
    }
    match catch_unwind(AssertUnwindSafe(|| parse_inner(raw, limits))) {
        Ok(result) => result,
        Err(payload) => Err(MailError::Panicked {
            detail: panic_message(payload.as_ref()),
        }),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}

fn parse_inner(raw: &[u8], limits: &MailLimits) -> Result<ParsedMessage, MailError> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(MailError::Unparseable)?;
    let (body, body_truncated) = truncate_chars(body_text(&message), limits.max_body_chars);
    Ok(ParsedMessage {
        subject: message
            .subject()
            .map(collapse_whitespace)
            .unwrap_or_default(),
        date_ms: date_ms(&message),
        from: mailboxes(message.from()),
        sender: mailboxes(message.sender()),
        to: mailboxes(message.to()),
        cc: mailboxes(message.cc()),
        message_id: message.message_id().and_then(clean_id),
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        list_id: message.header_raw(HeaderName::ListId).and_then(list_id),
        body,
        body_truncated,
        attachments: attachments(&message, limits),
        flags: Vec::new(),
        folder: None,
        size: raw.len(),
    })
}

fn date_ms(message: &Message<'_>) -> Option<i64> {
    let date = message.date()?;
    date.is_valid()
        .then(|| date.to_timestamp().checked_mul(1000))
        .flatten()
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn clean_id(id: &str) -> Option<String> {
    let id = id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty()).then(|| id.to_owned())
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => clean_id(id).into_iter().collect(),
        HeaderValue::TextList(list) => list.iter().filter_map(|id| clean_id(id)).collect(),
        _ => Vec::new(),
    }
}

/// `List-Id: Friendly name <list.example.com>` → `list.example.com`.
fn list_id(raw: &str) -> Option<String> {
    let raw = raw.trim();
    let id = match (raw.rfind('<'), raw.rfind('>')) {
        (Some(open), Some(close)) if open < close => &raw[open + 1..close],
        _ => raw,
    };
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_owned())
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    let Some(address) = address else {
        return Vec::new();
    };
    address
        .iter()
        .filter_map(|addr| {
            let email = addr
                .address()
                .map(|a| {
                    a.trim()
                        .trim_start_matches('<')
                        .trim_end_matches('>')
                        .trim()
                })
                .filter(|a| !a.is_empty())
                .map(str::to_lowercase);
            let name = addr
                .name()
                .map(collapse_whitespace)
                .map(|n| n.trim_matches(['"', '\'']).trim().to_owned())
                .filter(|n| !n.is_empty())
                .filter(|n| email.as_deref() != Some(n.to_lowercase().as_str()));
            (email.is_some() || name.is_some()).then_some(Mailbox { email, name })
        })
        .collect()
}

fn normalise_newlines(text: &str) -> Cow<'_, str> {
    if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(text)
    }
}

fn truncate_chars(mut text: String, max_chars: usize) -> (String, bool) {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => {
            text.truncate(cut);
            (text, true)
        }
        None => (text, false),
    }
}

/// Renders HTML as readable text the way ctx-extract does for documents (no link footnotes or
/// decoration). Called directly rather than through `ctx_extract::extract`, whose format sniffing
/// would take an HTML body mentioning `%PDF-` near its start for a PDF.
pub(crate) fn html_to_text(html: &str) -> String {
    match catch_unwind(AssertUnwindSafe(|| ctx_extract::html_to_text(html))) {
        Ok(Ok(text)) => text,
        // html2text refused or panicked: mail-parser's simple tag stripper always yields something.
        Ok(Err(e)) => {
            tracing::debug!(reason = %e, "html conversion failed; stripping tags instead");
            ctx_extract::tidy(&mail_parser::decoders::html::html_to_text(html))
        }
        Err(_) => {
            tracing::debug!("html conversion panicked; stripping tags instead");
            ctx_extract::tidy(&mail_parser::decoders::html::html_to_text(html))
        }
    }
}

/// The readable body: the text/plain parts mail-parser picked as the body (it prefers text/plain
/// in multipart/alternative), HTML ones converted; the HTML body when there is no text at all.
fn body_text(message: &Message<'_>) -> String {
    let collect = |ids: &[u32]| {
        let mut parts: Vec<String> = Vec::new();
        for id in ids {
            let Some(part) = message.part(*id) else {
                continue;
            };
            let text = match &part.body {
                PartType::Text(text) => normalise_newlines(text).into_owned(),
                PartType::Html(html) => html_to_text(html),
                // Inline images in the body list are decoration.
                _ => continue,
            };
            if !text.trim().is_empty() {
                parts.push(text);
            }
        }
        parts.join("\n\n")
    };
    let text = collect(&message.text_body);
    if text.trim().is_empty() {
        collect(&message.html_body)
    } else {
        text
    }
}

/// `image/png` style content type of a part, lowercased.
fn content_type_of(part: &mail_parser::MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => match part.body {
            PartType::Message(_) => "message/rfc822".to_owned(),
            PartType::Text(_) => "text/plain".to_owned(),
            PartType::Html(_) => "text/html".to_owned(),
            _ => "application/octet-stream".to_owned(),
        },
    }
}

/// A file name that makes ctx-extract detect the right format when the attachment's own name has
/// no (useful) extension.
fn detection_name(name: &str, content_type: &str) -> String {
    let ext = match content_type {
        "application/pdf" => "pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document" => "docx",
        "text/html" => "html",
        "text/csv" => "csv",
        ct if ct.starts_with("text/") => "txt",
        _ => return name.to_owned(),
    };
    if name
        .rsplit_once('.')
        .is_some_and(|(_, e)| e.eq_ignore_ascii_case(ext))
    {
        return name.to_owned();
    }
    format!("{name}.{ext}")
}

fn attachments(message: &Message<'_>, limits: &MailLimits) -> Vec<Attachment> {
    let extract_limits = ctx_extract::Limits {
        max_input_bytes: limits.max_attachment_bytes,
        pdf_timeout: limits.extract_timeout,
        ..ctx_extract::Limits::default()
    };
    let mut out = Vec::new();
    for (i, part) in message.attachments().enumerate() {
        let index = i + 1;
        let given_name = part
            .attachment_name()
            .map(collapse_whitespace)
            .filter(|n| !n.is_empty());
        let content_type = content_type_of(part);
        let inline = given_name.is_none()
            && matches!(part.body, PartType::InlineBinary(_))
            && !part
                .content_disposition()
                .is_some_and(|cd| cd.is_attachment());
        let name = given_name.unwrap_or_else(|| match part.body {
            PartType::Message(ref nested) => nested
                .subject()
                .map(collapse_whitespace)
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| format!("attachment-{index}")),
            _ => format!("attachment-{index}"),
        });
        let size = part.len();
        let text = if inline {
            None
        } else {
            attachment_text(part, &name, &content_type, limits, &extract_limits)
        };
        let text = text.map(|t| truncate_chars(t, limits.max_body_chars).0);
        out.push(Attachment {
            index,
            name,
            content_type,
            size,
            inline,
            text,
        });
    }
    out
}

fn attachment_text(
    part: &mail_parser::MessagePart<'_>,
    name: &str,
    content_type: &str,
    limits: &MailLimits,
    extract_limits: &ctx_extract::Limits,
) -> Option<String> {
    if part.len() as u64 > limits.max_attachment_bytes {
        tracing::debug!(
            attachment = name,
            size = part.len(),
            "attachment too large to extract"
        );
        return None;
    }
    match &part.body {
        // mail-parser already decoded the charset of text parts; go no further than that.
        PartType::Text(text) => Some(normalise_newlines(text).into_owned()),
        PartType::Html(html) => Some(html_to_text(html)),
        PartType::Message(nested) => Some(nested_message_text(nested)),
        PartType::Multipart(_) => None,
        PartType::Binary(bytes) | PartType::InlineBinary(bytes) => {
            let major = content_type.split('/').next().unwrap_or("");
            if matches!(major, "image" | "audio" | "video" | "font")
                || ctx_extract::is_known_binary(name)
            {
                return None;
            }
            let detect_as = detection_name(name, content_type);
            match ctx_extract::extract(&detect_as, bytes, extract_limits) {
                Ok(extracted) => Some(extracted.text),
                Err(e) => {
                    tracing::debug!(attachment = name, reason = %e, "attachment not extracted");
                    None
                }
            }
        }
    }
}

/// A forwarded message as text: its main headers, then its body.
fn nested_message_text(nested: &Message<'_>) -> String {
    let mut text = String::new();
    let people = |address: Option<&Address<'_>>| {
        mailboxes(address)
            .iter()
            .map(display_mailbox)
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (label, value) in [
        ("From", people(nested.from())),
        ("To", people(nested.to())),
        (
            "Subject",
            nested
                .subject()
                .map(collapse_whitespace)
                .unwrap_or_default(),
        ),
    ] {
        if !value.is_empty() {
            text.push_str(label);
            text.push_str(": ");
            text.push_str(&value);
            text.push('\n');
        }
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(&body_text(nested));
    text
}

fn display_mailbox(mailbox: &Mailbox) -> String {
    match (&mailbox.name, &mailbox.email) {
        (Some(name), Some(email)) => format!("{name} <{email}>"),
        (Some(name), None) => name.clone(),
        (None, Some(email)) => email.clone(),
        (None, None) => String::new(),
    }
}

/// Reply and forward prefixes of common clients and languages, lowercased, without the colon.
const SUBJECT_PREFIXES: &[&str] = &[
    "re", "fw", "fwd", "aw", "wg", "sv", "vs", "antw", "tr", "rif", "r", "ref", "odp", "doorst",
];

/// A subject without reply/forward prefixes (`Re:`, `Fwd:`, `AW:`, `Re[2]:`...), lowercased and
/// whitespace-collapsed, for grouping messages that carry no thread ids.
pub fn normalise_subject(subject: &str) -> String {
    let mut s = collapse_whitespace(subject).to_lowercase();
    loop {
        let trimmed = s.trim_start();
        let Some((prefix, rest)) = trimmed.split_once(':') else {
            break;
        };
        // `Re[2]` and `Re(2)` count replies.
        let word = prefix
            .trim()
            .trim_end_matches(|c: char| c.is_ascii_digit() || matches!(c, '[' | ']' | '(' | ')'));
        if SUBJECT_PREFIXES.contains(&word) {
            s = rest.trim_start().to_owned();
        } else {
            break;
        }
    }
    s.trim().to_owned()
}

/// The thread key of a message; see the module docs.
pub fn thread_key(parsed: &ParsedMessage) -> Option<String> {
    if let Some(root) = parsed
        .references
        .first()
        .or(parsed.in_reply_to.first())
        .or(parsed.message_id.as_ref())
    {
        return Some(root.clone());
    }
    let subject = normalise_subject(&parsed.subject);
    (!subject.is_empty()).then(|| format!("subject:{subject}"))
}

/// The external id of attachment `index` of message `parent`.
pub fn attachment_external_id(parent: &str, index: usize) -> String {
    format!("{parent}#att{index}")
}

/// The parent message's external id of an attachment item's external id, or `None` when `id` is
/// not an attachment id.
pub fn attachment_parent(id: &str) -> Option<&str> {
    let (parent, n) = id.rsplit_once("#att")?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(parent)
}

fn push_people(out: &mut Vec<PersonRef>, mailboxes: &[Mailbox], role: PersonRole) {
    for mailbox in mailboxes {
        let duplicate = out
            .iter()
            .any(|p| p.role == role && p.email.is_some() && p.email == mailbox.email);
        if !duplicate {
            out.push(PersonRef {
                email: mailbox.email.clone(),
                name: mailbox.name.clone(),
                role,
            });
        }
    }
}

/// Keeps a long `References` field short: the root, an ellipsis, and the three nearest ancestors.
fn references_field(references: &[String]) -> String {
    if references.len() <= 5 {
        references.join(" ")
    } else {
        let tail = &references[references.len() - 3..];
        format!("{} … {}", references[0], tail.join(" "))
    }
}

fn human_size(bytes: usize) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else if bytes >= 1024 {
        format!("{} KB", bytes.div_ceil(1024))
    } else {
        format!("{bytes} B")
    }
}

/// The items of a parsed message: the email itself, then one [`ItemKind::Attachment`] item per
/// attachment whose text could be extracted (`"{external_id}#att{n}"`, linked `attachment_of`
/// the email, in its thread). Other attachments are listed in the email's `attachments` field.
/// `version` is left to the connector.
pub fn message_items(parsed: &ParsedMessage, external_id: &str, locator: &str) -> Vec<Item> {
    let title = if parsed.subject.trim().is_empty() {
        "(no subject)".to_owned()
    } else {
        parsed.subject.clone()
    };
    let thread = thread_key(parsed);
    let mut email = Item::new(external_id, ItemKind::Email, title.clone(), &parsed.body);
    email.locator = locator.to_owned();
    email.timestamp_ms = parsed.date_ms;
    email.thread_key = thread.clone();
    push_people(&mut email.people, &parsed.from, PersonRole::From);
    let senders: Vec<Mailbox> = parsed
        .sender
        .iter()
        .filter(|s| !parsed.from.iter().any(|f| f.email == s.email))
        .cloned()
        .collect();
    push_people(&mut email.people, &senders, PersonRole::From);
    push_people(&mut email.people, &parsed.to, PersonRole::To);
    push_people(&mut email.people, &parsed.cc, PersonRole::Cc);

    let mut field = |name: &str, value: String| email.fields.push((name.to_owned(), value));
    if let Some(folder) = &parsed.folder {
        field("folder", folder.clone());
    }
    if !parsed.flags.is_empty() {
        field("flags", parsed.flags.join(","));
    }
    if let Some(id) = &parsed.message_id {
        field("message_id", id.clone());
    }
    if !parsed.in_reply_to.is_empty() {
        field("in_reply_to", parsed.in_reply_to.join(" "));
    }
    if !parsed.references.is_empty() {
        field("references", references_field(&parsed.references));
    }
    if let Some(list) = &parsed.list_id {
        field("list_id", list.clone());
    }
    let real: Vec<&Attachment> = parsed.attachments.iter().filter(|a| !a.inline).collect();
    field("has_attachments", (!real.is_empty()).to_string());
    let others: Vec<String> = real
        .iter()
        .filter(|a| a.text.is_none())
        .map(|a| format!("{} ({}, {})", a.name, a.content_type, human_size(a.size)))
        .collect();
    if !others.is_empty() {
        field("attachments", others.join("; "));
    }
    if parsed.body_truncated {
        field("truncated", "true".to_owned());
    }
    if let Some(start) = quote_start(&parsed.body) {
        field("quote_start", start.to_string());
    }

    let mut items = Vec::with_capacity(1 + real.len());
    let from_people: Vec<PersonRef> = email
        .people
        .iter()
        .filter(|p| p.role == PersonRole::From)
        .cloned()
        .collect();
    items.push(email);
    for attachment in real {
        let Some(text) = &attachment.text else {
            continue;
        };
        let mut item = Item::new(
            attachment_external_id(external_id, attachment.index),
            ItemKind::Attachment,
            attachment.name.clone(),
            text.as_str(),
        );
        item.locator = locator.to_owned();
        item.timestamp_ms = parsed.date_ms;
        item.thread_key = thread.clone();
        // The sender is who a person remembers an attachment by ("the PDF Alice sent").
        item.people = from_people.clone();
        item.links.push(ItemLink {
            relation: "attachment_of".to_owned(),
            target_external_id: external_id.to_owned(),
        });
        item.fields
            .push(("content_type".to_owned(), attachment.content_type.clone()));
        item.fields
            .push(("size".to_owned(), attachment.size.to_string()));
        item.fields
            .push(("email_subject".to_owned(), title.clone()));
        items.push(item);
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_normalised_for_threading() {
        assert_eq!(
            normalise_subject("Re: RE: Fwd: Budget  2024"),
            "budget 2024"
        );
        assert_eq!(normalise_subject("AW: WG: Angebot"), "angebot");
        assert_eq!(normalise_subject("Re[2]: hello"), "hello");
        assert_eq!(normalise_subject("Meeting: agenda"), "meeting: agenda");
        assert_eq!(normalise_subject(""), "");
    }

    #[test]
    fn attachment_ids_round_trip() {
        let id = attachment_external_id("INBOX/123.abc", 2);
        assert_eq!(id, "INBOX/123.abc#att2");
        assert_eq!(attachment_parent(&id), Some("INBOX/123.abc"));
        assert_eq!(attachment_parent("INBOX/123.abc"), None);
        assert_eq!(attachment_parent("x#attic"), None);
    }

    #[test]
    fn list_ids_and_message_ids_are_cleaned() {
        assert_eq!(
            list_id("Rust users <rust-users.lists.example.org>").as_deref(),
            Some("rust-users.lists.example.org")
        );
        assert_eq!(list_id("plain.example").as_deref(), Some("plain.example"));
        assert_eq!(clean_id(" <a@b> ").as_deref(), Some("a@b"));
        assert_eq!(clean_id("<>"), None);
    }

    #[test]
    fn detection_names_carry_a_useful_extension() {
        assert_eq!(detection_name("report", "application/pdf"), "report.pdf");
        assert_eq!(
            detection_name("report.PDF", "application/pdf"),
            "report.PDF"
        );
        assert_eq!(detection_name("data", "text/csv"), "data.csv");
        assert_eq!(detection_name("x.bin", "application/octet-stream"), "x.bin");
    }
}
