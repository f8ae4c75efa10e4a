//! The serving side of set reconciliation: `Relay.Reconcile` (a negentropy session, then `want`
//! and `offer` on the same stream) and `Relay.Items` (the caller's items, listed).
//!
//! The caller sees what its view may see (the rule of `Subscribe`: an authenticated peer sees
//! messages under embargo, anyone else does not), by the store's item sets (`store/items.rs`):
//! the items it reconciles against, the ids it may fetch, and what it offers goes through the
//! node's one ingest pipeline, as a peer's messages or as a client's publishes under the
//! client's budgets. The input is hostile until proved otherwise: negentropy runs on a blocking
//! thread (a panic there ends the session, not the node), every list is bounded, and a session
//! is bounded in number, rounds and time (`limits.reconcile_*`).

use std::net::SocketAddr;
use std::sync::Arc;

use futures::StreamExt;
use negentropy::Negentropy;
use prost::Message as _;
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tonic::{Status, Streaming};

use super::convert::{published_to_proto, refused_to_proto, signed_from_proto};
use super::service::RelayService;
use super::status;
use crate::message::{AuthorKey, Id};
use crate::node::{Node, NodeError, Offer};
use crate::proto;
use crate::proto::reconcile_reply::Step as ReplyStep;
use crate::proto::reconcile_request::Step as RequestStep;
use crate::store::{ITEM_BYTES, ItemSet, Origin, View};

/// The most negentropy bytes this node answers at once to a caller that asks for no larger
/// frames, and the most bytes of one `negentropy_part`: under any node's gRPC message limit.
pub const NEGENTROPY_FRAME_LIMIT: u64 = 60_000;

/// The response header in which a node says the largest negentropy message it takes
/// (`limits.reconcile_frame_kib`), for a caller that asks for large frames in its `open`.
pub const FRAME_LIMIT_HEADER: &str = "tocsin-reconcile-frame-limit";

/// The frame two sides use: the smaller of what each takes, and never below the frame any node
/// takes in one gRPC message. `asked`: what the caller's `open` says (0: nothing).
pub fn agreed_frame(asked: u64, ours: u64) -> u64 {
    asked.min(ours).max(NEGENTROPY_FRAME_LIMIT)
}

/// What negentropy may add above its frame limit (it checks the limit before each range it
/// adds, less a margin of its own), allowed in a message received in parts.
const FRAME_SLACK: u64 = 64 * 1024;

/// A negentropy message as it goes on the wire, either way: in parts of at most
/// [`NEGENTROPY_FRAME_LIMIT`] bytes, each with whether it is the last (sent as `negentropy`, the
/// others as `negentropy_part`). A message that fits is one part, not copied.
pub(super) fn wire_parts(message: Vec<u8>) -> Vec<(Vec<u8>, bool)> {
    let part = NEGENTROPY_FRAME_LIMIT as usize;
    if message.len() <= part {
        return vec![(message, true)];
    }
    let parts = message.len().div_ceil(part);
    message
        .chunks(part)
        .enumerate()
        .map(|(i, bytes)| (bytes.to_vec(), i + 1 == parts))
        .collect()
}

/// A negentropy message put together from its parts, within the frame agreed (and
/// negentropy's slack above it).
#[derive(Debug, Default)]
pub(super) struct Parts(Vec<u8>);

impl Parts {
    /// Adds a part; `Err` with the bytes it would make when that is above `frame`.
    pub(super) fn add(&mut self, part: Vec<u8>, frame: u64) -> Result<(), u64> {
        let len = (self.0.len() + part.len()) as u64;
        if len > frame + FRAME_SLACK {
            return Err(len);
        }
        if self.0.is_empty() {
            self.0 = part;
        } else {
            self.0.extend_from_slice(&part);
        }
        Ok(())
    }

