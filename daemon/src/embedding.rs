//! Semantic search in the daemon: the background embedding worker, the in-memory vector matrix
//! it keeps current, and the query-side lookup that feeds GrabEverythingRelated.
//!
//! The worker is a projection like the tantivy projector: it reads the store (never writes it)
//! and writes `vectors.sqlite`, which records for each item the content hash its vectors were
//! computed from. After a restart it resumes where it was (items whose hash matches are not
//! embedded again); a model change empties the file and embeds everything again. It is bounded:
//! `threads` threads in its own pool, small batches, and before each batch it waits while a sync
//! batch or a query is in flight (at most [`MAX_YIELD`], so it never starves).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use ctx_config::EmbeddingsConfig;
use ctx_embed::{
    EmbedOptions, Embedder, Precision, StoredVectors, VectorFile, VectorFileState, VectorIndex,
};
use ctx_store::StoreReader;

use crate::engine::now_ms;

/// Semantic candidates handed to fusion per query.
pub const SEMANTIC_CANDIDATES: usize = 40;
/// Candidates less similar than this are noise for all-MiniLM-style models.
pub const MIN_SIMILARITY: f32 = 0.2;
/// Longest wait of the worker for syncs and queries before it runs a batch anyway.
pub const MAX_YIELD: Duration = Duration::from_secs(2);
/// Chunks embedded per item at most (the head of very long documents).
pub const MAX_CHUNKS_PER_ITEM: usize = 64;
/// Change-log entries read per page when following the log.
const CHANGE_PAGE: usize = 5_000;

/// Lowers the calling embedding thread to `[embeddings] nice` (this thread only; see
/// `crate::priority`); logs and goes on when it cannot.
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    let thread = std::thread::current();
    match crate::priority::lower_current_thread(nice) {
        Ok(now) => tracing::debug!(
            thread = thread.name(),
            nice = now,
            "embedding thread priority"
        ),
        Err(e) => tracing::warn!(
            thread = thread.name(),
            nice,
            error = %e,
            "cannot lower the embedding thread's priority; it runs at the daemon's"
        ),
    }
}

/// Counts work that the background worker yields to.
#[derive(Debug, Default)]
pub struct Activity {
    queries: AtomicUsize,
    syncs: AtomicUsize,
}

/// Decrements its counter when dropped.
pub struct ActivityGuard<'a>(&'a AtomicUsize);

impl Drop for ActivityGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Activity {
    /// Marks a query in flight until the guard is dropped.
    pub fn query(&self) -> ActivityGuard<'_> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        ActivityGuard(&self.queries)
    }

    /// Marks a sync batch (preparing or committing) in flight until the guard is dropped.
    pub fn sync(&self) -> ActivityGuard<'_> {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        ActivityGuard(&self.syncs)
    }

    pub fn busy(&self) -> bool {
        self.queries.load(Ordering::SeqCst) > 0 || self.syncs.load(Ordering::SeqCst) > 0
    }
}

/// A small least-recently-used map of query text → query vector.
#[derive(Default)]
struct QueryVectors {
    tick: u64,
    entries: HashMap<String, (u64, Vec<f32>)>,
}

impl QueryVectors {
    const CAPACITY: usize = 256;

    /// The cached vector of `query`.
    fn get(&mut self, query: &str) -> Option<Vec<f32>> {
        self.tick += 1;
        let tick = self.tick;
        let entry = self.entries.get_mut(query)?;
        entry.0 = tick;
        Some(entry.1.clone())
    }

    fn put(&mut self, query: &str, vector: &[f32]) {
        if self.entries.contains_key(query) {
            return;
        }
        if self.entries.len() >= Self::CAPACITY
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| k.clone())
        {
            self.entries.remove(&oldest);
        }
        self.tick += 1;
        self.entries
            .insert(query.to_owned(), (self.tick, vector.to_vec()));
    }
}

