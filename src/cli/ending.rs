//! Ending a key: `tocsin rotate` (its recovery key declares it in other hands from a time and
//! hands the organisation's name to a successor; what it signed before stays) and
//! `tocsin revoke` (the pre-signed revocation, or a fresh one signed by the key itself).

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::client::{print_outcome, publish_one, read_signed};
use super::keys::{
    committed_path, note_committed, recovery_path, recovery_pub_path, recovery_public,
};
use super::names::Names;
use super::term::{self, Clock, Style};
use super::{Failure, NodeUrl};
use crate::keyfile;
use crate::message::{
    AuthorKey, Body, Content, Kind, Message, Reason, Revocation, Rotation, Timestamp, limits,
    recovery_digest,
};
use crate::rpc::{Client, ClientError, PublishOutcome};

/// `tocsin rotate`
#[derive(Debug, clap::Args)]
pub struct RotateArgs {
    /// The recovery key (FILE.recovery, written by `tocsin keygen` beside the key it recovers).
    #[arg(long, value_name = "FILE")]
    pub recovery: PathBuf,
    /// From when the key is in other hands: everything it signed from then on is withheld.
    /// RFC 3339 (2026-05-14T09:30:00+04:00) or your local time (2026-05-14 09:30).
    #[arg(long, value_name = "TIME")]
    pub since: String,
    /// The new key that carries on (made by `tocsin keygen`, with its own recovery key).
    #[arg(long, value_name = "FILE")]
    pub successor: PathBuf,
    /// The compromised key (64 hex digits) [default: the key the recovery file recovers].
    #[arg(long, value_name = "HEX")]
    pub key: Option<String>,
    /// Why, in a few words readers will see ("phone seized at the border").
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// The node.
    #[command(flatten)]
    pub node: NodeUrl,
    /// Print {"id", "seq", "status"} as JSON.
    #[arg(long)]
    pub json: bool,
    /// Do not ask before publishing (without it, rotate runs only at a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// `tocsin revoke`
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The pre-signed revocation (written by `tocsin keygen` beside the key).
    #[arg(long, value_name = "FILE")]
    pub revocation: Option<PathBuf>,
    /// Sign a fresh revocation with this key file instead.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// With --key: from when its messages are refused [default: now]. RFC 3339 or local time.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// With --key: the key that carries on for the organisation (its key file, or 64 hex
    /// digits).
    #[arg(long, value_name = "FILE|HEX")]
    pub successor: Option<String>,
    /// With --key: why, in a few words readers will see.
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// The node.
    #[command(flatten)]
    pub node: NodeUrl,
    /// Print {"id", "seq", "status"} as JSON.
    #[arg(long)]
    pub json: bool,
    /// Do not ask before publishing (it only asks at a terminal anyway).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// Parses a time a person types: RFC 3339 with its offset, or a date and time without one,
/// read in the local time zone (TZ), which is how people remember when a phone was taken.
pub(crate) fn parse_moment(s: &str, flag: &str) -> anyhow::Result<Timestamp> {
    parse_moment_in(s, flag, &jiff::tz::TimeZone::system())
}

/// [`parse_moment`] with a time without an offset read in `zone`.
fn parse_moment_in(s: &str, flag: &str, zone: &jiff::tz::TimeZone) -> anyhow::Result<Timestamp> {
    let s = s.trim();
    // A key is ended from a moment: a date alone would be read as its midnight, and withhold
    // everything the key signed that day.
    if !s.contains([':', 'T', 't', ' ']) && s.parse::<jiff::civil::Date>().is_ok() {
        return Err(Failure::usage(format!(
            "{flag} {s:?} is a date without a time; give the time the key left your hands too, \
             like \"{s} 09:30\" (your local time): from midnight, everything the key signed that \
             day would be withheld"
        )));
    }
    let millis = if let Ok(t) = s.parse::<jiff::Timestamp>() {
        Some(t.as_millisecond())
    } else if let Ok(civil) = s.parse::<jiff::civil::DateTime>() {
        zone.to_timestamp(civil).ok().map(|t| t.as_millisecond())
    } else {
        Timestamp::parse_rfc3339(s).and_then(|t| i64::try_from(t.as_millis()).ok())
    };
    millis
        .and_then(|ms| u64::try_from(ms).ok())
        .map(Timestamp)
        .ok_or_else(|| {
            Failure::usage(format!(
                "{flag} {s:?} is not a time; write it like \"2026-05-14 09:30\" (your local time) \
                 or 2026-05-14T09:30:00+04:00"
            ))
        })
}

/// Refuses a time more than the allowed clock skew ahead of `now`: a key is declared in other
/// hands from a moment that has passed.
fn not_future(t: Timestamp, now: Timestamp, flag: &str, raw: &str) -> anyhow::Result<()> {
    if t > now.plus(limits::MAX_FUTURE_SKEW) {
        return Err(Failure::usage(format!(
            "{flag} {raw:?} is in the future; give the time from which the key was out of your \
             hands (when the phone or computer was taken), or now"
        )));
    }
    Ok(())
}

/// What to add to a refusal that a recovery key explains.
fn recovery_committed_hint(err: anyhow::Error, recovery_file: &str) -> anyhow::Error {
    let refused_so = err.chain().any(|e| {
        matches!(
            e.downcast_ref::<ClientError>(),
            Some(ClientError::Refused(r)) if r.reason == Reason::RecoveryCommitted
        )
    });
    if !refused_so {
        return err;
    }
    err.context(format!(
        "this key has a recovery key, so a revocation signed by the key itself cannot reach \
         into its past or name a successor (a thief holds the same key). Use the recovery key:\n  \
         tocsin rotate --recovery {recovery_file} --since TIME --successor NEW.key --node URL\n\
         (make NEW.key with `tocsin keygen NEW.key`)"
    ))
}

/// Shows `summary` and asks whether to publish to `url`; "no" sends nothing (exit 1).
fn ask_first(summary: &str, url: &str) -> anyhow::Result<()> {
    term::confirm_or_stop(summary, &format!("Publish it to {url}?"), "publish")
}

pub(crate) async fn rotate(args: RotateArgs) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let since = parse_moment(&args.since, "--since")?;
    not_future(since, now, "--since", &args.since)?;
    let named = args
        .key
        .as_deref()
        .map(|k| {
            k.parse::<AuthorKey>().map_err(|_| {
                Failure::usage(format!(
                    "--key {k:?} is not a public key; a key is 64 hex digits"
                ))
            })
        })
        .transpose()?;
    let (recovery, recovers) = keyfile::load_recovery(&args.recovery)
        .with_context(|| format!("loading the recovery key {}", args.recovery.display()))?;
    // The main key given for its recovery key: keygen wrote that one beside it.
    if recovers.is_none() && recovery_path(&args.recovery).exists() {
        return Err(Failure::usage(format!(
            "{} is the key itself, not its recovery key; give the recovery key keygen wrote \
             beside it: --recovery {}",
            args.recovery.display(),
            recovery_path(&args.recovery).display()
        )));
    }
    let compromised = match (named, recovers) {
        (Some(k), Some(r)) if k != r => {
            return Err(Failure::usage(format!(
                "{} recovers key {r}, not {k}; leave out --key, or give the recovery key of {k}",
                args.recovery.display()
            )));
        }
        (Some(k), _) | (None, Some(k)) => k,
        (None, None) => {
            return Err(Failure::usage(format!(
                "{} does not say which key it recovers; name it with --key HEX (64 hex digits)",
                args.recovery.display()
            )));
        }
    };
    let successor = keyfile::load_public(&args.successor)
        .with_context(|| super::post::loading_key("the successor key", &args.successor))?;
    let Some(successor_recovery) = recovery_public(&args.successor)? else {
        return Err(Failure::usage(format!(
            "the successor {} has no recovery key ({} is missing): make the successor with \
             `tocsin keygen NEW.key` (without --no-recovery), so that it can be recovered too",
            args.successor.display(),
            recovery_pub_path(&args.successor).display()
        )));
    };
    let body = Body::key_event(
        recovery.public(),
        now,
        Content::Rotation(Box::new(Rotation {
            compromised,
            compromised_since: since,
            successor,
            successor_recovery_digest: recovery_digest(&successor_recovery),
            reason: args.reason.clone().unwrap_or_default().trim().to_string(),
        })),
    );
    let message = super::compose::finish(body, &recovery, now)?;
    // Handing on a name and withholding from a time is not done on a script's behalf unless
    // the script says so.
    if !args.yes && !term::interactive() {
        return Err(Failure::usage(
            "rotate asks before it publishes, and nobody is at a terminal to answer; run it at \
             a terminal, or add --yes",
        ));
    }
    let mut client = args.node.connect().await?;
    if !args.yes {
        let names = Names::load(&client).await.unwrap_or_default();
        let clock = Clock::system();
        let st = Style::stderr();
        let summary = format!(
            "{}\nKey {} is declared in other hands from {}.\n\
             Withheld by every node, for good: everything that key signed from then on (a \
             thief's messages too).\n\
             Stays: what it signed before then (alerts, calls, profile, endorsements, reports).\n\
             Carries on: key {}, which may update and cancel the old key's alerts and calls and \
             counts as the same organisation.\nThis cannot be undone.\n",
            st.alarm("ROTATION"),
            names.describe(&compromised),
            clock.when(since),
            names.describe(&successor),
        );
        ask_first(&summary, client.url())?;
    }
    eprintln!(
        "Publishing the rotation of key {} to successor {}",
        compromised.short(),
        successor.short()
    );
    let outcome = publish_one(&mut client, message.signed()).await?;
    if let PublishOutcome::Accepted { id, .. } | PublishOutcome::Duplicate { id, .. } = &outcome {
        // The rotation carries the successor's recovery commitment: its first post need not.
        note_committed(&args.successor, *id, Kind::Rotation, client.url())?;
        warn_unless_in_force(&mut client, &compromised, &successor).await;
    }
    print_outcome(outcome, Some(Kind::Rotation), client.url(), args.json)
}

