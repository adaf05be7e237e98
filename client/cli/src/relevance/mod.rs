//! `ctx bench relevance`: does GrabEverythingRelated really get everything related?
//!
//! Generates the synthetic organisation of [`world`] (Maildir, `.ics`, documents and CRM
//! exports, with ground truth from the generator's own model), starts the real daemon over it
//! (a child `ctxd`, as `ctx bench` does) with a `maildir`, an `ics` and a `files` connector (and
//! a `crm_export` connector with `--crm`), then runs every query at budgets 8K, 32K and 128K in
//! two retrieval modes — ctx's full retrieval and the BM25-only baseline
//! (`RetrievalMode::Bm25Only`) — and reports per mode, budget and query category:
//!
//! * **recall**: related items in the window / related items;
//! * **precision**: related items in the window / items in the window (0 for an empty window);
//! * **sources**: of the sources (documents, mail, calendar, CRM) that hold related items, the
//!   share with a related item in the window (a window of 30 mails for a deal with meetings and
//!   CRM notes scores 1/3);
//! * latency p50 / p95 (client wall time over the Unix socket).
//!
//! Counting: every item counts once — each message of a mail thread and each attachment is its
//! own item (a related thread makes all its messages and attachments related); an event series
//! is one item; a CRM record is one item. Items of a source that is not ingested (CRM without
//! `--crm`) are not in the truth. The results go to a marked section of `BENCHMARKS.md`.
//!
//! This is a measurement tool, not a test: nothing here fails on a missed target.

pub mod world;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ctx_client::{Client, pb};

use crate::bench::{self, BenchArgs, Layout};
use world::{Category, Key, Source, World, WorldOptions};

pub const SECTION_START: &str = "<!-- relevance-bench:start -->";
pub const SECTION_END: &str = "<!-- relevance-bench:end -->";
/// The section of a run with `--model`.
pub const EMBEDDINGS_SECTION_START: &str = "<!-- relevance-bench-embeddings:start -->";
pub const EMBEDDINGS_SECTION_END: &str = "<!-- relevance-bench-embeddings:end -->";

const BUDGETS: [u32; 3] = [8192, 32_768, 131_072];
const INGEST_TIMEOUT: Duration = Duration::from_secs(1800);

/// Options of `ctx bench relevance`.
#[derive(clap::Args, Debug, Clone)]
pub struct RelevanceArgs {
    /// Seed of the world generator.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Customer companies in the world (at most 48).
    #[arg(long, default_value_t = 40, value_name = "N")]
    pub companies: usize,
    /// Unrelated documents and newsletters mixed in as distractors.
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub noise: usize,
    /// Also ingest the CRM exports (needs the `crm_export` connector) and count CRM records in
    /// the truth.
    #[arg(long)]
    pub crm: bool,
    /// Working directory (world, config, data). [default: $TMPDIR/ctx-relevance-sSEED]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// File to write the results section into.
    #[arg(long, default_value = "BENCHMARKS.md", value_name = "PATH")]
    pub output: PathBuf,
    /// Keep the working directory afterwards.
    #[arg(long)]
    pub keep: bool,
    /// The ctxd binary [default: `ctxd` next to this executable].
    #[arg(long, value_name = "PATH")]
    pub ctxd: Option<PathBuf>,
    /// Run the daemon inside this process instead of as a child.
    #[arg(long)]
    pub in_process: bool,
    /// Print each query's recall and precision at 32K.
    #[arg(long)]
    pub verbose: bool,
    /// Also embed everything with this model (`[embeddings] model`) and compare retrieval with
    /// and without the semantic candidates (results go to their own section).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Keep the daemon's data directory of an earlier `--keep` run in `--dir` (same seed and
    /// world): nothing unchanged is stored or embedded again, so a rerun with `--model` skips
    /// the embedding. For tuning; published figures come from fresh runs.
    #[arg(long)]
    pub reuse_data: bool,
    /// Background embedding threads with `--model`.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub embed_threads: u32,
}

pub fn run(args: RelevanceArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(relevance(args))
}

