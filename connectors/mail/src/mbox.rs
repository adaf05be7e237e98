//! The mbox connector: one mbox file, re-read when it changes.
//!
//! # Format
//!
//! Messages start at a `From ` line at the start of the file or after a blank line (requiring the
//! blank line keeps an unescaped `From ` in a body of an mboxo file from splitting its message).
//! The blank line before the next `From ` is the separator, not message content. Lines matching
//! `^>+From ` lose one `>` (mboxrd unescaping); for mboxo files, where only `From ` was escaped, a
//! body line that really was `>From ` comes out as `From ` — mboxo is ambiguous, nothing can tell.
//!
//! # Identity and versions
//!
//! The external id is the Message-ID (without brackets), else `blake3:` and a hash of the
//! message bytes. A second message with an id already used in the file (a copy with other
//! content) gets `{id}#dup-{hash prefix}`; an identical copy is indexed once. The version is the
//! hash of the message bytes, so a pass hashes the whole file but only parses new or changed
//! messages; messages whose hash and id are gone are deleted.
//!
//! The cursor is `mbox-v1:{size}:{mtime_ns}` of the file as of the last finished pass: when the
//! file still has that size and time, a pull (after a restart, or a watcher event for another file
//! in the folder) reads nothing. A missing file keeps its items (an unmounted disk looks the same).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ctx_connector_api::{
    Batch, Connector, ConnectorError, Cursor, KnownState, Progress, SyncContext, Wake,
};
use notify::RecursiveMode;

use crate::MailError;
use crate::message::{MailLimits, attachment_parent, message_items, parse_message};
use crate::watch::{self, WatchShared, Watcher, file_uri, mtime_ns};

/// Configuration of an [`MboxConnector`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MboxOptions {
    /// The mbox file.
    pub path: PathBuf,
    /// Watch the file and report changes from `wait_for_change` (default true).
    pub watch: bool,
    /// Quiet time before a burst of file events is reported (default 300 ms).
    pub debounce: Duration,
    /// Messages parsed per pull (default 64).
    pub batch_size: usize,
    pub limits: MailLimits,
}

impl Default for MboxOptions {
    fn default() -> Self {
        MboxOptions {
            path: PathBuf::new(),
            watch: true,
            debounce: Duration::from_millis(300),
            batch_size: 64,
            limits: MailLimits::default(),
        }
    }
}

impl MboxOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        MboxOptions {
            path: path.into(),
            ..MboxOptions::default()
        }
    }
}

/// One message of an mbox file, as split by [`MboxReader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MboxMessage {
    /// Byte offset of its `From ` line in the file.
    pub offset: u64,
    /// Bytes in the file from its `From ` line up to the next message's.
    pub raw_len: u64,
    /// The message, unescaped; cut at the reader's limit when `truncated`.
    pub bytes: Vec<u8>,
    pub truncated: bool,
    /// BLAKE3 of the whole unescaped message (hex, 32 digits), even when `bytes` was cut.
    pub hash: String,
}

/// Splits an mbox stream into messages; see the module docs for the rules.
pub struct MboxReader<R> {
    reader: R,
    /// Bytes kept per message; the rest is only hashed.
    keep_limit: usize,
    offset: u64,
    /// The `From ` line that starts the next message, already read.
    next_start: Option<u64>,
    done: bool,
}

fn is_blank(line: &[u8]) -> bool {
    line == b"\n" || line == b"\r\n"
}

impl<R: BufRead> MboxReader<R> {
    pub fn new(reader: R, keep_limit: usize) -> Self {
        MboxReader {
            reader,
            keep_limit,
            offset: 0,
            next_start: None,
            done: false,
        }
    }

