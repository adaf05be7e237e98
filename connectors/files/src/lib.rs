//! The files connector: mirrors documents on disk (Markdown, text, source, HTML, PDF, DOCX) into
//! ctx, scanning its roots and, when asked, watching them for changes.
//!
//! It owns walking, filtering (include/exclude globs, built-in exclusions), change detection by
//! `mtime:size` version, file watching and turning files into [`Item`]s via `ctx-extract`. It never
//! writes to the files it indexes, never follows symlinks unless told to, and never does blocking
//! file IO or extraction on the async runtime's worker threads (all of it runs in
//! [`tokio::task::spawn_blocking`]).
//!
//! # Reconciliation, not the cursor, is authoritative
//!
//! The first pull of every connector instance (and any pull after the watcher reports lost events)
//! walks all roots and compares each file's version with [`KnownState::versions`]: new and changed
//! files are read, known files that are gone (or now excluded) are deleted, unchanged files are not
//! even opened. The daemon commits each batch, so after a crash in the middle of a 10,000-file scan
//! the restarted connector only reads what was not committed yet. The cursor is a constant
//! (`files-v1`) that only marks "this source has been synced with this scheme".
//!
//! After that, live changes come from a debounced watcher (`notify-debouncer-full`): the next pull
//! only looks at the changed paths (a created or renamed-in directory is walked, a removed or
//! renamed-away directory deletes every known item below it).
//!
//! # Items
//!
//! * `external_id`: the absolute path, under the root's canonical path (the root is canonicalized,
//!   entries below it are not, so paths match what the watcher reports). Non-UTF-8 paths are
//!   skipped with a warning: a lossy id could neither be opened again nor be unique.
//! * `locator`: a `file://` URI with every byte outside `A-Z a-z 0-9 - . _ ~ /` percent-encoded.
//! * `version`: `"{mtime_ns}:{size}"`; `timestamp_ms`: the modification time.
//! * `fields`: `format`, `size` and, for source code, `language`.
//!
//! # What is indexed
//!
//! Globs are matched against the path relative to its root, with `/` separators; `*` also matches
//! `/`, so `*.md` matches at any depth. Excluding a directory excludes everything below it.
//! In addition to user excludes, these are always skipped: directories named `.git`, `.hg`, `.svn`,
//! `node_modules`, `target`, `__pycache__`; hidden files and directories (name starting with `.`,
//! unless [`FilesOptions::include_hidden`]); editor leftovers (`*~`, `*.swp`, `*.tmp`, `#name#`);
//! and files whose extension marks a binary format (images, archives...; see
//! [`ctx_extract::is_known_binary`]), which are skipped silently without being read.
//! Other files that cannot be extracted (binary content, not UTF-8, too large, broken PDF...) are
//! logged once per file version and are not items; a previously indexed file that becomes such a
//! file is deleted.
//!
//! # Missing roots
//!
//! A root that does not exist is not an error: it is logged once, items already indexed under it
//! are kept (an unmounted drive is indistinguishable from a deleted folder, and deleting would
//! throw the index away), and, when watching, the connector checks every few seconds whether the
//! root has appeared and then scans it. A root deleted while watched is seen as a deletion, and its
//! items are deleted.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ctx_connector_api::{
    Batch, Connector, ConnectorError, Cursor, Item, ItemKind, KnownState, Progress, SyncContext,
    Wake,
};
use ctx_extract::{ExtractError, Limits};
use globset::{Glob, GlobSet, GlobSetBuilder};
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

/// The cursor the connector reports; see the crate docs for why it carries no position.
pub const CURSOR: &str = "files-v1";

/// Directory names that are never indexed: version control internals, dependency and build trees.
pub const ALWAYS_EXCLUDED_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "target",
    "__pycache__",
];

/// How often a watching connector checks whether a missing root has appeared.
const ROOT_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// When the watcher cannot be set up (inotify limits...), how often to reconcile instead.
const POLL_FALLBACK_INTERVAL: Duration = Duration::from_secs(60);

/// Deletes carried per batch: they are cheap, but a batch is one store transaction.
const MAX_DELETES_PER_BATCH: usize = 10_000;

