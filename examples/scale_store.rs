//! Builds and measures a large store in-process, through the store's own group writes: how long
//! an open takes, and a retention sweep of every message at once while a publisher goes on.
//!
//! ```text
//! cargo run --release --example scale_store -- build DIR COUNT   # COUNT alerts, all expiring together
//! cargo run --release --example scale_store -- open DIR          # time opens (cold filter, then saved)
//! cargo run --release --example scale_store -- sweep DIR RATE    # expire all, publishing RATE/s meanwhile
//! ```
//!
//! The messages are made at `T0` and expire an hour later; `sweep` runs retention at two hours
//! past `T0`, so every message built is due at once. Disk sizes are of the directory's files.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "../benches/common/mod.rs"]
mod common;

use tocsin::message::{Message, SecretKey, Timestamp};
use tocsin::store::{Inserted, Origin, Store, StoreConfig};

const T0: Timestamp = Timestamp(1_800_000_000_000);
const HOUR: Duration = Duration::from_secs(3600);
/// Messages per submitted group while building.
const GROUP: usize = 1000;

/// A ~1 KiB alert in three languages, as the benchmarks make (`benches/common`).
fn message(key: &SecretKey, n: u64, created: Timestamp, life: Duration) -> Message {
    common::message_at(key, n, created, created.plus(life))
}

fn cfg(dir: &Path) -> StoreConfig {
    StoreConfig {
        path: dir.to_path_buf(),
        ..StoreConfig::default()
    }
}

/// The bytes of every file under `dir`.
fn du(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let entry = entry.expect("entry");
        let meta = entry.metadata().expect("metadata");
        total += if meta.is_dir() {
            du(&entry.path())
        } else {
            meta.len()
        };
    }
    total
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

async fn build(dir: PathBuf, count: u64) {
    let keys: Vec<SecretKey> = (1..=64u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
    let store = Store::open(&cfg(&dir)).expect("open");
    let from = store.counts().expect("counts").messages;
    let started = Instant::now();
    let mut in_flight = std::collections::VecDeque::new();
    let mut n = from;
    while n < from + count {
        let end = (n + GROUP as u64).min(from + count);
        let group: Vec<_> = (n..end)
            .map(|i| {
                (
                    message(&keys[(i % 64) as usize], i, T0, HOUR),
                    Origin::Local,
                )
            })
            .collect();
        n = end;
        in_flight.push_back(store.submit_many(group, T0).expect("submit"));
        if in_flight.len() >= 4 {
            let done = in_flight.pop_front().expect("one in flight");
            for r in done.durable().await.expect("durable") {
                assert!(matches!(r, Inserted::Accepted { .. }), "{r:?}");
            }
        }
        if (n - from).is_multiple_of(100_000) {
            eprintln!(
                "{} messages, {:.0} s",
                n - from,
                started.elapsed().as_secs_f64()
            );
        }
    }
    for done in in_flight {
        done.durable().await.expect("durable");
    }
    let counts = store.counts().expect("counts");
    store.close().await.expect("close");
    println!(
        "built {count} in {:.1} s; store holds {} messages, {:.0} MiB on disk",
        started.elapsed().as_secs_f64(),
        counts.messages,
        mib(du(&dir))
    );
}

/// Opens the store and waits for its id filter to be complete; prints both times.
async fn open(dir: PathBuf) {
    for round in 0..2 {
        let started = Instant::now();
        let store = Store::open(&cfg(&dir)).expect("open");
        let opened = started.elapsed();
        let counts = store.counts().expect("counts");
        let filled = loop {
            if store.ids_complete().expect("store open") {
                break started.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        store.close().await.expect("close");
        println!(
            "open {round}: {:.0} ms to open, id filter complete at {:.0} ms ({} messages, {} tombstones)",
            opened.as_secs_f64() * 1e3,
            filled.as_secs_f64() * 1e3,
            counts.messages,
            counts.tombstones
        );
    }
}

/// Expires everything built while a publisher sends `rate` messages a second, one at a time,
/// each waiting for its durable answer; prints the publisher's latencies and the disk sizes.
async fn sweep(dir: PathBuf, rate: u64) {
    let before = du(&dir);
    let store = Store::open(&cfg(&dir)).expect("open");
    let at = T0.plus(2 * HOUR);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publisher = {
        let store = store.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let key = SecretKey::from_seed(&[200; 32]);
            let mut latencies = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for n in 0.. {
                tick.tick().await;
                let msg = message(&key, 10_000_000_000 + n, at, 24 * HOUR);
                let sent = Instant::now();
                let r = store.insert(&msg, Origin::Local, at).await;
                latencies.push(sent.elapsed());
                match r {
                    Ok(Inserted::Accepted { .. }) => {}
                    other => panic!("publish: {other:?}"),
                }
                if done.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
            }
            latencies
        })
    };
    let started = Instant::now();
    let stats = store.expire(at).await.expect("expire");
    let took = started.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut latencies = publisher.await.expect("publisher");
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    let counts = store.counts().expect("counts");
    store.close().await.expect("close");
    println!(
        "swept {} messages in {:.1} s; {} publishes meanwhile: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        stats.expired,
        took.as_secs_f64(),
        latencies.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "disk: {:.0} MiB before, {:.0} MiB after ({} messages, {} tombstones left)",
        mib(before),
        mib(du(&dir)),
        counts.messages,
        counts.tombstones
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let dir = PathBuf::from(arg(1));
    match arg(0).as_str() {
        "build" => build(dir, arg(2).parse().expect("COUNT")).await,
        "open" => open(dir).await,
        "sweep" => sweep(dir, arg(2).parse().unwrap_or(1000)).await,
        _ => eprintln!("usage: scale_store build DIR COUNT | open DIR | sweep DIR RATE"),
    }
}
