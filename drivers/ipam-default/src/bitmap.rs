//! A sparse bitmap over the ordinals of a pool (address minus network address).
//!
//! Bits live in fixed-size chunks created on first use, so a `/8` or a `/64` costs
//! nothing until addresses are taken, and a chunk is the unit written to `kv`: one
//! allocation rewrites one chunk, not the pool.

use std::collections::BTreeMap;

/// Bits per chunk: small enough that rewriting one per allocation is cheap, large
/// enough that a full /16 is 64 keys.
pub const CHUNK_BITS: u128 = 1024;
const WORDS: usize = (CHUNK_BITS / 64) as usize;
/// Bytes of a chunk in `kv`.
pub const CHUNK_BYTES: usize = WORDS * 8;

#[derive(Clone, PartialEq, Eq)]
struct Chunk {
    words: [u64; WORDS],
    ones: u32,
}

impl Chunk {
    fn empty() -> Self {
        Chunk {
            words: [0; WORDS],
            ones: 0,
        }
    }

    /// The offset in the chunk of its first clear bit at or after word `w0`, bit `b0`.
    fn first_clear_from(&self, w0: usize, b0: u32) -> Option<u128> {
        if u128::from(self.ones) == CHUNK_BITS {
            return None;
        }
        (w0..WORDS).find_map(|w| {
            let mut free = !self.words[w];
            if w == w0 {
                free &= u64::MAX << b0;
            }
            (free != 0).then(|| (w as u128) * 64 + u128::from(free.trailing_zeros()))
        })
    }
}

/// Ordinals `0..=last` with a bit each.
#[derive(Clone)]
pub struct Bitmap {
    last: u128,
    chunks: BTreeMap<u128, Chunk>,
    /// Every ordinal below this one is set, so searches for a clear one start here:
    /// allocating lowest-first costs O(1) instead of a scan from the start.
    low: u128,
}

/// Equal when the same ordinals are set; `low` is a search hint, not content.
impl PartialEq for Bitmap {
    fn eq(&self, other: &Self) -> bool {
        self.last == other.last && self.chunks == other.chunks
    }
}

impl Eq for Bitmap {}

impl std::fmt::Debug for Bitmap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bitmap(last={}, set={})", self.last, self.count())
    }
}

fn split(ordinal: u128) -> (u128, usize, u32) {
    let bit = (ordinal % CHUNK_BITS) as usize;
    (ordinal / CHUNK_BITS, bit / 64, (bit % 64) as u32)
}

impl Bitmap {
    /// An empty bitmap over `0..=last`.
    pub fn new(last: u128) -> Self {
        Bitmap {
            last,
            chunks: BTreeMap::new(),
            low: 0,
        }
    }

    /// The highest ordinal.
    pub fn last(&self) -> u128 {
        self.last
    }

    /// Whether `ordinal` is set.
    pub fn is_set(&self, ordinal: u128) -> bool {
        let (c, w, b) = split(ordinal);
        self.chunks
            .get(&c)
            .is_some_and(|ch| ch.words[w] >> b & 1 == 1)
    }

    /// Sets `ordinal`; returns its chunk index if it was clear.
    pub fn set(&mut self, ordinal: u128) -> Option<u128> {
        debug_assert!(ordinal <= self.last);
        let (c, w, b) = split(ordinal);
        let chunk = self.chunks.entry(c).or_insert_with(Chunk::empty);
        if chunk.words[w] >> b & 1 == 1 {
            return None;
        }
        chunk.words[w] |= 1 << b;
        chunk.ones += 1;
        if ordinal == self.low {
            self.advance_low();
        }
        Some(c)
    }

    /// Moves `low` past the run of set ordinals it points at, a whole chunk at a time
    /// where a chunk is full. Amortised O(1): `low` goes back only when an ordinal below
    /// it is cleared.
    fn advance_low(&mut self) {
        while self.low < self.last {
            let (c, w0, b0) = split(self.low);
            let Some(chunk) = self.chunks.get(&c) else {
                return;
            };
            let chunk_start = c * CHUNK_BITS;
            if let Some(offset) = chunk.first_clear_from(w0, b0) {
                self.low = (chunk_start + offset).min(self.last);
                return;
            }
            match chunk_start.checked_add(CHUNK_BITS) {
                Some(next) => self.low = next.min(self.last),
                None => return,
            }
        }
    }

    /// Clears `ordinal`; returns its chunk index if it was set.
    pub fn clear(&mut self, ordinal: u128) -> Option<u128> {
        let (c, w, b) = split(ordinal);
        let chunk = self.chunks.get_mut(&c)?;
        if chunk.words[w] >> b & 1 == 0 {
            return None;
        }
        chunk.words[w] &= !(1 << b);
        chunk.ones -= 1;
        self.low = self.low.min(ordinal);
        if chunk.ones == 0 {
            self.chunks.remove(&c);
        }
        Some(c)
    }