/// Configuration of a [`FilesConnector`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesOptions {
    /// Folders (or single files) to index. Relative paths are made absolute against the current
    /// directory at construction.
    pub roots: Vec<PathBuf>,
    /// Globs a file's root-relative path must match; empty means every file.
    pub include: Vec<String>,
    /// Globs of root-relative paths (files or directories) to skip, in addition to the built-ins.
    pub exclude: Vec<String>,
    /// Files larger than this are skipped (default 20 MiB).
    pub max_file_size: u64,
    /// Watch the roots and report changes from `wait_for_change` (default true).
    pub watch: bool,
    /// Quiet time before a burst of file events is reported (default 300 ms).
    pub debounce: Duration,
    /// Files read per pull, hence upserts per batch at most (default 256).
    pub batch_size: usize,
    /// Follow symbolic links to files and directories (default false: a link is skipped).
    pub follow_symlinks: bool,
    /// Index hidden files and directories (names starting with `.`; default false).
    pub include_hidden: bool,
    /// How long one PDF may take to extract (default 10 s).
    pub extract_timeout: Duration,
}

impl Default for FilesOptions {
    fn default() -> Self {
        FilesOptions {
            roots: Vec::new(),
            include: Vec::new(),
            exclude: Vec::new(),
            max_file_size: 20 * 1024 * 1024,
            watch: true,
            debounce: Duration::from_millis(300),
            batch_size: 256,
            follow_symlinks: false,
            include_hidden: false,
            extract_timeout: Duration::from_secs(10),
        }
    }
}

impl FilesOptions {
    /// Default options over `roots`.
    pub fn new(roots: impl IntoIterator<Item = impl Into<PathBuf>>) -> Self {
        FilesOptions {
            roots: roots.into_iter().map(Into::into).collect(),
            ..FilesOptions::default()
        }
    }
}

/// Why a [`FilesConnector`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("no roots configured")]
    NoRoots,
    #[error("invalid glob {pattern:?}: {source}")]
    BadGlob {
        pattern: String,
        #[source]
        source: globset::Error,
    },
    #[error("cannot make root {path:?} absolute: {source}")]
    BadRoot {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<FilesError> for ConnectorError {
    fn from(e: FilesError) -> Self {
        ConnectorError::config(e.to_string()).with_source(e)
    }
}

/// Which paths are candidates for indexing.
#[derive(Debug)]
struct Filter {
    include: Option<GlobSet>,
    exclude: GlobSet,
    include_hidden: bool,
}

fn build_globs(patterns: &[String]) -> Result<GlobSet, FilesError> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let glob = Glob::new(pattern).map_err(|source| FilesError::BadGlob {
            pattern: pattern.clone(),
            source,
        })?;
        builder.add(glob);
    }
    builder.build().map_err(|source| FilesError::BadGlob {
        pattern: patterns.join(", "),
        source,
    })
}

fn is_temp_name(name: &str) -> bool {
    name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".tmp")
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
}

impl Filter {
    fn new(opts: &FilesOptions) -> Result<Self, FilesError> {
        Ok(Filter {
            include: if opts.include.is_empty() {
                None
            } else {
                Some(build_globs(&opts.include)?)
            },
            exclude: build_globs(&opts.exclude)?,
            include_hidden: opts.include_hidden,
        })
    }

    /// Whether a single path component (file or directory name) is excluded by the built-ins.
    fn name_excluded(&self, name: &str) -> bool {
        ALWAYS_EXCLUDED_DIRS.contains(&name) || (!self.include_hidden && name.starts_with('.'))
    }

    /// Whether the directory at root-relative `rel` is excluded (only its own name and the user
    /// excludes are checked: its ancestors were checked while walking down to it).
    fn dir_excluded(&self, rel: &Path) -> bool {
        let name_excluded = rel
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| self.name_excluded(n));
        name_excluded || self.exclude.is_match(rel)
    }

    /// Whether root-relative `rel` lies in an excluded area: one of its directories (or itself) is
    /// excluded. Used for paths reported by the watcher, which may be at any depth.
    fn in_excluded_area(&self, rel: &Path) -> bool {
        let mut prefix = PathBuf::new();
        for component in rel.components() {
            prefix.push(component);
            let name = component.as_os_str().to_str().unwrap_or("");
            if self.name_excluded(name) || self.exclude.is_match(&prefix) {
                return true;
            }
        }
        false
    }

    /// Whether the file at root-relative `rel` should be indexed, given that no directory above it
    /// is excluded.
    fn file_wanted(&self, rel: &Path) -> bool {
        let Some(name) = rel.file_name().and_then(|n| n.to_str()) else {
            return false;
        };
        if self.name_excluded(name) || is_temp_name(name) || ctx_extract::is_known_binary(name) {
            return false;
        }
        if self.exclude.is_match(rel) {
            return false;
        }
        self.include.as_ref().is_none_or(|inc| inc.is_match(rel))
    }
}

