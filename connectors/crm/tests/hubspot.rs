//! The `hubspot` connector against an in-process server implementing HubSpot's CRM v3 wire
//! format (see `fake_hubspot`): conformance, associations and the graph, incremental search,
//! changes during a sync, restarts mid-paging, archived records, the search cap, 429, 401, 500.

mod fake_hubspot;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ctx_connector_api::{Connector, ErrorKind, ItemKind, PersonRole};
use ctx_connector_crm::http::RetryPolicy;
use ctx_connector_crm::{HubSpotConnector, HubSpotOptions, ObjectKind};
use ctx_connector_testkit::{ConformanceHarness, MiniStore, pull_once, pull_pass, run_conformance};
use fake_hubspot::{FakeHubSpot, Fault};
use serde_json::json;

const TOKEN: &str = "pat-na1-test-token";

fn options(server: &FakeHubSpot, objects: &[ObjectKind], page_size: usize) -> HubSpotOptions {
    let token: ctx_connector_crm::TokenSource = Arc::new(|| Ok(TOKEN.to_owned()));
    let mut opts = HubSpotOptions::new(Some(token));
    opts.base_url = server.base_url.clone();
    opts.objects = objects.to_vec();
    opts.page_size = page_size;
    opts.overlap = Duration::from_secs(60);
    opts.retry = RetryPolicy {
        attempts: 3,
        backoff: Duration::from_millis(20),
        max_wait: Duration::from_secs(5),
    };
    opts
}

fn connector(opts: &HubSpotOptions) -> HubSpotConnector {
    HubSpotConnector::new(opts.clone()).unwrap()
}

struct Harness {
    server: FakeHubSpot,
    ids: BTreeMap<String, u64>,
}

#[async_trait::async_trait]
impl ConformanceHarness for Harness {
    fn connector(&mut self) -> Box<dyn Connector> {
        Box::new(connector(&options(&self.server, &[ObjectKind::Note], 3)))
    }

    fn external_id(&self, key: &str) -> String {
        format!("notes/{}", self.ids[key])
    }

    async fn create(&mut self, key: &str, text: &str) {
        let id = self.server.with(|crm| {
            crm.create(
                "notes",
                json!({"hs_note_body": format!("<p>{text}</p>"), "hs_timestamp": "2026-11-02T10:00:00.000Z"}),
            )
        });
        self.ids.insert(key.to_owned(), id);
    }

    async fn modify(&mut self, key: &str, text: &str) {
        let id = self.ids[key];
        self.server
            .with(|crm| crm.update("notes", id, json!({"hs_note_body": text})));
    }

    async fn delete(&mut self, key: &str) {
        let id = self.ids[key];
        self.server.with(|crm| crm.archive("notes", id));
    }

