//! The item sets of set reconciliation: `(created_at, id)` of every message held here with its
//! content that a view may see, sorted and sealed for negentropy, cached per view class and
//! brought up to date from a journal of changed records when asked for again.
//!
//! What is an item: a message whose record says its content is held. A peer's set
//! ([`View::Peer`]) has the messages under embargo too; a reader's (any other view) has none of
//! those still pending release. Withdrawn ids (cancelled, withheld) and expired ones are
//! tombstones, never items: an id offered as an item is one the other side may fetch as
//! content, and a cancelled id must never come back as content. The set is read from the
//! records alone (a small header per id), never from the bodies.
//!
//! Building a set walks every record. So one set per class is kept, made at a known
//! (generation, durable head): every write transaction moves the generation (new messages,
//! cancels, releases, expiry, repairs all commit through `Inner::commit`), and what becomes
//! durable moves the head, so a set made at the current pair is the set a scan would make now.
//! Sessions at once share it; a caller that finds a scan under way waits for it rather than
//! scanning too.
//!
//! A set made once is not made again by a scan after every write: the writer notes the records
//! each commit changed ([`ItemCache::note`], after applying it and before it counts as
//! committed, so a set made at generation g finds every change of a later one), and the next
//! caller takes the old set, drops the changed ids, and adds back those whose records now say
//! they are items (made durable: an item above the durable head waits in the set's
//! `above_head` until it is). That is one pass over the set and no read of the disk: 0.23 s for
//! 10,000 changes to a set of a million, where a scan takes about 2 s. The journal is kept only
//! while a set exists, trimmed to what the oldest set needs; past [`JOURNAL_MAX`] changes it
//! gives up on the oldest set (made by a scan when next asked for), so a class asked for rarely
//! does not cost the other its updates.
//!
//! A negentropy round fingerprints ranges of the set, and a fingerprint is the 256-bit sum of
//! the range's ids. Adding every id made a round cost the size of its ranges (a round cut by
//! the frame limit fingerprints the whole rest of the set), so a sealed set also keeps running
//! sums: the sum of all ids before every 64th item. A range's sum is then the difference of two
//! prefix sums, each a checkpoint plus at most 63 ids, and a round costs what its message
//! holds. Memory: one set per class, 40 bytes an item plus 0.5 for the sums.

use std::sync::{Arc, Mutex, MutexGuard};

use negentropy::{
    Accumulator, Bound, Fingerprint, Item, NegentropyStorageBase, NegentropyStorageVector,
};

use super::codec::{Record, Tree};
use super::{Inner, Store, StoreError, View};
use crate::message::{Id, Message};

/// Bytes of one item in a listing: created_at (8, big-endian) then the id (32).
pub const ITEM_BYTES: usize = 40;

/// Items between two running sums of an [`ItemSet`]: a prefix sum is a checkpoint plus at most
/// this many less one ids. 64 keeps the sums at half a byte an item and a range's sum at most
/// 126 additions.
const SUM_EVERY: usize = 64;

/// A sealed set of items, shared: cloning it costs a reference count. It is negentropy's
/// storage (see [`NegentropyStorageBase`]), fingerprinting ranges from running sums.
#[derive(Debug, Clone)]
pub struct ItemSet(Arc<Sealed>);

/// The items and their running sums: `sums[k]` is the sum of the ids of items `0..k * SUM_EVERY`
/// (so `sums[0]` is zero), one for every whole block and one past the last.
#[derive(Debug)]
struct Sealed {
    items: NegentropyStorageVector,
    sums: Vec<[u8; 32]>,
}

impl ItemSet {
    /// The set of a sealed storage, its running sums computed here (one pass over the ids).
    pub fn from_sealed(items: NegentropyStorageVector) -> Result<ItemSet, negentropy::Error> {
        let len = items.size()?;
        let mut sums = Vec::with_capacity(len / SUM_EVERY + 1);
        let mut sum = [0u8; 32];
        sums.push(sum);
        items.iterate(0, len, &mut |item, i| {
            sum = add_256(&sum, &item.id);
            if (i + 1) % SUM_EVERY == 0 {
                sums.push(sum);
            }
            Ok(true)
        })?;
        Ok(ItemSet(Arc::new(Sealed { items, sums })))
    }

