//! The `crm_rest` connector: any CRM's JSON REST API, described by a mapping.
//!
//! Per object type: a listing path, a JSON pointer to the records array, JSON pointers for
//! the id, modification time, title, body, associations and a deleted flag, and how changes
//! since the watermark are asked for (a query parameter, or `{since}` in an incremental path).
//! Pagination is one of: an opaque cursor in the answer, an offset, a page number, the `Link`
//! header, or the next page's URL in the answer.
//!
//! A pass walks the object types one page per pull; the cursor keeps the page position so a
//! restart resumes it. The first pass of a type lists everything (watermark: the server's
//! `Date` at its first page) and, when it ran in one process from its first page, removes what
//! the store holds that the listing did not return; later passes list changes since the
//! watermark minus an overlap, skipping records whose version the store already holds, and
//! turn records flagged deleted into tombstones. Types without an incremental filter are
//! listed in full every pass.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use ctx_connector_api::{Batch, Connector, ConnectorError, Cursor, SyncContext, Wake};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::export::{Row, lookup, map_fields, scalar};
use crate::http::{ApiClient, RetryPolicy, TokenSource, encode};
use crate::model::{Directory, ObjectKind, default_free_mail, record_item};

/// How an API pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pagination {
    /// An opaque cursor at JSON pointer `next`, sent back as query parameter `param`.
    Cursor { param: String, next: String },
    /// `param` is the index of the first record; the next at `next`, else counted.
    Offset { param: String, next: Option<String> },
    /// `param` is the page number, from `first`.
    Page { param: String, first: u64 },
    /// RFC 8288 `Link: <url>; rel="next"`.
    LinkHeader,
    /// The next page's URL (or path) at JSON pointer `next`.
    NextUrl { next: String },
}

/// How a request carries the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestAuth {
    None,
    Bearer,
    Header(String),
    Query(String),
}

/// One object type of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestObject {
    pub kind: ObjectKind,
    pub path: String,
    /// `{since}` marks where the watermark goes.
    pub incremental_path: Option<String>,
    pub incremental_param: Option<String>,
    /// JSON pointer to the records array; empty: the answer is the array.
    pub results: String,
    pub deleted: Option<String>,
    /// Target → JSON pointer (targets as in [`crate::export::MAPPING_TARGETS`]).
    pub fields: Vec<(String, String)>,
}

impl RestObject {
    fn incremental(&self) -> bool {
        self.incremental_path.is_some() || self.incremental_param.is_some()
    }
}

/// Options of a [`RestConnector`].
#[derive(Clone)]
pub struct RestOptions {
    pub base_url: String,
    pub auth: RestAuth,
    pub token: Option<TokenSource>,
    pub pagination: Pagination,
    pub limit_param: Option<String>,
    pub page_size: usize,
    /// `rfc3339`, `epoch_ms`, `epoch_s`, or a strftime pattern (UTC).
    pub since_format: String,
    pub overlap: Duration,
    pub poll_interval: Duration,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    pub free_mail_domains: Vec<String>,
    pub objects: Vec<RestObject>,
}

