//! `/calendar.ics` against a real node on a manual clock: a call's deadline and window through
//! an update and a cancel, filters, conditional requests, and an embargoed call kept out until
//! its hour; and `tocsin deadlines` against a node.

use std::net::SocketAddr;
use std::process::{Output, Stdio};
use std::time::Duration;

use tocsin::message::*;
use tocsin::node::Clock;
use tocsin::rpc::PublishOutcome;

use crate::http::{get, get_with};
use crate::support::*;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// A call by `key` created `at`: a deadline in 21 days, and an action window when `window`.
fn call(key: &SecretKey, headline: &str, country: &str, at: Timestamp, window: bool) -> Body {
    let mut b = alert_at(key, headline, at);
    b.countries = vec![country.into()];
    b.topics = vec![
        if country == "GE" {
            "ilo"
        } else {
            "union-rights"
        }
        .into(),
    ];
    b.content = Content::Call(call_content(headline, at, window));
    b
}

fn call_content(headline: &str, at: Timestamp, window: bool) -> ActionCall {
    ActionCall {
        base: alert_content(headline, &["en"]),
        actions: vec![ActionType::Letter],
        target: "Ministry of Labour of Westland".into(),
        window_starts_at: window.then(|| at.plus(DAY)),
        window_ends_at: window.then(|| at.plus(DAY * 20)),
        deadline: Some(at.plus(DAY * 21)),
        ilo_conventions: vec!["C087".into()],
        supervisory_body: None,
        goals: Vec::new(),
    }
}

async fn publish(node: &TestNode, m: &Message) {
    match node.client().await.publish(m.signed()).await.unwrap() {
        PublishOutcome::Accepted { .. } => {}
        other => panic!("expected acceptance, got {other:?}"),
    }
}

fn http(node: &TestNode) -> SocketAddr {
    node.server().http_addr().expect("the gateway is on")
}

/// The calendar's events, each as its unfolded content lines.
fn events(text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in text.replace("\r\n ", "").split("\r\n") {
        match line {
            "BEGIN:VEVENT" => current = Some(Vec::new()),
            "END:VEVENT" => out.extend(current.take()),
            _ => {
                if let Some(c) = current.as_mut() {
                    c.push(line.to_string());
                }
            }
        }
    }
    out
}

/// The first value of `name` in an event's lines (its own, before any alarm's).
fn field<'a>(event: &'a [String], name: &str) -> Option<&'a str> {
    event
        .iter()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(':')))
}

/// The event with this UID, if the calendar has it.
fn event<'a>(events: &'a [Vec<String>], uid: &str) -> Option<&'a Vec<String>> {
    events.iter().find(|e| field(e, "UID") == Some(uid))
}

fn uid(m: &Message, what: &str) -> String {
    format!("{}-{what}@tocsin", m.id().to_hex())
}

