//! Relay benchmark (issue 9): the signature-verification ceiling, durable ingest through gRPC
//! (unary and streaming), ack latency at a fixed offered rate, fan-out latency to many
//! subscribers, resident memory per idle subscriber and disk bytes per stored message, all in
//! one run, with the targets checked at the end.
//!
//! Run: `cargo bench --bench relay` (release build; nodes in-process on 127.0.0.1, plaintext).
//! The node runs on its own tokio runtime (threads named `node`), the load generator on
//! another (`load`), so the CPU time of each can be told apart; both share the machine.
//! Unary ingest is judged with a lean load generator (see [`lean`]) and measured through
//! tonic's client as well.
//!
//! Knobs (defaults in brackets): TOCSIN_BENCH_VERIFY_SECS [2], TOCSIN_BENCH_INGEST_MSGS [40000]
//! (per mode), TOCSIN_BENCH_PUBLISHERS [128] (closed-loop unary publishers, each on its own
//! connection), TOCSIN_BENCH_UNARY_CONNS [= publishers] (connections they share in the run
//! through tonic's client), TOCSIN_BENCH_STREAMS [4], TOCSIN_BENCH_WINDOW [512]
//! (messages in flight per stream), TOCSIN_BENCH_FIXED_RATE [2000], TOCSIN_BENCH_SECS [5]
//! (duration of every fixed-rate phase), TOCSIN_BENCH_FANOUT_RATE_10 [2000],
//! TOCSIN_BENCH_FANOUT_RATE_100 [100], TOCSIN_BENCH_FANOUT_RATE_1000 [100],
//! TOCSIN_BENCH_IDLE_SUBS [1000], TOCSIN_BENCH_SUBS_PER_CONN [50], TOCSIN_BENCH_STALLED_SUBS [64],
//! TOCSIN_BENCH_STALLED_MSGS [400] (alerts of about 56 KB), TOCSIN_BENCH_DIR (where the
//! data goes; default the system temp directory: use a real disk, not tmpfs).

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{
    env_or, keys, percentile, rss_kib, sign_many, unlimited, verify_batch_rate, verify_rate,
};
use futures::StreamExt;
use tempfile::TempDir;
use tocsin::config::Config;
use tocsin::message::*;
use tocsin::rpc::{Client, ClientEvent, PublishOutcome};
use tocsin::server::Server;
use tokio::runtime::Runtime;

struct Node {
    server: Server,
    _dir: TempDir,
}

/// A node on 127.0.0.1:0, plaintext, the publishing limits lifted (benchmarks measure the
/// hardware, not the abuse limits). Call within the node runtime.
async fn start_node() -> Node {
    let dir = match std::env::var("TOCSIN_BENCH_DIR") {
        Ok(d) => tempfile::tempdir_in(d).expect("bench dir"),
        Err(_) => tempfile::tempdir().expect("temp dir"),
    };
    let mut config = Config::default();
    config.node.data_dir = dir.path().join("data");
    config.node.listen = "127.0.0.1:0".parse().unwrap();
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    unlimited(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = Server::start_on(config, listener).await.expect("node");
    Node { server, _dir: dir }
}

fn stop(rts: &Rts, node: Node) {
    rts.node.block_on(async {
        node.server
            .shutdown(Duration::from_secs(10))
            .await
            .expect("shutdown")
    });
}

struct Rts {
    node: Runtime,
    load: Runtime,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn accepted(r: &PublishOutcome) {
    assert!(
        matches!(r, PublishOutcome::Accepted { .. }),
        "not accepted: {r:?}"
    );
}

/// CPU seconds per thread, with its group, by thread id, from /proc/self/task/*/stat (clock
/// ticks of 10 ms).
fn cpu_by_thread() -> HashMap<u64, (&'static str, f64)> {
    let mut out = HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for t in tasks.flatten() {
        let Some(tid) = t.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let ticks: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0)
            + fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0);
        let group = if comm.starts_with("node") {
            "node"
        } else if comm.starts_with("load") {
            "load"
        } else if comm.starts_with("tocsin-store") {
            "store"
        } else if comm.starts_with("sled") {
            "sled"
        } else {
            "other"
        };
        out.insert(tid, (group, ticks as f64 / 100.0));
    }
    out
}

/// Runs a phase and prints how its CPU time split between the node, the load generator and
/// the store's threads.
fn with_cpu<T>(label: &str, f: impl FnOnce() -> T) -> T {
    with_cpu_spent(label, f).0
}

