//! The protocol's rules as the store applies them (DESIGN.md, "Kinds and their semantics"; the
//! store's module docs say them in full): dedup, who may update or cancel, pending references,
//! revocation and withholding, embargo, tallies, retention.
//!
//! Each rule reads and plans rows through a [`Rows`] view, never sled: the writer runs them
//! against the trees, and the tests below against [`Memory`](super::rows::Memory). Adding a
//! message kind means its model in `message/`, its rule here, its rows in `rows.rs` and
//! `codec.rs`.

use tracing::warn;

use super::bodies::BodyRef;
use super::codec::{self, ACCEPTED, CANCELLED, LogEntry, PENDING, Prefixes, RELEASED, Record};
use super::codec::{Reference, Revoked, Tree, WITHHELD};
use super::rows::Rows;
use super::{Inserted, Origin, ShownBeforeCancel, StoreError};
use crate::message::{Body, Content, Id, Kind, Message, Reason, Rejection, Timestamp};

mod keys;
#[cfg(test)]
mod tests;

/// How many successors a revoked key's authority is followed through (a key revoked twice, or
/// a few times): enough for any real chain, and a bound on a loop of revocations.
pub(crate) const SUCCESSOR_HOPS: usize = 8;

/// One message to plan: with its origin, its index prefixes, and where its body was appended
/// already, if it was.
#[derive(Debug)]
pub(super) struct Arrival<'a> {
    pub(super) msg: &'a Message,
    pub(super) prefixes: &'a Prefixes,
    pub(super) origin: &'a Origin,
    pub(super) placed: Option<BodyRef>,
}

fn refused(reason: Reason, detail: impl Into<String>) -> Inserted {
    Inserted::Refused(Rejection::new(reason, detail))
}

/// Whether `author` may update or cancel a message by `original`: the author itself or the
/// successor named in its revocation (followed a few hops, for a key revoked twice).
pub(super) fn authorized(
    rows: &Rows<'_>,
    author: &[u8; 32],
    original: &[u8; 32],
) -> Result<bool, StoreError> {
    let mut key = *original;
    for _ in 0..SUCCESSOR_HOPS {
        if &key == author {
            return Ok(true);
        }
        match rows.revocation(&key)?.and_then(|r| r.successor) {
            Some(successor) => key = successor,
            None => return Ok(false),
        }
    }
    Ok(false)
}

/// The organisation `key` speaks for: the last successor its revocation names (followed a few
/// hops, as [`authorized`] does), or `key` itself. A tally counts one report per organisation,
/// so a report made with the new key replaces the revoked key's instead of adding to it.
pub(super) fn organisation(rows: &Rows<'_>, key: &[u8; 32]) -> Result<[u8; 32], StoreError> {
    let mut current = *key;
    for _ in 0..SUCCESSOR_HOPS {
        match rows.revocation(&current)?.and_then(|r| r.successor) {
            Some(successor) if successor != *key => current = successor,
            _ => break,
        }
    }
    Ok(current)
}

/// Plans the effects of one message, judged at `now`; `seq` is the seq it gets if accepted.
pub(super) fn insert(
    rows: &mut Rows<'_>,
    arrival: Arrival<'_>,
    seq: u64,
    now: Timestamp,
) -> Result<Inserted, StoreError> {
    let body = arrival.msg.body();
    if let Some(refusal) = known_here(rows, &arrival.msg.id())? {
        return Ok(refusal);
    }
    if let Some(exp) = body.expires_at
        && exp <= now
    {
        return Ok(refused(Reason::Expired, format!("expired at {exp}")));
    }
    if let Some(refusal) = keys::ruled_out_revocation(rows, body)? {
        return Ok(refusal);
    }
    // Where the author's key ends, if it does: read once for the rules below.
    let end = rows.revocation(body.author.as_bytes())?;
    // What a client may not write with a committed key (`keys.rs`); what a peer relays was
    // judged when it was first published, and an old message is how a node catches up.
    if matches!(arrival.origin, Origin::Local) {
        if let Some(refusal) = keys::backdated(rows, body, now)? {
            return Ok(refusal);
        }
        if let Some(refusal) = keys::ended_before_sent(rows, body, end.as_ref(), now)? {
            return Ok(refusal);
        }
    }
    if let Some(refusal) = by_revoked_author(body, end.as_ref()) {
        return Ok(refusal);
    }
    if let Some(refusal) = bad_reference(rows, body)? {
        return Ok(refusal);
    }
    let held = accept(rows, arrival, seq, now)?;
    Ok(Inserted::Accepted { seq, held })
}

