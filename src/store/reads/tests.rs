//! Tests of the read pool: it answers what the store answers, runs no more reads at once than
//! its threads, refuses a read that waits too long, makes no read its caller gave up on, and
//! never holds a runtime worker while a read is slow.
//!
//! Slow reads are made by holding them on their threads (`hold`), never by timing: every
//! outcome below is decided before the held reads are let go.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::*;
use crate::message::{Message, SecretKey, Timestamp};
use crate::store::{Origin, StoreConfig};

const T0: Timestamp = Timestamp(1_800_000_000_000);

/// How long a test waits for a condition before it fails (a bound, not a timing).
const PATIENCE: Duration = Duration::from_secs(30);

fn store(dir: &std::path::Path) -> Store {
    Store::open(&StoreConfig {
        path: dir.join("data"),
        cache_bytes: 8 * 1024 * 1024,
        reserve_bytes: 0,
        ..StoreConfig::default()
    })
    .expect("open")
}

fn alert(headline: &str) -> Message {
    crate::store::tests::headline_alert(&SecretKey::from_seed(&[7; 32]), T0, headline)
}

fn limits(threads: usize, wait: Duration) -> ReadLimits {
    ReadLimits { threads, wait }
}

/// Waits until `done` holds for the pool's stats (false if it never does).
async fn until(reads: &Reads, done: impl Fn(ReadStats) -> bool) -> bool {
    let give_up = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < give_up {
        if done(reads.stats()) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    false
}

#[tokio::test]
async fn reads_answer_what_the_store_answers() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let a = alert("Bakers detained in Eastmoor");
    s.insert(&a, Origin::Local, T0).await.expect("insert");
    let reads = Reads::new(s.clone(), ReadLimits::default());

    let (entries, scanned) = reads
        .read(0, &Filter::default(), &View::Reader, 10)
        .await
        .expect("read");
    let (sync_entries, sync_scanned) = s
        .read(0, &Filter::default(), &View::Reader, 10)
        .expect("read");
    assert_eq!(scanned, sync_scanned);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].seq, sync_entries[0].seq);
    assert_eq!(entries[0].message.signed(), a.signed());

    let state = reads.get(&a.id()).await.expect("get").expect("held");
    assert_eq!(state.seq, 1);
    assert_eq!(state.message.map(|m| m.id()), Some(a.id()));
    assert!(
        reads
            .get(&alert("Never sent").id())
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(reads.reader_head().await.unwrap(), s.reader_head().unwrap());
    assert_eq!(reads.counts().await.unwrap(), s.counts().unwrap());
    let stats = reads.stats();
    assert_eq!((stats.queued, stats.running, stats.busy), (0, 0, 0));
}

#[tokio::test]
async fn the_pool_runs_no_more_reads_at_once_than_its_threads() {
    let dir = tempfile::tempdir().unwrap();
    let reads = Reads::new(store(dir.path()), limits(2, PATIENCE));
    let held = reads.hold_next(3);
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let reads = reads.clone();
        waiting.push(tokio::spawn(async move { reads.reader_head().await }));
    }
    assert!(held.until_held(2).await, "two reads started");
    // Every read has asked: two run (held), the third waits for a thread. Were the pool not
    // bounded, the third would be held too.
    assert!(
        until(&reads, |s| s.running + s.queued == 3).await,
        "{:?}",
        reads.stats()
    );
    assert_eq!(held.held(), 2);
    assert_eq!((reads.stats().running, reads.stats().queued), (2, 1));

    held.release();
    for read in waiting {
        assert_eq!(read.await.expect("task").expect("read"), 0);
    }
    let stats = reads.stats();
    assert_eq!((stats.queued, stats.running, stats.busy), (0, 0, 0));
}

#[tokio::test]
async fn a_read_that_waits_too_long_for_a_thread_is_refused_busy_and_never_made() {
    let dir = tempfile::tempdir().unwrap();
    let reads = Reads::new(store(dir.path()), limits(1, Duration::from_millis(20)));
    let held = reads.hold_next(1);
    let slow = {
        let reads = reads.clone();
        tokio::spawn(async move { reads.reader_head().await })
    };
    assert!(held.until_held(1).await);

    let made = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&made);
    let refused = reads
        .run(move |store| {
            flag.store(true, Ordering::SeqCst);
            store.reader_head()
        })
        .await;
    assert!(
        matches!(&refused, Err(StoreError::Busy { threads: 1, .. })),
        "{refused:?}"
    );
    assert!(refused.as_ref().is_err_and(StoreError::is_unavailable));
    assert_eq!(reads.stats().busy, 1);

    held.release();
    assert_eq!(slow.await.expect("task").expect("read"), 0);
    assert!(
        !made.load(Ordering::SeqCst),
        "the refused read was not made"
    );
}

#[tokio::test]
async fn a_read_whose_caller_gave_up_while_it_waited_is_never_made() {
    let dir = tempfile::tempdir().unwrap();
    let reads = Reads::new(store(dir.path()), limits(1, PATIENCE));
    let held = reads.hold_next(1);
    let slow = {
        let reads = reads.clone();
        tokio::spawn(async move { reads.reader_head().await })
    };
    assert!(held.until_held(1).await);

    let made = Arc::new(AtomicBool::new(false));
    let given_up = {
        let reads = reads.clone();
        let flag = Arc::clone(&made);
        tokio::spawn(async move {
            reads
                .run(move |store| {
                    flag.store(true, Ordering::SeqCst);
                    store.reader_head()
                })
                .await
        })
    };
    assert!(
        until(&reads, |s| s.queued == 1).await,
        "{:?}",
        reads.stats()
    );
    given_up.abort();
    assert!(
        until(&reads, |s| s.queued == 0).await,
        "{:?}",
        reads.stats()
    );

    held.release();
    assert_eq!(slow.await.expect("task").expect("read"), 0);
    // One more read through the single thread: it runs after everything asked before it.
    assert_eq!(reads.reader_head().await.unwrap(), 0);
    assert!(
        !made.load(Ordering::SeqCst),
        "the abandoned read was not made"
    );
}

/// On a runtime of one thread, a held read must leave that thread free: another read is
/// answered meanwhile, and the caller's timeout fires. Time is paused and moved by the test (a
/// read running on the pool keeps tokio from moving it by itself).
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_slow_read_holds_no_runtime_thread_and_its_callers_timeout_fires() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(dir.path());
    let a = alert("Bakers detained in Westmoor");
    s.insert(&a, Origin::Local, T0).await.expect("insert");
    let reads = Reads::new(s, limits(2, PATIENCE));
    let held = reads.hold_next(1);

    let id = a.id();
    let timed = {
        let reads = reads.clone();
        tokio::spawn(
            async move { tokio::time::timeout(Duration::from_secs(1), reads.get(&id)).await },
        )
    };
    assert!(held.until_held(1).await, "the read started and is held");
    // The other thread answers meanwhile.
    let state = reads.get(&a.id()).await.expect("get").expect("held");
    assert_eq!(state.seq, 1);

    tokio::time::advance(Duration::from_secs(2)).await;
    let outcome = timed.await.expect("task");
    assert!(outcome.is_err(), "the caller's timeout fired: {outcome:?}");
    assert_eq!(held.held(), 1, "while the read was still held");
    held.release();
}