    /// The next message, `Ok(None)` at the end.
    pub fn next_message(&mut self) -> std::io::Result<Option<MboxMessage>> {
        if self.done {
            return Ok(None);
        }
        let mut line = Vec::with_capacity(256);
        // Find the first `From ` line (junk before it is not a message).
        let start = match self.next_start.take() {
            Some(start) => start,
            None => {
                loop {
                    line.clear();
                    let n = self.reader.read_until(b'\n', &mut line)?;
                    if n == 0 {
                        self.done = true;
                        return Ok(None);
                    }
                    let at = self.offset;
                    self.offset += n as u64;
                    // Before the first message there is nothing a `From ` line could be part of.
                    if line.starts_with(b"From ") {
                        break at;
                    }
                }
            }
        };
        let mut hasher = blake3::Hasher::new();
        let mut bytes = Vec::new();
        let mut truncated = false;
        let mut held_blank: Option<Vec<u8>> = None;
        let keep_limit = self.keep_limit;
        let mut append = |data: &[u8], bytes: &mut Vec<u8>, truncated: &mut bool| {
            hasher.update(data);
            if !*truncated {
                if bytes.len() + data.len() <= keep_limit {
                    bytes.extend_from_slice(data);
                } else {
                    *truncated = true;
                }
            }
        };
        let mut prev_blank = false;
        loop {
            line.clear();
            let n = self.reader.read_until(b'\n', &mut line)?;
            if n == 0 {
                self.done = true;
                break;
            }
            let at = self.offset;
            self.offset += n as u64;
            if prev_blank && line.starts_with(b"From ") {
                self.next_start = Some(at);
                break;
            }
            prev_blank = is_blank(&line);
            if prev_blank {
                if let Some(held) = held_blank.take() {
                    append(&held, &mut bytes, &mut truncated);
                }
                held_blank = Some(line.clone());
                continue;
            }
            if let Some(held) = held_blank.take() {
                append(&held, &mut bytes, &mut truncated);
            }
            let quotes = line.iter().take_while(|&&b| b == b'>').count();
            if quotes > 0 && line[quotes..].starts_with(b"From ") {
                append(&line[1..], &mut bytes, &mut truncated);
            } else {
                append(&line, &mut bytes, &mut truncated);
            }
        }
        // A blank line at the very end is kept only when it is not the separator of a next
        // message; at the end of the file it is the separator writers add, so it is dropped.
        let end = self.next_start.unwrap_or(self.offset);
        let hash = hasher.finalize().to_hex().as_str()[..32].to_owned();
        Ok(Some(MboxMessage {
            offset: start,
            raw_len: end - start,
            bytes,
            truncated,
            hash,
        }))
    }
}

/// The external id of a message from its headers: its Message-ID, else its hash.
fn message_id_of(bytes: &[u8], hash: &str) -> String {
    let id = std::panic::catch_unwind(|| {
        mail_parser::MessageParser::default()
            .parse_headers(bytes)
            .and_then(|m| m.message_id().map(str::to_owned))
    })
    .ok()
    .flatten()
    .map(|id| {
        id.trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim()
            .to_owned()
    })
    .filter(|id| !id.is_empty());
    id.unwrap_or_else(|| format!("blake3:{hash}"))
}

/// Size and modification time of the file, as the cursor spells them.
fn file_cursor(meta: &std::fs::Metadata) -> String {
    format!("mbox-v1:{}:{}", meta.len(), mtime_ns(meta))
}

#[derive(Debug, Clone)]
struct Planned {
    offset: u64,
    raw_len: u64,
    id: String,
    hash: String,
}

#[derive(Debug, Default)]
struct Plan {
    /// The cursor of the file this plan was made from; a different file means a new plan.
    cursor: String,
    reads: VecDeque<Planned>,
    deletes: VecDeque<String>,
    children: HashMap<String, Vec<String>>,
    known: HashMap<String, Option<String>>,
    done: u64,
    total: u64,
}

struct Scanner {
    opts: MboxOptions,
    path: PathBuf,
    plan: Option<Plan>,
    /// Hashes of messages that failed permanently: not parsed or logged again.
    skipped: HashSet<String>,
    undelivered: Option<Batch>,
    watcher: Option<Watcher>,
    warned_missing: bool,
}

