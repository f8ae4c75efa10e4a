//! The key rules under every ordering: one seizure's messages (the union's, the thief's, the
//! recovery key's, a stranger's, the successor's) delivered by peers in any order, then every
//! refused one offered again until nothing changes, as reconciliation does (a refused message
//! is not held, so it is fetched again). Every ordering must leave the same visible set.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::message::{ActionReport, Count, Measure};
use crate::store::codec::{Committed, Revoked};

/// The union's main key, its recovery key, the successors and their recovery keys, the other
/// union, the thief's own recovery key and a stranger.
struct Keys {
    main: SecretKey,
    recovery: SecretKey,
    successor: SecretKey,
    successor_recovery: SecretKey,
    second_successor: SecretKey,
    second_successor_recovery: SecretKey,
    other: SecretKey,
    thiefs_recovery: SecretKey,
    stranger: SecretKey,
}

fn keys() -> Keys {
    Keys {
        main: key(60),
        recovery: key(61),
        successor: key(62),
        successor_recovery: key(63),
        second_successor: key(64),
        second_successor_recovery: key(65),
        other: key(66),
        thiefs_recovery: key(67),
        stranger: key(68),
    }
}

/// Hours after the union's key was made (T0).
fn at(hours: u32) -> Timestamp {
    T0.plus(HOUR * hours)
}

/// The hour the key was seized.
const SEIZED: u32 = 10;

/// A report by `k` on `target` of letters sent.
fn report(k: &SecretKey, created: Timestamp, target: Id) -> Message {
    let body = Body {
        author: k.public(),
        created_at: created,
        expires_at: Some(created.plus(DAY)),
        topics: vec![],
        countries: vec![],
        effective_at: None,
        content: Content::Report(ActionReport {
            target,
            counts: vec![Count {
                measure: Measure::Letters,
                value: 40,
                currency: String::new(),
            }],
            filings: Vec::new(),
            as_of: None,
            statement: "Letters from our members".into(),
            evidence: String::new(),
        }),
    };
    Message::sign(body, k).expect("sign")
}

/// The scenario's messages, named.
struct Scenario {
    commitment: Message,
    old_alert: Message,
    second_old_alert: Message,
    union_profile: Message,
    theirs: Message,
    union_endorsement: Message,
    union_report: Message,
    thiefs_alert: Message,
    thiefs_profile: Message,
    thiefs_update: Message,
    thiefs_endorsement: Message,
    thiefs_commitment: Message,
    thiefs_revocation: Message,
    rotation: Message,
    fake_rotation: Message,
    successors_update: Message,
    successors_alert: Message,
    second_rotation: Message,
}

fn scenario(k: &Keys) -> Scenario {
    let old_alert = simple_alert(&k.main, at(1));
    let theirs = call(&k.other, at(1));
    Scenario {
        commitment: commit(&k.main, at(0), &k.recovery),
        second_old_alert: simple_alert(&k.main, at(3)),
        union_profile: profile(&k.main, at(2), "Eastland Dockworkers' Union"),
        union_endorsement: endorse(&k.main, at(2), theirs.id(), "with you"),
        union_report: report(&k.main, at(3), theirs.id()),
        thiefs_alert: simple_alert(&k.main, at(SEIZED + 1)),
        thiefs_profile: profile(&k.main, at(SEIZED + 1), "Eastland Dockers (official)"),
        thiefs_update: update(&k.main, at(SEIZED + 1), old_alert.id(), "Strike called off"),
        // The thief endorses the same call: its endorsement must not take the union's place.
        thiefs_endorsement: endorse(&k.main, at(SEIZED + 1), theirs.id(), "not any more"),
        thiefs_commitment: commit(&k.main, at(SEIZED + 1), &k.thiefs_recovery),
        // Dated after the commitment, reaching back to the key's making.
        thiefs_revocation: revoke(&k.main, at(SEIZED + 2), at(0), None),
        rotation: rotation(
            &k.recovery,
            at(SEIZED + 2),
            &k.main,
            at(SEIZED),
            &k.successor,
            &k.successor_recovery,
        ),
        fake_rotation: rotation(
            &k.stranger,
            at(SEIZED + 2),
            &k.main,
            at(0),
            &k.stranger,
            &k.successor_recovery,
        ),
        successors_update: update(&k.successor, at(SEIZED + 3), old_alert.id(), "Released"),
        successors_alert: simple_alert(&k.successor, at(SEIZED + 3)),
        second_rotation: rotation(
            &k.recovery,
            at(SEIZED + 4),
            &k.main,
            at(SEIZED + 1),
            &k.second_successor,
            &k.second_successor_recovery,
        ),
        old_alert,
        theirs,
    }
}

impl Scenario {
    fn all(&self) -> Vec<&Message> {
        vec![
            &self.commitment,
            &self.old_alert,
            &self.second_old_alert,
            &self.union_profile,
            &self.theirs,
            &self.union_endorsement,
            &self.union_report,
            &self.thiefs_alert,
            &self.thiefs_profile,
            &self.thiefs_update,
            &self.thiefs_endorsement,
            &self.thiefs_commitment,
            &self.thiefs_revocation,
            &self.rotation,
            &self.fake_rotation,
            &self.successors_update,
            &self.successors_alert,
            &self.second_rotation,
        ]
    }
}

