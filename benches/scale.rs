//! Scale benchmark (issue 24): a node holding 100,000, 1,000,000 (and, opt-in, 10,000,000)
//! messages. Restart to serving, page and feed render times, resident memory, ingest and ack
//! latency as ratios to an empty store, retention of every message at once while publishing,
//! a new follower's catch-up, and the small-server profile (one core, 512 MB).
//!
//! Run: `cargo bench --bench scale` (release). Stores are built once through the normal ingest
//! path (an in-process node's publish stream, marked as an import as `tocsin import` does, its
//! clock moved along with the messages' `created_at`) from `common::corpus`, and kept under
//! `TOCSIN_SCALE_DIR/<N>/` with a `complete` marker naming the generator; they are rebuilt when
//! missing, made by another generator, or old enough that their first messages near expiry.
//! Each size's figures run on a copy (`<N>.scratch`, removed at the end). The node is a
//! separate process (`tocsin node run --config`, plaintext on 127.0.0.1, the publishing limits
//! lifted) for everything about its process; retention runs in-process, where a manual clock
//! can expire every message at once. The load runs in this process, on the same two cores.
//! Every step has a time limit; one that runs out is reported as such and the run goes on.
//! The table is printed at the end and written to `target/scale-report.txt`.
//!
//! Knobs (defaults in brackets): TOCSIN_SCALE_SIZES [100000,1000000] (10000000 is opt-in),
//! TOCSIN_SCALE_DIR [target/scale-stores], TOCSIN_SCALE_ONLY [every step: build, restart,
//! pages, subscribe, ingest, small, retention; `build` alone builds the stores],
//! TOCSIN_SCALE_REQUESTS [200 per page kind], TOCSIN_SCALE_STREAM_MSGS [20000, over 4 streams
//! of a 512-message window], TOCSIN_SCALE_UNARY_MSGS [5000], TOCSIN_SCALE_PUBLISHERS [32
//! closed-loop unary publishers], TOCSIN_SCALE_RETENTION_RATE [1000/s],
//! TOCSIN_SCALE_STEP_SECS [300, the limit of each step; the build has none],
//! TOCSIN_SCALE_CACHE_MB and TOCSIN_SCALE_SMALL_CACHE_MB [the profile's `store.cache_mb`],
//! TOCSIN_SCALE_NODE_BIN [this build's `tocsin`: another build's node, to compare two].

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::corpus::{self, Corpus, GENERATOR, LIFETIME};
use common::{env_or, median, percentile, status_kib, unlimited};
use futures::StreamExt;
use tocsin::config::Config;
use tocsin::message::*;
use tocsin::node::Clock;
use tocsin::rpc::{Client, ClientEvent, PublishOutcome};
use tocsin::server::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};

/// The example configuration of the small-server profile (README, "Small server").
const SMALL_SERVER_TOML: &str = include_str!("../config/small-server.toml");

/// The pages timed, in the order they are asked for.
const PAGES: [&str; 6] = [
    "/",
    "/feed.atom",
    "/cap.atom",
    "/?country=AZ",
    "/?lang=fr",
    "/?language=fr",
];

/// Messages generated and signed at a time while building; the node's clock is set to the
/// last one's `created_at` before they are sent.
const BUILD_CHUNK: u64 = 10_000;

/// The run's settings, from the environment.
#[derive(Debug, Clone)]
struct Knobs {
    sizes: Vec<u64>,
    dir: PathBuf,
    only: Option<Vec<String>>,
    requests: usize,
    stream_msgs: u64,
    unary_msgs: u64,
    publishers: usize,
    retention_rate: u64,
    step: Duration,
}

impl Knobs {
    fn from_env() -> Knobs {
        let sizes = std::env::var("TOCSIN_SCALE_SIZES")
            .unwrap_or_else(|_| "100000,1000000".into())
            .split(',')
            .filter_map(|s| s.trim().replace('_', "").parse().ok())
            .collect();
        let dir = std::env::var("TOCSIN_SCALE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| target_dir().join("scale-stores"));
        let only = std::env::var("TOCSIN_SCALE_ONLY")
            .ok()
            .map(|s| s.split(',').map(|p| p.trim().to_string()).collect());
        Knobs {
            sizes,
            dir,
            only,
            requests: env_or("TOCSIN_SCALE_REQUESTS", 200) as usize,
            stream_msgs: env_or("TOCSIN_SCALE_STREAM_MSGS", 20_000),
            unary_msgs: env_or("TOCSIN_SCALE_UNARY_MSGS", 5_000),
            publishers: env_or("TOCSIN_SCALE_PUBLISHERS", 32) as usize,
            retention_rate: env_or("TOCSIN_SCALE_RETENTION_RATE", 1000),
            step: Duration::from_secs(env_or("TOCSIN_SCALE_STEP_SECS", 300)),
        }
    }

    /// Whether step `name` runs.
    fn runs(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.iter().any(|p| p == name))
    }
}

