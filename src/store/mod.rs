//! The node's log on sled: durable, deduplicated, indexed storage of verified messages (the only module that names sled).
//!
//! # What is kept
//!
//! Every accepted message gets the next `seq` of the node's log. Beside the log the store keeps
//! a small record per id, indexes by author, kind, topic, country and language (rows of seqs,
//! so a filtered read walks an index in log order), the references between messages,
//! endorsement tallies, the latest profile and roster per author, the revocation in force per
//! author, tombstones, one cursor per peer, and federation's retry set (refusals that can change,
//! kept with their batch: `retry.rs`). The layout is in `codec.rs`. The signature and
//! body bytes, verbatim and never re-encoded, are in the body log beside sled (`bodies.rs`); each
//! log entry points to its message's. The log's entries are stored in runs, one row for the new
//! seqs of a write transaction (`codec::LogRow`), so a message costs one row of its own (its
//! record) and a share of the rest.
//!
//! Memory is bounded by sled's page cache, [`StoreConfig::cache_bytes`] (32 MiB by default),
//! a cache of 4,096 recently read messages, and a filter of the ids held (1.5 MiB per million
//! ids, at least 1.5 MiB; see `ids.rs`).
//!
//! # Opening
//!
//! A missing directory is created; a directory holding other files is refused
//! ([`StoreError::NotAStore`]); one held by another process is refused
//! ([`StoreError::Locked`]). Beside sled's files a marker (`tocsin-store`) keeps the store's id
//! and the highest seq ever made durable: sled reads a damaged log as a torn tail and silently
//! comes up with less (or nothing), so a database that recovers below the marker is refused as
//! [`StoreError::Corrupt`] rather than served with acknowledged messages missing. A panic inside
//! sled's recovery is caught and reported the same way. The recovery steps, in order, are the
//! functions of `open.rs`.
//!
//! # Atomicity and durability
//!
//! All writes go through one writer thread, which plans a group of messages' effects (reading
//! the trees through the group's own planned writes), writes and syncs their bodies to the body
//! log (for a large group, on another thread while the group is planned), and applies the group
//! as **one sled transaction across every tree it touches**: the records, log entries, index
//! rows, tallies, and peer cursors. A crash leaves all of a group or none of it (and perhaps
//! bodies nothing points to, reclaimed with their segment). The caller is told *accepted* only
//! when the transaction is on disk: see `commit.rs` for group commit and the durable head.
//!
//! # Semantics (DESIGN.md, "Kinds and their semantics")
//!
//! - **Dedup**: an id stored with its content is a `Duplicate`; an id cancelled, withheld or
//!   expired here is `Refused(replayed)` (withheld: `revoked-author`) for as long as it is
//!   remembered.
//! - **Update / cancel**: only the original's author, or the successor named in that
//!   author's revocation, may update or cancel. When the original is here, anyone else is
//!   refused `not-author`; when it is not (yet), the update or cancel is stored and stays a
//!   *pending reference*: when the original arrives, the references by its author take effect
//!   (a pending cancel withdraws it on arrival) and the others are ignored. An update must be
//!   of the original's kind (`bad-reference` otherwise); an update or translation of a
//!   withdrawn message is refused `replayed`.
//! - **Cancel** withdraws the content of the original, of its author's updates and of every
//!   translation of it (translations repeat the text), keeping their ids.
//! - **Endorsement**: one per endorsing author per target. The first stored counts in the
//!   tally; later ones by the same author are stored and relayed but not counted. If the
//!   counted one goes (expiry, revocation), the author's earliest other one in effect takes
//!   its place (so the tally does not depend on which came first).
//!   Endorsements count as soon as they take effect (see *Views*), whether or not the target
//!   is here yet; among one author's, the first to take effect is the one counted.
//! - **Profile / roster**: the latest by created_at (ties: the larger id) is served.
//! - **Revocation**: kept forever. When several exist for one key, the earliest
//!   `revoked_from` is in force (the most protective: a thief with the key cannot move it
//!   later). Messages by that author created at or after it are refused `revoked-author`, and
//!   those already here are withheld: content dropped, id kept. Revocations themselves are
//!   never refused for being revoked, and never held back by an embargo: a revocation is a
//!   security action and takes effect, for readers too, on arrival.
//!
//! # Views
//!
//! A message under embargo (effective_at in the future when accepted) gets its log entry at
//! once, marked embargoed. Peers see it there ([`View::Peer`]), so it spreads before the hour;
//! readers do not. [`Store::release_due`] later appends a *release entry* with a new seq, which
//! is where readers ([`View::Reader`]) see it: a reader resuming from any cursor meets it, since
//! it is newer than every cursor handed out before it was durable. Index rows exist for both
//! seqs. Cancelled and withheld content appears in no view.
//!
//! Until that release the message has **no effect for readers** either: its record is marked
//! pending, and what it does (an endorsement's tally, a cancel's withdrawal of its target and
//! the target's versions and translations, a profile's or roster's place as the latest, an
//! update's or translation's place beside its target in [`Store::get`]) is applied by the
//! release, in the transaction that writes the release entry. A cancel under embargo does not
//! withdraw an original that arrives before its release. Withdrawn before its release (a
//! revocation, a cancel of its target), it never takes effect. What readers are told of the log
//! (the readers' head, [`Store::reader_head`], and [`Counts::embargoed`] to take off the
//! message count) does not move with an embargoed arrival either.
//! # Integrity
//!
//! Every body read from the body log is checked against its id before it is decoded
//! (`codec::decode_body`). A damaged or missing one is skipped by the read it is part of,
//! noted once ([`Store::integrity`], [`Store::wanted`]; see `damage.rs`), and replaced when a
//! peer gives a good copy ([`Store::repair`], a new seq). Writes that must read a body go on
//! past a damaged one. [`Store::check`] verifies the whole store offline and repairs what it
//! can (see `check.rs`).
//!
//! # Retention
//!
//! [`Store::expire`] removes messages whose expires_at has passed, with all their rows, and
//! leaves a tombstone (id → drop time) until `tombstone_keep` after the expiry, after which the
//! tombstone goes too. By then the message is refused as `expired` by validation anyway. Disk
//! use thus follows the live set, not the history.

