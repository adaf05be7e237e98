//! `ctx config check` and `ctx config init`: no daemon needed.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use ctx_config::{ConfigSource, ConnectorSettings};

use crate::GlobalArgs;
use crate::client::ConfigFailure;
use crate::fmt::stdout;

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Load the configuration strictly and show what it says (exit 2 on errors).
    Check,
    /// Write a commented starter config.toml and connectors.d/documents.toml.
    Init {
        /// Directory to write into [default: the directory of the default config path].
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

pub fn run(global: &GlobalArgs, command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Check => check(global),
        ConfigCommand::Init { dir } => init(global, dir),
    }
}

fn check(global: &GlobalArgs) -> anyhow::Result<()> {
    let source = ConfigSource {
        explicit_path: global.config.clone(),
    };
    let config = ctx_config::load(&source, &ctx_config::process_env)
        .map_err(|errors| anyhow::Error::new(ConfigFailure(errors)))?;
    let mut out = String::new();
    match &config.main_path {
        Some(p) => {
            let _ = writeln!(out, "config      {}", p.display());
        }
        None => {
            let would_be = source
                .resolve(&ctx_config::process_env)
                .map(|(p, _)| p.display().to_string())
                .unwrap_or_else(|| "?".into());
            let _ = writeln!(out, "config      (none; defaults, no file at {would_be})");
        }
    }
    let _ = writeln!(out, "data dir    {}", config.daemon.data_dir.display());
    let _ = writeln!(out, "socket      {}", config.daemon.socket.display());
    if let Some(listen) = config.daemon.listen {
        let _ = writeln!(out, "listen      {listen} (bearer token required)");
    }
    let _ = writeln!(out, "log         {}", config.daemon.log);
    let _ = writeln!(
        out,
        "budgets     default {}, max {}",
        config.retrieval.default_budget, config.retrieval.max_budget
    );
    match &config.embeddings.model {
        Some(model) => {
            let _ = writeln!(
                out,
                "embeddings  {} ({} threads at nice {}, batches of {})",
                model.display(),
                config.embeddings.threads,
                config.embeddings.nice,
                config.embeddings.batch_size
            );
        }
        None => {
            let _ = writeln!(out, "embeddings  off (keyword + entity graph only)");
        }
    }
    let _ = writeln!(out, "connectors  {}", config.connectors_dir.display());
    if config.connectors.is_empty() {
        let _ = writeln!(
            out,
            "  (none; add connectors.d/NAME.toml, see `ctx config init`)"
        );
    }
    for c in &config.connectors {
        let _ = writeln!(
            out,
            "  {} ({}, {}, poll every {})",
            c.name,
            c.settings.type_name(),
            if c.enabled { "enabled" } else { "disabled" },
            humantime(c.poll_interval)
        );
        // Other connector types only show the common settings above (for now).
        #[allow(unreachable_patterns, clippy::single_match)]
        match &c.settings {
            ConnectorSettings::Files(f) => {
                for p in &f.paths {
                    let _ = writeln!(out, "      path     {}{}", p.display(), missing(p));
                }
                if !f.include.is_empty() {
                    let _ = writeln!(out, "      include  {}", f.include.join(", "));
                }
                if !f.exclude.is_empty() {
                    let _ = writeln!(out, "      exclude  {}", f.exclude.join(", "));
                }
                let _ = writeln!(
                    out,
                    "      watch    {}, max file size {} bytes",
                    yes_no(f.watch),
                    f.max_file_size
                );
            }
            ConnectorSettings::Maildir(m) => {
                let _ = writeln!(
                    out,
                    "      path     {}{}",
                    m.path.display(),
                    missing(&m.path)
                );
                folders(&mut out, &m.include_folders, &m.exclude_folders);
                let _ = writeln!(
                    out,
                    "      watch    {}, max message size {} bytes",
                    yes_no(m.watch),
                    m.max_message_size
                );
            }
            ConnectorSettings::Mbox(m) => {
                let _ = writeln!(
                    out,
                    "      path     {}{}",
                    m.path.display(),
                    missing(&m.path)
                );
                let _ = writeln!(
                    out,
                    "      watch    {}, max message size {} bytes",
                    yes_no(m.watch),
                    m.max_message_size
                );
            }
            ConnectorSettings::Imap(i) => {
                let security = match i.security {
                    ctx_config::ImapSecurity::Tls => "tls",
                    ctx_config::ImapSecurity::StartTls => "starttls",
                    ctx_config::ImapSecurity::Plain => "plain",
                };
                let login = match &i.login {
                    ctx_config::ImapLogin::Password(secret) => {
                        format!("password {}", secret_source(secret))
                    }
                    ctx_config::ImapLogin::XOAuth2(secret) => {
                        format!("xoauth2 token {}", secret_source(secret))
                    }
                };
                let _ = writeln!(out, "      server   {}:{} ({security})", i.host, i.port);
                let _ = writeln!(out, "      login    {} with {login}", i.user);
                folders(&mut out, &i.include_folders, &i.exclude_folders);
                let _ = writeln!(
                    out,
                    "      batches  {} messages, max message size {} bytes",
                    i.batch_size, i.max_message_size
                );
            }
            ConnectorSettings::Ics(c) => {
                for p in &c.paths {
                    let _ = writeln!(out, "      path     {}{}", p.display(), missing(p));
                }
                for u in &c.urls {
                    let _ = writeln!(out, "      url      {u}");
                }
                let _ = writeln!(
                    out,
                    "      watch    {}, occurrences {} back to {} ahead",
                    yes_no(c.watch),
                    humantime(c.window_past),
                    humantime(c.window_ahead)
                );
            }
            ConnectorSettings::CalDav(d) | ConnectorSettings::CardDav(d) => {
                let _ = writeln!(out, "      url      {}", d.url);
                match (&d.user, &d.password) {
                    (Some(user), Some(secret)) => {
                        let _ = writeln!(
                            out,
                            "      login    {user} with password {}",
                            secret_source(secret)
                        );
                    }
                    (Some(user), None) => {
                        let _ = writeln!(out, "      login    {user} (no password)");
                    }
                    _ => {
                        let _ = writeln!(out, "      login    none");
                    }
                }
                if !d.collections.is_empty() {
                    let _ = writeln!(out, "      only     {}", d.collections.join(", "));
                }
            }
            ConnectorSettings::HubSpot(h) => {
                let _ = writeln!(out, "      api      {}", h.base_url);
                let _ = writeln!(out, "      token    {}", secret_source(&h.token));
                let _ = writeln!(out, "      objects  {}", h.objects.join(", "));
                let _ = writeln!(
                    out,
                    "      pages    {} records, incremental overlap {}",
                    h.page_size,
                    humantime(h.overlap)
                );
            }
            ConnectorSettings::CrmRest(r) => {
                let _ = writeln!(out, "      api      {}", r.base_url);
                let auth = match &r.auth {
                    ctx_config::RestAuth::None => "none".to_owned(),
                    ctx_config::RestAuth::Bearer(s) => format!("bearer token {}", secret_source(s)),
                    ctx_config::RestAuth::Header(h, s) => {
                        format!("header {h} {}", secret_source(s))
                    }
                    ctx_config::RestAuth::Query(q, s) => {
                        format!("query parameter {q} {}", secret_source(s))
                    }
                };
                let _ = writeln!(out, "      auth     {auth}");
                for o in &r.objects {
                    let incremental = match (&o.incremental_path, &o.incremental_param) {
                        (Some(_), _) => "incremental by path".to_owned(),
                        (None, Some(p)) => format!("incremental by `{p}`"),
                        (None, None) => "full listing each pass".to_owned(),
                    };
                    let _ = writeln!(
                        out,
                        "      object   {} at {} ({incremental})",
                        o.object, o.path
                    );
                }
            }
            ConnectorSettings::CrmExport(e) => {
                for f in &e.files {
                    let _ = writeln!(
                        out,
                        "      file     {} ({}, {} mapped fields){}",
                        f.path.display(),
                        f.object,
                        f.fields.len(),
                        missing(&f.path)
                    );
                }
                let _ = writeln!(out, "      watch    {}", yes_no(e.watch));
            }
        }
    }
    let enabled = config.enabled_connectors().count();
    let _ = writeln!(
        out,
        "ok: {} connector{}, {enabled} enabled",
        config.connectors.len(),
        if config.connectors.len() == 1 {
            ""
        } else {
            "s"
        }
    );
    stdout(&out).context("cannot write to stdout")?;
    Ok(())
}

