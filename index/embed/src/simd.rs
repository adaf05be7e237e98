//! The integer kernels of the vector scan: dot products of i8 rows with an i8 query, exact
//! (every product and sum is an integer that fits in i32 for rows shorter than 131,072).
//!
//! The portable version is plain Rust in sixteen lanes. On x86_64 an AVX2 version is chosen at
//! run time (`is_x86_feature_detected!`, cached by std): each half of 16 row bytes is
//! sign-extended to i16 (`vpmovsxbw`) and multiplied with the query, widened to i16 once per
//! query, by `vpmaddwd`, which adds pairs of products into i32 lanes without saturating. So it
//! returns exactly what the portable version returns, for any input (−128 included); the
//! property tests check that on random rows of odd lengths.
//!
//! It also holds the query encoder's matrix product ([`matmul_f16_rows`]): a few activation
//! rows (f32) times a linear layer's weights stored as f16, read as the layer stores them (one
//! contiguous row per output). candle's gemm re-packs the weight matrix on every call, which for
//! a handful of query rows costs more than the product itself; here each weight is read once
//! per block of four activation rows, converted by F16C (`vcvtph2ps`) and multiplied by FMA.
//!
//! This is the only module of the crate with `unsafe`: unaligned loads through raw pointers
//! (each bounded by a slice length checked just before) and the call of the AVX2 functions
//! after the run-time check says the CPU has AVX2.
#![allow(unsafe_code)]

/// Integer dot product of `a` and `b` over their common length; portable, in sixteen lanes (the
/// compiler vectorises it for the target's baseline instruction set).
pub fn dot_i8_portable(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0i32; 16];
    let (ac, ar) = a.split_at(n / 16 * 16);
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

/// Which kernel the scan uses on this CPU (for benchmarks and logs).
pub fn kernel_name() -> &'static str {
    if avx2() { "avx2" } else { "portable" }
}

/// Whether the AVX2 kernels may run here. Also false when `CTX_NO_SIMD` is set (to measure the
/// portable kernel in the same binary), read once.
#[inline]
pub(crate) fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static DISABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        std::arch::is_x86_feature_detected!("avx2")
            && !*DISABLED.get_or_init(|| std::env::var_os("CTX_NO_SIMD").is_some())
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Integer dot product of `a` and `b` over their common length: AVX2 when the CPU has it,
/// the portable loop otherwise. Equal to [`dot_i8_portable`] for every input.
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        let n = a.len().min(b.len());
        let q: Vec<i16> = b[..n].iter().map(|&x| i16::from(x)).collect();
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { x86::dot_i8_i16(&a[..n], &q) };
    }
    dot_i8_portable(a, b)
}

/// A query for [`dots_i8`]: the i8 vector and the same widened to i16 (once per query).
pub(crate) struct QueryI8 {
    q: Vec<i8>,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    q16: Vec<i16>,
}

impl QueryI8 {
    pub(crate) fn new(q: Vec<i8>) -> QueryI8 {
        let q16 = q.iter().map(|&x| i16::from(x)).collect();
        QueryI8 { q, q16 }
    }

    #[cfg(test)]
    pub(crate) fn as_i8(&self) -> &[i8] {
        &self.q
    }
}

/// Raw integer dot products of the query with each `dim`-long row of `rows`, into `out` (one
/// per row; `out.len()` rows are read). The query has length `dim`.
pub(crate) fn dots_i8(rows: &[i8], dim: usize, query: &QueryI8, out: &mut [i32]) {
    debug_assert_eq!(query.q.len(), dim);
    debug_assert!(rows.len() >= out.len() * dim);
    #[cfg(target_arch = "x86_64")]
    if avx2() {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { x86::dots_i8_i16(rows, dim, &query.q16, out) };
        return;
    }
    for (row, o) in rows.chunks_exact(dim).zip(out.iter_mut()) {
        *o = dot_i8_portable(row, &query.q);
    }
}

