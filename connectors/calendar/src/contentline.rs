//! A tolerant reader of the content-line format shared by iCalendar (RFC 5545) and vCard
//! (RFC 6350, 2.1 and 3.0): byte decoding, line unfolding, property parsing and the
//! `BEGIN:`/`END:` component tree.
//!
//! Real-world files are messy, so nothing here fails a whole file: a line that is not a property
//! is counted and skipped, an unbalanced `END:` closes what it can, a component still open at the
//! end of the input is closed there, and several concatenated calendars are all read. (The
//! `icalendar` crate's parser rejects the whole file in each of these cases, and on a byte-order
//! mark; see the crate docs.)

/// One property: `NAME;PARAM=VALUE:value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// Upper-cased, without a vCard group prefix (`item1.EMAIL` → `EMAIL`).
    pub name: String,
    /// Parameter names upper-cased; values unquoted, several values kept comma-separated.
    pub params: Vec<(String, String)>,
    /// The raw value (still escaped for TEXT values; see [`Property::text`]).
    pub value: String,
}

impl Property {
    /// The first value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether some `TYPE` parameter (or a bare vCard 2.1 parameter) lists `ty`.
    pub fn has_type(&self, ty: &str) -> bool {
        self.params
            .iter()
            .filter(|(n, _)| n == "TYPE")
            .flat_map(|(_, v)| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case(ty))
    }

    /// The value as TEXT: escapes resolved, quoted-printable decoded when declared.
    pub fn text(&self) -> String {
        let raw = if self
            .param("ENCODING")
            .is_some_and(|e| e.eq_ignore_ascii_case("QUOTED-PRINTABLE"))
        {
            decode_quoted_printable(&self.value)
        } else {
            self.value.clone()
        };
        unescape(&raw)
    }
}

/// A component (`VCALENDAR`, `VEVENT`, `VCARD`...) with its properties and sub-components.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Component {
    /// Upper-cased.
    pub name: String,
    pub props: Vec<Property>,
    pub children: Vec<Component>,
}

impl Component {
    /// The first property called `name`.
    pub fn prop(&self, name: &str) -> Option<&Property> {
        self.props.iter().find(|p| p.name == name)
    }

    /// Every property called `name`.
    pub fn props_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Property> + 'a {
        self.props.iter().filter(move |p| p.name == name)
    }

    /// The TEXT value of the first property called `name`, when not blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.prop(name)
            .map(Property::text)
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
    }
}

/// The components found in a text, and how much of it could not be read.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Top-level components (usually `VCALENDAR`s or `VCARD`s).
    pub components: Vec<Component>,
    /// Lines that were neither a property nor a component boundary.
    pub bad_lines: usize,
    /// Components that were never closed (closed at the end of input) or `END:`s that matched none.
    pub unbalanced: usize,
}

/// Decodes file bytes: a UTF-8 (or UTF-16) byte-order mark is honoured, UTF-8 is tried next, and
/// anything else is read as Windows-1252 (which Outlook exports use), so no byte sequence fails.
pub fn decode(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return decode(rest);
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        let le = bytes[0] == 0xFF;
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| {
                if le {
                    u16::from_le_bytes([c[0], c[1]])
                } else {
                    u16::from_be_bytes([c[0], c[1]])
                }
            })
            .collect();
        return String::from_utf16_lossy(&units);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => bytes.iter().map(|&b| cp1252(b)).collect(),
    }
}

/// Windows-1252 to Unicode (undefined bytes map to their Latin-1 code points).
fn cp1252(b: u8) -> char {
    const HIGH: [u16; 32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x8D, 0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
        0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ];
    if (0x80..0xA0).contains(&b) {
        char::from_u32(u32::from(HIGH[usize::from(b - 0x80)])).unwrap_or('\u{FFFD}')
    } else {
        char::from(b)
    }
}

