//! Federation: for each configured peer, a follower that subscribes to the peer's log exactly
//! as a client does, from a durable cursor, and runs every message through the node's own
//! ingest pipeline.
//!
//! The cursor is stored in the same transaction as the messages it brought (the store's
//! `Origin::Peer`), so after a crash a follower resumes exactly where what it stored ends:
//! nothing lost, nothing applied twice. Entries the node refused or already had move the
//! cursor too, once the batch they came in is settled. A refusal that can change
//! (`from-future`, `not-admitted`) is kept in the retry set in the transaction of its batch,
//! and tried again until it is stored or expires (`retry.rs`); a refusal that says the node is
//! busy or failing (`unavailable`, `rate-limited`), or a store error, ends the connection
//! before the cursor passes it, and the follower resumes from the durable cursor.
//!
//! Revocations travel first: on every (re)connection the follower pulls the peer's revocations
//! before the rest of its backlog, so a seized key is refused before its forgeries arrive.
//!
//! The cursor belongs to one of the peer's logs: on every connection the follower checks that
//! the peer still serves that log and has not gone back below the cursor (`log_change.rs`);
//! when it has, the cursor starts again at 0 in the new log, so a peer restored from a backup
//! or made again is followed instead of waited on.
//!
//! Once the follow has settled the backlog (up to the subscription's caught-up marker), the
//! follower reconciles with the peer (`reconcile.rs`) beside it, and again every
//! `federation.reconcile_every` while connected: what either side lacks that the cursor cannot
//! see is fetched and offered.
//!
//! The operator can ask for a reconciliation now (`sync.rs`, `Operator.Sync`, `tocsin sync`):
//! with a configured peer it is made and noted as the follower's own runs are
//! (`reconcile_with_peer`, the one way a run with a peer is noted).

mod backoff;
mod log_change;
mod order;
mod reconcile;
mod refetch;
mod retry;
mod sync;

use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use tracing::{debug, info, warn};

pub use backoff::Backoff;
pub(crate) use order::TargetsFirst;
pub use reconcile::{Differences, Fetcher, ReconcileError, Target, find_differences, reconcile};
pub use sync::{SyncError, SyncWith, Synced, sync};

use crate::config::PeerConfig;
use crate::message::{AuthorKey, Filter, Kind, Outlook, SignedMessage};
use crate::node::{
    Batch, Batches, Ended, Feed, Next, Node, NodeError, NodeInfo, Offer, Outcome, PeerStatus,
    PublishStatus, ReconcileStatus, drive,
};
use crate::rpc::{Client, ClientError, ClientEvent, ClientTls};
use crate::store::{Origin, Store};

/// Messages ingested together: they share one durable flush.
const BATCH: usize = 256;

/// Batches of one peer's log in flight at once (staged in the store, awaiting the flush).
const PIPELINE: usize = 4;

/// A connection that stays healthy this long resets the backoff.
const HEALTHY_AFTER: Duration = Duration::from_secs(10);

/// Starts the followers (one per configured peer, started, stopped and restarted as reloads
/// change the peers: [`supervise`]), the task that fetches again from the peers what the
/// store holds damaged (`refetch.rs`), and the retry task (which runs with no peer configured
/// too: entries kept from a peer since removed still come due).
pub fn start(node: &Node) {
    // Each configured peer is in the node's status from the moment the node has started (as
    // before the first connection), not only once the supervisor's task has run.
    for peer in node.peering().now().peers {
        node.set_peer_status(not_yet_connected(&peer));
    }
    node.spawn(supervise(node.clone()));
    node.spawn(refetch::run(node.clone()));
    node.spawn(retry::run(node.clone()));
}

/// A configured peer's status before its follower has connected.
fn not_yet_connected(peer: &PeerConfig) -> PeerStatus {
    PeerStatus {
        name: peer.name.clone(),
        address: peer.address.clone(),
        ..PeerStatus::default()
    }
}

/// A follower running, with what stops it and tells when it has stopped.
struct Running {
    peer: PeerConfig,
    /// Set to true to stop this follower alone.
    stop: tokio::sync::watch::Sender<bool>,
    /// Ends when the follower's task has ended (its status is then no longer written).
    ended: tokio::task::JoinHandle<()>,
}

