//! `tocsin report`: an organisation's signed, cumulative account of what it did for an alert or
//! call (letters sent, signatures, strikers, donations, observations filed…), from flags, a
//! TOML file, or both; and the `MEASURE=N[:CUR]` syntax it shares with a call's `--goal`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use super::compose::finish;
use super::post::{PostOptions, deliver, load_key, original};
use super::render::{Facts, headline_of};
use super::term::Clock;
use super::{Failure, parse_id};
use crate::message::tally::words::amount;
use crate::message::{
    ActionReport, Body, Content, Count, Filing, Goal, Kind, Measure, Message, SupervisoryBody,
    Timestamp, max_lifetime,
};

/// `tocsin report`
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The id of the alert or call reported on (64 hex digits).
    pub id: String,
    /// A TOML file with the counts ([[count]] tables), filings ([[filing]] tables), as_of,
    /// statement and evidence (see config/report.example.toml). Flags given as well override
    /// its values.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// What your organisation has done so far, in all: letters=340, signatures=1200,
    /// participants=80, strikers=45, messages=12, donations=1200:EUR (repeat for several).
    /// Counts are cumulative: give your whole count to date, not what is new since your last
    /// report; your latest report replaces the earlier ones.
    #[arg(long = "action", value_name = "MEASURE=N[:CUR]")]
    pub actions: Vec<String>,
    /// An observation filed with an ILO supervisory body: ceacr:2026-08-30, or
    /// cfa:2026-08-30:"Case No. 3456" (body, date or RFC 3339 time, optional reference;
    /// repeat for several).
    #[arg(long = "filing", value_name = "BODY:DATE[:REFERENCE]")]
    pub filings: Vec<String>,
    /// The time the counts are as of (RFC 3339) [default: now].
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// A statement shown with your report.
    #[arg(long)]
    pub statement: Option<String>,
    /// An https:// link to evidence (photos, the petition's page).
    #[arg(long, value_name = "URL")]
    pub evidence: Option<String>,
    /// When relays stop serving the report: an RFC 3339 time, or a duration like 90days
    /// [default: when the alert or call itself expires, else the longest a report may live].
    #[arg(long, value_name = "TIME|DURATION")]
    pub expires: Option<String>,
    /// Where and how.
    #[command(flatten)]
    pub opts: PostOptions,
}

/// The names a count or goal may use, for messages.
fn measure_names(countable_only: bool) -> String {
    Measure::ALL
        .iter()
        .filter(|m| !countable_only || m.countable())
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses `MEASURE=N[:CUR]` (a count, or a goal when `goal`), saying what to type instead.
pub(crate) fn parse_amount(text: &str, flag: &str, goal: bool) -> anyhow::Result<Count> {
    let text = text.trim();
    let example = if goal { "letters=3000" } else { "letters=340" };
    let Some((name, rest)) = text.split_once('=') else {
        // "letters:340" or "letters 340": the right parts, the wrong separator.
        if let Some((name, n)) = text.split_once([':', ' '])
            && n.trim().chars().all(|c| c.is_ascii_digit())
            && !n.trim().is_empty()
        {
            return Err(Failure::usage(format!(
                "{flag} {text:?}: write {}={}",
                name.trim(),
                n.trim()
            )));
        }
        return Err(Failure::usage(format!(
            "{flag} {text:?}: write MEASURE=N, like {flag} {example} or {flag} donations=1200:EUR"
        )));
    };
    let name = name.trim().to_ascii_lowercase();
    let measure = Measure::parse(&name)
        .or_else(|| Measure::parse(&format!("{name}s")))
        .ok_or_else(|| {
            Failure::usage(format!(
                "{flag} {text:?}: {name:?} is not something counted; use one of: {}",
                measure_names(!goal)
            ))
        })?;
    if !goal && !measure.countable() {
        return Err(Failure::usage(match measure {
            Measure::Observations => format!(
                "{flag} {text:?}: observations are reported as filings, with their body and \
                 date: --filing ceacr:2026-08-30"
            ),
            _ => format!(
                "{flag} {text:?}: the organisations that reported are what a tally counts; \
                 report what your organisation did instead ({})",
                measure_names(true)
            ),
        }));
    }
    let (number, currency) = match rest.split_once(':') {
        Some((n, c)) => (n.trim(), c.trim().to_ascii_uppercase()),
        None => (rest.trim(), String::new()),
    };
    let digits: String = number.chars().filter(|c| !matches!(c, ',' | '_')).collect();
    let value: u64 = digits.parse().map_err(|_| {
        Failure::usage(format!(
            "{flag} {text:?}: {number:?} is not a whole number; write it like {name}=1200"
        ))
    })?;
    if measure == Measure::Donations && currency.is_empty() {
        return Err(Failure::usage(format!(
            "{flag} {text:?}: say the currency, as an ISO 4217 code: donations={value}:EUR"
        )));
    }
    if measure != Measure::Donations && !currency.is_empty() {
        return Err(Failure::usage(format!(
            "{flag} {text:?}: only donations have a currency; write {name}={value}"
        )));
    }
    let iso_4217 = currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase());
    if !currency.is_empty() && !iso_4217 {
        return Err(Failure::usage(format!(
            "{flag} {text:?}: {currency:?} is not a currency code; use ISO 4217, like EUR or USD"
        )));
    }
    Ok(Count {
        measure,
        value,
        currency,
    })
}

