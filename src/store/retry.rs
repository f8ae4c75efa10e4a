//! The retry set: messages a peer's log brought that were refused for a reason that can change
//! (`message::Outlook::MayChange`: `from-future`, `not-admitted`), kept with their signed bytes
//! verbatim until a retry stores them, they are refused for good, or they expire.
//!
//! The follower's cursor moves past such a message, so the retry set is what remembers it: an
//! entry is written in the same transaction as the insert group its batch went to (see
//! [`Store::submit_keeping`]), before any transaction that could move the cursor past it.
//!
//! Three trees: `retry` (id → entry), `retry_due` (not_before ‖ id, the order entries come due)
//! and `retry_peers` (peer → entries kept for it), with the total under `meta`. Entries are
//! bounded ([`RetryLimits`]): one peer cannot take more than its share, nor all of them more
//! than the whole; what a bound turns away is counted ([`RetryCounts`]).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bytes::Bytes;

use super::codec::{self, Tree, big_endian, meta};
use super::rows::Rows;
use super::{Inner, Store, StoreError};
use crate::message::{Id, Reason, SignedMessage, Timestamp};

/// A refusal kept for another try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryEntry {
    /// The message, exactly as the peer delivered it.
    pub message: SignedMessage,
    /// The peer it came from, named as its cursor is (its node key in hex): stored on a retry,
    /// it is marked as that peer's, so it is not sent back there.
    pub peer: String,
    /// Why it was refused last.
    pub reason: Reason,
    /// Not to be tried again before this time (by the node's clock).
    pub not_before: Timestamp,
    /// When it expires, and is given up then (`u64::MAX` for a revocation, which never
    /// expires).
    pub expires_at: Timestamp,
    /// When it was kept (by the node's clock).
    pub kept_at: Timestamp,
    /// Tries since it was kept.
    pub attempts: u32,
}

/// Bounds on the retry set, so a peer cannot fill the disk with refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryLimits {
    /// Entries in all.
    pub entries: u64,
    /// Entries from one peer.
    pub per_peer: u64,
}

impl Default for RetryLimits {
    fn default() -> Self {
        RetryLimits {
            entries: 10_000,
            per_peer: 2_000,
        }
    }
}

/// Refusals to keep, handed to the writer with an insert group: see [`Store::submit_keeping`].
#[derive(Debug, Clone, Default)]
pub struct Keep {
    /// The entries (attempts 0).
    pub entries: Vec<RetryEntry>,
    /// The bounds they are kept within.
    pub limits: RetryLimits,
}

/// What becomes of an entry after a try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryChange {
    /// Stored, already here, refused for good, expired or unreadable: forget it.
    Remove(Id),
    /// Refused again for a reason that may change: try again from `not_before` (one more
    /// attempt counted).
    Reschedule {
        /// The entry.
        id: Id,
        /// The refusal this time.
        reason: Reason,
        /// The next try.
        not_before: Timestamp,
    },
}

/// An entry read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// Readable.
    Entry(RetryEntry),
    /// Unreadable (damaged, or written by a newer program): to be removed and logged.
    Damaged(Id),
}

/// The retry set's size, and what its bounds turned away since the store opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryCounts {
    /// Entries kept now.
    pub pending: u64,
    /// Refusals kept since the store opened.
    pub kept: u64,
    /// Entries kept now, per peer (by node key in hex), by name.
    pub per_peer: Vec<(String, u64)>,
    /// Refusals not kept because the retry set was full.
    pub over_entries: u64,
    /// Refusals not kept because their peer's share was full.
    pub over_peer: u64,
}

/// The bounds' counters (in memory: they are events, like the node's metrics).
#[derive(Debug, Default)]
pub(super) struct Counters {
    kept: AtomicU64,
    over_entries: AtomicU64,
    over_peer: AtomicU64,
}

/// The entry format's version: the first byte of a value.
const VERSION: u8 = 1;

/// `version ‖ not_before ‖ expires_at ‖ kept_at ‖ attempts(u32) ‖ peer len(u16) ‖ peer ‖
/// reason len(u8) ‖ reason code ‖ signature(64) ‖ body`. The times and the peer come first, so
/// removing an entry reads them even when the rest cannot be read.
fn encode(e: &RetryEntry) -> Vec<u8> {
    let peer = e.peer.as_bytes();
    let peer_len = u16::try_from(peer.len()).unwrap_or(u16::MAX);
    let peer = &peer[..usize::from(peer_len)];
    let code = e.reason.code().as_bytes();
    let body = e.message.body();
    let mut v = Vec::with_capacity(1 + 28 + 2 + peer.len() + 1 + code.len() + 64 + body.len());
    v.push(VERSION);
    v.extend_from_slice(&big_endian(e.not_before.0));
    v.extend_from_slice(&big_endian(e.expires_at.0));
    v.extend_from_slice(&big_endian(e.kept_at.0));
    v.extend_from_slice(&e.attempts.to_be_bytes());
    v.extend_from_slice(&peer_len.to_be_bytes());
    v.extend_from_slice(peer);
    // Codes are short ASCII (`Reason::code`), far below 255 bytes.
    v.push(code.len() as u8);
    v.extend_from_slice(code);
    v.extend_from_slice(e.message.signature());
    v.extend_from_slice(body);
    v
}

