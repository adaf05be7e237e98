//! Debounced file watching shared by the Maildir and mbox connectors.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

/// When watching cannot be set up (inotify limits, a missing path), how often to reconcile instead.
pub(crate) const POLL_FALLBACK_INTERVAL: Duration = Duration::from_secs(60);

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data stays consistent even if a holder panicked: every update is one assignment.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Changed paths reported by the watcher, waiting for the next pull.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    pub paths: BTreeSet<PathBuf>,
    /// Events were lost (queue overflow, watcher error): only a full reconcile is safe.
    pub rescan: bool,
}

/// State shared between a connector and its watcher's callback thread.
#[derive(Default)]
pub(crate) struct WatchShared {
    pub pending: Mutex<Pending>,
    notify: tokio::sync::Notify,
    failed: AtomicBool,
}

impl WatchShared {
    fn handle_events(&self, result: DebounceEventResult) {
        let mut woke = false;
        {
            let mut pending = lock(&self.pending);
            match result {
                Ok(events) => {
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
                            pending.paths.insert(path.clone());
                            woke = true;
                        }
                    }
                }
                Err(errors) => {
                    for error in errors {
                        tracing::warn!(reason = %error, "mail watcher error; will rescan");
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

    /// Takes what the watcher reported so far.
    pub fn take(&self) -> Pending {
        std::mem::take(&mut *lock(&self.pending))
    }

    /// Waits until the watcher reports something; when watching failed, waits
    /// [`POLL_FALLBACK_INTERVAL`] and asks for a full rescan.
    pub async fn wait(&self) {
        loop {
            // Registered before checking, so a notification in between is not lost.
            let notified = self.notify.notified();
            {
                let pending = lock(&self.pending);
                if pending.rescan || !pending.paths.is_empty() {
                    return;
                }
            }
            if self.failed.load(Ordering::SeqCst) {
                tokio::time::sleep(POLL_FALLBACK_INTERVAL).await;
                lock(&self.pending).rescan = true;
                return;
            }
            notified.await;
        }
    }
}

/// A running watcher; dropping it stops watching.
pub(crate) struct Watcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

/// Starts watching `path`; on failure logs once, marks `shared` failed (so waiting falls back to
/// periodic rescans) and returns `None`.
pub(crate) fn start(
    shared: &std::sync::Arc<WatchShared>,
    path: &Path,
    mode: RecursiveMode,
    debounce: Duration,
) -> Option<Watcher> {
    let handler = std::sync::Arc::clone(shared);
    let result = new_debouncer(debounce, None, move |r| handler.handle_events(r)).and_then(
        |mut debouncer| {
            debouncer.watch(path, mode)?;
            Ok(debouncer)
        },
    );
    match result {
        Ok(debouncer) => {
            shared.failed.store(false, Ordering::SeqCst);
            Some(Watcher {
                _debouncer: debouncer,
            })
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), reason = %e, interval = ?POLL_FALLBACK_INTERVAL, "cannot watch mailbox; rescanning periodically instead");
            shared.failed.store(true, Ordering::SeqCst);
            None
        }
    }
}

/// A `file://` URI with every byte outside `A-Z a-z 0-9 - . _ ~ /` percent-encoded.
pub(crate) fn file_uri(path: &Path) -> String {
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

/// Modification time in nanoseconds since the Unix epoch (0 when unknown).
pub(crate) fn mtime_ns(meta: &std::fs::Metadata) -> i128 {
    match meta.modified() {
        Ok(t) => match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i128,
            Err(e) => -(e.duration().as_nanos() as i128),
        },
        Err(_) => 0,
    }
}
