//! Abuse limits in the gRPC handlers: a token bucket per connection for publishing, and the
//! `too-large` code for tonic's own size refusal.
//!
//! The per-author limit lives in the node (it needs the verified author); which connections
//! get in, and for how long, is the edge's (`rpc/edge/`).

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::node::Occupancy;

/// Publishing token buckets, one per connection (keyed by the remote socket address, which
/// names one TCP connection).
#[derive(Debug)]
pub struct ConnectionLimits {
    publish: DefaultKeyedRateLimiter<SocketAddr>,
    /// Publish streams open now, per client address and per network.
    streams: std::sync::Mutex<OpenStreams>,
}

/// Publish streams open now, by client address and by network.
#[derive(Debug, Default)]
struct OpenStreams {
    by_address: Occupancy<std::net::IpAddr>,
    by_network: Occupancy<std::net::IpAddr>,
}

/// Publish streams one client address may have open at once (an IPv6 /64), and one network
/// (an IPv4 /24, an IPv6 /48). Each may hold a message half-sent (up to
/// `limits.max_grpc_message_bytes`): 128 connections of one /24 with 64 streams each held
/// 915 MiB that way. A client sends many messages on one stream.
pub const PUBLISH_STREAMS_PER_ADDRESS: usize = 4;
/// See [`PUBLISH_STREAMS_PER_ADDRESS`].
pub const PUBLISH_STREAMS_PER_NETWORK: usize = 16;

/// A publish stream's place under [`PUBLISH_STREAMS_PER_ADDRESS`], given back when dropped.
#[derive(Debug)]
pub struct StreamHold {
    limits: Arc<ConnectionLimits>,
    keys: Option<(std::net::IpAddr, std::net::IpAddr)>,
}

impl Drop for StreamHold {
    fn drop(&mut self) {
        let Some((address, network)) = self.keys else {
            return;
        };
        let mut open = self
            .limits
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        open.by_address.give_back(&address);
        open.by_network.give_back(&network);
    }
}

impl ConnectionLimits {
    /// `per_second` sustained, `burst` at once.
    pub fn new(per_second: u32, burst: u32) -> Arc<Self> {
        let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Arc::new(ConnectionLimits {
            publish: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            streams: std::sync::Mutex::default(),
        })
    }

    /// A place for one more publish stream from `conn`, or what refused it: `"address"` or
    /// `"network"`, and its cap. No address (an in-process transport): no cap.
    pub fn open_stream(
        self: &Arc<Self>,
        conn: Option<SocketAddr>,
    ) -> Result<StreamHold, (&'static str, usize)> {
        let Some(conn) = conn else {
            return Ok(StreamHold {
                limits: Arc::clone(self),
                keys: None,
            });
        };
        let (address, network) = crate::node::address_keys(conn.ip());
        let mut open = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        if open.by_address.held(&address) >= PUBLISH_STREAMS_PER_ADDRESS {
            return Err(("address", PUBLISH_STREAMS_PER_ADDRESS));
        }
        if open.by_network.held(&network) >= PUBLISH_STREAMS_PER_NETWORK {
            return Err(("network", PUBLISH_STREAMS_PER_NETWORK));
        }
        open.by_address.take(address);
        open.by_network.take(network);
        Ok(StreamHold {
            limits: Arc::clone(self),
            keys: Some((address, network)),
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

/// A message over the gRPC size limit, or one that does not decode, is refused by tonic before
/// any handler runs, with tonic's own code (`OutOfRange`, `Internal`) and words. This layer
/// answers them as the protocol does every other refusal (`status::tonic_refusal`: `too-large: …`
/// or `malformed: …` at the start of the message, the code of a body refused for the same
/// reason, `tocsin-reason`) and counts them. (A publish stream's later messages are refused while
/// the handler reads them: `status::client_stream_error`.)
pub fn tonic_refusals_as_ours(
    node: crate::node::Node,
) -> tower::util::MapResponseLayer<
    impl Fn(http::Response<tonic::body::Body>) -> http::Response<tonic::body::Body> + Clone,
> {
    tower::util::MapResponseLayer::new(move |mut res: http::Response<tonic::body::Body>| {
        let headers = res.headers();
        let code = headers
            .get("grpc-status")
            .and_then(|s| s.to_str().ok())
            .and_then(|s| s.parse::<i32>().ok())
            .map(tonic::Code::from_i32);
        let message = headers
            .get("grpc-message")
            .and_then(|m| m.to_str().ok())
            .unwrap_or("");
        if let Some(ours) = code.and_then(|code| super::status::tonic_refusal(code, message)) {
            if let Some(r) = super::status::rejection_of(&ours) {
                node.metrics().refused(r.reason);
            }
            let headers = res.headers_mut();
            headers.remove("grpc-message");
            headers.remove("grpc-status-details-bin");
            // Only fails for a status whose message cannot be a header; ours is plain ASCII.
            let _ = ours.add_header(headers);
        }
        res
    })
}