/// A cursor over an entry's bytes.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        codec::read_u64(self.take(8)?)
    }
}

/// The head of an entry: its due time and its peer (what removing it needs).
fn decode_head(v: &[u8]) -> Option<(u64, String)> {
    let mut r = Reader(v);
    if r.take(1)? != [VERSION] {
        return None;
    }
    let not_before = r.u64()?;
    r.take(20)?;
    let n = u16::from_be_bytes(r.take(2)?.try_into().ok()?);
    let peer = String::from_utf8(r.take(usize::from(n))?.to_vec()).ok()?;
    Some((not_before, peer))
}

/// A whole entry; `None` if it cannot be read, or its bytes are not the message of `id`.
fn decode(id: &Id, v: &[u8]) -> Option<RetryEntry> {
    let mut r = Reader(v);
    if r.take(1)? != [VERSION] {
        return None;
    }
    let not_before = Timestamp(r.u64()?);
    let expires_at = Timestamp(r.u64()?);
    let kept_at = Timestamp(r.u64()?);
    let attempts = u32::from_be_bytes(r.take(4)?.try_into().ok()?);
    let n = u16::from_be_bytes(r.take(2)?.try_into().ok()?);
    let peer = String::from_utf8(r.take(usize::from(n))?.to_vec()).ok()?;
    let n = r.take(1)?[0];
    let reason = Reason::from_code(std::str::from_utf8(r.take(usize::from(n))?).ok()?)?;
    let signature = r.take(64)?;
    // The id is computed again: an entry is checked against its id like every body.
    let message = SignedMessage::new(Bytes::copy_from_slice(r.0), signature).ok()?;
    if message.id() != *id {
        return None;
    }
    Some(RetryEntry {
        message,
        peer,
        reason,
        not_before,
        expires_at,
        kept_at,
        attempts,
    })
}

impl Inner {
    /// Plans keeping refusals for another try (in the insert group's transaction). An id kept
    /// already is left as it is; what a bound turns away is counted.
    pub(super) fn plan_keep(&self, rows: &mut Rows<'_>, keep: &Keep) -> Result<(), StoreError> {
        for e in &keep.entries {
            let id = e.message.id();
            if rows.get(Tree::Retry, id.as_bytes())?.is_some() {
                continue;
            }
            if rows.counter(Tree::Meta, meta::N_RETRY)? >= keep.limits.entries {
                self.retry.over_entries.fetch_add(1, Relaxed);
                continue;
            }
            if rows.counter(Tree::RetryPeers, e.peer.as_bytes())? >= keep.limits.per_peer {
                self.retry.over_peer.fetch_add(1, Relaxed);
                continue;
            }
            rows.put(Tree::Retry, id.as_bytes().as_slice(), encode(e));
            rows.put(Tree::RetryDue, codec::time_id(e.not_before.0, &id), []);
            rows.add_to_counter(Tree::Meta, meta::N_RETRY, 1)?;
            rows.add_to_counter(Tree::RetryPeers, e.peer.as_bytes(), 1)?;
            self.retry.kept.fetch_add(1, Relaxed);
        }
        Ok(())
    }

