//! The typed transaction view: every row of the store by what it means (a record, the
//! references to a message, a revocation, a log entry, index postings, expiry and embargo rows,
//! segment rows, cursors, tallies, counters), read through the writes planned so far.
//!
//! The rules (`rules.rs`), the writer (`writer.rs`), maintenance (`maintain.rs`), repair and the
//! check plan their writes in a [`Rows`]; the read path uses one with nothing planned, so each
//! reader exists once. Rows come from a [`Backing`]: the sled trees and body log of an open
//! store, or [`Memory`] in tests, so the rules run without sled. Keys and values are encoded by
//! `codec.rs`: this view changes no byte of the store format.

use std::collections::BTreeMap;

use sled::IVec;

use super::bodies::{BodyRef, SegRow};
use super::codec::{
    self, Committed, LogEntry, Prefixes, Record, Reference, Revoked, RotationRow, Tree, big_endian,
    concat, meta,
};
use super::{Inner, PeerLog, ShownBeforeCancel, StoreError};
use crate::message::{Id, Kind, Message};

/// A minute, in milliseconds: the rows of [`Tree::Newest`] are at most one per minute.
const MINUTE_MS: u64 = 60_000;

/// How long a row of [`Tree::Newest`] is kept after a newer one bounds more: the longest a
/// call (and so an update of one) may live, so what a listing may show is always bounded.
fn newest_kept_ms() -> u64 {
    crate::message::max_lifetime(Kind::Call).map_or(u64::MAX, |d| d.as_millis() as u64)
}

/// A row of [`Tree::Newest`]: its key (a seq) and its bound.
pub(super) fn newest_row((k, v): &Row) -> Option<(u64, u64)> {
    Some((codec::read_u64(k)?, codec::read_u64(v)?))
}

/// A row: its key and value.
pub(super) type Row = (IVec, IVec);

/// Rows read one after the other, in key order.
pub(super) type RowIter<'a> = Box<dyn Iterator<Item = Result<Row, StoreError>> + 'a>;

/// Where a [`Rows`] view reads what is stored: the trees, the body log, the filter of held ids
/// and the damage noted.
pub(super) trait Backing {
    /// The value of `key` in `tree`.
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<IVec>, StoreError>;
    /// The last row of `tree` keyed in `lo..=hi`.
    fn last_in(&self, tree: Tree, lo: &[u8], hi: &[u8]) -> Result<Option<Row>, StoreError>;
    /// The rows of `tree` keyed up to `end` (all of them with `None`), in key order.
    fn rows_until<'a>(&'a self, tree: Tree, end: Option<&[u8]>) -> RowIter<'a>;
    /// The rows of `tree` under `prefix`, in key order.
    fn scan_prefix(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<Row>, StoreError>;
    /// An error saying what in the store is damaged.
    fn corrupt(&self, what: String) -> StoreError;
    /// Whether a row keyed by `id`, or a reference row naming it, may be stored (`false`:
    /// certainly not, see `ids.rs`).
    fn may_hold(&self, id: &Id) -> bool;
    /// Notes that `id` has a row from now on.
    fn hold(&self, id: &Id);
    /// Appends a message's signature and body to the body log; written with the transaction.
    fn append_body(&self, msg: &Message) -> Result<BodyRef, StoreError>;
    /// The signature and body at `at`.
    fn read_body(&self, at: &BodyRef) -> Result<Vec<u8>, StoreError>;
    /// Notes that the body of `id` (at `seq`) is damaged (see `damage.rs`).
    fn found_damaged(&self, id: Id, seq: u64, detail: &str);
    /// A message with a damaged body is gone from here: there is nothing to fetch again.
    fn gone_damaged(&self, id: &Id);
}

/// A view of the store's rows through the writes a transaction has planned.
pub(super) struct Rows<'a> {
    backing: &'a dyn Backing,
    /// Rows to write (`None`: to delete), by tree and key.
    writes: BTreeMap<(Tree, Vec<u8>), Option<IVec>>,
    /// Seqs to list under each index prefix: joined to its last row or one new row when
    /// settled (see [`Rows::settle_postings`]).
    postings: BTreeMap<(Tree, Vec<u8>), Vec<u64>>,
    /// Messages to expire, by minute: the seq of the first, and `(expires_at ‖ id)*`. One
    /// expiry row per minute when settled (see `codec::expiry_key`).
    expiries: BTreeMap<u64, (u64, Vec<u8>)>,
    /// Log entries to write (`None`: to delete), by seq. Made into log rows when settled
    /// (see [`Rows::settle_log`]).
    log: BTreeMap<u64, Option<LogEntry>>,
    /// Seqs whose stored entries the transaction deletes: the cache of recent messages forgets
    /// them once it is applied.
    forget: Vec<u64>,
    /// The first seq this transaction placed a message at and the newest `created_at` of those
    /// it placed (see [`Rows::note_placed`]).
    placed: Option<(u64, u64)>,
}

