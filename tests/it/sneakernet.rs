//! Moving messages without a link between nodes, and reconciling on the operator's word: the
//! sneakernet walk-through (`tocsin have` at the cut-off node, `tocsin export --for` at a
//! connected one, `tocsin import` back), `tocsin sync` by peer name and by URL, and the
//! command's usage errors, all through the real binary.

use std::collections::BTreeSet;
use std::process::{Output, Stdio};
use std::time::Duration;

use tocsin::message::*;
use tocsin::node::Clock;
use tocsin::rpc::{Client, ClientError, PublishOutcome};

use crate::support::*;

/// Runs the binary off the async runtime (the nodes under test share it), with no default
/// node and no colour.
async fn run(args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env_remove("TOCSIN_NODE")
        .env_remove("TOCSIN_CA")
        .stdin(Stdio::null());
    within(&args.join(" "), async {
        tokio::task::spawn_blocking(move || cmd.output().expect("running tocsin"))
            .await
            .expect("the runner")
    })
    .await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts success; stdout.
#[track_caller]
fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}

/// Asserts exit code `code` and `fragment` in stderr.
#[track_caller]
fn fails(o: &Output, code: i32, fragment: &str) {
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(fragment), "expected {fragment:?} in:\n{err}");
}

async fn publish(node: &TestNode, m: &Message) {
    let got = node.client().await.publish(m.signed()).await.unwrap();
    assert!(matches!(got, PublishOutcome::Accepted { .. }), "{got:?}");
}

/// The ids a reader of the node sees (`Items` without a peer key).
async fn reader_ids(node: &TestNode) -> BTreeSet<Id> {
    let (items, _) = node.client().await.items(None).await.unwrap();
    items.into_iter().map(|(_, id)| id).collect()
}

