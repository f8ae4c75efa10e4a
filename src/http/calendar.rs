//! iCalendar (RFC 5545): `/calendar.ics`, the deadlines and action windows of current calls,
//! for a phone's or a desktop's calendar to subscribe to.
//!
//! One more view of the [`Snapshot`], with the feeds' filters and bounds: one event per current
//! call's deadline, one per action window (start and end both given), each with a UID taken
//! from the original call's id (`<id>-deadline@tocsin`, `<id>-window@tocsin`), so an update
//! changes the event instead of adding one, and `SEQUENCE` counts the updates readers see. A
//! call withdrawn recently stays as `STATUS:CANCELLED` events, so a calendar that holds the
//! event learns to drop it; they carry none of the withdrawn content (not even its times: they
//! are dated at the cancel). Deadlines remind 7 days and 1 day before.
//!
//! The text is written by the `icalendar` crate, which escapes TEXT values, writes CRLF line
//! ends, and folds long lines, though not quite to the bound: a continuation line can reach 76
//! octets. So each event is folded again here (at most 75 octets, never inside a UTF-8
//! character). Also done here: text from a message loses its carriage returns and control
//! characters first (the crate escapes line feeds only), triggers are written as `-P7D` rather
//! than chrono's `-PT604800S`, and alarms get a stable UID and DTSTAMP instead of the crate's random UID and time of
//! writing.

use chrono::{DateTime, Utc};
use icalendar::{Alarm, Calendar, Component, Event, EventLike, EventStatus, Property};
use std::sync::atomic::Ordering;

use crate::message::{ActionCall, Content, Kind, Message, Timestamp};

use super::Gateway;
use super::atom::cancel_matches;
use super::page::{action_label, body_label, kind_label};
use super::query::{Selection, pick_language};
use super::snapshot::{CancelNote, Item, Snapshot};

/// The reminders before a deadline: (days, TRIGGER value).
const REMINDERS: [(u32, &str); 2] = [(7, "-P7D"), (1, "-P1D")];

/// How often a subscribed calendar should ask again (calendars that read it poll rarely
/// otherwise; a cancel should not wait a day).
const REFRESH: &str = "PT1H";

/// Which calendar events a call has: what `/calendar.ics` shows for it, and what a cancel of
/// it withdraws. Kept for a withdrawn call in place of its times, which went with its content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct CallEvents {
    /// It has a deadline.
    pub(super) deadline: bool,
    /// It has an action window with both ends.
    pub(super) window: bool,
}

impl CallEvents {
    /// The events of a version (none for an alert).
    pub(super) fn of(version: &Message) -> CallEvents {
        match version.body().call() {
            Some(call) => CallEvents {
                deadline: call.has_deadline(),
                window: call.has_window(),
            },
            None => CallEvents::default(),
        }
    }
}

impl From<&crate::store::ShownBeforeCancel> for CallEvents {
    /// The events the store kept of a withdrawn call.
    fn from(kept: &crate::store::ShownBeforeCancel) -> Self {
        CallEvents {
            deadline: kept.deadline,
            window: kept.window,
        }
    }
}

/// The UID of one of a call's events: stable through updates (the original's id), and the
/// same on every node, so a reader subscribed to two nodes gets each event once.
pub(super) fn uid(original: &crate::message::Id, what: &str) -> String {
    format!("{}-{what}@tocsin", original.to_hex())
}

/// A message's time as chrono's; `None` beyond chrono's range (no valid message has such).
fn utc(t: Timestamp) -> Option<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_millis(i64::try_from(t.as_millis()).ok()?)
}

