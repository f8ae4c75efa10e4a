//! What is due, in order, in the reader's zone, with relative times.

use std::time::Duration;

use super::*;
use crate::message::{
    ActionType, Alert, Body, Category, Certainty, Info, SecretKey, Severity, Status, Update,
    UpdateContent, Urgency,
};

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// Wed 2026-03-04 10:00 in UTC+4 (06:00Z).
fn now() -> Timestamp {
    Timestamp(1_772_604_000_000)
}

fn clock() -> Clock {
    Clock::fixed(jiff::tz::TimeZone::fixed(jiff::tz::offset(4)), now())
}

fn key() -> SecretKey {
    SecretKey::from_seed(&[9; 32])
}

fn content(
    headline: &str,
    deadline: Option<Timestamp>,
    window_ends: Option<Timestamp>,
) -> ActionCall {
    ActionCall {
        base: Alert {
            status: Status::Actual,
            category: Category::Dismissal,
            urgency: Urgency::Expected,
            severity: Severity::Moderate,
            certainty: Certainty::Observed,
            info: vec![
                Info {
                    language: "en".into(),
                    headline: headline.into(),
                    description: "Organisers of the Westland Textile Union were dismissed.".into(),
                    ..Info::default()
                },
                Info {
                    language: "fr".into(),
                    headline: format!("{headline} (fr)"),
                    description: "Des organisateurs ont été licenciés.".into(),
                    ..Info::default()
                },
            ],
        },
        actions: vec![ActionType::Letter],
        target: "Ministry of Labour of Westland".into(),
        window_starts_at: window_ends.map(|_| now().minus(DAY)),
        window_ends_at: window_ends,
        deadline,
        ilo_conventions: vec!["C087".into()],
        supervisory_body: None,
        goals: Vec::new(),
    }
}

fn message(content: Content) -> Message {
    let key = key();
    let body = Body {
        author: key.public(),
        created_at: now().minus(DAY),
        expires_at: Some(now().plus(DAY * 90)),
        topics: vec![],
        countries: vec!["GE".into()],
        effective_at: None,
        content,
    };
    Message::sign(body, &key).expect("signing a test body")
}

fn call(
    headline: &str,
    deadline: Option<Timestamp>,
    window_ends: Option<Timestamp>,
) -> CurrentCall {
    let m = message(Content::Call(content(headline, deadline, window_ends)));
    CurrentCall {
        id: m.id(),
        current: m,
    }
}

#[test]
fn what_is_due_comes_soonest_first_and_the_past_only_when_asked() {
    let calls = vec![
        call("In ten days", Some(now().plus(DAY * 10)), None),
        call("Passed", Some(now().minus(DAY * 2)), None),
        call(
            "Window then deadline",
            Some(now().plus(DAY * 3)),
            Some(now().plus(DAY)),
        ),
        call("No dates", None, None),
    ];
    let ahead = due(&calls, now(), false);
    let order: Vec<(&str, DueKind)> = ahead
        .iter()
        .map(|d| (d.call.current.body().info()[0].headline.as_str(), d.kind))
        .collect();
    assert_eq!(
        order,
        [
            ("Window then deadline", DueKind::WindowEnd),
            ("Window then deadline", DueKind::Deadline),
            ("In ten days", DueKind::Deadline),
        ]
    );
    let all = due(&calls, now(), true);
    assert_eq!(all.len(), 4);
    assert_eq!(all[0].call.current.body().info()[0].headline, "Passed");
}

#[test]
fn an_updates_dates_replace_the_originals() {
    let original = message(Content::Call(content("Old", Some(now().plus(DAY)), None)));
    let update = message(Content::Update(Update {
        supersedes: original.id(),
        content: UpdateContent::Call(content("New", Some(now().plus(DAY * 5)), None)),
    }));
    let calls = vec![CurrentCall {
        id: original.id(),
        current: update,
    }];
    let items = due(&calls, now(), false);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].at, now().plus(DAY * 5));
    assert_eq!(items[0].call.id, original.id());
}

#[test]
fn relative_times_say_today_tomorrow_and_how_long() {
    let clock = clock();
    assert_eq!(relative(&clock, now().plus(HOUR * 5)), "today, in 5 hours");
    // 14:00 tomorrow in UTC+4.
    assert_eq!(
        relative(&clock, now().plus(HOUR * 28)),
        "tomorrow, in 28 hours"
    );
    assert_eq!(relative(&clock, now().plus(DAY * 3)), "in 3 days");
    assert_eq!(relative(&clock, now().minus(DAY * 2)), "2 days ago");
    // 23:00 today in UTC+4 is still today; 01:00 is tomorrow, only 15 hours away.
    assert_eq!(
        relative(&clock, now().plus(HOUR * 13)),
        "today, in 13 hours"
    );
    assert_eq!(
        relative(&clock, now().plus(HOUR * 15)),
        "tomorrow, in 15 hours"
    );
}

#[test]
fn the_listing_is_in_local_time_and_the_readers_language() {
    let calls = vec![call(
        "Write to the Minister",
        Some(now().plus(DAY * 3)),
        None,
    )];
    let items = due(&calls, now(), false);
    let names = Names::default();
    let out = text(&items, &clock(), &names, &["fr".into()], Style::plain());
    assert!(
        out.starts_with("in 3 days · Sat 2026-03-07 10:00 +04 · deadline\n"),
        "{out}"
    );
    assert!(out.contains("\n  Write to the Minister (fr)\n"), "{out}");
    assert!(out.contains("to Ministry of Labour of Westland"), "{out}");
    assert!(
        out.contains(&format!("tocsin show {}", calls[0].id.short())),
        "{out}"
    );

    let j = json(&items[0], &clock(), &["en".into()]);
    assert_eq!(j["what"], "deadline");
    assert_eq!(j["due_at"], now().plus(DAY * 3).to_rfc3339());
    assert_eq!(j["in_seconds"], 3 * 86_400);
    assert_eq!(j["headline"], "Write to the Minister");
    assert_eq!(j["id"], calls[0].id.to_hex());
}

#[test]
fn only_calls_have_deadlines() {
    let err = calls_filter(&FilterArgs {
        kinds: vec!["alert".into()],
        ..FilterArgs::default()
    })
    .unwrap_err();
    assert_eq!(err.downcast_ref::<Failure>().map(|f| f.code), Some(2));
    assert!(
        err.to_string().contains("only calls have deadlines"),
        "{err}"
    );
    let ok = calls_filter(&FilterArgs {
        kinds: vec!["call".into()],
        countries: vec!["ge".into()],
        ..FilterArgs::default()
    })
    .unwrap();
    assert_eq!(ok.kinds, [Kind::Call]);
    assert_eq!(ok.countries, ["GE"]);
    assert_eq!(
        calls_filter(&FilterArgs::default()).unwrap().kinds,
        [Kind::Call]
    );
}
