//! Damage while the node runs: a damaged body replaced by a good copy from a peer, messages
//! that `node check --repair` dropped taken off the list once fetched, and what the writer does
//! when it must withdraw or expire a message whose body is damaged.
//!
//! A replaced body gets a **new seq**: its old entries (accepted, and released if it was
//! embargoed) go, and one accepted entry at the head of the log points to the good bytes. Every
//! reader that passed the old seq while the body was damaged skipped it; at the new seq every
//! subscription, the web gateway's snapshot and every peer following this node meet it, as they
//! meet any new entry. A peer that already holds it counts a duplicate. Nothing keyed by id
//! (record, references, tallies, tombstones, expiry) changes: they were made from the good body
//! when it first arrived.

use tracing::warn;

use super::Ops;
use crate::message::{Id, Kind, Message};
use crate::store::codec::{self, ACCEPTED, LogEntry, Record, Tree, big_endian, concat, meta};
use crate::store::{Inner, Store, StoreError};

/// What became of a good copy handed to [`Store::repair`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// The damaged body was replaced; the message is served again, at this new seq.
    Replaced {
        /// The new seq.
        seq: u64,
    },
    /// The stored body reads back sound: nothing to replace.
    Sound,
    /// The message is not held with its content here (any more): nothing to replace.
    Gone,
}

impl Inner {
    /// Replaces the body of a held message with `msg`'s, at a new seq (see the module docs).
    /// Returns what it did and the generation to wait for.
    fn repair_batch(&self, msg: &Message) -> Result<(Repair, u64), StoreError> {
        let mut w = self.lock_writer()?;
        let mut ops = Ops::default();
        let id = msg.id();
        let Some(mut rec) = self.orecord(&ops, &id)?.filter(Record::has_content) else {
            return Ok((Repair::Gone, w.generation));
        };
        // An unreadable log row is no reason to keep the message unserved: it gets a new
        // entry all the same.
        let old = match self.log_entry(rec.seq) {
            Ok(e) => e.filter(|e| e.what == ACCEPTED && e.id == id),
            Err(StoreError::Corrupt { .. }) => None,
            Err(e) => return Err(e),
        };
        if let Some(at) = old.as_ref().and_then(|e| e.body)
            && let Ok(v) = self.bodies.read(&at)
            && codec::decode_body(id, &v).is_ok()
        {
            return Ok((Repair::Sound, w.generation));
        }
        let seq = w.last_seq + 1;
        let at = self.bodies.append(&codec::body_parts(msg))?;
        self.seg_add(&mut ops, &at, seq)?;
        let prefixes = codec::index_prefixes(msg);
        // Still under embargo while its embargo row waits for the release task.
        let embargoed = match msg.body().effective_at {
            Some(eff) => self
                .oget(&ops, Tree::Embargo, &codec::time_id(eff.0, &id))?
                .is_some(),
            None => false,
        };
        let origin = old.as_ref().map(|e| e.origin.clone()).unwrap_or_default();
        if let Some(old_at) = old.as_ref().and_then(|e| e.body) {
            self.seg_sub(&mut ops, &old_at)?;
        }
        for s in [rec.seq, rec.release] {
            if s == 0 {
                continue;
            }
            if self.olog(&ops, s).ok().flatten().is_some() {
                ops.log_del(s);
            }
            for (t, p) in &prefixes {
                self.unpost(&mut ops, *t, p, s)?;
            }
        }
        ops.log_put(
            seq,
            LogEntry {
                what: ACCEPTED,
                embargoed,
                id,
                body: Some(at),
                origin,
            },
        );
        for (t, p) in prefixes {
            ops.post(t, p, seq);
        }
        rec.seq = seq;
        rec.release = 0;
        ops.put(Tree::Msgs, id.as_bytes().as_slice(), rec.encode());
        ops.put(Tree::Meta, meta::LAST_SEQ, big_endian(seq));
        if let Err(e) = self.commit(&mut w, &mut ops, seq) {
            self.bodies.discard();
            return Err(e);
        }
        Ok((Repair::Replaced { seq }, w.generation))
    }

    /// Takes an id off the list of dropped messages to fetch again (`meta::REFETCH`).
    fn unlist_refetch(&self, id: &Id) -> Result<u64, StoreError> {
        let mut w = self.lock_writer()?;
        let mut ops = Ops::default();
        if let Some(v) = self.oget(&ops, Tree::Meta, meta::REFETCH)? {
            let rest: Vec<u8> = v
                .chunks_exact(32)
                .filter(|c| *c != id.as_bytes())
                .flatten()
                .copied()
                .collect();
            if rest.len() != v.len() {
                if rest.is_empty() {
                    ops.del(Tree::Meta, meta::REFETCH);
                } else {
                    ops.put(Tree::Meta, meta::REFETCH, rest);
                }
            }
        }
        let last = w.last_seq;
        self.commit(&mut w, &mut ops, last)?;
        Ok(w.generation)
    }

