//! Composing alerts, calls and their updates: from flags, from a TOML file that carries several
//! languages at once, or both. Flags override the file field by field (an info flag changes the
//! block in its `--lang`). Defaults are the ones a union officer would choose, and the result is
//! checked with the same rules every node applies before anything is signed.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use serde::Deserialize;

use super::{Failure, parse_time};
use crate::keyfile;
use crate::message::{
    ActionCall, ActionType, Alert, Body, Category, Certainty, Content, Info, Kind, Message,
    SecretKey, Severity, Status, SupervisoryBody, Timestamp, Update, UpdateContent, Urgency,
    max_lifetime, validate,
};

pub(crate) const ALERT_EXAMPLE: &str = "Examples:\n  tocsin sign alert --key eastland.key --lang en \\\n    \
    --headline \"Four union leaders arrested in Eastport\" \\\n    \
    --description \"Police detained four leaders of the Eastland Dockworkers' Union at dawn.\" \\\n    \
    --category arrest --urgency immediate --severity severe --certainty observed \\\n    \
    --country AZ --topic union-rights --out arrest.msg\n  \
    tocsin sign alert --key eastland.key --file config/alert.example.toml --out arrest.msg";

pub(crate) const CALL_EXAMPLE: &str = "Examples:\n  tocsin sign call --key eastland.key --lang en \\\n    \
    --headline \"File observations with the CEACR on Eastland\" \\\n    \
    --description \"Eastland ignores Conventions 87 and 98.\" \\\n    \
    --action ilo-observation --target \"ILO Committee of Experts\" \\\n    \
    --convention C087 --convention C098 --supervisory-body ceacr \\\n    \
    --deadline 2027-09-01T00:00:00Z --out ceacr.msg\n  \
    tocsin sign call --key eastland.key --file config/call.example.toml --out ceacr.msg";

/// A parser for one of the message core's closed enums, listing the accepted names on error.
fn enum_arg<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(all.iter().map(|v| name(*v))).map(move |s: String| {
        // PossibleValuesParser has already refused anything that is not one of these names.
        all.iter()
            .copied()
            .find(|v| name(*v) == s)
            .unwrap_or(all[0])
    })
}

/// The fields of an alert, shared by `sign alert`, `post alert`, the call commands and `update`.
/// Every field is optional here: a file may carry it, or (for an update) the current version.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AlertArgs {
    /// A TOML file with the fields and one [[info]] block per language (see
    /// config/alert.example.toml). Flags given as well override the file's values.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// One line saying what happened (in the language of --lang).
    #[arg(long)]
    pub headline: Option<String>,
    /// What happened, in full (in the language of --lang).
    #[arg(long)]
    pub description: Option<String>,
    /// The language of --headline, --description, --instruction and --link, as a BCP-47 tag
    /// (en, fr, az, pt-BR).
    #[arg(long, value_name = "TAG")]
    pub lang: Option<String>,
    /// What readers are asked to do.
    #[arg(long)]
    pub instruction: Option<String>,
    /// An https:// link for more.
    #[arg(long, value_name = "URL")]
    pub link: Option<String>,
    /// A topic slug (repeat for several): union-rights, garment-sector.
    #[arg(long = "topic", value_name = "SLUG")]
    pub topics: Vec<String>,
    /// A country concerned, ISO 3166-1 alpha-2 (repeat for several): AZ, BR.
    #[arg(long = "country", value_name = "CC")]
    pub countries: Vec<String>,
    /// CAP status [default: actual].
    #[arg(long, value_parser = enum_arg(Status::ALL, Status::as_str))]
    pub status: Option<Status>,
    /// What happened [default: other].
    #[arg(long, value_parser = enum_arg(Category::ALL, Category::as_str))]
    pub category: Option<Category>,
    /// CAP urgency [default: unknown].
    #[arg(long, value_parser = enum_arg(Urgency::ALL, Urgency::as_str))]
    pub urgency: Option<Urgency>,
    /// CAP severity [default: unknown].
    #[arg(long, value_parser = enum_arg(Severity::ALL, Severity::as_str))]
    pub severity: Option<Severity>,
    /// CAP certainty [default: unknown].
    #[arg(long, value_parser = enum_arg(Certainty::ALL, Certainty::as_str))]
    pub certainty: Option<Certainty>,
    /// How long relays keep it, like 30days or 12h [default: 30 days; for a call, until a
    /// week after its deadline].
    #[arg(long, value_name = "DURATION", conflicts_with = "expires_at")]
    pub expires_in: Option<humantime::Duration>,
    /// When relays stop serving it (RFC 3339, like 2026-12-01T09:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub expires_at: Option<String>,
    /// Embargo: shown to readers only from this time (RFC 3339); sent at once to peers that
    /// trust this node's certificate (`tocsin peer invite`/`join`), to the others at that time.
    #[arg(long, value_name = "TIME")]
    pub effective_at: Option<String>,
}

