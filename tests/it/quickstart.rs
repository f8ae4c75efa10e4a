//! The README's Quickstart, run as a script: the block between `<!-- quickstart:begin -->` and
//! `<!-- quickstart:end -->`, its ports moved to free ones, run by `bash -euo pipefail` with the
//! built `tocsin` first on PATH and a temporary HOME. It must end well, and its output must show
//! the embargoed call held at saopaulo before its hour (received, not shown) and shown after.
//! Every process it starts is in one process group, killed whatever the outcome.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the whole Quickstart may take (its embargo alone lasts 20 seconds).
const TIME_LIMIT: Duration = Duration::from_secs(180);

/// The Quickstart's shell block, from the README.
fn quickstart_block() -> String {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let begin = readme
        .find("<!-- quickstart:begin -->")
        .expect("the README marks where the Quickstart begins");
    let end = readme
        .find("<!-- quickstart:end -->")
        .expect("the README marks where the Quickstart ends");
    let block = &readme[begin..end];
    let body = block
        .split_once("```sh\n")
        .expect("a ```sh block")
        .1
        .rsplit_once("```")
        .expect("the block's end")
        .0;
    body.to_string()
}

/// Ports free now (held until all are chosen, so they differ).
fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// Kills the script's process group (the shell and the nodes it started) when dropped.
struct Group(Child);

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = format!("-{}", self.0.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &pgid])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

/// The blocks of `tocsin node status` output for the node at `url`, in order: each from its
/// first line to the next status or the next message `tocsin follow` prints (`#SEQ …`).
fn status_blocks<'a>(out: &'a str, url: &str) -> Vec<&'a str> {
    let header = format!("node        {url}\n");
    out.match_indices(&header)
        .map(|(at, _)| {
            let rest = &out[at..];
            let after = &rest[header.len()..];
            let end = [after.find("node        "), after.find("\n#")]
                .into_iter()
                .flatten()
                .min()
                .map_or(rest.len(), |n| header.len() + n);
            &rest[..end]
        })
        .collect()
}

fn shows_messages(block: &str, n: u64) -> bool {
    block.lines().any(|l| {
        l.strip_prefix("messages")
            .is_some_and(|rest| rest.trim() == n.to_string())
    })
}

#[test]
fn the_readme_quickstart_runs_and_shows_the_embargoed_call_early_at_saopaulo() {
    let mut script = quickstart_block();
    let ports = free_ports(6);
    for (old, new) in [7701, 7702, 7703, 7781, 7782, 7783].iter().zip(&ports) {
        script = script.replace(&format!("127.0.0.1:{old}"), &format!("127.0.0.1:{new}"));
    }
    let home = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_tocsin"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let stdout = std::fs::File::create(home.path().join("stdout")).unwrap();
    let stderr = std::fs::File::create(home.path().join("stderr")).unwrap();
    let child = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("HOME", home.path())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env("TZ", "UTC")
        .env_remove("TOCSIN_NODE")
        .env_remove("TOCSIN_CA")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .expect("running bash");
    let mut group = Group(child);
    let deadline = Instant::now() + TIME_LIMIT;
    let status = loop {
        if let Some(status) = group.0.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = std::fs::read_to_string(home.path().join("stdout")).unwrap();
    let err = std::fs::read_to_string(home.path().join("stderr")).unwrap();
    let logs = ["baku", "geneva", "saopaulo"]
        .map(|n| {
            let log = home.path().join("tocsin-try").join(format!("{n}.log"));
            format!(
                "--- {n}.log\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        })
        .join("\n");
    let told = format!("stdout:\n{out}\nstderr:\n{err}\n{logs}");
    let status =
        status.unwrap_or_else(|| panic!("the Quickstart took over {TIME_LIMIT:?}\n{told}"));
    assert!(status.success(), "the Quickstart failed ({status})\n{told}");

    // Both joins took, embargo early both ways.
    assert_eq!(out.matches("joined geneva at").count(), 2, "{told}");
    assert_eq!(
        out.matches("embargoed messages: early, both ways").count(),
        2,
        "{told}"
    );
    // saopaulo's status before the hour: the call received from geneva, not shown to readers;
    // after it: shown.
    let saopaulo = format!("https://127.0.0.1:{}", ports[2]);
    let blocks = status_blocks(&out, &saopaulo);
    assert_eq!(blocks.len(), 2, "two statuses of saopaulo printed\n{told}");
    assert!(
        shows_messages(blocks[0], 3),
        "before the hour: {}",
        blocks[0]
    );
    assert!(
        blocks[0].contains("received 4 ") && blocks[0].contains("embargoed messages: early"),
        "before the hour: {}",
        blocks[0]
    );
    assert!(
        shows_messages(blocks[1], 4),
        "after the hour: {}",
        blocks[1]
    );
    // And a reader at saopaulo sees the call.
    assert!(
        out.contains("File observations with the ILO on the Eastport arrests"),
        "{told}"
    );
}