/// Keeps one follower per peer of the node's reloadable settings: a new peer's is started, a
/// removed peer's stopped (and its status forgotten), a changed peer's stopped and started
/// again, until shutdown.
async fn supervise(node: Node) {
    let mut live = node.peering().watch();
    let mut running: Vec<Running> = Vec::new();
    loop {
        let peers = live.borrow_and_update().peers.clone();
        let (keep, gone): (Vec<Running>, Vec<Running>) =
            running.into_iter().partition(|r| peers.contains(&r.peer));
        running = keep;
        for old in gone {
            info!(peer = %old.peer.name, "the config no longer has this peer as it was: stopping its follower");
            let _ = old.stop.send(true);
            // Waited for, so the old follower writes no status after the new one's.
            let _ = old.ended.await;
            node.forget_peer_status(&old.peer.name);
        }
        for peer in peers {
            if running.iter().any(|r| r.peer == peer) {
                continue;
            }
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let follower = Follower::new(node.clone(), peer.clone());
            let Some(token) = node.task_token() else {
                return;
            };
            let ended = tokio::spawn(async move {
                follower.run(stopped).await;
                drop(token);
            });
            running.push(Running { peer, stop, ended });
        }
        tokio::select! {
            changed = live.changed() => if changed.is_err() { return },
            _ = node.stopped() => return,
        }
    }
}

/// Why one connection to a peer ended.
#[derive(Debug, thiserror::Error)]
enum FollowError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("the peer at this address is this node itself")]
    Myself,
    #[error("the peer closed the subscription")]
    Closed,
    #[error(
        "the peer's subscription is of another log than its NodeInfo showed (it restarted in between)"
    )]
    LogMoved,
    #[error("{0}")]
    Setup(String),
    #[error("the peer trusts this node's certificate now; reconnecting")]
    TrustedNow,
}

/// Ends when the peer, which did not authenticate this node on the connection being followed
/// (`early` false), would on a new one: asked every `federation.trust_recheck_every` on a
/// connection of its own, so the follow is ended and made again authenticated (its cursor is
/// durable: nothing is lost or applied twice). Never ends when the follow is early already, or
/// the re-check is off (0).
async fn trusted_later(node: Node, address: String, tls: ClientTls, early: bool) {
    let every = node.config().federation.trust_recheck_every;
    if early || every.is_zero() {
        return std::future::pending().await;
    }
    let me = Some(node.node_key());
    loop {
        tokio::time::sleep(every).await;
        if let Ok(mut client) = Client::connect_with(&address, &tls).await
            && let Ok(info) = client.info_for(me).await
            && info.embargo_early
        {
            return;
        }
    }
}

/// Follows one peer until shutdown.
struct Follower {
    node: Node,
    peer: PeerConfig,
    status: PeerStatus,
}

impl Follower {
    fn new(node: Node, peer: PeerConfig) -> Self {
        let status = not_yet_connected(&peer);
        node.set_peer_status(status.clone());
        Follower { node, peer, status }
    }

    /// Shows the follow's state in the node's status (its reconciliations are noted apart).
    fn report(&self) {
        self.node.set_peer_status(self.status.clone());
    }