    /// How many items.
    pub fn len(&self) -> usize {
        // A sealed set always answers its size.
        self.0.items.size().unwrap_or(0)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The items from place `from`, at most `max`, in (created_at, id) order.
    pub fn slice(&self, from: usize, max: usize) -> Vec<(u64, Id)> {
        let end = from.saturating_add(max).min(self.len());
        let mut out = Vec::with_capacity(end.saturating_sub(from));
        // A sealed set and a range inside it: iterate cannot fail.
        let _ = self.0.items.iterate(from.min(end), end, &mut |item, _| {
            out.push((item.timestamp, Id(item.id.to_bytes())));
            Ok(true)
        });
        out
    }
    /// The sum of the ids of items `0..end`: its checkpoint plus the ids after it.
    fn prefix_sum(&self, end: usize) -> Result<[u8; 32], negentropy::Error> {
        let block = end / SUM_EVERY;
        let mut sum = *self.0.sums.get(block).ok_or(negentropy::Error::BadRange)?;
        self.0
            .items
            .iterate(block * SUM_EVERY, end, &mut |item, _| {
                sum = add_256(&sum, &item.id);
                Ok(true)
            })?;
        Ok(sum)
    }
}

/// `a + b` mod 2^256, both little-endian: the arithmetic of negentropy's `Accumulator::add`
/// (four 64-bit lanes, the carry running up), so sums made here match the ones it makes.
fn add_256(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = false;
    for ((out, a), b) in out
        .chunks_exact_mut(8)
        .zip(a.chunks_exact(8))
        .zip(b.chunks_exact(8))
    {
        let (sum, c1) = lane(a).overflowing_add(lane(b));
        let (sum, c2) = sum.overflowing_add(u64::from(carry));
        out.copy_from_slice(&sum.to_le_bytes());
        carry = c1 | c2;
    }
    out
}

/// `a - b` mod 2^256, both little-endian: undoes [`add_256`], so a range's sum is the
/// difference of two prefix sums even when the sums wrapped.
fn sub_256(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = false;
    for ((out, a), b) in out
        .chunks_exact_mut(8)
        .zip(a.chunks_exact(8))
        .zip(b.chunks_exact(8))
    {
        let (diff, b1) = lane(a).overflowing_sub(lane(b));
        let (diff, b2) = diff.overflowing_sub(u64::from(borrow));
        out.copy_from_slice(&diff.to_le_bytes());
        borrow = b1 | b2;
    }
    out
}

/// One little-endian 64-bit lane of a 256-bit number.
fn lane(bytes: &[u8]) -> u64 {
    let mut lane = [0u8; 8];
    // Callers pass chunks_exact(8) of a 32-byte array: always 8 bytes.
    lane.copy_from_slice(bytes);
    u64::from_le_bytes(lane)
}

/// Negentropy reads the shared set through this, so a session owns its handle on the set and
/// can move it to a blocking thread for each round.
impl NegentropyStorageBase for ItemSet {
    fn size(&self) -> Result<usize, negentropy::Error> {
        self.0.items.size()
    }

    fn get_item(&self, i: usize) -> Result<Option<Item>, negentropy::Error> {
        self.0.items.get_item(i)
    }

    fn iterate(
        &self,
        begin: usize,
        end: usize,
        cb: &mut dyn FnMut(Item, usize) -> Result<bool, negentropy::Error>,
    ) -> Result<(), negentropy::Error> {
        self.0.items.iterate(begin, end, cb)
    }

    fn find_lower_bound(&self, first: usize, last: usize, value: &Bound) -> usize {
        self.0.items.find_lower_bound(first, last, value)
    }

    /// The range's sum from the running sums (see the module header), not by adding its ids.
    fn fingerprint(&self, begin: usize, end: usize) -> Result<Fingerprint, negentropy::Error> {
        if begin > end || end > self.len() {
            return Err(negentropy::Error::BadRange);
        }
        let sum = sub_256(&self.prefix_sum(end)?, &self.prefix_sum(begin)?);
        Accumulator::from_sum(sum).get_fingerprint((end - begin) as u64)
    }
}

/// Which set a view reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Authenticated peers: messages under embargo included.
    Peer,
    /// Everyone else: nothing still pending release.
    Reader,
}