    /// Applies the outcome of tries, in one transaction. Returns the generation to wait for.
    fn retry_settle_batch(&self, changes: &[RetryChange]) -> Result<u64, StoreError> {
        let mut w = self.lock_writer()?;
        let mut rows = self.rows();
        for change in changes {
            let id = match change {
                RetryChange::Remove(id) | RetryChange::Reschedule { id, .. } => id,
            };
            let Some(v) = rows.get(Tree::Retry, id.as_bytes())? else {
                // Gone already; a due row without its entry (damage) goes too.
                self.drop_due_rows(&mut rows, id)?;
                continue;
            };
            let Some((due, peer)) = decode_head(&v) else {
                rows.delete(Tree::Retry, id.as_bytes().as_slice());
                rows.add_to_counter(Tree::Meta, meta::N_RETRY, -1)?;
                self.drop_due_rows(&mut rows, id)?;
                continue;
            };
            let entry = match change {
                RetryChange::Reschedule {
                    reason, not_before, ..
                } => decode(id, &v).map(|e| RetryEntry {
                    reason: *reason,
                    not_before: *not_before,
                    attempts: e.attempts.saturating_add(1),
                    ..e
                }),
                RetryChange::Remove(_) => None,
            };
            rows.delete(Tree::RetryDue, codec::time_id(due, id));
            match entry {
                Some(e) => {
                    rows.put(Tree::RetryDue, codec::time_id(e.not_before.0, id), []);
                    rows.put(Tree::Retry, id.as_bytes().as_slice(), encode(&e));
                }
                None => {
                    rows.delete(Tree::Retry, id.as_bytes().as_slice());
                    rows.add_to_counter(Tree::Meta, meta::N_RETRY, -1)?;
                    rows.add_to_counter(Tree::RetryPeers, peer.as_bytes(), -1)?;
                }
            }
        }
        let last = w.last_seq;
        self.commit(&mut w, rows, last)?;
        Ok(w.generation)
    }

    /// Deletes every due row of `id` (a scan of small keys: only for damaged entries).
    fn drop_due_rows(&self, rows: &mut Rows<'_>, id: &Id) -> Result<(), StoreError> {
        for k in self.trees.get(Tree::RetryDue).iter().keys() {
            let k = k.map_err(|e| self.sled_err(e))?;
            if k.ends_with(id.as_bytes()) {
                rows.delete(Tree::RetryDue, k.to_vec());
            }
        }
        Ok(())
    }

    fn retry_pending_entry(&self, id: Id) -> Result<Pending, StoreError> {
        let v = self
            .trees
            .get(Tree::Retry)
            .get(id.as_bytes())
            .map_err(|e| self.sled_err(e))?;
        Ok(match v.and_then(|v| decode(&id, &v)) {
            Some(e) => Pending::Entry(e),
            None => Pending::Damaged(id),
        })
    }
}

impl Store {
    /// Up to `limit` entries due at `now`, the earliest first.
    pub fn retry_due(&self, now: Timestamp, limit: usize) -> Result<Vec<Pending>, StoreError> {
        let inner = self.inner()?;
        let end = codec::concat(&[&big_endian(now.0), &[0xff; 32]]);
        let mut out = Vec::new();
        for kv in inner
            .trees
            .get(Tree::RetryDue)
            .range(..=end)
            .keys()
            .take(limit)
        {
            let k = kv.map_err(|e| inner.sled_err(e))?;
            let (_, id) =
                codec::split_time_id(&k).ok_or_else(|| inner.corrupt("bad retry due row"))?;
            out.push(inner.retry_pending_entry(id)?);
        }
        Ok(out)
    }

    /// Up to `limit` entries in id order, from the first after `after`: a pass over the whole
    /// set, whatever their due times (when what the node knows has changed).
    pub fn retry_scan(&self, after: Option<Id>, limit: usize) -> Result<Vec<Pending>, StoreError> {
        let inner = self.inner()?;
        let tree = inner.trees.get(Tree::Retry);
        let rows = match after {
            Some(a) => {
                use std::ops::Bound::{Excluded, Unbounded};
                tree.range::<&[u8], _>((Excluded(a.as_bytes().as_slice()), Unbounded))
            }
            None => tree.iter(),
        };
        let mut out = Vec::new();
        for kv in rows.take(limit) {
            let (k, v) = kv.map_err(|e| inner.sled_err(e))?;
            let id = Id::from_slice(&k).ok_or_else(|| inner.corrupt("bad retry key"))?;
            out.push(match decode(&id, &v) {
                Some(e) => Pending::Entry(e),
                None => Pending::Damaged(id),
            });
        }
        Ok(out)
    }