mod backup;
mod bodies;
mod check;
mod codec;
mod commit;
mod damage;
mod error;
mod ids;
mod items;
mod key_state;
mod log_id;
mod maintain;
mod open;
mod read;
mod reads;
mod recent;
mod repair;
mod retry;
mod rows;
mod rules;
mod space;
mod writer;

#[cfg(test)]
pub(crate) mod tests;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use crate::message::{AuthorKey, Id, Kind, Message, Rejection, Tally, Timestamp};
pub use backup::{BackupReport, FULL_CHECK_MAX, copy_dir};
pub use check::{CheckReport, Finding};
use codec::Tree;
use commit::{Committer, Marker};
pub use damage::{Integrity, Wanted};
pub use error::StoreError;

pub use items::{ITEM_BYTES, ItemSet};
pub use key_state::{
    KeyCommitment, KeyCounts, KeyEnd, KeyState, NAME_HOPS, answers_to, day, key_note,
};
pub use log_id::{BACKUP_NOTE, BackupNote, LogId, PeerLog, backup_note_line, parse_backup_note};
pub use reads::{ReadLimits, ReadStats, Reads};
pub use recent::Back;
pub use repair::Repair;
pub use retry::{Keep, Pending, RetryChange, RetryCounts, RetryEntry, RetryLimits};
pub(crate) use rules::SUCCESSOR_HOPS;
pub use writer::Submitted;

/// Where and how the store keeps its data.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The data directory (created if absent).
    pub path: PathBuf,
    /// sled's page cache, in bytes: the bound on the store's memory for data.
    pub cache_bytes: u64,
    /// How long after a message's expiry its id is still remembered, so replays are refused.
    pub tombstone_keep: Duration,
    /// The size at which the body log starts a new segment file.
    pub segment_bytes: u64,
    /// Free space kept on the store's disk: new messages are refused (`unavailable`) while
    /// writing them would leave less (see `space.rs`). 0 turns the check off.
    pub reserve_bytes: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: PathBuf::from("./tocsin-data"),
            cache_bytes: 32 * 1024 * 1024,
            tombstone_keep: Duration::from_secs(30 * 24 * 3600),
            segment_bytes: 64 * 1024 * 1024,
            reserve_bytes: 64 * 1024 * 1024,
        }
    }
}

