//! Reconciliation benchmark: two real nodes on loopback whose stores hold the same million
//! messages but for 1, 100 or 10,000 that only one of them has, brought level (a) by set
//! reconciliation (the lacking node initiates against the other, as a follower does) and
//! (b) by re-following the other's whole log from seq 0 (the lacking node's follower,
//! dropping what it holds as duplicates). Per case and way: negentropy round trips and bytes,
//! the bytes on the wire each way, wall seconds and the process's CPU seconds.
//!
//! Run: `cargo bench --bench reconcile` (release; prints a table and exits).
//! Knobs: TOCSIN_BENCH_RECONCILE_MSGS (the shared messages, default 1000000),
//! TOCSIN_BENCH_RECONCILE_DIFFS (the cases, default `1,100,10000`), TOCSIN_BENCH_RUNS
//! (default 3; medians reported), TOCSIN_BENCH_VERIFY_SECS (the ceiling's measuring time,
//! default 2), TOCSIN_BENCH_DIR (where the nodes' copies go; default the system temp
//! directory), TOCSIN_BENCH_REFOLLOW=0 (reconciliation only), TOCSIN_BENCH_CACHE_MB (both
//! nodes' `store.cache_mb`; default the default, 64), TOCSIN_BENCH_PERF_CTL (a `perf record
//! --control` fifo: perf is enabled during the reconciliation only). The shared store is built once and kept under the target directory
//! (`target/tmp/reconcile-base-*`, keyed by its parameters), so later runs only copy it.
//!
//! How the bytes are counted: each node's client reaches the other through a counting TCP
//! relay in the same process, so "wire" bytes are everything on the connection (HTTP/2
//! framing, `NodeInfo`, the fetched messages); "negentropy" bytes are the protocol's own
//! messages as the initiator counts them. CPU is the whole process's (both nodes, the relay),
//! from /proc/self/stat.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{env_or, message_at, unlimited, verify_rate};
use tempfile::TempDir;
use tocsin::config::{Config, PeerConfig};
use tocsin::federation::{Target, reconcile};
use tocsin::message::*;
use tocsin::rpc::Client;
use tocsin::server::Server;
use tocsin::store::{Origin, Store, StoreConfig, View};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the base store's messages span: created over the 30 days before it was built.
const SPAN: Duration = Duration::from_secs(30 * 24 * 3600);

/// How long each message lives (an alert's longest): a cached base is usable for months.
const LIFE: Duration = Duration::from_secs(180 * 24 * 3600);

/// A cached base is built again once it is this old, so none of it comes near its expiry.
const CACHE_MAX_AGE: Duration = Duration::from_secs(90 * 24 * 3600);

/// Authors taking turns in the base store.
const AUTHORS: u8 = 8;

/// Messages signed and inserted at once while the base is built.
const BUILD_GROUP: u64 = 20_000;

/// The number the differing messages start at: above any base message's.
const EXTRA_FROM: u64 = 1 << 40;

/// The authors, by seed: fictional unions' keys.
fn authors() -> Vec<SecretKey> {
    (1..=AUTHORS)
        .map(|i| SecretKey::from_seed(&[0x40 + i; 32]))
        .collect()
}

/// Message `i` of `count`, made at its place in the span before `built_at`. The differing
/// messages are spread through the same span (numbered from [`EXTRA_FROM`], placed between
/// the base's), so they fall in every part of the set, not only at its newest end.
fn nth(keys: &[SecretKey], i: u64, count: u64, built_at: Timestamp) -> Message {
    let place = if i >= EXTRA_FROM {
        // Spread by a fixed stride, halfway between two base messages.
        let k = i - EXTRA_FROM;
        (k.wrapping_mul(7_919) % count.max(1)) as f64 + 0.5
    } else {
        i as f64
    };
    let step = SPAN.as_millis() as f64 / count.max(1) as f64;
    let created = built_at
        .minus(SPAN)
        .plus(Duration::from_millis((place * step) as u64));
    message_at(
        &keys[(i % keys.len() as u64) as usize],
        i,
        created,
        created.plus(LIFE),
    )
}