/// [`with_cpu`], also returning the CPU seconds spent per group (`node`, `load`, `store`,
/// `sled`, `other`).
fn with_cpu_spent<T>(label: &str, f: impl FnOnce() -> T) -> (T, HashMap<&'static str, f64>) {
    let before = cpu_by_thread();
    let started = Instant::now();
    let out = f();
    let wall = started.elapsed().as_secs_f64();
    // Per thread: one that ended during the phase (an idle blocking-pool thread) takes its
    // CPU time with it, so summing groups before and after would subtract all it ever spent.
    let mut spent: HashMap<&'static str, f64> = HashMap::new();
    for (tid, (group, secs)) in cpu_by_thread() {
        let was = before.get(&tid).map_or(0.0, |b| b.1);
        *spent.entry(group).or_insert(0.0) += secs - was;
    }
    let mut parts = Vec::new();
    let mut total = 0.0;
    for g in ["node", "load", "store", "sled", "other"] {
        let d = *spent.entry(g).or_insert(0.0);
        total += d;
        parts.push(format!("{g} {d:.2}s"));
    }
    println!(
        "  cpu [{label}]: {} over {wall:.2}s wall = {:.0}% of 2 cores",
        parts.join(", "),
        total / wall / 2.0 * 100.0
    );
    (out, spent)
}

async fn clients(url: &str, n: usize) -> Vec<Client> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(Client::connect(url).await.expect("connect"));
    }
    out
}

/// Prints an ingest phase's line: its rate, the rate's share of the 2-thread ceiling `v2`,
/// and the ack latencies (`lat` sorted).
fn print_ingest(what: &str, rate: f64, lat: &[Duration], v2: f64) {
    println!(
        "{what}: {rate:.0} msg/s = {:.0}% of the 2-thread ceiling; ack p50 {:.2} ms p99 {:.2} ms",
        rate / v2 * 100.0,
        ms(percentile(lat, 0.5)),
        ms(percentile(lat, 0.99))
    );
}

/// `items` dealt in turn into `parts` lists.
fn deal<T>(items: impl IntoIterator<Item = T>, parts: usize) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = (0..parts).map(|_| Vec::new()).collect();
    for (i, item) in items.into_iter().enumerate() {
        out[i % parts].push(item);
    }
    out
}