fn write_config(layout: &Layout, crm: bool) -> Result<PathBuf> {
    let corpus = &layout.corpus;
    let files = [
        (
            Source::Docs,
            format!(
                "type = \"files\"\npaths = [{}]\nwatch = false\n",
                bench::toml_string(&corpus.join("docs"))
            ),
        ),
        (
            Source::Mail,
            format!(
                "type = \"maildir\"\npath = {}\nwatch = false\n",
                bench::toml_string(&corpus.join("mail"))
            ),
        ),
        (
            Source::Calendar,
            format!(
                "type = \"ics\"\npaths = [{}]\n",
                bench::toml_string(&corpus.join("calendars"))
            ),
        ),
        (
            Source::Crm,
            // The exports' shape is the one `config/examples/connectors.d/crm-export-jsonl.toml`
            // maps; its field names are the defaults, so each file needs only its object type.
            ["companies", "contacts", "deals", "notes"]
                .iter()
                .map(|object| {
                    format!(
                        "[[files]]\npath = {}\nobject = \"{object}\"\n",
                        bench::toml_string(&corpus.join("crm").join(format!("{object}.jsonl")))
                    )
                })
                .fold(
                    "type = \"crm_export\"\nwatch = false\n".to_owned(),
                    |acc, f| acc + &f,
                ),
        ),
    ];
    let connectors: Vec<(&str, String)> = files
        .into_iter()
        .filter(|(source, _)| *source != Source::Crm || crm)
        .map(|(source, body)| (source.name(), body))
        .collect();
    bench::write_daemon_config(
        &layout.config,
        &layout.data,
        &layout.socket,
        "ctx bench relevance",
        &connectors,
    )
}

