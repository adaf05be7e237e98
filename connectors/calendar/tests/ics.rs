//! The `ics` connector against files on disk (conformance suite, moved events, broken files)
//! and against a local HTTP subscription server (ETag / 304).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ctx_connector_api::{Connector, ItemKind};
use ctx_connector_calendar::{IcsConnector, IcsOptions};
use ctx_connector_testkit::{ConformanceHarness, MiniStore, pull_pass, run_conformance};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn event(uid: &str, summary: &str, description: &str) -> String {
    format!(
        "BEGIN:VEVENT\r\nUID:{uid}\r\nSUMMARY:{summary}\r\nDTSTART:20260310T090000Z\r\n\
         DTEND:20260310T100000Z\r\nDESCRIPTION:{description}\r\nEND:VEVENT\r\n"
    )
}

fn calendar(events: &[String]) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:test\r\n{}END:VCALENDAR\r\n",
        events.concat()
    )
}

struct Harness {
    dir: tempfile::TempDir,
}

impl Harness {
    fn path(&self, key: &str) -> PathBuf {
        self.dir.path().join(format!("{key}.ics"))
    }
}

#[async_trait::async_trait]
impl ConformanceHarness for Harness {
    fn connector(&mut self) -> Box<dyn Connector> {
        let mut options = IcsOptions::new([self.dir.path()]);
        options.batch_size = 3;
        options.debounce = Duration::from_millis(50);
        Box::new(IcsConnector::new(options).unwrap())
    }

    fn external_id(&self, key: &str) -> String {
        format!("uid-{key}@test")
    }

    async fn create(&mut self, key: &str, text: &str) {
        let body = calendar(&[event(&self.external_id(key), key, text)]);
        std::fs::write(self.path(key), body).unwrap();
    }

    async fn modify(&mut self, key: &str, text: &str) {
        // A different length, so the mtime:size version changes even within one mtime tick.
        self.create(key, text).await;
    }