/// A closed loop: one task per connection, each calling `call` on its part's items back to
/// back (`call` hands the connection back). Returns (items/s, sorted latencies per call).
async fn closed_loop<C, I, F, Fut>(
    conns: Vec<C>,
    parts: Vec<Vec<I>>,
    call: F,
) -> (f64, Vec<Duration>)
where
    C: Send + 'static,
    I: Send + 'static,
    F: Fn(C, I) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = C> + Send,
{
    let n: usize = parts.iter().map(Vec::len).sum();
    let started = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .zip(parts)
        .map(|(mut c, part)| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(part.len());
                for item in part {
                    let t = Instant::now();
                    c = call(c, item).await;
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::with_capacity(n);
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    lat.sort();
    (rate, lat)
}

/// Closed loop through tonic's client: `publishers` tasks over `conns` connections (shared in
/// turn), publishing back to back. Returns (messages/s, sorted ack latencies).
async fn unary_ingest(
    url: &str,
    msgs: Vec<SignedMessage>,
    publishers: usize,
    conns: usize,
) -> (f64, Vec<Duration>) {
    let parts = deal(msgs, publishers);
    let conns: Vec<Client> = clients(url, conns)
        .await
        .into_iter()
        .cycle()
        .take(publishers)
        .collect();
    closed_loop(conns, parts, |mut c: Client, m: SignedMessage| async move {
        accepted(&c.publish(&m).await.expect("publish"));
        c
    })
    .await
}

/// The lean load generator for unary publishing: the same gRPC call (`/tocsin.v1.Relay/Publish`,
/// a length-prefixed protobuf body, the answer's `grpc-status` trailer checked and its
/// `PublishReply` decoded), made with the `h2` crate on one HTTP/2 connection per publisher,
/// the request bodies encoded before the clock starts (as the messages are signed before it).
///
/// tonic's client takes each call through a buffer task, hyper's dispatch and a body pipe task,
/// and sends it as three frames in three writes (HEADERS, DATA, an empty DATA ending the
/// stream); here the caller queues HEADERS and DATA (ending the stream) and the connection task
/// writes them together. On two shared cores the load generator's CPU is taken from the node's,
/// so a leaner one measures more of the node, as h2load or ghz would; the node's side is
/// unchanged. Both are measured (see `main`).
mod lean {
    use bytes::{BufMut, Bytes, BytesMut};
    use prost::Message as _;
    use tocsin::proto;

    /// `n` HTTP/2 connections to the node, their connection tasks spawned on the current
    /// runtime.
    pub async fn connect(url: &str, n: usize) -> Vec<h2::client::SendRequest<Bytes>> {
        let addr = url.trim_start_matches("http://");
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
            tcp.set_nodelay(true).expect("nodelay");
            let (send, conn) = h2::client::handshake(tcp).await.expect("h2 handshake");
            tokio::spawn(async move {
                let _ = conn.await;
            });
            out.push(send);
        }
        out
    }

    /// The URI of a method of the relay service, made once per load, not once per call.
    pub fn method(url: &str, name: &str) -> http::Uri {
        format!("{url}/tocsin.v1.Relay/{name}")
            .parse()
            .expect("a method URI")
    }

    /// A message as the request body of a unary Publish: compression flag 0, the length (u32,
    /// big-endian), the protobuf.
    pub fn body(m: &tocsin::message::SignedMessage) -> Bytes {
        framed(&m.encode_to_vec())
    }

    /// A protobuf as a gRPC message: compression flag 0, the length (u32, big-endian), the bytes.
    fn framed(pb: &[u8]) -> Bytes {
        let mut b = BytesMut::with_capacity(5 + pb.len());
        b.put_u8(0);
        b.put_u32(pb.len() as u32);
        b.put_slice(pb);
        b.freeze()
    }

    /// One unary call of `method` (see [`method`]): returns the `grpc-status` and the reply's
    /// protobuf (empty when the status is not OK).
    async fn call(
        send: &mut h2::client::SendRequest<Bytes>,
        method: &http::Uri,
        body: Bytes,
    ) -> (String, Bytes) {
        let req = http::Request::post(method.clone())
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .expect("request");
        let mut ready = send.clone().ready().await.expect("connection ready");
        let (answer, mut stream) = ready.send_request(req, false).expect("send request");
        stream.send_data(body, true).expect("send body");
        let answer = answer.await.expect("answer");
        assert_eq!(answer.status(), 200, "HTTP status");
        // A call that fails at once answers with its status in the headers ("trailers-only").
        let early = answer.headers().get("grpc-status").cloned();
        let mut answer = answer.into_body();
        let mut got = BytesMut::new();
        while let Some(chunk) = answer.data().await {
            let chunk = chunk.expect("answer body");
            let _ = answer.flow_control().release_capacity(chunk.len());
            got.extend_from_slice(&chunk);
        }
        let trailers = answer.trailers().await.expect("trailers");
        let status = early
            .or_else(|| trailers.and_then(|t| t.get("grpc-status").cloned()))
            .expect("a grpc-status");
        let status = status.to_str().expect("an ASCII status").to_string();
        if status != "0" {
            return (status, Bytes::new());
        }
        assert!(got.len() >= 5 && got[0] == 0, "a length-prefixed reply");
        (status, got.freeze().slice(5..))
    }

    /// One Publish of a [`body`] (`method`: `Publish`); panics unless the node answers that it
    /// accepted it.
    pub async fn publish(
        send: &mut h2::client::SendRequest<Bytes>,
        method: &http::Uri,
        body: Bytes,
    ) {
        let (status, reply) = call(send, method, body).await;
        assert_eq!(status, "0", "gRPC status of a publish");
        let reply = proto::PublishReply::decode(reply).expect("a PublishReply");
        assert_eq!(
            reply.status,
            proto::PublishStatus::Accepted as i32,
            "not accepted: {reply:?}"
        );
    }

    /// `n` Subscribe streams from seq 0 on `send`'s connection, none of them ever read: their
    /// answers are returned to be held (dropping one resets its stream). The connection's
    /// task takes what the default flow-control window (64 KiB) lets in, nothing more.
    pub async fn subscribe_stalled(
        send: &h2::client::SendRequest<Bytes>,
        url: &str,
        n: usize,
    ) -> Vec<h2::client::ResponseFuture> {
        let method = method(url, "Subscribe");
        let req = proto::SubscribeRequest::default();
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let request = http::Request::post(method.clone())
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(())
                .expect("request");
            let mut ready = send.clone().ready().await.expect("connection ready");
            let (answer, mut stream) = ready.send_request(request, false).expect("send request");
            stream
                .send_data(framed(&req.encode_to_vec()), true)
                .expect("send body");
            out.push(answer);
        }
        out
    }

    /// One Get (`method`: `Get`) of an id the node does not hold; panics unless it answers
    /// NOT_FOUND.
    pub async fn get_unknown(
        send: &mut h2::client::SendRequest<Bytes>,
        method: &http::Uri,
        id: [u8; 32],
    ) {
        let req = proto::GetRequest { id: id.to_vec() };
        let (status, _) = call(send, method, framed(&req.encode_to_vec())).await;
        assert_eq!(status, "5", "NOT_FOUND for an id nobody published");
    }
}

/// [`unary_ingest`] with the [`lean`] load generator: `publishers` tasks, each on its own
/// connection, publishing back to back. Returns (messages/s, sorted ack latencies).
async fn lean_unary_ingest(
    url: &str,
    msgs: Vec<SignedMessage>,
    publishers: usize,
) -> (f64, Vec<Duration>) {
    let parts = deal(msgs.iter().map(lean::body), publishers);
    drop(msgs);
    let conns = lean::connect(url, publishers).await;
    let publish = lean::method(url, "Publish");
    closed_loop(conns, parts, move |mut c, body| {
        let publish = publish.clone();
        async move {
            lean::publish(&mut c, &publish, body).await;
            c
        }
    })
    .await
}

