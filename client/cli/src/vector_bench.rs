//! The vector-search part of `ctx model bench`: the brute-force matrix (`ctx_embed::VectorIndex`)
//! with f32 and i8 rows on one and two scan threads at each size, and, with the `ann-bench`
//! cargo feature, an HNSW index (hnsw_rs) over the same vectors: build time, memory, and query
//! latency at the search widths (`ef_search`) that reach a recall@10 of 0.90, 0.95 and 0.99.
//! The section ends with what the numbers decide, by a rule written before them.
//!
//! The vectors are random unit vectors (a fixed seed, so every size's set starts with the
//! smaller sizes' sets); queries are other random unit vectors. Exact answers come from the
//! f32 matrix.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use ctx_embed::{Precision, VectorIndex};

use crate::embed_bench::{EmbedBenchArgs, human_bytes, ms, pct, thousands};

/// Owners asked for by one query: what the daemon asks the matrix for.
const LIMIT: usize = ctx_daemon::embedding::SEMANTIC_CANDIDATES;
/// Recall is measured on the first this many results.
const RECALL_AT: usize = 10;
/// Recall@10 levels at which HNSW's latency is reported.
const TARGETS: [f64; 3] = [0.90, 0.95, 0.99];
const DATA_SEED: u64 = 42;
const QUERY_SEED: u64 = 7;

