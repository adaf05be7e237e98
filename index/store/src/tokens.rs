//! Token counting and chunking, done once at ingest.
//!
//! Counts use OpenAI's cl100k_base encoding (tiktoken-rs, whose BPE ranks ship inside the crate:
//! nothing is downloaded). Bodies are split into chunks on whitespace boundaries, each counted
//! exactly; packing then adds stored counts and never tokenizes at query time.

use std::ops::Range;

/// Name of the tokenizer whose counts the store holds.
pub const TOKENIZER_NAME: &str = "cl100k_base";

/// Target size of one chunk. Small enough that a trimmed item keeps only relevant passages,
/// large enough that per-chunk overhead stays negligible.
pub const CHUNK_TARGET_TOKENS: usize = 256;

/// Bytes per token assumed while grouping text into chunks before counting exactly.
const BYTES_PER_TOKEN_ESTIMATE: usize = 4;

/// One chunk of an item body: a byte range of the body and its exact token count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkSpan {
    pub range: Range<usize>,
    pub tokens: u32,
}

/// Counts tokens with cl100k_base.
#[derive(Clone, Copy)]
pub struct TokenCounter {
    bpe: &'static tiktoken_rs::CoreBPE,
}

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCounter(cl100k_base)")
    }
}

impl Default for TokenCounter {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenCounter {
    pub fn new() -> Self {
        TokenCounter {
            bpe: tiktoken_rs::cl100k_base_singleton(),
        }
    }

    /// Exact number of tokens of `text` (special tokens are treated as plain text).
    pub fn count(&self, text: &str) -> u32 {
        u32::try_from(self.bpe.count_ordinary(text)).unwrap_or(u32::MAX)
    }

    /// Splits `body` into chunks of about [`CHUNK_TARGET_TOKENS`] tokens on paragraph, line or
    /// word boundaries. The chunks cover the body exactly, in order, without gaps.
    pub fn chunk(&self, body: &str) -> Vec<ChunkSpan> {
        split_ranges(body, CHUNK_TARGET_TOKENS * BYTES_PER_TOKEN_ESTIMATE)
            .into_iter()
            .map(|range| ChunkSpan {
                tokens: self.count(&body[range.clone()]),
                range,
            })
            .collect()
    }
}

/// Splits `text` into contiguous ranges of roughly `target` bytes, preferring to end a range
/// after a blank line, then after a newline, then after whitespace, and always on a char boundary.
pub fn split_ranges(text: &str, target: usize) -> Vec<Range<usize>> {
    let target = target.max(16);
    let mut ranges = Vec::new();
    let mut start = 0;
    while start < text.len() {
        if text.len() - start <= target + target / 2 {
            ranges.push(start..text.len());
            break;
        }
        let window_end = floor_char_boundary(text, start + target + target / 2);
        let min_end = floor_char_boundary(text, start + target / 2).max(start + 1);
        let window = &text[start..window_end];
        let cut = ["\n\n", "\n", ". ", " ", "\t"]
            .iter()
            .find_map(|sep| {
                window
                    .rfind(sep)
                    .map(|i| start + i + sep.len())
                    .filter(|&end| end >= min_end)
            })
            .unwrap_or_else(|| {
                let end = floor_char_boundary(text, start + target);
                if end > start {
                    end
                } else {
                    ceil_char_boundary(text, start + 1)
                }
            });
        ranges.push(start..cut);
        start = cut;
    }
    ranges
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    if index >= text.len() {
        return text.len();
    }
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

fn ceil_char_boundary(text: &str, mut index: usize) -> usize {
    if index >= text.len() {
        return text.len();
    }
    while !text.is_char_boundary(index) {
        index += 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_body_exactly() {
        let counter = TokenCounter::new();
        let body = "Ünïcödé paragraph one. ".repeat(200) + "\n\n" + &"second part ".repeat(300);
        let chunks = counter.chunk(&body);
        assert!(chunks.len() > 3, "{} chunks", chunks.len());
        let mut pos = 0;
        for chunk in &chunks {
            assert_eq!(chunk.range.start, pos);
            assert!(chunk.tokens > 0);
            assert!(chunk.tokens < 600, "chunk of {} tokens", chunk.tokens);
            pos = chunk.range.end;
        }
        assert_eq!(pos, body.len());
    }

    #[test]
    fn empty_body_has_no_chunks() {
        assert!(TokenCounter::new().chunk("").is_empty());
    }

    #[test]
    fn counts_match_cl100k() {
        // "hello world" is two tokens in cl100k_base.
        assert_eq!(TokenCounter::new().count("hello world"), 2);
    }

    #[test]
    fn text_without_separators_is_split_on_char_boundaries() {
        let body = "é".repeat(5000);
        let ranges = split_ranges(&body, 100);
        assert!(ranges.len() > 10);
        for r in &ranges {
            assert!(body.is_char_boundary(r.start) && body.is_char_boundary(r.end));
            assert!(!r.is_empty());
        }
    }
}