/// The unary transport floor: the same closed loop as [`lean_unary_ingest`], calling `Get` for
/// ids the node does not hold (no verification, no write, no lookup: the filter of held ids
/// says "not here"). What a unary call costs before the node does any work. Returns calls/s.
async fn unary_floor(url: &str, calls: u64, publishers: usize) -> f64 {
    let ids = (0..calls).map(|i| {
        let mut id = [0xb7u8; 32];
        id[..8].copy_from_slice(&i.to_be_bytes());
        id
    });
    let parts = deal(ids, publishers);
    let conns = lean::connect(url, publishers).await;
    let get = lean::method(url, "Get");
    closed_loop(conns, parts, move |mut c, id| {
        let get = get.clone();
        async move {
            lean::get_unknown(&mut c, &get, id).await;
            c
        }
    })
    .await
    .0
}

/// `streams` concurrent `publish_stream` calls, each with at most `window` messages awaiting
/// their answer. Returns (messages/s, sorted ack latencies).
async fn stream_ingest(
    url: &str,
    msgs: Vec<SignedMessage>,
    streams: usize,
    window: usize,
) -> (f64, Vec<Duration>) {
    let mut parts: Vec<Vec<SignedMessage>> = vec![Vec::new(); streams];
    let n = msgs.len();
    for (i, m) in msgs.into_iter().enumerate() {
        parts[i % streams].push(m);
    }
    let conns = clients(url, streams).await;
    let started = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .zip(parts)
        .map(|(mut c, part)| {
            tokio::spawn(async move {
                let count = part.len();
                let permits = Arc::new(tokio::sync::Semaphore::new(window));
                let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel();
                let input = {
                    let permits = permits.clone();
                    futures::stream::iter(part).then(move |m| {
                        let permits = permits.clone();
                        let sent_tx = sent_tx.clone();
                        async move {
                            permits.acquire().await.unwrap().forget();
                            let _ = sent_tx.send(Instant::now());
                            m
                        }
                    })
                };
                let mut replies = c.publish_stream(input).await.expect("publish_stream");
                let mut lat = Vec::with_capacity(count);
                while let Some(r) = replies.next().await {
                    let sent: Instant = sent_rx.recv().await.expect("a send time per reply");
                    lat.push(sent.elapsed());
                    accepted(&r.expect("reply"));
                    permits.add_permits(1);
                }
                assert_eq!(lat.len(), count, "every message answered");
                lat
            })
        })
        .collect();
    let mut lat = Vec::with_capacity(n);
    for t in tasks {
        lat.extend(t.await.unwrap());
    }
    let rate = n as f64 / started.elapsed().as_secs_f64();
    lat.sort();
    (rate, lat)
}

/// Open loop: message i is due at start + i/rate whatever happened to the earlier ones, and is
/// published on one of `conns` connections. Its latency counts from when it was due (so a
/// stall is not hidden by the publisher waiting). `due` records the due time (ns after
/// `base`) for subscribers to compare against. Returns (achieved rate, sorted ack latencies).
async fn open_loop(
    conns: &[Client],
    msgs: Vec<SignedMessage>,
    rate: u64,
    base: Instant,
    due: Option<Arc<Vec<AtomicU64>>>,
) -> (f64, Vec<Duration>) {
    let n = msgs.len();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for (i, m) in msgs.into_iter().enumerate() {
        let at = started + Duration::from_nanos(i as u64 * 1_000_000_000 / rate);
        tokio::time::sleep_until(at.into()).await;
        if let Some(due) = &due {
            due[i].store((at - base).as_nanos() as u64, Ordering::Release);
        }
        let mut c = conns[i % conns.len()].clone();
        tasks.push(tokio::spawn(async move {
            accepted(&c.publish(&m).await.expect("publish"));
            at.elapsed()
        }));
    }
    let mut lat = Vec::with_capacity(n);
    for t in tasks {
        lat.push(t.await.unwrap());
    }
    let achieved = n as f64 / started.elapsed().as_secs_f64();
    lat.sort();
    (achieved, lat)
}

type Events = futures::stream::BoxStream<'static, Result<ClientEvent, tocsin::rpc::ClientError>>;

/// Opens `n` subscriptions from the head, `per_conn` on each connection, and waits until all
/// are caught up. Each returns its events stream.
async fn open_subscriptions(url: &str, n: usize, per_conn: usize, since: u64) -> Vec<Events> {
    let conns = clients(url, n.div_ceil(per_conn)).await;
    let mut subs = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = conns[i / per_conn].clone();
        let mut events = c
            .subscribe(&Filter::default(), since, None)
            .await
            .expect("subscribe");
        loop {
            match events.next().await {
                Some(Ok(ClientEvent::CaughtUp(_))) => break,
                Some(Ok(ClientEvent::Delivery { .. })) => {}
                other => panic!("subscription failed: {other:?}"),
            }
        }
        subs.push(events.boxed());
    }
    subs
}

