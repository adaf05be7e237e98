//! The per-item header that opens each item in a rendered context window.
//!
//! The header is derived from stored fields only, so its token count is computed once at ingest
//! and stored beside the chunk counts; the packer adds stored numbers and never re-tokenizes.

use ctx_connector_api::{ItemKind, PersonRef};

/// Separator placed between passages of a trimmed item.
pub const PASSAGE_SEPARATOR: &str = "\n[…]\n";

/// Text that closes every item block in the rendered window.
pub const BLOCK_END: &str = "\n\n";

/// What a header shows.
pub struct HeaderFields<'a> {
    pub id: &'a str,
    pub kind: ItemKind,
    pub source: &'a str,
    pub title: &'a str,
    pub locator: &'a str,
    pub timestamp_ms: Option<i64>,
    pub people: &'a [PersonRef],
}

/// Renders the markdown header of an item: a heading with its title, then a line citing where
/// it comes from, then (when known) who is involved.
pub fn item_header(h: &HeaderFields<'_>) -> String {
    let title = if h.title.trim().is_empty() {
        "(untitled)"
    } else {
        h.title.trim()
    };
    let mut out = format!("## {}\n", single_line(title));
    out.push_str(&format!("[{} · source: {}", h.kind.as_str(), h.source));
    if let Some(ts) = h.timestamp_ms {
        out.push_str(" · ");
        out.push_str(&format_timestamp(ts));
    }
    if !h.locator.is_empty() {
        out.push_str(" · ");
        out.push_str(&single_line(h.locator));
    }
    out.push_str(&format!(" · id: {}]\n", h.id));
    if !h.people.is_empty() {
        let shown: Vec<String> = h
            .people
            .iter()
            .take(8)
            .map(|p| {
                let who = match (&p.name, &p.email) {
                    (Some(n), Some(e)) => format!("{n} <{e}>"),
                    (Some(n), None) => n.clone(),
                    (None, Some(e)) => e.clone(),
                    (None, None) => "?".to_string(),
                };
                format!("{} ({})", single_line(&who), p.role.as_str())
            })
            .collect();
        out.push_str("people: ");
        out.push_str(&shown.join(", "));
        if h.people.len() > 8 {
            out.push_str(&format!(", and {} more", h.people.len() - 8));
        }
        out.push('\n');
    }
    out.push('\n');
    out
}

fn single_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Formats a millisecond Unix timestamp as `YYYY-MM-DD HH:MM UTC`.
pub fn format_timestamp(ms: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => "(invalid date)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctx_connector_api::PersonRole;

    #[test]
    fn header_cites_source_and_people() {
        let people = vec![PersonRef {
            email: Some("dana@acme.com".into()),
            name: Some("Dana Lee".into()),
            role: PersonRole::From,
        }];
        let h = item_header(&HeaderFields {
            id: "abc",
            kind: ItemKind::Email,
            source: "mail",
            title: "Renewal\n terms",
            locator: "imap://x",
            timestamp_ms: Some(0),
            people: &people,
        });
        assert_eq!(
            h,
            "## Renewal terms\n[email · source: mail · 1970-01-01 00:00 UTC · imap://x · id: abc]\npeople: Dana Lee <dana@acme.com> (from)\n\n"
        );
    }
}
