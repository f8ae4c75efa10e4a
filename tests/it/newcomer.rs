//! The rough edges a newcomer hits, each named: a plaintext URL for a TLS node and the reverse,
//! a CA that is not the node's, the web gateway's port given for the gRPC one, nothing
//! listening, and a follower whose client certificate the node does not trust (told on both
//! sides: the follower's last error, the serving node's counts in NodeInfo and `node status`).
//! Real nodes on loopback; the CLI binary where the words are the CLI's.

use std::path::Path;

use tocsin::config::{PeerConfig, TlsMode};
use tocsin::rpc::{Client, ClientTls};

use crate::support::*;
use crate::tls::{files, pki, trusting};

/// Runs the CLI in an empty directory (no ./tocsin-data to find a CA in), without the
/// environment's node or CA; (success, stdout, stderr).
async fn cli(args: &[&str]) -> (bool, String, String) {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let cwd = tempfile::tempdir().unwrap();
        let out = assert_cmd::Command::cargo_bin("tocsin")
            .unwrap()
            .current_dir(cwd.path())
            .env_remove("TOCSIN_CA")
            .env_remove("TOCSIN_NODE")
            .env("NO_COLOR", "1")
            .args(&args)
            .timeout(PATIENCE)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

async fn tls_node() -> TestNode {
    TestNode::start_with(|c| c.tls.mode = TlsMode::Auto).await
}

fn own_ca(node: &TestNode) -> std::path::PathBuf {
    node.config.node.data_dir.join("tls/ca.crt")
}

/// The node's refused handshakes of `cause`, as its NodeInfo says: (count, last detail).
async fn refused(node: &TestNode, cause: &str) -> Option<(u64, String)> {
    let mut client = Client::connect_with(&node.url(), &trusting(&own_ca(node)))
        .await
        .unwrap();
    let info = client.info().await.unwrap();
    info.refused_handshakes
        .into_iter()
        .find(|r| r.cause == cause)
        .map(|r| (r.count, r.last_detail))
}

#[tokio::test]
async fn http_to_a_tls_node_is_told_to_use_https_and_the_node_counts_it() {
    let node = tls_node().await;
    let addr = node.server().grpc_addr();
    let (ok, _, err) = cli(&["node", "status", "--node", &format!("http://{addr}")]).await;
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "the node speaks TLS: use https://{addr} (and --ca FILE"
        )),
        "{err}"
    );
    let (count, _) = refused(&node, "plaintext").await.expect("counted");
    assert!(count >= 1);
    let ca = own_ca(&node);
    let (ok, out, err) = cli(&[
        "node",
        "status",
        "--node",
        &node.url(),
        "--ca",
        ca.to_str().unwrap(),
    ])
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains("TLS handshakes refused: ")
            && out.contains(" plaintext HTTP on the TLS port (the client should use https://)"),
        "{out}"
    );
}

#[tokio::test]
async fn https_to_a_plaintext_node_is_told_to_use_http() {
    let node = TestNode::start().await;
    let addr = node.server().grpc_addr();
    let err = Client::connect_with(&format!("https://{addr}"), &ClientTls::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "the node does not speak TLS: use http://{addr} (plaintext is for loopback only)"
        )),
        "{err}"
    );
}

#[tokio::test]
async fn a_ca_that_is_not_the_nodes_is_named_with_its_path_and_fingerprint() {
    let node = tls_node().await;
    let other = tempfile::tempdir().unwrap();
    let other_ca = tocsin::tls::create_ca(other.path(), "Riverside Tenants CA").unwrap();
    let fingerprint = tocsin::tls::fingerprint(&std::fs::read(&other_ca).unwrap()).unwrap();
    let (ok, _, err) = cli(&[
        "node",
        "status",
        "--node",
        &node.url(),
        "--ca",
        other_ca.to_str().unwrap(),
    ])
    .await;
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "the node's certificate is not from the CA you gave ({}, fingerprint {fingerprint}): check --ca",
            other_ca.display()
        )),
        "{err}"
    );
    // Without --ca (and no ./tocsin-data here): the system's CAs, said so.
    let (ok, _, err) = cli(&["node", "status", "--node", &node.url()]).await;
    assert!(!ok);
    assert!(
        err.contains("the node's certificate is not from the system's CAs (no --ca was given)"),
        "{err}"
    );
}