/// A configured root and what we last saw of it.
#[derive(Debug)]
struct Root {
    /// As configured (made absolute).
    given: PathBuf,
    /// Its canonical path when it last existed, else `given`.
    canon: PathBuf,
    exists: bool,
    /// Whether the missing-root warning was logged since it last existed.
    warned_missing: bool,
}

/// Changed paths reported by the watcher, waiting for the next pull.
#[derive(Debug, Default)]
struct Pending {
    paths: BTreeSet<PathBuf>,
    /// Events were lost (queue overflow, watcher error): only a full reconcile is safe.
    rescan: bool,
}

/// State shared with the watcher's callback thread.
struct Shared {
    pending: Mutex<Pending>,
    notify: tokio::sync::Notify,
    /// Canonical roots, to map watcher paths to root-relative ones for filtering.
    roots: Mutex<Vec<PathBuf>>,
    filter: Arc<Filter>,
    /// Some root is missing: `wait_for_change` polls for it.
    missing_roots: std::sync::atomic::AtomicBool,
    /// The watcher could not be set up: `wait_for_change` falls back to periodic reconciles.
    watch_failed: std::sync::atomic::AtomicBool,
    given_roots: Vec<PathBuf>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The data behind these locks stays consistent even if a holder panicked (see Scanner's lock).
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    fn handle_events(&self, result: DebounceEventResult) {
        let mut woke = false;
        {
            let mut pending = lock(&self.pending);
            match result {
                Ok(events) => {
                    let roots = lock(&self.roots);
                    for event in events {
                        if event.event.need_rescan() {
                            pending.rescan = true;
                            woke = true;
                            continue;
                        }
                        // Reads (ours included) are not changes; a closed writer is one.
                        if matches!(event.event.kind, EventKind::Access(access)
                            if access != notify::event::AccessKind::Close(notify::event::AccessMode::Write))
                        {
                            continue;
                        }
                        for path in &event.event.paths {
                            let Some(root) = roots.iter().find(|r| path.starts_with(r)) else {
                                continue;
                            };
                            let rel = path.strip_prefix(root).unwrap_or(Path::new(""));
                            if self.filter.in_excluded_area(rel) {
                                continue;
                            }
                            pending.paths.insert(path.clone());
                            woke = true;
                        }
                    }
                }
                Err(errors) => {
                    for error in errors {
                        tracing::warn!(reason = %error, "file watcher error; will rescan");
                    }
                    pending.rescan = true;
                    woke = true;
                }
            }
        }
        if woke {
            self.notify.notify_one();
        }
    }
}

/// Size and modification time of a file, and its version string.
#[derive(Debug, Clone, Copy)]
struct FileMeta {
    size: u64,
    mtime_ns: i128,
}

impl FileMeta {
    fn of(meta: &std::fs::Metadata) -> Self {
        let mtime_ns = meta.modified().map_or(0, system_time_ns);
        FileMeta {
            size: meta.len(),
            mtime_ns,
        }
    }

    fn version(&self) -> String {
        format!("{}:{}", self.mtime_ns, self.size)
    }

