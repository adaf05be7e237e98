//! ctx configuration: TOML files on disk to validated, typed settings.
//!
//! This crate owns the configuration *format* and its validation:
//!
//! - the main file (`$XDG_CONFIG_HOME/ctx/config.toml`, else
//!   `~/.config/ctx/config.toml`) with `[daemon]`, `[retrieval]` and `[ask]`;
//! - one file per connector in `connectors.d/NAME.toml` next to it;
//! - discovery (`--config` flag, then `CTX_CONFIG`, then the default path)
//!   and the `CTX_DATA_DIR` / `CTX_SOCKET` overrides;
//! - the starter files written by `ctx init` ([`STARTER_CONFIG`],
//!   [`STARTER_FILES_CONNECTOR`], [`init`]);
//! - references to secrets ([`Secret`]) and running them on demand.
//!
//! Every problem becomes a [`ConfigError`] naming the file, the line and
//! column, and a hint; loading collects errors from all files so that one bad
//! connector file does not hide problems in the others.
//!
//! Typical use in a binary:
//!
//! ```no_run
//! let source = ctx_config::ConfigSource::default(); // or ::explicit(flag)
//! match ctx_config::load_lenient(&source, &ctx_config::process_env) {
//!     Ok((config, bad_connectors)) => {
//!         for error in &bad_connectors {
//!             eprintln!("warning: connector skipped: {error}");
//!         }
//!         println!("{} connectors enabled", config.enabled_connectors().count());
//!     }
//!     Err(errors) => eprintln!("{errors}"), // one "error: ..." block per problem
//! }
//! ```
//!
//! What this crate must never do:
//!
//! - log, store, or put into an error a resolved secret value (config
//!   structs hold only the *recipe*, see [`Secret`]);
//! - read or modify the process environment behind the caller's back: every
//!   entry point takes an `env` lookup (use [`process_env`] in binaries and a
//!   map in tests);
//! - touch the filesystem beyond reading config files and, in [`init`],
//!   creating the starter files (it does not create data or socket
//!   directories, nor check that connector paths exist);
//! - panic on any input.

mod ask;
mod connector;
mod crm;
mod embeddings;
mod error;
mod main_file;
mod secret;
mod starter;
mod value;

use std::path::{Path, PathBuf};

pub use ask::{AskConfig, DEFAULT_ASK_BASE_URL, DEFAULT_ASK_BUDGET, check_ask_base_url};
pub use connector::{
    ConnectorConfig, ConnectorSettings, DavSettings, FilesSettings, IcsSettings, ImapLogin,
    ImapSecurity, ImapSettings, MaildirSettings, MboxSettings, RESERVED_CONNECTOR_TYPES,
    SUPPORTED_CONNECTOR_TYPES, dav_defaults, files_defaults, ics_defaults, imap_defaults,
    is_valid_connector_name, load_connector, mail_defaults,
};
pub use crm::{
    CRM_MAPPING_TARGETS, CRM_OBJECTS, CrmExportSettings, CrmRestSettings, ExportFileSettings,
    ExportFormatSetting, HubSpotSettings, RestAuth, RestObjectSettings, RestPaginationSettings,
    crm_defaults,
};
pub use embeddings::{
    DEFAULT_EMBED_BATCH, DEFAULT_EMBED_NICE, DEFAULT_EMBED_THREADS, EmbeddingsConfig, MODEL_FILES,
};
pub use error::{ConfigError, ConfigErrors};
pub use main_file::{
    DEFAULT_BUDGET, DEFAULT_LOG, DEFAULT_MAX_BUDGET, DaemonConfig, RetrievalConfig,
};
pub use secret::{Secret, SecretError};
pub use starter::{STARTER_CONFIG, STARTER_FILES_CONNECTOR, init};
pub use value::{ValueError, parse_duration, parse_size};

/// Environment variable naming the main config file (below `--config`).
pub const ENV_CONFIG: &str = "CTX_CONFIG";
/// Environment variable overriding `[daemon] data_dir`.
pub const ENV_DATA_DIR: &str = "CTX_DATA_DIR";
/// Environment variable overriding `[daemon] socket`.
pub const ENV_SOCKET: &str = "CTX_SOCKET";
/// Name of the connector directory next to the main file.
pub const CONNECTORS_DIR: &str = "connectors.d";

/// The fully validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The main file that was read; `None` when the default file does not
    /// exist (zero-config start).
    pub main_path: Option<PathBuf>,
    /// `connectors.d` next to the main file (which may not exist).
    pub connectors_dir: PathBuf,
    pub daemon: DaemonConfig,
    pub retrieval: RetrievalConfig,
    /// Where `ctx ask` sends questions.
    pub ask: AskConfig,
    /// `[embeddings]`: the on-device model for semantic search, if any.
    pub embeddings: EmbeddingsConfig,
    /// Valid connectors, sorted by name; includes disabled ones.
    pub connectors: Vec<ConnectorConfig>,
}

impl Config {
    /// Connectors with `enabled = true`.
    pub fn enabled_connectors(&self) -> impl Iterator<Item = &ConnectorConfig> {
        self.connectors.iter().filter(|c| c.enabled)
    }
}

