//! The projection against the store, and packing against its promises.

use std::collections::BTreeSet;

use ctx_connector_api::{Batch, Cursor, Item, ItemId, ItemKind, PersonRef, PersonRole};
use ctx_search::{Filters, GrabParams, OpenState, Retriever, SearchIndex};
use ctx_store::{Store, StoreReader, TokenCounter, prepare_batch};
use proptest::prelude::*;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    reader: StoreReader,
    index: SearchIndex,
    counter: TokenCounter,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
        let reader = store.reader().unwrap();
        let (index, state) = SearchIndex::open(&dir.path().join("index")).unwrap();
        assert!(matches!(state, OpenState::Fresh { .. }));
        Fixture {
            _dir: dir,
            store,
            reader,
            index,
            counter: TokenCounter::new(),
        }
    }

    fn put(&mut self, source: &str, items: Vec<Item>, deletes: Vec<String>) {
        let cur = self.store.cursor(source).unwrap();
        let batch = Batch {
            upserts: items,
            deletes,
            cursor: Some(Cursor("x".into())),
            has_more: false,
            progress: None,
        };
        let prepared = prepare_batch(source, batch, &self.counter);
        self.store
            .commit_batch(source, cur.as_ref(), &prepared)
            .unwrap();
        self.index.catch_up(&self.reader, false).unwrap();
    }

    fn grab(&self, query: &str, budget: u32, filters: Filters) -> ctx_search::GrabResult {
        Retriever {
            index: &self.index,
            store: &self.reader,
            counter: &self.counter,
        }
        .grab(&GrabParams {
            query: query.into(),
            token_budget: budget,
            filters,
            ..Default::default()
        })
        .unwrap()
    }
}

fn doc(ext: &str, title: &str, body: &str) -> Item {
    let mut item = Item::new(ext, ItemKind::Document, title, body);
    item.locator = format!("/docs/{ext}");
    item.timestamp_ms = Some(1_700_000_000_000);
    item
}

#[test]
fn search_finds_items_and_respects_filters() {
    let mut f = Fixture::new();
    f.put(
        "docs",
        vec![
            doc("a", "Acme renewal", "The renewal is due in March."),
            doc("b", "Lunch", "Pizza on Friday"),
        ],
        vec![],
    );
    let mut mail = doc("m", "Re: renewal pricing", "Numbers for the renewal");
    mail.kind = ItemKind::Email;
    f.put("mail", vec![mail], vec![]);
    let (hits, total) = f
        .index
        .search("renewal", &Filters::default(), 10, 0)
        .unwrap();
    assert_eq!(total, 2);
    assert_eq!(hits.len(), 2);
    let only_mail = Filters {
        sources: vec!["mail".into()],
        ..Default::default()
    };
    assert_eq!(f.index.search("renewal", &only_mail, 10, 0).unwrap().1, 1);
    let only_docs = Filters {
        kinds: vec![ItemKind::Document],
        ..Default::default()
    };
    assert_eq!(f.index.search("renewal", &only_docs, 10, 0).unwrap().1, 1);
    let later = Filters {
        since_ms: Some(1_800_000_000_000),
        ..Default::default()
    };
    assert_eq!(f.index.search("renewal", &later, 10, 0).unwrap().1, 0);
    // Syntax characters in a person's question do not fail the search.
    assert_eq!(
        f.index
            .search("renewal: (when?) \"", &Filters::default(), 10, 0)
            .unwrap()
            .1,
        2
    );
}

