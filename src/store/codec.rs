//! The on-disk layout: tree names, key shapes and record encodings (format 5).
//!
//! Every integer is big-endian so that keys sort numerically. Changing anything here is a new
//! store format: bump [`FORMAT`] and teach `open` to refuse (or migrate) the old one.
//!
//! Format 3 differs from format 2 only in the expiry rows (one per minute per transaction
//! instead of one per message); format 4 from format 3 only in the log rows (one per run of
//! seqs a transaction added, see [`LogRow`], instead of one per seq); format 5 from format 4
//! only in when an embargoed message's effects (tally, withdrawal, latest profile or roster)
//! are written: at its release, marked meanwhile by the record flag [`PENDING`] and counted
//! under `n_embargoed`. Each reads the older rows as they are, so an older store is marked 5
//! when opened and nothing is rewritten: a format 4 store's messages still under embargo had
//! their effects written on arrival, carry no [`PENDING`], and are released as they are. An
//! older program must not open a format 5 store: it would release a pending cancel without
//! withdrawing what it cancels.

use bytes::Bytes;

use super::ShownBeforeCancel;
use super::bodies::BodyRef;
use crate::message::{Id, Kind, Message, SignedMessage};

/// The store format this code reads and writes.
pub(super) const FORMAT: u32 = 5;

/// The older formats this code also reads (see above), upgraded in place on open.
pub(super) const FORMATS_UPGRADED: [u32; 3] = [2, 3, 4];

/// The trees of the store. The discriminant is the position in `Trees::all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Tree {
    /// `format`, `store_id`, `last_seq`, counters.
    Meta,
    /// id → [`Record`] (small: a header).
    Msgs,
    /// body segment → [`SegRow`](super::bodies::SegRow): its live bytes and seq range (the
    /// bodies themselves are in the body log, see `bodies.rs`).
    Segs,
    /// first seq → the [`LogEntry`]s of a run of seqs (see [`LogRow`]); rows of formats 2 and 3,
    /// seq → one [`LogEntry`], are read too.
    Log,
    /// id → drop_at: ids remembered after their message was removed.
    Tombs,
    /// drop_at ‖ id → (): when each tombstone may go.
    TombGc,
    /// minute ‖ first seq → (expires_at ‖ id)*: retention's work list, one row per minute of
    /// expiry per write transaction (see [`expiry_key`]); rows of format 2, expires_at ‖ id →
    /// (), are read too.
    Expiry,
    /// effective_at ‖ id → (): embargoed messages not yet released to readers.
    Embargo,
    /// author(32) ‖ first seq → seqs (see [`index_prefixes`]).
    IAuthor,
    /// kind tag ‖ first seq → seqs.
    IKind,
    /// topic ‖ 0 ‖ first seq → seqs.
    ITopic,
    /// country ‖ 0 ‖ first seq → seqs.
    ICountry,
    /// language (lower case) ‖ 0 ‖ first seq → seqs.
    ILang,
    /// target ‖ kind tag ‖ id → author(32) ‖ created_at: everything that names a message,
    /// whether or not that message is here yet (pending references are just these rows).
    Refs,
    /// target ‖ author → endorsement id: the one endorsement per author that counts.
    Endorse,
    /// target → count (u64).
    Tally,
    /// kind tag ‖ author ‖ created_at ‖ id → (): profiles and rosters by age.
    Latest,
    /// author → revoked_from ‖ revocation id ‖ [successor(32) [‖ rotation id(32)]]: where the
    /// key ends (the earliest time any revocation or valid rotation of it reaches), who carries
    /// on, and the rotation in force, if one is.
    Revoked,
    /// peer name → the peer's seq up to which we hold its log.
    Cursors,
    /// id → a refusal kept for another try (`retry.rs`): its peer, reason, times and the
    /// signed bytes, verbatim. Added beside format 4 (a program without it ignores it).
    Retry,
    /// not_before ‖ id → (): the retry set in the order its entries come due.
    RetryDue,
    /// peer → count (u64): entries of the retry set per peer, for its bound.
    RetryPeers,
    /// peer → the peer's log its cursor belongs to ([`PeerLog`](super::PeerLog): log id ‖
    /// opening id). Added beside format 4 (a program without it ignores it); a cursor without
    /// one is from before it.
    PeerLogs,
    /// key ‖ created_at ‖ id → recovery digest(32) ‖ by_rotation(1): a key's recovery
    /// commitments, earliest first (the first is in force). `id` is the commitment's, or the
    /// rotation's that committed a successor (by_rotation 1). Added beside format 4.
    Commitments,
    /// compromised key ‖ rotation id → [`RotationRow`]: every rotation naming the key, valid
    /// or not yet (its recovery key matches no commitment held). Added beside format 4.
    Rotations,
    /// successor ‖ predecessor → (): which key a key carries on for (a rotation in force, or
    /// a revocation naming it). Added beside format 4.
    Successors,
    /// original ‖ created_at ‖ update id → author(32): for a cancelled alert or call, the
    /// updates its cancel withdrew that readers had seen (see [`withdrawn_key`]). The cancel
    /// removes their reference rows with their content; a CAP Cancel still names them. Added
    /// beside format 5 (a program without it ignores it; an older store simply has none).
    Withdrawn,
    /// original → [`ShownBeforeCancel`] (see [`encode_shown`]): for an alert or call a cancel
    /// withdrew after readers had seen it, the countries, topics and calendar events of the
    /// version they saw, so that a filtered CAP feed and the calendar still carry the cancel
    /// after the content went (and after a restart). Added beside format 5 (a program without
    /// it ignores it; an older store simply has none).
    Shown,
    /// first seq → the newest `created_at` (u64) of every alert, call and update placed in
    /// the log (an acceptance, a release, a repair's entry) below the next row's key, or below
    /// the head for the last row: a bound readers walking back from the head stop by (see
    /// `Rows::settle_newest`). One row per minute of that newest time at most, written only
    /// when it grows; a row goes 400 days after a newer one. Added beside format 5 (a program
    /// without it ignores it, and what it places is not covered: the bound may then be too
    /// low, and a walk stops where it did before the bound; an older store has rows only from
    /// its first write after an upgrade).
    Newest,
}