/// Dedup: an id held with its content is a duplicate; one withdrawn or expired here is refused
/// for as long as it is remembered.
fn known_here(rows: &Rows<'_>, id: &Id) -> Result<Option<Inserted>, StoreError> {
    if let Some(rec) = rows.record(id)? {
        return Ok(Some(if rec.has_content() {
            Inserted::Duplicate {
                seq: rec.seq,
                held: rec.pending(),
            }
        } else if rec.flags & WITHHELD != 0 {
            refused(
                Reason::RevokedAuthor,
                match rows.revocation(&rec.author)? {
                    Some(r) => format!("this message was withheld here: {}", key_ended(&r)),
                    None => "this message was withheld here: its author's key is revoked".into(),
                },
            )
        } else {
            refused(Reason::Replayed, "this message was cancelled by its author")
        }));
    }
    if rows.is_tombstone(id)? {
        return Ok(Some(refused(
            Reason::Replayed,
            "this message expired or was removed here and may not come back",
        )));
    }
    Ok(None)
}

/// A revoked key's messages made at or after its revocation are refused. A revocation itself
/// is not, since a later one may end the key earlier, except once the key's recovery key has
/// rotated it: a revocation by a committed key reaches back no further than its own making
/// (`keys::revocation_reach`), so one made after that end changes nothing, and would only say
/// in the key's name what whoever holds it wants said. (Between two revocations by the key
/// itself, no rule can tell the union's from a thief's: both stay.)
fn by_revoked_author(body: &Body, end: Option<&Revoked>) -> Option<Inserted> {
    if body.kind() == Kind::Revocation && end.is_none_or(|r| r.rotation.is_none()) {
        return None;
    }
    match end {
        Some(r) if body.created_at.0 >= r.from => {
            Some(refused(Reason::RevokedAuthor, key_ended(r)))
        }
        _ => None,
    }
}

/// Why a key's messages from a time on are refused and withheld, for the refusal's detail.
fn key_ended(r: &Revoked) -> String {
    match r.rotation {
        Some(_) => format!(
            "the author's key was rotated by its recovery key after a compromise: messages it \
             made from {} are refused and withheld",
            Timestamp(r.from)
        ),
        None => format!("the author's key is revoked from {}", Timestamp(r.from)),
    }
}

/// A reference is checked against its target when the target is here; one whose target is not
/// here (yet) is stored and stays pending.
fn bad_reference(rows: &Rows<'_>, body: &Body) -> Result<Option<Inserted>, StoreError> {
    let Some(target) = body.target() else {
        return Ok(None);
    };
    let Some(t) = rows.record(&target)? else {
        return Ok(None);
    };
    if !matches!(t.kind, Kind::Alert | Kind::Call) {
        return Ok(Some(refused(
            Reason::BadReference,
            format!(
                "{} names {}, not an alert or call",
                body.kind(),
                t.kind.with_article()
            ),
        )));
    }
    let by_author = authorized(rows, body.author.as_bytes(), &t.author)?;
    Ok(match &body.content {
        Content::Update(_) if !by_author => Some(refused(
            Reason::NotAuthor,
            "only the original author (or its successor) may update it",
        )),
        Content::Update(u) if u.content.kind() != t.kind => Some(refused(
            Reason::BadReference,
            format!("an update of a {} must carry a {}", t.kind, t.kind),
        )),
        Content::Update(_) if !t.has_content() => Some(refused(
            Reason::Replayed,
            "the message it updates was withdrawn",
        )),
        Content::Cancel(_) if !by_author => Some(refused(
            Reason::NotAuthor,
            "only the original author (or its successor) may cancel it",
        )),
        Content::Translation(_) if !t.has_content() => Some(refused(
            Reason::Replayed,
            "the message it translates was withdrawn",
        )),
        _ => None,
    })
}

