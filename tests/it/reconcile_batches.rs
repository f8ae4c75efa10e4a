//! Reconciliation of more differences than one `want` may ask for: the initiator asks for the
//! next batch while the last is verified and stored, and every batch, the last short one
//! included, arrives.

use std::collections::BTreeSet;

use futures::StreamExt;
use tocsin::federation::{Target, reconcile};
use tocsin::message::*;
use tocsin::rpc::{PublishOutcome, RECONCILE_BATCH};

use crate::support::*;

/// Publishes `messages` on one stream; their ids.
async fn publish_all(node: &TestNode, messages: Vec<Message>) -> BTreeSet<Id> {
    let ids = messages.iter().map(Message::id).collect();
    let replies: Vec<_> = node
        .client()
        .await
        .publish_stream(futures::stream::iter(
            messages.into_iter().map(|m| m.signed().clone()),
        ))
        .await
        .unwrap()
        .collect()
        .await;
    for reply in replies {
        assert!(
            matches!(reply, Ok(PublishOutcome::Accepted { .. })),
            "{reply:?}"
        );
    }
    ids
}

/// Every id a node holds with content, by `Items` as a peer on loopback.
async fn held(node: &TestNode) -> BTreeSet<Id> {
    let (items, _) = node
        .client()
        .await
        .items(Some(org(250).public()))
        .await
        .unwrap();
    items.into_iter().map(|(_, id)| id).collect()
}

fn picket_reports(first: u8, count: usize) -> Vec<Message> {
    (0..count)
        .map(|i| {
            let key = org(first + (i % 4) as u8);
            sign(
                alert(&key, &format!("Foundry of Westerholm: shift {i} walks out")),
                &key,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_differences_than_one_batch_are_all_fetched_and_offered() {
    let west = TestNode::start().await;
    let east = TestNode::start().await;
    // Two full batches and a short third one to fetch; more than one batch to offer.
    let lacked = 2 * RECONCILE_BATCH + 88;
    let east_only = publish_all(&east, picket_reports(70, lacked)).await;
    let west_only = publish_all(&west, picket_reports(80, RECONCILE_BATCH + 3)).await;

    let target = Target {
        name: "east".into(),
        node_key: east.client().await.info().await.unwrap().node_key,
        authenticated: true,
    };
    let mut client = east.client().await;
    let status = reconcile(west.server().node(), &mut client, &target).await;
    assert_eq!(status.error, "", "{status:?}");
    assert_eq!(status.we_lacked, lacked as u64, "{status:?}");
    assert_eq!(
        (status.fetched, status.refused, status.already_here),
        (lacked as u64, 0, 0),
        "{status:?}"
    );
    assert_eq!(
        (status.offered, status.offered_stored),
        (west_only.len() as u64, west_only.len() as u64)
    );

    let everything: BTreeSet<Id> = east_only.union(&west_only).copied().collect();
    assert_eq!(held(&west).await, everything);
    assert_eq!(held(&east).await, everything);
}