impl Tree {
    /// Every tree, in discriminant order.
    pub(super) const ALL: [Tree; 29] = [
        Tree::Meta,
        Tree::Msgs,
        Tree::Segs,
        Tree::Log,
        Tree::Tombs,
        Tree::TombGc,
        Tree::Expiry,
        Tree::Embargo,
        Tree::IAuthor,
        Tree::IKind,
        Tree::ITopic,
        Tree::ICountry,
        Tree::ILang,
        Tree::Refs,
        Tree::Endorse,
        Tree::Tally,
        Tree::Latest,
        Tree::Revoked,
        Tree::Cursors,
        Tree::Retry,
        Tree::RetryDue,
        Tree::RetryPeers,
        Tree::PeerLogs,
        Tree::Commitments,
        Tree::Rotations,
        Tree::Successors,
        Tree::Withdrawn,
        Tree::Shown,
        Tree::Newest,
    ];

    /// The sled tree name.
    pub(super) fn name(self) -> &'static str {
        match self {
            Tree::Meta => "meta",
            Tree::Msgs => "msgs",
            Tree::Segs => "segs",
            Tree::Log => "log",
            Tree::Tombs => "tombs",
            Tree::TombGc => "tomb_gc",
            Tree::Expiry => "expiry",
            Tree::Embargo => "embargo",
            Tree::IAuthor => "i_author",
            Tree::IKind => "i_kind",
            Tree::ITopic => "i_topic",
            Tree::ICountry => "i_country",
            Tree::ILang => "i_lang",
            Tree::Refs => "refs",
            Tree::Endorse => "endorse",
            Tree::Tally => "tally",
            Tree::Latest => "latest",
            Tree::Revoked => "revoked",
            Tree::Cursors => "cursors",
            Tree::Retry => "retry",
            Tree::RetryDue => "retry_due",
            Tree::RetryPeers => "retry_peers",
            Tree::PeerLogs => "peer_logs",
            Tree::Commitments => "commitments",
            Tree::Rotations => "rotations",
            Tree::Successors => "successors",
            Tree::Withdrawn => "withdrawn",
            Tree::Shown => "shown",
            Tree::Newest => "newest",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// Meta keys.
pub(super) mod meta {
    pub(in crate::store) const FORMAT: &[u8] = b"format";
    pub(in crate::store) const STORE_ID: &[u8] = b"store_id";
    pub(in crate::store) const LAST_SEQ: &[u8] = b"last_seq";
    pub(in crate::store) const N_MESSAGES: &[u8] = b"n_messages";
    pub(in crate::store) const N_TOMBSTONES: &[u8] = b"n_tombstones";
    /// Records flagged [`PENDING`](super::PENDING): held, under embargo, not yet released.
    pub(in crate::store) const N_EMBARGOED: &[u8] = b"n_embargoed";
    /// Action reports in effect for readers: held with their content and released. Absent
    /// (0) in a store from before reports, which holds none.
    pub(in crate::store) const N_REPORTS: &[u8] = b"n_reports";
    /// Ids (32 bytes each) that `tocsin node check --repair` dropped as damaged, to fetch again
    /// from a peer (see `damage.rs`). Absent when there are none; older programs ignore it.
    pub(in crate::store) const REFETCH: &[u8] = b"refetch";
    pub(in crate::store) const N_RETRY: &[u8] = b"n_retry";
    /// The log id (16 bytes, see `log_id.rs`). Stores from before it get one on open.
    pub(in crate::store) const LOG_ID: &[u8] = b"log_id";
    /// After a restored backup was opened: the log id the copy had, and the head it held (8
    /// bytes, big-endian). For status and the operator's log only.
    pub(in crate::store) const RESTORED_FROM_LOG: &[u8] = b"restored_from_log";
    pub(in crate::store) const RESTORED_AT_HEAD: &[u8] = b"restored_at_head";
}

/// `n` as 8 big-endian bytes: keys sort numerically, and every integer stored is written so.
pub(super) fn big_endian(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// Reads a big-endian u64 from exactly 8 bytes.
pub(super) fn read_u64(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

/// An index row's value: the seqs it lists, ascending, 8 bytes each. `None` when malformed.
pub(super) fn postings(v: &[u8]) -> Option<Vec<u64>> {
    if v.is_empty() || !v.len().is_multiple_of(8) {
        return None;
    }
    v.chunks_exact(8).map(read_u64).collect()
}

/// A transaction's new seqs join a prefix's last index row while it then lists at most this
/// many (128 bytes); more start a row of their own, of any length.
pub(super) const POSTINGS_JOIN_MAX: usize = 16;

/// Packs seqs into an index row's value.
pub(super) fn pack_postings(seqs: &[u64]) -> Vec<u8> {
    seqs.iter().flat_map(|s| s.to_be_bytes()).collect()
}

/// `a ‖ b`.
pub(super) fn concat(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        v.extend_from_slice(p);
    }
    v
}

/// `time ‖ id`, for the time-ordered work lists (expiry, embargo, tombstone collection).
pub(super) fn time_id(t: u64, id: &Id) -> Vec<u8> {
    concat(&[&big_endian(t), id.as_bytes()])
}

/// Expiry rows group the messages of one write transaction that expire in the same minute:
/// the key is the minute's start (in milliseconds, like every time here) and the seq of the
/// first message in the row, the value `(expires_at ‖ id)*`. Retention takes a row whose
/// minute has begun and puts back what in it is not due yet.
pub(super) const EXPIRY_MINUTE: u64 = 60_000;

/// The start of the minute `expires_at` falls in: the expiry row it goes to.
pub(super) fn expiry_minute(expires_at: u64) -> u64 {
    expires_at - expires_at % EXPIRY_MINUTE
}

/// The key of an expiry row (16 bytes; format 2's rows are 40).
pub(super) fn expiry_key(minute: u64, first_seq: u64) -> Vec<u8> {
    concat(&[&big_endian(minute), &big_endian(first_seq)])
}

/// The `(expires_at, id)` entries of an expiry row (`None` if the row is unreadable); a
/// format 2 row is one entry, held by its key.
pub(super) fn expiries(k: &[u8], v: &[u8]) -> Option<Vec<(u64, Id)>> {
    if k.len() == 40 {
        return split_time_id(k).map(|e| vec![e]);
    }
    if k.len() != 16 || v.is_empty() || !v.len().is_multiple_of(40) {
        return None;
    }
    v.chunks_exact(40).map(split_time_id).collect()
}

/// Splits a `time ‖ id` key.
pub(super) fn split_time_id(k: &[u8]) -> Option<(u64, Id)> {
    if k.len() != 40 {
        return None;
    }
    Some((read_u64(&k[..8])?, Id::from_slice(&k[8..])?))
}

/// The index prefixes of a message: the (index tree, value) pairs it is listed under.
pub(super) type Prefixes = Vec<(Tree, Vec<u8>)>;

/// The index prefixes of a message: one per (tree, value) it is listed under.
///
/// An index row is `prefix ‖ seq` → seqs (8 bytes each, ascending) listed under that prefix,
/// keyed by the first of them. A write transaction's seqs for one prefix join the prefix's
/// last row while it stays within [`POSTINGS_JOIN_MAX`], and make a row of their own
/// otherwise. A group of messages written together thus costs one row per distinct value, not
/// one per message and value, and single messages share rows too; the rows of one prefix hold
/// disjoint, ascending runs of seqs, so the row that can hold a seq is the last one keyed at or
/// before it.
pub(super) fn index_prefixes(msg: &Message) -> Prefixes {
    let body = msg.body();
    let mut out = vec![
        (Tree::IAuthor, body.author.as_bytes().to_vec()),
        (Tree::IKind, vec![body.kind().tag()]),
    ];
    for t in &body.topics {
        out.push((Tree::ITopic, concat(&[t.as_bytes(), &[0]])));
    }
    for c in &body.countries {
        out.push((Tree::ICountry, concat(&[c.as_bytes(), &[0]])));
    }
    let mut langs: Vec<String> = body
        .info()
        .iter()
        .map(|i| i.language.to_ascii_lowercase())
        .collect();
    langs.sort();
    langs.dedup();
    for l in langs {
        out.push((Tree::ILang, concat(&[l.as_bytes(), &[0]])));
    }
    out.sort();
    out.dedup();
    out
}

/// `target ‖ kind tag`: where the references of one kind to `target` are.
pub(super) fn reference_prefix(target: &Id, kind: Kind) -> Vec<u8> {
    concat(&[target.as_bytes(), &[kind.tag()]])
}

/// `target ‖ kind tag ‖ id`: the key of the reference row of message `id`, of `kind`, naming
/// `target`.
pub(super) fn reference_key(target: &Id, kind: Kind, id: &Id) -> Vec<u8> {
    concat(&[target.as_bytes(), &[kind.tag()], id.as_bytes()])
}

/// A reference row: a message (an update, cancel, endorsement or translation) naming a target,
/// whether or not the target is here yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reference {
    /// The message that names the target.
    pub(super) id: Id,
    /// Its author.
    pub(super) author: [u8; 32],
    /// Its created_at.
    pub(super) created_at: u64,
}

impl Reference {
    /// `author ‖ created_at`.
    pub(super) fn encode_value(&self) -> Vec<u8> {
        concat(&[&self.author, &big_endian(self.created_at)])
    }

    /// A reference row's key and value; `None` when either is malformed.
    pub(super) fn decode(key: &[u8], value: &[u8]) -> Option<Self> {
        if key.len() != 65 || value.len() != 40 {
            return None;
        }
        Some(Reference {
            id: Id::from_slice(&key[33..])?,
            author: value[..32].try_into().ok()?,
            created_at: read_u64(&value[32..])?,
        })
    }
}

/// `original ‖ created_at ‖ id`: the key of the row naming update `id` (made at `created_at`)
/// among the versions the cancel of `original` withdrew, oldest first.
pub(super) fn withdrawn_key(original: &Id, created_at: u64, id: &Id) -> Vec<u8> {
    concat(&[original.as_bytes(), &big_endian(created_at), id.as_bytes()])
}

/// A row of [`Tree::Withdrawn`], as a [`Reference`] to the original (the update's id, author
/// and created_at); `None` when its key or value is malformed.
pub(super) fn decode_withdrawn(key: &[u8], value: &[u8]) -> Option<Reference> {
    if key.len() != 72 {
        return None;
    }
    Some(Reference {
        id: Id::from_slice(&key[40..])?,
        author: value.try_into().ok()?,
        created_at: read_u64(&key[32..40])?,
    })
}

/// A row of [`Tree::Shown`]: format 1, then a byte of calendar events (1: a deadline, 2: an
/// action window), then the countries and the topics, each as a u16 count of u16-length
/// strings (big-endian).
pub(super) fn encode_shown(s: &ShownBeforeCancel) -> Vec<u8> {
    let mut out = vec![1, u8::from(s.deadline) | (u8::from(s.window) << 1)];
    for list in [&s.countries, &s.topics] {
        let n = list.len().min(usize::from(u16::MAX));
        out.extend_from_slice(&(n as u16).to_be_bytes());
        for item in &list[..n] {
            let b = &item.as_bytes()[..item.len().min(usize::from(u16::MAX))];
            out.extend_from_slice(&(b.len() as u16).to_be_bytes());
            out.extend_from_slice(b);
        }
    }
    out
}

/// A row of [`Tree::Shown`]; `None` when it is malformed.
pub(super) fn decode_shown(v: &[u8]) -> Option<ShownBeforeCancel> {
    fn u16_at(v: &[u8], at: &mut usize) -> Option<usize> {
        let b = v.get(*at..*at + 2)?;
        *at += 2;
        Some(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    let [1, events] = *v.first_chunk::<2>()? else {
        return None;
    };
    let mut at = 2;
    let mut lists = [Vec::new(), Vec::new()];
    for list in &mut lists {
        for _ in 0..u16_at(v, &mut at)? {
            let len = u16_at(v, &mut at)?;
            let s = std::str::from_utf8(v.get(at..at + len)?).ok()?;
            at += len;
            list.push(s.to_string());
        }
    }
    if at != v.len() || events > 3 {
        return None;
    }
    let [countries, topics] = lists;
    Some(ShownBeforeCancel {
        countries,
        topics,
        deadline: events & 1 != 0,
        window: events & 2 != 0,
    })
}

/// `target ‖ author`: the key of the endorsement row that counts for `author` in `target`'s
/// tally.
pub(super) fn endorsement_key(target: &Id, author: &[u8; 32]) -> Vec<u8> {
    concat(&[target.as_bytes(), author])
}

/// `kind tag ‖ author ‖ created_at ‖ id`: the key of a profile's or roster's row among its
/// author's, by age.
pub(super) fn latest_key(kind: Kind, author: &[u8; 32], created_at: u64, id: &Id) -> Vec<u8> {
    concat(&[
        &[kind.tag()],
        author,
        &big_endian(created_at),
        id.as_bytes(),
    ])
}

/// Record flag: an authorised cancel withdrew the content.
pub(super) const CANCELLED: u8 = 1;
/// Record flag: the author's key was revoked from before this message was made.
pub(super) const WITHHELD: u8 = 2;
/// Record flag: under embargo and not yet released. Peers have it; for readers it has no
/// effect yet (no tally, no withdrawal, no latest profile or roster, no version or
/// translation of its target): the release applies them (format 5 on; see above).
pub(super) const PENDING: u8 = 4;

/// Fixed part of a record: flags, kind, seq, release seq, created_at, expires_at, author.
const HEADER: usize = 1 + 1 + 8 + 8 + 8 + 8 + 32;

/// What the store keeps per id in `msgs`.
///
/// While the content is held, the signature and body are in `bodies` under `seq`. A cancelled
/// or withheld record has lost them (the content may have exposed someone) but keeps this
/// header, so the id stays known, its author can still be checked, and retention still knows
/// when to forget it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    pub(super) flags: u8,
    pub(super) kind: Kind,
    /// The log seq it was accepted at (and the key of its body).
    pub(super) seq: u64,
    /// The log seq of its embargo release entry, 0 if none.
    pub(super) release: u64,
    pub(super) created_at: u64,
    /// 0: never (a revocation).
    pub(super) expires_at: u64,
    pub(super) author: [u8; 32],
    /// The cancel that withdrew it (when `CANCELLED`).
    pub(super) cancel: Option<Id>,
}

impl Record {
    /// A fresh record for an accepted message.
    pub(super) fn new(msg: &Message, seq: u64) -> Self {
        let body = msg.body();
        Record {
            flags: 0,
            kind: body.kind(),
            seq,
            release: 0,
            created_at: body.created_at.0,
            expires_at: body.expires_at.map_or(0, |t| t.0),
            author: *body.author.as_bytes(),
            cancel: None,
        }
    }

    /// Whether the content is held (in `bodies`).
    pub(super) fn has_content(&self) -> bool {
        self.flags & (CANCELLED | WITHHELD) == 0
    }

    /// Whether it waits for its embargo release before it has any effect for readers.
    pub(super) fn pending(&self) -> bool {
        self.flags & PENDING != 0
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER + 32);
        v.push(self.flags);
        v.push(self.kind.tag());
        v.extend_from_slice(&big_endian(self.seq));
        v.extend_from_slice(&big_endian(self.release));
        v.extend_from_slice(&big_endian(self.created_at));
        v.extend_from_slice(&big_endian(self.expires_at));
        v.extend_from_slice(&self.author);
        if let Some(c) = &self.cancel {
            v.extend_from_slice(c.as_bytes());
        }
        v
    }

    pub(super) fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != HEADER && b.len() != HEADER + 32 {
            return None;
        }
        let u = |at: usize| read_u64(&b[at..at + 8]);
        Some(Record {
            flags: b[0],
            kind: Kind::from_tag(b[1])?,
            seq: u(2)?,
            release: u(10)?,
            created_at: u(18)?,
            expires_at: u(26)?,
            author: b[34..66].try_into().ok()?,
            cancel: if b.len() == HEADER + 32 {
                Some(Id::from_slice(&b[HEADER..])?)
            } else {
                None
            },
        })
    }

    /// This record with its content withdrawn (the caller removes the body). It is no longer
    /// pending: withdrawn content is never released.
    pub(super) fn stripped(&self, flag: u8, cancel: Option<Id>) -> Self {
        Record {
            flags: (self.flags | flag) & !PENDING,
            cancel: if flag == CANCELLED { cancel } else { None },
            ..self.clone()
        }
    }
}

/// What the body log holds for a message: signature ‖ body bytes, verbatim.
pub(super) fn body_parts(msg: &Message) -> [&[u8]; 2] {
    [msg.signed().signature(), msg.signed().body()]
}

/// Rebuilds a message from what the body log holds for it, checking the body against its id
/// first: a flipped bit on disk must never be served (DESIGN.md, Invariants). A SHA-256 is
/// cheap next to a signature, so it is done on every read; the signature, verified on the way
/// in, is not verified again here (`tocsin node check` does). An `Err` is damage: the caller
/// skips the entry and reports it (see `damage.rs`).
pub(super) fn decode_body(id: Id, v: &[u8]) -> Result<Message, String> {
    if v.len() < 64 {
        return Err("the stored signature is cut short".to_string());
    }
    let (sig, body) = v.split_at(64);
    let sig: [u8; 64] = sig
        .try_into()
        .map_err(|_| "bad signature length".to_string())?;
    if Id::of(body) != id {
        return Err("the stored body does not hash to its id".to_string());
    }
    let signed = SignedMessage::from_trusted_parts(Bytes::copy_from_slice(body), sig, id);
    Message::from_store(signed).map_err(|r| format!("the stored body does not decode: {r}"))
}

/// Log entry type: the message as accepted.
pub(super) const ACCEPTED: u8 = 1;
/// Log entry type: an embargoed message's release to readers.
pub(super) const RELEASED: u8 = 2;

/// One log seq: which message, why it is here, where it came from, and (for the entry that
/// accepted it) where its body is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LogEntry {
    /// [`ACCEPTED`] or [`RELEASED`].
    pub(super) what: u8,
    /// Under embargo when accepted: readers see it only at its release entry.
    pub(super) embargoed: bool,
    pub(super) id: Id,
    /// Where the signature and body are: on every [`ACCEPTED`] entry, on no release entry.
    pub(super) body: Option<BodyRef>,
    /// The peer it came from; empty when local (or for a release entry).
    pub(super) origin: Vec<u8>,
}

