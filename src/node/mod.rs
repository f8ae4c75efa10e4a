//! The runtime: the ingest pipeline, subscriptions, background tasks and shutdown.
//!
//! The life of a message here (`ingest.rs`): a signed message (size-checked by the caller's
//! decoding) is validated against the clock, deduped by id before paying for the signature,
//! verified strictly, admitted, and stored; the store answers only once the message is on
//! disk. A single publish, a publish stream and a federation follower all go through that one
//! pipeline, the last two through its pipelined driver (`pipeline.rs`). Subscribers are never
//! pushed to: each subscription task reads the store from its own cursor whenever the durable
//! head moves, so a slow subscriber cannot slow ingest and cannot miss anything.

mod backup;
mod budget;
mod clock;
mod identity;
mod ingest;
mod keep;
pub mod metrics;
mod pipeline;
mod subscribe;
mod trust;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use crate::config::{Config, TlsMode};
use crate::message::{AuthorKey, Id, Message, Reason, Rejection, SecretKey, Timestamp};
use crate::store::{
    KeyState, LogId, MessageState, ReadLimits, Reads, Store, StoreConfig, StoreError,
};
use crate::tls;

pub use backup::{Backup, BackupError};
pub use budget::{Limit, Occupancy, address_keys};
pub use clock::Clock;
pub use identity::IdentityError;
pub use ingest::{Offer, Outcome, Staged};
pub use metrics::{Metrics, MetricsSnapshot};
pub use pipeline::{Batch, Batches, Ended, Feed, Ingest, Next, StagedBatch, drive};
pub use subscribe::{SubEvent, SubscribeSpec, SubscriberCap, Subscription};

/// What happened to a published message that was not refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishStatus {
    /// Stored durably under a new seq.
    Accepted,
    /// Already stored.
    Duplicate,
}

/// The answer to a publish that was not refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The message id.
    pub id: Id,
    /// Its seq in this node's log.
    pub seq: u64,
    /// Accepted or duplicate.
    pub status: PublishStatus,
    /// Under embargo here: held for peers, shown to readers (and counted in the public
    /// metrics) only from its release.
    pub embargoed: bool,
}

/// Errors of the node layer.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The message is refused, with a reason code.
    #[error(transparent)]
    Refused(#[from] Rejection),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The node's identity could not be loaded or created.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The node's TLS identity could not be loaded or created.
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
    /// A cap on subscriptions is reached (the node's, the readers' share of it, per address,
    /// per connection).
    #[error(transparent)]
    TooManySubscribers(SubscriberCap),
    /// The node is shutting down.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// The configuration is not usable.
    #[error("configuration: {0}")]
    Config(String),
    /// Something inside the node failed that should not (a checking task panicked, a stage gave
    /// no answer): the messages concerned were not stored, and their senders may send them
    /// again. A fixed text, never a lower layer's error flattened (those keep their variant).
    #[error("internal failure: {0}")]
    Internal(&'static str),
}

/// A peer's state as federation sees it, for `node status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerStatus {
    /// The name in the config.
    pub name: String,
    /// Its URL.
    pub address: String,
    /// Whether a subscription to it is open.
    pub connected: bool,
    /// Its last seq stored here.
    pub cursor: u64,
    /// Its head seq as last seen.
    pub head: u64,
    /// The last error, if any.
    pub last_error: String,
    /// Messages delivered over this link since the node started.
    pub received: u64,
    /// The peer's node key in hex, once a connection has shown it (what its cursor and its
    /// retry entries are named by).
    pub key: String,
    /// Messages it brought that are kept for another try (refused for a reason that may
    /// change; see `federation/retry.rs`).
    pub retry_pending: u64,
    /// The peer's log its cursor belongs to, once a connection has shown it.
    pub log_id: Option<LogId>,
    /// Times the peer's log changed (restored, wiped, rebuilt) and was followed again from
    /// its start, since this node started.
    pub log_changes: u64,
    /// The last reconciliation with it; `None` before the first.
    pub last_reconcile: Option<ReconcileStatus>,
    /// Every reconciliation with it since the node started, summed (for `/metrics`).
    pub reconciled: ReconcileTotals,
    /// Whether the peer authenticated this node on the last connection (it trusts our client
    /// certificate), as its NodeInfo said: then it sends embargoed messages before their hour.
    pub embargo_early: bool,
}

