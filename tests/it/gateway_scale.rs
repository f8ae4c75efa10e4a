//! The gateway reads what it shows, newest first, from the store (issue 24): a listing is the
//! newest `http.max_items` by their latest version, a filter reads its own index (an old item
//! that matches is found however many newer ones do not), a restart serves the same page at
//! once, and a flood of fresh keys larger than a listing reads cannot push the operator's
//! vouched authors off the page; the counts then say "at least".

use std::time::Duration;

use futures::StreamExt;
use tocsin::message::*;
use tocsin::node::Clock;
use tocsin::rpc::PublishOutcome;

use crate::http::{call_in, get};
use crate::support::*;

/// An alert by `key` about `country`, created `at`.
fn alert_about(key: &SecretKey, headline: &str, country: &str, at: Timestamp) -> Message {
    let mut b = alert_at(key, headline, at);
    b.countries = vec![country.into()];
    sign(b, key)
}

/// Publishes `messages` on one stream; every one must be accepted.
async fn publish_all(node: &TestNode, messages: Vec<Message>) {
    let n = messages.len();
    let mut client = node.client().await;
    let signed: Vec<SignedMessage> = messages.iter().map(|m| m.signed().clone()).collect();
    let replies = client
        .publish_stream(futures::stream::iter(signed))
        .await
        .expect("opening a publish stream");
    let replies: Vec<_> = within("publishing", replies.collect::<Vec<_>>()).await;
    assert_eq!(replies.len(), n);
    for r in replies {
        assert!(matches!(r, Ok(PublishOutcome::Accepted { .. })), "{r:?}");
    }
}

