//! `Tally::of` as a pure function: which report of an author counts, sums that saturate,
//! currencies kept apart, filings counted as observations, the orders promised, and nothing.

use super::*;
use crate::message::{Body, SecretKey, SupervisoryBody};

const T0: Timestamp = Timestamp(1_800_000_000_000);
const TARGET: Id = Id([7; 32]);

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

fn count(measure: Measure, value: u64, currency: &str) -> Count {
    Count {
        measure,
        value,
        currency: currency.into(),
    }
}

fn filing(days_before: u64) -> Filing {
    Filing {
        body: SupervisoryBody::Ceacr,
        filed_at: Timestamp(T0.0 - days_before * 86_400_000),
        reference: "Observation on C087".into(),
    }
}

/// A report by `k`, made `ms` after T0, with `counts` and `filings`, as the node holds it.
fn reported(
    k: &SecretKey,
    ms: u64,
    counts: Vec<Count>,
    filings: Vec<Filing>,
    country: &str,
) -> Reported {
    let body = Body {
        author: k.public(),
        created_at: Timestamp(T0.0 + ms),
        expires_at: Some(Timestamp(T0.0 + 86_400_000)),
        topics: vec![],
        countries: vec![],
        effective_at: None,
        content: Content::Report(ActionReport {
            target: TARGET,
            counts,
            filings,
            as_of: None,
            statement: String::new(),
            evidence: String::new(),
        }),
    };
    Reported {
        message: Message::sign(body, k).expect("sign"),
        name: format!("Fictional Union {}", k.public()),
        country: country.into(),
    }
}

fn letters(k: &SecretKey, ms: u64, n: u64, country: &str) -> Reported {
    reported(k, ms, vec![count(Measure::Letters, n, "")], vec![], country)
}

fn goal(measure: Measure, target: u64, currency: &str) -> Goal {
    Goal {
        measure,
        target,
        currency: currency.into(),
    }
}

#[test]
fn nothing_reported_is_an_empty_tally_with_its_goals_at_zero() {
    let t = Tally::of(&[], &[goal(Measure::Letters, 100, "")], &[]);
    assert!(t.is_empty());
    assert_eq!(t.total(Measure::Letters, ""), 0);
    assert!(t.totals.is_empty() && t.countries.is_empty() && t.reports.is_empty());
    assert_eq!(
        (t.goals.len(), t.goals[0].reached, t.goals[0].percent()),
        (1, 0, 0)
    );
}

#[test]
fn only_each_authors_latest_report_counts_whatever_the_order_given() {
    let (a, b) = (key(1), key(2));
    let reports = vec![
        letters(&a, 10, 100, "PT"),
        letters(&a, 30, 340, "PT"),
        letters(&a, 20, 200, "PT"),
        letters(&b, 5, 40, "BR"),
    ];
    let t = Tally::of(&reports, &[], &[]);
    assert_eq!((t.total(Measure::Letters, ""), t.reporters), (380, 2));
    let mut reversed = reports.clone();
    reversed.reverse();
    assert_eq!(Tally::of(&reversed, &[], &[]), t);
    // Reports that count, by created_at: b's (5 ms), then a's latest (30 ms).
    let ids: Vec<Id> = t.reports.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![reports[3].message.id(), reports[1].message.id()]);
    assert_eq!(t.reports[1].as_of, Timestamp(T0.0 + 30));
}

#[test]
fn of_two_reports_made_in_one_millisecond_the_larger_id_counts() {
    let a = key(1);
    let (x, y) = (letters(&a, 10, 1, ""), letters(&a, 10, 2, ""));
    let larger = x.message.id().max(y.message.id());
    for pair in [[x.clone(), y.clone()], [y, x]] {
        let t = Tally::of(&pair, &[], &[]);
        assert_eq!(t.reports.len(), 1);
        assert_eq!(t.reports[0].id, larger);
    }
}

#[test]
fn sums_saturate_instead_of_wrapping() {
    let reports: Vec<Reported> = (1..=3)
        .map(|n| letters(&key(n), 0, u64::MAX / 2, ""))
        .collect();
    let t = Tally::of(&reports, &[goal(Measure::Letters, 10, "")], &[]);
    assert_eq!(t.total(Measure::Letters, ""), u64::MAX);
    assert_eq!(t.countries[0].totals[0].value, u64::MAX);
    assert_eq!(t.goals[0].percent(), 100);
}

