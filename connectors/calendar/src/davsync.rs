//! The `caldav` and `carddav` connectors (RFC 4791, RFC 6352, RFC 6578 `sync-collection`).
//!
//! # Discovery
//!
//! `PROPFIND` (Depth 0) on the configured URL for `current-user-principal` (falling back to the
//! URL itself), then on the principal for `calendar-home-set` / `addressbook-home-set`, then
//! `PROPFIND` (Depth 1) on each home set and on the configured URL itself for collections whose
//! `resourcetype` is `calendar` (supporting `VEVENT` or `VTODO`) / `addressbook`. Discovery runs
//! at the start of every pass, so new collections are picked up. `calendars` (the `collections`
//! option) keeps only collections whose display name (or last path segment) is listed.
//!
//! # Identity
//!
//! Deletions arrive by href (`sync-collection` reports a `404` member), so the external id is the
//! resource's absolute path on the server (`/dav/me/work/abc.ics`, that is
//! `"{collection}/{resource name}"`), not the `UID`: one item per resource. A CalDAV resource
//! holds one `UID` (the series and its overrides) by RFC 4791 §4.1; should a server put more in
//! one, the item lists them all. The version is the resource's `ETag` — followed, for a
//! recurring series, by the day it was rendered, because its next occurrence and its window of
//! occurrences move on with the calendar: a series rendered on an earlier day is fetched and
//! rendered again by the day's first pass though the server did not change it.
//!
//! # Sync
//!
//! The cursor is a JSON map collection path → sync token. With a token, `REPORT sync-collection`
//! yields the changed members (fetched with `calendar-multiget` / `addressbook-multiget`) and the
//! removed ones (deletes). Without one (first run, new collection, after
//! [`ErrorKind::CursorExpired`]) a full pass lists every member (`sync-collection` with an empty
//! token, or `PROPFIND getetag` where unsupported), fetches those whose `ETag` differs from
//! [`KnownState`] and deletes known items no longer listed. A `403`/`409` with the
//! `valid-sync-token` precondition, or an unreadable cursor, is [`ErrorKind::CursorExpired`]. The
//! new cursor is handed out with the last batch of a pass only, so a crash mid-pass repeats the
//! pass (unchanged items are skipped by `ETag`). `401` is [`ErrorKind::Auth`]; `5xx`, `429` and
//! network failures are [`ErrorKind::Transient`].

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use chrono::Utc;
use ctx_connector_api::{
    Batch, Connector, ConnectorError, Cursor, ErrorKind, Item, Progress, SyncContext, Wake,
};
use reqwest::{StatusCode, Url};

use crate::CalendarError;
use crate::dav::{
    Auth, DavResponse, MultiStatus, NS_CALDAV, NS_CARDDAV, NS_DAV, PasswordSource,
    expect_multistatus, is_invalid_sync_token, send, xml_escape,
};
use crate::ical::parse_calendar_in;

/// Separates a resource's `ETag` from the day a recurring series was rendered in its version.
const RENDERED_ON: &str = "#rendered-";
use crate::item::{RenderOptions, group, series_item};
use crate::vcf::{contact_item, parse_vcards};

/// Which protocol a [`DavConnector`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DavKind {
    /// CalDAV: events and to-dos.
    CalDav,
    /// CardDAV: contacts.
    CardDav,
}

impl DavKind {
    fn type_name(self) -> &'static str {
        match self {
            DavKind::CalDav => "caldav",
            DavKind::CardDav => "carddav",
        }
    }

    fn ns(self) -> &'static str {
        match self {
            DavKind::CalDav => NS_CALDAV,
            DavKind::CardDav => NS_CARDDAV,
        }
    }

    fn home_set(self) -> &'static str {
        match self {
            DavKind::CalDav => "calendar-home-set",
            DavKind::CardDav => "addressbook-home-set",
        }
    }

    fn collection_type(self) -> &'static str {
        match self {
            DavKind::CalDav => "calendar",
            DavKind::CardDav => "addressbook",
        }
    }

    fn multiget(self) -> &'static str {
        match self {
            DavKind::CalDav => "calendar-multiget",
            DavKind::CardDav => "addressbook-multiget",
        }
    }

    fn data(self) -> &'static str {
        match self {
            DavKind::CalDav => "calendar-data",
            DavKind::CardDav => "address-data",
        }
    }
}

