//! `export` and `import`: a node's messages as a file, with the signed bytes untouched.
//!
//! The file format: the line `tocsin-export v1\n`, then one record per message, each the
//! record's length as a protobuf varint followed by that many bytes of
//! `tocsin.v1.SignedMessage` (the author's body bytes and signature, as on the wire). This is
//! protobuf's standard length-delimited framing, so other tools can read it.
//!
//! `export --for HAVE` writes only what another node lacks: HAVE is that node's summary
//! (`tocsin have`, `have.rs`); reconciliation with the node read from, as the initiator over
//! the summary's items (`federation::find_differences`, the loop the nodes' own reconciliation
//! runs), finds which of the node's messages the summary lacks, and those are fetched (`want`)
//! and written, in the same format.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use futures::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::have::Have;
use super::read::FilterArgs;
use super::term::{self, Progress};
use super::{Failure, NodeUrl};
use crate::federation::{Differences, TargetsFirst, find_differences, key_events};
use crate::message::{Filter, Id, Message, SignedMessage, limits};
use crate::node::ReconcileStatus;
use crate::rpc::{ClientEvent, PublishOutcome, RECONCILE_BATCH};

/// The first line of an export file.
pub(crate) const MAGIC: &[u8] = b"tocsin-export v1\n";

/// The largest record accepted: a body at the limit, its signature and the framing.
const MAX_RECORD: u64 = limits::MAX_BODY_BYTES as u64 + 128;

/// `tocsin export`
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The node to read from.
    #[command(flatten)]
    pub node: NodeUrl,
    /// Which messages.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Start after this seq of the node's log (0 is the beginning).
    #[arg(
        long,
        default_value_t = 0,
        value_name = "SEQ",
        conflicts_with = "for_have"
    )]
    pub since: u64,
    /// Only what the node this summary is of lacks: a file from `tocsin have` (see README,
    /// "Sneakernet").
    #[arg(long = "for", value_name = "HAVE")]
    pub for_have: Option<PathBuf>,
    /// The file to write (never overwritten).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `tocsin import`
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The export file (from `tocsin export`).
    pub file: PathBuf,
    /// The node to publish to.
    #[command(flatten)]
    pub node: NodeUrl,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Appends one record: the length as a varint, then the message. The bytes written.
fn write_record(w: &mut impl Write, m: &SignedMessage) -> std::io::Result<u64> {
    let bytes = m.encode_to_vec();
    let mut varint = Vec::with_capacity(10);
    prost::encoding::encode_varint(bytes.len() as u64, &mut varint);
    w.write_all(&varint)?;
    w.write_all(&bytes)?;
    Ok((varint.len() + bytes.len()) as u64)
}

/// Why an export file could not be read.
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error("it does not start with `tocsin-export v1`: it is not a Tocsin export file")]
    NotExport,
    #[error("record {n} at byte {at} is cut short: the file is truncated")]
    Truncated { n: u64, at: u64 },
    #[error("record {n} at byte {at} claims {len} bytes, more than any message")]
    TooLong { n: u64, at: u64, len: u64 },
    #[error("record {n} at byte {at} is not a signed message: {why}")]
    Bad { n: u64, at: u64, why: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Reads records one by one, counting the bytes consumed.
struct RecordReader<R> {
    inner: R,
    offset: u64,
    n: u64,
}

impl<R: BufRead> RecordReader<R> {
    fn open(mut inner: R) -> Result<Self, ReadError> {
        let mut magic = vec![0u8; MAGIC.len()];
        match inner.read_exact(&mut magic) {
            Ok(()) if magic == MAGIC => {}
            Ok(()) => return Err(ReadError::NotExport),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(ReadError::NotExport);
            }
            Err(e) => return Err(e.into()),
        }
        Ok(RecordReader {
            inner,
            offset: MAGIC.len() as u64,
            n: 0,
        })
    }

    fn next(&mut self) -> Result<Option<SignedMessage>, ReadError> {
        let at = self.offset;
        let n = self.n + 1;
        let mut len: u64 = 0;
        for i in 0..10 {
            let mut b = [0u8; 1];
            match self.inner.read(&mut b)? {
                0 if i == 0 => return Ok(None),
                0 => return Err(ReadError::Truncated { n, at }),
                _ => {}
            }
            self.offset += 1;
            len |= u64::from(b[0] & 0x7f) << (7 * i);
            if b[0] < 0x80 {
                break;
            }
        }
        if len > MAX_RECORD {
            return Err(ReadError::TooLong { n, at, len });
        }
        let mut buf = vec![0u8; len as usize];
        self.inner.read_exact(&mut buf).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                ReadError::Truncated { n, at }
            } else {
                e.into()
            }
        })?;
        self.offset += len;
        self.n = n;
        SignedMessage::decode(&buf)
            .map(Some)
            .map_err(|r| ReadError::Bad {
                n,
                at,
                why: r.to_string(),
            })
    }
}

