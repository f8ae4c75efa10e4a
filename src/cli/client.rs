//! Publishing what is signed already: `send`, and the one way every command reports a publish
//! outcome.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::{Failure, NodeUrl};
use crate::message::{Kind, Message, SignedMessage};
use crate::rpc::{Client, ClientError, PublishOutcome};

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

/// Publishes one message; a refusal is an outcome, not an error.
pub(crate) async fn publish_one(
    client: &mut Client,
    message: &SignedMessage,
) -> anyhow::Result<PublishOutcome> {
    match client.publish(message).await {
        Ok(o) => Ok(o),
        Err(ClientError::Refused(r)) => Ok(PublishOutcome::Refused(r)),
        Err(e) => Err(anyhow::Error::new(e).context(format!("publishing to {}", client.url()))),
    }
}

/// Says what became of a message: on stdout `accepted alert ID as #SEQ at URL` (or JSON
/// `{"id","seq","status"}`); a refusal is an error (exit 1) naming its reason code.
pub(crate) fn print_outcome(
    outcome: PublishOutcome,
    kind: Option<Kind>,
    url: &str,
    json: bool,
) -> anyhow::Result<()> {
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
                let kind = kind.map(|k| format!("{k} ")).unwrap_or_default();
                let note = if status == "duplicate" {
                    " (the node had it already)"
                } else {
                    ""
                };
                writeln!(out, "{status} {kind}{id} as #{seq} at {url}{note}")?;
            }
            out.flush()?;
            Ok(())
        }
        PublishOutcome::Refused(r) => {
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"status": "refused", "reason": r.code(), "detail": r.detail})
                )?;
                out.flush()?;
            }
            Err(ClientError::Refused(r).into())
        }
    }
}

/// Reads a signed message file.
pub(crate) fn read_signed(path: &Path) -> anyhow::Result<SignedMessage> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    SignedMessage::decode(&bytes)
        .with_context(|| format!("{} is not a signed message", path.display()))
}

pub(crate) async fn send(args: SendArgs) -> anyhow::Result<()> {
    // Read every file first: a typo in the last name should not leave half sent.
    let messages = args
        .files
        .iter()
        .map(|p| read_signed(p).map(|m| (p, m)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut client = args.node.connect().await?;
    let mut failed = 0;
    for (path, signed) in &messages {
        let outcome = publish_one(&mut client, signed)
            .await
            .with_context(|| format!("sending {}", path.display()))?;
        let kind = Message::from_store(signed.clone()).ok().map(|m| m.kind());
        if let Err(e) = print_outcome(outcome, kind, client.url(), args.json) {
            eprintln!("{}: {e}", path.display());
            failed += 1;
        }
    }
    if failed > 0 {
        return Err(Failure::failed(format!(
            "{failed} of {} messages were refused",
            messages.len()
        ))
        .into());
    }
    Ok(())
}