/// Configuration of a [`DavConnector`].
#[derive(Clone)]
pub struct DavOptions {
    /// The server, principal, home set or collection URL (`https://`, or `http://` on loopback).
    pub url: String,
    /// Basic-auth user; `None`: no authentication.
    pub user: Option<String>,
    /// The password, resolved at the start of every pass.
    pub password: Option<PasswordSource>,
    /// Display names (or last path segments) of the collections to mirror; empty: all.
    pub collections: Vec<String>,
    /// Time between passes (default 15 min).
    pub poll_interval: Duration,
    /// Resources fetched per batch (default 100).
    pub batch_size: usize,
    /// Timeout of one HTTP request (default 60 s).
    pub http_timeout: Duration,
    pub render: RenderOptions,
}

impl DavOptions {
    pub fn new(url: impl Into<String>) -> Self {
        DavOptions {
            url: url.into(),
            user: None,
            password: None,
            collections: Vec::new(),
            poll_interval: Duration::from_secs(15 * 60),
            batch_size: 100,
            http_timeout: Duration::from_secs(60),
            render: RenderOptions::default(),
        }
    }
}

impl std::fmt::Debug for DavOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DavOptions")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("collections", &self.collections)
            .field("poll_interval", &self.poll_interval)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

/// A calendar or address book found by discovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavCollection {
    /// Absolute path, ending in `/`.
    pub path: String,
    pub display_name: Option<String>,
}

