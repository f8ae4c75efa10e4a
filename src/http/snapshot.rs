//! The readers' state of the store, kept up to date incrementally: the current alerts and
//! calls with their versions, translations, endorsers and tallies of action reports, recent
//! cancels, authors' names, and the keys that ended (revoked, or rotated after a compromise)
//! with who carries on for them.
//!
//! A snapshot is made once per durable head, by the first request that sees the head move,
//! from the log entries added since the previous one (readers' view only): a burst of readers
//! costs one small read of the store, not one scan each. Everything that depends on the clock
//! (embargoed updates, expiry) is decided per request from the times kept here, and
//! [`Snapshot::epoch`] counts the times passed, so validators change when the clock does.
//!
//! Architecture Invariant: nothing here shows what the readers' view of the store does not:
//! an original enters only through the readers' view (so after its embargo); versions and
//! translations are shown only from their `effective_at`; withdrawn content is never held.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use crate::message::tally::Tally;
use crate::message::{AuthorKey, Content, Filter, Id, Info, Kind, Message, Timestamp};
use crate::node::Node;
use crate::store::{Endorser, KeyEnd, KeyState, NAME_HOPS, Store, StoreError, View, key_note};

use super::calendar::CallEvents;
use super::query::{AuthorFilter, Selection};

/// Entries read from the log per batch.
const READ_BATCH: usize = 1024;
/// Cancels whose target is not (yet) here are remembered up to this many.
/// (Each is looked up again whenever the head moves.)
const MAX_PENDING_CANCELS: usize = 1_000;
/// The readers' head is noted at most once per this much of the node's time, for history.
const MARK_EVERY: Duration = Duration::from_secs(60);
/// Keys with a conflicting recovery commitment (and no end) listed at most.
const MAX_CONFLICTED: usize = 1_000;

/// Whether `m` is gone at `now`.
fn expired(m: &Message, now: Timestamp) -> bool {
    m.body().expires_at.is_some_and(|t| t <= now)
}

/// Whether readers may see `m` at `now`: past its embargo, before its expiry.
fn showable(m: &Message, now: Timestamp) -> bool {
    !m.body().embargoed_at(now) && !expired(m, now)
}

/// One alert or call with what belongs to it.
#[derive(Debug)]
pub(super) struct Item {
    /// Its seq in this node's log.
    pub(super) seq: u64,
    /// The original alert or call.
    pub(super) original: Message,
    /// Valid updates with their content, oldest first.
    pub(super) updates: Vec<Message>,
    /// Translations by other authors, oldest first.
    pub(super) translations: Vec<Message>,
    /// One per endorsing author, oldest first.
    pub(super) endorsers: Vec<Endorser>,
    /// What the organisations' action reports on it add up to (the store's tally, against
    /// the goals of its current version).
    pub(super) tally: Tally,
}

/// One block of text to show, with who translated it (if not the author).
#[derive(Debug, Clone, Copy)]
pub(super) struct Text<'a> {
    /// The text.
    pub(super) info: &'a Info,
    /// The translator, for a translation.
    pub(super) translator: Option<&'a Message>,
}

impl Item {
    /// The original's id.
    pub(super) fn id(&self) -> Id {
        self.original.id()
    }

    /// The original's kind (alert or call).
    pub(super) fn kind(&self) -> Kind {
        self.original.kind()
    }

    /// Whether readers see it at `now` (the original has not expired).
    pub(super) fn live(&self, now: Timestamp) -> bool {
        !expired(&self.original, now)
    }

    /// The versions readers may see at `now`, oldest first: the original and the updates
    /// past their embargo and not expired.
    pub(super) fn versions(&self, now: Timestamp) -> impl Iterator<Item = &Message> {
        std::iter::once(&self.original).chain(self.updates.iter().filter(move |u| showable(u, now)))
    }

    /// The latest version readers may see at `now`.
    pub(super) fn current(&self, now: Timestamp) -> &Message {
        self.updates
            .iter()
            .rev()
            .find(|u| showable(u, now))
            .unwrap_or(&self.original)
    }

    /// The translations readers may see at `now`.
    pub(super) fn translations(&self, now: Timestamp) -> impl Iterator<Item = &Message> {
        self.translations.iter().filter(move |t| showable(t, now))
    }

