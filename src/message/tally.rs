//! Tallies of action reports: what the organisations that reported on one alert or call have
//! done, summed, as a function of the reports alone (no I/O, no clock), so every node that
//! holds the same messages gives the same tally.
//!
//! Reports are cumulative per organisation: only each organisation's latest report for the
//! target counts (by created_at, then id), so a revision replaces what it revises and never
//! counts twice. An organisation is a key, or the chain of keys a revocation's successor
//! continues (the store says which), so a report made with the new key replaces one made with
//! the revoked key instead of adding to it.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::model::{ActionReport, Content, Count, Filing, Goal, Measure};
use super::{AuthorKey, Id, Message, Timestamp};

#[cfg(test)]
mod tests;

/// One report that is in effect here (stored with its content, released), with what the node
/// knows of its author.
#[derive(Debug, Clone)]
pub struct Reported {
    /// The report.
    pub message: Message,
    /// Its author's latest profile's name ("" when none).
    pub name: String,
    /// Its author's latest profile's country ("" when none).
    pub country: String,
}

/// A federation's roster as the node holds it: the federation, its name, its members.
#[derive(Debug, Clone)]
pub struct RosterHeld {
    /// The federation's key.
    pub federation: AuthorKey,
    /// Its latest profile's name ("" when none).
    pub name: String,
    /// Its latest roster's members.
    pub members: Vec<AuthorKey>,
}

/// A total of one measure (and currency, for donations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Total {
    /// What is counted.
    pub measure: Measure,
    /// ISO 4217 code for donations; empty otherwise.
    pub currency: String,
    /// The sum.
    pub value: u64,
}

/// The reporters of one country and what they did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountryTally {
    /// ISO 3166-1 alpha-2 code; empty for reporters without a country.
    pub country: String,
    /// Reporting organisations from it.
    pub reporters: u64,
    /// Their totals.
    pub totals: Vec<Total>,
}

/// How many of a federation's members reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterTally {
    /// The federation.
    pub federation: AuthorKey,
    /// Its name ("" when it has no profile here).
    pub name: String,
    /// Members on its roster.
    pub members: u64,
    /// Of them, those whose report counts.
    pub reported: u64,
}

/// Progress against one goal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoalProgress {
    /// The goal.
    pub goal: Goal,
    /// How much of it is reached.
    pub reached: u64,
}

impl GoalProgress {
    /// The share reached, in whole percent, capped at 100.
    pub fn percent(&self) -> u64 {
        if self.goal.target == 0 {
            return 100;
        }
        (u128::from(self.reached) * 100 / u128::from(self.goal.target)).min(100) as u64
    }
}

/// One author's report that counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSummary {
    /// The reporting organisation.
    pub author: AuthorKey,
    /// Its name ("" when it has no profile here).
    pub name: String,
    /// Its country ("" when none).
    pub country: String,
    /// The report's id.
    pub id: Id,
    /// When it was made.
    pub created_at: Timestamp,
    /// When its counts are as of.
    pub as_of: Timestamp,
    /// Its counts.
    pub counts: Vec<Count>,
    /// Its filings.
    pub filings: Vec<Filing>,
    /// Its statement.
    pub statement: String,
    /// Its evidence link.
    pub evidence: String,
}

/// What the reports on one alert or call add up to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tally {
    /// Totals per measure (donations per currency; observations count filings), in measure
    /// order, then currency.
    pub totals: Vec<Total>,
    /// Organisations whose report counts.
    pub reporters: u64,
    /// By reporter's country, by code ("" last).
    pub countries: Vec<CountryTally>,
    /// Each federation with at least one reporting member, by name then key.
    pub rosters: Vec<RosterTally>,
    /// Progress against the goals, in the call's order.
    pub goals: Vec<GoalProgress>,
    /// The reports that count, by created_at then author.
    pub reports: Vec<ReportSummary>,
}

impl Tally {
    /// Adds up `reports` (every report in effect for one target, any number per author) with
    /// the target's `goals` (its current version's; empty for an alert) and the rosters held,
    /// each key its own organisation. Reports that are not action reports are ignored.
    pub fn of(reports: &[Reported], goals: &[Goal], rosters: &[RosterHeld]) -> Tally {
        Tally::of_organisations(reports, goals, rosters, |key| *key)
    }