/// A random unit vector of `dim` components from the generator state `seed`.
pub(crate) fn random_unit(seed: &mut u64, dim: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dim)
        .map(|_| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// One measured brute-force configuration.
struct ScanRow {
    precision: Precision,
    /// Threads the search used.
    threads: usize,
    /// Whether the split was forced below the rows per thread the daemon requires.
    forced: bool,
    /// Whether this is what the daemon runs (i8 rows, its default scan threads).
    daemon: bool,
    memory: u64,
    p50: Duration,
    p95: Duration,
}

/// What HNSW gave at one `ef_search`.
#[cfg_attr(not(feature = "ann-bench"), allow(dead_code))]
struct EfPoint {
    ef: usize,
    recall: f64,
    p50: Duration,
    p95: Duration,
}

#[cfg_attr(not(feature = "ann-bench"), allow(dead_code))]
enum HnswOutcome {
    /// This binary has no HNSW (built without the `ann-bench` feature).
    Absent,
    Measured {
        build: Duration,
        build_threads: usize,
        /// Growth of the process's resident memory over the build.
        rss_growth: u64,
        sweep: Vec<EfPoint>,
        /// Why the sweep ended before the widest `ef_search`, if it did.
        stopped: Option<String>,
    },
    /// Not built: a smaller size's build was over the limit. Estimates, never measurements.
    Extrapolated {
        from_n: usize,
        from_build: Duration,
        build_estimate: Duration,
        from_rss: u64,
        limit_secs: f64,
    },
}

struct SizeResult {
    n: usize,
    scans: Vec<ScanRow>,
    /// Share of the exact top 10 that the i8 matrix returns in its top 10.
    i8_recall: f64,
    hnsw: HnswOutcome,
}

impl SizeResult {
    fn daemon_scan(&self) -> Option<&ScanRow> {
        self.scans.iter().find(|r| r.daemon)
    }
}

/// Measures every size of `args.vectors` and writes the section's tables and decision.
pub fn search_latency(dim: usize, args: &EmbedBenchArgs, out: &mut String) {
    let mut counts: Vec<usize> = args.vectors.iter().copied().filter(|&n| n > 0).collect();
    counts.sort_unstable();
    counts.dedup();
    let mut qseed = QUERY_SEED;
    let queries: Vec<Vec<f32>> = (0..args.queries.max(1))
        .map(|_| random_unit(&mut qseed, dim))
        .collect();
    let mut results: Vec<SizeResult> = Vec::new();
    for &n in &counts {
        eprintln!("  {} vectors: brute force", thousands(n as u64));
        let (scans, i8_recall, exact) = measure_scans(n, dim, &queries);
        let scan_p50 = scans
            .iter()
            .find(|s| s.precision == Precision::F32 && s.threads == 1)
            .map_or(Duration::MAX, |s| s.p50);
        let hnsw = hnsw_outcome(n, dim, &queries, &exact, scan_p50, args, &results);
        results.push(SizeResult {
            n,
            scans,
            i8_recall,
            hnsw,
        });
    }
    render(dim, queries.len(), args, &results, out);
}

/// Fills an f32 and an i8 matrix with the first `n` vectors, takes the exact top 10 of each
/// query from the f32 one, and times every (precision, threads) configuration.
fn measure_scans(n: usize, dim: usize, queries: &[Vec<f32>]) -> (Vec<ScanRow>, f64, Vec<Vec<i64>>) {
    let mut seed = DATA_SEED;
    let mut f = VectorIndex::new(dim, Precision::F32);
    let mut q = VectorIndex::new(dim, Precision::I8);
    for owner in 0..n {
        let v = random_unit(&mut seed, dim);
        f.set(owner as i64, std::slice::from_ref(&v));
        q.set(owner as i64, std::slice::from_ref(&v));
    }
    let top = |index: &VectorIndex, query: &[f32]| -> Vec<i64> {
        index
            .search(query, RECALL_AT)
            .iter()
            .map(|h| h.owner)
            .collect()
    };
    let exact: Vec<Vec<i64>> = queries.iter().map(|query| top(&f, query)).collect();
    let approx: Vec<Vec<i64>> = queries.iter().map(|query| top(&q, query)).collect();
    let i8_recall = recall(&exact, &approx);

    // What the daemon's matrix (default scan threads, default split) uses at `n` rows.
    let daemon_threads = ctx_embed::default_scan_threads()
        .min(n / VectorIndex::PARALLEL_MIN_ROWS_PER_THREAD)
        .max(1);
    let mut scans = Vec::new();
    for (precision, index) in [(Precision::F32, &mut f), (Precision::I8, &mut q)] {
        for threads in [1usize, 2] {
            index.set_parallel_min_rows_per_thread(VectorIndex::PARALLEL_MIN_ROWS_PER_THREAD);
            index.set_scan_threads(threads);
            let natural = index.effective_scan_threads();
            let forced = natural < threads;
            if forced {
                index.set_parallel_min_rows_per_thread(1);
            }
            let (p50, p95, _) = time_queries(queries, |query| index.search(query, LIMIT));
            scans.push(ScanRow {
                precision,
                threads,
                forced,
                daemon: precision == Precision::I8 && !forced && threads == daemon_threads,
                memory: index.memory_bytes() as u64,
                p50,
                p95,
            });
        }
        index.set_parallel_min_rows_per_thread(VectorIndex::PARALLEL_MIN_ROWS_PER_THREAD);
    }
    (scans, i8_recall, exact)
}

/// Runs `search` on every query after three warm-up calls: p50 and p95 of the timed calls, and
/// what each returned.
fn time_queries<T>(
    queries: &[Vec<f32>],
    mut search: impl FnMut(&[f32]) -> T,
) -> (Duration, Duration, Vec<T>) {
    for query in queries.iter().take(3) {
        std::hint::black_box(search(query));
    }
    let mut times = Vec::with_capacity(queries.len());
    let mut found = Vec::with_capacity(queries.len());
    for query in queries {
        let started = Instant::now();
        let result = std::hint::black_box(search(query));
        times.push(started.elapsed());
        found.push(result);
    }
    times.sort();
    (pct(&times, 0.5), pct(&times, 0.95), found)
}

/// Share of the exact top-k ids found in the approximate top-k, over all queries.
fn recall(exact: &[Vec<i64>], approx: &[Vec<i64>]) -> f64 {
    let total: usize = exact.iter().map(Vec::len).sum();
    if total == 0 {
        return 1.0;
    }
    let hits: usize = exact
        .iter()
        .zip(approx)
        .map(|(e, a)| e.iter().filter(|id| a.contains(id)).count())
        .sum();
    hits as f64 / total as f64
}

#[cfg(not(feature = "ann-bench"))]
fn hnsw_outcome(
    _n: usize,
    _dim: usize,
    _queries: &[Vec<f32>],
    _exact: &[Vec<i64>],
    _scan_p50: Duration,
    _args: &EmbedBenchArgs,
    _earlier: &[SizeResult],
) -> HnswOutcome {
    HnswOutcome::Absent
}

/// Builds and measures HNSW at `n`, unless an earlier (smaller) size's build took longer than
/// the limit: then only an n·log n extrapolation from the largest size built.
#[cfg(feature = "ann-bench")]
fn hnsw_outcome(
    n: usize,
    dim: usize,
    queries: &[Vec<f32>],
    exact: &[Vec<i64>],
    scan_p50: Duration,
    args: &EmbedBenchArgs,
    earlier: &[SizeResult],
) -> HnswOutcome {
    let built = earlier.iter().rev().find_map(|r| match &r.hnsw {
        HnswOutcome::Measured {
            build, rss_growth, ..
        } => Some((r.n, *build, *rss_growth)),
        _ => None,
    });
    if let Some((from_n, from_build, from_rss)) = built
        && from_build.as_secs_f64() > args.hnsw_max_build_secs
    {
        let nlogn = |x: usize| x as f64 * (x as f64).ln();
        return HnswOutcome::Extrapolated {
            from_n,
            from_build,
            build_estimate: from_build.mul_f64(nlogn(n) / nlogn(from_n)),
            from_rss,
            limit_secs: args.hnsw_max_build_secs,
        };
    }
    ann::measure(n, dim, queries, exact, scan_p50, args)
}

#[cfg(feature = "ann-bench")]
mod ann {
    use std::time::{Duration, Instant};

    use hnsw_rs::prelude::{Distance, Hnsw};

    use super::{
        DATA_SEED, EfPoint, EmbedBenchArgs, HnswOutcome, LIMIT, RECALL_AT, random_unit, recall,
        time_queries,
    };
    use crate::embed_bench::thousands;

    /// Search widths tried, narrowest first (never below the number of results asked for).
    const EF_SWEEP: [usize; 14] = [
        40, 60, 80, 120, 160, 240, 320, 480, 640, 960, 1280, 1920, 2560, 3840,
    ];
    /// Vectors inserted per parallel batch.
    const BATCH: usize = 10_000;

    /// Cosine distance of unit vectors, 1 − a·b, with ctx's own f32 dot product (anndists'
    /// `DistDot` asserts on rounding just above 1 and, without its simd features, sums serially).
    struct Cosine;

    impl Distance<f32> for Cosine {
        fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
            (1.0 - ctx_embed::dot_f32(a, b)).max(0.0)
        }
    }

    fn rss_bytes() -> u64 {
        let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        crate::bench::proc_kib(&text, "VmRSS:").map_or(0, |k| k * 1024)
    }

    pub(super) fn measure(
        n: usize,
        dim: usize,
        queries: &[Vec<f32>],
        exact: &[Vec<i64>],
        scan_p50: Duration,
        args: &EmbedBenchArgs,
    ) -> HnswOutcome {
        let build_threads = ctx_embed::default_scan_threads();
        let pool = match rayon::ThreadPoolBuilder::new()
            .num_threads(build_threads)
            .build()
        {
            Ok(pool) => pool,
            Err(e) => {
                eprintln!("  HNSW: no thread pool ({e}); not measured");
                return HnswOutcome::Absent;
            }
        };
        eprintln!(
            "  {} vectors: HNSW build (M {}, ef_construction {}, {build_threads} threads)",
            thousands(n as u64),
            args.hnsw_m,
            args.hnsw_ef_construction
        );
        let rss_before = rss_bytes();
        let mut hnsw: Hnsw<f32, Cosine> = Hnsw::new(
            args.hnsw_m,
            n,
            16.min(((n as f64).ln().trunc() as usize).max(1)),
            args.hnsw_ef_construction,
            Cosine,
        );
        let mut seed = DATA_SEED;
        let mut build = Duration::ZERO;
        let mut next = 0usize;
        while next < n {
            let count = BATCH.min(n - next);
            let block: Vec<f32> = (0..count)
                .flat_map(|_| random_unit(&mut seed, dim))
                .collect();
            let items: Vec<(&[f32], usize)> = block
                .chunks_exact(dim)
                .enumerate()
                .map(|(i, v)| (v, next + i))
                .collect();
            let started = Instant::now();
            pool.install(|| hnsw.parallel_insert_slice(&items));
            build += started.elapsed();
            next += count;
        }
        let rss_growth = rss_bytes().saturating_sub(rss_before);
        hnsw.set_searching_mode(true);
        eprintln!("    built in {:.1} s", build.as_secs_f64());

        let enough = TARGET_MAX;
        let mut sweep: Vec<EfPoint> = Vec::new();
        let mut stopped = None;
        for (i, &ef) in EF_SWEEP.iter().enumerate() {
            if ef < LIMIT {
                continue;
            }
            let (p50, p95, found) = time_queries(queries, |query| hnsw.search(query, LIMIT, ef));
            let found: Vec<Vec<i64>> = found
                .iter()
                .map(|hits| hits.iter().take(RECALL_AT).map(|h| h.d_id as i64).collect())
                .collect();
            let r = recall(exact, &found);
            eprintln!(
                "    ef {ef}: recall@10 {r:.3}, p50 {:.2} ms",
                p50.as_secs_f64() * 1e3
            );
            sweep.push(EfPoint {
                ef,
                recall: r,
                p50,
                p95,
            });
            if r >= enough {
                if i + 1 < EF_SWEEP.len() {
                    stopped = Some(format!("recall@10 ≥ {enough} reached at ef_search {ef}"));
                }
                break;
            }
            if p50 > scan_p50 * SLOWER_THAN_SCAN {
                stopped = Some(format!(
                    "ef_search {ef} is over {SLOWER_THAN_SCAN}× slower than the exact f32 scan"
                ));
                break;
            }
            if ef >= n {
                stopped = Some(format!("ef_search {ef} is not below the {n} vectors"));
                break;
            }
        }
        HnswOutcome::Measured {
            build,
            build_threads,
            rss_growth,
            sweep,
            stopped,
        }
    }

    /// The sweep stops once recall@10 reaches this (above every target and the i8 scan's).
    const TARGET_MAX: f64 = 0.995;
    /// ... or once a query takes this many times the exact one-thread f32 scan.
    const SLOWER_THAN_SCAN: u32 = 20;
}