    fn timestamp_ms(&self) -> Option<i64> {
        i64::try_from(self.mtime_ns.div_euclid(1_000_000)).ok()
    }
}

fn system_time_ns(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// A `file://` URI for an absolute path; see the crate docs for the encoding.
pub fn file_uri(path: &Path) -> String {
    let raw = path.to_string_lossy();
    let mut uri = String::with_capacity(raw.len() + 8);
    uri.push_str("file://");
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

/// The work of the current pass.
#[derive(Debug, Default)]
struct Plan {
    reads: VecDeque<PathBuf>,
    deletes: VecDeque<String>,
    known: HashMap<String, Option<String>>,
    done: u64,
    total: u64,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.reads.is_empty() && self.deletes.is_empty()
    }
}

/// What to do with a file seen during planning.
enum Decision {
    Unchanged,
    Read,
    /// A known-bad version: not read again; deleted if it is still an item.
    KnownBad,
}

/// What reading one file gave.
enum ReadOutcome {
    Item(Box<Item>),
    Unchanged,
    /// Gone, or permanently unextractable: delete it if it is an item.
    Remove,
    /// Temporarily unreadable: leave any existing item alone.
    Keep,
}

/// Everything the blocking side owns.
struct Scanner {
    opts: FilesOptions,
    filter: Arc<Filter>,
    limits: Limits,
    roots: Vec<Root>,
    needs_reconcile: bool,
    plan: Plan,
    /// Path → version of files that failed permanently, so they are neither re-read nor re-logged.
    skipped: HashMap<String, String>,
    /// A batch produced for a pull whose caller went away (cancelled future); returned next time.
    undelivered: Option<Batch>,
    watcher: Option<Debouncer<notify::RecommendedWatcher, RecommendedCache>>,
    watched: HashSet<PathBuf>,
    /// A watched root itself was reported gone: re-check the roots after planning.
    needs_root_refresh: bool,
}

fn path_id(path: &Path) -> Option<String> {
    path.to_str().map(str::to_owned)
}

/// Root-relative path, or the file name when `path` is the root itself (a root that is a file).
fn relative(root: &Path, path: &Path) -> PathBuf {
    match path.strip_prefix(root) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.to_path_buf(),
        _ => path.file_name().map(PathBuf::from).unwrap_or_default(),
    }
}

impl Scanner {
    /// Checks which roots exist, (re)creates watches, and flags a reconcile when a root appeared.
    fn refresh_roots(&mut self, shared: &Arc<Shared>) {
        let mut missing = false;
        for root in &mut self.roots {
            let exists = root.given.exists();
            if exists && !root.exists {
                if let Ok(canon) = std::fs::canonicalize(&root.given) {
                    root.canon = canon;
                }
                root.exists = true;
                root.warned_missing = false;
                self.needs_reconcile = true;
            } else if !exists {
                if root.exists {
                    root.exists = false;
                    if let Some(watcher) = self.watcher.as_mut() {
                        // The kernel already dropped the watch with the directory.
                        let _ = watcher.unwatch(&root.canon);
                    }
                    self.watched.remove(&root.canon);
                }
                if !root.warned_missing {
                    tracing::warn!(
                        root = %root.given.display(),
                        "root does not exist; keeping its items and waiting for it to appear"
                    );
                    root.warned_missing = true;
                }
                missing = true;
            }
        }
        shared
            .missing_roots
            .store(missing, std::sync::atomic::Ordering::SeqCst);
        *lock(&shared.roots) = self
            .roots
            .iter()
            .filter(|r| r.exists)
            .map(|r| r.canon.clone())
            .collect();
        if self.opts.watch {
            self.ensure_watches(shared);
        }
    }

    fn ensure_watches(&mut self, shared: &Arc<Shared>) {
        if shared
            .watch_failed
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            return;
        }
        if self.watcher.is_none() {
            let handler_shared = Arc::clone(shared);
            match new_debouncer(self.opts.debounce, None, move |result| {
                handler_shared.handle_events(result)
            }) {
                Ok(watcher) => self.watcher = Some(watcher),
                Err(e) => {
                    tracing::warn!(reason = %e, interval = ?POLL_FALLBACK_INTERVAL, "cannot start file watcher; rescanning periodically instead");
                    shared
                        .watch_failed
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                    return;
                }
            }
        }
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        for root in self.roots.iter().filter(|r| r.exists) {
            if self.watched.contains(&root.canon) {
                continue;
            }
            match watcher.watch(&root.canon, RecursiveMode::Recursive) {
                Ok(()) => {
                    self.watched.insert(root.canon.clone());
                }
                Err(e) => {
                    tracing::warn!(root = %root.canon.display(), reason = %e, interval = ?POLL_FALLBACK_INTERVAL, "cannot watch root; rescanning periodically instead");
                    shared
                        .watch_failed
                        .store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
        }
    }

    /// Walks `start` (a root or a directory below `root`) and returns the wanted files.
    fn walk(&self, root: &Path, start: &Path) -> Vec<(PathBuf, FileMeta)> {
        let mut files = Vec::new();
        let walker = walkdir::WalkDir::new(start)
            .follow_links(self.opts.follow_symlinks)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|entry| {
                entry.depth() == 0
                    || !entry.file_type().is_dir()
                    || !self.filter.dir_excluded(&relative(root, entry.path()))
            });
        for entry in walker {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    // Unreadable directories, symlink loops, entries vanishing mid-walk.
                    tracing::warn!(path = ?e.path(), reason = %e, "skipping unreadable entry");
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            if !self.filter.file_wanted(&relative(root, entry.path())) {
                continue;
            }
            match entry.metadata() {
                Ok(meta) => files.push((entry.into_path(), FileMeta::of(&meta))),
                Err(e) => {
                    tracing::debug!(path = %entry.path().display(), reason = %e, "file vanished during walk");
                }
            }
        }
        files
    }

