//! Behaviour of the store: atomic batches with cursors, no-op updates, tombstones, entities,
//! and a property test against a simple in-memory model.

use std::collections::{BTreeMap, HashSet};

use ctx_connector_api::{
    Batch, Cursor, Item, ItemId, ItemKind, ItemLink, OrgRef, PersonRef, PersonRole,
};
use ctx_store::{DocState, PreparedBatch, Store, StoreError, TokenCounter, prepare_batch};
use proptest::prelude::*;

fn doc(ext: &str, body: &str) -> Item {
    let mut item = Item::new(ext, ItemKind::Document, format!("title {ext}"), body);
    item.locator = format!("file:///{ext}");
    item.timestamp_ms = Some(1_700_000_000_000);
    item
}

fn batch(upserts: Vec<Item>, deletes: Vec<&str>, cursor: Option<&str>) -> PreparedBatch {
    prepare_batch(
        "src",
        Batch {
            upserts,
            deletes: deletes.into_iter().map(String::from).collect(),
            cursor: cursor.map(|c| Cursor(c.to_string())),
            has_more: false,
            progress: None,
        },
        &TokenCounter::new(),
    )
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite3")).unwrap();
    (dir, store)
}

#[test]
fn batch_and_cursor_commit_together_and_stale_cursors_are_refused() {
    let (_dir, mut store) = open();
    store.register_source("src", "fake").unwrap();
    let stats = store
        .commit_batch(
            "src",
            None,
            &batch(
                vec![doc("a", "alpha"), doc("b", "beta")],
                vec![],
                Some("c1"),
            ),
        )
        .unwrap();
    assert_eq!(stats.inserted, 2);
    assert_eq!(store.cursor("src").unwrap(), Some(Cursor("c1".into())));

    // A batch computed from an older position is refused and changes nothing.
    let err = store
        .commit_batch(
            "src",
            None,
            &batch(vec![doc("c", "gamma")], vec![], Some("c2")),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::CursorConflict { .. }), "{err}");
    let reader = store.reader().unwrap();
    assert_eq!(reader.live_item_count().unwrap(), 2);
    assert_eq!(store.cursor("src").unwrap(), Some(Cursor("c1".into())));
}

#[test]
fn unchanged_content_is_a_no_op_and_edits_update_in_place() {
    let (_dir, mut store) = open();
    let c1 = Cursor("1".into());
    store
        .commit_batch(
            "src",
            None,
            &batch(vec![doc("a", "alpha")], vec![], Some("1")),
        )
        .unwrap();
    let reader = store.reader().unwrap();
    let seq_before = reader.max_seq().unwrap();
    let mut same = doc("a", "alpha");
    same.version = Some("v2".into());
    let stats = store
        .commit_batch("src", Some(&c1), &batch(vec![same], vec![], None))
        .unwrap();
    assert_eq!(stats.unchanged, 1);
    assert_eq!(
        reader.max_seq().unwrap(),
        seq_before,
        "no change logged for a no-op"
    );
    assert_eq!(
        reader.known_versions("src").unwrap().get("a"),
        Some(&Some("v2".to_string())),
        "the version is still refreshed"
    );
    let stats = store
        .commit_batch(
            "src",
            Some(&c1),
            &batch(vec![doc("a", "alpha edited")], vec![], None),
        )
        .unwrap();
    assert_eq!(stats.updated, 1);
    assert_eq!(reader.live_item_count().unwrap(), 1);
    let id = ItemId::new("src", "a");
    let item = reader.get_item(id.as_str()).unwrap().unwrap();
    assert_eq!(item.body, "alpha edited");
    assert!(reader.max_seq().unwrap() > seq_before);
}

