//! `tocsin node check`: every record, log entry, body and index row of a store, verified
//! offline, and optionally repaired.
//!
//! The check reads everything: each log entry, and the body of each accepted one (SHA-256
//! against its id, then the signature, strictly, as ingest checks it); each record against its
//! log entries; each index row against the messages it lists, and each message against the
//! rows that should list it; the counters; the body log's live bytes per segment. It runs on
//! the writer thread (nothing else writes meanwhile) and holds in memory what the indexes hold
//! (a message's index values by seq), so it needs about the indexes' size in memory.
//!
//! **Repair** drops what cannot be served (a message whose body is damaged, or whose record and
//! log entries disagree) with every row that names it — record, log entries, references,
//! endorsement and tally, latest, embargo — and leaves **no tombstone**, so the genuine message
//! may come back: its id goes on the store's list to fetch again (`meta::REFETCH`), which the
//! node asks its peers for when it runs. Revocations in force stay in force. It then rebuilds
//! the index trees from the messages kept, sets the counters and the segments' live bytes, and
//! keeps everything else.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::bodies::SegRow;
use super::codec::{self, LogEntry, LogRow, RELEASED, Record, Tree, big_endian, concat, meta};
use super::rows::{Rows, newest_row};
use super::{Inner, Store, StoreError};
use crate::message::{Id, Kind, Message};

mod keys;

/// What the records say, counted by [`Inner::check_records`].
#[derive(Debug, Default)]
struct RecordCounts {
    /// Records with content.
    content: u64,
    /// Of them, those kept by a repair.
    held: u64,
    /// Records without content (withdrawn).
    stripped: u64,
    /// Records of reports in effect for readers (with content, released).
    reports: u64,
    /// Of them, those kept by a repair.
    reports_held: u64,
}

/// The index trees, rebuilt by a repair.
const INDEXES: [Tree; 5] = [
    Tree::IAuthor,
    Tree::IKind,
    Tree::ITopic,
    Tree::ICountry,
    Tree::ILang,
];

/// Index rows a rebuild writes hold at most this many seqs.
const REBUILT_ROW: usize = 256;

/// One damaged thing found by [`Store::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What is damaged: `body`, `record`, `log`, `index`, `counter`, `segment`, `key` (a
    /// row of the recovery commitments, rotations or successors) or `withdrawn` (a row of the
    /// versions a cancel withdrew).
    pub what: &'static str,
    /// The seq concerned, when there is one.
    pub seq: Option<u64>,
    /// The message concerned, when known.
    pub id: Option<Id>,
    /// What is wrong, in words.
    pub detail: String,
}

/// What [`Store::check`] found (and did).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Records read.
    pub records: u64,
    /// Log entries read.
    pub log_entries: u64,
    /// Bodies verified (SHA-256 and signature).
    pub bodies: u64,
    /// Index rows read.
    pub index_rows: u64,
    /// Everything found damaged, in the order found.
    pub findings: Vec<Finding>,
    /// With repair: the messages dropped (listed to fetch again from peers).
    pub dropped: Vec<Id>,
    /// With repair: whether anything was rewritten.
    pub repaired: bool,
}

impl CheckReport {
    /// Whether nothing is damaged.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    fn found(&mut self, what: &'static str, seq: Option<u64>, id: Option<Id>, detail: String) {
        self.findings.push(Finding {
            what,
            seq,
            id,
            detail,
        });
    }
}

/// A mend of a row of the newest bound: its key, and the bound to raise it to (`None`:
/// delete it).
type NewestFix = (Vec<u8>, Option<u64>);

/// What the check learns of the log.
#[derive(Default)]
struct Seen {
    /// Accepted entries: id → seq.
    accepted: HashMap<Id, u64>,
    /// Release entries: id → seq.
    released: HashMap<Id, u64>,
    /// The index values of every sound message, by its accepted seq.
    prefixes: HashMap<u64, Vec<(Tree, Vec<u8>)>>,
    /// Live body bytes and seq range per segment, from the accepted entries.
    segs: BTreeMap<u64, SegRow>,
    /// Log rows that do not decode, whole or in part.
    bad_rows: BTreeSet<u64>,
    /// Log entries to delete on repair.
    drop_seqs: BTreeSet<u64>,
    /// Messages to drop on repair.
    drop_ids: BTreeSet<Id>,
    /// The sound key events (commitments, rotations, revocations) read, whose rows the key
    /// trees derive from (`check/keys.rs`).
    key_events: Vec<Message>,
}

