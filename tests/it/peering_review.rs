//! Peering under a hostile or broken other side: a joiner that sends two CAs, a leaf, a
//! plaintext address or an oversized request is refused and leaves nothing trusted; an inviter
//! that answers with an extra CA or a bad key leaves no trust at the joiner; a reload whose
//! client CA file is empty is refused whole; `peer remove` takes the peer's CA copy out.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tocsin::config::{Config, TlsMode};
use tocsin::message::Timestamp;
use tocsin::node::Clock;
use tocsin::peering::{ConfigFile, Line, NewPeer};
use tocsin::proto::peering_client::PeeringClient;
use tocsin::proto::peering_server::{Peering, PeeringServer};
use tocsin::proto::{PeerJoinReply, PeerJoinRequest};
use tocsin::rpc::{Client, ClientError, ClientTls};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, ServerTlsConfig};

use crate::support::*;

/// A TLS node whose configuration is read from a file of its own, as `tocsin node run
/// --config FILE` reads it.
async fn filed(name: &str) -> TestNode {
    let name = name.to_string();
    TestNode::start_with_clock(Clock::system(), move |c| {
        c.tls.mode = TlsMode::Auto;
        c.node.name = name.clone();
        let file = c.node.data_dir.with_file_name(format!("{name}.toml"));
        std::fs::write(
            &file,
            format!("[node]\nname = \"{name}\"\n\n[tls]\nclient_ca = []\n"),
        )
        .unwrap();
        c.path = Some(file);
    })
    .await
}

fn file_of(node: &TestNode) -> PathBuf {
    node.config.path.clone().expect("a config file")
}

fn config_of(node: &TestNode) -> Config {
    Config::load(Some(&file_of(node))).unwrap()
}

/// A client of the node on its own machine, trusting its CA.
async fn local(node: &TestNode) -> Client {
    let ca = node.config.node.data_dir.join("tls/ca.crt");
    let tls = ClientTls::trusting(Some(&ca)).unwrap();
    Client::connect_with(&node.url(), &tls).await.unwrap()
}

/// A node's TLS material made in `dir`: its CA and its chain (certificate, then CA) and key.
fn material(dir: &std::path::Path, name: &str) -> tocsin::tls::NodeTls {
    tocsin::tls::ensure_node_tls(&dir.join(name), name, &["127.0.0.1".to_string()]).unwrap()
}

/// The first certificate of a chain: the node's own, not a CA.
fn leaf_of(chain: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(chain.to_vec()).unwrap();
    let second = text[1..].find("-----BEGIN CERTIFICATE-----").unwrap() + 1;
    text.as_bytes()[..second].to_vec()
}

