//! A typed client of the relay service, used by the CLI and by federation followers.

use std::time::Duration;

use futures::{Stream, StreamExt};
use tonic::Code;
use tonic::transport::Endpoint;

use std::sync::Arc;

use super::connect::{Connector, Named, Seen, Target, client_config};
use super::convert::{
    filter_to_proto, log_id_from_headers, reconcile_status_from_proto, signed_from_proto,
};
use super::status::rejection_of;
use super::tls_names::{NAME_CAP, printable};
use crate::message::{AuthorKey, Filter, Id, Rejection, SignedMessage, Tally, Timestamp};
use crate::node::{NodeInfo, PeerStatus};
use crate::proto;
use crate::proto::operator_client::OperatorClient;
use crate::proto::reconcile_reply::Step as ReplyStep;
use crate::proto::reconcile_request::Step as RequestStep;
use crate::proto::relay_client::RelayClient;
use crate::store::{KeyState, LogId};

/// The request metadata `tocsin import` sends on its publish stream: these messages were carried
/// from another node, not newly made (honoured from a caller on the node's own machine only).
pub const IMPORT_HEADER: &str = "tocsin-import";

/// The most characters kept of a refused handshake's detail a node sends (an issuer's name
/// and the names of the CAs the node trusts).
const DETAIL_CAP: usize = 4 * NAME_CAP;

/// What a client can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The node could not be reached.
    #[error("cannot reach the node at {url}: {detail}")]
    Connect {
        /// The URL tried.
        url: String,
        /// Why.
        detail: String,
    },
    /// The node refused the message, with a reason code.
    #[error("refused: {0}")]
    Refused(Rejection),
    /// Any other gRPC status.
    #[error("the node answered {code:?}: {message}")]
    Status {
        /// The gRPC code.
        code: Code,
        /// The status message.
        message: String,
    },
    /// The node's answer did not make sense.
    #[error("the node sent a reply that does not decode: {0}")]
    BadReply(String),
}

impl From<tonic::Status> for ClientError {
    fn from(s: tonic::Status) -> Self {
        // A call that failed because its connection did, for a reason the connection's watch
        // named (`connect.rs`): the sentence, not tonic's `Cancelled`.
        if let Some(url) = s
            .metadata()
            .get(super::connect::CONNECTION_FAILED)
            .and_then(|v| v.to_str().ok())
        {
            return ClientError::Connect {
                url: url.to_string(),
                detail: s.message().to_string(),
            };
        }
        match rejection_of(&s) {
            Some(r) => ClientError::Refused(r),
            None => ClientError::Status {
                code: s.code(),
                message: s.message().to_string(),
            },
        }
    }
}

impl ClientError {
    /// Whether retrying later (or elsewhere) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Connect { .. } => true,
            ClientError::Status { code, .. } => matches!(
                code,
                Code::Unavailable
                    | Code::DeadlineExceeded
                    | Code::ResourceExhausted
                    | Code::Unknown
            ),
            ClientError::Refused(r) => r.reason == crate::message::Reason::Unavailable,
            ClientError::BadReply(_) => false,
        }
    }

    /// Whether the node refused the call because it did not come from the node's own machine
    /// (the operator service answers only there).
    pub fn is_not_local(&self) -> bool {
        matches!(
            self,
            ClientError::Status {
                code: Code::PermissionDenied,
                ..
            }
        )
    }

    /// Whether the node does not serve this call at all (an older version).
    pub fn is_unimplemented(&self) -> bool {
        matches!(
            self,
            ClientError::Status {
                code: Code::Unimplemented,
                ..
            }
        )
    }

    /// Where to resume a subscription this error ended ("resume with since=N": the node shut
    /// down, or ended a subscription that was not read), if it says.
    pub fn resume_since(&self) -> Option<u64> {
        match self {
            ClientError::Status { message, .. } => super::status::resume_point(message),
            ClientError::Refused(r) => super::status::resume_point(&r.detail),
            _ => None,
        }
    }
}

