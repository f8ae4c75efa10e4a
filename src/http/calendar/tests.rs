//! The calendar's text: folding, escaping, UIDs, SEQUENCE, cancels, alarms, the byte bound.

use std::time::Duration;

use super::*;
use crate::message::{
    ActionType, Alert, Body, Cancel, Category, Certainty, Id, Info, SecretKey, Severity, Status,
    SupervisoryBody, Update, UpdateContent, Urgency,
};

const DAY: Duration = Duration::from_secs(24 * 3600);
const BASE: &str = "https://tocsin.example.org";

/// 2026-03-02T09:00:00Z.
fn start() -> Timestamp {
    Timestamp(1_772_442_000_000)
}

fn key() -> SecretKey {
    SecretKey::from_seed(&[7; 32])
}

fn call_content(headline: &str, instruction: &str, at: Timestamp) -> ActionCall {
    ActionCall {
        base: Alert {
            status: Status::Actual,
            category: Category::Dismissal,
            urgency: Urgency::Expected,
            severity: Severity::Moderate,
            certainty: Certainty::Observed,
            info: vec![Info {
                language: "en".into(),
                headline: headline.into(),
                description: "Twelve organisers of the Westland Textile Union were dismissed."
                    .into(),
                instruction: instruction.into(),
                link: String::new(),
            }],
        },
        actions: vec![ActionType::IloObservation, ActionType::Letter],
        target: "Ministry of Labour of Westland".into(),
        window_starts_at: Some(at.plus(DAY)),
        window_ends_at: Some(at.plus(DAY * 20)),
        deadline: Some(at.plus(DAY * 21)),
        ilo_conventions: vec!["C087".into(), "C098".into()],
        supervisory_body: Some(SupervisoryBody::Ceacr),
        goals: Vec::new(),
    }
}

fn signed(content: Content, at: Timestamp, effective_at: Option<Timestamp>) -> Message {
    let key = key();
    let body = Body {
        author: key.public(),
        created_at: at,
        expires_at: Some(at.plus(DAY * 60)),
        topics: vec!["ilo".into()],
        countries: vec!["GE".into()],
        effective_at,
        content,
    };
    Message::sign(body, &key).expect("signing a test body")
}

fn call(headline: &str, instruction: &str) -> Message {
    signed(
        Content::Call(call_content(headline, instruction, start())),
        start(),
        None,
    )
}

fn update(
    original: &Message,
    headline: &str,
    at: Timestamp,
    effective_at: Option<Timestamp>,
) -> Message {
    signed(
        Content::Update(Update {
            supersedes: original.id(),
            content: UpdateContent::Call(call_content(headline, "Write today.", start())),
        }),
        at,
        effective_at,
    )
}

fn item(original: Message, updates: Vec<Message>) -> Item {
    Item {
        seq: 1,
        original,
        updates,
        translations: Vec::new(),
        endorsers: Vec::new(),
        tally: Default::default(),
    }
}

fn events_of(item: &Item, now: Timestamp) -> Vec<String> {
    item_events(BASE, item, &Selection::default(), &["en".into()], now)
}

/// The calendar's content lines, unfolded (RFC 5545 §3.1).
fn unfolded(text: &str) -> Vec<String> {
    text.replace("\r\n ", "")
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn value<'a>(lines: &'a [String], name: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix(name))
        .filter_map(|l| l.strip_prefix(':'))
        .collect()
}

