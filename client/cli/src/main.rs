//! `ctx`, the command-line interface of ctx.
//!
//! Talks to a running `ctxd` over its Unix socket (or loopback TCP with a token) and prints
//! either human-readable text or, with `--json`, one JSON object whose schema lives in
//! [`json`]. `ctx demo` runs a daemon in-process over a generated corpus; `ctx config` works
//! without a daemon.
//!
//! Exit codes: 0 success, 1 runtime failure (daemon unreachable, sync failed, timeout...),
//! 2 usage or configuration error. Errors go to stderr as `error: ...` plus a hint.

mod ask;
mod bench;
mod bench_mail;
mod client;
mod config_cmd;
mod corpus;
mod dates;
mod demo;
mod embed_bench;
mod fmt;
mod json;
mod model_cmd;
mod query;
mod relevance;
mod status;
mod vector_bench;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::client::{ConfigFailure, UsageError};

#[derive(Parser, Debug)]
#[command(
    name = "ctx",
    version,
    about = "Query your local context: documents, mail, calendars and CRM mirrored by ctxd",
    long_about = "Query your local context: documents, mail, calendars and CRM mirrored by ctxd.\n\n\
        Most commands talk to a running ctxd over its Unix socket. New here? Run `ctx demo`.",
    after_help = "Exit codes: 0 ok, 1 failure, 2 usage or configuration error."
)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Options of every command.
#[derive(Args, Debug, Clone, Default)]
pub struct GlobalArgs {
    /// ctxd's Unix socket [default: `[daemon] socket` of the configuration].
    #[arg(
        long,
        env = "CTX_SOCKET",
        global = true,
        value_name = "PATH",
        help_heading = "Connection"
    )]
    pub socket: Option<PathBuf>,
    /// Main configuration file [default: $XDG_CONFIG_HOME/ctx/config.toml].
    #[arg(
        long,
        env = "CTX_CONFIG",
        global = true,
        value_name = "PATH",
        help_heading = "Connection"
    )]
    pub config: Option<PathBuf>,
    /// Connect over loopback TCP instead, e.g. http://127.0.0.1:7878.
    #[arg(long, global = true, value_name = "URL", help_heading = "Connection")]
    pub tcp: Option<String>,
    /// Environment variable holding the bearer token for --tcp.
    #[arg(long, global = true, value_name = "VAR", help_heading = "Connection")]
    pub token_env: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Everything related to TEXT that fits a token budget, ready for a prompt.
    Query(query::QueryArgs),
    /// Ask a local model (OpenAI-compatible endpoint) a QUESTION, with its context from ctxd.
    Ask(ask::AskArgs),
    /// Ranked hits for TEXT, without packing.
    Search(query::SearchArgs),
    /// One item, whole.
    Get(query::GetArgs),
    /// State of the daemon and of each connector.
    Status(status::StatusArgs),
    /// Run connectors now (all, or NAME), optionally waiting until they are done.
    Sync(status::SyncArgs),
    /// Check or create the configuration.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Generate a sample corpus, index it with an embedded daemon, and query it.
    Demo(demo::DemoArgs),
    /// Benchmarks.
    Bench(bench::BenchArgs),
    /// Check or install an on-device embedding model for semantic search.
    #[command(subcommand)]
    Model(model_cmd::ModelCommand),
}

fn main() -> ExitCode {
    // candle splits every matrix product across the global thread count unless
    // RAYON_NUM_THREADS is 1; for the short sequences ctx embeds that costs more than it saves
    // (see `Embedder::embed_sorted`), and several cores are used by running batches in
    // parallel instead. A value the user set is kept.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // SAFETY: first statement of `main`, before any other thread exists.
        #[allow(unsafe_code)]
        unsafe {
            std::env::set_var("RAYON_NUM_THREADS", "1");
        }
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Query(args) => client::block_on(query::query(&cli.global, args)),
        Command::Ask(args) => client::block_on(ask::ask(&cli.global, args)),
        Command::Search(args) => client::block_on(query::search(&cli.global, args)),
        Command::Get(args) => client::block_on(query::get(&cli.global, args)),
        Command::Status(args) => client::block_on(status::status(&cli.global, args)),
        Command::Sync(args) => client::block_on(status::sync(&cli.global, args)),
        Command::Config(command) => config_cmd::run(&cli.global, command),
        Command::Demo(args) => demo::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Model(command) => model_cmd::run(&cli.global, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(&e),
    }
}

/// Prints an error the way every command does, and picks the exit code.
fn report(e: &anyhow::Error) -> ExitCode {
    // A closed stdout (`ctx query ... | head`) is not an error worth reporting.
    if e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    }) {
        return ExitCode::SUCCESS;
    }
    if let Some(ConfigFailure(errors)) = e.downcast_ref::<ConfigFailure>() {
        // Already `error: ...` blocks, cargo style.
        eprintln!("{errors}");
        return ExitCode::from(2);
    }
    eprintln!("error: {e:#}");
    if e.downcast_ref::<UsageError>().is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}
