//! When a union's key is seized (issue 22), on a federation of three nodes A–B–C (A follows B,
//! B follows A and C, C follows B): the union committed to a recovery key first; its key is
//! taken at T; the thief posts after T; the recovery key rotates the key from T to a successor.
//! Every node keeps what the union made before T (alerts, profile, endorsement), withholds what
//! the thief made after it and says why, names the successor, and lets the successor update
//! the union's alerts; a thief's revocation dated at the key's creation erases nothing. A key
//! that never committed to a recovery key is revoked as before: everything from its creation
//! is withheld. A roster node admits the successor of a union it admits.
//!
//! The nodes share one manual clock, moved by the test: days pass between the commitment, the
//! seizure and the rotation without waiting for them. A message's created_at is its author's
//! claim and is set directly.

use std::time::Duration;

use tocsin::message::*;
use tocsin::node::Clock;
use tocsin::proto;
use tocsin::proto::relay_client::RelayClient;
use tocsin::rpc::{Client, ClientError, PublishOutcome};
use tonic::transport::Channel;

use tocsin::federation::reconcile;

use crate::support::*;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// A body by `key` made at `at`: never expiring for a key event, living 90 days otherwise
/// (longer than the days the clock is moved through).
fn made(key: &SecretKey, content: Content, at: Timestamp) -> Message {
    let expires_at = (!content.kind().is_key_event()).then(|| at.plus(90 * DAY));
    let body = Body {
        author: key.public(),
        created_at: at,
        expires_at,
        topics: vec!["union-rights".into()],
        countries: vec!["AQ".into()],
        effective_at: None,
        content,
    };
    sign(body, key)
}

fn commitment(key: &SecretKey, recovery: &SecretKey, at: Timestamp) -> Message {
    let c = RecoveryCommitment {
        recovery_digest: recovery_digest(&recovery.public()),
    };
    made(key, Content::Commitment(c), at)
}

fn profile(key: &SecretKey, name: &str, at: Timestamp) -> Message {
    let p = Profile {
        name: name.into(),
        country: "AQ".into(),
        ..Profile::default()
    };
    made(key, Content::Profile(p), at)
}

fn alert(key: &SecretKey, headline: &str, at: Timestamp) -> Message {
    made(key, Content::Alert(alert_content(headline, &["en"])), at)
}

fn call(key: &SecretKey, at: Timestamp) -> Message {
    let c = ActionCall {
        base: alert_content("Write for the four Eastport dockers", &["en"]),
        actions: vec![ActionType::Letter],
        target: "The Ministry of Labour of Eastland".into(),
        window_starts_at: None,
        window_ends_at: None,
        deadline: None,
        ilo_conventions: vec!["C087".into()],
        supervisory_body: None,
        goals: Vec::new(),
    };
    made(key, Content::Call(c), at)
}

fn endorsement(key: &SecretKey, target: Id, at: Timestamp) -> Message {
    let e = Endorsement {
        target,
        statement: "We stand with the dockers of Eastport".into(),
    };
    made(key, Content::Endorsement(e), at)
}

/// A revocation made and dated at `at`, as `tocsin keygen` prepares one.
fn revocation(key: &SecretKey, at: Timestamp) -> Message {
    let r = Revocation {
        revoked_from: at,
        successor: None,
        reason: "the key was seized".into(),
    };
    made(key, Content::Revocation(r), at)
}

/// A rotation signed by `recovery`, made at `at`: `compromised` is in other hands from
/// `since`, and `successor` (committed to `successor_recovery`) carries on.
fn rotation(
    recovery: &SecretKey,
    compromised: &SecretKey,
    since: Timestamp,
    successor: &SecretKey,
    successor_recovery: &SecretKey,
    at: Timestamp,
) -> Message {
    let r = Rotation {
        compromised: compromised.public(),
        compromised_since: since,
        successor: successor.public(),
        successor_recovery_digest: recovery_digest(&successor_recovery.public()),
        reason: "the union's laptop was taken in a raid on its Eastport office".into(),
    };
    made(recovery, Content::Rotation(Box::new(r)), at)
}

