//! Attacks on the gRPC port's connections (issue 18, findings 1 and 5): sockets that never
//! speak, HTTP/2 connections with no calls, strangers holding every public slot, and calls
//! opened and reset faster than a connection's budget. Every client is on loopback; the tests
//! stand for several source addresses by binding to other addresses of 127.0.0.0/8.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures::StreamExt;
use tocsin::config::TlsMode;
use tocsin::message::*;
use tocsin::node::metrics::ConnRefusal;
use tocsin::rpc::{Client, ClientError, ClientEvent, ClientTls, PublishOutcome};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::support::*;
use crate::tls::{files, pki, trusting};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A TCP connection to `to` from the loopback address `from`, that sends nothing.
async fn silent_socket(from: &str, to: SocketAddr) -> TcpStream {
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::new(ip(from), 0)).unwrap();
    s.connect(to).await.unwrap()
}

fn refused(node: &TestNode, class: ConnRefusal) -> u64 {
    node.server()
        .node()
        .metrics()
        .connections
        .refused_count(class)
}

/// Publishes `n` messages on each of `conns` new connections from `from`; returns how many
/// were accepted.
async fn honest_publishes(url: &str, tls: &ClientTls, from: &str, conns: u8, n: u8) -> usize {
    let mut accepted = 0;
    for c in 0..conns {
        let Ok(mut client) = Client::connect_from(url, tls, Some(ip(from))).await else {
            continue;
        };
        for i in 0..n {
            let key = org(60 + c);
            let m = sign(
                alert(&key, &format!("Dockers locked out, update {i}")),
                &key,
            );
            if let Ok(PublishOutcome::Accepted { .. }) = client.publish(m.signed()).await {
                accepted += 1;
            }
        }
    }
    accepted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_from_one_network_hold_no_slot_and_honest_clients_elsewhere_publish() {
    // Before issue 18 a socket took a slot at accept and kept it for as long as it stayed
    // silent: 40 such sockets locked everyone out.
    let node = TestNode::start_with(|c| {
        let l = &mut c.limits;
        l.max_connections = 40;
        l.connections_per_address = 8;
        l.connections_per_prefix = 32;
        // Longer than the test: the silent sockets stay in their handshake throughout.
        l.handshake_timeout = Duration::from_secs(600);
    })
    .await;
    let addr = node.server().grpc_addr();
    // 200 sockets from eight addresses of 127.0.0.0/24, 25 each, one address after another.
    let mut silent = Vec::new();
    for host in 2..=9 {
        for _ in 0..25 {
            silent.push(silent_socket(&format!("127.0.0.{host}"), addr).await);
        }
    }
    let metrics = &node.server().node().metrics().connections;
    wait_until("every silent socket to be booked or refused", || async {
        refused(&node, ConnRefusal::PerAddress) + refused(&node, ConnRefusal::Prefix) == 168
    })
    .await;
    // Four addresses got their eight each, then their /24 was full; none holds a slot.
    assert_eq!(metrics.handshaking.load(Relaxed), 32);
    assert_eq!(metrics.open_public.load(Relaxed), 0);
    assert_eq!(refused(&node, ConnRefusal::PerAddress), 4 * 17);
    assert_eq!(refused(&node, ConnRefusal::Prefix), 4 * 25);

    // Honest publishers from another /24: 100 messages over 10 connections.
    let accepted = honest_publishes(&node.url(), &ClientTls::default(), "127.0.1.1", 10, 10).await;
    assert!(accepted >= 99, "only {accepted} of 100 honest publishes");
    // The silent sockets are still there: it is the caps, not their leaving, that let the
    // honest clients in.
    assert_eq!(metrics.handshaking.load(Relaxed), 32);
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_silent_through_the_tls_handshake_timeout_is_closed_and_counted() {
    let node = TestNode::start_with(|c| {
        c.tls.mode = TlsMode::Auto;
        let l = &mut c.limits;
        l.max_connections = 4;
        l.connections_per_address = 2;
        l.handshake_timeout = Duration::from_secs(1);
    })
    .await;
    let addr = node.server().grpc_addr();
    let tls = trusting(&node.config.node.data_dir.join("tls/ca.crt"));
    // Two sockets are booked for their handshake (the address's cap), the third refused.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(silent_socket("127.0.0.5", addr).await);
    }
    // An honest TLS client is served meanwhile: the silent sockets hold no slot.
    let accepted = honest_publishes(&node.url(), &tls, "127.0.0.1", 1, 3).await;
    assert_eq!(accepted, 3);
    // Each silent socket is closed by the node: at once over the cap, after the timeout
    // otherwise.
    for mut s in silent {
        let mut buf = [0u8; 16];
        let read = within("the node to close a silent socket", s.read(&mut buf)).await;
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    }
    wait_until("the timeouts to be counted", || async {
        refused(&node, ConnRefusal::HandshakeTimeout) == 2
    })
    .await;
    assert_eq!(refused(&node, ConnRefusal::PerAddress), 1);
    let m = &node.server().node().metrics().connections;
    assert_eq!(m.handshaking.load(Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_connection_with_no_call_open_is_closed_after_the_idle_timeout_and_a_subscriber_is_not()
 {
    let node = TestNode::start_with(|c| {
        c.tls.mode = TlsMode::Auto;
        c.limits.idle_timeout = Duration::from_secs(1);
    })
    .await;
    let url = node.url();
    let tls = trusting(&node.config.node.data_dir.join("tls/ca.crt"));
    let m = &node.server().node().metrics().connections;
    // A subscriber: its call stays open, so its connection is never idle.
    let mut reader = Client::connect_with(&url, &tls).await.unwrap();
    let mut events = reader.subscribe(&Filter::default(), 0, None).await.unwrap();
    assert!(matches!(
        within("backfill", events.next()).await,
        Some(Ok(ClientEvent::CaughtUp(_)))
    ));
    // An idle client: one call, then an HTTP/2 connection that answers pings and calls nothing.
    let mut idle = Client::connect_with(&url, &tls).await.unwrap();
    idle.info().await.unwrap();
    assert_eq!(m.open_public.load(Relaxed), 2);
    wait_until("the idle connection to be closed", || async {
        refused(&node, ConnRefusal::Idle) == 1 && m.open_public.load(Relaxed) == 1
    })
    .await;
    // The subscriber's connection, open all that time, still delivers.
    let author = org(70);
    let alert_m = sign(alert(&author, "Port workers detained"), &author);
    let mut publisher = Client::connect_with(&url, &tls).await.unwrap();
    assert!(matches!(
        publisher.publish(alert_m.signed()).await.unwrap(),
        PublishOutcome::Accepted { .. }
    ));
    match within("the delivery", events.next()).await {
        Some(Ok(ClientEvent::Delivery { message, .. })) => assert_eq!(message.id(), alert_m.id()),
        other => panic!("the subscriber lost its connection: {other:?}"),
    }
    assert_eq!(refused(&node, ConnRefusal::Idle), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_federates_while_strangers_hold_every_public_slot() {
    let pki = pki();
    let geneva = TestNode::start_with(|c| {
        files(c, &pki, "geneva");
        c.limits.max_connections = 3;
        c.limits.peer_connections = 2;
    })
    .await;
    let url = geneva.url();
    let tls = trusting(&pki.ca);
    // Three strangers hold the public slots; a fourth is refused.
    let mut strangers = Vec::new();
    for _ in 0..3 {
        let mut c = Client::connect_with(&url, &tls).await.unwrap();
        c.info().await.unwrap();
        strangers.push(c);
    }
    let fourth = match Client::connect_with(&url, &tls).await {
        Ok(mut c) => c.info().await.is_err(),
        Err(_) => true,
    };
    assert!(fourth, "a fourth stranger was served");
    assert!(refused(&geneva, ConnRefusal::Capacity) >= 1);
    // A peer with a certificate from the federation's CA follows geneva all the same.
    let baku = TestNode::start_with(|c| {
        files(c, &pki, "baku");
        c.peers = vec![tocsin::config::PeerConfig {
            name: "geneva".into(),
            address: url.clone(),
            ca: Some(pki.ca.clone()),
        }];
    })
    .await;
    let author = org(71);
    let m = sign(alert(&author, "Strike committee arrested"), &author);
    assert!(matches!(
        strangers[0].publish(m.signed()).await.unwrap(),
        PublishOutcome::Accepted { .. }
    ));
    let store = baku.server().node().store().clone();
    wait_until("the peer to federate the alert", || {
        let held = store.seen(&m.id()).unwrap().is_some();
        async move { held }
    })
    .await;
    let c = &geneva.server().node().metrics().connections;
    assert!(c.open_peer.load(Relaxed) >= 1);
    assert_eq!(c.open_public.load(Relaxed), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_opened_and_reset_past_a_connections_budget_are_refused_and_the_connection_closed() {
    let node = TestNode::start_with(|c| {
        c.limits.streams_per_connection_per_second = 1;
        c.limits.streams_per_connection_burst = 5;
    })
    .await;
    let addr = node.server().grpc_addr();
    // A raw HTTP/2 client: each call is answered, then reset at once (what h2's own
    // rapid-reset counter does not see), as fast as it goes, for a bounded number of calls.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut h2, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    let (mut answered, mut limited, mut closed) = (0, 0, false);
    for _ in 0..2_000 {
        let Ok(ready) = h2.ready().await else {
            closed = true;
            break;
        };
        h2 = ready;
        let req = http::Request::post(format!("http://{addr}/tocsin.v1.Relay/NodeInfo"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
        let Ok((response, mut send)) = h2.send_request(req, false) else {
            closed = true;
            break;
        };
        // An empty NodeInfoRequest, framed.
        let _ = send.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), true);
        match response.await {
            Ok(r) => {
                if r.headers()
                    .get("tocsin-reason")
                    .is_some_and(|v| v == "rate-limited")
                {
                    assert_eq!(r.headers().get("grpc-status").unwrap(), "8");
                    limited += 1;
                } else {
                    answered += 1;
                }
            }
            Err(_) => {
                closed = true;
                break;
            }
        }
        send.send_reset(h2::Reason::CANCEL);
    }
    assert!(closed, "the connection was never closed");
    assert!((5..=7).contains(&answered), "{answered} calls answered");
    assert!((1..=6).contains(&limited), "{limited} calls refused");
    wait_until("the closing to be counted", || async {
        refused(&node, ConnRefusal::Streams) == 1
    })
    .await;
    assert!(refused(&node, ConnRefusal::Stream) >= limited);

    // The node stays responsive; a client over its budget is told `rate-limited`.
    let mut c = node.client().await;
    let mut outcomes = Vec::new();
    for _ in 0..7 {
        outcomes.push(c.info().await.map(|_| ()));
    }
    assert!(outcomes[0].is_ok(), "{:?}", outcomes[0]);
    assert!(
        outcomes.iter().any(|o| matches!(
            o,
            Err(ClientError::Refused(r)) if r.reason == Reason::RateLimited
        )),
        "{outcomes:?}"
    );
    let mut other = node.client().await;
    other.info().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_churn_from_one_address_is_refused_past_its_rate_and_others_connect() {
    let node = TestNode::start_with(|c| {
        c.limits.connects_per_address_per_second = 1;
        c.limits.connects_per_address_burst = 5;
    })
    .await;
    let addr = node.server().grpc_addr();
    let mut sockets = Vec::new();
    for _ in 0..20 {
        sockets.push(silent_socket("127.0.0.7", addr).await);
    }
    wait_until("the churn to be refused", || async {
        refused(&node, ConnRefusal::Rate) >= 14
    })
    .await;
    // At most the burst and a second's refill got past the rate.
    assert!(refused(&node, ConnRefusal::Rate) <= 15);
    let m = &node.server().node().metrics().connections;
    assert!((5..=6).contains(&m.handshaking.load(Relaxed)));
    // Another address is not touched.
    let accepted = honest_publishes(&node.url(), &ClientTls::default(), "127.0.0.1", 3, 2).await;
    assert_eq!(accepted, 6);
    drop(sockets);
}
