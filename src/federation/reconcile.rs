//! The initiating side of set reconciliation: find which messages this node and another hold
//! that the other lacks (negentropy over both sides' items), fetch what this node lacks through
//! its own ingest, and offer what the other lacks.
//!
//! A follower runs it on every (re)connection, once it has caught up with the peer's log, and
//! again every `federation.reconcile_every` while connected (`mod.rs`): what a cursor cannot see (a
//! message that reached one side while the link was down and arrived below the cursor, a peer
//! restored from an older copy, two nodes that never followed each other) is found and sent.
//!
//! What this node offers is what the other may see here: the peer view (messages under
//! embargo too) only to a configured peer, whose certificate was checked against `peer.ca`;
//! the readers' view to anyone else. Every message fetched goes through the node's ingest as
//! the other node's, verified and admitted as if new and counted as usual; an id this node
//! remembers without content (cancelled, withheld, expired) is never fetched, so withdrawn
//! content does not come back.
//!
//! Fetching runs beside the comparison: the ids each round finds lacking are asked for on the
//! same session before the next round's message (the other node answers in order), and what
//! arrives goes through the pipelined ingest in a task of its own ([`Fetcher`]). Rounds use the
//! largest frame both nodes take (`limits.reconcile_frame_kib`, agreed at `open`).
//!
//! The negentropy exchange itself ([`find_differences`]) runs over any sealed set of items, so
//! `tocsin export --for` runs the same loop over the items of a `tocsin have` file.

use std::collections::HashSet;
use std::time::Instant;

use futures::StreamExt;
use negentropy::{Negentropy, NegentropyStorageBase};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::order::{TargetsFirst, rank};
use super::{Pulled, pull_key_events};
use crate::message::{AuthorKey, Id, SignedMessage};
use crate::node::{
    Batch, Batches, Ended, Feed, Next, Node, NodeError, Offer, Outcome, PublishStatus,
    ReconcileStatus, drive,
};
use crate::rpc::{
    Client, ClientError, PublishOutcome, RECONCILE_BATCH, ReconcileSession, agreed_frame,
};
use crate::store::{Origin, View};

/// The most bytes of messages one `offer` carries (at least one message): under any node's
/// gRPC message limit, which is at least a largest message and its framing.
const OFFER_BYTES: usize = crate::message::limits::MAX_BODY_BYTES;

/// The node reconciled with.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its name as configured, or its URL.
    pub name: String,
    /// Its node key: what the messages fetched from it are marked with.
    pub node_key: AuthorKey,
    /// Whether it is a configured peer whose certificate this node checked: it is then
    /// offered what peers may see here, messages under embargo included.
    pub authenticated: bool,
}

/// Why a reconciliation ended early.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The other node could not be reached, refused, or answered out of order.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// This node failed (its store, a blocking thread).
    #[error(transparent)]
    Node(#[from] NodeError),
    /// The other node's negentropy message (or this side's items) could not be used.
    #[error("the other node's negentropy message cannot be used: {0}")]
    Negentropy(negentropy::Error),
    /// The other node never said the sets were compared.
    #[error("no end after {0} negentropy rounds")]
    Rounds(u32),
}

/// Reconciles with `target` over `client`: the counts of what was found, fetched and offered,
/// and why it ended early if it did (the counts are then what was done), logged at info.
///
/// The other node's key events come first, in its log order with commitments ahead
/// (`federation::pull_key_events`): the rounds find ids in no particular order, and a revocation taken
/// before its key's recovery commitment would reach back before it for good.
pub async fn reconcile(node: &Node, client: &mut Client, target: &Target) -> ReconcileStatus {
    reconcile_with(node, client, target, true).await
}

/// [`reconcile`], pulling the other node's key events first or not (`pull`: a follower pulled
/// them when it connected, and takes later ones from the peer's log as they come).
pub(super) async fn reconcile_with(
    node: &Node,
    client: &mut Client,
    target: &Target,
    pull: bool,
) -> ReconcileStatus {
    let started = Instant::now();
    let mut status = ReconcileStatus::default();
    if let Err(e) = run(started, node, client, target, pull, &mut status).await {
        if let ReconcileError::Client(c) = &e
            && c.is_unimplemented()
        {
            status.unsupported = true;
            status.error = "the node does not serve reconciliation (an older version)".into();
        } else {
            status.error = e.to_string();
        }
    }
    status.at = node.now();
    status.millis = millis_since(started);
    // Every run is logged here, whoever started it (a follower, `tocsin sync`): a name and
    // counts, never an address.
    tracing::info!(
        with = %target.name,
        peer = target.authenticated,
        we_lacked = status.we_lacked,
        they_lacked = status.they_lacked,
        fetched = status.fetched,
        refused = status.refused,
        already_here = status.already_here,
        offered = status.offered,
        offered_stored = status.offered_stored,
        round_trips = status.round_trips,
        millis = status.millis,
        compare_millis = status.compare_millis,
        error = %status.error,
        "reconciled"
    );
    status
}

