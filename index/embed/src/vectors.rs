//! The in-memory search matrix: every chunk vector in one contiguous array, searched by brute
//! force. Rows are quantised to `i8` (one scale per row) or kept as `f32`; BENCHMARKS.md has
//! the measurement that chose `i8` as the default (a quarter of the memory, faster scans, and
//! the same top candidates for fusion).

use std::collections::HashMap;

/// How rows are stored in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    I8,
}

/// One search result: an owner (an item rowid) and its best chunk's cosine similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbor {
    pub owner: i64,
    pub similarity: f32,
}

/// A matrix of unit vectors, each row owned by an item; an item owns one row per chunk.
#[derive(Debug)]
pub struct VectorIndex {
    dim: usize,
    precision: Precision,
    f32_rows: Vec<f32>,
    i8_rows: Vec<i8>,
    /// Per row: the dequantisation factor (i8) — 1.0 for f32 rows.
    scales: Vec<f32>,
    owners: Vec<i64>,
    rows_of: HashMap<i64, Vec<usize>>,
    scan_threads: usize,
    /// Rows each thread scans at least ([`Self::PARALLEL_MIN_ROWS_PER_THREAD`]; tests lower it).
    min_rows_per_thread: usize,
}

impl VectorIndex {
    pub fn new(dim: usize, precision: Precision) -> VectorIndex {
        VectorIndex {
            dim,
            precision,
            f32_rows: Vec::new(),
            i8_rows: Vec::new(),
            scales: Vec::new(),
            owners: Vec::new(),
            rows_of: HashMap::new(),
            scan_threads: default_scan_threads(),
            min_rows_per_thread: Self::PARALLEL_MIN_ROWS_PER_THREAD,
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Number of rows (chunk vectors).
    pub fn len(&self) -> usize {
        self.owners.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owners.is_empty()
    }

    /// Number of distinct owners (items).
    pub fn owners(&self) -> usize {
        self.rows_of.len()
    }

    /// Bytes held by the rows (for status and benchmarks).
    pub fn memory_bytes(&self) -> usize {
        self.f32_rows.len() * 4 + self.i8_rows.len() + self.scales.len() * 4 + self.owners.len() * 8
    }

    /// Replaces the rows of `owner` with `vectors` (each of length `dim`; others are ignored).
    pub fn set(&mut self, owner: i64, vectors: &[Vec<f32>]) {
        self.remove(owner);
        let mut rows = Vec::with_capacity(vectors.len());
        for v in vectors.iter().filter(|v| v.len() == self.dim) {
            rows.push(self.owners.len());
            self.owners.push(owner);
            match self.precision {
                Precision::F32 => {
                    self.f32_rows.extend_from_slice(v);
                    self.scales.push(1.0);
                }
                Precision::I8 => {
                    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
                    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
                    self.i8_rows.extend(
                        v.iter()
                            .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8),
                    );
                    self.scales.push(scale);
                }
            }
        }
        if !rows.is_empty() {
            self.rows_of.insert(owner, rows);
        }
    }

    /// Removes every row of `owner` (swap-remove: the last rows move into the holes).
    pub fn remove(&mut self, owner: i64) {
        let Some(mut rows) = self.rows_of.remove(&owner) else {
            return;
        };
        // Highest first, so that a row moved from the end is never one still to be removed.
        rows.sort_unstable_by(|a, b| b.cmp(a));
        for row in rows {
            let last = self.owners.len() - 1;
            if row != last {
                let moved_owner = self.owners[last];
                self.owners[row] = moved_owner;
                self.scales[row] = self.scales[last];
                let d = self.dim;
                match self.precision {
                    Precision::F32 => self.f32_rows.copy_within(last * d..(last + 1) * d, row * d),
                    Precision::I8 => self.i8_rows.copy_within(last * d..(last + 1) * d, row * d),
                }
                if let Some(moved) = self.rows_of.get_mut(&moved_owner)
                    && let Some(slot) = moved.iter_mut().find(|r| **r == last)
                {
                    *slot = row;
                }
            }
            self.owners.pop();
            self.scales.pop();
            let d = self.dim;
            match self.precision {
                Precision::F32 => self.f32_rows.truncate(last * d),
                Precision::I8 => self.i8_rows.truncate(last * d),
            }
        }
    }

    /// The `limit` owners whose best row is most similar to the unit vector `query`, best first.
    /// Equal similarities are ordered by row (deterministic, whatever the thread count).
    pub fn search(&self, query: &[f32], limit: usize) -> Vec<Neighbor> {
        if query.len() != self.dim || self.owners.is_empty() || limit == 0 {
            return Vec::new();
        }
        let query = Query::new(self, query);
        // Take enough rows that `limit` distinct owners are very likely among them, then keep
        // each owner's best; when owners with many similar rows crowd the others out, take more.
        let mut take = (limit * 4).min(self.len());
        loop {
            let best = self.top_rows(&query, take);
            let mut seen = std::collections::HashSet::with_capacity(limit);
            let mut out = Vec::with_capacity(limit);
            for (similarity, row) in best {
                let owner = self.owners[row as usize];
                if seen.insert(owner) {
                    out.push(Neighbor { owner, similarity });
                    if out.len() == limit {
                        break;
                    }
                }
            }
            if out.len() == limit || take == self.len() {
                return out;
            }
            take = (take * 4).min(self.len());
        }
    }

    /// Rows scanned on each thread at least before the scan is split (see BENCHMARKS.md).
    pub const PARALLEL_MIN_ROWS_PER_THREAD: usize = 100_000;

    /// Sets how many threads one search may use (1: the calling thread only; the default is
    /// [`default_scan_threads`]). A matrix smaller than
    /// [`Self::PARALLEL_MIN_ROWS_PER_THREAD`] rows per thread uses fewer.
    pub fn set_scan_threads(&mut self, threads: usize) {
        self.scan_threads = threads.max(1);
    }

    pub fn scan_threads(&self) -> usize {
        self.scan_threads
    }

    /// Sets the rows each thread must scan at least before a search is split (the default is
    /// [`Self::PARALLEL_MIN_ROWS_PER_THREAD`]); benchmarks lower it to measure a split the
    /// daemon would not make.
    pub fn set_parallel_min_rows_per_thread(&mut self, rows: usize) {
        self.min_rows_per_thread = rows.max(1);
    }

    /// The threads a search of this matrix uses now: the scan threads, fewer when the matrix
    /// has under the minimum rows per thread.
    pub fn effective_scan_threads(&self) -> usize {
        self.scan_threads
            .min(self.len() / self.min_rows_per_thread)
            .max(1)
    }

    /// The `k` best rows as (similarity, row), best first (ties: lower row first).
    fn top_rows(&self, query: &Query, k: usize) -> Vec<(f32, u32)> {
        let n = self.len();
        let threads = self.effective_scan_threads();
        let mut best = if threads == 1 {
            self.top_rows_in(query, 0..n, k)
        } else {
            let per = n.div_ceil(threads);
            std::thread::scope(|scope| {
                let parts: Vec<_> = (1..threads)
                    .map(|t| {
                        let range = (t * per).min(n)..((t + 1) * per).min(n);
                        scope.spawn(move || self.top_rows_in(query, range, k))
                    })
                    .collect();
                let mut all = self.top_rows_in(query, 0..per.min(n), k);
                for part in parts {
                    match part.join() {
                        Ok(p) => all.extend(p),
                        Err(panic) => std::panic::resume_unwind(panic),
                    }
                }
                all
            })
        };
        if best.len() > k {
            best.select_nth_unstable_by(k - 1, better);
            best.truncate(k);
        }
        best.sort_unstable_by(better);
        best
    }

    /// The `k` best rows of `range` (unordered): scores in blocks that stay in L1, a candidate
    /// buffer cut back to `k` whenever it reaches `2k`, and a floor below which nothing enters.
    fn top_rows_in(
        &self,
        query: &Query,
        range: std::ops::Range<usize>,
        k: usize,
    ) -> Vec<(f32, u32)> {
        const BLOCK: usize = 256;
        let d = self.dim;
        let mut top = TopK::new(k);
        let mut dots = [0i32; BLOCK];
        let mut scores = [0f32; BLOCK];
        let mut start = range.start;
        while start < range.end {
            let end = (start + BLOCK).min(range.end);
            let m = end - start;
            match (self.precision, query) {
                (Precision::F32, Query::F32(q)) => {
                    for (row, s) in self.f32_rows[start * d..end * d]
                        .chunks_exact(d)
                        .zip(&mut scores[..m])
                    {
                        *s = dot_f32(row, q);
                    }
                }
                (Precision::I8, Query::I8 { q, scale }) => {
                    crate::simd::dots_i8(&self.i8_rows[start * d..end * d], d, q, &mut dots[..m]);
                    for ((s, dot), row_scale) in scores[..m]
                        .iter_mut()
                        .zip(&dots[..m])
                        .zip(&self.scales[start..end])
                    {
                        *s = *dot as f32 * row_scale * scale;
                    }
                }
                _ => unreachable!("the query is prepared for the index's precision"),
            }
            for (i, s) in scores[..m].iter().enumerate() {
                top.push(*s, (start + i) as u32);
            }
            start = end;
        }
        top.into_vec()
    }
}

/// A query prepared for the index's precision (quantised once for i8 rows).
enum Query {
    F32(Vec<f32>),
    I8 { q: crate::simd::QueryI8, scale: f32 },
}

impl Query {
    fn new(index: &VectorIndex, query: &[f32]) -> Query {
        match index.precision {
            Precision::F32 => Query::F32(query.to_vec()),
            Precision::I8 => {
                let max = query.iter().fold(0f32, |m, x| m.max(x.abs()));
                let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
                let q = query
                    .iter()
                    .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8)
                    .collect();
                Query::I8 {
                    q: crate::simd::QueryI8::new(q),
                    scale,
                }
            }
        }
    }
}

