//! The `ctx.v1.ContextService` implementation: wire types in, engine calls on blocking threads,
//! wire types out. Errors become gRPC status codes in one place ([`to_status`]).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use ctx_connector_api::ItemKind;
use ctx_proto::v1::context_service_server::ContextService;
use ctx_proto::v1::{self as pb};
use ctx_search::{
    Filters, GrabParams, GrabSummary, PackedItem, RetrievalMode, Retriever, query_terms,
};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::DaemonError;
use crate::engine::Engine;

/// The gRPC face of a running daemon.
#[derive(Clone)]
pub struct ContextApi {
    engine: Arc<Engine>,
}

impl ContextApi {
    pub fn new(engine: Arc<Engine>) -> Self {
        ContextApi { engine }
    }
}

/// Messages of a GrabEverythingRelatedStream buffered ahead of a slow reader.
const STREAM_BUFFER: usize = 32;

/// Each source's last successful sync (ms since the Unix epoch), as the store reports it.
type Freshness = Vec<(String, Option<i64>)>;

/// A validated GrabEverythingRelated request, ready to run on a blocking thread.
struct Grab {
    params: GrabParams,
    use_semantic: bool,
}

impl ContextApi {
    /// Checks a request (budget, filters, mode) the same way for the unary and the streaming
    /// call.
    fn prepare_grab(&self, req: pb::GrabRequest) -> Result<Grab, Status> {
        let budget = if req.token_budget == 0 {
            self.engine.default_budget
        } else {
            req.token_budget
        };
        if budget > self.engine.max_budget {
            return Err(to_status(DaemonError::InvalidArgument(format!(
                "token_budget {budget} is above the maximum of {}",
                self.engine.max_budget
            ))));
        }
        let filters = filters_from(req.filters).map_err(to_status)?;
        let wire_mode = pb::RetrievalMode::try_from(req.mode);
        let mode = match wire_mode {
            Ok(pb::RetrievalMode::Bm25Only) => RetrievalMode::Bm25Only,
            _ => RetrievalMode::Full,
        };
        let use_semantic = mode == RetrievalMode::Full
            && wire_mode != Ok(pb::RetrievalMode::NoSemantic)
            && self.engine.semantic.is_ready();
        Ok(Grab {
            params: GrabParams {
                query: req.query,
                token_budget: budget,
                filters,
                mode,
                now_ms: None,
            },
            use_semantic,
        })
    }
}

impl Grab {
    /// Retrieves and packs, handing each item to `sink` in the window's order; then the sources'
    /// freshness. Blocking.
    fn run(
        self,
        engine: &Engine,
        sink: impl FnMut(PackedItem) -> ControlFlow<()>,
    ) -> Result<(GrabSummary, Freshness), DaemonError> {
        let _busy = engine.activity.query();
        let retriever = Retriever {
            index: &engine.index,
            store: &engine.reader,
            counter: &engine.counter,
        };
        let params = self.params;
        // The query is embedded and the vectors scanned on a second thread while the keyword
        // and graph signals are computed here: the semantic step then costs the difference,
        // not the sum.
        let summary = std::thread::scope(|scope| {
            let semantic = self.use_semantic.then(|| {
                scope.spawn(|| {
                    engine
                        .semantic
                        .candidates(&params.query, crate::embedding::SEMANTIC_CANDIDATES)
                })
            });
            retriever.grab_each_with_deferred_semantic(
                &params,
                || {
                    semantic
                        .map(|h| h.join().unwrap_or_default())
                        .unwrap_or_default()
                },
                sink,
            )
        })?;
        let freshness = engine.reader.freshness()?;
        Ok((summary, freshness))
    }
}

fn context_item(i: PackedItem) -> pb::ContextItem {
    pb::ContextItem {
        id: i.id,
        kind: i.kind.as_str().to_string(),
        source: i.source,
        title: i.title,
        locator: i.locator,
        timestamp_ms: i.timestamp_ms.unwrap_or(0),
        people: i.people.iter().map(person).collect(),
        text: i.text,
        tokens: i.tokens,
        score: i.score,
        why: i.why,
        truncated: i.truncated,
        full_tokens: i.full_tokens,
        duplicate_ids: i.duplicate_ids,
    }
}

fn cut_items(cut: Vec<ctx_search::CutItem>) -> Vec<pb::CutItem> {
    cut.into_iter()
        .map(|c| pb::CutItem {
            id: c.id,
            tokens: c.tokens,
            score: c.score,
        })
        .collect()
}

