//! Tests of the ingest pipeline on a real node (a store in a temporary directory, the clock
//! standing still): every message is answered in its place, whatever stage answered it.

use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::{Config, TlsMode};
use crate::message::SecretKey;
use crate::node::Clock;

const T0: Timestamp = Timestamp(1_800_000_000_000);
const DAY: Duration = Duration::from_secs(24 * 3600);

pub(crate) fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

/// An alert by `k`, written at `created` and valid for a day.
fn alert_at(k: &SecretKey, headline: &str, created: Timestamp) -> Message {
    crate::store::tests::headline_alert(k, created, headline)
}

pub(crate) fn alert(k: &SecretKey, headline: &str) -> Message {
    alert_at(k, headline, T0)
}

/// A message whose signature is not its author's.
fn forged(k: &SecretKey, headline: &str) -> SignedMessage {
    SignedMessage::new(alert(k, headline).signed().body().clone(), &[7; 64]).expect("64 bytes")
}

/// A node in `dir`, its clock at T0, with no budget in the way.
pub(crate) fn node_in(dir: &Path) -> Node {
    let mut config = Config::default();
    config.node.data_dir = dir.join("data");
    config.tls.mode = TlsMode::Off;
    let l = &mut config.limits;
    l.publish_per_author_per_second = 1_000_000;
    l.publish_per_author_burst = 1_000_000;
    l.new_authors_per_minute = 1_000_000;
    l.new_authors_burst = 1_000_000;
    Node::open_with_clock(config, Clock::manual(T0)).expect("opening a node")
}

fn local(signed: &SignedMessage) -> Offer {
    Offer::Message(signed.clone(), Origin::Local)
}

fn reason(outcome: &Outcome) -> Reason {
    match outcome {
        Err(NodeError::Refused(r)) => r.reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn accepted(outcome: &Outcome) -> Published {
    match outcome {
        Ok(p) if p.status == PublishStatus::Accepted => *p,
        other => panic!("expected an acceptance, got {other:?}"),
    }
}

#[tokio::test]
async fn a_batch_is_answered_in_order_whichever_stage_answered_each_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = node_in(dir.path());
    let earlier = alert(&key(1), "Earlier");
    let first = accepted(&node.publish(earlier.signed().clone(), Origin::Local).await);
    let fresh = alert(&key(2), "Fresh");
    let last = alert(&key(3), "Last");
    let stale = alert_at(
        &key(4),
        "Stale",
        Timestamp(T0.0 - 3 * DAY.as_millis() as u64),
    );
    let by_caller = Rejection::new(Reason::RateLimited, "this address sent too much");
    let offers = vec![
        local(fresh.signed()),
        Offer::Refused(by_caller),
        Offer::Message(forged(&key(5), "Forged"), Origin::Local),
        local(earlier.signed()),
        local(stale.signed()),
        local(last.signed()),
    ];
    let outcomes = node.stage(offers).await.finish().await;
    assert_eq!(outcomes.len(), 6);
    let stored_fresh = accepted(&outcomes[0]);
    assert_eq!(stored_fresh.id, fresh.id());
    assert_eq!(reason(&outcomes[1]), Reason::RateLimited);
    assert_eq!(reason(&outcomes[2]), Reason::BadSignature);
    match &outcomes[3] {
        Ok(p) => {
            assert_eq!(p.status, PublishStatus::Duplicate);
            assert_eq!((p.id, p.seq), (first.id, first.seq));
        }
        other => panic!("expected a duplicate, got {other:?}"),
    }
    assert_eq!(reason(&outcomes[4]), Reason::Expired);
    let stored_last = accepted(&outcomes[5]);
    assert_eq!(stored_last.id, last.id());
    assert!(first.seq < stored_fresh.seq && stored_fresh.seq < stored_last.seq);
    // The caller counted its own refusal; the node counted the rest, once each.
    let m = node.metrics();
    assert_eq!(m.refused_count(Reason::RateLimited), 0);
    assert_eq!(m.refused_count(Reason::BadSignature), 1);
    assert_eq!(m.refused_count(Reason::Expired), 1);
    let counts = m.snapshot();
    assert_eq!((counts.accepted, counts.duplicate), (3, 1));
}

#[tokio::test]
async fn a_large_batch_verified_on_several_tasks_keeps_every_answer_in_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = node_in(dir.path());
    let n = 3 * PARALLEL_VERIFY_MIN;
    let mut offers = Vec::with_capacity(n);
    for i in 0..n {
        let k = key(10 + (i % 7) as u8);
        let headline = format!("Picket {i}");
        offers.push(if i % 3 == 1 {
            Offer::Message(forged(&k, &headline), Origin::Local)
        } else {
            local(alert(&k, &headline).signed())
        });
    }
    let outcomes = node.stage(offers).await.finish().await;
    assert_eq!(outcomes.len(), n);
    let mut last_seq = 0;
    for (i, outcome) in outcomes.iter().enumerate() {
        if i % 3 == 1 {
            assert_eq!(reason(outcome), Reason::BadSignature, "message {i}");
        } else {
            let p = accepted(outcome);
            let k = key(10 + (i % 7) as u8);
            assert_eq!(p.id, alert(&k, &format!("Picket {i}")).id(), "message {i}");
            // Stored in the order given.
            assert!(p.seq > last_seq, "message {i}");
            last_seq = p.seq;
        }
    }
}

#[tokio::test]
async fn a_single_publish_is_a_batch_of_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = node_in(dir.path());
    let m = alert(&key(1), "Alone");
    let published = accepted(&node.publish(m.signed().clone(), Origin::Local).await);
    assert_eq!(published.id, m.id());
    let again = node.publish(m.signed().clone(), Origin::Local).await;
    assert!(
        matches!(again, Ok(p) if p.status == PublishStatus::Duplicate && p.seq == published.seq)
    );
    let refused = node.publish(forged(&key(2), "Forged"), Origin::Local).await;
    assert_eq!(reason(&refused), Reason::BadSignature);
    let counts = node.metrics().snapshot();
    assert_eq!((counts.accepted, counts.duplicate), (1, 1));
    assert_eq!(node.metrics().refused_count(Reason::BadSignature), 1);
}

#[tokio::test]
async fn a_batch_staged_during_shutdown_is_unsettled_and_refused_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = node_in(dir.path());
    let calm = node
        .stage(vec![local(alert(&key(1), "Before").signed())])
        .await;
    assert!(!calm.unsettled());
    assert!(accepted(&calm.finish().await[0]).seq > 0);
    node.begin_shutdown();
    let by_caller = Rejection::new(Reason::Malformed, "not a message");
    let staged = node
        .stage(vec![
            Offer::Refused(by_caller),
            local(alert(&key(2), "During").signed()),
        ])
        .await;
    assert!(staged.unsettled());
    let outcomes = staged.finish().await;
    assert_eq!(reason(&outcomes[0]), Reason::Malformed);
    assert!(matches!(outcomes[1], Err(NodeError::ShuttingDown)));
    assert_eq!(node.metrics().refused_count(Reason::Unavailable), 1);
}
