//! The rules, one or more tests each, against a store in memory (no sled, no threads): plain
//! synchronous tests of what a message does to the rows, arrivals out of order included.

use super::*;
use crate::message::SecretKey;
use crate::store::codec::{CANCELLED, RELEASED, WITHHELD, meta};
use crate::store::rows::{Memory, Rows};
use crate::store::tests::{
    DAY, HOUR, T0, call, cancel, commit, endorse, held_until, key, profile, revoke, rotation,
    simple_alert, translate, update,
};
use std::time::Duration;

mod keys;
mod orderings;

/// A store in memory and the last seq it handed out: messages arrive one transaction each, as
/// single publishes do.
#[derive(Default)]
struct Node {
    memory: Memory,
    last_seq: u64,
}

impl Node {
    /// Plans `msg` arriving at `now` and commits what it planned.
    fn arrive(&mut self, msg: &Message, now: Timestamp) -> Inserted {
        self.arrive_from(msg, now, &Origin::Local)
    }

    /// [`Node::arrive`], relayed by a peer (so `backdated` does not judge it).
    fn relayed(&mut self, msg: &Message, now: Timestamp) -> Inserted {
        let peer = Origin::Peer {
            peer: "westland-relay".into(),
            cursor: 0,
        };
        self.arrive_from(msg, now, &peer)
    }

    /// [`Node::arrive`] from `origin`.
    fn arrive_from(&mut self, msg: &Message, now: Timestamp, origin: &Origin) -> Inserted {
        let prefixes = codec::index_prefixes(msg);
        let mut rows = Rows::new(&self.memory);
        let arrival = Arrival {
            msg,
            prefixes: &prefixes,
            origin,
            placed: None,
        };
        let outcome = insert(&mut rows, arrival, self.last_seq + 1, now).expect("plan");
        self.memory.commit(rows, self.last_seq + 1).expect("commit");
        if let Inserted::Accepted { seq, .. } = outcome {
            self.last_seq = seq;
        }
        outcome
    }

    /// [`Node::arrive`], which must accept it; its seq.
    fn accept(&mut self, msg: &Message, now: Timestamp) -> u64 {
        match self.arrive(msg, now) {
            Inserted::Accepted { seq, .. } => seq,
            other => panic!("{} not accepted: {other:?}", msg.body().kind()),
        }
    }

    /// Releases `msg` from its embargo (what `maintain.rs` does when it is due).
    fn release(&mut self, msg: &Message) -> bool {
        let mut rows = Rows::new(&self.memory);
        rows.delete_embargo(msg.body().effective_at.expect("embargoed").0, &msg.id());
        let released = release(&mut rows, &msg.id(), self.last_seq + 1)
            .expect("release")
            .is_some();
        if released {
            self.last_seq += 1;
            rows.set_last_seq(self.last_seq);
        }
        self.memory.commit(rows, self.last_seq).expect("commit");
        released
    }

    /// Expires `msg` (what `maintain.rs` does when it is due), its tombstone kept a day.
    fn expire(&mut self, msg: &Message) -> bool {
        let mut rows = Rows::new(&self.memory);
        let drop_at = msg.body().expires_at.expect("expires").plus(DAY).0;
        let expired = expire(&mut rows, &msg.id(), drop_at).expect("expire");
        self.memory.commit(rows, self.last_seq + 1).expect("commit");
        expired
    }

    fn rows(&self) -> Rows<'_> {
        Rows::new(&self.memory)
    }

    fn record(&self, msg: &Message) -> Record {
        self.rows()
            .record(&msg.id())
            .expect("read")
            .expect("a record")
    }

    /// Whether the content of `msg` is held.
    fn holds(&self, msg: &Message) -> bool {
        self.record(msg).has_content()
    }

    /// Where `k` ends here, if it does.
    fn end_of(&self, k: &SecretKey) -> Option<Revoked> {
        self.rows().revocation(k.public().as_bytes()).expect("read")
    }

    fn tally(&self, target: &Message) -> u64 {
        self.rows()
            .counter(Tree::Tally, target.id().as_bytes())
            .expect("read")
    }

    fn count(&self, key: &[u8]) -> u64 {
        self.rows().counter(Tree::Meta, key).expect("read")
    }

    fn may_act_for(&self, author: &SecretKey, original: &SecretKey) -> bool {
        authorized(
            &self.rows(),
            author.public().as_bytes(),
            original.public().as_bytes(),
        )
        .expect("read")
    }
}

