//! The source of truth of ctx: a SQLite database (WAL) holding items, their chunks with token
//! counts, the people and organisations they involve, links between items, each connector's
//! cursor and health, and an append-only change log.
//!
//! What this crate owns:
//! - [`Store`]: the single writer. [`Store::commit_batch`] applies a connector's batch and its new
//!   cursor in **one transaction**, refusing a batch whose starting cursor is not the stored one.
//!   Unchanged content (same hash) is a no-op; deletions become tombstones.
//! - [`StoreReader`]: concurrent read access (WAL lets readers run beside the writer).
//! - [`prepare_batch`]: the CPU-heavy part of ingest (hashing, chunking, token counting), done
//!   outside the write transaction.
//!
//! What it must never do: know about connectors' protocols, gRPC, or the search index. It is
//! synchronous; callers run it on dedicated threads, never on async runtime workers.

mod embed_inputs;
mod render;
mod sketch;
mod tokens;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use ctx_connector_api::{Batch, Cursor, Item, ItemId, ItemKind, OrgRef, PersonRef};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

pub use embed_inputs::EmbedInput;
pub use render::{BLOCK_END, HeaderFields, PASSAGE_SEPARATOR, format_timestamp, item_header};
pub use sketch::{NEAR_DUPLICATE_SIMILARITY, SKETCH_BANDS, Sketch};
pub use tokens::{CHUNK_TARGET_TOKENS, ChunkSpan, TOKENIZER_NAME, TokenCounter, split_ranges};

/// Version of the on-disk schema; bumped on incompatible changes.
pub const SCHEMA_VERSION: i64 = 4;

/// Mail domains that identify a mail provider, not an organisation.
pub const DEFAULT_FREE_MAIL_DOMAINS: &[&str] = ctx_connector_api::FREE_MAIL_DOMAINS;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot create data directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cursor conflict for source `{source_name}`: batch starts at {expected:?} but the store holds {stored:?}"
    )]
    CursorConflict {
        source_name: String,
        expected: Option<String>,
        stored: Option<String>,
    },
    #[error(
        "store schema version {found} is from a pre-release build; delete {path} (ctx rebuilds it from your sources)"
    )]
    SchemaTooOld { found: i64, path: PathBuf },
    #[error("store schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("corrupt stored value in {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

impl StoreError {
    /// Whether retrying the same operation later may succeed (a busy database, a full disk).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(
                    rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                        | rusqlite::ErrorCode::DiskFull
                        | rusqlite::ErrorCode::SystemIoFailure
                )
            ),
            StoreError::Io { .. } => true,
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An item made ready for storage: id, content hash, chunks and token counts.
#[derive(Debug, Clone)]
pub struct PreparedItem {
    pub id: ItemId,
    pub item: Item,
    pub content_hash: String,
    pub chunks: Vec<ChunkSpan>,
    pub tokens: u32,
    pub header_tokens: u32,
    /// Where quoted text starts in the body (a chunk boundary) and the tokens before it.
    pub fresh: Option<(usize, u32)>,
    /// Near-duplicate sketch of the text (see [`sketch_of_body`]).
    pub sketch: Option<Sketch>,
}

/// The near-duplicate sketch of a body: of its fresh text when that says enough on its own (a
/// reply is not a copy of what it quotes), else of the whole (a forward is a copy).
pub fn sketch_of_body(body: &str, quote_start: Option<usize>) -> Option<Sketch> {
    quote_start
        .and_then(|q| body.get(..q))
        .and_then(Sketch::of)
        .or_else(|| Sketch::of(body))
}

/// A batch made ready for [`Store::commit_batch`].
#[derive(Debug, Clone, Default)]
pub struct PreparedBatch {
    pub upserts: Vec<PreparedItem>,
    pub deletes: Vec<String>,
    pub cursor: Option<Cursor>,
}

/// Hashes, chunks and counts a connector's batch. CPU-bound: run it off the async runtime.
pub fn prepare_batch(source: &str, batch: Batch, counter: &TokenCounter) -> PreparedBatch {
    PreparedBatch {
        upserts: batch
            .upserts
            .into_iter()
            .map(|item| prepare_item(source, item, counter))
            .collect(),
        deletes: batch.deletes,
        cursor: batch.cursor,
    }
}

/// Prepares one item; see [`prepare_batch`].
pub fn prepare_item(source: &str, item: Item, counter: &TokenCounter) -> PreparedItem {
    let id = ItemId::new(source, &item.external_id);
    let content_hash = content_hash(&item);
    let quote_start = item
        .fields
        .iter()
        .find(|(name, _)| name == ctx_connector_api::FIELD_QUOTE_START)
        .and_then(|(_, value)| value.parse::<usize>().ok())
        .filter(|&q| q > 0 && q < item.body.len() && item.body.is_char_boundary(q));
    // With a quote, chunk the fresh text and the quoted rest separately, so that a chunk
    // boundary falls exactly where the quote starts and its token count is exact.
    let (chunks, fresh) = match quote_start {
        Some(q) => {
            let mut chunks = counter.chunk(&item.body[..q]);
            let fresh_tokens = chunks.iter().map(|c| c.tokens).sum();
            chunks.extend(
                counter
                    .chunk(&item.body[q..])
                    .into_iter()
                    .map(|c| ChunkSpan {
                        range: c.range.start + q..c.range.end + q,
                        tokens: c.tokens,
                    }),
            );
            (chunks, Some((q, fresh_tokens)))
        }
        None => (counter.chunk(&item.body), None),
    };
    let tokens = chunks.iter().map(|c| c.tokens).sum();
    let header = item_header(&HeaderFields {
        id: id.as_str(),
        kind: item.kind,
        source,
        title: &item.title,
        locator: &item.locator,
        timestamp_ms: item.timestamp_ms,
        people: &item.people,
    });
    let header_tokens = counter.count(&header) + counter.count(BLOCK_END);
    let sketch = sketch_of_body(&item.body, fresh.map(|(q, _)| q));
    PreparedItem {
        id,
        item,
        content_hash,
        chunks,
        tokens,
        header_tokens,
        fresh,
        sketch,
    }
}

