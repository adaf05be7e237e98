//! Connector files: `connectors.d/NAME.toml`, one source per file.
//!
//! A file is read in two passes: first only `type` is looked at, then the
//! whole file is deserialized into the raw struct for that type (with
//! `deny_unknown_fields`, so typos are caught) and validated into typed
//! settings. Adding a connector type means adding a raw struct, a settings
//! struct, a [`ConnectorSettings`] variant and a match arm in [`parse`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::IgnoredAny;
use toml::Spanned;

use crate::error::{ConfigError, Doc, backticked, suggest};
use crate::secret::{Secret, secret_pair};
use crate::value::{DurationText, SizeValue, ValueError, expand_path, parse_duration};

/// Connector types this build can run.
pub const SUPPORTED_CONNECTOR_TYPES: &[&str] = &[
    "files",
    "maildir",
    "mbox",
    "imap",
    "ics",
    "caldav",
    "carddav",
    "hubspot",
    "crm_rest",
    "crm_export",
];

/// Connector types that are planned; naming one gives a "not supported yet"
/// error rather than "unknown type", so users know it is not a typo.
pub const RESERVED_CONNECTOR_TYPES: &[&str] = &[];

/// One configured source, from one file in `connectors.d`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorConfig {
    /// Source name: the file stem, validated against `^[a-z0-9][a-z0-9_-]{0,63}$`.
    pub name: String,
    /// The file it was read from (for messages like "edit this file").
    pub path: PathBuf,
    /// `enabled = false` keeps the file but does not run the connector.
    pub enabled: bool,
    /// How often to re-scan the source in full.
    pub poll_interval: Duration,
    /// Type-specific settings.
    pub settings: ConnectorSettings,
}

/// Type-specific connector settings; one variant per `type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorSettings {
    /// `type = "files"`: local directories.
    Files(FilesSettings),
    /// `type = "maildir"`: a Maildir or Maildir++ tree (mbsync, offlineimap, notmuch).
    Maildir(MaildirSettings),
    /// `type = "mbox"`: one mbox file.
    Mbox(MboxSettings),
    /// `type = "imap"`: a remote mailbox over IMAP.
    Imap(ImapSettings),
    /// `type = "ics"`: local `.ics`/`.vcf` files and folders, and calendar subscription URLs.
    Ics(IcsSettings),
    /// `type = "caldav"`: the calendars of a CalDAV account.
    CalDav(DavSettings),
    /// `type = "carddav"`: the address books of a CardDAV account.
    CardDav(DavSettings),
    /// `type = "hubspot"`: HubSpot's CRM v3 API.
    HubSpot(crate::crm::HubSpotSettings),
    /// `type = "crm_rest"`: another CRM's JSON REST API, described by a mapping.
    CrmRest(crate::crm::CrmRestSettings),
    /// `type = "crm_export"`: CSV / JSON / JSONL export files of a CRM.
    CrmExport(crate::crm::CrmExportSettings),
}

/// Settings of a `caldav` or `carddav` connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DavSettings {
    /// Server, principal, home-set or collection URL: `https://`, or `http://` for a loopback host.
    pub url: String,
    /// Basic-auth user; `None` means no authentication.
    pub user: Option<String>,
    /// How to get the password (`password_command` / `password_env`); `None`: none.
    pub password: Option<Secret>,
    /// Display names of the collections to mirror (`calendars` / `addressbooks`); empty: all.
    pub collections: Vec<String>,
    /// CalDAV: occurrences of recurring events are listed this far back...
    pub window_past: Duration,
    /// ...and this far ahead of today.
    pub window_ahead: Duration,
    /// CalDAV: the zone of floating times (`timezone = "Europe/Berlin"`); `None`: the system's.
    pub timezone: Option<chrono_tz::Tz>,
}

/// Defaults of `caldav` and `carddav` connectors.
pub mod dav_defaults {
    use std::time::Duration;
    /// Servers are asked for changes (by sync token) this often.
    pub const POLL_INTERVAL: Duration = Duration::from_secs(15 * 60);
}

/// Settings of an `ics` connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcsSettings {
    /// Files or folders of `.ics` (and `.vcf`) files, expanded like `files` paths.
    pub paths: Vec<PathBuf>,
    /// Subscription URLs (`https://`, `http://`, `webcal://`).
    pub urls: Vec<String>,
    pub watch: bool,
    pub debounce: Duration,
    /// Files and downloads larger than this are skipped.
    pub max_file_size: u64,
    /// Occurrences of recurring events are listed this far back...
    pub window_past: Duration,
    /// ...and this far ahead of today.
    pub window_ahead: Duration,
    /// The zone of floating times (`timezone = "Europe/Berlin"`); `None`: the system's.
    pub timezone: Option<chrono_tz::Tz>,
}

/// Defaults of `ics` connectors.
pub mod ics_defaults {
    use std::time::Duration;
    /// Subscriptions are re-fetched (conditionally) this often; files are watched.
    pub const POLL_INTERVAL: Duration = Duration::from_secs(30 * 60);
    pub const MAX_FILE_SIZE: u64 = 50 * 1024 * 1024;
    pub const WINDOW: Duration = Duration::from_secs(365 * 24 * 3600);
}

/// How an `imap` connector protects its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImapSecurity {
    /// Implicit TLS (default port 993).
    Tls,
    /// STARTTLS before login (default port 143).
    StartTls,
    /// Unencrypted; only accepted for a loopback host (a local bridge).
    Plain,
}