/// The answer to one published message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Stored under a new seq.
    Accepted {
        /// The id.
        id: Id,
        /// The seq on that node.
        seq: u64,
    },
    /// Already there.
    Duplicate {
        /// The id.
        id: Id,
        /// The seq on that node.
        seq: u64,
    },
    /// Refused (streaming publish answers refusals in line).
    Refused(Rejection),
}

/// One item of a subscription.
#[derive(Debug, Clone)]
pub enum ClientEvent {
    /// A message at its seq on the node.
    Delivery {
        /// Resume with since = seq.
        seq: u64,
        /// The message as signed.
        message: SignedMessage,
    },
    /// The backfill is done up to this seq; what follows is live.
    CaughtUp(u64),
}

/// A message's state as a node reports it.
#[derive(Debug, Clone)]
pub struct GetState {
    /// The message (absent when withdrawn).
    pub message: Option<SignedMessage>,
    /// Its seq on that node.
    pub seq: u64,
    /// The current version.
    pub current: Option<SignedMessage>,
    /// Ids of its updates, oldest first.
    pub updates: Vec<Id>,
    /// Whether it was cancelled.
    pub cancelled: bool,
    /// The cancel's reason.
    pub cancel_reason: String,
    /// Who endorsed it.
    pub endorsers: Vec<(AuthorKey, String, Timestamp)>,
    /// Translations by others.
    pub translations: Vec<SignedMessage>,
    /// What the organisations that reported on it did (empty when nobody reported).
    pub tally: Tally,
    /// Why its content is withheld (its author's key was revoked, or rotated after a
    /// compromise, from before it was made); `None` when it is not.
    pub withheld: Option<String>,
}

/// How a client checks the node's certificate, and what it presents (peers).
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// CA certificates (PEM) to trust; `None`: the system's roots.
    pub ca_pem: Option<Vec<u8>>,
    /// A client certificate and key, for a node following a peer (mutual TLS).
    pub identity: Option<crate::tls::Identity>,
    /// Where `ca_pem` was read from, to name it when the node's certificate is not from it.
    pub ca_path: Option<std::path::PathBuf>,
}

impl ClientTls {
    /// Trusting the CA certificate in `ca` (PEM), or the system's roots when `None`.
    pub fn trusting(ca: Option<&std::path::Path>) -> std::io::Result<ClientTls> {
        Ok(ClientTls {
            ca_pem: ca.map(std::fs::read).transpose()?,
            identity: None,
            ca_path: ca.map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())),
        })
    }
}

/// A connection to one node.
#[derive(Debug, Clone)]
pub struct Client {
    inner: RelayClient<Named>,
    /// The operator service on the same connection (answered on the node's machine only).
    operator: OperatorClient<Named>,
    url: String,
}

fn bad(e: impl std::fmt::Display) -> ClientError {
    ClientError::BadReply(e.to_string())
}

fn opt_signed(m: Option<proto::SignedMessage>) -> Result<Option<SignedMessage>, ClientError> {
    m.map(signed_from_proto).transpose().map_err(bad)
}

impl Client {
    /// Connects to a node by URL, plaintext (http://, loopback) or with the system's roots
    /// (https://).
    pub async fn connect(url: &str) -> Result<Client, ClientError> {
        Client::connect_with(url, &ClientTls::default()).await
    }

    /// Connects with explicit TLS settings (used for https:// URLs).
    pub async fn connect_with(url: &str, tls: &ClientTls) -> Result<Client, ClientError> {
        Client::connect_from(url, tls, None).await
    }

