//! Store ingest benchmark: group commit against one flush per message, disk bytes per message
//! after 100k messages, and disk bytes under a churn of inserts and expiries.
//!
//! `cargo bench --bench store` (release). `TOCSIN_BENCH_RUNS` sets the repeats (default 3) and
//! medians are printed; `TOCSIN_BENCH_DIR` chooses where the data goes (default: the system
//! temp directory; use a real disk, not tmpfs, or the fsyncs cost nothing).
//!
//! Last result (2026-11-26, commit "Node: the core count is read once", 2-core shared VM,
//! virtio disk whose fdatasync costs about 0.3 ms; medians of 3 runs, ~1.1 KiB messages):
//!
//! | measure | result |
//! |---|---|
//! | group commit, 64 tasks | 20,553 msgs/s (about 30 messages per flush) |
//! | one flush per message, 64 tasks | 1,594 msgs/s (one body-log sync and one flush each) |
//! | disk after 100k messages | 2,134 bytes per message (1,075 bytes signed payload) |
//! | churn: 30 cycles of 10k inserts living 1 h + retention | 118 MiB after 30 cycles (runs: 125 / 115 / 118) |
//!
//! The session before (same machine, same day, code before the body log and grouped
//! transactions): 3,745 / 2,415 msgs/s, 5,897 bytes per message, 143.5 MiB. See BENCHMARKS.md.

use std::time::{Duration, Instant};

use tocsin::message::{
    Alert, Body, Category, Certainty, Content, Info, Message, SecretKey, Severity, Status,
    Timestamp, Urgency,
};
use tocsin::store::{CommitMode, Inserted, Origin, Store, StoreConfig};

const T0: Timestamp = Timestamp(1_800_000_000_000);
const TASKS: usize = 64;

/// A realistic message of about 1 KiB: two languages, two topics, one country.
fn message(k: &SecretKey, n: u64, created: Timestamp, life: Duration) -> Message {
    let text = |lang: &str| Info {
        language: lang.into(),
        headline: format!("Four organisers of the Fictional Dockers' Union detained ({n})"),
        description: "On Monday police detained four organisers of the Fictional Dockers' Union \
            at the port gate after a meeting on safety. They are held without charge. The union \
            asks affiliates to write to the Minister of the Interior citing ILO Conventions 87 \
            and 98, and to send messages of solidarity to the families."
            .into(),
        instruction: "Write to the Minister; copy the ILO office.".into(),
        link: "https://union.example/campaigns/dockers".into(),
    };
    let body = Body {
        author: k.public(),
        created_at: created,
        expires_at: Some(created.plus(life)),
        topics: vec!["union-rights".into(), "arrest".into()],
        countries: vec!["AZ".into()],
        effective_at: None,
        content: Content::Alert(Alert {
            status: Status::Actual,
            category: Category::Arrest,
            urgency: Urgency::Immediate,
            severity: Severity::Severe,
            certainty: Certainty::Observed,
            info: vec![text("en"), text("fr")],
        }),
    };
    Message::sign(body, k).expect("sign")
}