struct Fanout {
    p50: Duration,
    p99: Duration,
    deliveries_per_s: f64,
    delivered: usize,
    expected: usize,
    ack_p99: Duration,
}

/// `subs` subscribers on a fresh node; `msgs` published at `rate` msg/s; the latency from
/// when each message was due to be published until each subscriber has it.
fn fanout(rts: &Rts, msgs: Vec<SignedMessage>, subs: usize, rate: u64) -> Fanout {
    let per_conn = env_or("TOCSIN_BENCH_SUBS_PER_CONN", 50) as usize;
    let count = msgs.len() as u64;
    let index: Arc<HashMap<Id, usize>> =
        Arc::new(msgs.iter().enumerate().map(|(i, m)| (m.id(), i)).collect());
    let node = rts.node.block_on(start_node());
    let url = node.server.url();
    let out = with_cpu(&format!("fan-out {subs} subs at {rate}/s"), || {
        rts.load.block_on(async {
            let base = Instant::now();
            let due: Arc<Vec<AtomicU64>> =
                Arc::new((0..count).map(|_| AtomicU64::new(u64::MAX)).collect());
            let streams = open_subscriptions(&url, subs, per_conn, 0).await;
            let last = Arc::new(AtomicU64::new(0));
            let readers: Vec<_> = streams
                .into_iter()
                .map(|mut events| {
                    let (index, due, last) = (index.clone(), due.clone(), last.clone());
                    tokio::spawn(async move {
                        let mut lat = Vec::with_capacity(count as usize);
                        while lat.len() < count as usize {
                            match tokio::time::timeout(Duration::from_secs(30), events.next()).await
                            {
                                Ok(Some(Ok(ClientEvent::Delivery { message, .. }))) => {
                                    let now = base.elapsed().as_nanos() as u64;
                                    if let Some(&i) = index.get(&message.id()) {
                                        let sent = due[i].load(Ordering::Acquire);
                                        lat.push(Duration::from_nanos(now.saturating_sub(sent)));
                                    }
                                    last.fetch_max(now, Ordering::Relaxed);
                                }
                                Ok(Some(Ok(ClientEvent::CaughtUp(_)))) => {}
                                other => {
                                    eprintln!("a subscriber stopped early: {other:?}");
                                    break;
                                }
                            }
                        }
                        lat
                    })
                })
                .collect();
            let publishers = clients(&url, 8).await;
            let first = base.elapsed();
            let (_, acks) = open_loop(&publishers, msgs, rate, base, Some(due)).await;
            let mut lat = Vec::new();
            for r in readers {
                lat.extend(r.await.unwrap());
            }
            let span = Duration::from_nanos(last.load(Ordering::Relaxed)).saturating_sub(first);
            lat.sort();
            Fanout {
                p50: percentile(&lat, 0.5),
                p99: percentile(&lat, 0.99),
                deliveries_per_s: lat.len() as f64 / span.as_secs_f64().max(1e-9),
                delivered: lat.len(),
                expected: subs * count as usize,
                ack_p99: percentile(&acks, 0.99),
            }
        })
    });
    stop(rts, node);
    out
}

/// An alert of about 56 KB: the ~1 KiB benchmark alert with each of its three descriptions at
/// the 16 KiB limit and longer instructions.
fn large_message(key: &SecretKey, i: u64) -> SignedMessage {
    let mut body = common::message(key, i).body().clone();
    if let Content::Alert(a) = &mut body.content {
        for info in &mut a.info {
            info.description = format!("{i} {} ", info.description)
                .repeat(80)
                .chars()
                .take(16_000)
                .collect();
            info.instruction = info.instruction.repeat(60).chars().take(3_900).collect();
        }
    }
    Message::sign(body, key)
        .expect("a valid large alert")
        .signed()
        .clone()
}

/// Stalled subscribers (issue 18): on a fresh node, `subs` Subscribe streams from one address
/// (as many on each HTTP/2 connection as the node allows) that are never read, while `msgs` alerts of about 56 KB are published one after
/// another on another connection. Returns (VmRSS at rest, the highest VmRSS seen while
/// publishing, message size) in KiB and bytes: the process holds node and load generator, so
/// the figure is an upper bound for the node.
fn stalled_subscribers(rts: &Rts, keys: &[SecretKey], subs: usize, msgs: u64) -> (u64, u64, usize) {
    let node = rts.node.block_on(start_node());
    let url = node.server.url();
    let relay = node.server.node().clone();
    let out = with_cpu(
        &format!("{subs} stalled subscribers, {msgs} large alerts"),
        || {
            rts.load.block_on(async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let rest = rss_kib();
            // As many on each connection as the node allows (16 by default), from one address.
            let per_conn = Config::default().limits.subscriptions_per_connection;
            let conns = lean::connect(&url, subs.div_ceil(per_conn)).await;
            let mut answers = Vec::with_capacity(subs);
            for (i, conn) in conns.iter().enumerate() {
                let n = per_conn.min(subs - i * per_conn);
                answers.extend(lean::subscribe_stalled(conn, &url, n).await);
            }
            while relay.metrics().snapshot().subscribers < subs as u64 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let mut c = Client::connect(&url).await.expect("connect");
            let mut peak = rss_kib();
            let mut size = 0;
            for i in 0..msgs {
                let m = large_message(&keys[(i % keys.len() as u64) as usize], 1_000_000 + i);
                size = m.encode_to_vec().len();
                accepted(&c.publish(&m).await.expect("publish"));
                peak = peak.max(rss_kib());
            }
            // Let every subscription's task fill its queue, then look once more.
            tokio::time::sleep(Duration::from_millis(500)).await;
            peak = peak.max(rss_kib());
            let open = relay.metrics().snapshot().subscribers;
            let (_, stalled) = relay.metrics().subscriptions.snapshot();
            println!(
                "stalled subscribers: {subs} never read, {msgs} alerts of {size} B published: VmRSS {rest} KiB at rest -> {peak} KiB at most (node and load generator in one process); {open} subscriptions still open, {stalled} ended for stalling"
            );
            drop(answers);
            (rest, peak, size)
        })
        },
    );
    stop(rts, node);
    out
}

