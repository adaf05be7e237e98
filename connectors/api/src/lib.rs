//! The connector contract of ctx, and nothing else.
//!
//! A connector mirrors one source (a folder of documents, a mailbox, a calendar, a CRM) into ctx.
//! It never writes to the store itself: it returns [`Batch`]es of upserts and deletions plus an
//! opaque [`Cursor`], and the daemon commits each batch together with its cursor in one SQLite
//! transaction. After a crash the daemon pulls again from the last committed cursor, so a connector
//! must tolerate replaying work: upserts are idempotent because item ids are stable
//! ([`ItemId::new`]) and unchanged content is detected by hash.
//!
//! Connector crates depend on this crate alone (like tantivy's tokenizer-api); only the daemon wires
//! connectors, store and search together.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Stable internal id of an item: a hash of the source name and the connector's external id.
///
/// Uses BLAKE3 (a specified, versioned hash) rather than `DefaultHasher`, whose output may change
/// between Rust releases; ids are persisted and handed to clients, so they must never change.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ItemId(String);

impl ItemId {
    /// The id of `external_id` within source `source` (32 lowercase hex digits).
    pub fn new(source: &str, external_id: &str) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"ctx-item-v1\0");
        hasher.update(source.as_bytes());
        hasher.update(b"\0");
        hasher.update(external_id.as_bytes());
        let hash = hasher.finalize();
        let hex = hash.to_hex();
        ItemId(hex.as_str()[..32].to_string())
    }

    /// Wraps an id that was produced by [`ItemId::new`] earlier (read back from storage or a client).
    pub fn from_raw(raw: impl Into<String>) -> Self {
        ItemId(raw.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an item is. Connectors of every source share this vocabulary so that filters and
/// ranking treat "an email" the same whether it came from IMAP or a Maildir.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Document,
    Email,
    Attachment,
    Event,
    Task,
    Contact,
    Company,
    Deal,
    Note,
}

impl ItemKind {
    pub const ALL: [ItemKind; 9] = [
        ItemKind::Document,
        ItemKind::Email,
        ItemKind::Attachment,
        ItemKind::Event,
        ItemKind::Task,
        ItemKind::Contact,
        ItemKind::Company,
        ItemKind::Deal,
        ItemKind::Note,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Document => "document",
            ItemKind::Email => "email",
            ItemKind::Attachment => "attachment",
            ItemKind::Event => "event",
            ItemKind::Task => "task",
            ItemKind::Contact => "contact",
            ItemKind::Company => "company",
            ItemKind::Deal => "deal",
            ItemKind::Note => "note",
        }
    }

    /// Parses the name produced by [`ItemKind::as_str`].
    pub fn parse(name: &str) -> Option<ItemKind> {
        ItemKind::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a person relates to an item (sender of a mail, attendee of a meeting, owner of a deal...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonRole {
    Author,
    From,
    To,
    Cc,
    Organizer,
    Attendee,
    Owner,
    Subject,
    Mentioned,
}

impl PersonRole {
    pub fn as_str(self) -> &'static str {
        match self {
            PersonRole::Author => "author",
            PersonRole::From => "from",
            PersonRole::To => "to",
            PersonRole::Cc => "cc",
            PersonRole::Organizer => "organizer",
            PersonRole::Attendee => "attendee",
            PersonRole::Owner => "owner",
            PersonRole::Subject => "subject",
            PersonRole::Mentioned => "mentioned",
        }
    }

    pub fn parse(name: &str) -> Option<PersonRole> {
        [
            PersonRole::Author,
            PersonRole::From,
            PersonRole::To,
            PersonRole::Cc,
            PersonRole::Organizer,
            PersonRole::Attendee,
            PersonRole::Owner,
            PersonRole::Subject,
            PersonRole::Mentioned,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }
}

/// A person named by an item. The store merges people across sources by normalised email
/// address (and derives their organisation from the address domain).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PersonRef {
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: PersonRole,
}

/// An organisation named by an item (a CRM company, an event's organiser's company...).
/// Merged across sources by domain when one is known, else by normalised name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrgRef {
    pub domain: Option<String>,
    pub name: Option<String>,
}

/// A typed edge from this item to another item of the same source, named by external id
/// (a reply to a mail, an attachment's parent, a note's deal). Targets that are not (yet)
/// stored are kept and resolve once they arrive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ItemLink {
    pub relation: String,
    pub target_external_id: String,
}

/// Name of the [`Item::fields`] entry holding the byte offset in [`Item::body`] where quoted
/// text (a reply's quotation of earlier mail, a signature) begins. The store counts the text
/// before it separately so that packing can show a thread's replies without repeating quotes.
pub const FIELD_QUOTE_START: &str = "quote_start";

/// Mail domains of free-mail providers: an address there names a person, never an
/// organisation. Shared vocabulary: the store derives organisations from address domains and
/// connectors (vCards, CRM) decide whether a domain names a company.
pub const FREE_MAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "ymail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "proton.me",
    "protonmail.com",
    "pm.me",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "posteo.de",
    "t-online.de",
    "mail.com",
    "yandex.com",
    "yandex.ru",
    "zoho.com",
    "fastmail.com",
    "hey.com",
    "tutanota.com",
    "qq.com",
    "163.com",
];

