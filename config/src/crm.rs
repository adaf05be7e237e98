//! CRM connector files: `hubspot`, `crm_rest` and `crm_export`.
//!
//! Object names and mapping targets are validated here so that `ctx config check` catches a
//! typo with its line and column; the lists equal those of `ctx-connector-crm` (a daemon test
//! checks that they stay equal).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;
use toml::Spanned;

use crate::connector::{ConnectorSettings, duration, is_loopback_host, positive_size};
use crate::error::{ConfigError, Doc, backticked, suggest};
use crate::secret::{Secret, secret_pair};
use crate::value::{DurationText, SizeValue, expand_path};

/// CRM object types, plural as in HubSpot paths and external ids.
pub const CRM_OBJECTS: &[&str] = &[
    "companies",
    "contacts",
    "deals",
    "notes",
    "calls",
    "meetings",
    "tasks",
];

/// What a field mapping may fill (equal to `ctx_connector_crm::export::MAPPING_TARGETS`),
/// plus `extra.NAME` for fields shown as they are.
pub const CRM_MAPPING_TARGETS: &[&str] = &[
    "id",
    "updated_at",
    "timestamp",
    "company_id",
    "contact_ids",
    "deal_id",
    "name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "company",
    "domain",
    "industry",
    "stage",
    "amount",
    "close_date",
    "pipeline",
    "owner_email",
    "owner",
    "subject",
    "body",
    "status",
    "url",
];

/// Defaults of CRM connectors.
pub mod crm_defaults {
    use std::time::Duration;
    /// APIs are asked for changes this often.
    pub const POLL_INTERVAL: Duration = Duration::from_secs(10 * 60);
    /// Incremental queries start this long before the watermark (search indexes lag writes).
    pub const OVERLAP: Duration = Duration::from_secs(5 * 60);
    pub const PAGE_SIZE: usize = 100;
    pub const HUBSPOT_URL: &str = "https://api.hubapi.com";
    pub const MAX_FILE_SIZE: u64 = 512 * 1024 * 1024;
}

/// Settings of a `hubspot` connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSpotSettings {
    /// API root; `https://api.hubapi.com` unless testing.
    pub base_url: String,
    /// The private-app or OAuth access token (`token_command` / `token_env`).
    pub token: Secret,
    /// Object types to mirror (plural names), in sync order.
    pub objects: Vec<String>,
    /// Extra properties per object type (`[properties] deals = ["hs_priority"]`).
    pub properties: BTreeMap<String, Vec<String>>,
    pub page_size: usize,
    pub overlap: Duration,
    /// The HubSpot account id, for links that open records in the web app.
    pub portal_id: Option<String>,
}

/// How a `crm_rest` connector authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestAuth {
    /// No credentials.
    None,
    /// `Authorization: Bearer TOKEN`.
    Bearer(Secret),
    /// `HEADER: TOKEN`.
    Header(String, Secret),
    /// `?PARAM=TOKEN`.
    Query(String, Secret),
}

/// How a `crm_rest` API pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestPaginationSettings {
    /// The answer holds an opaque cursor (at `next`) sent back as `param`.
    Cursor { param: String, next: String },
    /// `param` is the index of the first record (the next one at `next`, else counted).
    Offset { param: String, next: Option<String> },
    /// `param` is the page number, starting at `first`.
    Page { param: String, first: u64 },
    /// The `Link: <…>; rel="next"` header.
    LinkHeader,
    /// The answer holds the next page's URL or path at `next` (Salesforce `nextRecordsUrl`).
    NextUrl { next: String },
}

/// One object type of a `crm_rest` connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestObjectSettings {
    pub object: String,
    /// Path (and query) of the full listing, relative to `base_url`.
    pub path: String,
    /// Path of the incremental listing with `{since}` where the watermark goes; else `path`.
    pub incremental_path: Option<String>,
    /// Query parameter carrying the watermark, added to `path` for incremental listings.
    pub incremental_param: Option<String>,
    /// JSON pointer to the records array (`""`: the answer is the array).
    pub results: String,
    /// JSON pointer to a boolean saying the record is deleted.
    pub deleted: Option<String>,
    /// Target → JSON pointer.
    pub fields: Vec<(String, String)>,
}

