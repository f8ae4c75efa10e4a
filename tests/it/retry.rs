//! Refusals that can change are retried, never skipped for good: a message refused `from-future`
//! by a follower whose clock is behind, or `not-admitted` before its author's roster arrives,
//! is kept in the follower's retry set and stored once it is acceptable there, also after a
//! restart; the retry set's bounds turn messages away only counted.

use std::time::Duration;

use tocsin::config::{PeerConfig, TrustPolicy};
use tocsin::message::*;
use tocsin::node::{Clock, Node};
use tocsin::rpc::PublishOutcome;

use crate::support::*;

const MINUTE: Duration = Duration::from_secs(60);

async fn publish(node: &TestNode, m: &Message) {
    let r = node.client().await.publish(m.signed()).await.unwrap();
    assert!(matches!(r, PublishOutcome::Accepted { .. }), "{r:?}");
}

/// An alert by `key` created at `at`, signed.
fn alert_by(key: &SecretKey, headline: &str, at: Timestamp) -> Message {
    sign(alert_at(key, headline, at), key)
}

fn node(n: &TestNode) -> Node {
    n.server().node().clone()
}

async fn wait_stored(n: &TestNode, m: &Message, what: &str) {
    let store = node(n).store().clone();
    let id = m.id();
    wait_until(what, || {
        let held = store.message(&id).ok().flatten().is_some();
        async move { held }
    })
    .await;
}

fn holds(n: &TestNode, m: &Message) -> bool {
    node(n).store().message(&m.id()).unwrap().is_some()
}

fn pending(n: &TestNode) -> u64 {
    node(n).store().retry_counts().unwrap().pending
}

/// The gateway's `/metrics` text.
async fn metrics(n: &TestNode) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = n.server().http_addr().expect("the gateway is on");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut text = String::new();
    within("reading /metrics", s.read_to_string(&mut text))
        .await
        .unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    text
}

/// A federation's roster naming one member.
fn roster_body(federation: &SecretKey, member: &SecretKey, name: &str) -> Body {
    body(
        federation,
        Content::Roster(Roster {
            members: vec![RosterMember {
                key: member.public(),
                name: name.into(),
                country: String::new(),
            }],
        }),
    )
}

