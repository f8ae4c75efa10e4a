//! Tests of the handlers against a node without a network: a slow store read costs its caller
//! its timeout, not the node its answers to everyone else.
//!
//! Time is paused and moved by the tests; a read is made slow by holding it on its thread
//! (`store::Reads::hold_next`), so no outcome depends on how fast the machine is.

use std::time::Duration;

use tonic::{Code, Request, Status};

use super::RelayService;
use super::limits::ConnectionLimits;
use super::status::rejection_of;
use crate::config::{Config, TlsMode};
use crate::message::{Id, Reason, SecretKey};
use crate::node::Node;
use crate::proto;
use crate::proto::relay_server::Relay;
use crate::store::Origin;

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

fn get_request(id: &Id) -> Request<proto::GetRequest> {
    Request::new(proto::GetRequest { id: id.0.to_vec() })
}

/// The id of an alert the node holds (an unknown id is answered without a read, from the
/// filter of held ids). Published with time running: the store's threads answer in real time.
async fn held_id(node: &Node) -> Id {
    tokio::time::resume();
    let key = SecretKey::from_seed(&[9; 32]);
    let m = crate::store::tests::headline_alert(&key, node.now(), "Printers walk out in Eastmoor");
    node.publish(m.signed().clone(), Origin::Local)
        .await
        .expect("accepted");
    tokio::time::pause();
    m.id()
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
    let id = held_id(&node).await;
    let held = node.reads().hold_next(1);
    let get = {
        let relay = relay.clone();
        tokio::spawn(async move { relay.get(get_request(&id)).await })
    };
    assert!(
        held.until_held(1).await,
        "the Get's read started and is held"
    );

    let info = relay
        .node_info(Request::new(proto::NodeInfoRequest::default()))
        .await
        .expect("NodeInfo is answered while the Get's read is held");
    assert_eq!(info.get_ref().head_seq, 1);
    assert_eq!(info.get_ref().node_key, node.node_key().as_bytes().to_vec());

    tokio::time::advance(Duration::from_secs(16)).await;
    let status = get.await.expect("task").expect_err("the Get timed out");
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(held.held(), 1, "while its read was still held");
}

