//! Where readers look after a union's key is seized and rotated by its recovery key: the web
//! page (the list of keys revoked and rotated, the successor under the union's name, the
//! cached page made again), the withheld message's page, `/metrics`, and `tocsin show` and
//! `tocsin follow`.

use std::net::SocketAddr;
use std::time::Duration;

use tocsin::message::*;
use tocsin::rpc::PublishOutcome;

use crate::cli::{run, stderr, stdout};
use crate::http::{get, get_with};
use crate::support::*;

const UNION: &str = "Eastland Dockworkers' Union";
/// The union's name as the page writes it (escaped).
const UNION_HTML: &str = "Eastland Dockworkers&#39; Union";
const REASON: &str = "phone taken at a checkpoint";

fn http(node: &TestNode) -> SocketAddr {
    node.server().http_addr().expect("the gateway is on")
}

async fn publish(node: &TestNode, m: &Message) {
    match node.client().await.publish(m.signed()).await {
        Ok(PublishOutcome::Accepted { .. }) => {}
        other => panic!("expected acceptance of a {}, got {other:?}", m.kind()),
    }
}

/// A body by `key` created at `at`; key events never expire.
fn body_at(key: &SecretKey, content: Content, at: Timestamp) -> Body {
    let mut b = body(key, content);
    b.created_at = at;
    if !b.content.kind().is_key_event() {
        b.expires_at = Some(at.plus(Duration::from_secs(7 * 24 * 3600)));
    } else {
        b.expires_at = None;
    }
    b
}

/// The union's story, up to its rotation: the messages, and the keys.
struct Seizure {
    union: SecretKey,
    successor: SecretKey,
    /// Posted by the union before its key was taken.
    before: Message,
    /// Posted with the seized key by whoever took it.
    forged: Message,
    rotation: Message,
    /// Posted by the successor after the rotation.
    after: Message,
}

/// A union commits to a recovery key, names itself, posts an alert; its key is taken at `seized`
/// and the thief posts; then (not yet published) its recovery key rotates to a successor, who
/// posts.
async fn seizure_until_rotation(node: &TestNode) -> Seizure {
    let union = org(41);
    let recovery = org(42);
    let successor = org(43);
    let successor_recovery = org(44);
    // A few minutes back: within what a node takes from a client for a committed key.
    let base = Timestamp::now().minus(Duration::from_secs(5 * 60));
    let second = |n: u64| base.plus(Duration::from_secs(n));
    let commitment = RecoveryCommitment {
        recovery_digest: recovery_digest(&recovery.public()),
    };
    publish(
        node,
        &sign(
            body_at(&union, Content::Commitment(commitment), base),
            &union,
        ),
    )
    .await;
    let profile = Profile {
        name: UNION.into(),
        country: "AZ".into(),
        ..Profile::default()
    };
    publish(
        node,
        &sign(
            body_at(&union, Content::Profile(profile), second(1)),
            &union,
        ),
    )
    .await;
    let before = sign(
        alert_at(&union, "Dawn arrests at the port", second(2)),
        &union,
    );
    publish(node, &before).await;
    let seized = second(3);
    let forged = sign(alert_at(&union, "Strike called off", second(4)), &union);
    publish(node, &forged).await;
    let rotation = Rotation {
        compromised: union.public(),
        compromised_since: seized,
        successor: successor.public(),
        successor_recovery_digest: recovery_digest(&successor_recovery.public()),
        reason: REASON.into(),
    };
    let rotation = sign(
        body_at(
            &recovery,
            Content::Rotation(Box::new(rotation)),
            Timestamp::now(),
        ),
        &recovery,
    );
    let after = sign(alert(&successor, "Port blockade continues"), &successor);
    Seizure {
        union,
        successor,
        before,
        forged,
        rotation,
        after,
    }
}