    fn supports_live_changes(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn hubspot_passes_the_conformance_suite() {
    let server = FakeHubSpot::start(TOKEN).await;
    let mut harness = Harness {
        server: server.clone(),
        ids: BTreeMap::new(),
    };
    run_conformance(&mut harness).await;
    // Incremental passes used the search endpoint, and archived records were looked up.
    assert!(server.with(|crm| crm.requests("POST /crm/v3/objects/notes/search")) > 0);
    assert!(server.with(|crm| crm.requests("archived=true")) > 0);
}

/// Acme with two people, a deal, a note on the deal, and an owner.
fn seed_acme(server: &FakeHubSpot) -> (u64, u64, u64, u64, u64) {
    server.with(|crm| {
        crm.owners.push(json!({
            "id": "77", "email": "olga@ourco.com", "firstName": "Olga", "lastName": "Owner",
            "userId": 1, "createdAt": "2025-01-01T00:00:00Z", "updatedAt": "2025-01-01T00:00:00Z",
            "archived": false, "type": "PERSON"
        }));
        let acme = crm.create(
            "companies",
            json!({"name": "Acme Corp", "domain": "acme.com", "industry": "Manufacturing"}),
        );
        let dana = crm.create(
            "contacts",
            json!({"firstname": "Dana", "lastname": "Lee", "email": "Dana@Acme.com", "jobtitle": "VP Procurement", "company": "Acme Corp"}),
        );
        let sam = crm.create(
            "contacts",
            json!({"firstname": "Sam", "lastname": "Hill", "email": "sam.hill@gmail.com"}),
        );
        let deal = crm.create(
            "deals",
            json!({"dealname": "Acme renewal", "dealstage": "contractsent", "amount": "120000",
                   "closedate": "2026-12-15T00:00:00.000Z", "pipeline": "default", "hubspot_owner_id": "77"}),
        );
        let note = crm.create(
            "notes",
            json!({"hs_note_body": "<p>Dana wants a <b>3-year</b> term; legal review next.</p>",
                   "hs_timestamp": "2026-11-20T09:30:00.000Z", "hubspot_owner_id": "77"}),
        );
        crm.associate("contacts", dana, "companies", acme);
        crm.associate("deals", deal, "companies", acme);
        crm.associate("deals", deal, "contacts", dana);
        crm.associate("deals", deal, "contacts", sam);
        crm.associate("notes", note, "deals", deal);
        crm.associate("notes", note, "contacts", dana);
        (acme, dana, sam, deal, note)
    })
}

const ALL: [ObjectKind; 4] = [
    ObjectKind::Company,
    ObjectKind::Contact,
    ObjectKind::Deal,
    ObjectKind::Note,
];

#[tokio::test]
async fn deals_carry_their_company_contacts_owner_and_notes() {
    let server = FakeHubSpot::start(TOKEN).await;
    let (acme, dana, sam, deal, note) = seed_acme(&server);
    let opts = options(&server, &ALL, 100);
    let mut store = MiniStore::new("hubspot");
    let mut c = connector(&opts);
    pull_pass(&mut c, &mut store).await.unwrap();
    assert_eq!(store.len(), 5);

    let deal_item = store.get(&format!("deals/{deal}")).unwrap();
    assert_eq!(deal_item.kind, ItemKind::Deal);
    assert_eq!(deal_item.title, "Acme renewal");
    assert_eq!(deal_item.organizations.len(), 1);
    assert_eq!(
        deal_item.organizations[0].domain.as_deref(),
        Some("acme.com")
    );
    let emails: Vec<&str> = deal_item
        .people
        .iter()
        .filter_map(|p| p.email.as_deref())
        .collect();
    assert!(emails.contains(&"Dana@Acme.com"), "{emails:?}");
    assert!(emails.contains(&"sam.hill@gmail.com"));
    let owner = deal_item
        .people
        .iter()
        .find(|p| p.role == PersonRole::Owner)
        .expect("owner");
    assert_eq!(owner.email.as_deref(), Some("olga@ourco.com"));
    assert!(
        deal_item.body.contains("Stage: contractsent"),
        "{}",
        deal_item.body
    );
    assert!(deal_item.body.contains("Close date: 2026-12-15"));
    assert!(
        deal_item
            .body
            .contains("Owner: Olga Owner <olga@ourco.com>")
    );
    let mut targets: Vec<String> = deal_item
        .links
        .iter()
        .map(|l| l.target_external_id.clone())
        .collect();
    targets.sort();
    let mut expected = vec![
        format!("companies/{acme}"),
        format!("contacts/{dana}"),
        format!("contacts/{sam}"),
    ];
    expected.sort();
    assert_eq!(targets, expected);
    assert!(
        deal_item
            .fields
            .contains(&("stage".into(), "contractsent".into()))
    );

    let note_item = store.get(&format!("notes/{note}")).unwrap();
    assert_eq!(note_item.title, "Note on Acme renewal");
    assert!(note_item.body.contains("Dana wants a 3-year term"));
    assert!(!note_item.body.contains("<b>"));
    assert!(
        note_item
            .links
            .iter()
            .any(|l| l.relation == "deal" && l.target_external_id == format!("deals/{deal}"))
    );
    assert_eq!(
        note_item.timestamp_ms,
        Some(
            chrono::DateTime::parse_from_rfc3339("2026-11-20T09:30:00Z")
                .unwrap()
                .timestamp_millis()
        )
    );

    let company = store.get(&format!("companies/{acme}")).unwrap();
    assert_eq!(company.kind, ItemKind::Company);
    assert_eq!(company.organizations[0].name.as_deref(), Some("Acme Corp"));
    let contact = store.get(&format!("contacts/{dana}")).unwrap();
    assert_eq!(contact.title, "Dana Lee");
    assert_eq!(contact.people[0].role, PersonRole::Subject);
    assert!(contact.body.contains("Title: VP Procurement"));

    // The first sync listed (GET with associations), it did not search.
    assert!(server.with(|crm| crm.requests("associations=companies%2Ccontacts")) > 0);
    assert_eq!(server.with(|crm| crm.requests("/search")), 0);
}

#[tokio::test]
async fn incremental_sync_searches_from_the_watermark_and_delivers_only_changes() {
    let server = FakeHubSpot::start(TOKEN).await;
    let (_, dana, _, deal, _) = seed_acme(&server);
    let opts = options(&server, &ALL, 100);
    let mut store = MiniStore::new("hubspot");
    pull_pass(&mut connector(&opts), &mut store).await.unwrap();

    server.with(|crm| {
        crm.update("deals", deal, json!({"dealstage": "closedwon"}));
        crm.log.clear();
    });
    let report = pull_pass(&mut connector(&opts), &mut store).await.unwrap();
    assert_eq!(
        report.upserted_ids(),
        vec![format!("deals/{deal}").as_str()]
    );
    assert!(report.deletes.is_empty());
    let item = store.get(&format!("deals/{deal}")).unwrap();
    assert!(item.body.contains("Stage: closedwon"));
    // The association of a searched deal came from the batch association endpoint.
    assert!(
        item.links
            .iter()
            .any(|l| l.target_external_id == format!("contacts/{dana}"))
    );
    let searches: Vec<String> = server.with(|crm| {
        crm.log
            .iter()
            .filter(|(r, _)| r.contains("/deals/search"))
            .map(|(_, b)| b.clone())
            .collect()
    });
    assert_eq!(searches.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&searches[0]).unwrap();
    let filter = &body["filterGroups"][0]["filters"][0];
    assert_eq!(filter["propertyName"], "hs_lastmodifieddate");
    assert_eq!(filter["operator"], "GTE");
    assert!(filter["value"].as_str().unwrap().parse::<i64>().is_ok());
    assert_eq!(body["sorts"][0]["direction"], "ASCENDING");
    assert!(server.with(|crm| crm.requests("/crm/v3/associations/deals/contacts/batch/read")) > 0);
    // Contacts search on their own property.
    let contact_search: String = server.with(|crm| {
        crm.log
            .iter()
            .find(|(r, _)| r.contains("/contacts/search"))
            .map(|(_, b)| b.clone())
            .unwrap()
    });
    assert!(contact_search.contains("\"lastmodifieddate\""));

    // Nothing changed: a further pass is quiet although the overlap sees the deal again.
    let report = pull_pass(&mut connector(&opts), &mut store).await.unwrap();
    assert!(report.upserts.is_empty(), "{:?}", report.upserted_ids());
}

#[tokio::test]
async fn a_record_modified_during_a_listing_is_not_lost() {
    let server = FakeHubSpot::start(TOKEN).await;
    let ids: Vec<u64> = server.with(|crm| {
        (0..7)
            .map(|i| {
                crm.create(
                    "contacts",
                    json!({"firstname": format!("Person{i}"), "email": format!("p{i}@acme.com")}),
                )
            })
            .collect()
    });
    let first = ids[0];
    // After the first page has been served, the first contact changes.
    server.with(|crm| {
        crm.hook = Some(Box::new(move |crm, method, target| {
            if method == "GET"
                && target.starts_with("/crm/v3/objects/contacts?")
                && !target.contains("after=")
            {
                crm.update("contacts", first, json!({"jobtitle": "Changed mid-sync"}));
                crm.hook = None;
            }
        }));
    });
    let mut opts = options(&server, &[ObjectKind::Contact], 3);
    // Even without an overlap the listing's watermark (the server's Date when it began) is
    // before the change.
    opts.overlap = Duration::ZERO;
    let mut store = MiniStore::new("hubspot");
    pull_pass(&mut connector(&opts), &mut store).await.unwrap();
    assert_eq!(store.len(), 7);
    assert!(
        !store
            .get(&format!("contacts/{first}"))
            .unwrap()
            .body
            .contains("Changed mid-sync")
    );
    let report = pull_pass(&mut connector(&opts), &mut store).await.unwrap();
    assert_eq!(
        report.upserted_ids(),
        vec![format!("contacts/{first}").as_str()]
    );
    assert!(
        store
            .get(&format!("contacts/{first}"))
            .unwrap()
            .body
            .contains("Changed mid-sync")
    );
}

#[tokio::test]
async fn a_record_modified_during_an_incremental_search_is_not_lost() {
    let server = FakeHubSpot::start(TOKEN).await;
    let ids: Vec<u64> = server.with(|crm| {
        (0..4)
            .map(|i| crm.create("deals", json!({"dealname": format!("Deal {i}")})))
            .collect()
    });
    let mut opts = options(&server, &[ObjectKind::Deal], 2);
    opts.overlap = Duration::ZERO;
    let mut store = MiniStore::new("hubspot");
    pull_pass(&mut connector(&opts), &mut store).await.unwrap();
    // Four deals change; while the search pages, the first (already read) changes again.
    server.with(|crm| {
        for id in &ids {
            crm.update("deals", *id, json!({"dealstage": "qualified"}));
        }
    });
    let first = ids[0];
    server.with(|crm| {
        crm.hook = Some(Box::new(move |crm, method, target| {
            if method == "POST" && target == "/crm/v3/objects/deals/search" {
                crm.update("deals", first, json!({"dealstage": "closedwon"}));
                crm.hook = None;
            }
        }));
    });
    pull_pass(&mut connector(&opts), &mut store).await.unwrap();
    pull_pass(&mut connector(&opts), &mut store).await.unwrap();
    let item = store.get(&format!("deals/{first}")).unwrap();
    assert!(item.body.contains("Stage: closedwon"), "{}", item.body);
    for id in &ids[1..] {
        assert!(
            store
                .get(&format!("deals/{id}"))
                .unwrap()
                .body
                .contains("qualified")
        );
    }
}

#[tokio::test]
async fn a_restart_mid_paging_resumes_without_duplicates() {
    let server = FakeHubSpot::start(TOKEN).await;
    server.with(|crm| {
        for i in 0..10 {
            crm.create(
                "companies",
                json!({"name": format!("Company {i}"), "domain": format!("c{i}.example")}),
            );
        }
    });
    let opts = options(&server, &[ObjectKind::Company], 3);
    let mut store = MiniStore::new("hubspot");
    let mut first = connector(&opts);
    let batch = pull_once(&mut first, &mut store).await.unwrap();
    assert!(batch.has_more);
    assert_eq!(batch.upserts.len(), 3);
    drop(first);
    server.with(|crm| crm.log.clear());
    let report = pull_pass(&mut connector(&opts), &mut store).await.unwrap();
    let mut all: Vec<String> = batch
        .upserts
        .iter()
        .map(|i| i.external_id.clone())
        .collect();
    all.extend(report.upserts.iter().map(|i| i.external_id.clone()));
    let count = all.len();
    all.sort();
    all.dedup();
    assert_eq!(count, 10, "every company delivered exactly once");
    assert_eq!(all.len(), 10);
    assert_eq!(store.len(), 10);
    // The restarted connector went on from the stored `after`, not from the first page.
    let first_request = server.with(|crm| {
        crm.log
            .iter()
            .find(|(r, _)| r.contains("/objects/companies"))
            .map(|(r, _)| r.clone())
            .unwrap()
    });
    assert!(first_request.contains("after="), "{first_request}");
}

#[tokio::test]
async fn archived_records_become_tombstones() {
    let server = FakeHubSpot::start(TOKEN).await;
    let (_, _, sam, deal, note) = seed_acme(&server);
    let opts = options(&server, &ALL, 100);
    let mut store = MiniStore::new("hubspot");
    pull_pass(&mut connector(&opts), &mut store).await.unwrap();
    server.with(|crm| {
        crm.archive("notes", note);
        crm.archive("contacts", sam);
    });
    let report = pull_pass(&mut connector(&opts), &mut store).await.unwrap();
    let mut deletes = report.deletes.clone();
    deletes.sort();
    assert_eq!(
        deletes,
        vec![format!("contacts/{sam}"), format!("notes/{note}")]
    );
    assert!(store.get(&format!("notes/{note}")).is_none());
    assert!(store.get(&format!("deals/{deal}")).is_some());
    // Reported once: the next pass deletes nothing.
    let report = pull_pass(&mut connector(&opts), &mut store).await.unwrap();
    assert!(report.deletes.is_empty());
}

#[tokio::test]
async fn more_changes_than_the_search_cap_restart_the_search() {
    let server = FakeHubSpot::start(TOKEN).await;
    let ids: Vec<u64> = server.with(|crm| {
        crm.search_cap = 4;
        (0..9)
            .map(|i| crm.create("deals", json!({"dealname": format!("Deal {i}")})))
            .collect()
    });
    let mut opts = options(&server, &[ObjectKind::Deal], 2);
    opts.search_cap = 4;
    let mut store = MiniStore::new("hubspot");
    pull_pass(&mut connector(&opts), &mut store).await.unwrap();
    server.with(|crm| {
        for id in &ids {
            crm.update("deals", *id, json!({"dealstage": "renewal"}));
        }
    });
    let report = pull_pass(&mut connector(&opts), &mut store).await.unwrap();
    let mut got = report.upserted_ids();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 9, "every changed deal, each once: {got:?}");
    assert_eq!(report.upserts.len(), 9);
    // No request went past the cap (the server would have answered 400).
    assert!(server.with(|crm| crm.requests("/deals/search")) >= 5);
}

#[tokio::test]
async fn rate_limits_are_waited_out_with_retry_after() {
    let server = FakeHubSpot::start(TOKEN).await;
    seed_acme(&server);
    server.with(|crm| {
        crm.faults.push_back(Fault::TooManyRequests {
            retry_after_secs: 1,
        })
    });
    let opts = options(&server, &ALL, 100);
    let mut store = MiniStore::new("hubspot");
    let started = Instant::now();
    pull_pass(&mut connector(&opts), &mut store).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After not honoured"
    );
    assert_eq!(store.len(), 5);