impl LogEntry {
    /// The entry of a message accepted (or placed again by a repair) with its body at `body`,
    /// from the peer `origin` (empty: local).
    pub(super) fn accepted(id: Id, body: BodyRef, embargoed: bool, origin: Vec<u8>) -> Self {
        LogEntry {
            what: ACCEPTED,
            embargoed,
            id,
            body: Some(body),
            origin,
        }
    }

    /// Whether readers see the message at this entry: an acceptance not under embargo, or a
    /// release.
    pub(super) fn for_readers(&self) -> bool {
        self.what == RELEASED || (self.what == ACCEPTED && !self.embargoed)
    }

    /// `what ‖ embargoed ‖ id ‖ body ref (accepted only) ‖ origin`.
    pub(super) fn encode(&self) -> Vec<u8> {
        let body = self.body.map(|b| b.encode());
        concat(&[
            &[self.what, u8::from(self.embargoed)],
            self.id.as_bytes(),
            body.as_ref().map_or(&[][..], |b| &b[..]),
            &self.origin,
        ])
    }

    pub(super) fn decode(b: &[u8]) -> Option<Self> {
        if b.len() < 34 || !matches!(b[0], ACCEPTED | RELEASED) || b[1] > 1 {
            return None;
        }
        let (body, origin) = if b[0] == ACCEPTED {
            let r = b.get(34..34 + BodyRef::SIZE)?;
            (Some(BodyRef::decode(r)?), &b[34 + BodyRef::SIZE..])
        } else {
            (None, &b[34..])
        };
        Some(LogEntry {
            what: b[0],
            embargoed: b[1] == 1,
            id: Id::from_slice(&b[2..34])?,
            body,
            origin: origin.to_vec(),
        })
    }
}