/// After a rotation is taken: says so on stderr when the node does not show it in force (it
/// holds no commitment of the key to this recovery key yet, or another successor is in force).
async fn warn_unless_in_force(client: &mut Client, compromised: &AuthorKey, successor: &AuthorKey) {
    let Ok(state) = client.key_state(compromised).await else {
        return;
    };
    match state.end.and_then(|e| e.successor) {
        Some(s) if s == *successor => {}
        Some(other) => eprintln!(
            "warning: the node names another successor for key {}: {} (the rotation in force is \
             the one signed by the recovery key of the key's first commitment); see \
             `tocsin key {compromised} --node {}`",
            compromised.short(),
            other.short(),
            client.url()
        ),
        None => eprintln!(
            "warning: the node holds no recovery commitment of key {} to this recovery key yet, \
             so the rotation waits there until it does; see `tocsin key {compromised} --node {}`",
            compromised.short(),
            client.url()
        ),
    }
}

pub(crate) async fn revoke(args: RevokeArgs) -> anyhow::Result<()> {
    const BOTH_WAYS: &str = "`tocsin revoke --revocation eastland.key.revocation` publishes the \
        revocation keygen wrote; `tocsin revoke --key eastland.key [--since TIME] [--successor \
        NEW.key]` signs a fresh one with the key";
    let (message, recovery_file) = match (&args.revocation, &args.key) {
        (None, None) => {
            return Err(Failure::usage(format!("say which revocation: {BOTH_WAYS}")));
        }
        (Some(_), Some(_)) => {
            return Err(Failure::usage(format!(
                "give --revocation FILE or --key FILE, not both: {BOTH_WAYS}"
            )));
        }
        (Some(file), None) => {
            if args.since.is_some() || args.successor.is_some() || args.reason.is_some() {
                return Err(Failure::usage(
                    "--since, --successor and --reason go with --key FILE: a pre-signed \
                     revocation is signed already",
                ));
            }
            let recovery_file = file
                .to_str()
                .and_then(|f| f.strip_suffix(".revocation"))
                .map_or_else(
                    || "KEY.recovery".to_string(),
                    |k| recovery_path(Path::new(k)).display().to_string(),
                );
            (presigned(file)?, recovery_file)
        }
        (None, Some(key_file)) => (
            fresh_revocation(&args, key_file)?,
            recovery_path(key_file).display().to_string(),
        ),
    };
    let Content::Revocation(r) = &message.body().content else {
        return Err(Failure::usage("not a revocation"));
    };
    let mut client = args.node.connect().await?;
    if !args.yes && term::interactive() {
        let clock = Clock::system();
        let st = Style::stderr();
        let successor = r
            .successor
            .map(|s| format!("Key {s} carries on for the organisation.\n"))
            .unwrap_or_default();
        let summary = format!(
            "{}\nThis revokes key {} from {}.\nEvery message it signed from then on will be \
             refused and withheld by every node, for good. This cannot be undone.\n{successor}",
            st.alarm("REVOCATION"),
            message.author(),
            clock.when(r.revoked_from)
        );
        ask_first(&summary, client.url())?;
    }
    eprintln!("Publishing the revocation of key {}", message.author());
    let outcome = publish_one(&mut client, message.signed()).await?;
    print_outcome(outcome, Some(Kind::Revocation), client.url(), args.json)
        .map_err(|e| recovery_committed_hint(e, &recovery_file))
}

