//! GrabEverythingRelated: candidates from BM25 and the entity graph, fused, then packed greedily
//! into a token budget using the counts stored at ingest.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::time::Instant;

use ctx_connector_api::{ItemKind, PersonRef};
use ctx_store::{
    BLOCK_END, ItemSize, NEAR_DUPLICATE_SIMILARITY, PASSAGE_SEPARATOR, PackMeta, Sketch,
    StoreReader, TokenCounter,
};

use crate::dates::parse_time;
use crate::index::{Filters, SearchIndex};
use crate::signals::{self, RankedList, Signal};
use crate::{Result, query_terms};

/// A keyword hit joins the window on its own only when its BM25 score is at least this share of
/// the best hit's (items that other signals bring are not held to it). Measured with
/// `ctx bench relevance`; see BENCHMARKS.md.
const BM25_RELATIVE_CUTOFF: f32 = 0.35;
/// Length of the plain BM25 list in full mode while focused hits exist.
const PLAIN_LIST_IN_FULL_MODE: usize = 200;

/// Items whose header alone would leave less than this for text are cut, not trimmed.
const MIN_TRIMMED_TEXT_TOKENS: u32 = 48;
/// A thread longer than this is packed by its first messages only.
const MAX_THREAD_MEMBERS: usize = 200;
/// Items considered for trimming per request beyond those the plan trims to its share (a
/// long item that does not fit whole in rank order).
const MAX_TRIM_ATTEMPTS: usize = 32;
/// At most this many trims per request in all: each reads the item's chunks.
const MAX_PLANNED_TRIMS: usize = 512;
/// When everything related does not fit, long items are trimmed to a common share of the
/// budget, but never below this (header, head chunk and a passage); below it, units are chosen
/// by value per token instead.
const MIN_SHARE_TOKENS: u32 = 640;
/// Choosing by value per token, a source's next unit counts 1 / (1 + this × units it already
/// has): sources take turns unless one's items are clearly worth more.
const SOURCE_TURN_PENALTY: f32 = 0.25;
/// Fusion weight of recency (nearness to now) among related candidates: a tie-breaker next to
/// the 1.0 of the signals that say what is related.
const RECENCY_WEIGHT: f32 = 0.3;
/// At most this many cut items are listed in a response.
const MAX_CUT_LISTED: usize = 1000;
/// Semantic neighbours join the window on their own only when the keyword and graph signals
/// did not find the point of the query (fewer focused hits than this and no named entity): in
/// `ctx bench relevance --verbose`, items packed for similarity alone were related 2 times in
/// 1,104 for queries that name people, companies, deals or topics, but 25 in 206 for
/// paraphrases. Otherwise they only vote in the ranking.
const SEMANTIC_ALONE_MAX_FOCUSED: usize = 3;
/// Then every neighbour the service passes (cosine >= 0.2) is related (paraphrase recall 0.23 with only the
/// 12 nearest above 0.3, 0.47 with all of them above 0.2, at the same precision for the rest).
const SEMANTIC_ALONE_MIN: f32 = 0.2;
/// A neighbour this similar is related whatever the other signals found (no item of the
/// benchmark's world reached it for an unrelated query; all-MiniLM-L6-v2 gives ~0.6+ to
/// sentences that say the same thing).
const SEMANTIC_STRONG: f32 = 0.6;
/// An organisation involved in more than 1/this of all items (the user's own company) does not
/// group the window.
const GROUPING_ORG_SHARE: u64 = 20;
const GROUPING_ORG_MIN_ITEMS: u64 = 50;
/// Bodies of the first packed items read at once; each later read is twice as long, up to
/// `MAX_BODY_BATCH`.
const FIRST_BODY_BATCH: usize = 4;
const MAX_BODY_BATCH: usize = 256;

/// How candidates are generated and ranked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RetrievalMode {
    /// Time expressions, BM25, the entity graph and feedback fused; threads as units; a
    /// relevance cut-off.
    #[default]
    Full,
    /// The keyword baseline: BM25 order, greedily packed, nothing else.
    Bm25Only,
}

/// A GrabEverythingRelated request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GrabParams {
    pub query: String,
    pub token_budget: u32,
    pub filters: Filters,
    pub mode: RetrievalMode,
    /// "Now" for time expressions (ms since the Unix epoch); `None` means the system clock.
    pub now_ms: Option<i64>,
}

/// One packed item.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedItem {
    pub id: String,
    pub kind: ItemKind,
    pub source: String,
    pub title: String,
    pub locator: String,
    pub timestamp_ms: Option<i64>,
    pub people: Vec<PersonRef>,
    pub text: String,
    /// Tokens in the window: header, text and block end.
    pub tokens: u32,
    /// Tokens of the whole item's text.
    pub full_tokens: u32,
    pub score: f32,
    pub why: String,
    pub truncated: bool,
    /// The rendered block (header + text + block end) as it appears in `markdown`.
    pub rendered: String,
    /// Ids of near-identical copies left out of the window for this item (the same document
    /// as an attachment and as a file, a forwarded copy).
    pub duplicate_ids: Vec<String>,
}

/// Sketches of what is packed, indexed by band, so a near-identical copy is found in a few
/// lookups instead of a comparison with every packed item.
#[derive(Default)]
struct PackedSketches {
    by_band: HashMap<u64, Vec<usize>>,
    /// Rowid, sketch, thread and text tokens of each packed item.
    entries: Vec<(i64, Sketch, Option<String>, u32)>,
}

/// Two texts of very different lengths are not copies, whatever their shingle sets say (a
/// MinHash ignores how often a shingle repeats).
fn similar_lengths(a: u32, b: u32) -> bool {
    let (short, long) = (a.min(b), a.max(b));
    long <= short + short / 2 + 50
}

impl PackedSketches {
    /// The packed item `sketch` is a copy of; items of the same thread are never copies of
    /// each other (the thread packs only each message's fresh text).
    fn copy_of(&self, sketch: &Sketch, thread: Option<&str>, tokens: u32) -> Option<i64> {
        let mut checked: Vec<usize> = Vec::new();
        for key in sketch.band_keys() {
            for &i in self.by_band.get(&key).into_iter().flatten() {
                if checked.contains(&i) {
                    continue;
                }
                checked.push(i);
                let (rowid, other, other_thread, other_tokens) = &self.entries[i];
                if (thread.is_some() && other_thread.as_deref() == thread)
                    || !similar_lengths(tokens, *other_tokens)
                {
                    continue;
                }
                if sketch.similarity(other) >= NEAR_DUPLICATE_SIMILARITY {
                    return Some(*rowid);
                }
            }
        }
        None
    }