#[test]
fn packing_never_exceeds_the_budget_and_counts_match_the_rendering() {
    let mut f = Fixture::new();
    let items: Vec<Item> = (0..40)
        .map(|i| {
            doc(
                &format!("d{i}"),
                &format!("Report {i} on renewal"),
                // Distinct texts: a repeated sentence would make them near-identical copies.
                &(0..10 + i * 7)
                    .map(|j| format!("The renewal terms of offer {i}-{j} and pricing discussion continue here. "))
                    .collect::<String>(),
            )
        })
        .collect();
    f.put("docs", items, vec![]);
    for budget in [1, 30, 100, 257, 1000, 4096, 8192, 100_000] {
        let r = f.grab("renewal pricing", budget, Filters::default());
        assert!(
            r.tokens_used <= budget,
            "budget {budget}: used {}",
            r.tokens_used
        );
        assert_eq!(r.tokens_used, r.items.iter().map(|i| i.tokens).sum::<u32>());
        let actual = f.counter.count(&r.markdown);
        assert!(
            actual <= r.tokens_used,
            "budget {budget}: rendering has {actual} tokens, accounted {}",
            r.tokens_used
        );
        assert_eq!(
            r.items.len() + r.cut.len(),
            40usize.min(r.candidates as usize)
        );
    }
    // A big budget returns everything related, whole.
    let r = f.grab("renewal", 1_000_000, Filters::default());
    assert_eq!(r.items.len(), 40);
    assert!(r.items.iter().all(|i| !i.truncated));
    assert!(r.cut.is_empty());
}

#[test]
fn long_items_are_trimmed_to_matching_passages() {
    let mut f = Fixture::new();
    let mut body = "Unrelated filler about the weather and gardens. ".repeat(400);
    body.push_str("\n\nThe indemnification clause caps liability at two million.\n\n");
    body.push_str(&"More filler text about birds. ".repeat(400));
    f.put("docs", vec![doc("long", "Master agreement", &body)], vec![]);
    let r = f.grab("indemnification", 700, Filters::default());
    assert_eq!(r.items.len(), 1);
    let item = &r.items[0];
    assert!(item.truncated);
    assert!(
        item.text.contains("indemnification clause"),
        "{}",
        item.text
    );
    assert!(
        item.text.starts_with("Unrelated filler"),
        "the head is kept"
    );
    assert!(item.tokens <= 700);
    assert!(item.why.contains("'indemnification'"), "{}", item.why);
}

#[test]
fn people_named_in_the_query_bring_their_items() {
    let mut f = Fixture::new();
    let mut meeting = doc("e1", "Quarterly sync", "Agenda: roadmap");
    meeting.kind = ItemKind::Event;
    meeting.people = vec![PersonRef {
        email: Some("dana@acme.com".into()),
        name: Some("Dana Lee".into()),
        role: PersonRole::Attendee,
    }];
    f.put(
        "cal",
        vec![meeting, doc("x", "Other", "nothing here")],
        vec![],
    );
    let r = f.grab("what did Dana Lee say", 8192, Filters::default());
    assert_eq!(r.items.len(), 1, "{:?}", r.items);
    assert_eq!(r.items[0].id, ItemId::new("cal", "e1").to_string());
    assert!(r.items[0].why.contains("Dana Lee"), "{}", r.items[0].why);
    // Organisations come from the address domain.
    let r = f.grab("Acme", 8192, Filters::default());
    assert_eq!(r.items.len(), 1);
}

#[test]
fn a_corrupt_index_is_rebuilt_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let reader = store.reader().unwrap();
    let batch = Batch {
        upserts: vec![doc("a", "alpha", "one"), doc("b", "beta", "two")],
        ..Default::default()
    };
    store
        .commit_batch(
            "docs",
            None,
            &prepare_batch("docs", batch, &TokenCounter::new()),
        )
        .unwrap();
    let index_dir = dir.path().join("index");
    {
        let (index, _) = SearchIndex::open(&index_dir).unwrap();
        index.catch_up(&reader, true).unwrap();
        assert_eq!(index.num_docs(), 2);
    }
    // Garbage over the index metadata.
    std::fs::write(index_dir.join("meta.json"), b"{ not json").unwrap();
    let (index, state) = SearchIndex::open(&index_dir).unwrap();
    assert!(matches!(state, OpenState::Fresh { .. }), "{state:?}");
    index.catch_up(&reader, true).unwrap();
    assert_eq!(index.num_docs(), 2);
    // An index of another schema version is rebuilt too.
    drop(index);
    std::fs::write(index_dir.join("ctx-index-version"), b"0").unwrap();
    let (_, state) = SearchIndex::open(&index_dir).unwrap();
    assert!(matches!(state, OpenState::Fresh { .. }));
}

