//! `ctx demo`: the product on a fresh machine, in one command.
//!
//! 1. generate a sample corpus (see [`crate::corpus`]) in a temporary directory (or `--dir`):
//!    documents in `corpus/`, a Maildir++ tree in `Mail/`, `.ics` calendars in `calendars/`
//!    (mail and meetings are dated around today, so they depend on the seed and the date);
//!    and CRM exports (companies, contacts, deals, notes as JSONL) in `crm/`;
//! 2. write a config with a `files`, a `maildir`, an `ics` and a `crm_export` connector over them
//!    and start an embedded daemon;
//! 3. connect a real client over the daemon's Unix socket and wait for every first pass;
//! 4. run the demo queries at a few budgets and show what came back;
//! 5. explain how to go on, and stop the daemon (after Ctrl-C with `--keep`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use clap::Args;
use ctx_client::{Client, pb};

use crate::client::{ConfigFailure, call_error, usage};
use crate::corpus::{self, CalendarOptions, CorpusOptions, MailOptions};
use crate::fmt::{clip, micros, stdout, thousands};
use crate::status::{WaitTarget, wait_for};

/// Name of the demo's files connector.
const SOURCE: &str = "documents";
/// Name of the demo's maildir connector.
const MAIL_SOURCE: &str = "mail";
/// Name of the demo's ics connector.
const CALENDAR_SOURCE: &str = "calendar";
/// Name of the demo's crm_export connector.
const CRM_SOURCE: &str = "crm";
/// Items listed per query.
const SHOWN_ITEMS: usize = 5;
/// Budgets every demo query runs at.
const BUDGETS: [u32; 3] = [2_000, 8_192, 32_000];
/// The budget whose items are listed and rendered.
const SHOWN_BUDGET: u32 = 8_192;
const MARKDOWN_LINES: usize = 40;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Keep the daemon running after the demo, until Ctrl-C, to try `ctx` commands on it.
    #[arg(long)]
    pub keep: bool,
    /// Work in DIR (corpus/, data/, config.toml...) instead of a temporary directory that is
    /// deleted afterwards.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Number of sample documents to generate.
    #[arg(long, value_name = "N", default_value_t = CorpusOptions::default().documents)]
    pub docs: usize,
    /// Number of sample mail messages (a Maildir tree; 0: no mail connector).
    #[arg(long, value_name = "N", default_value_t = MailOptions::default().messages)]
    pub mail: usize,
    /// Number of sample calendar event series (.ics files; 0: no calendar connector).
    #[arg(long, value_name = "N", default_value_t = CalendarOptions::default().series)]
    pub events: usize,
    /// Seed of the corpus generator (the same seed gives the same documents; mail and meetings
    /// are dated around today, so they are the same for the same seed on the same day).
    #[arg(long, value_name = "N", default_value_t = CorpusOptions::default().seed)]
    pub seed: u64,
    /// Show the embedded daemon's info logs (default: warnings only; RUST_LOG also works).
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    if args.docs == 0 {
        return Err(usage("--docs must be at least 1"));
    }
    init_tracing(args.verbose);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("ctx-demo")
        .build()
        .context("cannot start the async runtime")?;

    // The working directory: --dir, or a temporary one removed on the way out.
    let (root, temp) = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let root = dir
                .canonicalize()
                .with_context(|| format!("cannot resolve {}", dir.display()))?;
            (root, None)
        }
        None => {
            let temp = tempfile::Builder::new()
                .prefix("ctx-demo-")
                .tempdir()
                .context("cannot create a temporary directory")?;
            (temp.path().to_path_buf(), Some(temp))
        }
    };
    let result = runtime.block_on(demo(&args, &root));
    // Shut the runtime down before deleting the directory its threads may still touch.
    runtime.shutdown_timeout(Duration::from_secs(5));
    if let Some(temp) = temp {
        let path = temp.path().to_path_buf();
        if let Err(e) = temp.close() {
            eprintln!("warning: could not remove {}: {e}", path.display());
        }
    }
    result
}

