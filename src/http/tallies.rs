//! What the organisations reported on an alert or call, for readers: the totals, the progress
//! against a call's goals (a `<progress>` bar with its numbers in words beside it), and, on the
//! message page, who reported what, by country and by federation. Also the one-line summary
//! the Atom feed carries. Every string that came from a message goes through [`Esc`].

use std::fmt::Write as _;

use crate::message::tally::words::{grouped, organisations, totals};
use crate::message::tally::{GoalProgress, Tally};
use crate::message::{Filing, Goal, Measure};

use super::escape::{Esc, esc};
use super::snapshot::Snapshot;
use super::words::{Arg, Words};

/// A number with its digits grouped as the reader's language groups them.
fn grouped_in(w: &Words, n: u64) -> String {
    let separator = match w.tag() {
        "en" | "ar" => ",",
        "fr" => "\u{202F}",
        "ru" | "az" => "\u{A0}",
        _ => ".",
    };
    grouped(n).replace(',', separator)
}

/// An amount in the reader's words ("2,150 letters", "2 150 lettres"), as HTML.
fn amount_in(w: &Words, measure: Measure, currency: &str, value: u64) -> String {
    let key = match measure {
        Measure::Letters => "tally-letters",
        Measure::Signatures => "tally-signatures",
        Measure::Participants => "tally-participants",
        Measure::Strikers => "tally-strikers",
        Measure::Donations => "tally-donations",
        Measure::Observations => "tally-observations",
        Measure::Messages => "tally-messages",
        Measure::Organisations => "tally-organisations",
    };
    w.html(
        key,
        &[
            ("n", Arg::Num(value)),
            ("count", Arg::Text(&grouped_in(w, value))),
            ("currency", Arg::Text(currency)),
        ],
    )
}

/// [`summary`] in the reader's words, as HTML.
fn summary_in(w: &Words, tally: &Tally) -> Option<String> {
    if tally.is_empty() {
        return None;
    }
    let organisations = amount_in(w, Measure::Organisations, "", tally.reporters);
    let totals: Vec<String> = tally
        .totals
        .iter()
        .map(|t| amount_in(w, t.measure, &t.currency, t.value))
        .collect();
    Some(if totals.is_empty() {
        w.html(
            "tally-reported-by",
            &[("organisations", Arg::Html(&organisations))],
        )
    } else {
        w.html(
            "tally-reported-by-totals",
            &[
                ("organisations", Arg::Html(&organisations)),
                ("totals", Arg::Html(&totals.join(", "))),
            ],
        )
    })
}

/// A goal's progress in the reader's words ("2,150 of 3,000 letters — 72%"), as HTML.
fn goal_in(w: &Words, p: &GoalProgress) -> String {
    let goal = amount_in(w, p.goal.measure, &p.goal.currency, p.goal.target);
    w.html(
        "tally-goal",
        &[
            ("reached", Arg::Text(&grouped_in(w, p.reached))),
            ("goal", Arg::Html(&goal)),
            ("percent", Arg::Num(p.percent())),
        ],
    )
}

/// A filing in the reader's words, with its reference, as HTML.
fn filing_in(w: &Words, f: &Filing) -> String {
    let mut s = w.html(
        "tally-filing",
        &[
            ("body", Arg::Text(&f.body.as_str().to_uppercase())),
            (
                "date",
                Arg::Text(f.filed_at.to_rfc3339().get(..10).unwrap_or_default()),
            ),
        ],
    );
    if !f.reference.is_empty() {
        let _ = write!(s, " ({})", Esc(&f.reference));
    }
    s
}

/// One line of plain text: "Reported by 3 organisations: 2,150 letters, 12 strikers.", or
/// `None` when nobody reported. For the feeds.
pub(super) fn summary(tally: &Tally) -> Option<String> {
    if tally.is_empty() {
        return None;
    }
    let totals = totals(tally);
    Some(if totals.is_empty() {
        format!("Reported by {}.", organisations(tally.reporters))
    } else {
        format!(
            "Reported by {}: {}.",
            organisations(tally.reporters),
            totals
        )
    })
}