impl Class {
    fn of(view: &View) -> Class {
        match view {
            View::Peer { .. } => Class::Peer,
            View::Reader | View::UnauthenticatedPeer { .. } => Class::Reader,
        }
    }
}

/// A set and the (generation, durable head) it was made at.
#[derive(Debug)]
struct Made {
    at: (u64, u64),
    set: ItemSet,
    /// Items of the class made at generation `at.0` but above the durable head `at.1`, so not
    /// in the set yet: added once durable.
    above_head: Vec<([u8; 32], Held)>,
}

/// What a record says of its message, as far as item sets go.
#[derive(Debug, Clone, Copy)]
struct Held {
    seq: u64,
    created_at: u64,
    /// Held with its content (not withdrawn, not expired).
    content: bool,
    /// Under embargo, not released to readers yet.
    pending: bool,
}

impl Held {
    fn of(record: &Record) -> Held {
        Held {
            seq: record.seq,
            created_at: record.created_at,
            content: record.has_content(),
            pending: record.pending(),
        }
    }

    /// Where it puts its id in `class`'s set made at durable head `head`.
    fn place(&self, class: Class, head: u64) -> Place {
        if !self.content || (class == Class::Reader && self.pending) {
            Place::None
        } else if self.seq > head {
            Place::AboveHead
        } else {
            Place::Item
        }
    }
}

/// Where a record puts its id in a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// An item of the set.
    Item,
    /// An item once the durable head reaches it: kept in the set's `above_head`.
    AboveHead,
    /// Not an item of the class (withdrawn, expired, or pending release for readers).
    None,
}

/// The records commits changed since the sets were made: what brings a set up to date
/// without walking every record. Kept only while some class has a set (or is making one),
/// trimmed to what the oldest of them needs. Past [`JOURNAL_MAX`] changes it gives up on the
/// oldest set (made again by a scan when next asked for), so a class asked for once and never
/// again does not cost the other its updates; past it for the newest too, on every set.
#[derive(Debug)]
struct Journal {
    /// (generation, id, what its record says now; `None`: deleted), in commit order.
    changes: Vec<(u64, [u8; 32], Option<Held>)>,
    /// Changes of the generations up to this one are not all here any more.
    cut: u64,
    /// The generation each class's set was made at (or is being made at), when it has one.
    made: [Option<u64>; 2],
    /// [`JOURNAL_MAX`], smaller in tests.
    max: usize,
}

impl Default for Journal {
    fn default() -> Self {
        Journal {
            changes: Vec::new(),
            cut: 0,
            made: [None; 2],
            max: JOURNAL_MAX,
        }
    }
}

/// The most changes journalled between two makings of a set (about 3 MiB).
const JOURNAL_MAX: usize = 65_536;

impl Journal {
    fn class(class: Class) -> usize {
        match class {
            Class::Peer => 0,
            Class::Reader => 1,
        }
    }

    /// Over its bound: gives up on the set made longest ago (it will be made by a scan), or on
    /// every set when one set alone needs more.
    fn shed(&mut self, generation: u64) {
        while self.changes.len() > self.max {
            let marks: Vec<(usize, u64)> = self
                .made
                .iter()
                .enumerate()
                .filter_map(|(class, mark)| mark.map(|m| (class, m)))
                .collect();
            let oldest = marks.iter().min_by_key(|(_, m)| *m).copied();
            let newest = marks.iter().map(|(_, m)| *m).max();
            match (oldest, newest) {
                (Some((class, old)), Some(new)) if old < new => {
                    self.made[class] = None;
                    self.cut = self.cut.max(new);
                    self.trim();
                }
                _ => {
                    self.changes.clear();
                    self.cut = generation;
                    self.made = [None; 2];
                }
            }
        }
    }

    /// Drops what no set needs: changes at or below the oldest generation a set was made at.
    fn trim(&mut self) {
        let Some(oldest) = self.made.iter().flatten().min().copied() else {
            self.changes.clear();
            return;
        };
        let keep_from = self.changes.partition_point(|(g, _, _)| *g <= oldest);
        self.changes.drain(..keep_from);
    }
}

