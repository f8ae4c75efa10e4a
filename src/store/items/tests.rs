//! Tests of the item sets: what each view's set holds (never a tombstone, never an embargoed
//! message for a reader), that a set is reused until the store commits again, and what a view
//! may be sent by id.

use super::*;
use crate::message::{SecretKey, Timestamp};
use crate::store::tests::{HOUR, T0, cancel, headline_alert, held_until, key, simple_alert};
use crate::store::{Origin, StoreConfig};

fn store(dir: &std::path::Path) -> Store {
    Store::open(&StoreConfig {
        path: dir.join("data"),
        cache_bytes: 8 * 1024 * 1024,
        reserve_bytes: 0,
        ..StoreConfig::default()
    })
    .expect("open")
}

async fn put(s: &Store, m: &Message) {
    let got = s.insert(m, Origin::Local, T0).await.expect("insert");
    assert!(
        matches!(got, super::super::Inserted::Accepted { .. }),
        "{got:?}"
    );
}

fn ids_of(set: &ItemSet) -> Vec<Id> {
    set.slice(0, usize::MAX)
        .into_iter()
        .map(|(_, id)| id)
        .collect()
}

fn sorted(mut items: Vec<(u64, Id)>) -> Vec<Id> {
    items.sort();
    items.into_iter().map(|(_, id)| id).collect()
}

const PEER: View = View::Peer {
    exclude_origin: None,
};

/// `m` signed again to expire at `at`.
fn expiring(m: &Message, k: &SecretKey, at: Timestamp) -> Message {
    let mut b = m.body().clone();
    b.expires_at = Some(at);
    Message::sign(b, k).expect("signing")
}

#[tokio::test]
async fn a_views_items_are_what_it_may_fetch_and_never_a_tombstone() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let k = key(1);
    let open = headline_alert(&k, T0, "Dockers of Westhaven walk out");
    let held = held_until(
        &headline_alert(&k, T0.plus(HOUR), "Ferry crews join at noon"),
        &k,
        T0.plus(3 * HOUR),
    );
    let withdrawn = headline_alert(&k, T0.plus(2 * HOUR), "Picket moved to the east gate");
    let withdrawal = cancel(&k, T0.plus(2 * HOUR), withdrawn.id(), "wrong gate");
    let short_lived = expiring(&simple_alert(&k, T0), &k, T0.plus(HOUR));
    for m in [&open, &held, &withdrawn, &withdrawal, &short_lived] {
        put(&s, m).await;
    }
    s.expire(T0.plus(2 * HOUR)).await.unwrap();

    let peer = s.items(&PEER).unwrap();
    let reader = s.items(&View::Reader).unwrap();
    let item = |m: &Message| (m.body().created_at.0, m.id());
    assert_eq!(
        ids_of(&peer),
        sorted(vec![item(&open), item(&held), item(&withdrawal)]),
        "a peer's set: what is held with content, under embargo too, in (created_at, id) order"
    );
    assert_eq!(
        ids_of(&reader),
        sorted(vec![item(&open), item(&withdrawal)]),
        "a reader's set: nothing pending release"
    );
    assert_eq!(
        ids_of(
            &s.items(&View::UnauthenticatedPeer {
                exclude_origin: "x".into()
            })
            .unwrap()
        ),
        ids_of(&reader)
    );

    // By id, the same rule.
    assert!(s.item_message(&held.id(), &View::Reader).unwrap().is_none());
    assert_eq!(
        s.item_message(&held.id(), &PEER).unwrap().map(|m| m.id()),
        Some(held.id())
    );
    for gone in [&withdrawn, &short_lived] {
        assert!(s.item_message(&gone.id(), &PEER).unwrap().is_none());
    }

    // Released, the message joins the readers' set.
    assert_eq!(s.release_due(T0.plus(3 * HOUR)).await.unwrap(), 1);
    assert!(ids_of(&s.items(&View::Reader).unwrap()).contains(&held.id()));
    assert!(s.item_message(&held.id(), &View::Reader).unwrap().is_some());
}

#[tokio::test]
async fn a_set_is_made_once_until_the_store_commits_again() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let k = key(2);
    let first = headline_alert(&k, T0, "Nurses of Lowbridge vote to strike");
    put(&s, &first).await;
    assert!(s.items_cached(&View::Reader).is_none(), "none made yet");
    let made = s.items(&View::Reader).unwrap();
    let again = s.items_cached(&View::Reader).expect("still current");
    assert!(
        Arc::ptr_eq(&made.0, &again.0),
        "the same set, not a second scan"
    );
    assert!(s.items_cached(&PEER).is_none(), "one set per class");

    let second = headline_alert(&k, T0.plus(HOUR), "Porters of Lowbridge join");
    put(&s, &second).await;
    assert!(
        s.items_cached(&View::Reader).is_none(),
        "a commit makes it stale"
    );
    let remade = s.items(&View::Reader).unwrap();
    assert_eq!(remade.len(), 2);
    let withdrawal = cancel(&k, T0.plus(HOUR), second.id(), "called off");
    put(&s, &withdrawal).await;
    assert_eq!(
        ids_of(&s.items(&View::Reader).unwrap()),
        sorted(vec![
            (first.body().created_at.0, first.id()),
            (withdrawal.body().created_at.0, withdrawal.id()),
        ]),
        "a cancel takes its target out at once"
    );

    // Expiry writes no log entry (the head stays): the set is stale all the same.
    let brief = expiring(&simple_alert(&k, T0), &k, T0.plus(HOUR));
    put(&s, &brief).await;
    assert!(ids_of(&s.items(&View::Reader).unwrap()).contains(&brief.id()));
    let head = s.head();
    assert_eq!(s.expire(T0.plus(2 * HOUR)).await.unwrap().expired, 1);
    assert_eq!(s.head(), head);
    assert!(
        s.items_cached(&View::Reader).is_none(),
        "expiry makes it stale"
    );
    assert!(!ids_of(&s.items(&View::Reader).unwrap()).contains(&brief.id()));
}

/// The cost of making a set, measured once for the record (release build):
/// `cargo test --release --lib store::items -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a check"]
async fn the_cost_of_a_set_of_50_000() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let k = key(3);
    let n = 50_000u64;
    for chunk in 0..n / 1000 {
        let batch: Vec<(Message, Origin)> = (0..1000)
            .map(|i| {
                let at = T0.plus(std::time::Duration::from_millis(chunk * 1000 + i));
                (simple_alert(&k, at), Origin::Local)
            })
            .collect();
        s.insert_many(batch, T0).await.expect("insert");
    }
    let started = std::time::Instant::now();
    let set = s.items(&PEER).unwrap();
    let scan = started.elapsed();
    let started = std::time::Instant::now();
    let cached = s.items(&PEER).unwrap();
    let hit = started.elapsed();
    assert_eq!(set.len() as u64, n);
    assert_eq!(cached.len() as u64, n);
    println!("item set of {n}: made in {scan:?}, reused in {hit:?}");
}
