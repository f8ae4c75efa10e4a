//! The node's TOML configuration, with embedded defaults: a node runs with no file at all.
//!
//! Unknown keys and bad values are refused at start, naming the key. Every setting and its
//! default is documented in config/node.example.toml, which a test parses.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The node itself.
    pub node: NodeSection,
    /// The store.
    pub store: StoreSection,
    /// Hardening limits.
    pub limits: LimitsSection,
    /// How followers reconnect to peers, and retry what may be accepted later.
    pub federation: FederationSection,
    /// Which authors the node admits.
    pub trust: TrustSection,
    /// TLS on the gRPC listener and towards peers.
    pub tls: TlsSection,
    /// The web gateway.
    pub http: HttpSection,
    /// Peers this node follows.
    #[serde(rename = "peer")]
    pub peers: Vec<PeerConfig>,
    /// The file this configuration was read from (set by [`Config::load`]; `None` for the
    /// embedded defaults): what `peer invite`/`peer join` edit and a reload reads again.
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// `[node]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSection {
    /// Where the store and the node's identity live.
    pub data_dir: PathBuf,
    /// The gRPC listen address.
    pub listen: SocketAddr,
    /// A name for this node in logs and status output.
    pub name: String,
    /// The gRPC URL other nodes reach this node at (`https://geneva.example.org:7700`), for
    /// `peer invite` and `peer join`; absent: `https://` + `listen`.
    pub public_url: Option<String>,
}

impl Default for NodeSection {
    fn default() -> Self {
        NodeSection {
            data_dir: PathBuf::from("./tocsin-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 7700)),
            name: "tocsin".into(),
            public_url: None,
        }
    }
}

/// `[store]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// sled's page cache, in MiB: the bound on the store's memory.
    pub cache_mb: u64,
    /// How long past its expiry a removed message's id is remembered, so a replay is refused.
    #[serde(deserialize_with = "duration")]
    pub tombstone_keep: Duration,
    /// How often the retention task removes expired messages.
    #[serde(deserialize_with = "duration")]
    pub retention_interval: Duration,
    /// Free space, in MiB, kept on the store's disk: new messages are refused with
    /// `unavailable` while storing them would leave less, and accepted again by themselves once
    /// space returns. 0 turns the check off (a full disk then fails writes part way, which the
    /// store survives but sled does not until the node restarts).
    pub reserve_mb: u64,
    /// Threads the store's reads run on (pages, feeds, subscriptions, `Get`, status): what a
    /// slow disk can cost at most, so it never holds the runtime's own threads.
    pub read_threads: usize,
    /// How long a read waits for one of those threads before it is refused with `unavailable`.
    #[serde(deserialize_with = "duration")]
    pub read_wait: Duration,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            cache_mb: 32,
            tombstone_keep: Duration::from_secs(30 * 24 * 3600),
            retention_interval: Duration::from_secs(60),
            reserve_mb: 64,
            read_threads: crate::store::ReadLimits::default().threads,
            read_wait: crate::store::ReadLimits::default().wait,
        }
    }
}

