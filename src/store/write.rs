//! The write path: planning a message's effects, applying them in one transaction, waiting for
//! the flush. Also embargo release and retention, which write the same way.

mod check;
mod repair;

pub use check::{CheckReport, Finding};
pub use repair::Repair;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::oneshot;

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::bodies::{BodyRef, SegRow};
use super::codec::{
    self, ACCEPTED, CANCELLED, LogEntry, PENDING, RELEASED, Record, Revoked, Tree, WITHHELD,
    big_endian, concat, meta,
};
use super::retry::Keep;
use super::{CommitMode, ExpireStats, Inner, Inserted, Origin, Store, StoreError};
use crate::message::{Content, Id, Kind, Message, Reason, Rejection, Timestamp};

/// What the writer lock protects.
#[derive(Debug)]
pub(super) struct WriterState {
    /// The last seq handed out (committed).
    pub(super) last_seq: u64,
    /// The last generation committed (one per write transaction).
    pub(super) generation: u64,
    /// Set by `close`: no more writes.
    pub(super) closed: bool,
}

/// From this many messages in a group, their bodies are synced while the group is planned
/// (below it, starting a thread costs more than the overlap saves).
pub(super) const OVERLAP_MIN: usize = 32;

/// How many expiries or releases go into one transaction (the writer lock is released
/// between batches so inserts are not held up by a long retention pass).
const BATCH: usize = 512;

/// A row: its key and value.
type Row = (Vec<u8>, Vec<u8>);

/// A planned set of writes, read back through by the planner (an overlay on the trees).
#[derive(Debug, Default)]
pub(super) struct Ops {
    writes: BTreeMap<(Tree, Vec<u8>), Option<Vec<u8>>>,
    /// Seqs to list under each index prefix: joined to its last row or one new row when
    /// committed (see [`Inner::settle_postings`]).
    postings: BTreeMap<(Tree, Vec<u8>), Vec<u64>>,
    /// Messages to expire, by minute: the seq of the first, and `(expires_at ‖ id)*`. One
    /// expiry row per minute when committed (see `codec::expiry_key`).
    expiries: BTreeMap<u64, (u64, Vec<u8>)>,
    /// Log entries to write (`None`: to delete), by seq. Made into log rows when committed
    /// (see [`Inner::settle_log`]).
    log: BTreeMap<u64, Option<LogEntry>>,
    /// Seqs whose stored entries the transaction deletes: the cache of recent messages forgets
    /// them once it is applied.
    forget: Vec<u64>,
}

/// Messages submitted together: each with its origin, its index prefixes (worked out by the
/// caller, off the writer thread) and the clock they are judged by; and the refusals of the
/// same batch to keep for another try (see `retry.rs`).
type Group<'a> = (&'a [(Message, Origin)], &'a [Prefixes], Timestamp, &'a Keep);

/// One message to plan: with its origin, its index prefixes, and where its body was appended
/// already, if it was.
struct Arrival<'a> {
    msg: &'a Message,
    prefixes: &'a Prefixes,
    origin: &'a Origin,
    placed: Option<BodyRef>,
}

/// The index prefixes of a message (see `codec::index_prefixes`).
pub(super) type Prefixes = Vec<(Tree, Vec<u8>)>;

/// Planned groups: the outcomes per group, the writes to commit, and the last seq handed out.
type Planned = (Vec<Vec<Inserted>>, Ops, u64);

impl Ops {
    pub(super) fn put(&mut self, t: Tree, k: impl Into<Vec<u8>>, v: impl Into<Vec<u8>>) {
        self.writes.insert((t, k.into()), Some(v.into()));
    }

    pub(super) fn del(&mut self, t: Tree, k: impl Into<Vec<u8>>) {
        self.writes.insert((t, k.into()), None);
    }

    fn log_put(&mut self, seq: u64, e: LogEntry) {
        self.log.insert(seq, Some(e));
    }

    fn log_del(&mut self, seq: u64) {
        self.log.insert(seq, None);
    }

    fn post(&mut self, t: Tree, prefix: Vec<u8>, seq: u64) {
        self.postings.entry((t, prefix)).or_default().push(seq);
    }

    /// Plans the expiry of the message `id`, stored at `seq`.
    fn expire_at(&mut self, expires_at: u64, id: &Id, seq: u64) {
        let (_, entries) = self
            .expiries
            .entry(codec::expiry_minute(expires_at))
            .or_insert_with(|| (seq, Vec::new()));
        entries.extend_from_slice(&codec::time_id(expires_at, id));
    }

    /// Turns the planned expiries into expiry rows, one per minute.
    fn settle_expiries(&mut self) {
        for (minute, (first, entries)) in std::mem::take(&mut self.expiries) {
            self.put(Tree::Expiry, codec::expiry_key(minute, first), entries);
        }
    }

    fn is_empty(&self) -> bool {
        self.writes.is_empty()
            && self.postings.is_empty()
            && self.expiries.is_empty()
            && self.log.is_empty()
    }
}

/// Whether `author` may update or cancel a message by `original`: the author itself or the
/// successor named in its revocation (followed a few hops, for a key revoked twice).
pub(super) fn authorized(
    inner: &Inner,
    author: &[u8; 32],
    original: &[u8; 32],
) -> Result<bool, StoreError> {
    inner.oauthorized(&Ops::default(), author, original)
}

fn refused(reason: Reason, detail: impl Into<String>) -> Inserted {
    Inserted::Refused(Rejection::new(reason, detail))
}

impl Inner {
    pub(super) fn sled_err(&self, e: sled::Error) -> StoreError {
        StoreError::sled(&self.dir, e)
    }

    pub(super) fn corrupt(&self, what: impl Into<String>) -> StoreError {
        StoreError::corrupt(&self.dir, what)
    }

    /// Reads a key through the planned writes.
    pub(super) fn oget(&self, ops: &Ops, t: Tree, k: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = ops.writes.get(&(t, k.to_vec())) {
            return Ok(v.clone());
        }
        Ok(self
            .trees
            .get(t)
            .get(k)
            .map_err(|e| self.sled_err(e))?
            .map(|v| v.to_vec()))
    }

    /// The rows of `t` under `prefix`, in key order, read through the planned writes (a group
    /// of messages sees what the earlier ones in it will write).
    fn oscan_prefix(&self, ops: &Ops, t: Tree, prefix: &[u8]) -> Result<Vec<Row>, StoreError> {
        let mut rows = BTreeMap::new();
        for kv in self.trees.get(t).scan_prefix(prefix) {
            let (k, v) = kv.map_err(|e| self.sled_err(e))?;
            rows.insert(k.to_vec(), v.to_vec());
        }
        for ((wt, k), v) in ops.writes.range((t, prefix.to_vec())..) {
            if *wt != t || !k.starts_with(prefix) {
                break;
            }
            match v {
                Some(v) => rows.insert(k.clone(), v.clone()),
                None => rows.remove(k),
            };
        }
        Ok(rows.into_iter().collect())
    }

    /// The revocation in force for an author, read through the planned writes.
    fn orevoked(&self, ops: &Ops, author: &[u8; 32]) -> Result<Option<Revoked>, StoreError> {
        match self.oget(ops, Tree::Revoked, author)? {
            None => Ok(None),
            Some(v) => Revoked::decode(&v)
                .map(Some)
                .ok_or_else(|| self.corrupt("a revocation row is unreadable")),
        }
    }

