//! The tantivy projection: one document per live item, keyed by the item's store rowid.

use std::collections::HashMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ctx_connector_api::ItemKind;
use ctx_store::{DocState, StoreReader};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{
    AllQuery, BooleanQuery, BoostQuery, EmptyQuery, Occur, Query, QueryParser, RangeQuery,
    TermQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TEXT, Value,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};

use crate::{Result, SearchError};

/// Version of the index layout; a different version on disk means a rebuild from the store.
pub const INDEX_SCHEMA_VERSION: u32 = 2;
const VERSION_FILE: &str = "ctx-index-version";
const WRITER_MEMORY: usize = 64 * 1024 * 1024;
/// Items whose text is read from the store and staged at once.
const STAGE_BATCH: usize = 500;

#[derive(Clone, Copy)]
struct Fields {
    rowid: Field,
    source: Field,
    kind: Field,
    title: Field,
    body: Field,
    people: Field,
    timestamp: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        rowid: b.add_i64_field("rowid", INDEXED | FAST | STORED),
        source: b.add_text_field("source", STRING | FAST),
        kind: b.add_text_field("kind", STRING),
        title: b.add_text_field("title", TEXT),
        body: b.add_text_field("body", TEXT),
        people: b.add_text_field("people", TEXT),
        timestamp: b.add_i64_field("timestamp", INDEXED | FAST),
    };
    (b.build(), fields)
}

/// Which items a query may return.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    pub sources: Vec<String>,
    pub kinds: Vec<ItemKind>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
            && self.kinds.is_empty()
            && self.since_ms.is_none()
            && self.until_ms.is_none()
    }

    /// Whether the filter restricts time at all.
    pub fn has_time_range(&self) -> bool {
        self.since_ms.is_some() || self.until_ms.is_some()
    }

    /// Whether an instant falls inside the time range (an open end admits everything).
    pub fn contains_time(&self, t: i64) -> bool {
        self.since_ms.is_none_or(|since| t >= since) && self.until_ms.is_none_or(|until| t < until)
    }

    /// Whether one of a recurring item's occurrences falls inside the time range.
    pub fn accepts_any_time(&self, times_ms: &[i64]) -> bool {
        times_ms.iter().any(|&t| self.contains_time(t))
    }

    /// Whether an item with these attributes passes; with a time range, an item without a
    /// timestamp does not.
    pub fn accepts(&self, source: &str, kind: ItemKind, timestamp_ms: Option<i64>) -> bool {
        (self.sources.is_empty() || self.sources.iter().any(|s| s == source))
            && (self.kinds.is_empty() || self.kinds.contains(&kind))
            && (!self.has_time_range() || timestamp_ms.is_some_and(|t| self.contains_time(t)))
    }
}

/// A ranked hit: the store rowid of an item and its BM25 score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub rowid: i64,
    pub score: f32,
}

/// How the index was found when opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenState {
    /// Opened as is; replay the change log after its last applied sequence.
    Existing,
    /// Created empty (missing, corrupt or of another schema version): rebuild from the store.
    Fresh { reason: String },
}

/// The tantivy projection of the store.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    dir: PathBuf,
}

impl SearchIndex {
    /// Opens the index in `dir`, or creates it empty when it is missing, corrupt or of an older
    /// schema (the caller then rebuilds it with [`SearchIndex::catch_up`]).
    pub fn open(dir: &Path) -> Result<(SearchIndex, OpenState)> {
        match Self::try_open(dir) {
            Ok(index) => Ok((index, OpenState::Existing)),
            Err(reason) => {
                if dir.exists() {
                    std::fs::remove_dir_all(dir).map_err(|e| SearchError::Io {
                        path: dir.to_path_buf(),
                        source: e,
                    })?;
                }
                std::fs::create_dir_all(dir).map_err(|e| SearchError::Io {
                    path: dir.to_path_buf(),
                    source: e,
                })?;
                let (schema, fields) = schema();
                let index = Index::create_in_dir(dir, schema)?;
                std::fs::write(dir.join(VERSION_FILE), INDEX_SCHEMA_VERSION.to_string()).map_err(
                    |e| SearchError::Io {
                        path: dir.join(VERSION_FILE),
                        source: e,
                    },
                )?;
                Ok((
                    Self::from_index(index, fields, dir)?,
                    OpenState::Fresh { reason },
                ))
            }
        }
    }