/// `[limits]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// The largest gRPC message accepted, in bytes (a signed message plus framing).
    pub max_grpc_message_bytes: usize,
    /// HTTP/2 streams per connection.
    pub max_concurrent_streams: u32,
    /// How often an idle connection is pinged.
    #[serde(deserialize_with = "duration")]
    pub keepalive_interval: Duration,
    /// How long a ping may go unanswered before the connection is closed.
    #[serde(deserialize_with = "duration")]
    pub keepalive_timeout: Duration,
    /// The time limit of a unary call (Publish, Get, NodeInfo).
    #[serde(deserialize_with = "duration")]
    pub request_timeout: Duration,
    /// Subscriptions open at once, readers and peers together.
    pub max_subscribers: usize,
    /// Events queued per subscriber before it is made to wait (it then reads from the store).
    pub subscriber_queue: usize,
    /// Bytes of messages queued per subscriber, in KiB, whatever their number: the store is
    /// read only as the queue drains, so a subscriber that does not read costs this much.
    pub subscriber_buffer_kib: usize,
    /// How long a subscriber's queue may stay full without the subscriber taking anything
    /// before the subscription is ended with a status that says where to resume.
    #[serde(deserialize_with = "duration")]
    pub subscriber_stall: Duration,
    /// Subscriptions open at once on one connection (authenticated peers aside).
    pub subscriptions_per_connection: usize,
    /// Subscriptions open at once from one source address (authenticated peers aside).
    pub subscriptions_per_address: usize,
    /// Of `max_subscribers`, the slots only authenticated peers may take, so readers can never
    /// lock federation out.
    pub peer_subscriber_slots: usize,
    /// Connections open at once for everyone (readers, publishers, strangers), counted once
    /// their handshake is done; more are closed.
    pub max_connections: usize,
    /// Connections open at once beyond `max_connections`, reserved for peers that present a
    /// client certificate from `tls.client_ca`: strangers can never lock federation out.
    pub peer_connections: usize,
    /// Connections one source address may hold open (handshakes included).
    pub connections_per_address: usize,
    /// Connections one /24 (IPv4) or /48 (IPv6) may hold open (handshakes included).
    pub connections_per_prefix: usize,
    /// New connections one address may open per second, sustained.
    pub connects_per_address_per_second: u32,
    /// New connections one address may open at once before the sustained rate applies.
    pub connects_per_address_burst: u32,
    /// How long a new connection has to finish its TLS handshake (in plaintext: to send its
    /// first byte) before it is closed. It holds no slot meanwhile.
    #[serde(deserialize_with = "duration")]
    pub handshake_timeout: Duration,
    /// How long a connection may stay open with no stream (call) open before it is closed.
    #[serde(deserialize_with = "duration")]
    pub idle_timeout: Duration,
    /// New streams (calls) one connection may open per second, sustained; more are refused
    /// `rate-limited`, and a connection refused more than its burst is closed.
    pub streams_per_connection_per_second: u32,
    /// New streams one connection may open at once before the sustained rate applies.
    pub streams_per_connection_burst: u32,
    /// Messages one connection may publish per second, sustained.
    pub publish_per_connection_per_second: u32,
    /// Messages one connection may publish at once before the sustained rate applies.
    pub publish_per_connection_burst: u32,
    /// Messages one author may publish per second through this node's clients (not counting
    /// what peers relay), sustained.
    pub publish_per_author_per_second: u32,
    /// Messages one author may publish at once before the sustained rate applies.
    pub publish_per_author_burst: u32,
    /// Messages one client address (an IPv4 address, an IPv6 /64) may publish per second,
    /// sustained, over all its connections together.
    pub publish_per_address_per_second: u32,
    /// Messages one client address may publish at once before the sustained rate applies.
    pub publish_per_address_burst: u32,
    /// Messages one network prefix (an IPv4 /24, an IPv6 /48) may publish per second,
    /// sustained, over all its addresses together.
    pub publish_per_prefix_per_second: u32,
    /// Messages one network prefix may publish at once before the sustained rate applies.
    pub publish_per_prefix_burst: u32,
    /// Messages by authors this node has never seen (nothing of theirs held here, not on the
    /// allow list or a trusted roster) that its clients may publish per minute, from all
    /// addresses together. Known authors and peers are not counted.
    pub new_authors_per_minute: u32,
    /// Messages by never-seen authors accepted at once before the sustained rate applies.
    pub new_authors_burst: u32,
    /// Reconciliation sessions (`Relay.Reconcile`) this node serves at once; more are refused
    /// with RESOURCE_EXHAUSTED. Each holds a share of an item set and costs a pass over it per
    /// round.
    pub reconcile_sessions: usize,
    /// Negentropy rounds one reconciliation session may take before it is ended.
    pub reconcile_rounds: u32,
    /// The largest negentropy message this node takes and sends in a reconciliation with a
    /// node that asks for frames this large (sent in parts of a gRPC message each), in KiB; at
    /// least 64, at most 16384. Larger frames mean fewer round trips when two nodes differ by
    /// many messages; each session served holds up to two frames.
    pub reconcile_frame_kib: usize,
    /// How long one reconciliation session served may last, from its first request.
    #[serde(deserialize_with = "duration")]
    pub reconcile_timeout: Duration,
}

impl LimitsSection {
    /// `reconcile_frame_kib` in bytes: the largest negentropy message this node takes.
    pub fn reconcile_frame_bytes(&self) -> u64 {
        self.reconcile_frame_kib as u64 * 1024
    }
}

impl Default for LimitsSection {
    fn default() -> Self {
        LimitsSection {
            max_grpc_message_bytes: 96 * 1024,
            max_concurrent_streams: 64,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(15),
            max_subscribers: 2048,
            subscriber_queue: 256,
            subscriber_buffer_kib: 256,
            subscriber_stall: Duration::from_secs(30),
            subscriptions_per_connection: 16,
            subscriptions_per_address: 64,
            peer_subscriber_slots: 64,
            max_connections: 512,
            peer_connections: 64,
            connections_per_address: 32,
            connections_per_prefix: 128,
            connects_per_address_per_second: 10,
            connects_per_address_burst: 100,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            streams_per_connection_per_second: 200,
            streams_per_connection_burst: 1000,
            publish_per_connection_per_second: 200,
            publish_per_connection_burst: 1000,
            publish_per_author_per_second: 20,
            publish_per_author_burst: 200,
            publish_per_address_per_second: 20,
            publish_per_address_burst: 200,
            publish_per_prefix_per_second: 50,
            publish_per_prefix_burst: 500,
            new_authors_per_minute: 30,
            new_authors_burst: 60,
            reconcile_sessions: 4,
            reconcile_rounds: 200,
            reconcile_frame_kib: 1024,
            reconcile_timeout: Duration::from_secs(600),
        }
    }
}