    /// Connects from a given local address (a multi-homed machine; tests that stand for
    /// several clients on loopback), or the one the system picks when `None`.
    pub async fn connect_from(
        url: &str,
        tls: &ClientTls,
        from: Option<std::net::IpAddr>,
    ) -> Result<Client, ClientError> {
        let connect_err = |detail: String| ClientError::Connect {
            url: url.to_string(),
            detail,
        };
        let target = Target::parse(url).map_err(connect_err)?;
        // The connector does TCP and TLS itself and watches both (`connect.rs`); the endpoint
        // says http:// so that tonic adds no TLS of its own.
        let endpoint = Endpoint::from_shared(target.endpoint_url())
            .map_err(|e| connect_err(format!("not a URL: {e}")))?
            .connect_timeout(Duration::from_secs(5))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10));
        let wants_tls = target.tls;
        let seen = Arc::new(Seen::new(url, target, tls));
        let config = if wants_tls {
            Some(client_config(tls, &seen).map_err(|e| connect_err(format!("TLS settings: {e}")))?)
        } else {
            None
        };
        let connector = Connector::new(Arc::clone(&seen), config, from).map_err(connect_err)?;
        let channel = match endpoint.connect_with_connector(connector).await {
            Ok(channel) => channel,
            Err(e) => {
                return Err(connect_err(
                    seen.failure().unwrap_or_else(|| source_chain(&e)),
                ));
            }
        };
        let channel = Named::new(channel, seen);
        let limit = crate::message::limits::MAX_BODY_BYTES * 2;
        Ok(Client {
            operator: OperatorClient::new(channel.clone()),
            inner: RelayClient::new(channel)
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit),
            url: url.to_string(),
        })
    }

    /// The URL this client talks to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Asks the node (on this machine) for a backup of its data directory into `dir`, a
    /// directory on the node's machine that does not exist yet or is empty.
    pub async fn backup(
        &mut self,
        dir: &std::path::Path,
    ) -> Result<crate::node::Backup, ClientError> {
        let request = proto::BackupRequest {
            dir: dir.display().to_string(),
        };
        let reply = self.operator.backup(request).await?.into_inner();
        Ok(super::convert::backup_from_proto(reply))
    }

    /// Asks the node (on this machine) to reconcile now with `with`: the other node's name (or
    /// URL), its key, and the reconciliation's counts.
    pub async fn sync(
        &mut self,
        with: &crate::federation::SyncWith,
    ) -> Result<crate::federation::Synced, ClientError> {
        use crate::federation::SyncWith;
        let request = match with {
            SyncWith::Peer(name) => proto::SyncRequest {
                peer: name.clone(),
                ..Default::default()
            },
            SyncWith::Url { url, ca } => proto::SyncRequest {
                url: url.clone(),
                ca: ca
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                ..Default::default()
            },
        };
        let reply = self.operator.sync(request).await?.into_inner();
        Ok(crate::federation::Synced {
            name: reply.peer,
            node_key: AuthorKey::from_slice(&reply.peer_node_key).map_err(bad)?,
            status: reconcile_status_from_proto(
                reply
                    .status
                    .ok_or_else(|| bad("a sync report without a status"))?,
            ),
        })
    }

    /// Asks the node (on this machine) for an invitation to peer with it: `name` it will give
    /// the joiner (empty: the joiner's own), good for `valid_seconds` (0: a day), naming
    /// `address` (empty: the node's own public URL).
    pub async fn invite(
        &mut self,
        name: &str,
        valid_seconds: u64,
        address: &str,
    ) -> Result<proto::InviteReply, ClientError> {
        let request = proto::InviteRequest {
            name: name.to_string(),
            valid_seconds,
            address: address.to_string(),
        };
        Ok(self.operator.invite(request).await?.into_inner())
    }

    /// Asks the node (on this machine) to join another with the invitation `line`.
    pub async fn join(
        &mut self,
        line: &str,
        name: &str,
        address: &str,
    ) -> Result<proto::JoinReply, ClientError> {
        let request = proto::JoinRequest {
            line: line.to_string(),
            name: name.to_string(),
            address: address.to_string(),
        };
        Ok(self.operator.join(request).await?.into_inner())
    }

    /// Publishes one message.
    pub async fn publish(&mut self, m: &SignedMessage) -> Result<PublishOutcome, ClientError> {
        let reply = self.inner.publish(m.to_proto()).await?.into_inner();
        reply_outcome(reply)
    }

    /// Publishes a stream of messages; the answers come back in order.
    pub async fn publish_stream(
        &mut self,
        messages: impl Stream<Item = SignedMessage> + Send + 'static,
    ) -> Result<impl Stream<Item = Result<PublishOutcome, ClientError>>, ClientError> {
        self.publish_messages(messages, false).await
    }

    /// [`Client::publish_stream`] for messages carried from another node (`tocsin import`):
    /// marked with [`IMPORT_HEADER`], so a node whose operator runs it on the node's own machine
    /// takes them as relayed rather than newly published (a message by a key with a recovery
    /// commitment may then be older than 10 minutes: see `store/rules/keys.rs`, `backdated`).
    /// Elsewhere the mark is ignored.
    pub async fn import_stream(
        &mut self,
        messages: impl Stream<Item = SignedMessage> + Send + 'static,
    ) -> Result<impl Stream<Item = Result<PublishOutcome, ClientError>>, ClientError> {
        self.publish_messages(messages, true).await
    }

    /// The publish stream, marked with [`IMPORT_HEADER`] when `imported`.
    async fn publish_messages(
        &mut self,
        messages: impl Stream<Item = SignedMessage> + Send + 'static,
        imported: bool,
    ) -> Result<impl Stream<Item = Result<PublishOutcome, ClientError>>, ClientError> {
        let mut request = tonic::Request::new(messages.map(|m| m.to_proto()));
        if imported {
            request.metadata_mut().insert(
                IMPORT_HEADER,
                tonic::metadata::MetadataValue::from_static("1"),
            );
        }
        let replies = self.inner.publish_stream(request).await?.into_inner();
        Ok(replies.map(|r| reply_outcome(r?)))
    }

    /// Follows the node's log from `since`. `peer` is set by a node following for federation.
    pub async fn subscribe(
        &mut self,
        filter: &Filter,
        since: u64,
        peer: Option<AuthorKey>,
    ) -> Result<
        impl Stream<Item = Result<ClientEvent, ClientError>> + Send + 'static + use<>,
        ClientError,
    > {
        Ok(self.subscribe_log(filter, since, peer).await?.1)
    }

    /// [`Client::subscribe`], with the log the seqs belong to, from the response's
    /// `tocsin-log-id` header (`None` from a node too old to say).
    pub async fn subscribe_log(
        &mut self,
        filter: &Filter,
        since: u64,
        peer: Option<AuthorKey>,
    ) -> Result<
        (
            Option<LogId>,
            impl Stream<Item = Result<ClientEvent, ClientError>> + Send + 'static + use<>,
        ),
        ClientError,
    > {
        let req = proto::SubscribeRequest {
            filter: Some(filter_to_proto(filter)),
            since,
            peer_node_key: peer.map(|k| k.as_bytes().to_vec()).unwrap_or_default(),
        };
        let response = self.inner.subscribe(req).await?;
        let log_id = log_id_from_headers(response.metadata());
        let events = response.into_inner();
        let events = events.map(|e| {
            use proto::subscribe_event::Event;
            match e?.event {
                Some(Event::Delivery(d)) => {
                    let message = d
                        .message
                        .ok_or_else(|| bad("a delivery without a message"))
                        .and_then(|m| signed_from_proto(m).map_err(bad))?;
                    Ok(ClientEvent::Delivery {
                        seq: d.seq,
                        message,
                    })
                }
                Some(Event::CaughtUp(c)) => Ok(ClientEvent::CaughtUp(c.seq)),
                None => Err(bad("an empty event")),
            }
        });
        Ok((log_id, events))
    }

    /// A message and its state; `None` if the node does not have it.
    pub async fn get(&mut self, id: Id) -> Result<Option<GetState>, ClientError> {
        let reply = match self
            .inner
            .get(proto::GetRequest { id: id.0.to_vec() })
            .await
        {
            Ok(r) => r.into_inner(),
            Err(s) if s.code() == Code::NotFound => return Ok(None),
            Err(s) => return Err(s.into()),
        };
        Ok(Some(GetState {
            message: opt_signed(reply.message)?,
            seq: reply.seq,
            current: opt_signed(reply.current)?,
            updates: reply
                .updates
                .iter()
                .map(|u| Id::from_slice(u).ok_or_else(|| bad("an update id is not 32 bytes")))
                .collect::<Result<_, _>>()?,
            cancelled: reply.cancelled,
            cancel_reason: reply.cancel_reason,
            endorsers: reply
                .endorsers
                .into_iter()
                .map(|e| {
                    Ok((
                        AuthorKey::from_slice(&e.author).map_err(bad)?,
                        e.statement,
                        Timestamp(e.created_at),
                    ))
                })
                .collect::<Result<_, ClientError>>()?,
            translations: reply
                .translations
                .into_iter()
                .map(|m| signed_from_proto(m).map_err(bad))
                .collect::<Result<_, _>>()?,
            tally: match reply.tally {
                None => Tally::default(),
                Some(t) => super::convert::tally_from_proto(t).map_err(bad)?,
            },
            withheld: reply.withheld.then_some(reply.withheld_reason),
        }))
    }

    /// What the node knows of a key: its recovery commitment, conflicting commitments, where it
    /// ends and who carries on, and which key it carries on for.
    pub async fn key_state(&mut self, key: &AuthorKey) -> Result<KeyState, ClientError> {
        let request = proto::GetKeyRequest {
            key: key.as_bytes().to_vec(),
        };
        let reply = self.inner.get_key(request).await?.into_inner();
        super::convert::key_state_from_proto(reply).map_err(bad)
    }

    /// Opens a reconciliation session with the initiator's first negentropy message, in frames
    /// of [`NEGENTROPY_FRAME_LIMIT`](super::NEGENTROPY_FRAME_LIMIT) bytes; the session and the
    /// node's answer. `peer`: this node's key, when it follows the node as a peer (with a client
    /// certificate the node trusts, it reconciles the peer view).
    pub async fn reconcile(
        &mut self,
        first: Vec<u8>,
        peer: Option<AuthorKey>,
    ) -> Result<(ReconcileSession, Vec<u8>), ClientError> {
        let mut session = self.reconcile_session().await?;
        let answer = session.open(first, peer, 0).await?;
        Ok((session, answer))
    }

    /// Starts a reconciliation session without opening it, so that the initiator can make its
    /// negentropy state with the frame both sides take
    /// ([`ReconcileSession::node_frame_limit`]) before [`ReconcileSession::open`].
    pub async fn reconcile_session(&mut self) -> Result<ReconcileSession, ClientError> {
        let (requests, outgoing) = tokio::sync::mpsc::unbounded_channel();
        let response = self
            .inner
            .reconcile(tokio_stream::wrappers::UnboundedReceiverStream::new(
                outgoing,
            ))
            .await?;
        // A node too old to say takes one gRPC message's frame.
        let node_frame_limit = response
            .metadata()
            .get(super::reconcile::FRAME_LIMIT_HEADER)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(super::NEGENTROPY_FRAME_LIMIT);
        Ok(ReconcileSession {
            requests,
            replies: response.into_inner(),
            node_frame_limit,
            frame: super::NEGENTROPY_FRAME_LIMIT,
        })
    }

    /// Every item (created_at, id) the node lets this caller see, in (created_at, id) order,
    /// and the head it listed them at. `peer` as in [`Client::reconcile`].
    pub async fn items(
        &mut self,
        peer: Option<AuthorKey>,
    ) -> Result<(Vec<(u64, Id)>, u64), ClientError> {
        let listing = self.items_listing(peer).await?;
        Ok((listing.items, listing.head))
    }

    /// [`Client::items`] with the log they were listed from.
    pub async fn items_listing(
        &mut self,
        peer: Option<AuthorKey>,
    ) -> Result<ItemsListing, ClientError> {
        let request = proto::ItemsRequest {
            peer_node_key: peer.map(|k| k.as_bytes().to_vec()).unwrap_or_default(),
        };
        let mut chunks = self.inner.items(request).await?.into_inner();
        let mut listing = ItemsListing {
            items: Vec::new(),
            head: 0,
            log_id: None,
        };
        while let Some(chunk) = chunks.message().await? {
            listing.head = chunk.head_seq;
            if !chunk.log_id.is_empty() {
                listing.log_id = Some(
                    LogId::from_slice(&chunk.log_id)
                        .ok_or_else(|| bad("a log id is not 16 bytes"))?,
                );
            }
            if chunk.items.len() % crate::store::ITEM_BYTES != 0 {
                return Err(bad("an items chunk is not whole items"));
            }
            for item in chunk.items.chunks_exact(crate::store::ITEM_BYTES) {
                let (at, id) = item.split_at(8);
                let at = u64::from_be_bytes(at.try_into().map_err(bad)?);
                listing
                    .items
                    .push((at, Id::from_slice(id).ok_or_else(|| bad("an item's id"))?));
            }
        }
        Ok(listing)
    }

    /// The node's identity and counters.
    pub async fn info(&mut self) -> Result<NodeInfo, ClientError> {
        self.info_for(None).await
    }

    /// [`Client::info`] asked by a node following this one for federation (`peer`: its key),
    /// so that it is shown the head of the seqs its subscription is sent.
    pub async fn info_for(&mut self, peer: Option<AuthorKey>) -> Result<NodeInfo, ClientError> {
        let request = proto::NodeInfoRequest {
            peer_node_key: peer.map(|k| k.as_bytes().to_vec()).unwrap_or_default(),
        };
        let r = self.inner.node_info(request).await?.into_inner();
        let log_id = |raw: &[u8]| -> Result<Option<LogId>, ClientError> {
            if raw.is_empty() {
                return Ok(None);
            }
            LogId::from_slice(raw)
                .map(Some)
                .ok_or_else(|| bad("a log id is not 16 bytes"))
        };
        Ok(NodeInfo {
            node_key: AuthorKey::from_slice(&r.node_key).map_err(bad)?,
            version: r.version,
            head_seq: r.head_seq,
            messages: r.messages,
            uptime: Duration::from_secs(r.uptime_seconds),
            subscribers: r.subscribers,
            peers: r
                .peers
                .into_iter()
                .map(|p| {
                    Ok(PeerStatus {
                        name: p.name,
                        address: p.address,
                        connected: p.connected,
                        cursor: p.cursor,
                        head: p.head,
                        last_error: p.last_error,
                        received: p.received,
                        // Not on the wire: the name is what a client knows a peer by.
                        key: String::new(),
                        retry_pending: p.retry_pending,
                        log_id: log_id(&p.log_id)?,
                        log_changes: p.log_changes,
                        last_reconcile: p.last_reconcile.map(reconcile_status_from_proto),
                        // Summed for this node's own metrics only.
                        reconciled: Default::default(),
                        embargo_early: p.embargo_early,
                    })
                })
                .collect::<Result<_, ClientError>>()?,
            store_problem: r.store_problem,
            retry_pending: r.retry_pending,
            log_id: log_id(&r.log_id)?,
            opened_head: r.opened_head,
            opening_id: r.opening_id,
            embargo_early: r.embargo_early,
            refused_handshakes: r
                .refused_handshakes
                .into_iter()
                // Text from the wire, shown on a terminal: one line of visible characters.
                .map(|h| crate::node::metrics::HandshakeRefusals {
                    cause: printable(&h.cause, NAME_CAP),
                    count: h.count,
                    last_detail: printable(&h.last_detail, DETAIL_CAP),
                })
                .collect(),
        })
    }
}

