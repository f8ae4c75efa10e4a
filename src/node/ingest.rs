//! The ingest pipeline: every message the node takes, alone or in a batch, from a client or a
//! peer, goes through the same stages, in this order:
//!
//! 1. per-message checks ([`Node::verify_all`]): decode and validate at the node's clock, dedup
//!    by id before paying for the signature, strict verification; a large batch is split among
//!    blocking tasks (signature checks are the costly part of ingest);
//! 2. admission in arrival order ([`Node::admit_all`]): trust policy, revocation, the budget
//!    for never-seen authors and the per-author rate limit; a peer's refusal that may change
//!    is kept for another try (`keep.rs`);
//! 3. hand-off to the store ([`Node::stage`]): one transaction for the batch, its kept
//!    refusals with it ([`Store::submit_keeping`](crate::store::Store::submit_keeping));
//! 4. the durable answer ([`Staged::finish`]): one outcome per message, in the order given.
//!
//! A message answered before the store (a duplicate, a refusal) gets its final answer at its
//! stage, tagged with its place in the batch; the store's answers for the rest are merged back
//! by place. A single publish is a batch of one. The driver that keeps several batches in
//! flight (a publish stream, a federation follower) is `pipeline.rs`.

use std::time::Instant;

use tracing::{debug, warn};

use super::{Limit, Node, NodeError, PublishStatus, Published, keep};
use crate::message::{
    Checked, Content, Kind, Message, Outlook, Reason, Rejection, SignedMessage, Timestamp,
};
use crate::store::{Inserted, Keep, Origin, Seen, StoreError, Submitted};

/// Batches at least this big are verified on all cores.
const PARALLEL_VERIFY_MIN: usize = 16;

/// One message offered to ingest, in its place in a batch.
#[derive(Debug)]
pub enum Offer {
    /// A message for the node to judge, and where it came from.
    Message(SignedMessage, Origin),
    /// A message a client of this node published ([`Origin::Local`]) from this address (none:
    /// an in-process transport), whose network has its share of the budget for new keys.
    Client(SignedMessage, Option<std::net::IpAddr>),
    /// A message the caller refused before the node saw it (its address's budget, its
    /// decoding) and counted: answered with this refusal, in its place.
    Refused(Rejection),
}

/// The node's answer for one message.
pub type Outcome = Result<Published, NodeError>;

/// A message of the batch before verification.
#[derive(Debug)]
struct Candidate {
    /// Its place in the batch: where its answer goes.
    index: usize,
    signed: SignedMessage,
    origin: Origin,
    /// The client's address, for a message a client published.
    client: Option<std::net::IpAddr>,
}

/// A message of the batch after verification.
#[derive(Debug)]
struct Verified {
    index: usize,
    origin: Origin,
    client: Option<std::net::IpAddr>,
    /// The bytes as they came, for a refusal to keep (a shared buffer: no copy); only for
    /// entries of a peer's log that move its cursor.
    held: Option<SignedMessage>,
    checked: Result<Prepared, NodeError>,
}

/// The outcome of the checks before storing.
#[derive(Debug)]
enum Prepared {
    /// Verified (and, after admission, admitted): store it.
    Ready(Message),
    /// Answered without storing (a duplicate).
    Done(Published),
}

/// A message that passed every check, for the store.
#[derive(Debug)]
struct Admitted {
    index: usize,
    msg: Message,
    origin: Origin,
}

/// An answer found before the store, by the message's place in the batch.
#[derive(Debug)]
struct Early {
    index: usize,
    answer: EarlyAnswer,
}

/// What a message answered before the store is answered with, once the batch is.
#[derive(Debug)]
enum EarlyAnswer {
    /// The node's own answer: a duplicate, a refusal, an error.
    Final(Outcome),
    /// A refusal kept for another try in the batch's transaction: if the store fails, it was
    /// not kept either, and the store's error is the answer.
    Kept(Rejection),
    /// Refused by the caller before the node saw it, and counted there.
    ByCaller(Rejection),
}