    /// The message, leaving no parts behind.
    pub(super) fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

/// The most ids one `want` may list, and messages one `offer` may carry.
pub const RECONCILE_BATCH: usize = 256;

/// The most items in one `Items` chunk (640 KiB), when the gRPC message limit allows.
const ITEMS_PER_CHUNK: usize = 16_384;

/// Room left in a reply for its framing, below the gRPC message limit.
const REPLY_MARGIN: usize = 1024;

/// Who is asking, and so what they may see and how what they offer is taken.
#[derive(Debug, Clone)]
pub(super) struct Caller {
    /// The view its items and fetches are read in.
    view: View,
    /// Its node key in hex, when it proved it is a peer: what it offers is its messages.
    peer: Option<String>,
    /// Its address: the key of its publishing budgets when it is not a peer.
    conn: Option<SocketAddr>,
}

impl Caller {
    /// The caller as `Subscribe` sees it: `authenticated` (a client certificate from a trusted
    /// CA, or a plaintext node on loopback) and naming a peer key → a peer; naming one without
    /// proof → a reader that does not get its own messages back; else a reader.
    pub(super) fn new(
        authenticated: bool,
        peer_node_key: &[u8],
        conn: Option<SocketAddr>,
    ) -> Result<Caller, Status> {
        if peer_node_key.is_empty() {
            return Ok(Caller {
                view: View::Reader,
                peer: None,
                conn,
            });
        }
        let key = AuthorKey::from_slice(peer_node_key)
            .map_err(|r| status::bad_field("peer_node_key", &r))?;
        Ok(if authenticated {
            Caller {
                view: View::Peer {
                    exclude_origin: None,
                },
                peer: Some(key.to_hex()),
                conn,
            }
        } else {
            Caller {
                view: View::UnauthenticatedPeer {
                    exclude_origin: key.to_hex(),
                },
                peer: None,
                conn,
            }
        })
    }
}

/// Replies of a session, in order; an `Err` ends it.
type Replies = mpsc::Sender<Result<proto::ReconcileReply, Status>>;

/// One session served: the caller, its negentropy state once opened, and the rounds taken.
pub(super) struct Session {
    service: RelayService,
    caller: Option<Caller>,
    authenticated: bool,
    conn: Option<SocketAddr>,
    negentropy: Option<Negentropy<'static, ItemSet>>,
    rounds: u32,
    /// The negentropy frame agreed at `open` (see [`agreed_frame`]).
    frame: u64,
    /// The parts of the caller's next negentropy message received so far.
    parts: Parts,
    /// Held while the session lasts (see [`Slots`]).
    _slot: Slot,
}

impl Session {
    pub(super) fn new(
        service: RelayService,
        slot: Slot,
        authenticated: bool,
        conn: Option<SocketAddr>,
    ) -> Session {
        Session {
            service,
            caller: None,
            authenticated,
            conn,
            negentropy: None,
            rounds: 0,
            frame: NEGENTROPY_FRAME_LIMIT,
            parts: Parts::default(),
            _slot: slot,
        }
    }

    fn node(&self) -> &Node {
        self.service.node()
    }

    /// Serves the session until the caller ends it, a request fails, a bound is reached or the
    /// node shuts down; counted by how it ended.
    pub(super) async fn run(
        mut self,
        mut requests: Streaming<proto::ReconcileRequest>,
        replies: Replies,
    ) {
        let node = self.node().clone();
        let limits = &node.config().limits;
        let deadline = tokio::time::sleep(limits.reconcile_timeout);
        tokio::pin!(deadline);
        let ended: Result<(), Status> = loop {
            // Until it opens, a session has `IDLE` to send `open`; after, the whole session
            // has `limits.reconcile_timeout` (an initiator may be silent a while, storing what
            // it fetched or reading what to offer).
            let opening = if self.caller.is_none() {
                IDLE
            } else {
                limits.reconcile_timeout
            };
            let next = tokio::select! {
                next = requests.next() => next,
                () = tokio::time::sleep(opening) => break Err(status::reconcile_spent(&format!(
                    "{}s without opening",
                    IDLE.as_secs()
                ))),
                () = &mut deadline => break Err(status::reconcile_spent(&format!(
                    "limits.reconcile_timeout ({}s)",
                    limits.reconcile_timeout.as_secs()
                ))),
                () = node.stopped() => break Err(status::shutting_down(None)),
            };
            let request = match next {
                None => break Ok(()),
                Some(Ok(request)) => request,
                Some(Err(e)) => break Err(status::client_stream_error(e)),
            };
            let step = tokio::select! {
                step = self.step(request, &replies) => step,
                () = &mut deadline => Err(status::reconcile_spent(&format!(
                    "limits.reconcile_timeout ({}s)",
                    limits.reconcile_timeout.as_secs()
                ))),
            };
            if let Err(e) = step {
                break Err(e);
            }
        };
        let metrics = &node.metrics().reconcile_served;
        match ended {
            Ok(()) => metrics.ended(0),
            Err(e) => {
                metrics.ended(2);
                let _ = replies.send(Err(e)).await;
            }
        }
    }

