//! `tocsin translate` and the translator's name: a translation posted with the binary (flags,
//! then a file) by another organisation than the author, named in `show` (text and JSON),
//! `follow --json` and the Atom feed, and served on the page; the refusals, each with the usage
//! code and what to do instead. And CAP: a cancel references the original and every update a
//! CAP aggregator may hold as current.

use std::time::Duration;

use tocsin::message::*;
use tocsin::rpc::PublishOutcome;

use crate::cli::{Desk, fails, ok, posted, run};
use crate::http::get;
use crate::support::*;

const GERMAN: &str = "Vier Gewerkschafter in Eastport verhaftet";

const SPANISH_FILE: &str = r#"
lang = "es"
headline = "Cuatro dirigentes detenidos en Eastport"
description = "La policía detuvo al amanecer a cuatro dirigentes del sindicato de estibadores."
instruction = "Escriba al Ministerio del Interior de Eastland."
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_translation_by_another_organisation_carries_its_translators_name() {
    let node = TestNode::start().await;
    let url = node.url();
    let desk = Desk::new();
    let (author, _) = desk.key("dockers.key").await;
    let (translator, _) = desk.key("geneva.key").await;
    let profile = ok(run(&[
        "profile",
        "set",
        "--key",
        &translator,
        "--name",
        "Geneva Solidarity Committee",
        "--node",
        &url,
        "--yes",
        "--json",
    ])
    .await);
    let (profile_id, _, _) = posted(&profile);
    let out = ok(run(&[
        "post",
        "alert",
        "--key",
        &author,
        "--node",
        &url,
        "--lang",
        "en",
        "--headline",
        "Four union leaders arrested in Eastport",
        "--description",
        "Police detained four leaders of the Eastland Dockworkers' Union at dawn.",
        "--country",
        "AZ",
        "--yes",
        "--json",
    ])
    .await);
    let (id, _, _) = posted(&out);

    // With flags, answered as post answers (--json: id, seq, status).
    let out = ok(run(&[
        "translate",
        &id,
        "--key",
        &translator,
        "--node",
        &url,
        "--lang",
        "de",
        "--headline",
        GERMAN,
        "--description",
        "Die Polizei nahm im Morgengrauen vier Vorsitzende der Hafenarbeitergewerkschaft fest.",
        "--yes",
        "--json",
    ])
    .await);
    let (german_id, _, status) = posted(&out);
    assert_eq!(status, "accepted");
    // From a file, in text.
    let file = desk.write("es.toml", SPANISH_FILE);
    let out = ok(run(&[
        "translate",
        &id,
        "--key",
        &translator,
        "--node",
        &url,
        "--file",
        &file,
        "--yes",
    ])
    .await);
    assert!(
        out.starts_with("accepted translation ") && out.contains(&format!(" at {url}")),
        "{out}"
    );

    // show --json: each translation with its translator's key and name, and its target.
    let shown = ok(run(&["show", &id, "--node", &url, "--json"]).await);
    let v: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();
    let translations = v["translations"].as_array().unwrap();
    assert_eq!(translations.len(), 2, "{shown}");
    let german = translations
        .iter()
        .find(|t| t["id"] == german_id.as_str())
        .unwrap();
    assert_eq!(german["translator"]["name"], "Geneva Solidarity Committee");
    assert_eq!(german["translator"]["key"], german["author"]);
    assert_eq!(german["target"], id.as_str());
    assert_eq!(german["content"]["info"][0]["headline"], GERMAN);
    // show: the languages, headlines and who translated them.
    let shown = ok(run(&["show", &id, "--node", &url]).await);
    let section = &shown[shown.find("Translations by others:").expect(&shown)..];
    assert!(
        section.contains(&format!("[de] {GERMAN}"))
            && section.contains("[es] Cuatro dirigentes detenidos en Eastport")
            && section.contains("translated by Geneva Solidarity Committee ("),
        "{shown}"
    );
    // follow --json: a translation names its translator and target.
    let feed = ok(run(&[
        "follow",
        "--node",
        &url,
        "--until-caught-up",
        "--json",
        "--kind",
        "translation",
    ])
    .await);
    let events: Vec<serde_json::Value> = feed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{feed}");
    assert!(
        events
            .iter()
            .all(|e| e["translator"]["name"] == "Geneva Solidarity Committee"
                && e["target"] == id.as_str()),
        "{feed}"
    );
    // follow, text: the target's headline and the translator.
    let feed = ok(run(&[
        "follow",
        "--node",
        &url,
        "--until-caught-up",
        "--kind",
        "translation",
    ])
    .await);
    assert!(
        feed.contains("TRANSLATION of ")
            && feed.contains("Four union leaders arrested in Eastport")
            && feed.contains("by Geneva Solidarity Committee ("),
        "{feed}"
    );

    // The page serves it (its rendering is the page's), and the Atom feed names the translator.
    let addr = node.server().http_addr().expect("the gateway is on");
    let page = get(addr, &format!("/m/{id}")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(GERMAN), "{}", page.body);
    let atom = get(addr, "/feed.atom").await;
    assert!(
        atom.body
            .contains("<contributor><name>Geneva Solidarity Committee</name>")
            && atom.body.contains("hreflang=\"de\""),
        "{}",
        atom.body
    );

    // Refusals: usage code 2, saying what is wrong, before anything is signed.
    let unknown = "ab".repeat(32);
    let base = |target: &str, key: &str| {
        vec![
            "translate".to_string(),
            target.to_string(),
            "--key".into(),
            key.to_string(),
            "--node".into(),
            url.clone(),
            "--headline".into(),
            "Kopfzeile".into(),
            "--description".into(),
            "Beschreibung".into(),
            "--yes".into(),
        ]
    };
    let with = |mut args: Vec<String>, more: &[&str]| {
        args.extend(more.iter().map(|s| s.to_string()));
        args
    };
    let runs = |args: Vec<String>| async move {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&refs).await
    };
    fails(
        runs(with(base(&unknown, &translator), &["--lang", "de"])).await,
        2,
        "has no message",
    );
    fails(
        runs(with(base(&profile_id, &translator), &["--lang", "de"])).await,
        2,
        "is a profile, not an alert or call",
    );
    fails(runs(base(&id, &translator)).await, 2, "needs its lang");
    fails(
        runs(with(base(&id, &translator), &["--lang", "EN"])).await,
        2,
        "in EN already, as its author wrote it",
    );
    fails(
        runs(with(base(&id, &author), &["--lang", "en"])).await,
        2,
        "tocsin update",
    );
    // Nothing of the refused was published.
    let shown = ok(run(&["show", &id, "--node", &url, "--json"]).await);
    let v: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();
    assert_eq!(v["translations"].as_array().unwrap().len(), 2, "{shown}");
}

