//! The key rules' edge cases (`rules/keys.rs`): commitments that agree or conflict, what a
//! rotation clamps and withholds, chains of successors settled in either order, embargo, and a
//! rotation meeting a revocation made before the key's commitment.

use super::*;
use crate::store::codec::Revoked;

/// Hours after the union's key was made (T0).
fn at(hours: u32) -> Timestamp {
    T0.plus(HOUR * hours)
}

/// The chain's keys: the union's main and recovery keys, its first successor and that one's
/// recovery key, the second successor and its recovery key.
struct Chain {
    main: SecretKey,
    recovery: SecretKey,
    first: SecretKey,
    first_recovery: SecretKey,
    second: SecretKey,
    second_recovery: SecretKey,
}

fn chain() -> Chain {
    Chain {
        main: key(70),
        recovery: key(71),
        first: key(72),
        first_recovery: key(73),
        second: key(74),
        second_recovery: key(75),
    }
}

fn commitment_ids(node: &Node, k: &SecretKey) -> Vec<Id> {
    node.rows()
        .commitments(k.public().as_bytes())
        .expect("read")
        .iter()
        .map(|c| c.id)
        .collect()
}

fn bytes(k: &SecretKey) -> [u8; 32] {
    *k.public().as_bytes()
}

#[test]
fn two_commitments_to_the_same_recovery_key_are_harmless() {
    let (c, mut node) = (chain(), Node::default());
    let first = commit(&c.main, at(0), &c.recovery);
    let again = commit(&c.main, at(1), &c.recovery);
    node.relayed(&first, at(9));
    node.relayed(&again, at(9));
    let held = node.rows().commitments(&bytes(&c.main)).expect("read");
    assert_eq!(
        held.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![first.id(), again.id()]
    );
    assert_eq!(held[0].digest, held[1].digest);
    node.relayed(
        &rotation(
            &c.recovery,
            at(9),
            &c.main,
            at(5),
            &c.first,
            &c.first_recovery,
        ),
        at(9),
    );
    let end = node.end_of(&c.main).expect("ended");
    assert_eq!(end.from, at(5).0);
    assert_eq!(end.successor, Some(bytes(&c.first)));
    assert!(node.holds(&again), "made before the seizure: it stays");
}

#[test]
fn of_conflicting_commitments_the_earliest_is_in_force() {
    let (c, thiefs_recovery, mut node) = (chain(), key(76), Node::default());
    let genuine = commit(&c.main, at(0), &c.recovery);
    let thiefs = commit(&c.main, at(11), &thiefs_recovery);
    // The thief's arrives first: until the genuine one comes it is all there is.
    node.relayed(&thiefs, at(12));
    assert_eq!(commitment_ids(&node, &c.main), vec![thiefs.id()]);
    node.relayed(&genuine, at(12));
    assert_eq!(
        commitment_ids(&node, &c.main),
        vec![genuine.id(), thiefs.id()]
    );
    // A rotation by the thief's recovery key counts only from the thief's commitment on, and
    // hands the name to nobody: its commitment is not the one in force.
    let thiefs_rotation = rotation(&thiefs_recovery, at(12), &c.main, at(0), &key(77), &key(78));
    node.relayed(&thiefs_rotation, at(12));
    let end = node.end_of(&c.main).expect("ended");
    assert_eq!(
        end.from,
        at(11).0 + 1,
        "no further back than the thief's commitment"
    );
    assert_eq!((end.successor, end.rotation), (None, None));
    assert!(!node.may_act_for(&key(77), &c.main));
    // The genuine rotation from before it takes over, and withholds the thief's commitment.
    let genuine_rotation = rotation(
        &c.recovery,
        at(13),
        &c.main,
        at(10),
        &c.first,
        &c.first_recovery,
    );
    node.relayed(&genuine_rotation, at(13));
    let end = node.end_of(&c.main).expect("ended");
    assert_eq!(end.from, at(10).0);
    assert_eq!(end.successor, Some(bytes(&c.first)));
    assert_eq!(end.rotation, Some(genuine_rotation.id()));
    assert_eq!(node.record(&thiefs).flags & WITHHELD, WITHHELD);
    assert_eq!(
        commitment_ids(&node, &c.main),
        vec![genuine.id()],
        "the withheld commitment's row went with it"
    );
    assert!(node.may_act_for(&c.first, &c.main));
}

#[test]
fn a_successors_rotation_before_the_rotation_naming_it_settles_down_the_chain() {
    let (c, mut node) = (chain(), Node::default());
    let first_old = simple_alert(&c.first, at(15));
    let first_late = simple_alert(&c.first, at(21));
    // The first successor's key is seized in turn at hour 20; its rotation comes first.
    node.relayed(
        &rotation(
            &c.first_recovery,
            at(22),
            &c.first,
            at(20),
            &c.second,
            &c.second_recovery,
        ),
        at(22),
    );
    node.relayed(&first_old, at(22));
    node.relayed(&first_late, at(22));
    assert!(node.end_of(&c.first).is_none(), "no commitment of it yet");
    node.relayed(&commit(&c.main, at(0), &c.recovery), at(22));
    node.relayed(
        &rotation(
            &c.recovery,
            at(12),
            &c.main,
            at(10),
            &c.first,
            &c.first_recovery,
        ),
        at(22),
    );
    // The rotation naming the first successor committed it, and its own rotation now counts.
    let end = node.end_of(&c.first).expect("the successor's key ends too");
    assert_eq!(end.from, at(20).0);
    assert_eq!(end.successor, Some(bytes(&c.second)));
    assert!(node.holds(&first_old));
    assert!(!node.holds(&first_late));
    assert_eq!(commitment_ids(&node, &c.second).len(), 1);
    assert!(node.may_act_for(&c.second, &c.main), "two hops");
    assert_eq!(
        organisation(&node.rows(), &bytes(&c.main)).expect("read"),
        bytes(&c.second)
    );
    assert_eq!(
        node.rows().predecessors(&bytes(&c.second)).expect("read"),
        vec![bytes(&c.first)]
    );
}