#[test]
fn a_call_has_a_deadline_and_a_window_with_stable_uids() {
    let c = call("Write to the Minister of Labour", "Send the model letter.");
    let events = events_of(&item(c.clone(), Vec::new()), start());
    assert_eq!(events.len(), 2);
    let deadline = unfolded(&events[0]);
    assert_eq!(deadline.first().map(String::as_str), Some("BEGIN:VEVENT"));
    assert_eq!(
        value(&deadline, "UID")[0],
        format!("{}-deadline@tocsin", c.id().to_hex())
    );
    assert_eq!(value(&deadline, "SEQUENCE"), ["0"]);
    assert_eq!(value(&deadline, "STATUS"), ["CONFIRMED"]);
    // 2026-03-02T09:00Z + 21 days.
    assert_eq!(value(&deadline, "DTSTART"), ["20260323T090000Z"]);
    assert_eq!(value(&deadline, "DTSTAMP"), ["20260302T090000Z"; 3]);
    assert_eq!(value(&deadline, "LAST-MODIFIED"), ["20260302T090000Z"]);
    assert_eq!(
        value(&deadline, "SUMMARY"),
        ["Deadline: Write to the Minister of Labour"]
    );
    assert_eq!(
        value(&deadline, "URL"),
        [format!("{BASE}/m/{}", c.id().to_hex())]
    );
    let description = value(&deadline, "DESCRIPTION").join("");
    for part in [
        "Send the model letter.",
        "Addressed to: Ministry of Labour of Westland",
        "ILO conventions: C087 — Freedom of Association and Protection of the Right to Organise Convention\\, 1948\\; C098 —",
        "File ILO observations",
    ] {
        assert!(description.contains(part), "{part} in {description}");
    }

    let window = unfolded(&events[1]);
    assert_eq!(
        value(&window, "UID"),
        [format!("{}-window@tocsin", c.id().to_hex())]
    );
    assert_eq!(value(&window, "DTSTART"), ["20260303T090000Z"]);
    assert_eq!(value(&window, "DTEND"), ["20260322T090000Z"]);
    assert!(!window.iter().any(|l| l == "BEGIN:VALARM"));
}

#[test]
fn deadlines_remind_a_week_and_a_day_before() {
    let item = item(call("Observations to the CEACR", ""), Vec::new());
    let events = events_of(&item, start());
    let lines = unfolded(&events[0]);
    assert_eq!(lines.iter().filter(|l| *l == "BEGIN:VALARM").count(), 2);
    assert_eq!(value(&lines, "TRIGGER"), ["-P7D", "-P1D"]);
    assert_eq!(value(&lines, "ACTION"), ["DISPLAY", "DISPLAY"]);
    // The alarms' UIDs are the same at every rendering (the crate's own would be random).
    assert_eq!(
        value(&lines, "UID"),
        [
            uid(&item.id(), "deadline"),
            uid(&item.id(), "deadline-7d"),
            uid(&item.id(), "deadline-1d")
        ]
    );
    assert_eq!(value(&lines, "DTSTAMP"), ["20260302T090000Z"; 3]);
    // Each alarm says what it is about: DISPLAY requires a DESCRIPTION (RFC 5545 §3.6.6).
    let descriptions = value(&lines, "DESCRIPTION");
    assert!(descriptions.contains(&"Deadline in 7 days: Observations to the CEACR"));
    assert!(descriptions.contains(&"Deadline tomorrow: Observations to the CEACR"));
}

#[test]
fn an_update_keeps_the_uid_and_raises_the_sequence_once_readers_see_it() {
    let c = call("Write to the Minister", "");
    let later = start().plus(DAY);
    let seen = update(&c, "Write to the Minister: two still held", later, None);
    let held = update(&c, "Held back until noon", later, Some(later.plus(DAY)));
    let item = item(c.clone(), vec![seen, held]);
    let lines = unfolded(&events_of(&item, later)[0]);
    assert_eq!(
        value(&lines, "UID")[0],
        format!("{}-deadline@tocsin", c.id().to_hex())
    );
    // The embargoed update does not count until its time.
    assert_eq!(value(&lines, "SEQUENCE"), ["1"]);
    assert_eq!(
        value(&lines, "SUMMARY"),
        ["Deadline: Write to the Minister: two still held"]
    );
    assert_eq!(value(&lines, "LAST-MODIFIED"), ["20260303T090000Z"]);
    let lines = unfolded(&events_of(&item, later.plus(DAY * 2))[0]);
    assert_eq!(value(&lines, "SEQUENCE"), ["2"]);
    assert_eq!(value(&lines, "SUMMARY"), ["Deadline: Held back until noon"]);
}

#[test]
fn text_is_escaped_and_carriage_returns_never_break_a_line() {
    let c = call(
        "Strike fund; pay, don't wait \\ now",
        "First line\r\nsecond line\rthird\u{7}",
    );
    let events = events_of(&item(c, Vec::new()), start());
    let raw = &events[0];
    // Every line ends in CRLF, and no carriage return stands anywhere else.
    assert!(raw.ends_with("\r\n"));
    assert_eq!(raw.matches('\r').count(), raw.matches("\r\n").count());
    let lines = unfolded(raw);
    assert_eq!(
        value(&lines, "SUMMARY"),
        ["Deadline: Strike fund\\; pay\\, don't wait \\\\ now"]
    );
    let description = value(&lines, "DESCRIPTION").join("");
    assert!(
        description.starts_with("First line\\nsecond line\\nthird\u{FFFD}\\n\\n"),
        "{description}"
    );
}