impl PeerStatus {
    /// Leaves out what counts the peer's messages (its cursor and head, what it delivered,
    /// retried and reconciled): those move when it delivers a message under embargo, which a
    /// reader must not see arrive. Its name, address, state and last error stay.
    pub fn without_counts(&mut self) {
        self.cursor = 0;
        self.head = 0;
        self.received = 0;
        self.retry_pending = 0;
        self.last_reconcile = None;
        self.reconciled = ReconcileTotals::default();
    }
}

/// One reconciliation with another node, as this node (its initiator) saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileStatus {
    /// When it ended.
    pub at: Timestamp,
    /// Messages the other node held that this one lacked.
    pub we_lacked: u64,
    /// Messages this node held that the other lacked.
    pub they_lacked: u64,
    /// Of `we_lacked`: stored here.
    pub fetched: u64,
    /// Of `we_lacked`: refused here (each with a counted reason).
    pub refused: u64,
    /// Of `we_lacked`: not fetched, this node holding the id already (withdrawn or expired
    /// here, or arrived meanwhile).
    pub already_here: u64,
    /// Of `they_lacked`: offered to the other node.
    pub offered: u64,
    /// Of `offered`: stored by the other node.
    pub offered_stored: u64,
    /// Negentropy round trips.
    pub round_trips: u64,
    /// Negentropy bytes sent and received.
    pub bytes_sent: u64,
    /// See `bytes_sent`.
    pub bytes_received: u64,
    /// How long it took.
    pub millis: u64,
    /// Of `millis`: until the sets were compared (the last negentropy round trip); fetching
    /// runs beside the rounds and after them.
    pub compare_millis: u64,
    /// Empty when it completed; otherwise why it ended early (the counts are what was done).
    pub error: String,
    /// The other node does not serve reconciliation at all (an older version; `error` says
    /// so too).
    pub unsupported: bool,
}

impl ReconcileStatus {
    /// How it ended.
    pub fn outcome(&self) -> ReconcileOutcome {
        if self.unsupported {
            ReconcileOutcome::Unsupported
        } else if self.error.is_empty() {
            ReconcileOutcome::Completed
        } else {
            ReconcileOutcome::Failed
        }
    }
}

/// How a reconciliation ended, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileOutcome {
    /// It ran to its end.
    Completed,
    /// The other node does not serve reconciliation (an older version).
    Unsupported,
    /// It ended early with an error.
    Failed,
}

impl ReconcileOutcome {
    /// Every outcome, in the order of [`ReconcileTotals::runs`].
    pub const ALL: [ReconcileOutcome; 3] = [
        ReconcileOutcome::Completed,
        ReconcileOutcome::Unsupported,
        ReconcileOutcome::Failed,
    ];

    /// The label in `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            ReconcileOutcome::Completed => "completed",
            ReconcileOutcome::Unsupported => "unsupported",
            ReconcileOutcome::Failed => "failed",
        }
    }
}

/// Reconciliations with one peer since the node started, summed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileTotals {
    /// Runs by outcome, in [`ReconcileOutcome::ALL`] order.
    pub runs: [u64; 3],
    /// See [`ReconcileStatus`].
    pub we_lacked: u64,
    /// See [`ReconcileStatus`].
    pub they_lacked: u64,
    /// See [`ReconcileStatus`].
    pub fetched: u64,
    /// See [`ReconcileStatus`].
    pub refused: u64,
    /// See [`ReconcileStatus`].
    pub already_here: u64,
}