    fn decide(
        &self,
        id: &str,
        meta: &FileMeta,
        known: &HashMap<String, Option<String>>,
    ) -> Decision {
        let version = meta.version();
        if known
            .get(id)
            .is_some_and(|v| v.as_deref() == Some(version.as_str()))
        {
            Decision::Unchanged
        } else if self.skipped.get(id) == Some(&version) {
            Decision::KnownBad
        } else {
            Decision::Read
        }
    }

    /// Sorts walked files into reads and (for known-bad ones that are still items) deletes;
    /// returns the ids seen.
    fn plan_files(
        &self,
        files: Vec<(PathBuf, FileMeta)>,
        known: &HashMap<String, Option<String>>,
        reads: &mut BTreeSet<PathBuf>,
        deletes: &mut BTreeSet<String>,
    ) -> HashSet<String> {
        let mut seen = HashSet::with_capacity(files.len());
        for (path, meta) in files {
            let Some(id) = path_id(&path) else {
                tracing::warn!(path = %path.display(), reason = "path is not valid utf-8", "skipping file");
                continue;
            };
            match self.decide(&id, &meta, known) {
                Decision::Unchanged => {}
                Decision::Read => {
                    reads.insert(path);
                }
                Decision::KnownBad => {
                    if known.contains_key(&id) {
                        deletes.insert(id.clone());
                    }
                }
            }
            seen.insert(id);
        }
        seen
    }

    fn set_plan(
        &mut self,
        reads: BTreeSet<PathBuf>,
        deletes: BTreeSet<String>,
        known: HashMap<String, Option<String>>,
    ) {
        self.plan = Plan {
            total: reads.len() as u64,
            reads: reads.into_iter().collect(),
            deletes: deletes.into_iter().collect(),
            known,
            done: 0,
        };
    }

    /// Plans a full pass: every root walked and compared with what the store holds.
    fn plan_reconcile(&mut self, known: &dyn KnownState) -> Result<(), ConnectorError> {
        let known = known.versions()?;
        let mut reads = BTreeSet::new();
        let mut deletes = BTreeSet::new();
        let mut seen = HashSet::new();
        for root in self.roots.iter().filter(|r| r.exists) {
            let files = self.walk(&root.canon, &root.canon);
            seen.extend(self.plan_files(files, &known, &mut reads, &mut deletes));
        }
        // Forget bad files that are gone, so the memory does not grow with churn.
        self.skipped.retain(|id, _| seen.contains(id));
        for id in known.keys() {
            if seen.contains(id) {
                continue;
            }
            let path = Path::new(id);
            let under_missing_root = self
                .roots
                .iter()
                .any(|r| !r.exists && path.starts_with(&r.canon));
            if !under_missing_root {
                deletes.insert(id.clone());
            }
        }
        tracing::info!(
            to_read = reads.len(),
            to_delete = deletes.len(),
            known = known.len(),
            "files reconcile planned"
        );
        self.set_plan(reads, deletes, known);
        Ok(())
    }