fn millis_since(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

async fn run(
    started: Instant,
    node: &Node,
    client: &mut Client,
    target: &Target,
    pull: bool,
    status: &mut ReconcileStatus,
) -> Result<(), ReconcileError> {
    // Before the items are read: what this pulls is then not found lacking again.
    let pulled = if pull {
        pull_key_events::<ReconcileError>(node, client, target.node_key).await?
    } else {
        Pulled::default()
    };
    let view = view_for(target);
    let items = node.reads().items(&view).await.map_err(NodeError::from)?;
    // Bounded as the other side bounds its sessions: a node that never says done is left.
    // What the rounds taken found is still fetched and offered (each id found is a real
    // difference): with more differences than the rounds can carry (each round is held to the
    // frame limit), every run then makes progress and the next finds the rest, where leaving
    // with nothing would end every run the same way.
    let rounds = node.config().limits.reconcile_rounds;
    let frame = node.config().limits.reconcile_frame_bytes();
    // What this node lacks is asked for as the rounds find it, on the same session, and put
    // through the ingest beside the rounds: verifying and storing overlap the comparison.
    let (to_ingest, arrived) = mpsc::channel(FETCH_QUEUE);
    let origin = target.node_key.to_hex();
    let compare = async {
        let mut fetcher = Fetcher {
            node,
            to_ingest,
            already_here: 0,
            order: TargetsFirst::default(),
        };
        let found = find_differences(
            items,
            client,
            Some(node.node_key()),
            (rounds, frame),
            Some(&mut fetcher),
            status,
        )
        .await;
        // What waited for a target that never came goes in now, the rounds having ended.
        let found = match fetcher.finish().await {
            Ok(()) => found,
            Err(e) => found.and(Err(e)),
        };
        // Dropping the fetcher closes the queue: the ingest ends once what came is in.
        (found, fetcher.already_here, millis_since(started))
    };
    let ((compared, already_here, compare_millis), ingested) =
        tokio::join!(compare, ingest_fetched(node, arrived, origin));
    status.compare_millis = compare_millis;
    status.already_here += already_here;
    status.fetched += ingested.fetched + pulled.accepted;
    status.already_here += ingested.already_here;
    status.refused += ingested.refused;
    // The store's failure first: the rounds then ended only because the ingest stopped.
    if let Some(e) = ingested.failed {
        return Err(e.into());
    }
    let Differences {
        mut session,
        have,
        need,
        cut,
    } = compared?;
    status.we_lacked = need.len() as u64 + pulled.accepted;
    status.they_lacked = have.len() as u64;
    offer(
        node,
        &mut session,
        &view,
        have.into_iter().collect(),
        status,
    )
    .await?;
    cut.map_or(Ok(()), |rounds| Err(ReconcileError::Rounds(rounds)))
}

/// What a negentropy exchange found, and the session it ran on.
#[derive(Debug)]
pub struct Differences {
    /// The session, still open for `want` and `offer`.
    pub session: ReconcileSession,
    /// Ids this side holds that the other lacks.
    pub have: HashSet<Id>,
    /// Ids the other side holds that this side lacks.
    pub need: HashSet<Id>,
    /// `Some(rounds)` when the exchange was cut short after that many round trips: `have` and
    /// `need` are then what those rounds found (each a real difference), not all of them.
    pub cut: Option<u32>,
}

/// Messages fetched and not yet taken by the ingest: the rounds wait when it is full.
const FETCH_QUEUE: usize = 1024;

/// The most messages the ingest stages at once, and how many staged batches may wait to be
/// durable: larger than a follower's, since a fetch brings its messages in bulk.
const FETCH_BATCH: usize = 512;
const FETCH_PIPELINE: usize = 3;

/// Fetching beside the rounds: the ids this node lacks, as each round finds them, are asked
/// for (`want`) on the session before the next negentropy message, and what comes back goes to
/// the ingest (`to_ingest`). Ids this node remembers (withdrawn, expired, arrived meanwhile)
/// are not asked for.
///
/// A message about another that is neither here nor fetched yet waits for it (`order.rs`):
/// the rounds find ids in no particular order, and a message taken before its target is not
/// held back for the target's embargo.
#[derive(Debug)]
pub struct Fetcher<'a> {
    node: &'a Node,
    to_ingest: mpsc::Sender<SignedMessage>,
    /// Ids found lacking that this node holds after all.
    already_here: u64,
    order: TargetsFirst<SignedMessage>,
}