    /// Answers one request.
    async fn step(
        &mut self,
        request: proto::ReconcileRequest,
        replies: &Replies,
    ) -> Result<(), Status> {
        let step = request
            .step
            .ok_or_else(|| status::malformed_request("a reconcile request with no step"))?;
        let reply = |step| proto::ReconcileReply { step: Some(step) };
        match step {
            RequestStep::Open(open) => {
                if self.caller.is_some() {
                    return Err(status::malformed_request("the session is open already"));
                }
                let caller = Caller::new(self.authenticated, &open.peer_node_key, self.conn)?;
                let items = self
                    .node()
                    .reads()
                    .items(&caller.view)
                    .await
                    .map_err(NodeError::from)?;
                self.caller = Some(caller);
                let ours = self.node().config().limits.reconcile_frame_bytes();
                self.frame = agreed_frame(open.frame_limit, ours);
                self.negentropy = Some(
                    Negentropy::owned(items, self.frame)
                        .map_err(|_| NodeError::Internal("negentropy refused its frame limit"))?,
                );
                self.take_part(open.negentropy)?;
                let answer = self.round().await?;
                answer_negentropy(replies, answer).await
            }
            RequestStep::NegentropyPart(part) => {
                self.opened()?;
                self.take_part(part)
            }
            RequestStep::Negentropy(query) => {
                self.opened()?;
                self.take_part(query)?;
                let answer = self.round().await?;
                answer_negentropy(replies, answer).await
            }
            RequestStep::Want(list) => {
                let caller = self.opened()?.clone();
                self.want(&caller, list.ids, replies).await
            }
            RequestStep::Offer(list) => {
                let caller = self.opened()?.clone();
                let answers = self.offer(&caller, list.messages).await?;
                send(
                    replies,
                    reply(ReplyStep::Offered(proto::Offered { replies: answers })),
                )
                .await
            }
        }
    }

    fn opened(&self) -> Result<&Caller, Status> {
        self.caller
            .as_ref()
            .ok_or_else(|| status::malformed_request("a reconcile session starts with `open`"))
    }

    /// Adds a part of the caller's next negentropy message, within the frame agreed.
    fn take_part(&mut self, part: Vec<u8>) -> Result<(), Status> {
        self.parts.add(part, self.frame).map_err(|len| {
            status::malformed_request(format!(
                "a negentropy message of {len} bytes or more, above the frame agreed ({} bytes)",
                self.frame
            ))
        })
    }

    /// One negentropy round over the message received (its parts), on a blocking thread,
    /// within the session's rounds.
    async fn round(&mut self) -> Result<Vec<u8>, Status> {
        let query = self.parts.take();
        let limit = self.node().config().limits.reconcile_rounds;
        if self.rounds >= limit {
            return Err(status::reconcile_spent(&format!(
                "limits.reconcile_rounds ({limit})"
            )));
        }
        self.rounds += 1;
        let Some(mut negentropy) = self.negentropy.take() else {
            return Err(status::malformed_request(
                "a reconcile session starts with `open`",
            ));
        };
        let (negentropy, answer) = tokio::task::spawn_blocking(move || {
            let answer = negentropy.reconcile(&query);
            (negentropy, answer)
        })
        .await
        .map_err(|_| NodeError::Internal("a negentropy round failed"))?;
        self.negentropy = Some(negentropy);
        answer.map_err(status::bad_negentropy)
    }

