//! TLS on every link: the zero-config identity, refusals of plaintext and of unknown CAs,
//! and mutual TLS between peers, which alone receive embargoed messages early.

use std::path::Path;
use std::time::Duration;

use futures::StreamExt;
use tocsin::config::{PeerConfig, TlsMode};
use tocsin::message::*;
use tocsin::rpc::{Client, ClientEvent, ClientTls, PublishOutcome};

use crate::support::*;

pub(crate) fn trusting(ca: &Path) -> ClientTls {
    ClientTls {
        ca_pem: Some(std::fs::read(ca).unwrap()),
        identity: None,
        ca_path: Some(ca.to_path_buf()),
    }
}

#[tokio::test]
async fn a_node_serves_tls_by_default_and_a_local_cli_trusts_it_without_flags() {
    let node = TestNode::start_with(|c| {
        c.tls.mode = TlsMode::Auto;
        // Where `tocsin node run` keeps its data when started with the defaults.
        c.node.data_dir = c.node.data_dir.with_file_name("tocsin-data");
    })
    .await;
    let url = node.url();
    assert!(url.starts_with("https://"), "{url}");
    let ca = node.config.node.data_dir.join("tls/ca.crt");
    let mut c = Client::connect_with(&url, &trusting(&ca)).await.unwrap();
    let m = sign(alert(&org(120), "Over TLS"), &org(120));
    assert!(matches!(
        c.publish(m.signed()).await.unwrap(),
        PublishOutcome::Accepted { .. }
    ));

    // The CLI run where the node keeps its data finds the CA by itself.
    let cwd = node.dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("tocsin")
            .unwrap()
            .current_dir(&cwd)
            .env_remove("TOCSIN_CA")
            .args(["node", "status", "--node", &url])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("messages    1"));
}

#[tokio::test]
async fn plaintext_and_untrusting_clients_are_refused_by_a_tls_node() {
    let node = TestNode::start_with(|c| c.tls.mode = TlsMode::Auto).await;
    let addr = node.server().grpc_addr();
    // Plaintext HTTP/2 to a TLS port.
    let plain = match Client::connect(&format!("http://{addr}")).await {
        Ok(mut c) => c.info().await.is_err(),
        Err(_) => true,
    };
    assert!(plain, "a plaintext client was served");
    // TLS, but the node's CA is not trusted (system roots only).
    let untrusting = Client::connect_with(&node.url(), &ClientTls::default()).await;
    let refused = match untrusting {
        Ok(mut c) => c.info().await.is_err(),
        Err(_) => true,
    };
    assert!(
        refused,
        "a client that does not trust the node's CA connected"
    );
    // Nothing reached the log.
    assert_eq!(node.server().node().store().head(), 0);
}

/// Three CAs; nodes with certificates from the first trust only it for peers.
pub(crate) struct Pki {
    _dir: tempfile::TempDir,
    pub(crate) ca: std::path::PathBuf,
    pub(crate) other_ca: std::path::PathBuf,
    /// A CA with the first one's name and a key of its own.
    pub(crate) lookalike_ca: std::path::PathBuf,
    pub(crate) certs: std::path::PathBuf,
}

/// The federation's CA's name.
pub(crate) const FEDERATION_CA: &str = "Global Federation of Transport Workers CA";

/// The CAs, with certificates `geneva` and `baku` from the first, `impostor` from the other
/// and `lookalike` from the CA that took the first one's name.
pub(crate) fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("federation-ca");
    let other_dir = dir.path().join("other-ca");
    let lookalike_dir = dir.path().join("lookalike-ca");
    let ca = tocsin::tls::create_ca(&ca_dir, FEDERATION_CA).unwrap();
    let other_ca = tocsin::tls::create_ca(&other_dir, "Impostor CA").unwrap();
    let lookalike_ca = tocsin::tls::create_ca(&lookalike_dir, FEDERATION_CA).unwrap();
    let certs = dir.path().join("certs");
    let hosts = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    for name in ["geneva", "baku"] {
        tocsin::tls::issue_from_ca(&ca_dir, name, &hosts, &certs).unwrap();
    }
    tocsin::tls::issue_from_ca(&other_dir, "impostor", &hosts, &certs).unwrap();
    tocsin::tls::issue_from_ca(&lookalike_dir, "lookalike", &hosts, &certs).unwrap();
    Pki {
        ca,
        other_ca,
        lookalike_ca,
        certs,
        _dir: dir,
    }
}