    // A Retry-After longer than the connector waits goes back to the daemon as a hint.
    server.with(|crm| {
        crm.faults.push_back(Fault::TooManyRequests {
            retry_after_secs: 30,
        })
    });
    let mut c = connector(&opts);
    let error = pull_once(&mut c, &mut store).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Transient);
    assert_eq!(error.retry_after, Some(Duration::from_secs(30)));
}

#[tokio::test]
async fn a_rejected_token_is_an_auth_error_without_retries() {
    let server = FakeHubSpot::start("another-token").await;
    seed_acme(&server);
    let opts = options(&server, &ALL, 100);
    let mut store = MiniStore::new("hubspot");
    let mut c = connector(&opts);
    let error = pull_once(&mut c, &mut store).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Auth);
    assert!(error.message.contains("HTTP 401"), "{}", error.message);
    assert!(
        error
            .message
            .contains("Authentication credentials not found")
    );
    assert!(
        !error.message.contains(TOKEN),
        "the token must never be shown"
    );
    assert_eq!(server.with(|crm| crm.log.len()), 1, "no retry storm");
    assert!(store.is_empty());

    // A failing token command is an auth error too, before any request.
    let mut opts = options(&server, &ALL, 100);
    opts.token = Some(Arc::new(|| Err("pass: no such entry".to_owned())));
    let error = pull_once(&mut connector(&opts), &mut store)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Auth);
    assert_eq!(server.with(|crm| crm.log.len()), 1);
}

