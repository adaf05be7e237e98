//! The `hubspot` connector: HubSpot's public CRM v3 API.
//!
//! A pass walks the configured object types in order (companies, contacts, deals, then the
//! engagements), one page per pull, and the cursor records exactly where it is, so a restart
//! mid-paging resumes on the next page:
//!
//! 1. **First sync of a type**: `GET /crm/v3/objects/{type}?limit&after&properties&associations`
//!    pages through every live record. The watermark is the server's `Date` at the first page:
//!    a record changed while the listing runs is newer than it, so the next pass finds it.
//! 2. **Incremental**: `POST /crm/v3/objects/{type}/search` with a `GTE` filter on
//!    `lastmodifieddate` (contacts) / `hs_lastmodifieddate` (others) at the watermark minus an
//!    overlap (the search index lags writes by seconds), sorted ascending, paged by keyset (each
//!    page a new search from the newest time seen: offset paging over a set that changes while
//!    it is read skips records, and search stops at 10,000 results anyway). Records whose
//!    `updatedAt` equals the stored version are skipped, so overlaps never re-deliver.
//!    Associations (search does not return them) come from
//!    `POST /crm/v3/associations/{from}/{to}/batch/read`.
//! 3. **Archived**: `GET /crm/v3/objects/{type}?archived=true` pages through archived records;
//!    those the store holds become tombstones.
//!
//! Associated companies, contacts and deals are read with `POST /crm/v3/objects/{type}/batch/read`
//! (cached per process) so a deal names its company's domain and its contacts' addresses;
//! `hubspot_owner_id` is resolved with `GET /crm/v3/owners`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use ctx_connector_api::{Batch, Connector, ConnectorError, Cursor, Item, SyncContext, Wake};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::http::{ApiClient, RetryPolicy, TokenSource, encode};
use crate::model::{
    CrmRecord, Directory, ObjectKind, Summary, attr, default_free_mail, parse_time_ms, record_item,
};

/// Where HubSpot's API lives.
pub const DEFAULT_BASE_URL: &str = "https://api.hubapi.com";

/// The search endpoint returns at most this many results for one query.
pub const SEARCH_RESULT_CAP: usize = 10_000;

/// Options of a [`HubSpotConnector`].
#[derive(Clone)]
pub struct HubSpotOptions {
    pub base_url: String,
    pub token: Option<TokenSource>,
    /// Object types to mirror, in sync order.
    pub objects: Vec<ObjectKind>,
    /// Extra properties to read per object type (shown as fields).
    pub extra_properties: BTreeMap<ObjectKind, Vec<String>>,
    /// Records per page (HubSpot allows up to 100 for lists and 200 for search).
    pub page_size: usize,
    /// How far before the watermark incremental searches start.
    pub overlap: Duration,
    pub poll_interval: Duration,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Domains that never name a company.
    pub free_mail_domains: Vec<String>,
    /// The HubSpot account id; when set, locators open records in the HubSpot web app.
    pub portal_id: Option<String>,
    /// Results one search may page through ([`SEARCH_RESULT_CAP`]).
    pub search_cap: usize,
}

impl std::fmt::Debug for HubSpotOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubSpotOptions")
            .field("base_url", &self.base_url)
            .field("objects", &self.objects)
            .field("page_size", &self.page_size)
            .field("overlap", &self.overlap)
            .finish_non_exhaustive()
    }
}

impl HubSpotOptions {
    pub fn new(token: Option<TokenSource>) -> Self {
        HubSpotOptions {
            base_url: DEFAULT_BASE_URL.to_owned(),
            token,
            objects: ObjectKind::ALL.to_vec(),
            extra_properties: BTreeMap::new(),
            page_size: 100,
            overlap: Duration::from_secs(5 * 60),
            poll_interval: Duration::from_secs(10 * 60),
            timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            free_mail_domains: default_free_mail(),
            portal_id: None,
            search_cap: SEARCH_RESULT_CAP,
        }
    }
}

/// The last-modified property HubSpot filters and sorts on.
pub fn modified_property(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Contact => "lastmodifieddate",
        _ => "hs_lastmodifieddate",
    }
}