async fn calendar(addr: SocketAddr, query: &str) -> Vec<Vec<String>> {
    let r = get(addr, &format!("/calendar.ics{query}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("text/calendar; charset=utf-8")
    );
    assert!(r.body.starts_with("BEGIN:VCALENDAR\r\n"));
    assert!(r.body.ends_with("END:VCALENDAR\r\n"));
    events(&r.body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calls_events_keep_their_uid_through_an_update_and_a_cancel() {
    let start = Timestamp::now();
    let clock = Clock::manual(start);
    let node = TestNode::start_with_clock(clock.clone(), |_| {}).await;
    let addr = http(&node);
    let (union, federation) = (org(201), org(202));

    let observations = sign(
        call(
            &union,
            "File observations with the CEACR",
            "GE",
            start,
            true,
        ),
        &union,
    );
    let letters = sign(
        call(
            &federation,
            "Write to the Port Authority",
            "AZ",
            start,
            false,
        ),
        &federation,
    );
    publish(&node, &observations).await;
    publish(&node, &letters).await;

    let cal = calendar(addr, "").await;
    assert_eq!(cal.len(), 3, "two deadlines and one window: {cal:?}");
    let deadline = event(&cal, &uid(&observations, "deadline")).expect("the deadline");
    assert_eq!(field(deadline, "SEQUENCE"), Some("0"));
    assert_eq!(field(deadline, "STATUS"), Some("CONFIRMED"));
    assert_eq!(
        field(deadline, "SUMMARY"),
        Some("Deadline: File observations with the CEACR [en]")
    );
    let url = field(deadline, "URL").expect("a link back");
    assert!(
        url.starts_with("http://") && url.ends_with(&format!("/m/{}", observations.id())),
        "{url}"
    );
    assert_eq!(
        deadline.iter().filter(|l| *l == "BEGIN:VALARM").count(),
        2,
        "reminders a week and a day before"
    );
    let window = event(&cal, &uid(&observations, "window")).expect("the window");
    assert!(field(window, "DTEND").is_some());
    assert!(event(&cal, &uid(&letters, "window")).is_none());

    // An update: the same events, one revision on.
    clock.advance(Duration::from_secs(60));
    let now = clock.now();
    let mut u = call(
        &union,
        "Observations due: two unions still to file",
        "GE",
        now,
        true,
    );
    u.content = Content::Update(Update {
        supersedes: observations.id(),
        content: UpdateContent::Call(call_content(
            "Observations due: two unions still to file",
            start,
            true,
        )),
    });
    publish(&node, &sign(u, &union)).await;
    let cal = calendar(addr, "").await;
    assert_eq!(cal.len(), 3);
    let deadline = event(&cal, &uid(&observations, "deadline")).expect("the same UID");
    assert_eq!(field(deadline, "SEQUENCE"), Some("1"));
    assert_eq!(
        field(deadline, "SUMMARY"),
        Some("Deadline: Observations due: two unions still to file [en]")
    );
    let window = event(&cal, &uid(&observations, "window")).expect("the same UID");
    assert_eq!(field(window, "SEQUENCE"), Some("1"));

    // A cancel: the event stays, cancelled, so a calendar holding it drops it.
    let mut c = body(
        &federation,
        Content::Cancel(Cancel {
            target: letters.id(),
            reason: "The Port Authority met the union".into(),
        }),
    );
    c.created_at = clock.now();
    publish(&node, &sign(c, &federation)).await;
    let cal = calendar(addr, "").await;
    let cancelled = event(&cal, &uid(&letters, "deadline")).expect("the cancelled event");
    assert_eq!(field(cancelled, "STATUS"), Some("CANCELLED"));
    assert_eq!(field(cancelled, "SEQUENCE"), Some("1"));
    assert!(!cancelled.iter().any(|l| l.contains("Port Authority [en]")));
    assert_eq!(
        event(&cal, &uid(&observations, "deadline")).and_then(|e| field(e, "STATUS")),
        Some("CONFIRMED")
    );

    // The feeds' filters: by country, topic, kind.
    let ge = calendar(addr, "?country=GE").await;
    assert_eq!(ge.len(), 2);
    assert!(event(&ge, &uid(&letters, "deadline")).is_none());
    let az = calendar(addr, "?country=AZ").await;
    assert_eq!(az.len(), 1);
    assert_eq!(
        event(&az, &uid(&letters, "deadline")).and_then(|e| field(e, "STATUS")),
        Some("CANCELLED")
    );
    // A calendar of one language (the page's own link) drops the cancelled call too.
    for query in ["?language=en", "?country=AZ&language=en"] {
        let cal = calendar(addr, query).await;
        assert_eq!(
            event(&cal, &uid(&letters, "deadline")).and_then(|e| field(e, "STATUS")),
            Some("CANCELLED"),
            "{query}"
        );
    }
    assert_eq!(calendar(addr, "?topic=ilo").await.len(), 2);
    assert!(calendar(addr, "?kind=alert").await.is_empty());
    assert_eq!(calendar(addr, "?kind=call&kind=alert").await.len(), 3);
    assert_eq!(
        get(addr, "/calendar.ics?country=Westland").await.status,
        400
    );

    // Conditional requests: 304 while nothing changed, 200 once something did.
    let first = get(addr, "/calendar.ics").await;
    let etag = first.header("etag").expect("an ETag").to_string();
    let again = get_with(addr, "/calendar.ics", &[("if-none-match", &etag)]).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let other = get_with(
        addr,
        "/calendar.ics?country=GE",
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(other.status, 200, "another selection, another ETag");
    let french = get_with(
        addr,
        "/calendar.ics",
        &[("if-none-match", &etag), ("accept-language", "fr")],
    )
    .await;
    assert_eq!(french.status, 200, "another language, another ETag");
    assert_eq!(french.header("vary"), Some("Accept-Language"));
    publish(
        &node,
        &sign(
            call(&union, "Send solidarity messages", "GE", clock.now(), false),
            &union,
        ),
    )
    .await;
    let moved = get_with(addr, "/calendar.ics", &[("if-none-match", &etag)]).await;
    assert_eq!(moved.status, 200);
    assert_eq!(events(&moved.body).len(), 4);

    // The page links the calendar with its filters.
    let page = get(addr, "/?country=GE").await;
    assert!(
        page.body
            .contains("href=\"/calendar.ics?country=GE\">Calendar</a>"),
        "the page links the filtered calendar"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embargoed_call_is_on_no_calendar_before_its_hour() {
    let start = Timestamp::now();
    let clock = Clock::manual(start);
    let node = TestNode::start_with_clock(clock.clone(), |_| {}).await;
    let addr = http(&node);
    let union = org(203);
    let hour = start.plus(Duration::from_secs(3600));
    let mut b = call(&union, "Coordinated day of action", "GE", start, true);
    b.effective_at = Some(hour);
    let embargoed = sign(b, &union);
    publish(&node, &embargoed).await;
    let open = sign(
        call(&union, "Letters to the Minister", "GE", start, false),
        &union,
    );
    publish(&node, &open).await;

    let before = get(addr, "/calendar.ics").await;
    let cal = events(&before.body);
    assert!(event(&cal, &uid(&open, "deadline")).is_some());
    assert!(event(&cal, &uid(&embargoed, "deadline")).is_none());
    assert!(event(&cal, &uid(&embargoed, "window")).is_none());
    assert!(!before.body.contains("Coordinated day of action"));
    assert!(!before.body.contains(&embargoed.id().to_hex()));
    let etag = before.header("etag").expect("an ETag").to_string();

    clock.advance(Duration::from_secs(3600 - 1));
    let still = get(addr, "/calendar.ics").await;
    assert!(
        !still.body.contains(&embargoed.id().to_hex()),
        "a second early"
    );

    clock.advance(Duration::from_secs(2));
    wait_until("the embargoed call to reach the calendar", || {
        let fut = get(addr, "/calendar.ics");
        let want = uid(&embargoed, "deadline");
        async move { event(&events(&fut.await.body), &want).is_some() }
    })
    .await;
    let after = get_with(addr, "/calendar.ics", &[("if-none-match", &etag)]).await;
    assert_eq!(after.status, 200, "the release changed the validator");
    assert!(event(&events(&after.body), &uid(&embargoed, "window")).is_some());
}

/// `tocsin ARGS…` in UTC+4 without colour or locale language, off the async runtime.
async fn tocsin(args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("TZ", "<+04>-4")
        .env("LANG", "C.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env_remove("TOCSIN_NODE")
        .stdin(Stdio::null());
    within(&args.join(" "), async {
        tokio::task::spawn_blocking(move || cmd.output().expect("running tocsin"))
            .await
            .expect("the runner")
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_lists_what_is_due_soonest_first_with_updates_and_cancels_applied() {
    let node = TestNode::start().await;
    let url = node.url();
    let (union, federation) = (org(204), org(205));
    let now = Timestamp::now();
    let with_deadline = |key: &SecretKey, headline: &str, country: &str, days: u32| {
        let mut b = call(key, headline, country, now, false);
        if let Content::Call(c) = &mut b.content {
            c.deadline = Some(now.plus(DAY * days));
        }
        sign(b, key)
    };
    // Posted latest-due first: the listing orders them itself.
    let later = with_deadline(&union, "Observations to the Committee of Experts", "GE", 10);
    let sooner = with_deadline(&federation, "Letters to the Port Authority", "AZ", 3);
    let withdrawn = with_deadline(&federation, "Picket at the depot", "AZ", 1);
    for m in [&later, &sooner, &withdrawn] {
        publish(&node, m).await;
    }
    // An update moves the later deadline to 5 days, still after the sooner one.
    let mut u = call(&union, "Observations due in five days", "GE", now, false);
    let mut moved = call_content("Observations due in five days", now, false);
    moved.deadline = Some(now.plus(DAY * 5));
    u.content = Content::Update(Update {
        supersedes: later.id(),
        content: UpdateContent::Call(moved),
    });
    publish(&node, &sign(u, &union)).await;
    let cancel = body(
        &federation,
        Content::Cancel(Cancel {
            target: withdrawn.id(),
            reason: "The depot reopened".into(),
        }),
    );
    publish(&node, &sign(cancel, &federation)).await;

    let out = tocsin(&["deadlines", "--node", &url]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let sooner_at = text
        .find("Letters to the Port Authority")
        .expect("the sooner call");
    let later_at = text
        .find("Observations due in five days")
        .expect("the updated call");
    assert!(sooner_at < later_at, "soonest first:\n{text}");
    assert!(text.contains("in 3 days"), "{text}");
    assert!(text.contains("in 5 days"), "{text}");
    assert!(text.contains("+04"), "local time: {text}");
    assert!(
        !text.contains("Committee of Experts"),
        "the update replaced it: {text}"
    );
    assert!(!text.contains("Picket"), "the cancel withdrew it: {text}");

    let out = tocsin(&["deadlines", "--node", &url, "--json", "--country", "GE"]).await;
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["id"], later.id().to_hex());
    assert_eq!(lines[0]["what"], "deadline");
    assert_eq!(lines[0]["headline"], "Observations due in five days [en]");

    let out = tocsin(&["deadlines", "--node", &url, "--kind", "alert"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only calls have deadlines"));
    let out = tocsin(&["deadlines", "--node", &url, "--country", "Westland"]).await;
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_stays_in_the_filtered_calendar_and_cap_feed_after_a_restart() {
    // What a filtered feed needs of a cancelled call (its country, its events) went with its
    // content; the store keeps it, so neither a restart nor an emptied item cache drops the
    // cancel from `?country=` feeds, where calendars and CAP aggregators look for it.
    let start = Timestamp::now();
    let clock = Clock::manual(start);
    let mut node = TestNode::start_with_clock(clock.clone(), |_| {}).await;
    let union = org(203);
    let letters = sign(
        call(&union, "Write to the Harbour Board", "AZ", start, true),
        &union,
    );
    publish(&node, &letters).await;
    let before = calendar(http(&node), "?country=AZ").await;
    assert_eq!(before.len(), 2, "a deadline and a window: {before:?}");
    // An update moves the call to KZ: an aggregator that took it from either feed must find
    // the cancel there.
    clock.advance(Duration::from_secs(30));
    let mut u = call(
        &union,
        "Write to the Harbour Board",
        "KZ",
        clock.now(),
        true,
    );
    u.content = Content::Update(Update {
        supersedes: letters.id(),
        content: UpdateContent::Call(call_content("Write to the Harbour Board", start, true)),
    });
    publish(&node, &sign(u, &union)).await;
    assert_eq!(calendar(http(&node), "?country=KZ").await.len(), 2);
    clock.advance(Duration::from_secs(30));
    let mut c = body(
        &union,
        Content::Cancel(Cancel {
            target: letters.id(),
            reason: "The Harbour Board met the union".into(),
        }),
    );
    c.created_at = clock.now();
    let cancel = sign(c, &union);
    publish(&node, &cancel).await;

    node.restart().await;
    let addr = http(&node);
    for country in ["AZ", "KZ"] {
        let cal = calendar(addr, &format!("?country={country}")).await;
        for what in ["deadline", "window"] {
            let e = event(&cal, &uid(&letters, what)).expect("the cancelled event");
            assert_eq!(
                field(e, "STATUS"),
                Some("CANCELLED"),
                "{country} {what}: {e:?}"
            );
        }
        let cap = get(addr, &format!("/cap.atom?country={country}")).await;
        assert_eq!(cap.status, 200);
        assert!(
            cap.body.contains(&cancel.id().to_hex()),
            "the cancel is in the CAP feed of {country}: {}",
            cap.body
        );
    }
    assert!(calendar(addr, "?country=GE").await.is_empty());
    let other = get(addr, "/cap.atom?country=GE").await;
    assert!(!other.body.contains(&cancel.id().to_hex()));
}
