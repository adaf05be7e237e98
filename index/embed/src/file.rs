//! The durable vector projection: `vectors.sqlite` in the data directory, one row per item
//! with the content hash it was embedded from and its chunk vectors as one little-endian `f32`
//! blob. Like the tantivy index it can always be rebuilt from the store: a file of another
//! format or model is emptied and refilled by the background worker.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::{EmbedError, Result};

/// Bump when the layout of `vectors.sqlite` changes: older files are emptied and rebuilt.
pub const VECTOR_FORMAT_VERSION: i64 = 2;

/// File name of the projection inside the data directory.
pub const VECTOR_FILE_NAME: &str = "vectors.sqlite";

/// Why an opened file starts empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VectorFileState {
    /// Vectors of this model are there; resume.
    Existing,
    /// Emptied or new: every item is embedded again.
    Fresh { reason: String },
}

/// Stored vectors of one item.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredVectors {
    pub item_rowid: i64,
    pub content_hash: String,
    pub vectors: Vec<Vec<f32>>,
    /// [`crate::text_hash`] of the text each vector was computed from, so that a changed
    /// item re-embeds only the chunks whose text changed.
    pub chunk_hashes: Vec<u64>,
}

/// A stored vector with the [`crate::text_hash`] of the text it was computed from.
pub type ChunkVector = (u64, Vec<f32>);

