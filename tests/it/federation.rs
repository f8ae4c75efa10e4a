//! Federation across real nodes on loopback: chains, meshes with cycles, partitions, crashes,
//! and updates, cancels and revocations reaching the far end.

use std::collections::BTreeSet;
use std::time::Duration;

use futures::StreamExt;
use sha2::{Digest, Sha256};
use tocsin::message::*;
use tocsin::rpc::{ClientError, PublishOutcome};

use crate::support::*;

/// A digest of every id a node stores, read through its own subscription API.
async fn digest(node: &TestNode) -> (usize, [u8; 32]) {
    let mut c = node.client().await;
    let mut events = c
        .subscribe(&Filter::default(), 0, Some(org(250).public()))
        .await
        .unwrap();
    let mut ids = BTreeSet::new();
    let mut seqs = Vec::new();
    loop {
        match within("digest backfill", events.next()).await {
            Some(Ok(tocsin::rpc::ClientEvent::Delivery { seq, message })) => {
                seqs.push(seq);
                assert!(ids.insert(message.id()), "a message is stored twice");
            }
            Some(Ok(tocsin::rpc::ClientEvent::CaughtUp(_))) => break,
            other => panic!("{other:?}"),
        }
    }
    let mut h = Sha256::new();
    for id in &ids {
        h.update(id.as_bytes());
    }
    (ids.len(), h.finalize().into())
}

async fn post(node: &TestNode, key: &SecretKey, headline: &str) -> Id {
    let m = sign(alert(key, headline), key);
    let r = node.client().await.publish(m.signed()).await.unwrap();
    assert!(matches!(r, PublishOutcome::Accepted { .. }), "{r:?}");
    m.id()
}