    /// Every language it can be read in at `now`: the current version's own blocks, then
    /// translations into languages the author did not write (the first translation of a
    /// language wins; a translation never replaces the author's own text).
    pub(super) fn texts(&self, now: Timestamp) -> Vec<Text<'_>> {
        self.texts_of(self.current(now), now)
    }

    /// Like [`Item::texts`], for one version.
    pub(super) fn texts_of<'a>(&'a self, version: &'a Message, now: Timestamp) -> Vec<Text<'a>> {
        let mut out: Vec<Text<'a>> = version
            .body()
            .info()
            .iter()
            .map(|info| Text {
                info,
                translator: None,
            })
            .collect();
        for t in self.translations(now) {
            for info in t.body().info() {
                if !out
                    .iter()
                    .any(|o| o.info.language.eq_ignore_ascii_case(&info.language))
                {
                    out.push(Text {
                        info,
                        translator: Some(t),
                    });
                }
            }
        }
        out
    }

    /// The version with this id, if readers may see it at `now`.
    pub(super) fn version(&self, id: &Id, now: Timestamp) -> Option<&Message> {
        self.versions(now).find(|v| v.id() == *id)
    }

    /// When it last changed: the current version's created_at.
    pub(super) fn updated(&self, now: Timestamp) -> Timestamp {
        self.current(now).body().created_at
    }
}

/// An authorised cancel of an alert or call, for CAP consumers (content is gone; ids stay).
#[derive(Debug)]
pub(super) struct CancelNote {
    /// The cancel.
    pub(super) cancel: Message,
    /// The withdrawn original.
    pub(super) target: Id,
    /// Its author.
    pub(super) target_author: AuthorKey,
    /// Its created_at.
    pub(super) target_sent: Timestamp,
    /// Its updates: id, author, created_at.
    pub(super) updates: Vec<(Id, AuthorKey, Timestamp)>,
    /// The kind, countries and topics of the original when this node showed it before the
    /// cancel (for filtered feeds); `None` when it never did.
    pub(super) shown_as: Option<(Kind, Vec<String>, Vec<String>)>,
    /// The calendar events of the call when this node showed it before the cancel (what
    /// `/calendar.ics` marks cancelled); none when it never did.
    pub(super) events: CallEvents,
}

/// How an author is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum NameSource {
    /// The author's own signed profile.
    Profile,
    /// A federation's roster (the federation's key).
    Roster(AuthorKey),
    /// The key carries on for this one (a rotation in force or a revocation names it as
    /// successor), which has the name: the organisation's name passes to its new key.
    Predecessor(AuthorKey),
    /// Nothing names it: the key's short hex.
    Key,
}

/// Authors' names: the latest profile, else a roster entry, else the name of the key it
/// carries on for (a few keys back), else the key's short hex. With what readers are told of
/// a key that ended or that carries on for one.
#[derive(Debug, Default)]
pub(super) struct Names {
    profiles: HashMap<[u8; 32], String>,
    rosters: HashMap<[u8; 32], (String, AuthorKey)>,
    /// Where the keys that ended here end, and who carries on for them.
    keys: Arc<KeyEvents>,
}

impl Names {
    /// Names from the keys' own messages and rosters, and the keys' ends.
    fn new(
        profiles: HashMap<[u8; 32], String>,
        rosters: HashMap<[u8; 32], (String, AuthorKey)>,
        keys: Arc<KeyEvents>,
    ) -> Names {
        Names {
            profiles,
            rosters,
            keys,
        }
    }

    /// The key's own name (its profile, else a roster's), if it has one.
    fn own(&self, key: &AuthorKey) -> Option<(String, NameSource)> {
        if let Some(n) = self.profiles.get(key.as_bytes()) {
            return Some((n.clone(), NameSource::Profile));
        }
        self.rosters
            .get(key.as_bytes())
            .map(|(n, by)| (n.clone(), NameSource::Roster(*by)))
    }

    /// The name to show for `key`, and where it comes from.
    pub(super) fn get(&self, key: &AuthorKey) -> (String, NameSource) {
        if let Some(own) = self.own(key) {
            return own;
        }
        let mut at = *key;
        for _ in 0..NAME_HOPS {
            let Some(before) = self.keys.predecessors.get(at.as_bytes()) else {
                break;
            };
            if let Some((name, _)) = self.own(before) {
                return (name, NameSource::Predecessor(*before));
            }
            at = *before;
        }
        (key.short(), NameSource::Key)
    }

    /// The name only.
    pub(super) fn name(&self, key: &AuthorKey) -> String {
        self.get(key).0
    }

