//! The rules of a key's life: recovery commitments, rotations by a recovery key, and what a
//! revocation may still do once a key has a recovery key (README, "Key seizure and recovery").
//!
//! Every rule here is a function of the messages held, whatever order they came in, with one
//! exception said where it is (a revocation that reached back before its key's commitment came):
//! - the commitment in force is the earliest (created_at, id) of the key's commitments: a client
//!   may publish a commitment only near the node's clock ([`backdated`]), so no commitment made
//!   after a seizure can be dated before the genuine one, which every node has held since the
//!   key was made;
//! - a rotation counts once a commitment of its key with its recovery key's digest is held, and
//!   reaches back no further than that commitment: a recovery key speaks only for the time after
//!   it was committed to; where the key ends is the earliest time any such rotation reaches,
//!   so withholding only grows as rotations arrive and is never undone;
//! - the successor is the rotation in force's: the earliest-reaching rotation signed by the
//!   recovery key of the commitment in force. It is decided again whenever a commitment or a
//!   rotation arrives, so it does not depend on their order;
//! - a key with a recovery commitment cannot be ended by itself back into its past: its
//!   revocation reaches back no further than its own created_at, one created before the
//!   commitment is refused, and it cannot name a successor (the main key is what a thief holds);
//!   once the recovery key has rotated it, one made at or after the key's end changes nothing
//!   and is refused, or withheld when the rotation arrives after it (`withhold`, `settle`), so
//!   it says nothing in the key's name either way (between two revocations by the key itself no
//!   rule can tell the union's from a thief's, and both stay);
//! - a client's message by a committed key whose end (past, not one dated ahead) is known here
//!   is refused whatever date it carries ([`ended_before_sent`]); what peers relay is judged by
//!   its date.
//!
//! Where messages move in bulk, commitments travel first (`federation::order`), which keeps
//! the one exception above from arising between nodes that hold the commitment.

use super::{refused, withhold};
use crate::message::{
    Body, Content, Id, Kind, Reason, Revocation, Rotation, Timestamp, limits, recovery_digest,
};
use crate::store::codec::{Committed, Revoked, RotationRow};
use crate::store::rows::Rows;
use crate::store::{Inserted, StoreError};

/// How many successors deep settling a rotation follows the successors' own rotations (a
/// rotation of a successor that came before the rotation naming it).
const SETTLE_DEPTH: usize = 8;

/// A client may publish, by a key with a recovery commitment (or the commitment itself), only
/// what says it was made no earlier than this before the node's clock: the mirror of the
/// 10 minutes a message may be ahead of it.
pub(crate) const BACKDATE_ALLOWANCE: std::time::Duration = limits::MAX_FUTURE_SKEW;

/// A client's message that writes into a committed key's past: refused. A thief who holds the
/// main key could otherwise publish, after the seizure, a commitment dated before the genuine
/// one, or an alert dated before the rotation's time. For clients only (see `insert`).
pub(super) fn backdated(
    rows: &Rows<'_>,
    body: &Body,
    now: Timestamp,
) -> Result<Option<Inserted>, StoreError> {
    let earliest = now.minus(BACKDATE_ALLOWANCE);
    if body.created_at >= earliest || body.kind() == Kind::Rotation {
        return Ok(None);
    }
    if body.kind() != Kind::Commitment && rows.commitments(body.author.as_bytes())?.is_empty() {
        return Ok(None);
    }
    Ok(Some(refused(
        Reason::Backdated,
        format!(
            "created_at {} is more than 10 minutes before this node's clock ({now}), and {}: \
             sign it again now",
            body.created_at,
            if body.kind() == Kind::Commitment {
                "a recovery commitment must be published when it is made"
            } else {
                "its key has a recovery commitment, so nothing may be written into its past"
            }
        ),
    )))
}

