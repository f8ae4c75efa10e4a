//! `tocsin node backup` against a running node: a copy taken while messages are published,
//! restored by starting a second node on it, holds every message acknowledged before the backup
//! began, under the same node key; the command's refusals say what to do.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tocsin::message::Id;
use tocsin::rpc::PublishOutcome;

use crate::support::*;

/// `tocsin ARGS…` run in `cwd`, off the async runtime (the node under test shares it).
pub async fn tocsin_in(cwd: &Path, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("TOCSIN_NODE")
        .stdin(Stdio::null());
    let what = args.join(" ");
    within(&what, async {
        tokio::task::spawn_blocking(move || cmd.output().expect("running tocsin"))
            .await
            .expect("the runner")
    })
    .await
}

/// A command's output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The number after `label` in the command's output ("log head    42").
pub fn field(out: &str, label: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} in:\n{out}"))
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_publishing_restores_everything_acknowledged_before_it() {
    let mut node = TestNode::start().await;
    let url = node.url();
    let node_key = node.client().await.info().await.unwrap().node_key;
    // A publisher that goes on through the backup, keeping what was acknowledged, in order.
    let acked = Arc::new(Mutex::new(Vec::<(u64, Id)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let (acked, stop, mut client) = (acked.clone(), stop.clone(), node.client().await);
        tokio::spawn(async move {
            let key = org(31);
            for n in 0..100_000u32 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let m = sign(
                    alert(
                        &key,
                        &format!("Warehouse strike at Fictionport, bulletin {n}"),
                    ),
                    &key,
                );
                match client.publish(m.signed()).await.unwrap() {
                    PublishOutcome::Accepted { id, seq } => acked.lock().unwrap().push((seq, id)),
                    other => panic!("{other:?}"),
                }
            }
        })
    };
    wait_until("some messages published", || async {
        acked.lock().unwrap().len() >= 50
    })
    .await;
    let before = acked.lock().unwrap().clone();

    // A relative DIR is the command's working directory's, wherever the node runs.
    let cwd = tempfile::tempdir().unwrap();
    let out = tocsin_in(cwd.path(), &["node", "backup", "copy", "--node", &url]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);
    let copy = cwd.path().join("copy");
    assert!(printed.contains(&copy.display().to_string()), "{printed}");
    assert!(printed.contains("publishes   waited"), "{printed}");
    assert!(
        printed.contains("every body and signature checked"),
        "{printed}"
    );
    let head = field(&printed, "log head");
    assert!(head >= before.last().unwrap().0, "{printed}");

    let during = acked.lock().unwrap().len();
    wait_until("publishing after the backup", || async {
        acked.lock().unwrap().len() > during + 10
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    publisher.await.unwrap();
    let all = acked.lock().unwrap().clone();
    node.stop().await;

    // Private as the original: the directory 0700, the node key 0600.
    assert_eq!(mode(&copy), 0o700);
    assert_eq!(mode(&copy.join("node.key")), 0o600);
    // The note is left in place: a store opens with it (its marker is there). The log-identity
    // work reads it to give the restored log a new id.
    assert!(copy.join("store").join("tocsin-backup").exists());

    let restored = TestNode::start_with(|c| c.node.data_dir = copy.clone()).await;
    let mut client = restored.client().await;
    let info = client.info().await.unwrap();
    assert_eq!(info.node_key, node_key, "a restored node keeps its key");
    assert_eq!(info.head_seq, head);
    for (seq, id) in &all {
        let held = client.get(*id).await.unwrap().is_some();
        assert_eq!(
            held,
            *seq <= head,
            "seq {seq}: acknowledged {} the backup's head {head}",
            if *seq <= head { "up to" } else { "after" }
        );
    }
    assert!(before.iter().all(|(seq, _)| *seq <= head));
}

#[tokio::test]
async fn the_command_says_what_to_do_when_it_cannot_back_up() {
    let node = TestNode::start().await;
    let url = node.url();
    let cwd = tempfile::tempdir().unwrap();
    // A target that holds files is left alone.
    let used = cwd.path().join("used");
    std::fs::create_dir(&used).unwrap();
    std::fs::write(used.join("minutes.txt"), "branch meeting").unwrap();
    let out = tocsin_in(cwd.path(), &["node", "backup", "used", "--node", &url]).await;
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(said.contains("not empty"), "{said}");
    assert_eq!(std::fs::read_dir(&used).unwrap().count(), 1);
    // Inside the node's own data directory: refused.
    let inside = node.config.node.data_dir.join("backup");
    let out = tocsin_in(
        cwd.path(),
        &["node", "backup", inside.to_str().unwrap(), "--node", &url],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("inside the node's data directory"));
    assert!(!inside.exists());
    // No node there: start it, or copy a stopped node's directory.
    let gone = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let out = tocsin_in(
        cwd.path(),
        &[
            "node",
            "backup",
            "fresh",
            "--node",
            &format!("http://{gone}"),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(
        said.contains("start it, or, for a stopped node, copy its data directory"),
        "{said}"
    );
    assert!(!cwd.path().join("fresh").exists());
}
