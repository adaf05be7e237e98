//! `ctx status`, `ctx sync`, and waiting for connectors (shared with `ctx demo`).

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use clap::Args;
use ctx_client::{Client, pb};
use indicatif::{ProgressBar, ProgressStyle};

use crate::GlobalArgs;
use crate::client::{call_error, connect};
use crate::dates;
use crate::fmt::{clip, stdout, thousands};
use crate::json;

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// Connector to run [default: all].
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Wait until the triggered connectors finished a pass and the index caught up.
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this many seconds (exit code 1).
    #[arg(long, value_name = "SECS", default_value_t = 600, requires = "wait")]
    pub timeout: u64,
}

pub async fn status(global: &GlobalArgs, args: StatusArgs) -> anyhow::Result<()> {
    let mut client = connect(global).await?;
    let response = client
        .api()
        .status(pb::StatusRequest {})
        .await
        .map_err(call_error)?
        .into_inner();
    if args.json {
        return json::print(&json::StatusOutput::from(response));
    }
    stdout(&render_status(&response, dates::now_ms())).context("cannot write to stdout")?;
    Ok(())
}

/// The human-readable status: a header, one row per connector, errors, totals.
pub fn render_status(s: &pb::StatusResponse, now_ms: i64) -> String {
    let mut out = String::new();
    let uptime = if s.started_ms > 0 {
        format!(
            ", up {}",
            dates::short_duration(((now_ms - s.started_ms).max(0) / 1000) as u64)
        )
    } else {
        String::new()
    };
    let _ = writeln!(out, "ctxd {}{uptime}", s.version);
    let _ = writeln!(out, "data dir   {}", s.data_dir);
    let _ = writeln!(out, "tokenizer  {}", s.tokenizer);
    out.push('\n');
    if s.connectors.is_empty() {
        let _ = writeln!(
            out,
            "no connectors configured; add one as connectors.d/NAME.toml (see `ctx config init`)"
        );
    } else {
        let rows: Vec<[String; 6]> = s
            .connectors
            .iter()
            .map(|c| {
                [
                    c.name.clone(),
                    c.r#type.clone(),
                    c.state.clone(),
                    thousands(c.item_count),
                    dates::ago(c.last_success_ms, now_ms),
                    progress_text(c),
                ]
            })
            .collect();
        let header = ["NAME", "TYPE", "STATE", "ITEMS", "LAST SUCCESS", "PROGRESS"];
        let widths: Vec<usize> = (0..6)
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].chars().count())
                    .chain([header[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut row = |cells: [&str; 6]| {
            let mut line = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i == 3 {
                    let _ = write!(line, "{cell:>w$}  ", w = widths[i]);
                } else {
                    let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
        };
        row(header);
        for r in &rows {
            row([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]);
        }
        for c in s.connectors.iter().filter(|c| !c.last_error.is_empty()) {
            let _ = writeln!(
                out,
                "\n{}: last error {}: {}",
                c.name,
                dates::ago(c.last_error_ms, now_ms),
                clip(&c.last_error, 300)
            );
        }
        for c in s.connectors.iter().filter(|c| !c.problems.is_empty()) {
            let _ = writeln!(out, "\n{}: problems in the last pass:", c.name);
            for problem in &c.problems {
                let _ = writeln!(out, "  - {}", clip(problem, 300));
            }
        }
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "total {} items in {} source{}; index lag {}{}",
        thousands(s.total_items),
        s.connectors.len(),
        if s.connectors.len() == 1 { "" } else { "s" },
        thousands(s.index_lag),
        if s.index_lag == 0 {
            " (search is up to date)"
        } else {
            " (indexing)"
        }
    );
    out.push_str(&embeddings_line(s.embeddings.as_ref()));
    out
}

/// One line about semantic search: off (and why), or the worker's progress.
fn embeddings_line(e: Option<&pb::EmbeddingStatus>) -> String {
    let Some(e) = e else {
        return String::new();
    };
    if !e.enabled {
        return format!("semantic   off: {}\n", e.note);
    }
    let rate = if e.chunks_per_second > 0.0 && e.items_pending > 0 {
        format!(", {:.0} chunks/s", e.chunks_per_second)
    } else {
        String::new()
    };
    format!(
        "semantic   {} ({}): {} items embedded, {} pending, {} vectors, dim {}{rate}; {}\n",
        e.state,
        e.model,
        thousands(e.items_embedded),
        thousands(e.items_pending),
        thousands(e.vectors),
        e.dim,
        e.note
    )
}

fn progress_text(c: &pb::ConnectorStatus) -> String {
    if c.state == "syncing" && c.progress_total > 0 {
        format!(
            "{}/{} ({} left)",
            thousands(c.progress_done),
            thousands(c.progress_total),
            thousands(c.backlog)
        )
    } else if c.backlog > 0 {
        format!("{} left", thousands(c.backlog))
    } else {
        "-".into()
    }
}

pub async fn sync(global: &GlobalArgs, args: SyncArgs) -> anyhow::Result<()> {
    let mut client = connect(global).await?;
    let name = args.name.clone().unwrap_or_default();
    let response = client
        .api()
        .sync(pb::SyncRequest { name: name.clone() })
        .await
        .map_err(|status| {
            if status.code() == tonic::Code::NotFound {
                anyhow!(
                    "{}\n  hint: `ctx status` lists the running connectors",
                    status.message()
                )
            } else {
                call_error(status)
            }
        })?
        .into_inner();
    if response.triggered.is_empty() {
        eprintln!("no connectors are running; nothing to sync");
        return Ok(());
    }
    let names: Vec<&str> = response.triggered.iter().map(|c| c.name.as_str()).collect();
    eprintln!("sync triggered: {}", names.join(", "));
    if !args.wait {
        return Ok(());
    }
    let targets = response
        .triggered
        .iter()
        .map(WaitTarget::after_trigger)
        .collect::<Vec<_>>();
    let status = wait_for(&mut client, &targets, Duration::from_secs(args.timeout)).await?;
    let counts: Vec<String> = status
        .connectors
        .iter()
        .filter(|c| targets.iter().any(|t| t.name == c.name))
        .map(|c| format!("{} {} items", c.name, thousands(c.item_count)))
        .collect();
    eprintln!("sync done: {}; index up to date", counts.join(", "));
    Ok(())
}

/// A connector to wait for, and what counts as "done" for it.
#[derive(Debug, Clone)]
pub struct WaitTarget {
    pub name: String,
    /// Done once `passes` reaches this.
    pub min_passes: u64,
    /// An error newer than this fails the wait.
    pub last_error_ms: i64,
}

impl WaitTarget {
    /// After a Sync call: one more pass than at the trigger. When a pass was already running,
    /// it may have missed changes made just before the trigger, so wait for the pass the
    /// trigger queued behind it.
    pub fn after_trigger(c: &pb::ConnectorStatus) -> WaitTarget {
        let extra = if c.state == "syncing" { 2 } else { 1 };
        WaitTarget {
            name: c.name.clone(),
            min_passes: c.passes + extra,
            last_error_ms: c.last_error_ms,
        }
    }

    /// The first pass after the daemon started.
    pub fn first_pass(name: &str) -> WaitTarget {
        WaitTarget {
            name: name.to_string(),
            min_passes: 1,
            last_error_ms: 0,
        }
    }
}

enum Check {
    Done,
    Pending(String),
    Failed(String),
}

fn check(status: &pb::StatusResponse, targets: &[WaitTarget]) -> Check {
    let mut pending = Vec::new();
    for t in targets {
        let Some(c) = status.connectors.iter().find(|c| c.name == t.name) else {
            return Check::Failed(format!("connector `{}` is no longer running", t.name));
        };
        match c.state.as_str() {
            "error" | "auth_error" if c.last_error_ms > t.last_error_ms => {
                return Check::Failed(format!(
                    "connector `{}` failed ({}): {}",
                    c.name, c.state, c.last_error
                ));
            }
            "stopped" | "not_configured" => {
                return Check::Failed(format!(
                    "connector `{}` is {}; is the daemon shutting down?",
                    c.name, c.state
                ));
            }
            _ => {}
        }
        if c.passes < t.min_passes || c.state == "syncing" || c.state == "starting" {
            let mut text = format!("{} {}", c.name, c.state);
            if c.progress_total > 0 && c.state == "syncing" {
                let _ = write!(text, " {}/{}", c.progress_done, c.progress_total);
            }
            if c.state == "backoff" && !c.last_error.is_empty() {
                let _ = write!(text, " (retrying after: {})", clip(&c.last_error, 120));
            }
            pending.push(text);
        }
    }
    if status.index_lag > 0 {
        pending.push(format!("index lag {}", status.index_lag));
    }
    if pending.is_empty() {
        Check::Done
    } else {
        Check::Pending(pending.join(", "))
    }
}

/// Polls Status every 200 ms until every target is done and the index caught up; shows a
/// progress bar on a terminal, a line every few seconds otherwise.
pub async fn wait_for(
    client: &mut Client,
    targets: &[WaitTarget],
    timeout: Duration,
) -> anyhow::Result<pb::StatusResponse> {
    let started = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let spinner_style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let bar_style =
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    let bar = tty.then(|| {
        let bar = ProgressBar::new_spinner();
        bar.set_style(spinner_style.clone());
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    });
    let mut bar_shown = false;
    let mut last_line = Instant::now();
    let result = loop {
        let status = match client.api().status(pb::StatusRequest {}).await {
            Ok(r) => r.into_inner(),
            Err(e) => break Err(call_error(e)),
        };
        let (done, total) = status
            .connectors
            .iter()
            .filter(|c| targets.iter().any(|t| t.name == c.name))
            .fold((0, 0), |(d, t), c| {
                (d + c.progress_done, t + c.progress_total)
            });
        match check(&status, targets) {
            Check::Done => break Ok(status),
            Check::Failed(message) => break Err(anyhow!("{message}")),
            Check::Pending(what) => {
                if let Some(bar) = &bar {
                    // A bar once the connectors know how much work there is; a spinner before.
                    if total > 0 && !bar_shown {
                        bar.set_style(bar_style.clone());
                        bar_shown = true;
                    }
                    bar.set_length(total);
                    bar.set_position(done.min(total));
                    bar.set_message(what.clone());
                } else if last_line.elapsed() >= Duration::from_secs(3) {
                    eprintln!("waiting ({}s): {what}", started.elapsed().as_secs());
                    last_line = Instant::now();
                }
                if started.elapsed() >= timeout {
                    break Err(anyhow!(
                        "timed out after {}s waiting for: {what}\n  hint: raise --timeout, or see `ctx status`",
                        timeout.as_secs()
                    ));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(name: &str, state: &str, passes: u64) -> pb::ConnectorStatus {
        pb::ConnectorStatus {
            name: name.into(),
            r#type: "files".into(),
            state: state.into(),
            passes,
            ..Default::default()
        }
    }

    #[test]
    fn waiting_rules() {
        let t = WaitTarget::after_trigger(&connector("docs", "idle", 3));
        assert_eq!(t.min_passes, 4);
        assert_eq!(
            WaitTarget::after_trigger(&connector("docs", "syncing", 3)).min_passes,
            5
        );

        let status = |c: pb::ConnectorStatus, lag| pb::StatusResponse {
            connectors: vec![c],
            index_lag: lag,
            ..Default::default()
        };
        let targets = [t];
        assert!(matches!(
            check(&status(connector("docs", "syncing", 4), 0), &targets),
            Check::Pending(_)
        ));
        assert!(matches!(
            check(&status(connector("docs", "idle", 3), 0), &targets),
            Check::Pending(_)
        ));
        assert!(matches!(
            check(&status(connector("docs", "idle", 4), 5), &targets),
            Check::Pending(_)
        ));
        assert!(matches!(
            check(&status(connector("docs", "idle", 4), 0), &targets),
            Check::Done
        ));
        let mut failed = connector("docs", "error", 3);
        failed.last_error = "boom".into();
        failed.last_error_ms = 10;
        match check(&status(failed, 0), &targets) {
            Check::Failed(m) => assert!(m.contains("boom"), "{m}"),
            _ => panic!("an error state must fail the wait"),
        }
        assert!(matches!(
            check(&status(connector("other", "idle", 9), 0), &targets),
            Check::Failed(_)
        ));
    }

    #[test]
    fn status_table() {
        let s = pb::StatusResponse {
            connectors: vec![pb::ConnectorStatus {
                name: "documents".into(),
                r#type: "files".into(),
                state: "idle".into(),
                item_count: 1234,
                last_success_ms: 88_000,
                last_error: "disk on fire".into(),
                last_error_ms: 40_000,
                ..Default::default()
            }],
            total_items: 1234,
            data_dir: "/data".into(),
            version: "0.1.0".into(),
            started_ms: 1_000,
            index_lag: 0,
            tokenizer: "cl100k_base".into(),
            ..Default::default()
        };
        let text = render_status(&s, 100_000);
        assert!(text.contains("ctxd 0.1.0, up 1m"), "{text}");
        assert!(
            text.contains("documents  files  idle   1,234  12s ago"),
            "{text}"
        );
        assert!(
            text.contains("documents: last error 1m ago: disk on fire"),
            "{text}"
        );
        assert!(
            text.contains("total 1,234 items in 1 source; index lag 0"),
            "{text}"
        );
    }

    #[test]
    fn status_says_whether_semantic_search_is_on() {
        let off = pb::StatusResponse {
            embeddings: Some(pb::EmbeddingStatus {
                enabled: false,
                state: "off".into(),
                note: "no model configured: retrieval is keyword + entity graph only".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = render_status(&off, 0);
        assert!(
            text.contains("semantic   off: no model configured"),
            "{text}"
        );
        let on = pb::StatusResponse {
            embeddings: Some(pb::EmbeddingStatus {
                enabled: true,
                state: "embedding".into(),
                model: "/m/minilm".into(),
                dim: 384,
                items_embedded: 1500,
                items_pending: 20,
                vectors: 2100,
                chunks_per_second: 55.2,
                note: "20 items to embed".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = render_status(&on, 0);
        assert!(
            text.contains("semantic   embedding (/m/minilm): 1,500 items embedded, 20 pending, 2,100 vectors, dim 384, 55 chunks/s; 20 items to embed"),
            "{text}"
        );
    }
}