/// `out[i·n + j] = Σ_l x[i·k + l] · w[j·k + l]` for `m` rows of `x` and `n` rows of `w` (f16 bit
/// patterns, a linear layer's `(out, in)` weight matrix): the product with the transposed
/// weights. AVX2 + FMA + F16C where the CPU has them, a portable loop otherwise; the two agree
/// to float rounding (sums in another order).
pub fn matmul_f16_rows(x: &[f32], m: usize, k: usize, w: &[u16], n: usize, out: &mut [f32]) {
    assert!(
        x.len() >= m * k && w.len() >= n * k && out.len() >= m * n,
        "matmul_f16_rows: ({m}×{k}) · ({n}×{k})ᵀ does not fit the slices"
    );
    #[cfg(target_arch = "x86_64")]
    if avx2()
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
    {
        // SAFETY: the CPU has AVX2, FMA and F16C (checked just above); sizes checked above.
        unsafe { x86::matmul_f16_rows(x, m, k, w, n, out) };
        return;
    }
    matmul_f16_rows_portable(x, m, k, w, n, out);
}

/// The portable [`matmul_f16_rows`] (also its reference in tests).
pub fn matmul_f16_rows_portable(
    x: &[f32],
    m: usize,
    k: usize,
    w: &[u16],
    n: usize,
    out: &mut [f32],
) {
    let mut row = vec![0f32; k];
    for j in 0..n {
        for (r, &bits) in row.iter_mut().zip(&w[j * k..(j + 1) * k]) {
            *r = half::f16::from_bits(bits).to_f32();
        }
        for i in 0..m {
            out[i * n + j] = crate::vectors::dot_f32(&x[i * k..(i + 1) * k], &row);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// `matmul_f16_rows` on AVX2/FMA/F16C: blocks of up to 4 activation rows × 2 weight rows
    /// (8 accumulators), eight lanes at a time, the tail of `k` in scalar code.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn matmul_f16_rows(
        x: &[f32],
        m: usize,
        k: usize,
        w: &[u16],
        n: usize,
        out: &mut [f32],
    ) {
        let mut i0 = 0;
        while i0 < m {
            let rows = (m - i0).min(4);
            let mut j0 = 0;
            while j0 < n {
                let cols = (n - j0).min(2);
                // SAFETY: i0 + rows <= m and j0 + cols <= n; the caller checked the slice sizes
                // for m × k, n × k and m × n.
                unsafe {
                    match (rows, cols) {
                        (4, 2) => block::<4, 2>(x, i0, k, w, j0, n, out),
                        (3, 2) => block::<3, 2>(x, i0, k, w, j0, n, out),
                        (2, 2) => block::<2, 2>(x, i0, k, w, j0, n, out),
                        (1, 2) => block::<1, 2>(x, i0, k, w, j0, n, out),
                        (4, _) => block::<4, 1>(x, i0, k, w, j0, n, out),
                        (3, _) => block::<3, 1>(x, i0, k, w, j0, n, out),
                        (2, _) => block::<2, 1>(x, i0, k, w, j0, n, out),
                        _ => block::<1, 1>(x, i0, k, w, j0, n, out),
                    }
                }
                j0 += cols;
            }
            i0 += rows;
        }
    }

    /// Rows `i0..i0 + R` of `x` times weight rows `j0..j0 + C`, into `out`.
    #[target_feature(enable = "avx2,fma,f16c")]
    #[inline]
    unsafe fn block<const R: usize, const C: usize>(
        x: &[f32],
        i0: usize,
        k: usize,
        w: &[u16],
        j0: usize,
        n: usize,
        out: &mut [f32],
    ) {
        let mut acc = [[_mm256_setzero_ps(); C]; R];
        let k8 = k / 8 * 8;
        let mut l = 0;
        while l < k8 {
            let mut wv = [_mm256_setzero_ps(); C];
            for (c, v) in wv.iter_mut().enumerate() {
                // SAFETY: (j0 + c)·k + l + 8 <= n·k <= w.len(), unaligned load of 8 u16.
                *v = unsafe {
                    _mm256_cvtph_ps(_mm_loadu_si128(
                        w.as_ptr().add((j0 + c) * k + l) as *const __m128i
                    ))
                };
            }
            for (r, acc_row) in acc.iter_mut().enumerate() {
                // SAFETY: (i0 + r)·k + l + 8 <= m·k <= x.len().
                let xv = unsafe { _mm256_loadu_ps(x.as_ptr().add((i0 + r) * k + l)) };
                for (a, v) in acc_row.iter_mut().zip(&wv) {
                    *a = _mm256_fmadd_ps(xv, *v, *a);
                }
            }
            l += 8;
        }
        for (r, acc_row) in acc.iter().enumerate() {
            for (c, a) in acc_row.iter().enumerate() {
                let s = _mm_add_ps(_mm256_castps256_ps128(*a), _mm256_extractf128_ps::<1>(*a));
                let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
                let s = _mm_add_ss(s, _mm_shuffle_ps::<0b01>(s, s));
                let mut sum = _mm_cvtss_f32(s);
                let (xi, wj) = ((i0 + r) * k, (j0 + c) * k);
                for t in k8..k {
                    sum += x[xi + t] * half::f16::from_bits(w[wj + t]).to_f32();
                }
                out[(i0 + r) * n + j0 + c] = sum;
            }
        }
    }

    /// `dots_i8` on AVX2: one row after another, the query (widened to i16) read from L1.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn dots_i8_i16(rows: &[i8], dim: usize, q: &[i16], out: &mut [i32]) {
        for (row, o) in rows.chunks_exact(dim).zip(out.iter_mut()) {
            // SAFETY: same target feature as this function.
            *o = unsafe { dot_i8_i16(row, q) };
        }
    }

    /// Exact dot product of i8 `a` with i16 `q` (the widened i8 query) over their common length.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) unsafe fn dot_i8_i16(a: &[i8], q: &[i16]) -> i32 {
        let n = a.len().min(q.len());
        let (pa, pq) = (a.as_ptr(), q.as_ptr());
        let mut acc0 = _mm256_setzero_si256();
        let mut acc1 = _mm256_setzero_si256();
        let mut i = 0;
        while i + 32 <= n {
            // SAFETY: i + 32 <= n, so a[i..i + 32] and q[i..i + 32] are in bounds; the loads
            // are unaligned ones.
            unsafe {
                let a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(pa.add(i) as *const __m128i));
                let a1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(pa.add(i + 16) as *const __m128i));
                let q0 = _mm256_loadu_si256(pq.add(i) as *const __m256i);
                let q1 = _mm256_loadu_si256(pq.add(i + 16) as *const __m256i);
                acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(a0, q0));
                acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(a1, q1));
            }
            i += 32;
        }
        if i + 16 <= n {
            // SAFETY: i + 16 <= n, as above.
            unsafe {
                let a0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(pa.add(i) as *const __m128i));
                let q0 = _mm256_loadu_si256(pq.add(i) as *const __m256i);
                acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(a0, q0));
            }
            i += 16;
        }
        let acc = _mm256_add_epi32(acc0, acc1);
        let s = _mm_add_epi32(
            _mm256_castsi256_si128(acc),
            _mm256_extracti128_si256::<1>(acc),
        );
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
        let mut sum = _mm_cvtsi128_si32(s);
        for k in i..n {
            sum += i32::from(a[k]) * i32::from(q[k]);
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn i8s(&mut self, n: usize) -> Vec<i8> {
            (0..n).map(|_| self.next() as u8 as i8).collect()
        }
    }

    #[test]
    fn simd_dot_equals_portable_dot_on_random_rows_of_every_length() {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::env::var_os("CTX_NO_SIMD").is_none()
        {
            assert_eq!(
                kernel_name(),
                "avx2",
                "the AVX2 kernel is the one tested here"
            );
        }
        let mut rng = Rng(7);
        for len in (0..=130).chain([255, 256, 383, 384, 385, 767, 768, 1023, 1024, 4099]) {
            for _ in 0..20 {
                let a = rng.i8s(len);
                let b = rng.i8s(len);
                let naive: i32 = a.iter().zip(&b).map(|(x, y)| *x as i32 * *y as i32).sum();
                assert_eq!(dot_i8_portable(&a, &b), naive, "len {len}");
                assert_eq!(dot_i8(&a, &b), naive, "len {len} ({})", kernel_name());
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
        #[test]
        fn simd_equals_portable_for_any_bytes(
            pairs in proptest::collection::vec((proptest::num::i8::ANY, proptest::num::i8::ANY), 0..1200),
        ) {
            let (a, b): (Vec<i8>, Vec<i8>) = pairs.into_iter().unzip();
            let naive: i32 = a.iter().zip(&b).map(|(x, y)| *x as i32 * *y as i32).sum();
            proptest::prop_assert_eq!(dot_i8_portable(&a, &b), naive);
            proptest::prop_assert_eq!(dot_i8(&a, &b), naive);
            let mut out = [0i32; 1];
            if !a.is_empty() {
                dots_i8(&a, a.len(), &QueryI8::new(b.clone()), &mut out);
                proptest::prop_assert_eq!(out[0], naive);
            }
        }
    }

    #[test]
    fn extremes_do_not_saturate() {
        for len in [1, 15, 16, 17, 31, 32, 33, 384, 4096] {
            let min = vec![i8::MIN; len];
            let max = vec![i8::MAX; len];
            assert_eq!(dot_i8(&min, &min), 16384 * len as i32, "len {len}");
            assert_eq!(dot_i8(&min, &max), -16256 * len as i32, "len {len}");
            assert_eq!(dot_i8(&max, &max), 16129 * len as i32, "len {len}");
        }
    }

    #[test]
    fn unequal_lengths_use_the_common_prefix() {
        let a: Vec<i8> = (0..40).map(|i| i as i8).collect();
        let b = vec![1i8; 33];
        let want: i32 = (0..33).sum();
        assert_eq!(dot_i8(&a, &b), want);
        assert_eq!(dot_i8(&b, &a), want);
        assert_eq!(dot_i8_portable(&a, &b), want);
    }

    #[test]
    fn f16_matmul_equals_the_portable_product() {
        let mut rng = Rng(5);
        for (m, k, n) in [
            (1, 1, 1),
            (1, 8, 1),
            (3, 7, 5),
            (4, 384, 2),
            (5, 33, 3),
            (9, 384, 7),
            (2, 1536, 4),
        ] {
            let x: Vec<f32> = (0..m * k)
                .map(|_| (rng.next() % 2001) as f32 / 1000.0 - 1.0)
                .collect();
            let w: Vec<u16> = (0..n * k)
                .map(|_| half::f16::from_f32((rng.next() % 2001) as f32 / 1000.0 - 1.0).to_bits())
                .collect();
            let mut fast = vec![f32::NAN; m * n];
            let mut portable = vec![f32::NAN; m * n];
            matmul_f16_rows(&x, m, k, &w, n, &mut fast);
            matmul_f16_rows_portable(&x, m, k, &w, n, &mut portable);
            for i in 0..m {
                for j in 0..n {
                    let exact: f64 = (0..k)
                        .map(|l| x[i * k + l] as f64 * half::f16::from_bits(w[j * k + l]).to_f64())
                        .sum();
                    let tolerance = 1e-4 * (k as f64).sqrt().max(1.0);
                    for got in [fast[i * n + j], portable[i * n + j]] {
                        assert!(
                            (got as f64 - exact).abs() < tolerance,
                            "({m}×{k})·({n}×{k}) at ({i},{j}): {got} vs {exact}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn batched_dots_equal_one_by_one() {
        let mut rng = Rng(99);
        for dim in [1, 7, 16, 48, 383, 384] {
            let rows = rng.i8s(dim * 37);
            let q = rng.i8s(dim);
            let mut out = vec![0i32; 37];
            dots_i8(&rows, dim, &QueryI8::new(q.clone()), &mut out);
            for (r, got) in rows.chunks_exact(dim).zip(&out) {
                assert_eq!(*got, dot_i8_portable(r, &q), "dim {dim}");
            }
        }
    }
}
