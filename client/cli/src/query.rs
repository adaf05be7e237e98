//! `ctx query`, `ctx search`, `ctx get`.

use std::fmt::Write as _;

use anyhow::Context;
use clap::Args;
use ctx_client::{GrabEvent, pb};

use crate::GlobalArgs;
use crate::client::{call_error, connect, usage};
use crate::dates::{self, Bound};
use crate::fmt::{clip, micros, stdout, thousands};
use crate::json;

/// Filters shared by `query` and `search`.
#[derive(Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Only items from this source (connector name); repeat or comma-separate for several.
    #[arg(long = "source", value_name = "NAME", value_delimiter = ',')]
    pub sources: Vec<String>,
    /// Only items of this kind: document, email, attachment, event, task, contact, company,
    /// deal, note; repeat or comma-separate for several.
    #[arg(long = "kind", value_name = "KIND", value_delimiter = ',')]
    pub kinds: Vec<String>,
    /// Only items at or after DATE: YYYY-MM-DD (UTC), RFC 3339, or an age like 7d, 2w, 3m.
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only items before DATE (a bare YYYY-MM-DD includes that whole day).
    #[arg(long, value_name = "DATE")]
    pub until: Option<String>,
}

impl FilterArgs {
    /// The API filters; bad dates are usage errors.
    pub fn to_filters(&self) -> anyhow::Result<pb::Filters> {
        let now = time::OffsetDateTime::now_utc();
        let date = |value: &Option<String>, bound: Bound, flag: &str| {
            value
                .as_deref()
                .map(|v| {
                    dates::parse_date(v, bound, now).map_err(|e| usage(format!("{flag}: {e}")))
                })
                .transpose()
        };
        let since_ms = date(&self.since, Bound::Since, "--since")?;
        let until_ms = date(&self.until, Bound::Until, "--until")?;
        if let (Some(s), Some(u)) = (since_ms, until_ms)
            && s >= u
        {
            return Err(usage(format!(
                "--since {} is not before --until {}: the time range is empty",
                dates::human(s),
                dates::human(u)
            )));
        }
        let clean = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        Ok(pb::Filters {
            sources: clean(&self.sources),
            kinds: clean(&self.kinds)
                .into_iter()
                .map(|k| k.to_ascii_lowercase())
                .collect(),
            since_ms,
            until_ms,
        })
    }
}