/// When everything has arrived.
const NOW: Timestamp = Timestamp(T0.0 + 16 * 3_600_000);

/// What readers can tell from a node, for the scenario's messages and keys.
#[derive(Debug, PartialEq, Eq)]
struct Visible {
    /// The scenario's messages held with their content.
    held: BTreeSet<Id>,
    /// Where each key ends (from, by, successor, rotation in force).
    ends: Vec<Option<Revoked>>,
    /// Each key's commitments (created_at, id, digest, by rotation), earliest first.
    commitments: Vec<Vec<Committed>>,
    /// Which keys each key carries on for.
    predecessors: Vec<Vec<[u8; 32]>>,
    /// The endorsement tallies of the other union's call and the union's alert.
    tallies: (u64, u64),
    /// Whether the successor, the second successor and the stranger may act for the union.
    authorized: (bool, bool, bool),
}

fn visible(node: &Node, k: &Keys, s: &Scenario) -> Visible {
    let rows = node.rows();
    let held = s
        .all()
        .into_iter()
        .filter(|m| {
            rows.record(&m.id())
                .expect("read")
                .is_some_and(|r| r.has_content())
        })
        .map(Message::id)
        .collect();
    let scenario_keys = [&k.main, &k.successor, &k.second_successor, &k.stranger];
    let bytes = |key: &SecretKey| *key.public().as_bytes();
    Visible {
        held,
        ends: scenario_keys
            .iter()
            .map(|key| rows.revocation(&bytes(key)).expect("read"))
            .collect(),
        commitments: scenario_keys
            .iter()
            .map(|key| rows.commitments(&bytes(key)).expect("read"))
            .collect(),
        predecessors: scenario_keys
            .iter()
            .map(|key| rows.predecessors(&bytes(key)).expect("read"))
            .collect(),
        tallies: (node.tally(&s.theirs), node.tally(&s.old_alert)),
        authorized: (
            node.may_act_for(&k.successor, &k.main),
            node.may_act_for(&k.second_successor, &k.main),
            node.may_act_for(&k.stranger, &k.main),
        ),
    }
}

/// Delivers `order` as a peer's messages, then offers every refused one again, in the same
/// order, until a round accepts nothing (bounded: each round that goes on accepts one more).
fn deliver(order: &[&Message]) -> Node {
    let mut node = Node::default();
    let mut waiting: Vec<&Message> = Vec::new();
    for m in order {
        if matches!(node.relayed(m, NOW), Inserted::Refused(_)) {
            waiting.push(m);
        }
    }
    for _ in 0..=order.len() {
        let before = waiting.len();
        waiting.retain(|m| matches!(node.relayed(m, NOW), Inserted::Refused(_)));
        if waiting.len() == before {
            break;
        }
    }
    node
}

/// The scenario in the order it happened.
fn in_order(s: &Scenario) -> Vec<&Message> {
    s.all()
}

#[test]
fn in_the_order_it_happened_the_union_keeps_its_past_and_the_thief_gets_nothing() {
    let (k, s) = (keys(), scenario(&keys()));
    let node = deliver(&in_order(&s));
    let seen = visible(&node, &k, &s);
    let expected: BTreeSet<Id> = [
        &s.commitment,
        &s.old_alert,
        &s.second_old_alert,
        &s.union_profile,
        &s.theirs,
        &s.union_endorsement,
        &s.union_report,
        // Not the thief's revocation: made after the seizure, withheld as the rest.
        &s.rotation,
        &s.fake_rotation,
        &s.successors_update,
        &s.successors_alert,
        &s.second_rotation,
    ]
    .into_iter()
    .map(Message::id)
    .collect();
    assert_eq!(seen.held, expected);
    assert_eq!(
        seen.ends[0],
        Some(Revoked {
            from: at(SEIZED).0,
            id: s.rotation.id(),
            successor: Some(*k.successor.public().as_bytes()),
            rotation: Some(s.rotation.id()),
        })
    );
    assert_eq!(seen.ends[1..], [None, None, None]);
    let main_commitments: Vec<Id> = seen.commitments[0].iter().map(|c| c.id).collect();
    assert_eq!(main_commitments, vec![s.commitment.id()]);
    assert_eq!(
        seen.commitments[1].len(),
        1,
        "the successor's, by the rotation"
    );
    assert!(seen.commitments[2].is_empty());
    assert_eq!(seen.predecessors[1], vec![*k.main.public().as_bytes()]);
    assert!(seen.predecessors[2].is_empty());
    assert_eq!(seen.tallies, (1, 0), "the union's endorsement counts");
    assert_eq!(seen.authorized, (true, false, false));
}

