//! The message model: MIME structure, RFC 2047, charsets, HTML, people, threads, quotes,
//! attachments, and malformed input.

use std::io::Write;

use ctx_connector_api::{Item, ItemKind, PersonRole};
use ctx_connector_mail::{MailError, MailLimits, message_items, parse_message, thread_key};

fn items(raw: &[u8]) -> Vec<Item> {
    let parsed = parse_message(raw, &MailLimits::default()).expect("parses");
    message_items(&parsed, "INBOX/1", "file:///m/1")
}

fn field<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn rfc2047_subjects_are_decoded() {
    let cases: [(&str, &str); 4] = [
        ("=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=", "Grüße aus Köln"),
        ("=?ISO-8859-1?Q?Caf=E9_cr=E8me?=", "Café crème"),
        ("=?iso-8859-1?b?Q2Fm6Q==?= au lait", "Café au lait"),
        ("=?utf-8?q?=E2=82=AC_100?=", "€ 100"),
    ];
    for (encoded, decoded) in cases {
        let raw = format!("Subject: {encoded}\r\nFrom: a@example.com\r\n\r\nbody\r\n");
        assert_eq!(items(raw.as_bytes())[0].title, decoded, "{encoded}");
    }
}

#[test]
fn missing_or_blank_subject_is_named() {
    assert_eq!(
        items(b"From: a@example.com\n\nhello\n")[0].title,
        "(no subject)"
    );
    assert_eq!(items(b"Subject:   \n\nhello\n")[0].title, "(no subject)");
}

#[test]
fn bodies_are_charset_decoded() {
    let latin1 = b"Subject: x\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 na=EFve\r\n";
    assert!(items(latin1)[0].body.contains("Café naïve"));
    // 8-bit windows-1252: euro sign and curly quotes live in 0x80..0x9f, where Latin-1 has none.
    let mut cp1252 =
        b"Subject: x\r\nContent-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            .to_vec();
    cp1252.extend_from_slice(b"\x93Price\x94: 5 \x80\r\n");
    assert!(
        items(&cp1252)[0]
            .body
            .contains("\u{201c}Price\u{201d}: 5 €")
    );
}

#[test]
fn multipart_alternative_prefers_text_plain() {
    let raw = b"Subject: alt\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe plain version.\r\n--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>The <b>HTML</b> version.</p>\r\n--XX--\r\n";
    let email = &items(raw)[0];
    assert!(email.body.contains("The plain version."));
    assert!(!email.body.contains("HTML"));
    assert_eq!(field(email, "has_attachments"), Some("false"));
}

#[test]
fn html_only_becomes_readable_text() {
    let raw = b"Subject: html\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><head><style>p{color:red}</style><script>var x=1;</script></head><body><h1>Quarterly&nbsp;report</h1><p>Revenue grew <b>12%</b>.</p><ul><li>One</li><li>Two</li></ul></body></html>\r\n";
    let body = &items(raw)[0].body;
    assert!(body.contains("Quarterly"), "{body}");
    assert!(body.contains("Revenue grew 12%."), "{body}");
    assert!(body.contains("One") && body.contains("Two"), "{body}");
    for noise in ["<p>", "<b>", "color:red", "var x"] {
        assert!(!body.contains(noise), "{noise} in {body}");
    }
}

#[test]
fn people_dates_and_ids_are_extracted() {
    let raw = b"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <Juergen.Mueller@Example.COM>\r\nSender: assistant@example.com\r\nTo: \"Bob\" <bob@example.org>, carol@example.net\r\nCc: Team: dave@example.com, erin@example.com;\r\nDate: Mon, 3 Jun 2024 12:00:00 +0200\r\nMessage-ID: <m1@example.com>\r\nList-Id: Project list <project.lists.example.com>\r\nSubject: hi\r\n\r\nbody\r\n";
    let email = &items(raw)[0];
    assert_eq!(email.kind, ItemKind::Email);
    assert_eq!(email.timestamp_ms, Some(1_717_408_800_000));
    let people: Vec<(PersonRole, Option<&str>, Option<&str>)> = email
        .people
        .iter()
        .map(|p| (p.role, p.email.as_deref(), p.name.as_deref()))
        .collect();
    assert_eq!(
        people,
        vec![
            (
                PersonRole::From,
                Some("juergen.mueller@example.com"),
                Some("Jürgen Müller")
            ),
            (PersonRole::From, Some("assistant@example.com"), None),
            (PersonRole::To, Some("bob@example.org"), Some("Bob")),
            (PersonRole::To, Some("carol@example.net"), None),
            (PersonRole::Cc, Some("dave@example.com"), None),
            (PersonRole::Cc, Some("erin@example.com"), None),
        ]
    );
    assert!(email.organizations.is_empty());
    assert_eq!(field(email, "message_id"), Some("m1@example.com"));
    assert_eq!(field(email, "list_id"), Some("project.lists.example.com"));
    assert_eq!(email.thread_key.as_deref(), Some("m1@example.com"));
}