/// The fields of an action call: an alert's, and what is asked of whom by when.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CallArgs {
    /// The alert fields.
    #[command(flatten)]
    pub alert: AlertArgs,
    /// What is asked (repeat for several); a call needs at least one, here or in the file.
    #[arg(long = "action", value_parser = enum_arg(ActionType::ALL, ActionType::as_str))]
    pub actions: Vec<ActionType>,
    /// Who the pressure is on ("the President of Eastland").
    #[arg(long)]
    pub target: Option<String>,
    /// The deadline (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub deadline: Option<String>,
    /// When the action window opens (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub window_start: Option<String>,
    /// When the action window closes (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub window_end: Option<String>,
    /// An ILO convention cited, as C087 (repeat for several).
    #[arg(long = "convention", visible_alias = "ilo", value_name = "CNNN")]
    pub conventions: Vec<String>,
    /// The ILO supervisory body concerned.
    #[arg(long, value_parser = enum_arg(SupervisoryBody::ALL, SupervisoryBody::as_str))]
    pub supervisory_body: Option<SupervisoryBody>,
    /// A goal the call hopes to reach, as MEASURE=N: letters=3000, signatures=10000,
    /// organisations=20, observations=15, donations=5000:EUR (repeat for several; given, they
    /// replace the goals of the file or of the version updated). Readers see the reports'
    /// progress against them.
    #[arg(long = "goal", value_name = "MEASURE=N[:CUR]")]
    pub goals: Vec<String>,
}

/// `tocsin sign alert`
#[derive(Debug, clap::Args)]
pub struct SignAlertArgs {
    /// The fields.
    #[command(flatten)]
    pub alert: AlertArgs,
    /// The secret key file to sign with.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Where to write the signed message [default: standard output, when it is not a terminal].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `tocsin sign call`
#[derive(Debug, clap::Args)]
pub struct SignCallArgs {
    /// The fields.
    #[command(flatten)]
    pub call: CallArgs,
    /// The secret key file to sign with.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Where to write the signed message [default: standard output, when it is not a terminal].
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// A time in a post file: an RFC 3339 string or a TOML date-time.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum FileTime {
    Text(String),
    Toml(toml::value::Datetime),
}

/// One language's text in a post file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileInfo {
    #[serde(alias = "lang")]
    language: String,
    headline: Option<String>,
    description: Option<String>,
    instruction: Option<String>,
    link: Option<String>,
}

/// A post file: the fields of an alert or call, named as the flags are, and `[[info]]` blocks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PostFile {
    status: Option<String>,
    category: Option<String>,
    urgency: Option<String>,
    severity: Option<String>,
    certainty: Option<String>,
    topics: Option<Vec<String>>,
    countries: Option<Vec<String>>,
    expires_in: Option<String>,
    expires_at: Option<FileTime>,
    effective_at: Option<FileTime>,
    // The call's fields.
    actions: Option<Vec<String>>,
    target: Option<String>,
    deadline: Option<FileTime>,
    window_start: Option<FileTime>,
    window_end: Option<FileTime>,
    conventions: Option<Vec<String>>,
    supervisory_body: Option<String>,
    goals: Option<Vec<String>>,
    #[serde(default)]
    info: Vec<FileInfo>,
}

impl PostFile {
    /// The call-only keys that are set, to refuse them in an alert's file.
    fn call_keys(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let set = [
            (self.actions.is_some(), "actions"),
            (self.target.is_some(), "target"),
            (self.deadline.is_some(), "deadline"),
            (self.window_start.is_some(), "window_start"),
            (self.window_end.is_some(), "window_end"),
            (self.conventions.is_some(), "conventions"),
            (self.supervisory_body.is_some(), "supervisory_body"),
            (self.goals.is_some(), "goals"),
        ];
        for (is, key) in set {
            if is {
                v.push(key);
            }
        }
        v
    }
}

