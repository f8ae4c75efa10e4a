//! The `tocsin.v1.Relay` service: thin handlers that convert, call the node, and convert back.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesOrdered;
use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::convert::*;
use super::limits::ConnectionLimits;
use super::status::{self, refusal};
use crate::message::{AuthorKey, Id, Reason, Rejection};
use crate::node::{Limit, Node, NodeError, SubEvent, SubscribeSpec};
use crate::proto;
use crate::proto::relay_server::Relay;
use crate::store::Origin;

/// Messages answered together on a publish stream: they share one durable flush.
const STREAM_BATCH: usize = 128;

/// Batches of one publish stream in flight at once (staged in the store, awaiting the flush).
const STREAM_PIPELINE: usize = 4;

/// Sends a batch's answers in order: the refusals made before the node saw a message, and the
/// node's outcomes for the rest. False when the stream is done (the client went away, or an
/// error ended it).
async fn send_replies(
    tx: &mpsc::Sender<Result<proto::PublishReply, Status>>,
    replies: Vec<Option<proto::PublishReply>>,
    outcomes: Vec<Result<crate::node::Published, NodeError>>,
) -> bool {
    let mut outcomes = outcomes.into_iter();
    for reply in replies {
        let reply = match reply {
            Some(r) => Ok(r),
            None => match outcomes.next() {
                Some(Ok(p)) => Ok(published_to_proto(&p)),
                Some(Err(NodeError::Refused(r))) => Ok(refused_to_proto(None, &r)),
                Some(Err(e)) => Err(Status::from(e)),
                None => Err(Status::internal("internal error")),
            },
        };
        let fatal = reply.is_err();
        if tx.send(reply).await.is_err() || fatal {
            return false;
        }
    }
    true
}

/// Answers every staged batch, in order. False when the stream is done.
async fn drain<F>(
    in_flight: &mut FuturesOrdered<F>,
    tx: &mpsc::Sender<Result<proto::PublishReply, Status>>,
) -> bool
where
    F: std::future::Future<
            Output = (
                Vec<Option<proto::PublishReply>>,
                Vec<Result<crate::node::Published, NodeError>>,
            ),
        >,
{
    while let Some((replies, outcomes)) = in_flight.next().await {
        if !send_replies(tx, replies, outcomes).await {
            return false;
        }
    }
    true
}

/// The relay service, over one node.
#[derive(Debug, Clone)]
pub struct RelayService {
    node: Node,
    request_timeout: Duration,
    limits: Arc<ConnectionLimits>,
}

impl RelayService {
    /// A service over `node`.
    pub fn new(node: Node, limits: Arc<ConnectionLimits>) -> Self {
        let request_timeout = node.config().limits.request_timeout;
        RelayService {
            node,
            request_timeout,
            limits,
        }
    }

    fn rate_limited(&self) -> Rejection {
        self.node.metrics().refused(Reason::RateLimited);
        self.node.metrics().limited(Limit::Connection);
        Rejection::new(Reason::RateLimited, Limit::Connection.detail())
    }

    /// The budgets of the client's address and network, then of its connection: a new
    /// connection brings no new burst. (The address is a key of a bucket only, never logged.)
    fn spend(&self, conn: Option<SocketAddr>) -> Result<(), Rejection> {
        self.node.spend_address(conn.map(|a| a.ip()))?;
        if !self.limits.allow(conn) {
            return Err(self.rate_limited());
        }
        Ok(())
    }

    /// The status that ends a publish stream whose client's side failed (counted as a refusal
    /// when it is tonic's size limit).
    fn client_stream_error(&self, status: Status) -> Status {
        let status = status::client_stream_error(status);
        if let Some(r) = status::rejection_of(&status) {
            self.node.metrics().refused(r.reason);
        }
        status
    }

