//! The web page in the reader's language: the gateway's own words from i18n/*.ftl, chosen as
//! the content's language is; country names from CLDR; plain words instead of CAP's; what to
//! do and a call's actions, target and deadline on the front page; keys shown short; times
//! relative to the node's clock; hard-wrapped descriptions as paragraphs; error pages.

use std::net::SocketAddr;
use std::time::Duration;

use tocsin::message::*;
use tocsin::node::Clock;
use tocsin::rpc::PublishOutcome;

use crate::http::get_with;
use crate::support::*;

async fn publish(node: &TestNode, m: &Message) {
    match node.client().await.publish(m.signed()).await.unwrap() {
        PublishOutcome::Accepted { .. } => {}
        other => panic!("expected acceptance, got {other:?}"),
    }
}

fn profile(key: &SecretKey, name: &str, at: Timestamp) -> Message {
    let mut b = body(
        key,
        Content::Profile(Profile {
            name: name.into(),
            country: "GE".into(),
            ..Profile::default()
        }),
    );
    b.created_at = at;
    b.expires_at = Some(at.plus(Duration::from_secs(30 * 24 * 3600)));
    sign(b, key)
}

/// A call of the Westland Teachers' Union in English and French, hard-wrapped as a TOML file
/// would have it, with a deadline three weeks after `at`.
fn call(key: &SecretKey, at: Timestamp) -> Message {
    let mut b = alert_at(key, "Reinstate the teachers", at);
    b.countries = vec!["GE".into()];
    let info = |language: &str, headline: &str, description: &str, instruction: &str| Info {
        language: language.into(),
        headline: headline.into(),
        description: description.into(),
        instruction: instruction.into(),
        link: String::new(),
    };
    let base = Alert {
        status: Status::Actual,
        category: Category::Dismissal,
        urgency: Urgency::Immediate,
        severity: Severity::Severe,
        certainty: Certainty::Observed,
        info: vec![
            info(
                "en",
                "Reinstate the Westland teachers",
                "Forty teachers were dismissed\nafter the strike vote.\n\nThe union asks for letters.",
                "Write to the\nministry.",
            ),
            info(
                "fr",
                "Réintégrez les enseignants de Westland",
                "Quarante enseignants ont été licenciés\naprès le vote de grève.\n\nLe syndicat demande des lettres.",
                "Écrivez au\nministère.",
            ),
        ],
    };
    b.content = Content::Call(ActionCall {
        base,
        actions: vec![ActionType::Letter, ActionType::Petition],
        target: "Ministère du Travail de Westland".into(),
        window_starts_at: None,
        window_ends_at: None,
        deadline: Some(at.plus(Duration::from_secs(21 * 24 * 3600))),
        ilo_conventions: Vec::new(),
        supervisory_body: None,
        goals: Vec::new(),
    });
    sign(b, key)
}

/// A translation into Azerbaijani of `target` by `key`.
fn translation(key: &SecretKey, target: &Message, at: Timestamp) -> Message {
    let mut b = body(
        key,
        Content::Translation(Translation {
            target: target.id(),
            info: vec![Info {
                language: "az".into(),
                headline: "Westland müəllimlərini işə bərpa edin".into(),
                description: "Qırx müəllim işdən çıxarılıb.".into(),
                instruction: "Nazirliyə yazın.".into(),
                link: String::new(),
            }],
        }),
    );
    b.created_at = at;
    b.expires_at = Some(at.plus(Duration::from_secs(7 * 24 * 3600)));
    sign(b, key)
}

/// A node standing at `at`, holding the call, its translation and both profiles.
async fn node_with_call(at: Timestamp) -> (TestNode, Message, SocketAddr) {
    let node = TestNode::start_with_clock(Clock::manual(at), |_| {}).await;
    let (union, translators) = (org(31), org(32));
    publish(&node, &profile(&union, "Westland Teachers' Union", at)).await;
    publish(
        &node,
        &profile(&translators, "Eastland Translators' Collective", at),
    )
    .await;
    let c = call(&union, at);
    publish(&node, &c).await;
    publish(&node, &translation(&translators, &c, at)).await;
    let addr = node.server().http_addr().expect("the gateway is on");
    (node, c, addr)
}

fn assert_has(body: &str, what: &str, words: &[&str]) {
    for w in words {
        assert!(body.contains(w), "{what} lacks {w:?}:\n{body}");
    }
}