    /// Where `key` ends, if it does here.
    pub(super) fn end(&self, key: &AuthorKey) -> Option<&KeyEnd> {
        self.keys.ends.get(key.as_bytes())
    }

    /// The key `key` carries on for, if any.
    pub(super) fn predecessor(&self, key: &AuthorKey) -> Option<&AuthorKey> {
        self.keys.predecessors.get(key.as_bytes())
    }

    /// What readers should be told beside the name of `key`, in plain words (escape it): that
    /// it was rotated or revoked, from when and who carries on; or that it is the new key of an
    /// organisation whose old one ended. `None` for a key with no such story.
    pub(super) fn note(&self, key: &AuthorKey) -> Option<String> {
        let before = self
            .predecessor(key)
            .and_then(|p| self.end(p).map(|end| (p, end)));
        key_note(self.end(key), before, |k| self.name(k))
    }
}

/// What readers can see, as of one durable head. Immutable; shared by requests.
#[derive(Debug, Default)]
pub(super) struct Snapshot {
    /// Everything up to this seq is reflected.
    pub(super) head: u64,
    /// The last seq readers were shown an entry at (at most `head`): what validators name,
    /// so that an arrival under embargo, which moves `head` only, changes none.
    pub(super) visible: u64,
    /// Current alerts and calls by original id.
    pub(super) items: HashMap<Id, Arc<Item>>,
    /// Update id → original id.
    pub(super) versions: HashMap<Id, Id>,
    /// Authorised cancels by the cancel's id.
    pub(super) cancels: HashMap<Id, Arc<CancelNote>>,
    /// Authors' names.
    pub(super) names: Arc<Names>,
    /// The keys that end here (revoked, or rotated after a compromise), each with what is
    /// known of it, and the keys not ended with a conflicting recovery commitment.
    pub(super) keys: Arc<KeyEvents>,
    /// Every time at which what readers see changes without a new log entry (embargoes
    /// ending, expiries), sorted.
    boundaries: Vec<u64>,
    /// The authors of current items that readers may trust (see [`Builder`]'s ranking).
    trusted: Arc<HashSet<[u8; 32]>>,
    /// The most items by unverified authors in a ranked listing (`trust.unverified_items`).
    unverified_items: usize,
}

/// What readers are shown of keys: those that ended, and those someone else committed for.
#[derive(Debug, Default)]
pub(super) struct KeyEvents {
    /// The keys that end here, the latest end first.
    pub(super) ended: Vec<KeyState>,
    /// Keys that have not ended but have a further recovery commitment to a different recovery
    /// key (someone else held the key when it was made), by key.
    pub(super) conflicted: Vec<KeyState>,
    /// Where each key of `ended` ends, by key.
    ends: HashMap<[u8; 32], KeyEnd>,
    /// Successor → the key it carries on for (from `ended`).
    predecessors: HashMap<[u8; 32], AuthorKey>,
}

impl KeyEvents {
    /// The keys that ended (the latest end first) and those with a conflicting commitment,
    /// with the maps names are looked up in: made once per change, not per snapshot.
    fn new(ended: Vec<KeyState>, conflicted: Vec<KeyState>) -> KeyEvents {
        let mut ends = HashMap::new();
        let mut predecessors = HashMap::new();
        for state in &ended {
            let Some(end) = &state.end else { continue };
            if let Some(successor) = end.successor {
                // Two keys naming one successor (revocations may): the first in `ended`, the
                // one that ended latest.
                predecessors
                    .entry(*successor.as_bytes())
                    .or_insert(state.key);
            }
            ends.insert(*state.key.as_bytes(), end.clone());
        }
        KeyEvents {
            ended,
            conflicted,
            ends,
            predecessors,
        }
    }
}

/// The items of a listing, and what was left out.
#[derive(Debug)]
pub(super) struct Listing<'a> {
    /// The items shown: by trusted authors first, newest first; then by unverified ones.
    pub(super) items: Vec<&'a Arc<Item>>,
    /// Live items that pass the selection, before any cut.
    pub(super) total: usize,
    /// Of those, the ones by unverified authors.
    pub(super) unverified: usize,
    /// Of the items shown, the ones by unverified authors.
    pub(super) unverified_shown: usize,
}

impl Snapshot {
    /// How many of the snapshot's time boundaries have passed at `now`: with the head, it
    /// identifies what a request at `now` sees, and it only grows.
    pub(super) fn epoch(&self, now: Timestamp) -> usize {
        self.boundaries.partition_point(|&t| t <= now.0)
    }