/// Parses a call's `--goal MEASURE=N[:CUR]`.
pub(crate) fn parse_goal(text: &str, flag: &str) -> anyhow::Result<Goal> {
    let c = parse_amount(text, flag, true)?;
    if c.value == 0 {
        return Err(Failure::usage(format!(
            "{flag} {text:?}: a goal is at least 1"
        )));
    }
    Ok(Goal {
        measure: c.measure,
        target: c.value,
        currency: c.currency,
    })
}

/// A date (midnight UTC) or an RFC 3339 time.
fn date_or_time(text: &str) -> Option<Timestamp> {
    Timestamp::parse_rfc3339(text).or_else(|| {
        (text.len() == 10)
            .then(|| Timestamp::parse_rfc3339(&format!("{text}T00:00:00Z")))
            .flatten()
    })
}

/// Parses `BODY:DATE[:REFERENCE]`; the date may be an RFC 3339 time, colons and all.
fn parse_filing(text: &str) -> anyhow::Result<Filing> {
    let usage = |why: String| {
        Failure::usage(format!(
            "--filing {text:?}: {why}; write it like --filing ceacr:2026-08-30 or \
             --filing cfa:2026-08-30:\"Case No. 3456\""
        ))
    };
    let Some((body, rest)) = text.split_once(':') else {
        return Err(usage("give the body and the date".into()));
    };
    let body = SupervisoryBody::parse(&body.trim().to_ascii_lowercase()).ok_or_else(|| {
        usage(format!(
            "{:?} is not a supervisory body (ceacr, cas, cfa, other)",
            body.trim()
        ))
    })?;
    // The longest prefix of the rest that reads as a date or time is the date.
    let mut cuts: Vec<usize> = rest.match_indices(':').map(|(i, _)| i).collect();
    cuts.push(rest.len());
    let found = cuts.iter().rev().find_map(|&cut| {
        date_or_time(rest[..cut].trim()).map(|t| (t, rest.get(cut + 1..).unwrap_or("")))
    });
    let Some((filed_at, reference)) = found else {
        let first = rest.split(':').next().unwrap_or_default().trim();
        if first
            .parse::<jiff::civil::Date>()
            .is_ok_and(|d| d.year() < 1970)
        {
            return Err(usage(format!(
                "{first} is before 1970, which no message can carry; give the date the \
                 observations were filed"
            )));
        }
        return Err(usage(format!(
            "{:?} does not start with a date (2026-08-30) or a time (2026-08-30T09:00:00Z)",
            rest
        )));
    };
    Ok(Filing {
        body,
        filed_at,
        reference: reference.trim().trim_matches('"').to_string(),
    })
}

/// A time in a report file: an RFC 3339 string, a TOML date-time or a TOML date.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum FileTime {
    Text(String),
    Toml(toml::value::Datetime),
}

impl FileTime {
    fn read(&self, key: &str, path: &Path) -> anyhow::Result<Timestamp> {
        let text = match self {
            FileTime::Text(s) => s.clone(),
            FileTime::Toml(d) => d.to_string(),
        };
        date_or_time(&text).ok_or_else(|| {
            Failure::usage(format!(
                "{}: {key} = {text:?} is not a date or a time with its offset; write it like \
                 2026-08-30 or 2026-08-30T09:00:00Z",
                path.display()
            ))
        })
    }
}