    /// [`Tally::of`], with `organisation` naming the organisation a key reports for (the last
    /// successor of a revoked key): one organisation's latest report counts, whichever of its
    /// keys made it, and a roster member reported when its organisation did.
    pub fn of_organisations(
        reports: &[Reported],
        goals: &[Goal],
        rosters: &[RosterHeld],
        organisation: impl Fn(&AuthorKey) -> AuthorKey,
    ) -> Tally {
        let mut latest: HashMap<[u8; 32], (&Reported, &ActionReport)> = HashMap::new();
        for r in reports {
            let Content::Report(report) = &r.message.body().content else {
                continue;
            };
            let reporter = *organisation(&r.message.body().author).as_bytes();
            let newer = match latest.get(&reporter) {
                None => true,
                Some((held, _)) => order(&r.message) > order(&held.message),
            };
            if newer {
                latest.insert(reporter, (r, report));
            }
        }
        let mut counted: Vec<_> = latest.into_values().collect();
        counted.sort_by_key(|(r, _)| {
            (
                r.message.body().created_at,
                *r.message.body().author.as_bytes(),
            )
        });

        let mut totals = Sums::default();
        let mut countries: BTreeMap<&str, (u64, Sums)> = BTreeMap::new();
        for (r, report) in &counted {
            totals.add(report);
            let (n, sums) = countries.entry(r.country.as_str()).or_default();
            *n += 1;
            sums.add(report);
        }
        let reporters = counted.len() as u64;
        let organisations: HashSet<[u8; 32]> = counted
            .iter()
            .map(|(r, _)| *organisation(&r.message.body().author).as_bytes())
            .collect();

        let mut rosters: Vec<RosterTally> = rosters
            .iter()
            .filter_map(|held| {
                let members: HashSet<&[u8; 32]> =
                    held.members.iter().map(|m| m.as_bytes()).collect();
                let reported = held
                    .members
                    .iter()
                    .filter(|m| organisations.contains(organisation(m).as_bytes()))
                    .map(|m| m.as_bytes())
                    .collect::<HashSet<_>>()
                    .len() as u64;
                (reported > 0).then(|| RosterTally {
                    federation: held.federation,
                    name: held.name.clone(),
                    members: members.len() as u64,
                    reported,
                })
            })
            .collect();
        rosters.sort_by(|a, b| {
            (&a.name, a.federation.as_bytes()).cmp(&(&b.name, b.federation.as_bytes()))
        });

        let totals = totals.into_totals();
        // Reporters without a country last.
        let mut by_country: Vec<CountryTally> = countries
            .into_iter()
            .map(|(country, (reporters, sums))| CountryTally {
                country: country.to_string(),
                reporters,
                totals: sums.into_totals(),
            })
            .collect();
        by_country.sort_by_key(|c| (c.country.is_empty(), c.country.clone()));

        let mut tally = Tally {
            totals,
            reporters,
            countries: by_country,
            rosters,
            goals: Vec::new(),
            reports: counted
                .into_iter()
                .map(|(r, report)| ReportSummary {
                    author: r.message.body().author,
                    name: r.name.clone(),
                    country: r.country.clone(),
                    id: r.message.id(),
                    created_at: r.message.body().created_at,
                    as_of: report.as_of.unwrap_or(r.message.body().created_at),
                    counts: report.counts.clone(),
                    filings: report.filings.clone(),
                    statement: report.statement.clone(),
                    evidence: report.evidence.clone(),
                })
                .collect(),
        };
        tally.goals = tally.progress(goals);
        tally
    }

    /// Progress against each of `goals` from this tally's totals (organisations from its
    /// reporters): every goal, at 0 when nobody reported it.
    pub fn progress(&self, goals: &[Goal]) -> Vec<GoalProgress> {
        goals
            .iter()
            .map(|goal| GoalProgress {
                goal: goal.clone(),
                reached: match goal.measure {
                    Measure::Organisations => self.reporters,
                    m => self.total(m, &goal.currency),
                },
            })
            .collect()
    }