/// Higher similarity first, then the lower row (a total order, so results are deterministic).
fn better(a: &(f32, u32), b: &(f32, u32)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// The `k` best of a stream of (similarity, row) pushed in increasing row order.
struct TopK {
    k: usize,
    buf: Vec<(f32, u32)>,
    /// The k-th best similarity once the buffer was first cut back; a later row must beat it
    /// (an equal similarity loses on its higher row).
    floor: Option<f32>,
}

impl TopK {
    fn new(k: usize) -> TopK {
        TopK {
            k,
            buf: Vec::with_capacity(2 * k),
            floor: None,
        }
    }

    #[inline]
    fn push(&mut self, similarity: f32, row: u32) {
        // A NaN (a broken row) never enters.
        let enters = match self.floor {
            Some(floor) => similarity > floor,
            None => !similarity.is_nan(),
        };
        if enters {
            self.buf.push((similarity, row));
            if self.buf.len() >= 2 * self.k {
                self.cut();
            }
        }
    }

    fn cut(&mut self) {
        if self.buf.len() > self.k {
            self.buf.select_nth_unstable_by(self.k - 1, better);
            self.buf.truncate(self.k);
            self.floor = Some(self.buf[self.k - 1].0);
        }
    }

    fn into_vec(mut self) -> Vec<(f32, u32)> {
        self.cut();
        self.buf
    }
}

/// The number of threads a search uses by default: two where the machine has two cores or more
/// (a scan of a large matrix is bound by memory bandwidth, which one core does not saturate).
pub fn default_scan_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(2)
}