fn presigned(file: &Path) -> anyhow::Result<Message> {
    let signed = read_signed(file)?;
    let message = Message::open(signed, Timestamp::now())
        .with_context(|| format!("{} does not verify", file.display()))?;
    if message.kind() != Kind::Revocation {
        return Err(Failure::usage(format!(
            "{} is {}, not a revocation",
            file.display(),
            message.kind().with_article()
        )));
    }
    Ok(message)
}

/// A revocation signed now by the key itself, from `--since` (default now), naming
/// `--successor` when given.
fn fresh_revocation(args: &RevokeArgs, key_file: &Path) -> anyhow::Result<Message> {
    let now = Timestamp::now();
    let from = match &args.since {
        Some(raw) => {
            let t = parse_moment(raw, "--since")?;
            not_future(t, now, "--since", raw)?;
            t
        }
        None => now,
    };
    // A committed key's own revocation stops it from its making only (a thief holds the same
    // key): a time in the past would be shortened to now without a word.
    if committed_path(key_file).exists() && from < now.minus(std::time::Duration::from_secs(120)) {
        return Err(Failure::usage(format!(
            "{} is committed to a recovery key, so a revocation signed by the key itself stops \
             it only from now, not from --since {:?} (recovery-committed). To end it from then, \
             use the recovery key:\n  tocsin rotate --recovery {} --since {:?} --successor \
             NEW.key --node URL\nor leave out --since to stop it from now",
            key_file.display(),
            args.since.as_deref().unwrap_or_default(),
            recovery_path(key_file).display(),
            args.since.as_deref().unwrap_or_default(),
        )));
    }
    let key = super::post::load_key_file(key_file)?;
    let successor = match &args.successor {
        None => None,
        Some(s) => Some(match s.parse::<AuthorKey>() {
            Ok(k) => k,
            Err(_) if Path::new(s).exists() => keyfile::load_public(Path::new(s))
                .with_context(|| format!("loading the successor key {s}"))?,
            Err(_) => {
                return Err(Failure::usage(format!(
                    "--successor {s:?} is neither a key file nor a public key (64 hex digits)"
                )));
            }
        }),
    };
    if successor == Some(key.public()) {
        return Err(Failure::usage(
            "--successor names the key being revoked; name the new key (tocsin keygen NEW.key)",
        ));
    }
    if committed_path(key_file).exists() && successor.is_some() {
        eprintln!(
            "note: {} is committed to a recovery key; nodes refuse a revocation by it that names \
             a successor (tocsin rotate does that)",
            key_file.display()
        );
    }
    let body = Body::key_event(
        key.public(),
        now,
        Content::Revocation(Revocation {
            revoked_from: from,
            successor,
            reason: args
                .reason
                .clone()
                .unwrap_or_else(|| "key compromised".into())
                .trim()
                .to_string(),
        }),
    );
    super::compose::finish(body, &key, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plus_four() -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::fixed(jiff::tz::offset(4))
    }

    #[test]
    fn a_time_is_rfc3339_or_local_time_without_an_offset() {
        let utc = Timestamp::parse_rfc3339("2026-05-14T05:30:00Z").unwrap();
        for text in [
            "2026-05-14T05:30:00Z",
            "2026-05-14T09:30:00+04:00",
            "2026-05-14 09:30",
            "2026-05-14 09:30:00",
            "2026-05-14T09:30",
        ] {
            let t = parse_moment_in(text, "--since", &plus_four()).unwrap();
            assert_eq!(t, utc, "{text}");
        }
        let millis = parse_moment_in("2026-05-14T05:30:00.501Z", "--since", &plus_four()).unwrap();
        assert_eq!(millis.as_millis(), utc.as_millis() + 501);
        for text in [
            "last tuesday",
            "",
            "14/05/2026 09:30",
            "1969-12-31T23:59:59Z",
        ] {
            let err = parse_moment_in(text, "--since", &plus_four()).unwrap_err();
            assert!(err.to_string().contains("not a time"), "{text}: {err}");
        }
        // A date alone would be its midnight: the whole day withheld.
        let err = parse_moment_in("2026-05-14", "--since", &plus_four()).unwrap_err();
        assert!(err.to_string().contains("\"2026-05-14 09:30\""), "{err}");
    }

    #[test]
    fn a_time_ahead_of_the_clock_is_refused_beyond_the_allowed_skew() {
        let now = Timestamp::parse_rfc3339("2026-05-14T09:30:00Z").unwrap();
        assert!(not_future(now.plus(limits::MAX_FUTURE_SKEW), now, "--since", "t").is_ok());
        assert!(not_future(now.minus(limits::MAX_FUTURE_SKEW), now, "--since", "t").is_ok());
        let err = not_future(
            now.plus(limits::MAX_FUTURE_SKEW)
                .plus(std::time::Duration::from_millis(1)),
            now,
            "--since",
            "t",
        )
        .unwrap_err();
        assert!(err.to_string().contains("in the future"), "{err}");
    }
}