impl Scanner {
    fn keep_limit(&self) -> usize {
        usize::try_from(self.opts.limits.max_message_bytes)
            .unwrap_or(usize::MAX)
            .saturating_add(1)
    }

    fn make_plan(
        &mut self,
        cursor: String,
        known: &dyn KnownState,
    ) -> Result<Plan, ConnectorError> {
        let known = known.versions()?;
        let mut by_version: HashMap<&str, Vec<&str>> = HashMap::new();
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for (id, version) in &known {
            match attachment_parent(id) {
                Some(parent) => children
                    .entry(parent.to_owned())
                    .or_default()
                    .push(id.clone()),
                None => {
                    if let Some(version) = version {
                        by_version.entry(version.as_str()).or_default().push(id);
                    }
                }
            }
        }
        let file = std::fs::File::open(&self.path).map_err(|source| MailError::Io {
            path: self.path.clone(),
            source,
        })?;
        let mut reader = MboxReader::new(std::io::BufReader::new(file), self.keep_limit());
        let mut seen: HashSet<String> = HashSet::new();
        let mut reads = Vec::new();
        let mut messages = 0usize;
        loop {
            let message = reader.next_message().map_err(|source| MailError::Io {
                path: self.path.clone(),
                source,
            })?;
            let Some(message) = message else {
                break;
            };
            messages += 1;
            if let Some(ids) = by_version.get(message.hash.as_str()) {
                seen.extend(ids.iter().map(|id| (*id).to_owned()));
                continue;
            }
            if self.skipped.contains(&message.hash) {
                continue;
            }
            let mut id = message_id_of(&message.bytes, &message.hash);
            if seen.contains(&id) {
                id = format!("{id}#dup-{}", &message.hash[..12]);
                if seen.contains(&id) {
                    continue;
                }
            }
            seen.insert(id.clone());
            reads.push(Planned {
                offset: message.offset,
                raw_len: message.raw_len,
                id,
                hash: message.hash,
            });
        }
        let deletes: BTreeSet<String> = known
            .keys()
            .filter(|id| !seen.contains(attachment_parent(id).unwrap_or(id)))
            .cloned()
            .collect();
        tracing::info!(
            messages,
            to_read = reads.len(),
            to_delete = deletes.len(),
            known = known.len(),
            "mbox pass planned"
        );
        Ok(Plan {
            cursor,
            total: reads.len() as u64,
            reads: reads.into(),
            deletes: deletes.into_iter().collect(),
            children,
            known,
            done: 0,
        })
    }

