//! Text extraction for ctx connectors: turns the bytes of a document (plain text, Markdown, source
//! code, HTML, PDF, DOCX) into the text a model should read, plus a title when one is cheap to find.
//!
//! This crate owns format detection ([`detect`]), binary/encoding checks and the per-format
//! extractors. It is shared by the files connector and, later, mail attachments, so it works on
//! in-memory bytes and a name only: it never touches the file system, the network, the store or
//! global process state (no panic hook, no logging subscriber), and it must never panic or hang its
//! caller, whatever the input.
//!
//! # Isolation of third-party parsers
//!
//! Every extractor runs under [`std::panic::catch_unwind`], so a panicking parser becomes
//! [`ExtractError::Panicked`]. `pdf-extract` is known to also *hang* (and to recurse deeply) on
//! malformed PDFs, so PDFs are parsed on a dedicated thread with a large stack, and the caller waits
//! at most [`Limits::pdf_timeout`]. On timeout the thread cannot be killed (Rust has no safe thread
//! cancellation): it is leaked and keeps a CPU busy until it finishes on its own. To keep a folder
//! of poisoned PDFs from piling up such threads, at most [`MAX_PDF_THREADS`] PDF threads may run at
//! once; further PDFs fail fast with [`ExtractError::Busy`] (retryable) instead.
//!
//! A panic caught here still goes through the process-wide panic hook, which by default prints the
//! message to stderr. This library deliberately does not install a hook (that is global state owned
//! by the binary); a daemon that wants quiet logs can install one that forwards to `tracing`.
//! A stack overflow cannot be caught at all; the large stack of the PDF thread makes it unlikely.

use std::io::{Cursor, Read};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use quick_xml::events::Event;

/// How many PDF worker threads may be alive at once (running or leaked after a timeout).
pub const MAX_PDF_THREADS: usize = 4;

/// How many bytes at the start of a file [`detect`] and the binary check look at.
pub const SNIFF_LEN: usize = 8 * 1024;

/// Stack size of the PDF worker thread: pdf-extract/lopdf recurse on nested objects, and a stack
/// overflow aborts the whole process (it cannot be caught), so give them plenty. It is only address
/// space until touched.
const PDF_STACK_SIZE: usize = 64 * 1024 * 1024;

/// Live PDF worker threads, see [`MAX_PDF_THREADS`].
static PDF_THREADS: AtomicUsize = AtomicUsize::new(0);

/// A document format this crate can extract text from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    PlainText,
    Markdown,
    Html,
    Pdf,
    Docx,
    /// Program source; the value is a short language name (`rust`, `python`...).
    SourceCode(&'static str),
}

impl Format {
    /// A short stable name, used as the `format` field of items.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::PlainText => "text",
            Format::Markdown => "markdown",
            Format::Html => "html",
            Format::Pdf => "pdf",
            Format::Docx => "docx",
            Format::SourceCode(_) => "source",
        }
    }

    /// The language of [`Format::SourceCode`], else `None`.
    pub fn language(self) -> Option<&'static str> {
        match self {
            Format::SourceCode(lang) => Some(lang),
            _ => None,
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Format::SourceCode(lang) => write!(f, "source ({lang})"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// Resource limits of one extraction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Inputs larger than this are refused with [`ExtractError::TooLarge`] before any parsing.
    pub max_input_bytes: u64,
    /// Cap on decompressed/produced data (DOCX XML inside the zip, PDF text): zip-bomb protection.
    pub max_extracted_bytes: u64,
    /// How long to wait for the PDF parser before giving up with [`ExtractError::Timeout`].
    pub pdf_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 64 * 1024 * 1024,
            max_extracted_bytes: 50 * 1024 * 1024,
            pdf_timeout: Duration::from_secs(10),
        }
    }
}

/// The text of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// The readable text. May be empty (an empty note, a scanned PDF without a text layer): such a
    /// document is still worth indexing by name, so emptiness is not an error.
    pub text: String,
    /// The document's own title when one was cheap to find; callers fall back to the file name.
    pub title: Option<String>,
    pub format: Format,
}