#[test]
fn a_reply_chain_shares_one_thread_key() {
    let root = b"Message-ID: <root@x>\nSubject: Plan\n\nstart\n".to_vec();
    let reply = b"Message-ID: <r1@x>\nIn-Reply-To: <root@x>\nSubject: Re: Plan\n\nok\n".to_vec();
    let reply2 = b"Message-ID: <r2@x>\nIn-Reply-To: <r1@x>\nReferences: <root@x> <r1@x>\nSubject: Re: Re: Plan\n\nfine\n".to_vec();
    let keys: Vec<Option<String>> = [root, reply, reply2]
        .iter()
        .map(|raw| thread_key(&parse_message(raw, &MailLimits::default()).unwrap()))
        .collect();
    assert_eq!(keys, vec![Some("root@x".to_owned()); 3]);
    let reply_item = &items(
        b"Message-ID: <r2@x>\nIn-Reply-To: <r1@x>\nReferences: <root@x> <r1@x>\nSubject: s\n\nx\n",
    )[0];
    assert_eq!(field(reply_item, "in_reply_to"), Some("r1@x"));
    assert_eq!(field(reply_item, "references"), Some("root@x r1@x"));
    // Without any ids, the normalised subject groups ("Re:"/"AW:" stripped).
    let a = parse_message(b"Subject: AW: Re: Budget\n\nx\n", &MailLimits::default()).unwrap();
    let b = parse_message(b"Subject: Budget\n\ny\n", &MailLimits::default()).unwrap();
    assert_eq!(thread_key(&a), Some("subject:budget".to_owned()));
    assert_eq!(thread_key(&a), thread_key(&b));
}

#[test]
fn quoted_replies_and_signatures_are_marked() {
    let raw = b"Subject: Re: lunch\r\n\r\nFriday works.\r\n\r\nOn Mon, 3 Jun 2024, Alice <a@example.com> wrote:\r\n> Lunch on Friday?\r\n";
    let email = &items(raw)[0];
    let start: usize = field(email, "quote_start").unwrap().parse().unwrap();
    assert!(
        email.body.contains("Lunch on Friday?"),
        "the full body is kept"
    );
    assert!(email.body[start..].starts_with("On Mon"));
    assert_eq!(email.body[..start].trim(), "Friday works.");

    let signed = b"Subject: s\n\nSee attached.\n-- \nBob\n";
    let email = &items(signed)[0];
    let start: usize = field(email, "quote_start").unwrap().parse().unwrap();
    assert_eq!(&email.body[start..], "-- \nBob\n");

    let outlook = b"Subject: RE: x\r\n\r\nApproved.\r\n\r\n-----Original Message-----\r\nFrom: Bob\r\n\r\nPlease approve.\r\n";
    let email = &items(outlook)[0];
    let start: usize = field(email, "quote_start").unwrap().parse().unwrap();
    assert!(email.body[start..].starts_with("-----Original Message-----"));

    assert_eq!(
        field(&items(b"Subject: s\n\nno quotes here\n")[0], "quote_start"),
        None
    );
}

fn docx(paragraphs: &[&str]) -> Vec<u8> {
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buffer);
        let options = zip::write::SimpleFileOptions::default();
        zip.start_file("[Content_Types].xml", options).unwrap();
        zip.write_all(b"<?xml version=\"1.0\"?><Types/>").unwrap();
        zip.start_file("word/document.xml", options).unwrap();
        let mut xml = String::from(
            "<?xml version=\"1.0\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>",
        );
        for p in paragraphs {
            xml.push_str(&format!("<w:p><w:r><w:t>{p}</w:t></w:r></w:p>"));
        }
        xml.push_str("</w:body></w:document>");
        zip.write_all(xml.as_bytes()).unwrap();
        zip.finish().unwrap();
    }
    buffer.into_inner()
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out.as_bytes()
        .chunks(76)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[test]
fn attachments_become_child_items_with_extracted_text() {
    let doc = base64(&docx(&["Contract terms", "Payment within 30 days."]));
    let png = base64(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    let raw = format!(
        "From: Alice <alice@example.com>\r\nSubject: Documents\r\nMessage-ID: <docs@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n--B\r\nContent-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document\r\nContent-Disposition: attachment; filename=\"contract.docx\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{doc}\r\n--B\r\nContent-Type: text/csv; charset=iso-8859-1\r\nContent-Disposition: attachment; filename=\"prices.csv\"\r\n\r\nitem,price\r\ncaf\u{e9},3\r\n--B\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=\"logo.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{png}\r\n--B--\r\n"
    );
    let raw: Vec<u8> = raw.chars().map(|c| c as u32 as u8).collect();
    let all = items(&raw);
    assert_eq!(all.len(), 3, "{all:#?}");
    let email = &all[0];
    assert_eq!(email.body.trim(), "See attached.");
    assert_eq!(field(email, "has_attachments"), Some("true"));
    assert_eq!(
        field(email, "attachments"),
        Some("logo.png (image/png, 16 B)")
    );

    let docx_item = &all[1];
    assert_eq!(docx_item.kind, ItemKind::Attachment);
    assert_eq!(docx_item.external_id, "INBOX/1#att1");
    assert_eq!(docx_item.title, "contract.docx");
    assert!(docx_item.body.contains("Payment within 30 days."));
    assert_eq!(docx_item.links[0].relation, "attachment_of");
    assert_eq!(docx_item.links[0].target_external_id, "INBOX/1");
    assert_eq!(docx_item.thread_key.as_deref(), Some("docs@x"));
    assert_eq!(
        docx_item.people[0].email.as_deref(),
        Some("alice@example.com")
    );

    let csv = &all[2];
    assert_eq!(csv.external_id, "INBOX/1#att2");
    assert_eq!(csv.title, "prices.csv");
    assert!(csv.body.contains("café,3"), "{}", csv.body);
}

#[test]
fn forwarded_messages_are_readable_attachments() {
    let raw = b"Subject: Fwd: report\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nFYI\r\n--B\r\nContent-Type: message/rfc822\r\n\r\nFrom: Carol <carol@example.com>\r\nSubject: Q3 report\r\n\r\nNumbers are up.\r\n--B--\r\n";
    let all = items(raw);
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].title, "Q3 report");
    assert!(all[1].body.contains("From: Carol <carol@example.com>"));
    assert!(all[1].body.contains("Numbers are up."));
}