impl ReconcileTotals {
    /// Adds one run.
    pub fn add(&mut self, status: &ReconcileStatus) {
        self.runs[status.outcome() as usize] += 1;
        self.we_lacked += status.we_lacked;
        self.they_lacked += status.they_lacked;
        self.fetched += status.fetched;
        self.refused += status.refused;
        self.already_here += status.already_here;
    }
}

/// The node's identity and counters.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The node's public key.
    pub node_key: AuthorKey,
    /// The software version.
    pub version: String,
    /// The durable head of the log (for a reader: the readers' head, which an embargoed
    /// arrival does not move).
    pub head_seq: u64,
    /// Messages stored now (for a reader: those it may see, none under embargo).
    pub messages: u64,
    /// Seconds since start.
    pub uptime: Duration,
    /// Subscriptions open now.
    pub subscribers: u64,
    /// Peers followed.
    pub peers: Vec<PeerStatus>,
    /// Empty while the store can take new messages; otherwise why not, for an operator.
    pub store_problem: String,
    /// Messages from peers kept for another try, from every peer (configured or not).
    pub retry_pending: u64,
    /// The log the seqs belong to (see [`Store::log_id`]); `None` from a node too old to say.
    pub log_id: Option<LogId>,
    /// The head the log had when the node's process opened it (for a reader, no more than the
    /// head it is shown, so nothing of what is under embargo shows through).
    pub opened_head: u64,
    /// The id of that opening (see [`Store::opening_id`]).
    pub opening_id: u64,
    /// Whether the node authenticated the caller (filled in by the service that answers: a
    /// client certificate from a CA in `tls.client_ca`, or plaintext on loopback), so that it
    /// is sent embargoed messages before their hour.
    pub embargo_early: bool,
    /// TLS handshakes refused since the node started, by cause (only causes seen).
    pub refused_handshakes: Vec<metrics::HandshakeRefusals>,
}

/// The node's TLS material (PEM), when TLS is on.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    /// The node's certificate chain and key: served to clients, presented to peers.
    pub identity: tls::Identity,
    /// The CAs whose client certificates mark authenticated peers.
    pub client_ca: Option<Vec<u8>>,
    /// In auto mode, the node's own CA certificate file (what remote clients trust).
    pub own_ca: Option<PathBuf>,
}

impl TlsMaterial {
    fn load(config: &Config) -> Result<Option<TlsMaterial>, NodeError> {
        let t = &config.tls;
        let (identity, own_ca) = match t.mode {
            TlsMode::Off => return Ok(None),
            TlsMode::Auto => {
                let names = tls::default_names(config.node.listen.ip(), &t.names);
                let node_tls = tls::ensure_node_tls(
                    &config.node.data_dir.join("tls"),
                    &config.node.name,
                    &names,
                )?;
                (node_tls.identity, Some(node_tls.ca_path))
            }
            TlsMode::Files => {
                let (Some(cert), Some(key)) = (&t.cert, &t.key) else {
                    return Err(NodeError::Config(
                        "tls.mode = \"files\" needs tls.cert and tls.key".into(),
                    ));
                };
                (tls::Identity::load(cert, key)?, None)
            }
        };
        let client_ca = if t.client_ca.is_empty() {
            None
        } else {
            Some(tls::read_bundle(&t.client_ca)?)
        };
        Ok(Some(TlsMaterial {
            identity,
            client_ca,
            own_ca,
        }))
    }
}