/// When the message expires, as asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// The default for the kind (see [`Draft::expires_at`]).
    Default,
    /// At this time.
    At(Timestamp),
    /// This long after it is made.
    In(Duration),
}

/// An alert or call being composed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Draft {
    /// Alert or call.
    kind: Kind,
    /// The content; for an alert only `base` is used (the call fields stay empty).
    call: ActionCall,
    topics: Vec<String>,
    countries: Vec<String>,
    expiry: Expiry,
    /// The expiry is at least this (an update keeps its original's).
    expiry_floor: Option<Timestamp>,
    effective_at: Option<Timestamp>,
}

fn parse_named<T: Copy>(
    all: &[T],
    name: fn(T) -> &'static str,
    value: &str,
    key: &str,
    file: &Path,
) -> anyhow::Result<T> {
    all.iter()
        .copied()
        .find(|v| name(*v).eq_ignore_ascii_case(value.trim()))
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|v| name(*v)).collect();
            Failure::usage(format!(
                "{}: {key} = {value:?} is not one of: {}",
                file.display(),
                names.join(", ")
            ))
        })
}

fn file_time(t: &FileTime, key: &str, file: &Path) -> anyhow::Result<Timestamp> {
    let text = match t {
        FileTime::Text(s) => s.clone(),
        FileTime::Toml(d) => d.to_string(),
    };
    Timestamp::parse_rfc3339(&text).ok_or_else(|| {
        Failure::usage(format!(
            "{}: {key} = {text:?} is not a time with its offset; write it like 2026-12-01T09:00:00Z",
            file.display()
        ))
    })
}

fn upper(countries: &[String]) -> Vec<String> {
    countries
        .iter()
        .map(|c| c.trim().to_ascii_uppercase())
        .collect()
}

impl Draft {
    /// A new alert or call with the defaults: actual, other, unknown urgency, severity and
    /// certainty, no text yet.
    pub(crate) fn new(kind: Kind) -> Draft {
        Draft {
            kind,
            call: ActionCall {
                base: Alert {
                    status: Status::Actual,
                    category: Category::Other,
                    urgency: Urgency::Unknown,
                    severity: Severity::Unknown,
                    certainty: Certainty::Unknown,
                    info: Vec::new(),
                },
                actions: Vec::new(),
                target: String::new(),
                window_starts_at: None,
                window_ends_at: None,
                deadline: None,
                ilo_conventions: Vec::new(),
                supervisory_body: None,
                goals: Vec::new(),
            },
            topics: Vec::new(),
            countries: Vec::new(),
            expiry: Expiry::Default,
            expiry_floor: None,
            effective_at: None,
        }
    }

    /// A draft that starts from a current version (for `update`): its content, topics and
    /// countries; it lives at least as long as that version, and keeps a pending embargo.
    pub(crate) fn from_current(current: &Body, now: Timestamp) -> Option<Draft> {
        let (kind, call) = match &current.content {
            Content::Alert(a)
            | Content::Update(Update {
                content: UpdateContent::Alert(a),
                ..
            }) => {
                let mut d = Draft::new(Kind::Alert);
                d.call.base = a.clone();
                (Kind::Alert, d.call)
            }
            Content::Call(c)
            | Content::Update(Update {
                content: UpdateContent::Call(c),
                ..
            }) => (Kind::Call, c.clone()),
            _ => return None,
        };
        Some(Draft {
            kind,
            call,
            topics: current.topics.clone(),
            countries: current.countries.clone(),
            expiry: Expiry::Default,
            expiry_floor: current.expires_at,
            effective_at: current.effective_at.filter(|t| *t > now),
        })
    }