/// The first byte of a log row holding a run of entries (a lone [`LogEntry`] of an older
/// format starts with [`ACCEPTED`] or [`RELEASED`]).
const LOG_RUN: u8 = 0xC4;

/// At most this many entries in one log row: rewriting a row to withdraw one entry, or finding
/// one entry in it, stays cheap.
pub(super) const LOG_ROW_MAX: usize = 256;

/// A log row: the entries of a run of seqs, keyed by the first. A write transaction adds its
/// new seqs as one row (or a few, [`LOG_ROW_MAX`] each), so a message costs a share of one row
/// instead of a row of its own. A row keyed `k` holds seqs from `k` up to the next row's key;
/// an entry taken out of it (a withdrawal) leaves the key as it is.
///
/// `LOG_RUN ‖ (varint seq − k ‖ varint len ‖ entry)*`; a row of format 2 or 3 is one bare
/// entry, its seq the key.
pub(super) struct LogRow<'a> {
    key: u64,
    /// What is left to read; `None` once done or malformed.
    rest: Option<&'a [u8]>,
    /// A bare entry of an older format.
    bare: bool,
}

impl<'a> LogRow<'a> {
    pub(super) fn new(key: u64, v: &'a [u8]) -> Self {
        match v.split_first() {
            Some((&LOG_RUN, rest)) => LogRow {
                key,
                rest: Some(rest),
                bare: false,
            },
            _ => LogRow {
                key,
                rest: Some(v),
                bare: true,
            },
        }
    }