    /// [`Inner::unindex`] for a message whose body is damaged or missing (a cancel, revocation
    /// or expiry must not fail for it): removes what its record and a search of the reference
    /// and embargo trees find — its log entries, author and kind index rows, latest row,
    /// embargo row, reference row and tally contribution. Its topic, country and language
    /// index rows cannot be known without the body: they stay, listing seqs with no log entry,
    /// which every read skips, until `tocsin node check --repair` rebuilds the indexes.
    pub(super) fn unindex_damaged(
        &self,
        ops: &mut Ops,
        id: &Id,
        rec: &Record,
    ) -> Result<(), StoreError> {
        let sled = |e| StoreError::sled(&self.dir, e);
        let kind = [rec.kind.tag()];
        for seq in [rec.seq, rec.release] {
            if seq == 0 {
                continue;
            }
            if self.olog(ops, seq).ok().flatten().is_some() {
                ops.log_del(seq);
            }
            self.unpost(ops, Tree::IAuthor, &rec.author, seq)?;
            self.unpost(ops, Tree::IKind, &kind, seq)?;
        }
        if matches!(rec.kind, Kind::Profile | Kind::Roster) {
            ops.del(
                Tree::Latest,
                concat(&[
                    &kind,
                    &rec.author,
                    &big_endian(rec.created_at),
                    id.as_bytes(),
                ]),
            );
        }
        // The embargo tree holds only the embargoes not yet released: small.
        for k in self.trees.get(Tree::Embargo).iter().keys() {
            let k = k.map_err(sled)?;
            if k.get(8..) == Some(id.as_bytes().as_slice()) {
                ops.del(Tree::Embargo, k.to_vec());
            }
        }
        // The reference row names the target (a walk of the tree: damage is rare).
        if matches!(
            rec.kind,
            Kind::Update | Kind::Cancel | Kind::Endorsement | Kind::Translation
        ) {
            let suffix = concat(&[&kind, id.as_bytes()]);
            let mut found = None;
            for k in self.trees.get(Tree::Refs).iter().keys() {
                let k = k.map_err(sled)?;
                if k.len() == 65 && k[32..] == suffix[..] {
                    found = Some(k.to_vec());
                    break;
                }
            }
            if let Some(k) = found {
                let target = k[..32].to_vec();
                ops.del(Tree::Refs, k);
                if rec.kind == Kind::Endorsement {
                    let ek = concat(&[&target, &rec.author]);
                    if self.oget(ops, Tree::Endorse, &ek)?.as_deref()
                        == Some(id.as_bytes().as_slice())
                    {
                        ops.del(Tree::Endorse, ek);
                        self.add(ops, Tree::Tally, &target, -1)?;
                    }
                }
            }
        }
        warn!(
            seq = rec.seq,
            id = %id,
            "a message with a damaged body was withdrawn or expired: its topic, country and language index rows stay until `tocsin node check --repair`"
        );
        // Gone from here: nothing to fetch again.
        self.damage.settled(id, false);
        Ok(())
    }
}

impl Store {
    /// Replaces the damaged body of a held message with a good copy (from a peer), durably,
    /// at a new seq (see `store/write/repair.rs`). The copy must be verified already: the
    /// store checks only that it is the message it holds under that id. Takes the id off
    /// [`Store::wanted`] whatever the answer.
    pub async fn repair(&self, msg: &Message) -> Result<Repair, StoreError> {
        let copy = msg.clone();
        let ((done, g), commit) = self
            .on_writer(move |inner| inner.repair_batch(&copy))
            .await?;
        commit.wait(g).await?;
        self.shared
            .damage
            .settled(&msg.id(), matches!(done, Repair::Replaced { .. }));
        if let Repair::Replaced { seq } = done {
            tracing::info!(seq, id = %msg.id(), "damaged message replaced by a good copy from a peer");
        }
        Ok(done)
    }

    /// Takes a message that is not held (dropped by `node check --repair`) off
    /// [`Store::wanted`], durably: `fetched` when it came back through ingest (counted as
    /// repaired), or not, when there is no point asking again (it expired, or was refused).
    pub async fn settle_wanted(&self, id: &Id, fetched: bool) -> Result<(), StoreError> {
        let key = *id;
        let (g, commit) = self
            .on_writer(move |inner| inner.unlist_refetch(&key))
            .await?;
        commit.wait(g).await?;
        self.shared.damage.settled(id, fetched);
        Ok(())
    }
}
