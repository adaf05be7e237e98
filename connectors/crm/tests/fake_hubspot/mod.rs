//! An in-process HTTP/1.1 server speaking HubSpot's documented CRM v3 wire format, for tests
//! only (there is no runnable HubSpot): object lists with `after` paging and `associations`,
//! `archived=true` lists, search with `filterGroups` / `sorts` / `after` and the result cap,
//! association and object batch reads, owners, bearer authentication with HubSpot's error JSON,
//! and injected `429` (with `Retry-After`), `401` and `500` answers.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub struct Object {
    pub props: Map<String, Value>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub archived_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
pub enum Fault {
    TooManyRequests { retry_after_secs: u64 },
    Unauthorized,
    ServerError,
}

/// Called after each request with its method and path, to change data mid-sync.
pub type Hook = Box<dyn FnMut(&mut Crm, &str, &str) + Send>;

pub struct Crm {
    pub token: String,
    pub objects: BTreeMap<String, BTreeMap<u64, Object>>,
    /// (from type, from id, to type, to id), stored both ways.
    pub associations: BTreeSet<(String, u64, String, u64)>,
    pub owners: Vec<Value>,
    pub faults: VecDeque<Fault>,
    /// Every request: "METHOD path?query" and the body.
    pub log: Vec<(String, String)>,
    pub search_cap: usize,
    next_id: u64,
    last_ms: i64,
    pub hook: Option<Hook>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn modified_property(object_type: &str) -> &'static str {
    if object_type == "contacts" {
        "lastmodifieddate"
    } else {
        "hs_lastmodifieddate"
    }
}

fn singular(object_type: &str) -> &str {
    match object_type {
        "companies" => "company",
        other => other.strip_suffix('s').unwrap_or(other),
    }
}

impl Crm {
    fn new(token: &str) -> Self {
        Crm {
            token: token.to_owned(),
            objects: BTreeMap::new(),
            associations: BTreeSet::new(),
            owners: Vec::new(),
            faults: VecDeque::new(),
            log: Vec::new(),
            search_cap: 10_000,
            next_id: 100,
            last_ms: 0,
            hook: None,
        }
    }

    /// A strictly increasing server clock (real time, never repeating a millisecond).
    pub fn tick(&mut self) -> i64 {
        let t = now_ms().max(self.last_ms + 1);
        self.last_ms = t;
        t
    }

