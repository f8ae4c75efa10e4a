//! The `tocsin` binary against real nodes: posting in several languages, following with a
//! language preference, update, cancel, endorse, export/import, the demo, and every usage error
//! (exit 2) and refusal (exit 1).

use std::path::PathBuf;
use std::process::{Output, Stdio};

use assert_cmd::assert::OutputAssertExt;
use tocsin::message::*;

use crate::support::*;

/// A fixed zone without daylight saving, so local times can be asserted: UTC+4.
const TZ: &str = "<+04>-4";

/// The command with a predictable environment: no colour, no locale language, UTC+4, no
/// default node.
pub(crate) fn tocsin(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("TZ", TZ)
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("TOCSIN_NODE")
        .stdin(Stdio::null());
    cmd
}

/// Runs the binary off the async runtime (the nodes under test share it).
pub(crate) async fn run(args: &[&str]) -> Output {
    let mut cmd = tocsin(args);
    let what = args.join(" ");
    within(&what, async {
        tokio::task::spawn_blocking(move || cmd.output().expect("running tocsin"))
            .await
            .expect("the runner")
    })
    .await
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
#[track_caller]
pub(crate) fn ok(o: Output) -> String {
    o.clone().assert().success();
    stdout(&o)
}

/// `tocsin follow --node URL --until-caught-up EXTRA…`, which must succeed: its output.
pub(crate) async fn follow_caught_up(url: &str, extra: &[&str]) -> String {
    let mut args = vec!["follow", "--node", url, "--until-caught-up"];
    args.extend_from_slice(extra);
    ok(run(&args).await)
}

/// Asserts exit code `code` and that stderr mentions `fragment`.
#[track_caller]
pub(crate) fn fails(o: Output, code: i32, fragment: &str) {
    o.clone().assert().code(code);
    let err = stderr(&o);
    assert!(
        err.contains(fragment),
        "expected {fragment:?} in stderr:\n{err}"
    );
}

/// A scratch directory with keys made by `tocsin keygen`.
pub(crate) struct Desk {
    dir: tempfile::TempDir,
}

impl Desk {
    pub(crate) fn new() -> Desk {
        Desk {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// Makes a key without a recovery key (these tests are of other things; `keys_cli.rs`
    /// tests keys with one) and returns (its file, its public key).
    pub(crate) async fn key(&self, name: &str) -> (String, String) {
        let file = self.p(name);
        let out = ok(run(&["keygen", "--out", &file, "--no-recovery"]).await);
        (file, out.trim().to_string())
    }

    pub(crate) fn write(&self, name: &str, text: &str) -> String {
        std::fs::write(self.path(name), text).expect("writing a test file");
        self.p(name)
    }
}

const TWO_LANGUAGE_ALERT: &str = r#"
category = "arrest"
urgency = "immediate"
severity = "severe"
certainty = "observed"
countries = ["AZ"]
topics = ["union-rights"]

[[info]]
language = "en"
headline = "Four leaders of the Eastport dockworkers arrested"
description = "Police detained four leaders of the Eastland Dockworkers' Union at dawn."
instruction = "Write to the Prosecutor General of Eastland."

[[info]]
language = "fr"
headline = "Quatre dirigeants des dockers d'Eastport arrêtés"
description = "La police a arrêté quatre dirigeants du syndicat des dockers d'Eastland à l'aube."
"#;

/// The `{"id","seq","status"}` line of a `--json` post.
pub(crate) fn posted(out: &str) -> (String, u64, String) {
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    (
        v["id"].as_str().expect("id").to_string(),
        v["seq"].as_u64().expect("seq"),
        v["status"].as_str().expect("status").to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_in_two_languages_then_follow_with_a_language_preference() {
    let node = TestNode::start().await;
    let url = node.url();
    let desk = Desk::new();
    let (key, public) = desk.key("eastland.key").await;
    let file = desk.write("arrest.toml", TWO_LANGUAGE_ALERT);

    let out = ok(run(&[
        "post", "alert", "--file", &file, "--key", &key, "--node", &url, "--json",
    ])
    .await);
    let (id, seq, status) = posted(&out);
    assert_eq!((seq, status.as_str()), (1, "accepted"));
    // Without --json: the kind, the id and where it went.
    ok(run(&[
        "profile",
        "set",
        "--key",
        &key,
        "--node",
        &url,
        "--name",
        "Eastland Dockworkers' Union",
        "--country",
        "az",
    ])
    .await);

    // French preferred: the French text, with the other language named, the author's name,
    // local time in the reader's zone.
    let fr = follow_caught_up(&url, &["--lang", "fr"]).await;
    assert!(
        fr.contains("Quatre dirigeants des dockers d'Eastport arrêtés"),
        "{fr}"
    );
    assert!(
        !fr.contains("Four leaders of the Eastport dockworkers arrested"),
        "{fr}"
    );
    assert!(fr.contains("[fr; also en]"), "{fr}");
    assert!(
        fr.contains(&format!(
            "by Eastland Dockworkers' Union ({})",
            &public[..12]
        )),
        "{fr}"
    );
    assert!(fr.contains("+04 (just now)"), "{fr}");
    assert!(fr.contains("no endorsements yet"), "{fr}");
    assert!(fr.contains(&format!("id {id}")), "{fr}");

    // A language it lacks: English, and the reader is told.
    let de = follow_caught_up(&url, &["--lang", "de", "--kind", "alert"]).await;
    assert!(
        de.contains("Four leaders of the Eastport dockworkers arrested"),
        "{de}"
    );
    assert!(de.contains("[en — no de text; also fr]"), "{de}");
    assert!(
        de.contains("What to do: Write to the Prosecutor General of Eastland."),
        "{de}"
    );

    // The locale is the default preference.
    let mut cmd = tocsin(&[
        "follow",
        "--node",
        &url,
        "--until-caught-up",
        "--kind",
        "alert",
    ]);
    cmd.env("LANG", "fr_FR.UTF-8");
    let by_locale = stdout(
        &tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap(),
    );
    assert!(by_locale.contains("Quatre dirigeants"), "{by_locale}");

    // Filters narrow; JSON is one object per line with the signed bytes.
    let only_fr = follow_caught_up(&url, &["--only-lang", "fr", "--json"]).await;
    let lines: Vec<serde_json::Value> = only_fr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "only the alert has French text: {only_fr}");
    assert_eq!(lines[0]["id"], id.as_str());
    assert_eq!(lines[0]["seq"], 1);
    assert_eq!(lines[0]["content"]["info"].as_array().unwrap().len(), 2);
    let none = follow_caught_up(&url, &["--country", "BR"]).await;
    assert!(none.is_empty(), "{none}");
    let mine = follow_caught_up(&url, &["--author", &public, "--kind", "profile", "--json"]).await;
    assert_eq!(mine.lines().count(), 1, "{mine}");

    // Signed offline from the same file, inspected, then sent: the same kind of message.
    let msg = desk.p("arrest.msg");
    ok(run(&[
        "sign",
        "alert",
        "--file",
        &file,
        "--key",
        &key,
        "--out",
        &msg,
        "--severity",
        "extreme",
    ])
    .await);
    let inspected = ok(run(&["inspect", &msg]).await);
    assert!(
        inspected.contains("[fr] Quatre dirigeants") && inspected.contains("severity extreme"),
        "{inspected}"
    );
    let sent = ok(run(&["send", &msg, "--node", &url]).await);
    assert!(sent.starts_with("accepted alert "), "{sent}");

    // show: every language, with the details.
    let shown = ok(run(&["show", &id, "--node", &url]).await);
    assert!(
        shown.contains("[en] Four leaders") && shown.contains("[fr] Quatre dirigeants"),
        "{shown}"
    );
    assert!(shown.contains("expires "), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_cancel_and_endorse_a_call() {
    let node = TestNode::start().await;
    let url = node.url();
    let desk = Desk::new();
    let (union, _) = desk.key("eastland.key").await;
    let (federation, _) = desk.key("geneva.key").await;
    ok(run(&[
        "profile",
        "set",
        "--key",
        &federation,
        "--node",
        &url,
        "--name",
        "Global Dockers' Federation",
    ])
    .await);

    let deadline = Timestamp::now().plus(std::time::Duration::from_secs(3 * 86400 + 600));
    let out = ok(run(&[
        "post",
        "call",
        "--key",
        &union,
        "--node",
        &url,
        "--json",
        "--lang",
        "en",
        "--headline",
        "Write to the President of Eastland",
        "--description",
        "Demand the release of the Eastport four.",
        "--action",
        "letter",
        "--action",
        "petition",
        "--target",
        "President of Eastland",
        "--deadline",
        &deadline.to_rfc3339(),
        "--convention",
        "C087",
        "--supervisory-body",
        "cfa",
        "--country",
        "AZ",
    ])
    .await);
    let (call, _, _) = posted(&out);
    let feed = follow_caught_up(&url, &["--kind", "call"]).await;
    assert!(feed.contains("deadline in 3 days"), "{feed}");
    assert!(
        feed.contains("Asks: letter, petition · Target: President of Eastland"),
        "{feed}"
    );
    assert!(
        feed.contains("ILO conventions C087 · before the CFA"),
        "{feed}"
    );

    // update: only what is given changes.
    let out = ok(run(&[
        "update",
        &call,
        "--key",
        &union,
        "--node",
        &url,
        "--lang",
        "en",
        "--description",
        "Two of the four were released.",
        "--json",
    ])
    .await);
    let (update, _, status) = posted(&out);
    assert_eq!(status, "accepted");
    let shown = ok(run(&["show", &call, "--node", &url]).await);
    assert!(shown.contains("Two of the four were released."), "{shown}");
    assert!(
        shown.contains("Write to the President of Eastland"),
        "{shown}"
    );
    assert!(shown.contains("Asks: letter, petition"), "{shown}");
    assert!(
        shown.contains("History:") && shown.contains(&update[..12]),
        "{shown}"
    );
    // An update that changes nothing is refused before signing.
    fails(
        run(&["update", &call, "--key", &union, "--node", &url]).await,
        2,
        "changes nothing",
    );

    // endorse: once per organisation; the tally and the name show.
    ok(run(&[
        "endorse",
        &call,
        "--key",
        &federation,
        "--node",
        &url,
        "--statement",
        "We stand with the Eastport four.",
    ])
    .await);
    fails(
        run(&["endorse", &call, "--key", &federation, "--node", &url]).await,
        1,
        "endorsed",
    );
    let shown = ok(run(&["show", &call, "--node", &url]).await);
    assert!(shown.contains("Endorsed by 1:"), "{shown}");
    assert!(
        shown.contains("Global Dockers' Federation")
            && shown.contains("We stand with the Eastport four."),
        "{shown}"
    );
    let feed = follow_caught_up(&url, &[]).await;
    assert!(feed.contains("1 endorsement · updated once"), "{feed}");
    assert!(feed.contains("ENDORSEMENT of"), "{feed}");

    // cancel: only the author; afterwards the content is withdrawn.
    fails(
        run(&[
            "cancel",
            &call,
            "--key",
            &federation,
            "--node",
            &url,
            "--reason",
            "not mine",
        ])
        .await,
        1,
        "not-author",
    );
    // By its update's id: the original is what is cancelled.
    ok(run(&[
        "cancel",
        &update,
        "--key",
        &union,
        "--node",
        &url,
        "--reason",
        "Names were published by mistake.",
    ])
    .await);
    let shown = ok(run(&["show", &call, "--node", &url]).await);
    assert!(
        shown.contains("CANCELLED") && shown.contains("Names were published by mistake."),
        "{shown}"
    );
    assert!(!shown.contains("Demand the release"), "{shown}");
    fails(
        run(&[
            "update", &call, "--key", &union, "--node", &url, "--target", "x",
        ])
        .await,
        1,
        "cancelled",
    );
    fails(
        run(&[
            "cancel", &call, "--key", &union, "--node", &url, "--reason", "again",
        ])
        .await,
        1,
        "cancelled already",
    );
    // An id the node does not have.
    let unknown = "00".repeat(32);
    fails(
        run(&["show", &unknown, "--node", &url]).await,
        1,
        "has no message",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_import_preserves_ids_and_signatures() {
    let a = TestNode::start().await;
    let b = TestNode::start().await;
    let mut client = a.client().await;
    for n in 1..=5u8 {
        let key = org(n);
        let m = sign(
            alert(&key, &format!("Strike at the Northport yard, day {n}")),
            &key,
        );
        client.publish(m.signed()).await.unwrap();
    }
    let desk = Desk::new();
    let file = desk.p("northport.tocsin");
    let out = ok(run(&["export", "--node", &a.url(), "--out", &file]).await);
    assert!(out.contains("exported 5 messages"), "{out}");
    // Never overwritten.
    fails(
        run(&["export", "--node", &a.url(), "--out", &file]).await,
        1,
        "exists already",
    );
    // A filtered export.
    let some = desk.p("one.tocsin");
    let key1 = org(1).public().to_hex();
    ok(run(&[
        "export",
        "--node",
        &a.url(),
        "--author",
        &key1,
        "--out",
        &some,
    ])
    .await);

    let out = ok(run(&["import", &file, "--node", &b.url(), "--json"]).await);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (
            v["accepted"].as_u64(),
            v["duplicate"].as_u64(),
            v["refused"].as_u64()
        ),
        (Some(5), Some(0), Some(0))
    );
    let again = ok(run(&["import", &file, "--node", &b.url()]).await);
    assert!(
        again.contains("0 accepted, 5 duplicate, 0 refused"),
        "{again}"
    );
    let one = ok(run(&["import", &some, "--node", &b.url(), "--json"]).await);
    assert!(one.contains("\"duplicate\":1"), "{one}");

    // Same ids, same body bytes, same signatures.
    let signed = |out: String| -> std::collections::BTreeSet<(String, String, String)> {
        out.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let s = |k: &str| v[k].as_str().unwrap().to_string();
                (s("id"), s("body"), s("signature"))
            })
            .collect()
    };
    let on_a = signed(ok(run(&[
        "follow",
        "--node",
        &a.url(),
        "--until-caught-up",
        "--json",
    ])
    .await));
    let on_b = signed(ok(run(&[
        "follow",
        "--node",
        &b.url(),
        "--until-caught-up",
        "--json",
    ])
    .await));
    assert_eq!(on_a.len(), 5);
    assert_eq!(on_a, on_b);

    // A damaged file is named, with the record.
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.truncate(bytes.len() - 10);
    let cut = desk.path("cut.tocsin");
    std::fs::write(&cut, bytes).unwrap();
    fails(
        run(&["import", &cut.display().to_string(), "--node", &b.url()]).await,
        1,
        "record 5",
    );
    let not_export = desk.write("notes.txt", "hello");
    fails(
        run(&["import", &not_export, "--node", &b.url()]).await,
        1,
        "not a Tocsin export",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_exit_1_with_their_reason_code() {
    let node = TestNode::start().await;
    let url = node.url();
    let desk = Desk::new();
    let (key, _) = desk.key("seized.key").await;
    let revocation = format!("{key}.revocation");
    let out = ok(run(&[
        "revoke",
        "--revocation",
        &revocation,
        "--node",
        &url,
        "--json",
    ])
    .await);
    assert!(out.contains("\"accepted\""), "{out}");
    fails(
        run(&[
            "post",
            "alert",
            "--key",
            &key,
            "--node",
            &url,
            "--lang",
            "en",
            "--headline",
            "H",
            "--description",
            "D",
        ])
        .await,
        1,
        "revoked-author",
    );
    let out = run(&[
        "post",
        "alert",
        "--key",
        &key,
        "--node",
        &url,
        "--lang",
        "en",
        "--headline",
        "H",
        "--description",
        "D",
        "--json",
    ])
    .await;
    out.clone().assert().code(1);
    assert!(
        stdout(&out).contains("\"reason\":\"revoked-author\""),
        "{}",
        stdout(&out)
    );

    // No node there: what to do next.
    let (fresh, _) = desk.key("fresh.key").await;
    fails(
        run(&[
            "post",
            "alert",
            "--key",
            &fresh,
            "--node",
            "http://127.0.0.1:9",
            "--lang",
            "en",
            "--headline",
            "H",
            "--description",
            "D",
        ])
        .await,
        1,
        "tocsin node run",
    );
    // A key others can read is refused, with the fix.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o644)).unwrap();
        fails(
            run(&[
                "post",
                "alert",
                "--key",
                &fresh,
                "--node",
                &url,
                "--lang",
                "en",
                "--headline",
                "H",
                "--description",
                "D",
            ])
            .await,
            1,
            "chmod 600",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_usage_error_exits_2_and_says_what_to_type() {
    let desk = Desk::new();
    let (key, _) = desk.key("eastland.key").await;
    let call_file = desk.write("call.toml", "actions = [\"letter\"]\n[[info]]\nlanguage = \"en\"\nheadline = \"H\"\ndescription = \"D\"\n");
    let typo_file = desk.write("typo.toml", "severty = \"severe\"\n");
    let bad_value_file = desk.write("bad.toml", "category = \"arests\"\n");
    let two = desk.write("two.toml", TWO_LANGUAGE_ALERT);
    let nowhere = "http://127.0.0.1:9"; // usage is checked before any node is contacted
    let id = "ab".repeat(32);
    let text = ["--lang", "en", "--headline", "H", "--description", "D"];
    let with = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["post", "alert", "--key", &key, "--node", nowhere]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let mut cases: Vec<(Vec<String>, &str)> = vec![
        (with(&["--bogus"]), "unexpected argument '--bogus'"),
        (
            with(&[&text[..], &["--category", "arests"]].concat()),
            "possible values: arrest",
        ),
        (
            with(&["--lang", "english", "--headline", "H", "--description", "D"]),
            "bad-language",
        ),
        (
            with(&[&text[..], &["--country", "Eastland"]].concat()),
            "bad-country",
        ),
        (
            with(&[&text[..], &["--effective-at", "tomorrow"]].concat()),
            "write it like 2026-12-01T09:00:00Z",
        ),
        (
            with(
                &[
                    &text[..],
                    &[
                        "--expires-in",
                        "3days",
                        "--expires-at",
                        "2030-01-01T00:00:00Z",
                    ],
                ]
                .concat(),
            ),
            "cannot be used with",
        ),
        (with(&[]), "needs its text"),
        (
            with(&["--headline", "H", "--description", "D"]),
            "say which language",
        ),
        (with(&["--file", &call_file]), "tocsin post call"),
        (with(&["--file", &typo_file]), "unknown field `severty`"),
        (with(&["--file", &bad_value_file]), "is not one of: arrest"),
        (
            with(&["--file", &two, "--headline", "New"]),
            "say which one the flags change with --lang",
        ),
        (with(&["--lang", "de"]), "give them too"),
        (
            [
                "post",
                "alert",
                "--lang",
                "en",
                "--headline",
                "H",
                "--description",
                "D",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            "--key <FILE>",
        ),
    ];
    let plain: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "post",
                "call",
                "--key",
                &key,
                "--node",
                nowhere,
                "--lang",
                "en",
                "--headline",
                "H",
                "--description",
                "D",
            ],
            "at least one --action",
        ),
        (
            vec![
                "post", "call", "--key", &key, "--node", nowhere, "--action", "leter",
            ],
            "possible values",
        ),
        (
            vec![
                "post",
                "call",
                "--key",
                &key,
                "--node",
                nowhere,
                "--lang",
                "en",
                "--headline",
                "H",
                "--description",
                "D",
                "--action",
                "letter",
                "--deadline",
                "next week",
            ],
            "is not a time",
        ),
        (
            vec![
                "post",
                "call",
                "--key",
                &key,
                "--node",
                nowhere,
                "--lang",
                "en",
                "--headline",
                "H",
                "--description",
                "D",
                "--action",
                "letter",
                "--convention",
                "87",
            ],
            "C087",
        ),
        (vec!["show", "not-an-id"], "not a message id"),
        (vec!["show", &id, "--lang", "english"], "not a language tag"),
        (vec!["update", "12345", "--key", &key], "not a message id"),
        (vec!["endorse", "xyz", "--key", &key], "not a message id"),
        (vec!["cancel", &id, "--key", &key], "--reason <REASON>"),
        (vec!["profile", "set", "--key", &key], "--name <NAME>"),
        (
            vec![
                "roster", "publish", &typo_file, "--key", &key, "--node", nowhere,
            ],
            "not a valid roster file",
        ),
        (
            vec!["follow", "--kind", "alerts"],
            "not a kind; use one of: alert, call",
        ),
        (vec!["follow", "--lang", "english"], "not a language tag"),
        (vec!["follow", "--only-lang", "en_GB"], "not a language tag"),
        (vec!["follow", "--country", "Azerbaijan"], "alpha-2"),
        (vec!["follow", "--author", "abc"], "64 hex"),
        (
            vec!["follow", "--since", "yesterday"],
            "invalid value 'yesterday'",
        ),
        (vec!["follow", "--node", "localhost:7700"], "must be a URL"),
        (
            vec!["export", "--kind", "nope", "--out", "x.tocsin"],
            "not a kind",
        ),
        (vec!["export"], "--out <FILE>"),
        (vec!["import"], "<FILE>"),
        (vec!["frobnicate"], "unrecognized subcommand"),
        (vec!["node", "start"], "unrecognized subcommand"),
    ];
    cases.extend(
        plain
            .into_iter()
            .map(|(a, f)| (a.into_iter().map(String::from).collect(), f)),
    );
    for (args, fragment) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&args).await;
        assert_eq!(
            out.status.code(),
            Some(2),
            "tocsin {}: expected exit 2, stderr:\n{}",
            args.join(" "),
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(fragment),
            "tocsin {}: expected {fragment:?} in stderr:\n{}",
            args.join(" "),
            stderr(&out)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_has_help_with_examples() {
    let commands: &[&[&str]] = &[
        &["keygen"],
        &["post", "alert"],
        &["post", "call"],
        &["update"],
        &["cancel"],
        &["endorse"],
        &["report"],
        &["profile", "set"],
        &["roster", "publish"],
        &["follow"],
        &["show"],
        &["sign", "alert"],
        &["sign", "call"],
        &["inspect"],
        &["send"],
        &["revoke"],
        &["export"],
        &["import"],
        &["demo"],
        &["node", "run"],
        &["node", "status"],
        &["peer", "add"],
        &["peer", "list"],
        &["peer", "remove"],
    ];
    for c in commands {
        let mut args = c.to_vec();
        args.push("--help");
        let out = ok(run(&args).await);
        assert!(
            out.contains("Example"),
            "tocsin {} --help has no example:\n{out}",
            c.join(" ")
        );
    }
    let top = ok(run(&["--help"]).await);
    assert!(top.contains("Exit codes"), "{top}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_follow_quietly() {
    let node = TestNode::start().await;
    let mut client = node.client().await;
    // Enough text to fill a pipe's buffer many times over.
    for n in 0..300u32 {
        let key = org(1);
        let mut body = alert(&key, &format!("Lockout at the Southport mill, report {n}"));
        body.created_at = Timestamp(body.created_at.0 - u64::from(n));
        client.publish(sign(body, &key).signed()).await.unwrap();
    }
    let url = node.url();
    let output = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut child = tocsin(&["follow", "--node", &url, "--until-caught-up"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader goes away (like `| head -1`).
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert_eq!(stderr(&output), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_messages_crossing_three_nodes() {
    let out = ok(run(&["demo"]).await);
    for node in ["baku", "geneva", "saopaulo"] {
        assert!(out.contains(&format!("✓ {node}")), "{out}");
    }
    assert!(out.contains("relayed via geneva"), "{out}");
    // In several languages, with names, tallies and the update.
    assert!(out.contains("(en, fr, es, az)"), "{out}");
    assert!(
        out.contains("Liberados dos de los cuatro dirigentes"),
        "{out}"
    );
    assert!(
        out.contains("on the roster of Global Dockers' Federation"),
        "{out}"
    );
    assert!(out.contains("1 endorsement · updated once"), "{out}");
    // The call's tally rises as three organisations report; the revision replaces, never adds.
    assert!(
        out.contains("tally on saopaulo: 1 organisation reported: 120 letters"),
        "{out}"
    );
    assert!(
        out.contains(
            "tally on saopaulo: 3 organisations reported: 335 letters, 2 observations filed"
        ),
        "{out}"
    );
    assert!(out.contains(" 67%  335 of 500 letters"), "{out}");
    assert!(out.contains("100%  3 of 3 organisations"), "{out}");
}

/// Colour and the confirmation prompt need a terminal: `script` gives the command one.
fn script_available() -> bool {
    std::process::Command::new("script")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn on_a_terminal(command: &str, input: &str, no_color: bool) -> Output {
    use std::io::Write;
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", command, "/dev/null"])
        .env("TZ", TZ)
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if no_color {
        cmd.env("NO_COLOR", "1");
    } else {
        cmd.env_remove("NO_COLOR");
    }
    let mut child = cmd.spawn().expect("script");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_a_terminal_it_asks_before_signing_and_colours_unless_no_color() {
    if !script_available() {
        eprintln!("skipped: no `script` to give the command a terminal");
        return;
    }
    let node = TestNode::start().await;
    let url = node.url();
    let desk = Desk::new();
    let (key, _) = desk.key("eastland.key").await;
    let bin = env!("CARGO_BIN_EXE_tocsin");
    let post = format!(
        "{bin} post alert --key {key} --node {url} --lang en --headline 'Dockers arrested' --description 'At dawn.'"
    );
    let p = post.clone();
    let declined = tokio::task::spawn_blocking(move || on_a_terminal(&p, "n\n", true))
        .await
        .unwrap();
    let text = stdout(&declined);
    assert!(
        text.contains("Dockers arrested") && text.contains("Sign and send? [y/N]"),
        "{text}"
    );
    assert!(text.contains("nothing was sent"), "{text}");
    assert_eq!(node.server().node().store().head(), 0);
    let p = post.clone();
    let accepted = tokio::task::spawn_blocking(move || on_a_terminal(&p, "y\n", true))
        .await
        .unwrap();
    assert!(
        stdout(&accepted).contains("accepted alert"),
        "{}",
        stdout(&accepted)
    );
    assert_eq!(node.server().node().store().head(), 1);
    let p = format!("{post} --yes --severity extreme");
    let skipped = tokio::task::spawn_blocking(move || on_a_terminal(&p, "", true))
        .await
        .unwrap();
    assert!(
        !stdout(&skipped).contains("Sign and send?"),
        "{}",
        stdout(&skipped)
    );

    let follow = format!("{bin} follow --node {url} --until-caught-up");
    let f = follow.clone();
    let coloured = tokio::task::spawn_blocking(move || on_a_terminal(&f, "", false))
        .await
        .unwrap();
    assert!(stdout(&coloured).contains("\x1b["), "{}", stdout(&coloured));
    let plain = tokio::task::spawn_blocking(move || on_a_terminal(&follow, "", true))
        .await
        .unwrap();
    assert!(!stdout(&plain).contains("\x1b["), "{}", stdout(&plain));
    assert!(stdout(&plain).contains("Dockers arrested"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_under_embargo_is_cancelled_before_its_hour_from_the_command_line() {
    let start = Timestamp::now();
    let clock = tocsin::node::Clock::manual(start);
    let node = TestNode::start_with_clock(clock.clone(), |_| {}).await;
    let url = node.url();
    let desk = Desk::new();
    let (union, _) = desk.key("northmoor.key").await;
    let hour = start.plus(std::time::Duration::from_secs(3600));
    let out = ok(run(&[
        "post",
        "call",
        "--key",
        &union,
        "--node",
        &url,
        "--json",
        "--lang",
        "en",
        "--headline",
        "Northmoor general strike at noon",
        "--description",
        "All Northmoor unions stop work together.",
        "--action",
        "strike",
        "--target",
        "Northmoor Chamber of Commerce",
        "--country",
        "AZ",
        "--effective-at",
        &hour.to_rfc3339(),
    ])
    .await);
    let (call, _, _) = posted(&out);

    // Called off before the hour: readers (the author too) are not shown the call, and the
    // cancel goes all the same.
    let out = run(&[
        "cancel",
        &call,
        "--key",
        &union,
        "--node",
        &url,
        "--reason",
        "Called off",
        "--yes",
    ])
    .await;
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    assert!(err.contains("withdraws it before its hour"), "{err}");

    clock.set(hour.plus(std::time::Duration::from_secs(60)));
    let id: Id = call.parse().unwrap();
    let store = node.server().node().store().clone();
    // The release task's pass at the hour, and then still nothing to show.
    wait_until("the hour's pass", || {
        let store = store.clone();
        async move { store.counts().unwrap().embargoed == 0 }
    })
    .await;
    let state = store.get(&id).unwrap();
    assert!(
        state.as_ref().is_none_or(|s| s.message.is_none()),
        "the cancelled call went out at its hour: {state:?}"
    );
}