    /// Encodes entries, seqs ascending from `key`.
    pub(super) fn encode<E: AsRef<[u8]>>(key: u64, entries: &[(u64, E)]) -> Vec<u8> {
        let mut v = vec![LOG_RUN];
        for (seq, e) in entries {
            let e = e.as_ref();
            prost::encoding::encode_varint(seq - key, &mut v);
            prost::encoding::encode_varint(e.len() as u64, &mut v);
            v.extend_from_slice(e);
        }
        v
    }

    /// The bytes of the entry at `seq`: `Some(None)` if the row does not hold it, `None` if the
    /// row is unreadable.
    pub(super) fn find(self, seq: u64) -> Option<Option<&'a [u8]>> {
        for e in self {
            let (s, bytes) = e?;
            if s == seq {
                return Some(Some(bytes));
            }
            if s > seq {
                break;
            }
        }
        Some(None)
    }
}

/// Each entry's seq and bytes; an unreadable row yields one `None` and stops.
impl<'a> Iterator for LogRow<'a> {
    type Item = Option<(u64, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut rest = self.rest.take()?;
        if self.bare {
            return Some(Some((self.key, rest)));
        }
        if rest.is_empty() {
            return None;
        }
        let mut entry = || {
            let delta = prost::encoding::decode_varint(&mut rest).ok()?;
            let len = usize::try_from(prost::encoding::decode_varint(&mut rest).ok()?).ok()?;
            let bytes = rest.get(..len)?;
            rest = &rest[len..];
            Some((self.key.checked_add(delta)?, bytes))
        };
        let e = entry();
        if e.is_some() {
            self.rest = Some(rest);
        }
        Some(e)
    }
}

