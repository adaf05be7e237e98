//! `ctx bench`: the foundation benchmark.
//!
//! Generates a sample corpus ([`crate::corpus`]), starts the real daemon over it (the `ctxd`
//! binary next to this executable as a child process, so that its memory is measured alone;
//! in-process when that binary is missing), measures ingest throughput, then runs at least 50
//! queries through a real gRPC client over the Unix socket at two token budgets and reports
//! latency percentiles (client wall time and the server's own `took_us`), the streaming call's
//! time to its first item next to the unary call at the large budget, budget compliance,
//! the daemon's peak RSS and the data directory's size. The results are printed and written to
//! a marked section of `BENCHMARKS.md`, so other sections of that file survive.
//!
//! This is a measurement tool, not a test: nothing here fails on a missed target.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ctx_client::{Client, pb};

use crate::corpus::{self, CorpusOptions, CorpusStats};

/// Start marker of the section this command owns in the output file.
pub const SECTION_START: &str = "<!-- foundation-bench:start -->";
/// End marker of that section.
pub const SECTION_END: &str = "<!-- foundation-bench:end -->";

/// Token budgets every query runs at.
const BUDGETS: [u32; 2] = [8192, 131_072];
/// Targets: p50 at the small budget, p95 at the large one, daemon peak RSS.
const TARGET_P50_8K_US: u64 = 5_000;
const TARGET_P95_128K_US: u64 = 30_000;
const TARGET_RSS_BYTES: u64 = 300 * 1024 * 1024;
/// From this many items on, the run is the large-store benchmark: its own section, and the
/// target p95 < 100 ms at every budget instead of the 100K targets.
const LARGE_ITEMS: usize = 500_000;
const TARGET_P95_LARGE_US: u64 = 100_000;
/// Markers of the large-store section.
pub const LARGE_SECTION_START: &str = "<!-- foundation-bench-large:start -->";
pub const LARGE_SECTION_END: &str = "<!-- foundation-bench-large:end -->";

/// The section markers a run with `items` items writes between.
fn section_markers(items: usize) -> (&'static str, &'static str) {
    if items >= LARGE_ITEMS {
        (LARGE_SECTION_START, LARGE_SECTION_END)
    } else {
        (SECTION_START, SECTION_END)
    }
}
/// Bumped when the generator's output changes, so a stale corpus is not reused.
const CORPUS_FORMAT: u32 = 1;
/// Longest wait for ingest to finish.
const INGEST_TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// Options of `ctx bench`.
#[derive(clap::Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    /// Another benchmark than the foundation one.
    #[command(subcommand)]
    pub what: Option<BenchKind>,
    /// Number of files to generate and ingest.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub items: usize,
    /// Number of distinct queries (at least 50); each runs at budgets 8192 and 131072.
    #[arg(long, default_value_t = 60, value_name = "N", value_parser = clap::value_parser!(u32).range(50..))]
    pub queries: u32,
    /// Timed rounds over all queries and budgets.
    #[arg(long, default_value_t = 3, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Working directory (corpus, config, data). A corpus generated there earlier with the same
    /// size and seed is reused. [default: $TMPDIR/ctx-bench-N-sSEED]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// File to write the results section into.
    #[arg(long, default_value = "BENCHMARKS.md", value_name = "PATH")]
    pub output: PathBuf,
    /// Keep the corpus and the daemon's data directory afterwards.
    #[arg(long)]
    pub keep: bool,
    /// Seed of the corpus generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The ctxd binary to benchmark [default: `ctxd` next to this executable].
    #[arg(long, value_name = "PATH")]
    pub ctxd: Option<PathBuf>,
    /// Run the daemon inside this process instead of as a child (RSS then covers everything).
    #[arg(long)]
    pub in_process: bool,
}

/// The other benchmarks.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum BenchKind {
    /// Relevance: recall, precision and latency of GrabEverythingRelated on a synthetic
    /// organisation with ground truth, side by side with a BM25-only baseline.
    Relevance(crate::relevance::RelevanceArgs),
    /// Mail ingest: a generated Maildir indexed by ctxd, `notmuch new` and `mu index`.
    Mail(crate::bench_mail::MailBenchArgs),
}

/// Runs the benchmark. Safe to call from inside a Tokio runtime (it then runs on its own thread).
pub fn run(mut args: BenchArgs) -> Result<()> {
    match args.what.take() {
        Some(BenchKind::Relevance(relevance)) => return crate::relevance::run(relevance),
        Some(BenchKind::Mail(mail)) => return crate::bench_mail::run(mail),
        None => {}
    }
    if tokio::runtime::Handle::try_current().is_ok() {
        return std::thread::Builder::new()
            .name("ctx-bench".into())
            .spawn(move || run_blocking(args))
            .context("cannot start the benchmark thread")?
            .join()
            .map_err(|_| anyhow::anyhow!("the benchmark thread panicked"))?;
    }
    run_blocking(args)
}

fn run_blocking(args: BenchArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(bench(args))
}

// ---------------------------------------------------------------------------------------------
// Orchestration.

pub(crate) struct Layout {
    pub(crate) root: PathBuf,
    pub(crate) corpus: PathBuf,
    pub(crate) data: PathBuf,
    pub(crate) config: PathBuf,
    pub(crate) socket: PathBuf,
    pub(crate) log: PathBuf,
}

const ROOT_MARKER: &str = ".ctx-bench";

