//! The key trees in a store on disk: what a reader is told of a key's commitments, the offline
//! check and repair of the rows the key rules derive (`check/keys.rs`), and a backup's copy.

use super::codec::{Committed, RotationRow, Tree, concat};
use super::*;

/// Hours after T0.
fn at(hours: u32) -> Timestamp {
    T0.plus(HOUR * hours)
}

/// A seizure on a store: the union commits, posts, is seized at hour 10, the thief commits to
/// its own recovery key and posts, the recovery key rotates to a successor; a stranger's
/// rotation names the key too; another union without a commitment revokes naming a new key.
/// Returns the union's key and its successor, and the other union's key and its new key.
async fn seizure(s: &Store) -> [SecretKey; 4] {
    let (main, recovery, successor, successor_recovery) = (key(80), key(81), key(82), key(83));
    let (other, other_new, stranger) = (key(84), key(85), key(86));
    let relayed = |m: &Message| {
        let (s, m) = (s.clone(), m.clone());
        async move {
            let peer = Origin::Peer {
                peer: "westland-relay".into(),
                cursor: 0,
            };
            s.insert(&m, peer, at(13)).await.expect("insert")
        }
    };
    let msgs = [
        commit(&main, at(0), &recovery),
        simple_alert(&main, at(1)),
        commit(&main, at(11), &key(87)),
        simple_alert(&main, at(11)),
        rotation(
            &recovery,
            at(12),
            &main,
            at(10),
            &successor,
            &successor_recovery,
        ),
        rotation(&stranger, at(12), &main, at(0), &stranger, &key(88)),
        simple_alert(&other, at(1)),
        revoke(&other, at(2), at(2), Some(&other_new)),
    ];
    for m in &msgs {
        assert!(
            matches!(relayed(m).await, Inserted::Accepted { .. }),
            "{:?}",
            m.body().kind()
        );
    }
    [main, successor, other, other_new]
}

#[tokio::test]
async fn a_reader_is_told_the_commitment_in_force_and_the_conflicting_ones() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (main, recovery, thiefs) = (key(90), key(91), key(92));
    let genuine = commit(&main, T0, &recovery);
    let again = commit(&main, T0.plus(MINUTE), &recovery);
    let conflicting = commit(&main, T0.plus(2 * MINUTE), &thiefs);
    for m in [&conflicting, &again, &genuine] {
        accept(&s, m).await;
    }
    let state = s.key_state(&main.public()).unwrap();
    let commitment = state.commitment.expect("a commitment");
    assert_eq!(commitment.id, genuine.id());
    assert!(answers_to(&recovery.public(), &commitment));
    let listed: Vec<Id> = state.conflicting.iter().map(|c| c.id).collect();
    assert_eq!(
        listed,
        vec![conflicting.id()],
        "the same digest again is no conflict"
    );
    assert!(state.end.is_none());
}

/// What a reader is told of each key.
fn key_states(s: &Store, keys: &[SecretKey]) -> Vec<KeyState> {
    keys.iter()
        .map(|k| s.key_state(&k.public()).unwrap())
        .collect()
}

#[tokio::test]
async fn the_check_verifies_the_key_trees_and_a_repair_rebuilds_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let keys = seizure(&s).await;
    let [main, successor, other, other_new] = &keys;
    let before = key_states(&s, &keys);
    assert_eq!(before[1].predecessor, Some(main.public()));
    assert_eq!(before[3].predecessor, Some(other.public()));
    assert!(before[1].commitment.is_some_and(|c| c.by_rotation));
    let report = s.check(false).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);

    // Four rows go wrong: the successor's commitment and the other union's successor row
    // vanish, a rotation row nothing backs appears, and the union's commitment says another
    // digest.
    {
        let inner = s.inner().unwrap();
        let tree = |t: Tree| inner.trees.get(t);
        let succ = s
            .key_state(&successor.public())
            .unwrap()
            .commitment
            .unwrap();
        let succ_row = Committed {
            created_at: succ.created_at.0,
            id: succ.id,
            digest: succ.recovery_digest,
            by_rotation: true,
        };
        tree(Tree::Commitments)
            .remove(succ_row.key(successor.public().as_bytes()))
            .unwrap()
            .expect("the successor's commitment row");
        tree(Tree::Successors)
            .remove(concat(&[
                other_new.public().as_bytes(),
                other.public().as_bytes(),
            ]))
            .unwrap()
            .expect("the other union's successor row");
        let bogus = RotationRow {
            id: Id([9; 32]),
            recovery: [1; 32],
            since: 0,
            created_at: 0,
            successor: [2; 32],
            successor_digest: [3; 32],
        };
        tree(Tree::Rotations)
            .insert(bogus.key(main.public().as_bytes()), bogus.encode_value())
            .unwrap();
        let genuine = before[0].commitment.unwrap();
        let altered = Committed {
            created_at: genuine.created_at.0,
            id: genuine.id,
            digest: [4; 32],
            by_rotation: false,
        };
        tree(Tree::Commitments)
            .insert(
                altered.key(main.public().as_bytes()),
                altered.encode_value(),
            )
            .unwrap();
    }
    assert_ne!(key_states(&s, &keys), before);
    let report = s.check(false).await.unwrap();
    let found: Vec<&Finding> = report.findings.iter().collect();
    assert_eq!(found.len(), 4, "{found:?}");
    assert!(found.iter().all(|f| f.what == "key"), "{found:?}");
    assert!(!report.repaired);

    let report = s.check(true).await.unwrap();
    assert!(report.repaired);
    assert!(report.dropped.is_empty(), "nothing to fetch again");
    assert_eq!(key_states(&s, &keys), before);
    let report = s.check(false).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.findings);
}

#[tokio::test]
async fn a_backup_carries_the_key_trees() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(tmp.path())).unwrap();
    let keys = seizure(&s).await;
    let before = key_states(&s, &keys);
    let copy_dir = tmp.path().join("copy");
    let made = s.backup(&copy_dir, at(14)).await.unwrap();
    assert!(made.checked, "small enough to be checked in full");
    assert_eq!(made.damaged, 0, "its key trees check out too");
    s.close().await.unwrap();
    let copy = Store::open(&StoreConfig {
        path: copy_dir,
        ..cfg(tmp.path())
    })
    .unwrap();
    assert_eq!(key_states(&copy, &keys), before);
    assert_eq!(
        copy.ended_keys().unwrap().len(),
        2,
        "the union's key and the other union's"
    );
}