/// Waits until every connector finished a pass, the index caught up and counts are stable.
async fn wait_for_ingest(
    daemon: &mut bench::Daemon,
    layout: &Layout,
    client: &mut Client,
    sources: usize,
) -> Result<u64> {
    let started = Instant::now();
    let mut stable: Option<(Instant, u64)> = None;
    loop {
        daemon.check_alive(layout)?;
        let status = client
            .api()
            .status(pb::StatusRequest {})
            .await
            .context("Status failed")?
            .into_inner();
        let done = status.connectors.len() >= sources
            && status.connectors.iter().all(|c| c.passes >= 1)
            && status.index_lag == 0;
        if done {
            match stable {
                Some((since, n)) if n == status.total_items => {
                    if since.elapsed() > Duration::from_secs(2) {
                        for c in &status.connectors {
                            if !c.last_error.is_empty() {
                                eprintln!("warning: connector {}: {}", c.name, c.last_error);
                            }
                        }
                        return Ok(status.total_items);
                    }
                }
                _ => stable = Some((Instant::now(), status.total_items)),
            }
        } else {
            stable = None;
        }
        if started.elapsed() > INGEST_TIMEOUT {
            bail!(
                "ingest did not finish within {} s",
                INGEST_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What embedding everything took.
struct EmbeddingRun {
    took: Duration,
    items: u64,
    vectors: u64,
    model_id: String,
}

/// Waits until the background embedder has embedded every item, printing progress.
async fn wait_for_embeddings(
    daemon: &mut bench::Daemon,
    layout: &Layout,
    client: &mut Client,
) -> Result<EmbeddingRun> {
    let started = Instant::now();
    let mut reported = Instant::now();
    loop {
        daemon.check_alive(layout)?;
        let status = client
            .api()
            .status(pb::StatusRequest {})
            .await
            .context("Status failed")?
            .into_inner();
        let e = status.embeddings.unwrap_or_default();
        if e.state == "error" || !e.enabled {
            bail!(
                "semantic search is not running: {} {}",
                e.note,
                e.last_error
            );
        }
        if e.state == "idle" && e.items_pending == 0 && e.items_embedded > 0 {
            eprintln!(
                "embeddings: {} items, {} vectors in {:.1} s",
                e.items_embedded,
                e.vectors,
                started.elapsed().as_secs_f64()
            );
            return Ok(EmbeddingRun {
                took: started.elapsed(),
                items: e.items_embedded,
                vectors: e.vectors,
                model_id: e.model_id,
            });
        }
        if reported.elapsed() > Duration::from_secs(10) {
            reported = Instant::now();
            eprintln!(
                "embeddings: {} embedded, {} pending, {:.1} chunks/s, state {}",
                e.items_embedded, e.items_pending, e.chunks_per_second, e.state
            );
        }
        if started.elapsed() > INGEST_TIMEOUT {
            bail!(
                "embedding did not finish within {} s",
                INGEST_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Which of the world's sources an item comes from.
fn source_of(key: &Key) -> u8 {
    match key {
        Key::Doc(_) => 0,
        Key::Mail { .. } => 1,
        Key::Event(_) => 2,
        Key::Crm(_) => 3,
    }
}

/// The world's key of a stored item, from its source and external id.
fn key_of(source: &str, external_id: &str) -> Option<Key> {
    let tail = external_id.rsplit('/').next().unwrap_or(external_id);
    match source {
        "docs" => Some(Key::Doc(tail.to_string())),
        "mail" => {
            let (unique, attachment) = match tail.split_once('#') {
                Some((u, _)) => (u, true),
                None => (tail, false),
            };
            Some(Key::Mail {
                unique: unique.to_string(),
                attachment,
            })
        }
        "calendar" => Some(Key::Event(external_id.to_string())),
        "crm" => {
            // The record id (`deal-0007`) somewhere in the connector's external id.
            let bytes = external_id.as_bytes();
            for prefix in ["company-", "contact-", "deal-", "note-"] {
                let mut from = 0;
                while let Some(at) = external_id[from..].find(prefix) {
                    let start = from + at;
                    let digits = start + prefix.len();
                    if bytes.len() >= digits + 4
                        && bytes[digits..digits + 4].iter().all(u8::is_ascii_digit)
                        && bytes.get(digits + 4).is_none_or(|b| !b.is_ascii_digit())
                    {
                        return Some(Key::Crm(external_id[start..digits + 4].to_string()));
                    }
                    from = digits;
                }
            }
            None
        }
        _ => None,
    }
}

/// Maps response item ids to world items (GetItem once per id).
struct Resolver {
    by_key: HashMap<Key, usize>,
    cache: HashMap<String, Option<usize>>,
}

impl Resolver {
    async fn resolve(&mut self, client: &mut Client, id: &str) -> Result<Option<usize>> {
        if let Some(found) = self.cache.get(id) {
            return Ok(*found);
        }
        let item = client
            .api()
            .get_item(pb::GetItemRequest { id: id.to_string() })
            .await
            .with_context(|| format!("GetItem({id}) failed"))?
            .into_inner()
            .item
            .unwrap_or_default();
        let found =
            key_of(&item.source, &item.external_id).and_then(|k| self.by_key.get(&k).copied());
        self.cache.insert(id.to_string(), found);
        Ok(found)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
enum Mode {
    Full,
    /// Full retrieval without the semantic candidates (only run with `--model`).
    NoSemantic,
    Bm25,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Full => "ctx (full)",
            Mode::NoSemantic => "ctx without embeddings",
            Mode::Bm25 => "BM25 only",
        }
    }

    fn wire(self) -> i32 {
        match self {
            Mode::Full => pb::RetrievalMode::Full as i32,
            Mode::NoSemantic => pb::RetrievalMode::NoSemantic as i32,
            Mode::Bm25 => pb::RetrievalMode::Bm25Only as i32,
        }
    }
}

/// One measured call.
#[derive(Clone, Debug)]
struct Sample {
    category: Category,
    recall: f64,
    precision: f64,
    /// Share of the sources (documents, mail, calendar, CRM) holding related items that have
    /// a related item in the window.
    sources: f64,
    client_us: u64,
    server_us: u64,
    over_budget: bool,
}

#[derive(Default)]
struct Cell {
    samples: Vec<Sample>,
}

impl Cell {
    fn of<'a>(&'a self, pred: impl Fn(&Sample) -> bool + 'a) -> impl Iterator<Item = &'a Sample> {
        self.samples.iter().filter(move |s| pred(s))
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

fn pct(values: impl Iterator<Item = u64>, p: f64) -> u64 {
    let mut v: Vec<u64> = values.collect();
    v.sort_unstable();
    bench::percentile(&v, p)
}

async fn relevance(args: RelevanceArgs) -> Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; latency figures are not meaningful");
    }
    let root = args
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("ctx-relevance-s{}", args.seed)));
    let layout = Layout::new(root);
    layout.prepare_keeping_data(args.reuse_data)?;
    let options = WorldOptions {
        seed: args.seed,
        companies: args.companies,
        noise: args.noise,
    };
    let today = time::OffsetDateTime::now_utc().date();
    let generated = Instant::now();
    let (world, written) = world::generate(&layout.corpus, &options, today)
        .with_context(|| format!("cannot write the world to {}", layout.corpus.display()))?;
    eprintln!(
        "world: {} documents, {} messages ({} attachments), {} event series, {} CRM records, {} in {:.1} s",
        written.documents,
        written.messages,
        written.attachments,
        written.events,
        written.crm_records,
        bench::human_bytes(written.bytes),
        generated.elapsed().as_secs_f64()
    );
    let config = write_config(&layout, args.crm)?;
    if let Some(model) = &args.model {
        let mut main = std::fs::read_to_string(&config)?;
        let _ = write!(
            main,
            "\n[embeddings]\nmodel = {}\nthreads = {}\n",
            bench::toml_string(model),
            args.embed_threads.max(1)
        );
        std::fs::write(&config, main)?;
    }
    let bench_args = BenchArgs {
        what: None,
        items: 0,
        queries: 50,
        rounds: 1,
        dir: None,
        output: args.output.clone(),
        keep: args.keep,
        seed: args.seed,
        ctxd: args.ctxd.clone(),
        in_process: args.in_process,
    };
    let started = Instant::now();
    let mut daemon = bench::start_daemon(&bench_args, &layout, &config).await?;
    let mut client = bench::connect(&mut daemon, &layout).await?;
    let sources = if args.crm { 4 } else { 3 };
    let items = wait_for_ingest(&mut daemon, &layout, &mut client, sources).await?;
    let ingest_took = started.elapsed();
    let expected = world
        .items
        .iter()
        .filter(|i| args.crm || i.source != Source::Crm)
        .count();
    eprintln!(
        "ingest: {items} items stored and indexed in {:.1} s (the world has {expected})",
        ingest_took.as_secs_f64()
    );
    let embedding = match &args.model {
        Some(_) => Some(wait_for_embeddings(&mut daemon, &layout, &mut client).await?),
        None => None,
    };
    let modes: &[Mode] = if args.model.is_some() {
        &[Mode::Full, Mode::NoSemantic, Mode::Bm25]
    } else {
        &[Mode::Full, Mode::Bm25]
    };

    let mut resolver = Resolver {
        by_key: world
            .items
            .iter()
            .enumerate()
            .map(|(n, i)| (i.key.clone(), n))
            .collect(),
        cache: HashMap::new(),
    };
    let truths: Vec<HashSet<usize>> = world
        .queries
        .iter()
        .map(|q| world.truth(q.target, args.crm).into_iter().collect())
        .collect();

    // Warm-up, not recorded.
    for q in world.queries.iter().take(10) {
        for &mode in modes {
            grab(&mut client, &q.text, 32_768, mode).await?;
        }
    }
    let mut cells: BTreeMap<(Mode, u32), Cell> = BTreeMap::new();
    let mut verbose_lines = Vec::new();
    // With --verbose: the similarity of items packed for semantic similarity alone, and
    // whether they were related (to tune how semantic candidates are admitted).
    let mut semantic_only: Vec<(f32, bool, Category)> = Vec::new();
    let mut unresolved = 0usize;
    for (qi, q) in world.queries.iter().enumerate() {
        for &mode in modes {
            for budget in BUDGETS {
                let (client_us, response) = grab(&mut client, &q.text, budget, mode).await?;
                let mut related = 0usize;
                let mut sources_in_window: HashSet<u8> = HashSet::new();
                for item in &response.items {
                    let is_related = match resolver.resolve(&mut client, &item.id).await? {
                        Some(n) if truths[qi].contains(&n) => {
                            related += 1;
                            sources_in_window.insert(source_of(&world.items[n].key));
                            true
                        }
                        Some(_) => false,
                        None => {
                            unresolved += 1;
                            false
                        }
                    };
                    if args.verbose
                        && budget == 32_768
                        && mode == Mode::Full
                        && let Some(sim) = item
                            .why
                            .split_once("semantically similar (")
                            .and_then(|(_, rest)| rest.split(')').next())
                            .and_then(|v| v.parse::<f32>().ok())
                    {
                        semantic_only.push((sim, is_related, q.category));
                    }
                }
                // A near-identical copy named on a packed item is in the window: its text is.
                let mut copies_related = 0usize;
                for id in response.items.iter().flat_map(|i| &i.duplicate_ids) {
                    match resolver.resolve(&mut client, id).await? {
                        Some(n) if truths[qi].contains(&n) => {
                            copies_related += 1;
                            sources_in_window.insert(source_of(&world.items[n].key));
                        }
                        Some(_) => {}
                        None => unresolved += 1,
                    }
                }
                let recall = (related + copies_related) as f64 / truths[qi].len().max(1) as f64;
                let sources_related: HashSet<u8> = truths[qi]
                    .iter()
                    .map(|&n| source_of(&world.items[n].key))
                    .collect();
                let sources = sources_in_window.len() as f64 / sources_related.len().max(1) as f64;
                let precision = if response.items.is_empty() {
                    0.0
                } else {
                    related as f64 / response.items.len() as f64
                };
                let item_sum: u64 = response.items.iter().map(|i| u64::from(i.tokens)).sum();
                if args.verbose && budget == 32_768 {
                    verbose_lines.push(format!(
                        "{:<10} {:<11} recall {recall:.2} precision {precision:.2} ({related}/{} related, {} in window) {:?}",
                        mode.label(),
                        q.category.label(),
                        truths[qi].len(),
                        response.items.len(),
                        q.text
                    ));
                }
                cells
                    .entry((mode, budget))
                    .or_default()
                    .samples
                    .push(Sample {
                        category: q.category,
                        recall,
                        precision,
                        sources,
                        client_us,
                        server_us: response.took_us,
                        over_budget: response.tokens_used > budget || item_sum > u64::from(budget),
                    });
            }
        }
    }
    for line in &verbose_lines {
        eprintln!("{line}");
    }
    if args.verbose && !semantic_only.is_empty() {
        eprintln!(
            "items packed for semantic similarity alone at 32K (similarity: related / unrelated):"
        );
        for lo in (2..10).map(|t| t as f32 / 10.0) {
            let in_bucket = |paraphrase: bool| {
                let of = |rel: bool| {
                    semantic_only
                        .iter()
                        .filter(|(s, r, c)| {
                            *s >= lo
                                && *s < lo + 0.1
                                && *r == rel
                                && (*c == Category::Paraphrase) == paraphrase
                        })
                        .count()
                };
                (of(true), of(false))
            };
            let (pr, pu) = in_bucket(true);
            let (or, ou) = in_bucket(false);
            eprintln!(
                "  [{lo:.1}, {:.1}): paraphrase queries {pr} / {pu}, other queries {or} / {ou}",
                lo + 0.1
            );
        }
    }
    if unresolved > 0 {
        eprintln!("warning: {unresolved} returned items could not be mapped to the world");
    }
    let desc = daemon.describe();
    drop(client);
    daemon.stop().await?;
    let section = report(
        &args,
        &world,
        &written,
        items,
        ingest_took,
        &desc,
        &truths,
        &cells,
        embedding.as_ref(),
    );
    println!("{section}");
    let (start, end) = if args.model.is_some() {
        (EMBEDDINGS_SECTION_START, EMBEDDINGS_SECTION_END)
    } else {
        (SECTION_START, SECTION_END)
    };
    bench::write_marked_section(&args.output, &section, start, end)?;
    eprintln!("results written to {}", args.output.display());
    if !args.keep {
        bench::remove_if_exists(&layout.root)?;
    }
    Ok(())
}

async fn grab(
    client: &mut Client,
    query: &str,
    budget: u32,
    mode: Mode,
) -> Result<(u64, pb::GrabResponse)> {
    let started = Instant::now();
    let response = client
        .api()
        .grab_everything_related(pb::GrabRequest {
            query: query.to_string(),
            token_budget: budget,
            filters: None,
            mode: mode.wire(),
        })
        .await
        .with_context(|| format!("GrabEverythingRelated({query:?}, {budget}) failed"))?
        .into_inner();
    Ok((started.elapsed().as_micros() as u64, response))
}

#[allow(clippy::too_many_arguments)]
fn report(
    args: &RelevanceArgs,
    world: &World,
    written: &world::WrittenStats,
    items: u64,
    ingest_took: Duration,
    daemon: &str,
    truths: &[HashSet<usize>],
    cells: &BTreeMap<(Mode, u32), Cell>,
    embedding: Option<&EmbeddingRun>,
) -> String {
    let mut o = String::new();
    let modes: Vec<Mode> = {
        let mut m: Vec<Mode> = cells.keys().map(|(mode, _)| *mode).collect();
        m.dedup();
        m
    };
    if embedding.is_some() {
        let _ = writeln!(o, "{EMBEDDINGS_SECTION_START}");
        let _ = writeln!(
            o,
            "## Relevance benchmark with embeddings (`ctx bench relevance --model`)\n"
        );
    } else {
        let _ = writeln!(o, "{SECTION_START}");
        let _ = writeln!(o, "## Relevance benchmark (`ctx bench relevance`)\n");
    }
    let _ = writeln!(
        o,
        "Generated by `ctx bench relevance`; rerun it to replace this section. Measured {} on {}; {} build.\n",
        bench::now_utc(),
        bench::machine(),
        if cfg!(debug_assertions) {
            "**debug**"
        } else {
            "release"
        }
    );
    let _ = writeln!(o, "Command: `{}`\n", bench::command_line());
    if let (Some(e), Some(model)) = (embedding, &args.model) {
        let _ = writeln!(
            o,
            "Embeddings: model `{}` (id {}), {} background threads; {} items ({} chunk vectors) \
             embedded in {:.1} s after ingest, before any query. `ctx (full)` fuses the semantic \
             candidates; `ctx without embeddings` is the same daemon asked with \
             `RETRIEVAL_MODE_NO_SEMANTIC` (keyword + entity graph). Each query runs at 8K first: \
             that call embeds the query; the daemon keeps recent query vectors, so the 32K and \
             128K calls of the same query reuse it (the 8K latency column is the uncached one).\n",
            model.display(),
            e.model_id,
            args.embed_threads.max(1),
            e.items,
            e.vectors,
            e.took.as_secs_f64()
        );
    }
    if let Some(load) = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
    {
        let _ = writeln!(
            o,
            "Load average when the report was written: {load} (other work on the machine inflates the latency columns, not recall or precision).\n"
        );
    }
    let main_queries = world
        .queries
        .iter()
        .filter(|q| q.category != Category::Paraphrase)
        .count();
    let mean_truth = mean(truths.iter().map(|t| t.len() as f64));
    let _ = writeln!(
        o,
        "World (seed {}): {} customer companies, {} contacts, {} employees, {} deals, {} projects; \
         written as {} documents, {} messages ({} with a text attachment), {} calendar series and {} CRM records \
         ({}); CRM {}. Daemon: {daemon}; {} items stored and indexed in {:.1} s. \
         {} queries ({} without paraphrases), on average {:.1} related items each.\n",
        args.seed,
        world.companies.len(),
        world.people.iter().filter(|p| p.company.is_some()).count(),
        world.employees,
        world.deals.len(),
        world.projects.len(),
        written.documents,
        written.messages,
        written.attachments,
        written.events,
        written.crm_records,
        bench::human_bytes(written.bytes),
        if args.crm {
            "ingested (`crm_export` connector) and counted"
        } else {
            "exports written but not ingested, so CRM records are not in the truth (`--crm` to include them)"
        },
        items,
        ingest_took.as_secs_f64(),
        world.queries.len(),
        main_queries,
        mean_truth
    );
    let _ = writeln!(
        o,
        "Definitions: an *item* is what ctx stores — each mail message and each attachment, each \
         calendar series, each document, each CRM record. A thread is related as a whole: when \
         the model says a thread is about X, every message and attachment in it is related to X. \
         **Recall** = related items in the window / related items (a near-identical copy left \
         out and named on a packed item's `duplicate_ids` counts as in the window: its text \
         is); **precision** = related items packed / items packed (an empty window counts 0); \
         **sources** = sources (documents, mail, calendar, CRM) with a related item in the \
         window / sources holding related items; all are averaged over \
         queries. Paraphrase queries name a topic in other words (no shared keyword) and are \
         reported apart (they need semantic retrieval). Latency is the client's wall time of the \
         gRPC call over the Unix socket, one call per query, mode and budget.\n"
    );
    let _ = writeln!(
        o,
        "| mode | budget | recall | precision | sources | paraphrase recall | p50 | p95 | server p95 | over budget |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let not_para = |s: &Sample| s.category != Category::Paraphrase;
    for ((mode, budget), cell) in cells {
        let _ = writeln!(
            o,
            "| {} | {} | **{:.3}** | **{:.3}** | {:.3} | {:.3} | {} | {} | {} | {} |",
            mode.label(),
            bench::thousands(u64::from(*budget)),
            mean(cell.of(not_para).map(|s| s.recall)),
            mean(cell.of(not_para).map(|s| s.precision)),
            mean(cell.of(not_para).map(|s| s.sources)),
            mean(
                cell.of(|s| s.category == Category::Paraphrase)
                    .map(|s| s.recall)
            ),
            bench::ms(pct(cell.samples.iter().map(|s| s.client_us), 50.0)),
            bench::ms(pct(cell.samples.iter().map(|s| s.client_us), 95.0)),
            bench::ms(pct(cell.samples.iter().map(|s| s.server_us), 95.0)),
            cell.samples.iter().filter(|s| s.over_budget).count()
        );
    }
    let _ = writeln!(o, "\n### Recall / precision by query category at 32K\n");
    let _ = write!(o, "| category | queries |");
    for mode in &modes {
        let _ = write!(o, " {} recall | {} precision |", mode.label(), mode.label());
    }
    let _ = writeln!(o, "\n|---|---:|{}", "---:|---:|".repeat(modes.len()));
    for category in Category::ALL {
        let n = world
            .queries
            .iter()
            .filter(|q| q.category == category)
            .count();
        if n == 0 {
            continue;
        }
        let _ = write!(o, "| {} | {n} |", category.label());
        for &mode in &modes {
            let cell = &cells[&(mode, 32_768)];
            let of = |s: &Sample| s.category == category;
            let _ = write!(
                o,
                " {:.3} | {:.3} |",
                mean(cell.of(of).map(|s| s.recall)),
                mean(cell.of(of).map(|s| s.precision))
            );
        }
        let _ = writeln!(o);
    }
    let full32 = &cells[&(Mode::Full, 32_768)];
    let bm32 = &cells[&(Mode::Bm25, 32_768)];
    let r_full = mean(full32.of(not_para).map(|s| s.recall));
    let p_full = mean(full32.of(not_para).map(|s| s.precision));
    let r_bm = mean(bm32.of(not_para).map(|s| s.recall));
    let _ = writeln!(
        o,
        "\n### Targets\n\n| target | measured | result |\n|---|---:|---|"
    );
    let _ = writeln!(
        o,
        "| recall >= 0.95 at 32K (ctx) | {r_full:.3} | {} |",
        bench::pass(r_full >= 0.95)
    );
    let _ = writeln!(
        o,
        "| BM25-only recall <= 0.6 at 32K | {r_bm:.3} | {} |",
        bench::pass(r_bm <= 0.6)
    );
    let _ = writeln!(
        o,
        "| precision >= 0.7 at 32K (ctx) | {p_full:.3} | {} |",
        bench::pass(p_full >= 0.7)
    );
    let over: usize = cells
        .values()
        .map(|c| c.samples.iter().filter(|s| s.over_budget).count())
        .sum();
    let _ = writeln!(
        o,
        "| tokens_used <= budget on every call | {over} violations | {} |",
        bench::pass(over == 0)
    );
    let _ = writeln!(
        o,
        "\nHow to read it: the BM25-only baseline is the keyword top-k a mail indexer returns \
         (same packing and trimming, no query understanding, no entity graph, no thread units, \
         no cut-off). Its recall depends on how often the world's text repeats names: here \
         subjects name the deal or company in about 70% of threads and half of the people sign \
         with their company, so keywords find much; what they miss are meetings and threads \
         that name nobody, documents that name only first names, and mail from domains that do \
         not spell the company's name. Paraphrase queries share no keyword with their topic; \
         they wait for semantic retrieval (embeddings) and are not in the headline figures. \
         The world is synthetic and its truth is the generator's model: the figures measure \
         ranking changes against a fixed yardstick, they are not a claim about any real \
         mailbox."
    );
    let _ = write!(
        o,
        "{}",
        if embedding.is_some() {
            EMBEDDINGS_SECTION_END
        } else {
            SECTION_END
        }
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_external_ids() {
        assert_eq!(
            key_of("docs", "/tmp/x/docs/accounts/account-bluefin.md"),
            Some(Key::Doc("account-bluefin.md".into()))
        );
        assert_eq!(
            key_of("mail", "INBOX/1700000000.12.rel#att2"),
            Some(Key::Mail {
                unique: "1700000000.12.rel".into(),
                attachment: true
            })
        );
        assert_eq!(
            key_of("crm", "deals/deal-0007"),
            Some(Key::Crm("deal-0007".into()))
        );
        assert_eq!(
            key_of("crm", "note:note-0123:v2"),
            Some(Key::Crm("note-0123".into()))
        );
        assert_eq!(key_of("crm", "deal-12345"), None);
        assert_eq!(
            key_of("calendar", "rel-deal1-m0@halcyonworks.com"),
            Some(Key::Event("rel-deal1-m0@halcyonworks.com".into()))
        );
    }
}
