//! The `ics` connector: local `.ics` (and `.vcf`) files and folders, plus HTTP(S) calendar
//! subscriptions.
//!
//! # Identity and reconciliation
//!
//! One file can hold many events and an event can move between files, so the external id is the
//! `UID` (of the event series, to-do or vCard), never the path. Every pass therefore reads the
//! whole source: all files below the configured paths (re-reading only those whose
//! `mtime:size` changed since the last pass of this instance) and the cached or re-fetched
//! subscriptions; renders one item per `UID`; and compares each item's version, a BLAKE3 hash of
//! the rendered item, with [`KnownState`]: only changed items are upserted, and known ids that
//! no longer appear anywhere are deleted. An event moved from one file to another keeps its id
//! (its locator changes: one upsert). Because the version covers the rendering, an item whose
//! "next occurrence" moved on as days passed is refreshed by the next pass.
//!
//! Deletes are suppressed for a pass in which some source could not be read (a missing folder,
//! an IO error, a subscription that failed without a cached copy): its items are kept, like the
//! files connector keeps the items of an unmounted root.
//!
//! Broken files and components are counted and logged once per file version, never fatal: what
//! parses is kept. The cursor is the constant [`CURSOR`].
//!
//! # Subscriptions
//!
//! `http://`, `https://` and `webcal://` (read as `https://`) URLs are fetched with `reqwest`
//! (rustls, no native TLS), with `If-None-Match`/`If-Modified-Since` from the last response, at
//! most once per half [`IcsOptions::poll_interval`]; a `304` keeps the cached copy.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::Utc;
use ctx_connector_api::{
    Batch, Connector, ConnectorError, Cursor, Item, KnownState, Progress, SyncContext, Wake,
};
use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use crate::CalendarError;
use crate::ical::{CalEntry, parse_calendar_in};
use crate::item::{RenderOptions, group, series_item};
use crate::vcf::{Contact, contact_item, parse_vcards};

/// The cursor the connector reports; it only marks "synced with this scheme".
pub const CURSOR: &str = "ics-v1";

/// Deletes carried per batch.
const MAX_DELETES_PER_BATCH: usize = 10_000;

/// How deep below a configured folder files are looked for.
const MAX_DEPTH: usize = 16;

/// Configuration of an [`IcsConnector`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcsOptions {
    /// `.ics`/`.ical`/`.ifb` (calendars) and `.vcf`/`.vcard` (contacts) files, or folders holding
    /// them (searched recursively; hidden entries skipped).
    pub paths: Vec<PathBuf>,
    /// Subscription URLs (`https://`, `http://`, `webcal://`).
    pub urls: Vec<String>,
    /// Watch the paths (default true).
    pub watch: bool,
    /// Quiet time before a burst of file events is reported (default 300 ms).
    pub debounce: Duration,
    /// How often subscriptions are re-fetched, at most every half of this (default 30 min).
    pub poll_interval: Duration,
    /// Upserts per batch at most (default 256).
    pub batch_size: usize,
    /// Files and downloads larger than this are skipped (default 50 MiB).
    pub max_file_size: u64,
    /// Timeout of one HTTP request (default 60 s).
    pub http_timeout: Duration,
    pub render: RenderOptions,
}

impl Default for IcsOptions {
    fn default() -> Self {
        IcsOptions {
            paths: Vec::new(),
            urls: Vec::new(),
            watch: true,
            debounce: Duration::from_millis(300),
            poll_interval: Duration::from_secs(30 * 60),
            batch_size: 256,
            max_file_size: 50 * 1024 * 1024,
            http_timeout: Duration::from_secs(60),
            render: RenderOptions::default(),
        }
    }
}

