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

/// Messages per second through `Message::open` (decode, validate, `verify_strict`) on
/// `threads` threads for `dur`: the ceiling for ingest on this machine.
pub fn verify_rate(msgs: &[SignedMessage], threads: usize, dur: Duration) -> f64 {
    let started = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let now = Timestamp::now();
                    let mut n = 0u64;
                    let mut i = t * 997;
                    while started.elapsed() < dur {
                        for _ in 0..64 {
                            let m = msgs[i % msgs.len()].clone();
                            std::hint::black_box(Message::open(m, now).expect("valid"));
                            i += 1;
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total as f64 / started.elapsed().as_secs_f64()
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
    let started = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let now = Timestamp::now();
                    let mut keys: HashMap<[u8; 32], VerifyingKey> = HashMap::new();
                    let mut n = 0u64;
                    let mut i = t * 997;
                    while started.elapsed() < dur {
                        let mut inputs = Vec::with_capacity(batch);
                        let mut sigs = Vec::with_capacity(batch);
                        let mut authors = Vec::with_capacity(batch);
                        for _ in 0..batch {
                            let m = msgs[i % msgs.len()].clone();
                            i += 1;
                            let checked = Checked::open(m, now).expect("valid");
                            let author = *checked.body().author.as_bytes();
                            let key = *keys
                                .entry(author)
                                .or_insert_with(|| VerifyingKey::from_bytes(&author).expect("key"));
                            inputs.push([SIGNING_DOMAIN, checked.signed().body()].concat());
                            sigs.push(Signature::from_bytes(checked.signed().signature()));
                            authors.push(key);
                        }
                        let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
                        ed25519_dalek::verify_batch(&refs, &sigs, &authors).expect("valid batch");
                        n += batch as u64;
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total as f64 / started.elapsed().as_secs_f64()
}