fn init_tracing(verbose: bool) {
    let filter = if verbose {
        "info".to_string()
    } else {
        std::env::var("RUST_LOG")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| "warn".into())
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn demo(args: &DemoArgs, root: &Path) -> anyhow::Result<()> {
    let started = Instant::now();

    // 1. The corpus.
    let corpus_dir = root.join("corpus");
    eprintln!(
        "[1/5] generating {} sample documents in {}",
        thousands(args.docs as u64),
        corpus_dir.display()
    );
    let options = CorpusOptions {
        documents: args.docs,
        seed: args.seed,
    };
    let gen_dir = corpus_dir.clone();
    let stats = tokio::task::spawn_blocking(move || corpus::generate(&gen_dir, &options))
        .await
        .context("the corpus generator failed")?
        .with_context(|| format!("cannot write the sample corpus to {}", corpus_dir.display()))?;
    eprintln!(
        "      {} files, {} KiB, {:.1} s",
        thousands(stats.files as u64),
        thousands(stats.bytes / 1024),
        started.elapsed().as_secs_f64()
    );
    let today = corpus::today_utc();
    let mail_dir = (args.mail > 0).then(|| root.join("Mail"));
    if let Some(dir) = &mail_dir {
        let options = MailOptions {
            messages: args.mail,
            seed: args.seed,
            today,
            assorted: false,
        };
        let stats = corpus::generate_mail(dir, &options)
            .with_context(|| format!("cannot write the sample mail to {}", dir.display()))?;
        eprintln!(
            "      {} mail messages in {} threads and {} folders ({} unread) in {}",
            thousands(stats.messages as u64),
            stats.threads,
            stats.folders,
            stats.unread,
            dir.display()
        );
    }
    let calendar_dir = (args.events > 0).then(|| root.join("calendars"));
    if let Some(dir) = &calendar_dir {
        let options = CalendarOptions {
            series: args.events,
            seed: args.seed,
            today,
        };
        let stats = corpus::generate_calendar(dir, &options)
            .with_context(|| format!("cannot write the sample calendars to {}", dir.display()))?;
        eprintln!(
            "      {} event series in {} calendars in {}",
            stats.series,
            stats.files,
            dir.display()
        );
    }

    let crm_dir = root.join("crm");
    let crm = corpus::crm::generate_crm(&crm_dir, today).with_context(|| {
        format!(
            "cannot write the sample CRM exports to {}",
            crm_dir.display()
        )
    })?;
    eprintln!(
        "      {} companies, {} contacts, {} deals and {} notes (CRM exports) in {}",
        crm.companies,
        crm.contacts,
        crm.deals,
        crm.notes,
        crm_dir.display()
    );

    // 2. Configuration and an embedded daemon.
    let config_path = write_config(
        root,
        &corpus_dir,
        mail_dir.as_deref(),
        calendar_dir.as_deref(),
    )?;
    write_crm_config(root, &crm_dir)?;
    let config = ctx_config::load(&ctx_config::ConfigSource::explicit(&config_path), &demo_env)
        .map_err(|errors| anyhow::Error::new(ConfigFailure(errors)))?;
    let socket = config.daemon.socket.clone();
    eprintln!(
        "[2/5] starting an embedded ctxd (data in {}, socket {})",
        config.daemon.data_dir.display(),
        socket.display()
    );
    let daemon = ctx_daemon::start(config, Vec::new())
        .await
        .map_err(|e| anyhow!("the embedded daemon could not start: {e}"))?;

    // 3-5 run with the daemon up; whatever happens, it is stopped cleanly afterwards.
    let shown = tokio::select! {
        r = with_daemon(args, daemon.socket(), &corpus_dir, started) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    let keep = matches!(shown, Ok(true));
    if keep {
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("\nstopping the daemon...");
    }
    daemon.stop().await;
    shown.map(|_| ())
}

/// Steps 3-5; `Ok(true)` when the daemon should be kept running.
async fn with_daemon(
    args: &DemoArgs,
    socket: &Path,
    corpus_dir: &Path,
    started: Instant,
) -> anyhow::Result<bool> {
    // 3. A real client over the Unix socket, exactly as `ctx` uses it.
    let mut client = crate::client::connect_unix(socket, "the embedded daemon").await?;
    eprintln!("[3/5] indexing (waiting for the first sync pass and the search index)");
    let index_started = Instant::now();
    let mut targets = vec![WaitTarget::first_pass(SOURCE)];
    if args.mail > 0 {
        targets.push(WaitTarget::first_pass(MAIL_SOURCE));
    }
    if args.events > 0 {
        targets.push(WaitTarget::first_pass(CALENDAR_SOURCE));
    }
    targets.push(WaitTarget::first_pass(CRM_SOURCE));
    let status = wait_for(&mut client, &targets, Duration::from_secs(300))
        .await
        .context("indexing the sample corpus failed")?;
    eprintln!(
        "      {} items indexed in {:.1} s",
        thousands(status.total_items),
        index_started.elapsed().as_secs_f64()
    );

    // 4. Queries.
    eprintln!("[4/5] querying\n");
    let queries = corpus::demo_queries();
    let mut first_markdown = None;
    for (i, query) in queries.iter().enumerate() {
        let mut out = format!("[{}/{}] \"{query}\"\n", i + 1, queries.len());
        let mut shown_response = None;
        for budget in BUDGETS {
            let (response, wall) = grab(&mut client, query, budget).await?;
            let _ = writeln!(
                out,
                "   budget {:>6}: {:>3} items  {:>6}/{} tokens  {:>5} candidates  server {:>8}  wall {:>8}",
                thousands(u64::from(budget)),
                response.items.len(),
                thousands(u64::from(response.tokens_used)),
                thousands(u64::from(response.token_budget)),
                thousands(u64::from(response.candidates)),
                micros(response.took_us),
                micros(wall.as_micros() as u64),
            );
            if budget == SHOWN_BUDGET {
                shown_response = Some(response);
            }
        }
        if let Some(response) = shown_response {
            if response.items.is_empty() {
                let _ = writeln!(out, "   (nothing related found)");
            } else {
                let _ = writeln!(out, "   kinds: {}", kind_summary(&response.items));
            }
            for (n, item) in response.items.iter().take(SHOWN_ITEMS).enumerate() {
                let _ = writeln!(
                    out,
                    "   {}. {}  [{} from {}]\n      why: {}",
                    n + 1,
                    clip(
                        if item.title.is_empty() {
                            &item.locator
                        } else {
                            &item.title
                        },
                        70
                    ),
                    item.kind,
                    item.source,
                    clip(&item.why, 100)
                );
            }
            if i == 0 {
                first_markdown = Some((query.to_string(), response));
            }
        }
        out.push('\n');
        stdout(&out).context("cannot write to stdout")?;
    }
    if let Some((query, response)) = first_markdown {
        let mut out = format!(
            "─── the context for \"{query}\" at budget {}, as a model would get it ({} of {} lines) ───\n",
            thousands(u64::from(SHOWN_BUDGET)),
            response.markdown.lines().count().min(MARKDOWN_LINES),
            response.markdown.lines().count()
        );
        for line in response.markdown.lines().take(MARKDOWN_LINES) {
            out.push_str(line);
            out.push('\n');
        }
        let more = response
            .markdown
            .lines()
            .count()
            .saturating_sub(MARKDOWN_LINES);
        if more > 0 {
            let _ = writeln!(out, "… {more} more lines");
        }
        out.push_str("───\n");
        stdout(&out).context("cannot write to stdout")?;
    }

    // 5. What next.
    let sock = shell_quote(&socket.display().to_string());
    let example = queries.first().copied().unwrap_or("Acme renewal");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n[5/5] done in {:.1} s.",
        started.elapsed().as_secs_f64()
    );
    if args.keep {
        let _ = writeln!(
            out,
            "The daemon keeps running until you press Ctrl-C. In another terminal, try:\n  \
             ctx --socket {sock} query \"{example}\" --budget 4000\n  \
             ctx --socket {sock} query \"{example}\" --json | jq '.items[].title'\n  \
             ctx --socket {sock} search \"renewal\" --limit 5\n  \
             ctx --socket {sock} query \"Janet Morales\" --budget 4000\n  \
             ctx --socket {sock} status\n\
             Files added or changed in {} (and mail in Mail/, calendars in calendars/ next to it) \
             are indexed as they change.",
            shell_quote(&corpus_dir.display().to_string())
        );
    } else {
        let _ = writeln!(
            out,
            "Run `ctx demo --keep` to keep the daemon running and try `ctx query` yourself.\n\
             To index your own documents: `ctx config init`, edit connectors.d/documents.toml, \
             start `ctxd`, then `ctx query \"...\"`."
        );
    }
    stdout(&out).context("cannot write to stdout")?;
    Ok(args.keep)
}

/// `3 document, 2 email, 1 event`: how many items of each kind, most first.
fn kind_summary(items: &[pb::ContextItem]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for item in items {
        match counts.iter_mut().find(|(k, _)| *k == item.kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((&item.kind, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    counts
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn grab(
    client: &mut Client,
    query: &str,
    budget: u32,
) -> anyhow::Result<(pb::GrabResponse, Duration)> {
    let t = Instant::now();
    let response = client
        .api()
        .grab_everything_related(pb::GrabRequest {
            query: query.to_string(),
            token_budget: budget,
            filters: None,
            ..Default::default()
        })
        .await
        .map_err(call_error)?
        .into_inner();
    Ok((response, t.elapsed()))
}

/// The environment the demo's config is loaded with: the real one, minus the overrides that
/// would point the demo at the user's own data or socket.
fn demo_env(name: &str) -> Option<String> {
    match name {
        ctx_config::ENV_CONFIG | ctx_config::ENV_DATA_DIR | ctx_config::ENV_SOCKET => None,
        _ => ctx_config::process_env(name),
    }
}

/// Writes `config.toml` and `connectors.d/documents.toml` (plus `mail.toml` and `calendar.toml`
/// when given those directories) into `root`; returns the main file.
fn write_config(
    root: &Path,
    corpus_dir: &Path,
    mail_dir: Option<&Path>,
    calendar_dir: Option<&Path>,
) -> anyhow::Result<PathBuf> {
    let data_dir = root.join("data");
    let mut socket = root.join("ctxd.sock");
    // Unix socket paths are limited to ~108 bytes; a deep --dir would not fit.
    if socket.as_os_str().len() > 100 {
        socket = std::env::temp_dir().join(format!("ctx-demo-{}.sock", std::process::id()));
    }
    let main = format!(
        "# Written by `ctx demo`.\n[daemon]\ndata_dir = {}\nsocket = {}\nlog = \"warn\"\n",
        toml_string(&data_dir.display().to_string()),
        toml_string(&socket.display().to_string()),
    );
    let connector = format!(
        "# Written by `ctx demo`: the generated sample corpus.\ntype = \"files\"\nenabled = true\npaths = [{}]\n",
        toml_string(&corpus_dir.display().to_string()),
    );
    let config_path = root.join("config.toml");
    let connectors = root.join(ctx_config::CONNECTORS_DIR);
    std::fs::create_dir_all(&connectors)
        .with_context(|| format!("cannot create {}", connectors.display()))?;
    std::fs::write(&config_path, main)
        .with_context(|| format!("cannot write {}", config_path.display()))?;
    let mut files = vec![(SOURCE, connector)];
    if let Some(dir) = mail_dir {
        files.push((
            MAIL_SOURCE,
            format!(
                "# Written by `ctx demo`: the generated sample mailbox (Maildir++).\ntype = \"maildir\"\nenabled = true\npath = {}\n",
                toml_string(&dir.display().to_string()),
            ),
        ));
    }
    if let Some(dir) = calendar_dir {
        files.push((
            CALENDAR_SOURCE,
            format!(
                "# Written by `ctx demo`: the generated sample calendars.\ntype = \"ics\"\nenabled = true\npaths = [{}]\n",
                toml_string(&dir.display().to_string()),
            ),
        ));
    }
    for name in [MAIL_SOURCE, CALENDAR_SOURCE] {
        // A previous run with mail or calendars, now without: drop its connector.
        if !files.iter().any(|(n, _)| *n == name) {
            let _ = std::fs::remove_file(connectors.join(format!("{name}.toml")));
        }
    }
    for (name, text) in files {
        let connector_path = connectors.join(format!("{name}.toml"));
        std::fs::write(&connector_path, text)
            .with_context(|| format!("cannot write {}", connector_path.display()))?;
    }
    Ok(config_path)
}

/// Writes `connectors.d/crm.toml`: a `crm_export` connector over the generated JSONL files.
fn write_crm_config(root: &Path, crm_dir: &Path) -> anyhow::Result<()> {
    let mut text = String::from(
        "# Written by `ctx demo`: the sample organisation's CRM (JSONL exports, watched).\n\
         type = \"crm_export\"\nenabled = true\n",
    );
    for (file, object) in corpus::crm::CRM_FILES {
        let _ = write!(
            text,
            "\n[[files]]\npath = {}\nobject = \"{object}\"\n",
            toml_string(&crm_dir.join(file).display().to_string())
        );
    }
    let path = root
        .join(ctx_config::CONNECTORS_DIR)
        .join(format!("{CRM_SOURCE}.toml"));
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
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

/// Quotes for a POSIX shell when needed.
fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:,@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(toml_string(r#"/a "b"\c"#), r#""/a \"b\"\\c""#);
        assert_eq!(toml_string("a\tb"), r#""a\u0009b""#);
        assert_eq!(shell_quote("/tmp/x.sock"), "/tmp/x.sock");
        assert_eq!(shell_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn config_written_by_the_demo_loads() {
        let dir = tempfile::tempdir().unwrap();
        let corpus = dir.path().join("my \"corpus\"");
        let path = write_config(dir.path(), &corpus, None, None).unwrap();
        let config = ctx_config::load(&ctx_config::ConfigSource::explicit(&path), &demo_env)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.daemon.data_dir, dir.path().join("data"));
        assert_eq!(config.connectors.len(), 1);
        assert_eq!(config.connectors[0].name, SOURCE);
        assert!(config.connectors[0].enabled);
        let ctx_config::ConnectorSettings::Files(files) = &config.connectors[0].settings else {
            panic!("not a files connector");
        };
        assert_eq!(files.paths, vec![corpus.clone()]);

        let mail = dir.path().join("Mail");
        let calendars = dir.path().join("calendars");
        let path = write_config(dir.path(), &corpus, Some(&mail), Some(&calendars)).unwrap();
        let config = ctx_config::load(&ctx_config::ConfigSource::explicit(&path), &demo_env)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.connectors.len(), 3);
        let by_name = |name: &str| {
            &config
                .connectors
                .iter()
                .find(|c| c.name == name)
                .unwrap_or_else(|| panic!("no {name} connector"))
                .settings
        };
        let ctx_config::ConnectorSettings::Maildir(m) = by_name(MAIL_SOURCE) else {
            panic!("not a maildir connector");
        };
        assert_eq!(m.path, mail);
        let ctx_config::ConnectorSettings::Ics(ics) = by_name(CALENDAR_SOURCE) else {
            panic!("not an ics connector");
        };
        assert_eq!(ics.paths, vec![calendars]);
        assert!(matches!(
            by_name(SOURCE),
            ctx_config::ConnectorSettings::Files(_)
        ));

        // The CRM exports' connector.
        write_crm_config(dir.path(), &dir.path().join("crm")).unwrap();
        let config = ctx_config::load(&ctx_config::ConfigSource::explicit(&path), &demo_env)
            .unwrap_or_else(|e| panic!("{e}"));
        let crm = config
            .connectors
            .iter()
            .find(|c| c.name == CRM_SOURCE)
            .unwrap();
        let ctx_config::ConnectorSettings::CrmExport(e) = &crm.settings else {
            panic!("not a crm_export connector");
        };
        assert_eq!(e.files.len(), 4);
        assert_eq!(e.files[2].path, dir.path().join("crm/deals.jsonl"));
        std::fs::remove_file(dir.path().join("connectors.d/crm.toml")).unwrap();

        // Without mail and calendars again, their connectors go.
        write_config(dir.path(), &corpus, None, None).unwrap();
        let config = ctx_config::load(&ctx_config::ConfigSource::explicit(&path), &demo_env)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.connectors.len(), 1);
    }
}
