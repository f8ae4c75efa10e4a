//! Damage in the body log: a flipped bit is never served, never stops a read or a write, is
//! counted once, and is repaired by a good copy or by `check`.

use super::*;

/// Flips one bit in the middle of `needle` where it lies in the body log (the store closed).
fn flip(store_dir: &std::path::Path, needle: &[u8]) {
    for entry in std::fs::read_dir(store_dir.join("bodies")).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        if let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) {
            bytes[at + needle.len() / 2] ^= 0x10;
            std::fs::write(&path, bytes).unwrap();
            return;
        }
    }
    panic!("those bytes are not in the body log");
}

fn topic(t: &str) -> Filter {
    Filter {
        topics: vec![t.into()],
        ..Filter::default()
    }
}

async fn reopen(s: Store, dir: &std::path::Path) -> Store {
    s.close().await.unwrap();
    Store::open(&cfg(dir)).unwrap()
}

#[tokio::test]
async fn a_flipped_bit_is_never_served_counted_once_and_repaired_by_a_good_copy() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let msgs: Vec<Message> = (0..3)
        .map(|i| simple_alert(&k, T0.plus(Duration::from_secs(i))))
        .collect();
    for m in &msgs {
        accept(&s, m).await;
    }
    let damaged = &msgs[1];
    s.close().await.unwrap();
    flip(&cfg(dir.path()).path, damaged.signed().body());
    let s = Store::open(&cfg(dir.path())).unwrap();

    // Every read path skips it, and the reads go on past it.
    for _ in 0..3 {
        for (filter, view) in [
            (Filter::default(), View::Reader),
            (topic("union-rights"), View::Reader),
            (Filter::default(), PEER),
        ] {
            assert_eq!(
                ids(&read_all(&s, &filter, &view)),
                vec![msgs[0].id(), msgs[2].id()]
            );
        }
        assert!(s.message(&damaged.id()).unwrap().is_none());
        assert!(s.get(&damaged.id()).unwrap().is_none());
    }
    // Counted once, however often read, and wanted from a peer.
    assert_eq!(s.integrity().damaged_total, 1);
    assert_eq!(
        s.wanted(),
        vec![Wanted {
            id: damaged.id(),
            seq: 2
        }]
    );

    // A good copy replaces it, at a new seq every reader meets.
    let head = s.head();
    assert_eq!(
        s.repair(damaged).await.unwrap(),
        Repair::Replaced { seq: 4 }
    );
    let (fresh, _) = s.read(head, &Filter::default(), &View::Reader, 10).unwrap();
    assert_eq!(ids(&fresh), vec![damaged.id()]);
    assert_eq!(
        ids(&read_all(&s, &topic("union-rights"), &View::Reader)),
        vec![msgs[0].id(), msgs[2].id(), damaged.id()]
    );
    assert_eq!(s.get(&damaged.id()).unwrap().unwrap().seq, 4);
    assert_eq!(
        s.integrity(),
        Integrity {
            damaged_total: 1,
            repaired_total: 1,
            wanted: 0
        }
    );
    assert_eq!(s.repair(damaged).await.unwrap(), Repair::Sound);
    let s = reopen(s, dir.path()).await;
    assert_eq!(read_all(&s, &Filter::default(), &View::Reader).len(), 3);
    assert!(s.check(false).await.unwrap().is_clean());
}

#[tokio::test]
async fn withdrawing_expiring_and_releasing_a_damaged_message_do_not_fail() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (a, b) = (key(1), key(2));
    let target = call(&a, T0);
    let cancelled = simple_alert(&a, T0);
    let endorsement = endorse(
        &b,
        T0,
        target.id(),
        "The Fictional Seafarers stand with you",
    );
    let mut eb = body(
        &a,
        T0,
        Content::Alert(alert_content(&["en"], "Strike at noon")),
    );
    eb.effective_at = Some(T0.plus(HOUR));
    let embargoed = sign(eb, &a);
    for m in [&target, &cancelled, &endorsement, &embargoed] {
        accept(&s, m).await;
    }
    assert_eq!(s.tally(&target.id()).unwrap(), 1);
    s.close().await.unwrap();
    for m in [&cancelled, &endorsement, &embargoed] {
        flip(&cfg(dir.path()).path, m.signed().body());
    }
    let s = Store::open(&cfg(dir.path())).unwrap();

    // The release of a damaged embargoed message goes through; so does a cancel of one.
    assert_eq!(s.release_due(T0.plus(HOUR)).await.unwrap(), 1);
    accept(
        &s,
        &cancel(&a, T0.plus(HOUR), cancelled.id(), "named a member"),
    )
    .await;
    assert!(matches!(
        s.seen(&cancelled.id()).unwrap(),
        Some(Seen::Tombstone)
    ));
    // Expiry takes the damaged endorsement out of the tally, without its body.
    let stats = s.expire(T0.plus(2 * DAY)).await.unwrap();
    assert!(stats.expired >= 3, "{stats:?}");
    assert_eq!(s.tally(&target.id()).unwrap(), 0);
    assert!(s.wanted().iter().all(|w| w.id != endorsement.id()));
    assert!(read_all(&s, &Filter::default(), &PEER).is_empty());
}

