//! The connector conformance suite against the Maildir and mbox connectors.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ctx_connector_api::Connector;
use ctx_connector_mail::{MaildirConnector, MaildirOptions, MboxConnector, MboxOptions};
use ctx_connector_testkit::{ConformanceHarness, run_conformance};

fn message(key: &str, text: &str) -> String {
    format!(
        "From: Alice <alice@example.com>\r\nTo: bob@example.com\r\nSubject: {key}\r\nMessage-ID: <{key}@conformance.test>\r\nDate: Mon, 3 Jun 2024 10:00:00 +0000\r\n\r\n{text}\r\n"
    )
}

struct MaildirHarness {
    _dir: tempfile::TempDir,
    root: PathBuf,
    watch: bool,
    /// key → current file name (flags change it).
    names: BTreeMap<String, String>,
}

impl MaildirHarness {
    fn new(watch: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical tempdir");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(root.join(sub)).expect("maildir");
        }
        MaildirHarness {
            _dir: dir,
            root,
            watch,
            names: BTreeMap::new(),
        }
    }

    /// Delivers the way a mail delivery agent does: write to tmp/, rename into new/.
    fn deliver(&self, name: &str, text: &str) {
        let tmp = self.root.join("tmp").join(name);
        std::fs::write(&tmp, text).expect("write tmp");
        std::fs::rename(&tmp, self.root.join("new").join(name)).expect("deliver");
    }
}

#[async_trait::async_trait]
impl ConformanceHarness for MaildirHarness {
    fn connector(&mut self) -> Box<dyn Connector> {
        let options = MaildirOptions {
            batch_size: 2,
            debounce: Duration::from_millis(100),
            watch: self.watch,
            ..MaildirOptions::new(self.root.clone())
        };
        Box::new(MaildirConnector::new(options).expect("valid options"))
    }

    fn external_id(&self, key: &str) -> String {
        format!("INBOX/1700000000.{key}.host")
    }

    async fn create(&mut self, key: &str, text: &str) {
        let name = format!("1700000000.{key}.host");
        self.deliver(&name, &message(key, text));
        self.names.insert(key.to_owned(), format!("new/{name}"));
    }

    async fn modify(&mut self, key: &str, text: &str) {
        // Maildir messages are immutable; an edited draft is a new file with the same unique name.
        let old = self.names[key].clone();
        std::fs::remove_file(self.root.join(&old)).expect("remove old");
        let name = format!("1700000000.{key}.host:2,S");
        std::fs::write(self.root.join("cur").join(&name), message(key, text)).expect("rewrite");
        self.names.insert(key.to_owned(), format!("cur/{name}"));
    }

    async fn delete(&mut self, key: &str) {
        let old = self.names.remove(key).expect("known key");
        std::fs::remove_file(self.root.join(old)).expect("remove");
    }

    fn supports_live_changes(&self) -> bool {
        self.watch
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maildir_connector_passes_conformance_with_watcher() {
    run_conformance(&mut MaildirHarness::new(true)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maildir_connector_passes_conformance_by_reconcile() {
    run_conformance(&mut MaildirHarness::new(false)).await;
}

struct MboxHarness {
    _dir: tempfile::TempDir,
    path: PathBuf,
    watch: bool,
    messages: BTreeMap<String, String>,
}

impl MboxHarness {
    fn new(watch: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir
            .path()
            .canonicalize()
            .expect("canonical")
            .join("archive.mbox");
        MboxHarness {
            _dir: dir,
            path,
            watch,
            messages: BTreeMap::new(),
        }
    }

    /// Rewrites the file the way mail clients do: a new file renamed over the old one.
    fn write(&self) {
        let mut data = String::new();
        for (key, text) in &self.messages {
            data.push_str("From alice@example.com Mon Jun  3 10:00:00 2024\n");
            data.push_str(&message(key, text).replace("\r\n", "\n"));
            data.push('\n');
        }
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, data).expect("write mbox");
        std::fs::rename(&tmp, &self.path).expect("replace mbox");
    }
}

#[async_trait::async_trait]
impl ConformanceHarness for MboxHarness {
    fn connector(&mut self) -> Box<dyn Connector> {
        let options = MboxOptions {
            batch_size: 2,
            debounce: Duration::from_millis(100),
            watch: self.watch,
            ..MboxOptions::new(self.path.clone())
        };
        Box::new(MboxConnector::new(options).expect("valid options"))
    }

    fn external_id(&self, key: &str) -> String {
        format!("{key}@conformance.test")
    }

    async fn create(&mut self, key: &str, text: &str) {
        self.messages.insert(key.to_owned(), text.to_owned());
        self.write();
    }

    async fn modify(&mut self, key: &str, text: &str) {
        self.messages.insert(key.to_owned(), text.to_owned());
        self.write();
    }

    async fn delete(&mut self, key: &str) {
        self.messages.remove(key);
        self.write();
    }

    fn supports_live_changes(&self) -> bool {
        self.watch
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbox_connector_passes_conformance_with_watcher() {
    run_conformance(&mut MboxHarness::new(true)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mbox_connector_passes_conformance_by_reconcile() {
    run_conformance(&mut MboxHarness::new(false)).await;
}