async fn accepted(client: &mut Client, m: &Message) {
    match client.publish(m.signed()).await {
        Ok(PublishOutcome::Accepted { .. }) => {}
        other => panic!("{} not accepted: {other:?}", m.body().kind()),
    }
}

/// The reason a node refuses `m` with (failing the test if it accepts it).
async fn refusal(client: &mut Client, m: &Message) -> Reason {
    match client.publish(m.signed()).await {
        Err(ClientError::Refused(r)) => r.reason,
        other => panic!("{} was not refused: {other:?}", m.body().kind()),
    }
}

/// A gRPC client made from the generated code alone, for `Get`'s and `GetKey`'s every field.
async fn raw(node: &TestNode) -> RelayClient<Channel> {
    RelayClient::connect(node.url()).await.expect("connecting")
}

/// `Get` of `id`, or `None` when the node does not hold it.
async fn get(mut raw: RelayClient<Channel>, id: Id) -> Option<proto::GetReply> {
    match raw.get(proto::GetRequest { id: id.0.to_vec() }).await {
        Ok(reply) => Some(reply.into_inner()),
        Err(s) if s.code() == tonic::Code::NotFound => None,
        Err(s) => panic!("get: {s}"),
    }
}

async fn get_key(mut raw: RelayClient<Channel>, key: &AuthorKey) -> proto::GetKeyReply {
    raw.get_key(proto::GetKeyRequest {
        key: key.as_bytes().to_vec(),
    })
    .await
    .expect("get key")
    .into_inner()
}