impl Fetcher<'_> {
    /// Asks for the ids of `need` this node does not remember; the ids asked for, and how
    /// many `want`s carry them.
    async fn ask(
        &mut self,
        session: &mut ReconcileSession,
        mut need: Vec<Id>,
    ) -> Result<(HashSet<Id>, usize), ReconcileError> {
        need.sort();
        let seen = {
            let ids = need.clone();
            self.node
                .reads()
                .run(move |store| {
                    ids.iter()
                        .map(|id| store.seen(id).map(|s| s.is_some()))
                        .collect::<Result<Vec<bool>, _>>()
                })
                .await
                .map_err(NodeError::from)?
        };
        let mut wanted = Vec::with_capacity(need.len());
        for (id, here) in need.into_iter().zip(seen) {
            if here {
                self.already_here += 1;
            } else {
                wanted.push(id);
            }
        }
        for batch in wanted.chunks(RECONCILE_BATCH) {
            session.ask_want(batch)?;
        }
        self.order.expect(wanted.iter().copied());
        Ok((
            wanted.iter().copied().collect(),
            wanted.len().div_ceil(RECONCILE_BATCH),
        ))
    }

    /// Reads the answers to `wants` `want`s and hands the messages on: only those asked for,
    /// anything else not being this reconciliation's to take.
    async fn receive(
        &mut self,
        session: &mut ReconcileSession,
        asked: &HashSet<Id>,
        wants: usize,
    ) -> Result<(), ReconcileError> {
        let mut received = HashSet::new();
        for _ in 0..wants {
            loop {
                let chunk = session.fetched_chunk().await?;
                let messages: Vec<SignedMessage> = chunk
                    .messages
                    .into_iter()
                    .filter(|m| asked.contains(&m.id()) && received.insert(m.id()))
                    .collect();
                let out = self.order(messages).await?;
                self.send(out).await?;
                if chunk.done {
                    break;
                }
            }
        }
        // Asked for and not served (withdrawn or expired there since): nothing waits for it.
        let mut out = Vec::new();
        for id in asked.difference(&received) {
            self.order.not_coming(id, &mut out);
        }
        self.send(out).await
    }

    /// `messages` in the order they may go to the ingest now; the rest wait for their
    /// targets. Whether a target the exchange does not know is here is read from the store.
    async fn order(
        &mut self,
        messages: Vec<SignedMessage>,
    ) -> Result<Vec<SignedMessage>, ReconcileError> {
        // Each with its rank and target, read from its body once; key events first, commitments
        // ahead, within what came together (`order::rank`).
        let mut messages: Vec<(u8, Option<Id>, SignedMessage)> = messages
            .into_iter()
            .map(|m| match m.claimed_body() {
                Some(b) => (rank(b.kind()), b.target(), m),
                None => (u8::MAX, None, m),
            })
            .collect();
        messages.sort_by_key(|(rank, _, _)| *rank);
        let unknown: Vec<Id> = messages
            .iter()
            .filter_map(|(_, target, _)| *target)
            .filter(|t| self.order.unknown(t))
            .collect::<HashSet<Id>>()
            .into_iter()
            .collect();
        let here: HashSet<Id> = if unknown.is_empty() {
            HashSet::new()
        } else {
            self.node
                .reads()
                .run(move |store| {
                    let mut here = HashSet::new();
                    for id in unknown {
                        if store.seen(&id)?.is_some() {
                            here.insert(id);
                        }
                    }
                    Ok::<_, crate::store::StoreError>(here)
                })
                .await
                .map_err(NodeError::from)?
        };
        let mut out = Vec::with_capacity(messages.len());
        for (_, target, m) in messages {
            let there = target.is_none_or(|t| here.contains(&t));
            self.order.take(m.id(), target, m, there, &mut out);
        }
        Ok(out)
    }

    async fn send(&mut self, messages: Vec<SignedMessage>) -> Result<(), ReconcileError> {
        for m in messages {
            if self.to_ingest.send(m).await.is_err() {
                return Err(NodeError::Internal("the ingest of fetched messages ended").into());
            }
        }
        Ok(())
    }

    /// The end of the rounds: what still waits for a target that never came goes in.
    async fn finish(&mut self) -> Result<(), ReconcileError> {
        let rest = self.order.rest();
        self.send(rest).await
    }
}

