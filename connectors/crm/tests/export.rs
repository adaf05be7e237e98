//! The `crm_export` connector: conformance over a watched JSONL file, the JSONL export shape of
//! the relevance benchmark, CSV with a column mapping, and bad input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ctx_connector_api::{Connector, ItemKind};
use ctx_connector_crm::{ExportConnector, ExportFile, ExportFormat, ExportOptions, ObjectKind};
use ctx_connector_testkit::{ConformanceHarness, MiniStore, pull_pass, run_conformance};

struct Harness {
    dir: tempfile::TempDir,
    lines: BTreeMap<String, String>,
}

impl Harness {
    fn path(&self) -> PathBuf {
        self.dir.path().join("notes.jsonl")
    }

    fn write(&self) {
        let text: String = self.lines.values().map(|l| format!("{l}\n")).collect();
        let tmp = self.dir.path().join(".notes.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(tmp, self.path()).unwrap();
    }
}

#[async_trait::async_trait]
impl ConformanceHarness for Harness {
    fn connector(&mut self) -> Box<dyn Connector> {
        if !self.path().exists() {
            self.write();
        }
        let mut opts = ExportOptions::new(vec![ExportFile::new(self.path(), ObjectKind::Note)]);
        opts.batch_size = 3;
        opts.debounce = Duration::from_millis(50);
        Box::new(ExportConnector::new(opts).unwrap())
    }

    fn external_id(&self, key: &str) -> String {
        format!("notes/{key}")
    }

    async fn create(&mut self, key: &str, text: &str) {
        let line =
            serde_json::json!({"id": key, "body": text, "timestamp": "2026-11-02T10:00:00Z"});
        self.lines.insert(key.to_owned(), line.to_string());
        self.write();
    }

    async fn modify(&mut self, key: &str, text: &str) {
        self.create(key, text).await;
    }

