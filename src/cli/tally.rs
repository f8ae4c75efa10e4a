//! Tallies for people and scripts: what the organisations reported on an alert or call, with
//! the progress against a call's goals as a text bar, the breakdown by organisation, country
//! and federation (`tocsin show`), a one-line running tally (`tocsin follow`), and JSON.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::names::Names;
use super::term::{Clock, Style};
use crate::message::tally::words::{amount, grouped, organisations, roster, totals};
use crate::message::tally::{GoalProgress, Tally};
use crate::message::{Goal, Measure};

/// Width of a goal's bar, in characters.
const BAR: usize = 20;

/// "[#########-----------]  45%  1,350 of 3,000 letters".
pub(crate) fn goal_line(p: &GoalProgress) -> String {
    let percent = p.percent();
    let filled = (percent as usize * BAR) / 100;
    format!(
        "[{}{}] {percent:>3}%  {} of {}",
        "#".repeat(filled),
        "-".repeat(BAR - filled),
        grouped(p.reached),
        amount(p.goal.measure, &p.goal.currency, p.goal.target)
    )
}

/// The running tally on one line, for a feed: "3 organisations reported: 2,150 letters ·
/// letters 72% of 3,000", or `None` when there is nothing to say.
pub(crate) fn running(goals: &[Goal], tally: &Tally) -> Option<String> {
    let progress = tally.progress(goals);
    if tally.is_empty() && progress.is_empty() {
        return None;
    }
    let mut line = if tally.is_empty() {
        "no reports yet".to_string()
    } else {
        format!(
            "{} reported: {}",
            organisations(tally.reporters),
            totals(tally)
        )
    };
    for p in &progress {
        let _ = write!(
            line,
            " · {} {}% of {}",
            p.goal.measure,
            p.percent(),
            grouped(p.goal.target)
        );
    }
    Some(line)
}

/// The whole tally for `tocsin show`: totals, goals as bars, each organisation's report, by
/// country and by federation. Empty when nobody reported and there are no goals.
pub(crate) fn tally_text(
    goals: &[Goal],
    tally: &Tally,
    names: &Names,
    clock: &Clock,
    st: Style,
    cancelled: bool,
) -> String {
    let progress = tally.progress(goals);
    let mut out = String::new();
    if tally.is_empty() && progress.is_empty() {
        return out;
    }
    let head = if cancelled {
        "Reported actions (the call is cancelled; kept so its organisers can account for what was done):"
    } else {
        "Reported actions:"
    };
    let _ = writeln!(out, "{}", st.bold(head));
    if tally.is_empty() {
        let _ = writeln!(out, "  No organisation has reported yet.");
    } else {
        let _ = writeln!(
            out,
            "  {} reported: {}",
            organisations(tally.reporters),
            totals(tally)
        );
    }
    if !progress.is_empty() {
        let _ = writeln!(out, "{}", st.bold("Goals:"));
        for p in &progress {
            let line = goal_line(p);
            let line = if p.percent() >= 100 {
                st.good(&line)
            } else {
                line
            };
            let _ = writeln!(out, "  {line}");
        }
    }
    if tally.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{}",
        st.bold("By organisation (each one's latest report counts):")
    );
    for r in &tally.reports {
        let name = if r.name.is_empty() {
            names.describe(&r.author)
        } else {
            r.name.clone()
        };
        let country = if r.country.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.country)
        };
        let mut counts: Vec<String> = r
            .counts
            .iter()
            .map(|c| amount(c.measure, &c.currency, c.value))
            .collect();
        for f in &r.filings {
            let mut filing = format!(
                "observation filed with the {} {}",
                f.body.as_str().to_uppercase(),
                clock.local(f.filed_at)
            );
            if !f.reference.is_empty() {
                let _ = write!(filing, " ({})", f.reference);
            }
            counts.push(filing);
        }
        let _ = writeln!(
            out,
            "  {}{country}: {} · as of {}",
            st.bold(&name),
            counts.join(", "),
            clock.when(r.as_of)
        );
        if !r.statement.is_empty() {
            let _ = writeln!(out, "      \u{201c}{}\u{201d}", r.statement.trim());
        }
        if !r.evidence.is_empty() {
            let _ = writeln!(out, "      Evidence: {}", r.evidence);
        }
    }
    if !tally.countries.is_empty() {
        let _ = writeln!(out, "{}", st.bold("By country:"));
        for c in &tally.countries {
            let country = if c.country.is_empty() {
                "(no country given)"
            } else {
                c.country.as_str()
            };
            let totals: Vec<String> = c
                .totals
                .iter()
                .map(|t| amount(t.measure, &t.currency, t.value))
                .collect();
            let _ = writeln!(
                out,
                "  {country}: {} · {}",
                organisations(c.reporters),
                totals.join(", ")
            );
        }
    }
    for r in &tally.rosters {
        let name = if r.name.is_empty() {
            names.describe(&r.federation)
        } else {
            r.name.clone()
        };
        let _ = writeln!(out, "  {}", roster(r.reported, r.members, &name));
    }
    out
}

