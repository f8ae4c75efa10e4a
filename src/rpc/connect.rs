//! How the typed client reaches a node: TCP, then TLS for `https://`, through a connector of
//! our own that watches the connection and remembers why it failed, in words a newcomer can act
//! on ("the node speaks TLS: use https://…", "the node refused our certificate (issued by …);
//! it trusts …"). tonic is handed the finished stream (its endpoint says `http://`, so it adds
//! no TLS of its own), and every call that fails on a connection the watch has named fails
//! with that sentence instead of `Cancelled` or `h2 protocol error`.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{AlertDescription, CertificateError};
use tonic::codegen::http;
use tonic::transport::Channel;

use super::tls_names;

/// The status metadata that marks a call's failure as the connection's, named by the watch
/// (its value is the URL tried).
pub(crate) const CONNECTION_FAILED: &str = "tocsin-connection-failed";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where a node's URL points: the host, the port (the scheme's when the URL names none), and
/// whether to speak TLS. Parsed with `http::Uri`, so IPv6 literals keep their colons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// `https://` (in any case); `http://` is plaintext.
    pub(crate) tls: bool,
    /// A DNS name or an IP address, without the brackets of an IPv6 literal.
    pub(crate) host: String,
    /// The URL's port, else 443 for https:// and 80 for http://.
    pub(crate) port: u16,
}

impl Target {
    /// The target of `url`, or why it is not a node's URL.
    pub(crate) fn parse(url: &str) -> Result<Target, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        // http::Uri takes the scheme in any case; so do browsers, and so must we, or
        // HTTPS:// would go out without our TLS settings.
        let tls = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            _ => return Err(format!("{url:?} must begin with https:// (or http://)")),
        };
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("{url:?} names no host"))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        Ok(Target {
            tls,
            host: host.to_string(),
            port: uri.port_u16().unwrap_or(if tls { 443 } else { 80 }),
        })
    }

    /// `host:port`, with an IPv6 literal in brackets (as a URL writes it).
    pub(crate) fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL tonic's endpoint is given: always `http://` (the connector does the TLS, so
    /// tonic must not), with the port spelt out.
    pub(crate) fn endpoint_url(&self) -> String {
        format!("http://{}", self.authority())
    }
}

/// Whether `url` says plaintext (`http://`, in any case): the one scheme the loopback-only
/// rule of plaintext applies to.
pub(crate) fn is_plaintext_url(url: &str) -> bool {
    url.get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
}

