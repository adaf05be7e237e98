//! On-device semantic retrieval for ctx.
//!
//! What this crate owns: loading a BERT-family sentence-embedding model (all-MiniLM-L6-v2,
//! bge-small-en-v1.5, …) from a local directory holding `config.json`, `tokenizer.json` and
//! `model.safetensors` ([`ModelDir`], [`Embedder`]: candle on the CPU, mean or CLS pooling and L2
//! normalisation as sentence-transformers does them); the durable vector projection
//! ([`VectorFile`], rebuildable from the store's chunks like the tantivy index); and the
//! in-memory brute-force search matrix ([`VectorIndex`]).
//!
//! What it must never do: download anything (no hub client is linked), write to the store,
//! know about connectors or gRPC, or run on async runtime threads (everything here blocks).

mod file;
mod model;
mod query_encoder;
mod simd;
pub mod tiny;
mod vectors;

pub use file::{
    ChunkVector, StoredVectors, VECTOR_FILE_NAME, VECTOR_FORMAT_VERSION, VectorFile,
    VectorFileState, decode_vectors, encode_vectors,
};
pub use model::{EmbedOptions, Embedder, ModelDir, Pooling, REQUIRED_FILES};
pub use simd::{dot_i8_portable, kernel_name};
pub use vectors::{Neighbor, Precision, VectorIndex, default_scan_threads, dot_f32, dot_i8};

use std::path::PathBuf;

/// Errors of the embedding layer.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The model directory is missing a file or holds something unusable. Permanent.
    #[error("model directory {dir}: {problem}")]
    ModelDir { dir: PathBuf, problem: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The forward pass failed (shapes, a tensor op). Permanent for that input.
    #[error("embedding model error: {0}")]
    Model(#[from] candle_core::Error),
    #[error("tokenizer error: {0}")]
    Tokenize(String),
    #[error("vector file error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl EmbedError {
    /// Whether retrying later may succeed (a busy or briefly unavailable file).
    pub fn is_retryable(&self) -> bool {
        match self {
            EmbedError::Io { .. } => true,
            EmbedError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            EmbedError::ModelDir { .. } | EmbedError::Model(_) | EmbedError::Tokenize(_) => false,
        }
    }
}

pub type Result<T, E = EmbedError> = std::result::Result<T, E>;

/// The text embedded for one chunk of an item: the first chunk carries the title, so that a
/// short item whose meaning is in its title is found by it.
pub fn chunk_text(title: &str, ord: usize, chunk: &str) -> String {
    if ord == 0 && !title.trim().is_empty() {
        format!("{}\n{}", title.trim(), chunk)
    } else {
        chunk.to_string()
    }
}

/// A stable 64-bit hash (FNV-1a) of a text given to the model: equal hashes let a changed
/// item keep the vectors of its unchanged chunks. Defined here, not by `std`, because it is
/// stored.
pub fn text_hash(text: &str) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_chunk_carries_the_title() {
        assert_eq!(chunk_text("Acme renewal ", 0, "body"), "Acme renewal\nbody");
        assert_eq!(chunk_text("Acme renewal", 1, "more"), "more");
        assert_eq!(chunk_text("  ", 0, "body"), "body");
    }

    #[test]
    fn only_busy_files_are_retryable() {
        let dir = EmbedError::ModelDir {
            dir: PathBuf::from("/m"),
            problem: "lacks config.json".into(),
        };
        assert!(!dir.is_retryable());
        assert!(dir.to_string().contains("/m: lacks config.json"));
        let io = EmbedError::Io {
            path: PathBuf::from("/m/model.safetensors"),
            source: std::io::Error::other("eio"),
        };
        assert!(io.is_retryable());
    }
}