    /// The items live at `now`.
    pub(super) fn live(&self, now: Timestamp) -> impl Iterator<Item = &Arc<Item>> {
        self.items.values().filter(move |i| i.live(now))
    }

    /// Whether readers may trust the author of a current item: on the allow list, a trusted
    /// federation or a member on its roster, or an author with history here.
    pub(super) fn trusts(&self, author: &AuthorKey) -> bool {
        self.trusted.contains(author.as_bytes())
    }

    /// The live items that pass `sel`, at most `limit`. Ranked (no `authors` filter): every
    /// item by a trusted author first, newest first (by their latest version; ties: the later
    /// seq), then those by unverified authors, newest first, in the room left but never more
    /// than `trust.unverified_items`: fabricated volume from fresh keys cannot push a trusted
    /// author's item out of the list. `?authors=` lists one side alone.
    pub(super) fn selected(&self, sel: &Selection, now: Timestamp, limit: usize) -> Listing<'_> {
        let (mut trusted, mut unverified): (Vec<&Arc<Item>>, Vec<&Arc<Item>>) = self
            .live(now)
            .filter(|item| {
                let texts = item.texts(now);
                let tags: Vec<&str> = texts.iter().map(|t| t.info.language.as_str()).collect();
                sel.matches(item.kind(), item.current(now).body(), &tags)
            })
            .partition(|item| self.trusts(item.original.author()));
        let newest_first = |a: &&Arc<Item>, b: &&Arc<Item>| {
            b.updated(now).cmp(&a.updated(now)).then(b.seq.cmp(&a.seq))
        };
        let (total, unverified_total) = (trusted.len() + unverified.len(), unverified.len());
        let room = match sel.authors {
            None => {
                trusted.sort_by(newest_first);
                trusted.truncate(limit);
                (limit - trusted.len()).min(self.unverified_items)
            }
            Some(AuthorFilter::Trusted) => {
                trusted.sort_by(newest_first);
                trusted.truncate(limit);
                0
            }
            Some(AuthorFilter::Unverified) => {
                trusted.clear();
                limit
            }
        };
        // Sorting what is cut away costs most under a flood: select the newest first.
        if unverified.len() > room {
            if room > 0 {
                unverified.select_nth_unstable_by(room - 1, newest_first);
            }
            unverified.truncate(room);
        }
        unverified.sort_by(newest_first);
        let total = match sel.authors {
            None => total,
            Some(AuthorFilter::Trusted) => total - unverified_total,
            Some(AuthorFilter::Unverified) => unverified_total,
        };
        let unverified_shown = unverified.len();
        trusted.extend(unverified);
        Listing {
            items: trusted,
            total,
            unverified: unverified_total,
            unverified_shown,
        }
    }

    /// The item an id names: the original's, or an update's.
    pub(super) fn item_for(&self, id: &Id) -> Option<&Arc<Item>> {
        let original = self.versions.get(id).unwrap_or(id);
        self.items.get(original)
    }
}

/// What a batch of log entries changes.
#[derive(Debug, Default)]
struct Changes {
    originals: BTreeSet<Id>,
    touched: BTreeSet<Id>,
    cancels: Vec<Message>,
    profiles: BTreeSet<[u8; 32]>,
    rosters: bool,
    revoked: bool,
    /// Authors of recovery commitments.
    committed: BTreeSet<[u8; 32]>,
}

/// Keeps the state between heads and makes snapshots. Used under a lock, on a blocking thread.
#[derive(Debug, Default)]
pub(super) struct Builder {
    head: u64,
    /// See [`Snapshot::visible`]; never moves back.
    visible: u64,
    items: HashMap<Id, Arc<Item>>,
    cancels: HashMap<Id, Arc<CancelNote>>,
    pending_cancels: HashMap<Id, Message>,
    profiles: HashMap<[u8; 32], Option<String>>,
    roster_authors: BTreeSet<[u8; 32]>,
    rosters: HashMap<[u8; 32], (String, AuthorKey)>,
    snapshot: Arc<Snapshot>,
    /// Per author, the first seq readers were shown something of theirs at.
    first_shown: HashMap<[u8; 32], u64>,
    /// (time, readers' seq) noted as the head moved, oldest first: everything up to that seq
    /// was shown by that time. How the gateway tells how long ago an author was first shown,
    /// with no time kept in the store; kept across a rebuild.
    marks: VecDeque<(Timestamp, u64)>,
    /// The authors the operator vouches for, read again when a roster arrives.
    vouched: Option<HashSet<[u8; 32]>>,
    /// Keys not ended with a conflicting recovery commitment, from the commitments seen.
    conflicted: BTreeMap<[u8; 32], KeyState>,
    /// What readers are shown of keys: the keys that end here, read when the state is made
    /// from the start (every revocation and rotation makes it again), and `conflicted`.
    keys: Arc<KeyEvents>,
}

