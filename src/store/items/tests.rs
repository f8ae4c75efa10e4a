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
    put(&s, &simple_alert(&k, T0.plus(HOUR))).await;
    let started = std::time::Instant::now();
    let updated = s.items(&PEER).unwrap();
    let update = started.elapsed();
    assert_eq!(updated.len() as u64, n + 1);
    println!(
        "item set of {n}: made in {scan:?}, reused in {hit:?}, brought up to date after one insert in {update:?}"
    );
}

/// A small deterministic generator (splitmix64), so a failing case can be run again.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// An id; one in four ends in 0xff bytes, so sums carry across lanes and wrap. The first
    /// lane stays random: ids must not repeat.
    fn id(&mut self) -> [u8; 32] {
        let mut id = [0u8; 32];
        for chunk in id.chunks_exact_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes());
        }
        if self.below(4) == 0 {
            for byte in id.iter_mut().skip(8 + self.below(24)) {
                *byte = 0xff;
            }
        }
        id
    }
}

/// `count` random items, sealed in a plain vector storage (the crate's own, as it is).
fn plain_storage(draws: &mut Draws, count: usize) -> NegentropyStorageVector {
    let mut storage = NegentropyStorageVector::with_capacity(count);
    for _ in 0..count {
        let at = draws.next() % 1_000_000;
        storage
            .insert(at, negentropy::Id::from_byte_array(draws.id()))
            .unwrap();
    }
    storage.seal().unwrap();
    storage
}

/// The same items, sealed again in a second storage.
fn copy_of(storage: &NegentropyStorageVector) -> NegentropyStorageVector {
    let mut copy = NegentropyStorageVector::new();
    let len = storage.size().unwrap();
    storage
        .iterate(0, len, &mut |item, _| {
            copy.insert(item.timestamp, negentropy::Id::from_byte_array(*item.id))?;
            Ok(true)
        })
        .unwrap();
    copy.seal().unwrap();
    copy
}

#[test]
fn fingerprints_from_running_sums_match_the_crates_summation() {
    let mut draws = Draws(19);
    for count in [0, 1, 2, 63, 64, 65, 127, 128, 129, 1000, 4097] {
        let plain = plain_storage(&mut draws, count);
        let set = ItemSet::from_sealed(copy_of(&plain)).unwrap();
        let mut ranges = vec![(0, 0), (0, count), (count, count)];
        for _ in 0..300 {
            let a = draws.below(count + 1);
            let b = draws.below(count + 1);
            ranges.push((a.min(b), a.max(b)));
        }
        // Ranges ending in the last, partial block and crossing every checkpoint.
        ranges.push((count.saturating_sub(5), count));
        ranges.extend((0..=count / 64).map(|k| (k * 64, count)));
        ranges.extend((1..=count / 64).map(|k| (k * 64 - 1, (k * 64 + 1).min(count))));
        for (begin, end) in ranges {
            assert_eq!(
                set.fingerprint(begin, end).unwrap().to_bytes(),
                plain.fingerprint(begin, end).unwrap().to_bytes(),
                "{count} items, range {begin}..{end}"
            );
        }
        assert!(set.fingerprint(0, count + 1).is_err(), "past the end");
    }
}

#[test]
fn sums_wrap_as_the_crates_do() {
    let top = [0xffu8; 32];
    let mut one = [0u8; 32];
    one[0] = 1;
    assert_eq!(add_256(&top, &one), [0u8; 32], "2^256 - 1 + 1 wraps to 0");
    assert_eq!(sub_256(&[0u8; 32], &one), top, "0 - 1 wraps to 2^256 - 1");
    let mut lane_top = [0u8; 32];
    lane_top[..8].copy_from_slice(&[0xff; 8]);
    let mut carried = [0u8; 32];
    carried[8] = 1;
    assert_eq!(add_256(&lane_top, &one), carried, "a carry crosses lanes");
    let mut draws = Draws(7);
    for _ in 0..1000 {
        let (a, b) = (draws.id(), draws.id());
        let mut acc = negentropy::Accumulator::from_sum(a);
        acc.add(&b).unwrap();
        let ours = negentropy::Accumulator::from_sum(add_256(&a, &b));
        assert_eq!(
            acc.get_fingerprint(1).unwrap().to_bytes(),
            ours.get_fingerprint(1).unwrap().to_bytes()
        );
        assert_eq!(sub_256(&add_256(&a, &b), &b), a);
    }
}

