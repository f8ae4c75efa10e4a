//! A node on a real file system that fills up: a small tmpfs mounted for the test (CI runs as
//! root). Where this process may not mount one, each test says it was skipped and passes, so
//! `cargo test` still passes for a user without root.
//!
//! What must hold through the episode: every acknowledged message stays readable (during, after
//! space returns, after a restart); a full store answers `unavailable`, says so on `/healthz` and
//! in `node status`, and accepts again by itself when space returns.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use futures::StreamExt;
use tocsin::message::*;
use tocsin::rpc::{ClientError, ClientEvent, PublishOutcome};

use crate::support::*;

/// A tmpfs of a few MiB, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts one, or says why the test is skipped and returns `None`.
    fn mount(test: &str, mib: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mounted = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            let note = format!(
                "SKIPPED {test}: it fills a small tmpfs, and this process may not mount one (run the tests as root to include it)"
            );
            eprintln!("{note}");
            println!("{note}");
            return None;
        }
        Some(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A node whose data lives on this disk, with a free-space reserve of `reserve_mb`.
    async fn node(&self, reserve_mb: u64) -> TestNode {
        let data = self.path().join("data");
        TestNode::start_with(|c| {
            c.node.data_dir = data;
            c.store.reserve_mb = reserve_mb;
        })
        .await
    }

    fn free(&self) -> u64 {
        let st = rustix::fs::statvfs(self.path()).expect("statvfs");
        st.f_bavail * st.f_frsize
    }

    /// Writes a filler file so that about `leave` bytes stay free.
    fn fill_leaving(&self, leave: u64) -> PathBuf {
        let path = self.path().join("filler");
        let mut f = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0x5au8; 64 * 1024];
        while self.free() > leave {
            let n = (self.free() - leave).min(chunk.len() as u64) as usize;
            if f.write_all(&chunk[..n.max(1)]).is_err() {
                break;
            }
            f.flush().ok();
        }
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// An alert of about 16 KiB (a long description), so that a few MiB fill in a few hundred.
fn bulky_alert(n: u32) -> Message {
    let key = org(61);
    let mut body = alert(
        &key,
        &format!("Port workers of Westhaven detained, report {n}"),
    );
    if let Content::Alert(a) = &mut body.content {
        a.info[0].description = format!("Report {n}. ")
            .repeat(2000)
            .chars()
            .take(15_000)
            .collect();
    }
    body.created_at = Timestamp(body.created_at.0 + u64::from(n));
    sign(body, &key)
}

/// Publishes bulky alerts until the node refuses one as `unavailable` (at most `max`);
/// returns the ids acknowledged and the refusal.
async fn publish_until_full(node: &TestNode, from: u32, max: u32) -> (Vec<Id>, Rejection) {
    let mut client = node.client().await;
    let mut acked = Vec::new();
    for n in from..from + max {
        let m = bulky_alert(n);
        match client.publish(m.signed()).await {
            Ok(PublishOutcome::Accepted { id, .. }) => acked.push(id),
            Ok(other) => panic!("a new message came back as {other:?}"),
            Err(ClientError::Refused(r)) => {
                assert_eq!(r.reason, Reason::Unavailable, "{r}");
                return (acked, r);
            }
            Err(e) => panic!("publish {n} failed without a reason code: {e}"),
        }
    }
    panic!("{max} messages fit on a disk meant to fill");
}

/// Every id a reader's subscription from the start delivers, up to caught-up.
async fn all_delivered(node: &TestNode) -> BTreeSet<Id> {
    let mut client = node.client().await;
    let mut events = client
        .subscribe(&Filter::default(), 0, None)
        .await
        .expect("subscribing");
    let mut got = BTreeSet::new();
    loop {
        match within("the backlog", events.next()).await {
            Some(Ok(ClientEvent::Delivery { message, .. })) => {
                got.insert(message.id());
            }
            Some(Ok(ClientEvent::CaughtUp(_))) => return got,
            other => panic!("the subscription ended before catching up: {other:?}"),
        }
    }
}

/// Checks that every acknowledged message is delivered and can be fetched whole.
async fn assert_all_readable(node: &TestNode, acked: &[Id], when: &str) {
    let delivered = all_delivered(node).await;
    let missing: Vec<_> = acked.iter().filter(|id| !delivered.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{when}: {} of {} acknowledged messages not delivered",
        missing.len(),
        acked.len()
    );
    let mut client = node.client().await;
    for id in acked {
        // Right after a failed write the store reopens itself, and a read meanwhile is answered
        // `unavailable` ("try again later"): asked again, boundedly, it must come back whole.
        let mut tries = 0;
        let got = loop {
            match client.get(*id).await {
                Err(ClientError::Refused(r)) if r.reason == Reason::Unavailable && tries < 200 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => break other.expect("get"),
            }
        };
        assert!(got.is_some(), "{when}: {id} cannot be fetched");
    }
}

/// While the disk is full: every acknowledged message is readable, unless sled's own write
/// fails meanwhile (its background flush), after which reads are refused as `unavailable` until
/// the store can reopen. Returns whether that happened.
async fn readable_while_full(node: &TestNode, acked: &[Id], store: &tocsin::store::Store) -> bool {
    let mut client = node.client().await;
    for id in acked {
        match client.get(*id).await {
            Ok(got) => assert!(
                got.is_some(),
                "while the disk was full: {id} cannot be fetched"
            ),
            Err(ClientError::Refused(r))
                if r.reason == Reason::Unavailable && store.writable().is_err() =>
            {
                return true;
            }
            Err(e) => panic!("while the disk was full: {id}: {e:?}"),
        }
    }
    false
}

/// A GET to the node's gateway; the status and body.
async fn http_get(node: &TestNode, path: &str) -> (u16, String) {
    let addr = node.server().http_addr().expect("the gateway is on");
    let r = crate::http::get(addr, path).await;
    (r.status, r.body)
}

/// Publishes one more message, retrying while the node still says `unavailable` (bounded).
async fn publish_when_space_returns(node: &TestNode, n: u32) -> Id {
    let m = bulky_alert(n);
    let mut client = node.client().await;
    // The store may be reopening itself (after sled's own write failed): allow it a while.
    for _ in 0..300 {
        match client.publish(m.signed()).await {
            Ok(PublishOutcome::Accepted { id, .. }) => return id,
            Err(ClientError::Refused(r)) if r.reason == Reason::Unavailable => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("after space returned: {other:?}"),
        }
    }
    panic!("the node did not accept again once space returned");
}

#[tokio::test]
async fn a_disk_that_fills_keeps_every_acknowledged_message_and_accepts_again() {
    let Some(disk) = SmallDisk::mount("disk::a_disk_that_fills…", 40) else {
        return;
    };
    let mut node = disk.node(4).await;
    assert_eq!(http_get(&node, "/healthz").await.0, 200);
    // About 3 MiB above the reserve: a couple of hundred bulky alerts, then refusals.
    let filler = disk.fill_leaving(7 * 1024 * 1024);
    let (mut acked, refusal) = publish_until_full(&node, 0, 2_000).await;
    assert!(acked.len() >= 20, "only {} fit", acked.len());
    assert!(refusal.detail.contains("try again later"), "{refusal}");

    // While full: said on /healthz, in node status and in the metrics; nothing lost, and the
    // page and feeds still served.
    let (status, text) = http_get(&node, "/healthz").await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("reserve"), "{text}");
    let info = node.client().await.info().await.unwrap();
    assert!(info.store_problem.contains("reserve"), "{info:?}");
    let metrics = http_get(&node, "/metrics").await.1;
    assert!(
        metrics.lines().any(|l| l
            .starts_with("tocsin_messages_refused_total{reason=\"unavailable\"}")
            && !l.ends_with(" 0")),
        "{metrics}"
    );
    assert!(metrics.contains("\ntocsin_store_writable 0\n"), "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("tocsin_store_write_failures_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
    assert_all_readable(&node, &acked, "while the disk was full").await;
    assert_eq!(http_get(&node, "/").await.0, 200);
    assert_eq!(http_get(&node, "/feed.atom").await.0, 200);

    // Space returns: the node accepts again by itself.
    std::fs::remove_file(&filler).unwrap();
    acked.push(publish_when_space_returns(&node, 5_000).await);
    assert_eq!(http_get(&node, "/healthz").await.0, 200);
    assert!(
        http_get(&node, "/metrics")
            .await
            .1
            .contains("\ntocsin_store_writable 1\n")
    );
    assert!(
        node.client()
            .await
            .info()
            .await
            .unwrap()
            .store_problem
            .is_empty()
    );
    assert_all_readable(&node, &acked, "after space returned").await;

    node.restart().await;
    assert_all_readable(&node, &acked, "after a restart").await;
    node.stop().await;
}

#[tokio::test]
async fn a_disk_that_fills_with_no_reserve_fails_writes_cleanly_and_loses_nothing() {
    let Some(disk) = SmallDisk::mount("disk::a_disk_that_fills_with_no_reserve…", 40) else {
        return;
    };
    // No reserve: the disk really fills under the store's writes. Either the body log's write
    // fails (cut back; the store goes on) or sled's own (sled stops; the store reopens itself
    // once there is room to open it). Each run meets one or the other; neither loses anything.
    let mut node = disk.node(0).await;
    let filler = disk.fill_leaving(3 * 1024 * 1024);
    let (mut acked, refusal) = publish_until_full(&node, 0, 2_000).await;
    assert!(!acked.is_empty());
    assert!(refusal.detail.contains("try again later"), "{refusal}");
    let store = node.server().node().store().clone();
    // Whichever write failed, the store says it cannot write (until one succeeds); sled's
    // own failure closes it until it reopens itself.
    let writable = store.writable();
    assert!(writable.is_err(), "writable while its writes fail");
    let mut sled_failed = matches!(writable, Err(tocsin::store::StoreError::Closed { .. }));
    eprintln!(
        "{} acknowledged before the disk filled; sled's own write failed: {sled_failed}",
        acked.len()
    );
    if !sled_failed {
        // Only the body log's write failed so far: the store reads on as before, unless sled's
        // own background write fails meanwhile (then reads wait for space, checked below).
        sled_failed = readable_while_full(&node, &acked, &store).await;
    }

    std::fs::remove_file(&filler).unwrap();
    acked.push(publish_when_space_returns(&node, 5_000).await);
    if sled_failed {
        assert_eq!(store.reopened(), 1, "the store reopened itself");
    }
    assert_all_readable(&node, &acked, "after space returned").await;
    node.restart().await;
    assert_all_readable(&node, &acked, "after a restart").await;
    node.stop().await;
}

/// A small alert (a few hundred bytes): on a disk filled to the last byte, sled's own write
/// fails as often as the body log's.
fn small_alert(n: u32) -> Message {
    let key = org(62);
    let mut body = alert(&key, &format!("Westhaven dockers detained, note {n}"));
    body.created_at = Timestamp(body.created_at.0 + u64::from(n));
    sign(body, &key)
}

#[tokio::test]
async fn a_disk_filled_to_the_last_byte_under_small_messages_says_so_and_recovers_by_itself() {
    let Some(disk) = SmallDisk::mount("disk::a_disk_filled_to_the_last_byte…", 40) else {
        return;
    };
    // No reserve, the disk filled to nothing, small messages: whichever write fails first (the
    // body log's, or sled's, which sled then keeps failing every write with), the store must
    // say it cannot write (/healthz 503, tocsin_store_writable 0), the gateway must answer
    // without a 500, and the store must take messages again by itself once there is room.
    let mut node = disk.node(0).await;
    let mut acked = Vec::new();
    let mut client = node.client().await;
    for n in 0..20 {
        let m = small_alert(n);
        if let Ok(PublishOutcome::Accepted { id, .. }) = client.publish(m.signed()).await {
            acked.push(id);
        }
    }
    let filler = disk.fill_leaving(0);
    let mut refused = false;
    for n in 20..2_000 {
        match client.publish(small_alert(n).signed()).await {
            Ok(PublishOutcome::Accepted { id, .. }) => acked.push(id),
            Ok(other) => panic!("a new message came back as {other:?}"),
            Err(ClientError::Refused(r)) => {
                assert_eq!(r.reason, Reason::Unavailable, "{r}");
                refused = true;
                break;
            }
            Err(e) => panic!("publish {n} failed without a reason code: {e}"),
        }
    }
    assert!(refused, "2,000 small messages fit on a full disk");
    // More, refused too: each failed write meets the disk again (sled's among them).
    for n in 2_000..2_100 {
        if let Ok(PublishOutcome::Accepted { id, .. }) =
            client.publish(small_alert(n).signed()).await
        {
            acked.push(id);
        }
    }
    let (status, text) = http_get(&node, "/healthz").await;
    assert_eq!(status, 503, "/healthz while no write succeeds: {text}");
    let (status, metrics) = http_get(&node, "/metrics").await;
    assert_eq!(status, 200, "{metrics}");
    assert!(metrics.contains("\ntocsin_store_writable 0\n"), "{metrics}");
    for path in ["/", "/feed.atom", "/cap.atom"] {
        let (status, text) = http_get(&node, path).await;
        assert!(status == 200 || status == 503, "{path}: {status} {text}");
    }

    std::fs::remove_file(&filler).unwrap();
    let id = {
        let m = small_alert(5_000);
        let mut accepted = None;
        for _ in 0..300 {
            match client.publish(m.signed()).await {
                Ok(PublishOutcome::Accepted { id, .. }) => {
                    accepted = Some(id);
                    break;
                }
                Err(ClientError::Refused(r)) if r.reason == Reason::Unavailable => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => panic!("after space returned: {other:?}"),
            }
        }
        accepted.expect("the node took messages again by itself once space returned")
    };
    acked.push(id);
    assert_eq!(http_get(&node, "/healthz").await.0, 200);
    assert_all_readable(&node, &acked, "after space returned").await;
    node.restart().await;
    assert_all_readable(&node, &acked, "after a restart").await;
    node.stop().await;
}

#[tokio::test]
async fn a_follower_whose_disk_fills_skips_nothing_and_catches_up_when_space_returns() {
    let Some(disk) = SmallDisk::mount("disk::a_follower_whose_disk_fills…", 40) else {
        return;
    };
    let origin = TestNode::start().await;
    // The origin holds more than fits on the follower's disk above its reserve.
    let mut client = origin.client().await;
    let mut published = Vec::new();
    for n in 0..400 {
        let m = bulky_alert(n);
        match client.publish(m.signed()).await.unwrap() {
            PublishOutcome::Accepted { id, .. } => published.push(id),
            other => panic!("{other:?}"),
        }
    }
    let data = disk.path().join("data");
    let origin_url = origin.url();
    // About 6 MiB above the follower's reserve: room for part of the origin's log (a batch of
    // 256 of these alerts needs about 4.5 MiB).
    let filler = disk.fill_leaving(10 * 1024 * 1024);
    let follower = TestNode::start_with(|c| {
        c.node.data_dir = data.clone();
        c.store.reserve_mb = 4;
        c.federation.reconnect_min = Duration::from_millis(50);
        c.federation.reconnect_max = Duration::from_millis(200);
        c.peers = vec![tocsin::config::PeerConfig {
            name: "origin".into(),
            address: origin_url,
            ca: None,
        }];
    })
    .await;
    let store = follower.server().node().store().clone();
    // The follower stores what fits, then its store refuses: it must stop there.
    wait_until("the follower's disk to reach its reserve", || {
        let store = store.clone();
        async move { store.refused_for_space() > 0 }
    })
    .await;
    let held = store.counts().unwrap().messages;
    assert!(
        held > 0 && held < published.len() as u64,
        "held {held} of {}",
        published.len()
    );
    let peer = &follower.server().node().peers()[0];
    let origin_key = origin.server().node().node_key().to_hex();
    let cursor = store.cursor(&origin_key).unwrap();
    assert!(
        cursor <= held,
        "the cursor ({cursor}) went past what was stored ({held}): {peer:?}"
    );

    std::fs::remove_file(&filler).unwrap();
    // Counted once applied, delivered to subscribers once durable (the flush after it): wait
    // for delivery, which is what a reader sees.
    wait_until("the follower to catch up once space returned", || {
        let follower = &follower;
        let published = &published;
        async move {
            let delivered = all_delivered(follower).await;
            published.iter().all(|id| delivered.contains(id))
        }
    })
    .await;
    assert_all_readable(&follower, &published, "on the follower").await;
}
