//! The engine: the store's single writer thread, the search projection's thread, and the
//! per-connector runtime state that `Status` reports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use ctx_connector_api::Cursor;
use ctx_search::{OpenState, SearchIndex};
use ctx_store::{CommitStats, PreparedBatch, Store, StoreError, StoreReader, TokenCounter};
use tokio::sync::{Notify, oneshot, watch};

use crate::DaemonError;
use crate::embedding::{Activity, Semantic};

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

enum WriteCmd {
    Register {
        name: String,
        type_name: String,
    },
    Commit {
        source: String,
        expected: Option<Cursor>,
        batch: PreparedBatch,
        reply: oneshot::Sender<Result<CommitStats, StoreError>>,
    },
    Success {
        source: String,
        at_ms: i64,
    },
    Failure {
        source: String,
        at_ms: i64,
        message: String,
    },
    RemoveSource {
        source: String,
        reply: oneshot::Sender<Result<u64, StoreError>>,
    },
    ResetCursor {
        source: String,
        reply: oneshot::Sender<Result<(), StoreError>>,
    },
    Shutdown,
}

/// What a connector is doing right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Starting,
    Syncing,
    Idle,
    Backoff,
    AuthError,
    Error,
    Stopped,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Starting => "starting",
            RunState::Syncing => "syncing",
            RunState::Idle => "idle",
            RunState::Backoff => "backoff",
            RunState::AuthError => "auth_error",
            RunState::Error => "error",
            RunState::Stopped => "stopped",
        }
    }
}

/// Runtime state of one configured connector.
#[derive(Debug, Clone)]
pub struct ConnectorRuntime {
    pub type_name: String,
    pub state: RunState,
    pub progress_done: u64,
    pub progress_total: u64,
    pub passes: u64,
    pub last_error: Option<String>,
    pub last_error_ms: Option<i64>,
    /// What went wrong in the last successful pass without failing it.
    pub problems: Vec<String>,
    pub trigger: Arc<Notify>,
}

/// Shared state of a running daemon.
pub struct Engine {
    writes: Mutex<mpsc::Sender<WriteCmd>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    projector_wake: Mutex<mpsc::Sender<bool>>,
    projector_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub reader: Arc<StoreReader>,
    pub index: Arc<SearchIndex>,
    pub counter: TokenCounter,
    pub runtimes: Mutex<BTreeMap<String, ConnectorRuntime>>,
    pub data_dir: PathBuf,
    pub started_ms: i64,
    pub default_budget: u32,
    pub max_budget: u32,
    /// Flips to true when the daemon is shutting down.
    pub shutdown: watch::Receiver<bool>,
    /// Semantic search: the embedding worker and the vector matrix (off without a model).
    pub semantic: Arc<Semantic>,
    /// Syncs and queries in flight, which the embedding worker yields to.
    pub activity: Arc<Activity>,
}

impl Engine {
    /// Opens the store and the index in `data_dir`, rebuilding the index when needed, and starts
    /// the writer and projector threads.
    pub fn open(
        data_dir: &Path,
        default_budget: u32,
        max_budget: u32,
        shutdown: watch::Receiver<bool>,
        embeddings: ctx_config::EmbeddingsConfig,
    ) -> Result<Arc<Engine>, DaemonError> {
        Self::open_with_free_mail(
            data_dir,
            default_budget,
            max_budget,
            &[],
            shutdown,
            embeddings,
        )
    }