#[test]
fn replay_after_reopen_applies_changes_committed_in_between() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let reader = store.reader().unwrap();
    let counter = TokenCounter::new();
    let index_dir = dir.path().join("index");
    {
        let (index, _) = SearchIndex::open(&index_dir).unwrap();
        let b = Batch {
            upserts: vec![doc("a", "alpha", "one")],
            ..Default::default()
        };
        store
            .commit_batch("docs", None, &prepare_batch("docs", b, &counter))
            .unwrap();
        index.catch_up(&reader, false).unwrap();
    }
    // The daemon "crashes" after the store commit, before the index sees it.
    let b = Batch {
        upserts: vec![doc("b", "beta", "two")],
        deletes: vec!["a".into()],
        ..Default::default()
    };
    store
        .commit_batch("docs", None, &prepare_batch("docs", b, &counter))
        .unwrap();
    let (index, state) = SearchIndex::open(&index_dir).unwrap();
    assert_eq!(state, OpenState::Existing);
    index.catch_up(&reader, false).unwrap();
    let live: Vec<i64> = reader.live_rowids(0, 100).unwrap();
    assert_eq!(index.all_rowids().unwrap(), live);
    assert_eq!(
        index.search("alpha", &Filters::default(), 10, 0).unwrap().1,
        0
    );
    assert_eq!(
        index.search("beta", &Filters::default(), 10, 0).unwrap().1,
        1
    );
}

#[derive(Debug, Clone)]
enum Op {
    Upsert(u8, u8),
    Delete(u8),
    Reopen { lose_index_commit: bool },
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// After any sequence of upserts, deletes and restarts, the index holds exactly the live
    /// items and a word search finds exactly the items whose body holds that word.
    #[test]
    fn projection_matches_the_store(ops in proptest::collection::vec(prop_oneof![
        4 => (0u8..10, 0u8..5).prop_map(|(k, v)| Op::Upsert(k, v)),
        2 => (0u8..10).prop_map(Op::Delete),
        1 => any::<bool>().prop_map(|lose_index_commit| Op::Reopen { lose_index_commit }),
    ], 1..30)) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
        let reader = store.reader().unwrap();
        let counter = TokenCounter::new();
        let index_dir = dir.path().join("index");
        let (mut index, _) = SearchIndex::open(&index_dir).unwrap();
        let mut model: std::collections::BTreeMap<String, u8> = Default::default();
        for op in ops {
            let mut b = Batch::default();
            match op {
                Op::Upsert(k, v) => {
                    b.upserts.push(doc(&format!("k{k}"), "t", &format!("word{v} filler")));
                    model.insert(format!("k{k}"), v);
                }
                Op::Delete(k) => {
                    b.deletes.push(format!("k{k}"));
                    model.remove(&format!("k{k}"));
                }
                Op::Reopen { lose_index_commit } => {
                    drop(index);
                    if lose_index_commit {
                        // A store commit the index never saw.
                        let extra = doc("k99", "t", "word9 filler");
                        model.insert("k99".into(), 9);
                        store.commit_batch("docs", None, &prepare_batch("docs", Batch { upserts: vec![extra], ..Default::default() }, &counter)).unwrap();
                    }
                    index = SearchIndex::open(&index_dir).unwrap().0;
                    index.catch_up(&reader, false).unwrap();
                    continue;
                }
            }
            store.commit_batch("docs", None, &prepare_batch("docs", b, &counter)).unwrap();
            index.catch_up(&reader, false).unwrap();
        }
        let live: Vec<i64> = reader.live_rowids(0, 1000).unwrap();
        prop_assert_eq!(index.all_rowids().unwrap(), live);
        for v in 0..10u8 {
            let expected: BTreeSet<String> = model.iter().filter(|(_, x)| **x == v).map(|(k, _)| ItemId::new("docs", k).to_string()).collect();
            let (hits, _) = index.search(&format!("word{v}"), &Filters::default(), 100, 0).unwrap();
            let got: BTreeSet<String> = reader.pack_metas(&hits.iter().map(|h| h.rowid).collect::<Vec<_>>()).unwrap().into_iter().map(|m| m.id).collect();
            prop_assert_eq!(got, expected);
        }
    }
}