/// What a node listed of its items (`Relay.Items`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemsListing {
    /// (created_at in Unix milliseconds, id), in that order.
    pub items: Vec<(u64, Id)>,
    /// The node's durable head when it listed them.
    pub head: u64,
    /// The log the head belongs to; `None` from a node too old to say.
    pub log_id: Option<LogId>,
}

/// A reconciliation session open on a node (`Relay.Reconcile`). The node answers requests in
/// the order they were sent, so a caller may send several (`ask_*`) and then read their answers
/// in the same order (`*_answer`, `fetched_chunk`); the plain calls send one request and read
/// its answer. Sending never waits for the node (what is sent is queued for the stream), so a
/// caller that asks ahead cannot block the node's answers it has yet to read.
#[derive(Debug)]
pub struct ReconcileSession {
    requests: tokio::sync::mpsc::UnboundedSender<proto::ReconcileRequest>,
    replies: tonic::Streaming<proto::ReconcileReply>,
    /// The largest negentropy message the node takes, as its response header says.
    node_frame_limit: u64,
    /// The frame agreed at `open`.
    frame: u64,
}

/// One reply to a `want`: messages found, ids not served, and whether it is the last.
#[derive(Debug, Default)]
pub struct FetchedChunk {
    /// The messages found, as the caller may see them.
    pub messages: Vec<SignedMessage>,
    /// Ids asked for that the node does not serve to this caller.
    pub missing: Vec<Id>,
    /// The last reply to its `want`.
    pub done: bool,
}