fn reason(outcome: Inserted) -> Reason {
    match outcome {
        Inserted::Refused(r) => r.reason,
        other => panic!("not refused: {other:?}"),
    }
}

const NOW: Timestamp = T0;

// Dedup.

#[test]
fn the_same_id_twice_is_a_duplicate_and_a_withdrawn_one_a_replay() {
    let (union, mut node) = (key(1), Node::default());
    let alert = simple_alert(&union, T0);
    let seq = node.accept(&alert, NOW);
    assert_eq!(
        node.arrive(&alert, NOW),
        Inserted::Duplicate { seq, held: false }
    );
    node.accept(&cancel(&union, T0.plus(HOUR), alert.id(), "exposed"), NOW);
    assert_eq!(reason(node.arrive(&alert, NOW)), Reason::Replayed);
    assert_eq!(node.count(meta::N_MESSAGES), 1, "only the cancel is held");
    assert_eq!(node.count(meta::N_TOMBSTONES), 1);
}

#[test]
fn an_expired_message_is_refused_and_an_expired_one_held_leaves_a_tombstone() {
    let (union, mut node) = (key(1), Node::default());
    let alert = simple_alert(&union, T0);
    assert_eq!(reason(node.arrive(&alert, T0.plus(DAY))), Reason::Expired);
    assert_eq!(node.last_seq, 0);

    node.accept(&alert, NOW);
    assert!(node.expire(&alert));
    assert!(node.rows().record(&alert.id()).expect("read").is_none());
    assert!(node.rows().is_tombstone(&alert.id()).expect("read"));
    assert_eq!(reason(node.arrive(&alert, NOW)), Reason::Replayed);
    assert_eq!(node.memory.len(Tree::Log), 0, "its log entry went");
    assert!(!node.expire(&alert), "nothing left to expire");
}

// Who may update or cancel.

#[test]
fn only_the_author_or_its_successor_may_update_or_cancel() {
    let (union, stranger, successor) = (key(1), key(2), key(3));
    let mut node = Node::default();
    let alert = simple_alert(&union, T0);
    node.accept(&alert, NOW);
    let forged = update(&stranger, T0.plus(HOUR), alert.id(), "Forged");
    assert_eq!(reason(node.arrive(&forged, NOW)), Reason::NotAuthor);
    let forged = cancel(&stranger, T0.plus(HOUR), alert.id(), "forged");
    assert_eq!(reason(node.arrive(&forged, NOW)), Reason::NotAuthor);
    assert!(node.holds(&alert));

    // The key is revoked, naming a successor: the successor speaks for it.
    assert!(!node.may_act_for(&successor, &union));
    node.accept(
        &revoke(&union, T0.plus(HOUR), T0.plus(HOUR), Some(&successor)),
        NOW,
    );
    assert!(node.may_act_for(&successor, &union));
    assert!(!node.may_act_for(&stranger, &union));
    node.accept(
        &update(&successor, T0.plus(DAY / 2), alert.id(), "Still detained"),
        NOW,
    );
    node.accept(
        &cancel(&successor, T0.plus(DAY / 2), alert.id(), "released"),
        NOW,
    );
    assert_eq!(node.record(&alert).flags & CANCELLED, CANCELLED);
}

#[test]
fn an_update_must_be_of_its_originals_kind_and_name_an_alert_or_call() {
    let (union, mut node) = (key(1), Node::default());
    let action = call(&union, T0);
    node.accept(&action, NOW);
    let wrong_kind = update(&union, T0.plus(HOUR), action.id(), "An alert now");
    assert_eq!(reason(node.arrive(&wrong_kind, NOW)), Reason::BadReference);
    let named = profile(&union, T0, "Fictional Dockers' Union");
    node.accept(&named, NOW);
    let of_a_profile = endorse(&key(2), T0, named.id(), "");
    assert_eq!(
        reason(node.arrive(&of_a_profile, NOW)),
        Reason::BadReference
    );
}

