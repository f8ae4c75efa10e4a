//! Tests of the handlers against a node without a network: a slow store read costs its caller
//! its timeout, not the node its answers to everyone else.
//!
//! Time is paused and moved by the tests; a read is made slow by holding it on its thread
//! (`store::Reads::hold_next`), so no outcome depends on how fast the machine is.

use std::time::Duration;

use tonic::{Code, Request};

use super::RelayService;
use super::limits::ConnectionLimits;
use super::status::rejection_of;
use crate::config::{Config, TlsMode};
use crate::message::Reason;
use crate::node::Node;
use crate::proto;
use crate::proto::relay_server::Relay;

/// A node on a temporary directory, plaintext, with `tune` applied.
fn node(dir: &std::path::Path, tune: impl FnOnce(&mut Config)) -> Node {
    let mut config = Config::default();
    config.node.data_dir = dir.join("data");
    config.node.listen = "127.0.0.1:0".parse().expect("address");
    config.tls.mode = TlsMode::Off;
    config.store.reserve_mb = 0;
    tune(&mut config);
    Node::open(config).expect("open")
}

fn service(node: &Node) -> RelayService {
    RelayService::new(node.clone(), ConnectionLimits::new(1000, 1000))
}

fn get_request() -> Request<proto::GetRequest> {
    Request::new(proto::GetRequest { id: vec![0x5a; 32] })
}

/// On a runtime of one thread: while a `Get`'s read is held, `NodeInfo` is answered, and the
/// `Get` ends with its deadline.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_get_whose_read_is_slow_times_out_while_node_info_is_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = node(dir.path(), |c| {
        c.limits.request_timeout = Duration::from_secs(15);
        c.store.read_threads = 2;
    });
    let relay = service(&node);
    let held = node.reads().hold_next(1);
    let get = {
        let relay = relay.clone();
        tokio::spawn(async move { relay.get(get_request()).await })
    };
    assert!(
        held.until_held(1).await,
        "the Get's read started and is held"
    );

    let info = relay
        .node_info(Request::new(proto::NodeInfoRequest {}))
        .await
        .expect("NodeInfo is answered while the Get's read is held");
    assert_eq!(info.get_ref().head_seq, 0);
    assert_eq!(info.get_ref().node_key, node.node_key().as_bytes().to_vec());

    tokio::time::advance(Duration::from_secs(16)).await;
    let status = get.await.expect("task").expect_err("the Get timed out");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(held.held(), 1, "while its read was still held");
}

/// Every read thread held: a `Get` waits `store.read_wait` for one (inside its own timeout),
/// then is refused `unavailable`, without reading.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_get_that_finds_no_read_thread_is_refused_unavailable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = node(dir.path(), |c| {
        c.limits.request_timeout = Duration::from_secs(15);
        c.store.read_threads = 1;
        c.store.read_wait = Duration::from_secs(2);
    });
    let relay = service(&node);
    let held = node.reads().hold_next(1);
    let slow = {
        let node = node.clone();
        tokio::spawn(async move { node.get(&crate::message::Id([1; 32])).await.is_ok() })
    };
    assert!(held.until_held(1).await);

    let get = {
        let relay = relay.clone();
        tokio::spawn(async move { relay.get(get_request()).await })
    };
    // The Get waits for a thread before the test moves time past its wait.
    let mut turns = 0;
    while node.reads().stats().queued == 0 && turns < 10_000 {
        tokio::task::yield_now().await;
        turns += 1;
    }
    assert_eq!(node.reads().stats().queued, 1);
    tokio::time::advance(Duration::from_secs(3)).await;
    let status = get.await.expect("task").expect_err("refused");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        rejection_of(&status).map(|r| r.reason),
        Some(Reason::Unavailable)
    );
    assert_eq!(node.reads().stats().busy, 1);

    held.release();
    assert!(slow.await.expect("task"), "the held read ends normally");
}