/// A follower of `origin`, in a temporary directory, on `clock`.
async fn follower(
    origin: &TestNode,
    clock: Clock,
    tune: impl FnOnce(&mut tocsin::config::Config),
) -> TestNode {
    let url = origin.url();
    TestNode::start_with_clock(clock, move |cfg| {
        cfg.peers = vec![PeerConfig {
            name: "origin".into(),
            address: url,
            ca: None,
        }];
        cfg.federation.reconnect_min = Duration::from_millis(50);
        cfg.federation.reconnect_max = Duration::from_millis(500);
        tune(cfg);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_refused_from_future_is_stored_once_it_becomes_valid() {
    // The follower's clock is 2 minutes slow and stands still until the test moves it.
    let follower_clock = Clock::manual(Timestamp::now().minus(2 * MINUTE));
    let mesh =
        Mesh::start_with_clocks(&[(0, 1)], vec![Clock::system(), follower_clock.clone()]).await;
    let (origin, slow) = (&mesh.nodes[0], &mesh.nodes[1]);
    let key = org(60);
    // 9 minutes ahead of the origin's clock: allowed there, 11 minutes ahead at the follower.
    let ahead = alert_by(
        &key,
        "Strike committee detained in Northport",
        origin.clock.now().plus(9 * MINUTE),
    );
    publish(origin, &ahead).await;
    let after = alert_by(&key, "Solidarity rally called", follower_clock.now());
    publish(origin, &after).await;
    wait_stored(
        slow,
        &after,
        "the follower to pass the message from the future",
    )
    .await;

    assert!(!holds(slow, &ahead), "refused from-future at first");
    // Kept when the log's batch that brought it settles. A reconciliation running beside the
    // follow may have fetched `after` first (and refused `ahead` without keeping it: it is the
    // log's to keep), so that batch may settle just after `after` shows.
    wait_until("the message from the future to be kept", || {
        let kept = pending(slow);
        async move { kept >= 1 }
    })
    .await;
    assert_eq!(pending(slow), 1, "kept for another try, once");
    let n = node(slow);
    // Refused (at least once: a link that drops before its batch settles brings it again),
    // counted when its batch's answers are durable, just after the batch shows in the store.
    wait_until("the refusal to be counted", || {
        let refused = n.metrics().refused_count(Reason::FromFuture);
        async move { refused >= 1 }
    })
    .await;
    let info = n.info(true).await.unwrap();
    assert_eq!(info.retry_pending, 1);
    assert_eq!(info.peers[0].retry_pending, 1, "{:?}", info.peers);
    let status = slow.client().await.info().await.unwrap();
    assert_eq!(status.retry_pending, 1, "node status shows it");
    assert_eq!(status.peers[0].retry_pending, 1);
    let t = metrics(slow).await;
    assert!(t.contains("\ntocsin_federation_retry_pending 1\n"), "{t}");
    assert!(
        t.contains("\ntocsin_federation_retry_kept_total 1\n"),
        "{t}"
    );
    assert!(
        t.contains("\ntocsin_peer_retry_pending{peer=\"n0\"} 1\n"),
        "{t}"
    );
    // Kept until it is valid here, not tried before.
    assert_eq!(n.metrics().retry.snapshot().attempts, 0);

    // The follower's clock reaches the message's time less the 10 minutes every node allows.
    follower_clock.set(valid_from(ahead.body()));
    wait_stored(slow, &ahead, "the kept message to be stored once valid").await;
    // Taken out of the set once its answer is durable, just after it shows in the store.
    wait_until("the kept message to leave the retry set", || {
        let n = pending(slow);
        async move { n == 0 }
    })
    .await;
    let r = n.metrics().retry.snapshot();
    assert_eq!((r.stored, r.given_up, r.refused), (1, 0, 0));
    let t = metrics(slow).await;
    assert!(t.contains("\ntocsin_federation_retry_pending 0\n"), "{t}");
    assert!(
        t.contains("\ntocsin_federation_retry_stored_total 1\n"),
        "{t}"
    );
    // Stored once, and not sent back to the origin (which has it) as new.
    assert_eq!(n.info(true).await.unwrap().head_seq, 2);
    assert_eq!(node(origin).info(true).await.unwrap().head_seq, 2);
}

/// A follower of `origin` on `clock` that admits only the members on `federation`'s roster, an
/// hour between tries of what it keeps: only a roster can bring a member's message in within a
/// test.
async fn roster_follower(origin: &TestNode, federation: &SecretKey, clock: &Clock) -> TestNode {
    let fed_hex = federation.public().to_hex();
    follower(origin, clock.clone(), move |cfg| {
        cfg.trust.policy = TrustPolicy::Roster;
        cfg.trust.federations = vec![fed_hex];
        cfg.federation.retry_min = Duration::from_secs(3600);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_refused_not_admitted_is_stored_once_its_authors_roster_arrives() {
    let origin = TestNode::start().await;
    let federation = org(70);
    let member = org(71);
    let clock = Clock::manual(Timestamp::now());
    let roster_node = roster_follower(&origin, &federation, &clock).await;

    let early = alert_by(
        &member,
        "Dockworkers locked out in Southbay",
        Timestamp::now(),
    );
    publish(&origin, &early).await;
    let marker = alert_by(&federation, "Federation statement", Timestamp::now());
    publish(&origin, &marker).await;
    wait_stored(
        &roster_node,
        &marker,
        "the follower to pass the member's message",
    )
    .await;
    assert!(
        !holds(&roster_node, &early),
        "refused not-admitted at first"
    );
    assert_eq!(pending(&roster_node), 1);
    // Counted when its batch's answers are durable, just after the batch shows in the store.
    wait_until("the refusal to be counted", || {
        let refused = node(&roster_node)
            .metrics()
            .refused_count(Reason::NotAdmitted);
        async move { refused >= 1 }
    })
    .await;
    // Tried again an hour later by its clock, still refused, and kept.
    clock.advance(Duration::from_secs(3600));
    let n = node(&roster_node);
    wait_until("a second try", || {
        let tried = n.metrics().retry.snapshot().attempts >= 1;
        async move { tried }
    })
    .await;
    assert_eq!(pending(&roster_node), 1);
    assert!(!holds(&roster_node, &early));

    let roster = sign(
        roster_body(&federation, &member, "Southbay Dockworkers' Union"),
        &federation,
    );
    publish(&origin, &roster).await;
    wait_stored(
        &roster_node,
        &early,
        "the member's message once its roster is here",
    )
    .await;
    // Taken out of the set once its answer is durable, just after it shows in the store.
    wait_until("the kept message to leave the retry set", || {
        let n = pending(&roster_node);
        async move { n == 0 }
    })
    .await;
    assert_eq!(node(&roster_node).metrics().retry.snapshot().stored, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_refused_not_admitted_is_stored_once_its_authors_embargoed_roster_is_released() {
    // The roster comes under embargo: it admits its members only from its release, and the
    // member's kept message is tried at once then (not at its next try, an hour on).
    let origin = TestNode::start().await;
    let federation = org(72);
    let member = org(73);
    let clock = Clock::manual(Timestamp::now());
    let roster_node = roster_follower(&origin, &federation, &clock).await;
    let mut b = roster_body(&federation, &member, "Northgate Bakers' Union");
    b.effective_at = Some(clock.now().plus(Duration::from_secs(600)));
    publish(&roster_node, &sign(b, &federation)).await;

    let early = alert_by(&member, "Bakers locked out in Northgate", Timestamp::now());
    publish(&origin, &early).await;
    let marker = alert_by(&federation, "Federation statement", Timestamp::now());
    publish(&origin, &marker).await;
    wait_stored(
        &roster_node,
        &marker,
        "the follower to pass the member's message",
    )
    .await;
    assert!(
        !holds(&roster_node, &early),
        "not admitted while its roster is under embargo"
    );
    assert_eq!(pending(&roster_node), 1);

    // The roster's hour: released, and the member's message brought in with it.
    clock.advance(Duration::from_secs(601));
    wait_stored(
        &roster_node,
        &early,
        "the member's message once its roster is released",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retry_set_survives_a_restart() {
    let mut origin = TestNode::start().await;
    let clock = Clock::manual(Timestamp::now().minus(2 * MINUTE));
    let mut slow = follower(&origin, clock.clone(), |_| {}).await;
    let key = org(80);
    let ahead = alert_by(
        &key,
        "Teachers' union office raided",
        Timestamp::now().plus(9 * MINUTE),
    );
    publish(&origin, &ahead).await;
    let after = alert_by(&key, "Appeal for letters", clock.now());
    publish(&origin, &after).await;
    wait_stored(
        &slow,
        &after,
        "the follower to pass the message from the future",
    )
    .await;
    assert_eq!(pending(&slow), 1);

    // The origin goes away: what comes now comes from the follower's own retry set.
    origin.stop().await;
    slow.restart().await;
    assert_eq!(pending(&slow), 1, "kept across the restart");
    assert!(!holds(&slow, &ahead));
    clock.set(valid_from(ahead.body()));
    wait_stored(
        &slow,
        &ahead,
        "the kept message to be stored after the restart",
    )
    .await;
    // Taken out of the set once its answer is durable, just after it shows in the store.
    wait_until("the kept message to leave the retry set", || {
        let n = pending(&slow);
        async move { n == 0 }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_retry_sets_bounds_turn_away_is_counted() {
    let base = Timestamp::now();
    // The origin's clock runs ahead of the follower's, which stands still.
    let origin_clock = Clock::manual(base.plus(20 * MINUTE));
    let origin = TestNode::start_with_clock(origin_clock.clone(), |_| {}).await;
    let clock = Clock::manual(base);
    let slow = follower(&origin, clock.clone(), |cfg| {
        cfg.federation.retry_limit = 5;
        cfg.federation.retry_limit_per_peer = 1;
        cfg.federation.retry_future_max = 30 * MINUTE;
    })
    .await;
    let key = org(90);
    // 20 minutes ahead of the follower: kept (valid in 10), then the peer's share is full.
    let first = alert_by(
        &key,
        "Miners trapped, union demands rescue",
        base.plus(20 * MINUTE),
    );
    let second = alert_by(
        &key,
        "Second shift joins the strike",
        base.plus(20 * MINUTE),
    );
    publish(&origin, &first).await;
    publish(&origin, &second).await;
    // 50 minutes ahead: valid here in 40, beyond the 30 minutes kept.
    origin_clock.set(base.plus(50 * MINUTE));
    let far = alert_by(&key, "Call for a general strike", base.plus(50 * MINUTE));
    publish(&origin, &far).await;
    let marker = alert_by(&key, "Statement of support", base);
    publish(&origin, &marker).await;
    wait_stored(&slow, &marker, "the follower to pass them").await;

    assert_eq!(pending(&slow), 1);
    let c = node(&slow).store().retry_counts().unwrap();
    assert_eq!((c.over_peer, c.over_entries), (1, 0));
    assert_eq!(node(&slow).metrics().retry.snapshot().beyond_horizon, 1);
    let t = metrics(&slow).await;
    assert!(
        t.contains("tocsin_federation_retry_not_kept_total{limit=\"peer\"} 1\n"),
        "{t}"
    );
    assert!(
        t.contains("tocsin_federation_retry_not_kept_total{limit=\"horizon\"} 1\n"),
        "{t}"
    );
    assert!(t.contains("tocsin_federation_retry_not_kept_total{limit=\"entries\"} 0\n"));
    // The one kept is the first, and it is stored when valid.
    clock.set(valid_from(first.body()));
    wait_stored(&slow, &first, "the kept message once valid").await;
    assert!(!holds(&slow, &second) && !holds(&slow, &far));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_message_is_given_up_when_it_expires() {
    let origin = TestNode::start().await;
    let clock = Clock::manual(Timestamp::now().minus(2 * MINUTE));
    let slow = follower(&origin, clock.clone(), |_| {}).await;
    let key = org(85);
    let created = Timestamp::now().plus(9 * MINUTE);
    let mut body = alert_at(&key, "Port strike: one hour to sign", created);
    body.expires_at = Some(created.plus(MINUTE * 60));
    let short = sign(body, &key);
    publish(&origin, &short).await;
    let after = alert_by(&key, "Appeal for letters", clock.now());
    publish(&origin, &after).await;
    wait_stored(
        &slow,
        &after,
        "the follower to pass the message from the future",
    )
    .await;
    assert_eq!(pending(&slow), 1);

    // The follower's clock jumps past the message's expiry before it was ever valid there.
    clock.set(created.plus(MINUTE * 61));
    let n = node(&slow);
    wait_until("the kept message to be given up", || {
        let gone = n.store().retry_counts().unwrap().pending == 0;
        async move { gone }
    })
    .await;
    assert!(!holds(&slow, &short));
    assert_eq!(n.metrics().retry.snapshot().given_up, 1);
    let t = metrics(&slow).await;
    assert!(
        t.contains("\ntocsin_federation_retry_given_up_total 1\n"),
        "{t}"
    );
}