/// Plans an accepted message: its rows, and what it does now or at its release. Returns
/// whether it is held back from readers until its hour.
fn accept(
    rows: &mut Rows<'_>,
    arrival: Arrival<'_>,
    seq: u64,
    now: Timestamp,
) -> Result<bool, StoreError> {
    let msg = arrival.msg;
    let id = msg.id();
    let body = msg.body();
    // Looked up before the id is held: an id nothing named (nearly every new one) is then
    // answered by the filter of held ids, with no lookup.
    let cancelled = cancelled_before_arrival(rows, msg)?;
    // The id has a record from here on (see `ids.rs`).
    rows.hold(&id);
    rows.set_last_seq(seq);
    if let Some(cancel) = cancelled {
        keep_withdrawn(rows, msg, seq, cancel)?;
        return Ok(false);
    }
    // Under embargo (a revocation never is): stored and logged for peers now; its effects for
    // readers wait for its release. A message about one still under embargo waits for it too.
    let inherited = embargo_of_target(rows, msg)?;
    let embargoed = body.embargoed_at(now) || inherited.is_some();
    store(rows, arrival, seq, embargoed, inherited)?;
    if !embargoed {
        take_effect(rows, msg)?;
        count_report(rows, body.kind(), 1)?;
    }
    // A key event is a security action: in force at once (it is never under embargo).
    let author = body.author.as_bytes();
    match &body.content {
        Content::Revocation(r) => {
            let from = keys::revocation_reach(rows, author, body, r)?;
            revoke(rows, &id, author, from, r.successor.map(|s| *s.as_bytes()))?;
        }
        Content::Commitment(c) => keys::commit(rows, &id, body, c.recovery_digest)?,
        Content::Rotation(r) => keys::rotate(rows, &id, body, r)?,
        _ => {}
    }
    Ok(embargoed)
}

/// When a message about another (an update, a translation, a report, an endorsement) is to be
/// released to readers because its target is still under embargo here: just after the target
/// (its hour and a millisecond, so the target comes first), or at its own hour if that is
/// later. Shown before it, it would show what the target says, or that it exists, early. A
/// cancel is not held back (it withdraws the target before anyone saw it), nor is a key event.
/// A message that came before its target is not held back: this node could not know.
fn embargo_of_target(rows: &Rows<'_>, msg: &Message) -> Result<Option<u64>, StoreError> {
    let body = msg.body();
    if body.kind() == Kind::Cancel || body.kind().is_key_event() {
        return Ok(None);
    }
    let Some(target) = body.target() else {
        return Ok(None);
    };
    let Some(rec) = rows.record(&target)? else {
        return Ok(None);
    };
    if !rec.pending() {
        return Ok(None);
    }
    held_row_at(rows, body, &target, &rec)
}