/// Where to look for the main config file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSource {
    /// The `--config` flag, if given. Must exist.
    pub explicit_path: Option<PathBuf>,
}

impl ConfigSource {
    /// Use exactly this file (the `--config` flag).
    pub fn explicit(path: impl Into<PathBuf>) -> Self {
        Self {
            explicit_path: Some(path.into()),
        }
    }

    /// The main file this source designates and whether it must exist: the
    /// flag, then `CTX_CONFIG` (both must exist), then the default path
    /// (may be missing). `None` when no default can be computed because
    /// neither `XDG_CONFIG_HOME` nor `HOME` is set.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Option<(PathBuf, bool)> {
        if let Some(path) = &self.explicit_path {
            return Some((path.clone(), true));
        }
        if let Some(path) = value::non_empty(env, ENV_CONFIG) {
            // `~` is expanded because the value may come from a unit file or
            // a quoted shell assignment, where the shell did not expand it.
            let path = value::expand_path(&path, None, env).unwrap_or_else(|_| PathBuf::from(path));
            return Some((path, true));
        }
        default_config_path(env).map(|p| (p, false))
    }
}

/// `$XDG_CONFIG_HOME/ctx/config.toml` (when set and absolute), else
/// `$HOME/.config/ctx/config.toml`; `None` when neither is set.
pub fn default_config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let base = value::non_empty(env, "XDG_CONFIG_HOME")
        .filter(|d| Path::new(d).is_absolute())
        .map(PathBuf::from)
        .or_else(|| value::non_empty(env, "HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(base.join("ctx").join("config.toml"))
}

/// Environment lookup backed by the real process environment; non-UTF-8
/// values count as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Loads and validates everything; any error in any file fails the load,
/// with all errors found.
pub fn load(
    source: &ConfigSource,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigErrors> {
    let (config, errors) = load_lenient(source, env)?;
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Like [`load`], but a connector file with errors only drops that
/// connector: the good configuration is returned with the per-connector
/// errors, so the daemon can run the good connectors and log the bad ones.
/// Errors in the main file (or an unreadable `connectors.d`) are still fatal;
/// connector errors found along the way are included in that failure.
pub fn load_lenient(
    source: &ConfigSource,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Config, Vec<ConfigError>), ConfigErrors> {
    let Some((path, required)) = source.resolve(env) else {
        return Err(ConfigError::general(
            "cannot locate the configuration: neither XDG_CONFIG_HOME nor HOME is set",
            Some("pass --config PATH or set CTX_CONFIG".into()),
        )
        .into());
    };

    let mut fatal = Vec::new();
    let text = match read_text_opt(&path, required) {
        Ok(text) => text,
        Err(e) => {
            fatal.push(e);
            None
        }
    };
    let main = if fatal.is_empty() {
        main_file::build(text.as_deref().map(|t| (path.as_path(), t)), env)
    } else {
        Err(Vec::new())
    };
    let embeddings = if fatal.is_empty() {
        embeddings::build(text.as_deref().map(|t| (path.as_path(), t)), env)
    } else {
        Err(Vec::new())
    };
    // `[embeddings]` errors are main-file errors: fatal, reported with the others.
    let (main, embeddings) = match (main, embeddings) {
        (Ok(m), Ok(e)) => (Ok(m), e),
        (Ok(_), Err(e)) => (Err(e), EmbeddingsConfig::default()),
        (Err(mut m), Err(e)) => {
            // A syntax error is found by both readers: report it once.
            for error in e {
                if !m.contains(&error) {
                    m.push(error);
                }
            }
            crate::error::sort_by_position(&mut m);
            (Err(m), EmbeddingsConfig::default())
        }
        (Err(m), Ok(_)) => (Err(m), EmbeddingsConfig::default()),
    };

    let connectors_dir = path
        .parent()
        .unwrap_or_else(|| Path::new(""))
        .join(CONNECTORS_DIR);
    let (connectors, connector_errors) = match load_connectors_dir(&connectors_dir, env) {
        Ok(found) => found,
        Err(e) => {
            fatal.push(e);
            (Vec::new(), Vec::new())
        }
    };

    match main {
        Ok((daemon, retrieval, ask)) if fatal.is_empty() => Ok((
            Config {
                main_path: text.is_some().then_some(path),
                connectors_dir,
                daemon,
                retrieval,
                ask,
                embeddings,
                connectors,
            },
            connector_errors,
        )),
        Ok(_) => {
            fatal.extend(connector_errors);
            Err(ConfigErrors(fatal))
        }
        Err(main_errors) => {
            fatal.extend(main_errors);
            fatal.extend(connector_errors);
            Err(ConfigErrors(fatal))
        }
    }
}

/// Loads every `*.toml` in `dir`, sorted by file name. Hidden files are
/// skipped (editors leave lock files like `.#notes.toml` there), as is
/// anything not ending in `.toml` (`notes.toml.disabled`, `README`).
fn load_connectors_dir(
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Vec<ConnectorConfig>, Vec<ConfigError>), ConfigError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(io_error(dir, "cannot read connector directory", &e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, "cannot read connector directory", &e))?;
        let path = entry.path();
        let file_name = entry.file_name();
        let hidden = file_name.as_encoded_bytes().starts_with(b".");
        let is_toml = path.extension().is_some_and(|ext| ext == "toml");
        // `metadata` follows symlinks, so a linked-in connector file counts
        // and a dangling link is reported when read. Directories, FIFOs and
        // sockets are skipped: reading a FIFO would block the daemon.
        let regular = std::fs::metadata(&path).map_or(true, |m| m.is_file());
        if is_toml && !hidden && regular {
            files.push(path);
        }
    }
    files.sort();

    let mut connectors = Vec::new();
    let mut errors = Vec::new();
    for path in files {
        match load_connector(&path, env) {
            Ok(connector) => connectors.push(connector),
            Err(errs) => errors.extend(errs),
        }
    }
    Ok((connectors, errors))
}

/// Reads a config file as UTF-8; a missing file is `Ok(None)` unless
/// `required`.
fn read_text_opt(path: &Path, required: bool) -> Result<Option<String>, ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => utf8(path, bytes).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ConfigError::file(
            path,
            "config file not found",
            Some("check the --config flag and the CTX_CONFIG environment variable, or run `ctx init`".into()),
        )),
        Err(e) => Err(io_error(path, "cannot read config file", &e)),
    }
}