/// A running node. Cheap to clone; every clone is the same node.
#[derive(Debug, Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The log: the only durable state.
    store: Store,
    /// The store's reads for async code, on a bounded pool of blocking threads.
    reads: Reads,
    /// Counters, shared with the HTTP gateway.
    metrics: Metrics,
    /// The configuration the node started with.
    config: Config,
    /// The node's own key: its identity to peers.
    key: SecretKey,
    /// When the node started, for uptime.
    started: Instant,
    /// The subscriptions open now, counted for their caps.
    subscriptions: subscribe::Slots,
    /// Set to true once to tell every task to stop.
    shutdown_tx: watch::Sender<bool>,
    /// Cloned into every task the node spawns; when every clone is dropped, all have stopped.
    tasks_tx: Mutex<Option<mpsc::Sender<()>>>,
    /// Receives `None` once every task has stopped.
    tasks_rx: tokio::sync::Mutex<mpsc::Receiver<()>>,
    /// What federation reports about each peer.
    peers: Mutex<Vec<PeerStatus>>,
    /// The trust policy.
    trust: trust::Trust,
    /// The TLS material, when TLS is on.
    tls: Option<TlsMaterial>,
    /// Publishing token buckets per author, for this node's own clients.
    author_limits: governor::DefaultKeyedRateLimiter<AuthorKey>,
    /// Publishing budgets per client address and prefix, and for never-seen authors.
    budget: budget::Budget,
    /// The readers' head when the node opened: what readers could see then counts as shown
    /// long enough ago for its authors to have history (see [`Node::history_base`]).
    history_base: u64,
    /// Where the node reads the time (the system's, or a test's).
    clock: Clock,
    /// Woken when what the node knows about authors changes (a roster stored): federation's
    /// retry set then tries its `not-admitted` entries at once.
    knowledge: tokio::sync::Notify,
    /// What a reload changes at once (peers, client CAs), and the lock that keeps the config
    /// file's edits and reloads one at a time.
    peering: crate::peering::Reloadable,
}

impl Node {
    /// Opens the store and the node's identity under the config's data directory.
    pub fn open(config: Config) -> Result<Node, NodeError> {
        Node::open_with_clock(config, Clock::system())
    }

    /// [`Node::open`] with the clock the node reads (tests of expiry, embargo and skew).
    pub fn open_with_clock(config: Config, clock: Clock) -> Result<Node, NodeError> {
        let data = config.node.data_dir.clone();
        let (key, tls) = Node::init(&config)?;
        let store = Store::open(&StoreConfig {
            path: data.join("store"),
            cache_bytes: config.store.cache_mb * 1024 * 1024,
            tombstone_keep: config.store.tombstone_keep,
            reserve_bytes: config.store.reserve_mb.saturating_mul(1024 * 1024),
            ..StoreConfig::default()
        })?;
        let trust = trust::Trust::new(&config.trust).map_err(NodeError::Config)?;
        let history_base = store.reader_head()?;
        let reads = Reads::new(
            store.clone(),
            ReadLimits {
                threads: config.store.read_threads,
                wait: config.store.read_wait,
            },
        );
        let config_limits = config.limits.clone();
        let peering = crate::peering::Reloadable::new(crate::peering::Live {
            peers: config.peers.clone(),
            client_ca: config.tls.client_ca.clone(),
            client_ca_pem: tls.as_ref().and_then(|t| t.client_ca.clone()),
        });
        let (shutdown_tx, _) = watch::channel(false);
        let (tasks_tx, tasks_rx) = mpsc::channel(1);
        Ok(Node {
            inner: Arc::new(Inner {
                store,
                reads,
                metrics: Metrics::default(),
                subscriptions: subscribe::Slots::default(),
                config,
                key,
                started: Instant::now(),
                shutdown_tx,
                tasks_tx: Mutex::new(Some(tasks_tx)),
                tasks_rx: tokio::sync::Mutex::new(tasks_rx),
                peers: Mutex::new(Vec::new()),
                trust,
                tls,
                author_limits: governor::RateLimiter::keyed(
                    governor::Quota::per_second(nonzero(
                        config_limits.publish_per_author_per_second,
                    ))
                    .allow_burst(nonzero(config_limits.publish_per_author_burst)),
                ),
                budget: budget::Budget::new(&config_limits),
                history_base,
                clock,
                knowledge: tokio::sync::Notify::new(),
                peering,
            }),
        })
    }