fn ring_with_chords() -> Vec<(usize, usize)> {
    let mut edges: Vec<_> = (0..10).map(|i| (i, (i + 1) % 10)).collect();
    edges.extend([(0, 5), (2, 7), (3, 8)]);
    edges
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_five_carries_a_message_end_to_end_once() {
    let mesh = Mesh::start(5, &[(0, 1), (1, 2), (2, 3), (3, 4)]).await;
    let from_baku = post(
        &mesh.nodes[0],
        &org(20),
        "Four leaders arrested in Eastport",
    )
    .await;
    let from_geneva = post(
        &mesh.nodes[4],
        &org(21),
        "Global union federation calls for release",
    )
    .await;
    mesh.wait_all_have(2).await;
    for node in &mesh.nodes {
        let mut c = node.client().await;
        assert!(c.get(from_baku).await.unwrap().is_some());
        assert!(c.get(from_geneva).await.unwrap().is_some());
        let info = c.info().await.unwrap();
        assert_eq!(info.head_seq, 2, "each message stored once, under one seq");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mesh_of_ten_with_cycles_stores_every_message_exactly_once() {
    let mesh = Mesh::start(10, &ring_with_chords()).await;
    let total = 100u64;
    for i in 0..total {
        let at = (i as usize * 7) % 10;
        post(
            &mesh.nodes[at],
            &org(30 + (i % 5) as u8),
            &format!("Mesh message {i}"),
        )
        .await;
    }
    mesh.wait_all_have(total).await;
    let (n0, d0) = digest(&mesh.nodes[0]).await;
    assert_eq!(n0 as u64, total);
    for node in &mesh.nodes {
        assert_eq!(digest(node).await, (n0, d0), "identical message sets");
        let info = node.client().await.info().await.unwrap();
        assert_eq!(info.head_seq, total, "no duplicate, no gap");
        for peer in info.peers {
            // Each message crosses each link at most once per direction.
            assert!(
                peer.received <= total,
                "{} received {} over one link",
                peer.name,
                peer.received
            );
        }
    }
    // Nothing was sent back over the link it came from: a node's deliveries to its followers
    // add up to less than every message over every link.
    let received: u64 = futures::future::join_all(mesh.nodes.iter().map(|n| async {
        n.client()
            .await
            .info()
            .await
            .unwrap()
            .peers
            .iter()
            .map(|p| p.received)
            .sum::<u64>()
    }))
    .await
    .into_iter()
    .sum();
    assert!(received < total * 2 * ring_with_chords().len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_heals_and_all_ten_converge() {
    let edges = ring_with_chords();
    let mesh = Mesh::start(10, &edges).await;
    let island = [7usize, 8, 9];
    let crossing: Vec<_> = mesh
        .links
        .iter()
        .filter(|((a, b), _)| island.contains(a) != island.contains(b))
        .map(|(k, _)| *k)
        .collect();
    assert!(!crossing.is_empty());
    for k in &crossing {
        mesh.links[k].cut();
    }
    let per_side = 150u64;
    for i in 0..per_side {
        post(
            &mesh.nodes[(i % 7) as usize],
            &org(40),
            &format!("Mainland {i}"),
        )
        .await;
        post(
            &mesh.nodes[7 + (i % 3) as usize],
            &org(41),
            &format!("Island {i}"),
        )
        .await;
    }
    // Each side converges on its own half while cut off.
    for i in 0..10 {
        let store = mesh.nodes[i].server().node().store().clone();
        wait_until("one side to converge", || {
            let c = store.counts().map(|c| c.messages).unwrap_or(0);
            async move { c >= per_side }
        })
        .await;
        assert_eq!(
            store.counts().unwrap().messages,
            per_side,
            "node {i} saw across the cut"
        );
    }
    for k in &crossing {
        mesh.links[k].heal();
    }
    mesh.wait_all_have(per_side * 2).await;
    let first = digest(&mesh.nodes[0]).await;
    assert_eq!(first.0 as u64, per_side * 2);
    for node in &mesh.nodes[1..] {
        assert_eq!(digest(node).await, first);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_catch_up_resumes_from_its_cursor() {
    let source = TestNode::start().await;
    let key = org(50);
    let total = 3000u64;
    let msgs: Vec<SignedMessage> = (0..total)
        .map(|i| {
            sign(alert(&key, &format!("Backlog {i}")), &key)
                .signed()
                .clone()
        })
        .collect();
    let mut c = source.client().await;
    let replies: Vec<_> = c
        .publish_stream(futures::stream::iter(msgs))
        .await
        .unwrap()
        .collect()
        .await;
    assert!(
        replies
            .iter()
            .all(|r| matches!(r, Ok(PublishOutcome::Accepted { .. })))
    );

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("follower.toml");
    std::fs::write(
        &config,
        format!(
            "[node]\ndata_dir = {:?}\nlisten = \"127.0.0.1:0\"\n\n[tls]\nmode = \"off\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n\n[federation]\nreconnect_min = \"50ms\"\nreconnect_max = \"500ms\"\n\n[[peer]]\nname = \"source\"\naddress = \"{}\"\n",
            dir.path().join("data"),
            source.url()
        ),
    )
    .unwrap();
    let mut follower = ChildNode::start(&config);
    // Kill it as soon as it has stored part of the backlog.
    let mut progress = 0;
    let deadline = std::time::Instant::now() + PATIENCE;
    while progress == 0 && std::time::Instant::now() < deadline {
        if let Ok(mut fc) = tocsin::rpc::Client::connect(&follower.url).await {
            progress = fc.info().await.map(|i| i.head_seq).unwrap_or(0);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    follower.kill();
    assert!(
        progress > 0,
        "the follower made no progress before the kill"
    );

    let follower = ChildNode::start(&config);
    let mut fc = tocsin::rpc::Client::connect(&follower.url).await.unwrap();
    let mut head = 0;
    let deadline = std::time::Instant::now() + PATIENCE;
    while head < total && std::time::Instant::now() < deadline {
        head = fc.info().await.unwrap().head_seq;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let info = fc.info().await.unwrap();
    assert_eq!(info.head_seq, total, "nothing lost, nothing stored twice");
    assert_eq!(info.messages, total);
    let peer = &info.peers[0];
    assert_eq!(peer.cursor, total, "{peer:?}");
    drop(follower);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_cancels_and_revocations_take_effect_at_the_far_end() {
    let mesh = Mesh::start(6, &[(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0), (1, 4)]).await;
    let (near, far) = (&mesh.nodes[0], &mesh.nodes[3]);
    let author = org(60);
    let original = sign(alert(&author, "Lockout at Northland Mills"), &author);
    near.client()
        .await
        .publish(original.signed())
        .await
        .unwrap();
    let update = sign(
        body(
            &author,
            Content::Update(Update {
                supersedes: original.id(),
                content: UpdateContent::Alert(alert_content(
                    "Lockout at Northland Mills: day 2",
                    &["en"],
                )),
            }),
        ),
        &author,
    );
    near.client().await.publish(update.signed()).await.unwrap();
    mesh.wait_all_have(2).await;
    let mut fc = far.client().await;
    let (oid, uid) = (original.id(), update.id());
    wait_until("the update to be current at the far end", || {
        let mut fc = fc.clone();
        async move {
            let s = fc.get(oid).await.unwrap();
            s.and_then(|s| s.current).map(|m| m.id()) == Some(uid)
        }
    })
    .await;

    let cancel = sign(
        body(
            &author,
            Content::Cancel(Cancel {
                target: original.id(),
                reason: "resolved".into(),
            }),
        ),
        &author,
    );
    near.client().await.publish(cancel.signed()).await.unwrap();
    wait_until("the cancel to reach the far end", || {
        let mut fc = fc.clone();
        async move { fc.get(oid).await.unwrap().is_some_and(|s| s.cancelled) }
    })
    .await;
    let s = fc.get(original.id()).await.unwrap().unwrap();
    assert!(
        s.message.is_none(),
        "withdrawn content is not served at the far end"
    );

    let seized = org(61);
    let before = sign(alert(&seized, "Solidarity with the dockers"), &seized);
    near.client().await.publish(before.signed()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await; // revoked_from is after `before`
    let revocation = sign(
        body(
            &seized,
            Content::Revocation(Revocation {
                revoked_from: Timestamp::now(),
                successor: Some(org(62).public()),
                reason: "laptop seized at the border".into(),
            }),
        ),
        &seized,
    );
    near.client()
        .await
        .publish(revocation.signed())
        .await
        .unwrap();
    wait_until("the revocation to reach the far end", || {
        let store = far.server().node().store().clone();
        let key = seized.public();
        async move { store.revocation(&key).unwrap().is_some() }
    })
    .await;
    let forged = sign(alert(&seized, "The strike is called off"), &seized);
    match fc.publish(forged.signed()).await {
        Err(ClientError::Refused(r)) => assert_eq!(r.reason, Reason::RevokedAuthor),
        other => panic!("a forgery after the revocation was not refused: {other:?}"),
    }
    // What the key signed before its revocation time stands.
    assert!(
        fc.get(before.id())
            .await
            .unwrap()
            .is_some_and(|s| s.message.is_some())
    );
}
