//! Refetch: messages the store cannot serve (a body found damaged on read, or a message
//! `tocsin node check --repair` dropped) are asked of the node's peers by id, checked as any
//! message off the wire is (SHA-256 of the body against the id asked for, strict signature),
//! and put back: a damaged body is replaced in the store ([`Store::repair`]), a dropped message
//! comes in through the node's own ingest.
//!
//! The task sleeps until the store's list of wanted messages changes. A round asks each peer
//! in turn for what is still wanted; what no peer has yet (a peer with the same damage, a
//! message still under embargo there, a peer down) is asked again after a delay that backs off
//! with jitter, like a follower's reconnects, and starts again from the shortest whenever a
//! round brings something back or the list grows.

use std::time::Duration;

use tracing::{debug, info, warn};

/// How long one peer may take to answer a round: a peer that hangs does not hold the task.
const PEER_LIMIT: Duration = Duration::from_secs(60);

use super::Backoff;
use crate::config::PeerConfig;
use crate::message::{Message, Reason, SignedMessage};
use crate::node::{Node, NodeError};
use crate::rpc::{Client, ClientTls};
use crate::store::{Origin, Repair, Seen, Store, Wanted};

/// Runs until shutdown: see the module docs.
pub(super) async fn run(node: Node) {
    let store = node.store().clone();
    let mut changed = store.watch_wanted();
    let fed = &node.config().federation;
    let mut backoff = Backoff::new(fed.reconnect_min, fed.reconnect_max);
    loop {
        changed.borrow_and_update();
        let wanted = store.wanted();
        let wait = if wanted.is_empty() {
            None
        } else {
            if round(&node, &store, &wanted).await {
                backoff.reset();
            }
            (!store.wanted().is_empty()).then(|| backoff.next_delay())
        };
        let sleep = async {
            match wait {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = sleep => {}
            r = changed.changed() => {
                if r.is_err() {
                    return;
                }
                backoff.reset();
            }
            _ = node.stopped() => return,
        }
    }
}

/// Asks every peer for what is wanted. True when something came back.
async fn round(node: &Node, store: &Store, wanted: &[Wanted]) -> bool {
    let mut progress = false;
    let mut left: Vec<Wanted> = Vec::with_capacity(wanted.len());
    // A dropped message may have come back by itself (a follower, a publisher, an import).
    for w in wanted {
        let id = w.id;
        let seen = node.reads().run(move |store| store.seen(&id)).await;
        let came_back = match (w.seq, seen) {
            (0, Ok(Some(Seen::Stored { .. }))) => Some(true),
            (0, Ok(Some(Seen::Tombstone))) => Some(false),
            _ => None,
        };
        match came_back {
            Some(fetched) => match store.settle_wanted(&w.id, fetched).await {
                Ok(()) => progress = true,
                Err(e) => debug!(error = %e, "refetch: could not settle"),
            },
            None => left.push(*w),
        }
    }
    // The peers as the last reload left them.
    for peer in &node.peering().now().peers {
        if left.is_empty() || node.is_shutting_down() {
            break;
        }
        let asked = tokio::time::timeout(PEER_LIMIT, from_peer(node, store, peer, &left)).await;
        match asked.unwrap_or_else(|_| Err("no answer in time".to_string())) {
            Ok(done) => {
                progress |= !done.is_empty();
                left.retain(|w| !done.contains(&w.id));
            }
            Err(e) => debug!(peer = %peer.name, error = %e, "refetch: peer not reachable"),
        }
    }
    progress
}

/// Asks one peer for each wanted message; returns the ids settled.
async fn from_peer(
    node: &Node,
    store: &Store,
    peer: &PeerConfig,
    wanted: &[Wanted],
) -> Result<Vec<crate::message::Id>, String> {
    let mut tls = ClientTls::trusting(peer.ca.as_deref()).map_err(|e| e.to_string())?;
    tls.identity = node.tls().map(|t| t.identity.clone());
    let mut client = Client::connect_with(&peer.address, &tls)
        .await
        .map_err(|e| e.to_string())?;
    let peer_key = client.info().await.map_err(|e| e.to_string())?.node_key;
    if peer_key == node.node_key() {
        return Ok(Vec::new());
    }
    let mut done = Vec::new();
    for w in wanted {
        let Some(signed) = client
            .get(w.id)
            .await
            .map_err(|e| e.to_string())?
            .and_then(|s| s.message)
        else {
            continue;
        };
        let Some(msg) = check(&signed, w) else {
            warn!(peer = %peer.name, id = %w.id, "refetch: the peer's copy does not check out; not used");
            continue;
        };
        let settled = if w.seq == 0 {
            let origin = Origin::Peer {
                peer: peer_key.to_hex(),
                cursor: 0,
            };
            match node.publish(signed, origin).await {
                Ok(_) => store.settle_wanted(&w.id, true).await.map(|()| true),
                // Could be accepted later (its author's roster, this node's clock): ask again.
                Err(NodeError::Refused(r))
                    if matches!(r.reason, Reason::FromFuture | Reason::NotAdmitted) =>
                {
                    Ok(false)
                }
                Err(NodeError::Refused(r)) => {
                    info!(id = %w.id, code = r.code(), "refetch: a dropped message is refused now; no longer asked for");
                    store.settle_wanted(&w.id, false).await.map(|()| true)
                }
                Err(e) => return Err(e.to_string()),
            }
        } else {
            store.repair(&msg).await.map(|r| {
                if r == Repair::Gone {
                    debug!(id = %w.id, "refetch: the message went meanwhile");
                }
                true
            })
        };
        match settled {
            Ok(true) => done.push(w.id),
            Ok(false) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(done)
}

/// The peer's copy, if it is the message wanted: its body hashes to the id asked for and its
/// signature verifies (no time rules: it may be old).
fn check(signed: &SignedMessage, w: &Wanted) -> Option<Message> {
    if signed.id() != w.id {
        return None;
    }
    Message::open_untimed(signed.clone()).ok()
}