#[tokio::test]
async fn the_web_gateways_port_and_an_empty_port_are_named() {
    let node = tls_node().await;
    let web = node.server().http_addr().unwrap();
    let ca = own_ca(&node);
    let (ok, _, err) = cli(&[
        "node",
        "status",
        "--node",
        &format!("https://{web}"),
        "--ca",
        ca.to_str().unwrap(),
    ])
    .await;
    assert!(!ok);
    assert!(
        err.contains(&format!("{web} is a web gateway's port")),
        "{err}"
    );
    // Plaintext to the gateway: it reads HTTP/2's preface as a bad HTTP/1.1 request and drops
    // the connection without a byte; that is named too (it was "the node answered Unknown:
    // transport error").
    let (ok, _, err) = cli(&[
        "node",
        "status",
        "--node",
        &format!("http://{web}"),
        "--ca",
        ca.to_str().unwrap(),
    ])
    .await;
    assert!(!ok);
    assert!(
        err.contains(&format!("{web} closed the connection without a word"))
            && err.contains("not its web gateway's"),
        "{err}"
    );
    let empty = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (ok, _, err) = cli(&["node", "status", "--node", &format!("https://{empty}")]).await;
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "nothing listens at {empty} (is the node running? `tocsin node run …`)"
        )),
        "{err}"
    );
}

#[tokio::test]
async fn a_follower_whose_certificate_is_not_trusted_is_told_why_on_both_sides() {
    let pki = pki();
    let geneva = TestNode::start_with(|c| files(c, &pki, "geneva")).await;
    let geneva_url = geneva.url();
    // A CA that took the federation's CA's name (one by another name is not presented: see
    // `tls::a_follower_with_a_certificate_from_another_ca_is_served_as_a_reader`).
    let impostor = TestNode::start_with(|c| {
        files(c, &pki, "lookalike");
        c.tls.client_ca = vec![pki.lookalike_ca.clone()];
        c.peers = vec![PeerConfig {
            name: "geneva".into(),
            address: geneva_url.clone(),
            ca: Some(pki.ca.clone()),
        }];
    })
    .await;
    let node = impostor.server().node().clone();
    wait_until("the follower to name the refusal", || {
        let peers = node.peers();
        async move {
            peers
                .iter()
                .any(|p| p.last_error.contains("the node refused our certificate"))
        }
    })
    .await;
    let error = node.peers()[0].last_error.clone();
    assert!(
        error.contains("(issued by CN=Global Federation of Transport Workers CA, O=Tocsin)")
            && error.contains("it trusts a CA of that name, but not ours (another key)"),
        "{error}"
    );

    // The serving node counted it, with the issuer and whom it trusts.
    let mut g = Client::connect_with(&geneva_url, &trusting(&pki.ca))
        .await
        .unwrap();
    let info = g.info().await.unwrap();
    let untrusted = info
        .refused_handshakes
        .iter()
        .find(|r| r.cause == "untrusted-client-ca")
        .unwrap_or_else(|| panic!("{:?}", info.refused_handshakes));
    assert!(untrusted.count >= 1);
    assert_eq!(
        untrusted.last_detail,
        "issued by CN=Global Federation of Transport Workers CA, O=Tocsin (a CA of that name, but not the one this node trusts: another key); this node trusts CN=Global Federation of Transport Workers CA, O=Tocsin"
    );

    // `node status` of both sides says it in words.
    let (ok, out, err) = cli(&[
        "node",
        "status",
        "--node",
        &geneva_url,
        "--ca",
        pki.ca.to_str().unwrap(),
    ])
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains(" client certificate from an untrusted CA (issued by CN=Global Federation of Transport Workers CA, O=Tocsin (a CA of that name, but not the one this node trusts: another key); this node trusts CN=Global Federation of Transport Workers CA, O=Tocsin)"),
        "{out}"
    );
    let (ok, out, err) = cli(&[
        "node",
        "status",
        "--node",
        &impostor.url(),
        "--ca",
        pki.lookalike_ca.to_str().unwrap(),
    ])
    .await;
    assert!(ok, "{err}");
    assert!(
        out.contains("last error: ")
            && out
                .contains("the node refused our certificate (issued by CN=Global Federation of Transport Workers CA, O=Tocsin)"),
        "{out}"
    );
    // The JSON carries the counts too.
    let (ok, out, _) = cli(&[
        "node",
        "status",
        "--json",
        "--node",
        &geneva_url,
        "--ca",
        pki.ca.to_str().unwrap(),
    ])
    .await;
    assert!(ok);
    let json: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(
        json["refused_handshakes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["cause"] == "untrusted-client-ca" && r["count"].as_u64() >= Some(1)),
        "{json}"
    );
}