/// The last set made per class (see the module header), and the journal that brings it up to
/// date. Each class's lock is held while its set is made, so callers at once wait for one
/// scan; the journal's lock is never held while waiting for a class's.
#[derive(Debug, Default)]
pub(super) struct ItemCache {
    peer: Mutex<Option<Made>>,
    reader: Mutex<Option<Made>>,
    journal: Mutex<Journal>,
    /// Sets made by a scan (tests).
    #[cfg(test)]
    scans: std::sync::atomic::AtomicU64,
}

impl ItemCache {
    fn slot(&self, class: Class) -> &Mutex<Option<Made>> {
        match class {
            Class::Peer => &self.peer,
            Class::Reader => &self.reader,
        }
    }

    fn journal(&self) -> MutexGuard<'_, Journal> {
        // Changes are pushed whole under the lock: a panic elsewhere leaves it sound.
        self.journal.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes the records a commit of `generation` wrote (the writer, after applying it and
    /// before it counts as committed, so a set made at `generation` or later finds them here).
    pub(super) fn note<'a>(
        &self,
        generation: u64,
        records: impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)>,
    ) {
        let mut journal = self.journal();
        if journal.made.iter().all(Option::is_none) {
            return;
        }
        for (key, value) in records {
            let Ok(id) = <[u8; 32]>::try_from(key) else {
                continue;
            };
            let held = match value {
                None => None,
                Some(bytes) => match Record::decode(bytes) {
                    Some(record) => Some(Held::of(&record)),
                    // Unreadable: a scan will say so; no set is made from the journal.
                    None => {
                        journal.changes.clear();
                        journal.cut = generation;
                        return;
                    }
                },
            };
            journal.changes.push((generation, id, held));
        }
        journal.shed(generation);
    }
}

fn lock(slot: &Mutex<Option<Made>>) -> MutexGuard<'_, Option<Made>> {
    // A scan that panicked left either the old set or none: both are sound.
    slot.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    /// Where the store is now, as far as its item sets go.
    fn items_at(&self) -> (u64, u64) {
        (self.commit.generation(), self.commit.head())
    }

    /// Only a second seal or an insert after it can fail, and a set is sealed once, at its end.
    fn sealing(&self, e: negentropy::Error) -> StoreError {
        self.corrupt(format!("an item set could not be built: {e}"))
    }

    /// Walks every record and makes the class's set, never past the durable head.
    fn scan_items(&self, class: Class, (generation, head): (u64, u64)) -> Result<Made, StoreError> {
        #[cfg(test)]
        self.items
            .scans
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut set = NegentropyStorageVector::new();
        let mut above_head = Vec::new();
        for kv in self.trees.get(Tree::Msgs).iter() {
            let (key, value) = kv.map_err(|e| self.sled_err(e))?;
            let record = Record::decode(&value)
                .ok_or_else(|| self.corrupt("a message record is unreadable"))?;
            let held = Held::of(&record);
            let place = held.place(class, head);
            if place == Place::None {
                continue;
            }
            let id: [u8; 32] = key
                .as_ref()
                .try_into()
                .map_err(|_| self.corrupt("a message record's key is not an id"))?;
            if place == Place::AboveHead {
                above_head.push((id, held));
                continue;
            }
            set.insert(held.created_at, negentropy::Id::from_byte_array(id))
                .map_err(|e| self.sealing(e))?;
        }
        set.seal().map_err(|e| self.sealing(e))?;
        Ok(Made {
            at: (generation, head),
            set: ItemSet::from_sealed(set).map_err(|e| self.sealing(e))?,
            above_head,
        })
    }

    /// `made` brought up to `at` from the journal, or `None` when the journal cannot (cut
    /// since it was made): then a scan. The items of the ids changed since, and of those that
    /// were above the durable head, are taken from what their records say now.
    fn update_items(
        &self,
        class: Class,
        made: &Made,
        at: (u64, u64),
    ) -> Result<Option<Made>, StoreError> {
        let mut latest: std::collections::HashMap<[u8; 32], Option<Held>> = made
            .above_head
            .iter()
            .map(|(id, held)| (*id, Some(*held)))
            .collect();
        {
            let journal = self.items.journal();
            if journal.cut > made.at.0 {
                return Ok(None);
            }
            let from = journal.changes.partition_point(|(g, _, _)| *g <= made.at.0);
            for (generation, id, held) in &journal.changes[from..] {
                if *generation <= at.0 {
                    latest.insert(*id, *held);
                }
            }
        }
        if latest.is_empty() {
            return Ok(Some(Made {
                at,
                set: made.set.clone(),
                above_head: Vec::new(),
            }));
        }
        let mut above_head = Vec::new();
        let mut added = Vec::new();
        for (id, held) in &latest {
            let Some(h) = held else { continue };
            match h.place(class, at.1) {
                Place::Item => added.push((h.created_at, *id)),
                Place::AboveHead => above_head.push((*id, *h)),
                Place::None => {}
            }
        }
        let mut set = NegentropyStorageVector::new();
        let mut kept = Ok(());
        let _ = made.set.0.items.iterate(0, made.set.len(), &mut |item, _| {
            if !latest.contains_key(&item.id.to_bytes()) {
                kept = set.insert(item.timestamp, item.id);
            }
            Ok(kept.is_ok())
        });
        kept.map_err(|e| self.sealing(e))?;
        for (created_at, id) in added {
            set.insert(created_at, negentropy::Id::from_byte_array(id))
                .map_err(|e| self.sealing(e))?;
        }
        set.seal().map_err(|e| self.sealing(e))?;
        Ok(Some(Made {
            at,
            set: ItemSet::from_sealed(set).map_err(|e| self.sealing(e))?,
            above_head,
        }))
    }
}