/// Hash of everything about an item that a reader sees (not its source-side `version`).
pub fn content_hash(item: &Item) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"ctx-content-v1\0");
    let mut field = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(item.kind.as_str().as_bytes());
    field(item.title.as_bytes());
    field(item.locator.as_bytes());
    field(&item.timestamp_ms.unwrap_or(i64::MIN).to_le_bytes());
    field(item.body.as_bytes());
    field(item.thread_key.as_deref().unwrap_or("\u{0}").as_bytes());
    // serde_json of plain data cannot fail; an empty fallback would only weaken no-op detection.
    let rest = serde_json::to_vec(&(&item.people, &item.organizations, &item.links, &item.fields))
        .unwrap_or_default();
    field(&rest);
    // Only when present, so that the hash of everything that happens once is unchanged.
    if !item.occurrences_ms.is_empty() {
        let times: Vec<u8> = item
            .occurrences_ms
            .iter()
            .flat_map(|t| t.to_le_bytes())
            .collect();
        field(b"occurrences");
        field(&times);
    }
    hasher.finalize().to_hex().to_string()
}

/// What one commit did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deleted: u64,
    /// Deletions of ids that were not stored (or already tombstones).
    pub missing_deletes: u64,
}

/// One entry of the change log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub seq: i64,
    pub item_rowid: i64,
}

/// What the search projection indexes for one item.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexDoc {
    pub rowid: i64,
    pub id: String,
    pub source: String,
    pub kind: ItemKind,
    pub title: String,
    pub body: String,
    /// Names and addresses of people, and organisation names and domains.
    pub people: String,
    pub timestamp_ms: Option<i64>,
    /// Occurrence starts of a recurring item (indexed as more timestamps).
    pub occurrences_ms: Vec<i64>,
    pub thread_key: Option<String>,
}

/// Current state of an item for the projection: live (index it) or gone (remove it).
#[derive(Debug, Clone, PartialEq)]
pub enum DocState {
    Live(IndexDoc),
    Gone { rowid: i64 },
}

/// What packing needs of an item, without its body.
#[derive(Debug, Clone, PartialEq)]
pub struct PackMeta {
    pub rowid: i64,
    pub id: String,
    pub source: String,
    pub kind: ItemKind,
    pub title: String,
    pub locator: String,
    pub timestamp_ms: Option<i64>,
    pub people: Vec<PersonRef>,
    pub thread_key: Option<String>,
    pub tokens: u32,
    pub header_tokens: u32,
}

/// How big an item is in a window, and what filters look at.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemSize {
    pub id: String,
    pub source: String,
    pub kind: ItemKind,
    pub timestamp_ms: Option<i64>,
    pub tokens: u32,
    pub header_tokens: u32,
    pub thread_key: Option<String>,
    /// Byte offset where quoted text starts, and the tokens of the text before it.
    pub fresh: Option<(usize, u32)>,
    /// Near-duplicate sketch; `None` for short texts.
    pub sketch: Option<Sketch>,
}

/// Rows fetched per `IN (...)` query: well under SQLite's variable limit, and few distinct
/// statement shapes for the statement cache.
const IN_BATCH: usize = 256;

fn placeholders(n: usize) -> String {
    let mut s = String::with_capacity(n * 2);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push('?');
    }
    s
}

/// One stored chunk of an item: its text and exact token count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkText {
    pub text: String,
    pub tokens: u32,
}

/// A link of an item, resolved to the target's id when the target is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLink {
    pub relation: String,
    pub target_external_id: String,
    pub target_id: Option<String>,
}

/// An item as stored, whole.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredItem {
    pub rowid: i64,
    pub id: String,
    pub source: String,
    pub external_id: String,
    pub kind: ItemKind,
    pub title: String,
    pub locator: String,
    pub timestamp_ms: Option<i64>,
    pub body: String,
    pub people: Vec<PersonRef>,
    pub organizations: Vec<OrgRef>,
    pub fields: Vec<(String, String)>,
    pub links: Vec<StoredLink>,
    pub thread_key: Option<String>,
    pub version: Option<String>,
    pub content_hash: String,
    pub tokens: u32,
    pub updated_ms: i64,
}

/// Health and size of one source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceStats {
    pub name: String,
    pub type_name: String,
    pub live_items: u64,
    pub cursor: Option<String>,
    pub last_success_ms: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_ms: Option<i64>,
}

/// An entity (person or organisation) that matches a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityMatch {
    pub rowid: i64,
    pub kind: String,
    pub key: String,
    pub name: Option<String>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // NORMAL under WAL: a committed transaction survives a process crash (kill -9); only an OS
    // crash may lose the last commits, and the connector then replays from the older cursor.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.pragma_update(None, "cache_size", -16_000)?;
    Ok(())
}

/// The database file inside a data directory.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("ctx.sqlite3")
}

/// The single writer of the store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    free_mail: Vec<String>,
}