/// Whether `url` says TLS (`https://`, in any case).
pub(crate) fn is_tls_url(url: &str) -> bool {
    url.get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// What the watch knows about the node and about what we gave it, and the sentence for the
/// last connection's failure.
#[derive(Debug)]
pub(crate) struct Seen {
    /// The URL as the user gave it.
    url: String,
    /// Where the URL points.
    target: Target,
    /// `host:port`, as the sentences name it.
    authority: String,
    /// The CA the user gave (`--ca`, `peer.ca`), and its fingerprint.
    ca: Option<(String, String)>,
    /// Who issued the client certificate we present, if we present one.
    our_issuer: Option<String>,
    /// The CAs the node named in its CertificateRequest (the CAs it trusts for peers).
    hints: Mutex<Vec<String>>,
    /// Why the last connection failed, in words; `None` while nothing was named.
    failure: Mutex<Option<String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a note was written leaves a note that is still text.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Seen {
    /// The watch of connections to `url`, which points at `target`.
    pub(crate) fn new(url: &str, target: Target, tls: &super::ClientTls) -> Seen {
        let authority = target.authority();
        let ca = tls.ca_pem.as_ref().map(|pem| {
            let path = tls
                .ca_path
                .as_ref()
                .map_or("the CA you gave".to_string(), |p| p.display().to_string());
            let fingerprint =
                crate::tls::fingerprint(pem).unwrap_or_else(|| "none: not a certificate".into());
            (path, fingerprint)
        });
        let our_issuer = tls.identity.as_ref().and_then(|id| {
            CertificateDer::pem_slice_iter(&id.cert_pem)
                .next()
                .and_then(Result::ok)
                .and_then(|der| tls_names::issuer_of(&der))
        });
        Seen {
            url: url.to_string(),
            target,
            authority,
            ca,
            our_issuer,
            hints: Mutex::new(Vec::new()),
            failure: Mutex::new(None),
        }
    }

    /// The sentence for the last connection's failure, if the watch named one.
    pub(crate) fn failure(&self) -> Option<String> {
        lock(&self.failure).clone()
    }

    fn fail(&self, sentence: String) {
        *lock(&self.failure) = Some(sentence);
    }

    fn host_port(&self) -> &str {
        &self.authority
    }

    /// "the node speaks TLS" and the rest, for the first bytes a plaintext connection read.
    fn plaintext_read(&self, first: &[u8]) {
        if let Some(sentence) = self.first_bytes_sentence(first, false) {
            self.fail(sentence);
        }
    }

    /// A plaintext connection the other end closed before it sent a byte.
    fn plaintext_closed(&self) {
        let at = self.host_port();
        self.fail(format!(
            "{at} closed the connection without a word: is it the node's gRPC port (7700 by \
             default), not its web gateway's? (A node over its connection limits does this too.)"
        ));
    }

    fn first_bytes_sentence(&self, first: &[u8], tls: bool) -> Option<String> {
        let at = self.host_port();
        if first.starts_with(b"HTTP/") {
            return Some(format!(
                "{at} is a web gateway's port (it answers HTTP/1.1), not the gRPC port: give the \
                 node's gRPC address (7700 by default) with --node https://HOST:PORT"
            ));
        }
        if !tls && first.len() >= 2 && matches!(first[0], 0x15 | 0x16) && first[1] == 0x03 {
            return Some(format!(
                "the node speaks TLS: use https://{at} (and --ca FILE, the node's \
                 DATA/tls/ca.crt)"
            ));
        }
        if tls && !first.is_empty() && !matches!(first[0], 0x15 | 0x16) {
            return Some(format!(
                "the node does not speak TLS: use http://{at} (plaintext is for loopback only)"
            ));
        }
        None
    }

    /// The sentence for a failed TLS handshake or a TLS error after it, from the rustls error.
    fn tls_sentence(&self, error: &rustls::Error, first: &[u8]) -> String {
        use rustls::Error;
        if let Some(sentence) = self.first_bytes_sentence(first, true) {
            return sentence;
        }
        let at = self.host_port();
        let ca = match &self.ca {
            Some((path, fingerprint)) => {
                format!("the CA you gave ({path}, fingerprint {fingerprint})")
            }
            None => "the system's CAs (no --ca was given)".to_string(),
        };
        match error {
            Error::InvalidCertificate(cert) => match cert {
                CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                    "the node's certificate is not from {ca}: check --ca, or ask the node's \
                     operator for its CA (DATA/tls/ca.crt)"
                ),
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => format!(
                    "the node's certificate is not for the name {at} (it is from {ca}): connect \
                     by a name the certificate lists (tls.names in the node's config), or ask its \
                     operator to add this one"
                ),
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "the node's certificate has expired: ask its operator to renew it".to_string()
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    "the node's certificate is not valid yet: check this machine's clock (or the \
                     node's)"
                        .to_string()
                }
                other => format!("the node's certificate was refused ({other:?})"),
            },
            Error::AlertReceived(alert) if refuses_a_certificate(*alert) => {
                let ours = self
                    .our_issuer
                    .clone()
                    .unwrap_or_else(|| "no certificate".to_string());
                let hints = lock(&self.hints).clone();
                let trusts = if hints.is_empty() {
                    "it named no CA it trusts".to_string()
                } else if self.our_issuer.as_ref().is_some_and(|o| hints.contains(o)) {
                    // Our certificate is presented only to a node that names its issuer: a
                    // CA of that name, with another key (or ours, refusing this certificate).
                    format!(
                        "it trusts a CA of that name, but not ours (another key), or not this certificate (expired?); it trusts {}",
                        tls_names::join(&hints)
                    )
                } else {
                    format!("it trusts {}", tls_names::join(&hints))
                };
                format!(
                    "the node refused our certificate (issued by {ours}); {trusts}: its operator \
                     must add our CA to tls.client_ca (or use `tocsin peer join`)"
                )
            }
            Error::AlertReceived(AlertDescription::ProtocolVersion) if first.is_empty() => {
                format!("the node speaks TLS, but no version in common: is {at} a Tocsin node?")
            }
            Error::InvalidMessage(_) => format!(
                "the node does not speak TLS: use http://{at} (plaintext is for loopback only)"
            ),
            Error::NoApplicationProtocol | Error::PeerIncompatible(_) => {
                format!("no TLS version or protocol (h2) in common with {at}: is it a Tocsin node?")
            }
            other => format!("TLS with {at} failed: {other}"),
        }
    }

    /// Notes a read or handshake error of a TLS connection.
    fn tls_error(&self, error: &io::Error, first: &[u8]) {
        let at = self.host_port();
        let sentence = match rustls_error(error) {
            Some(tls) => self.tls_sentence(tls, first),
            None if error.kind() == io::ErrorKind::UnexpectedEof && first.is_empty() => format!(
                "{at} closed the connection during the TLS handshake: if the node does not speak \
                 TLS use http://{at} (loopback only); else it may be over its limits"
            ),
            None => match self.first_bytes_sentence(first, true) {
                Some(sentence) => sentence,
                None => return,
            },
        };
        self.fail(sentence);
    }

    /// Notes a failed TCP connection.
    fn tcp_error(&self, error: &io::Error) {
        let at = self.host_port();
        let sentence = match error.kind() {
            io::ErrorKind::ConnectionRefused => {
                format!("nothing listens at {at} (is the node running? `tocsin node run …`)")
            }
            _ => format!("could not connect to {at}: {error}"),
        };
        self.fail(sentence);
    }
}

