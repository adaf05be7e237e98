//! `ctx bench mail`: mail ingest, side by side with notmuch and mu.
//!
//! Generates a Maildir++ tree of realistic mail ([`corpus::generate_mail`] with
//! [`MailOptions::assorted`]: threads with quoted replies, people of ten companies,
//! multipart/alternative and HTML-only bodies, ISO-8859-1 and base64 encodings, CSV/text/PDF/PNG
//! attachments), then indexes that same tree three times in one run:
//!
//! 1. the real `ctxd` (a child process with a `maildir` connector), from start until every
//!    message and readable attachment is stored and indexed;
//! 2. `notmuch new` with a throw-away `NOTMUCH_CONFIG` and database directory;
//! 3. `mu init` + `mu index` with a throw-away `--muhome`.
//!
//! For each: wall time, messages/s, CPU time, peak RSS and the size of what it wrote, plus the
//! machine's load average around the run (the machine may be shared). `ctxd`'s numbers come from
//! `/proc/PID` while it runs; notmuch's and mu's from GNU time (`/usr/bin/time`, `wait4`
//! rusage). The results go to a marked section of `BENCHMARKS.md`.
//!
//! A measurement tool, not a test: missed targets are reported, not failed. It does fail when
//! ctx stores a different number of items than the generator wrote (that would be a bug).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ctx_client::{Client, pb};

use crate::bench::{
    ChildGuard, claim_work_dir, command_line, dir_size, human_bytes, machine, now_utc, pass,
    proc_kib, remove_if_exists, tail, thousands, toml_string, write_daemon_config,
    write_marked_section,
};
use crate::corpus::{self, MailOptions, MailStats};

/// Start marker of the section this command owns in the output file.
pub const SECTION_START: &str = "<!-- mail-bench:start -->";
/// End marker of that section.
pub const SECTION_END: &str = "<!-- mail-bench:end -->";

/// Targets of the mail issue.
const TARGET_RATE: f64 = 1_500.0;
const TARGET_RSS_BYTES: u64 = 300 * 1000 * 1000;
/// Bumped when the generator's output changes, so a stale Maildir is not reused.
const MAILDIR_FORMAT: u32 = 1;
/// Name of the connector in the benchmark's configuration.
const CONNECTOR: &str = "mail";
/// Longest wait for any one indexer.
const TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// Options of `ctx bench mail`.
#[derive(clap::Args, Debug, Clone)]
pub struct MailBenchArgs {
    /// Number of messages to generate and index.
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    pub messages: usize,
    /// Seed of the mail generator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Working directory (Maildir, configs, databases). A Maildir generated there earlier with
    /// the same size and seed is reused. [default: $TMPDIR/ctx-bench-mail-N-sSEED]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// File to write the results section into.
    #[arg(long, default_value = "BENCHMARKS.md", value_name = "PATH")]
    pub output: PathBuf,
    /// Keep the Maildir and the databases afterwards.
    #[arg(long)]
    pub keep: bool,
    /// The ctxd binary to benchmark [default: `ctxd` next to this executable].
    #[arg(long, value_name = "PATH")]
    pub ctxd: Option<PathBuf>,
    /// Skip `notmuch new`.
    #[arg(long)]
    pub no_notmuch: bool,
    /// Skip `mu index`.
    #[arg(long)]
    pub no_mu: bool,
}

/// Runs the benchmark on a runtime of its own (the caller is not async).
pub fn run(args: MailBenchArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(bench(args))
}

struct Layout {
    root: PathBuf,
    maildir: PathBuf,
    marker: PathBuf,
    data: PathBuf,
    config: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    notmuch: PathBuf,
    mu: PathBuf,
}

const ROOT_MARKER: &str = ".ctx-bench-mail";

impl Layout {
    fn new(root: PathBuf) -> Layout {
        let mut socket = root.join("ctxd.sock");
        // Unix socket paths are limited to ~107 bytes.
        if socket.as_os_str().len() > 100 {
            socket =
                std::env::temp_dir().join(format!("ctx-bench-mail-{}.sock", std::process::id()));
        }
        Layout {
            maildir: root.join("maildir"),
            // Outside the Maildir: notmuch and mu would report a stray file in it.
            marker: root.join("maildir.generated"),
            data: root.join("ctx-data"),
            config: root.join("ctx-config"),
            log: root.join("ctxd.log"),
            notmuch: root.join("notmuch"),
            mu: root.join("mu"),
            socket,
            root,
        }
    }