impl ReconcileSession {
    fn ask(&mut self, step: RequestStep) -> Result<(), ClientError> {
        self.requests
            .send(proto::ReconcileRequest { step: Some(step) })
            .map_err(|_| bad("the node ended the reconciliation"))
    }

    async fn answer(&mut self) -> Result<ReplyStep, ClientError> {
        match self.replies.message().await? {
            Some(proto::ReconcileReply { step: Some(step) }) => Ok(step),
            Some(_) => Err(bad("a reconcile reply with no step")),
            None => Err(bad("the node ended the reconciliation")),
        }
    }

    /// The largest negentropy message the node takes (its `tocsin-reconcile-frame-limit`
    /// header; one gRPC message's frame for a node that does not say).
    pub fn node_frame_limit(&self) -> u64 {
        self.node_frame_limit
    }

    /// Opens the session with the initiator's first negentropy message, asking for frames of
    /// up to `frame_limit` bytes (0: one gRPC message's); the node's answer. Both sides then use
    /// [`agreed_frame`](super::reconcile::agreed_frame) of it and the node's limit: the
    /// initiator's negentropy state must have been made with that frame.
    pub async fn open(
        &mut self,
        first: Vec<u8>,
        peer: Option<AuthorKey>,
        frame_limit: u64,
    ) -> Result<Vec<u8>, ClientError> {
        self.frame = super::reconcile::agreed_frame(frame_limit, self.node_frame_limit);
        let open = proto::ReconcileOpen {
            negentropy: first,
            peer_node_key: peer.map(|k| k.as_bytes().to_vec()).unwrap_or_default(),
            frame_limit,
        };
        self.ask(RequestStep::Open(open))?;
        self.negentropy_answer().await
    }

