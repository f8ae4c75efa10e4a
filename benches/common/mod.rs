//! What the benchmarks share: the knobs, and the verification ceiling every ratio is taken to.

// Each benchmark is its own crate and uses only part of this.
#![allow(dead_code)]

pub mod corpus;

use std::time::{Duration, Instant};

use std::collections::HashMap;

use ed25519_dalek::{Signature, VerifyingKey};
use tocsin::config::Config;
use tocsin::message::*;

/// The median of `v` (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// A knob from the environment, or its default.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `step` on `threads` threads until `dur` has passed and returns the units per second.
/// `step(thread, i)` does one round starting at message `i` and returns how many units it did.
fn per_second(threads: usize, dur: Duration, step: impl Fn(usize, usize) -> usize + Sync) -> f64 {
    let started = Instant::now();
    let step = &step;
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut n = 0u64;
                    let mut i = t * 997;
                    while started.elapsed() < dur {
                        let done = step(t, i);
                        i += done;
                        n += done as u64;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total as f64 / started.elapsed().as_secs_f64()
}

/// Messages per second through `Message::open` (decode, validate, `verify_strict`) on
/// `threads` threads for `dur`: the ceiling for ingest on this machine.
pub fn verify_rate(msgs: &[SignedMessage], threads: usize, dur: Duration) -> f64 {
    let now = Timestamp::now();
    per_second(threads, dur, |_, i| {
        for k in 0..64 {
            let m = msgs[(i + k) % msgs.len()].clone();
            std::hint::black_box(Message::open(m, now).expect("valid"));
        }
        64
    })
}

/// Like [`verify_rate`], with the signatures checked `batch` at a time by ed25519-dalek's
/// `verify_batch` (each message still decoded and validated). For comparison only: batch
/// verification checks the cofactored equation and does not refuse what `verify_strict` refuses
/// (small-order or mixed-order points), so ingest does not use it.
pub fn verify_batch_rate(
    msgs: &[SignedMessage],
    threads: usize,
    batch: usize,
    dur: Duration,
) -> f64 {
    let now = Timestamp::now();
    // Authors' keys decoded once, as the node's cache of known keys does.
    let keys: HashMap<[u8; 32], VerifyingKey> = msgs
        .iter()
        .map(|m| {
            let c = Checked::open(m.clone(), now).expect("valid");
            let a = *c.body().author.as_bytes();
            (a, VerifyingKey::from_bytes(&a).expect("key"))
        })
        .collect();
    let keys = &keys;
    per_second(threads, dur, |_, i| {
        let mut inputs = Vec::with_capacity(batch);
        let mut sigs = Vec::with_capacity(batch);
        let mut authors = Vec::with_capacity(batch);
        for k in 0..batch {
            let checked = Checked::open(msgs[(i + k) % msgs.len()].clone(), now).expect("valid");
            authors.push(keys[checked.body().author.as_bytes()]);
            inputs.push([SIGNING_DOMAIN, checked.signed().body()].concat());
            sigs.push(Signature::from_bytes(checked.signed().signature()));
        }
        let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        ed25519_dalek::verify_batch(&refs, &sigs, &authors).expect("valid batch");
        batch
    })
}

/// Authors taking turns, as on a real relay.
pub fn keys() -> Vec<SecretKey> {
    (1..=16u8).map(|i| SecretKey::from_seed(&[i; 32])).collect()
}

/// A realistic ~1 KiB alert in English, French and Spanish, made now, living a week.
pub fn message(key: &SecretKey, i: u64) -> Message {
    let now = Timestamp::now();
    message_at(key, i, now, now.plus(Duration::from_secs(7 * 24 * 3600)))
}

/// [`message`] made at `created_at`, expiring at `expires_at` (the reconciliation benchmark
/// spreads a million over a month and keeps them on disk for later runs).
pub fn message_at(
    key: &SecretKey,
    i: u64,
    created_at: Timestamp,
    expires_at: Timestamp,
) -> Message {
    let info = |lang: &str| {
        let (headline, description, instruction) = match lang {
            "fr" => (
                format!("Dirigeants des dockers d'Eastport arrêtés #{i}"),
                "La police a arrêté à l'aube quatre dirigeants du syndicat des dockers \
                 d'Eastland après une grève au port d'Eastport. Leurs familles ignorent où ils \
                 sont détenus.",
                "Écrivez au ministre du Travail d'Eastland pour exiger leur libération.",
            ),
            "es" => (
                format!("Detenidos los dirigentes portuarios de Eastport #{i}"),
                "La policía detuvo al amanecer a cuatro dirigentes del sindicato portuario de \
                 Eastland tras una huelga en el puerto de Eastport. Sus familias no saben dónde \
                 están.",
                "Escriba al Ministro de Trabajo de Eastland y exija su liberación.",
            ),
            _ => (
                format!("Eastport dockers' leaders detained #{i}"),
                "Police detained four leaders of the Eastland Dockworkers' Union at dawn after \
                 a strike at the port of Eastport. Their families have not been told where they \
                 are held.",
                "Write to the Minister of Labour of Eastland and demand their release.",
            ),
        };
        Info {
            language: lang.into(),
            headline,
            description: description.into(),
            instruction: instruction.into(),
            link: "https://union.example/eastport".into(),
        }
    };
    let body = Body {
        author: key.public(),
        created_at,
        expires_at: Some(expires_at),
        topics: vec!["union-rights".into(), "ports".into()],
        countries: vec!["AZ".into()],
        effective_at: None,
        content: Content::Alert(Alert {
            status: Status::Actual,
            category: Category::Arrest,
            urgency: Urgency::Immediate,
            severity: Severity::Severe,
            certainty: Certainty::Observed,
            info: vec![info("en"), info("fr"), info("es")],
        }),
    };
    Message::sign(body, key).expect("signing")
}

/// Signs `count` distinct messages (numbered from `from`) on two threads.
pub fn sign_many(keys: &[SecretKey], from: u64, count: u64) -> Vec<SignedMessage> {
    let half = count / 2;
    std::thread::scope(|s| {
        let a = s.spawn(|| {
            (from..from + half)
                .map(|i| {
                    message(&keys[(i % keys.len() as u64) as usize], i)
                        .signed()
                        .clone()
                })
                .collect::<Vec<_>>()
        });
        let b: Vec<SignedMessage> = (from + half..from + count)
            .map(|i| {
                message(&keys[(i % keys.len() as u64) as usize], i)
                    .signed()
                    .clone()
            })
            .collect();
        let mut all = a.join().unwrap();
        all.extend(b);
        all
    })
}

/// Benchmarks measure the hardware, not the abuse limits: plaintext (the nodes are on
/// loopback), no publishing rate limits, and no caps on connections from one address (every
/// client of a benchmark is 127.0.0.1) or on calls per connection.
pub fn unlimited(config: &mut Config) {
    config.tls.mode = tocsin::config::TlsMode::Off;
    let l = &mut config.limits;
    l.connections_per_address = 1_000_000;
    l.connections_per_prefix = 1_000_000;
    l.connects_per_address_per_second = u32::MAX;
    l.connects_per_address_burst = u32::MAX;
    l.streams_per_connection_per_second = u32::MAX;
    l.streams_per_connection_burst = u32::MAX;
    l.publish_per_connection_per_second = u32::MAX;
    l.publish_per_connection_burst = u32::MAX;
    l.publish_per_author_per_second = u32::MAX;
    l.publish_per_author_burst = u32::MAX;
    l.publish_per_address_per_second = u32::MAX;
    l.publish_per_address_burst = u32::MAX;
    l.publish_per_prefix_per_second = u32::MAX;
    l.publish_per_prefix_burst = u32::MAX;
    l.new_authors_per_minute = u32::MAX;
    l.new_authors_burst = u32::MAX;
    // Every client of a benchmark comes from 127.0.0.1, and the fan-out and idle-subscriber
    // phases open 50 subscriptions per connection: the per-address and per-connection caps
    // would refuse them (the stalled-subscriber phase sets the default per-connection cap itself).
    l.subscriptions_per_connection = 1_000_000;
    l.subscriptions_per_address = 1_000_000;
}

/// The `p` quantile of sorted durations (zero when there are none).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The process's resident memory (VmRSS), in KiB; 0 where /proc cannot be read.
#[allow(dead_code)] // not every bench reads it
pub fn rss_kib() -> u64 {
    status_kib("self", "VmRSS:")
}

/// A field in KiB (`VmRSS:`, `VmHWM:`) of `/proc/<pid>/status` (`pid` may be `self`); 0 where
/// it cannot be read.
pub fn status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