#[tokio::test]
async fn server_errors_are_retried_then_reported_as_transient() {
    let server = FakeHubSpot::start(TOKEN).await;
    seed_acme(&server);
    server.with(|crm| {
        crm.faults.push_back(Fault::ServerError);
        crm.faults.push_back(Fault::ServerError);
    });
    let opts = options(&server, &ALL, 100);
    let mut store = MiniStore::new("hubspot");
    pull_pass(&mut connector(&opts), &mut store).await.unwrap();
    assert_eq!(store.len(), 5);

    server.with(|crm| {
        crm.log.clear();
        for _ in 0..3 {
            crm.faults.push_back(Fault::ServerError);
        }
    });
    let error = pull_once(&mut connector(&opts), &mut store)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Transient);
    assert!(error.message.contains("HTTP 500"));
    assert_eq!(server.with(|crm| crm.log.len()), 3, "three attempts");
}

#[tokio::test]
async fn a_mid_pass_auth_failure_keeps_the_position() {
    let server = FakeHubSpot::start(TOKEN).await;
    server.with(|crm| {
        for i in 0..6 {
            crm.create("companies", json!({"name": format!("Company {i}")}));
        }
    });
    let opts = options(&server, &[ObjectKind::Company], 2);
    let mut store = MiniStore::new("hubspot");
    let mut c = connector(&opts);
    pull_once(&mut c, &mut store).await.unwrap();
    server.with(|crm| crm.faults.push_back(Fault::Unauthorized));
    let error = pull_once(&mut c, &mut store).await.unwrap_err();
    assert_eq!(error.kind, ErrorKind::Auth);
    let report = pull_pass(&mut c, &mut store).await.unwrap();
    assert_eq!(report.upserts.len(), 4);
    assert_eq!(store.len(), 6);
}
