//! The key trees in `tocsin node check`: the recovery commitments, rotations and successors
//! (`Tree::Commitments`, `Tree::Rotations`, `Tree::Successors`) are derived rows, so each is
//! recomputed from what they derive from and compared, and a repair writes them anew.
//!
//! What they derive from (the rules in `rules/keys.rs` keep them so): a commitment row for
//! each commitment message held with its content; a rotation row for each rotation message
//! held; for each key that ends with a rotation in force (`Tree::Revoked`), its successor's
//! commitment, dated at that rotation; and for each key whose end names a successor, that
//! successor's link back to it. Where a key ends is not recomputed: like a revocation in force,
//! it stays (withholding is never undone, and the messages it withheld are gone).

use std::collections::{BTreeMap, HashMap};

use super::{CheckReport, Seen};
use crate::message::{Content, Id, Message};
use crate::store::codec::{Committed, Revoked, RotationRow, Tree, concat};
use crate::store::rows::Rows;
use crate::store::{Inner, StoreError};

/// The derived trees, checked and rebuilt here.
const KEY_TREES: [Tree; 3] = [Tree::Commitments, Tree::Rotations, Tree::Successors];

/// The rows the key trees should hold: (tree, key) → value.
pub(super) type KeyRows = BTreeMap<(Tree, Vec<u8>), Vec<u8>>;

impl Inner {
    /// The key trees' rows, recomputed from the key events kept (sound, held with content, not
    /// dropped by this repair) and the ends of keys.
    pub(super) fn expected_key_rows(&self, seen: &Seen) -> Result<KeyRows, StoreError> {
        let rows = self.rows();
        let mut held: HashMap<Id, &Message> = HashMap::new();
        for m in &seen.key_events {
            let id = m.id();
            let kept = seen
                .accepted
                .get(&id)
                .is_some_and(|seq| !seen.drop_seqs.contains(seq) && !seen.drop_ids.contains(&id));
            if kept && rows.record(&id)?.is_some_and(|r| r.has_content()) {
                held.insert(id, m);
            }
        }
        let mut expected = KeyRows::new();
        for (id, m) in &held {
            let body = m.body();
            match &body.content {
                Content::Commitment(c) => {
                    let row = Committed {
                        created_at: body.created_at.0,
                        id: *id,
                        digest: c.recovery_digest,
                        by_rotation: false,
                    };
                    expected.insert(
                        (Tree::Commitments, row.key(body.author.as_bytes())),
                        row.encode_value(),
                    );
                }
                Content::Rotation(r) => {
                    let row = RotationRow::of(*id, body, r);
                    expected.insert(
                        (Tree::Rotations, row.key(r.compromised.as_bytes())),
                        row.encode_value(),
                    );
                }
                _ => {}
            }
        }
        for kv in self.trees.get(Tree::Revoked).iter() {
            let (k, v) = kv.map_err(|e| self.sled_err(e))?;
            let (Ok(key), Some(end)) = (<[u8; 32]>::try_from(k.as_ref()), Revoked::decode(&v))
            else {
                // An unreadable end is no key's: nothing derives from it.
                continue;
            };
            if let Some(successor) = end.successor {
                expected.insert((Tree::Successors, concat(&[&successor, &key])), Vec::new());
            }
            if let Some(rotation) = end.rotation
                && let Some(m) = held.get(&rotation)
                && let Content::Rotation(r) = &m.body().content
            {
                let row = Committed {
                    created_at: m.body().created_at.0,
                    id: rotation,
                    digest: r.successor_recovery_digest,
                    by_rotation: true,
                };
                expected.insert(
                    (Tree::Commitments, row.key(r.successor.as_bytes())),
                    row.encode_value(),
                );
            }
        }
        Ok(expected)
    }

    /// Compares the key trees with the rows recomputed: a row nothing backs, a row missing,
    /// and a row that says something else are each a finding.
    pub(super) fn check_key_trees(
        &self,
        report: &mut CheckReport,
        expected: &KeyRows,
    ) -> Result<(), StoreError> {
        let mut found: KeyRows = KeyRows::new();
        for tree in KEY_TREES {
            for kv in self.trees.get(tree).iter() {
                let (k, v) = kv.map_err(|e| self.sled_err(e))?;
                found.insert((tree, k.to_vec()), v.to_vec());
            }
        }
        for ((tree, k), v) in &found {
            match expected.get(&(*tree, k.clone())) {
                Some(want) if want == v => {}
                Some(_) => report.found(
                    "key",
                    None,
                    None,
                    format!(
                        "a row of {} says other than the message it comes from",
                        tree.name()
                    ),
                ),
                None => report.found(
                    "key",
                    None,
                    None,
                    format!("a row of {} is backed by no message held", tree.name()),
                ),
            }
        }
        for (tree, _) in expected.keys().filter(|k| !found.contains_key(*k)) {
            report.found(
                "key",
                None,
                None,
                format!("a row of {} is missing for a message held", tree.name()),
            );
        }
        Ok(())
    }

    /// Replaces the key trees with the rows recomputed.
    pub(super) fn rebuild_key_trees(
        &self,
        rows: &mut Rows<'_>,
        expected: &KeyRows,
    ) -> Result<(), StoreError> {
        for tree in KEY_TREES {
            for k in self.trees.get(tree).iter().keys() {
                let k = k.map_err(|e| self.sled_err(e))?;
                rows.delete(tree, k.to_vec());
            }
        }
        for ((tree, k), v) in expected {
            rows.put(*tree, k.clone(), v);
        }
        Ok(())
    }
}
