//! The client's URLs as people write them: a host name for a node on 127.0.0.1, and the
//! scheme in capitals (still TLS with the `--ca` given, not the system's roots). Real nodes on
//! loopback.

use tocsin::config::TlsMode;
use tocsin::rpc::Client;

use crate::support::*;
use crate::tls::trusting;

async fn tls_node() -> TestNode {
    TestNode::start_with(|c| c.tls.mode = TlsMode::Auto).await
}

fn port(node: &TestNode) -> u16 {
    node.server().grpc_addr().port()
}

#[tokio::test]
async fn a_node_on_127_0_0_1_is_reached_by_the_name_localhost() {
    let node = tls_node().await;
    let ca = node.config.node.data_dir.join("tls/ca.crt");
    let url = format!("https://localhost:{}", port(&node));
    // Whatever order the resolver gives localhost's addresses in (::1 first on many
    // machines), and from a bound IPv4 address (an IPv6 address is skipped, not fatal).
    for from in [None, Some(std::net::Ipv4Addr::LOCALHOST.into())] {
        let mut client = Client::connect_from(&url, &trusting(&ca), from)
            .await
            .unwrap_or_else(|e| panic!("{url} from {from:?}: {e}"));
        let info = client.info().await.unwrap();
        assert_eq!(info.node_key, node.server().node().node_key());
    }
}

#[tokio::test]
async fn https_in_capitals_is_tls_with_the_ca_given() {
    let node = tls_node().await;
    let ca = node.config.node.data_dir.join("tls/ca.crt");
    let url = format!("HTTPS://127.0.0.1:{}", port(&node));
    let mut client = Client::connect_with(&url, &trusting(&ca))
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    let info = client.info().await.unwrap();
    assert_eq!(info.node_key, node.server().node().node_key());
}