impl EarlyAnswer {
    /// The answer, once the store's is known (`failed`: its error, if it failed), and whether
    /// the caller counted it already.
    fn resolve(self, failed: Option<&StoreError>) -> (Outcome, bool) {
        match self {
            EarlyAnswer::Final(outcome) => (outcome, false),
            EarlyAnswer::Kept(r) => match failed {
                Some(e) => (Err(NodeError::Store(e.copy())), false),
                None => (Err(r.into()), false),
            },
            EarlyAnswer::ByCaller(r) => (Err(r.into()), true),
        }
    }
}

impl Early {
    /// Whether this answer says the node is busy or failing (`Outlook::Transient`, or an
    /// error): a follower's cursor may not pass it.
    fn unsettled(&self) -> bool {
        match &self.answer {
            EarlyAnswer::Final(Err(NodeError::Refused(r))) => {
                r.reason.outlook() == Outlook::Transient
            }
            EarlyAnswer::Final(Err(_)) => true,
            EarlyAnswer::Final(Ok(_)) | EarlyAnswer::Kept(_) | EarlyAnswer::ByCaller(_) => false,
        }
    }
}

/// A batch checked and handed to the store: see [`Node::stage`].
#[derive(Debug)]
pub struct Staged {
    node: Node,
    started: Instant,
    /// The answers found before the store.
    early: Vec<Early>,
    /// The messages handed to the store, by place, in the order handed over (the store
    /// answers in that order).
    stored: Vec<(usize, Message)>,
    /// Whether the batch holds a roster: once stored, authors refused `not-admitted` may be
    /// admitted.
    rosters: bool,
    /// Whether a message was refused for a reason that is not settled (busy, failing).
    unsettled: bool,
    /// The store's hand-off, or `None` when there was nothing to write.
    submitted: Option<Result<Submitted, StoreError>>,
}

impl Staged {
    /// Whether a message of the batch was refused because the node is busy or failing
    /// (`Outlook::Transient`, or an error): a follower then stages nothing more on its
    /// connection and resumes later from its durable cursor. The messages of this batch that
    /// are stored move no cursor.
    pub fn unsettled(&self) -> bool {
        self.unsettled
    }

    /// Waits until the batch is durable; answers in order, each with its own outcome.
    pub async fn finish(self) -> Vec<Outcome> {
        let Staged {
            node,
            started,
            early,
            stored,
            rosters,
            unsettled: _,
            submitted,
        } = self;
        let durable = match submitted {
            None => Ok(Vec::new()),
            Some(Ok(submitted)) => submitted.durable().await,
            Some(Err(e)) => Err(e),
        };
        let (mut answers, failed) = node.store_answers(durable, stored, rosters);
        for (_, outcome) in &answers {
            node.count(outcome, started);
        }
        for Early { index, answer } in early {
            let (outcome, counted_by_caller) = answer.resolve(failed.as_ref());
            if !counted_by_caller {
                node.count(&outcome, started);
            }
            answers.push((index, outcome));
        }
        // Every place in the batch has exactly one answer: put them back in order.
        answers.sort_unstable_by_key(|(index, _)| *index);
        answers.into_iter().map(|(_, outcome)| outcome).collect()
    }
}

impl Node {
    /// Runs one message through the ingest pipeline, as a batch of one: validate → dedup →
    /// verify → admit → store (durable) → visible to subscribers.
    pub async fn publish(&self, signed: SignedMessage, origin: Origin) -> Outcome {
        self.publish_offer(Offer::Message(signed, origin)).await
    }

    /// [`Node::publish`] of a message a client published from `client`.
    pub async fn publish_from(
        &self,
        signed: SignedMessage,
        client: Option<std::net::IpAddr>,
    ) -> Outcome {
        self.publish_offer(Offer::Client(signed, client)).await
    }

    async fn publish_offer(&self, offer: Offer) -> Outcome {
        let mut answers = self.stage(vec![offer]).await.finish().await;
        // One answer per message given (see `Staged::finish`): this is the only one.
        answers.pop().unwrap_or(Err(NodeError::Internal(
            "the ingest pipeline gave no answer",
        )))
    }

    /// Runs many messages through the pipeline with one durable flush for all; answers in
    /// order, each with its own outcome.
    pub async fn publish_many(&self, batch: Vec<(SignedMessage, Origin)>) -> Vec<Outcome> {
        let offers = batch
            .into_iter()
            .map(|(signed, origin)| Offer::Message(signed, origin))
            .collect();
        self.stage(offers).await.finish().await
    }

