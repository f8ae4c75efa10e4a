//! Action reports where a reader looks on the web: the page's progress bars and totals, the
//! message page's table of reporting organisations, the Atom entry's line of totals and the
//! CAP document's parameters, kept up to date as reports (and revisions) arrive.

use std::net::SocketAddr;
use std::time::Duration;

use tocsin::message::*;
use tocsin::rpc::PublishOutcome;

use crate::http::get;
use crate::support::*;

fn http(node: &TestNode) -> SocketAddr {
    node.server().http_addr().expect("the gateway is on")
}

async fn publish(node: &TestNode, m: &Message) {
    match node.client().await.publish(m.signed()).await.unwrap() {
        PublishOutcome::Accepted { .. } => {}
        other => panic!("expected acceptance, got {other:?}"),
    }
}

/// A petition call by `key` aiming at 3,000 letters, 5,000 EUR and 4 organisations.
pub(crate) fn petition(key: &SecretKey, headline: &str) -> Message {
    let mut b = alert(key, headline);
    b.countries = vec!["AZ".into()];
    b.content = Content::Call(ActionCall {
        base: alert_content(headline, &["en"]),
        actions: vec![ActionType::Letter, ActionType::Donation],
        target: "President of Eastland".into(),
        window_starts_at: None,
        window_ends_at: None,
        deadline: Some(Timestamp::now().plus(Duration::from_secs(20 * 24 * 3600))),
        ilo_conventions: vec![],
        supervisory_body: None,
        goals: vec![
            goal(Measure::Letters, 3000, ""),
            goal(Measure::Donations, 5000, "EUR"),
            goal(Measure::Organisations, 4, ""),
        ],
    });
    sign(b, key)
}

pub(crate) fn goal(measure: Measure, target: u64, currency: &str) -> Goal {
    Goal {
        measure,
        target,
        currency: currency.into(),
    }
}

pub(crate) fn count(measure: Measure, value: u64, currency: &str) -> Count {
    Count {
        measure,
        value,
        currency: currency.into(),
    }
}

/// A report by `key` on `target`, made `ago` before now.
pub(crate) fn report(
    key: &SecretKey,
    target: &Message,
    counts: Vec<Count>,
    statement: &str,
    ago: Duration,
) -> Message {
    let mut b = body(
        key,
        Content::Report(ActionReport {
            target: target.id(),
            counts,
            filings: vec![],
            as_of: None,
            statement: statement.into(),
            evidence: String::new(),
        }),
    );
    b.created_at = b.created_at.minus(ago);
    sign(b, key)
}

pub(crate) fn profile(key: &SecretKey, name: &str, country: &str) -> Message {
    sign(
        body(
            key,
            Content::Profile(Profile {
                name: name.into(),
                country: country.into(),
                website: String::new(),
                description: String::new(),
            }),
        ),
        key,
    )
}