#[test]
fn deletes_leave_tombstones_and_revive_on_reappearance() {
    let (_dir, mut store) = open();
    let c = Cursor("1".into());
    store
        .commit_batch(
            "src",
            None,
            &batch(vec![doc("a", "alpha")], vec![], Some("1")),
        )
        .unwrap();
    let reader = store.reader().unwrap();
    let rowid = reader
        .rowid_of(ItemId::new("src", "a").as_str())
        .unwrap()
        .unwrap();
    let stats = store
        .commit_batch("src", Some(&c), &batch(vec![], vec!["a", "zzz"], None))
        .unwrap();
    assert_eq!((stats.deleted, stats.missing_deletes), (1, 1));
    assert_eq!(reader.live_item_count().unwrap(), 0);
    assert!(
        reader
            .get_item(ItemId::new("src", "a").as_str())
            .unwrap()
            .is_none()
    );
    assert_eq!(
        reader.doc_states(&[rowid]).unwrap(),
        vec![DocState::Gone { rowid }]
    );
    // The same external id comes back: same id, same rowid, live again.
    store
        .commit_batch(
            "src",
            Some(&c),
            &batch(vec![doc("a", "alpha")], vec![], None),
        )
        .unwrap();
    assert_eq!(
        reader.rowid_of(ItemId::new("src", "a").as_str()).unwrap(),
        Some(rowid)
    );
}

#[test]
fn people_merge_by_address_and_organisations_come_from_domains() {
    let (_dir, mut store) = open();
    let mut mail = doc("m1", "hello");
    mail.kind = ItemKind::Email;
    mail.people = vec![
        PersonRef {
            email: Some(" Dana@ACME.com ".into()),
            name: Some("Dana Lee".into()),
            role: PersonRole::From,
        },
        PersonRef {
            email: Some("bob@gmail.com".into()),
            name: None,
            role: PersonRole::To,
        },
    ];
    let mut meeting = doc("e1", "sync");
    meeting.kind = ItemKind::Event;
    meeting.people = vec![PersonRef {
        email: Some("dana@acme.com".into()),
        name: None,
        role: PersonRole::Attendee,
    }];
    store
        .commit_batch("src", None, &batch(vec![mail, meeting], vec![], None))
        .unwrap();
    let reader = store.reader().unwrap();
    let dana = reader.find_entities("dana@acme.com").unwrap();
    assert_eq!(dana.len(), 1);
    assert_eq!(dana[0].name.as_deref(), Some("Dana Lee"));
    assert_eq!(reader.items_of_entity(dana[0].rowid, 10).unwrap().len(), 2);
    let by_name = reader.find_entities("dana lee").unwrap();
    assert_eq!(by_name[0].rowid, dana[0].rowid);
    let acme = reader.find_entities("acme.com").unwrap();
    assert_eq!(acme.len(), 1);
    assert_eq!(acme[0].name.as_deref(), Some("Acme"));
    assert_eq!(reader.items_of_entity(acme[0].rowid, 10).unwrap().len(), 2);
    assert!(
        reader.find_entities("gmail.com").unwrap().is_empty(),
        "free mail is no organisation"
    );
}