/// HubSpot property → well-known attribute, per object type.
fn property_map(kind: ObjectKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        ObjectKind::Contact => &[
            ("firstname", attr::FIRST_NAME),
            ("lastname", attr::LAST_NAME),
            ("email", attr::EMAIL),
            ("phone", attr::PHONE),
            ("jobtitle", attr::JOB_TITLE),
            ("company", attr::COMPANY_NAME),
            ("lifecyclestage", attr::STATUS),
        ],
        ObjectKind::Company => &[
            ("name", attr::NAME),
            ("domain", attr::DOMAIN),
            ("industry", attr::INDUSTRY),
            ("lifecyclestage", attr::STATUS),
        ],
        ObjectKind::Deal => &[
            ("dealname", attr::NAME),
            ("dealstage", attr::STAGE),
            ("amount", attr::AMOUNT),
            ("closedate", attr::CLOSE_DATE),
            ("pipeline", attr::PIPELINE),
        ],
        ObjectKind::Note => &[("hs_note_body", attr::BODY)],
        ObjectKind::Call => &[
            ("hs_call_title", attr::SUBJECT),
            ("hs_call_body", attr::BODY),
            ("hs_call_status", attr::STATUS),
        ],
        ObjectKind::Meeting => &[
            ("hs_meeting_title", attr::SUBJECT),
            ("hs_meeting_body", attr::BODY),
        ],
        ObjectKind::Task => &[
            ("hs_task_subject", attr::SUBJECT),
            ("hs_task_body", attr::BODY),
            ("hs_task_status", attr::STATUS),
        ],
    }
}

/// Which associations a record of `kind` carries.
fn association_targets(kind: ObjectKind) -> &'static [ObjectKind] {
    match kind {
        ObjectKind::Company => &[],
        ObjectKind::Contact => &[ObjectKind::Company],
        ObjectKind::Deal => &[ObjectKind::Company, ObjectKind::Contact],
        _ => &[ObjectKind::Deal, ObjectKind::Company, ObjectKind::Contact],
    }
}

/// Properties read for the summary of an associated record.
fn summary_properties(kind: ObjectKind) -> &'static [&'static str] {
    match kind {
        ObjectKind::Company => &["name", "domain"],
        ObjectKind::Contact => &["firstname", "lastname", "email"],
        ObjectKind::Deal => &["dealname"],
        _ => &[],
    }
}

/// The position of a pass, persisted in the cursor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct State {
    v: u32,
    /// Per object type: every change before this time (ms, server clock) is stored.
    since: BTreeMap<String, i64>,
    /// Where the running pass is; `None` between passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pos: Option<Pos>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Pos {
    object: String,
    step: Step,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
enum Step {
    List {
        after: Option<String>,
        started_ms: Option<i64>,
    },
    Search {
        after: Option<String>,
        from_ms: i64,
        max_ms: i64,
    },
    Archived {
        after: Option<String>,
    },
}

/// A deal or engagement owner: display name and address.
type Owner = (Option<String>, Option<String>);

/// HubSpot CRM v3 as a connector.
pub struct HubSpotConnector {
    opts: HubSpotOptions,
    client: ApiClient,
    token: Option<String>,
    /// Owner id → (name, email), read once per pass.
    owners: Option<HashMap<String, Owner>>,
    directory: Directory,
}

impl HubSpotConnector {
    pub fn new(mut opts: HubSpotOptions) -> Result<Self, ConnectorError> {
        if opts.objects.is_empty() {
            return Err(ConnectorError::config("no object types to mirror"));
        }
        opts.base_url = opts.base_url.trim_end_matches('/').to_owned();
        opts.page_size = opts.page_size.clamp(1, 100);
        let client = ApiClient::new(opts.timeout, opts.token.clone(), opts.retry)?;
        Ok(HubSpotConnector {
            opts,
            client,
            token: None,
            owners: None,
            directory: Directory::default(),
        })
    }

    fn first_step(&self, state: &State, kind: ObjectKind) -> Step {
        match state.since.get(kind.plural()) {
            None => Step::List {
                after: None,
                started_ms: None,
            },
            Some(&since) => Step::Search {
                after: None,
                from_ms: since - self.opts.overlap.as_millis() as i64,
                max_ms: since,
            },
        }
    }

