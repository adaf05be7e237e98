//! An in-process HTTP/1.1 server with three CRM API shapes, for tests of the generic
//! `crm_rest` mapping (also used by the daemon's tests through `#[path]`):
//!
//! * **Pipedrive v2**: `GET /api/v2/{organizations,persons,deals}?api_token&limit&cursor&updated_since`
//!   → `{"success":true,"data":[…],"additional_data":{"next_cursor":…}}`; records carry
//!   `update_time` (`YYYY-MM-DDTHH:MM:SSZ`) and `is_deleted`; deleted records are listed only
//!   by `updated_since` queries.
//! * **Salesforce**: `GET /services/data/v60.0/{query,queryAll}?q=SELECT … FROM Account|Contact|Opportunity
//!   [WHERE LastModifiedDate >= T …]` with `Authorization: Bearer` → `{"totalSize","done",
//!   "records":[{"attributes":{…},…}],"nextRecordsUrl"}`, a fixed batch size; `queryAll` includes
//!   `IsDeleted = true` records.
//! * **Generic**: `GET /v1/{name}?page&per_page` → a bare JSON array with a `Link: <…>; rel="next"`
//!   header, or `?offset&limit` → `{"results":[…]}` (no next pointer: clients count).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

pub struct Api {
    pub token: String,
    /// Collection → id → record (in the API's own shape).
    pub collections: BTreeMap<String, BTreeMap<String, Value>>,
    pub log: Vec<String>,
    pub salesforce_batch: usize,
    /// Salesforce query locators: id → (remaining records).
    locators: BTreeMap<String, Vec<Value>>,
    next_locator: u64,
    last_s: i64,
}

/// Seconds-resolution API clocks tick at least one second per change, so `>=` filters are exact.
impl Api {
    pub fn tick(&mut self) -> String {
        let now = chrono::Utc::now().timestamp().max(self.last_s + 1);
        self.last_s = now;
        chrono::DateTime::from_timestamp(now, 0)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    }

    /// Inserts or replaces a record; `updated_key` gets the server's time.
    pub fn put(&mut self, collection: &str, id: &str, mut record: Value, updated_key: &str) {
        let t = self.tick();
        record[updated_key] = json!(t);
        self.collections
            .entry(collection.to_owned())
            .or_default()
            .insert(id.to_owned(), record);
    }

    pub fn requests(&self, needle: &str) -> usize {
        self.log.iter().filter(|r| r.contains(needle)).count()
    }