    async fn delete(&mut self, key: &str) {
        std::fs::remove_file(self.path(key)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ics_files_conform() {
    let mut harness = Harness {
        dir: tempfile::tempdir().unwrap(),
    };
    run_conformance(&mut harness).await;
}

fn connector(dir: &std::path::Path) -> IcsConnector {
    let mut options = IcsOptions::new([dir]);
    options.watch = false;
    IcsConnector::new(options).unwrap()
}

#[tokio::test]
async fn many_events_per_file_moves_and_broken_parts() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.ics");
    let b = dir.path().join("sub/b.ics");
    std::fs::create_dir_all(b.parent().unwrap()).unwrap();
    // Two events, one broken component and a junk line in one file; a contact beside it.
    let broken =
        "BEGIN:VEVENT\r\nDESCRIPTION:no summary and no start\r\nEND:VEVENT\r\nthis is junk\r\n";
    std::fs::write(
        &a,
        calendar(&[
            event("e1", "Planning", "first"),
            event("e2", "Retro", "second"),
            broken.into(),
        ]),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("people.vcf"),
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-1\r\nFN:Anna Smith\r\nEMAIL:anna@acme.example\r\nORG:ACME\r\nEND:VCARD\r\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a calendar").unwrap();

    let mut store = MiniStore::new("cal");
    let mut c = connector(dir.path());
    let report = pull_pass(&mut c, &mut store).await.unwrap();
    assert_eq!(report.upserts.len(), 3);
    assert_eq!(
        store.external_ids().into_iter().collect::<Vec<_>>(),
        ["card-1", "e1", "e2"]
    );
    assert_eq!(store.get("card-1").unwrap().kind, ItemKind::Contact);
    assert_eq!(store.get("e1").unwrap().kind, ItemKind::Event);
    assert!(store.get("e1").unwrap().locator.ends_with("/a.ics"));

    // e2 moves to another file: one upsert (new locator), no delete, no duplicate.
    std::fs::write(&a, calendar(&[event("e1", "Planning", "first")])).unwrap();
    std::fs::write(&b, calendar(&[event("e2", "Retro", "second")])).unwrap();
    let report = pull_pass(&mut c, &mut store).await.unwrap();
    assert_eq!(report.upserted_ids(), ["e2"]);
    assert!(report.deletes.is_empty());
    assert!(store.get("e2").unwrap().locator.ends_with("/sub/b.ics"));

    // A restarted connector re-delivers nothing.
    let mut restarted = connector(dir.path());
    let report = pull_pass(&mut restarted, &mut store).await.unwrap();
    assert!(report.upserts.is_empty() && report.deletes.is_empty());

    // Removing the event from its file deletes it.
    std::fs::write(&b, calendar(&[])).unwrap();
    let report = pull_pass(&mut restarted, &mut store).await.unwrap();
    assert_eq!(report.deletes, ["e2"]);
    assert!(report.upserts.is_empty());

    // A missing root keeps the items (an unmounted disk is not a deleted calendar).
    let gone = dir.path().join("gone");
    let mut options = IcsOptions::new([dir.path().to_path_buf(), gone]);
    options.watch = false;
    let mut with_missing = IcsConnector::new(options).unwrap();
    std::fs::remove_file(&a).unwrap();
    let report = pull_pass(&mut with_missing, &mut store).await.unwrap();
    assert!(
        report.deletes.is_empty(),
        "deletes suppressed while a path is missing"
    );
}

/// A one-route HTTP server: serves `body` with an ETag and answers 304 to a matching
/// `If-None-Match`; counts requests and 304s.
async fn serve(
    body: Arc<std::sync::Mutex<String>>,
) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(AtomicUsize::new(0));
    let not_modified = Arc::new(AtomicUsize::new(0));
    let (r, n) = (Arc::clone(&requests), Arc::clone(&not_modified));
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let body = body.lock().unwrap().clone();
            let (r, n) = (Arc::clone(&r), Arc::clone(&n));
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut read = 0;
                while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => read += k,
                    }
                }
                r.fetch_add(1, Ordering::SeqCst);
                let request = String::from_utf8_lossy(&buf[..read]).to_ascii_lowercase();
                let etag = format!("\"{}\"", blake3::hash(body.as_bytes()).to_hex());
                let response = if request.contains(&format!("if-none-match: {etag}")) {
                    n.fetch_add(1, Ordering::SeqCst);
                    format!(
                        "HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nConnection: close\r\n\r\n"
                    )
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\nETag: {etag}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (format!("http://{addr}/cal.ics"), requests, not_modified)
}

#[tokio::test]
async fn subscription_uses_etags() {
    let body = Arc::new(std::sync::Mutex::new(calendar(&[
        event("s1", "Holiday", "day off"),
        event("s2", "Launch", "ship it"),
    ])));
    let (url, requests, not_modified) = serve(Arc::clone(&body)).await;
    let mut options = IcsOptions {
        urls: vec![url],
        // Every pull is due.
        poll_interval: Duration::ZERO,
        ..IcsOptions::default()
    };
    options.watch = false;
    let mut c = IcsConnector::new(options).unwrap();
    let mut store = MiniStore::new("sub");
    let report = pull_pass(&mut c, &mut store).await.unwrap();
    assert_eq!(report.upserts.len(), 2);
    assert_eq!(requests.load(Ordering::SeqCst), 1);

    let report = pull_pass(&mut c, &mut store).await.unwrap();
    assert!(report.upserts.is_empty() && report.deletes.is_empty());
    assert_eq!(requests.load(Ordering::SeqCst), 2);
    assert_eq!(
        not_modified.load(Ordering::SeqCst),
        1,
        "second fetch is conditional"
    );

    *body.lock().unwrap() = calendar(&[event("s1", "Holiday", "day off, moved")]);
    let report = pull_pass(&mut c, &mut store).await.unwrap();
    assert_eq!(report.upserted_ids(), ["s1"]);
    assert_eq!(report.deletes, ["s2"]);
    assert!(store.get("s1").unwrap().body.contains("day off, moved"));
}

#[tokio::test]
async fn failed_subscription_keeps_items() {
    let body = Arc::new(std::sync::Mutex::new(calendar(&[event("k1", "Kept", "x")])));
    let (url, _, _) = serve(body).await;
    let mut store = MiniStore::new("sub");
    let mut options = IcsOptions {
        urls: vec![url],
        ..IcsOptions::default()
    };
    options.watch = false;
    let mut c = IcsConnector::new(options).unwrap();
    pull_pass(&mut c, &mut store).await.unwrap();
    assert_eq!(store.len(), 1);
    assert!(c.take_problems().is_empty());
    // A fresh connector whose server is gone: nothing cached, nothing deleted.
    let mut options = IcsOptions {
        urls: vec!["http://127.0.0.1:9/never.ics".into()],
        http_timeout: Duration::from_secs(2),
        ..IcsOptions::default()
    };
    options.watch = false;
    let mut down = IcsConnector::new(options).unwrap();
    let report = pull_pass(&mut down, &mut store).await.unwrap();
    assert!(report.deletes.is_empty());
    assert_eq!(store.len(), 1);
    // The failure is reported for `ctx status`, once per pass.
    let problems = down.take_problems();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("subscription http://127.0.0.1:9/never.ics could not be fetched")
            && problems[0].ends_with("its items are kept"),
        "{problems:?}"
    );
    assert!(down.take_problems().is_empty());
}