    fn properties(&self, kind: ObjectKind) -> Vec<String> {
        let mut props: Vec<String> = property_map(kind)
            .iter()
            .map(|(p, _)| p.to_string())
            .collect();
        props.push(modified_property(kind).to_owned());
        props.push("hubspot_owner_id".to_owned());
        if kind.is_engagement() {
            props.push("hs_timestamp".to_owned());
        }
        for extra in self.opts.extra_properties.get(&kind).into_iter().flatten() {
            if !props.contains(extra) {
                props.push(extra.clone());
            }
        }
        props
    }

    async fn ensure_token(&mut self) -> Result<(), ConnectorError> {
        if self.token.is_none() {
            self.token = self.client.token().await?;
        }
        Ok(())
    }

    async fn call(
        &mut self,
        method: Method,
        path_and_query: &str,
        body: Option<&Value>,
    ) -> Result<crate::http::JsonResponse, ConnectorError> {
        let url = format!("{}{path_and_query}", self.opts.base_url);
        let result = self
            .client
            .send(method, &url, self.token.as_deref(), body)
            .await;
        if let Err(e) = &result
            && e.kind == ctx_connector_api::ErrorKind::Auth
        {
            // A rejected token may have been rotated: get it again next time.
            self.token = None;
        }
        result
    }

    async fn load_owners(&mut self) -> Result<(), ConnectorError> {
        if self.owners.is_some() {
            return Ok(());
        }
        let mut owners = HashMap::new();
        let mut after: Option<String> = None;
        loop {
            let mut path = "/crm/v3/owners/?limit=100".to_owned();
            if let Some(a) = &after {
                path.push_str(&format!("&after={}", encode(a)));
            }
            let response = match self.call(Method::GET, &path, None).await {
                Ok(r) => r,
                Err(e)
                    if e.kind == ctx_connector_api::ErrorKind::Permanent
                        || e.message.contains("(HTTP 403)") =>
                {
                    // Owners need their own scope; without it deals simply show no owner.
                    tracing::warn!(error = %e, "hubspot owners unavailable");
                    break;
                }
                Err(e) => return Err(e),
            };
            for owner in response.body["results"].as_array().into_iter().flatten() {
                let id = json_text(&owner["id"]);
                let name = [owner["firstName"].as_str(), owner["lastName"].as_str()]
                    .into_iter()
                    .flatten()
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                let email = owner["email"].as_str().map(str::to_owned);
                if let Some(id) = id {
                    owners.insert(id, ((!name.is_empty()).then_some(name), email));
                }
            }
            after = next_after(&response.body);
            if after.is_none() {
                break;
            }
        }
        self.owners = Some(owners);
        Ok(())
    }

    /// Converts one HubSpot object (list, search or batch-read shape) into a record.
    fn record(&self, kind: ObjectKind, object: &Value) -> Option<CrmRecord> {
        let id = json_text(&object["id"])?;
        let mut record = CrmRecord::new(kind, id);
        let props = &object["properties"];
        for (property, name) in property_map(kind) {
            if let Some(value) = props[*property].as_str() {
                let value = if *name == attr::CLOSE_DATE {
                    date_only(value)
                } else {
                    value.to_owned()
                };
                record.set(name, value);
            }
        }
        if let Some(owner_id) = props["hubspot_owner_id"].as_str()
            && let Some((name, email)) = self.owners.as_ref().and_then(|o| o.get(owner_id))
        {
            if let Some(name) = name {
                record.set(attr::OWNER_NAME, name.clone());
            }
            if let Some(email) = email {
                record.set(attr::OWNER_EMAIL, email.clone());
            }
        }
        for extra in self.opts.extra_properties.get(&kind).into_iter().flatten() {
            if let Some(value) = props[extra.as_str()].as_str()
                && !value.trim().is_empty()
            {
                record.extra.push((extra.clone(), value.trim().to_owned()));
            }
        }
        let updated = object["updatedAt"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| props[modified_property(kind)].as_str().map(str::to_owned));
        record.updated_ms = updated.as_deref().and_then(parse_time_ms);
        record.version = updated.unwrap_or_default();
        record.timestamp_ms = props["hs_timestamp"]
            .as_str()
            .and_then(parse_time_ms)
            .or(record.updated_ms);
        // The list endpoint's `associations` (`{"companies":{"results":[{"id","type"}]}}`).
        if let Some(assocs) = object["associations"].as_object() {
            for (name, group) in assocs {
                let Some(target) = ObjectKind::parse(name) else {
                    continue;
                };
                for to in group["results"].as_array().into_iter().flatten() {
                    if let Some(to_id) = json_text(&to["id"]) {
                        record.associate(target, to_id);
                    }
                }
            }
        }
        Some(record)
    }