    /// Reads a post file and applies it.
    pub(crate) fn apply_file(&mut self, path: &Path) -> anyhow::Result<()> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the post file {}", path.display()))?;
        let file: PostFile = toml::from_str(&text).map_err(|e| {
            Failure::usage(format!(
                "{} is not a valid post file: {}",
                path.display(),
                e.to_string().trim_end()
            ))
        })?;
        self.apply_post_file(&file, path)
    }

    fn apply_post_file(&mut self, f: &PostFile, path: &Path) -> anyhow::Result<()> {
        if self.kind == Kind::Alert {
            let keys = f.call_keys();
            if !keys.is_empty() {
                return Err(Failure::usage(format!(
                    "{} sets {}, which only a call has; post it with `tocsin post call --file {}`",
                    path.display(),
                    keys.join(", "),
                    path.display()
                )));
            }
        }
        let a = &mut self.call.base;
        if let Some(v) = &f.status {
            a.status = parse_named(Status::ALL, Status::as_str, v, "status", path)?;
        }
        if let Some(v) = &f.category {
            a.category = parse_named(Category::ALL, Category::as_str, v, "category", path)?;
        }
        if let Some(v) = &f.urgency {
            a.urgency = parse_named(Urgency::ALL, Urgency::as_str, v, "urgency", path)?;
        }
        if let Some(v) = &f.severity {
            a.severity = parse_named(Severity::ALL, Severity::as_str, v, "severity", path)?;
        }
        if let Some(v) = &f.certainty {
            a.certainty = parse_named(Certainty::ALL, Certainty::as_str, v, "certainty", path)?;
        }
        for i in &f.info {
            let block = info_block(&mut a.info, &i.language);
            if let Some(v) = &i.headline {
                block.headline = v.clone();
            }
            if let Some(v) = &i.description {
                block.description = v.clone();
            }
            if let Some(v) = &i.instruction {
                block.instruction = v.clone();
            }
            if let Some(v) = &i.link {
                block.link = v.clone();
            }
        }
        if let Some(v) = &f.topics {
            self.topics = v.clone();
        }
        if let Some(v) = &f.countries {
            self.countries = upper(v);
        }
        match (&f.expires_in, &f.expires_at) {
            (Some(_), Some(_)) => {
                return Err(Failure::usage(format!(
                    "{}: set expires_in or expires_at, not both",
                    path.display()
                )));
            }
            (Some(d), None) => {
                let d = humantime::parse_duration(d).map_err(|e| {
                    Failure::usage(format!(
                        "{}: expires_in = {d:?}: {e}; write it like \"30days\" or \"12h\"",
                        path.display()
                    ))
                })?;
                self.expiry = Expiry::In(d);
            }
            (None, Some(t)) => self.expiry = Expiry::At(file_time(t, "expires_at", path)?),
            (None, None) => {}
        }
        if let Some(t) = &f.effective_at {
            self.effective_at = Some(file_time(t, "effective_at", path)?);
        }
        let c = &mut self.call;
        if let Some(v) = &f.actions {
            c.actions = v
                .iter()
                .map(|a| parse_named(ActionType::ALL, ActionType::as_str, a, "actions", path))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = &f.target {
            c.target = v.clone();
        }
        if let Some(t) = &f.deadline {
            c.deadline = Some(file_time(t, "deadline", path)?);
        }
        if let Some(t) = &f.window_start {
            c.window_starts_at = Some(file_time(t, "window_start", path)?);
        }
        if let Some(t) = &f.window_end {
            c.window_ends_at = Some(file_time(t, "window_end", path)?);
        }
        if let Some(v) = &f.conventions {
            c.ilo_conventions = v.clone();
        }
        if let Some(v) = &f.supervisory_body {
            c.supervisory_body = Some(parse_named(
                SupervisoryBody::ALL,
                SupervisoryBody::as_str,
                v,
                "supervisory_body",
                path,
            )?);
        }
        if let Some(v) = &f.goals {
            let key = format!("{}: goals", path.display());
            c.goals = v
                .iter()
                .map(|g| super::report::parse_goal(g, &key))
                .collect::<Result<_, _>>()?;
        }
        Ok(())
    }

    /// Applies the alert flags (the file first, if `--file` names one).
    pub(crate) fn apply_alert_args(&mut self, args: &AlertArgs) -> anyhow::Result<()> {
        if let Some(path) = &args.file {
            self.apply_file(path)?;
        }
        let a = &mut self.call.base;
        if let Some(v) = args.status {
            a.status = v;
        }
        if let Some(v) = args.category {
            a.category = v;
        }
        if let Some(v) = args.urgency {
            a.urgency = v;
        }
        if let Some(v) = args.severity {
            a.severity = v;
        }
        if let Some(v) = args.certainty {
            a.certainty = v;
        }
        let text_flags = args.headline.is_some()
            || args.description.is_some()
            || args.instruction.is_some()
            || args.link.is_some();
        if text_flags {
            let lang = match (&args.lang, a.info.as_slice()) {
                (Some(l), _) => l.clone(),
                (None, [only]) => only.language.clone(),
                (None, []) => {
                    return Err(Failure::usage(
                        "say which language the text is in with --lang (en, fr, az, pt-BR…)",
                    ));
                }
                (None, several) => {
                    let langs: Vec<&str> = several.iter().map(|i| i.language.as_str()).collect();
                    return Err(Failure::usage(format!(
                        "the message has text in {}; say which one the flags change with --lang",
                        langs.join(", ")
                    )));
                }
            };
            let block = info_block(&mut a.info, &lang);
            if let Some(v) = &args.headline {
                block.headline = v.clone();
            }
            if let Some(v) = &args.description {
                block.description = v.clone();
            }
            if let Some(v) = &args.instruction {
                block.instruction = v.clone();
            }
            if let Some(v) = &args.link {
                block.link = v.clone();
            }
        } else if let Some(l) = &args.lang
            && !a.info.iter().any(|i| i.language.eq_ignore_ascii_case(l))
        {
            return Err(Failure::usage(format!(
                "--lang {l} names the language of --headline and --description; give them too"
            )));
        }
        if !args.topics.is_empty() {
            self.topics = args.topics.clone();
        }
        if !args.countries.is_empty() {
            self.countries = upper(&args.countries);
        }
        if let Some(t) = &args.expires_at {
            self.expiry = Expiry::At(parse_time(t, "--expires-at")?);
        }
        if let Some(d) = args.expires_in {
            self.expiry = Expiry::In(d.into());
        }
        if let Some(t) = &args.effective_at {
            self.effective_at = Some(parse_time(t, "--effective-at")?);
        }
        Ok(())
    }

    /// Applies the call flags (and the alert flags and file they carry).
    pub(crate) fn apply_call_args(&mut self, args: &CallArgs) -> anyhow::Result<()> {
        self.apply_alert_args(&args.alert)?;
        let call_flags = [
            (!args.actions.is_empty(), "--action"),
            (args.target.is_some(), "--target"),
            (args.deadline.is_some(), "--deadline"),
            (args.window_start.is_some(), "--window-start"),
            (args.window_end.is_some(), "--window-end"),
            (!args.conventions.is_empty(), "--convention"),
            (args.supervisory_body.is_some(), "--supervisory-body"),
            (!args.goals.is_empty(), "--goal"),
        ];
        if self.kind == Kind::Alert {
            let given: Vec<&str> = call_flags
                .iter()
                .filter(|(is, _)| *is)
                .map(|(_, f)| *f)
                .collect();
            if !given.is_empty() {
                let verb = if given.len() == 1 { "applies" } else { "apply" };
                return Err(Failure::usage(format!(
                    "{} only {verb} to a call, and this message is an alert",
                    given.join(", ")
                )));
            }
            return Ok(());
        }
        let c = &mut self.call;
        if !args.actions.is_empty() {
            c.actions = args.actions.clone();
        }
        if let Some(v) = &args.target {
            c.target = v.clone();
        }
        let time = |v: &Option<String>, flag| v.as_deref().map(|t| parse_time(t, flag)).transpose();
        if let Some(t) = time(&args.deadline, "--deadline")? {
            c.deadline = Some(t);
        }
        if let Some(t) = time(&args.window_start, "--window-start")? {
            c.window_starts_at = Some(t);
        }
        if let Some(t) = time(&args.window_end, "--window-end")? {
            c.window_ends_at = Some(t);
        }
        if !args.conventions.is_empty() {
            c.ilo_conventions = args.conventions.clone();
        }
        if let Some(b) = args.supervisory_body {
            c.supervisory_body = Some(b);
        }
        if !args.goals.is_empty() {
            c.goals = args
                .goals
                .iter()
                .map(|g| super::report::parse_goal(g, "--goal"))
                .collect::<Result<_, _>>()?;
        }
        Ok(())
    }

    /// Refuses a draft that lacks what its kind needs, saying which flag or key supplies it.
    fn check_complete(&self) -> anyhow::Result<()> {
        let what = self.kind.as_str();
        if self.call.base.info.is_empty() {
            return Err(Failure::usage(
                format!(
                    "an {what} needs its text: give --lang, --headline and --description, or \
                 --file FILE with [[info]] blocks (see `tocsin post {what} --help`)",
                )
                .replace("an call", "a call"),
            ));
        }
        for i in &self.call.base.info {
            for (field, v) in [("headline", &i.headline), ("description", &i.description)] {
                if v.trim().is_empty() {
                    return Err(Failure::usage(format!(
                        "the {} text has no {field}; add --{field} (with --lang {}) or \
                         `{field} = \"…\"` to its [[info]] block",
                        i.language, i.language
                    )));
                }
            }
        }
        if self.kind == Kind::Call && self.call.actions.is_empty() {
            let all: Vec<&str> = ActionType::ALL.iter().map(|a| a.as_str()).collect();
            return Err(Failure::usage(format!(
                "a call needs at least one --action ({}), or `actions = [\"letter\"]` in its file",
                all.join(", ")
            )));
        }
        Ok(())
    }

    /// When it expires: as asked, or by default 30 days from now; a call at least a week past
    /// its deadline or window (so latecomers see the outcome); an update at least as long as
    /// the version it replaces; never beyond the kind's maximum lifetime.
    fn expires_at(&self, now: Timestamp, kind_for_cap: Kind) -> Timestamp {
        match self.expiry {
            Expiry::At(t) => t,
            Expiry::In(d) => now.plus(d),
            Expiry::Default => {
                let week = Duration::from_secs(7 * 24 * 3600);
                let default = now.plus(Duration::from_secs(30 * 24 * 3600));
                let call_floor = if self.kind == Kind::Call {
                    self.call
                        .deadline
                        .max(self.call.window_ends_at)
                        .map(|t| t.plus(week))
                } else {
                    None
                };
                let wanted = default
                    .max(call_floor.unwrap_or(default))
                    .max(self.expiry_floor.unwrap_or(default));
                let cap = max_lifetime(kind_for_cap).map_or(wanted, |m| now.plus(m));
                wanted.min(cap)
            }
        }
    }

    fn content(&self) -> UpdateContent {
        match self.kind {
            Kind::Call => UpdateContent::Call(self.call.clone()),
            _ => UpdateContent::Alert(self.call.base.clone()),
        }
    }

    fn body(&self, key: &SecretKey, content: Content, now: Timestamp) -> Body {
        // An update is held to its content's kind's lifetime, not the update kind's.
        let expires_at = self.expires_at(now, self.kind);
        Body {
            author: key.public(),
            created_at: now,
            expires_at: Some(expires_at),
            topics: self.topics.clone(),
            countries: self.countries.clone(),
            effective_at: self.effective_at,
            content,
        }
    }

    /// The new alert or call, signed by `key` at `now`, checked first.
    pub(crate) fn sign(&self, key: &SecretKey, now: Timestamp) -> anyhow::Result<Message> {
        self.check_complete()?;
        let content = match self.content() {
            UpdateContent::Alert(a) => Content::Alert(a),
            UpdateContent::Call(c) => Content::Call(c),
        };
        finish(self.body(key, content, now), key, now)
    }

    /// An update of `supersedes` carrying this draft, signed by `key` at `now`, checked first.
    pub(crate) fn sign_update(
        &self,
        supersedes: crate::message::Id,
        key: &SecretKey,
        now: Timestamp,
    ) -> anyhow::Result<Message> {
        self.check_complete()?;
        let content = Content::Update(Update {
            supersedes,
            content: self.content(),
        });
        finish(self.body(key, content, now), key, now)
    }
}

