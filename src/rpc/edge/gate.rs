//! The stream gate: a tower layer in front of every gRPC service that knows each call's
//! connection. It refuses a new stream over the connection's budget with `rate-limited`
//! before any service runs, and counts a call open until its response body is done, which is
//! what the idle timeout looks at.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::FutureExt;
use futures::future::BoxFuture;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use super::Edge;
use super::conn::OpenStream;
use crate::message::{Reason, Rejection};
use crate::node::metrics::ConnRefusal;

type Request = http::Request<tonic::body::Body>;
type Response = http::Response<tonic::body::Body>;

/// The layer; see the module header.
#[derive(Debug, Clone)]
pub(crate) struct StreamGateLayer {
    edge: Arc<Edge>,
}

impl StreamGateLayer {
    pub(crate) fn new(edge: Arc<Edge>) -> StreamGateLayer {
        StreamGateLayer { edge }
    }
}

impl<S> tower::Layer<S> for StreamGateLayer {
    type Service = StreamGate<S>;

    fn layer(&self, inner: S) -> StreamGate<S> {
        StreamGate {
            inner,
            edge: Arc::clone(&self.edge),
        }
    }
}

/// The service the layer wraps around the router.
#[derive(Debug, Clone)]
pub(crate) struct StreamGate<S> {
    inner: S,
    edge: Arc<Edge>,
}

/// The connection a request came on: (local, remote), as the I/O stream reported them.
fn conn_key(req: &Request) -> Option<(std::net::SocketAddr, std::net::SocketAddr)> {
    let ext = req.extensions();
    let tcp = ext.get::<TcpConnectInfo>().or_else(|| {
        ext.get::<TlsConnectInfo<TcpConnectInfo>>()
            .map(TlsConnectInfo::get_ref)
    })?;
    Some((tcp.local_addr()?, tcp.remote_addr()?))
}

impl<S> tower::Service<Request> for StreamGate<S>
where
    S: tower::Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The clone is the one not yet polled ready; call the one that was (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        // Every connection the server sees came through the edge and is in its registry; a
        // request without one (none today) is let through rather than refused.
        let state = conn_key(&req).and_then(|key| self.edge.connection(&key));
        let Some(state) = state else {
            return inner.call(req).boxed();
        };
        let open = match state.open_stream() {
            Ok(open) => open,
            Err(close) => {
                self.edge.note(ConnRefusal::Stream);
                if close {
                    // Counted as a connection closed for streams when its read sees the flag.
                    tracing::debug!("a connection refused more streams than its burst; closing");
                }
                let status = super::super::status::refusal(&Rejection::new(
                    Reason::RateLimited,
                    "this connection opens calls faster than the node allows; slow down",
                ));
                return futures::future::ready(Ok(status.into_http())).boxed();
            }
        };
        let fut = inner.call(req);
        async move {
            let res = fut.await?;
            Ok(res.map(|body| tonic::body::Body::new(Counted { body, _open: open })))
        }
        .boxed()
    }
}

/// A response body that keeps its call counted open until it is finished or dropped.
struct Counted {
    body: tonic::body::Body,
    _open: OpenStream,
}

impl http_body::Body for Counted {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}
