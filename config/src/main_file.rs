//! The main `config.toml`: `[daemon]`, `[retrieval]` and `[ask]`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::ask::{AskConfig, RawAsk, build_ask};
use crate::error::{ConfigError, Doc};
use crate::secret::{Secret, secret_pair};
use crate::value::{expand_path, non_empty};

/// Default `[retrieval] default_budget`, in tokens.
pub const DEFAULT_BUDGET: u64 = 8192;
/// Default `[retrieval] max_budget`, in tokens.
pub const DEFAULT_MAX_BUDGET: u64 = 4_000_000;
/// Default `[daemon] log` filter.
pub const DEFAULT_LOG: &str = "info";

/// Settings of the daemon process itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// Where ctxd keeps its store and index.
    pub data_dir: PathBuf,
    /// Unix socket for the gRPC API.
    pub socket: PathBuf,
    /// Optional TCP listener; validated to be a loopback address.
    pub listen: Option<SocketAddr>,
    /// Bearer token for the TCP listener; always `Some` when `listen` is.
    pub token: Option<Secret>,
    /// Default tracing env-filter directive (not validated here: this crate
    /// does not depend on tracing; the daemon reports a bad filter).
    pub log: String,
    /// `[entities] free_mail_domains`: mail domains that never name an organisation, in
    /// addition to the built-in list of free-mail providers (lowercased).
    pub free_mail_domains: Vec<String>,
}