/// An export file being written: beside its place, renamed into it by [`ExportFile::finish`],
/// so there is never half a file and never one written over.
struct ExportFile {
    path: PathBuf,
    writer: BufWriter<tempfile::NamedTempFile>,
    bytes: u64,
}

impl ExportFile {
    /// Refuses a path that exists already, before any node is asked.
    fn check_new(path: &Path) -> anyhow::Result<()> {
        if path.exists() {
            return Err(Failure::failed(format!(
                "{} exists already; choose another file name or move it away first",
                path.display()
            ))
            .into());
        }
        Ok(())
    }

    fn create(path: &Path) -> anyhow::Result<ExportFile> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = tempfile::NamedTempFile::new_in(&dir)
            .with_context(|| format!("creating a file in {}", dir.display()))?;
        let mut writer = BufWriter::new(tmp);
        writer
            .write_all(MAGIC)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(ExportFile {
            path: path.to_path_buf(),
            writer,
            bytes: MAGIC.len() as u64,
        })
    }

    fn write(&mut self, m: &SignedMessage) -> anyhow::Result<()> {
        self.bytes += write_record(&mut self.writer, m)
            .with_context(|| format!("writing {}", self.path.display()))?;
        Ok(())
    }

    /// Flushes, syncs and moves the file into place; its size in bytes.
    fn finish(self) -> anyhow::Result<u64> {
        let path = self.path;
        let tmp = self
            .writer
            .into_inner()
            .map_err(|e| anyhow::Error::new(e.into_error()))
            .with_context(|| format!("writing {}", path.display()))?;
        tmp.as_file().sync_all()?;
        tmp.persist_noclobber(&path).map_err(|e| {
            anyhow::Error::new(e.error).context(format!("moving the export to {}", path.display()))
        })?;
        Ok(self.bytes)
    }
}

pub(crate) async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let filter = args.filter.filter()?;
    ExportFile::check_new(&args.out)?;
    if let Some(have) = &args.for_have {
        // Read and checked before the node is asked: a bad file is the user's to fix.
        let have = Have::read(have)?;
        return export_for(&args, &filter, &have).await;
    }
    let mut client = args.node.connect().await?;
    let head = client.info().await.ok().map(|i| i.head_seq);
    let mut file = ExportFile::create(&args.out)?;
    let mut events = client
        .subscribe(&filter, args.since, None)
        .await
        .context("reading the node's log")?;
    let mut progress = Progress::new("exporting");
    let (mut count, mut skipped, mut last) = (0u64, 0u64, args.since);
    while let Some(event) = events.next().await {
        match event.context("reading the node's log")? {
            ClientEvent::Delivery { seq, message } => {
                last = seq;
                // An export is a record others will trust: only what verifies here goes in.
                let message = match Message::open_untimed(message) {
                    Ok(m) => m,
                    Err(r) => {
                        eprintln!("#{seq}: left out a message that does not verify ({r})");
                        skipped += 1;
                        continue;
                    }
                };
                file.write(message.signed())?;
                count += 1;
                progress.set(seq, head, &format!("{count} messages"));
            }
            ClientEvent::CaughtUp(seq) => {
                last = last.max(seq);
                break;
            }
        }
    }
    progress.finish();
    file.finish()?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"messages": count, "skipped": skipped, "last_seq": last,
                "file": args.out.display().to_string()})
        )?;
    } else {
        writeln!(
            out,
            "exported {} (up to #{last}) from {} to {}",
            term::count(count, "message", "messages"),
            client.url(),
            args.out.display()
        )?;
        if args.since < last {
            writeln!(
                out,
                "next time, export only what is new with --since {last}"
            )?;
        }
    }
    Ok(())
}