    /// Creates the working directory, refusing one that holds something else, and removes the
    /// databases of an earlier run (the Maildir may be reused).
    fn prepare(&self) -> Result<()> {
        claim_work_dir(&self.root, ROOT_MARKER, "ctx bench mail")?;
        for dir in [&self.data, &self.config, &self.notmuch, &self.mu] {
            remove_if_exists(dir)?;
        }
        let _ = std::fs::remove_file(&self.socket);
        let _ = std::fs::remove_file(&self.log);
        Ok(())
    }

    fn write_ctx_config(&self) -> Result<PathBuf> {
        write_daemon_config(
            &self.config,
            &self.data,
            &self.socket,
            "ctx bench mail",
            &[(
                CONNECTOR,
                format!(
                    "type = \"maildir\"\npath = {}\nwatch = false\n",
                    toml_string(&self.maildir)
                ),
            )],
        )
    }
}

struct MaildirRun {
    stats: MailStats,
    /// `None` when an existing Maildir was reused.
    generated_in: Option<Duration>,
}

/// Generates the Maildir, or reuses one generated earlier with the same options.
fn ensure_maildir(layout: &Layout, options: &MailOptions) -> Result<MaildirRun> {
    let wanted = format!(
        "format={MAILDIR_FORMAT} messages={} seed={}",
        options.messages, options.seed
    );
    if let Ok(text) = std::fs::read_to_string(&layout.marker) {
        let mut lines = text.lines();
        if lines.next() == Some(wanted.as_str())
            && let Some(stats) = lines.next().and_then(parse_stats)
            && layout.maildir.is_dir()
        {
            eprintln!(
                "maildir: reusing {} messages in {}",
                stats.messages,
                layout.maildir.display()
            );
            return Ok(MaildirRun {
                stats,
                generated_in: None,
            });
        }
    }
    let _ = std::fs::remove_file(&layout.marker);
    remove_if_exists(&layout.maildir)?;
    eprintln!(
        "maildir: generating {} messages in {} ...",
        options.messages,
        layout.maildir.display()
    );
    let started = Instant::now();
    let stats = corpus::generate_mail(&layout.maildir, options)
        .with_context(|| format!("cannot generate mail in {}", layout.maildir.display()))?;
    let took = started.elapsed();
    std::fs::write(
        &layout.marker,
        format!("{wanted}\n{}\n", format_stats(&stats)),
    )?;
    eprintln!(
        "maildir: {} messages in {} threads, {} folders, {} attachments ({} readable), {} in {:.1} s",
        stats.messages,
        stats.threads,
        stats.folders,
        stats.attachments,
        stats.readable_attachments,
        human_bytes(stats.bytes),
        took.as_secs_f64()
    );
    Ok(MaildirRun {
        stats,
        generated_in: Some(took),
    })
}

fn format_stats(s: &MailStats) -> String {
    format!(
        "messages={} threads={} folders={} unread={} bytes={} attachments={} readable={}",
        s.messages, s.threads, s.folders, s.unread, s.bytes, s.attachments, s.readable_attachments
    )
}

fn parse_stats(line: &str) -> Option<MailStats> {
    let mut s = MailStats::default();
    let mut seen = 0;
    for part in line.split_whitespace() {
        let (key, value) = part.split_once('=')?;
        let value: u64 = value.parse().ok()?;
        let n = value as usize;
        match key {
            "messages" => s.messages = n,
            "threads" => s.threads = n,
            "folders" => s.folders = n,
            "unread" => s.unread = n,
            "bytes" => s.bytes = value,
            "attachments" => s.attachments = n,
            "readable" => s.readable_attachments = n,
            _ => return None,
        }
        seen += 1;
    }
    (seen == 7).then_some(s)
}

/// What one indexer did.
#[derive(Debug, Clone, Default)]
struct Run {
    tool: String,
    wall: Duration,
    /// User + system CPU time.
    cpu: Option<Duration>,
    peak_rss: Option<u64>,
    /// Bytes it wrote (database, index), measured after it stopped.
    disk: u64,
    /// What it says it indexed.
    indexed: String,
    load_before: String,
    load_after: String,
    note: String,
}

