//! The Maildir connector: a single maildir or a Maildir++ tree, reconciled with the store and
//! watched.
//!
//! # Folders
//!
//! A folder is a directory with `cur/` or `new/` below it. The root itself (when it is a maildir)
//! is `INBOX`; Maildir++ subfolders `.Work.Projects` are named `Work/Projects`; nested maildirs
//! (as mbsync and offlineimap write them) are named by their relative path. `tmp/` is never read:
//! delivery is not complete there. Folders are matched against
//! [`MaildirOptions::include_folders`] and [`MaildirOptions::exclude_folders`] case-insensitively,
//! a pattern matching the folder and everything below it.
//!
//! # Identity and versions
//!
//! A message's external id is `{folder}/{unique name}`, the unique name being the file name up to
//! its info suffix (`:2,FLAGS`, also `;2,` and `!2,` as written on file systems without `:`).
//! Marking a message read or flagged renames the file and moving it from `new/` to `cur/` moves
//! it; neither changes the id. The version is `{flags}:{size}:{mtime_ns}`, so a flag change is an
//! upsert of the same id with the new `flags` field, and an unchanged message is never opened
//! again, not even after a restart (reconciliation with [`KnownState`], as in the files
//! connector). Attachment items (`{id}#att{n}`) carry their message's version and live and die
//! with it.
//!
//! The cursor is the constant [`CURSOR`]: reconciliation, not the cursor, is authoritative.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
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

/// The cursor the connector reports; it only marks "synced with this scheme".
pub const CURSOR: &str = "maildir-v1";

/// The name of the root folder when the root itself is a maildir.
pub const INBOX: &str = "INBOX";

/// Deletes carried per batch: they are cheap, but a batch is one store transaction.
const MAX_DELETES_PER_BATCH: usize = 10_000;

/// How deep below the root folders are looked for.
const MAX_FOLDER_DEPTH: usize = 16;

/// Configuration of a [`MaildirConnector`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildirOptions {
    /// A maildir (with `cur/`, `new/`, `tmp/`) or a folder holding maildirs (Maildir++ or nested).
    pub root: PathBuf,
    /// Folders to index (and everything below them); empty means all.
    pub include_folders: Vec<String>,
    /// Folders to skip (and everything below them); default `Trash`, `Spam`, `Junk`.
    pub exclude_folders: Vec<String>,
    /// Watch the tree and report changes from `wait_for_change` (default true).
    pub watch: bool,
    /// Quiet time before a burst of file events is reported (default 300 ms).
    pub debounce: Duration,
    /// Messages read per pull (default 64).
    pub batch_size: usize,
    pub limits: MailLimits,
}

impl Default for MaildirOptions {
    fn default() -> Self {
        MaildirOptions {
            root: PathBuf::new(),
            include_folders: Vec::new(),
            exclude_folders: ["Trash", "Spam", "Junk"].map(str::to_owned).to_vec(),
            watch: true,
            debounce: Duration::from_millis(300),
            batch_size: 64,
            limits: MailLimits::default(),
        }
    }
}

impl MaildirOptions {
    /// Default options over `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        MaildirOptions {
            root: root.into(),
            ..MaildirOptions::default()
        }
    }
}

/// Whether `folder` is `pattern` or lies below it, ignoring case.
fn folder_matches(folder: &str, pattern: &str) -> bool {
    let pattern = pattern.trim_matches('/');
    folder.eq_ignore_ascii_case(pattern)
        || (folder.len() > pattern.len()
            && folder.is_char_boundary(pattern.len())
            && folder[..pattern.len()].eq_ignore_ascii_case(pattern)
            && folder.as_bytes()[pattern.len()] == b'/')
}

/// Maildir flags, by their letter (Maildir spec order).
fn flag_name(letter: char) -> Option<&'static str> {
    Some(match letter {
        'D' => "draft",
        'F' => "flagged",
        'P' => "passed",
        'R' => "replied",
        'S' => "seen",
        'T' => "trashed",
        _ => return None,
    })
}

/// Splits a maildir file name into its unique name and its flag letters (sorted, standard only).
pub fn split_file_name(name: &str) -> (&str, String) {
    let info = [":2,", ";2,", "!2,"]
        .iter()
        .filter_map(|sep| name.find(sep).map(|pos| (pos, pos + sep.len())))
        .min();
    let (unique, flags) = match info {
        Some((pos, after)) => (&name[..pos], &name[after..]),
        // Experimental or broken info (`:1,...`): still not part of the unique name.
        None => match name.find(':') {
            Some(pos) => (&name[..pos], ""),
            None => (name, ""),
        },
    };
    let mut letters: Vec<char> = flags.chars().filter(|c| flag_name(*c).is_some()).collect();
    letters.sort_unstable();
    letters.dedup();
    (unique, letters.into_iter().collect())
}