/// Where a key ends: the revocation or rotation in force for an author.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Revoked {
    /// Its messages created at or after this time are refused and withheld.
    pub(super) from: u64,
    /// The revocation or rotation that set `from`.
    pub(super) id: Id,
    /// The key that carries on: the rotation in force's successor, or else the revocation's.
    pub(super) successor: Option<[u8; 32]>,
    /// The rotation in force (signed by the recovery key of the commitment in force), if any.
    /// Only with a successor (every rotation names one).
    pub(super) rotation: Option<Id>,
}

impl Revoked {
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut v = concat(&[&big_endian(self.from), self.id.as_bytes()]);
        if let Some(s) = &self.successor {
            v.extend_from_slice(s);
            if let Some(r) = &self.rotation {
                v.extend_from_slice(r.as_bytes());
            }
        }
        v
    }

    pub(super) fn decode(b: &[u8]) -> Option<Self> {
        if !matches!(b.len(), 40 | 72 | 104) {
            return None;
        }
        Some(Revoked {
            from: read_u64(&b[..8])?,
            id: Id::from_slice(&b[8..40])?,
            successor: if b.len() >= 72 {
                Some(b[40..72].try_into().ok()?)
            } else {
                None
            },
            rotation: if b.len() == 104 {
                Some(Id::from_slice(&b[72..104])?)
            } else {
                None
            },
        })
    }
}