/// Waits (bounded) until every node's `Get` of `id` satisfies `wanted`; their replies.
async fn wait_get_everywhere(
    raws: &[RelayClient<Channel>],
    id: Id,
    what: &str,
    wanted: impl Fn(&proto::GetReply) -> bool,
) -> Vec<proto::GetReply> {
    let mut out = Vec::new();
    for (i, raw) in raws.iter().enumerate() {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let reply = get(raw.clone(), id).await;
            if let Some(r) = reply.as_ref().filter(|r| wanted(r)) {
                out.push(r.clone());
                break;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("node {i}: timed out waiting for {what}: {reply:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    out
}

/// Waits (bounded) until every node's `GetKey` of `key` satisfies `wanted`; their replies.
async fn wait_key_everywhere(
    raws: &[RelayClient<Channel>],
    key: &AuthorKey,
    what: &str,
    wanted: impl Fn(&proto::GetKeyReply) -> bool,
) -> Vec<proto::GetKeyReply> {
    let mut out = Vec::new();
    for (i, raw) in raws.iter().enumerate() {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let reply = get_key(raw.clone(), key).await;
            if wanted(&reply) {
                out.push(reply);
                break;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("node {i}: timed out waiting for {what}: {reply:#?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    out
}

/// Content served: neither withheld nor withdrawn.
fn shown(r: &proto::GetReply) -> bool {
    r.message.is_some() && !r.withheld
}

/// The id of the version a `Get` says is current.
fn current_id(r: &proto::GetReply) -> Option<Id> {
    r.current.as_ref().map(|m| Id::of(&m.body))
}

/// Three nodes A–B–C on one manual clock standing at `start`.
async fn federation(start: Timestamp) -> (Mesh, Clock, Vec<Client>, Vec<RelayClient<Channel>>) {
    let clock = Clock::manual(start);
    let mesh = Mesh::start_with_clocks(&[(0, 1), (1, 2)], vec![clock.clone(); 3]).await;
    let mut clients = Vec::new();
    let mut raws = Vec::new();
    for n in &mesh.nodes {
        clients.push(n.client().await);
        raws.push(raw(n).await);
    }
    (mesh, clock, clients, raws)
}

const A: usize = 0;
const B: usize = 1;
const C: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seized_key_is_rotated_and_the_union_keeps_its_history_on_every_node() {
    let start = Timestamp::now();
    let (_mesh, clock, mut clients, raws) = federation(start).await;
    let (union, recovery, successor, successor_recovery) = (org(201), org(202), org(203), org(204));
    let (northland, westland) = (org(205), org(206));
    let keygen = start.minus(MINUTE);

    // The union's key is made a minute before its first message, its commitment to a recovery
    // key kept abroad (published at A); its profile follows.
    let committed = commitment(&union, &recovery, start);
    accepted(&mut clients[A], &committed).await;
    let name = profile(
        &union,
        "Eastland Dockworkers' Union",
        start.plus(Duration::from_millis(1)),
    );
    accepted(&mut clients[A], &name).await;
    // Another union's call (at C), endorsed by a third union (at B).
    let the_call = call(&northland, start);
    accepted(&mut clients[C], &the_call).await;
    accepted(
        &mut clients[B],
        &endorsement(&westland, the_call.id(), start),
    )
    .await;

    // An hour on, the union posts two alerts (at A and B) and endorses the call (at A).
    clock.advance(HOUR);
    let now = clock.now();
    let first = alert(&union, "Four dockers detained in Eastport", now);
    let second = alert(
        &union,
        "Eastport dockers' strike enters its third day",
        now.plus(Duration::from_millis(1)),
    );
    accepted(&mut clients[A], &first).await;
    accepted(&mut clients[B], &second).await;
    accepted(&mut clients[A], &endorsement(&union, the_call.id(), now)).await;
    let endorsed_by_both = |r: &proto::GetReply| r.endorsers.len() == 2;
    wait_get_everywhere(
        &raws,
        the_call.id(),
        "two endorsements of the call",
        endorsed_by_both,
    )
    .await;

    // The key is seized at T, two days on; an hour later the thief posts at B with it, and
    // every node takes it (nothing says yet that the key is in other hands).
    let seized_at = start.plus(2 * DAY);
    clock.set(seized_at.plus(HOUR));
    let forged = alert(
        &union,
        "Eastland Dockworkers' Union calls off the strike",
        clock.now(),
    );
    accepted(&mut clients[B], &forged).await;
    wait_get_everywhere(&raws, forged.id(), "the thief's alert", shown).await;

    // A day after the seizure the union's officers abroad rotate the key from T with the
    // recovery key, to a successor with a recovery key of its own (published at C).
    clock.set(seized_at.plus(DAY));
    let rotated = rotation(
        &recovery,
        &union,
        seized_at,
        &successor,
        &successor_recovery,
        clock.now(),
    );
    accepted(&mut clients[C], &rotated).await;

    // Every node: the key ends at T by the rotation, and the successor carries on.
    let keys = wait_key_everywhere(&raws, &union.public(), "the rotation", |k| {
        k.end.as_ref().is_some_and(|e| e.rotation == rotated.id().0)
    })
    .await;
    for (i, k) in keys.iter().enumerate() {
        let end = k.end.as_ref().expect("an end");
        assert_eq!(end.from, seized_at.as_millis(), "node {i}: the end is at T");
        assert_eq!(end.compromised_since, seized_at.as_millis(), "node {i}");
        assert_eq!(
            end.by,
            rotated.id().0.to_vec(),
            "node {i}: set by the rotation"
        );
        assert_eq!(end.by_kind, proto::Kind::Rotation as i32, "node {i}");
        assert_eq!(
            end.successor,
            successor.public().as_bytes().to_vec(),
            "node {i}"
        );
        let c = k.commitment.as_ref().expect("the commitment in force");
        assert_eq!(
            c.id,
            committed.id().0.to_vec(),
            "node {i}: the commitment in force"
        );
        assert_eq!(
            c.recovery_digest,
            recovery_digest(&recovery.public()).to_vec()
        );
        assert!(k.conflicting.is_empty(), "node {i}: {:?}", k.conflicting);
    }
    let successors = wait_key_everywhere(&raws, &successor.public(), "the successor's link", |k| {
        k.predecessor == union.public().as_bytes().to_vec()
    })
    .await;
    for (i, k) in successors.iter().enumerate() {
        let c = k
            .commitment
            .as_ref()
            .expect("the successor's commitment, made by the rotation");
        assert!(c.by_rotation, "node {i}");
        assert_eq!(
            c.recovery_digest,
            recovery_digest(&successor_recovery.public()).to_vec()
        );
        assert!(
            k.end.is_none(),
            "node {i}: the successor's key does not end"
        );
    }

    // Every node withholds the thief's alert, and says why.
    let withheld = wait_get_everywhere(&raws, forged.id(), "the thief's alert withheld", |r| {
        r.withheld
    })
    .await;
    for (i, r) in withheld.iter().enumerate() {
        assert!(
            r.message.is_none() && r.current.is_none(),
            "node {i}: its content is served"
        );
        assert!(
            r.withheld_reason.contains("recovery key")
                && r.withheld_reason.contains(&successor.public().short()),
            "node {i}: {:?}",
            r.withheld_reason
        );
    }
    // ...and keeps everything the union made before T: alerts, profile, commitment and its
    // endorsement in the call's tally.
    for (what, id) in [
        ("the first alert", first.id()),
        ("the second alert", second.id()),
        ("the profile", name.id()),
        ("the commitment", committed.id()),
    ] {
        for (i, raw) in raws.iter().enumerate() {
            let r = get(raw.clone(), id)
                .await
                .unwrap_or_else(|| panic!("node {i}: {what} is gone"));
            assert!(
                shown(&r) && r.withheld_reason.is_empty(),
                "node {i}: {what} is withheld: {r:?}"
            );
        }
    }
    for (i, raw) in raws.iter().enumerate() {
        let r = get(raw.clone(), the_call.id()).await.expect("the call");
        let mut endorsers: Vec<Vec<u8>> = r.endorsers.iter().map(|e| e.author.clone()).collect();
        endorsers.sort();
        let mut expected = vec![
            union.public().as_bytes().to_vec(),
            westland.public().as_bytes().to_vec(),
        ];
        expected.sort();
        assert_eq!(endorsers, expected, "node {i}: the call's endorsements");
    }
    // The thief's next post is refused wherever it goes.
    let more = alert(
        &union,
        "Eastland Dockworkers' Union leaves the federation",
        clock.now(),
    );
    for c in clients.iter_mut() {
        assert_eq!(refusal(c, &more).await, Reason::RevokedAuthor);
    }

    // The successor updates the first alert (at B): current on every node.
    let update = Update {
        supersedes: first.id(),
        content: UpdateContent::Alert(alert_content(
            "Four dockers released; charges pending",
            &["en"],
        )),
    };
    let updated = made(&successor, Content::Update(update), clock.now());
    accepted(&mut clients[B], &updated).await;
    let replies = wait_get_everywhere(&raws, first.id(), "the successor's update", |r| {
        current_id(r) == Some(updated.id())
    })
    .await;
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(r.updates, vec![updated.id().0.to_vec()], "node {i}");
        assert!(shown(r), "node {i}: the original is still served");
    }

    // The thief publishes the revocation made at keygen, dated at the key's creation, after the
    // commitment: refused at every node it is published to; nothing it names is withheld.
    let erase = revocation(&union, keygen);
    for c in clients.iter_mut() {
        assert_eq!(refusal(c, &erase).await, Reason::RecoveryCommitted);
    }
    for (i, raw) in raws.iter().enumerate() {
        assert!(
            get(raw.clone(), erase.id()).await.is_none(),
            "node {i} holds it"
        );
        let r = get(raw.clone(), first.id()).await.expect("the first alert");
        assert!(shown(&r), "node {i}: {r:?}");
        let k = get_key(raw.clone(), &union.public()).await;
        assert_eq!(
            k.end.map(|e| e.from),
            Some(seized_at.as_millis()),
            "node {i}: the end moved"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_without_a_recovery_commitment_is_revoked_from_its_creation_as_before() {
    let start = Timestamp::now();
    let (_mesh, clock, mut clients, raws) = federation(start).await;
    let union = org(211);
    let keygen = start.minus(MINUTE);
    // The revocation `tocsin keygen` prepares, dated at the key's creation.
    let prepared = revocation(&union, keygen);

    let name = profile(&union, "Southland Rail Workers' Union", start);
    let posted = alert(&union, "Southland rail strike from Monday", start);
    accepted(&mut clients[A], &name).await;
    accepted(&mut clients[A], &posted).await;
    wait_get_everywhere(&raws, posted.id(), "the alert", shown).await;

    // The key is seized; its officers abroad publish the prepared revocation at C a day on.
    clock.advance(DAY);
    accepted(&mut clients[C], &prepared).await;
    for id in [posted.id(), name.id()] {
        let replies = wait_get_everywhere(&raws, id, "withheld from the key's creation", |r| {
            r.withheld
        })
        .await;
        for (i, r) in replies.iter().enumerate() {
            assert!(r.message.is_none(), "node {i}: its content is served");
            assert!(
                r.withheld_reason.contains("revoked"),
                "node {i}: {:?}",
                r.withheld_reason
            );
        }
    }
    for (i, raw) in raws.iter().enumerate() {
        let k = get_key(raw.clone(), &union.public()).await;
        assert!(k.commitment.is_none(), "node {i}");
        let end = k.end.expect("the key ends");
        assert_eq!(
            end.from,
            keygen.as_millis(),
            "node {i}: from the key's creation"
        );
        assert_eq!(end.by, prepared.id().0.to_vec(), "node {i}");
        assert_eq!(end.by_kind, proto::Kind::Revocation as i32, "node {i}");
        assert!(
            end.rotation.is_empty() && end.successor.is_empty(),
            "node {i}"
        );
    }
    let later = alert(&union, "Southland rail strike called off", clock.now());
    assert_eq!(
        refusal(&mut clients[B], &later).await,
        Reason::RevokedAuthor
    );
}

#[tokio::test]
async fn a_roster_node_admits_the_successor_of_a_union_on_a_trusted_roster() {
    let (federation_key, union, recovery, successor, successor_recovery, stranger) =
        (org(221), org(222), org(223), org(224), org(225), org(226));
    let start = Timestamp::now();
    let node = TestNode::start_with_clock(Clock::manual(start), |c| {
        c.trust.policy = tocsin::config::TrustPolicy::Roster;
        c.trust.federations = vec![federation_key.public().to_hex()];
    })
    .await;
    let mut client = node.client().await;
    let roster = Roster {
        members: vec![RosterMember {
            key: union.public(),
            name: "Eastland Dockworkers' Union".into(),
            country: "AQ".into(),
        }],
    };
    accepted(
        &mut client,
        &made(&federation_key, Content::Roster(roster), start),
    )
    .await;
    accepted(&mut client, &commitment(&union, &recovery, start)).await;
    accepted(
        &mut client,
        &alert(&union, "Four dockers detained in Eastport", start),
    )
    .await;

    // Before the rotation the successor is nobody here.
    let too_soon = alert(&successor, "The union has a new key", start);
    assert_eq!(refusal(&mut client, &too_soon).await, Reason::NotAdmitted);

    let seized_at = start.plus(Duration::from_millis(10));
    node.clock.advance(HOUR);
    let now = node.clock.now();
    let rotated = rotation(
        &recovery,
        &union,
        seized_at,
        &successor,
        &successor_recovery,
        now,
    );
    accepted(&mut client, &rotated).await;

    // Now it carries on for a member of a trusted federation's roster; a stranger still does not.
    accepted(
        &mut client,
        &alert(&successor, "The union has a new key", now),
    )
    .await;
    let stranger_alert = alert(&stranger, "An unknown key speaks for the dockers", now);
    assert_eq!(
        refusal(&mut client, &stranger_alert).await,
        Reason::NotAdmitted
    );
}

/// A thief's revocation reaching back before the key's commitment, made so that its id sorts
/// before the commitment's: the order ids are found, asked for and offered in.
fn revocation_sorting_before(
    key: &SecretKey,
    reaching: Timestamp,
    at: Timestamp,
    commitment: &Message,
) -> Message {
    for n in 0..200 {
        let r = Revocation {
            revoked_from: reaching,
            successor: None,
            reason: format!("the union dissolved itself ({n})"),
        };
        let m = made(key, Content::Revocation(r), at);
        if m.id() < commitment.id() && m.id().0[0] < 0x80 {
            return m;
        }
    }
    panic!("no revocation whose id sorts early in 200 tries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_node_reconciling_takes_a_keys_commitment_before_the_thiefs_revocation() {
    // The holder took the commitment first, so the thief's revocation (which reaches back a
    // day, before the commitment) ends the key only from its own making, and the union's alert
    // stands. A node that catches up by reconciliation alone must come to the same.
    let start = Timestamp::now();
    let clock = Clock::manual(start);
    let holder = TestNode::start_with_clock(clock.clone(), |_| {}).await;
    let union = org(221);
    // A commitment whose id sorts late: with the other organisations' alerts below, the
    // revocation is asked for, offered and exported in an earlier batch of ids than it.
    let committed = (0..=255u8)
        .map(|n| commitment(&union, &SecretKey::from_seed(&[n; 32]), start))
        .find(|c| c.id().0[0] >= 0xf0)
        .expect("a commitment whose id sorts late");
    let mut client = holder.client().await;
    accepted(&mut client, &committed).await;
    let others: Vec<Message> = (0..300u16)
        .map(|i| {
            let mut seed = [9u8; 32];
            seed[..2].copy_from_slice(&i.to_le_bytes());
            let key = SecretKey::from_seed(&seed);
            alert(&key, &format!("Northmoor solidarity message {i}"), start)
        })
        .collect();
    for m in &others {
        accepted(&mut client, m).await;
    }
    clock.advance(MINUTE);
    let posted = alert(
        &union,
        "Northmoor miners: four arrested at the pithead",
        clock.now(),
    );
    accepted(&mut client, &posted).await;
    clock.advance(MINUTE);
    let thief = revocation_sorting_before(&union, start.minus(DAY), clock.now(), &committed);
    accepted(&mut client, &thief).await;
    let mut ids: Vec<Id> = others.iter().map(|m| m.id()).collect();
    ids.extend([committed.id(), posted.id(), thief.id()]);
    ids.sort();
    let batch = |id: Id| ids.iter().position(|i| *i == id).unwrap() / 256;
    assert!(
        batch(thief.id()) < batch(committed.id()),
        "the test needs them in different batches"
    );

    for way in ["fetched", "offered", "carried"] {
        let fresh = TestNode::start_with_clock(clock.clone(), |_| {}).await;
        match way {
            "fetched" => {
                let target = peer_target(&holder, "holder").await;
                let mut to_holder = holder.client().await;
                let status = reconcile(fresh.server().node(), &mut to_holder, &target).await;
                assert_eq!(
                    (status.error.as_str(), status.fetched),
                    ("", 303),
                    "{status:?}"
                );
            }
            "offered" => {
                let target = peer_target(&fresh, "fresh").await;
                let mut to_fresh = fresh.client().await;
                let status = reconcile(holder.server().node(), &mut to_fresh, &target).await;
                assert_eq!(
                    (status.error.as_str(), status.offered),
                    ("", 303),
                    "{status:?}"
                );
            }
            _ => {
                // On a USB stick: `have` at the new node, `export --for` at the holder.
                let desk = tempfile::tempdir().unwrap();
                let have = desk.path().join("new.have").display().to_string();
                let stick = desk.path().join("stick.tocsin").display().to_string();
                let (fresh_url, holder_url) = (fresh.url(), holder.url());
                tokio::task::spawn_blocking(move || {
                    for args in [
                        vec!["have", "--node", &fresh_url, "--out", &have],
                        vec![
                            "export",
                            "--for",
                            &have,
                            "--node",
                            &holder_url,
                            "--out",
                            &stick,
                        ],
                        vec!["import", &stick, "--node", &fresh_url],
                    ] {
                        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"))
                            .args(&args)
                            .env_remove("TOCSIN_NODE")
                            .output()
                            .unwrap();
                        assert!(out.status.success(), "{args:?}: {out:?}");
                    }
                })
                .await
                .unwrap();
            }
        }
        let raw = raw(&fresh).await;
        let got = get(raw.clone(), posted.id()).await;
        assert!(
            got.as_ref().is_some_and(shown),
            "{way}: the union's alert was withheld: {got:?}"
        );
        let k = get_key(raw.clone(), &union.public()).await;
        assert!(k.commitment.is_some(), "{way}: the commitment was refused");
        let end = k.end.expect("the key ends");
        assert_eq!(
            end.from,
            thief.body().created_at.as_millis(),
            "{way}: {end:?}"
        );
    }
}