/// Why a document yielded no text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtractError {
    #[error("binary content (not a text document)")]
    Binary,
    #[error("not valid utf-8 text (invalid byte at offset {valid_up_to})")]
    NotUtf8 { valid_up_to: usize },
    #[error("no extractor for this kind of file")]
    Unsupported,
    #[error("too large: {size} bytes, limit {limit}")]
    TooLarge { size: u64, limit: u64 },
    #[error("{format} content expands beyond the limit of {limit} bytes")]
    ExpandsTooMuch { format: Format, limit: u64 },
    #[error("malformed {format}: {detail}")]
    Malformed { format: Format, detail: String },
    #[error("{format} extraction timed out after {after:?}")]
    Timeout { format: Format, after: Duration },
    #[error("{format} parser panicked: {detail}")]
    Panicked { format: Format, detail: String },
    #[error("too many stuck {format} parser threads ({running}); try again later")]
    Busy { format: Format, running: usize },
    #[error("could not start the {format} parser thread: {detail}")]
    Spawn { format: Format, detail: String },
}

impl ExtractError {
    /// Whether extracting the same bytes again can never succeed. Non-permanent errors (a timeout
    /// on a busy machine, too many stuck parser threads, a failed thread start) may succeed later.
    pub fn is_permanent(&self) -> bool {
        !matches!(
            self,
            ExtractError::Timeout { .. } | ExtractError::Busy { .. } | ExtractError::Spawn { .. }
        )
    }
}

/// The lowercased extension of `name` (a path or a bare file name), if any.
fn extension(name: &str) -> Option<String> {
    let file = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let (stem, ext) = file.rsplit_once('.')?;
    if stem.is_empty() || ext.is_empty() {
        // `.bashrc` is a hidden file without an extension, `name.` has none either.
        return None;
    }
    Some(ext.to_ascii_lowercase())
}

/// Extensions of formats that are binary by nature (media, archives, executables, office formats we
/// cannot read). Callers use [`is_known_binary`] to skip such files without even reading them.
const BINARY_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "bmp", "tif", "tiff", "webp", "ico", "heic", "heif", "psd", "raw",
    "cr2", "nef", "mp3", "wav", "flac", "ogg", "m4a", "aac", "opus", "mp4", "mkv", "mov", "avi",
    "webm", "wmv", "m4v", "zip", "gz", "tgz", "bz2", "xz", "zst", "7z", "rar", "tar", "jar", "war",
    "exe", "dll", "so", "dylib", "o", "a", "lib", "bin", "class", "pyc", "wasm", "iso", "dmg",
    "img", "sqlite", "db", "woff", "woff2", "ttf", "otf", "eot", "xlsx", "xls", "pptx", "ppt",
    "doc", "odt", "ods", "odp", "epub", "key", "numbers", "pages",
];

/// Whether `name`'s extension marks a binary format this crate cannot extract, so that a caller
/// can skip the file without reading it.
pub fn is_known_binary(name: &str) -> bool {
    extension(name).is_some_and(|ext| BINARY_EXTENSIONS.contains(&ext.as_str()))
}

fn source_language(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "rs" => "rust",
        "py" | "pyi" => "python",
        "js" | "mjs" | "cjs" | "jsx" => "javascript",
        "ts" | "tsx" | "mts" | "cts" => "typescript",
        "go" => "go",
        "java" => "java",
        "kt" | "kts" => "kotlin",
        "scala" => "scala",
        "c" | "h" => "c",
        "cc" | "cpp" | "cxx" | "hpp" | "hh" | "hxx" => "cpp",
        "cs" => "csharp",
        "rb" => "ruby",
        "php" => "php",
        "swift" => "swift",
        "m" | "mm" => "objc",
        "sh" | "bash" | "zsh" | "fish" => "shell",
        "ps1" => "powershell",
        "sql" => "sql",
        "lua" => "lua",
        "r" => "r",
        "hs" => "haskell",
        "ml" | "mli" => "ocaml",
        "ex" | "exs" => "elixir",
        "erl" => "erlang",
        "clj" | "cljs" => "clojure",
        "css" | "scss" | "sass" | "less" => "css",
        "vue" => "vue",
        "svelte" => "svelte",
        "dart" => "dart",
        "pl" | "pm" => "perl",
        "zig" => "zig",
        "nim" => "nim",
        "proto" => "protobuf",
        "tf" => "terraform",
        _ => return None,
    })
}