    /// The first half of [`Node::publish_many`]: checks and verifies a batch (on all cores),
    /// admits it in order and hands what passed to the store, in the order of the calls. The
    /// returned [`Staged`] resolves to the answers once they are durable, so a caller can
    /// stage its next batch meanwhile (see `pipeline.rs`).
    ///
    /// Entries of a peer's log refused for a reason that may change are kept for another try
    /// in the same transaction (see `keep.rs`), since the follower's cursor moves past them.
    pub async fn stage(&self, offers: Vec<Offer>) -> Staged {
        let started = Instant::now();
        let now = self.now();
        let mut early = Vec::new();
        let mut candidates = Vec::with_capacity(offers.len());
        for (index, offer) in offers.into_iter().enumerate() {
            match offer {
                Offer::Message(signed, origin) => candidates.push(Candidate {
                    index,
                    signed,
                    origin,
                    client: None,
                }),
                Offer::Client(signed, client) => candidates.push(Candidate {
                    index,
                    signed,
                    origin: Origin::Local,
                    client,
                }),
                Offer::Refused(r) => early.push(Early {
                    index,
                    answer: EarlyAnswer::ByCaller(r),
                }),
            }
        }
        let verified = self.verify_all(candidates, now).await;
        let (mut admitted, keep) = self.admit_all(verified, now, &mut early);
        // A refusal that is not settled (the node is busy or failing) ends the follower's
        // connection before its cursor passes it: nothing later in the batch may move the
        // cursor in the transaction that stores it either.
        let unsettled = early.iter().any(Early::unsettled);
        if unsettled {
            for Admitted { origin, .. } in &mut admitted {
                if let Origin::Peer { cursor, .. } = origin {
                    *cursor = 0;
                }
            }
        }
        let rosters = admitted.iter().any(|a| a.msg.kind() == Kind::Roster);
        let stored = admitted.iter().map(|a| (a.index, a.msg.clone())).collect();
        let to_store: Vec<_> = admitted.into_iter().map(|a| (a.msg, a.origin)).collect();
        let submitted = if to_store.is_empty() && keep.entries.is_empty() {
            None
        } else {
            Some(self.inner.store.submit_keeping(to_store, keep, now))
        };
        Staged {
            node: self.clone(),
            started,
            early,
            stored,
            rosters,
            unsettled,
            submitted,
        }
    }

    /// Stage 1: [`Node::check_verify`] over a batch, its messages split among the cores (on
    /// the blocking pool: signature checks are the costly part of ingest). Answers in order.
    async fn verify_all(&self, candidates: Vec<Candidate>, now: Timestamp) -> Vec<Verified> {
        // Asked once: the standard library reads cgroup files each time.
        static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        let cores =
            *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        if candidates.len() < PARALLEL_VERIFY_MIN || cores < 2 {
            return candidates
                .into_iter()
                .map(|c| self.verify_one(c, now))
                .collect();
        }
        let per_chunk = candidates.len().div_ceil(cores);
        let mut chunks = Vec::with_capacity(cores);
        let mut rest = candidates.into_iter();
        loop {
            let chunk: Vec<_> = rest.by_ref().take(per_chunk).collect();
            if chunk.is_empty() {
                break;
            }
            let places: Vec<usize> = chunk.iter().map(|c| c.index).collect();
            let node = self.clone();
            let handle = tokio::task::spawn_blocking(move || {
                chunk
                    .into_iter()
                    .map(|c| node.verify_one(c, now))
                    .collect::<Vec<_>>()
            });
            chunks.push((handle, places));
        }
        let mut out = Vec::new();
        for (handle, places) in chunks {
            match handle.await {
                Ok(done) => out.extend(done),
                Err(e) => {
                    // A panic in a check: those messages get an internal error, not a loss.
                    warn!(error = %e, "a verification task failed");
                    out.extend(places.into_iter().map(|index| Verified {
                        index,
                        origin: Origin::Local,
                        client: None,
                        held: None,
                        checked: Err(NodeError::Internal("a verification task failed")),
                    }));
                }
            }
        }
        out
    }