    /// Sends the next negentropy message; the node's answer.
    pub async fn negentropy(&mut self, message: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        self.ask_negentropy(message)?;
        self.negentropy_answer().await
    }

    /// Sends the next negentropy message without waiting: its answer is read by
    /// [`ReconcileSession::negentropy_answer`], after the answers to what was sent before it.
    pub fn ask_negentropy(&mut self, message: Vec<u8>) -> Result<(), ClientError> {
        for (bytes, last) in super::reconcile::wire_parts(message) {
            self.ask(if last {
                RequestStep::Negentropy(bytes)
            } else {
                RequestStep::NegentropyPart(bytes)
            })?;
        }
        Ok(())
    }

    /// The node's answer to a negentropy message (its parts put together), when it is the
    /// next reply.
    pub async fn negentropy_answer(&mut self) -> Result<Vec<u8>, ClientError> {
        let mut answer = super::reconcile::Parts::default();
        loop {
            let (part, last) = match self.answer().await? {
                ReplyStep::NegentropyPart(part) => (part, false),
                ReplyStep::Negentropy(part) => (part, true),
                _ => return Err(bad("a reconcile reply out of order")),
            };
            answer.add(part, self.frame).map_err(|_| {
                bad(format!(
                    "a negentropy answer above the frame agreed ({} bytes)",
                    self.frame
                ))
            })?;
            if last {
                return Ok(answer.take());
            }
        }
    }

