//! The key commands against real nodes: `keygen` with a recovery key, the commitment published
//! before a key's first post, `commit`, `rotate`, `revoke --key --successor`, `key`, and their
//! usage errors. Every organisation here is fictional.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tocsin::message::{AuthorKey, Id, Kind, Timestamp, recovery_digest};
use tocsin::rpc::Client;

use crate::cli::{Desk, fails, follow_caught_up, ok, posted, run, stderr, stdout};
use crate::support::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Makes a key with its recovery key (keygen's default): (its file, its public key).
async fn key_with_recovery(desk: &Desk, name: &str) -> (String, AuthorKey) {
    let file = desk.p(name);
    let out = ok(run(&["keygen", &file]).await);
    (
        file,
        out.trim().parse().expect("keygen prints the public key"),
    )
}

/// The public key in `FILE.recovery.pub`.
fn recovery_public(key_file: &str) -> AuthorKey {
    let text = std::fs::read_to_string(format!("{key_file}.recovery.pub")).expect("reading");
    text.trim().parse().expect("a public key in hex")
}

/// `tocsin post alert` with the least a valid alert needs, as JSON: (id, seq).
async fn post_alert(url: &str, key: &str, headline: &str) -> std::process::Output {
    run(&[
        "post",
        "alert",
        "--key",
        key,
        "--node",
        url,
        "--lang",
        "en",
        "--headline",
        headline,
        "--description",
        "Fictional: the harbour authority locked out the night shift.",
        "--json",
    ])
    .await
}

async fn created_at(client: &mut Client, id: &str) -> Timestamp {
    let id: Id = id.parse().expect("an id");
    let state = client.get(id).await.expect("get").expect("held");
    let message = tocsin::message::Message::from_store(state.message.expect("served"))
        .expect("a message the node holds");
    message.body().created_at
}

/// A time in RFC 3339 with milliseconds: `--since` one millisecond after `t`.
fn rfc3339_millis(t: Timestamp) -> String {
    let ts = jiff::Timestamp::from_millisecond(i64::try_from(t.as_millis()).expect("a time"))
        .expect("a time jiff can write");
    ts.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keygen_writes_the_key_its_recovery_key_and_revocation_and_never_overwrites() {
    let desk = Desk::new();
    let (file, public) = key_with_recovery(&desk, "harbour.key").await;
    let file = Path::new(&file);
    let beside = |suffix: &str| desk.path(&format!("harbour.key{suffix}"));
    for secret in [
        file.to_path_buf(),
        beside(".recovery"),
        beside(".revocation"),
    ] {
        assert_eq!(mode(&secret), 0o600, "{}", secret.display());
    }
    // The recovery key's file says what it recovers; its public half is beside the key.
    let (recovery, recovers) = tocsin::keyfile::load_recovery(&beside(".recovery")).unwrap();
    assert_eq!(recovers, Some(public));
    assert_eq!(
        recovery_public(&file.display().to_string()),
        recovery.public()
    );
    assert!(!beside(".committed").exists());
    // The recovery key cannot be used to post.
    let out = post_alert(
        "http://127.0.0.1:9",
        &beside(".recovery").display().to_string(),
        "H",
    )
    .await;
    fails(out, 1, "is a recovery key");

    // Never overwritten, and nothing is written when any one of the files is there.
    let again = run(&["keygen", &file.display().to_string()]).await;
    fails(again, 1, "exists already");
    std::fs::write(desk.path("dock.key.recovery.pub"), "left over\n").unwrap();
    fails(
        run(&["keygen", &desk.p("dock.key")]).await,
        1,
        "exists already",
    );
    assert!(
        !desk.path("dock.key").exists(),
        "no key without its recovery key"
    );

    // --no-recovery: today's two files exactly.
    ok(run(&["keygen", "--out", &desk.p("plain.key"), "--no-recovery"]).await);
    assert!(desk.path("plain.key").exists() && desk.path("plain.key.revocation").exists());
    assert!(!desk.path("plain.key.recovery").exists());
    assert!(!desk.path("plain.key.recovery.pub").exists());
    fails(
        run(&[
            "keygen",
            &desk.p("x.key"),
            "--no-recovery",
            "--node",
            "http://127.0.0.1:9",
        ])
        .await,
        2,
        "--no-recovery",
    );
    fails(run(&["keygen"]).await, 2, "FILE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_post_publishes_the_commitment_first_and_later_posts_do_not() {
    let node = TestNode::start().await;
    let url = node.url();
    let desk = Desk::new();
    let (key, public) = key_with_recovery(&desk, "harbour.key").await;

    let first = post_alert(
        &url,
        &key,
        "Night shift locked out at the fictional harbour",
    )
    .await;
    let err = stderr(&first);
    let (_, seq, status) = posted(&ok(first));
    assert_eq!(status, "accepted");
    assert_eq!(seq, 2, "the commitment went first, at #1");
    assert!(err.contains("recovery commitment"), "{err}");
    assert!(Path::new(&format!("{key}.committed")).exists());

    let state = node.client().await.key_state(&public).await.unwrap();
    let commitment = state.commitment.expect("the node holds the commitment");
    assert_eq!(
        commitment.recovery_digest,
        recovery_digest(&recovery_public(&key))
    );
    assert!(!commitment.by_rotation);
    assert!(state.end.is_none() && state.conflicting.is_empty());

    let second = post_alert(&url, &key, "The lockout continues").await;
    assert!(
        !stderr(&second).contains("recovery commitment"),
        "{}",
        stderr(&second)
    );
    assert_eq!(posted(&ok(second)).1, 3);
    let commitments = follow_caught_up(&url, &["--kind", "commitment", "--json"]).await;
    assert_eq!(commitments.lines().count(), 1, "{commitments}");

    // `tocsin key` on the key file, as JSON and as text.
    let json: serde_json::Value =
        serde_json::from_str(&ok(run(&["key", &key, "--node", &url, "--json"]).await)).unwrap();
    assert_eq!(json["key"], public.to_hex().as_str());
    assert_eq!(json["commitment"]["id"], commitment.id.to_hex().as_str());
    assert!(json["end"].is_null(), "{json}");
    let text = ok(run(&["key", &public.to_hex(), "--node", &url]).await);
    assert!(text.contains("committed to a recovery key"), "{text}");
    // A public key file (readable by all, as keygen writes it) names its key too.
    let pub_file = format!("{key}.recovery.pub");
    let json: serde_json::Value =
        serde_json::from_str(&ok(run(&["key", &pub_file, "--node", &url, "--json"]).await))
            .unwrap();
    assert_eq!(json["key"], recovery_public(&key).to_hex().as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_withholds_what_the_old_key_signs_after_and_the_successor_carries_on() {
    let node = TestNode::start().await;
    let url = node.url();
    let mut client = node.client().await;
    let desk = Desk::new();
    let (old, old_public) = key_with_recovery(&desk, "harbour.key").await;
    let (new, new_public) = key_with_recovery(&desk, "harbour-2.key").await;
    let recovery = format!("{old}.recovery");
    let (alert, _, _) = posted(&ok(post_alert(&url, &old, "Lockout at the harbour").await));
    let seized = rfc3339_millis(
        created_at(&mut client, &alert)
            .await
            .plus(std::time::Duration::from_millis(1)),
    );

    // Guidance before anything is sent.
    let rotate = |extra: &[&str]| {
        let mut args = vec![
            "rotate",
            "--recovery",
            &recovery,
            "--successor",
            &new,
            "--node",
            &url,
        ];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let run_owned = |args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&refs).await
    };
    fails(
        run_owned(rotate(&["--since", &seized])).await,
        2,
        "add --yes",
    );
    fails(
        run_owned(rotate(&["--since", "2099-01-01 09:30", "--yes"])).await,
        2,
        "in the future",
    );
    fails(
        run_owned(rotate(&["--since", "last tuesday", "--yes"])).await,
        2,
        "not a time",
    );
    fails(
        run_owned(rotate(&["--since", &seized, "--yes", "--key", "abc"])).await,
        2,
        "not a public key",
    );
    let (plain, _) = desk.key("plain.key").await;
    fails(
        run(&[
            "rotate",
            "--recovery",
            &recovery,
            "--since",
            &seized,
            "--successor",
            &plain,
            "--node",
            &url,
            "--yes",
        ])
        .await,
        2,
        "tocsin keygen",
    );
    assert!(client.key_state(&old_public).await.unwrap().end.is_none());

    let out = ok(run_owned(rotate(&[
        "--since",
        &seized,
        "--reason",
        "Phone seized at the border",
        "--yes",
        "--json",
    ]))
    .await);
    let (rotation, _, status) = posted(&out);
    assert_eq!(status, "accepted");
    assert!(Path::new(&format!("{new}.committed")).exists());

    let state = client.key_state(&old_public).await.unwrap();
    let end = state.end.expect("the old key ends");
    assert_eq!(end.successor, Some(new_public));
    assert_eq!(end.by_kind, Kind::Rotation);
    assert_eq!(end.rotation.map(|r| r.to_hex()), Some(rotation.clone()));
    let successor = client.key_state(&new_public).await.unwrap();
    assert_eq!(successor.predecessor, Some(old_public));
    assert!(
        successor
            .commitment
            .expect("committed by the rotation")
            .by_rotation
    );

    // What the old key signed before stays; what it signs now is refused.
    let alert_id: Id = alert.parse().unwrap();
    assert!(
        client
            .get(alert_id)
            .await
            .unwrap()
            .unwrap()
            .message
            .is_some()
    );
    let thief = post_alert(&url, &old, "Forged: the lockout is over").await;
    assert!(
        stdout(&thief).contains("revoked-author"),
        "{}",
        stdout(&thief)
    );
    fails(thief, 1, "revoked-author");

    // The successor updates the old key's alert, without a commitment of its own.
    let update = ok(run(&[
        "update",
        &alert,
        "--key",
        &new,
        "--node",
        &url,
        "--lang",
        "en",
        "--description",
        "Fictional: the night shift is back at work; the union's key was rotated.",
        "--yes",
        "--json",
    ])
    .await);
    assert_eq!(posted(&update).2, "accepted");
    let commitments = follow_caught_up(&url, &["--kind", "commitment", "--json"]).await;
    assert_eq!(
        commitments.lines().count(),
        1,
        "only the old key's: {commitments}"
    );

    let json: serde_json::Value = serde_json::from_str(&ok(run(&[
        "key",
        &old_public.to_hex(),
        "--node",
        &url,
        "--json",
    ])
    .await))
    .unwrap();
    assert_eq!(json["end"]["successor"], new_public.to_hex().as_str());
    assert_eq!(json["end"]["by_kind"], "rotation");
    assert_eq!(json["end"]["reason"], "Phone seized at the border");
    let text = ok(run(&["key", &old, "--node", &url]).await);
    assert!(text.contains("rotated by its recovery key"), "{text}");
    assert!(text.contains(&new_public.short()), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_with_the_key_names_a_successor_when_the_key_has_no_commitment() {
    let node = TestNode::start().await;
    let url = node.url();
    let mut client = node.client().await;
    let desk = Desk::new();
    let (old, old_public) = desk.key("old.key").await;
    let (_, new_public) = desk.key("new.key").await;
    let (old_public, new_public): (AuthorKey, AuthorKey) =
        (old_public.parse().unwrap(), new_public.parse().unwrap());
    ok(post_alert(&url, &old, "Strike ballot at the fictional mill").await);

    let out = ok(run(&[
        "revoke",
        "--key",
        &old,
        "--successor",
        &new_public.to_hex(),
        "--reason",
        "Laptop stolen",
        "--node",
        &url,
        "--json",
    ])
    .await);
    assert_eq!(posted(&out).2, "accepted");
    let end = client
        .key_state(&old_public)
        .await
        .unwrap()
        .end
        .expect("revoked");
    assert_eq!(end.successor, Some(new_public));
    assert_eq!(end.by_kind, Kind::Revocation);
    assert_eq!(end.reason, "Laptop stolen");
    let text = ok(run(&["key", &new_public.to_hex(), "--node", &url]).await);
    assert!(text.contains("Carries on for"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_keys_revocations_are_refused_with_a_pointer_to_rotate() {
    let node = TestNode::start().await;
    let url = node.url();
    let desk = Desk::new();
    let (key, public) = key_with_recovery(&desk, "mill.key").await;

    let committed = ok(run(&["commit", "--key", &key, "--node", &url, "--json"]).await);
    let (id, _, status) = posted(&committed);
    assert_eq!(status, "accepted");
    let held = node.client().await.key_state(&public).await.unwrap();
    assert_eq!(held.commitment.map(|c| c.id.to_hex()), Some(id.clone()));
    // Again: the node holds it, so nothing is sent.
    let again = ok(run(&["commit", "--key", &key, "--node", &url]).await);
    assert!(
        again.contains("holds this key's recovery commitment already"),
        "{again}"
    );
    assert_eq!(node.client().await.info().await.unwrap().head_seq, 1);

    let revocation = format!("{key}.revocation");
    let out = run(&["revoke", "--revocation", &revocation, "--node", &url]).await;
    fails(out.clone(), 1, "recovery-committed");
    fails(out, 1, "tocsin rotate --recovery");
    let (_, new_public) = key_with_recovery(&desk, "mill-2.key").await;
    let out = run(&[
        "revoke",
        "--key",
        &key,
        "--successor",
        &new_public.to_hex(),
        "--node",
        &url,
    ])
    .await;
    fails(out, 1, "tocsin rotate");
    // A --since in the past would be shortened to now by every node: said before sending.
    let out = run(&[
        "revoke",
        "--key",
        &key,
        "--since",
        "2020-05-14 09:30",
        "--node",
        &url,
    ])
    .await;
    fails(out.clone(), 2, "stops it only from now");
    fails(out, 2, "tocsin rotate --recovery");
    assert!(
        node.client()
            .await
            .key_state(&public)
            .await
            .unwrap()
            .end
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_commitment_stops_the_post() {
    let node = TestNode::start().await;
    let url = node.url();
    let desk = Desk::new();
    let (key, _) = key_with_recovery(&desk, "seized.key").await;
    // Revoked with the pre-signed revocation before anything was committed: as before.
    let revocation = format!("{key}.revocation");
    ok(run(&[
        "revoke",
        "--revocation",
        &revocation,
        "--node",
        &url,
        "--yes",
    ])
    .await);
    let out = post_alert(&url, &key, "Posted after the revocation").await;
    assert!(
        stdout(&out).contains("\"reason\":\"revoked-author\""),
        "{}",
        stdout(&out)
    );
    fails(out, 1, "refused this key's recovery commitment");
    assert!(!Path::new(&format!("{key}.committed")).exists());
    let alerts = follow_caught_up(&url, &["--kind", "alert"]).await;
    assert!(alerts.is_empty(), "{alerts}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_flags_say_what_to_type() {
    let desk = Desk::new();
    let (key, _) = desk.key("plain.key").await;
    let none = "http://127.0.0.1:9";
    fails(run(&["revoke", "--node", none]).await, 2, "--revocation");
    fails(
        run(&["revoke", "--revocation", "r", "--key", &key, "--node", none]).await,
        2,
        "not both",
    );
    fails(
        run(&[
            "revoke",
            "--revocation",
            "r",
            "--since",
            "2026-05-14 09:30",
            "--node",
            none,
        ])
        .await,
        2,
        "go with --key",
    );
    fails(
        run(&[
            "revoke",
            "--key",
            &key,
            "--successor",
            "nobody",
            "--node",
            none,
        ])
        .await,
        2,
        "neither a key file nor a public key",
    );
    fails(
        run(&["commit", "--key", &key, "--node", none]).await,
        2,
        "no recovery key",
    );
    fails(
        run(&["key", "nonsense", "--node", none]).await,
        2,
        "64 hex digits",
    );
    // The key itself given for its recovery key; a date with no time for --since.
    let (main, _) = key_with_recovery(&desk, "mudland.key").await;
    let (next, _) = key_with_recovery(&desk, "mudland-2.key").await;
    fails(
        run(&[
            "rotate",
            "--recovery",
            &main,
            "--since",
            "2026-05-14 09:30",
            "--successor",
            &next,
            "--node",
            none,
        ])
        .await,
        2,
        &format!("--recovery {main}.recovery"),
    );
    fails(
        run(&[
            "rotate",
            "--recovery",
            &format!("{main}.recovery"),
            "--since",
            "2026-05-14",
            "--successor",
            &next,
            "--node",
            none,
        ])
        .await,
        2,
        "date without a time",
    );
    for command in ["commit", "rotate", "key", "revoke", "keygen"] {
        let help = ok(run(&[command, "--help"]).await);
        assert!(help.contains("Example"), "tocsin {command} --help:\n{help}");
    }
}
