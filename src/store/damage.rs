//! Damage found on read: bodies that no longer hash to their id, or are missing from the body
//! log. Each is counted once, logged once, never served, and kept in a list of messages to
//! fetch again from a peer (`federation::refetch`) until one replaces it.
//!
//! A damaged entry is recorded once per distinct damage: reading it again (every subscriber,
//! every page view) neither counts nor logs it again. It leaves the list when its body is
//! replaced ([`super::Store::repair`]), when the message goes (cancel, revocation, expiry), or
//! when the store finds it readable after all; found damaged again after a repair, it is new
//! damage and counted again. The list holds at most one entry per stored message.
//!
//! Messages that `tocsin node check --repair` dropped are on the list too (with seq 0): they
//! are kept in the `meta` tree (`refetch`) until fetched, so a restarted node asks its peers
//! for them.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use tokio::sync::watch;
use tracing::warn;

use crate::message::Id;

/// A message this node should serve and cannot: see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    /// The message id.
    pub id: Id,
    /// The seq of its damaged entry; 0 when it is no longer held (dropped by a repair).
    pub seq: u64,
}

/// Counters of the store's integrity, for metrics and `node status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Integrity {
    /// Distinct damaged entries found on read since the store opened.
    pub damaged_total: u64,
    /// Damaged or dropped messages replaced by a good copy from a peer since the store opened.
    pub repaired_total: u64,
    /// Messages waiting for a good copy now.
    pub wanted: u64,
}

/// The registry of damage, shared by readers and the writer.
#[derive(Debug)]
pub(super) struct Damage {
    wanted: Mutex<BTreeMap<Id, u64>>,
    damaged_total: AtomicU64,
    repaired_total: AtomicU64,
    /// Bumped whenever an id joins the list, so the refetch task wakes.
    changed: watch::Sender<u64>,
}

impl Default for Damage {
    fn default() -> Self {
        Damage {
            wanted: Mutex::new(BTreeMap::new()),
            damaged_total: AtomicU64::new(0),
            repaired_total: AtomicU64::new(0),
            changed: watch::channel(0).0,
        }
    }
}

impl Damage {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Id, u64>> {
        self.wanted.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes a damaged entry: counted, logged and listed the first time only.
    pub(super) fn found(&self, id: Id, seq: u64, detail: &str) {
        let new = {
            let mut w = self.lock();
            match w.get(&id) {
                Some(s) if *s == seq => false,
                _ => {
                    w.insert(id, seq);
                    true
                }
            }
        };
        if new {
            self.damaged_total.fetch_add(1, Relaxed);
            // Ids and seqs are not personal data; nothing here names a client.
            warn!(seq, id = %id, detail, "damaged message in the store: not served, to be fetched again from a peer");
            self.changed.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Lists a message dropped by a repair, to fetch again (not counted as new damage: the
    /// check that dropped it reported it).
    pub(super) fn want(&self, id: Id) {
        self.lock().entry(id).or_insert(0);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Takes an id off the list: replaced by a good copy (`repaired`) or no longer wanted.
    pub(super) fn settled(&self, id: &Id, repaired: bool) {
        if self.lock().remove(id).is_some() && repaired {
            self.repaired_total.fetch_add(1, Relaxed);
        }
    }

    pub(super) fn wanted(&self) -> Vec<Wanted> {
        self.lock()
            .iter()
            .map(|(id, seq)| Wanted { id: *id, seq: *seq })
            .collect()
    }

    pub(super) fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub(super) fn counts(&self) -> Integrity {
        Integrity {
            damaged_total: self.damaged_total.load(Relaxed),
            repaired_total: self.repaired_total.load(Relaxed),
            wanted: self.lock().len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_is_counted_once_per_distinct_entry() {
        let d = Damage::default();
        let mut rx = d.watch();
        let a = Id([1; 32]);
        d.found(a, 7, "does not hash to its id");
        d.found(a, 7, "does not hash to its id");
        assert_eq!(d.counts().damaged_total, 1, "a re-read is not new damage");
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        d.found(a, 9, "moved and damaged again");
        assert_eq!(d.counts().damaged_total, 2);
        assert_eq!(d.wanted(), vec![Wanted { id: a, seq: 9 }]);
        d.settled(&a, true);
        assert_eq!(
            d.counts(),
            Integrity {
                damaged_total: 2,
                repaired_total: 1,
                wanted: 0
            }
        );
        d.want(Id([2; 32]));
        d.settled(&Id([2; 32]), false);
        assert_eq!(d.counts().repaired_total, 1, "given up is not repaired");
    }
}
