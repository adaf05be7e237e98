//! Starter files written by `ctx init`.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;

/// A commented main `config.toml`. Every key is commented out and shows its
/// default, so the file loads to exactly the zero-config defaults.
pub const STARTER_CONFIG: &str = r#"# ctx configuration, read by ctxd and the ctx CLI.
#
# Every key is optional; the commented-out values are the defaults.
# Data sources ("connectors") are configured one per file in
# connectors.d/NAME.toml next to this file; NAME is the source name.
# Environment overrides: CTX_CONFIG (path of this file), CTX_DATA_DIR, CTX_SOCKET.

[daemon]
# Where ctxd keeps its local store and index. `~` is expanded; relative
# paths are relative to this file's directory.
# Default: $XDG_DATA_HOME/ctx, else ~/.local/share/ctx
# data_dir = "~/.local/share/ctx"

# Unix socket serving the gRPC API (used by the ctx CLI).
# Default: $XDG_RUNTIME_DIR/ctx/ctxd.sock, else <data_dir>/ctxd.sock
# socket = "/run/user/1000/ctx/ctxd.sock"

# Optional TCP listener, off by default. Only loopback addresses are
# accepted; use an SSH tunnel for remote access. Clients must then send a
# bearer token, taken from exactly one of token_command (stdout of a shell
# command) or token_env (an environment variable). Never write the token
# itself in this file.
# listen = "127.0.0.1:7878"
# token_command = "pass show ctx/token"
# token_env = "CTX_TOKEN"

# Default log filter (tracing env-filter syntax), e.g. "info" or "ctxd=debug,info".
# log = "info"

[retrieval]
# Token budget of a retrieval request that does not ask for one.
# default_budget = 8192
# Largest budget a request may ask for.
# max_budget = 4000000
"#;

/// A commented `connectors.d/documents.toml` for a `files` connector.
///
/// It is written disabled: `ctx init` should not start indexing anyone's
/// documents before they have looked at what will be indexed.
pub const STARTER_FILES_CONNECTOR: &str = r#"# A "files" connector: indexes documents in local directories.
# The file name (without .toml) is the source name; rename the file to rename
# the source (a-z, 0-9, `_` and `-`). Files here not ending in .toml are ignored,
# so renaming to documents.toml.disabled also turns it off.

type = "files"

# Set to true to start indexing.
enabled = false

# Directories to index (required). `~` is expanded; relative paths are
# relative to this connectors.d directory.
paths = ["~/Documents"]

# Only index files matching one of these globs (default: every file).
# include = ["**/*.md", "**/*.txt", "**/*.pdf"]

# Skip files matching any of these globs.
# exclude = ["**/.git/**", "**/node_modules/**"]

# Files larger than this are skipped. Bytes, or a number with B, KB, KiB,
# MB, MiB, GB or GiB.
# max_file_size = "20 MiB"

# Watch directories for changes; a full rescan still runs every poll_interval.
# watch = true
# poll_interval = "10m"

# Wait this long for a burst of file changes to settle.
# debounce = "300ms"

# Follow symbolic links while walking the directories.
# follow_symlinks = false

# Give up extracting text from a single file after this long.
# extract_timeout = "10s"
"#;

/// Writes [`STARTER_CONFIG`] to `DIR/config.toml` and
/// [`STARTER_FILES_CONNECTOR`] to `DIR/connectors.d/documents.toml`,
/// creating directories as needed, and returns the written paths.
///
/// Never overwrites: if either file exists, nothing is written and the error
/// names the existing file.
pub fn init(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let files = [
        (dir.join("config.toml"), STARTER_CONFIG),
        (
            dir.join(crate::CONNECTORS_DIR).join("documents.toml"),
            STARTER_FILES_CONNECTOR,
        ),
    ];
    // Check everything first so a half-initialised directory is unlikely;
    // `create_new` below still guards against a file appearing meanwhile.
    for (path, _) in &files {
        if path.symlink_metadata().is_ok() {
            return Err(exists(path));
        }
    }
    let mut written = Vec::new();
    for (path, contents) in &files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                ConfigError::file(parent, format!("cannot create directory: {e}"), None)
            })?;
        }
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => exists(path),
                _ => ConfigError::file(path, format!("cannot create file: {e}"), None),
            })?;
        file.write_all(contents.as_bytes())
            .map_err(|e| ConfigError::file(path, format!("cannot write file: {e}"), None))?;
        written.push(path.clone());
    }
    Ok(written)
}

fn exists(path: &Path) -> ConfigError {
    ConfigError::file(
        path,
        "file already exists; not overwriting it",
        Some("edit the existing file, or move it away and run init again".into()),
    )
}