    /// [`authorized`], read through the planned writes.
    fn oauthorized(
        &self,
        ops: &Ops,
        author: &[u8; 32],
        original: &[u8; 32],
    ) -> Result<bool, StoreError> {
        let mut k = *original;
        for _ in 0..8 {
            if &k == author {
                return Ok(true);
            }
            match self.orevoked(ops, &k)?.and_then(|r| r.successor) {
                Some(s) => k = s,
                None => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Takes `seq` off the index rows of `prefix` (the row keyed at or before it), read
    /// through the planned writes.
    fn unpost(&self, ops: &mut Ops, t: Tree, prefix: &[u8], seq: u64) -> Result<(), StoreError> {
        if let Some(planned) = ops.postings.get_mut(&(t, prefix.to_vec()))
            && let Some(at) = planned.iter().position(|s| *s == seq)
        {
            planned.remove(at);
            return Ok(());
        }
        let Some((key, value)) = self.orow_at(ops, t, prefix, seq)? else {
            return Ok(());
        };
        let mut seqs = codec::postings(&value).ok_or_else(|| self.corrupt("bad index row"))?;
        let Some(at) = seqs.iter().position(|s| *s == seq) else {
            return Ok(());
        };
        seqs.remove(at);
        if seqs.is_empty() {
            ops.del(t, key);
        } else {
            ops.put(t, key, codec::pack_postings(&seqs));
        }
        Ok(())
    }

    /// A row keyed by id (a record or a tombstone), read through the planned writes. An id the
    /// filter of held ids has never been given has none (every planned row's id was added to
    /// it first), and costs no lookup.
    fn oget_id(&self, ops: &Ops, t: Tree, id: &Id) -> Result<Option<Vec<u8>>, StoreError> {
        if !self.ids.may_hold(id) {
            return Ok(None);
        }
        self.oget(ops, t, id.as_bytes())
    }

    fn orecord(&self, ops: &Ops, id: &Id) -> Result<Option<Record>, StoreError> {
        match self.oget_id(ops, Tree::Msgs, id)? {
            None => Ok(None),
            Some(v) => Record::decode(&v)
                .map(Some)
                .ok_or_else(|| self.corrupt(format!("the record of {id} is unreadable"))),
        }
    }

    /// The log entry at `seq`, read through the planned writes.
    fn olog(&self, ops: &Ops, seq: u64) -> Result<Option<LogEntry>, StoreError> {
        match ops.log.get(&seq) {
            Some(e) => Ok(e.clone()),
            None => self.log_entry(seq),
        }
    }

    /// Where the body of a record whose content is held is, read through the planned writes.
    fn obody_ref(&self, ops: &Ops, id: &Id, rec: &Record) -> Result<BodyRef, StoreError> {
        self.olog(ops, rec.seq)?
            .and_then(|e| e.body)
            .ok_or_else(|| self.corrupt(format!("the body of {id} is missing")))
    }

    /// The message whose body is at `at` (in the body log, or pending in this group), checked
    /// against its id. `None` when it is damaged or missing: noted under `seq` (see
    /// `damage.rs`), so one damaged body never fails the transaction it is read in.
    fn body_at(&self, id: &Id, seq: u64, at: &BodyRef) -> Result<Option<Message>, StoreError> {
        let v = match self.bodies.read(at) {
            Ok(v) => v,
            Err(StoreError::Corrupt { detail, .. }) => {
                self.damage.found(*id, seq, &detail);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        match codec::decode_body(*id, &v) {
            Ok(m) => Ok(Some(m)),
            Err(detail) => {
                self.damage.found(*id, seq, &detail);
                Ok(None)
            }
        }
    }

    /// Counts a body written for `seq` in its segment's row.
    fn seg_add(&self, ops: &mut Ops, r: &BodyRef, seq: u64) -> Result<(), StoreError> {
        let row = self.oseg(ops, r.seg)?;
        ops.put(
            Tree::Segs,
            big_endian(r.seg),
            SegRow::add(row, seq, u64::from(r.len)).encode(),
        );
        Ok(())
    }

    /// Takes a body that is no longer live off its segment's count.
    fn seg_sub(&self, ops: &mut Ops, r: &BodyRef) -> Result<(), StoreError> {
        if let Some(mut row) = self.oseg(ops, r.seg)? {
            row.live = row.live.saturating_sub(u64::from(r.len));
            ops.put(Tree::Segs, big_endian(r.seg), row.encode());
        }
        Ok(())
    }

    fn oseg(&self, ops: &Ops, seg: u64) -> Result<Option<SegRow>, StoreError> {
        match self.oget(ops, Tree::Segs, &big_endian(seg))? {
            None => Ok(None),
            Some(v) => SegRow::decode(&v)
                .map(Some)
                .ok_or_else(|| self.corrupt("a body segment row is unreadable")),
        }
    }

    pub(super) fn add(
        &self,
        ops: &mut Ops,
        t: Tree,
        k: &[u8],
        delta: i64,
    ) -> Result<(), StoreError> {
        let cur = match self.oget(ops, t, k)? {
            None => 0,
            Some(v) => {
                codec::read_u64(&v).ok_or_else(|| self.corrupt("a counter is unreadable"))?
            }
        };
        let new = cur.saturating_add_signed(delta);
        if new == 0 && t != Tree::Meta {
            ops.del(t, k);
        } else {
            ops.put(t, k, big_endian(new));
        }
        Ok(())
    }

    /// Turns the planned log entries into log rows (see [`codec::LogRow`]): the entries of seqs
    /// from `first_new` on (handed out by this transaction) become new rows of up to
    /// [`codec::LOG_ROW_MAX`]; a change to an older seq rewrites the row holding it (deleting
    /// the row once it holds nothing).
    fn settle_log(&self, ops: &mut Ops, first_new: u64) -> Result<(), StoreError> {
        let bad = || self.corrupt("a log row is unreadable");
        let planned = std::mem::take(&mut ops.log);
        let mut new = Vec::new();
        // Rows to rewrite, by key: their entries, read once and then changed.
        let mut old: BTreeMap<u64, BTreeMap<u64, Vec<u8>>> = BTreeMap::new();
        // The last row looked up: its key and last seq. Seqs come in order, so a run of
        // changes to one row (a retention batch) looks it up once.
        let mut last_row: Option<(u64, u64)> = None;
        for (seq, e) in planned {
            if seq >= first_new {
                new.extend(e.map(|e| (seq, e.encode())));
                continue;
            }
            if e.is_none() {
                ops.forget.push(seq);
            }
            let key = match last_row {
                Some((key, end)) if seq <= end => key,
                _ => match self.log_row_at(seq)? {
                    Some((key, v)) => {
                        let mut entries = BTreeMap::new();
                        for entry in codec::LogRow::new(key, &v) {
                            let (s, b) = entry.ok_or_else(bad)?;
                            entries.insert(s, b.to_vec());
                        }
                        let end = entries.keys().next_back().copied().unwrap_or(key);
                        last_row = Some((key, end));
                        old.entry(key).or_insert(entries);
                        key
                    }
                    None if e.is_none() => continue,
                    None => return Err(self.corrupt(format!("no log row holds seq {seq}"))),
                },
            };
            let entries = old.entry(key).or_default();
            match e {
                Some(e) => entries.insert(seq, e.encode()),
                None => entries.remove(&seq),
            };
        }
        for run in new.chunks(codec::LOG_ROW_MAX) {
            let key = run[0].0;
            ops.put(Tree::Log, big_endian(key), codec::LogRow::encode(key, run));
        }
        for (key, entries) in old {
            if entries.is_empty() {
                ops.del(Tree::Log, big_endian(key));
            } else {
                let entries: Vec<(u64, Vec<u8>)> = entries.into_iter().collect();
                ops.put(
                    Tree::Log,
                    big_endian(key),
                    codec::LogRow::encode(key, &entries),
                );
            }
        }
        Ok(())
    }

    /// Turns the planned postings into index rows. A prefix's new seqs (all after every seq it
    /// lists) join its last row while that row has room for them, and start a row keyed by
    /// their first otherwise: small transactions (unary publishing) then rewrite a short row
    /// instead of adding a key to the tree per prefix, each new key a share of a node split.
    /// Readers take the rows keyed at or before a seq as they did (see `read::index_range`).
    fn settle_postings(&self, ops: &mut Ops) -> Result<(), StoreError> {
        for ((t, prefix), seqs) in std::mem::take(&mut ops.postings) {
            let Some(first) = seqs.first().copied() else {
                continue;
            };
            // A run that could not fit beside even one listed seq needs no lookup.
            let mut joined = None;
            if seqs.len() < codec::POSTINGS_JOIN_MAX
                && let Some((key, value)) = self.orow_at(ops, t, &prefix, u64::MAX)?
            {
                let mut listed =
                    codec::postings(&value).ok_or_else(|| self.corrupt("bad index row"))?;
                if listed.last().is_none_or(|l| *l < first)
                    && listed.len() + seqs.len() <= codec::POSTINGS_JOIN_MAX
                {
                    listed.extend_from_slice(&seqs);
                    joined = Some((key, listed));
                }
            }
            let (key, listed) =
                joined.unwrap_or_else(|| (concat(&[&prefix, &big_endian(first)]), seqs));
            ops.put(t, key, codec::pack_postings(&listed));
        }
        Ok(())
    }

    /// The row under an index prefix keyed at or before `seq` (the one that lists it, if any
    /// does), read through the planned writes; `None` when there is none, or when the one
    /// stored is deleted by them.
    fn orow_at(
        &self,
        ops: &Ops,
        t: Tree,
        prefix: &[u8],
        seq: u64,
    ) -> Result<Option<Row>, StoreError> {
        let lo = concat(&[prefix, &big_endian(0)]);
        let hi = concat(&[prefix, &big_endian(seq)]);
        let stored = self
            .trees
            .get(t)
            .range(lo.clone()..=hi.clone())
            .next_back()
            .transpose()
            .map_err(|e| self.sled_err(e))?
            .map(|(k, v)| (k.to_vec(), Some(v.to_vec())));
        let planned = ops
            .writes
            .range((t, lo)..=(t, hi))
            .next_back()
            .map(|((_, k), v)| (k.clone(), v.clone()));
        let row = match (stored, planned) {
            (Some(s), Some(p)) => Some(if p.0 >= s.0 { p } else { s }),
            (s, p) => s.or(p),
        };
        Ok(match row {
            Some((key, Some(value))) => Some((key, value)),
            _ => None,
        })
    }

    /// Applies planned writes as one transaction over the trees they touch.
    fn apply(&self, ops: &Ops) -> Result<(), StoreError> {
        let mut touched: Vec<Tree> = ops.writes.keys().map(|(t, _)| *t).collect();
        touched.dedup();
        let trees: Vec<sled::Tree> = touched.iter().map(|t| self.trees.get(*t).clone()).collect();
        type Planned<'a> = (usize, &'a [u8], Option<&'a [u8]>);
        let planned: Vec<Planned<'_>> = ops
            .writes
            .iter()
            .map(|((t, k), v)| {
                let at = touched.binary_search(t).unwrap_or(0);
                (at, k.as_slice(), v.as_deref())
            })
            .collect();
        let r: Result<(), TransactionError<()>> = trees[..].transaction(|txs| {
            for (at, k, v) in &planned {
                match v {
                    Some(v) => {
                        txs[*at].insert(*k, *v)?;
                    }
                    None => {
                        txs[*at].remove(*k)?;
                    }
                }
            }
            Ok::<(), ConflictableTransactionError<()>>(())
        });
        for seq in &ops.forget {
            self.recent.forget(*seq);
        }
        match r {
            Ok(()) => Ok(()),
            Err(TransactionError::Storage(e)) => Err(self.sled_err(e)),
            Err(TransactionError::Abort(())) => Err(self.corrupt("a transaction aborted")),
        }
    }

    /// Commits planned writes under the writer lock: one more generation.
    pub(super) fn commit(
        &self,
        w: &mut WriterState,
        ops: &mut Ops,
        new_last_seq: u64,
    ) -> Result<(), StoreError> {
        self.settle_postings(ops)?;
        ops.settle_expiries();
        self.settle_log(ops, w.last_seq + 1)?;
        if ops.is_empty() {
            return Ok(());
        }
        // The bodies this transaction points to are on disk before it is applied (see
        // `bodies.rs`).
        self.bodies.write_and_sync()?;
        self.apply(ops)?;
        w.generation += 1;
        w.last_seq = new_last_seq;
        self.commit.committed(w.generation, w.last_seq);
        if self.mode == CommitMode::PerMessage {
            self.commit.flush_now(&self.db, &self.marker)?;
        }
        Ok(())
    }

    pub(super) fn lock_writer(&self) -> Result<std::sync::MutexGuard<'_, WriterState>, StoreError> {
        let w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if w.closed {
            return Err(StoreError::Closed {
                dir: self.dir.clone(),
                detail: String::new(),
            });
        }
        if let Some(e) = self.commit.failure() {
            return Err(e);
        }
        Ok(w)
    }

    /// Inserts groups of messages (each group with its own clock) under one hold of the writer
    /// lock, as **one transaction** for all of them (one per message in flush-per-message
    /// mode). Each message is planned against the trees as the earlier ones in the group
    /// leave them. Returns the outcomes per group and the generation to wait for.
    pub(super) fn insert_groups(
        &self,
        groups: &[Group<'_>],
    ) -> Result<(Vec<Vec<Inserted>>, u64), StoreError> {
        let mut w = self.lock_writer()?;
        #[cfg(test)]
        if self
            .fail_next_insert
            .swap(false, std::sync::atomic::Ordering::Relaxed)
        {
            return Err(StoreError::io(
                &self.dir,
                std::io::Error::other("an injected failure"),
            ));
        }
        let per_message = self.mode == CommitMode::PerMessage;
        let count: usize = groups.iter().map(|(msgs, _, _, _)| msgs.len()).sum();
        // Looked at before anything is written: a group refused here leaves the store as it was.
        let body_bytes: u64 = groups
            .iter()
            .flat_map(|(msgs, _, _, _)| msgs.iter())
            .map(|(m, _)| {
                codec::body_parts(m)
                    .iter()
                    .map(|p| p.len() as u64)
                    .sum::<u64>()
            })
            .sum();
        self.space
            .check(super::space::Space::needed(count, body_bytes))?;
        let (out, mut ops, last) = if !per_message && count >= OVERLAP_MIN {
            // The bodies of the messages new here are appended first and written and synced on
            // another thread while the group is planned: the disk's round trip overlaps the
            // planning instead of preceding the transaction. A body whose message the plan
            // refuses is dead bytes, reclaimed with its segment.
            let mut placed = Vec::with_capacity(count);
            for (msgs, _, _, _) in groups {
                for (msg, _) in msgs.iter() {
                    placed.push(if self.ids.may_hold(&msg.id()) {
                        None
                    } else {
                        Some(self.bodies.append(&codec::body_parts(msg))?)
                    });
                }
            }
            std::thread::scope(|s| {
                let sync = std::thread::Builder::new()
                    .name("tocsin-store-sync".into())
                    .spawn_scoped(s, || self.bodies.write_and_sync())
                    .map_err(|e| StoreError::io(&self.dir, e))?;
                let planned = self.plan_groups(&mut w, groups, placed);
                let synced = sync
                    .join()
                    .unwrap_or_else(|_| Err(self.corrupt("the body log sync panicked")));
                synced.and(planned)
            })?
        } else {
            self.plan_groups(&mut w, groups, vec![None; count])?
        };
        // Bodies appended while planning (messages that looked held, or all of a small group)
        // are written and synced by the commit, before its transaction.
        self.commit(&mut w, &mut ops, last)?;
        Ok((out, w.generation))
    }

    /// Plans groups of messages in order, each against what the earlier ones leave; `placed` has
    /// the body already appended for each message, if any. Commits after each message in
    /// flush-per-message mode. Returns the outcomes, the writes still to commit and the last
    /// seq handed out.
    fn plan_groups(
        &self,
        w: &mut WriterState,
        groups: &[Group<'_>],
        placed: Vec<Option<BodyRef>>,
    ) -> Result<Planned, StoreError> {
        let per_message = self.mode == CommitMode::PerMessage;
        let mut ops = Ops::default();
        let mut last = w.last_seq;
        let mut out = Vec::with_capacity(groups.len());
        let mut placed = placed.into_iter();
        let stalled = self
            .stalled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        for (msgs, prefixes, now, keep) in groups {
            // Kept in the transaction of the batch they came in, so no cursor that moves past
            // them can be durable without them.
            self.plan_keep(&mut ops, keep)?;
            let mut outcomes = Vec::with_capacity(msgs.len());
            for ((msg, origin), prefixes) in msgs.iter().zip(prefixes.iter()) {
                let at = placed.next().flatten();
                let arrival = Arrival {
                    msg,
                    prefixes,
                    origin,
                    placed: at,
                };
                let outcome = self.plan_insert(&mut ops, arrival, last + 1, *now)?;
                if let Origin::Peer { peer, cursor } = origin {
                    let k = peer.as_bytes();
                    let old = match self.oget(&ops, Tree::Cursors, k)? {
                        Some(v) => codec::read_u64(&v).unwrap_or(0),
                        None => 0,
                    };
                    if *cursor > old && !stalled.contains(peer) {
                        ops.put(Tree::Cursors, k, big_endian(*cursor));
                    }
                }
                if let Inserted::Accepted { seq } = outcome {
                    last = seq;
                }
                if per_message {
                    self.commit(w, &mut ops, last)?;
                    ops = Ops::default();
                }
                outcomes.push(outcome);
            }
            out.push(outcomes);
        }
        Ok((out, ops, last))
    }

    /// Plans the effects of one message; `seq` is the seq it gets if accepted.
    fn plan_insert(
        &self,
        ops: &mut Ops,
        arrival: Arrival<'_>,
        seq: u64,
        now: Timestamp,
    ) -> Result<Inserted, StoreError> {
        let Arrival {
            msg,
            prefixes,
            origin,
            placed,
        } = arrival;
        let id = msg.id();
        let body = msg.body();
        if let Some(rec) = self.orecord(ops, &id)? {
            return Ok(if rec.has_content() {
                Inserted::Duplicate { seq: rec.seq }
            } else if rec.flags & WITHHELD != 0 {
                refused(
                    Reason::RevokedAuthor,
                    "this message was withheld here: its author's key is revoked",
                )
            } else {
                refused(Reason::Replayed, "this message was cancelled by its author")
            });
        }
        if self.oget_id(ops, Tree::Tombs, &id)?.is_some() {
            return Ok(refused(
                Reason::Replayed,
                "this message expired or was removed here and may not come back",
            ));
        }
        if let Some(exp) = body.expires_at
            && exp <= now
        {
            return Ok(refused(Reason::Expired, format!("expired at {exp}")));
        }
        let author = *body.author.as_bytes();
        if body.kind() != Kind::Revocation
            && let Some(r) = self.orevoked(ops, &author)?
            && body.created_at.0 >= r.from
        {
            return Ok(refused(
                Reason::RevokedAuthor,
                format!("the author's key is revoked from {}", Timestamp(r.from)),
            ));
        }

        // References: checked against the target when it is here, pending otherwise.
        if let Some(target) = body.target()
            && let Some(t) = self.orecord(ops, &target)?
        {
            if !matches!(t.kind, Kind::Alert | Kind::Call) {
                return Ok(refused(
                    Reason::BadReference,
                    format!("{} names a {}, not an alert or call", body.kind(), t.kind),
                ));
            }
            let by_author = self.oauthorized(ops, &author, &t.author)?;
            match &body.content {
                Content::Update(u) => {
                    if !by_author {
                        return Ok(refused(
                            Reason::NotAuthor,
                            "only the original author (or its successor) may update it",
                        ));
                    }
                    if u.content.kind() != t.kind {
                        return Ok(refused(
                            Reason::BadReference,
                            format!("an update of a {} must carry a {}", t.kind, t.kind),
                        ));
                    }
                    if !t.has_content() {
                        return Ok(refused(
                            Reason::Replayed,
                            "the message it updates was withdrawn",
                        ));
                    }
                }
                Content::Cancel(_) if !by_author => {
                    return Ok(refused(
                        Reason::NotAuthor,
                        "only the original author (or its successor) may cancel it",
                    ));
                }
                Content::Translation(_) if !t.has_content() => {
                    return Ok(refused(
                        Reason::Replayed,
                        "the message it translates was withdrawn",
                    ));
                }
                _ => {}
            }
        }

        // Accepted: the id has a record from here on (see `ids.rs`).
        self.ids.add(&id);
        let mut rec = Record::new(msg, seq);
        // Under embargo (a revocation never is): stored and logged for peers now; its effects
        // for readers wait for its release (`release_batch`).
        let embargoed = body.embargoed_at(now);
        ops.put(Tree::Meta, meta::LAST_SEQ, big_endian(seq));

        // A cancel that came before this original withdraws it on arrival.
        let pending_cancel = if matches!(body.kind(), Kind::Alert | Kind::Call) {
            self.pending_cancel(ops, &id, &author)?
        } else {
            None
        };
        if let Some(cancel) = pending_cancel {
            let rec = rec.stripped(CANCELLED, Some(cancel));
            ops.put(Tree::Msgs, id.as_bytes().as_slice(), rec.encode());
            if let Some(exp) = body.expires_at {
                ops.expire_at(exp.0, &id, seq);
            }
            self.add(ops, Tree::Meta, meta::N_TOMBSTONES, 1)?;
            self.withdraw_dependents(ops, &id, &author, cancel)?;
            return Ok(Inserted::Accepted { seq });
        }

        if embargoed {
            rec.flags |= PENDING;
            self.add(ops, Tree::Meta, meta::N_EMBARGOED, 1)?;
        }
        ops.put(Tree::Msgs, id.as_bytes().as_slice(), rec.encode());
        let at = match placed {
            Some(at) => at,
            None => self.bodies.append(&codec::body_parts(msg))?,
        };
        self.seg_add(ops, &at, seq)?;
        self.add(ops, Tree::Meta, meta::N_MESSAGES, 1)?;
        ops.log_put(
            seq,
            LogEntry {
                what: ACCEPTED,
                embargoed,
                id,
                body: Some(at),
                origin: match origin {
                    Origin::Local => Vec::new(),
                    Origin::Peer { peer, .. } => peer.as_bytes().to_vec(),
                },
            },
        );
        for (t, p) in prefixes {
            ops.post(*t, p.clone(), seq);
        }
        if let Some(exp) = body.expires_at {
            ops.expire_at(exp.0, &id, seq);
        }
        if embargoed && let Some(eff) = body.effective_at {
            ops.put(Tree::Embargo, codec::time_id(eff.0, &id), []);
        }
        if let Some(target) = body.target() {
            ops.put(
                Tree::Refs,
                concat(&[target.as_bytes(), &[body.kind().tag()], id.as_bytes()]),
                concat(&[&author, &big_endian(body.created_at.0)]),
            );
        }
        if !embargoed {
            self.take_effect(ops, msg)?;
        }
        // A revocation is a security action: in force at once (it is never under embargo).
        if let Content::Revocation(r) = &body.content {
            let in_force = self.orevoked(ops, &author)?;
            if in_force.as_ref().is_none_or(|f| r.revoked_from.0 < f.from) {
                let rev = Revoked {
                    from: r.revoked_from.0,
                    id,
                    successor: r.successor.map(|s| *s.as_bytes()),
                };
                ops.put(Tree::Revoked, author.as_slice(), rev.encode());
                self.withhold(ops, &author, r.revoked_from.0)?;
            }
        }
        Ok(Inserted::Accepted { seq })
    }

    /// Applies what a message changes for readers besides its own entry: an endorsement's
    /// tally, a profile's or roster's latest row, a cancel's withdrawal. On arrival, or at the
    /// release of a message that was under embargo (so readers see the effect and the message
    /// at the same seq, never the one before the other).
    fn take_effect(&self, ops: &mut Ops, msg: &Message) -> Result<(), StoreError> {
        let id = msg.id();
        let body = msg.body();
        let author = *body.author.as_bytes();
        match &body.content {
            Content::Endorsement(e) => {
                // The first endorsement by an author to take effect counts; later ones do not.
                let k = concat(&[e.target.as_bytes(), &author]);
                if self.oget(ops, Tree::Endorse, &k)?.is_none() {
                    ops.put(Tree::Endorse, k, id.as_bytes().as_slice());
                    self.add(ops, Tree::Tally, e.target.as_bytes(), 1)?;
                }
            }
            Content::Profile(_) | Content::Roster(_) => {
                ops.put(Tree::Latest, latest_key(msg), []);
            }
            Content::Cancel(c) => {
                if let Some(t) = self.orecord(ops, &c.target)?
                    && t.has_content()
                    && self.oauthorized(ops, &author, &t.author)?
                {
                    self.strip(ops, &c.target, &t, CANCELLED, Some(id))?;
                    self.withdraw_dependents(ops, &c.target, &t.author, id)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The id of a stored cancel of `target` by its author (or successor) in effect (released,
    /// if it was under embargo), if any.
    fn pending_cancel(
        &self,
        ops: &Ops,
        target: &Id,
        author: &[u8; 32],
    ) -> Result<Option<Id>, StoreError> {
        let prefix = concat(&[target.as_bytes(), &[Kind::Cancel.tag()]]);
        for (k, v) in self.oscan_prefix(ops, Tree::Refs, &prefix)? {
            let (Some(cancel), Some(by)) = (Id::from_slice(&k[33..]), v.get(..32)) else {
                return Err(self.corrupt("a reference row is unreadable"));
            };
            let by: [u8; 32] = by
                .try_into()
                .map_err(|_| self.corrupt("bad reference row"))?;
            // A cancel under embargo withdraws nothing before its release.
            if self.orecord(ops, &cancel)?.is_some_and(|r| r.pending()) {
                continue;
            }
            if self.oauthorized(ops, &by, author)? {
                return Ok(Some(cancel));
            }
        }
        Ok(None)
    }

    /// Withdraws the content that repeats a cancelled message: its author's updates and all
    /// translations.
    fn withdraw_dependents(
        &self,
        ops: &mut Ops,
        target: &Id,
        author: &[u8; 32],
        cancel: Id,
    ) -> Result<(), StoreError> {
        for kind in [Kind::Update, Kind::Translation] {
            let prefix = concat(&[target.as_bytes(), &[kind.tag()]]);
            for (k, v) in self.oscan_prefix(ops, Tree::Refs, &prefix)? {
                let id =
                    Id::from_slice(&k[33..]).ok_or_else(|| self.corrupt("bad reference row"))?;
                let by: [u8; 32] = v
                    .get(..32)
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| self.corrupt("bad reference row"))?;
                if kind == Kind::Update && !self.oauthorized(ops, &by, author)? {
                    continue;
                }
                if let Some(rec) = self.orecord(ops, &id)?
                    && rec.has_content()
                {
                    self.strip(ops, &id, &rec, CANCELLED, Some(cancel))?;
                }
            }
        }
        Ok(())
    }

    /// Withholds the messages by a revoked author made at or after `from`.
    fn withhold(&self, ops: &mut Ops, author: &[u8; 32], from: u64) -> Result<(), StoreError> {
        let mut seqs = Vec::new();
        for (_, v) in self.oscan_prefix(ops, Tree::IAuthor, author)? {
            seqs.extend(codec::postings(&v).ok_or_else(|| self.corrupt("bad index row"))?);
        }
        if let Some(planned) = ops.postings.get(&(Tree::IAuthor, author.to_vec())) {
            seqs.extend(planned);
        }
        let mut ids = Vec::new();
        for seq in seqs {
            if let Some(e) = self.olog(ops, seq)?
                && e.what == ACCEPTED
            {
                ids.push(e.id);
            }
        }
        for id in ids {
            if let Some(rec) = self.orecord(ops, &id)?
                && rec.has_content()
                && rec.kind != Kind::Revocation
                && rec.created_at >= from
            {
                self.strip(ops, &id, &rec, WITHHELD, None)?;
            }
        }
        Ok(())
    }

    /// Removes every row that serves a message's content: its log entries, index rows,
    /// embargo row, latest row, reference row and tally contribution, and takes its body off its
    /// segment's count. The record itself and its expiry row are the caller's.
    fn unindex(&self, ops: &mut Ops, id: &Id, rec: &Record) -> Result<(), StoreError> {
        if !rec.has_content() {
            return Ok(());
        }
        let at = match self.obody_ref(ops, id, rec) {
            Ok(at) => at,
            // No body to read: what the record knows is all there is.
            Err(StoreError::Corrupt { .. }) => return self.unindex_damaged(ops, id, rec),
            Err(e) => return Err(e),
        };
        self.seg_sub(ops, &at)?;
        let Some(msg) = self.body_at(id, rec.seq, &at)? else {
            return self.unindex_damaged(ops, id, rec);
        };
        let body = msg.body();
        let prefixes = codec::index_prefixes(&msg);
        for seq in [rec.seq, rec.release] {
            if seq == 0 {
                continue;
            }
            if self.olog(ops, seq)?.is_some() {
                ops.log_del(seq);
            }
            for (t, p) in &prefixes {
                self.unpost(ops, *t, p, seq)?;
            }
        }
        if let Some(eff) = body.effective_at {
            ops.del(Tree::Embargo, codec::time_id(eff.0, id));
        }
        if let Some(target) = body.target() {
            ops.del(
                Tree::Refs,
                concat(&[target.as_bytes(), &[body.kind().tag()], id.as_bytes()]),
            );
        }
        match &body.content {
            Content::Profile(_) | Content::Roster(_) => ops.del(Tree::Latest, latest_key(&msg)),
            Content::Endorsement(e) => {
                let k = concat(&[e.target.as_bytes(), body.author.as_bytes()]);
                if self.oget(ops, Tree::Endorse, &k)?.as_deref() == Some(id.as_bytes().as_slice()) {
                    ops.del(Tree::Endorse, k);
                    self.add(ops, Tree::Tally, e.target.as_bytes(), -1)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Withdraws a message's content, keeping its id (cancel, revocation).
    fn strip(
        &self,
        ops: &mut Ops,
        id: &Id,
        rec: &Record,
        flag: u8,
        cancel: Option<Id>,
    ) -> Result<(), StoreError> {
        self.unindex(ops, id, rec)?;
        if rec.pending() {
            // Withdrawn before its release: it never takes effect.
            self.add(ops, Tree::Meta, meta::N_EMBARGOED, -1)?;
        }
        ops.put(
            Tree::Msgs,
            id.as_bytes().as_slice(),
            rec.stripped(flag, cancel).encode(),
        );
        self.add(ops, Tree::Meta, meta::N_MESSAGES, -1)?;
        self.add(ops, Tree::Meta, meta::N_TOMBSTONES, 1)?;
        Ok(())
    }

    /// One batch of embargo releases due at `now`. Returns how many, and the generation.
    pub(super) fn release_batch(&self, now: Timestamp) -> Result<(usize, u64), StoreError> {
        let mut w = self.lock_writer()?;
        self.space.check_upkeep()?;
        let mut ops = Ops::default();
        let mut seq = w.last_seq;
        let mut n = 0;
        let end = codec::time_id(now.0, &Id([0xff; 32]));
        for kv in self.trees.get(Tree::Embargo).range(..=end).take(BATCH) {
            let (k, _) = kv.map_err(|e| self.sled_err(e))?;
            let (_, id) =
                codec::split_time_id(&k).ok_or_else(|| self.corrupt("bad embargo row"))?;
            ops.del(Tree::Embargo, k.to_vec());
            let Some(mut rec) = self.orecord(&ops, &id)? else {
                continue;
            };
            if !rec.has_content() {
                continue;
            }
            // A damaged body is released all the same, without index rows: its log entry says
            // the embargo is over, and the body that replaces it (`Store::repair`) is indexed
            // then.
            let msg = match self.obody_ref(&ops, &id, &rec) {
                Ok(at) => self.body_at(&id, rec.seq, &at)?,
                Err(StoreError::Corrupt { detail, .. }) => {
                    self.damage.found(id, rec.seq, &detail);
                    None
                }
                Err(e) => return Err(e),
            };
            let pending = rec.pending();
            seq += 1;
            n += 1;
            ops.log_put(
                seq,
                LogEntry {
                    what: RELEASED,
                    embargoed: false,
                    id,
                    body: None,
                    origin: Vec::new(),
                },
            );
            for (t, p) in msg.as_ref().map(codec::index_prefixes).unwrap_or_default() {
                ops.post(t, p, seq);
            }
            rec.release = seq;
            rec.flags &= !PENDING;
            ops.put(Tree::Msgs, id.as_bytes().as_slice(), rec.encode());
            if pending {
                // Its effects for readers come with it (a format 4 store wrote them on arrival).
                self.add(&mut ops, Tree::Meta, meta::N_EMBARGOED, -1)?;
                // A damaged body's effects (a tally, a withdrawal, a latest profile) cannot be
                // known here; it is released without them.
                if let Some(msg) = &msg {
                    self.take_effect(&mut ops, msg)?;
                }
            }
        }
        if seq > w.last_seq {
            ops.put(Tree::Meta, meta::LAST_SEQ, big_endian(seq));
        }
        self.commit(&mut w, &mut ops, seq)?;
        Ok((n, w.generation))
    }

    /// One batch of retention at `now`. Returns what it did, whether more is due, and the
    /// generation.
    pub(super) fn expire_batch(
        &self,
        now: Timestamp,
    ) -> Result<(ExpireStats, bool, u64), StoreError> {
        let mut w = self.lock_writer()?;
        self.space.check_upkeep()?;
        let mut ops = Ops::default();
        let mut stats = ExpireStats::default();
        let end = codec::time_id(now.0, &Id([0xff; 32]));
        // Rows whose minute has begun, until BATCH messages are due; what in them is not due
        // yet is put back.
        let mut due = Vec::new();
        let mut more_expiry = false;
        for kv in self.trees.get(Tree::Expiry).range(..=end.clone()) {
            if due.len() >= BATCH {
                more_expiry = true;
                break;
            }
            let (k, v) = kv.map_err(|e| self.sled_err(e))?;
            let entries = codec::expiries(&k, &v).ok_or_else(|| self.corrupt("bad expiry row"))?;
            let (now_due, later): (Vec<_>, Vec<_>) =
                entries.into_iter().partition(|(exp, _)| *exp <= now.0);
            if now_due.is_empty() {
                continue;
            }
            if later.is_empty() {
                ops.del(Tree::Expiry, k.to_vec());
            } else {
                let rest: Vec<u8> = later
                    .iter()
                    .flat_map(|(exp, id)| codec::time_id(*exp, id))
                    .collect();
                ops.put(Tree::Expiry, k.to_vec(), rest);
            }
            due.extend(now_due);
        }
        for (exp, id) in due {
            let Some(rec) = self.orecord(&ops, &id)? else {
                continue;
            };
            if rec.has_content() {
                self.unindex(&mut ops, &id, &rec)?;
                self.add(&mut ops, Tree::Meta, meta::N_MESSAGES, -1)?;
                if rec.pending() {
                    // Not released (`Store::expire` releases what is due first, so only a store
                    // that could not): gone without effect.
                    self.add(&mut ops, Tree::Meta, meta::N_EMBARGOED, -1)?;
                }
            } else {
                // Already a tombstone in all but name.
                self.add(&mut ops, Tree::Meta, meta::N_TOMBSTONES, -1)?;
            }
            ops.del(Tree::Msgs, id.as_bytes().as_slice());
            let drop_at = Timestamp(exp).plus(self.tombstone_keep).0;
            ops.put(Tree::Tombs, id.as_bytes().as_slice(), big_endian(drop_at));
            ops.put(Tree::TombGc, codec::time_id(drop_at, &id), []);
            self.add(&mut ops, Tree::Meta, meta::N_TOMBSTONES, 1)?;
            stats.expired += 1;
        }
        let gone: Vec<_> = self
            .trees
            .get(Tree::TombGc)
            .range(..=end)
            .take(BATCH)
            .collect::<Result<_, _>>()
            .map_err(|e| self.sled_err(e))?;
        let more_gc = gone.len() == BATCH;
        for (k, _) in &gone {
            let (_, id) =
                codec::split_time_id(k).ok_or_else(|| self.corrupt("bad tombstone row"))?;
            ops.del(Tree::TombGc, k.to_vec());
            ops.del(Tree::Tombs, id.as_bytes().as_slice());
            self.add(&mut ops, Tree::Meta, meta::N_TOMBSTONES, -1)?;
            stats.tombstones_dropped += 1;
        }
        let last = w.last_seq;
        self.commit(&mut w, &mut ops, last)?;
        Ok((stats, more_expiry || more_gc, w.generation))
    }
}

/// `kind tag ‖ author ‖ created_at ‖ id`.
fn latest_key(msg: &Message) -> Vec<u8> {
    let body = msg.body();
    concat(&[
        &[body.kind().tag()],
        body.author.as_bytes(),
        &big_endian(body.created_at.0),
        msg.id().as_bytes(),
    ])
}

/// Messages to insert, from one caller.
pub(super) struct InsertJob {
    /// The caller's handle on the store, let go before the answer is sent.
    inner: Arc<Inner>,
    msgs: Vec<(Message, Origin)>,
    prefixes: Vec<Prefixes>,
    now: Timestamp,
    /// Refusals of the same batch to keep for another try.
    keep: Keep,
    /// Answered once the outcomes are durable (by the flusher, see `commit.rs`).
    reply: oneshot::Sender<Result<Vec<Inserted>, StoreError>>,
}

/// A unit of work for the writer thread.
pub(super) enum Job {
    /// Inserts: the writer joins those waiting in its queue into one transaction.
    Insert(InsertJob),
    /// Anything else that writes (release, retention), run alone.
    Run(Box<dyn FnOnce() + Send>),
}

/// At most this many messages go into one transaction.
const GROUP_MAX: usize = 1024;

/// The writer thread's loop: runs jobs in arrival order until every sender is gone.
///
/// One thread does every write, so writes never contend for the writer lock, and callers wait
/// asynchronously for its answer and then for the flush. Inserts that queued up while it was
/// busy are done together as one transaction: under load, sled's per-transaction cost is paid
/// once per group, not once per message.
pub(super) fn run_writer(jobs: std::sync::mpsc::Receiver<Job>) {
    let mut next = None;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        match job {
            Job::Run(f) => f(),
            Job::Insert(first) => {
                let mut n = first.msgs.len();
                let mut group = vec![first];
                while n < GROUP_MAX {
                    match jobs.try_recv() {
                        Ok(Job::Insert(more)) => {
                            n += more.msgs.len();
                            group.push(more);
                        }
                        Ok(other) => {
                            next = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                insert_group(group);
            }
        }
    }
}

/// Runs a group of insert jobs as one transaction and answers each.
fn insert_group(group: Vec<InsertJob>) {
    let inner = group[0].inner.clone();
    let batches: Vec<Group<'_>> = group
        .iter()
        .map(|j| (j.msgs.as_slice(), j.prefixes.as_slice(), j.now, &j.keep))
        .collect();
    let result = inner.insert_groups(&batches);
    if result.is_err() {
        inner.bodies.discard();
        // The followers whose entries failed resume from their durable cursor; what they
        // queued behind this group must not move it past what failed.
        let mut stalled = inner.stalled.lock().unwrap_or_else(|p| p.into_inner());
        for (msgs, _, _, _) in &batches {
            for (_, origin) in msgs.iter() {
                if let Origin::Peer { peer, cursor } = origin
                    && *cursor > 0
                {
                    stalled.insert(peer.clone());
                }
            }
        }
    }
    drop(batches);
    let commit = inner.commit.clone();
    drop(inner);
    let mut replies = Vec::with_capacity(group.len());
    for job in group {
        // Let go of the store before answering: the caller may drop its last handle and
        // reopen the directory as soon as it has the answer.
        drop(job.inner);
        replies.push(job.reply);
    }
    match result {
        Ok((outcomes, g)) => {
            // Answered when durable, by whichever thread makes it so: each caller is woken
            // once, with its outcomes, instead of once by the writer and again by the flush.
            let answers: Vec<_> = replies.into_iter().zip(outcomes).collect();
            commit.answer_when_durable(
                g,
                Box::new(move |durable| {
                    for (reply, out) in answers {
                        let _ = reply.send(match &durable {
                            Ok(()) => Ok(out),
                            Err(e) => Err(e.copy()),
                        });
                    }
                }),
            );
        }
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.copy()));
            }
        }
    }
}

/// Messages handed to the writer: see [`Store::submit_many`].
#[derive(Debug)]
pub struct Submitted {
    store: Store,
    rx: oneshot::Receiver<Result<Vec<Inserted>, StoreError>>,
    /// The messages handed over, held until the answer: the writer then only lets go of its
    /// references, and the caller's thread frees them.
    _held: Vec<Message>,
}

impl Submitted {
    /// Waits until the messages are written and durable; outcomes in the order given.
    pub async fn durable(self) -> Result<Vec<Inserted>, StoreError> {
        self.rx.await.map_err(|_| self.store.writer_gone())?
    }
}

impl Store {
    fn send_job(&self, inner: &Inner, job: Job) -> Result<(), StoreError> {
        inner
            .jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job)
            .map_err(|_| self.writer_gone())
    }

    fn writer_gone(&self) -> StoreError {
        StoreError::Closed {
            dir: self.dir().to_path_buf(),
            detail: "the writer stopped".to_string(),
        }
    }

    /// Runs `f` on the writer thread and waits for its answer. Also returns the committer of
    /// the store it ran on, which is the one to wait on for the generation it answers (the
    /// store may reopen meanwhile, with generations of its own).
    pub(super) async fn on_writer<X: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<X, StoreError> + Send + 'static,
    ) -> Result<(X, Arc<super::commit::Committer>), StoreError> {
        let (tx, rx) = oneshot::channel();
        let inner = self.inner()?;
        let commit = inner.commit.clone();
        let job_inner = inner.clone();
        self.send_job(
            &inner,
            Job::Run(Box::new(move || {
                let out = f(&job_inner);
                // Let go of the store before answering (see `insert_group`).
                drop(job_inner);
                let _ = tx.send(out);
            })),
        )?;
        drop(inner);
        let out = rx.await.map_err(|_| self.writer_gone())??;
        Ok((out, commit))
    }

    /// Inserts a message if its id is not known, atomically across every tree (record, log
    /// entry, indexes, tallies, and the peer's cursor when it came from a peer). Resolves only
    /// when the result is durable; concurrent inserts share one flush (group commit).
    ///
    /// The message must be verified and validated already: the store checks only what needs
    /// its state (duplicates, tombstones, revocations, authorship of updates and cancels).
    pub async fn insert(
        &self,
        msg: &Message,
        origin: Origin,
        now: Timestamp,
    ) -> Result<Inserted, StoreError> {
        let mut v = self.insert_many(vec![(msg.clone(), origin)], now).await?;
        v.pop()
            .ok_or_else(|| StoreError::corrupt(self.dir(), "an insert produced no outcome"))
    }

    /// Inserts many messages (a follower's batch, a streaming publisher): one transaction
    /// for all (shared with other inserts waiting at the same time), one flush. Outcomes are
    /// in the order of `msgs`.
    pub async fn insert_many(
        &self,
        msgs: Vec<(Message, Origin)>,
        now: Timestamp,
    ) -> Result<Vec<Inserted>, StoreError> {
        self.submit_many(msgs, now)?.durable().await
    }

    /// Hands messages to the writer now, in the order of the calls, and returns what resolves
    /// as [`Store::insert_many`] does. A caller can verify its next batch while this one is
    /// written and flushed, and still have its batches stored in the order it submitted them.
    pub fn submit_many(
        &self,
        msgs: Vec<(Message, Origin)>,
        now: Timestamp,
    ) -> Result<Submitted, StoreError> {
        self.submit_keeping(msgs, Keep::default(), now)
    }

    /// [`Store::submit_many`], keeping refusals of the same batch for another try (a
    /// follower's: see `retry.rs`) in the same transaction: durable when the answer comes, and
    /// never after a cursor that moved past them. With no messages, `keep` is written alone.
    pub fn submit_keeping(
        &self,
        msgs: Vec<(Message, Origin)>,
        keep: Keep,
        now: Timestamp,
    ) -> Result<Submitted, StoreError> {
        let (reply, rx) = oneshot::channel();
        let prefixes = msgs.iter().map(|(m, _)| codec::index_prefixes(m)).collect();
        let held = msgs.iter().map(|(m, _)| m.clone()).collect();
        let inner = self.inner()?;
        self.send_job(
            &inner,
            Job::Insert(InsertJob {
                inner: inner.clone(),
                msgs,
                prefixes,
                now,
                keep,
                reply,
            }),
        )?;
        Ok(Submitted {
            store: self.clone(),
            rx,
            _held: held,
        })
    }

    /// Embargo release: appends a reader-view entry (a new seq) for each message whose
    /// effective_at is at or before `now`. Durable before it returns.
    pub async fn release_due(&self, now: Timestamp) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let ((n, g), commit) = self
                .on_writer(move |inner| inner.release_batch(now))
                .await?;
            commit.wait(g).await?;
            total += n;
            if n < BATCH {
                return Ok(total);
            }
        }
    }

    /// Retention: removes messages expired at `now` with all their rows, leaving tombstones,
    /// and forgets tombstones whose time is up. Durable before it returns.
    ///
    /// What is due for release at `now` is released first: a message expires after its
    /// effective_at, so an embargoed cancel (say) takes effect before it goes, even on a node
    /// that was down through both times.
    pub async fn expire(&self, now: Timestamp) -> Result<ExpireStats, StoreError> {
        self.release_due(now).await?;
        let mut total = ExpireStats::default();
        loop {
            let ((s, more, g), commit) =
                self.on_writer(move |inner| inner.expire_batch(now)).await?;
            commit.wait(g).await?;
            total.expired += s.expired;
            total.tombstones_dropped += s.tombstones_dropped;
            if !more {
                break;
            }
        }
        self.reclaim_bodies().await?;
        Ok(total)
    }

    /// Gives back the body log's space: segments with no live body are deleted once the
    /// transaction that says so is durable, and mostly dead ones are compacted first.
    async fn reclaim_bodies(&self) -> Result<(), StoreError> {
        loop {
            let ((gone, moved, more, g), commit) =
                self.on_writer(|inner| inner.reclaim_batch()).await?;
            commit.wait(g).await?;
            let inner = self.inner()?;
            for seg in &gone {
                inner.bodies.remove(*seg)?;
            }
            if gone.is_empty() && moved == 0 && !more {
                return Ok(());
            }
        }
    }
}

/// A sealed body segment whose live bytes fall below this share of its size is compacted.
const COMPACT_BELOW: f64 = 0.5;

impl Inner {
    /// One step of reclaiming body log space: deletes the rows of segments with no live body
    /// (their files go once that is durable), and moves the live bodies of mostly dead
    /// segments to the end of the log, at most [`BATCH`] per call. Returns the segments to
    /// delete, how many bodies moved, whether more is due, and the generation.
    fn reclaim_batch(&self) -> Result<(Vec<u64>, usize, bool, u64), StoreError> {
        let mut w = self.lock_writer()?;
        let current = self.bodies.current();
        let mut ops = Ops::default();
        let mut gone = Vec::new();
        let mut moved = 0;
        let mut more = false;
        let rows: Vec<_> = self
            .trees
            .get(Tree::Segs)
            .iter()
            .collect::<Result<_, _>>()
            .map_err(|e| self.sled_err(e))?;
        for (k, v) in rows {
            let (Some(seg), Some(row)) = (codec::read_u64(&k), SegRow::decode(&v)) else {
                return Err(self.corrupt("a body segment row is unreadable"));
            };
            if seg >= current {
                continue;
            }
            if row.live == 0 {
                ops.del(Tree::Segs, k.to_vec());
                gone.push(seg);
                continue;
            }
            if moved >= BATCH {
                more = true;
                continue;
            }
            if row.live as f64 >= COMPACT_BELOW * self.bodies.size(seg)? as f64 {
                continue;
            }
            // Moving live bodies writes them again first: only with room to spare.
            if self.space.check(row.live).is_err() {
                continue;
            }
            for e in self.log_range(row.min_seq, row.max_seq)? {
                let (seq, e) = e?;
                let Some(at) = e.body.filter(|b| b.seg == seg) else {
                    continue;
                };
                // Moved verbatim: damage moves with it and is found on read. A body missing
                // from the segment stays counted there (noted, to be fetched again).
                let bytes = match self.bodies.read(&at) {
                    Ok(b) => b,
                    Err(StoreError::Corrupt { detail, .. }) => {
                        self.damage.found(e.id, seq, &detail);
                        continue;
                    }
                    Err(err) => return Err(err),
                };
                let new = self.bodies.append(&[&bytes])?;
                self.seg_sub(&mut ops, &at)?;
                self.seg_add(&mut ops, &new, seq)?;
                ops.log_put(
                    seq,
                    LogEntry {
                        body: Some(new),
                        ..e
                    },
                );
                moved += 1;
                if moved >= BATCH {
                    more = true;
                    break;
                }
            }
        }
        let last = w.last_seq;
        if let Err(e) = self.commit(&mut w, &mut ops, last) {
            self.bodies.discard();
            return Err(e);
        }
        Ok((gone, moved, more, w.generation))
    }

    /// Moves a peer's cursor forward (never back) without storing a message.
    fn advance_cursor_batch(&self, peer: &str, cursor: u64) -> Result<u64, StoreError> {
        let mut w = self.lock_writer()?;
        self.space.check_upkeep()?;
        let mut ops = Ops::default();
        let k = peer.as_bytes();
        let old = match self.oget(&ops, Tree::Cursors, k)? {
            Some(v) => codec::read_u64(&v).unwrap_or(0),
            None => 0,
        };
        if cursor > old {
            ops.put(Tree::Cursors, k, big_endian(cursor));
        }
        let last = w.last_seq;
        self.commit(&mut w, &mut ops, last)?;
        Ok(w.generation)
    }
}

impl Store {
    /// A follower (re)starting: the peer's durable cursor, from which it follows. Inserts
    /// move the peer's cursor again from here on, if a failed one had stopped them.
    pub fn resume_cursor(&self, peer: &str) -> Result<u64, StoreError> {
        self.inner()?
            .stalled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(peer);
        self.cursor(peer)
    }

    /// Moves a peer's cursor forward past entries that brought nothing to store (duplicates,
    /// refusals, entries filtered out), durably. A cursor never moves back.
    pub async fn advance_cursor(&self, peer: &str, cursor: u64) -> Result<(), StoreError> {
        // Usually the last message of the follower's batch brought the cursor this far in the
        // transaction that stored it: nothing to write, and no reason to queue behind the
        // writer's other work (the follower's next batch waits for this answer).
        if self.cursor(peer)? >= cursor {
            return Ok(());
        }
        let peer = peer.to_string();
        let (g, commit) = self
            .on_writer(move |inner| inner.advance_cursor_batch(&peer, cursor))
            .await?;
        commit.wait(g).await
    }
}