#[test]
fn free_mail_domains_are_configurable_and_never_key_an_organisation() {
    let (_dir, mut store) = open();
    let mut extra: Vec<String> = ctx_store::DEFAULT_FREE_MAIL_DOMAINS
        .iter()
        .map(|d| d.to_string())
        .collect();
    extra.push("Alumni.Example.org".into());
    store.set_free_mail_domains(extra);
    let mut card = doc("c1", "a company record");
    card.kind = ItemKind::Company;
    card.organizations = vec![
        OrgRef {
            domain: Some("www.gmail.com".into()),
            name: Some("Solo Design".into()),
        },
        OrgRef {
            domain: Some("initech.com".into()),
            name: Some("Initech".into()),
        },
    ];
    card.people = vec![PersonRef {
        email: Some("kim@alumni.example.org".into()),
        name: None,
        role: PersonRole::Subject,
    }];
    store
        .commit_batch("src", None, &batch(vec![card], vec![], None))
        .unwrap();
    let reader = store.reader().unwrap();
    assert!(reader.find_entities("gmail.com").unwrap().is_empty());
    let solo = reader.find_entities("solo design").unwrap();
    assert_eq!(solo.len(), 1);
    assert_eq!(solo[0].key, "name:solo design");
    assert_eq!(reader.find_entities("initech.com").unwrap().len(), 1);
    // The configured extra domain is free mail too: its people name no organisation.
    assert!(
        reader
            .find_entities("alumni.example.org")
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        reader
            .find_entities("kim@alumni.example.org")
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn links_resolve_to_stored_targets() {
    let (_dir, mut store) = open();
    let mut reply = doc("r", "reply");
    reply.links = vec![
        ItemLink {
            relation: "reply_to".into(),
            target_external_id: "o".into(),
        },
        ItemLink {
            relation: "reply_to".into(),
            target_external_id: "missing".into(),
        },
    ];
    store
        .commit_batch(
            "src",
            None,
            &batch(vec![reply, doc("o", "original")], vec![], None),
        )
        .unwrap();
    let item = store
        .reader()
        .unwrap()
        .get_item(ItemId::new("src", "r").as_str())
        .unwrap()
        .unwrap();
    let resolved: BTreeMap<_, _> = item
        .links
        .iter()
        .map(|l| (l.target_external_id.clone(), l.target_id.clone()))
        .collect();
    assert_eq!(
        resolved["o"].as_deref(),
        Some(ItemId::new("src", "o").as_str())
    );
    assert_eq!(resolved["missing"], None);
}

#[test]
fn chunks_reassemble_to_the_body_and_counts_are_stored() {
    let (_dir, mut store) = open();
    let body = "Paragraph about renewal terms. ".repeat(300);
    store
        .commit_batch("src", None, &batch(vec![doc("a", &body)], vec![], None))
        .unwrap();
    let reader = store.reader().unwrap();
    let rowid = reader
        .rowid_of(ItemId::new("src", "a").as_str())
        .unwrap()
        .unwrap();
    let meta = reader.pack_meta(rowid).unwrap().unwrap();
    let chunks = reader.chunks(rowid).unwrap();
    assert!(chunks.len() > 3);
    assert_eq!(meta.tokens, chunks.iter().map(|c| c.tokens).sum::<u32>());
    assert_eq!(
        chunks.iter().map(|c| c.text.as_str()).collect::<String>(),
        body
    );
    let counter = TokenCounter::new();
    for chunk in &chunks {
        assert_eq!(counter.count(&chunk.text), chunk.tokens);
    }
}

#[test]
fn sweep_tombstones_what_a_full_pass_did_not_see() {
    let (_dir, mut store) = open();
    store
        .commit_batch(
            "src",
            None,
            &batch(
                vec![doc("a", "1"), doc("b", "2"), doc("c", "3")],
                vec![],
                None,
            ),
        )
        .unwrap();
    let keep: HashSet<String> = ["b".to_string()].into();
    assert_eq!(store.sweep("src", &keep).unwrap(), 2);
    assert_eq!(store.reader().unwrap().live_item_count().unwrap(), 1);
}

#[test]
fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    {
        let mut store = Store::open(&path).unwrap();
        store
            .commit_batch(
                "src",
                None,
                &batch(vec![doc("a", "alpha")], vec![], Some("9")),
            )
            .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.cursor("src").unwrap(), Some(Cursor("9".into())));
    assert_eq!(store.reader().unwrap().live_item_count().unwrap(), 1);
}

#[derive(Debug, Clone)]
enum Op {
    Upsert(u8, u8),
    Delete(u8),
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..12, 0u8..4).prop_map(|(k, v)| Op::Upsert(k, v)),
        2 => (0u8..12).prop_map(Op::Delete),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// The store behaves like a map from external id to body, across reopenings.
    #[test]
    fn store_matches_a_simple_model(ops in proptest::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let mut store = Store::open(&path).unwrap();
        let mut model: BTreeMap<String, String> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Upsert(k, v) => {
                    let (ext, body) = (format!("k{k}"), format!("body {v} of {k}"));
                    let cur = store.cursor("src").unwrap();
                    store.commit_batch("src", cur.as_ref(), &batch(vec![doc(&ext, &body)], vec![], None)).unwrap();
                    model.insert(ext, body);
                }
                Op::Delete(k) => {
                    let ext = format!("k{k}");
                    let cur = store.cursor("src").unwrap();
                    store.commit_batch("src", cur.as_ref(), &batch(vec![], vec![&ext], None)).unwrap();
                    model.remove(&ext);
                }
                Op::Reopen => {
                    drop(store);
                    store = Store::open(&path).unwrap();
                }
            }
        }
        let reader = store.reader().unwrap();
        prop_assert_eq!(reader.live_item_count().unwrap(), model.len() as u64);
        for (ext, body) in &model {
            let item = reader.get_item(ItemId::new("src", ext).as_str()).unwrap();
            prop_assert_eq!(item.map(|i| i.body), Some(body.clone()));
        }
        let known: BTreeMap<String, Option<String>> = reader.known_versions("src").unwrap().into_iter().collect();
        prop_assert_eq!(known.keys().cloned().collect::<Vec<_>>(), model.keys().cloned().collect::<Vec<_>>());
    }
}