    pub fn create(&mut self, object_type: &str, props: Value) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let t = self.tick();
        let props = props.as_object().cloned().unwrap_or_default();
        self.objects
            .entry(object_type.to_owned())
            .or_default()
            .insert(
                id,
                Object {
                    props,
                    created_ms: t,
                    updated_ms: t,
                    archived_ms: None,
                },
            );
        id
    }

    pub fn update(&mut self, object_type: &str, id: u64, props: Value) {
        let t = self.tick();
        let object = self
            .objects
            .get_mut(object_type)
            .and_then(|o| o.get_mut(&id))
            .expect("unknown object");
        for (k, v) in props.as_object().cloned().unwrap_or_default() {
            object.props.insert(k, v);
        }
        object.updated_ms = t;
    }

    /// `DELETE /crm/v3/objects/{type}/{id}`: the record moves to the recycling bin (archived).
    pub fn archive(&mut self, object_type: &str, id: u64) {
        let t = self.tick();
        let object = self
            .objects
            .get_mut(object_type)
            .and_then(|o| o.get_mut(&id))
            .expect("unknown object");
        object.archived_ms = Some(t);
        object.updated_ms = t;
    }

    pub fn associate(&mut self, from: &str, from_id: u64, to: &str, to_id: u64) {
        self.associations
            .insert((from.to_owned(), from_id, to.to_owned(), to_id));
        self.associations
            .insert((to.to_owned(), to_id, from.to_owned(), from_id));
    }

    pub fn requests(&self, needle: &str) -> usize {
        self.log.iter().filter(|(r, _)| r.contains(needle)).count()
    }

    fn render(
        &self,
        object_type: &str,
        id: u64,
        object: &Object,
        properties: &[String],
        associations: &[String],
    ) -> Value {
        let mut props = Map::new();
        let modified = modified_property(object_type);
        props.insert("hs_object_id".into(), json!(id.to_string()));
        props.insert("createdate".into(), json!(iso(object.created_ms)));
        props.insert(modified.into(), json!(iso(object.updated_ms)));
        for p in properties {
            if let Some(v) = object.props.get(p) {
                props.insert(p.clone(), v.clone());
            } else if p != modified {
                // HubSpot answers requested but unset properties with null.
                props.insert(p.clone(), Value::Null);
            }
        }
        let mut out = json!({
            "id": id.to_string(),
            "properties": props,
            "createdAt": iso(object.created_ms),
            "updatedAt": iso(object.updated_ms),
            "archived": object.archived_ms.is_some(),
        });
        if let Some(at) = object.archived_ms {
            out["archivedAt"] = json!(iso(at));
        }
        let mut assoc = Map::new();
        for to in associations {
            let results: Vec<Value> = self
                .associations
                .iter()
                .filter(|(f, fid, t, _)| f == object_type && *fid == id && t == to)
                .map(|(_, _, t, tid)| {
                    json!({"id": tid.to_string(), "type": format!("{}_to_{}", singular(object_type), singular(t))})
                })
                .collect();
            if !results.is_empty() {
                assoc.insert(to.clone(), json!({ "results": results }));
            }
        }
        if !assoc.is_empty() {
            out["associations"] = Value::Object(assoc);
        }
        out
    }

    fn error(status: u16, message: &str, category: &str) -> (u16, Value, Vec<(String, String)>) {
        (
            status,
            json!({
                "status": "error",
                "message": message,
                "correlationId": "3f7c0a1e-5c11-4b1e-9a57-21a8c9a2b0d1",
                "category": category,
            }),
            Vec::new(),
        )
    }

    fn handle(
        &mut self,
        method: &str,
        target: &str,
        auth: Option<&str>,
        body: &str,
    ) -> (u16, Value, Vec<(String, String)>) {
        self.log
            .push((format!("{method} {target}"), body.to_owned()));
        if let Some(fault) = self.faults.pop_front() {
            return match fault {
                Fault::TooManyRequests { retry_after_secs } => (
                    429,
                    json!({
                        "status": "error",
                        "message": "You have reached your secondly limit.",
                        "errorType": "RATE_LIMIT",
                        "correlationId": "c2a1f0b4-0000-4000-8000-000000000429",
                        "policyName": "SECONDLY",
                    }),
                    vec![("Retry-After".into(), retry_after_secs.to_string())],
                ),
                Fault::Unauthorized => Self::error(
                    401,
                    "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
                    "INVALID_AUTHENTICATION",
                ),
                Fault::ServerError => Self::error(500, "internal error", "INTERNAL_ERROR"),
            };
        }
        if auth != Some(&format!("Bearer {}", self.token)) {
            return Self::error(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
                "INVALID_AUTHENTICATION",
            );
        }
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let params: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let list = |name: &str| -> Vec<String> {
            param(name)
                .map(|v| {
                    v.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let request: Value = if body.trim().is_empty() {
            Value::Null
        } else {
            match serde_json::from_str(body) {
                Ok(v) => v,
                Err(_) => return Self::error(400, "Invalid input JSON", "VALIDATION_ERROR"),
            }
        };
        match (method, segments.as_slice()) {
            ("GET", ["crm", "v3", "owners"]) => {
                (200, json!({"results": self.owners.clone()}), Vec::new())
            }
            ("GET", ["crm", "v3", "objects", object_type]) => {
                let limit: usize = param("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
                if limit > 100 {
                    return Self::error(400, "limit must be at most 100", "VALIDATION_ERROR");
                }
                let archived = param("archived").as_deref() == Some("true");
                let after: u64 = param("after").and_then(|a| a.parse().ok()).unwrap_or(0);
                let properties = list("properties");
                let associations = list("associations");
                let objects = self.objects.get(*object_type).cloned().unwrap_or_default();
                let matching: Vec<(u64, Object)> = objects
                    .into_iter()
                    .filter(|(id, o)| *id >= after && o.archived_ms.is_some() == archived)
                    .collect();
                let results: Vec<Value> = matching
                    .iter()
                    .take(limit)
                    .map(|(id, o)| self.render(object_type, *id, o, &properties, &associations))
                    .collect();
                let mut out = json!({ "results": results });
                if let Some((next, _)) = matching.get(limit) {
                    out["paging"] = json!({"next": {
                        "after": next.to_string(),
                        "link": format!("https://api.hubapi.com/crm/v3/objects/{object_type}?after={next}"),
                    }});
                }
                (200, out, Vec::new())
            }
            ("POST", ["crm", "v3", "objects", object_type, "search"]) => {
                let limit = request["limit"].as_u64().unwrap_or(10) as usize;
                if limit > 200 {
                    return Self::error(400, "limit must be at most 200", "VALIDATION_ERROR");
                }
                let after: usize = request["after"]
                    .as_str()
                    .and_then(|a| a.parse().ok())
                    .or(request["after"].as_u64().map(|a| a as usize))
                    .unwrap_or(0);
                if after + limit > self.search_cap {
                    return Self::error(
                        400,
                        &format!("Search results are limited to {} records", self.search_cap),
                        "VALIDATION_ERROR",
                    );
                }
                let properties: Vec<String> = request["properties"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect();
                let modified = modified_property(object_type);
                let objects = self.objects.get(*object_type).cloned().unwrap_or_default();
                let value_of = |id: u64, o: &Object, name: &str| -> Option<i64> {
                    if name == modified
                        || name == "lastmodifieddate"
                        || name == "hs_lastmodifieddate"
                    {
                        Some(o.updated_ms)
                    } else if name == "createdate" {
                        Some(o.created_ms)
                    } else if name == "hs_object_id" {
                        Some(id as i64)
                    } else {
                        o.props.get(name).and_then(|v| v.as_str()?.parse().ok())
                    }
                };
                let groups = request["filterGroups"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut matching: Vec<(u64, Object)> = objects
                    .into_iter()
                    .filter(|(_, o)| o.archived_ms.is_none())
                    .filter(|(id, o)| {
                        groups.is_empty()
                            || groups.iter().any(|g| {
                                g["filters"].as_array().into_iter().flatten().all(|f| {
                                    let name = f["propertyName"].as_str().unwrap_or_default();
                                    let wanted: i64 = f["value"]
                                        .as_str()
                                        .and_then(|v| v.parse().ok())
                                        .or(f["value"].as_i64())
                                        .unwrap_or(0);
                                    let Some(actual) = value_of(*id, o, name) else {
                                        return false;
                                    };
                                    match f["operator"].as_str().unwrap_or_default() {
                                        "GTE" => actual >= wanted,
                                        "GT" => actual > wanted,
                                        "LTE" => actual <= wanted,
                                        "LT" => actual < wanted,
                                        "EQ" => actual == wanted,
                                        _ => false,
                                    }
                                })
                            })
                    })
                    .collect();
                if let Some(sort) = request["sorts"].as_array().and_then(|s| s.first()) {
                    let name = sort["propertyName"].as_str().unwrap_or_default().to_owned();
                    let descending = sort["direction"].as_str() == Some("DESCENDING");
                    matching.sort_by_key(|(id, o)| (value_of(*id, o, &name), *id));
                    if descending {
                        matching.reverse();
                    }
                }
                let total = matching.len();
                let results: Vec<Value> = matching
                    .iter()
                    .skip(after)
                    .take(limit)
                    .map(|(id, o)| self.render(object_type, *id, o, &properties, &[]))
                    .collect();
                let mut out = json!({"total": total, "results": results});
                if after + limit < total {
                    out["paging"] = json!({"next": {"after": (after + limit).to_string()}});
                }
                (200, out, Vec::new())
            }
            ("POST", ["crm", "v3", "objects", object_type, "batch", "read"]) => {
                let properties: Vec<String> = request["properties"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect();
                let objects = self.objects.get(*object_type).cloned().unwrap_or_default();
                let results: Vec<Value> = request["inputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i["id"].as_str()?.parse::<u64>().ok())
                    .filter_map(|id| {
                        let o = objects.get(&id).filter(|o| o.archived_ms.is_none())?;
                        Some(self.render(object_type, id, o, &properties, &[]))
                    })
                    .collect();
                let t = iso(now_ms());
                (
                    200,
                    json!({"status": "COMPLETE", "results": results, "startedAt": t, "completedAt": t}),
                    Vec::new(),
                )
            }
            ("POST", ["crm", "v3", "associations", from, to, "batch", "read"]) => {
                let results: Vec<Value> = request["inputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i["id"].as_str()?.parse::<u64>().ok())
                    .filter_map(|id| {
                        let to_list: Vec<Value> = self
                            .associations
                            .iter()
                            .filter(|(f, fid, t, _)| f == from && *fid == id && t == to)
                            .map(|(_, _, t, tid)| {
                                json!({"id": tid.to_string(), "type": format!("{}_to_{}", singular(from), singular(t))})
                            })
                            .collect();
                        (!to_list.is_empty())
                            .then(|| json!({"from": {"id": id.to_string()}, "to": to_list}))
                    })
                    .collect();
                let t = iso(now_ms());
                (
                    200,
                    json!({"status": "COMPLETE", "results": results, "startedAt": t, "completedAt": t}),
                    Vec::new(),
                )
            }
            _ => Self::error(
                404,
                &format!("no route for {method} {path}"),
                "OBJECT_NOT_FOUND",
            ),
        }
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
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

/// A running fake HubSpot.
#[derive(Clone)]
pub struct FakeHubSpot {
    pub crm: Arc<Mutex<Crm>>,
    pub base_url: String,
}

impl FakeHubSpot {
    pub async fn start(token: &str) -> FakeHubSpot {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let crm = Arc::new(Mutex::new(Crm::new(token)));
        let shared = Arc::clone(&crm);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let crm = Arc::clone(&shared);
                tokio::spawn(async move {
                    let _ = serve(stream, crm).await;
                });
            }
        });
        FakeHubSpot {
            crm,
            base_url: format!("http://{addr}"),
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut Crm) -> R) -> R {
        f(&mut self.crm.lock().unwrap())
    }
}

async fn serve(stream: tokio::net::TcpStream, crm: Arc<Mutex<Crm>>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let target = parts.next().unwrap_or_default().to_owned();
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
                let value = value.trim().to_owned();
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => content_length = value.parse().unwrap_or(0),
                    "authorization" => auth = Some(value),
                    _ => {}
                }
            }
        }
        let mut body = vec![0u8; content_length];
        reader.read_exact(&mut body).await?;
        let body = String::from_utf8_lossy(&body).into_owned();
        let (status, json, headers) = {
            let mut crm = crm.lock().unwrap();
            let answer = crm.handle(&method, &target, auth.as_deref(), &body);
            if let Some(mut hook) = crm.hook.take() {
                hook(&mut crm, &method, &target);
                if crm.hook.is_none() {
                    crm.hook = Some(hook);
                }
            }
            answer
        };
        let text = json.to_string();
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            404 => "Not Found",
            429 => "Too Many Requests",
            _ => "Internal Server Error",
        };
        let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
        let mut head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json;charset=utf-8\r\nContent-Length: {}\r\nDate: {date}\r\nConnection: keep-alive\r\n",
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