    /// Plans a pass over the paths the watcher reported.
    fn plan_dirty(
        &mut self,
        dirty: BTreeSet<PathBuf>,
        known: &dyn KnownState,
    ) -> Result<(), ConnectorError> {
        let known = known.versions()?;
        let mut reads = BTreeSet::new();
        let mut deletes = BTreeSet::new();
        for path in dirty {
            let Some(root) = self
                .roots
                .iter()
                .filter(|r| r.exists && path.starts_with(&r.canon))
                .max_by_key(|r| r.canon.as_os_str().len())
                .map(|r| r.canon.clone())
            else {
                continue;
            };
            let rel = relative(&root, &path);
            if path != root && self.filter.in_excluded_area(&rel) {
                continue;
            }
            let meta = if self.opts.follow_symlinks {
                std::fs::metadata(&path)
            } else {
                std::fs::symlink_metadata(&path)
            };
            match meta {
                Ok(meta) if meta.is_dir() => {
                    let files = self.walk(&root, &path);
                    let seen = self.plan_files(files, &known, &mut reads, &mut deletes);
                    deletes.extend(
                        known_under(&known, &path)
                            .filter(|id| !seen.contains(*id))
                            .cloned(),
                    );
                }
                Ok(meta) if meta.is_file() && self.filter.file_wanted(&rel) => {
                    let files = vec![(path.clone(), FileMeta::of(&meta))];
                    self.plan_files(files, &known, &mut reads, &mut deletes);
                }
                Ok(_) => {
                    // Now excluded, a symlink we do not follow, or a special file.
                    if let Some(id) = path_id(&path).filter(|id| known.contains_key(id)) {
                        deletes.insert(id);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    // A file or a whole directory is gone (deleted or renamed away).
                    if let Some(id) = path_id(&path).filter(|id| known.contains_key(id)) {
                        deletes.insert(id);
                    }
                    deletes.extend(known_under(&known, &path).cloned());
                    if path == root {
                        self.needs_root_refresh = true;
                    }
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), reason = %e, "cannot stat changed path");
                }
            }
        }
        self.set_plan(reads, deletes, known);
        Ok(())
    }

    fn skip(&mut self, path: &Path, id: &str, version: String, reason: &dyn std::fmt::Display) {
        tracing::warn!(path = %path.display(), reason = %reason, "skipping file");
        self.skipped.insert(id.to_owned(), version);
    }

    fn read_file(&mut self, path: &Path) -> ReadOutcome {
        let Some(id) = path_id(path) else {
            return ReadOutcome::Keep;
        };
        // Stat again: the file may have changed or vanished since the plan was made.
        let meta = match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => meta,
            Ok(_) => return ReadOutcome::Remove,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return ReadOutcome::Remove,
            Err(e) => {
                tracing::warn!(path = %path.display(), reason = %e, "cannot stat file");
                return ReadOutcome::Keep;
            }
        };
        let file_meta = FileMeta::of(&meta);
        let version = file_meta.version();
        match self.decide(&id, &file_meta, &self.plan.known) {
            Decision::Unchanged => return ReadOutcome::Unchanged,
            Decision::KnownBad => return ReadOutcome::Remove,
            Decision::Read => {}
        }
        let limit = self.opts.max_file_size;
        if file_meta.size > limit {
            let e = ExtractError::TooLarge {
                size: file_meta.size,
                limit,
            };
            self.skip(path, &id, version, &e);
            return ReadOutcome::Remove;
        }
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return ReadOutcome::Remove,
            Err(e) => {
                self.skip(path, &id, version, &e);
                return ReadOutcome::Remove;
            }
        };
        let extracted = match ctx_extract::extract(&id, &bytes, &self.limits) {
            Ok(extracted) => extracted,
            Err(e) if e.is_permanent() => {
                self.skip(path, &id, version, &e);
                return ReadOutcome::Remove;
            }
            Err(e) => {
                // Not remembered: the next reconcile tries again. The old item, if any, stays.
                tracing::warn!(path = %path.display(), reason = %e, "cannot extract file now; will retry");
                return ReadOutcome::Keep;
            }
        };
        self.skipped.remove(&id);
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| id.clone());
        let title = extracted.title.unwrap_or(file_name);
        let mut item = Item::new(id, ItemKind::Document, title, extracted.text);
        item.locator = file_uri(path);
        item.timestamp_ms = file_meta.timestamp_ms();
        item.version = Some(version);
        item.fields
            .push(("format".to_owned(), extracted.format.as_str().to_owned()));
        item.fields
            .push(("size".to_owned(), bytes.len().to_string()));
        if let Some(language) = extracted.format.language() {
            item.fields
                .push(("language".to_owned(), language.to_owned()));
        }
        ReadOutcome::Item(Box::new(item))
    }

    /// Takes the next batch off the plan.
    fn next_batch(&mut self) -> Batch {
        let mut batch = Batch {
            cursor: Some(Cursor(CURSOR.to_owned())),
            ..Batch::default()
        };
        let take = self.plan.deletes.len().min(MAX_DELETES_PER_BATCH);
        batch.deletes.extend(self.plan.deletes.drain(..take));
        let mut processed = 0;
        while processed < self.opts.batch_size.max(1) {
            let Some(path) = self.plan.reads.pop_front() else {
                break;
            };
            processed += 1;
            self.plan.done += 1;
            match self.read_file(&path) {
                ReadOutcome::Item(item) => batch.upserts.push(*item),
                ReadOutcome::Remove => {
                    if let Some(id) = path_id(&path).filter(|id| self.plan.known.contains_key(id)) {
                        batch.deletes.push(id);
                    }
                }
                ReadOutcome::Unchanged | ReadOutcome::Keep => {}
            }
        }
        batch.has_more = !self.plan.is_empty();
        if self.plan.total > 0 {
            batch.progress = Some(Progress {
                done: self.plan.done,
                total: self.plan.total,
            });
        }
        if !batch.has_more {
            self.plan.known.clear();
        }
        batch
    }

    /// One pull's work, on a blocking thread.
    fn pull(&mut self, shared: &Arc<Shared>, ctx: &SyncContext) -> Result<Batch, ConnectorError> {
        self.refresh_roots(shared);
        let rescan = std::mem::take(&mut lock(&shared.pending).rescan);
        self.needs_reconcile |= rescan;
        if self.needs_reconcile {
            // Everything the watcher reported so far is covered by the walk.
            lock(&shared.pending).paths.clear();
            self.plan_reconcile(ctx.known.as_ref())?;
            self.needs_reconcile = false;
        } else if self.plan.is_empty() {
            let dirty = std::mem::take(&mut lock(&shared.pending).paths);
            if dirty.is_empty() {
                // A pass nobody's watcher asked for (`ctx sync`, the poll interval, no watcher):
                // reconcile in full, which only stats files that did not change.
                self.plan_reconcile(ctx.known.as_ref())?;
            } else {
                if let Err(e) = self.plan_dirty(dirty.clone(), ctx.known.as_ref()) {
                    lock(&shared.pending).paths.extend(dirty);
                    return Err(e);
                }
                if std::mem::take(&mut self.needs_root_refresh) {
                    self.refresh_roots(shared);
                }
            }
        }
        Ok(self.next_batch())
    }
}

