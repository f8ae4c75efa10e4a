//! What readers are shown, read from the store newest first: each response (the page, a
//! feed, the calendar, a message page) gets a [`Snapshot`] of the items it may show, with the
//! names, keys and recent cancels they need, made by the [`Builder`] once per durable head and
//! view and shared by the readers of that view.
//!
//! A listing walks the log (or the most selective index its filters name) back from the head
//! until it has what it shows (see [`Builder::walk`]), so its cost and memory follow
//! `http.max_items`, not the number of current messages; decoded items, names and who has
//! history are kept in bounded caches that the log entries of each new head invalidate.
//! Everything that depends on the clock (embargoed updates, expiry) is decided per request
//! from the times kept here, and [`Snapshot::epoch`] counts the times passed, so validators
//! change when the clock does; a view is made again when one of its times passes.
//!
//! Architecture Invariant: nothing here shows what the readers' view of the store does not:
//! an original enters only through the readers' view (so after its embargo); versions and
//! translations are shown only from their `effective_at`; withdrawn content is never held.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use crate::message::tally::Tally;
use crate::message::{AuthorKey, Content, Filter, Id, Info, Kind, Message, Timestamp};
use crate::node::Node;
use crate::store::{
    Back, Endorser, KeyEnd, KeyState, NAME_HOPS, Store, StoreError, View, key_note,
};

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

    /// The languages any version or translation of it is written in.
    fn languages(&self) -> impl Iterator<Item = &str> + '_ {
        std::iter::once(&self.original)
            .chain(&self.updates)
            .chain(&self.translations)
            .flat_map(|m| m.body().info().iter().map(|i| i.language.as_str()))
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
    /// The kind, and the countries and topics of every version readers were shown before the
    /// cancel (for filtered feeds; kept by the store); `None` when they never saw it.
    pub(super) shown_as: Option<(Kind, Vec<String>, Vec<String>)>,
    /// The calendar events any version of the call had when readers saw it (what
    /// `/calendar.ics` marks cancelled); none when they never saw it.
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
    rosters: Arc<HashMap<[u8; 32], (String, AuthorKey)>>,
    /// Where the keys that ended here end, and who carries on for them.
    keys: Arc<KeyEvents>,
}

impl Names {
    /// Names from the keys' own messages and rosters, and the keys' ends.
    fn new(
        profiles: HashMap<[u8; 32], String>,
        rosters: Arc<HashMap<[u8; 32], (String, AuthorKey)>>,
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

/// What one response can show, as of one durable head: the items of one listing (or the one
/// item a message page shows) with the names they need, the recent cancels and the keys that
/// ended. Immutable; shared by the requests for the same view until the head moves or one of
/// its times passes.
#[derive(Debug, Default)]
pub(super) struct Snapshot {
    /// Everything up to this seq is reflected.
    pub(super) head: u64,
    /// The last seq readers were shown an entry at (at most `head`): what validators name,
    /// so that an arrival under embargo, which moves `head` only, changes none.
    pub(super) visible: u64,
    /// The items this view may show, by original id: the newest of those that pass its
    /// selection, live when it was made.
    pub(super) items: HashMap<Id, Arc<Item>>,
    /// Update id → original id, for the items here.
    pub(super) versions: HashMap<Id, Id>,
    /// Authorised cancels by the cancel's id (the most recent, not expired).
    pub(super) cancels: Arc<HashMap<Id, Arc<CancelNote>>>,
    /// Authors' names, for every author the items, cancels and keys here name.
    pub(super) names: Arc<Names>,
    /// The keys that end here (revoked, or rotated after a compromise), each with what is
    /// known of it, and the keys not ended with a conflicting recovery commitment.
    pub(super) keys: Arc<KeyEvents>,
    /// The countries, topics and languages the messages held name, for the page's filters.
    pub(super) facets: Arc<Facets>,
    /// Every time at which what this view shows changes without a new log entry (embargoes
    /// ending, expiries), sorted.
    boundaries: Vec<u64>,
    /// The authors of the items here that readers may trust (see [`Builder`]'s ranking).
    trusted: HashSet<[u8; 32]>,
    /// The most items by unverified authors in a ranked listing (`trust.unverified_items`).
    unverified_items: usize,
    /// Whether `items` holds every live item that passes the view's selection: the walk
    /// reached the start of the log. Otherwise the counts are of those read, a lower bound.
    pub(super) complete: bool,
    /// What the view shows, summed up: part of the validators, so that two states of one view
    /// never share an ETag.
    pub(super) digest: u64,
}

/// The values readers can filter by.
#[derive(Debug, Default)]
pub(super) struct Facets {
    /// ISO 3166-1 codes.
    pub(super) countries: Vec<String>,
    /// Topic slugs.
    pub(super) topics: Vec<String>,
    /// Language tags, lower case.
    pub(super) languages: Vec<String>,
}

/// What a response needs from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Want {
    /// The newest current items that pass a selection, up to a limit (the page, the feeds,
    /// the calendar); with the facets when `facets`.
    Listing {
        /// The filters (the chosen language does not change what is read).
        sel: Selection,
        /// The most items shown.
        limit: usize,
        /// Whether the page's filter values are wanted.
        facets: bool,
    },
    /// The item an id names (the original's, or an update's), for a message page or a CAP
    /// document.
    Item(Id),
}

impl Want {
    /// The key of the view in the gateway's cache of views.
    pub(super) fn key(&self) -> String {
        match self {
            Want::Listing { sel, limit, facets } => {
                let sel = Selection {
                    lang: None,
                    ..sel.clone()
                };
                format!("list|{}|{limit}|{facets}", sel.to_query())
            }
            Want::Item(id) => format!("item|{id}"),
        }
    }
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
    /// Whether `total` and `unverified` count every live item that passes (else: those read,
    /// a lower bound).
    pub(super) complete: bool,
}

impl Snapshot {
    /// What a reader's (cut) preferences pick here, as a key for the render cache and the
    /// validators: the page's own language, the first preference's primary subtag (the page
    /// notes an item shown in another), and for every list of languages a version of an item
    /// can be read in, the one picked. What is rendered depends on the preferences through
    /// these alone, so readers who pick alike share one rendering, however they order their
    /// languages (every order of the eight shipped ones was a view of its own).
    pub(super) fn language_key(&self, prefs: &[String], now: Timestamp) -> String {
        let ui = super::words::Words::choose(prefs).tag();
        let first = prefs
            .first()
            .map_or("", |p| p.split('-').next().unwrap_or(p));
        let mut lists: std::collections::BTreeSet<Vec<&str>> = std::collections::BTreeSet::new();
        for item in self.items.values() {
            for version in item.versions(now) {
                lists.insert(
                    item.texts_of(version, now)
                        .iter()
                        .map(|t| t.info.language.as_str())
                        .collect(),
                );
            }
        }
        let picks: Vec<&str> = lists
            .iter()
            .map(|tags| super::query::pick_language(tags, prefs).map_or("", |i| tags[i]))
            .collect();
        format!("{ui}|{first}|{}", picks.join(","))
    }

