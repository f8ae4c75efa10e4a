//! Timestamps: milliseconds since the Unix epoch, UTC, as on the wire.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time in milliseconds since the Unix epoch (UTC).
///
/// The message core never reads the clock; callers pass `Timestamp::now()` (or a fixed time in
/// tests) into it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current time from the system clock. Call it at the edge, not in the core.
    pub fn now() -> Self {
        Self::from_system(SystemTime::now())
    }

    /// Converts a system time; times before the epoch become the epoch.
    pub fn from_system(t: SystemTime) -> Self {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        Timestamp(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    /// As a system time.
    pub fn to_system(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0)
    }

    /// Milliseconds since the epoch.
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// This time plus a duration, saturating.
    pub fn plus(self, d: Duration) -> Self {
        Timestamp(
            self.0
                .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        )
    }

    /// This time minus a duration, saturating at the epoch.
    pub fn minus(self, d: Duration) -> Self {
        Timestamp(
            self.0
                .saturating_sub(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        )
    }

    /// How long after `earlier` this is (zero if it is not after).
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }

    /// RFC 3339 in UTC with seconds ("2026-11-25T23:36:30Z"). A time after the year 9999,
    /// which RFC 3339 cannot write, is written in milliseconds ("253402300800000 ms since the
    /// epoch"): any u64 can arrive off the wire, so this must not fail.
    pub fn to_rfc3339(self) -> String {
        if self.0 > LAST_RFC3339_MS {
            // humantime's formatter returns an error past 9999-12-31, and `to_string` panics
            // on a formatting error (found by fuzz/, target open_signed).
            return format!("{} ms since the epoch", self.0);
        }
        humantime::format_rfc3339_seconds(self.to_system()).to_string()
    }

    /// Parses RFC 3339 ("2026-12-01T09:00:00Z", or with an offset).
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        humantime::parse_rfc3339_weak(s)
            .ok()
            .map(Self::from_system)
            .or_else(|| parse_with_offset(s))
    }
}

/// 9999-12-31T23:59:59.999Z, the last millisecond with a four-digit year.
const LAST_RFC3339_MS: u64 = 253_402_300_799_999;

/// humantime reads only "Z" times; accept "+02:00"-style offsets as well.
fn parse_with_offset(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if s.len() < 6 {
        return None;
    }
    let (head, tail) = s.split_at(s.len() - 6);
    let sign = match tail.as_bytes()[0] {
        b'+' => 1i64,
        b'-' => -1i64,
        _ => return None,
    };
    let (h, m) = tail[1..].split_once(':')?;
    let offset_min = sign * (h.parse::<i64>().ok()? * 60 + m.parse::<i64>().ok()?);
    let utc = humantime::parse_rfc3339_weak(&format!("{head}Z")).ok()?;
    let ms = i64::try_from(Timestamp::from_system(utc).0).ok()? - offset_min * 60_000;
    u64::try_from(ms).ok().map(Timestamp)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_and_offsets() {
        let t = Timestamp::parse_rfc3339("2026-12-01T09:00:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-01T09:00:00Z");
        let o = Timestamp::parse_rfc3339("2026-12-01T13:00:00+04:00").unwrap();
        assert_eq!(o, t);
        let w = Timestamp::parse_rfc3339("2026-12-01T06:30:00-02:30").unwrap();
        assert_eq!(w, t);
        assert!(Timestamp::parse_rfc3339("tomorrow").is_none());
    }

    #[test]
    fn times_past_the_year_9999_are_written_in_milliseconds() {
        assert_eq!(
            Timestamp(LAST_RFC3339_MS).to_rfc3339(),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(
            Timestamp(LAST_RFC3339_MS + 1).to_string(),
            "253402300800000 ms since the epoch"
        );
        assert_eq!(
            Timestamp(u64::MAX).to_string(),
            "18446744073709551615 ms since the epoch"
        );
    }
}
