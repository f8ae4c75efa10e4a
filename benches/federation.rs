//! Federation benchmark: propagation latency across a 5-node chain, and catch-up rate of a
//! node that follows a peer with a backlog.
//!
//! Run: `cargo bench --bench federation` (release build; nodes in-process on 127.0.0.1).
//! Knobs: TOCSIN_BENCH_CHAIN_MSGS (default 300), TOCSIN_BENCH_RATE (msgs/s, default 50),
//! TOCSIN_BENCH_BACKLOG (default 100000), TOCSIN_BENCH_RUNS (default 3; medians reported).

mod common;

use std::time::{Duration, Instant};

use common::{env_or, message, percentile, sign_many, unlimited, verify_rate};
use futures::StreamExt;
use tempfile::TempDir;
use tocsin::config::{Config, PeerConfig};
use tocsin::message::*;
use tocsin::rpc::{Client, ClientEvent, PublishOutcome};
use tocsin::server::Server;

struct Net {
    servers: Vec<Server>,
    _dirs: Vec<TempDir>,
}

async fn chain(n: usize) -> Net {
    let mut listeners = Vec::new();
    for _ in 0..n {
        listeners.push(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let addrs: Vec<_> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    let mut servers = Vec::new();
    let mut dirs = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.node.data_dir = dir.path().join("data");
        config.node.listen = addrs[i];
        config.federation.reconnect_min = Duration::from_millis(20);
        config.federation.reconnect_max = Duration::from_millis(200);
        bench_config(&mut config);
        for j in [i.wrapping_sub(1), i + 1] {
            if j < n {
                config.peers.push(PeerConfig {
                    name: format!("n{j}"),
                    address: format!("http://{}", addrs[j]),
                    ca: None,
                });
            }
        }
        servers.push(Server::start_on(config, listener).await.unwrap());
        dirs.push(dir);
    }
    Net {
        servers,
        _dirs: dirs,
    }
}

/// Several nodes run in one process: no web gateway (it would want one fixed port each).
fn bench_config(config: &mut Config) {
    unlimited(config);
    config.http.enabled = false;
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Publish at one end at a steady rate; time until a subscriber at the other end has it.
async fn propagation(msgs: u64, rate: u64) -> (Duration, Duration) {
    let net = chain(5).await;
    // Wait until every follower is connected.
    for s in &net.servers {
        let want = if s.url() == net.servers[0].url() || s.url() == net.servers[4].url() {
            1
        } else {
            2
        };
        loop {
            let peers = s.node().peers();
            if peers.iter().filter(|p| p.connected).count() >= want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let key = SecretKey::from_seed(&[7; 32]);
    let prepared: Vec<Message> = (0..msgs).map(|i| message(&key, i)).collect();
    let mut far = Client::connect(&net.servers[4].url()).await.unwrap();
    let mut events = far.subscribe(&Filter::default(), 0, None).await.unwrap();
    match events.next().await {
        Some(Ok(ClientEvent::CaughtUp(_))) => {}
        other => panic!("{other:?}"),
    }
    let ids: std::collections::HashMap<Id, usize> = prepared
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id(), i))
        .collect();
    let sent_at = std::sync::Arc::new(std::sync::Mutex::new(vec![None::<Instant>; msgs as usize]));
    let publisher = {
        let url = net.servers[0].url();
        let sent_at = sent_at.clone();
        tokio::spawn(async move {
            let mut c = Client::connect(&url).await.unwrap();
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
            for (i, m) in prepared.iter().enumerate() {
                tick.tick().await;
                sent_at.lock().unwrap()[i] = Some(Instant::now());
                let r = c.publish(m.signed()).await.unwrap();
                assert!(matches!(r, PublishOutcome::Accepted { .. }));
            }
        })
    };
    let mut latencies = Vec::with_capacity(msgs as usize);
    while latencies.len() < msgs as usize {
        match tokio::time::timeout(Duration::from_secs(60), events.next()).await {
            Ok(Some(Ok(ClientEvent::Delivery { message, .. }))) => {
                let now = Instant::now();
                if let Some(i) = ids.get(&message.id())
                    && let Some(t) = sent_at.lock().unwrap()[*i]
                {
                    latencies.push(now - t);
                }
            }
            Ok(Some(Ok(ClientEvent::CaughtUp(_)))) => {}
            other => panic!("propagation stalled: {other:?}"),
        }
    }
    publisher.await.unwrap();
    for s in net.servers {
        s.shutdown(Duration::from_secs(5)).await.unwrap();
    }
    latencies.sort();
    (percentile(&latencies, 0.5), percentile(&latencies, 0.99))
}

/// A node with a backlog; a new node starts following it: messages per second until caught up.
async fn catch_up(backlog: u64) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.node.data_dir = dir.path().join("source");
    config.node.listen = "127.0.0.1:0".parse().unwrap();
    bench_config(&mut config);
    let source = Server::start(config).await.unwrap();
    let msgs = sign_many(&[SecretKey::from_seed(&[9; 32])], 0, backlog);
    let mut c = Client::connect(&source.url()).await.unwrap();
    let replies: Vec<_> = c
        .publish_stream(futures::stream::iter(msgs))
        .await
        .unwrap()
        .collect()
        .await;
    assert!(
        replies
            .iter()
            .all(|r| matches!(r, Ok(PublishOutcome::Accepted { .. })))
    );

    let mut config = Config::default();
    config.node.data_dir = dir.path().join("follower");
    config.node.listen = "127.0.0.1:0".parse().unwrap();
    bench_config(&mut config);
    config.peers.push(PeerConfig {
        name: "source".into(),
        address: source.url(),
        ca: None,
    });
    let started = Instant::now();
    let follower = Server::start(config).await.unwrap();
    let store = follower.node().store().clone();
    let mut head = store.watch_head();
    while *head.borrow_and_update() < backlog {
        tokio::time::timeout(Duration::from_secs(120), head.changed())
            .await
            .expect("catch-up stalled")
            .unwrap();
    }
    let rate = backlog as f64 / started.elapsed().as_secs_f64();
    follower.shutdown(Duration::from_secs(5)).await.unwrap();
    source.shutdown(Duration::from_secs(5)).await.unwrap();
    rate
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing useful: run only
    // when asked to benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let runs = env_or("TOCSIN_BENCH_RUNS", 3);
    let msgs = env_or("TOCSIN_BENCH_CHAIN_MSGS", 300);
    let rate = env_or("TOCSIN_BENCH_RATE", 50);
    let backlog = env_or("TOCSIN_BENCH_BACKLOG", 100_000);
    // The ceiling, in this run: strict verification of the catch-up's messages on 2 threads.
    let pool = sign_many(&[SecretKey::from_seed(&[9; 32])], 0, 2048);
    let ceiling = verify_rate(&pool, 2, Duration::from_secs(2));
    println!("verify ceiling, 2 threads: {ceiling:.0} msg/s");
    let mut p50s = Vec::new();
    let mut p99s = Vec::new();
    let mut rates = Vec::new();
    for run in 1..=runs {
        let (p50, p99) = rt.block_on(propagation(msgs, rate));
        let r = rt.block_on(catch_up(backlog));
        println!(
            "run {run}: 5-node chain p50 {:.2} ms p99 {:.2} ms ({msgs} msgs at {rate}/s); catch-up {r:.0} msg/s ({backlog} backlog)",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
        p50s.push(p50.as_secs_f64() * 1e3);
        p99s.push(p99.as_secs_f64() * 1e3);
        rates.push(r);
    }
    let rate = median(rates);
    println!(
        "median of {runs}: chain p50 {:.2} ms, p99 {:.2} ms; catch-up {rate:.0} msg/s = {:.0}% of the ceiling",
        median(p50s),
        median(p99s),
        rate / ceiling * 100.0
    );
}
