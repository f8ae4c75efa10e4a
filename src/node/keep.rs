//! Which refusals of a peer's log are kept for another try, and from when (federation's retry
//! set: `federation/retry.rs` tries them again, `store/retry.rs` keeps them).
//!
//! A follower's cursor moves past what the node refuses, so a refusal that can change
//! ([`Outlook::MayChange`]) is kept with the signed bytes as they came, in the same transaction
//! as the rest of its batch ([`crate::store::Store::submit_keeping`]).

use std::sync::atomic::Ordering::Relaxed;

use tracing::debug;

use super::Node;
use crate::message::{Message, Outlook, Reason, Rejection, SignedMessage, Timestamp, valid_from};
use crate::store::{Origin, RetryEntry, RetryLimits};

/// The bounds of the retry set, from the config.
pub(super) fn limits(node: &Node) -> RetryLimits {
    let f = &node.config().federation;
    RetryLimits {
        entries: f.retry_limit,
        per_peer: f.retry_limit_per_peer,
    }
}

/// Whether `origin` is an entry of a peer's log that moves the follower's cursor: the entries
/// whose refusals are kept. Cursor 0 marks messages offered again (revocations pulled first, a
/// retry), which leave the cursor where it is and so lose nothing when refused.
pub(super) fn moves_a_cursor(origin: &Origin) -> bool {
    matches!(origin, Origin::Peer { cursor, .. } if *cursor > 0)
}

impl Node {
    /// The retry entry for a message of a peer's log refused with `r`, or `None` when it is not
    /// to be kept: the refusal is final, or the message would not be accepted even when its
    /// time comes (a forged signature, say), or it is dated beyond the horizon (counted).
    pub(super) fn keep_for_retry(
        &self,
        signed: SignedMessage,
        origin: &Origin,
        r: &Rejection,
        now: Timestamp,
    ) -> Option<RetryEntry> {
        let Origin::Peer { peer, .. } = origin else {
            return None;
        };
        if r.reason.outlook() != Outlook::MayChange {
            return None;
        }
        let id = signed.id();
        let f = &self.config().federation;
        let (msg, not_before) = match r.reason {
            Reason::FromFuture => {
                // The signature is checked now (its time is not), so that only what will be
                // accepted once it is valid takes a place in the set: not a peer's forgeries.
                let msg = match Message::open_untimed(signed) {
                    Ok(m) => m,
                    Err(e) => {
                        debug!(id = %id.short(), refusal = %e, "from-future and not kept");
                        return None;
                    }
                };
                let from = valid_from(msg.body());
                if let Err(e) = crate::message::validate(msg.body(), from) {
                    debug!(id = %id.short(), refusal = %e, "from-future and not kept");
                    return None;
                }
                if from.since(now) > f.retry_future_max {
                    // Logged with the other refusals not kept, by federation's retry task.
                    self.metrics().retry.beyond_horizon.fetch_add(1, Relaxed);
                    return None;
                }
                (msg, from)
            }
            // Refused after verification: the bytes are verified already; only decoded here.
            _ => match Message::from_store(signed) {
                Ok(m) => (m, now.plus(f.retry_min)),
                Err(_) => return None,
            },
        };
        Some(RetryEntry {
            peer: peer.clone(),
            reason: r.reason,
            not_before,
            // A revocation never expires; it can be refused only from-future, which ends.
            expires_at: msg.body().expires_at.unwrap_or(Timestamp(u64::MAX)),
            kept_at: now,
            attempts: 0,
            message: msg.signed().clone(),
        })
    }
}
