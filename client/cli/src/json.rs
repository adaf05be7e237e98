//! The `--json` output of every command, as explicit serde structs: this file *is* the schema.
//!
//! Conventions: field names are snake_case; timestamps are RFC 3339 strings in UTC, or `null`
//! when unknown (the API's `0`); durations are milliseconds as floats (`took_ms`); empty optional
//! strings of the API become `null` where "none" is meaningful (errors, thread keys, link
//! targets). Each command prints exactly one JSON object followed by a newline, except
//! `ctx query --stream --json`, which prints one per line (JSON Lines).

use ctx_client::pb;
use serde::{Deserialize, Serialize};

use crate::dates::rfc3339;

/// `ctx query --json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct QueryOutput {
    /// Packed items, in pack order.
    pub items: Vec<QueryItem>,
    /// Tokens of the packed context; never above `token_budget`.
    pub tokens_used: u32,
    pub token_budget: u32,
    /// Items considered before packing.
    pub candidates: u32,
    /// Server-side time, in milliseconds.
    pub took_ms: f64,
    /// Related items that did not fit.
    pub cut: Vec<CutItem>,
    /// Last successful sync of every source.
    pub freshness: Vec<Freshness>,
    /// Tokenizer of all token counts (`cl100k_base`).
    pub tokenizer: String,
    /// The items rendered for a prompt.
    pub markdown: String,
}

/// One packed item of `ctx query --json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct QueryItem {
    pub id: String,
    pub kind: String,
    pub source: String,
    pub title: String,
    pub locator: String,
    /// The item's own time, RFC 3339, or null when unknown.
    pub timestamp: Option<String>,
    /// Tokens of this item in the window, header included.
    pub tokens: u32,
    /// Tokens of the whole item (fetch it with `ctx get ID`).
    pub full_tokens: u32,
    pub score: f32,
    /// Why it was included, for people.
    pub why: String,
    pub text: String,
    /// True when `text` holds only some passages of a longer item.
    pub truncated: bool,
    pub people: Vec<Person>,
    /// Ids of near-identical copies left out in favour of this item.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub duplicate_ids: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Person {
    pub name: String,
    pub email: String,
    pub role: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct CutItem {
    pub id: String,
    pub tokens: u32,
    pub score: f32,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Freshness {
    pub source: String,
    /// RFC 3339, or null when the source never synced.
    pub last_success: Option<String>,
}

/// One line of `ctx query --stream --json` (JSON Lines): each item as it arrives, then the
/// summary. `type` says which.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamLine {
    Item(StreamItem),
    Summary(StreamSummary),
}

/// An item of `ctx query --stream --json`: the fields of a `ctx query --json` item and its
/// rendering; the `markdown` of `ctx query --json` is these concatenated in order.
#[derive(Debug, Serialize, Deserialize)]
pub struct StreamItem {
    #[serde(flatten)]
    pub item: QueryItem,
    pub markdown: String,
}

/// The last line of `ctx query --stream --json`: the totals of `ctx query --json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct StreamSummary {
    /// Items sent before it.
    pub items: u32,
    pub tokens_used: u32,
    pub token_budget: u32,
    pub candidates: u32,
    /// Server-side time to the summary, in milliseconds.
    pub took_ms: f64,
    pub cut: Vec<CutItem>,
    pub freshness: Vec<Freshness>,
    pub tokenizer: String,
}

/// `ctx search --json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SearchOutput {
    pub hits: Vec<SearchHit>,
    /// Total number of matching items (not only this page).
    pub total: u64,
    pub took_ms: f64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SearchHit {
    pub id: String,
    pub kind: String,
    pub source: String,
    pub title: String,
    pub locator: String,
    pub timestamp: Option<String>,
    pub score: f32,
    pub snippet: String,
    pub tokens: u32,
}

