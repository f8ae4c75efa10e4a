//! `tocsin have`: a compact summary of what a node holds, written to a file to be carried to
//! another node (the sneakernet), whose `tocsin export --for` answers it with exactly what the
//! first node lacks.
//!
//! The file format, version 1 (all integers big-endian unless said otherwise):
//!
//! ```text
//! "tocsin-have v1\n"                      the magic line (15 bytes)
//! node key          32 bytes              the node the summary is of
//! log id            16 bytes              its log (all zeros: the node did not say)
//! head seq           8 bytes              its durable head when the summary was made
//! made at            8 bytes              when, Unix milliseconds
//! item count         8 bytes
//! items             item count times, in (created_at, id) order, no id twice:
//!   created_at step  LEB128 varint        created_at minus the previous item's (the
//!                                         first: minus 0), Unix milliseconds
//!   id              32 bytes
//! checksum          32 bytes              SHA-256 of every byte before it
//! ```
//!
//! The items are what `Relay.Items` lists to the command's connection: the messages whose
//! content the node holds and shows a reader (no embargoed ones, no withdrawn or expired ids).
//! An item costs its 32-byte id and a varint of the time since the one before: 33 to 36 bytes
//! when messages come minutes apart, 38 at most for any pair a year apart, so ~35 bytes an item
//! (10,000 messages make ~350 KB, 1,000,000 ~35 MB). Ids cannot be shortened: the other node's
//! fingerprints are over whole ids.
//!
//! A later version changes the magic line's number; this one refuses a newer version by name
//! rather than misreading it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use negentropy::NegentropyStorageVector;
use sha2::{Digest, Sha256};

use super::{Failure, NodeUrl, term};
use crate::message::{AuthorKey, Id, Timestamp};
use crate::store::{ItemSet, LogId};

/// The magic line's start; the version and a newline follow.
const MAGIC_PREFIX: &[u8] = b"tocsin-have v";

/// The version this code writes and reads.
const VERSION: u32 = 1;

/// Bytes of the header after the magic line: node key, log id, head, made at, item count.
const HEADER: usize = 32 + 16 + 8 + 8 + 8;

/// Bytes of the checksum at the end.
const CHECKSUM: usize = 32;

/// The fewest bytes an item takes (a one-byte step and the id).
const MIN_ITEM: usize = 1 + 32;

/// What a node holds, as a `tocsin have` file says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Have {
    /// The node the summary is of.
    pub node_key: AuthorKey,
    /// Its log; `None` when the node did not say.
    pub log_id: Option<LogId>,
    /// Its durable head when the summary was made.
    pub head: u64,
    /// When the summary was made.
    pub made_at: Timestamp,
    /// (created_at in Unix milliseconds, id), sorted, no id twice.
    items: Vec<(u64, Id)>,
}