impl Builder {
    /// Brings the state up to the store's durable head and returns the snapshot for it.
    pub(super) fn advance(
        &mut self,
        node: &Node,
        now: Timestamp,
    ) -> Result<Arc<Snapshot>, StoreError> {
        let store = node.store();
        let target = store.head();
        if target <= self.head {
            return Ok(self.snapshot.clone());
        }
        let fresh = self.head == 0;
        let mut changes = Changes::default();
        let mut since = self.head;
        while since < target {
            let (entries, scanned) =
                store.read(since, &Filter::default(), &View::Reader, READ_BATCH)?;
            for e in &entries {
                self.note(&e.message, &mut changes);
                self.visible = self.visible.max(e.seq);
                self.first_shown
                    .entry(*e.message.author().as_bytes())
                    .or_insert(e.seq);
            }
            if scanned <= since {
                break;
            }
            since = scanned;
        }
        // A commitment changes what readers see only for a key that ends (it may be what a
        // rotation waited for) or when it conflicts with the key's first one.
        let mut conflicts = false;
        for author in std::mem::take(&mut changes.committed) {
            let Ok(key) = AuthorKey::from_slice(&author) else {
                continue;
            };
            // Cheap reads first: a whole key state only for a key to list.
            if store.key_ends(&key)? {
                changes.revoked = true;
            } else if store.has_conflicting_commitment(&key)?
                && (self.conflicted.len() < MAX_CONFLICTED || self.conflicted.contains_key(&author))
            {
                self.conflicted.insert(author, store.key_state(&key)?);
                conflicts = true;
            }
        }
        if changes.revoked && !fresh {
            // A revocation withholds content of every kind, everywhere: start from the log
            // again rather than chase it (revocations are rare).
            *self = Builder {
                visible: self.visible,
                marks: std::mem::take(&mut self.marks),
                ..Builder::default()
            };
            return self.advance(node, now);
        }

        // Cancels first, while the items they withdraw are still here to describe them.
        let mut cancels = std::mem::take(&mut self.pending_cancels);
        for c in changes.cancels {
            cancels.insert(c.id(), c);
        }
        let notes = self.cancels.len();
        for (id, c) in cancels {
            self.resolve_cancel(store, id, c, now)?;
        }
        if self.cancels.len() > notes {
            // A cancel that waited for its original now withdraws it, and the original
            // brought no entry readers see (it arrived withdrawn): name the new state anyway.
            self.visible = self.visible.max(since);
        }
        for id in &changes.originals {
            self.refresh(store, id, true)?;
        }
        for id in changes.touched.difference(&changes.originals) {
            self.refresh(store, id, false)?;
        }
        if !changes.profiles.is_empty() || changes.rosters {
            // A tally names each reporter's country (from its latest profile) and counts the
            // rosters' members: a new profile or roster can change what it says.
            let reported: Vec<Id> = self
                .items
                .iter()
                .filter(|(id, item)| !item.tally.is_empty() && !changes.touched.contains(*id))
                .map(|(id, _)| *id)
                .collect();
            for id in &reported {
                self.refresh(store, id, false)?;
            }
        }

        self.items.retain(|_, i| i.live(now));
        self.cancels.retain(|_, c| !expired(&c.cancel, now));
        self.pending_cancels.retain(|_, c| !expired(c, now));

        if fresh || conflicts {
            let ended = if fresh {
                let mut ended = store.ended_keys()?;
                // The latest end first: what readers most need to know of.
                ended.sort_by_key(|k| std::cmp::Reverse(k.end.as_ref().map(|e| (e.from, e.by))));
                ended
            } else {
                self.keys.ended.clone()
            };
            let conflicted = self.conflicted.values().cloned().collect();
            self.keys = Arc::new(KeyEvents::new(ended, conflicted));
        }

        for key in changes.profiles {
            self.profiles.remove(&key);
        }
        let mut authors = BTreeSet::new();
        // The keys the list of ended keys names, and those their successors carry on for.
        for state in &self.keys.ended {
            authors.insert(*state.key.as_bytes());
            authors.extend(state.predecessor.map(|p| *p.as_bytes()));
            authors.extend(
                state
                    .end
                    .as_ref()
                    .and_then(|e| e.successor)
                    .map(|s| *s.as_bytes()),
            );
        }
        authors.extend(self.conflicted.keys().copied());
        for item in self.items.values() {
            authors.insert(*item.original.author().as_bytes());
            authors.extend(item.updates.iter().map(|m| *m.author().as_bytes()));
            authors.extend(item.translations.iter().map(|m| *m.author().as_bytes()));
            authors.extend(item.endorsers.iter().map(|e| *e.author.as_bytes()));
            authors.extend(item.tally.reports.iter().map(|r| *r.author.as_bytes()));
        }
        for key in authors {
            if let std::collections::hash_map::Entry::Vacant(slot) = self.profiles.entry(key) {
                let name = match AuthorKey::from_slice(&key) {
                    Ok(k) => store.profile(&k)?.and_then(|m| match &m.body().content {
                        Content::Profile(p) if !p.name.trim().is_empty() => Some(p.name.clone()),
                        _ => None,
                    }),
                    Err(_) => None,
                };
                slot.insert(name);
            }
        }
        if changes.rosters {
            self.rosters.clear();
            // The first roster (in key order) to name a member wins: deterministic, and a
            // profile, which the member signs itself, always comes first anyway.
            for fed in &self.roster_authors {
                let Ok(fed) = AuthorKey::from_slice(fed) else {
                    continue;
                };
                if let Some(m) = store.roster(&fed)?
                    && let Content::Roster(r) = &m.body().content
                {
                    for member in &r.members {
                        self.rosters
                            .entry(*member.key.as_bytes())
                            .or_insert_with(|| (member.name.clone(), fed));
                    }
                }
            }
        }

        let visible_before = self.snapshot.visible;
        self.head = since;
        // The ranking changes only with what readers see (an arrival under embargo leaves it
        // as it was: it has no visible effect), or when a roster or a revocation did.
        let rank =
            fresh || changes.rosters || self.vouched.is_none() || self.visible != visible_before;
        let trusted = if rank {
            if changes.rosters || self.vouched.is_none() {
                self.vouched = Some(
                    node.vouched_authors()?
                        .iter()
                        .map(|k| *k.as_bytes())
                        .collect(),
                );
            }
            Arc::new(self.rank(node, now))
        } else {
            self.snapshot.trusted.clone()
        };
        self.snapshot = Arc::new(self.make_snapshot(trusted, node.config().trust.unverified_items));
        Ok(self.snapshot.clone())
    }