/// Where the embargo row of a message held back for `target` is: the later of its own hour and
/// a millisecond past the target's (in the past, too: due at once, still after the target's
/// row). `None` when the target's hour cannot be read: a damaged target body is released at
/// its hour all the same (see `release`), and this message is then not held back for it.
fn held_row_at(
    rows: &Rows<'_>,
    body: &crate::message::Body,
    target: &Id,
    rec: &Record,
) -> Result<Option<u64>, StoreError> {
    let read = rows
        .body_ref(target, rec)
        .and_then(|at| rows.message_at(target, rec.seq, &at));
    let target_msg = match read {
        Ok(Some(m)) => m,
        Ok(None) | Err(StoreError::Corrupt { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let own = body.effective_at.map(|t| t.0);
    let Some(hour) = target_msg.body().effective_at else {
        // A target never under embargo held nothing back: the row, if any, is at its own hour.
        return Ok(own);
    };
    Ok(Some(own.unwrap_or(0).max(hour.0.saturating_add(1))))
}

/// The id of a stored cancel of `msg` (an alert or call arriving) by its author or successor,
/// in effect (released, if it was under embargo): a cancel that came before its original.
fn cancelled_before_arrival(rows: &Rows<'_>, msg: &Message) -> Result<Option<Id>, StoreError> {
    let body = msg.body();
    if !matches!(body.kind(), Kind::Alert | Kind::Call) {
        return Ok(None);
    }
    for cancel in rows.references(&msg.id(), Kind::Cancel)? {
        // A cancel under embargo withdraws nothing before its release.
        if rows.record(&cancel.id)?.is_some_and(|r| r.pending()) {
            continue;
        }
        if authorized(rows, &cancel.author, body.author.as_bytes())? {
            return Ok(Some(cancel.id));
        }
    }
    Ok(None)
}

/// A message whose cancel came first is accepted withdrawn: its record (to refuse replays, and
/// expire), no content; what repeats it is withdrawn too.
fn keep_withdrawn(
    rows: &mut Rows<'_>,
    msg: &Message,
    seq: u64,
    cancel: Id,
) -> Result<(), StoreError> {
    let id = msg.id();
    let body = msg.body();
    rows.put_record(
        &id,
        &Record::new(msg, seq).stripped(CANCELLED, Some(cancel)),
    );
    if let Some(exp) = body.expires_at {
        rows.expire_at(exp.0, &id, seq);
    }
    rows.add_to_count(codec::meta::N_TOMBSTONES, 1)?;
    withdraw_dependents(rows, &id, body.author.as_bytes(), cancel)
}

/// Plans the rows of an accepted message with its content: record, body, log entry, index
/// postings, expiry, embargo row, and the reference to its target.
fn store(
    rows: &mut Rows<'_>,
    arrival: Arrival<'_>,
    seq: u64,
    embargoed: bool,
    inherited: Option<u64>,
) -> Result<(), StoreError> {
    let Arrival {
        msg,
        prefixes,
        origin,
        placed,
    } = arrival;
    let id = msg.id();
    let body = msg.body();
    let mut rec = Record::new(msg, seq);
    if embargoed {
        rec.flags |= PENDING;
        rows.add_to_count(codec::meta::N_EMBARGOED, 1)?;
    }
    rows.put_record(&id, &rec);
    let at = match placed {
        Some(at) => at,
        None => rows.append_body(msg)?,
    };
    rows.count_body(&at, seq)?;
    rows.add_to_count(codec::meta::N_MESSAGES, 1)?;
    let origin = match origin {
        Origin::Local => Vec::new(),
        Origin::Peer { peer, .. } => peer.as_bytes().to_vec(),
    };
    rows.put_log_entry(seq, LogEntry::accepted(id, at, embargoed, origin));
    rows.note_placed(seq, body.kind(), body.created_at.0);
    rows.post_all(prefixes, seq);
    if let Some(exp) = body.expires_at {
        rows.expire_at(exp.0, &id, seq);
    }
    if embargoed && let Some(at) = inherited.or(body.effective_at.map(|t| t.0)) {
        rows.put_embargo(at, &id);
    }
    if let Some(target) = body.target() {
        rows.put_reference(
            &target,
            body.kind(),
            &Reference {
                id,
                author: *body.author.as_bytes(),
                created_at: body.created_at.0,
            },
        );
    }
    Ok(())
}

/// Applies what a message changes for readers besides its own entry: an endorsement's tally, a
/// profile's or roster's latest row, a cancel's withdrawal. On arrival, or at the release of a
/// message that was under embargo (so readers see the effect and the message at the same seq,
/// never the one before the other).
fn take_effect(rows: &mut Rows<'_>, msg: &Message) -> Result<(), StoreError> {
    let id = msg.id();
    let body = msg.body();
    let author = body.author.as_bytes();
    match &body.content {
        // The first endorsement by an author to take effect counts; later ones do not.
        Content::Endorsement(e) if !rows.has_counted_endorsement(&e.target, author)? => {
            rows.count_endorsement(&e.target, author, &id)?;
        }
        Content::Profile(_) | Content::Roster(_) => {
            rows.put_latest(body.kind(), author, body.created_at.0, &id);
        }
        Content::Cancel(c) => {
            if let Some(t) = rows.record(&c.target)?
                && t.has_content()
                && authorized(rows, author, &t.author)?
            {
                if let Some(shown) = shown_before_cancel(rows, &c.target, &t)? {
                    rows.put_shown(&c.target, &shown);
                }
                strip(rows, &c.target, &t, CANCELLED, Some(id))?;
                withdraw_dependents(rows, &c.target, &t.author, id)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// What readers had seen of an alert or call its cancel is about to withdraw: the countries and
/// topics of every version they were shown (the original, and each update in effect by its
/// author or successor), and the calendar events any of them had. Every version, not only the
/// current one: an aggregator that took the original from a `?country=` feed must find the
/// cancel there even if an update moved the call elsewhere. `None` when readers never saw it
/// (still under embargo) or no version's body can be read.
fn shown_before_cancel(
    rows: &Rows<'_>,
    id: &Id,
    rec: &Record,
) -> Result<Option<ShownBeforeCancel>, StoreError> {
    if rec.pending() {
        return Ok(None);
    }
    let mut versions = vec![rows.peek_message(id, rec)?];
    for u in rows.references(id, Kind::Update)? {
        if !authorized(rows, &u.author, &rec.author)? {
            continue;
        }
        if let Some(r) = rows.record(&u.id)?
            && r.has_content()
            && !r.pending()
        {
            versions.push(rows.peek_message(&u.id, &r)?);
        }
    }
    let mut shown: Option<ShownBeforeCancel> = None;
    for m in versions.iter().flatten() {
        let body = m.body();
        let s = shown.get_or_insert_with(ShownBeforeCancel::default);
        for (into, from) in [
            (&mut s.countries, &body.countries),
            (&mut s.topics, &body.topics),
        ] {
            for v in from {
                if !into.contains(v) {
                    into.push(v.clone());
                }
            }
        }
        if let Some(call) = body.call() {
            s.deadline |= call.has_deadline();
            s.window |= call.has_window();
        }
    }
    Ok(shown)
}

/// Moves the count of reports in effect for readers (`meta::N_REPORTS`, for `/metrics`) when a
/// message of `kind` takes effect (`delta` 1) or goes (-1); other kinds count nothing. The
/// tallies themselves are computed when read (`read.rs`), never kept as sums.
fn count_report(rows: &mut Rows<'_>, kind: Kind, delta: i64) -> Result<(), StoreError> {
    if kind == Kind::Report {
        rows.add_to_count(codec::meta::N_REPORTS, delta)?;
    }
    Ok(())
}

/// Withdraws the content that repeats a cancelled message: its author's updates and all
/// translations. The updates readers had seen (released, or never under embargo) are kept in
/// the cancelled message's withdrawn list: their reference rows go with their content, and a
/// CAP Cancel must still name each version an aggregator may hold as current. One still under
/// embargo was never shown, and is not named.
fn withdraw_dependents(
    rows: &mut Rows<'_>,
    target: &Id,
    author: &[u8; 32],
    cancel: Id,
) -> Result<(), StoreError> {
    for kind in [Kind::Update, Kind::Translation] {
        for dependent in rows.references(target, kind)? {
            if kind == Kind::Update && !authorized(rows, &dependent.author, author)? {
                continue;
            }
            if let Some(rec) = rows.record(&dependent.id)?
                && rec.has_content()
            {
                if kind == Kind::Update && !rec.pending() {
                    rows.put_withdrawn(target, &dependent);
                }
                strip(rows, &dependent.id, &rec, CANCELLED, Some(cancel))?;
            }
        }
    }
    Ok(())
}

/// Puts a revocation in force from `from`, unless the key ends earlier already (the earliest
/// is the most protective: a thief with the key cannot move it later), and withholds what the
/// key made from then on. A rotation in force keeps naming its successor.
fn revoke(
    rows: &mut Rows<'_>,
    id: &Id,
    author: &[u8; 32],
    from: u64,
    successor: Option<[u8; 32]>,
) -> Result<(), StoreError> {
    let existing = rows.revocation(author)?;
    if existing.as_ref().is_some_and(|e| e.from <= from) {
        return Ok(());
    }
    let row = match existing {
        Some(e) if e.rotation.is_some() => Revoked { from, id: *id, ..e },
        previous => {
            if let Some(old) = previous.and_then(|e| e.successor)
                && Some(old) != successor
            {
                rows.delete_successor(&old, author);
            }
            if let Some(s) = &successor {
                rows.put_successor(s, author);
            }
            Revoked {
                from,
                id: *id,
                successor,
                rotation: None,
            }
        }
    };
    rows.put_revocation(author, &row);
    withhold(rows, author, from)
}

/// Withholds the messages by a revoked author made at or after `from`: its revocations too once
/// its recovery key rotated it (see `by_revoked_author`), but for the one that ends it.
fn withhold(rows: &mut Rows<'_>, author: &[u8; 32], from: u64) -> Result<(), StoreError> {
    let end = rows.revocation(author)?;
    let rotated = end.as_ref().is_some_and(|r| r.rotation.is_some());
    let in_force = end.map(|r| r.id);
    let mut ids = Vec::new();
    for seq in rows.posted(Tree::IAuthor, author)? {
        if let Some(e) = rows.log_entry(seq)?
            && e.what == ACCEPTED
        {
            ids.push(e.id);
        }
    }
    for id in ids {
        if let Some(rec) = rows.record(&id)?
            && rec.has_content()
            && (rec.kind != Kind::Revocation || (rotated && in_force != Some(id)))
            && rec.created_at >= from
        {
            strip(rows, &id, &rec, WITHHELD, None)?;
        }
    }
    Ok(())
}

/// Withdraws a message's content, keeping its id (cancel, revocation).
fn strip(
    rows: &mut Rows<'_>,
    id: &Id,
    rec: &Record,
    flag: u8,
    cancel: Option<Id>,
) -> Result<(), StoreError> {
    unindex(rows, id, rec)?;
    if rec.pending() {
        // Withdrawn before its release: it never takes effect.
        rows.add_to_count(codec::meta::N_EMBARGOED, -1)?;
    }
    rows.put_record(id, &rec.stripped(flag, cancel));
    rows.add_to_count(codec::meta::N_MESSAGES, -1)?;
    rows.add_to_count(codec::meta::N_TOMBSTONES, 1)
}

/// Removes every row that serves a message's content: its log entries, index rows, embargo
/// row, latest row, reference row and tally contribution, and takes its body off its segment's
/// count. The record itself and its expiry row are the caller's.
fn unindex(rows: &mut Rows<'_>, id: &Id, rec: &Record) -> Result<(), StoreError> {
    if !rec.has_content() {
        return Ok(());
    }
    let at = match rows.body_ref(id, rec) {
        Ok(at) => at,
        // No body to read: what the record knows is all there is.
        Err(StoreError::Corrupt { .. }) => return unindex_damaged(rows, id, rec),
        Err(e) => return Err(e),
    };
    rows.uncount_body(&at)?;
    let Some(msg) = rows.message_at(id, rec.seq, &at)? else {
        return unindex_damaged(rows, id, rec);
    };
    let body = msg.body();
    let prefixes = codec::index_prefixes(&msg);
    for seq in [rec.seq, rec.release] {
        if seq == 0 {
            continue;
        }
        if rows.log_entry(seq)?.is_some() {
            rows.delete_log_entry(seq);
        }
        for (tree, prefix) in &prefixes {
            rows.unpost(*tree, prefix, seq)?;
        }
    }
    // Its embargo row: at its own hour, or, held back for its target (`embargo_of_target`),
    // just past the target's, found again from the target (searched for when it is gone).
    match (rec.pending(), body.target()) {
        (true, Some(target)) => {
            let at = match rows.record(&target)? {
                Some(target_rec) => held_row_at(rows, body, &target, &target_rec)?,
                None => None,
            };
            match at {
                Some(at) => rows.delete_embargo(at, id),
                None => rows.delete_embargoes_of(id)?,
            }
        }
        _ => {
            if let Some(eff) = body.effective_at {
                rows.delete_embargo(eff.0, id);
            }
        }
    }
    if let Some(target) = body.target() {
        rows.delete_reference(&target, body.kind(), id);
    }
    if !rec.pending() {
        count_report(rows, rec.kind, -1)?;
    }
    match &body.content {
        Content::Profile(_) | Content::Roster(_) => {
            rows.delete_latest(body.kind(), body.author.as_bytes(), body.created_at.0, id);
        }
        Content::Endorsement(e)
            if rows.counts_endorsement(&e.target, body.author.as_bytes(), id)? =>
        {
            rows.uncount_endorsement(&e.target, body.author.as_bytes())?;
            count_next_endorsement(rows, &e.target, body.author.as_bytes())?;
        }
        Content::Commitment(_) => {
            keys::uncommit(rows, id, body.author.as_bytes(), body.created_at.0);
        }
        _ => {}
    }
    Ok(())
}

/// The endorsement of `target` that `author` had counted went (withheld, expired): the
/// author's earliest other one in effect takes its place. Without this a tally would depend on
/// arrival order: a thief's endorsement made with a seized key, counted because it came first
/// and then withheld by the rotation, would leave the union's own earlier endorsement uncounted
/// on one node and counted on another that got them the other way round.
fn count_next_endorsement(
    rows: &mut Rows<'_>,
    target: &Id,
    author: &[u8; 32],
) -> Result<(), StoreError> {
    let mut others: Vec<Reference> = rows
        .references(target, Kind::Endorsement)?
        .into_iter()
        .filter(|r| &r.author == author)
        .collect();
    others.sort_by_key(|r| (r.created_at, r.id));
    for other in others {
        // The one going has its reference taken out already; one under embargo counts at its
        // release, one withdrawn never.
        if rows
            .record(&other.id)?
            .is_some_and(|r| r.has_content() && !r.pending())
        {
            return rows.count_endorsement(target, author, &other.id);
        }
    }
    Ok(())
}

/// [`unindex`] for a message whose body is damaged or missing (a cancel, revocation or expiry
/// must not fail for it): removes what its record and a search of the reference and embargo
/// trees find — its log entries, author and kind index rows, latest row, embargo row, reference
/// row and tally contribution. Its topic, country and language index rows cannot be known
/// without the body: they stay, listing seqs with no log entry, which every read skips, until
/// `tocsin node check --repair` rebuilds the indexes.
pub(super) fn unindex_damaged(
    rows: &mut Rows<'_>,
    id: &Id,
    rec: &Record,
) -> Result<(), StoreError> {
    let kind = [rec.kind.tag()];
    for seq in [rec.seq, rec.release] {
        if seq == 0 {
            continue;
        }
        if rows.log_entry(seq).ok().flatten().is_some() {
            rows.delete_log_entry(seq);
        }
        rows.unpost(Tree::IAuthor, &rec.author, seq)?;
        rows.unpost(Tree::IKind, &kind, seq)?;
    }
    if matches!(rec.kind, Kind::Profile | Kind::Roster) {
        rows.delete_latest(rec.kind, &rec.author, rec.created_at, id);
    }
    if rec.kind == Kind::Commitment {
        keys::uncommit(rows, id, &rec.author, rec.created_at);
    }
    rows.delete_embargoes_of(id)?;
    if !rec.pending() {
        count_report(rows, rec.kind, -1)?;
    }
    if matches!(
        rec.kind,
        Kind::Update | Kind::Cancel | Kind::Endorsement | Kind::Translation | Kind::Report
    ) && let Some(target) = rows.target_of(rec.kind, id)?
    {
        rows.delete_reference(&target, rec.kind, id);
        if rec.kind == Kind::Endorsement && rows.counts_endorsement(&target, &rec.author, id)? {
            rows.uncount_endorsement(&target, &rec.author)?;
            count_next_endorsement(rows, &target, &rec.author)?;
        }
    }
    warn!(
        seq = rec.seq,
        id = %id,
        "a message with a damaged body was withdrawn or expired: its topic, country and language index rows stay until `tocsin node check --repair`"
    );
    // Gone from here: nothing to fetch again.
    rows.backing().gone_damaged(id);
    Ok(())
}

/// Embargo release of `id`: a reader-view entry at `seq` (a new seq), and the effects it waited
/// for. Returns the kind of what was released, if anything was (a withdrawn or vanished
/// message is not).
pub(super) fn release(rows: &mut Rows<'_>, id: &Id, seq: u64) -> Result<Option<Kind>, StoreError> {
    let Some(mut rec) = rows.record(id)? else {
        return Ok(None);
    };
    if !rec.has_content() {
        return Ok(None);
    }
    // A damaged body is released all the same, without index rows: its log entry says the
    // embargo is over, and the body that replaces it (`Store::repair`) is indexed then.
    let msg = match rows.body_ref(id, &rec) {
        Ok(at) => rows.message_at(id, rec.seq, &at)?,
        Err(StoreError::Corrupt { detail, .. }) => {
            rows.found_damaged(*id, rec.seq, &detail);
            None
        }
        Err(e) => return Err(e),
    };
    let pending = rec.pending();
    rows.put_log_entry(
        seq,
        LogEntry {
            what: RELEASED,
            embargoed: false,
            id: *id,
            body: None,
            origin: Vec::new(),
        },
    );
    rows.note_placed(seq, rec.kind, rec.created_at);
    if let Some(msg) = &msg {
        rows.post_all(&codec::index_prefixes(msg), seq);
    }
    rec.release = seq;
    rec.flags &= !PENDING;
    rows.put_record(id, &rec);
    if pending {
        // Its effects for readers come with it (a format 4 store wrote them on arrival).
        rows.add_to_count(codec::meta::N_EMBARGOED, -1)?;
        // Counted by its record, so a damaged report counted here is uncounted when it goes.
        count_report(rows, rec.kind, 1)?;
        // A damaged body's effects (a tally, a withdrawal, a latest profile) cannot be known
        // here; it is released without them.
        if let Some(msg) = &msg {
            take_effect(rows, msg)?;
        }
    }
    Ok(Some(rec.kind))
}

/// Retention of `id`, expired: every row of it goes but a tombstone, remembered until
/// `drop_at`. Returns whether it was here to expire.
pub(super) fn expire(rows: &mut Rows<'_>, id: &Id, drop_at: u64) -> Result<bool, StoreError> {
    let Some(rec) = rows.record(id)? else {
        return Ok(false);
    };
    if rec.has_content() {
        unindex(rows, id, &rec)?;
        rows.add_to_count(codec::meta::N_MESSAGES, -1)?;
        if rec.pending() {
            // Not released (`Store::expire` releases what is due first, so only a store that
            // could not): gone without effect.
            rows.add_to_count(codec::meta::N_EMBARGOED, -1)?;
        }
    } else {
        // Already a tombstone in all but name.
        rows.add_to_count(codec::meta::N_TOMBSTONES, -1)?;
    }
    if rec.flags & CANCELLED != 0 && matches!(rec.kind, Kind::Alert | Kind::Call) {
        // What its cancel withdrew goes with it: nothing names it any more.
        rows.delete_withdrawn(id)?;
    }
    rows.delete_record(id);
    rows.put_tombstone(id, drop_at);
    rows.add_to_count(codec::meta::N_TOMBSTONES, 1)?;
    Ok(true)
}