impl Store {
    /// Opens (creating if needed) the store at `path`, migrating the schema.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        configure(&conn)?;
        conn.execute_batch(include_str!("schema.sql"))?;
        let found: Option<String> = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match found.as_deref().map(str::parse::<i64>) {
            None => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                    params![SCHEMA_VERSION.to_string()],
                )?;
            }
            Some(Ok(v)) if v > SCHEMA_VERSION => {
                return Err(StoreError::SchemaTooNew {
                    found: v,
                    supported: SCHEMA_VERSION,
                });
            }
            Some(Ok(v)) if (2..SCHEMA_VERSION).contains(&v) => {
                let tx = conn.unchecked_transaction()?;
                for from in v..SCHEMA_VERSION {
                    migrate_step(&tx, from)?;
                }
                tx.execute(
                    "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
                    params![SCHEMA_VERSION.to_string()],
                )?;
                tx.commit()?;
            }
            Some(Ok(v)) if v < SCHEMA_VERSION => {
                return Err(StoreError::SchemaTooOld {
                    found: v,
                    path: path.to_path_buf(),
                });
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                return Err(StoreError::Corrupt {
                    what: "meta.schema_version",
                    detail: e.to_string(),
                });
            }
        }
        conn.execute_batch(include_str!("schema_triggers.sql"))?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
            free_mail: DEFAULT_FREE_MAIL_DOMAINS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the list of mail domains that never define an organisation.
    pub fn set_free_mail_domains(&mut self, domains: Vec<String>) {
        self.free_mail = domains.into_iter().map(|d| d.to_lowercase()).collect();
    }

    /// A reader on the same database.
    pub fn reader(&self) -> Result<StoreReader> {
        StoreReader::open(&self.path)
    }

    /// Records that a connector exists (with its type), keeping its cursor if already known.
    pub fn register_source(&mut self, name: &str, type_name: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO sources (name, type_name) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET type_name = excluded.type_name",
            params![name, type_name],
        )?;
        Ok(())
    }

    /// The stored cursor of a source.
    pub fn cursor(&self, source: &str) -> Result<Option<Cursor>> {
        Ok(read_cursor(&self.conn, source)?.map(Cursor))
    }

    /// External id → version of every live item of a source.
    pub fn known_versions(&self, source: &str) -> Result<HashMap<String, Option<String>>> {
        known_versions(&self.conn, source)
    }

    /// Applies a batch and moves the source's cursor, atomically.
    ///
    /// `expected` must equal the stored cursor: a batch computed from another position (a stale
    /// task, a second daemon) is refused instead of silently corrupting progress.
    pub fn commit_batch(
        &mut self,
        source: &str,
        expected: Option<&Cursor>,
        batch: &PreparedBatch,
    ) -> Result<CommitStats> {
        let free_mail = self.free_mail.clone();
        let tx = self.conn.transaction()?;
        let stored = read_cursor(&tx, source)?;
        if stored.as_deref() != expected.map(Cursor::as_str) {
            return Err(StoreError::CursorConflict {
                source_name: source.to_string(),
                expected: expected.map(|c| c.0.clone()),
                stored,
            });
        }
        let now = now_ms();
        let mut stats = CommitStats::default();
        for prepared in &batch.upserts {
            upsert(&tx, source, prepared, now, &free_mail, &mut stats)?;
        }
        for external_id in &batch.deletes {
            if tombstone(&tx, source, external_id, now)? {
                stats.deleted += 1;
            } else {
                stats.missing_deletes += 1;
            }
        }
        if let Some(cursor) = &batch.cursor {
            tx.execute(
                "INSERT INTO sources (name, type_name, cursor) VALUES (?1, '', ?2)
                 ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor",
                params![source, cursor.as_str()],
            )?;
        }
        tx.commit()?;
        Ok(stats)
    }

    /// Tombstones every live item of a source not in `keep` (the sweep after a full pass).
    pub fn sweep(&mut self, source: &str, keep: &std::collections::HashSet<String>) -> Result<u64> {
        let tx = self.conn.transaction()?;
        let live: Vec<String> = {
            let mut stmt =
                tx.prepare("SELECT external_id FROM items WHERE source = ?1 AND deleted = 0")?;
            stmt.query_map([source], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        let now = now_ms();
        let mut n = 0;
        for ext in live.iter().filter(|e| !keep.contains(*e)) {
            if tombstone(&tx, source, ext, now)? {
                n += 1;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Tombstones every item of a source and forgets its cursor (the connector was removed).
    pub fn remove_source(&mut self, source: &str) -> Result<u64> {
        let n = self.sweep(source, &std::collections::HashSet::new())?;
        self.conn
            .execute("DELETE FROM sources WHERE name = ?1", [source])?;
        Ok(n)
    }

    /// Forgets a source's cursor (the source no longer honours it): the next pull starts a
    /// full pass, which reconciles against what the store holds.
    pub fn reset_cursor(&mut self, source: &str) -> Result<()> {
        self.conn
            .execute("UPDATE sources SET cursor = NULL WHERE name = ?1", [source])?;
        Ok(())
    }

    /// Records a successful sync pass.
    pub fn record_success(&mut self, source: &str, at_ms: i64) -> Result<()> {
        self.conn.execute(
            "UPDATE sources SET last_success_ms = ?2, last_error = NULL, last_error_ms = NULL WHERE name = ?1",
            params![source, at_ms],
        )?;
        Ok(())
    }

    /// Records a failed sync attempt.
    pub fn record_error(&mut self, source: &str, at_ms: i64, message: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE sources SET last_error = ?2, last_error_ms = ?3 WHERE name = ?1",
            params![source, message, at_ms],
        )?;
        Ok(())
    }

    /// Drops change-log entries up to `seq` (once the projection has durably applied them).
    pub fn prune_changes(&mut self, upto_seq: i64) -> Result<u64> {
        let n = self
            .conn
            .execute("DELETE FROM changes WHERE seq <= ?1", [upto_seq])?;
        Ok(n as u64)
    }

    /// Runs a WAL checkpoint (keeps the -wal file from growing during long ingests).
    pub fn checkpoint(&mut self) -> Result<()> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }
}

fn read_cursor(conn: &Connection, source: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT cursor FROM sources WHERE name = ?1",
            [source],
            |r| r.get::<_, Option<String>>(0),
        )
        .optional()?
        .flatten())
}

fn known_versions(conn: &Connection, source: &str) -> Result<HashMap<String, Option<String>>> {
    let mut stmt =
        conn.prepare("SELECT external_id, version FROM items WHERE source = ?1 AND deleted = 0")?;
    let rows = stmt.query_map([source], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let mut out = HashMap::new();
    for row in rows {
        let (k, v): (String, Option<String>) = row?;
        out.insert(k, v);
    }
    Ok(out)
}

fn log_change(tx: &Transaction<'_>, rowid: i64, op: &str, now: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO changes (item_rowid, op, at_ms) VALUES (?1, ?2, ?3)",
        params![rowid, op, now],
    )?;
    Ok(())
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".to_string())
}