#[derive(Args, Debug)]
pub struct QueryArgs {
    /// What to look for: a question, names, a topic.
    #[arg(value_name = "TEXT")]
    pub text: String,
    /// Token budget of the packed context (cl100k tokens) [default: the daemon's, 8192].
    #[arg(long, short = 'b', value_name = "N")]
    pub budget: Option<u32>,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Print one JSON object instead of markdown (with --stream: one per line, JSON Lines).
    #[arg(long)]
    pub json: bool,
    /// Print each item as soon as the daemon sends it (GrabEverythingRelatedStream); the
    /// summary comes last.
    #[arg(long)]
    pub stream: bool,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// What to look for.
    #[arg(value_name = "TEXT")]
    pub text: String,
    /// Hits per page (at most 1000).
    #[arg(long, short = 'n', default_value_t = 20, value_name = "N")]
    pub limit: u32,
    /// Hits to skip (for paging).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub offset: u32,
    #[command(flatten)]
    pub filters: FilterArgs,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct GetArgs {
    /// Item id (from `ctx query --json` or `ctx search`).
    #[arg(value_name = "ID")]
    pub id: String,
    /// Print one JSON object instead of a header and the body.
    #[arg(long)]
    pub json: bool,
}

pub async fn query(global: &GlobalArgs, args: QueryArgs) -> anyhow::Result<()> {
    if args.text.trim().is_empty() {
        return Err(usage(
            "the query text is empty\n  hint: ctx query \"Acme renewal\"",
        ));
    }
    if args.budget == Some(0) {
        return Err(usage("--budget must be at least 1 token"));
    }
    let filters = args.filters.to_filters()?;
    let mut client = connect(global).await?;
    let request = pb::GrabRequest {
        query: args.text,
        token_budget: args.budget.unwrap_or(0),
        filters: Some(filters),
        ..Default::default()
    };
    if args.stream {
        return query_stream(&mut client, request, args.json).await;
    }
    let response = client
        .api()
        .grab_everything_related(request)
        .await
        .map_err(call_error)?
        .into_inner();
    if args.json {
        return json::print(&json::QueryOutput::from(response));
    }
    stdout(&response.markdown).context("cannot write to stdout")?;
    eprintln!("{}", query_summary(&response));
    for line in freshness_warnings(&response.freshness, dates::now_ms()) {
        eprintln!("{line}");
    }
    Ok(())
}

/// `ctx query --stream`: each item printed as it arrives (its markdown, or with `--json` one
/// JSON object per line), then the summary (stderr, or the last JSON line).
async fn query_stream(
    client: &mut ctx_client::Client,
    request: pb::GrabRequest,
    json: bool,
) -> anyhow::Result<()> {
    let mut stream = client.grab_stream(request).await.map_err(stream_error)?;
    let mut items = 0usize;
    while let Some(event) = stream.next().await.map_err(stream_error)? {
        match event {
            GrabEvent::Item(item) => {
                items += 1;
                if json {
                    json::print_line(&json::StreamLine::from(item))?;
                } else {
                    stdout(&item.markdown).context("cannot write to stdout")?;
                }
            }
            GrabEvent::Summary(summary) => {
                if summary.items as usize != items {
                    anyhow::bail!(
                        "ctxd sent {items} items but its summary counts {}",
                        summary.items
                    );
                }
                if json {
                    return json::print_line(&json::StreamLine::from(summary));
                }
                eprintln!(
                    "{}",
                    summary_line(
                        items,
                        summary.tokens_used,
                        summary.token_budget,
                        summary.candidates,
                        summary.took_us,
                        summary.cut.len()
                    )
                );
                for line in freshness_warnings(&summary.freshness, dates::now_ms()) {
                    eprintln!("{line}");
                }
                return Ok(());
            }
        }
    }
    Ok(())
}

fn stream_error(e: ctx_client::ClientError) -> anyhow::Error {
    match e {
        ctx_client::ClientError::Status(status) => call_error(status),
        other => anyhow::Error::new(other),
    }
}

/// `42 items, 8,012/8,192 tokens, 1,234 candidates, 3.1 ms`.
pub fn query_summary(r: &pb::GrabResponse) -> String {
    summary_line(
        r.items.len(),
        r.tokens_used,
        r.token_budget,
        r.candidates,
        r.took_us,
        r.cut.len(),
    )
}

fn summary_line(
    items: usize,
    tokens_used: u32,
    token_budget: u32,
    candidates: u32,
    took_us: u64,
    cut: usize,
) -> String {
    let mut s = format!(
        "{} item{}, {}/{} tokens, {} candidates, {}",
        items,
        if items == 1 { "" } else { "s" },
        thousands(u64::from(tokens_used)),
        thousands(u64::from(token_budget)),
        thousands(u64::from(candidates)),
        micros(took_us)
    );
    if cut > 0 {
        let _ = write!(s, ", {cut} related item(s) did not fit");
    }
    s
}

/// Warnings about sources a model should not trust to be complete.
pub fn freshness_warnings(freshness: &[pb::SourceFreshness], now_ms: i64) -> Vec<String> {
    const DAY_MS: i64 = 24 * 3600 * 1000;
    let mut out = Vec::new();
    for f in freshness {
        if f.last_success_ms == 0 {
            out.push(format!(
                "warning: source `{}` has never synced; its items may be missing (see `ctx status`)",
                f.source
            ));
        } else if now_ms - f.last_success_ms > DAY_MS {
            out.push(format!(
                "warning: source `{}` last synced {}; its items may be stale",
                f.source,
                dates::ago(f.last_success_ms, now_ms)
            ));
        }
    }
    out
}

pub async fn search(global: &GlobalArgs, args: SearchArgs) -> anyhow::Result<()> {
    if args.limit == 0 || args.limit > 1000 {
        return Err(usage("--limit must be between 1 and 1000"));
    }
    let filters = args.filters.to_filters()?;
    let mut client = connect(global).await?;
    let response = client
        .api()
        .search(pb::SearchRequest {
            query: args.text,
            filters: Some(filters),
            limit: args.limit,
            offset: args.offset,
        })
        .await
        .map_err(call_error)?
        .into_inner();
    if args.json {
        return json::print(&json::SearchOutput::from(response));
    }
    let mut out = String::new();
    if response.hits.is_empty() {
        eprintln!(
            "no hits ({} total, {})",
            thousands(response.total),
            micros(response.took_us)
        );
        return Ok(());
    }
    let kind_w = response
        .hits
        .iter()
        .map(|h| h.kind.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let source_w = response
        .hits
        .iter()
        .map(|h| h.source.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        out,
        "{:>6}  {:kind_w$}  {:source_w$}  TITLE",
        "SCORE", "KIND", "SOURCE"
    );
    for hit in &response.hits {
        let title = if hit.title.is_empty() {
            "(untitled)"
        } else {
            &hit.title
        };
        let _ = writeln!(
            out,
            "{:>6.2}  {:kind_w$}  {:source_w$}  {}",
            hit.score,
            hit.kind,
            hit.source,
            clip(title, 80)
        );
        let indent = 6 + 2 + kind_w + 2 + source_w + 2;
        let _ = writeln!(out, "{:indent$}id {}", "", hit.id);
        if !hit.snippet.is_empty() {
            let _ = writeln!(out, "{:indent$}{}", "", clip(&hit.snippet, 160));
        }
    }
    stdout(&out).context("cannot write to stdout")?;
    let shown_to = u64::from(args.offset) + response.hits.len() as u64;
    eprintln!(
        "hits {}-{} of {}, {}",
        u64::from(args.offset) + 1,
        shown_to,
        thousands(response.total),
        micros(response.took_us)
    );
    if shown_to < response.total {
        eprintln!("more: add --offset {shown_to}");
    }
    Ok(())
}

pub async fn get(global: &GlobalArgs, args: GetArgs) -> anyhow::Result<()> {
    let id = args.id.trim().to_string();
    if id.is_empty() {
        return Err(usage("the item id is empty"));
    }
    let mut client = connect(global).await?;
    let item = client
        .api()
        .get_item(pb::GetItemRequest { id: id.clone() })
        .await
        .map_err(|status| {
            if status.code() == tonic::Code::NotFound {
                anyhow::anyhow!(
                    "no item with id `{id}`\n  hint: ids come from `ctx query --json` or `ctx search`; \
                     the item may have been deleted at its source"
                )
            } else {
                call_error(status)
            }
        })?
        .into_inner()
        .item
        .ok_or_else(|| anyhow::anyhow!("ctxd returned no item for `{id}`"))?;
    if args.json {
        return json::print(&json::ItemOutput::from(item));
    }
    stdout(&render_item(&item)).context("cannot write to stdout")?;
    Ok(())
}

/// A header block (`Key: value` lines), a blank line, then the body.
fn render_item(item: &pb::Item) -> String {
    let mut out = String::new();
    let mut line = |key: &str, value: &str| {
        if !value.is_empty() {
            let _ = writeln!(out, "{key:<10} {value}");
        }
    };
    line("Title:", &item.title);
    line("Id:", &item.id);
    line("Kind:", &item.kind);
    line("Source:", &item.source);
    line("Locator:", &item.locator);
    if item.timestamp_ms != 0 {
        line("Date:", &dates::human(item.timestamp_ms));
    }
    for p in &item.people {
        let who = match (p.name.is_empty(), p.email.is_empty()) {
            (false, false) => format!("{} <{}>", p.name, p.email),
            (false, true) => p.name.clone(),
            _ => p.email.clone(),
        };
        let role = if p.role.is_empty() { "person" } else { &p.role };
        line(&format!("{}:", capitalize(role)), &who);
    }
    if !item.organizations.is_empty() {
        line("Orgs:", &item.organizations.join(", "));
    }
    for f in &item.fields {
        line(&format!("{}:", capitalize(&f.name)), &f.value);
    }
    for l in &item.links {
        let target = if l.target_id.is_empty() {
            format!("{} (not stored)", l.target_external_id)
        } else {
            l.target_id.clone()
        };
        line(&format!("{}:", capitalize(&l.relation)), &target);
    }
    line("Thread:", &item.thread_key);
    line("Tokens:", &thousands(u64::from(item.tokens)));
    if item.updated_ms != 0 {
        line("Updated:", &dates::human(item.updated_ms));
    }
    out.push('\n');
    out.push_str(&item.body);
    out
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line() {
        let r = pb::GrabResponse {
            items: vec![pb::ContextItem::default(); 42],
            tokens_used: 8012,
            token_budget: 8192,
            candidates: 1234,
            took_us: 3100,
            ..Default::default()
        };
        assert_eq!(
            query_summary(&r),
            "42 items, 8,012/8,192 tokens, 1,234 candidates, 3.1 ms"
        );
    }

    #[test]
    fn warns_about_never_synced_and_stale_sources() {
        let now = 10 * 24 * 3600 * 1000;
        let f = |source: &str, ms| pb::SourceFreshness {
            source: source.into(),
            last_success_ms: ms,
        };
        let w = freshness_warnings(
            &[
                f("a", 0),
                f("b", now - 1000),
                f("c", now - 3 * 24 * 3600 * 1000),
            ],
            now,
        );
        assert_eq!(w.len(), 2);
        assert!(w[0].contains("`a` has never synced"));
        assert!(w[1].contains("`c` last synced 3d ago"));
    }

    #[test]
    fn filters_reject_empty_ranges() {
        let f = FilterArgs {
            since: Some("2024-03-02".into()),
            until: Some("2024-03-01".into()),
            ..Default::default()
        };
        assert!(f.to_filters().is_err());
        let f = FilterArgs {
            sources: vec!["docs".into(), " ".into()],
            kinds: vec!["Email".into()],
            since: Some("2024-03-01".into()),
            until: Some("2024-03-01".into()),
        };
        let filters = f.to_filters().unwrap();
        assert_eq!(filters.sources, vec!["docs"]);
        assert_eq!(filters.kinds, vec!["email"]);
        assert_eq!(
            filters.until_ms.unwrap() - filters.since_ms.unwrap(),
            86_400_000
        );
    }
}