impl IcsOptions {
    /// Default options over local `paths`.
    pub fn new(paths: impl IntoIterator<Item = impl Into<PathBuf>>) -> Self {
        IcsOptions {
            paths: paths.into_iter().map(Into::into).collect(),
            ..IcsOptions::default()
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What one file or download held.
#[derive(Debug, Default)]
struct Content {
    entries: Vec<CalEntry>,
    contacts: Vec<Contact>,
    /// What could not be read, for `ctx status` ("2 unreadable parts skipped").
    problem: Option<String>,
}

/// A file as last read.
struct CachedFile {
    version: String,
    content: Arc<Content>,
}

/// A subscription as last fetched.
#[derive(Default)]
struct CachedUrl {
    etag: Option<String>,
    last_modified: Option<String>,
    content: Option<Arc<Content>>,
    fetched: Option<Instant>,
}

fn is_calendar_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".ics") || lower.ends_with(".ical") || lower.ends_with(".ifb")
}

fn is_contact_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".vcf") || lower.ends_with(".vcard")
}

/// Parses a file's or download's bytes; logs what could not be read.
fn read_content(
    bytes: &[u8],
    what: &str,
    contacts: bool,
    floating_zone: Option<chrono_tz::Tz>,
) -> Content {
    let text = crate::contentline::decode(bytes);
    if contacts {
        let (contacts, problems) = parse_vcards(&text);
        if problems > 0 {
            tracing::warn!(
                source = what,
                problems,
                kept = contacts.len(),
                "unreadable parts in contacts file skipped"
            );
        }
        Content {
            entries: Vec::new(),
            problem: (problems > 0).then(|| format!("{problems} unreadable part(s) skipped")),
            contacts,
        }
    } else {
        let cal = parse_calendar_in(&text, floating_zone);
        if cal.problems > 0 {
            tracing::warn!(
                source = what,
                problems = cal.problems,
                kept = cal.entries.len(),
                "unreadable parts in calendar skipped"
            );
        }
        let mut problem =
            (cal.problems > 0).then(|| format!("{} unreadable part(s) skipped", cal.problems));
        if cal.entries.is_empty() && !text.to_ascii_uppercase().contains("BEGIN:VCALENDAR") {
            tracing::warn!(source = what, "not an iCalendar file");
            problem = Some("not an iCalendar file".into());
        }
        Content {
            entries: cal.entries,
            contacts: Vec::new(),
            problem,
        }
    }
}

/// A `file://` URI with every byte outside `A-Z a-z 0-9 - . _ ~ /` percent-encoded.
fn file_uri(path: &Path) -> String {
    let raw = path.to_string_lossy();
    let mut uri = String::with_capacity(raw.len() + 7);
    uri.push_str("file://");
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            uri.push(byte as char);
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

fn mtime_ns(meta: &std::fs::Metadata) -> i128 {
    match meta.modified() {
        Ok(t) => match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        },
        Err(_) => 0,
    }
}

/// The version of a rendered item: a hash of everything a reader sees.
fn item_version(item: &Item) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(format!("{item:?}").as_bytes());
    hasher.finalize().to_hex()[..24].to_owned()
}

/// Work of the current pass.
#[derive(Default)]
struct Plan {
    upserts: VecDeque<Item>,
    deletes: VecDeque<String>,
    done: u64,
    total: u64,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.deletes.is_empty()
    }
}

/// Everything the blocking side owns.
struct Scanner {
    opts: IcsOptions,
    files: HashMap<PathBuf, CachedFile>,
    plan: Plan,
    undelivered: Option<Batch>,
    watcher: Option<Debouncer<notify::RecommendedWatcher, RecommendedCache>>,
    warned_missing: HashSet<PathBuf>,
    /// Unreadable parts found by the last plan, for [`Connector::take_problems`].
    problems: Vec<String>,
}