#[test]
fn limits_are_enforced() {
    let limits = MailLimits {
        max_message_bytes: 10,
        ..MailLimits::default()
    };
    assert!(matches!(
        parse_message(b"Subject: too long\n\nbody\n", &limits),
        Err(MailError::TooLarge {
            size: 24,
            limit: 10
        })
    ));
    let limits = MailLimits {
        max_body_chars: 5,
        ..MailLimits::default()
    };
    let parsed = parse_message("Subject: s\n\nhéllo world\n".as_bytes(), &limits).unwrap();
    assert_eq!(parsed.body, "héllo");
    let email = &message_items(&parsed, "x", "")[0];
    assert_eq!(field(email, "truncated"), Some("true"));
    assert!(matches!(
        parse_message(b"", &MailLimits::default()),
        Err(MailError::Empty)
    ));
    assert!(matches!(
        parse_message(b" \r\n ", &MailLimits::default()),
        Err(MailError::Empty)
    ));
}

#[test]
fn malformed_mime_yields_an_item_or_an_error() {
    let cases: Vec<Vec<u8>> = vec![
        // Truncated: the closing boundary and half a part are missing.
        b"Subject: cut\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--B\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLj".to_vec(),
        // A boundary that never appears.
        b"Subject: nob\r\nContent-Type: multipart/alternative; boundary=NOPE\r\n\r\njust text\r\n".to_vec(),
        // Raw 8-bit (Latin-1) bytes in headers.
        b"Subject: Caf\xe9 \xff\xfe\r\nFrom: J\xfcrgen <j@example.com>\r\n\r\nbody\r\n".to_vec(),
        // Broken encoded words and base64.
        b"Subject: =?utf-8?B?!!!?= =?bogus?Q?x?=\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@not base64@@@\r\n".to_vec(),
        // Nested multiparts without end, headers only, garbage.
        b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--a\r\n".to_vec(),
        b"Subject: only headers".to_vec(),
        vec![0u8, 159, 146, 150, 255, 0, 10, 10, 13],
        b"\x00\x01\x02binary\xff\xfe\xfd".repeat(100),
    ];
    for raw in &cases {
        match parse_message(raw, &MailLimits::default()) {
            Ok(parsed) => {
                let all = message_items(&parsed, "id", "loc");
                assert!(!all[0].title.is_empty());
            }
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    let eight_bit = parse_message(&cases[2], &MailLimits::default()).unwrap();
    assert!(eight_bit.subject.starts_with("Caf"));
    let cut = parse_message(&cases[0], &MailLimits::default()).unwrap();
    assert!(cut.body.contains("first part"));
}

/// A small deterministic generator, so the test needs no extra crate and is reproducible.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn mutated_messages_never_panic() {
    let seed_message = b"From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <a@b>\r\nReferences: <r@b>\r\nContent-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n--XYZ\r\nContent-Type: multipart/alternative; boundary=ALT\r\n\r\n--ALT\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9\r\n> quoted\r\n--ALT\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--ALT--\r\n--XYZ\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=a.csv\r\nContent-Transfer-Encoding: base64\r\n\r\nYSxiCjEsMgo=\r\n--XYZ--\r\n";
    let mut rng = Lcg(7);
    let interesting: &[u8] = b"\r\n-:;=?<>\"\0\xff--XYZ";
    for _ in 0..3000 {
        let mut raw = seed_message.to_vec();
        for _ in 0..(1 + rng.next() % 8) {
            let pos = (rng.next() as usize) % raw.len();
            match rng.next() % 4 {
                0 => raw[pos] = interesting[(rng.next() as usize) % interesting.len()],
                1 => raw[pos] = rng.next() as u8,
                2 => {
                    raw.truncate(pos.max(1));
                }
                _ => {
                    let b = interesting[(rng.next() as usize) % interesting.len()];
                    raw.insert(pos, b);
                }
            }
        }
        if let Ok(parsed) = parse_message(&raw, &MailLimits::default()) {
            let _ = message_items(&parsed, "id", "loc");
        }
    }
}