    fn add(&mut self, size: &ItemSize, rowid: i64) {
        let Some(sketch) = size.sketch else { return };
        let i = self.entries.len();
        for key in sketch.band_keys() {
            self.by_band.entry(key).or_default().push(i);
        }
        self.entries
            .push((rowid, sketch, size.thread_key.clone(), size.tokens));
    }
}

/// An item that was related but did not fit.
#[derive(Debug, Clone, PartialEq)]
pub struct CutItem {
    pub id: String,
    pub tokens: u32,
    pub score: f32,
}

/// What a grab packed besides its items: all of [`GrabResult`] but the items and the markdown.
#[derive(Debug, Clone, PartialEq)]
pub struct GrabSummary {
    /// Items handed to the sink (fewer than packed when the sink stopped early).
    pub items: u32,
    pub tokens_used: u32,
    pub token_budget: u32,
    pub candidates: u32,
    pub cut: Vec<CutItem>,
    pub took_us: u64,
}

/// The packed context.
#[derive(Debug, Clone, PartialEq)]
pub struct GrabResult {
    pub items: Vec<PackedItem>,
    pub tokens_used: u32,
    pub token_budget: u32,
    pub candidates: u32,
    pub cut: Vec<CutItem>,
    pub markdown: String,
    pub took_us: u64,
}

/// Why a candidate is related, before packing.
#[derive(Debug, Clone, Default)]
struct Reasons {
    bm25_rank: Option<usize>,
    entities: Vec<String>,
    /// Shares these people with the best matches.
    participants: Option<Vec<String>>,
    /// Packed because it belongs to the thread of this (title of a) related item.
    thread_of: Option<String>,
    /// Cosine similarity of its best chunk with the query, when semantic search found it.
    semantic: Option<f32>,
    /// A recurring series inside the asked time range by this occurrence (ms), not by its own
    /// timestamp.
    occurs_at: Option<i64>,
    /// Ids of near-identical copies left out for this item.
    duplicate_ids: Vec<String>,
}

/// How much of an item goes into the window.
enum Take {
    Whole,
    /// The text before its quoted part: (byte offset, tokens), both stored at ingest.
    Fresh(usize, u32),
    /// Chosen passages and their tokens.
    Trimmed(String, u32),
}

/// One item chosen for the window.
struct Decision {
    rowid: i64,
    take: Take,
    /// The related item whose thread brought this one in, when it was not related itself.
    anchor: Option<i64>,
    /// Rank of its unit.
    rank: usize,
}

/// What packing decides on: a thread (its messages) or one item, with what it costs whole.
struct Unit {
    anchor: i64,
    members: Vec<i64>,
    /// Fused score of the anchor.
    score: f32,
    /// Tokens of all of it (a thread: each message without the quotes of the earlier ones).
    cost: u32,
    thread: bool,
    source: String,
}

/// The order units are packed in, and the share long items are trimmed to.
#[derive(Debug, PartialEq)]
struct PackingPlan {
    order: Vec<usize>,
    /// `planned[i]`: unit `i` is in `order`.
    planned: Vec<bool>,
    /// The most tokens (header included) one item may take; `None`: whole.
    share: Option<u32>,
}

/// What a thread member takes: its text before the quotes when the connector marked them.
fn thread_member_cost(m: &ItemSize) -> (Take, u32) {
    match m.fresh {
        Some((at, fresh_tokens)) => (
            Take::Fresh(at, fresh_tokens),
            m.header_tokens.saturating_add(fresh_tokens),
        ),
        None => (Take::Whole, m.header_tokens.saturating_add(m.tokens)),
    }
}

/// Plans the packing of `units` (in rank order) into `budget` tokens.
///
/// * Everything fits whole (or the baseline mode): rank order, nothing trimmed.
/// * Else the largest share `s >= MIN_SHARE_TOKENS` with `Σ min(cost, s) <= budget` (threads
///   count whole): every unit goes in, rank order, items longer than `s` trimmed to their best
///   passages — more related items in the window than dropping the long ones.
/// * Else share `MIN_SHARE_TOKENS` and the order of value per token (fused score × items in
///   the unit / √tokens it would take), sources taking turns (`SOURCE_TURN_PENALTY`), until
///   the budget is spent; the rest is not planned (cut).
fn plan_packing(units: &[Unit], budget: u32, full: bool) -> PackingPlan {
    let all = PackingPlan {
        order: (0..units.len()).collect(),
        planned: vec![true; units.len()],
        share: None,
    };
    let total: u64 = units.iter().map(|u| u64::from(u.cost)).sum();
    if !full || total <= u64::from(budget) {
        return all;
    }
    let fixed: u64 = units
        .iter()
        .filter(|u| u.thread)
        .map(|u| u64::from(u.cost))
        .sum();
    let wanted = |share: u32| -> u64 {
        fixed
            + units
                .iter()
                .filter(|u| !u.thread)
                .map(|u| u64::from(u.cost.min(share)))
                .sum::<u64>()
    };
    if wanted(MIN_SHARE_TOKENS) <= u64::from(budget) {
        let (mut lo, mut hi) = (
            MIN_SHARE_TOKENS,
            units
                .iter()
                .map(|u| u.cost)
                .max()
                .unwrap_or(MIN_SHARE_TOKENS),
        );
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if wanted(mid) <= u64::from(budget) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return PackingPlan {
            share: Some(lo),
            ..all
        };
    }
    let share = MIN_SHARE_TOKENS;
    let cost_of = |u: &Unit| if u.thread { u.cost } else { u.cost.min(share) }.max(1);
    // A thread is worth its related messages; cost counts with a square root because fused
    // scores are reciprocal ranks (rank 1 and rank 50 differ by under 2×): divided by the
    // whole cost, value per token would be "smallest first" (measured in ARCHITECTURE.md).
    let value = |u: &Unit| u.score * u.members.len().max(1) as f32 / (cost_of(u) as f32).sqrt();
    // Per source, its units by value per token (best first; rank breaks ties).
    let mut sources: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, u) in units.iter().enumerate() {
        match sources.iter_mut().find(|(s, _)| *s == u.source) {
            Some((_, list)) => list.push(i),
            None => sources.push((&u.source, vec![i])),
        }
    }
    for (_, list) in &mut sources {
        list.sort_by(|&a, &b| {
            value(&units[b])
                .partial_cmp(&value(&units[a]))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.cmp(&b))
        });
        list.reverse(); // pop() takes the best
    }
    let mut taken_per_source = vec![0u32; sources.len()];
    let mut left = u64::from(budget);
    let mut order = Vec::new();
    let mut planned = vec![false; units.len()];
    loop {
        let best = sources
            .iter()
            .enumerate()
            .filter_map(|(s, (_, list))| {
                let &i = list.last()?;
                let turn = 1.0 + SOURCE_TURN_PENALTY * taken_per_source[s] as f32;
                Some((s, value(&units[i]) / turn, i))
            })
            .max_by(|a, b| {
                a.1.partial_cmp(&b.1)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then(b.2.cmp(&a.2))
            });
        let Some((s, _, i)) = best else { break };
        sources[s].1.pop();
        let cost = u64::from(cost_of(&units[i]));
        if cost > left {
            continue;
        }
        left -= cost;
        taken_per_source[s] += 1;
        planned[i] = true;
        order.push(i);
    }
    PackingPlan {
        order,
        planned,
        share: Some(share),
    }
}