fn render(
    dim: usize,
    queries: usize,
    args: &EmbedBenchArgs,
    results: &[SizeResult],
    out: &mut String,
) {
    let kernel = ctx_embed::kernel_name();
    let _ = writeln!(out, "### Vector search: brute force and HNSW\n");
    let _ = writeln!(
        out,
        "Random unit vectors of dimension {dim} (seed {DATA_SEED}; each size's set starts with \
         the smaller ones'), {queries} queries (other random unit vectors), each asking for the \
         top {LIMIT} items as the daemon does; p50/p95 are per query, one query at a time. Recall@{RECALL_AT}: share of the exact top {RECALL_AT} (f32 scan) that a \
         method returns in its first {RECALL_AT}. Kernels: f32 rows use an 8-lane portable dot \
         product; i8 rows use `{kernel}` on this CPU (`CTX_NO_SIMD=1` forces `portable`).\n"
    );
    let _ = writeln!(out, "#### Brute force (`ctx_embed::VectorIndex`)\n");
    let _ = writeln!(
        out,
        "| vectors | rows | kernel | scan threads | memory | p50 | p95 | recall@{RECALL_AT} vs exact |\n\
         |---:|---|---|---|---:|---:|---:|---:|"
    );
    for r in results {
        for s in &r.scans {
            let (rows, kernel_label, recall) = match s.precision {
                Precision::F32 => ("f32", "f32 8-lane", "1 (exact)".to_string()),
                Precision::I8 => ("i8", kernel, format!("{:.3}", r.i8_recall)),
            };
            let threads = if s.forced {
                format!(
                    "{} (forced; the daemon splits from {} rows)",
                    s.threads,
                    thousands((VectorIndex::PARALLEL_MIN_ROWS_PER_THREAD * s.threads) as u64)
                )
            } else {
                s.threads.to_string()
            };
            let _ = writeln!(
                out,
                "| {} | {rows}{} | {kernel_label} | {threads} | {} | **{}** | {} | {recall} |",
                thousands(r.n as u64),
                if s.daemon { " (daemon)" } else { "" },
                human_bytes(s.memory),
                ms(s.p50),
                ms(s.p95),
            );
        }
    }
    let _ = writeln!(
        out,
        "\n\"(daemon)\" marks what `ctxd` runs: i8 rows, {} on this machine, split only from {} \
         rows per thread. Random vectors are the hard case for quantisation (all similarities \
         near 0).\n",
        threads_word(ctx_embed::default_scan_threads()),
        thousands(VectorIndex::PARALLEL_MIN_ROWS_PER_THREAD as u64)
    );
    render_hnsw(dim, args, results, out);
    render_decision(results, out);
}

