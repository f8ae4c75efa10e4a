//! The item sets of set reconciliation: `(created_at, id)` of every message held here with its
//! content that a view may see, sorted and sealed for negentropy, cached per view class until
//! the store commits again.
//!
//! What is an item: a message whose record says its content is held. A peer's set
//! ([`View::Peer`]) has the messages under embargo too; a reader's (any other view) has none of
//! those still pending release. Withdrawn ids (cancelled, withheld) and expired ones are
//! tombstones, never items: an id offered as an item is one the other side may fetch as
//! content, and a cancelled id must never come back as content. The set is read from the
//! records alone (a small header per id), never from the bodies.
//!
//! Building a set walks every record; every negentropy round walks the set. So one set per
//! class is kept, made at a known (generation, durable head): every write transaction moves
//! the generation (new messages, cancels, releases, expiry, repairs all commit through
//! `Inner::commit`), and what becomes durable moves the head, so a set made at the current pair
//! is the set a scan would make now. Sessions at once share it; a caller that finds a scan
//! under way waits for it rather than scanning too. Memory: one set per class, 40 bytes an
//! item.

use std::sync::{Arc, Mutex, MutexGuard};

use negentropy::{Bound, Item, NegentropyStorageBase, NegentropyStorageVector};

use super::codec::{Record, Tree};
use super::{Inner, Store, StoreError, View};
use crate::message::{Id, Message};

/// Bytes of one item in a listing: created_at (8, big-endian) then the id (32).
pub const ITEM_BYTES: usize = 40;

/// A sealed set of items, shared: cloning it costs a reference count. It is negentropy's
/// storage as it is (see [`NegentropyStorageBase`]).
#[derive(Debug, Clone)]
pub struct ItemSet(Arc<NegentropyStorageVector>);

impl ItemSet {
    /// How many items.
    pub fn len(&self) -> usize {
        // A sealed set always answers its size.
        self.0.size().unwrap_or(0)
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
        let _ = self.0.iterate(from.min(end), end, &mut |item, _| {
            out.push((item.timestamp, Id(item.id.to_bytes())));
            Ok(true)
        });
        out
    }
}

/// Negentropy reads the shared set through this, so a session owns its handle on the set and
/// can move it to a blocking thread for each round.
impl NegentropyStorageBase for ItemSet {
    fn size(&self) -> Result<usize, negentropy::Error> {
        self.0.size()
    }

    fn get_item(&self, i: usize) -> Result<Option<Item>, negentropy::Error> {
        self.0.get_item(i)
    }

    fn iterate(
        &self,
        begin: usize,
        end: usize,
        cb: &mut dyn FnMut(Item, usize) -> Result<bool, negentropy::Error>,
    ) -> Result<(), negentropy::Error> {
        self.0.iterate(begin, end, cb)
    }

    fn find_lower_bound(&self, first: usize, last: usize, value: &Bound) -> usize {
        self.0.find_lower_bound(first, last, value)
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
}

/// The last set made per class (see the module header). Each lock is held while its set is
/// made, so callers at once wait for one scan.
#[derive(Debug, Default)]
pub(super) struct ItemCache {
    peer: Mutex<Option<Made>>,
    reader: Mutex<Option<Made>>,
}

impl ItemCache {
    fn slot(&self, class: Class) -> &Mutex<Option<Made>> {
        match class {
            Class::Peer => &self.peer,
            Class::Reader => &self.reader,
        }
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
    fn scan_items(&self, class: Class, head: u64) -> Result<ItemSet, StoreError> {
        let mut set = NegentropyStorageVector::new();
        for kv in self.trees.get(Tree::Msgs).iter() {
            let (key, value) = kv.map_err(|e| self.sled_err(e))?;
            let record = Record::decode(&value)
                .ok_or_else(|| self.corrupt("a message record is unreadable"))?;
            let withheld_here = class == Class::Reader && record.pending();
            if !record.has_content() || record.seq > head || withheld_here {
                continue;
            }
            let id: [u8; 32] = key
                .as_ref()
                .try_into()
                .map_err(|_| self.corrupt("a message record's key is not an id"))?;
            set.insert(record.created_at, negentropy::Id::from_byte_array(id))
                .map_err(|e| self.sealing(e))?;
        }
        set.seal().map_err(|e| self.sealing(e))?;
        Ok(ItemSet(Arc::new(set)))
    }
}

impl Store {
    /// The items `view` may see here (see the module header): the cached set when nothing was
    /// committed or made durable since it was made, else a scan of the records. Blocks on the
    /// disk: async callers use [`Reads::items`](super::Reads::items).
    pub fn items(&self, view: &View) -> Result<ItemSet, StoreError> {
        let inner = self.inner()?;
        let class = Class::of(view);
        let mut made = lock(inner.items.slot(class));
        let at = inner.items_at();
        if let Some(m) = made.as_ref().filter(|m| m.at == at) {
            return Ok(m.set.clone());
        }
        let set = inner.scan_items(class, at.1)?;
        *made = Some(Made {
            at,
            set: set.clone(),
        });
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
        // Read again with the body: the record is the authority on whether content is held.
        self.message(id)
    }
}

#[cfg(test)]
mod tests;