#[tokio::test]
async fn unreadable_calendar_parts_are_reported_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let broken = "BEGIN:VEVENT\r\nDESCRIPTION:no summary and no start\r\nEND:VEVENT\r\n";
    std::fs::write(
        dir.path().join("a.ics"),
        calendar(&[event("e1", "Planning", "first"), broken.into()]),
    )
    .unwrap();
    std::fs::write(dir.path().join("b.ics"), "just some text").unwrap();
    std::fs::write(
        dir.path().join("c.ics"),
        calendar(&[event("e3", "Retro", "third")]),
    )
    .unwrap();
    let mut c = connector(dir.path());
    let mut store = MiniStore::new("cal");
    pull_pass(&mut c, &mut store).await.unwrap();
    assert_eq!(store.len(), 2);
    let mut problems = c.take_problems();
    problems.sort();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].ends_with("/a.ics: 1 unreadable part(s) skipped"),
        "{problems:?}"
    );
    assert!(
        problems[1].ends_with("/b.ics: not an iCalendar file"),
        "{problems:?}"
    );
}

#[tokio::test]
async fn floating_series_follow_the_configured_zone_across_dst() {
    let dir = tempfile::tempdir().unwrap();
    // A weekly floating 09:00 meeting spanning the end of March, when Berlin moves to CEST.
    std::fs::write(
        dir.path().join("team.ics"),
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:weekly\r\nSUMMARY:Weekly sync\r\n\
DTSTART:20260319T090000\r\nRRULE:FREQ=WEEKLY;COUNT=3\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .unwrap();
    let mut options = IcsOptions::new([dir.path()]);
    options.watch = false;
    options.render.floating_zone = Some(chrono_tz::Tz::Europe__Berlin);
    let mut c = IcsConnector::new(options).unwrap();
    let mut store = MiniStore::new("cal");
    pull_pass(&mut c, &mut store).await.unwrap();
    let item = store.get("weekly").unwrap();
    // The series' time is its latest occurrence, 2 April: 09:00 CEST = 07:00 UTC (the first,
    // 19 March, was 09:00 CET = 08:00 UTC).
    assert_eq!(time_of(item.timestamp_ms.unwrap()), "2026-04-02T07:00:00Z");
    let body = &item.body;
    assert!(body.contains("Europe/Berlin"), "{body}");
    assert!(
        body.contains("Recent: 2026-04-02 09:00, 2026-03-26 09:00, 2026-03-19 09:00"),
        "{body}"
    );
    assert!(!body.contains("floating"), "{body}");

    // Without a zone the same file is read as UTC (the previous behaviour).
    let mut options = IcsOptions::new([dir.path()]);
    options.watch = false;
    let mut c = IcsConnector::new(options).unwrap();
    let mut store = MiniStore::new("cal");
    pull_pass(&mut c, &mut store).await.unwrap();
    assert_eq!(
        time_of(store.get("weekly").unwrap().timestamp_ms.unwrap()),
        "2026-04-02T09:00:00Z"
    );
}

fn time_of(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
