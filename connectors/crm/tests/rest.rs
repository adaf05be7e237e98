//! The generic `crm_rest` connector against in-process APIs of three shapes (see `fake_rest`):
//! a Pipedrive-style API (cursor paging, token in the query, `updated_since`, `is_deleted`)
//! through the conformance suite and the graph, a Salesforce-style API (`nextRecordsUrl`,
//! SOQL with `{since}`, `IsDeleted`), and Link-header / offset paging with full-listing sweeps.

mod fake_rest;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ctx_connector_api::{Connector, ErrorKind, ItemKind};
use ctx_connector_crm::http::RetryPolicy;
use ctx_connector_crm::{
    ObjectKind, Pagination, RestAuth, RestConnector, RestObject, RestOptions, TokenSource,
};
use ctx_connector_testkit::{ConformanceHarness, MiniStore, pull_once, pull_pass, run_conformance};
use fake_rest::FakeRest;
use serde_json::json;

const TOKEN: &str = "rest-token-1";

fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn token() -> Option<TokenSource> {
    Some(Arc::new(|| Ok(TOKEN.to_owned())))
}

/// The shape of config/examples/connectors.d/pipedrive.toml.
fn pipedrive(server: &FakeRest, objects: &[ObjectKind], page_size: usize) -> RestOptions {
    let object = |kind: ObjectKind| {
        let (path, f) = match kind {
            ObjectKind::Company => (
                "/api/v2/organizations",
                fields(&[
                    ("id", "/id"),
                    ("name", "/name"),
                    ("updated_at", "/update_time"),
                ]),
            ),
            ObjectKind::Contact => (
                "/api/v2/persons",
                fields(&[
                    ("id", "/id"),
                    ("name", "/name"),
                    ("email", "/emails/0/value"),
                    ("company_id", "/org_id"),
                    ("updated_at", "/update_time"),
                ]),
            ),
            _ => (
                "/api/v2/deals",
                fields(&[
                    ("id", "/id"),
                    ("name", "/title"),
                    ("stage", "/stage_id"),
                    ("amount", "/value"),
                    ("company_id", "/org_id"),
                    ("contact_ids", "/person_id"),
                    ("updated_at", "/update_time"),
                ]),
            ),
        };
        RestObject {
            kind,
            path: path.into(),
            incremental_path: None,
            incremental_param: Some("updated_since".into()),
            results: "/data".into(),
            deleted: Some("/is_deleted".into()),
            fields: f,
        }
    };
    let mut opts = RestOptions::new(
        server.base_url.clone(),
        objects.iter().map(|k| object(*k)).collect(),
    );
    opts.auth = RestAuth::Query("api_token".into());
    opts.token = token();
    opts.pagination = Pagination::Cursor {
        param: "cursor".into(),
        next: "/additional_data/next_cursor".into(),
    };
    opts.limit_param = Some("limit".into());
    opts.page_size = page_size;
    opts.overlap = Duration::from_secs(2);
    opts.retry = RetryPolicy {
        attempts: 2,
        backoff: Duration::from_millis(10),
        max_wait: Duration::from_secs(1),
    };
    opts
}

struct Harness {
    server: FakeRest,
    ids: BTreeMap<String, u64>,
}

#[async_trait::async_trait]
impl ConformanceHarness for Harness {
    fn connector(&mut self) -> Box<dyn Connector> {
        Box::new(RestConnector::new(pipedrive(&self.server, &[ObjectKind::Deal], 3)).unwrap())
    }

    fn external_id(&self, key: &str) -> String {
        format!("deals/{}", self.ids[key])
    }

    async fn create(&mut self, key: &str, text: &str) {
        let id = self.ids.len() as u64 + 1;
        self.ids.insert(key.to_owned(), id);
        self.modify(key, text).await;
    }

    async fn modify(&mut self, key: &str, text: &str) {
        let id = self.ids[key];
        self.server.with(|api| {
            api.put(
                "deals",
                &id.to_string(),
                json!({"id": id, "title": key, "stage_id": text, "is_deleted": false}),
                "update_time",
            )
        });
    }

    async fn delete(&mut self, key: &str) {
        let id = self.ids[key];
        self.server.with(|api| {
            api.put(
                "deals",
                &id.to_string(),
                json!({"id": id, "title": key, "is_deleted": true}),
                "update_time",
            )
        });
    }