impl Inner {
    /// Checks the whole store, and repairs it if asked. Returns the report and the generation
    /// to wait for.
    fn check_all(&self, repair: bool) -> Result<(CheckReport, u64), StoreError> {
        let mut w = self.lock_writer()?;
        let mut report = CheckReport::default();
        let mut seen = Seen::default();
        self.check_log(&mut report, &mut seen)?;
        let RecordCounts {
            content: n_content,
            held: n_kept,
            stripped: n_stripped,
            reports: n_reports,
            reports_held: n_reports_kept,
        } = self.check_records(&mut report, &mut seen)?;
        // Release entries take their message's index values.
        let released: Vec<(u64, u64)> = seen
            .released
            .iter()
            .filter(|(id, _)| !seen.drop_ids.contains(*id))
            .filter_map(|(id, rel)| seen.accepted.get(id).map(|acc| (*rel, *acc)))
            .collect();
        for (rel, acc) in released {
            if let Some(p) = seen.prefixes.get(&acc).cloned() {
                seen.prefixes.insert(rel, p);
            }
        }
        self.check_indexes(&mut report, &seen)?;
        let key_rows = self.expected_key_rows(&seen)?;
        self.check_key_trees(&mut report, &key_rows)?;
        let stray_withdrawn = self.check_withdrawn(&mut report)?;
        let newest_fixes = self.check_newest(&mut report)?;
        let tombs = self.trees.get(Tree::Tombs).len() as u64;
        let counter = |k: &[u8]| -> Result<u64, StoreError> {
            Ok(self
                .trees
                .get(Tree::Meta)
                .get(k)
                .map_err(|e| self.sled_err(e))?
                .and_then(|v| codec::read_u64(&v))
                .unwrap_or(0))
        };
        for (key, want, name) in [
            (meta::N_MESSAGES, n_content, "messages"),
            (meta::N_TOMBSTONES, n_stripped + tombs, "tombstones"),
            (meta::N_REPORTS, n_reports, "reports in effect"),
        ] {
            let have = counter(key)?;
            if have != want {
                report.found(
                    "counter",
                    None,
                    None,
                    format!("the count of {name} says {have}; the store holds {want}"),
                );
            }
        }
        for kv in self.trees.get(Tree::Segs).iter() {
            let (k, v) = kv.map_err(|e| self.sled_err(e))?;
            let seg = codec::read_u64(&k).unwrap_or(u64::MAX);
            let want = seen.segs.get(&seg).map_or(0, |r| r.live);
            match SegRow::decode(&v) {
                Some(row) if row.live == want => {}
                Some(row) => report.found(
                    "segment",
                    None,
                    None,
                    format!(
                        "body segment {seg:016x} counts {} live bytes; its entries hold {want}",
                        row.live
                    ),
                ),
                None => report.found(
                    "segment",
                    None,
                    None,
                    format!("the row of body segment {seg:016x} is unreadable"),
                ),
            }
        }
        if !repair || report.is_clean() {
            return Ok((report, w.generation));
        }

        let mut rows = self.rows();
        self.drop_messages(&mut rows, &seen)?;
        self.rewrite_log(&mut rows, &seen)?;
        self.rebuild_indexes(&mut rows, &seen)?;
        self.rebuild_key_trees(&mut rows, &key_rows)?;
        for (tree, k) in stray_withdrawn {
            rows.delete(tree, k);
        }
        for (k, raised) in newest_fixes {
            match raised {
                Some(m) => rows.put(Tree::Newest, k, big_endian(m)),
                None => rows.delete(Tree::Newest, k),
            }
        }
        rows.put(Tree::Meta, meta::N_MESSAGES, big_endian(n_kept));
        rows.put(
            Tree::Meta,
            meta::N_TOMBSTONES,
            big_endian(n_stripped + tombs),
        );
        rows.put(Tree::Meta, meta::N_REPORTS, big_endian(n_reports_kept));
        // The segments' live bytes, from the entries kept.
        let mut live: BTreeMap<u64, SegRow> = BTreeMap::new();
        for (id, seq) in &seen.accepted {
            if seen.drop_ids.contains(id) || seen.drop_seqs.contains(seq) {
                continue;
            }
            if let Some(at) = self.log_entry(*seq).ok().flatten().and_then(|e| e.body) {
                let row = live.get(&at.seg).copied();
                live.insert(at.seg, SegRow::add(row, *seq, u64::from(at.len)));
            }
        }
        for kv in self.trees.get(Tree::Segs).iter() {
            let (k, v) = kv.map_err(|e| self.sled_err(e))?;
            let Some(seg) = codec::read_u64(&k) else {
                rows.delete(Tree::Segs, k.to_vec());
                continue;
            };
            let row = live.remove(&seg).unwrap_or(SegRow {
                live: 0,
                ..SegRow::decode(&v).unwrap_or(SegRow {
                    live: 0,
                    min_seq: 0,
                    max_seq: 0,
                })
            });
            rows.put(Tree::Segs, big_endian(seg), row.encode());
        }
        for (seg, row) in live {
            rows.put(Tree::Segs, big_endian(seg), row.encode());
        }
        // The dropped messages, to fetch again.
        let mut refetch = self
            .trees
            .get(Tree::Meta)
            .get(meta::REFETCH)
            .map_err(|e| self.sled_err(e))?
            .map(|v| v.to_vec())
            .unwrap_or_default();
        for id in &seen.drop_ids {
            if !refetch.chunks_exact(32).any(|c| c == id.as_bytes()) {
                refetch.extend_from_slice(id.as_bytes());
            }
        }
        if !refetch.is_empty() {
            rows.put(Tree::Meta, meta::REFETCH, refetch);
        }
        let last = w.last_seq;
        self.commit(&mut w, rows, last)?;
        for id in &seen.drop_ids {
            self.damage.want(*id);
        }
        report.dropped = seen.drop_ids.iter().copied().collect();
        report.repaired = true;
        Ok((report, w.generation))
    }