/// Runs negentropy to its end with `initiator` starting; the ids it found only on its side
/// and only on the other, sorted.
fn reconcile_all(
    initiator: impl NegentropyStorageBase,
    responder: impl NegentropyStorageBase,
) -> (Vec<[u8; 32]>, Vec<[u8; 32]>) {
    // The smallest frame the crate allows, so the run takes many rounds cut by the limit.
    let mut ours = negentropy::Negentropy::owned(initiator, 4096).unwrap();
    let mut theirs = negentropy::Negentropy::owned(responder, 4096).unwrap();
    let (mut have, mut need) = (Vec::new(), Vec::new());
    let mut query = ours.initiate().unwrap();
    for _ in 0..1000 {
        let answer = theirs.reconcile(&query).unwrap();
        match ours
            .reconcile_with_ids(&answer, &mut have, &mut need)
            .unwrap()
        {
            Some(next) => query = next,
            None => {
                let mut have: Vec<[u8; 32]> = have.iter().map(|id| **id).collect();
                let mut need: Vec<[u8; 32]> = need.iter().map(|id| **id).collect();
                have.sort();
                need.sort();
                return (have, need);
            }
        }
    }
    panic!("no end after 1000 rounds");
}

#[test]
fn reconciliation_with_running_sums_finds_exactly_the_differences() {
    let mut draws = Draws(77);
    let shared = plain_storage(&mut draws, 20_000);
    let mut only_here = Vec::new();
    let mut only_there = Vec::new();
    let mut here = NegentropyStorageVector::new();
    let mut there = NegentropyStorageVector::new();
    shared
        .iterate(0, 20_000, &mut |item, _| {
            here.insert(item.timestamp, item.id)?;
            there.insert(item.timestamp, item.id)?;
            Ok(true)
        })
        .unwrap();
    for i in 0..300 {
        let id = draws.id();
        let at = draws.next() % 1_000_000;
        if i % 3 == 0 {
            there
                .insert(at, negentropy::Id::from_byte_array(id))
                .unwrap();
            only_there.push(id);
        } else {
            here.insert(at, negentropy::Id::from_byte_array(id))
                .unwrap();
            only_here.push(id);
        }
    }
    here.seal().unwrap();
    there.seal().unwrap();
    only_here.sort();
    only_there.sort();

    let summed_here = ItemSet::from_sealed(copy_of(&here)).unwrap();
    let (have, need) = reconcile_all(summed_here, copy_of(&there));
    assert_eq!(have, only_here, "the set with sums as initiator");
    assert_eq!(need, only_there);

    let summed_there = ItemSet::from_sealed(copy_of(&there)).unwrap();
    let (have, need) = reconcile_all(here, summed_there);
    assert_eq!(have, only_here, "the set with sums as responder");
    assert_eq!(need, only_there);
}

/// The class's set as a scan of every record would make it now.
fn scanned(s: &Store, class: Class) -> Vec<Id> {
    let inner = s.inner().unwrap();
    ids_of(&inner.scan_items(class, inner.items_at()).unwrap().set)
}

#[tokio::test]
async fn a_set_brought_up_to_date_by_the_journal_is_the_set_a_scan_makes() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let k = key(4);
    let mut draws = Draws(20);
    let mut held: Vec<Message> = Vec::new();
    let mut now = T0;
    for step in 0..160u64 {
        let created = T0.plus(std::time::Duration::from_secs(step * 60 + 1));
        match draws.below(8) {
            // Plain, under embargo, short-lived: new messages of every kind of item.
            0..=2 => {
                let m = headline_alert(&k, created, &format!("Mill {step} of Eastfold walks out"));
                put(&s, &m).await;
                held.push(m);
            }
            3 => {
                let base = headline_alert(&k, created, &format!("Rally {step} at noon"));
                let until = now.plus(std::time::Duration::from_secs(
                    60 * (1 + draws.below(90) as u64),
                ));
                let m = held_until(&base, &k, until);
                put(&s, &m).await;
                held.push(m);
            }
            4 => {
                let until = now.plus(std::time::Duration::from_secs(
                    60 * (1 + draws.below(90) as u64),
                ));
                let m = expiring(&simple_alert(&k, created), &k, until);
                put(&s, &m).await;
                held.push(m);
            }
            // A cancel of something held (perhaps under embargo, perhaps gone already).
            5 if !held.is_empty() => {
                let target = held[draws.below(held.len())].id();
                let c = cancel(&k, created, target, "called off");
                let _ = s.insert(&c, Origin::Local, now).await.expect("insert");
            }
            // Time passes: releases and expiry.
            _ => {
                now = now.plus(std::time::Duration::from_secs(60 * draws.below(40) as u64));
                s.release_due(now).await.unwrap();
                s.expire(now).await.unwrap();
            }
        }
        // Sets asked for now and then (so several commits pile up between two), per class.
        for (view, class) in [(PEER, Class::Peer), (View::Reader, Class::Reader)] {
            if draws.below(3) == 0 {
                assert_eq!(
                    ids_of(&s.items(&view).unwrap()),
                    scanned(&s, class),
                    "{class:?} at step {step}"
                );
            }
        }
    }
    for (view, class) in [(PEER, Class::Peer), (View::Reader, Class::Reader)] {
        assert_eq!(ids_of(&s.items(&view).unwrap()), scanned(&s, class));
    }
    // The journal keeps only what the older set needs.
    let inner = s.inner().unwrap();
    assert!(inner.items.journal().changes.is_empty());
}

