//! What the benchmarks share: the knobs, and the verification ceiling every ratio is taken to.

// Each benchmark is its own crate and uses only part of this.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use std::collections::HashMap;

use ed25519_dalek::{Signature, VerifyingKey};
use tocsin::message::{Checked, Message, SIGNING_DOMAIN, SignedMessage, Timestamp};

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