    /// Asks for messages by id (at most [`RECONCILE_BATCH`](super::RECONCILE_BATCH)): those
    /// the node serves to this caller, and the ids it does not.
    pub async fn want(&mut self, ids: &[Id]) -> Result<(Vec<SignedMessage>, Vec<Id>), ClientError> {
        self.ask_want(ids)?;
        let (mut messages, mut missing) = (Vec::new(), Vec::new());
        loop {
            let chunk = self.fetched_chunk().await?;
            messages.extend(chunk.messages);
            missing.extend(chunk.missing);
            if chunk.done {
                return Ok((messages, missing));
            }
        }
    }

    /// Asks for messages by id without waiting: the answer is one [`FetchedChunk`] or more,
    /// the last `done`, read by [`ReconcileSession::fetched_chunk`] after the answers to what was
    /// sent before.
    pub fn ask_want(&mut self, ids: &[Id]) -> Result<(), ClientError> {
        let ids = ids.iter().map(|id| id.0.to_vec()).collect();
        self.ask(RequestStep::Want(proto::IdList { ids }))
    }

    /// The next reply to a `want`, when it is the next reply.
    pub async fn fetched_chunk(&mut self) -> Result<FetchedChunk, ClientError> {
        let ReplyStep::Fetched(chunk) = self.answer().await? else {
            return Err(bad("a reconcile reply out of order"));
        };
        Ok(FetchedChunk {
            messages: chunk
                .messages
                .into_iter()
                .map(|m| signed_from_proto(m).map_err(bad))
                .collect::<Result<_, _>>()?,
            missing: chunk
                .missing
                .iter()
                .map(|id| Id::from_slice(id).ok_or_else(|| bad("an id is not 32 bytes")))
                .collect::<Result<_, _>>()?,
            done: chunk.done,
        })
    }