    /// Follows until shutdown, or until `stop` says true (a reload removed or changed the
    /// peer).
    async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let fed = &self.node.config().federation;
        let mut backoff = Backoff::new(fed.reconnect_min, fed.reconnect_max);
        let node = self.node.clone();
        let stopped = async move {
            tokio::select! {
                _ = node.stopped() => {}
                _ = stop.wait_for(|stop| *stop) => {}
            }
        };
        tokio::pin!(stopped);
        // The last error logged: a peer that keeps failing the same way is logged once, not
        // at every reconnection.
        let mut logged = String::new();
        loop {
            let started = Instant::now();
            let result = tokio::select! {
                biased;
                _ = &mut stopped => return,
                r = self.follow_once() => r,
            };
            if matches!(result, Err(FollowError::TrustedNow)) {
                // Not a failure: connect again at once, authenticated this time.
                self.status.connected = false;
                backoff.reset();
                continue;
            }
            if self.status.connected {
                // It followed the peer for a while: whatever ends it now is news.
                logged.clear();
            }
            self.status.connected = false;
            match &result {
                Err(e) => {
                    self.status.last_error = e.to_string();
                    if self.status.last_error != logged {
                        warn!(peer = %self.peer.name, error = %e, "lost the peer");
                        logged.clone_from(&self.status.last_error);
                    }
                }
                Ok(()) => logged.clear(),
            }
            self.report();
            if started.elapsed() >= HEALTHY_AFTER {
                backoff.reset();
            }
            let wait = backoff.next_delay();
            debug!(peer = %self.peer.name, ?wait, "reconnecting later");
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = &mut stopped => return,
            }
        }
    }

    /// One connection: connect, identify the peer, pull its revocations, then follow its log
    /// through the node's pipelined ingest ([`drive`]).
    async fn follow_once(&mut self) -> Result<(), FollowError> {
        let tls = peer_tls(&self.node, &self.peer).map_err(FollowError::Setup)?;
        let mut client = Client::connect_with(&self.peer.address, &tls).await?;
        let me = Some(self.node.node_key());
        let info = client.info_for(me).await?;
        if info.node_key == self.node.node_key() {
            return Err(FollowError::Myself);
        }
        let peer_key = info.node_key;
        let origin_key = peer_key.to_hex();
        let store = self.node.store().clone();
        let cursor = store.resume_cursor(&origin_key).map_err(NodeError::from)?;
        self.status.key = origin_key.clone();
        let (cursor, verdict) = self.check_log(&store, &info, cursor).await?;
        self.status.head = info.head_seq;
        self.status.cursor = cursor;
        self.status.embargo_early = info.embargo_early;
        self.status.connected = true;
        self.status.last_error.clear();
        self.report();
        let changed = matches!(verdict, Some(log_change::Verdict::Changed(_)));
        info!(peer = %self.peer.name, cursor, head = info.head_seq, changed, "following the peer");

        // Revocations first, then the log from `cursor` (as the log check settled it);
        // reconciliation runs beside the follow once it has caught up with the peer's log, so a
        // backlog comes once, by the log, where a refusal that may change is kept for retry.
        pull_key_events::<FollowError>(&self.node, &mut client, peer_key).await?;
        let target = Target {
            name: self.peer.name.clone(),
            node_key: peer_key,
            // A configured peer: its certificate was checked against peer.ca (or it is on
            // loopback in plaintext, where the operator trusts the machine).
            authenticated: true,
        };
        let reconciler = Reconciler {
            node: self.node.clone(),
            target,
        };
        let (caught_up, reached) = tokio::sync::oneshot::channel();
        let reconciling = reconciler.follow_up(client.clone(), reached);
        let trusted_later = trusted_later(
            self.node.clone(),
            self.peer.address.clone(),
            tls.clone(),
            info.embargo_early,
        );

        let (log_id, events) = client.subscribe_log(&Filter::default(), cursor, me).await?;
        if info.log_id.is_some() && log_id != info.log_id {
            return Err(FollowError::LogMoved);
        }
        let node = self.node.clone();
        let mut log = PeerLog {
            follower: self,
            events: Batches::new(events, BATCH),
            origin_key,
            store,
            cursor,
            caught_up_at: None,
            caught_up: Some(caught_up),
        };
        // Shutdown ends this connection from `run`, dropping it: what it staged is in the
        // store's hands already, each message with its cursor. So the driver itself never
        // stops for it.
        let followed = tokio::select! {
            ended = drive(&node, &mut log, PIPELINE, std::future::pending()) => ended,
            never = reconciling => match never {},
            () = trusted_later => {
                info!(peer = %log.follower.peer.name, "the peer trusts this node's certificate now: reconnecting to be sent embargoed messages early");
                return Err(FollowError::TrustedNow);
            }
        };
        match followed {
            Ended::Drained => Err(log
                .events
                .take_failure()
                .map_or(FollowError::Closed, FollowError::from)),
            Ended::SourceFailed(e) | Ended::AnswerFailed(e) => Err(e),
            Ended::Stopped => Ok(()),
        }
    }

    /// Checks that the cursor belongs to the log the peer shows (`log_change.rs`), and
    /// returns the cursor to follow from: the stored one, or 0 when the log changed (then
    /// started again at 0 in the new log, durably), with the verdict (`None` for a peer too
    /// old to say which log it serves: followed from the stored cursor, as before log ids).
    async fn check_log(
        &mut self,
        store: &Store,
        info: &NodeInfo,
        cursor: u64,
    ) -> Result<(u64, Option<log_change::Verdict>), FollowError> {
        let Some(log_id) = info.log_id else {
            return Ok((cursor, None));
        };
        let shown = log_change::Shown {
            log_id,
            opening_id: info.opening_id,
            head: info.head_seq,
            opened_head: info.opened_head,
        };
        let origin_key = &self.status.key;
        let recorded = store.peer_log(origin_key).map_err(NodeError::from)?;
        let verdict = log_change::check(recorded, cursor, &shown);
        self.status.log_id = Some(log_id);
        let cursor = match verdict {
            log_change::Verdict::Same => cursor,
            log_change::Verdict::Record => {
                store
                    .record_peer_log(origin_key, shown.peer_log())
                    .await
                    .map_err(NodeError::from)?;
                cursor
            }
            log_change::Verdict::Changed(change) => {
                warn!(
                    peer = %self.peer.name,
                    old_log_id = %recorded.map_or_else(|| "none recorded".to_string(), |r| r.log_id.to_string()),
                    new_log_id = %log_id,
                    cursor,
                    head = info.head_seq,
                    opened_head = info.opened_head,
                    "{change}: following its log again from the start"
                );
                store
                    .reset_cursor(origin_key, shown.peer_log())
                    .await
                    .map_err(NodeError::from)?;
                self.status.log_changes += 1;
                0
            }
        };
        Ok((cursor, Some(verdict)))
    }
}

