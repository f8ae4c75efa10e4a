//! The read path: ordered, filtered reads of the log in a view, and lookups by id and author.
//!
//! Reads never take the writer lock and never look past the durable head.
//!
//! A filtered read picks one dimension of the filter (author, topic, country, language or
//! kind) and walks its index: each alternative of that dimension is a range of `value ‖ seq`
//! keys, and the ranges are merged in seq order. The dimension chosen is the one whose ranges
//! hold the fewest rows past `since` (counted up to a cap, so choosing stays cheap). Every
//! candidate is then checked with [`Filter::matches`], so the choice changes the cost, never
//! the result. A language range "pt" walks "pt" and every "pt-…" tag present (RFC 4647 basic
//! filtering), skipping from one tag to the next without reading their rows; "*" cannot be
//! served by the index. An empty filter walks the log itself.

use std::collections::{BTreeMap, HashMap};

use super::bodies::BodyRead;
use super::codec::{self, ACCEPTED, LogEntry, Record, Tree, big_endian, concat, meta};
#[cfg(doc)]
use super::rows::Rows;
use super::rules;
use super::{
    Counts, Endorser, Entry, Inner, MessageState, Seen, Store, StoreError, View, WithdrawnVersion,
};
use crate::message::tally::{Reported, RosterHeld};
use crate::message::{AuthorKey, Content, Filter, Id, Kind, Message, Tally, Timestamp};

/// At most this many candidate entries are examined per read beyond `limit`, so a read that
/// skips much (another origin, a filter the index cannot serve) returns in bounded time; the
/// caller goes on from `scanned_to`.
const SCAN_BUDGET: usize = 4096;

/// Counting stops here when estimating an index's selectivity.
const ESTIMATE_CAP: usize = 1024;

/// A read follows a body this many times from one segment to the next (each a compaction that
/// finished while it read) before it gives up with `unavailable`, to be tried again.
const MOVES_FOLLOWED: usize = 4;

/// An index to walk for a filter: its tree, and the prefixes of the values the filter names.
type IndexWalk = (Tree, Vec<Vec<u8>>);

impl Inner {
    /// The log entry at `seq` (see [`Rows::log_entry`]).
    pub(super) fn log_entry(&self, seq: u64) -> Result<Option<LogEntry>, StoreError> {
        self.rows().log_entry(seq)
    }

