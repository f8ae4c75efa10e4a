//! Log identity across real nodes on loopback: a follower never waits silently on a peer's log
//! that went back. The peer (B, the Fictional Dockworkers' Union's relay) is restored from an
//! older copy of its data directory, with and without a backup's note, or wiped and made again
//! with the same key; the follower (A) goes on receiving what B accepts afterwards, each
//! message once.

use std::path::Path;
use std::time::Duration;

use tocsin::config::PeerConfig;
use tocsin::message::*;
use tocsin::node::PeerStatus;
use tocsin::rpc::PublishOutcome;
use tocsin::store::{BACKUP_NOTE, LogId, backup_note_line};

use crate::support::*;

/// A node that keeps its gRPC port across restarts, so that a follower finds it again.
async fn peer_node() -> TestNode {
    let mut node = TestNode::start().await;
    node.config.node.listen = node.server().grpc_addr();
    node
}

/// A node that follows `peer` (named "b").
async fn follower_of(peer: &TestNode) -> TestNode {
    let address = peer.url();
    TestNode::start_with(move |c| {
        c.peers = vec![PeerConfig {
            name: "b".into(),
            address,
            ca: None,
        }];
        c.federation.reconnect_min = Duration::from_millis(20);
        c.federation.reconnect_max = Duration::from_millis(200);
    })
    .await
}

/// Publishes `n` alerts on `node`, each accepted.
async fn post(node: &TestNode, what: &str, n: usize) {
    let key = org(61);
    let mut client = node.client().await;
    for i in 0..n {
        let m = sign(alert(&key, &format!("{what}, report {i}")), &key);
        let r = client.publish(m.signed()).await.expect("publishing");
        assert!(matches!(r, PublishOutcome::Accepted { .. }), "{r:?}");
    }
}

/// Waits until `node` holds `n` messages durably, then checks it holds no more and gave them
/// `n` seqs: nothing stored twice.
async fn wait_holds_exactly(node: &TestNode, n: u64) {
    let store = node.server().node().store().clone();
    wait_until(&format!("the follower to hold {n} messages"), || {
        let count = store.counts().map(|c| c.messages).unwrap_or(0);
        let head = store.head();
        async move { count >= n && head >= n }
    })
    .await;
    let counts = store.counts().expect("counts");
    assert_eq!(
        (counts.messages, counts.head_seq),
        (n, n),
        "each message once"
    );
}

/// The follower's status of peer "b".
fn status_of_b(follower: &TestNode) -> PeerStatus {
    follower
        .server()
        .node()
        .peers()
        .into_iter()
        .find(|p| p.name == "b")
        .expect("peer b is configured")
}

/// A's status of B once A's cursor has reached B's head: the follower reports a batch after it
/// is stored, so a status read as soon as the store holds it may be a batch behind.
async fn settled_status_of_b(follower: &TestNode, b: &TestNode) -> PeerStatus {
    let head = b.server().node().store().head();
    wait_until(&format!("the follower's cursor to reach {head}"), || {
        let cursor = status_of_b(follower).cursor;
        async move { cursor >= head }
    })
    .await;
    status_of_b(follower)
}

/// Copies a directory tree with its modes (what `cp -a` does for these files: the node refuses
/// a data directory open to others, and a key file readable by them).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("making a directory");
    let mode = std::fs::metadata(from).expect("a mode").permissions();
    std::fs::set_permissions(to, mode).expect("setting a mode");
    for entry in std::fs::read_dir(from).expect("listing a directory") {
        let entry = entry.expect("listing a directory");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copying a file");
        }
    }
}

/// Replaces `node`'s data directory (stopped) by `copy`.
fn put_back(node: &TestNode, copy: &Path) {
    let data = &node.config.node.data_dir;
    std::fs::remove_dir_all(data).expect("removing the data directory");
    copy_dir(copy, data);
}