/// Splits into logical lines: CRLF, LF and lone CR all end a line; a line starting with a space
/// or a tab continues the previous one (the one whitespace character is removed). vCard 2.1
/// quoted-printable soft line breaks (`=` at the end of a line) are joined too.
pub fn unfold(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut qp_continues = false;
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        for physical in raw.split('\r') {
            let continuation = physical.starts_with([' ', '\t']);
            match lines.last_mut() {
                Some(last) if continuation => last.push_str(&physical[1..]),
                Some(last) if qp_continues => {
                    last.pop(); // the soft-break `=`
                    last.push_str(physical);
                }
                _ => lines.push(physical.to_owned()),
            }
            qp_continues = lines.last().is_some_and(|l| {
                l.ends_with('=') && {
                    let upper = l.to_ascii_uppercase();
                    upper.contains("QUOTED-PRINTABLE") && upper.find(':').is_some()
                }
            });
        }
    }
    lines.retain(|l| !l.trim().is_empty());
    lines
}

/// Parses one unfolded line, or `None` when it is not a property.
pub fn parse_line(line: &str) -> Option<Property> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len()
        && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'-' | b'_' | b'.'))
    {
        i += 1;
    }
    if i == 0 || i >= bytes.len() || !matches!(bytes[i], b';' | b':') {
        return None;
    }
    let full_name = &line[..i];
    let name = full_name
        .rsplit('.')
        .next()
        .unwrap_or(full_name)
        .to_ascii_uppercase();
    if name.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    while bytes[i] == b';' {
        i += 1;
        let start = i;
        while i < bytes.len() && !matches!(bytes[i], b'=' | b';' | b':') {
            i += 1;
        }
        let pname = line[start..i].trim().to_ascii_uppercase();
        if i >= bytes.len() {
            return None;
        }
        if bytes[i] != b'=' {
            // vCard 2.1 bare parameter: `TEL;HOME;VOICE:` means TYPE=HOME, TYPE=VOICE.
            if !pname.is_empty() {
                params.push(("TYPE".to_owned(), pname));
            }
            continue;
        }
        i += 1;
        let mut values = Vec::new();
        loop {
            if i < bytes.len() && bytes[i] == b'"' {
                let close = line[i + 1..].find('"')? + i + 1;
                values.push(line[i + 1..close].to_owned());
                i = close + 1;
                // Junk between a closing quote and the next separator is dropped.
                while i < bytes.len() && !matches!(bytes[i], b',' | b';' | b':') {
                    i += 1;
                }
            } else {
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b',' | b';' | b':') {
                    i += 1;
                }
                values.push(line[start..i].to_owned());
            }
            if i < bytes.len() && bytes[i] == b',' {
                i += 1;
                continue;
            }
            break;
        }
        if i >= bytes.len() {
            return None;
        }
        params.push((pname, values.join(",")));
    }
    // bytes[i] == b':'
    Some(Property {
        name,
        params,
        value: line[i + 1..].to_owned(),
    })
}

/// Reads every component of `text`; see the module docs for what is tolerated.
pub fn parse(text: &str) -> Parsed {
    let mut out = Parsed::default();
    let mut stack: Vec<Component> = Vec::new();
    for line in unfold(text) {
        let Some(prop) = parse_line(line.trim_start()) else {
            out.bad_lines += 1;
            continue;
        };
        match prop.name.as_str() {
            "BEGIN" => stack.push(Component {
                name: prop.value.trim().to_ascii_uppercase(),
                ..Component::default()
            }),
            "END" => {
                let name = prop.value.trim().to_ascii_uppercase();
                let Some(pos) = stack.iter().rposition(|c| c.name == name) else {
                    out.unbalanced += 1;
                    continue;
                };
                while stack.len() > pos + 1 {
                    out.unbalanced += 1;
                    close_top(&mut stack, &mut out.components);
                }
                close_top(&mut stack, &mut out.components);
            }
            _ => match stack.last_mut() {
                Some(top) => top.props.push(prop),
                None => out.bad_lines += 1,
            },
        }
    }
    while !stack.is_empty() {
        out.unbalanced += 1;
        close_top(&mut stack, &mut out.components);
    }
    out
}

