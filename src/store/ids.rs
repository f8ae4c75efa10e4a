//! A filter of the ids the store has a row for (a record or a tombstone), so that asking about
//! an id it has never seen, which is what every new message is, costs no tree lookup.
//!
//! A Bloom filter: it answers "certainly not here" or "perhaps". Ids are SHA-256 digests, so
//! their own bytes serve as the hashes. An id is added before any write that gives it a row and
//! never taken out (a tombstone dropped after its keep time leaves its bits set): a wrong
//! "perhaps" costs only the lookup every answer cost before. Sized when the store opens for
//! twice the ids it then holds, and at least [`MIN_IDS`], with [`BITS_PER_ID`] bits and
//! [`PROBES`] probes per id: about 0.4% of unknown ids get a "perhaps" at that size, 6% at
//! twice it; the next open sizes it again.
//!
//! Bits are set and read with relaxed atomics: whoever learned of a write (an ack, a read of
//! the log) after the writer added its id also sees the id's bits, since the writer set them
//! before that write.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::message::Id;

/// The filter is sized for at least this many ids.
pub(super) const MIN_IDS: u64 = 1 << 20;

/// Bits of filter per id it is sized for.
const BITS_PER_ID: u64 = 12;

/// Bits set per id.
const PROBES: u64 = 6;

#[derive(Debug)]
pub(super) struct IdFilter {
    words: Box<[AtomicU64]>,
    /// Bits − 1 (the number of bits is a power of two).
    mask: u64,
}

impl IdFilter {
    /// An empty filter sized for `expected` ids (at least [`MIN_IDS`]).
    pub(super) fn with_capacity(expected: u64) -> Self {
        let bits = (expected.max(MIN_IDS).saturating_mul(BITS_PER_ID))
            .next_power_of_two()
            .max(64);
        let words = (0..bits / 64).map(|_| AtomicU64::new(0)).collect();
        IdFilter {
            words,
            mask: bits - 1,
        }
    }

    /// The bit positions of an id: double hashing over two 64-bit halves of the digest.
    fn probes(&self, id: &Id) -> impl Iterator<Item = u64> + '_ {
        let b = id.as_bytes();
        let h1 = u64::from_le_bytes(b[0..8].try_into().expect("8 bytes"));
        let h2 = u64::from_le_bytes(b[8..16].try_into().expect("8 bytes")) | 1;
        (0..PROBES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) & self.mask)
    }

    /// Records that the store has (or is about to have) a row for `id`.
    pub(super) fn add(&self, id: &Id) {
        for bit in self.probes(id) {
            self.words[(bit / 64) as usize].fetch_or(1 << (bit % 64), Ordering::Relaxed);
        }
    }

    /// False when the store certainly has no row for `id`.
    pub(super) fn may_hold(&self, id: &Id) -> bool {
        self.probes(id).all(|bit| {
            self.words[(bit / 64) as usize].load(Ordering::Relaxed) & (1 << (bit % 64)) != 0
        })
    }

    /// The memory the filter takes, in bytes.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.words.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> Id {
        use sha2::{Digest, Sha256};
        Id(Sha256::digest(n.to_be_bytes()).into())
    }

    #[test]
    fn an_added_id_is_always_held_and_most_others_are_not() {
        let f = IdFilter::with_capacity(0);
        assert_eq!(
            f.bytes() as u64 * 8,
            (MIN_IDS * BITS_PER_ID).next_power_of_two()
        );
        assert!(!f.may_hold(&id(0)), "an empty filter holds nothing");
        for n in 0..MIN_IDS {
            f.add(&id(n));
        }
        for n in 0..MIN_IDS {
            assert!(f.may_hold(&id(n)), "id {n} was added");
        }
        let wrong = (MIN_IDS..MIN_IDS + 100_000)
            .filter(|n| f.may_hold(&id(*n)))
            .count();
        // Sized for MIN_IDS and holding as many: about 0.4% wrong "perhaps".
        assert!(wrong < 1_000, "{wrong} of 100,000 unknown ids said perhaps");
    }

    #[test]
    fn capacity_follows_the_ids_expected() {
        let small = IdFilter::with_capacity(10);
        let big = IdFilter::with_capacity(4 * MIN_IDS);
        assert_eq!(big.bytes(), 4 * small.bytes());
    }
}