fn mail(ext: &str, ts: i64, subject: &str, fresh: &str, quoted: &str) -> Item {
    let mut item = Item::new(ext, ItemKind::Email, subject, format!("{fresh}{quoted}"));
    item.timestamp_ms = Some(ts);
    item.thread_key = Some("<root@acme.com>".into());
    if !quoted.is_empty() {
        item.fields.push((
            ctx_connector_api::FIELD_QUOTE_START.into(),
            fresh.len().to_string(),
        ));
    }
    item
}

#[test]
fn a_thread_is_packed_once_in_order_without_repeated_quotes() {
    let mut f = Fixture::new();
    let first = "Can we discuss the walrus contract renewal next week?\n";
    let second = "Yes, Tuesday works for me.\n";
    let third = "Great, I will send an invite.\n";
    f.put(
        "mail",
        vec![
            mail(
                "m3",
                3_000,
                "Re: Re: contract",
                third,
                &format!("\nOn Tue wrote:\n> {second}> > {first}"),
            ),
            mail("m1", 1_000, "Contract", first, ""),
            mail(
                "m2",
                2_000,
                "Re: contract",
                second,
                &format!("\nOn Mon wrote:\n> {first}"),
            ),
            doc("other", "Unrelated", "nothing about it"),
        ],
        vec![],
    );
    let r = f.grab("walrus", 8192, Filters::default());
    let titles: Vec<&str> = r.items.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(
        titles,
        ["Contract", "Re: contract", "Re: Re: contract"],
        "chronological, once each"
    );
    assert_eq!(
        r.items[1].text, second,
        "the quote of the first message is not repeated"
    );
    assert_eq!(r.items[2].text, third);
    assert!(
        r.items[1].why.contains("same thread as 'Contract'"),
        "{}",
        r.items[1].why
    );
    assert!(r.markdown.matches("walrus").count() == 1, "{}", r.markdown);
    assert!(f.counter.count(&r.markdown) <= r.tokens_used);
    assert_eq!(r.tokens_used, r.items.iter().map(|i| i.tokens).sum::<u32>());
    // The full bodies stay stored.
    let full = f
        .reader
        .get_item(ItemId::new("mail", "m2").as_str())
        .unwrap()
        .unwrap();
    assert!(full.body.contains("> Can we discuss"));
}

