//! The `tocsin.v1.Relay` service: thin handlers that convert, call the node, and convert back.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::client::IMPORT_HEADER;
use super::convert::*;
use super::limits::ConnectionLimits;
use super::reconcile::{self, Caller, Session};
use super::status::{self, refusal};
use crate::message::{AuthorKey, Id, Reason, Rejection, SignedMessage};
use crate::node::{
    Batch, Batches, Ended, Feed, Limit, Next, Node, NodeError, Offer, Outcome, SubEvent,
    SubscribeSpec, drive,
};
use crate::proto;
use crate::proto::relay_server::Relay;
use crate::store::Origin;

/// Messages answered together on a publish stream: they share one durable flush.
const STREAM_BATCH: usize = 128;

/// Batches of one publish stream in flight at once (staged in the store, awaiting the flush).
const STREAM_PIPELINE: usize = 4;

/// The peer an operator's import is recorded as coming from: no peer's key (peers are named by
/// their keys in hex), so nothing is withheld from a peer on its account.
const IMPORTED_FROM: &str = "import";

/// A publish stream as a feed of the node's ingest pipeline: batches of what the client sent,
/// answered in order on the reply channel.
struct PublishStream {
    service: RelayService,
    /// `Origin::Local`, or a peer's for what the operator imports (see `publish_stream`).
    origin: Origin,
    /// The client's address: the key of its budgets.
    conn: Option<SocketAddr>,
    /// What the client sends, a batch at a time.
    incoming: Batches<Streaming<proto::SignedMessage>, Status>,
    replies: mpsc::Sender<Result<proto::PublishReply, Status>>,
}

impl Feed<Node> for PublishStream {
    type Note = ();
    /// The client stream's error, or the status that ended the replies.
    type Error = Status;

    async fn next_batch(&mut self) -> Next<Vec<Offer>, (), Status> {
        // Messages answered together share one durable flush.
        let messages = match self.incoming.next().await {
            Batch::Items(messages) => messages,
            Batch::Ended => return Next::Ended,
            Batch::Failed(status) => return Next::Failed(status),
        };
        let offers = messages
            .into_iter()
            .map(|m| match self.service.receive(self.conn, m) {
                Ok(signed) if self.origin == Origin::Local => {
                    Offer::Client(signed, self.conn.map(|a| a.ip()))
                }
                Ok(signed) => Offer::Message(signed, self.origin.clone()),
                Err(r) => Offer::Refused(r),
            })
            .collect();
        Next::Batch(offers, ())
    }

    async fn answer(&mut self, (): (), outcomes: Vec<Outcome>) -> Result<(), Status> {
        for outcome in outcomes {
            let reply = match outcome {
                Ok(p) => Ok(published_to_proto(&p)),
                Err(NodeError::Refused(r)) => Ok(refused_to_proto(None, &r)),
                Err(e) => Err(Status::from(e)),
            };
            let ends = reply.as_ref().err().cloned();
            if self.replies.send(reply).await.is_err() {
                return Err(Status::cancelled("the client went away"));
            }
            if let Some(status) = ends {
                return Err(status);
            }
        }
        Ok(())
    }
}

/// The relay service, over one node.
#[derive(Debug, Clone)]
pub struct RelayService {
    node: Node,
    request_timeout: Duration,
    limits: Arc<ConnectionLimits>,
    /// Reconciliation sessions served at once: `limits.reconcile_sessions` permits.
    reconcile_slots: Arc<reconcile::Slots>,
}

impl RelayService {
    /// A service over `node`.
    pub fn new(node: Node, limits: Arc<ConnectionLimits>) -> Self {
        let request_timeout = node.config().limits.request_timeout;
        RelayService {
            reconcile_slots: reconcile::Slots::new(&node),
            node,
            request_timeout,
            limits,
        }
    }

    /// The node served.
    pub(super) fn node(&self) -> &Node {
        &self.node
    }