#[tokio::test]
async fn readers_see_the_rotation_the_successor_under_the_unions_name_and_why_a_forgery_is_withheld()
 {
    let node = TestNode::start().await;
    let addr = http(&node);
    let s = seizure_until_rotation(&node).await;
    let (union, successor) = (s.union.public(), s.successor.public());

    // Before the rotation: the forgery shows, no key has ended, and the page is cached.
    let first = get(addr, "/").await;
    assert_eq!(first.status, 200);
    assert!(first.body.contains("Strike called off"), "{}", first.body);
    assert!(!first.body.contains("Keys revoked and rotated"));
    let etag = first.header("etag").expect("an ETag").to_string();
    assert_eq!(
        get_with(addr, "/", &[("if-none-match", &etag)])
            .await
            .status,
        304
    );

    publish(&node, &s.rotation).await;
    publish(&node, &s.after).await;

    // The page is made again (its validators changed) and lists the rotation plainly.
    let page = get_with(addr, "/", &[("if-none-match", &etag)]).await;
    assert_eq!(page.status, 200, "the cached page outlived the rotation");
    let body = &page.body;
    let section = body
        .split("Keys revoked and rotated")
        .nth(1)
        .unwrap_or_else(|| panic!("no section on key events: {body}"));
    assert!(section.contains(UNION_HTML), "{section}");
    assert!(section.contains(&union.short()), "{section}");
    assert!(
        section.contains("rotated</span> by its recovery key"),
        "{section}"
    );
    assert!(section.contains(&successor.short()), "{section}");
    assert!(section.contains(REASON), "{section}");
    // The forgery is gone; the union's earlier alert stands, with a note on its key; the
    // successor's alert is under the union's name, as its new key.
    assert!(!body.contains("Strike called off"), "{body}");
    assert!(body.contains("Dawn arrests at the port"), "{body}");
    assert!(
        body.contains(&format!(
            "By <strong dir=\"auto\">{UNION_HTML}</strong> <span class=\"keynote\">(key rotated on"
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "By <strong dir=\"auto\">{UNION_HTML}</strong> <span class=\"keynote\">(new key since"
        )),
        "{body}"
    );
    assert!(body.contains("Port blockade continues"), "{body}");
    let kept = get(addr, &format!("/m/{}", s.before.id())).await;
    assert_eq!(kept.status, 200);
    assert!(kept.body.contains("Key history"), "{}", kept.body);
    let successor_page = get(addr, &format!("/m/{}", s.after.id())).await;
    assert_eq!(successor_page.status, 200);
    assert!(
        successor_page.body.contains(&format!(
            "its new key: it carries on for <span class=\"mono\" title=\"{}\">{}…",
            union.to_hex(),
            union.short()
        )),
        "{}",
        successor_page.body
    );

    // The forgery's page: gone (the README's "a withdrawn message answers 410 Gone", as its
    // CAP document does), saying why.
    let withheld = get(addr, &format!("/m/{}", s.forged.id())).await;
    assert_eq!(withheld.status, 410);
    assert_eq!(
        get(addr, &format!("/cap/{}.xml", s.forged.id()))
            .await
            .status,
        410
    );
    assert!(
        withheld.body.contains("<h1>Withheld</h1>"),
        "{}",
        withheld.body
    );
    assert!(
        withheld
            .body
            .contains("rotated by its recovery key after a compromise"),
        "{}",
        withheld.body
    );
    assert!(withheld.body.contains(UNION_HTML), "{}", withheld.body);
    assert!(!withheld.body.contains("Strike called off"));

    // /metrics counts the rotation, and the commitments (the union's, and its successor's).
    let metrics = get(addr, "/metrics").await.body;
    for line in [
        "tocsin_keys_rotated 1",
        "tocsin_keys_revoked 0",
        "tocsin_key_commitments 2",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in {metrics}"
        );
    }

    // `tocsin show` of the forgery says why, and fails as for a message not there.
    let url = node.url();
    let forged = s.forged.id().to_hex();
    let out = run(&["show", &forged, "--node", &url]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("withheld by this node: key rotated by its recovery key"),
        "{}",
        stderr(&out)
    );
    let out = run(&["show", &forged, "--node", &url, "--json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("JSON");
    assert_eq!(json["withheld"], true);
    assert!(
        json["withheld_reason"]
            .as_str()
            .is_some_and(|r| r.contains("rotated by its recovery key")),
        "{json}"
    );
    assert!(json["message"].is_null());

    // `tocsin follow` prints the rotation in words, and the successor under the union's name.
    let feed = crate::cli::follow_caught_up(&url, &[]).await;
    assert!(
        feed.contains(&format!(
            "ROTATION {UNION}: key {} compromised from",
            union.short()
        )),
        "{feed}"
    );
    assert!(
        feed.contains(&format!("carries on as {} — {REASON}", successor.short())),
        "{feed}"
    );
    assert!(
        feed.contains(&format!(
            "by {UNION} ({}) · new key since",
            successor.short()
        )),
        "{feed}"
    );
    assert!(!feed.contains("Strike called off"), "{feed}");
}

#[tokio::test]
async fn a_key_revoked_without_a_recovery_key_is_listed_as_revoked_and_counted_apart() {
    let node = TestNode::start().await;
    let addr = http(&node);
    let nurses = org(45);
    let profile = Profile {
        name: "Northport Nurses' Association".into(),
        ..Profile::default()
    };
    publish(
        &node,
        &sign(body(&nurses, Content::Profile(profile)), &nurses),
    )
    .await;
    let later = Timestamp::now().plus(Duration::from_secs(60));
    let revocation = Revocation {
        revoked_from: later,
        successor: None,
        reason: "laptop lost".into(),
    };
    publish(
        &node,
        &sign(body(&nurses, Content::Revocation(revocation)), &nurses),
    )
    .await;
    let page = get(addr, "/").await.body;
    let section = page
        .split("Keys revoked and rotated")
        .nth(1)
        .unwrap_or_else(|| panic!("no section on key events: {page}"));
    assert!(
        section.contains("Northport Nurses&#39; Association"),
        "{section}"
    );
    assert!(section.contains("revoked</span>;"), "{section}");
    assert!(section.contains("laptop lost"), "{section}");
    let metrics = get(addr, "/metrics").await.body;
    for line in ["tocsin_keys_rotated 0", "tocsin_keys_revoked 1"] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in {metrics}"
        );
    }
}