/// `ctx get ID --json`: the whole item.
#[derive(Debug, Serialize, Deserialize)]
pub struct ItemOutput {
    pub id: String,
    pub kind: String,
    pub source: String,
    /// The connector's own id of the item (e.g. a path, a Message-ID).
    pub external_id: String,
    pub title: String,
    pub locator: String,
    pub timestamp: Option<String>,
    pub people: Vec<Person>,
    pub organizations: Vec<String>,
    pub body: String,
    pub tokens: u32,
    pub fields: Vec<Field>,
    pub links: Vec<Link>,
    pub thread_key: Option<String>,
    pub content_hash: String,
    /// When the store last changed the item.
    pub updated: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Link {
    pub relation: String,
    /// Id of the linked item; null when the target was never stored.
    pub target_id: Option<String>,
    pub target_external_id: String,
}

/// `ctx status --json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct StatusOutput {
    pub connectors: Vec<ConnectorOutput>,
    pub total_items: u64,
    pub data_dir: String,
    /// Daemon version.
    pub version: String,
    /// When the daemon started.
    pub started: Option<String>,
    /// Index entries not yet applied from the store's change log (0 = search is up to date).
    pub index_lag: u64,
    pub tokenizer: String,
    /// Semantic search: `null` from daemons that predate it.
    pub embeddings: Option<EmbeddingsOutput>,
}

