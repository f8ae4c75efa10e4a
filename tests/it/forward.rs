//! Forward compatibility across real nodes: a message of a kind no version of Tocsin has yet
//! (built by hand, in content field 90) is stored, relayed along a chain of three nodes
//! byte for byte, never shown to readers (page, Atom, the text of `tocsin follow`), counted in
//! `/metrics`, left out by any kind filter, and sound in the offline check.

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures::StreamExt;
use prost::Message as _;
use tocsin::message::*;
use tocsin::rpc::{ClientEvent, PublishOutcome};

use crate::support::*;

/// What a newer version might carry in its new kind: a poll's question and two options, as a
/// nested message (field 1 the question, field 2 each option). No node here reads it.
const POLL: &[u8] = b"\x0a\x1bWhich day for the stoppage?\x12\x06Monday\x12\x06Friday";

/// The body's field for the newer kind: in the range kept for kinds (10 to 99), used by none.
const NEWER_FIELD: u32 = 90;

/// A signed message of the newer kind by `key`, built by hand: the field first, then the common
/// fields. This version would write them the other way round, so a node that re-encoded the
/// body would change its bytes, and its id.
fn newer_kind(key: &SecretKey) -> SignedMessage {
    use prost::encoding::{WireType, encode_key, encode_varint};
    let now = Timestamp::now();
    let common = tocsin::proto::MessageBody {
        author: key.public().as_bytes().to_vec(),
        created_at: now.as_millis(),
        expires_at: now.plus(Duration::from_secs(7 * 24 * 3600)).as_millis(),
        topics: vec!["union-rights".into()],
        countries: vec!["AQ".into()],
        ..Default::default()
    };
    let mut body = Vec::new();
    encode_key(NEWER_FIELD, WireType::LengthDelimited, &mut body);
    encode_varint(POLL.len() as u64, &mut body);
    body.extend_from_slice(POLL);
    body.extend_from_slice(&common.encode_to_vec());
    let signature = key.sign(&body);
    SignedMessage::new(Bytes::from(body), &signature).expect("within the size limit")
}

/// Every message a reader's subscription with `filter` delivers from the start, up to the
/// caught-up marker.
async fn backfill(node: &TestNode, filter: &Filter) -> Vec<SignedMessage> {
    let mut events = node
        .client()
        .await
        .subscribe(filter, 0, None)
        .await
        .expect("subscribing");
    let mut out = Vec::new();
    within("the backfill", async {
        while let Some(event) = events.next().await {
            match event.expect("a subscription event") {
                ClientEvent::Delivery { message, .. } => out.push(message),
                ClientEvent::CaughtUp(_) => break,
            }
        }
    })
    .await;
    out
}

fn gateway(node: &TestNode) -> SocketAddr {
    node.server().http_addr().expect("the gateway is on")
}

/// The value of an unlabelled series in a `/metrics` text.
fn series(metrics: &str, name: &str) -> Option<u64> {
    metrics.lines().find_map(|line| {
        let (n, v) = line.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok())?
    })
}