    /// Reads every log entry, and every accepted entry's body.
    fn check_log(&self, report: &mut CheckReport, seen: &mut Seen) -> Result<(), StoreError> {
        for kv in self.trees.get(Tree::Log).iter() {
            let (k, v) = kv.map_err(|e| self.sled_err(e))?;
            let Some(key) = codec::read_u64(&k) else {
                report.found("log", None, None, "a log row has a bad key".into());
                continue;
            };
            for entry in LogRow::new(key, &v) {
                let Some((seq, bytes)) = entry else {
                    report.found(
                        "log",
                        Some(key),
                        None,
                        format!("the log row at seq {key} is unreadable from some entry on"),
                    );
                    seen.bad_rows.insert(key);
                    break;
                };
                report.log_entries += 1;
                let Some(e) = LogEntry::decode(bytes) else {
                    report.found(
                        "log",
                        Some(seq),
                        None,
                        "the log entry does not decode".into(),
                    );
                    seen.drop_seqs.insert(seq);
                    continue;
                };
                if e.what == RELEASED {
                    seen.released.insert(e.id, seq);
                    continue;
                }
                seen.accepted.insert(e.id, seq);
                let Some(at) = e.body else {
                    report.found("body", Some(seq), Some(e.id), "no body recorded".into());
                    seen.drop_ids.insert(e.id);
                    continue;
                };
                let row = seen.segs.get(&at.seg).copied();
                seen.segs
                    .insert(at.seg, SegRow::add(row, seq, u64::from(at.len)));
                report.bodies += 1;
                match self.verify_body(&e.id, &self.bodies.read(&at)) {
                    Ok(m) => {
                        seen.prefixes.insert(seq, codec::index_prefixes(&m));
                        if m.kind().is_key_event() {
                            seen.key_events.push(m);
                        }
                    }
                    Err(detail) => {
                        report.found("body", Some(seq), Some(e.id), detail);
                        seen.drop_ids.insert(e.id);
                    }
                }
            }
        }
        Ok(())
    }

    /// A body read back: it hashes to its id, decodes, and its signature verifies.
    fn verify_body(&self, id: &Id, read: &Result<Vec<u8>, StoreError>) -> Result<Message, String> {
        let v = match read {
            Ok(v) => v,
            Err(StoreError::Corrupt { detail, .. }) => return Err(detail.clone()),
            Err(e) => return Err(e.to_string()),
        };
        let m = codec::decode_body(*id, v)?;
        m.author()
            .verify(m.signed().body(), m.signed().signature())
            .map_err(|r| format!("the stored signature does not verify: {r}"))?;
        Ok(m)
    }