    /// Batch-reads associations for records that came from search.
    async fn read_associations(
        &mut self,
        kind: ObjectKind,
        records: &mut [CrmRecord],
    ) -> Result<(), ConnectorError> {
        if records.is_empty() {
            return Ok(());
        }
        for target in association_targets(kind) {
            if !self.opts.objects.contains(target) {
                continue;
            }
            let inputs: Vec<Value> = records.iter().map(|r| json!({"id": r.id})).collect();
            let body = json!({ "inputs": inputs });
            let path = format!(
                "/crm/v3/associations/{}/{}/batch/read",
                kind.plural(),
                target.plural()
            );
            let response = self.call(Method::POST, &path, Some(&body)).await?;
            for result in response.body["results"].as_array().into_iter().flatten() {
                let Some(from) = json_text(&result["from"]["id"]) else {
                    continue;
                };
                let Some(record) = records.iter_mut().find(|r| r.id == from) else {
                    continue;
                };
                for to in result["to"].as_array().into_iter().flatten() {
                    if let Some(to_id) = json_text(&to["id"]) {
                        record.associate(*target, to_id);
                    }
                }
            }
        }
        Ok(())
    }

    /// Makes sure every associated company, contact and deal has a summary.
    async fn resolve(&mut self, records: &[CrmRecord]) -> Result<(), ConnectorError> {
        let free_mail = self.opts.free_mail_domains.clone();
        for record in records {
            self.directory
                .insert(record.object(), &record.id, record.summary(&free_mail));
        }
        for target in [ObjectKind::Company, ObjectKind::Contact, ObjectKind::Deal] {
            let mut missing: Vec<String> = records
                .iter()
                .flat_map(|r| r.associations.iter())
                .filter(|(k, id)| *k == target && !self.directory.contains(*k, id))
                .map(|(_, id)| id.clone())
                .collect();
            missing.sort();
            missing.dedup();
            for ids in missing.chunks(100) {
                let inputs: Vec<Value> = ids.iter().map(|id| json!({"id": id})).collect();
                let body = json!({
                    "properties": summary_properties(target),
                    "inputs": inputs,
                });
                let path = format!("/crm/v3/objects/{}/batch/read", target.plural());
                let response = self.call(Method::POST, &path, Some(&body)).await?;
                for object in response.body["results"].as_array().into_iter().flatten() {
                    if let Some(found) = self.record(target, object) {
                        self.directory
                            .insert(target, &found.id, found.summary(&free_mail));
                    }
                }
                // Ids the server does not know (deleted since) are remembered as unnamed.
                for id in ids {
                    if !self.directory.contains(target, id) {
                        self.directory.insert(target, id, Summary::default());
                    }
                }
            }
        }
        Ok(())
    }

    fn locator(&self, kind: ObjectKind, id: &str) -> String {
        match &self.opts.portal_id {
            Some(portal) => {
                let type_id = match kind {
                    ObjectKind::Contact => "0-1",
                    ObjectKind::Company => "0-2",
                    ObjectKind::Deal => "0-3",
                    ObjectKind::Task => "0-27",
                    ObjectKind::Note => "0-46",
                    ObjectKind::Meeting => "0-47",
                    ObjectKind::Call => "0-48",
                };
                format!("https://app.hubspot.com/contacts/{portal}/record/{type_id}/{id}")
            }
            None => format!(
                "{}/crm/v3/objects/{}/{id}",
                self.opts.base_url,
                kind.plural()
            ),
        }
    }

