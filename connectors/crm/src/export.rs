//! The `crm_export` connector: CRM records from CSV, JSON and JSONL export files.
//!
//! Each configured file holds one object type (companies, contacts, deals, notes...) and maps
//! its columns (CSV) or keys / JSON pointers (JSON, JSONL) onto record attributes with a
//! field mapping. A pass reads every file, resolves associations across files (a deal's
//! `company_id` names the company's domain, its `contact_ids` the contacts' addresses), and
//! delivers what differs from the store in batches; records that left the files become
//! tombstones. A file that cannot be read, or has a line that does not parse, makes no
//! deletions for its object type in that pass (it may be mid-write). Files are watched.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ctx_connector_api::{Batch, Connector, ConnectorError, Cursor, Item, SyncContext, Wake};
use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use serde_json::Value;

use crate::CrmError;
use crate::model::{
    CrmRecord, Directory, ObjectKind, attr, default_free_mail, parse_time_ms, record_item,
};

/// How an export file is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// Comma-separated with a header row.
    Csv,
    /// One JSON array of objects (or an object whose first array value holds them).
    Json,
    /// One JSON object per line.
    Jsonl,
}

impl ExportFormat {
    /// The format a file name suggests (`.csv`, `.json`, `.jsonl` / `.ndjson`).
    pub fn from_path(path: &Path) -> Option<ExportFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(ExportFormat::Csv),
            "json" => Some(ExportFormat::Json),
            "jsonl" | "ndjson" => Some(ExportFormat::Jsonl),
            _ => None,
        }
    }
}

/// Mapping targets besides the attributes of [`attr`].
pub mod target {
    /// The record id (required).
    pub const ID: &str = "id";
    /// Last modification (RFC 3339, a date, or epoch seconds/milliseconds); the version.
    pub const UPDATED_AT: &str = "updated_at";
    /// The record's own time (an engagement's time).
    pub const TIMESTAMP: &str = "timestamp";
    /// Associated company id(s).
    pub const COMPANY_ID: &str = "company_id";
    /// Associated contact id(s).
    pub const CONTACT_IDS: &str = "contact_ids";
    /// Associated deal id(s).
    pub const DEAL_ID: &str = "deal_id";
    /// Prefix of extra fields shown as they are: `extra.region`.
    pub const EXTRA_PREFIX: &str = "extra.";
}

/// Names a mapping may target.
pub const MAPPING_TARGETS: &[&str] = &[
    target::ID,
    target::UPDATED_AT,
    target::TIMESTAMP,
    target::COMPANY_ID,
    target::CONTACT_IDS,
    target::DEAL_ID,
    attr::NAME,
    attr::FIRST_NAME,
    attr::LAST_NAME,
    attr::EMAIL,
    attr::PHONE,
    attr::JOB_TITLE,
    attr::COMPANY_NAME,
    attr::DOMAIN,
    attr::INDUSTRY,
    attr::STAGE,
    attr::AMOUNT,
    attr::CLOSE_DATE,
    attr::PIPELINE,
    attr::OWNER_EMAIL,
    attr::OWNER_NAME,
    attr::SUBJECT,
    attr::BODY,
    attr::STATUS,
    attr::URL,
];

/// Whether `name` is a valid mapping target.
pub fn is_mapping_target(name: &str) -> bool {
    MAPPING_TARGETS.contains(&name)
        || name
            .strip_prefix(target::EXTRA_PREFIX)
            .is_some_and(|rest| !rest.is_empty())
}

/// One export file and its mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFile {
    pub path: PathBuf,
    pub object: ObjectKind,
    pub format: ExportFormat,
    /// Target → source: a CSV column, a JSON key, or a JSON pointer (`/owner/email`).
    /// Targets not mapped here are read from a column/key of the same name.
    pub fields: Vec<(String, String)>,
}