/// Dot product in eight independent lanes so the compiler vectorises it.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ac, ar) = a.split_at(a.len() / 8 * 8);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(8).zip(bc.chunks_exact(8)) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        sum += x * y;
    }
    sum
}

/// Integer dot product of i8 rows (exact; widened to i32): AVX2 on x86_64 CPUs that have it,
/// a portable loop elsewhere, with equal results.
pub use crate::simd::dot_i8;

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(seed: u64, dim: usize) -> Vec<f32> {
        let mut s = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut v: Vec<f32> = (0..dim)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        v
    }

    #[test]
    fn finds_the_owner_of_an_identical_vector_first() {
        for precision in [Precision::F32, Precision::I8] {
            let mut index = VectorIndex::new(48, precision);
            for owner in 0..200 {
                index.set(
                    owner,
                    &[unit(owner as u64 * 2, 48), unit(owner as u64 * 2 + 1, 48)],
                );
            }
            assert_eq!(index.len(), 400);
            assert_eq!(index.owners(), 200);
            let hits = index.search(&unit(77 * 2 + 1, 48), 5);
            assert_eq!(hits[0].owner, 77, "{precision:?}");
            assert!((hits[0].similarity - 1.0).abs() < 0.02, "{:?}", hits[0]);
            let distinct: std::collections::HashSet<i64> = hits.iter().map(|h| h.owner).collect();
            assert_eq!(distinct.len(), hits.len(), "one hit per owner");
            assert!(hits.windows(2).all(|w| w[0].similarity >= w[1].similarity));
        }
    }

    #[test]
    fn remove_and_replace_keep_rows_consistent() {
        for precision in [Precision::F32, Precision::I8] {
            let mut index = VectorIndex::new(16, precision);
            for owner in 0..50 {
                let n = (owner % 3 + 1) as u64;
                let vs: Vec<Vec<f32>> = (0..n).map(|k| unit(owner as u64 * 10 + k, 16)).collect();
                index.set(owner, &vs);
            }
            for owner in (0..50).step_by(4) {
                index.remove(owner);
            }
            index.set(5, &[unit(999, 16)]);
            // Every remaining owner is still found by each of its own vectors.
            for owner in 0..50i64 {
                if owner % 4 == 0 {
                    assert!(!index.rows_of.contains_key(&owner));
                    continue;
                }
                let probe = if owner == 5 {
                    unit(999, 16)
                } else {
                    unit(owner as u64 * 10, 16)
                };
                let hits = index.search(&probe, 1);
                assert_eq!(hits[0].owner, owner, "{precision:?}");
            }
            let expected_rows: usize = (0..50)
                .filter(|o| o % 4 != 0)
                .map(|o| if o == 5 { 1 } else { (o % 3 + 1) as usize })
                .sum();
            assert_eq!(index.len(), expected_rows);
            index.remove(12345);
            assert_eq!(index.len(), expected_rows);
        }
    }

    #[test]
    fn i8_scores_track_f32_scores() {
        let dim = 384;
        let a = unit(1, dim);
        for seed in 2..50 {
            let b = unit(seed, dim);
            let mut f = VectorIndex::new(dim, Precision::F32);
            let mut q = VectorIndex::new(dim, Precision::I8);
            f.set(1, std::slice::from_ref(&b));
            q.set(1, std::slice::from_ref(&b));
            let exact = f.search(&a, 1)[0].similarity;
            let approx = q.search(&a, 1)[0].similarity;
            assert!((exact - approx).abs() < 0.01, "{exact} vs {approx}");
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((exact - naive).abs() < 1e-5);
        }
    }

    /// The reference: every row scored with the portable kernel, fully sorted, each owner's
    /// best kept.
    fn naive_search(index: &VectorIndex, query: &[f32], limit: usize) -> Vec<Neighbor> {
        let d = index.dim;
        let mut scored: Vec<(f32, u32)> = match Query::new(index, query) {
            Query::F32(q) => index
                .f32_rows
                .chunks_exact(d)
                .enumerate()
                .map(|(r, row)| (dot_f32(row, &q), r as u32))
                .collect(),
            Query::I8 { q, scale } => index
                .i8_rows
                .chunks_exact(d)
                .enumerate()
                .map(|(r, row)| {
                    let dot = crate::simd::dot_i8_portable(row, q.as_i8());
                    (dot as f32 * index.scales[r] * scale, r as u32)
                })
                .collect(),
        };
        scored.sort_by(better);
        let mut seen = std::collections::HashSet::new();
        scored
            .into_iter()
            .filter(|(_, r)| seen.insert(index.owners[*r as usize]))
            .take(limit)
            .map(|(similarity, r)| Neighbor {
                owner: index.owners[r as usize],
                similarity,
            })
            .collect()
    }

    #[test]
    fn search_equals_a_full_sort_on_one_or_two_threads() {
        for precision in [Precision::I8, Precision::F32] {
            for dim in [5, 48, 384] {
                let mut index = VectorIndex::new(dim, precision);
                // Owners with 1 to 9 rows, some of them copies (ties), and one owner whose 300
                // rows are all the same vector (it crowds a 4×limit window).
                for owner in 0..400i64 {
                    let n = (owner % 9 + 1) as u64;
                    let vs: Vec<Vec<f32>> = (0..n)
                        .map(|k| unit((owner as u64 * 31 + k) % 1500, dim))
                        .collect();
                    index.set(owner, &vs);
                }
                index.set(9999, &vec![unit(4242, dim); 300]);
                index.min_rows_per_thread = 1;
                for threads in [1, 2, 3] {
                    index.set_scan_threads(threads);
                    for (qi, limit) in [(4242u64, 40), (3, 1), (17, 7), (100, 400), (5, 10_000)] {
                        let q = unit(qi, dim);
                        let got = index.search(&q, limit);
                        let want = naive_search(&index, &q, limit);
                        assert_eq!(
                            got, want,
                            "{precision:?} dim {dim} threads {threads} limit {limit}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_large_matrix_is_split_across_threads_with_the_same_result() {
        let dim = 16;
        let n = VectorIndex::PARALLEL_MIN_ROWS_PER_THREAD * 2 + 123;
        let mut index = VectorIndex::new(dim, Precision::I8);
        for owner in 0..n as i64 {
            index.set(owner, &[unit(owner as u64, dim)]);
        }
        let q = unit(7_777_777, dim);
        index.set_scan_threads(1);
        assert_eq!(index.effective_scan_threads(), 1);
        let one = index.search(&q, 40);
        index.set_scan_threads(2);
        assert_eq!(index.effective_scan_threads(), 2);
        let two = index.search(&q, 40);
        index.set_scan_threads(3);
        assert_eq!(
            index.effective_scan_threads(),
            2,
            "fewer than 100K rows per thread"
        );
        index.set_parallel_min_rows_per_thread(1000);
        assert_eq!(index.effective_scan_threads(), 3);
        assert_eq!(index.search(&q, 40), one);
        assert_eq!(one, two);
        assert_eq!(one, naive_search(&index, &q, 40));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn search_matches_the_reference_on_random_matrices(
            dim in 1usize..80,
            rows in proptest::collection::vec((0i64..60, 0u64..5000), 1..300),
            q in 0u64..5000,
            limit in 1usize..70,
            threads in 1usize..4,
        ) {
            for precision in [Precision::I8, Precision::F32] {
                let mut index = VectorIndex::new(dim, precision);
                let mut by_owner: HashMap<i64, Vec<Vec<f32>>> = HashMap::new();
                for (owner, seed) in &rows {
                    by_owner.entry(*owner).or_default().push(unit(*seed, dim));
                }
                for (owner, vs) in &by_owner {
                    index.set(*owner, vs);
                }
                index.set_scan_threads(threads);
                index.min_rows_per_thread = 1;
                let query = unit(q, dim);
                proptest::prop_assert_eq!(
                    index.search(&query, limit),
                    naive_search(&index, &query, limit)
                );
            }
        }
    }

    #[test]
    fn wrong_dimension_is_ignored_not_a_panic() {
        let mut index = VectorIndex::new(8, Precision::I8);
        index.set(1, &[vec![1.0; 7]]);
        assert!(index.is_empty());
        assert!(index.search(&[1.0; 7], 3).is_empty());
    }
}
