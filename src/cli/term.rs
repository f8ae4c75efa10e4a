//! Terminal manners: colour only on a terminal and never with `NO_COLOR`, local and relative
//! times, the confirmation prompt, and a progress line on stderr for long work.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::message::Timestamp;

/// Whether the environment allows colour at all (<https://no-color.org>: set and not empty).
pub(crate) fn colour_allowed() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    !no_color && !dumb
}

/// ANSI styling, on or off as a whole.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Style {
    on: bool,
}

impl Style {
    /// Colour when standard output is a terminal and colour is allowed.
    pub(crate) fn stdout() -> Style {
        Style {
            on: std::io::stdout().is_terminal() && colour_allowed(),
        }
    }

    /// Colour when standard error is a terminal and colour is allowed.
    pub(crate) fn stderr() -> Style {
        Style {
            on: std::io::stderr().is_terminal() && colour_allowed(),
        }
    }

    /// No styling (for tests and plain text).
    #[cfg(test)]
    pub(crate) fn plain() -> Style {
        Style { on: false }
    }

    fn paint(self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// Bold.
    pub(crate) fn bold(self, s: &str) -> String {
        self.paint("1", s)
    }

    /// Faint, for metadata.
    pub(crate) fn dim(self, s: &str) -> String {
        self.paint("2", s)
    }

    /// Bold red, for what threatens life or liberty.
    pub(crate) fn alarm(self, s: &str) -> String {
        self.paint("1;31", s)
    }

    /// Yellow, for warnings and withdrawals.
    pub(crate) fn warn(self, s: &str) -> String {
        self.paint("33", s)
    }

    /// Green, for support.
    pub(crate) fn good(self, s: &str) -> String {
        self.paint("32", s)
    }

    /// Cyan, for kinds and labels.
    pub(crate) fn label(self, s: &str) -> String {
        self.paint("1;36", s)
    }
}

/// Local time as the reader's system sets it (`TZ`, else /etc/localtime), and "now" for
/// relative times.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    tz: jiff::tz::TimeZone,
    now: Timestamp,
}

impl Clock {
    /// The system's time zone, read once, and the current time.
    pub(crate) fn system() -> Clock {
        Clock {
            tz: jiff::tz::TimeZone::system(),
            now: Timestamp::now(),
        }
    }

    /// A fixed zone and time (tests).
    #[cfg(test)]
    pub(crate) fn fixed(tz: jiff::tz::TimeZone, now: Timestamp) -> Clock {
        Clock { tz, now }
    }

    /// Moves "now" forward (a live feed runs for hours).
    pub(crate) fn tick(&mut self) {
        self.now = Timestamp::now();
    }

    /// "now", as this clock sees it.
    pub(crate) fn now(&self) -> Timestamp {
        self.now
    }

    /// "Wed 2026-03-04 13:05 +04", in the reader's zone.
    pub(crate) fn local(&self, t: Timestamp) -> String {
        let ms = i64::try_from(t.as_millis()).unwrap_or(i64::MAX);
        match jiff::Timestamp::from_millisecond(ms) {
            Ok(ts) => ts
                .to_zoned_datetime(self.tz.clone())
                .strftime("%a %Y-%m-%d %H:%M %Z")
                .to_string(),
            Err(_) => t.to_rfc3339(),
        }
    }

    /// "in 3 days" or "2 hours ago".
    pub(crate) fn relative(&self, t: Timestamp) -> String {
        if t >= self.now {
            let d = t.since(self.now);
            if d < Duration::from_secs(60) {
                "in less than a minute".into()
            } else {
                format!("in {}", span(d))
            }
        } else {
            let d = self.now.since(t);
            if d < Duration::from_secs(60) {
                "just now".into()
            } else {
                format!("{} ago", span(d))
            }
        }
    }

    /// "today" or "tomorrow" when `t` falls on that day in the reader's zone.
    pub(crate) fn day_word(&self, t: Timestamp) -> Option<&'static str> {
        let day = |t: Timestamp| {
            let ms = i64::try_from(t.as_millis()).ok()?;
            let ts = jiff::Timestamp::from_millisecond(ms).ok()?;
            Some(ts.to_zoned_datetime(self.tz.clone()).date())
        };
        let (today, then) = (day(self.now)?, day(t)?);
        if then == today {
            Some("today")
        } else if today.tomorrow().ok() == Some(then) {
            Some("tomorrow")
        } else {
            None
        }
    }

    /// "Wed 2026-03-04 13:05 +04 (2 hours ago)".
    pub(crate) fn when(&self, t: Timestamp) -> String {
        format!("{} ({})", self.local(t), self.relative(t))
    }

    /// "deadline in 3 days (Fri 2026-03-06 23:59 +04)" or "deadline passed 2 days ago (…)".
    pub(crate) fn deadline(&self, what: &str, t: Timestamp) -> String {
        if t >= self.now {
            format!("{what} {} ({})", self.relative(t), self.local(t))
        } else {
            format!("{what} passed {} ({})", self.relative(t), self.local(t))
        }
    }
}