#[tokio::test]
async fn a_repaired_embargoed_message_is_released_with_its_index_rows() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let mut eb = body(
        &k,
        T0,
        Content::Alert(alert_content(&["en"], "Strike at noon")),
    );
    eb.topics = vec!["strike".into()];
    eb.effective_at = Some(T0.plus(HOUR));
    let embargoed = sign(eb, &k);
    accept(&s, &embargoed).await;
    s.close().await.unwrap();
    flip(&cfg(dir.path()).path, embargoed.signed().body());
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert!(read_all(&s, &Filter::default(), &PEER).is_empty());
    assert_eq!(s.integrity().damaged_total, 1);
    // Still under embargo when repaired: readers get it at its release, through the index.
    assert!(matches!(
        s.repair(&embargoed).await.unwrap(),
        Repair::Replaced { .. }
    ));
    assert!(read_all(&s, &topic("strike"), &View::Reader).is_empty());
    assert_eq!(read_all(&s, &topic("strike"), &PEER).len(), 1);
    assert_eq!(s.release_due(T0.plus(HOUR)).await.unwrap(), 1);
    assert_eq!(
        ids(&read_all(&s, &topic("strike"), &View::Reader)),
        vec![embargoed.id()]
    );
}

#[tokio::test]
async fn check_finds_damage_and_repair_drops_it_for_a_peer_to_bring_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (a, b) = (key(1), key(2));
    let target = call(&a, T0);
    let bad_body = endorse(&b, T0, target.id(), "In solidarity");
    let bad_signature = profile(&b, T0, "Fictional Seafarers");
    let sound = simple_alert(&a, T0);
    for m in [&target, &bad_body, &bad_signature, &sound] {
        accept(&s, m).await;
    }
    assert!(s.check(false).await.unwrap().is_clean());
    s.close().await.unwrap();
    flip(&cfg(dir.path()).path, bad_body.signed().body());
    flip(&cfg(dir.path()).path, bad_signature.signed().signature());
    let s = Store::open(&cfg(dir.path())).unwrap();

    let report = s.check(false).await.unwrap();
    let bodies: Vec<(Option<u64>, Option<Id>)> = report
        .findings
        .iter()
        .filter(|f| f.what == "body")
        .map(|f| (f.seq, f.id))
        .collect();
    assert_eq!(
        bodies,
        vec![
            (Some(2), Some(bad_body.id())),
            (Some(3), Some(bad_signature.id()))
        ],
        "{report:?}"
    );
    assert!(!report.repaired);
    assert_eq!(report.bodies, 4);

    let repaired = s.check(true).await.unwrap();
    assert!(repaired.repaired);
    assert_eq!(repaired.dropped.len(), 2);
    let after = s.check(false).await.unwrap();
    assert!(after.is_clean(), "{after:?}");
    assert_eq!(s.tally(&target.id()).unwrap(), 0);
    assert!(s.profile(&b.public()).unwrap().is_none());
    assert_eq!(s.counts().unwrap().messages, 2);
    assert_eq!(
        ids(&read_all(&s, &Filter::default(), &View::Reader)),
        vec![target.id(), sound.id()]
    );

    // The dropped ones are wanted across a reopen, and welcome back: no tombstone.
    let s = reopen(s, dir.path()).await;
    let mut wanted: Vec<Id> = s.wanted().iter().map(|w| w.id).collect();
    wanted.sort();
    let mut dropped = repaired.dropped.clone();
    dropped.sort();
    assert_eq!(wanted, dropped);
    assert!(s.wanted().iter().all(|w| w.seq == 0));
    assert!(s.seen(&bad_body.id()).unwrap().is_none());
    accept(&s, &bad_body).await;
    s.settle_wanted(&bad_body.id(), true).await.unwrap();
    assert_eq!(s.tally(&target.id()).unwrap(), 1);
    let s = reopen(s, dir.path()).await;
    assert_eq!(
        s.wanted().iter().map(|w| w.id).collect::<Vec<_>>(),
        vec![bad_signature.id()]
    );
    assert!(s.check(false).await.unwrap().is_clean());
}

