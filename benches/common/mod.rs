//! What the benchmarks share: the knobs, and the verification ceiling every ratio is taken to.

use std::time::{Duration, Instant};

use tocsin::message::{Message, SignedMessage, Timestamp};

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
