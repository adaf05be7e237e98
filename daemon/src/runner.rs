//! Drives one connector: pull batches until the pass is done, commit each with its cursor, then
//! wait for the source (or a `Sync` request), with backoff on errors.

use std::sync::Arc;
use std::time::Duration;

use ctx_connector_api::{Connector, ConnectorError, ErrorKind, KnownState, SyncContext, Wake};
use ctx_store::StoreReader;
use tracing::Instrument;

use crate::engine::{Engine, RunState};

/// What the store knows of one source, as connectors see it.
struct StoreKnownState {
    reader: Arc<StoreReader>,
    source: String,
}

impl KnownState for StoreKnownState {
    fn versions(
        &self,
    ) -> Result<std::collections::HashMap<String, Option<String>>, ConnectorError> {
        self.reader.known_versions(&self.source).map_err(|e| {
            ConnectorError::transient(format!("cannot read known items from the store: {e}"))
        })
    }
}

const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
const AUTH_WAIT: Duration = Duration::from_secs(15 * 60);
const CONFIG_ERROR_WAIT: Duration = Duration::from_secs(30 * 24 * 3600);
/// Problems of one pass kept for `ctx status` at most.
const MAX_PROBLEMS_SHOWN: usize = 20;

/// Runs a connector until the daemon shuts down.
pub async fn run_connector(
    engine: Arc<Engine>,
    name: String,
    mut connector: Box<dyn Connector>,
    poll_interval: Duration,
) {
    let span = tracing::info_span!("connector", name = %name, r#type = connector.type_name());
    async move {
        let trigger = match engine.runtimes.lock() {
            Ok(map) => map.get(&name).map(|rt| rt.trigger.clone()),
            Err(_) => None,
        };
        let Some(trigger) = trigger else { return };
        let mut shutdown = engine.shutdown.clone();
        let ctx = SyncContext {
            known: Arc::new(StoreKnownState {
                reader: engine.reader.clone(),
                source: name.clone(),
            }),
        };
        let mut backoff = MIN_BACKOFF;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let wait = match sync_pass(&engine, &name, connector.as_mut(), &ctx).await {
                Ok(stats) => {
                    backoff = MIN_BACKOFF;
                    engine.record_success(&name);
                    let mut problems = connector.take_problems();
                    problems.truncate(MAX_PROBLEMS_SHOWN);
                    if !problems.is_empty() {
                        tracing::warn!(count = problems.len(), first = %problems[0], "sync pass done with problems");
                    }
                    engine.update_runtime(&name, |rt| {
                        rt.state = RunState::Idle;
                        rt.passes += 1;
                        rt.progress_done = rt.progress_total;
                        rt.last_error = None;
                        rt.last_error_ms = None;
                        rt.problems = problems;
                    });
                    if stats.changed > 0 || stats.deleted > 0 {
                        tracing::info!(
                            batches = stats.batches,
                            changed = stats.changed,
                            deleted = stats.deleted,
                            unchanged = stats.unchanged,
                            "sync pass done"
                        );
                    } else {
                        tracing::debug!(batches = stats.batches, "sync pass found nothing new");
                    }
                    None
                }
                Err(PassError::Shutdown) => break,
                Err(PassError::Connector(e)) => {
                    let message = e.to_string();
                    engine.record_failure(&name, &message);
                    let had_cursor = engine.reader.cursor(&name).ok().flatten().is_some();
                    if e.kind == ErrorKind::CursorExpired && had_cursor {
                        // The source forgot our position: start a full pass right away.
                        tracing::info!(error = %message, "cursor expired; starting a full resync");
                        match engine.reset_cursor(&name).await {
                            Ok(()) => continue,
                            Err(err) => tracing::error!(error = %err, "cannot reset cursor"),
                        }
                    }
                    let (state, wait) = match e.kind {
                        ErrorKind::Transient | ErrorKind::CursorExpired => {
                            let wait = e.retry_after.unwrap_or(backoff);
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                            (RunState::Backoff, Some(wait))
                        }
                        ErrorKind::Auth => (RunState::AuthError, Some(AUTH_WAIT)),
                        ErrorKind::Config => (RunState::Error, None),
                        ErrorKind::Permanent => {
                            let wait = backoff;
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                            (RunState::Error, Some(wait))
                        }
                    };
                    tracing::warn!(
                        error = %message,
                        kind = ?e.kind,
                        retry_in_s = wait.map(|w| w.as_secs()),
                        "sync failed"
                    );
                    engine.update_runtime(&name, |rt| {
                        rt.state = state;
                        rt.last_error = Some(message.clone());
                        rt.last_error_ms = Some(crate::engine::now_ms());
                    });
                    match wait {
                        Some(w) => Some(w),
                        // A configuration problem will not fix itself: wait for `ctx sync`.
                        None => Some(CONFIG_ERROR_WAIT),
                    }
                }
            };
            // Wait for the source, a Sync request, the poll interval, a retry, or shutdown.
            let woke = match wait {
                Some(delay) => {
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => true,
                        _ = trigger.notified() => true,
                        _ = shutdown.changed() => false,
                    }
                }
                None => {
                    tokio::select! {
                        r = connector.wait_for_change() => match r {
                            Ok(Wake::Changed) => true,
                            Ok(Wake::Never) => {
                                tokio::select! {
                                    _ = tokio::time::sleep(poll_interval) => true,
                                    _ = trigger.notified() => true,
                                    _ = shutdown.changed() => false,
                                }
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "waiting for changes failed; polling instead");
                                tokio::select! {
                                    _ = tokio::time::sleep(poll_interval.min(MAX_BACKOFF)) => true,
                                    _ = trigger.notified() => true,
                                    _ = shutdown.changed() => false,
                                }
                            }
                        },
                        _ = tokio::time::sleep(poll_interval) => true,
                        _ = trigger.notified() => true,
                        _ = shutdown.changed() => false,
                    }
                }
            };
            if !woke || *shutdown.borrow() {
                break;
            }
        }
        engine.update_runtime(&name, |rt| rt.state = RunState::Stopped);
        tracing::debug!("connector stopped");
    }
    .instrument(span)
    .await
}