impl ExportFile {
    pub fn new(path: impl Into<PathBuf>, object: ObjectKind) -> Self {
        let path = path.into();
        let format = ExportFormat::from_path(&path).unwrap_or(ExportFormat::Jsonl);
        ExportFile {
            path,
            object,
            format,
            fields: Vec::new(),
        }
    }
}

/// Options of an [`ExportConnector`].
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub files: Vec<ExportFile>,
    pub watch: bool,
    pub debounce: Duration,
    /// Items per batch.
    pub batch_size: usize,
    pub free_mail_domains: Vec<String>,
    /// Files larger than this are skipped with an error.
    pub max_file_size: u64,
}

impl ExportOptions {
    pub fn new(files: Vec<ExportFile>) -> Self {
        ExportOptions {
            files,
            watch: true,
            debounce: Duration::from_millis(300),
            batch_size: 500,
            free_mail_domains: default_free_mail(),
            max_file_size: 512 * 1024 * 1024,
        }
    }
}

/// A row of any format: a JSON object (CSV rows become objects of strings).
pub type Row = serde_json::Map<String, Value>;

/// Reads the rows of one file. Bad lines are counted, logged and skipped.
fn read_rows(file: &ExportFile, max_size: u64) -> Result<(Vec<Row>, usize), CrmError> {
    let io = |source| CrmError::Io {
        path: file.path.clone(),
        source,
    };
    let size = std::fs::metadata(&file.path).map_err(io)?.len();
    if size > max_size {
        return Err(CrmError::Config(format!(
            "{} is larger than {max_size} bytes",
            file.path.display()
        )));
    }
    let bytes = std::fs::read(&file.path).map_err(io)?;
    let text = String::from_utf8_lossy(&bytes);
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut rows = Vec::new();
    let mut bad = 0;
    match file.format {
        ExportFormat::Jsonl => {
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                match serde_json::from_str::<Value>(line) {
                    Ok(Value::Object(row)) => rows.push(row),
                    Ok(_) => {
                        bad += 1;
                        tracing::warn!(path = %file.path.display(), line = n + 1, "crm export line is not a json object, skipped");
                    }
                    Err(e) => {
                        bad += 1;
                        tracing::warn!(path = %file.path.display(), line = n + 1, error = %e, "crm export line is not json, skipped");
                    }
                }
            }
        }
        ExportFormat::Json => match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(values)) => collect_objects(values, &mut rows, &mut bad),
            Ok(Value::Object(map)) => {
                // `{"results": [...]}` and similar wrappers.
                match map.into_iter().find_map(|(_, v)| match v {
                    Value::Array(a) => Some(a),
                    _ => None,
                }) {
                    Some(values) => collect_objects(values, &mut rows, &mut bad),
                    None => bad += 1,
                }
            }
            Ok(_) => bad += 1,
            Err(e) => {
                bad += 1;
                tracing::warn!(path = %file.path.display(), error = %e, "crm export file is not json");
            }
        },
        ExportFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .flexible(true)
                .from_reader(text.as_bytes());
            let headers: Vec<String> = match reader.headers() {
                Ok(h) => h.iter().map(|s| s.trim().to_owned()).collect(),
                Err(e) => {
                    return Err(CrmError::Config(format!(
                        "{}: no CSV header row: {e}",
                        file.path.display()
                    )));
                }
            };
            for (n, record) in reader.records().enumerate() {
                match record {
                    Ok(record) => {
                        let mut row = Row::new();
                        for (header, value) in headers.iter().zip(record.iter()) {
                            row.insert(header.clone(), Value::String(value.to_owned()));
                        }
                        rows.push(row);
                    }
                    Err(e) => {
                        bad += 1;
                        tracing::warn!(path = %file.path.display(), row = n + 2, error = %e, "crm export row unreadable, skipped");
                    }
                }
            }
        }
    }
    Ok((rows, bad))
}

