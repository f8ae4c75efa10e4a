//! The retry task: offers the messages kept in the retry set (refusals that can change, see
//! `node/keep.rs` and `store/retry.rs`) to the node's own ingest again when they come due by
//! the node's clock, and at once for `not-admitted` ones when a roster arrives.
//!
//! A try goes through [`Node::publish_many`] as the peer's message (so it is not sent back
//! there) with cursor 0 (so it moves no cursor). Then the entry is removed when the message is
//! stored or already here, or refused for good, and rescheduled when it is refused again for a
//! reason that may change: after `federation.retry_min`, doubling up to `retry_max`, never
//! past its expiry. It is given up when it expires, and counted. A try that finds the node busy
//! or failing leaves the entry as it is for the next pass.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::message::{Id, Outlook, Reason, Timestamp};
use crate::node::{Node, NodeError};
use crate::store::{Origin, Pending, RetryChange};

/// How often due entries are looked for (the node's clock decides what is due).
const TICK: Duration = Duration::from_secs(1);

/// Entries tried together: they share one durable flush.
const BATCH: usize = 256;

/// At most this many batches of due entries in one pass, so a long backlog does not keep the
/// task from noticing shutdown or a roster.
const PASS_MAX: usize = 64;

/// How often refusals not kept (over a bound) are logged, at most.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Runs until shutdown.
pub(super) async fn run(node: Node) {
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut not_kept = NotKept::default();
    // At start the allow list or the trusted federations may have changed: every
    // `not-admitted` entry is tried at once.
    let mut sweep = true;
    loop {
        match pass(&node, sweep).await {
            Ok(()) | Err(NodeError::ShuttingDown) => {}
            Err(e) => warn!(error = %e, "retrying kept messages failed; trying again later"),
        }
        sweep = false;
        not_kept.report(&node).await;
        tokio::select! {
            _ = ticker.tick() => {}
            _ = node.knowledge_change() => sweep = true,
            _ = node.stopped() => return,
        }
    }
}

/// One pass: with `sweep`, every `not-admitted` entry whatever its time; then what is due.
async fn pass(node: &Node, sweep: bool) -> Result<(), NodeError> {
    let reads = node.reads();
    if sweep {
        let mut after = None;
        loop {
            let page = reads
                .run(move |store| store.retry_scan(after, BATCH))
                .await?;
            let n = page.len();
            after = page.last().map(pending_id);
            let chosen = page
                .into_iter()
                .filter(|p| match p {
                    Pending::Entry(e) => e.reason == Reason::NotAdmitted,
                    Pending::Damaged(_) => true,
                })
                .collect();
            offer(node, chosen).await?;
            if n < BATCH {
                break;
            }
        }
    }
    for _ in 0..PASS_MAX {
        let now = node.now();
        let due = reads.run(move |store| store.retry_due(now, BATCH)).await?;
        let n = due.len();
        if n == 0 {
            break;
        }
        offer(node, due).await?;
        if n < BATCH {
            break;
        }
    }
    Ok(())
}

fn pending_id(p: &Pending) -> Id {
    match p {
        Pending::Entry(e) => e.message.id(),
        Pending::Damaged(id) => *id,
    }
}