#[test]
fn pruning_the_change_log_keeps_the_sequence_and_later_changes() {
    let (_dir, mut store) = open();
    for i in 0..5 {
        store
            .commit_batch(
                "src",
                None,
                &batch(vec![doc(&format!("d{i}"), "x")], vec![], None),
            )
            .unwrap();
    }
    let reader = store.reader().unwrap();
    assert_eq!(reader.max_seq().unwrap(), 5);
    assert_eq!(store.prune_changes(3).unwrap(), 3);
    assert_eq!(reader.max_seq().unwrap(), 5, "the sequence never goes back");
    let left: Vec<i64> = reader
        .changes_after(0, 100)
        .unwrap()
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(left, [4, 5]);
    store
        .commit_batch("src", None, &batch(vec![doc("d9", "y")], vec![], None))
        .unwrap();
    assert_eq!(
        reader.max_seq().unwrap(),
        6,
        "new changes continue after pruned ones"
    );
}

/// Regression: "Acme renewal" found no entity when the organisation's first source named it
/// "Acme Corp" (a CRM company, a vCard ORG) rather than after its domain, so the result
/// depended on which connector ingested first.
#[test]
fn a_word_names_the_organisations_whose_domain_it_labels_whatever_their_name() {
    let (_dir, mut store) = open();
    let mut company = doc("c1", "Acme Corp");
    company.organizations.push(ctx_connector_api::OrgRef {
        domain: Some("acme.com".into()),
        name: Some("Acme Corp".into()),
    });
    let mut other = doc("c2", "Acme-Widgets");
    other.organizations.push(ctx_connector_api::OrgRef {
        domain: Some("acmewidgets.io".into()),
        name: Some("Widgets".into()),
    });
    store
        .commit_batch("src", None, &batch(vec![company, other], vec![], None))
        .unwrap();
    let reader = store.reader().unwrap();
    let keys = |term: &str| -> Vec<String> {
        let mut k: Vec<String> = reader
            .find_entities(term)
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys("Acme"), ["acme.com"]);
    assert_eq!(keys("acme corp"), ["acme.com"]);
    assert_eq!(keys("acmewidgets"), ["acmewidgets.io"]);
    // Too short, or not a single label: no domain lookup.
    assert!(keys("ac").is_empty());
    assert!(keys("acme.c").is_empty());
}

fn series(ext: &str, occurrences: Vec<i64>) -> Item {
    let mut item = Item::new(ext, ItemKind::Event, "Weekly sync", "Agenda.");
    item.timestamp_ms = occurrences.first().copied();
    item.version = Some("etag-1".into());
    item.occurrences_ms = occurrences;
    item
}

#[test]
fn occurrences_are_stored_replaced_and_removed_with_their_series() {
    let (_dir, mut store) = open();
    store
        .commit_batch(
            "src",
            None,
            &batch(vec![series("s", vec![10, 20, 30])], vec![], Some("1")),
        )
        .unwrap();
    let reader = store.reader().unwrap();
    let rowid = reader
        .rowid_of(&ItemId::new("src", "s").to_string())
        .unwrap()
        .unwrap();
    let occurrences = |r: &ctx_store::StoreReader| r.occurrences(&[rowid]).unwrap();
    assert_eq!(occurrences(&reader).get(&rowid), Some(&vec![10, 20, 30]));
    let states = reader.doc_states(&[rowid]).unwrap();
    match &states[0] {
        DocState::Live(d) => assert_eq!(d.occurrences_ms, vec![10, 20, 30]),
        other => panic!("expected a live doc, got {other:?}"),
    }

    // A changed occurrence list changes the content hash: the series is updated, not skipped.
    let c1 = Cursor("1".into());
    let stats = store
        .commit_batch(
            "src",
            Some(&c1),
            &batch(vec![series("s", vec![20, 40])], vec![], Some("2")),
        )
        .unwrap();
    assert_eq!((stats.updated, stats.unchanged), (1, 0));
    assert_eq!(occurrences(&reader).get(&rowid), Some(&vec![20, 40]));
    let c2 = Cursor("2".into());
    let stats = store
        .commit_batch(
            "src",
            Some(&c2),
            &batch(vec![series("s", vec![20, 40])], vec![], Some("3")),
        )
        .unwrap();
    assert_eq!((stats.updated, stats.unchanged), (0, 1));

    let c3 = Cursor("3".into());
    store
        .commit_batch("src", Some(&c3), &batch(vec![], vec!["s"], Some("4")))
        .unwrap();
    assert!(occurrences(&reader).is_empty());
}