/// How accepted messages are made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CommitMode {
    /// Concurrent writers share flushes (the default, and what a node runs).
    #[default]
    Group,
    /// One flush per message, under the writer lock: the baseline the benchmark compares with.
    PerMessage,
}

/// Where a message came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A client of this node published it.
    Local,
    /// A peer's log brought it.
    Peer {
        /// The peer's name, as configured.
        peer: String,
        /// The peer's seq for this message: the follower's cursor advances to it (never back)
        /// in the same transaction, whatever the outcome (a duplicate or a refusal is done
        /// with too, so a follower does not fetch it again; a refusal that can change is kept
        /// in the retry set first). 0 moves no cursor: a message offered again.
        cursor: u64,
    },
}

/// What became of an insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Stored at this seq, durably.
    Accepted {
        /// The new log seq.
        seq: u64,
        /// Held back from readers until its hour: under embargo, or about a message that is
        /// (see `rules.rs`). Peers that prove who they are see it now.
        held: bool,
    },
    /// Already stored at this seq (durably, by the time this is returned).
    Duplicate {
        /// The seq it was first accepted at.
        seq: u64,
        /// Whether it is still held back from readers (see `Accepted`).
        held: bool,
    },
    /// Refused: `not-author`, `revoked-author`, `replayed`, `bad-reference` or `expired`.
    Refused(Rejection),
}

/// What the store knows of an id, before any signature is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Stored with its content, at this seq.
    Stored {
        /// The seq it was accepted at.
        seq: u64,
        /// Whether it is still held back from readers: under embargo, or about a message that
        /// is (released at its hour by the release task, not by the clock alone).
        held: bool,
    },
    /// Cancelled, withheld or expired here: its id is remembered so it cannot come back.
    Tombstone,
}

/// Who reads the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// Clients, the web page, feeds: embargoed messages only from their release.
    Reader,
    /// A node that says it is a peer but has not proved it (no client certificate): what a
    /// reader sees, less what came from that node.
    UnauthenticatedPeer {
        /// Skip what came from this peer.
        exclude_origin: String,
    },
    /// A peer's follower: embargoed messages at once.
    Peer {
        /// Skip what came from this peer (do not echo its own messages back to it).
        exclude_origin: Option<String>,
    },
}

/// One entry of a read.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The log seq.
    pub seq: u64,
    /// The message.
    pub message: Message,
}

/// Everything the store knows about one alert or call (or any message, with empty lists).
#[derive(Debug, Clone)]
pub struct MessageState {
    /// The message; `None` when cancelled or withheld.
    pub message: Option<Message>,
    /// The seq it was accepted at.
    pub seq: u64,
    /// Its kind, known even when the content is withdrawn.
    pub kind: Kind,
    /// Its author, known even when the content is withdrawn.
    pub author: AuthorKey,
    /// Its created_at, known even when the content is withdrawn (a CAP cancel cites it).
    pub created_at: Timestamp,
    /// The latest valid update, or the original; `None` when cancelled or withheld.
    pub current: Option<Message>,
    /// Valid updates (by the author or its successor), oldest first.
    pub updates: Vec<Id>,
    /// For a cancelled alert or call: the updates its cancel withdrew that readers had seen,
    /// oldest first (one still under embargo when cancelled is not named). Their content is
    /// gone, so they are not in `updates`; a CAP Cancel names them beside the original.
    pub withdrawn: Vec<WithdrawnVersion>,
    /// For an alert or call its cancel withdrew after readers had seen it: what they saw of
    /// the version current then (its countries, topics and calendar events). `None` otherwise,
    /// and for one cancelled before this was kept.
    pub shown: Option<ShownBeforeCancel>,
    /// Whether an authorised cancel withdrew it.
    pub cancelled: bool,
    /// Why it is withheld, in words, when its author's key ended before it was made (revoked,
    /// or rotated after a compromise); `None` otherwise.
    pub withheld: Option<String>,
    /// The cancel's reason (empty if none was given, or the cancel is gone).
    pub cancel_reason: String,
    /// Who endorsed it, one per author, oldest first.
    pub endorsers: Vec<Endorser>,
    /// Translations by other authors, oldest first.
    pub translations: Vec<Message>,
    /// What the organisations that reported on it did (each author's latest report in
    /// effect), against the current version's goals; empty when nobody reported.
    pub tally: Tally,
}

