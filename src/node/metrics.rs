//! The node's counters: what the HTTP gateway exposes and `node status` shows.
//!
//! Architecture Invariant: every refusal is counted under its reason code; nothing is dropped
//! silently.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::budget::Limit;
use crate::message::Reason;

/// Upper bounds of the ingest latency histogram's buckets, in microseconds.
pub const LATENCY_BUCKETS_US: [u64; 14] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 5_000_000,
];

/// Lock-free counters, shared by every task of the node.
#[derive(Debug, Default)]
pub struct Metrics {
    accepted: AtomicU64,
    duplicate: AtomicU64,
    refused: [AtomicU64; Reason::ALL.len()],
    subscribers: AtomicU64,
    latency_buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    latency_sum_us: AtomicU64,
    store_write_failures: AtomicU64,
    /// Accepted messages of a kind this version does not know (a newer version's), stored and
    /// relayed unread.
    unknown_kind: AtomicU64,
    /// `rate-limited` refusals by the budget that refused them.
    limited: [AtomicU64; Limit::ALL.len()],
    /// Federation's retry set (the entries kept are counted by the store).
    pub retry: RetryMetrics,
    /// Connections to the gRPC port: open, refused and closed by the edge's limits.
    pub connections: ConnectionMetrics,
    /// Subscriptions refused by a cap, and ended because their reader stalled.
    pub subscriptions: SubscriptionMetrics,
    /// Reconciliation sessions this node served to others, by how they ended.
    pub reconcile_served: ServedMetrics,
}

/// Reconciliation sessions served to other nodes (`Relay.Reconcile`), by how they ended.
#[derive(Debug, Default)]
pub struct ServedMetrics {
    ended: [AtomicU64; 3],
}

impl ServedMetrics {
    /// How a served session can end, as named in `/metrics`: the caller ended it, it was
    /// refused for the cap on sessions, or it ended with an error (malformed, a bound spent,
    /// the node failing).
    pub const OUTCOMES: [&'static str; 3] = ["completed", "busy", "failed"];

    /// Counts one session ended as `OUTCOMES[index]`.
    pub fn ended(&self, index: usize) {
        if let Some(c) = self.ended.get(index) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// Sessions per outcome, in [`ServedMetrics::OUTCOMES`] order.
    pub fn snapshot(&self) -> [u64; 3] {
        std::array::from_fn(|i| self.ended[i].load(Relaxed))
    }
}

/// Why the gRPC edge refused or closed a connection (or refused a stream). The rpc layer
/// decides; the counters live here with the others so `/metrics` reads them in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnRefusal {
    /// The address opened connections faster than `limits.connects_per_address_per_second`.
    Rate,
    /// The address held `limits.connections_per_address` already.
    PerAddress,
    /// The address's /24 (IPv4) or /48 (IPv6) held `limits.connections_per_prefix` already.
    Prefix,
    /// Every slot its class may use was taken (or too many handshakes were under way).
    Capacity,
    /// The TLS handshake (or, in plaintext, the first byte) did not come in time.
    HandshakeTimeout,
    /// The TLS handshake failed (plaintext to a TLS port, an untrusted client certificate).
    HandshakeFailed,
    /// Closed: no stream open for `limits.idle_timeout`.
    Idle,
    /// Closed: it kept opening streams past `limits.streams_per_connection_*`.
    Streams,
    /// A new stream refused (`rate-limited`): over `limits.streams_per_connection_*`.
    Stream,
}

impl ConnRefusal {
    /// Every class, in the order of the counters.
    pub const ALL: [ConnRefusal; 9] = [
        ConnRefusal::Rate,
        ConnRefusal::PerAddress,
        ConnRefusal::Prefix,
        ConnRefusal::Capacity,
        ConnRefusal::HandshakeTimeout,
        ConnRefusal::HandshakeFailed,
        ConnRefusal::Idle,
        ConnRefusal::Streams,
        ConnRefusal::Stream,
    ];