    async fn timed<T>(&self, fut: impl Future<Output = Result<T, Status>>) -> Result<T, Status> {
        tokio::time::timeout(self.request_timeout, fut)
            .await
            .unwrap_or_else(|_| Err(status::timed_out()))
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl Relay for RelayService {
    async fn publish(
        &self,
        request: Request<proto::SignedMessage>,
    ) -> Result<Response<proto::PublishReply>, Status> {
        self.spend(request.remote_addr()).map_err(|r| refusal(&r))?;
        let signed = signed_from_proto(request.into_inner()).map_err(|r| {
            self.node.metrics().refused(r.reason);
            refusal(&r)
        })?;
        let published = self
            .timed(async { Ok(self.node.publish(signed, Origin::Local).await?) })
            .await?;
        Ok(Response::new(published_to_proto(&published)))
    }

    type PublishStreamStream = BoxStream<proto::PublishReply>;

    async fn publish_stream(
        &self,
        request: Request<Streaming<proto::SignedMessage>>,
    ) -> Result<Response<Self::PublishStreamStream>, Status> {
        let conn = request.remote_addr();
        let mut incoming = request.into_inner();
        let node = self.node.clone();
        let service = self.clone();
        let (tx, rx) = mpsc::channel(STREAM_BATCH * 2);
        node.clone().spawn(async move {
            // Batches staged (verified, handed to the store in order) and not yet answered:
            // the next batch is verified while the earlier ones are written and flushed.
            let mut in_flight = FuturesOrdered::new();
            let mut ended = false;
            // An error reading the client's stream, found while gathering a batch: sent once
            // what came before it is answered.
            let mut stream_error: Option<Status> = None;
            loop {
                if ended && in_flight.is_empty() {
                    if let Some(status) = stream_error {
                        let _ = tx.send(Err(service.client_stream_error(status))).await;
                    }
                    return;
                }
                tokio::select! {
                    biased;
                    Some((replies, outcomes)) = in_flight.next(), if !in_flight.is_empty() => {
                        if !send_replies(&tx, replies, outcomes).await {
                            return;
                        }
                    }
                    _ = node.stopped() => {
                        // Answer what was staged, then tell the client to resend the rest.
                        if !drain(&mut in_flight, &tx).await {
                            return;
                        }
                        let _ = tx.send(Err(status::shutting_down(None))).await;
                        return;
                    }
                    first = incoming.next(), if !ended && in_flight.len() < STREAM_PIPELINE => {
                        // One message, then whatever else has already arrived.
                        let mut batch = match first {
                            None => {
                                ended = true;
                                continue;
                            }
                            Some(Err(status)) => {
                                if !drain(&mut in_flight, &tx).await {
                                    return;
                                }
                                let _ = tx.send(Err(service.client_stream_error(status))).await;
                                return;
                            }
                            Some(Ok(m)) => vec![m],
                        };
                        while batch.len() < STREAM_BATCH {
                            match incoming.next().now_or_never() {
                                Some(Some(Ok(m))) => batch.push(m),
                                Some(Some(Err(status))) => {
                                    ended = true;
                                    stream_error = Some(status);
                                    break;
                                }
                                Some(None) => {
                                    ended = true;
                                    break;
                                }
                                None => break,
                            }
                        }
                        let mut replies = Vec::with_capacity(batch.len());
                        let mut to_publish = Vec::with_capacity(batch.len());
                        for m in batch {
                            if let Err(r) = service.spend(conn) {
                                replies.push(Some(refused_to_proto(None, &r)));
                                continue;
                            }
                            match signed_from_proto(m) {
                                Ok(signed) => {
                                    replies.push(None);
                                    to_publish.push((signed, Origin::Local));
                                }
                                Err(r) => {
                                    node.metrics().refused(r.reason);
                                    replies.push(Some(refused_to_proto(None, &r)));
                                }
                            }
                        }
                        let staged = node.stage_many(to_publish).await;
                        in_flight.push_back(async move { (replies, staged.finish().await) });
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type SubscribeStream = BoxStream<proto::SubscribeEvent>;

    async fn subscribe(
        &self,
        request: Request<proto::SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        // A peer is authenticated by a client certificate from a CA this node trusts (rustls
        // has verified it against tls.client_ca); a plaintext node listens on loopback only,
        // where the operator trusts the machine.
        let authenticated = self.node.tls().is_none()
            || request.peer_certs().is_some_and(|certs| !certs.is_empty());
        let conn = request.remote_addr();
        let req = request.into_inner();
        let peer = if req.peer_node_key.is_empty() {
            None
        } else {
            Some(
                AuthorKey::from_slice(&req.peer_node_key)
                    .map_err(|r| status::bad_field("peer_node_key", &r))?,
            )
        };
        let spec = SubscribeSpec {
            filter: filter_from_proto(req.filter)?,
            since: req.since,
            peer,
            authenticated,
            conn,
        };
        let events = self.node.subscribe(spec)?;
        let stall = self.node.config().limits.subscriber_stall;
        // Both endings name where to resume in the same words (`status::resume_point` reads
        // them back): a reader loses nothing by being ended.
        let stream = events.into_stream().map(move |e| match e {
            Ok(SubEvent::Closing(seq)) => Err(status::shutting_down(Some(seq))),
            Ok(SubEvent::Stalled(seq)) => Err(status::subscription_stalled(seq, stall)),
            Ok(event) => Ok(event_to_proto(event)),
            Err(e) => Err(Status::from(e)),
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get(
        &self,
        request: Request<proto::GetRequest>,
    ) -> Result<Response<proto::GetReply>, Status> {
        let id = Id::from_slice(&request.get_ref().id)
            .ok_or_else(|| status::malformed_request("id must be 32 bytes"))?;
        let state = self
            .timed(async { Ok(self.node.get(&id)?) })
            .await?
            .ok_or_else(|| status::not_found(&id))?;
        Ok(Response::new(state_to_proto(&state)))
    }

    async fn node_info(
        &self,
        request: Request<proto::NodeInfoRequest>,
    ) -> Result<Response<proto::NodeInfoReply>, Status> {
        // Only a peer with a client certificate from a trusted CA learns of messages under
        // embargo; here, of the log's real head and count.
        let peer = request.peer_certs().is_some_and(|certs| !certs.is_empty());
        let info = self.node.info(peer)?;
        Ok(Response::new(info_to_proto(&info)))
    }
}
