//! `tocsin keygen`: a new organisation key and its pre-signed revocation.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::keyfile;
use crate::message::{Body, Content, Message, Revocation, Timestamp};

/// `tocsin keygen`
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Where to write the secret key (created 0600; never overwritten).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Where to write the pre-signed revocation [default: FILE.revocation].
    #[arg(long, value_name = "FILE")]
    pub revocation: Option<PathBuf>,
}

/// The revocation written at key generation. It revokes the key from its creation: a seized key
/// can sign messages with any `created_at`, so no later time would keep forgeries out.
pub(crate) fn presigned_revocation(
    key: &crate::message::SecretKey,
    now: Timestamp,
) -> anyhow::Result<Message> {
    let body = Body {
        author: key.public(),
        created_at: now,
        expires_at: None,
        topics: vec![],
        countries: vec![],
        effective_at: None,
        content: Content::Revocation(Revocation {
            revoked_from: now,
            successor: None,
            reason: "key compromised (revocation prepared when the key was made)".into(),
        }),
    };
    Message::sign(body, key).context("signing the revocation")
}

pub(crate) fn keygen(args: &KeygenArgs) -> anyhow::Result<()> {
    let rev_path = args.revocation.clone().unwrap_or_else(|| {
        let mut p = args.out.clone().into_os_string();
        p.push(".revocation");
        PathBuf::from(p)
    });
    if rev_path.exists() {
        return Err(keyfile::KeyFileError::Exists(rev_path).into());
    }
    let key = keyfile::generate(&args.out).context("creating the key")?;
    let revocation = presigned_revocation(&key, Timestamp::now())?;
    keyfile::write_private(&rev_path, &revocation.signed().encode_to_vec())
        .context("writing the revocation")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", key.public())?;
    eprintln!(
        "Wrote the secret key to {} (mode 0600) and a pre-signed revocation to {}.\n\
         The line above is your public key: your organisation's identity on Tocsin.\n\
         Keep the revocation offline with trusted people; if the key is seized, publish it with\n  \
         tocsin revoke --revocation {} --node URL",
        args.out.display(),
        rev_path.display(),
        rev_path.display()
    );
    Ok(())
}