    fn handle(&mut self, target: &str, auth: Option<&str>) -> (u16, Value, Vec<(String, String)>) {
        self.log.push(target.to_owned());
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let params: BTreeMap<String, String> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        let denied = (
            401,
            json!({"success": false, "error": "unauthorized access", "errorCode": 401}),
            Vec::new(),
        );
        if let Some(collection) = path.strip_prefix("/api/v2/") {
            if params.get("api_token") != Some(&self.token) {
                return denied;
            }
            let limit: usize = params
                .get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(100);
            let start: usize = params
                .get("cursor")
                .and_then(|c| c.strip_prefix("c:")?.parse().ok())
                .unwrap_or(0);
            let since = params.get("updated_since").cloned();
            let records: Vec<Value> = self
                .collections
                .get(collection)
                .map(|c| c.values().cloned().collect())
                .unwrap_or_default();
            let mut matching: Vec<Value> = records
                .into_iter()
                .filter(|r| match &since {
                    Some(s) => r["update_time"].as_str().unwrap_or_default() >= s.as_str(),
                    None => r["is_deleted"] != json!(true),
                })
                .collect();
            matching.sort_by_key(|r| r["id"].as_u64().unwrap_or(0));
            let page: Vec<Value> = matching.iter().skip(start).take(limit).cloned().collect();
            let next = (start + limit < matching.len()).then(|| format!("c:{}", start + limit));
            return (
                200,
                json!({"success": true, "data": page, "additional_data": {"next_cursor": next}}),
                Vec::new(),
            );
        }
        if let Some(rest) = path.strip_prefix("/services/data/v60.0/") {
            if auth != Some(&format!("Bearer {}", self.token)) {
                return (
                    401,
                    json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]),
                    Vec::new(),
                );
            }
            if let Some(locator) = rest.strip_prefix("query/") {
                let Some(remaining) = self.locators.remove(locator) else {
                    return (
                        400,
                        json!([{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}]),
                        Vec::new(),
                    );
                };
                return self.salesforce_page(remaining);
            }
            let all = rest == "queryAll";
            let q = params.get("q").cloned().unwrap_or_default();
            let from = q
                .split(" FROM ")
                .nth(1)
                .unwrap_or_default()
                .split_whitespace()
                .next()
                .unwrap_or_default();
            let since = q
                .split("LastModifiedDate >= ")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .map(str::to_owned);
            let mut records: Vec<Value> = self
                .collections
                .get(from)
                .map(|c| c.values().cloned().collect())
                .unwrap_or_default();
            records.retain(|r| {
                (all || r["IsDeleted"] != json!(true))
                    && since.as_ref().is_none_or(|s| {
                        r["LastModifiedDate"].as_str().unwrap_or_default() >= s.as_str()
                    })
            });
            records.sort_by(|a, b| {
                a["LastModifiedDate"]
                    .as_str()
                    .cmp(&b["LastModifiedDate"].as_str())
                    .then(a["Id"].as_str().cmp(&b["Id"].as_str()))
            });
            for r in &mut records {
                let id = r["Id"].as_str().unwrap_or_default().to_owned();
                r["attributes"] = json!({"type": from, "url": format!("/services/data/v60.0/sobjects/{from}/{id}")});
            }
            return self.salesforce_page(records);
        }
        if let Some(collection) = path.strip_prefix("/v1/") {
            if auth != Some(&format!("Bearer {}", self.token)) {
                return (401, json!({"message": "Bad credentials"}), Vec::new());
            }
            let mut records: Vec<Value> = self
                .collections
                .get(collection)
                .map(|c| c.values().cloned().collect())
                .unwrap_or_default();
            records.sort_by_key(|r| r["id"].as_u64().unwrap_or(0));
            if let Some(offset) = params.get("offset").and_then(|o| o.parse::<usize>().ok()) {
                let limit: usize = params
                    .get("limit")
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(30);
                let page: Vec<Value> = records.iter().skip(offset).take(limit).cloned().collect();
                return (200, json!({"results": page}), Vec::new());
            }
            let page_no: usize = params.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
            let per_page: usize = params
                .get("per_page")
                .and_then(|p| p.parse().ok())
                .unwrap_or(30);
            let page: Vec<Value> = records
                .iter()
                .skip((page_no - 1) * per_page)
                .take(per_page)
                .cloned()
                .collect();
            let mut headers = Vec::new();
            if page_no * per_page < records.len() {
                headers.push((
                    "Link".to_owned(),
                    format!("<{path}?page={}&per_page={per_page}>; rel=\"next\", <{path}?page=1&per_page={per_page}>; rel=\"first\"", page_no + 1),
                ));
            }
            return (200, Value::Array(page), headers);
        }
        (404, json!({"message": "not found"}), Vec::new())
    }

    fn salesforce_page(&mut self, mut records: Vec<Value>) -> (u16, Value, Vec<(String, String)>) {
        let total = records.len();
        let rest = if records.len() > self.salesforce_batch {
            records.split_off(self.salesforce_batch)
        } else {
            Vec::new()
        };
        let mut body = json!({"totalSize": total, "done": rest.is_empty(), "records": records});
        if !rest.is_empty() {
            self.next_locator += 1;
            let id = format!(
                "01gD0000002HU6K{:04}-{}",
                self.next_locator, self.salesforce_batch
            );
            body["nextRecordsUrl"] = json!(format!("/services/data/v60.0/query/{id}"));
            self.locators.insert(id, rest);
        }
        (200, body, Vec::new())
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or(""),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A running fake API.
#[derive(Clone)]
pub struct FakeRest {
    pub api: Arc<Mutex<Api>>,
    pub base_url: String,
}

impl FakeRest {
    pub async fn start(token: &str) -> FakeRest {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let api = Arc::new(Mutex::new(Api {
            token: token.to_owned(),
            collections: BTreeMap::new(),
            log: Vec::new(),
            salesforce_batch: 2,
            locators: BTreeMap::new(),
            next_locator: 0,
            last_s: 0,
        }));
        let shared = Arc::clone(&api);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let api = Arc::clone(&shared);
                tokio::spawn(async move {
                    let _ = serve(stream, api).await;
                });
            }
        });
        FakeRest {
            api,
            base_url: format!("http://{addr}"),
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Api) -> R) -> R {
        f(&mut self.api.lock().unwrap())
    }
}

async fn serve(stream: tokio::net::TcpStream, api: Arc<Mutex<Api>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let target = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let mut content_length = 0usize;
        let mut auth = None;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).await?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => content_length = value.trim().parse().unwrap_or(0),
                    "authorization" => auth = Some(value.trim().to_owned()),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; content_length];
        reader.read_exact(&mut body).await?;
        let (status, json, headers) = api.lock().unwrap().handle(&target, auth.as_deref());
        let text = json.to_string();
        let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
        let mut head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nDate: {date}\r\n",
            text.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        write.write_all(head.as_bytes()).await?;
        write.write_all(text.as_bytes()).await?;
        write.flush().await?;
    }
}
