//! Test support for ctx connectors: an in-memory [`FakeConnector`], a [`MiniStore`] that plays the
//! daemon's role (applies batches, keeps the cursor, answers [`KnownState`]), and the conformance
//! suite ([`run_conformance`]) that every connector must pass.
//!
//! This crate owns only test doubles and checks of the connector contract. It must never be a
//! dependency of production code, and it must not grow store or search logic beyond what is needed
//! to check a connector (the real store lives in `ctx-store`).
//!
//! The conformance checks report non-conformance by panicking with a message saying what was
//! expected: that is how test failures surface, and it is the only place panics are intended.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ctx_connector_api::{
    Batch, Connector, ConnectorError, Cursor, ErrorKind, Item, ItemId, ItemKind, KnownState,
    Progress, SyncContext, Wake,
};

/// Pulls in one pass before a check gives up on a connector that never says `has_more == false`.
pub const MAX_PULLS_PER_PASS: usize = 10_000;

/// How long the live-change check waits for `wait_for_change` to return.
pub const LIVE_CHANGE_TIMEOUT: Duration = Duration::from_secs(10);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not turn every later check into a confusing poison error.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// Mini store
// ---------------------------------------------------------------------------------------------

/// What the daemon keeps for one source, in memory: live items by [`ItemId`], and the cursor.
#[derive(Debug, Clone)]
pub struct MiniStore {
    source: String,
    items: BTreeMap<ItemId, Item>,
    cursor: Option<Cursor>,
}

/// A frozen copy of a [`MiniStore`]'s versions, handed to connectors as their [`KnownState`].
struct KnownSnapshot(HashMap<String, Option<String>>);

impl KnownState for KnownSnapshot {
    fn versions(&self) -> Result<HashMap<String, Option<String>>, ConnectorError> {
        Ok(self.0.clone())
    }
}

impl MiniStore {
    pub fn new(source: impl Into<String>) -> Self {
        MiniStore {
            source: source.into(),
            items: BTreeMap::new(),
            cursor: None,
        }
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Commits a batch the way the daemon does: upserts by id, deletes, then the cursor.
    pub fn apply(&mut self, batch: &Batch) {
        for item in &batch.upserts {
            self.items
                .insert(ItemId::new(&self.source, &item.external_id), item.clone());
        }
        for external_id in &batch.deletes {
            self.items.remove(&ItemId::new(&self.source, external_id));
        }
        if let Some(cursor) = &batch.cursor {
            self.cursor = Some(cursor.clone());
        }
    }

    pub fn cursor(&self) -> Option<&Cursor> {
        self.cursor.as_ref()
    }

    /// The sync context for the next pull: a snapshot of what is stored now.
    pub fn context(&self) -> SyncContext {
        let versions = self
            .items
            .values()
            .map(|item| (item.external_id.clone(), item.version.clone()))
            .collect();
        SyncContext {
            known: Arc::new(KnownSnapshot(versions)),
        }
    }

    pub fn get(&self, external_id: &str) -> Option<&Item> {
        self.items.get(&ItemId::new(&self.source, external_id))
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn items(&self) -> impl Iterator<Item = &Item> {
        self.items.values()
    }

    pub fn external_ids(&self) -> BTreeSet<String> {
        self.items.values().map(|i| i.external_id.clone()).collect()
    }
}

/// Everything one pass (pulls until `has_more == false`) delivered.
#[derive(Debug, Clone, Default)]
pub struct PassReport {
    pub batches: usize,
    pub upserts: Vec<Item>,
    pub deletes: Vec<String>,
    pub last_progress: Option<Progress>,
}

impl PassReport {
    pub fn upserted_ids(&self) -> Vec<&str> {
        self.upserts
            .iter()
            .map(|i| i.external_id.as_str())
            .collect()
    }
}

/// Pulls once with the store's cursor and known state, and applies the batch.
pub async fn pull_once(
    connector: &mut dyn Connector,
    store: &mut MiniStore,
) -> Result<Batch, ConnectorError> {
    let ctx = store.context();
    let cursor = store.cursor().cloned();
    let batch = connector.pull(cursor.as_ref(), &ctx).await?;
    store.apply(&batch);
    Ok(batch)
}

/// Pulls and applies batches until the connector reports `has_more == false`, as the daemon does.
///
/// # Panics
/// After [`MAX_PULLS_PER_PASS`] pulls (a connector that never finishes a pass).
pub async fn pull_pass(
    connector: &mut dyn Connector,
    store: &mut MiniStore,
) -> Result<PassReport, ConnectorError> {
    let mut report = PassReport::default();
    for _ in 0..MAX_PULLS_PER_PASS {
        let batch = pull_once(connector, store).await?;
        report.batches += 1;
        if let Some(progress) = batch.progress {
            report.last_progress = Some(progress);
        }
        report.upserts.extend(batch.upserts);
        report.deletes.extend(batch.deletes);
        if !batch.has_more {
            return Ok(report);
        }
    }
    panic!("connector did not finish a pass within {MAX_PULLS_PER_PASS} pulls");
}

// ---------------------------------------------------------------------------------------------
// Fake connector
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Default)]
struct FakeState {
    /// key → (text, version counter).
    items: BTreeMap<String, (String, u64)>,
    /// Change log: (sequence number, key), one entry per change.
    log: Vec<(u64, String)>,
    seq: u64,
    fail_next_pull: Option<ErrorKind>,
}

