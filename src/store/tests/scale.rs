//! The store at scale, kept small: retention of many messages expiring at once in bounded
//! batches with publishes answered between them and a pass resumed after a restart, and the
//! filter of held ids saved at a clean close or filled again after a crash.

use super::*;

/// How many messages expire together in the retention tests.
const MANY: u64 = 20_000;

/// Messages by a few fictional unions, made at T0 and expiring together an hour later.
fn expiring_together(count: u64) -> Vec<Message> {
    let keys: Vec<SecretKey> = (1..=8u8).map(key).collect();
    (0..count)
        .map(|n| expiring_at(&keys[(n % 8) as usize], n, T0.plus(HOUR)))
        .collect()
}

/// Stores `msgs` in transactions of 2,000: each leaves one expiry row of 2,000 entries, more
/// than a batch takes, so batches stop inside rows.
async fn store_all(s: &Store, msgs: &[Message]) {
    for chunk in msgs.chunks(2_000) {
        for r in s.insert_many(local(chunk), T0).await.unwrap() {
            assert!(matches!(r, Inserted::Accepted { .. }), "{r:?}");
        }
    }
}

/// One batch of retention at `now`, as `Store::expire` runs it, made durable.
async fn one_batch(s: &Store, now: Timestamp) -> (ExpireStats, bool) {
    let ((stats, more, g), commit) = s.on_writer(move |i| i.expire_batch(now)).await.unwrap();
    commit.wait(g).await.unwrap();
    (stats, more)
}

/// A message published at `at`, living a day.
fn fresh(n: u64, at: Timestamp) -> Message {
    let mut b = body(
        &key(30),
        at.plus(Duration::from_secs(n)),
        Content::Alert(alert_content(&["en"], "Bakers' strike continues")),
    );
    b.expires_at = Some(at.plus(DAY));
    sign(b, &key(30))
}

#[tokio::test]
async fn many_expiring_at_once_go_in_bounded_batches_between_publishes_and_resume_after_a_restart()
{
    let dir = tempfile::tempdir().unwrap();
    let msgs = expiring_together(MANY);
    let s = Store::open(&cfg(dir.path())).unwrap();
    store_all(&s, &msgs).await;
    let later = T0.plus(2 * HOUR);
    let mut expired = 0;
    let mut published = Vec::new();
    // A third of the pass, a publish answered after every batch.
    while expired < MANY as usize / 3 {
        let (stats, more) = one_batch(&s, later).await;
        assert!(more, "more is due after {expired}");
        assert!(
            (1..=BATCH_MAX).contains(&stats.expired),
            "a batch expired {}",
            stats.expired
        );
        expired += stats.expired;
        let m = fresh(published.len() as u64, later);
        assert!(matches!(
            s.insert(&m, Origin::Local, later).await.unwrap(),
            Inserted::Accepted { .. }
        ));
        published.push(m);
    }
    assert!(published.len() >= 3, "{} batches", published.len());
    assert_eq!(
        s.counts().unwrap().messages,
        MANY - expired as u64 + published.len() as u64
    );
    // Stopped mid-pass (a restart): the next pass goes on from where this one got to.
    s.close().await.unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    // Publishes answered while that pass runs: some see it partway, neither before its first
    // batch nor after its last.
    let left = MANY - expired as u64;
    let sweep = {
        let s = s.clone();
        tokio::spawn(async move { s.expire(later).await.unwrap() })
    };
    let mut seen_partway = 0;
    for n in 0.. {
        assert!(n < 10_000, "the pass never ended");
        if sweep.is_finished() {
            break;
        }
        // Numbered past the first loop's, however many batches a slow machine made there.
        let m = fresh(MANY + n, later);
        assert!(matches!(
            s.insert(&m, Origin::Local, later).await.unwrap(),
            Inserted::Accepted { .. }
        ));
        published.push(m);
        let still_due = s.counts().unwrap().messages - published.len() as u64;
        if still_due > 0 && still_due < left {
            seen_partway += 1;
        }
    }
    let rest = sweep.await.unwrap();
    assert!(
        seen_partway >= 2,
        "{seen_partway} publishes answered while the pass ran"
    );
    assert_eq!(expired + rest.expired, MANY as usize);
    // Nothing expired is left: every expired id a tombstone, the expiry rows only the live
    // messages', and what was published meanwhile all there.
    let counts = s.counts().unwrap();
    assert_eq!(counts.messages, published.len() as u64);
    assert_eq!(counts.tombstones, MANY);
    for m in msgs.iter().step_by(97) {
        assert_eq!(s.seen(&m.id()).unwrap(), Some(Seen::Tombstone));
    }
    for m in &published {
        assert!(s.message(&m.id()).unwrap().is_some());
    }
    let inner = s.inner().unwrap();
    let end = codec::time_id(later.0, &Id([0xff; 32]));
    assert_eq!(inner.trees.get(Tree::Expiry).range(..=end).count(), 0);
    assert_eq!(s.expire(later).await.unwrap(), ExpireStats::default());
}