impl DavCollection {
    fn name(&self) -> String {
        self.display_name.clone().unwrap_or_else(|| {
            self.path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
    }
}

/// A resource to fetch.
#[derive(Debug, Clone)]
struct Pending {
    collection: String,
    collection_name: String,
    href: String,
}

/// The work of the current pass.
struct Plan {
    /// The cursor the pass started from; a pull with another cursor starts over.
    from: Option<String>,
    auth: Auth,
    fetch: VecDeque<Pending>,
    deletes: Vec<String>,
    known: HashSet<String>,
    cursor: String,
    done: u64,
    total: u64,
}

/// Deletes carried per batch.
const MAX_DELETES_PER_BATCH: usize = 10_000;
/// Rounds of a truncated (`507`) `sync-collection` followed in one pass.
const MAX_SYNC_ROUNDS: usize = 1_000;

/// A CalDAV or CardDAV account; see the module docs.
pub struct DavConnector {
    kind: DavKind,
    opts: DavOptions,
    base: Url,
    http: reqwest::Client,
    plan: Option<Plan>,
}

impl DavConnector {
    pub fn caldav(options: DavOptions) -> Result<Self, CalendarError> {
        Self::new(DavKind::CalDav, options)
    }

    pub fn carddav(options: DavOptions) -> Result<Self, CalendarError> {
        Self::new(DavKind::CardDav, options)
    }

    pub fn new(kind: DavKind, options: DavOptions) -> Result<Self, CalendarError> {
        let bad = |reason: &str| CalendarError::BadUrl {
            url: options.url.clone(),
            reason: reason.to_owned(),
        };
        let mut base = Url::parse(options.url.trim()).map_err(|e| bad(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(bad("only http:// and https:// URLs are supported"));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let http = crate::ics::http_client(options.http_timeout)?;
        Ok(DavConnector {
            kind,
            opts: options,
            base,
            http,
            plan: None,
        })
    }

    fn auth(&self) -> Result<Auth, ConnectorError> {
        let password = match &self.opts.password {
            None => None,
            Some(source) => Some(source().map_err(|e| {
                ConnectorError::new(ErrorKind::Auth, format!("cannot get the password: {e}"))
            })?),
        };
        Ok(Auth {
            user: self.opts.user.clone(),
            password,
        })
    }

    fn url(&self, path: &str) -> Result<Url, ConnectorError> {
        self.base
            .join(path)
            .map_err(|e| ConnectorError::permanent(format!("bad href {path:?}: {e}")))
    }

    async fn propfind(
        &self,
        auth: &Auth,
        url: &Url,
        depth: &str,
        props: &str,
    ) -> Result<MultiStatus, ConnectorError> {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:propfind xmlns:D=\"DAV:\" \
             xmlns:C=\"{NS_CALDAV}\" xmlns:A=\"{NS_CARDDAV}\"><D:prop>{props}</D:prop></D:propfind>"
        );
        let (status, text) = send(&self.http, auth, "PROPFIND", url, Some(depth), body).await?;
        expect_multistatus("PROPFIND", url, status, &text)
    }

    /// Finds the calendars (CalDAV) or address books (CardDAV) of the account.
    pub async fn discover(&self) -> Result<Vec<DavCollection>, ConnectorError> {
        let auth = self.auth()?;
        self.discover_with(&auth).await
    }

    async fn discover_with(&self, auth: &Auth) -> Result<Vec<DavCollection>, ConnectorError> {
        let kind = self.kind;
        let principal = self
            .propfind(auth, &self.base, "0", "<D:current-user-principal/>")
            .await?
            .responses
            .iter()
            .flat_map(|r| r.prop_hrefs(NS_DAV, "current-user-principal", &self.base))
            .next();
        let principal = match principal {
            Some(path) => self.url(&path)?,
            None => self.base.clone(),
        };
        let prefix = if kind == DavKind::CalDav { "C" } else { "A" };
        let home_prop = format!("<{prefix}:{}/>", kind.home_set());
        let mut homes: Vec<String> = match self.propfind(auth, &principal, "0", &home_prop).await {
            Ok(ms) => ms
                .responses
                .iter()
                .flat_map(|r| r.prop_hrefs(kind.ns(), kind.home_set(), &principal))
                .collect(),
            Err(e) if matches!(e.kind, ErrorKind::Auth | ErrorKind::Transient) => return Err(e),
            Err(e) => {
                tracing::debug!(reason = %e, "no home set; looking below the URL only");
                Vec::new()
            }
        };
        homes.push(self.base.path().to_owned());
        homes.dedup();
        let props = "<D:resourcetype/><D:displayname/><C:supported-calendar-component-set/>";
        let mut found: BTreeMap<String, DavCollection> = BTreeMap::new();
        let mut seen = HashSet::new();
        for home in homes {
            if !seen.insert(home.clone()) {
                continue;
            }
            let url = self.url(&home)?;
            let ms = match self.propfind(auth, &url, "1", props).await {
                Ok(ms) => ms,
                Err(e) if e.kind == ErrorKind::Config && home == self.base.path() => {
                    return Err(e);
                }
                Err(e) if matches!(e.kind, ErrorKind::Auth | ErrorKind::Transient) => {
                    return Err(e);
                }
                Err(e) => {
                    tracing::warn!(home = %home, reason = %e, "cannot list collections");
                    continue;
                }
            };
            for r in &ms.responses {
                if is_wanted_collection(kind, r) {
                    let mut path = r.href.clone();
                    if !path.ends_with('/') {
                        path.push('/');
                    }
                    let display_name = r
                        .prop(NS_DAV, "displayname")
                        .map(|d| d.text.trim().to_owned())
                        .filter(|d| !d.is_empty());
                    found.insert(path.clone(), DavCollection { path, display_name });
                }
            }
        }
        let wanted = &self.opts.collections;
        Ok(found
            .into_values()
            .filter(|c| {
                wanted.is_empty() || {
                    let name = c.name();
                    let last = c.path.trim_end_matches('/').rsplit('/').next();
                    wanted
                        .iter()
                        .any(|w| w.eq_ignore_ascii_case(&name) || Some(w.as_str()) == last)
                }
            })
            .collect())
    }

    /// `REPORT sync-collection` from `token` (empty: everything), following truncated answers.
    /// `Ok(None)`: the server does not support it (only asked with an empty token).
    async fn sync_collection(
        &self,
        auth: &Auth,
        collection: &DavCollection,
        token: &str,
    ) -> Result<Option<(Vec<DavResponse>, String)>, ConnectorError> {
        let url = self.url(&collection.path)?;
        let mut token = token.to_owned();
        let mut out = Vec::new();
        for _ in 0..MAX_SYNC_ROUNDS {
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:sync-collection xmlns:D=\"DAV:\">\
                 <D:sync-token>{}</D:sync-token><D:sync-level>1</D:sync-level>\
                 <D:prop><D:getetag/><D:resourcetype/></D:prop></D:sync-collection>",
                xml_escape(&token)
            );
            let (status, text) = send(&self.http, auth, "REPORT", &url, Some("0"), body).await?;
            if matches!(status, StatusCode::FORBIDDEN | StatusCode::CONFLICT)
                && is_invalid_sync_token(&text)
            {
                return Err(ConnectorError::new(
                    ErrorKind::CursorExpired,
                    format!(
                        "{} no longer honours the stored sync token; resyncing",
                        collection.path
                    ),
                ));
            }
            if token.is_empty() && !status.is_success() && status != StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let ms = expect_multistatus("REPORT sync-collection", &url, status, &text)?;
            let mut truncated = false;
            for r in ms.responses {
                if r.href == collection.path || r.href == collection.path.trim_end_matches('/') {
                    truncated |= r.status == Some(507);
                    continue;
                }
                out.push(r);
            }
            let Some(next) = ms.sync_token else {
                if token.is_empty() {
                    return Ok(None);
                }
                return Err(ConnectorError::permanent(format!(
                    "{} answered sync-collection without a sync token",
                    collection.path
                )));
            };
            token = next;
            if !truncated {
                return Ok(Some((out, token)));
            }
        }
        Err(ConnectorError::permanent(format!(
            "{}: sync-collection did not finish after {MAX_SYNC_ROUNDS} rounds",
            collection.path
        )))
    }

    /// Plans a pass from `cursor`.
    async fn make_plan(
        &self,
        cursor: Option<&Cursor>,
        ctx: &SyncContext,
    ) -> Result<Plan, ConnectorError> {
        let tokens: BTreeMap<String, String> = match cursor {
            None => BTreeMap::new(),
            Some(c) => serde_json::from_str(c.as_str()).map_err(|e| {
                ConnectorError::new(
                    ErrorKind::CursorExpired,
                    format!("unreadable {} cursor: {e}", self.kind.type_name()),
                )
            })?,
        };
        let auth = self.auth()?;
        let known: HashMap<String, Option<String>> = ctx.known.versions()?;
        let collections = self.discover_with(&auth).await?;
        let mut new_tokens = BTreeMap::new();
        let mut fetch = VecDeque::new();
        let mut deletes = Vec::new();
        let today = Utc::now().date_naive().to_string();
        // Unchanged: same ETag and, for a recurring series, rendered today.
        let unchanged = |href: &str, etag: &Option<String>| {
            let Some(etag) = etag else { return false };
            known.get(href).and_then(|v| v.as_deref()).is_some_and(|v| {
                match v.split_once(RENDERED_ON) {
                    Some((known_etag, day)) => known_etag == etag && day == today,
                    None => v == etag,
                }
            })
        };
        let stale_series = |href: &str| {
            known
                .get(href)
                .and_then(|v| v.as_deref())
                .and_then(|v| v.split_once(RENDERED_ON))
                .is_some_and(|(_, day)| day != today)
        };
        for collection in &collections {
            let pending = |href: &str| Pending {
                collection: collection.path.clone(),
                collection_name: collection.name(),
                href: href.to_owned(),
            };
            if let Some(token) = tokens.get(&collection.path) {
                let Some((changes, next)) = self.sync_collection(&auth, collection, token).await?
                else {
                    return Err(ConnectorError::new(
                        ErrorKind::CursorExpired,
                        format!("{} stopped answering sync-collection", collection.path),
                    ));
                };
                let mut seen = HashSet::new();
                for r in changes {
                    if !seen.insert(r.href.clone()) {
                        continue;
                    }
                    if r.status == Some(404) {
                        if known.contains_key(&r.href) {
                            deletes.push(r.href);
                        }
                    } else if !r.is_collection() && !unchanged(&r.href, &r.etag()) {
                        fetch.push_back(pending(&r.href));
                    }
                }
                // Recurring series rendered on an earlier day, though unchanged on the server.
                let mut stale: Vec<&String> = known
                    .keys()
                    .filter(|id| {
                        id.starts_with(&collection.path)
                            && !id[collection.path.len()..].contains('/')
                            && !seen.contains(*id)
                            && stale_series(id)
                    })
                    .collect();
                stale.sort();
                fetch.extend(stale.into_iter().map(|id| pending(id)));
                new_tokens.insert(collection.path.clone(), next);
                continue;
            }
            // A full listing.
            let listed: Vec<DavResponse> = match self.sync_collection(&auth, collection, "").await?
            {
                Some((members, next)) => {
                    new_tokens.insert(collection.path.clone(), next);
                    members
                }
                None => {
                    let url = self.url(&collection.path)?;
                    self.propfind(&auth, &url, "1", "<D:getetag/><D:resourcetype/>")
                        .await?
                        .responses
                        .into_iter()
                        .filter(|r| r.href != collection.path)
                        .collect()
                }
            };
            let mut live = HashSet::new();
            for r in listed {
                if r.status == Some(404) || r.is_collection() || !live.insert(r.href.clone()) {
                    continue;
                }
                if !unchanged(&r.href, &r.etag()) {
                    fetch.push_back(pending(&r.href));
                }
            }
            for id in known.keys() {
                if id.starts_with(&collection.path)
                    && !id[collection.path.len()..].contains('/')
                    && !live.contains(id)
                {
                    deletes.push(id.clone());
                }
            }
        }
        // Items of collections that are gone (or no longer selected).
        for id in known.keys() {
            if !collections.iter().any(|c| id.starts_with(&c.path)) {
                deletes.push(id.clone());
            }
        }
        deletes.sort();
        deletes.dedup();
        let cursor = serde_json::to_string(&new_tokens)
            .map_err(|e| ConnectorError::permanent(format!("cannot write the cursor: {e}")))?;
        tracing::debug!(
            kind = self.kind.type_name(),
            collections = collections.len(),
            to_fetch = fetch.len(),
            to_delete = deletes.len(),
            "dav pass planned"
        );
        Ok(Plan {
            from: None,
            auth,
            total: fetch.len() as u64,
            fetch,
            deletes,
            known: known.into_keys().collect(),
            cursor,
            done: 0,
        })
    }

    /// Fetches `hrefs` (all in `collection`) with a multiget; returns items and vanished hrefs.
    async fn multiget(
        &self,
        auth: &Auth,
        chunk: &[Pending],
    ) -> Result<(Vec<Item>, Vec<String>), ConnectorError> {
        let Some(first) = chunk.first() else {
            return Ok((Vec::new(), Vec::new()));
        };
        let kind = self.kind;
        let url = self.url(&first.collection)?;
        let prefix = if kind == DavKind::CalDav { "C" } else { "A" };
        let mut body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<{prefix}:{m} xmlns:D=\"DAV:\" \
             xmlns:{prefix}=\"{ns}\"><D:prop><D:getetag/><{prefix}:{data}/></D:prop>",
            m = kind.multiget(),
            ns = kind.ns(),
            data = kind.data(),
        );
        for p in chunk {
            body.push_str(&format!("<D:href>{}</D:href>", xml_escape(&p.href)));
        }
        body.push_str(&format!("</{prefix}:{}>", kind.multiget()));
        let (status, text) = send(&self.http, auth, "REPORT", &url, Some("0"), body).await?;
        let ms = expect_multistatus(kind.multiget(), &url, status, &text)?;
        let now = Utc::now();
        let mut items = Vec::new();
        let mut gone = Vec::new();
        let mut answered = HashSet::new();
        for r in ms.responses {
            let Some(p) = chunk.iter().find(|p| p.href == r.href) else {
                continue;
            };
            answered.insert(r.href.clone());
            let data = r.prop(kind.ns(), kind.data()).map(|d| d.text.clone());
            let Some(data) = data.filter(|_| r.status.is_none_or(|s| (200..300).contains(&s)))
            else {
                gone.push(r.href);
                continue;
            };
            let locator = self.url(&r.href).map(|u| u.to_string()).unwrap_or_default();
            let item = match kind {
                DavKind::CalDav => calendar_item(&data, now, &self.opts.render, &locator),
                DavKind::CardDav => contact_resource_item(&data, &locator),
            };
            match item {
                Some(mut item) => {
                    item.external_id = r.href.clone();
                    item.version = r.etag().map(|etag| {
                        // A recurring series' rendering (next occurrence, the occurrence window)
                        // depends on the day: its version says which, so the next day's pass
                        // fetches and renders it again though the resource is unchanged.
                        if item.fields.iter().any(|(name, _)| name == "occurrences") {
                            format!("{etag}{RENDERED_ON}{}", now.date_naive())
                        } else {
                            etag
                        }
                    });
                    let field = if kind == DavKind::CalDav {
                        "calendar"
                    } else {
                        "address book"
                    };
                    item.fields
                        .push((field.to_owned(), p.collection_name.clone()));
                    items.push(item);
                }
                None => {
                    tracing::warn!(href = %r.href, "resource holds nothing readable; skipped");
                    gone.push(r.href);
                }
            }
        }
        for p in chunk {
            if !answered.contains(&p.href) {
                gone.push(p.href.clone());
            }
        }
        Ok((items, gone))
    }
}

fn is_wanted_collection(kind: DavKind, r: &DavResponse) -> bool {
    let Some(rt) = r.prop(NS_DAV, "resourcetype") else {
        return false;
    };
    if rt.child(kind.ns(), kind.collection_type()).is_none() {
        return false;
    }
    if kind == DavKind::CalDav
        && let Some(set) = r.prop(NS_CALDAV, "supported-calendar-component-set")
    {
        let comps: Vec<&str> = set
            .children_named(NS_CALDAV, "comp")
            .filter_map(|c| c.attr("name"))
            .collect();
        if !comps.is_empty()
            && !comps
                .iter()
                .any(|c| c.eq_ignore_ascii_case("VEVENT") || c.eq_ignore_ascii_case("VTODO"))
        {
            return false;
        }
    }
    true
}

/// One item for a calendar resource: its series (normally exactly one `UID`).
fn calendar_item(
    data: &str,
    now: chrono::DateTime<Utc>,
    render: &RenderOptions,
    locator: &str,
) -> Option<Item> {
    let cal = parse_calendar_in(data, render.floating_zone);
    let series = group(&cal.entries);
    let mut items = series.iter().map(|s| series_item(s, now, render, locator));
    let mut item = items.next()?;
    for other in items {
        item.body.push_str("\n\n");
        item.body.push_str(&other.body);
        item.people.extend(other.people);
        item.organizations.extend(other.organizations);
        item.links.extend(other.links);
    }
    Some(item)
}

/// One item for a vCard resource (normally exactly one card).
fn contact_resource_item(data: &str, locator: &str) -> Option<Item> {
    let (contacts, _) = parse_vcards(data);
    let mut items = contacts.iter().map(|c| contact_item(c, &c.uid, locator));
    let mut item = items.next()?;
    for other in items {
        item.body.push_str("\n\n");
        item.body.push_str(&other.body);
        item.people.extend(other.people);
        item.organizations.extend(other.organizations);
    }
    Some(item)
}

#[async_trait::async_trait]
impl Connector for DavConnector {
    fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }

