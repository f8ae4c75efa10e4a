//! Key seizure and recovery benchmark: what a rotation costs a node, and what the recovery
//! commitment costs every publish by a committed key.
//!
//! `cargo bench --bench keys` (release). `TOCSIN_BENCH_RUNS` sets the repeats (default 3);
//! medians are printed. `TOCSIN_BENCH_DIR` chooses where the data goes.
//!
//! - rotation: a store holding `N` messages by one union (and as many by others) takes a rotation
//!   from the middle of its history: the time from submitting the rotation until it is durable,
//!   which withholds the N/2 messages made from then on in the same transaction;
//! - publish by a committed key against an uncommitted one: 20,000 alerts each, 64 tasks, group
//!   commit (the commitment adds a check only for a message older than 10 minutes).
//!
//! Last result (2026-12-02, 2-core shared VM, medians of 6): a rotation withholding 500 of 1,000
//! messages durable in 23.3 ms, 5,000 of 10,000 in 280.8 ms; publishing by a committed key
//! 29,284 msgs/s against 29,094 uncommitted (ratio 1.05, the middle runs 1.00 and 1.05). See
//! BENCHMARKS.md ("Key seizure and recovery").

use std::time::{Duration, Instant};

mod common;

use tocsin::message::{
    Body, Content, Message, RecoveryCommitment, Rotation, SecretKey, Timestamp, recovery_digest,
};
use tocsin::store::{Inserted, Origin, Store, StoreConfig};

const T0: Timestamp = Timestamp(1_800_000_000_000);
const TASKS: usize = 64;
const MS: Duration = Duration::from_millis(1);

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

/// The benchmarks' usual alert (about 1.4 KiB, three languages) by `k`, made at `created`.
fn alert(k: &SecretKey, n: u64, created: Timestamp) -> Message {
    common::message_at(
        k,
        n,
        created,
        created.plus(Duration::from_secs(30 * 24 * 3600)),
    )
}

fn key_event(k: &SecretKey, created: Timestamp, content: Content) -> Message {
    Message::sign(Body::key_event(k.public(), created, content), k).expect("sign")
}

fn commitment(main: &SecretKey, recovery: &SecretKey, at: Timestamp) -> Message {
    key_event(
        main,
        at,
        Content::Commitment(RecoveryCommitment {
            recovery_digest: recovery_digest(&recovery.public()),
        }),
    )
}

fn dir() -> tempfile::TempDir {
    match std::env::var("TOCSIN_BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d).expect("bench dir"),
        Err(_) => tempfile::tempdir().expect("temp dir"),
    }
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(&StoreConfig {
        path: dir.to_path_buf(),
        ..StoreConfig::default()
    })
    .expect("open")
}

/// Inserts `msgs` from `TASKS` tasks at `now`; messages per second.
async fn insert_all(store: &Store, msgs: Vec<Message>, now: Timestamp) -> f64 {
    let n = msgs.len();
    let mut chunks: Vec<Vec<Message>> = (0..TASKS).map(|_| Vec::new()).collect();
    for (i, m) in msgs.into_iter().enumerate() {
        chunks[i % TASKS].push(m);
    }
    let start = Instant::now();
    let tasks: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let store = store.clone();
            tokio::spawn(async move {
                for m in chunk {
                    let r = store.insert(&m, Origin::Local, now).await.expect("insert");
                    assert!(matches!(r, Inserted::Accepted { .. }), "{r:?}");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Milliseconds from submitting a rotation of a union holding `n` messages (half of them made
/// after the compromise) until it is durable; and how many were withheld.
async fn rotation(n: u64) -> (f64, u64) {
    let dir = dir();
    let store = open(dir.path());
    let (main, recovery, successor, successor_recovery, other) =
        (key(1), key(2), key(3), key(4), key(5));
    let now = T0.plus(MS * (n as u32 + 10));
    store
        .insert(&commitment(&main, &recovery, T0), Origin::Local, T0)
        .await
        .expect("commit");
    let mut msgs = Vec::new();
    for i in 1..=n {
        let at = T0.plus(MS * i as u32);
        msgs.push(alert(&main, i, at));
        msgs.push(alert(&other, i, at));
    }
    // Peers' messages: old ones arrive as relayed.
    for chunk in msgs.chunks(256) {
        let tasks: Vec<_> = chunk
            .iter()
            .cloned()
            .map(|m| {
                let store = store.clone();
                tokio::spawn(async move {
                    let origin = Origin::Peer {
                        peer: "bench".into(),
                        cursor: 0,
                    };
                    store.insert(&m, origin, now).await.expect("insert")
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    }
    let before = store.counts().expect("counts").messages;
    let since = T0.plus(MS * (n / 2) as u32 + MS);
    let rot = key_event(
        &recovery,
        now,
        Content::Rotation(Box::new(Rotation {
            compromised: main.public(),
            compromised_since: since,
            successor: successor.public(),
            successor_recovery_digest: recovery_digest(&successor_recovery.public()),
            reason: "phone taken at a checkpoint".into(),
        })),
    );
    let start = Instant::now();
    let r = store
        .insert(&rot, Origin::Local, now)
        .await
        .expect("rotate");
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    assert!(matches!(r, Inserted::Accepted { .. }), "{r:?}");
    let after = store.counts().expect("counts").messages;
    store.close().await.expect("close");
    (ms, before + 1 - after)
}

/// Publishes per second of 20,000 alerts by one union, committed to a recovery key or not.
async fn publish_rate(committed: bool) -> f64 {
    let now = T0;
    let dir = dir();
    let store = open(dir.path());
    let (main, recovery) = (key(10), key(11));
    if committed {
        store
            .insert(&commitment(&main, &recovery, now), Origin::Local, now)
            .await
            .expect("commit");
    }
    let msgs = (0..20_000).map(|i| alert(&main, i, now)).collect();
    let rate = insert_all(&store, msgs, now).await;
    store.close().await.expect("close");
    rate
}

/// [`publish_rate`] committed and not, in turns (which goes first alternates by run, so
/// neither gains from a warmer disk): (committed, uncommitted).
async fn publish_rates(run: u64) -> (f64, f64) {
    if run.is_multiple_of(2) {
        let c = publish_rate(true).await;
        (c, publish_rate(false).await)
    } else {
        let p = publish_rate(false).await;
        (publish_rate(true).await, p)
    }
}

fn main() {
    let runs = common::env_or("TOCSIN_BENCH_RUNS", 3).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sizes = [1_000u64, 10_000];
    let mut rot: Vec<Vec<f64>> = sizes.iter().map(|_| Vec::new()).collect();
    let (mut with, mut without, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        for (i, n) in sizes.iter().enumerate() {
            let (ms, withheld) = rt.block_on(rotation(*n));
            println!(
                "run {run}: rotation of a union holding {n} messages: durable in {ms:.1} ms, {withheld} withheld"
            );
            rot[i].push(ms);
        }
        let (c, p) = rt.block_on(publish_rates(run));
        println!("run {run}: publish, committed key {c:.0} msgs/s, uncommitted {p:.0} msgs/s");
        with.push(c);
        without.push(p);
        ratio.push(c / p);
    }
    println!("medians of {runs} runs:");
    for (i, n) in sizes.iter().enumerate() {
        println!(
            "  rotation, {n} messages held ({} withheld): {:.1} ms",
            n / 2,
            common::median(rot[i].clone())
        );
    }
    println!(
        "  publish: committed {:.0} msgs/s, uncommitted {:.0} msgs/s, ratio {:.2}",
        common::median(with),
        common::median(without),
        common::median(ratio)
    );
}