/// The largest batch (see `maintain.rs`).
const BATCH_MAX: usize = 512;

#[tokio::test]
async fn the_id_filter_saved_at_a_clean_close_still_dedups_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let msgs = expiring_together(300);
    store_all(&s, &msgs).await;
    // A third expired: tombstones, which the filter must also hold.
    s.expire(T0.plus(HOUR)).await.unwrap();
    let gone = msgs
        .iter()
        .filter(|m| s.message(&m.id()).unwrap().is_none())
        .count();
    assert!(gone > 0);
    s.close().await.unwrap();
    let saved = cfg(dir.path()).path.join(ids::FILTER_FILE);
    assert!(saved.exists(), "a clean close saves the filter");
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert!(!saved.exists(), "the open took the saved filter");
    assert!(s.ids_complete().unwrap(), "loaded whole, nothing to fill");
    for m in &msgs {
        assert!(s.may_hold(&m.id()).unwrap());
    }
    let unknown = (0..200)
        .filter(|n| s.may_hold(&fresh(*n, T0).id()).unwrap())
        .count();
    assert!(unknown < 10, "{unknown} of 200 unknown ids said perhaps");
    let again = s.insert_many(local(&msgs), T0).await.unwrap();
    for r in again {
        assert!(
            matches!(
                r,
                Inserted::Duplicate { .. } | Inserted::Refused(Rejection { .. })
            ),
            "{r:?}"
        );
    }
    assert_eq!(s.counts().unwrap().messages, 300 - gone as u64);
}

#[tokio::test]
async fn a_store_closed_without_saving_its_filter_fills_it_again_and_still_dedups() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let msgs = expiring_together(3_000);
    store_all(&s, &msgs).await;
    // Dropped without a close, as a crash leaves it: no filter saved.
    drop(s);
    let saved = cfg(dir.path()).path.join(ids::FILTER_FILE);
    assert!(!saved.exists());
    let s = Store::open(&cfg(dir.path())).unwrap();
    // Whether or not the filling is done yet, every id held is a duplicate.
    for r in s.insert_many(local(&msgs[..1_000]), T0).await.unwrap() {
        assert!(matches!(r, Inserted::Duplicate { .. }), "{r:?}");
    }
    let mut waited = 0;
    while !s.ids_complete().unwrap() {
        assert!(waited < 2_000, "the filter was never filled");
        waited += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for m in &msgs {
        assert!(s.may_hold(&m.id()).unwrap(), "filled with every id held");
    }
    for r in s.insert_many(local(&msgs[1_000..]), T0).await.unwrap() {
        assert!(matches!(r, Inserted::Duplicate { .. }), "{r:?}");
    }
    // A filter from before a crash is never loaded: the open removed the file, and one
    // saved for another head is refused.
    s.close().await.unwrap();
    assert!(saved.exists());
    let s = Store::open(&cfg(dir.path())).unwrap();
    let m = fresh(1, T0);
    assert!(matches!(
        s.insert(&m, Origin::Local, T0).await.unwrap(),
        Inserted::Accepted { .. }
    ));
    drop(s);
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert!(!s.ids_complete().unwrap() || s.may_hold(&m.id()).unwrap());
    assert!(matches!(
        s.insert(&m, Origin::Local, T0).await.unwrap(),
        Inserted::Duplicate { .. }
    ));
}