    /// Reads every record and checks it against the log. Returns how many hold their content,
    /// how many of those a repair keeps, how many do not hold it, and the same for the reports
    /// in effect.
    fn check_records(
        &self,
        report: &mut CheckReport,
        seen: &mut Seen,
    ) -> Result<RecordCounts, StoreError> {
        let mut counts = RecordCounts::default();
        let mut with_record = HashSet::new();
        for kv in self.trees.get(Tree::Msgs).iter() {
            let (k, v) = kv.map_err(|e| self.sled_err(e))?;
            report.records += 1;
            let id = Id::from_slice(&k);
            let (Some(id), Some(rec)) = (id, Record::decode(&v)) else {
                report.found("record", None, id, "the record does not decode".into());
                if let Some(id) = id {
                    seen.drop_ids.insert(id);
                }
                continue;
            };
            with_record.insert(id);
            if !rec.has_content() {
                counts.stripped += 1;
                if let Some(seq) = seen.accepted.get(&id) {
                    report.found(
                        "log",
                        Some(*seq),
                        Some(id),
                        "a log entry serves withdrawn content".into(),
                    );
                    seen.drop_seqs.insert(*seq);
                }
                continue;
            }
            counts.content += 1;
            // A report counts for readers once released (`rules::count_report`).
            let report_in_effect = rec.kind == Kind::Report && !rec.pending();
            counts.reports += u64::from(report_in_effect);
            if seen.drop_ids.contains(&id) {
                continue; // reported with its body
            }
            match seen.accepted.get(&id) {
                Some(seq) if *seq == rec.seq => {}
                other => {
                    report.found(
                        "record",
                        Some(rec.seq),
                        Some(id),
                        match other {
                            None => format!("its log entry at seq {} is missing", rec.seq),
                            Some(s) => format!("it says seq {}, the log says {s}", rec.seq),
                        },
                    );
                    seen.drop_ids.insert(id);
                    continue;
                }
            }
            if rec.release != 0 && seen.released.get(&id) != Some(&rec.release) {
                report.found(
                    "record",
                    Some(rec.release),
                    Some(id),
                    format!("its release entry at seq {} is missing", rec.release),
                );
                seen.drop_ids.insert(id);
                continue;
            }
            counts.held += 1;
            counts.reports_held += u64::from(report_in_effect);
        }
        for (id, seq) in seen.accepted.iter().chain(seen.released.iter()) {
            if !with_record.contains(id) {
                report.found(
                    "log",
                    Some(*seq),
                    Some(*id),
                    "a log entry names a message with no record".into(),
                );
                seen.drop_seqs.insert(*seq);
            }
        }
        Ok(counts)
    }

    /// Reads every index row: each seq it lists is a sound message with that value, and every
    /// sound message is listed under each of its values.
    fn check_indexes(&self, report: &mut CheckReport, seen: &Seen) -> Result<(), StoreError> {
        let mut listed: HashMap<u64, usize> = HashMap::new();
        for t in INDEXES {
            for kv in self.trees.get(t).iter() {
                let (k, v) = kv.map_err(|e| self.sled_err(e))?;
                report.index_rows += 1;
                let prefix = &k[..k.len().saturating_sub(8)];
                let Some(seqs) = codec::postings(&v) else {
                    report.found(
                        "index",
                        None,
                        None,
                        format!("an index row of {} does not decode", t.name()),
                    );
                    continue;
                };
                for seq in seqs {
                    let ok = seen
                        .prefixes
                        .get(&seq)
                        .is_some_and(|p| p.iter().any(|(pt, pp)| *pt == t && pp == prefix));
                    if ok {
                        *listed.entry(seq).or_default() += 1;
                    } else if !seen.drop_seqs.contains(&seq) {
                        report.found(
                            "index",
                            Some(seq),
                            None,
                            format!(
                                "{} lists seq {seq}, which is no sound message with that value",
                                t.name()
                            ),
                        );
                    }
                }
            }
        }
        let mut missing: Vec<u64> = seen
            .prefixes
            .iter()
            .filter(|(seq, p)| listed.get(seq).copied().unwrap_or(0) < p.len())
            .map(|(seq, _)| *seq)
            .collect();
        missing.sort_unstable();
        for seq in missing {
            report.found(
                "index",
                Some(seq),
                None,
                format!("seq {seq} is missing from an index"),
            );
        }
        Ok(())
    }