fn known_under<'a>(
    known: &'a HashMap<String, Option<String>>,
    dir: &'a Path,
) -> impl Iterator<Item = &'a String> + 'a {
    known
        .keys()
        .filter(move |id| Path::new(id.as_str()).starts_with(dir) && Path::new(id.as_str()) != dir)
}

/// Documents on disk; see the crate docs.
pub struct FilesConnector {
    scanner: Arc<Mutex<Scanner>>,
    shared: Arc<Shared>,
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

impl FilesConnector {
    pub fn new(options: FilesOptions) -> Result<Self, FilesError> {
        if options.roots.is_empty() {
            return Err(FilesError::NoRoots);
        }
        let filter = Arc::new(Filter::new(&options)?);
        let mut roots = Vec::with_capacity(options.roots.len());
        for root in &options.roots {
            let given = std::path::absolute(root).map_err(|source| FilesError::BadRoot {
                path: root.clone(),
                source,
            })?;
            roots.push(Root {
                canon: given.clone(),
                given,
                exists: false,
                warned_missing: false,
            });
        }
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            notify: tokio::sync::Notify::new(),
            roots: Mutex::new(Vec::new()),
            filter: Arc::clone(&filter),
            missing_roots: std::sync::atomic::AtomicBool::new(false),
            watch_failed: std::sync::atomic::AtomicBool::new(false),
            given_roots: roots.iter().map(|r| r.given.clone()).collect(),
        });
        let limits = Limits {
            max_input_bytes: options.max_file_size,
            pdf_timeout: options.extract_timeout,
            ..Limits::default()
        };
        let watch = options.watch;
        let scanner = Scanner {
            opts: options,
            filter,
            limits,
            roots,
            needs_reconcile: true,
            plan: Plan::default(),
            skipped: HashMap::new(),
            undelivered: None,
            watcher: None,
            watched: HashSet::new(),
            needs_root_refresh: false,
        };
        Ok(FilesConnector {
            scanner: Arc::new(Mutex::new(scanner)),
            shared,
            watch,
        })
    }
}