/// `[federation]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FederationSection {
    /// The first delay before reconnecting to a peer that went away.
    #[serde(deserialize_with = "duration")]
    pub reconnect_min: Duration,
    /// The longest delay between reconnection attempts (delays double, with jitter, up to it).
    #[serde(deserialize_with = "duration")]
    pub reconnect_max: Duration,
    /// The first delay before a message a peer brought, refused `not-admitted`, is tried
    /// again (at once when a roster arrives); delays double up to `retry_max`.
    #[serde(deserialize_with = "duration")]
    pub retry_min: Duration,
    /// The longest delay between tries of a refusal that may change.
    #[serde(deserialize_with = "duration")]
    pub retry_max: Duration,
    /// Refusals that may change kept for another try, from all peers together.
    pub retry_limit: u64,
    /// Refusals that may change kept for another try, from one peer.
    pub retry_limit_per_peer: u64,
    /// How far past the 10 minutes every node allows a message refused `from-future` may be
    /// dated and still be kept until it is valid here.
    #[serde(deserialize_with = "duration")]
    pub retry_future_max: Duration,
    /// How often a follower reconciles with its peer while connected (it always does once
    /// per connection, when it has caught up with the peer's log); 0 turns the periodic run
    /// off.
    #[serde(deserialize_with = "duration")]
    pub reconcile_every: Duration,
    /// How often a follower whose peer does not send it embargoed messages early (its client
    /// certificate was not trusted when it connected) asks again on a new connection, and
    /// reconnects once the peer trusts it (a peer's operator may add this node's CA by hand).
    #[serde(deserialize_with = "duration")]
    pub trust_recheck_every: Duration,
}

impl Default for FederationSection {
    fn default() -> Self {
        FederationSection {
            reconnect_min: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(60),
            retry_min: Duration::from_secs(15),
            retry_max: Duration::from_secs(3600),
            retry_limit: 10_000,
            retry_limit_per_peer: 2_000,
            retry_future_max: Duration::from_secs(24 * 3600),
            reconcile_every: Duration::from_secs(600),
            trust_recheck_every: Duration::from_secs(60),
        }
    }
}

/// Which authors a node admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TrustPolicy {
    /// Any author with a valid signature (rate-limited).
    #[default]
    Open,
    /// Only the allow list, the trusted federations and their rosters' members.
    Roster,
}

/// `[trust]`
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrustSection {
    /// `open` or `roster`.
    pub policy: TrustPolicy,
    /// Author keys (hex) always admitted in roster mode.
    pub allow: Vec<String>,
    /// Federation keys (hex) whose latest roster's members are admitted in roster mode.
    pub federations: Vec<String>,
    /// Author keys (hex) never admitted, whatever the policy.
    pub deny: Vec<String>,
    /// How long an author's first message must have been shown to readers here before the
    /// author counts as trusted on the page and in the feeds ("an author with history"),
    /// beside the allow list, the trusted federations and their rosters' members.
    #[serde(deserialize_with = "duration")]
    pub history: Duration,
    /// The most items by unverified authors (not trusted as above) on the page and in a feed,
    /// after every trusted author's item; `?authors=unverified` shows them all.
    pub unverified_items: usize,
}

impl Default for TrustSection {
    fn default() -> Self {
        TrustSection {
            policy: TrustPolicy::default(),
            allow: Vec::new(),
            federations: Vec::new(),
            deny: Vec::new(),
            history: Duration::from_secs(24 * 3600),
            unverified_items: 50,
        }
    }
}

/// Where the node's TLS identity comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// The node makes its own CA and certificate under data_dir/tls on first start.
    #[default]
    Auto,
    /// `cert` and `key` files: issued by a federation CA (`tocsin ca`) or a public CA.
    Files,
    /// Plaintext: allowed only on a loopback listen address.
    Off,
}

/// `[tls]`
#[derive(Debug, Clone, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// auto, files or off.
    pub mode: TlsMode,
    /// The certificate chain (PEM), in `files` mode.
    pub cert: Option<PathBuf>,
    /// Its secret key (PEM, 0600), in `files` mode.
    pub key: Option<PathBuf>,
    /// CA certificates (PEM) whose client certificates mark authenticated peers: they may
    /// follow embargoed messages before their time. Empty: no peer is authenticated.
    pub client_ca: Vec<PathBuf>,
    /// Extra DNS names or addresses for the `auto` certificate (loopback names and the listen
    /// address are always in it).
    pub names: Vec<String>,
}

