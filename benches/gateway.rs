//! Gateway benchmark (issue 18): the node's resident memory while 1,000 slow readers hold
//! `/feed.atom` open, against a feed of a few hundred large alerts whose texts are full of
//! quotes and ampersands (the attack that took a node from 16 MB to 6.5 GB), with honest
//! `GET /` requests meanwhile.
//!
//! Run: `cargo bench --bench gateway` (release build; node in-process on 127.0.0.1,
//! plaintext, the gateway's limits at their defaults). The readers are bare sockets with a
//! 4 KiB receive buffer, spread over 32 addresses in 32 /24 networks (127.0.N.2) so that the
//! default per-address and per-network caps admit them all; each sends one request, reads
//! 16 bytes and stops reading. VmRSS is the whole process's (node and readers; a reader is a
//! socket and a few hundred bytes).
//!
//! Knobs (defaults in brackets): TOCSIN_BENCH_READERS [1000], TOCSIN_BENCH_ALERTS [300],
//! TOCSIN_BENCH_HOLD_SECS [5] (how long the readers are held while memory is sampled),
//! TOCSIN_BENCH_FEED_KIB [1024] (`http.max_feed_kib`), TOCSIN_BENCH_DIR (where the data goes).

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::{env_or, rss_kib, unlimited};
use tocsin::config::Config;
use tocsin::message::*;
use tocsin::rpc::{Client, PublishOutcome};
use tocsin::server::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// A large alert whose description escapes to several times its size.
fn heavy_alert(key: &SecretKey, i: usize, now: Timestamp) -> SignedMessage {
    let body = Body {
        author: key.public(),
        created_at: now,
        expires_at: Some(now.plus(Duration::from_secs(7 * 24 * 3600))),
        topics: vec!["union-rights".into()],
        countries: vec!["AZ".into()],
        effective_at: None,
        content: Content::Alert(Alert {
            status: Status::Actual,
            category: Category::Arrest,
            urgency: Urgency::Immediate,
            severity: Severity::Severe,
            certainty: Certainty::Observed,
            info: vec![Info {
                language: "en".into(),
                headline: format!("\"Eastport\" & \"Westport\" dockworkers detained, report {i}"),
                description: "\"&".repeat(8_000),
                instruction: "\"Write\" & \"call\"".repeat(200),
                link: String::new(),
            }],
        }),
    };
    Message::sign(body, key).expect("signing").signed().clone()
}

/// A slow reader: asks for the feed from `from`, takes 16 bytes, then reads no more.
async fn slow_reader(from: IpAddr, addr: SocketAddr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.set_recv_buffer_size(4096).ok()?;
    socket.bind(SocketAddr::new(from, 0)).ok()?;
    let mut s = socket.connect(addr).await.ok()?;
    s.write_all(b"GET /feed.atom HTTP/1.1\r\nHost: tocsin\r\n\r\n")
        .await
        .ok()?;
    let mut first = [0u8; 16];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut first))
        .await
        .ok()?
        .ok()?;
    first.starts_with(b"HTTP/1.1 200").then_some(s)
}

/// One honest `GET /` from 127.0.0.1; whether it was answered 200.
async fn honest_get(addr: SocketAddr) -> bool {
    let r = tokio::time::timeout(Duration::from_secs(10), async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: tocsin\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.ok()?;
        Some(raw.starts_with(b"HTTP/1.1 200"))
    })
    .await;
    matches!(r, Ok(Some(true)))
}

fn main() {
    let readers = env_or("TOCSIN_BENCH_READERS", 1000) as usize;
    let alerts = env_or("TOCSIN_BENCH_ALERTS", 300) as usize;
    let hold = Duration::from_secs(env_or("TOCSIN_BENCH_HOLD_SECS", 5));
    let feed_kib = env_or("TOCSIN_BENCH_FEED_KIB", 1024) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let dir = match std::env::var("TOCSIN_BENCH_DIR") {
            Ok(d) => tempfile::tempdir_in(d).expect("bench dir"),
            Err(_) => tempfile::tempdir().expect("temp dir"),
        };
        let mut config = Config::default();
        config.node.data_dir = dir.path().join("data");
        config.node.listen = "127.0.0.1:0".parse().unwrap();
        config.http.listen = "127.0.0.1:0".parse().unwrap();
        config.http.max_feed_kib = feed_kib;
        config.tls.mode = tocsin::config::TlsMode::Off;
        unlimited(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Server::start_on(config, listener).await.expect("node");
        let addr = server.http_addr().expect("the gateway is on");
        let mut client = Client::connect(&server.url()).await.expect("connect");
        let now = Timestamp::now();
        for i in 0..alerts {
            let key = SecretKey::from_seed(&[(i % 200) as u8 + 1; 32]);
            let m = heavy_alert(&key, i, now);
            match client.publish(&m).await.expect("publish") {
                PublishOutcome::Accepted { .. } => {}
                other => panic!("not accepted: {other:?}"),
            }
        }
        let feed_len = {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET /feed.atom HTTP/1.1\r\nHost: tocsin\r\nConnection: close\r\n\r\n")
                .await
                .unwrap();
            let mut raw = Vec::new();
            s.read_to_end(&mut raw).await.unwrap();
            raw.len()
        };
        let before = rss_kib();
        println!(
            "gateway: {alerts} alerts of ~22 KB (quote- and ampersand-heavy), /feed.atom {} KiB (cap {feed_kib} KiB); VmRSS before the readers {before} KiB",
            feed_len / 1024
        );
        let started = Instant::now();
        let mut tasks = Vec::new();
        for r in 0..readers {
            let from = IpAddr::from([127, 0, (r % 32) as u8 + 1, 2]);
            tasks.push(tokio::spawn(slow_reader(from, addr)));
        }
        let mut held = Vec::new();
        for t in tasks {
            if let Ok(Some(s)) = t.await {
                held.push(s);
            }
        }
        println!(
            "gateway: {} of {readers} slow readers got a 200 and stalled, in {:.1}s",
            held.len(),
            started.elapsed().as_secs_f64()
        );
        let mut peak = rss_kib();
        let mut honest = 0;
        let mut asked = 0;
        let until = Instant::now() + hold;
        while Instant::now() < until {
            asked += 1;
            if honest_get(addr).await {
                honest += 1;
            }
            peak = peak.max(rss_kib());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let after = rss_kib();
        let target_kib = 512 * 1024;
        println!(
            "gateway: {} slow feed readers held {:.1}s: VmRSS peak {peak} KiB ({:.1} MiB), at the end {after} KiB; honest GET / {honest} of {asked}; target ≤ 512 MiB: {}",
            held.len(),
            hold.as_secs_f64(),
            peak as f64 / 1024.0,
            if peak <= target_kib { "met" } else { "NOT met" }
        );
        drop(held);
        server
            .shutdown(Duration::from_secs(10))
            .await
            .expect("shutdown");
    });
}