/// One recovery commitment of a key (a row of [`Tree::Commitments`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Committed {
    pub(super) created_at: u64,
    /// The commitment message, or the rotation that committed the key as a successor.
    pub(super) id: Id,
    pub(super) digest: [u8; 32],
    /// Made by a rotation (for its successor), not by the key's own commitment message.
    pub(super) by_rotation: bool,
}

impl Committed {
    pub(super) fn key(&self, key: &[u8; 32]) -> Vec<u8> {
        Committed::key_of(key, self.created_at, &self.id)
    }

    /// The row key of `key`'s commitment `id`, made at `created_at`.
    pub(super) fn key_of(key: &[u8; 32], created_at: u64, id: &Id) -> Vec<u8> {
        concat(&[key, &big_endian(created_at), id.as_bytes()])
    }

    pub(super) fn encode_value(&self) -> Vec<u8> {
        concat(&[&self.digest, &[u8::from(self.by_rotation)]])
    }

    /// From a row keyed `key ‖ created_at ‖ id`.
    pub(super) fn decode(k: &[u8], v: &[u8]) -> Option<Self> {
        if k.len() != 72 || v.len() != 33 {
            return None;
        }
        Some(Committed {
            created_at: read_u64(&k[32..40])?,
            id: Id::from_slice(&k[40..72])?,
            digest: v[..32].try_into().ok()?,
            by_rotation: v[32] == 1,
        })
    }
}