/// A report file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportFile {
    #[serde(default)]
    count: Vec<FileCount>,
    #[serde(default)]
    filing: Vec<FileFiling>,
    as_of: Option<FileTime>,
    statement: Option<String>,
    evidence: Option<String>,
    expires: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCount {
    measure: String,
    value: u64,
    currency: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFiling {
    body: String,
    filed_at: FileTime,
    reference: Option<String>,
}

/// A report being composed: the file first, then the flags.
#[derive(Debug, Default)]
struct Draft {
    counts: Vec<Count>,
    filings: Vec<Filing>,
    as_of: Option<Timestamp>,
    statement: String,
    evidence: String,
    expires: Option<String>,
}

/// Refuses a measure (and currency) that `source` gives a second time: a report gives each
/// once, as a total, and a second would silently replace the first.
fn once(given: &mut Vec<Count>, count: &Count, source: &str) -> anyhow::Result<()> {
    let currency = |c: &Count| {
        if c.currency.is_empty() {
            String::new()
        } else {
            format!(":{}", c.currency)
        }
    };
    if let Some(first) = given
        .iter()
        .find(|c| c.measure == count.measure && c.currency == count.currency)
    {
        return Err(Failure::usage(format!(
            "{source} gives {}{} twice ({} and {}): a report gives each measure once, as your \
             organisation's total; add them up ({source} {}={}{})",
            count.measure,
            currency(count),
            first.value,
            count.value,
            count.measure,
            first.value.saturating_add(count.value),
            currency(count),
        )));
    }
    given.push(count.clone());
    Ok(())
}

impl Draft {
    fn apply_file(&mut self, path: &Path) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the report file {}", path.display()))?;
        let file: ReportFile = toml::from_str(&text).map_err(|e| {
            Failure::usage(format!(
                "{} is not a valid report file: {}",
                path.display(),
                e.to_string().trim_end()
            ))
        })?;
        let mut given = Vec::new();
        for c in &file.count {
            let text = match &c.currency {
                Some(cur) => format!("{}={}:{cur}", c.measure, c.value),
                None => format!("{}={}", c.measure, c.value),
            };
            let flag = format!("{}: [[count]]", path.display());
            let count = parse_amount(&text, &flag, false)?;
            once(&mut given, &count, &flag)?;
            self.set_count(count);
        }
        for f in &file.filing {
            let body =
                SupervisoryBody::parse(&f.body.trim().to_ascii_lowercase()).ok_or_else(|| {
                    Failure::usage(format!(
                        "{}: [[filing]] body = {:?} is not one of: ceacr, cas, cfa, other",
                        path.display(),
                        f.body
                    ))
                })?;
            self.filings.push(Filing {
                body,
                filed_at: f.filed_at.read("filed_at", path)?,
                reference: f.reference.clone().unwrap_or_default(),
            });
        }
        if let Some(t) = &file.as_of {
            self.as_of = Some(t.read("as_of", path)?);
        }
        if let Some(s) = file.statement {
            self.statement = s;
        }
        if let Some(e) = file.evidence {
            self.evidence = e;
        }
        if let Some(e) = file.expires {
            self.expires = Some(e);
        }
        Ok(())
    }

    /// A count replaces the one of the same measure (and currency) given before: a flag the
    /// file's (the same source giving one twice is refused, [`once`]).
    fn set_count(&mut self, count: Count) {
        self.counts
            .retain(|c| !(c.measure == count.measure && c.currency == count.currency));
        self.counts.push(count);
    }

    fn apply_args(&mut self, args: &ReportArgs) -> anyhow::Result<()> {
        if let Some(path) = &args.file {
            self.apply_file(path)?;
        }
        let mut given = Vec::new();
        for a in &args.actions {
            let count = parse_amount(a, "--action", false)?;
            once(&mut given, &count, "--action")?;
            self.set_count(count);
        }
        for f in &args.filings {
            self.filings.push(parse_filing(f)?);
        }
        if let Some(t) = &args.as_of {
            self.as_of = Some(date_or_time(t).ok_or_else(|| {
                Failure::usage(format!(
                    "--as-of {t:?} is not a time; write it like 2026-12-01T09:00:00Z"
                ))
            })?);
        }
        if let Some(s) = &args.statement {
            self.statement = s.clone();
        }
        if let Some(e) = &args.evidence {
            self.evidence = e.clone();
        }
        if let Some(e) = &args.expires {
            self.expires = Some(e.clone());
        }
        if self.counts.is_empty() && self.filings.is_empty() {
            return Err(Failure::usage(format!(
                "a report says what your organisation did: give --action MEASURE=N ({}; \
                 donations=1200:EUR) or --filing BODY:DATE, or --file FILE",
                measure_names(true)
            )));
        }
        Ok(())
    }

    /// When the report expires: as asked, else with its target, never beyond a report's
    /// longest life.
    fn expires_at(&self, target: Option<&Message>, now: Timestamp) -> anyhow::Result<Timestamp> {
        let cap = now.plus(max_lifetime(Kind::Report).unwrap_or(Duration::from_secs(400 * 86400)));
        match &self.expires {
            Some(text) => Timestamp::parse_rfc3339(text.trim())
                .or_else(|| {
                    humantime::parse_duration(text.trim())
                        .ok()
                        .map(|d| now.plus(d))
                })
                .ok_or_else(|| {
                    Failure::usage(format!(
                        "--expires {text:?} is neither a time (2027-01-01T00:00:00Z) nor a \
                         duration (90days)"
                    ))
                }),
            None => Ok(target
                .and_then(|t| t.body().expires_at)
                .filter(|e| *e > now)
                .map_or(cap, |e| e.min(cap))),
        }
    }

    /// The signed report on `target_id`, checked by the nodes' rules first.
    fn sign(
        &self,
        key: &crate::message::SecretKey,
        target_id: crate::message::Id,
        target: Option<&Message>,
        now: Timestamp,
    ) -> anyhow::Result<Message> {
        let body = Body {
            author: key.public(),
            created_at: now,
            expires_at: Some(self.expires_at(target, now)?),
            // Followers who filter on the target's topics and countries see its reports too.
            topics: target.map(|t| t.body().topics.clone()).unwrap_or_default(),
            countries: target
                .map(|t| t.body().countries.clone())
                .unwrap_or_default(),
            effective_at: None,
            content: Content::Report(ActionReport {
                target: target_id,
                counts: self.counts.clone(),
                filings: self.filings.clone(),
                as_of: self.as_of,
                statement: self.statement.clone(),
                evidence: self.evidence.clone(),
            }),
        };
        finish(body, key, now)
    }
}