    /// Reads every row of the versions cancels withdrew and of what readers had seen of the
    /// originals: each is readable and belongs to a cancelled alert or call held here. Returns
    /// the trees and keys of those that do not, for a repair to delete (the rows cannot be made
    /// again: the content is gone).
    fn check_withdrawn(
        &self,
        report: &mut CheckReport,
    ) -> Result<Vec<(Tree, Vec<u8>)>, StoreError> {
        let mut stray = Vec::new();
        for tree in [Tree::Withdrawn, Tree::Shown] {
            for kv in self.trees.get(tree).iter() {
                let (k, v) = kv.map_err(|e| self.sled_err(e))?;
                let original = k.get(..32).and_then(Id::from_slice);
                // The row's own id: the withdrawn update's, or the original's.
                let named = match tree {
                    Tree::Withdrawn => codec::decode_withdrawn(&k, &v).map(|row| row.id),
                    _ => original.filter(|_| k.len() == 32 && codec::decode_shown(&v).is_some()),
                };
                let Some(named) = named else {
                    report.found(
                        "withdrawn",
                        None,
                        None,
                        format!("a row of the {} tree does not decode", tree.name()),
                    );
                    stray.push((tree, k.to_vec()));
                    continue;
                };
                // An unreadable record is a finding of its own (`check_records`); its rows go
                // with it.
                let cancelled = match original {
                    Some(id) => self.record(&id).ok().flatten().is_some_and(|r| {
                        r.flags & codec::CANCELLED != 0
                            && matches!(r.kind, Kind::Alert | Kind::Call)
                    }),
                    None => false,
                };
                if !cancelled {
                    report.found(
                        "withdrawn",
                        None,
                        Some(named),
                        format!(
                            "a row of the {} tree names a message that is not held here as a \
                             cancelled alert or call",
                            tree.name()
                        ),
                    );
                    stray.push((tree, k.to_vec()));
                }
            }
        }
        Ok(stray)
    }

    /// Reads the rows of the bound on how new what the log holds can be (`Tree::Newest`):
    /// each is readable and bounds at least what the rows before it do (a row bounds
    /// everything placed below the next one). Returns the keys to delete (unreadable) or to
    /// raise to the bound before them (falling): raising a bound is always safe, and a walk
    /// through an unreadable row's range stops as it did before the bound.
    fn check_newest(&self, report: &mut CheckReport) -> Result<Vec<NewestFix>, StoreError> {
        let mut fixes = Vec::new();
        let mut highest = 0;
        for kv in self.trees.get(Tree::Newest).iter() {
            let row = kv.map_err(|e| self.sled_err(e))?;
            match newest_row(&row) {
                Some((_, m)) if m >= highest => highest = m,
                Some((seq, m)) => {
                    report.found(
                        "newest",
                        Some(seq),
                        None,
                        format!(
                            "the bound from seq {seq} on ({m}) is below the one before it ({highest})"
                        ),
                    );
                    fixes.push((row.0.to_vec(), Some(highest)));
                }
                None => {
                    report.found(
                        "newest",
                        None,
                        None,
                        "a row of the newest tree does not decode".into(),
                    );
                    fixes.push((row.0.to_vec(), None));
                }
            }
        }
        Ok(fixes)
    }

