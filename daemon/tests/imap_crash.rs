//! The real `ctxd` binary with an `imap` connector on a real Dovecot (the harness of the mail
//! connector's tests), killed with SIGKILL in the middle of its initial sync and restarted: every
//! message ends up stored and indexed exactly once.

#[path = "../../connectors/mail/tests/dovecot/mod.rs"]
mod dovecot;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ctx_client::{Client, pb};
use dovecot::{Dovecot, Mail, PASSWORD, USER};

const PASSWORD_ENV: &str = "CTX_TEST_IMAP_PASSWORD";

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new(server: &Dovecot) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("conf/connectors.d")).unwrap();
        std::fs::write(
            root.join("conf/config.toml"),
            format!(
                "[daemon]\ndata_dir = \"{}\"\nsocket = \"{}\"\n",
                root.join("data").display(),
                root.join("run/ctxd.sock").display()
            ),
        )
        .unwrap();
        // Small batches: many commits, so the kill lands between two of them.
        std::fs::write(
            root.join("conf/connectors.d/work.toml"),
            format!(
                "type = \"imap\"\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"plain\"\n\
                 user = \"{USER}\"\npassword_env = \"{PASSWORD_ENV}\"\nbatch_size = 5\n",
                server.port
            ),
        )
        .unwrap();
        Setup { dir }
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("run/ctxd.sock")
    }

    fn spawn(&self) -> Child {
        Command::new(env!("CARGO_BIN_EXE_ctxd"))
            .arg("--config")
            .arg(self.dir.path().join("conf/config.toml"))
            .arg("--log")
            .arg("warn")
            .env(PASSWORD_ENV, PASSWORD)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    }
}

async fn connect_retrying(socket: &Path) -> Client {
    let started = Instant::now();
    loop {
        if let Ok(c) = Client::connect_unix(socket).await {
            return c;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "ctxd did not come up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn status(client: &mut Client) -> pb::StatusResponse {
    client
        .api()
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

async fn search_total(client: &mut Client, query: &str) -> u64 {
    client
        .api()
        .search(pb::SearchRequest {
            query: query.into(),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_ctxd_during_an_imap_initial_sync_loses_and_duplicates_nothing() {
    const INBOX: usize = 700;
    const WORK: usize = 300;
    let server = Dovecot::start();
    let mut mail = Mail::new(&server).await;
    mail.create("Work").await;
    for i in 0..INBOX + WORK {
        let folder = if i < INBOX { "INBOX" } else { "Work" };
        mail.session
            .append(
                folder,
                None,
                None,
                dovecot::message(
                    &format!("m{i}"),
                    &format!("message {i}"),
                    &format!("commonword unique{i} about item {i}"),
                ),
            )
            .await
            .expect("append");
    }
    let setup = Setup::new(&server);

    let mut child = setup.spawn();
    let mut client = connect_retrying(&setup.socket()).await;
    let started = Instant::now();
    let stored_at_kill = loop {
        let s = status(&mut client).await;
        let stored = s.connectors.first().map_or(0, |c| c.item_count) as usize;
        if stored >= 40 {
            break stored;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "sync never started: {s:?}\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    drop(client);
    assert!(
        stored_at_kill < INBOX + WORK,
        "the initial sync finished before the kill ({stored_at_kill} items); make the mailbox bigger"
    );

    let mut child = setup.spawn();
    let mut client = connect_retrying(&setup.socket()).await;
    let started = Instant::now();
    let s = loop {
        let s = status(&mut client).await;
        let c = &s.connectors[0];
        if c.passes >= 1 && c.item_count as usize == INBOX + WORK && s.index_lag == 0 {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "not synced after the restart: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(s.total_items as usize, INBOX + WORK, "{s:?}");
    assert_eq!(s.connectors[0].r#type, "imap");
    // Each message is in the index exactly once.
    assert_eq!(
        search_total(&mut client, "commonword").await as usize,
        INBOX + WORK
    );
    for probe in [0, 39, 40, INBOX - 1, INBOX, INBOX + WORK - 1] {
        assert_eq!(
            search_total(&mut client, &format!("unique{probe}")).await,
            1,
            "unique{probe}"
        );
    }
    // Nothing was marked read on the server by the interrupted or the resumed sync.
    let uid = mail.uid_of("INBOX", "m0").await;
    assert!(
        !mail
            .flags("INBOX", uid)
            .await
            .iter()
            .any(|f| f.contains("Seen")),
        "BODY.PEEK must not set \\Seen"
    );
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
}
