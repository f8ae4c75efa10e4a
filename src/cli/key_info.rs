//! `tocsin key`: what a node knows of a key (gRPC `GetKey`): its recovery commitment in force,
//! conflicting commitments (someone else used the key), whether and from when it ends, who
//! carries on, and which key it carries on for.

use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

use super::names::Names;
use super::term::{Clock, Style};
use super::{Failure, NodeUrl};
use crate::keyfile::{self, KeyFileError};
use crate::message::AuthorKey;
use crate::store::{KeyCommitment, KeyState};

/// `tocsin key`
#[derive(Debug, clap::Args)]
pub struct KeyArgs {
    /// The key: 64 hex digits, or a key file (a secret key file, or a file holding the public
    /// key in hex).
    #[arg(value_name = "KEYHEX|FILE")]
    pub key: String,
    /// The node.
    #[command(flatten)]
    pub node: NodeUrl,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The key a person named: hex, a secret key file, or a public key file.
fn named_key(text: &str) -> anyhow::Result<AuthorKey> {
    if let Ok(key) = text.parse::<AuthorKey>() {
        return Ok(key);
    }
    let path = Path::new(text);
    if !path.exists() {
        return Err(Failure::usage(format!(
            "{text:?} is neither a key (64 hex digits) nor a key file"
        )));
    }
    // A public key file first (`FILE.recovery.pub`, readable by all): a secret key file's line
    // starts with its format's name, so it never reads as one.
    if let Ok(key) = super::keys::read_public_key(path) {
        return Ok(key);
    }
    match keyfile::load_public(path) {
        Ok(key) => Ok(key),
        Err(KeyFileError::Recovery { recovers, .. }) => {
            eprintln!("note: {text} is a recovery key; showing the key it recovers");
            Ok(*recovers)
        }
        Err(e) => Err(e.into()),
    }
}

fn commitment_json(c: &KeyCommitment) -> Value {
    json!({
        "id": c.id.to_hex(),
        "created_at": c.created_at.to_rfc3339(),
        "recovery_digest": hex::encode(c.recovery_digest),
        "by_rotation": c.by_rotation,
    })
}

/// The JSON form: the key's state, with the names known for the keys it names.
fn state_json(state: &KeyState, names: &Names) -> Value {
    let name = |k: &AuthorKey| names.profile_name(k).map(str::to_string);
    json!({
        "key": state.key.to_hex(),
        "name": name(&state.key),
        "commitment": state.commitment.as_ref().map(commitment_json),
        "conflicting": state.conflicting.iter().map(commitment_json).collect::<Vec<_>>(),
        "end": state.end.as_ref().map(|e| json!({
            "from": e.from.to_rfc3339(),
            "by": e.by.to_hex(),
            "by_kind": e.by_kind.as_str(),
            "rotation": e.rotation.map(|r| r.to_hex()),
            "compromised_since": e.compromised_since.map(|t| t.to_rfc3339()),
            "successor": e.successor.map(|s| s.to_hex()),
            "successor_name": e.successor.as_ref().and_then(name),
            "reason": e.reason,
        })),
        "predecessor": state.predecessor.map(|p| p.to_hex()),
        "predecessor_name": state.predecessor.as_ref().and_then(name),
    })
}

/// The text form, for people.
fn state_text(state: &KeyState, names: &Names, clock: &Clock, st: Style) -> String {
    let mut out = format!("Key {}\n", st.bold(&names.describe(&state.key)));
    out.push_str(&format!("  {}\n", state.key));
    match &state.commitment {
        Some(c) if c.by_rotation => out.push_str(&format!(
            "  Recovery: committed by the rotation {} that made it a successor, {}\n",
            c.id.short(),
            clock.when(c.created_at)
        )),
        Some(c) => out.push_str(&format!(
            "  Recovery: committed to a recovery key {} (commitment {})\n",
            clock.when(c.created_at),
            c.id.short()
        )),
        None => out.push_str(
            "  Recovery: no recovery commitment here; if the key is seized, only a revocation \
             can end it, and the pre-signed one withholds everything it signed\n",
        ),
    }
    for c in &state.conflicting {
        out.push_str(&format!(
            "  {} a commitment to ANOTHER recovery key was signed with this key {} ({}): \
             someone else has held this key\n",
            st.alarm("WARNING:"),
            clock.when(c.created_at),
            c.id.short()
        ));
    }
    match &state.end {
        None => out.push_str("  In use: it does not end here\n"),
        Some(e) => {
            let how = if e.rotation.is_some() {
                "rotated by its recovery key after a compromise"
            } else {
                "revoked"
            };
            out.push_str(&format!(
                "  {} {how}: what it signed from {} is withheld ({} {})\n",
                st.alarm("Ends:"),
                clock.when(e.from),
                e.by_kind,
                e.by.short()
            ));
            if let Some(since) = e.compromised_since
                && since != e.from
            {
                out.push_str(&format!(
                    "    The rotation says compromised from {}; it reaches back only to the \
                     commitment\n",
                    clock.local(since)
                ));
            }
            match &e.successor {
                Some(s) => out.push_str(&format!("    Carried on by {}\n", names.describe(s))),
                None => out.push_str("    No successor named\n"),
            }
            if !e.reason.is_empty() {
                out.push_str(&format!("    Reason: {}\n", e.reason));
            }
        }
    }
    if let Some(p) = &state.predecessor {
        out.push_str(&format!("  Carries on for {}\n", names.describe(p)));
    }
    out
}

pub(crate) async fn key(args: KeyArgs) -> anyhow::Result<()> {
    let key = named_key(&args.key)?;
    let mut client = args.node.connect().await?;
    let state = client.key_state(&key).await.map_err(|e| {
        let unimplemented = e.is_unimplemented();
        let err = anyhow::Error::new(e).context(format!("asking {}", client.url()));
        if unimplemented {
            err.context("the node is of an older version that cannot say what it knows of a key")
        } else {
            err
        }
    })?;
    let mut names = Names::load(&client).await.unwrap_or_default();
    names.know_key(state.clone());
    // The keys it names, so each is called by its organisation's name (a successor without a
    // profile of its own takes its predecessor's).
    for k in [
        Some(key),
        state.end.as_ref().and_then(|e| e.successor),
        state.predecessor,
    ]
    .into_iter()
    .flatten()
    {
        names.learn_key(&mut client, &k).await;
    }
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut stdout, &state_json(&state, &names))?;
        writeln!(stdout)?;
    } else {
        let text = state_text(&state, &names, &Clock::system(), Style::stdout());
        write!(stdout, "{text}")?;
    }
    stdout.flush()?;
    Ok(())
}