/// A duration in the largest unit that keeps it readable: "1 minute", "5 hours", "3 days".
fn span(d: Duration) -> String {
    // Rounded to the nearest unit: a deadline 9 days 23 hours away is "10 days" away.
    let s = d.as_secs();
    let round = |unit: u64| (s + unit / 2) / unit;
    let (n, unit) = if s < 3600 - 30 {
        (round(60), "minute")
    } else if s < 48 * 3600 - 1800 {
        (round(3600), "hour")
    } else if s < 120 * 86400 {
        (round(86400), "day")
    } else if s < 18 * 30 * 86400 {
        (round(30 * 86400), "month")
    } else {
        (round(365 * 86400), "year")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// Whether to ask before signing: only when a person is at a terminal on both ends.
pub(crate) fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stdout().is_terminal()
}

/// [`confirm`], and "no" stops the command (exit 1): nothing was sent. `verb` is what "y"
/// would have done ("send", "publish").
pub(crate) fn confirm_or_stop(summary: &str, question: &str, verb: &str) -> anyhow::Result<()> {
    if confirm(summary, question)? {
        Ok(())
    } else {
        Err(super::Failure::failed(format!(
            "nothing was sent (answer y to {verb}; --yes skips the question)"
        ))
        .into())
    }
}

/// Shows `summary` on stderr and asks `question [y/N]` on the terminal.
pub(crate) fn confirm(summary: &str, question: &str) -> std::io::Result<bool> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut err = std::io::stderr().lock();
    write!(err, "{summary}")?;
    ask(&mut input, &mut err, question)
}

/// Asks `question [y/N]`: only "y" or "yes" means yes; anything else, or no answer, is no.
pub(crate) fn ask(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    question: &str,
) -> std::io::Result<bool> {
    write!(out, "{question} [y/N] ")?;
    out.flush()?;
    let mut line = String::new();
    input.read_line(&mut line)?;
    let answer = line.trim().to_ascii_lowercase();
    Ok(answer == "y" || answer == "yes")
}

/// A one-line progress display on stderr, drawn only when stderr is a terminal and at most
/// ten times a second.
#[derive(Debug)]
pub(crate) struct Progress {
    on: bool,
    label: String,
    last: Option<Instant>,
    drawn: bool,
}

impl Progress {
    /// A progress line labelled `label` ("exporting").
    pub(crate) fn new(label: &str) -> Progress {
        Progress {
            on: std::io::stderr().is_terminal(),
            label: label.to_string(),
            last: None,
            drawn: false,
        }
    }

    /// Shows `done` of `total` (when known) and a detail such as "1234 messages".
    pub(crate) fn set(&mut self, done: u64, total: Option<u64>, detail: &str) {
        if !self.on {
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|l| now.duration_since(l) < Duration::from_millis(100))
        {
            return;
        }
        self.last = Some(now);
        let line = bar(&self.label, done, total, detail);
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.drawn = true;
    }

    /// Clears the line, so the summary that follows starts clean.
    pub(crate) fn finish(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A count with its noun: "1 message", "3 messages".
pub(crate) fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A size in bytes as a reader takes it in: "812 B", "2.1 KiB", "34.5 MiB", "1.2 GiB".
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// "exporting [##########··········]  50% 1234 messages".
fn bar(label: &str, done: u64, total: Option<u64>, detail: &str) -> String {
    const WIDTH: u64 = 24;
    match total {
        Some(total) if total > 0 => {
            let done = done.min(total);
            let filled = done * WIDTH / total;
            let pct = done * 100 / total;
            format!(
                "{label} [{}{}] {pct:>3}% {detail}",
                "#".repeat(filled as usize),
                "·".repeat((WIDTH - filled) as usize)
            )
        }
        _ => format!("{label} {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_shown_in_the_unit_that_fits() {
        assert_eq!(size(812), "812 B");
        assert_eq!(size(2150), "2.1 KiB");
        assert_eq!(size(35 * 1024 * 1024 + 600 * 1024), "35.6 MiB");
        assert_eq!(size(3 << 40), "3072.0 GiB");
    }

    #[test]
    fn spans_read_naturally() {
        assert_eq!(span(Duration::from_secs(60)), "1 minute");
        assert_eq!(span(Duration::from_secs(5 * 3600 + 10)), "5 hours");
        assert_eq!(span(Duration::from_secs(3 * 86400 + 7)), "3 days");
        assert_eq!(span(Duration::from_secs(200 * 86400)), "7 months");
        assert_eq!(span(Duration::from_secs(10 * 86400 - 5)), "10 days");
        assert_eq!(span(Duration::from_secs(3599)), "1 hour");
        assert_eq!(span(Duration::from_secs(730 * 86400 - 60)), "2 years");
    }

    #[test]
    fn relative_times_and_deadlines() {
        let now = Timestamp::parse_rfc3339("2026-03-04T09:00:00Z").unwrap();
        let tz = jiff::tz::TimeZone::fixed(jiff::tz::offset(4));
        let clock = Clock::fixed(tz, now);
        let later = now.plus(Duration::from_secs(3 * 86400));
        assert_eq!(clock.relative(later), "in 3 days");
        assert_eq!(
            clock.deadline("deadline", later),
            "deadline in 3 days (Sat 2026-03-07 13:00 +04)"
        );
        let earlier = now.minus(Duration::from_secs(2 * 3600));
        assert_eq!(clock.relative(earlier), "2 hours ago");
        assert!(
            clock
                .deadline("deadline", earlier)
                .starts_with("deadline passed 2 hours ago")
        );
        assert_eq!(clock.relative(now), "in less than a minute");
    }

    #[test]
    fn only_y_means_yes() {
        for (answer, yes) in [
            ("y\n", true),
            ("YES\n", true),
            ("n\n", false),
            ("\n", false),
            ("", false),
        ] {
            let mut out = Vec::new();
            let got = ask(&mut answer.as_bytes(), &mut out, "Sign and send?").unwrap();
            assert_eq!(got, yes, "{answer:?}");
            assert_eq!(String::from_utf8(out).unwrap(), "Sign and send? [y/N] ");
        }
    }

    #[test]
    fn progress_bar_shape() {
        assert_eq!(
            bar("exporting", 50, Some(100), "50 messages"),
            format!(
                "exporting [{}{}]  50% 50 messages",
                "#".repeat(12),
                "·".repeat(12)
            )
        );
        assert_eq!(
            bar("importing", 5, None, "5 messages"),
            "importing 5 messages"
        );
    }
}
