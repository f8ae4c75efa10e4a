//! Damage while the node runs: a damaged body replaced by a good copy from a peer, messages
//! that `node check --repair` dropped taken off the list once fetched, and (in `rules.rs`,
//! `unindex_damaged`) what the writer does when it must withdraw or expire a message whose body
//! is damaged.
//!
//! A replaced body gets a **new seq**: its old entries (accepted, and released if it was
//! embargoed) go, and one accepted entry at the head of the log points to the good bytes. Every
//! reader that passed the old seq while the body was damaged skipped it; at the new seq every
//! subscription, the web gateway's snapshot and every peer following this node meet it, as they
//! meet any new entry. A peer that already holds it counts a duplicate. Nothing keyed by id
//! (record, references, tallies, tombstones, expiry) changes: they were made from the good body
//! when it first arrived.

use super::codec::{self, ACCEPTED, LogEntry, Record, Tree, meta};
use super::{Inner, Store, StoreError};
use crate::message::{Id, Message};

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
        let mut rows = self.rows();
        let id = msg.id();
        let Some(mut rec) = rows.record(&id)?.filter(Record::has_content) else {
            return Ok((Repair::Gone, w.generation));
        };
        // An unreadable log row is no reason to keep the message unserved: it gets a new
        // entry all the same.
        let old = match rows.log_entry(rec.seq) {
            Ok(e) => e.filter(|e| e.what == ACCEPTED && e.id == id),
            Err(StoreError::Corrupt { .. }) => None,
            Err(e) => return Err(e),
        };
        if let Some(at) = old.as_ref().and_then(|e| e.body)
            && let Ok(v) = rows.read_body(&at)
            && codec::decode_body(id, &v).is_ok()
        {
            return Ok((Repair::Sound, w.generation));
        }
        let seq = w.last_seq + 1;
        let at = rows.append_body(msg)?;
        rows.count_body(&at, seq)?;
        let prefixes = codec::index_prefixes(msg);
        // Still under embargo until its release (by its own hour, or held for its target's).
        let embargoed = rec.pending();
        let origin = old.as_ref().map(|e| e.origin.clone()).unwrap_or_default();
        if let Some(old_at) = old.as_ref().and_then(|e| e.body) {
            rows.uncount_body(&old_at)?;
        }
        for s in [rec.seq, rec.release] {
            if s == 0 {
                continue;
            }
            if rows.log_entry(s).ok().flatten().is_some() {
                rows.delete_log_entry(s);
            }
            for (tree, prefix) in &prefixes {
                rows.unpost(*tree, prefix, s)?;
            }
        }
        rows.put_log_entry(seq, LogEntry::accepted(id, at, embargoed, origin));
        rows.note_placed(seq, msg.kind(), msg.body().created_at.0);
        rows.post_all(&prefixes, seq);
        rec.seq = seq;
        rec.release = 0;
        rows.put_record(&id, &rec);
        rows.set_last_seq(seq);
        if let Err(e) = self.commit(&mut w, rows, seq) {
            self.bodies.discard();
            return Err(e);
        }
        Ok((Repair::Replaced { seq }, w.generation))
    }

    /// Takes an id off the list of dropped messages to fetch again (`meta::REFETCH`).
    fn unlist_refetch(&self, id: &Id) -> Result<u64, StoreError> {
        let mut w = self.lock_writer()?;
        let mut rows = self.rows();
        if let Some(v) = rows.get(Tree::Meta, meta::REFETCH)? {
            let rest: Vec<u8> = v
                .chunks_exact(32)
                .filter(|c| *c != id.as_bytes())
                .flatten()
                .copied()
                .collect();
            if rest.len() != v.len() {
                if rest.is_empty() {
                    rows.delete(Tree::Meta, meta::REFETCH);
                } else {
                    rows.put(Tree::Meta, meta::REFETCH, rest);
                }
            }
        }
        let last = w.last_seq;
        self.commit(&mut w, rows, last)?;
        Ok(w.generation)
    }
}

impl Store {
    /// Replaces the damaged body of a held message with a good copy (from a peer), durably,
    /// at a new seq (see `store/repair.rs`). The copy must be verified already: the
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