    async fn pull(
        &mut self,
        cursor: Option<&Cursor>,
        ctx: &SyncContext,
    ) -> Result<Batch, ConnectorError> {
        let from = cursor.map(|c| c.as_str().to_owned());
        // Batches of a pass leave the stored cursor alone, so a pull with another cursor means
        // the daemon reset it (or restored another state): plan afresh.
        let stale = self.plan.as_ref().is_some_and(|p| p.from != from);
        if self.plan.is_none() || stale {
            self.plan = None;
            let mut plan = self.make_plan(cursor, ctx).await?;
            plan.from = from;
            self.plan = Some(plan);
        }
        let Some(plan) = self.plan.as_ref() else {
            return Err(ConnectorError::transient("no plan"));
        };
        // The next chunk: up to batch_size resources of one collection.
        let mut chunk: Vec<Pending> = Vec::new();
        for p in plan.fetch.iter() {
            if chunk.len() >= self.opts.batch_size.max(1)
                || chunk.first().is_some_and(|f| f.collection != p.collection)
            {
                break;
            }
            chunk.push(p.clone());
        }
        let (items, gone) = self.multiget(&plan.auth, &chunk).await?;
        let Some(plan) = self.plan.as_mut() else {
            return Err(ConnectorError::transient("no plan"));
        };
        plan.fetch.drain(..chunk.len());
        plan.done += chunk.len() as u64;
        let take = plan.deletes.len().min(MAX_DELETES_PER_BATCH);
        let mut deletes: Vec<String> = plan.deletes.drain(..take).collect();
        deletes.extend(gone.into_iter().filter(|h| plan.known.contains(h)));
        let mut batch = Batch {
            upserts: items,
            deletes,
            cursor: None,
            has_more: !plan.fetch.is_empty() || !plan.deletes.is_empty(),
            progress: (plan.total > 0).then_some(Progress {
                done: plan.done,
                total: plan.total,
            }),
        };
        if !batch.has_more {
            batch.cursor = Some(Cursor(plan.cursor.clone()));
            self.plan = None;
        }
        Ok(batch)
    }

    async fn wait_for_change(&mut self) -> Result<Wake, ConnectorError> {
        // CalDAV/CardDAV offer no push that works everywhere: poll.
        tokio::time::sleep(self.opts.poll_interval).await;
        Ok(Wake::Changed)
    }
}
