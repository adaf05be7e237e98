//! Recognising quoted replies and signatures in plain-text mail bodies.
//!
//! A reply usually carries the whole conversation below it. Storing it all keeps search complete,
//! but when packing a thread into a token budget the quoted tail repeats what the earlier messages
//! of the thread already say. So the full body is stored, and [`quote_start`] marks where the
//! droppable tail begins (stored as the `quote_start` field of the email item).
//!
//! Recognised: lines quoted with `>`, attribution lines ("On … wrote:", "Am … schrieb:",
//! "Le … a écrit :", also split over two lines), Outlook's "-----Original Message-----" and its
//! underscore rule followed by a `From:` line, and the signature separator `-- `.
//!
//! Limitations: quotes without any marker (a pasted original without `>`), or attribution lines
//! in other languages, are not recognised; they stay part of the fresh text, which errs on the
//! side of keeping content.

/// What a line of a body is, for quote detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Line {
    Blank,
    Quoted,
    /// Everything from here on is the tail (signature, forwarded original).
    TailMarker,
    /// "On … wrote:": the tail starts here when quoted lines (or nothing) follow.
    Attribution,
    Text,
}

/// Lines of `body` with their byte offsets (line text without the line ending).
fn lines_with_offsets(body: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for raw in body.split_inclusive('\n') {
        let line = raw.trim_end_matches(['\n', '\r']);
        out.push((offset, line));
        offset += raw.len();
    }
    out
}

fn is_attribution(line: &str) -> bool {
    let t = line.trim();
    let lower = t.to_lowercase();
    let starts = ["on ", "am ", "le ", "el ", "op ", "il "]
        .iter()
        .any(|p| lower.starts_with(p));
    let ends = lower.ends_with("wrote:")
        || lower.ends_with("schrieb:")
        || lower.ends_with("a écrit :")
        || lower.ends_with("a écrit:")
        || lower.ends_with("escribió:")
        || lower.ends_with("schreef:")
        || lower.ends_with("ha scritto:");
    starts && ends
}

fn is_tail_marker(line: &str, next: Option<&str>) -> bool {
    // The signature separator is "-- " (RFC 3676); many clients drop the trailing space.
    if line == "-- " || line == "--" {
        return true;
    }
    let t = line.trim();
    let lower = t.to_ascii_lowercase();
    let dashes = lower.trim_matches(|c: char| c == '-' || c.is_whitespace());
    if lower.starts_with("--") && lower.ends_with("--") && dashes == "original message" {
        return true;
    }
    // Outlook: a rule of underscores, then the original's headers.
    if t.len() >= 10 && t.chars().all(|c| c == '_') {
        return next.is_some_and(|n| n.trim_start().to_ascii_lowercase().starts_with("from:"));
    }
    false
}

fn classify(lines: &[(usize, &str)]) -> Vec<Line> {
    let mut kinds = Vec::with_capacity(lines.len());
    for (i, (_, line)) in lines.iter().enumerate() {
        let next = lines.get(i + 1).map(|(_, l)| *l);
        let kind = if line.trim().is_empty() {
            Line::Blank
        } else if line.trim_start().starts_with('>') {
            Line::Quoted
        } else if is_tail_marker(line, next) {
            Line::TailMarker
        } else if is_attribution(line) {
            Line::Attribution
        } else if let Some(next) = next
            && line.trim().to_lowercase().starts_with("on ")
            && is_attribution(&format!("{} {}", line.trim(), next.trim()))
            && !next.trim_start().starts_with('>')
        {
            // "On Mon, 1 Jan 2024, Alice <a@example.com>\nwrote:" (clients wrap long attributions).
            Line::Attribution
        } else {
            Line::Text
        };
        kinds.push(kind);
    }
    // The second line of a wrapped attribution is part of it, not fresh text.
    for i in 1..kinds.len() {
        if kinds[i - 1] == Line::Attribution
            && kinds[i] == Line::Text
            && !is_attribution(lines[i - 1].1)
        {
            kinds[i] = Line::Attribution;
        }
    }
    kinds
}

/// The line index where the droppable tail starts, if any.
fn tail_line(kinds: &[Line]) -> Option<usize> {
    let mut cut = None;
    for (i, kind) in kinds.iter().enumerate() {
        match kind {
            Line::TailMarker => {
                cut = Some(i);
                break;
            }
            Line::Attribution => {
                // An attribution counts when what follows it is quoted (or nothing at all).
                let rest = kinds[i + 1..]
                    .iter()
                    .find(|k| !matches!(k, Line::Blank | Line::Attribution));
                if matches!(rest, None | Some(Line::Quoted) | Some(Line::TailMarker)) {
                    cut = Some(i);
                    break;
                }
            }
            _ => {}
        }
    }
    // Without a marker, a trailing run of quoted (and blank) lines is the tail.
    let cut = cut.or_else(|| {
        let mut start = None;
        for i in (0..kinds.len()).rev() {
            match kinds[i] {
                Line::Quoted => start = Some(i),
                Line::Blank => {}
                _ => break,
            }
        }
        start
    })?;
    // A tail with nothing fresh above it (a bare forward, a fully quoted body) is the content.
    kinds[..cut].contains(&Line::Text).then_some(cut)
}