fn close_top(stack: &mut Vec<Component>, top_level: &mut Vec<Component>) {
    if let Some(done) = stack.pop() {
        match stack.last_mut() {
            Some(parent) => parent.children.push(done),
            None => top_level.push(done),
        }
    }
}

/// Resolves TEXT escapes: `\n` `\N` → newline, `\,` `\;` `\\` → the character; an unknown escape
/// keeps its character.
pub fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Splits a value on unescaped `sep` (for multi-valued TEXT like `CATEGORIES` or vCard `N`).
pub fn split_unescaped(value: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            current.push('\\');
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(unescape(&current));
            current.clear();
        } else {
            current.push(c);
        }
    }
    parts.push(unescape(&current));
    parts
}

/// Decodes quoted-printable (`=C3=A9`); malformed sequences are kept as they are.
fn decode_quoted_printable(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && let Some(hex) = value.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    decode(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfolds_crlf_lf_and_tabs() {
        let text = "A:one\r\n two\r\nB:x\n\tyz\nC:z\rD:w";
        assert_eq!(unfold(text), vec!["A:onetwo", "B:xyz", "C:z", "D:w"]);
    }

    #[test]
    fn parses_quoted_params_and_groups() {
        let p = parse_line(
            "ATTENDEE;CN=\"Doe: John; Jr\";PARTSTAT=ACCEPTED;X-A=1,\"b,c\":mailto:j@x.org",
        )
        .unwrap();
        assert_eq!(p.name, "ATTENDEE");
        assert_eq!(p.param("cn"), Some("Doe: John; Jr"));
        assert_eq!(p.param("PARTSTAT"), Some("ACCEPTED"));
        assert_eq!(p.param("X-A"), Some("1,b,c"));
        assert_eq!(p.value, "mailto:j@x.org");
        let g = parse_line("item1.EMAIL;type=INTERNET:a@b.c").unwrap();
        assert_eq!(g.name, "EMAIL");
        assert!(g.has_type("internet"));
        let bare = parse_line("TEL;HOME;VOICE:123").unwrap();
        assert!(bare.has_type("home") && bare.has_type("voice"));
        assert!(parse_line("this is junk").is_none());
        assert!(parse_line(":x").is_none());
    }

    #[test]
    fn tolerates_broken_structure() {
        let text = "\u{feff}BEGIN:VCALENDAR\njunk line\nBEGIN:VEVENT\nUID:1\nEND:VCALENDAR\n\
                    BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:2\nEND:VEVENT\nEND:VTODO\nBEGIN:VEVENT\nUID:3";
        let parsed = parse(text.trim_start_matches('\u{feff}'));
        assert_eq!(parsed.components.len(), 2);
        assert_eq!(
            parsed.components[0].children[0].text("UID").as_deref(),
            Some("1")
        );
        assert_eq!(parsed.components[1].children.len(), 2);
        assert_eq!(parsed.bad_lines, 1);
        assert_eq!(parsed.unbalanced, 1 + 1 + 2);
    }

    #[test]
    fn decodes_bom_utf8_and_cp1252() {
        assert_eq!(decode(b"\xEF\xBB\xBFcaf\xC3\xA9"), "café");
        assert_eq!(decode(b"caf\xE9 \x80"), "café €");
        assert_eq!(decode(b"\xFF\xFEh\x00i\x00"), "hi");
    }

    #[test]
    fn text_escapes_and_quoted_printable() {
        let p = parse_line("DESCRIPTION:a\\, b\\; c\\nd\\\\e").unwrap();
        assert_eq!(p.text(), "a, b; c\nd\\e");
        let qp = unfold("NOTE;ENCODING=QUOTED-PRINTABLE:caf=C3=A9 =\r\nlatte\r\n");
        assert_eq!(parse_line(&qp[0]).unwrap().text(), "café latte");
        assert_eq!(
            split_unescaped("Doe;John\\;x;;", ';'),
            vec!["Doe", "John;x", "", ""]
        );
    }
}