    /// The label in `/metrics` and in the log.
    pub fn label(self) -> &'static str {
        match self {
            ConnRefusal::Rate => "rate",
            ConnRefusal::PerAddress => "per-address",
            ConnRefusal::Prefix => "prefix",
            ConnRefusal::Capacity => "capacity",
            ConnRefusal::HandshakeTimeout => "handshake-timeout",
            ConnRefusal::HandshakeFailed => "handshake-failed",
            ConnRefusal::Idle => "idle",
            ConnRefusal::Streams => "streams",
            ConnRefusal::Stream => "stream-rate",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Connections to the gRPC port, counted by the rpc layer's edge.
#[derive(Debug, Default)]
pub struct ConnectionMetrics {
    refused: [AtomicU64; ConnRefusal::ALL.len()],
    /// Connections open now in the public slots (`limits.max_connections`).
    pub open_public: AtomicU64,
    /// Connections open now in the slots reserved for authenticated peers.
    pub open_peer: AtomicU64,
    /// Connections whose handshake is under way (they hold no slot yet).
    pub handshaking: AtomicU64,
    /// TLS handshakes refused, by cause (with the last detail of each, for `node status`).
    pub tls_refused: TlsRefusals,
}

/// Why a TLS handshake on the gRPC port failed. The rpc layer's edge classifies; the counts
/// live here, beside the edge's other counts, for `/metrics` and `NodeInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsCause {
    /// A client certificate from a CA not in `tls.client_ca` (or signed by none at all).
    UntrustedClientCa,
    /// A client certificate that is expired or not valid yet.
    ClientCertExpired,
    /// A client certificate refused for another reason (its use, its encoding, revoked).
    BadClientCert,
    /// The client refused the node's certificate (it does not trust the node's CA: a client
    /// without `--ca`, or a peer whose `ca` is another node's).
    NodeCertRefused,
    /// Plaintext HTTP/2 (or HTTP/1) on the TLS port: the first bytes are not a TLS record.
    Plaintext,
    /// No protocol version, cipher suite or ALPN protocol in common.
    NoCommonProtocol,
    /// The handshake did not finish within `limits.handshake_timeout`.
    Timeout,
    /// The client closed the connection during the handshake (scanners, health checks).
    Closed,
    /// Anything else.
    Other,
}

impl TlsCause {
    /// Every cause, in the order of the counters.
    pub const ALL: [TlsCause; 9] = [
        TlsCause::UntrustedClientCa,
        TlsCause::ClientCertExpired,
        TlsCause::BadClientCert,
        TlsCause::NodeCertRefused,
        TlsCause::Plaintext,
        TlsCause::NoCommonProtocol,
        TlsCause::Timeout,
        TlsCause::Closed,
        TlsCause::Other,
    ];

    /// The label in `/metrics`, the log and `NodeInfo`.
    pub fn label(self) -> &'static str {
        match self {
            TlsCause::UntrustedClientCa => "untrusted-client-ca",
            TlsCause::ClientCertExpired => "client-cert-expired",
            TlsCause::BadClientCert => "bad-client-cert",
            TlsCause::NodeCertRefused => "node-cert-refused",
            TlsCause::Plaintext => "plaintext",
            TlsCause::NoCommonProtocol => "no-common-protocol",
            TlsCause::Timeout => "timeout",
            TlsCause::Closed => "closed",
            TlsCause::Other => "other",
        }
    }

    /// The cause in words, for the log and `tocsin node status`.
    pub fn words(self) -> &'static str {
        match self {
            TlsCause::UntrustedClientCa => "client certificate from an untrusted CA",
            TlsCause::ClientCertExpired => "client certificate expired or not yet valid",
            TlsCause::BadClientCert => "client certificate refused",
            TlsCause::NodeCertRefused => {
                "the client refused the node's certificate (it needs --ca with the node's CA)"
            }
            TlsCause::Plaintext => {
                "plaintext HTTP on the TLS port (the client should use https://)"
            }
            TlsCause::NoCommonProtocol => "no TLS version, cipher or protocol (h2) in common",
            TlsCause::Timeout => "handshake timed out",
            // A client that does not trust the node's CA often hangs up without an alert.
            TlsCause::Closed => {
                "client closed during the handshake (scanners, or a client without the node's CA: --ca)"
            }
            TlsCause::Other => "other TLS errors",
        }
    }

    /// The cause of a label (as `NodeInfo` carries it); `None` for a label this version does
    /// not know.
    pub fn from_label(label: &str) -> Option<TlsCause> {
        TlsCause::ALL.into_iter().find(|c| c.label() == label)
    }
}

/// TLS handshakes refused so far, by cause, with the last detail each one had (an issuer's
/// name: never a client address).
#[derive(Debug, Default)]
pub struct TlsRefusals {
    counts: [AtomicU64; TlsCause::ALL.len()],
    details: std::sync::Mutex<[Option<String>; TlsCause::ALL.len()]>,
}

/// One cause's count, as `NodeInfo` carries it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HandshakeRefusals {
    /// The cause's label ([`TlsCause::label`]).
    pub cause: String,
    /// Refused so far, since the node started.
    pub count: u64,
    /// The last detail (for an untrusted client CA: who issued the certificate and which CAs
    /// the node trusts); empty when there is none.
    pub last_detail: String,
}