/// The block in `lang` (matched case-insensitively), added at the end if absent.
fn info_block<'a>(info: &'a mut Vec<Info>, lang: &str) -> &'a mut Info {
    let pos = info
        .iter()
        .position(|i| i.language.eq_ignore_ascii_case(lang.trim()));
    let i = match pos {
        Some(i) => i,
        None => {
            info.push(Info {
                language: lang.trim().to_string(),
                ..Info::default()
            });
            info.len() - 1
        }
    };
    &mut info[i]
}

impl AlertArgs {
    /// The alert these flags (and file) describe, signed by `key` at `now`, validated.
    pub fn sign(&self, key: &SecretKey, now: Timestamp) -> anyhow::Result<Message> {
        let mut d = Draft::new(Kind::Alert);
        d.apply_alert_args(self)?;
        d.sign(key, now)
    }
}

impl CallArgs {
    /// The call these flags (and file) describe, signed by `key` at `now`, validated.
    pub fn sign(&self, key: &SecretKey, now: Timestamp) -> anyhow::Result<Message> {
        let mut d = Draft::new(Kind::Call);
        d.apply_call_args(self)?;
        d.sign(key, now)
    }
}

/// Validates with the nodes' own rules, then signs. A problem here is the user's input: exit 2.
pub(crate) fn finish(body: Body, key: &SecretKey, now: Timestamp) -> anyhow::Result<Message> {
    validate(&body, now)
        .map_err(|r| Failure::usage(format!("this message would be refused: {r}")))?;
    let message = Message::sign(body, key).context("signing")?;
    Ok(message)
}