    /// [`Engine::open`] with extra mail domains that never name an organisation (the
    /// `[entities] free_mail_domains` of the main config), added to the built-in list.
    pub fn open_with_free_mail(
        data_dir: &Path,
        default_budget: u32,
        max_budget: u32,
        extra_free_mail: &[String],
        shutdown: watch::Receiver<bool>,
        embeddings: ctx_config::EmbeddingsConfig,
    ) -> Result<Arc<Engine>, DaemonError> {
        std::fs::create_dir_all(data_dir).map_err(|e| DaemonError::Io {
            what: format!("create data directory {}", data_dir.display()),
            source: e,
        })?;
        let mut store = Store::open(&ctx_store::database_path(data_dir))?;
        if !extra_free_mail.is_empty() {
            let mut domains: Vec<String> = ctx_store::DEFAULT_FREE_MAIL_DOMAINS
                .iter()
                .map(|d| d.to_string())
                .collect();
            domains.extend(extra_free_mail.iter().cloned());
            store.set_free_mail_domains(domains);
        }
        let reader = Arc::new(store.reader()?);
        let index_dir = data_dir.join("index");
        let (index, state) = SearchIndex::open(&index_dir)?;
        let index = Arc::new(index);
        let rebuild = match &state {
            OpenState::Existing => false,
            OpenState::Fresh { reason } => {
                tracing::info!(dir = %index_dir.display(), reason = %reason, "building search index from the store");
                true
            }
        };
        let started = std::time::Instant::now();
        let applied = index.catch_up(&reader, rebuild)?;
        if applied > 0 {
            tracing::info!(
                items = applied,
                took_ms = started.elapsed().as_millis() as u64,
                "search index caught up with the store"
            );
        }

        let (write_tx, write_rx) = mpsc::channel();
        let (wake_tx, wake_rx) = mpsc::channel::<bool>();
        let writer_wake = wake_tx.clone();
        let writer_index = index.clone();
        let writer_thread = std::thread::Builder::new()
            .name("ctx-store-writer".into())
            .spawn(move || writer_loop(store, write_rx, writer_wake, &writer_index))
            .map_err(|e| DaemonError::Io {
                what: "spawn store writer thread".into(),
                source: e,
            })?;
        let activity = Arc::new(Activity::default());
        let semantic = Semantic::new(embeddings, activity.clone());
        semantic
            .start(reader.clone(), data_dir.to_path_buf())
            .map_err(|e| DaemonError::Io {
                what: "spawn embedding worker thread".into(),
                source: e,
            })?;
        let projector_index = index.clone();
        let projector_reader = reader.clone();
        let projector_semantic = semantic.clone();
        let projector_thread = std::thread::Builder::new()
            .name("ctx-index-projector".into())
            .spawn(move || {
                projector_loop(
                    &projector_index,
                    &projector_reader,
                    wake_rx,
                    &projector_semantic,
                )
            })
            .map_err(|e| DaemonError::Io {
                what: "spawn index projector thread".into(),
                source: e,
            })?;
        Ok(Arc::new(Engine {
            writes: Mutex::new(write_tx),
            writer_thread: Mutex::new(Some(writer_thread)),
            projector_wake: Mutex::new(wake_tx),
            projector_thread: Mutex::new(Some(projector_thread)),
            reader,
            index,
            counter: TokenCounter::new(),
            runtimes: Mutex::new(BTreeMap::new()),
            data_dir: data_dir.to_path_buf(),
            started_ms: now_ms(),
            default_budget,
            max_budget,
            shutdown,
            semantic,
            activity,
        }))
    }

    fn send(&self, cmd: WriteCmd) -> Result<(), DaemonError> {
        self.writes
            .lock()
            .map_err(|_| DaemonError::Stopped)?
            .send(cmd)
            .map_err(|_| DaemonError::Stopped)
    }

    pub fn register_source(&self, name: &str, type_name: &str) -> Result<(), DaemonError> {
        self.send(WriteCmd::Register {
            name: name.to_string(),
            type_name: type_name.to_string(),
        })
    }

    /// Commits a prepared batch and its cursor in one transaction (on the writer thread).
    pub async fn commit(
        &self,
        source: &str,
        expected: Option<Cursor>,
        batch: PreparedBatch,
    ) -> Result<CommitStats, DaemonError> {
        let _busy = self.activity.sync();
        let (reply, rx) = oneshot::channel();
        self.send(WriteCmd::Commit {
            source: source.to_string(),
            expected,
            batch,
            reply,
        })?;
        Ok(rx.await.map_err(|_| DaemonError::Stopped)??)
    }

    pub fn record_success(&self, source: &str) {
        let _ = self.send(WriteCmd::Success {
            source: source.to_string(),
            at_ms: now_ms(),
        });
    }

    pub fn record_failure(&self, source: &str, message: &str) {
        let _ = self.send(WriteCmd::Failure {
            source: source.to_string(),
            at_ms: now_ms(),
            message: message.to_string(),
        });
    }

    /// Tombstones every item of a connector that no longer exists in the configuration.
    pub async fn remove_source(&self, source: &str) -> Result<u64, DaemonError> {
        let (reply, rx) = oneshot::channel();
        self.send(WriteCmd::RemoveSource {
            source: source.to_string(),
            reply,
        })?;
        Ok(rx.await.map_err(|_| DaemonError::Stopped)??)
    }

