//! An organisation's key files and its recovery commitment: `tocsin keygen` (the key, its
//! recovery key, the recovery key's public half, a pre-signed revocation), the commitment
//! published before anything else the key signs (`commit_first`), and `tocsin commit`.
//!
//! The files beside a key FILE: `FILE.recovery` (the recovery key, to be moved offline),
//! `FILE.recovery.pub` (its public key in hex: what the commitment is made from),
//! `FILE.revocation` (the fallback while the key has no commitment), and `FILE.committed`
//! (written once a node has taken the commitment, so it is published once).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::client::{print_outcome, publish_one};
use super::{Failure, NodeUrl};
use crate::keyfile;
use crate::message::{
    AuthorKey, Body, Content, Id, Kind, Message, Reason, RecoveryCommitment, Revocation, SecretKey,
    Timestamp, recovery_digest,
};
use crate::rpc::{Client, PublishOutcome};
use crate::store::KeyCommitment;

/// `tocsin keygen`
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Where to write the secret key (created 0600; never overwritten).
    #[arg(value_name = "FILE", required_unless_present = "out")]
    pub file: Option<PathBuf>,
    /// The same as FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "file")]
    pub out: Option<PathBuf>,
    /// Where to write the pre-signed revocation [default: FILE.revocation].
    #[arg(long, value_name = "FILE")]
    pub revocation: Option<PathBuf>,
    /// Make no recovery key: a seized key can then only be revoked, with everything it signed.
    #[arg(long)]
    pub no_recovery: bool,
    /// Publish the recovery commitment to this node at once [default: with the first message
    /// the key signs].
    #[arg(long = "node", value_name = "URL")]
    pub node: Option<String>,
    /// The CA certificate that signed the node's certificate (for https://).
    #[arg(long = "ca", value_name = "FILE", env = "TOCSIN_CA")]
    pub ca: Option<PathBuf>,
}

