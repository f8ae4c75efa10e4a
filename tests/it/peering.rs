//! Peering in one step: nodes with config files, joined only through `Operator.Invite` and
//! `Operator.Join` over loopback TLS, follow each other and trust each other's client
//! certificates, so an embargoed call crosses two hops before its hour and readers see it at
//! the hour; used, expired, unknown secrets and a name taken are refused with their words; a
//! config file edited by hand is applied while the node runs.

use std::path::PathBuf;
use std::time::Duration;

use tocsin::config::TlsMode;
use tocsin::message::*;
use tocsin::node::Clock;
use tocsin::peering::{ConfigFile, Line, NewPeer};
use tocsin::rpc::{Client, ClientError, ClientTls, PublishOutcome};

use crate::support::*;

/// A TLS node whose configuration is read from a file of its own (`[node] name` and an empty
/// `tls.client_ca`), as `tocsin node run --config FILE` reads it.
async fn filed(name: &str, clock: Clock) -> TestNode {
    filed_with(name, clock, |_| {}).await
}

/// [`filed`], with `tweak` applied to the node's start-up config.
async fn filed_with(
    name: &str,
    clock: Clock,
    tweak: impl FnOnce(&mut tocsin::config::Config),
) -> TestNode {
    let name = name.to_string();
    TestNode::start_with_clock(clock, move |c| {
        tweak(c);
        c.tls.mode = TlsMode::Auto;
        c.node.name = name.clone();
        let file = c.node.data_dir.with_file_name(format!("{name}.toml"));
        std::fs::write(
            &file,
            format!("# {name}'s node\n[node]\nname = \"{name}\"\n\n[tls]\nclient_ca = []\n"),
        )
        .unwrap();
        c.path = Some(file);
    })
    .await
}

fn file_of(node: &TestNode) -> PathBuf {
    node.config.path.clone().expect("a config file")
}

/// A client of the node on its own machine, trusting its CA.
async fn local(node: &TestNode) -> Client {
    let ca = node.config.node.data_dir.join("tls/ca.crt");
    let tls = ClientTls::trusting(Some(&ca)).unwrap();
    Client::connect_with(&node.url(), &tls).await.unwrap()
}

/// `inviter` invites (`name` for the joiner, empty: its own) and `joiner` joins; the join's
/// reply.
async fn peer_up(
    inviter: &TestNode,
    joiner: &TestNode,
) -> Result<tocsin::proto::JoinReply, ClientError> {
    let invitation = local(inviter)
        .await
        .invite("", 0, &inviter.url())
        .await
        .unwrap();
    local(joiner)
        .await
        .join(&invitation.line, "", &joiner.url())
        .await
}

fn peer_status(node: &TestNode, name: &str) -> Option<tocsin::node::PeerStatus> {
    node.server()
        .node()
        .peers()
        .into_iter()
        .find(|p| p.name == name)
}

async fn linked_early(node: &TestNode, name: &str) {
    wait_until(&format!("{name} followed, embargo early"), || async {
        peer_status(node, name).is_some_and(|p| p.connected && p.embargo_early)
    })
    .await;
}

/// Messages a node holds, as peers see them and as readers do.
async fn held(node: &TestNode) -> (u64, u64) {
    let n = node.server().node();
    let peers = n.info(true).await.unwrap().messages;
    let readers = n.info(false).await.unwrap().messages;
    (peers, readers)
}

