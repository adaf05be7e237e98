//! What the background embedding worker reads: content hashes to find what changed, and the
//! title and chunk texts of an item to embed. Read-only, like the rest of [`StoreReader`].

use std::collections::HashMap;

use rusqlite::params;

use crate::{ChunkText, IN_BATCH, Result, StoreReader, placeholders};

/// An item to embed: its title, the content hash its chunks belong to, and the chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedInput {
    pub rowid: i64,
    pub title: String,
    pub content_hash: String,
    pub chunks: Vec<ChunkText>,
}

impl StoreReader {
    /// `(rowid, content_hash)` of live items after `after`, in rowid order, at most `limit`.
    pub fn live_hashes(&self, after: i64, limit: usize) -> Result<Vec<(i64, String)>> {
        self.with_conn(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT rowid, content_hash FROM items WHERE rowid > ?1 AND deleted = 0
                 ORDER BY rowid LIMIT ?2",
            )?;
            let rows =
                stmt.query_map(params![after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Content hash of each live item among `rowids` (deleted and unknown rowids are absent).
    pub fn hashes_of(&self, rowids: &[i64]) -> Result<HashMap<i64, String>> {
        self.with_conn(|c| {
            let mut out = HashMap::with_capacity(rowids.len());
            for part in rowids.chunks(IN_BATCH) {
                let sql = format!(
                    "SELECT rowid, content_hash FROM items WHERE deleted = 0 AND rowid IN ({})",
                    placeholders(part.len())
                );
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt.query_map(rusqlite::params_from_iter(part), |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })?;
                for row in rows {
                    let (rowid, hash) = row?;
                    out.insert(rowid, hash);
                }
            }
            Ok(out)
        })
    }

    /// Title, content hash and chunks of a live item, read in one snapshot (`None` when it is
    /// deleted or unknown).
    pub fn embed_input(&self, rowid: i64) -> Result<Option<EmbedInput>> {
        self.with_conn(|c| {
            let tx = c.unchecked_transaction()?;
            let head: Option<(String, String)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT title, content_hash FROM items WHERE rowid = ?1 AND deleted = 0",
                )?;
                let mut rows = stmt.query([rowid])?;
                match rows.next()? {
                    Some(r) => Some((r.get(0)?, r.get(1)?)),
                    None => None,
                }
            };
            let Some((title, content_hash)) = head else {
                return Ok(None);
            };
            let chunks = crate::read_chunks(&tx, rowid)?;
            tx.finish()?;
            Ok(Some(EmbedInput {
                rowid,
                title,
                content_hash,
                chunks,
            }))
        })
    }

    /// The sequence number of the first change-log entry after `seq`, if any.
    pub fn first_change_after(&self, seq: i64) -> Result<Option<i64>> {
        Ok(self.changes_after(seq, 1)?.first().map(|c| c.seq))
    }
}
