//! Retrieval for ctx: the tantivy projection of the store, search, and GrabEverythingRelated's
//! candidate generation, fusion and token-budget packing.
//!
//! What this crate owns: [`SearchIndex`] (a projection that can always be rebuilt from the store:
//! each commit records the last applied change-log sequence, and [`SearchIndex::catch_up`]
//! replays what came after) and [`Retriever`] (ranking and packing with token counts stored at
//! ingest; nothing is tokenized at query time).
//!
//! What it must never do: write to the store, know about connectors or gRPC, or run on async
//! runtime threads (everything here blocks).

mod dates;
mod grab;
mod index;
mod signals;

pub use dates::{TimeRange, TimedQuery, parse_time};
pub use grab::{
    CutItem, GrabParams, GrabResult, GrabSummary, PackedItem, RetrievalMode, Retriever,
};
pub use index::{Filters, Hit, INDEX_SCHEMA_VERSION, OpenState, SearchIndex};

use std::path::PathBuf;

/// Errors of the search layer.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search index error: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("search index commit failed: {0}")]
    Open(#[from] tantivy::directory::error::OpenDirectoryError),
    #[error("store error: {0}")]
    Store(#[from] ctx_store::StoreError),
    #[error("cannot access {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("search index writer is unusable after a panic")]
    Poisoned,
}

impl SearchError {
    /// Whether retrying later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            SearchError::Store(e) => e.is_retryable(),
            SearchError::Io { .. } => true,
            _ => false,
        }
    }
}

pub type Result<T, E = SearchError> = std::result::Result<T, E>;

/// Lowercased words of a query that carry meaning (for explanations and passage choice).
pub fn query_terms(query: &str) -> Vec<String> {
    const STOP: &[&str] = &[
        "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is",
        "it", "its", "me", "my", "of", "on", "or", "our", "that", "the", "this", "to", "was", "we",
        "what", "when", "where", "which", "who", "with", "about", "all", "any", "did", "do",
        "does", "give", "how", "i", "you", "your",
    ];
    let mut terms: Vec<String> = Vec::new();
    for word in query
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.len() >= 2 && !STOP.contains(&w.as_str()))
    {
        if !terms.contains(&word) {
            terms.push(word);
        }
    }
    terms
}