    /// The messages asked for that the caller may see, in replies that each stay under the
    /// gRPC message limit, the last marked `done`.
    async fn want(
        &self,
        caller: &Caller,
        ids: Vec<Vec<u8>>,
        replies: &Replies,
    ) -> Result<(), Status> {
        if ids.len() > RECONCILE_BATCH {
            return Err(status::too_many("ids", ids.len(), RECONCILE_BATCH));
        }
        let ids = ids
            .iter()
            .map(|b| {
                Id::from_slice(b).ok_or_else(|| status::malformed_request("an id must be 32 bytes"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let found = self
            .node()
            .reads()
            .item_messages(ids, &caller.view)
            .await
            .map_err(NodeError::from)?;
        let room = self
            .node()
            .config()
            .limits
            .max_grpc_message_bytes
            .saturating_sub(REPLY_MARGIN);
        let mut chunk = proto::Fetched::default();
        let mut size = 0;
        for (id, message) in found {
            let message = message.map(|m| m.signed().to_proto());
            // A message's bytes and its field's framing; a missing id's 32 bytes and framing.
            let len = message.as_ref().map_or(36, |m| m.encoded_len() + 8);
            if size + len > room && size > 0 {
                send(replies, fetched(std::mem::take(&mut chunk))).await?;
                size = 0;
            }
            match message {
                Some(m) => chunk.messages.push(m),
                None => chunk.missing.push(id.0.to_vec()),
            }
            size += len;
        }
        chunk.done = true;
        send(replies, fetched(chunk)).await
    }

    /// What the caller offers, through the node's ingest: a peer's messages (verified and
    /// admitted as if new) from an authenticated peer, else a client's publishes under its
    /// budgets. One answer per message, in order.
    async fn offer(
        &self,
        caller: &Caller,
        messages: Vec<proto::SignedMessage>,
    ) -> Result<Vec<proto::PublishReply>, Status> {
        if messages.len() > RECONCILE_BATCH {
            return Err(status::too_many(
                "messages",
                messages.len(),
                RECONCILE_BATCH,
            ));
        }
        let offers = messages
            .into_iter()
            .map(|m| match &caller.peer {
                Some(peer) => match signed_from_proto(m) {
                    Ok(signed) => Offer::Message(
                        signed,
                        Origin::Peer {
                            peer: peer.clone(),
                            cursor: 0,
                        },
                    ),
                    Err(r) => {
                        self.node().metrics().refused(r.reason);
                        Offer::Refused(r)
                    }
                },
                // A stranger's offer is a client's publish, its network's share of the budget
                // for new keys included.
                None => match self.service.receive(caller.conn, m) {
                    Ok(signed) => Offer::Client(signed, caller.conn.map(|a| a.ip())),
                    Err(r) => Offer::Refused(r),
                },
            })
            .collect();
        let outcomes = self.node().stage(offers).await.finish().await;
        outcomes
            .into_iter()
            .map(|outcome| match outcome {
                Ok(p) => Ok(published_to_proto(&p)),
                Err(NodeError::Refused(r)) => Ok(refused_to_proto(None, &r)),
                Err(e) => Err(Status::from(e)),
            })
            .collect()
    }
}

/// Sends a negentropy answer: in parts of at most [`NEGENTROPY_FRAME_LIMIT`] bytes when it is
/// larger (only with a frame the caller asked for), the last part as `negentropy`.
async fn answer_negentropy(replies: &Replies, answer: Vec<u8>) -> Result<(), Status> {
    for (bytes, last) in wire_parts(answer) {
        let step = if last {
            ReplyStep::Negentropy(bytes)
        } else {
            ReplyStep::NegentropyPart(bytes)
        };
        send(replies, proto::ReconcileReply { step: Some(step) }).await?;
    }
    Ok(())
}

fn fetched(chunk: proto::Fetched) -> proto::ReconcileReply {
    proto::ReconcileReply {
        step: Some(ReplyStep::Fetched(chunk)),
    }
}

async fn send(replies: &Replies, reply: proto::ReconcileReply) -> Result<(), Status> {
    replies
        .send(Ok(reply))
        .await
        .map_err(|_| Status::cancelled("the caller went away"))
}

/// Items per `Items` chunk: 16,384, or fewer when the gRPC message limit is smaller.
pub(super) fn items_per_chunk(max_grpc_message_bytes: usize) -> usize {
    (max_grpc_message_bytes.saturating_sub(REPLY_MARGIN) / ITEM_BYTES).clamp(1, ITEMS_PER_CHUNK)
}

/// Sends the caller's items in chunks, oldest first, each with the head it was listed at.
pub(super) async fn list_items(
    node: Node,
    caller: Caller,
    replies: mpsc::Sender<Result<proto::ItemsChunk, Status>>,
) {
    let listed = async {
        let head_seq = match caller.view {
            View::Peer { .. } => node.store().head(),
            _ => node.reads().reader_head().await?,
        };
        let items = node.reads().items(&caller.view).await?;
        Ok::<_, NodeError>((head_seq, items))
    };
    let (head_seq, items) = match listed.await {
        Ok(listed) => listed,
        Err(e) => {
            let _ = replies.send(Err(Status::from(e))).await;
            return;
        }
    };
    let per_chunk = items_per_chunk(node.config().limits.max_grpc_message_bytes);
    let mut from = 0;
    loop {
        let slice = items.slice(from, per_chunk);
        let mut bytes = Vec::with_capacity(slice.len() * ITEM_BYTES);
        for (created_at, id) in &slice {
            bytes.extend_from_slice(&created_at.to_be_bytes());
            bytes.extend_from_slice(&id.0);
        }
        from += slice.len();
        let chunk = proto::ItemsChunk {
            items: bytes,
            log_id: node.store().log_id().as_bytes().to_vec(),
            head_seq,
        };
        if replies.send(Ok(chunk)).await.is_err() || from >= items.len() {
            return;
        }
    }
}

/// A session that has not sent `open` this long after it began is ended: a stream opened and
/// left idle held a slot for `limits.reconcile_timeout` (four such streams stopped every
/// reconciliation with the node for ten minutes). An initiator opens at once.
pub(super) const IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// The sessions served at once, shared by every connection's service:
/// `limits.reconcile_sessions` for anyone, as many again kept for callers a node trusts (a peer
/// presenting a certificate; any caller of a plaintext node, which listens on loopback only),
/// and for anyone else one session at a time per client address (an IPv6 /64), so that
/// strangers cannot hold every slot and stop federation's repair.
#[derive(Debug)]
pub(crate) struct Slots {
    shared: Arc<tokio::sync::Semaphore>,
    trusted: Arc<tokio::sync::Semaphore>,
    by_address: std::sync::Mutex<crate::node::Occupancy<std::net::IpAddr>>,
}

/// One session's hold on [`Slots`], given back when the session ends.
#[derive(Debug)]
pub(super) struct Slot {
    _permit: OwnedSemaphorePermit,
    address: Option<(Arc<Slots>, std::net::IpAddr)>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((slots, ip)) = &self.address {
            (slots.by_address.lock().unwrap_or_else(|p| p.into_inner())).give_back(ip);
        }
    }
}

impl Slots {
    pub(super) fn new(node: &Node) -> Arc<Slots> {
        let n = node.config().limits.reconcile_sessions;
        Arc::new(Slots {
            shared: Arc::new(tokio::sync::Semaphore::new(n)),
            trusted: Arc::new(tokio::sync::Semaphore::new(n)),
            by_address: std::sync::Mutex::default(),
        })
    }

    /// A slot for a caller (`trusted`: see [`Slots`]) at `conn`, or the refusal.
    pub(super) fn take(
        self: &Arc<Self>,
        trusted: bool,
        conn: Option<SocketAddr>,
        cap: usize,
    ) -> Result<Slot, Status> {
        if trusted {
            let permit = Arc::clone(&self.trusted)
                .try_acquire_owned()
                .or_else(|_| Arc::clone(&self.shared).try_acquire_owned())
                .map_err(|_| status::reconcile_busy(cap))?;
            return Ok(Slot {
                _permit: permit,
                address: None,
            });
        }
        let ip = conn.map(|c| crate::node::address_keys(c.ip()).0);
        if let Some(ip) = ip {
            let mut by = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
            if by.held(&ip) >= 1 {
                return Err(status::reconcile_busy_here());
            }
            let permit = Arc::clone(&self.shared)
                .try_acquire_owned()
                .map_err(|_| status::reconcile_busy(cap))?;
            by.take(ip);
            return Ok(Slot {
                _permit: permit,
                address: Some((Arc::clone(self), ip)),
            });
        }
        let permit = Arc::clone(&self.shared)
            .try_acquire_owned()
            .map_err(|_| status::reconcile_busy(cap))?;
        Ok(Slot {
            _permit: permit,
            address: None,
        })
    }
}