/// `vectors.sqlite`, written by one worker.
pub struct VectorFile {
    conn: Connection,
    path: PathBuf,
    dim: usize,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS item_vectors (
    item_rowid   INTEGER PRIMARY KEY,
    content_hash TEXT NOT NULL,
    vectors      BLOB NOT NULL,
    chunk_hashes BLOB NOT NULL
);
";

impl VectorFile {
    /// Opens (or creates) the file for vectors of `model_id` with `dim` components. A file of
    /// another format, model or dimension, or one that cannot be read, is emptied.
    pub fn open(path: &Path, model_id: &str, dim: usize) -> Result<(VectorFile, VectorFileState)> {
        match Self::try_open(path, model_id, dim) {
            Ok(opened) => Ok(opened),
            Err(EmbedError::Sqlite(e))
                if !matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::DatabaseBusy)
                ) =>
            {
                // Unreadable: it is a projection, start over.
                tracing::warn!(path = %path.display(), error = %e, "vector file unreadable; rebuilding it");
                for suffix in ["", "-wal", "-shm"] {
                    let p = PathBuf::from(format!("{}{suffix}", path.display()));
                    if p.exists() {
                        std::fs::remove_file(&p).map_err(|e| EmbedError::Io {
                            path: p.clone(),
                            source: e,
                        })?;
                    }
                }
                let (file, _) = Self::try_open(path, model_id, dim)?;
                Ok((
                    file,
                    VectorFileState::Fresh {
                        reason: format!("the old file was unreadable ({e})"),
                    },
                ))
            }
            Err(e) => Err(e),
        }
    }

    fn try_open(path: &Path, model_id: &str, dim: usize) -> Result<(VectorFile, VectorFileState)> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        let mut file = VectorFile {
            conn,
            path: path.to_path_buf(),
            dim,
        };
        let format = file.meta("format_version")?;
        let stored_model = file.meta("model_id")?;
        let stored_dim = file.meta("dim")?;
        let reason = match (
            format.as_deref(),
            stored_model.as_deref(),
            stored_dim.as_deref(),
        ) {
            (None, _, _) => Some("new vector file".to_string()),
            (Some(f), _, _) if f != VECTOR_FORMAT_VERSION.to_string() => Some(format!(
                "vector format {f}, this build writes {VECTOR_FORMAT_VERSION}"
            )),
            (_, Some(m), _) if m != model_id => Some(format!(
                "vectors of model {m}, the configured model is {model_id}"
            )),
            (_, _, Some(d)) if d != dim.to_string() => {
                Some(format!("vectors of dimension {d}, the model has {dim}"))
            }
            (_, None, _) | (_, _, None) => Some("incomplete vector file".to_string()),
            _ => None,
        };
        let state = match reason {
            None => VectorFileState::Existing,
            Some(reason) => {
                let tx = file.conn.transaction()?;
                // Recreated, not just emptied: an older format's table has other columns.
                tx.execute_batch("DROP TABLE IF EXISTS item_vectors")?;
                tx.execute_batch(SCHEMA)?;
                tx.execute("DELETE FROM meta", [])?;
                for (k, v) in [
                    ("format_version", VECTOR_FORMAT_VERSION.to_string()),
                    ("model_id", model_id.to_string()),
                    ("dim", dim.to_string()),
                    ("applied_seq", "0".to_string()),
                ] {
                    tx.execute(
                        "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                        params![k, v],
                    )?;
                }
                tx.commit()?;
                VectorFileState::Fresh { reason }
            }
        };
        Ok((file, state))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// The change-log sequence up to which every change has been embedded.
    pub fn applied_seq(&self) -> Result<i64> {
        Ok(self
            .meta("applied_seq")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    pub fn set_applied_seq(&mut self, seq: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('applied_seq', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [seq.to_string()],
        )?;
        Ok(())
    }

    /// Item rowid → content hash of every item with stored vectors.
    pub fn hashes(&self) -> Result<HashMap<i64, String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT item_rowid, content_hash FROM item_vectors")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every stored item's vectors, in rowid order, through `f` (for loading the matrix).
    /// A blob of the wrong length is skipped and reported, and its item embedded again.
    pub fn for_each(&self, mut f: impl FnMut(StoredVectors)) -> Result<Vec<i64>> {
        let mut stmt = self.conn.prepare(
            "SELECT item_rowid, content_hash, vectors, chunk_hashes FROM item_vectors
             ORDER BY item_rowid",
        )?;
        let mut rows = stmt.query([])?;
        let mut broken = Vec::new();
        while let Some(row) = rows.next()? {
            let item_rowid: i64 = row.get(0)?;
            let blob: Vec<u8> = row.get(2)?;
            let hashes: Vec<u8> = row.get(3)?;
            match (decode_vectors(&blob, self.dim), decode_hashes(&hashes)) {
                (Some(vectors), Some(chunk_hashes)) if chunk_hashes.len() == vectors.len() => {
                    f(StoredVectors {
                        item_rowid,
                        content_hash: row.get(1)?,
                        vectors,
                        chunk_hashes,
                    })
                }
                _ => broken.push(item_rowid),
            }
        }
        Ok(broken)
    }

    /// The stored vectors of one item with the hash of each one's text (for reuse when the
    /// item changes); `None` when it has none.
    pub fn chunk_vectors(&self, item_rowid: i64) -> Result<Option<Vec<ChunkVector>>> {
        let row: Option<(Vec<u8>, Vec<u8>)> = self
            .conn
            .prepare_cached("SELECT vectors, chunk_hashes FROM item_vectors WHERE item_rowid = ?1")?
            .query_row([item_rowid], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(row.and_then(|(blob, hashes)| {
            let vectors = decode_vectors(&blob, self.dim)?;
            let hashes = decode_hashes(&hashes)?;
            (hashes.len() == vectors.len()).then(|| hashes.into_iter().zip(vectors).collect())
        }))
    }

    /// Writes the vectors of several items and removes others, in one transaction.
    pub fn apply(&mut self, upserts: &[StoredVectors], removals: &[i64]) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare_cached(
                "INSERT INTO item_vectors (item_rowid, content_hash, vectors, chunk_hashes)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (item_rowid) DO UPDATE SET content_hash = excluded.content_hash,
                 vectors = excluded.vectors, chunk_hashes = excluded.chunk_hashes",
            )?;
            for u in upserts {
                let hashes: Vec<u8> = u
                    .chunk_hashes
                    .iter()
                    .flat_map(|h| h.to_le_bytes())
                    .collect();
                put.execute(params![
                    u.item_rowid,
                    u.content_hash,
                    encode_vectors(&u.vectors),
                    hashes
                ])?;
            }
            let mut del = tx.prepare_cached("DELETE FROM item_vectors WHERE item_rowid = ?1")?;
            for r in removals {
                del.execute([r])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Number of items with vectors.
    pub fn item_count(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM item_vectors", [], |r| {
                r.get::<_, i64>(0)
            })? as u64)
    }
}

fn decode_hashes(blob: &[u8]) -> Option<Vec<u64>> {
    if !blob.len().is_multiple_of(8) {
        return None;
    }
    Some(
        blob.chunks_exact(8)
            .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect(),
    )
}

/// Vectors as one little-endian `f32` blob.
pub fn encode_vectors(vectors: &[Vec<f32>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(vectors.iter().map(|v| v.len() * 4).sum());
    for v in vectors {
        for x in v {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out
}

/// The inverse of [`encode_vectors`]; `None` when the blob is not whole rows of `dim`.
pub fn decode_vectors(blob: &[u8], dim: usize) -> Option<Vec<Vec<f32>>> {
    if dim == 0 || !blob.len().is_multiple_of(dim * 4) {
        return None;
    }
    Some(
        blob.chunks_exact(dim * 4)
            .map(|row| {
                row.chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            })
            .collect(),
    )
}
