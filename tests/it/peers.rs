//! `tocsin peer add|list|remove` edit a node's config, and `node status` shows the peers.

use assert_cmd::Command;

use crate::support::*;

fn tocsin() -> Command {
    Command::cargo_bin("tocsin").expect("the binary")
}

#[test]
fn peer_add_list_remove_edit_the_config_and_keep_it_valid() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tocsin.toml");
    std::fs::write(
        &file,
        "# Eastland Workers' node\n[node]\nname = \"eastland\"\n",
    )
    .unwrap();
    let cfg = file.to_str().unwrap();
    tocsin()
        .args([
            "peer",
            "add",
            "geneva",
            "http://127.0.0.1:7701",
            "--config",
            cfg,
        ])
        .assert()
        .success();
    tocsin()
        .args([
            "peer",
            "add",
            "brussels",
            "http://127.0.0.1:7702",
            "--config",
            cfg,
        ])
        .assert()
        .success();
    let out = tocsin()
        .args(["peer", "list", "--config", cfg])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("geneva") && text.contains("http://127.0.0.1:7702"),
        "{text}"
    );
    // A duplicate name, a bad URL and an unknown peer are usage errors.
    tocsin()
        .args([
            "peer",
            "add",
            "geneva",
            "http://127.0.0.1:7709",
            "--config",
            cfg,
        ])
        .assert()
        .code(2);
    tocsin()
        .args(["peer", "add", "lisbon", "127.0.0.1:7703", "--config", cfg])
        .assert()
        .code(2);
    tocsin()
        .args(["peer", "remove", "lisbon", "--config", cfg])
        .assert()
        .code(2);
    tocsin()
        .args(["peer", "remove", "geneva", "--config", cfg])
        .assert()
        .success();
    // A file that is not there: what to give instead, a usage error (list said only "No such
    // file or directory", exit 1).
    let nowhere = dir.path().join("nowhere.toml");
    for what in ["list", "remove geneva"] {
        let out = tocsin()
            .args(["peer"])
            .args(what.split(' '))
            .arg("--config")
            .arg(&nowhere)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "peer {what}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("does not exist: give the node's configuration file with --config FILE"),
            "peer {what}: {err}"
        );
    }
    // An address no other node could use, found before any node is asked (it was the node's
    // refusal, exit 1): nothing listens at the --node given here.
    let out = tocsin()
        .args(["peer", "invite", "--address", "http://198.51.100.7:7700"])
        .args(["--node", "https://127.0.0.1:9"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--address: \"http://198.51.100.7:7700\" is not a URL another node can reach"),
        "{err}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("# Eastland Workers' node"),
        "comments kept: {text}"
    );
    let config = tocsin::config::Config::load(Some(&file)).unwrap();
    assert_eq!(config.node.name, "eastland");
    assert_eq!(config.peers.len(), 1);
    assert_eq!(config.peers[0].name, "brussels");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_status_shows_each_peer_with_cursor_and_lag() {
    let mesh = Mesh::start(2, &[(0, 1)]).await;
    let key = org(70);
    let m = sign(alert(&key, "Status check"), &key);
    mesh.nodes[1]
        .client()
        .await
        .publish(m.signed())
        .await
        .unwrap();
    mesh.wait_all_have(1).await;
    // The follower reports its cursor once the batch that brought the message is settled.
    let node = mesh.nodes[0].server().node().clone();
    wait_until("the follower to report its cursor", || {
        let peers = node.peers();
        async move { peers.iter().any(|p| p.cursor == 1) }
    })
    .await;
    // The other side's cursor moves past the echo it is not sent (the message came from it).
    let other = mesh.nodes[1].server().node().clone();
    wait_until("the origin's cursor to move past its own message", || {
        let peers = other.peers();
        async move { peers.iter().any(|p| p.name == "n0" && p.cursor == 1) }
    })
    .await;
    let url = mesh.nodes[0].url();
    let out = tokio::task::spawn_blocking(move || {
        tocsin()
            .args(["node", "status", "--json", "--node", &url])
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
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let peer = &v["peers"][0];
    assert_eq!(peer["name"], "n1");
    assert_eq!(peer["connected"], true);
    assert_eq!(peer["cursor"], 1);
    assert_eq!(peer["lag"], 0);
}
