//! Candidate signals of GrabEverythingRelated: ranked lists of items, each from one kind of
//! evidence, fused by weighted reciprocal-rank fusion.
//!
//! * **BM25** over title, body and people (tantivy).
//! * **Named entities**: people (by name or address) and organisations (by name, domain, or the
//!   domain's label written as words: "Bluefin Logistics" → `bluefinlogistics.io`) named by a
//!   phrase of the query bring every item they are linked to (mail, meetings, CRM records).
//! * **Entity feedback**: when the query names no known entity, the organisation most of the
//!   best keyword hits involve is taken as the one meant ("Stonebridge Insurance" finds the
//!   mail of `sti.net` because the best hits are that company's threads), and its items join.
//! * **Shared participants**: the people most of the best hits share (a deal's contacts and
//!   owner, a project's team) bring the items where several of them meet — the meeting whose
//!   title names nobody, the thread whose subject is "Quick question".
//!
//! Another signal (semantic similarity) is one more [`RankedList`] pushed before fusion.

use std::collections::{HashMap, HashSet};

use ctx_store::StoreReader;

use crate::Result;
use crate::index::Hit;

/// Reciprocal-rank-fusion constant: how much the top ranks dominate.
pub(crate) const RRF_K: f32 = 60.0;
/// How many of the best keyword hits feedback signals look at.
const FEEDBACK_HITS: usize = 10;
/// An entity is informative when it is linked to at most this share of all items.
const COMMON_ENTITY_SHARE: f64 = 0.05;

/// What kind of evidence a list is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Signal {
    Bm25,
    /// Items of an entity the query names (its label).
    Entity(String),
    /// Items of an organisation the best hits involve (its label).
    Feedback(String),
    /// Items where several of the best hits' people meet (their labels).
    Participants(Vec<String>),
    /// Semantic neighbours of the query (embeddings).
    Semantic,
    /// Related candidates by nearness to now (a tie-breaker).
    Recency,
}

/// One ranked list of candidates.
#[derive(Debug, Clone)]
pub(crate) struct RankedList {
    pub signal: Signal,
    /// Fusion weight.
    pub weight: f32,
    pub rowids: Vec<i64>,
}

/// Weighted reciprocal-rank fusion of `lists`: rowid → fused score.
pub(crate) fn fuse(lists: &[RankedList]) -> HashMap<i64, f32> {
    let mut fused: HashMap<i64, f32> = HashMap::new();
    for list in lists {
        for (rank, &rowid) in list.rowids.iter().enumerate() {
            *fused.entry(rowid).or_default() += list.weight / (RRF_K + rank as f32 + 1.0);
        }
    }
    fused
}

/// A readable label of an entity.
fn label(entity: &ctx_store::EntityMatch) -> String {
    match &entity.name {
        Some(n) if entity.kind == "person" && !entity.key.starts_with("name:") => {
            format!("{n} <{}>", entity.key)
        }
        Some(n) => n.clone(),
        None => entity.key.clone(),
    }
}