#[async_trait::async_trait]
impl Connector for FilesConnector {
    fn type_name(&self) -> &'static str {
        "files"
    }

    async fn pull(
        &mut self,
        _cursor: Option<&Cursor>,
        ctx: &SyncContext,
    ) -> Result<Batch, ConnectorError> {
        let scanner = Arc::clone(&self.scanner);
        let shared = Arc::clone(&self.shared);
        let ctx = ctx.clone();
        // The batch is parked in the scanner before it is handed out, so a pull future dropped
        // while the blocking work runs loses nothing: the next pull returns the parked batch.
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
                .ok_or_else(|| ConnectorError::transient("files batch was taken by another pull")),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(ConnectorError::transient("files scan task failed").with_source(e)),
        }
    }

    async fn wait_for_change(&mut self) -> Result<Wake, ConnectorError> {
        if !self.watch {
            return Ok(Wake::Never);
        }
        loop {
            // Registered before checking, so a notification between check and wait is not lost
            // (notify_one also keeps a permit, this is belt and braces).
            let notified = self.shared.notify.notified();
            {
                let pending = lock(&self.shared.pending);
                if pending.rescan || !pending.paths.is_empty() {
                    return Ok(Wake::Changed);
                }
            }
            if self
                .shared
                .watch_failed
                .load(std::sync::atomic::Ordering::SeqCst)
            {
                tokio::time::sleep(POLL_FALLBACK_INTERVAL).await;
                lock(&self.shared.pending).rescan = true;
                return Ok(Wake::Changed);
            }
            if self
                .shared
                .missing_roots
                .load(std::sync::atomic::Ordering::SeqCst)
            {
                if tokio::time::timeout(ROOT_POLL_INTERVAL, notified)
                    .await
                    .is_ok()
                {
                    continue;
                }
                let known_roots = lock(&self.shared.roots).len();
                let mut existing = 0;
                for root in &self.shared.given_roots {
                    if tokio::fs::try_exists(root).await.unwrap_or(false) {
                        existing += 1;
                    }
                }
                if existing > known_roots {
                    return Ok(Wake::Changed);
                }
                continue;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: &[&str], exclude: &[&str]) -> Filter {
        let opts = FilesOptions {
            include: include.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            ..FilesOptions::default()
        };
        Filter::new(&opts).unwrap()
    }

    #[test]
    fn globs_match_relative_paths_at_any_depth() {
        let f = filter(&["*.md"], &["drafts/**", "*.secret.md"]);
        assert!(f.file_wanted(Path::new("a.md")));
        assert!(f.file_wanted(Path::new("deep/er/a.md")));
        assert!(!f.file_wanted(Path::new("a.txt")));
        assert!(!f.file_wanted(Path::new("x/y.secret.md")));
        assert!(f.in_excluded_area(Path::new("drafts/x.md")));
        assert!(f.in_excluded_area(Path::new("a/.git/config")));
        assert!(f.in_excluded_area(Path::new("node_modules/x/readme.md")));
        assert!(!f.in_excluded_area(Path::new("notes/readme.md")));
        assert!(f.dir_excluded(Path::new("sub/target")));
        assert!(f.dir_excluded(Path::new(".hidden")));
    }

    #[test]
    fn temp_and_binary_files_are_not_wanted() {
        let f = filter(&[], &[]);
        assert!(f.file_wanted(Path::new("notes/todo.md")));
        for name in ["a.md~", ".a.md.swp", "#a.md#", "photo.png", ".hidden.md"] {
            assert!(!f.file_wanted(Path::new(name)), "{name}");
        }
    }

    #[test]
    fn file_uris_are_percent_encoded() {
        assert_eq!(
            file_uri(Path::new("/home/a/My Notes/x#1%.md")),
            "file:///home/a/My%20Notes/x%231%25.md"
        );
        assert_eq!(file_uri(Path::new("/tmp/é")), "file:///tmp/%C3%A9");
    }

    #[test]
    fn versions_and_timestamps() {
        let meta = FileMeta {
            size: 12,
            mtime_ns: 1_700_000_000_123_456_789,
        };
        assert_eq!(meta.version(), "1700000000123456789:12");
        assert_eq!(meta.timestamp_ms(), Some(1_700_000_000_123));
    }
}