    fn try_open(dir: &Path) -> std::result::Result<SearchIndex, String> {
        let version = std::fs::read_to_string(dir.join(VERSION_FILE))
            .map_err(|_| "no index yet".to_string())?;
        if version.trim() != INDEX_SCHEMA_VERSION.to_string() {
            return Err(format!(
                "index schema version {} differs from {INDEX_SCHEMA_VERSION}",
                version.trim()
            ));
        }
        let index = Index::open_in_dir(dir).map_err(|e| format!("index unreadable: {e}"))?;
        let (expected, fields) = schema();
        if index.schema() != expected {
            return Err("index schema differs".to_string());
        }
        // Reading the metas and every segment's fast fields catches most corruption up front.
        index
            .load_metas()
            .map_err(|e| format!("index metadata unreadable: {e}"))?;
        let opened = Self::from_index(index, fields, dir).map_err(|e| format!("{e}"))?;
        let searcher = opened.reader.searcher();
        for segment in searcher.segment_readers() {
            segment
                .fast_fields()
                .i64("rowid")
                .map_err(|e| format!("segment unreadable: {e}"))?;
        }
        Ok(opened)
    }

    fn from_index(index: Index, fields: Fields, dir: &Path) -> Result<SearchIndex> {
        let writer = index.writer(WRITER_MEMORY)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            writer: Mutex::new(writer),
            fields,
            dir: dir.to_path_buf(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last store change sequence durably applied to the index.
    pub fn applied_seq(&self) -> Result<i64> {
        let metas = self.index.load_metas()?;
        Ok(metas
            .payload
            .as_deref()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0))
    }

    fn writer(&self) -> Result<std::sync::MutexGuard<'_, IndexWriter>> {
        self.writer.lock().map_err(|_| SearchError::Poisoned)
    }

    /// Applies item states (delete-by-rowid, then add when live) without committing.
    fn stage(&self, writer: &IndexWriter, states: Vec<DocState>) -> Result<()> {
        let f = self.fields;
        for state in states {
            match state {
                DocState::Gone { rowid } => {
                    writer.delete_term(Term::from_field_i64(f.rowid, rowid));
                }
                DocState::Live(d) => {
                    writer.delete_term(Term::from_field_i64(f.rowid, d.rowid));
                    let mut document = doc!(
                        f.rowid => d.rowid,
                        f.source => d.source,
                        f.kind => d.kind.as_str(),
                        f.title => d.title,
                        f.body => d.body,
                        f.people => d.people,
                    );
                    if let Some(ts) = d.timestamp_ms {
                        document.add_i64(f.timestamp, ts);
                    }
                    // A range query matches a document when any of its values is inside: a
                    // series is found by the date of any occurrence.
                    for &at in &d.occurrences_ms {
                        if Some(at) != d.timestamp_ms {
                            document.add_i64(f.timestamp, at);
                        }
                    }
                    writer.add_document(document)?;
                }
            }
        }
        Ok(())
    }

    fn commit(&self, writer: &mut IndexWriter, seq: i64) -> Result<()> {
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&seq.to_string());
        prepared.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    /// Brings the index up to date with the store: replays the change log after the last applied
    /// sequence, or, when `rebuild` is set, re-adds every live item first. Returns the number of
    /// item states applied. Blocking: call from a dedicated thread.
    pub fn catch_up(&self, store: &StoreReader, rebuild: bool) -> Result<u64> {
        let mut writer = self.writer()?;
        let mut applied = 0u64;
        let mut seq = self.applied_seq()?;
        if rebuild {
            // Read the log position first: whatever changes while we copy is replayed below.
            seq = store.max_seq()?;
            writer.delete_all_documents()?;
            let mut after = 0;
            loop {
                let rowids = store.live_rowids(after, STAGE_BATCH)?;
                let Some(&last) = rowids.last() else { break };
                after = last;
                applied += rowids.len() as u64;
                self.stage(&writer, store.doc_states(&rowids)?)?;
            }
            self.commit(&mut writer, seq)?;
        }
        loop {
            let changes = store.changes_after(seq, 5000)?;
            let Some(last) = changes.last() else { break };
            let last_seq = last.seq;
            let mut rowids: Vec<i64> = changes.iter().map(|c| c.item_rowid).collect();
            rowids.sort_unstable();
            rowids.dedup();
            applied += rowids.len() as u64;
            // Bodies are read a few hundred at a time: a commit covers thousands of changes,
            // but holding all their texts at once was tens of MiB of peak RSS in a mail import.
            for part in rowids.chunks(STAGE_BATCH) {
                self.stage(&writer, store.doc_states(part)?)?;
            }
            self.commit(&mut writer, last_seq)?;
            seq = last_seq;
        }
        Ok(applied)
    }