#[tokio::test]
async fn items_above_the_durable_head_join_the_set_once_durable() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let k = key(5);
    for i in 0..5u64 {
        let created = T0.plus(std::time::Duration::from_secs(i));
        put(
            &s,
            &headline_alert(&k, created, &format!("Depot {i} of Northgate")),
        )
        .await;
    }
    let inner = s.inner().unwrap();
    let (generation, head) = inner.items_at();
    // As if the last two were committed and not yet durable when the set was made.
    let early = inner
        .scan_items(Class::Peer, (generation, head - 2))
        .unwrap();
    assert_eq!((early.set.len(), early.above_head.len()), (3, 2));
    let one_more = inner
        .update_items(Class::Peer, &early, (generation, head - 1))
        .unwrap()
        .expect("brought up to date from the journal");
    assert_eq!((one_more.set.len(), one_more.above_head.len()), (4, 1));
    let all = inner
        .update_items(Class::Peer, &one_more, (generation, head))
        .unwrap()
        .expect("brought up to date from the journal");
    assert!(all.above_head.is_empty());
    assert_eq!(ids_of(&all.set), scanned(&s, Class::Peer));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sets_asked_for_while_the_writer_commits_end_as_a_scan_would_make_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let k = key(6);
    // Readers of both classes ask for their sets as fast as they can while batches are
    // written; once the writes stop, one more ask must give what a scan gives.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let askers: Vec<_> = [PEER, View::Reader]
        .into_iter()
        .map(|view| {
            let (s, stop) = (s.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut asked = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && asked < 100_000 {
                    s.items(&view).unwrap();
                    asked += 1;
                }
                asked
            })
        })
        .collect();
    let mut written = Vec::new();
    for batch in 0..40u64 {
        let messages: Vec<(Message, Origin)> = (0..25u64)
            .map(|i| {
                let at = T0.plus(std::time::Duration::from_secs(batch * 100 + i));
                let m = headline_alert(&k, at, &format!("Yard {batch}-{i} of Southmoor"));
                (m, Origin::Local)
            })
            .collect();
        written.extend(messages.iter().map(|(m, _)| m.id()));
        s.insert_many(messages, T0).await.expect("insert");
        if batch % 5 == 4 {
            // Some of them withdrawn, so sets lose items too.
            let target = written[written.len() - 3];
            let c = cancel(
                &k,
                T0.plus(std::time::Duration::from_secs(batch * 100 + 99)),
                target,
                "off",
            );
            s.insert(&c, Origin::Local, T0).await.expect("insert");
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for asker in askers {
        assert!(asker.join().unwrap() > 0);
    }
    for (view, class) in [(PEER, Class::Peer), (View::Reader, Class::Reader)] {
        assert_eq!(
            ids_of(&s.items(&view).unwrap()),
            scanned(&s, class),
            "{class:?}"
        );
    }
}

#[tokio::test]
async fn a_full_journal_gives_up_on_the_oldest_set_and_keeps_the_other_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let k = key(7);
    let inner = s.inner().unwrap();
    inner.items.journal().max = 8;
    let scans = || inner.items.scans.load(std::sync::atomic::Ordering::Relaxed);
    let mut at = 0u64;
    let mut next = |s: &Store| {
        at += 1;
        let m = headline_alert(
            &k,
            T0.plus(std::time::Duration::from_secs(at)),
            &format!("Quay {at}"),
        );
        let s = s.clone();
        async move { put(&s, &m).await }
    };
    next(&s).await;
    // The readers' set is made once; the peers' set is asked for after every commit.
    s.items(&View::Reader).unwrap();
    s.items(&PEER).unwrap();
    assert_eq!(scans(), 2);
    for _ in 0..20 {
        next(&s).await;
        assert_eq!(ids_of(&s.items(&PEER).unwrap()), scanned(&s, Class::Peer));
    }
    // Two made at first, two by `scanned` per step: the peers' set itself was never scanned
    // again, though 20 changes passed the bound of 8 for the readers' set.
    assert_eq!(scans(), 2 + 20);
    assert!(inner.items.journal().changes.len() <= 8);
    // The readers' set, given up on, is made by a scan when next asked for, and right.
    assert_eq!(
        ids_of(&s.items(&View::Reader).unwrap()),
        scanned(&s, Class::Reader)
    );
    assert_eq!(scans(), 2 + 20 + 2);
}