/// The `tocsin` binary with `args`, run off the async runtime (the nodes share it).
async fn tocsin(args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("TZ", "UTC")
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("TOCSIN_NODE")
        .stdin(std::process::Stdio::null());
    let what = args.join(" ");
    within(&what, async {
        tokio::task::spawn_blocking(move || cmd.output().expect("running tocsin"))
            .await
            .expect("the runner")
    })
    .await
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_kind_is_stored_relayed_verbatim_not_shown_and_counted_across_three_nodes() {
    let mut mesh = Mesh::start(3, &[(0, 1), (1, 2)]).await;
    let newer = newer_kind(&org(90));
    let id = newer.id();
    let opened = Message::open(newer.clone(), Timestamp::now()).expect("it opens here");
    assert_eq!(
        opened.kind(),
        Kind::Unknown,
        "the test's kind is unknown here"
    );
    let headline = "Dockers locked out at Eastport";
    let alert = sign(alert(&org(91), headline), &org(91));

    // Accepted at the first node like any message: its signature and common fields check out.
    for m in [&newer, alert.signed()] {
        let out = mesh.nodes[0].client().await.publish(m).await.unwrap();
        assert!(
            matches!(out, PublishOutcome::Accepted { id: got, .. } if got == m.id()),
            "{out:?}"
        );
    }
    mesh.wait_all_have(2).await;

    let every_known_kind = Filter {
        kinds: Kind::ALL.to_vec(),
        ..Filter::default()
    };
    for (i, node) in mesh.nodes.iter().enumerate() {
        // Stored, and served to whoever asks for it by id, as the author signed it.
        let state = node
            .client()
            .await
            .get(id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("node {i} does not hold it"));
        let held = state.message.expect("held with its content");
        assert_eq!(
            held.body(),
            newer.body(),
            "node {i}: the body's bytes changed"
        );
        assert_eq!(held.signature(), newer.signature(), "node {i}");
        assert_eq!(held.id(), id);

        // A reader's subscription delivers it verbatim (a newer client can read it)…
        let all = backfill(node, &Filter::default()).await;
        let delivered = all
            .iter()
            .find(|m| m.id() == id)
            .unwrap_or_else(|| panic!("node {i} does not deliver it"));
        assert_eq!(delivered.body(), newer.body(), "node {i}");
        assert_eq!(all.len(), 2, "node {i}: each message once");
        // …but no kind filter selects it, not even one naming every kind this version knows.
        let filtered = backfill(node, &every_known_kind).await;
        assert_eq!(
            filtered.iter().map(|m| m.id()).collect::<Vec<_>>(),
            vec![alert.id()],
            "node {i}"
        );

        // Not shown: not on the page, not in the feed, no page of its own.
        let addr = gateway(node);
        for path in ["/", "/feed.atom"] {
            let resp = crate::http::get(addr, path).await;
            assert_eq!(resp.status, 200, "node {i} {path}");
            assert!(
                resp.body.contains(headline),
                "node {i} {path}: {}",
                resp.body
            );
            for hidden in [id.to_hex(), id.short(), "stoppage".to_string()] {
                assert!(
                    !resp.body.contains(&hidden),
                    "node {i} {path} shows {hidden}"
                );
            }
        }
        let page = crate::http::get(addr, &format!("/m/{}", id.to_hex())).await;
        assert_eq!(page.status, 404, "node {i}: {}", page.body);

        // Counted: once, among the accepted messages, as a kind this node does not know.
        let metrics = crate::http::get(addr, "/metrics").await.body;
        assert_eq!(
            series(&metrics, "tocsin_unknown_kind_messages_total"),
            Some(1),
            "node {i}: {metrics}"
        );
        assert_eq!(
            series(&metrics, "tocsin_messages_accepted_total"),
            Some(2),
            "node {i}"
        );
    }

    // `tocsin follow` says nothing of it in text, and gives it to scripts in JSON.
    let far = mesh.nodes[2].url();
    let out = tocsin(&["follow", "--node", &far, "--until-caught-up"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let feed = text(&out.stdout);
    assert!(feed.contains(headline), "{feed}");
    assert!(!feed.contains(&id.short()), "{feed}");
    assert!(!feed.contains("UNKNOWN"), "{feed}");
    assert!(!feed.contains("does not know"), "{feed}");
    let out = tocsin(&["follow", "--node", &far, "--until-caught-up", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let unknown = lines
        .iter()
        .find(|v| v["id"] == id.to_hex())
        .expect("the JSON feed carries it");
    assert_eq!(unknown["kind"], "unknown");
    assert_eq!(unknown["content"]["field"], NEWER_FIELD);
    let body = base64::engine::general_purpose::STANDARD
        .decode(unknown["body"].as_str().expect("the body in base64"))
        .expect("base64");
    assert_eq!(body.as_slice(), newer.body().as_ref());

    // Its record, index rows and body pass the offline check.
    mesh.nodes[2].stop().await;
    let data = mesh.nodes[2].config.node.data_dir.clone();
    let out = tocsin(&[
        "node",
        "check",
        "--data",
        data.to_str().expect("a UTF-8 path"),
        "--json",
    ])
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["clean"], true, "{report}");
    assert_eq!(report["bodies"], 2, "{report}");

    // And it is read back after a restart (its kind's tag, 11, is one the store knows).
    mesh.restart(2).await;
    let again = mesh.nodes[2].client().await.get(id).await.unwrap();
    let again = again.and_then(|s| s.message).expect("held after a restart");
    assert_eq!(again.body(), newer.body());
}
