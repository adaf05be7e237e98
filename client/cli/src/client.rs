//! Connecting to ctxd, and the error types that decide exit codes.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow};
use ctx_client::{Client, ClientError};

use crate::GlobalArgs;

/// A mistake in how `ctx` was called (bad date, unknown kind...): exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The configuration does not load: printed as is (cargo-style blocks), exit code 2.
#[derive(Debug)]
pub struct ConfigFailure(pub ctx_config::ConfigErrors);

impl fmt::Display for ConfigFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ConfigFailure {}

pub fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

/// Runs a command's future on a small runtime (the CLI only waits on one connection).
pub fn block_on<F: Future<Output = anyhow::Result<()>>>(future: F) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(future)
}

/// Where `ctx` will connect.
#[derive(Debug, Clone)]
pub enum Target {
    Unix {
        path: PathBuf,
        /// Where the path came from, for error messages.
        origin: String,
    },
    Tcp {
        url: String,
        token: Option<String>,
    },
}

/// Works out the target from the flags, the environment and the configuration.
pub fn target(global: &GlobalArgs) -> anyhow::Result<Target> {
    if let Some(url) = &global.tcp {
        let token = match &global.token_env {
            Some(var) => Some(std::env::var(var).map_err(|_| {
                usage(format!(
                    "--token-env {var}: the environment variable `{var}` is not set (or not UTF-8)\n  \
                     hint: export {var}=<token>, the token the daemon's token_command/token_env yields"
                ))
            })?),
            None => None,
        };
        return Ok(Target::Tcp {
            url: url.clone(),
            token,
        });
    }
    if global.token_env.is_some() {
        return Err(usage("--token-env only makes sense with --tcp URL"));
    }
    if let Some(path) = global.socket.as_ref().filter(|p| !p.as_os_str().is_empty()) {
        return Ok(Target::Unix {
            path: path.clone(),
            origin: "--socket / CTX_SOCKET".into(),
        });
    }
    let source = ctx_config::ConfigSource {
        explicit_path: global.config.clone(),
    };
    // Lenient: a broken connector file must not stop us from talking to the daemon.
    let (config, _bad) = ctx_config::load_lenient(&source, &ctx_config::process_env)
        .map_err(|errors| anyhow::Error::new(ConfigFailure(errors)))?;
    let origin = match &config.main_path {
        Some(p) => format!("`[daemon] socket` in {}", p.display()),
        None => "the default location (no config file)".into(),
    };
    Ok(Target::Unix {
        path: config.daemon.socket,
        origin,
    })
}

/// Connects to the daemon the flags designate.
pub async fn connect(global: &GlobalArgs) -> anyhow::Result<Client> {
    match target(global)? {
        Target::Unix { path, origin } => connect_unix(&path, &origin).await,
        Target::Tcp { url, token } => {
            let connecting = Client::connect_tcp(&url, token.as_deref());
            match tokio::time::timeout(Duration::from_secs(10), connecting).await {
                Ok(Ok(client)) => Ok(client),
                Ok(Err(ClientError::Address(a))) => Err(usage(format!(
                    "invalid --tcp address `{a}`\n  hint: use a URL like http://127.0.0.1:7878"
                ))),
                Ok(Err(e)) => Err(anyhow!(
                    "{}\n  hint: is ctxd listening there? check `listen` in its config.toml",
                    with_sources(&e)
                )),
                Err(_) => Err(anyhow!("timed out connecting to ctxd at {url}")),
            }
        }
    }
}

/// Connects over a Unix socket, explaining failures.
pub async fn connect_unix(path: &Path, origin: &str) -> anyhow::Result<Client> {
    if std::fs::symlink_metadata(path).is_err() {
        return Err(anyhow!(
            "ctxd is not running: no socket at {} (from {origin})\n  \
             hint: start the daemon with `ctxd`, point at it with --socket PATH, \
             or try `ctx demo` to see ctx on sample data",
            path.display()
        ));
    }
    match tokio::time::timeout(Duration::from_secs(10), Client::connect_unix(path)).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(ClientError::Unix { source, .. })) => Err(anyhow!(
            "cannot connect to ctxd at {} (from {origin}): {}\n  \
             hint: the daemon may have stopped and left its socket behind; start it with `ctxd`",
            path.display(),
            with_sources(&source)
        )),
        Ok(Err(e)) => Err(anyhow!("{}", with_sources(&e))),
        Err(_) => Err(anyhow!(
            "timed out connecting to ctxd at {}\n  hint: is the daemon stuck? see its logs",
            path.display()
        )),
    }
}

/// An error with its sources: `transport error: Connection refused (os error 111)`.
pub fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Turns a failed call into an error with a hint; invalid arguments are usage errors (exit 2).
pub fn call_error(status: tonic::Status) -> anyhow::Error {
    use tonic::Code;
    let message = status.message().to_string();
    match status.code() {
        Code::InvalidArgument => usage(message),
        Code::NotFound => anyhow!("{message}"),
        Code::Unavailable => anyhow!(
            "ctxd is unavailable: {message}\n  hint: the daemon may be shutting down; retry in a moment"
        ),
        Code::Unauthenticated => anyhow!(
            "ctxd refused the token: {message}\n  hint: check --token-env and the daemon's token_command/token_env"
        ),
        Code::DeadlineExceeded => anyhow!("ctxd took too long: {message}"),
        code => anyhow!("ctxd answered {code:?}: {message}"),
    }
}