    /// Notes the readers' seq at `now`, and returns the seq up to which everything was shown
    /// at least `trust.history` ago.
    fn aged(&mut self, node: &Node, now: Timestamp) -> u64 {
        let history = node.config().trust.history;
        if history.is_zero() {
            return self.visible;
        }
        if self.marks.is_empty() {
            // What readers could see when the node opened counts as old enough.
            self.marks
                .push_back((now.minus(history), node.history_base().min(self.visible)));
        }
        let last = self.marks.back().copied();
        if last.is_none_or(|(t, seq)| seq < self.visible && now.since(t) >= MARK_EVERY) {
            self.marks.push_back((now, self.visible));
        }
        let horizon = now.minus(history);
        // Only the newest mark past the horizon is needed; older ones go.
        while self.marks.len() > 1 && self.marks.get(1).is_some_and(|(t, _)| *t <= horizon) {
            self.marks.pop_front();
        }
        self.marks
            .front()
            .filter(|(t, _)| *t <= horizon)
            .map_or(0, |(_, seq)| *seq)
    }

    /// The authors of current items that readers may trust: vouched for by the operator, or
    /// with history (first shown here at least `trust.history` ago).
    fn rank(&mut self, node: &Node, now: Timestamp) -> HashSet<[u8; 32]> {
        let aged = self.aged(node, now);
        let vouched = self.vouched.as_ref();
        self.items
            .values()
            .map(|i| *i.original.author().as_bytes())
            .filter(|a| {
                vouched.is_some_and(|v| v.contains(a))
                    || self.first_shown.get(a).is_some_and(|seq| *seq <= aged)
            })
            .collect()
    }