#[test]
fn long_lines_are_folded_at_75_octets_without_splitting_characters() {
    // Lengths around the fold points, in ASCII and in three-byte characters.
    for n in 60..200 {
        for headline in ["x".repeat(n), "ნ".repeat(n / 2)] {
            let events = events_of(
                &item(call(&headline, &"y".repeat(n * 2)), Vec::new()),
                start(),
            );
            for e in &events {
                for line in e.split("\r\n") {
                    assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
                }
                // Unfolding gives the headline back whole (no character was cut).
                assert!(unfolded(e).iter().any(|l| l.ends_with(&headline)));
            }
        }
    }
}

#[test]
fn a_cancel_withdraws_the_events_it_had_and_shows_none_of_the_content() {
    let c = call("Write to the Minister", "Secret plan");
    let later = start().plus(DAY);
    let cancel = signed(
        Content::Cancel(Cancel {
            target: c.id(),
            reason: "Names were published by mistake".into(),
        }),
        later,
        None,
    );
    let note = CancelNote {
        cancel,
        target: c.id(),
        target_author: *c.author(),
        target_sent: start(),
        updates: vec![(Id::of(b"an update"), *c.author(), later)],
        shown_as: Some((Kind::Call, vec!["GE".into()], vec!["ilo".into()])),
        events: CallEvents::of(&c),
    };
    let events = cancel_events(BASE, &note, &Selection::default());
    assert_eq!(events.len(), 2);
    for (e, what) in events.iter().zip(["deadline", "window"]) {
        let lines = unfolded(e);
        assert_eq!(value(&lines, "UID"), [uid(&c.id(), what)]);
        assert_eq!(value(&lines, "STATUS"), ["CANCELLED"]);
        // Past the one update the calendar may have seen.
        assert_eq!(value(&lines, "SEQUENCE"), ["2"]);
        assert_eq!(value(&lines, "DTSTART"), ["20260303T090000Z"]);
        assert!(e.contains("Names were published by mistake"));
        assert!(!e.contains("Write to the Minister") && !e.contains("Secret plan"));
        assert!(
            !e.contains("20260323"),
            "the deadline went with the content"
        );
    }
    let window_only = CancelNote {
        events: CallEvents {
            deadline: false,
            window: true,
        },
        ..note
    };
    let events = cancel_events(BASE, &window_only, &Selection::default());
    assert_eq!(events.len(), 1);
    assert_eq!(
        value(&unfolded(&events[0]), "UID"),
        [uid(&c.id(), "window")]
    );
}

#[test]
fn the_calendar_is_bounded_in_bytes_and_well_formed() {
    let events: Vec<String> = (0..10)
        .flat_map(|n| events_of(&item(call(&format!("Call {n}"), ""), Vec::new()), start()))
        .collect();
    let each = events[0].len();
    let (whole, left_out) = assemble(events.clone(), usize::MAX);
    assert_eq!(left_out, 0);
    let lines = unfolded(&whole);
    assert_eq!(lines.first().map(String::as_str), Some("BEGIN:VCALENDAR"));
    assert_eq!(lines.last().map(String::as_str), Some("END:VCALENDAR"));
    assert_eq!(value(&lines, "VERSION"), ["2.0"]);
    assert!(lines.iter().any(|l| l.starts_with("PRODID:-//Tocsin//")));
    assert_eq!(lines.iter().filter(|l| *l == "BEGIN:VEVENT").count(), 20);
    let (cut, left_out) = assemble(events, whole.len() - each);
    assert!(cut.len() <= whole.len() - each);
    assert!(left_out >= 1);
    assert!(cut.ends_with("END:VCALENDAR\r\n"));
    assert_eq!(
        unfolded(&cut)
            .iter()
            .filter(|l| *l == "BEGIN:VEVENT")
            .count() as u64,
        20 - left_out
    );
}

#[test]
fn an_alert_has_no_events() {
    let a = signed(
        Content::Alert(call_content("An alert", "", start()).base),
        start(),
        None,
    );
    assert!(events_of(&item(a.clone(), Vec::new()), start()).is_empty());
    assert_eq!(CallEvents::of(&a), CallEvents::default());
}