fn format_from_extension(ext: &str) -> Option<Format> {
    Some(match ext {
        "md" | "markdown" | "mdown" | "mkd" | "mdx" => Format::Markdown,
        "html" | "htm" | "xhtml" => Format::Html,
        "pdf" => Format::Pdf,
        "docx" => Format::Docx,
        "txt" | "text" | "log" | "csv" | "tsv" | "rst" | "org" | "adoc" | "asciidoc" | "tex"
        | "json" | "jsonl" | "yaml" | "yml" | "toml" | "ini" | "cfg" | "conf" | "xml" | "eml"
        | "ics" | "vcf" | "srt" | "vtt" => Format::PlainText,
        other => Format::SourceCode(source_language(other)?),
    })
}

fn starts_with_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.len() >= needle.len() && haystack[..needle.len()].eq_ignore_ascii_case(needle)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Detects the format of a document from its name (a path or file name) and its first bytes
/// (up to [`SNIFF_LEN`] are looked at; fewer are fine).
///
/// Content signatures win over extensions (`%PDF-`, a zip holding `word/`), known binary extensions
/// give `None`, then the extension decides, and a file with an unknown extension counts as plain
/// text when its first bytes look like text (an HTML doctype makes it HTML). `None` means there is
/// no extractor for it.
pub fn detect(path_or_name: &str, head_bytes: &[u8]) -> Option<Format> {
    let head = &head_bytes[..head_bytes.len().min(SNIFF_LEN)];
    let ext = extension(path_or_name);
    // PDF readers accept up to 1 KiB of junk before the header, so look there, not only at 0.
    if find(&head[..head.len().min(1024)], b"%PDF-").is_some() {
        return Some(Format::Pdf);
    }
    if head.starts_with(b"PK\x03\x04") {
        // A DOCX's first entry is usually `[Content_Types].xml`, so `word/` is not always in the
        // head: trust the extension too.
        return (ext.as_deref() == Some("docx") || find(head, b"word/").is_some())
            .then_some(Format::Docx);
    }
    if let Some(ext) = ext.as_deref() {
        if BINARY_EXTENSIONS.contains(&ext) {
            return None;
        }
        if let Some(format) = format_from_extension(ext) {
            return Some(format);
        }
    }
    if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
        // A UTF-16 byte order mark: text, although full of NUL bytes.
        return Some(Format::PlainText);
    }
    if looks_binary(head) {
        return None;
    }
    let trimmed = strip_utf8_bom(head).trim_ascii_start();
    if starts_with_ignore_case(trimmed, b"<!doctype html")
        || starts_with_ignore_case(trimmed, b"<html")
    {
        return Some(Format::Html);
    }
    Some(Format::PlainText)
}

/// Whether bytes look binary: a NUL byte in the first [`SNIFF_LEN`] bytes, or more than one in ten
/// bytes being control characters other than the whitespace and escape codes text files contain.
pub fn looks_binary(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(SNIFF_LEN)];
    if head.contains(&0) {
        return true;
    }
    let controls = head
        .iter()
        .filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0c | 0x1b)) || b == 0x7f)
        .count();
    controls * 10 > head.len()
}

