//! Reconnect delays: exponential, capped, with full jitter, reset after a healthy connection.

use std::time::Duration;

/// Exponential backoff with full jitter ("AWS style"): each delay is uniform in
/// [base/2, min(cap, base·2ⁿ)], so many nodes that lost the same peer do not return in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `base`, never waits longer than `cap`.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Backoff {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.cap);
        self.attempt = self.attempt.saturating_add(1);
        let floor = (self.base / 2).min(ceiling);
        let span = ceiling.saturating_sub(floor).as_millis() as u64;
        floor + Duration::from_millis(random_below(span.saturating_add(1)))
    }

    /// After a healthy connection: start again from `base`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A uniform random number below `n` (n ≥ 1); jitter needs no cryptographic quality, but the
/// OS source is there and cheap enough at reconnect rates.
fn random_below(n: u64) -> u64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return n / 2;
    }
    u64::from_le_bytes(b) % n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_caps_jitters_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(60));
        let mut prev_ceiling = Duration::ZERO;
        for n in 0..30 {
            let d = b.next_delay();
            let ceiling =
                (Duration::from_millis(100) * 2u32.pow(n.min(20))).min(Duration::from_secs(60));
            assert!(d >= Duration::from_millis(50) && d <= ceiling, "{n}: {d:?}");
            assert!(ceiling >= prev_ceiling);
            prev_ceiling = ceiling;
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
        // Jitter: a hundred delays at the cap are not all equal.
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        for _ in 0..10 {
            b.next_delay();
        }
        let delays: std::collections::HashSet<_> = (0..100).map(|_| b.next_delay()).collect();
        assert!(delays.len() > 10);
    }
}