/// Reads of body segment files the store has tried since it opened.
fn body_reads(s: &Store) -> u64 {
    s.inner()
        .unwrap()
        .bodies
        .reads
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// The body segment holding the body of the message at `seq`.
fn segment_of(s: &Store, seq: u64) -> u64 {
    let entry = s.inner().unwrap().log_entry(seq).unwrap().unwrap();
    entry.body.unwrap().seg
}

/// Publishes alerts until the body log has moved on from segment `seg`; returns them with their
/// seqs (the last one is in the next segment).
async fn fill_segment(s: &Store, k: &SecretKey, seg: u64) -> Vec<(Message, u64)> {
    let mut out = Vec::new();
    for i in 1..1000 {
        if s.inner().unwrap().bodies.current() != seg {
            return out;
        }
        let m = simple_alert(k, T0.plus(Duration::from_secs(i)));
        let seq = accept(s, &m).await;
        out.push((m, seq));
    }
    panic!("1,000 alerts did not fill a body segment");
}

/// A reader holds a log entry while retention compacts the segment it points into and deletes
/// it: the body moved, the read finds where to, and nothing is taken for damage.
#[tokio::test]
async fn a_body_moved_by_compaction_while_it_is_read_is_read_where_it_went() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let mut long = body(
        &k,
        T0,
        Content::Alert(alert_content(&["en"], "Still detained")),
    );
    long.expires_at = Some(T0.plus(10 * DAY));
    let kept = sign(long, &k);
    let seq = accept(&s, &kept).await;
    let inner = s.inner().unwrap();
    let stale = inner.log_entry(seq).unwrap().unwrap();
    let first = segment_of(&s, seq);
    // Short-lived alerts fill the rest of its segment; their expiry leaves it mostly dead.
    fill_segment(&s, &k, first).await;
    s.expire(T0.plus(2 * DAY)).await.unwrap();
    assert!(
        !inner.bodies.segments().unwrap().contains(&first),
        "the segment was compacted and deleted"
    );
    assert_ne!(segment_of(&s, seq), first);

    // The entry read before the move, as a read of the log holds it.
    inner.recent.forget(seq);
    let before = body_reads(&s);
    let read = inner.in_view(seq, Some(stale), &View::Reader).unwrap();
    assert_eq!(read.map(|m| m.id()), Some(kept.id()));
    assert_eq!(
        body_reads(&s) - before,
        2,
        "one read told it moved, one read where it went"
    );
    assert_eq!(s.integrity().damaged_total, 0);
    assert!(s.wanted().is_empty());
    assert_eq!(
        ids(&read_all(&s, &Filter::default(), &View::Reader)),
        vec![kept.id()]
    );
    assert!(s.check(false).await.unwrap().is_clean());
}