// Pending references: arrivals out of order.

#[test]
fn an_update_before_its_original_waits_as_a_reference() {
    let (union, stranger, mut node) = (key(1), key(2), Node::default());
    let alert = simple_alert(&union, T0);
    let newer = update(&union, T0.plus(HOUR), alert.id(), "Released on bail");
    let forged = update(&stranger, T0.plus(HOUR), alert.id(), "Forged");
    // Neither can be judged before the original is here: both are kept as references.
    node.accept(&newer, NOW);
    node.accept(&forged, NOW);
    node.accept(&alert, NOW);
    let refs = node
        .rows()
        .references(&alert.id(), Kind::Update)
        .expect("read");
    assert_eq!(refs.len(), 2);
    let by = |m: &Message| refs.iter().find(|r| r.id == m.id()).expect("referenced");
    assert_eq!(by(&newer).author, *union.public().as_bytes());
    assert_eq!(by(&newer).created_at, T0.plus(HOUR).0);
    // Only the author's counts (see `read.rs`, which asks the same rule).
    assert!(node.may_act_for(&union, &union));
    assert!(!node.may_act_for(&stranger, &union));
    assert!(node.holds(&alert) && node.holds(&newer));
}

#[test]
fn a_cancel_before_its_original_withdraws_it_on_arrival() {
    let (union, stranger, mut node) = (key(1), key(2), Node::default());
    let alert = simple_alert(&union, T0);
    let forged = cancel(&stranger, T0.plus(HOUR), alert.id(), "forged");
    node.accept(&forged, NOW);
    let other = simple_alert(&union, T0.plus(HOUR));
    node.accept(&other, NOW);
    assert!(
        node.holds(&other),
        "a stranger's early cancel withdraws nothing"
    );

    let withdrawal = cancel(&union, T0.plus(HOUR), alert.id(), "exposed a member");
    node.accept(&withdrawal, NOW);
    let seq = node.accept(&alert, NOW);
    let rec = node.record(&alert);
    assert_eq!(rec.seq, seq);
    assert_eq!(rec.flags & CANCELLED, CANCELLED);
    assert_eq!(rec.cancel, Some(withdrawal.id()));
    assert!(
        node.rows().log_entry(seq).expect("read").is_none(),
        "no entry serves it"
    );
    assert_eq!(node.count(meta::N_TOMBSTONES), 1);
    assert_eq!(
        node.count(meta::N_MESSAGES),
        3,
        "both cancels and the other alert"
    );
}

#[test]
fn an_endorsement_before_its_target_counts_once_per_author() {
    let (union, federation, other, mut node) = (key(1), key(2), key(3), Node::default());
    let alert = simple_alert(&union, T0);
    node.accept(&endorse(&federation, T0, alert.id(), "In solidarity"), NOW);
    assert_eq!(node.tally(&alert), 1, "counted before the target is here");
    node.accept(
        &endorse(&federation, T0.plus(HOUR), alert.id(), "Again"),
        NOW,
    );
    assert_eq!(node.tally(&alert), 1, "one per author");
    node.accept(&endorse(&other, T0, alert.id(), ""), NOW);
    node.accept(&alert, NOW);
    assert_eq!(node.tally(&alert), 2);
}

#[test]
fn a_translation_before_its_original_waits_and_goes_with_its_cancel() {
    let (union, translator, mut node) = (key(1), key(2), Node::default());
    let alert = simple_alert(&union, T0);
    let version = update(&union, T0.plus(HOUR), alert.id(), "Charged");
    let portuguese = translate(&translator, T0.plus(HOUR), alert.id(), "pt");
    node.accept(&portuguese, NOW);
    node.accept(&alert, NOW);
    node.accept(&version, NOW);
    node.accept(&cancel(&union, T0.plus(HOUR), alert.id(), "exposed"), NOW);
    for m in [&alert, &version, &portuguese] {
        assert_eq!(node.record(m).flags & CANCELLED, CANCELLED);
    }
    let late = translate(&translator, T0.plus(HOUR), alert.id(), "es");
    assert_eq!(reason(node.arrive(&late, NOW)), Reason::Replayed);
}