/// Why a file is not a usable `tocsin have` file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HaveError {
    /// Another kind of file.
    #[error("it is not a `tocsin have` file (it does not start with `tocsin-have v1`){hint}")]
    NotHave {
        /// What it looks like instead, if known.
        hint: &'static str,
    },
    /// A later format.
    #[error(
        "it is a `tocsin have` file of version {0}, newer than this tocsin reads (version {VERSION}): \
         run a newer tocsin here, or make the file with this one's version"
    )]
    Newer(u32),
    /// Cut short.
    #[error("it is cut short in its {0}: the file is truncated; make it again with `tocsin have`")]
    Truncated(&'static str),
    /// Whole but wrong.
    #[error("it is damaged: {0}; make it again with `tocsin have`")]
    Damaged(&'static str),
}

impl Have {
    /// A summary of `items`, sorted here whatever order they come in.
    pub(crate) fn new(
        node_key: AuthorKey,
        log_id: Option<LogId>,
        head: u64,
        made_at: Timestamp,
        mut items: Vec<(u64, Id)>,
    ) -> Have {
        items.sort_unstable();
        items.dedup();
        Have {
            node_key,
            log_id,
            head,
            made_at,
            items,
        }
    }

    /// How many messages the node holds.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// The file's bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + HEADER + self.items.len() * 36 + CHECKSUM);
        out.extend_from_slice(MAGIC_PREFIX);
        out.extend_from_slice(format!("{VERSION}\n").as_bytes());
        out.extend_from_slice(self.node_key.as_bytes());
        out.extend_from_slice(self.log_id.as_ref().map_or(&[0; 16], |l| l.as_bytes()));
        out.extend_from_slice(&self.head.to_be_bytes());
        out.extend_from_slice(&self.made_at.as_millis().to_be_bytes());
        out.extend_from_slice(&(self.items.len() as u64).to_be_bytes());
        let mut previous = 0;
        for (at, id) in &self.items {
            // Sorted in `new`: never a step back.
            prost::encoding::encode_varint(at - previous, &mut out);
            out.extend_from_slice(id.as_bytes());
            previous = *at;
        }
        let checksum = Sha256::digest(&out);
        out.extend_from_slice(&checksum);
        out
    }

    /// Reads a file's bytes.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Have, HaveError> {
        let rest = version_line(bytes)?;
        if rest.len() < HEADER {
            return Err(HaveError::Truncated("header"));
        }
        let (header, mut rest) = rest.split_at(HEADER);
        let node_key = AuthorKey::from_slice(&header[..32])
            .map_err(|_| HaveError::Damaged("its node key is not a key"))?;
        let log_id = match &header[32..48] {
            zeros if zeros.iter().all(|b| *b == 0) => None,
            raw => LogId::from_slice(raw),
        };
        let number = |at: usize| {
            let mut raw = [0; 8];
            raw.copy_from_slice(&header[at..at + 8]);
            u64::from_be_bytes(raw)
        };
        let (head, made_at, count) = (number(48), Timestamp(number(56)), number(64));
        // A count the bytes cannot hold is a cut file (or a damaged count): never allocated for.
        let room = rest.len().saturating_sub(CHECKSUM) / MIN_ITEM;
        if count > room as u64 {
            return Err(HaveError::Truncated("items"));
        }
        let mut items = Vec::with_capacity(count as usize);
        let mut previous: u64 = 0;
        for _ in 0..count {
            let step = prost::encoding::decode_varint(&mut rest)
                .map_err(|_| HaveError::Truncated("items"))?;
            if rest.len() < 32 {
                return Err(HaveError::Truncated("items"));
            }
            let (id, after) = rest.split_at(32);
            rest = after;
            let at = previous
                .checked_add(step)
                .ok_or(HaveError::Damaged("an item's time is past any time"))?;
            let id = Id::from_slice(id).ok_or(HaveError::Damaged("an item's id"))?;
            if items.last().is_some_and(|last| *last >= (at, id)) {
                return Err(HaveError::Damaged("its items are out of order"));
            }
            items.push((at, id));
            previous = at;
        }
        match rest.len() {
            n if n < CHECKSUM => return Err(HaveError::Truncated("checksum")),
            CHECKSUM => {}
            _ => return Err(HaveError::Damaged("there are bytes after its checksum")),
        }
        let body = &bytes[..bytes.len() - CHECKSUM];
        if Sha256::digest(body).as_slice() != rest {
            return Err(HaveError::Damaged(
                "its checksum does not match its contents",
            ));
        }
        Ok(Have {
            node_key,
            log_id,
            head,
            made_at,
            items,
        })
    }

    /// The items as negentropy's storage, sealed, with the running sums a node's own set keeps
    /// (a round then costs what its message holds): what reconciliation runs over.
    pub(crate) fn storage(&self) -> anyhow::Result<ItemSet> {
        let mut storage = NegentropyStorageVector::with_capacity(self.items.len());
        for (at, id) in &self.items {
            storage
                .insert(*at, negentropy::Id::from_byte_array(*id.as_bytes()))
                .context("reading the summary into a set")?;
        }
        storage.seal().context("sealing the set")?;
        ItemSet::from_sealed(storage).context("summing the set")
    }

    /// Reads and checks a file, with its name in any error.
    pub(crate) fn read(path: &Path) -> anyhow::Result<Have> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Have::decode(&bytes).map_err(|e| Failure::failed(format!("{}: {e}", path.display())).into())
    }
}

/// The bytes after a supported magic line, or what the file is instead.
fn version_line(bytes: &[u8]) -> Result<&[u8], HaveError> {
    let Some(rest) = bytes.strip_prefix(MAGIC_PREFIX) else {
        let hint = if bytes.starts_with(super::transfer::MAGIC) {
            ": it is an export file (`tocsin export`); import it with `tocsin import`"
        } else {
            ""
        };
        return Err(HaveError::NotHave { hint });
    };
    // A version number of a few digits, then the newline.
    let end = rest
        .iter()
        .take(11)
        .position(|b| *b == b'\n')
        .ok_or(HaveError::NotHave { hint: "" })?;
    let version: u32 = std::str::from_utf8(&rest[..end])
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or(HaveError::NotHave { hint: "" })?;
    match version {
        VERSION => Ok(&rest[end + 1..]),
        newer if newer > VERSION => Err(HaveError::Newer(newer)),
        _ => Err(HaveError::NotHave { hint: "" }),
    }
}

