//! CRM connectors in the daemon: one people/company graph across mail, calendars and CRM
//! exports (the same address is one person, the same domain one company, free-mail domains
//! none), `GrabEverythingRelated("Acme renewal")` bringing the deal, its note, the mail thread
//! and the meeting; a rejected HubSpot token shown in `ctx status` without a retry storm; and the
//! shipped Pipedrive- and Salesforce-style example configs run against local APIs.

#[path = "../../connectors/crm/tests/fake_hubspot/mod.rs"]
mod fake_hubspot;
#[path = "../../connectors/crm/tests/fake_rest/mod.rs"]
mod fake_rest;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ctx_client::{Client, pb};
use serde_json::json;

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        Setup::with_main("")
    }

    fn with_main(extra: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("conf/connectors.d")).unwrap();
        std::fs::write(
            root.join("conf/config.toml"),
            format!(
                "[daemon]\ndata_dir = \"{}\"\nsocket = \"{}\"\n{extra}",
                root.join("data").display(),
                root.join("run/ctxd.sock").display()
            ),
        )
        .unwrap();
        Setup { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn connector(&self, name: &str, text: &str) {
        std::fs::write(
            self.root().join(format!("conf/connectors.d/{name}.toml")),
            text,
        )
        .unwrap();
    }

    fn config(&self) -> ctx_config::Config {
        ctx_config::load(
            &ctx_config::ConfigSource::explicit(self.root().join("conf/config.toml")),
            &|_| None,
        )
        .unwrap()
    }

    async fn start(&self) -> (ctx_daemon::RunningDaemon, Client) {
        let daemon = ctx_daemon::start(self.config(), vec![]).await.unwrap();
        let client = Client::connect_unix(self.root().join("run/ctxd.sock"))
            .await
            .unwrap();
        (daemon, client)
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

async fn wait_synced(client: &mut Client, timeout: Duration) -> pb::StatusResponse {
    let started = Instant::now();
    loop {
        let s = status(client).await;
        if s.connectors
            .iter()
            .all(|c| c.passes >= 1 && c.state == "idle")
            && s.index_lag == 0
        {
            return s;
        }
        assert!(started.elapsed() < timeout, "not synced in time: {s:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn grab(client: &mut Client, query: &str) -> pb::GrabResponse {
    client
        .api()
        .grab_everything_related(pb::GrabRequest {
            query: query.into(),
            token_budget: 16_000,
            filters: None,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

fn example(name: &str) -> String {
    std::fs::read_to_string(
        std::path::PathBuf::from(
            std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
        )
        .join("../config/examples/connectors.d")
        .join(name),
    )
    .unwrap()
}

fn write_exports(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let lines =
        |rows: &[serde_json::Value]| -> String { rows.iter().map(|r| format!("{r}\n")).collect() };
    std::fs::write(
        dir.join("companies.jsonl"),
        lines(&[
            json!({"id":"c1","name":"Acme Corp","domain":"acme.com","industry":"Manufacturing","updated_at":"2026-10-01T09:00:00Z"}),
            json!({"id":"c2","name":"Freelance Design","domain":"gmail.com","industry":"Design","updated_at":"2026-10-01T09:00:00Z"}),
        ]),
    )
    .unwrap();
    std::fs::write(
        dir.join("contacts.jsonl"),
        lines(&[
            json!({"id":"p1","first_name":"Dana","last_name":"Lee","email":"Dana.Lee@ACME.com","phone":"+1 555 0100","title":"VP Procurement","company_id":"c1","updated_at":"2026-10-02T09:00:00Z"}),
            json!({"id":"p2","first_name":"Fred","last_name":"Free","email":"fred.free@gmail.com","phone":null,"title":"Designer","company_id":"c2","updated_at":"2026-10-02T09:00:00Z"}),
            json!({"id":"p3","first_name":"Sol","last_name":"O","email":"sol@solo-mail.example","title":"Consultant","updated_at":"2026-10-02T09:00:00Z"}),
        ]),
    )
    .unwrap();
    std::fs::write(
        dir.join("deals.jsonl"),
        lines(&[
            json!({"id":"d1","name":"Acme renewal","stage":"negotiation","amount":120000,"close_date":"2026-12-15T00:00:00Z","company_id":"c1","contact_ids":["p1"],"owner_email":"me@ourco.example","updated_at":"2026-11-20T09:00:00Z"}),
        ]),
    )
    .unwrap();
    std::fs::write(
        dir.join("notes.jsonl"),
        lines(&[
            json!({"id":"n1","body":"Procurement wants a three-year term before signing.","timestamp":"2026-11-21T10:00:00Z","deal_id":"d1","contact_ids":["p1"],"company_id":"c1","updated_at":"2026-11-21T10:00:00Z"}),
        ]),
    )
    .unwrap();
}

fn write_mail_and_calendar(root: &Path) -> (PathBuf, PathBuf) {
    let maildir = root.join("Mail");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    let mail = "From: Dana Lee <dana.lee@acme.com>\nTo: me@ourco.example\nSubject: Contract terms for next year\nMessage-ID: <t1@acme.com>\nDate: Mon, 16 Nov 2026 10:00:00 +0000\n\nCould you send the updated order form?\n";
    std::fs::write(maildir.join("cur/1.a.host:2,S"), mail.replace('\n', "\r\n")).unwrap();
    let unrelated = "From: Bob <bob@globex.io>\nTo: me@ourco.example\nSubject: Lunch\nMessage-ID: <x@globex.io>\nDate: Tue, 17 Nov 2026 12:00:00 +0000\n\nPizza?\n";
    std::fs::write(
        maildir.join("cur/2.b.host:2,S"),
        unrelated.replace('\n', "\r\n"),
    )
    .unwrap();
    let calendars = root.join("Calendars");
    std::fs::create_dir_all(&calendars).unwrap();
    std::fs::write(
        calendars.join("work.ics"),
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:test\r\nBEGIN:VEVENT\r\nUID:qbr-1@ourco.example\r\n\
         SUMMARY:Quarterly review\r\nDTSTART:20261124T150000Z\r\nDTEND:20261124T160000Z\r\n\
         ORGANIZER;CN=Me:mailto:me@ourco.example\r\n\
         ATTENDEE;CN=Dana Lee;PARTSTAT=ACCEPTED:mailto:dana.lee@acme.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    )
    .unwrap();
    // Her card in the address book: the same person, with a phone, title and organisation.
    std::fs::write(
        calendars.join("contacts.vcf"),
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:dana-card\r\nFN:Dana Lee\r\nN:Lee;Dana;;;\r\n\
         EMAIL;TYPE=work:dana.lee@acme.com\r\nTEL;TYPE=cell:+1 555 0199\r\nORG:Acme Corp\r\n\
         TITLE:VP Procurement\r\nEND:VCARD\r\n",
    )
    .unwrap();
    (maildir, calendars)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_mail_and_calendar_merge_into_one_graph() {
    let setup = Setup::with_main("[entities]\nfree_mail_domains = [\"solo-mail.example\"]\n");
    let exports = setup.root().join("exports");
    write_exports(&exports);
    let (maildir, calendars) = write_mail_and_calendar(setup.root());
    // The shipped example, pointed at this test's files.
    setup.connector(
        "crm",
        &example("crm-export-jsonl.toml")
            .replace("\"exports/", &format!("\"{}/", exports.display())),
    );
    setup.connector(
        "mail",
        &format!("type = \"maildir\"\npath = \"{}\"\n", maildir.display()),
    );
    setup.connector(
        "cal",
        &format!("type = \"ics\"\npaths = [\"{}\"]\n", calendars.display()),
    );
    let (daemon, mut client) = setup.start().await;
    let s = wait_synced(&mut client, Duration::from_secs(60)).await;
    let crm = s.connectors.iter().find(|c| c.name == "crm").unwrap();
    assert_eq!(
        (crm.r#type.as_str(), crm.item_count),
        ("crm_export", 7),
        "{s:?}"
    );

    // The deal, its note, the mail of Acme's people and the meeting with them.
    let r = grab(&mut client, "Acme renewal").await;
    let found: Vec<(String, String)> = r
        .items
        .iter()
        .map(|i| (i.kind.clone(), i.title.clone()))
        .collect();
    let has = |kind: &str, title: &str| found.iter().any(|(k, t)| k == kind && t == title);
    assert!(has("deal", "Acme renewal"), "{found:?}");
    assert!(has("note", "Note on Acme renewal"), "{found:?}");
    assert!(has("email", "Contract terms for next year"), "{found:?}");
    assert!(has("event", "Quarterly review"), "{found:?}");
    assert!(!has("email", "Lunch"), "{found:?}");
    let deal = r.items.iter().find(|i| i.kind == "deal").unwrap();
    assert!(deal.text.contains("Stage: negotiation"), "{}", deal.text);

    // Asking for the person brings both of her contact cards (address book and CRM), each with
    // its phone, title and organisation.
    let r = grab(&mut client, "dana.lee@acme.com").await;
    let cards: Vec<&pb::ContextItem> = r.items.iter().filter(|i| i.kind == "contact").collect();
    assert_eq!(
        cards.len(),
        2,
        "{:?}",
        r.items
            .iter()
            .map(|i| (&i.kind, &i.source))
            .collect::<Vec<_>>()
    );
    let crm_card = cards.iter().find(|i| i.source == "crm").unwrap();
    assert!(
        crm_card.text.contains("Phone: +1 555 0100")
            && crm_card.text.contains("Title: VP Procurement")
    );
    let vcard = cards.iter().find(|i| i.source == "cal").unwrap();
    assert!(
        vcard.text.contains("+1 555 0199") && vcard.text.contains("Acme Corp"),
        "{}",
        vcard.text
    );
    daemon.stop().await;

    // In the store: one person for the address in every spelling, one company for the domain.
    let reader =
        ctx_store::StoreReader::open(&ctx_store::database_path(&setup.root().join("data")))
            .unwrap();
    let people = reader.find_entities("dana.lee@acme.com").unwrap();
    assert_eq!(people.len(), 1, "{people:?}");
    let items = reader.items_of_entity(people[0].rowid, 100).unwrap();
    // The mail, the meeting, the vCard, the CRM contact, the deal and the note.
    assert_eq!(items.len(), 6, "{items:?}");
    let orgs: Vec<_> = reader
        .find_entities("acme.com")
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "org")
        .collect();
    assert_eq!(orgs.len(), 1, "{orgs:?}");
    let org_items = reader.items_of_entity(orgs[0].rowid, 100).unwrap();
    assert!(org_items.len() >= 6, "{org_items:?}");
    // A free-mail domain never becomes a company.
    assert!(
        reader
            .find_entities("gmail.com")
            .unwrap()
            .iter()
            .all(|e| e.kind != "org")
    );
    assert_eq!(
        reader.find_entities("fred.free@gmail.com").unwrap().len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_hubspot_token_shows_in_status_without_a_retry_storm() {
    let server = fake_hubspot::FakeHubSpot::start("the-right-token").await;
    server.with(|crm| {
        crm.create(
            "companies",
            json!({"name": "Acme Corp", "domain": "acme.com"}),
        );
    });
    let setup = Setup::new();
    setup.connector(
        "hubspot",
        &format!(
            "type = \"hubspot\"\nbase_url = \"{}\"\ntoken_command = \"echo a-wrong-token\"\n",
            server.base_url
        ),
    );
    let (daemon, mut client) = setup.start().await;
    let started = Instant::now();
    let hubspot = loop {
        let s = status(&mut client).await;
        let c = s
            .connectors
            .into_iter()
            .find(|c| c.name == "hubspot")
            .unwrap();
        if c.state == "auth_error" {
            break c;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{c:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        hubspot.last_error.contains("HTTP 401"),
        "{}",
        hubspot.last_error
    );
    assert!(!hubspot.last_error.contains("a-wrong-token"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        server.with(|crm| crm.log.len()),
        1,
        "one request, no retry storm"
    );
    let s = status(&mut client).await;
    assert_eq!(s.connectors[0].state, "auth_error");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipedrive_and_salesforce_examples_run_against_local_apis() {
    let server = fake_rest::FakeRest::start("rest-token-1").await;
    server.with(|api| {
        api.put("organizations", "1", json!({"id": 1, "name": "Acme Corp", "address": {"value": "1 Main St"}, "is_deleted": false}), "update_time");
        api.put("persons", "2", json!({"id": 2, "name": "Dana Lee", "emails": [{"value": "dana@acme.com"}], "org_id": 1, "is_deleted": false}), "update_time");
        api.put("deals", "3", json!({"id": 3, "title": "Acme renewal", "stage_id": 4, "value": 120000, "status": "open", "org_id": 1, "person_id": 2, "is_deleted": false}), "update_time");
        api.put("Account", "001A", json!({"Id": "001A", "Name": "Globex", "Website": "https://www.globex.io", "Industry": "Energy", "IsDeleted": false}), "LastModifiedDate");
        api.put("Contact", "003A", json!({"Id": "003A", "FirstName": "Hank", "LastName": "Scorpio", "Email": "hank@globex.io", "AccountId": "001A", "IsDeleted": false}), "LastModifiedDate");
        api.put("Contact", "003B", json!({"Id": "003B", "FirstName": "Mindy", "LastName": "Simmons", "Email": "mindy@globex.io", "AccountId": "001A", "IsDeleted": false}), "LastModifiedDate");
        api.salesforce_batch = 1;
        api.put("Opportunity", "006A", json!({"Id": "006A", "Name": "Globex expansion", "StageName": "Proposal", "Amount": 50000, "CloseDate": "2027-01-31", "AccountId": "001A", "Owner": {"Email": "me@ourco.example"}, "IsDeleted": false}), "LastModifiedDate");
    });
    let setup = Setup::new();
    let pipedrive = example("pipedrive.toml")
        .replace("https://yourcompany.pipedrive.com", &server.base_url)
        .replace(
            "token_env = \"PIPEDRIVE_TOKEN\"",
            "token_command = \"echo rest-token-1\"",
        );
    setup.connector("pipedrive", &pipedrive);
    let salesforce = example("salesforce.toml")
        .replace("https://yourorg.my.salesforce.com", &server.base_url)
        .replace(
            "token_command = \"sf org display --json | jq -r .result.accessToken\"",
            "token_command = \"echo rest-token-1\"",
        );
    setup.connector("salesforce", &salesforce);
    let (daemon, mut client) = setup.start().await;
    let s = wait_synced(&mut client, Duration::from_secs(60)).await;
    for c in &s.connectors {
        let expected = if c.name == "salesforce" { 4 } else { 3 };
        assert_eq!(
            (c.r#type.as_str(), c.item_count),
            ("crm_rest", expected),
            "{s:?}"
        );
    }
    let r = grab(&mut client, "Acme renewal").await;
    let deal = r
        .items
        .iter()
        .find(|i| i.kind == "deal")
        .expect("pipedrive deal");
    assert_eq!(deal.source, "pipedrive");
    assert!(
        deal.text.contains("Contact: Dana Lee <dana@acme.com>"),
        "{}",
        deal.text
    );
    let r = grab(&mut client, "globex.io").await;
    let kinds: Vec<&str> = r.items.iter().map(|i| i.kind.as_str()).collect();
    assert!(
        kinds.contains(&"company") && kinds.contains(&"contact") && kinds.contains(&"deal"),
        "{kinds:?}"
    );
    // Salesforce paged by nextRecordsUrl (batches of two in the fake).
    assert!(server.with(|api| api.requests("/services/data/v60.0/query/")) >= 1);
    daemon.stop().await;
}