#[tokio::test]
async fn the_page_and_a_message_page_speak_the_readers_language() {
    let at = Timestamp::now();
    let (_node, c, addr) = node_with_call(at).await;
    let page = format!("/m/{}", c.id());
    // (language, front page words, message page words): labels from its file, the country
    // from CLDR, the relative deadline with its plural.
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "en",
            &[
                "Action call",
                "Georgia",
                "What to do:",
                "Asked:",
                "Write a letter",
                "in 21 days",
                "No endorsements yet",
            ],
            &[
                "What is asked",
                "When to act",
                "Act now",
                "Confirmed",
                "No endorsements yet.",
            ],
        ),
        (
            "fr",
            &[
                "Appel à l’action",
                "Géorgie",
                "Que faire :",
                "Demandé :",
                "Écrire une lettre",
                "dans 21 jours",
                "Aucun soutien pour l’instant",
            ],
            &[
                "Ce qui est demandé",
                "Quand agir",
                "Agir maintenant",
                "Confirmé",
                "Historique",
                "Signatures",
            ],
        ),
        (
            "es",
            &[
                "Llamamiento a la acción",
                "Georgia",
                "Qué hacer:",
                "Escribir una carta",
                "dentro de 21 días",
            ],
            &["Qué se pide", "Actuar ya", "Confirmado"],
        ),
        (
            "pt",
            &[
                "Apelo à ação",
                "Geórgia",
                "O que fazer:",
                "Escrever uma carta",
                "daqui a 21 dias",
            ],
            &["O que se pede", "Agir já", "Confirmado"],
        ),
        (
            "ru",
            &[
                "Призыв к действию",
                "Грузия",
                "Что делать:",
                "Написать письмо",
                "через 21 день",
            ],
            &["О чём просят", "Действовать сейчас", "Подтверждено"],
        ),
        (
            "ar",
            &[
                "نداء للتحرك",
                "جورجيا",
                "ما العمل:",
                "اكتب رسالة",
                "لا تأييد بعد",
            ],
            &["المطلوب", "تحرّك الآن", "مؤكَّد"],
        ),
        (
            "tr",
            &[
                "Eylem çağrısı",
                "Gürcistan",
                "Ne yapmalı:",
                "Mektup yaz",
                "21 gün sonra",
            ],
            &["İstenen", "Hemen harekete geçin", "Doğrulandı"],
        ),
        (
            "az",
            &[
                "Fəaliyyət çağırışı",
                "Gürcüstan",
                "Nə etməli:",
                "Məktub yaz",
                "21 gün sonra",
            ],
            &[
                "Nə tələb olunur",
                "İndi hərəkətə keçin",
                "Təsdiqlənib",
                "tərcüməçi: <strong",
            ],
        ),
    ];
    for (lang, front, message) in cases {
        let dir = if *lang == "ar" { "rtl" } else { "ltr" };
        let html_tag = format!("<html lang=\"{lang}\" dir=\"{dir}\">");
        let index = get_with(addr, "/", &[("accept-language", lang)]).await;
        assert_eq!(index.status, 200, "{lang}");
        assert_has(&index.body, &format!("/ in {lang}"), &[&html_tag]);
        assert_has(&index.body, &format!("/ in {lang}"), front);
        // The front page says to whom the call is addressed.
        assert_has(&index.body, "/", &["Ministère du Travail de Westland"]);
        let detail = get_with(addr, &page, &[("accept-language", lang)]).await;
        assert_eq!(detail.status, 200, "{lang}");
        assert_has(&detail.body, &format!("{page} in {lang}"), &[&html_tag]);
        assert_has(&detail.body, &format!("{page} in {lang}"), message);
    }

    // In French, no English label is left (the English text of the message is content).
    let fr_index = get_with(addr, "/?lang=fr", &[]).await.body;
    let fr_detail = get_with(addr, &format!("{page}?lang=fr"), &[]).await.body;
    for english in [
        "Kind",
        "Details",
        "What to do",
        "No endorsements",
        "Urgency",
        "Certainty",
        "Status",
        "Deadline",
        "Published",
        "History",
        "Author",
        "Countries",
        "Read in",
        "Action call",
        "Skip to content",
        "This node",
        "Feeds",
        "Show",
        "Clear filters",
        "ago",
        " in ",
    ] {
        assert!(!fr_index.contains(english), "/ in French shows {english:?}");
        let visible = fr_detail.replace("Forty teachers were dismissed after the strike vote.", "");
        assert!(
            !visible.contains(english),
            "{page} in French shows {english:?}:\n{fr_detail}"
        );
    }
    // The translation by another organisation names its translator.
    assert_has(
        &fr_detail,
        "the translation",
        &["traduit par <strong dir=\"auto\">Eastland Translators&#39; Collective</strong>"],
    );
}