/// Signs messages `from..to` on two threads, in order.
fn sign_range(
    keys: &[SecretKey],
    from: u64,
    to: u64,
    count: u64,
    built_at: Timestamp,
) -> Vec<Message> {
    let mid = from + (to - from) / 2;
    std::thread::scope(|s| {
        let first = s.spawn(|| {
            (from..mid)
                .map(|i| nth(keys, i, count, built_at))
                .collect::<Vec<_>>()
        });
        let second: Vec<Message> = (mid..to).map(|i| nth(keys, i, count, built_at)).collect();
        let mut all = first.join().expect("a signing thread panicked");
        all.extend(second);
        all
    })
}

/// The base store of `count` messages: built once (signed on both cores, inserted in groups
/// of [`BUILD_GROUP`]) under the target directory, then reused. Returns its directory (a data
/// directory holding `store/`) and the time its messages were dated from.
async fn base(count: u64) -> (PathBuf, Timestamp) {
    let root = option_env!("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = root.join(format!("reconcile-base-v1-{count}-a{AUTHORS}"));
    let stamp = dir.join("built-at");
    if let Some(built_at) = std::fs::read_to_string(&stamp)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .map(Timestamp)
        && Timestamp::now().since(built_at) < CACHE_MAX_AGE
    {
        println!("base store: {} (cached)", dir.display());
        return (dir, built_at);
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("base directory");
    let built_at = Timestamp::now();
    let keys = authors();
    let started = Instant::now();
    let store = Store::open(&StoreConfig {
        path: dir.join("store"),
        ..StoreConfig::default()
    })
    .expect("open the base store");
    let mut from = 0;
    while from < count {
        let to = (from + BUILD_GROUP).min(count);
        let msgs = sign_range(&keys, from, to, count, built_at);
        store
            .insert_many(
                msgs.into_iter().map(|m| (m, Origin::Local)).collect(),
                built_at,
            )
            .await
            .expect("insert into the base store");
        from = to;
    }
    assert_eq!(store.head(), count, "every base message stored once");
    store.close().await.expect("close the base store");
    std::fs::write(&stamp, built_at.0.to_string()).expect("stamp the base store");
    println!(
        "base store: {} built in {:.0} s",
        dir.display(),
        started.elapsed().as_secs_f64()
    );
    (dir, built_at)
}

/// Copies a directory tree (plain files and directories only, as a store is).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("copy: directory");
    for entry in std::fs::read_dir(from).expect("copy: read directory") {
        let entry = entry.expect("copy: entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("copy: type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy: file");
        }
    }
}

/// A node's data directory: a fresh copy of the base's store.
fn data_dir(work: &Path, name: &str, base: &Path) -> PathBuf {
    let dir = work.join(name);
    copy_tree(&base.join("store"), &dir.join("store"));
    // The node refuses a data directory others can read (it holds the node key).
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("copy: private");
    dir
}

/// Adds the differing messages to a copy, through the store API.
async fn add_extras(dir: &Path, extras: &[Message], now: Timestamp) {
    let store = Store::open(&StoreConfig {
        path: dir.join("store"),
        ..StoreConfig::default()
    })
    .expect("open a copy");
    store
        .insert_many(
            extras.iter().map(|m| (m.clone(), Origin::Local)).collect(),
            now,
        )
        .await
        .expect("insert the extras");
    store.close().await.expect("close a copy");
}

/// Bytes through a [`relay`], each way.
#[derive(Debug, Default)]
struct Wire {
    /// From the node that connects (the initiator, the follower) to the other.
    up: AtomicU64,
    /// Back.
    down: AtomicU64,
}

impl Wire {
    fn read(&self) -> (u64, u64) {
        (
            self.up.load(Ordering::Relaxed),
            self.down.load(Ordering::Relaxed),
        )
    }
}

/// A counting TCP relay on loopback to `upstream`; it accepts once `open` says true.
async fn relay(upstream: SocketAddr, open: watch::Receiver<bool>) -> (SocketAddr, Arc<Wire>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay bind");
    let addr = listener.local_addr().expect("relay address");
    let wire = Arc::new(Wire::default());
    let counts = wire.clone();
    tokio::spawn(async move {
        let mut open = open;
        if open.wait_for(|o| *o).await.is_err() {
            return;
        }
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = TcpStream::connect(upstream).await else {
                continue;
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let (in_read, in_write) = inbound.into_split();
            let (out_read, out_write) = outbound.into_split();
            tokio::spawn(pump(in_read, out_write, counts.clone(), true));
            tokio::spawn(pump(out_read, in_write, counts.clone(), false));
        }
    });
    (addr, wire)
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    wire: Arc<Wire>,
    up: bool,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
        let counter = if up { &wire.up } else { &wire.down };
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
    let _ = to.shutdown().await;
}

/// The process's CPU seconds (user and system, every thread, ended ones too).
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, in ticks of 10 ms.
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (tick(11) + tick(12)) as f64 / 100.0
}