/// The crate's target directory (where `cargo bench` put this binary's tree).
fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A size as the table names it.
fn label(size: u64) -> String {
    match size {
        0 => "empty".into(),
        n if n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// The figures of a run: (store, profile) → (figure, value), in the order measured.
#[derive(Debug, Default)]
struct Report {
    rows: Vec<(String, String, String)>,
}

impl Report {
    fn add(&mut self, store: &str, figure: &str, value: String) {
        println!("scale [{store}] {figure}: {value}");
        self.rows.push((store.into(), figure.into(), value));
    }

    fn value(&self, store: &str, figure: &str) -> Option<&str> {
        self.rows
            .iter()
            .find(|(s, f, _)| s == store && f == figure)
            .map(|(_, _, v)| v.as_str())
    }

    /// One table: a figure per line, a column per store.
    fn table(&self) -> String {
        let mut stores: Vec<&str> = vec![];
        let mut figures: Vec<&str> = vec![];
        for (s, f, _) in &self.rows {
            if !stores.contains(&s.as_str()) {
                stores.push(s);
            }
            if !figures.contains(&f.as_str()) {
                figures.push(f);
            }
        }
        // The empty store's columns first: the others' ratios are to them.
        stores.sort_by_key(|s| !s.starts_with("empty"));
        let mut out = format!("| figure | {} |\n|---|", stores.join(" | "));
        out.push_str(&"---|".repeat(stores.len()));
        out.push('\n');
        for f in figures {
            let cells: Vec<&str> = stores
                .iter()
                .map(|s| self.value(s, f).unwrap_or("–"))
                .collect();
            out.push_str(&format!("| {f} | {} |\n", cells.join(" | ")));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Building the stores.

/// What a built store's marker says.
#[derive(Debug, Clone)]
struct Marker {
    generator: String,
    messages: u64,
    built_at_ms: u64,
    build_secs: f64,
    accepted: u64,
    refused: u64,
}

impl Marker {
    fn read(path: &Path) -> Option<Marker> {
        let text = std::fs::read_to_string(path).ok()?;
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .map(str::to_string)
        };
        Some(Marker {
            generator: field("generator")?,
            messages: field("messages")?.parse().ok()?,
            built_at_ms: field("built_at_ms")?.parse().ok()?,
            build_secs: field("build_secs")?.parse().ok()?,
            accepted: field("accepted")?.parse().ok()?,
            refused: field("refused")?.parse().ok()?,
        })
    }

    fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(
            path,
            format!(
                "generator {}\nmessages {}\nbuilt_at_ms {}\nbuild_secs {:.1}\naccepted {}\nrefused {}\n",
                self.generator,
                self.messages,
                self.built_at_ms,
                self.build_secs,
                self.accepted,
                self.refused
            ),
        )
    }

    /// Why a store with this marker must be built again, if it must.
    fn stale(&self, size: u64) -> Option<String> {
        if self.generator != GENERATOR || self.messages != size {
            return Some(format!(
                "made by {} for {} messages",
                self.generator, self.messages
            ));
        }
        // The first messages expire `LIFETIME - spread` after the build; a day before that the
        // store no longer holds what it was built to hold. A corpus spread over more than the
        // lifetime (10M) is mostly expired by design and never goes stale this way.
        let corpus = Corpus::ending_at(size, Timestamp(self.built_at_ms));
        if corpus.spread < LIFETIME {
            let keeps = LIFETIME - corpus.spread - Duration::from_secs(24 * 3600);
            if now_ms() > self.built_at_ms + keeps.as_millis() as u64 {
                return Some("its first messages are about to expire".into());
            }
        }
        None
    }
}

/// The store of `size` messages, built if it is missing or stale.
async fn ensure_store(size: u64, knobs: &Knobs, report: &mut Report) -> PathBuf {
    let dir = knobs.dir.join(size.to_string());
    let marker_path = dir.join("complete");
    let why = match Marker::read(&marker_path) {
        Some(m) => match m.stale(size) {
            None => {
                println!(
                    "scale: reusing {} ({} accepted, built in {:.0}s)",
                    dir.display(),
                    m.accepted,
                    m.build_secs
                );
                report.add(
                    &label(size),
                    "store built in",
                    format!("{:.0} s (reused)", m.build_secs),
                );
                return dir;
            }
            Some(why) => why,
        },
        None => "missing or incomplete".into(),
    };
    println!("scale: building {} ({why})", dir.display());
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("removing the stale store");
    }
    std::fs::create_dir_all(&dir).expect("creating the store's directory");
    let marker = build_store(size, &dir.join("data")).await;
    report.add(
        &label(size),
        "store built in",
        format!(
            "{:.0} s ({} accepted, {} refused)",
            marker.build_secs, marker.accepted, marker.refused
        ),
    );
    marker.write(&marker_path).expect("writing the marker");
    dir
}

/// Builds a store of `size` corpus messages in `data_dir` through an in-process node's publish
/// stream (marked as an import), its manual clock following the messages' `created_at`.
async fn build_store(size: u64, data_dir: &Path) -> Marker {
    let started = Instant::now();
    let built_at = Timestamp::now();
    let corpus = Corpus::ending_at(size, built_at);
    let clock = Clock::manual(corpus.start);
    let mut config = Config::default();
    config.node.data_dir = data_dir.to_path_buf();
    config.node.listen = "127.0.0.1:0".parse().expect("an address");
    // The gateway is not needed to build, and the current one holds every message.
    config.http.enabled = false;
    unlimited(&mut config);
    let server = Server::start_with_clock(config, clock.clone())
        .await
        .expect("starting the building node");
    let mut client = Client::connect(&server.url()).await.expect("connecting");
    let (tx, rx) = mpsc::channel::<SignedMessage>(2 * BUILD_CHUNK as usize);
    let generator = std::thread::spawn(move || {
        let mut ids = HashMap::new();
        let mut from = 0;
        while from < size {
            let to = (from + BUILD_CHUNK).min(size);
            let chunk = corpus.chunk(from, to, &mut ids);
            // Not from the future when it arrives; earlier chunks still in flight are at most
            // a chunk's time older, far inside their lifetime.
            clock.set(corpus.created_at(to - 1).plus(Duration::from_secs(1)));
            for m in chunk {
                if tx.blocking_send(m).is_err() {
                    return;
                }
            }
            from = to;
        }
    });
    let replies = client
        .import_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .expect("opening the import stream");
    let mut replies = std::pin::pin!(replies);
    let (mut accepted, mut refused) = (0u64, 0u64);
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut next_note = 100_000;
    while let Some(r) = replies.next().await {
        match r.expect("the import stream failed") {
            PublishOutcome::Accepted { .. } | PublishOutcome::Duplicate { .. } => accepted += 1,
            PublishOutcome::Refused(why) => {
                refused += 1;
                *reasons.entry(format!("{why:?}")).or_default() += 1;
            }
        }
        if accepted + refused >= next_note {
            println!(
                "scale: built {} of {size} in {:.0}s",
                accepted + refused,
                started.elapsed().as_secs_f64()
            );
            next_note += 100_000;
        }
    }
    generator.join().expect("the generator panicked");
    for (why, n) in &reasons {
        println!("scale: refused {n}: {why}");
    }
    assert!(
        refused * 100 <= size,
        "more than 1% of the corpus was refused: the generator is wrong"
    );
    server
        .shutdown(Duration::from_secs(60))
        .await
        .expect("stopping the building node");
    Marker {
        generator: GENERATOR.into(),
        messages: size,
        built_at_ms: built_at.0,
        build_secs: started.elapsed().as_secs_f64(),
        accepted,
        refused,
    }
}

/// A copy of `from` at `to` (sled and the body log are changed in place: no hard links).
fn copy_dir(from: &Path, to: &Path) {
    if to.exists() {
        std::fs::remove_dir_all(to).expect("removing an old scratch copy");
    }
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("running cp");
    assert!(status.success(), "copying {} failed", from.display());
    // On disk before anything is measured: otherwise the kernel writes the copy's gigabytes
    // back while the node runs, and every fsync of the steps that follow waits behind them
    // (seen: ingest at 1M at half the empty store's rate right after a copy, I/O wait 33%).
    let synced = Command::new("sync").status().expect("running sync");
    assert!(synced.success(), "sync failed");
}

/// `du -sb` of a directory, in bytes.
fn du_bytes(dir: &Path) -> u64 {
    Command::new("du")
        .arg("-sb")
        .arg(dir)
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .next()
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0))
}