    async fn delete(&mut self, key: &str) {
        self.lines.remove(key);
        self.write();
    }
}

#[tokio::test]
async fn crm_export_passes_the_conformance_suite() {
    let mut harness = Harness {
        dir: tempfile::tempdir().unwrap(),
        lines: BTreeMap::new(),
    };
    run_conformance(&mut harness).await;
}

/// The JSONL shape the relevance benchmark generates (see config/examples/crm-export-jsonl.toml).
pub fn write_benchmark_shape(dir: &Path) {
    std::fs::write(
        dir.join("companies.jsonl"),
        concat!(
            r#"{"id":"c1","name":"Acme Corp","domain":"acme.com","industry":"Manufacturing","updated_at":"2026-10-01T09:00:00Z"}"#,
            "\n",
            r#"{"id":"c2","name":"Solo Consulting","domain":"gmail.com","industry":"Services","updated_at":"2026-10-01T09:00:00Z"}"#,
            "\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("contacts.jsonl"),
        concat!(
            r#"{"id":"p1","first_name":"Dana","last_name":"Lee","email":"dana@acme.com","phone":"+1 555 0100","title":"VP Procurement","company_id":"c1","updated_at":"2026-10-02T09:00:00Z"}"#,
            "\n",
            r#"{"id":"p2","first_name":"Raj","last_name":"Patel","email":"raj@acme.com","phone":null,"title":"CFO","company_id":"c1","updated_at":"2026-10-02T09:00:00Z"}"#,
            "\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("deals.jsonl"),
        concat!(
            r#"{"id":"d1","name":"Acme renewal","stage":"negotiation","amount":120000,"close_date":"2026-12-15T00:00:00Z","company_id":"c1","contact_ids":["p1","p2"],"owner_email":"olga@ourco.com","updated_at":"2026-11-20T09:00:00Z"}"#,
            "\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("notes.jsonl"),
        concat!(
            r#"{"id":"n1","body":"Dana asked for a three-year term at the renewal.","timestamp":"2026-11-21T10:00:00Z","deal_id":"d1","contact_ids":["p1"],"company_id":"c1","updated_at":"2026-11-21T10:00:00Z"}"#,
            "\n"
        ),
    )
    .unwrap();
}

fn benchmark_files(dir: &Path) -> Vec<ExportFile> {
    [
        ("companies.jsonl", ObjectKind::Company),
        ("contacts.jsonl", ObjectKind::Contact),
        ("deals.jsonl", ObjectKind::Deal),
        ("notes.jsonl", ObjectKind::Note),
    ]
    .into_iter()
    .map(|(name, kind)| ExportFile::new(dir.join(name), kind))
    .collect()
}

#[tokio::test]
async fn the_benchmark_jsonl_shape_maps_into_one_graph() {
    let dir = tempfile::tempdir().unwrap();
    write_benchmark_shape(dir.path());
    let mut opts = ExportOptions::new(benchmark_files(dir.path()));
    opts.watch = false;
    let mut connector = ExportConnector::new(opts).unwrap();
    let mut store = MiniStore::new("crm");
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    assert_eq!(report.upserts.len(), 6);

    let deal = store.get("deals/d1").unwrap();
    assert_eq!(deal.kind, ItemKind::Deal);
    assert_eq!(deal.title, "Acme renewal");
    assert_eq!(deal.organizations[0].domain.as_deref(), Some("acme.com"));
    assert_eq!(deal.organizations[0].name.as_deref(), Some("Acme Corp"));
    let emails: Vec<&str> = deal
        .people
        .iter()
        .filter_map(|p| p.email.as_deref())
        .collect();
    assert_eq!(emails, ["olga@ourco.com", "dana@acme.com", "raj@acme.com"]);
    assert!(deal.body.contains("Stage: negotiation"), "{}", deal.body);
    assert!(deal.body.contains("Amount: 120000"));
    assert!(deal.body.contains("Close date: 2026-12-15"));
    assert!(
        deal.body
            .contains("Contacts: Dana Lee <dana@acme.com>, Raj Patel <raj@acme.com>")
    );

    let note = store.get("notes/n1").unwrap();
    assert_eq!(note.title, "Note on Acme renewal");
    assert_eq!(
        note.timestamp_ms,
        Some(
            chrono::DateTime::parse_from_rfc3339("2026-11-21T10:00:00Z")
                .unwrap()
                .timestamp_millis()
        )
    );
    let mut targets: Vec<&str> = note
        .links
        .iter()
        .map(|l| l.target_external_id.as_str())
        .collect();
    targets.sort();
    assert_eq!(targets, ["companies/c1", "contacts/p1", "deals/d1"]);

    let contact = store.get("contacts/p1").unwrap();
    assert_eq!(contact.title, "Dana Lee");
    assert!(contact.body.contains("Phone: +1 555 0100"));
    assert!(
        contact
            .fields
            .contains(&("title".into(), "VP Procurement".into()))
    );
    // A company on a free-mail domain keeps its name but names no domain.
    let solo = store.get("companies/c2").unwrap();
    assert_eq!(solo.organizations[0].domain, None);

    // A company renamed in its file re-renders the deal that names it.
    let companies = std::fs::read_to_string(dir.path().join("companies.jsonl"))
        .unwrap()
        .replace("Acme Corp", "Acme Industries");
    std::fs::write(dir.path().join("companies.jsonl"), companies).unwrap();
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    let mut ids = report.upserted_ids();
    ids.sort();
    assert!(
        ids.contains(&"companies/c1") && ids.contains(&"deals/d1"),
        "{ids:?}"
    );
    assert!(
        store
            .get("deals/d1")
            .unwrap()
            .body
            .contains("Acme Industries")
    );
    // And nothing else changes on a quiet pass.
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    assert!(report.upserts.is_empty() && report.deletes.is_empty());
}

#[tokio::test]
async fn csv_columns_map_through_the_field_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Opportunities.csv");
    std::fs::write(
        &path,
        "Opportunity ID,Opportunity Name,Stage,Amount,Account ID,Contact IDs,Owner,Region,Last Modified\n\
         006A,\"Acme renewal, 2027\",Negotiation,\"120,000\",001A,003A;003B,olga@ourco.com,EMEA,2026-11-20 09:00:00\n\
         006B,Globex pilot,Prospecting,5000,001B,,sam@ourco.com,US,2026-11-21\n",
    )
    .unwrap();
    let mut file = ExportFile::new(&path, ObjectKind::Deal);
    assert_eq!(file.format, ExportFormat::Csv);
    file.fields = [
        ("id", "Opportunity ID"),
        ("name", "Opportunity Name"),
        ("stage", "Stage"),
        ("amount", "Amount"),
        ("company_id", "Account ID"),
        ("contact_ids", "Contact IDs"),
        ("owner_email", "Owner"),
        ("updated_at", "Last Modified"),
        ("extra.Region", "Region"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    let mut opts = ExportOptions::new(vec![file]);
    opts.watch = false;
    let mut store = MiniStore::new("crm");
    pull_pass(&mut ExportConnector::new(opts).unwrap(), &mut store)
        .await
        .unwrap();
    let deal = store.get("deals/006A").unwrap();
    assert_eq!(deal.title, "Acme renewal, 2027");
    assert!(deal.body.contains("Amount: 120,000"));
    assert!(deal.body.contains("Region: EMEA"));
    let targets: Vec<&str> = deal
        .links
        .iter()
        .map(|l| l.target_external_id.as_str())
        .collect();
    assert_eq!(
        targets,
        ["companies/001A", "contacts/003A", "contacts/003B"]
    );
    assert_eq!(
        deal.timestamp_ms,
        Some(
            chrono::DateTime::parse_from_rfc3339("2026-11-20T09:00:00Z")
                .unwrap()
                .timestamp_millis()
        )
    );
    assert_eq!(store.get("deals/006B").unwrap().links.len(), 1);
}

#[tokio::test]
async fn a_broken_line_is_skipped_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("contacts.jsonl");
    std::fs::write(
        &path,
        "{\"id\":\"a\",\"email\":\"a@x.com\"}\n{\"id\":\"b\",\"email\":\"b@x.com\"}\n",
    )
    .unwrap();
    let mut opts = ExportOptions::new(vec![ExportFile::new(&path, ObjectKind::Contact)]);
    opts.watch = false;
    let mut connector = ExportConnector::new(opts).unwrap();
    let mut store = MiniStore::new("crm");
    pull_pass(&mut connector, &mut store).await.unwrap();
    assert_eq!(store.len(), 2);
    // A half-written file: b's line is cut off. b is kept, c arrives, nothing is deleted.
    std::fs::write(
        &path,
        "{\"id\":\"a\",\"email\":\"a@x.com\"}\n{\"id\":\"c\",\"email\":\"c@x.com\"}\n{\"id\":\"b\",\"em",
    )
    .unwrap();
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    assert_eq!(report.upserted_ids(), ["contacts/c"]);
    assert!(report.deletes.is_empty());
    // A missing file deletes nothing either.
    std::fs::remove_file(&path).unwrap();
    let report = pull_pass(&mut connector, &mut store).await.unwrap();
    assert!(report.deletes.is_empty() && report.upserts.is_empty());
    assert_eq!(store.len(), 3);
    // Once the file is whole again, what left it is deleted.
    std::fs::write(&path, "{\"id\":\"a\",\"email\":\"a@x.com\"}\n").unwrap();
    let mut deletes = pull_pass(&mut connector, &mut store).await.unwrap().deletes;
    deletes.sort();
    assert_eq!(deletes, ["contacts/b", "contacts/c"]);
}
