//! The `tocsin` binary and action reports: `post call --goal`, `report` (flags, a file, a
//! revision, JSON), `show` with the tally, `follow` showing reports as they come, and the
//! usage errors that say what to type instead.

use crate::cli::{Desk, fails, follow_caught_up, ok, posted, run, stderr};
use crate::support::*;

/// Posts a petition call with goals by `key` and returns its id.
async fn call_with_goals(url: &str, key: &str) -> String {
    let out = ok(run(&[
        "post",
        "call",
        "--key",
        key,
        "--node",
        url,
        "--lang",
        "en",
        "--headline",
        "Write to the President of Eastland",
        "--description",
        "Four dockworkers' leaders are held in Eastport.",
        "--action",
        "letter",
        "--goal",
        "letters=3000",
        "--goal",
        "donations=5000:EUR",
        "--goal",
        "organisations=4",
        "--yes",
        "--json",
    ])
    .await);
    let (id, _, status) = posted(&out);
    assert_eq!(status, "accepted");
    id
}

const REPORT_FILE: &str = r#"
statement = "From the staff rooms of Westland"

[[count]]
measure = "letters"
value = 1500

[[count]]
measure = "donations"
value = 1200
currency = "EUR"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_revise_then_show_and_follow_the_tally() {
    let node = TestNode::start().await;
    let url = node.url();
    let desk = Desk::new();
    let (author, _) = desk.key("author.key").await;
    let (docks, _) = desk.key("docks.key").await;
    let (teachers, _) = desk.key("teachers.key").await;
    let id = call_with_goals(&url, &author).await;
    for (key, name, country) in [
        (&docks, "Eastland Dockworkers' Union", "AZ"),
        (&teachers, "Westland Teachers' Union", "GE"),
    ] {
        ok(run(&[
            "profile",
            "set",
            "--key",
            key,
            "--name",
            name,
            "--country",
            country,
            "--node",
            &url,
            "--yes",
        ])
        .await);
    }

    // Before anyone reports, `show` gives the goals at zero.
    let shown = ok(run(&["show", &id, "--node", &url]).await);
    assert!(
        shown.contains("No organisation has reported yet.")
            && shown.contains("[--------------------]   0%  0 of 3,000 letters"),
        "{shown}"
    );

    let out = ok(run(&[
        "report",
        &id,
        "--key",
        &docks,
        "--node",
        &url,
        "--action",
        "letters=300",
        "--yes",
        "--json",
    ])
    .await);
    assert_eq!(posted(&out).2, "accepted");
    let file = desk.write("report.toml", REPORT_FILE);
    let out = ok(run(&[
        "report", &id, "--key", &teachers, "--node", &url, "--file", &file, "--yes",
    ])
    .await);
    assert!(out.contains("accepted report"), "{out}");
    // The dockers revise: the command says what it replaces.
    let revised = run(&[
        "report",
        &id,
        "--key",
        &docks,
        "--node",
        &url,
        "--action",
        "letters=340",
        "--statement",
        "Sent by hand from the port",
        "--yes",
    ])
    .await;
    let note = stderr(&revised);
    ok(revised);
    assert!(
        note.contains("this replaces your earlier report of 300 letters"),
        "{note}"
    );

    let shown = ok(run(&["show", &id, "--node", &url]).await);
    for want in [
        "2 organisations reported: 1,840 letters, 1,200 EUR in donations",
        "[############--------]  61%  1,840 of 3,000 letters",
        " 24%  1,200 of 5,000 EUR in donations",
        " 50%  2 of 4 organisations",
        "Eastland Dockworkers' Union (AZ): 340 letters",
        "Westland Teachers' Union (GE): 1,500 letters, 1,200 EUR in donations",
        "\u{201c}Sent by hand from the port\u{201d}",
        "GE: 1 organisation · 1,500 letters, 1,200 EUR in donations",
    ] {
        assert!(shown.contains(want), "{want:?} not in:\n{shown}");
    }
    assert!(!shown.contains("300 letters"), "{shown}");

    let json: serde_json::Value =
        serde_json::from_str(&ok(run(&["show", &id, "--node", &url, "--json"]).await))
            .expect("one JSON object");
    let tally = &json["tally"];
    assert_eq!(tally["reporters"], 2);
    assert_eq!(tally["totals"][0]["measure"], "letters");
    assert_eq!(tally["totals"][0]["value"], 1840);
    assert_eq!(tally["goals"][0]["reached"], 1840);
    assert_eq!(tally["goals"][0]["percent"], 61);
    assert_eq!(tally["goals"][1]["currency"], "EUR");
    assert_eq!(tally["reports"].as_array().map(Vec::len), Some(2));

    let feed = follow_caught_up(&url, &[]).await;
    assert!(
        feed.contains("Eastland Dockworkers' Union has done, in all: 340 letters"),
        "{feed}"
    );
    assert!(
        feed.contains("Tally now: 2 organisations reported: 1,840 letters, 1,200 EUR in donations"),
        "{feed}"
    );
    assert!(
        feed.contains("Tally: 2 organisations reported: 1,840 letters"),
        "{feed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_report_and_goal_flags_exit_2_and_say_what_to_type() {
    let desk = Desk::new();
    let (key, _) = desk.key("org.key").await;
    // Usage errors come before any node is asked: this URL has nobody behind it.
    let url = "http://127.0.0.1:9";
    let id = "70ed23b9b6e0bd24b5ac7bc6e2cd34377851a067ac17e1092629d7d69abf57d5";
    let report = |extra: &'static [&'static str]| {
        let mut args = vec!["report", id, "--key", &key, "--node", url, "--yes"];
        args.extend_from_slice(extra);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let cases: &[(&[&str], &str)] = &[
        (&["--action", "letters:340"], "write letters=340"),
        (&["--action", "donations=1200"], "donations=1200:EUR"),
        (
            &["--action", "emails=3"],
            "letters, signatures, participants",
        ),
        (&["--action", "observations=2"], "--filing ceacr:"),
        (&["--action", "letters=lots"], "not a whole number"),
        (&["--filing", "ilo:2026-08-30"], "ceacr, cas, cfa, other"),
        (
            &["--as-of", "yesterday", "--action", "letters=1"],
            "--as-of",
        ),
        (&[], "give --action MEASURE=N"),
    ];
    for (extra, fragment) in cases {
        let args = report(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        fails(run(&args).await, 2, fragment);
    }
    fails(
        run(&[
            "report",
            "not-an-id",
            "--key",
            &key,
            "--action",
            "letters=1",
        ])
        .await,
        2,
        "64 hex digits",
    );
    fails(
        run(&[
            "post",
            "alert",
            "--key",
            &key,
            "--node",
            url,
            "--lang",
            "en",
            "--headline",
            "H",
            "--description",
            "D",
            "--goal",
            "letters=10",
            "--yes",
        ])
        .await,
        2,
        "unexpected argument '--goal'",
    );
    fails(
        run(&[
            "post",
            "call",
            "--key",
            &key,
            "--node",
            url,
            "--lang",
            "en",
            "--headline",
            "H",
            "--description",
            "D",
            "--action",
            "letter",
            "--goal",
            "letters=0",
            "--yes",
        ])
        .await,
        2,
        "a goal is at least 1",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_report_file_is_accepted() {
    let node = TestNode::start().await;
    let url = node.url();
    let desk = Desk::new();
    let (author, _) = desk.key("author.key").await;
    let (reporter, _) = desk.key("reporter.key").await;
    let id = call_with_goals(&url, &author).await;
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/report.example.toml");
    let out = ok(run(&[
        "report", &id, "--key", &reporter, "--node", &url, "--file", example, "--yes", "--json",
    ])
    .await);
    assert_eq!(posted(&out).2, "accepted");
    let json: serde_json::Value =
        serde_json::from_str(&ok(run(&["show", &id, "--node", &url, "--json"]).await))
            .expect("one JSON object");
    assert_eq!(json["tally"]["reporters"], 1);
    assert!(
        json["tally"]["reports"][0]["filings"]
            .as_array()
            .is_some_and(|f| !f.is_empty()),
        "{json}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calls_goals_are_in_its_decoded_content() {
    let node = TestNode::start().await;
    let url = node.url();
    let desk = Desk::new();
    let (author, _) = desk.key("author.key").await;
    let id = call_with_goals(&url, &author).await;
    let shown: serde_json::Value =
        serde_json::from_str(&ok(run(&["show", &id, "--node", &url, "--json"]).await)).unwrap();
    let goals = &shown["message"]["content"]["goals"];
    assert_eq!(
        goals,
        &serde_json::json!([
            {"measure": "letters", "target": 3000},
            {"measure": "donations", "target": 5000, "currency": "EUR"},
            {"measure": "organisations", "target": 4},
        ]),
        "{shown}"
    );
    assert_eq!(&shown["current"]["content"]["goals"], goals);
    let followed = ok(run(&["follow", "--node", &url, "--json", "--until-caught-up"]).await);
    assert!(followed.contains("\"goals\":[{"), "{followed}");
}