#[test]
fn currencies_are_kept_apart_and_totals_come_in_measure_then_currency_order() {
    let (a, b) = (key(1), key(2));
    let reports = vec![
        reported(
            &a,
            0,
            vec![
                count(Measure::Strikers, 900, ""),
                count(Measure::Donations, 500, "EUR"),
            ],
            vec![],
            "PT",
        ),
        reported(
            &b,
            0,
            vec![
                count(Measure::Donations, 300, "BRL"),
                count(Measure::Donations, 100, "EUR"),
                count(Measure::Letters, 7, ""),
            ],
            vec![filing(3), filing(2)],
            "BR",
        ),
    ];
    let goals = [
        goal(Measure::Donations, 1000, "EUR"),
        goal(Measure::Observations, 4, ""),
        goal(Measure::Organisations, 2, ""),
    ];
    let t = Tally::of(&reports, &goals, &[]);
    let totals: Vec<(Measure, &str, u64)> = t
        .totals
        .iter()
        .map(|t| (t.measure, t.currency.as_str(), t.value))
        .collect();
    assert_eq!(
        totals,
        vec![
            (Measure::Letters, "", 7),
            (Measure::Strikers, "", 900),
            (Measure::Donations, "BRL", 300),
            (Measure::Donations, "EUR", 600),
            // Two filings are two observations.
            (Measure::Observations, "", 2),
        ]
    );
    let progress: Vec<(u64, u64)> = t.goals.iter().map(|g| (g.reached, g.percent())).collect();
    // Goals in the call's order; donations in EUR only; organisations are the reporters.
    assert_eq!(progress, vec![(600, 60), (2, 50), (2, 100)]);
}

#[test]
fn countries_in_code_order_with_the_countryless_last() {
    let reports = vec![
        letters(&key(1), 0, 1, ""),
        letters(&key(2), 0, 10, "PT"),
        letters(&key(3), 0, 100, "BR"),
        letters(&key(4), 0, 1000, "PT"),
    ];
    let t = Tally::of(&reports, &[], &[]);
    let by_country: Vec<(&str, u64, u64)> = t
        .countries
        .iter()
        .map(|c| (c.country.as_str(), c.reporters, c.totals[0].value))
        .collect();
    assert_eq!(
        by_country,
        vec![("BR", 1, 100), ("PT", 2, 1010), ("", 1, 1)]
    );
}

#[test]
fn rosters_count_their_reporting_members_and_are_listed_by_name() {
    let members: Vec<SecretKey> = (10..14).map(key).collect();
    let (dockers, teachers, idle) = (key(20), key(21), key(22));
    let roster = |federation: &SecretKey, name: &str, members: &[&SecretKey]| RosterHeld {
        federation: federation.public(),
        name: name.into(),
        members: members.iter().map(|m| m.public()).collect(),
    };
    let rosters = vec![
        roster(
            &teachers,
            "Teachers' Fictional International",
            &[&members[0]],
        ),
        roster(
            &dockers,
            "Dockers' Fictional Federation",
            &members.iter().collect::<Vec<_>>(),
        ),
        roster(&idle, "An Idle Federation", &[&key(30)]),
    ];
    let reports = vec![
        letters(&members[0], 0, 1, ""),
        letters(&members[0], 1, 2, ""),
        letters(&members[1], 0, 1, ""),
        letters(&key(40), 0, 1, ""),
    ];
    let t = Tally::of(&reports, &[], &rosters);
    let lines: Vec<(&str, u64, u64)> = t
        .rosters
        .iter()
        .map(|r| (r.name.as_str(), r.reported, r.members))
        .collect();
    assert_eq!(
        lines,
        vec![
            ("Dockers' Fictional Federation", 2, 4),
            ("Teachers' Fictional International", 1, 1)
        ]
    );
}

#[test]
fn an_organisations_keys_count_as_one_reporter() {
    let (old_key, new_key) = (key(1), key(2));
    let reports = vec![
        letters(&old_key, 0, 300, ""),
        letters(&new_key, 10, 450, ""),
    ];
    let successor = new_key.public();
    let t = Tally::of_organisations(&reports, &[], &[], |k| {
        if *k == old_key.public() {
            successor
        } else {
            *k
        }
    });
    assert_eq!((t.total(Measure::Letters, ""), t.reporters), (450, 1));
    // Each key its own, they are two.
    let t = Tally::of(&reports, &[], &[]);
    assert_eq!((t.total(Measure::Letters, ""), t.reporters), (750, 2));
}

#[test]
fn a_goal_of_zero_is_reached_and_percent_is_capped() {
    let zero = GoalProgress {
        goal: goal(Measure::Letters, 0, ""),
        reached: 0,
    };
    assert_eq!(zero.percent(), 100);
    let over = GoalProgress {
        goal: goal(Measure::Letters, 3, ""),
        reached: 7,
    };
    assert_eq!(over.percent(), 100);
    let third = GoalProgress {
        goal: goal(Measure::Letters, 3, ""),
        reached: 1,
    };
    assert_eq!(third.percent(), 33);
}

#[test]
fn amounts_read_as_english_in_the_singular_and_the_plural() {
    use super::words::{amount, grouped, organisations};
    assert_eq!(grouped(1_234_567), "1,234,567");
    assert_eq!(amount(Measure::Letters, "", 1), "1 letter");
    assert_eq!(amount(Measure::Letters, "", 2150), "2,150 letters");
    assert_eq!(amount(Measure::Observations, "", 1), "1 observation filed");
    assert_eq!(amount(Measure::Observations, "", 0), "0 observations filed");
    assert_eq!(
        amount(Measure::Donations, "EUR", 1200),
        "1,200 EUR in donations"
    );
    assert_eq!(organisations(1), "1 organisation");
    assert_eq!(organisations(12), "12 organisations");
}