/// An alert by fictional organisation `n`, created at `at`.
fn strike(n: u8, at: Timestamp) -> Message {
    let key = org(n);
    sign(
        alert_at(&key, &format!("Warehouse {n} of Lowmoor on strike"), at),
        &key,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usb_stick_carries_exactly_what_the_cut_off_node_lacks() {
    let start = Timestamp::now();
    // The connected node's clock stands still, so its embargoed message stays held.
    let connected = TestNode::start_with_clock(Clock::manual(start), |_| {}).await;
    let cut_off = TestNode::start().await;
    let shared: Vec<Message> = (0..3).map(|i| strike(100 + i, start)).collect();
    let only_connected: Vec<Message> = (0..5).map(|i| strike(110 + i, start)).collect();
    let only_cut_off: Vec<Message> = (0..2).map(|i| strike(120 + i, start)).collect();
    for m in &shared {
        publish(&connected, m).await;
        publish(&cut_off, m).await;
    }
    for m in &only_connected {
        publish(&connected, m).await;
    }
    for m in &only_cut_off {
        publish(&cut_off, m).await;
    }
    let key = org(130);
    let mut held_back = alert_at(&key, "Joint statement of the Lowmoor unions at noon", start);
    held_back.effective_at = Some(start.plus(Duration::from_secs(3600)));
    let held_back = sign(held_back, &key);
    publish(&connected, &held_back).await;

    let desk = tempfile::tempdir().unwrap();
    let have_file = desk.path().join("lowmoor.have");
    let export_file = desk.path().join("for-lowmoor.tocsin");
    let (have_path, export_path) = (
        have_file.display().to_string(),
        export_file.display().to_string(),
    );

    // At the cut-off node: its summary.
    let out = ok(&run(&["have", "--node", &cut_off.url(), "--out", &have_path]).await);
    assert!(out.contains("the 5 messages node"), "{out}");
    let size = std::fs::metadata(&have_file).unwrap().len();
    assert!(size < 15 + 72 + 5 * 40 + 32, "{size} bytes for 5 items");
    fails(
        &run(&["have", "--node", &cut_off.url(), "--out", &have_path]).await,
        1,
        "exists already",
    );

    // At the connected node: only what the summary lacks, and nothing under embargo.
    let out = ok(&run(&[
        "export",
        "--for",
        &have_path,
        "--node",
        &connected.url(),
        "--out",
        &export_path,
    ])
    .await);
    assert!(out.contains("holds 5 messages"), "{out}");
    assert!(
        out.contains("shows 8 messages: 5 not in the summary"),
        "{out}"
    );
    assert!(out.contains("exported 5 messages to"), "{out}");

    // Back at the cut-off node: every one new there, none a duplicate.
    let out = ok(&run(&["import", &export_path, "--node", &cut_off.url()]).await);
    assert!(
        out.contains("imported 5 messages") && out.contains("5 accepted, 0 duplicate"),
        "{out}"
    );
    let connected_sees = reader_ids(&connected).await;
    let cut_off_holds = reader_ids(&cut_off).await;
    assert!(
        connected_sees.is_subset(&cut_off_holds),
        "missing {:?}",
        connected_sees
            .difference(&cut_off_holds)
            .collect::<Vec<_>>()
    );
    assert!(!cut_off_holds.contains(&held_back.id()), "embargo broken");
    assert_eq!(cut_off_holds.len(), 10);

    // A fresh summary finds nothing left to carry.
    let fresh = desk.path().join("fresh.have").display().to_string();
    ok(&run(&["have", "--node", &cut_off.url(), "--out", &fresh]).await);
    let again = desk.path().join("again.tocsin").display().to_string();
    let out = ok(&run(&[
        "export",
        "--for",
        &fresh,
        "--node",
        &connected.url(),
        "--out",
        &again,
    ])
    .await);
    assert!(out.contains("exported 0 messages"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_for_names_a_file_that_is_no_summary() {
    let node = TestNode::start().await;
    let desk = tempfile::tempdir().unwrap();
    let out = desk.path().join("x.tocsin").display().to_string();
    let letter = desk.path().join("letter.txt");
    std::fs::write(&letter, "Dear comrades,").unwrap();
    let letter = letter.display().to_string();
    fails(
        &run(&[
            "export",
            "--for",
            &letter,
            "--node",
            &node.url(),
            "--out",
            &out,
        ])
        .await,
        1,
        "not a `tocsin have` file",
    );

    let good = desk.path().join("good.have");
    let good_path = good.display().to_string();
    publish(&node, &strike(140, Timestamp::now())).await;
    ok(&run(&["have", "--node", &node.url(), "--out", &good_path]).await);
    let bytes = std::fs::read(&good).unwrap();
    let cut = desk.path().join("cut.have");
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let cut = cut.display().to_string();
    fails(
        &run(&[
            "export",
            "--for",
            &cut,
            "--node",
            &node.url(),
            "--out",
            &out,
        ])
        .await,
        1,
        "truncated",
    );
    let mut newer = bytes.clone();
    newer[13] = b'7';
    let newer_path = desk.path().join("newer.have");
    std::fs::write(&newer_path, &newer).unwrap();
    let newer_path = newer_path.display().to_string();
    fails(
        &run(&[
            "export",
            "--for",
            &newer_path,
            "--node",
            &node.url(),
            "--out",
            &out,
        ])
        .await,
        1,
        "version 7, newer than this tocsin reads",
    );
    assert!(!std::path::Path::new(&out).exists(), "no export written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_by_peer_name_offers_what_the_peer_lacks_and_notes_it() {
    let east = TestNode::start().await;
    let east_url = east.url();
    let west = TestNode::start_with(|c| {
        c.peers = vec![tocsin::config::PeerConfig {
            name: "east".into(),
            address: east_url.clone(),
            ca: None,
        }];
        // Only the first run after the catch-up; every later one is the operator's.
        c.federation.reconcile_every = Duration::ZERO;
    })
    .await;
    let west_node = west.server().node().clone();
    wait_until("the follower's first reconciliation", || {
        let node = west_node.clone();
        async move {
            node.peers()
                .iter()
                .any(|p| p.name == "east" && p.last_reconcile.is_some())
        }
    })
    .await;
    // East does not follow west: only a reconciliation takes these there.
    let news: Vec<Message> = (0..4).map(|i| strike(150 + i, Timestamp::now())).collect();
    for m in &news {
        publish(&west, m).await;
    }

    let out = ok(&run(&["sync", "--peer", "east", "--node", &west.url()]).await);
    let east_key = east.client().await.info().await.unwrap().node_key;
    let expected = format!(
        "peer east ({}…): we lacked 0 — 0 fetched, 0 refused, 0 already here; they lacked 4 — 4 offered, 4 stored there; ",
        east_key.short()
    );
    assert!(out.starts_with(&expected), "{out}");
    assert_eq!(reader_ids(&east).await, reader_ids(&west).await);

    // Noted as the periodic run is: the peer's status and /metrics.
    let east_status = west_node
        .peers()
        .into_iter()
        .find(|p| p.name == "east")
        .unwrap();
    let last = east_status.last_reconcile.unwrap();
    assert_eq!((last.they_lacked, last.offered_stored), (4, 4));
    assert_eq!(east_status.reconciled.runs[0], 2, "two runs completed");
    let metrics = crate::http::get(west.server().http_addr().unwrap(), "/metrics")
        .await
        .body;
    assert!(
        metrics
            .contains("tocsin_reconcile_differences_total{peer=\"east\",side=\"they_lacked\"} 4"),
        "{metrics}"
    );

    // A name that is not configured: the names that are.
    fails(
        &run(&["sync", "--peer", "esat", "--node", &west.url()]).await,
        1,
        "the configured peers are: east",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_by_url_converges_and_offers_only_what_readers_see() {
    let start = Timestamp::now();
    let here = TestNode::start_with_clock(Clock::manual(start), |_| {}).await;
    let there = TestNode::start().await;
    for i in 0..2 {
        publish(&here, &strike(160 + i, start)).await;
    }
    for i in 0..3 {
        publish(&there, &strike(170 + i, start)).await;
    }
    let key = org(180);
    let mut held_back = alert_at(&key, "Lowmoor dockers' vote, results at noon", start);
    held_back.effective_at = Some(start.plus(Duration::from_secs(3600)));
    let held_back = sign(held_back, &key);
    publish(&here, &held_back).await;

    let out = ok(&run(&["sync", "--url", &there.url(), "--node", &here.url()]).await);
    assert!(
        out.contains(&format!("node {} (", there.url()))
            && out.contains(
                "we lacked 3 — 3 fetched, 0 refused, 0 already here; they lacked 2 — 2 offered, 2 stored there"
            ),
        "{out}"
    );
    let there_holds = reader_ids(&there).await;
    assert_eq!(there_holds.len(), 5);
    assert!(!there_holds.contains(&held_back.id()), "embargo broken");
    assert!(reader_ids(&here).await.is_superset(&there_holds));

    let json = ok(&run(&[
        "sync",
        "--url",
        &there.url(),
        "--node",
        &here.url(),
        "--json",
    ])
    .await);
    let report: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(
        (
            &report["we_lacked"],
            &report["they_lacked"],
            &report["error"]
        ),
        (
            &serde_json::json!(0),
            &serde_json::json!(0),
            &serde_json::json!("")
        )
    );

    // This node itself is refused; so is a call to the operator service by a plain client
    // naming neither side.
    fails(
        &run(&["sync", "--url", &here.url(), "--node", &here.url()]).await,
        1,
        "is this node itself",
    );
    let mut client = Client::connect(&here.url()).await.unwrap();
    let err = client
        .sync(&tocsin::federation::SyncWith::Peer(String::new()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("give peer"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_sync_flags_say_what_to_type() {
    for (args, hint) in [
        (vec!["sync"], "--peer <NAME>|--url <URL>"),
        (
            vec![
                "sync",
                "--peer",
                "east",
                "--url",
                "https://east.example:7700",
            ],
            "cannot be used with",
        ),
        (
            vec!["sync", "--peer", "east", "--ca", "east.crt"],
            "--ca goes with --url",
        ),
        (
            vec!["sync", "--url", "east.example:7700"],
            "like https://geneva.example.org:7700",
        ),
        (
            vec!["sync", "--url", "http://192.0.2.7:7700"],
            "write https://",
        ),
        (
            vec![
                "sync",
                "--url",
                "https://192.0.2.7:7700",
                "--ca",
                "/nonexistent/ca.crt",
            ],
            "no such file",
        ),
        (vec!["sync", "--peer", " "], "tocsin peer list"),
        (
            vec![
                "export", "--for", "x.have", "--since", "3", "--out", "x.tocsin",
            ],
            "cannot be used with",
        ),
    ] {
        fails(&run(&args).await, 2, hint);
    }
}

/// A union's recovery commitment and an alert, both made at `at`.
fn committed_union(n: u8, at: Timestamp) -> (Message, Message) {
    let (key, recovery) = (org(n), org(n + 1));
    let commitment = sign(
        Body {
            created_at: at,
            expires_at: None,
            ..body(
                &key,
                Content::Commitment(RecoveryCommitment {
                    recovery_digest: recovery_digest(&recovery.public()),
                }),
            )
        },
        &key,
    );
    let alert = sign(alert_at(&key, "Lowmoor dockers locked out", at), &key);
    (commitment, alert)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_brings_a_committed_keys_older_messages_a_client_may_not() {
    let start = Timestamp::now();
    let clock = Clock::manual(start);
    let connected = TestNode::start_with_clock(clock.clone(), |_| {}).await;
    let (commitment, alert) = committed_union(140, start);
    publish(&connected, &commitment).await;
    publish(&connected, &alert).await;

    // Two days later, at a node cut off all along.
    let later = Clock::manual(start.plus(Duration::from_secs(2 * 24 * 3600)));
    let cut_off = TestNode::start_with_clock(later, |_| {}).await;
    // Published by a client, a committed key's two-day-old messages are refused: a seized key
    // cannot write into its past.
    let got = cut_off.client().await.publish(commitment.signed()).await;
    assert_eq!(refusal(got), Reason::Backdated);

    // Carried on a USB stick and imported on the node's machine, they are relayed messages.
    let desk = tempfile::tempdir().unwrap();
    let have_path = desk.path().join("cut.have").display().to_string();
    let export_path = desk.path().join("for-cut.tocsin").display().to_string();
    ok(&run(&["have", "--node", &cut_off.url(), "--out", &have_path]).await);
    ok(&run(&[
        "export",
        "--for",
        &have_path,
        "--node",
        &connected.url(),
        "--out",
        &export_path,
    ])
    .await);
    let out = ok(&run(&["import", &export_path, "--node", &cut_off.url()]).await);
    assert!(out.contains("2 accepted"), "{out}");
    let held = reader_ids(&cut_off).await;
    assert!(held.contains(&commitment.id()) && held.contains(&alert.id()));
    // And the commitment is in force there: a client's backdated message by the key is refused.
    let late = sign(
        alert_at(&org(140), "Lowmoor dockers back at work", start),
        &org(140),
    );
    let got = cut_off.client().await.publish(late.signed()).await;
    assert_eq!(refusal(got), Reason::Backdated);
}

/// The reason a unary publish was refused for.
#[track_caller]
fn refusal(got: Result<PublishOutcome, ClientError>) -> Reason {
    match got {
        Err(ClientError::Refused(r)) => r.reason,
        other => panic!("not refused: {other:?}"),
    }
}