    /// Deletes every row that names a dropped message, except its log entries (see
    /// [`Inner::rewrite_log`]) and its index rows (rebuilt).
    fn drop_messages(&self, rows: &mut Rows<'_>, seen: &Seen) -> Result<(), StoreError> {
        if seen.drop_ids.is_empty() {
            return Ok(());
        }
        let dropped = |b: &[u8]| Id::from_slice(b).is_some_and(|id| seen.drop_ids.contains(&id));
        for id in &seen.drop_ids {
            rows.delete(Tree::Msgs, id.as_bytes().as_slice());
        }
        // target ‖ kind ‖ id
        for k in self.trees.get(Tree::Refs).iter().keys() {
            let k = k.map_err(|e| self.sled_err(e))?;
            if k.get(33..).is_some_and(dropped) {
                rows.delete(Tree::Refs, k.to_vec());
            }
        }
        // original ‖ created_at ‖ id, and original: what a dropped original's cancel withdrew
        // and what readers had seen of it.
        for tree in [Tree::Withdrawn, Tree::Shown] {
            for k in self.trees.get(tree).iter().keys() {
                let k = k.map_err(|e| self.sled_err(e))?;
                if k.get(..32).is_some_and(dropped) {
                    rows.delete(tree, k.to_vec());
                }
            }
        }
        // target ‖ author → endorsement id, and its place in the tally.
        for kv in self.trees.get(Tree::Endorse).iter() {
            let (k, v) = kv.map_err(|e| self.sled_err(e))?;
            if dropped(&v)
                && let Some(target) = k.get(..32)
            {
                rows.delete(Tree::Endorse, k.to_vec());
                rows.add_tally(target, -1)?;
            }
        }
        // … ‖ id: the latest profiles and rosters; time ‖ id: embargoes.
        for t in [Tree::Latest, Tree::Embargo] {
            for k in self.trees.get(t).iter().keys() {
                let k = k.map_err(|e| self.sled_err(e))?;
                if k.len() >= 32 && dropped(&k[k.len() - 32..]) {
                    rows.delete(t, k.to_vec());
                }
            }
        }
        Ok(())
    }

    /// Rewrites the log rows that hold entries to drop (or do not decode), keeping the rest.
    fn rewrite_log(&self, rows: &mut Rows<'_>, seen: &Seen) -> Result<(), StoreError> {
        for kv in self.trees.get(Tree::Log).iter() {
            let (k, v) = kv.map_err(|e| self.sled_err(e))?;
            let Some(key) = codec::read_u64(&k) else {
                rows.delete(Tree::Log, k.to_vec());
                continue;
            };
            let mut kept = Vec::new();
            let mut changed = seen.bad_rows.contains(&key);
            for entry in LogRow::new(key, &v) {
                let Some((seq, bytes)) = entry else {
                    break;
                };
                let drop = seen.drop_seqs.contains(&seq)
                    || LogEntry::decode(bytes).is_none_or(|e| seen.drop_ids.contains(&e.id));
                if drop {
                    changed = true;
                } else {
                    kept.push((seq, bytes.to_vec()));
                }
            }
            if !changed {
                continue;
            }
            if kept.is_empty() {
                rows.delete(Tree::Log, k.to_vec());
            } else {
                rows.put(Tree::Log, k.to_vec(), LogRow::encode(key, &kept));
            }
        }
        Ok(())
    }

    /// Replaces every index row with rows made from the sound messages kept.
    fn rebuild_indexes(&self, rows: &mut Rows<'_>, seen: &Seen) -> Result<(), StoreError> {
        for t in INDEXES {
            for k in self.trees.get(t).iter().keys() {
                let k = k.map_err(|e| self.sled_err(e))?;
                rows.delete(t, k.to_vec());
            }
        }
        let kept = |seq: &u64| {
            !seen.drop_seqs.contains(seq)
                && self
                    .log_entry(*seq)
                    .ok()
                    .flatten()
                    .is_some_and(|e| !seen.drop_ids.contains(&e.id))
        };
        let mut listed: BTreeMap<(Tree, Vec<u8>), Vec<u64>> = BTreeMap::new();
        for (seq, prefixes) in &seen.prefixes {
            if !kept(seq) {
                continue;
            }
            for (t, p) in prefixes {
                listed.entry((*t, p.clone())).or_default().push(*seq);
            }
        }
        for ((t, prefix), mut seqs) in listed {
            seqs.sort_unstable();
            seqs.dedup();
            for run in seqs.chunks(REBUILT_ROW) {
                rows.put(
                    t,
                    concat(&[&prefix, &big_endian(run[0])]),
                    codec::pack_postings(run),
                );
            }
        }
        Ok(())
    }
}

impl Store {
    /// Verifies every record, log entry, body (SHA-256 and signature) and index row; with
    /// `repair`, drops what cannot be served, rebuilds the indexes and keeps the rest (see
    /// `store/check.rs`). Meant for a store no node is running on (`tocsin node
    /// check`); durable before it returns.
    pub async fn check(&self, repair: bool) -> Result<CheckReport, StoreError> {
        let ((report, g), commit) = self.on_writer(move |inner| inner.check_all(repair)).await?;
        commit.wait(g).await?;
        Ok(report)
    }
}