/// Runs negentropy as the initiator over `items` (any sealed storage: the node's own item set,
/// or the one a `tocsin have` file describes) against the node behind `client`, until that node
/// says the sets are compared or `rounds` round trips are spent (then what they found, marked
/// `cut`). Each round's messages are held to `frame` bytes, or less when the other node takes
/// less ([`agreed_frame`]). Round trips and bytes each way are counted into `status` as they
/// happen, so an exchange that ends early still says what it cost. `peer`: this side's node
/// key, when this side is a node. `fetch`: fetching beside the rounds ([`Fetcher`]), when this
/// side is a node taking what it lacks; the ids asked for are in `need` too.
pub async fn find_differences<Items>(
    items: Items,
    client: &mut Client,
    peer: Option<AuthorKey>,
    (rounds, frame): (u32, u64),
    mut fetch: Option<&mut Fetcher<'_>>,
    status: &mut ReconcileStatus,
) -> Result<Differences, ReconcileError>
where
    Items: NegentropyStorageBase + Send + Sync + 'static,
{
    let mut session = client.reconcile_session().await?;
    let agreed = agreed_frame(frame, session.node_frame_limit());
    let (mut negentropy, first) = blocking(move || {
        let mut negentropy = Negentropy::owned(items, agreed)?;
        let first = negentropy.initiate()?;
        Ok((negentropy, first))
    })
    .await?;
    status.bytes_sent += first.len() as u64;
    let mut answer = session.open(first, peer, frame).await?;
    let mut differences = Differences {
        session,
        have: HashSet::new(),
        need: HashSet::new(),
        cut: None,
    };
    status.round_trips += 1;
    status.bytes_received += answer.len() as u64;
    loop {
        let (back, next, have_ids, need_ids) = blocking(move || {
            let (mut have_ids, mut need_ids) = (Vec::new(), Vec::new());
            let next = negentropy.reconcile_with_ids(&answer, &mut have_ids, &mut need_ids)?;
            Ok((negentropy, next, have_ids, need_ids))
        })
        .await?;
        negentropy = back;
        differences
            .have
            .extend(have_ids.into_iter().map(|id| Id(id.to_bytes())));
        let need_ids: Vec<Id> = need_ids.into_iter().map(|id| Id(id.to_bytes())).collect();
        differences.need.extend(need_ids.iter().copied());
        let session = &mut differences.session;
        // The wants go first, then the next message: the node answers in that order, and its
        // messages reach the ingest while it works out its next answer.
        let asked = match fetch.as_deref_mut() {
            Some(fetcher) if !need_ids.is_empty() => Some(fetcher.ask(session, need_ids).await?),
            _ => None,
        };
        let next = match next {
            Some(_) if status.round_trips >= u64::from(rounds) => {
                differences.cut = Some(rounds);
                None
            }
            Some(next) => {
                status.bytes_sent += next.len() as u64;
                session.ask_negentropy(next)?;
                Some(())
            }
            None => None,
        };
        if let (Some(fetcher), Some((ids, wants))) = (fetch.as_deref_mut(), asked) {
            fetcher.receive(session, &ids, wants).await?;
        }
        if next.is_none() {
            return Ok(differences);
        }
        answer = session.negentropy_answer().await?;
        status.round_trips += 1;
        status.bytes_received += answer.len() as u64;
    }
}

/// Runs a negentropy step on a blocking thread: over a large set it takes milliseconds (its
/// bounds are binary searches, its fingerprints running sums, but it lists the ids of every small
/// range it sends).
async fn blocking<T: Send + 'static>(
    step: impl FnOnce() -> Result<T, negentropy::Error> + Send + 'static,
) -> Result<T, ReconcileError> {
    tokio::task::spawn_blocking(step)
        .await
        .map_err(|_| NodeError::Internal("a negentropy step failed"))?
        .map_err(ReconcileError::Negentropy)
}

/// What the ingest made of the fetched messages.
#[derive(Debug, Default)]
struct Ingested {
    fetched: u64,
    already_here: u64,
    refused: u64,
    /// Why the node stopped taking them (its store failed), if it did.
    failed: Option<NodeError>,
}