/// An in-memory source for [`FakeConnector`]s, shared between the test and its connectors.
///
/// Keys are used as external ids. Every change bumps a sequence number; connectors use it as their
/// cursor (`seq:N`) and are woken through a watch channel.
#[derive(Clone)]
pub struct FakeSource {
    state: Arc<Mutex<FakeState>>,
    changed: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Default for FakeSource {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeSource {
    pub fn new() -> Self {
        FakeSource {
            state: Arc::new(Mutex::new(FakeState::default())),
            changed: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }

    fn record(&self, key: &str, change: impl FnOnce(&mut FakeState)) {
        let seq = {
            let mut state = lock(&self.state);
            change(&mut state);
            state.seq += 1;
            let seq = state.seq;
            state.log.push((seq, key.to_owned()));
            seq
        };
        self.changed.send_replace(seq);
    }

    /// Creates or replaces item `key` with `text`.
    pub fn upsert(&self, key: &str, text: &str) {
        self.record(key, |state| {
            let version = state.items.get(key).map_or(1, |(_, v)| v + 1);
            state
                .items
                .insert(key.to_owned(), (text.to_owned(), version));
        });
    }

    /// Deletes item `key` (a no-op change if it does not exist).
    pub fn delete(&self, key: &str) {
        self.record(key, |state| {
            state.items.remove(key);
        });
    }

    /// Makes the next pull of any connector of this source fail with `kind`.
    pub fn fail_next_pull(&self, kind: ErrorKind) {
        lock(&self.state).fail_next_pull = Some(kind);
    }

    pub fn keys(&self) -> BTreeSet<String> {
        lock(&self.state).items.keys().cloned().collect()
    }

    /// A new connector over this source, as after a daemon (re)start.
    pub fn connector(&self, batch_size: usize) -> FakeConnector {
        FakeConnector {
            source: self.clone(),
            changes: self.changed.subscribe(),
            batch_size: batch_size.max(1),
            plan: VecDeque::new(),
            plan_end_seq: None,
            delivered_seq: 0,
            progress: Progress::default(),
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Upsert(String),
    Delete(String),
}

/// A connector over a [`FakeSource`].
///
/// Its first pull without a cursor reconciles against the known state; with a cursor `seq:N` it
/// replays the change log after `N`. Each pass is cut into batches of `batch_size` operations, and
/// the cursor only advances with the last batch of a pass, so a crash mid-pass replays from the
/// previous cursor (or reconciles again), never skipping work.
pub struct FakeConnector {
    source: FakeSource,
    changes: tokio::sync::watch::Receiver<u64>,
    batch_size: usize,
    plan: VecDeque<Op>,
    /// The sequence number the current pass brings the store up to.
    plan_end_seq: Option<u64>,
    /// The sequence number the last finished pass brought the store up to.
    delivered_seq: u64,
    progress: Progress,
}

fn parse_cursor(cursor: &Cursor) -> Option<u64> {
    cursor.as_str().strip_prefix("seq:")?.parse().ok()
}

fn fake_item(key: &str, text: &str, version: u64) -> Item {
    let mut item = Item::new(key, ItemKind::Note, key, text);
    item.version = Some(version.to_string());
    item.locator = format!("fake://{key}");
    item
}

impl FakeConnector {
    fn plan_pass(
        &mut self,
        cursor: Option<&Cursor>,
        ctx: &SyncContext,
    ) -> Result<(), ConnectorError> {
        let state = lock(&self.source.state);
        let since = cursor
            .and_then(parse_cursor)
            .filter(|&seq| seq <= state.seq);
        let mut ops = Vec::new();
        match since {
            Some(since) => {
                // Replay the log; several changes of one key collapse into its current state.
                let touched: BTreeSet<&String> = state
                    .log
                    .iter()
                    .filter(|(seq, _)| *seq > since)
                    .map(|(_, key)| key)
                    .collect();
                for key in touched {
                    ops.push(if state.items.contains_key(key) {
                        Op::Upsert(key.clone())
                    } else {
                        Op::Delete(key.clone())
                    });
                }
            }
            None => {
                let known = ctx.known.versions()?;
                for (key, (_, version)) in &state.items {
                    if known.get(key) != Some(&Some(version.to_string())) {
                        ops.push(Op::Upsert(key.clone()));
                    }
                }
                for key in known.keys() {
                    if !state.items.contains_key(key) {
                        ops.push(Op::Delete(key.clone()));
                    }
                }
            }
        }
        self.progress = Progress {
            done: 0,
            total: ops.len() as u64,
        };
        self.plan = ops.into();
        self.plan_end_seq = Some(state.seq);
        Ok(())
    }
}

#[async_trait::async_trait]
impl Connector for FakeConnector {
    fn type_name(&self) -> &'static str {
        "fake"
    }

    async fn pull(
        &mut self,
        cursor: Option<&Cursor>,
        ctx: &SyncContext,
    ) -> Result<Batch, ConnectorError> {
        if let Some(kind) = lock(&self.source.state).fail_next_pull.take() {
            return Err(ConnectorError::new(kind, "injected failure"));
        }
        if self.plan.is_empty() {
            self.plan_pass(cursor, ctx)?;
        }
        let state = lock(&self.source.state);
        let mut batch = Batch::default();
        for _ in 0..self.batch_size {
            let Some(op) = self.plan.pop_front() else {
                break;
            };
            self.progress.done += 1;
            match op {
                // An item deleted since planning is simply no longer there to upsert.
                Op::Upsert(key) => match state.items.get(&key) {
                    Some((text, version)) => batch.upserts.push(fake_item(&key, text, *version)),
                    None => batch.deletes.push(key),
                },
                Op::Delete(key) => batch.deletes.push(key),
            }
        }
        batch.has_more = !self.plan.is_empty();
        batch.progress = Some(self.progress);
        if !batch.has_more {
            batch.cursor = self.plan_end_seq.map(|seq| Cursor(format!("seq:{seq}")));
            if let Some(end) = self.plan_end_seq {
                self.delivered_seq = end;
            }
        }
        Ok(batch)
    }

    async fn wait_for_change(&mut self) -> Result<Wake, ConnectorError> {
        loop {
            // Changes made before this call but after the last finished pass count too.
            if *self.changes.borrow_and_update() > self.delivered_seq {
                return Ok(Wake::Changed);
            }
            if self.changes.changed().await.is_err() {
                // The source (and every handle to it) is gone: nothing can change any more.
                return Ok(Wake::Never);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Conformance suite
// ---------------------------------------------------------------------------------------------

/// How a connector under test is driven by the conformance suite.
///
/// Keys are short names (`doc-0`); the harness maps them to source objects (files, messages...)
/// and to the external ids its connector will report.
#[async_trait::async_trait]
pub trait ConformanceHarness: Send {
    /// A fresh connector instance, as after a daemon restart. To make the crash check meaningful
    /// it should use a small batch size (at most 3 items per batch).
    fn connector(&mut self) -> Box<dyn Connector>;

    /// The external id the connector reports for `key`.
    fn external_id(&self, key: &str) -> String;

    async fn create(&mut self, key: &str, text: &str);
    async fn modify(&mut self, key: &str, text: &str);
    async fn delete(&mut self, key: &str);

    /// Whether `wait_for_change` reports changes made while the connector runs. When false, the
    /// suite observes changes through a restarted connector instead.
    fn supports_live_changes(&self) -> bool {
        true
    }

    /// The source name items are stored under.
    fn source_name(&self) -> String {
        "conformance".to_owned()
    }
}

const INITIAL_KEYS: usize = 7;

fn key(i: usize) -> String {
    format!("doc-{i}")
}

fn text_of(key: &str, generation: u32) -> String {
    format!("conformance text of {key}, generation {generation}")
}

/// The state shared by the checks: the store as the daemon would have it, and a running connector.
pub struct Conformance<'h, H: ConformanceHarness + ?Sized> {
    pub harness: &'h mut H,
    pub store: MiniStore,
    pub connector: Box<dyn Connector>,
    /// Keys that exist at the source, with their current text.
    pub expected: BTreeMap<String, String>,
}

impl<'h, H: ConformanceHarness + ?Sized> Conformance<'h, H> {
    pub fn new(harness: &'h mut H) -> Self {
        let store = MiniStore::new(harness.source_name());
        let connector = harness.connector();
        Conformance {
            harness,
            store,
            connector,
            expected: BTreeMap::new(),
        }
    }

    fn expected_ids(&self) -> BTreeSet<String> {
        self.expected
            .keys()
            .map(|k| self.harness.external_id(k))
            .collect()
    }

    async fn pass(&mut self, what: &str) -> PassReport {
        match pull_pass(self.connector.as_mut(), &mut self.store).await {
            Ok(report) => report,
            Err(e) => panic!("{what}: pull failed: {e} ({:?})", e.kind),
        }
    }

    /// Brings the connector up to date after a source change: waits for the change notification
    /// when the connector supports live changes, else restarts it (which must reconcile).
    async fn observe_change(&mut self, what: &str) -> PassReport {
        if self.harness.supports_live_changes() {
            match tokio::time::timeout(LIVE_CHANGE_TIMEOUT, self.connector.wait_for_change()).await
            {
                Ok(Ok(Wake::Changed)) => {}
                Ok(Ok(Wake::Never)) => panic!("{what}: wait_for_change returned Never"),
                Ok(Err(e)) => panic!("{what}: wait_for_change failed: {e}"),
                Err(_) => panic!("{what}: no change reported within {LIVE_CHANGE_TIMEOUT:?}"),
            }
        } else {
            self.connector = self.harness.connector();
        }
        self.pass(what).await
    }

    fn assert_store_matches_source(&self, what: &str) {
        assert_eq!(
            self.store.external_ids(),
            self.expected_ids(),
            "{what}: stored ids differ from the source"
        );
        for (key, text) in &self.expected {
            let id = self.harness.external_id(key);
            let item = self
                .store
                .get(&id)
                .unwrap_or_else(|| panic!("{what}: {id} missing"));
            assert!(
                item.body.contains(text.as_str()),
                "{what}: body of {id} is {:?}, expected it to contain {text:?}",
                item.body
            );
        }
    }

    /// (a) The initial pass yields every created item exactly once, with stable ids.
    pub async fn check_initial_pass(&mut self) {
        for i in 0..INITIAL_KEYS {
            let k = key(i);
            let text = text_of(&k, 0);
            self.harness.create(&k, &text).await;
            self.expected.insert(k, text);
        }
        let report = self.pass("initial pass").await;
        let mut ids: Vec<&str> = report.upserted_ids();
        ids.sort_unstable();
        let expected: Vec<String> = self.expected_ids().into_iter().collect();
        assert_eq!(
            ids, expected,
            "initial pass must upsert every item exactly once"
        );
        assert!(
            report.deletes.is_empty(),
            "initial pass deleted {:?}",
            report.deletes
        );
        assert!(
            report.batches >= 2,
            "with a small batch size the initial pass needs several batches"
        );
        for item in &report.upserts {
            assert!(
                !item.title.is_empty(),
                "{} has an empty title",
                item.external_id
            );
        }
        self.assert_store_matches_source("initial pass");
    }

    /// (b) A restarted connector with the stored cursor and known state re-delivers nothing.
    pub async fn check_restart_is_quiet(&mut self) {
        self.connector = self.harness.connector();
        let report = self.pass("restart").await;
        assert!(
            report.upserts.is_empty(),
            "restart re-delivered unchanged items: {:?}",
            report.upserted_ids()
        );
        assert!(
            report.deletes.is_empty(),
            "restart deleted {:?}",
            report.deletes
        );
        self.assert_store_matches_source("restart");
    }

    /// (c) A modification yields exactly one upsert of that item, with the new text.
    pub async fn check_modify(&mut self) {
        let k = key(1);
        let text = format!("{} and then some more words", text_of(&k, 1));
        self.harness.modify(&k, &text).await;
        self.expected.insert(k.clone(), text.clone());
        let report = self.pass_until_upserted(&k, "modify").await;
        let id = self.harness.external_id(&k);
        assert_eq!(
            report.upserted_ids(),
            vec![id.as_str()],
            "modify must upsert exactly that item"
        );
        assert!(
            report.upserts[0].body.contains(&text),
            "modify delivered the old text"
        );
        assert!(
            report.deletes.is_empty(),
            "modify deleted {:?}",
            report.deletes
        );
        self.assert_store_matches_source("modify");
    }

    /// (d) A deletion yields that external id in `deletes`, and nothing else.
    pub async fn check_delete(&mut self) {
        let k = key(2);
        self.harness.delete(&k).await;
        self.expected.remove(&k);
        let id = self.harness.external_id(&k);
        let mut report = self.observe_change("delete").await;
        // A live watcher may report the change in more than one notification.
        let deadline = tokio::time::Instant::now() + LIVE_CHANGE_TIMEOUT;
        while !report.deletes.contains(&id) && tokio::time::Instant::now() < deadline {
            let more = self.observe_change("delete").await;
            report.upserts.extend(more.upserts);
            report.deletes.extend(more.deletes);
        }
        assert_eq!(
            report.deletes,
            vec![id.clone()],
            "delete must be reported exactly once"
        );
        assert!(
            report.upserts.is_empty(),
            "delete upserted {:?}",
            report.upserted_ids()
        );
        self.assert_store_matches_source("delete");
    }

    /// (e) A creation while the connector waits wakes it, and the next pass delivers the item.
    pub async fn check_live_create(&mut self) {
        let k = "doc-live".to_owned();
        let text = text_of(&k, 0);
        self.harness.create(&k, &text).await;
        self.expected.insert(k.clone(), text);
        let report = self.pass_until_upserted(&k, "live create").await;
        assert_eq!(
            report.upserted_ids(),
            vec![self.harness.external_id(&k).as_str()],
            "live create must upsert exactly the new item"
        );
        self.assert_store_matches_source("live create");
    }

    async fn pass_until_upserted(&mut self, k: &str, what: &str) -> PassReport {
        let id = self.harness.external_id(k);
        let mut report = self.observe_change(what).await;
        let deadline = tokio::time::Instant::now() + LIVE_CHANGE_TIMEOUT;
        while !report.upserted_ids().contains(&id.as_str())
            && tokio::time::Instant::now() < deadline
        {
            let more = self.observe_change(what).await;
            report.upserts.extend(more.upserts);
            report.deletes.extend(more.deletes);
        }
        report
    }

    /// (f) A crash after the first committed batch of a pass: a restarted connector finishes the
    /// pass, and the store ends equal to the source with every item delivered exactly once.
    pub async fn check_crash_mid_pass(&mut self) {
        // A fresh daemon database over the same source: the whole source is one long pass.
        let mut store = MiniStore::new(self.harness.source_name());
        let mut first = self.harness.connector();
        let batch = match pull_once(first.as_mut(), &mut store).await {
            Ok(batch) => batch,
            Err(e) => panic!("crash: first pull failed: {e}"),
        };
        assert!(
            batch.has_more,
            "crash: the pass must need more than one batch"
        );
        assert!(
            !batch.upserts.is_empty(),
            "crash: the first batch must carry items"
        );
        let first_ids: BTreeSet<String> = batch
            .upserts
            .iter()
            .map(|i| i.external_id.clone())
            .collect();
        // The process dies here: the connector is dropped, the committed batch stays.
        drop(first);
        let mut second = self.harness.connector();
        let report = match pull_pass(second.as_mut(), &mut store).await {
            Ok(report) => report,
            Err(e) => panic!("crash: recovery pass failed: {e}"),
        };
        let mut all: Vec<String> = first_ids.iter().cloned().collect();
        all.extend(report.upserts.iter().map(|i| i.external_id.clone()));
        all.sort_unstable();
        let expected: Vec<String> = self.expected_ids().into_iter().collect();
        assert_eq!(
            all, expected,
            "crash: every item must be delivered exactly once overall"
        );
        assert_eq!(
            store.external_ids(),
            self.expected_ids(),
            "crash: final set differs"
        );
        self.store = store;
        self.connector = second;
        self.assert_store_matches_source("crash");
    }
}

/// Runs every conformance check, in order, against the harness's connector.
///
/// # Panics
/// When the connector does not conform, with a message naming the check.
pub async fn run_conformance<H: ConformanceHarness + ?Sized>(harness: &mut H) {
    let mut suite = Conformance::new(harness);
    suite.check_initial_pass().await;
    suite.check_restart_is_quiet().await;
    suite.check_modify().await;
    suite.check_delete().await;
    if suite.harness.supports_live_changes() {
        suite.check_live_create().await;
    }
    suite.check_crash_mid_pass().await;
}