/// What [`pull_key_events`] brought.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Pulled {
    /// Key events stored here now (a refused one is found again by the rounds, and counted
    /// there).
    pub(crate) accepted: u64,
}

/// Pulls every key event the node behind `client` (node key `from`) has: recovery commitments
/// first, then rotations and revocations, each in its log order (`order::rank`), through the
/// ingest as that node's. What ends a key, or hands it on, is then known here before what the
/// key signed arrives, and no revocation is taken before its key's commitment. A follower does
/// it on every connection; a reconciliation the operator asks for, before its rounds.
pub(crate) async fn pull_key_events<E>(
    node: &Node,
    client: &mut Client,
    from: AuthorKey,
) -> Result<Pulled, E>
where
    E: From<ClientError> + From<NodeError>,
{
    let events = key_events(client, Some(node.node_key())).await?;
    let mut counts = Pulled::default();
    if events.is_empty() {
        return Ok(counts);
    }
    debug!(from = %from.short(), n = events.len(), "key events pulled first");
    // Marked as the peer's, so they are not sent back to it; cursor 0 leaves the durable
    // cursor where it is (the store only ever moves a cursor forward).
    let pulled = events
        .into_iter()
        .map(|m| {
            let origin = Origin::Peer {
                peer: from.to_hex(),
                cursor: 0,
            };
            (m, origin)
        })
        .collect();
    for outcome in node.publish_many(pulled).await {
        match outcome {
            Ok(p) if p.status == PublishStatus::Accepted => counts.accepted += 1,
            Ok(_) | Err(NodeError::Refused(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(counts)
}

/// Every key event the node behind `client` holds (what `peer` may see there): recovery
/// commitments first, then rotations and revocations, each in the node's log order
/// (`order::rank`). Read from a subscription to those kinds, up to where it caught up.
pub(crate) async fn key_events(
    client: &mut Client,
    peer: Option<AuthorKey>,
) -> Result<Vec<SignedMessage>, ClientError> {
    let filter = Filter {
        kinds: Kind::KEY_EVENTS.to_vec(),
        ..Filter::default()
    };
    let mut events = client.subscribe(&filter, 0, peer).await?;
    let mut found = Vec::new();
    while let Some(event) = events.next().await {
        match event? {
            ClientEvent::Delivery { message, .. } => found.push(message),
            ClientEvent::CaughtUp(_) => break,
        }
    }
    // Stable: each rank keeps the log's order.
    found.sort_by_key(order::rank_of);
    Ok(found)
}

/// TLS towards a configured peer: its CA (or the system roots), and this node's certificate as
/// the client identity, so a peer that trusts our CA authenticates us. The error says which file.
fn peer_tls(node: &Node, peer: &PeerConfig) -> Result<ClientTls, String> {
    let ca = peer.ca.as_deref();
    let mut tls = ClientTls::trusting(ca).map_err(|e| {
        format!(
            "peer.ca {}: {e}",
            ca.unwrap_or(std::path::Path::new("")).display()
        )
    })?;
    tls.identity = node.tls().map(|t| t.identity.clone());
    Ok(tls)
}

/// Reconciles with a configured peer over `client` and notes the run in the peer's status and
/// `/metrics`: the one way a run with a configured peer is made, by its follower or by
/// the operator (`sync.rs`). The follower's runs do not pull the peer's key events first
/// (`pull` false): it pulled them when it connected.
async fn reconcile_with_peer(
    node: &Node,
    client: &mut Client,
    target: &Target,
    pull: bool,
) -> ReconcileStatus {
    let status = reconcile::reconcile_with(node, client, target, pull).await;
    node.note_peer_reconcile(&target.name, status.clone());
    status
}

/// Reconciles with a connected peer, beside its follow.
struct Reconciler {
    node: Node,
    target: Target,
}

impl Reconciler {
    /// One reconciliation, noted.
    async fn run(&self, client: &mut Client) {
        reconcile_with_peer(&self.node, client, &self.target, false).await;
    }

    /// Runs beside the follow, on its own clone of the connection (tonic multiplexes): once
    /// the follow has settled the peer's log up to where it caught up (`reached`), then every
    /// `federation.reconcile_every` (never again when it is 0). Never ends by itself.
    ///
    /// After the catch-up rather than before it: a backlog comes faster by the log than by
    /// `want`, and a refusal that may change is kept for retry only on the log's path, so what
    /// is left for reconciliation is what the cursor cannot see.
    async fn follow_up(
        &self,
        mut client: Client,
        reached: tokio::sync::oneshot::Receiver<()>,
    ) -> std::convert::Infallible {
        if reached.await.is_ok() {
            self.run(&mut client).await;
        }
        let every = self.node.config().federation.reconcile_every;
        if every.is_zero() {
            return std::future::pending().await;
        }
        loop {
            tokio::time::sleep(every).await;
            self.run(&mut client).await;
        }
    }
}

/// One connection's subscription to a peer's log, as a feed of the node's ingest pipeline:
/// batches of the log, each noted with the peer's seq it reaches, answered by moving the
/// durable cursor past what is settled.
struct PeerLog<'a, Events> {
    follower: &'a mut Follower,
    /// The subscription, a batch at a time.
    events: Batches<Events, ClientError>,
    /// The peer's node key in hex: what its cursor and its messages' origin are named by.
    origin_key: String,
    store: Store,
    /// The peer's seq up to which everything is settled here (durably).
    cursor: u64,
    /// The seq of the first caught-up marker: the backlog ends there.
    caught_up_at: Option<u64>,
    /// Told once the cursor reaches `caught_up_at`: the reconciliation runs then.
    caught_up: Option<tokio::sync::oneshot::Sender<()>>,
}

impl<Events> Feed<Node> for PeerLog<'_, Events>
where
    Events: Stream<Item = Result<ClientEvent, ClientError>> + Unpin + Send,
{
    /// The peer's seq the batch reaches.
    type Note = u64;
    type Error = FollowError;

    async fn next_batch(&mut self) -> Next<Vec<Offer>, u64, FollowError> {
        let events = match self.events.next().await {
            Batch::Items(events) => events,
            Batch::Ended => return Next::Ended,
            Batch::Failed(e) => return Next::Failed(e.into()),
        };
        let status = &mut self.follower.status;
        let mut offers = Vec::with_capacity(events.len());
        let mut last = self.cursor;
        for event in events {
            match event {
                ClientEvent::Delivery { seq, message } => {
                    last = last.max(seq);
                    status.received += 1;
                    let origin = Origin::Peer {
                        peer: self.origin_key.clone(),
                        cursor: seq,
                    };
                    offers.push(Offer::Message(message, origin));
                }
                ClientEvent::CaughtUp(seq) => {
                    self.caught_up_at.get_or_insert(seq);
                    last = last.max(seq);
                    status.head = status.head.max(seq);
                }
            }
        }
        Next::Batch(offers, last)
    }

    /// The node is busy or failing: nothing more is staged on this connection, so nothing
    /// stored later moves the cursor past the refusal.
    fn stops_when_unsettled(&self) -> bool {
        true
    }

    async fn answer(&mut self, last: u64, outcomes: Vec<Outcome>) -> Result<(), FollowError> {
        if let Some(e) = outcomes.into_iter().find_map(unsettled) {
            // Not settled: the cursor stays before this batch. The batches staged behind it
            // finish first (the store moves this peer's cursor no more after a failed insert,
            // and they staged nothing after a refusal that was not settled), then the
            // follower resumes from the durable cursor.
            return Err(e.into());
        }
        // Everything up to `last` is settled: stored (with its cursor), already here, refused
        // for good with a counted reason, or refused for now and kept in the retry set (in the
        // batch's own transaction). Move past it.
        if last > self.cursor {
            self.store
                .advance_cursor(&self.origin_key, last)
                .await
                .map_err(NodeError::from)?;
            self.cursor = last;
        }
        let status = &mut self.follower.status;
        status.cursor = self.cursor;
        if self.caught_up_at.is_some_and(|at| self.cursor >= at)
            && let Some(caught_up) = self.caught_up.take()
        {
            let _ = caught_up.send(());
        }
        status.head = status.head.max(self.cursor);
        self.follower.report();
        Ok(())
    }
}

/// The error in an answer that ends a follower's connection: a refusal that says the node is
/// busy or failing, or an error. `None` for an answer that is settled.
fn unsettled(outcome: Outcome) -> Option<NodeError> {
    match outcome {
        Err(NodeError::Refused(r)) if r.reason.outlook() == Outlook::Transient => {
            Some(NodeError::Refused(r))
        }
        Ok(_) | Err(NodeError::Refused(_)) => None,
        Err(e) => Some(e),
    }
}