/// What `Status` reports about embeddings.
#[derive(Debug, Clone, Default)]
pub struct EmbedProgress {
    pub state: &'static str,
    pub model_id: String,
    pub dim: u32,
    pub items_embedded: u64,
    pub items_pending: u64,
    pub vectors: u64,
    pub chunks_per_second: f64,
    /// Items embedded since the daemon started (0 after a restart with nothing changed).
    pub embedded_this_run: u64,
    /// Chunks given to the model since the daemon started, and chunks of changed items whose
    /// text had not changed (their vectors were kept).
    pub chunks_embedded_this_run: u64,
    pub chunks_reused_this_run: u64,
    pub last_error: Option<String>,
    pub last_error_ms: Option<i64>,
}

/// Semantic search state shared by the worker and the gRPC service.
pub struct Semantic {
    config: EmbeddingsConfig,
    embedder: OnceLock<Arc<Embedder>>,
    /// Vectors of recent queries: an agent asks the same question at several budgets, or again
    /// after a follow-up, and embedding it is most of the semantic step's cost.
    query_vectors: Mutex<QueryVectors>,
    index: RwLock<VectorIndex>,
    progress: Mutex<EmbedProgress>,
    pub activity: Arc<Activity>,
    wake: Mutex<Option<mpsc::Sender<bool>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Semantic {
    /// Semantic search state for `config`; nothing runs until [`Semantic::start`].
    pub fn new(config: EmbeddingsConfig, activity: Arc<Activity>) -> Arc<Semantic> {
        let state = if config.model.is_some() {
            "loading"
        } else {
            "off"
        };
        Arc::new(Semantic {
            config,
            embedder: OnceLock::new(),
            query_vectors: Mutex::new(QueryVectors::default()),
            index: RwLock::new(VectorIndex::new(0, Precision::I8)),
            progress: Mutex::new(EmbedProgress {
                state,
                ..Default::default()
            }),
            activity,
            wake: Mutex::new(None),
            thread: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &EmbeddingsConfig {
        &self.config
    }

    /// Starts the background worker when a model is configured.
    pub fn start(
        self: &Arc<Semantic>,
        reader: Arc<StoreReader>,
        data_dir: PathBuf,
    ) -> std::io::Result<()> {
        let Some(model_dir) = self.config.model.clone() else {
            tracing::info!(
                "no embedding model configured; retrieval is keyword + entity graph only (see README: Semantic search)"
            );
            return Ok(());
        };
        let (tx, rx) = mpsc::channel();
        if let Ok(mut wake) = self.wake.lock() {
            *wake = Some(tx);
        }
        // rayon's global pool serves query embedding; a thread inherits its creator's nice value,
        // so it must not be started first by the (lowered) worker thread: start it here.
        let _ = rayon::current_num_threads();
        let me = self.clone();
        let handle = std::thread::Builder::new()
            .name("ctx-embed-worker".into())
            .spawn(move || me.worker(&reader, &data_dir, &model_dir, rx))?;
        if let Ok(mut t) = self.thread.lock() {
            *t = Some(handle);
        }
        Ok(())
    }

    /// Tells the worker the store changed.
    pub fn notify(&self) {
        if let Ok(wake) = self.wake.lock()
            && let Some(tx) = wake.as_ref()
        {
            let _ = tx.send(false);
        }
    }

    /// Stops the worker after its current batch (what it embedded is durable).
    pub fn close(&self) {
        if let Ok(mut wake) = self.wake.lock()
            && let Some(tx) = wake.take()
        {
            let _ = tx.send(true);
        }
        if let Some(handle) = self.thread.lock().ok().and_then(|mut h| h.take()) {
            let _ = handle.join();
        }
    }

    pub fn progress(&self) -> EmbedProgress {
        self.progress.lock().map(|p| p.clone()).unwrap_or_default()
    }

    fn set_progress(&self, f: impl FnOnce(&mut EmbedProgress)) {
        if let Ok(mut p) = self.progress.lock() {
            f(&mut p);
        }
    }

    /// Whether a query can get semantic candidates now (a model is loaded and vectors exist).
    pub fn is_ready(&self) -> bool {
        self.embedder.get().is_some() && self.index.read().map(|i| !i.is_empty()).unwrap_or(false)
    }

    /// The items most similar to `query`, most similar first, with their similarity; empty when
    /// no model is loaded or nothing is embedded yet. Blocking (runs the model on the query).
    pub fn candidates(&self, query: &str, limit: usize) -> Vec<(i64, f32)> {
        let Some(embedder) = self.embedder.get() else {
            return Vec::new();
        };
        if query.trim().is_empty() {
            return Vec::new();
        }
        if self.index.read().map(|i| i.is_empty()).unwrap_or(true) {
            return Vec::new();
        }
        let cached = self
            .query_vectors
            .lock()
            .ok()
            .and_then(|mut c| c.get(query));
        let vector = match cached
            .map(Ok)
            .unwrap_or_else(|| embedder.embed_query(query))
        {
            Ok(vector) if !vector.is_empty() => {
                if let Ok(mut c) = self.query_vectors.lock() {
                    c.put(query, &vector);
                }
                vector
            }
            Ok(_) => return Vec::new(),
            Err(e) => {
                tracing::warn!(error = %e, "query embedding failed; keyword and graph results only");
                return Vec::new();
            }
        };
        let Ok(index) = self.index.read() else {
            return Vec::new();
        };
        index
            .search(&vector, limit)
            .into_iter()
            .filter(|n| n.similarity >= MIN_SIMILARITY)
            .map(|n| (n.owner, n.similarity))
            .collect()
    }

    fn fail(&self, message: String) {
        tracing::error!(error = %message, "semantic search disabled");
        self.set_progress(|p| {
            p.state = "error";
            p.last_error = Some(message);
            p.last_error_ms = Some(now_ms());
        });
    }

    fn worker(
        &self,
        reader: &StoreReader,
        data_dir: &std::path::Path,
        model_dir: &std::path::Path,
        wake: mpsc::Receiver<bool>,
    ) {
        let nice = self.config.nice;
        lower_priority(nice);
        let started = Instant::now();
        let embedder = match Embedder::load(
            model_dir,
            &EmbedOptions {
                max_tokens: self.config.max_tokens,
                ..EmbedOptions::default()
            },
        ) {
            Ok(e) => Arc::new(e),
            Err(e) => return self.fail(e.to_string()),
        };
        tracing::info!(
            model = %model_dir.display(),
            model_id = embedder.model_id(),
            dim = embedder.dim(),
            max_tokens = embedder.max_tokens(),
            took_ms = started.elapsed().as_millis() as u64,
            "embedding model loaded"
        );
        let pool = match rayon::ThreadPoolBuilder::new()
            .num_threads(self.config.threads)
            .thread_name(|i| format!("ctx-embed-{i}"))
            .start_handler(move |_| lower_priority(nice))
            .build()
        {
            Ok(p) => p,
            Err(e) => return self.fail(format!("cannot start embedding threads: {e}")),
        };
        let path = data_dir.join(ctx_embed::VECTOR_FILE_NAME);
        let (mut file, state) = match VectorFile::open(&path, embedder.model_id(), embedder.dim()) {
            Ok(f) => f,
            Err(e) => return self.fail(format!("cannot open {}: {e}", path.display())),
        };
        if let VectorFileState::Fresh { reason } = &state {
            tracing::info!(path = %path.display(), reason = %reason, "embedding every item");
        }
        // Load the matrix; a broken row is embedded again.
        let mut hashes: HashMap<i64, String> = HashMap::new();
        let mut index = VectorIndex::new(embedder.dim(), Precision::I8);
        let loaded = file.for_each(|v| {
            index.set(v.item_rowid, &v.vectors);
            hashes.insert(v.item_rowid, v.content_hash);
        });
        match loaded {
            Ok(broken) if !broken.is_empty() => {
                tracing::warn!(
                    items = broken.len(),
                    "vector rows of the wrong length; embedding those items again"
                );
            }
            Ok(_) => {}
            Err(e) => return self.fail(format!("cannot read {}: {e}", path.display())),
        }
        tracing::info!(
            items = hashes.len(),
            vectors = index.len(),
            memory_mib = index.memory_bytes() / (1 << 20),
            "vector matrix loaded"
        );
        if let Ok(mut shared) = self.index.write() {
            *shared = index;
        }
        let _ = self.embedder.set(embedder.clone());
        self.set_progress(|p| {
            p.state = "embedding";
            p.model_id = embedder.model_id().to_string();
            p.dim = embedder.dim() as u32;
            p.items_embedded = hashes.len() as u64;
            p.vectors = self.index.read().map(|i| i.len() as u64).unwrap_or(0);
        });

        let mut full_pass = true;
        loop {
            let outcome = self.round(
                reader,
                &mut file,
                &embedder,
                &pool,
                &mut hashes,
                full_pass,
                &wake,
            );
            match outcome {
                Ok(RoundEnd::Done) => full_pass = false,
                Ok(RoundEnd::Gap) => {
                    full_pass = true;
                    continue;
                }
                Ok(RoundEnd::Shutdown) => break,
                Err(message) => {
                    tracing::warn!(error = %message, "embedding round failed; retrying in 30 s");
                    self.set_progress(|p| {
                        p.last_error = Some(message);
                        p.last_error_ms = Some(now_ms());
                    });
                    full_pass = true;
                    match wake.recv_timeout(Duration::from_secs(30)) {
                        Ok(true) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        _ => continue,
                    }
                }
            }
            let mut stop = false;
            while let Ok(more) = wake.try_recv() {
                stop |= more;
            }
            if stop {
                break;
            }
            // Changes committed during the round (their wake-ups may have been consumed by
            // the round's shutdown checks): go again at once.
            let behind = match (reader.max_seq(), file.applied_seq()) {
                (Ok(head), Ok(applied)) => head > applied,
                _ => false,
            };
            if behind {
                continue;
            }
            self.set_progress(|p| {
                p.state = "idle";
                p.items_pending = 0;
            });
            // Sleep until the store changes (or a safety-net minute passes).
            match wake.recv_timeout(Duration::from_secs(60)) {
                Ok(true) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Ok(false) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
        tracing::debug!("embedding worker stopped");
    }

    /// One round: find what changed since the last round and embed it.
    #[allow(clippy::too_many_arguments)]
    fn round(
        &self,
        reader: &StoreReader,
        file: &mut VectorFile,
        embedder: &Embedder,
        pool: &rayon::ThreadPool,
        hashes: &mut HashMap<i64, String>,
        full_pass: bool,
        wake: &mpsc::Receiver<bool>,
    ) -> Result<RoundEnd, String> {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        let head = reader.max_seq().map_err(|e| err(&e))?;
        let applied = file.applied_seq().map_err(|e| err(&e))?;
        let mut to_embed: Vec<i64> = Vec::new();
        let mut to_remove: Vec<i64> = Vec::new();
        if full_pass {
            // Reconcile: every live item's hash against the stored ones.
            let mut live: HashSet<i64> = HashSet::with_capacity(hashes.len());
            let mut after = 0;
            loop {
                let page = reader.live_hashes(after, 10_000).map_err(|e| err(&e))?;
                let Some(last) = page.last() else { break };
                after = last.0;
                for (rowid, hash) in page {
                    live.insert(rowid);
                    if hashes.get(&rowid) != Some(&hash) {
                        to_embed.push(rowid);
                    }
                }
            }
            to_remove.extend(hashes.keys().filter(|r| !live.contains(r)).copied());
        } else if head > applied {
            // Follow the change log; entries pruned before we read them mean a reconcile.
            match reader.first_change_after(applied).map_err(|e| err(&e))? {
                Some(first) if first == applied + 1 => {}
                // Some or all of (applied, head] was pruned: only a reconcile is exact.
                _ => return Ok(RoundEnd::Gap),
            }
            let mut changed: Vec<i64> = Vec::new();
            let mut seen = HashSet::new();
            let mut after = applied;
            while after < head {
                let page = reader
                    .changes_after(after, CHANGE_PAGE)
                    .map_err(|e| err(&e))?;
                let Some(last) = page.last() else { break };
                after = last.seq;
                for c in page.into_iter().filter(|c| c.seq <= head) {
                    if seen.insert(c.item_rowid) {
                        changed.push(c.item_rowid);
                    }
                }
            }
            let current = reader.hashes_of(&changed).map_err(|e| err(&e))?;
            for rowid in changed {
                match current.get(&rowid) {
                    Some(hash) if hashes.get(&rowid) != Some(hash) => to_embed.push(rowid),
                    Some(_) => {}
                    None if hashes.contains_key(&rowid) => to_remove.push(rowid),
                    None => {}
                }
            }
        }
        if !to_remove.is_empty() {
            file.apply(&[], &to_remove).map_err(|e| err(&e))?;
            if let Ok(mut index) = self.index.write() {
                for rowid in &to_remove {
                    index.remove(*rowid);
                }
            }
            for rowid in &to_remove {
                hashes.remove(rowid);
            }
        }
        self.set_progress(|p| {
            p.state = "embedding";
            p.items_pending = to_embed.len() as u64;
            p.items_embedded = hashes.len() as u64;
            p.vectors = self.index.read().map(|i| i.len() as u64).unwrap_or(0);
        });
        if !to_embed.is_empty() {
            tracing::info!(
                items = to_embed.len(),
                removed = to_remove.len(),
                "embedding changed items"
            );
        }
        let batch_size = self.config.batch_size.max(1);
        let mut queue = to_embed.into_iter().peekable();
        let mut window: (Instant, u64) = (Instant::now(), 0);
        while queue.peek().is_some() {
            // Gather whole items until the batch holds about `batch_size` chunks.
            let mut inputs = Vec::new();
            let mut chunks = 0;
            while chunks < batch_size
                && let Some(rowid) = queue.next()
            {
                if let Some(input) = reader.embed_input(rowid).map_err(|e| err(&e))? {
                    chunks += input.chunks.len().clamp(1, MAX_CHUNKS_PER_ITEM);
                    inputs.push(input);
                }
            }
            if inputs.is_empty() {
                continue;
            }
            self.yield_to_others();
            // The texts of each item's chunks; a chunk whose text the item had before keeps
            // its vector, so an edit re-embeds only what it changed.
            let mut per_item: Vec<Vec<(u64, Option<Vec<f32>>)>> = Vec::with_capacity(inputs.len());
            let mut texts: Vec<String> = Vec::new();
            let mut reused = 0u64;
            for input in &inputs {
                let title = input.title.clone();
                let mut item_texts: Vec<String> = input
                    .chunks
                    .iter()
                    .take(MAX_CHUNKS_PER_ITEM)
                    .enumerate()
                    .map(|(ord, c)| ctx_embed::chunk_text(&title, ord, &c.text))
                    .collect();
                if item_texts.is_empty() {
                    item_texts.push(title);
                }
                let previous: HashMap<u64, Vec<f32>> = if hashes.contains_key(&input.rowid) {
                    file.chunk_vectors(input.rowid)
                        .map_err(|e| err(&e))?
                        .unwrap_or_default()
                        .into_iter()
                        .collect()
                } else {
                    HashMap::new()
                };
                let mut slots = Vec::with_capacity(item_texts.len());
                for text in item_texts {
                    let hash = ctx_embed::text_hash(&text);
                    // Equal texts have equal vectors, so a repeated chunk may reuse one too.
                    match previous.get(&hash).cloned() {
                        Some(vector) => {
                            reused += 1;
                            slots.push((hash, Some(vector)));
                        }
                        None => {
                            slots.push((hash, None));
                            texts.push(text);
                        }
                    }
                }
                per_item.push(slots);
            }
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let computed = if refs.is_empty() {
                Ok(Vec::new())
            } else {
                pool.install(|| embedder.embed_sorted(&refs, batch_size))
            };
            let vectors = match computed {
                Ok(v) => v,
                Err(e) => {
                    // One bad batch must not stop the rest: skip these items, say so.
                    tracing::warn!(error = %e, items = inputs.len(), "cannot embed a batch; skipped");
                    self.set_progress(|p| {
                        p.last_error = Some(e.to_string());
                        p.last_error_ms = Some(now_ms());
                    });
                    continue;
                }
            };
            let mut rows = vectors.into_iter();
            let upserts: Vec<StoredVectors> = inputs
                .into_iter()
                .zip(per_item)
                .map(|(input, slots)| {
                    let mut vectors = Vec::with_capacity(slots.len());
                    let mut chunk_hashes = Vec::with_capacity(slots.len());
                    for (hash, kept) in slots {
                        if let Some(vector) = kept.or_else(|| rows.next()) {
                            vectors.push(vector);
                            chunk_hashes.push(hash);
                        }
                    }
                    StoredVectors {
                        item_rowid: input.rowid,
                        content_hash: input.content_hash,
                        vectors,
                        chunk_hashes,
                    }
                })
                .collect();
            file.apply(&upserts, &[]).map_err(|e| err(&e))?;
            if let Ok(mut index) = self.index.write() {
                for u in &upserts {
                    index.set(u.item_rowid, &u.vectors);
                }
            }
            let embedded_now = upserts.len() as u64;
            for u in upserts {
                hashes.insert(u.item_rowid, u.content_hash);
            }
            window.1 += refs.len() as u64;
            let elapsed = window.0.elapsed().as_secs_f64();
            let rate = if elapsed > 0.0 {
                window.1 as f64 / elapsed
            } else {
                0.0
            };
            if elapsed > 60.0 {
                window = (Instant::now(), 0);
            }
            let remaining = queue.len() as u64;
            self.set_progress(|p| {
                p.state = "embedding";
                p.items_pending = remaining;
                p.items_embedded = hashes.len() as u64;
                p.vectors = self.index.read().map(|i| i.len() as u64).unwrap_or(0);
                p.chunks_per_second = rate;
                p.embedded_this_run += embedded_now;
                p.chunks_embedded_this_run += refs.len() as u64;
                p.chunks_reused_this_run += reused;
            });
            // Stop promptly on shutdown; what is written is durable.
            if let Ok(true) = wake.try_recv() {
                return Ok(RoundEnd::Shutdown);
            }
        }
        if full_pass || head > applied {
            file.set_applied_seq(head).map_err(|e| err(&e))?;
        }
        Ok(RoundEnd::Done)
    }

    /// Waits while syncs or queries are in flight, at most [`MAX_YIELD`].
    fn yield_to_others(&self) {
        let started = Instant::now();
        let mut waited = false;
        while self.activity.busy() && started.elapsed() < MAX_YIELD {
            if !waited {
                self.set_progress(|p| p.state = "waiting");
                waited = true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        if waited {
            self.set_progress(|p| p.state = "embedding");
        }
    }
}

enum RoundEnd {
    Done,
    Gap,
    Shutdown,
}

/// The `Status` view of semantic search.
pub fn status(semantic: &Semantic) -> ctx_proto::v1::EmbeddingStatus {
    let config = semantic.config();
    let p = semantic.progress();
    let Some(model) = &config.model else {
        return ctx_proto::v1::EmbeddingStatus {
            enabled: false,
            state: "off".into(),
            note: "no model configured: retrieval is keyword + entity graph only \
                   (set [embeddings] model, see `ctx model`)"
                .into(),
            ..Default::default()
        };
    };
    let note = match p.state {
        "loading" => "loading the model".to_string(),
        "error" => format!(
            "semantic search is off: {}",
            p.last_error.clone().unwrap_or_default()
        ),
        "idle" => "every item is embedded".to_string(),
        "waiting" => "yielding to syncs and queries".to_string(),
        _ => format!("{} items to embed", p.items_pending),
    };
    ctx_proto::v1::EmbeddingStatus {
        enabled: p.state != "error",
        state: p.state.to_string(),
        model: model.display().to_string(),
        model_id: p.model_id,
        dim: p.dim,
        items_embedded: p.items_embedded,
        items_pending: p.items_pending,
        vectors: p.vectors,
        chunks_per_second: p.chunks_per_second,
        threads: config.threads as u32,
        last_error: p.last_error.unwrap_or_default(),
        last_error_ms: p.last_error_ms.unwrap_or(0),
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::QueryVectors;

    #[test]
    fn query_vectors_keep_the_most_recently_used() {
        let mut c = QueryVectors::default();
        for i in 0..QueryVectors::CAPACITY {
            c.put(&format!("q{i}"), &[i as f32]);
        }
        // Touch the oldest: the second oldest is evicted by the next insertion instead.
        assert_eq!(c.get("q0"), Some(vec![0.0]));
        c.put("new", &[9.0]);
        assert_eq!(c.entries.len(), QueryVectors::CAPACITY);
        assert!(c.get("q1").is_none());
        assert_eq!(c.get("q0"), Some(vec![0.0]));
        assert_eq!(c.get("new"), Some(vec![9.0]));
    }
}
