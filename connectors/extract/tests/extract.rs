//! Behaviour of ctx-extract on generated fixtures and on hostile input.

use std::io::{Cursor, Write};
use std::time::Duration;

use ctx_extract::{ExtractError, Format, Limits, detect, extract, is_known_binary};

fn limits() -> Limits {
    Limits {
        pdf_timeout: Duration::from_secs(5),
        ..Limits::default()
    }
}

/// A DOCX with the given `document.xml` body (inside `<w:body>`) and optional core title.
fn docx(body: &str, core_title: Option<&str>) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    zip.start_file("[Content_Types].xml", opts).unwrap();
    zip.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#).unwrap();
    zip.start_file("word/document.xml", opts).unwrap();
    let xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#
    );
    zip.write_all(xml.as_bytes()).unwrap();
    if let Some(title) = core_title {
        zip.start_file("docProps/core.xml", opts).unwrap();
        let core = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>{title}</dc:title></cp:coreProperties>"#
        );
        zip.write_all(core.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A minimal, valid one-page PDF showing `text` in Helvetica, with a correct xref table.
fn pdf(text: &str) -> Vec<u8> {
    let content = format!("BT /F1 24 Tf 72 700 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_owned(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A small deterministic PRNG (xorshift64*), so fuzz failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn detects_by_extension_and_content() {
    assert_eq!(detect("notes/a.md", b"# hi"), Some(Format::Markdown));
    assert_eq!(detect("page.HTM", b"<p>"), Some(Format::Html));
    assert_eq!(
        detect("main.rs", b"fn main() {}"),
        Some(Format::SourceCode("rust"))
    );
    assert_eq!(detect("report.bin.txt", b"plain"), Some(Format::PlainText));
    // Content beats a wrong extension.
    assert_eq!(detect("scan.txt", b"%PDF-1.7\n..."), Some(Format::Pdf));
    assert_eq!(detect("attachment", &docx("", None)), Some(Format::Docx));
    assert_eq!(detect("letter.docx", b"PK\x03\x04rest"), Some(Format::Docx));
    // A zip that is not a DOCX has no extractor.
    assert_eq!(detect("archive.dat", b"PK\x03\x04xx[Content_Types]"), None);
    // Unknown extensions are sniffed.
    assert_eq!(detect("README", b"hello world\n"), Some(Format::PlainText));
    assert_eq!(
        detect("index", b"  <!DOCTYPE html><html>"),
        Some(Format::Html)
    );
    assert_eq!(detect("blob", b"\x00\x01\x02\x03"), None);
    assert_eq!(detect("photo.jpg", b"plain looking"), None);
    assert!(is_known_binary("/x/y/Photo.JPEG"));
    assert!(!is_known_binary("/x/y/notes.md"));
}

#[test]
fn plain_text_and_markdown_title() {
    let out = extract("notes.md", b"intro\n\n# The Title #\n\nbody\n", &limits()).unwrap();
    assert_eq!(out.format, Format::Markdown);
    assert_eq!(out.title.as_deref(), Some("The Title"));
    assert_eq!(out.text, "intro\n\n# The Title #\n\nbody\n");

    let fenced = "```\n# not a title\n```\n## sub\n# Real\n";
    assert_eq!(
        extract("a.md", fenced.as_bytes(), &limits())
            .unwrap()
            .title
            .as_deref(),
        Some("Real")
    );
    let front = "---\ntitle: \"From Front Matter\"\n---\n# Heading\n";
    assert_eq!(
        extract("a.md", front.as_bytes(), &limits())
            .unwrap()
            .title
            .as_deref(),
        Some("From Front Matter")
    );
    let plain = extract("a.txt", b"# not markdown", &limits()).unwrap();
    assert_eq!(plain.title, None);
    assert_eq!(plain.format, Format::PlainText);
}

#[test]
fn empty_documents_are_not_errors() {
    let out = extract("empty.md", b"", &limits()).unwrap();
    assert_eq!(out.text, "");
    assert_eq!(out.title, None);
}

#[test]
fn bom_is_stripped_and_utf16_decoded() {
    let out = extract("a.txt", b"\xEF\xBB\xBFh\xC3\xA9llo", &limits()).unwrap();
    assert_eq!(out.text, "héllo");

    let mut le = vec![0xFF, 0xFE];
    for unit in "Grüße ☃".encode_utf16() {
        le.extend_from_slice(&unit.to_le_bytes());
    }
    assert_eq!(extract("a.txt", &le, &limits()).unwrap().text, "Grüße ☃");

    let mut be = vec![0xFE, 0xFF];
    for unit in "big endian".encode_utf16() {
        be.extend_from_slice(&unit.to_be_bytes());
    }
    assert_eq!(extract("a.txt", &be, &limits()).unwrap().text, "big endian");
    // A BOM marks text even without a telling extension.
    assert_eq!(
        extract("README", &be, &limits()).unwrap().text,
        "big endian"
    );
}

#[test]
fn non_utf8_text_is_refused_with_position() {
    // Latin-1 "caf\xE9 au lait": plausible text, but not UTF-8.
    let err = extract("menu.txt", b"caf\xE9 au lait", &limits()).unwrap_err();
    assert_eq!(err, ExtractError::NotUtf8 { valid_up_to: 3 });
    assert!(err.is_permanent());
    // The offset counts from the start of the file, BOM included.
    let err = extract("menu.txt", b"\xEF\xBB\xBFab\xFF", &limits()).unwrap_err();
    assert_eq!(err, ExtractError::NotUtf8 { valid_up_to: 5 });
}

#[test]
fn binary_content_is_refused() {
    assert_eq!(
        extract("data.txt", b"abc\x00def", &limits()).unwrap_err(),
        ExtractError::Binary
    );
    let controls: Vec<u8> = (0..200u8)
        .map(|i| if i % 3 == 0 { 0x01 } else { b'a' })
        .collect();
    assert_eq!(
        extract("data.txt", &controls, &limits()).unwrap_err(),
        ExtractError::Binary
    );
    assert_eq!(
        extract("image.png", b"\x89PNG\r\n\x1a\n\x00\x00", &limits()).unwrap_err(),
        ExtractError::Binary
    );
    // Tabs, form feeds and ANSI escapes are normal in text files.
    assert!(extract("log.txt", b"a\tb\x0c\x1b[0mc\r\n", &limits()).is_ok());
}

#[test]
fn too_large_input_is_refused_before_parsing() {
    let small = Limits {
        max_input_bytes: 10,
        ..limits()
    };
    assert_eq!(
        extract("a.txt", b"01234567890", &small).unwrap_err(),
        ExtractError::TooLarge {
            size: 11,
            limit: 10
        }
    );
    assert!(extract("a.txt", b"0123456789", &small).is_ok());
}

#[test]
fn html_becomes_readable_text_without_scripts() {
    let html = br#"<!DOCTYPE html><html><head><title>My &amp; Page</title>
        <style>body { color: red; }</style>
        <script>var secret = "do-not-index";</script></head>
        <body><h1>Welcome</h1><p>First <b>bold</b> paragraph with a
        <a href="https://example.com/x">link</a>.</p><ul><li>one</li><li>two</li></ul></body></html>"#;
    let out = extract("page.html", html, &limits()).unwrap();
    assert_eq!(out.format, Format::Html);
    assert_eq!(out.title.as_deref(), Some("My & Page"));
    assert!(out.text.contains("Welcome"), "{}", out.text);
    assert!(
        out.text.contains("First bold paragraph with a link."),
        "{}",
        out.text
    );
    assert!(out.text.contains("one") && out.text.contains("two"));
    assert!(!out.text.contains('<'), "tags left in {}", out.text);
    assert!(
        !out.text.contains("do-not-index"),
        "script left in {}",
        out.text
    );
    assert!(
        !out.text.contains("color: red"),
        "style left in {}",
        out.text
    );
    assert!(
        !out.text.contains("example.com"),
        "link footnote in {}",
        out.text
    );
}

#[test]
fn docx_text_paragraphs_tabs_breaks_and_title() {
    let body = r#"<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Quarterly</w:t></w:r><w:r><w:t xml:space="preserve"> Plan</w:t></w:r></w:p>
        <w:p><w:r><w:t>a</w:t><w:tab/><w:t>b</w:t><w:br/><w:t>c &amp; d &#169;</w:t></w:r></w:p>
        <w:p><w:r><w:delText>deleted</w:delText><w:instrText>PAGE</w:instrText><w:t>end</w:t></w:r></w:p>"#;
    let out = extract("plan.docx", &docx(body, None), &limits()).unwrap();
    assert_eq!(out.format, Format::Docx);
    assert_eq!(out.text, "Quarterly Plan\na\tb\nc & d ©\nend\n");
    assert_eq!(out.title.as_deref(), Some("Quarterly Plan"));

    let with_core = extract(
        "plan.docx",
        &docx(body, Some("Core &amp; Title")),
        &limits(),
    )
    .unwrap();
    assert_eq!(with_core.title.as_deref(), Some("Core & Title"));
}

#[test]
fn docx_zip_bomb_is_capped() {
    // 2 MiB of text compresses to a few KiB; with a 1 MiB cap it must be refused, not inflated.
    let body = format!(
        "<w:p><w:r><w:t>{}</w:t></w:r></w:p>",
        "a".repeat(2 * 1024 * 1024)
    );
    let bytes = docx(&body, None);
    assert!(bytes.len() < 100 * 1024);
    let tight = Limits {
        max_extracted_bytes: 1024 * 1024,
        ..limits()
    };
    assert_eq!(
        extract("bomb.docx", &bytes, &tight).unwrap_err(),
        ExtractError::ExpandsTooMuch {
            format: Format::Docx,
            limit: 1024 * 1024
        }
    );
}

#[test]
fn broken_docx_is_malformed() {
    let err = extract("x.docx", b"PK\x03\x04 definitely not a zip", &limits()).unwrap_err();
    assert!(
        matches!(
            err,
            ExtractError::Malformed {
                format: Format::Docx,
                ..
            }
        ),
        "{err:?}"
    );
    // A valid zip without word/document.xml.
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("other.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    zip.write_all(b"hi").unwrap();
    let bytes = zip.finish().unwrap().into_inner();
    let err = extract("x.docx", &bytes, &limits()).unwrap_err();
    assert!(err.to_string().contains("word/document.xml"), "{err}");
    // Broken XML inside a valid zip.
    let err = extract("x.docx", &docx("<w:p><w:t>unclosed</w:p>", None), &limits()).unwrap_err();
    assert!(matches!(err, ExtractError::Malformed { .. }), "{err:?}");
}

#[test]
fn valid_pdf_text_is_extracted() {
    let out = extract("hello.pdf", &pdf("Hello PDF world"), &limits()).unwrap();
    assert_eq!(out.format, Format::Pdf);
    assert!(out.text.contains("Hello PDF world"), "got {:?}", out.text);
}

#[test]
fn truncated_and_corrupted_pdfs_return_errors_not_panics() {
    let good = pdf("Some text here");
    for cut in [0, 5, 9, 40, good.len() / 2, good.len() - 30] {
        // Whatever the outcome, this returns (a panic inside pdf-extract becomes an error).
        let _ = extract("cut.pdf", &good[..cut], &limits());
    }
    let err = extract(
        "garbage.pdf",
        b"%PDF-1.4\nthis is not a pdf at all",
        &limits(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            ExtractError::Malformed {
                format: Format::Pdf,
                ..
            } | ExtractError::Panicked {
                format: Format::Pdf,
                ..
            }
        ),
        "{err:?}"
    );
    let mut rng = Rng(7);
    for _ in 0..30 {
        let mut bytes = good.clone();
        for _ in 0..8 {
            let at = rng.below(bytes.len());
            bytes[at] = rng.next() as u8;
        }
        let _ = extract("mutated.pdf", &bytes, &limits());
    }
}

#[test]
fn random_bytes_never_panic_in_any_format() {
    let names = [
        "a.txt", "a.md", "a.html", "a.pdf", "a.docx", "a.rs", "noext", "a.png",
    ];
    let prefixes: [&[u8]; 5] = [
        b"",
        b"%PDF-1.5\n",
        b"PK\x03\x04",
        b"\xEF\xBB\xBF",
        b"\xFF\xFE",
    ];
    let fast = Limits {
        pdf_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let mut rng = Rng(0x5eed);
    for round in 0..400 {
        let name = names[round % names.len()];
        let mut bytes = prefixes[rng.below(prefixes.len())].to_vec();
        let len = rng.below(600);
        bytes.extend(rng.bytes(len));
        if round % 4 == 0 {
            // Mostly-text input reaches deeper into the text and markup paths.
            for b in bytes.iter_mut() {
                const ALPHABET: &[u8] = b" <>/#&;abcdefghijk\n\"=";
                *b = ALPHABET[usize::from(*b) % ALPHABET.len()];
            }
        }
        let _ = extract(name, &bytes, &fast);
        let _ = detect(name, &bytes);
    }
    // Mutated DOCX archives exercise the zip and XML paths past the signature checks.
    let good = docx("<w:p><w:r><w:t>hello</w:t></w:r></w:p>", Some("t"));
    for _ in 0..200 {
        let mut bytes = good.clone();
        for _ in 0..rng.below(6) + 1 {
            let at = rng.below(bytes.len());
            bytes[at] = rng.next() as u8;
        }
        let _ = extract("m.docx", &bytes, &fast);
    }
}

#[test]
fn error_permanence() {
    assert!(ExtractError::Binary.is_permanent());
    assert!(
        !ExtractError::Timeout {
            format: Format::Pdf,
            after: Duration::from_secs(1)
        }
        .is_permanent()
    );
    assert!(
        !ExtractError::Busy {
            format: Format::Pdf,
            running: 4
        }
        .is_permanent()
    );
}