/// A segment lost behind the store's back and a flipped bit are damage, found by the first
/// read: never read again as if they had moved, noted once, the rest of the read going on.
#[tokio::test]
async fn a_lost_segment_and_a_flipped_bit_are_damage_read_once_not_a_move() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let published = fill_segment(&s, &k, 1).await;
    let (in_first, in_second): (Vec<_>, Vec<_>) = published
        .iter()
        .cloned()
        .partition(|(_, seq)| segment_of(&s, *seq) == 1);
    assert!(in_first.len() > 1);
    let flipped = simple_alert(&k, T0.plus(HOUR));
    let flipped_seq = accept(&s, &flipped).await;
    assert_eq!(segment_of(&s, flipped_seq), 2);
    s.close().await.unwrap();
    flip(&cfg(dir.path()).path, flipped.signed().body());
    let s = Store::open(&cfg(dir.path())).unwrap();
    // Segment 1 goes while the store is open (opening checks that every counted one is there).
    std::fs::remove_file(cfg(dir.path()).path.join("bodies/0000000000000001.seg")).unwrap();
    let (lost, lost_seq) = in_first[0].clone();

    // By id: one read each.
    for (m, detail) in [(&lost, "is missing"), (&flipped, "does not hash")] {
        let before = body_reads(&s);
        assert!(s.message(&m.id()).unwrap().is_none());
        assert_eq!(body_reads(&s) - before, 1, "{detail}");
    }
    // In a walk of the log: one read each, and the rest of the read goes on.
    let before = body_reads(&s);
    let (entries, _) = s
        .read(0, &Filter::default(), &View::Reader, 10_000)
        .unwrap();
    assert_eq!(
        body_reads(&s) - before,
        published.len() as u64 + 1,
        "one read per entry, damaged or not"
    );
    let sound: Vec<Id> = in_second.iter().map(|(m, _)| m.id()).collect();
    assert_eq!(ids(&entries), sound);
    // Noted once each, at its seq, and wanted from a peer.
    let mut wanted: Vec<(u64, Id)> = s.wanted().iter().map(|w| (w.seq, w.id)).collect();
    wanted.sort();
    let mut expected: Vec<(u64, Id)> = in_first.iter().map(|(m, seq)| (*seq, m.id())).collect();
    expected.push((flipped_seq, flipped.id()));
    assert_eq!(wanted, expected);
    assert_eq!(s.integrity().damaged_total, expected.len() as u64);
    assert!(wanted.contains(&(lost_seq, lost.id())));
}

#[tokio::test]
async fn a_repaired_message_held_for_its_target_is_released_after_it_not_before() {
    // An update with no hour of its own, held back for its original's: repaired before that
    // hour, it stays held, and readers meet it once, after the original.
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let hour = T0.plus(HOUR);
    let a = held_until(&simple_alert(&k, T0), &k, hour);
    accept(&s, &a).await;
    let u = update(&k, T0.plus(MINUTE), a.id(), "Strike moved to noon");
    accept(&s, &u).await;
    s.close().await.unwrap();
    flip(&cfg(dir.path()).path, u.signed().body());
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert!(matches!(
        s.repair(&u).await.unwrap(),
        Repair::Replaced { .. }
    ));
    assert!(
        read_all(&s, &Filter::default(), &View::Reader).is_empty(),
        "shown before its original's hour"
    );
    assert_eq!(s.release_due(hour).await.unwrap(), 1);
    assert_eq!(
        s.release_due(hour.plus(Duration::from_millis(1)))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        ids(&read_all(&s, &Filter::default(), &View::Reader)),
        vec![a.id(), u.id()]
    );
}

/// A flipped bit in sled's snapshot (which only saves replaying its log) costs a longer start,
/// not the store: it was "the database file is corrupt … start empty", with every message
/// still in the log.
#[tokio::test]
async fn a_flipped_bit_in_sleds_snapshot_is_set_aside_and_the_log_read_alone() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    let sent: Vec<Message> = (0..50u64)
        .map(|i| simple_alert(&key(1), T0.plus(Duration::from_secs(i))))
        .collect();
    {
        let s = Store::open(&c).unwrap();
        for m in &sent {
            accept(&s, m).await;
        }
        s.close().await.unwrap();
    }
    let snaps: Vec<_> = std::fs::read_dir(&c.path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("snap.") && !name.ends_with(".generating")
        })
        .collect();
    assert_eq!(
        snaps.len(),
        1,
        "a clean close leaves one snapshot: {snaps:?}"
    );
    let mut bytes = std::fs::read(&snaps[0]).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x04;
    std::fs::write(&snaps[0], bytes).unwrap();

    let s = Store::open(&c).unwrap();
    assert_eq!(s.head(), 50);
    assert_eq!(
        ids(&read_all(&s, &Filter::default(), &View::Reader)),
        sent.iter().map(Message::id).collect::<Vec<_>>()
    );
    let mut aside = std::ffi::OsString::from("damaged-");
    aside.push(snaps[0].file_name().unwrap());
    assert!(snaps[0].with_file_name(aside).exists(), "kept for a look");
    // Writes go on, and the next start is a plain one.
    accept(&s, &simple_alert(&key(2), T0)).await;
    let s = reopen(s, dir.path()).await;
    assert_eq!(s.head(), 51);
}