#[test]
fn a_schema_2_store_is_migrated_and_its_events_are_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    {
        let mut store = Store::open(&path).unwrap();
        store
            .commit_batch(
                "src",
                None,
                &batch(
                    vec![series("s", vec![10, 20]), {
                        let mut d = doc("d", LONG_TEXT);
                        d.version = Some("mtime".into());
                        d
                    }],
                    vec![],
                    Some("1"),
                ),
            )
            .unwrap();
    }
    // What a schema-2 store looked like: no occurrence table, version 2.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE item_occurrences; ALTER TABLE items DROP COLUMN sketch;
             DROP TRIGGER item_entities_count_insert; DROP TRIGGER item_entities_count_delete;
             ALTER TABLE entities DROP COLUMN linked_items;
             UPDATE meta SET value = '2' WHERE key = 'schema_version';",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let versions = store.known_versions("src").unwrap();
    // The event's source version is forgotten so its connector reads it again; the document's
    // stays (nothing about documents changed).
    assert_eq!(versions.get("s"), Some(&None));
    assert_eq!(versions.get("d"), Some(&Some("mtime".to_string())));
    let reader = store.reader().unwrap();
    assert!(reader.occurrences(&[1, 2]).unwrap().is_empty());
    // Sketches are computed from the stored bodies during the migration.
    let d = reader
        .rowid_of(&ItemId::new("src", "d").to_string())
        .unwrap()
        .unwrap();
    let sizes = reader.sizes(&[d]).unwrap();
    assert_eq!(sizes[&d].sketch, ctx_store::Sketch::of(LONG_TEXT));
    assert!(sizes[&d].sketch.is_some());
    drop(reader);
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, ctx_store::SCHEMA_VERSION.to_string());
}

const LONG_TEXT: &str = "The migration guide explains how the old export format maps onto the new \
    schema, which fields were renamed, which ones were dropped because nobody used them, and how \
    to verify afterwards that every record arrived intact with its attachments and history.";

#[test]
fn sketches_are_stored_for_long_texts_only_and_copies_share_them() {
    let (_dir, mut store) = open();
    store
        .commit_batch(
            "src",
            None,
            &batch(
                vec![
                    doc("long", LONG_TEXT),
                    doc("copy", &LONG_TEXT.to_uppercase()),
                    doc("short", "a short note"),
                ],
                vec![],
                Some("1"),
            ),
        )
        .unwrap();
    let reader = store.reader().unwrap();
    let rowid = |ext: &str| {
        reader
            .rowid_of(&ItemId::new("src", ext).to_string())
            .unwrap()
            .unwrap()
    };
    let (long, copy, short) = (rowid("long"), rowid("copy"), rowid("short"));
    let sizes = reader.sizes(&[long, copy, short]).unwrap();
    assert!(sizes[&long].sketch.is_some());
    assert_eq!(sizes[&long].sketch, sizes[&copy].sketch);
    assert_eq!(sizes[&short].sketch, None);
}

/// Every entity's link count as the item_entities rows say (the ground truth the maintained
/// `linked_items` must equal).
fn counted_links(path: &std::path::Path) -> BTreeMap<i64, u64> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT e.rowid, (SELECT COUNT(*) FROM item_entities ie WHERE ie.entity_rowid = e.rowid)
             FROM entities e",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)? as u64))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn mail_with(ext: &str, people: &[(&str, PersonRole)]) -> Item {
    let mut mail = doc(ext, &format!("message {ext}"));
    mail.kind = ItemKind::Email;
    mail.people = people
        .iter()
        .map(|(email, role)| PersonRef {
            email: Some((*email).to_string()),
            name: None,
            role: *role,
        })
        .collect();
    mail
}