    fn supports_live_changes(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn a_pipedrive_style_api_passes_the_conformance_suite() {
    let server = FakeRest::start(TOKEN).await;
    let mut harness = Harness {
        server: server.clone(),
        ids: BTreeMap::new(),
    };
    run_conformance(&mut harness).await;
    assert!(server.with(|api| api.requests("updated_since=")) > 0);
    assert!(server.with(|api| api.requests("cursor=c%3A3")) > 0);
}

#[tokio::test]
async fn pipedrive_style_associations_resolve_into_the_graph() {
    let server = FakeRest::start(TOKEN).await;
    server.with(|api| {
        api.put("organizations", "1", json!({"id": 1, "name": "Acme Corp"}), "update_time");
        api.put("persons", "2", json!({"id": 2, "name": "Dana Lee", "emails": [{"value": "dana@acme.com", "primary": true}], "org_id": 1}), "update_time");
        api.put("deals", "3", json!({"id": 3, "title": "Acme renewal", "stage_id": 4, "value": 120000, "org_id": 1, "person_id": 2, "is_deleted": false}), "update_time");
    });
    let opts = pipedrive(
        &server,
        &[ObjectKind::Company, ObjectKind::Contact, ObjectKind::Deal],
        100,
    );
    let mut store = MiniStore::new("pipedrive");
    pull_pass(&mut RestConnector::new(opts.clone()).unwrap(), &mut store)
        .await
        .unwrap();
    assert_eq!(store.len(), 3);
    let deal = store.get("deals/3").unwrap();
    assert_eq!(deal.kind, ItemKind::Deal);
    assert_eq!(deal.title, "Acme renewal");
    assert!(
        deal.body.contains("Stage: 4") && deal.body.contains("Amount: 120000"),
        "{}",
        deal.body
    );
    assert!(
        deal.body.contains("Contact: Dana Lee <dana@acme.com>"),
        "{}",
        deal.body
    );
    assert_eq!(deal.people[0].email.as_deref(), Some("dana@acme.com"));
    let contact = store.get("contacts/2").unwrap();
    assert_eq!(contact.people[0].email.as_deref(), Some("dana@acme.com"));
    assert!(
        contact
            .links
            .iter()
            .any(|l| l.target_external_id == "companies/1")
    );

    // A wrong token is an auth error, asked once.
    let mut bad = opts.clone();
    bad.token = Some(Arc::new(|| Ok("wrong".to_owned())));
    server.with(|api| api.log.clear());
    let e = pull_once(
        &mut RestConnector::new(bad).unwrap(),
        &mut MiniStore::new("x"),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Auth);
    assert_eq!(server.with(|api| api.log.len()), 1);
}

/// The shape of config/examples/connectors.d/salesforce.toml.
fn salesforce(server: &FakeRest) -> RestOptions {
    let object = RestObject {
        kind: ObjectKind::Deal,
        path: "/services/data/v60.0/query?q=SELECT+Id,Name,StageName,Amount,CloseDate,AccountId,LastModifiedDate+FROM+Opportunity".into(),
        incremental_path: Some("/services/data/v60.0/queryAll?q=SELECT+Id,Name,StageName,IsDeleted,LastModifiedDate+FROM+Opportunity+WHERE+LastModifiedDate+>=+{since}+ORDER+BY+LastModifiedDate".into()),
        incremental_param: None,
        results: "/records".into(),
        deleted: Some("/IsDeleted".into()),
        fields: fields(&[("id", "/Id"), ("name", "/Name"), ("stage", "/StageName"), ("amount", "/Amount"), ("close_date", "/CloseDate"), ("company_id", "/AccountId"), ("owner_email", "/Owner/Email"), ("updated_at", "/LastModifiedDate")]),
    };
    let mut opts = RestOptions::new(server.base_url.clone(), vec![object]);
    opts.auth = RestAuth::Bearer;
    opts.token = token();
    opts.pagination = Pagination::NextUrl {
        next: "/nextRecordsUrl".into(),
    };
    opts.overlap = Duration::from_secs(2);
    opts
}

#[tokio::test]
async fn a_salesforce_style_api_pages_by_next_records_url_and_syncs_incrementally() {
    let server = FakeRest::start(TOKEN).await;
    server.with(|api| {
        for i in 1..=5 {
            api.put(
                "Opportunity",
                &format!("006{i}"),
                json!({"Id": format!("006{i}"), "Name": format!("Opportunity {i}"), "StageName": "Prospecting",
                       "Amount": 1000 * i, "CloseDate": "2026-12-31", "AccountId": "001A",
                       "Owner": {"attributes": {"type": "User"}, "Email": "olga@ourco.com"}, "IsDeleted": false}),
                "LastModifiedDate",
            );
        }
    });
    let opts = salesforce(&server);
    let mut store = MiniStore::new("salesforce");
    let report = pull_pass(&mut RestConnector::new(opts.clone()).unwrap(), &mut store)
        .await
        .unwrap();
    assert_eq!(report.upserts.len(), 5);
    assert_eq!(report.batches, 3, "batches of two via nextRecordsUrl");
    assert!(server.with(|api| api.requests("/services/data/v60.0/query/01gD")) == 2);
    let deal = store.get("deals/0063").unwrap();
    assert!(deal.body.contains("Owner: olga@ourco.com"), "{}", deal.body);
    assert!(
        deal.links
            .iter()
            .any(|l| l.target_external_id == "companies/001A")
    );

    // One changes, one is deleted: the incremental SOQL query finds both.
    server.with(|api| {
        api.put("Opportunity", "0062", json!({"Id": "0062", "Name": "Opportunity 2", "StageName": "Closed Won", "IsDeleted": false}), "LastModifiedDate");
        api.put("Opportunity", "0064", json!({"Id": "0064", "Name": "Opportunity 4", "IsDeleted": true}), "LastModifiedDate");
        api.log.clear();
    });
    let report = pull_pass(&mut RestConnector::new(opts.clone()).unwrap(), &mut store)
        .await
        .unwrap();
    assert_eq!(report.upserted_ids(), ["deals/0062"]);
    assert_eq!(report.deletes, ["deals/0064"]);
    assert!(
        store
            .get("deals/0062")
            .unwrap()
            .body
            .contains("Stage: Closed Won")
    );
    let query = server.with(|api| api.log[0].clone());
    assert!(
        query.contains("/queryAll?q=") && query.contains("LastModifiedDate+%3E=+20"),
        "{query}"
    );
    // Quiet afterwards.
    let report = pull_pass(&mut RestConnector::new(opts).unwrap(), &mut store)
        .await
        .unwrap();
    assert!(
        report.upserts.is_empty() && report.deletes.is_empty(),
        "{:?}",
        report.upserted_ids()
    );
}

fn generic(
    server: &FakeRest,
    pagination: Pagination,
    limit_param: &str,
    results: &str,
) -> RestOptions {
    let object = RestObject {
        kind: ObjectKind::Contact,
        path: "/v1/people".into(),
        incremental_path: None,
        incremental_param: None,
        results: results.into(),
        deleted: None,
        fields: fields(&[("id", "/id"), ("email", "/email"), ("name", "/name")]),
    };
    let mut opts = RestOptions::new(server.base_url.clone(), vec![object]);
    opts.auth = RestAuth::Bearer;
    opts.token = token();
    opts.pagination = pagination;
    opts.limit_param = Some(limit_param.into());
    opts.page_size = 2;
    opts
}

async fn check_full_listing_sweeps(opts: RestOptions, server: &FakeRest) {
    server.with(|api| {
        for i in 1..=5 {
            api.put("people", &i.to_string(), json!({"id": i, "email": format!("p{i}@globex.com"), "name": format!("Person {i}")}), "updated");
        }
    });
    let mut store = MiniStore::new("generic");
    let report = pull_pass(&mut RestConnector::new(opts.clone()).unwrap(), &mut store)
        .await
        .unwrap();
    assert_eq!(report.upserts.len(), 5);
    assert_eq!(report.batches, 3);
    // Without an incremental filter every pass lists everything; what vanished is deleted.
    server.with(|api| {
        api.collections.get_mut("people").unwrap().remove("4");
    });
    let report = pull_pass(&mut RestConnector::new(opts).unwrap(), &mut store)
        .await
        .unwrap();
    assert!(report.upserts.is_empty());
    assert_eq!(report.deletes, ["contacts/4"]);
    assert_eq!(store.len(), 4);
}

#[tokio::test]
async fn link_header_paging_with_a_bare_array() {
    let server = FakeRest::start(TOKEN).await;
    let opts = generic(&server, Pagination::LinkHeader, "per_page", "");
    check_full_listing_sweeps(opts, &server).await;
    assert!(server.with(|api| api.requests("page=3&per_page=2")) > 0);
}

#[tokio::test]
async fn counted_offset_paging() {
    let server = FakeRest::start(TOKEN).await;
    let opts = generic(
        &server,
        Pagination::Offset {
            param: "offset".into(),
            next: None,
        },
        "limit",
        "/results",
    );
    // The first page needs an explicit offset for this API.
    let mut opts = opts;
    opts.objects[0].path = "/v1/people?offset=0".into();
    check_full_listing_sweeps(opts, &server).await;
    assert!(server.with(|api| api.requests("offset=4")) > 0);
}

#[tokio::test]
async fn a_restart_mid_listing_does_not_sweep_what_it_did_not_see() {
    let server = FakeRest::start(TOKEN).await;
    let opts = generic(&server, Pagination::LinkHeader, "per_page", "");
    server.with(|api| {
        for i in 1..=5 {
            api.put(
                "people",
                &i.to_string(),
                json!({"id": i, "email": format!("p{i}@globex.com")}),
                "updated",
            );
        }
    });
    let mut store = MiniStore::new("generic");
    pull_pass(&mut RestConnector::new(opts.clone()).unwrap(), &mut store)
        .await
        .unwrap();
    // A new pass starts, then the daemon restarts after its first page.
    let mut first = RestConnector::new(opts.clone()).unwrap();
    pull_once(&mut first, &mut store).await.unwrap();
    drop(first);
    let report = pull_pass(&mut RestConnector::new(opts).unwrap(), &mut store)
        .await
        .unwrap();
    assert!(report.deletes.is_empty(), "{:?}", report.deletes);
    assert_eq!(store.len(), 5);
}
