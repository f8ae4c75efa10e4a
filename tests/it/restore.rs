//! A peer restored from `tocsin node backup` (the real command, against the running node) and
//! started on the copy: it gets back from the peer that follows it, by reconciliation, what it
//! had accepted after the backup was taken (the peer's log never sends a node what came from
//! it), and goes on delivering what it accepts afterwards, each message stored once.

use tocsin::message::*;
use tocsin::node::PeerStatus;
use tocsin::rpc::PublishOutcome;

use crate::backup::{field, text, tocsin_in};
use crate::support::*;

/// The Fictional Tanners' Union's relay: the peer that stays.
const KEEPER: usize = 0;
/// The Fictional Seamen's Union's relay: backed up, then restored.
const RESTORED: usize = 1;

/// Publishes `n` new alerts on the node, each accepted.
async fn post(node: &TestNode, what: &str, n: usize) -> Vec<Id> {
    let key = org(71);
    let mut client = node.client().await;
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let m = sign(alert(&key, &format!("{what}, report {i}")), &key);
        let got = client.publish(m.signed()).await.expect("publishing");
        assert!(matches!(got, PublishOutcome::Accepted { .. }), "{got:?}");
        ids.push(m.id());
    }
    ids
}

/// The node's status of its peer `n{peer}`.
fn status_of(node: &TestNode, peer: usize) -> PeerStatus {
    node.server()
        .node()
        .peers()
        .into_iter()
        .find(|p| p.name == format!("n{peer}"))
        .expect("the peer is configured")
}

/// Waits until the node holds exactly these messages, each under one seq.
async fn wait_holds_exactly(node: &TestNode, who: &str, ids: &[Id]) {
    let store = node.server().node().store().clone();
    wait_until(&format!("{who} to hold {} messages", ids.len()), || {
        let all = ids
            .iter()
            .all(|id| store.get(id).expect("reading the store").is_some());
        let head = store.head();
        async move { all && head >= ids.len() as u64 }
    })
    .await;
    let counts = store.counts().expect("counts");
    let n = ids.len() as u64;
    assert_eq!(
        (counts.messages, counts.head_seq),
        (n, n),
        "{who}: each message once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_peer_gets_back_what_it_accepted_after_the_backup_and_keeps_delivering() {
    let mut mesh = Mesh::start(2, &[(KEEPER, RESTORED)]).await;
    let restored_key = mesh.nodes[RESTORED].server().node().node_key();
    let mut everything = post(&mesh.nodes[RESTORED], "Seamen detained in Port Ysolde", 3).await;
    mesh.wait_all_have(3).await;

    let backups = tempfile::tempdir().expect("tempdir");
    let url = mesh.nodes[RESTORED].url();
    let out = tocsin_in(backups.path(), &["node", "backup", "copy", "--node", &url]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(field(&text(&out.stdout), "log head"), 3);
    let old_log = mesh.nodes[RESTORED].server().node().store().log_id();

    // Accepted after the backup: afterwards only the keeper holds them.
    let after_backup = post(&mesh.nodes[RESTORED], "Strike pay for the crews", 3).await;
    let keepers_own = post(&mesh.nodes[KEEPER], "Tanners vote to join", 1).await;
    everything.extend(after_backup.iter().chain(&keepers_own));
    mesh.wait_all_have(7).await;

    // The keeper cannot reach the restored node for now, so that what comes back comes by the
    // restored node's own following and reconciliation, not by the keeper's offer.
    mesh.links[&(KEEPER, RESTORED)].cut();
    wait_until("the keeper to lose the restored node", || {
        let connected = status_of(&mesh.nodes[KEEPER], RESTORED).connected;
        async move { !connected }
    })
    .await;
    let restored = &mut mesh.nodes[RESTORED];
    restored.stop().await;
    restored.config.node.data_dir = backups.path().join("copy");
    restored.restart().await;
    let store = restored.server().node().store().clone();
    assert_eq!(store.opened_head(), 3, "opened as the backup left it");
    assert_ne!(store.log_id(), old_log, "a restored backup is a new log");
    assert_eq!(restored.server().node().node_key(), restored_key);

    wait_holds_exactly(&mesh.nodes[RESTORED], "the restored node", &everything).await;
    // The keeper's own alert came by the log; what came from the restored node never does,
    // so those three came by reconciliation.
    wait_until("the restored node's reconciliations to be noted", || {
        let status = status_of(&mesh.nodes[RESTORED], KEEPER);
        async move { status.reconciled.fetched >= 3 }
    })
    .await;
    let status = status_of(&mesh.nodes[RESTORED], KEEPER);
    assert_eq!(status.reconciled.fetched, 3, "{status:?}");
    assert_eq!(status.reconciled.refused, 0, "{status:?}");

    // Accepted after the restore, and delivered once the keeper can reach it again: the
    // keeper follows the new log from its start and stores nothing twice.
    let after_restore = post(&mesh.nodes[RESTORED], "Crews back at sea", 2).await;
    everything.extend(&after_restore);
    mesh.links[&(KEEPER, RESTORED)].heal();
    wait_holds_exactly(&mesh.nodes[KEEPER], "the keeper", &everything).await;
    let status = status_of(&mesh.nodes[KEEPER], RESTORED);
    assert_eq!(status.log_changes, 1, "{status:?}");
    assert_eq!(status.log_id, Some(store.log_id()), "{status:?}");
    wait_holds_exactly(&mesh.nodes[RESTORED], "the restored node", &everything).await;
}
