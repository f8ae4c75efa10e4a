//! A CAP Cancel names every version it withdraws however the versions arrived: a follower that
//! took an alert, its update and the cancel in one batch, or the update and the cancel with no
//! reader of its page between them, never showed the update, yet an aggregator may hold it as
//! current (from another node); the node's store keeps what the cancel withdrew.

use std::time::Duration;

use tocsin::message::*;
use tocsin::rpc::PublishOutcome;
use tocsin::store::Origin;

use crate::http::get;
use crate::support::*;

/// An original alert, an update of it and its cancel, by one union, a few seconds apart.
fn three(union: &SecretKey) -> (Message, Message, Message) {
    let now = Timestamp::now().minus(Duration::from_secs(60));
    let original = sign(alert_at(union, "Four dockers held", now), union);
    let mut b = alert_at(union, "Two released", now.plus(Duration::from_secs(10)));
    b.content = Content::Update(Update {
        supersedes: original.id(),
        content: UpdateContent::Alert(alert_content("Two released", &["en"])),
    });
    let update = sign(b, union);
    let mut b = body(
        union,
        Content::Cancel(Cancel {
            target: original.id(),
            reason: "Names were published by mistake.".into(),
        }),
    );
    b.created_at = now.plus(Duration::from_secs(20));
    let cancel = sign(b, union);
    (original, update, cancel)
}

/// The `sender,identifier` pairs of a CAP document's `references`.
fn references(doc: &str) -> Vec<(String, String)> {
    let start = doc.find("<references>").expect(doc) + "<references>".len();
    let end = doc.find("</references>").expect(doc);
    doc[start..end]
        .split(' ')
        .map(|r| {
            let parts: Vec<&str> = r.split(',').collect();
            assert_eq!(parts.len(), 3, "{r}");
            (parts[0].to_string(), parts[1].to_string())
        })
        .collect()
}

/// The node's CAP Cancel references the original and then the update.
async fn cancel_names_both(
    node: &TestNode,
    union: &SecretKey,
    three: &(Message, Message, Message),
) {
    let (original, update, cancel) = three;
    let addr = node.server().http_addr().expect("the gateway is on");
    let sender = format!("tocsin:{}", union.public().to_hex());
    let doc = get(addr, &format!("/cap/{}.xml", cancel.id())).await;
    assert_eq!(doc.status, 200, "{}", doc.body);
    assert!(
        doc.body.contains("<msgType>Cancel</msgType>"),
        "{}",
        doc.body
    );
    assert_eq!(
        references(&doc.body),
        vec![
            (sender.clone(), original.id().to_hex()),
            (sender, update.id().to_hex()),
        ],
        "{}",
        doc.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_taking_the_alert_its_update_and_its_cancel_in_one_batch_names_the_update() {
    let node = TestNode::start().await;
    let union = org(81);
    let three = three(&union);
    let (original, update, cancel) = three.clone();
    // A follower's batch: one transaction for the three, as a peer's.
    let batch = [original, update, cancel]
        .into_iter()
        .enumerate()
        .map(|(n, m)| {
            let origin = Origin::Peer {
                peer: "westland-relay".into(),
                cursor: n as u64 + 1,
            };
            (m, origin)
        })
        .collect();
    let out = node
        .server()
        .node()
        .store()
        .insert_many(batch, Timestamp::now())
        .await
        .expect("inserting the batch");
    assert!(
        out.iter()
            .all(|i| matches!(i, tocsin::store::Inserted::Accepted { .. })),
        "{out:?}"
    );
    cancel_names_both(&node, &union, &three).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_with_no_reader_between_the_update_and_the_cancel_names_the_update() {
    let source = TestNode::start().await;
    let source_url = source.url();
    let follower = TestNode::start_with(|c| {
        c.peers = vec![tocsin::config::PeerConfig {
            name: "eastland-relay".into(),
            address: source_url,
            ca: None,
        }];
        c.federation.reconnect_min = Duration::from_millis(50);
        c.federation.reconnect_max = Duration::from_millis(500);
    })
    .await;
    let union = org(82);
    let three = three(&union);
    let (original, update, cancel) = three.clone();
    let mut client = source.client().await;
    for m in [&original, &update] {
        match client.publish(m.signed()).await.expect("publishing") {
            PublishOutcome::Accepted { .. } => {}
            other => panic!("expected acceptance, got {other:?}"),
        }
    }
    let store = follower.server().node().store().clone();
    wait_until("the follower to hold the update", || {
        let current = store
            .get(&original.id())
            .ok()
            .flatten()
            .and_then(|s| s.current)
            .map(|m| m.id());
        let id = update.id();
        async move { current == Some(id) }
    })
    .await;
    match client.publish(cancel.signed()).await.expect("publishing") {
        PublishOutcome::Accepted { .. } => {}
        other => panic!("expected acceptance, got {other:?}"),
    }
    wait_until("the follower to hold the cancel", || {
        let cancelled = store
            .get(&original.id())
            .ok()
            .flatten()
            .is_some_and(|s| s.cancelled);
        async move { cancelled }
    })
    .await;
    // The first reader comes after the cancel: the gateway never showed the update.
    cancel_names_both(&follower, &union, &three).await;
}