/// Reads a file that must exist (a connector file found by listing).
pub(crate) fn read_text(path: &Path) -> Result<String, ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => utf8(path, bytes),
        Err(e) => Err(io_error(path, "cannot read connector file", &e)),
    }
}

fn utf8(path: &Path, bytes: Vec<u8>) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|_| {
        ConfigError::file(
            path,
            "file is not valid UTF-8",
            Some("TOML files must be UTF-8 encoded".into()),
        )
    })
}

fn io_error(path: &Path, what: &str, e: &std::io::Error) -> ConfigError {
    let hint = match e.kind() {
        std::io::ErrorKind::PermissionDenied => Some("check the file permissions".into()),
        std::io::ErrorKind::IsADirectory => {
            Some("point at the config file, not its directory".into())
        }
        _ => None,
    };
    ConfigError::file(path, format!("{what}: {e}"), hint)
}

/// Property tests for "no panics on any input": arbitrary text, and
/// TOML-shaped text built from real keys and hostile values, must produce
/// either a config or located errors whose positions lie inside the file.
#[cfg(test)]
mod robustness_tests {
    use proptest::prelude::*;

    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "HOME").then(|| "/home/test".to_owned())
    }

    fn check_positions(text: &str, errors: &[ConfigError]) {
        let lines = text.split('\n').count();
        for e in errors {
            assert!(!e.message.is_empty());
            if let Some(line) = e.line {
                assert!(line >= 1 && line <= lines, "{e} (file has {lines} lines)");
                assert!(e.column.is_some_and(|c| c >= 1));
            }
        }
    }

    fn toml_like() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            "type",
            "enabled",
            "poll_interval",
            "paths",
            "include",
            "exclude",
            "max_file_size",
            "watch",
            "debounce",
            "follow_symlinks",
            "extract_timeout",
            "[daemon]",
            "[retrieval]",
            "data_dir",
            "socket",
            "listen",
            "token_command",
            "token_env",
            "log",
            "default_budget",
            "max_budget",
            "pahts",
        ]);
        let value = prop::sample::select(vec![
            "\"files\"",
            "\"imap\"",
            "true",
            "0",
            "-1",
            "18446744073709551615",
            "\"\"",
            "\"5m\"",
            "\"0s\"",
            "\"20 MiB\"",
            "\"~\"",
            "\"~x\"",
            "[]",
            "[\"~/a\", \"{\"]",
            "[\"[z-a]\"]",
            "\"0.0.0.0:1\"",
            "\"127.0.0.1:1\"",
            "\"é\u{1F600}\"",
            "{ a = 1 }",
            "[",
            "\"\\u0000\"",
            "1979-05-27",
        ]);
        prop::collection::vec((key, value), 0..8).prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(k, v)| {
                    if k.starts_with('[') {
                        format!("{k}\n")
                    } else {
                        format!("{k} = {v}\n")
                    }
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn connector_parse_never_panics(text in prop_oneof![any::<String>(), toml_like()]) {
            match connector::parse(Path::new("/cfg/connectors.d/x.toml"), &text, &env) {
                Ok(c) => prop_assert_eq!(c.name, "x"),
                Err(errors) => {
                    prop_assert!(!errors.is_empty());
                    check_positions(&text, &errors);
                }
            }
        }

        #[test]
        fn main_file_never_panics(text in prop_oneof![any::<String>(), toml_like()]) {
            if let Err(errors) = main_file::build(Some((Path::new("/cfg/config.toml"), &text)), &env) {
                prop_assert!(!errors.is_empty());
                check_positions(&text, &errors);
            }
        }

        #[test]
        fn value_parsers_never_panic(text in any::<String>()) {
            let _ = parse_duration(&text);
            let _ = parse_size(&text);
        }
    }
}