    /// Offers messages the node lacks (at most [`RECONCILE_BATCH`](super::RECONCILE_BATCH));
    /// its answer to each, in order.
    pub async fn offer(
        &mut self,
        messages: &[SignedMessage],
    ) -> Result<Vec<PublishOutcome>, ClientError> {
        let messages = messages.iter().map(SignedMessage::to_proto).collect();
        self.ask(RequestStep::Offer(proto::MessageList { messages }))?;
        match self.answer().await? {
            ReplyStep::Offered(offered) => offered.replies.into_iter().map(reply_outcome).collect(),
            _ => Err(bad("a reconcile reply out of order")),
        }
    }
}

fn reply_outcome(r: proto::PublishReply) -> Result<PublishOutcome, ClientError> {
    let status = proto::PublishStatus::try_from(r.status).map_err(bad)?;
    if status == proto::PublishStatus::Refused {
        let reason = crate::message::Reason::from_code(&r.reason)
            .ok_or_else(|| bad(format!("unknown reason code {:?}", r.reason)))?;
        return Ok(PublishOutcome::Refused(Rejection::new(reason, r.detail)));
    }
    let id = Id::from_slice(&r.id).ok_or_else(|| bad("the id is not 32 bytes"))?;
    match status {
        proto::PublishStatus::Accepted => Ok(PublishOutcome::Accepted { id, seq: r.seq }),
        proto::PublishStatus::Duplicate => Ok(PublishOutcome::Duplicate { id, seq: r.seq }),
        _ => Err(bad("a publish reply without a status")),
    }
}

/// The error and its causes on one line: transport errors hide the useful part in a source.
fn source_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