impl Scanner {
    /// Every wanted file below the configured paths; `false` when some path could not be read.
    fn list_files(&mut self) -> (Vec<(PathBuf, std::fs::Metadata)>, bool) {
        let mut out = Vec::new();
        let mut complete = true;
        for root in self.opts.paths.clone() {
            let meta = match std::fs::metadata(&root) {
                Ok(meta) => meta,
                Err(e) => {
                    if self.warned_missing.insert(root.clone()) {
                        tracing::warn!(path = %root.display(), reason = %e, "calendar path cannot be read; keeping its items");
                    }
                    complete = false;
                    continue;
                }
            };
            self.warned_missing.remove(&root);
            if meta.is_file() {
                out.push((root.clone(), meta));
                continue;
            }
            let mut stack = vec![(root.clone(), 0usize)];
            while let Some((dir, depth)) = stack.pop() {
                let entries = match std::fs::read_dir(&dir) {
                    Ok(entries) => entries,
                    Err(e) => {
                        tracing::warn!(path = %dir.display(), reason = %e, "cannot list calendar folder");
                        complete = false;
                        continue;
                    }
                };
                for entry in entries.flatten() {
                    let name = entry.file_name();
                    let Some(name) = name.to_str() else { continue };
                    if name.starts_with('.') {
                        continue;
                    }
                    let Ok(file_type) = entry.file_type() else {
                        continue;
                    };
                    if file_type.is_dir() {
                        if depth < MAX_DEPTH {
                            stack.push((entry.path(), depth + 1));
                        }
                    } else if file_type.is_file()
                        && (is_calendar_file(name) || is_contact_file(name))
                        && let Ok(meta) = entry.metadata()
                    {
                        out.push((entry.path(), meta));
                    }
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        (out, complete)
    }

    /// Reads changed files; returns (path, content) of every current file, and completeness.
    fn local_contents(&mut self) -> (Vec<(PathBuf, Arc<Content>)>, bool) {
        let (files, mut complete) = self.list_files();
        let mut out = Vec::with_capacity(files.len());
        let mut seen = HashSet::new();
        for (path, meta) in files {
            let version = format!("{}:{}", mtime_ns(&meta), meta.len());
            seen.insert(path.clone());
            if let Some(cached) = self.files.get(&path)
                && cached.version == version
            {
                out.push((path, Arc::clone(&cached.content)));
                continue;
            }
            if meta.len() > self.opts.max_file_size {
                tracing::warn!(path = %path.display(), size = meta.len(), limit = self.opts.max_file_size, "calendar file too large; skipped");
                self.files.insert(
                    path.clone(),
                    CachedFile {
                        version,
                        content: Arc::default(),
                    },
                );
                continue;
            }
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    tracing::warn!(path = %path.display(), reason = %e, "cannot read calendar file; keeping its items");
                    complete = false;
                    continue;
                }
            };
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let content = Arc::new(read_content(
                &bytes,
                &path.display().to_string(),
                is_contact_file(name),
                self.opts.render.floating_zone,
            ));
            self.files.insert(
                path.clone(),
                CachedFile {
                    version,
                    content: Arc::clone(&content),
                },
            );
            out.push((path, content));
        }
        self.files.retain(|p, _| seen.contains(p));
        (out, complete)
    }

    /// Renders every source into items and plans the differences with the store.
    fn plan(
        &mut self,
        remote: Vec<(String, Option<Arc<Content>>)>,
        known: &dyn KnownState,
    ) -> Result<(), ConnectorError> {
        let known = known.versions()?;
        let (local, mut complete) = self.local_contents();
        let mut sources: Vec<(String, Arc<Content>)> = local
            .into_iter()
            .map(|(path, content)| (file_uri(&path), content))
            .collect();
        for (url, content) in remote {
            match content {
                Some(content) => sources.push((url, content)),
                None => complete = false,
            }
        }
        self.problems = sources
            .iter()
            .filter_map(|(locator, content)| {
                let problem = content.problem.as_ref()?;
                Some(format!("{locator}: {problem}"))
            })
            .collect();
        let mut entries: Vec<CalEntry> = Vec::new();
        let mut locator_of: HashMap<String, String> = HashMap::new();
        let mut contacts: BTreeMap<String, (Contact, String)> = BTreeMap::new();
        for (locator, content) in &sources {
            for entry in &content.entries {
                if entry.recurrence_id.is_none() || !locator_of.contains_key(&entry.uid) {
                    locator_of
                        .entry(entry.uid.clone())
                        .and_modify(|l| {
                            if entry.recurrence_id.is_none() {
                                l.clone_from(locator);
                            }
                        })
                        .or_insert_with(|| locator.clone());
                }
                entries.push(entry.clone());
            }
            for contact in &content.contacts {
                contacts.insert(contact.uid.clone(), (contact.clone(), locator.clone()));
            }
        }
        let now = Utc::now();
        let mut produced = HashSet::new();
        let mut upserts = Vec::new();
        let mut consider = |mut item: Item| {
            let version = item_version(&item);
            produced.insert(item.external_id.clone());
            if known.get(&item.external_id).cloned().flatten().as_deref() != Some(version.as_str())
            {
                item.version = Some(version);
                upserts.push(item);
            }
        };
        for series in group(&entries) {
            let locator = locator_of.get(series.uid).cloned().unwrap_or_default();
            consider(series_item(&series, now, &self.opts.render, &locator));
        }
        let series_ids: HashSet<String> = locator_of.keys().cloned().collect();
        for (uid, (contact, locator)) in &contacts {
            // An event and a card with one UID would share an id: the event wins.
            if series_ids.contains(uid) {
                continue;
            }
            consider(contact_item(contact, uid, locator));
        }
        let deletes: Vec<String> = if complete {
            let mut d: Vec<String> = known
                .keys()
                .filter(|id| !produced.contains(*id))
                .cloned()
                .collect();
            d.sort();
            d
        } else {
            Vec::new()
        };
        tracing::info!(
            sources = sources.len(),
            items = produced.len(),
            to_upsert = upserts.len(),
            to_delete = deletes.len(),
            complete,
            "calendar pass planned"
        );
        self.plan = Plan {
            total: upserts.len() as u64,
            upserts: upserts.into(),
            deletes: deletes.into(),
            done: 0,
        };
        Ok(())
    }

    fn next_batch(&mut self) -> Batch {
        let mut batch = Batch {
            cursor: Some(Cursor(CURSOR.to_owned())),
            ..Batch::default()
        };
        let take = self.plan.deletes.len().min(MAX_DELETES_PER_BATCH);
        batch.deletes.extend(self.plan.deletes.drain(..take));
        let take = self.plan.upserts.len().min(self.opts.batch_size.max(1));
        batch.upserts.extend(self.plan.upserts.drain(..take));
        self.plan.done += take as u64;
        batch.has_more = !self.plan.is_empty();
        if self.plan.total > 0 {
            batch.progress = Some(Progress {
                done: self.plan.done,
                total: self.plan.total,
            });
        }
        batch
    }
}

/// State shared with the watcher's callback thread.
#[derive(Default)]
struct WatchState {
    dirty: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl WatchState {
    fn handle(&self, result: DebounceEventResult) {
        let relevant = match result {
            Ok(events) => events.iter().any(|e| {
                e.event.need_rescan()
                    || !matches!(e.event.kind, EventKind::Access(access)
                        if access != notify::event::AccessKind::Close(notify::event::AccessMode::Write))
            }),
            Err(errors) => {
                for error in errors {
                    tracing::warn!(reason = %error, "calendar watcher error; will rescan");
                }
                true
            }
        };
        if relevant {
            self.dirty.store(true, std::sync::atomic::Ordering::SeqCst);
            self.notify.notify_one();
        }
    }
}

/// Local calendar/contact files and subscriptions; see the module docs.
pub struct IcsConnector {
    scanner: Arc<Mutex<Scanner>>,
    watch: Arc<WatchState>,
    urls: Vec<String>,
    http: Option<reqwest::Client>,
    remote: HashMap<String, CachedUrl>,
    watching: bool,
    /// Subscriptions that could not be fetched in this pass.
    fetch_problems: Vec<String>,
}

/// `webcal://` → `https://`; anything but http(s) is refused.
fn normalize_url(url: &str) -> Result<String, CalendarError> {
    let trimmed = url.trim();
    let lower = trimmed.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("webcal://").map(|_| &trimmed[9..]) {
        return Ok(format!("https://{rest}"));
    }
    if lower.starts_with("https://") || lower.starts_with("http://") {
        return Ok(trimmed.to_owned());
    }
    Err(CalendarError::BadUrl {
        url: url.to_owned(),
        reason: "only http://, https:// and webcal:// are supported".into(),
    })
}

/// An HTTP client for calendar servers: rustls, a timeout, a user agent.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, CalendarError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(20)))
        .user_agent(concat!("ctx/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| CalendarError::Http(e.to_string()))
}

impl IcsConnector {
    pub fn new(mut options: IcsOptions) -> Result<Self, CalendarError> {
        if options.paths.is_empty() && options.urls.is_empty() {
            return Err(CalendarError::NothingConfigured);
        }
        let mut paths = Vec::new();
        for p in &options.paths {
            let abs = std::path::absolute(p).map_err(|source| CalendarError::BadPath {
                path: p.clone(),
                source,
            })?;
            paths.push(std::fs::canonicalize(&abs).unwrap_or(abs));
        }
        options.paths = paths;
        let urls = options
            .urls
            .iter()
            .map(|u| normalize_url(u))
            .collect::<Result<Vec<_>, _>>()?;
        let http = if urls.is_empty() {
            None
        } else {
            Some(http_client(options.http_timeout)?)
        };
        let watching = options.watch && !options.paths.is_empty();
        Ok(IcsConnector {
            scanner: Arc::new(Mutex::new(Scanner {
                opts: options,
                files: HashMap::new(),
                plan: Plan::default(),
                undelivered: None,
                watcher: None,
                warned_missing: HashSet::new(),
                problems: Vec::new(),
            })),
            watch: Arc::new(WatchState::default()),
            urls,
            http,
            remote: HashMap::new(),
            watching,
            fetch_problems: Vec::new(),
        })
    }

    /// Fetches the subscriptions that are due; returns each URL with its current content.
    async fn refresh_remote(
        &mut self,
        poll_interval: Duration,
        max_size: u64,
        zone: Option<chrono_tz::Tz>,
    ) -> Vec<(String, Option<Arc<Content>>)> {
        self.fetch_problems.clear();
        let mut out = Vec::new();
        let Some(client) = self.http.clone() else {
            return out;
        };
        for url in self.urls.clone() {
            let cached = self.remote.entry(url.clone()).or_default();
            let due = cached
                .fetched
                .is_none_or(|t| t.elapsed() >= poll_interval / 2);
            if due {
                let mut request = client.get(&url);
                if cached.content.is_some() {
                    if let Some(etag) = &cached.etag {
                        request = request.header(reqwest::header::IF_NONE_MATCH, etag);
                    }
                    if let Some(lm) = &cached.last_modified {
                        request = request.header(reqwest::header::IF_MODIFIED_SINCE, lm);
                    }
                }
                match fetch(request, max_size).await {
                    Ok(Fetched::NotModified) => cached.fetched = Some(Instant::now()),
                    Ok(Fetched::Body {
                        bytes,
                        etag,
                        last_modified,
                    }) => {
                        let what = url.clone();
                        let content = tokio::task::spawn_blocking(move || {
                            read_content(&bytes, &what, false, zone)
                        })
                        .await
                        .unwrap_or_default();
                        cached.content = Some(Arc::new(content));
                        cached.etag = etag;
                        cached.last_modified = last_modified;
                        cached.fetched = Some(Instant::now());
                    }
                    Err(reason) => {
                        tracing::warn!(url = %url, reason = %reason, "cannot fetch calendar subscription; keeping its items");
                        self.fetch_problems.push(format!(
                            "subscription {url} could not be fetched ({reason}); its items are kept"
                        ));
                    }
                }
            }
            out.push((url, cached.content.clone()));
        }
        out
    }
}

enum Fetched {
    NotModified,
    Body {
        bytes: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

async fn fetch(request: reqwest::RequestBuilder, max_size: u64) -> Result<Fetched, String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    if status == reqwest::StatusCode::NOT_MODIFIED {
        return Ok(Fetched::NotModified);
    }
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    if response.content_length().is_some_and(|len| len > max_size) {
        return Err(format!("larger than {max_size} bytes"));
    }
    let header = |name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let etag = header(reqwest::header::ETAG);
    let last_modified = header(reqwest::header::LAST_MODIFIED);
    let mut response = response;
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > max_size {
            return Err(format!("larger than {max_size} bytes"));
        }
    }
    Ok(Fetched::Body {
        bytes,
        etag,
        last_modified,
    })
}

#[async_trait::async_trait]
impl Connector for IcsConnector {
    fn type_name(&self) -> &'static str {
        "ics"
    }

    async fn pull(
        &mut self,
        _cursor: Option<&Cursor>,
        ctx: &SyncContext,
    ) -> Result<Batch, ConnectorError> {
        let (needs_plan, poll_interval, max_size, zone) = {
            let scanner = lock(&self.scanner);
            (
                scanner.undelivered.is_none() && scanner.plan.is_empty(),
                scanner.opts.poll_interval,
                scanner.opts.max_file_size,
                scanner.opts.render.floating_zone,
            )
        };
        let remote = if needs_plan {
            self.refresh_remote(poll_interval, max_size, zone).await
        } else {
            Vec::new()
        };
        let scanner = Arc::clone(&self.scanner);
        let watch = Arc::clone(&self.watch);
        let watching = self.watching;
        let ctx = ctx.clone();
        // The batch is parked before it is handed out, so a pull future dropped while the
        // blocking work runs loses nothing: the next pull returns the parked batch.
        let joined = tokio::task::spawn_blocking(move || {
            let mut scanner = lock(&scanner);
            if watching && scanner.watcher.is_none() {
                let handler = Arc::clone(&watch);
                let debounce = scanner.opts.debounce;
                let paths = scanner.opts.paths.clone();
                match new_debouncer(debounce, None, move |r| handler.handle(r)) {
                    Ok(mut debouncer) => {
                        for path in paths.iter().filter(|p| p.exists()) {
                            if let Err(e) = debouncer.watch(path, RecursiveMode::Recursive) {
                                tracing::warn!(path = %path.display(), reason = %e, "cannot watch calendar path");
                            }
                        }
                        scanner.watcher = Some(debouncer);
                    }
                    Err(e) => tracing::warn!(reason = %e, "cannot start calendar watcher"),
                }
            }
            if scanner.undelivered.is_none() {
                if scanner.plan.is_empty() {
                    watch.dirty.store(false, std::sync::atomic::Ordering::SeqCst);
                    scanner.plan(remote, ctx.known.as_ref())?;
                }
                let batch = scanner.next_batch();
                scanner.undelivered = Some(batch);
            }
            Ok::<(), ConnectorError>(())
        })
        .await;
        match joined {
            Ok(Ok(())) => lock(&self.scanner).undelivered.take().ok_or_else(|| {
                ConnectorError::transient("calendar batch was taken by another pull")
            }),
            Ok(Err(e)) => Err(e),
            Err(e) => {
                let mut scanner = lock(&self.scanner);
                scanner.plan = Plan::default();
                scanner.undelivered = None;
                Err(ConnectorError::transient("calendar scan task failed").with_source(e))
            }
        }
    }

    fn take_problems(&mut self) -> Vec<String> {
        let mut problems = std::mem::take(&mut self.fetch_problems);
        problems.append(&mut lock(&self.scanner).problems);
        problems
    }

    async fn wait_for_change(&mut self) -> Result<Wake, ConnectorError> {
        if !self.watching {
            // Subscriptions and the daily re-rendering are driven by the daemon's poll interval.
            return Ok(Wake::Never);
        }
        loop {
            let notified = self.watch.notify.notified();
            if self.watch.dirty.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok(Wake::Changed);
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalized() {
        assert_eq!(
            normalize_url("webcal://example.com/a.ics").unwrap(),
            "https://example.com/a.ics"
        );
        assert_eq!(normalize_url(" https://x/y ").unwrap(), "https://x/y");
        assert!(normalize_url("ftp://x").is_err());
    }
}