/// Creates a benchmark's working directory `root` and marks it as `command`'s, refusing a
/// non-empty directory that carries no `marker` (it may hold someone's files).
pub(crate) fn claim_work_dir(root: &Path, marker: &str, command: &str) -> Result<()> {
    if root.exists() {
        let empty = std::fs::read_dir(root)
            .with_context(|| format!("cannot read {}", root.display()))?
            .next()
            .is_none();
        if !empty && !root.join(marker).exists() {
            bail!(
                "{} is not empty and was not made by `{command}`; choose another --dir",
                root.display()
            );
        }
    }
    std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
    std::fs::write(
        root.join(marker),
        format!("working directory of `{command}`; safe to delete\n"),
    )?;
    Ok(())
}
const CORPUS_MARKER: &str = ".ctx-bench-corpus";

impl Layout {
    pub(crate) fn new(root: PathBuf) -> Layout {
        let mut socket = root.join("ctxd.sock");
        // Unix socket paths are limited to ~107 bytes.
        if socket.as_os_str().len() > 100 {
            socket = std::env::temp_dir().join(format!("ctx-bench-{}.sock", std::process::id()));
        }
        Layout {
            corpus: root.join("corpus"),
            data: root.join("data"),
            config: root.join("config"),
            log: root.join("ctxd.log"),
            socket,
            root,
        }
    }

    /// Creates the working directory, refusing one that holds something else.
    pub(crate) fn prepare(&self) -> Result<()> {
        self.prepare_keeping_data(false)
    }

    /// [`Layout::prepare`], optionally keeping the daemon's data directory of an earlier run
    /// (its store, index and vectors are reused: unchanged inputs are not processed again).
    pub(crate) fn prepare_keeping_data(&self, keep_data: bool) -> Result<()> {
        claim_work_dir(&self.root, ROOT_MARKER, "ctx bench")?;
        if !keep_data {
            remove_if_exists(&self.data)?;
        }
        remove_if_exists(&self.config)?;
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_file(&self.log);
        Ok(())
    }

    fn write_config(&self) -> Result<PathBuf> {
        write_daemon_config(
            &self.config,
            &self.data,
            &self.socket,
            "ctx bench",
            &[(
                "bench",
                format!(
                    "type = \"files\"\nenabled = true\npaths = [{}]\nwatch = false\n",
                    toml_string(&self.corpus)
                ),
            )],
        )
    }
}

/// Writes a benchmark daemon's `config.toml` in `config_dir` (its data dir, socket and a quiet
/// log) and one `connectors.d/NAME.toml` per connector, each headed by the command that wrote
/// it; returns the main file's path.
pub(crate) fn write_daemon_config(
    config_dir: &Path,
    data: &Path,
    socket: &Path,
    command: &str,
    connectors: &[(&str, String)],
) -> Result<PathBuf> {
    let connectors_dir = config_dir.join("connectors.d");
    std::fs::create_dir_all(&connectors_dir)?;
    let main = config_dir.join("config.toml");
    std::fs::write(
        &main,
        format!(
            "# Written by `{command}`.\n[daemon]\ndata_dir = {}\nsocket = {}\nlog = \"warn\"\n",
            toml_string(data),
            toml_string(socket)
        ),
    )?;
    for (name, body) in connectors {
        std::fs::write(
            connectors_dir.join(format!("{name}.toml")),
            format!("# Written by `{command}`.\n{body}"),
        )?;
    }
    Ok(main)
}

pub(crate) fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