fn status_message(e: ClientError) -> String {
    match e {
        ClientError::Status { message, .. } => message,
        other => panic!("expected a status, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embargoed_call_crosses_nodes_joined_by_invitation_before_its_hour() {
    let start = Timestamp::now();
    let clock = Clock::manual(start);
    let baku = filed("baku", clock.clone()).await;
    let geneva = filed("geneva", clock.clone()).await;
    let saopaulo = filed("saopaulo", clock.clone()).await;

    // baku ⇄ geneva ⇄ saopaulo, each by one invitation.
    let joined = peer_up(&geneva, &baku).await.unwrap();
    assert_eq!(joined.peer_name, "geneva");
    assert_eq!(joined.config_file, file_of(&baku).display().to_string());
    assert!(joined.embargo_early, "baku and geneva trust each other");
    let joined = peer_up(&geneva, &saopaulo).await.unwrap();
    assert!(joined.embargo_early, "saopaulo and geneva trust each other");
    linked_early(&baku, "geneva").await;
    linked_early(&geneva, "baku").await;
    linked_early(&geneva, "saopaulo").await;
    linked_early(&saopaulo, "geneva").await;
    // Both files now hold the peer and its CA, comments kept.
    let text = std::fs::read_to_string(file_of(&geneva)).unwrap();
    assert!(text.starts_with("# geneva's node"), "{text}");
    let config = tocsin::config::Config::load(Some(&file_of(&geneva))).unwrap();
    let names: Vec<_> = config.peers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["baku", "saopaulo"]);
    assert_eq!(config.tls.client_ca.len(), 2);

    // An embargoed call posted at baku, an hour ahead.
    let union = org(231);
    let mut call = alert_at(&union, "Write to the Minister of Labour", start);
    call.effective_at = Some(start.plus(Duration::from_secs(3600)));
    let call = sign(call, &union);
    let before = held(&saopaulo).await;
    match local(&baku).await.publish(call.signed()).await.unwrap() {
        PublishOutcome::Accepted { .. } => {}
        other => panic!("expected acceptance, got {other:?}"),
    }
    // It reaches saopaulo, two hops away, before its hour: held for peers, not for readers.
    wait_until("the call held at saopaulo", || async {
        held(&saopaulo).await.0 == before.0 + 1
    })
    .await;
    assert_eq!(held(&saopaulo).await.1, before.1, "readers see it early");
    let mut reader = local(&saopaulo).await;
    let state = reader.get(call.id()).await.unwrap();
    assert!(
        state.is_none_or(|s| s.message.is_none()),
        "Get shows an embargoed call to a reader"
    );

    // At the hour, readers at saopaulo see it.
    clock.advance(Duration::from_secs(3601));
    wait_until("the call shown at saopaulo at its hour", || async {
        held(&saopaulo).await.1 == before.1 + 1
    })
    .await;
    let state = reader.get(call.id()).await.unwrap().expect("held");
    assert_eq!(state.message.map(|m| m.id()), Some(call.id()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn used_expired_unknown_secrets_and_a_name_taken_are_refused() {
    let inviter_clock = Clock::manual(Timestamp::now());
    let inviter = filed("harbour", inviter_clock.clone()).await;
    let first = filed("eastport", Clock::system()).await;
    let second = filed("westport", Clock::system()).await;

    // A line is good once.
    let invitation = local(&inviter)
        .await
        .invite("", 0, &inviter.url())
        .await
        .unwrap();
    local(&first)
        .await
        .join(&invitation.line, "", &first.url())
        .await
        .unwrap();
    let used = local(&second)
        .await
        .join(&invitation.line, "", &second.url())
        .await
        .unwrap_err();
    assert!(used.is_not_local(), "PERMISSION_DENIED: {used}");
    let message = status_message(used);
    assert!(message.contains("used already"), "{message}");

    // A line past its expiry, by the inviter's clock.
    let invitation = local(&inviter)
        .await
        .invite("", 60, &inviter.url())
        .await
        .unwrap();
    inviter_clock.advance(Duration::from_secs(120));
    let message = status_message(
        local(&second)
            .await
            .join(&invitation.line, "", &second.url())
            .await
            .unwrap_err(),
    );
    assert!(message.contains("has expired"), "{message}");

    // A secret the inviter never made, with its address and fingerprint.
    let (forged, _) = Line::new(
        inviter.url(),
        invitation.ca_fingerprint.clone(),
        invitation.expires_at + 3600,
        "harbour".into(),
    )
    .unwrap();
    let message = status_message(
        local(&second)
            .await
            .join(&forged.encode(), "", &second.url())
            .await
            .unwrap_err(),
    );
    assert!(message.contains("no such invitation"), "{message}");

    // A line whose fingerprint is not the inviter's CA (here, the joiner's own): the handshake
    // with the inviter fails the pin, nothing is sent and nothing is trusted.
    let other_ca = std::fs::read(second.config.node.data_dir.join("tls/ca.crt")).unwrap();
    let (pinned_elsewhere, _) = Line::new(
        inviter.url(),
        tocsin::tls::fingerprint(&other_ca).unwrap(),
        invitation.expires_at + 3600,
        "harbour".into(),
    )
    .unwrap();
    let message = status_message(
        local(&second)
            .await
            .join(&pinned_elsewhere.encode(), "", &second.url())
            .await
            .unwrap_err(),
    );
    assert!(
        message.contains("is not the one that made this invitation"),
        "{message}"
    );

    // A name the inviter has given a peer already: refused at the invitation, and at the join
    // (the joiner's own name), where the invitation is not spent.
    let taken = local(&inviter)
        .await
        .invite("eastport", 0, &inviter.url())
        .await
        .unwrap_err();
    let message = status_message(taken);
    assert!(message.contains("\"eastport\" is in"), "{message}");
    let invitation = local(&inviter)
        .await
        .invite("", 0, &inviter.url())
        .await
        .unwrap();
    let clash = filed("eastport", Clock::system()).await;
    let message = status_message(
        local(&clash)
            .await
            .join(&invitation.line, "", &clash.url())
            .await
            .unwrap_err(),
    );
    assert!(message.contains("\"eastport\" is in"), "{message}");
    local(&second)
        .await
        .join(&invitation.line, "", &second.url())
        .await
        .expect("the invitation was not spent by the refused join");
    // And the joiner keeps its own names apart: a second join naming harbour again is refused
    // before the inviter is contacted.
    let again = local(&inviter)
        .await
        .invite("", 0, &inviter.url())
        .await
        .unwrap();
    let message = status_message(
        local(&second)
            .await
            .join(&again.line, "", &second.url())
            .await
            .unwrap_err(),
    );
    assert!(message.contains("\"harbour\" is in"), "{message}");
    // A node run without a config file has nothing to record a peer in, and says what to do.
    let fileless = TestNode::start_with(|c| c.tls.mode = TlsMode::Auto).await;
    let refused = local(&fileless)
        .await
        .invite("", 0, &fileless.url())
        .await
        .unwrap_err();
    let message = status_message(refused);
    assert!(
        message.contains("tocsin node run --config FILE"),
        "{message}"
    );

    // Only the two joins that were taken are peers of the inviter.
    let config = tocsin::config::Config::load(Some(&file_of(&inviter))).unwrap();
    let names: Vec<_> = config.peers.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["eastport", "westport"]);
    // The refused joins left no trust behind at the joiner: one CA, the inviter's.
    let config = tocsin::config::Config::load(Some(&file_of(&second))).unwrap();
    assert_eq!(config.tls.client_ca.len(), 1, "{:?}", config.tls.client_ca);
    assert_eq!(config.peers.len(), 1);
}

#[test]
fn peer_add_says_the_peer_sends_embargoed_messages_only_at_their_hour() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("baku.toml");
    std::fs::write(
        &config,
        "[node]\nname = \"baku\"\ndata_dir = \"baku-data\"\n",
    )
    .unwrap();
    let out = assert_cmd::Command::cargo_bin("tocsin")
        .unwrap()
        .current_dir(dir.path())
        .args(["peer", "add", "geneva", "https://127.0.0.1:7702"])
        .args(["--ca", "geneva-ca.crt", "--config", "baku.toml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let own_ca = std::path::absolute(dir.path().join("baku-data/tls/ca.crt")).unwrap();
    for said in [
        "added peer geneva at https://127.0.0.1:7702 to baku.toml",
        "a running node picks this up within seconds (or on SIGHUP)",
        "geneva sends this node embargoed messages only at their hour",
        &own_ca.display().to_string(),
        "client_ca = [",
        "`tocsin peer invite` on geneva, then `tocsin peer join LINE` here",
    ] {
        assert!(text.contains(said), "{said:?} not in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_file_edited_by_hand_is_applied_while_the_node_runs() {
    let follower = filed("lisbon", Clock::system()).await;
    let followed = filed("porto", Clock::system()).await;
    let ca = followed.config.node.data_dir.join("tls/ca.crt");

    // A peer added to the file: its follower starts, no restart.
    let mut file = ConfigFile::open(&file_of(&follower)).unwrap();
    file.add_peer(&NewPeer {
        name: "porto".into(),
        address: followed.url(),
        ca: Some(ca.clone()),
    })
    .unwrap();
    file.save().unwrap();
    wait_until("a follower for the peer added", || async {
        peer_status(&follower, "porto").is_some_and(|p| p.connected && !p.embargo_early)
    })
    .await;

    // The follower's CA added to the followed node's client CAs: on its next connection the
    // follower is authenticated (SIGHUP does what the poll does: `peering::reload`).
    let mut file = ConfigFile::open(&file_of(&followed)).unwrap();
    file.add_client_ca(&follower.config.node.data_dir.join("tls/ca.crt"))
        .unwrap();
    file.save().unwrap();
    let reloaded = tocsin::peering::reload(followed.server().node())
        .await
        .unwrap();
    assert!(reloaded.applied, "the client CAs changed");
    let mut file = ConfigFile::open(&file_of(&follower)).unwrap();
    file.remove_peer("porto").unwrap();
    file.add_peer(&NewPeer {
        name: "porto".into(),
        address: followed.url(),
        ca: Some(ca),
    })
    .unwrap();
    // The same peer under a changed address form restarts its follower.
    let text = file
        .text()
        .replace("https://127.0.0.1:", "https://localhost:");
    std::fs::write(file_of(&follower), text).unwrap();
    wait_until("the follower restarted and authenticated", || async {
        peer_status(&follower, "porto").is_some_and(|p| {
            p.connected && p.embargo_early && p.address.starts_with("https://localhost:")
        })
    })
    .await;

    // A file that does not parse is not applied: the running peers stay.
    std::fs::write(file_of(&follower), "[node\nname = ").unwrap();
    assert!(
        tocsin::peering::reload(follower.server().node())
            .await
            .is_err()
    );
    assert!(peer_status(&follower, "porto").is_some());

    // The peer removed: its follower stops and its status goes.
    std::fs::write(file_of(&follower), "[node]\nname = \"lisbon\"\n").unwrap();
    wait_until("the follower stopped", || async {
        peer_status(&follower, "porto").is_none()
    })
    .await;
}

#[tokio::test]
async fn a_follower_reconnects_authenticated_once_its_peer_trusts_it_by_hand() {
    // The follower asks again every 200 ms whether its peer would authenticate it now.
    let follower = filed_with("braga", Clock::system(), |c| {
        c.federation.trust_recheck_every = Duration::from_millis(200);
    })
    .await;
    let followed = filed("faro", Clock::system()).await;
    let mut file = ConfigFile::open(&file_of(&follower)).unwrap();
    file.add_peer(&NewPeer {
        name: "faro".into(),
        address: followed.url(),
        ca: Some(followed.config.node.data_dir.join("tls/ca.crt")),
    })
    .unwrap();
    file.save().unwrap();
    // Saved right after the start, left to the file's poll (an edit that early used to be taken
    // for the text the node started with, and never applied).
    wait_until("the follower connected, not authenticated", || async {
        peer_status(&follower, "faro").is_some_and(|p| p.connected && !p.embargo_early)
    })
    .await;

    // Only the followed node's file changes (the follower's peer stays exactly as it was, so
    // nothing restarts its follower): the follower's re-check finds it trusted, and reconnects.
    let mut file = ConfigFile::open(&file_of(&followed)).unwrap();
    file.add_client_ca(&follower.config.node.data_dir.join("tls/ca.crt"))
        .unwrap();
    file.save().unwrap();
    let reloaded = tocsin::peering::reload(followed.server().node())
        .await
        .unwrap();
    assert!(reloaded.applied, "the client CAs changed");
    wait_until("the follower reconnected authenticated", || async {
        peer_status(&follower, "faro").is_some_and(|p| p.connected && p.embargo_early)
    })
    .await;
    let status = peer_status(&follower, "faro").unwrap();
    assert!(status.last_error.is_empty(), "{}", status.last_error);
}