/// A version of an alert or call that its cancel withdrew: enough to name it (CAP's
/// `references`), nothing of its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WithdrawnVersion {
    /// The update's id.
    pub id: Id,
    /// Its author.
    pub author: AuthorKey,
    /// Its created_at (CAP's `sent`).
    pub created_at: Timestamp,
}

/// What readers had seen of an alert or call when its cancel withdrew it: enough for a
/// filtered CAP feed to carry the cancel where the original appeared, and for the calendar to
/// mark its events cancelled, nothing of its text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShownBeforeCancel {
    /// The countries of the version current at the cancel.
    pub countries: Vec<String>,
    /// Its topics.
    pub topics: Vec<String>,
    /// It was a call with a deadline.
    pub deadline: bool,
    /// It was a call with an action window (both ends).
    pub window: bool,
}

/// One endorsing author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endorser {
    /// The endorsing author.
    pub author: AuthorKey,
    /// Their statement (may be empty).
    pub statement: String,
    /// When they endorsed.
    pub created_at: Timestamp,
}

/// Sizes, for status and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// The durable head seq.
    pub head_seq: u64,
    /// The readers' head (see [`Store::reader_head`]): what readers may be told of the log.
    pub reader_head_seq: u64,
    /// Messages held with their content (those under embargo too).
    pub messages: u64,
    /// Of `messages`, those under embargo and not yet released: readers are shown
    /// `messages - embargoed`.
    pub embargoed: u64,
    /// Ids remembered without content (cancelled, withheld, expired).
    pub tombstones: u64,
    /// Action reports in effect for readers (released, not withdrawn or expired).
    pub reports: u64,
    /// sled's files, in bytes.
    pub disk_bytes: u64,
}

/// What a retention pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpireStats {
    /// Messages removed (tombstones left in their place).
    pub expired: usize,
    /// Tombstones forgotten.
    pub tombstones_dropped: usize,
    /// Messages released from embargo first (see [`Store::expire`]).
    pub released: usize,
}

/// The node's log. Cheap to clone: every clone is the same store.
#[derive(Debug, Clone)]
pub struct Store {
    shared: Arc<Shared>,
    /// What this process found when it opened the store (kept across the store's reopenings
    /// after a failed write, which find the same log).
    opened: Opened,
}

/// The log as this process opened it: what a follower is shown to tell whether the log went
/// back (see `log_id.rs`).
#[derive(Debug, Clone, Copy)]
struct Opened {
    log_id: LogId,
    head: u64,
    opening_id: u64,
}

/// What a store keeps while it is reopened after a failed write.
///
/// sled cannot go on after a write of its log fails (a disk that filled past the reserve, a
/// failing disk): every later operation, reads too, returns the error. So when a flush fails,
/// the store reopens itself: new callers are told `unavailable` meanwhile, the failed handle is
/// let go once its last user is done (its directory lock with it), and the directory is opened
/// again, recovering what was durable. Nothing acknowledged is touched: acknowledged means
/// flushed, and the open checks the durable head against the marker as at any start. After
/// such a failure the store keeps at least [`REOPENED_RESERVE`] free, so that a disk that is
/// still full refuses new messages instead of failing again.
#[derive(Debug)]
struct Shared {
    cfg: StoreConfig,
    mode: CommitMode,
    /// The open store; `None` while it is reopened, and after `close`.
    current: std::sync::RwLock<Option<Arc<Inner>>>,
    /// The durable head: the same watch across reopenings, so subscriptions keep waking.
    head: Arc<watch::Sender<u64>>,
    /// Set by `close`: no reopening after it.
    closed: std::sync::atomic::AtomicBool,
    /// Times the store reopened itself after a failed write.
    reopened: std::sync::atomic::AtomicU64,
    /// Damaged bodies found on read, and messages to fetch again: kept across reopenings.
    damage: Arc<damage::Damage>,
}

/// The free space a store keeps after it reopened itself following a failed write (unless
/// its configured reserve is larger).
const REOPENED_RESERVE: u64 = 16 * 1024 * 1024;

