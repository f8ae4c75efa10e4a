//! The node's clock: the one place the runtime reads the time, injectable so that tests of
//! expiry, embargo and clock skew run without sleeping.
//!
//! Everything in the node, the gRPC layer, the web gateway and federation asks the node's
//! clock ([`crate::node::Node::now`]) instead of the system's, so a test can start a node whose
//! clock runs minutes behind, or stands still until the test moves it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::message::Timestamp;

/// A source of time for a node. Cheap to clone: clones share the same setting, so a test keeps
/// one and moves the node's time through it.
#[derive(Debug, Clone)]
pub struct Clock {
    source: Arc<Source>,
}

#[derive(Debug)]
enum Source {
    /// The system clock, shifted by this many milliseconds (negative: behind).
    System { offset_ms: AtomicI64 },
    /// A time that moves only when told to.
    Manual { at: AtomicU64 },
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl Clock {
    /// The system clock (what a running node uses).
    pub fn system() -> Clock {
        Clock::skewed(0)
    }

    /// The system clock shifted by `offset_ms` milliseconds (negative: running behind), as a
    /// node whose clock is wrong would read it.
    pub fn skewed(offset_ms: i64) -> Clock {
        Clock {
            source: Arc::new(Source::System {
                offset_ms: AtomicI64::new(offset_ms),
            }),
        }
    }

    /// A clock that stands at `at` until [`Clock::set`] or [`Clock::advance`] moves it.
    pub fn manual(at: Timestamp) -> Clock {
        Clock {
            source: Arc::new(Source::Manual {
                at: AtomicU64::new(at.0),
            }),
        }
    }

    /// The current time by this clock.
    pub fn now(&self) -> Timestamp {
        match &*self.source {
            Source::System { offset_ms } => {
                let sys = Timestamp::now().0;
                let off = offset_ms.load(Ordering::Relaxed);
                Timestamp(sys.saturating_add_signed(off))
            }
            Source::Manual { at } => Timestamp(at.load(Ordering::Relaxed)),
        }
    }

    /// Moves the clock forward by `d` (a system clock: its offset grows by `d`).
    pub fn advance(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        match &*self.source {
            Source::System { offset_ms } => {
                let ms = i64::try_from(ms).unwrap_or(i64::MAX);
                offset_ms.fetch_add(ms, Ordering::Relaxed);
            }
            Source::Manual { at } => {
                at.fetch_add(ms, Ordering::Relaxed);
            }
        }
    }

    /// Sets the clock: a manual clock to `t`; a system clock's offset so that it reads `t` now.
    pub fn set(&self, t: Timestamp) {
        match &*self.source {
            Source::System { offset_ms } => {
                let sys = i128::from(Timestamp::now().0);
                let off = (i128::from(t.0) - sys).clamp(i128::from(i64::MIN), i128::from(i64::MAX));
                offset_ms.store(off as i64, Ordering::Relaxed);
            }
            Source::Manual { at } => at.store(t.0, Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clocks_move_only_when_told_and_clones_share_them() {
        let c = Clock::manual(Timestamp(1_000));
        let shared = c.clone();
        assert_eq!(c.now(), Timestamp(1_000));
        shared.advance(Duration::from_secs(2));
        assert_eq!(c.now(), Timestamp(3_000));
        c.set(Timestamp(10));
        assert_eq!(shared.now(), Timestamp(10));
    }

    #[test]
    fn skewed_clocks_follow_the_system_clock_at_their_offset() {
        let behind = Clock::skewed(-120_000);
        let sys = Timestamp::now().0;
        let t = behind.now().0;
        // Read after `sys`, so at most a little later than sys - 120 s, never earlier.
        assert!(
            t + 120_000 >= sys && t + 120_000 < sys + 5_000,
            "{t} vs {sys}"
        );
        behind.advance(Duration::from_secs(120));
        let t = behind.now().0;
        assert!(t >= sys && t < Timestamp::now().0 + 1, "{t} vs {sys}");
        let c = Clock::system();
        c.set(Timestamp(5_000));
        assert!(c.now().0 >= 5_000 && c.now().0 < 10_000);
    }
}