/// A client's message by a committed key whose end (`end`, the key's revocation row) this node
/// knows: refused whatever date it carries. Made before the end, it would stand (a client may
/// date a message up to 10 minutes back, [`backdated`]), so whoever holds the key after a
/// seizure could still slip one in dated just before the rotation's time; the organisation
/// speaks with its successor by then. For clients only (see `insert`): what a peer relays or an
/// import brings is judged by its date, as it may have been first published before the end. A
/// key with no commitment is ended as before: its messages by their dates (it has no bound on
/// backdating to close).
pub(super) fn ended_before_sent(
    rows: &Rows<'_>,
    body: &Body,
    end: Option<&Revoked>,
    now: Timestamp,
) -> Result<Option<Inserted>, StoreError> {
    // An end still to come (a revocation dated ahead) ends nothing yet; one the message is
    // made after, `by_revoked_author` refuses in the end's own words.
    let Some(end) = end.filter(|e| e.from <= now.0 && body.created_at.0 < e.from) else {
        return Ok(None);
    };
    if body.kind() == Kind::Rotation || rows.commitments(body.author.as_bytes())?.is_empty() {
        return Ok(None);
    }
    Ok(Some(refused(
        Reason::RevokedAuthor,
        format!(
            "the author's key ended on {} and this node knew it when this arrived: a message \
             by it is refused now whatever date it carries (sign with the key that carries on)",
            Timestamp(end.from)
        ),
    )))
}

/// A revocation the key's recovery commitment rules out: one made before the commitment (a
/// revocation prepared when the key was made, or a thief's dated then), or one naming a
/// successor (only the recovery key hands on the name).
pub(super) fn ruled_out_revocation(
    rows: &Rows<'_>,
    body: &Body,
) -> Result<Option<Inserted>, StoreError> {
    let Content::Revocation(r) = &body.content else {
        return Ok(None);
    };
    let Some(first) = rows.commitments(body.author.as_bytes())?.into_iter().next() else {
        return Ok(None);
    };
    if body.created_at.0 < first.created_at {
        return Ok(Some(refused(
            Reason::RecoveryCommitted,
            format!(
                "this key committed to a recovery key on {}: a revocation it signed before then \
                 has no effect (a thief may hold it); the recovery key ends the key: tocsin rotate",
                Timestamp(first.created_at)
            ),
        )));
    }
    if r.successor.is_some() {
        return Ok(Some(refused(
            Reason::RecoveryCommitted,
            "this key has a recovery key: only a rotation signed by it hands the key's name on \
             (tocsin rotate); a revocation by the key itself may not name a successor",
        )));
    }
    Ok(None)
}

/// Where a revocation by `author` puts the key's end: its `revoked_from`, or, for a key with a
/// recovery commitment, no earlier than the revocation's own created_at.
pub(super) fn revocation_reach(
    rows: &Rows<'_>,
    author: &[u8; 32],
    body: &Body,
    r: &Revocation,
) -> Result<u64, StoreError> {
    if rows.commitments(author)?.is_empty() {
        Ok(r.revoked_from.0)
    } else {
        Ok(r.revoked_from.0.max(body.created_at.0))
    }
}

/// Plans a recovery commitment's row, and settles the rotations that waited for it.
pub(super) fn commit(
    rows: &mut Rows<'_>,
    id: &Id,
    body: &Body,
    digest: [u8; 32],
) -> Result<(), StoreError> {
    let author = body.author.as_bytes();
    rows.put_commitment(
        author,
        &Committed {
            created_at: body.created_at.0,
            id: *id,
            digest,
            by_rotation: false,
        },
    );
    settle(rows, author, 0)
}

/// Plans a rotation's row, and settles its key.
pub(super) fn rotate(
    rows: &mut Rows<'_>,
    id: &Id,
    body: &Body,
    r: &Rotation,
) -> Result<(), StoreError> {
    rows.put_rotation(r.compromised.as_bytes(), &RotationRow::of(*id, body, r));
    settle(rows, r.compromised.as_bytes(), 0)
}

/// A commitment message withdrawn (withheld: its key was in other hands when it was made):
/// its row goes with it.
pub(super) fn uncommit(rows: &mut Rows<'_>, id: &Id, author: &[u8; 32], created_at: u64) {
    rows.delete_commitment(author, created_at, id);
}