impl Store {
    /// The items `view` may see here (see the module header): the cached set when nothing was
    /// committed or made durable since it was made, else that set brought up to date from the
    /// journal, else (no set yet, or the journal gave it up) a scan of the records. Blocks on the
    /// disk: async callers use [`Reads::items`](super::Reads::items).
    pub fn items(&self, view: &View) -> Result<ItemSet, StoreError> {
        let inner = self.inner()?;
        let class = Class::of(view);
        let mut made = lock(inner.items.slot(class));
        // Read under the journal's lock: every change of a generation up to `at.0` is in the
        // journal then, and the class's mark keeps what it needs from being trimmed.
        let at = {
            let mut journal = inner.items.journal();
            let at = inner.items_at();
            let mark = made.as_ref().map_or(at.0, |m| m.at.0);
            journal.made[Journal::class(class)] = Some(mark);
            at
        };
        if let Some(m) = made.as_ref().filter(|m| m.at == at) {
            return Ok(m.set.clone());
        }
        let updated = match made.as_ref() {
            Some(m) => inner.update_items(class, m, at)?,
            None => None,
        };
        let next = match updated {
            Some(next) => next,
            None => inner.scan_items(class, at)?,
        };
        let set = next.set.clone();
        *made = Some(next);
        let mut journal = inner.items.journal();
        journal.made[Journal::class(class)] = Some(at.0);
        journal.trim();
        Ok(set)
    }

    /// The cached set of `view`'s class if it is current, without touching the disk or waiting
    /// for a scan under way.
    pub fn items_cached(&self, view: &View) -> Option<ItemSet> {
        let inner = self.inner().ok()?;
        let made = inner.items.slot(Class::of(view)).try_lock().ok()?;
        let at = inner.items_at();
        made.as_ref().filter(|m| m.at == at).map(|m| m.set.clone())
    }

    /// The message `id` as an item `view` may see, to be sent to whoever asked for it: held
    /// with its content, its body sound, and (unless the view is a peer's) not pending release.
    /// `None` for anything else: not held, withdrawn, expired, under embargo for a reader, or
    /// damaged here (noted, to be fetched again).
    pub fn item_message(&self, id: &Id, view: &View) -> Result<Option<Message>, StoreError> {
        let inner = self.inner()?;
        let Some(record) = inner.record(id)? else {
            return Ok(None);
        };
        if record.seq > self.head() || (Class::of(view) == Class::Reader && record.pending()) {
            return Ok(None);
        }
        // The record is the authority on whether content is held.
        inner.decode(id, &record)
    }
}

#[cfg(test)]
mod tests;