/// `tocsin commit`
#[derive(Debug, clap::Args)]
pub struct CommitArgs {
    /// The organisation's secret key file (FILE.recovery.pub must be beside it).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The node.
    #[command(flatten)]
    pub node: NodeUrl,
    /// Print {"id", "seq", "status"} as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `FILE` + `suffix`, beside it.
fn beside(key: &Path, suffix: &str) -> PathBuf {
    let mut p = key.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// The recovery key's file beside a key: `FILE.recovery`.
pub(crate) fn recovery_path(key: &Path) -> PathBuf {
    beside(key, ".recovery")
}

/// The recovery public key's file beside a key: `FILE.recovery.pub`.
pub(crate) fn recovery_pub_path(key: &Path) -> PathBuf {
    beside(key, ".recovery.pub")
}

/// The note that a key's commitment is published: `FILE.committed`.
pub(crate) fn committed_path(key: &Path) -> PathBuf {
    beside(key, ".committed")
}

/// The public half of `key`'s recovery key, from `KEY.recovery.pub` beside it; `None` when the
/// key has none (made with `--no-recovery`, or by an earlier version).
pub(crate) fn recovery_public(key: &Path) -> anyhow::Result<Option<AuthorKey>> {
    let path = recovery_pub_path(key);
    if !path.exists() {
        return Ok(None);
    }
    read_public_key(&path).map(Some)
}

/// Reads a public key file (`FILE.recovery.pub`: 64 hex digits, `#` comments).
pub(crate) fn read_public_key(path: &Path) -> anyhow::Result<AuthorKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the public key {}", path.display()))?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or_default();
    line.parse().map_err(|_| {
        Failure::usage(format!(
            "{} does not hold a public key (64 hex digits, as `tocsin keygen` writes them)",
            path.display()
        ))
    })
}

/// Writes `KEY.committed` unless it is there already: the commitment `id` that a node took
/// (`by`: a commitment, or the rotation that named the key as successor).
pub(crate) fn note_committed(key: &Path, id: Id, by: Kind, node: &str) -> anyhow::Result<()> {
    let path = committed_path(key);
    if path.exists() {
        return Ok(());
    }
    let text = format!(
        "# The recovery commitment of this key is published; it is not published again.\n\
         id = \"{}\"\nby = \"{by}\"\nnode = \"{}\"\nat = \"{}\"\n",
        id.to_hex(),
        node.replace(['"', '\\'], ""),
        Timestamp::now()
    );
    keyfile::write_private(&path, text.as_bytes())
        .with_context(|| format!("noting the published commitment in {}", path.display()))
}

/// The revocation written at key generation. It revokes the key from its creation: a seized key
/// can sign messages with any `created_at`, so no later time would keep forgeries out.
pub(crate) fn presigned_revocation(key: &SecretKey, now: Timestamp) -> anyhow::Result<Message> {
    let body = Body::key_event(
        key.public(),
        now,
        Content::Revocation(Revocation {
            revoked_from: now,
            successor: None,
            reason: "key compromised (revocation prepared when the key was made)".into(),
        }),
    );
    Message::sign(body, key).context("signing the revocation")
}

/// A fresh recovery commitment: made now, since nodes refuse one from a client that is more than
/// 10 minutes old (`backdated`), so a thief cannot date one before the genuine one.
fn commitment(key: &SecretKey, recovery: &AuthorKey, now: Timestamp) -> anyhow::Result<Message> {
    let body = Body::key_event(
        key.public(),
        now,
        Content::Commitment(RecoveryCommitment {
            recovery_digest: recovery_digest(recovery),
        }),
    );
    super::compose::finish(body, key, now)
}

pub(crate) fn keygen(args: &KeygenArgs) -> anyhow::Result<()> {
    let Some(out) = args.file.clone().or_else(|| args.out.clone()) else {
        return Err(Failure::usage(
            "name the key file: tocsin keygen eastland.key",
        ));
    };
    if args.no_recovery && args.node.is_some() {
        return Err(Failure::usage(
            "--node publishes the recovery commitment, and --no-recovery makes no recovery key; \
             leave out one of them",
        ));
    }
    let rev_path = args
        .revocation
        .clone()
        .unwrap_or_else(|| beside(&out, ".revocation"));
    let mut files = vec![out.clone(), rev_path.clone()];
    if !args.no_recovery {
        files.extend([recovery_path(&out), recovery_pub_path(&out)]);
    }
    // Nothing is written unless every file can be: half a key set is worse than none.
    if let Some(taken) = files.iter().find(|p| p.exists()) {
        return Err(keyfile::KeyFileError::Exists(taken.clone()).into());
    }
    let key = keyfile::generate(&out).context("creating the key")?;
    let recovery = if args.no_recovery {
        None
    } else {
        let recovery = SecretKey::generate()
            .map_err(|e| keyfile::KeyFileError::Random(e.to_string()))
            .context("creating the recovery key")?;
        keyfile::save_recovery(&recovery_path(&out), &recovery, &key.public())
            .context("writing the recovery key")?;
        write_public(&recovery_pub_path(&out), &recovery.public())?;
        Some(recovery.public())
    };
    let revocation = presigned_revocation(&key, Timestamp::now())?;
    keyfile::write_private(&rev_path, &revocation.signed().encode_to_vec())
        .context("writing the revocation")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", key.public())?;
    stdout.flush()?;
    drop(stdout);
    let (o, r) = (out.display(), rev_path.display());
    if recovery.is_none() {
        eprintln!(
            "Wrote the secret key to {o} (mode 0600) and a pre-signed revocation to {r}.\n\
             The line above is your public key: your organisation's identity on Tocsin.\n\
             Keep the revocation offline with trusted people; if the key is seized, publish it with\n  \
             tocsin revoke --revocation {r} --node URL\n\
             It withholds everything the key ever signed. (Without --no-recovery, keygen makes a\n\
             recovery key that keeps your history and hands your name to a new key.)"
        );
        return Ok(());
    }
    let (rec, rec_pub) = (
        recovery_path(&out).display().to_string(),
        recovery_pub_path(&out).display().to_string(),
    );
    eprintln!(
        "Wrote:\n  \
         {o}  the organisation's secret key (0600): sign with it\n  \
         {rec_pub}  the recovery key's public half: keep it beside the key\n  \
         {rec}  the RECOVERY key (0600)\n  \
         {r}  a pre-signed revocation (0600)\n\
         The line above is your public key: your organisation's identity on Tocsin.\n\n\
         NOW move {rec} off this computer (on paper or a USB stick kept elsewhere, or with\n\
         trusted people abroad) and delete it here: whoever seizes this computer must not get it.\n\
         Keep {o} and {rec_pub}.\n\n\
         The first thing you publish with this key commits it to the recovery key (or at once:\n  \
         tocsin commit --key {o} --node URL).\n\
         If the key is seized, the recovery key hands your organisation's name to a new key from\n\
         the moment of the seizure; what you published before stays:\n  \
         tocsin rotate --recovery {rec} --since \"2026-05-14 09:30\" --successor NEW.key --node URL\n\
         Until the commitment is published, the revocation is the fallback (it withholds\n\
         everything the key signed):\n  \
         tocsin revoke --revocation {r} --node URL"
    );
    if let Some(url) = &args.node {
        let node = NodeUrl {
            url: url.clone(),
            ca: args.ca.clone(),
        };
        super::block_on(async {
            let mut client = node.connect().await?;
            commit_first(&out, &key, &mut client, false).await
        })?;
    }
    Ok(())
}

/// Writes a public key file (hex, readable by all: it reveals nothing usable), never
/// overwriting.
fn write_public(path: &Path, key: &AuthorKey) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{key}").with_context(|| format!("writing {}", path.display()))?;
    file.sync_all()
        .with_context(|| format!("writing {}", path.display()))
}