impl RestOptions {
    pub fn new(base_url: impl Into<String>, objects: Vec<RestObject>) -> Self {
        RestOptions {
            base_url: base_url.into(),
            auth: RestAuth::None,
            token: None,
            pagination: Pagination::LinkHeader,
            limit_param: None,
            page_size: 100,
            since_format: "rfc3339".into(),
            overlap: Duration::from_secs(5 * 60),
            poll_interval: Duration::from_secs(10 * 60),
            timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            free_mail_domains: default_free_mail(),
            objects,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct State {
    v: u32,
    since: BTreeMap<String, i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pos: Option<Pos>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pos {
    object: String,
    full: bool,
    /// The next page: a cursor, offset, page number or URL; `None` for the first page.
    page: Option<String>,
    started_ms: Option<i64>,
    max_ms: Option<i64>,
    /// The listing's first page was read by this process (so its ids are all in memory).
    #[serde(default)]
    sweep_ok: bool,
}

/// A JSON REST API as a connector.
pub struct RestConnector {
    opts: RestOptions,
    client: ApiClient,
    token: Option<String>,
    directory: Directory,
    /// External ids seen by the running full listing, for its sweep.
    seen: HashSet<String>,
    /// Which object's full listing `seen` belongs to.
    seen_for: Option<String>,
}

impl RestConnector {
    pub fn new(mut opts: RestOptions) -> Result<Self, ConnectorError> {
        if opts.objects.is_empty() {
            return Err(ConnectorError::config("no objects configured"));
        }
        opts.base_url = opts.base_url.trim_end_matches('/').to_owned();
        opts.page_size = opts.page_size.max(1);
        let client = ApiClient::new(opts.timeout, opts.token.clone(), opts.retry)?;
        Ok(RestConnector {
            opts,
            client,
            token: None,
            directory: Directory::default(),
            seen: HashSet::new(),
            seen_for: None,
        })
    }

    fn object(&self, name: &str) -> Option<&RestObject> {
        self.opts.objects.iter().find(|o| o.kind.plural() == name)
    }

    fn start(&self, state: &State, object: &RestObject) -> Pos {
        Pos {
            object: object.kind.plural().to_owned(),
            full: !object.incremental() || !state.since.contains_key(object.kind.plural()),
            page: None,
            started_ms: None,
            max_ms: None,
            sweep_ok: false,
        }
    }

    fn format_since(&self, ms: i64) -> String {
        let dt = chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default();
        match self.opts.since_format.as_str() {
            "epoch_ms" => ms.to_string(),
            "epoch_s" => (ms / 1000).to_string(),
            "rfc3339" => dt.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            pattern => dt.format(pattern).to_string(),
        }
    }

    fn url(&self, object: &RestObject, pos: &Pos, since: Option<i64>) -> String {
        if let Some(page) = &pos.page
            && matches!(
                self.opts.pagination,
                Pagination::LinkHeader | Pagination::NextUrl { .. }
            )
        {
            return self.absolute(page);
        }
        let mut url = match (pos.full, since, &object.incremental_path) {
            (false, Some(since), Some(path)) => format!(
                "{}{}",
                self.opts.base_url,
                path.replace("{since}", &encode(&self.format_since(since)))
            ),
            _ => format!("{}{}", self.opts.base_url, object.path),
        };
        let mut add = |name: &str, value: &str| {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&encode(name));
            url.push('=');
            url.push_str(&encode(value));
        };
        if let (false, Some(since), None, Some(param)) = (
            pos.full,
            since,
            &object.incremental_path,
            &object.incremental_param,
        ) {
            add(param, &self.format_since(since));
        }
        if let Some(limit) = &self.opts.limit_param {
            add(limit, &self.opts.page_size.to_string());
        }
        match &self.opts.pagination {
            Pagination::Cursor { param, .. } | Pagination::Offset { param, .. } => {
                if let Some(page) = &pos.page {
                    add(param, page);
                }
            }
            Pagination::Page { param, first } => {
                let page = pos.page.clone().unwrap_or_else(|| first.to_string());
                add(param, &page);
            }
            Pagination::LinkHeader | Pagination::NextUrl { .. } => {}
        }
        if let RestAuth::Query(param) = &self.opts.auth
            && let Some(token) = &self.token
        {
            add(param, token);
        }
        url
    }

    fn absolute(&self, next: &str) -> String {
        let mut url = if next.starts_with("http://") || next.starts_with("https://") {
            next.to_owned()
        } else {
            format!("{}/{}", self.opts.base_url, next.trim_start_matches('/'))
        };
        if let RestAuth::Query(param) = &self.opts.auth
            && let Some(token) = &self.token
            && !url.contains(&format!("{}=", encode(param)))
        {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("{}={}", encode(param), encode(token)));
        }
        url
    }

    async fn get(&mut self, url: &str) -> Result<crate::http::JsonResponse, ConnectorError> {
        // Header auth other than bearer goes through a one-off client call.
        let bearer = match self.opts.auth {
            RestAuth::Bearer => self.token.clone(),
            _ => None,
        };
        let result = match (&self.opts.auth, &self.token) {
            (RestAuth::Header(name), Some(token)) => {
                self.client
                    .send_with_header(Method::GET, url, (name, token))
                    .await
            }
            _ => {
                self.client
                    .send(Method::GET, url, bearer.as_deref(), None)
                    .await
            }
        };
        if let Err(e) = &result
            && e.kind == ctx_connector_api::ErrorKind::Auth
        {
            self.token = None;
        }
        result
    }

    async fn pull_inner(
        &mut self,
        cursor: Option<&Cursor>,
        ctx: &SyncContext,
    ) -> Result<Batch, ConnectorError> {
        let mut state: State = match cursor {
            Some(c) => serde_json::from_str(c.as_str()).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "unreadable crm_rest cursor, starting over");
                State::default()
            }),
            None => State::default(),
        };
        state.v = 1;
        let mut pos = match state.pos.take() {
            Some(pos) if self.object(&pos.object).is_some() => pos,
            _ => {
                self.token = None;
                let first = self.opts.objects[0].clone();
                self.start(&state, &first)
            }
        };
        if self.token.is_none() {
            self.token = self.client.token().await?;
        }
        let object = self
            .object(&pos.object)
            .cloned()
            .ok_or_else(|| ConnectorError::permanent("unknown object in cursor"))?;
        if pos.full && pos.page.is_none() {
            // This process reads the listing from its first page: its sweep is safe.
            pos.sweep_ok = true;
            self.seen.clear();
            self.seen_for = Some(pos.object.clone());
        } else if pos.full && self.seen_for.as_deref() != Some(pos.object.as_str()) {
            pos.sweep_ok = false;
        }
        let since = state
            .since
            .get(&pos.object)
            .map(|s| s - self.opts.overlap.as_millis() as i64);
        let url = self.url(&object, &pos, since);
        let response = self.get(&url).await?;
        let started_ms = pos
            .started_ms
            .or(response.date_ms)
            .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        pos.started_ms = Some(started_ms);
        let rows: Vec<Row> = match if object.results.is_empty() {
            Some(&response.body)
        } else {
            response.body.pointer(&object.results)
        } {
            Some(Value::Array(values)) => values
                .iter()
                .filter_map(|v| v.as_object().cloned())
                .collect(),
            Some(Value::Null) | None => Vec::new(),
            Some(_) => {
                return Err(ConnectorError::permanent(format!(
                    "{url}: `{}` is not an array of records",
                    object.results
                )));
            }
        };
        let known = ctx.known.versions()?;
        let mut batch = Batch::default();
        let mut records = Vec::new();
        for row in &rows {
            let Some(mut record) = map_fields(object.kind, &object.fields, row) else {
                tracing::warn!(
                    object = object.kind.plural(),
                    "crm_rest record without an id, skipped"
                );
                continue;
            };
            if record.version.is_empty() {
                let text = serde_json::to_string(row).unwrap_or_default();
                record.version = format!("h:{}", &blake3::hash(text.as_bytes()).to_hex()[..16]);
            }
            if let Some(ms) = record.updated_ms {
                pos.max_ms = Some(pos.max_ms.map_or(ms, |m| m.max(ms)));
            }
            let ext = record.external_id();
            if pos.full {
                self.seen.insert(ext.clone());
            }
            let deleted = object
                .deleted
                .as_ref()
                .and_then(|p| lookup(row, p))
                .is_some_and(|v| v.as_bool() == Some(true) || scalar(v).as_deref() == Some("true"));
            if deleted {
                if known.contains_key(&ext) && !batch.deletes.contains(&ext) {
                    batch.deletes.push(ext);
                }
                continue;
            }
            self.directory.insert(
                record.object(),
                &record.id,
                record.summary(&self.opts.free_mail_domains),
            );
            records.push(record);
        }
        for record in &records {
            let ext = record.external_id();
            if known.get(&ext).and_then(|v| v.as_deref()) == Some(record.version.as_str())
                || batch.upserts.iter().any(|i| i.external_id == ext)
            {
                continue;
            }
            let locator = format!("{}{}#{}", self.opts.base_url, object.path, record.id);
            batch.upserts.push(record_item(
                record,
                &self.directory,
                &self.opts.free_mail_domains,
                locator,
            ));
        }
        let next = match &self.opts.pagination {
            Pagination::Cursor { next, .. } => response.body.pointer(next).and_then(scalar),
            Pagination::Offset { next, .. } => match next {
                Some(pointer) => response.body.pointer(pointer).and_then(scalar),
                None if rows.len() >= self.opts.page_size => {
                    let offset: usize = pos
                        .page
                        .as_deref()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(0);
                    Some((offset + rows.len()).to_string())
                }
                None => None,
            },
            Pagination::Page { first, .. } => {
                if rows.len() >= self.opts.page_size && !rows.is_empty() {
                    let page: u64 = pos
                        .page
                        .as_deref()
                        .and_then(|p| p.parse().ok())
                        .unwrap_or(*first);
                    Some((page + 1).to_string())
                } else {
                    None
                }
            }
            Pagination::LinkHeader => response.link.as_deref().and_then(next_link),
            Pagination::NextUrl { next } => response.body.pointer(next).and_then(scalar),
        };
        // A next page that is the page just read would loop forever.
        let next = next.filter(|n| pos.page.as_deref() != Some(n.as_str()));
        match next {
            Some(page) => {
                pos.page = Some(page);
                state.pos = Some(pos);
            }
            None => {
                if pos.full {
                    state.since.insert(pos.object.clone(), started_ms);
                    if pos.sweep_ok {
                        let prefix = format!("{}/", pos.object);
                        let mut gone: Vec<String> = known
                            .keys()
                            .filter(|k| k.starts_with(&prefix) && !self.seen.contains(*k))
                            .cloned()
                            .collect();
                        gone.sort();
                        for ext in gone {
                            if !batch.deletes.contains(&ext) {
                                batch.deletes.push(ext);
                            }
                        }
                    }
                    self.seen.clear();
                    self.seen_for = None;
                } else if let Some(max) = pos.max_ms {
                    let old = state.since.get(&pos.object).copied().unwrap_or(max);
                    state.since.insert(pos.object.clone(), old.max(max));
                }
                let next_object = self
                    .opts
                    .objects
                    .iter()
                    .skip_while(|o| o.kind.plural() != pos.object)
                    .nth(1)
                    .cloned();
                state.pos = next_object.map(|o| self.start(&state, &o));
            }
        }
        batch.has_more = state.pos.is_some();
        batch.cursor = Some(Cursor(
            serde_json::to_string(&state).map_err(|e| ConnectorError::permanent(e.to_string()))?,
        ));
        Ok(batch)
    }
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p == "rel=\"next\"" || p == "rel=next"
        });
        is_next.then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

#[async_trait::async_trait]
impl Connector for RestConnector {
    fn type_name(&self) -> &'static str {
        "crm_rest"
    }

    #[tracing::instrument(name = "crm_rest_pull", skip_all)]
    async fn pull(
        &mut self,
        cursor: Option<&Cursor>,
        ctx: &SyncContext,
    ) -> Result<Batch, ConnectorError> {
        self.pull_inner(cursor, ctx).await
    }

    async fn wait_for_change(&mut self) -> Result<Wake, ConnectorError> {
        tokio::time::sleep(self.opts.poll_interval).await;
        Ok(Wake::Changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_headers_name_the_next_page() {
        let h = r#"<https://api.x.com/deals?page=3>; rel="next", <https://api.x.com/deals?page=1>; rel="first""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://api.x.com/deals?page=3")
        );
        assert_eq!(next_link(r#"<https://a/b>; rel="prev""#), None);
    }
}