#[tokio::test]
async fn the_trust_hint_is_a_command_that_works_as_printed() {
    // `node init` prints it for the default address, with the CA's absolute path.
    let dir = tempfile::tempdir().unwrap();
    let init = {
        let dir = dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            assert_cmd::Command::cargo_bin("tocsin")
                .unwrap()
                .current_dir(&dir)
                .args(["node", "init", "--data", "riverside-data"])
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    let stdout = String::from_utf8_lossy(&init.stdout);
    let ca = std::path::absolute(dir.path().join("riverside-data/tls/ca.crt")).unwrap();
    assert!(
        stdout.contains(&format!(
            "clients trust it with: tocsin node status --node https://127.0.0.1:7700 --ca {}",
            ca.display()
        )),
        "{stdout}"
    );

    // The same words for a running node, run as printed from another directory.
    let node = tls_node().await;
    let command =
        tocsin::server::trust_command(node.server().grpc_addr(), &[], Path::new(&own_ca(&node)));
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[0], "tocsin");
    let (ok, out, err) = cli(&words[1..]).await;
    assert!(ok, "{command}: {err}");
    assert!(out.contains("messages    0"), "{out}");
    // And as the old hint had it, the flags before the command.
    let ca = own_ca(&node);
    let (ok, out, err) = cli(&[
        "--ca",
        ca.to_str().unwrap(),
        "--node",
        &node.url(),
        "node",
        "status",
    ])
    .await;
    assert!(ok, "{err}");
    assert!(out.contains("messages    0"), "{out}");
}

/// `GET path` on a web gateway: the status line.
async fn status_line(url: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut tcp = tokio::net::TcpStream::connect(&authority).await.unwrap();
    tcp.write_all(
        format!("GET / HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    within("the page", tcp.read_to_end(&mut answer))
        .await
        .unwrap();
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn demo_keep_prints_web_addresses_and_commands_that_work_as_printed() {
    use std::io::BufRead;
    let cwd = tempfile::tempdir().unwrap();
    let mut demo = std::process::Command::new(assert_cmd::cargo::cargo_bin("tocsin"))
        .current_dir(cwd.path())
        .env_remove("TOCSIN_CA")
        .env_remove("TOCSIN_NODE")
        .env("NO_COLOR", "1")
        .args(["demo", "--keep"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = demo.id();
    let stdout = demo.stdout.take().unwrap();
    // Read up to the line that says the nodes stay up (the demo then waits for Ctrl-C).
    let lines = tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let last = line.starts_with("Ctrl-C stops them");
            lines.push(line);
            if last {
                break;
            }
        }
        lines
    });
    let lines = within("the demo to print its addresses", lines)
        .await
        .unwrap();
    let text = lines.join("\n");
    assert!(text.contains("Ctrl-C stops them"), "{text}");
    let pages_at = lines
        .iter()
        .position(|l| l == "The nodes' pages, in a browser:")
        .unwrap_or_else(|| panic!("{text}"));
    let pages: Vec<&str> = lines[pages_at + 1..pages_at + 4]
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    for page in &pages {
        assert!(
            page.starts_with("http://127.0.0.1:") && !page.ends_with(":0/"),
            "{page}"
        );
        assert_eq!(status_line(page).await, "HTTP/1.1 200 OK", "{page}");
    }
    // The printed node status command, run as printed.
    let command = lines
        .iter()
        .find(|l| {
            l.trim_start()
                .starts_with("tocsin node status --node https://")
        })
        .unwrap_or_else(|| panic!("{text}"));
    let words: Vec<&str> = command.split_whitespace().collect();
    let (ok, out, err) = cli(&words[1..]).await;
    assert!(ok, "{command}: {err}");
    assert!(out.contains("peer "), "{out}");

    // Ctrl-C, as the demo says.
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let exit = within(
        "the demo to stop",
        tokio::task::spawn_blocking(move || demo.wait()),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(exit.success(), "{exit:?}");
}
