//! The client commands: `post`, `send`, `revoke`, `follow`, `show`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use futures::StreamExt;

use super::compose::{AlertArgs, CallArgs};
use super::render::{message_json, message_text_lang};
use super::{Failure, NodeUrl};
use crate::keyfile;
use crate::message::{AuthorKey, Filter, Id, Kind, Message, SignedMessage, Timestamp};
use crate::rpc::{ClientError, ClientEvent, PublishOutcome};

/// `tocsin post …`
#[derive(Debug, clap::Subcommand)]
pub enum PostCommand {
    /// Sign and publish a solidarity alert.
    #[command(
        after_help = "Example:\n  tocsin post alert --key eastland.key --lang en \\\n    \
        --headline \"Four union leaders arrested in Eastport\" \\\n    \
        --description \"Police detained four leaders of the Eastland Dockworkers' Union.\" \\\n    \
        --category arrest --severity severe --country AZ"
    )]
    Alert(PostAlertArgs),
    /// Sign and publish a coordinated-action call.
    #[command(
        after_help = "Example:\n  tocsin post call --key eastland.key --lang en \\\n    \
        --headline \"Write to the President of Eastland\" --description \"Demand their release.\" \\\n    \
        --action letter --target \"President of Eastland\" --deadline 2026-12-10T00:00:00Z"
    )]
    Call(PostCallArgs),
}

/// Where to post and how to answer.
#[derive(Debug, Clone, clap::Args)]
pub struct PostOptions {
    /// The secret key file to sign with.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The node.
    #[command(flatten)]
    pub node: NodeUrl,
    /// Print {"id", "seq", "status"} as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `tocsin post alert`
#[derive(Debug, clap::Args)]
pub struct PostAlertArgs {
    /// The fields.
    #[command(flatten)]
    pub alert: AlertArgs,
    /// Where and how.
    #[command(flatten)]
    pub opts: PostOptions,
}

/// `tocsin post call`
#[derive(Debug, clap::Args)]
pub struct PostCallArgs {
    /// The fields.
    #[command(flatten)]
    pub call: CallArgs,
    /// Where and how.
    #[command(flatten)]
    pub opts: PostOptions,
}

/// `tocsin send`
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// Signed message files (from `tocsin sign`).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The node.
    #[command(flatten)]
    pub node: NodeUrl,
    /// Print one JSON object per file.
    #[arg(long)]
    pub json: bool,
}

/// `tocsin revoke`
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The pre-signed revocation (written by `tocsin keygen` beside the key).
    #[arg(long, value_name = "FILE")]
    pub revocation: PathBuf,
    /// The node.
    #[command(flatten)]
    pub node: NodeUrl,
    /// Print {"id", "seq", "status"} as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `tocsin follow`
#[derive(Debug, clap::Args)]
pub struct FollowArgs {
    /// The node.
    #[command(flatten)]
    pub node: NodeUrl,
    /// Only messages by this author (public key in hex; repeat for several).
    #[arg(long = "author", value_name = "KEY")]
    pub authors: Vec<String>,
    /// Only these kinds: alert, call, update, cancel, endorsement, translation, profile, roster,
    /// revocation (repeat for several).
    #[arg(long = "kind", value_name = "KIND")]
    pub kinds: Vec<String>,
    /// Only messages with this topic (repeat for several).
    #[arg(long = "topic", value_name = "SLUG")]
    pub topics: Vec<String>,
    /// Only messages concerning this country, ISO 3166-1 alpha-2 (repeat for several).
    #[arg(long = "country", value_name = "CC")]
    pub countries: Vec<String>,
    /// Only messages with text in this language (repeat for several).
    #[arg(long = "only-lang", value_name = "TAG")]
    pub only_langs: Vec<String>,
    /// Show each message in this language when it has it (repeat in order of preference).
    #[arg(long = "lang", value_name = "TAG")]
    pub langs: Vec<String>,
    /// Start after this seq of the node's log (0 is the beginning).
    #[arg(long, default_value_t = 0, value_name = "SEQ")]
    pub since: u64,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Exit once the backlog has been printed, instead of following live.
    #[arg(long)]
    pub until_caught_up: bool,
}