/// The goals as bars: a `<progress>` named by the words beside it (no inline style: the
/// page's Content-Security-Policy forbids it).
fn goals_html(w: &Words, goals: &[GoalProgress], id_prefix: &str) -> String {
    if goals.is_empty() {
        return String::new();
    }
    let mut s = String::from("<ul class=\"goals\">");
    for (n, p) in goals.iter().enumerate() {
        let label = format!("{id_prefix}-goal-{n}");
        let _ = write!(
            s,
            "<li><progress max=\"{}\" value=\"{}\" aria-labelledby=\"{label}\">{}%</progress> \
             <span id=\"{label}\">{}</span></li>",
            p.goal.target,
            p.reached.min(p.goal.target),
            p.percent(),
            goal_in(w, p)
        );
    }
    s.push_str("</ul>");
    s
}

/// On the front page: the goals' bars and a line of totals (nothing when there is neither).
pub(super) fn item_html(w: &Words, short: &str, goals: &[Goal], tally: &Tally) -> String {
    let goals = tally.progress(goals);
    let mut s = goals_html(w, &goals, &format!("g-{short}"));
    if let Some(line) = summary_in(w, tally) {
        let _ = write!(s, "<p class=\"reported\">{line}</p>");
    }
    s
}

/// On a message page: a section with the goals, the totals, a table of the reporting
/// organisations, and the breakdowns by country and by federation.
pub(super) fn detail_html(w: &Words, snap: &Snapshot, goals: &[Goal], tally: &Tally) -> String {
    let goals = tally.progress(goals);
    if goals.is_empty() && tally.is_empty() {
        return String::new();
    }
    let mut m = String::from("<section class=\"reports\" aria-labelledby=\"reports-h\">");
    let _ = write!(m, "<h2 id=\"reports-h\">{}</h2>", w.t("reports-heading"));
    if !goals.is_empty() {
        let _ = write!(m, "<h3>{}</h3>", w.t("reports-goals"));
        m.push_str(&goals_html(w, &goals, "d"));
    }
    if tally.is_empty() {
        let _ = writeln!(m, "<p>{}</p></section>", w.t("reports-none"));
        return m;
    }
    let _ = write!(
        m,
        "<p class=\"reported\">{}</p>",
        summary_in(w, tally).unwrap_or_default()
    );
    let _ = write!(
        m,
        "<p class=\"lang-note\">{}</p>\
         <table class=\"reports\"><caption>{}</caption><thead><tr>\
         <th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
         <th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
         <th scope=\"col\">{}</th></tr></thead><tbody>",
        w.t("reports-note"),
        w.t("reports-caption"),
        w.t("reports-organisation"),
        w.t("reports-country"),
        w.t("reports-reported"),
        w.t("reports-as-of"),
        w.t("reports-statement")
    );
    for r in &tally.reports {
        let name = if r.name.is_empty() {
            snap.names.name(&r.author)
        } else {
            r.name.clone()
        };
        let mut counts: Vec<String> = r
            .counts
            .iter()
            .map(|c| amount_in(w, c.measure, &c.currency, c.value))
            .collect();
        counts.extend(r.filings.iter().map(|f| filing_in(w, f)));
        let mut statement = format!("<q dir=\"auto\">{}</q>", Esc(&r.statement));
        if r.statement.is_empty() {
            statement.clear();
        }
        if !r.evidence.is_empty() {
            let _ = write!(
                statement,
                " <a href=\"{}\" rel=\"nofollow noopener noreferrer\">{}</a>",
                Esc(&r.evidence),
                w.t("reports-evidence")
            );
        }
        let _ = write!(
            m,
            "<tr><th scope=\"row\" dir=\"auto\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{statement}</td></tr>",
            esc(&name),
            esc(&w.country(&r.country)),
            counts.join(", "),
            super::page::time(r.as_of),
        );
    }
    m.push_str("</tbody></table>");

    if !tally.countries.is_empty() {
        let _ = write!(
            m,
            "<table class=\"reports\"><caption>{}</caption><thead><tr>\
             <th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
             <th scope=\"col\">{}</th></tr></thead><tbody>",
            w.t("reports-by-country"),
            w.t("reports-country"),
            w.t("reports-organisations"),
            w.t("reports-reported")
        );
        for c in &tally.countries {
            let country = if c.country.is_empty() {
                w.t("reports-country-not-given")
            } else {
                esc(&w.country(&c.country))
            };
            let totals: Vec<String> = c
                .totals
                .iter()
                .map(|t| amount_in(w, t.measure, &t.currency, t.value))
                .collect();
            let _ = write!(
                m,
                "<tr><th scope=\"row\">{country}</th><td>{}</td><td>{}</td></tr>",
                grouped_in(w, c.reporters),
                totals.join(", ")
            );
        }
        m.push_str("</tbody></table>");
    }
    if !tally.rosters.is_empty() {
        let _ = write!(m, "<h3>{}</h3><ul>", w.t("reports-federations"));
        for r in &tally.rosters {
            let name = if r.name.is_empty() {
                snap.names.name(&r.federation)
            } else {
                r.name.clone()
            };
            let line = w.html(
                "tally-roster",
                &[
                    ("n", Arg::Num(r.members)),
                    ("reported", Arg::Text(&grouped_in(w, r.reported))),
                    ("members", Arg::Text(&grouped_in(w, r.members))),
                    ("federation", Arg::Text(&name)),
                ],
            );
            let _ = write!(m, "<li>{line}</li>");
        }
        m.push_str("</ul>");
    }
    m.push_str("</section>\n");
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::words::english;
    use crate::message::tally::Total;
    use crate::message::tally::words::goal as goal_words;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1000), "1,000");
        assert_eq!(grouped(2150), "2,150");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn tallies_are_in_the_readers_words_and_plurals() {
        let words = |tag: &str| Words::of(tag).expect("shipped");
        let fr = words("fr");
        let p = GoalProgress {
            goal: Goal {
                measure: Measure::Letters,
                target: 3000,
                currency: String::new(),
            },
            reached: 2150,
        };
        assert_eq!(
            goal_in(fr, &p),
            "2\u{202F}150 sur 3\u{202F}000 lettres — 71 %"
        );
        let ru = words("ru");
        for (n, text) in [
            (1, "1 письмо"),
            (2, "2 письма"),
            (5, "5 писем"),
            (21, "21 письмо"),
        ] {
            assert_eq!(amount_in(ru, Measure::Letters, "", n), text);
        }
        assert_eq!(
            amount_in(words("es"), Measure::Donations, "EUR", 1200),
            "1.200 EUR en donaciones"
        );
        let tally = Tally {
            reporters: 1,
            ..Tally::default()
        };
        assert_eq!(
            summary_in(words("pt"), &tally).as_deref(),
            Some("Relatado por 1 organização.")
        );
    }

    #[test]
    fn goals_are_shown_from_the_totals_even_before_anyone_reports() {
        let goals = vec![
            Goal {
                measure: Measure::Letters,
                target: 3000,
                currency: String::new(),
            },
            Goal {
                measure: Measure::Donations,
                target: 5000,
                currency: "EUR".into(),
            },
            Goal {
                measure: Measure::Organisations,
                target: 20,
                currency: String::new(),
            },
        ];
        let none = Tally::default().progress(&goals);
        assert_eq!(
            none.iter().map(|p| p.reached).collect::<Vec<_>>(),
            [0, 0, 0]
        );
        let tally = Tally {
            totals: vec![
                Total {
                    measure: Measure::Letters,
                    currency: String::new(),
                    value: 2150,
                },
                Total {
                    measure: Measure::Donations,
                    currency: "USD".into(),
                    value: 900,
                },
            ],
            reporters: 3,
            ..Tally::default()
        };
        let p = tally.progress(&goals);
        let en = english();
        // The page's English words are the command line's and the feeds'.
        for (progress, words) in p.iter().zip([
            "2,150 of 3,000 letters — 71%",
            // Dollars do not count towards a goal in euros.
            "0 of 5,000 EUR in donations — 0%",
            "3 of 20 organisations — 15%",
        ]) {
            assert_eq!(goal_in(en, progress), words);
            assert_eq!(goal_words(progress), words);
        }
        assert_eq!(
            summary(&tally).as_deref(),
            Some("Reported by 3 organisations: 2,150 letters, 900 USD in donations.")
        );
        assert_eq!(summary_in(en, &tally), summary(&tally));
        assert_eq!(summary(&Tally::default()), None);
        let html = item_html(en, "abcd", &goals, &tally);
        assert!(
            html.contains("<progress max=\"3000\" value=\"2150\" aria-labelledby=\"g-abcd-goal-0\">71%</progress>"),
            "{html}"
        );
    }
}