/// The rotations of `key` that count, each with the time it reaches back to: those whose
/// recovery key matches a commitment held, reaching no further back than that commitment.
/// The second value is whether it answers to the commitment in force.
fn valid_rotations(
    rows: &Rows<'_>,
    key: &[u8; 32],
    rotations: &[RotationRow],
) -> Result<Vec<(u64, RotationRow, bool)>, StoreError> {
    let commitments = rows.commitments(key)?;
    let Some(in_force) = commitments.first().map(|c| c.digest) else {
        return Ok(Vec::new());
    };
    let mut valid = Vec::new();
    for rot in rotations.iter().copied() {
        let Ok(recovery) = crate::message::AuthorKey::from_slice(&rot.recovery) else {
            continue;
        };
        let digest = recovery_digest(&recovery);
        // The earliest commitment with this digest (the list is in (created_at, id) order).
        // Reaching back to just after the commitment at most: the commitment itself stays.
        if let Some(c) = commitments.iter().find(|c| c.digest == digest) {
            valid.push((rot.since.max(c.created_at + 1), rot, digest == in_force));
        }
    }
    valid.sort_by_key(|(from, rot, _)| (*from, rot.id));
    Ok(valid)
}

/// Decides again where `key` ends and who carries on, from every commitment and rotation held:
/// the end moves only earlier (and what the key made from then on is withheld); the successor
/// is the rotation in force's, and the successor's commitment and its link back to `key` follow
/// it. `depth` bounds the walk down successors whose own rotations came first.
fn settle(rows: &mut Rows<'_>, key: &[u8; 32], depth: usize) -> Result<(), StoreError> {
    let rotations = rows.rotations(key)?;
    let valid = valid_rotations(rows, key, &rotations)?;
    let Some((from, first, _)) = valid.first().copied() else {
        return Ok(());
    };
    let chosen = valid
        .iter()
        .find(|(_, _, in_force)| *in_force)
        .map(|(_, rot, _)| *rot);
    let existing = rows.revocation(key)?;
    let (end_from, end_id) = match &existing {
        Some(e) if e.from <= from => (e.from, e.id),
        _ => (from, first.id),
    };
    let successor = match (&chosen, &existing) {
        (Some(rot), _) => Some(rot.successor),
        // No rotation answers to the commitment in force: a revocation's successor, if it
        // named one (before the key had a commitment), still stands.
        (None, Some(e)) if e.rotation.is_none() => e.successor,
        (None, _) => None,
    };
    let row = Revoked {
        from: end_from,
        id: end_id,
        successor,
        rotation: chosen.map(|r| r.id),
    };
    if existing.as_ref() != Some(&row) {
        rows.put_revocation(key, &row);
    }
    // Again when a rotation comes into force at the same end: what the key signed from then
    // that was kept until now (its own later revocations) goes too.
    if existing
        .as_ref()
        .is_none_or(|e| end_from < e.from || e.rotation != row.rotation)
    {
        withhold(rows, key, end_from)?;
    }
    // A revocation's successor that the rotation in force replaces carries on for nothing any
    // more: without this its row would stay or not depending on which came first.
    if let Some(e) = &existing
        && e.rotation.is_none()
        && let Some(old) = e.successor
        && row.successor != Some(old)
    {
        rows.delete_successor(&old, key);
    }
    let before = existing.and_then(|e| e.rotation);
    if before == row.rotation {
        return Ok(());
    }
    if let Some(old) = before
        && let Some(rot) = rotations.iter().find(|r| r.id == old)
    {
        rows.delete_successor(&rot.successor, key);
        rows.delete_commitment(&rot.successor, rot.created_at, &rot.id);
    }
    if let Some(rot) = chosen {
        rows.put_successor(&rot.successor, key);
        rows.put_commitment(&rot.successor, &successor_commitment(&rot));
        if depth < SETTLE_DEPTH {
            settle(rows, &rot.successor, depth + 1)?;
        }
    }
    Ok(())
}

/// The commitment a rotation makes for its successor: dated at the rotation.
fn successor_commitment(rot: &RotationRow) -> Committed {
    Committed {
        created_at: rot.created_at,
        id: rot.id,
        digest: rot.successor_digest,
        by_rotation: true,
    }
}