/// The pruned top-k search that retrieval uses returns what the counted search returns first,
/// for a common word, a rare one, both, and with a filter.
#[test]
fn pruned_top_hits_equal_the_counted_search() {
    let mut f = Fixture::new();
    let items: Vec<Item> = (0..400)
        .map(|i| {
            let rare = if i % 37 == 0 { " halcyonworks" } else { "" };
            let filler = "common words ".repeat(1 + i % 7);
            doc(
                &format!("d{i}"),
                &format!("note {i}"),
                &format!("mail from someone at example com {filler}{rare} number {i}"),
            )
        })
        .collect();
    f.put("docs", items, vec![]);
    let only_docs = Filters {
        kinds: vec![ItemKind::Document],
        ..Default::default()
    };
    for (query, filters) in [
        ("com", Filters::default()),
        ("halcyonworks", Filters::default()),
        ("priya halcyonworks com", Filters::default()),
        ("common com", only_docs),
    ] {
        for limit in [1, 5, 40] {
            let (counted, total) = f.index.search(query, &filters, limit, 0).unwrap();
            let top = f.index.search_top(query, &filters, limit).unwrap();
            assert!(total > 0, "{query}");
            let rowids = |h: &[ctx_search::Hit]| h.iter().map(|h| h.rowid).collect::<Vec<_>>();
            assert_eq!(rowids(&top), rowids(&counted), "{query} top {limit}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]
    /// A focused search with `min_match` of its terms returns exactly the items holding at
    /// least that many of them (the subset-intersection form and the counting disjunction
    /// alike), best score first.
    #[test]
    fn focused_search_returns_exactly_the_items_with_enough_terms(
        bodies in proptest::collection::vec(proptest::collection::btree_set(0usize..6, 0..6), 1..25),
        n in 1usize..7,
        m in 0usize..7,
    ) {
        let mut fx = Fixture::new();
        let words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];
        let items: Vec<Item> = bodies
            .iter()
            .enumerate()
            .map(|(i, set)| {
                let text: Vec<&str> = set.iter().map(|w| words[*w]).collect();
                doc(&format!("d{i}"), "t", &format!("filler {}", text.join(" ")))
            })
            .collect();
        fx.put("docs", items, vec![]);
        let n = n.min(words.len());
        let terms: Vec<String> = words[..n].iter().map(|w| w.to_string()).collect();
        let hits = fx
            .index
            .search_focused(&[], &[], &terms, m, &Filters::default(), 100)
            .unwrap();
        let need = m.min(n).max(1);
        let expected: BTreeSet<String> = bodies
            .iter()
            .enumerate()
            .filter(|(_, set)| set.iter().filter(|w| **w < n).count() >= need)
            .map(|(i, _)| ItemId::new("docs", &format!("d{i}")).to_string())
            .collect();
        let got: BTreeSet<String> = fx
            .reader
            .pack_metas(&hits.iter().map(|h| h.rowid).collect::<Vec<_>>())
            .unwrap()
            .into_iter()
            .map(|meta| meta.id)
            .collect();
        prop_assert_eq!(got, expected);
        prop_assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    }
}

#[test]
fn the_flat_word_search_scores_like_the_parsed_one_and_splits_phrases_into_words() {
    let mut fx = Fixture::new();
    let mut items = vec![
        doc("a", "Sign-on notes", "single sign-on for the portal"),
        doc("b", "Portal", "the portal sign in page, then on to billing"),
        doc("c", "Billing", "billing runs monthly"),
        doc("d", "Other", "nothing related here"),
    ];
    items[2].people = vec![PersonRef {
        email: Some("sign@example.com".into()),
        name: Some("Sign Person".into()),
        role: PersonRole::From,
    }];
    fx.put("docs", items, vec![]);
    let filters = Filters::default();
    // One word: the same hits and scores as the parser's query.
    for word in ["portal", "billing", "sign"] {
        let parsed = fx.index.search_top(word, &filters, 10).unwrap();
        let flat = fx.index.search_words_top(word, &filters, 10).unwrap();
        assert_eq!(
            parsed.iter().map(|h| h.rowid).collect::<Vec<_>>(),
            flat.iter().map(|h| h.rowid).collect::<Vec<_>>(),
            "{word}"
        );
        for (p, f) in parsed.iter().zip(&flat) {
            assert!((p.score - f.score).abs() < 1e-4, "{word}: {p:?} vs {f:?}");
        }
    }
    // A hyphenated word is a phrase to the parser and two words here: "sign in ... on" counts.
    let ids = |hits: Vec<ctx_search::Hit>| -> BTreeSet<String> {
        fx.reader
            .pack_metas(&hits.iter().map(|h| h.rowid).collect::<Vec<_>>())
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect()
    };
    let flat = ids(fx.index.search_words_top("sign-on", &filters, 10).unwrap());
    let id = |ext: &str| ItemId::new("docs", ext).to_string();
    assert_eq!(flat, [id("a"), id("b"), id("c")].into_iter().collect());
    let parsed = ids(fx.index.search_top("sign-on", &filters, 10).unwrap());
    assert_eq!(parsed, [id("a")].into_iter().collect());
    // Filters still apply.
    let only_a = Filters {
        kinds: vec![ItemKind::Email],
        ..Filters::default()
    };
    assert!(
        fx.index
            .search_words_top("portal", &only_a, 10)
            .unwrap()
            .is_empty()
    );
}
