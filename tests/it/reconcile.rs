//! Set reconciliation between real nodes on loopback: two partitioned halves converge by it
//! alone; an embargoed message reaches no reader through it before its hour; a cancelled
//! message never comes back through it; hostile sessions are refused and bounded; and a
//! follower runs it when it connects.

use std::collections::BTreeSet;
use std::time::Duration;

use negentropy::{Negentropy, NegentropyStorageVector};
use tocsin::federation::{Target, reconcile};
use tocsin::message::*;
use tocsin::node::Clock;
use tocsin::rpc::{Client, ClientError, PublishOutcome, ReconcileSession};

use crate::support::*;

async fn publish(node: &TestNode, m: &Message) {
    let got = node.client().await.publish(m.signed()).await.unwrap();
    assert!(matches!(got, PublishOutcome::Accepted { .. }), "{got:?}");
}

/// The ids a caller may see on a node, by `Items`.
async fn item_ids(client: &mut Client, peer: Option<AuthorKey>) -> BTreeSet<Id> {
    let (items, _) = client.items(peer).await.unwrap();
    items.into_iter().map(|(_, id)| id).collect()
}

/// Reconciles an empty set with the node: the ids it offers this caller (negentropy's
/// `need`), and the open session.
async fn offered_to(
    client: &mut Client,
    peer: Option<AuthorKey>,
) -> (BTreeSet<Id>, ReconcileSession) {
    let mut empty = NegentropyStorageVector::new();
    empty.seal().unwrap();
    let mut negentropy = Negentropy::owned(empty, 60_000).unwrap();
    let (mut session, mut answer) = client
        .reconcile(negentropy.initiate().unwrap(), peer)
        .await
        .unwrap();
    let mut need = BTreeSet::new();
    for _ in 0..50 {
        let (mut have_ids, mut need_ids) = (Vec::new(), Vec::new());
        let next = negentropy
            .reconcile_with_ids(&answer, &mut have_ids, &mut need_ids)
            .unwrap();
        assert!(have_ids.is_empty(), "an empty set has nothing to offer");
        need.extend(need_ids.into_iter().map(|id| Id(id.to_bytes())));
        match next {
            None => return (need, session),
            Some(next) => answer = session.negentropy(next).await.unwrap(),
        }
    }
    panic!("no end to the reconciliation");
}