fn source_freshness(freshness: Freshness) -> Vec<pb::SourceFreshness> {
    freshness
        .into_iter()
        .map(|(source, last_success_ms)| pb::SourceFreshness {
            source,
            last_success_ms: last_success_ms.unwrap_or(0),
        })
        .collect()
}

/// Maps every daemon error to a gRPC status: the single place where that decision is made.
pub fn to_status(e: DaemonError) -> Status {
    match &e {
        DaemonError::InvalidArgument(_) => Status::invalid_argument(e.to_string()),
        DaemonError::NotFound(_) => Status::not_found(e.to_string()),
        DaemonError::Stopped => Status::unavailable(e.to_string()),
        DaemonError::Store(s) if s.is_retryable() => Status::unavailable(e.to_string()),
        DaemonError::Search(s) if s.is_retryable() => Status::unavailable(e.to_string()),
        _ => {
            tracing::error!(error = %e, "request failed");
            Status::internal(e.to_string())
        }
    }
}

fn filters_from(f: Option<pb::Filters>) -> Result<Filters, DaemonError> {
    let f = f.unwrap_or_default();
    let mut kinds = Vec::new();
    for k in &f.kinds {
        let kind = ItemKind::parse(k.trim()).ok_or_else(|| {
            DaemonError::InvalidArgument(format!(
                "unknown kind `{k}`; expected one of: {}",
                ItemKind::ALL.map(|k| k.as_str()).join(", ")
            ))
        })?;
        kinds.push(kind);
    }
    if let (Some(s), Some(u)) = (f.since_ms, f.until_ms)
        && s >= u
    {
        return Err(DaemonError::InvalidArgument(format!(
            "empty time range: since ({s}) is not before until ({u})"
        )));
    }
    Ok(Filters {
        sources: f.sources,
        kinds,
        since_ms: f.since_ms,
        until_ms: f.until_ms,
    })
}

fn person(p: &ctx_connector_api::PersonRef) -> pb::Person {
    pb::Person {
        name: p.name.clone().unwrap_or_default(),
        email: p.email.clone().unwrap_or_default(),
        role: p.role.as_str().to_string(),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, DaemonError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(format!("worker failed: {e}")))?
        .map_err(to_status)
}