/// `tocsin show`
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The message id (64 hex digits).
    pub id: String,
    /// The node.
    #[command(flatten)]
    pub node: NodeUrl,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn report(outcome: PublishOutcome, url: &str, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match outcome {
        PublishOutcome::Accepted { id, seq } | PublishOutcome::Duplicate { id, seq } => {
            let status = if matches!(outcome, PublishOutcome::Accepted { .. }) {
                "accepted"
            } else {
                "duplicate"
            };
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"id": id.to_hex(), "seq": seq, "status": status})
                )?;
            } else {
                writeln!(out, "{status} {id} as #{seq} at {url}")?;
            }
            Ok(())
        }
        PublishOutcome::Refused(r) => {
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"status": "refused", "reason": r.code(), "detail": r.detail})
                )?;
            }
            Err(ClientError::Refused(r).into())
        }
    }
}

async fn publish(node: &NodeUrl, message: &SignedMessage, json: bool) -> anyhow::Result<()> {
    let mut client = node.connect().await?;
    let outcome = match client.publish(message).await {
        Ok(o) => o,
        Err(ClientError::Refused(r)) => PublishOutcome::Refused(r),
        Err(e) => return Err(anyhow::Error::new(e).context("publishing")),
    };
    report(outcome, client.url(), json)
}

pub(crate) async fn post(cmd: PostCommand) -> anyhow::Result<()> {
    let opts = match &cmd {
        PostCommand::Alert(a) => &a.opts,
        PostCommand::Call(c) => &c.opts,
    };
    let key = keyfile::load(&opts.key).context("loading the key")?;
    let message = match &cmd {
        PostCommand::Alert(a) => a.alert.sign(&key, Timestamp::now())?,
        PostCommand::Call(c) => c.call.sign(&key, Timestamp::now())?,
    };
    publish(&opts.node, message.signed(), opts.json).await
}

fn read_signed(path: &PathBuf) -> anyhow::Result<SignedMessage> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    SignedMessage::decode(&bytes)
        .with_context(|| format!("{} is not a signed message", path.display()))
}

pub(crate) async fn send(args: SendArgs) -> anyhow::Result<()> {
    let mut client = args.node.connect().await?;
    let mut failed = 0;
    for path in &args.files {
        let signed = read_signed(path)?;
        let outcome = match client.publish(&signed).await {
            Ok(o) => o,
            Err(ClientError::Refused(r)) => PublishOutcome::Refused(r),
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!("sending {}", path.display())));
            }
        };
        if let Err(e) = report(outcome, client.url(), args.json) {
            eprintln!("{}: {e}", path.display());
            failed += 1;
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} messages were refused", args.files.len());
    }
    Ok(())
}

pub(crate) async fn revoke(args: RevokeArgs) -> anyhow::Result<()> {
    let signed = read_signed(&args.revocation)?;
    let message = Message::open(signed, Timestamp::now())
        .with_context(|| format!("{} does not verify", args.revocation.display()))?;
    if message.kind() != Kind::Revocation {
        return Err(Failure::usage(format!(
            "{} is a {}, not a revocation",
            args.revocation.display(),
            message.kind()
        )));
    }
    eprintln!("Publishing the revocation of key {}", message.author());
    publish(&args.node, message.signed(), args.json).await
}

