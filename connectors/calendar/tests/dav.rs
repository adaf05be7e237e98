//! The `caldav` and `carddav` connectors against a real Radicale server (one private instance
//! per test, on a free loopback port, with its own storage folder): discovery, initial sync,
//! incremental sync by sync token, deletions, an expired token, and the conformance suite.
//!
//! Radicale must be importable by `python3` (`python3 -m pip install radicale`); without it these
//! tests fail with a message saying so.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ctx_connector_api::{Batch, Connector, Cursor, ErrorKind, ItemKind};
use ctx_connector_calendar::{DavConnector, DavOptions};
use ctx_connector_testkit::{ConformanceHarness, MiniStore, pull_pass, run_conformance};

struct Radicale {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Drop for Radicale {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Radicale {
    fn start() -> Radicale {
        let import = Command::new("python3")
            .args(["-c", "import radicale"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        assert!(
            import.is_ok_and(|s| s.success()),
            "Radicale is not installed: these tests need a real CalDAV/CardDAV server; \
             install it with `python3 -m pip install radicale`"
        );
        let dir = tempfile::tempdir().unwrap();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new("python3")
                .args(["-m", "radicale", "--server-hosts"])
                .arg(format!("127.0.0.1:{port}"))
                .arg("--storage-filesystem-folder")
                .arg(dir.path().join("collections"))
                .args(["--auth-type", "none", "--logging-level", "warning"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cannot start python3 -m radicale");
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Radicale {
                        child,
                        port,
                        _dir: dir,
                        http: reqwest::Client::new(),
                    };
                }
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("Radicale did not start listening");
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    async fn request(&self, method: &str, path: &str, content_type: &str, body: String) -> u16 {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = self
            .http
            .request(method.clone(), self.url(path))
            .basic_auth("test", Some("secret"))
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(
            (200..300).contains(&status),
            "{method} {path}: HTTP {status}: {}",
            response.text().await.unwrap_or_default()
        );
        status
    }

    async fn mkcol(&self, path: &str, resourcetype: &str, name: &str) {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><D:mkcol xmlns:D=\"DAV:\" \
             xmlns:C=\"urn:ietf:params:xml:ns:caldav\" xmlns:A=\"urn:ietf:params:xml:ns:carddav\">\
             <D:set><D:prop><D:resourcetype><D:collection/>{resourcetype}</D:resourcetype>\
             <D:displayname>{name}</D:displayname></D:prop></D:set></D:mkcol>"
        );
        self.request("MKCOL", path, "application/xml", body).await;
    }

    async fn put_event(&self, path: &str, uid: &str, summary: &str, description: &str) {
        // TEXT values escape `,` and `;` (RFC 5545 §3.3.11); Radicale re-serialises them.
        let description = description.replace(',', "\\,").replace(';', "\\;");
        let body = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//ctx//test//EN\r\nBEGIN:VEVENT\r\n\
             UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:{summary}\r\n\
             DTSTART:20260310T090000Z\r\nDTEND:20260310T100000Z\r\n\
             DESCRIPTION:{description}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        self.request("PUT", path, "text/calendar", body).await;
    }

    async fn put_card(&self, path: &str, uid: &str, name: &str, email: &str) {
        let body = format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\n\
             EMAIL:{email}\r\nEND:VCARD\r\n"
        );
        self.request("PUT", path, "text/vcard", body).await;
    }

    async fn delete(&self, path: &str) {
        self.request("DELETE", path, "text/plain", String::new())
            .await;
    }

    fn options(&self) -> DavOptions {
        let mut options = DavOptions::new(self.url("/"));
        options.user = Some("test".into());
        options.password = Some(Arc::new(|| Ok("secret".to_owned())));
        options
    }
}

const CALENDAR: &str = "<C:calendar/>";
const ADDRESSBOOK: &str = "<A:addressbook/>";

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn ids(batch_upserts: &[ctx_connector_api::Item]) -> Vec<String> {
    sorted(
        batch_upserts
            .iter()
            .map(|i| i.external_id.clone())
            .collect(),
    )
}

/// Pulls from `cursor` (not the store's) until the pass ends, applying every batch.
async fn pass_from(
    connector: &mut dyn Connector,
    store: &mut MiniStore,
    mut cursor: Option<Cursor>,
) -> (Vec<String>, Vec<String>) {
    let (mut upserts, mut deletes) = (Vec::new(), Vec::new());
    loop {
        let batch = connector
            .pull(cursor.as_ref(), &store.context())
            .await
            .unwrap();
        store.apply(&batch);
        upserts.extend(batch.upserts.iter().map(|i| i.external_id.clone()));
        deletes.extend(batch.deletes.iter().cloned());
        if let Some(c) = &batch.cursor {
            cursor = Some(c.clone());
        }
        if !batch.has_more {
            return (sorted(upserts), sorted(deletes));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caldav_discovery_incremental_sync_and_expired_token() {
    let server = Radicale::start();
    server.mkcol("/test/work/", CALENDAR, "Work").await;
    server.mkcol("/test/home/", CALENDAR, "Home").await;
    server.mkcol("/test/people/", ADDRESSBOOK, "People").await;
    for i in 0..3 {
        server
            .put_event(
                &format!("/test/work/e{i}.ics"),
                &format!("uid-{i}@test"),
                &format!("Meeting {i}"),
                &format!("agenda {i}"),
            )
            .await;
    }
    server
        .put_event("/test/home/h.ics", "uid-h@test", "Dentist", "teeth")
        .await;

    // Discovery: both calendars, not the address book; the filter keeps one.
    let connector = DavConnector::caldav(server.options()).unwrap();
    let found: Vec<String> = connector
        .discover()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.path)
        .collect();
    assert_eq!(found, vec!["/test/home/", "/test/work/"]);
    let mut options = server.options();
    options.collections = vec!["Work".into()];
    options.batch_size = 2;
    let mut connector = DavConnector::caldav(options.clone()).unwrap();
    let found: Vec<String> = connector
        .discover()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.display_name.unwrap_or_default())
        .collect();
    assert_eq!(found, vec!["Work"]);

    // Initial sync: exactly the three events of Work, in two batches.
    let mut store = MiniStore::new("cal");
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    assert_eq!(
        ids(&report.upserts),
        vec![
            "/test/work/e0.ics",
            "/test/work/e1.ics",
            "/test/work/e2.ics"
        ]
    );
    assert!(report.deletes.is_empty());
    assert_eq!(report.batches, 2);
    let e0 = store.get("/test/work/e0.ics").unwrap();
    assert_eq!(e0.kind, ItemKind::Event);
    assert_eq!(e0.title, "Meeting 0");
    assert!(e0.body.contains("agenda 0"), "{}", e0.body);
    assert!(e0.version.is_some());
    assert_eq!(e0.locator, server.url("/test/work/e0.ics"));
    let cursor: serde_json::Value = serde_json::from_str(store.cursor().unwrap().as_str()).unwrap();
    assert!(cursor["/test/work/"].is_string(), "{cursor}");

    // Nothing changed: a pull (and a restarted connector) deliver nothing.
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    assert_eq!((report.upserts.len(), report.deletes.len()), (0, 0));
    let mut connector = DavConnector::caldav(options.clone()).unwrap();
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    assert_eq!((report.upserts.len(), report.deletes.len()), (0, 0));

    // One PUT: exactly one upsert, by sync token.
    server
        .put_event("/test/work/e3.ics", "uid-3@test", "Review", "new one")
        .await;
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    assert_eq!(ids(&report.upserts), vec!["/test/work/e3.ics"]);
    assert!(report.deletes.is_empty());

    // One modification: exactly one upsert with the new text.
    server
        .put_event(
            "/test/work/e0.ics",
            "uid-0@test",
            "Meeting 0",
            "moved agenda",
        )
        .await;
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    assert_eq!(ids(&report.upserts), vec!["/test/work/e0.ics"]);
    assert!(report.upserts[0].body.contains("moved agenda"));
    assert!(report.deletes.is_empty());

    // One DELETE: exactly one delete.
    server.delete("/test/work/e1.ics").await;
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    assert!(report.upserts.is_empty());
    assert_eq!(report.deletes, vec!["/test/work/e1.ics"]);
    assert_eq!(store.len(), 3);

    // A token the server does not know: CursorExpired; then a clean full pass from no cursor
    // delivers nothing unchanged and deletes what vanished meanwhile.
    server.delete("/test/work/e2.ics").await;
    store.apply(&Batch {
        cursor: Some(Cursor(
            r#"{"/test/work/":"http://radicale.org/ns/sync/garbage"}"#.into(),
        )),
        ..Batch::default()
    });
    let mut connector = DavConnector::caldav(options.clone()).unwrap();
    let err = pull_pass(&mut connector, &mut store).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::CursorExpired, "{err}");
    let (upserts, deletes) = pass_from(&mut connector, &mut store, None).await;
    assert!(upserts.is_empty(), "{upserts:?}");
    assert_eq!(deletes, vec!["/test/work/e2.ics"]);
    assert_eq!(
        store.external_ids().into_iter().collect::<Vec<_>>(),
        vec!["/test/work/e0.ics", "/test/work/e3.ics"]
    );
    // ...and the next pull is incremental again.
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    assert_eq!((report.upserts.len(), report.deletes.len()), (0, 0));

    // An unreadable cursor is CursorExpired too.
    let mut connector = DavConnector::caldav(options).unwrap();
    let err = connector
        .pull(Some(&Cursor("not json".into())), &store.context())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::CursorExpired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recurring_series_is_rendered_again_on_a_new_day_without_server_changes() {
    let server = Radicale::start();
    server.mkcol("/test/work/", CALENDAR, "Work").await;
    server
        .put_event("/test/work/once.ics", "once@test", "Kickoff", "once")
        .await;
    let weekly = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//ctx//test//EN\r\nBEGIN:VEVENT\r\n\
        UID:weekly@test\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Weekly sync\r\n\
        DTSTART:20260105T090000Z\r\nDTEND:20260105T093000Z\r\nRRULE:FREQ=WEEKLY\r\n\
        END:VEVENT\r\nEND:VCALENDAR\r\n";
    server
        .request(
            "PUT",
            "/test/work/weekly.ics",
            "text/calendar",
            weekly.to_owned(),
        )
        .await;
    let mut connector = DavConnector::caldav(server.options()).unwrap();
    let mut store = MiniStore::new("cal");
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    assert_eq!(report.upserts.len(), 2);
    let today = chrono::Utc::now().date_naive().to_string();
    let series = store.get("/test/work/weekly.ics").unwrap().clone();
    let version = series.version.clone().unwrap();
    assert!(version.ends_with(&today), "{version}");
    assert!(!series.occurrences_ms.is_empty());
    assert!(
        !store
            .get("/test/work/once.ics")
            .unwrap()
            .version
            .clone()
            .unwrap()
            .contains("rendered"),
        "a one-off event's rendering does not depend on the day"
    );
    // Same day: nothing to fetch.
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    assert_eq!((report.upserts.len(), report.deletes.len()), (0, 0));
    // As if the last pass had been yesterday: only the series is fetched and rendered again.
    let mut yesterday = series.clone();
    yesterday.version = Some(version.replace(&today, "2000-01-01"));
    store.apply(&Batch {
        upserts: vec![yesterday],
        deletes: vec![],
        cursor: store.cursor().cloned(),
        has_more: false,
        progress: None,
    });
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    let upserts: Vec<&str> = report
        .upserts
        .iter()
        .map(|i| i.external_id.as_str())
        .collect();
    assert_eq!(upserts, vec!["/test/work/weekly.ics"]);
    assert!(
        store
            .get("/test/work/weekly.ics")
            .unwrap()
            .version
            .as_deref()
            .unwrap()
            .ends_with(&today)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carddav_contacts_sync() {
    let server = Radicale::start();
    server.mkcol("/test/people/", ADDRESSBOOK, "People").await;
    server.mkcol("/test/work/", CALENDAR, "Work").await;
    server
        .put_card(
            "/test/people/a.vcf",
            "card-a",
            "Anna Smith",
            "anna@acme.example",
        )
        .await;
    server
        .put_card(
            "/test/people/b.vcf",
            "card-b",
            "Bob Jones",
            "bob@acme.example",
        )
        .await;
    let mut connector = DavConnector::carddav(server.options()).unwrap();
    let found: Vec<String> = connector
        .discover()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.path)
        .collect();
    assert_eq!(found, vec!["/test/people/"]);

    let mut store = MiniStore::new("contacts");
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    assert_eq!(
        ids(&report.upserts),
        vec!["/test/people/a.vcf", "/test/people/b.vcf"]
    );
    let anna = store.get("/test/people/a.vcf").unwrap();
    assert_eq!(anna.kind, ItemKind::Contact);
    assert!(anna.body.contains("anna@acme.example"), "{}", anna.body);

    server
        .put_card(
            "/test/people/c.vcf",
            "card-c",
            "Cleo Park",
            "cleo@acme.example",
        )
        .await;
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    assert_eq!(ids(&report.upserts), vec!["/test/people/c.vcf"]);
    assert!(report.deletes.is_empty());

    server.delete("/test/people/a.vcf").await;
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    assert!(report.upserts.is_empty());
    assert_eq!(report.deletes, vec!["/test/people/a.vcf"]);

    // Expired token → CursorExpired → clean full pass.
    server.delete("/test/people/b.vcf").await;
    store.apply(&Batch {
        cursor: Some(Cursor(r#"{"/test/people/":"bogus"}"#.into())),
        ..Batch::default()
    });
    let err = pull_pass(&mut connector, &mut store).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::CursorExpired);
    let (upserts, deletes) = pass_from(&mut connector, &mut store, None).await;
    assert!(upserts.is_empty(), "{upserts:?}");
    assert_eq!(deletes, vec!["/test/people/b.vcf"]);
    assert_eq!(
        store.external_ids().into_iter().collect::<Vec<_>>(),
        vec!["/test/people/c.vcf"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_url_and_unreachable_server() {
    let server = Radicale::start();
    // Nothing listens on a port just released: a transient error.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut options = server.options();
    options.url = format!("http://127.0.0.1:{port}/");
    let mut connector = DavConnector::caldav(options).unwrap();
    let err = connector
        .pull(None, &MiniStore::new("x").context())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transient, "{err}");
    assert!(DavConnector::caldav(DavOptions::new("ftp://example.com/")).is_err());
}

struct Harness {
    server: Radicale,
}

#[async_trait::async_trait]
impl ConformanceHarness for Harness {
    fn connector(&mut self) -> Box<dyn Connector> {
        let mut options = self.server.options();
        options.batch_size = 3;
        options.poll_interval = Duration::from_millis(100);
        Box::new(DavConnector::caldav(options).unwrap())
    }

    fn external_id(&self, key: &str) -> String {
        format!("/test/cal/{key}.ics")
    }

    async fn create(&mut self, key: &str, text: &str) {
        self.server
            .put_event(&self.external_id(key), &format!("uid-{key}"), key, text)
            .await;
    }

    async fn modify(&mut self, key: &str, text: &str) {
        self.create(key, text).await;
    }

    async fn delete(&mut self, key: &str) {
        self.server.delete(&self.external_id(key)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caldav_conforms() {
    let server = Radicale::start();
    server.mkcol("/test/cal/", CALENDAR, "Calendar").await;
    let mut harness = Harness { server };
    run_conformance(&mut harness).await;
}