pub(crate) fn toml_string(path: &Path) -> String {
    let mut out = String::from("\"");
    for ch in path.to_string_lossy().chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct CorpusRun {
    stats: CorpusStats,
    /// `None` when an existing corpus was reused.
    generated_in: Option<Duration>,
}

/// Generates the corpus, or reuses one generated earlier with the same options.
fn ensure_corpus(layout: &Layout, options: &CorpusOptions) -> Result<CorpusRun> {
    let marker = layout.corpus.join(CORPUS_MARKER);
    let wanted = format!(
        "format={CORPUS_FORMAT} documents={} seed={}",
        options.documents, options.seed
    );
    if let Ok(text) = std::fs::read_to_string(&marker) {
        let mut lines = text.lines();
        if lines.next() == Some(wanted.as_str())
            && let Some(stats) = lines.next().and_then(parse_stats)
        {
            eprintln!(
                "corpus: reusing {} files in {}",
                stats.files,
                layout.corpus.display()
            );
            return Ok(CorpusRun {
                stats,
                generated_in: None,
            });
        }
    }
    if layout.corpus.exists() {
        remove_if_exists(&layout.corpus)?;
    }
    eprintln!(
        "corpus: generating {} files in {} ...",
        options.documents,
        layout.corpus.display()
    );
    let started = Instant::now();
    let stats = corpus::generate(&layout.corpus, options)
        .with_context(|| format!("cannot generate the corpus in {}", layout.corpus.display()))?;
    let took = started.elapsed();
    std::fs::write(
        &marker,
        format!("{wanted}\nfiles={} bytes={}\n", stats.files, stats.bytes),
    )?;
    eprintln!(
        "corpus: {} files, {} in {:.1} s",
        stats.files,
        human_bytes(stats.bytes),
        took.as_secs_f64()
    );
    Ok(CorpusRun {
        stats,
        generated_in: Some(took),
    })
}

fn parse_stats(line: &str) -> Option<CorpusStats> {
    let mut files = None;
    let mut bytes = None;
    for part in line.split_whitespace() {
        if let Some(v) = part.strip_prefix("files=") {
            files = v.parse().ok();
        } else if let Some(v) = part.strip_prefix("bytes=") {
            bytes = v.parse().ok();
        }
    }
    Some(CorpusStats {
        files: files?,
        bytes: bytes?,
    })
}

/// The daemon under test.
pub(crate) enum Daemon {
    Child { child: ChildGuard, binary: PathBuf },
    InProcess(ctx_daemon::RunningDaemon),
}

/// Kills the child if the benchmark ends early.
pub(crate) struct ChildGuard(pub(crate) Option<Child>);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Daemon {
    fn pid(&self) -> Option<u32> {
        match self {
            Daemon::Child { child, .. } => child.0.as_ref().map(Child::id),
            Daemon::InProcess(_) => None,
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Daemon::Child { binary, .. } => format!(
                "child process `{}` (RSS is the daemon's alone)",
                binary.display()
            ),
            Daemon::InProcess(_) => {
                "in-process (RSS covers daemon + bench client + generator)".to_string()
            }
        }
    }

    /// VmHWM and VmRSS of the daemon (of this process when in-process).
    pub(crate) fn memory(&self) -> Memory {
        let path = match self.pid() {
            Some(pid) => format!("/proc/{pid}/status"),
            None => "/proc/self/status".to_string(),
        };
        let text = std::fs::read_to_string(path).unwrap_or_default();
        Memory {
            peak: proc_kib(&text, "VmHWM:").map(|k| k * 1024),
            current: proc_kib(&text, "VmRSS:").map(|k| k * 1024),
        }
    }

    /// Fails when a child daemon has exited.
    pub(crate) fn check_alive(&mut self, layout: &Layout) -> Result<()> {
        if let Daemon::Child { child, .. } = self
            && let Some(c) = child.0.as_mut()
            && let Some(status) = c.try_wait()?
        {
            bail!(
                "ctxd exited early ({status}); last lines of {}:\n{}",
                layout.log.display(),
                tail(&layout.log, 20)
            );
        }
        Ok(())
    }

    pub(crate) async fn stop(self) -> Result<Duration> {
        let started = Instant::now();
        match self {
            Daemon::InProcess(daemon) => daemon.stop().await,
            Daemon::Child { mut child, .. } => {
                if let Some(mut c) = child.0.take() {
                    let _ = Command::new("kill")
                        .arg("-TERM")
                        .arg(c.id().to_string())
                        .status();
                    let deadline = Instant::now() + Duration::from_secs(120);
                    loop {
                        if c.try_wait()?.is_some() {
                            break;
                        }
                        if Instant::now() > deadline {
                            eprintln!("warning: ctxd did not stop within 120 s; killing it");
                            let _ = c.kill();
                            let _ = c.wait();
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        }
        Ok(started.elapsed())
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Memory {
    pub(crate) peak: Option<u64>,
    pub(crate) current: Option<u64>,
}

pub(crate) fn proc_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

pub(crate) fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn find_ctxd(args: &BenchArgs) -> Option<PathBuf> {
    if let Some(path) = &args.ctxd {
        return Some(path.clone());
    }
    let exe = std::env::current_exe().ok()?;
    let candidate = exe.with_file_name("ctxd");
    candidate.is_file().then_some(candidate)
}

pub(crate) async fn start_daemon(
    args: &BenchArgs,
    layout: &Layout,
    config: &Path,
) -> Result<Daemon> {
    if !args.in_process
        && let Some(binary) = find_ctxd(args)
    {
        let log = std::fs::File::create(&layout.log)
            .with_context(|| format!("cannot create {}", layout.log.display()))?;
        let child = Command::new(&binary)
            .arg("--config")
            .arg(config)
            .arg("--data-dir")
            .arg(&layout.data)
            .arg("--socket")
            .arg(&layout.socket)
            .arg("--log")
            .arg("warn")
            .env_remove("CTX_CONFIG")
            .env_remove("CTX_DATA_DIR")
            .env_remove("CTX_SOCKET")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        return Ok(Daemon::Child {
            child: ChildGuard(Some(child)),
            binary,
        });
    }
    if !args.in_process {
        eprintln!(
            "warning: no ctxd binary next to this executable (build it with `cargo build --release -p ctx-daemon`); \
             running the daemon in-process, so RSS covers the whole process"
        );
    }
    // Ignore CTX_* overrides from the environment: the benchmark's config must win.
    let env = |name: &str| {
        if name.starts_with("CTX_") {
            None
        } else {
            std::env::var(name).ok()
        }
    };
    let config = ctx_config::load(&ctx_config::ConfigSource::explicit(config), &env)
        .map_err(|e| anyhow::anyhow!("the benchmark's configuration is invalid:\n{e}"))?;
    let daemon = ctx_daemon::start(config, Vec::new())
        .await
        .context("cannot start the daemon in-process")?;
    Ok(Daemon::InProcess(daemon))
}

pub(crate) async fn connect(daemon: &mut Daemon, layout: &Layout) -> Result<Client> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        daemon.check_alive(layout)?;
        match Client::connect_unix(&layout.socket).await {
            Ok(client) => return Ok(client),
            Err(e) if Instant::now() > deadline => {
                return Err(e).context("ctxd did not open its socket within 120 s");
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
}

struct Ingest {
    took: Duration,
    first_pass: Option<Duration>,
    items: u64,
    state: String,
    last_error: String,
}

async fn wait_for_ingest(
    daemon: &mut Daemon,
    layout: &Layout,
    client: &mut Client,
    started: Instant,
    files: usize,
) -> Result<Ingest> {
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last_print = Instant::now();
    let mut first_pass = None;
    let mut settled_since: Option<(Instant, u64)> = None;
    loop {
        daemon.check_alive(layout)?;
        let status = client
            .api()
            .status(pb::StatusRequest {})
            .await
            .context("Status failed")?
            .into_inner();
        let conn = status
            .connectors
            .iter()
            .find(|c| c.name == "bench")
            .cloned()
            .unwrap_or_default();
        let elapsed = started.elapsed();
        if conn.passes >= 1 && first_pass.is_none() {
            first_pass = Some(elapsed);
        }
        let done_pass = conn.passes >= 1 && status.index_lag == 0;
        if done_pass && conn.item_count == files as u64 {
            if tty {
                eprintln!();
            }
            return Ok(Ingest {
                took: elapsed,
                first_pass,
                items: conn.item_count,
                state: conn.state,
                last_error: conn.last_error,
            });
        }
        // A pass that finished with fewer items (skipped files) will not get better: settle.
        if done_pass {
            match settled_since {
                Some((since, count)) if count == conn.item_count => {
                    if since.elapsed() > Duration::from_secs(5) {
                        if tty {
                            eprintln!();
                        }
                        eprintln!(
                            "warning: ingest settled at {} items for {} files (see {})",
                            conn.item_count,
                            files,
                            layout.log.display()
                        );
                        return Ok(Ingest {
                            took: since.duration_since(started),
                            first_pass,
                            items: conn.item_count,
                            state: conn.state,
                            last_error: conn.last_error,
                        });
                    }
                }
                _ => settled_since = Some((Instant::now(), conn.item_count)),
            }
        } else {
            settled_since = None;
        }
        if elapsed > INGEST_TIMEOUT {
            bail!(
                "ingest did not finish within {} s: {} of {files} items, state {}, index lag {}",
                INGEST_TIMEOUT.as_secs(),
                conn.item_count,
                conn.state,
                status.index_lag
            );
        }
        if last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            let rate = conn.item_count as f64 / elapsed.as_secs_f64().max(1e-3);
            let mem = daemon.memory();
            let line = format!(
                "ingest: {}/{} items stored, scan {}/{}, index lag {}, state {}, {:.0} s, {:.0} items/s, rss {}",
                conn.item_count,
                files,
                conn.progress_done,
                conn.progress_total,
                status.index_lag,
                conn.state,
                elapsed.as_secs_f64(),
                rate,
                mem.current.map(human_bytes).unwrap_or_else(|| "?".into()),
            );
            if tty {
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Queries.

#[derive(Default)]
struct BudgetStats {
    client_us: Vec<u64>,
    server_us: Vec<u64>,
    items: Vec<u64>,
    tokens: Vec<u64>,
    candidates: Vec<u64>,
    truncated: u64,
    violations: u64,
    /// (client µs, query) of every call, to name the slowest queries.
    per_query: Vec<(u64, String)>,
}

fn queries(n: usize) -> Vec<String> {
    let base = corpus::bench_queries();
    let mut out: Vec<String> = base.iter().take(n).cloned().collect();
    // More queries than the list holds: pair them into longer multi-word queries (there are
    // len * (len - 1) distinct ordered pairs, far more than anyone asks for).
    let len = base.len();
    'outer: for step in 1..len {
        for i in 0..len {
            if out.len() >= n {
                break 'outer;
            }
            out.push(format!("{} {}", base[i], base[(i + step) % len]));
        }
    }
    out
}

async fn grab(client: &mut Client, query: &str, budget: u32) -> Result<(u64, pb::GrabResponse)> {
    let started = Instant::now();
    let response = client
        .api()
        .grab_everything_related(pb::GrabRequest {
            query: query.to_string(),
            token_budget: budget,
            filters: None,
            ..Default::default()
        })
        .await
        .with_context(|| format!("GrabEverythingRelated({query:?}, {budget}) failed"))?
        .into_inner();
    Ok((started.elapsed().as_micros() as u64, response))
}

async fn run_queries(
    client: &mut Client,
    queries: &[String],
    rounds: u32,
) -> Result<Vec<(u32, BudgetStats)>> {
    // Warm-up: a few calls at each budget, not recorded.
    for query in queries.iter().take(5) {
        for budget in BUDGETS {
            grab(client, query, budget).await?;
        }
    }
    let mut stats: Vec<(u32, BudgetStats)> = BUDGETS
        .iter()
        .map(|&b| (b, BudgetStats::default()))
        .collect();
    let total = rounds as usize * queries.len() * BUDGETS.len();
    let mut done = 0;
    let mut last_print = Instant::now();
    for _ in 0..rounds {
        for query in queries {
            for (budget, s) in stats.iter_mut() {
                let (us, r) = grab(client, query, *budget).await?;
                s.client_us.push(us);
                s.server_us.push(r.took_us);
                s.items.push(r.items.len() as u64);
                s.tokens.push(u64::from(r.tokens_used));
                s.candidates.push(u64::from(r.candidates));
                s.truncated += r.items.iter().filter(|i| i.truncated).count() as u64;
                let item_sum: u64 = r.items.iter().map(|i| u64::from(i.tokens)).sum();
                if r.tokens_used > *budget || item_sum > u64::from(*budget) {
                    s.violations += 1;
                    eprintln!(
                        "\nBUDGET VIOLATION: {query:?} at {budget}: tokens_used {} (items sum {item_sum})",
                        r.tokens_used
                    );
                }
                s.per_query.push((us, query.clone()));
                done += 1;
            }
            if last_print.elapsed() >= Duration::from_secs(1) {
                last_print = Instant::now();
                eprintln!("queries: {done}/{total}");
            }
        }
    }
    Ok(stats)
}

/// The streaming call next to the unary one, at the large budget.
#[derive(Default)]
struct StreamStats {
    /// Client wall time of the unary call.
    unary_us: Vec<u64>,
    /// Client time from the streaming call to its first item (streams with items only).
    first_item_us: Vec<u64>,
    /// Client time from the streaming call to its summary, the last message.
    last_us: Vec<u64>,
    unary_server_us: Vec<u64>,
    stream_server_us: Vec<u64>,
    /// Streams that returned no item (no time to a first item).
    empty: u64,
    /// Streams whose items or totals differ from the unary call's.
    mismatches: u64,
}

/// A streaming call: (µs to the first item, µs to the summary, what it rebuilt).
async fn grab_stream(
    client: &mut Client,
    query: &str,
    budget: u32,
) -> Result<(Option<u64>, u64, pb::GrabResponse)> {
    let started = Instant::now();
    let context = || format!("GrabEverythingRelatedStream({query:?}, {budget}) failed");
    let mut stream = client
        .grab_stream(pb::GrabRequest {
            query: query.to_string(),
            token_budget: budget,
            filters: None,
            ..Default::default()
        })
        .await
        .with_context(context)?;
    let mut first = None;
    let mut rebuilt = pb::GrabResponse::default();
    while let Some(event) = stream.next().await.with_context(context)? {
        match event {
            ctx_client::GrabEvent::Item(item) => {
                first.get_or_insert_with(|| started.elapsed().as_micros() as u64);
                rebuilt.markdown.push_str(&item.markdown);
                rebuilt.items.extend(item.item);
            }
            ctx_client::GrabEvent::Summary(s) => {
                rebuilt.tokens_used = s.tokens_used;
                rebuilt.token_budget = s.token_budget;
                rebuilt.candidates = s.candidates;
                rebuilt.took_us = s.took_us;
                rebuilt.cut = s.cut;
                rebuilt.freshness = s.freshness;
                rebuilt.tokenizer = s.tokenizer;
            }
        }
    }
    Ok((first, started.elapsed().as_micros() as u64, rebuilt))
}

/// Each query at the large budget as a unary call and as a stream, back to back (which goes
/// first alternates), `rounds` times.
async fn run_stream_queries(
    client: &mut Client,
    queries: &[String],
    rounds: u32,
) -> Result<StreamStats> {
    let budget = BUDGETS[1];
    for query in queries.iter().take(5) {
        grab_stream(client, query, budget).await?;
    }
    let mut s = StreamStats::default();
    let mut n = 0usize;
    for _ in 0..rounds {
        for query in queries {
            let unary_first = n.is_multiple_of(2);
            n += 1;
            let mut unary = None;
            if unary_first {
                unary = Some(grab(client, query, budget).await?);
            }
            let (first, last, streamed) = grab_stream(client, query, budget).await?;
            let (unary_us, unary) = match unary {
                Some(u) => u,
                None => grab(client, query, budget).await?,
            };
            s.unary_us.push(unary_us);
            s.unary_server_us.push(unary.took_us);
            s.stream_server_us.push(streamed.took_us);
            s.last_us.push(last);
            match first {
                Some(us) => s.first_item_us.push(us),
                None => s.empty += 1,
            }
            let same = streamed.items == unary.items
                && streamed.markdown == unary.markdown
                && streamed.tokens_used == unary.tokens_used
                && streamed.candidates == unary.candidates
                && streamed.cut == unary.cut;
            if !same {
                s.mismatches += 1;
                eprintln!("\nSTREAM MISMATCH: {query:?} at {budget}");
            }
        }
        eprintln!("stream queries: {}/{}", n, rounds as usize * queries.len());
    }
    Ok(s)
}

pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Clone, Copy)]
struct Pcts {
    p50: u64,
    p95: u64,
    p99: u64,
    max: u64,
}

fn pcts(values: &[u64]) -> Pcts {
    let mut v = values.to_vec();
    v.sort_unstable();
    Pcts {
        p50: percentile(&v, 50.0),
        p95: percentile(&v, 95.0),
        p99: percentile(&v, 99.0),
        max: v.last().copied().unwrap_or(0),
    }
}

fn mean(values: &[u64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<u64>() as f64 / values.len() as f64
    }
}

// ---------------------------------------------------------------------------------------------
// The benchmark.

async fn bench(args: BenchArgs) -> Result<()> {
    if cfg!(debug_assertions) {
        eprintln!(
            "warning: this is a debug build; for real numbers run `cargo build --release -p ctx-cli -p ctx-daemon` \
             and `target/release/ctx bench`"
        );
    }
    let root = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("ctx-bench-{}-s{}", args.items, args.seed))
    });
    let layout = Layout::new(root);
    layout.prepare()?;
    let options = CorpusOptions {
        documents: args.items,
        seed: args.seed,
    };

    // 1. The corpus, before the daemon starts.
    let corpus_run = ensure_corpus(&layout, &options)?;
    let files = corpus_run.stats.files;
    let config = layout.write_config()?;

    // 2. Ingest.
    let started = Instant::now();
    let mut daemon = start_daemon(&args, &layout, &config).await?;
    eprintln!("daemon: {}", daemon.describe());
    let mut client = connect(&mut daemon, &layout).await?;
    let socket_ready = started.elapsed();
    let ingest = wait_for_ingest(&mut daemon, &layout, &mut client, started, files).await?;
    let mem_after_ingest = daemon.memory();
    let disk_after_ingest = disk_usage(&layout.data);
    eprintln!(
        "ingest: {} items in {:.1} s ({:.0} items/s)",
        ingest.items,
        ingest.took.as_secs_f64(),
        ingest.items as f64 / ingest.took.as_secs_f64().max(1e-9)
    );

    // 3. Queries.
    let queries = queries(args.queries as usize);
    eprintln!(
        "queries: {} queries x {} budgets x {} rounds",
        queries.len(),
        BUDGETS.len(),
        args.rounds
    );
    let query_started = Instant::now();
    let stats = run_queries(&mut client, &queries, args.rounds).await?;
    let query_took = query_started.elapsed();
    eprintln!(
        "stream: {} queries x {} rounds at {}, unary and streaming back to back",
        queries.len(),
        args.rounds,
        BUDGETS[1]
    );
    let stream = run_stream_queries(&mut client, &queries, args.rounds).await?;
    let mem_after_queries = daemon.memory();

    // 4-5. Memory is read above; stop cleanly and measure the data directory.
    let daemon_desc = daemon.describe();
    drop(client);
    let stop_took = daemon.stop().await?;
    let disk_after_stop = disk_usage(&layout.data);

    let report = Report {
        args: &args,
        layout: &layout,
        corpus: &corpus_run,
        daemon: daemon_desc,
        socket_ready,
        ingest: &ingest,
        files,
        mem_after_ingest,
        mem_after_queries,
        disk_after_ingest,
        disk_after_stop,
        stats: &stats,
        stream: &stream,
        queries: queries.len(),
        query_took,
        stop_took,
    };
    let section = report.markdown();
    println!("{section}");
    let (start, end) = section_markers(args.items);
    write_marked_section(&args.output, &section, start, end)?;
    eprintln!("results written to {}", args.output.display());

    if args.keep {
        eprintln!("kept {}", layout.root.display());
    } else {
        remove_if_exists(&layout.data)?;
        if args.dir.is_none() {
            remove_if_exists(&layout.root)?;
        } else {
            eprintln!(
                "kept the corpus in {} for the next run",
                layout.corpus.display()
            );
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, Default)]
struct Disk {
    store: u64,
    index: u64,
}

impl Disk {
    fn total(self) -> u64 {
        self.store + self.index
    }
}

pub(crate) fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    let mut total = 0;
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            total += dir_size(&entry.path());
        } else if meta.is_file() {
            total += meta.len();
        }
    }
    total
}

/// Bytes of the data directory: the index folder, and everything else (the SQLite store, WAL).
fn disk_usage(data: &Path) -> Disk {
    let index = dir_size(&data.join("index"));
    Disk {
        store: dir_size(data).saturating_sub(index),
        index,
    }
}

// ---------------------------------------------------------------------------------------------
// Reporting.

struct Report<'a> {
    args: &'a BenchArgs,
    layout: &'a Layout,
    corpus: &'a CorpusRun,
    daemon: String,
    socket_ready: Duration,
    ingest: &'a Ingest,
    files: usize,
    mem_after_ingest: Memory,
    mem_after_queries: Memory,
    disk_after_ingest: Disk,
    disk_after_stop: Disk,
    stats: &'a [(u32, BudgetStats)],
    stream: &'a StreamStats,
    queries: usize,
    query_took: Duration,
    stop_took: Duration,
}

pub(crate) fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

pub(crate) fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

pub(crate) fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

pub(crate) fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let ram = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| proc_kib(&t, "MemTotal:"))
        .map(|k| human_bytes(k * 1024))
        .unwrap_or_else(|| "unknown".into());
    format!(
        "{cpus} CPUs ({model}), {ram} RAM, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

pub(crate) fn command_line() -> String {
    std::env::args()
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn now_utc() -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_else(|_| "unknown date".into())
}

impl Report<'_> {
    fn budget(&self, budget: u32) -> Option<&BudgetStats> {
        self.stats
            .iter()
            .find(|(b, _)| *b == budget)
            .map(|(_, s)| s)
    }

    fn markdown(&self) -> String {
        let mut o = String::new();
        let large = self.args.items >= LARGE_ITEMS;
        let (start, end) = section_markers(self.args.items);
        let _ = writeln!(o, "{start}");
        if large {
            let _ = writeln!(
                o,
                "## Foundation benchmark at {} items (`ctx bench --items {}`)\n",
                thousands(self.args.items as u64),
                self.args.items
            );
        } else {
            let _ = writeln!(o, "## Foundation benchmark (`ctx bench`)\n");
        }
        let _ = writeln!(
            o,
            "Generated by `ctx bench`; rerun it to replace this section. Measured {} on {}; {} build.\n",
            now_utc(),
            machine(),
            if cfg!(debug_assertions) {
                "**debug**"
            } else {
                "release"
            }
        );
        let _ = writeln!(o, "Command: `{}`\n", command_line());

        // Summary table.
        let ingest_rate = self.ingest.items as f64 / self.ingest.took.as_secs_f64().max(1e-9);
        let generation = match self.corpus.generated_in {
            Some(t) => format!(
                "generated in {:.1} s ({:.0} files/s)",
                t.as_secs_f64(),
                self.corpus.stats.files as f64 / t.as_secs_f64().max(1e-9)
            ),
            None => "reused from an earlier run".to_string(),
        };
        let _ = writeln!(o, "| what | measured |\n|---|---|");
        let _ = writeln!(
            o,
            "| corpus | {} files, {} (md, html, txt, rs, py; seed {}), {} |",
            thousands(self.corpus.stats.files as u64),
            human_bytes(self.corpus.stats.bytes),
            self.args.seed,
            generation
        );
        let _ = writeln!(o, "| daemon | {} |", self.daemon);
        let _ = writeln!(
            o,
            "| ingest | **{:.0} items/s**: {} items in {:.1} s from daemon start to all items stored and indexed (socket up after {:.2} s; first sync pass done after {}) |",
            ingest_rate,
            thousands(self.ingest.items),
            self.ingest.took.as_secs_f64(),
            self.socket_ready.as_secs_f64(),
            self.ingest
                .first_pass
                .map(|d| format!("{:.1} s", d.as_secs_f64()))
                .unwrap_or_else(|| "?".into())
        );
        if self.ingest.items != self.files as u64 {
            let _ = writeln!(
                o,
                "| ingest warning | only {} of {} files became items (connector state `{}`, last error `{}`) |",
                self.ingest.items, self.files, self.ingest.state, self.ingest.last_error
            );
        }
        let mem = |m: Memory| {
            format!(
                "peak {} / current {}",
                m.peak.map(human_bytes).unwrap_or_else(|| "?".into()),
                m.current.map(human_bytes).unwrap_or_else(|| "?".into())
            )
        };
        let _ = writeln!(
            o,
            "| daemon RSS | after ingest: {}; after queries: {} |",
            mem(self.mem_after_ingest),
            mem(self.mem_after_queries)
        );
        let _ = writeln!(
            o,
            "| data dir on disk | after ingest: {} (store + WAL {}, index {}); after clean stop: {} (store {}, index {}) |",
            human_bytes(self.disk_after_ingest.total()),
            human_bytes(self.disk_after_ingest.store),
            human_bytes(self.disk_after_ingest.index),
            human_bytes(self.disk_after_stop.total()),
            human_bytes(self.disk_after_stop.store),
            human_bytes(self.disk_after_stop.index)
        );
        let calls: usize = self.stats.iter().map(|(_, s)| s.client_us.len()).sum();
        let _ = writeln!(
            o,
            "| queries | {} distinct queries x {} budgets x {} rounds = {} timed calls (after 10 warm-up calls) in {:.1} s, one client, sequential |",
            self.queries,
            self.stats.len(),
            self.args.rounds,
            calls,
            self.query_took.as_secs_f64()
        );
        let _ = writeln!(
            o,
            "| clean shutdown | {:.2} s |",
            self.stop_took.as_secs_f64()
        );

        // Latency.
        let _ = writeln!(o, "\n### GrabEverythingRelated latency\n");
        let _ = writeln!(
            o,
            "Client: wall time of the gRPC call over the Unix socket (includes encoding and transfer). \
             Server: the response's `took_us`.\n"
        );
        let _ = writeln!(
            o,
            "| budget | calls | client p50 | client p95 | client p99 | client max | server p50 | server p95 | server p99 |"
        );
        let _ = writeln!(o, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (budget, s) in self.stats {
            let c = pcts(&s.client_us);
            let sv = pcts(&s.server_us);
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                thousands(u64::from(*budget)),
                s.client_us.len(),
                ms(c.p50),
                ms(c.p95),
                ms(c.p99),
                ms(c.max),
                ms(sv.p50),
                ms(sv.p95),
                ms(sv.p99)
            );
        }
        let _ = writeln!(o, "\n### What came back\n");
        let _ = writeln!(
            o,
            "| budget | mean items | mean tokens used | max tokens used | mean candidates | truncated items | calls over budget |"
        );
        let _ = writeln!(o, "|---:|---:|---:|---:|---:|---:|---:|");
        for (budget, s) in self.stats {
            let _ = writeln!(
                o,
                "| {} | {:.1} | {:.0} | {} | {:.0} | {} | **{}** |",
                thousands(u64::from(*budget)),
                mean(&s.items),
                mean(&s.tokens),
                s.tokens.iter().max().copied().unwrap_or(0),
                mean(&s.candidates),
                s.truncated,
                s.violations
            );
        }
        if let Some(s) = self.budget(BUDGETS[1]) {
            let mut slow = s.per_query.clone();
            slow.sort_by_key(|(us, _)| std::cmp::Reverse(*us));
            slow.dedup_by(|a, b| a.1 == b.1);
            let _ = writeln!(
                o,
                "\nSlowest queries at {} tokens (client time of the slowest call): {}.",
                thousands(u64::from(BUDGETS[1])),
                slow.iter()
                    .take(5)
                    .map(|(us, q)| format!("`{q}` {}", ms(*us)))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }

        self.stream_markdown(&mut o);

        // Targets.
        let _ = writeln!(o, "\n### Targets\n");
        let _ = writeln!(o, "| target | measured | result |\n|---|---:|---|");
        if large {
            for (budget, s) in self.stats {
                let c = pcts(&s.client_us);
                let sv = pcts(&s.server_us);
                let _ = writeln!(
                    o,
                    "| p95 < 100 ms at {} items, {} budget (client) | {} (server {}) | {} |",
                    thousands(self.args.items as u64),
                    thousands(u64::from(*budget)),
                    ms(c.p95),
                    ms(sv.p95),
                    pass(c.p95 < TARGET_P95_LARGE_US)
                );
            }
        } else {
            if let Some(s) = self.budget(BUDGETS[0]) {
                let c = pcts(&s.client_us);
                let sv = pcts(&s.server_us);
                let _ = writeln!(
                    o,
                    "| p50 < 5 ms at an 8K budget (client) | {} (server {}) | {} |",
                    ms(c.p50),
                    ms(sv.p50),
                    pass(c.p50 < TARGET_P50_8K_US)
                );
            }
            if let Some(s) = self.budget(BUDGETS[1]) {
                let c = pcts(&s.client_us);
                let sv = pcts(&s.server_us);
                let _ = writeln!(
                    o,
                    "| p95 < 30 ms at a 128K budget (client) | {} (server {}) | {} |",
                    ms(c.p95),
                    ms(sv.p95),
                    pass(c.p95 < TARGET_P95_128K_US)
                );
            }
            let peak = self.mem_after_queries.peak.max(self.mem_after_ingest.peak);
            let _ = writeln!(
                o,
                "| daemon peak RSS < 300 MB | {} | {} |",
                peak.map(human_bytes).unwrap_or_else(|| "unknown".into()),
                match peak {
                    Some(p) => pass(p < TARGET_RSS_BYTES),
                    None => "unknown",
                }
            );
        }
        let violations: u64 = self.stats.iter().map(|(_, s)| s.violations).sum();
        let _ = writeln!(
            o,
            "| tokens_used <= budget on every call | {violations} violations | {} |",
            pass(violations == 0)
        );
        let _ = writeln!(
            o,
            "\nWorking directory: `{}` ({}).",
            self.layout.root.display(),
            match (self.args.keep, self.args.dir.is_some()) {
                (true, _) =>
                    "kept: later runs with the same `--items` and `--seed` reuse its corpus",
                (false, true) =>
                    "data deleted, corpus kept for later runs with the same `--items` and `--seed`",
                (false, false) => "deleted after the run",
            }
        );
        let _ = write!(o, "{end}");
        o
    }
}

impl Report<'_> {
    fn stream_markdown(&self, o: &mut String) {
        let s = self.stream;
        let _ = writeln!(
            o,
            "\n### Streaming (`GrabEverythingRelatedStream`) at {} tokens\n",
            thousands(u64::from(BUDGETS[1]))
        );
        let _ = writeln!(
            o,
            "Each query once more per round as a unary call and as a stream, back to back (which goes \
             first alternates; after 5 warm-up streams). Client wall time over the Unix socket: \
             to the unary response decoded, to the stream's first item decoded, to its summary \
             (the last message: the whole window).\n"
        );
        let _ = writeln!(o, "| call | calls | p50 | p95 | p99 | max | mean |");
        let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|");
        let mut row = |label: &str, values: &[u64]| {
            let p = pcts(values);
            let _ = writeln!(
                o,
                "| {label} | {} | {} | {} | {} | {} | {} |",
                values.len(),
                ms(p.p50),
                ms(p.p95),
                ms(p.p99),
                ms(p.max),
                ms(mean(values) as u64)
            );
        };
        row("unary: whole response (client)", &s.unary_us);
        row("stream: first item (client)", &s.first_item_us);
        row("stream: summary, last message (client)", &s.last_us);
        row("unary: server `took_us`", &s.unary_server_us);
        row(
            "stream: server `took_us` (to the summary)",
            &s.stream_server_us,
        );
        let unary = pcts(&s.unary_us).p50 as f64;
        let first = pcts(&s.first_item_us).p50 as f64;
        let last = pcts(&s.last_us).p50 as f64;
        if unary > 0.0 {
            let _ = writeln!(
                o,
                "\nAt p50 the first item arrives after {:.0}% of the unary call's time ({} sooner); the \
                 whole stream takes {:.0}% of it. {} stream(s) had no item. Streams that differed \
                 from the unary call (items, order, tokens, text, totals): **{}**.",
                100.0 * first / unary,
                ms((unary - first).max(0.0) as u64),
                100.0 * last / unary,
                s.empty,
                s.mismatches
            );
        }
    }
}

/// Replaces the section between `start` and `end` markers of `path`, or appends it.
pub(crate) fn write_marked_section(
    path: &Path,
    section: &str,
    start: &str,
    end: &str,
) -> Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let updated = replace_marked(&existing, start, end, section);
    std::fs::write(path, updated).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
fn replace_section(existing: &str, section: &str) -> String {
    replace_marked(existing, SECTION_START, SECTION_END, section)
}

/// Replaces the section between the markers `start_marker` and `end_marker` (which `section`
/// carries itself) of `existing`, or appends it.
pub(crate) fn replace_marked(
    existing: &str,
    start_marker: &str,
    end_marker: &str,
    section: &str,
) -> String {
    if let Some(start) = existing.find(start_marker)
        && let Some(end_rel) = existing[start..].find(end_marker)
    {
        let end = start + end_rel + end_marker.len();
        return format!("{}{}{}", &existing[..start], section, &existing[end..]);
    }
    if existing.trim().is_empty() {
        return format!("# Benchmarks\n\n{section}\n");
    }
    let sep = if existing.ends_with("\n\n") {
        ""
    } else if existing.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    format!("{existing}{sep}{section}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_is_replaced_in_place() {
        let section = format!("{SECTION_START}\nnew\n{SECTION_END}");
        let created = replace_section("", &section);
        assert!(created.starts_with("# Benchmarks\n\n"));
        let before =
            format!("# B\n\nintro\n\n{SECTION_START}\nold\n{SECTION_END}\n\n## Other\nkeep\n");
        let after = replace_section(&before, &section);
        assert_eq!(
            after,
            format!("# B\n\nintro\n\n{section}\n\n## Other\nkeep\n")
        );
        let appended = replace_section("# B\nother", &section);
        assert_eq!(appended, format!("# B\nother\n\n{section}\n"));
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 95.0), 95);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn enough_distinct_queries() {
        for n in [50, 60, 200] {
            let q = queries(n);
            assert_eq!(q.len(), n);
            let unique: std::collections::HashSet<&String> = q.iter().collect();
            assert_eq!(unique.len(), n);
        }
    }

    #[test]
    fn toml_strings_are_escaped() {
        assert_eq!(
            toml_string(Path::new("/a \"b\"\\c")),
            "\"/a \\\"b\\\"\\\\c\""
        );
    }
}
