//! The IMAP connector against a real Dovecot (one private server per test; see `dovecot/`).

mod dovecot;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ctx_connector_api::{Connector, ErrorKind, Item, ItemKind, Wake};
use ctx_connector_mail::{ExpungeStats, ImapConnector, ImapOptions};
use ctx_connector_testkit::{
    Conformance, ConformanceHarness, MiniStore, PassReport, pull_once, pull_pass,
};
use dovecot::{Dovecot, Mail, PASSWORD};

fn id(folder: &str, validity: u32, uid: u32) -> String {
    format!("{folder};{validity};{uid}")
}

fn emails(store: &MiniStore) -> BTreeSet<String> {
    store
        .items()
        .filter(|i| i.kind == ItemKind::Email)
        .map(|i| i.external_id.clone())
        .collect()
}

fn field<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn assert_no_duplicates(report: &PassReport) {
    let mut seen = BTreeSet::new();
    for id in report.upserted_ids() {
        assert!(seen.insert(id), "{id} upserted twice in one pass");
    }
}

async fn pass(connector: &mut ImapConnector, store: &mut MiniStore) -> PassReport {
    pull_pass(connector, store)
        .await
        .unwrap_or_else(|e| panic!("pass failed: {e} ({:?})", e.kind))
}

/// Waits for the connector to report a change, then runs a pass.
async fn wake_and_pass(connector: &mut ImapConnector, store: &mut MiniStore) -> PassReport {
    let wake = tokio::time::timeout(Duration::from_secs(10), connector.wait_for_change())
        .await
        .expect("no change reported within 10 s")
        .expect("wait_for_change failed");
    assert_eq!(wake, Wake::Changed);
    pass(connector, store).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn initial_sync_is_newest_first_in_batches_and_never_marks_seen() {
    let server = Dovecot::start();
    let mut mail = Mail::new(&server).await;
    mail.create("Work").await;
    mail.create("Trash").await;
    let mut inbox_uids = Vec::new();
    for i in 0..20 {
        inbox_uids.push(
            mail.append("INBOX", &format!("in{i}"), &format!("inbox {i}"), "hello")
                .await,
        );
    }
    for i in 0..10 {
        mail.append("Work", &format!("w{i}"), &format!("work {i}"), "report")
            .await;
    }
    mail.append("Trash", "t0", "trash", "old").await;
    let inbox_v = mail.uidvalidity("INBOX").await;

    let mut opts = server.options(PASSWORD);
    opts.batch_size = 7;
    let mut connector = ImapConnector::new(opts);
    let mut store = MiniStore::new("imap");

    // The first batch holds the newest INBOX messages.
    let first = pull_once(&mut connector, &mut store).await.expect("pull");
    assert!(first.has_more);
    assert_eq!(first.upserts.len(), 7);
    let first_uids: Vec<String> = first
        .upserts
        .iter()
        .map(|i| i.external_id.clone())
        .collect();
    let newest: Vec<String> = inbox_uids
        .iter()
        .rev()
        .take(7)
        .map(|uid| id("INBOX", inbox_v, *uid))
        .collect();
    let mut a = first_uids.clone();
    a.sort();
    let mut b = newest.clone();
    b.sort();
    assert_eq!(a, b, "first batch must be the 7 newest INBOX messages");
    let progress = first.progress.expect("progress");
    assert_eq!((progress.done, progress.total), (7, 30));

    let rest = pass(&mut connector, &mut store).await;
    assert!(rest.batches >= 4, "30 messages by 7 need 5 batches");
    let mut all: Vec<String> = first_uids;
    all.extend(rest.upserted_ids().into_iter().map(str::to_owned));
    let unique: BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!(all.len(), 30, "every message exactly once: {all:?}");
    assert_eq!(unique.len(), 30);
    assert_eq!(emails(&store).len(), 30);
    assert!(
        store
            .items()
            .all(|i| !field(i, "folder").unwrap_or("").eq("Trash"))
    );
    let last = rest.last_progress.expect("progress");
    assert_eq!((last.done, last.total), (30, 30));

    let item = store
        .get(&id("INBOX", inbox_v, inbox_uids[0]))
        .expect("stored");
    assert_eq!(item.title, "inbox 0");
    assert!(
        item.locator.starts_with(&format!(
            "imap://alice@127.0.0.1:{}/INBOX;UIDVALIDITY=",
            server.port
        )),
        "{}",
        item.locator
    );
    assert_eq!(field(item, "folder"), Some("INBOX"));
    // BODY.PEEK: nothing became \Seen.
    for uid in &inbox_uids {
        let flags = mail.flags("INBOX", *uid).await;
        assert!(!flags.iter().any(|f| f.contains("Seen")), "{flags:?}");
    }

    // A restarted connector with the stored cursor has nothing to do.
    let mut restarted = ImapConnector::new(server.options(PASSWORD));
    let again = pass(&mut restarted, &mut store).await;
    assert!(again.upserts.is_empty(), "{:?}", again.upserted_ids());
    assert!(again.deletes.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_reports_a_new_message_within_two_seconds() {
    let server = Dovecot::start();
    let mut mail = Mail::new(&server).await;
    for i in 0..3 {
        mail.append("INBOX", &format!("m{i}"), "old", "text").await;
    }
    let mut connector = ImapConnector::new(server.options(PASSWORD));
    let mut store = MiniStore::new("imap");
    pass(&mut connector, &mut store).await;
    assert_eq!(emails(&store).len(), 3);

    let waiter = tokio::spawn(async move {
        let result = connector.wait_for_change().await;
        (connector, result, Instant::now())
    });
    // Let the connector enter IDLE.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let appended_at = Instant::now();
    let uid = mail
        .append("INBOX", "fresh", "fresh news", "breaking")
        .await;
    let (mut connector, result, woke_at) = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("no wake within 10 s")
        .expect("join");
    assert_eq!(result.expect("wait"), Wake::Changed);
    let latency = woke_at.saturating_duration_since(appended_at);
    assert!(
        latency < Duration::from_secs(2),
        "IDLE woke after {latency:?}"
    );
    let report = pass(&mut connector, &mut store).await;
    let v = mail.uidvalidity("INBOX").await;
    assert_eq!(report.upserted_ids(), vec![id("INBOX", v, uid).as_str()]);
    assert!(report.deletes.is_empty());
    assert_eq!(emails(&store).len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_changes_and_expunges_are_mirrored() {
    let server = Dovecot::start();
    let mut mail = Mail::new(&server).await;
    let mut uids = Vec::new();
    for i in 0..5 {
        uids.push(
            mail.append("INBOX", &format!("m{i}"), &format!("s{i}"), "text")
                .await,
        );
    }
    let v = mail.uidvalidity("INBOX").await;
    let mut connector = ImapConnector::new(server.options(PASSWORD));
    let mut store = MiniStore::new("imap");
    pass(&mut connector, &mut store).await;
    assert_eq!(emails(&store).len(), 5);
    let target = id("INBOX", v, uids[2]);
    assert_eq!(field(store.get(&target).unwrap(), "flags"), None);
    let old_version = store.get(&target).unwrap().version.clone();

    // Flag change: the same id, upserted once, with the new flags.
    mail.store("INBOX", uids[2], "+FLAGS (\\Flagged \\Seen)")
        .await;
    let report = wake_and_pass(&mut connector, &mut store).await;
    assert_eq!(report.upserted_ids(), vec![target.as_str()]);
    assert!(report.deletes.is_empty());
    let item = store.get(&target).unwrap();
    assert_eq!(field(item, "flags"), Some("flagged,seen"));
    assert_ne!(item.version, old_version);
    assert_eq!(emails(&store).len(), 5);

    // Expunge: exactly that id is deleted.
    let gone = id("INBOX", v, uids[0]);
    mail.expunge("INBOX", uids[0]).await;
    let report = wake_and_pass(&mut connector, &mut store).await;
    assert_eq!(report.deletes, vec![gone.clone()]);
    assert!(report.upserts.is_empty(), "{:?}", report.upserted_ids());
    assert!(store.get(&gone).is_none());
    assert_eq!(emails(&store).len(), 4);

    // Changes made while the connector was not running are found by a restart.
    drop(connector);
    mail.store("INBOX", uids[3], "+FLAGS (\\Answered)").await;
    mail.expunge("INBOX", uids[4]).await;
    let mut restarted = ImapConnector::new(server.options(PASSWORD));
    let report = pass(&mut restarted, &mut store).await;
    assert_eq!(
        report.upserted_ids(),
        vec![id("INBOX", v, uids[3]).as_str()]
    );
    assert_eq!(report.deletes, vec![id("INBOX", v, uids[4])]);
    assert_eq!(
        field(store.get(&id("INBOX", v, uids[3])).unwrap(), "flags"),
        Some("replied")
    );
    assert_eq!(emails(&store).len(), 3);
}

/// Expunges 2 of 10 INBOX messages, changes a flag and adds a message, then runs a pass.
/// Returns the stats of that pass alone.
async fn expunge_two_of_ten(use_qresync: bool) -> ExpungeStats {
    let server = Dovecot::start();
    let mut mail = Mail::new(&server).await;
    let mut uids = Vec::new();
    for i in 0..10 {
        uids.push(
            mail.append("INBOX", &format!("m{i}"), &format!("s{i}"), "text")
                .await,
        );
    }
    let v = mail.uidvalidity("INBOX").await;
    let mut opts = server.options(PASSWORD);
    opts.use_qresync = use_qresync;
    let mut connector = ImapConnector::new(opts);
    let mut store = MiniStore::new("imap");
    pass(&mut connector, &mut store).await;
    assert_eq!(emails(&store).len(), 10);
    // A first sync of a folder has nothing to compare with: always the full search.
    let before = connector.expunge_stats();
    assert!(before.uid_search >= 1, "{before:?}");
    assert_eq!(before.vanished, 0, "{before:?}");

    mail.expunge("INBOX", uids[3]).await;
    mail.expunge("INBOX", uids[7]).await;
    mail.store("INBOX", uids[5], "+FLAGS (\\Flagged)").await;
    let added = mail.append("INBOX", "new", "new one", "text").await;
    let report = wake_and_pass(&mut connector, &mut store).await;
    let mut deletes = report.deletes.clone();
    deletes.sort();
    let mut expected = vec![id("INBOX", v, uids[3]), id("INBOX", v, uids[7])];
    expected.sort();
    assert_eq!(deletes, expected);
    let mut upserted = report.upserted_ids();
    upserted.sort();
    let mut want = vec![id("INBOX", v, uids[5]), id("INBOX", v, added)];
    want.sort();
    assert_eq!(upserted, want);
    assert_no_duplicates(&report);
    assert_eq!(emails(&store).len(), 9);
    assert_eq!(
        field(store.get(&id("INBOX", v, uids[5])).unwrap(), "flags"),
        Some("flagged")
    );
    let after = connector.expunge_stats();
    ExpungeStats {
        uid_search: after.uid_search - before.uid_search,
        vanished: after.vanished - before.vanished,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expunges_are_found_with_qresync_vanished() {
    let stats = expunge_two_of_ten(true).await;
    assert_eq!(
        stats,
        ExpungeStats {
            uid_search: 0,
            vanished: 1
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expunges_are_found_with_uid_search_without_qresync() {
    let stats = expunge_two_of_ten(false).await;
    assert_eq!(
        stats,
        ExpungeStats {
            uid_search: 1,
            vanished: 0
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uidvalidity_change_and_folder_removal_resync_cleanly() {
    let server = Dovecot::start();
    let mut mail = Mail::new(&server).await;
    mail.create("Work").await;
    for i in 0..5 {
        mail.append("Work", &format!("w{i}"), "work", "text").await;
    }
    mail.append("INBOX", "i0", "inbox", "text").await;
    let old_v = mail.uidvalidity("Work").await;
    let mut opts = server.options(PASSWORD);
    opts.batch_size = 2;
    let mut connector = ImapConnector::new(opts.clone());
    let mut store = MiniStore::new("imap");
    pass(&mut connector, &mut store).await;
    assert_eq!(emails(&store).len(), 6);

    // Recreate the folder: a new UIDVALIDITY, UIDs start again at 1.
    mail.delete_folder("Work").await;
    mail.create("Work").await;
    for i in 0..3 {
        mail.append("Work", &format!("n{i}"), "new work", "text")
            .await;
    }
    let new_v = mail.uidvalidity("Work").await;
    assert_ne!(
        old_v, new_v,
        "dovecot gave the recreated folder the same UIDVALIDITY"
    );
    // A full pass (the daemon's poll; here a restart with the stored cursor).
    let mut connector = ImapConnector::new(opts.clone());
    let report = pass(&mut connector, &mut store).await;
    assert_no_duplicates(&report);
    let deleted: BTreeSet<String> = report.deletes.iter().cloned().collect();
    let expected: BTreeSet<String> = (1..=5).map(|uid| id("Work", old_v, uid)).collect();
    assert_eq!(deleted, expected);
    let upserted: BTreeSet<&str> = report.upserted_ids().into_iter().collect();
    let expected_new: BTreeSet<String> = (1..=3).map(|uid| id("Work", new_v, uid)).collect();
    assert_eq!(
        upserted,
        expected_new
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
    );
    let work: BTreeSet<String> = emails(&store)
        .into_iter()
        .filter(|i| i.starts_with("Work;"))
        .collect();
    assert_eq!(work, expected_new);
    assert_eq!(emails(&store).len(), 4);

    // Rename: the old folder's items go, the new name's come.
    mail.rename("Work", "Projects").await;
    let mut connector = ImapConnector::new(opts.clone());
    let report = pass(&mut connector, &mut store).await;
    assert_no_duplicates(&report);
    assert_eq!(report.deletes.len(), 3);
    assert_eq!(report.upserts.len(), 3);
    assert!(emails(&store).iter().all(|i| !i.starts_with("Work;")));
    assert_eq!(
        emails(&store)
            .iter()
            .filter(|i| i.starts_with("Projects;"))
            .count(),
        3
    );

    // Delete the folder: its items go.
    mail.delete_folder("Projects").await;
    let mut connector = ImapConnector::new(opts);
    let report = pass(&mut connector, &mut store).await;
    assert_eq!(report.deletes.len(), 3);
    assert!(report.upserts.is_empty());
    assert_eq!(emails(&store).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_transient_and_the_sync_resumes_without_duplicates() {
    let server = Dovecot::start();
    let mut mail = Mail::new(&server).await;
    for i in 0..20 {
        mail.append("INBOX", &format!("m{i}"), &format!("s{i}"), "text")
            .await;
    }
    let mut opts = server.options(PASSWORD);
    opts.batch_size = 5;
    let mut connector = ImapConnector::new(opts);
    let mut store = MiniStore::new("imap");
    let mut delivered: Vec<String> = Vec::new();
    let first = pull_once(&mut connector, &mut store).await.expect("pull");
    assert!(first.has_more);
    delivered.extend(first.upserts.iter().map(|i| i.external_id.clone()));

    // The server drops every session of the user.
    server.kick();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let err = pull_once(&mut connector, &mut store)
        .await
        .expect_err("a pull over a dropped connection must fail");
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");

    // The daemon backs off and pulls again: reconnect, resume from the cursor.
    let report = pass(&mut connector, &mut store).await;
    delivered.extend(report.upserts.iter().map(|i| i.external_id.clone()));
    let unique: BTreeSet<&String> = delivered.iter().collect();
    assert_eq!(delivered.len(), 20, "duplicates or gaps: {delivered:?}");
    assert_eq!(unique.len(), 20);
    assert_eq!(emails(&store).len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_an_auth_error() {
    let server = Dovecot::start();
    let mut connector = ImapConnector::new(server.options("not the password"));
    let mut store = MiniStore::new("imap");
    let err = pull_once(&mut connector, &mut store)
        .await
        .expect_err("login must fail");
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    assert!(!err.to_string().contains("not the password"));

    // A failing secret command is an auth problem too, and says nothing of the secret.
    let mut opts = server.options(PASSWORD);
    opts.secret = std::sync::Arc::new(|| Err("secret command `pass show imap` failed".into()));
    let mut connector = ImapConnector::new(opts);
    let err = pull_once(&mut connector, &mut store)
        .await
        .expect_err("no password");
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
}

// ---------------------------------------------------------------------------------------------
// Conformance
// ---------------------------------------------------------------------------------------------

struct ImapHarness {
    server: Dovecot,
    mail: Mail,
    opts: ImapOptions,
    uids: BTreeMap<String, u32>,
    validity: u32,
}

#[async_trait::async_trait]
impl ConformanceHarness for ImapHarness {
    fn connector(&mut self) -> Box<dyn Connector> {
        Box::new(ImapConnector::new(self.opts.clone()))
    }

    fn external_id(&self, key: &str) -> String {
        id("INBOX", self.validity, self.uids[key])
    }

    async fn create(&mut self, key: &str, text: &str) {
        let uid = self.mail.append("INBOX", key, key, text).await;
        self.uids.insert(key.to_owned(), uid);
    }

    async fn modify(&mut self, _key: &str, _text: &str) {
        unreachable!("IMAP messages are immutable; the modify check is replaced by flag tests")
    }

    async fn delete(&mut self, key: &str) {
        let uid = self.uids[key];
        self.mail.expunge("INBOX", uid).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_connector_passes_conformance() {
    let server = Dovecot::start();
    let mut mail = Mail::new(&server).await;
    let validity = mail.uidvalidity("INBOX").await;
    let mut opts = server.options(PASSWORD);
    opts.batch_size = 2;
    let mut harness = ImapHarness {
        mail,
        opts,
        uids: BTreeMap::new(),
        validity,
        server,
    };
    // run_conformance minus check_modify: an IMAP message's content never changes in place (an
    // edited draft is a new UID), so "same id, new text" cannot happen; flag changes (same id,
    // new version) are checked in flag_changes_and_expunges_are_mirrored.
    let mut suite = Conformance::new(&mut harness);
    suite.check_initial_pass().await;
    suite.check_restart_is_quiet().await;
    suite.check_delete().await;
    suite.check_live_create().await;
    suite.check_crash_mid_pass().await;
    drop(suite);
    assert!(harness.server.port > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modified_utf7_folder_names_are_decoded_for_people_but_kept_in_ids() {
    let server = Dovecot::start();
    let mut mail = Mail::new(&server).await;
    // "Entwürfe" and "Отправленные" as IMAP names (RFC 3501 §5.1.3).
    let drafts = "Entw&APw-rfe";
    let sent = "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-";
    for folder in [drafts, sent] {
        mail.create(folder).await;
    }
    let d = mail.append(drafts, "d1", "draft", "unfinished").await;
    mail.append(sent, "s1", "sent", "delivered").await;
    mail.append("INBOX", "i1", "inbox", "hello").await;
    let validity = mail.uidvalidity(drafts).await;

    // A folder pattern is written as people see the name.
    let mut opts = server.options(PASSWORD);
    opts.include_folders = vec!["Entwürfe".into(), "Отправленные".into()];
    let mut connector = ImapConnector::new(opts);
    let mut store = MiniStore::new("imap");
    pass(&mut connector, &mut store).await;
    let by_id: BTreeMap<String, &Item> = store
        .items()
        .filter(|i| i.kind == ItemKind::Email)
        .map(|i| (i.external_id.clone(), i))
        .collect();
    assert_eq!(by_id.len(), 2, "{:?}", by_id.keys());
    let item = by_id
        .get(&id(drafts, validity, d))
        .expect("the id keeps the raw IMAP name");
    assert_eq!(field(item, "folder"), Some("Entwürfe"));
    assert!(
        item.locator.contains("/Entw%C3%BCrfe;UIDVALIDITY="),
        "RFC 5092 locators carry UTF-8: {}",
        item.locator
    );
    let folders: BTreeSet<&str> = by_id.values().filter_map(|i| field(i, "folder")).collect();
    assert_eq!(folders, BTreeSet::from(["Entwürfe", "Отправленные"]));
}