impl std::fmt::Debug for Rows<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rows")
            .field("writes", &self.writes.len())
            .field("log", &self.log.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Rows<'a> {
    /// A view with nothing planned.
    pub(super) fn new(backing: &'a dyn Backing) -> Self {
        Rows {
            backing,
            writes: BTreeMap::new(),
            postings: BTreeMap::new(),
            expiries: BTreeMap::new(),
            log: BTreeMap::new(),
            forget: Vec::new(),
            placed: None,
        }
    }

    /// What the view reads from.
    pub(super) fn backing(&self) -> &'a dyn Backing {
        self.backing
    }

    pub(super) fn corrupt(&self, what: impl Into<String>) -> StoreError {
        self.backing.corrupt(what.into())
    }

    // Rows by key, for what has no typed method (the retry set, the check's rebuild).

    /// The value of `key` in `tree`, as planned.
    pub(super) fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<IVec>, StoreError> {
        if let Some(v) = self.writes.get(&(tree, key.to_vec())) {
            return Ok(v.clone());
        }
        self.backing.get(tree, key)
    }

    /// Plans writing `value` at `key`.
    pub(super) fn put(&mut self, tree: Tree, key: impl Into<Vec<u8>>, value: impl AsRef<[u8]>) {
        self.writes
            .insert((tree, key.into()), Some(IVec::from(value.as_ref())));
    }

    /// Plans deleting `key`.
    pub(super) fn delete(&mut self, tree: Tree, key: impl Into<Vec<u8>>) {
        self.writes.insert((tree, key.into()), None);
    }

    /// The rows of `tree` under `prefix`, in key order, as planned (a group of messages sees
    /// what the earlier ones in it will write).
    fn scan_prefix(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<Row>, StoreError> {
        let mut rows: BTreeMap<IVec, IVec> = self
            .backing
            .scan_prefix(tree, prefix)?
            .into_iter()
            .collect();
        for ((planned_tree, key), value) in self.writes.range((tree, prefix.to_vec())..) {
            if *planned_tree != tree || !key.starts_with(prefix) {
                break;
            }
            match value {
                Some(v) => rows.insert(IVec::from(key.as_slice()), v.clone()),
                None => rows.remove(key.as_slice()),
            };
        }
        Ok(rows.into_iter().collect())
    }

    /// A counter (0 when absent), as planned.
    pub(super) fn counter(&self, tree: Tree, key: &[u8]) -> Result<u64, StoreError> {
        match self.get(tree, key)? {
            None => Ok(0),
            Some(v) => codec::read_u64(&v).ok_or_else(|| self.corrupt("a counter is unreadable")),
        }
    }

    /// Adds `delta` to a counter. A counter outside `meta` that comes to 0 is deleted.
    pub(super) fn add_to_counter(
        &mut self,
        tree: Tree,
        key: &[u8],
        delta: i64,
    ) -> Result<(), StoreError> {
        let new = self.counter(tree, key)?.saturating_add_signed(delta);
        if new == 0 && tree != Tree::Meta {
            self.delete(tree, key);
        } else {
            self.put(tree, key, big_endian(new));
        }
        Ok(())
    }

    /// Adds `delta` to one of the store's counts (`meta::N_*`).
    pub(super) fn add_to_count(&mut self, key: &[u8], delta: i64) -> Result<(), StoreError> {
        self.add_to_counter(Tree::Meta, key, delta)
    }

    /// Sets the last seq handed out.
    pub(super) fn set_last_seq(&mut self, seq: u64) {
        self.put(Tree::Meta, meta::LAST_SEQ, big_endian(seq));
    }

    // Records and tombstones.

    /// A row keyed by id. An id the filter of held ids has never been given has none (every
    /// planned row's id was given to it first), and costs no lookup.
    fn by_id(&self, tree: Tree, id: &Id) -> Result<Option<IVec>, StoreError> {
        if !self.backing.may_hold(id) {
            return Ok(None);
        }
        self.get(tree, id.as_bytes())
    }

    /// The record of `id`.
    pub(super) fn record(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        match self.by_id(Tree::Msgs, id)? {
            None => Ok(None),
            Some(v) => Record::decode(&v)
                .map(Some)
                .ok_or_else(|| self.corrupt(format!("the record of {id} is unreadable"))),
        }
    }

    /// Plans writing the record of `id`.
    pub(super) fn put_record(&mut self, id: &Id, record: &Record) {
        self.put(Tree::Msgs, id.as_bytes().as_slice(), record.encode());
    }

    /// Plans deleting the record of `id`.
    pub(super) fn delete_record(&mut self, id: &Id) {
        self.delete(Tree::Msgs, id.as_bytes().as_slice());
    }

    /// Notes that `id` has a row from now on (see `ids.rs`).
    pub(super) fn hold(&self, id: &Id) {
        self.backing.hold(id);
    }

    /// Whether `id` is remembered after its message went (expired or removed).
    pub(super) fn is_tombstone(&self, id: &Id) -> Result<bool, StoreError> {
        Ok(self.by_id(Tree::Tombs, id)?.is_some())
    }

    /// Plans remembering `id` until `drop_at`.
    pub(super) fn put_tombstone(&mut self, id: &Id, drop_at: u64) {
        self.put(Tree::Tombs, id.as_bytes().as_slice(), big_endian(drop_at));
        self.put(Tree::TombGc, codec::time_id(drop_at, id), []);
    }

    /// Plans forgetting a tombstone, by its row in the collection list (`drop_at ‖ id`).
    pub(super) fn delete_tombstone(&mut self, gc_key: &[u8], id: &Id) {
        self.delete(Tree::TombGc, gc_key);
        self.delete(Tree::Tombs, id.as_bytes().as_slice());
    }

    // Revocations and references.

    /// The revocation in force for an author.
    pub(super) fn revocation(&self, author: &[u8; 32]) -> Result<Option<Revoked>, StoreError> {
        match self.get(Tree::Revoked, author)? {
            None => Ok(None),
            Some(v) => Revoked::decode(&v)
                .map(Some)
                .ok_or_else(|| self.corrupt("a revocation row is unreadable")),
        }
    }

    /// Plans putting a revocation in force for an author.
    pub(super) fn put_revocation(&mut self, author: &[u8; 32], revoked: &Revoked) {
        self.put(Tree::Revoked, author.as_slice(), revoked.encode());
    }

    /// The recovery commitments held for `key`, earliest (created_at, id) first: the first is
    /// in force.
    pub(super) fn commitments(&self, key: &[u8; 32]) -> Result<Vec<Committed>, StoreError> {
        self.scan_prefix(Tree::Commitments, key)?
            .iter()
            .map(|(k, v)| Committed::decode(k, v).ok_or_else(|| self.corrupt("bad commitment row")))
            .collect()
    }

    /// Plans a recovery commitment of `key`.
    pub(super) fn put_commitment(&mut self, key: &[u8; 32], c: &Committed) {
        self.put(Tree::Commitments, c.key(key), c.encode_value());
    }

    /// Plans deleting `key`'s commitment `id`, made at `created_at`.
    pub(super) fn delete_commitment(&mut self, key: &[u8; 32], created_at: u64, id: &Id) {
        self.delete(Tree::Commitments, Committed::key_of(key, created_at, id));
    }

    /// Every rotation held that names `compromised`, by id.
    pub(super) fn rotations(&self, compromised: &[u8; 32]) -> Result<Vec<RotationRow>, StoreError> {
        self.scan_prefix(Tree::Rotations, compromised)?
            .iter()
            .map(|(k, v)| RotationRow::decode(k, v).ok_or_else(|| self.corrupt("bad rotation row")))
            .collect()
    }

    /// Plans a rotation naming `compromised`.
    pub(super) fn put_rotation(&mut self, compromised: &[u8; 32], r: &RotationRow) {
        self.put(Tree::Rotations, r.key(compromised), r.encode_value());
    }

    /// The keys `successor` carries on for (a rotation in force or a revocation names it).
    pub(super) fn predecessors(&self, successor: &[u8; 32]) -> Result<Vec<[u8; 32]>, StoreError> {
        self.scan_prefix(Tree::Successors, successor)?
            .iter()
            .map(|(k, _)| {
                k.get(32..64)
                    .and_then(|p| p.try_into().ok())
                    .ok_or_else(|| self.corrupt("bad successor row"))
            })
            .collect()
    }

    /// Plans noting that `successor` carries on for `predecessor`.
    pub(super) fn put_successor(&mut self, successor: &[u8; 32], predecessor: &[u8; 32]) {
        self.put(Tree::Successors, concat(&[successor, predecessor]), []);
    }

    /// Plans forgetting that `successor` carries on for `predecessor`.
    pub(super) fn delete_successor(&mut self, successor: &[u8; 32], predecessor: &[u8; 32]) {
        self.delete(Tree::Successors, concat(&[successor, predecessor]));
    }

    /// The messages of `kind` that name `target`, in key order (by id). An id the filter of
    /// held ids has never been given is named by none (every reference row's target was
    /// given to it first), and costs no lookup.
    pub(super) fn references(&self, target: &Id, kind: Kind) -> Result<Vec<Reference>, StoreError> {
        if !self.backing.may_hold(target) {
            return Ok(Vec::new());
        }
        self.scan_prefix(Tree::Refs, &codec::reference_prefix(target, kind))?
            .iter()
            .map(|(k, v)| Reference::decode(k, v).ok_or_else(|| self.corrupt("bad reference row")))
            .collect()
    }

    /// Plans the reference row of a message of `kind` naming `target`.
    pub(super) fn put_reference(&mut self, target: &Id, kind: Kind, reference: &Reference) {
        self.backing.hold(target);
        self.put(
            Tree::Refs,
            codec::reference_key(target, kind, &reference.id),
            reference.encode_value(),
        );
    }

    /// Plans deleting the reference row of message `id`, of `kind`, naming `target`.
    pub(super) fn delete_reference(&mut self, target: &Id, kind: Kind, id: &Id) {
        self.delete(Tree::Refs, codec::reference_key(target, kind, id));
    }

    /// The updates the cancel of `original` withdrew that readers had seen, oldest first.
    pub(super) fn withdrawn(&self, original: &Id) -> Result<Vec<Reference>, StoreError> {
        self.scan_prefix(Tree::Withdrawn, original.as_bytes())?
            .iter()
            .map(|(k, v)| {
                codec::decode_withdrawn(k, v).ok_or_else(|| self.corrupt("bad withdrawn row"))
            })
            .collect()
    }

    /// What readers had seen of `original` when its cancel withdrew it, if they had. A row
    /// that does not decode (damaged, or of a later format) is as none: it only places the
    /// cancel in filtered feeds, and `node check` reports it.
    pub(super) fn shown(&self, original: &Id) -> Result<Option<ShownBeforeCancel>, StoreError> {
        Ok(self
            .get(Tree::Shown, original.as_bytes())?
            .and_then(|v| codec::decode_shown(&v)))
    }

    /// Plans noting what readers had seen of `original`, which its cancel withdraws.
    pub(super) fn put_shown(&mut self, original: &Id, shown: &ShownBeforeCancel) {
        self.put(
            Tree::Shown,
            original.as_bytes().as_slice(),
            codec::encode_shown(shown),
        );
    }

    /// Plans noting that the cancel of `original` withdrew `update`, which readers had seen.
    pub(super) fn put_withdrawn(&mut self, original: &Id, update: &Reference) {
        self.put(
            Tree::Withdrawn,
            codec::withdrawn_key(original, update.created_at, &update.id),
            update.author,
        );
    }

    /// Plans forgetting the versions the cancel of `original` withdrew, and what readers had
    /// seen of it (its record goes).
    pub(super) fn delete_withdrawn(&mut self, original: &Id) -> Result<(), StoreError> {
        for (k, _) in self.scan_prefix(Tree::Withdrawn, original.as_bytes())? {
            self.delete(Tree::Withdrawn, k.to_vec());
        }
        self.delete(Tree::Shown, original.as_bytes().as_slice());
        Ok(())
    }

    /// The target named by message `id` of `kind`, found by a walk of every stored reference
    /// (for a message whose body cannot be read: damage is rare).
    pub(super) fn target_of(&self, kind: Kind, id: &Id) -> Result<Option<Id>, StoreError> {
        let suffix = concat(&[&[kind.tag()], id.as_bytes()]);
        for row in self.backing.rows_until(Tree::Refs, None) {
            let (k, _) = row?;
            if k.len() == 65 && k[32..] == suffix[..] {
                return Ok(Id::from_slice(&k[..32]));
            }
        }
        Ok(None)
    }

    // Endorsements, tallies, latest profiles and rosters.

    /// Whether an endorsement by `author` of `target` is counted already.
    pub(super) fn has_counted_endorsement(
        &self,
        target: &Id,
        author: &[u8; 32],
    ) -> Result<bool, StoreError> {
        Ok(self
            .get(Tree::Endorse, &codec::endorsement_key(target, author))?
            .is_some())
    }

    /// Whether `id` is the endorsement counted for `author` in `target`'s tally.
    pub(super) fn counts_endorsement(
        &self,
        target: &Id,
        author: &[u8; 32],
        id: &Id,
    ) -> Result<bool, StoreError> {
        Ok(self
            .get(Tree::Endorse, &codec::endorsement_key(target, author))?
            .is_some_and(|v| v == id.as_bytes().as_slice()))
    }

    /// Plans counting endorsement `id` by `author` in `target`'s tally.
    pub(super) fn count_endorsement(
        &mut self,
        target: &Id,
        author: &[u8; 32],
        id: &Id,
    ) -> Result<(), StoreError> {
        self.put(
            Tree::Endorse,
            codec::endorsement_key(target, author),
            id.as_bytes(),
        );
        self.add_tally(target.as_bytes(), 1)
    }

    /// Plans taking `author`'s counted endorsement off `target`'s tally.
    pub(super) fn uncount_endorsement(
        &mut self,
        target: &Id,
        author: &[u8; 32],
    ) -> Result<(), StoreError> {
        self.delete(Tree::Endorse, codec::endorsement_key(target, author));
        self.add_tally(target.as_bytes(), -1)
    }

    /// Adds `delta` to the tally of a target (by its id's bytes, as the tree keys it).
    pub(super) fn add_tally(&mut self, target: &[u8], delta: i64) -> Result<(), StoreError> {
        self.add_to_counter(Tree::Tally, target, delta)
    }

    /// Plans a profile's or roster's row among its author's.
    pub(super) fn put_latest(&mut self, kind: Kind, author: &[u8; 32], created_at: u64, id: &Id) {
        self.put(
            Tree::Latest,
            codec::latest_key(kind, author, created_at, id),
            [],
        );
    }

    /// Plans deleting a profile's or roster's row.
    pub(super) fn delete_latest(
        &mut self,
        kind: Kind,
        author: &[u8; 32],
        created_at: u64,
        id: &Id,
    ) {
        self.delete(
            Tree::Latest,
            codec::latest_key(kind, author, created_at, id),
        );
    }

    // Work lists: embargo and expiry.

    /// Plans `id`'s release at `effective_at`.
    pub(super) fn put_embargo(&mut self, effective_at: u64, id: &Id) {
        self.put(Tree::Embargo, codec::time_id(effective_at, id), []);
    }

    /// Plans deleting `id`'s embargo row at `effective_at`.
    pub(super) fn delete_embargo(&mut self, effective_at: u64, id: &Id) {
        self.delete(Tree::Embargo, codec::time_id(effective_at, id));
    }

    /// Plans deleting every embargo row of `id`, found by a walk of the embargo tree (which
    /// holds only the embargoes not yet released: small).
    pub(super) fn delete_embargoes_of(&mut self, id: &Id) -> Result<(), StoreError> {
        let mut found = Vec::new();
        for row in self.backing.rows_until(Tree::Embargo, None) {
            let (k, _) = row?;
            if k.get(8..) == Some(id.as_bytes().as_slice()) {
                found.push(k.to_vec());
            }
        }
        for k in found {
            self.delete(Tree::Embargo, k);
        }
        Ok(())
    }

    /// Plans the expiry of the message `id`, stored at `seq`.
    pub(super) fn expire_at(&mut self, expires_at: u64, id: &Id, seq: u64) {
        let (_, entries) = self
            .expiries
            .entry(codec::expiry_minute(expires_at))
            .or_insert_with(|| (seq, Vec::new()));
        entries.extend_from_slice(&codec::time_id(expires_at, id));
    }

    // The log and its index rows.

    /// The log row holding `seq` (the last one keyed at or before it): its key and value, as
    /// stored.
    pub(super) fn log_row_at(&self, seq: u64) -> Result<Option<(u64, IVec)>, StoreError> {
        let Some((k, v)) = self
            .backing
            .last_in(Tree::Log, &big_endian(0), &big_endian(seq))?
        else {
            return Ok(None);
        };
        let key = codec::read_u64(&k).ok_or_else(|| self.corrupt("a log key is unreadable"))?;
        Ok(Some((key, v)))
    }

    /// The log entry at `seq`, as planned.
    pub(super) fn log_entry(&self, seq: u64) -> Result<Option<LogEntry>, StoreError> {
        if let Some(planned) = self.log.get(&seq) {
            return Ok(planned.clone());
        }
        let unreadable = || self.corrupt(format!("log entry {seq} is unreadable"));
        let Some((key, v)) = self.log_row_at(seq)? else {
            return Ok(None);
        };
        match codec::LogRow::new(key, &v)
            .find(seq)
            .ok_or_else(unreadable)?
        {
            None => Ok(None),
            Some(b) => LogEntry::decode(b).map(Some).ok_or_else(unreadable),
        }
    }

    /// Plans the log entry at `seq`.
    pub(super) fn put_log_entry(&mut self, seq: u64, entry: LogEntry) {
        self.log.insert(seq, Some(entry));
    }

    /// Notes that the entry planned at the new `seq` places, for readers, a message of `kind`
    /// created at `created_at` (an acceptance, a release, a repair's entry): the bound of
    /// [`Tree::Newest`] must cover it when it can rank a listing's item (an alert, a call, an
    /// update). Other kinds do not move it: a profile dated ten minutes ahead, say, would
    /// otherwise keep every listing reading that far back.
    pub(super) fn note_placed(&mut self, seq: u64, kind: Kind, created_at: u64) {
        if !matches!(kind, Kind::Alert | Kind::Call | Kind::Update) {
            return;
        }
        let (first, newest) = self.placed.get_or_insert((seq, created_at));
        *first = (*first).min(seq);
        *newest = (*newest).max(created_at);
    }

    /// Plans deleting the log entry at `seq`.
    pub(super) fn delete_log_entry(&mut self, seq: u64) {
        self.log.insert(seq, None);
    }

    /// Plans listing `seq` under every index prefix of a message.
    pub(super) fn post_all(&mut self, prefixes: &Prefixes, seq: u64) {
        for (tree, prefix) in prefixes {
            self.postings
                .entry((*tree, prefix.clone()))
                .or_default()
                .push(seq);
        }
    }

    /// Plans taking `seq` off the index rows of `prefix` (the row keyed at or before it).
    pub(super) fn unpost(&mut self, tree: Tree, prefix: &[u8], seq: u64) -> Result<(), StoreError> {
        if let Some(planned) = self.postings.get_mut(&(tree, prefix.to_vec()))
            && let Some(at) = planned.iter().position(|s| *s == seq)
        {
            planned.remove(at);
            return Ok(());
        }
        let Some((key, value)) = self.index_row_at(tree, prefix, seq)? else {
            return Ok(());
        };
        let mut seqs = codec::postings(&value).ok_or_else(|| self.corrupt("bad index row"))?;
        let Some(at) = seqs.iter().position(|s| *s == seq) else {
            return Ok(());
        };
        seqs.remove(at);
        if seqs.is_empty() {
            self.delete(tree, key);
        } else {
            self.put(tree, key, codec::pack_postings(&seqs));
        }
        Ok(())
    }

    /// Every seq listed under an index prefix, stored or planned.
    pub(super) fn posted(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<u64>, StoreError> {
        let mut seqs = Vec::new();
        for (_, v) in self.scan_prefix(tree, prefix)? {
            seqs.extend(codec::postings(&v).ok_or_else(|| self.corrupt("bad index row"))?);
        }
        if let Some(planned) = self.postings.get(&(tree, prefix.to_vec())) {
            seqs.extend(planned);
        }
        Ok(seqs)
    }

    /// The row under an index prefix keyed at or before `seq` (the one that lists it, if any
    /// does), as planned; `None` when there is none, or when the one stored is deleted.
    fn index_row_at(
        &self,
        tree: Tree,
        prefix: &[u8],
        seq: u64,
    ) -> Result<Option<(Vec<u8>, IVec)>, StoreError> {
        let lo = concat(&[prefix, &big_endian(0)]);
        let hi = concat(&[prefix, &big_endian(seq)]);
        let stored = self
            .backing
            .last_in(tree, &lo, &hi)?
            .map(|(k, v)| (k.to_vec(), Some(v)));
        let planned = self
            .writes
            .range((tree, lo)..=(tree, hi))
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

    // Bodies and their segments.

    /// Appends a message's signature and body to the body log.
    pub(super) fn append_body(&self, msg: &Message) -> Result<BodyRef, StoreError> {
        self.backing.append_body(msg)
    }

    /// The signature and body at `at`, as stored.
    pub(super) fn read_body(&self, at: &BodyRef) -> Result<Vec<u8>, StoreError> {
        self.backing.read_body(at)
    }

    /// Notes that the body of `id` (at `seq`) is damaged.
    pub(super) fn found_damaged(&self, id: Id, seq: u64, detail: &str) {
        self.backing.found_damaged(id, seq, detail);
    }

    /// Where the body of a record whose content is held is, as planned.
    pub(super) fn body_ref(&self, id: &Id, record: &Record) -> Result<BodyRef, StoreError> {
        self.log_entry(record.seq)?
            .and_then(|e| e.body)
            .ok_or_else(|| self.corrupt(format!("the body of {id} is missing")))
    }

    /// The message held for `id` (its record `record`), without noting damage: `None` when its
    /// body is damaged or missing. For a look before a write that reads the same body again
    /// and notes what it finds.
    pub(super) fn peek_message(
        &self,
        id: &Id,
        record: &Record,
    ) -> Result<Option<Message>, StoreError> {
        let body = self
            .body_ref(id, record)
            .and_then(|at| self.backing.read_body(&at));
        match body {
            Ok(v) => Ok(codec::decode_body(*id, &v).ok()),
            Err(StoreError::Corrupt { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The message whose body is at `at`, checked against its id. `None` when it is damaged or
    /// missing: noted under `seq` (see `damage.rs`), so one damaged body never fails the
    /// transaction it is read in.
    pub(super) fn message_at(
        &self,
        id: &Id,
        seq: u64,
        at: &BodyRef,
    ) -> Result<Option<Message>, StoreError> {
        let v = match self.backing.read_body(at) {
            Ok(v) => v,
            Err(StoreError::Corrupt { detail, .. }) => {
                self.found_damaged(*id, seq, &detail);
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        match codec::decode_body(*id, &v) {
            Ok(m) => Ok(Some(m)),
            Err(detail) => {
                self.found_damaged(*id, seq, &detail);
                Ok(None)
            }
        }
    }

    /// A body segment's row.
    fn segment(&self, seg: u64) -> Result<Option<SegRow>, StoreError> {
        match self.get(Tree::Segs, &big_endian(seg))? {
            None => Ok(None),
            Some(v) => SegRow::decode(&v)
                .map(Some)
                .ok_or_else(|| self.corrupt("a body segment row is unreadable")),
        }
    }

    /// Counts a body written for `seq` in its segment's row.
    pub(super) fn count_body(&mut self, at: &BodyRef, seq: u64) -> Result<(), StoreError> {
        let row = self.segment(at.seg)?;
        self.put(
            Tree::Segs,
            big_endian(at.seg),
            SegRow::add(row, seq, u64::from(at.len)).encode(),
        );
        Ok(())
    }

    /// Takes a body that is no longer live off its segment's count.
    pub(super) fn uncount_body(&mut self, at: &BodyRef) -> Result<(), StoreError> {
        if let Some(mut row) = self.segment(at.seg)? {
            row.live = row.live.saturating_sub(u64::from(at.len));
            self.put(Tree::Segs, big_endian(at.seg), row.encode());
        }
        Ok(())
    }

    // Cursors.

    /// The peer's seq up to which this node holds its log (0 if never followed).
    pub(super) fn cursor(&self, peer: &str) -> Result<u64, StoreError> {
        match self.get(Tree::Cursors, peer.as_bytes())? {
            None => Ok(0),
            Some(v) => codec::read_u64(&v).ok_or_else(|| self.corrupt("bad cursor")),
        }
    }

    /// Plans moving a peer's cursor to `cursor`, if that is forward.
    pub(super) fn move_cursor(&mut self, peer: &str, cursor: u64) -> Result<(), StoreError> {
        // An unreadable cursor is overwritten: the follower's next batch says where it is.
        let old = match self.get(Tree::Cursors, peer.as_bytes())? {
            Some(v) => codec::read_u64(&v).unwrap_or(0),
            None => 0,
        };
        if cursor > old {
            self.put(Tree::Cursors, peer.as_bytes(), big_endian(cursor));
        }
        Ok(())
    }

    /// The peer's log its cursor belongs to, if one was recorded (`None` for a cursor from
    /// before log ids, or a peer never followed).
    pub(super) fn peer_log(&self, peer: &str) -> Result<Option<PeerLog>, StoreError> {
        match self.get(Tree::PeerLogs, peer.as_bytes())? {
            None => Ok(None),
            Some(v) => PeerLog::decode(&v)
                .map(Some)
                .ok_or_else(|| self.corrupt("bad peer log row")),
        }
    }

    /// Plans recording which log of the peer its cursor belongs to (the cursor unmoved).
    pub(super) fn put_peer_log(&mut self, peer: &str, log: PeerLog) {
        self.put(Tree::PeerLogs, peer.as_bytes(), log.encode());
    }

    /// Plans starting the peer's cursor again at 0, in the log `log`: the one way a cursor goes
    /// back (the peer's log changed; see `federation/log_change.rs`).
    pub(super) fn reset_cursor(&mut self, peer: &str, log: PeerLog) {
        self.put(Tree::Cursors, peer.as_bytes(), big_endian(0));
        self.put_peer_log(peer, log);
    }

    // Settling: the planned postings, expiries and log entries made into rows.

    /// Turns what is planned into plain writes: index rows, expiry rows and log rows, the
    /// entries of seqs from `first_new` on (handed out by this transaction) as new log rows.
    pub(super) fn settle(&mut self, first_new: u64) -> Result<(), StoreError> {
        self.settle_postings()?;
        self.settle_expiries();
        self.settle_newest()?;
        self.settle_log(first_new)
    }

    /// The bound of [`Tree::Newest`] on every message placed below `seq`, if a row gives one.
    pub(super) fn newest_before(&self, seq: u64) -> Result<Option<u64>, StoreError> {
        let Some(below) = seq.checked_sub(1) else {
            return Ok(None);
        };
        // An unreadable row bounds nothing: the walk stops as if the store kept no bound.
        Ok(self
            .backing
            .last_in(Tree::Newest, &[], &big_endian(below))?
            .and_then(|row| newest_row(&row))
            .map(|(_, m)| m))
    }

    /// Raises the bound on what the log holds to the newest message this transaction placed,
    /// when it is newer than the bound. Row `k → m` says that every message placed below the
    /// next row's key (below the head, for the last row) was created at `m` or before: the
    /// last row's bound is raised in place while `m` stays in one minute, and a new row keyed
    /// by this transaction's first placed seq starts otherwise (the rows before keep bounding
    /// what is below it). Rows older than anything a listing may still show go, one per row
    /// added, so the tree stays bounded. An unreadable row is deleted, never a reason to
    /// refuse a write: what it bounded may then be bounded too low, and a walk through there
    /// stops where it stopped before the bound (sooner, never later).
    fn settle_newest(&mut self) -> Result<(), StoreError> {
        let Some((first, newest)) = self.placed.take() else {
            return Ok(());
        };
        let backing = self.backing;
        let last = backing.last_in(Tree::Newest, &[], &[0xff; 8])?;
        match last.as_ref().map(|row| (row, newest_row(row))) {
            Some((_, Some((_, m)))) if m >= newest => return Ok(()),
            Some((_, Some((k, m)))) if m / MINUTE_MS == newest / MINUTE_MS => {
                self.put(Tree::Newest, big_endian(k), big_endian(newest));
                return Ok(());
            }
            Some((row, None)) => self.delete(Tree::Newest, row.0.to_vec()),
            _ => {}
        }
        self.put(Tree::Newest, big_endian(first), big_endian(newest));
        if let Some(oldest) = backing.rows_until(Tree::Newest, None).next() {
            let oldest = oldest?;
            let stale = newest_row(&oldest)
                .is_none_or(|(_, m)| m.saturating_add(newest_kept_ms()) < newest);
            if stale && last.as_ref().is_none_or(|l| l.0 != oldest.0) {
                self.delete(Tree::Newest, oldest.0.to_vec());
            }
        }
        Ok(())
    }

    /// Whether nothing is to be written.
    pub(super) fn is_empty(&self) -> bool {
        self.writes.is_empty()
            && self.postings.is_empty()
            && self.expiries.is_empty()
            && self.log.is_empty()
    }

    /// The settled writes, in tree and key order (`None`: delete).
    pub(super) fn writes(&self) -> impl Iterator<Item = (Tree, &[u8], Option<&IVec>)> + '_ {
        self.writes
            .iter()
            .map(|((tree, key), value)| (*tree, key.as_slice(), value.as_ref()))
    }

    /// The seqs whose stored log entries the writes delete.
    pub(super) fn forgotten(&self) -> &[u64] {
        &self.forget
    }

    /// Turns the planned expiries into expiry rows, one per minute.
    fn settle_expiries(&mut self) {
        for (minute, (first, entries)) in std::mem::take(&mut self.expiries) {
            self.put(Tree::Expiry, codec::expiry_key(minute, first), entries);
        }
    }

    /// Turns the planned postings into index rows. A prefix's new seqs (all after every seq it
    /// lists) join its last row while that row has room for them, and start a row keyed by
    /// their first otherwise: small transactions (unary publishing) then rewrite a short row
    /// instead of adding a key to the tree per prefix, each new key a share of a node split.
    /// Readers take the rows keyed at or before a seq as they did (see `read::index_range`).
    fn settle_postings(&mut self) -> Result<(), StoreError> {
        for ((tree, prefix), seqs) in std::mem::take(&mut self.postings) {
            let Some(first) = seqs.first().copied() else {
                continue;
            };
            // A run that could not fit beside even one listed seq needs no lookup.
            let mut joined = None;
            if seqs.len() < codec::POSTINGS_JOIN_MAX
                && let Some((key, value)) = self.index_row_at(tree, &prefix, u64::MAX)?
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
            self.put(tree, key, codec::pack_postings(&listed));
        }
        Ok(())
    }

    /// Turns the planned log entries into log rows (see [`codec::LogRow`]): the entries of seqs
    /// from `first_new` on become new rows of up to [`codec::LOG_ROW_MAX`]; a change to an
    /// older seq rewrites the row holding it (deleting the row once it holds nothing).
    fn settle_log(&mut self, first_new: u64) -> Result<(), StoreError> {
        let bad = || self.backing.corrupt("a log row is unreadable".into());
        let planned = std::mem::take(&mut self.log);
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
                self.forget.push(seq);
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
            self.put(Tree::Log, big_endian(key), codec::LogRow::encode(key, run));
        }
        for (key, entries) in old {
            if entries.is_empty() {
                self.delete(Tree::Log, big_endian(key));
            } else {
                let entries: Vec<(u64, Vec<u8>)> = entries.into_iter().collect();
                self.put(
                    Tree::Log,
                    big_endian(key),
                    codec::LogRow::encode(key, &entries),
                );
            }
        }
        Ok(())
    }
}

impl Inner {
    /// A view of the stored rows, with nothing planned.
    pub(super) fn rows(&self) -> Rows<'_> {
        Rows::new(self)
    }
}

/// The open store: its sled trees, body log, filter of held ids and damage list.
impl Backing for Inner {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<IVec>, StoreError> {
        self.trees.get(tree).get(key).map_err(|e| self.sled_err(e))
    }

    fn last_in(&self, tree: Tree, lo: &[u8], hi: &[u8]) -> Result<Option<Row>, StoreError> {
        self.trees
            .get(tree)
            .range(lo..=hi)
            .next_back()
            .transpose()
            .map_err(|e| self.sled_err(e))
    }

    fn rows_until<'a>(&'a self, tree: Tree, end: Option<&[u8]>) -> RowIter<'a> {
        let tree = self.trees.get(tree);
        let rows = match end {
            Some(end) => tree.range(..=end.to_vec()),
            None => tree.iter(),
        };
        Box::new(rows.map(|row| row.map_err(|e| self.sled_err(e))))
    }

    fn scan_prefix(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<Row>, StoreError> {
        self.trees
            .get(tree)
            .scan_prefix(prefix)
            .collect::<Result<_, _>>()
            .map_err(|e| self.sled_err(e))
    }

    fn corrupt(&self, what: String) -> StoreError {
        StoreError::corrupt(&self.dir, what)
    }

    fn may_hold(&self, id: &Id) -> bool {
        self.ids.may_hold(id)
    }

    fn hold(&self, id: &Id) {
        self.ids.add(id);
    }

    fn append_body(&self, msg: &Message) -> Result<BodyRef, StoreError> {
        self.bodies.append(&codec::body_parts(msg))
    }

    fn read_body(&self, at: &BodyRef) -> Result<Vec<u8>, StoreError> {
        self.bodies.read(at)
    }

    fn found_damaged(&self, id: Id, seq: u64, detail: &str) {
        self.damage.found(id, seq, detail);
    }

    fn gone_damaged(&self, id: &Id) {
        self.damage.settled(id, false);
    }
}

/// A store in memory, for the rules' tests: a map per tree, bodies in a list.
#[cfg(test)]
#[derive(Debug, Default)]
pub(super) struct Memory {
    trees: std::cell::RefCell<BTreeMap<Tree, BTreeMap<Vec<u8>, IVec>>>,
    bodies: std::cell::RefCell<Vec<Vec<u8>>>,
    /// Ids noted as damaged, in the order noted.
    pub(super) damaged: std::cell::RefCell<Vec<Id>>,
    /// The ids given to the filter: an exact one, so a rule that writes a row keyed by an id
    /// it did not hold first (or a reference naming one) fails its tests.
    held: std::cell::RefCell<std::collections::HashSet<Id>>,
}

#[cfg(test)]
impl Memory {
    /// Settles what `rows` planned (`first_new`: the first seq it handed out) and applies it.
    pub(super) fn commit(&self, mut rows: Rows<'_>, first_new: u64) -> Result<(), StoreError> {
        rows.settle(first_new)?;
        let mut trees = self.trees.borrow_mut();
        for (tree, key, value) in rows.writes() {
            if value.is_some() && matches!(tree, Tree::Msgs | Tree::Tombs | Tree::Refs) {
                let id = key.get(..32).and_then(Id::from_slice).expect("an id");
                assert!(
                    self.held.borrow().contains(&id),
                    "a {} row keyed by {id}, never held",
                    tree.name()
                );
            }
            let tree = trees.entry(tree).or_default();
            match value {
                Some(v) => tree.insert(key.to_vec(), v.clone()),
                None => tree.remove(key),
            };
        }
        Ok(())
    }

    /// How many rows `tree` holds.
    pub(super) fn len(&self, tree: Tree) -> usize {
        self.trees.borrow().get(&tree).map_or(0, BTreeMap::len)
    }

    /// Damages the body at `at` (flips its last byte).
    pub(super) fn damage_body(&self, at: &BodyRef) {
        if let Some(b) = self.bodies.borrow_mut().get_mut(at.off as usize)
            && let Some(last) = b.last_mut()
        {
            *last ^= 1;
        }
    }

    fn rows(&self, tree: Tree) -> Vec<Row> {
        self.trees.borrow().get(&tree).map_or_else(Vec::new, |t| {
            t.iter()
                .map(|(k, v)| (IVec::from(k.as_slice()), v.clone()))
                .collect()
        })
    }
}

#[cfg(test)]
impl Backing for Memory {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<IVec>, StoreError> {
        Ok(self
            .trees
            .borrow()
            .get(&tree)
            .and_then(|t| t.get(key).cloned()))
    }

    fn last_in(&self, tree: Tree, lo: &[u8], hi: &[u8]) -> Result<Option<Row>, StoreError> {
        Ok(self.trees.borrow().get(&tree).and_then(|t| {
            t.range(lo.to_vec()..=hi.to_vec())
                .next_back()
                .map(|(k, v)| (IVec::from(k.as_slice()), v.clone()))
        }))
    }

    fn rows_until<'a>(&'a self, tree: Tree, end: Option<&[u8]>) -> RowIter<'a> {
        let rows = self.rows(tree);
        let end = end.map(<[u8]>::to_vec);
        Box::new(
            rows.into_iter()
                .filter(move |(k, _)| end.as_ref().is_none_or(|e| k.as_ref() <= e.as_slice()))
                .map(Ok),
        )
    }

    fn scan_prefix(&self, tree: Tree, prefix: &[u8]) -> Result<Vec<Row>, StoreError> {
        Ok(self
            .rows(tree)
            .into_iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .collect())
    }

    fn corrupt(&self, what: String) -> StoreError {
        StoreError::corrupt(std::path::Path::new("(memory)"), what)
    }

    fn may_hold(&self, id: &Id) -> bool {
        self.held.borrow().contains(id)
    }

    fn hold(&self, id: &Id) {
        self.held.borrow_mut().insert(*id);
    }

    fn append_body(&self, msg: &Message) -> Result<BodyRef, StoreError> {
        let mut bodies = self.bodies.borrow_mut();
        let bytes = codec::body_parts(msg).concat();
        let at = BodyRef {
            seg: 0,
            off: bodies.len() as u64,
            len: u32::try_from(bytes.len()).map_err(|_| self.corrupt("body too long".into()))?,
        };
        bodies.push(bytes);
        Ok(at)
    }

    fn read_body(&self, at: &BodyRef) -> Result<Vec<u8>, StoreError> {
        usize::try_from(at.off)
            .ok()
            .and_then(|off| self.bodies.borrow().get(off).cloned())
            .ok_or_else(|| self.corrupt(format!("no body at {}", at.off)))
    }

    fn found_damaged(&self, id: Id, _seq: u64, _detail: &str) {
        self.damaged.borrow_mut().push(id);
    }

    fn gone_damaged(&self, _id: &Id) {}
}