/// The byte offset in `body` where its droppable tail (quoted original, attribution, signature)
/// starts, or `None` when there is none or nothing fresh precedes it.
pub fn quote_start(body: &str) -> Option<usize> {
    let lines = lines_with_offsets(body);
    let kinds = classify(&lines);
    tail_line(&kinds).map(|i| lines[i].0)
}

/// Splits a plain-text body into its fresh content and the number of quoted bytes.
///
/// The fresh content is the body without its tail (see [`quote_start`]) and without quoted lines
/// interleaved above the tail (and their attribution lines), trailing blank lines trimmed. The
/// count is `body.len()` minus the bytes of the kept lines, line endings included. A body that
/// is only a quote (a bare forward) is returned whole: the quote is its content.
pub fn strip_quoted(body: &str) -> (String, usize) {
    let lines = lines_with_offsets(body);
    let kinds = classify(&lines);
    let fresh_exists = kinds.contains(&Line::Text);
    if !fresh_exists {
        return (body.to_owned(), 0);
    }
    let end = tail_line(&kinds).unwrap_or(lines.len());
    let mut fresh = String::with_capacity(body.len());
    for (i, (offset, _)) in lines.iter().enumerate().take(end) {
        if matches!(kinds[i], Line::Quoted | Line::Attribution) {
            continue;
        }
        let next = lines.get(i + 1).map_or(body.len(), |(o, _)| *o);
        fresh.push_str(&body[*offset..next]);
    }
    let kept_len = fresh.len();
    let trimmed_len = fresh.trim_end().len();
    fresh.truncate(trimmed_len);
    (fresh, body.len() - kept_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_style_reply_is_split_at_the_attribution() {
        let body = "Sounds good, see you then.\n\nOn Mon, 3 Jun 2024 at 10:00, Alice <a@example.com> wrote:\n> Lunch on Friday?\n> A.\n";
        let start = quote_start(body).unwrap();
        assert!(body[start..].starts_with("On Mon"));
        let (fresh, quoted) = strip_quoted(body);
        assert_eq!(fresh, "Sounds good, see you then.");
        assert_eq!(quoted, body.len() - "Sounds good, see you then.\n\n".len());
    }

    #[test]
    fn wrapped_attribution_is_recognised() {
        let body = "Yes.\n\nOn Mon, 3 Jun 2024 at 10:00, Alice Example <alice@example.com>\nwrote:\n> Ok?\n";
        let start = quote_start(body).unwrap();
        assert!(body[start..].starts_with("On Mon"));
        assert_eq!(strip_quoted(body).0, "Yes.");
    }

    #[test]
    fn outlook_original_message_and_rule() {
        let body = "Approved.\r\n\r\n-----Original Message-----\r\nFrom: Bob\r\nSent: Monday\r\n\r\nPlease approve.\r\n";
        assert!(body[quote_start(body).unwrap()..].starts_with("-----Original"));
        assert_eq!(strip_quoted(body).0, "Approved.");
        let body2 = "Fine by me.\n\n________________________________\nFrom: Bob <b@x.com>\nSent: x\n\nold\n";
        assert!(body2[quote_start(body2).unwrap()..].starts_with("____"));
        // A rule that is not followed by headers is decoration.
        assert_eq!(quote_start("a\n____________\nb\n"), None);
    }

    #[test]
    fn signature_is_a_tail() {
        let body = "Thanks!\n-- \nBob Builder\nACME Corp\n";
        assert!(body[quote_start(body).unwrap()..].starts_with("-- \n"));
        assert_eq!(strip_quoted(body).0, "Thanks!");
    }

    #[test]
    fn interleaved_quotes_are_removed_but_not_a_tail() {
        let body = "> Can you come?\nYes.\n> At 5?\nAt 6 is better.\n";
        assert_eq!(quote_start(body), None);
        let (fresh, quoted) = strip_quoted(body);
        assert_eq!(fresh, "Yes.\nAt 6 is better.");
        assert_eq!(quoted, "> Can you come?\n> At 5?\n".len());
    }

    #[test]
    fn trailing_quote_block_without_attribution() {
        let body = "Agreed.\n\n> the plan\n> is fine\n\n";
        assert!(body[quote_start(body).unwrap()..].starts_with("> the plan"));
    }

    #[test]
    fn fully_quoted_or_plain_bodies_are_kept() {
        assert_eq!(quote_start("> only a quote\n"), None);
        assert_eq!(
            strip_quoted("> only a quote\n"),
            ("> only a quote\n".to_owned(), 0)
        );
        assert_eq!(quote_start("-----Original Message-----\nfwd\n"), None);
        assert_eq!(quote_start("just text\n"), None);
        assert_eq!(strip_quoted(""), (String::new(), 0));
        // "On" alone or text ending in "wrote:" is not an attribution unless both hold.
        assert_eq!(quote_start("I wrote:\n> x\n"), Some(9));
    }
}