impl TlsRefusals {
    /// Counts one refusal, keeping its detail when it has one.
    pub fn refused(&self, cause: TlsCause, detail: Option<String>) {
        self.counts[cause as usize].fetch_add(1, Relaxed);
        if let Some(detail) = detail {
            // A poisoned lock only means a panic elsewhere while a detail was written.
            let mut details = self
                .details
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            details[cause as usize] = Some(detail);
        }
    }

    /// How many of this cause so far.
    pub fn count(&self, cause: TlsCause) -> u64 {
        self.counts[cause as usize].load(Relaxed)
    }

    /// The last detail of this cause, if any.
    pub fn detail(&self, cause: TlsCause) -> Option<String> {
        self.details
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)[cause as usize]
            .clone()
    }

    /// The causes seen so far, with their counts and last details.
    pub fn seen(&self) -> Vec<HandshakeRefusals> {
        TlsCause::ALL
            .into_iter()
            .filter(|c| self.count(*c) > 0)
            .map(|c| HandshakeRefusals {
                cause: c.label().to_string(),
                count: self.count(c),
                last_detail: self.detail(c).unwrap_or_default(),
            })
            .collect()
    }
}

impl ConnectionMetrics {
    /// Counts one refusal (or closing) of this class.
    pub fn refused(&self, class: ConnRefusal) {
        self.refused[class.index()].fetch_add(1, Relaxed);
    }

    /// How many of this class so far.
    pub fn refused_count(&self, class: ConnRefusal) -> u64 {
        self.refused[class.index()].load(Relaxed)
    }
}

/// What the caps on subscriptions refused, and the subscriptions ended for not being read.
#[derive(Debug, Default)]
pub struct SubscriptionMetrics {
    /// Refused, by cap, in [`SubscriptionMetrics::CAPS`] order.
    refused: [AtomicU64; 5],
    /// Ended because their queue stayed full past `limits.subscriber_stall`.
    stalled: AtomicU64,
}

impl SubscriptionMetrics {
    /// The caps a subscription can meet, as named in `/metrics`: the node's cap, the part of
    /// it readers may take (the rest is kept for peers), per source address, per connection.
    pub const CAPS: [&'static str; 5] = ["node", "readers", "address", "connection", "network"];

    /// Counts a refusal by the cap at `index` in [`SubscriptionMetrics::CAPS`].
    pub fn refused(&self, index: usize) {
        if let Some(c) = self.refused.get(index) {
            c.fetch_add(1, Relaxed);
        }
    }

    /// Counts a subscription ended for a stalled reader.
    pub fn stalled(&self) {
        self.stalled.fetch_add(1, Relaxed);
    }

    /// Refusals per cap, in [`SubscriptionMetrics::CAPS`] order, and the stalled count.
    pub fn snapshot(&self) -> ([u64; 5], u64) {
        (
            std::array::from_fn(|i| self.refused[i].load(Relaxed)),
            self.stalled.load(Relaxed),
        )
    }
}

/// What federation's retry set did with refusals that may change.
#[derive(Debug, Default)]
pub struct RetryMetrics {
    /// Tries of kept messages through the ingest pipeline.
    pub attempts: AtomicU64,
    /// Kept messages stored by a try (or found stored already).
    pub stored: AtomicU64,
    /// Kept messages refused for good by a try.
    pub refused: AtomicU64,
    /// Kept messages that expired before they could be stored.
    pub given_up: AtomicU64,
    /// Refusals not kept because they were dated beyond `federation.retry_future_max`.
    pub beyond_horizon: AtomicU64,
}

impl RetryMetrics {
    /// Reads every counter.
    pub fn snapshot(&self) -> RetrySnapshot {
        RetrySnapshot {
            attempts: self.attempts.load(Relaxed),
            stored: self.stored.load(Relaxed),
            refused: self.refused.load(Relaxed),
            given_up: self.given_up.load(Relaxed),
            beyond_horizon: self.beyond_horizon.load(Relaxed),
        }
    }
}

/// A copy of [`RetryMetrics`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetrySnapshot {
    /// See [`RetryMetrics::attempts`].
    pub attempts: u64,
    /// See [`RetryMetrics::stored`].
    pub stored: u64,
    /// See [`RetryMetrics::refused`].
    pub refused: u64,
    /// See [`RetryMetrics::given_up`].
    pub given_up: u64,
    /// See [`RetryMetrics::beyond_horizon`].
    pub beyond_horizon: u64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Messages stored.
    pub accepted: u64,
    /// Messages that were already stored.
    pub duplicate: u64,
    /// Refusals by reason, in [`Reason::ALL`] order.
    pub refused: Vec<(Reason, u64)>,
    /// Subscriptions open now.
    pub subscribers: u64,
    /// Cumulative counts per latency bucket (the last is +Inf), Prometheus style.
    pub latency_cumulative: Vec<u64>,
    /// Sum of all ingest latencies in microseconds.
    pub latency_sum_us: u64,
    /// Messages the store could not take (disk below its reserve, a failed write), each also
    /// refused as `unavailable`.
    pub store_write_failures: u64,
    /// `rate-limited` refusals by the budget that refused them, in [`Limit::ALL`] order.
    pub limited: Vec<(Limit, u64)>,
    /// See [`Metrics::unknown_kind_accepted`].
    pub unknown_kind: u64,
}