impl Run {
    fn rate(&self, messages: usize) -> f64 {
        messages as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

/// The 1, 5 and 15 minute load averages (for benchmark reports).
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}

/// User + system CPU time of a live process, from `/proc/PID/stat` (clock ticks of 1/100 s,
/// the kernel's USER_HZ on every Linux architecture ctx targets).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

fn peak_rss(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    proc_kib(&text, "VmHWM:").map(|k| k * 1024)
}

fn find_ctxd(args: &MailBenchArgs) -> Result<PathBuf> {
    if let Some(path) = &args.ctxd {
        return Ok(path.clone());
    }
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let candidate = exe.with_file_name("ctxd");
    if candidate.is_file() {
        Ok(candidate)
    } else {
        bail!(
            "no ctxd next to {} (build it with `cargo build --release -p ctx-daemon`, or pass --ctxd)",
            exe.display()
        )
    }
}

/// Indexes the Maildir with the real ctxd and stops it cleanly.
async fn run_ctx(args: &MailBenchArgs, layout: &Layout, maildir: &MailStats) -> Result<Run> {
    let binary = find_ctxd(args)?;
    let config = layout.write_ctx_config()?;
    let log = std::fs::File::create(&layout.log)
        .with_context(|| format!("cannot create {}", layout.log.display()))?;
    let load_before = loadavg();
    let started = Instant::now();
    let child = Command::new(&binary)
        .arg("--config")
        .arg(&config)
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
    let pid = child.id();
    let mut guard = ChildGuard(Some(child));
    let check_alive = |guard: &mut ChildGuard| -> Result<()> {
        if let Some(c) = guard.0.as_mut()
            && let Some(status) = c.try_wait()?
        {
            bail!(
                "ctxd exited early ({status}); last lines of {}:\n{}",
                layout.log.display(),
                tail(&layout.log, 20)
            );
        }
        Ok(())
    };
    let mut client = loop {
        check_alive(&mut guard)?;
        match Client::connect_unix(&layout.socket).await {
            Ok(client) => break client,
            Err(e) if started.elapsed() > Duration::from_secs(120) => {
                return Err(e).context("ctxd did not open its socket within 120 s");
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    };
    let expected = (maildir.messages + maildir.readable_attachments) as u64;
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last_print = Instant::now();
    let (items, took) = loop {
        check_alive(&mut guard)?;
        let status = client
            .api()
            .status(pb::StatusRequest {})
            .await
            .context("Status failed")?
            .into_inner();
        let conn = status
            .connectors
            .iter()
            .find(|c| c.name == CONNECTOR)
            .cloned()
            .unwrap_or_default();
        let elapsed = started.elapsed();
        if conn.passes >= 1 && status.index_lag == 0 {
            if tty {
                eprintln!();
            }
            break (conn.item_count, elapsed);
        }
        if elapsed > TIMEOUT {
            bail!(
                "ctxd did not finish within {} s: {} of {expected} items, state {}",
                TIMEOUT.as_secs(),
                conn.item_count,
                conn.state
            );
        }
        if last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            let line = format!(
                "ctxd: {}/{expected} items, scan {}/{}, index lag {}, {:.0} s, {:.0} items/s, peak rss {}",
                conn.item_count,
                conn.progress_done,
                conn.progress_total,
                status.index_lag,
                elapsed.as_secs_f64(),
                conn.item_count as f64 / elapsed.as_secs_f64().max(1e-3),
                peak_rss(pid).map(human_bytes).unwrap_or_else(|| "?".into()),
            );
            if tty {
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let cpu = cpu_time(pid);
    let peak = peak_rss(pid);
    let load_after = loadavg();
    // A sanity query: the showcase thread must be found in what was just indexed.
    let probe = client
        .api()
        .grab_everything_related(pb::GrabRequest {
            query: "Acme Corp renewal data residency".into(),
            token_budget: 4096,
            filters: None,
            ..Default::default()
        })
        .await
        .context("GrabEverythingRelated failed after ingest")?
        .into_inner();
    drop(client);
    // Clean stop, so the size measured is what stays on disk.
    if let Some(mut c) = guard.0.take() {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(120);
        while c.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                bail!("ctxd did not stop within 120 s of SIGTERM");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    if items != expected {
        bail!(
            "ctxd stored {items} items, but the Maildir holds {} messages and {} readable attachments; see {}",
            maildir.messages,
            maildir.readable_attachments,
            layout.log.display()
        );
    }
    let index = dir_size(&layout.data.join("index"));
    let total = dir_size(&layout.data);
    Ok(Run {
        tool: format!(
            "ctx {} (`ctxd`, maildir connector)",
            env!("CARGO_PKG_VERSION")
        ),
        wall: took,
        cpu,
        peak_rss: peak,
        disk: total,
        indexed: format!(
            "{} items ({} messages + {} attachments)",
            thousands(items),
            thousands(maildir.messages as u64),
            thousands(maildir.readable_attachments as u64)
        ),
        load_before,
        load_after,
        note: format!(
            "store (SQLite: metadata, bodies, chunks, entities) {} + tantivy index {}; probe query returned {} items",
            human_bytes(total - index),
            human_bytes(index),
            probe.items.len()
        ),
    })
}

/// Runs `program args` under GNU time; returns its wall time, CPU time and peak RSS, and its
/// stdout + stderr.
fn timed(program: &str, args: &[&str], env: &[(&str, &Path)], log: &Path) -> Result<(Run, String)> {
    let times = log.with_extension("time");
    let out = std::fs::File::create(log)?;
    let load_before = loadavg();
    let started = Instant::now();
    let mut command = Command::new("/usr/bin/time");
    command
        .arg("-f")
        .arg("%e %U %S %M")
        .arg("-o")
        .arg(&times)
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out);
    for (key, value) in env {
        command.env(key, value);
    }
    let status = command
        .status()
        .with_context(|| format!("cannot run /usr/bin/time {program} (is GNU time installed?)"))?;
    let wall = started.elapsed();
    let load_after = loadavg();
    let output = std::fs::read_to_string(log).unwrap_or_default();
    if !status.success() {
        bail!(
            "{program} {} failed ({status}):\n{}",
            args.join(" "),
            tail(log, 20)
        );
    }
    // GNU time's last line: "%e %U %S %M" (earlier lines may be its warnings).
    let text = std::fs::read_to_string(&times).unwrap_or_default();
    let numbers: Vec<f64> = text
        .lines()
        .last()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let (cpu, peak) = match numbers.as_slice() {
        [_, user, sys, max_kib] => (
            Some(Duration::from_secs_f64(user + sys)),
            Some(*max_kib as u64 * 1024),
        ),
        _ => (None, None),
    };
    Ok((
        Run {
            tool: program.to_string(),
            wall,
            cpu,
            peak_rss: peak,
            load_before,
            load_after,
            ..Run::default()
        },
        output,
    ))
}

fn tool_version(program: &str) -> String {
    Command::new(program)
        .arg("--version")
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| program.to_string())
}

fn run_notmuch(layout: &Layout) -> Result<Run> {
    let db = layout.notmuch.join("db");
    std::fs::create_dir_all(&db)?;
    let config = layout.notmuch.join("config");
    std::fs::write(
        &config,
        format!(
            "# Written by `ctx bench mail`.\n[database]\npath={}\nmail_root={}\n\n[user]\nname=ctx bench\nprimary_email=bench@{}\n\n[new]\ntags=unread;inbox;\nignore=\n\n[maildir]\nsynchronize_flags=true\n",
            db.display(),
            layout.maildir.display(),
            corpus::ORG_DOMAIN
        ),
    )?;
    let env = [("NOTMUCH_CONFIG", config.as_path())];
    let (mut run, output) = timed("notmuch", &["new"], &env, &layout.notmuch.join("new.log"))?;
    run.tool = tool_version("notmuch");
    run.disk = dir_size(&db);
    let count = Command::new("notmuch")
        .args(["count", "*"])
        .env("NOTMUCH_CONFIG", &config)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    run.indexed = format!("{} messages (`notmuch count '*'`)", count);
    // Progress lines end in `\r`; keep the summary ones.
    run.note = output
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| l.starts_with("Added") || l.starts_with("Processed"))
        .collect::<Vec<_>>()
        .join("; ");
    Ok(run)
}

fn run_mu(layout: &Layout) -> Result<Run> {
    std::fs::create_dir_all(&layout.mu)?;
    let muhome = format!("--muhome={}", layout.mu.display());
    let maildir = format!("--maildir={}", layout.maildir.display());
    let address = format!("--my-address=bench@{}", corpus::ORG_DOMAIN);
    let init = Command::new("mu")
        .args(["init", &muhome, &maildir, &address])
        .output()
        .context("cannot run mu init (is maildir-utils installed?)")?;
    if !init.status.success() {
        bail!(
            "mu init failed: {}",
            String::from_utf8_lossy(&init.stderr).trim()
        );
    }
    let (mut run, output) = timed(
        "mu",
        &["index", muhome.as_str()],
        &[],
        &layout.root.join("mu-index.log"),
    )?;
    run.tool = tool_version("mu");
    run.disk = dir_size(&layout.mu);
    // mu index ends with a line like "- indexing messages; checked: 100000; updated/new: 100000".
    run.indexed = output
        .rsplit(['\r', '\n'])
        .map(|l| l.trim().trim_start_matches(['/', '\\', '|', '-', ' ']))
        .find(|l| l.contains("updated/new"))
        .unwrap_or("see mu-index.log")
        .to_string();
    run.note = "`mu init` not timed (it only writes the settings)".into();
    Ok(run)
}

async fn bench(args: MailBenchArgs) -> Result<()> {
    let root = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("ctx-bench-mail-{}-s{}", args.messages, args.seed))
    });
    let layout = Layout::new(root);
    layout.prepare()?;
    let options = MailOptions {
        messages: args.messages,
        seed: args.seed,
        assorted: true,
        ..MailOptions::default()
    };
    let maildir = ensure_maildir(&layout, &options)?;
    let maildir_bytes = dir_size(&layout.maildir);