/// `tocsin have`
#[derive(Debug, clap::Args)]
pub struct HaveArgs {
    /// The file to write (never overwritten).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The node whose holdings to summarise (the one that lacks messages).
    #[command(flatten)]
    pub node: NodeUrl,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub(crate) async fn have(args: HaveArgs) -> anyhow::Result<()> {
    if args.out.exists() {
        return Err(Failure::failed(format!(
            "{} exists already; choose another file name or move it away first",
            args.out.display()
        ))
        .into());
    }
    let mut client = args.node.connect().await?;
    let info = client.info().await.context("asking the node who it is")?;
    let listing = client
        .items_listing(None)
        .await
        .context("listing what the node holds")?;
    let have = Have::new(
        info.node_key,
        listing.log_id.or(info.log_id),
        listing.head,
        Timestamp::now(),
        listing.items,
    );
    let bytes = have.encode();
    write_new(&args.out, &bytes)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"messages": have.len(), "bytes": bytes.len(),
                "node_key": have.node_key.to_hex(), "head_seq": have.head,
                "log_id": have.log_id.map(|l| l.to_string()),
                "file": args.out.display().to_string()})
        )?;
    } else {
        writeln!(
            out,
            "wrote {}: the {} node {} holds (up to #{}), {}",
            args.out.display(),
            term::count(have.len() as u64, "message", "messages"),
            have.node_key.short(),
            have.head,
            term::size(bytes.len() as u64)
        )?;
        writeln!(
            out,
            "carry it to a connected node and run there: tocsin export --for {} --out FILE",
            args.out.display()
        )?;
    }
    Ok(())
}

/// Writes a new file beside where it goes and renames it into place: never half a file, never
/// over another.
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist_noclobber(path).map_err(|e| {
        anyhow::Error::new(e.error).context(format!("moving the file to {}", path.display()))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: u64) -> Have {
        let items = (0..n)
            .map(|i| {
                let mut id = [0u8; 32];
                id[..8].copy_from_slice(&(i * 7919).to_be_bytes());
                // Minutes apart, two at the same millisecond now and then.
                (1_800_000_000_000 + (i / 2) * 60_000, Id(id))
            })
            .collect();
        Have::new(
            crate::message::SecretKey::from_seed(&[3; 32]).public(),
            LogId::from_slice(&[9; 16]),
            n + 4,
            Timestamp(1_800_000_500_000),
            items,
        )
    }

    #[test]
    fn a_summary_round_trips_and_costs_about_35_bytes_an_item() {
        let have = sample(1000);
        let bytes = have.encode();
        assert_eq!(Have::decode(&bytes).unwrap(), have);
        let per_item = (bytes.len() - 15 - HEADER - CHECKSUM) as f64 / 1000.0;
        assert!(
            (33.0..=36.0).contains(&per_item),
            "{per_item} bytes an item"
        );
        let empty = Have::new(have.node_key, None, 0, have.made_at, vec![]);
        assert_eq!(Have::decode(&empty.encode()).unwrap(), empty);
    }

    #[test]
    fn a_cut_file_is_named_truncated_wherever_it_is_cut() {
        let bytes = sample(20).encode();
        for cut in [
            16,
            15 + HEADER - 1,
            15 + HEADER + 20,
            bytes.len() - 40,
            bytes.len() - 1,
        ] {
            match Have::decode(&bytes[..cut]) {
                Err(HaveError::Truncated(_)) => {}
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn other_files_and_newer_versions_are_named() {
        assert!(matches!(
            Have::decode(b"hello, this is a letter"),
            Err(HaveError::NotHave { hint: "" })
        ));
        let export = Have::decode(b"tocsin-export v1\n\x05abcde").unwrap_err();
        assert!(export.to_string().contains("tocsin import"), "{export}");
        let mut newer = sample(3).encode();
        newer[13] = b'2';
        let e = Have::decode(&newer).unwrap_err();
        assert!(matches!(e, HaveError::Newer(2)), "{e:?}");
        assert!(e.to_string().contains("newer"), "{e}");
    }

    #[test]
    fn damage_is_found_by_the_checksum_and_the_order() {
        let mut bytes = sample(10).encode();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x01;
        assert!(matches!(
            Have::decode(&bytes),
            Err(HaveError::Damaged(_) | HaveError::Truncated(_))
        ));
        let mut longer = sample(10).encode();
        longer.push(0);
        assert!(matches!(Have::decode(&longer), Err(HaveError::Damaged(_))));
    }

    #[test]
    fn the_set_holds_every_item() {
        use negentropy::NegentropyStorageBase;
        let have = sample(50);
        assert_eq!(have.storage().unwrap().size().unwrap(), 50);
    }
}