/// Settings of a `crm_rest` connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmRestSettings {
    pub base_url: String,
    pub auth: RestAuth,
    pub pagination: RestPaginationSettings,
    /// Query parameter for the page size (`limit`), and the size.
    pub limit_param: Option<String>,
    pub page_size: usize,
    /// How the watermark is written: `rfc3339`, `epoch_ms`, `epoch_s`, or a strftime pattern.
    pub since_format: String,
    pub overlap: Duration,
    pub objects: Vec<RestObjectSettings>,
}

/// The encoding of an export file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormatSetting {
    Csv,
    Json,
    Jsonl,
}

/// One file of a `crm_export` connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFileSettings {
    pub path: PathBuf,
    pub object: String,
    pub format: ExportFormatSetting,
    /// Target → column / key / JSON pointer.
    pub fields: Vec<(String, String)>,
}

/// Settings of a `crm_export` connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrmExportSettings {
    pub files: Vec<ExportFileSettings>,
    pub watch: bool,
    pub debounce: Duration,
    pub max_file_size: u64,
}

type Parsed = Result<(bool, Duration, ConnectorSettings), Vec<ConfigError>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHubSpot {
    #[serde(rename = "type")]
    _type: IgnoredAny,
    enabled: Option<bool>,
    poll_interval: Option<Spanned<DurationText>>,
    base_url: Option<Spanned<String>>,
    token_command: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
    objects: Option<Vec<Spanned<String>>>,
    properties: Option<BTreeMap<Spanned<String>, Vec<String>>>,
    page_size: Option<Spanned<i64>>,
    overlap: Option<Spanned<DurationText>>,
    portal_id: Option<Spanned<String>>,
}

fn object_name(
    doc: &Doc<'_>,
    raw: &Spanned<String>,
    errors: &mut Vec<ConfigError>,
) -> Option<String> {
    let lower = raw.get_ref().trim().to_ascii_lowercase();
    if let Some(found) = CRM_OBJECTS.iter().find(|o| {
        **o == lower
            || o.strip_suffix('s') == Some(&lower)
            || (lower == "company" && **o == "companies")
    }) {
        return Some((*found).to_owned());
    }
    let hint = match suggest(&lower, CRM_OBJECTS.iter().copied()) {
        Some(best) => format!("did you mean `{best}`?"),
        None => format!("object types: {}", backticked(CRM_OBJECTS)),
    };
    errors.push(doc.at(
        raw.span(),
        format!("unknown CRM object type `{}`", raw.get_ref()),
        Some(hint),
    ));
    None
}

/// An http(s) API root: `http` only for a loopback host; no credentials in it.
fn api_url(
    doc: &Doc<'_>,
    raw: &Spanned<String>,
    example: &str,
    errors: &mut Vec<ConfigError>,
) -> String {
    let url = raw.get_ref().trim().trim_end_matches('/');
    let lower = url.to_ascii_lowercase();
    let (secure, rest) = if let Some(rest) = lower.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        (false, rest)
    } else {
        errors.push(doc.at(
            raw.span(),
            format!("`{url}` is not an http(s) URL"),
            Some(format!("e.g. `base_url = \"{example}\"`")),
        ));
        return String::new();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        errors.push(doc.at(
            raw.span(),
            "the URL must not contain credentials",
            Some("give the token with `token_command` or `token_env`".into()),
        ));
        return String::new();
    }
    let host = if authority.starts_with('[') {
        authority
            .split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default().to_owned()
    };
    if host.is_empty() {
        errors.push(doc.at(
            raw.span(),
            format!("`{url}` names no host"),
            Some(format!("e.g. `base_url = \"{example}\"`")),
        ));
        return String::new();
    }
    if !secure && !is_loopback_host(&host) {
        errors.push(doc.at(
            raw.span(),
            format!("`http://` is only allowed for a loopback host, not `{host}`"),
            Some("plain HTTP sends your token and data unencrypted; use `https://`".into()),
        ));
        return String::new();
    }
    url.to_owned()
}