#[tokio::test]
async fn a_cancel_before_its_original_is_found_through_the_filter_after_a_close_or_a_crash() {
    // The filter of held ids also holds the targets of references, so that a new message's
    // id costs no lookup of the messages naming it; one named before it came must still be
    // found, with the filter saved at a close, and filled again after a crash.
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let originals: Vec<Message> = (0..3).map(|n| fresh(n, T0)).collect();
    let s = Store::open(&cfg(dir.path())).unwrap();
    for o in &originals {
        let c = cancel(&key(30), T0.plus(MINUTE), o.id(), "called off");
        assert!(matches!(
            s.insert(&c, Origin::Local, T0).await.unwrap(),
            Inserted::Accepted { .. }
        ));
        assert!(s.may_hold(&o.id()).unwrap(), "a target is in the filter");
    }
    // An id nobody named is not (the filter answers for it without a lookup).
    assert!(!s.may_hold(&simple_alert(&k, T0).id()).unwrap());
    let cancelled = |s: &Store, m: &Message| s.get(&m.id()).unwrap().unwrap().cancelled;
    accept(&s, &originals[0]).await;
    assert!(cancelled(&s, &originals[0]));
    // A clean close: the saved filter has the targets.
    s.close().await.unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert!(s.ids_complete().unwrap());
    accept(&s, &originals[1]).await;
    assert!(cancelled(&s, &originals[1]));
    // A crash: filled again from the trees, the reference rows' targets with them.
    drop(s);
    let s = Store::open(&cfg(dir.path())).unwrap();
    let mut waited = 0;
    while !s.ids_complete().unwrap() {
        assert!(waited < 2_000, "the filter was never filled");
        waited += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(s.may_hold(&originals[2].id()).unwrap());
    accept(&s, &originals[2]).await;
    assert!(cancelled(&s, &originals[2]));
}

/// The log position of sled's newest recovery snapshot in `dir` (its file is `snap.<hex>`), if
/// it wrote one.
fn snapshot_lsn(dir: &std::path::Path) -> Option<u64> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            u64::from_str_radix(name.strip_prefix("snap.")?, 16).ok()
        })
        .max()
}

#[tokio::test]
async fn a_clean_close_leaves_a_snapshot_past_every_write_so_the_next_start_replays_nothing() {
    // sled writes its recovery snapshot only when it opens; without a fresh one the next start
    // replays everything written since this one began.
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    let s = Store::open(&c).unwrap();
    let at_open = snapshot_lsn(&c.path);
    store_all(&s, &expiring_together(2_000)).await;
    s.close().await.unwrap();
    let at_close = snapshot_lsn(&c.path);
    assert!(
        at_close > at_open,
        "the snapshot moved past the writes: {at_open:?} → {at_close:?}"
    );
    // Nothing written since: opening again finds nothing to replay, and the store is whole.
    let s = Store::open(&c).unwrap();
    assert_eq!(snapshot_lsn(&c.path), at_close);
    assert_eq!(s.counts().unwrap().messages, 2_000);
    // A close writes one only when what the next start would replay outweighs reading sled's
    // page table: messages changed since the open (accepted or expired) an eighth of those
    // held.
    let worth = |s: &Store| s.inner().unwrap().snapshot_worth_writing(s.head());
    assert!(!worth(&s), "nothing changed");
    let later = T0.plus(2 * HOUR);
    let fresh_ones: Vec<Message> = (0..400).map(|n| fresh(n, later)).collect();
    for m in &fresh_ones[..100] {
        accept(&s, m).await;
    }
    assert!(!worth(&s), "100 of 2,100");
    let (stats, _) = one_batch(&s, later).await;
    assert!(stats.expired > 0);
    let changed = 100 + stats.expired as u64;
    let held = s.counts().unwrap().messages;
    assert_eq!(worth(&s), changed * 8 >= held, "{changed} of {held}");
    for m in &fresh_ones[100..] {
        accept(&s, m).await;
    }
    assert!(worth(&s), "at least 400 of at most 2,400");
    s.close().await.unwrap();
}

#[tokio::test]
async fn an_unfinished_snapshot_left_by_a_stop_cut_short_does_not_keep_the_store_from_opening() {
    // sled reads the last `snap.` file by name, finished or not: one cut short by a kill or a
    // full disk while a stop wrote it would make the store refuse to open as corrupt.
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    let s = Store::open(&c).unwrap();
    store_all(&s, &expiring_together(500)).await;
    s.close().await.unwrap();
    let unfinished = c.path.join("snap.FFFFFFFFFFFFFFFF.generating");
    std::fs::write(&unfinished, b"cut short").unwrap();
    let s = Store::open(&c).expect("the store opens");
    assert!(!unfinished.exists());
    assert_eq!(s.counts().unwrap().messages, 500);
    s.close().await.unwrap();
}