/// Warns on stderr, never refuses, of each ILO convention a call cites that the node's table
/// cannot name: a number that is no convention is most likely a slip, but the wire accepts
/// any well-shaped code and a newer table may know it. `going_on` ends the line ("posting
/// anyway"). Stdout is left alone, so `--json` output stays valid.
pub(crate) fn warn_unnamed_conventions(message: &Message, going_on: &str) {
    let codes = match &message.body().content {
        Content::Call(c)
        | Content::Update(Update {
            content: UpdateContent::Call(c),
            ..
        }) => &c.ilo_conventions,
        _ => return,
    };
    for unnamed in codes.iter().filter_map(|code| crate::ilo::unnamed(code)) {
        eprintln!("warning: {unnamed}; {going_on}");
    }
}

fn write_out(message: &Message, out: Option<&PathBuf>) -> anyhow::Result<()> {
    let bytes = message.signed().encode_to_vec();
    match out {
        Some(path) => {
            std::fs::write(path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "Signed {} {} into {}",
                message.kind(),
                message.id(),
                path.display()
            );
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            if stdout.is_terminal() {
                return Err(Failure::usage(
                    "a signed message is binary; add --out FILE or redirect the output to a file",
                ));
            }
            stdout.write_all(&bytes)?;
            stdout.flush()?;
        }
    }
    Ok(())
}