/// Offers entries to the ingest pipeline and records what became of each.
async fn offer(node: &Node, pending: Vec<Pending>) -> Result<(), NodeError> {
    if pending.is_empty() {
        return Ok(());
    }
    let m = &node.metrics().retry;
    let now = node.now();
    let fed = &node.config().federation;
    let mut changes = Vec::new();
    let mut offered = Vec::new();
    let mut batch = Vec::new();
    let mut expired = 0u64;
    for p in pending {
        match p {
            Pending::Damaged(id) => {
                warn!(id = %id, "an entry of the retry set is unreadable; dropped");
                changes.push(RetryChange::Remove(id));
            }
            Pending::Entry(e) if e.expires_at <= now => {
                debug!(id = %e.message.id().short(), reason = %e.reason, "expired while kept for retry; given up");
                expired += 1;
                changes.push(RetryChange::Remove(e.message.id()));
            }
            Pending::Entry(e) => {
                offered.push((e.message.id(), e.attempts, e.expires_at));
                batch.push((
                    e.message,
                    Origin::Peer {
                        peer: e.peer,
                        cursor: 0,
                    },
                ));
            }
        }
    }
    if expired > 0 {
        m.given_up.fetch_add(expired, Relaxed);
        info!(
            given_up = expired,
            "messages kept for retry expired before this node could accept them"
        );
    }
    m.attempts.fetch_add(batch.len() as u64, Relaxed);
    let outcomes = if batch.is_empty() {
        Vec::new()
    } else {
        node.publish_many(batch).await
    };
    let mut failed = None;
    let (mut stored, mut refused) = (0u64, 0u64);
    for ((id, attempts, expires_at), outcome) in offered.into_iter().zip(outcomes) {
        match outcome {
            Ok(_) => {
                stored += 1;
                changes.push(RetryChange::Remove(id));
            }
            Err(NodeError::Refused(r)) => match r.reason.outlook() {
                Outlook::MayChange => changes.push(RetryChange::Reschedule {
                    id,
                    reason: r.reason,
                    not_before: next_try(now, attempts, expires_at, fed.retry_min, fed.retry_max),
                }),
                Outlook::Final => {
                    debug!(id = %id.short(), refusal = %r, "a kept message is refused for good");
                    refused += 1;
                    changes.push(RetryChange::Remove(id));
                }
                // Left as it is: the node is busy; the next pass offers it again.
                Outlook::Transient => failed = Some(NodeError::Refused(r)),
            },
            // Left as it is (the store failed, or the node is stopping).
            Err(e) => failed = Some(e),
        }
    }
    m.stored.fetch_add(stored, Relaxed);
    m.refused.fetch_add(refused, Relaxed);
    if stored > 0 {
        info!(stored, "messages kept for retry are accepted now");
    }
    node.store().retry_settle(changes).await?;
    match failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// When an entry refused again is tried next: `min` after this try the first time, doubling
/// with each try up to `max`, and never after its expiry (when it is given up).
pub(super) fn next_try(
    now: Timestamp,
    attempts: u32,
    expires_at: Timestamp,
    min: Duration,
    max: Duration,
) -> Timestamp {
    let wait = min
        .saturating_mul(1u32.checked_shl(attempts.min(20)).unwrap_or(u32::MAX))
        .min(max);
    now.plus(wait).min(expires_at)
}

/// Logs refusals that a bound turned away, at most once per [`LOG_EVERY`]: a peer sending many
/// must not flood the log, and none may go unsaid.
#[derive(Debug, Default)]
struct NotKept {
    /// When it last logged, and the totals it had said by then.
    last: Option<Instant>,
    said: (u64, u64, u64),
}

impl NotKept {
    async fn report(&mut self, node: &Node) {
        if self.last.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            return;
        }
        let Ok(c) = node.reads().run(|store| store.retry_counts()).await else {
            return;
        };
        let horizon = node.metrics().retry.snapshot().beyond_horizon;
        let now = (c.over_entries, c.over_peer, horizon);
        if now == self.said {
            return;
        }
        let fed = &node.config().federation;
        warn!(
            retry_set_full = now.0 - self.said.0,
            peer_share_full = now.1 - self.said.1,
            too_far_ahead = now.2 - self.said.2,
            retry_limit = fed.retry_limit,
            retry_limit_per_peer = fed.retry_limit_per_peer,
            retry_future_max = %humantime::format_duration(fed.retry_future_max),
            "messages from peers refused from-future or not-admitted were not kept for retry: a bound of the retry set was reached (federation.retry_*); they are lost unless a peer offers them again"
        );
        self.said = now;
        self.last = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_back_off_doubling_capped_and_stop_at_expiry() {
        let min = Duration::from_secs(15);
        let max = Duration::from_secs(3600);
        let now = Timestamp(1_000_000);
        let far = Timestamp(u64::MAX);
        assert_eq!(next_try(now, 0, far, min, max), Timestamp(1_015_000));
        assert_eq!(next_try(now, 1, far, min, max), Timestamp(1_030_000));
        assert_eq!(next_try(now, 3, far, min, max), Timestamp(1_120_000));
        assert_eq!(next_try(now, 30, far, min, max), now.plus(max));
        let soon = Timestamp(1_005_000);
        assert_eq!(next_try(now, 0, soon, min, max), soon);
    }
}