    /// [`Node::check_verify`] for one message, keeping its place, its origin and, when its
    /// refusal could be kept, its bytes.
    fn verify_one(&self, candidate: Candidate, now: Timestamp) -> Verified {
        let Candidate {
            index,
            signed,
            origin,
            client,
        } = candidate;
        let held = keep::moves_a_cursor(&origin).then(|| signed.clone());
        Verified {
            index,
            origin,
            client,
            held,
            checked: self.check_verify(signed, now),
        }
    }

    /// The cheap checks, dedup, then strict verification: everything that needs no order
    /// among the messages of a batch.
    fn check_verify(&self, signed: SignedMessage, now: Timestamp) -> Result<Prepared, NodeError> {
        if self.is_shutting_down() {
            return Err(NodeError::ShuttingDown);
        }
        let checked = Checked::open(signed, now)?;
        match self.inner.store.seen(&checked.id())? {
            Some(Seen::Stored { seq, held }) => {
                return Ok(Prepared::Done(Published {
                    id: checked.id(),
                    seq,
                    status: PublishStatus::Duplicate,
                    // As the store holds it: a copy of a message held back for its target's
                    // embargo is under embargo too, though its own hour says nothing.
                    embargoed: held,
                }));
            }
            Some(Seen::Tombstone) => {
                return Err(Rejection::new(
                    Reason::Replayed,
                    "this message was withdrawn or has expired here and may not come back",
                )
                .into());
            }
            None => {}
        }
        Ok(Prepared::Ready(checked.verify()?))
    }

    /// Stage 2: admission in arrival order. Returns what goes to the store, in order, and the
    /// refusals to keep with it; every other answer goes to `early`.
    fn admit_all(
        &self,
        verified: Vec<Verified>,
        now: Timestamp,
        early: &mut Vec<Early>,
    ) -> (Vec<Admitted>, Keep) {
        let mut admitted = Vec::with_capacity(verified.len());
        let mut keep = Keep {
            entries: Vec::new(),
            limits: keep::limits(self),
        };
        for Verified {
            index,
            origin,
            client,
            held,
            checked,
        } in verified
        {
            let prepared = checked.and_then(|p| match p {
                Prepared::Ready(msg) => self.check_admit(msg, &origin, client),
                done => Ok(done),
            });
            let answer = match prepared {
                Ok(Prepared::Ready(msg)) => {
                    admitted.push(Admitted { index, msg, origin });
                    continue;
                }
                Ok(Prepared::Done(p)) => EarlyAnswer::Final(Ok(p)),
                Err(NodeError::Refused(r)) => {
                    match held.and_then(|signed| self.keep_for_retry(signed, &origin, &r, now)) {
                        Some(entry) => {
                            keep.entries.push(entry);
                            EarlyAnswer::Kept(r)
                        }
                        None => EarlyAnswer::Final(Err(r.into())),
                    }
                }
                Err(e) => EarlyAnswer::Final(Err(e)),
            };
            early.push(Early { index, answer });
        }
        (admitted, keep)
    }

    /// Admission, the budget for never-seen authors and the per-author rate limit, in the
    /// order messages arrived.
    fn check_admit(
        &self,
        msg: Message,
        origin: &Origin,
        client: Option<std::net::IpAddr>,
    ) -> Result<Prepared, NodeError> {
        self.admit(&msg)?;
        // Relayed messages are not counted (a peer's backlog is not a flood), and both budgets
        // are spent after verification: forging messages in someone's name, or under fresh
        // keys with bad signatures, cannot use them up.
        if *origin != Origin::Local {
            return Ok(Prepared::Ready(msg));
        }
        // A fresh key costs nothing, so its first messages share one budget with every other
        // fresh key; once something of it is held, it is known and only its own bucket
        // applies. A revocation or rotation of a key committed here is never held back (a
        // revocation only takes power away; a rotation's signer is a recovery key never seen
        // before, by design).
        // One network has a share of it, so that one address cannot keep every new
        // organisation from posting.
        if !self.exempt_from_new_author_budget(&msg)? && self.is_new_author(msg.author())? {
            self.inner
                .budget
                .spend_new_author(client)
                .map_err(|limit| self.limited(limit))?;
        }
        if self.inner.author_limits.check_key(msg.author()).is_err() {
            return Err(self.limited(Limit::Author).into());
        }
        Ok(Prepared::Ready(msg))
    }