#[cfg(not(feature = "ann-bench"))]
fn hnsw_params(_args: &EmbedBenchArgs) -> String {
    String::new()
}

#[cfg(feature = "ann-bench")]
fn hnsw_params(args: &EmbedBenchArgs) -> String {
    format!(
        "M = {}, ef_construction = {}",
        args.hnsw_m, args.hnsw_ef_construction
    )
}

fn render_hnsw(dim: usize, args: &EmbedBenchArgs, results: &[SizeResult], out: &mut String) {
    if results
        .iter()
        .all(|r| matches!(r.hnsw, HnswOutcome::Absent))
    {
        let _ = writeln!(
            out,
            "#### HNSW\n\nNot measured: this `ctx` was built without the `ann-bench` feature \
             (`cargo build --release -p ctx-cli --features ann-bench`). ARCHITECTURE.md \
             (\"Vector search: brute force, chosen by measurement\") has the last comparison.\n"
        );
        return;
    }
    let _ = writeln!(
        out,
        "#### HNSW (hnsw_rs 0.3, {}, cosine distance on f32)\n",
        hnsw_params(args)
    );
    let _ = writeln!(
        out,
        "Built by parallel insertion; memory is the growth of this process's resident memory \
         over the build (the index keeps its own f32 copy of every vector). Latency and recall \
         at the narrowest `ef_search` of the sweep (40, 60, 80, 120, … 3840: the search's \
         candidate list, at least the {LIMIT} results asked for) that reaches each \
         recall@{RECALL_AT}.\n"
    );
    let _ = writeln!(
        out,
        "| vectors | build | build threads | memory | recall@{RECALL_AT} wanted | ef_search | recall@{RECALL_AT} | p50 | p95 |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut notes = Vec::new();
    for r in results {
        let n = thousands(r.n as u64);
        match &r.hnsw {
            HnswOutcome::Absent => {}
            HnswOutcome::Measured {
                build,
                build_threads,
                rss_growth,
                sweep,
                stopped,
            } => {
                for target in TARGETS {
                    let cells = match sweep.iter().find(|p| p.recall >= target) {
                        Some(p) => format!(
                            "{} | {:.3} | **{}** | {}",
                            p.ef,
                            p.recall,
                            ms(p.p50),
                            ms(p.p95)
                        ),
                        None => match best(sweep) {
                            Some(b) => {
                                format!("not reached (best {:.3} at {}) | | |", b.recall, b.ef)
                            }
                            None => "not measured | | |".into(),
                        },
                    };
                    let _ = writeln!(
                        out,
                        "| {n} | {:.1} s | {build_threads} | {} (vectors {}) | {target:.2} | {cells} |",
                        build.as_secs_f64(),
                        human_bytes(*rss_growth),
                        human_bytes((r.n * dim * 4) as u64),
                    );
                }
                if let Some(why) = stopped {
                    notes.push(format!("{n}: sweep stopped, {why}."));
                }
            }
            HnswOutcome::Extrapolated {
                from_n,
                from_build,
                build_estimate,
                from_rss,
                limit_secs,
            } => {
                let _ = writeln!(
                    out,
                    "| {n} | not measured: build at {} took {:.1} s (limit {limit_secs:.0} s); \
                     {n} ≈ {:.0} s by n·log n, memory ≈ {} by n (estimates) | | | | | | | |",
                    thousands(*from_n as u64),
                    from_build.as_secs_f64(),
                    build_estimate.as_secs_f64(),
                    human_bytes((*from_rss as f64 * r.n as f64 / *from_n as f64) as u64),
                );
            }
        }
    }
    let _ = writeln!(out);
    for note in notes {
        let _ = writeln!(out, "- {note}");
    }
    let _ = writeln!(
        out,
        "\nhnsw_rs 0.3 cannot remove a point: in the daemon an edited or deleted item would stay \
         in the graph (filtered at query time) until a rebuild.\n"
    );
}

fn best(sweep: &[EfPoint]) -> Option<&EfPoint> {
    sweep.iter().max_by(|a, b| a.recall.total_cmp(&b.recall))
}

/// The decision, by the rule stated in it, from the numbers above.
fn render_decision(results: &[SizeResult], out: &mut String) {
    let _ = writeln!(out, "#### Decision\n");
    let _ = writeln!(
        out,
        "Rule, fixed before the run: the daemon keeps the brute-force scan unless HNSW was built \
         at the largest size measured and there answered at a recall@{RECALL_AT} at least the i8 \
         scan's in under half the scan's p95 (the scan needs no build and no graph, and a \
         quarter of f32's memory).\n"
    );
    let Some(last) = results.last() else {
        let _ = writeln!(out, "No size measured.\n");
        return;
    };
    let Some(scan) = last.daemon_scan() else {
        let _ = writeln!(out, "No daemon configuration measured.\n");
        return;
    };
    let n = thousands(last.n as u64);
    let scan_text = format!(
        "the scan (i8, {}, the daemon's setting) answers in p95 {} at recall@{RECALL_AT} {:.3}, in {}",
        threads_word(scan.threads),
        ms(scan.p95),
        last.i8_recall,
        human_bytes(scan.memory)
    );
    let verdict = match &last.hnsw {
        HnswOutcome::Absent => format!(
            "At {n} vectors {scan_text}. HNSW was not measured in this run, so the run decides \
             nothing between them."
        ),
        HnswOutcome::Extrapolated { build_estimate, .. } => format!(
            "At {n} vectors {scan_text}. HNSW was not built at {n} (its build there would take \
             ≈ {:.0} s, an estimate). **Brute force stays.**",
            build_estimate.as_secs_f64()
        ),
        HnswOutcome::Measured {
            build,
            rss_growth,
            sweep,
            ..
        } => {
            let cost = format!(
                "HNSW took {:.1} s to build and {} of memory",
                build.as_secs_f64(),
                human_bytes(*rss_growth)
            );
            match sweep.iter().find(|p| p.recall >= last.i8_recall) {
                Some(p) if p.p95 * 2 < scan.p95 => format!(
                    "At {n} vectors {scan_text}; HNSW reaches recall@{RECALL_AT} {:.3} at \
                     ef_search {} in p95 {} ({:.1}× faster); {cost}. **HNSW wins by the rule.**",
                    p.recall,
                    p.ef,
                    ms(p.p95),
                    scan.p95.as_secs_f64() / p.p95.as_secs_f64().max(1e-9)
                ),
                Some(p) => format!(
                    "At {n} vectors {scan_text}; HNSW needs ef_search {} for recall@{RECALL_AT} \
                     {:.3}, p95 {}; {cost}. **Brute force stays.**",
                    p.ef,
                    p.recall,
                    ms(p.p95)
                ),
                None => format!(
                    "At {n} vectors {scan_text}; HNSW never reached the scan's recall in the \
                     sweep (best {}); {cost}. **Brute force stays.**",
                    best(sweep).map_or("none".into(), |b| format!(
                        "{:.3} at ef_search {}, p95 {}",
                        b.recall,
                        b.ef,
                        ms(b.p95)
                    ))
                ),
            }
        }
    };
    let _ = writeln!(out, "{verdict}\n");
    if results.len() > 1 {
        for r in &results[..results.len() - 1] {
            if let (Some(s), HnswOutcome::Measured { sweep, .. }) = (r.daemon_scan(), &r.hnsw) {
                let at = sweep.iter().find(|p| p.recall >= r.i8_recall);
                let _ = writeln!(
                    out,
                    "At {} vectors: scan p95 {} (recall {:.3}); HNSW at that recall: {}.\n",
                    thousands(r.n as u64),
                    ms(s.p95),
                    r.i8_recall,
                    at.map_or("not reached".into(), |p| format!(
                        "ef_search {}, p95 {}",
                        p.ef,
                        ms(p.p95)
                    ))
                );
            }
        }
    }
}

fn threads_word(n: usize) -> String {
    if n == 1 {
        "1 thread".into()
    } else {
        format!("{n} threads")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        bench: EmbedBenchArgs,
    }

    fn args(extra: &[&str]) -> EmbedBenchArgs {
        use clap::Parser as _;
        let mut argv = vec!["ctx", "--only-vectors"];
        argv.extend_from_slice(extra);
        Cli::parse_from(argv).bench
    }

    #[test]
    fn recall_is_the_share_of_exact_ids_found() {
        let exact = vec![vec![1, 2, 3, 4], vec![5, 6]];
        let approx = vec![vec![4, 3, 9, 8], vec![6, 5]];
        assert!((recall(&exact, &approx) - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(recall(&[], &[]), 1.0);
    }

    #[test]
    fn the_model_is_needed_unless_only_vectors() {
        use clap::Parser as _;
        assert!(Cli::try_parse_from(["ctx"]).is_err());
        assert!(Cli::try_parse_from(["ctx", "--model", "/m"]).is_ok());
        let a = args(&["--vectors", "2000,500", "--dim", "8"]);
        assert_eq!((a.vectors, a.dim, a.queries), (vec![2000, 500], 8, 100));
    }

    #[test]
    fn a_small_run_reports_every_configuration_and_decides() {
        let a = args(&["--vectors", "1500,600", "--queries", "8", "--dim", "16"]);
        let mut out = String::new();
        search_latency(16, &a, &mut out);
        // Sizes in increasing order; f32 and i8 on one and two threads each.
        let rows: Vec<&str> = out.lines().filter(|l| l.starts_with("| 600 |")).collect();
        assert!(rows.len() >= 4, "{out}");
        assert!(out.find("| 600 |") < out.find("| 1,500 |"), "{out}");
        for needle in [
            "| 1,500 | f32 | f32 8-lane | 1 |",
            "| 1,500 | i8 (daemon) |",
            "2 (forced; the daemon splits from 200,000 rows)",
            ctx_embed::kernel_name(),
            "#### Decision",
            "At 1,500 vectors the scan (i8, 1 thread, the daemon's setting)",
        ] {
            assert!(out.contains(needle), "missing {needle:?} in\n{out}");
        }
        if cfg!(feature = "ann-bench") {
            assert!(out.contains("#### HNSW (hnsw_rs 0.3, M = 16"), "{out}");
            assert!(out.contains("**"), "{out}");
        } else {
            assert!(
                out.contains("built without the `ann-bench` feature"),
                "{out}"
            );
            assert!(out.contains("decides nothing"), "{out}");
        }
    }
}