/// An id the node has never held is answered `NOT_FOUND` at once, without a read thread: with
/// every thread held, it is still answered.
#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_get_of_an_unknown_id_needs_no_read_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = node(dir.path(), |c| c.store.read_threads = 1);
    let relay = service(&node);
    let id = held_id(&node).await;
    let held = node.reads().hold_next(1);
    let slow = {
        let node = node.clone();
        tokio::spawn(async move { node.get(&id).await.is_ok() })
    };
    assert!(held.until_held(1).await);
    let status = relay
        .get(get_request(&Id([0x5a; 32])))
        .await
        .expect_err("not found");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(node.reads().stats().queued, 0, "it asked for no thread");
    held.release();
    assert!(slow.await.expect("task"));
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
    let id = held_id(&node).await;
    let held = node.reads().hold_next(1);
    let slow = {
        let node = node.clone();
        tokio::spawn(async move { node.get(&id).await.is_ok() })
    };
    assert!(held.until_held(1).await);

    let get = {
        let relay = relay.clone();
        tokio::spawn(async move { relay.get(get_request(&id)).await })
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

/// NodeInfo's refused handshakes (other clients' issuers, the CAs the node trusts) and its
/// peers' counts go to a caller on the node's machine, not to one elsewhere without a peer's
/// certificate.
#[tokio::test]
async fn refused_handshakes_and_peer_counts_are_shown_to_loopback_callers_only() {
    use crate::node::metrics::TlsCause;
    use tonic::transport::server::TcpConnectInfo;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = node(dir.path(), |_| {});
    node.metrics().connections.tls_refused.refused(
        TlsCause::UntrustedClientCa,
        Some("issued by CN=Harbour CA; this node trusts CN=Dock CA".into()),
    );
    node.set_peer_status(crate::node::PeerStatus {
        name: "geneva".into(),
        address: "https://geneva.example:7700".into(),
        connected: true,
        cursor: 15,
        head: 15,
        received: 15,
        ..Default::default()
    });
    let relay = service(&node);
    let from = |remote: &str| {
        let mut request = Request::new(proto::NodeInfoRequest::default());
        request.extensions_mut().insert(TcpConnectInfo {
            local_addr: None,
            remote_addr: Some(remote.parse().expect("address")),
        });
        request
    };
    for (remote, shown) in [
        ("127.0.0.1:50000", true),
        ("[::1]:50000", true),
        ("[::ffff:127.0.0.1]:50000", true),
        ("192.0.2.7:50000", false),
        ("[2001:db8::7]:50000", false),
    ] {
        let info = relay.node_info(from(remote)).await.expect("answered");
        let refusals = &info.get_ref().refused_handshakes;
        assert_eq!(!refusals.is_empty(), shown, "{remote}: {refusals:?}");
        // A peer's counts too (they move when it delivers a message under embargo); its
        // name and state are for anyone.
        let peer = &info.get_ref().peers[0];
        assert_eq!((peer.name.as_str(), peer.connected), ("geneva", true));
        let counts = (peer.cursor, peer.head, peer.received);
        assert_eq!(
            counts,
            if shown { (15, 15, 15) } else { (0, 0, 0) },
            "{remote}"
        );
    }
    // No address known: not on the node's machine.
    let unknown = relay
        .node_info(Request::new(proto::NodeInfoRequest::default()))
        .await
        .expect("answered");
    assert!(unknown.get_ref().refused_handshakes.is_empty());
}

/// A peer with a certificate from a trusted CA sees them from anywhere.
#[test]
fn a_certified_peer_sees_refused_handshakes_from_anywhere() {
    use super::service::sees_refused_handshakes;
    let remote = Some("192.0.2.7:50000".parse().expect("address"));
    assert!(sees_refused_handshakes(remote, true));
    assert!(!sees_refused_handshakes(remote, false));
    assert!(sees_refused_handshakes(None, true));
    assert!(!sees_refused_handshakes(None, false));
}

/// Four idle streams from one connection held every reconciliation slot for ten minutes:
/// a stranger holds one session per address, and callers a node trusts have slots of their
/// own.
#[tokio::test]
async fn reconciliation_slots_are_one_per_strangers_address_and_kept_for_peers() {
    use super::reconcile::Slots;
    let dir = tempfile::tempdir().expect("tempdir");
    let node = node(dir.path(), |c| c.limits.reconcile_sessions = 2);
    let slots = Slots::new(&node);
    let at = |s: &str| Some(s.parse::<std::net::SocketAddr>().expect("address"));
    let reason = |r: Result<_, Status>| {
        r.map(|_| ())
            .map_err(|s| rejection_of(&s).map(|r| r.reason))
    };
    let first = slots
        .take(false, at("192.0.2.7:5000"), 2)
        .expect("a first session");
    // The same address again, from another port (another connection): refused.
    assert_eq!(
        reason(slots.take(false, at("192.0.2.7:5001"), 2)),
        Err(Some(Reason::RateLimited))
    );
    // An IPv6 host is its /64.
    let v6 = slots
        .take(false, at("[2001:db8::1]:5000"), 2)
        .expect("another host");
    assert!(slots.take(false, at("[2001:db8::2]:5000"), 2).is_err());
    // Every shared slot taken: strangers wait; trusted callers have their own.
    assert!(slots.take(false, at("198.51.100.9:5000"), 2).is_err());
    let peer_a = slots.take(true, at("192.0.2.7:5002"), 2).expect("a peer");
    let peer_b = slots.take(true, at("203.0.113.1:5000"), 2).expect("a peer");
    assert!(slots.take(true, at("203.0.113.2:5000"), 2).is_err());
    // A session's end gives its address back.
    drop(first);
    let again = slots
        .take(false, at("192.0.2.7:5003"), 2)
        .expect("its slot back");
    drop((again, v6, peer_a, peer_b));
}