/// The flag names of flag letters (`"FS"` → `["flagged", "seen"]`).
pub fn flag_names(letters: &str) -> Vec<String> {
    letters
        .chars()
        .filter_map(flag_name)
        .map(str::to_owned)
        .collect()
}

/// The folder name of maildir directory `dir` below `root`.
fn folder_name(root: &Path, dir: &Path) -> Option<String> {
    let rel = dir.strip_prefix(root).ok()?;
    if rel.as_os_str().is_empty() {
        return Some(INBOX.to_owned());
    }
    let mut parts = Vec::new();
    for component in rel.components() {
        let name = component.as_os_str().to_str()?;
        match name.strip_prefix('.') {
            // Maildir++: `.Work.Projects` is Work/Projects.
            Some(rest) => parts.extend(rest.split('.').filter(|p| !p.is_empty())),
            None => parts.push(name),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() || dir.join("new").is_dir()
}

/// One message file seen on disk.
#[derive(Debug, Clone)]
struct MessageFile {
    id: String,
    folder: String,
    path: PathBuf,
    flags: String,
    version: String,
}

/// The folder of a (message) external id.
fn folder_of(id: &str) -> Option<&str> {
    let parent = attachment_parent(id).unwrap_or(id);
    parent.rsplit_once('/').map(|(folder, _)| folder)
}

/// Work of the current pass.
#[derive(Debug, Default)]
struct Plan {
    reads: VecDeque<MessageFile>,
    deletes: VecDeque<String>,
    /// Known attachment ids by their message id, to delete those a re-read message no longer has.
    children: HashMap<String, Vec<String>>,
    known: HashMap<String, Option<String>>,
    done: u64,
    total: u64,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.reads.is_empty() && self.deletes.is_empty()
    }
}

/// Everything the blocking side owns.
struct Scanner {
    opts: MaildirOptions,
    root: PathBuf,
    needs_reconcile: bool,
    plan: Plan,
    /// Message id → version of messages that failed permanently: not read or logged again.
    skipped: HashMap<String, String>,
    /// A batch produced for a pull whose caller went away; returned next time.
    undelivered: Option<Batch>,
    watcher: Option<Watcher>,
    warned_missing: bool,
}

impl Scanner {
    fn folder_wanted(&self, folder: &str) -> bool {
        let included = self.opts.include_folders.is_empty()
            || self
                .opts
                .include_folders
                .iter()
                .any(|p| folder_matches(folder, p));
        included
            && !self
                .opts
                .exclude_folders
                .iter()
                .any(|p| folder_matches(folder, p))
    }

    /// Every wanted folder: (name, directory).
    fn folders(&self) -> Vec<(String, PathBuf)> {
        let mut out = Vec::new();
        let mut stack = vec![(self.root.clone(), 0usize)];
        while let Some((dir, depth)) = stack.pop() {
            if is_maildir(&dir)
                && let Some(name) = folder_name(&self.root, &dir)
                && self.folder_wanted(&name)
            {
                out.push((name, dir.clone()));
            }
            if depth >= MAX_FOLDER_DEPTH {
                continue;
            }
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) => {
                    tracing::warn!(path = %dir.display(), reason = %e, "cannot list mail folder");
                    continue;
                }
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                if matches!(name.to_str(), Some("cur" | "new" | "tmp")) {
                    continue;
                }
                // Symlinks are not followed: they could loop or leave the tree.
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push((entry.path(), depth + 1));
                }
            }
        }
        out.sort();
        out
    }

    /// The message files of one folder; `cur/` wins over `new/` for a message in both (a move
    /// caught half-way).
    fn scan_folder(&self, folder: &str, dir: &Path) -> BTreeMap<String, MessageFile> {
        let mut files = BTreeMap::new();
        for sub in ["new", "cur"] {
            let sub_dir = dir.join(sub);
            let entries = match std::fs::read_dir(&sub_dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    tracing::warn!(path = %sub_dir.display(), reason = %e, "cannot list mail folder");
                    continue;
                }
            };
            for entry in entries.flatten() {
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    tracing::warn!(path = %entry.path().display(), reason = "file name is not valid utf-8", "skipping message");
                    continue;
                };
                if name.starts_with('.') {
                    continue;
                }
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                let (unique, flags) = split_file_name(&name);
                let id = format!("{folder}/{unique}");
                let version = format!("{flags}:{}:{}", meta.len(), mtime_ns(&meta));
                files.insert(
                    id.clone(),
                    MessageFile {
                        id,
                        folder: folder.to_owned(),
                        path: entry.path(),
                        flags,
                        version,
                    },
                );
            }
        }
        files
    }

    fn refresh_watch(&mut self, shared: &Arc<WatchShared>) {
        if self.opts.watch && self.watcher.is_none() && self.root.is_dir() {
            self.watcher = watch::start(
                shared,
                &self.root,
                RecursiveMode::Recursive,
                self.opts.debounce,
            );
        }
    }

    /// Plans a pass over `folders` (all of them for a reconcile), comparing with the store.
    fn plan(
        &mut self,
        folders: Vec<(String, PathBuf)>,
        full: bool,
        known: &dyn KnownState,
    ) -> Result<(), ConnectorError> {
        let known = known.versions()?;
        let scanned: BTreeSet<String> = folders.iter().map(|(name, _)| name.clone()).collect();
        let mut seen = HashMap::new();
        for (name, dir) in &folders {
            seen.extend(self.scan_folder(name, dir));
        }
        let mut reads = Vec::new();
        let mut deletes = BTreeSet::new();
        let mut children: HashMap<String, Vec<String>> = HashMap::new();
        for id in known.keys() {
            if let Some(parent) = attachment_parent(id) {
                children
                    .entry(parent.to_owned())
                    .or_default()
                    .push(id.clone());
            }
        }
        for (id, file) in &seen {
            let known_version = known.get(id).cloned().flatten();
            if known_version.as_deref() == Some(file.version.as_str()) {
                continue;
            }
            if self.skipped.get(id) == Some(&file.version) {
                if known.contains_key(id) {
                    deletes.insert(id.clone());
                }
                continue;
            }
            reads.push(file.clone());
        }
        for id in known.keys() {
            let parent = attachment_parent(id).unwrap_or(id);
            if seen.contains_key(parent) {
                continue;
            }
            let in_scope = full || folder_of(id).is_some_and(|folder| scanned.contains(folder));
            if in_scope {
                deletes.insert(id.clone());
            }
        }
        if full {
            // Forget bad messages that are gone, so the memory does not grow with churn.
            self.skipped.retain(|id, _| seen.contains_key(id));
        }
        reads.sort_by(|a, b| a.id.cmp(&b.id));
        tracing::info!(
            folders = folders.len(),
            to_read = reads.len(),
            to_delete = deletes.len(),
            known = known.len(),
            full,
            "maildir pass planned"
        );
        self.plan = Plan {
            total: reads.len() as u64,
            reads: reads.into(),
            deletes: deletes.into_iter().collect(),
            children,
            known,
            done: 0,
        };
        Ok(())
    }

    /// The folders the watcher's paths touch, or `None` when only a full reconcile will do
    /// (a folder created, renamed or removed).
    fn dirty_folders(&self, paths: &BTreeSet<PathBuf>) -> Option<Vec<(String, PathBuf)>> {
        let mut dirs = BTreeSet::new();
        for path in paths {
            let Ok(rel) = path.strip_prefix(&self.root) else {
                continue;
            };
            let parent_name = path
                .parent()
                .and_then(|p| p.file_name())
                .and_then(|n| n.to_str());
            let own_name = path.file_name().and_then(|n| n.to_str());
            let dir = match (parent_name, own_name) {
                (Some("tmp"), _) => continue,
                (Some("cur" | "new"), _) => path.parent().and_then(Path::parent),
                (_, Some("tmp")) => continue,
                (_, Some("cur" | "new")) => path.parent(),
                _ if rel.as_os_str().is_empty() => return None,
                // Anything else is a directory appearing or vanishing, or a stray file; a
                // stray file is harmless to rescan for.
                _ if path.is_file() => continue,
                _ => return None,
            };
            if let Some(dir) = dir {
                dirs.insert(dir.to_path_buf());
            }
        }
        let mut folders = Vec::new();
        for dir in dirs {
            let Some(name) = folder_name(&self.root, &dir) else {
                continue;
            };
            if !self.folder_wanted(&name) {
                continue;
            }
            if !dir.is_dir() {
                return None;
            }
            folders.push((name, dir));
        }
        Some(folders)
    }

    /// Finds a message again after it was renamed (flags changed) since planning.
    fn relocate(&self, file: &MessageFile) -> Option<MessageFile> {
        let dir = file.path.parent()?.parent()?;
        self.scan_folder(&file.folder, dir).remove(&file.id)
    }

    fn skip(&mut self, file: &MessageFile, reason: &dyn std::fmt::Display) {
        tracing::warn!(path = %file.path.display(), reason = %reason, "skipping message");
        self.skipped.insert(file.id.clone(), file.version.clone());
    }

    /// Reads one message into `batch`.
    fn read(&mut self, file: MessageFile, batch: &mut Batch) {
        let (file, bytes) = match std::fs::read(&file.path) {
            Ok(bytes) => (file, bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let Some(moved) = self.relocate(&file) else {
                    self.remove(&file.id, batch);
                    return;
                };
                match std::fs::read(&moved.path) {
                    Ok(bytes) => (moved, bytes),
                    Err(e) => {
                        tracing::warn!(path = %moved.path.display(), reason = %e, "cannot read message now; will retry");
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::warn!(path = %file.path.display(), reason = %e, "cannot read message now; will retry");
                return;
            }
        };
        let mut parsed = match parse_message(&bytes, &self.opts.limits) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.skip(&file, &e);
                self.remove(&file.id, batch);
                return;
            }
        };
        self.skipped.remove(&file.id);
        parsed.flags = flag_names(&file.flags);
        parsed.folder = Some(file.folder.clone());
        let mut items = message_items(&parsed, &file.id, &file_uri(&file.path));
        for item in &mut items {
            item.version = Some(file.version.clone());
        }
        if let Some(old_children) = self.plan.children.get(&file.id) {
            for child in old_children {
                if !items.iter().any(|i| &i.external_id == child) {
                    batch.deletes.push(child.clone());
                }
            }
        }
        batch.upserts.extend(items);
    }

    /// Deletes a message and its attachments, if the store has them.
    fn remove(&self, id: &str, batch: &mut Batch) {
        if self.plan.known.contains_key(id) {
            batch.deletes.push(id.to_owned());
        }
        if let Some(children) = self.plan.children.get(id) {
            batch.deletes.extend(children.iter().cloned());
        }
    }

    fn next_batch(&mut self) -> Batch {
        let mut batch = Batch {
            cursor: Some(Cursor(CURSOR.to_owned())),
            ..Batch::default()
        };
        let take = self.plan.deletes.len().min(MAX_DELETES_PER_BATCH);
        batch.deletes.extend(self.plan.deletes.drain(..take));
        for _ in 0..self.opts.batch_size.max(1) {
            let Some(file) = self.plan.reads.pop_front() else {
                break;
            };
            self.plan.done += 1;
            self.read(file, &mut batch);
        }
        batch.has_more = !self.plan.is_empty();
        if self.plan.total > 0 {
            batch.progress = Some(Progress {
                done: self.plan.done,
                total: self.plan.total,
            });
        }
        if !batch.has_more {
            self.plan = Plan::default();
        }
        batch
    }

    fn pull(
        &mut self,
        shared: &Arc<WatchShared>,
        ctx: &SyncContext,
    ) -> Result<Batch, ConnectorError> {
        if !self.root.is_dir() {
            // An unmounted disk looks like a deleted mailbox: keep the items, wait for it.
            if !self.warned_missing {
                tracing::warn!(root = %self.root.display(), "maildir does not exist; keeping its items");
                self.warned_missing = true;
            }
            self.needs_reconcile = true;
            self.watcher = None;
            return Ok(Batch::default());
        }
        self.warned_missing = false;
        self.refresh_watch(shared);
        if self.plan.is_empty() {
            let pending = shared.take();
            // A full pass also covers every path the watcher reported.
            let folders = if self.needs_reconcile || pending.rescan {
                Some(self.folders())
            } else if pending.paths.is_empty() {
                None
            } else {
                match self.dirty_folders(&pending.paths) {
                    Some(folders) => Some(folders),
                    None => {
                        self.needs_reconcile = true;
                        Some(self.folders())
                    }
                }
            };
            if let Some(folders) = folders {
                let full = self.needs_reconcile || pending.rescan;
                if let Err(e) = self.plan(folders, full, ctx.known.as_ref()) {
                    let mut back = watch::lock(&shared.pending);
                    back.paths.extend(pending.paths);
                    back.rescan |= pending.rescan;
                    return Err(e);
                }
                self.needs_reconcile = false;
            }
        }
        Ok(self.next_batch())
    }
}