/// What `export --for` writes: only what verifies here and passes the filter, counted.
struct Exporting<'a> {
    file: ExportFile,
    filter: &'a Filter,
    count: u64,
    filtered: u64,
    skipped: u64,
}

impl Exporting<'_> {
    /// `m` verified, or `None` (said, and counted as skipped): an export is a record others
    /// will trust, so only what verifies here goes in.
    fn verified(&mut self, m: SignedMessage) -> Option<Message> {
        let id = m.id();
        Message::open_untimed(m)
            .inspect_err(|r| {
                eprintln!(
                    "{}: left out a message that does not verify ({r})",
                    id.short()
                );
                self.skipped += 1;
            })
            .ok()
    }

    /// Writes `message` unless the filter leaves it out.
    fn write(&mut self, message: &Message) -> anyhow::Result<()> {
        if self.filter.matches(message.body()) {
            self.file.write(message.signed())?;
            self.count += 1;
        } else {
            self.filtered += 1;
        }
        Ok(())
    }
}

/// `export --for`: only the node's messages that the summary `have` lacks (and the filter
/// selects), found by reconciling the summary's items with the node.
async fn export_for(args: &ExportArgs, filter: &Filter, have: &Have) -> anyhow::Result<()> {
    let storage = have.storage()?;
    let mut client = args.node.connect().await?;
    // Counts of the exchange (round trips, bytes); the rest of a node's status stays 0 here.
    let mut exchange = ReconcileStatus::default();
    let limits = crate::config::Config::default().limits;
    let (rounds, frame) = (limits.reconcile_rounds, limits.reconcile_frame_bytes());
    let Differences {
        mut session,
        have: only_in_summary,
        need,
        cut,
    } = find_differences(
        storage,
        &mut client,
        None,
        (rounds, frame),
        None,
        &mut exchange,
    )
    .await
    .context("comparing the summary with the node's messages")?;
    let node_holds = have.len() - only_in_summary.len() + need.len();
    let mut need: Vec<Id> = need.into_iter().collect();
    need.sort();
    let lacking = need.len();

    let mut out = Exporting {
        file: ExportFile::create(&args.out)?,
        filter,
        count: 0,
        filtered: 0,
        skipped: 0,
    };
    let mut progress = Progress::new("exporting");
    let mut gone = 0u64;
    // Key events first, commitments ahead, as a follower takes them: an importing node that
    // took a revocation before its key's commitment would let it reach back before it.
    let lacked: HashSet<Id> = need.iter().copied().collect();
    let first: Vec<SignedMessage> = key_events(&mut client, None)
        .await
        .context("reading the node's key events")?
        .into_iter()
        .filter(|m| lacked.contains(&m.id()))
        .collect();
    let taken: HashSet<Id> = first.iter().map(|m| m.id()).collect();
    let need: Vec<Id> = need.into_iter().filter(|id| !taken.contains(id)).collect();
    for m in first {
        if let Some(m) = out.verified(m) {
            out.write(&m)?;
        }
    }
    // Targets before what refers to them, across batches: the importing node holds back a
    // message about one under embargo only if the target came first.
    let mut order = TargetsFirst::new(need.iter().copied());
    let batches: Vec<&[Id]> = need.chunks(RECONCILE_BATCH).collect();
    for (i, batch) in batches.iter().enumerate() {
        let (messages, missing) = session
            .want(batch)
            .await
            .context("fetching the messages the summary lacks")?;
        // Withdrawn or expired since the comparison: no longer served.
        gone += missing.len() as u64;
        let asked: HashSet<&Id> = batch.iter().collect();
        let mut verified = Vec::with_capacity(messages.len());
        let mut ready = Vec::with_capacity(messages.len());
        for m in messages.into_iter().filter(|m| asked.contains(&m.id())) {
            let id = m.id();
            match out.verified(m) {
                Some(m) => verified.push(m),
                None => order.not_coming(&id, &mut ready),
            }
        }
        for id in &missing {
            order.not_coming(id, &mut ready);
        }
        // Oldest first within a batch, as a log would have them.
        verified.sort_by_key(|m| (m.body().created_at, m.id()));
        for m in verified {
            order.take(m.id(), m.body().target(), m, true, &mut ready);
        }
        if i + 1 == batches.len() {
            ready.extend(order.rest());
        }
        for message in ready {
            out.write(&message)?;
        }
        progress.set(
            out.count + out.filtered + out.skipped + gone,
            Some(lacking as u64),
            &format!("{} messages", out.count),
        );
    }
    progress.finish();
    let Exporting {
        file,
        count,
        filtered,
        skipped,
        ..
    } = out;
    let bytes = file.finish()?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"summary_messages": have.len(), "node_messages": node_holds,
                "lacking": lacking, "node_lacks": only_in_summary.len(),
                "messages": count, "filtered_out": filtered, "no_longer_served": gone,
                "skipped": skipped, "bytes": bytes, "round_trips": exchange.round_trips,
                "complete": cut.is_none(), "file": args.out.display().to_string()})
        )?;
    } else {
        writeln!(
            out,
            "the summary {} holds {} of node {}… (up to #{}, made {})",
            args.for_have.as_deref().unwrap_or(Path::new("")).display(),
            term::count(have.len() as u64, "message", "messages"),
            have.node_key.short(),
            have.head,
            have.made_at.to_rfc3339()
        )?;
        writeln!(
            out,
            "{} shows {}: {} not in the summary ({})",
            client.url(),
            term::count(node_holds as u64, "message", "messages"),
            lacking,
            term::count(exchange.round_trips, "round trip", "round trips")
        )?;
        let mut left_out = Vec::new();
        if filtered > 0 {
            left_out.push(format!("{filtered} left out by the filters"));
        }
        if gone > 0 {
            left_out.push(format!("{gone} no longer served"));
        }
        if skipped > 0 {
            left_out.push(format!("{skipped} that do not verify"));
        }
        let left_out = if left_out.is_empty() {
            String::new()
        } else {
            format!(" ({})", left_out.join(", "))
        };
        writeln!(
            out,
            "exported {}{left_out} to {}, {}",
            term::count(count, "message", "messages"),
            args.out.display(),
            term::size(bytes)
        )?;
        if let Some(rounds) = cut {
            writeln!(
                out,
                "the comparison stopped after {rounds} round trips (limits.reconcile_rounds): this \
                 export holds what those found; after importing it, write a new summary and export \
                 again for the rest"
            )?;
        }
        writeln!(
            out,
            "carry it back and run at the node the summary is of: tocsin import {}",
            args.out.display()
        )?;
    }
    Ok(())
}

