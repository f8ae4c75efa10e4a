//! The gRPC port's edge: which connections get in, and for how long.
//!
//! The life of a connection: accepted → the address's connect rate, its connection cap and its
//! prefix's, and the cap on handshakes under way (refused: closed at once) → the handshake,
//! TLS or, in plaintext, the first byte, under `limits.handshake_timeout`, on its own task →
//! a slot (public, or for a peer that presented a client certificate from `tls.client_ca`,
//! a reserved one first) → served by tonic, through the stream gate (`gate.rs`) that limits
//! new calls per connection and counts the calls open → closed when no call has been open for
//! `limits.idle_timeout`. Nothing holds a slot before its handshake is done, so sockets that
//! never speak cost their address only.
//!
//! Every refusal and closing is counted by class (`ConnRefusal`, in `/metrics`) and logged once
//! a minute with a count, never per event and never with an address. A failed TLS handshake is
//! also counted by its cause (`refusal.rs`: an untrusted client CA, plaintext on the TLS port,
//! …), and logged once a minute by cause with the issuer's name where there is one.

mod book;
mod conn;
mod gate;
mod refusal;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::Stream;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_rustls::rustls;
use tokio_stream::wrappers::ReceiverStream;
use tracing::{debug, info, warn};

use crate::config::LimitsSection;
use crate::node::Node;
use crate::node::metrics::{ConnRefusal, TlsCause};
use book::{Book, Caps, Stage};
pub(crate) use conn::Conn;
use conn::ConnState;
pub(crate) use gate::StreamGateLayer;
use refusal::Refused;

/// How often refusals are logged (with their counts since the last line).
const LOG_INTERVAL: Duration = Duration::from_secs(60);

/// (local, remote) addresses: one TCP connection.
type ConnKey = (SocketAddr, SocketAddr);

/// Why the edge could not be set up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EdgeError {
    /// The node's TLS material could not be used.
    #[error("TLS settings of the gRPC listener: {0}")]
    Tls(String),
}