/// The background embedding worker (see `EmbeddingStatus` in ctx.proto).
#[derive(Debug, Serialize, Deserialize)]
pub struct EmbeddingsOutput {
    /// False when no model is configured (keyword + entity graph only).
    pub enabled: bool,
    /// off, loading, embedding, idle, waiting, error.
    pub state: String,
    pub model: Option<String>,
    pub model_id: Option<String>,
    pub dim: u32,
    pub items_embedded: u64,
    pub items_pending: u64,
    pub vectors: u64,
    pub chunks_per_second: f64,
    pub threads: u32,
    pub last_error: Option<String>,
    pub note: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ConnectorOutput {
    pub name: String,
    /// Connector type: files, imap, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// starting, syncing, idle, backoff, auth_error, error, stopped, not_configured.
    pub state: String,
    pub item_count: u64,
    pub last_success: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub backlog: u64,
    pub progress_done: u64,
    pub progress_total: u64,
    /// Completed sync passes since the daemon started.
    pub passes: u64,
    /// What went wrong in the last successful pass without failing it, one line each.
    #[serde(default)]
    pub problems: Vec<String>,
}

fn non_empty(s: String) -> Option<String> {
    (!s.is_empty()).then_some(s)
}

fn person(p: pb::Person) -> Person {
    Person {
        name: p.name,
        email: p.email,
        role: p.role,
    }
}

pub fn took_ms(took_us: u64) -> f64 {
    took_us as f64 / 1000.0
}

impl From<pb::ContextItem> for QueryItem {
    fn from(i: pb::ContextItem) -> Self {
        QueryItem {
            id: i.id,
            kind: i.kind,
            source: i.source,
            title: i.title,
            locator: i.locator,
            timestamp: rfc3339(i.timestamp_ms),
            tokens: i.tokens,
            full_tokens: i.full_tokens,
            score: i.score,
            why: i.why,
            text: i.text,
            truncated: i.truncated,
            people: i.people.into_iter().map(person).collect(),
            duplicate_ids: i.duplicate_ids,
        }
    }
}

fn cut_items(cut: Vec<pb::CutItem>) -> Vec<CutItem> {
    cut.into_iter()
        .map(|c| CutItem {
            id: c.id,
            tokens: c.tokens,
            score: c.score,
        })
        .collect()
}

fn freshness(freshness: Vec<pb::SourceFreshness>) -> Vec<Freshness> {
    freshness
        .into_iter()
        .map(|f| Freshness {
            source: f.source,
            last_success: rfc3339(f.last_success_ms),
        })
        .collect()
}

impl From<pb::GrabResponse> for QueryOutput {
    fn from(r: pb::GrabResponse) -> Self {
        QueryOutput {
            items: r.items.into_iter().map(QueryItem::from).collect(),
            tokens_used: r.tokens_used,
            token_budget: r.token_budget,
            candidates: r.candidates,
            took_ms: took_ms(r.took_us),
            cut: cut_items(r.cut),
            freshness: freshness(r.freshness),
            tokenizer: r.tokenizer,
            markdown: r.markdown,
        }
    }
}

impl From<pb::GrabStreamItem> for StreamLine {
    fn from(i: pb::GrabStreamItem) -> Self {
        StreamLine::Item(StreamItem {
            item: i.item.unwrap_or_default().into(),
            markdown: i.markdown,
        })
    }
}

impl From<pb::GrabSummary> for StreamLine {
    fn from(s: pb::GrabSummary) -> Self {
        StreamLine::Summary(StreamSummary {
            items: s.items,
            tokens_used: s.tokens_used,
            token_budget: s.token_budget,
            candidates: s.candidates,
            took_ms: took_ms(s.took_us),
            cut: cut_items(s.cut),
            freshness: freshness(s.freshness),
            tokenizer: s.tokenizer,
        })
    }
}

impl From<pb::SearchResponse> for SearchOutput {
    fn from(r: pb::SearchResponse) -> Self {
        SearchOutput {
            hits: r
                .hits
                .into_iter()
                .map(|h| SearchHit {
                    id: h.id,
                    kind: h.kind,
                    source: h.source,
                    title: h.title,
                    locator: h.locator,
                    timestamp: rfc3339(h.timestamp_ms),
                    score: h.score,
                    snippet: h.snippet,
                    tokens: h.tokens,
                })
                .collect(),
            total: r.total,
            took_ms: took_ms(r.took_us),
        }
    }
}

impl From<pb::Item> for ItemOutput {
    fn from(i: pb::Item) -> Self {
        ItemOutput {
            id: i.id,
            kind: i.kind,
            source: i.source,
            external_id: i.external_id,
            title: i.title,
            locator: i.locator,
            timestamp: rfc3339(i.timestamp_ms),
            people: i.people.into_iter().map(person).collect(),
            organizations: i.organizations,
            body: i.body,
            tokens: i.tokens,
            fields: i
                .fields
                .into_iter()
                .map(|f| Field {
                    name: f.name,
                    value: f.value,
                })
                .collect(),
            links: i
                .links
                .into_iter()
                .map(|l| Link {
                    relation: l.relation,
                    target_id: non_empty(l.target_id),
                    target_external_id: l.target_external_id,
                })
                .collect(),
            thread_key: non_empty(i.thread_key),
            content_hash: i.content_hash,
            updated: rfc3339(i.updated_ms),
        }
    }
}

impl From<pb::ConnectorStatus> for ConnectorOutput {
    fn from(c: pb::ConnectorStatus) -> Self {
        ConnectorOutput {
            name: c.name,
            kind: c.r#type,
            state: c.state,
            item_count: c.item_count,
            last_success: rfc3339(c.last_success_ms),
            last_error: non_empty(c.last_error),
            last_error_at: rfc3339(c.last_error_ms),
            backlog: c.backlog,
            progress_done: c.progress_done,
            progress_total: c.progress_total,
            passes: c.passes,
            problems: c.problems,
        }
    }
}

impl From<pb::StatusResponse> for StatusOutput {
    fn from(s: pb::StatusResponse) -> Self {
        StatusOutput {
            connectors: s.connectors.into_iter().map(Into::into).collect(),
            total_items: s.total_items,
            data_dir: s.data_dir,
            version: s.version,
            started: rfc3339(s.started_ms),
            index_lag: s.index_lag,
            tokenizer: s.tokenizer,
            embeddings: s.embeddings.map(|e| EmbeddingsOutput {
                enabled: e.enabled,
                state: e.state,
                model: non_empty(e.model),
                model_id: non_empty(e.model_id),
                dim: e.dim,
                items_embedded: e.items_embedded,
                items_pending: e.items_pending,
                vectors: e.vectors,
                chunks_per_second: e.chunks_per_second,
                threads: e.threads,
                last_error: non_empty(e.last_error),
                note: e.note,
            }),
        }
    }
}

/// Prints one JSON object on one line (JSON Lines) to stdout, flushed so a reader sees it now.
pub fn print_line<T: Serialize>(value: &T) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Prints one JSON object and a newline to stdout.
pub fn print<T: Serialize>(value: &T) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}