/// One rotation naming a key (a row of [`Tree::Rotations`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RotationRow {
    pub(super) id: Id,
    /// The recovery key that signed it.
    pub(super) recovery: [u8; 32],
    pub(super) since: u64,
    pub(super) created_at: u64,
    pub(super) successor: [u8; 32],
    pub(super) successor_digest: [u8; 32],
}

impl RotationRow {
    /// The row of rotation `id`, whose body is `body`.
    pub(super) fn of(id: Id, body: &crate::message::Body, r: &crate::message::Rotation) -> Self {
        RotationRow {
            id,
            recovery: *body.author.as_bytes(),
            since: r.compromised_since.0,
            created_at: body.created_at.0,
            successor: *r.successor.as_bytes(),
            successor_digest: r.successor_recovery_digest,
        }
    }

    pub(super) fn key(&self, compromised: &[u8; 32]) -> Vec<u8> {
        concat(&[compromised, self.id.as_bytes()])
    }

    pub(super) fn encode_value(&self) -> Vec<u8> {
        concat(&[
            &self.recovery,
            &big_endian(self.since),
            &big_endian(self.created_at),
            &self.successor,
            &self.successor_digest,
        ])
    }

    /// From a row keyed `compromised ‖ id`.
    pub(super) fn decode(k: &[u8], v: &[u8]) -> Option<Self> {
        if k.len() != 64 || v.len() != 112 {
            return None;
        }
        Some(RotationRow {
            id: Id::from_slice(&k[32..64])?,
            recovery: v[..32].try_into().ok()?,
            since: read_u64(&v[32..40])?,
            created_at: read_u64(&v[40..48])?,
            successor: v[48..80].try_into().ok()?,
            successor_digest: v[80..112].try_into().ok()?,
        })
    }
}