fn messages(count: u64, from: u64, created: Timestamp, life: Duration) -> Vec<Message> {
    let keys: Vec<SecretKey> = (1..=16u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
    (from..from + count)
        .map(|n| message(&keys[(n % 16) as usize], n, created, life))
        .collect()
}

fn cfg(dir: &std::path::Path) -> StoreConfig {
    StoreConfig {
        path: dir.to_path_buf(),
        ..StoreConfig::default()
    }
}

fn base_dir() -> tempfile::TempDir {
    match std::env::var("TOCSIN_BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d).expect("bench dir"),
        Err(_) => tempfile::tempdir().expect("temp dir"),
    }
}

/// Messages per second with `TASKS` concurrent inserting tasks.
async fn ingest_rate(mode: CommitMode, msgs: Vec<Message>) -> (f64, u64) {
    let dir = base_dir();
    let store = Store::open_with(&cfg(dir.path()), mode).expect("open");
    let n = msgs.len();
    let mut chunks: Vec<Vec<Message>> = (0..TASKS).map(|_| Vec::new()).collect();
    for (i, m) in msgs.into_iter().enumerate() {
        chunks[i % TASKS].push(m);
    }
    let flushes0 = store.flushes();
    let start = Instant::now();
    let tasks: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let store = store.clone();
            tokio::spawn(async move {
                for m in chunk {
                    let r = store.insert(&m, Origin::Local, T0).await.expect("insert");
                    assert!(matches!(r, Inserted::Accepted { .. }));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let secs = start.elapsed().as_secs_f64();
    let flushes = store.flushes() - flushes0;
    store.close().await.expect("close");
    (n as f64 / secs, flushes)
}

/// Disk bytes per message after ingesting `msgs`, and the milliseconds a reopen of that store
/// takes (sled's recovery, the checks against the marker and the body log, and building the
/// filter of held ids).
async fn bytes_per_message(msgs: Vec<Message>) -> (f64, f64, f64) {
    let dir = base_dir();
    let store = Store::open(&cfg(dir.path())).expect("open");
    let n = msgs.len();
    let payload: usize = msgs.iter().map(|m| m.signed().body().len() + 64).sum();
    for batch in msgs.chunks(1000) {
        store
            .insert_many(
                batch.iter().map(|m| (m.clone(), Origin::Local)).collect(),
                T0,
            )
            .await
            .expect("insert");
    }
    let disk = store.counts().expect("counts").disk_bytes;
    store.close().await.expect("close");
    let start = Instant::now();
    let store = Store::open(&cfg(dir.path())).expect("reopen");
    let open_ms = start.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(store.counts().expect("counts").messages, n as u64);
    store.close().await.expect("close");
    (disk as f64 / n as f64, payload as f64 / n as f64, open_ms)
}

/// Disk bytes under churn: each cycle inserts `per_cycle` messages living one simulated hour
/// and then runs retention; tombstones are kept one hour past expiry. Returns the disk bytes
/// after each cycle and the live message count at the end.
async fn churn(cycles: u64, per_cycle: u64) -> (Vec<u64>, u64) {
    let dir = base_dir();
    let store = Store::open(&StoreConfig {
        tombstone_keep: Duration::from_secs(3600),
        ..cfg(dir.path())
    })
    .expect("open");
    let hour = Duration::from_secs(3600);
    let mut sizes = Vec::new();
    for c in 0..cycles {
        let now = T0.plus(hour * c as u32);
        let msgs = messages(per_cycle, c * per_cycle, now, hour);
        for batch in msgs.chunks(1000) {
            store
                .insert_many(
                    batch.iter().map(|m| (m.clone(), Origin::Local)).collect(),
                    now,
                )
                .await
                .expect("insert");
        }
        store.expire(now).await.expect("expire");
        sizes.push(store.counts().expect("counts").disk_bytes);
    }
    let live = store.counts().expect("counts").messages;
    store.close().await.expect("close");
    (sizes, live)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("TOCSIN_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let life = Duration::from_secs(7 * 24 * 3600);
    let mut group = Vec::new();
    let mut single = Vec::new();
    let mut per_msg = Vec::new();
    let mut churn_end = Vec::new();
    let mut reopen = Vec::new();
    for run in 0..runs {
        let (rate, flushes) = rt.block_on(ingest_rate(
            CommitMode::Group,
            messages(20_000, 0, T0, life),
        ));
        println!(
            "run {run}: group commit, {TASKS} tasks: {rate:.0} msgs/s ({flushes} flushes for 20000 messages)"
        );
        group.push(rate);
        let (rate, flushes) = rt.block_on(ingest_rate(
            CommitMode::PerMessage,
            messages(2_000, 0, T0, life),
        ));
        println!(
            "run {run}: flush per message, {TASKS} tasks: {rate:.0} msgs/s ({flushes} flushes for 2000 messages)"
        );
        single.push(rate);
        let (bpm, payload, open_ms) =
            rt.block_on(bytes_per_message(messages(100_000, 0, T0, life)));
        println!(
            "run {run}: 100k messages: {bpm:.0} disk bytes per message (signed payload {payload:.0} bytes); reopened in {open_ms:.0} ms"
        );
        per_msg.push(bpm);
        reopen.push(open_ms);
        let (sizes, live) = rt.block_on(churn(30, 10_000));
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        println!(
            "run {run}: churn 30 cycles x 10k inserts, 1 h life: disk MiB after cycles 1/5/10/20/30: {:.1}/{:.1}/{:.1}/{:.1}/{:.1}; live messages at the end: {live}",
            mib(sizes[0]),
            mib(sizes[4]),
            mib(sizes[9]),
            mib(sizes[19]),
            mib(sizes[29])
        );
        churn_end.push(mib(sizes[29]));
    }
    println!("medians of {runs} runs:");
    println!("  group commit:       {:.0} msgs/s", median(group));
    println!("  flush per message:  {:.0} msgs/s", median(single));
    println!("  disk bytes/message after 100k: {:.0}", median(per_msg));
    println!("  reopen of the 100k store: {:.0} ms", median(reopen));
    println!(
        "  disk MiB after 30 churn cycles (300k inserted, ~10-20k live): {:.1}",
        median(churn_end)
    );
}