/// Text from a message as an iCalendar TEXT value may carry it: line breaks as line feeds (the
/// crate escapes those as `\n`; a carriage return would be written raw and break the line),
/// other control characters but tab as U+FFFD.
fn clean(s: &str) -> String {
    s.replace("\r\n", "\n")
        .chars()
        .map(|c| match c {
            '\r' => '\n',
            '\n' | '\t' => c,
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}

/// The selection the calendar reads: calls alone (only calls have deadlines), under the
/// query's other filters.
pub(super) fn walked(sel: &Selection) -> Selection {
    Selection {
        kinds: vec![Kind::Call],
        ..sel.clone()
    }
}

/// `/calendar.ics`.
pub(super) fn calendar(
    gw: &Gateway,
    snap: &Snapshot,
    sel: &Selection,
    prefs: &[String],
    now: Timestamp,
) -> String {
    let limit = gw.max_items();
    // Only calls have deadlines: a filter for alerts alone leaves the calendar empty.
    let items = if sel.kinds.is_empty() || sel.kinds.contains(&Kind::Call) {
        snap.selected(&walked(sel), now, limit).items
    } else {
        Vec::new()
    };
    let base = gw.base();
    let mut events: Vec<String> = items
        .iter()
        .flat_map(|item| item_events(base, item, sel, prefs, now))
        .collect();
    // Cancels fill the room the items leave, newest first, as in the CAP index.
    let mut cancels: Vec<&CancelNote> = snap
        .cancels
        .values()
        .filter(|c| cancel_matches(c, sel) && c.events != CallEvents::default())
        .map(|c| c.as_ref())
        .collect();
    cancels.sort_by(|a, b| {
        let key = |c: &CancelNote| (c.cancel.body().created_at, c.cancel.id());
        key(b).cmp(&key(a))
    });
    cancels.truncate(limit.saturating_sub(items.len()));
    events.extend(
        cancels
            .into_iter()
            .flat_map(|note| cancel_events(base, note, sel)),
    );
    finish(gw, events)
}

/// The calendar around `events`, within the gateway's byte bound; what is left out is counted.
fn finish(gw: &Gateway, events: Vec<String>) -> String {
    let (text, left_out) = assemble(events, gw.max_feed_bytes());
    if left_out > 0 {
        gw.stats()
            .feed_entries_left_out
            .fetch_add(left_out, Ordering::Relaxed);
    }
    text
}

/// The calendar around `events`, each kept while the whole stays within `cap` bytes (the
/// first come first: trusted authors' calls before the others, then cancels), and how many
/// were left out.
fn assemble(events: Vec<String>, cap: usize) -> (String, u64) {
    let mut head = Calendar::empty();
    head.append_property(("VERSION", "2.0"))
        .append_property((
            "PRODID",
            format!("-//Tocsin//Tocsin {}//EN", env!("CARGO_PKG_VERSION")).as_str(),
        ))
        .append_property(("CALSCALE", "GREGORIAN"))
        .name("Tocsin: deadlines of action calls")
        .append_property(
            Property::new("REFRESH-INTERVAL", REFRESH)
                .add_parameter("VALUE", "DURATION")
                .done(),
        )
        .append_property(("X-PUBLISHED-TTL", REFRESH));
    let head = head.to_string();
    // The crate writes the calendar whole; the events go between its lines and its end.
    const TAIL: &str = "END:VCALENDAR\r\n";
    let mut out = head.strip_suffix(TAIL).unwrap_or(&head).to_string();
    let mut left_out = 0;
    for e in events {
        if out.len() + e.len() + TAIL.len() <= cap {
            out.push_str(&e);
        } else {
            left_out += 1;
        }
    }
    out.push_str(TAIL);
    (out, left_out)
}

/// The events of one current call: its deadline and its action window.
fn item_events(
    base: &str,
    item: &Item,
    sel: &Selection,
    prefs: &[String],
    now: Timestamp,
) -> Vec<String> {
    let current = item.current(now);
    let Some(call) = current.body().call() else {
        return Vec::new();
    };
    let texts = item.texts(now);
    let tags: Vec<&str> = texts.iter().map(|t| t.info.language.as_str()).collect();
    let text = pick_language(&tags, prefs).and_then(|i| texts.get(i));
    let headline = text.map_or_else(
        || kind_label(item.kind()).to_string(),
        |t| clean(&t.info.headline),
    );
    let instruction = text.map(|t| t.info.instruction.as_str()).unwrap_or("");
    let url = format!(
        "{base}{}",
        sel.lang_only().href(&format!("/m/{}", item.id()))
    );
    let shared = Shared {
        // The updates readers see: each one is a new revision of the events.
        sequence: u32::try_from(item.versions(now).count().saturating_sub(1)).unwrap_or(u32::MAX),
        modified: current.body().created_at,
        description: description(call, instruction, &url),
        url,
    };
    let mut out = Vec::new();
    if let Some(deadline) = call.deadline {
        let mut event = shared.event(&uid(&item.id(), "deadline"));
        if let Some(at) = utc(deadline) {
            event.summary(&format!("Deadline: {headline}")).starts(at);
            for (days, trigger) in REMINDERS {
                let what = if days == 1 { "tomorrow" } else { "in 7 days" };
                let mut alarm = Alarm::display(
                    &format!("Deadline {what}: {headline}"),
                    -chrono::Duration::days(i64::from(days)),
                );
                // The crate gives every component a UID and a DTSTAMP, random and the time of
                // writing when not given: stable ones, so the same state reads the same.
                alarm
                    .add_property("TRIGGER", trigger)
                    .add_property("UID", uid(&item.id(), &format!("deadline-{days}d")));
                if let Some(at) = utc(shared.modified) {
                    alarm.timestamp(at);
                }
                event.alarm(alarm);
            }
            out.extend(written(event.status(EventStatus::Confirmed)));
        }
    }
    if let (Some(start), Some(end)) = (call.window_starts_at, call.window_ends_at)
        && let (Some(start), Some(end)) = (utc(start), utc(end))
    {
        let mut event = shared.event(&uid(&item.id(), "window"));
        event
            .summary(&format!("Action window: {headline}"))
            .starts(start)
            .ends(end)
            .status(EventStatus::Confirmed);
        out.extend(written(&event));
    }
    out
}

/// An event's text, folded anew (see [`fold`]). Writing into a `String` cannot fail; were it
/// ever to, the event is left out rather than the calendar.
fn written(event: &Event) -> Option<String> {
    event.try_into_string().ok().map(|text| refold(&text))
}

/// The longest content line, in octets, line break excluded (RFC 5545 §3.1).
const LINE_OCTETS: usize = 75;

/// Text written by the crate, unfolded and folded again by [`fold`]. Unfolding is exact: the
/// crate writes a line break only at the end of a line or in a fold (escaped text has none,
/// and [`clean`] took carriage returns out of what a message said).
fn refold(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 25);
    for line in text.replace("\r\n ", "").split_terminator("\r\n") {
        fold(&mut out, line);
    }
    out
}

/// Writes one content line, folded: at most 75 octets a line, the continuation lines' leading
/// space included, never inside a UTF-8 character. The crate's own folding lets a
/// continuation line reach 76 octets when exactly 75 remain, so it is done here.
fn fold(out: &mut String, line: &str) {
    let mut rest = line;
    let mut room = LINE_OCTETS;
    while rest.len() > room {
        let mut cut = room;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        out.push_str(&rest[..cut]);
        out.push_str("\r\n ");
        rest = &rest[cut..];
        room = LINE_OCTETS - 1;
    }
    out.push_str(rest);
    out.push_str("\r\n");
}

/// What the events of one call have in common.
struct Shared {
    sequence: u32,
    modified: Timestamp,
    description: String,
    url: String,
}

impl Shared {
    fn event(&self, uid: &str) -> Event {
        let mut event = Event::new();
        event.uid(uid).sequence(self.sequence);
        if let Some(at) = utc(self.modified) {
            event.timestamp(at).last_modified(at);
        }
        event
            .description(&self.description)
            .url(&self.url)
            // A deadline is a moment to remember, not time taken: it leaves the reader free.
            .add_property("TRANSP", "TRANSPARENT");
        event
    }
}

/// What to do, asked of whom, under which conventions, and where to read the whole call.
fn description(call: &ActionCall, instruction: &str, url: &str) -> String {
    let mut parts = Vec::new();
    if !instruction.trim().is_empty() {
        parts.push(clean(instruction.trim()));
    }
    if !call.actions.is_empty() {
        let asked: Vec<&str> = call.actions.iter().map(|a| action_label(*a)).collect();
        parts.push(format!("Asked: {}", asked.join(", ")));
    }
    if !call.target.trim().is_empty() {
        parts.push(format!("Addressed to: {}", clean(call.target.trim())));
    }
    if !call.ilo_conventions.is_empty() {
        // By name, as the feeds show them ("C087 — Freedom of Association … Convention, 1948").
        parts.push(format!(
            "ILO conventions: {}",
            clean(&crate::ilo::describe_all(&call.ilo_conventions))
        ));
    }
    if let Some(b) = call.supervisory_body {
        parts.push(format!("Supervisory body: {}", body_label(b)));
    }
    if let Some(d) = call.deadline {
        parts.push(format!("Deadline: {}", d.to_rfc3339()));
    }
    if let (Some(s), Some(e)) = (call.window_starts_at, call.window_ends_at) {
        parts.push(format!(
            "Action window: {} to {}",
            s.to_rfc3339(),
            e.to_rfc3339()
        ));
    }
    parts.push(format!("The whole call: {url}"));
    parts.join("\n\n")
}

/// The events a recent cancel withdraws: the same UIDs, a sequence past every update, and
/// nothing of the withdrawn content (dated at the cancel, named only as withdrawn).
fn cancel_events(base: &str, note: &CancelNote, sel: &Selection) -> Vec<String> {
    let cancel = note.cancel.body();
    let Some(at) = utc(cancel.created_at) else {
        return Vec::new();
    };
    let reason = match &cancel.content {
        Content::Cancel(c) if !c.reason.trim().is_empty() => clean(c.reason.trim()),
        _ => "No reason given.".to_string(),
    };
    let url = format!(
        "{base}{}",
        sel.lang_only().href(&format!("/m/{}", note.target))
    );
    let sequence = u32::try_from(note.updates.len().saturating_add(1)).unwrap_or(u32::MAX);
    let mut out = Vec::new();
    for (has, what) in [
        (note.events.deadline, "deadline"),
        (note.events.window, "window"),
    ] {
        if !has {
            continue;
        }
        let mut event = Event::new();
        event
            .uid(&uid(&note.target, what))
            .sequence(sequence)
            .timestamp(at)
            .last_modified(at)
            .summary("Withdrawn by its author")
            .description(&format!("Withdrawn by its author: {reason}\n\n{url}"))
            .url(&url)
            .starts(at)
            .add_property("TRANSP", "TRANSPARENT")
            .status(EventStatus::Cancelled);
        out.extend(written(&event));
    }
    out
}

#[cfg(test)]
mod tests;