    /// Reads one planned message; `Err(())` when the file changed under the plan.
    fn read(&mut self, planned: &Planned, plan: &Plan, batch: &mut Batch) -> Result<(), ()> {
        let read = || -> std::io::Result<Option<MboxMessage>> {
            let mut file = std::fs::File::open(&self.path)?;
            file.seek(SeekFrom::Start(planned.offset))?;
            let chunk = std::io::BufReader::new(file.take(planned.raw_len));
            MboxReader::new(chunk, self.keep_limit()).next_message()
        };
        let message = match read() {
            Ok(Some(message)) if message.hash == planned.hash => message,
            Ok(_) => return Err(()),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), reason = %e, "cannot read mbox message now; will retry");
                return Err(());
            }
        };
        let remove = |batch: &mut Batch| {
            if plan.known.contains_key(&planned.id) {
                batch.deletes.push(planned.id.clone());
            }
            if let Some(children) = plan.children.get(&planned.id) {
                batch.deletes.extend(children.iter().cloned());
            }
        };
        let parsed = if message.truncated {
            Err(MailError::TooLarge {
                size: message.raw_len,
                limit: self.opts.limits.max_message_bytes,
            })
        } else {
            parse_message(&message.bytes, &self.opts.limits)
        };
        let mut parsed = match parsed {
            Ok(parsed) => parsed,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), offset = planned.offset, reason = %e, "skipping mbox message");
                self.skipped.insert(planned.hash.clone());
                remove(batch);
                return Ok(());
            }
        };
        parsed.folder = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let mut items = message_items(&parsed, &planned.id, &file_uri(&self.path));
        for item in &mut items {
            item.version = Some(planned.hash.clone());
        }
        if let Some(old_children) = plan.children.get(&planned.id) {
            for child in old_children {
                if !items.iter().any(|i| &i.external_id == child) {
                    batch.deletes.push(child.clone());
                }
            }
        }
        batch.upserts.extend(items);
        Ok(())
    }

    fn pull(
        &mut self,
        shared: &Arc<WatchShared>,
        cursor: Option<&Cursor>,
        ctx: &SyncContext,
    ) -> Result<Batch, ConnectorError> {
        if self.opts.watch && self.watcher.is_none() {
            // The folder, not the file: mail clients replace the file by renaming a new one over it.
            let dir = self.path.parent().unwrap_or(Path::new("/")).to_path_buf();
            self.watcher = watch::start(
                shared,
                &dir,
                RecursiveMode::NonRecursive,
                self.opts.debounce,
            );
        }
        // Events only say "look again"; the file's size and time say whether anything changed.
        shared.take();
        let meta = match std::fs::metadata(&self.path) {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) | Err(_) => {
                if !self.warned_missing {
                    tracing::warn!(path = %self.path.display(), "mbox file does not exist; keeping its items");
                    self.warned_missing = true;
                }
                self.plan = None;
                return Ok(Batch::default());
            }
        };
        self.warned_missing = false;
        let current = file_cursor(&meta);
        if self.plan.as_ref().is_some_and(|p| p.cursor != current) {
            // The file changed mid-pass: what was committed is in the known state; start over.
            self.plan = None;
        }
        let mut plan = match self.plan.take() {
            Some(plan) => plan,
            None if cursor.map(Cursor::as_str) == Some(current.as_str()) => {
                return Ok(Batch::default());
            }
            None => self.make_plan(current.clone(), ctx.known.as_ref())?,
        };
        let mut batch = Batch::default();
        let take = plan.deletes.len();
        batch.deletes.extend(plan.deletes.drain(..take));
        let mut changed = false;
        for _ in 0..self.opts.batch_size.max(1) {
            let Some(planned) = plan.reads.pop_front() else {
                break;
            };
            if self.read(&planned, &plan, &mut batch).is_err() {
                changed = true;
                break;
            }
            plan.done += 1;
        }
        batch.progress = Some(Progress {
            done: plan.done,
            total: plan.total,
        });
        if changed {
            // Replan on the next pull (at once: has_more), from the store's state then.
            batch.has_more = true;
            self.plan = None;
        } else if plan.reads.is_empty() && plan.deletes.is_empty() {
            batch.cursor = Some(Cursor(plan.cursor.clone()));
        } else {
            batch.has_more = true;
            self.plan = Some(plan);
        }
        Ok(batch)
    }
}

/// One mbox file; see the module docs.
pub struct MboxConnector {
    scanner: Arc<Mutex<Scanner>>,
    shared: Arc<WatchShared>,
    watch: bool,
}

fn lock_scanner(scanner: &Mutex<Scanner>) -> MutexGuard<'_, Scanner> {
    match scanner.lock() {
        Ok(guard) => guard,
        Err(poisoned) => {
            // A half-done plan after a panic is dropped; the next pull plans again (always safe).
            let mut guard = poisoned.into_inner();
            guard.plan = None;
            guard.undelivered = None;
            scanner.clear_poison();
            guard
        }
    }
}

