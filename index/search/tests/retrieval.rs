//! Retrieval signals beyond keywords: time expressions, the entity graph, feedback from the best
//! hits, the relevance cut-off, and the BM25-only baseline mode.

use ctx_connector_api::{Batch, Cursor, Item, ItemId, ItemKind, PersonRef, PersonRole};
use ctx_search::{
    Filters, GrabParams, GrabResult, OpenState, RetrievalMode, Retriever, SearchIndex,
};
use ctx_store::{Store, StoreReader, TokenCounter, prepare_batch};

/// 2026-12-03 12:00 UTC, a Thursday.
const NOW: i64 = 1_796_299_200_000;
const DAY: i64 = 86_400_000;

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

    fn put(&mut self, source: &str, items: Vec<Item>) {
        let cur = self.store.cursor(source).unwrap();
        let batch = Batch {
            upserts: items,
            deletes: Vec::new(),
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

    fn grab_with(&self, query: &str, token_budget: u32, mode: RetrievalMode) -> GrabResult {
        Retriever {
            index: &self.index,
            store: &self.reader,
            counter: &self.counter,
        }
        .grab(&GrabParams {
            query: query.into(),
            token_budget,
            filters: Filters::default(),
            mode,
            now_ms: Some(NOW),
        })
        .unwrap()
    }

    fn grab_mode(&self, query: &str, mode: RetrievalMode) -> GrabResult {
        self.grab_with(query, 100_000, mode)
    }

    fn grab(&self, query: &str) -> GrabResult {
        self.grab_mode(query, RetrievalMode::Full)
    }

    fn grab_budget(&self, query: &str, token_budget: u32) -> GrabResult {
        self.grab_with(query, token_budget, RetrievalMode::Full)
    }
}

fn ids(r: &GrabResult) -> Vec<String> {
    let mut v: Vec<String> = r.items.iter().map(|i| i.id.clone()).collect();
    v.sort();
    v
}

fn id(source: &str, ext: &str) -> String {
    ItemId::new(source, ext).to_string()
}

fn person(name: &str, email: &str, role: PersonRole) -> PersonRef {
    PersonRef {
        name: Some(name.into()),
        email: Some(email.into()),
        role,
    }
}

fn mail(ext: &str, subject: &str, body: &str, people: Vec<PersonRef>, ts: i64) -> Item {
    let mut item = Item::new(ext, ItemKind::Email, subject, body);
    item.people = people;
    item.timestamp_ms = Some(ts);
    item
}

fn event(ext: &str, title: &str, people: Vec<PersonRef>) -> Item {
    let mut item = Item::new(ext, ItemKind::Event, title, "Agenda: open items.");
    item.people = people;
    item.timestamp_ms = Some(NOW - DAY);
    item
}

#[test]
fn time_expressions_filter_and_leave_the_keywords() {
    let mut f = Fixture::new();
    f.put(
        "mail",
        vec![
            mail(
                "old",
                "Walrus pricing",
                "walrus numbers",
                vec![],
                NOW - 40 * DAY,
            ),
            // Last week is Monday 2026-11-23 to Sunday 2026-11-29.
            mail(
                "recent",
                "Walrus pricing",
                "walrus numbers",
                vec![],
                NOW - 6 * DAY,
            ),
            mail("today", "Walrus pricing", "walrus numbers", vec![], NOW),
        ],
    );
    let r = f.grab("walrus pricing last week");
    assert_eq!(ids(&r), vec![id("mail", "recent")]);
    let r = f.grab("walrus since November");
    assert_eq!(ids(&r).len(), 2, "{:?}", r.items);
    // The baseline has no query understanding: "last week" is just two more words.
    let r = f.grab_mode("walrus pricing last week", RetrievalMode::Bm25Only);
    assert_eq!(r.items.len(), 3);
}

#[test]
fn an_organisation_named_as_words_matches_its_domain() {
    let mut f = Fixture::new();
    let maria = person(
        "Maria Okafor",
        "maria@bluefinlogistics.io",
        PersonRole::Attendee,
    );
    f.put(
        "cal",
        vec![
            event("e1", "Weekly sync", vec![maria.clone()]),
            event(
                "e2",
                "Unrelated",
                vec![person("Bo", "bo@else.com", PersonRole::Attendee)],
            ),
        ],
    );
    let r = f.grab("Bluefin Logistics account status");
    assert_eq!(ids(&r), vec![id("cal", "e1")], "{:?}", r.items);
    assert!(
        r.items[0].why.contains("Bluefinlogistics"),
        "{}",
        r.items[0].why
    );
}

#[test]
fn the_organisation_the_best_hits_involve_brings_its_other_items() {
    let mut f = Fixture::new();
    let contact = |n: usize| {
        person(
            &format!("Contact {n}"),
            &format!("c{n}@sti.net"),
            PersonRole::From,
        )
    };
    let mut items: Vec<Item> = (0..4)
        .map(|n| {
            mail(
                &format!("m{n}"),
                &format!("Stonebridge Insurance thread {n}"),
                "Regards, Stonebridge Insurance",
                vec![contact(n)],
                NOW - DAY,
            )
        })
        .collect();
    // A meeting with one of their people whose title names nobody.
    items.push(mail(
        "meeting",
        "Weekly sync",
        "Agenda",
        vec![contact(7)],
        NOW - DAY,
    ));
    items.push(mail(
        "noise",
        "Insurance newsletter",
        "insurance news",
        vec![person("News", "news@example.org", PersonRole::From)],
        NOW - DAY,
    ));
    f.put("mail", items);
    let r = f.grab("Stonebridge Insurance");
    let got = ids(&r);
    assert!(got.contains(&id("mail", "meeting")), "{:?}", r.items);
    let meeting = r
        .items
        .iter()
        .find(|i| i.id == id("mail", "meeting"))
        .unwrap();
    assert!(meeting.why.contains("Sti"), "{}", meeting.why);
    // The baseline only has keywords.
    let r = f.grab_mode("Stonebridge Insurance", RetrievalMode::Bm25Only);
    assert!(!ids(&r).contains(&id("mail", "meeting")));
}

#[test]
fn people_the_best_hits_share_bring_where_they_meet() {
    let mut f = Fixture::new();
    let team = [
        person("Ann Ash", "ann@halcyon.test", PersonRole::From),
        person("Bob Birch", "bob@halcyon.test", PersonRole::To),
        person("Cy Cedar", "cy@halcyon.test", PersonRole::To),
    ];
    let mut items: Vec<Item> = (0..4)
        .map(|n| {
            mail(
                &format!("osprey{n}"),
                &format!("Osprey: part {n}"),
                "an update",
                team.to_vec(),
                NOW - DAY,
            )
        })
        .collect();
    items.push(event("review", "Design review", team[..2].to_vec()));
    items.push(event("alone", "One to one", vec![team[0].clone()]));
    // Colleagues in the same organisation, which is therefore too common to mean anything.
    for n in 0..60 {
        items.push(mail(
            &format!("f{n}"),
            "Lunch",
            "sandwiches",
            vec![person(
                &format!("P{n}"),
                &format!("p{n}@halcyon.test"),
                PersonRole::From,
            )],
            NOW - DAY,
        ));
    }
    f.put("mail", items);
    let r = f.grab("Osprey");
    let got = ids(&r);
    assert!(got.contains(&id("mail", "review")), "{:?}", r.items);
    assert!(
        !got.contains(&id("mail", "alone")),
        "one shared person is not a meeting of the team"
    );
}

#[test]
fn weak_keyword_hits_are_not_packed() {
    let mut f = Fixture::new();
    let mut items = vec![
        Item::new(
            "strong",
            ItemKind::Document,
            "Kestrel billing engine",
            "Kestrel is the billing engine rewrite. Kestrel ships in May.",
        ),
        Item::new(
            "weak",
            ItemKind::Document,
            "Room notes",
            format!(
                "{}The engine is noisy.",
                "The coffee machine is broken again. ".repeat(30)
            ),
        ),
    ];
    for n in 0..30 {
        items.push(Item::new(
            format!("n{n}"),
            ItemKind::Document,
            "Other",
            format!("notes {n}"),
        ));
    }
    f.put("docs", items);
    let r = f.grab("Kestrel engine");
    assert_eq!(ids(&r), vec![id("docs", "strong")], "{:?}", r.items);
    let r = f.grab_mode("Kestrel engine", RetrievalMode::Bm25Only);
    assert_eq!(r.items.len(), 2);
}

#[test]
fn a_recurring_series_is_found_by_the_date_of_any_occurrence() {
    let mut f = Fixture::new();
    let dana = person("Dana Whitfield", "dana@acme.example", PersonRole::Attendee);
    // A weekly sync whose stored timestamp is its next occurrence (tomorrow), and which also
    // meets next week and met two weeks ago; a one-off meeting with Dana two months ago.
    let mut weekly = Item::new(
        "weekly",
        ItemKind::Event,
        "Acme weekly sync",
        "Agenda: open items.",
    );
    weekly.people = vec![dana.clone()];
    weekly.timestamp_ms = Some(NOW + DAY);
    weekly.occurrences_ms = vec![NOW - 13 * DAY, NOW - 6 * DAY, NOW + DAY, NOW + 8 * DAY];
    let mut once = event("once", "Acme kickoff", vec![dana.clone()]);
    once.timestamp_ms = Some(NOW - 60 * DAY);
    let recent = mail(
        "note",
        "Acme notes",
        "notes from the sync",
        vec![dana],
        NOW - DAY,
    );
    f.put("cal", vec![weekly, once]);
    f.put("mail", vec![recent]);

    // Next week is Monday 2026-12-07 to Sunday 2026-12-13: only the occurrence of NOW + 8 days.
    let r = f.grab("meetings with Dana Whitfield next week");
    assert_eq!(ids(&r), vec![id("cal", "weekly")], "{:?}", r.items);
    // Two weeks ago no item's own timestamp falls, but an occurrence does.
    let r = f.grab("Dana Whitfield since 2026-11-19");
    assert!(
        ids(&r).contains(&id("cal", "weekly")),
        "the series met on 2026-11-20: {:?}",
        r.items
    );
    assert!(!ids(&r).contains(&id("cal", "once")), "{:?}", r.items);
    // Nothing of the series falls in October; the one-off does.
    let r = f.grab("Dana Whitfield in October");
    assert_eq!(ids(&r), vec![id("cal", "once")], "{:?}", r.items);
}

#[test]
fn the_occurrence_index_follows_updates_and_deletions() {
    let mut f = Fixture::new();
    let mut weekly = Item::new("w", ItemKind::Event, "Heron standup", "Heron agenda.");
    weekly.timestamp_ms = Some(NOW + DAY);
    weekly.occurrences_ms = vec![NOW + DAY, NOW + 8 * DAY];
    f.put("cal", vec![weekly.clone()]);
    assert_eq!(ids(&f.grab("Heron next week")), vec![id("cal", "w")]);
    // The series is shortened to this week: next week no longer matches.
    weekly.occurrences_ms = vec![NOW + DAY];
    f.put("cal", vec![weekly]);
    assert!(f.grab("Heron next week").items.is_empty());
    assert_eq!(ids(&f.grab("Heron this week")), vec![id("cal", "w")]);
}

const SPEC: &str = "Kestrel data residency plan: customer records stay in the Frankfurt region, \
    backups are encrypted with keys held by the customer, support staff outside the European \
    Union see only pseudonymised tickets, and the annual audit report is shared with the \
    customer's security team within thirty days of completion.";

#[test]
fn near_identical_copies_are_packed_once_and_named_on_the_kept_item() {
    let mut f = Fixture::new();
    let mut file = Item::new(
        "spec.md",
        ItemKind::Document,
        "Kestrel residency plan",
        SPEC,
    );
    file.timestamp_ms = Some(NOW - 3 * DAY);
    let mut attachment = Item::new(
        "m1/spec.txt",
        ItemKind::Attachment,
        "spec.txt",
        SPEC.replace(", ", ",\n"),
    );
    attachment.timestamp_ms = Some(NOW - 2 * DAY);
    let forward = mail(
        "fwd",
        "Fwd: Kestrel residency plan",
        &format!(
            "---------- Forwarded message ---------\nFrom: Priya <priya@kestrel.example>\n\n{SPEC}"
        ),
        vec![],
        NOW - DAY,
    );
    // Same topic, different text: not a copy.
    let summary = mail(
        "summary",
        "Kestrel residency summary",
        "Summary for Kestrel: data stays in Frankfurt, customer-held keys encrypt the backups, \
         tickets are pseudonymised for support outside the Union, audits are shared yearly.",
        vec![],
        NOW,
    );
    f.put("docs", vec![file]);
    f.put("mail", vec![attachment, forward, summary]);

    let r = f.grab("Kestrel residency");
    let packed = ids(&r);
    assert_eq!(
        packed.len(),
        2,
        "one copy of the plan and the summary: {:?}",
        r.items
    );
    assert!(packed.contains(&id("mail", "summary")));
    let kept = r
        .items
        .iter()
        .find(|i| i.id != id("mail", "summary"))
        .unwrap();
    let mut copies = kept.duplicate_ids.clone();
    copies.push(kept.id.clone());
    copies.sort();
    let mut all = vec![
        id("docs", "spec.md"),
        id("mail", "m1/spec.txt"),
        id("mail", "fwd"),
    ];
    all.sort();
    assert_eq!(copies, all, "{kept:?}");
    assert!(
        kept.why.contains("2 near-identical copies left out"),
        "{}",
        kept.why
    );
    // The baseline packs every copy.
    let r = f.grab_mode("Kestrel residency", RetrievalMode::Bm25Only);
    assert_eq!(r.items.len(), 4);
    assert!(r.items.iter().all(|i| i.duplicate_ids.is_empty()));
}

#[test]
fn messages_of_one_thread_are_not_copies_of_each_other() {
    let mut f = Fixture::new();
    let mut first = mail("t1", "Kestrel residency plan", SPEC, vec![], NOW - DAY);
    first.thread_key = Some("thread-k".into());
    // A reply that quotes everything and adds one line, in the same thread.
    let mut reply = mail(
        "t2",
        "Re: Kestrel residency plan",
        &format!("Agreed, ship it.\n\n> {SPEC}"),
        vec![],
        NOW,
    );
    reply.thread_key = Some("thread-k".into());
    f.put("mail", vec![first, reply]);
    let r = f.grab("Kestrel residency");
    assert_eq!(
        ids(&r),
        vec![id("mail", "t1"), id("mail", "t2")],
        "{:?}",
        r.items
    );
}

#[test]
fn the_window_is_grouped_by_organisation_and_chronological_inside() {
    let mut f = Fixture::new();
    let acme = person("Ann Acme", "ann@acme.example", PersonRole::From);
    let globex = person("Gil Globex", "gil@globex.example", PersonRole::From);
    let mut items = Vec::new();
    // Interleaved in time and in how strongly they match, so that neither rank nor time alone
    // puts one company's items together.
    for (i, (who, words)) in [
        (&acme, "sso sso sso rollout"),
        (&globex, "sso sso sso sso rollout"),
        (&acme, "sso rollout"),
        (&globex, "sso sso rollout"),
        (&acme, "sso sso sso sso sso rollout"),
        (&globex, "sso rollout notes"),
    ]
    .into_iter()
    .enumerate()
    {
        items.push(mail(
            &format!("m{i}"),
            &format!("SSO rollout {i}"),
            words,
            vec![who.clone()],
            NOW - (10 - i as i64) * DAY,
        ));
    }
    f.put("mail", items);
    let r = f.grab("sso rollout");
    assert_eq!(r.items.len(), 6, "{:?}", r.items);
    let org_of = |id: &str| {
        let n: usize = (0..6)
            .find(|n| self::id("mail", &format!("m{n}")) == id)
            .unwrap();
        (n % 2, n)
    };
    let order: Vec<(usize, usize)> = r.items.iter().map(|i| org_of(&i.id)).collect();
    // One company's three messages, then the other's, each in time order.
    let first = order[0].0;
    assert!(order[..3].iter().all(|(o, _)| *o == first), "{order:?}");
    assert!(order[3..].iter().all(|(o, _)| *o != first), "{order:?}");
    assert!(order[..3].windows(2).all(|w| w[0].1 < w[1].1), "{order:?}");
    assert!(order[3..].windows(2).all(|w| w[0].1 < w[1].1), "{order:?}");
    // The baseline keeps rank order.
    let r = f.grab_mode("sso rollout", RetrievalMode::Bm25Only);
    let scores: Vec<f32> = r.items.iter().map(|i| i.score).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
}

/// Three long documents and six short notes and meetings, all about one project.
fn long_and_short_items(f: &mut Fixture) {
    let words = ["cluster", "replica", "schema", "ledger", "backup", "index"];
    let docs = (0..3)
        .map(|d| {
            let body: String = (0..180)
                .map(|i| {
                    format!(
                        "Osprey runbook {d} step {i}: move the {} table t{d}x{i} to shard {} and check it. ",
                        words[(i + d) % words.len()],
                        i * 7 + d
                    )
                })
                .collect();
            let mut item = Item::new(
                format!("runbook-{d}.md"),
                ItemKind::Document,
                format!("Osprey runbook {d}"),
                &body,
            );
            item.timestamp_ms = Some(NOW - (20 + d as i64) * DAY);
            item
        })
        .collect();
    f.put("docs", docs);
    let notes = (0..3)
        .map(|i| {
            let mut item = Item::new(
                format!("note-{i}"),
                ItemKind::Note,
                format!("Osprey call note {i}"),
                format!("Customer asked about Osprey cutover window {i}."),
            );
            item.timestamp_ms = Some(NOW - (5 + i as i64) * DAY);
            item
        })
        .collect();
    f.put("crm", notes);
    let meetings = (0..3)
        .map(|i| {
            let mut item = Item::new(
                format!("osprey-{i}"),
                ItemKind::Event,
                format!("Osprey cutover rehearsal {i}"),
                "Agenda: rehearse the Osprey cutover.",
            );
            item.timestamp_ms = Some(NOW + (1 + i as i64) * DAY);
            item
        })
        .collect();
    f.put("calendar", meetings);
}

#[test]
fn a_tight_budget_trims_long_items_so_that_every_related_item_fits() {
    let mut f = Fixture::new();
    long_and_short_items(&mut f);
    let all = f.grab_budget("Osprey", 100_000);
    assert_eq!(all.items.len(), 9, "{:?}", ids(&all));
    assert!(all.items.iter().all(|i| !i.truncated));
    let long_tokens = all
        .items
        .iter()
        .filter(|i| i.kind == ItemKind::Document)
        .map(|i| i.tokens)
        .min()
        .unwrap();
    assert!(long_tokens > 2_000, "{long_tokens}");
    // Room for one long document whole: ranking order would pack it and cut most of the rest.
    let budget = long_tokens + 1_000;
    let r = f.grab_budget("Osprey", budget);
    assert!(r.tokens_used <= budget, "{} > {budget}", r.tokens_used);
    assert_eq!(r.items.len(), 9, "{:?}", ids(&r));
    let docs: Vec<_> = r
        .items
        .iter()
        .filter(|i| i.kind == ItemKind::Document)
        .collect();
    assert_eq!(docs.len(), 3);
    assert!(
        docs.iter()
            .all(|d| d.truncated && d.text.contains("Osprey runbook"))
    );
    // Each long document got a similar share: they are trimmed to one share at chunk edges, and
    // what a trim leaves unused is spread over the long items after it, so the window is full
    // to within two chunks (trims end at chunk edges).
    let (lo, hi) = (
        docs.iter().map(|d| d.tokens).min().unwrap(),
        docs.iter().map(|d| d.tokens).max().unwrap(),
    );
    assert!(hi - lo < 600, "shares {lo}..{hi}");
    assert!(
        r.tokens_used + 2 * 256 >= budget,
        "{} of {budget} tokens used",
        r.tokens_used
    );
    assert!(r.cut.is_empty(), "{:?}", r.cut);
}

#[test]
fn a_crowded_budget_packs_by_value_per_token_and_every_source_gets_a_turn() {
    let mut f = Fixture::new();
    long_and_short_items(&mut f);
    // Less than three long documents' minimum shares: not everything can go in.
    let budget = 1_400;
    let r = f.grab_budget("Osprey", budget);
    assert!(r.tokens_used <= budget, "{} > {budget}", r.tokens_used);
    let count = |kind: ItemKind| r.items.iter().filter(|i| i.kind == kind).count();
    // The short items are worth more per token: all of them, and one long document trimmed.
    assert_eq!(count(ItemKind::Note), 3, "{:?}", r.items);
    assert_eq!(count(ItemKind::Event), 3, "{:?}", r.items);
    assert!(count(ItemKind::Document) >= 1, "{:?}", r.items);
    assert!(count(ItemKind::Document) < 3, "{:?}", r.items);
    // What was left out is listed for paging.
    let packed: Vec<&str> = r.items.iter().map(|i| i.id.as_str()).collect();
    assert!(!r.cut.is_empty());
    assert!(r.cut.iter().all(|c| !packed.contains(&c.id.as_str())));
    assert_eq!(r.items.len() + r.cut.len(), 9, "{:?} {:?}", packed, r.cut);
}

/// Regression (foundation bench, 2026-12-04: 128K windows used 72% of their budget): when the
/// plan trims more long items to its share than the per-request trim allowance, every one of
/// them is still trimmed, none is cut with its share of the budget left unused.
#[test]
fn every_long_item_the_plan_trims_is_packed() {
    let mut f = Fixture::new();
    let docs = (0..40)
        .map(|d| {
            let body: String = (0..150)
                .map(|i| {
                    format!(
                        "Kestrel migration {d} step {i}: copy table k{d}x{i} to shard {} and verify the row counts. ",
                        i * 11 + d
                    )
                })
                .collect();
            let mut item = Item::new(
                format!("kestrel-{d}.md"),
                ItemKind::Document,
                format!("Kestrel migration {d}"),
                &body,
            );
            item.timestamp_ms = Some(NOW - (10 + d as i64) * DAY);
            item
        })
        .collect();
    f.put("docs", docs);
    let all = f.grab_budget("Kestrel migration", 1_000_000);
    assert_eq!(all.items.len(), 40, "{:?}", ids(&all));
    let shortest = all.items.iter().map(|i| i.tokens).min().unwrap();
    assert!(shortest > 2_000, "{shortest}");
    // Room for each document at about a third of its length: all 40 are trimmed.
    let budget = 40 * shortest / 3;
    let r = f.grab_budget("Kestrel migration", budget);
    assert!(r.tokens_used <= budget, "{} > {budget}", r.tokens_used);
    assert_eq!(r.items.len(), 40, "cut: {:?}", r.cut);
    assert!(r.items.iter().all(|i| i.truncated));
    assert!(r.cut.is_empty(), "{:?}", r.cut);
    assert!(
        r.tokens_used >= budget * 3 / 4,
        "{} of {budget} tokens used",
        r.tokens_used
    );
}
