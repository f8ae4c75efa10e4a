//! Subscriptions under hostile readers (issue 18, finding 2): stalled subscribers on large
//! messages are ended with a resume point while honest subscribers from another address get
//! every message; the caps per connection and per address refuse with `rate-limited`; a peer
//! still federates while readers hold every slot they may take.
//!
//! The attacker's streams are opened with the `h2` crate on one HTTP/2 connection and never
//! read: its connection task answers pings and takes what the flow-control window lets in
//! (64 KiB), nothing more, as a client that never polls its streams would.

use std::net::IpAddr;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures::StreamExt;
use prost::Message as _;
use tocsin::config::{Config, PeerConfig};
use tocsin::message::*;
use tocsin::proto;
use tocsin::rpc::{Client, ClientError, ClientEvent, PublishOutcome};

use crate::support::*;
use crate::tls::{files, pki, trusting};

/// An alert of about 56 KB: three languages, each with a description at its limit.
fn large_alert(key: &SecretKey, n: usize) -> Message {
    let mut body = alert(key, &format!("Dockworkers detained, report {n}"));
    if let Content::Alert(a) = &mut body.content {
        *a = alert_content(
            &format!("Dockworkers detained, report {n}"),
            &["en", "fr", "es"],
        );
        for info in &mut a.info {
            info.description = format!("{n} ")
                .repeat(17_000)
                .chars()
                .take(16_000)
                .collect();
            info.instruction = "Write to the Ministry of Labour of Eastland. ".repeat(60);
        }
    }
    let m = sign(body, key);
    assert!(m.signed().body().len() > 50_000, "a large message");
    m
}

/// A gRPC message frame: compression flag, length, protobuf.
fn framed(pb: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + pb.len());
    b.extend_from_slice(&[0]);
    b.extend_from_slice(&(pb.len() as u32).to_be_bytes());
    b.extend_from_slice(pb);
    b.freeze()
}

/// Streams opened and never read, all on one HTTP/2 connection from 127.0.0.1.
struct Stalled {
    /// Each stream's answer: its headers, then its body when the test finally reads it.
    answers: Vec<h2::client::ResponseFuture>,
    _send: h2::client::SendRequest<Bytes>,
}

/// Opens `n` Subscribe streams from seq 0 on one connection and reads none of them.
async fn stalled(url: &str, n: usize) -> Stalled {
    let addr = url.trim_start_matches("http://");
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let uri: http::Uri = format!("{url}/tocsin.v1.Relay/Subscribe").parse().unwrap();
    let req = proto::SubscribeRequest {
        filter: None,
        since: 0,
        peer_node_key: Vec::new(),
    };
    let mut answers = Vec::new();
    for _ in 0..n {
        let request = http::Request::post(uri.clone())
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .unwrap();
        let mut ready = send.clone().ready().await.unwrap();
        let (answer, mut stream) = ready.send_request(request, false).unwrap();
        stream
            .send_data(framed(&req.encode_to_vec()), true)
            .unwrap();
        answers.push(answer);
    }
    Stalled {
        answers,
        _send: send,
    }
}

/// Reads a stalled stream at last: the seqs it delivered and its grpc-status, grpc-message
/// and tocsin-reason.
async fn read_out(answer: h2::client::ResponseFuture) -> (Vec<u64>, String, String, String) {
    let answer = within("the stalled stream's headers", answer)
        .await
        .unwrap();
    let header = |h: &http::HeaderMap, k: &str| {
        h.get(k)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let mut body = answer.into_body();
    let mut buf = BytesMut::new();
    while let Some(chunk) = within("the stalled stream's data", body.data()).await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        buf.extend_from_slice(&chunk);
    }
    let trailers = within("the stalled stream's trailers", body.trailers())
        .await
        .unwrap()
        .unwrap_or_default();
    let mut seqs = Vec::new();
    let mut buf = buf.freeze();
    while buf.len() >= 5 {
        let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
        buf.advance(5);
        let event = proto::SubscribeEvent::decode(buf.split_to(len)).unwrap();
        if let Some(proto::subscribe_event::Event::Delivery(d)) = event.event {
            seqs.push(d.seq);
        }
    }
    let message = percent_decode(&header(&trailers, "grpc-message"));
    (
        seqs,
        header(&trailers, "grpc-status"),
        message,
        header(&trailers, "tocsin-reason"),
    )
}