/// The edge's shared state: the book, the registry of open connections (for the stream
/// gate), the connect-rate buckets, and the counts waiting to be logged.
#[derive(Debug)]
pub(crate) struct Edge {
    node: Node,
    book: Mutex<Book>,
    registry: Mutex<HashMap<ConnKey, Arc<ConnState>>>,
    connects: DefaultKeyedRateLimiter<IpAddr>,
    /// Refusals since the last log line, by class.
    unlogged: [AtomicU64; ConnRefusal::ALL.len()],
    /// Failed TLS handshakes since the last log line, by cause.
    unlogged_tls: [AtomicU64; TlsCause::ALL.len()],
    handshake_timeout: Duration,
    idle_timeout: Duration,
    streams_per_second: u32,
    streams_burst: u32,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a count was held leaves counts that are still counts.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Edge {
    /// The edge of `node`'s gRPC port, from its `[limits]`.
    pub(crate) fn new(node: Node) -> Arc<Edge> {
        let l: LimitsSection = node.config().limits.clone();
        let rate = NonZeroU32::new(l.connects_per_address_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(l.connects_per_address_burst).unwrap_or(NonZeroU32::MIN);
        Arc::new(Edge {
            book: Mutex::new(Book::new(Caps {
                public: l.max_connections,
                peer: l.peer_connections,
                per_address: l.connections_per_address,
                per_prefix: l.connections_per_prefix,
                // Handshakes under way hold no slot but a socket and a task each: as many as
                // there are public slots.
                handshakes: l.max_connections,
            })),
            registry: Mutex::new(HashMap::new()),
            connects: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            unlogged: Default::default(),
            unlogged_tls: Default::default(),
            handshake_timeout: l.handshake_timeout,
            idle_timeout: l.idle_timeout,
            streams_per_second: l.streams_per_connection_per_second,
            streams_burst: l.streams_per_connection_burst,
            node,
        })
    }

    /// Counts a refusal or closing of this class (and keeps it for the next log line).
    pub(crate) fn note(&self, class: ConnRefusal) {
        self.node.metrics().connections.refused(class);
        self.unlogged[class as usize].fetch_add(1, Relaxed);
    }

    /// Counts a failed TLS handshake by its cause (and keeps it for the next log line).
    fn note_tls(&self, refused: Refused) {
        let cause = refused.cause;
        self.node
            .metrics()
            .connections
            .tls_refused
            .refused(cause, refused.detail);
        self.unlogged_tls[cause as usize].fetch_add(1, Relaxed);
    }

    /// The state of an open connection, for the stream gate.
    fn connection(&self, key: &ConnKey) -> Option<Arc<ConnState>> {
        lock(&self.registry).get(key).cloned()
    }

    /// Writes one line per class refused since the last call, with its count.
    fn log_refusals(&self) {
        for class in ConnRefusal::ALL {
            let n = self.unlogged[class as usize].swap(0, Relaxed);
            if n == 0 {
                continue;
            }
            let minutes = LOG_INTERVAL.as_secs() / 60;
            match class {
                // Idle connections closing and failed handshakes are the ordinary life of a
                // public port; the rest are limits doing their work.
                ConnRefusal::Idle | ConnRefusal::HandshakeFailed => info!(
                    reason = class.label(),
                    count = n,
                    "gRPC connections closed in the last {minutes} min"
                ),
                _ => warn!(
                    reason = class.label(),
                    count = n,
                    "gRPC connections or calls refused by the node's limits in the last {minutes} min (see tocsin_connections_refused_total)"
                ),
            }
        }
        let tls = &self.node.metrics().connections.tls_refused;
        for cause in TlsCause::ALL {
            let n = self.unlogged_tls[cause as usize].swap(0, Relaxed);
            if n == 0 {
                continue;
            }
            let minutes = LOG_INTERVAL.as_secs() / 60;
            let words = cause.words();
            let detail = tls
                .detail(cause)
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            match cause {
                // Scanners and health checks close during handshakes all day.
                TlsCause::Closed => debug!(
                    cause = cause.label(),
                    count = n,
                    "TLS handshakes ended by the client in the last {minutes} min"
                ),
                _ => warn!(
                    cause = cause.label(),
                    count = n,
                    "TLS handshakes refused in the last {minutes} min: {n} {words}{detail}"
                ),
            }
        }
    }

    fn publish_gauges(&self, book: &Book) {
        let m = &self.node.metrics().connections;
        m.handshaking.store(book.handshaking as u64, Relaxed);
        m.open_public.store(book.public as u64, Relaxed);
        m.open_peer.store(book.peer as u64, Relaxed);
    }

    /// A new connection from `remote`: booked for its handshake, or refused (counted).
    fn admit(self: &Arc<Self>, local: SocketAddr, remote: SocketAddr) -> Option<Booked> {
        let ip = remote.ip().to_canonical();
        if self.connects.check_key(&ip).is_err() {
            self.note(ConnRefusal::Rate);
            return None;
        }
        let mut book = lock(&self.book);
        if let Err(class) = book.admit(ip) {
            drop(book);
            self.note(class);
            return None;
        }
        self.publish_gauges(&book);
        Some(Booked {
            edge: Arc::clone(self),
            ip,
            key: (local, remote),
            stage: Stage::Handshaking,
            registered: false,
        })
    }

    /// A handshake is done: the connection takes a slot and is registered for the stream
    /// gate, or is refused `capacity` (counted; dropping `booked` releases it).
    fn open<S>(&self, mut booked: Booked, io: S, peer: bool) -> Option<Conn<S>> {
        let mut book = lock(&self.book);
        match book.open(booked.ip, peer) {
            Ok(stage) => {
                booked.stage = stage;
                self.publish_gauges(&book);
            }
            Err(class) => {
                drop(book);
                self.note(class);
                return None;
            }
        }
        drop(book);
        let state = Arc::new(ConnState::new(self.streams_per_second, self.streams_burst));
        lock(&self.registry).insert(booked.key, Arc::clone(&state));
        booked.registered = true;
        Some(Conn::new(io, state, self.idle_timeout, booked))
    }

    /// Forgets connect-rate buckets that are full again, so memory follows the addresses
    /// active now.
    fn forget_idle(&self) {
        self.connects.retain_recent();
        self.connects.shrink_to_fit();
    }
}

/// A connection's place in the edge's book (and registry, once open); released on drop.
#[derive(Debug)]
pub(crate) struct Booked {
    edge: Arc<Edge>,
    ip: IpAddr,
    key: ConnKey,
    stage: Stage,
    registered: bool,
}

impl Drop for Booked {
    fn drop(&mut self) {
        if self.registered {
            lock(&self.edge.registry).remove(&self.key);
        }
        let mut book = lock(&self.edge.book);
        book.release(self.ip, self.stage);
        self.edge.publish_gauges(&book);
    }
}

/// How a connection proves itself before it takes a slot.
pub(crate) trait Handshake: Send + Sync + 'static {
    /// The stream tonic is given.
    type Io: Send + 'static;
    /// Whether this is a TLS handshake (whose failures are counted by cause).
    const TLS: bool;

    /// Runs the handshake; the `bool` says whether the client authenticated as a peer.
    fn handshake(
        &self,
        tcp: TcpStream,
    ) -> impl Future<Output = Result<(Self::Io, bool), Refused>> + Send;
}

/// Plaintext (loopback only): the handshake is the client's first byte, so a socket that
/// never speaks takes no slot here either. No one is an authenticated peer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plaintext;

impl Handshake for Plaintext {
    type Io = TcpStream;
    const TLS: bool = false;