    fn note(&mut self, m: &Message, changes: &mut Changes) {
        match &m.body().content {
            Content::Alert(_) | Content::Call(_) => {
                changes.originals.insert(m.id());
            }
            Content::Update(u) => {
                changes.touched.insert(u.supersedes);
            }
            Content::Endorsement(e) => {
                changes.touched.insert(e.target);
            }
            Content::Translation(t) => {
                changes.touched.insert(t.target);
            }
            Content::Cancel(c) => {
                changes.touched.insert(c.target);
                changes.cancels.push(m.clone());
            }
            Content::Profile(_) => {
                changes.profiles.insert(*m.author().as_bytes());
            }
            Content::Roster(_) => {
                self.roster_authors.insert(*m.author().as_bytes());
                changes.rosters = true;
            }
            // A key that ends (or that is handed on) changes what is withheld and whose name
            // a key carries.
            Content::Revocation(_) | Content::Rotation(_) => changes.revoked = true,
            Content::Commitment(_) => {
                changes.committed.insert(*m.author().as_bytes());
            }
            Content::Report(r) => {
                changes.touched.insert(r.target);
            }
            // Stored and relayed, never shown.
            Content::Unknown(_) => {}
        }
    }

    /// Records a cancel that withdrew its target, or keeps it pending while the target is
    /// not here.
    fn resolve_cancel(
        &mut self,
        store: &Store,
        id: Id,
        cancel: Message,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let Content::Cancel(c) = &cancel.body().content else {
            return Ok(());
        };
        let target = c.target;
        let Some(state) = store.get(&target)? else {
            if self.pending_cancels.len() < MAX_PENDING_CANCELS && !expired(&cancel, now) {
                self.pending_cancels.insert(id, cancel);
            }
            return Ok(());
        };
        if !state.cancelled || !matches!(state.kind, Kind::Alert | Kind::Call) {
            return Ok(());
        }
        // The same rule as the store's: the author, or its successor however many keys on.
        if !store.may_act_for(cancel.author(), &state.author)? {
            return Ok(());
        }
        // The store keeps the updates the cancel withdrew (what readers had seen of them),
        // whether or not this gateway showed them: arrived with the cancel in one batch, or
        // before a restart.
        let mut updates: Vec<_> = state
            .withdrawn
            .iter()
            .map(|w| (w.id, w.author, w.created_at))
            .collect();
        for u in &state.updates {
            if let Some(us) = store.get(u)? {
                updates.push((*u, us.author, us.created_at));
            }
        }
        let updates =
            super::cap::withdrawn_updates(updates, self.items.get(&target).map(|i| &**i), now);
        let shown_as = self.items.get(&target).map(|item| {
            let b = item.current(now).body();
            (item.kind(), b.countries.clone(), b.topics.clone())
        });
        let events = self
            .items
            .get(&target)
            .map(|item| CallEvents::of(item.current(now)))
            .unwrap_or_default();
        self.cancels.insert(
            id,
            Arc::new(CancelNote {
                cancel,
                target,
                target_author: state.author,
                target_sent: state.created_at,
                updates,
                shown_as,
                events,
            }),
        );
        Ok(())
    }

    /// Reloads one original from the store; `create`: it came through the readers' view, so
    /// it may be added.
    fn refresh(&mut self, store: &Store, id: &Id, create: bool) -> Result<(), StoreError> {
        if !create && !self.items.contains_key(id) {
            return Ok(());
        }
        let state = store.get(id)?;
        let Some(state) = state else {
            self.items.remove(id);
            return Ok(());
        };
        let original = match (&state.message, state.cancelled) {
            (Some(m), false) if matches!(m.kind(), Kind::Alert | Kind::Call) => m.clone(),
            _ => {
                self.items.remove(id);
                return Ok(());
            }
        };
        let mut updates = Vec::with_capacity(state.updates.len());
        for u in &state.updates {
            if let Some(m) = store.message(u)? {
                updates.push(m);
            }
        }
        self.items.insert(
            *id,
            Arc::new(Item {
                seq: state.seq,
                original,
                updates,
                translations: state.translations,
                endorsers: state.endorsers,
                tally: state.tally,
            }),
        );
        Ok(())
    }