    /// Applies the outcome of tries, durably.
    pub async fn retry_settle(&self, changes: Vec<RetryChange>) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let (g, commit) = self
            .on_writer(move |inner| inner.retry_settle_batch(&changes))
            .await?;
        commit.wait(g).await
    }

    /// The retry set's size, per peer, and what its bounds turned away.
    pub fn retry_counts(&self) -> Result<RetryCounts, StoreError> {
        let inner = self.inner()?;
        let mut per_peer = Vec::new();
        for kv in inner.trees.get(Tree::RetryPeers).iter() {
            let (k, v) = kv.map_err(|e| inner.sled_err(e))?;
            let n = codec::read_u64(&v).ok_or_else(|| inner.corrupt("bad retry peer count"))?;
            per_peer.push((String::from_utf8_lossy(&k).into_owned(), n));
        }
        Ok(RetryCounts {
            pending: inner.rows().counter(Tree::Meta, meta::N_RETRY)?,
            per_peer,
            kept: inner.retry.kept.load(Relaxed),
            over_entries: inner.retry.over_entries.load(Relaxed),
            over_peer: inner.retry.over_peer.load(Relaxed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Body, Content, Message, Profile, SecretKey};
    use crate::store::{Inserted, Origin, StoreConfig};

    /// A profile of the fictional union `n`, signed.
    fn profile(n: u8) -> Message {
        let key = SecretKey::from_seed(&[n; 32]);
        let body = Body {
            author: key.public(),
            created_at: Timestamp(1_000),
            expires_at: Some(Timestamp(9_000_000)),
            topics: vec![],
            countries: vec![],
            effective_at: None,
            content: Content::Profile(Profile {
                name: format!("Harbour Workers of Westland, local {n}"),
                ..Default::default()
            }),
        };
        Message::sign(body, &key).unwrap()
    }

    fn entry(n: u8, peer: &str, not_before: u64) -> RetryEntry {
        RetryEntry {
            message: profile(n).signed().clone(),
            peer: peer.into(),
            reason: Reason::FromFuture,
            not_before: Timestamp(not_before),
            expires_at: Timestamp(9_000_000),
            kept_at: Timestamp(300),
            attempts: 0,
        }
    }

    fn open(dir: &std::path::Path) -> Store {
        Store::open(&StoreConfig {
            path: dir.join("data"),
            cache_bytes: 8 * 1024 * 1024,
            ..StoreConfig::default()
        })
        .unwrap()
    }

    fn keep(entries: Vec<RetryEntry>) -> Keep {
        Keep {
            entries,
            limits: RetryLimits::default(),
        }
    }

    fn ids(pending: &[Pending]) -> Vec<Id> {
        pending
            .iter()
            .map(|p| match p {
                Pending::Entry(e) => e.message.id(),
                Pending::Damaged(id) => *id,
            })
            .collect()
    }

    fn per_peer(s: &Store) -> Vec<(String, u64)> {
        s.retry_counts().unwrap().per_peer
    }

    #[test]
    fn entries_round_trip_and_damage_is_noticed() {
        let mut e = entry(1, "ab12", 400);
        e.reason = Reason::NotAdmitted;
        e.attempts = 2;
        let v = encode(&e);
        let id = e.message.id();
        assert_eq!(decode(&id, &v), Some(e.clone()));
        assert_eq!(decode_head(&v), Some((400, "ab12".to_string())));
        // The message's bytes are the author's: one bit changed is another id.
        let mut bad = v.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(decode(&id, &bad), None);
        assert!(decode_head(&bad).is_some(), "the head still reads");
        // A newer program's entry is not read as something else.
        let mut newer = v.clone();
        newer[0] = VERSION + 1;
        assert_eq!(decode(&id, &newer), None);
        assert_eq!(decode_head(&newer), None);
        for n in 0..v.len() {
            assert_eq!(decode(&id, &v[..n]), None, "cut at {n}");
        }
    }

    #[tokio::test]
    async fn kept_with_their_batch_they_survive_a_reopen_and_come_due_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let stored = profile(9);
        let (a, b) = (entry(1, "p1", 400), entry(2, "p2", 200));
        let out = s
            .submit_keeping(
                vec![(
                    stored.clone(),
                    Origin::Peer {
                        peer: "p1".into(),
                        cursor: 5,
                    },
                )],
                keep(vec![a.clone(), b.clone()]),
                Timestamp(300),
            )
            .unwrap()
            .durable()
            .await
            .unwrap();
        assert_eq!(
            out,
            vec![Inserted::Accepted {
                seq: 1,
                held: false
            }]
        );
        s.close().await.unwrap();

        let s = open(dir.path());
        assert_eq!(s.cursor("p1").unwrap(), 5);
        let c = s.retry_counts().unwrap();
        assert_eq!(c.pending, 2);
        assert_eq!(
            c.per_peer,
            vec![("p1".to_string(), 1), ("p2".to_string(), 1)]
        );
        assert!(s.retry_due(Timestamp(199), 10).unwrap().is_empty());
        assert_eq!(
            s.retry_due(Timestamp(300), 10).unwrap(),
            vec![Pending::Entry(b.clone())]
        );
        let due = s.retry_due(Timestamp(400), 10).unwrap();
        assert_eq!(due, vec![Pending::Entry(b), Pending::Entry(a.clone())]);
        assert_eq!(ids(&s.retry_due(Timestamp(400), 1).unwrap()).len(), 1);
        // The bytes are the peer's, verbatim.
        let Pending::Entry(back) = &due[1] else {
            panic!("{due:?}")
        };
        assert_eq!(back.message.body(), a.message.body());
        assert_eq!(back.message.signature(), a.message.signature());
    }

    #[tokio::test]
    async fn kept_alone_and_once_per_id() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let a = entry(1, "p1", 400);
        s.submit_keeping(vec![], keep(vec![a.clone()]), Timestamp(300))
            .unwrap()
            .durable()
            .await
            .unwrap();
        // The same message from another peer, or brought again: kept once.
        let again = RetryEntry {
            peer: "p2".into(),
            ..a.clone()
        };
        s.submit_keeping(vec![], keep(vec![again, a]), Timestamp(300))
            .unwrap()
            .durable()
            .await
            .unwrap();
        let c = s.retry_counts().unwrap();
        assert_eq!((c.pending, c.kept), (1, 1));
        assert_eq!(c.per_peer, vec![("p1".to_string(), 1)]);
    }

    #[tokio::test]
    async fn bounds_turn_entries_away_and_count_them() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let limits = RetryLimits {
            entries: 3,
            per_peer: 2,
        };
        let from_p1 = (1..=3).map(|n| entry(n, "p1", 400)).collect();
        let from_p2 = (4..=5).map(|n| entry(n, "p2", 400)).collect();
        for entries in [from_p1, from_p2] {
            s.submit_keeping(vec![], Keep { entries, limits }, Timestamp(300))
                .unwrap()
                .durable()
                .await
                .unwrap();
        }
        let c = s.retry_counts().unwrap();
        assert_eq!(c.pending, 3);
        assert_eq!(
            c.per_peer,
            vec![("p1".to_string(), 2), ("p2".to_string(), 1)]
        );
        assert_eq!((c.over_peer, c.over_entries), (1, 1));
    }

    #[tokio::test]
    async fn tries_remove_or_reschedule_durably() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let (a, b) = (entry(1, "p1", 400), entry(2, "p2", 200));
        s.submit_keeping(vec![], keep(vec![a.clone(), b.clone()]), Timestamp(300))
            .unwrap()
            .durable()
            .await
            .unwrap();
        s.retry_settle(vec![
            RetryChange::Remove(a.message.id()),
            RetryChange::Reschedule {
                id: b.message.id(),
                reason: Reason::NotAdmitted,
                not_before: Timestamp(900),
            },
        ])
        .await
        .unwrap();
        s.close().await.unwrap();
        let s = open(dir.path());
        assert_eq!(s.retry_counts().unwrap().pending, 1);
        assert_eq!(per_peer(&s), vec![("p2".to_string(), 1)]);
        assert!(s.retry_due(Timestamp(899), 10).unwrap().is_empty());
        let moved = RetryEntry {
            reason: Reason::NotAdmitted,
            not_before: Timestamp(900),
            attempts: 1,
            ..b.clone()
        };
        assert_eq!(
            s.retry_due(Timestamp(900), 10).unwrap(),
            vec![Pending::Entry(moved.clone())]
        );
        assert_eq!(s.retry_scan(None, 10).unwrap(), vec![Pending::Entry(moved)]);
        assert!(s.retry_scan(Some(b.message.id()), 10).unwrap().is_empty());
        // Removing what is gone already changes nothing.
        s.retry_settle(vec![RetryChange::Remove(a.message.id())])
            .await
            .unwrap();
        assert_eq!(s.retry_counts().unwrap().pending, 1);
    }

    #[tokio::test]
    async fn a_damaged_entry_is_reported_and_removed_without_stopping_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        let (a, b) = (entry(1, "p1", 200), entry(2, "p1", 400));
        s.submit_keeping(vec![], keep(vec![a.clone(), b.clone()]), Timestamp(300))
            .unwrap()
            .durable()
            .await
            .unwrap();
        s.inner()
            .unwrap()
            .trees
            .get(Tree::Retry)
            .insert(a.message.id().as_bytes(), b"\x01damaged".as_slice())
            .unwrap();
        let due = s.retry_due(Timestamp(500), 10).unwrap();
        assert_eq!(
            due,
            vec![Pending::Damaged(a.message.id()), Pending::Entry(b.clone())]
        );
        s.retry_settle(vec![RetryChange::Remove(a.message.id())])
            .await
            .unwrap();
        assert_eq!(
            s.retry_due(Timestamp(500), 10).unwrap(),
            vec![Pending::Entry(b)]
        );
        assert_eq!(s.retry_counts().unwrap().pending, 1);
    }
}