/// The headlines of the page's list, in order (without the language `alert_content` adds).
fn headlines(page: &str) -> Vec<String> {
    page.split("<li><article")
        .skip(1)
        .filter_map(|li| {
            let h = li.split("<h2").nth(1)?;
            let text = h.split('>').nth(2)?;
            let text = text.split('<').next()?;
            Some(text.trim_end_matches(" [en]").to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_is_the_newest_items_by_their_latest_version_and_a_filter_reads_its_own_index() {
    let clock = Clock::manual(Timestamp::now());
    let mut node = TestNode::start_with_clock(clock.clone(), |c| {
        c.http.max_items = 5;
        // Every author counts as having history: the ranking is by date alone here.
        c.trust.history = Duration::ZERO;
    })
    .await;
    let dockers = org(41);
    let t0 = clock.now();
    // One old alert about Azerbaijan, then thirty newer ones about Türkiye.
    let old = alert_about(&dockers, "Baku dockers detained", "AZ", t0);
    let mut messages = vec![old.clone()];
    for i in 1..=30u64 {
        messages.push(alert_about(
            &dockers,
            &format!("Izmir strike day {i}"),
            "TR",
            t0.plus(Duration::from_secs(i * 60)),
        ));
    }
    // An update makes the third alert the newest by its latest version.
    let third = messages[3].clone();
    clock.advance(Duration::from_secs(31 * 60));
    publish_all(&node, messages).await;
    clock.advance(Duration::from_secs(3600));
    let mut b = alert_at(&dockers, "Izmir strike day 3: all released", clock.now());
    b.countries = vec!["TR".into()];
    b.content = Content::Update(Update {
        supersedes: third.id(),
        content: UpdateContent::Alert(alert_content("Izmir strike day 3: all released", &["en"])),
    });
    publish_all(&node, vec![sign(b, &dockers)]).await;
    // A call to strike, embargoed until tomorrow: not even its topic may show before then.
    let mut embargoed = alert_at(&dockers, "Strike at Acme on 1 May", clock.now());
    embargoed.topics = vec!["strike-acme-0501".into()];
    embargoed.effective_at = Some(clock.now().plus(Duration::from_secs(24 * 3600)));
    publish_all(&node, vec![sign(embargoed, &dockers)]).await;

    let http = node.server().http_addr().expect("the gateway is on");
    let expected = [
        "Izmir strike day 3: all released",
        "Izmir strike day 30",
        "Izmir strike day 29",
        "Izmir strike day 28",
        "Izmir strike day 27",
    ];
    let page = get(http, "/").await;
    assert_eq!(page.status, 200);
    assert_eq!(headlines(&page.body), expected, "{}", page.body);
    assert!(
        !page.body.contains("strike-acme-0501"),
        "an embargoed topic leaked"
    );
    assert!(
        page.body
            .contains("The 5 newest of 31 current alerts and calls."),
        "the walk reached the start, so the count is exact"
    );
    // The old alert is found through the country index, behind thirty newer ones.
    let az = get(http, "/?country=AZ").await;
    assert_eq!(headlines(&az.body), ["Baku dockers detained"]);
    // The page offers every country held, from the indexes.
    assert!(az.body.contains("value=\"AZ\"") && az.body.contains("value=\"TR\""));
    let feed = get(http, "/feed.atom").await.body;
    assert_eq!(feed.matches("<entry>").count(), 5);
    assert!(feed.contains("Izmir strike day 3: all released"));
    // An update's page is its original's.
    let updated = get(http, &format!("/m/{}", third.id())).await;
    assert!(updated.body.contains("Izmir strike day 3: all released"));

    // After a restart, the same page at once, from the store.
    node.restart().await;
    let http = node.server().http_addr().expect("the gateway is on");
    let page = get(http, "/").await;
    assert_eq!(headlines(&page.body), expected);

    // When the updated one expires (with its original, three minutes after the first), the
    // next one takes its place without a new entry.
    clock.set(t0.plus(Duration::from_secs(7 * 24 * 3600 + 3 * 60 + 30)));
    let page = get(http, "/").await;
    assert_eq!(
        headlines(&page.body),
        [
            "Izmir strike day 30",
            "Izmir strike day 29",
            "Izmir strike day 28",
            "Izmir strike day 27",
            "Izmir strike day 26"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_larger_than_a_listing_reads_cannot_push_vouched_authors_off_the_page() {
    let clock = Clock::manual(Timestamp::now());
    let (nurses, dockers) = (org(42), org(43));
    let node = TestNode::start_with_clock(clock.clone(), |c| {
        c.http.max_items = 5;
        c.trust.unverified_items = 2;
        c.trust.allow = vec![nurses.public().to_hex()];
        c.trust.history = Duration::from_secs(3600);
    })
    .await;
    let http = node.server().http_addr().expect("the gateway is on");
    // The dockers are not on the list: they earn history by being shown for an hour.
    let docks = sign(
        alert_at(&dockers, "Eastport dockers detained", clock.now()),
        &dockers,
    );
    publish_all(&node, vec![docks]).await;
    assert!(get(http, "/").await.body.contains("Unverified author"));
    clock.advance(Duration::from_secs(2 * 3600));
    let t0 = clock.now();
    let honest: Vec<Message> = (0..3u64)
        .map(|i| {
            sign(
                alert_at(
                    &nurses,
                    &format!("Northport nurses locked out, ward {i}"),
                    t0.plus(Duration::from_secs(i)),
                ),
                &nurses,
            )
        })
        .collect();
    publish_all(&node, honest).await;
    let page = get(http, "/").await.body;
    assert!(!page.contains("Unverified author"), "{page}");
    // 700 alerts from fresh keys: more than a listing of 5 reads back (500 entries).
    clock.advance(Duration::from_secs(60));
    let flood: Vec<Message> = (0..700u32)
        .map(|i| {
            let mut seed = [7u8; 32];
            seed[..4].copy_from_slice(&i.to_be_bytes());
            let key = SecretKey::from_seed(&seed);
            sign(
                alert_at(&key, &format!("Fabricated {i}"), clock.now()),
                &key,
            )
        })
        .collect();
    publish_all(&node, flood).await;

    let page = get(http, "/").await.body;
    let shown = headlines(&page);
    assert_eq!(shown.len(), 5, "{shown:?}");
    for i in 0..3 {
        assert!(
            shown.contains(&format!("Northport nurses locked out, ward {i}")),
            "{shown:?}"
        );
    }
    // An author with history the gateway has met is read through its own index too.
    assert!(
        shown.contains(&"Eastport dockers detained".to_string()),
        "{shown:?}"
    );
    // The one place left goes to the newest unverified item.
    assert_eq!(
        shown.iter().filter(|h| h.starts_with("Fabricated")).count(),
        1
    );
    // The walk stopped before the start: the counts are lower bounds, and say so.
    assert!(page.contains("The 5 newest of at least"), "{page}");
    assert!(page.contains("At least"), "{page}");
    // The unverified ones alone, newest first.
    let unverified = headlines(&get(http, "/?authors=unverified").await.body);
    assert_eq!(
        unverified,
        (695..700)
            .rev()
            .map(|i| format!("Fabricated {i}"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_filter_finds_a_call_behind_more_alerts_than_a_listing_reads() {
    let clock = Clock::manual(Timestamp::now());
    let node = TestNode::start_with_clock(clock.clone(), |c| {
        // A listing of one reads at most 100 entries back.
        c.http.max_items = 1;
        c.trust.history = Duration::ZERO;
    })
    .await;
    let teachers = org(44);
    let t0 = clock.now();
    let call = call_in(
        &teachers,
        "Observations on the Westland teachers",
        &["en"],
        t0,
    );
    let mut messages = vec![call];
    for i in 1..=150u64 {
        messages.push(alert_about(
            &teachers,
            &format!("Westland school closed, day {i}"),
            "GE",
            t0.plus(Duration::from_secs(i)),
        ));
    }
    clock.advance(Duration::from_secs(3600));
    publish_all(&node, messages).await;
    let http = node.server().http_addr().expect("the gateway is on");
    assert_eq!(
        headlines(&get(http, "/").await.body),
        ["Westland school closed, day 150"]
    );
    // The kind is read through its own index: the call is found behind 150 alerts.
    let calls = get(http, "/?kind=call").await.body;
    assert_eq!(
        headlines(&calls),
        ["Observations on the Westland teachers"],
        "{calls}"
    );
    assert!(
        get(http, "/cap.atom?kind=call")
            .await
            .body
            .contains("Observations on the Westland teachers")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn older_messages_arriving_late_do_not_push_the_newest_off_the_page() {
    let clock = Clock::manual(Timestamp::now());
    let mut node = TestNode::start_with_clock(clock.clone(), |c| {
        c.http.max_items = 3;
        c.trust.history = Duration::ZERO;
    })
    .await;
    let (nurses, dockers) = (org(45), org(46));
    let t0 = clock.now();
    clock.advance(Duration::from_secs(6 * 3600));
    let fresh: Vec<Message> = (1..=3u64)
        .map(|i| {
            sign(
                alert_at(
                    &nurses,
                    &format!("Northport nurses locked out, ward {i}"),
                    clock.now().plus(Duration::from_secs(i)),
                ),
                &nurses,
            )
        })
        .collect();
    clock.advance(Duration::from_secs(60));
    publish_all(&node, fresh).await;
    // A backlog from before them arrives afterwards (an import, a peer back online): 150
    // alerts from the morning, all current, later in the log than the three and more than
    // one batch of the walk (64 entries).
    clock.advance(Duration::from_secs(30 * 60));
    let backlog: Vec<Message> = (1..=150u64)
        .map(|i| {
            alert_about(
                &dockers,
                &format!("Eastport dockers, morning report {i}"),
                "GE",
                t0.plus(Duration::from_secs(i * 60)),
            )
        })
        .collect();
    publish_all(&node, backlog).await;
    let expected = [
        "Northport nurses locked out, ward 3",
        "Northport nurses locked out, ward 2",
        "Northport nurses locked out, ward 1",
    ];
    let http = node.server().http_addr().expect("the gateway is on");
    let page = get(http, "/").await.body;
    assert_eq!(headlines(&page), expected, "{page}");
    let feed = get(http, "/feed.atom").await.body;
    assert!(
        feed.contains("ward 3") && !feed.contains("morning report"),
        "{feed}"
    );
    // The bound is kept in the store: the same after a restart.
    node.restart().await;
    let http = node.server().http_addr().expect("the gateway is on");
    assert_eq!(headlines(&get(http, "/").await.body), expected);
    // The backlog is still there, by its own dates, behind them.
    let ge = get(http, "/?country=GE").await.body;
    assert_eq!(
        headlines(&ge),
        [
            "Eastport dockers, morning report 150",
            "Eastport dockers, morning report 149",
            "Eastport dockers, morning report 148"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_language_filter_finds_an_item_made_newest_by_an_update_in_another_language() {
    // The item is French only through an old translation; its newest version, an update, is
    // in English. The walk of the French entries meets the translation behind more newer
    // French alerts than one batch, so the update must be found on its own.
    let clock = Clock::manual(Timestamp::now());
    let node = TestNode::start_with_clock(clock.clone(), |c| {
        c.http.max_items = 3;
        c.trust.history = Duration::ZERO;
    })
    .await;
    let (teachers, translator, bakers) = (org(47), org(48), org(49));
    let t0 = clock.now();
    let original = sign(
        alert_at(&teachers, "Westland teachers dismissed", t0),
        &teachers,
    );
    let mut b = alert_at(&translator, "", t0.plus(Duration::from_secs(60)));
    b.content = Content::Translation(Translation {
        target: original.id(),
        info: vec![Info {
            language: "fr".into(),
            headline: "Enseignants de Westland licenciés".into(),
            description: "Quarante enseignants licenciés.".into(),
            ..Info::default()
        }],
    });
    let translation = sign(b, &translator);
    let french: Vec<Message> = (1..=150u64)
        .map(|i| {
            let mut b = alert_at(
                &bakers,
                &format!("Grève des boulangers, jour {i}"),
                t0.plus(Duration::from_secs(120 + i * 60)),
            );
            b.content = Content::Alert(alert_content(
                &format!("Grève des boulangers, jour {i}"),
                &["fr"],
            ));
            sign(b, &bakers)
        })
        .collect();
    // Published a few minutes apart: the store's bound on how new anything further back can
    // be is kept per minute, so a walk may stop between these.
    clock.advance(Duration::from_secs(3 * 3600));
    publish_all(&node, vec![original.clone(), translation]).await;
    for chunk in french.chunks(50) {
        clock.advance(Duration::from_secs(2 * 60));
        publish_all(&node, chunk.to_vec()).await;
    }
    clock.advance(Duration::from_secs(2 * 60));
    let mut b = alert_at(&teachers, "Westland teachers reinstated", clock.now());
    b.content = Content::Update(Update {
        supersedes: original.id(),
        content: UpdateContent::Alert(alert_content("Westland teachers reinstated", &["en"])),
    });
    publish_all(&node, vec![sign(b, &teachers)]).await;

    let http = node.server().http_addr().expect("the gateway is on");
    let page = get(http, "/?language=fr").await.body;
    assert_eq!(
        headlines(&page),
        [
            "Westland teachers reinstated",
            "Grève des boulangers, jour 150 [fr]",
            "Grève des boulangers, jour 149 [fr]"
        ],
        "the updated item leads the French page: {page}"
    );
}