    fn items(&self, records: &[CrmRecord], known: &HashMap<String, Option<String>>) -> Vec<Item> {
        let mut seen = HashSet::new();
        records
            .iter()
            .filter(|r| {
                let ext = r.external_id();
                // Overlapping searches see records again: skip what the store holds as is.
                seen.insert(ext.clone())
                    && known.get(&ext).and_then(|v| v.as_deref()) != Some(r.version.as_str())
            })
            .map(|r| {
                record_item(
                    r,
                    &self.directory,
                    &self.opts.free_mail_domains,
                    self.locator(r.object(), &r.id),
                )
            })
            .collect()
    }

    async fn pull_inner(
        &mut self,
        cursor: Option<&Cursor>,
        ctx: &SyncContext,
    ) -> Result<Batch, ConnectorError> {
        let mut state: State = match cursor {
            Some(c) => serde_json::from_str(c.as_str()).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "unreadable hubspot cursor, starting over");
                State::default()
            }),
            None => State::default(),
        };
        state.v = 1;
        let pos = match state.pos.take() {
            Some(pos) if ObjectKind::parse(&pos.object).is_some() => pos,
            _ => {
                // A new pass: credentials and owners are read again.
                self.token = None;
                self.owners = None;
                let kind = self.opts.objects[0];
                Pos {
                    object: kind.plural().to_owned(),
                    step: self.first_step(&state, kind),
                }
            }
        };
        self.ensure_token().await?;
        self.load_owners().await?;
        let kind = ObjectKind::parse(&pos.object).unwrap_or(self.opts.objects[0]);
        let known = ctx.known.versions()?;
        let limit = self.opts.page_size;
        let props = self.properties(kind).join(",");
        let mut batch = Batch::default();
        let next_step: Option<Step> = match pos.step {
            Step::List { after, started_ms } => {
                let assocs: Vec<&str> = association_targets(kind)
                    .iter()
                    .filter(|t| self.opts.objects.contains(t))
                    .map(|t| t.plural())
                    .collect();
                let mut path = format!(
                    "/crm/v3/objects/{}?limit={limit}&archived=false&properties={}",
                    kind.plural(),
                    encode(&props)
                );
                if !assocs.is_empty() {
                    path.push_str(&format!("&associations={}", encode(&assocs.join(","))));
                }
                if let Some(a) = &after {
                    path.push_str(&format!("&after={}", encode(a)));
                }
                let response = self.call(Method::GET, &path, None).await?;
                let started_ms = started_ms
                    .or(response.date_ms)
                    .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
                let records: Vec<CrmRecord> = response.body["results"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|o| self.record(kind, o))
                    .collect();
                self.resolve(&records).await?;
                batch.upserts = self.items(&records, &known);
                match next_after(&response.body) {
                    Some(after) => Some(Step::List {
                        after: Some(after),
                        started_ms: Some(started_ms),
                    }),
                    None => {
                        // Everything changed before the listing began is stored now.
                        state.since.insert(kind.plural().to_owned(), started_ms);
                        None
                    }
                }
            }
            Step::Search {
                after,
                from_ms,
                max_ms,
            } => {
                let modified = modified_property(kind);
                let mut body = json!({
                    "filterGroups": [{"filters": [{
                        "propertyName": modified,
                        "operator": "GTE",
                        "value": from_ms.to_string(),
                    }]}],
                    "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
                    "properties": self.properties(kind),
                    "limit": limit,
                });
                if let Some(a) = &after {
                    body["after"] = json!(a);
                }
                let path = format!("/crm/v3/objects/{}/search", kind.plural());
                let response = self.call(Method::POST, &path, Some(&body)).await?;
                let mut records: Vec<CrmRecord> = response.body["results"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|o| self.record(kind, o))
                    .collect();
                let page_max = records.iter().filter_map(|r| r.updated_ms).max();
                let max_ms = page_max.map_or(max_ms, |m| m.max(max_ms));
                self.read_associations(kind, &mut records).await?;
                self.resolve(&records).await?;
                batch.upserts = self.items(&records, &known);
                match next_after(&response.body) {
                    // Keyset paging: the next page is a new search from the newest time seen.
                    // Offset paging over a set sorted by modification time skips records
                    // when one that was already read changes (it moves to the end and shifts
                    // the rest forward); a new search from the newest time cannot skip any,
                    // and what it sees again is skipped by version.
                    Some(_) if page_max.is_some_and(|m| m > from_ms) => Some(Step::Search {
                        after: None,
                        from_ms: page_max.unwrap_or(from_ms),
                        max_ms,
                    }),
                    // A whole page at one millisecond: offsets within that millisecond.
                    Some(next)
                        if next.parse::<usize>().unwrap_or(usize::MAX) + limit
                            <= self.opts.search_cap =>
                    {
                        Some(Step::Search {
                            after: Some(next),
                            from_ms,
                            max_ms,
                        })
                    }
                    // More changes in one millisecond than search returns: list everything.
                    Some(_) => Some(Step::List {
                        after: None,
                        started_ms: None,
                    }),
                    None => {
                        state.since.insert(kind.plural().to_owned(), max_ms);
                        Some(Step::Archived { after: None })
                    }
                }
            }
            Step::Archived { after } => {
                let mut path = format!(
                    "/crm/v3/objects/{}?limit={limit}&archived=true&properties={}",
                    kind.plural(),
                    modified_property(kind)
                );
                if let Some(a) = &after {
                    path.push_str(&format!("&after={}", encode(a)));
                }
                let response = self.call(Method::GET, &path, None).await?;
                for object in response.body["results"].as_array().into_iter().flatten() {
                    if let Some(id) = json_text(&object["id"]) {
                        let ext = crate::model::external_id(kind, &id);
                        if known.contains_key(&ext) && !batch.deletes.contains(&ext) {
                            batch.deletes.push(ext);
                        }
                    }
                }
                next_after(&response.body).map(|a| Step::Archived { after: Some(a) })
            }
        };
        state.pos = match next_step {
            Some(step) => Some(Pos {
                object: kind.plural().to_owned(),
                step,
            }),
            None => self
                .opts
                .objects
                .iter()
                .skip_while(|k| **k != kind)
                .nth(1)
                .map(|next| Pos {
                    object: next.plural().to_owned(),
                    step: self.first_step(&state, *next),
                }),
        };
        batch.has_more = state.pos.is_some();
        batch.cursor = Some(Cursor(
            serde_json::to_string(&state).map_err(|e| ConnectorError::permanent(e.to_string()))?,
        ));
        tracing::debug!(
            object = kind.plural(),
            upserts = batch.upserts.len(),
            deletes = batch.deletes.len(),
            has_more = batch.has_more,
            "hubspot page"
        );
        Ok(batch)
    }
}