/// B holds 2 alerts when its data directory is copied, then 4 more; A follows it to cursor 6.
/// Returns the copy and B's log id then.
async fn copied_then_followed(b: &mut TestNode, copies: &Path) -> (TestNode, LogId) {
    post(b, "Dockers detained in Eastport", 2).await;
    let log_id = b.server().node().store().log_id();
    b.stop().await;
    copy_dir(&b.config.node.data_dir, copies);
    b.restart().await;
    post(b, "Strike committee formed", 4).await;
    let a = follower_of(b).await;
    wait_holds_exactly(&a, 6).await;
    wait_until("the follower's cursor to reach 6", || {
        let cursor = status_of_b(&a).cursor;
        async move { cursor == 6 }
    })
    .await;
    let status = status_of_b(&a);
    assert_eq!((status.log_id, status.log_changes), (Some(log_id), 0));
    (a, log_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_restored_from_a_backup_is_followed_in_its_new_log() {
    let mut b = peer_node().await;
    let copies = tempfile::tempdir().unwrap();
    let (a, old_log) = copied_then_followed(&mut b, copies.path()).await;

    b.stop().await;
    put_back(&b, copies.path());
    std::fs::write(
        b.config.node.data_dir.join("store").join(BACKUP_NOTE),
        backup_note_line(old_log, 2, 1_800_000_000),
    )
    .unwrap();
    b.restart().await;
    let new_log = b.server().node().store().log_id();
    assert_ne!(new_log, old_log, "a restored backup is a new log");
    // Seqs 3 to 5 of the new log, all below the follower's cursor in the old one.
    post(&b, "Solidarity fund opened", 3).await;

    wait_holds_exactly(&a, 9).await;
    let status = settled_status_of_b(&a, &b).await;
    assert_eq!(status.log_changes, 1, "{status:?}");
    assert_eq!(status.log_id, Some(new_log));
    let metrics = crate::http::get(a.server().http_addr().unwrap(), "/metrics")
        .await
        .body;
    assert!(
        metrics.contains("tocsin_federation_log_changes_total{peer=\"b\"} 1\n"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_copied_back_without_a_note_is_caught_by_its_opened_head() {
    let mut b = peer_node().await;
    let copies = tempfile::tempdir().unwrap();
    let (mut a, old_log) = copied_then_followed(&mut b, copies.path()).await;

    // A is away while B is copied back and accepts more than A's cursor: B's head (8) is past
    // the cursor (6) again, and only the head B opened at (2) shows that its log went back.
    a.stop().await;
    b.stop().await;
    put_back(&b, copies.path());
    b.restart().await;
    assert_eq!(
        b.server().node().store().log_id(),
        old_log,
        "the same log id"
    );
    post(&b, "Solidarity fund opened", 6).await;
    a.restart().await;

    wait_holds_exactly(&a, 12).await;
    let status = settled_status_of_b(&a, &b).await;
    assert_eq!(status.log_changes, 1, "{status:?}");

    // Following on past B's opened head, in B's same opening, is no change: after A restarts
    // (and again finds B's log at the head it opened at, below its cursor), it resumes.
    a.restart().await;
    wait_until("the follower to reconnect", || {
        let status = status_of_b(&a);
        async move { status.connected }
    })
    .await;
    post(&b, "March on Saturday", 1).await;
    wait_holds_exactly(&a, 13).await;
    let status = settled_status_of_b(&a, &b).await;
    assert_eq!(
        (status.log_changes, status.received),
        (0, 1),
        "resumed from its cursor: {status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_wiped_and_made_again_with_its_key_is_followed_again() {
    let mut b = peer_node().await;
    post(&b, "Dockers detained in Eastport", 3).await;
    let old_log = b.server().node().store().log_id();
    let a = follower_of(&b).await;
    wait_holds_exactly(&a, 3).await;

    b.stop().await;
    let store_dir = b.config.node.data_dir.join("store");
    std::fs::remove_dir_all(&store_dir).expect("wiping the store");
    b.restart().await;
    let new_log = b.server().node().store().log_id();
    assert_ne!(new_log, old_log);
    post(&b, "Union office raided", 2).await;

    wait_holds_exactly(&a, 5).await;
    let status = settled_status_of_b(&a, &b).await;
    assert_eq!(
        (status.log_changes, status.log_id),
        (1, Some(new_log)),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_info_and_a_subscription_say_which_log() {
    let b = peer_node().await;
    post(&b, "Dockers detained in Eastport", 2).await;
    let store = b.server().node().store().clone();
    let mut client = b.client().await;
    let info = client.info().await.unwrap();
    assert_eq!(info.log_id, Some(store.log_id()));
    assert_eq!(
        info.opened_head, 0,
        "the head when the node opened its store"
    );
    assert_eq!(info.opening_id, store.opening_id());
    let (log_id, _events) = client
        .subscribe_log(&Filter::default(), 0, None)
        .await
        .unwrap();
    assert_eq!(log_id, Some(store.log_id()));
}