fn upsert(
    tx: &Transaction<'_>,
    source: &str,
    p: &PreparedItem,
    now: i64,
    free_mail: &[String],
    stats: &mut CommitStats,
) -> Result<()> {
    let item = &p.item;
    let existing: Option<(i64, String, bool, Option<String>)> = tx
        .query_row(
            "SELECT rowid, content_hash, deleted, version FROM items WHERE source = ?1 AND external_id = ?2",
            params![source, item.external_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? != 0, r.get(3)?)),
        )
        .optional()?;
    if let Some((rowid, hash, deleted, version)) = &existing
        && !deleted
        && *hash == p.content_hash
    {
        if *version != item.version {
            tx.execute(
                "UPDATE items SET version = ?2 WHERE rowid = ?1",
                params![rowid, item.version],
            )?;
        }
        stats.unchanged += 1;
        return Ok(());
    }
    let values = params![
        p.id.as_str(),
        source,
        item.external_id,
        item.kind.as_str(),
        item.title,
        item.locator,
        item.timestamp_ms,
        json(&item.people),
        json(&item.organizations),
        json(&item.fields),
        item.thread_key,
        item.version,
        p.content_hash,
        p.tokens,
        p.header_tokens,
        now,
        p.fresh.map(|(q, _)| q as i64),
        p.fresh.map(|(_, t)| t),
        p.sketch.map(|s| s.to_bytes()),
    ];
    let rowid = match existing {
        Some((rowid, ..)) => {
            tx.execute(
                "UPDATE items SET id = ?1, source = ?2, external_id = ?3, kind = ?4, title = ?5,
                    locator = ?6, timestamp_ms = ?7, people = ?8, organizations = ?9,
                    fields = ?10, thread_key = ?11, version = ?12, content_hash = ?13, tokens = ?14,
                    header_tokens = ?15, updated_ms = ?16, quote_start = ?17, fresh_tokens = ?18,
                    sketch = ?19, deleted = 0
                 WHERE rowid = ?20",
                rusqlite::params_from_iter(
                    values
                        .iter()
                        .copied()
                        .chain(std::iter::once(&rowid as &dyn rusqlite::ToSql)),
                ),
            )?;
            clear_derived(tx, rowid)?;
            stats.updated += 1;
            rowid
        }
        None => {
            tx.execute(
                "INSERT INTO items (id, source, external_id, kind, title, locator, timestamp_ms,
                    people, organizations, fields, thread_key, version, content_hash, tokens,
                    header_tokens, updated_ms, quote_start, fresh_tokens, sketch)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                    ?17, ?18, ?19)",
                values,
            )?;
            stats.inserted += 1;
            tx.last_insert_rowid()
        }
    };
    tx.prepare_cached("INSERT OR REPLACE INTO item_bodies (item_rowid, body) VALUES (?1, ?2)")?
        .execute(params![rowid, item.body])?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO chunks (item_rowid, ord, start, end, tokens) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (ord, chunk) in p.chunks.iter().enumerate() {
            stmt.execute(params![
                rowid,
                ord as i64,
                chunk.range.start as i64,
                chunk.range.end as i64,
                chunk.tokens
            ])?;
        }
    }
    link_entities(tx, rowid, item, free_mail)?;
    if !item.occurrences_ms.is_empty() {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO item_occurrences (item_rowid, at_ms) VALUES (?1, ?2)",
        )?;
        for at in &item.occurrences_ms {
            stmt.execute(params![rowid, at])?;
        }
    }
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR IGNORE INTO links (item_rowid, relation, target_external_id) VALUES (?1, ?2, ?3)",
        )?;
        for link in &item.links {
            stmt.execute(params![rowid, link.relation, link.target_external_id])?;
        }
    }
    log_change(tx, rowid, "upsert", now)?;
    Ok(())
}

fn read_occurrences(c: &Connection, rowids: &[i64]) -> Result<HashMap<i64, Vec<i64>>> {
    let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
    for batch in rowids.chunks(IN_BATCH) {
        let sql = format!(
            "SELECT item_rowid, at_ms FROM item_occurrences WHERE item_rowid IN ({}) ORDER BY item_rowid, at_ms",
            placeholders(batch.len())
        );
        let mut stmt = c.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(batch), |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })?;
        for row in rows {
            let (rowid, at) = row?;
            out.entry(rowid).or_default().push(at);
        }
    }
    Ok(out)
}

/// One schema migration, `from` → `from + 1`, inside the caller's transaction.
fn migrate_step(tx: &Transaction<'_>, from: i64) -> Result<()> {
    match from {
        2 => {
            // 2 → 3 added `item_occurrences` (created by schema.sql). Forgetting the source-side
            // versions of events and tasks makes their connectors read them again, and the
            // occurrence list changes their content hash, so the next sync fills the table.
            tx.execute(
                "UPDATE items SET version = NULL WHERE kind IN ('event', 'task') AND deleted = 0",
                [],
            )?;
            // 2 → 3 also added near-duplicate sketches, a function of the stored body.
            tx.execute_batch("ALTER TABLE items ADD COLUMN sketch BLOB")?;
            let mut read = tx.prepare(
                "SELECT i.rowid, b.body, i.quote_start FROM items i
                 JOIN item_bodies b ON b.item_rowid = i.rowid WHERE i.deleted = 0",
            )?;
            let mut write = tx.prepare("UPDATE items SET sketch = ?2 WHERE rowid = ?1")?;
            let mut rows = read.query([])?;
            while let Some(r) = rows.next()? {
                let rowid: i64 = r.get(0)?;
                let body: String = r.get(1)?;
                let quote: Option<i64> = r.get(2)?;
                if let Some(sketch) =
                    sketch_of_body(&body, quote.and_then(|q| usize::try_from(q).ok()))
                {
                    write.execute(params![rowid, sketch.to_bytes()])?;
                }
            }
        }
        3 => {
            // 3 → 4 added the maintained link count of each entity (the triggers that keep it
            // are created after migrating).
            tx.execute_batch(
                "ALTER TABLE entities ADD COLUMN linked_items INTEGER NOT NULL DEFAULT 0;
                 UPDATE entities SET linked_items =
                     (SELECT COUNT(*) FROM item_entities WHERE entity_rowid = entities.rowid);",
            )?;
        }
        _ => {}
    }
    Ok(())
}

