//! Reconciliation of many differences: more than one `want` may ask for (the initiator asks
//! for the next batch while the last is verified and stored, and every batch, the last short
//! one included, arrives), and more than the rounds allowed can find (what they found is still
//! fetched, and the next run finds the rest); and frames larger than one gRPC message, agreed
//! at `open` and sent in parts, bounded by what was agreed.

use std::collections::BTreeSet;

use futures::StreamExt;
use tocsin::federation::reconcile;
use tocsin::message::*;
use tocsin::proto;
use tocsin::proto::reconcile_reply::Step as ReplyStep;
use tocsin::proto::reconcile_request::Step as RequestStep;
use tocsin::rpc::{NEGENTROPY_FRAME_LIMIT, PublishOutcome, RECONCILE_BATCH};

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

    let target = peer_target(&east, "east").await;
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
    // One round trip only, in frames of 64 KiB: an empty set's first answer lists the other
    // side's ids up to the frame (about 2,000), so 2,500 cannot all be found in one.
    let mut west = TestNode::start_with(|c| {
        c.limits.reconcile_rounds = 1;
        c.limits.reconcile_frame_kib = 64;
    })
    .await;
    let east = TestNode::start().await;
    let east_only = publish_all(&east, picket_reports(90, 2_500)).await;
    let target = peer_target(&east, "east").await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_frames_find_thousands_of_differences_in_few_round_trips() {
    // 2,500 ids (80 KB of negentropy) fit in one frame of the default 1 MiB, sent in parts of
    // one gRPC message each; in frames of 64 KiB they take more rounds.
    let east = TestNode::start().await;
    let east_only = publish_all(&east, picket_reports(100, 2_500)).await;
    let target = peer_target(&east, "east").await;
    let mut client = east.client().await;

    let large = TestNode::start().await;
    let status = reconcile(large.server().node(), &mut client, &target).await;
    assert_eq!(status.error, "", "{status:?}");
    assert_eq!(status.fetched, east_only.len() as u64, "{status:?}");
    // One answer, larger than one part: it came in parts.
    assert_eq!(status.round_trips, 1, "{status:?}");
    assert!(status.bytes_received > NEGENTROPY_FRAME_LIMIT, "{status:?}");
    assert_eq!(held(&large).await, east_only);

    let small = TestNode::start_with(|c| c.limits.reconcile_frame_kib = 64).await;
    let smaller = reconcile(small.server().node(), &mut client, &target).await;
    assert_eq!(smaller.error, "", "{smaller:?}");
    assert_eq!(smaller.fetched, east_only.len() as u64, "{smaller:?}");
    assert!(smaller.round_trips > status.round_trips, "{smaller:?}");
    assert_eq!(held(&small).await, east_only);
}

/// The first message of an initiator holding nothing, in negentropy's one-message frame.
fn empty_first() -> Vec<u8> {
    let mut empty = negentropy::NegentropyStorageVector::new();
    empty.seal().unwrap();
    let mut negentropy = negentropy::Negentropy::owned(empty, NEGENTROPY_FRAME_LIMIT).unwrap();
    negentropy.initiate().unwrap()
}

/// Opens a session by the generated client alone, asking for `frame_limit`: the header the
/// node answers with, what sends its requests, and its replies.
async fn open_raw(
    node: &TestNode,
    frame_limit: u64,
) -> (
    String,
    tokio::sync::mpsc::UnboundedSender<proto::ReconcileRequest>,
    tonic::Streaming<proto::ReconcileReply>,
) {
    let (requests, outgoing) = tokio::sync::mpsc::unbounded_channel();
    let open = proto::ReconcileOpen {
        negentropy: empty_first(),
        peer_node_key: Vec::new(),
        frame_limit,
    };
    requests
        .send(proto::ReconcileRequest {
            step: Some(RequestStep::Open(open)),
        })
        .unwrap();
    let response = proto::relay_client::RelayClient::connect(node.url())
        .await
        .unwrap()
        .reconcile(tokio_stream::wrappers::UnboundedReceiverStream::new(
            outgoing,
        ))
        .await
        .unwrap();
    let header = response
        .metadata()
        .get("tocsin-reconcile-frame-limit")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (header, requests, response.into_inner())
}

/// The parts of the next negentropy answer, the last one included.
async fn answer_parts(replies: &mut tonic::Streaming<proto::ReconcileReply>) -> Vec<Vec<u8>> {
    let mut parts = Vec::new();
    loop {
        match replies.message().await.unwrap().and_then(|r| r.step) {
            Some(ReplyStep::NegentropyPart(part)) => parts.push(part),
            Some(ReplyStep::Negentropy(last)) => {
                parts.push(last);
                return parts;
            }
            other => panic!("expected a negentropy answer, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_are_agreed_on_the_wire_and_parts_are_bounded() {
    let node = TestNode::start().await;
    publish_all(&node, picket_reports(110, 2_500)).await;
    let part = NEGENTROPY_FRAME_LIMIT as usize;

    // A caller that asks for nothing (as before large frames) gets one-message answers.
    let (header, _requests, mut replies) = open_raw(&node, 0).await;
    assert_eq!(header, "1048576", "limits.reconcile_frame_kib in bytes");
    let parts = answer_parts(&mut replies).await;
    assert_eq!(parts.len(), 1);
    assert!(parts[0].len() <= part, "{}", parts[0].len());

    // A caller that asks for 1 MiB gets the 80 KB answer in parts of one gRPC message each.
    let (_, _requests, mut replies) = open_raw(&node, 1 << 20).await;
    let parts = answer_parts(&mut replies).await;
    assert!(parts.len() >= 2, "{} parts", parts.len());
    assert!(parts[..parts.len() - 1].iter().all(|p| p.len() == part));
    assert!(parts.iter().map(Vec::len).sum::<usize>() > part);

    // Parts beyond the frame agreed (64 KiB here, and negentropy's slack) are refused.
    let (_, requests, mut replies) = open_raw(&node, 64 * 1024).await;
    answer_parts(&mut replies).await;
    for _ in 0..3 {
        let step = RequestStep::NegentropyPart(vec![0x61; part]);
        // The node may end the session before the last is sent.
        let _ = requests.send(proto::ReconcileRequest { step: Some(step) });
    }
    let refused = match replies.message().await {
        Err(status) => status,
        Ok(Some(reply)) => panic!("an answer to parts with no end: {reply:?}"),
        Ok(None) => panic!("the session ended without a reason"),
    };
    let reason = refused
        .metadata()
        .get("tocsin-reason")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(reason.as_deref(), Some("malformed"), "{refused:?}");
    assert!(refused.message().contains("frame agreed"), "{refused:?}");
}