/// Puts the fetched messages through the node's ingest as the target's (`origin`), pipelined
/// as a follower's log is (`node::pipeline`): a batch is verified while the one before is made
/// durable. Ends when `arrived` closes, or the node fails.
async fn ingest_fetched(
    node: &Node,
    arrived: mpsc::Receiver<SignedMessage>,
    origin: String,
) -> Ingested {
    let mut feed = FetchedFeed {
        batches: Batches::new(
            ReceiverStream::new(arrived).map(Ok::<_, std::convert::Infallible>),
            FETCH_BATCH,
        ),
        origin,
        ingested: Ingested::default(),
    };
    match drive(node, &mut feed, FETCH_PIPELINE, std::future::pending()).await {
        Ended::Drained | Ended::Stopped => {}
        // The queue never fails (`next_batch`); the store can.
        Ended::SourceFailed(e) | Ended::AnswerFailed(e) => feed.ingested.failed = Some(e),
    }
    feed.ingested
}

/// The fetched messages as a [`Feed`] of the node's ingest.
struct FetchedFeed<S> {
    batches: Batches<S, std::convert::Infallible>,
    origin: String,
    ingested: Ingested,
}

impl<S> Feed<Node> for FetchedFeed<S>
where
    S: futures::Stream<Item = Result<SignedMessage, std::convert::Infallible>> + Unpin + Send,
{
    type Note = ();
    type Error = NodeError;

    async fn next_batch(&mut self) -> Next<Vec<Offer>, (), NodeError> {
        match self.batches.next().await {
            Batch::Items(messages) => Next::Batch(
                messages
                    .into_iter()
                    .map(|m| {
                        Offer::Message(
                            m,
                            Origin::Peer {
                                peer: self.origin.clone(),
                                cursor: 0,
                            },
                        )
                    })
                    .collect(),
                (),
            ),
            Batch::Ended => Next::Ended,
            Batch::Failed(never) => match never {},
        }
    }

    async fn answer(&mut self, (): (), outcomes: Vec<Outcome>) -> Result<(), NodeError> {
        for outcome in outcomes {
            match outcome {
                Ok(p) if p.status == PublishStatus::Accepted => self.ingested.fetched += 1,
                Ok(_) => self.ingested.already_here += 1,
                Err(NodeError::Refused(_)) => self.ingested.refused += 1,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Offers what the other node lacks, as `view` may see it here, in requests under any node's
/// message limit.
async fn offer(
    node: &Node,
    session: &mut ReconcileSession,
    view: &View,
    have: Vec<Id>,
    status: &mut ReconcileStatus,
) -> Result<(), ReconcileError> {
    // Key events first (commitments ahead), then the rest in this node's log order
    // (`order::rank`); and of those a target before what refers to it, which the other node
    // holds back for the target's embargo only if the target came first.
    let placed = {
        let ids = have.clone();
        node.reads()
            .run(move |store| {
                ids.iter()
                    .map(|id| store.placed(id))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
            .map_err(NodeError::from)?
    };
    let mut have: Vec<(Id, (u8, u64))> = have
        .into_iter()
        .zip(placed)
        .map(|(id, p)| (id, p.map_or((u8::MAX, 0), |(kind, seq)| (rank(kind), seq))))
        .collect();
    have.sort_by_key(|(id, at)| (*at, *id));
    let have: Vec<Id> = have.into_iter().map(|(id, _)| id).collect();
    let mut order = TargetsFirst::new(have.iter().copied());
    let batches: Vec<&[Id]> = have.chunks(RECONCILE_BATCH).collect();
    for (i, batch) in batches.iter().enumerate() {
        let found = node
            .reads()
            .item_messages(batch.to_vec(), view)
            .await
            .map_err(NodeError::from)?;
        let mut messages = Vec::with_capacity(found.len());
        for (id, m) in found {
            match m {
                Some(m) => order.take(
                    id,
                    m.body().target(),
                    m.signed().clone(),
                    true,
                    &mut messages,
                ),
                None => order.not_coming(&id, &mut messages),
            }
        }
        if i + 1 == batches.len() {
            messages.extend(order.rest());
        }
        let mut start = 0;
        while start < messages.len() {
            let mut end = start + 1;
            let mut bytes = messages[start].body().len();
            while end < messages.len() && bytes + messages[end].body().len() <= OFFER_BYTES {
                bytes += messages[end].body().len();
                end += 1;
            }
            let answers = session.offer(&messages[start..end]).await?;
            status.offered += (end - start) as u64;
            status.offered_stored += answers
                .iter()
                .filter(|a| matches!(a, PublishOutcome::Accepted { .. }))
                .count() as u64;
            start = end;
        }
    }
    Ok(())
}

/// What `target` may be offered from here: the peer view for a configured peer whose
/// certificate was checked, the readers' view for anyone else.
fn view_for(target: &Target) -> View {
    if target.authenticated {
        View::Peer {
            exclude_origin: None,
        }
    } else {
        View::Reader
    }
}