struct Row {
    what: String,
    measured: String,
    target: String,
    met: bool,
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing useful: run only
    // when asked to benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rts = Rts {
        node: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("node")
            .enable_all()
            .build()
            .unwrap(),
        load: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("load")
            .enable_all()
            .build()
            .unwrap(),
    };
    let keys = keys();
    let verify_secs = env_or("TOCSIN_BENCH_VERIFY_SECS", 2);
    let ingest_msgs = env_or("TOCSIN_BENCH_INGEST_MSGS", 40_000);
    // Closed-loop unary publishers: enough to keep the node busy. Each waits for its group's
    // flush (a disk round trip), so with few the rate is bounded by publishers / ack latency,
    // not by the node: with 8 by far, with 64 the cores still idle 15-18% of the time waiting
    // for flushes; with 128, 10-12% (see BENCHMARKS.md).
    let publishers = env_or("TOCSIN_BENCH_PUBLISHERS", 128) as usize;
    let unary_conns =
        (env_or("TOCSIN_BENCH_UNARY_CONNS", publishers as u64) as usize).clamp(1, publishers);
    // Connections of the open-loop (fixed-rate) publisher.
    let fixed_conns = env_or("TOCSIN_BENCH_FIXED_CONNS", 8) as usize;
    let streams = env_or("TOCSIN_BENCH_STREAMS", 4) as usize;
    let window = env_or("TOCSIN_BENCH_WINDOW", 512) as usize;
    let fixed_rate = env_or("TOCSIN_BENCH_FIXED_RATE", 2000);
    let secs = env_or("TOCSIN_BENCH_SECS", 5);
    let idle_subs = env_or("TOCSIN_BENCH_IDLE_SUBS", 1000) as usize;
    let per_conn = env_or("TOCSIN_BENCH_SUBS_PER_CONN", 50) as usize;
    let stalled_subs = env_or("TOCSIN_BENCH_STALLED_SUBS", 64) as usize;
    let stalled_msgs = env_or("TOCSIN_BENCH_STALLED_MSGS", 400);
    // `TOCSIN_BENCH_ONLY=unary,streaming,fixed,fanout,memory,stalled` runs only those phases (the
    // ceiling is always measured: every ratio needs it).
    let only = std::env::var("TOCSIN_BENCH_ONLY").ok();
    let want = |phase: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|p| p.trim() == phase))
    };
    let mut rows = Vec::new();
    // Fresh signed messages: each call continues the numbering, so every message is distinct.
    let mut next = 0u64;
    let mut fresh = |n: u64| {
        let msgs = sign_many(&keys, next, n);
        next += n;
        msgs
    };

    // 4a. Resident memory per idle subscriber, first, before the heap grows with the other
    // phases. The load generator's side of each subscription is in the same process: the
    // figure is client and server together, an upper bound for the node alone.
    let idle_kib = want("memory").then(|| {
    let node = rts.node.block_on(start_node());
    let url = node.server.url();
    let idle_kib = rts.load.block_on(async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = rss_kib();
        let subs = open_subscriptions(&url, idle_subs, per_conn, 0).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let after = rss_kib();
        drop(subs);
        println!(
            "idle subscribers: {idle_subs} ({per_conn} per connection): VmRSS {before} KiB -> {after} KiB = {:.1} KiB each (client and node in one process)",
            (after.saturating_sub(before)) as f64 / idle_subs as f64
        );
        after.saturating_sub(before) as f64 / idle_subs as f64
    });
    stop(&rts, node);
    idle_kib
    });

    // 4b. Stalled subscribers on large messages, also on a fresh node before the heap grows.
    let stalled =
        want("stalled").then(|| stalled_subscribers(&rts, &keys, stalled_subs, stalled_msgs));

    // 1. The ceiling.
    let pool = fresh(4096);
    let avg_size =
        pool.iter().map(|m| m.encode_to_vec().len()).sum::<usize>() as f64 / pool.len() as f64;
    println!("message: {avg_size:.0} bytes signed and encoded on average (en, fr, es)");
    let dur = Duration::from_secs(verify_secs);
    let v1 = verify_rate(&pool, 1, dur);
    println!(
        "verify ceiling, 1 thread: {v1:.0} msg/s (Message::open: decode, validate, verify_strict)"
    );
    let v2 = verify_rate(&pool, 2, dur);
    println!("verify ceiling, 2 threads: {v2:.0} msg/s");
    let b1 = verify_batch_rate(&pool, 1, 64, dur);
    let b2 = verify_batch_rate(&pool, 2, 64, dur);
    println!(
        "batch verification (verify_batch, 64 per batch; not the rule of record, not used): 1 thread {b1:.0} msg/s, 2 threads {b2:.0} msg/s = {:.2}x the strict ceiling",
        b2 / v2
    );
    drop(pool);

    // 2. Durable ingest through gRPC, on one node.
    let node = rts.node.block_on(start_node());
    let url = node.server.url();
    let unary = want("unary").then(|| {
        let msgs = fresh(ingest_msgs);
        let ((unary, lat), spent) = with_cpu_spent("unary ingest", || {
            rts.load
                .block_on(lean_unary_ingest(&url, msgs, publishers))
        });
        let what = format!(
            "unary ingest ({publishers} publishers, lean load generator, own connections, {ingest_msgs} msgs)"
        );
        print_ingest(&what, unary, &lat, v2);
        // What bounds it: the CPU a unary call costs before any work, measured the same way.
        let (calls, floor) = with_cpu_spent("unary floor", || {
            rts.load
                .block_on(unary_floor(&url, ingest_msgs, publishers))
        });
        let per_call = |spent: &HashMap<&str, f64>, n: f64| spent.values().sum::<f64>() / n * 1e6;
        let floor_us = per_call(&floor, ingest_msgs as f64);
        let write_us = (spent["store"] + spent["sled"]) / ingest_msgs as f64 * 1e6;
        let verify_us = 1e6 / v1;
        let least = floor_us + verify_us + write_us;
        println!(
            "unary floor (Get of an unknown id, same publishers and load generator): {calls:.0} calls/s, {floor_us:.0} µs of CPU per call (node + load)"
        );
        println!(
            "unary bound: a publish costs at least the floor {floor_us:.0} µs + verification {verify_us:.0} µs + the store's writing {write_us:.0} µs = {least:.0} µs of CPU; both cores at 100% give at most {:.0} msg/s = {:.0}% of the ceiling (measured: {:.0} µs per publish)",
            2e6 / least,
            2e6 / least / v2 * 100.0,
            per_call(&spent, ingest_msgs as f64)
        );
        unary
    });
    let streamed = want("streaming").then(|| {
        let msgs = fresh(ingest_msgs);
        let (streamed, lat) = with_cpu("streaming ingest", || {
            rts.load
                .block_on(stream_ingest(&url, msgs, streams, window))
        });
        let what =
            format!("streaming ingest ({streams} streams, window {window}, {ingest_msgs} msgs)");
        print_ingest(&what, streamed, &lat, v2);
        streamed
    });
    let fixed_p99 = want("fixed").then(|| {
        let count = fixed_rate * secs;
        let msgs = fresh(count);
        let (achieved, lat) = with_cpu("fixed-rate unary", || {
            rts.load.block_on(async {
                let conns = clients(&url, fixed_conns).await;
                open_loop(&conns, msgs, fixed_rate, Instant::now(), None).await
            })
        });
        let fixed_p99 = percentile(&lat, 0.99);
        println!(
            "unary at a fixed {fixed_rate} msg/s offered ({secs} s, achieved {achieved:.0}/s): ack p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
            ms(percentile(&lat, 0.5)),
            ms(fixed_p99),
            ms(*lat.last().unwrap_or(&Duration::ZERO))
        );
        fixed_p99
    });
    // The unary load again through tonic's client (as `tocsin post` and followers publish),
    // last, so that the phases before it meet the store at the size they always have.
    let through_tonic = want("unary").then(|| {
        let msgs = fresh(ingest_msgs);
        let (through_tonic, lat) = with_cpu("unary ingest, tonic's client", || {
            rts.load
                .block_on(unary_ingest(&url, msgs, publishers, unary_conns))
        });
        let conns = if unary_conns == publishers {
            "own connections".to_string()
        } else {
            format!("{unary_conns} connections")
        };
        let what = format!(
            "unary ingest through tonic's client ({publishers} publishers, {conns}, {ingest_msgs} msgs)"
        );
        print_ingest(&what, through_tonic, &lat, v2);
        through_tonic
    });
    // 4b. Disk bytes per stored message.
    let counts = node.server.node().store().counts().expect("counts");
    let disk = (counts.messages > 0).then(|| {
        let per_msg = counts.disk_bytes as f64 / counts.messages as f64;
        let disk_ratio = per_msg / avg_size;
        println!(
            "disk: {} bytes for {} messages = {per_msg:.0} bytes per message = {disk_ratio:.2} bytes per byte of message",
            counts.disk_bytes, counts.messages
        );
        (per_msg, disk_ratio)
    });
    stop(&rts, node);

    // 3. Fan-out.
    let mut fan = Vec::new();
    let fan_phases = if want("fanout") {
        vec![(10usize, 2000u64), (100, 100), (1000, 100)]
    } else {
        Vec::new()
    };
    for (subs, default_rate) in fan_phases {
        let rate = env_or(&format!("TOCSIN_BENCH_FANOUT_RATE_{subs}"), default_rate);
        let f = fanout(&rts, fresh(rate * secs), subs, rate);
        println!(
            "fan-out {subs} subscribers at {rate} msg/s ({secs} s): publish-to-delivery p50 {:.2} ms p99 {:.2} ms; {:.0} deliveries/s; {} of {} delivered; publisher ack p99 {:.2} ms",
            ms(f.p50),
            ms(f.p99),
            f.deliveries_per_s,
            f.delivered,
            f.expected,
            ms(f.ack_p99)
        );
        fan.push((subs, rate, f));
    }

    // The table.
    let ceiling = format!("of {v2:.0} msg/s (2-thread ceiling)");
    if let Some(streamed) = streamed {
        rows.push(Row {
            what: "durable streaming ingest".into(),
            measured: format!(
                "{streamed:.0} msg/s = {:.0}% {ceiling}",
                streamed / v2 * 100.0
            ),
            target: "≥ 50% of the ceiling".into(),
            met: streamed >= 0.5 * v2,
        });
    }
    if let (Some(unary), Some(through_tonic)) = (unary, through_tonic) {
        rows.push(Row {
            what: "durable unary ingest".into(),
            measured: format!(
                "{unary:.0} msg/s = {:.0}% {ceiling}; through tonic's client {through_tonic:.0} msg/s = {:.0}%",
                unary / v2 * 100.0,
                through_tonic / v2 * 100.0
            ),
            target: "≥ 25% of the ceiling".into(),
            met: unary >= 0.25 * v2,
        });
    }
    if let Some(fixed_p99) = fixed_p99 {
        rows.push(Row {
            what: format!("p99 ack at {fixed_rate} msg/s (unary)"),
            measured: format!("{:.2} ms", ms(fixed_p99)),
            target: "≤ 10 ms at 2,000 msg/s".into(),
            met: ms(fixed_p99) <= 10.0,
        });
    }
    for (subs, rate, f) in &fan {
        let (target, limit) = match subs {
            10 => ("≤ 10 ms (10 subs at 2,000 msg/s)", Some(10.0)),
            1000 => ("≤ 50 ms (1,000 subs at 100 msg/s)", Some(50.0)),
            _ => ("(no target)", None),
        };
        let complete = f.delivered == f.expected;
        rows.push(Row {
            what: format!("fan-out p99, {subs} subscribers at {rate} msg/s"),
            measured: format!(
                "{:.2} ms (p50 {:.2} ms, {:.0} deliveries/s{})",
                ms(f.p99),
                ms(f.p50),
                f.deliveries_per_s,
                if complete { "" } else { ", INCOMPLETE" }
            ),
            target: target.into(),
            met: limit.is_none_or(|l| complete && ms(f.p99) <= l),
        });
    }
    if let Some(idle_kib) = idle_kib {
        rows.push(Row {
            what: "RSS per idle subscriber".into(),
            measured: format!("{idle_kib:.1} KiB (client + node)"),
            target: "≤ 32 KiB".into(),
            met: idle_kib <= 32.0,
        });
    }
    if let Some((rest, peak, size)) = stalled {
        rows.push(Row {
            what: format!(
                "RSS with {stalled_subs} stalled subscribers ({stalled_msgs} alerts of {size} B)"
            ),
            measured: format!(
                "{} MiB (node + load generator; {} MiB at rest)",
                peak / 1024,
                rest / 1024
            ),
            target: "≤ 256 MiB".into(),
            met: peak <= 256 * 1024,
        });
    }
    if let Some((per_msg, disk_ratio)) = disk {
        rows.push(Row {
            what: "disk per byte of message".into(),
            measured: format!("{disk_ratio:.2} ({per_msg:.0} B per {avg_size:.0} B message)"),
            target: "≤ 3".into(),
            met: disk_ratio <= 3.0,
        });
    }
    println!();
    println!("| measurement | result | target | |");
    println!("|---|---|---|---|");
    for r in rows {
        let mark = if r.target == "(no target)" {
            "—"
        } else if r.met {
            "met"
        } else {
            "not met"
        };
        println!("| {} | {} | {} | {mark} |", r.what, r.measured, r.target);
    }
}
