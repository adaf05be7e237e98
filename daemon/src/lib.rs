//! `ctxd`, the ctx daemon: the only crate that wires configuration, connectors, the store, the
//! search projection and the gRPC API together.
//!
//! Data flow: each enabled connector runs in its own task ([`runner`]), pulling batches that are
//! prepared (hashed, chunked, token-counted) on blocking threads and committed with their cursor
//! by the store's single writer thread ([`engine`]). Every commit wakes the projector thread,
//! which replays the store's change log into tantivy. gRPC calls ([`service`]) read the store and
//! the index on blocking threads; nothing blocking runs on the async runtime's workers.
//!
//! What it must never do: log secrets, listen on anything but a 0600 Unix socket or a loopback
//! port guarded by a token, or let one connector's failure stop the others.

pub mod connectors;
mod connectors_crm;
pub mod embedding;
pub mod engine;
mod priority;
pub mod runner;
pub mod server;
pub mod service;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use ctx_config::{Config, ConfigError};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::engine::{ConnectorRuntime, Engine, RunState};
use crate::service::ContextApi;

/// Errors of the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] ctx_store::StoreError),
    #[error(transparent)]
    Search(#[from] ctx_search::SearchError),
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error(
        "another ctxd is already serving on {0}; stop it first or choose another socket with --socket / CTX_SOCKET"
    )]
    AlreadyRunning(PathBuf),
    #[error("cannot read the TCP token: {0}")]
    Token(String),
    #[error("the daemon is shutting down")]
    Stopped,
    #[error("{0}")]
    Internal(String),
}

/// A daemon running in this process: its API is being served and its connectors run.
pub struct RunningDaemon {
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    engine: Arc<Engine>,
    socket: PathBuf,
}

impl RunningDaemon {
    /// The Unix socket it serves on.
    pub fn socket(&self) -> &std::path::Path {
        &self.socket
    }

    /// The engine, for in-process callers (benchmarks, the demo).
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Resolves when every task ended on its own (normally only after shutdown).
    pub async fn join_tasks(&mut self) {
        while self.tasks.join_next().await.is_some() {}
    }

    /// Stops serving, stops connectors, drains pending writes and brings the index up to date.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        self.join_tasks().await;
        let engine = self.engine.clone();
        let _ = tokio::task::spawn_blocking(move || engine.close()).await;
        let _ = std::fs::remove_file(&self.socket);
        tracing::info!("ctxd stopped");
    }
}