impl Metrics {
    /// Counts an accepted message and how long its ingest took.
    pub fn accepted(&self, took: Duration) {
        self.accepted.fetch_add(1, Relaxed);
        self.observe(took);
    }

    /// Counts messages accepted under embargo, at their release (no ingest latency: that
    /// was observed by no one).
    pub fn released(&self, n: u64) {
        self.accepted.fetch_add(n, Relaxed);
    }

    /// Counts an accepted message of a kind this version does not know, when readers could
    /// see it (not under embargo): it is counted as accepted too.
    pub fn unknown_kind_accepted(&self) {
        self.unknown_kind.fetch_add(1, Relaxed);
    }

    /// Counts a duplicate.
    pub fn duplicate(&self) {
        self.duplicate.fetch_add(1, Relaxed);
    }

    /// Counts a refusal.
    pub fn refused(&self, reason: Reason) {
        self.refused[reason.index()].fetch_add(1, Relaxed);
    }

    /// How many refusals with this reason so far.
    pub fn refused_count(&self, reason: Reason) -> u64 {
        self.refused[reason.index()].load(Relaxed)
    }

    /// Counts which budget refused a message (the refusal itself is counted under
    /// `rate-limited` where it is answered).
    pub fn limited(&self, limit: Limit) {
        self.limited[limit.index()].fetch_add(1, Relaxed);
    }

    /// How many refusals this budget made so far.
    pub fn limited_count(&self, limit: Limit) -> u64 {
        self.limited[limit.index()].load(Relaxed)
    }

    /// Counts a message the store could not take (it is refused `unavailable` too).
    pub fn store_write_failed(&self) {
        self.store_write_failures.fetch_add(1, Relaxed);
        self.refused(Reason::Unavailable);
    }

    /// A subscription opened.
    pub fn subscriber_opened(&self) {
        self.subscribers.fetch_add(1, Relaxed);
    }

    /// A subscription closed.
    pub fn subscriber_closed(&self) {
        self.subscribers.fetch_sub(1, Relaxed);
    }

    fn observe(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        self.latency_buckets[bucket].fetch_add(1, Relaxed);
        self.latency_sum_us.fetch_add(us, Relaxed);
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let mut running = 0;
        let latency_cumulative = self
            .latency_buckets
            .iter()
            .map(|b| {
                running += b.load(Relaxed);
                running
            })
            .collect();
        MetricsSnapshot {
            accepted: self.accepted.load(Relaxed),
            duplicate: self.duplicate.load(Relaxed),
            store_write_failures: self.store_write_failures.load(Relaxed),
            refused: Reason::ALL
                .iter()
                .map(|r| (*r, self.refused[r.index()].load(Relaxed)))
                .collect(),
            subscribers: self.subscribers.load(Relaxed),
            limited: Limit::ALL
                .iter()
                .map(|l| (*l, self.limited[l.index()].load(Relaxed)))
                .collect(),
            latency_cumulative,
            latency_sum_us: self.latency_sum_us.load(Relaxed),
            unknown_kind: self.unknown_kind.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_buckets() {
        let m = Metrics::default();
        m.accepted(Duration::from_micros(90));
        m.accepted(Duration::from_millis(3));
        m.accepted(Duration::from_secs(60));
        m.duplicate();
        m.refused(Reason::Expired);
        m.refused(Reason::Expired);
        let s = m.snapshot();
        assert_eq!(s.accepted, 3);
        assert_eq!(s.duplicate, 1);
        assert_eq!(s.refused[Reason::Expired.index()], (Reason::Expired, 2));
        assert_eq!(s.latency_cumulative[0], 1);
        assert_eq!(s.latency_cumulative[5], 2); // <= 5 ms
        assert_eq!(*s.latency_cumulative.last().unwrap(), 3);
    }
}