    async fn handshake(&self, tcp: TcpStream) -> Result<(TcpStream, bool), Refused> {
        let mut first = [0u8; 1];
        match tcp.peek(&mut first).await {
            Ok(0) => Err(Refused::because(TlsCause::Closed)),
            // A TLS client: told in HTTP/2's words, which it will not take for TLS.
            Ok(_) if refusal::opens_tls(&first) => {
                refusal::answer_tls_on_plaintext(tcp).await;
                Err(Refused::because(TlsCause::Other))
            }
            Ok(_) => Ok((tcp, false)),
            Err(e) => Err(Refused::because(refusal::classify(&e))),
        }
    }
}

/// TLS with the node's identity; a client certificate is optional, and one from the CAs of
/// `tls.client_ca` (rustls verifies it; any other fails the handshake) marks a peer. The
/// acceptor is made again when a reload has changed the client CAs, before the next
/// handshake: a connection accepted after a reload returned uses the new CAs, an open one keeps
/// what it was accepted with.
#[derive(Clone)]
pub(crate) struct Tls {
    acceptor: Arc<std::sync::RwLock<Acceptor>>,
    identity: crate::tls::Identity,
    /// The node's reloadable settings, when followed ([`Tls::following`]).
    reloads: Option<Arc<Mutex<tokio::sync::watch::Receiver<crate::peering::Live>>>>,
    /// Who issued the last client certificate refused (for the log; never an address).
    last_refused_issuer: Arc<Mutex<Option<String>>>,
}

/// One acceptor and the names of the client CAs it trusts, made again together on a reload.
#[derive(Clone)]
struct Acceptor {
    acceptor: tokio_rustls::TlsAcceptor,
    /// The names of the CAs of `tls.client_ca`, for the log's refusal lines.
    trusted: String,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls").finish_non_exhaustive()
    }
}

impl Tls {
    /// The acceptor for the node's TLS material: its certificate chain and key, and the
    /// client CAs (PEM). HTTP/2 only (ALPN `h2`).
    pub(crate) fn new(material: &crate::node::TlsMaterial) -> Result<Tls, EdgeError> {
        let last_refused_issuer = Arc::new(Mutex::new(None));
        let acceptor = Tls::acceptor(
            &material.identity,
            material.client_ca.as_deref(),
            &last_refused_issuer,
        )?;
        Ok(Tls {
            acceptor: Arc::new(std::sync::RwLock::new(acceptor)),
            identity: material.identity.clone(),
            reloads: None,
            last_refused_issuer,
        })
    }