/// The tally as JSON: totals, reporters, goals (with percent), each report, by country, rosters.
pub(crate) fn tally_json(goals: &[Goal], tally: &Tally, cancelled: bool) -> Value {
    let total = |measure: Measure, currency: &str, value: u64| {
        let mut v = json!({ "measure": measure.as_str(), "value": value });
        if !currency.is_empty() {
            v["currency"] = json!(currency);
        }
        v
    };
    json!({
        "cancelled": cancelled,
        "reporters": tally.reporters,
        "totals": tally.totals.iter().map(|t| total(t.measure, &t.currency, t.value)).collect::<Vec<_>>(),
        "goals": tally.progress(goals).iter().map(|p| {
            let mut v = total(p.goal.measure, &p.goal.currency, p.goal.target);
            v["target"] = v["value"].take();
            if let Value::Object(map) = &mut v {
                map.remove("value");
            }
            v["reached"] = json!(p.reached);
            v["percent"] = json!(p.percent());
            v
        }).collect::<Vec<_>>(),
        "reports": tally.reports.iter().map(|r| json!({
            "id": r.id.to_hex(),
            "author": r.author.to_hex(),
            "name": r.name,
            "country": r.country,
            "created_at": r.created_at.to_rfc3339(),
            "as_of": r.as_of.to_rfc3339(),
            "counts": r.counts.iter().map(super::render::count_json).collect::<Vec<_>>(),
            "filings": r.filings.iter().map(|f| json!({
                "body": f.body.as_str(), "filed_at": f.filed_at.to_rfc3339(), "reference": f.reference,
            })).collect::<Vec<_>>(),
            "statement": r.statement,
            "evidence": r.evidence,
        })).collect::<Vec<_>>(),
        "countries": tally.countries.iter().map(|c| json!({
            "country": c.country,
            "reporters": c.reporters,
            "totals": c.totals.iter().map(|t| total(t.measure, &t.currency, t.value)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "rosters": tally.rosters.iter().map(|r| json!({
            "federation": r.federation.to_hex(), "name": r.name,
            "members": r.members, "reported": r.reported,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::tally::Total;

    fn goal(measure: Measure, target: u64, currency: &str) -> Goal {
        Goal {
            measure,
            target,
            currency: currency.into(),
        }
    }

    #[test]
    fn goals_read_as_bars_and_numbers() {
        let tally = Tally {
            totals: vec![Total {
                measure: Measure::Letters,
                currency: String::new(),
                value: 1350,
            }],
            reporters: 2,
            ..Tally::default()
        };
        let goals = [
            goal(Measure::Letters, 3000, ""),
            goal(Measure::Donations, 5000, "EUR"),
            goal(Measure::Organisations, 2, ""),
        ];
        let p = tally.progress(&goals);
        assert_eq!(
            goal_line(&p[0]),
            "[#########-----------]  45%  1,350 of 3,000 letters"
        );
        assert_eq!(
            goal_line(&p[1]),
            "[--------------------]   0%  0 of 5,000 EUR in donations"
        );
        assert_eq!(
            goal_line(&p[2]),
            "[####################] 100%  2 of 2 organisations"
        );
        assert_eq!(
            running(&goals, &tally).as_deref(),
            Some(
                "2 organisations reported: 1,350 letters · letters 45% of 3,000 · donations 0% of \
                 5,000 · organisations 100% of 2"
            )
        );
        assert_eq!(running(&[], &Tally::default()), None);
        let json = tally_json(&goals, &tally, false);
        assert_eq!(json["goals"][1]["target"], 5000);
        assert_eq!(json["goals"][1]["currency"], "EUR");
        assert_eq!(json["goals"][0]["percent"], 45);
        assert!(json["goals"][0].get("value").is_none());
    }
}
