//! Modified UTF-7 (RFC 3501 §5.1.3), the encoding of non-ASCII IMAP mailbox names: `&AOQ-` is
//! `ä`, `&-` is `&`. IMAP names stay encoded in external ids (they are what the server knows);
//! people see them decoded (the `folder` field, locators, folder patterns in the config).

/// The modified base64 alphabet: standard, with `,` instead of `/`.
fn sextet(b: u8) -> Option<u32> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b',' => 63,
        _ => return None,
    } as u32)
}

/// Decodes a mailbox name. A name that is not valid modified UTF-7 (a server that sends raw
/// UTF-8, as some do with `UTF8=ACCEPT`, or a broken shift) is returned unchanged.
pub fn decode(name: &str) -> String {
    decode_strict(name).unwrap_or_else(|| name.to_owned())
}

fn decode_strict(name: &str) -> Option<String> {
    if !name.contains('&') {
        return Some(name.to_owned());
    }
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'&' {
            // Printable US-ASCII stands for itself; anything else is not modified UTF-7.
            if !(0x20..=0x7e).contains(&b) {
                return None;
            }
            out.push(b as char);
            i += 1;
            continue;
        }
        let end = i + 1 + bytes[i + 1..].iter().position(|&c| c == b'-')?;
        let encoded = &bytes[i + 1..end];
        if encoded.is_empty() {
            out.push('&');
        } else {
            let mut units = Vec::with_capacity(encoded.len() * 6 / 16);
            let (mut acc, mut bits) = (0u32, 0u32);
            for &c in encoded {
                acc = (acc << 6) | sextet(c)?;
                bits += 6;
                if bits >= 16 {
                    bits -= 16;
                    units.push((acc >> bits) as u16);
                    acc &= (1 << bits) - 1;
                }
            }
            // Leftover bits are padding and must be zero (RFC 2152).
            if bits >= 6 || acc != 0 || units.is_empty() {
                return None;
            }
            for ch in char::decode_utf16(units) {
                let ch = ch.ok()?;
                // Printable ASCII must not be encoded.
                if (0x20..=0x7e).contains(&(ch as u32)) {
                    return None;
                }
                out.push(ch);
            }
        }
        i = end + 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn decodes_rfc_3501_examples_and_common_folder_names() {
        assert_eq!(decode("INBOX"), "INBOX");
        assert_eq!(decode("Entw&APw-rfe"), "Entwürfe");
        assert_eq!(decode("&AOQ-"), "ä");
        assert_eq!(decode("Gesendete Objekte"), "Gesendete Objekte");
        assert_eq!(decode("Tom &- Jerry"), "Tom & Jerry");
        // RFC 3501's example: "~peter/mail/台北/日本語".
        assert_eq!(
            decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            "~peter/mail/台北/日本語"
        );
        // A surrogate pair (U+1F4E7, an e-mail symbol).
        assert_eq!(decode("&2D3c5w-"), "\u{1F4E7}");
        assert_eq!(decode("&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"), "Отправленные");
    }

    #[test]
    fn invalid_names_are_kept_as_they_are() {
        for raw in [
            "&AOQ",     // unterminated shift
            "&AOQ*-",   // not in the alphabet
            "&AGE-",    // encodes printable ASCII `a`
            "&2D0-",    // lone high surrogate
            "&AOR-",    // non-zero padding bits
            "Entwürfe", // raw UTF-8 from a UTF8=ACCEPT server
        ] {
            assert_eq!(decode(raw), raw, "{raw}");
        }
    }
}