/// The sled trees, by [`Tree`].
#[derive(Debug)]
struct Trees {
    all: Vec<sled::Tree>,
}

impl Trees {
    fn get(&self, t: Tree) -> &sled::Tree {
        &self.all[t.index()]
    }
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    db: sled::Db,
    trees: Trees,
    tombstone_keep: Duration,
    mode: CommitMode,
    /// The writer lock: seq and generation assignment, and every write, go through it.
    writer: Mutex<writer::WriterState>,
    /// Group commit and the durable head.
    commit: Arc<Committer>,
    /// The marker holding the durable head (see [`Marker`]).
    marker: Arc<Marker>,
    /// The flusher thread; joined on close or drop.
    flusher: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Work for the writer thread; dropping it (with the store) ends that thread.
    jobs: Mutex<std::sync::mpsc::Sender<writer::Job>>,
    /// Recently read messages by seq (see `Inner::decode`).
    recent: Recent,
    /// Signatures and bodies (see `bodies.rs`).
    bodies: bodies::BodyLog,
    /// The ids with a record or tombstone, for lookups of new ids (see `ids.rs`).
    ids: Arc<ids::IdFilter>,
    /// The thread filling `ids` after an open that found no saved filter; joined (after it
    /// was told to stop) before the store lets go of its directory.
    filler: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The head this opening began at, and the messages retention removed since: what a start
    /// after this one would replay, for [`Store::close`]'s choice to write sled's snapshot.
    opened_at: u64,
    expired_since_open: std::sync::atomic::AtomicU64,
    /// Rosters released from embargo since this opening ([`Store::rosters_released`]).
    rosters_released: std::sync::atomic::AtomicU64,
    /// The free-space reserve (see `space.rs`).
    space: space::Space,
    /// Why the last write failed, until a write succeeds: with no free-space reserve, a full
    /// disk shows only here.
    write_failed: Mutex<Option<(std::io::ErrorKind, String)>>,
    /// The durable head last looked at by [`Store::reader_head`], and the readers' head then.
    reader_head: Mutex<(u64, u64)>,
    /// The log id, as the open found or made it (`open.rs`).
    log_id: LogId,
    /// Damaged bodies found on read, and messages to fetch again (see `damage.rs`); the
    /// store handle's, kept across reopenings.
    damage: Arc<damage::Damage>,
    /// What the retry set's bounds turned away (see `retry.rs`).
    retry: retry::Counters,
    /// The last item set made per view class, for set reconciliation (see `items.rs`).
    items: items::ItemCache,
    /// Peers whose cursor no transaction moves until their follower resumes
    /// ([`Store::resume_cursor`]): an insert carrying their entries failed, and an insert
    /// queued after it must not move the cursor past what failed.
    stalled: Mutex<std::collections::HashSet<String>>,
    /// Fails the next insert group (tests of the failure paths).
    #[cfg(test)]
    fail_next_insert: std::sync::atomic::AtomicBool,
    /// Fails the next transaction as sled does when its own write fails.
    #[cfg(test)]
    fail_next_apply: std::sync::atomic::AtomicBool,
}

/// How many decoded messages [`Recent`] keeps.
const RECENT: usize = 4096;

/// The most bytes of bodies [`Recent`] keeps (each counted twice: its bytes and what decoding
/// them made), so large messages cannot make the cache the node's largest use of memory.
const RECENT_BYTES: usize = 32 << 20;

/// A small cache of decoded messages by the seq of their body, oldest out first, bounded in
/// number and in bytes. A body that is deleted (cancel, revocation, expiry) is dropped from it
/// in the same write.
#[derive(Debug, Default)]
struct Recent {
    entries: Mutex<RecentEntries>,
}

#[derive(Debug, Default)]
struct RecentEntries {
    by_seq: std::collections::HashMap<u64, Message>,
    /// Insertion order, for eviction.
    order: std::collections::VecDeque<u64>,
    /// What the messages in `by_seq` cost, by [`Recent::cost`].
    bytes: usize,
}