    eprintln!("ctxd: indexing ...");
    let ctx = run_ctx(&args, &layout, &maildir.stats).await?;
    eprintln!(
        "ctxd: {:.0} messages/s, peak rss {}, on disk {}",
        ctx.rate(maildir.stats.messages),
        ctx.peak_rss.map(human_bytes).unwrap_or_else(|| "?".into()),
        human_bytes(ctx.disk)
    );
    let mut others = Vec::new();
    if !args.no_notmuch {
        eprintln!("notmuch new: indexing ...");
        match run_notmuch(&layout) {
            Ok(run) => others.push(run),
            Err(e) => eprintln!("warning: notmuch not measured: {e:#}"),
        }
    }
    if !args.no_mu {
        eprintln!("mu index: indexing ...");
        match run_mu(&layout) {
            Ok(run) => others.push(run),
            Err(e) => eprintln!("warning: mu not measured: {e:#}"),
        }
    }
    let section = markdown(&args, &layout, &maildir, maildir_bytes, &ctx, &others);
    println!("{section}");
    write_marked_section(&args.output, &section, SECTION_START, SECTION_END)?;
    eprintln!("results written to {}", args.output.display());
    if !args.keep {
        for dir in [&layout.data, &layout.notmuch, &layout.mu] {
            remove_if_exists(dir)?;
        }
        if args.dir.is_none() {
            remove_if_exists(&layout.root)?;
        }
    }
    Ok(())
}