/// The words of a query as entity lookups see them (punctuation around words removed).
pub(crate) fn query_words(query: &str) -> Vec<&str> {
    query
        .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '?' || c == '!')
        .map(|w| {
            w.trim_matches(|c: char| c == '"' || c == '\'' || c == '(' || c == ')' || c == '.')
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// Phrases of a query that may name an entity, with the span of words they cover: addresses,
/// domains, and runs of one to three words ("Dana Lee", "acme.com"), plus each multi-word run
/// written as one word ("bluefin logistics" → "bluefinlogistics", how domains are often
/// spelled).
pub(crate) fn entity_phrases(words: &[&str]) -> Vec<(String, usize, usize)> {
    let mut out: Vec<(String, usize, usize)> = Vec::new();
    for n in 1..=3 {
        for (start, window) in words.windows(n).enumerate() {
            let phrase = window.join(" ");
            if phrase.len() >= 3 && !out.iter().any(|(p, ..)| *p == phrase) {
                out.push((phrase, start, n));
            }
            if n > 1 {
                let joined = window.concat();
                if joined.chars().all(char::is_alphanumeric)
                    && !out.iter().any(|(p, ..)| *p == joined)
                {
                    out.push((joined, start, n));
                }
            }
        }
    }
    out
}

/// Words that say what kind of answer is wanted, not what it is about ("emails and meetings
/// with Dana", "Acme account status"): they are not required of keyword hits.
pub(crate) const INTENT_WORDS: &[&str] = &[
    "everything",
    "anything",
    "all",
    "status",
    "update",
    "updates",
    "latest",
    "recent",
    "account",
    "emails",
    "email",
    "mail",
    "mails",
    "messages",
    "message",
    "meetings",
    "meeting",
    "notes",
    "documents",
    "docs",
    "files",
    "waiting",
    "history",
    "info",
    "information",
    "summary",
    "progress",
    "news",
    "where",
    "we",
    "are",
    "related",
    "regarding",
    "stuff",
    "things",
    "show",
    "tell",
    "find",
    "get",
    "going",
    "happening",
    "thread",
    "threads",
    "calendar",
    "project",
    "projects",
];

/// Entities named by the query.
pub(crate) struct Named {
    /// Phrases a keyword hit must contain one of: the words that named an entity, and the
    /// entity's own name (an address names a person who is written about by name).
    pub phrases: Vec<String>,
    /// Which query words are part of an entity's name (a capitalised word next to a named
    /// entity belongs to it: "Bluefin Robotics" when `bluefin.com` is known as "Bluefin").
    pub covered: Vec<bool>,
    /// One list per entity: its items, most recent first.
    pub lists: Vec<RankedList>,
    /// The named entities (store rowids).
    pub entities: HashSet<i64>,
}

/// Entities named by the query, with their items (most recent first).
pub(crate) fn named_entities(store: &StoreReader, query: &str, limit: usize) -> Result<Named> {
    let words = query_words(query);
    let mut named = Named {
        phrases: Vec::new(),
        covered: vec![false; words.len()],
        lists: Vec::new(),
        entities: HashSet::new(),
    };
    for (phrase, start, len) in entity_phrases(&words) {
        let found = store.find_entities(&phrase)?;
        if found.is_empty() {
            continue;
        }
        let spaced = words[start..start + len].join(" ");
        if !named.phrases.contains(&spaced) {
            named.phrases.push(spaced);
        }
        let capitalised = |w: &str| w.chars().next().is_some_and(char::is_uppercase);
        let (mut from, mut to) = (start, start + len);
        while from > 0 && capitalised(words[from - 1]) && !named.covered[from - 1] {
            from -= 1;
        }
        while to < words.len() && capitalised(words[to]) {
            to += 1;
        }
        for flag in &mut named.covered[from..to] {
            *flag = true;
        }
        for entity in found {
            if !named.entities.insert(entity.rowid) {
                continue;
            }
            if let Some(name) = &entity.name
                && !named.phrases.iter().any(|p| p.eq_ignore_ascii_case(name))
            {
                named.phrases.push(name.clone());
            }
            named.lists.push(RankedList {
                signal: Signal::Entity(label(&entity)),
                weight: 1.0,
                rowids: store.items_of_entity(entity.rowid, limit)?,
            });
        }
    }
    Ok(named)
}

/// With more to the query than a name ("the Acme renewal"), the named entities' items that
/// involve the people of the best focused hits are related too: the deal's contacts' thread and
/// meeting need not repeat the topic. The named entities themselves and people linked to a
/// large share of everything (one's own address) do not count.
pub(crate) fn named_items_with_focus_people(
    store: &StoreReader,
    named: &Named,
    focused: &[Hit],
    live_items: u64,
) -> Result<Vec<i64>> {
    let top: Vec<i64> = focused
        .iter()
        .take(FEEDBACK_HITS)
        .map(|h| h.rowid)
        .collect();
    let mut people: Vec<i64> = store
        .entities_of_items(&top)?
        .into_values()
        .flatten()
        .filter(|(e, kind)| kind == "person" && !named.entities.contains(e))
        .map(|(e, _)| e)
        .collect();
    people.sort_unstable();
    people.dedup();
    if people.is_empty() {
        return Ok(Vec::new());
    }
    let cap = ((live_items as f64 * COMMON_ENTITY_SHARE) as u64).max(50);
    let counts = store.entity_item_counts(&people, cap)?;
    let people: HashSet<i64> = people
        .into_iter()
        .filter(|p| counts.get(p).is_some_and(|n| *n < cap))
        .collect();
    if people.is_empty() {
        return Ok(Vec::new());
    }
    let pool: Vec<i64> = named
        .lists
        .iter()
        .flat_map(|l| l.rowids.iter().copied())
        .collect();
    let involved = store.entities_of_items(&pool)?;
    Ok(pool
        .into_iter()
        .filter(|r| {
            involved
                .get(r)
                .is_some_and(|es| es.iter().any(|(e, _)| people.contains(e)))
        })
        .collect())
}

/// The feedback signals from the best keyword hits: the organisation they involve (only when
/// `want_org`), and the items where the people they share meet.
pub(crate) fn feedback(
    store: &StoreReader,
    hits: &[Hit],
    live_items: u64,
    want_org: bool,
    limit: usize,
) -> Result<Vec<RankedList>> {
    // One vote per conversation: the messages of one thread are one piece of evidence.
    let head: Vec<i64> = hits
        .iter()
        .take(FEEDBACK_HITS * 5)
        .map(|h| h.rowid)
        .collect();
    let sizes = store.sizes(&head)?;
    let mut threads = HashSet::new();
    let top: Vec<i64> = head
        .into_iter()
        .filter(|r| match sizes.get(r).and_then(|s| s.thread_key.clone()) {
            Some(t) => threads.insert(t),
            None => true,
        })
        .take(FEEDBACK_HITS)
        .collect();
    let entities = store.entities_of_items(&top)?;
    // Only hits that involve anyone vote (a document without people says nothing either way).
    let voters = entities.len();
    if voters < 2 {
        return Ok(Vec::new());
    }
    let mut votes: HashMap<(i64, bool), usize> = HashMap::new();
    for list in entities.values() {
        let mut once = HashSet::new();
        for (entity, kind) in list {
            if once.insert(*entity) {
                *votes.entry((*entity, kind == "org")).or_default() += 1;
            }
        }
    }
    let cap = ((live_items as f64 * COMMON_ENTITY_SHARE) as u64).max(50);
    let candidates: Vec<i64> = votes
        .iter()
        .filter(|(_, n)| **n * 10 >= voters * 4)
        .map(|((e, _), _)| *e)
        .collect();
    let counts = store.entity_item_counts(&candidates, cap)?;
    let informative = |e: &i64| counts.get(e).is_some_and(|n| *n < cap);
    let mut out = Vec::new();
    if want_org {
        let mut orgs: Vec<(i64, usize)> = votes
            .iter()
            .filter(|((e, org), n)| *org && **n * 2 >= voters && informative(e))
            .map(|((e, _), n)| (*e, *n))
            .collect();
        orgs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        if let Some(&(org, _)) = orgs.first() {
            let name = store
                .entities_by_rowid(&[org])?
                .first()
                .map(label)
                .unwrap_or_default();
            out.push(RankedList {
                signal: Signal::Feedback(name),
                weight: 0.8,
                rowids: store.items_of_entity(org, limit)?,
            });
        }
    }
    let mut people: Vec<i64> = votes
        .iter()
        .filter(|((e, org), n)| !*org && **n * 10 >= voters * 6 && informative(e))
        .map(|((e, _), _)| *e)
        .collect();
    people.sort_unstable();
    if people.len() >= 2 {
        let need = 2.max((people.len() * 6).div_ceil(10));
        let mut meets: HashMap<i64, usize> = HashMap::new();
        for &p in &people {
            for rowid in store.items_of_entity(p, limit)? {
                *meets.entry(rowid).or_default() += 1;
            }
        }
        let mut rowids: Vec<(i64, usize)> = meets.into_iter().filter(|(_, n)| *n >= need).collect();
        rowids.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        if !rowids.is_empty() {
            let names = store
                .entities_by_rowid(&people)?
                .iter()
                .map(label)
                .collect();
            out.push(RankedList {
                signal: Signal::Participants(names),
                weight: 0.8,
                rowids: rowids.into_iter().map(|(r, _)| r).collect(),
            });
        }
    }
    Ok(out)
}