#[async_trait::async_trait]
impl Connector for HubSpotConnector {
    fn type_name(&self) -> &'static str {
        "hubspot"
    }

    #[tracing::instrument(name = "hubspot_pull", skip_all)]
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

/// `paging.next.after` of a list or search answer.
fn next_after(body: &Value) -> Option<String> {
    json_text(&body["paging"]["next"]["after"])
}

/// A JSON string or number as text (HubSpot ids are strings, some APIs send numbers).
pub fn json_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `2026-12-07T16:50:06.678Z` → `2026-12-07`.
fn date_only(value: &str) -> String {
    match parse_time_ms(value).and_then(chrono::DateTime::from_timestamp_millis) {
        Some(dt) if value.len() > 10 => dt.format("%Y-%m-%d").to_string(),
        _ => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips() {
        let mut state = State {
            v: 1,
            ..State::default()
        };
        state.since.insert("deals".into(), 17);
        state.pos = Some(Pos {
            object: "deals".into(),
            step: Step::Search {
                after: Some("100".into()),
                from_ms: 5,
                max_ms: 17,
            },
        });
        let text = serde_json::to_string(&state).unwrap();
        assert_eq!(serde_json::from_str::<State>(&text).unwrap(), state);
        assert_eq!(date_only("2026-12-07T16:50:06.678Z"), "2026-12-07");
        assert_eq!(date_only("2026-12-07"), "2026-12-07");
    }
}