fn strip_utf8_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// Decodes text bytes: strips a UTF-8 BOM, decodes UTF-16 with a BOM, refuses binary content and
/// other encodings (we cannot guess them reliably, and mojibake in the index is worse than a skip).
pub fn decode_text(bytes: &[u8]) -> Result<String, ExtractError> {
    let utf16 = if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        Some((rest, true))
    } else {
        bytes.strip_prefix(b"\xFE\xFF").map(|rest| (rest, false))
    };
    if let Some((rest, little_endian)) = utf16 {
        // UTF-16 is full of NUL bytes, so it must be decoded before the binary check.
        let units = rest.chunks_exact(2).map(|pair| {
            let pair = [pair[0], pair[1]];
            if little_endian {
                u16::from_le_bytes(pair)
            } else {
                u16::from_be_bytes(pair)
            }
        });
        let mut text = String::with_capacity(rest.len() / 2);
        for (index, unit) in char::decode_utf16(units).enumerate() {
            match unit {
                Ok(c) => text.push(c),
                Err(_) => {
                    return Err(ExtractError::NotUtf8 {
                        valid_up_to: 2 + index * 2,
                    });
                }
            }
        }
        if looks_binary(text.as_bytes()) {
            return Err(ExtractError::Binary);
        }
        return Ok(text);
    }
    let body = strip_utf8_bom(bytes);
    if looks_binary(body) {
        return Err(ExtractError::Binary);
    }
    match std::str::from_utf8(body) {
        Ok(text) => Ok(text.to_owned()),
        Err(e) => Err(ExtractError::NotUtf8 {
            valid_up_to: e.valid_up_to() + (bytes.len() - body.len()),
        }),
    }
}

/// Extracts the text of document `name` (a path or file name, used for detection only) from its
/// bytes. Never panics; hangs at most [`Limits::pdf_timeout`] (PDF only).
pub fn extract(name: &str, bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
    let size = bytes.len() as u64;
    if size > limits.max_input_bytes {
        return Err(ExtractError::TooLarge {
            size,
            limit: limits.max_input_bytes,
        });
    }
    let format = match detect(name, bytes) {
        Some(format) => format,
        None if looks_binary(bytes) => return Err(ExtractError::Binary),
        None => return Err(ExtractError::Unsupported),
    };
    let (text, title) = match format {
        Format::PlainText | Format::SourceCode(_) => (decode_text(bytes)?, None),
        Format::Markdown => {
            let text = decode_text(bytes)?;
            let title = markdown_title(&text);
            (text, title)
        }
        Format::Html => {
            let html = decode_text(bytes)?;
            let title = html_title(&html);
            let text = guarded(format, || html_to_text(&html))??;
            (text, title)
        }
        Format::Docx => guarded(format, || docx_text(bytes, limits))??,
        Format::Pdf => (pdf_text(bytes, limits)?, None),
    };
    Ok(Extracted {
        text,
        title,
        format,
    })
}

/// Runs `f`, turning a panic into [`ExtractError::Panicked`].
fn guarded<T>(format: Format, f: impl FnOnce() -> T) -> Result<T, ExtractError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| ExtractError::Panicked {
        format,
        detail: panic_message(payload.as_ref()),
    })
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

fn clean_title(raw: &str) -> Option<String> {
    let title = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    (!title.is_empty()).then_some(title)
}

