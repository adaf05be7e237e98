//! Maildir-specific behaviour: flags, renames, folders, tmp/, attachments across restarts.

use std::path::{Path, PathBuf};

use ctx_connector_api::Connector;
use ctx_connector_mail::{MaildirConnector, MaildirOptions};
use ctx_connector_testkit::{MiniStore, PassReport, pull_pass};

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        Fixture { _dir: dir, root }
    }

    fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.root.join(rel);
        let folder = path.parent().and_then(Path::parent).unwrap();
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(folder.join(sub)).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    fn connector(&self) -> MaildirConnector {
        MaildirConnector::new(MaildirOptions {
            watch: false,
            batch_size: 2,
            ..MaildirOptions::new(&self.root)
        })
        .unwrap()
    }
}

async fn pass(fixture: &Fixture, store: &mut MiniStore) -> PassReport {
    let mut connector = fixture.connector();
    pull_pass(&mut connector as &mut dyn Connector, store)
        .await
        .unwrap()
}

fn mail(subject: &str, id: &str) -> String {
    format!("From: a@example.com\nSubject: {subject}\nMessage-ID: <{id}>\n\nbody of {subject}\n")
}

fn flags_of(store: &MiniStore, id: &str) -> Option<String> {
    store
        .get(id)?
        .fields
        .iter()
        .find(|(k, _)| k == "flags")
        .map(|(_, v)| v.clone())
}

#[tokio::test]
async fn flags_and_moves_keep_the_id() {
    let f = Fixture::new();
    let new = f.write("new/100.a.host", &mail("one", "1@x"));
    let mut store = MiniStore::new("mail");
    let report = pass(&f, &mut store).await;
    assert_eq!(report.upserted_ids(), vec!["INBOX/100.a.host"]);
    assert_eq!(flags_of(&store, "INBOX/100.a.host"), None);

    // Moving new/ → cur/ without flags (what a client does on first sight) changes nothing.
    let cur = f.root.join("cur/100.a.host:2,");
    std::fs::rename(&new, &cur).unwrap();
    let report = pass(&f, &mut store).await;
    assert!(
        report.upserts.is_empty() && report.deletes.is_empty(),
        "{report:?}"
    );

    // Reading and flagging renames the file: one upsert of the same id with the new flags.
    let flagged = f.root.join("cur/100.a.host:2,FS");
    std::fs::rename(&cur, &flagged).unwrap();
    let report = pass(&f, &mut store).await;
    assert_eq!(report.upserted_ids(), vec!["INBOX/100.a.host"]);
    assert!(report.deletes.is_empty());
    assert_eq!(
        flags_of(&store, "INBOX/100.a.host").as_deref(),
        Some("flagged,seen")
    );
    assert_eq!(store.len(), 1);
}

#[tokio::test]
async fn folders_tmp_and_default_excludes() {
    let f = Fixture::new();
    f.write("cur/1.inbox.host:2,S", &mail("inbox", "i@x"));
    f.write("tmp/2.partial.host", &mail("partial", "p@x"));
    f.write(".Work.Projects/cur/3.work.host:2,", &mail("work", "w@x"));
    f.write(".Trash/cur/4.trash.host:2,S", &mail("trash", "t@x"));
    f.write(".Junk.Old/new/5.junk.host", &mail("junk", "j@x"));
    f.write("Archive/2024/cur/6.arch.host:2,S", &mail("archive", "a@x"));
    let mut store = MiniStore::new("mail");
    pass(&f, &mut store).await;
    let ids: Vec<String> = store.external_ids().into_iter().collect();
    assert_eq!(
        ids,
        vec![
            "Archive/2024/6.arch.host",
            "INBOX/1.inbox.host",
            "Work/Projects/3.work.host",
        ]
    );
    let work = store.get("Work/Projects/3.work.host").unwrap();
    assert!(
        work.fields
            .contains(&("folder".to_owned(), "Work/Projects".to_owned()))
    );
}

#[tokio::test]
async fn attachments_follow_their_message_across_restarts_and_deletion() {
    let f = Fixture::new();
    let raw = "From: a@example.com\nSubject: notes\nMessage-ID: <n@x>\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nsee notes\n--B\nContent-Type: text/plain\nContent-Disposition: attachment; filename=notes.txt\n\nattached notes\n--B--\n";
    let path = f.write("cur/7.att.host:2,S", raw);
    let mut store = MiniStore::new("mail");
    let first = pass(&f, &mut store).await;
    assert_eq!(
        first.upserted_ids(),
        vec!["INBOX/7.att.host", "INBOX/7.att.host#att1"]
    );
    // A restart re-reads nothing and, in particular, does not take the attachment for a
    // vanished message.
    let again = pass(&f, &mut store).await;
    assert!(
        again.upserts.is_empty() && again.deletes.is_empty(),
        "{again:?}"
    );
    std::fs::remove_file(path).unwrap();
    let gone = pass(&f, &mut store).await;
    let mut deletes = gone.deletes.clone();
    deletes.sort();
    assert_eq!(deletes, vec!["INBOX/7.att.host", "INBOX/7.att.host#att1"]);
    assert!(store.is_empty());
}

#[tokio::test]
async fn unparseable_messages_are_skipped_not_fatal() {
    let f = Fixture::new();
    f.write("cur/8.empty.host:2,S", "");
    f.write("cur/9.ok.host:2,S", &mail("fine", "ok@x"));
    let mut store = MiniStore::new("mail");
    pass(&f, &mut store).await;
    let ids: Vec<String> = store.external_ids().into_iter().collect();
    assert_eq!(ids, vec!["INBOX/9.ok.host"]);
    // The skip list lives in the connector, so a restarted one parses it again and again skips it.
    let again = pass(&f, &mut store).await;
    assert!(again.upserts.is_empty() && again.deletes.is_empty());
}