fn refuses_a_certificate(alert: AlertDescription) -> bool {
    matches!(
        alert,
        AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateRequired
            | AlertDescription::CertificateExpired
            | AlertDescription::AccessDenied
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::DecryptError
    )
}

fn rustls_error(error: &io::Error) -> Option<&rustls::Error> {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
}

/// The TLS side of the connector: the rustls configuration made from `ClientTls`.
pub(crate) fn client_config(
    tls: &super::ClientTls,
    seen: &Arc<Seen>,
) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match &tls.ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("the CA certificate: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("the CA certificate: {e}"))?;
            }
        }
        None => {
            // Certificates of the system's store that do not parse are left out, as tonic did.
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("protocol versions: {e}"))?
        .with_root_certificates(roots);
    let mut config = match &tls.identity {
        None => builder.with_no_client_auth(),
        Some(id) => {
            let chain = CertificateDer::pem_slice_iter(&id.cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("our certificate: {e}"))?;
            let key =
                PrivateKeyDer::from_pem_slice(&id.key_pem).map_err(|e| format!("our key: {e}"))?;
            let signer = provider
                .key_provider
                .load_private_key(key)
                .map_err(|e| format!("our key: {e}"))?;
            let issuers = tls_names::raw_issuers(&chain);
            builder.with_client_cert_resolver(Arc::new(HintedResolver {
                key: Arc::new(rustls::sign::CertifiedKey::new(chain, signer)),
                issuers,
                seen: Arc::clone(seen),
            }))
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Presents our certificate when the node may trust it, and remembers which CAs the node said
/// it trusts (the hints of its CertificateRequest), for the sentence when it refuses us.
///
/// A node that names the CAs it trusts and none of them issued our certificate would refuse
/// the whole handshake if we presented it; without it we are served as any reader is (a
/// follower added one way: embargoed messages at their hour, which `node status` says). A
/// node that names no CA, or names ours, gets the certificate: if it still refuses it, the
/// refusal is named on both sides.
#[derive(Debug)]
struct HintedResolver {
    key: Arc<rustls::sign::CertifiedKey>,
    /// The DER names of the issuers of the certificates of our chain.
    issuers: Vec<Vec<u8>>,
    seen: Arc<Seen>,
}

impl rustls::client::ResolvesClientCert for HintedResolver {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        *lock(&self.seen.hints) = root_hint_subjects
            .iter()
            .map(|der| tls_names::name_of(der))
            .collect();
        let untrusted = !root_hint_subjects.is_empty()
            && !self.issuers.is_empty()
            && !root_hint_subjects
                .iter()
                .any(|hint| self.issuers.iter().any(|ours| ours.as_slice() == *hint));
        if untrusted {
            return None;
        }
        Some(Arc::clone(&self.key))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Opens connections to the node: TCP (from `from`, when given), then TLS when the URL says
/// https://, each watched.
#[derive(Clone)]
pub(crate) struct Connector {
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    from: Option<IpAddr>,
    seen: Arc<Seen>,
}

impl Connector {
    /// A connector for `seen`'s URL; `tls` for https://.
    pub(crate) fn new(
        seen: Arc<Seen>,
        tls: Option<rustls::ClientConfig>,
        from: Option<IpAddr>,
    ) -> Result<Connector, String> {
        let tls = match tls {
            None => None,
            Some(config) => {
                let host = seen.target.host.as_str();
                let name = ServerName::try_from(host.to_string())
                    .map_err(|e| format!("{host:?} is not a host name: {e}"))?;
                Some((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
            }
        };
        Ok(Connector { tls, from, seen })
    }

    async fn connect(self) -> io::Result<TokioIo<Watched>> {
        *lock(&self.seen.failure) = None;
        let tcp = match self.tcp().await {
            Ok(tcp) => tcp,
            Err(e) => {
                self.seen.tcp_error(&e);
                return Err(e);
            }
        };
        let first = Arc::new(Mutex::new(Vec::new()));
        let sniffed = Sniffed {
            io: tcp,
            first: Arc::clone(&first),
            seen: Arc::clone(&self.seen),
            plaintext: self.tls.is_none(),
        };
        let Some((connector, name)) = self.tls else {
            return Ok(TokioIo::new(Watched::Plain(sniffed)));
        };
        match connector.connect(name, sniffed).await {
            Ok(tls) => Ok(TokioIo::new(Watched::Tls(Box::new(tls), first))),
            Err(e) => {
                self.seen.tls_error(&e, &lock(&first));
                Err(e)
            }
        }
    }

    async fn tcp(&self) -> io::Result<TcpStream> {
        let target = &self.seen.target;
        let addrs = tokio::net::lookup_host((target.host.as_str(), target.port)).await?;
        connect_first(addrs, self.from).await
    }
}

/// A TCP connection to the first of `addrs` that takes one, from `from` when given. An
/// address that fails (no IPv6 on this machine, nothing listening there) passes to the next:
/// `localhost` may name ::1 first while the node listens on 127.0.0.1 only. Addresses of the
/// other family than `from` are skipped, as no socket bound to `from` can reach them. The
/// error is the last address's.
async fn connect_first(
    addrs: impl IntoIterator<Item = SocketAddr>,
    from: Option<IpAddr>,
) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for addr in addrs {
        if from.is_some_and(|from| from.is_ipv4() != addr.is_ipv4()) {
            last = io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!("{addr} is not of the family of the local address to connect from"),
            );
            continue;
        }
        match connect_one(addr, from).await {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = e,
        }
    }
    Err(last)
}

async fn connect_one(addr: SocketAddr, from: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(from) = from {
        socket.bind((from, 0).into())?;
    }
    let tcp = socket.connect(addr).await?;
    // Nagle off: a relay's calls are small.
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

impl tower::Service<http::Uri> for Connector {
    type Response = TokioIo<Watched>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<Watched>>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        // The address is the user's URL's (the endpoint's says http:// so tonic adds no TLS).
        Box::pin(self.clone().connect())
    }
}

/// The TCP stream, with the first bytes the node sent kept (they tell a TLS port from a
/// plaintext one, and a web gateway from both).
pub(crate) struct Sniffed {
    io: TcpStream,
    first: Arc<Mutex<Vec<u8>>>,
    seen: Arc<Seen>,
    plaintext: bool,
}

/// How many of the first bytes are kept.
const SNIFF: usize = 8;

impl AsyncRead for Sniffed {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            let mut first = lock(&this.first);
            if first.len() < SNIFF {
                let new = &buf.filled()[before..];
                let take = new.len().min(SNIFF - first.len());
                first.extend_from_slice(&new[..take]);
                if this.plaintext && !new.is_empty() {
                    this.seen.plaintext_read(&first);
                } else if this.plaintext && first.is_empty() && buf.remaining() > 0 {
                    this.seen.plaintext_closed();
                }
            }
        }
        if let Poll::Ready(Err(e)) = &polled {
            this.reset(e);
        }
        polled
    }
}

impl Sniffed {
    /// A plaintext connection the other end reset before it sent a byte: closed without a word
    /// too (a web gateway that read the HTTP/2 preface as a bad HTTP/1.1 request and closed
    /// with it unread resets the connection).
    fn reset(&self, e: &io::Error) {
        let reset = matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        );
        if self.plaintext && reset && lock(&self.first).is_empty() {
            self.seen.plaintext_closed();
        }
    }
}