/// The title of a Markdown document: `title:` in YAML front matter, else the first level-one ATX
/// heading (`# Title`) outside code fences.
pub fn markdown_title(text: &str) -> Option<String> {
    let mut lines = text.lines().peekable();
    if lines.peek().map(|l| l.trim_end()) == Some("---") {
        lines.next();
        for line in lines.by_ref() {
            let line = line.trim_end();
            if line == "---" || line == "..." {
                break;
            }
            if let Some(value) = line.strip_prefix("title:") {
                let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
                if let Some(title) = clean_title(value) {
                    return Some(title);
                }
            }
        }
    }
    let mut in_fence = false;
    for line in lines {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence || line.len() - trimmed.len() > 3 {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('#')
            && (rest.starts_with(' ') || rest.starts_with('\t'))
        {
            // A closing sequence of `#` is decoration, not part of the title.
            let rest = rest.trim().trim_end_matches('#');
            if let Some(title) = clean_title(rest) {
                return Some(title);
            }
        }
    }
    None
}

/// The content of the first `<title>` element, with the common entities decoded.
pub fn html_title(html: &str) -> Option<String> {
    // ASCII lowercasing keeps byte offsets identical, so positions map back onto `html`.
    let lower = html.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    let raw = html.get(start..end)?;
    let decoded = raw
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    clean_title(&decoded)
}

/// Renders HTML as readable plain text: no link footnotes or decoration, wide lines so that
/// paragraphs are not hard-wrapped into fragments (the trivial decorator drops `[link]` brackets
/// and emphasis markers, which only add noise for a model). Scripts and styles are dropped by html2text.
/// Shared with the mail connector's HTML bodies so documents and mail read the same.
pub fn html_to_text(html: &str) -> Result<String, ExtractError> {
    html2text::config::with_decorator(html2text::render::TrivialDecorator::new())
        .link_footnotes(false)
        .string_from_read(html.as_bytes(), 100)
        .map(|text| tidy(&text))
        .map_err(|e| ExtractError::Malformed {
            format: Format::Html,
            detail: e.to_string(),
        })
}

/// Trims trailing spaces and collapses runs of blank lines that converters leave behind.
pub fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank_run = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

fn malformed(format: Format, detail: impl std::fmt::Display) -> ExtractError {
    ExtractError::Malformed {
        format,
        detail: detail.to_string(),
    }
}

/// Reads one entry of a zip archive, refusing to decompress more than `limit` bytes.
fn read_zip_entry(
    archive: &mut zip::ZipArchive<Cursor<&[u8]>>,
    name: &str,
    limit: u64,
) -> Result<Option<Vec<u8>>, ExtractError> {
    let entry = match archive.by_name(name) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(malformed(Format::Docx, format!("{name}: {e}"))),
    };
    // The declared size can lie (that is what zip bombs do), so cap the actual reading too.
    let mut data = Vec::new();
    entry
        .take(limit.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(|e| malformed(Format::Docx, format!("{name}: {e}")))?;
    if data.len() as u64 > limit {
        return Err(ExtractError::ExpandsTooMuch {
            format: Format::Docx,
            limit,
        });
    }
    Ok(Some(data))
}

/// Text and title of a DOCX (Office Open XML word processing) document.
fn docx_text(bytes: &[u8], limits: &Limits) -> Result<(String, Option<String>), ExtractError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| malformed(Format::Docx, format!("not a zip archive: {e}")))?;
    let document = read_zip_entry(
        &mut archive,
        "word/document.xml",
        limits.max_extracted_bytes,
    )?
    .ok_or_else(|| malformed(Format::Docx, "no word/document.xml"))?;
    let (text, heading) = docx_document_text(&document)?;
    // core.xml is tiny; a broken one only costs us the title, not the document.
    let core_title = read_zip_entry(&mut archive, "docProps/core.xml", 1024 * 1024)
        .ok()
        .flatten()
        .and_then(|core| docx_core_title(&core));
    Ok((text, core_title.or(heading)))
}

