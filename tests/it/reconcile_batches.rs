//! Reconciliation of many differences: more than one `want` may ask for (the initiator asks
//! for the next batch while the last is verified and stored, and every batch, the last short
//! one included, arrives), and more than the rounds allowed can find (what they found is still
//! fetched, and the next run finds the rest).

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_cut_short_by_its_rounds_still_fetches_what_it_found() {
    // One round trip only: an empty set's first answer lists the other side's ids up to the
    // frame limit (about 1,900), so 2,500 cannot all be found in one.
    let mut west = TestNode::start_with(|c| c.limits.reconcile_rounds = 1).await;
    let east = TestNode::start().await;
    let east_only = publish_all(&east, picket_reports(90, 2_500)).await;
    let target = Target {
        name: "east".into(),
        node_key: east.client().await.info().await.unwrap().node_key,
        authenticated: true,
    };
    let mut client = east.client().await;

    let first = reconcile(west.server().node(), &mut client, &target).await;
    assert!(first.error.contains("rounds"), "{first:?}");
    assert!(
        first.fetched > 0 && first.fetched < east_only.len() as u64,
        "{first:?}"
    );
    assert_eq!(first.fetched, first.we_lacked, "{first:?}");
    let after_first = held(&west).await;
    assert_eq!(after_first.len() as u64, first.fetched);
    assert!(after_first.is_subset(&east_only));

    // With its rounds back at the default, the next run finds and fetches the rest.
    west.config.limits.reconcile_rounds = tocsin::config::Config::default().limits.reconcile_rounds;
    west.restart().await;
    let second = reconcile(west.server().node(), &mut client, &target).await;
    assert_eq!(second.error, "", "{second:?}");
    assert_eq!(
        first.fetched + second.fetched,
        east_only.len() as u64,
        "{second:?}"
    );
    assert_eq!(held(&west).await, east_only);
}