/// A client that trusts the first CA and presents its certificate `name`: a peer node.
pub(crate) fn peer_client(pki: &Pki, name: &str) -> ClientTls {
    ClientTls {
        identity: Some(
            tocsin::tls::Identity::load(
                &pki.certs.join(format!("{name}.crt")),
                &pki.certs.join(format!("{name}.key")),
            )
            .unwrap(),
        ),
        ..trusting(&pki.ca)
    }
}

/// TLS from files: the certificate `name`, peers authenticated by the first CA.
pub(crate) fn files(c: &mut tocsin::config::Config, pki: &Pki, name: &str) {
    c.tls.mode = TlsMode::Files;
    c.tls.cert = Some(pki.certs.join(format!("{name}.crt")));
    c.tls.key = Some(pki.certs.join(format!("{name}.key")));
    c.tls.client_ca = vec![pki.ca.clone()];
    c.federation.reconnect_min = Duration::from_millis(50);
    c.federation.reconnect_max = Duration::from_millis(300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_peers_get_embargoed_messages_early_and_readers_do_not() {
    let pki = pki();
    let geneva = TestNode::start_with(|c| files(c, &pki, "geneva")).await;
    let geneva_url = geneva.url();
    let baku = TestNode::start_with(|c| {
        files(c, &pki, "baku");
        c.peers = vec![PeerConfig {
            name: "geneva".into(),
            address: geneva_url.clone(),
            ca: Some(pki.ca.clone()),
        }];
    })
    .await;
    // An embargoed call, released in a few seconds.
    let author = org(121);
    let mut body = alert(&author, "Coordinated release: file with the CEACR");
    body.effective_at = Some(Timestamp::now().plus(Duration::from_secs(4)));
    let m = sign(body, &author);
    let mut g = Client::connect_with(&geneva_url, &trusting(&pki.ca))
        .await
        .unwrap();
    assert!(matches!(
        g.publish(m.signed()).await.unwrap(),
        PublishOutcome::Accepted { .. }
    ));

    // The authenticated peer has it before the hour.
    let store = baku.server().node().store().clone();
    let id = m.id();
    wait_until("the peer to hold the embargoed message", || {
        let seen = store.seen(&id).unwrap().is_some();
        async move { seen }
    })
    .await;
    assert!(
        Timestamp::now() < m.body().effective_at.unwrap(),
        "the test ran too slowly"
    );

    // A reader, and a client that claims to be a peer without a certificate, do not.
    for claimed in [None, Some(org(122).public())] {
        let mut r = Client::connect_with(&geneva_url, &trusting(&pki.ca))
            .await
            .unwrap();
        let mut events = r.subscribe(&Filter::default(), 0, claimed).await.unwrap();
        match within("backfill", events.next()).await {
            Some(Ok(ClientEvent::CaughtUp(_))) => {}
            other => panic!("an embargoed message reached a reader early: {other:?}"),
        }
    }
    // At the hour, readers on both nodes see it.
    for node in [&geneva, &baku] {
        let mut r = Client::connect_with(&node.url(), &trusting(&pki.ca))
            .await
            .unwrap();
        let mut events = r.subscribe(&Filter::default(), 0, None).await.unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(15), events.next()).await {
                Ok(Some(Ok(ClientEvent::Delivery { message, .. }))) => {
                    assert_eq!(message.id(), id);
                    assert!(Timestamp::now() >= m.body().effective_at.unwrap());
                    break;
                }
                Ok(Some(Ok(ClientEvent::CaughtUp(_)))) => {}
                other => panic!("the release did not reach readers: {other:?}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_with_a_certificate_from_another_ca_is_served_as_a_reader() {
    // The impostor's certificate is from a CA the node does not name among those it trusts:
    // the follower does not present it (the node would refuse the whole handshake) and is
    // served as any reader is, as a peer added one way: what is public, and nothing under
    // embargo before its hour.
    let pki = pki();
    let geneva = TestNode::start_with(|c| files(c, &pki, "geneva")).await;
    let geneva_url = geneva.url();
    let impostor = TestNode::start_with(|c| {
        files(c, &pki, "impostor");
        c.tls.client_ca = vec![pki.other_ca.clone()];
        c.peers = vec![PeerConfig {
            name: "geneva".into(),
            address: geneva_url.clone(),
            ca: Some(pki.ca.clone()),
        }];
    })
    .await;
    let author = org(123);
    let public = sign(alert(&author, "Dockers on strike"), &author);
    let mut b = alert(&author, "Walk out at dawn");
    b.effective_at = Some(Timestamp::now().plus(Duration::from_secs(3600)));
    let embargoed = sign(b, &author);
    let mut g = Client::connect_with(&geneva_url, &trusting(&pki.ca))
        .await
        .unwrap();
    g.publish(embargoed.signed()).await.unwrap();
    g.publish(public.signed()).await.unwrap();
    let node = impostor.server().node().clone();
    wait_until("the impostor to receive the public alert", || {
        let held = node.store().message(&public.id()).unwrap().is_some();
        async move { held }
    })
    .await;
    let peer = &node.peers()[0];
    assert!(peer.connected && !peer.embargo_early, "{peer:?}");
    assert!(peer.last_error.is_empty(), "{peer:?}");
    assert!(
        node.store().message(&embargoed.id()).unwrap().is_none(),
        "the embargoed alert reached a follower the node does not trust"
    );
    // Nothing was refused at the serving node: the follower came as a reader.
    let info = g.info().await.unwrap();
    assert!(
        info.refused_handshakes
            .iter()
            .all(|r| r.cause != "untrusted-client-ca"),
        "{:?}",
        info.refused_handshakes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_a_certificate_from_a_lookalike_ca_is_refused() {
    // A CA that took the federation's CA's name: the node names a CA by that name, so the
    // follower presents its certificate, and the node refuses the handshake (another key).
    let pki = pki();
    let geneva = TestNode::start_with(|c| files(c, &pki, "geneva")).await;
    let geneva_url = geneva.url();
    let lookalike = TestNode::start_with(|c| {
        files(c, &pki, "lookalike");
        c.tls.client_ca = vec![pki.lookalike_ca.clone()];
        c.peers = vec![PeerConfig {
            name: "geneva".into(),
            address: geneva_url.clone(),
            ca: Some(pki.ca.clone()),
        }];
    })
    .await;
    let author = org(123);
    let m = sign(alert(&author, "Members only"), &author);
    let mut g = Client::connect_with(&geneva_url, &trusting(&pki.ca))
        .await
        .unwrap();
    g.publish(m.signed()).await.unwrap();
    // The follower keeps failing at the handshake and never receives anything.
    let node = lookalike.server().node().clone();
    wait_until("the follower to report an error", || {
        let peers = node.peers();
        async move { peers.iter().any(|p| !p.last_error.is_empty()) }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let peer = &lookalike.server().node().peers()[0];
    assert!(!peer.connected, "{peer:?}");
    assert!(
        peer.last_error
            .contains("it trusts a CA of that name, but not ours"),
        "{peer:?}"
    );
    assert_eq!(lookalike.server().node().store().head(), 0);
}

#[test]
fn node_init_and_the_ca_commands_write_private_keys_and_print_fingerprints() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = assert_cmd::Command::cargo_bin("tocsin")
            .unwrap()
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let mode = |p: &str| {
        std::fs::metadata(dir.path().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    let init = run(&["node", "init", "--data", "geneva-data"]);
    assert!(
        init.contains("node key") && init.contains("TLS certificate"),
        "{init}"
    );
    assert_eq!(mode("geneva-data"), 0o700);
    assert_eq!(mode("geneva-data/node.key"), 0o600);
    assert_eq!(mode("geneva-data/tls/node-tls.key"), 0o600);
    let ca = run(&[
        "ca",
        "init",
        "--dir",
        "fed-ca",
        "--name",
        "Global Federation CA",
    ]);
    assert!(ca.contains("fingerprint (SHA-256)"), "{ca}");
    assert_eq!(mode("fed-ca/ca.key"), 0o600);
    let issued = run(&[
        "ca",
        "issue",
        "--dir",
        "fed-ca",
        "--name",
        "baku",
        "--host",
        "127.0.0.1",
        "--out",
        "baku-tls",
    ]);
    assert!(issued.contains("baku.crt"), "{issued}");
    assert_eq!(mode("baku-tls/baku.key"), 0o600);
    // No host: a usage error that says what to add.
    let out = assert_cmd::Command::cargo_bin("tocsin")
        .unwrap()
        .current_dir(dir.path())
        .args([
            "ca", "issue", "--dir", "fed-ca", "--name", "lisbon", "--out", "x",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--host"));
}