    /// A caller is authenticated by a client certificate from a CA this node trusts (rustls
    /// has verified it against tls.client_ca); a plaintext node listens on loopback only,
    /// where the operator trusts the machine.
    fn authenticated<T>(&self, request: &Request<T>) -> bool {
        self.node.tls().is_none() || request.peer_certs().is_some_and(|certs| !certs.is_empty())
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

    /// A message a client sent, once its budgets are spent and it is decoded; or the refusal
    /// (counted here), before the node sees it. Unary and streamed publishes both come
    /// through here.
    pub(super) fn receive(
        &self,
        conn: Option<SocketAddr>,
        message: proto::SignedMessage,
    ) -> Result<SignedMessage, Rejection> {
        self.spend(conn)?;
        signed_from_proto(message).inspect_err(|r| self.node.metrics().refused(r.reason))
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
        let client = request.remote_addr().map(|a| a.ip());
        let signed = self
            .receive(request.remote_addr(), request.into_inner())
            .map_err(|r| refusal(&r))?;
        let published = self
            .timed(async { Ok(self.node.publish_from(signed, client).await?) })
            .await?;
        Ok(Response::new(published_to_proto(&published)))
    }

    type PublishStreamStream = BoxStream<proto::PublishReply>;

    async fn publish_stream(
        &self,
        request: Request<Streaming<proto::SignedMessage>>,
    ) -> Result<Response<Self::PublishStreamStream>, Status> {
        let hold = self
            .limits
            .open_stream(request.remote_addr())
            .map_err(|(what, cap)| {
                self.node.metrics().refused(Reason::RateLimited);
                status::refusal(&Rejection::new(
                    Reason::RateLimited,
                    format!(
                        "{cap} publish streams are open from this {what} already; send on one of them (a stream carries any number of messages)"
                    ),
                ))
            })?;
        let (replies, rx) = mpsc::channel(STREAM_BATCH * 2);
        // Messages carried from another node by the node's own operator (`tocsin import` on the
        // node's machine) are relayed, not newly published: they enter as a peer's would, so a
        // committed key's older messages are not refused `backdated`. From anywhere else the
        // mark is ignored: a thief with a seized key could send it too.
        let imported = request.metadata().contains_key(IMPORT_HEADER)
            && super::operator::is_local_caller(request.remote_addr());
        let mut stream = PublishStream {
            service: self.clone(),
            origin: if imported {
                Origin::Peer {
                    peer: IMPORTED_FROM.to_string(),
                    cursor: 0,
                }
            } else {
                Origin::Local
            },
            conn: request.remote_addr(),
            incoming: Batches::new(request.into_inner(), STREAM_BATCH),
            replies,
        };
        let node = self.node.clone();
        node.clone().spawn(async move {
            // Its place under the caps, given back when the stream ends.
            let _hold = hold;
            let last = match drive(&node, &mut stream, STREAM_PIPELINE, node.stopped()).await {
                // What was staged is answered: the client resends the rest.
                Ended::Stopped => Some(status::shutting_down(None)),
                Ended::SourceFailed(status) => Some(stream.service.client_stream_error(status)),
                // The client went away, or a reply that ends the stream was sent.
                Ended::Drained | Ended::AnswerFailed(_) => None,
            };
            if let Some(status) = last {
                let _ = stream.replies.send(Err(status)).await;
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
        let log_id = self.node.store().log_id();
        let stall = self.node.config().limits.subscriber_stall;
        // Both endings name where to resume in the same words (`status::resume_point` reads
        // them back): a reader loses nothing by being ended.
        let stream = events.into_stream().map(move |e| match e {
            Ok(SubEvent::Closing(seq)) => Err(status::shutting_down(Some(seq))),
            Ok(SubEvent::Stalled(seq)) => Err(status::subscription_stalled(seq, stall)),
            Ok(event) => Ok(event_to_proto(event, log_id)),
            Err(e) => Err(Status::from(e)),
        });
        // Which log the seqs are of, before any event: a follower checks it against the log
        // NodeInfo showed it on the same connection.
        let mut response = Response::new(Box::pin(stream) as Self::SubscribeStream);
        set_log_id_header(response.metadata_mut(), log_id);
        Ok(response)
    }

    async fn get(
        &self,
        request: Request<proto::GetRequest>,
    ) -> Result<Response<proto::GetReply>, Status> {
        let id = Id::from_slice(&request.get_ref().id)
            .ok_or_else(|| status::malformed_request("id must be 32 bytes"))?;
        let state = self
            .timed(async { Ok(self.node.get(&id).await?) })
            .await?
            .ok_or_else(|| status::not_found(&id))?;
        Ok(Response::new(state_to_proto(&state)))
    }

    async fn get_key(
        &self,
        request: Request<proto::GetKeyRequest>,
    ) -> Result<Response<proto::GetKeyReply>, Status> {
        let key = AuthorKey::from_slice(&request.get_ref().key)
            .map_err(|r| status::bad_field("key", &r))?;
        let state = self
            .timed(async { Ok(self.node.key_state(&key).await?) })
            .await?;
        Ok(Response::new(key_state_to_proto(&state)))
    }

    async fn node_info(
        &self,
        request: Request<proto::NodeInfoRequest>,
    ) -> Result<Response<proto::NodeInfoReply>, Status> {
        // Only a peer with a client certificate from a trusted CA learns of messages under
        // embargo; here, of the log's real head and count. A plaintext node (loopback only)
        // shows a caller that says it is a peer what its subscription would be sent, as
        // `subscribe` does: a follower compares its cursor with that head.
        let peer = request.peer_certs().is_some_and(|certs| !certs.is_empty())
            || (self.node.tls().is_none() && !request.get_ref().peer_node_key.is_empty());
        let embargo_early = self.authenticated(&request);
        let certified = request.peer_certs().is_some_and(|certs| !certs.is_empty());
        let sees_refusals = sees_refused_handshakes(request.remote_addr(), certified);
        let mut info = self
            .timed(async { Ok(self.node.info(peer).await?) })
            .await?;
        info.embargo_early = embargo_early;
        if !sees_refusals {
            info.refused_handshakes.clear();
            // A peer's counts move when it delivers a message under embargo: they are the
            // operator's and the peers' business, as the handshakes are.
            for p in &mut info.peers {
                p.without_counts();
            }
        }
        Ok(Response::new(info_to_proto(&info)))
    }

    type ReconcileStream = BoxStream<proto::ReconcileReply>;

    async fn reconcile(
        &self,
        request: Request<Streaming<proto::ReconcileRequest>>,
    ) -> Result<Response<Self::ReconcileStream>, Status> {
        let authenticated = self.authenticated(&request);
        let slot = self
            .reconcile_slots
            .take(
                authenticated,
                request.remote_addr(),
                self.node.config().limits.reconcile_sessions,
            )
            .inspect_err(|_| self.node.metrics().reconcile_served.ended(1))?;
        let session = Session::new(self.clone(), slot, authenticated, request.remote_addr());
        // Room for a `want`'s chunks: the session waits for the caller to read them.
        let (replies, rx) = mpsc::channel(4);
        let requests = request.into_inner();
        self.node.spawn(session.run(requests, replies));
        let mut response =
            Response::new(Box::pin(ReceiverStream::new(rx)) as Self::ReconcileStream);
        // What a caller asking for large frames may use (see ReconcileOpen.frame_limit).
        response.metadata_mut().insert(
            super::reconcile::FRAME_LIMIT_HEADER,
            self.node.config().limits.reconcile_frame_bytes().into(),
        );
        Ok(response)
    }

    type ItemsStream = BoxStream<proto::ItemsChunk>;

    async fn items(
        &self,
        request: Request<proto::ItemsRequest>,
    ) -> Result<Response<Self::ItemsStream>, Status> {
        let caller = Caller::new(
            self.authenticated(&request),
            &request.get_ref().peer_node_key,
            request.remote_addr(),
        )?;
        let (replies, rx) = mpsc::channel(2);
        self.node
            .spawn(reconcile::list_items(self.node.clone(), caller, replies));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

/// Whether a caller may see the node's refused handshakes: their details name the issuers of
/// other clients' certificates and the CAs this node trusts, which are the operator's and its
/// peers' business. A caller on the node's machine (loopback) or a peer with a certificate
/// from a trusted CA sees them; anyone else gets an empty list.
pub(crate) fn sees_refused_handshakes(remote: Option<SocketAddr>, certified: bool) -> bool {
    certified || super::operator::is_local_caller(remote)
}