/// How an `imap` connector logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImapLogin {
    /// `LOGIN` with the password from `password_command` / `password_env`.
    Password(Secret),
    /// `AUTHENTICATE XOAUTH2` with the access token from `token_command` / `token_env`.
    XOAuth2(Secret),
}

/// Settings of an `imap` connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub security: ImapSecurity,
    pub user: String,
    /// How to log in; holds the secret's recipe, never its value.
    pub login: ImapLogin,
    /// Folder names to index (empty: all).
    pub include_folders: Vec<String>,
    /// Folder names to skip; default Trash, Spam, Junk.
    pub exclude_folders: Vec<String>,
    /// Messages fetched per batch.
    pub batch_size: usize,
    /// Messages larger than this are skipped (not downloaded).
    pub max_message_size: u64,
    /// PEM file of extra trusted certificate authorities (a private CA or self-signed server).
    pub tls_ca_file: Option<PathBuf>,
}

/// Defaults of `imap` connectors.
pub mod imap_defaults {
    pub const BATCH_SIZE: usize = 64;
    pub const MAX_BATCH_SIZE: usize = 10_000;
}

/// Settings of a `maildir` connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaildirSettings {
    /// Root of the Maildir tree.
    pub path: PathBuf,
    /// Folder names to index (empty: all).
    pub include_folders: Vec<String>,
    /// Folder names to skip; default Trash, Spam, Junk.
    pub exclude_folders: Vec<String>,
    pub watch: bool,
    pub debounce: Duration,
    /// Messages larger than this are skipped.
    pub max_message_size: u64,
}

/// Settings of an `mbox` connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MboxSettings {
    /// The mbox file.
    pub path: PathBuf,
    pub watch: bool,
    pub debounce: Duration,
    /// Messages larger than this are skipped.
    pub max_message_size: u64,
}

/// Defaults of mail connectors.
pub mod mail_defaults {
    use std::time::Duration;
    pub const POLL_INTERVAL: Duration = Duration::from_secs(10 * 60);
    pub const MAX_MESSAGE_SIZE: u64 = 50 * 1024 * 1024;
    pub const EXCLUDE_FOLDERS: &[&str] = &["Trash", "Spam", "Junk"];
}

impl ConnectorSettings {
    /// The `type` string of this variant.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Files(_) => "files",
            Self::Maildir(_) => "maildir",
            Self::Mbox(_) => "mbox",
            Self::Imap(_) => "imap",
            Self::Ics(_) => "ics",
            Self::CalDav(_) => "caldav",
            Self::CardDav(_) => "carddav",
            Self::HubSpot(_) => "hubspot",
            Self::CrmRest(_) => "crm_rest",
            Self::CrmExport(_) => "crm_export",
        }
    }
}

/// Settings of a `files` connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesSettings {
    /// Root directories, `~`-expanded and absolute when the config file path
    /// is. Existence is not checked: a drive may be unmounted right now.
    pub paths: Vec<PathBuf>,
    /// Glob patterns (already checked to compile with `globset::Glob::new`);
    /// empty means "every file".
    pub include: Vec<String>,
    /// Glob patterns to skip, checked the same way.
    pub exclude: Vec<String>,
    /// Files larger than this many bytes are not extracted.
    pub max_file_size: u64,
    /// Watch for changes (inotify etc.) in addition to polling.
    pub watch: bool,
    /// How long to wait for a burst of file events to settle.
    pub debounce: Duration,
    /// Follow symbolic links while walking.
    pub follow_symlinks: bool,
    /// Give up extracting text from one file after this long.
    pub extract_timeout: Duration,
}

/// Defaults for `files` connectors (also documented in the starter file).
pub mod files_defaults {
    use std::time::Duration;
    /// Full rescan interval; watching catches most changes in between.
    pub const POLL_INTERVAL: Duration = Duration::from_secs(10 * 60);
    /// 20 MiB.
    pub const MAX_FILE_SIZE: u64 = 20 * 1024 * 1024;
    pub const WATCH: bool = true;
    pub const DEBOUNCE: Duration = Duration::from_millis(300);
    pub const FOLLOW_SYMLINKS: bool = false;
    pub const EXTRACT_TIMEOUT: Duration = Duration::from_secs(10);
}

/// Whether `name` is a valid connector/source name.
pub fn is_valid_connector_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    matches!(bytes.first(), Some(b) if b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.len() <= 64
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-')
}