// Revocation and withholding.

#[test]
fn a_revocation_after_the_authors_messages_withholds_those_made_from_its_time() {
    let (union, mut node) = (key(1), Node::default());
    let before = simple_alert(&union, T0);
    let after = simple_alert(&union, T0.plus(HOUR * 2));
    node.accept(&before, NOW);
    node.accept(&after, NOW);
    let revocation = revoke(&union, T0.plus(HOUR * 3), T0.plus(HOUR), None);
    node.accept(&revocation, NOW);
    assert!(node.holds(&before));
    assert_eq!(node.record(&after).flags & WITHHELD, WITHHELD);
    assert!(node.holds(&revocation), "a revocation is never withheld");
    assert_eq!(reason(node.arrive(&after, NOW)), Reason::RevokedAuthor);
}

#[test]
fn a_revocation_before_the_authors_messages_refuses_those_made_from_its_time() {
    let (union, mut node) = (key(1), Node::default());
    node.accept(&revoke(&union, T0, T0.plus(HOUR), None), NOW);
    node.accept(&simple_alert(&union, T0), NOW);
    let late = simple_alert(&union, T0.plus(HOUR));
    assert_eq!(reason(node.arrive(&late, NOW)), Reason::RevokedAuthor);
    let endorsement = endorse(&union, T0.plus(HOUR * 2), late.id(), "");
    assert_eq!(
        reason(node.arrive(&endorsement, NOW)),
        Reason::RevokedAuthor
    );
}

#[test]
fn the_earliest_revocation_stays_in_force() {
    let (union, mut node) = (key(1), Node::default());
    let first = revoke(&union, T0, T0.plus(HOUR * 2), None);
    node.accept(&first, NOW);
    node.accept(&revoke(&union, T0.plus(HOUR), T0.plus(HOUR * 5), None), NOW);
    let in_force = |node: &Node| {
        node.rows()
            .revocation(union.public().as_bytes())
            .expect("read")
            .expect("revoked")
    };
    assert_eq!(
        in_force(&node).from,
        T0.plus(HOUR * 2).0,
        "a thief cannot move it later"
    );
    let earlier = revoke(&union, T0.plus(HOUR), T0.plus(HOUR), None);
    node.accept(&earlier, NOW);
    assert_eq!(in_force(&node).id, earlier.id());
}

// Embargo.

#[test]
fn an_embargoed_endorsement_counts_from_its_release() {
    let (union, federation, mut node) = (key(1), key(2), Node::default());
    let alert = simple_alert(&union, T0);
    node.accept(&alert, NOW);
    let endorsement = held_until(
        &endorse(&federation, T0, alert.id(), ""),
        &federation,
        T0.plus(HOUR),
    );
    node.accept(&endorsement, NOW);
    assert!(node.record(&endorsement).pending());
    assert_eq!(node.tally(&alert), 0, "no effect before its hour");
    assert_eq!(node.count(meta::N_EMBARGOED), 1);

    assert!(node.release(&endorsement));
    assert_eq!(node.tally(&alert), 1);
    assert_eq!(node.count(meta::N_EMBARGOED), 0);
    let rec = node.record(&endorsement);
    assert!(!rec.pending());
    let entry = node
        .rows()
        .log_entry(rec.release)
        .expect("read")
        .expect("entry");
    assert_eq!((entry.what, entry.id), (RELEASED, endorsement.id()));
}

#[test]
fn an_embargoed_cancel_withdraws_only_at_its_release() {
    let (union, mut node) = (key(1), Node::default());
    let alert = simple_alert(&union, T0);
    let withdrawal = held_until(
        &cancel(&union, T0, alert.id(), "exposed"),
        &union,
        T0.plus(HOUR),
    );
    // Before its original, and under embargo: the original arrives with its content.
    node.accept(&withdrawal, NOW);
    node.accept(&alert, NOW);
    assert!(node.holds(&alert));
    assert!(node.release(&withdrawal));
    assert_eq!(node.record(&alert).flags & CANCELLED, CANCELLED);
}

