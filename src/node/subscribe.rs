//! Subscriptions: backfill from a cursor, a caught-up marker, then live, all read from the store.
//!
//! Each subscription is a task that reads the store from its own cursor and sends into a
//! bounded queue. When the queue is full the task waits; the store keeps everything, so
//! nothing is skipped and ingest never waits for a reader. New entries are noticed through the
//! store's durable-head watch, so a subscriber never sees an entry that is not yet on disk.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::{Node, NodeError};
use crate::message::{AuthorKey, Filter};
use crate::store::{Entry, View};

/// Entries read from the store per batch.
const READ_BATCH: usize = 256;

/// What a subscriber asks for.
#[derive(Debug, Clone, Default)]
pub struct SubscribeSpec {
    /// Which messages.
    pub filter: Filter,
    /// Deliver entries with seq > since.
    pub since: u64,
    /// Set when the subscriber is a peer node following for federation: it gets nothing
    /// that came from itself.
    pub peer: Option<AuthorKey>,
    /// Whether the peer proved who it is (a client certificate from a CA this node trusts,
    /// or a plaintext node on loopback, where the operator trusts the machine). Only then
    /// does it get embargoed messages before their time.
    pub authenticated: bool,
}

/// One item of a subscription.
#[derive(Debug, Clone)]
pub enum SubEvent {
    /// A stored message at its seq.
    Delivery(Entry),
    /// Everything stored up to this seq has been sent; what follows is live.
    CaughtUp(u64),
    /// The node is shutting down; resume from this seq elsewhere or later.
    Closing(u64),
}

/// The receiving end of a subscription. Dropping it ends the subscription's task.
pub type Subscription = mpsc::Receiver<Result<SubEvent, NodeError>>;

pub(super) fn open(node: &Node, spec: SubscribeSpec) -> Result<Subscription, NodeError> {
    if node.is_shutting_down() {
        return Err(NodeError::ShuttingDown);
    }
    let permit = Arc::clone(&node.inner.subscriber_slots)
        .try_acquire_owned()
        .map_err(|_| NodeError::TooManySubscribers(node.config().limits.max_subscribers))?;
    let (tx, rx) = mpsc::channel(node.config().limits.subscriber_queue);
    let task_node = node.clone();
    node.metrics().subscriber_opened();
    node.spawn(async move {
        run(&task_node, spec, tx, permit).await;
        task_node.metrics().subscriber_closed();
    });
    Ok(rx)
}

async fn run(
    node: &Node,
    spec: SubscribeSpec,
    tx: mpsc::Sender<Result<SubEvent, NodeError>>,
    _permit: OwnedSemaphorePermit,
) {
    let store = node.store().clone();
    let view = match (spec.peer, spec.authenticated) {
        (Some(peer), true) => View::Peer {
            exclude_origin: Some(peer.to_hex()),
        },
        (Some(peer), false) => View::UnauthenticatedPeer {
            exclude_origin: peer.to_hex(),
        },
        (None, _) => View::Reader,
    };
    let mut head_rx = store.watch_head();
    let mut cursor = spec.since;
    let mut announced = false;
    // The cursor as told to the subscriber (caught up, closing). A peer is told where its
    // scan got to; anyone else no further than the readers' head, so the seq of an arrival
    // under embargo (which it skipped) is not given away. Resuming from there only scans
    // those entries again: their releases come later, under new seqs.
    let readers = !matches!(view, View::Peer { .. });
    let tell = |cursor: u64| -> u64 {
        if !readers {
            return cursor;
        }
        match store.reader_head() {
            Ok(visible) => cursor.min(visible).max(spec.since),
            Err(_) => spec.since,
        }
    };
    let mut told = 0;
    loop {
        let head = *head_rx.borrow_and_update();
        let round_start = cursor;
        let mut delivered = false;
        // Drain everything up to the head we saw.
        while cursor < head {
            let before = cursor;
            let (entries, scanned_to) = match store.read(cursor, &spec.filter, &view, READ_BATCH) {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            };
            for entry in entries {
                let seq = entry.seq;
                tokio::select! {
                    sent = tx.send(Ok(SubEvent::Delivery(entry))) => {
                        if sent.is_err() {
                            return; // the subscriber went away
                        }
                    }
                    _ = node.stopped() => {
                        let _ = tx.try_send(Ok(SubEvent::Closing(tell(cursor))));
                        return;
                    }
                }
                cursor = seq;
                delivered = true;
            }
            cursor = cursor.max(scanned_to);
            if cursor == before {
                // The store made no progress below the head it announced; wait for more.
                break;
            }
        }
        if !announced {
            announced = true;
            told = tell(cursor);
            if tx.send(Ok(SubEvent::CaughtUp(told))).await.is_err() {
                return;
            }
        } else if spec.peer.is_some() && !delivered && cursor > round_start && tell(cursor) > told {
            // A peer's follower keeps a durable cursor: tell it when the log moved past
            // entries it does not get (its own, echoed back), so its cursor follows.
            told = tell(cursor);
            if tx.send(Ok(SubEvent::CaughtUp(told))).await.is_err() {
                return;
            }
        }
        tokio::select! {
            changed = head_rx.changed() => {
                if changed.is_err() {
                    return; // the store closed
                }
            }
            _ = node.stopped() => {
                let _ = tx.try_send(Ok(SubEvent::Closing(tell(cursor))));
                return;
            }
            _ = tx.closed() => return,
        }
    }
}