    /// The log entries with seqs in `lo..=hi`, in order, starting with the row that holds `lo`
    /// (which may be keyed before it).
    pub(super) fn log_range(
        &self,
        lo: u64,
        hi: u64,
    ) -> Result<impl Iterator<Item = Result<(u64, LogEntry), StoreError>> + '_, StoreError> {
        let start = self.rows().log_row_at(lo)?.map_or(lo, |(key, _)| key);
        Ok(self
            .trees
            .get(Tree::Log)
            .range(big_endian(start)..=big_endian(hi))
            .flat_map(move |kv| match self.log_row(kv, lo, hi) {
                Ok(entries) => entries.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => vec![Err(e)],
            }))
    }

    /// The entries of one log row (as sled's iterators yield it) with seqs in `lo..=hi`, in
    /// order.
    pub(super) fn log_row(
        &self,
        kv: sled::Result<(sled::IVec, sled::IVec)>,
        lo: u64,
        hi: u64,
    ) -> Result<Vec<(u64, LogEntry)>, StoreError> {
        let (k, v) = kv.map_err(|e| StoreError::sled(&self.dir, e))?;
        let bad = || StoreError::corrupt(&self.dir, "a log row is unreadable");
        let key = codec::read_u64(&k).ok_or_else(bad)?;
        let mut out = Vec::new();
        for e in codec::LogRow::new(key, &v) {
            let (seq, b) = e.ok_or_else(bad)?;
            if (lo..=hi).contains(&seq) {
                out.push((seq, LogEntry::decode(b).ok_or_else(bad)?));
            }
        }
        Ok(out)
    }

    /// The record of `id` (see [`Rows::record`]).
    pub(super) fn record(&self, id: &Id) -> Result<Option<Record>, StoreError> {
        self.rows().record(id)
    }

    /// The message with its content, if held.
    pub(super) fn message(&self, id: &Id) -> Result<Option<Message>, StoreError> {
        match self.record(id)? {
            None => Ok(None),
            Some(rec) => self.decode(id, &rec),
        }
    }

    /// The message of a record, when its content is held and its body is sound.
    ///
    /// Recently decoded messages are kept in a small cache by seq: every live subscriber asks
    /// for the same new entries, and only the first pays for reading and decoding the body.
    /// The record, read before, stays the authority on whether the content is held. A body
    /// that is damaged or missing is `None`, noted in [`Inner::damage`]: one broken message
    /// never fails the read it is part of.
    pub(super) fn decode(&self, id: &Id, rec: &Record) -> Result<Option<Message>, StoreError> {
        if !rec.has_content() {
            return Ok(None);
        }
        let loaded = self.load(id, rec.seq, || self.read_body(id, rec));
        match loaded {
            // Damage (a move is followed by `read_body`, never taken for damage): the body, or
            // the entry pointing to it.
            Err(StoreError::Corrupt { detail, .. }) => {
                self.damage.found(*id, rec.seq, &detail);
                Ok(None)
            }
            other => other,
        }
    }

    /// The message stored at `seq`: from the cache of recent messages, or decoded from what
    /// `read` reads from the body log (checked against its id) and kept in the cache when it
    /// is near the head. `None` when the bytes read are damaged (noted, never cached).
    fn load(
        &self,
        id: &Id,
        seq: u64,
        read: impl FnOnce() -> Result<Vec<u8>, StoreError>,
    ) -> Result<Option<Message>, StoreError> {
        if let Some(m) = self.recent.get(seq) {
            return Ok(Some(m));
        }
        let v = read()?;
        Ok(self.checked(id, seq, &v))
    }

    /// The message in the bytes read for `id` at `seq`, checked against its id, and kept in
    /// the cache when it is near the head. `None` when they are damaged (noted, never cached).
    fn checked(&self, id: &Id, seq: u64, bytes: &[u8]) -> Option<Message> {
        let m = match codec::decode_body(*id, bytes) {
            Ok(m) => m,
            Err(detail) => {
                self.damage.found(*id, seq, &detail);
                return None;
            }
        };
        // Live subscribers read near the head; a backfill far behind would only push their
        // entries out.
        if seq.saturating_add(super::RECENT as u64) > self.commit.head() {
            self.recent.put(seq, m.clone());
        }
        Some(m)
    }

    /// Reads the signature and body of a record whose content is held, where its log entry
    /// says. Retention may move the body (compaction) between reading the entry and reading
    /// the body: the body log then says [`BodyRead::Moved`], and the entry, read again, says
    /// where it went. Damage is returned as it is found, never read again.
    fn read_body(&self, id: &Id, rec: &Record) -> Result<Vec<u8>, StoreError> {
        for _ in 0..MOVES_FOLLOWED {
            let at = self
                .log_entry(rec.seq)?
                .and_then(|e| e.body)
                .ok_or_else(|| {
                    StoreError::corrupt(&self.dir, format!("the body of {id} is missing"))
                })?;
            match self.bodies.read_or_moved(&at)? {
                BodyRead::Found(bytes) => return Ok(bytes),
                BodyRead::Moved => continue,
            }
        }
        Err(StoreError::io(
            &self.dir,
            std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                format!("the body of {id} moved {MOVES_FOLLOWED} times while it was read"),
            ),
        ))
    }

    pub(super) fn sled_e(&self) -> impl Fn(sled::Error) -> StoreError + '_ {
        |e| StoreError::sled(&self.dir, e)
    }

    /// The seqs in `(since, head]` that one index prefix lists, in order.
    fn index_range(
        &self,
        t: Tree,
        prefix: Vec<u8>,
        since: u64,
        head: u64,
    ) -> impl Iterator<Item = Result<u64, StoreError>> + '_ {
        let tree = self.trees.get(t);
        // The last row keyed at or before `since` may list seqs after it.
        let straddling = tree
            .range(concat(&[&prefix, &big_endian(0)])..=concat(&[&prefix, &big_endian(since)]))
            .next_back();
        let after = tree.range(
            concat(&[&prefix, &big_endian(since.saturating_add(1))])
                ..=concat(&[&prefix, &big_endian(head)]),
        );
        straddling
            .into_iter()
            .chain(after)
            .flat_map(move |kv| self.index_row(kv, since.saturating_add(1)..=head))
    }

    /// The seqs one index row (as sled's iterators yield it) lists within `range`, ascending.
    pub(super) fn index_row(
        &self,
        kv: sled::Result<(sled::IVec, sled::IVec)>,
        range: std::ops::RangeInclusive<u64>,
    ) -> Vec<Result<u64, StoreError>> {
        match kv {
            Err(e) => vec![Err(StoreError::sled(&self.dir, e))],
            Ok((_, v)) => match codec::postings(&v) {
                None => vec![Err(StoreError::corrupt(&self.dir, "bad index row"))],
                Some(seqs) => seqs
                    .into_iter()
                    .filter(|s| range.contains(s))
                    .map(Ok)
                    .collect(),
            },
        }
    }

    /// The index prefixes that together list every seq a filter dimension can match, or
    /// `None` when this dimension cannot be served by an index (a `*` language range).
    fn prefixes(&self, filter: &Filter, t: Tree) -> Result<Option<Vec<Vec<u8>>>, StoreError> {
        Ok(Some(match t {
            Tree::IAuthor => filter
                .authors
                .iter()
                .map(|a| a.as_bytes().to_vec())
                .collect(),
            Tree::IKind => filter.kinds.iter().map(|k| vec![k.tag()]).collect(),
            Tree::ITopic => filter
                .topics
                .iter()
                .map(|s| concat(&[s.as_bytes(), &[0]]))
                .collect(),
            Tree::ICountry => filter
                .countries
                .iter()
                .map(|s| concat(&[s.as_bytes(), &[0]]))
                .collect(),
            Tree::ILang => {
                let mut out = Vec::new();
                for range in &filter.languages {
                    let range = range.trim().to_ascii_lowercase();
                    if range == "*" {
                        return Ok(None);
                    }
                    out.push(concat(&[range.as_bytes(), &[0]]));
                    // RFC 4647 basic filtering: "pt" also matches "pt-br": walk the distinct
                    // longer tags, skipping from one to the next.
                    let sub = format!("{range}-");
                    let tree = self.trees.get(Tree::ILang);
                    let mut from = sub.as_bytes().to_vec();
                    while let Some((k, _)) = tree
                        .range(from.clone()..)
                        .next()
                        .transpose()
                        .map_err(self.sled_e())?
                    {
                        if !k.starts_with(sub.as_bytes()) {
                            break;
                        }
                        let Some(nul) = k.iter().position(|&b| b == 0) else {
                            return Err(StoreError::corrupt(&self.dir, "bad language index row"));
                        };
                        let tag = &k[..nul];
                        out.push(concat(&[tag, &[0]]));
                        from = concat(&[tag, &[1]]);
                    }
                }
                out
            }
            _ => return Ok(None),
        }))
    }

    /// Picks the most selective usable index for a filter, by counting (up to a cap) the rows
    /// each would walk. `None`: walk the log itself.
    pub(super) fn choose_index(
        &self,
        filter: &Filter,
        since: u64,
        head: u64,
    ) -> Result<Option<IndexWalk>, StoreError> {
        let dims = [
            (Tree::IAuthor, filter.authors.is_empty()),
            (Tree::ITopic, filter.topics.is_empty()),
            (Tree::ICountry, filter.countries.is_empty()),
            (Tree::ILang, filter.languages.is_empty()),
            (Tree::IKind, filter.kinds.is_empty()),
        ];
        let mut best: Option<(usize, Tree, Vec<Vec<u8>>)> = None;
        for (t, empty) in dims {
            if empty {
                continue;
            }
            let Some(prefixes) = self.prefixes(filter, t)? else {
                continue;
            };
            let cap = best.as_ref().map_or(ESTIMATE_CAP, |b| b.0);
            let mut n = 0;
            'count: for p in &prefixes {
                for s in self.index_range(t, p.clone(), since, head) {
                    s?;
                    n += 1;
                    if n >= cap {
                        break 'count;
                    }
                }
            }
            if best.as_ref().is_none_or(|b| n < b.0) {
                best = Some((n, t, prefixes));
            }
        }
        Ok(best.map(|(_, t, p)| (t, p)))
    }

    /// Decides whether the entry at `seq` belongs in a view; returns its message if so. `entry`
    /// is the log entry when the caller has just read it (a walk of the log itself).
    pub(super) fn in_view(
        &self,
        seq: u64,
        entry: Option<LogEntry>,
        view: &View,
    ) -> Result<Option<Message>, StoreError> {
        let e = match entry {
            Some(e) => e,
            None => match self.log_entry(seq)? {
                Some(e) => e,
                None => return Ok(None),
            },
        };
        let show = match view {
            View::Reader => e.for_readers(),
            View::UnauthenticatedPeer { exclude_origin } => {
                e.for_readers() && exclude_origin.as_bytes() != e.origin.as_slice()
            }
            View::Peer { exclude_origin } => {
                e.what == ACCEPTED
                    && exclude_origin
                        .as_ref()
                        .is_none_or(|o| o.as_bytes() != e.origin.as_slice())
            }
        };
        if !show {
            return Ok(None);
        }
        // An accepting entry still in the log is a message whose content is held: withdrawing
        // content deletes its log entries in the same transaction (`unindex`). The entry says
        // where the body is, so the record need not be read.
        if e.what == ACCEPTED
            && let Some(at) = &e.body
        {
            if let Some(m) = self.recent.get(seq) {
                return Ok(Some(m));
            }
            match self.bodies.read_or_moved(at) {
                // A body that does not hash to its id is skipped (and noted): the rest of the
                // read goes on.
                Ok(BodyRead::Found(bytes)) => return Ok(self.checked(&e.id, seq, &bytes)),
                // Moved by compaction (or the message gone, its segment reclaimed) since the
                // entry was read: the record knows.
                Ok(BodyRead::Moved) => {}
                // A missing segment or a body cut short: damage, skipped and noted, not read
                // again.
                Err(StoreError::Corrupt { detail, .. }) => {
                    self.damage.found(e.id, seq, &detail);
                    return Ok(None);
                }
                Err(err) => return Err(err),
            }
        }
        let Some(rec) = self.record(&e.id)? else {
            return Ok(None);
        };
        self.decode(&e.id, &rec)
    }

    fn read(
        &self,
        since: u64,
        filter: &Filter,
        view: &View,
        limit: usize,
        head: u64,
    ) -> Result<(Vec<Entry>, u64), StoreError> {
        if since >= head || limit == 0 {
            return Ok((Vec::new(), since));
        }
        // Seqs to examine, with their log entries when the walk has read them already.
        type Candidates<'a> =
            Box<dyn Iterator<Item = Result<(u64, Option<LogEntry>), StoreError>> + 'a>;
        let candidates: Candidates<'_> = match self.choose_index(filter, since, head)? {
            None => Box::new(
                self.log_range(since + 1, head)?
                    .map(|e| e.map(|(seq, e)| (seq, Some(e)))),
            ),
            Some((t, prefixes)) => {
                let iters = prefixes
                    .into_iter()
                    .map(|p| {
                        Box::new(self.index_range(t, p, since, head))
                            as Box<dyn Iterator<Item = Result<u64, StoreError>>>
                    })
                    .collect();
                Box::new(Merge::new(iters).map(|seq| seq.map(|seq| (seq, None))))
            }
        };
        let budget = limit.saturating_add(SCAN_BUDGET);
        let mut out = Vec::new();
        let mut scanned_to = since;
        for (n, candidate) in candidates.enumerate() {
            let (seq, entry) = candidate?;
            if n >= budget {
                return Ok((out, scanned_to));
            }
            scanned_to = seq;
            if let Some(message) = self.in_view(seq, entry, view)?
                && filter.matches(message.body())
            {
                out.push(Entry { seq, message });
                if out.len() >= limit {
                    return Ok((out, seq));
                }
            }
        }
        Ok((out, head))
    }

    fn latest(&self, kind: Kind, author: &AuthorKey) -> Result<Option<Message>, StoreError> {
        let prefix = concat(&[&[kind.tag()], author.as_bytes()]);
        let Some((k, _)) = self
            .trees
            .get(Tree::Latest)
            .scan_prefix(&prefix)
            .next_back()
            .transpose()
            .map_err(self.sled_e())?
        else {
            return Ok(None);
        };
        let id = k
            .get(k.len().saturating_sub(32)..)
            .and_then(Id::from_slice)
            .ok_or_else(|| StoreError::corrupt(&self.dir, "bad latest row"))?;
        self.message(&id)
    }

    /// Whether `id` is held under embargo, not yet released: for readers it is not there.
    fn pending(&self, id: &Id) -> Result<bool, StoreError> {
        Ok(self.record(id)?.is_some_and(|r| r.pending()))
    }

    fn get(&self, id: &Id) -> Result<Option<MessageState>, StoreError> {
        let Some(rec) = self.record(id)? else {
            return Ok(None);
        };
        if rec.pending() {
            return Ok(None);
        }
        let message = self.decode(id, &rec)?;
        if rec.has_content() && message.is_none() {
            // Damaged here (noted, to be fetched again): not served, not even in part.
            return Ok(None);
        }
        let cancelled = rec.flags & codec::CANCELLED != 0;
        let withheld = if rec.flags & codec::WITHHELD != 0 {
            Some(match self.rows().revocation(&rec.author)? {
                Some(r) => self.key_end(&r)?.words(),
                None => "its author's key is revoked".to_string(),
            })
        } else {
            None
        };
        let cancel_reason = match rec.cancel {
            Some(c) => match self.message(&c)? {
                Some(m) => match &m.body().content {
                    Content::Cancel(c) => c.reason.clone(),
                    _ => String::new(),
                },
                None => String::new(),
            },
            None => String::new(),
        };

        let mut updates: Vec<(u64, Id)> = Vec::new();
        let mut translations: Vec<(u64, Message)> = Vec::new();
        let rows = self.rows();
        for kind in [Kind::Update, Kind::Translation] {
            for reference in rows.references(id, kind)? {
                if self.pending(&reference.id)? {
                    // Under embargo: not a version or translation for readers before its release.
                    continue;
                }
                if kind == Kind::Update {
                    if rules::authorized(&rows, &reference.author, &rec.author)? {
                        updates.push((reference.created_at, reference.id));
                    }
                } else if let Some(m) = self.message(&reference.id)? {
                    translations.push((reference.created_at, m));
                }
            }
        }
        updates.sort();
        translations.sort_by_key(|(c, m)| (*c, m.id()));
        let withdrawn = if cancelled {
            rows.withdrawn(id)?
                .into_iter()
                .map(|w| {
                    Ok(WithdrawnVersion {
                        id: w.id,
                        author: AuthorKey::from_slice(&w.author).map_err(|_| {
                            StoreError::corrupt(&self.dir, "bad author in a withdrawn row")
                        })?,
                        created_at: Timestamp(w.created_at),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?
        } else {
            Vec::new()
        };
        let shown = if cancelled { rows.shown(id)? } else { None };

        let current = match &message {
            None => None,
            Some(original) => {
                let mut cur = original.clone();
                for (_, u) in updates.iter().rev() {
                    if let Some(m) = self.message(u)? {
                        cur = m;
                        break;
                    }
                }
                Some(cur)
            }
        };

        let mut endorsers = Vec::new();
        for kv in self.trees.get(Tree::Endorse).scan_prefix(id.as_bytes()) {
            let (_, v) = kv.map_err(self.sled_e())?;
            let eid = Id::from_slice(&v)
                .ok_or_else(|| StoreError::corrupt(&self.dir, "bad endorsement row"))?;
            if let Some(m) = self.message(&eid)?
                && let Content::Endorsement(e) = &m.body().content
            {
                endorsers.push(Endorser {
                    author: m.body().author,
                    statement: e.statement.clone(),
                    created_at: m.body().created_at,
                });
            }
        }
        endorsers.sort_by_key(|e| (e.created_at, *e.author.as_bytes()));
        // Reports count only on an alert or call (one that arrived before a target of another
        // kind stays stored, pending nothing, and counts nowhere).
        let tally = if matches!(rec.kind, Kind::Alert | Kind::Call) {
            self.tally_of(id, current.as_ref())?
        } else {
            Tally::default()
        };

        Ok(Some(MessageState {
            message,
            seq: rec.seq,
            kind: rec.kind,
            author: AuthorKey::from_slice(&rec.author)
                .map_err(|_| StoreError::corrupt(&self.dir, "bad author in a record"))?,
            created_at: Timestamp(rec.created_at),
            current,
            updates: updates.into_iter().map(|(_, id)| id).collect(),
            withdrawn,
            shown,
            cancelled,
            withheld,
            cancel_reason,
            endorsers,
            translations: translations.into_iter().map(|(_, m)| m).collect(),
            tally,
        }))
    }

    /// The tally of the action reports on `id` in effect for readers (released, not withheld
    /// or expired), against the goals of its `current` version (none when it was cancelled:
    /// its content, goals included, is withdrawn; the counts stay for its organisers).
    fn tally_of(&self, id: &Id, current: Option<&Message>) -> Result<Tally, StoreError> {
        let mut reports = Vec::new();
        // Each reporter's name and country, read once however many revisions it made.
        let mut names: HashMap<[u8; 32], (String, String)> = HashMap::new();
        for reference in self.rows().references(id, Kind::Report)? {
            let Some(rec) = self.record(&reference.id)? else {
                continue;
            };
            if rec.pending() {
                // Under embargo: it counts from its release.
                continue;
            }
            let Some(message) = self.decode(&reference.id, &rec)? else {
                continue;
            };
            let author = message.body().author;
            let (name, country) = match names.get(author.as_bytes()) {
                Some(named) => named.clone(),
                None => {
                    let named = self.named(&author)?;
                    names.insert(*author.as_bytes(), named.clone());
                    named
                }
            };
            reports.push(Reported {
                message,
                name,
                country,
            });
        }
        if reports.is_empty() {
            return Ok(Tally::default());
        }
        let goals = current.map_or(&[][..], |m| m.body().goals());
        let rosters = self.rosters_held()?;
        // Which organisation each key speaks for, through the revocations held: read here, so
        // the tally itself stays a pure function of what it is given.
        let rows = self.rows();
        let mut organisations: HashMap<[u8; 32], AuthorKey> = HashMap::new();
        let keys = reports
            .iter()
            .map(|r| r.message.body().author)
            .chain(rosters.iter().flat_map(|r| r.members.iter().copied()));
        for key in keys {
            if !organisations.contains_key(key.as_bytes()) {
                let organisation = rules::organisation(&rows, key.as_bytes())?;
                // A successor that is no key (it could not have signed anything) names nobody.
                let organisation = AuthorKey::from_slice(&organisation).unwrap_or(key);
                organisations.insert(*key.as_bytes(), organisation);
            }
        }
        Ok(Tally::of_organisations(&reports, goals, &rosters, |key| {
            organisations.get(key.as_bytes()).copied().unwrap_or(*key)
        }))
    }

    /// An author's latest profile's name and country; for a successor that has none yet, its
    /// predecessor's (the same organisation, under the key a rotation or revocation handed on),
    /// a few hops back; empty when none has one.
    fn named(&self, author: &AuthorKey) -> Result<(String, String), StoreError> {
        let rows = self.rows();
        let mut key = *author.as_bytes();
        for _ in 0..crate::store::SUCCESSOR_HOPS {
            let profile = match AuthorKey::from_slice(&key) {
                Ok(k) => self.latest(Kind::Profile, &k)?,
                Err(_) => None,
            };
            if let Some(m) = profile
                && let Content::Profile(p) = &m.body().content
            {
                return Ok((p.name.clone(), p.country.clone()));
            }
            // The key it carries on for, if any (the first listed, should there be more).
            match rows.predecessors(&key)?.into_iter().next() {
                Some(p) if p != *author.as_bytes() => key = p,
                _ => break,
            }
        }
        Ok(Default::default())
    }

    /// Every author's latest roster in effect, with its federation's name.
    fn rosters_held(&self) -> Result<Vec<RosterHeld>, StoreError> {
        // Rows are `tag ‖ author ‖ created_at ‖ id`, so an author's latest is its last row.
        let mut latest: BTreeMap<[u8; 32], Id> = BTreeMap::new();
        for row in self
            .trees
            .get(Tree::Latest)
            .scan_prefix([Kind::Roster.tag()])
        {
            let (k, _) = row.map_err(self.sled_e())?;
            let (Some(author), Some(id)) = (
                k.get(1..33).and_then(|a| <[u8; 32]>::try_from(a).ok()),
                k.get(k.len().saturating_sub(32)..).and_then(Id::from_slice),
            ) else {
                return Err(StoreError::corrupt(&self.dir, "bad latest row"));
            };
            latest.insert(author, id);
        }
        let mut held = Vec::new();
        for id in latest.into_values() {
            let Some(m) = self.message(&id)? else {
                continue;
            };
            let Content::Roster(r) = &m.body().content else {
                continue;
            };
            let federation = m.body().author;
            held.push(RosterHeld {
                federation,
                name: self.named(&federation)?.0,
                members: r.members.iter().map(|member| member.key).collect(),
            });
        }
        Ok(held)
    }

    pub(super) fn counter(&self, k: &[u8]) -> Result<u64, StoreError> {
        self.rows().counter(Tree::Meta, k)
    }
}

/// Merges seq streams that all run one way (ascending, or descending for the reads newest
/// first in `recent.rs`) into one stream that runs that way, without repeats.
pub(super) struct Merge<'a> {
    heads: BTreeMap<u64, Vec<usize>>,
    iters: Vec<Box<dyn Iterator<Item = Result<u64, StoreError>> + 'a>>,
    failed: Option<StoreError>,
    descending: bool,
}

impl<'a> Merge<'a> {
    /// Merges ascending streams.
    fn new(iters: Vec<Box<dyn Iterator<Item = Result<u64, StoreError>> + 'a>>) -> Self {
        Merge::running(iters, false)
    }

    /// Merges streams that all run the way `descending` says.
    pub(super) fn running(
        iters: Vec<Box<dyn Iterator<Item = Result<u64, StoreError>> + 'a>>,
        descending: bool,
    ) -> Self {
        let mut m = Merge {
            heads: BTreeMap::new(),
            iters,
            failed: None,
            descending,
        };
        for i in 0..m.iters.len() {
            m.advance(i);
        }
        m
    }

    fn advance(&mut self, i: usize) {
        match self.iters[i].next() {
            Some(Ok(s)) => self.heads.entry(s).or_default().push(i),
            Some(Err(e)) => {
                self.failed.get_or_insert(e);
            }
            None => {}
        }
    }
}

impl Iterator for Merge<'_> {
    type Item = Result<u64, StoreError>;

    fn next(&mut self) -> Option<Result<u64, StoreError>> {
        if let Some(e) = self.failed.take() {
            return Some(Err(e));
        }
        let (seq, from) = if self.descending {
            self.heads.pop_last()?
        } else {
            self.heads.pop_first()?
        };
        for i in from {
            self.advance(i);
        }
        Some(Ok(seq))
    }
}

impl Store {
    /// What the store knows of an id, for dedup before the signature is checked.
    pub fn seen(&self, id: &Id) -> Result<Option<Seen>, StoreError> {
        if let Some(rec) = self.inner()?.record(id)? {
            return Ok(Some(if rec.has_content() {
                Seen::Stored {
                    seq: rec.seq,
                    held: rec.pending(),
                }
            } else {
                Seen::Tombstone
            }));
        }
        let tomb = self.inner()?.rows().is_tombstone(id)?;
        Ok(tomb.then_some(Seen::Tombstone))
    }

    /// The kind and seq of a message held with its content: to order messages sent in bulk.
    pub fn placed(&self, id: &Id) -> Result<Option<(Kind, u64)>, StoreError> {
        Ok(self
            .inner()?
            .record(id)?
            .filter(|r| r.has_content())
            .map(|r| (r.kind, r.seq)))
    }

    /// Entries with seq > `since`, at most `limit`, in seq order, never beyond the durable
    /// head. Returns them and the seq up to which the log was examined: a caller resumes from
    /// there even when every examined entry was skipped.
    ///
    /// Reader view: an embargoed message appears at its release entry only. Peer view: at its
    /// original entry, skipping entries that came from `exclude_origin`. Withdrawn content
    /// appears in neither. A filter is served from the most selective index it names and
    /// re-checked with [`Filter::matches`], so the index choice never changes the result.
    pub fn read(
        &self,
        since: u64,
        filter: &Filter,
        view: &View,
        limit: usize,
    ) -> Result<(Vec<Entry>, u64), StoreError> {
        let head = self.head();
        self.inner()?.read(since, filter, view, limit, head)
    }

    /// Everything known about a message, as readers may see it: its content (unless
    /// withdrawn), current version, updates, cancellation, endorsers and translations. A
    /// message under embargo is not there before its release, and neither is what it does
    /// (an update or translation, an endorsement, a cancel and its reason). `None` too when
    /// its body is damaged here (see [`Store::wanted`]); damaged updates, translations and
    /// endorsements are left out.
    pub fn get(&self, id: &Id) -> Result<Option<MessageState>, StoreError> {
        self.inner()?.get(id)
    }

    /// Whether the store may hold `id`, from its in-memory filter of held ids (no disk): false
    /// means it holds neither the message nor its tombstone.
    pub fn may_hold(&self, id: &Id) -> Result<bool, StoreError> {
        Ok(self.inner()?.ids.may_hold(id))
    }

    /// Whether the filter of held ids is complete: until then (after an open that found no
    /// saved filter) every id is looked up in the trees (see `ids.rs`).
    pub fn ids_complete(&self) -> Result<bool, StoreError> {
        Ok(self.inner()?.ids.is_complete())
    }

    /// A message with its content, if held (not withdrawn); none of what [`Store::get`] adds.
    pub fn message(&self, id: &Id) -> Result<Option<Message>, StoreError> {
        self.inner()?.message(id)
    }

    /// The author's latest profile in effect (a profile under embargo counts from its release).
    pub fn profile(&self, author: &AuthorKey) -> Result<Option<Message>, StoreError> {
        self.inner()?.latest(Kind::Profile, author)
    }

    /// Whether anything by this author is held here, under embargo or not (a row of its
    /// index): what tells an author the node has seen from a fresh key.
    pub fn holds_author(&self, author: &AuthorKey) -> Result<bool, StoreError> {
        let inner = self.inner()?;
        inner
            .trees
            .get(Tree::IAuthor)
            .scan_prefix(author.as_bytes())
            .next()
            .transpose()
            .map(|row| row.is_some())
            .map_err(|e| StoreError::sled(&inner.dir, e))
    }

    /// The author's latest roster in effect (a roster under embargo counts from its release).
    pub fn roster(&self, author: &AuthorKey) -> Result<Option<Message>, StoreError> {
        self.inner()?.latest(Kind::Roster, author)
    }

    /// The revocation in force for the author, if any.
    pub fn revocation(&self, author: &AuthorKey) -> Result<Option<Message>, StoreError> {
        match self.inner()?.rows().revocation(author.as_bytes())? {
            None => Ok(None),
            Some(r) => self.inner()?.message(&r.id),
        }
    }

    /// The number of endorsing authors of a message (counted even before it arrives; an
    /// endorsement under embargo from its release).
    pub fn tally(&self, target: &Id) -> Result<u64, StoreError> {
        self.inner()?.rows().counter(Tree::Tally, target.as_bytes())
    }

    /// Whether `author` may update or cancel what `original` wrote: the same key, or the
    /// successor named in its revocation, followed as far as the store follows it.
    pub fn may_act_for(
        &self,
        author: &AuthorKey,
        original: &AuthorKey,
    ) -> Result<bool, StoreError> {
        rules::authorized(
            &self.inner()?.rows(),
            author.as_bytes(),
            original.as_bytes(),
        )
    }

    /// The peer's seq up to which this node holds its log (0 if never followed).
    pub fn cursor(&self, peer: &str) -> Result<u64, StoreError> {
        self.inner()?.rows().cursor(peer)
    }

    /// When the next embargoed message is due for release, if any (to sleep until then).
    pub fn next_release(&self) -> Result<Option<Timestamp>, StoreError> {
        let inner = self.inner()?;
        let first = inner
            .trees
            .get(Tree::Embargo)
            .first()
            .map_err(inner.sled_e())?;
        Ok(first
            .and_then(|(k, _)| codec::split_time_id(&k))
            .map(|(t, _)| Timestamp(t)))
    }

    /// The readers' head: the last seq at or below the durable head whose entry readers see
    /// (an acceptance not under embargo, or a release). An embargoed arrival does not move
    /// it; its release does. It never moves back while the store is open, so it can serve as
    /// a validator of what readers see.
    ///
    /// Found by walking the log back from the durable head to the last seq looked at before:
    /// it costs the entries added since.
    pub fn reader_head(&self) -> Result<u64, StoreError> {
        let head = self.head();
        let inner = self.inner()?;
        let mut seen = inner.reader_head.lock().unwrap_or_else(|p| p.into_inner());
        if seen.0 >= head {
            return Ok(seen.1);
        }
        let bad = || StoreError::corrupt(&inner.dir, "a log row is unreadable");
        let rows = inner.trees.get(Tree::Log).range(..=big_endian(head)).rev();
        for kv in rows {
            let (k, v) = kv.map_err(inner.sled_e())?;
            let key = codec::read_u64(&k).ok_or_else(bad)?;
            let mut found = None;
            for e in codec::LogRow::new(key, &v) {
                let (seq, b) = e.ok_or_else(bad)?;
                if seq > seen.0 && seq <= head && LogEntry::decode(b).ok_or_else(bad)?.for_readers()
                {
                    found = Some(seq);
                }
            }
            if let Some(seq) = found {
                seen.1 = seen.1.max(seq);
                break;
            }
            if key <= seen.0 {
                break;
            }
        }
        seen.0 = head;
        Ok(seen.1)
    }

    /// Sizes, for status and metrics.
    pub fn counts(&self) -> Result<Counts, StoreError> {
        let inner = self.inner()?;
        Ok(Counts {
            head_seq: self.head(),
            reader_head_seq: self.reader_head()?,
            messages: inner.counter(meta::N_MESSAGES)?,
            embargoed: inner.counter(meta::N_EMBARGOED)?,
            tombstones: inner.counter(meta::N_TOMBSTONES)?,
            reports: inner.counter(meta::N_REPORTS)?,
            disk_bytes: inner.db.size_on_disk().map_err(inner.sled_e())?
                + inner.bodies.disk_bytes()?,
        })
    }
}