#[test]
fn what_is_withdrawn_before_its_release_is_never_released() {
    let (union, mut node) = (key(1), Node::default());
    let alert = held_until(&simple_alert(&union, T0), &union, T0.plus(HOUR));
    node.accept(&alert, NOW);
    node.accept(&cancel(&union, T0, alert.id(), "called off"), NOW);
    assert!(!node.record(&alert).pending());
    assert_eq!(node.count(meta::N_EMBARGOED), 0);
    assert!(!node.release(&alert));
}

// Damage.

#[test]
fn a_damaged_body_does_not_stop_a_cancel() {
    let (union, mut node) = (key(1), Node::default());
    let alert = simple_alert(&union, T0);
    let seq = node.accept(&alert, NOW);
    let at = node
        .rows()
        .log_entry(seq)
        .expect("read")
        .and_then(|e| e.body)
        .expect("a body");
    node.memory.damage_body(&at);
    node.accept(&cancel(&union, T0.plus(HOUR), alert.id(), "exposed"), NOW);
    assert_eq!(node.record(&alert).flags & CANCELLED, CANCELLED);
    assert_eq!(*node.memory.damaged.borrow(), vec![alert.id()]);
    assert!(node.rows().log_entry(seq).expect("read").is_none());
}

// Key seizure and recovery (rules/keys.rs).

/// The union's keys: main, its recovery key, the successor and the successor's recovery key.
fn union_keys() -> (SecretKey, SecretKey, SecretKey, SecretKey) {
    (key(40), key(41), key(42), key(43))
}