/// `[http]`: the web gateway (the page, Atom and CAP feeds, metrics, health).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// Whether the node serves HTTP at all.
    pub enabled: bool,
    /// The HTTP listen address.
    pub listen: SocketAddr,
    /// The gateway's public address as readers reach it (`https://alerts.example.org`), for
    /// the absolute links in feeds and CAP documents. Empty: `http://` + the bound address.
    pub public_url: String,
    /// How long browsers and caches may reuse the page (`Cache-Control: max-age`).
    #[serde(deserialize_with = "duration")]
    pub page_max_age: Duration,
    /// How long feed readers and caches may reuse a feed or a CAP document.
    #[serde(deserialize_with = "duration")]
    pub feed_max_age: Duration,
    /// The most items on the page and in a feed (the newest).
    pub max_items: usize,
    /// Connections served at once; more are closed at once.
    pub max_connections: usize,
    /// Connections one client address holds at once (an IPv6 client's /64): more from it are
    /// refused, so one address can never take the whole of `max_connections`.
    pub max_connections_per_address: usize,
    /// Connections one network holds at once (IPv4 /24, IPv6 /48).
    pub max_connections_per_prefix: usize,
    /// How long a connection may take to send a request's headers, counted from when it opens
    /// or its last response was sent: an idle keep-alive connection and a slowloris alike are
    /// closed after it.
    #[serde(deserialize_with = "duration")]
    pub idle_timeout: Duration,
    /// How long a connection is kept alive in all; after it, it is closed once its current
    /// response is sent (the client reconnects), so kept-alive connections cannot hold their
    /// slots for ever.
    #[serde(deserialize_with = "duration")]
    pub keep_alive_max: Duration,
    /// The time a response may take to reach the client, from its first byte to its last.
    #[serde(deserialize_with = "duration")]
    pub write_timeout: Duration,
    /// While a client does not keep up, it must take at least `min_send_rate` bytes a second
    /// over every `send_window`; a client that takes less (a stalled or trickling reader) is
    /// disconnected.
    #[serde(deserialize_with = "duration")]
    pub send_window: Duration,
    /// The slowest a client may read a response, in bytes a second (see `send_window`).
    pub min_send_rate: usize,
    /// The largest Atom feed, in KiB: past it the oldest entries are left out.
    pub max_feed_kib: usize,
    /// Rendered pages and feeds kept in memory, in MiB, shared by every reader of the same
    /// view and state.
    pub render_cache_mib: usize,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 7780)),
            public_url: String::new(),
            page_max_age: Duration::from_secs(15),
            feed_max_age: Duration::from_secs(60),
            max_items: 200,
            max_connections: 1024,
            max_connections_per_address: 32,
            max_connections_per_prefix: 128,
            idle_timeout: Duration::from_secs(10),
            keep_alive_max: Duration::from_secs(120),
            write_timeout: Duration::from_secs(120),
            send_window: Duration::from_secs(10),
            min_send_rate: 1024,
            max_feed_kib: 1024,
            render_cache_mib: 16,
        }
    }
}

/// The smallest `http.max_feed_kib`: an Atom entry of the largest message (its texts at their
/// limits, every character escaped) stays well under it.
pub const MIN_FEED_KIB: usize = 256;

/// `[[peer]]`: a node this node follows.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// A short name, unique in this file; it keys the peer's durable cursor.
    pub name: String,
    /// The peer's gRPC URL (https://geneva.example:7700).
    pub address: String,
    /// The CA certificate (PEM) to trust for this peer; absent: the system's roots.
    #[serde(default)]
    pub ca: Option<PathBuf>,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not valid (unknown key, bad value); the message names the key.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the key's name and position.
        message: String,
    },
}

impl Config {
    /// Loads a file, or the embedded defaults when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(&text).map_err(|message| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        })?;
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    /// The gRPC URL other nodes reach this node at: `node.public_url`, else the listen address
    /// with the scheme the node serves.
    pub fn public_grpc_url(&self) -> String {
        match &self.node.public_url {
            Some(url) => url.clone(),
            None => {
                let scheme = if self.tls.mode == TlsMode::Off {
                    "http"
                } else {
                    "https"
                };
                format!("{scheme}://{}", self.node.listen)
            }
        }
    }