/// One item as a connector sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The connector's own id (a path; `folder;uidvalidity;uid`; an iCalendar UID...).
    pub external_id: String,
    pub kind: ItemKind,
    pub title: String,
    /// Where a person finds the original: a path, a `file://`, `imap://` or `https://` URI.
    pub locator: String,
    /// The item's own time (modification, sending, start), in milliseconds since the Unix epoch.
    pub timestamp_ms: Option<i64>,
    /// Start instants (ms since the Unix epoch) of a recurring item's occurrences within the
    /// connector's window: the series stays one item, and a date filter matches it when any
    /// occurrence falls inside. Empty for everything that happens once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub occurrences_ms: Vec<i64>,
    /// The full text, as a model should read it (already converted from HTML/PDF/DOCX...).
    pub body: String,
    pub people: Vec<PersonRef>,
    pub organizations: Vec<OrgRef>,
    pub links: Vec<ItemLink>,
    /// Items sharing a thread key (a mail thread, an event series) are packed as one unit.
    pub thread_key: Option<String>,
    /// Cheap source-side version (mtime+size, ETag, MODSEQ) that lets a connector skip an unchanged
    /// item without reading it; see [`KnownState`]. Not part of the content hash.
    pub version: Option<String>,
    /// Small extra facts shown to the model (status, stage, amount, flags...).
    pub fields: Vec<(String, String)>,
}

impl Item {
    /// An item with the required parts; every other field empty.
    pub fn new(
        external_id: impl Into<String>,
        kind: ItemKind,
        title: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        Item {
            external_id: external_id.into(),
            kind,
            title: title.into(),
            locator: String::new(),
            timestamp_ms: None,
            occurrences_ms: Vec::new(),
            body: body.into(),
            people: Vec::new(),
            organizations: Vec::new(),
            links: Vec::new(),
            thread_key: None,
            version: None,
            fields: Vec::new(),
        }
    }
}

/// An opaque position in a source's change stream, chosen and interpreted by its connector only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cursor(pub String);

impl Cursor {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The outcome of one pull: what changed, and where to continue from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub upserts: Vec<Item>,
    /// External ids of items that no longer exist at the source (they become tombstones).
    pub deletes: Vec<String>,
    /// Position after this batch; `None` keeps the current cursor.
    pub cursor: Option<Cursor>,
    /// More work is waiting: the daemon pulls again at once instead of waiting for a change.
    pub has_more: bool,
    /// Progress of a long pass (initial scan, full resync), for `ctx status` and `ctx sync --wait`.
    pub progress: Option<Progress>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.deletes.is_empty()
    }
}

/// How far a long pass has come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// Read access to what the store already holds for this source, so a connector can reconcile
/// (find what changed or disappeared while the daemon was down) without keeping state of its own.
pub trait KnownState: Send + Sync {
    /// External id → version (see [`Item::version`]) of every live item of this source.
    fn versions(&self) -> Result<HashMap<String, Option<String>>, ConnectorError>;
}

/// A `KnownState` for tests and first runs: nothing is known.
pub struct NothingKnown;

impl KnownState for NothingKnown {
    fn versions(&self) -> Result<HashMap<String, Option<String>>, ConnectorError> {
        Ok(HashMap::new())
    }
}

/// What a connector gets from the daemon on each pull.
#[derive(Clone)]
pub struct SyncContext {
    pub known: Arc<dyn KnownState>,
}

/// The result of waiting for the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Something changed (or may have): pull now.
    Changed,
    /// The connector has nothing to watch and no schedule: it will never wake again.
    Never,
}

/// A source mirrored into ctx.
///
/// The daemon drives each connector from one task: `pull` until `has_more` is false, then
/// `wait_for_change`, then `pull` again. The first pull after a start receives the stored cursor
/// (or `None` on a first run) and must reconcile with the source.
#[async_trait::async_trait]
pub trait Connector: Send {
    /// The connector type as written in its config file (`files`, `imap`...).
    fn type_name(&self) -> &'static str;

    /// Returns the next batch of changes after `cursor`.
    async fn pull(
        &mut self,
        cursor: Option<&Cursor>,
        ctx: &SyncContext,
    ) -> Result<Batch, ConnectorError>;

    /// Waits until the source may have changed (file watch, IMAP IDLE, poll interval).
    async fn wait_for_change(&mut self) -> Result<Wake, ConnectorError>;

    /// Problems of the pass that just ended which did not fail it (a calendar subscription that
    /// could not be fetched while its stored items were kept, say), taken by the daemon after
    /// each successful pass and shown in `ctx status` until the next one. Each is one line
    /// naming what failed and why; never a secret.
    fn take_problems(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// What kind of failure a [`ConnectorError`] is, which decides what the daemon does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Network hiccup, server busy, timeout: retry with backoff.
    Transient,
    /// Credentials rejected: report in status and wait; retrying at once would only lock the account.
    Auth,
    /// The stored cursor is no longer honoured (UIDVALIDITY changed, sync token expired): resync.
    CursorExpired,
    /// The configuration cannot work (missing folder, bad URL): report and stop this connector.
    Config,
    /// Anything else that will not get better by retrying.
    Permanent,
}

/// An error of a connector, with the [`ErrorKind`] that decides retrying.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConnectorError {
    pub kind: ErrorKind,
    pub message: String,
    /// Suggested wait before retrying (an HTTP `Retry-After`, say).
    pub retry_after: Option<Duration>,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ConnectorError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ConnectorError {
            kind,
            message: message.into(),
            retry_after: None,
            source: None,
        }
    }

    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permanent, message)
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Config, message)
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Transient | ErrorKind::CursorExpired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ids_are_stable_across_releases() {
        // A golden value: if this changes, every stored id and every client's saved id breaks.
        assert_eq!(
            ItemId::new("notes", "/home/a/readme.md").as_str(),
            "f41687b3a047e22147308f1c1af27def"
        );
        assert_eq!(ItemId::new("notes", "/home/a/readme.md").as_str().len(), 32);
        assert_ne!(ItemId::new("notes", "a"), ItemId::new("note", "sa"));
        assert_ne!(ItemId::new("a", "b"), ItemId::new("b", "a"));
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in ItemKind::ALL {
            assert_eq!(ItemKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ItemKind::parse("bogus"), None);
    }
}