    /// The lowest clear ordinal in `lo..=hi`.
    pub fn first_clear(&self, lo: u128, hi: u128) -> Option<u128> {
        let hi = hi.min(self.last);
        let mut o = lo.max(self.low);
        while o <= hi {
            let (c, w0, b0) = split(o);
            let Some(chunk) = self.chunks.get(&c) else {
                return Some(o);
            };
            if let Some(offset) = chunk.first_clear_from(w0, b0) {
                let found = c * CHUNK_BITS + offset;
                return (found <= hi).then_some(found);
            }
            o = (c + 1).checked_mul(CHUNK_BITS)?;
        }
        None
    }

    /// The number of set ordinals.
    pub fn count(&self) -> u128 {
        self.chunks.values().map(|c| u128::from(c.ones)).sum()
    }

    /// Chunk `index` as bytes for `kv`; `None` when the chunk is empty (delete its key).
    pub fn chunk_bytes(&self, index: u128) -> Option<[u8; CHUNK_BYTES]> {
        let chunk = self.chunks.get(&index)?;
        let mut out = [0u8; CHUNK_BYTES];
        for (bytes, w) in out.chunks_exact_mut(8).zip(chunk.words) {
            bytes.copy_from_slice(&w.to_le_bytes());
        }
        Some(out)
    }

    /// Restores chunk `index` from `kv` bytes; false if they are not a chunk.
    pub fn load_chunk(&mut self, index: u128, bytes: &[u8]) -> bool {
        if bytes.len() != CHUNK_BYTES || index > self.last / CHUNK_BITS {
            return false;
        }
        let mut chunk = Chunk::empty();
        for (w, b) in chunk.words.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut word = [0u8; 8];
            word.copy_from_slice(b);
            *w = u64::from_le_bytes(word);
            chunk.ones += w.count_ones();
        }
        if chunk.ones > 0 {
            self.chunks.insert(index, chunk);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_clear_skips_full_chunks_and_respects_bounds() {
        let mut b = Bitmap::new(3 * CHUNK_BITS - 1);
        for o in 0..CHUNK_BITS + 5 {
            b.set(o);
        }
        assert_eq!(b.first_clear(0, b.last()), Some(CHUNK_BITS + 5));
        assert_eq!(b.first_clear(10, CHUNK_BITS + 4), None);
        assert_eq!(
            b.first_clear(2 * CHUNK_BITS + 7, u128::MAX),
            Some(2 * CHUNK_BITS + 7)
        );
        b.clear(3);
        assert_eq!(b.first_clear(0, b.last()), Some(3));
        assert_eq!(b.count(), CHUNK_BITS + 4);
    }

    #[test]
    fn a_huge_space_costs_nothing_until_used() {
        let mut b = Bitmap::new(u128::MAX);
        assert_eq!(b.first_clear(0, u128::MAX), Some(0));
        b.set(u128::MAX);
        assert!(b.is_set(u128::MAX));
        assert_eq!(b.first_clear(u128::MAX, u128::MAX), None);
        assert_eq!(b.chunks.len(), 1);
    }

    #[test]
    fn chunks_round_trip_through_bytes() {
        let mut b = Bitmap::new(10_000);
        for o in [0, 63, 64, 4095, 4096, 9999] {
            b.set(o);
        }
        let mut c = Bitmap::new(10_000);
        for i in 0..=10_000 / CHUNK_BITS {
            if let Some(bytes) = b.chunk_bytes(i) {
                assert!(c.load_chunk(i, &bytes));
            }
        }
        assert_eq!(b, c);
        assert!(!c.load_chunk(0, &[1, 2, 3]));
    }

    #[test]
    fn first_clear_agrees_with_a_naive_scan_through_sets_and_clears() {
        let last: u128 = 5000;
        let mut b = Bitmap::new(last);
        let mut naive = vec![false; 5001];
        let mut x: u64 = 12345;
        for step in 0..20_000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let o = u128::from(x >> 33) % 5001;
            if step % 3 == 0 {
                b.clear(o);
                naive[o as usize] = false;
            } else {
                b.set(o);
                naive[o as usize] = true;
            }
            let lo = u128::from(x >> 13) % 5001;
            let want = (lo as usize..=5000).find(|&i| !naive[i]).map(|i| i as u128);
            assert_eq!(b.first_clear(lo, last), want, "step {step}");
        }
    }
}
