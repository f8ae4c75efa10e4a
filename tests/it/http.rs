//! The web gateway against real nodes: the page in the reader's language, cancels and updates,
//! filters, one message in full, conditional requests, escaping, metrics, health, embargo.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::http::HeaderMap;
use tocsin::message::*;
use tocsin::rpc::PublishOutcome;
use tocsin::store::Origin;

use crate::support::*;

/// A response, read whole.
pub(crate) struct Resp {
    pub(crate) status: u16,
    headers: HeaderMap,
    pub(crate) body: String,
}

impl Resp {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One HTTP/1.1 request on a fresh connection.
async fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    within(&format!("{method} {path}"), async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connecting");
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .expect("HTTP handshake");
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let res = sender
            .send_request(req.body(Empty::<Bytes>::new()).unwrap())
            .await
            .expect("sending the request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.expect("reading").to_bytes();
        Resp {
            status,
            headers,
            body: String::from_utf8(body.to_vec()).expect("UTF-8"),
        }
    })
    .await
}

pub(crate) async fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, &[]).await
}

pub(crate) async fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Resp {
    request(addr, "GET", path, headers).await
}

fn http(node: &TestNode) -> SocketAddr {
    node.server().http_addr().expect("the gateway is on")
}

async fn publish(node: &TestNode, m: &Message) -> u64 {
    match node.client().await.publish(m.signed()).await.unwrap() {
        PublishOutcome::Accepted { seq, .. } => seq,
        other => panic!("expected acceptance, got {other:?}"),
    }
}

/// An alert by `key` with info blocks in `langs`, created `at`.
fn alert_in(key: &SecretKey, headline: &str, langs: &[&str], at: Timestamp) -> Message {
    let mut b = alert_at(key, headline, at);
    b.content = Content::Alert(alert_content(headline, langs));
    sign(b, key)
}

/// A call by `key` in `langs`, created `at`, with a deadline and an action window.
pub(crate) fn call_in(key: &SecretKey, headline: &str, langs: &[&str], at: Timestamp) -> Message {
    let mut b = alert_at(key, headline, at);
    b.countries = vec!["GE".into()];
    b.topics = vec!["ilo".into()];
    let mut base = alert_content(headline, langs);
    base.category = Category::Dismissal;
    base.severity = Severity::Moderate;
    b.content = Content::Call(ActionCall {
        base,
        actions: vec![ActionType::IloObservation, ActionType::Letter],
        target: "Ministry of Labour of Westland".into(),
        window_starts_at: Some(at),
        window_ends_at: Some(at.plus(Duration::from_secs(20 * 24 * 3600))),
        deadline: Some(at.plus(Duration::from_secs(21 * 24 * 3600))),
        ilo_conventions: vec!["C087".into(), "C098".into()],
        supervisory_body: Some(SupervisoryBody::Ceacr),
        goals: Vec::new(),
    });
    sign(b, key)
}

/// A cancel of `target` by `key`, with its reason.
fn cancel_of(key: &SecretKey, target: &Message, reason: &str) -> Message {
    sign(
        body(
            key,
            Content::Cancel(Cancel {
                target: target.id(),
                reason: reason.into(),
            }),
        ),
        key,
    )
}

fn update_of(
    key: &SecretKey,
    original: &Message,
    headline: &str,
    langs: &[&str],
    at: Timestamp,
) -> Message {
    let mut b = alert_at(key, headline, at);
    b.content = Content::Update(Update {
        supersedes: original.id(),
        content: UpdateContent::Alert(alert_content(headline, langs)),
    });
    sign(b, key)
}

fn profile(key: &SecretKey, name: &str) -> Message {
    sign(
        body(
            key,
            Content::Profile(Profile {
                name: name.into(),
                country: "AZ".into(),
                ..Profile::default()
            }),
        ),
        key,
    )
}