async fn publish(node: &TestNode, m: &Message) {
    match node.client().await.publish(m.signed()).await.unwrap() {
        PublishOutcome::Accepted { .. } => {}
        other => panic!("expected acceptance, got {other:?}"),
    }
}

/// The `sender,identifier,sent` triples of a CAP document's `references`.
fn references(doc: &str) -> Vec<(String, String)> {
    let start = doc.find("<references>").expect(doc) + "<references>".len();
    let end = doc.find("</references>").expect(doc);
    doc[start..end]
        .split(' ')
        .map(|r| {
            let parts: Vec<&str> = r.split(',').collect();
            assert_eq!(parts.len(), 3, "{r}");
            (parts[0].to_string(), parts[1].to_string())
        })
        .collect()
}

#[tokio::test]
async fn a_cap_cancel_references_the_original_and_both_updates() {
    let node = TestNode::start().await;
    let addr = node.server().http_addr().expect("the gateway is on");
    let dockers = org(61);
    let sender = format!("tocsin:{}", dockers.public().to_hex());
    let now = Timestamp::now().minus(Duration::from_secs(60));
    let original = sign(alert_at(&dockers, "Four held", now), &dockers);
    publish(&node, &original).await;
    let mut updates = Vec::new();
    for (n, headline) in ["Two released", "All four released"].iter().enumerate() {
        let mut b = alert_at(
            &dockers,
            headline,
            now.plus(Duration::from_secs(10 * (n as u64 + 1))),
        );
        b.content = Content::Update(Update {
            supersedes: original.id(),
            content: UpdateContent::Alert(alert_content(headline, &["en"])),
        });
        let update = sign(b, &dockers);
        publish(&node, &update).await;
        // An aggregator polls the index and fetches the version it now holds as current.
        let index = get(addr, "/cap.atom").await;
        assert!(index.body.contains(&format!("/cap/{}.xml", update.id())));
        updates.push(update);
    }
    // The second update references the versions it supersedes, oldest first.
    let second = get(addr, &format!("/cap/{}.xml", updates[1].id())).await;
    assert_eq!(second.status, 200);
    assert_eq!(
        references(&second.body),
        vec![
            (sender.clone(), original.id().to_hex()),
            (sender.clone(), updates[0].id().to_hex()),
        ],
        "{}",
        second.body
    );

    let mut b = body(
        &dockers,
        Content::Cancel(Cancel {
            target: original.id(),
            reason: "Names were published by mistake.".into(),
        }),
    );
    b.created_at = now.plus(Duration::from_secs(40));
    let cancel = sign(b, &dockers);
    publish(&node, &cancel).await;
    let doc = get(addr, &format!("/cap/{}.xml", cancel.id())).await;
    assert_eq!(doc.status, 200);
    assert!(doc.body.contains("<msgType>Cancel</msgType>"));
    assert_eq!(
        references(&doc.body),
        vec![
            (sender.clone(), original.id().to_hex()),
            (sender.clone(), updates[0].id().to_hex()),
            (sender, updates[1].id().to_hex()),
        ],
        "{}",
        doc.body
    );
}