    /// Follows the client CAs of the node's reloads (`peering/`), from the one `reloads` has
    /// marked seen.
    pub(crate) fn following(
        mut self,
        reloads: tokio::sync::watch::Receiver<crate::peering::Live>,
    ) -> Tls {
        self.reloads = Some(Arc::new(Mutex::new(reloads)));
        self
    }

    /// The acceptor for a new connection: made again first when a reload changed the client
    /// CAs. One that is not usable (a reload checks them first, so this is a backstop) is
    /// logged and no client CA is trusted until the next reload: the CAs before it may be the
    /// very ones the reload took out.
    fn current(&self) -> Acceptor {
        if let Some(reloads) = &self.reloads {
            let mut reloads = lock(reloads);
            if reloads.has_changed().unwrap_or(false) {
                let pem = reloads.borrow_and_update().client_ca_pem.clone();
                let rebuilt =
                    Tls::acceptor(&self.identity, pem.as_deref(), &self.last_refused_issuer)
                        .map_err(|e| {
                            warn!(
                                error = %e,
                                "the reloaded tls.client_ca is not usable; new connections trust no client CA until the next reload"
                            );
                        })
                        .or_else(|()| {
                            Tls::acceptor(&self.identity, None, &self.last_refused_issuer)
                        });
                match rebuilt {
                    Ok(acceptor) => {
                        // A panic while the acceptor was replaced leaves a whole one either way.
                        *self
                            .acceptor
                            .write()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = acceptor;
                        info!("new gRPC connections trust the client CAs as reloaded");
                    }
                    // The node's own certificate was built into an acceptor at start.
                    Err(e) => warn!(error = %e, "the gRPC acceptor could not be made again"),
                }
            }
        }
        self.acceptor
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn acceptor(
        identity: &crate::tls::Identity,
        client_ca: Option<&[u8]>,
        last_refused_issuer: &Arc<Mutex<Option<String>>>,
    ) -> Result<Acceptor, EdgeError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let bad = |what: &str, e: &dyn std::fmt::Display| EdgeError::Tls(format!("{what}: {e}"));
        let chain = CertificateDer::pem_slice_iter(&identity.cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("the node's certificate", &e))?;
        let key = PrivateKeyDer::from_pem_slice(&identity.key_pem)
            .map_err(|e| bad("the node's key", &e))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("protocol versions", &e))?;
        let builder = match client_ca {
            None => builder.with_no_client_auth(),
            Some(pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(pem) {
                    roots
                        .add(cert.map_err(|e| bad("tls.client_ca", &e))?)
                        .map_err(|e| bad("tls.client_ca", &e))?;
                }
                // Optional: readers need no certificate; a peer that presents one from these
                // CAs is authenticated, and one from any other CA fails the handshake.
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .allow_unauthenticated()
                .build()
                .map_err(|e| bad("tls.client_ca", &e))?;
                let verifier =
                    refusal::NoticingVerifier::wrap(verifier, Arc::clone(last_refused_issuer));
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| bad("the node's certificate and key", &e))?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        let trusted = match client_ca {
            Some(pem) => crate::rpc::tls_names::subjects_in_pem(pem),
            None => "no client CA (tls.client_ca is not set)".to_string(),
        };
        Ok(Acceptor {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            trusted,
        })
    }
}

impl Handshake for Tls {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    const TLS: bool = true;