fn status_of(e: ClientError) -> (tonic::Code, String) {
    match e {
        ClientError::Status { code, message, .. } => (code, message),
        other => panic!("expected a status, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_with_two_cas_a_leaf_a_plaintext_address_or_an_oversized_ask_is_refused() {
    let inviter = filed("harbour").await;
    let certs = tempfile::tempdir().unwrap();
    let joiner = material(certs.path(), "eastport");
    let extra = material(certs.path(), "intruder");
    let invitation = local(&inviter)
        .await
        .invite("", 0, &inviter.url())
        .await
        .unwrap();
    let secret = Line::decode(&invitation.line).unwrap().secret().unwrap();
    let inviter_ca = std::fs::read(inviter.config.node.data_dir.join("tls/ca.crt")).unwrap();
    let channel = Endpoint::from_shared(inviter.url())
        .unwrap()
        .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&inviter_ca)))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut peering = PeeringClient::new(channel);
    let ask = |ca_pem: Vec<u8>, address: &str| PeerJoinRequest {
        secret: secret.to_vec(),
        name: "eastport".into(),
        address: address.into(),
        ca_pem,
        node_key: org(41).public().as_bytes().to_vec(),
    };

    let mut two = joiner.ca_pem.clone();
    two.extend_from_slice(&extra.ca_pem);
    let refused = peering
        .join(ask(two, "https://127.0.0.1:9"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(
        refused.message().contains("exactly one PEM block"),
        "{refused:?}"
    );

    let refused = peering
        .join(ask(
            leaf_of(&joiner.identity.cert_pem),
            "https://127.0.0.1:9",
        ))
        .await
        .unwrap_err();
    assert!(refused.message().contains("is not a CA"), "{refused:?}");

    // The inviter would follow it: plaintext to one of its own loopback services.
    let refused = peering
        .join(ask(joiner.ca_pem.clone(), "http://127.0.0.1:9"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(
        refused.message().contains("must be https://"),
        "{refused:?}"
    );

    // Far past what a join needs: refused by size, before it is read.
    let mut huge = joiner.ca_pem.clone();
    huge.resize(200 * 1024, b'\n');
    let refused = peering
        .join(ask(huge, "https://127.0.0.1:9"))
        .await
        .unwrap_err();
    assert!(refused.message().starts_with("too-large"), "{refused:?}");

    // Nothing was recorded, and the invitation is still good: the honest ask is taken, and
    // what is trusted is the joiner's one CA.
    let config = config_of(&inviter);
    assert!(config.peers.is_empty() && config.tls.client_ca.is_empty());
    peering
        .join(ask(joiner.ca_pem.clone(), "https://127.0.0.1:9"))
        .await
        .unwrap();
    let config = config_of(&inviter);
    assert_eq!(config.peers.len(), 1);
    assert_eq!(config.tls.client_ca.len(), 1);
    let copy = std::fs::read_to_string(&config.tls.client_ca[0]).unwrap();
    assert_eq!(copy.matches("-----BEGIN").count(), 1, "{copy}");
    assert_eq!(
        tocsin::tls::fingerprint(copy.as_bytes()),
        tocsin::tls::fingerprint(&joiner.ca_pem)
    );
}

/// An inviter that answers every join with what it is told to.
#[derive(Clone)]
struct ScriptedInviter {
    reply: Arc<Mutex<PeerJoinReply>>,
}

#[tonic::async_trait]
impl Peering for ScriptedInviter {
    async fn join(
        &self,
        _request: tonic::Request<PeerJoinRequest>,
    ) -> Result<tonic::Response<PeerJoinReply>, tonic::Status> {
        Ok(tonic::Response::new(self.reply.lock().unwrap().clone()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inviter_answering_with_an_extra_ca_or_a_bad_key_leaves_no_trust_at_the_joiner() {
    let certs = tempfile::tempdir().unwrap();
    let fake = material(certs.path(), "fakehall");
    let extra = material(certs.path(), "intruder");
    let good = PeerJoinReply {
        name: "eastport".into(),
        ca_pem: fake.ca_pem.clone(),
        node_key: org(42).public().as_bytes().to_vec(),
    };
    let reply = Arc::new(Mutex::new(good.clone()));
    let incoming =
        tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let address = format!(
        "https://127.0.0.1:{}",
        incoming.local_addr().unwrap().port()
    );
    let server = tonic::transport::Server::builder()
        .tls_config(
            ServerTlsConfig::new().identity(tonic::transport::Identity::from_pem(
                &fake.identity.cert_pem,
                &fake.identity.key_pem,
            )),
        )
        .unwrap()
        .add_service(PeeringServer::new(ScriptedInviter {
            reply: Arc::clone(&reply),
        }))
        .serve_with_incoming(incoming);
    let server = tokio::spawn(server);

    let joiner = filed("eastport").await;
    let line = || {
        let expires = Timestamp::now().0 / 1000 + 3600;
        let fingerprint = tocsin::tls::fingerprint(&fake.ca_pem).unwrap();
        Line::new(address.clone(), fingerprint, expires, "fakehall".into())
            .unwrap()
            .0
            .encode()
    };
    let untrusted = |why: &str| {
        let config = config_of(&joiner);
        assert!(config.tls.client_ca.is_empty(), "{why}: {config:?}");
        assert!(config.peers.is_empty(), "{why}");
        assert!(
            joiner
                .server()
                .node()
                .peering()
                .now()
                .client_ca_pem
                .is_none(),
            "{why}: the running node still trusts the inviter"
        );
    };

    // The pinned CA and another one after it.
    let mut two = fake.ca_pem.clone();
    two.extend_from_slice(&extra.ca_pem);
    reply.lock().unwrap().ca_pem = two;
    let (_, message) = status_of(
        local(&joiner)
            .await
            .join(&line(), "", &joiner.url())
            .await
            .unwrap_err(),
    );
    assert!(message.contains("exactly one PEM block"), "{message}");
    untrusted("an extra CA");

    // Another CA than the handshake's.
    reply.lock().unwrap().ca_pem = extra.ca_pem.clone();
    let (_, message) = status_of(
        local(&joiner)
            .await
            .join(&line(), "", &joiner.url())
            .await
            .unwrap_err(),
    );
    assert!(message.contains("other than the one"), "{message}");
    untrusted("another CA");

    // A node key that is not one.
    *reply.lock().unwrap() = PeerJoinReply {
        node_key: vec![1, 2, 3],
        ..good.clone()
    };
    let (code, message) = status_of(
        local(&joiner)
            .await
            .join(&line(), "", &joiner.url())
            .await
            .unwrap_err(),
    );
    assert_eq!(code, tonic::Code::InvalidArgument, "{message}");
    assert!(message.contains("node key"), "{message}");
    untrusted("a bad node key");

    // The same inviter answering well is joined: the refusals above were the answers'.
    *reply.lock().unwrap() = good;
    local(&joiner)
        .await
        .join(&line(), "", &joiner.url())
        .await
        .unwrap();
    let config = config_of(&joiner);
    assert_eq!(config.peers.len(), 1);
    assert_eq!(config.tls.client_ca.len(), 1);
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_with_an_empty_client_ca_file_is_refused_whole() {
    let node = filed("lisbon").await;
    let certs = tempfile::tempdir().unwrap();
    let porto = material(certs.path(), "porto");
    let good = certs.path().join("porto/ca.crt");
    let empty = certs.path().join("emptied.crt");
    std::fs::write(&empty, "").unwrap();
    let path = file_of(&node);
    let reload = || tocsin::peering::reload(node.server().node());

    let mut file = ConfigFile::open(&path).unwrap();
    file.add_client_ca(&good).unwrap();
    file.save().unwrap();
    reload().await.unwrap();
    let trusted = node.server().node().peering().now();
    assert_eq!(trusted.client_ca, std::slice::from_ref(&good));
    assert_eq!(trusted.client_ca_pem.as_deref(), Some(&porto.ca_pem[..]));

    // An empty file listed beside a new peer: neither is applied.
    let mut file = ConfigFile::open(&path).unwrap();
    file.add_client_ca(&empty).unwrap();
    file.add_peer(&NewPeer {
        name: "porto".into(),
        address: "https://127.0.0.1:9".into(),
        ca: Some(good.clone()),
    })
    .unwrap();
    file.save().unwrap();
    let refused = reload().await.unwrap_err().to_string();
    assert!(refused.contains("holds no certificate"), "{refused}");
    assert_eq!(node.server().node().peering().now(), trusted);
    assert!(node.server().node().peers().is_empty());

    // A file of text that is not a certificate is refused the same way.
    std::fs::write(
        &empty,
        "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    assert!(reload().await.is_err());
    assert_eq!(node.server().node().peering().now(), trusted);
}

#[test]
fn peer_remove_takes_the_peers_ca_copy_out_of_client_ca() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("baku.toml");
    let copy = dir.path().join("baku-data/peers/geneva.ca.crt");
    let own = dir.path().join("readers-ca.crt");
    std::fs::write(
        &config,
        format!(
            "[node]\nname = \"baku\"\n\n[tls]\nclient_ca = [{copy:?}, {own:?}]\n\n\
             [[peer]]\nname = \"geneva\"\naddress = \"https://127.0.0.1:7702\"\nca = {copy:?}\n"
        ),
    )
    .unwrap();
    let out = assert_cmd::Command::cargo_bin("tocsin")
        .unwrap()
        .args(["peer", "remove", "geneva", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("no longer trusted"), "{text}");
    let config = Config::load(Some(&config)).unwrap();
    assert!(config.peers.is_empty());
    assert_eq!(config.tls.client_ca, [own]);
}