fn refused_as(e: ClientError, reason: Reason) -> String {
    match e {
        ClientError::Refused(r) if r.reason == reason => r.detail,
        other => panic!("expected a {reason:?} refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_halves_of_a_campaign_converge_by_reconciliation_alone() {
    let west = TestNode::start().await;
    let east = TestNode::start().await;
    let mut west_half = BTreeSet::new();
    let mut east_half = BTreeSet::new();
    for i in 0..12u8 {
        let key = org(40 + i);
        let m = sign(
            alert(&key, &format!("Harbour of Saltmere: picket line {i} holds")),
            &key,
        );
        if i % 2 == 0 {
            publish(&west, &m).await;
            west_half.insert(m.id());
        } else {
            publish(&east, &m).await;
            east_half.insert(m.id());
        }
    }
    assert_eq!(held(&west).await, west_half);

    let to_east = peer_target(&east, "east").await;
    let mut client = east.client().await;
    let status = reconcile(west.server().node(), &mut client, &to_east).await;
    assert_eq!(status.error, "", "{status:?}");
    assert_eq!((status.we_lacked, status.they_lacked), (6, 6), "{status:?}");
    assert_eq!(
        (status.fetched, status.refused, status.already_here),
        (6, 0, 0)
    );
    assert_eq!((status.offered, status.offered_stored), (6, 6));
    assert!(status.round_trips >= 1 && status.bytes_sent > 0 && status.bytes_received > 0);

    let everything: BTreeSet<Id> = west_half.union(&east_half).copied().collect();
    assert_eq!(held(&west).await, everything);
    assert_eq!(held(&east).await, everything);

    // Nothing left to find.
    let again = reconcile(west.server().node(), &mut client, &to_east).await;
    assert_eq!(
        (again.we_lacked, again.they_lacked, again.error.as_str()),
        (0, 0, "")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embargoed_message_reaches_only_authenticated_peers_before_its_hour() {
    let pki = crate::tls::pki();
    let start = Timestamp::now();
    let clock = Clock::manual(start);
    let node =
        TestNode::start_with_clock(clock.clone(), |c| crate::tls::files(c, &pki, "geneva")).await;
    let reader_tls = crate::tls::trusting(&pki.ca);
    let peer_tls = crate::tls::peer_client(&pki, "baku");
    let author = org(90);
    let public = sign(
        alert_at(&author, "Rail workers of Norrfell strike", start),
        &author,
    );
    let mut body = alert_at(&author, "Joint statement at noon", start);
    body.created_at = start.plus(Duration::from_millis(1));
    let hour = start.plus(Duration::from_secs(3600));
    body.effective_at = Some(hour);
    let held_back = sign(body, &author);
    let mut reader = Client::connect_with(&node.url(), &reader_tls)
        .await
        .unwrap();
    for m in [&public, &held_back] {
        let got = reader.publish(m.signed()).await.unwrap();
        assert!(matches!(got, PublishOutcome::Accepted { .. }), "{got:?}");
    }
    let only_public = BTreeSet::from([public.id()]);
    let both = BTreeSet::from([public.id(), held_back.id()]);
    let claimed = Some(org(251).public());

    // A reader, and one that names a peer key without a certificate: not before the hour.
    for peer in [None, claimed] {
        assert_eq!(item_ids(&mut reader, peer).await, only_public);
        let (offered, mut session) = offered_to(&mut reader, peer).await;
        assert_eq!(offered, only_public);
        let (messages, missing) = session.want(&[held_back.id()]).await.unwrap();
        assert!(messages.is_empty(), "fetched under embargo");
        assert_eq!(missing, vec![held_back.id()]);
    }

    // A peer with a certificate this node trusts: at once.
    let mut peer = Client::connect_with(&node.url(), &peer_tls).await.unwrap();
    assert_eq!(item_ids(&mut peer, claimed).await, both);
    let (offered, mut session) = offered_to(&mut peer, claimed).await;
    assert_eq!(offered, both);
    let (messages, _) = session.want(&[held_back.id()]).await.unwrap();
    assert_eq!(
        messages.iter().map(|m| m.id()).collect::<Vec<_>>(),
        vec![held_back.id()]
    );

    // At the hour, readers too.
    clock.set(hour);
    let held_id = held_back.id();
    wait_until("the release", || {
        let store = node.server().node().store().clone();
        async move { store.get(&held_id).unwrap().is_some() }
    })
    .await;
    assert_eq!(item_ids(&mut reader, None).await, both);
    let (offered, mut session) = offered_to(&mut reader, None).await;
    assert_eq!(offered, both);
    let (messages, missing) = session.want(&[held_back.id()]).await.unwrap();
    assert_eq!((messages.len(), missing.len()), (1, 0));
}

/// An alert under embargo until `hour` and an update of it with no embargo of its own, made so
/// that the update's id sorts first: the order ids are listed, asked for and offered in.
fn embargoed_alert_and_its_update(
    author: &SecretKey,
    start: Timestamp,
    hour: Timestamp,
) -> (Message, Message) {
    let mut body = alert_at(author, "Joint statement of the Norrfell rail unions", start);
    body.effective_at = Some(hour);
    let original = sign(body, author);
    for ms in 1..200 {
        let mut u = alert_at(author, "Joint statement: now with the dockers", start);
        u.created_at = start.plus(Duration::from_millis(ms));
        u.content = Content::Update(Update {
            supersedes: original.id(),
            content: UpdateContent::Alert(alert_content(
                "Joint statement: now with the dockers",
                &["en"],
            )),
        });
        let update = sign(u, author);
        if update.id() < original.id() {
            return (original, update);
        }
    }
    panic!("no update whose id sorts first in 200 tries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_of_an_embargoed_message_fetched_or_offered_stays_held_with_it() {
    let pki = crate::tls::pki();
    let start = Timestamp::now();
    let hour = start.plus(Duration::from_secs(3600));
    let clock = Clock::manual(start);
    let holder =
        TestNode::start_with_clock(clock.clone(), |c| crate::tls::files(c, &pki, "geneva")).await;
    let fetching = TestNode::start_with_clock(clock.clone(), |_| {}).await;
    let offered = TestNode::start_with_clock(clock.clone(), |_| {}).await;
    let author = org(91);
    let (original, update) = embargoed_alert_and_its_update(&author, start, hour);
    let mut reader = Client::connect_with(&holder.url(), &crate::tls::trusting(&pki.ca))
        .await
        .unwrap();
    for m in [&original, &update] {
        let got = reader.publish(m.signed()).await.unwrap();
        assert!(matches!(got, PublishOutcome::Accepted { .. }), "{got:?}");
    }
    let holder_key = reader.info().await.unwrap().node_key;

    // Fetched: a node with a peer's certificate takes both from the holder.
    let mut as_peer = Client::connect_with(&holder.url(), &crate::tls::peer_client(&pki, "baku"))
        .await
        .unwrap();
    let from_holder = Target {
        name: "geneva".into(),
        node_key: holder_key,
        authenticated: true,
    };
    let status = reconcile(fetching.server().node(), &mut as_peer, &from_holder).await;
    assert_eq!(
        (status.fetched, status.error.as_str()),
        (2, ""),
        "{status:?}"
    );

    // Offered: the holder sends both to a node it takes for a peer.
    let to_offered = peer_target(&offered, "offered").await;
    let mut client = offered.client().await;
    let status = reconcile(holder.server().node(), &mut client, &to_offered).await;
    assert_eq!(
        (status.offered_stored, status.error.as_str()),
        (2, ""),
        "{status:?}"
    );

    for node in [&fetching, &offered] {
        assert_eq!(
            held(node).await,
            BTreeSet::from([original.id(), update.id()])
        );
        let store = node.server().node().store();
        assert!(
            store.get(&update.id()).unwrap().is_none(),
            "the update shows the embargoed alert's news before its hour"
        );
        assert!(store.get(&original.id()).unwrap().is_none());
    }
    // The update's hour is a millisecond past its original's.
    clock.set(hour.plus(Duration::from_secs(1)));
    for node in [&fetching, &offered] {
        let store = node.server().node().store().clone();
        let id = update.id();
        wait_until("the update's release after its original", || {
            let store = store.clone();
            async move { store.get(&id).unwrap().is_some() }
        })
        .await;
        assert!(store.get(&original.id()).unwrap().is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_message_is_not_resurrected_by_reconciling_either_way() {
    let key = org(60);
    let original = sign(alert(&key, "March on the Millbrook depot"), &key);
    let withdrawal = sign(
        body(
            &key,
            Content::Cancel(Cancel {
                target: original.id(),
                reason: "the depot agreed to talks".into(),
            }),
        ),
        &key,
    );
    // `keeper` holds the message and its cancel; the others only the message.
    let keeper = TestNode::start().await;
    let behind = TestNode::start().await;
    let also_behind = TestNode::start().await;
    for node in [&keeper, &behind, &also_behind] {
        publish(node, &original).await;
    }
    publish(&keeper, &withdrawal).await;

    let assert_withdrawn = |node: &'static str, state: Option<tocsin::rpc::GetState>| {
        let state = state.unwrap_or_else(|| panic!("{node}: the id is known"));
        assert!(state.cancelled, "{node}: cancelled");
        assert!(state.message.is_none(), "{node}: its content withdrawn");
    };

    // From the keeper: the message it lacks is one it remembers, so it is not fetched.
    let mut to_behind = behind.client().await;
    let status = reconcile(
        keeper.server().node(),
        &mut to_behind,
        &peer_target(&behind, "behind").await,
    )
    .await;
    assert_eq!(status.error, "", "{status:?}");
    assert_eq!(
        (status.we_lacked, status.already_here, status.fetched),
        (1, 1, 0),
        "{status:?}"
    );
    assert_eq!(
        (status.offered, status.offered_stored),
        (1, 1),
        "the cancel went over"
    );
    assert_withdrawn(
        "keeper",
        keeper.client().await.get(original.id()).await.unwrap(),
    );
    assert_withdrawn("behind", to_behind.get(original.id()).await.unwrap());

    // Towards the keeper: what it is offered back is refused, and it fetches nothing alive.
    let mut to_keeper = keeper.client().await;
    let status = reconcile(
        also_behind.server().node(),
        &mut to_keeper,
        &peer_target(&keeper, "keeper").await,
    )
    .await;
    assert_eq!(status.error, "", "{status:?}");
    // The cancel came first and withdrew the message here, so it was not offered back.
    assert_eq!((status.we_lacked, status.they_lacked), (1, 1), "{status:?}");
    assert_eq!((status.fetched, status.offered), (1, 0), "{status:?}");
    // Offered anyway (by a node that never got the cancel), it is refused.
    let (_, mut session) = offered_to(&mut to_keeper, Some(org(252).public())).await;
    let answers = session.offer(&[original.signed().clone()]).await.unwrap();
    assert!(
        matches!(&answers[..], [PublishOutcome::Refused(r)] if r.reason == Reason::Replayed),
        "{answers:?}"
    );
    assert_withdrawn("keeper", to_keeper.get(original.id()).await.unwrap());
    assert!(
        !item_ids(&mut to_keeper, None)
            .await
            .contains(&original.id())
    );
    let (_, mut session) = offered_to(&mut to_keeper, None).await;
    let (messages, missing) = session.want(&[original.id()]).await.unwrap();
    assert!(messages.is_empty(), "withdrawn content served");
    assert_eq!(missing, vec![original.id()]);
    assert_withdrawn(
        "also behind",
        also_behind.client().await.get(original.id()).await.unwrap(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_sessions_are_refused_and_bounded() {
    let node = TestNode::start_with(|c| {
        c.limits.reconcile_sessions = 2;
        c.limits.reconcile_rounds = 3;
    })
    .await;
    let key = org(70);
    publish(&node, &sign(alert(&key, "Cleaners of Ashford win"), &key)).await;
    let mut client = node.client().await;

    // Negentropy that cannot be read: an unknown version, a bad mode, a list cut short.
    for garbage in [
        vec![0x99, 0x00],
        vec![0x61, 0x01, 0x00, 0x07],
        vec![0x61, 0x01, 0x00, 0x02, 0x05],
        vec![0x61, 0x01, 0x21],
    ] {
        let e = client.reconcile(garbage.clone(), None).await.err();
        let detail = refused_as(e.expect("garbage accepted"), Reason::Malformed);
        assert!(detail.contains("negentropy"), "{detail}");
    }
    // A request before `open` is refused too, and the node still answers.
    assert_eq!(client.info().await.unwrap().messages, 1);

    // Too many ids in one `want`.
    let (_, mut session) = offered_to(&mut client, None).await;
    let ids: Vec<Id> = (0..257u32)
        .map(|i| {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_be_bytes());
            Id(id)
        })
        .collect();
    let detail = refused_as(session.want(&ids).await.unwrap_err(), Reason::Malformed);
    assert!(detail.contains("at most 256"), "{detail}");

    // More rounds than limits.reconcile_rounds.
    let (_, mut session) = offered_to(&mut client, None).await;
    let mut refused = None;
    for _ in 0..4 {
        if let Err(e) = session.negentropy(vec![0x61]).await {
            refused = Some(e);
            break;
        }
    }
    let detail = refused_as(refused.expect("rounds unbounded"), Reason::RateLimited);
    assert!(detail.contains("limits.reconcile_rounds"), "{detail}");

    // More sessions at once than limits.reconcile_sessions (and as many again kept for
    // callers the node trusts: every caller of this plaintext node, on loopback); one ended
    // frees its slot.
    let (_, first) = offered_to(&mut client, None).await;
    let (_, _second) = offered_to(&mut client, None).await;
    let (_, _kept) = offered_to(&mut client, None).await;
    let (_, _kept_too) = offered_to(&mut client, None).await;
    let mut third = node.client().await;
    let e = third.reconcile(vec![0x61], None).await.err();
    let detail = refused_as(e.expect("over the cap"), Reason::RateLimited);
    assert!(detail.contains("limits.reconcile_sessions"), "{detail}");
    drop(first);
    let mut tries = 0;
    loop {
        match third.reconcile(vec![0x61], None).await {
            Ok(_) => break,
            Err(e) => {
                refused_as(e, Reason::RateLimited);
                tries += 1;
                assert!(tries < 500, "the ended session's slot never came back");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    let metrics = crate::http::get_with(node.server().http_addr().unwrap(), "/metrics", &[]).await;
    assert!(
        metrics
            .body
            .contains("tocsin_reconcile_sessions_served_total{outcome=\"busy\"}"),
        "{}",
        metrics.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_reconciles_when_it_connects_and_recovers_what_lies_below_its_cursor() {
    let source = TestNode::start().await;
    let mut posted = BTreeSet::new();
    for i in 0..3u8 {
        let key = org(80 + i);
        let m = sign(
            alert(&key, &format!("Tram depot {i} of Kestrel Bay out")),
            &key,
        );
        publish(&source, &m).await;
        posted.insert(m.id());
    }
    let source_info = source.client().await.info().await.unwrap();
    let source_key = source_info.node_key;

    // A node that believes it holds the source's log, in the log and opening the source runs
    // now, up to its head, and holds none of it (a store that lost what a peer's log brought):
    // the log check finds nothing wrong, and following from its cursor brings nothing.
    let mut follower = TestNode::start().await;
    let store = follower.server().node().store().clone();
    let source_log = tocsin::store::PeerLog {
        log_id: source_info.log_id.expect("the source says its log"),
        opening_id: source_info.opening_id,
    };
    store
        .record_peer_log(&source_key.to_hex(), source_log)
        .await
        .unwrap();
    store.advance_cursor(&source_key.to_hex(), 3).await.unwrap();
    drop(store);
    follower.config.peers = vec![tocsin::config::PeerConfig {
        name: "source".into(),
        address: source.url(),
        ca: None,
    }];
    follower.restart().await;

    wait_until("the follower to recover the source's messages", || {
        let follower = &follower;
        let posted = &posted;
        async move { held(follower).await == *posted }
    })
    .await;
    let info = follower.client().await.info().await.unwrap();
    let peer = info.peers.iter().find(|p| p.name == "source").unwrap();
    let last = peer
        .last_reconcile
        .as_ref()
        .expect("a reconciliation on connect");
    assert_eq!(last.error, "");
    assert_eq!((last.we_lacked, last.fetched), (3, 3), "{last:?}");
    assert!(last.at.0 > 0);
    assert_eq!(peer.log_changes, 0, "the log check had nothing to say");
}