/// A short excerpt of `body` around the first query term, on char boundaries.
fn snippet(body: &str, terms: &[String]) -> String {
    const WIDTH: usize = 200;
    let lower = body.to_lowercase();
    // Lowercasing can change byte lengths; only trust positions when it did not.
    let pos = if lower.len() == body.len() {
        terms.iter().filter_map(|t| lower.find(t.as_str())).min()
    } else {
        None
    }
    .unwrap_or(0);
    let mut start = pos.saturating_sub(WIDTH / 3);
    while !body.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (start + WIDTH).min(body.len());
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    let mut s: String = body[start..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if start > 0 {
        s.insert(0, '…');
    }
    if end < body.len() {
        s.push('…');
    }
    s
}

#[tonic::async_trait]
impl ContextService for ContextApi {
    async fn grab_everything_related(
        &self,
        request: Request<pb::GrabRequest>,
    ) -> Result<Response<pb::GrabResponse>, Status> {
        let started = Instant::now();
        let grab = self.prepare_grab(request.into_inner())?;
        let engine = self.engine.clone();
        let (items, summary, freshness) = blocking(move || {
            let mut items = Vec::new();
            let (summary, freshness) = grab.run(&engine, |item| {
                items.push(item);
                ControlFlow::Continue(())
            })?;
            Ok((items, summary, freshness))
        })
        .await?;
        let markdown = items.iter().map(|i| i.rendered.as_str()).collect();
        Ok(Response::new(pb::GrabResponse {
            items: items.into_iter().map(context_item).collect(),
            tokens_used: summary.tokens_used,
            token_budget: summary.token_budget,
            candidates: summary.candidates,
            took_us: started.elapsed().as_micros() as u64,
            markdown,
            cut: cut_items(summary.cut),
            freshness: source_freshness(freshness),
            tokenizer: ctx_store::TOKENIZER_NAME.to_string(),
        }))
    }

    type GrabEverythingRelatedStreamStream = ReceiverStream<Result<pb::GrabStreamMessage, Status>>;

    async fn grab_everything_related_stream(
        &self,
        request: Request<pb::GrabRequest>,
    ) -> Result<Response<Self::GrabEverythingRelatedStreamStream>, Status> {
        let started = Instant::now();
        // A bad request fails the call itself, with the unary call's status.
        let grab = self.prepare_grab(request.into_inner())?;
        let engine = self.engine.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(STREAM_BUFFER);
        // Retrieval and rendering run on a blocking thread that sends each item as soon as it
        // is rendered; a full channel holds the renderer back (a slow reader), a closed one
        // (the reader is gone) stops it.
        let worker_tx = tx.clone();
        let worker = tokio::task::spawn_blocking(move || {
            let sent = grab.run(&engine, |mut item| {
                let message = pb::GrabStreamMessage {
                    message: Some(pb::grab_stream_message::Message::Item(pb::GrabStreamItem {
                        markdown: std::mem::take(&mut item.rendered),
                        item: Some(context_item(item)),
                    })),
                };
                match worker_tx.blocking_send(Ok(message)) {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(_) => ControlFlow::Break(()),
                }
            });
            let last = match sent {
                Ok((summary, freshness)) => Ok(pb::GrabStreamMessage {
                    message: Some(pb::grab_stream_message::Message::Summary(pb::GrabSummary {
                        items: summary.items,
                        tokens_used: summary.tokens_used,
                        token_budget: summary.token_budget,
                        candidates: summary.candidates,
                        took_us: started.elapsed().as_micros() as u64,
                        cut: cut_items(summary.cut),
                        freshness: source_freshness(freshness),
                        tokenizer: ctx_store::TOKENIZER_NAME.to_string(),
                    })),
                }),
                Err(e) => Err(to_status(e)),
            };
            // Nobody to tell when the reader is gone.
            let _ = worker_tx.blocking_send(last);
        });
        // A panicking worker ends the stream with the unary call's status, not silently.
        tokio::spawn(async move {
            if let Err(e) = worker.await {
                let _ = tx
                    .send(Err(Status::internal(format!("worker failed: {e}"))))
                    .await;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn search(
        &self,
        request: Request<pb::SearchRequest>,
    ) -> Result<Response<pb::SearchResponse>, Status> {
        let started = Instant::now();
        let req = request.into_inner();
        let limit = match req.limit {
            0 => 20,
            n if n > 1000 => {
                return Err(Status::invalid_argument(format!(
                    "limit {n} is above the maximum of 1000"
                )));
            }
            n => n as usize,
        };
        let filters = filters_from(req.filters).map_err(to_status)?;
        let engine = self.engine.clone();
        let (hits, total) = blocking(move || {
            let (hits, total) =
                engine
                    .index
                    .search(&req.query, &filters, limit, req.offset as usize)?;
            let terms = query_terms(&req.query);
            // Two batched queries for the page, not two per hit.
            let rowids: Vec<i64> = hits.iter().map(|h| h.rowid).collect();
            let scores: std::collections::HashMap<i64, f32> =
                hits.iter().map(|h| (h.rowid, h.score)).collect();
            let mut bodies = engine.reader.bodies(&rowids)?;
            let mut out = Vec::with_capacity(hits.len());
            for meta in engine.reader.pack_metas(&rowids)? {
                let body = bodies.remove(&meta.rowid).unwrap_or_default();
                let score = scores.get(&meta.rowid).copied().unwrap_or(0.0);
                out.push(pb::SearchHit {
                    id: meta.id,
                    kind: meta.kind.as_str().to_string(),
                    source: meta.source,
                    title: meta.title,
                    locator: meta.locator,
                    timestamp_ms: meta.timestamp_ms.unwrap_or(0),
                    score,
                    snippet: snippet(&body, &terms),
                    tokens: meta.tokens,
                });
            }
            Ok((out, total))
        })
        .await?;
        Ok(Response::new(pb::SearchResponse {
            hits,
            total,
            took_us: started.elapsed().as_micros() as u64,
        }))
    }

    async fn get_item(
        &self,
        request: Request<pb::GetItemRequest>,
    ) -> Result<Response<pb::GetItemResponse>, Status> {
        let id = request.into_inner().id.trim().to_string();
        if id.is_empty() {
            return Err(Status::invalid_argument("id is empty"));
        }
        let engine = self.engine.clone();
        let item = blocking(move || {
            engine
                .reader
                .get_item(&id)?
                .ok_or_else(|| DaemonError::NotFound(format!("no item with id `{id}`")))
        })
        .await?;
        Ok(Response::new(pb::GetItemResponse {
            item: Some(pb::Item {
                id: item.id,
                kind: item.kind.as_str().to_string(),
                source: item.source,
                external_id: item.external_id,
                title: item.title,
                locator: item.locator,
                timestamp_ms: item.timestamp_ms.unwrap_or(0),
                people: item.people.iter().map(person).collect(),
                organizations: item
                    .organizations
                    .iter()
                    .filter_map(|o| o.name.clone().or_else(|| o.domain.clone()))
                    .collect(),
                body: item.body,
                tokens: item.tokens,
                fields: item
                    .fields
                    .into_iter()
                    .map(|(name, value)| pb::Field { name, value })
                    .collect(),
                links: item
                    .links
                    .into_iter()
                    .map(|l| pb::Link {
                        relation: l.relation,
                        target_id: l.target_id.unwrap_or_default(),
                        target_external_id: l.target_external_id,
                    })
                    .collect(),
                thread_key: item.thread_key.unwrap_or_default(),
                content_hash: item.content_hash,
                updated_ms: item.updated_ms,
            }),
        }))
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let engine = self.engine.clone();
        let response = blocking(move || status(&engine)).await?;
        Ok(Response::new(response))
    }

    async fn sync(
        &self,
        request: Request<pb::SyncRequest>,
    ) -> Result<Response<pb::SyncResponse>, Status> {
        let name = request.into_inner().name;
        let targets: Vec<String> = {
            let map = self
                .engine
                .runtimes
                .lock()
                .map_err(|_| Status::internal("connector state lock poisoned"))?;
            if name.is_empty() {
                map.keys().cloned().collect()
            } else if map.contains_key(&name) {
                vec![name.clone()]
            } else {
                let known: Vec<&str> = map.keys().map(String::as_str).collect();
                return Err(Status::not_found(format!(
                    "no connector named `{name}`; configured: {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        };
        let engine = self.engine.clone();
        let status = blocking(move || status(&engine)).await?;
        if let Ok(map) = self.engine.runtimes.lock() {
            for t in &targets {
                if let Some(rt) = map.get(t) {
                    rt.trigger.notify_one();
                }
            }
        }
        Ok(Response::new(pb::SyncResponse {
            triggered: status
                .connectors
                .into_iter()
                .filter(|c| targets.contains(&c.name))
                .collect(),
        }))
    }
}

/// The daemon's status: configured connectors first, then sources the store still holds.
pub fn status(engine: &Engine) -> Result<pb::StatusResponse, DaemonError> {
    let stats = engine.reader.source_stats()?;
    let runtimes = engine
        .runtimes
        .lock()
        .map_err(|_| DaemonError::Stopped)?
        .clone();
    let mut connectors = Vec::new();
    for (name, rt) in &runtimes {
        let stored = stats.iter().find(|s| &s.name == name);
        connectors.push(pb::ConnectorStatus {
            name: name.clone(),
            r#type: rt.type_name.clone(),
            state: rt.state.as_str().to_string(),
            item_count: stored.map_or(0, |s| s.live_items),
            last_success_ms: stored.and_then(|s| s.last_success_ms).unwrap_or(0),
            last_error: rt
                .last_error
                .clone()
                .or_else(|| stored.and_then(|s| s.last_error.clone()))
                .unwrap_or_default(),
            last_error_ms: rt
                .last_error_ms
                .or_else(|| stored.and_then(|s| s.last_error_ms))
                .unwrap_or(0),
            backlog: rt.progress_total.saturating_sub(rt.progress_done),
            progress_done: rt.progress_done,
            progress_total: rt.progress_total,
            passes: rt.passes,
            problems: rt.problems.clone(),
        });
    }
    for s in stats.iter().filter(|s| !runtimes.contains_key(&s.name)) {
        connectors.push(pb::ConnectorStatus {
            name: s.name.clone(),
            r#type: s.type_name.clone(),
            state: "not_configured".to_string(),
            item_count: s.live_items,
            last_success_ms: s.last_success_ms.unwrap_or(0),
            last_error: s.last_error.clone().unwrap_or_default(),
            last_error_ms: s.last_error_ms.unwrap_or(0),
            ..Default::default()
        });
    }
    Ok(pb::StatusResponse {
        total_items: engine.reader.live_item_count()?,
        connectors,
        data_dir: engine.data_dir.display().to_string(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        started_ms: engine.started_ms,
        index_lag: engine.index_lag(),
        tokenizer: ctx_store::TOKENIZER_NAME.to_string(),
        embeddings: Some(crate::embedding::status(&engine.semantic)),
    })
}