    /// What changed between `self` (running) and `new` that only a restart applies: the names
    /// of the sections (or keys) that differ, beside the peers and `tls.client_ca`, which a
    /// reload applies at once.
    pub fn needs_restart(&self, new: &Config) -> Vec<&'static str> {
        let mut changed = Vec::new();
        let mut tls = self.tls.clone();
        tls.client_ca.clone_from(&new.tls.client_ca);
        let sections = [
            ("[node]", self.node != new.node),
            ("[store]", self.store != new.store),
            ("[limits]", self.limits != new.limits),
            ("[federation]", self.federation != new.federation),
            ("[trust]", self.trust != new.trust),
            ("[tls] (other than client_ca)", tls != new.tls),
            ("[http]", self.http != new.http),
        ];
        for (name, differs) in sections {
            if differs {
                changed.push(name);
            }
        }
        changed
    }

    /// Parses TOML text and checks values that types alone do not.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.check()?;
        Ok(config)
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        let l = &self.limits;
        let positive = [
            ("store.cache_mb", self.store.cache_mb as usize),
            ("store.read_threads", self.store.read_threads),
            (
                "limits.max_concurrent_streams",
                l.max_concurrent_streams as usize,
            ),
            ("limits.max_subscribers", l.max_subscribers),
            ("limits.subscriber_queue", l.subscriber_queue),
            ("limits.subscriber_buffer_kib", l.subscriber_buffer_kib),
            (
                "limits.subscriptions_per_connection",
                l.subscriptions_per_connection,
            ),
            (
                "limits.subscriptions_per_address",
                l.subscriptions_per_address,
            ),
            ("limits.max_connections", l.max_connections),
            ("limits.connections_per_address", l.connections_per_address),
            ("limits.connections_per_prefix", l.connections_per_prefix),
            (
                "limits.connects_per_address_per_second",
                l.connects_per_address_per_second as usize,
            ),
            (
                "limits.connects_per_address_burst",
                l.connects_per_address_burst as usize,
            ),
            (
                "limits.streams_per_connection_per_second",
                l.streams_per_connection_per_second as usize,
            ),
            (
                "limits.streams_per_connection_burst",
                l.streams_per_connection_burst as usize,
            ),
            (
                "limits.publish_per_connection_per_second",
                l.publish_per_connection_per_second as usize,
            ),
            (
                "limits.publish_per_connection_burst",
                l.publish_per_connection_burst as usize,
            ),
            (
                "limits.publish_per_author_per_second",
                l.publish_per_author_per_second as usize,
            ),
            (
                "limits.publish_per_author_burst",
                l.publish_per_author_burst as usize,
            ),
            (
                "limits.publish_per_address_per_second",
                l.publish_per_address_per_second as usize,
            ),
            (
                "limits.publish_per_address_burst",
                l.publish_per_address_burst as usize,
            ),
            (
                "limits.publish_per_prefix_per_second",
                l.publish_per_prefix_per_second as usize,
            ),
            (
                "limits.publish_per_prefix_burst",
                l.publish_per_prefix_burst as usize,
            ),
            (
                "limits.new_authors_per_minute",
                l.new_authors_per_minute as usize,
            ),
            ("limits.new_authors_burst", l.new_authors_burst as usize),
            ("limits.reconcile_sessions", l.reconcile_sessions),
            ("limits.reconcile_rounds", l.reconcile_rounds as usize),
            ("limits.reconcile_frame_kib", l.reconcile_frame_kib),
            ("http.max_items", self.http.max_items),
            ("http.max_connections", self.http.max_connections),
            (
                "http.max_connections_per_address",
                self.http.max_connections_per_address,
            ),
            (
                "http.max_connections_per_prefix",
                self.http.max_connections_per_prefix,
            ),
            ("http.render_cache_mib", self.http.render_cache_mib),
        ];
        for (key, v) in positive {
            if v == 0 {
                return Err(format!("{key} must be at least 1"));
            }
        }
        if l.connections_per_prefix < l.connections_per_address {
            return Err(
                "limits.connections_per_prefix must be at least limits.connections_per_address"
                    .into(),
            );
        }
        for (key, d) in [
            ("limits.handshake_timeout", l.handshake_timeout),
            ("limits.idle_timeout", l.idle_timeout),
        ] {
            if d.is_zero() {
                return Err(format!("{key} must be above zero"));
            }
        }
        if l.reconcile_timeout.is_zero() {
            return Err("limits.reconcile_timeout must be above zero".into());
        }
        if !(64..=16 * 1024).contains(&l.reconcile_frame_kib) {
            return Err(format!(
                "limits.reconcile_frame_kib must be from 64 to 16384 (it is {}); 1024 is the default",
                l.reconcile_frame_kib
            ));
        }
        if l.subscriber_stall.is_zero() {
            return Err("limits.subscriber_stall must be longer than 0s".into());
        }
        if l.peer_subscriber_slots >= l.max_subscribers {
            return Err(format!(
                "limits.peer_subscriber_slots ({}) must be below limits.max_subscribers ({}), or readers get no slot at all",
                l.peer_subscriber_slots, l.max_subscribers
            ));
        }
        let floor = crate::message::limits::MAX_BODY_BYTES + 1024;
        if l.max_grpc_message_bytes < floor {
            return Err(format!(
                "limits.max_grpc_message_bytes must be at least {floor} so that any valid message fits"
            ));
        }
        for (key, list) in [
            ("trust.allow", &self.trust.allow),
            ("trust.federations", &self.trust.federations),
            ("trust.deny", &self.trust.deny),
        ] {
            for k in list {
                k.parse::<crate::message::AuthorKey>()
                    .map_err(|e| format!("{key}: {k:?}: {}", e.detail))?;
            }
        }
        match self.tls.mode {
            TlsMode::Off if !self.node.listen.ip().is_loopback() => {
                return Err(format!(
                    "tls.mode = \"off\" (plaintext) is allowed only on a loopback address, and node.listen is {}; use TLS (mode \"auto\" or \"files\") or listen on 127.0.0.1",
                    self.node.listen
                ));
            }
            TlsMode::Files if self.tls.cert.is_none() || self.tls.key.is_none() => {
                return Err("tls.mode = \"files\" needs tls.cert and tls.key".into());
            }
            _ => {}
        }
        let f = &self.federation;
        if f.reconnect_min.is_zero() || f.reconnect_max < f.reconnect_min {
            return Err(
                "federation.reconnect_min must be above zero and at most federation.reconnect_max"
                    .into(),
            );
        }
        if f.retry_min.is_zero() || f.retry_max < f.retry_min {
            return Err(
                "federation.retry_min must be above zero and at most federation.retry_max".into(),
            );
        }
        if f.retry_limit_per_peer == 0 || f.retry_limit < f.retry_limit_per_peer {
            return Err("federation.retry_limit_per_peer must be at least 1 and at most federation.retry_limit".into());
        }
        let h = &self.http;
        if h.max_connections_per_address > h.max_connections_per_prefix
            || h.max_connections_per_prefix > h.max_connections
        {
            return Err("http.max_connections_per_address must be at most http.max_connections_per_prefix, and that at most http.max_connections".into());
        }
        for (key, d) in [
            ("http.idle_timeout", h.idle_timeout),
            ("http.keep_alive_max", h.keep_alive_max),
            ("http.write_timeout", h.write_timeout),
            ("http.send_window", h.send_window),
        ] {
            if d.is_zero() {
                return Err(format!("{key} must be above zero"));
            }
        }
        if h.max_feed_kib < MIN_FEED_KIB {
            return Err(format!(
                "http.max_feed_kib must be at least {MIN_FEED_KIB}, so that any one message fits in a feed"
            ));
        }
        if let Some(url) = &self.node.public_url
            && !(url.starts_with("https://") || url.starts_with("http://") && is_loopback_url(url))
        {
            return Err(format!(
                "node.public_url {url:?} must be a URL like https://geneva.example.org:7700 (http:// only on loopback)"
            ));
        }
        let url = &self.http.public_url;
        if !url.is_empty()
            && (!(url.starts_with("http://") || url.starts_with("https://"))
                || url.ends_with('/')
                || url.contains(['?', '#', '"', '<', '>', '\'', '&', ' ']))
        {
            return Err(format!(
                "http.public_url {url:?} must be a URL like https://alerts.example.org, without a trailing slash"
            ));
        }
        let mut names = std::collections::HashSet::new();
        for p in &self.peers {
            if p.name.is_empty()
                || !p
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!(
                    "peer.name {:?} must be letters, digits, '-' or '_'",
                    p.name
                ));
            }
            if !names.insert(p.name.as_str()) {
                return Err(format!("peer.name {:?} is used twice", p.name));
            }
            if !(p.address.starts_with("http://") || p.address.starts_with("https://")) {
                return Err(format!(
                    "peer {:?}: address {:?} must be a URL like https://geneva.example:7700",
                    p.name, p.address
                ));
            }
            if p.address.starts_with("http://") && !is_loopback_url(&p.address) {
                return Err(format!(
                    "peer {:?}: plaintext (http://) is allowed only to a loopback address; use https://",
                    p.name
                ));
            }
        }
        Ok(())
    }
}