impl Recent {
    fn lock(&self) -> std::sync::MutexGuard<'_, RecentEntries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cost(m: &Message) -> usize {
        m.signed().body().len() * 2
    }

    fn get(&self, seq: u64) -> Option<Message> {
        self.lock().by_seq.get(&seq).cloned()
    }

    fn put(&self, seq: u64, m: Message) {
        let mut e = self.lock();
        let cost = Recent::cost(&m);
        match e.by_seq.insert(seq, m) {
            Some(old) => e.bytes = e.bytes.saturating_sub(Recent::cost(&old)),
            None => e.order.push_back(seq),
        }
        e.bytes += cost;
        while e.order.len() > RECENT || (e.bytes > RECENT_BYTES && e.order.len() > 1) {
            if let Some(old) = e.order.pop_front()
                && let Some(m) = e.by_seq.remove(&old)
            {
                e.bytes = e.bytes.saturating_sub(Recent::cost(&m));
            }
        }
    }

    fn forget(&self, seq: u64) {
        // Its place in the order stays until it comes round; the map is what is read.
        let mut e = self.lock();
        if let Some(m) = e.by_seq.remove(&seq) {
            e.bytes = e.bytes.saturating_sub(Recent::cost(&m));
        }
    }
}

/// How long a clean close waits for the store's last users to let go before it has sled write
/// its recovery snapshot (see [`Store::close`]).
const SNAPSHOT_WAIT: Duration = Duration::from_secs(2);

impl Drop for Inner {
    fn drop(&mut self) {
        // Stop the flusher (it flushes what is wanted first) and the filling of the id
        // filter, so their clones of the database, and with them the directory lock, are
        // released before this returns.
        self.commit.stop();
        let handle = self.flusher.get_mut().map(Option::take).unwrap_or(None);
        if let Some(h) = handle {
            let _ = h.join();
        }
        self.stop_filling();
    }
}

impl Inner {
    /// Whether a clean close should have sled write its recovery snapshot: when the next start
    /// would spend longer replaying what this opening wrote (about 3.7 µs a message accepted or
    /// removed) than the close spends reading sled's page table to write it (about 0.4 µs a
    /// message held: 4 s at ten million), that is when the messages changed since the open
    /// come to an eighth of those held. A close with nothing changed writes none.
    fn snapshot_worth_writing(&self, last_seq: u64) -> bool {
        let changed = last_seq.saturating_sub(self.opened_at).saturating_add(
            self.expired_since_open
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        let held = self.counter(codec::meta::N_MESSAGES).unwrap_or(u64::MAX);
        changed > 0 && changed.saturating_mul(8) >= held
    }

    /// Stops the thread filling the id filter, if one runs, and waits for it.
    fn stop_filling(&self) {
        self.ids.abandon();
        let handle = self.filler.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }
}

impl Store {
    /// Opens (or creates) the store in `cfg.path` with group commit.
    pub fn open(cfg: &StoreConfig) -> Result<Store, StoreError> {
        Store::open_with(cfg, CommitMode::Group)
    }

    /// Opens with an explicit commit mode (the benchmark's flush-per-message baseline).
    pub fn open_with(cfg: &StoreConfig, mode: CommitMode) -> Result<Store, StoreError> {
        let shared = Arc::new(Shared {
            cfg: cfg.clone(),
            mode,
            current: std::sync::RwLock::new(None),
            head: Arc::new(watch::Sender::new(0)),
            closed: std::sync::atomic::AtomicBool::new(false),
            reopened: std::sync::atomic::AtomicU64::new(0),
            damage: Arc::new(damage::Damage::default()),
        });
        let inner = open::open_inner(&shared, cfg.reserve_bytes)?;
        let mut opening_id = [0u8; 8];
        getrandom::fill(&mut opening_id).map_err(|e| {
            StoreError::io(
                &cfg.path,
                std::io::Error::other(format!("no randomness: {e}")),
            )
        })?;
        let opened = Opened {
            log_id: inner.log_id,
            head: inner.commit.head(),
            opening_id: u64::from_be_bytes(opening_id),
        };
        *shared.write_current() = Some(Arc::new(inner));
        Ok(Store { shared, opened })
    }

    /// The log's identity: made when the store was created, kept across restarts, made anew
    /// when a restored backup is opened (see `log_id.rs`). A seq means something only within
    /// one log id.
    pub fn log_id(&self) -> LogId {
        self.opened.log_id
    }