    /// Forgets a source's cursor so its next pull is a full pass.
    pub async fn reset_cursor(&self, source: &str) -> Result<(), DaemonError> {
        let (reply, rx) = oneshot::channel();
        self.send(WriteCmd::ResetCursor {
            source: source.to_string(),
            reply,
        })?;
        Ok(rx.await.map_err(|_| DaemonError::Stopped)??)
    }

    /// Change-log entries the index has not applied yet.
    pub fn index_lag(&self) -> u64 {
        let head = self.reader.max_seq().unwrap_or(0);
        let applied = self.index.applied_seq().unwrap_or(0);
        (head - applied).max(0) as u64
    }

    /// Updates one connector's runtime state.
    pub fn update_runtime(&self, name: &str, f: impl FnOnce(&mut ConnectorRuntime)) {
        if let Ok(mut map) = self.runtimes.lock()
            && let Some(rt) = map.get_mut(name)
        {
            f(rt);
        }
    }

    /// Stops the writer and projector threads after draining queued writes; the index is
    /// brought fully up to date first.
    pub fn close(&self) {
        self.semantic.close();
        let _ = self.send(WriteCmd::Shutdown);
        if let Some(handle) = self.writer_thread.lock().ok().and_then(|mut h| h.take()) {
            let _ = handle.join();
        }
        if let Ok(wake) = self.projector_wake.lock() {
            let _ = wake.send(true);
        }
        if let Some(handle) = self.projector_thread.lock().ok().and_then(|mut h| h.take()) {
            let _ = handle.join();
        }
    }
}

fn writer_loop(
    mut store: Store,
    rx: mpsc::Receiver<WriteCmd>,
    wake: mpsc::Sender<bool>,
    index: &SearchIndex,
) {
    let mut commits_since_checkpoint = 0u32;
    while let Ok(cmd) = rx.recv() {
        match cmd {
            WriteCmd::Register { name, type_name } => {
                if let Err(e) = store.register_source(&name, &type_name) {
                    tracing::error!(connector = %name, error = %e, "cannot register connector in the store");
                }
            }
            WriteCmd::Commit {
                source,
                expected,
                batch,
                reply,
            } => {
                let result = store.commit_batch(&source, expected.as_ref(), &batch);
                let changed = result
                    .as_ref()
                    .is_ok_and(|s| s.inserted + s.updated + s.deleted > 0);
                let _ = reply.send(result);
                if changed {
                    let _ = wake.send(false);
                    commits_since_checkpoint += 1;
                    if commits_since_checkpoint >= 200 {
                        commits_since_checkpoint = 0;
                        if let Err(e) = store.checkpoint() {
                            tracing::warn!(error = %e, "wal checkpoint failed");
                        }
                        // The change log only feeds the index: what the index has durably
                        // committed is never replayed again (a rebuild reads the items).
                        match index.applied_seq() {
                            Ok(applied) if applied > 0 => match store.prune_changes(applied) {
                                Ok(n) if n > 0 => {
                                    tracing::debug!(
                                        entries = n,
                                        upto = applied,
                                        "pruned change log"
                                    )
                                }
                                Ok(_) => {}
                                Err(e) => tracing::warn!(error = %e, "change log pruning failed"),
                            },
                            _ => {}
                        }
                    }
                }
            }
            WriteCmd::Success { source, at_ms } => {
                if let Err(e) = store.record_success(&source, at_ms) {
                    tracing::warn!(connector = %source, error = %e, "cannot record sync success");
                }
            }
            WriteCmd::Failure {
                source,
                at_ms,
                message,
            } => {
                if let Err(e) = store.record_error(&source, at_ms, &message) {
                    tracing::warn!(connector = %source, error = %e, "cannot record sync error");
                }
            }
            WriteCmd::RemoveSource { source, reply } => {
                let result = store.remove_source(&source);
                if result.is_ok() {
                    let _ = wake.send(false);
                }
                let _ = reply.send(result);
            }
            WriteCmd::ResetCursor { source, reply } => {
                let _ = reply.send(store.reset_cursor(&source));
            }
            WriteCmd::Shutdown => break,
        }
    }
}

fn projector_loop(
    index: &SearchIndex,
    reader: &StoreReader,
    wake: mpsc::Receiver<bool>,
    semantic: &Semantic,
) {
    while let Ok(mut last) = wake.recv() {
        // Coalesce a burst of commits into one catch-up.
        while let Ok(more) = wake.try_recv() {
            last |= more;
        }
        if let Err(e) = index.catch_up(reader, false) {
            tracing::error!(error = %e, "search index update failed; will retry on the next change");
        }
        semantic.notify();
        if last {
            break;
        }
    }
}