#[test]
fn a_rotation_reaching_before_the_commitment_is_clamped_to_it() {
    let (c, mut node) = (chain(), Node::default());
    let before = simple_alert(&c.main, at(3));
    let commitment = commit(&c.main, at(5), &c.recovery);
    node.relayed(&before, at(12));
    node.relayed(&commitment, at(12));
    node.relayed(
        &rotation(
            &c.recovery,
            at(12),
            &c.main,
            at(0),
            &c.first,
            &c.first_recovery,
        ),
        at(12),
    );
    let end = node.end_of(&c.main).expect("ended");
    assert_eq!(end.from, at(5).0 + 1, "just after the commitment");
    assert!(node.holds(&commitment), "the commitment survives");
    assert!(node.holds(&before));
    assert_eq!(commitment_ids(&node, &c.main), vec![commitment.id()]);
}

#[test]
fn a_successors_report_counts_for_the_same_organisation() {
    let (c, mut node) = (chain(), Node::default());
    assert_eq!(
        organisation(&node.rows(), &bytes(&c.main)).expect("read"),
        bytes(&c.main)
    );
    node.relayed(&commit(&c.main, at(0), &c.recovery), at(12));
    node.relayed(
        &rotation(
            &c.recovery,
            at(12),
            &c.main,
            at(10),
            &c.first,
            &c.first_recovery,
        ),
        at(12),
    );
    // The tally (`read.rs`) counts each report under this organisation.
    for k in [&c.main, &c.first] {
        assert_eq!(
            organisation(&node.rows(), &bytes(k)).expect("read"),
            bytes(&c.first)
        );
    }
}

#[test]
fn key_events_are_never_under_embargo() {
    let (c, mut node) = (chain(), Node::default());
    let commitment = held_until(&commit(&c.main, at(0), &c.recovery), &c.main, at(48));
    node.relayed(&commitment, at(1));
    assert!(!node.record(&commitment).pending());
    assert_eq!(commitment_ids(&node, &c.main), vec![commitment.id()]);
    let rot = held_until(
        &rotation(
            &c.recovery,
            at(12),
            &c.main,
            at(10),
            &c.first,
            &c.first_recovery,
        ),
        &c.recovery,
        at(48),
    );
    node.relayed(&rot, at(12));
    assert!(!node.record(&rot).pending());
    assert_eq!(node.count(meta::N_EMBARGOED), 0);
    assert_eq!(
        node.end_of(&c.main).expect("at once").rotation,
        Some(rot.id())
    );
    assert!(node.may_act_for(&c.first, &c.main));
}

#[test]
fn a_rotation_after_a_revocation_from_before_the_commitment_keeps_its_reach_and_names_the_successor()
 {
    // A revocation in force before the key's commitment came (it names a successor, as a key
    // without one may), then the commitment and a rotation from a later time, in either order:
    // the key ends from the revocation's time and the rotation's successor carries on; the
    // revocation's successor is forgotten. (Had the commitment come first, the revocation would
    // be refused for naming a successor: the residual of `rules/keys.rs`.)
    let c = chain();
    let named = key(79);
    let revocation = revoke(&c.main, at(3), at(2), Some(&named));
    let commitment = commit(&c.main, at(0), &c.recovery);
    let rot = rotation(
        &c.recovery,
        at(12),
        &c.main,
        at(10),
        &c.first,
        &c.first_recovery,
    );
    for order in [
        [&revocation, &commitment, &rot],
        [&revocation, &rot, &commitment],
    ] {
        let mut node = Node::default();
        for m in order {
            node.relayed(m, at(12));
        }
        let end = node.end_of(&c.main).expect("ended");
        assert_eq!(end.from, at(2).0, "the earlier reach stands");
        assert_eq!(end.successor, Some(bytes(&c.first)));
        assert_eq!(end.rotation, Some(rot.id()));
        assert!(node.may_act_for(&c.first, &c.main));
        assert!(!node.may_act_for(&named, &c.main));
        assert!(
            node.rows()
                .predecessors(&bytes(&named))
                .expect("read")
                .is_empty(),
            "no row says the revocation's successor carries on"
        );
        assert_eq!(
            node.rows().predecessors(&bytes(&c.first)).expect("read"),
            vec![bytes(&c.main)]
        );
    }
}

#[test]
fn a_rotated_keys_end_row_round_trips_in_its_104_byte_form() {
    let rotated = Revoked {
        from: at(10).0,
        id: Id([1; 32]),
        successor: Some([2; 32]),
        rotation: Some(Id([3; 32])),
    };
    let encoded = rotated.encode();
    assert_eq!(encoded.len(), 104);
    assert_eq!(Revoked::decode(&encoded), Some(rotated.clone()));
    // The older forms still read, and nothing in between does.
    for (form, len) in [
        (
            Revoked {
                successor: None,
                rotation: None,
                ..rotated.clone()
            },
            40,
        ),
        (
            Revoked {
                rotation: None,
                ..rotated.clone()
            },
            72,
        ),
    ] {
        assert_eq!(form.encode().len(), len);
        assert_eq!(Revoked::decode(&form.encode()), Some(form));
    }
    assert_eq!(Revoked::decode(&encoded[..103]), None);
    assert_eq!(Revoked::decode(&[encoded.as_slice(), &[0]].concat()), None);
}