    /// Whether a message never waits on the budget of never-seen authors: a revocation of a
    /// key that has a recovery commitment here, and a rotation of one. (Any revocation used to
    /// be: a fresh key revoking itself fifty years ahead was then held, so known, and its
    /// alerts skipped the budget too; a key never seen here has nothing here to revoke.)
    fn exempt_from_new_author_budget(&self, msg: &Message) -> Result<bool, NodeError> {
        Ok(match &msg.body().content {
            Content::Revocation(_) => self.inner.store.has_commitment(msg.author())?,
            Content::Rotation(r) => self.inner.store.has_commitment(&r.compromised)?,
            _ => false,
        })
    }

    /// Stage 4: the store's answers for the messages handed to it, by place, and its error if
    /// it failed (the answer of every one of them then). A roster stored may admit authors
    /// refused `not-admitted`: federation's retry set is told.
    fn store_answers(
        &self,
        durable: Result<Vec<Inserted>, StoreError>,
        stored: Vec<(usize, Message)>,
        rosters: bool,
    ) -> (Vec<(usize, Outcome)>, Option<StoreError>) {
        let inserted = match durable {
            Ok(inserted) => inserted,
            Err(e) => {
                // A full disk or a failed write is logged by the store once, when it starts
                // refusing, not per batch.
                if e.is_unavailable() {
                    debug!(error = %e, "store unavailable for a batch");
                } else {
                    warn!(error = %e, "store failed during a batch");
                }
                let answers = stored
                    .into_iter()
                    .map(|(index, _)| (index, Err(NodeError::Store(e.copy()))))
                    .collect();
                return (answers, Some(e));
            }
        };
        let mut inserted = inserted.into_iter();
        let answers = stored
            .into_iter()
            .map(|(index, msg)| {
                // The writer answers every message it is given, in order.
                let outcome = match inserted.next() {
                    Some(result) => settle(&msg, result),
                    None => Err(NodeError::Internal(
                        "the store answered fewer messages than it was given",
                    )),
                };
                if rosters && matches!(&outcome, Ok(p) if p.status == PublishStatus::Accepted) {
                    self.knowledge_changed();
                }
                // A newer version's kind, counted as the public metrics count: not before
                // readers could see it (one under embargo is not counted here at all).
                if msg.kind() == Kind::Unknown
                    && matches!(&outcome, Ok(p) if p.status == PublishStatus::Accepted && !p.embargoed)
                {
                    self.inner.metrics.unknown_kind_accepted();
                }
                (index, outcome)
            })
            .collect();
        (answers, None)
    }

    fn count(&self, outcome: &Outcome, started: Instant) {
        let m = &self.inner.metrics;
        match outcome {
            // The public metrics show what readers can see: a message under embargo is
            // counted as accepted at its release (see `start_background`), and its copies
            // relayed by other peers meanwhile are not counted at all.
            Ok(p) if p.embargoed => {}
            Ok(p) if p.status == PublishStatus::Accepted => m.accepted(started.elapsed()),
            Ok(_) => m.duplicate(),
            Err(NodeError::Refused(r)) => {
                debug!(code = r.code(), "refused");
                m.refused(r.reason);
            }
            Err(NodeError::ShuttingDown) => m.refused(Reason::Unavailable),
            Err(NodeError::Store(e)) if e.is_unavailable() => m.store_write_failed(),
            Err(_) => {}
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;

/// The answer for `msg` from the store's outcome: under embargo when the store holds it back
/// from readers (by its own hour, or about a message that is; a copy as what it copies).
fn settle(msg: &Message, inserted: Inserted) -> Outcome {
    let (seq, status, held) = match inserted {
        Inserted::Accepted { seq, held } => (seq, PublishStatus::Accepted, held),
        Inserted::Duplicate { seq, held } => (seq, PublishStatus::Duplicate, held),
        Inserted::Refused(r) => return Err(r.into()),
    };
    Ok(Published {
        id: msg.id(),
        seq,
        status,
        embargoed: held,
    })
}