fn page_size(
    doc: &Doc<'_>,
    raw: Option<Spanned<i64>>,
    max: usize,
    errors: &mut Vec<ConfigError>,
) -> usize {
    match raw {
        None => crm_defaults::PAGE_SIZE.min(max),
        Some(v) if *v.get_ref() >= 1 && *v.get_ref() as u64 <= max as u64 => *v.get_ref() as usize,
        Some(v) => {
            errors.push(doc.at(
                v.span(),
                format!(
                    "`page_size` must be between 1 and {max}, not {}",
                    v.get_ref()
                ),
                Some(format!(
                    "the default is {}",
                    crm_defaults::PAGE_SIZE.min(max)
                )),
            ));
            crm_defaults::PAGE_SIZE.min(max)
        }
    }
}

fn finish(errors: &mut Vec<ConfigError>) -> Result<(), Vec<ConfigError>> {
    if errors.is_empty() {
        Ok(())
    } else {
        crate::error::sort_by_position(errors);
        Err(std::mem::take(errors))
    }
}

pub(crate) fn parse_hubspot(doc: &Doc<'_>, type_span: std::ops::Range<usize>) -> Parsed {
    let raw: RawHubSpot = toml::from_str(doc.text).map_err(|e| vec![doc.toml_error(&e)])?;
    let mut errors = Vec::new();
    let poll_interval = duration(
        doc,
        "poll_interval",
        raw.poll_interval,
        crm_defaults::POLL_INTERVAL,
        false,
        &mut errors,
    );
    let overlap = duration(
        doc,
        "overlap",
        raw.overlap,
        crm_defaults::OVERLAP,
        true,
        &mut errors,
    );
    let base_url = match &raw.base_url {
        Some(url) => api_url(doc, url, crm_defaults::HUBSPOT_URL, &mut errors),
        None => crm_defaults::HUBSPOT_URL.to_owned(),
    };
    let token = secret_pair(
        doc,
        "token",
        raw.token_command.as_ref(),
        raw.token_env.as_ref(),
        &mut errors,
    );
    if raw.token_command.is_none() && raw.token_env.is_none() {
        errors.push(doc.at(
            type_span.clone(),
            "missing `token_command` or `token_env` for a `hubspot` connector",
            Some("create a private app with the crm.objects.*.read scopes and add e.g. `token_command = \"pass show hubspot/token\"` or `token_env = \"HUBSPOT_TOKEN\"`".into()),
        ));
    }
    let objects = match &raw.objects {
        None => CRM_OBJECTS.iter().map(|o| o.to_string()).collect(),
        Some(list) => list
            .iter()
            .filter_map(|o| object_name(doc, o, &mut errors))
            .collect(),
    };
    let mut properties = BTreeMap::new();
    for (object, props) in raw.properties.unwrap_or_default() {
        if let Some(name) = object_name(doc, &object, &mut errors) {
            properties.insert(name, props);
        }
    }
    let page_size = page_size(doc, raw.page_size, 100, &mut errors);
    finish(&mut errors)?;
    let Some(token) = token else {
        return Err(errors);
    };
    Ok((
        raw.enabled.unwrap_or(true),
        poll_interval,
        ConnectorSettings::HubSpot(HubSpotSettings {
            base_url,
            token,
            objects,
            properties,
            page_size,
            overlap,
            portal_id: raw
                .portal_id
                .map(|p| p.into_inner().trim().to_owned())
                .filter(|p| !p.is_empty()),
        }),
    ))
}