/// Retrieval over a store and its search projection.
pub struct Retriever<'a> {
    pub index: &'a SearchIndex,
    pub store: &'a StoreReader,
    pub counter: &'a TokenCounter,
}

impl Retriever<'_> {
    /// Everything related to `params.query` that fits `params.token_budget`. Blocking.
    pub fn grab(&self, params: &GrabParams) -> Result<GrabResult> {
        self.grab_with_semantic(params, &[])
    }

    /// [`Retriever::grab`] with semantic candidates: item rowids and their similarity to the
    /// query, most similar first (from the embedding index). They are fused as one more ranked
    /// list; filters apply to them as to every candidate.
    pub fn grab_with_semantic(
        &self,
        params: &GrabParams,
        semantic: &[(i64, f32)],
    ) -> Result<GrabResult> {
        self.grab_with_deferred_semantic(params, || semantic.to_vec())
    }

    /// [`Retriever::grab_with_semantic`] where the semantic candidates are asked for only once
    /// the keyword and graph signals are in (and only in full mode): a caller that computes them
    /// on another thread (embedding the query, scanning the vectors) overlaps that work with
    /// this one instead of adding to it.
    pub fn grab_with_deferred_semantic(
        &self,
        params: &GrabParams,
        semantic: impl FnOnce() -> Vec<(i64, f32)>,
    ) -> Result<GrabResult> {
        let mut items = Vec::new();
        let summary = self.grab_each_with_deferred_semantic(params, semantic, |item| {
            items.push(item);
            ControlFlow::Continue(())
        })?;
        let markdown = items.iter().map(|i| i.rendered.as_str()).collect();
        Ok(GrabResult {
            items,
            tokens_used: summary.tokens_used,
            token_budget: summary.token_budget,
            candidates: summary.candidates,
            cut: summary.cut,
            markdown,
            took_us: summary.took_us,
        })
    }

    /// [`Retriever::grab_with_deferred_semantic`] that hands each packed item to `sink` as soon
    /// as its text is rendered, in the window's order, instead of collecting them: the packing
    /// decisions need only stored sizes, and bodies are then read in growing batches, so the
    /// first item is ready long before the whole window. `sink` returning `Break` (the reader
    /// is gone) stops the rendering. The unary call is this with a sink that collects.
    pub fn grab_each_with_deferred_semantic(
        &self,
        params: &GrabParams,
        semantic: impl FnOnce() -> Vec<(i64, f32)>,
        mut sink: impl FnMut(PackedItem) -> ControlFlow<()>,
    ) -> Result<GrabSummary> {
        let mut semantic = Some(semantic);
        let mut semantic_list: Vec<(i64, f32)> = Vec::new();
        let started = Instant::now();
        let budget = params.token_budget;
        let full = params.mode == RetrievalMode::Full;
        // 0. Query understanding: time expressions become a time filter (intersected with the
        //    request's) and leave the keyword text.
        let mut filters = params.filters.clone();
        let mut text = params.query.clone();
        let now_ms = params.now_ms.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)
        });
        if full {
            let timed = parse_time(&params.query, now_ms);
            if let Some(range) = timed.range {
                filters.since_ms = match (filters.since_ms, range.since_ms) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                filters.until_ms = match (filters.until_ms, range.until_ms) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                text = timed.text;
            }
        }
        let terms = query_terms(&text);

        // 1. Candidates. The BM25 list is long enough that a budget larger than everything
        //    related really returns everything related.
        let bm25_limit = ((budget / 40) as usize).clamp(200, 50_000);
        // In full mode the plain keyword list only breaks ties and votes, unless nothing
        // matches the point of the query: a short one is enough until then.
        let plain_limit = if full {
            bm25_limit.min(PLAIN_LIST_IN_FULL_MODE)
        } else {
            bm25_limit
        };
        // Full mode: a flat union of the query's words (prunable); keyword mode keeps the
        // parser's query, the BM25 baseline it stands for.
        let plain_top = |limit: usize| {
            if full {
                self.index.search_words_top(&text, &filters, limit)
            } else {
                self.index.search_top(&text, &filters, limit)
            }
        };
        let mut hits = plain_top(plain_limit)?;
        let mut lists = vec![RankedList {
            signal: Signal::Bm25,
            weight: if full { 0.5 } else { 1.0 },
            rowids: hits.iter().map(|h| h.rowid).collect(),
        }];
        // What may be packed: in full mode, only what some signal says is related.
        let mut eligible: Option<HashSet<i64>> = None;
        if full {
            // 2. Entities the query names, and a keyword search that insists on the point of
            //    the query: the named entities' phrases, and most of its other content words.
            let named = signals::named_entities(self.store, &text, bm25_limit)?;
            let entity_words: HashSet<String> = signals::query_words(&text)
                .iter()
                .zip(&named.covered)
                .filter(|(_, c)| **c)
                .flat_map(|(w, _)| query_terms(w))
                .collect();
            let content: Vec<String> = terms
                .iter()
                .filter(|t| !signals::INTENT_WORDS.contains(&t.as_str()))
                .cloned()
                .collect();
            // Capitalised words that name no known entity are names all the same ("Ironbark",
            // "Osprey", "Route Planner"): each is required.
            let words = signals::query_words(&text);
            let mut proper: Vec<String> = Vec::new();
            for (word, covered) in words.iter().zip(&named.covered) {
                if *covered || !word.chars().next().is_some_and(char::is_uppercase) {
                    continue;
                }
                for t in query_terms(word) {
                    if !signals::INTENT_WORDS.contains(&t.as_str()) && !proper.contains(&t) {
                        proper.push(t);
                    }
                }
            }
            let residual: Vec<String> = content
                .iter()
                .filter(|t| !entity_words.contains(*t) && !proper.contains(*t))
                .cloned()
                .collect();
            let focus_terms =
                if named.phrases.is_empty() && proper.is_empty() && residual.is_empty() {
                    terms.clone()
                } else {
                    residual.clone()
                };
            let min_match = (focus_terms.len() * 6).div_ceil(10);
            let focused = self.index.search_focused(
                &named.phrases,
                &proper,
                &focus_terms,
                min_match,
                &filters,
                bm25_limit,
            )?;
            if focused.is_empty() && hits.len() >= plain_limit && plain_limit < bm25_limit {
                hits = plain_top(bm25_limit)?;
                lists[0].rowids = hits.iter().map(|h| h.rowid).collect();
            }
            // 3. What the best focused hits share: their organisation (when the query names
            //    none) and the people who meet in them.
            // The index holds one document per live item; asking it is free (a COUNT is not).
            let live = self.index.num_docs();
            // Too few focused hits to say what they share: the best keyword hits vote too.
            let best = hits.first().map(|h| h.score).unwrap_or(0.0);
            let near_best = || {
                hits.iter()
                    .filter(move |h| h.score >= best * BM25_RELATIVE_CUTOFF)
                    .copied()
            };
            let voters: Vec<crate::index::Hit> = if focused.len() >= 3 {
                focused.clone()
            } else {
                focused.iter().copied().chain(near_best()).collect()
            };
            let feedback = signals::feedback(
                self.store,
                &voters,
                live,
                named.lists.is_empty(),
                bm25_limit,
            )?;
            let mut ok: HashSet<i64> = focused.iter().map(|h| h.rowid).collect();
            for list in &feedback {
                // The organisation stands in for a named one: all of it only when the query
                // is just the name; where people meet is specific either way.
                if matches!(list.signal, Signal::Participants(_)) || residual.is_empty() {
                    ok.extend(list.rowids.iter().copied());
                }
            }
            // A named entity's items are all related when the query is just the entity;
            // with more to it ("the Acme renewal"), only those the other signals confirm.
            if residual.is_empty() && proper.is_empty() {
                for list in &named.lists {
                    ok.extend(list.rowids.iter().copied());
                }
            } else if !voters.is_empty() && !named.lists.is_empty() {
                ok.extend(signals::named_items_with_focus_people(
                    self.store, &named, &voters, live,
                )?);
            }
            if focused.is_empty() {
                // Nothing has the point of the query: keyword hits near the best one.
                ok.extend(near_best().map(|h| h.rowid));
            }
            let point_found =
                focused.len() >= SEMANTIC_ALONE_MAX_FOCUSED || !named.lists.is_empty();
            lists.push(RankedList {
                signal: Signal::Bm25,
                weight: 1.0,
                rowids: focused.iter().map(|h| h.rowid).collect(),
            });
            lists.extend(named.lists);
            lists.extend(feedback);
            // Semantic neighbours: one more ranked list; related by themselves only for a query
            // the other signals could not place (a paraphrase shares no keyword with its topic).
            if let Some(compute) = semantic.take() {
                semantic_list = compute();
            }
            let semantic = &semantic_list;
            if !semantic.is_empty() {
                let floor = if point_found {
                    SEMANTIC_STRONG
                } else {
                    SEMANTIC_ALONE_MIN
                };
                ok.extend(
                    semantic
                        .iter()
                        .filter(|(_, s)| *s >= floor)
                        .map(|(rowid, _)| *rowid),
                );
                lists.push(RankedList {
                    signal: Signal::Semantic,
                    weight: 1.0,
                    rowids: semantic.iter().map(|(rowid, _)| *rowid).collect(),
                });
            }
            eligible = Some(ok);
        }
        let mut reasons: HashMap<i64, Reasons> = HashMap::new();
        if full {
            for &(rowid, similarity) in &semantic_list {
                reasons.entry(rowid).or_default().semantic = Some(similarity);
            }
        }
        for (rank, hit) in hits.iter().enumerate() {
            reasons.entry(hit.rowid).or_default().bm25_rank = Some(rank);
        }
        for list in &lists {
            for &rowid in &list.rowids {
                let r = reasons.entry(rowid).or_default();
                match &list.signal {
                    Signal::Bm25 => {}
                    Signal::Entity(label) | Signal::Feedback(label) => {
                        if !r.entities.contains(label) {
                            r.entities.push(label.clone());
                        }
                    }
                    Signal::Participants(names) => {
                        r.participants.get_or_insert_with(|| names.clone());
                    }
                    Signal::Semantic | Signal::Recency => {}
                }
            }
        }
        // 4. Fuse, keep what is related, best first.
        let mut seen: HashSet<i64> = HashSet::new();
        let mut order: Vec<i64> = Vec::new();
        for list in &lists {
            for &rowid in &list.rowids {
                if eligible.as_ref().is_none_or(|e| e.contains(&rowid)) && seen.insert(rowid) {
                    order.push(rowid);
                }
            }
        }
        // Sizes and stored counts of all candidates, fetched in a few batched queries.
        let mut sizes = self.store.sizes(&order)?;
        // Recency votes weakly: what is nearest to now (recent mail, the next meeting) first.
        if full && order.len() > 1 {
            let mut by_time = order.clone();
            // Cached keys: one map lookup per candidate, not one per comparison (thousands of
            // candidates at large budgets).
            by_time.sort_by_cached_key(|rowid| {
                let distance = sizes
                    .get(rowid)
                    .and_then(|s| s.timestamp_ms)
                    .map_or(i64::MAX, |t| t.saturating_sub(now_ms).saturating_abs());
                (distance, *rowid)
            });
            lists.push(RankedList {
                signal: Signal::Recency,
                weight: RECENCY_WEIGHT,
                rowids: by_time,
            });
        }
        let fused = signals::fuse(&lists);
        let mut scored: Vec<(f32, i64)> = order
            .iter()
            .map(|r| (fused.get(r).copied().unwrap_or(0.0), *r))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let order: Vec<i64> = scored.into_iter().map(|(_, r)| r).collect();
        let candidates = order.len() as u32;
        // A recurring series passes a date filter when any occurrence is inside, whatever its
        // own timestamp (the next or the last occurrence).
        let untimed = Filters {
            since_ms: None,
            until_ms: None,
            ..filters.clone()
        };
        let occurrences = if filters.has_time_range() {
            let recurring: Vec<i64> = order
                .iter()
                .copied()
                .filter(|r| {
                    sizes
                        .get(r)
                        .is_some_and(|s| matches!(s.kind, ItemKind::Event | ItemKind::Task))
                })
                .collect();
            self.store.occurrences(&recurring)?
        } else {
            HashMap::new()
        };
        let passes = |rowid: i64, size: &ItemSize| {
            filters.accepts(&size.source, size.kind, size.timestamp_ms)
                || (untimed.accepts(&size.source, size.kind, None)
                    && occurrences
                        .get(&rowid)
                        .is_some_and(|times| filters.accepts_any_time(times)))
        };
        let separator_tokens = self.counter.count(PASSAGE_SEPARATOR);
        // 5. Units in rank order: a thread is one unit (its messages in order, each without the
        //    quotes of the earlier ones), anything else is one item.
        let mut units: Vec<Unit> = Vec::new();
        let mut assigned: HashSet<i64> = HashSet::new();
        let mut threads_done: HashSet<String> = HashSet::new();
        for &rowid in &order {
            if assigned.contains(&rowid) {
                continue;
            }
            let Some(size) = sizes.get(&rowid) else {
                continue;
            };
            if !passes(rowid, size) {
                continue;
            }
            let score = fused.get(&rowid).copied().unwrap_or(0.0);
            let source = size.source.clone();
            let whole = size.header_tokens.saturating_add(size.tokens);
            let thread_key = size.thread_key.clone();
            if full
                && let Some(thread) = thread_key
                && threads_done.insert(thread.clone())
            {
                let members = self.store.thread_members(&thread, MAX_THREAD_MEMBERS)?;
                if members.len() > 1 {
                    let member_sizes = self.store.sizes(&members)?;
                    let mut kept = Vec::new();
                    let mut cost = 0u32;
                    for member in members {
                        let Some(m) = member_sizes.get(&member) else {
                            continue;
                        };
                        if assigned.contains(&member) || !passes(member, m) {
                            continue;
                        }
                        assigned.insert(member);
                        cost = cost.saturating_add(thread_member_cost(m).1);
                        kept.push(member);
                    }
                    sizes.extend(member_sizes);
                    units.push(Unit {
                        anchor: rowid,
                        members: kept,
                        score,
                        cost,
                        thread: true,
                        source,
                    });
                    continue;
                }
            }
            assigned.insert(rowid);
            units.push(Unit {
                anchor: rowid,
                members: vec![rowid],
                score,
                cost: whole,
                thread: false,
                source,
            });
        }
        // 6. Plan: when everything related fits, every unit goes in whole, best first. When it
        //    does not, long items are trimmed to a common share so that more related items fit;
        //    when even the smallest share leaves items out, units go in by value per token,
        //    sources taking turns.
        let plan = plan_packing(&units, budget, full);
        // 7. Pack. Decisions need only the stored counts; trimming reads an item's chunks.
        let mut remaining = budget;
        let mut decisions: Vec<Decision> = Vec::new();
        // Each trim reads an item's chunks; bound the reads one request can cause. A plan with a
        // share counted every long item at that share, so each of them gets its trim: running
        // out would cut planned items and leave their share of the budget unused.
        // Long items: above the share, so the plan trims them to it.
        let is_long = |u: &Unit| plan.share.is_some_and(|share| !u.thread && u.cost > share);
        let planned_trims = plan.order.iter().filter(|&&i| is_long(&units[i])).count();
        let mut trims_left = (MAX_TRIM_ATTEMPTS + planned_trims).min(MAX_PLANNED_TRIMS);
        // What the plan set aside for the units after each one: an item may take what is left
        // beyond that, so tokens a trimmed item did not use (trims end at chunk edges) go to
        // the next long item instead of staying unused.
        let planned_cost = |u: &Unit| -> u32 {
            match plan.share {
                Some(share) if !u.thread => u.cost.min(share),
                _ => u.cost,
            }
        };
        // Long items after each slot: the unused tokens are spread over them, so that the long
        // items keep similar shares.
        let mut reserved_after: Vec<u32> = vec![0; plan.order.len()];
        let mut long_after: Vec<u32> = vec![0; plan.order.len()];
        let (mut sum, mut longs) = (0u32, 0u32);
        for (slot, &i) in plan.order.iter().enumerate().rev() {
            reserved_after[slot] = sum;
            long_after[slot] = longs;
            sum = sum.saturating_add(planned_cost(&units[i]));
            longs += u32::from(is_long(&units[i]));
        }
        let mut cut = Vec::new();
        let mut packed_sketches = PackedSketches::default();
        let mut duplicates: HashMap<i64, Vec<String>> = HashMap::new();
        // In full mode a near-identical copy of a packed item is left out (and named on it).
        let copy_of = |packed: &PackedSketches, size: &ItemSize| -> Option<i64> {
            if !full {
                return None;
            }
            packed.copy_of(
                size.sketch.as_ref()?,
                size.thread_key.as_deref(),
                size.tokens,
            )
        };
        let note_cut = |cut: &mut Vec<CutItem>, size: &ItemSize, score: f32| {
            if cut.len() < MAX_CUT_LISTED {
                cut.push(CutItem {
                    id: size.id.clone(),
                    tokens: size.header_tokens.saturating_add(size.tokens),
                    score,
                });
            }
        };
        for (slot, &unit_index) in plan.order.iter().enumerate() {
            let unit = &units[unit_index];
            let rowid = unit.anchor;
            let score = unit.score;
            if unit.thread {
                for &member in &unit.members {
                    let Some(m) = sizes.get(&member) else {
                        continue;
                    };
                    if let Some(original) = copy_of(&packed_sketches, m) {
                        duplicates.entry(original).or_default().push(m.id.clone());
                        continue;
                    }
                    let (take, cost) = thread_member_cost(m);
                    let member_score = fused.get(&member).copied().unwrap_or(score);
                    if cost <= remaining {
                        remaining -= cost;
                        packed_sketches.add(m, member);
                        decisions.push(Decision {
                            rowid: member,
                            take,
                            anchor: (member != rowid).then_some(rowid),
                            rank: unit_index,
                        });
                    } else {
                        note_cut(&mut cut, m, member_score);
                    }
                }
                continue;
            }
            let Some(size) = sizes.get(&rowid) else {
                continue;
            };
            if let Some(original) = copy_of(&packed_sketches, size) {
                duplicates
                    .entry(original)
                    .or_default()
                    .push(size.id.clone());
                continue;
            }
            let whole = size.header_tokens.saturating_add(size.tokens);
            // The most this item may take: its share when long items are trimmed to one, plus
            // what earlier items left of theirs.
            let limit = plan.share.map_or(whole, |share| {
                let planned = whole.min(share);
                let unused = remaining
                    .saturating_sub(reserved_after[slot])
                    .saturating_sub(planned);
                whole.min(planned + unused / (1 + long_after[slot]))
            });
            let room = limit.min(remaining);
            let packed_before = decisions.len();
            if whole <= room {
                remaining -= whole;
                decisions.push(Decision {
                    rowid,
                    take: Take::Whole,
                    anchor: None,
                    rank: unit_index,
                });
            } else if room >= size.header_tokens + MIN_TRIMMED_TEXT_TOKENS
                && trims_left > 0
                && {
                    trims_left -= 1;
                    true
                }
                && let Some((text, tokens)) =
                    self.trim(rowid, room - size.header_tokens, separator_tokens, &terms)?
            {
                remaining -= size.header_tokens + tokens;
                decisions.push(Decision {
                    rowid,
                    take: Take::Trimmed(text, tokens),
                    anchor: None,
                    rank: unit_index,
                });
            } else {
                note_cut(&mut cut, size, score);
            }
            if decisions.len() > packed_before {
                packed_sketches.add(size, rowid);
            }
        }
        // Units not planned (value per token left them out) are cut.
        for (unit_index, unit) in units.iter().enumerate() {
            if plan.planned.get(unit_index).copied().unwrap_or(true) {
                continue;
            }
            for member in &unit.members {
                if let Some(size) = sizes.get(member) {
                    note_cut(&mut cut, size, unit.score);
                }
            }
        }
        // The window reads in rank order (grouping below keeps the best-ranked group first),
        // whatever order value per token packed it in; a thread's members keep their order.
        decisions.sort_by_key(|d| d.rank);
        let packed_rowids: Vec<i64> = decisions.iter().map(|d| d.rowid).collect();
        let mut metas: HashMap<i64, PackMeta> = self
            .store
            .pack_metas(&packed_rowids)?
            .into_iter()
            .map(|m| (m.rowid, m))
            .collect();
        let titles: HashMap<i64, String> = metas
            .iter()
            .map(|(rowid, m)| (*rowid, m.title.clone()))
            .collect();
        let decisions = if full {
            self.group_for_reading(decisions, &metas)?
        } else {
            decisions
        };
        // Bodies are read in the final order, in batches that grow from FIRST_BODY_BATCH as the
        // items are rendered: the first item is ready after one small read, a whole window
        // costs a few reads.
        let body_rowids: Vec<i64> = decisions
            .iter()
            .filter(|d| !matches!(d.take, Take::Trimmed(..)))
            .map(|d| d.rowid)
            .collect();
        let mut bodies: HashMap<i64, String> = HashMap::new();
        let mut bodies_read = 0;
        let mut batch_len = FIRST_BODY_BATCH;
        let mut sent = 0u32;
        for decision in decisions {
            let rowid = decision.rowid;
            while !matches!(decision.take, Take::Trimmed(..))
                && !bodies.contains_key(&rowid)
                && bodies_read < body_rowids.len()
            {
                let end = (bodies_read + batch_len).min(body_rowids.len());
                bodies.extend(self.store.bodies(&body_rowids[bodies_read..end])?);
                bodies_read = end;
                batch_len = (batch_len * 2).min(MAX_BODY_BATCH);
            }
            let Some(meta) = metas.remove(&rowid) else {
                continue;
            };
            let score = fused.get(&rowid).copied().unwrap_or(0.0);
            let mut reason = reasons.remove(&rowid).unwrap_or_default();
            if let Some(anchor) = decision.anchor {
                reason.thread_of = titles.get(&anchor).cloned();
            }
            reason.duplicate_ids = duplicates.remove(&rowid).unwrap_or_default();
            if !filters.accepts(&meta.source, meta.kind, meta.timestamp_ms) {
                reason.occurs_at = occurrences
                    .get(&rowid)
                    .and_then(|times| times.iter().copied().find(|&t| filters.contains_time(t)));
            }
            let (text, used, truncated) = match decision.take {
                Take::Whole => {
                    let whole = meta.header_tokens.saturating_add(meta.tokens);
                    (bodies.remove(&rowid).unwrap_or_default(), whole, false)
                }
                Take::Fresh(cut_at, fresh_tokens) => {
                    let mut body = bodies.remove(&rowid).unwrap_or_default();
                    if body.is_char_boundary(cut_at) {
                        body.truncate(cut_at);
                    }
                    (body, meta.header_tokens + fresh_tokens, false)
                }
                Take::Trimmed(text, tokens) => (text, meta.header_tokens + tokens, true),
            };
            sent += 1;
            let item = self.packed(meta, text, used, score, truncated, &terms, reason);
            if sink(item).is_break() {
                break;
            }
        }
        Ok(GrabSummary {
            items: sent,
            tokens_used: budget - remaining,
            token_budget: budget,
            candidates,
            cut,
            took_us: started.elapsed().as_micros() as u64,
        })
    }

    /// Picks the head and the passages that best match the query until `room` tokens are used.
    /// Returns `None` when not even the head chunk fits.
    fn trim(
        &self,
        rowid: i64,
        room: u32,
        separator_tokens: u32,
        terms: &[String],
    ) -> Result<Option<(String, u32)>> {
        let chunks = self.store.chunks(rowid)?;
        let chunk_tokens: Vec<u32> = chunks.iter().map(|c| c.tokens).collect();
        let texts: Vec<&str> = chunks.iter().map(|c| c.text.as_str()).collect();
        // Rank chunks: the head first, then by number of query-term occurrences.
        let mut ranked: Vec<(usize, usize)> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let lower = t.to_lowercase();
                let hits = terms
                    .iter()
                    .map(|term| lower.matches(term.as_str()).count())
                    .sum();
                (i, hits)
            })
            .collect();
        ranked.sort_by(|a, b| {
            (b.0 == 0)
                .cmp(&(a.0 == 0))
                .then(b.1.cmp(&a.1))
                .then(a.0.cmp(&b.0))
        });
        let mut chosen: Vec<usize> = Vec::new();
        for (ord, _) in ranked {
            let mut candidate = chosen.clone();
            candidate.push(ord);
            candidate.sort_unstable();
            if passage_tokens(&candidate, &chunk_tokens, separator_tokens) <= room {
                chosen = candidate;
            }
        }
        if chosen.is_empty() {
            return Ok(None);
        }
        let tokens = passage_tokens(&chosen, &chunk_tokens, separator_tokens);
        let mut text = String::new();
        let mut previous: Option<usize> = None;
        for &ord in &chosen {
            if let Some(p) = previous
                && ord != p + 1
            {
                text.push_str(PASSAGE_SEPARATOR);
            }
            text.push_str(texts[ord]);
            previous = Some(ord);
        }
        if chosen.last().is_some_and(|&l| l + 1 < chunk_tokens.len()) {
            text.push_str(PASSAGE_SEPARATOR);
        }
        Ok(Some((text, tokens)))
    }

    /// Orders the window for reading: a unit (a thread's messages, or one item) stays whole;
    /// units about the same organisation are put together, the groups in the order of their
    /// best-ranked unit, the units inside a group chronologically. Organisations that a large
    /// share of all items involve (the user's own company) group nothing.
    fn group_for_reading(
        &self,
        decisions: Vec<Decision>,
        metas: &HashMap<i64, PackMeta>,
    ) -> Result<Vec<Decision>> {
        if decisions.len() < 3 {
            return Ok(decisions);
        }
        // Units: consecutive decisions of one thread (packing put them together).
        let mut units: Vec<Vec<Decision>> = Vec::new();
        let mut last_thread: Option<String> = None;
        for d in decisions {
            let thread = metas.get(&d.rowid).and_then(|m| m.thread_key.clone());
            match (units.last_mut(), &thread) {
                (Some(unit), Some(t)) if last_thread.as_ref() == Some(t) => unit.push(d),
                _ => units.push(vec![d]),
            }
            last_thread = thread;
        }
        let rowids: Vec<i64> = units.iter().flatten().map(|d| d.rowid).collect();
        let entities = self.store.entities_of_items(&rowids)?;
        let orgs: Vec<i64> = {
            let mut v: Vec<i64> = entities
                .values()
                .flatten()
                .filter(|(_, kind)| kind == "org")
                .map(|(e, _)| *e)
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let live = self.index.num_docs().max(1);
        // In a small store nothing is everywhere by this measure alone.
        let cap = (live / GROUPING_ORG_SHARE).max(GROUPING_ORG_MIN_ITEMS);
        let counts = self.store.entity_item_counts(&orgs, cap)?;
        // Each unit's organisation: the most specific one its first item involves.
        let org_of = |unit: &[Decision]| -> Option<i64> {
            unit.iter().find_map(|d| {
                entities
                    .get(&d.rowid)?
                    .iter()
                    .filter(|(_, kind)| kind == "org")
                    .filter_map(|(e, _)| counts.get(e).map(|n| (*n, *e)))
                    .filter(|(n, _)| *n < cap)
                    .min()
                    .map(|(_, e)| e)
            })
        };
        let time_of = |unit: &[Decision]| -> i64 {
            unit.iter()
                .filter_map(|d| metas.get(&d.rowid).and_then(|m| m.timestamp_ms))
                .min()
                .unwrap_or(i64::MAX)
        };
        // Groups in order of first appearance (rank order), units of a group by time.
        let mut group_order: Vec<Option<i64>> = Vec::new();
        // Per group: (time, rank, unit) of each of its units.
        type Units = Vec<(i64, usize, Vec<Decision>)>;
        let mut groups: HashMap<Option<i64>, Units> = HashMap::new();
        for (rank, unit) in units.into_iter().enumerate() {
            // A unit with no organisation is its own group.
            let key = org_of(&unit).or(Some(-(rank as i64) - 1));
            if !groups.contains_key(&key) {
                group_order.push(key);
            }
            let time = time_of(&unit);
            groups.entry(key).or_default().push((time, rank, unit));
        }
        let mut out = Vec::new();
        for key in group_order {
            let mut members = groups.remove(&key).unwrap_or_default();
            members.sort_by_key(|(time, rank, _)| (*time, *rank));
            out.extend(members.into_iter().flat_map(|(_, _, unit)| unit));
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn packed(
        &self,
        meta: PackMeta,
        text: String,
        tokens: u32,
        score: f32,
        truncated: bool,
        terms: &[String],
        reasons: Reasons,
    ) -> PackedItem {
        let why = explain(&meta.title, &text, terms, &reasons, truncated);
        let duplicate_ids = reasons.duplicate_ids;
        let header = ctx_store::item_header(&ctx_store::HeaderFields {
            id: &meta.id,
            kind: meta.kind,
            source: &meta.source,
            title: &meta.title,
            locator: &meta.locator,
            timestamp_ms: meta.timestamp_ms,
            people: &meta.people,
        });
        let rendered = format!("{header}{text}{BLOCK_END}");
        PackedItem {
            id: meta.id,
            kind: meta.kind,
            source: meta.source,
            title: meta.title,
            locator: meta.locator,
            timestamp_ms: meta.timestamp_ms,
            people: meta.people,
            text,
            tokens,
            full_tokens: meta.tokens,
            score,
            why,
            truncated,
            rendered,
            duplicate_ids,
        }
    }
}

/// Tokens of the chosen chunks with separators between gaps and after a cut tail.
fn passage_tokens(chosen: &[usize], chunk_tokens: &[u32], separator_tokens: u32) -> u32 {
    let mut total = 0u32;
    let mut previous: Option<usize> = None;
    for &ord in chosen {
        if let Some(p) = previous
            && ord != p + 1
        {
            total += separator_tokens;
        }
        total += chunk_tokens[ord];
        previous = Some(ord);
    }
    if chosen.last().is_some_and(|&l| l + 1 < chunk_tokens.len()) {
        total += separator_tokens;
    }
    total
}

/// A short human-readable reason: matched terms and where, entities involved.
fn explain(
    title: &str,
    text: &str,
    terms: &[String],
    reasons: &Reasons,
    truncated: bool,
) -> String {
    let title_l = title.to_lowercase();
    let text_l = text.to_lowercase();
    let in_title: Vec<&str> = terms
        .iter()
        .filter(|t| title_l.contains(t.as_str()))
        .map(String::as_str)
        .collect();
    let in_text: Vec<&str> = terms
        .iter()
        .filter(|t| !title_l.contains(t.as_str()) && text_l.contains(t.as_str()))
        .map(String::as_str)
        .collect();
    let quote = |v: &[&str]| {
        v.iter()
            .take(5)
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if !in_title.is_empty() {
        parts.push(format!("matched {} in title", quote(&in_title)));
    }
    if !in_text.is_empty() {
        parts.push(format!("matched {}", quote(&in_text)));
    }
    if let Some(title) = &reasons.thread_of
        && parts.is_empty()
    {
        parts.push(format!("same thread as '{}'", title.trim()));
    }
    if !reasons.entities.is_empty() {
        parts.push(format!(
            "involves {}",
            reasons
                .entities
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(names) = &reasons.participants
        && reasons.entities.is_empty()
    {
        parts.push(format!(
            "with {} (who the best matches involve)",
            names.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    if let Some(at) = reasons.occurs_at {
        parts.push(format!(
            "occurs {} (a recurring series)",
            ctx_store::format_timestamp(at)
        ));
    }
    if let Some(similarity) = reasons.semantic
        && parts.is_empty()
    {
        parts.push(format!("semantically similar ({similarity:.2})"));
    }
    if parts.is_empty() {
        parts.push(match reasons.bm25_rank {
            Some(rank) => format!("keyword match (rank {})", rank + 1),
            None if terms.is_empty() => "matches the filters".to_string(),
            None => "related".to_string(),
        });
    }
    match reasons.duplicate_ids.len() {
        0 => {}
        1 => parts.push("a near-identical copy left out".to_string()),
        n => parts.push(format!("{n} near-identical copies left out")),
    }
    if truncated {
        parts.push("trimmed to the most relevant passages".to_string());
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(cost: u32, score: f32, source: &str) -> Unit {
        Unit {
            anchor: 0,
            members: vec![0],
            score,
            cost,
            thread: false,
            source: source.to_owned(),
        }
    }

    fn spent(units: &[Unit], plan: &PackingPlan) -> u64 {
        plan.order
            .iter()
            .map(|&i| {
                let u = &units[i];
                u64::from(match plan.share {
                    Some(s) if !u.thread => u.cost.min(s),
                    _ => u.cost,
                })
            })
            .sum()
    }

    #[test]
    fn everything_that_fits_goes_in_whole_in_rank_order() {
        let units = vec![
            unit(500, 0.3, "a"),
            unit(400, 0.2, "b"),
            unit(100, 0.1, "a"),
        ];
        let plan = plan_packing(&units, 1000, true);
        assert_eq!(plan.order, vec![0, 1, 2]);
        assert_eq!(plan.share, None);
    }

    #[test]
    fn long_items_are_trimmed_to_a_common_share_so_all_fit() {
        let units = vec![
            unit(5000, 0.3, "a"),
            unit(3000, 0.2, "a"),
            unit(200, 0.1, "b"),
            Unit {
                thread: true,
                ..unit(800, 0.05, "mail")
            },
        ];
        let plan = plan_packing(&units, 4000, true);
        // 2 × share + 200 + 800 (a thread counts whole) = 4000.
        assert_eq!(plan.share, Some(1500));
        assert_eq!(plan.order, vec![0, 1, 2, 3]);
        assert!(spent(&units, &plan) <= 4000);
        // The baseline never trims ahead.
        assert_eq!(plan_packing(&units, 4000, false).share, None);
    }

    #[test]
    fn when_crowded_value_per_token_decides_and_sources_take_turns() {
        // Ten long documents ranked first, then short CRM notes and meetings.
        let mut units: Vec<Unit> = (0..10)
            .map(|i| unit(3000, 0.5 - i as f32 * 0.01, "docs"))
            .collect();
        units.extend((0..10).map(|i| unit(100, 0.2 - i as f32 * 0.01, "crm")));
        units.extend((0..10).map(|i| unit(150, 0.2 - i as f32 * 0.01, "calendar")));
        let budget = 3000;
        let plan = plan_packing(&units, budget, true);
        assert_eq!(plan.share, Some(MIN_SHARE_TOKENS));
        assert!(spent(&units, &plan) <= u64::from(budget));
        let packed = |source: &str| {
            plan.order
                .iter()
                .filter(|&&i| units[i].source == source)
                .count()
        };
        // Far more related items than rank order would give (4 documents at their share).
        assert!(plan.order.len() >= 12, "{:?}", plan.order);
        // Every source is represented; the short items are most of the window.
        assert!(
            packed("crm") >= 3 && packed("calendar") >= 3,
            "{:?}",
            plan.order
        );
        assert!(packed("crm") + packed("calendar") > packed("docs"));
        assert!(packed("docs") >= 1, "{:?}", plan.order);
        // What was left out is marked so.
        for (i, planned) in plan.planned.iter().enumerate() {
            assert_eq!(*planned, plan.order.contains(&i));
        }
        // Within a source, better value first.
        let crm: Vec<usize> = plan
            .order
            .iter()
            .copied()
            .filter(|&i| units[i].source == "crm")
            .collect();
        assert!(crm.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn sources_take_turns_when_values_are_close() {
        // One source's items are slightly better per token; the other still gets turns.
        let mut units: Vec<Unit> = (0..20).map(|_| unit(700, 0.30, "mail")).collect();
        units.extend((0..20).map(|_| unit(700, 0.27, "crm")));
        let plan = plan_packing(&units, 7000, true);
        let crm = plan
            .order
            .iter()
            .filter(|&&i| units[i].source == "crm")
            .count();
        assert_eq!(plan.order.len(), 10);
        assert!((4..=6).contains(&crm), "crm got {crm} of 10");
    }
}