/// The commitment of `key` to `recovery` the node holds, if any. Refused when it holds one of
/// this key to another recovery key: someone else has used the key. An older node cannot say
/// (`None`).
async fn held_commitment(
    key: &SecretKey,
    recovery: &AuthorKey,
    client: &mut Client,
) -> anyhow::Result<Option<KeyCommitment>> {
    match client.key_state(&key.public()).await {
        Ok(state) => match state.commitment {
            Some(held) if held.recovery_digest != recovery_digest(recovery) => {
                Err(Failure::failed(format!(
                    "the node at {} holds a recovery commitment of key {} to ANOTHER recovery key, \
                     made {}: someone else has used this key. Nothing was sent. See \
                     `tocsin key {} --node {}`, and warn the people who follow you by another way",
                    client.url(),
                    key.public().short(),
                    held.created_at,
                    key.public(),
                    client.url()
                ))
                .into())
            }
            held => Ok(held),
        },
        Err(e) if e.is_unimplemented() => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(format!("asking {}", client.url()))),
    }
}

/// Signs a fresh commitment of `key` to `recovery` and publishes it; notes it in KEY.committed
/// when the node took it. Refused first, without publishing, when the node holds a commitment of
/// this key to another recovery key ([`held_commitment`]).
async fn publish_commitment(
    key_path: &Path,
    key: &SecretKey,
    recovery: &AuthorKey,
    client: &mut Client,
) -> anyhow::Result<PublishOutcome> {
    held_commitment(key, recovery, client).await?;
    publish_fresh_commitment(key_path, key, recovery, client).await
}

/// [`publish_commitment`] once the node's commitments were looked at.
async fn publish_fresh_commitment(
    key_path: &Path,
    key: &SecretKey,
    recovery: &AuthorKey,
    client: &mut Client,
) -> anyhow::Result<PublishOutcome> {
    let message = commitment(key, recovery, Timestamp::now())?;
    let outcome = publish_one(client, message.signed()).await?;
    if let PublishOutcome::Accepted { id, .. } | PublishOutcome::Duplicate { id, .. } = &outcome {
        note_committed(key_path, *id, Kind::Commitment, client.url())?;
    }
    Ok(outcome)
}

/// Publishes the key's recovery commitment before anything else it signs, once: when
/// `KEY.recovery.pub` is beside the key and `KEY.committed` is not. A refusal stops the
/// command: nothing the key signs should go out before its commitment (with `json`, the refusal
/// is printed as the command's JSON answer).
pub(crate) async fn commit_first(
    key_path: &Path,
    key: &SecretKey,
    client: &mut Client,
    json: bool,
) -> anyhow::Result<()> {
    if committed_path(key_path).exists() {
        return Ok(());
    }
    let Some(recovery) = recovery_public(key_path)? else {
        return Ok(());
    };
    let outcome = publish_commitment(key_path, key, &recovery, client).await?;
    match outcome {
        PublishOutcome::Accepted { id, seq } | PublishOutcome::Duplicate { id, seq } => {
            eprintln!(
                "Published the recovery commitment of key {} first ({} as #{seq} at {}); \
                 noted in {}.",
                key.public().short(),
                id.short(),
                client.url(),
                committed_path(key_path).display()
            );
            Ok(())
        }
        PublishOutcome::Refused(r) => {
            let hint = match r.reason {
                Reason::RevokedAuthor => {
                    " This key is revoked or rotated there; sign with its successor \
                     (tocsin key KEY --node URL shows who carries on)."
                }
                Reason::Backdated => " Check this computer's clock and try again.",
                _ => "",
            };
            let what = format!(
                "the node at {} refused this key's recovery commitment, so nothing else was \
                 sent.{hint}",
                client.url()
            );
            // A refusal always comes back as an error (its exit code); this adds why here.
            print_outcome(
                PublishOutcome::Refused(r),
                Some(Kind::Commitment),
                client.url(),
                json,
            )
            .context(what)
        }
    }
}

pub(crate) async fn commit(args: CommitArgs) -> anyhow::Result<()> {
    let Some(recovery) = recovery_public(&args.key)? else {
        return Err(Failure::usage(format!(
            "{} is missing: this key has no recovery key to commit to. Keys made by \
             `tocsin keygen FILE` have one (not with --no-recovery)",
            recovery_pub_path(&args.key).display()
        )));
    };
    let key = super::post::load_key_file(&args.key)?;
    let mut client = args.node.connect().await?;
    // Held there already (the first post published it, or this ran before): a second
    // commitment would change nothing, the earliest being the one in force.
    if let Some(held) = held_commitment(&key, &recovery, &mut client).await? {
        note_committed(&args.key, held.id, Kind::Commitment, client.url())?;
        if args.json {
            println!(
                "{}",
                serde_json::json!({"id": held.id.to_hex(), "status": "held"})
            );
        } else {
            println!(
                "the node at {} holds this key's recovery commitment already ({}, made {}); \
                 nothing was sent",
                client.url(),
                held.id.short(),
                held.created_at
            );
        }
        return Ok(());
    }
    let outcome = publish_fresh_commitment(&args.key, &key, &recovery, &mut client).await?;
    print_outcome(outcome, Some(Kind::Commitment), client.url(), args.json)
}