    async fn handshake(&self, tcp: TcpStream) -> Result<(Self::Io, bool), Refused> {
        // One look at the first bytes (they stay in the socket for the acceptor): a client
        // speaking plaintext is told in TLS's own words and named as such in the log.
        let mut first = [0u8; 1];
        match tcp.peek(&mut first).await {
            Ok(0) => return Err(Refused::because(TlsCause::Closed)),
            Ok(_) if !refusal::opens_tls(&first) => {
                refusal::answer_plaintext(tcp).await;
                return Err(Refused::because(TlsCause::Plaintext));
            }
            Ok(_) => {}
            Err(e) => return Err(Refused::because(refusal::classify(&e))),
        }
        let current = self.current();
        let tls = match current.acceptor.accept(tcp).await {
            Ok(tls) => tls,
            Err(e) => {
                let cause = refusal::classify(&e);
                let detail = (cause == TlsCause::UntrustedClientCa).then(|| {
                    let issuer = self
                        .last_refused_issuer
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .clone()
                        .unwrap_or_else(|| "an unknown issuer".to_string());
                    // A CA that took the name of one this node trusts, with a key of its own.
                    let lookalike = if current.trusted.contains(&issuer) {
                        " (a CA of that name, but not the one this node trusts: another key)"
                    } else {
                        ""
                    };
                    format!(
                        "issued by {issuer}{lookalike}; this node trusts {}",
                        current.trusted
                    )
                });
                return Err(Refused { cause, detail });
            }
        };
        let peer = tls
            .get_ref()
            .1
            .peer_certificates()
            .is_some_and(|certs| !certs.is_empty());
        Ok((tls, peer))
    }
}

/// The connections tonic serves: accepted from `listener` through the edge, handshakes done.
/// Ends (and the listener is closed) when the server drops it.
pub(crate) fn incoming<H: Handshake>(
    edge: Arc<Edge>,
    listener: TcpListener,
    handshake: H,
) -> impl Stream<Item = std::io::Result<Conn<H::Io>>> + Send + 'static {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(accept_loop(edge, listener, Arc::new(handshake), tx));
    ReceiverStream::new(rx)
}

async fn accept_loop<H: Handshake>(
    edge: Arc<Edge>,
    listener: TcpListener,
    handshake: Arc<H>,
    tx: mpsc::Sender<std::io::Result<Conn<H::Io>>>,
) {
    // Handshakes run on their own tasks, so a slow one delays no other; they end with this
    // loop, when the server stops.
    let mut handshakes: JoinSet<Option<Conn<H::Io>>> = JoinSet::new();
    let start = tokio::time::Instant::now() + LOG_INTERVAL;
    let mut log = tokio::time::interval_at(start, LOG_INTERVAL);
    loop {
        tokio::select! {
            _ = tx.closed() => {
                edge.log_refusals();
                return;
            }
            accepted = listener.accept() => {
                let (tcp, remote) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Transient accept errors (EMFILE, ECONNABORTED) must not end the
                        // server.
                        debug!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(local) = tcp.local_addr() else { continue };
                let Some(booked) = edge.admit(local, remote) else {
                    // Dropped: closed at once, before a byte is read.
                    continue;
                };
                // Nagle off: a relay answers small messages.
                let _ = tcp.set_nodelay(true);
                let edge = Arc::clone(&edge);
                let handshake = Arc::clone(&handshake);
                handshakes.spawn(async move {
                    match tokio::time::timeout(edge.handshake_timeout, handshake.handshake(tcp)).await {
                        Err(_) => {
                            edge.note(ConnRefusal::HandshakeTimeout);
                            if H::TLS {
                                edge.note_tls(Refused::because(TlsCause::Timeout));
                            }
                            None
                        }
                        Ok(Err(refused)) => {
                            debug!(cause = refused.cause.label(), "handshake failed");
                            edge.note(ConnRefusal::HandshakeFailed);
                            if H::TLS {
                                edge.note_tls(refused);
                            }
                            None
                        }
                        Ok(Ok((io, peer))) => edge.open(booked, io, peer),
                    }
                });
            }
            Some(done) = handshakes.join_next(), if !handshakes.is_empty() => {
                if let Ok(Some(conn)) = done
                    && tx.send(Ok(conn)).await.is_err()
                {
                    return;
                }
            }
            _ = log.tick() => {
                edge.log_refusals();
                edge.forget_idle();
            }
        }
    }
}