fn collect_objects(values: Vec<Value>, rows: &mut Vec<Row>, bad: &mut usize) {
    for value in values {
        match value {
            Value::Object(row) => rows.push(row),
            _ => *bad += 1,
        }
    }
}

/// The value of `source` in a row: a JSON pointer when it starts with `/`, else a key.
pub(crate) fn lookup<'a>(row: &'a Row, source: &str) -> Option<&'a Value> {
    if let Some(pointer) = source.strip_prefix('/') {
        let (first, rest) = pointer.split_once('/').unwrap_or((pointer, ""));
        let value = row.get(&first.replace("~1", "/").replace("~0", "~"))?;
        if rest.is_empty() {
            Some(value)
        } else {
            value.pointer(&format!("/{rest}"))
        }
    } else {
        row.get(source)
    }
}

/// A scalar as text; arrays and objects are not scalars.
pub(crate) fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Ids from a scalar, an array, or a `;`/`,`-separated CSV cell.
fn ids(value: &Value) -> Vec<String> {
    match value {
        Value::Array(values) => values.iter().filter_map(scalar).collect(),
        other => scalar(other)
            .map(|s| {
                s.split([';', ','])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Maps one row onto a record; `None` (logged) without an id.
pub fn map_row(file: &ExportFile, row: &Row) -> Option<CrmRecord> {
    map_fields(file.object, &file.fields, row)
}

/// Maps a JSON object onto a record of `kind` with a target → source mapping (sources are keys
/// or JSON pointers; unmapped targets are read from a key of their own name).
pub fn map_fields(kind: ObjectKind, fields: &[(String, String)], row: &Row) -> Option<CrmRecord> {
    let source_of = |target: &str| -> String {
        fields
            .iter()
            .find(|(t, _)| t == target)
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| target.to_owned())
    };
    let id = lookup(row, &source_of(target::ID)).and_then(scalar)?;
    let mut record = CrmRecord::new(kind, id);
    for name in MAPPING_TARGETS {
        let Some(value) = lookup(row, &source_of(name)) else {
            continue;
        };
        match *name {
            target::ID => {}
            target::UPDATED_AT => {
                if let Some(text) = scalar(value) {
                    record.updated_ms = parse_time_ms(&text);
                    record.version = text;
                }
            }
            target::TIMESTAMP => {
                record.timestamp_ms = scalar(value).and_then(|t| parse_time_ms(&t))
            }
            target::COMPANY_ID => {
                for id in ids(value) {
                    record.associate(ObjectKind::Company, id);
                }
            }
            target::CONTACT_IDS => {
                for id in ids(value) {
                    record.associate(ObjectKind::Contact, id);
                }
            }
            target::DEAL_ID => {
                for id in ids(value) {
                    record.associate(ObjectKind::Deal, id);
                }
            }
            attr::CLOSE_DATE => {
                if let Some(text) = scalar(value) {
                    let shown = match parse_time_ms(&text)
                        .and_then(chrono::DateTime::from_timestamp_millis)
                    {
                        Some(dt) if text.len() > 10 => dt.format("%Y-%m-%d").to_string(),
                        _ => text,
                    };
                    record.set(name, shown);
                }
            }
            other => {
                if let Some(text) = scalar(value) {
                    record.set(other, text);
                }
            }
        }
    }
    // Singular/plural spellings of the association columns, when not mapped explicitly.
    for (alias, kind) in [
        ("company_ids", ObjectKind::Company),
        ("contact_id", ObjectKind::Contact),
        ("deal_ids", ObjectKind::Deal),
    ] {
        if !fields.iter().any(|(_, s)| s == alias)
            && let Some(value) = row.get(alias)
        {
            for id in ids(value) {
                record.associate(kind, id);
            }
        }
    }
    for (target_name, source) in fields {
        if let Some(extra) = target_name.strip_prefix(target::EXTRA_PREFIX)
            && let Some(text) = lookup(row, source).and_then(scalar)
        {
            record.extra.push((extra.to_owned(), text));
        }
    }
    Some(record)
}

/// What one full read of the files found.
struct Snapshot {
    records: Vec<CrmRecord>,
    /// Object types whose files were all read cleanly: only these may delete.
    complete: HashSet<ObjectKind>,
}

fn read_all(opts: &ExportOptions) -> Snapshot {
    let mut records = Vec::new();
    let mut incomplete = HashSet::new();
    for file in &opts.files {
        match read_rows(file, opts.max_file_size) {
            Ok((rows, bad)) => {
                if bad > 0 {
                    incomplete.insert(file.object);
                }
                for row in &rows {
                    match map_row(file, row) {
                        Some(mut record) => {
                            if record.version.is_empty() {
                                record.version = row_hash(row);
                            }
                            records.push(record);
                        }
                        None => {
                            incomplete.insert(file.object);
                            tracing::warn!(path = %file.path.display(), "crm export row without an id, skipped");
                        }
                    }
                }
            }
            Err(e) => {
                incomplete.insert(file.object);
                tracing::warn!(path = %file.path.display(), error = %e, "crm export file unreadable, its records are kept");
            }
        }
    }
    let complete = opts
        .files
        .iter()
        .map(|f| f.object)
        .filter(|k| !incomplete.contains(k))
        .collect();
    Snapshot { records, complete }
}

fn row_hash(row: &Row) -> String {
    let text = serde_json::to_string(row).unwrap_or_default();
    let hash = blake3::hash(text.as_bytes());
    format!("h:{}", &hash.to_hex()[..16])
}

struct Watch {
    notify: tokio::sync::Notify,
    dirty: std::sync::atomic::AtomicBool,
    paths: Vec<PathBuf>,
}

impl Watch {
    fn handle(&self, result: DebounceEventResult) {
        let relevant = match result {
            Ok(events) => events.iter().any(|e| {
                e.event
                    .paths
                    .iter()
                    .any(|p| self.paths.iter().any(|w| w == p))
            }),
            Err(_) => true,
        };
        if relevant {
            self.dirty.store(true, std::sync::atomic::Ordering::SeqCst);
            self.notify.notify_one();
        }
    }
}

/// CRM export files as a connector.
pub struct ExportConnector {
    opts: Arc<ExportOptions>,
    plan: VecDeque<Change>,
    planned: bool,
    watch: Arc<Watch>,
    watcher: Option<Debouncer<notify::RecommendedWatcher, RecommendedCache>>,
}

enum Change {
    Upsert(Box<Item>),
    Delete(String),
}

impl ExportConnector {
    pub fn new(mut opts: ExportOptions) -> Result<Self, CrmError> {
        if opts.files.is_empty() {
            return Err(CrmError::Config("no export files configured".into()));
        }
        for file in &mut opts.files {
            file.path = std::path::absolute(&file.path).map_err(|source| CrmError::Io {
                path: file.path.clone(),
                source,
            })?;
        }
        opts.batch_size = opts.batch_size.max(1);
        let watch = Arc::new(Watch {
            notify: tokio::sync::Notify::new(),
            dirty: std::sync::atomic::AtomicBool::new(false),
            paths: opts.files.iter().map(|f| f.path.clone()).collect(),
        });
        Ok(ExportConnector {
            opts: Arc::new(opts),
            plan: VecDeque::new(),
            planned: false,
            watch,
            watcher: None,
        })
    }

    fn start_watching(&mut self) {
        if !self.opts.watch || self.watcher.is_some() {
            return;
        }
        let handler = Arc::clone(&self.watch);
        match new_debouncer(self.opts.debounce, None, move |r| handler.handle(r)) {
            Ok(mut debouncer) => {
                let mut dirs: Vec<&Path> = self
                    .opts
                    .files
                    .iter()
                    .filter_map(|f| f.path.parent())
                    .collect();
                dirs.sort();
                dirs.dedup();
                for dir in dirs {
                    if let Err(e) = debouncer.watch(dir, RecursiveMode::NonRecursive) {
                        tracing::warn!(path = %dir.display(), reason = %e, "cannot watch crm export folder");
                    }
                }
                self.watcher = Some(debouncer);
            }
            Err(e) => tracing::warn!(reason = %e, "cannot start crm export watcher"),
        }
    }
}

/// Builds the changes of a pass: items that differ from the store, and tombstones.
fn plan_pass(opts: &ExportOptions, known: &HashMap<String, Option<String>>) -> Vec<Change> {
    let snapshot = read_all(opts);
    let mut directory = Directory::default();
    for record in &snapshot.records {
        directory.insert(
            record.object(),
            &record.id,
            record.summary(&opts.free_mail_domains),
        );
    }
    let mut changes = Vec::new();
    let mut present = HashSet::new();
    for record in &snapshot.records {
        let ext = record.external_id();
        if !present.insert(ext.clone()) {
            tracing::warn!(external_id = %ext, "crm export record appears twice, the first is kept");
            continue;
        }
        let locator = opts
            .files
            .iter()
            .find(|f| f.object == record.object())
            .map(|f| format!("file://{}#{}", f.path.display(), record.id))
            .unwrap_or_default();
        let mut item = record_item(record, &directory, &opts.free_mail_domains, locator);
        // The version covers what the item shows of its associations too, so a renamed
        // company re-renders the deals that name it.
        item.version = Some(format!("{}|{}", record.version, associations_hash(&item)));
        if known.get(&ext).and_then(|v| v.as_deref()) != item.version.as_deref() {
            changes.push(Change::Upsert(Box::new(item)));
        }
    }
    let mut vanished: Vec<&String> = known
        .keys()
        .filter(|ext| !present.contains(*ext))
        .filter(|ext| {
            ext.split_once('/')
                .and_then(|(kind, _)| ObjectKind::parse(kind))
                .is_some_and(|k| snapshot.complete.contains(&k))
        })
        .collect();
    vanished.sort();
    changes.extend(vanished.into_iter().map(|e| Change::Delete(e.clone())));
    changes
}

fn associations_hash(item: &Item) -> String {
    let text =
        serde_json::to_string(&(&item.people, &item.organizations, &item.body)).unwrap_or_default();
    blake3::hash(text.as_bytes()).to_hex()[..12].to_owned()
}

#[async_trait::async_trait]
impl Connector for ExportConnector {
    fn type_name(&self) -> &'static str {
        "crm_export"
    }

    async fn pull(
        &mut self,
        _cursor: Option<&Cursor>,
        ctx: &SyncContext,
    ) -> Result<Batch, ConnectorError> {
        self.start_watching();
        if !self.planned {
            self.watch
                .dirty
                .store(false, std::sync::atomic::Ordering::SeqCst);
            let opts = Arc::clone(&self.opts);
            let known = ctx.known.versions()?;
            let changes = tokio::task::spawn_blocking(move || plan_pass(&opts, &known))
                .await
                .map_err(|e| ConnectorError::transient("crm export read failed").with_source(e))?;
            self.plan = changes.into();
            self.planned = true;
        }
        let mut batch = Batch::default();
        while batch.upserts.len() + batch.deletes.len() < self.opts.batch_size {
            match self.plan.pop_front() {
                Some(Change::Upsert(item)) => batch.upserts.push(*item),
                Some(Change::Delete(ext)) => batch.deletes.push(ext),
                None => break,
            }
        }
        batch.has_more = !self.plan.is_empty();
        if !batch.has_more {
            self.planned = false;
        }
        // The store remembers what it holds; the cursor only marks that a pass completed.
        batch.cursor = Some(Cursor("crm-export-v1".into()));
        Ok(batch)
    }

    async fn wait_for_change(&mut self) -> Result<Wake, ConnectorError> {
        if !self.opts.watch {
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
