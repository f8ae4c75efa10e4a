//! A filter of the ids the store has a row for (a record or a tombstone) or that a reference
//! row names as its target, so that asking about an id it has never seen, which is what every
//! new message is, costs no tree lookup: neither for its record nor for the messages that
//! named it before it came (a cancel before its original).
//!
//! A Bloom filter: it answers "certainly not here" or "perhaps". Ids are SHA-256 digests, so
//! their own bytes serve as the hashes. An id is added before any write that gives it a row and
//! never taken out (a tombstone dropped after its keep time leaves its bits set): a wrong
//! "perhaps" costs only the lookup every answer cost before. Sized for twice the ids the store
//! holds when it is made, and at least [`MIN_IDS`], with [`BITS_PER_ID`] bits and [`PROBES`]
//! probes per id: about 0.4% of unknown ids get a "perhaps" at that size, 6% at twice it.
//!
//! Filling it from the trees is a scan of every record, tombstone and reference row (by its
//! target), so an open does not wait
//! for one. A clean close saves the filter beside the store ([`FILTER_FILE`], with the store's
//! id and the head it covers); the next open loads it and removes the file before anything is
//! written, so a file found is always exactly the store it names. Without one (a crash, a
//! first start of this version), or when more ids went in than it was sized for, a new filter
//! is filled by a thread of its own while the store serves: until it is complete it answers
//! "perhaps" to everything, so dedup looks every id up, as it did before there was a filter.
//!
//! Bits are set and read with relaxed atomics: whoever learned of a write (an ack, a read of
//! the log) after the writer added its id also sees the id's bits, since the writer set them
//! before that write. The filling thread adds what it finds in the trees; an id written while
//! it runs was added by the writer, so when the scan ends every id with a row is in.

use std::fs;
use std::io::{Read as _, Write as _};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sha2::{Digest as _, Sha256};

use crate::message::Id;

/// The filter is sized for at least this many ids.
pub(super) const MIN_IDS: u64 = 1 << 20;

/// Bits of filter per id it is sized for.
const BITS_PER_ID: u64 = 12;

/// Bits set per id.
const PROBES: u64 = 6;

/// The file a clean close saves the filter in, in the store's directory.
pub(super) const FILTER_FILE: &str = "tocsin-ids";

/// The saved filter's first line starts with this.
/// (v2: the targets of references are in too; a v1 file is not read, and the filter is filled
/// again once.)
const FILE_TAG: &str = "tocsin-ids v2";

#[derive(Debug)]
pub(super) struct IdFilter {
    words: Box<[AtomicU64]>,
    /// Bits − 1 (the number of bits is a power of two).
    mask: u64,
    /// Ids added so far that set a bit (an id added again counts nothing): when it passes
    /// what the filter was sized for, the next open fills a larger one.
    added: AtomicU64,
    /// Set once every id with a row is in; until then every id is a "perhaps".
    complete: AtomicBool,
    /// Set when the store closes: a filling thread stops at its next look.
    abandoned: AtomicBool,
}

impl IdFilter {
    /// An empty filter sized for `expected` ids (at least [`MIN_IDS`]), complete (a new store:
    /// nothing to fill) or not (to be filled by [`IdFilter::fill`]).
    pub(super) fn with_capacity(expected: u64, complete: bool) -> Self {
        let bits = (expected.max(MIN_IDS).saturating_mul(BITS_PER_ID))
            .next_power_of_two()
            .max(64);
        let words = (0..bits / 64).map(|_| AtomicU64::new(0)).collect();
        IdFilter {
            words,
            mask: bits - 1,
            added: AtomicU64::new(0),
            complete: AtomicBool::new(complete),
            abandoned: AtomicBool::new(false),
        }
    }