pub(crate) async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?;
    let total = file.metadata().map(|m| m.len()).ok();
    let file_err = |e: ReadError, path: &Path| Failure::failed(format!("{}: {e}", path.display()));
    let reader = RecordReader::open(BufReader::new(file)).map_err(|e| file_err(e, &args.file))?;
    let mut client = args.node.connect().await?;

    let consumed = Arc::new(AtomicU64::new(0));
    let sent: Arc<Mutex<VecDeque<Id>>> = Arc::default();
    let (tx, rx) = tokio::sync::mpsc::channel::<SignedMessage>(256);
    let reading = {
        let consumed = consumed.clone();
        let sent = sent.clone();
        tokio::task::spawn_blocking(move || -> Result<u64, ReadError> {
            let mut reader = reader;
            while let Some(m) = reader.next()? {
                consumed.store(reader.offset, Ordering::Relaxed);
                sent.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_back(m.id());
                if tx.blocking_send(m).is_err() {
                    break; // the node stopped listening; the reply loop says why
                }
            }
            Ok(reader.n)
        })
    };
    // Marked as carried from another node: on the node's own machine it is taken as relayed.
    let mut replies = client
        .import_stream(ReceiverStream::new(rx))
        .await
        .context("publishing")?;
    let mut progress = Progress::new("importing");
    let (mut accepted, mut duplicate, mut refused) = (0u64, 0u64, 0u64);
    let mut reasons: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut stream_error = None;
    while let Some(reply) = replies.next().await {
        let id = sent.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
        match reply {
            Ok(PublishOutcome::Accepted { .. }) => accepted += 1,
            Ok(PublishOutcome::Duplicate { .. }) => duplicate += 1,
            Ok(PublishOutcome::Refused(r)) => {
                refused += 1;
                *reasons.entry(r.code()).or_default() += 1;
                if refused <= 10 {
                    progress.finish();
                    let id = id.map(|i| i.short()).unwrap_or_default();
                    eprintln!("refused {id}: {r}");
                } else if refused == 11 {
                    eprintln!("(further refusals are only counted)");
                }
            }
            Err(e) => {
                stream_error = Some(e);
                break;
            }
        }
        let done = accepted + duplicate + refused;
        progress.set(
            consumed.load(Ordering::Relaxed),
            total,
            &format!("{done} messages"),
        );
    }
    progress.finish();
    drop(replies);
    let read_result = reading.await.context("reading the file")?;
    let done = accepted + duplicate + refused;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::json!({"accepted": accepted, "duplicate": duplicate, "refused": refused,
                "reasons": reasons})
        )?;
    } else {
        let detail: Vec<String> = reasons.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let detail = if detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", detail.join(", "))
        };
        writeln!(
            out,
            "imported {} from {} into {}: {accepted} accepted, {duplicate} duplicate, \
             {refused} refused{detail}",
            term::count(done, "message", "messages"),
            args.file.display(),
            client.url()
        )?;
    }
    out.flush()?;
    if let Some(e) = stream_error {
        return Err(anyhow::Error::new(e).context(format!(
            "the node stopped after {done} messages; run the import again (duplicates are harmless)"
        )));
    }
    let read = read_result.map_err(|e| file_err(e, &args.file))?;
    if done < read {
        return Err(Failure::failed(format!(
            "the node answered {done} of {read} messages; run the import again \
                 (duplicates are harmless)"
        ))
        .into());
    }
    if refused > 0 {
        return Err(Failure::failed(format!(
            "{refused} of {done} messages were refused (reasons above)"
        ))
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_is_named() {
        let key = crate::message::SecretKey::from_seed(&[9; 32]);
        let now = crate::message::Timestamp(1_800_000_000_000);
        let body = crate::message::Body {
            author: key.public(),
            created_at: now,
            expires_at: Some(now.plus(std::time::Duration::from_secs(86400 * 400))),
            topics: vec![],
            countries: vec![],
            effective_at: None,
            content: crate::message::Content::Endorsement(crate::message::Endorsement {
                target: Id([1; 32]),
                statement: "x".repeat(300), // a length over one varint byte
            }),
        };
        let m = Message::sign(body, &key).unwrap();
        let mut file = MAGIC.to_vec();
        write_record(&mut file, m.signed()).unwrap();
        write_record(&mut file, m.signed()).unwrap();
        let mut r = RecordReader::open(&file[..]).unwrap();
        assert_eq!(r.next().unwrap().unwrap(), *m.signed());
        assert_eq!(r.next().unwrap().unwrap(), *m.signed());
        assert!(r.next().unwrap().is_none());
        assert_eq!(r.offset, file.len() as u64);

        let cut = &file[..file.len() - 5];
        let mut r = RecordReader::open(cut).unwrap();
        r.next().unwrap();
        assert!(matches!(r.next(), Err(ReadError::Truncated { n: 2, .. })));

        assert!(matches!(
            RecordReader::open(&b"not an export"[..]),
            Err(ReadError::NotExport)
        ));
    }
}
