//! The ILO's conventions by name, end to end: `tocsin post call` warns on a number the node's
//! table cannot name and still posts, `show` and `follow` print the names, and the message
//! page, the Atom feed and the CAP document carry them (the page linked to NORMLEX) while the
//! wire value stays the bare code.

use std::process::{Output, Stdio};

use tocsin::message::*;
use tocsin::rpc::PublishOutcome;

use crate::http::get;
use crate::support::*;

const C087_NAMED: &str =
    "C087 — Freedom of Association and Protection of the Right to Organise Convention, 1948";
const C087_NORMLEX: &str =
    "https://normlex.ilo.org/dyn/nrmlx_en/f?p=NORMLEXPUB:12100:0::NO::P12100_ILO_CODE:C087";

/// The binary with no colour and no default node, run off the async runtime.
async fn run(args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("LANG", "C.UTF-8")
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

#[track_caller]
fn succeeded(o: &Output) -> (String, String) {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "exit {:?}\n{out}\n{err}", o.status);
    (out, err)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_call_warns_on_an_unknown_convention_and_show_names_the_known_one() {
    let node = TestNode::start().await;
    let url = node.url();
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("westland-teachers.key");
    let key = key.to_str().expect("a UTF-8 path");
    succeeded(&run(&["keygen", "--out", key]).await);

    let posted = run(&[
        "post",
        "call",
        "--key",
        key,
        "--node",
        &url,
        "--json",
        "--lang",
        "en",
        "--headline",
        "File observations on the Westland teachers' strike ban",
        "--description",
        "The Westland Teachers' Union (fictional) asks affiliates to file observations.",
        "--action",
        "ilo-observation",
        "--convention",
        "C087",
        "--convention",
        "C999",
    ])
    .await;
    let (out, err) = succeeded(&posted);
    assert!(
        err.contains("warning: C999 is not an ILO convention")
            && err.contains("data/ilo-conventions.tsv")
            && err.contains("posting anyway"),
        "{err}"
    );
    assert!(!err.contains("C087 is not"), "{err}");
    // The warning goes to stderr only: stdout is still the one JSON object of the post.
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    let id = v["id"].as_str().expect("id").to_string();
    assert_eq!(v["status"], "accepted", "{out}");

    let (shown, _) = succeeded(&run(&["show", &id, "--node", &url]).await);
    assert!(shown.contains("ILO conventions C087, C999"), "{shown}");
    assert!(shown.contains(&format!("      {C087_NAMED}\n")), "{shown}");
    assert!(!shown.contains("C999 —"), "{shown}");
    let (json, _) = succeeded(&run(&["show", &id, "--node", &url, "--json"]).await);
    let v: serde_json::Value = serde_json::from_str(json.trim()).expect("JSON");
    let call = &v["message"]["content"];
    assert_eq!(call["ilo_conventions"], serde_json::json!(["C087", "C999"]));
    assert_eq!(
        call["ilo_conventions_named"],
        serde_json::json!([C087_NAMED, "C999"])
    );

    let (feed, _) = succeeded(
        &run(&[
            "follow",
            "--node",
            &url,
            "--until-caught-up",
            "--kind",
            "call",
        ])
        .await,
    );
    assert!(feed.contains("ILO conventions C087, C999"), "{feed}");
    assert!(feed.contains(&format!("      {C087_NAMED}\n")), "{feed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_links_the_named_convention_to_normlex_and_the_feeds_name_it() {
    let node = TestNode::start().await;
    let addr = node.server().http_addr().expect("the gateway is on");
    let key = org(21);
    let mut b = alert(&key, "Observations on the Northland port lockout");
    b.content = Content::Call(ActionCall {
        base: alert_content("Observations on the Northland port lockout", &["en"]),
        actions: vec![ActionType::IloObservation],
        target: "ILO Committee of Experts".into(),
        window_starts_at: None,
        window_ends_at: None,
        deadline: None,
        ilo_conventions: vec!["C087".into(), "C142".into()],
        supervisory_body: Some(SupervisoryBody::Ceacr),
        goals: Vec::new(),
    });
    let call = sign(b, &key);
    match node.client().await.publish(call.signed()).await.unwrap() {
        PublishOutcome::Accepted { .. } => {}
        other => panic!("expected acceptance, got {other:?}"),
    }

    let page = get(addr, &format!("/m/{}", call.id())).await;
    assert_eq!(page.status, 200);
    let link = format!(
        "<a href=\"{}\" rel=\"external\">",
        C087_NORMLEX.replace('&', "&amp;")
    );
    assert!(
        page.body.contains(&format!("{link}{C087_NAMED}</a>")),
        "{}",
        page.body
    );
    // A code the table cannot name is shown as written, unlinked.
    assert!(page.body.contains("<br>C142"), "{}", page.body);

    let atom = get(addr, "/feed.atom").await;
    assert!(
        atom.body
            .contains(&format!("ILO conventions: {C087_NAMED}; C142")),
        "{}",
        atom.body
    );

    let cap = get(addr, &format!("/cap/{}.xml", call.id())).await;
    assert_eq!(cap.status, 200);
    assert!(
        cap.body.contains(&format!(
            "<valueName>tocsin:ilo-convention-named</valueName><value>{C087_NAMED}</value>"
        )),
        "{}",
        cap.body
    );
    // The machine-readable parameter keeps the codes exactly as signed.
    assert!(
        cap.body
            .contains("<valueName>tocsin:ilo-conventions</valueName><value>C087 C142</value>"),
        "{}",
        cap.body
    );
}