/// Streams `word/document.xml`: text of `w:t`, a newline per paragraph and line break, a tab per
/// `w:tab`. Also returns the first paragraph styled `Title` or `Heading1` as a title candidate.
fn docx_document_text(xml: &[u8]) -> Result<(String, Option<String>), ExtractError> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut text = String::new();
    let mut in_text = false;
    let mut paragraph_start = 0;
    let mut paragraph_is_heading = false;
    let mut heading = None;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| malformed(Format::Docx, format!("word/document.xml: {e}")))?;
        match event {
            Event::Start(e) => match e.local_name().as_ref() {
                b"t" => in_text = true,
                b"p" => {
                    paragraph_start = text.len();
                    paragraph_is_heading = false;
                }
                _ => {}
            },
            Event::Empty(e) => match e.local_name().as_ref() {
                b"tab" => text.push('\t'),
                b"br" | b"cr" => text.push('\n'),
                b"pStyle" => {
                    paragraph_is_heading = e.attributes().flatten().any(|a| {
                        a.key.local_name().as_ref() == b"val"
                            && matches!(a.value.as_ref(), b"Title" | b"Heading1" | b"heading1")
                    });
                }
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                b"t" => in_text = false,
                b"p" => {
                    if paragraph_is_heading && heading.is_none() {
                        heading = text.get(paragraph_start..).and_then(clean_title);
                    }
                    text.push('\n');
                }
                _ => {}
            },
            Event::Text(e) if in_text => {
                let part = e
                    .decode()
                    .map_err(|e| malformed(Format::Docx, format!("word/document.xml: {e}")))?;
                text.push_str(&part);
            }
            Event::CData(e) if in_text => {
                let part = e
                    .decode()
                    .map_err(|e| malformed(Format::Docx, format!("word/document.xml: {e}")))?;
                text.push_str(&part);
            }
            Event::GeneralRef(e) if in_text => {
                if let Ok(Some(c)) = e.resolve_char_ref() {
                    text.push(c);
                } else if let Ok(name) = e.decode()
                    && let Some(value) = quick_xml::escape::resolve_predefined_entity(&name)
                {
                    text.push_str(value);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok((tidy(&text), heading))
}

/// `dc:title` of `docProps/core.xml`, if present and non-empty.
fn docx_core_title(xml: &[u8]) -> Option<String> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut in_title = false;
    let mut title = String::new();
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            Event::Start(e) if e.local_name().as_ref() == b"title" => in_title = true,
            Event::End(e) if e.local_name().as_ref() == b"title" => break,
            Event::Text(e) if in_title => title.push_str(&e.decode().ok()?),
            Event::GeneralRef(e) if in_title => {
                if let Ok(Some(c)) = e.resolve_char_ref() {
                    title.push(c);
                } else if let Some(value) =
                    quick_xml::escape::resolve_predefined_entity(&e.decode().ok()?)
                {
                    title.push_str(value);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    clean_title(&title)
}

/// Decrements [`PDF_THREADS`] when the worker thread ends, however it ends.
struct PdfThreadSlot;

impl Drop for PdfThreadSlot {
    fn drop(&mut self) {
        PDF_THREADS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Extracts PDF text on an isolated thread; see the crate docs for why and what it costs.
fn pdf_text(bytes: &[u8], limits: &Limits) -> Result<String, ExtractError> {
    let format = Format::Pdf;
    let running = PDF_THREADS.fetch_add(1, Ordering::SeqCst);
    let slot = PdfThreadSlot;
    if running >= MAX_PDF_THREADS {
        drop(slot);
        return Err(ExtractError::Busy { format, running });
    }
    let data: Arc<[u8]> = Arc::from(bytes);
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("ctx-extract-pdf".to_owned())
        .stack_size(PDF_STACK_SIZE)
        .spawn(move || {
            let _slot = slot;
            let result = catch_unwind(AssertUnwindSafe(|| {
                pdf_extract::extract_text_from_mem(&data)
            }));
            // The receiver is gone after a timeout; nobody is left to tell.
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        // The closure (and with it the slot) was dropped, so the count is already restored.
        return Err(ExtractError::Spawn {
            format,
            detail: e.to_string(),
        });
    }
    match rx.recv_timeout(limits.pdf_timeout) {
        Ok(Ok(Ok(text))) => {
            if text.len() as u64 > limits.max_extracted_bytes {
                return Err(ExtractError::ExpandsTooMuch {
                    format,
                    limit: limits.max_extracted_bytes,
                });
            }
            Ok(tidy(&text))
        }
        Ok(Ok(Err(e))) => Err(malformed(format, e)),
        Ok(Err(payload)) => Err(ExtractError::Panicked {
            format,
            detail: panic_message(payload.as_ref()),
        }),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            tracing::warn!(
                timeout = ?limits.pdf_timeout,
                live_threads = PDF_THREADS.load(Ordering::SeqCst),
                "pdf extraction timed out; leaking its worker thread"
            );
            Err(ExtractError::Timeout {
                format,
                after: limits.pdf_timeout,
            })
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(ExtractError::Panicked {
            format,
            detail: "worker thread ended without a result".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_ignores_hidden_files_and_case() {
        assert_eq!(extension("/a/b/Readme.MD").as_deref(), Some("md"));
        assert_eq!(extension(".bashrc"), None);
        assert_eq!(extension("dir.d/file"), None);
    }

    #[test]
    fn tidy_collapses_blank_lines() {
        assert_eq!(tidy("\n\na  \n\n\n\nb\n\n"), "a\n\nb\n");
    }
}