    /// Every language a text here is in (every version and translation of every item), the
    /// languages the page's switcher offers, and the page's own: what a reader's preferences
    /// can pick among (`query::effective_preferences`).
    pub(super) fn known_languages(&self) -> Vec<&str> {
        let mut known: Vec<&str> = Vec::new();
        for item in self.items.values() {
            known.extend(item.languages());
        }
        known.extend(self.facets.languages.iter().map(String::as_str));
        for tag in super::words::tags() {
            known.push(tag);
        }
        known.sort_unstable();
        known.dedup();
        known
    }

    /// How many of the snapshot's time boundaries have passed at `now`: with the head, it
    /// identifies what a request at `now` sees, and it only grows.
    pub(super) fn epoch(&self, now: Timestamp) -> usize {
        self.boundaries.partition_point(|&t| t <= now.0)
    }

    /// The first of the snapshot's times after `now` (in milliseconds; `u64::MAX` when none):
    /// from then on, what the view shows may change without a new log entry, so it is made
    /// again.
    pub(super) fn valid_until(&self, now: Timestamp) -> u64 {
        self.boundaries
            .get(self.epoch(now))
            .copied()
            .unwrap_or(u64::MAX)
    }

    /// The items here live at `now`.
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
            complete: self.complete,
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

/// Entries read back per batch of a listing's walk.
const WALK_BATCH: usize = 64;
/// A listing reads at most this many entries back from the head per item it shows (20,000
/// at the default `http.max_items`): under a flood of items from fresh keys, what lies beyond
/// is not read, and the counts say "at least".
const WALK_PER_ITEM: usize = 100;
/// Up to this many entries read per item shown (2,000 by default), every item is decoded, so a
/// small node's counts are exact; beyond it an original by an unverified author is counted out
/// undecoded once the listing has all the unverified items it can show.
const EXACT_READ_PER_ITEM: usize = 10;
/// The operator's list (allowed authors, federations and their rosters' members) is walked
/// through its own index when it names at most this many keys.
const VOUCHED_WALK_MAX: usize = 256;
/// The head moved by more than this many entries since the state was made: it is made again
/// from the store rather than caught up entry by entry.
const CATCH_UP_MAX: u64 = 10_000;
/// Items kept decoded between requests (each a few KiB); the cache is emptied when full.
const ITEM_CACHE: usize = 1_024;
/// New originals read into the cache as the head moves, when no more came (a cancel that
/// comes later describes what readers were shown); a burst is read when a view asks.
const EAGER_ORIGINALS: usize = 64;
/// Authors whose names and first entries are kept; each cache is emptied when full.
const AUTHOR_CACHE: usize = 65_536;
/// The most recent cancels kept for the CAP index and the calendar.
const MAX_CANCELS: usize = 1_000;

/// The alert or call a message shows on: itself, the original an update supersedes, the
/// target of a translation. `None` for every other kind.
fn item_of(m: &Message) -> Option<Id> {
    match &m.body().content {
        Content::Alert(_) | Content::Call(_) => Some(m.id()),
        Content::Update(u) => Some(u.supersedes),
        Content::Translation(t) => Some(t.target),
        _ => None,
    }
}

/// What a listing's walk reads from the store: every entry that can place an item that passes
/// `sel` (originals of the kinds it names, updates and, for a language, translations), through
/// the most selective index the selection names. The items found are checked against `sel`
/// itself, so this only has to list at least one entry of each item that passes.
fn walk_filter(sel: &Selection) -> Filter {
    // A translation carries no countries or topics: with those, languages are checked on the
    // items alone.
    let languages = if sel.countries.is_empty() && sel.topics.is_empty() {
        sel.languages.clone()
    } else {
        Vec::new()
    };
    // `?kind=call` reads the calls (and every update: an update's kind does not say what it
    // updates) rather than every alert on the way to the first call.
    let mut kinds = if sel.kinds.is_empty() {
        vec![Kind::Alert, Kind::Call]
    } else {
        sel.kinds.clone()
    };
    kinds.push(Kind::Update);
    if !languages.is_empty() {
        kinds.push(Kind::Translation);
    }
    Filter {
        kinds,
        countries: sel.countries.clone(),
        topics: sel.topics.clone(),
        languages,
        ..Filter::default()
    }
}

/// Where a listing's walk stands.
#[derive(Debug, Default)]
struct Walk {
    /// The most items shown.
    limit: usize,
    /// The most items by unverified authors shown.
    shown_unverified: usize,
    /// Originals met (each item is looked at once).
    seen: HashSet<Id>,
    /// The items found, newest entry first.
    found: Vec<Arc<Item>>,
    /// When each item found that counts towards the limit was last updated (trusted ones, or
    /// unverified ones for `?authors=unverified`).
    counted_times: Vec<Timestamp>,
    /// Live items found that pass, by trusted authors.
    trusted: usize,
    /// Live items found that pass, by unverified authors.
    unverified: usize,
    /// Entries read in this walk.
    read: usize,
    /// Whether an item was counted out without being decoded.
    skipped: bool,
}

impl Walk {
    /// When the walk has the items a listing shows, the `created_at` of the oldest of them
    /// (by their latest version, as ranked): only something newer can still take a place.
    fn cut(&self) -> Option<Timestamp> {
        if self.counted_times.len() < self.limit || self.limit == 0 {
            return None;
        }
        let mut times = self.counted_times.clone();
        let (_, cut, _) = times.select_nth_unstable_by(self.limit - 1, |a, b| b.cmp(a));
        Some(*cut)
    }
}

/// Keeps what readers are shown between heads (names, keys, recent cancels, decoded items,
/// who has history) and makes views from the store. Used under a lock, on a blocking thread.
///
/// Nothing here grows with the number of current messages: items are read when a view asks
/// for them, newest first, and kept in a bounded cache that the log entries of each new head
/// invalidate.
#[derive(Debug, Default)]
pub(super) struct Builder {
    /// Made from the store (see [`Builder::start`]).
    ready: bool,
    /// Everything up to this seq is reflected.
    head: u64,
    /// See [`Snapshot::visible`]; never moves back.
    visible: u64,
    /// Decoded items by original id; `None`: the id names no current alert or call.
    items: HashMap<Id, Option<Arc<Item>>>,
    /// Shared with the snapshots; copied only when it changes while one holds it.
    cancels: Arc<HashMap<Id, Arc<CancelNote>>>,
    pending_cancels: HashMap<Id, Message>,
    /// Authors' own names (their latest profile), as read.
    profiles: HashMap<[u8; 32], Option<String>>,
    /// Roster members' names, by member: the first roster in key order to name one wins.
    rosters: Arc<HashMap<[u8; 32], (String, AuthorKey)>>,
    /// Per author, the first seq readers were shown something of theirs at, as read.
    first_shown: HashMap<[u8; 32], Option<u64>>,
    /// (time, readers' seq) noted as the head moved, oldest first: everything up to that seq
    /// was shown by that time. How the gateway tells how long ago an author was first shown,
    /// with no time kept in the store; kept when the state is made again.
    marks: VecDeque<(Timestamp, u64)>,
    /// The readers' seq up to which everything was shown at least `trust.history` ago.
    aged: u64,
    /// The authors the operator vouches for, read again when a roster arrives.
    vouched: Option<HashSet<[u8; 32]>>,
    /// Authors found to have history, up to [`VOUCHED_WALK_MAX`]: walked through their own
    /// index beside the vouched ones when a flood stands between them and the head.
    historied: BTreeSet<[u8; 32]>,
    /// Keys not ended with a conflicting recovery commitment.
    conflicted: BTreeMap<[u8; 32], KeyState>,
    /// What readers are shown of keys: the keys that end here and `conflicted`.
    keys: Arc<KeyEvents>,
    /// The page's filter values for this head, made when a page first asks.
    facets: Option<Arc<Facets>>,
}

impl Builder {
    /// Brings the state up to the store's durable head: from the log entries added since the
    /// previous head when they are few, else made again from the store.
    pub(super) fn advance(&mut self, node: &Node, now: Timestamp) -> Result<(), StoreError> {
        let store = node.store();
        let target = store.head();
        if self.ready && target <= self.head {
            return Ok(());
        }
        if !self.ready || target - self.head > CATCH_UP_MAX {
            return self.start(node, now);
        }
        let mut changes = Changes::default();
        let mut since = self.head;
        while since < target {
            let (entries, scanned) =
                store.read(since, &Filter::default(), &View::Reader, READ_BATCH)?;
            for e in &entries {
                self.note(&e.message, &mut changes);
                self.visible = self.visible.max(e.seq);
                if let Some(first @ None) = self.first_shown.get_mut(e.message.author().as_bytes())
                {
                    *first = Some(e.seq);
                }
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
        if changes.revoked {
            // A revocation withholds content of every kind, everywhere: start from the store
            // again rather than chase it (revocations are rare).
            return self.start(node, now);
        }

        // Cancels first, while the items they withdraw are still cached to describe them.
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
        for id in changes.originals.iter().chain(&changes.touched) {
            self.items.remove(id);
        }
        if !changes.profiles.is_empty() || changes.rosters {
            // A tally names each reporter's country (from its latest profile) and counts the
            // rosters' members: a new profile or roster can change what it says.
            self.items
                .retain(|_, item| item.as_ref().is_none_or(|i| i.tally.is_empty()));
        }
        // New originals are read now, while they are few: a cancel that comes later describes
        // what readers were shown (for filtered feeds and the calendar).
        if changes.originals.len() <= EAGER_ORIGINALS {
            for id in &changes.originals {
                self.item(store, id)?;
            }
        }
        for key in &changes.profiles {
            self.profiles.remove(key);
        }
        if changes.rosters {
            self.load_rosters(store)?;
            self.vouched = None;
        }
        if conflicts {
            let conflicted = self.conflicted.values().cloned().collect();
            self.keys = Arc::new(KeyEvents::new(self.keys.ended.clone(), conflicted));
        }
        self.head = since;
        self.settle(node, now)
    }

    /// Makes the state from the store, reading nothing in proportion to its size: the keys
    /// that ended, the rosters, the most recent cancels. Items, names and history are read
    /// when a view needs them.
    fn start(&mut self, node: &Node, now: Timestamp) -> Result<(), StoreError> {
        let store = node.store();
        *self = Builder {
            visible: self.visible,
            marks: std::mem::take(&mut self.marks),
            // A revoked key's messages are withheld: walking its index finds nothing.
            historied: std::mem::take(&mut self.historied),
            ..Builder::default()
        };
        self.head = store.head();
        self.visible = self.visible.max(store.reader_head()?);
        let mut ended = store.ended_keys()?;
        // The latest end first: what readers most need to know of.
        ended.sort_by_key(|k| std::cmp::Reverse(k.end.as_ref().map(|e| (e.from, e.by))));
        for state in store.conflicted_keys(MAX_CONFLICTED)? {
            self.conflicted.insert(*state.key.as_bytes(), state);
        }
        let conflicted = self.conflicted.values().cloned().collect();
        self.keys = Arc::new(KeyEvents::new(ended, conflicted));
        self.load_rosters(store)?;
        let cancels = Filter {
            kinds: vec![Kind::Cancel],
            ..Filter::default()
        };
        let (recent, _) =
            store.read_back(None, &cancels, &View::Reader, MAX_CANCELS, MAX_CANCELS * 4)?;
        for e in recent {
            if !expired(&e.message, now) {
                self.resolve_cancel(store, e.message.id(), e.message, now)?;
            }
        }
        self.ready = true;
        self.settle(node, now)
    }

    /// What follows any move of the head: expired cancels dropped, the operator's list read
    /// if it may have changed, history noted, the page's filter values to be read again.
    fn settle(&mut self, node: &Node, now: Timestamp) -> Result<(), StoreError> {
        if self.cancels.values().any(|c| expired(&c.cancel, now)) {
            Arc::make_mut(&mut self.cancels).retain(|_, c| !expired(&c.cancel, now));
        }
        self.pending_cancels.retain(|_, c| !expired(c, now));
        if self.cancels.len() > MAX_CANCELS {
            let mut by_age: Vec<(Timestamp, Id)> = self
                .cancels
                .iter()
                .map(|(id, c)| (c.cancel.body().created_at, *id))
                .collect();
            by_age.sort_unstable();
            let cancels = Arc::make_mut(&mut self.cancels);
            for (_, id) in &by_age[..by_age.len() - MAX_CANCELS] {
                cancels.remove(id);
            }
        }
        if self.vouched.is_none() {
            self.vouched = Some(
                node.vouched_authors()?
                    .iter()
                    .map(|k| *k.as_bytes())
                    .collect(),
            );
        }
        self.aged = self.aged(node, now);
        self.facets = None;
        Ok(())
    }

    /// Reads every roster held again: member → (name, federation).
    fn load_rosters(&mut self, store: &Store) -> Result<(), StoreError> {
        let mut rosters = HashMap::new();
        // The first roster (in key order) to name a member wins: deterministic, and a
        // profile, which the member signs itself, always comes first anyway.
        for fed in store.roster_authors()? {
            if let Some(m) = store.roster(&fed)?
                && let Content::Roster(r) = &m.body().content
            {
                for member in &r.members {
                    rosters
                        .entry(*member.key.as_bytes())
                        .or_insert_with(|| (member.name.clone(), fed));
                }
            }
        }
        self.rosters = Arc::new(rosters);
        Ok(())
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

    /// Whether readers may trust `author`: vouched for by the operator, or with history (first
    /// shown here at least `trust.history` ago).
    fn trusts(&mut self, store: &Store, author: &AuthorKey) -> Result<bool, StoreError> {
        let key = *author.as_bytes();
        if self.vouched.as_ref().is_some_and(|v| v.contains(&key)) {
            return Ok(true);
        }
        let first = match self.first_shown.get(&key) {
            Some(first) => *first,
            None => {
                let first = store.first_in_view(author, &View::Reader)?;
                if self.first_shown.len() >= AUTHOR_CACHE {
                    self.first_shown.clear();
                }
                self.first_shown.insert(key, first);
                first
            }
        };
        let aged = first.is_some_and(|seq| seq <= self.aged);
        if aged && self.historied.len() < VOUCHED_WALK_MAX {
            self.historied.insert(key);
        }
        Ok(aged)
    }

    /// The name `key` gave itself in its latest profile, if any.
    fn profile_name(&mut self, store: &Store, key: [u8; 32]) -> Result<Option<String>, StoreError> {
        if let Some(name) = self.profiles.get(&key) {
            return Ok(name.clone());
        }
        let name = match AuthorKey::from_slice(&key) {
            Ok(k) => store.profile(&k)?.and_then(|m| match &m.body().content {
                Content::Profile(p) if !p.name.trim().is_empty() => Some(p.name.clone()),
                _ => None,
            }),
            Err(_) => None,
        };
        if self.profiles.len() >= AUTHOR_CACHE {
            self.profiles.clear();
        }
        self.profiles.insert(key, name.clone());
        Ok(name)
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
            Content::Roster(_) => changes.rosters = true,
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
        // What this gateway showed of it, if it still has it decoded.
        let shown = self.items.get(&target).cloned().flatten();
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
        let updates = super::cap::withdrawn_updates(updates, shown.as_deref(), now);
        // What the store kept at the cancel: every version readers were shown. Else (a cancel
        // from before the store kept it) what this gateway still has decoded, if it has.
        let (shown_as, events) = match (&state.shown, &shown) {
            (Some(kept), _) => (
                Some((state.kind, kept.countries.clone(), kept.topics.clone())),
                CallEvents::from(kept),
            ),
            (None, Some(item)) => {
                let b = item.current(now).body();
                (
                    Some((item.kind(), b.countries.clone(), b.topics.clone())),
                    CallEvents::of(item.current(now)),
                )
            }
            (None, None) => (None, CallEvents::default()),
        };
        Arc::make_mut(&mut self.cancels).insert(
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

    /// The alert or call `id`, decoded with its versions, translations, endorsers and tally:
    /// from the cache, else read from the store and kept. `None` when `id` names no alert or
    /// call readers may see (not here, another kind, cancelled, under embargo, withheld).
    fn item(&mut self, store: &Store, id: &Id) -> Result<Option<Arc<Item>>, StoreError> {
        if let Some(item) = self.items.get(id) {
            return Ok(item.clone());
        }
        let item = match store.get(id)? {
            Some(state) => match (&state.message, state.cancelled) {
                (Some(m), false) if matches!(m.kind(), Kind::Alert | Kind::Call) => {
                    let original = m.clone();
                    let mut updates = Vec::with_capacity(state.updates.len());
                    for u in &state.updates {
                        if let Some(m) = store.message(u)? {
                            updates.push(m);
                        }
                    }
                    Some(Arc::new(Item {
                        seq: state.seq,
                        original,
                        updates,
                        translations: state.translations,
                        endorsers: state.endorsers,
                        tally: state.tally,
                    }))
                }
                _ => None,
            },
            None => None,
        };
        if self.items.len() >= ITEM_CACHE {
            self.items.clear();
        }
        self.items.insert(*id, item.clone());
        Ok(item)
    }

    /// The view `want` asks for, at the current head (call [`Builder::advance`] first).
    pub(super) fn view(
        &mut self,
        node: &Node,
        want: &Want,
        now: Timestamp,
    ) -> Result<Snapshot, StoreError> {
        let store = node.store();
        let mut extra_authors = Vec::new();
        let (items, complete, facets) = match want {
            Want::Listing { sel, limit, facets } => {
                let (items, complete) = self.walk(node, sel, *limit, now)?;
                let facets = if *facets {
                    // An unfiltered listing's items are the facets' own: not read twice.
                    let unfiltered = (!sel.is_filtered()).then_some(&items[..]);
                    self.facets(node, *limit, now, unfiltered)?
                } else {
                    Arc::default()
                };
                (items, complete, facets)
            }
            Want::Item(id) => {
                let target = match store.message(id)? {
                    Some(m) => match &m.body().content {
                        Content::Update(u) => u.supersedes,
                        _ => *id,
                    },
                    None => *id,
                };
                let item = self
                    .item(store, &target)?
                    .filter(|i| target == *id || i.updates.iter().any(|u| u.id() == *id));
                if item.is_none()
                    && let Some(state) = store.get(id)?
                {
                    // Its page may say why it is not shown, naming its author.
                    extra_authors.push(*state.author.as_bytes());
                }
                (item.into_iter().collect(), true, Arc::default())
            }
        };
        self.snapshot(node, items, complete, facets, extra_authors, now)
    }

    /// The page's filter values at this head: the countries, topics and languages of the
    /// newest items readers see (an unfiltered listing's), never of what is held unseen (under
    /// embargo, expired, withdrawn). `unfiltered`: that listing's items, when the view is it.
    fn facets(
        &mut self,
        node: &Node,
        limit: usize,
        now: Timestamp,
        unfiltered: Option<&[Arc<Item>]>,
    ) -> Result<Arc<Facets>, StoreError> {
        if let Some(f) = &self.facets {
            return Ok(f.clone());
        }
        let read;
        let items = match unfiltered {
            Some(items) => items,
            None => {
                read = self.walk(node, &Selection::default(), limit, now)?.0;
                &read[..]
            }
        };
        let (mut countries, mut topics, mut languages) =
            (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        for item in items.iter().filter(|i| i.live(now)) {
            let current = item.current(now).body();
            countries.extend(current.countries.iter().cloned());
            topics.extend(current.topics.iter().cloned());
            languages.extend(
                item.texts(now)
                    .iter()
                    .map(|t| t.info.language.to_ascii_lowercase()),
            );
        }
        let f = Arc::new(Facets {
            countries: countries.into_iter().collect(),
            topics: topics.into_iter().collect(),
            languages: languages.into_iter().collect(),
        });
        self.facets = Some(f.clone());
        Ok(f)
    }

    /// Reads back from the head the items a listing of `sel` may show: until it has `limit`
    /// items by trusted authors (or by unverified ones, for `?authors=unverified`) and the
    /// store's bound says nothing further back is newer than the oldest of them, the start of
    /// the log, or `limit × 100` entries; then, if trusted items are still missing (a flood
    /// from fresh keys stood between), the items of the authors the operator vouches for and of
    /// those found to have history, through their own index. Returns the live items that pass
    /// `sel` and whether the walk reached the start with every item counted.
    fn walk(
        &mut self,
        node: &Node,
        sel: &Selection,
        limit: usize,
        now: Timestamp,
    ) -> Result<(Vec<Arc<Item>>, bool), StoreError> {
        let mut walk = Walk {
            limit,
            shown_unverified: match sel.authors {
                None => limit.min(node.config().trust.unverified_items),
                Some(AuthorFilter::Trusted) => 0,
                Some(AuthorFilter::Unverified) => limit,
            },
            ..Walk::default()
        };
        let filter = walk_filter(sel);
        let mut complete = self.walk_through(node, sel, &filter, &mut walk, now)?;
        let first_complete = complete;
        let vouched: BTreeSet<[u8; 32]> = self
            .vouched
            .iter()
            .flatten()
            .chain(&self.historied)
            .copied()
            .collect();
        let vouched: Vec<AuthorKey> = vouched
            .iter()
            .filter_map(|k| AuthorKey::from_slice(k).ok())
            .collect();
        if !complete
            && sel.authors != Some(AuthorFilter::Unverified)
            && walk.trusted < limit
            && !vouched.is_empty()
            && vouched.len() <= VOUCHED_WALK_MAX
        {
            let vouched = Filter {
                authors: vouched,
                ..filter.clone()
            };
            self.walk_more(node, sel, &vouched, &mut walk, now)?;
            complete = false;
        }
        // A language's entries list an item by its original and translations in it, but the
        // item ranks by its newest version, which may be written in another language. When
        // the walk did not read every entry and has what it shows, the updates newer than its
        // cut are read too (their own kind's index, every language; the same stop rule ends
        // it, after one batch when none is newer). Without a cut the first walk ran out of
        // its budget, and this one would only spend another.
        if !first_complete && !filter.languages.is_empty() && walk.cut().is_some() {
            let updates = Filter {
                kinds: vec![Kind::Update],
                languages: Vec::new(),
                ..filter
            };
            self.walk_more(node, sel, &updates, &mut walk, now)?;
        }
        Ok((walk.found, complete))
    }

    /// A further walk after the first, through another index, adding to what it found: with
    /// a budget of its own (the same stop rule ends it).
    fn walk_more(
        &mut self,
        node: &Node,
        sel: &Selection,
        filter: &Filter,
        walk: &mut Walk,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        walk.read = 0;
        self.walk_through(node, sel, filter, walk, now)?;
        Ok(())
    }

    /// One walk back from the head through what `filter` lists, adding to `walk`; whether it
    /// reached the start with every item it read counted.
    fn walk_through(
        &mut self,
        node: &Node,
        sel: &Selection,
        filter: &Filter,
        walk: &mut Walk,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let store = node.store();
        let exact_read = walk.limit.saturating_mul(EXACT_READ_PER_ITEM);
        let read_max = walk.limit.saturating_mul(WALK_PER_ITEM);
        // From the head this state reflects: an entry past it may touch a cached item that
        // `advance` has not yet invalidated.
        let mut at = Some(Back {
            before: self.head + 1,
        });
        // Entries examined, an upper bound: a batch may examine its whole budget and return
        // nothing readers see (a flood under embargo).
        let mut examined = 0usize;
        loop {
            let (entries, next) =
                store.read_back(at, filter, &View::Reader, WALK_BATCH, WALK_BATCH * 8)?;
            examined += WALK_BATCH * 8;
            for e in entries {
                walk.read += 1;
                // An expired original is not shown (retention may not have removed it yet):
                // not decoded either.
                if item_of(&e.message) == Some(e.message.id()) && expired(&e.message, now) {
                    continue;
                }
                let Some(target) = item_of(&e.message) else {
                    continue;
                };
                if !walk.seen.insert(target) {
                    continue;
                }
                // An original's author is its item's: an item the listing leaves out for its
                // author is not decoded. Past the exact part of the walk, neither is one by an
                // unverified author once the listing has all such items it can show: it could
                // only add to a count.
                if target == e.message.id() {
                    let trusted = self.trusts(store, e.message.author())?;
                    match (sel.authors, trusted) {
                        (Some(AuthorFilter::Trusted), false)
                        | (Some(AuthorFilter::Unverified), true) => continue,
                        (None, false)
                            if walk.read > exact_read
                                && walk.unverified >= walk.shown_unverified =>
                        {
                            walk.skipped = true;
                            continue;
                        }
                        _ => {}
                    }
                }
                let Some(item) = self.item(store, &target)? else {
                    continue;
                };
                if !item.live(now) {
                    continue;
                }
                let texts = item.texts(now);
                let tags: Vec<&str> = texts.iter().map(|t| t.info.language.as_str()).collect();
                if !sel.matches(item.kind(), item.current(now).body(), &tags) {
                    continue;
                }
                let trusted = self.trusts(store, item.original.author())?;
                if trusted {
                    walk.trusted += 1;
                } else {
                    walk.unverified += 1;
                }
                if trusted == (sel.authors != Some(AuthorFilter::Unverified)) {
                    walk.counted_times.push(item.updated(now));
                }
                walk.found.push(item);
            }
            let Some(next) = next else {
                return Ok(!walk.skipped);
            };
            at = Some(next);
            if walk.read >= read_max || examined >= read_max.saturating_mul(4) {
                return Ok(false);
            }
            // Enough to show: stop, unless something further back may be newer than the last
            // item shown (messages reach a node out of order: an import, reconciliation, a
            // peer's backlog all add older messages at the head). One of the same millisecond
            // further back is not looked for: reading on through a burst of equal times would
            // cost more than the order of two items written at once.
            if let Some(cut) = walk.cut()
                && store
                    .created_before(next)?
                    .is_none_or(|newest| newest <= cut)
            {
                return Ok(false);
            }
        }
    }

    /// A snapshot of `items` with everything they need: versions, times, trust, names.
    fn snapshot(
        &mut self,
        node: &Node,
        items: Vec<Arc<Item>>,
        complete: bool,
        facets: Arc<Facets>,
        extra_authors: Vec<[u8; 32]>,
        now: Timestamp,
    ) -> Result<Snapshot, StoreError> {
        let store = node.store();
        let mut versions = HashMap::new();
        let mut boundaries = Vec::new();
        let mut times = |m: &Message| {
            boundaries.extend(m.body().effective_at.map(|t| t.0));
            boundaries.extend(m.body().expires_at.map(|t| t.0));
        };
        let mut authors: BTreeSet<[u8; 32]> = extra_authors.into_iter().collect();
        let mut trusted = HashSet::new();
        let mut digest = std::collections::hash_map::DefaultHasher::new();
        for item in &items {
            times(&item.original);
            for u in &item.updates {
                versions.insert(u.id(), item.id());
                times(u);
            }
            item.translations.iter().for_each(&mut times);
            let author = item.original.author();
            if self.trusts(store, author)? {
                trusted.insert(*author.as_bytes());
            }
            authors.insert(*author.as_bytes());
            authors.extend(item.updates.iter().map(|m| *m.author().as_bytes()));
            authors.extend(item.translations.iter().map(|m| *m.author().as_bytes()));
            authors.extend(item.endorsers.iter().map(|e| *e.author.as_bytes()));
            authors.extend(item.tally.reports.iter().map(|r| *r.author.as_bytes()));
        }
        for c in self.cancels.values() {
            times(&c.cancel);
            authors.insert(*c.cancel.author().as_bytes());
            authors.insert(*c.target_author.as_bytes());
            authors.extend(c.updates.iter().map(|(_, a, _)| *a.as_bytes()));
        }
        // The keys the list of ended keys names, and those their successors carry on for.
        for state in self.keys.ended.iter().chain(&self.keys.conflicted) {
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
        // A name may come from a key a few back (see `Names::get`).
        let mut from: Vec<[u8; 32]> = authors.iter().copied().collect();
        for _ in 0..NAME_HOPS {
            from = from
                .iter()
                .filter_map(|k| self.keys.predecessors.get(k))
                .map(|p| *p.as_bytes())
                .filter(|p| authors.insert(*p))
                .collect();
        }
        let mut profiles = HashMap::new();
        for key in authors {
            if let Some(name) = self.profile_name(store, key)? {
                profiles.insert(key, name);
            }
        }
        boundaries.sort_unstable();
        boundaries.dedup();
        // What the view shows, in an order that does not depend on the map's.
        let mut shown: Vec<&Arc<Item>> = items.iter().filter(|i| i.live(now)).collect();
        shown.sort_by_key(|i| i.id());
        for item in shown {
            // Who is trusted moves the item in the ranking and marks it.
            trusted
                .contains(item.original.author().as_bytes())
                .hash(&mut digest);
            item.id().hash(&mut digest);
            item.current(now).id().hash(&mut digest);
            item.translations(now).count().hash(&mut digest);
            item.endorsers.len().hash(&mut digest);
        }
        complete.hash(&mut digest);
        (&facets.countries, &facets.topics, &facets.languages).hash(&mut digest);
        Ok(Snapshot {
            head: self.head,
            visible: self.visible,
            items: items.into_iter().map(|i| (i.id(), i)).collect(),
            versions,
            cancels: self.cancels.clone(),
            names: Arc::new(Names::new(
                profiles,
                self.rosters.clone(),
                self.keys.clone(),
            )),
            keys: self.keys.clone(),
            facets,
            boundaries,
            trusted,
            unverified_items: node.config().trust.unverified_items,
            complete,
            digest: digest.finish(),
        })
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
        let names = Names::new(profiles, Arc::default(), Arc::new(keys));
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
            Arc::default(),
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