impl MboxConnector {
    pub fn new(options: MboxOptions) -> Result<Self, MailError> {
        let path = std::path::absolute(&options.path).map_err(|source| MailError::BadPath {
            path: options.path.clone(),
            source,
        })?;
        // Canonical when possible, so paths match what the watcher reports.
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        let watch = options.watch;
        Ok(MboxConnector {
            scanner: Arc::new(Mutex::new(Scanner {
                opts: options,
                path,
                plan: None,
                skipped: HashSet::new(),
                undelivered: None,
                watcher: None,
                warned_missing: false,
            })),
            shared: Arc::new(WatchShared::default()),
            watch,
        })
    }
}

#[async_trait::async_trait]
impl Connector for MboxConnector {
    fn type_name(&self) -> &'static str {
        "mbox"
    }

    async fn pull(
        &mut self,
        cursor: Option<&Cursor>,
        ctx: &SyncContext,
    ) -> Result<Batch, ConnectorError> {
        let scanner = Arc::clone(&self.scanner);
        let shared = Arc::clone(&self.shared);
        let ctx = ctx.clone();
        let cursor = cursor.cloned();
        // Parked before it is handed out, so a cancelled pull loses nothing (as in maildir).
        let joined = tokio::task::spawn_blocking(move || {
            let mut scanner = lock_scanner(&scanner);
            if scanner.undelivered.is_none() {
                let batch = scanner.pull(&shared, cursor.as_ref(), &ctx)?;
                scanner.undelivered = Some(batch);
            }
            Ok::<(), ConnectorError>(())
        })
        .await;
        match joined {
            Ok(Ok(())) => lock_scanner(&self.scanner)
                .undelivered
                .take()
                .ok_or_else(|| ConnectorError::transient("mbox batch was taken by another pull")),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(ConnectorError::transient("mbox read task failed").with_source(e)),
        }
    }

    async fn wait_for_change(&mut self) -> Result<Wake, ConnectorError> {
        if !self.watch {
            return Ok(Wake::Never);
        }
        self.shared.wait().await;
        Ok(Wake::Changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(data: &[u8]) -> Vec<MboxMessage> {
        let mut reader = MboxReader::new(data, usize::MAX);
        let mut out = Vec::new();
        while let Some(m) = reader.next_message().unwrap() {
            out.push(m);
        }
        out
    }

    #[test]
    fn splits_on_from_lines_after_blank_lines_and_unescapes() {
        let data = b"junk\nFrom a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\n>From the start\n>>From x\nFrom inside body\n\nFrom c@d Tue Jan  2 00:00:00 2024\nSubject: two\n\nbody\n\n";
        let messages = split(data);
        assert_eq!(messages.len(), 2);
        assert_eq!(
            String::from_utf8_lossy(&messages[0].bytes),
            "Subject: one\n\nFrom the start\n>From x\nFrom inside body\n"
        );
        assert_eq!(
            String::from_utf8_lossy(&messages[1].bytes),
            "Subject: two\n\nbody\n"
        );
        assert_eq!(messages[0].offset, 5);
        assert_eq!(messages[1].offset, messages[0].offset + messages[0].raw_len);
        assert_eq!(messages[1].offset + messages[1].raw_len, data.len() as u64);
        assert_ne!(messages[0].hash, messages[1].hash);
    }

    #[test]
    fn keeps_at_most_the_limit_but_hashes_everything() {
        let data = b"From a\nSubject: x\n\n0123456789\n";
        let mut reader = MboxReader::new(&data[..], 8);
        let m = reader.next_message().unwrap().unwrap();
        assert!(m.truncated);
        assert_eq!(m.hash, split(data)[0].hash);
        assert!(split(b"").is_empty());
        assert!(split(b"no from line at all\n").is_empty());
    }

    #[test]
    fn ids_come_from_message_id_or_hash() {
        assert_eq!(message_id_of(b"Message-ID: <x@y>\n\nbody", "h"), "x@y");
        assert_eq!(message_id_of(b"Subject: s\n\nbody", "h"), "blake3:h");
    }
}