/// Starts the daemon for `config`. `bad_connectors` are connector files that failed to load:
/// they are reported and their stored data is kept (a typo must never wipe a mailbox).
pub async fn start(
    config: Config,
    bad_connectors: Vec<ConfigError>,
) -> Result<RunningDaemon, DaemonError> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let data_dir = config.daemon.data_dir.clone();
    let budget = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    let (default_budget, max_budget) = (
        budget(config.retrieval.default_budget),
        budget(config.retrieval.max_budget),
    );
    let engine_rx = shutdown_rx.clone();
    let free_mail = config.daemon.free_mail_domains.clone();
    let embeddings = config.embeddings.clone();
    let engine = tokio::task::spawn_blocking(move || {
        Engine::open_with_free_mail(
            &data_dir,
            default_budget,
            max_budget,
            &free_mail,
            engine_rx,
            embeddings,
        )
    })
    .await
    .map_err(|e| DaemonError::Internal(format!("opening the store failed: {e}")))??;

    // Bind before starting connectors, so a second daemon fails fast and touches nothing.
    let unix = server::bind_unix(&config.daemon.socket).await?;
    let tcp = match config.daemon.listen {
        Some(addr) => {
            let secret = config.daemon.token.as_ref().ok_or_else(|| {
                DaemonError::Token("`listen` is set but neither token_command nor token_env".into())
            })?;
            let token = secret
                .resolve()
                .map_err(|e| DaemonError::Token(e.to_string()))?;
            let listener =
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|e| DaemonError::Io {
                        what: format!("bind {addr}"),
                        source: e,
                    })?;
            Some((listener, server::TokenCheck::new(token)))
        }
        None => None,
    };

    let failed: HashSet<String> = bad_connectors
        .iter()
        .filter_map(|e| e.path.as_deref())
        .filter_map(|p| p.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .collect();
    for error in &bad_connectors {
        tracing::error!(error = %error, "connector not started: configuration error");
    }
    // Sources whose configuration file was removed: their items go (as tombstones).
    let configured: HashSet<&str> = config.connectors.iter().map(|c| c.name.as_str()).collect();
    let mut removed_any = false;
    for stats in engine.reader.source_stats()? {
        if !configured.contains(stats.name.as_str()) && !failed.contains(&stats.name) {
            let n = engine.remove_source(&stats.name).await?;
            removed_any = true;
            tracing::info!(connector = %stats.name, items = n, "connector removed from configuration; its items were deleted");
        }
    }
    if removed_any {
        // Serve no stale hits: apply the removals to the index before the first call.
        let e = engine.clone();
        tokio::task::spawn_blocking(move || e.index.catch_up(&e.reader, false))
            .await
            .map_err(|e| DaemonError::Internal(format!("index update failed: {e}")))??;
    }

    let mut tasks = JoinSet::new();
    if config.connectors.is_empty() && bad_connectors.is_empty() {
        tracing::info!(
            dir = %config.connectors_dir.display(),
            "no connectors configured; add one as connectors.d/NAME.toml (see `ctx config init`)"
        );
    }
    for cfg in config.enabled_connectors() {
        let type_name = cfg.settings.type_name();
        engine.register_source(&cfg.name, type_name)?;
        let runtime = ConnectorRuntime {
            type_name: type_name.to_string(),
            state: RunState::Starting,
            progress_done: 0,
            progress_total: 0,
            passes: 0,
            last_error: None,
            last_error_ms: None,
            problems: Vec::new(),
            trigger: Arc::new(Notify::new()),
        };
        if let Ok(mut map) = engine.runtimes.lock() {
            map.insert(cfg.name.clone(), runtime);
        }
        match connectors::build(cfg) {
            Ok(connector) => {
                tracing::info!(connector = %cfg.name, r#type = type_name, "starting connector");
                tasks.spawn(runner::run_connector(
                    engine.clone(),
                    cfg.name.clone(),
                    connector,
                    cfg.poll_interval,
                ));
            }
            Err(message) => {
                tracing::error!(connector = %cfg.name, error = %message, "cannot start connector");
                engine.update_runtime(&cfg.name, |rt| {
                    rt.state = RunState::Error;
                    rt.last_error = Some(message.clone());
                    rt.last_error_ms = Some(engine::now_ms());
                });
            }
        }
    }

    let api = ContextApi::new(engine.clone());
    let socket = config.daemon.socket.clone();
    {
        let mut rx = shutdown_rx.clone();
        let api = api.clone();
        tasks.spawn(async move {
            let stop = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            if let Err(e) = server::serve_unix(unix, api, stop).await {
                tracing::error!(error = %e, "unix socket server failed");
            }
        });
    }
    tracing::info!(socket = %socket.display(), "serving on unix socket (mode 0600)");
    if let Some((listener, token)) = tcp {
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let mut rx = shutdown_rx.clone();
        tasks.spawn(async move {
            let stop = async move {
                let _ = rx.wait_for(|s| *s).await;
            };
            if let Err(e) = server::serve_tcp(listener, api, token, stop).await {
                tracing::error!(error = %e, "tcp server failed");
            }
        });
        tracing::info!(addr = %addr, "serving on loopback tcp (bearer token required)");
    }
    Ok(RunningDaemon {
        shutdown: shutdown_tx,
        tasks,
        engine,
        socket,
    })
}