/// Moves the thief's reaching-back revocation after the first commitment of the key if it
/// came before every one: that is the residual the rules state (`rules/keys.rs`), shown by
/// its own test below.
fn without_the_residual<'a>(mut order: Vec<&'a Message>, s: &Scenario) -> Vec<&'a Message> {
    let place = |order: &[&Message], m: &Message| {
        order
            .iter()
            .position(|x| x.id() == m.id())
            .expect("in the scenario")
    };
    let revocation = place(&order, &s.thiefs_revocation);
    let first_commitment = place(&order, &s.commitment).min(place(&order, &s.thiefs_commitment));
    if revocation < first_commitment {
        let moved = order.remove(revocation);
        order.insert(first_commitment, moved);
    }
    order
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_ordering_leaves_the_same_visible_set(
        order in Just((0..scenario(&keys()).all().len()).collect::<Vec<usize>>()).prop_shuffle()
    ) {
        let (k, s) = (keys(), scenario(&keys()));
        let all = s.all();
        let shuffled = without_the_residual(order.iter().map(|i| all[*i]).collect(), &s);
        let expected = visible(&deliver(&in_order(&s)), &k, &s);
        prop_assert_eq!(visible(&deliver(&shuffled), &k, &s), expected);
    }
}

#[test]
fn a_reaching_back_revocation_before_any_commitment_keeps_its_reach() {
    // The residual: a node that applies the thief's revocation before it ever holds the key's
    // commitment takes it at its word (a key without a commitment), and withholding is never
    // undone; the commitment itself, made at the key's making, is then refused.
    let (k, s) = (keys(), scenario(&keys()));
    let mut order = vec![&s.thiefs_revocation];
    order.extend(
        in_order(&s)
            .into_iter()
            .filter(|m| m.id() != s.thiefs_revocation.id()),
    );
    let node = deliver(&order);
    let end = node
        .rows()
        .revocation(k.main.public().as_bytes())
        .expect("read")
        .expect("ended");
    assert_eq!(end.from, at(0).0, "the revocation's reach stands");
    assert_eq!(end.id, s.thiefs_revocation.id());
    for m in [
        &s.commitment,
        &s.old_alert,
        &s.union_profile,
        &s.union_endorsement,
    ] {
        assert!(
            !node
                .rows()
                .record(&m.id())
                .expect("read")
                .is_some_and(|r| r.has_content())
        );
    }
    assert_eq!(node.tally(&s.theirs), 0);
    // No commitment is held, so no rotation counts: the union's successor is not named.
    assert!(
        node.rows()
            .commitments(k.main.public().as_bytes())
            .expect("read")
            .is_empty()
    );
    assert!(!node.may_act_for(&k.successor, &k.main));
    // The ordering the property excludes differs from the one it expects.
    assert_ne!(
        visible(&node, &k, &s),
        visible(&deliver(&in_order(&s)), &k, &s)
    );
}

/// The updates the original's cancel withdrew that readers had seen, as the store keeps them.
fn withdrawn_of(node: &Node, original: &Message) -> Vec<Id> {
    node.rows()
        .withdrawn(&original.id())
        .expect("read")
        .into_iter()
        .map(|w| w.id)
        .collect()
}

/// Every ordering of `three`, each once.
fn permutations(three: [&Message; 3]) -> Vec<Vec<&Message>> {
    const ORDERS: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    ORDERS
        .iter()
        .map(|order| order.iter().map(|i| three[*i]).collect())
        .collect()
}

#[test]
fn every_ordering_of_an_original_its_update_and_its_cancel_names_the_update_it_accepted() {
    // The cancel withdraws the update with the original whichever comes first, and names it
    // wherever it was accepted. By design an update arriving once the original is withdrawn
    // here (the original and its cancel both in) is refused, never shown: it is not named.
    let union = key(70);
    let original = simple_alert(&union, at(1));
    let update = update(&union, at(2), original.id(), "Two of the four released");
    let cancel = cancel(&union, at(3), original.id(), "names published by mistake");
    for order in permutations([&original, &update, &cancel]) {
        let node = deliver(&order);
        let place = |m: &Message| order.iter().position(|x| x.id() == m.id());
        let accepted = place(&update) < place(&original).max(place(&cancel));
        assert!(!node.holds(&original));
        let expected = if accepted { vec![update.id()] } else { vec![] };
        assert_eq!(withdrawn_of(&node, &original), expected, "{order:?}");
        // Accepted, then withdrawn: its record without content; refused: no record.
        let record = node.rows().record(&update.id()).expect("read");
        assert_eq!(record.is_some(), accepted, "{order:?}");
        assert!(!record.is_some_and(|r| r.has_content()), "{order:?}");
    }
    // One still under embargo when the cancel takes effect was never shown: in no ordering is
    // it named.
    let held = held_until(
        &super::update(&union, at(2), original.id(), "Trial date set"),
        &union,
        at(48),
    );
    for order in permutations([&original, &held, &cancel]) {
        let node = deliver(&order);
        assert!(withdrawn_of(&node, &original).is_empty(), "{order:?}");
    }
}