fn humantime(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => format!("{}ms", d.as_millis()),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn init(global: &GlobalArgs, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let dir = match dir {
        Some(d) => d,
        None => {
            // --config / CTX_CONFIG name a file; init next to it, else in the default place.
            let path = match &global.config {
                Some(p) => Some(p.clone()),
                None => ctx_config::default_config_path(&ctx_config::process_env),
            };
            path.and_then(|p| p.parent().map(|d| d.to_path_buf()))
                .ok_or_else(|| {
                    crate::client::usage(
                        "cannot work out the config directory: neither XDG_CONFIG_HOME nor HOME is set\n  \
                         hint: pass --dir DIR",
                    )
                })?
        }
    };
    let written = ctx_config::init(&dir)
        .map_err(|e| anyhow::Error::new(ConfigFailure(ctx_config::ConfigErrors(vec![e]))))?;
    let mut out = String::new();
    for p in &written {
        let _ = writeln!(out, "wrote {}", p.display());
    }
    let connector = written
        .get(1)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "connectors.d/documents.toml".into());
    let config_flag = match dir.join("config.toml") {
        p if Some(&p) == ctx_config::default_config_path(&ctx_config::process_env).as_ref() => {
            String::new()
        }
        p => format!(" --config {}", p.display()),
    };
    let _ = write!(
        out,
        "\nnext steps:\n  \
         1. edit {connector}: set `paths` to the folders to index and `enabled = true`\n  \
         2. ctx{config_flag} config check\n  \
         3. start the daemon: ctxd{config_flag}\n  \
         4. ctx{config_flag} status, then ctx{config_flag} query \"what you are looking for\"\n"
    );
    stdout(&out).context("cannot write to stdout")?;
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn missing(p: &std::path::Path) -> &'static str {
    if p.exists() {
        ""
    } else {
        "  (does not exist now)"
    }
}

fn folders(out: &mut String, include: &[String], exclude: &[String]) {
    if !include.is_empty() {
        let _ = writeln!(out, "      folders  {}", include.join(", "));
    }
    if !exclude.is_empty() {
        let _ = writeln!(out, "      skip     {}", exclude.join(", "));
    }
}

/// Where a secret comes from, without its value (the command or variable name is not secret).
fn secret_source(secret: &ctx_config::Secret) -> String {
    match secret {
        ctx_config::Secret::Command(command) => format!("from command `{command}`"),
        ctx_config::Secret::Env(var) => format!("from ${var}"),
    }
}