#[tokio::test]
async fn the_page_shows_current_items_in_the_readers_language() {
    let node = TestNode::start().await;
    let addr = http(&node);
    let now = Timestamp::now();
    let dockers = org(31);
    let teachers = org(32);
    publish(&node, &profile(&dockers, "Eastland Dockworkers' Union")).await;
    let a = alert_in(&dockers, "Four leaders arrested", &["en", "fr"], now);
    let c = call_in(
        &teachers,
        "File observations with the CEACR",
        &["en", "es"],
        now.plus(Duration::from_secs(1)),
    );
    publish(&node, &a).await;
    publish(&node, &c).await;

    let fr = get_with(
        addr,
        "/",
        &[("accept-language", "fr-FR, fr;q=0.9, en;q=0.5")],
    )
    .await;
    assert_eq!(fr.status, 200);
    assert_eq!(fr.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(
        fr.body.contains("Four leaders arrested [fr]"),
        "{}",
        fr.body
    );
    assert!(!fr.body.contains("Four leaders arrested [en]"));
    // The call has no French: English, said so.
    assert!(fr.body.contains("File observations with the CEACR [en]"));
    // In the reader's words: the language's name from CLDR, in French.
    assert!(fr.body.contains("En anglais."));
    assert!(fr.body.contains("lang=\"fr\""));
    assert!(fr.body.contains("Eastland Dockworkers&#39; Union"));
    // No profile: the key's short hex.
    assert!(fr.body.contains(&teachers.public().short()));
    assert!(fr.body.contains("Date limite :") && fr.body.contains("Période d’action :"));
    assert!(fr.body.contains("Grave") && fr.body.contains("Arrestation"));
    assert!(fr.body.contains("Aucun soutien pour l’instant"));
    assert!(fr.body.contains(&format!("href=\"/m/{}\"", a.id())));
    assert_eq!(fr.header("vary"), Some("Accept-Language"));
    // Newest first.
    let pos = |s: &str| fr.body.find(s).unwrap();
    assert!(pos("File observations with the CEACR") < pos("Four leaders arrested"));

    let es = get_with(addr, "/", &[("accept-language", "es")]).await;
    assert!(es.body.contains("File observations with the CEACR [es]"));
    assert!(
        es.body.contains("Four leaders arrested [en]"),
        "English is the fallback"
    );

    // The switcher: a link per language, and a chosen language beats Accept-Language.
    assert!(fr.body.contains("href=\"/?lang=es\""));
    assert!(fr.body.contains(">Français</a>"));
    let chosen = get_with(addr, "/?lang=en", &[("accept-language", "fr")]).await;
    assert!(chosen.body.contains("Four leaders arrested [en]"));
    assert!(chosen.header("vary").is_none());
    assert!(chosen.body.contains("aria-current=\"page\">English</a>"));
}

#[tokio::test]
async fn cancelled_items_go_and_updates_replace_their_originals() {
    let node = TestNode::start().await;
    let addr = http(&node);
    let key = org(33);
    let now = Timestamp::now();
    let a = alert_in(&key, "Leaders detained in Eastport", &["en", "fr"], now);
    let b = alert_in(&key, "Names of the detained", &["en"], now);
    publish(&node, &a).await;
    publish(&node, &b).await;
    let page = get(addr, "/").await;
    assert!(page.body.contains("Names of the detained [en]"));

    let u = update_of(
        &key,
        &a,
        "Leaders released on bail",
        &["en", "fr"],
        now.plus(Duration::from_secs(1)),
    );
    publish(&node, &u).await;
    let x = cancel_of(&key, &b, "The list exposed a member's family");
    publish(&node, &x).await;
    let endorser = org(34);
    publish(
        &node,
        &sign(
            body(
                &endorser,
                Content::Endorsement(Endorsement {
                    target: a.id(),
                    statement: "The Westland Teachers stand with you".into(),
                }),
            ),
            &endorser,
        ),
    )
    .await;

    let page = get(addr, "/").await;
    assert!(
        page.body.contains("Leaders released on bail [en]"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Leaders detained in Eastport"));
    assert!(!page.body.contains("Names of the detained"));
    assert!(page.body.contains("1 endorsement"));
    assert!(page.body.contains("updated"));
    assert!(page.body.contains("1 current alert or call."));

    // The detail page holds the history; an update's address leads there.
    let d = get(addr, &format!("/m/{}", a.id())).await;
    assert_eq!(d.status, 200);
    assert!(d.body.contains("Leaders released on bail [fr]"));
    assert!(d.body.contains("Published") && d.body.contains("(current)"));
    assert!(d.body.contains(&a.id().to_hex()) && d.body.contains(&u.id().to_hex()));
    assert!(d.body.contains("The Westland Teachers stand with you"));
    let r = get(addr, &format!("/m/{}", u.id())).await;
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some(format!("/m/{}", a.id()).as_str())
    );

    // The cancelled one is gone, with the author's reason.
    let gone = get(addr, &format!("/m/{}", b.id())).await;
    assert_eq!(gone.status, 410);
    assert!(gone.body.contains("The list exposed a member&#39;s family"));
    assert!(!gone.body.contains("Names of the detained"));
    assert_eq!(get(addr, &format!("/cap/{}.xml", b.id())).await.status, 410);

    // CAP: the update references the original; the cancel references what it withdrew.
    let cu = get(addr, &format!("/cap/{}.xml", u.id())).await;
    assert_eq!(cu.status, 200);
    assert!(cu.body.contains("<msgType>Update</msgType>"));
    assert!(cu.body.contains(&format!(
        "<references>tocsin:{},{},",
        key.public().to_hex(),
        a.id()
    )));
    assert_eq!(cu.body.matches("<info>").count(), 2);
    let cx = get(addr, &format!("/cap/{}.xml", x.id())).await;
    assert_eq!(cx.status, 200);
    assert!(cx.body.contains("<msgType>Cancel</msgType>"));
    assert!(cx.body.contains(&format!(",{},", b.id())));
    assert!(!cx.body.contains("<info>"));
    let index = get(addr, "/cap.atom").await;
    assert!(index.body.contains(&format!("/cap/{}.xml", u.id())));
    assert!(index.body.contains(&format!("/cap/{}.xml", x.id())));
    let feed = get(addr, "/feed.atom").await;
    assert!(
        feed.body
            .contains(&format!("<id>urn:tocsin:message:{}</id>", a.id()))
    );
    assert!(!feed.body.contains(&b.id().to_hex()));
}

/// A key revoked twice: the second successor may cancel what the first key wrote, and the
/// gateway honours that cancel the way the store does (following every successor).
#[tokio::test]
async fn a_cancel_by_a_successors_successor_is_honoured_like_the_authors() {
    let node = TestNode::start().await;
    let addr = http(&node);
    let (first, second, third) = (org(36), org(37), org(38));
    let now = Timestamp::now();
    let b = alert_in(
        &first,
        "Names of the detained",
        &["en"],
        now.minus(Duration::from_secs(120)),
    );
    publish(&node, &b).await;
    for (key, successor) in [(&first, &second), (&second, &third)] {
        let rev = sign(
            body(
                key,
                Content::Revocation(Revocation {
                    revoked_from: now.minus(Duration::from_secs(60)),
                    successor: Some(successor.public()),
                    reason: "phone seized at the border".into(),
                }),
            ),
            key,
        );
        publish(&node, &rev).await;
    }
    let x = cancel_of(&third, &b, "The list exposed a member's family");
    publish(&node, &x).await;
    let gone = get(addr, &format!("/m/{}", b.id())).await;
    assert_eq!(gone.status, 410);
    assert!(
        gone.body.contains("The list exposed a member&#39;s family"),
        "{}",
        gone.body
    );
    assert!(!get(addr, "/").await.body.contains("Names of the detained"));
    // The cancel is published as CAP and leads to what it withdrew.
    let cx = get(addr, &format!("/cap/{}.xml", x.id())).await;
    assert_eq!(cx.status, 200, "{}", cx.body);
    assert!(cx.body.contains("<msgType>Cancel</msgType>"));
    assert!(cx.body.contains(&format!(",{},", b.id())));
    assert!(
        get(addr, "/cap.atom")
            .await
            .body
            .contains(&format!("/cap/{}.xml", x.id()))
    );
    assert_eq!(get(addr, &format!("/m/{}", x.id())).await.status, 301);
}

#[tokio::test]
async fn filters_narrow_the_page_and_the_feeds() {
    let node = TestNode::start().await;
    let addr = http(&node);
    let now = Timestamp::now();
    let a = alert_in(&org(35), "Dockers arrested", &["en"], now);
    let c = call_in(&org(36), "Teachers dismissed", &["en", "es"], now);
    let mut d = alert_at(&org(37), "Mine collapse", now);
    d.countries = vec!["TR".into()];
    d.topics = vec!["safety".into()];
    d.content = Content::Alert(alert_content("Mine collapse", &["fr"]));
    let d = sign(d, &org(37));
    for m in [&a, &c, &d] {
        publish(&node, m).await;
    }
    let shows = |body: &str| -> Vec<bool> {
        ["Dockers arrested", "Teachers dismissed", "Mine collapse"]
            .iter()
            .map(|h| body.contains(h))
            .collect()
    };
    assert_eq!(shows(&get(addr, "/").await.body), [true, true, true]);
    assert_eq!(
        shows(&get(addr, "/?country=az").await.body),
        [true, false, false]
    );
    assert_eq!(
        shows(&get(addr, "/?kind=call").await.body),
        [false, true, false]
    );
    assert_eq!(
        shows(&get(addr, "/?topic=safety").await.body),
        [false, false, true]
    );
    assert_eq!(
        shows(&get(addr, "/?language=es").await.body),
        [false, true, false]
    );
    assert_eq!(
        shows(&get(addr, "/?country=AZ&country=TR").await.body),
        [true, false, true]
    );
    assert_eq!(
        shows(&get(addr, "/?country=AZ&kind=call").await.body),
        [false, false, false]
    );
    let feed = get(addr, "/feed.atom?country=GE").await;
    assert_eq!(feed.status, 200);
    assert_eq!(
        feed.header("content-type"),
        Some("application/atom+xml; charset=utf-8")
    );
    assert_eq!(shows(&feed.body), [false, true, false]);
    assert_eq!(
        shows(&get(addr, "/cap.atom?kind=alert").await.body),
        [true, false, true]
    );
    // The form keeps what was chosen.
    let page = get(addr, "/?country=TR").await;
    assert!(page.body.contains("<option value=\"TR\" selected>"));
    // Bad values are refused with what to type.
    let bad = get(addr, "/?country=Turkey").await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("two-letter"));
    assert_eq!(get(addr, "/feed.atom?kind=profile").await.status, 400);
}

#[tokio::test]
async fn a_message_page_shows_every_language_endorsers_signatures_and_the_key() {
    let node = TestNode::start().await;
    let addr = http(&node);
    let federation = org(40);
    let member = org(41);
    let translator = org(42);
    publish(
        &node,
        &profile(&translator, "Southland Translators' Collective"),
    )
    .await;
    publish(
        &node,
        &sign(
            body(
                &federation,
                Content::Roster(Roster {
                    members: vec![RosterMember {
                        key: member.public(),
                        name: "Westland Teachers' Federation".into(),
                        country: "GE".into(),
                    }],
                }),
            ),
            &federation,
        ),
    )
    .await;
    let c = call_in(
        &member,
        "Reinstate the dismissed teachers",
        &["en", "es"],
        Timestamp::now(),
    );
    publish(&node, &c).await;
    publish(
        &node,
        &sign(
            body(
                &translator,
                Content::Translation(Translation {
                    target: c.id(),
                    info: vec![Info {
                        language: "az".into(),
                        headline: "Işdən çıxarılan müəllimləri bərpa edin".into(),
                        description: "Tərcümə".into(),
                        ..Info::default()
                    }],
                }),
            ),
            &translator,
        ),
    )
    .await;

    let d = get_with(
        addr,
        &format!("/m/{}", c.id()),
        &[("accept-language", "es")],
    )
    .await;
    assert_eq!(d.status, 200);
    let b = &d.body;
    assert!(
        b.contains("<h1 lang=\"es\" dir=\"auto\">Reinstate the dismissed teachers [es]</h1>"),
        "{b}"
    );
    assert!(b.contains("Reinstate the dismissed teachers [en]"));
    assert!(b.contains("Işdən çıxarılan müəllimləri bərpa edin"));
    // The page's own words are Spanish, as the text chosen.
    assert!(b.contains(
        "traducido por <strong dir=\"auto\">Southland Translators&#39; Collective</strong>"
    ));
    assert!(b.contains("En 3 idiomas"));
    assert!(b.contains(
        "Westland Teachers&#39; Federation</span> (así nombrado en la lista de miembros de"
    ));
    assert!(b.contains(&member.public().to_hex()));
    assert_eq!(
        b.matches("firma válida").count(),
        2,
        "the call and the translation"
    );
    assert!(
        b.contains("Presentar observaciones a la OIT")
            && b.contains("Ministry of Labour of Westland")
    );
    // The conventions by name, each linked to its NORMLEX page.
    assert!(b.contains(
        "C087 — Freedom of Association and Protection of the Right to Organise Convention, 1948"
    ));
    assert!(b.contains("C098 — Right to Organise and Collective Bargaining Convention, 1949"));
    assert!(b.contains("P12100_ILO_CODE:C098") && b.contains("CEACR"));
    assert!(b.contains(&format!("/cap/{}.xml", c.id())));
    assert_eq!(get(addr, &format!("/m/{}", Id([7; 32]))).await.status, 404);
    assert_eq!(get(addr, "/m/not-an-id").await.status, 404);

    let cap = get(addr, &format!("/cap/{}.xml", c.id())).await;
    assert_eq!(
        cap.header("content-type"),
        Some("application/cap+xml; charset=utf-8")
    );
    assert_eq!(cap.body.matches("<info>").count(), 3);
    assert!(
        cap.body
            .contains("<valueName>tocsin:translated-by</valueName>")
    );
    assert!(
        cap.body
            .contains("<valueName>ISO 3166-1 alpha-2</valueName><value>GE</value>")
    );
    assert!(cap.body.contains("<onset>"));
}

#[tokio::test]
async fn conditional_requests_are_answered_304() {
    let node = TestNode::start().await;
    let addr = http(&node);
    let key = org(43);
    let a = alert_in(&key, "Strike broken by police", &["en"], Timestamp::now());
    publish(&node, &a).await;

    for path in [
        "/",
        "/feed.atom",
        "/cap.atom",
        &format!("/m/{}", a.id()),
        &format!("/cap/{}.xml", a.id()),
    ] {
        let first = get(addr, path).await;
        assert_eq!(first.status, 200, "{path}");
        let etag = first.header("etag").expect("an ETag").to_string();
        assert!(etag.starts_with("W/\""), "{etag}");
        let cc = first.header("cache-control").unwrap();
        assert!(cc.starts_with("public, max-age="), "{cc}");
        let again = get_with(addr, path, &[("if-none-match", &etag)]).await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), Some(etag.as_str()));
        let other = get_with(addr, path, &[("if-none-match", "W/\"something-else\"")]).await;
        assert_eq!(other.status, 200, "{path}");
    }
    let page = get(addr, "/").await;
    assert_eq!(page.header("cache-control"), Some("public, max-age=15"));
    let feed = get(addr, "/feed.atom").await;
    assert_eq!(feed.header("cache-control"), Some("public, max-age=60"));
    // The language is part of the validator.
    let fr = get_with(addr, "/", &[("accept-language", "fr")]).await;
    assert_ne!(fr.header("etag"), page.header("etag"));

    // Last-Modified appears once the second it was first served in is over.
    let dated = within("a Last-Modified date", async {
        loop {
            let r = get(addr, "/").await;
            if r.header("last-modified").is_some() {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let lm = dated.header("last-modified").unwrap().to_string();
    let etag = dated.header("etag").unwrap().to_string();
    assert_eq!(
        get_with(addr, "/", &[("if-modified-since", &lm)])
            .await
            .status,
        304
    );

    // Anything new changes the validators.
    publish(
        &node,
        &alert_in(&key, "Second strike broken", &["en"], Timestamp::now()),
    )
    .await;
    let fresh = get_with(addr, "/", &[("if-none-match", &etag)]).await;
    assert_eq!(fresh.status, 200);
    assert!(fresh.body.contains("Second strike broken"));
    assert_ne!(fresh.header("etag"), Some(etag.as_str()));
    assert_eq!(
        get_with(addr, "/", &[("if-modified-since", &lm)])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn message_text_is_escaped_in_the_page_the_feeds_and_cap() {
    let node = TestNode::start().await;
    let addr = http(&node);
    let key = org(44);
    let headline = "<script>alert('x')</script><img src=x onerror=alert(1)>";
    publish(&node, &profile(&key, "<b>Evil</b> & Co")).await;
    let mut b = alert_at(&key, headline, Timestamp::now());
    let mut content = alert_content(headline, &["en"]);
    content.info[0].headline = headline.into();
    content.info[0].description = "</p><a href=\"javascript:alert(2)\">click</a> ]]> &amp;".into();
    b.content = Content::Alert(content);
    let m = sign(b, &key);
    publish(&node, &m).await;

    let escaped =
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;";
    for path in [
        "/".to_string(),
        format!("/m/{}", m.id()),
        "/feed.atom".to_string(),
        "/cap.atom".to_string(),
        format!("/cap/{}.xml", m.id()),
    ] {
        let r = get(addr, &path).await;
        assert_eq!(r.status, 200, "{path}");
        // Atom element text keeps quotes as they are (markup is what must not pass).
        let escaped = if path.ends_with(".atom") {
            escaped.replace("&#39;", "'")
        } else {
            escaped.to_string()
        };
        assert!(r.body.contains(&escaped), "{path}: {}", r.body);
        // The page's own script, by address, is the one script a page may hold.
        let body = r
            .body
            .replacen("<script src=\"/page.js\" defer></script>", "", 1);
        for raw in ["<script", "<img", "<a href=\"javascript", "<b>Evil"] {
            assert!(!body.contains(raw), "{path} contains {raw}");
        }
        if !path.starts_with("/cap/") {
            assert!(
                r.body.contains("&lt;b&gt;Evil&lt;/b&gt; &amp; Co"),
                "{path}"
            );
        }
        if path != "/cap.atom" {
            assert!(r.body.contains("]]&gt; &amp;amp;"), "{path}");
        }
        let csp = r.header("content-security-policy").unwrap();
        assert!(csp.contains("default-src 'none'"));
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }
}

#[tokio::test]
async fn metrics_expose_the_counters_and_the_peers() {
    let mesh = Mesh::start(2, &[(0, 1)]).await;
    let a = &mesh.nodes[0];
    let key = org(45);
    let m = alert_in(&key, "Lockout at the port", &["en"], Timestamp::now());
    publish(a, &m).await;
    let again = a.client().await.publish(m.signed()).await.unwrap();
    assert!(matches!(again, PublishOutcome::Duplicate { .. }));
    let tampered = {
        let mut body = m.signed().body().to_vec();
        let last = body.len() - 1;
        body[last] ^= 1;
        SignedMessage::new(Bytes::from(body), m.signed().signature()).unwrap()
    };
    assert!(
        a.server()
            .node()
            .publish(tampered, Origin::Local)
            .await
            .is_err()
    );
    mesh.wait_all_have(1).await;

    let r = get(http(a), "/metrics").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let t = &r.body;
    assert!(t.contains("\ntocsin_messages_accepted_total 1\n"), "{t}");
    assert!(t.contains("\ntocsin_messages_duplicate_total 1\n"));
    assert!(t.contains("tocsin_messages_refused_total{reason=\"bad-signature\"} 1\n"));
    for reason in Reason::ALL {
        assert!(
            t.contains(&format!(
                "tocsin_messages_refused_total{{reason=\"{}\"}} ",
                reason.code()
            )),
            "{reason}"
        );
    }
    assert!(t.contains("# TYPE tocsin_ingest_latency_seconds histogram"));
    assert_eq!(
        t.matches("tocsin_ingest_latency_seconds_bucket{").count(),
        15
    );
    assert!(t.contains("tocsin_ingest_latency_seconds_bucket{le=\"+Inf\"} 1\n"));
    assert!(t.contains("tocsin_ingest_latency_seconds_bucket{le=\"0.0001\"} "));
    assert!(t.contains("\ntocsin_ingest_latency_seconds_count 1\n"));
    assert!(t.contains("\ntocsin_store_messages 1\n"));
    assert!(t.contains("\ntocsin_store_head_seq 1\n"));
    // Figures that move with every write, an embargoed arrival too, are not published.
    assert!(!t.contains("tocsin_store_disk_bytes"));
    assert!(!t.contains("tocsin_store_flushes_total"));
    assert!(t.contains("\ntocsin_subscribers "));
    // Every line is a comment or `name{labels} value`.
    for line in t.lines().filter(|l| !l.starts_with('#')) {
        let (_, value) = line.rsplit_once(' ').expect(line);
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }

    // The follower side shows the peer it follows, connected and caught up.
    let b = &mesh.nodes[1];
    wait_until("the peer's lag to reach 0", || {
        let fut = get(http(b), "/metrics");
        async move {
            let t = fut.await.body;
            t.contains("tocsin_peer_connected{peer=\"n0\"} 1\n")
                && t.contains("tocsin_peer_lag{peer=\"n0\"} 0\n")
        }
    })
    .await;
}

#[tokio::test]
async fn health_errors_head_and_a_disabled_gateway() {
    let node = TestNode::start().await;
    let addr = http(&node);
    let h = get(addr, "/healthz").await;
    assert_eq!((h.status, h.body.as_str()), (200, "ok\n"));
    assert_eq!(h.header("cache-control"), Some("no-store"));
    assert_eq!(get(addr, "/nowhere").await.status, 404);
    assert_eq!(get(addr, "/cap/nothing.xml").await.status, 404);
    assert_eq!(
        get(addr, &format!("/cap/{}.xml", Id([1; 32]))).await.status,
        404
    );
    let head = request(addr, "HEAD", "/", &[]).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert!(head.header("etag").is_some());
    let css = get(addr, "/style.css").await;
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));

    let off = TestNode::start_with(|c| c.http.enabled = false).await;
    assert!(off.server().http_addr().is_none());
}

#[tokio::test]
async fn embargoed_messages_appear_only_from_their_time() {
    let node = TestNode::start().await;
    let addr = http(&node);
    let key = org(46);
    let now = Timestamp::now();
    let mut b = alert_at(&key, "Coordinated release", now);
    b.effective_at = Some(now.plus(Duration::from_secs(3)));
    b.content = Content::Alert(alert_content("Coordinated release", &["en"]));
    let m = sign(b, &key);
    publish(&node, &m).await;

    let page = get(addr, "/").await;
    assert!(!page.body.contains("Coordinated release"));
    assert!(
        !get(addr, "/feed.atom")
            .await
            .body
            .contains("Coordinated release")
    );
    assert_eq!(get(addr, &format!("/m/{}", m.id())).await.status, 404);
    assert_eq!(get(addr, &format!("/cap/{}.xml", m.id())).await.status, 404);
    let early = page.header("etag").unwrap().to_string();

    wait_until("the embargo to end on the page", || {
        let fut = get(addr, "/");
        async { fut.await.body.contains("Coordinated release [en]") }
    })
    .await;
    assert!(Timestamp::now() >= now.plus(Duration::from_secs(3)));
    assert_eq!(get(addr, &format!("/m/{}", m.id())).await.status, 200);
    let after = get_with(addr, "/", &[("if-none-match", &early)]).await;
    assert_eq!(after.status, 200, "the release changed the validator");

    // An embargoed update: the original stays current until the update's time.
    let now = Timestamp::now();
    let mut u = alert_at(&key, "Release postponed", now);
    u.effective_at = Some(now.plus(Duration::from_secs(3)));
    u.content = Content::Update(Update {
        supersedes: m.id(),
        content: UpdateContent::Alert(alert_content("Release postponed", &["en"])),
    });
    let u = sign(u, &key);
    publish(&node, &u).await;
    let page = get(addr, "/").await;
    assert!(page.body.contains("Coordinated release [en]"));
    assert!(!page.body.contains("Release postponed"));
    assert_eq!(get(addr, &format!("/cap/{}.xml", u.id())).await.status, 404);
    let detail = get(addr, &format!("/m/{}", m.id())).await;
    assert!(!detail.body.contains("Release postponed"));
    assert!(!detail.body.contains(&u.id().to_hex()));
    wait_until("the embargoed update to replace the original", || {
        let fut = get(addr, "/");
        async {
            let body = fut.await.body;
            body.contains("Release postponed [en]") && !body.contains("Coordinated release")
        }
    })
    .await;
    assert_eq!(get(addr, &format!("/cap/{}.xml", u.id())).await.status, 200);
}

/// The store's read pool is on /metrics: the scrape's own read is running on it (so at least
/// one, and never more than `store.read_threads`), and nothing was refused as busy.
#[tokio::test]
async fn metrics_show_the_store_read_pool() {
    let node = TestNode::start_with(|c| c.store.read_threads = 3).await;
    let r = get(http(&node), "/metrics").await;
    assert_eq!(r.status, 200);
    let t = &r.body;
    let value = |name: &str| -> u64 {
        t.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {t}"))
    };
    let running = value("tocsin_store_reads_running");
    assert!((1..=3).contains(&running), "{running} running: {t}");
    // Present (its value depends on what else reads meanwhile).
    value("tocsin_store_reads_queued");
    assert_eq!(value("tocsin_store_reads_busy_total"), 0, "{t}");
    assert!(
        t.contains("# TYPE tocsin_store_reads_busy_total counter\n"),
        "{t}"
    );
}