/// Token budgets for retrieval requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrievalConfig {
    /// Budget used when a request does not name one.
    pub default_budget: u64,
    /// Largest budget a request may ask for.
    pub max_budget: u64,
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        Self {
            default_budget: DEFAULT_BUDGET,
            max_budget: DEFAULT_MAX_BUDGET,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMain {
    daemon: Option<RawDaemon>,
    retrieval: Option<RawRetrieval>,
    ask: Option<RawAsk>,
    entities: Option<RawEntities>,
    /// Validated by `crate::embeddings`.
    #[serde(rename = "embeddings")]
    _embeddings: Option<toml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEntities {
    free_mail_domains: Option<Vec<Spanned<String>>>,
}

/// Validates `[entities] free_mail_domains`: bare domains like `example-mail.org`.
fn free_mail_domains(
    doc: &Doc<'_>,
    raw: Option<RawEntities>,
    errors: &mut Vec<ConfigError>,
) -> Vec<String> {
    let mut out = Vec::new();
    for domain in raw.and_then(|r| r.free_mail_domains).unwrap_or_default() {
        let d = domain.get_ref().trim().to_ascii_lowercase();
        let valid = d.contains('.')
            && !d.starts_with('.')
            && !d.ends_with('.')
            && d.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if valid {
            out.push(d);
        } else {
            errors.push(doc.at(
                domain.span(),
                format!("`{}` is not a mail domain", domain.get_ref()),
                Some("give bare domains, e.g. `free_mail_domains = [\"example-mail.org\"]`".into()),
            ));
        }
    }
    out
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDaemon {
    data_dir: Option<Spanned<String>>,
    socket: Option<Spanned<String>>,
    listen: Option<Spanned<String>>,
    token_command: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
    log: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetrieval {
    default_budget: Option<Spanned<u64>>,
    max_budget: Option<Spanned<u64>>,
}

/// Builds the daemon and retrieval settings from the main file (if any),
/// then applies defaults and the `CTX_DATA_DIR` / `CTX_SOCKET` overrides.
/// All problems found are returned together.
pub(crate) fn build(
    file: Option<(&Path, &str)>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(DaemonConfig, RetrievalConfig, AskConfig), Vec<ConfigError>> {
    let mut errors = Vec::new();
    let (raw, doc) = match file {
        Some((path, text)) => {
            let doc = Doc { path, text };
            match toml::from_str::<RawMain>(text) {
                Ok(raw) => (raw, Some(doc)),
                Err(e) => return Err(vec![doc.toml_error(&e)]),
            }
        }
        None => (RawMain::default(), None),
    };
    let daemon_raw = raw.daemon.unwrap_or_default();
    let base = file.and_then(|(path, _)| path.parent());

    // A path value from the file; errors are located in it.
    let file_path = |value: &Option<Spanned<String>>, errors: &mut Vec<ConfigError>| {
        let (value, doc) = (value.as_ref()?, doc.as_ref()?);
        match expand_path(value.get_ref(), base, env) {
            Ok(path) => Some(path),
            Err(e) => {
                errors.push(doc.at(value.span(), e.message, e.hint));
                None
            }
        }
    };
    let data_dir_from_file = file_path(&daemon_raw.data_dir, &mut errors);
    let socket_from_file = file_path(&daemon_raw.socket, &mut errors);

    // Environment overrides beat the file; they have no file location.
    let data_dir = env_path("CTX_DATA_DIR", env, &mut errors)
        .or(data_dir_from_file)
        .or_else(|| default_data_dir(env, &mut errors));
    let socket = env_path("CTX_SOCKET", env, &mut errors)
        .or(socket_from_file)
        .or_else(|| {
            non_empty(env, "XDG_RUNTIME_DIR")
                .filter(|dir| Path::new(dir).is_absolute())
                .map(|dir| Path::new(&dir).join("ctx").join("ctxd.sock"))
                .or_else(|| data_dir.as_ref().map(|d| d.join("ctxd.sock")))
        });

    let mut listen = None;
    let mut token = None;
    let mut log = DEFAULT_LOG.to_owned();
    let mut retrieval = RetrievalConfig::default();
    let mut ask = AskConfig::default();
    let mut free_mail = Vec::new();
    if let Some(doc) = &doc {
        token = secret_pair(
            doc,
            "token",
            daemon_raw.token_command.as_ref(),
            daemon_raw.token_env.as_ref(),
            &mut errors,
        );
        let both_tokens = daemon_raw.token_command.is_some() && daemon_raw.token_env.is_some();
        if let Some(raw_listen) = &daemon_raw.listen {
            match parse_listen(raw_listen.get_ref()) {
                Ok(addr) if !addr.ip().is_loopback() => errors.push(doc.at(
                    raw_listen.span(),
                    format!("`listen` address `{addr}` is not a loopback address"),
                    Some(
                        "ctxd serves your private data and only listens on loopback \
                         (127.0.0.1 or [::1]); for remote access use an SSH tunnel"
                            .into(),
                    ),
                )),
                // Already reported as "both set" when both are present.
                Ok(_) if token.is_none() && !both_tokens => errors.push(doc.at(
                    raw_listen.span(),
                    "`listen` is set but no bearer token is configured",
                    Some(
                        "add `token_command = \"pass show ctx/token\"` or `token_env = \"CTX_TOKEN\"` \
                         to [daemon]"
                            .into(),
                    ),
                )),
                Ok(addr) => listen = Some(addr),
                Err(()) => errors.push(doc.at(
                    raw_listen.span(),
                    format!("invalid `listen` address `{}`", raw_listen.get_ref()),
                    Some("write IP:PORT, e.g. \"127.0.0.1:7878\" or \"[::1]:7878\"".into()),
                )),
            }
        }
        if let Some(raw_log) = &daemon_raw.log {
            if raw_log.get_ref().trim().is_empty() {
                errors.push(doc.at(
                    raw_log.span(),
                    "`log` is empty",
                    Some("use a tracing filter such as \"info\" or \"ctxd=debug,info\"".into()),
                ));
            } else {
                log = raw_log.get_ref().clone();
            }
        }
        if let Some(raw_retrieval) = raw.retrieval {
            retrieval = build_retrieval(doc, raw_retrieval, &mut errors);
        }
        if let Some(raw_ask) = raw.ask {
            ask = build_ask(doc, raw_ask, &mut errors);
        }
        free_mail = free_mail_domains(doc, raw.entities, &mut errors);
    }

    crate::error::sort_by_position(&mut errors);
    match (data_dir, socket) {
        (Some(data_dir), Some(socket)) if errors.is_empty() => Ok((
            DaemonConfig {
                data_dir,
                socket,
                listen,
                token,
                log,
                free_mail_domains: free_mail,
            },
            retrieval,
            ask,
        )),
        _ => Err(errors),
    }
}

fn build_retrieval(
    doc: &Doc<'_>,
    raw: RawRetrieval,
    errors: &mut Vec<ConfigError>,
) -> RetrievalConfig {
    let default_budget = raw
        .default_budget
        .as_ref()
        .map_or(DEFAULT_BUDGET, |b| *b.get_ref());
    let max_budget = raw
        .max_budget
        .as_ref()
        .map_or(DEFAULT_MAX_BUDGET, |b| *b.get_ref());
    for (key, value) in [
        ("default_budget", &raw.default_budget),
        ("max_budget", &raw.max_budget),
    ] {
        if let Some(value) = value.as_ref().filter(|v| *v.get_ref() == 0) {
            errors.push(doc.at(
                value.span(),
                format!("`{key}` must be greater than zero"),
                Some("budgets are token counts, e.g. 8192".into()),
            ));
        }
    }
    if default_budget > max_budget {
        // Point at whichever of the two the user wrote (prefer default_budget).
        let span = raw
            .default_budget
            .as_ref()
            .or(raw.max_budget.as_ref())
            .map(Spanned::span)
            .unwrap_or(0..0);
        errors.push(doc.at(
            span,
            format!(
                "`default_budget` ({default_budget}) is larger than `max_budget` ({max_budget})"
            ),
            Some("lower `default_budget` or raise `max_budget`".into()),
        ));
    }
    RetrievalConfig {
        default_budget,
        max_budget,
    }
}

/// Accepts `IP:PORT` and, as a convenience, `localhost:PORT` (mapped to
/// 127.0.0.1 so we never depend on what the resolver thinks localhost is).
fn parse_listen(text: &str) -> Result<SocketAddr, ()> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let port = text.strip_prefix("localhost:").ok_or(())?;
    let port: u16 = port.parse().map_err(|_| ())?;
    Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
}

fn env_path(
    var: &str,
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) -> Option<PathBuf> {
    let value = non_empty(env, var)?;
    // Relative values are relative to the working directory, as with any
    // environment variable naming a path.
    match expand_path(&value, None, env) {
        Ok(path) => Some(path),
        Err(e) => {
            errors.push(ConfigError::general(
                format!("environment variable {var}: {}", e.message),
                e.hint,
            ));
            None
        }
    }
}

fn default_data_dir(
    env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<ConfigError>,
) -> Option<PathBuf> {
    // The XDG spec says relative values must be ignored.
    if let Some(dir) = non_empty(env, "XDG_DATA_HOME").filter(|d| Path::new(d).is_absolute()) {
        return Some(Path::new(&dir).join("ctx"));
    }
    if let Some(home) = non_empty(env, "HOME") {
        return Some(Path::new(&home).join(".local/share/ctx"));
    }
    errors.push(ConfigError::general(
        "cannot choose a data directory: neither XDG_DATA_HOME nor HOME is set",
        Some("set `data_dir` in [daemon] or the CTX_DATA_DIR environment variable".into()),
    ));
    None
}