    /// The bit positions of an id: double hashing over two 64-bit halves of the digest.
    fn probes(&self, id: &Id) -> impl Iterator<Item = u64> + '_ {
        let b = id.as_bytes();
        let h1 = u64::from_le_bytes(b[0..8].try_into().expect("8 bytes"));
        let h2 = u64::from_le_bytes(b[8..16].try_into().expect("8 bytes")) | 1;
        (0..PROBES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) & self.mask)
    }

    /// Records that the store has (or is about to have) a row keyed by `id`. Counted towards
    /// the size only when it set a bit: an id added again (a message's own id, then as the
    /// target of its updates) costs nothing.
    pub(super) fn add(&self, id: &Id) {
        let mut new = false;
        for bit in self.probes(id) {
            let mask = 1 << (bit % 64);
            new |= self.words[(bit / 64) as usize].fetch_or(mask, Ordering::Relaxed) & mask == 0;
        }
        if new {
            self.added.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// False when the store certainly has no row for `id`.
    pub(super) fn may_hold(&self, id: &Id) -> bool {
        if !self.complete.load(Ordering::Acquire) {
            return true;
        }
        self.probes(id).all(|bit| {
            self.words[(bit / 64) as usize].load(Ordering::Relaxed) & (1 << (bit % 64)) != 0
        })
    }

    /// Whether every id with a row is in (see the module header).
    pub(super) fn is_complete(&self) -> bool {
        self.complete.load(Ordering::Acquire)
    }

    /// Whether more ids went in than the filter was sized for (it then says "perhaps" too
    /// often, and a larger one is filled instead of loading it).
    fn overfull(&self) -> bool {
        self.added.load(Ordering::Relaxed) > (self.mask + 1) / BITS_PER_ID
    }

    /// Adds every id `ids` yields, then marks the filter complete: unless the store closed
    /// first (false), or the trees could not be read (the error; the filter stays
    /// incomplete, so every id is still looked up).
    pub(super) fn fill<E>(&self, ids: impl Iterator<Item = Result<Id, E>>) -> Result<bool, E> {
        for (n, id) in ids.enumerate() {
            if n % 4096 == 0 && self.abandoned.load(Ordering::Relaxed) {
                return Ok(false);
            }
            self.add(&id?);
        }
        self.complete.store(true, Ordering::Release);
        Ok(true)
    }

    /// Tells a filling thread to stop (the store is closing).
    pub(super) fn abandon(&self) {
        self.abandoned.store(true, Ordering::Relaxed);
    }

    /// Saves a complete filter for the store `store_id` at durable head `head`, in `dir`
    /// (written aside, synced, then renamed into place). An incomplete one is not saved.
    pub(super) fn save(&self, dir: &Path, store_id: &str, head: u64) -> std::io::Result<bool> {
        if !self.is_complete() {
            return Ok(false);
        }
        let mut bytes = format!(
            "{FILE_TAG} id={store_id} head={head} words={} added={}\n",
            self.words.len(),
            self.added.load(Ordering::Relaxed)
        )
        .into_bytes();
        bytes.reserve(self.words.len() * 8 + 32);
        for w in self.words.iter() {
            bytes.extend_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
        }
        let digest = Sha256::digest(&bytes);
        bytes.extend_from_slice(&digest);
        let aside = dir.join(format!("{FILTER_FILE}.new"));
        let mut file = fs::File::create(&aside)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&aside, dir.join(FILTER_FILE))?;
        fs::File::open(dir)?.sync_all()?;
        Ok(true)
    }

    /// The filter saved in `dir` for the store `store_id` at head `head`, if there is one that
    /// says so, reads whole and is not overfull. The file is removed (and the removal synced)
    /// in every case, before the store can write: a filter on disk is never older than the
    /// store beside it.
    pub(super) fn take_saved(
        dir: &Path,
        store_id: &str,
        head: u64,
    ) -> std::io::Result<Option<Self>> {
        // A save cut short by a crash leaves its file aside: never read.
        match fs::remove_file(dir.join(format!("{FILTER_FILE}.new"))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let path = dir.join(FILTER_FILE);
        let mut raw = Vec::new();
        match fs::File::open(&path) {
            Ok(mut f) => f.read_to_end(&mut raw)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        fs::remove_file(&path)?;
        fs::File::open(dir)?.sync_all()?;
        Ok(Self::parse(&raw, store_id, head).filter(|f| !f.overfull()))
    }

    /// A saved filter's bytes, if they are whole and name this store at this head.
    fn parse(raw: &[u8], store_id: &str, head: u64) -> Option<Self> {
        let (content, digest) = raw.split_at_checked(raw.len().checked_sub(32)?)?;
        if Sha256::digest(content).as_slice() != digest {
            return None;
        }
        let line_end = content.iter().position(|b| *b == b'\n')?;
        let line = std::str::from_utf8(&content[..line_end]).ok()?;
        let fields = line.strip_prefix(FILE_TAG)?;
        let field = |name: &str| {
            fields
                .split(' ')
                .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
        };
        if field("id")? != store_id || field("head")?.parse::<u64>().ok()? != head {
            return None;
        }
        let n_words: usize = field("words")?.parse().ok()?;
        let added: u64 = field("added")?.parse().ok()?;
        let body = &content[line_end + 1..];
        if !n_words.is_power_of_two() || body.len() != n_words.checked_mul(8)? {
            return None;
        }
        let words = body
            .chunks_exact(8)
            .map(|c| {
                let mut word = [0u8; 8];
                word.copy_from_slice(c);
                AtomicU64::new(u64::from_le_bytes(word))
            })
            .collect();
        Some(IdFilter {
            words,
            mask: (n_words as u64 * 64) - 1,
            added: AtomicU64::new(added),
            complete: AtomicBool::new(true),
            abandoned: AtomicBool::new(false),
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
        let f = IdFilter::with_capacity(0, true);
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
        let small = IdFilter::with_capacity(10, true);
        let big = IdFilter::with_capacity(4 * MIN_IDS, true);
        assert_eq!(big.bytes(), 4 * small.bytes());
    }

    #[test]
    fn an_incomplete_filter_says_perhaps_until_filled() {
        let f = IdFilter::with_capacity(0, false);
        assert!(f.may_hold(&id(7)), "incomplete: everything is a perhaps");
        let filled = f.fill((0..1000).map(|n| Ok::<_, ()>(id(n))));
        assert_eq!(filled, Ok(true));
        assert!(f.is_complete());
        assert!(f.may_hold(&id(3)));
        let wrong = (1000..11_000).filter(|n| f.may_hold(&id(*n))).count();
        assert!(wrong < 100, "{wrong} of 10,000 unknown ids said perhaps");
    }

    #[test]
    fn an_abandoned_fill_stays_incomplete() {
        let f = IdFilter::with_capacity(0, false);
        f.abandon();
        assert_eq!(f.fill((0..10).map(|n| Ok::<_, ()>(id(n)))), Ok(false));
        assert!(!f.is_complete());
        let failed = IdFilter::with_capacity(0, false);
        assert_eq!(
            failed.fill([Ok(id(1)), Err("unreadable")].into_iter()),
            Err("unreadable")
        );
        assert!(!failed.is_complete() && failed.may_hold(&id(99)));
    }

    #[test]
    fn a_saved_filter_loads_only_for_its_store_and_head_and_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let f = IdFilter::with_capacity(0, true);
        for n in 0..500 {
            f.add(&id(n));
        }
        let load = |store: &str, head: u64| {
            assert!(f.save(dir.path(), "store-a", 41).expect("save"));
            IdFilter::take_saved(dir.path(), store, head).expect("take")
        };
        let loaded = load("store-a", 41).expect("its own store and head");
        assert!(
            !dir.path().join(FILTER_FILE).exists(),
            "taken means removed"
        );
        assert!((0..500).all(|n| loaded.may_hold(&id(n))));
        assert!(!loaded.may_hold(&id(10_000)) || !loaded.may_hold(&id(10_001)));
        assert_eq!(loaded.bytes(), f.bytes());
        assert!(load("store-a", 42).is_none(), "another head");
        assert!(load("store-b", 41).is_none(), "another store");
        assert!(!dir.path().join(FILTER_FILE).exists());
        // One bit changed anywhere: refused.
        assert!(f.save(dir.path(), "store-a", 41).expect("save"));
        let path = dir.path().join(FILTER_FILE);
        let mut raw = fs::read(&path).expect("read");
        let at = raw.len() / 2;
        raw[at] ^= 1;
        fs::write(&path, raw).expect("write");
        assert!(
            IdFilter::take_saved(dir.path(), "store-a", 41)
                .expect("take")
                .is_none()
        );
        // Nothing saved: nothing loaded; an incomplete filter is not saved.
        assert!(
            IdFilter::take_saved(dir.path(), "store-a", 41)
                .expect("take")
                .is_none()
        );
        let incomplete = IdFilter::with_capacity(0, false);
        assert!(!incomplete.save(dir.path(), "store-a", 41).expect("save"));
        assert!(!path.exists());
    }

    #[test]
    fn a_filter_saved_by_the_first_version_is_not_loaded() {
        // v1 files lack the targets of references: filled again, never loaded.
        let dir = tempfile::tempdir().expect("temp dir");
        let f = IdFilter::with_capacity(0, true);
        f.add(&id(1));
        assert!(f.save(dir.path(), "s", 1).expect("save"));
        let path = dir.path().join(FILTER_FILE);
        let raw = fs::read(&path).expect("read");
        let content = &raw[..raw.len() - 32];
        let mut old = content.to_vec();
        old.splice(..FILE_TAG.len(), b"tocsin-ids v1".iter().copied());
        let digest = Sha256::digest(&old);
        old.extend_from_slice(&digest);
        fs::write(&path, &old).expect("write");
        assert!(
            IdFilter::take_saved(dir.path(), "s", 1)
                .expect("take")
                .is_none()
        );
        // The same bytes under this version's tag load.
        let mut current = content.to_vec();
        current.extend_from_slice(&Sha256::digest(content));
        fs::write(&path, &current).expect("write");
        assert!(
            IdFilter::take_saved(dir.path(), "s", 1)
                .expect("take")
                .is_some()
        );
    }

    #[test]
    fn an_overfull_filter_is_not_loaded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let f = IdFilter::with_capacity(0, true);
        let capacity = (f.mask + 1) / BITS_PER_ID;
        // An id already "held" by chance sets no bit and is not counted: a few more than the
        // capacity make it overfull.
        for n in 0..capacity * 2 {
            if f.overfull() {
                break;
            }
            f.add(&id(n));
        }
        assert!(f.overfull());
        // The same id again counts nothing.
        let counted = f.added.load(Ordering::Relaxed);
        f.add(&id(0));
        assert_eq!(f.added.load(Ordering::Relaxed), counted);
        assert!(f.save(dir.path(), "s", 1).expect("save"));
        assert!(
            IdFilter::take_saved(dir.path(), "s", 1)
                .expect("take")
                .is_none()
        );
    }
}
