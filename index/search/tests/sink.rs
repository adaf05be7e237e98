//! `Retriever::grab_each_with_deferred_semantic`: the items the unary grab collects, handed to a
//! sink one by one in pack order (bodies read in growing batches), and a sink that stops early.

use std::ops::ControlFlow;

use ctx_connector_api::{Batch, Cursor, Item, ItemKind};
use ctx_search::{
    Filters, GrabParams, OpenState, PackedItem, RetrievalMode, Retriever, SearchIndex,
};
use ctx_store::{Store, TokenCounter, prepare_batch};

#[test]
fn the_sink_gets_the_collected_items_in_order_and_can_stop() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    let reader = store.reader().unwrap();
    let (index, state) = SearchIndex::open(&dir.path().join("index")).unwrap();
    assert!(matches!(state, OpenState::Fresh { .. }));
    let counter = TokenCounter::new();
    // More items than several body batches (4, 8, 16, …), of different sizes.
    let items: Vec<Item> = (0..70)
        .map(|i| {
            Item::new(
                format!("n{i}"),
                ItemKind::Document,
                format!("Heron note {i}"),
                format!(
                    "Heron {i}: {}",
                    "the heron migration survey counts. ".repeat(1 + i % 9)
                ),
            )
        })
        .collect();
    let batch = Batch {
        upserts: items,
        deletes: Vec::new(),
        cursor: Some(Cursor("x".into())),
        has_more: false,
        progress: None,
    };
    let prepared = prepare_batch("docs", batch, &counter);
    store.commit_batch("docs", None, &prepared).unwrap();
    index.catch_up(&reader, false).unwrap();
    let retriever = Retriever {
        index: &index,
        store: &reader,
        counter: &counter,
    };
    for budget in [300, 2_000, 100_000] {
        let params = GrabParams {
            query: "heron survey".into(),
            token_budget: budget,
            filters: Filters::default(),
            mode: RetrievalMode::Full,
            now_ms: None,
        };
        let whole = retriever.grab(&params).unwrap();
        let mut each: Vec<PackedItem> = Vec::new();
        let summary = retriever
            .grab_each_with_deferred_semantic(&params, Vec::new, |item| {
                each.push(item);
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(each, whole.items, "budget {budget}");
        assert_eq!(summary.items as usize, whole.items.len());
        assert_eq!(summary.tokens_used, whole.tokens_used);
        assert_eq!(summary.cut, whole.cut);
        assert_eq!(summary.candidates, whole.candidates);
        let rendered: String = each.iter().map(|i| i.rendered.as_str()).collect();
        assert_eq!(rendered, whole.markdown);
        if budget == 100_000 {
            // Everything fits (near-identical notes are packed once).
            assert!(whole.cut.is_empty() && whole.items.len() > 40, "{whole:?}");
        } else {
            assert!(!whole.cut.is_empty(), "budget {budget} cuts");
        }
        // A sink that stops after three items gets no more.
        let mut first = Vec::new();
        let stopped = retriever
            .grab_each_with_deferred_semantic(&params, Vec::new, |item| {
                first.push(item);
                if first.len() == 3 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
        let expected = whole.items.len().min(3);
        assert_eq!(first.len(), expected);
        assert_eq!(stopped.items as usize, expected);
        assert_eq!(first[..], whole.items[..expected]);
    }
}