#[tokio::test]
async fn a_second_commitment_to_another_recovery_key_is_shown_as_a_warning() {
    let node = TestNode::start().await;
    let addr = http(&node);
    let (tailors, recovery, thiefs_recovery) = (org(46), org(47), org(48));
    let now = Timestamp::now();
    let profile = Profile {
        name: "Westhaven Tailors' Union".into(),
        ..Profile::default()
    };
    publish(
        &node,
        &sign(body(&tailors, Content::Profile(profile)), &tailors),
    )
    .await;
    let commit = |to: &SecretKey, at: Timestamp| {
        let c = RecoveryCommitment {
            recovery_digest: recovery_digest(&to.public()),
        };
        sign(body_at(&tailors, Content::Commitment(c), at), &tailors)
    };
    publish(
        &node,
        &commit(&recovery, now.minus(Duration::from_secs(60))),
    )
    .await;
    let page = get(addr, "/").await.body;
    assert!(!page.contains("conflicting recovery commitment"), "{page}");
    // Someone who has the key commits it to a recovery key of their own, later: not in force,
    // shown as a warning beside the union's name.
    publish(&node, &commit(&thiefs_recovery, now)).await;
    let page = get(addr, "/").await.body;
    let section = page
        .split("Keys revoked and rotated")
        .nth(1)
        .unwrap_or_else(|| panic!("no section on key events: {page}"));
    assert!(
        section.contains("Westhaven Tailors&#39; Union"),
        "{section}"
    );
    assert!(
        section.contains("Warning: conflicting recovery commitment"),
        "{section}"
    );
    let key = node
        .client()
        .await
        .key_state(&tailors.public())
        .await
        .unwrap();
    assert_eq!(
        key.commitment.map(|c| c.recovery_digest),
        Some(recovery_digest(&recovery.public())),
        "the first commitment stays in force"
    );
    assert_eq!(key.conflicting.len(), 1);
    assert!(key.end.is_none(), "a warning, not an end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_by_a_stranger_is_shown_as_not_in_force() {
    let node = TestNode::start().await;
    let url = node.url();
    let s = seizure_until_rotation(&node).await;
    // Anyone may sign a "rotation" of the union's key with a key of their own.
    let stranger = org(45);
    let fake = Rotation {
        compromised: s.union.public(),
        compromised_since: Timestamp::now(),
        successor: org(47).public(),
        successor_recovery_digest: recovery_digest(&org(46).public()),
        reason: "Eastland key seized by police; follow our new key".into(),
    };
    let fake = sign(
        body_at(
            &stranger,
            Content::Rotation(Box::new(fake)),
            Timestamp::now(),
        ),
        &stranger,
    );
    publish(&node, &fake).await;
    let fake_id = fake.id().to_hex();
    let shown = stdout(&run(&["show", &fake_id, "--node", &url]).await);
    assert!(shown.contains("NOT IN FORCE"), "{shown}");
    assert!(shown.contains("holds no commitment"), "{shown}");

    publish(&node, &s.rotation).await;
    let rotation_id = s.rotation.id().to_hex();
    let shown = stdout(&run(&["show", &rotation_id, "--node", &url]).await);
    assert!(!shown.contains("NOT IN FORCE"), "{shown}");
    let followed = stdout(
        &run(&[
            "follow",
            "--node",
            &url,
            "--kind",
            "rotation",
            "--until-caught-up",
        ])
        .await,
    );
    assert_eq!(followed.matches("NOT IN FORCE").count(), 1, "{followed}");
}