    /// Creates (or loads) the node's identity without starting it: the data directory (0700),
    /// the node key (0600) and, with TLS on, its certificate. `tocsin node init` and
    /// [`Node::open`] both come through here.
    pub fn init(config: &Config) -> Result<(SecretKey, Option<TlsMaterial>), NodeError> {
        let data = &config.node.data_dir;
        identity::prepare_dir(data)?;
        let key = identity::load_or_create(&data.join("node.key"))?;
        let tls = TlsMaterial::load(config)?;
        Ok((key, tls))
    }

    /// The TLS material, or `None` when the node runs plaintext (loopback only).
    pub fn tls(&self) -> Option<&TlsMaterial> {
        self.inner.tls.as_ref()
    }

    /// The configuration the node started with. Its peers and `tls.client_ca` are as they
    /// were at the start: what a reload changed is in [`Node::peering`].
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The peers and client CAs as the last reload left them, and the lock of the config
    /// file's edits (`peering/`).
    pub fn peering(&self) -> &crate::peering::Reloadable {
        &self.inner.peering
    }

    /// The time by the node's clock: every decision the node takes about time reads it here.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// The node's clock.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The counters.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The store (read access for the gateway and federation).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The store's reads for async code: every read a task, handler or page makes goes through
    /// here, on a bounded pool of blocking threads, never on the runtime's own.
    pub fn reads(&self) -> &Reads {
        &self.inner.reads
    }

    /// The node's public key.
    pub fn node_key(&self) -> AuthorKey {
        self.inner.key.public()
    }

    /// The node's secret key (for federation handshakes).
    pub fn secret_key(&self) -> &SecretKey {
        &self.inner.key
    }

