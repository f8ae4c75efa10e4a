//! Composing alerts and calls from flags: the fields of DESIGN.md's kinds, with the defaults a
//! union officer would choose, validated by the same rules every node applies before signing.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::builder::{PossibleValuesParser, TypedValueParser};

use super::{Failure, parse_time};
use crate::keyfile;
use crate::message::{
    ActionCall, ActionType, Alert, Body, Category, Certainty, Content, Info, Kind, Message,
    SecretKey, Severity, Status, SupervisoryBody, Timestamp, Urgency, max_lifetime, validate,
};

pub(crate) const ALERT_EXAMPLE: &str = "Example:\n  tocsin sign alert --key eastland.key --lang en \\\n    \
    --headline \"Four union leaders arrested in Eastport\" \\\n    \
    --description \"Police detained four leaders of the Eastland Dockworkers' Union at dawn.\" \\\n    \
    --category arrest --urgency immediate --severity severe --certainty observed \\\n    \
    --country AZ --topic union-rights --out arrest.msg";

pub(crate) const CALL_EXAMPLE: &str = "Example:\n  tocsin sign call --key eastland.key --lang en \\\n    \
    --headline \"File observations with the CEACR on Eastland\" \\\n    \
    --description \"Eastland ignores Conventions 87 and 98.\" \\\n    \
    --action ilo-observation --target \"ILO Committee of Experts\" \\\n    \
    --convention C087 --convention C098 --supervisory-body ceacr \\\n    \
    --deadline 2027-09-01T00:00:00Z --out ceacr.msg";

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

/// The fields of an alert, shared by `sign alert`, `post alert` and the call commands.
#[derive(Debug, Clone, clap::Args)]
pub struct AlertArgs {
    /// One line saying what happened.
    #[arg(long)]
    pub headline: String,
    /// What happened, in full.
    #[arg(long)]
    pub description: String,
    /// The language of headline and description, as a BCP-47 tag (en, az, pt-BR).
    #[arg(long, value_name = "TAG")]
    pub lang: String,
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
    /// CAP status.
    #[arg(long, default_value = "actual", value_parser = enum_arg(Status::ALL, Status::as_str))]
    pub status: Status,
    /// What happened.
    #[arg(long, default_value = "other", value_parser = enum_arg(Category::ALL, Category::as_str))]
    pub category: Category,
    /// CAP urgency.
    #[arg(long, default_value = "unknown", value_parser = enum_arg(Urgency::ALL, Urgency::as_str))]
    pub urgency: Urgency,
    /// CAP severity.
    #[arg(long, default_value = "unknown", value_parser = enum_arg(Severity::ALL, Severity::as_str))]
    pub severity: Severity,
    /// CAP certainty.
    #[arg(long, default_value = "unknown", value_parser = enum_arg(Certainty::ALL, Certainty::as_str))]
    pub certainty: Certainty,
    /// How long relays keep it [default: 30 days; for a call, until a week after its deadline].
    #[arg(long, value_name = "DURATION", conflicts_with = "expires_at")]
    pub expires_in: Option<humantime::Duration>,
    /// When relays stop serving it (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub expires_at: Option<String>,
    /// Embargo: relays spread it at once but show it to readers only from this time (RFC 3339).
    #[arg(long, value_name = "TIME")]
    pub effective_at: Option<String>,
}

/// The extra fields of an action call.
#[derive(Debug, Clone, clap::Args)]
pub struct CallArgs {
    /// The alert fields.
    #[command(flatten)]
    pub alert: AlertArgs,
    /// What is asked (repeat for several).
    #[arg(long = "action", required = true, value_parser = enum_arg(ActionType::ALL, ActionType::as_str))]
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
    #[arg(long = "convention", value_name = "CNNN")]
    pub conventions: Vec<String>,
    /// The ILO supervisory body concerned.
    #[arg(long, value_parser = enum_arg(SupervisoryBody::ALL, SupervisoryBody::as_str))]
    pub supervisory_body: Option<SupervisoryBody>,
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

impl AlertArgs {
    fn alert(&self) -> Alert {
        Alert {
            status: self.status,
            category: self.category,
            urgency: self.urgency,
            severity: self.severity,
            certainty: self.certainty,
            info: vec![Info {
                language: self.lang.clone(),
                headline: self.headline.clone(),
                description: self.description.clone(),
                instruction: self.instruction.clone().unwrap_or_default(),
                link: self.link.clone().unwrap_or_default(),
            }],
        }
    }

    fn expiry(
        &self,
        kind: Kind,
        now: Timestamp,
        floor: Option<Timestamp>,
    ) -> anyhow::Result<Timestamp> {
        if let Some(t) = &self.expires_at {
            return parse_time(t, "--expires-at");
        }
        if let Some(d) = self.expires_in {
            return Ok(now.plus(d.into()));
        }
        let default = now.plus(Duration::from_secs(30 * 24 * 3600));
        let wanted = floor.map_or(default, |f| f.max(default));
        let cap = max_lifetime(kind).map_or(wanted, |m| now.plus(m));
        Ok(wanted.min(cap))
    }

    fn body(
        &self,
        key: &SecretKey,
        content: Content,
        now: Timestamp,
        floor: Option<Timestamp>,
    ) -> anyhow::Result<Body> {
        let kind = content.kind();
        Ok(Body {
            author: key.public(),
            created_at: now,
            expires_at: Some(self.expiry(kind, now, floor)?),
            topics: self.topics.clone(),
            countries: self.countries.clone(),
            effective_at: self
                .effective_at
                .as_deref()
                .map(|t| parse_time(t, "--effective-at"))
                .transpose()?,
            content,
        })
    }

    /// The alert body, signed by `key` at `now`, validated.
    pub fn sign(&self, key: &SecretKey, now: Timestamp) -> anyhow::Result<Message> {
        let body = self.body(key, Content::Alert(self.alert()), now, None)?;
        finish(body, key, now)
    }
}

impl CallArgs {
    /// The call body, signed by `key` at `now`, validated.
    pub fn sign(&self, key: &SecretKey, now: Timestamp) -> anyhow::Result<Message> {
        let time = |v: &Option<String>, flag| v.as_deref().map(|t| parse_time(t, flag)).transpose();
        let deadline = time(&self.deadline, "--deadline")?;
        let window_ends_at = time(&self.window_end, "--window-end")?;
        let call = ActionCall {
            base: self.alert.alert(),
            actions: self.actions.clone(),
            target: self.target.clone().unwrap_or_default(),
            window_starts_at: time(&self.window_start, "--window-start")?,
            window_ends_at,
            deadline,
            ilo_conventions: self.conventions.clone(),
            supervisory_body: self.supervisory_body,
        };
        // Keep a call at least a week past its deadline or window, so latecomers see the outcome.
        let week = Duration::from_secs(7 * 24 * 3600);
        let floor = deadline.max(window_ends_at).map(|t| t.plus(week));
        let body = self.alert.body(key, Content::Call(call), now, floor)?;
        finish(body, key, now)
    }
}

/// Validates with the nodes' own rules, then signs. A problem here is the user's input: exit 2.
fn finish(body: Body, key: &SecretKey, now: Timestamp) -> anyhow::Result<Message> {
    validate(&body, now)
        .map_err(|r| Failure::usage(format!("this message would be refused: {r}")))?;
    let message = Message::sign(body, key).context("signing")?;
    Ok(message)
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
    write_out(&message, args.out.as_ref())
}