pub(crate) fn sign_alert(args: &SignAlertArgs) -> anyhow::Result<()> {
    let key = keyfile::load(&args.key).context("loading the key")?;
    let message = args.alert.sign(&key, Timestamp::now())?;
    write_out(&message, args.out.as_ref())
}

pub(crate) fn sign_call(args: &SignCallArgs) -> anyhow::Result<()> {
    let key = keyfile::load(&args.key).context("loading the key")?;
    let message = args.call.sign(&key, Timestamp::now())?;
    warn_unnamed_conventions(&message, "signing anyway");
    write_out(&message, args.out.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SecretKey {
        SecretKey::from_seed(&[7; 32])
    }

    fn now() -> Timestamp {
        Timestamp::parse_rfc3339("2026-03-04T09:00:00Z").unwrap()
    }

    fn file(text: &str) -> PostFile {
        toml::from_str(text).unwrap()
    }

    const CALL_FILE: &str = r#"
        category = "arrest"
        severity = "severe"
        countries = ["az"]
        topics = ["union-rights"]
        actions = ["letter", "ilo-observation"]
        target = "President of Eastland"
        deadline = 2026-03-20T00:00:00Z
        conventions = ["C087", "C098"]
        supervisory_body = "ceacr"

        [[info]]
        language = "en"
        headline = "Write for the Eastport four"
        description = "Four leaders are held."

        [[info]]
        language = "fr"
        headline = "Écrivez pour les quatre d'Eastport"
        description = "Quatre dirigeants sont détenus."
    "#;

    #[test]
    fn a_file_carries_several_languages_and_flags_override_it() {
        let mut d = Draft::new(Kind::Call);
        d.apply_post_file(&file(CALL_FILE), Path::new("call.toml"))
            .unwrap();
        let args = CallArgs {
            alert: AlertArgs {
                lang: Some("fr".into()),
                headline: Some("Écrivez au Président".into()),
                severity: Some(Severity::Extreme),
                ..AlertArgs::default()
            },
            ..CallArgs::default()
        };
        d.apply_call_args(&args).unwrap();
        let m = d.sign(&key(), now()).unwrap();
        let Content::Call(c) = &m.body().content else {
            panic!("not a call")
        };
        assert_eq!(c.base.severity, Severity::Extreme);
        assert_eq!(c.base.category, Category::Arrest);
        assert_eq!(c.base.info.len(), 2);
        assert_eq!(c.base.info[1].headline, "Écrivez au Président");
        assert_eq!(
            c.base.info[1].description,
            "Quatre dirigeants sont détenus."
        );
        assert_eq!(m.body().countries, vec!["AZ"]);
        // A week past the deadline.
        let deadline = Timestamp::parse_rfc3339("2026-03-20T00:00:00Z").unwrap();
        assert_eq!(
            m.body().expires_at,
            Some(
                deadline
                    .plus(Duration::from_secs(7 * 86400))
                    .max(now().plus(Duration::from_secs(30 * 86400)))
            )
        );
    }

    #[test]
    fn goals_come_from_the_file_and_flags_replace_them() {
        let mut d = Draft::new(Kind::Call);
        // `goals` sits before the [[info]] tables, as TOML needs.
        let text = format!("goals = [\"letters=3000\", \"donations=5000:EUR\"]\n{CALL_FILE}");
        d.apply_post_file(&file(&text), Path::new("call.toml"))
            .unwrap();
        assert_eq!(d.call.goals.len(), 2);
        assert_eq!(d.call.goals[1].currency, "EUR");
        d.apply_call_args(&CallArgs {
            goals: vec!["organisations=20".into()],
            ..CallArgs::default()
        })
        .unwrap();
        let m = d.sign(&key(), now()).unwrap();
        let Content::Call(c) = &m.body().content else {
            panic!("not a call")
        };
        assert_eq!(c.goals.len(), 1);
        assert_eq!(c.goals[0].target, 20);
        let err = Draft::new(Kind::Call)
            .apply_post_file(&file("goals = [\"letters:3000\"]"), Path::new("call.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("write letters=3000"), "{err}");
        let mut alert = Draft::new(Kind::Alert);
        let err = alert
            .apply_call_args(&CallArgs {
                goals: vec!["letters=10".into()],
                ..CallArgs::default()
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("--goal only applies to a call"), "{err}");
    }

    #[test]
    fn text_flags_need_a_language_when_it_is_ambiguous() {
        let mut d = Draft::new(Kind::Call);
        d.apply_post_file(&file(CALL_FILE), Path::new("call.toml"))
            .unwrap();
        let args = AlertArgs {
            headline: Some("New".into()),
            ..AlertArgs::default()
        };
        let err = d.apply_alert_args(&args).unwrap_err().to_string();
        assert!(err.contains("en, fr"), "{err}");
    }

    #[test]
    fn an_alert_file_may_not_carry_call_fields() {
        let mut d = Draft::new(Kind::Alert);
        let err = d
            .apply_post_file(&file(CALL_FILE), Path::new("call.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("tocsin post call"), "{err}");
    }

    #[test]
    fn incomplete_drafts_say_what_to_add() {
        let d = Draft::new(Kind::Alert);
        let err = d.sign(&key(), now()).unwrap_err().to_string();
        assert!(err.contains("--headline"), "{err}");
        let mut d = Draft::new(Kind::Call);
        d.apply_alert_args(&AlertArgs {
            lang: Some("en".into()),
            headline: Some("H".into()),
            description: Some("D".into()),
            ..AlertArgs::default()
        })
        .unwrap();
        let err = d.sign(&key(), now()).unwrap_err().to_string();
        assert!(err.contains("--action"), "{err}");
    }

    #[test]
    fn an_update_starts_from_the_current_version() {
        let mut d = Draft::new(Kind::Call);
        d.apply_post_file(&file(CALL_FILE), Path::new("call.toml"))
            .unwrap();
        let original = d.sign(&key(), now()).unwrap();
        let later = now().plus(Duration::from_secs(3600));
        let mut u = Draft::from_current(original.body(), later).unwrap();
        u.apply_alert_args(&AlertArgs {
            lang: Some("en".into()),
            description: Some("Two were released.".into()),
            ..AlertArgs::default()
        })
        .unwrap();
        let m = u.sign_update(original.id(), &key(), later).unwrap();
        let Content::Update(up) = &m.body().content else {
            panic!("not an update")
        };
        assert_eq!(up.supersedes, original.id());
        let UpdateContent::Call(c) = &up.content else {
            panic!("not a call")
        };
        assert_eq!(c.base.info[0].description, "Two were released.");
        assert_eq!(c.base.info[0].headline, "Write for the Eastport four");
        assert_eq!(c.actions.len(), 2);
        assert!(m.body().expires_at >= original.body().expires_at);
    }

    #[test]
    fn bad_file_values_name_the_key_and_the_choices() {
        let mut d = Draft::new(Kind::Alert);
        let err = d
            .apply_post_file(&file("category = \"arests\""), Path::new("a.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("category") && err.contains("arrest, dismissal"),
            "{err}"
        );
    }
}