#[tokio::test]
async fn keys_are_short_with_the_whole_on_demand_and_text_flows_in_paragraphs() {
    let at = Timestamp::now();
    let (_node, c, addr) = node_with_call(at).await;
    let detail = get_with(
        addr,
        &format!("/m/{}", c.id()),
        &[("accept-language", "en")],
    )
    .await;
    let hex = c.author().to_hex();
    assert_has(
        &detail.body,
        "the author's key",
        &[
            &format!(
                "<details class=\"key\"><summary><span class=\"mono\">{}…</span>",
                &hex[..12]
            ),
            &format!("<span class=\"mono\">{hex}</span></details>"),
        ],
    );
    // No raw key outside a <details> that holds it.
    for (i, _) in detail.body.match_indices(&hex) {
        let before = &detail.body[..i];
        assert!(
            before.ends_with("<span class=\"mono\">") && before.rfind("<details").is_some(),
            "the key is shown whole outside its details"
        );
    }
    // A hard-wrapped description: the line break inside a paragraph is a space.
    assert_has(
        &detail.body,
        "the description",
        &[
            "<p class=\"desc\" lang=\"en\" dir=\"auto\">Forty teachers were dismissed after the strike vote.</p>",
            "<p class=\"desc\" lang=\"en\" dir=\"auto\">The union asks for letters.</p>",
            "<p class=\"desc todo\" lang=\"en\" dir=\"auto\">Write to the ministry.</p>",
        ],
    );
    assert!(!detail.body.contains("dismissed\nafter"));
    // CAP's words stay in the CAP document.
    assert!(!detail.body.contains("Urgency") && !detail.body.contains("Status"));
}

#[tokio::test]
async fn relative_times_follow_the_nodes_clock_through_the_render_cache() {
    let at = Timestamp::now();
    let clock = Clock::manual(at);
    let node = TestNode::start_with_clock(clock.clone(), |_| {}).await;
    let c = call(&org(33), at);
    publish(&node, &c).await;
    let addr = node.server().http_addr().expect("the gateway is on");
    let first = get_with(addr, "/", &[("accept-language", "en")]).await;
    assert_has(&first.body, "/", &["in 21 days", "just now"]);
    let again = get_with(addr, "/", &[("accept-language", "en")]).await;
    assert_eq!(first.header("etag"), again.header("etag"));
    clock.advance(Duration::from_secs(3 * 3600));
    let later = get_with(addr, "/", &[("accept-language", "en")]).await;
    assert_ne!(first.header("etag"), later.header("etag"));
    assert_has(
        &later.body,
        "/ three hours on",
        &["in 20 days", "3 hours ago"],
    );
}

#[tokio::test]
async fn local_times_come_from_a_same_origin_script_the_page_does_without() {
    let at = Timestamp::now();
    let (_node, _c, addr) = node_with_call(at).await;
    let page = get_with(addr, "/", &[("accept-language", "en")]).await;
    let csp = page.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    // One script, by address; none inline. The times are there in UTC without it.
    assert_eq!(page.body.matches("<script").count(), 1);
    assert!(
        page.body
            .contains("<script src=\"/page.js\" defer></script>")
    );
    assert!(page.body.contains("<time datetime=\""));
    let script = get_with(addr, "/page.js", &[]).await;
    assert_eq!(script.status, 200);
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(script.body.contains("time[datetime]"), "{}", script.body);
}

#[tokio::test]
async fn error_pages_are_in_the_readers_language() {
    let node = TestNode::start().await;
    let addr = node.server().http_addr().expect("the gateway is on");
    let missing = get_with(addr, "/nowhere", &[("accept-language", "fr")]).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("vary"), Some("Accept-Language"));
    assert_has(
        &missing.body,
        "404",
        &[
            "<html lang=\"fr\"",
            "Introuvable",
            "Il n’y a rien à cette adresse.",
        ],
    );
    let bad = get_with(addr, "/?country=Westland", &[("accept-language", "ru")]).await;
    assert_eq!(bad.status, 400);
    assert_has(
        &bad.body,
        "400",
        &["Неверный запрос", "country is a two-letter"],
    );
    let id = "00".repeat(32);
    let unknown = get_with(addr, &format!("/m/{id}?lang=ar"), &[]).await;
    assert_eq!(unknown.status, 404);
    assert_has(
        &unknown.body,
        "404 in Arabic",
        &["dir=\"rtl\"", "غير موجود"],
    );
}
