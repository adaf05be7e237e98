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
    pub fn search(&self, query: &[f32], limit: usize) -> Vec<Neighbor> {
        if query.len() != self.dim || self.owners.is_empty() || limit == 0 {
            return Vec::new();
        }
        let scores = self.scores(query);
        // Take enough rows that `limit` distinct owners are very likely among them, then
        // keep each owner's best.
        let take = (limit * 4).min(scores.len());
        let mut idx: Vec<u32> = (0..scores.len() as u32).collect();
        if take < idx.len() {
            idx.select_nth_unstable_by(take - 1, |a, b| {
                scores[*b as usize].total_cmp(&scores[*a as usize])
            });
            idx.truncate(take);
        }
        idx.sort_unstable_by(|a, b| scores[*b as usize].total_cmp(&scores[*a as usize]));
        let mut seen: HashMap<i64, ()> = HashMap::with_capacity(limit);
        let mut out = Vec::with_capacity(limit);
        for row in idx {
            let owner = self.owners[row as usize];
            if seen.insert(owner, ()).is_none() {
                out.push(Neighbor {
                    owner,
                    similarity: scores[row as usize],
                });
                if out.len() == limit {
                    break;
                }
            }
        }
        out
    }

    /// Similarity of `query` with every row.
    fn scores(&self, query: &[f32]) -> Vec<f32> {
        let d = self.dim;
        match self.precision {
            Precision::F32 => self
                .f32_rows
                .chunks_exact(d)
                .map(|row| dot_f32(row, query))
                .collect(),
            Precision::I8 => {
                let max = query.iter().fold(0f32, |m, x| m.max(x.abs()));
                let q_scale = if max > 0.0 { max / 127.0 } else { 1.0 };
                let q: Vec<i8> = query
                    .iter()
                    .map(|x| (x / q_scale).round().clamp(-127.0, 127.0) as i8)
                    .collect();
                self.i8_rows
                    .chunks_exact(d)
                    .zip(&self.scales)
                    .map(|(row, s)| dot_i8(row, &q) as f32 * s * q_scale)
                    .collect()
            }
        }
    }
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

/// Integer dot product of i8 rows (exact; widened to i32), in sixteen lanes.
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let (ac, ar) = a.split_at(a.len() / 16 * 16);
    let (bc, br) = b.split_at(ac.len());
    for (x, y) in ac.chunks_exact(16).zip(bc.chunks_exact(16)) {
        for i in 0..16 {
            acc[i] += x[i] as i32 * y[i] as i32;
        }
    }
    let mut sum: i32 = acc.iter().sum();
    for (x, y) in ar.iter().zip(br) {
        sum += *x as i32 * *y as i32;
    }
    sum
}

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

    #[test]
    fn wrong_dimension_is_ignored_not_a_panic() {
        let mut index = VectorIndex::new(8, Precision::I8);
        index.set(1, &[vec![1.0; 7]]);
        assert!(index.is_empty());
        assert!(index.search(&[1.0; 7], 3).is_empty());
    }
}