/// First pass: only the type. Not `deny_unknown_fields` on purpose.
#[derive(Deserialize)]
struct TypeProbe {
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFiles {
    #[serde(rename = "type")]
    _type: IgnoredAny,
    enabled: Option<bool>,
    poll_interval: Option<Spanned<DurationText>>,
    paths: Option<Spanned<Vec<Spanned<String>>>>,
    include: Option<Vec<Spanned<String>>>,
    exclude: Option<Vec<Spanned<String>>>,
    max_file_size: Option<Spanned<SizeValue>>,
    watch: Option<bool>,
    debounce: Option<Spanned<DurationText>>,
    follow_symlinks: Option<bool>,
    extract_timeout: Option<Spanned<DurationText>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaildir {
    #[serde(rename = "type")]
    _type: IgnoredAny,
    enabled: Option<bool>,
    poll_interval: Option<Spanned<DurationText>>,
    path: Option<Spanned<String>>,
    include_folders: Option<Vec<String>>,
    exclude_folders: Option<Vec<String>>,
    watch: Option<bool>,
    debounce: Option<Spanned<DurationText>>,
    max_message_size: Option<Spanned<SizeValue>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMbox {
    #[serde(rename = "type")]
    _type: IgnoredAny,
    enabled: Option<bool>,
    poll_interval: Option<Spanned<DurationText>>,
    path: Option<Spanned<String>>,
    watch: Option<bool>,
    debounce: Option<Spanned<DurationText>>,
    max_message_size: Option<Spanned<SizeValue>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImap {
    #[serde(rename = "type")]
    _type: IgnoredAny,
    enabled: Option<bool>,
    poll_interval: Option<Spanned<DurationText>>,
    host: Option<Spanned<String>>,
    port: Option<Spanned<i64>>,
    security: Option<Spanned<String>>,
    user: Option<Spanned<String>>,
    auth: Option<Spanned<String>>,
    password_command: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    token_command: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
    include_folders: Option<Vec<String>>,
    exclude_folders: Option<Vec<String>>,
    batch_size: Option<Spanned<i64>>,
    max_message_size: Option<Spanned<SizeValue>>,
    tls_ca_file: Option<Spanned<String>>,
}

/// Reads and validates one connector file.
pub fn load_connector(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ConnectorConfig, Vec<ConfigError>> {
    let text = crate::read_text(path).map_err(|e| vec![e])?;
    parse(path, &text, env)
}

/// Validates the text of a connector file; `path` gives the name (its stem)
/// and the base directory for relative paths.
pub(crate) fn parse(
    path: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ConnectorConfig, Vec<ConfigError>> {
    let doc = Doc { path, text };
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    if !is_valid_connector_name(name) {
        return Err(vec![ConfigError::file(
            path,
            format!("invalid connector name `{}`", path.file_stem().unwrap_or_default().to_string_lossy()),
            Some(
                "the file name (without .toml) is the source name: 1-64 characters of a-z, 0-9, `_` \
                 and `-`, starting with a letter or digit; rename the file"
                    .into(),
            ),
        )]);
    }

    let probe: TypeProbe = toml::from_str(text).map_err(|e| vec![doc.toml_error(&e)])?;
    let Some(kind) = probe.kind else {
        return Err(vec![doc.at(
            0..0,
            "missing key `type`",
            Some(format!(
                "add `type = \"files\"` at the top of the file (supported types: {})",
                backticked(SUPPORTED_CONNECTOR_TYPES)
            )),
        )]);
    };

    let settings_and_common = match kind.get_ref().as_str() {
        "files" => parse_files(&doc, kind.span(), env),
        "maildir" => parse_maildir(&doc, kind.span(), env),
        "mbox" => parse_mbox(&doc, kind.span(), env),
        "imap" => parse_imap(&doc, kind.span(), env),
        "ics" => parse_ics(&doc, kind.span(), env),
        "caldav" => parse_caldav(&doc, kind.span()),
        "carddav" => parse_carddav(&doc, kind.span()),
        "hubspot" => crate::crm::parse_hubspot(&doc, kind.span()),
        "crm_rest" => crate::crm::parse_rest(&doc, kind.span()),
        "crm_export" => crate::crm::parse_export(&doc, kind.span(), env),
        "crm" => Err(vec![
            doc.at(
                kind.span(),
                "connector type `crm` names no CRM",
                Some(
                    "use `hubspot` (HubSpot's API), `crm_rest` (another CRM's REST API) or \
                 `crm_export` (CSV/JSON/JSONL export files)"
                        .into(),
                ),
            ),
        ]),
        other if RESERVED_CONNECTOR_TYPES.contains(&other) => Err(vec![doc.at(
            kind.span(),
            format!("connector type `{other}` is not supported yet by this build"),
            Some(format!(
                "supported types: {}",
                backticked(SUPPORTED_CONNECTOR_TYPES)
            )),
        )]),
        other => {
            let all = SUPPORTED_CONNECTOR_TYPES
                .iter()
                .chain(RESERVED_CONNECTOR_TYPES)
                .copied();
            let hint = match suggest(other, all) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("supported types: {}", backticked(SUPPORTED_CONNECTOR_TYPES)),
            };
            Err(vec![doc.at(
                kind.span(),
                format!("unknown connector type `{other}`"),
                Some(hint),
            )])
        }
    };
    let (enabled, poll_interval, settings) = settings_and_common?;
    Ok(ConnectorConfig {
        name: name.to_owned(),
        path: path.to_path_buf(),
        enabled,
        poll_interval,
        settings,
    })
}

type Parsed = Result<(bool, Duration, ConnectorSettings), Vec<ConfigError>>;

fn parse_files(
    doc: &Doc<'_>,
    type_span: std::ops::Range<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Parsed {
    let raw: RawFiles = toml::from_str(doc.text).map_err(|e| vec![doc.toml_error(&e)])?;
    let mut errors = Vec::new();
    let base = doc.path.parent();

    let poll_interval = duration(
        doc,
        "poll_interval",
        raw.poll_interval,
        files_defaults::POLL_INTERVAL,
        false,
        &mut errors,
    );
    let debounce = duration(
        doc,
        "debounce",
        raw.debounce,
        files_defaults::DEBOUNCE,
        true,
        &mut errors,
    );
    let extract_timeout = duration(
        doc,
        "extract_timeout",
        raw.extract_timeout,
        files_defaults::EXTRACT_TIMEOUT,
        false,
        &mut errors,
    );

    let mut paths = Vec::new();
    match &raw.paths {
        None => errors.push(doc.at(
            type_span,
            "missing key `paths` for a `files` connector",
            Some("add the directories to index, e.g. `paths = [\"~/Documents\"]`".into()),
        )),
        Some(list) if list.get_ref().is_empty() => errors.push(doc.at(
            list.span(),
            "`paths` is empty",
            Some("list at least one directory, e.g. `paths = [\"~/Documents\"]`".into()),
        )),
        Some(list) => {
            for raw_path in list.get_ref() {
                match expand_path(raw_path.get_ref(), base, env) {
                    Ok(p) => paths.push(p),
                    Err(e) => errors.push(doc.at(raw_path.span(), e.message, e.hint)),
                }
            }
        }
    }

    let include = globs(doc, raw.include, &mut errors);
    let exclude = globs(doc, raw.exclude, &mut errors);

    let max_file_size = positive_size(
        doc,
        "max_file_size",
        raw.max_file_size,
        files_defaults::MAX_FILE_SIZE,
        "use e.g. \"20 MiB\"; to skip a connector set `enabled = false`",
        &mut errors,
    );

    if !errors.is_empty() {
        crate::error::sort_by_position(&mut errors);
        return Err(errors);
    }
    Ok((
        raw.enabled.unwrap_or(true),
        poll_interval,
        ConnectorSettings::Files(FilesSettings {
            paths,
            include,
            exclude,
            max_file_size,
            watch: raw.watch.unwrap_or(files_defaults::WATCH),
            debounce,
            follow_symlinks: raw
                .follow_symlinks
                .unwrap_or(files_defaults::FOLLOW_SYMLINKS),
            extract_timeout,
        }),
    ))
}

/// A required single `path` key, expanded.
fn required_path(
    doc: &Doc<'_>,
    type_span: std::ops::Range<usize>,
    type_name: &str,
    example: &str,
    raw: Option<Spanned<String>>,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) -> PathBuf {
    match raw {
        None => {
            errors.push(doc.at(
                type_span,
                format!("missing key `path` for a `{type_name}` connector"),
                Some(format!("add e.g. `path = \"{example}\"`")),
            ));
            PathBuf::new()
        }
        Some(p) => match expand_path(p.get_ref(), doc.path.parent(), env) {
            Ok(path) => path,
            Err(e) => {
                errors.push(doc.at(p.span(), e.message, e.hint));
                PathBuf::new()
            }
        },
    }
}

fn message_size(
    doc: &Doc<'_>,
    raw: Option<Spanned<SizeValue>>,
    errors: &mut Vec<ConfigError>,
) -> u64 {
    positive_size(
        doc,
        "max_message_size",
        raw,
        mail_defaults::MAX_MESSAGE_SIZE,
        "use e.g. \"50 MiB\"",
        errors,
    )
}

/// A size key that must be above zero (`default` when absent); `hint` is shown for zero.
pub(crate) fn positive_size(
    doc: &Doc<'_>,
    key: &str,
    raw: Option<Spanned<SizeValue>>,
    default: u64,
    hint: &str,
    errors: &mut Vec<ConfigError>,
) -> u64 {
    match raw {
        None => default,
        Some(size) => match size.get_ref().to_bytes() {
            Ok(0) => {
                errors.push(doc.at(
                    size.span(),
                    format!("`{key}` must be greater than zero"),
                    Some(hint.into()),
                ));
                0
            }
            Ok(n) => n,
            Err(e) => {
                errors.push(located(doc, size.span(), key, e));
                0
            }
        },
    }
}

fn parse_maildir(
    doc: &Doc<'_>,
    type_span: std::ops::Range<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Parsed {
    let raw: RawMaildir = toml::from_str(doc.text).map_err(|e| vec![doc.toml_error(&e)])?;
    let mut errors = Vec::new();
    let poll_interval = duration(
        doc,
        "poll_interval",
        raw.poll_interval,
        mail_defaults::POLL_INTERVAL,
        false,
        &mut errors,
    );
    let debounce = duration(
        doc,
        "debounce",
        raw.debounce,
        files_defaults::DEBOUNCE,
        true,
        &mut errors,
    );
    let path = required_path(
        doc,
        type_span,
        "maildir",
        "~/Mail",
        raw.path,
        env,
        &mut errors,
    );
    let max_message_size = message_size(doc, raw.max_message_size, &mut errors);
    if !errors.is_empty() {
        crate::error::sort_by_position(&mut errors);
        return Err(errors);
    }
    Ok((
        raw.enabled.unwrap_or(true),
        poll_interval,
        ConnectorSettings::Maildir(MaildirSettings {
            path,
            include_folders: raw.include_folders.unwrap_or_default(),
            exclude_folders: raw.exclude_folders.unwrap_or_else(|| {
                mail_defaults::EXCLUDE_FOLDERS
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            }),
            watch: raw.watch.unwrap_or(true),
            debounce,
            max_message_size,
        }),
    ))
}

fn parse_mbox(
    doc: &Doc<'_>,
    type_span: std::ops::Range<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Parsed {
    let raw: RawMbox = toml::from_str(doc.text).map_err(|e| vec![doc.toml_error(&e)])?;
    let mut errors = Vec::new();
    let poll_interval = duration(
        doc,
        "poll_interval",
        raw.poll_interval,
        mail_defaults::POLL_INTERVAL,
        false,
        &mut errors,
    );
    let debounce = duration(
        doc,
        "debounce",
        raw.debounce,
        files_defaults::DEBOUNCE,
        true,
        &mut errors,
    );
    let path = required_path(
        doc,
        type_span,
        "mbox",
        "~/mail/archive.mbox",
        raw.path,
        env,
        &mut errors,
    );
    let max_message_size = message_size(doc, raw.max_message_size, &mut errors);
    if !errors.is_empty() {
        crate::error::sort_by_position(&mut errors);
        return Err(errors);
    }
    Ok((
        raw.enabled.unwrap_or(true),
        poll_interval,
        ConnectorSettings::Mbox(MboxSettings {
            path,
            watch: raw.watch.unwrap_or(true),
            debounce,
            max_message_size,
        }),
    ))
}

/// Whether `host` names this machine: `localhost`, or a loopback IP address.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn required_text(
    doc: &Doc<'_>,
    type_span: std::ops::Range<usize>,
    key: &str,
    example: &str,
    raw: Option<Spanned<String>>,
    errors: &mut Vec<ConfigError>,
) -> String {
    match raw {
        None => {
            errors.push(doc.at(
                type_span,
                format!("missing key `{key}` for an `imap` connector"),
                Some(format!("add e.g. `{key} = \"{example}\"`")),
            ));
            String::new()
        }
        Some(value) if value.get_ref().trim().is_empty() => {
            errors.push(doc.at(
                value.span(),
                format!("`{key}` is empty"),
                Some(format!("e.g. `{key} = \"{example}\"`")),
            ));
            String::new()
        }
        Some(value) => value.into_inner().trim().to_owned(),
    }
}

fn parse_imap(
    doc: &Doc<'_>,
    type_span: std::ops::Range<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Parsed {
    let raw: RawImap = toml::from_str(doc.text).map_err(|e| vec![doc.toml_error(&e)])?;
    let mut errors = Vec::new();
    let poll_interval = duration(
        doc,
        "poll_interval",
        raw.poll_interval,
        mail_defaults::POLL_INTERVAL,
        false,
        &mut errors,
    );
    let host = required_text(
        doc,
        type_span.clone(),
        "host",
        "imap.example.com",
        raw.host,
        &mut errors,
    );
    let user = required_text(
        doc,
        type_span.clone(),
        "user",
        "me@example.com",
        raw.user,
        &mut errors,
    );
    let security = match &raw.security {
        None => ImapSecurity::Tls,
        Some(value) => match value.get_ref().to_ascii_lowercase().as_str() {
            "tls" => ImapSecurity::Tls,
            "starttls" => ImapSecurity::StartTls,
            "plain" => ImapSecurity::Plain,
            other => {
                errors.push(doc.at(
                    value.span(),
                    format!("unknown `security` value `{other}`"),
                    Some("use \"tls\" (port 993), \"starttls\" (port 143) or, for a server on this machine only, \"plain\"".into()),
                ));
                ImapSecurity::Tls
            }
        },
    };
    if security == ImapSecurity::Plain
        && !host.is_empty()
        && !is_loopback_host(&host)
        && let Some(value) = &raw.security
    {
        errors.push(doc.at(
            value.span(),
            format!("`security = \"plain\"` is only allowed for a loopback host, not `{host}`"),
            Some(
                "plain IMAP sends your password and mail unencrypted; use \"tls\" or \"starttls\" \
                 (plain is meant for a local bridge on 127.0.0.1, e.g. Proton Mail Bridge)"
                    .into(),
            ),
        ));
    }
    let port = match &raw.port {
        None => match security {
            ImapSecurity::Tls => 993,
            ImapSecurity::StartTls | ImapSecurity::Plain => 143,
        },
        Some(value) => match u16::try_from(*value.get_ref()) {
            Ok(port) if port > 0 => port,
            _ => {
                errors.push(doc.at(
                    value.span(),
                    format!(
                        "`port` must be between 1 and 65535, got {}",
                        value.get_ref()
                    ),
                    Some("leave it out for the default (993 for tls, 143 otherwise)".into()),
                ));
                0
            }
        },
    };
    let xoauth2 = match &raw.auth {
        None => false,
        Some(value) => match value.get_ref().to_ascii_lowercase().as_str() {
            "password" | "login" => false,
            "xoauth2" => true,
            other => {
                errors.push(doc.at(
                    value.span(),
                    format!("unknown `auth` value `{other}`"),
                    Some("use \"password\" (the default) or \"xoauth2\"".into()),
                ));
                false
            }
        },
    };
    let (used, unused) = if xoauth2 {
        ("token", [&raw.password_command, &raw.password_env])
    } else {
        ("password", [&raw.token_command, &raw.token_env])
    };
    for stray in unused.into_iter().flatten() {
        errors.push(doc.at(
            stray.span(),
            if xoauth2 {
                "`password_command` / `password_env` are not used with `auth = \"xoauth2\"`"
            } else {
                "`token_command` / `token_env` need `auth = \"xoauth2\"`"
            },
            Some(format!(
                "give the secret with `{used}_command` or `{used}_env`"
            )),
        ));
    }
    let (command, env_var) = if xoauth2 {
        (raw.token_command.as_ref(), raw.token_env.as_ref())
    } else {
        (raw.password_command.as_ref(), raw.password_env.as_ref())
    };
    let secret = secret_pair(doc, used, command, env_var, &mut errors);
    if secret.is_none() && command.is_none() && env_var.is_none() {
        errors.push(doc.at(
            type_span,
            format!("missing `{used}_command` or `{used}_env` for an `imap` connector"),
            Some(format!(
                "add e.g. `{used}_command = \"pass show mail/imap\"` or `{used}_env = \"IMAP_{}\"`",
                used.to_ascii_uppercase()
            )),
        ));
    }
    let batch_size = match &raw.batch_size {
        None => imap_defaults::BATCH_SIZE,
        Some(value) => match usize::try_from(*value.get_ref()) {
            Ok(n) if (1..=imap_defaults::MAX_BATCH_SIZE).contains(&n) => n,
            _ => {
                errors.push(doc.at(
                    value.span(),
                    format!(
                        "`batch_size` must be between 1 and {}, got {}",
                        imap_defaults::MAX_BATCH_SIZE,
                        value.get_ref()
                    ),
                    Some(format!("the default is {}", imap_defaults::BATCH_SIZE)),
                ));
                imap_defaults::BATCH_SIZE
            }
        },
    };
    let max_message_size = message_size(doc, raw.max_message_size, &mut errors);
    let tls_ca_file = raw
        .tls_ca_file
        .as_ref()
        .and_then(|value| tls_ca_file(doc, value, security, env, &mut errors));
    if !errors.is_empty() {
        crate::error::sort_by_position(&mut errors);
        return Err(errors);
    }
    let Some(secret) = secret else {
        // Unreachable: a missing secret was reported above.
        return Err(errors);
    };
    Ok((
        raw.enabled.unwrap_or(true),
        poll_interval,
        ConnectorSettings::Imap(ImapSettings {
            host,
            port,
            security,
            user,
            login: if xoauth2 {
                ImapLogin::XOAuth2(secret)
            } else {
                ImapLogin::Password(secret)
            },
            include_folders: raw.include_folders.unwrap_or_default(),
            exclude_folders: raw.exclude_folders.unwrap_or_else(|| {
                mail_defaults::EXCLUDE_FOLDERS
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            }),
            batch_size,
            max_message_size,
            tls_ca_file,
        }),
    ))
}

/// `tls_ca_file`: expanded, readable, holding at least one PEM certificate, and only with TLS.
fn tls_ca_file(
    doc: &Doc<'_>,
    value: &Spanned<String>,
    security: ImapSecurity,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) -> Option<PathBuf> {
    if security == ImapSecurity::Plain {
        errors.push(doc.at(
            value.span(),
            "`tls_ca_file` has no effect with `security = \"plain\"`",
            Some("use `security = \"tls\"` or `\"starttls\"`, or remove `tls_ca_file`".into()),
        ));
        return None;
    }
    let path = match expand_path(value.get_ref(), doc.path.parent(), env) {
        Ok(path) => path,
        Err(e) => {
            errors.push(doc.at(value.span(), e.message, e.hint));
            return None;
        }
    };
    match std::fs::read(&path) {
        Ok(pem) if pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") => Some(path),
        Ok(_) => {
            errors.push(doc.at(
                value.span(),
                format!(
                    "`tls_ca_file` {} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
                    path.display()
                ),
                Some("give the CA certificate in PEM form, e.g. `openssl x509 -in ca.der -inform der -out ca.pem`".into()),
            ));
            None
        }
        Err(e) => {
            errors.push(doc.at(
                value.span(),
                format!("cannot read `tls_ca_file` {}: {e}", path.display()),
                Some("give the path of the PEM file of the CA that signed the server's certificate".into()),
            ));
            None
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIcs {
    #[serde(rename = "type")]
    _type: IgnoredAny,
    enabled: Option<bool>,
    poll_interval: Option<Spanned<DurationText>>,
    paths: Option<Vec<Spanned<String>>>,
    urls: Option<Vec<Spanned<String>>>,
    watch: Option<bool>,
    debounce: Option<Spanned<DurationText>>,
    max_file_size: Option<Spanned<SizeValue>>,
    window_past: Option<Spanned<DurationText>>,
    window_ahead: Option<Spanned<DurationText>>,
    timezone: Option<Spanned<String>>,
}

fn parse_ics(
    doc: &Doc<'_>,
    type_span: std::ops::Range<usize>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Parsed {
    let raw: RawIcs = toml::from_str(doc.text).map_err(|e| vec![doc.toml_error(&e)])?;
    let mut errors = Vec::new();
    let poll_interval = duration(
        doc,
        "poll_interval",
        raw.poll_interval,
        ics_defaults::POLL_INTERVAL,
        false,
        &mut errors,
    );
    let debounce = duration(
        doc,
        "debounce",
        raw.debounce,
        files_defaults::DEBOUNCE,
        true,
        &mut errors,
    );
    let window_past = duration(
        doc,
        "window_past",
        raw.window_past,
        ics_defaults::WINDOW,
        true,
        &mut errors,
    );
    let window_ahead = duration(
        doc,
        "window_ahead",
        raw.window_ahead,
        ics_defaults::WINDOW,
        true,
        &mut errors,
    );
    let timezone = time_zone(doc, raw.timezone.as_ref(), &mut errors);
    let mut paths = Vec::new();
    for raw_path in raw.paths.iter().flatten() {
        match expand_path(raw_path.get_ref(), doc.path.parent(), env) {
            Ok(p) => paths.push(p),
            Err(e) => errors.push(doc.at(raw_path.span(), e.message, e.hint)),
        }
    }
    let mut urls = Vec::new();
    for url in raw.urls.iter().flatten() {
        let lower = url.get_ref().trim().to_ascii_lowercase();
        let rest = ["https://", "http://", "webcal://"]
            .iter()
            .find_map(|scheme| lower.strip_prefix(scheme));
        match rest {
            Some(host) if !host.is_empty() => urls.push(url.get_ref().trim().to_owned()),
            _ => errors.push(doc.at(
                url.span(),
                format!("`{}` is not an http(s) or webcal URL", url.get_ref()),
                Some("subscription URLs look like \"https://example.com/calendar.ics\"".into()),
            )),
        }
    }
    if paths.is_empty() && urls.is_empty() && errors.is_empty() {
        errors.push(doc.at(
            type_span,
            "an `ics` connector needs `paths` or `urls`",
            Some("add e.g. `paths = [\"~/Calendars\"]` or `urls = [\"https://example.com/cal.ics\"]`".into()),
        ));
    }
    let max_file_size = positive_size(
        doc,
        "max_file_size",
        raw.max_file_size,
        ics_defaults::MAX_FILE_SIZE,
        "use e.g. \"50 MiB\"",
        &mut errors,
    );
    if !errors.is_empty() {
        crate::error::sort_by_position(&mut errors);
        return Err(errors);
    }
    Ok((
        raw.enabled.unwrap_or(true),
        poll_interval,
        ConnectorSettings::Ics(IcsSettings {
            paths,
            urls,
            watch: raw.watch.unwrap_or(true),
            debounce,
            max_file_size,
            window_past,
            window_ahead,
            timezone,
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalDav {
    #[serde(rename = "type")]
    _type: IgnoredAny,
    enabled: Option<bool>,
    poll_interval: Option<Spanned<DurationText>>,
    url: Option<Spanned<String>>,
    user: Option<Spanned<String>>,
    password_command: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    calendars: Option<Vec<String>>,
    window_past: Option<Spanned<DurationText>>,
    window_ahead: Option<Spanned<DurationText>>,
    timezone: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCardDav {
    #[serde(rename = "type")]
    _type: IgnoredAny,
    enabled: Option<bool>,
    poll_interval: Option<Spanned<DurationText>>,
    url: Option<Spanned<String>>,
    user: Option<Spanned<String>>,
    password_command: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    addressbooks: Option<Vec<String>>,
}

/// What `caldav` and `carddav` files share.
struct RawDavCommon {
    enabled: Option<bool>,
    poll_interval: Option<Spanned<DurationText>>,
    url: Option<Spanned<String>>,
    user: Option<Spanned<String>>,
    password_command: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
}

/// Validates a DAV URL: http(s), a host, no credentials; `http` only for a loopback host.
fn dav_url(
    doc: &Doc<'_>,
    type_span: std::ops::Range<usize>,
    type_name: &str,
    raw: Option<Spanned<String>>,
    errors: &mut Vec<ConfigError>,
) -> String {
    let example = if type_name == "caldav" {
        "https://dav.example.com/calendars/me/"
    } else {
        "https://dav.example.com/addressbooks/me/"
    };
    let Some(raw) = raw else {
        errors.push(doc.at(
            type_span,
            format!("missing key `url` for a `{type_name}` connector"),
            Some(format!(
                "add the server or account URL, e.g. `url = \"{example}\"`"
            )),
        ));
        return String::new();
    };
    let url = raw.get_ref().trim();
    let lower = url.to_ascii_lowercase();
    let (secure, rest) = if let Some(rest) = lower.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = lower.strip_prefix("http://") {
        (false, rest)
    } else {
        errors.push(doc.at(
            raw.span(),
            format!("`{url}` is not an http(s) URL"),
            Some(format!("e.g. `url = \"{example}\"`")),
        ));
        return String::new();
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        errors.push(doc.at(
            raw.span(),
            "the URL must not contain credentials",
            Some("give the user with `user` and the password with `password_command` or `password_env`".into()),
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
            Some(format!("e.g. `url = \"{example}\"`")),
        ));
        return String::new();
    }
    if !secure && !is_loopback_host(&host) {
        errors.push(
            doc.at(
                raw.span(),
                format!("`http://` is only allowed for a loopback host, not `{host}`"),
                Some(
                    "plain HTTP sends your password and data unencrypted; use `https://` \
                 (http is meant for a server on this machine, e.g. http://127.0.0.1:5232/)"
                        .into(),
                ),
            ),
        );
        return String::new();
    }
    url.to_owned()
}

fn parse_dav_common(
    doc: &Doc<'_>,
    type_span: std::ops::Range<usize>,
    type_name: &str,
    raw: RawDavCommon,
    errors: &mut Vec<ConfigError>,
) -> (bool, Duration, String, Option<String>, Option<Secret>) {
    let poll_interval = duration(
        doc,
        "poll_interval",
        raw.poll_interval,
        dav_defaults::POLL_INTERVAL,
        false,
        errors,
    );
    let url = dav_url(doc, type_span, type_name, raw.url, errors);
    let user = match raw.user {
        None => None,
        Some(user) if user.get_ref().trim().is_empty() => {
            errors.push(doc.at(
                user.span(),
                "`user` is empty",
                Some("leave it out for a server without authentication".into()),
            ));
            None
        }
        Some(user) => Some(user.into_inner().trim().to_owned()),
    };
    let command = raw.password_command.as_ref();
    let env_var = raw.password_env.as_ref();
    let password = secret_pair(doc, "password", command, env_var, errors);
    if user.is_none()
        && let Some(stray) = command.or(env_var)
    {
        errors.push(doc.at(
            stray.span(),
            "a password needs `user`",
            Some("add e.g. `user = \"me@example.com\"`".into()),
        ));
    }
    (
        raw.enabled.unwrap_or(true),
        poll_interval,
        url,
        user,
        password,
    )
}

fn parse_caldav(doc: &Doc<'_>, type_span: std::ops::Range<usize>) -> Parsed {
    let raw: RawCalDav = toml::from_str(doc.text).map_err(|e| vec![doc.toml_error(&e)])?;
    let mut errors = Vec::new();
    let common = RawDavCommon {
        enabled: raw.enabled,
        poll_interval: raw.poll_interval,
        url: raw.url,
        user: raw.user,
        password_command: raw.password_command,
        password_env: raw.password_env,
    };
    let (enabled, poll_interval, url, user, password) =
        parse_dav_common(doc, type_span, "caldav", common, &mut errors);
    let timezone = time_zone(doc, raw.timezone.as_ref(), &mut errors);
    let window_past = duration(
        doc,
        "window_past",
        raw.window_past,
        ics_defaults::WINDOW,
        true,
        &mut errors,
    );
    let window_ahead = duration(
        doc,
        "window_ahead",
        raw.window_ahead,
        ics_defaults::WINDOW,
        true,
        &mut errors,
    );
    if !errors.is_empty() {
        crate::error::sort_by_position(&mut errors);
        return Err(errors);
    }
    Ok((
        enabled,
        poll_interval,
        ConnectorSettings::CalDav(DavSettings {
            url,
            user,
            password,
            collections: raw.calendars.unwrap_or_default(),
            window_past,
            window_ahead,
            timezone,
        }),
    ))
}

fn parse_carddav(doc: &Doc<'_>, type_span: std::ops::Range<usize>) -> Parsed {
    let raw: RawCardDav = toml::from_str(doc.text).map_err(|e| vec![doc.toml_error(&e)])?;
    let mut errors = Vec::new();
    let common = RawDavCommon {
        enabled: raw.enabled,
        poll_interval: raw.poll_interval,
        url: raw.url,
        user: raw.user,
        password_command: raw.password_command,
        password_env: raw.password_env,
    };
    let (enabled, poll_interval, url, user, password) =
        parse_dav_common(doc, type_span, "carddav", common, &mut errors);
    if !errors.is_empty() {
        crate::error::sort_by_position(&mut errors);
        return Err(errors);
    }
    Ok((
        enabled,
        poll_interval,
        ConnectorSettings::CardDav(DavSettings {
            url,
            user,
            password,
            collections: raw.addressbooks.unwrap_or_default(),
            window_past: ics_defaults::WINDOW,
            window_ahead: ics_defaults::WINDOW,
            timezone: None,
        }),
    ))
}

/// A `timezone` key: an IANA zone name.
fn time_zone(
    doc: &Doc<'_>,
    raw: Option<&Spanned<String>>,
    errors: &mut Vec<ConfigError>,
) -> Option<chrono_tz::Tz> {
    let raw = raw?;
    let name = raw.get_ref().trim();
    match name.parse::<chrono_tz::Tz>() {
        Ok(tz) => Some(tz),
        Err(_) => {
            // `europe/berlin`: offer the correctly cased name.
            let hint = match chrono_tz::TZ_VARIANTS
                .iter()
                .find(|tz| tz.name().eq_ignore_ascii_case(name))
            {
                Some(tz) => format!("did you mean `{}`?", tz.name()),
                None => {
                    "use an IANA zone name such as \"Europe/Berlin\" or \"America/New_York\"".into()
                }
            };
            errors.push(doc.at(
                raw.span(),
                format!("unknown time zone `{name}`"),
                Some(hint),
            ));
            None
        }
    }
}

fn located(doc: &Doc<'_>, span: std::ops::Range<usize>, key: &str, e: ValueError) -> ConfigError {
    doc.at(span, format!("`{key}`: {}", e.message), e.hint)
}

pub(crate) fn duration(
    doc: &Doc<'_>,
    key: &str,
    value: Option<Spanned<DurationText>>,
    default: Duration,
    zero_ok: bool,
    errors: &mut Vec<ConfigError>,
) -> Duration {
    let Some(value) = value else { return default };
    match parse_duration(&value.get_ref().0) {
        Ok(d) if d.is_zero() && !zero_ok => {
            errors.push(doc.at(
                value.span(),
                format!("`{key}` must be greater than zero"),
                Some(format!("the default is \"{}\"", format_duration(default))),
            ));
            default
        }
        Ok(d) => d,
        Err(e) => {
            errors.push(located(doc, value.span(), key, e));
            default
        }
    }
}

/// Inverse of `parse_duration` for the round values used as defaults.
fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        _ if ms.is_multiple_of(3_600_000) && ms > 0 => format!("{}h", ms / 3_600_000),
        _ if ms.is_multiple_of(60_000) && ms > 0 => format!("{}m", ms / 60_000),
        _ if ms.is_multiple_of(1_000) => format!("{}s", ms / 1_000),
        _ => format!("{ms}ms"),
    }
}

fn globs(
    doc: &Doc<'_>,
    patterns: Option<Vec<Spanned<String>>>,
    errors: &mut Vec<ConfigError>,
) -> Vec<String> {
    let mut out = Vec::new();
    for pattern in patterns.unwrap_or_default() {
        match globset::Glob::new(pattern.get_ref()) {
            Ok(_) => out.push(pattern.into_inner()),
            Err(e) => errors.push(doc.at(
                pattern.span(),
                format!("invalid glob `{}`: {}", pattern.get_ref(), e.kind()),
                Some("globs use `*`, `**`, `?`, `[abc]` and `{a,b}`; match a literal special character with `[*]`".into()),
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_names() {
        for good in ["notes", "a", "0", "work-mail", "my_docs2", &"a".repeat(64)] {
            assert!(is_valid_connector_name(good), "{good}");
        }
        for bad in [
            "",
            "Notes",
            "-x",
            "_x",
            "a.b",
            "a b",
            "été",
            &"a".repeat(65),
        ] {
            assert!(!is_valid_connector_name(bad), "{bad}");
        }
    }

    #[test]
    fn format_duration_round_trips_defaults() {
        for d in [
            files_defaults::POLL_INTERVAL,
            files_defaults::DEBOUNCE,
            files_defaults::EXTRACT_TIMEOUT,
        ] {
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }
}