    /// Whether nobody has reported.
    pub fn is_empty(&self) -> bool {
        self.reporters == 0
    }

    /// The total of `measure` (in `currency`, for donations), 0 when nobody reported it.
    pub fn total(&self, measure: Measure, currency: &str) -> u64 {
        self.totals
            .iter()
            .filter(|t| t.measure == measure && t.currency == currency)
            .map(|t| t.value)
            .sum()
    }
}

/// Which of two reports by one author is the later: created_at, then id.
fn order(m: &Message) -> (Timestamp, Id) {
    (m.body().created_at, m.id())
}

/// Running sums by (measure, currency), saturating: a sum of signed claims never wraps.
#[derive(Debug, Default)]
struct Sums(BTreeMap<(i32, String), u64>);

impl Sums {
    fn add(&mut self, report: &ActionReport) {
        for c in &report.counts {
            let sum = self
                .0
                .entry((c.measure.number(), c.currency.clone()))
                .or_default();
            *sum = sum.saturating_add(c.value);
        }
        if !report.filings.is_empty() {
            let sum = self
                .0
                .entry((Measure::Observations.number(), String::new()))
                .or_default();
            *sum = sum.saturating_add(report.filings.len() as u64);
        }
    }

    fn into_totals(self) -> Vec<Total> {
        self.0
            .into_iter()
            .filter_map(|((n, currency), value)| {
                Some(Total {
                    measure: Measure::from_number(n)?,
                    currency,
                    value,
                })
            })
            .collect()
    }
}

/// Tallies in English words, the same on the command line, the page and the feeds.
pub mod words {
    use super::{GoalProgress, Measure};

    /// A number with its thousands grouped: 2150 → "2,150".
    pub fn grouped(n: u64) -> String {
        let digits = n.to_string();
        let mut out = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, d) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(d);
        }
        out
    }

    /// What a measure counts, as a noun phrase for `value` of it ("1 letter", "2 letters").
    pub fn noun(measure: Measure, value: u64) -> &'static str {
        let one = value == 1;
        match measure {
            Measure::Letters if one => "letter",
            Measure::Letters => "letters",
            Measure::Signatures if one => "signature",
            Measure::Signatures => "signatures",
            Measure::Participants if one => "participant",
            Measure::Participants => "participants",
            Measure::Strikers if one => "striker",
            Measure::Strikers => "strikers",
            Measure::Donations => "in donations",
            Measure::Observations if one => "observation filed",
            Measure::Observations => "observations filed",
            Measure::Messages if one => "solidarity message",
            Measure::Messages => "solidarity messages",
            Measure::Organisations if one => "organisation",
            Measure::Organisations => "organisations",
        }
    }

    /// An amount in words: "2,150 letters", "1 observation filed", "1,200 EUR in donations".
    pub fn amount(measure: Measure, currency: &str, value: u64) -> String {
        if currency.is_empty() {
            format!("{} {}", grouped(value), noun(measure, value))
        } else {
            format!("{} {currency} {}", grouped(value), noun(measure, value))
        }
    }

    /// "1 organisation", "3 organisations".
    pub fn organisations(n: u64) -> String {
        amount(Measure::Organisations, "", n)
    }

    /// A tally's totals, in its order: "2,150 letters, 1,200 EUR in donations" (empty when
    /// nothing was counted).
    pub fn totals(tally: &super::Tally) -> String {
        tally
            .totals
            .iter()
            .map(|t| amount(t.measure, &t.currency, t.value))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A roster's line: "2 of 3 affiliates of the Global Dockers' Federation reported".
    pub fn roster(reported: u64, members: u64, federation: &str) -> String {
        format!(
            "{} of {} affiliate{} of {federation} reported",
            grouped(reported),
            grouped(members),
            if members == 1 { "" } else { "s" }
        )
    }

    /// A goal's progress: "2,150 of 3,000 letters — 72%".
    pub fn goal(p: &GoalProgress) -> String {
        format!(
            "{} of {} — {}%",
            grouped(p.reached),
            amount(p.goal.measure, &p.goal.currency, p.goal.target),
            p.percent()
        )
    }
}