#[derive(Debug, Default)]
struct PassStats {
    batches: u64,
    changed: u64,
    deleted: u64,
    unchanged: u64,
}

enum PassError {
    Connector(ConnectorError),
    Shutdown,
}

impl From<ConnectorError> for PassError {
    fn from(e: ConnectorError) -> Self {
        PassError::Connector(e)
    }
}

/// Pulls and commits until the connector has nothing more.
async fn sync_pass(
    engine: &Arc<Engine>,
    name: &str,
    connector: &mut dyn Connector,
    ctx: &SyncContext,
) -> Result<PassStats, PassError> {
    engine.update_runtime(name, |rt| rt.state = RunState::Syncing);
    let mut stats = PassStats::default();
    let mut shutdown = engine.shutdown.clone();
    loop {
        if *shutdown.borrow() {
            return Err(PassError::Shutdown);
        }
        let cursor = engine
            .reader
            .cursor(name)
            .map_err(|e| ConnectorError::transient(format!("cannot read cursor: {e}")))?;
        let batch = tokio::select! {
            b = connector.pull(cursor.as_ref(), ctx) => b?,
            _ = shutdown.changed() => return Err(PassError::Shutdown),
        };
        let has_more = batch.has_more;
        if let Some(p) = batch.progress {
            engine.update_runtime(name, |rt| {
                rt.progress_done = p.done;
                rt.progress_total = p.total;
            });
        }
        if batch.is_empty() && batch.cursor.is_none() {
            if has_more {
                continue;
            }
            return Ok(stats);
        }
        let counter = engine.counter;
        let source = name.to_string();
        let _busy = engine.activity.sync();
        let prepared =
            tokio::task::spawn_blocking(move || ctx_store::prepare_batch(&source, batch, &counter))
                .await
                .map_err(|e| ConnectorError::permanent(format!("preparing a batch failed: {e}")))?;
        let commit = engine
            .commit(name, cursor, prepared)
            .await
            .map_err(|e| ConnectorError::transient(format!("cannot commit batch: {e}")))?;
        stats.batches += 1;
        stats.changed += commit.inserted + commit.updated;
        stats.deleted += commit.deleted;
        stats.unchanged += commit.unchanged;
        if !has_more {
            return Ok(stats);
        }
    }
}