    /// Number of documents visible to searches.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    fn filter_queries(&self, filters: &Filters) -> Vec<(Occur, Box<dyn Query>)> {
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let any_of = |field: Field, values: Vec<String>| -> Box<dyn Query> {
            Box::new(BooleanQuery::new(
                values
                    .into_iter()
                    .map(|v| {
                        let q: Box<dyn Query> = Box::new(TermQuery::new(
                            Term::from_field_text(field, &v),
                            IndexRecordOption::Basic,
                        ));
                        (Occur::Should, q)
                    })
                    .collect(),
            ))
        };
        if !filters.sources.is_empty() {
            clauses.push((Occur::Must, any_of(f.source, filters.sources.clone())));
        }
        if !filters.kinds.is_empty() {
            let kinds = filters
                .kinds
                .iter()
                .map(|k| k.as_str().to_string())
                .collect();
            clauses.push((Occur::Must, any_of(f.kind, kinds)));
        }
        if filters.since_ms.is_some() || filters.until_ms.is_some() {
            let lower = filters.since_ms.map_or(Bound::Unbounded, |s| {
                Bound::Included(Term::from_field_i64(f.timestamp, s))
            });
            let upper = filters.until_ms.map_or(Bound::Unbounded, |u| {
                Bound::Excluded(Term::from_field_i64(f.timestamp, u))
            });
            clauses.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
        }
        clauses
    }

    /// BM25 over title, body and people, filtered; returns a page of hits and the total count.
    /// An empty query matches every item that passes the filters.
    pub fn search(
        &self,
        query: &str,
        filters: &Filters,
        limit: usize,
        offset: usize,
    ) -> Result<(Vec<Hit>, u64)> {
        self.collect(
            self.filtered_text_query(query, filters).as_ref(),
            limit,
            offset,
        )
    }

    /// The best `limit` hits of [`SearchIndex::search`], without the total: not counting every
    /// match lets tantivy skip blocks that cannot reach the top (block-max WAND), which is what
    /// keeps a query with a very common word ("com" of an address) fast at a million items.
    pub fn search_top(&self, query: &str, filters: &Filters, limit: usize) -> Result<Vec<Hit>> {
        self.collect_top(self.filtered_text_query(query, filters).as_ref(), limit)
    }

    /// The best `limit` items by BM25 of the query's words over title, body and people, each
    /// word of each field one clause of a flat union (no phrases: `sign-on` and an address are
    /// their words). Unlike the parser's query (a union per word, phrases for hyphenated words)
    /// a flat union of terms lets tantivy prune with block-max WAND when nothing filters, so a
    /// few common words at a million items cost a fraction of visiting all their postings.
    pub fn search_words_top(
        &self,
        query: &str,
        filters: &Filters,
        limit: usize,
    ) -> Result<Vec<Hit>> {
        let mut tokenizer = self.index.tokenizer_for_field(self.fields.body)?;
        let mut words: Vec<String> = Vec::new();
        let mut stream = tokenizer.token_stream(query);
        while stream.advance() {
            let text = stream.token().text.clone();
            if !words.contains(&text) {
                words.push(text);
            }
        }
        if words.is_empty() {
            return self.search_top(query, filters, limit);
        }
        let mut union: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (field, boost) in self.text_fields() {
            for word in &words {
                let term = TermQuery::new(
                    Term::from_field_text(field, word),
                    IndexRecordOption::WithFreqs,
                );
                union.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(Box::new(term), boost)),
                ));
            }
        }
        let query = self.filtered(Box::new(BooleanQuery::new(union)), filters);
        self.collect_top(query.as_ref(), limit)
    }

    fn filtered_text_query(&self, query: &str, filters: &Filters) -> Box<dyn Query> {
        let text_query: Box<dyn Query> = if query.trim().is_empty() {
            Box::new(AllQuery)
        } else {
            let parser = self.parser();
            // Lenient: stray quotes or colons in a user's question must not fail the call.
            let (q, _errors) = parser.parse_query_lenient(&sanitize_query(query));
            q
        };
        self.filtered(text_query, filters)
    }

    /// `text_query` restricted by the filters (itself when nothing filters, so that a union of
    /// terms stays prunable).
    fn filtered(&self, text_query: Box<dyn Query>, filters: &Filters) -> Box<dyn Query> {
        let mut clauses = vec![(Occur::Must, text_query)];
        clauses.extend(self.filter_queries(filters));
        if clauses.len() == 1 {
            clauses
                .pop()
                .map(|(_, q)| q)
                .unwrap_or_else(|| Box::new(EmptyQuery))
        } else {
            Box::new(BooleanQuery::new(clauses))
        }
    }

    /// The fields a text query searches, with their boosts.
    fn text_fields(&self) -> [(Field, f32); 3] {
        let f = self.fields;
        [(f.title, 2.0), (f.body, 1.0), (f.people, 1.5)]
    }

    fn parser(&self) -> QueryParser {
        let fields = self.text_fields();
        let mut parser =
            QueryParser::for_index(&self.index, fields.iter().map(|(f, _)| *f).collect());
        for (field, boost) in fields {
            parser.set_field_boost(field, boost);
        }
        parser
    }

    /// BM25 that insists on the query's point: every hit contains one of `required` (phrases
    /// such as a person's full name, matched as phrases), every one of `all_of` (words) and at
    /// least `min_match` of `terms`. Scores add up over all of them. With nothing required and
    /// no terms, nothing matches.
    #[allow(clippy::too_many_arguments)]
    pub fn search_focused(
        &self,
        required: &[String],
        all_of: &[String],
        terms: &[String],
        min_match: usize,
        filters: &Filters,
        limit: usize,
    ) -> Result<Vec<Hit>> {
        let parser = self.parser();
        let parse = |text: &str| -> Box<dyn Query> {
            let (q, _errors) = parser.parse_query_lenient(&sanitize_query(text));
            q
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if !required.is_empty() {
            let any: Vec<(Occur, Box<dyn Query>)> = required
                .iter()
                .map(|phrase| {
                    let quoted = if phrase.contains(' ') {
                        format!("\"{}\"", phrase.replace('"', " "))
                    } else {
                        phrase.clone()
                    };
                    (Occur::Should, parse(&quoted))
                })
                .collect();
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        }
        for word in all_of {
            clauses.push((Occur::Must, parse(word)));
        }
        if !terms.is_empty() {
            let should: Vec<(Occur, Box<dyn Query>)> =
                terms.iter().map(|t| (Occur::Should, parse(t))).collect();
            let occur = if min_match > 0 {
                Occur::Must
            } else {
                Occur::Should
            };
            clauses.push((
                occur,
                Box::new(BooleanQuery::with_minimum_required_clauses(
                    should,
                    min_match.min(terms.len()),
                )),
            ));
        }
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        clauses.extend(self.filter_queries(filters));
        let query = BooleanQuery::new(clauses);
        self.collect_top(&query, limit)
    }

    /// A page of hits and the number of all matches (every match is scored to count it).
    fn collect(&self, query: &dyn Query, limit: usize, offset: usize) -> Result<(Vec<Hit>, u64)> {
        let searcher = self.reader.searcher();
        let (top, total) = searcher.search(
            query,
            &(TopDocs::with_limit(limit.max(1)).and_offset(offset), Count),
        )?;
        Ok((Self::hits(&searcher, top)?, total as u64))
    }

    /// The best `limit` hits only (pruned search).
    fn collect_top(&self, query: &dyn Query, limit: usize) -> Result<Vec<Hit>> {
        let searcher = self.reader.searcher();
        let top = searcher.search(query, &TopDocs::with_limit(limit.max(1)))?;
        Self::hits(&searcher, top)
    }

    /// Rowids of scored documents.
    fn hits(
        searcher: &tantivy::Searcher,
        top: Vec<(f32, tantivy::DocAddress)>,
    ) -> Result<Vec<Hit>> {
        let mut hits = Vec::with_capacity(top.len());
        // Opening a fast-field column decodes its block index: once per segment, not per hit.
        let mut columns: HashMap<u32, tantivy::columnar::Column<i64>> = HashMap::new();
        for (score, address) in top {
            let column = match columns.entry(address.segment_ord) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(
                    searcher
                        .segment_reader(address.segment_ord)
                        .fast_fields()
                        .i64("rowid")?,
                ),
            };
            if let Some(rowid) = column.first(address.doc_id) {
                hits.push(Hit { rowid, score });
            }
        }
        Ok(hits)
    }

    /// Rowids of every indexed item (for consistency checks in tests and `ctx doctor`-style tools).
    pub fn all_rowids(&self) -> Result<Vec<i64>> {
        let searcher = self.reader.searcher();
        let mut out = Vec::new();
        for segment in searcher.segment_readers() {
            let column = segment.fast_fields().i64("rowid")?;
            for doc in 0..segment.max_doc() {
                if segment.is_deleted(doc) {
                    continue;
                }
                if let Some(r) = column.first(doc) {
                    out.push(r);
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Stored rowid of a document (used by tests to check stored fields survive).
    pub fn stored_rowid(&self, doc: &TantivyDocument) -> Option<i64> {
        doc.get_first(self.fields.rowid).and_then(|v| v.as_i64())
    }
}

/// Keeps words, addresses and quoted phrases; drops query-syntax characters a person did not
/// mean as syntax (a question mark, a colon in "Re: renewal").
fn sanitize_query(query: &str) -> String {
    query
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '"' || c == '@' || c == '.' || c == '-' || c == '_' {
                c
            } else {
                ' '
            }
        })
        .collect()
}
