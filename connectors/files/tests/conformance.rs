//! The connector conformance suite against the files connector, over a temporary directory.

use std::path::PathBuf;
use std::time::Duration;

use ctx_connector_api::Connector;
use ctx_connector_files::{FilesConnector, FilesOptions};
use ctx_connector_testkit::{ConformanceHarness, run_conformance};

struct FilesHarness {
    _dir: tempfile::TempDir,
    root: PathBuf,
    watch: bool,
}

impl FilesHarness {
    fn new(watch: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical tempdir");
        FilesHarness {
            _dir: dir,
            root,
            watch,
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.root.join(format!("{key}.md"))
    }
}

#[async_trait::async_trait]
impl ConformanceHarness for FilesHarness {
    fn connector(&mut self) -> Box<dyn Connector> {
        let options = FilesOptions {
            batch_size: 2,
            debounce: Duration::from_millis(100),
            watch: self.watch,
            ..FilesOptions::new([self.root.clone()])
        };
        Box::new(FilesConnector::new(options).expect("valid options"))
    }

    fn external_id(&self, key: &str) -> String {
        self.path(key).to_string_lossy().into_owned()
    }

    async fn create(&mut self, key: &str, text: &str) {
        std::fs::write(self.path(key), text).expect("write file");
    }

    async fn modify(&mut self, key: &str, text: &str) {
        std::fs::write(self.path(key), text).expect("rewrite file");
    }

    async fn delete(&mut self, key: &str) {
        std::fs::remove_file(self.path(key)).expect("remove file");
    }

    fn supports_live_changes(&self) -> bool {
        self.watch
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_connector_passes_conformance_with_watcher() {
    run_conformance(&mut FilesHarness::new(true)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_connector_passes_conformance_by_reconcile() {
    run_conformance(&mut FilesHarness::new(false)).await;
}