fn markdown(
    args: &MailBenchArgs,
    layout: &Layout,
    maildir: &MaildirRun,
    maildir_bytes: u64,
    ctx: &Run,
    others: &[Run],
) -> String {
    let s = &maildir.stats;
    let mut o = String::new();
    let _ = writeln!(o, "{SECTION_START}");
    let _ = writeln!(o, "## Mail ingest (`ctx bench mail`)\n");
    let _ = writeln!(
        o,
        "Generated by `ctx bench mail`; rerun it to replace this section. Measured {} on {}; {} build. \
         All three indexers read the same Maildir in the same run, one after the other, with the \
         Maildir in the page cache (it was just generated or read).\n",
        now_utc(),
        machine(),
        if cfg!(debug_assertions) {
            "**debug**"
        } else {
            "release"
        }
    );
    let _ = writeln!(o, "Command: `{}`\n", command_line());
    let _ = writeln!(
        o,
        "Maildir: {} messages in {} threads and {} folders, {} on disk ({} of messages); {} attachments \
         ({} CSV/text/PDF that ctx extracts, the rest PNG); multipart/alternative, HTML-only, \
         ISO-8859-1 quoted-printable and base64 bodies; {} unread in `new/`; seed {}; {}.\n",
        thousands(s.messages as u64),
        thousands(s.threads as u64),
        s.folders,
        human_bytes(maildir_bytes),
        human_bytes(s.bytes),
        thousands(s.attachments as u64),
        thousands(s.readable_attachments as u64),
        thousands(s.unread as u64),
        args.seed,
        match maildir.generated_in {
            Some(t) => format!("generated in {:.1} s", t.as_secs_f64()),
            None => "reused from an earlier run".into(),
        }
    );
    let _ = writeln!(
        o,
        "| indexer | wall time | messages/s | CPU (user+sys) | peak RSS | written to disk | indexed | load avg before → after |"
    );
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---|---|");
    for run in std::iter::once(ctx).chain(others) {
        let _ = writeln!(
            o,
            "| {} | {:.1} s | **{:.0}** | {} | {} | {} | {} | {} → {} |",
            run.tool,
            run.wall.as_secs_f64(),
            run.rate(s.messages),
            run.cpu
                .map(|c| format!("{:.1} s", c.as_secs_f64()))
                .unwrap_or_else(|| "?".into()),
            run.peak_rss.map(human_bytes).unwrap_or_else(|| "?".into()),
            human_bytes(run.disk),
            run.indexed,
            run.load_before,
            run.load_after
        );
    }
    let _ = writeln!(o);
    for run in std::iter::once(ctx).chain(others) {
        if !run.note.is_empty() {
            let _ = writeln!(o, "- {}: {}", run.tool, run.note);
        }
    }
    let _ = writeln!(
        o,
        "- ctxd: wall time from process start until every message and attachment is stored in \
         SQLite and committed to tantivy (`passes ≥ 1`, index lag 0); peak RSS is VmHWM of the \
         daemon process; on disk is its data directory after a clean stop. notmuch and mu: wall \
         time of the command, CPU and peak RSS from GNU time; on disk is the database directory."
    );
    let _ = writeln!(
        o,
        "- The machine may be shared with other work: the load averages show how busy it was; CPU \
         time is the load-independent cost.\n"
    );
    let notmuch = others.iter().find(|r| r.tool.starts_with("notmuch"));
    let _ = writeln!(o, "### Targets\n");
    let _ = writeln!(o, "| target | measured | result |\n|---|---:|---|");
    let rate = ctx.rate(s.messages);
    let _ = writeln!(
        o,
        "| ≥ 1,500 messages/s | {rate:.0}{} | {} |",
        notmuch
            .map(|n| format!(" ({:.1}× notmuch)", rate / n.rate(s.messages).max(1e-9)))
            .unwrap_or_default(),
        pass(rate >= TARGET_RATE)
    );
    let _ = writeln!(
        o,
        "| peak RSS < 300 MB | {} | {} |",
        ctx.peak_rss.map(human_bytes).unwrap_or_else(|| "?".into()),
        match ctx.peak_rss {
            Some(p) => pass(p < TARGET_RSS_BYTES),
            None => "unknown",
        }
    );
    match notmuch {
        Some(n) => {
            let _ = writeln!(
                o,
                "| on disk ≤ notmuch's | {} vs {} | {} |",
                human_bytes(ctx.disk),
                human_bytes(n.disk),
                pass(ctx.disk <= n.disk)
            );
        }
        None => {
            let _ = writeln!(
                o,
                "| on disk ≤ notmuch's | {} (notmuch not run) | unknown |",
                human_bytes(ctx.disk)
            );
        }
    }
    let _ = writeln!(
        o,
        "\nWorking directory: `{}` ({}).",
        layout.root.display(),
        if args.keep {
            "kept"
        } else {
            "databases deleted"
        }
    );
    let _ = write!(o, "{SECTION_END}");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_round_trip_through_the_marker() {
        let s = MailStats {
            messages: 10,
            threads: 4,
            folders: 3,
            unread: 2,
            bytes: 12_345,
            attachments: 5,
            readable_attachments: 4,
        };
        assert_eq!(parse_stats(&format_stats(&s)), Some(s));
        assert_eq!(parse_stats("messages=1 bytes=2"), None);
        assert_eq!(parse_stats("messages=x"), None);
    }

    #[test]
    fn cpu_time_of_this_process_is_read() {
        // Burn a little CPU so the count is not zero.
        let mut x = 0u64;
        for i in 0..50_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        let cpu = cpu_time(std::process::id()).expect("own /proc stat");
        assert!(
            cpu > Duration::ZERO && cpu < Duration::from_secs(3600),
            "{cpu:?}"
        );
        assert!(peak_rss(std::process::id()).is_some_and(|b| b > 1024 * 1024));
    }
}