/// A Maildir or Maildir++ tree; see the module docs.
pub struct MaildirConnector {
    scanner: Arc<Mutex<Scanner>>,
    shared: Arc<WatchShared>,
    watch: bool,
}

/// Locks the scanner; after a panic on the blocking side its plan may be half-done, so it is
/// dropped and a full reconcile (always safe) is scheduled.
fn lock_scanner(scanner: &Mutex<Scanner>) -> MutexGuard<'_, Scanner> {
    match scanner.lock() {
        Ok(guard) => guard,
        Err(poisoned) => {
            let mut guard = poisoned.into_inner();
            guard.plan = Plan::default();
            guard.undelivered = None;
            guard.needs_reconcile = true;
            scanner.clear_poison();
            guard
        }
    }
}

impl MaildirConnector {
    pub fn new(options: MaildirOptions) -> Result<Self, MailError> {
        let root = std::path::absolute(&options.root).map_err(|source| MailError::BadPath {
            path: options.root.clone(),
            source,
        })?;
        // Canonical when possible, so paths match what the watcher reports.
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        let watch = options.watch;
        Ok(MaildirConnector {
            scanner: Arc::new(Mutex::new(Scanner {
                opts: options,
                root,
                needs_reconcile: true,
                plan: Plan::default(),
                skipped: HashMap::new(),
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
impl Connector for MaildirConnector {
    fn type_name(&self) -> &'static str {
        "maildir"
    }

    async fn pull(
        &mut self,
        _cursor: Option<&Cursor>,
        ctx: &SyncContext,
    ) -> Result<Batch, ConnectorError> {
        let scanner = Arc::clone(&self.scanner);
        let shared = Arc::clone(&self.shared);
        let ctx = ctx.clone();
        // The batch is parked before it is handed out, so a pull future dropped while the
        // blocking work runs loses nothing: the next pull returns the parked batch.
        let joined = tokio::task::spawn_blocking(move || {
            let mut scanner = lock_scanner(&scanner);
            if scanner.undelivered.is_none() {
                let batch = scanner.pull(&shared, &ctx)?;
                scanner.undelivered = Some(batch);
            }
            Ok::<(), ConnectorError>(())
        })
        .await;
        match joined {
            Ok(Ok(())) => lock_scanner(&self.scanner)
                .undelivered
                .take()
                .ok_or_else(|| {
                    ConnectorError::transient("maildir batch was taken by another pull")
                }),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(ConnectorError::transient("maildir scan task failed").with_source(e)),
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

    #[test]
    fn file_names_split_into_unique_name_and_flags() {
        assert_eq!(
            split_file_name("1234.M1P2.host,S=42:2,FS"),
            ("1234.M1P2.host,S=42", "FS".to_owned())
        );
        assert_eq!(
            split_file_name("1234.host:2,SF"),
            ("1234.host", "FS".to_owned())
        );
        assert_eq!(split_file_name("1234.host"), ("1234.host", String::new()));
        assert_eq!(
            split_file_name("1234.host;2,Sb"),
            ("1234.host", "S".to_owned())
        );
        assert_eq!(
            split_file_name("1234.host:1,xyz"),
            ("1234.host", String::new())
        );
        assert_eq!(flag_names("FS"), vec!["flagged", "seen"]);
        assert_eq!(
            flag_names("DPRT"),
            vec!["draft", "passed", "replied", "trashed"]
        );
    }

    #[test]
    fn folder_names_follow_maildir_plus_plus() {
        let root = Path::new("/m");
        assert_eq!(folder_name(root, Path::new("/m")).as_deref(), Some("INBOX"));
        assert_eq!(
            folder_name(root, Path::new("/m/.Work.Projects")).as_deref(),
            Some("Work/Projects")
        );
        assert_eq!(
            folder_name(root, Path::new("/m/Archive/2024")).as_deref(),
            Some("Archive/2024")
        );
    }

    #[test]
    fn folder_patterns_match_below_and_ignore_case() {
        assert!(folder_matches("Trash", "trash"));
        assert!(folder_matches("Trash/Old", "Trash"));
        assert!(!folder_matches("Trashy", "Trash"));
        assert!(!folder_matches("Work/Trash", "Trash"));
        assert_eq!(folder_of("Work/Sub/123.host"), Some("Work/Sub"));
        assert_eq!(folder_of("INBOX/123.host#att2"), Some("INBOX"));
    }
}