// ---------------------------------------------------------------------------------------------
// The node as a separate process.

/// How the node process is confined for the small-server profile.
#[derive(Debug, Clone)]
enum Confinement {
    /// As an operator runs it.
    None,
    /// `systemd-run --scope -p MemoryMax=512M taskset -c 0 …`.
    SystemdRun,
    /// A cgroup directory made here with a 512 MiB limit (v2 `memory.max` or v1
    /// `memory.limit_in_bytes`); the process joins it before it execs `taskset -c 0 …`.
    Cgroup(PathBuf),
}

impl Confinement {
    /// The small-server confinement this machine allows, or why there is none.
    fn small_server() -> Result<Confinement, String> {
        let have = |cmd: &str| {
            Command::new(cmd)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !have("taskset") {
            return Err("taskset is not installed".into());
        }
        let scope = Command::new("systemd-run")
            .args(["--scope", "--quiet", "-p", "MemoryMax=512M", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if scope.is_ok_and(|s| s.success()) {
            return Ok(Confinement::SystemdRun);
        }
        let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let name = format!("tocsin-scale-{}", std::process::id());
        let limit = 512u64 * 1024 * 1024;
        let v2 = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let (dir, file) = if v2 {
            let own = cgroups
                .lines()
                .find_map(|l| l.strip_prefix("0::"))
                .ok_or("no cgroup v2 path in /proc/self/cgroup")?;
            let base = PathBuf::from("/sys/fs/cgroup").join(own.trim_start_matches('/'));
            (base.join(name), "memory.max")
        } else {
            let own = cgroups
                .lines()
                .find_map(|l| {
                    let mut parts = l.splitn(3, ':');
                    let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
                    controllers
                        .split(',')
                        .any(|c| c == "memory")
                        .then_some(path)
                })
                .ok_or("no memory cgroup in /proc/self/cgroup")?;
            let base = PathBuf::from("/sys/fs/cgroup/memory").join(own.trim_start_matches('/'));
            (base.join(name), "memory.limit_in_bytes")
        };
        std::fs::create_dir_all(&dir).map_err(|e| {
            format!(
                "systemd-run failed and {} cannot be made: {e}",
                dir.display()
            )
        })?;
        std::fs::write(dir.join(file), limit.to_string())
            .map_err(|e| format!("{} cannot be written: {e}", dir.join(file).display()))?;
        Ok(Confinement::Cgroup(dir))
    }

    fn describe(&self) -> String {
        match self {
            Confinement::None => "none".into(),
            Confinement::SystemdRun => "taskset -c 0, systemd-run --scope -p MemoryMax=512M".into(),
            Confinement::Cgroup(dir) => format!(
                "taskset -c 0, 512 MiB cgroup {} ({})",
                dir.file_name().unwrap_or_default().to_string_lossy(),
                if dir.starts_with("/sys/fs/cgroup/memory") {
                    "v1 memory.limit_in_bytes"
                } else {
                    "v2 memory.max"
                }
            ),
        }
    }

    /// The command that runs `tocsin node run --config <config>` so confined.
    fn command(&self, config: &Path) -> Command {
        // Another build's node (`TOCSIN_SCALE_NODE_BIN`), to compare two in one run.
        let bin = std::env::var("TOCSIN_SCALE_NODE_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_tocsin").to_string());
        let bin = bin.as_str();
        let mut cmd = match self {
            Confinement::None => Command::new(bin),
            Confinement::SystemdRun => {
                let mut c = Command::new("systemd-run");
                c.args([
                    "--scope",
                    "--quiet",
                    "-p",
                    "MemoryMax=512M",
                    "taskset",
                    "-c",
                    "0",
                    bin,
                ]);
                c
            }
            Confinement::Cgroup(dir) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg("echo $$ > \"$0/cgroup.procs\" && exec taskset -c 0 \"$@\"")
                    .arg(dir)
                    .arg(bin);
                c
            }
        };
        cmd.args(["node", "run", "--config"]).arg(config);
        cmd
    }

    /// Removes a cgroup made here (once no process is in it).
    fn remove(&self) {
        if let Confinement::Cgroup(dir) = self {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A free port on 127.0.0.1 (released at once: a race with other programs, harmless here).
fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a port");
    l.local_addr().expect("a bound address")
}

/// The config file of a benchmark node on `data_dir`: the small-server profile's settings or
/// the defaults, with the publishing limits lifted, plaintext, on free loopback ports.
fn write_config(data_dir: &Path, small: bool, grpc: SocketAddr, http: SocketAddr) -> PathBuf {
    let mut table: toml::Table = if small {
        SMALL_SERVER_TOML
            .parse()
            .expect("config/small-server.toml parses")
    } else {
        toml::Table::new()
    };
    let mut lifted = Config::default();
    unlimited(&mut lifted);
    let l = &lifted.limits;
    let section = |table: &mut toml::Table, name: &str| -> toml::Table {
        table
            .remove(name)
            .and_then(|v| v.as_table().cloned())
            .unwrap_or_default()
    };
    // Another page cache for this profile (`TOCSIN_SCALE_CACHE_MB`, `TOCSIN_SCALE_SMALL_CACHE_MB`),
    // to see what it buys.
    let cache_knob = if small {
        "TOCSIN_SCALE_SMALL_CACHE_MB"
    } else {
        "TOCSIN_SCALE_CACHE_MB"
    };
    if let Some(mb) = std::env::var(cache_knob)
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
    {
        let mut store = section(&mut table, "store");
        store.insert("cache_mb".into(), mb.into());
        table.insert("store".into(), store.into());
    }
    let mut node = section(&mut table, "node");
    node.insert("data_dir".into(), data_dir.display().to_string().into());
    node.insert("listen".into(), grpc.to_string().into());
    table.insert("node".into(), node.into());
    let mut http_section = section(&mut table, "http");
    http_section.insert("listen".into(), http.to_string().into());
    table.insert("http".into(), http_section.into());
    let mut tls = section(&mut table, "tls");
    tls.insert("mode".into(), "off".into());
    table.insert("tls".into(), tls.into());
    let mut limits = section(&mut table, "limits");
    for (key, value) in [
        ("connections_per_address", l.connections_per_address as i64),
        ("connections_per_prefix", l.connections_per_prefix as i64),
        (
            "connects_per_address_per_second",
            i64::from(l.connects_per_address_per_second),
        ),
        (
            "connects_per_address_burst",
            i64::from(l.connects_per_address_burst),
        ),
        (
            "streams_per_connection_per_second",
            i64::from(l.streams_per_connection_per_second),
        ),
        (
            "streams_per_connection_burst",
            i64::from(l.streams_per_connection_burst),
        ),
        (
            "publish_per_connection_per_second",
            i64::from(l.publish_per_connection_per_second),
        ),
        (
            "publish_per_connection_burst",
            i64::from(l.publish_per_connection_burst),
        ),
        (
            "publish_per_author_per_second",
            i64::from(l.publish_per_author_per_second),
        ),
        (
            "publish_per_author_burst",
            i64::from(l.publish_per_author_burst),
        ),
        (
            "publish_per_address_per_second",
            i64::from(l.publish_per_address_per_second),
        ),
        (
            "publish_per_address_burst",
            i64::from(l.publish_per_address_burst),
        ),
        (
            "publish_per_prefix_per_second",
            i64::from(l.publish_per_prefix_per_second),
        ),
        (
            "publish_per_prefix_burst",
            i64::from(l.publish_per_prefix_burst),
        ),
        (
            "new_authors_per_minute",
            i64::from(l.new_authors_per_minute),
        ),
        ("new_authors_burst", i64::from(l.new_authors_burst)),
        (
            "subscriptions_per_connection",
            l.subscriptions_per_connection as i64,
        ),
        (
            "subscriptions_per_address",
            l.subscriptions_per_address as i64,
        ),
    ] {
        limits.insert(key.into(), value.into());
    }
    table.insert("limits".into(), limits.into());
    let path = data_dir.with_extension(if small { "small.toml" } else { "toml" });
    std::fs::write(&path, toml::to_string(&table).expect("a TOML table prints"))
        .expect("writing the node's config");
    path
}

/// A node running as a child process.
struct NodeProcess {
    child: Child,
    grpc: SocketAddr,
    http: SocketAddr,
}

impl NodeProcess {
    /// Starts `tocsin node run` on `data_dir` and waits (up to `limit`) for `/healthz` to say
    /// 200; returns it with the time from spawn to that answer.
    async fn start(
        data_dir: &Path,
        confinement: &Confinement,
        limit: Duration,
    ) -> Result<(NodeProcess, Duration), String> {
        let grpc = free_port();
        let http = free_port();
        let small = !matches!(confinement, Confinement::None);
        let config = write_config(data_dir, small, grpc, http);
        // Appended to: a node started again on the same copy keeps the earlier run's log.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.with_extension("log"))
            .map_err(|e| format!("node log: {e}"))?;
        let started = Instant::now();
        let child = confinement
            .command(&config)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawning the node: {e}"))?;
        let mut node = NodeProcess { child, grpc, http };
        loop {
            if let Ok(Some(status)) = node.child.try_wait() {
                return Err(format!(
                    "the node exited ({status}); see {}",
                    data_dir.with_extension("log").display()
                ));
            }
            if let Ok((200, _, _)) = http_get(http, "/healthz", Duration::from_secs(5)).await {
                return Ok((node, started.elapsed()));
            }
            if started.elapsed() > limit {
                return Err(format!("no /healthz 200 within {}s", limit.as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// How the node ended, if it did (a confined node over its memory limit is killed by the
    /// kernel: signal 9).
    fn gone(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!(
                "the node ended: {status}{}",
                if status.to_string().contains("signal: 9") {
                    " (killed: over its memory limit? see the kernel log)"
                } else {
                    ""
                }
            )),
            _ => None,
        }
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// VmRSS and VmHWM, in MiB.
    fn memory(&self) -> (f64, f64) {
        let pid = self.pid();
        (
            status_kib(&pid, "VmRSS:") as f64 / 1024.0,
            status_kib(&pid, "VmHWM:") as f64 / 1024.0,
        )
    }

    fn url(&self) -> String {
        format!("http://{}", self.grpc)
    }

    /// SIGTERM, then waits for a clean stop (killed after 60 s).
    async fn stop(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.pid()]).status();
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        // A step that timed out leaves its node behind: never keep it running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One `GET path` on a fresh connection: status, body length and the time to the last byte.
async fn http_get(
    addr: SocketAddr,
    path: &str,
    limit: Duration,
) -> Result<(u16, usize, Duration), String> {
    let started = Instant::now();
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: tocsin\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.map_err(|e| e.to_string())?;
        let status = std::str::from_utf8(raw.get(9..12).unwrap_or_default())
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        Ok((status, raw.len(), started.elapsed()))
    };
    tokio::time::timeout(limit, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {}s", limit.as_secs())))
}

// ---------------------------------------------------------------------------------------------
// The steps.

/// Fresh messages for one step: distinct from the corpus and from every other step's.
static FRESH: AtomicU64 = AtomicU64::new(1 << 40);

fn fresh(count: u64, created_at: Timestamp, lifetime: Duration) -> Vec<SignedMessage> {
    let from = FRESH.fetch_add(count, Ordering::Relaxed);
    let half = count / 2;
    std::thread::scope(|s| {
        let a = s.spawn(|| {
            (from..from + half)
                .map(|k| corpus::fresh_alert(k, created_at, lifetime))
                .collect::<Vec<_>>()
        });
        let b: Vec<_> = (from + half..from + count)
            .map(|k| corpus::fresh_alert(k, created_at, lifetime))
            .collect();
        let mut all = a.join().expect("a signing thread panicked");
        all.extend(b);
        all
    })
}

/// Restart to serving: three stops and starts; the median and each.
async fn restarts(data: &Path, confinement: &Confinement, knobs: &Knobs) -> Result<String, String> {
    let mut times = vec![];
    for _ in 0..3 {
        let (node, took) = NodeProcess::start(data, confinement, knobs.step).await?;
        times.push(ms(took));
        node.stop().await;
    }
    Ok(format!(
        "{:.0} ms (runs {})",
        median(times.clone()),
        times
            .iter()
            .map(|t| format!("{t:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The pages: the first request after the start (cold), then up to `knobs.requests` each,
/// each after a new message has been accepted, so the head moves and no cached rendering of
/// the previous state can answer it (the render cache and ETags key on the readers' head).
async fn pages(
    node: &NodeProcess,
    store: &str,
    knobs: &Knobs,
    requests: usize,
    report: &mut Report,
) -> Result<(), String> {
    let mut client = Client::connect(&node.url())
        .await
        .map_err(|e| format!("connecting: {e}"))?;
    let moving = fresh((requests * PAGES.len()) as u64, Timestamp::now(), LIFETIME);
    let mut moving = moving.into_iter();
    let per_request = knobs.step.min(Duration::from_secs(120));
    for page in PAGES {
        let budget = Instant::now() + knobs.step / PAGES.len() as u32;
        let (status, len, first) = http_get(node.http, page, per_request).await?;
        if status != 200 {
            return Err(format!("GET {page} answered {status}"));
        }
        let mut times = vec![];
        while times.len() < requests && Instant::now() < budget {
            if let Some(m) = moving.next() {
                match client.publish(&m).await {
                    Ok(PublishOutcome::Accepted { .. }) => {}
                    other => return Err(format!("publishing between pages: {other:?}")),
                }
            }
            let (status, _, took) = http_get(node.http, page, per_request).await?;
            if status != 200 {
                return Err(format!("GET {page} answered {status}"));
            }
            times.push(took);
        }
        times.sort();
        report.add(
            store,
            &format!("GET {page} first / p50 / p99 (n)"),
            format!(
                "{:.1} / {:.1} / {:.1} ms ({}, {} KiB)",
                ms(first),
                ms(percentile(&times, 0.5)),
                ms(percentile(&times, 0.99)),
                times.len(),
                len / 1024
            ),
        );
    }
    Ok(())
}

/// [`pages`] within twice the step's limit, then the node's memory after them; `false` when the
/// node is gone (reported), and the size's remaining steps are skipped.
async fn pages_and_memory(
    node: &mut NodeProcess,
    store: &str,
    knobs: &Knobs,
    requests: usize,
    report: &mut Report,
) -> bool {
    match tokio::time::timeout(knobs.step * 2, pages(node, store, knobs, requests, report)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => report.add(store, "pages", e),
        Err(_) => report.add(store, "pages", "timed out".into()),
    }
    if let Some(why) = node.gone() {
        report.add(store, "node", why);
        return false;
    }
    let (after, peak) = node.memory();
    report.add(
        store,
        "VmRSS after every page (peak)",
        format!("{after:.0} MiB ({peak:.0} MiB)"),
    );
    true
}

/// Durable streaming ingest: 4 streams of `msgs / 4`, each keeping at most 512 messages
/// unanswered. Messages per second and the ack p99 (from hand-over to the stream).
async fn stream_ingest(url: &str, msgs: u64) -> Result<(f64, Duration), String> {
    const STREAMS: u64 = 4;
    const WINDOW: usize = 512;
    let all = fresh(msgs, Timestamp::now(), LIFETIME);
    let per = (msgs / STREAMS) as usize;
    let started = Instant::now();
    let mut tasks = vec![];
    for part in all.chunks(per.max(1)).map(<[SignedMessage]>::to_vec) {
        let mut client = Client::connect(url).await.map_err(|e| e.to_string())?;
        tasks.push(tokio::spawn(async move {
            let window = Arc::new(Semaphore::new(WINDOW));
            let sent: Arc<Mutex<Vec<Instant>>> = Arc::new(Mutex::new(vec![]));
            let (tx, rx) = mpsc::channel(WINDOW);
            let count = part.len();
            let feeder = {
                let window = window.clone();
                let sent = sent.clone();
                tokio::spawn(async move {
                    for m in part {
                        let Ok(permit) = window.acquire().await else {
                            return;
                        };
                        permit.forget();
                        sent.lock().expect("not poisoned").push(Instant::now());
                        if tx.send(m).await.is_err() {
                            return;
                        }
                    }
                })
            };
            let replies = client
                .publish_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
                .map_err(|e| e.to_string())?;
            let mut replies = std::pin::pin!(replies);
            let mut latencies = Vec::with_capacity(count);
            while let Some(r) = replies.next().await {
                match r.map_err(|e| e.to_string())? {
                    PublishOutcome::Accepted { .. } => {}
                    other => return Err(format!("not accepted: {other:?}")),
                }
                let at = sent.lock().expect("not poisoned")[latencies.len()];
                latencies.push(at.elapsed());
                window.add_permits(1);
                if latencies.len() == count {
                    break;
                }
            }
            feeder.abort();
            Ok::<_, String>(latencies)
        }));
    }
    let mut latencies = vec![];
    for t in tasks {
        latencies.extend(t.await.map_err(|e| e.to_string())??);
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    Ok((rate, percentile(&latencies, 0.99)))
}

/// Durable unary ingest: `publishers` closed-loop publishers, each on its own connection,
/// `msgs` in all through tonic's client. Messages per second and the ack p99.
async fn unary_ingest(url: &str, msgs: u64, publishers: usize) -> Result<(f64, Duration), String> {
    let all = fresh(msgs, Timestamp::now(), LIFETIME);
    let per = all.len().div_ceil(publishers.max(1));
    let started = Instant::now();
    let mut tasks = vec![];
    for part in all.chunks(per.max(1)).map(<[SignedMessage]>::to_vec) {
        let mut client = Client::connect(url).await.map_err(|e| e.to_string())?;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(part.len());
            for m in part {
                let t = Instant::now();
                match client.publish(&m).await.map_err(|e| e.to_string())? {
                    PublishOutcome::Accepted { .. } => {}
                    other => return Err(format!("not accepted: {other:?}")),
                }
                latencies.push(t.elapsed());
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut latencies = vec![];
    for t in tasks {
        latencies.extend(t.await.map_err(|e| e.to_string())??);
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    latencies.sort();
    Ok((rate, percentile(&latencies, 0.99)))
}

/// Both ingest figures, with ratios to the empty store's (`baseline`, when measured).
async fn ingest(
    node: &NodeProcess,
    store: &str,
    knobs: &Knobs,
    baseline: Option<Ingest>,
    report: &mut Report,
) -> Result<Ingest, String> {
    let (stream_rate, stream_p99) = stream_ingest(&node.url(), knobs.stream_msgs).await?;
    let (unary_rate, unary_p99) =
        unary_ingest(&node.url(), knobs.unary_msgs, knobs.publishers).await?;
    let ratio = |v: f64, base: Option<f64>| match base {
        Some(b) if b > 0.0 => format!(" (×{:.2})", v / b),
        _ => String::new(),
    };
    report.add(
        store,
        "streaming ingest msg/s (ratio to empty)",
        format!(
            "{stream_rate:.0}{}",
            ratio(stream_rate, baseline.map(|b| b.stream_rate))
        ),
    );
    report.add(
        store,
        "streaming ack p99",
        format!("{:.1} ms", ms(stream_p99)),
    );
    report.add(
        store,
        "unary ingest msg/s (ratio to empty)",
        format!(
            "{unary_rate:.0}{}",
            ratio(unary_rate, baseline.map(|b| b.unary_rate))
        ),
    );
    // Latency's ratio is inverted (empty / this), so ≥ 0.8 is the target for both.
    let p99 = ms(unary_p99);
    report.add(
        store,
        "unary ack p99 (empty / this)",
        format!(
            "{p99:.1} ms{}",
            match baseline {
                Some(b) if p99 > 0.0 => format!(" (×{:.2})", b.unary_p99_ms / p99),
                _ => String::new(),
            }
        ),
    );
    Ok(Ingest {
        stream_rate,
        unary_rate,
        unary_p99_ms: p99,
    })
}

/// An empty store's ingest figures, the ratios' base.
#[derive(Debug, Clone, Copy)]
struct Ingest {
    stream_rate: f64,
    unary_rate: f64,
    unary_p99_ms: f64,
}

/// A new follower: Subscribe from seq 0 (everything, the readers' view) until caught up.
async fn subscribe_from_zero(node: &NodeProcess) -> Result<String, String> {
    let mut client = Client::connect(&node.url())
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let events = client
        .subscribe(&Filter::default(), 0, None)
        .await
        .map_err(|e| e.to_string())?;
    let mut events = std::pin::pin!(events);
    let mut delivered = 0u64;
    while let Some(e) = events.next().await {
        match e.map_err(|e| e.to_string())? {
            ClientEvent::Delivery { .. } => delivered += 1,
            ClientEvent::CaughtUp(seq) => {
                let took = started.elapsed();
                return Ok(format!(
                    "{delivered} messages to seq {seq} in {:.1} s: {:.0} msg/s",
                    took.as_secs_f64(),
                    delivered as f64 / took.as_secs_f64()
                ));
            }
        }
    }
    Err("the subscription ended before it caught up".into())
}

/// Everything about the node's process at one size, on a scratch copy `data`.
async fn process_steps(
    data: &Path,
    store: &str,
    knobs: &Knobs,
    baseline: &mut Option<Ingest>,
    report: &mut Report,
) {
    let limit = knobs.step;
    if knobs.runs("restart") {
        match tokio::time::timeout(limit * 3, restarts(data, &Confinement::None, knobs)).await {
            Ok(Ok(v)) => report.add(store, "restart to healthz 200 (median of 3)", v),
            Ok(Err(e)) => report.add(store, "restart to healthz 200 (median of 3)", e),
            Err(_) => report.add(
                store,
                "restart to healthz 200 (median of 3)",
                "timed out".into(),
            ),
        }
    }
    let mut node = match NodeProcess::start(data, &Confinement::None, limit).await {
        Ok((node, _)) => node,
        Err(e) => {
            report.add(store, "node", e);
            return;
        }
    };
    // At rest: the start's work done, nothing asked yet.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rest, _) = node.memory();
    report.add(store, "VmRSS at rest after start", format!("{rest:.0} MiB"));
    if knobs.runs("pages")
        && !pages_and_memory(&mut node, store, knobs, knobs.requests, report).await
    {
        return;
    }
    if knobs.runs("subscribe") {
        let v = match tokio::time::timeout(limit, subscribe_from_zero(&node)).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => e,
            Err(_) => "timed out".into(),
        };
        report.add(store, "subscribe from seq 0, catch-up", v);
    }
    if !knobs.runs("ingest") {
        node.stop().await;
        return;
    }
    ingest_and_memory(&node, store, knobs, baseline, report).await;
    // What the ingest's writes cost the stop after them and the start after that.
    let stopping = Instant::now();
    node.stop().await;
    let stop = stopping.elapsed();
    let v = match NodeProcess::start(data, &Confinement::None, limit).await {
        Ok((again, took)) => {
            again.stop().await;
            format!(
                "{:.0} ms (the stop before it: {:.0} ms)",
                ms(took),
                ms(stop)
            )
        }
        Err(e) => e,
    };
    report.add(store, "restart to healthz 200 after the ingest step", v);
}

/// The ingest step (the first store's figures are the baseline of the others'), then the
/// node's memory.
async fn ingest_and_memory(
    node: &NodeProcess,
    store: &str,
    knobs: &Knobs,
    baseline: &mut Option<Ingest>,
    report: &mut Report,
) {
    match tokio::time::timeout(knobs.step, ingest(node, store, knobs, *baseline, report)).await {
        Ok(Ok(figures)) => {
            if baseline.is_none() {
                *baseline = Some(figures);
            }
        }
        Ok(Err(e)) => report.add(store, "ingest", e),
        Err(_) => report.add(store, "ingest", "timed out".into()),
    }
    let (after, peak) = node.memory();
    report.add(
        store,
        "VmRSS at the end (peak)",
        format!("{after:.0} MiB ({peak:.0} MiB)"),
    );
}

/// The small-server profile on a scratch copy `data`: restart, pages, memory and ingest with
/// the node confined to one core and 512 MiB.
async fn small_steps(
    data: &Path,
    store: &str,
    knobs: &Knobs,
    confinement: &Confinement,
    baseline: &mut Option<Ingest>,
    report: &mut Report,
) {
    let store = format!("{store}, small");
    let store = store.as_str();
    let limit = knobs.step;
    let (mut node, took) = match NodeProcess::start(data, confinement, limit).await {
        Ok(v) => v,
        Err(e) => {
            report.add(store, "node", e);
            return;
        }
    };
    report.add(
        store,
        "restart to healthz 200 (median of 3)",
        format!("{:.0} ms (one run)", ms(took)),
    );
    let pid = node.pid();
    let cpus = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    let joined = match confinement {
        Confinement::Cgroup(dir) => {
            let name = dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            let groups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            if groups.contains(&name) {
                ", in the cgroup"
            } else {
                ", NOT in the cgroup"
            }
        }
        _ => "",
    };
    report.add(
        store,
        "confinement",
        format!("{} (node on CPUs {cpus}{joined})", confinement.describe()),
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rest, _) = node.memory();
    report.add(store, "VmRSS at rest after start", format!("{rest:.0} MiB"));
    // Fewer requests: one core renders them.
    let requests = (knobs.requests / 4).max(10);
    if !pages_and_memory(&mut node, store, knobs, requests, report).await {
        return;
    }
    ingest_and_memory(&node, store, knobs, baseline, report).await;
    node.stop().await;
}

/// Retention, in-process on a scratch copy `data`: publishing at `rate`/s on 8 connections (an
/// open loop, latency from each message's due time), the node's clock is moved past every
/// stored message's expiry; the sweep is over when no more than the messages in flight are
/// left of what was there.
async fn retention(
    data: &Path,
    store: &str,
    knobs: &Knobs,
    report: &mut Report,
) -> Result<(), String> {
    let before = du_bytes(data);
    let clock = Clock::manual(Timestamp::now());
    let mut config = Config::default();
    config.node.data_dir = data.to_path_buf();
    config.node.listen = "127.0.0.1:0".parse().expect("an address");
    config.http.enabled = false;
    config.store.retention_interval = Duration::from_secs(1);
    unlimited(&mut config);
    let server = Server::start_with_clock(config, clock.clone())
        .await
        .map_err(|e| format!("starting: {e:#}"))?;
    let node = server.node().clone();
    let held = node
        .reads()
        .counts()
        .await
        .map_err(|e| e.to_string())?
        .messages;
    let mut clients = vec![];
    for _ in 0..8 {
        clients.push(
            Client::connect(&server.url())
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let rate = knobs.retention_rate.max(1);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let latencies: Arc<Mutex<Vec<(Duration, Duration, bool)>>> = Arc::default();
    let started = Instant::now();
    let publisher = {
        let (stop, sent, latencies, clock) =
            (stop.clone(), sent.clone(), latencies.clone(), clock.clone());
        tokio::spawn(async move {
            let mut k = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let due = Duration::from_secs_f64(k as f64 / rate as f64);
                tokio::time::sleep_until((started + due).into()).await;
                // Made at the node's time and living 60 days: valid before and after the move.
                let k_fresh = FRESH.fetch_add(1, Ordering::Relaxed);
                let m = corpus::fresh_alert(k_fresh, clock.now(), LIFETIME * 2);
                let mut client = clients[(k % 8) as usize].clone();
                let latencies = latencies.clone();
                sent.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let ok = matches!(
                        client.publish(&m).await,
                        Ok(PublishOutcome::Accepted { .. })
                    );
                    let took = (started + due).elapsed();
                    latencies
                        .lock()
                        .expect("not poisoned")
                        .push((due, took, ok));
                });
                k += 1;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let moved_at = started.elapsed();
    clock.advance(LIFETIME + Duration::from_secs(24 * 3600));
    let sweep_limit = Instant::now() + knobs.step;
    let swept = loop {
        let counts = node.reads().counts().await.map_err(|e| e.to_string())?;
        let sent_now = sent.load(Ordering::Relaxed);
        if counts.messages <= sent_now {
            break Some(started.elapsed() - moved_at);
        }
        if Instant::now() > sweep_limit {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let swept_at = started.elapsed();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let _ = publisher.await;
    // The publishes in flight finish within their own time limit.
    tokio::time::sleep(Duration::from_secs(2)).await;
    server
        .shutdown(Duration::from_secs(60))
        .await
        .map_err(|e| format!("stopping: {e:#}"))?;
    let after = du_bytes(data);
    let all = latencies.lock().expect("not poisoned").clone();
    let p99_of = |from: Duration, to: Duration| {
        let mut v: Vec<Duration> = all
            .iter()
            .filter(|(due, _, _)| *due >= from && *due < to)
            .map(|(_, took, _)| *took)
            .collect();
        v.sort();
        (percentile(&v, 0.99), percentile(&v, 1.0), v.len())
    };
    let failed = all.iter().filter(|(_, _, ok)| !ok).count();
    let (base99, _, base_n) = p99_of(Duration::ZERO, moved_at);
    let (sweep99, sweep_max, sweep_n) = p99_of(moved_at, swept_at);
    report.add(
        store,
        "retention: messages held, all expired at once",
        format!("{held}"),
    );
    report.add(
        store,
        "retention: sweep duration",
        match swept {
            Some(d) => format!("{:.1} s", d.as_secs_f64()),
            None => format!("not over in {} s", knobs.step.as_secs()),
        },
    );
    report.add(
        store,
        "retention: ack p99 before / during sweep (max)",
        format!(
            "{:.1} ms ({base_n}) / {:.1} ms ({sweep_n}, max {:.0} ms) at {rate}/s, {failed} failed",
            ms(base99),
            ms(sweep99),
            ms(sweep_max)
        ),
    );
    report.add(
        store,
        "retention: data dir before / after",
        format!("{} / {}", mib(before), mib(after)),
    );
    Ok(())
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing useful: run only
    // when benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let knobs = Knobs::from_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("load")
        .enable_all()
        .build()
        .expect("runtime");
    let mut report = Report::default();
    rt.block_on(async {
        std::fs::create_dir_all(&knobs.dir).expect("creating TOCSIN_SCALE_DIR");
        let mut stores = vec![];
        for &size in &knobs.sizes {
            stores.push((size, ensure_store(size, &knobs, &mut report).await));
        }
        if knobs
            .only
            .as_ref()
            .is_some_and(|o| o.iter().all(|p| p == "build"))
        {
            return;
        }
        let small = if knobs.runs("small") {
            match Confinement::small_server() {
                Ok(c) => {
                    println!("scale: small-server profile: {}", c.describe());
                    Some(c)
                }
                Err(why) => {
                    println!("scale: small-server profile skipped: {why}");
                    report.add("empty, small", "skipped", why);
                    None
                }
            }
        } else {
            None
        };
        // The empty store first: the ratios' base, measured in this run.
        let empty = knobs.dir.join("empty.scratch");
        let _ = std::fs::remove_dir_all(&empty);
        std::fs::create_dir_all(&empty).expect("creating the empty store's directory");
        let mut baseline = None;
        let mut small_baseline = None;
        process_steps(
            &empty.join("data"),
            "empty",
            &knobs,
            &mut baseline,
            &mut report,
        )
        .await;
        if let Some(c) = &small {
            let _ = std::fs::remove_dir_all(&empty);
            std::fs::create_dir_all(&empty).expect("creating the empty store's directory");
            small_steps(
                &empty.join("data"),
                "empty",
                &knobs,
                c,
                &mut small_baseline,
                &mut report,
            )
            .await;
        }
        let _ = std::fs::remove_dir_all(&empty);
        for (size, dir) in stores {
            let store = label(size);
            let scratch = knobs.dir.join(format!("{size}.scratch"));
            let copied = Instant::now();
            copy_dir(&dir.join("data"), &scratch);
            println!(
                "scale: copied the {store} store in {:.1}s (written to disk)",
                copied.elapsed().as_secs_f64()
            );
            report.add(&store, "data dir as built", mib(du_bytes(&scratch)));
            process_steps(&scratch, &store, &knobs, &mut baseline, &mut report).await;
            if let Some(c) = &small {
                small_steps(
                    &scratch,
                    &store,
                    &knobs,
                    c,
                    &mut small_baseline,
                    &mut report,
                )
                .await;
            }
            if knobs.runs("retention") {
                match tokio::time::timeout(
                    knobs.step * 2,
                    retention(&scratch, &store, &knobs, &mut report),
                )
                .await
                {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => report.add(&store, "retention", e),
                    Err(_) => report.add(&store, "retention", "timed out".into()),
                }
            }
            let _ = std::fs::remove_dir_all(&scratch);
            for extension in ["toml", "small.toml", "log"] {
                let _ = std::fs::remove_file(scratch.with_extension(extension));
            }
        }
        if let Some(c) = &small {
            c.remove();
        }
    });
    let table = report.table();
    println!("\n{table}");
    let path = target_dir().join("scale-report.txt");
    let written = std::fs::File::create(&path).and_then(|mut f| {
        writeln!(
            f,
            "scale benchmark, {} (unix ms), generator {GENERATOR}\n",
            now_ms()
        )?;
        f.write_all(table.as_bytes())
    });
    match written {
        Ok(()) => println!("scale: written to {}", path.display()),
        Err(e) => println!("scale: could not write {}: {e}", path.display()),
    }
}