fn node_config(dir: &Path) -> Config {
    let mut config = Config::default();
    config.node.data_dir = dir.to_path_buf();
    config.node.listen = "127.0.0.1:0".parse().expect("address");
    unlimited(&mut config);
    config.http.enabled = false;
    if let Ok(mb) = std::env::var("TOCSIN_BENCH_CACHE_MB") {
        config.store.cache_mb = mb.parse().expect("TOCSIN_BENCH_CACHE_MB: MiB");
    }
    config
}

/// One way of bringing the lacking node level, measured.
#[derive(Debug, Clone, Default)]
struct Measured {
    round_trips: u64,
    negentropy_up: u64,
    negentropy_down: u64,
    wire_up: u64,
    wire_down: u64,
    secs: f64,
    /// Of `secs`: until the sets were compared (the last negentropy round trip).
    compare_secs: f64,
    cpu: f64,
    /// Seconds the two nodes took to make their item sets before the run (reconciliation
    /// only: a scan of every record).
    sets_secs: f64,
    /// Seconds the lacking node then took to bring its set up to date after the run's writes
    /// (from the journal of changed records, not a scan).
    update_secs: f64,
}

/// (a): `lacking` reconciles with `holding` through a counting relay, both item sets made
/// beforehand (timed apart).
async fn by_reconciliation(lacking: &Server, holding: &Server, diffs: u64) -> Measured {
    let started = Instant::now();
    for server in [lacking, holding] {
        let view = View::Peer {
            exclude_origin: None,
        };
        let set = server.node().reads().items(&view).await.expect("item set");
        assert!(set.len() as u64 >= lacking.node().store().head());
    }
    let sets_secs = started.elapsed().as_secs_f64();
    let (_open_tx, open) = watch::channel(true);
    let (addr, wire) = relay(holding.grpc_addr(), open).await;
    let mut client = Client::connect(&format!("http://{addr}"))
        .await
        .expect("connect");
    let target = Target {
        name: "holding".into(),
        node_key: holding.node().node_key(),
        authenticated: true,
    };
    let head_before = lacking.node().store().head();
    let (cpu0, wire0) = (cpu_secs(), wire.read());
    let started = Instant::now();
    // Profiling the reconciliation alone: `perf record --control=fifo:FIFO -D -1`.
    let perf = |command: &str| {
        if let Ok(fifo) = std::env::var("TOCSIN_BENCH_PERF_CTL") {
            std::fs::write(fifo, command).expect("TOCSIN_BENCH_PERF_CTL: perf's control fifo");
        }
    };
    perf("enable\n");
    let status = reconcile(lacking.node(), &mut client, &target).await;
    perf("disable\n");
    let secs = started.elapsed().as_secs_f64();
    let (cpu1, wire1) = (cpu_secs(), wire.read());
    assert_eq!(status.error, "", "{status:?}");
    assert_eq!(
        (status.we_lacked, status.fetched),
        (diffs, diffs),
        "{status:?}"
    );
    assert_eq!(lacking.node().store().head(), head_before + diffs);
    let started = Instant::now();
    let view = View::Peer {
        exclude_origin: None,
    };
    let set = lacking.node().reads().items(&view).await.expect("item set");
    let update_secs = started.elapsed().as_secs_f64();
    assert!(set.len() as u64 >= lacking.node().store().head());
    Measured {
        round_trips: status.round_trips,
        negentropy_up: status.bytes_sent,
        negentropy_down: status.bytes_received,
        wire_up: wire1.0 - wire0.0,
        wire_down: wire1.1 - wire0.1,
        secs,
        compare_secs: status.compare_millis as f64 / 1000.0,
        cpu: cpu1 - cpu0,
        sets_secs,
        update_secs,
    }
}