#[tokio::test]
async fn the_page_feeds_and_cap_carry_the_tally_and_follow_revisions() {
    let node = TestNode::start().await;
    let addr = http(&node);
    let (author, docks, teachers, miners, federation) = (org(1), org(2), org(3), org(4), org(5));
    let call = petition(&author, "Write for the Eastport four");
    publish(&node, &call).await;
    for (key, name, country) in [
        (&docks, "Eastland Dockworkers' Union", "AZ"),
        (&teachers, "Westland Teachers <b>United</b>", "GE"),
        (&federation, "Global Dockers' Federation", ""),
    ] {
        publish(&node, &profile(key, name, country)).await;
    }
    let roster = Roster {
        members: [
            (&docks, "Eastland Dockworkers"),
            (&miners, "Northland Miners"),
        ]
        .iter()
        .chain([(&org(6), "Southland Seafarers")].iter())
        .map(|(k, n)| RosterMember {
            key: k.public(),
            name: (*n).into(),
            country: String::new(),
        })
        .collect(),
    };
    publish(
        &node,
        &sign(body(&federation, Content::Roster(roster)), &federation),
    )
    .await;

    // Before anyone reports: the goals at zero.
    let page = get(addr, "/").await.body;
    assert!(
        page.contains("0 of 3,000 letters — 0%")
            && page.contains("<progress max=\"3000\" value=\"0\""),
        "{page}"
    );
    assert!(!page.contains("Reported by"), "{page}");

    let hour = Duration::from_secs(3600);
    publish(
        &node,
        &report(
            &docks,
            &call,
            vec![count(Measure::Letters, 300, "")],
            "",
            3 * hour,
        ),
    )
    .await;
    publish(
        &node,
        &report(
            &teachers,
            &call,
            vec![
                count(Measure::Letters, 1500, ""),
                count(Measure::Donations, 1200, "EUR"),
            ],
            "<script>x</script> from the staff rooms",
            2 * hour,
        ),
    )
    .await;
    // The dockers revise their count: 340 replaces 300, never adds to it.
    publish(
        &node,
        &report(
            &docks,
            &call,
            vec![count(Measure::Letters, 340, "")],
            "Sent by hand",
            hour,
        ),
    )
    .await;

    let want = "1,840 of 3,000 letters — 61%";
    wait_until("the page shows the revised tally", || async {
        get(addr, "/").await.body.contains(want)
    })
    .await;
    let page = get(addr, "/").await.body;
    assert!(
        page.contains("<progress max=\"3000\" value=\"1840\"")
            && page.contains("1,200 of 5,000 EUR in donations — 24%")
            && page.contains("2 of 4 organisations — 50%"),
        "{page}"
    );
    assert!(
        page.contains("Reported by 2 organisations: 1,840 letters, 1,200 EUR in donations."),
        "{page}"
    );

    let detail = get(addr, &format!("/m/{}", call.id())).await.body;
    assert!(detail.contains("Reporting organisations"), "{detail}");
    assert!(
        detail.contains("Eastland Dockworkers&#39; Union"),
        "{detail}"
    );
    assert!(
        detail.contains("340 letters") && !detail.contains(">300 letters"),
        "{detail}"
    );
    // Every reporter's text is escaped.
    assert!(
        !detail.contains("<script>x") && !detail.contains("<b>United"),
        "{detail}"
    );
    assert!(
        detail.contains("&lt;script&gt;x&lt;/script&gt;"),
        "{detail}"
    );
    // By country, and the roster line: one of the three affiliates reported.
    assert!(
        detail.contains("By country") && detail.contains(">Georgia<"),
        "{detail}"
    );
    assert!(
        detail.contains("1 of 3 affiliates of Global Dockers&#39; Federation reported"),
        "{detail}"
    );

    let feed = get(addr, "/feed.atom").await.body;
    assert!(
        feed.contains("Reported by 2 organisations: 1,840 letters, 1,200 EUR in donations.")
            && feed.contains("Goal: 1,840 of 3,000 letters — 61%"),
        "{feed}"
    );

    let cap = get(addr, &format!("/cap/{}.xml", call.id())).await.body;
    for (name, value) in [
        ("tocsin:reporting-organisations", "2"),
        ("tocsin:reported-letters", "1840"),
        ("tocsin:reported-donations-eur", "1200"),
        ("tocsin:goal-letters", "3000"),
        ("tocsin:goal-letters-reached", "1840"),
        ("tocsin:goal-organisations-reached", "2"),
    ] {
        let pair =
            format!("<parameter><valueName>{name}</valueName><value>{value}</value></parameter>");
        assert!(cap.contains(&pair), "{pair} not in {cap}");
    }
}

#[tokio::test]
async fn an_alert_with_reports_shows_its_totals_and_a_new_profile_renames_a_reporter() {
    let node = TestNode::start().await;
    let addr = http(&node);
    let (author, docks) = (org(11), org(12));
    let a = sign(alert(&author, "Four leaders detained"), &author);
    publish(&node, &a).await;
    publish(
        &node,
        &report(
            &docks,
            &a,
            vec![count(Measure::Participants, 2500, "")],
            "",
            Duration::from_secs(60),
        ),
    )
    .await;
    wait_until("the page shows the alert's totals", || async {
        get(addr, "/")
            .await
            .body
            .contains("Reported by 1 organisation: 2,500 participants.")
    })
    .await;
    // No goals on an alert: no bars.
    assert!(!get(addr, "/").await.body.contains("<progress"));
    // The reporter names itself afterwards: the table follows.
    publish(&node, &profile(&docks, "Eastport Harbour Workers", "AZ")).await;
    wait_until("the message page names the reporter", || async {
        let detail = get(addr, &format!("/m/{}", a.id())).await.body;
        detail
            .contains("Eastport Harbour Workers</th><td>Azerbaijan</td><td>2,500 participants</td>")
    })
    .await;
}