/// What this key reported before, in words, when the tally holds it.
fn earlier_report(state: &crate::rpc::GetState, key: &crate::message::SecretKey) -> Option<String> {
    let earlier = state
        .tally
        .reports
        .iter()
        .find(|r| r.author == key.public())?;
    let mut counts: Vec<String> = earlier
        .counts
        .iter()
        .map(|c| amount(c.measure, &c.currency, c.value))
        .collect();
    if !earlier.filings.is_empty() {
        counts.push(amount(
            Measure::Observations,
            "",
            earlier.filings.len() as u64,
        ));
    }
    Some(format!(
        "{} ({})",
        counts.join(", "),
        Clock::system().when(earlier.created_at)
    ))
}

pub(crate) async fn report(args: ReportArgs) -> anyhow::Result<()> {
    let id = parse_id(&args.id)?;
    let mut draft = Draft::default();
    draft.apply_args(&args)?;
    let key = load_key(&args.opts)?;
    let mut client = args.opts.node.connect().await?;
    let now = Timestamp::now();
    let held = client.get(id).await.context("asking the node")?;
    let (target_id, target, current, state) = match held {
        Some(_) => {
            let orig = original(&mut client, id).await?;
            let current = orig.current.clone();
            (orig.id, orig.message, current, Some(orig.state))
        }
        None => {
            eprintln!(
                "note: the node at {} does not hold {} yet; the report waits there until it \
                 arrives, and counts from then",
                client.url(),
                id.short()
            );
            (id, None, None, None)
        }
    };
    if state.as_ref().is_some_and(|s| s.cancelled) {
        eprintln!(
            "note: {} was cancelled by its author; your report is kept and counted for the \
             organisers, but readers no longer see the call",
            target_id.short()
        );
    }
    let earlier = state.as_ref().and_then(|s| earlier_report(s, &key));
    let message = draft.sign(&key, target_id, target.as_ref(), now)?;
    let facts = Facts {
        target_headline: current
            .as_ref()
            .or(target.as_ref())
            .and_then(|m| headline_of(m, &[])),
        ..Facts::default()
    };
    deliver(&args.opts, &key, &mut client, &message, &facts).await?;
    // Said once the node took it: a refused report replaces nothing.
    if let Some(earlier) = earlier {
        eprintln!(
            "note: this replaces your earlier report of {earlier}: counts are cumulative, so \
             give your whole count to date"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(text: &str) -> String {
        parse_amount(text, "--action", false)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_filing_before_1970_says_so() {
        let err = parse_filing("cas:1900-01-01").unwrap_err().to_string();
        assert!(err.contains("1900-01-01 is before 1970"), "{err}");
        let err = parse_filing("cas:soon").unwrap_err().to_string();
        assert!(err.contains("does not start with a date"), "{err}");
    }

    #[test]
    fn a_measure_given_twice_by_one_source_is_refused_with_the_sum_to_give() {
        let mut given = Vec::new();
        let five = parse_amount("letters=5", "--action", false).unwrap();
        let seven = parse_amount("letters=7", "--action", false).unwrap();
        once(&mut given, &five, "--action").unwrap();
        let err = once(&mut given, &seven, "--action")
            .unwrap_err()
            .to_string();
        assert!(err.contains("letters twice (5 and 7)"), "{err}");
        assert!(err.contains("--action letters=12"), "{err}");
        // Donations in another currency are another count.
        let eur = parse_amount("donations=5:EUR", "--action", false).unwrap();
        let usd = parse_amount("donations=5:USD", "--action", false).unwrap();
        once(&mut given, &eur, "--action").unwrap();
        once(&mut given, &usd, "--action").unwrap();
        let err = once(&mut given, &eur, "--action").unwrap_err().to_string();
        assert!(err.contains("donations=10:EUR"), "{err}");
    }

    #[test]
    fn counts_parse_and_wrong_ones_say_what_to_type() {
        let c = parse_amount("letters=340", "--action", false).unwrap();
        assert_eq!(
            (c.measure, c.value, c.currency.as_str()),
            (Measure::Letters, 340, "")
        );
        let c = parse_amount("donations=1,200:eur", "--action", false).unwrap();
        assert_eq!(
            (c.measure, c.value, c.currency.as_str()),
            (Measure::Donations, 1200, "EUR")
        );
        // A singular is understood.
        assert_eq!(
            parse_amount("letter=3", "--action", false).unwrap().measure,
            Measure::Letters
        );
        assert!(
            usage("letters:340").contains("write letters=340"),
            "{}",
            usage("letters:340")
        );
        assert!(usage("donations=1200").contains("donations=1200:EUR"));
        assert!(usage("letters=3k").contains("not a whole number"));
        assert!(usage("emails=3").contains("letters, signatures"));
        assert!(usage("observations=3").contains("--filing ceacr:"));
        assert!(usage("organisations=3").contains("what a tally counts"));
        assert!(usage("letters=3:EUR").contains("only donations"));
        assert!(usage("donations=3:euro").contains("ISO 4217"));
        // A goal may aim at organisations and observations.
        let g = parse_goal("organisations=20", "--goal").unwrap();
        assert_eq!((g.measure, g.target), (Measure::Organisations, 20));
        assert!(parse_goal("letters=0", "--goal").is_err());
    }

    #[test]
    fn filings_take_a_date_or_a_time_and_a_reference_with_colons() {
        let f = parse_filing("ceacr:2026-08-30").unwrap();
        assert_eq!(f.body, SupervisoryBody::Ceacr);
        assert_eq!(f.filed_at.to_rfc3339(), "2026-08-30T00:00:00Z");
        assert_eq!(f.reference, "");
        let f = parse_filing("CFA:2026-08-30T09:15:00Z:Case No. 3456: interim").unwrap();
        assert_eq!(f.body, SupervisoryBody::Cfa);
        assert_eq!(f.filed_at.to_rfc3339(), "2026-08-30T09:15:00Z");
        assert_eq!(f.reference, "Case No. 3456: interim");
        let err = parse_filing("ilo:2026-08-30").unwrap_err().to_string();
        assert!(err.contains("ceacr, cas, cfa, other"), "{err}");
        let err = parse_filing("ceacr:next week").unwrap_err().to_string();
        assert!(err.contains("does not start with a date"), "{err}");
    }

    #[test]
    fn a_file_is_read_and_flags_override_its_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.toml");
        std::fs::write(
            &path,
            "statement = \"From the port\"\nas_of = 2026-03-01\n\
             [[count]]\nmeasure = \"letters\"\nvalue = 300\n\
             [[count]]\nmeasure = \"donations\"\nvalue = 900\ncurrency = \"EUR\"\n\
             [[filing]]\nbody = \"ceacr\"\nfiled_at = 2026-02-20\nreference = \"obs-1\"\n",
        )
        .unwrap();
        let mut d = Draft::default();
        d.apply_file(&path).unwrap();
        d.set_count(parse_amount("letters=340", "--action", false).unwrap());
        assert_eq!(d.counts.len(), 2);
        assert!(
            d.counts
                .iter()
                .any(|c| c.measure == Measure::Letters && c.value == 340)
        );
        assert_eq!(d.filings[0].reference, "obs-1");
        assert_eq!(
            d.as_of.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-03-01T00:00:00Z")
        );
        std::fs::write(&path, "[[count]]\nmeasure = \"letters\"\nvalu = 3\n").unwrap();
        let err = Draft::default().apply_file(&path).unwrap_err().to_string();
        assert!(err.contains("not a valid report file"), "{err}");
    }
}
