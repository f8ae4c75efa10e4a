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
//! The negentropy exchange itself ([`find_differences`]) runs over any sealed set of items, so
//! `tocsin export --for` runs the same loop over the items of a `tocsin have` file.

use std::collections::HashSet;
use std::time::Instant;

use negentropy::{Negentropy, NegentropyStorageBase};

use crate::message::{AuthorKey, Id, SignedMessage};
use crate::node::{Node, NodeError, PublishStatus, ReconcileStatus};
use crate::rpc::{
    Client, ClientError, NEGENTROPY_FRAME_LIMIT, PublishOutcome, RECONCILE_BATCH, ReconcileSession,
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
pub async fn reconcile(node: &Node, client: &mut Client, target: &Target) -> ReconcileStatus {
    let started = Instant::now();
    let mut status = ReconcileStatus::default();
    if let Err(e) = run(node, client, target, &mut status).await {
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
    status.millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
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
        error = %status.error,
        "reconciled"
    );
    status
}

async fn run(
    node: &Node,
    client: &mut Client,
    target: &Target,
    status: &mut ReconcileStatus,
) -> Result<(), ReconcileError> {
    let view = view_for(target);
    let items = node.reads().items(&view).await.map_err(NodeError::from)?;
    // Bounded as the other side bounds its sessions: a node that never says done is left.
    // What the rounds taken found is still fetched and offered (each id found is a real
    // difference): with more differences than the rounds can carry (each round is held to the
    // frame limit), every run then makes progress and the next finds the rest, where leaving
    // with nothing would end every run the same way.
    let rounds = node.config().limits.reconcile_rounds;
    let Differences {
        mut session,
        have,
        need,
        cut,
    } = find_differences(items, client, Some(node.node_key()), rounds, status).await?;
    status.we_lacked = need.len() as u64;
    status.they_lacked = have.len() as u64;

    fetch(
        node,
        &mut session,
        target,
        need.into_iter().collect(),
        status,
    )
    .await?;
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

/// Runs negentropy as the initiator over `items` (any sealed storage: the node's own item set,
/// or the one a `tocsin have` file describes) against the node behind `client`, until that node
/// says the sets are compared or `rounds` round trips are spent (then what they found, marked
/// `cut`). Round trips and bytes each way
/// are counted into `status` as they happen, so an exchange that ends early still says what it
/// cost. `peer`: this side's node key, when this side is a node.
pub async fn find_differences<Items>(
    items: Items,
    client: &mut Client,
    peer: Option<AuthorKey>,
    rounds: u32,
    status: &mut ReconcileStatus,
) -> Result<Differences, ReconcileError>
where
    Items: NegentropyStorageBase + Send + Sync + 'static,
{
    let (mut negentropy, first) = blocking(move || {
        let mut negentropy = Negentropy::owned(items, NEGENTROPY_FRAME_LIMIT)?;
        let first = negentropy.initiate()?;
        Ok((negentropy, first))
    })
    .await?;
    status.bytes_sent += first.len() as u64;
    let (session, mut answer) = client.reconcile(first, peer).await?;
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
        differences
            .need
            .extend(need_ids.into_iter().map(|id| Id(id.to_bytes())));
        let Some(next) = next else {
            return Ok(differences);
        };
        if status.round_trips >= u64::from(rounds) {
            differences.cut = Some(rounds);
            return Ok(differences);
        }
        status.bytes_sent += next.len() as u64;
        answer = differences.session.negentropy(next).await?;
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

/// Fetches what this node lacks, skipping ids it remembers (withdrawn, expired, arrived
/// meanwhile), and puts it through the node's ingest as the target's.
async fn fetch(
    node: &Node,
    session: &mut ReconcileSession,
    target: &Target,
    mut need: Vec<Id>,
    status: &mut ReconcileStatus,
) -> Result<(), ReconcileError> {
    need.sort();
    let seen = {
        let ids = need.clone();
        node.reads()
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
            status.already_here += 1;
        } else {
            wanted.push(id);
        }
    }
    // Pipelined by one batch: the next batch is asked for while this one is verified and
    // made durable, so the round trip and the flush overlap the other side's reading.
    let origin = target.node_key.to_hex();
    let mut batches = wanted.chunks(RECONCILE_BATCH);
    let mut fetched = match batches.next() {
        Some(first) => Some((first, session.want(first).await?.0)),
        None => None,
    };
    while let Some((batch, messages)) = fetched.take() {
        let offers = taken(batch, messages, &origin);
        let next = batches.next();
        let (outcomes, asked) = tokio::join!(node.publish_many(offers), async {
            match next {
                Some(next) => session.want(next).await.map(|(m, _)| Some((next, m))),
                None => Ok(None),
            }
        });
        for outcome in outcomes {
            match outcome {
                Ok(p) if p.status == PublishStatus::Accepted => status.fetched += 1,
                Ok(_) => status.already_here += 1,
                Err(NodeError::Refused(_)) => status.refused += 1,
                Err(e) => return Err(e.into()),
            }
        }
        fetched = asked?;
    }
    Ok(())
}

/// What the other node sent for `batch`, as its messages for the ingest: only what was asked
/// for, anything else not being this reconciliation's to take.
fn taken(batch: &[Id], messages: Vec<SignedMessage>, origin: &str) -> Vec<(SignedMessage, Origin)> {
    let asked: HashSet<&Id> = batch.iter().collect();
    messages
        .into_iter()
        .filter(|m| asked.contains(&m.id()))
        .map(|m| {
            (
                m,
                Origin::Peer {
                    peer: origin.to_string(),
                    cursor: 0,
                },
            )
        })
        .collect()
}

/// Offers what the other node lacks, as `view` may see it here, in requests under any node's
/// message limit.
async fn offer(
    node: &Node,
    session: &mut ReconcileSession,
    view: &View,
    mut have: Vec<Id>,
    status: &mut ReconcileStatus,
) -> Result<(), ReconcileError> {
    have.sort();
    for batch in have.chunks(RECONCILE_BATCH) {
        let found = node
            .reads()
            .item_messages(batch.to_vec(), view)
            .await
            .map_err(NodeError::from)?;
        let messages: Vec<SignedMessage> = found
            .into_iter()
            .filter_map(|(_, m)| m.map(|m| m.signed().clone()))
            .collect();
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