fn clear_derived(tx: &Transaction<'_>, rowid: i64) -> Result<()> {
    tx.execute("DELETE FROM chunks WHERE item_rowid = ?1", [rowid])?;
    tx.execute("DELETE FROM item_entities WHERE item_rowid = ?1", [rowid])?;
    tx.execute("DELETE FROM links WHERE item_rowid = ?1", [rowid])?;
    tx.execute(
        "DELETE FROM item_occurrences WHERE item_rowid = ?1",
        [rowid],
    )?;
    Ok(())
}

fn tombstone(tx: &Transaction<'_>, source: &str, external_id: &str, now: i64) -> Result<bool> {
    let rowid: Option<i64> = tx
        .query_row(
            "SELECT rowid FROM items WHERE source = ?1 AND external_id = ?2 AND deleted = 0",
            params![source, external_id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(rowid) = rowid else {
        return Ok(false);
    };
    tx.execute(
        "UPDATE items SET deleted = 1, tokens = 0, people = '[]', organizations = '[]',
            fields = '[]', version = NULL, content_hash = '', sketch = NULL, updated_ms = ?2
         WHERE rowid = ?1",
        params![rowid, now],
    )?;
    clear_derived(tx, rowid)?;
    tx.execute("DELETE FROM item_bodies WHERE item_rowid = ?1", [rowid])?;
    log_change(tx, rowid, "delete", now)?;
    Ok(true)
}

/// Normalises an email address for identity: trimmed, lowercased, angle brackets removed.
pub fn normalize_email(raw: &str) -> Option<String> {
    let e = raw
        .trim()
        .trim_start_matches("mailto:")
        .trim_matches(|c| c == '<' || c == '>')
        .trim()
        .to_lowercase();
    let (local, domain) = e.split_once('@')?;
    if local.is_empty()
        || domain.is_empty()
        || domain.contains('@')
        || e.contains(char::is_whitespace)
    {
        return None;
    }
    Some(e)
}

/// An organisation's display name guessed from its domain (`acme-corp.com` → `Acme Corp`).
pub fn org_name_from_domain(domain: &str) -> String {
    let labels: Vec<&str> = domain.split('.').collect();
    let main = if labels.len() >= 3
        && matches!(
            labels[labels.len() - 2],
            "co" | "com" | "org" | "ac" | "gov" | "net"
        ) {
        labels[labels.len() - 3]
    } else if labels.len() >= 2 {
        labels[labels.len() - 2]
    } else {
        domain
    };
    main.split(['-', '_'])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn entity(tx: &Transaction<'_>, kind: &str, key: &str, name: Option<&str>) -> Result<i64> {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    let found: Option<(i64, Option<String>)> = tx
        .prepare_cached("SELECT rowid, name FROM entities WHERE kind = ?1 AND key = ?2")?
        .query_row(params![kind, key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    match found {
        Some((rowid, stored)) => {
            if stored.is_none() && name.is_some() {
                tx.execute(
                    "UPDATE entities SET name = ?2 WHERE rowid = ?1",
                    params![rowid, name],
                )?;
            }
            Ok(rowid)
        }
        None => {
            tx.prepare_cached("INSERT INTO entities (kind, key, name) VALUES (?1, ?2, ?3)")?
                .execute(params![kind, key, name])?;
            Ok(tx.last_insert_rowid())
        }
    }
}

fn link_entities(
    tx: &Transaction<'_>,
    rowid: i64,
    item: &Item,
    free_mail: &[String],
) -> Result<()> {
    let mut add = tx.prepare_cached(
        "INSERT OR IGNORE INTO item_entities (item_rowid, entity_rowid, role) VALUES (?1, ?2, ?3)",
    )?;
    for person in &item.people {
        let email = person.email.as_deref().and_then(normalize_email);
        let key = match (&email, &person.name) {
            (Some(e), _) => e.clone(),
            (None, Some(n)) if !n.trim().is_empty() => format!("name:{}", n.trim().to_lowercase()),
            _ => continue,
        };
        let person_rowid = entity(tx, "person", &key, person.name.as_deref())?;
        add.execute(params![rowid, person_rowid, person.role.as_str()])?;
        if let Some((_, domain)) = email.as_deref().and_then(|e| e.split_once('@'))
            && !free_mail.iter().any(|f| f == domain)
        {
            let org_rowid = entity(tx, "org", domain, Some(&org_name_from_domain(domain)))?;
            tx.prepare_cached(
                "INSERT OR IGNORE INTO person_orgs (person_rowid, org_rowid) VALUES (?1, ?2)",
            )?
            .execute(params![person_rowid, org_rowid])?;
            add.execute(params![rowid, org_rowid, "via_person"])?;
        }
    }
    for org in &item.organizations {
        let domain = org
            .domain
            .as_deref()
            .map(|d| d.trim().trim_start_matches("www.").to_lowercase())
            // A free-mail domain names no organisation, whoever says so (a CRM company
            // record with `gmail.com` as its website): such an organisation goes by its name.
            .filter(|d| !d.is_empty() && !free_mail.iter().any(|f| f == d));
        let key = match (&domain, &org.name) {
            (Some(d), _) => d.clone(),
            (None, Some(n)) if !n.trim().is_empty() => format!("name:{}", n.trim().to_lowercase()),
            _ => continue,
        };
        let org_rowid = entity(tx, "org", &key, org.name.as_deref())?;
        add.execute(params![rowid, org_rowid, "organization"])?;
    }
    Ok(())
}

/// Read access to the store, usable from many threads at once (a small connection pool).
pub struct StoreReader {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
}

impl StoreReader {
    pub fn open(path: &Path) -> Result<StoreReader> {
        let reader = StoreReader {
            path: path.to_path_buf(),
            pool: Mutex::new(Vec::new()),
        };
        // Fail early when the database cannot be opened.
        reader.with_conn(|_| Ok(()))?;
        Ok(reader)
    }

    fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        let conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | rusqlite::OpenFlags::SQLITE_OPEN_URI,
                )?;
                c.busy_timeout(std::time::Duration::from_secs(10))?;
                c.pragma_update(None, "cache_size", -16_000)?;
                c.set_prepared_statement_cache_capacity(64);
                c
            }
        };
        let out = f(&conn);
        if let Ok(mut pool) = self.pool.lock()
            && pool.len() < 8
        {
            pool.push(conn);
        }
        out
    }

    /// External id → version of every live item of a source.
    pub fn known_versions(&self, source: &str) -> Result<HashMap<String, Option<String>>> {
        self.with_conn(|c| known_versions(c, source))
    }

    /// The stored cursor of a source.
    pub fn cursor(&self, source: &str) -> Result<Option<Cursor>> {
        self.with_conn(|c| Ok(read_cursor(c, source)?.map(Cursor)))
    }

    /// Highest change sequence number (0 when the log is empty and was never used).
    pub fn max_seq(&self) -> Result<i64> {
        self.with_conn(|c| {
            Ok(c.query_row(
                "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0)",
                [],
                |r| r.get(0),
            )?)
        })
    }

    /// Changes after `seq`, oldest first, at most `limit`.
    pub fn changes_after(&self, seq: i64, limit: usize) -> Result<Vec<Change>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, item_rowid FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![seq, limit as i64], |r| {
                Ok(Change {
                    seq: r.get(0)?,
                    item_rowid: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Rowids of live items after `after`, in rowid order (for rebuilding the projection).
    pub fn live_rowids(&self, after: i64, limit: usize) -> Result<Vec<i64>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT rowid FROM items WHERE rowid > ?1 AND deleted = 0 ORDER BY rowid LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![after, limit as i64], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Occurrence starts of the recurring items among `rowids`, ascending (others are absent).
    pub fn occurrences(&self, rowids: &[i64]) -> Result<HashMap<i64, Vec<i64>>> {
        self.with_conn(|c| read_occurrences(c, rowids))
    }

    /// The current state of items for the projection.
    pub fn doc_states(&self, rowids: &[i64]) -> Result<Vec<DocState>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT i.id, i.source, i.kind, i.title, COALESCE(b.body, ''), i.people, i.organizations,
                    i.timestamp_ms, i.thread_key, i.deleted
                 FROM items i LEFT JOIN item_bodies b ON b.item_rowid = i.rowid WHERE i.rowid = ?1",
            )?;
            let mut occurrences = read_occurrences(c, rowids)?;
            let mut out = Vec::with_capacity(rowids.len());
            for &rowid in rowids {
                let row = stmt
                    .query_row([rowid], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, String>(4)?,
                            r.get::<_, String>(5)?,
                            r.get::<_, String>(6)?,
                            r.get::<_, Option<i64>>(7)?,
                            r.get::<_, Option<String>>(8)?,
                            r.get::<_, i64>(9)? != 0,
                        ))
                    })
                    .optional()?;
                match row {
                    None | Some((.., true)) => out.push(DocState::Gone { rowid }),
                    Some((id, source, kind, title, body, people, orgs, ts, thread, false)) => {
                        let people: Vec<PersonRef> = parse_json(&people, "items.people")?;
                        let orgs: Vec<OrgRef> = parse_json(&orgs, "items.organizations")?;
                        let mut who = String::new();
                        for p in &people {
                            for part in [&p.name, &p.email].into_iter().flatten() {
                                who.push_str(part);
                                who.push(' ');
                            }
                            if let Some((_, d)) = p.email.as_deref().and_then(|e| e.split_once('@')) {
                                who.push_str(d);
                                who.push(' ');
                            }
                        }
                        for o in &orgs {
                            for part in [&o.name, &o.domain].into_iter().flatten() {
                                who.push_str(part);
                                who.push(' ');
                            }
                        }
                        out.push(DocState::Live(IndexDoc {
                            rowid,
                            id,
                            source,
                            kind: parse_kind(&kind)?,
                            title,
                            body,
                            people: who,
                            timestamp_ms: ts,
                            occurrences_ms: occurrences.remove(&rowid).unwrap_or_default(),
                            thread_key: thread,
                        }));
                    }
                }
            }
            Ok(out)
        })
    }

    /// What packing needs of an item (no body); `None` for unknown or deleted rowids.
    pub fn pack_meta(&self, rowid: i64) -> Result<Option<PackMeta>> {
        Ok(self.pack_metas(&[rowid])?.pop())
    }

    /// [`StoreReader::pack_meta`] for many rowids, in few queries; missing ones are skipped.
    /// The result follows the order of `rowids`.
    pub fn pack_metas(&self, rowids: &[i64]) -> Result<Vec<PackMeta>> {
        self.with_conn(|c| {
            let mut found: HashMap<i64, PackMeta> = HashMap::with_capacity(rowids.len());
            for part in rowids.chunks(IN_BATCH) {
                let sql = format!(
                    "SELECT rowid, id, source, kind, title, locator, timestamp_ms, people, thread_key,
                        tokens, header_tokens
                     FROM items WHERE deleted = 0 AND rowid IN ({})",
                    placeholders(part.len())
                );
                let mut stmt = c.prepare_cached(&sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(part))?;
                while let Some(r) = rows.next()? {
                    let rowid: i64 = r.get(0)?;
                    let kind: String = r.get(3)?;
                    let people: String = r.get(7)?;
                    found.insert(
                        rowid,
                        PackMeta {
                            rowid,
                            id: r.get(1)?,
                            source: r.get(2)?,
                            kind: parse_kind(&kind)?,
                            title: r.get(4)?,
                            locator: r.get(5)?,
                            timestamp_ms: r.get(6)?,
                            people: parse_json(&people, "items.people")?,
                            thread_key: r.get(8)?,
                            tokens: r.get(9)?,
                            header_tokens: r.get(10)?,
                        },
                    );
                }
            }
            Ok(rowids.iter().filter_map(|r| found.remove(r)).collect())
        })
    }

    /// Sizes and filterable attributes of many items, in few queries (no text is read).
    pub fn sizes(&self, rowids: &[i64]) -> Result<HashMap<i64, ItemSize>> {
        self.with_conn(|c| {
            let mut out = HashMap::with_capacity(rowids.len());
            for part in rowids.chunks(IN_BATCH) {
                let sql = format!(
                    "SELECT rowid, id, source, kind, timestamp_ms, tokens, header_tokens, thread_key,
                        quote_start, fresh_tokens, sketch
                     FROM items WHERE deleted = 0 AND rowid IN ({})",
                    placeholders(part.len())
                );
                let mut stmt = c.prepare_cached(&sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(part))?;
                while let Some(r) = rows.next()? {
                    let kind: String = r.get(3)?;
                    out.insert(
                        r.get::<_, i64>(0)?,
                        ItemSize {
                            id: r.get(1)?,
                            source: r.get(2)?,
                            kind: parse_kind(&kind)?,
                            timestamp_ms: r.get(4)?,
                            tokens: r.get(5)?,
                            header_tokens: r.get(6)?,
                            thread_key: r.get(7)?,
                            fresh: match (r.get::<_, Option<i64>>(8)?, r.get::<_, Option<u32>>(9)?) {
                                (Some(q), Some(t)) => Some((q as usize, t)),
                                _ => None,
                            },
                            sketch: r
                                .get_ref(10)?
                                .as_blob_or_null()
                                .ok()
                                .flatten()
                                .and_then(Sketch::from_bytes),
                        },
                    );
                }
            }
            Ok(out)
        })
    }

    /// Bodies of many live items, in few queries.
    pub fn bodies(&self, rowids: &[i64]) -> Result<HashMap<i64, String>> {
        self.with_conn(|c| {
            let mut out = HashMap::with_capacity(rowids.len());
            for part in rowids.chunks(IN_BATCH) {
                let sql = format!(
                    "SELECT item_rowid, body FROM item_bodies WHERE item_rowid IN ({})",
                    placeholders(part.len())
                );
                let mut stmt = c.prepare_cached(&sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(part))?;
                while let Some(r) = rows.next()? {
                    out.insert(r.get::<_, i64>(0)?, r.get::<_, String>(1)?);
                }
            }
            Ok(out)
        })
    }

    /// Every chunk of an item, in order, with its stored token count (one query).
    pub fn chunks(&self, rowid: i64) -> Result<Vec<ChunkText>> {
        self.with_conn(|c| read_chunks(c, rowid))
    }

    /// An item by its stable id (`None` when unknown or deleted).
    pub fn get_item(&self, id: &str) -> Result<Option<StoredItem>> {
        self.with_conn(|c| {
            let row = c
                .query_row(
                    "SELECT i.rowid, i.id, i.source, i.external_id, i.kind, i.title, i.locator,
                        i.timestamp_ms, COALESCE(b.body, ''), i.people, i.organizations, i.fields,
                        i.thread_key, i.version, i.content_hash, i.tokens, i.updated_ms
                     FROM items i LEFT JOIN item_bodies b ON b.item_rowid = i.rowid
                     WHERE i.id = ?1 AND i.deleted = 0",
                    [id],
                    |r| {
                        Ok((
                            (
                                r.get::<_, i64>(0)?,
                                r.get::<_, String>(1)?,
                                r.get::<_, String>(2)?,
                                r.get::<_, String>(3)?,
                                r.get::<_, String>(4)?,
                                r.get::<_, String>(5)?,
                                r.get::<_, String>(6)?,
                                r.get::<_, Option<i64>>(7)?,
                            ),
                            (
                                r.get::<_, String>(8)?,
                                r.get::<_, String>(9)?,
                                r.get::<_, String>(10)?,
                                r.get::<_, String>(11)?,
                                r.get::<_, Option<String>>(12)?,
                                r.get::<_, Option<String>>(13)?,
                                r.get::<_, String>(14)?,
                                r.get::<_, u32>(15)?,
                                r.get::<_, i64>(16)?,
                            ),
                        ))
                    },
                )
                .optional()?;
            let Some((
                (rowid, id, source, external_id, kind, title, locator, timestamp_ms),
                (body, people, orgs, fields, thread_key, version, content_hash, tokens, updated_ms),
            )) = row
            else {
                return Ok(None);
            };
            let links = {
                let mut stmt = c.prepare_cached(
                    "SELECT l.relation, l.target_external_id, t.id
                     FROM links l LEFT JOIN items t
                       ON t.source = ?2 AND t.external_id = l.target_external_id AND t.deleted = 0
                     WHERE l.item_rowid = ?1",
                )?;
                stmt.query_map(params![rowid, source], |r| {
                    Ok(StoredLink {
                        relation: r.get(0)?,
                        target_external_id: r.get(1)?,
                        target_id: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?
            };
            Ok(Some(StoredItem {
                rowid,
                id,
                source,
                external_id,
                kind: parse_kind(&kind)?,
                title,
                locator,
                timestamp_ms,
                body,
                people: parse_json(&people, "items.people")?,
                organizations: parse_json(&orgs, "items.organizations")?,
                fields: parse_json(&fields, "items.fields")?,
                links,
                thread_key,
                version,
                content_hash,
                tokens,
                updated_ms,
            }))
        })
    }

    /// The rowid of an item by stable id (live items only).
    pub fn rowid_of(&self, id: &str) -> Result<Option<i64>> {
        self.with_conn(|c| {
            Ok(
                c.prepare_cached("SELECT rowid FROM items WHERE id = ?1 AND deleted = 0")?
                    .query_row([id], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    /// Per-source statistics, for `Status`.
    pub fn source_stats(&self) -> Result<Vec<SourceStats>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT s.name, s.type_name, s.cursor, s.last_success_ms, s.last_error, s.last_error_ms,
                        (SELECT COUNT(*) FROM items i WHERE i.source = s.name AND i.deleted = 0)
                 FROM sources s ORDER BY s.name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(SourceStats {
                    name: r.get(0)?,
                    type_name: r.get(1)?,
                    cursor: r.get(2)?,
                    last_success_ms: r.get(3)?,
                    last_error: r.get(4)?,
                    last_error_ms: r.get(5)?,
                    live_items: r.get::<_, i64>(6)? as u64,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Last successful sync of every source (cheap: no item counts).
    pub fn freshness(&self) -> Result<Vec<(String, Option<i64>)>> {
        self.with_conn(|c| {
            let mut stmt =
                c.prepare_cached("SELECT name, last_success_ms FROM sources ORDER BY name")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Number of live items, all sources.
    pub fn live_item_count(&self) -> Result<u64> {
        self.with_conn(|c| {
            Ok(
                c.query_row("SELECT COUNT(*) FROM items WHERE deleted = 0", [], |r| {
                    r.get::<_, i64>(0)
                })? as u64,
            )
        })
    }

    /// Entities whose key or name matches `term` exactly (case-insensitive): an email address,
    /// a domain, or a full name.
    pub fn find_entities(&self, term: &str) -> Result<Vec<EntityMatch>> {
        let t = term.trim().to_lowercase();
        if t.is_empty() {
            return Ok(Vec::new());
        }
        // A single word also names the organisations whose domain it is the first label of
        // ("acme" → `acme.com`), whatever name their first source gave them ("Acme Corp").
        // A key range, not LIKE, so the key index answers it.
        let label = (t.len() >= 3 && t.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-'))
            .then(|| (format!("{t}."), format!("{t}/")));
        let (low, high) = label.unwrap_or_default();
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT rowid, kind, key, name FROM entities
                 WHERE key = ?1 OR key = 'name:' || ?1 OR lower(name) = ?1
                    OR (?2 <> '' AND key >= ?2 AND key < ?3 AND kind = 'org') LIMIT 50",
            )?;
            let rows = stmt.query_map(params![&t, &low, &high], |r| {
                Ok(EntityMatch {
                    rowid: r.get(0)?,
                    kind: r.get(1)?,
                    key: r.get(2)?,
                    name: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Live items linked to an entity, most recently stored first, at most `limit`.
    /// (Tombstoned items lose their entity rows, so no join is needed; the entity index gives
    /// the order without sorting.)
    pub fn items_of_entity(&self, entity_rowid: i64, limit: usize) -> Result<Vec<i64>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT DISTINCT item_rowid FROM item_entities
                 WHERE entity_rowid = ?1 ORDER BY item_rowid DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![entity_rowid, limit as i64], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The entities of many items: item rowid → (entity rowid, kind), in few queries.
    /// Used to find who and what the best keyword hits have in common.
    pub fn entities_of_items(&self, rowids: &[i64]) -> Result<HashMap<i64, Vec<(i64, String)>>> {
        self.with_conn(|c| {
            let mut out: HashMap<i64, Vec<(i64, String)>> = HashMap::with_capacity(rowids.len());
            for part in rowids.chunks(IN_BATCH) {
                let sql = format!(
                    "SELECT DISTINCT ie.item_rowid, ie.entity_rowid, e.kind
                     FROM item_entities ie JOIN entities e ON e.rowid = ie.entity_rowid
                     WHERE ie.item_rowid IN ({})",
                    placeholders(part.len())
                );
                let mut stmt = c.prepare_cached(&sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(part))?;
                while let Some(r) = rows.next()? {
                    out.entry(r.get(0)?)
                        .or_default()
                        .push((r.get(1)?, r.get(2)?));
                }
            }
            Ok(out)
        })
    }

    /// How many items each entity is linked to, capped at `cap` (the maintained
    /// `entities.linked_items`: one row read per entity, however common it is).
    pub fn entity_item_counts(&self, entity_rowids: &[i64], cap: u64) -> Result<HashMap<i64, u64>> {
        self.with_conn(|c| {
            let mut stmt =
                c.prepare_cached("SELECT linked_items FROM entities WHERE rowid = ?1")?;
            let mut out = HashMap::with_capacity(entity_rowids.len());
            for &e in entity_rowids {
                if let Some(n) = stmt.query_row([e], |r| r.get::<_, i64>(0)).optional()? {
                    out.insert(e, (n.max(0) as u64).min(cap));
                }
            }
            Ok(out)
        })
    }

    /// Entities by rowid (for explanations).
    pub fn entities_by_rowid(&self, entity_rowids: &[i64]) -> Result<Vec<EntityMatch>> {
        self.with_conn(|c| {
            let mut stmt =
                c.prepare_cached("SELECT rowid, kind, key, name FROM entities WHERE rowid = ?1")?;
            let mut out = Vec::with_capacity(entity_rowids.len());
            for &e in entity_rowids {
                if let Some(m) = stmt
                    .query_row([e], |r| {
                        Ok(EntityMatch {
                            rowid: r.get(0)?,
                            kind: r.get(1)?,
                            key: r.get(2)?,
                            name: r.get(3)?,
                        })
                    })
                    .optional()?
                {
                    out.push(m);
                }
            }
            Ok(out)
        })
    }

    /// Live items sharing a thread key, oldest first.
    pub fn thread_members(&self, thread_key: &str, limit: usize) -> Result<Vec<i64>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT rowid FROM items WHERE thread_key = ?1 AND deleted = 0
                 ORDER BY timestamp_ms LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![thread_key, limit as i64], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

fn parse_kind(kind: &str) -> Result<ItemKind> {
    ItemKind::parse(kind).ok_or_else(|| StoreError::Corrupt {
        what: "items.kind",
        detail: format!("unknown kind `{kind}`"),
    })
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str, what: &'static str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

/// Every chunk of an item, in order, with its stored token count (one query).
fn read_chunks(c: &Connection, rowid: i64) -> Result<Vec<ChunkText>> {
    let mut stmt = c.prepare_cached(
        "SELECT substr(CAST(b.body AS BLOB), ch.start + 1, ch.end - ch.start), ch.tokens
             FROM chunks ch JOIN item_bodies b ON b.item_rowid = ch.item_rowid
             WHERE ch.item_rowid = ?1 ORDER BY ch.ord",
    )?;
    let rows = stmt.query_map([rowid], |r| {
        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, u32>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (bytes, tokens) = row?;
        let text = String::from_utf8(bytes).map_err(|e| StoreError::Corrupt {
            what: "chunk boundaries",
            detail: e.to_string(),
        })?;
        out.push(ChunkText { text, tokens });
    }
    Ok(out)
}