    fn make_snapshot(&self, trusted: Arc<HashSet<[u8; 32]>>, unverified_items: usize) -> Snapshot {
        let mut versions = HashMap::new();
        let mut boundaries = Vec::new();
        let mut times = |m: &Message| {
            boundaries.extend(m.body().effective_at.map(|t| t.0));
            boundaries.extend(m.body().expires_at.map(|t| t.0));
        };
        for item in self.items.values() {
            times(&item.original);
            for u in &item.updates {
                versions.insert(u.id(), item.id());
                times(u);
            }
            item.translations.iter().for_each(&mut times);
        }
        for c in self.cancels.values() {
            times(&c.cancel);
        }
        boundaries.sort_unstable();
        boundaries.dedup();
        let names = Names::new(
            self.profiles
                .iter()
                .filter_map(|(k, v)| v.clone().map(|v| (*k, v)))
                .collect(),
            self.rosters.clone(),
            self.keys.clone(),
        );
        Snapshot {
            head: self.head,
            visible: self.visible,
            items: self.items.clone(),
            versions,
            cancels: self.cancels.clone(),
            names: Arc::new(names),
            keys: self.keys.clone(),
            boundaries,
            trusted,
            unverified_items,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::SecretKey;

    /// 14 May 2026 09:30 UTC.
    const SEIZED: u64 = 1_778_751_000_000;

    fn key(n: u8) -> AuthorKey {
        SecretKey::from_seed(&[n; 32]).public()
    }

    fn ended(k: AuthorKey, successor: Option<AuthorKey>, rotated: bool) -> KeyState {
        KeyState {
            key: k,
            commitment: None,
            conflicting: vec![],
            end: Some(KeyEnd {
                from: Timestamp(SEIZED),
                by: Id([9; 32]),
                by_kind: if rotated {
                    Kind::Rotation
                } else {
                    Kind::Revocation
                },
                rotation: rotated.then_some(Id([9; 32])),
                compromised_since: None,
                successor,
                reason: String::new(),
            }),
            predecessor: None,
        }
    }

    #[test]
    fn a_rotated_keys_successor_is_named_for_it_and_both_carry_a_note() {
        let (old, new, other) = (key(1), key(2), key(3));
        let profiles = HashMap::from([(*old.as_bytes(), "Eastland Dockworkers' Union".into())]);
        let keys = KeyEvents::new(vec![ended(old, Some(new), true)], Vec::new());
        let names = Names::new(profiles, HashMap::new(), Arc::new(keys));
        assert_eq!(
            names.get(&new),
            (
                "Eastland Dockworkers' Union".to_string(),
                NameSource::Predecessor(old)
            )
        );
        assert_eq!(names.get(&old).1, NameSource::Profile);
        assert_eq!(
            names.note(&old).as_deref(),
            Some(
                format!(
                    "key rotated on 14 May 2026 09:30 UTC after a compromise; successor \
                     Eastland Dockworkers' Union ({})",
                    new.short()
                )
                .as_str()
            )
        );
        assert_eq!(
            names.note(&new).as_deref(),
            Some(
                format!(
                    "new key since 14 May 2026 09:30 UTC: the old one ({}) was rotated after a \
                     compromise",
                    old.short()
                )
                .as_str()
            )
        );
        // A key with no story has no note and no borrowed name.
        assert_eq!(names.note(&other), None);
        assert_eq!(names.get(&other), (other.short(), NameSource::Key));
    }

    #[test]
    fn names_pass_down_a_bounded_chain_and_a_revocation_says_revoked() {
        let keys: Vec<AuthorKey> = (1..=7).map(key).collect();
        let profiles = HashMap::from([(*keys[0].as_bytes(), "Northport Nurses".into())]);
        let chain: Vec<KeyState> = keys
            .windows(2)
            .map(|w| ended(w[0], Some(w[1]), false))
            .collect();
        let names = Names::new(
            profiles,
            HashMap::new(),
            Arc::new(KeyEvents::new(chain, Vec::new())),
        );
        // Up to NAME_HOPS keys back the name passes; beyond, the key shows.
        assert_eq!(names.name(&keys[NAME_HOPS]), "Northport Nurses");
        assert_eq!(
            names.get(&keys[NAME_HOPS + 1]),
            (keys[NAME_HOPS + 1].short(), NameSource::Key)
        );
        assert!(
            names.note(&keys[0]).is_some_and(|n| n
                .starts_with("key revoked from 14 May 2026 09:30 UTC; successor Northport Nurses")),
            "{:?}",
            names.note(&keys[0])
        );
    }
}