impl AsyncWrite for Sniffed {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Err(e)) = &polled {
            self.reset(e);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A connection to the node, plaintext or TLS; a TLS error after the handshake (the node's
/// alert when it refused our certificate comes at the first read) is named as it passes.
pub(crate) enum Watched {
    /// http://
    Plain(Sniffed),
    /// https://, with the first bytes the node sent.
    Tls(
        Box<tokio_rustls::client::TlsStream<Sniffed>>,
        Arc<Mutex<Vec<u8>>>,
    ),
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Watched::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Watched::Tls(io, first) => {
                let polled = Pin::new(io.as_mut()).poll_read(cx, buf);
                if let Poll::Ready(Err(e)) = &polled {
                    let seen = Arc::clone(&io.get_ref().0.seen);
                    seen.tls_error(e, &lock(first));
                }
                polled
            }
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Watched::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Watched::Tls(io, _) => Pin::new(io.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Watched::Plain(io) => Pin::new(io).poll_flush(cx),
            Watched::Tls(io, _) => Pin::new(io.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Watched::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Watched::Tls(io, _) => Pin::new(io.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The channel, with every call that fails on a connection the watch named failing with that
/// sentence (a status marked [`CONNECTION_FAILED`]) rather than tonic's `Cancelled`.
#[derive(Clone)]
pub(crate) struct Named {
    channel: Channel,
    seen: Arc<Seen>,
}

impl std::fmt::Debug for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Named")
            .field("url", &self.seen.url)
            .finish_non_exhaustive()
    }
}

impl Named {
    /// `channel`, its failures named from `seen`.
    pub(crate) fn new(channel: Channel, seen: Arc<Seen>) -> Named {
        Named { channel, seen }
    }

    fn named(seen: &Seen, error: tonic::transport::Error) -> BoxError {
        match seen.failure() {
            Some(sentence) => Box::new(connection_status(&seen.url, sentence)),
            None => Box::new(error),
        }
    }
}

/// The status a call fails with when its connection failed for a named reason.
pub(crate) fn connection_status(url: &str, sentence: String) -> tonic::Status {
    let mut status = tonic::Status::unavailable(sentence);
    if let Ok(value) = url.parse() {
        status.metadata_mut().insert(CONNECTION_FAILED, value);
    }
    status
}

impl tower::Service<http::Request<tonic::body::Body>> for Named {
    type Response = http::Response<tonic::body::Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        let seen = &self.seen;
        tower::Service::poll_ready(&mut self.channel, cx).map_err(|e| Named::named(seen, e))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let call = tower::Service::call(&mut self.channel, request);
        let seen = Arc::clone(&self.seen);
        Box::pin(async move { call.await.map_err(|e| Named::named(&seen, e)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(url: &str) -> Seen {
        let tls = super::super::ClientTls {
            ca_pem: None,
            ..Default::default()
        };
        Seen::new(url, Target::parse(url).unwrap(), &tls)
    }

    #[test]
    fn first_bytes_name_the_port() {
        let plain = seen("http://127.0.0.1:7702");
        plain.plaintext_read(&[0x15, 0x03, 0x03, 0x00, 0x02]);
        assert_eq!(
            plain.failure().unwrap(),
            "the node speaks TLS: use https://127.0.0.1:7702 (and --ca FILE, the node's DATA/tls/ca.crt)"
        );
        let tls = seen("https://127.0.0.1:7780");
        let corrupt = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert!(
            tls.tls_sentence(&corrupt, b"HTTP/1.1 4")
                .contains("web gateway's port")
        );
        assert!(
            tls.tls_sentence(&corrupt, &[0, 0, 0x12, 4])
                .starts_with("the node does not speak TLS: use http://127.0.0.1:7780")
        );
        let untrusted = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(
            tls.tls_sentence(&untrusted, &[0x16, 0x03])
                .starts_with("the node's certificate is not from the system's CAs")
        );
        let refused = rustls::Error::AlertReceived(AlertDescription::UnknownCA);
        *lock(&tls.hints) = vec!["CN=Dock Union CA".into()];
        assert_eq!(
            tls.tls_sentence(&refused, &[0x16, 0x03]),
            "the node refused our certificate (issued by no certificate); it trusts CN=Dock Union CA: its operator must add our CA to tls.client_ca (or use `tocsin peer join`)"
        );
        tls.tcp_error(&io::ErrorKind::ConnectionRefused.into());
        assert_eq!(
            tls.failure().unwrap(),
            "nothing listens at 127.0.0.1:7780 (is the node running? `tocsin node run …`)"
        );
    }

    fn target(url: &str) -> (bool, String, u16) {
        let t = Target::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        (t.tls, t.host, t.port)
    }

    #[test]
    fn urls_are_parsed_with_the_schemes_port_and_ipv6_literals() {
        let https = |host: &str, port| (true, host.to_string(), port);
        assert_eq!(
            target("https://relay.example.org"),
            https("relay.example.org", 443)
        );
        assert_eq!(
            target("https://relay.example.org/"),
            https("relay.example.org", 443)
        );
        assert_eq!(
            target("http://relay.example.org"),
            (false, "relay.example.org".into(), 80)
        );
        assert_eq!(target("https://[::1]"), https("::1", 443));
        assert_eq!(target("https://[::1]:7700"), https("::1", 7700));
        assert_eq!(target("https://[2001:db8::1]"), https("2001:db8::1", 443));
        assert_eq!(target("https://127.0.0.1:7701"), https("127.0.0.1", 7701));
        // The scheme in any case; the host as written (DNS names ignore case anyway).
        assert_eq!(
            target("HTTPS://Relay.Example.org:7700"),
            https("Relay.Example.org", 7700)
        );
        assert!(!target("HtTp://127.0.0.1:7700").0);
        for bad in [
            "127.0.0.1:7700",
            "ftp://relay.example.org",
            "https://",
            "not a url",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
        let v6 = Target::parse("https://[2001:db8::1]").unwrap();
        assert_eq!(v6.authority(), "[2001:db8::1]:443");
        assert_eq!(v6.endpoint_url(), "http://[2001:db8::1]:443");
        assert_eq!(
            seen("https://relay.example.org").host_port(),
            "relay.example.org:443"
        );
    }

    #[test]
    fn schemes_are_told_apart_in_any_case() {
        assert!(is_tls_url("HTTPS://relay.example.org") && is_tls_url("https://h:1"));
        assert!(is_plaintext_url("HTTP://127.0.0.1:7700") && is_plaintext_url("http://h"));
        assert!(!is_plaintext_url("https://h") && !is_tls_url("http://h") && !is_tls_url("h"));
    }

    /// A port on 127.0.0.1 where nothing listens (a listener's, closed).
    async fn closed_port() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    }

    #[tokio::test]
    async fn every_address_is_tried_until_one_takes_the_connection() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let node: SocketAddr = listener.local_addr().unwrap();
        let v6: SocketAddr = (std::net::Ipv6Addr::LOCALHOST, node.port()).into();
        let refused: SocketAddr = ([127, 0, 0, 1], closed_port().await).into();
        let loopback: IpAddr = [127, 0, 0, 1].into();
        // As `localhost` resolving to ::1 first, for a node on 127.0.0.1 only; then from a
        // bound IPv4 address (no IPv6 socket can be bound to it: that address is skipped);
        // then after an address that refuses.
        for (addrs, from) in [
            (vec![v6, node], None),
            (vec![v6, node], Some(loopback)),
            (vec![refused, node], Some(loopback)),
        ] {
            let tcp = connect_first(addrs.clone(), from)
                .await
                .unwrap_or_else(|e| panic!("{addrs:?} from {from:?}: {e}"));
            assert_eq!(tcp.peer_addr().unwrap(), node);
            let (accepted, _) = listener.accept().await.unwrap();
            assert_eq!(accepted.peer_addr().unwrap(), tcp.local_addr().unwrap());
        }
        let failed = connect_first(vec![v6, refused], Some(loopback))
            .await
            .unwrap_err();
        assert_eq!(
            failed.kind(),
            io::ErrorKind::ConnectionRefused,
            "the last address's"
        );
        let none = connect_first(Vec::new(), None).await.unwrap_err();
        assert_eq!(none.kind(), io::ErrorKind::NotFound);
    }
}
