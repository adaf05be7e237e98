//! The conformance suite against the in-memory fake, plus the fake's own behaviour.

use std::time::Duration;

use ctx_connector_api::{Connector, ErrorKind, Wake};
use ctx_connector_testkit::{
    ConformanceHarness, FakeSource, MiniStore, pull_once, pull_pass, run_conformance,
};

struct FakeHarness {
    source: FakeSource,
    live: bool,
}

#[async_trait::async_trait]
impl ConformanceHarness for FakeHarness {
    fn connector(&mut self) -> Box<dyn Connector> {
        Box::new(self.source.connector(2))
    }

    fn external_id(&self, key: &str) -> String {
        key.to_owned()
    }

    async fn create(&mut self, key: &str, text: &str) {
        self.source.upsert(key, text);
    }

    async fn modify(&mut self, key: &str, text: &str) {
        self.source.upsert(key, text);
    }

    async fn delete(&mut self, key: &str) {
        self.source.delete(key);
    }

    fn supports_live_changes(&self) -> bool {
        self.live
    }
}

#[tokio::test]
async fn fake_connector_passes_conformance_live() {
    let mut harness = FakeHarness {
        source: FakeSource::new(),
        live: true,
    };
    run_conformance(&mut harness).await;
}

#[tokio::test]
async fn fake_connector_passes_conformance_by_restart() {
    let mut harness = FakeHarness {
        source: FakeSource::new(),
        live: false,
    };
    run_conformance(&mut harness).await;
}

#[tokio::test]
async fn batches_respect_batch_size_and_report_progress() {
    let source = FakeSource::new();
    for i in 0..5 {
        source.upsert(&format!("k{i}"), "text");
    }
    let mut connector = source.connector(2);
    let mut store = MiniStore::new("fake");
    let first = pull_once(&mut connector, &mut store).await.unwrap();
    assert_eq!(first.upserts.len(), 2);
    assert!(first.has_more);
    assert_eq!(first.cursor, None, "the cursor must not advance mid-pass");
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    assert_eq!(report.batches, 2);
    assert_eq!(report.upserts.len(), 3);
    let progress = report.last_progress.unwrap();
    assert_eq!((progress.done, progress.total), (5, 5));
    assert_eq!(store.len(), 5);
    assert_eq!(store.cursor().map(|c| c.as_str()), Some("seq:5"));
}

#[tokio::test]
async fn cursor_replay_collapses_repeated_changes() {
    let source = FakeSource::new();
    source.upsert("a", "one");
    let mut store = MiniStore::new("fake");
    pull_pass(&mut source.connector(10), &mut store)
        .await
        .unwrap();
    source.upsert("a", "two");
    source.upsert("a", "three");
    source.upsert("b", "bee");
    source.delete("b");
    let report = pull_pass(&mut source.connector(10), &mut store)
        .await
        .unwrap();
    assert_eq!(report.upserted_ids(), vec!["a"]);
    assert_eq!(report.upserts[0].body, "three");
    assert_eq!(report.deletes, vec!["b".to_owned()]);
    assert_eq!(store.get("a").map(|i| i.body.as_str()), Some("three"));
}

#[tokio::test]
async fn wait_for_change_blocks_until_a_change() {
    let source = FakeSource::new();
    let mut connector = source.connector(10);
    let mut store = MiniStore::new("fake");
    pull_pass(&mut connector, &mut store).await.unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(100), connector.wait_for_change()).await;
    assert!(quiet.is_err(), "must not wake without a change");
    let writer = source.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        writer.upsert("new", "text");
    });
    let woke = tokio::time::timeout(Duration::from_secs(5), connector.wait_for_change())
        .await
        .expect("woken by the change")
        .unwrap();
    assert_eq!(woke, Wake::Changed);
}

#[tokio::test]
async fn injected_failures_surface_with_their_kind() {
    let source = FakeSource::new();
    source.upsert("a", "text");
    source.fail_next_pull(ErrorKind::Transient);
    let mut connector = source.connector(10);
    let mut store = MiniStore::new("fake");
    let err = pull_once(&mut connector, &mut store).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient);
    assert!(store.is_empty());
    pull_pass(&mut connector, &mut store).await.unwrap();
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn mini_store_known_state_reflects_versions() {
    let source = FakeSource::new();
    source.upsert("a", "text");
    source.upsert("a", "text 2");
    let mut store = MiniStore::new("fake");
    pull_pass(&mut source.connector(10), &mut store)
        .await
        .unwrap();
    let versions = store.context().known.versions().unwrap();
    assert_eq!(versions.get("a"), Some(&Some("2".to_owned())));
}