#[test]
fn a_rotation_withholds_from_its_time_keeps_the_past_and_hands_on_the_name() {
    let (main, recovery, successor, successor_recovery) = union_keys();
    let (other, mut node) = (key(44), Node::default());
    let at = |h: u64| T0.plus(HOUR * h as u32);
    node.accept(&commit(&main, at(0), &recovery), at(0));
    let old = simple_alert(&main, at(1));
    node.accept(&old, at(1));
    let theirs = call(&other, at(1));
    node.accept(&theirs, at(1));
    node.accept(&endorse(&main, at(2), theirs.id(), "with you"), at(2));
    node.accept(&profile(&main, at(2), "Eastland Dockworkers' Union"), at(2));
    // Seized at hour 10; the thief posts at hour 11.
    let forged = simple_alert(&main, at(11));
    node.accept(&forged, at(11));
    let rot = rotation(
        &recovery,
        at(12),
        &main,
        at(10),
        &successor,
        &successor_recovery,
    );
    node.accept(&rot, at(12));
    assert!(node.holds(&old), "what was made before the seizure stays");
    assert_eq!(node.tally(&theirs), 1, "its endorsement still counts");
    assert!(!node.holds(&forged), "the thief's alert is withheld");
    assert_eq!(
        reason(node.arrive(&simple_alert(&main, at(12)), at(12))),
        Reason::RevokedAuthor
    );
    // The successor speaks for the union: updates its alert.
    assert!(node.may_act_for(&successor, &main));
    node.accept(&update(&successor, at(13), old.id(), "Released"), at(13));
    let ended = node
        .rows()
        .revocation(main.public().as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(ended.from, at(10).0);
    assert_eq!(ended.rotation, Some(rot.id()));
    assert_eq!(ended.successor, Some(*successor.public().as_bytes()));
    // The successor is committed to its own recovery key by the rotation.
    let succ = node
        .rows()
        .commitments(successor.public().as_bytes())
        .unwrap();
    assert_eq!(succ.len(), 1);
    assert!(succ[0].by_rotation);
}

#[test]
fn a_thiefs_revocation_erases_nothing_once_the_key_has_a_recovery_key() {
    let (main, recovery, _, _) = union_keys();
    let mut node = Node::default();
    let at = |h: u64| T0.plus(HOUR * h as u32);
    let presigned = revoke(&main, at(0), at(0), None);
    node.accept(
        &commit(&main, at(0).plus(Duration::from_millis(1)), &recovery),
        at(0),
    );
    let old = simple_alert(&main, at(1));
    node.accept(&old, at(1));
    // The revocation prepared with the key (or one a thief dates then) is refused.
    assert_eq!(
        reason(node.arrive(&presigned, at(5))),
        Reason::RecoveryCommitted
    );
    // One made now reaches back no further than its own time.
    node.accept(&revoke(&main, at(5), at(0), None), at(5));
    assert!(node.holds(&old));
    assert_eq!(
        reason(node.arrive(&simple_alert(&main, at(6)), at(6))),
        Reason::RevokedAuthor
    );
    // It may not name a successor.
    let (_, _, successor, _) = union_keys();
    let (main2, recovery2) = (key(50), key(51));
    node.accept(&commit(&main2, at(5), &recovery2), at(5));
    assert_eq!(
        reason(node.arrive(&revoke(&main2, at(6), at(6), Some(&successor)), at(6))),
        Reason::RecoveryCommitted
    );
}

#[test]
fn a_thiefs_revocation_made_after_the_rotations_time_is_refused_or_withheld_in_either_order() {
    // Seized at hour 10 and rotated from then at hour 12; the thief signs a revocation at hour
    // 11 ("the union dissolved itself", reaching back to hour 1). Whichever comes first, the
    // key ends at hour 10 by the rotation, the revocation is nowhere, and the past stays.
    let (main, recovery, successor, successor_recovery) = union_keys();
    let at = |h: u64| T0.plus(HOUR * h as u32);
    let rot = rotation(
        &recovery,
        at(12),
        &main,
        at(10),
        &successor,
        &successor_recovery,
    );
    let thiefs = revoke(&main, at(11), at(1), None);
    for rotation_first in [true, false] {
        let mut node = Node::default();
        node.accept(&commit(&main, at(0), &recovery), at(0));
        let old = simple_alert(&main, at(1));
        node.accept(&old, at(1));
        if rotation_first {
            node.accept(&rot, at(12));
            assert_eq!(reason(node.relayed(&thiefs, at(12))), Reason::RevokedAuthor);
        } else {
            node.accept(&thiefs, at(11));
            node.relayed(&rot, at(12));
            assert!(!node.holds(&thiefs), "the thief's revocation is withheld");
        }
        let ended = node.end_of(&main).unwrap();
        assert_eq!((ended.from, ended.id), (at(10).0, rot.id()));
        assert!(node.holds(&old), "rotation first: {rotation_first}");
    }
    // Without a rotation, two revocations by the key itself both stay (no rule can tell the
    // union's from a thief's), whichever came first; the earlier-reaching ends it.
    let (other, other_recovery) = (key(52), key(53));
    let own = revoke(&other, at(5), at(5), None);
    let second = revoke(&other, at(6), at(1), None);
    for (first, then) in [(&own, &second), (&second, &own)] {
        let mut n = Node::default();
        n.accept(&commit(&other, at(0), &other_recovery), at(0));
        n.relayed(first, at(6));
        n.relayed(then, at(6));
        assert!(n.holds(&own) && n.holds(&second));
        let ended = n.end_of(&other).unwrap();
        assert_eq!(ended.id, own.id(), "the earlier-reaching one ends it");
        // Once the recovery key rotates it (from a later time), what the key signed after the
        // end goes, the other revocation too; the one in force stays.
        let (s, sr) = (key(54), key(55));
        n.relayed(
            &rotation(&other_recovery, at(9), &other, at(8), &s, &sr),
            at(9),
        );
        assert!(n.holds(&own));
        assert!(!n.holds(&second), "{:?} first", first.id());
    }
}

#[test]
fn a_client_may_not_slip_in_a_message_dated_just_before_the_rotations_time() {
    // Seized at 10:00 and rotated from then at 10:02; at 10:05 whoever holds the key sends an
    // alert dated 09:59, within the 10 minutes a client may date a message back.
    let (main, recovery, successor, successor_recovery) = union_keys();
    let mut node = Node::default();
    let seized = T0.plus(10 * HOUR);
    let minutes = |m: u64| seized.plus(Duration::from_secs(60 * m));
    node.accept(&commit(&main, T0, &recovery), T0);
    node.accept(
        &rotation(
            &recovery,
            minutes(2),
            &main,
            seized,
            &successor,
            &successor_recovery,
        ),
        minutes(2),
    );
    let slipped = simple_alert(&main, seized.minus(Duration::from_secs(60)));
    assert_eq!(
        reason(node.arrive(&slipped, minutes(5))),
        Reason::RevokedAuthor
    );
    // Relayed by a peer (first published before the end, as far as this node can tell) it is
    // judged by its date, as before.
    assert!(matches!(
        node.relayed(&slipped, minutes(5)),
        Inserted::Accepted { .. }
    ));
}

#[test]
fn a_client_may_not_write_into_a_committed_keys_past() {
    let (main, recovery, _, _) = union_keys();
    let mut node = Node::default();
    let at = |h: u64| T0.plus(HOUR * h as u32);
    // A commitment is published when it is made.
    assert_eq!(
        reason(node.arrive(&commit(&main, at(0), &recovery), at(1))),
        Reason::Backdated
    );
    node.accept(&commit(&main, at(1), &recovery), at(1));
    assert_eq!(
        reason(node.arrive(&simple_alert(&main, at(2)), at(3))),
        Reason::Backdated
    );
    node.accept(&simple_alert(&main, at(3)), at(3));
}

#[test]
fn a_rotation_before_its_commitment_waits_for_it_and_a_stranger_recovery_key_counts_for_nothing() {
    let (main, recovery, successor, successor_recovery) = union_keys();
    let (stranger, mut node) = (key(45), Node::default());
    let at = |h: u64| T0.plus(HOUR * h as u32);
    let old = simple_alert(&main, at(1));
    let late = simple_alert(&main, at(11));
    let fake = rotation(
        &stranger,
        at(12),
        &main,
        at(0),
        &stranger,
        &successor_recovery,
    );
    let rot = rotation(
        &recovery,
        at(12),
        &main,
        at(10),
        &successor,
        &successor_recovery,
    );
    for m in [&fake, &rot, &old, &late] {
        node.accept(m, at(12));
    }
    assert!(node.holds(&late), "no commitment yet: nothing is decided");
    assert!(
        node.rows()
            .revocation(main.public().as_bytes())
            .unwrap()
            .is_none()
    );
    // The commitment comes (relayed: it was published at the key's making).
    let c = commit(&main, at(0), &recovery);
    let prefixes = codec::index_prefixes(&c);
    let mut rows = Rows::new(&node.memory);
    let arrival = Arrival {
        msg: &c,
        prefixes: &prefixes,
        origin: &Origin::Peer {
            peer: "p".into(),
            cursor: 0,
        },
        placed: None,
    };
    insert(&mut rows, arrival, node.last_seq + 1, at(12)).unwrap();
    node.memory.commit(rows, node.last_seq + 1).unwrap();
    node.last_seq += 1;
    assert!(node.holds(&old));
    assert!(!node.holds(&late));
    assert!(node.may_act_for(&successor, &main));
    assert!(!node.may_act_for(&stranger, &main));
}

#[test]
fn a_thiefs_endorsement_counted_first_gives_way_to_the_unions_when_withheld() {
    let (main, recovery, successor, successor_recovery) = union_keys();
    let (other, mut node) = (key(44), Node::default());
    let at = |h: u64| T0.plus(HOUR * h as u32);
    let theirs = call(&other, at(1));
    node.relayed(&commit(&main, at(0), &recovery), at(12));
    node.relayed(&theirs, at(12));
    // The thief's endorsement (after the seizure) arrives before the union's own.
    node.relayed(&endorse(&main, at(11), theirs.id(), "not any more"), at(12));
    let genuine = endorse(&main, at(2), theirs.id(), "with you");
    node.relayed(&genuine, at(12));
    assert_eq!(node.tally(&theirs), 1, "one per author");
    node.relayed(
        &rotation(
            &recovery,
            at(12),
            &main,
            at(10),
            &successor,
            &successor_recovery,
        ),
        at(12),
    );
    assert_eq!(node.tally(&theirs), 1, "the union's endorsement counts now");
    assert!(
        node.rows()
            .counts_endorsement(&theirs.id(), main.public().as_bytes(), &genuine.id())
            .unwrap()
    );
}

#[test]
fn the_newest_bound_covers_every_message_placed_below_a_seq_late_arrivals_included() {
    let mut node = Node::default();
    let k = key(1);
    let bound = |node: &Node, seq: u64| node.rows().newest_before(seq).expect("read");
    let rows = |node: &Node| node.memory.len(Tree::Newest);
    let at = |d: Duration| T0.plus(d);
    assert_eq!(bound(&node, 1), None, "nothing placed");
    let a = node.accept(&simple_alert(&k, at(HOUR)), at(HOUR));
    assert_eq!(
        (bound(&node, a), bound(&node, a + 1)),
        (None, Some(at(HOUR).0))
    );
    // An older message arriving later raises nothing: the bound already covers it.
    let b = node.accept(&simple_alert(&k, T0), at(HOUR));
    assert_eq!(bound(&node, b + 1), Some(at(HOUR).0));
    assert_eq!(rows(&node), 1);
    // A newer one in the same minute raises the last row in place.
    let c = node.accept(
        &simple_alert(&k, at(HOUR + Duration::from_secs(30))),
        at(HOUR),
    );
    assert_eq!(rows(&node), 1);
    assert_eq!(bound(&node, c + 1), Some(at(HOUR).0 + 30_000));
    assert_eq!(
        bound(&node, a + 1),
        Some(at(HOUR).0 + 30_000),
        "one row, one bound"
    );
    // A later minute starts a row at its seq; the rows before still bound what is below it.
    let d = node.accept(&simple_alert(&k, at(2 * HOUR)), at(2 * HOUR));
    assert_eq!(rows(&node), 2);
    assert_eq!(bound(&node, d), Some(at(HOUR).0 + 30_000));
    assert_eq!(bound(&node, d + 1), Some(at(2 * HOUR).0));
    // A release places its message again, at a new seq: covered too.
    let held = held_until(&simple_alert(&k, at(3 * HOUR)), &k, at(4 * HOUR));
    let e = node.accept(&held, at(3 * HOUR));
    assert_eq!(bound(&node, e + 1), Some(at(3 * HOUR).0));
    assert!(node.release(&held));
    assert_eq!(bound(&node, node.last_seq + 1), Some(at(3 * HOUR).0));
    // Rows older than anything a listing may show go, one per row added.
    let late = T0.plus(DAY * 401 + 2 * HOUR);
    let f = node.accept(&simple_alert(&k, late), late);
    // Kinds that rank no listing's item do not move it, however new.
    let ahead = T0.plus(DAY * 402);
    let profile_seq = node.accept(&profile(&k, ahead, "Eastport Dockers"), ahead);
    assert_eq!(bound(&node, profile_seq + 1), Some(late.0));
    assert_eq!(bound(&node, f + 1), Some(late.0));
    assert_eq!(bound(&node, a + 1), None, "the first row went");
    assert_eq!(
        bound(&node, d + 1),
        Some(at(2 * HOUR).0),
        "the next one stays"
    );
    // An unreadable row bounds nothing, and is no reason to refuse a write (what it covered
    // is bounded too low from then on: a walk there stops as it did before the bound).
    let mut damaged = node.rows();
    damaged.put(Tree::Newest, codec::big_endian(f), b"?");
    node.memory
        .commit(damaged, node.last_seq + 1)
        .expect("commit");
    assert_eq!(bound(&node, f + 1), None);
    let later = late.plus(HOUR);
    let g = node.accept(&simple_alert(&k, later), later);
    assert_eq!(bound(&node, g + 1), Some(later.0));
}
