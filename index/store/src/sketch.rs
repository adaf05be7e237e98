//! Near-duplicate sketches: a MinHash of an item's word 4-shingles, computed at ingest and stored
//! with the item, so that packing can leave out a second copy of the same text (a document sent
//! as an attachment and kept as a file, a forwarded message, an export of a note) without reading
//! bodies. The hashes are defined here (FNV-1a + splitmix64), not by `std`, so stored sketches
//! stay comparable across builds.

/// Hash values per sketch.
pub const SKETCH_HASHES: usize = 32;
/// Bands of [`SKETCH_BANDS`] × [`SKETCH_ROWS`] values for locality-sensitive lookup: a pair with
/// Jaccard similarity 0.8 shares at least one band with probability 0.985.
pub const SKETCH_BANDS: usize = 8;
pub const SKETCH_ROWS: usize = SKETCH_HASHES / SKETCH_BANDS;
/// Estimated Jaccard similarity of shingle sets from which two items count as one text.
pub const NEAR_DUPLICATE_SIMILARITY: f32 = 0.7;
/// Texts shorter than this many words get no sketch: short notes and calendar entries resemble
/// each other without being copies.
const MIN_WORDS: usize = 24;
const SHINGLE: usize = 4;

/// A MinHash sketch of a text's word 4-shingles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sketch(pub [u32; SKETCH_HASHES]);

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn fnv1a(bytes: impl Iterator<Item = u8>, mut h: u64) -> u64 {
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

impl Sketch {
    /// The sketch of `text`, or `None` when it has too few words to say.
    pub fn of(text: &str) -> Option<Sketch> {
        let words: Vec<u64> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(|w| {
                fnv1a(
                    w.chars().flat_map(char::to_lowercase).flat_map(|c| {
                        let mut buf = [0u8; 4];
                        let n = c.encode_utf8(&mut buf).len();
                        buf.into_iter().take(n)
                    }),
                    0xCBF2_9CE4_8422_2325,
                )
            })
            .collect();
        if words.len() < MIN_WORDS {
            return None;
        }
        let mut minima = [u32::MAX; SKETCH_HASHES];
        for window in words.windows(SHINGLE) {
            let shingle = window
                .iter()
                .fold(0x84222325_u64, |h, &w| splitmix64(h ^ w));
            for (i, min) in minima.iter_mut().enumerate() {
                let v = (splitmix64(shingle ^ (i as u64).wrapping_mul(0xA076_1D64_78BD_642F)) >> 32)
                    as u32;
                if v < *min {
                    *min = v;
                }
            }
        }
        Some(Sketch(minima))
    }

    /// Estimated Jaccard similarity of the two shingle sets.
    pub fn similarity(&self, other: &Sketch) -> f32 {
        let same = self.0.iter().zip(&other.0).filter(|(a, b)| a == b).count();
        same as f32 / SKETCH_HASHES as f32
    }

    /// One key per band, for an index of sketches seen so far.
    pub fn band_keys(&self) -> [u64; SKETCH_BANDS] {
        let mut keys = [0u64; SKETCH_BANDS];
        for (band, key) in keys.iter_mut().enumerate() {
            let values = &self.0[band * SKETCH_ROWS..(band + 1) * SKETCH_ROWS];
            *key = values
                .iter()
                .fold(band as u64, |h, &v| splitmix64(h ^ u64::from(v)));
        }
        keys
    }

    /// The stored form (little-endian u32s).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Reads the stored form; `None` when it has the wrong length.
    pub fn from_bytes(bytes: &[u8]) -> Option<Sketch> {
        if bytes.len() != SKETCH_HASHES * 4 {
            return None;
        }
        let mut values = [0u32; SKETCH_HASHES];
        for (v, chunk) in values.iter_mut().zip(bytes.chunks_exact(4)) {
            *v = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        Some(Sketch(values))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "The quarterly security review covered the single sign-on rollout, the \
        audit findings from the penetration test, the plan to rotate every service credential \
        before the end of January, and the open question of whether the on-premise installer \
        needs its own signing key. Dana asked for a written summary of the risks by Friday and \
        for the vendor assessment to be attached to the renewal paperwork.";

    #[test]
    fn copies_match_and_different_texts_do_not() {
        let a = Sketch::of(REPORT).unwrap();
        // The same text reflowed, re-cased and re-punctuated is the same text.
        let reflowed = REPORT
            .to_uppercase()
            .replace(", ", "\n")
            .replace(". ", ".\n\n");
        assert_eq!(Sketch::of(&reflowed).unwrap(), a);
        // A forwarded copy: a few header lines before it.
        let forwarded = format!(
            "---------- Forwarded message ---------\nFrom: Priya <priya@example.com>\n\
             Subject: review\n\n{REPORT}"
        );
        let f = Sketch::of(&forwarded).unwrap();
        assert!(
            a.similarity(&f) >= NEAR_DUPLICATE_SIMILARITY,
            "{}",
            a.similarity(&f)
        );
        assert!(a.band_keys().iter().any(|k| f.band_keys().contains(k)));
        // Another text on the same topic is not a copy.
        let other = "Notes from the security review: the single sign-on rollout slipped to \
            February because the identity provider needs a new certificate; the penetration \
            test found two medium issues in the admin console; credentials will be rotated \
            after the installer ships, and legal wants the vendor assessment before renewal.";
        let o = Sketch::of(other).unwrap();
        assert!(a.similarity(&o) < 0.3, "{}", a.similarity(&o));
    }

    #[test]
    fn short_texts_have_no_sketch_and_bytes_round_trip() {
        assert_eq!(Sketch::of("Weekly sync with Acme, room 4"), None);
        let s = Sketch::of(REPORT).unwrap();
        assert_eq!(Sketch::from_bytes(&s.to_bytes()), Some(s));
        assert_eq!(Sketch::from_bytes(&[1, 2, 3]), None);
    }
}