fn mapping(
    doc: &Doc<'_>,
    raw: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
    pointers_only: bool,
    errors: &mut Vec<ConfigError>,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (target, source) in raw.unwrap_or_default() {
        let name = target.get_ref().as_str();
        let valid = CRM_MAPPING_TARGETS.contains(&name)
            || name.strip_prefix("extra.").is_some_and(|r| !r.is_empty());
        if !valid {
            let hint = match suggest(name, CRM_MAPPING_TARGETS.iter().copied()) {
                Some(best) => {
                    format!("did you mean `{best}`? (or `extra.{name}` for a field shown as it is)")
                }
                None => format!(
                    "targets: {}, or `extra.NAME`",
                    backticked(CRM_MAPPING_TARGETS)
                ),
            };
            errors.push(doc.at(target.span(), format!("unknown field `{name}`"), Some(hint)));
            continue;
        }
        if pointers_only && !source.get_ref().is_empty() && !source.get_ref().starts_with('/') {
            errors.push(doc.at(
                source.span(),
                format!("`{}` is not a JSON pointer", source.get_ref()),
                Some(format!(
                    "JSON pointers start with `/`, e.g. `{name} = \"/{}\"`",
                    source.get_ref()
                )),
            ));
            continue;
        }
        out.push((target.into_inner(), source.into_inner()));
    }
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExportFile {
    path: Option<Spanned<String>>,
    object: Option<Spanned<String>>,
    format: Option<Spanned<String>>,
    fields: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExport {
    #[serde(rename = "type")]
    _type: IgnoredAny,
    enabled: Option<bool>,
    poll_interval: Option<Spanned<DurationText>>,
    watch: Option<bool>,
    debounce: Option<Spanned<DurationText>>,
    max_file_size: Option<Spanned<SizeValue>>,
    files: Option<Spanned<Vec<Spanned<RawExportFile>>>>,
}

pub(crate) fn parse_export(
    doc: &Doc<'_>,
    type_span: std::ops::Range<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Parsed {
    let raw: RawExport = toml::from_str(doc.text).map_err(|e| vec![doc.toml_error(&e)])?;
    let mut errors = Vec::new();
    let poll_interval = duration(
        doc,
        "poll_interval",
        raw.poll_interval,
        crm_defaults::POLL_INTERVAL,
        false,
        &mut errors,
    );
    let debounce = duration(
        doc,
        "debounce",
        raw.debounce,
        Duration::from_millis(300),
        true,
        &mut errors,
    );
    let max_file_size = positive_size(
        doc,
        "max_file_size",
        raw.max_file_size,
        crm_defaults::MAX_FILE_SIZE,
        "use e.g. \"512 MiB\"",
        &mut errors,
    );
    let mut files = Vec::new();
    match raw.files {
        None => errors.push(doc.at(
            type_span,
            "missing `[[files]]` for a `crm_export` connector",
            Some(
                "add e.g. `[[files]]` with `path = \"deals.csv\"` and `object = \"deals\"`".into(),
            ),
        )),
        Some(list) if list.get_ref().is_empty() => errors.push(doc.at(
            list.span(),
            "`files` is empty",
            Some("add at least one `[[files]]` table".into()),
        )),
        Some(list) => {
            for entry in list.into_inner() {
                let span = entry.span();
                let entry = entry.into_inner();
                let path = match &entry.path {
                    None => {
                        errors.push(doc.at(
                            span.clone(),
                            "missing key `path` in `[[files]]`",
                            Some("e.g. `path = \"exports/deals.jsonl\"`".into()),
                        ));
                        None
                    }
                    Some(p) => match expand_path(p.get_ref(), doc.path.parent(), env) {
                        Ok(path) => Some(path),
                        Err(e) => {
                            errors.push(doc.at(p.span(), e.message, e.hint));
                            None
                        }
                    },
                };
                let object = match &entry.object {
                    None => {
                        errors.push(doc.at(
                            span.clone(),
                            "missing key `object` in `[[files]]`",
                            Some(format!("one of {}", backticked(CRM_OBJECTS))),
                        ));
                        None
                    }
                    Some(o) => object_name(doc, o, &mut errors),
                };
                let format = match (&entry.format, &path) {
                    (Some(f), _) => match f.get_ref().to_ascii_lowercase().as_str() {
                        "csv" => Some(ExportFormatSetting::Csv),
                        "json" => Some(ExportFormatSetting::Json),
                        "jsonl" | "ndjson" => Some(ExportFormatSetting::Jsonl),
                        other => {
                            errors.push(doc.at(
                                f.span(),
                                format!("unknown export format `{other}`"),
                                Some("use `csv`, `json` or `jsonl`".into()),
                            ));
                            None
                        }
                    },
                    (None, Some(p)) => match p
                        .extension()
                        .and_then(|e| e.to_str())
                        .map(str::to_ascii_lowercase)
                        .as_deref()
                    {
                        Some("csv") => Some(ExportFormatSetting::Csv),
                        Some("json") => Some(ExportFormatSetting::Json),
                        Some("jsonl" | "ndjson") => Some(ExportFormatSetting::Jsonl),
                        _ => {
                            let at = entry.path.as_ref().map_or(span.clone(), |p| p.span());
                            errors.push(doc.at(
                                at,
                                "cannot tell the export format from the file name",
                                Some("add `format = \"csv\"`, `\"json\"` or `\"jsonl\"`".into()),
                            ));
                            None
                        }
                    },
                    (None, None) => None,
                };
                let fields = mapping(doc, entry.fields, false, &mut errors);
                if let (Some(path), Some(object), Some(format)) = (path, object, format) {
                    files.push(ExportFileSettings {
                        path,
                        object,
                        format,
                        fields,
                    });
                }
            }
        }
    }
    finish(&mut errors)?;
    Ok((
        raw.enabled.unwrap_or(true),
        poll_interval,
        ConnectorSettings::CrmExport(CrmExportSettings {
            files,
            watch: raw.watch.unwrap_or(true),
            debounce,
            max_file_size,
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestObject {
    object: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    incremental_path: Option<Spanned<String>>,
    incremental_param: Option<String>,
    results: Option<Spanned<String>>,
    deleted: Option<Spanned<String>>,
    fields: Option<BTreeMap<Spanned<String>, Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPagination {
    style: Option<Spanned<String>>,
    param: Option<String>,
    next: Option<Spanned<String>>,
    first: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRest {
    #[serde(rename = "type")]
    _type: IgnoredAny,
    enabled: Option<bool>,
    poll_interval: Option<Spanned<DurationText>>,
    base_url: Option<Spanned<String>>,
    auth: Option<Spanned<String>>,
    token_command: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
    pagination: Option<Spanned<RawPagination>>,
    limit_param: Option<String>,
    page_size: Option<Spanned<i64>>,
    since_format: Option<Spanned<String>>,
    overlap: Option<Spanned<DurationText>>,
    objects: Option<Spanned<Vec<Spanned<RawRestObject>>>>,
}

fn pointer(
    doc: &Doc<'_>,
    raw: &Spanned<String>,
    key: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<String> {
    let p = raw.get_ref();
    if p.is_empty() || p.starts_with('/') {
        Some(p.clone())
    } else {
        errors.push(doc.at(
            raw.span(),
            format!("`{key}` = `{p}` is not a JSON pointer"),
            Some(format!(
                "JSON pointers start with `/`, e.g. `{key} = \"/{p}\"`"
            )),
        ));
        None
    }
}

pub(crate) fn parse_rest(doc: &Doc<'_>, type_span: std::ops::Range<usize>) -> Parsed {
    let raw: RawRest = toml::from_str(doc.text).map_err(|e| vec![doc.toml_error(&e)])?;
    let mut errors = Vec::new();
    let poll_interval = duration(
        doc,
        "poll_interval",
        raw.poll_interval,
        crm_defaults::POLL_INTERVAL,
        false,
        &mut errors,
    );
    let overlap = duration(
        doc,
        "overlap",
        raw.overlap,
        crm_defaults::OVERLAP,
        true,
        &mut errors,
    );
    let base_url = match &raw.base_url {
        Some(url) => api_url(doc, url, "https://api.example-crm.com", &mut errors),
        None => {
            errors.push(doc.at(
                type_span.clone(),
                "missing key `base_url` for a `crm_rest` connector",
                Some("e.g. `base_url = \"https://api.pipedrive.com\"`".into()),
            ));
            String::new()
        }
    };
    let secret = secret_pair(
        doc,
        "token",
        raw.token_command.as_ref(),
        raw.token_env.as_ref(),
        &mut errors,
    );
    let auth = match (raw.auth.as_ref().map(|a| a.get_ref().as_str()), secret) {
        (Some("none"), _) | (None, None) => RestAuth::None,
        (Some("bearer") | None, Some(s)) => RestAuth::Bearer(s),
        (Some(other), secret) => {
            let span = raw
                .auth
                .as_ref()
                .map(|a| a.span())
                .unwrap_or(type_span.clone());
            let parsed = other
                .strip_prefix("header:")
                .map(|h| (true, h.trim()))
                .or_else(|| other.strip_prefix("query:").map(|q| (false, q.trim())));
            match (parsed, secret) {
                (Some((_, "")), _) => {
                    errors.push(doc.at(
                        span,
                        format!("`auth = \"{other}\"` names no header or parameter"),
                        Some("e.g. `auth = \"query:api_token\"`".into()),
                    ));
                    RestAuth::None
                }
                (Some((true, name)), Some(s)) => RestAuth::Header(name.to_owned(), s),
                (Some((false, name)), Some(s)) => RestAuth::Query(name.to_owned(), s),
                (Some(_), None) | (None, None) if other == "bearer" || parsed.is_some() => {
                    errors.push(doc.at(
                        span,
                        format!("`auth = \"{other}\"` needs `token_command` or `token_env`"),
                        None,
                    ));
                    RestAuth::None
                }
                _ => {
                    errors.push(doc.at(
                        span,
                        format!("unknown `auth` `{other}`"),
                        Some("use \"bearer\", \"header:NAME\", \"query:NAME\" or \"none\"".into()),
                    ));
                    RestAuth::None
                }
            }
        }
    };
    let pagination = match raw.pagination {
        None => RestPaginationSettings::LinkHeader,
        Some(p) => {
            let span = p.span();
            let p = p.into_inner();
            let style = p
                .style
                .as_ref()
                .map(|s| s.get_ref().as_str())
                .unwrap_or("link");
            let next = p
                .next
                .as_ref()
                .and_then(|n| pointer(doc, n, "next", &mut errors));
            let need_next = |errors: &mut Vec<ConfigError>, example: &str| {
                errors.push(doc.at(
                    span.clone(),
                    format!(
                        "`{style}` pagination needs `next`, the JSON pointer to the next value"
                    ),
                    Some(format!("e.g. `next = \"{example}\"`")),
                ));
            };
            match style {
                "cursor" => match next {
                    Some(next) => RestPaginationSettings::Cursor {
                        param: p.param.unwrap_or_else(|| "cursor".into()),
                        next,
                    },
                    None => {
                        need_next(&mut errors, "/additional_data/next_cursor");
                        RestPaginationSettings::LinkHeader
                    }
                },
                "offset" => RestPaginationSettings::Offset {
                    param: p.param.unwrap_or_else(|| "offset".into()),
                    next,
                },
                "page" => RestPaginationSettings::Page {
                    param: p.param.unwrap_or_else(|| "page".into()),
                    first: p.first.unwrap_or(1),
                },
                "link" | "link_header" => RestPaginationSettings::LinkHeader,
                "next_url" => match next {
                    Some(next) => RestPaginationSettings::NextUrl { next },
                    None => {
                        need_next(&mut errors, "/nextRecordsUrl");
                        RestPaginationSettings::LinkHeader
                    }
                },
                other => {
                    let at = p.style.as_ref().map(|s| s.span()).unwrap_or(span.clone());
                    errors.push(doc.at(
                        at,
                        format!("unknown pagination style `{other}`"),
                        Some(
                            "use \"cursor\", \"offset\", \"page\", \"link\" or \"next_url\"".into(),
                        ),
                    ));
                    RestPaginationSettings::LinkHeader
                }
            }
        }
    };
    let since_format = match raw.since_format {
        None => "rfc3339".to_owned(),
        Some(f) => {
            let text = f.get_ref().trim();
            if matches!(text, "rfc3339" | "epoch_ms" | "epoch_s") || text.contains('%') {
                text.to_owned()
            } else {
                errors.push(doc.at(f.span(), format!("unknown `since_format` `{text}`"), Some("use \"rfc3339\", \"epoch_ms\", \"epoch_s\" or a strftime pattern like \"%Y-%m-%d %H:%M:%S\"".into())));
                "rfc3339".to_owned()
            }
        }
    };
    let page_size = page_size(doc, raw.page_size, 10_000, &mut errors);
    let mut objects = Vec::new();
    match raw.objects {
        None => errors.push(doc.at(type_span, "missing `[[objects]]` for a `crm_rest` connector", Some("add e.g. `[[objects]]` with `object = \"deals\"`, `path = \"/v1/deals\"` and `[objects.fields]`".into()))),
        Some(list) => {
            for entry in list.into_inner() {
                let span = entry.span();
                let entry = entry.into_inner();
                let object = match &entry.object {
                    Some(o) => object_name(doc, o, &mut errors),
                    None => {
                        errors.push(doc.at(span.clone(), "missing key `object` in `[[objects]]`", Some(format!("one of {}", backticked(CRM_OBJECTS)))));
                        None
                    }
                };
                let path = match &entry.path {
                    Some(p) if p.get_ref().starts_with('/') => Some(p.get_ref().clone()),
                    Some(p) => {
                        errors.push(doc.at(p.span(), format!("`path` = `{}` must start with `/`", p.get_ref()), Some("paths are relative to `base_url`, e.g. `path = \"/v1/deals\"`".into())));
                        None
                    }
                    None => {
                        errors.push(doc.at(span.clone(), "missing key `path` in `[[objects]]`", Some("e.g. `path = \"/v1/deals\"`".into())));
                        None
                    }
                };
                if let Some(p) = &entry.incremental_path
                    && !p.get_ref().contains("{since}")
                {
                    errors.push(doc.at(p.span(), "`incremental_path` has no `{since}`", Some("put `{since}` where the watermark goes, e.g. `...+WHERE+LastModifiedDate+>=+{since}`".into())));
                }
                let results = entry.results.as_ref().and_then(|r| pointer(doc, r, "results", &mut errors)).unwrap_or_default();
                let deleted = entry.deleted.as_ref().and_then(|d| pointer(doc, d, "deleted", &mut errors));
                let has_id = entry
                    .fields
                    .as_ref()
                    .is_some_and(|f| f.keys().any(|k| k.get_ref() == "id"));
                let fields = mapping(doc, entry.fields, true, &mut errors);
                if !has_id {
                    errors.push(doc.at(span.clone(), "`[objects.fields]` has no `id`", Some("add e.g. `id = \"/id\"`".into())));
                }
                if let (Some(object), Some(path)) = (object, path) {
                    objects.push(RestObjectSettings {
                        object,
                        path,
                        incremental_path: entry.incremental_path.map(Spanned::into_inner),
                        incremental_param: entry.incremental_param,
                        results,
                        deleted,
                        fields,
                    });
                }
            }
        }
    }
    finish(&mut errors)?;
    Ok((
        raw.enabled.unwrap_or(true),
        poll_interval,
        ConnectorSettings::CrmRest(CrmRestSettings {
            base_url,
            auth,
            pagination,
            limit_param: raw.limit_param,
            page_size,
            since_format,
            overlap,
            objects,
        }),
    ))
}
