//! Semantic candidates in GrabEverythingRelated: fused by reciprocal rank with BM25 and the
//! entity graph, explained, and filtered like every other candidate.

use ctx_connector_api::{Batch, Cursor, Item, ItemId, ItemKind};
use ctx_search::{Filters, GrabParams, Retriever, SearchIndex};
use ctx_store::{Store, StoreReader, TokenCounter, prepare_batch};

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
        let (index, _) = SearchIndex::open(&dir.path().join("index")).unwrap();
        Fixture {
            _dir: dir,
            store,
            reader,
            index,
            counter: TokenCounter::new(),
        }
    }

    fn put(&mut self, source: &str, items: Vec<Item>) {
        let cur = self.store.cursor(source).unwrap();
        let batch = Batch {
            upserts: items,
            deletes: vec![],
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

    fn rowid(&self, source: &str, ext: &str) -> i64 {
        self.reader
            .rowid_of(ItemId::new(source, ext).as_str())
            .unwrap()
            .unwrap()
    }

    fn grab(
        &self,
        query: &str,
        filters: Filters,
        semantic: &[(i64, f32)],
    ) -> Vec<(String, String)> {
        Retriever {
            index: &self.index,
            store: &self.reader,
            counter: &self.counter,
        }
        .grab_with_semantic(
            &GrabParams {
                query: query.into(),
                token_budget: 4000,
                filters,
                mode: ctx_search::RetrievalMode::Full,
                now_ms: None,
            },
            semantic,
        )
        .unwrap()
        .items
        .into_iter()
        .map(|i| (i.title, i.why))
        .collect()
    }
}

fn doc(ext: &str, title: &str, body: &str) -> Item {
    let mut item = Item::new(ext, ItemKind::Document, title, body);
    item.locator = format!("/docs/{ext}");
    item
}

fn fixture() -> Fixture {
    let mut f = Fixture::new();
    f.put(
        "docs",
        vec![
            doc(
                "renew",
                "Acme account",
                "Acme agreed to renew for two more years.",
            ),
            doc(
                "cord",
                "Facilities",
                "The extension cord in room 4 is broken.",
            ),
            doc("lunch", "Team lunch", "Pizza on Friday."),
        ],
    );
    let mut mail = doc(
        "mail-renew",
        "Re: Acme",
        "They will sign the renewal on Friday.",
    );
    mail.kind = ItemKind::Email;
    f.put("mail", vec![mail]);
    f
}

#[test]
fn without_semantic_candidates_a_paraphrase_is_missed() {
    let f = fixture();
    let titles: Vec<String> = f
        .grab("contract extension", Filters::default(), &[])
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(titles, ["Facilities"]);
}

#[test]
fn semantic_candidates_are_fused_and_explained() {
    let f = fixture();
    let semantic = [
        (f.rowid("docs", "renew"), 0.71),
        (f.rowid("mail", "mail-renew"), 0.55),
        (f.rowid("docs", "cord"), 0.31),
    ];
    let got = f.grab("contract extension", Filters::default(), &semantic);
    let titles: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
    // The keyword hit that is also semantically close is first (two lists), then the
    // semantic-only candidates in their order; the unrelated item is not there.
    assert_eq!(titles, ["Facilities", "Acme account", "Re: Acme"]);
    assert!(got[0].1.contains("matched 'extension'"), "{}", got[0].1);
    assert_eq!(got[1].1, "semantically similar (0.71)");
    assert_eq!(got[2].1, "semantically similar (0.55)");
}

#[test]
fn filters_apply_to_semantic_candidates() {
    let f = fixture();
    let semantic = [
        (f.rowid("docs", "renew"), 0.71),
        (f.rowid("mail", "mail-renew"), 0.55),
    ];
    let only_mail = Filters {
        sources: vec!["mail".into()],
        ..Default::default()
    };
    let titles: Vec<String> = f
        .grab("contract extension", only_mail, &semantic)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(titles, ["Re: Acme"]);
    // A stale rowid (an item deleted since it was embedded) is ignored.
    let stale = [(987_654, 0.9)];
    assert_eq!(
        f.grab("contract extension", Filters::default(), &stale)
            .len(),
        1
    );
}

#[test]
fn when_keywords_find_the_point_only_strong_neighbours_join_on_their_own() {
    let mut f = fixture();
    f.put(
        "docs",
        (0..4)
            .map(|i| {
                doc(
                    &format!("sso{i}"),
                    &format!("SSO rollout {i}"),
                    "single sign-on rollout plan",
                )
            })
            .collect(),
    );
    // "sso rollout" has enough keyword hits: a weak neighbour (the lunch note) stays out, a
    // strong one (the cord note, at 0.65) comes in, and the keyword hits are all there.
    let semantic = [
        (f.rowid("docs", "lunch"), 0.45),
        (f.rowid("docs", "cord"), 0.65),
    ];
    let titles: Vec<String> = f
        .grab("sso rollout", Filters::default(), &semantic)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert!(!titles.contains(&"Team lunch".to_string()), "{titles:?}");
    assert!(titles.contains(&"Facilities".to_string()), "{titles:?}");
    assert_eq!(
        titles
            .iter()
            .filter(|t| t.starts_with("SSO rollout"))
            .count(),
        4
    );
    // A query the keywords cannot place takes the weaker neighbour too.
    let titles: Vec<String> = f
        .grab("midday meal", Filters::default(), &semantic)
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert!(titles.contains(&"Team lunch".to_string()), "{titles:?}");
}