const ADDRESSES: [&str; 5] = [
    "ana@acme.com",
    "bo@acme.com",
    "cy@initech.com",
    "di@gmail.com",
    "ed@initech.com",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// The maintained link counts equal a count of the link rows after any mix of new, changed
    /// and deleted items.
    #[test]
    fn entity_link_counts_follow_every_change(
        ops in proptest::collection::vec((0u8..6, proptest::collection::vec((0usize..5, any::<bool>()), 0..4), any::<bool>()), 1..30)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let mut store = Store::open(&path).unwrap();
        for (k, people, delete) in ops {
            let ext = format!("m{k}");
            let cur = store.cursor("src").unwrap();
            let prepared = if delete {
                batch(vec![], vec![&ext], None)
            } else {
                let people: Vec<(&str, PersonRole)> = people
                    .iter()
                    .map(|(i, to)| (ADDRESSES[*i], if *to { PersonRole::To } else { PersonRole::From }))
                    .collect();
                batch(vec![mail_with(&ext, &people)], vec![], None)
            };
            store.commit_batch("src", cur.as_ref(), &prepared).unwrap();
        }
        let truth = counted_links(&path);
        let reader = store.reader().unwrap();
        let rowids: Vec<i64> = truth.keys().copied().collect();
        let maintained: BTreeMap<i64, u64> =
            reader.entity_item_counts(&rowids, u64::MAX).unwrap().into_iter().collect();
        prop_assert_eq!(maintained, truth);
    }
}

#[test]
fn link_counts_are_capped_and_unknown_entities_are_left_out() {
    let (dir, mut store) = open();
    let mails: Vec<Item> = (0..4)
        .map(|i| mail_with(&format!("m{i}"), &[("ana@acme.com", PersonRole::From)]))
        .collect();
    store
        .commit_batch("src", None, &batch(mails, vec![], None))
        .unwrap();
    let reader = store.reader().unwrap();
    let ana = reader.find_entities("ana@acme.com").unwrap()[0].rowid;
    let counts = reader.entity_item_counts(&[ana, 999_999], 3).unwrap();
    assert_eq!(counts.get(&ana), Some(&3), "capped at 3 of 4");
    assert_eq!(counts.get(&999_999), None);
    assert_eq!(counted_links(&dir.path().join("db.sqlite3"))[&ana], 4);
}

#[test]
fn a_schema_3_store_gains_link_counts_that_then_stay_current() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite3");
    {
        let mut store = Store::open(&path).unwrap();
        let mails = vec![
            mail_with(
                "m1",
                &[
                    ("ana@acme.com", PersonRole::From),
                    ("bo@acme.com", PersonRole::To),
                ],
            ),
            mail_with("m2", &[("ana@acme.com", PersonRole::To)]),
        ];
        store
            .commit_batch("src", None, &batch(mails, vec![], None))
            .unwrap();
    }
    // What a schema-3 store looked like: no link counts, no triggers.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TRIGGER item_entities_count_insert; DROP TRIGGER item_entities_count_delete;
             ALTER TABLE entities DROP COLUMN linked_items;
             UPDATE meta SET value = '3' WHERE key = 'schema_version';",
        )
        .unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    let truth = counted_links(&path);
    assert!(truth.values().any(|n| *n >= 2), "links exist: {truth:?}");
    let reader = store.reader().unwrap();
    let rowids: Vec<i64> = truth.keys().copied().collect();
    let migrated: BTreeMap<i64, u64> = reader
        .entity_item_counts(&rowids, u64::MAX)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(migrated, truth);
    drop(reader);
    // The triggers exist after the migration: a delete is counted.
    let cur = store.cursor("src").unwrap();
    store
        .commit_batch("src", cur.as_ref(), &batch(vec![], vec!["m1"], None))
        .unwrap();
    let truth = counted_links(&path);
    let reader = store.reader().unwrap();
    let after: BTreeMap<i64, u64> = reader
        .entity_item_counts(&truth.keys().copied().collect::<Vec<_>>(), u64::MAX)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(after, truth);
    let ana = reader.find_entities("ana@acme.com").unwrap()[0].rowid;
    assert_eq!(after[&ana], 1);
}