impl FollowArgs {
    fn filter(&self) -> anyhow::Result<Filter> {
        Ok(Filter {
            authors: self
                .authors
                .iter()
                .map(|a| {
                    a.parse::<AuthorKey>().map_err(|e| {
                        Failure::usage(format!(
                            "--author {a:?}: {e} (a public key is 64 hex digits)"
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
            kinds: self
                .kinds
                .iter()
                .map(|k| {
                    Kind::parse(k).ok_or_else(|| {
                        let all: Vec<_> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                        Failure::usage(format!(
                            "--kind {k:?} is not a kind; use one of: {}",
                            all.join(", ")
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
            topics: self.topics.clone(),
            countries: self
                .countries
                .iter()
                .map(|c| c.to_ascii_uppercase())
                .collect(),
            languages: self.only_langs.clone(),
        })
    }
}

pub(crate) async fn follow(args: FollowArgs) -> anyhow::Result<()> {
    let filter = args.filter()?;
    let mut client = args.node.connect().await?;
    let mut events = client
        .subscribe(&filter, args.since, None)
        .await
        .context("subscribing")?;
    let mut stdout = std::io::stdout().lock();
    while let Some(event) = events.next().await {
        match event.context("following")? {
            ClientEvent::Delivery { seq, message } => {
                // The node verified it, but a reader trusts no relay: verify again here.
                let message = match Message::open_untimed(message) {
                    Ok(m) => m,
                    Err(r) => {
                        eprintln!("#{seq}: skipped a message that does not verify here ({r})");
                        continue;
                    }
                };
                if args.json {
                    serde_json::to_writer(&mut stdout, &message_json(&message, Some(seq)))?;
                    writeln!(stdout)?;
                } else {
                    writeln!(
                        stdout,
                        "#{seq} {}",
                        message_text_lang(&message, &args.langs)
                    )?;
                }
                stdout.flush()?;
            }
            ClientEvent::CaughtUp(seq) => {
                if args.until_caught_up {
                    return Ok(());
                }
                if !args.json {
                    eprintln!("-- caught up at #{seq}; following live (Ctrl-C to stop) --");
                }
            }
        }
    }
    Err(anyhow::anyhow!("the node closed the subscription"))
}

pub(crate) async fn show(args: ShowArgs) -> anyhow::Result<()> {
    let id: Id = args.id.parse().map_err(|_| {
        Failure::usage(format!("{:?} is not a message id (64 hex digits)", args.id))
    })?;
    let mut client = args.node.connect().await?;
    let state = client
        .get(id)
        .await
        .context("asking the node")?
        .ok_or_else(|| anyhow::anyhow!("the node at {} has no message {id}", client.url()))?;
    let decode = |m: &SignedMessage| Message::from_store(m.clone()).ok();
    let message = state.message.as_ref().and_then(decode);
    let current = state.current.as_ref().and_then(decode);
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({
            "id": id.to_hex(),
            "seq": state.seq,
            "message": message.as_ref().map(|m| message_json(m, Some(state.seq))),
            "current": current.as_ref().map(|m| message_json(m, None)),
            "updates": state.updates.iter().map(|u| u.to_hex()).collect::<Vec<_>>(),
            "cancelled": state.cancelled,
            "cancel_reason": state.cancel_reason,
            "endorsements": state.endorsers.len(),
            "endorsers": state.endorsers.iter().map(|(a, s, t)| serde_json::json!({
                "author": a.to_hex(), "statement": s, "created_at": t.to_rfc3339(),
            })).collect::<Vec<_>>(),
        });
        serde_json::to_writer(&mut out, &v)?;
        writeln!(out)?;
        return Ok(());
    }
    if state.cancelled {
        writeln!(
            out,
            "{id} was cancelled by its author: {}",
            state.cancel_reason
        )?;
        writeln!(out, "(its content is withdrawn and no longer served)")?;
        return Ok(());
    }
    match (&current, &message) {
        (Some(c), Some(m)) if c.id() != m.id() => {
            writeln!(out, "Current version ({} update(s)):", state.updates.len())?;
            write!(out, "{}", message_text_lang(c, &[]))?;
        }
        (_, Some(m)) => write!(out, "{}", message_text_lang(m, &[]))?,
        _ => writeln!(out, "{id} is stored but not shown (embargoed or withheld)")?,
    }
    for u in &state.updates {
        writeln!(out, "  update {u}")?;
    }
    writeln!(out, "Endorsements: {}", state.endorsers.len())?;
    for (author, statement, at) in &state.endorsers {
        writeln!(out, "  {} at {at}: {statement}", author.short())?;
    }
    Ok(())
}
