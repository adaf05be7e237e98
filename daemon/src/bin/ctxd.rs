//! `ctxd`: the ctx daemon. Loads the configuration, serves the API on a Unix socket, runs the
//! connectors, and shuts down cleanly on SIGTERM or SIGINT.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "ctxd",
    version,
    about = "ctx daemon: mirrors your mail, calendars, CRM and documents locally and serves GrabEverythingRelated over gRPC"
)]
struct Args {
    /// Main configuration file (default: $XDG_CONFIG_HOME/ctx/config.toml).
    #[arg(long, env = "CTX_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides the configuration).
    #[arg(long, env = "CTX_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Unix socket path (overrides the configuration).
    #[arg(long, env = "CTX_SOCKET")]
    socket: Option<PathBuf>,
    /// Log filter, e.g. `info` or `ctx_daemon=debug` (overrides the configuration and RUST_LOG).
    #[arg(long)]
    log: Option<String>,
    /// Log as JSON lines instead of human-readable text.
    #[arg(long)]
    log_json: bool,
}

// glibc's malloc gives each thread that allocates its own arena and returns little of them:
// during a large mail import that alone was ~110 MiB of the daemon's peak RSS (315 vs 207 MiB
// with MALLOC_ARENA_MAX=2, which cost 15% throughput). mimalloc keeps both low.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
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
    let args = Args::parse();
    let source = ctx_config::ConfigSource {
        explicit_path: args.config.clone(),
    };
    let (mut config, bad_connectors) =
        match ctx_config::load_lenient(&source, &ctx_config::process_env) {
            Ok(loaded) => loaded,
            Err(errors) => {
                eprintln!("{errors}");
                std::process::exit(2);
            }
        };
    if let Some(dir) = args.data_dir {
        config.daemon.data_dir = dir;
    }
    if let Some(socket) = args.socket {
        config.daemon.socket = socket;
    }
    let filter = args
        .log
        .clone()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| config.daemon.log.clone());
    let env_filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .with_context(|| format!("invalid log filter `{filter}`"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_writer(std::io::stderr);
    if args.log_json {
        builder.json().init();
    } else {
        builder.init();
    }
    // A panic inside an isolated extractor is caught; log it as a structured line.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(panic = %info, location = %location, "panic caught");
    }));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ctxd-worker")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            config = %config.main_path.as_deref().map(|p| p.display().to_string()).unwrap_or_else(|| "(none: defaults)".into()),
            data_dir = %config.daemon.data_dir.display(),
            connectors = config.connectors.len(),
            "ctxd starting"
        );
        let daemon = ctx_daemon::start(config, bad_connectors)
            .await
            .context("ctxd could not start")?;
        wait_for_signal().await?;
        tracing::info!("shutting down");
        daemon.stop().await;
        Ok(())
    })
}

async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}
