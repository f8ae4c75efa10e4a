//! Abuse limits at the gRPC edge: a cap on open connections, and a token bucket per
//! connection for publishing.
//!
//! The per-author limit lives in the node (it needs the verified author); this module knows
//! connections, which only the transport sees.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::transport::server::{Connected, TcpConnectInfo};
use tracing::debug;

/// Publishing token buckets, one per connection (keyed by the remote socket address, which
/// names one TCP connection).
#[derive(Debug)]
pub struct ConnectionLimits {
    publish: DefaultKeyedRateLimiter<SocketAddr>,
}

impl ConnectionLimits {
    /// `per_second` sustained, `burst` at once.
    pub fn new(per_second: u32, burst: u32) -> Arc<Self> {
        let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Arc::new(ConnectionLimits {
            publish: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        })
    }

    /// Whether this connection may publish one more message now.
    pub fn allow(&self, conn: Option<SocketAddr>) -> bool {
        match conn {
            Some(addr) => self.publish.check_key(&addr).is_ok(),
            // No address (an in-process transport): nothing to key on.
            None => true,
        }
    }

    /// Forgets buckets that are full again, so memory follows the active connections.
    pub fn forget_idle(&self) {
        self.publish.retain_recent();
        self.publish.shrink_to_fit();
    }
}

/// A TCP connection that holds one of the server's connection slots while it is open.
#[derive(Debug)]
pub struct SlotStream {
    inner: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl Connected for SlotStream {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for SlotStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SlotStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Accepts connections up to `max` open at once; beyond that, a new connection is closed at
/// once (the client sees a reset and retries later). Nagle is off on every connection.
pub fn capped_incoming(
    listener: TcpListener,
    max: usize,
) -> impl Stream<Item = std::io::Result<SlotStream>> + Send + 'static {
    let slots = Arc::new(Semaphore::new(max));
    futures::stream::unfold((listener, slots), |(listener, slots)| async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    // Transient accept errors (EMFILE, ECONNABORTED) must not end the server.
                    debug!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                debug!("connection cap reached; closing a new connection");
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let item = Ok(SlotStream {
                inner: stream,
                _slot: slot,
            });
            return Some((item, (listener, slots)));
        }
    })
}

/// A message over the gRPC size limit is refused by tonic before any handler runs, with
/// `OutOfRange`. This layer gives that refusal the protocol's code (`tocsin-reason:
/// too-large`) and counts it, like every other refusal.
pub fn oversized_as_too_large(
    node: crate::node::Node,
) -> tower::util::MapResponseLayer<
    impl Fn(http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body> + Clone,
> {
    tower::util::MapResponseLayer::new(move |mut res: http::Response<tonic::body::Body>| {
        let headers = res.headers();
        let oversized = headers.get("grpc-status").is_some_and(|s| s == "11")
            && headers
                .get("grpc-message")
                .and_then(|m| m.to_str().ok())
                .is_some_and(|m| m.contains("too%20large") || m.contains("too large"));
        if oversized {
            node.metrics().refused(crate::message::Reason::TooLarge);
            res.headers_mut().insert(
                super::status::REASON_KEY,
                http::HeaderValue::from_static("too-large"),
            );
        }
        res
    })
}