    /// A receiver that turns true when the node starts shutting down.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown_tx.subscribe()
    }

    /// Resolves once shutdown has begun. `Send`, unlike a held `watch::Ref`, so it can sit in
    /// a `select!` inside a spawned task.
    pub fn stopped(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.shutdown_signal();
        async move {
            while !*rx.borrow_and_update() {
                if rx.changed().await.is_err() {
                    return;
                }
            }
        }
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        *self.inner.shutdown_tx.borrow()
    }

    /// A token to hold while a task runs; shutdown waits until every token is dropped.
    /// `None` once shutdown has begun.
    pub fn task_token(&self) -> Option<mpsc::Sender<()>> {
        self.inner
            .tasks_tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Counts a budget's refusal by its class and makes the `rate-limited` refusal for it
    /// (counted under that reason code where it is answered).
    fn limited(&self, limit: Limit) -> Rejection {
        self.inner.metrics.limited(limit);
        Rejection::new(Reason::RateLimited, limit.detail())
    }

    /// Whether the node has never seen this author: nothing of it held here, not on the allow
    /// list, not a trusted federation nor a member on one's roster. The store's index is
    /// asked first (one key lookup); rosters only for authors it does not know.
    pub fn is_new_author(&self, author: &AuthorKey) -> Result<bool, NodeError> {
        if self.inner.store.holds_author(author)? {
            return Ok(false);
        }
        match self.inner.trust.vouches(author, &self.inner.store) {
            Ok(vouched) => Ok(!vouched),
            Err(e) => Err(e.into()),
        }
    }

    /// The authors the operator vouches for: the allow list, the trusted federations and the
    /// members on each one's latest roster in effect (for the gateway's ranking).
    pub fn vouched_authors(&self) -> Result<std::collections::HashSet<AuthorKey>, StoreError> {
        self.inner.trust.vouched(&self.inner.store)
    }

    /// The readers' head when the node opened. The gateway learns how long ago a message was
    /// shown by watching the head move; of what was there before it started it knows nothing,
    /// so that counts as old enough (`trust.history`) for its authors to have history. A
    /// restart thus never demotes an author; its cost is that keys seeded before a restart
    /// gain history at it (the budget for new authors bounds how many).
    pub fn history_base(&self) -> u64 {
        self.inner.history_base
    }

    /// Spends one message of a client address's budgets (per address and per prefix), before
    /// the message is even decoded: a flood from one address or network costs no verification.
    /// `None` (an in-process transport) has no budget. A refusal is counted, under
    /// `rate-limited` and its class.
    pub fn spend_address(&self, ip: Option<std::net::IpAddr>) -> Result<(), Rejection> {
        let Some(ip) = ip else {
            return Ok(());
        };
        self.inner.budget.spend_address(ip).map_err(|limit| {
            self.inner.metrics.refused(Reason::RateLimited);
            self.limited(limit)
        })
    }

    /// The trust policy: deny list, then open or roster admission.
    fn admit(&self, msg: &Message) -> Result<(), NodeError> {
        match self.inner.trust.admit(msg, &self.inner.store) {
            Ok(()) => Ok(()),
            Err(trust::AdmitError::Refused(r)) => Err(r.into()),
            Err(trust::AdmitError::Store(e)) => Err(e.into()),
        }
    }

    /// Opens a subscription: backfill from `since`, a caught-up marker, then live entries.
    pub fn subscribe(&self, spec: SubscribeSpec) -> Result<Subscription, NodeError> {
        subscribe::open(self, spec)
    }

    /// One message and its state, as a reader may see it: a message under embargo is not
    /// there before its release, and neither is anything it does (an update or translation
    /// of a public message, an endorsement in the tally, a cancel and its reason). The store
    /// applies those at the release, the same one that puts the message in readers' view.
    pub async fn get(&self, id: &Id) -> Result<Option<MessageState>, NodeError> {
        Ok(self.inner.reads.get(id).await?)
    }

    /// What this node knows of a key (read on the store's read pool).
    pub async fn key_state(&self, key: &AuthorKey) -> Result<KeyState, NodeError> {
        Ok(self.inner.reads.key_state(key).await?)
    }

    /// Identity and counters. `peer`: the caller proved it is a peer (a client certificate
    /// from a trusted CA) and gets the log's real head and count; anyone else gets what
    /// readers can see, which an embargoed arrival does not move. Read on the store's read
    /// pool.
    pub async fn info(&self, peer: bool) -> Result<NodeInfo, NodeError> {
        let node = self.clone();
        self.inner
            .reads
            .run(move |_| node.info_blocking(peer))
            .await
    }

    /// [`Node::info`], reading the store on the calling thread.
    fn info_blocking(&self, peer: bool) -> Result<NodeInfo, NodeError> {
        let counts = self.inner.store.counts()?;
        let (head_seq, messages) = if peer {
            (counts.head_seq, counts.messages)
        } else {
            (
                counts.reader_head_seq,
                counts.messages.saturating_sub(counts.embargoed),
            )
        };
        Ok(NodeInfo {
            node_key: self.node_key(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            head_seq,
            messages,
            uptime: self.inner.started.elapsed(),
            subscribers: self.inner.metrics.snapshot().subscribers,
            peers: self.peers(),
            store_problem: self.store_problem().unwrap_or_default(),
            retry_pending: self.inner.store.retry_counts()?.pending,
            log_id: Some(self.inner.store.log_id()),
            opened_head: self.inner.store.opened_head().min(head_seq),
            opening_id: self.inner.store.opening_id(),
            embargo_early: false,
            refused_handshakes: self.inner.metrics.connections.tls_refused.seen(),
        })
    }

    /// Why the store cannot take new messages now, in words for an operator (no paths), or
    /// `None` while it can.
    pub fn store_problem(&self) -> Option<String> {
        const MIB: u64 = 1024 * 1024;
        match self.inner.store.writable() {
            Ok(()) => None,
            Err(StoreError::Full { free, reserve, .. }) => Some(format!(
                "the disk is below the free-space reserve ({} MiB free, {} MiB kept free): new messages are refused until space is freed",
                free / MIB,
                reserve / MIB
            )),
            Err(StoreError::Closed { detail, .. }) if !detail.is_empty() => Some(
                "a write to disk failed: the store is reopening itself and refuses new messages meanwhile; free space or fix the disk".to_string(),
            ),
            Err(StoreError::Closed { .. }) => Some("the store is closed".to_string()),
            // The last write failed (the body log's: a full disk, most often), or the free
            // space could not be read. Public (/healthz): no paths, the log has them.
            Err(e) if e.is_disk_full() => Some(
                "a write to disk failed: the disk is full (no space left on device); new messages are refused until a write succeeds (free space)".to_string(),
            ),
            Err(_) => Some(
                "a write to disk failed, or the disk cannot be read: new messages are refused until a write succeeds; see the node's log".to_string(),
            ),
        }
    }

    /// What federation last reported about each peer, with what is kept for another try.
    pub fn peers(&self) -> Vec<PeerStatus> {
        let mut peers = self
            .inner
            .peers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // A read of a few small rows; status without it is still status.
        if let Ok(counts) = self.inner.store.retry_counts() {
            for p in &mut peers {
                p.retry_pending = counts
                    .per_peer
                    .iter()
                    .find(|(k, _)| *k == p.key)
                    .map_or(0, |(_, n)| *n);
            }
        }
        peers
    }

    /// Tells federation's retry set that what the node knows about authors has changed.
    pub fn knowledge_changed(&self) {
        self.inner.knowledge.notify_one();
    }

    /// Resolves at the next [`Node::knowledge_changed`] (or at once if one came since the last
    /// wait): federation's retry task waits on it.
    pub async fn knowledge_change(&self) {
        self.inner.knowledge.notified().await
    }

    /// Notes a reconciliation with a configured peer in its status: its last, added to its
    /// sums. Every run with a configured peer is noted here, whether its follower ran it or the
    /// operator asked for it (`tocsin sync`), so status and `/metrics` count them all alike.
    pub fn note_peer_reconcile(&self, name: &str, last: ReconcileStatus) {
        let mut peers = self.inner.peers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = peers.iter_mut().find(|p| p.name == name) {
            p.reconciled.add(&last);
            p.last_reconcile = Some(last);
        }
    }

    /// Forgets a peer's status: federation calls this when a reload removed the peer.
    pub fn forget_peer_status(&self, name: &str) {
        let mut peers = self.inner.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers.retain(|p| p.name != name);
    }

    /// Replaces one peer's status (federation calls this), keeping its reconciliations: those
    /// are noted apart ([`Node::note_peer_reconcile`]), from beside the follower.
    pub fn set_peer_status(&self, mut status: PeerStatus) {
        let mut peers = self.inner.peers.lock().unwrap_or_else(|e| e.into_inner());
        match peers.iter_mut().find(|p| p.name == status.name) {
            Some(p) => {
                status.last_reconcile = p.last_reconcile.take();
                status.reconciled = std::mem::take(&mut p.reconciled);
                *p = status;
            }
            None => peers.push(status),
        }
    }

    /// Counts `n` messages released from embargo as accepted now, when readers can see them.
    fn note_released(&self, n: usize) {
        if n > 0 {
            self.inner.metrics.released(n as u64);
            info!(released = n, "embargoed messages released to readers");
        }
    }

    /// Starts the background tasks: embargo release (every second) and retention.
    pub fn start_background(&self) {
        let release = self.clone();
        // Rosters released as this task last looked (by it or by retention's pass).
        let rosters_seen = Arc::new(std::sync::atomic::AtomicU64::new(
            self.inner.store.rosters_released(),
        ));
        let release_failing = Arc::new(Failing::default());
        self.spawn(async move {
            release
                .every(Duration::from_secs(1), move |node| {
                    let rosters_seen = Arc::clone(&rosters_seen);
                    let failing = Arc::clone(&release_failing);
                    async move {
                        match node.inner.store.release_due(node.now()).await {
                            Ok(n) => {
                                failing.ended("embargo release");
                                node.note_released(n);
                            }
                            Err(e) => failing.failed("embargo release", &e),
                        }
                        // A roster released admits its members from now: what the retry set
                        // keeps for them is tried at once, as on a roster's arrival.
                        let rosters = node.inner.store.rosters_released();
                        if rosters_seen.swap(rosters, std::sync::atomic::Ordering::Relaxed)
                            != rosters
                        {
                            node.knowledge_changed();
                        }
                    }
                })
                .await;
        });
        let retention = self.clone();
        let interval = self.inner.config.store.retention_interval;
        let retention_failing = Arc::new(Failing::default());
        self.spawn(async move {
            retention
                .every(interval, move |node| {
                    let failing = Arc::clone(&retention_failing);
                    async move {
                        node.inner.author_limits.retain_recent();
                        node.inner.budget.forget_idle();
                        // A long pass (a million messages expiring together) ends at shutdown
                        // between two batches: each is its own transaction, and the next pass goes
                        // on from the expiry rows left.
                        tokio::select! {
                            done = node.inner.store.expire(node.now()) => match done {
                                Ok(stats) => {
                                    failing.ended("retention");
                                    // Released here when due between two runs of the release task
                                    // (or the node was down through the hour).
                                    node.note_released(stats.released);
                                    debug!(?stats, "retention pass");
                                }
                                Err(e) => failing.failed("retention", &e),
                            },
                            _ = node.stopped() => debug!("retention pass left for the next start"),
                        }
                    }
                })
                .await;
        });
    }

    /// Spawns a task that shutdown waits for.
    pub fn spawn<F>(&self, fut: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let Some(token) = self.task_token() else {
            return;
        };
        tokio::spawn(async move {
            fut.await;
            drop(token);
        });
    }

    /// Runs `f` every `period` until shutdown.
    async fn every<F, Fut>(&self, period: Duration, f: F)
    where
        F: Fn(Node) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => f(self.clone()).await,
                _ = self.stopped() => return,
            }
        }
    }

    /// Tells every task to stop and refuses new work; in-flight publishes finish.
    pub fn begin_shutdown(&self) {
        self.inner.shutdown_tx.send_replace(true);
    }

    /// Graceful shutdown: tell every task to stop, wait for them (bounded), flush the store.
    pub async fn shutdown(&self, grace: Duration) -> Result<(), NodeError> {
        self.begin_shutdown();
        self.inner
            .tasks_tx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let mut rx = self.inner.tasks_rx.lock().await;
        if tokio::time::timeout(grace, rx.recv()).await.is_err() {
            warn!("some tasks did not stop within {grace:?}; flushing anyway");
        }
        self.inner.store.clone().close().await?;
        Ok(())
    }

    /// The data directory (for messages to operators).
    pub fn data_dir(&self) -> &Path {
        &self.inner.config.node.data_dir
    }
}

fn nonzero(n: u32) -> std::num::NonZeroU32 {
    std::num::NonZeroU32::new(n).unwrap_or(std::num::NonZeroU32::MIN)
}

/// A background task's failures, said once: the first failure of a run of them is logged at
/// WARN, the rest at DEBUG until the task succeeds again (which is logged at INFO). A store that
/// cannot write fails the release task every second; its log should say so once, as the store
/// does.
#[derive(Default)]
struct Failing(std::sync::atomic::AtomicBool);

impl Failing {
    fn failed(&self, task: &str, e: &StoreError) {
        if self.0.swap(true, std::sync::atomic::Ordering::Relaxed) {
            debug!(error = %e, "{task} failed again");
        } else {
            warn!(error = %e, "{task} failed; said once until it succeeds again");
        }
    }

    fn ended(&self, task: &str) {
        if self.0.swap(false, std::sync::atomic::Ordering::Relaxed) {
            info!("{task} succeeds again");
        }
    }
}