/// Whether a URL's host is a loopback address or localhost.
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host_port = rest.split('/').next().unwrap_or("");
    let host = if let Some(h) = host_port.strip_prefix('[') {
        h.split(']').next().unwrap_or("")
    } else {
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A duration written as "30s", "5m", "30d".
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(|e| {
        serde::de::Error::custom(format!(
            "{s:?} is not a duration like \"30s\" or \"7d\": {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_is_the_defaults() {
        let text = include_str!("../config/node.example.toml");
        let parsed = Config::parse(text).unwrap();
        let d = Config::default();
        assert_eq!(parsed.node.data_dir, d.node.data_dir);
        assert_eq!(parsed.node.listen, d.node.listen);
        assert_eq!(parsed.store.cache_mb, d.store.cache_mb);
        assert_eq!(parsed.store.tombstone_keep, d.store.tombstone_keep);
        assert_eq!(parsed.store.retention_interval, d.store.retention_interval);
        assert_eq!(parsed.store.reserve_mb, d.store.reserve_mb);
        assert_eq!(parsed.store.read_threads, d.store.read_threads);
        assert_eq!(parsed.store.read_wait, d.store.read_wait);
        assert_eq!(
            parsed.limits.max_grpc_message_bytes,
            d.limits.max_grpc_message_bytes
        );
        assert_eq!(
            parsed.limits.max_concurrent_streams,
            d.limits.max_concurrent_streams
        );
        assert_eq!(
            parsed.limits.keepalive_interval,
            d.limits.keepalive_interval
        );
        assert_eq!(parsed.limits.keepalive_timeout, d.limits.keepalive_timeout);
        assert_eq!(parsed.limits.request_timeout, d.limits.request_timeout);
        assert_eq!(parsed.limits.max_subscribers, d.limits.max_subscribers);
        assert_eq!(parsed.limits.subscriber_queue, d.limits.subscriber_queue);
        assert_eq!(
            parsed.limits.subscriber_buffer_kib,
            d.limits.subscriber_buffer_kib
        );
        assert_eq!(parsed.limits.subscriber_stall, d.limits.subscriber_stall);
        assert_eq!(
            parsed.limits.subscriptions_per_connection,
            d.limits.subscriptions_per_connection
        );
        assert_eq!(
            parsed.limits.subscriptions_per_address,
            d.limits.subscriptions_per_address
        );
        assert_eq!(
            parsed.limits.peer_subscriber_slots,
            d.limits.peer_subscriber_slots
        );
        assert_eq!(parsed.limits.max_connections, d.limits.max_connections);
        assert_eq!(parsed.limits.peer_connections, d.limits.peer_connections);
        assert_eq!(
            parsed.limits.connections_per_address,
            d.limits.connections_per_address
        );
        assert_eq!(
            parsed.limits.connections_per_prefix,
            d.limits.connections_per_prefix
        );
        assert_eq!(
            parsed.limits.connects_per_address_per_second,
            d.limits.connects_per_address_per_second
        );
        assert_eq!(
            parsed.limits.connects_per_address_burst,
            d.limits.connects_per_address_burst
        );
        assert_eq!(parsed.limits.handshake_timeout, d.limits.handshake_timeout);
        assert_eq!(parsed.limits.idle_timeout, d.limits.idle_timeout);
        assert_eq!(
            parsed.limits.streams_per_connection_per_second,
            d.limits.streams_per_connection_per_second
        );
        assert_eq!(
            parsed.limits.streams_per_connection_burst,
            d.limits.streams_per_connection_burst
        );
        assert_eq!(
            parsed.limits.publish_per_connection_per_second,
            d.limits.publish_per_connection_per_second
        );
        assert_eq!(
            parsed.limits.publish_per_connection_burst,
            d.limits.publish_per_connection_burst
        );
        assert_eq!(
            parsed.limits.publish_per_author_per_second,
            d.limits.publish_per_author_per_second
        );
        assert_eq!(
            parsed.limits.publish_per_author_burst,
            d.limits.publish_per_author_burst
        );
        for (a, b) in [
            (
                parsed.limits.publish_per_address_per_second,
                d.limits.publish_per_address_per_second,
            ),
            (
                parsed.limits.publish_per_address_burst,
                d.limits.publish_per_address_burst,
            ),
            (
                parsed.limits.publish_per_prefix_per_second,
                d.limits.publish_per_prefix_per_second,
            ),
            (
                parsed.limits.publish_per_prefix_burst,
                d.limits.publish_per_prefix_burst,
            ),
            (
                parsed.limits.new_authors_per_minute,
                d.limits.new_authors_per_minute,
            ),
            (parsed.limits.new_authors_burst, d.limits.new_authors_burst),
            (
                parsed.limits.reconcile_sessions as u32,
                d.limits.reconcile_sessions as u32,
            ),
            (parsed.limits.reconcile_rounds, d.limits.reconcile_rounds),
        ] {
            assert_eq!(a, b);
        }
        assert_eq!(parsed.trust.history, d.trust.history);
        assert_eq!(parsed.trust.unverified_items, d.trust.unverified_items);
        assert_eq!(parsed.federation.reconnect_min, d.federation.reconnect_min);
        assert_eq!(parsed.federation.reconnect_max, d.federation.reconnect_max);
        assert_eq!(parsed.federation.retry_min, d.federation.retry_min);
        assert_eq!(parsed.federation.retry_max, d.federation.retry_max);
        assert_eq!(parsed.federation.retry_limit, d.federation.retry_limit);
        assert_eq!(
            parsed.federation.retry_limit_per_peer,
            d.federation.retry_limit_per_peer
        );
        assert_eq!(
            parsed.federation.retry_future_max,
            d.federation.retry_future_max
        );
        assert_eq!(
            parsed.federation.reconcile_every,
            d.federation.reconcile_every
        );
        assert_eq!(parsed.limits.reconcile_timeout, d.limits.reconcile_timeout);
        assert_eq!(parsed.trust.policy, d.trust.policy);
        assert!(parsed.trust.allow.is_empty() && parsed.trust.deny.is_empty());
        assert!(parsed.trust.federations.is_empty());
        assert_eq!(parsed.tls.mode, d.tls.mode);
        assert!(parsed.tls.cert.is_none() && parsed.tls.client_ca.is_empty());
        assert_eq!(parsed.http.enabled, d.http.enabled);
        assert_eq!(parsed.http.listen, d.http.listen);
        assert_eq!(parsed.http.public_url, d.http.public_url);
        assert_eq!(parsed.http.page_max_age, d.http.page_max_age);
        assert_eq!(parsed.http.feed_max_age, d.http.feed_max_age);
        assert_eq!(parsed.http.max_items, d.http.max_items);
        assert_eq!(parsed.http.max_connections, d.http.max_connections);
        assert_eq!(
            parsed.http.max_connections_per_address,
            d.http.max_connections_per_address
        );
        assert_eq!(
            parsed.http.max_connections_per_prefix,
            d.http.max_connections_per_prefix
        );
        assert_eq!(parsed.http.idle_timeout, d.http.idle_timeout);
        assert_eq!(parsed.http.keep_alive_max, d.http.keep_alive_max);
        assert_eq!(parsed.http.write_timeout, d.http.write_timeout);
        assert_eq!(parsed.http.send_window, d.http.send_window);
        assert_eq!(parsed.http.min_send_rate, d.http.min_send_rate);
        assert_eq!(parsed.http.max_feed_kib, d.http.max_feed_kib);
        assert_eq!(parsed.http.render_cache_mib, d.http.render_cache_mib);
        assert!(parsed.peers.is_empty());
    }

    #[test]
    fn a_reload_names_the_settings_that_need_a_restart() {
        let running = Config::parse("[node]\nname = \"baku\"\n").unwrap();
        let reloaded = Config::parse(
            "[node]\nname = \"baku\"\n[tls]\nclient_ca = [\"geneva.crt\"]\n[[peer]]\nname = \"geneva\"\naddress = \"https://127.0.0.1:7702\"\n",
        )
        .unwrap();
        assert!(running.needs_restart(&reloaded).is_empty());
        let moved = Config::parse(
            "[node]\nname = \"baku\"\nlisten = \"127.0.0.1:7709\"\n[tls]\nnames = [\"baku.example\"]\n",
        )
        .unwrap();
        assert_eq!(
            running.needs_restart(&moved),
            ["[node]", "[tls] (other than client_ca)"]
        );
    }

    #[test]
    fn a_public_url_must_be_one_another_node_can_use() {
        let ok =
            Config::parse("[node]\npublic_url = \"https://geneva.example.org:7700\"\n").unwrap();
        assert_eq!(ok.public_grpc_url(), "https://geneva.example.org:7700");
        assert_eq!(
            Config::default().public_grpc_url(),
            "https://127.0.0.1:7700"
        );
        for bad in ["geneva.example.org", "http://192.0.2.1:7700"] {
            let err = Config::parse(&format!("[node]\npublic_url = \"{bad}\"\n")).unwrap_err();
            assert!(err.contains("node.public_url"), "{err}");
        }
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::parse("[node]\nlisten = \"127.0.0.1:1\"\nlsiten = 3\n").unwrap_err();
        assert!(err.contains("lsiten"), "{err}");
        let err = Config::parse("[nodes]\n").unwrap_err();
        assert!(err.contains("nodes"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let err = Config::parse("[store]\nretention_interval = \"soon\"\n").unwrap_err();
        assert!(
            err.contains("retention_interval") && err.contains("soon"),
            "{err}"
        );
        let err = Config::parse("[limits]\nmax_subscribers = 0\n").unwrap_err();
        assert!(err.contains("limits.max_subscribers"), "{err}");
        let err = Config::parse("[limits]\nmax_subscribers = 8\npeer_subscriber_slots = 8\n")
            .unwrap_err();
        assert!(err.contains("limits.peer_subscriber_slots"), "{err}");
        let err = Config::parse("[limits]\nsubscriber_stall = \"0s\"\n").unwrap_err();
        assert!(err.contains("limits.subscriber_stall"), "{err}");
        let err = Config::parse("[node]\nlisten = \"localhost\"\n").unwrap_err();
        assert!(err.contains("listen"), "{err}");
        let err = Config::parse("[node]\nlisten = \"0.0.0.0:7700\"\n[tls]\nmode = \"off\"\n")
            .unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        let err = Config::parse("[tls]\nmode = \"files\"\n").unwrap_err();
        assert!(err.contains("tls.cert"), "{err}");
        let err = Config::parse("[trust]\npolicy = \"closed\"\n").unwrap_err();
        assert!(err.contains("closed"), "{err}");
        let err = Config::parse("[trust]\ndeny = [\"abc\"]\n").unwrap_err();
        assert!(err.contains("trust.deny"), "{err}");
        let err = Config::parse("[[peer]]\nname = \"a\"\naddress = \"127.0.0.1:1\"\n").unwrap_err();
        assert!(err.contains("https://"), "{err}");
        let err = Config::parse("[[peer]]\nname = \"a\"\naddress = \"http://192.0.2.7:7700\"\n")
            .unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        assert!(Config::parse("[[peer]]\nname = \"a\"\naddress = \"http://[::1]:7700\"\n").is_ok());
        assert!(err.contains("http://"), "{err}");
        let err = Config::parse("[http]\npublic_url = \"alerts.example.org\"\n").unwrap_err();
        assert!(err.contains("http.public_url"), "{err}");
        let err = Config::parse("[http]\npublic_url = \"https://a.example.org/\"\n").unwrap_err();
        assert!(err.contains("trailing slash"), "{err}");
        let err = Config::parse("[federation]\nretry_limit = 10\n").unwrap_err();
        assert!(err.contains("federation.retry_limit_per_peer"), "{err}");
        let err = Config::parse("[federation]\nretry_min = \"2h\"\n").unwrap_err();
        assert!(err.contains("federation.retry_min"), "{err}");
        let err = Config::parse("[limits]\nconnections_per_prefix = 4\n").unwrap_err();
        assert!(err.contains("limits.connections_per_prefix"), "{err}");
        let err = Config::parse("[limits]\nidle_timeout = \"0s\"\n").unwrap_err();
        assert!(err.contains("limits.idle_timeout"), "{err}");
        for bad in [32, 16 * 1024 + 1] {
            let err =
                Config::parse(&format!("[limits]\nreconcile_frame_kib = {bad}\n")).unwrap_err();
            assert!(
                err.contains("limits.reconcile_frame_kib") && err.contains("from 64 to 16384"),
                "{err}"
            );
        }
        let err = Config::parse("[http]\nmax_items = 0\n").unwrap_err();
        assert!(err.contains("http.max_items"), "{err}");
        let err = Config::parse("[http]\nmax_connections_per_address = 2000\n").unwrap_err();
        assert!(err.contains("http.max_connections_per_address"), "{err}");
        let err = Config::parse("[http]\nmax_feed_kib = 16\n").unwrap_err();
        assert!(err.contains("http.max_feed_kib"), "{err}");
        let err = Config::parse("[http]\nwrite_timeout = \"0s\"\n").unwrap_err();
        assert!(err.contains("http.write_timeout"), "{err}");
        let ok =
            Config::parse("[http]\nenabled = false\npublic_url = \"https://alerts.example.org\"\n")
                .unwrap();
        assert!(!ok.http.enabled);
    }
}