    /// The durable head the store had when this process opened it. It stays the head of that
    /// first open when the store reopens itself after a failed write (which recovers the same
    /// log, never less than was durable), so it says where this process's part of the log
    /// begins.
    pub fn opened_head(&self) -> u64 {
        self.opened.head
    }

    /// A random id of this process's opening of the store (kept across its reopenings after a
    /// failed write): a follower whose cursor is past [`Store::opened_head`] knows the cursor
    /// is this process's progress, not an older copy's, when it was reached in this opening.
    pub fn opening_id(&self) -> u64 {
        self.opened.opening_id
    }
}

impl Shared {
    fn write_current(&self) -> std::sync::RwLockWriteGuard<'_, Option<Arc<Inner>>> {
        self.current.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Reopens the store after a failed flush, on a thread of its own (see [`Shared`]).
    fn reopen_later(shared: std::sync::Weak<Shared>) {
        let spawned = std::thread::Builder::new()
            .name("tocsin-store-reopen".into())
            .spawn(move || Shared::reopen(shared));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start reopening the store; restart the node");
        }
    }

    fn reopen(weak: std::sync::Weak<Shared>) {
        use std::sync::atomic::Ordering;
        let failed = {
            let Some(shared) = weak.upgrade() else {
                return;
            };
            let failed = shared.write_current().take();
            match failed {
                Some(f) => Arc::downgrade(&f),
                None => return,
            }
        };
        // The failed handle holds the directory lock until its last user lets go.
        let started = std::time::Instant::now();
        let mut warned = false;
        while failed.strong_count() > 0 {
            if weak
                .upgrade()
                .is_none_or(|s| s.closed.load(Ordering::Relaxed))
            {
                return;
            }
            if !warned && started.elapsed() > Duration::from_secs(30) {
                tracing::warn!("the failed store is still in use after 30 s; waiting to reopen it");
                warned = true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut delay = Duration::from_millis(100);
        loop {
            let Some(shared) = weak.upgrade() else {
                return;
            };
            if shared.closed.load(Ordering::Relaxed) {
                return;
            }
            let reserve = shared.cfg.reserve_bytes.max(REOPENED_RESERVE);
            match open::open_inner(&shared, reserve) {
                Ok(inner) => {
                    let head = inner.commit.head();
                    *shared.write_current() = Some(Arc::new(inner));
                    shared.reopened.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        dir = %shared.cfg.path.display(),
                        head,
                        reserve_mib = reserve / (1024 * 1024),
                        "the store reopened after a failed write: every acknowledged message is there; new messages are taken while the disk has room"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reopening the store failed; trying again");
                }
            }
            drop(shared);
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }
}

impl Store {
    /// The open store, or `unavailable` while it reopens after a failed write.
    fn inner(&self) -> Result<Arc<Inner>, StoreError> {
        let current = self
            .shared
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        current.ok_or_else(|| StoreError::Closed {
            dir: self.shared.cfg.path.clone(),
            detail: if self
                .shared
                .closed
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                String::new()
            } else {
                "reopening after a failed write".to_string()
            },
        })
    }

    /// Times the store reopened itself after a failed write since it was opened.
    pub fn reopened(&self) -> u64 {
        self.shared
            .reopened
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.shared.cfg.path
    }

    /// The durable head seq: every entry up to it is on disk.
    pub fn head(&self) -> u64 {
        *self.shared.head.borrow()
    }

    /// Whether the store can take new messages now: `Err` while its disk is below the
    /// free-space reserve ([`StoreError::Full`]), after a write to disk failed until one
    /// succeeds, or while the store reopens itself after sled's own write failed, with the
    /// reason.
    pub fn writable(&self) -> Result<(), StoreError> {
        let inner = self.inner()?;
        if let Some(e) = inner.commit.failure() {
            return Err(e);
        }
        if let Some((kind, detail)) = inner
            .write_failed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            // Its kind kept: a full disk is said as one (`StoreError::is_disk_full`).
            return Err(StoreError::Io {
                dir: inner.dir.clone(),
                source: std::io::Error::new(kind, format!("the last write failed: {detail}")),
            });
        }
        // Room for the largest message there can be, so that /healthz turns 503 as soon as
        // any message could be refused.
        let largest = crate::message::limits::MAX_BODY_BYTES as u64 + 64;
        inner.space.would_refuse(space::Space::needed(1, largest))
    }

    /// Bytes free on the store's disk, and the reserve kept there.
    pub fn space(&self) -> Result<(u64, u64), StoreError> {
        let inner = self.inner()?;
        Ok((inner.space.free()?, inner.space.reserve()))
    }

    /// Writes refused since the store opened because the disk was below the reserve.
    pub fn refused_for_space(&self) -> u64 {
        self.inner().map_or(0, |i| i.space.refused())
    }

    /// Messages this node should serve and cannot: bodies found damaged on read, and messages
    /// `tocsin node check --repair` dropped. Each waits for a good copy from a peer
    /// ([`Store::repair`], or ingest and [`Store::settle_wanted`]).
    pub fn wanted(&self) -> Vec<Wanted> {
        self.shared.damage.wanted()
    }

    /// A watch that changes whenever a message joins [`Store::wanted`].
    pub fn watch_wanted(&self) -> watch::Receiver<u64> {
        self.shared.damage.watch()
    }

    /// Damage found and repaired since the store opened, and what is waiting now.
    pub fn integrity(&self) -> Integrity {
        self.shared.damage.counts()
    }

    /// How many flushes (fsyncs) the store has done since it opened, for metrics.
    pub fn flushes(&self) -> u64 {
        self.inner().map_or(0, |i| i.commit.flushes())
    }

    /// A watch of the durable head; it changes whenever the head advances.
    pub fn watch_head(&self) -> watch::Receiver<u64> {
        self.shared.head.subscribe()
    }

    /// Flushes and stops the group-commit worker. Other clones of this store fail their
    /// writes with [`StoreError::Closed`] from then on. When this opening changed enough for it
    /// (`Inner::snapshot_worth_writing`) and once the store's last user has let go (waited for
    /// up to two seconds), sled is opened once more to write its recovery snapshot
    /// (`open::write_recovery_snapshot`), which takes about as long as a start would have spent
    /// reading the log written since this one began; the directory is released when that is
    /// done.
    pub async fn close(self) -> Result<(), StoreError> {
        self.shared
            .closed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let dir = self.dir().to_path_buf();
        let Some(inner) = self.shared.write_current().take() else {
            return Ok(());
        };
        drop(self);
        tokio::task::spawn_blocking(move || {
            let last_seq = inner.writer.lock().ok().map(|mut w| {
                w.closed = true;
                w.last_seq
            });
            let r = inner.db.flush().map(|_| ());
            inner.commit.stop();
            let handle = inner.flusher.lock().ok().and_then(|mut h| h.take());
            if let Some(h) = handle {
                let _ = h.join();
            }
            inner.stop_filling();
            // Every write is on disk and no more can come: the filter saved now is exactly
            // the store's, and spares the next open filling one (see `ids.rs`). Not saving it
            // costs only that.
            if let (Ok(()), Some(head)) = (&r, last_seq) {
                let store_id = inner.marker.store_id();
                if let Err(e) = inner.ids.save(&inner.dir, store_id, head) {
                    tracing::warn!(error = %e, "the filter of held ids was not saved; the next start fills it again");
                }
            }
            let dir = inner.dir.clone();
            r.map_err(|e| StoreError::sled(&dir, e))?;
            let worth = inner.snapshot_worth_writing(last_seq.unwrap_or(inner.opened_at));
            // Let go of sled (its lock with it), then have it write its recovery snapshot. A
            // read that outlived its caller, or a task past the shutdown grace, may still hold
            // the store for a moment: waited for briefly, else the next start does the work.
            let held = Arc::downgrade(&inner);
            drop(inner);
            if !worth {
                return Ok(());
            }
            let started = std::time::Instant::now();
            while held.strong_count() > 0 && started.elapsed() < SNAPSHOT_WAIT {
                std::thread::sleep(Duration::from_millis(10));
            }
            if held.strong_count() == 0 {
                open::write_recovery_snapshot(&dir);
            } else {
                tracing::debug!("the store is still in use; its recovery snapshot is left to the next start");
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Closed {
            dir,
            detail: format!("closing failed: {e}"),
        })?
    }
}