/// grpc-message is percent-encoded.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 3 <= bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An honest reader from `local`: follows the node from 0 and resumes whenever a status tells it
/// where, until it has `want` distinct messages. Returns their seqs.
async fn honest_reader(url: String, local: IpAddr, want: usize) -> Vec<u64> {
    let mut client = client_from(&url, local).await;
    let mut since = 0;
    let mut seqs = Vec::new();
    let mut resumes = 0;
    while seqs.len() < want {
        let req = proto::SubscribeRequest {
            filter: None,
            since,
            peer_node_key: Vec::new(),
        };
        let mut events = client.subscribe(req).await.expect("subscribe").into_inner();
        loop {
            match events.next().await {
                Some(Ok(proto::SubscribeEvent {
                    event: Some(proto::subscribe_event::Event::Delivery(d)),
                })) => {
                    let m = d.message.expect("a delivery carries its message");
                    Message::open_untimed(SignedMessage::new(m.body, &m.signature).unwrap())
                        .expect("a delivered message verifies");
                    assert!(d.seq > since, "delivered in order, each once");
                    since = d.seq;
                    seqs.push(d.seq);
                    if seqs.len() >= want {
                        return seqs;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(status)) => {
                    let at = tocsin::rpc::status::resume_point(status.message())
                        .unwrap_or_else(|| panic!("an honest reader was ended: {status:?}"));
                    assert_eq!(at, since, "told to resume where it stood");
                    resumes += 1;
                    assert!(resumes < 20, "resumed too often");
                    break;
                }
                None => panic!("the subscription ended without a status"),
            }
        }
    }
    seqs
}

/// Caps small enough for a test: 8 subscriptions per connection and per address, a 128 KiB
/// queue, a stall limit of a second.
fn tight(c: &mut Config) {
    c.limits.subscriptions_per_connection = 8;
    c.limits.subscriptions_per_address = 8;
    c.limits.subscriber_buffer_kib = 128;
    c.limits.subscriber_stall = Duration::from_secs(1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_subscribers_are_ended_with_a_resume_point_and_honest_ones_get_everything() {
    let node = TestNode::start_with(tight).await;
    let url = node.url();
    let metrics = || node.server().node().metrics().subscriptions.snapshot();

    // The attacker takes every slot its address may have, and reads nothing.
    let attacker = stalled(&url, 8).await;
    wait_until("the stalled subscriptions to be open", || {
        let open = node.server().node().metrics().snapshot().subscribers;
        async move { open == 8 }
    })
    .await;
    // An honest reader from another address, reading as it should.
    const N: usize = 60;
    let honest = tokio::spawn(honest_reader(url.clone(), "127.0.0.2".parse().unwrap(), N));

    // Large messages, about 56 KB each: far more than the attacker's streams can take.
    let key = org(180);
    let mut c = node.client().await;
    for i in 0..N {
        let m = large_alert(&key, i);
        assert!(matches!(
            c.publish(m.signed()).await.unwrap(),
            PublishOutcome::Accepted { .. }
        ));
    }

    let got = within("the honest reader", honest).await.unwrap();
    assert_eq!(
        got,
        (1..=N as u64).collect::<Vec<_>>(),
        "every message, in order"
    );

    // Each stalled stream is ended after the stall limit, and counted.
    wait_until("the stalled subscriptions to be ended", || {
        let stalled = metrics().1;
        async move { stalled == 8 }
    })
    .await;
    // Read at last (all together: they share the connection's flow-control window), each says
    // where to resume, and nothing before that point was lost.
    let read = futures::future::join_all(attacker.answers.into_iter().map(read_out)).await;
    for (seqs, status, message, reason) in read {
        assert_eq!(status, "8", "RESOURCE_EXHAUSTED: {message}");
        assert_eq!(reason, "rate-limited");
        let at = tocsin::rpc::status::resume_point(&message)
            .unwrap_or_else(|| panic!("no resume point in {message:?}"));
        assert!(at < N as u64, "ended before the end: {at}");
        assert_eq!(
            seqs,
            (1..=at).collect::<Vec<_>>(),
            "everything up to the resume point was delivered"
        );
    }
    assert_eq!(metrics().1, 8, "each stalled subscription counted once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caps_per_connection_and_per_address_refuse_with_rate_limited() {
    let node = TestNode::start_with(|c| {
        c.limits.subscriptions_per_connection = 3;
        c.limits.subscriptions_per_address = 5;
    })
    .await;
    let url = node.url();
    let refused = |e: ClientError| match e {
        ClientError::Refused(r) => {
            assert_eq!(r.reason, Reason::RateLimited);
            r.detail
        }
        other => panic!("not refused as rate-limited: {other:?}"),
    };
    // One connection: three subscriptions, the fourth refused.
    let mut a = Client::connect(&url).await.unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(a.subscribe(&Filter::default(), 0, None).await.unwrap());
    }
    let detail = refused(
        a.subscribe(&Filter::default(), 0, None)
            .await
            .err()
            .unwrap(),
    );
    assert!(detail.contains("this connection"), "{detail}");
    // Another connection from the same address: two more, then the address is full.
    let mut b = Client::connect(&url).await.unwrap();
    for _ in 0..2 {
        held.push(b.subscribe(&Filter::default(), 0, None).await.unwrap());
    }
    let detail = refused(
        b.subscribe(&Filter::default(), 0, None)
            .await
            .err()
            .unwrap(),
    );
    assert!(detail.contains("this address"), "{detail}");
    // Another address is not affected.
    let mut other = client_from(&url, "127.0.0.3".parse().unwrap()).await;
    let req = proto::SubscribeRequest::default();
    let _other = other
        .subscribe(req)
        .await
        .expect("another address subscribes");
    // Counted, by cap.
    let (by_cap, _) = node.server().node().metrics().subscriptions.snapshot();
    assert_eq!(by_cap, [0, 0, 1, 1, 0]);
    // A slot given back is free again.
    drop(held.pop());
    wait_until("the slot to be given back", || {
        let mut b = b.clone();
        async move { b.subscribe(&Filter::default(), 0, None).await.is_ok() }
    })
    .await;

    // A network (127.0.0.0/24) holds four addresses' worth, 20 (one /24 held every reader's
    // slot with 31 addresses): 5 are open from it now (6 while the last check's, dropped,
    // is being given back).
    let mut net_held = Vec::new();
    let mut refusal = None;
    'hosts: for host in 4..=10u8 {
        for _ in 0..5 {
            // A connection each (three may be open on one).
            let mut c = client_from(&url, format!("127.0.0.{host}").parse().unwrap()).await;
            match c.subscribe(proto::SubscribeRequest::default()).await {
                Ok(s) => net_held.push(s),
                Err(status) => {
                    refusal = Some(status);
                    break 'hosts;
                }
            }
        }
    }
    let status = refusal.expect("the network's cap");
    assert!(status.message().contains("this network"), "{status:?}");
    assert!((14..=15).contains(&net_held.len()), "{}", net_held.len());
    // Another network is not affected.
    let mut far = client_from(&url, "127.0.1.1".parse().unwrap()).await;
    let _far = far
        .subscribe(proto::SubscribeRequest::default())
        .await
        .expect("another network subscribes");
    let (by_cap, _) = node.server().node().metrics().subscriptions.snapshot();
    assert_eq!(by_cap[4], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_still_federates_while_readers_hold_the_subscriber_cap() {
    let pki = pki();
    let geneva = TestNode::start_with(|c| {
        files(c, &pki, "geneva");
        c.limits.max_subscribers = 6;
        c.limits.peer_subscriber_slots = 2;
    })
    .await;
    let geneva_url = geneva.url();
    // Readers take every slot they may have (4 of 6), from several connections.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut r = Client::connect_with(&geneva_url, &trusting(&pki.ca))
            .await
            .unwrap();
        held.push(r.subscribe(&Filter::default(), 0, None).await.unwrap());
    }
    // A fifth reader is refused, and so is a client that names a peer key without a
    // certificate.
    for claimed in [None, Some(org(181).public())] {
        let mut r = Client::connect_with(&geneva_url, &trusting(&pki.ca))
            .await
            .unwrap();
        match r.subscribe(&Filter::default(), 0, claimed).await {
            Err(ClientError::Refused(rej)) => {
                assert_eq!(rej.reason, Reason::RateLimited);
                assert!(rej.detail.contains("kept for its peers"), "{}", rej.detail);
            }
            Err(other) => panic!("refused otherwise: {other:?}"),
            Ok(_) => panic!("a reader took a slot kept for peers"),
        }
    }
    // A peer with a certificate follows all the same.
    let baku = TestNode::start_with(|c| {
        files(c, &pki, "baku");
        c.peers = vec![PeerConfig {
            name: "geneva".into(),
            address: geneva_url.clone(),
            ca: Some(pki.ca.clone()),
        }];
    })
    .await;
    let author = org(182);
    let m = sign(alert(&author, "Strike at the Eastland port"), &author);
    let mut g = Client::connect_with(&geneva_url, &trusting(&pki.ca))
        .await
        .unwrap();
    assert!(matches!(
        g.publish(m.signed()).await.unwrap(),
        PublishOutcome::Accepted { .. }
    ));
    let store = baku.server().node().store().clone();
    let id = m.id();
    wait_until("the peer to federate the alert", || {
        let seen = store.seen(&id).unwrap().is_some();
        async move { seen }
    })
    .await;
    // The readers were served all along.
    for events in &mut held {
        loop {
            match within("a reader's delivery", events.next()).await {
                Some(Ok(ClientEvent::Delivery { message, .. })) => {
                    assert_eq!(message.id(), id);
                    break;
                }
                Some(Ok(ClientEvent::CaughtUp(_))) => {}
                other => panic!("a reader lost its subscription: {other:?}"),
            }
        }
    }
}