/// (b): a fresh copy of the lacking side starts with `holding` as its peer (through a
/// counting relay that opens once the node has started) and follows its log from seq 0 until
/// its cursor reaches `holding`'s head.
async fn by_refollowing(dir: &Path, holding: &Server, diffs: u64) -> Measured {
    let (open_tx, open) = watch::channel(false);
    let (addr, wire) = relay(holding.grpc_addr(), open).await;
    let mut config = node_config(dir);
    config.federation.reconcile_every = Duration::ZERO;
    config.federation.reconnect_min = Duration::from_millis(20);
    config.peers.push(PeerConfig {
        name: "holding".into(),
        address: format!("http://{addr}"),
        ca: None,
    });
    let lacking = Server::start(config).await.expect("start the follower");
    let head_before = lacking.node().store().head();
    let target = holding.node().store().head();
    let (cpu0, wire0) = (cpu_secs(), wire.read());
    let started = Instant::now();
    open_tx.send_replace(true);
    let deadline = started + Duration::from_secs(3600);
    loop {
        let cursor = lacking.node().peers().first().map_or(0, |p| p.cursor);
        if cursor >= target {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "re-following stalled at {cursor}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let (cpu1, wire1) = (cpu_secs(), wire.read());
    assert_eq!(lacking.node().store().head(), head_before + diffs);
    lacking
        .shutdown(Duration::from_secs(10))
        .await
        .expect("stop the follower");
    Measured {
        round_trips: 0,
        negentropy_up: 0,
        negentropy_down: 0,
        wire_up: wire1.0 - wire0.0,
        wire_down: wire1.1 - wire0.1,
        secs,
        compare_secs: 0.0,
        cpu: cpu1 - cpu0,
        sets_secs: 0.0,
        update_secs: 0.0,
    }
}

/// One case: both ways, each from fresh copies.
async fn case(
    work: &Path,
    base_dir: &Path,
    extras: &[Message],
    now: Timestamp,
) -> (Measured, Option<Measured>) {
    let diffs = extras.len() as u64;
    let holding_dir = data_dir(work, "holding", base_dir);
    add_extras(&holding_dir, extras, now).await;
    let holding = Server::start(node_config(&holding_dir))
        .await
        .expect("start the holding node");

    let lacking_dir = data_dir(work, "lacking", base_dir);
    let lacking = Server::start(node_config(&lacking_dir))
        .await
        .expect("start the lacking node");
    let reconciled = by_reconciliation(&lacking, &holding, diffs).await;
    lacking
        .shutdown(Duration::from_secs(10))
        .await
        .expect("stop the lacking node");
    std::fs::remove_dir_all(&lacking_dir).expect("remove a copy");

    let refollowed = if std::env::var("TOCSIN_BENCH_REFOLLOW").is_ok_and(|v| v == "0") {
        None
    } else {
        let follower_dir = data_dir(work, "follower", base_dir);
        let refollowed = by_refollowing(&follower_dir, &holding, diffs).await;
        std::fs::remove_dir_all(&follower_dir).expect("remove a copy");
        Some(refollowed)
    };
    holding
        .shutdown(Duration::from_secs(10))
        .await
        .expect("stop the holding node");
    std::fs::remove_dir_all(&holding_dir).expect("remove a copy");
    (reconciled, refollowed)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The median run of a case's way, by wall seconds, and the median of each figure.
fn medians(runs: &[Measured]) -> Measured {
    let of = |f: fn(&Measured) -> f64| median(runs.iter().map(f).collect());
    Measured {
        round_trips: of(|m| m.round_trips as f64) as u64,
        negentropy_up: of(|m| m.negentropy_up as f64) as u64,
        negentropy_down: of(|m| m.negentropy_down as f64) as u64,
        wire_up: of(|m| m.wire_up as f64) as u64,
        wire_down: of(|m| m.wire_down as f64) as u64,
        secs: of(|m| m.secs),
        compare_secs: of(|m| m.compare_secs),
        cpu: of(|m| m.cpu),
        sets_secs: of(|m| m.sets_secs),
        update_secs: of(|m| m.update_secs),
    }
}

fn diffs_knob() -> Vec<u64> {
    std::env::var("TOCSIN_BENCH_RECONCILE_DIFFS")
        .ok()
        .map(|s| s.split(',').filter_map(|d| d.trim().parse().ok()).collect())
        .filter(|v: &Vec<u64>| !v.is_empty())
        .unwrap_or_else(|| vec![1, 100, 10_000])
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
        .expect("runtime");
    let count = env_or("TOCSIN_BENCH_RECONCILE_MSGS", 1_000_000);
    let runs = env_or("TOCSIN_BENCH_RUNS", 3).max(1);
    let verify_secs = env_or("TOCSIN_BENCH_VERIFY_SECS", 2);
    let cases = diffs_knob();
    let work_root = std::env::var("TOCSIN_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());

    let (base_dir, built_at) = rt.block_on(base(count));
    let keys = authors();
    let most = cases.iter().copied().max().unwrap_or(0);
    let now = Timestamp::now();
    let extras = sign_range(&keys, EXTRA_FROM, EXTRA_FROM + most, count, built_at);
    let pool: Vec<SignedMessage> = extras
        .iter()
        .take(2048)
        .map(|m| m.signed().clone())
        .chain((0..256).map(|i| nth(&keys, i, count, built_at).signed().clone()))
        .collect();
    let ceiling = verify_rate(&pool, 2, Duration::from_secs(verify_secs));
    println!("verify ceiling, 2 threads: {ceiling:.0} msg/s");

    let mut results: Vec<(Vec<Measured>, Vec<Measured>)> =
        cases.iter().map(|_| (Vec::new(), Vec::new())).collect();
    for run in 1..=runs {
        for (i, &diffs) in cases.iter().enumerate() {
            let work: TempDir = tempfile::tempdir_in(&work_root).expect("work directory");
            let (a, b) = rt.block_on(case(work.path(), &base_dir, &extras[..diffs as usize], now));
            println!(
                "run {run}, {diffs} of {count}: reconciliation {} round trips, negentropy {} B up / {} B down, wire {} B up / {} B down, {:.3} s ({:.3} s comparing), {:.2} CPU s (item sets {:.2} s, brought up to date after {:.3} s); re-following {}",
                a.round_trips,
                a.negentropy_up,
                a.negentropy_down,
                a.wire_up,
                a.wire_down,
                a.secs,
                a.compare_secs,
                a.cpu,
                a.sets_secs,
                a.update_secs,
                b.as_ref().map_or("skipped".into(), |b| format!(
                    "wire {} B up / {} B down, {:.2} s, {:.2} CPU s",
                    b.wire_up, b.wire_down, b.secs, b.cpu
                )),
            );
            results[i].0.push(a);
            results[i].1.extend(b);
        }
    }

    println!();
    println!(
        "{count} messages on each side, medians of {runs} run(s); ceiling {ceiling:.0} msg/s (2 threads)"
    );
    println!(
        "| differences | way | round trips | negentropy bytes up / down | wire bytes up / down | seconds | CPU seconds | differences per second (% of ceiling) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (&diffs, (a, b)) in cases.iter().zip(&results) {
        let a = medians(a);
        let rate = |secs: f64| diffs as f64 / secs;
        println!(
            "| {diffs} | reconciliation | {} | {} / {} | {} / {} | {:.3} ({:.3} comparing; + {:.2} item sets, {:.3} to bring up to date) | {:.2} | {:.0} ({:.0}%) |",
            a.round_trips,
            a.negentropy_up,
            a.negentropy_down,
            a.wire_up,
            a.wire_down,
            a.secs,
            a.compare_secs,
            a.sets_secs,
            a.update_secs,
            a.cpu,
            rate(a.secs),
            rate(a.secs) / ceiling * 100.0
        );
        if b.is_empty() {
            continue;
        }
        let b = medians(b);
        println!(
            "| {diffs} | re-following | — | — | {} / {} | {:.2} | {:.2} | {:.0} ({:.0}%) |",
            b.wire_up,
            b.wire_down,
            b.secs,
            b.cpu,
            rate(b.secs),
            rate(b.secs) / ceiling * 100.0
        );
    }
}
