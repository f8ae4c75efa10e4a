//! Campaigns that count, on a federation of three nodes: action reports published at different
//! nodes (one before its call reached that node, one revised) add up to the same tally on every
//! node; a revoked key's later report is refused; a cancelled call's reports are kept and still
//! tallied for its organisers.

use std::time::Duration;

use tocsin::message::tally::Tally;
use tocsin::message::*;
use tocsin::rpc::{Client, ClientError, PublishOutcome};

use crate::support::*;

const MS: Duration = Duration::from_millis(1);

/// A body by `key` made `offset` after `at`.
fn body_at(key: &SecretKey, content: Content, at: Timestamp, offset: Duration) -> Body {
    let mut b = body(key, content);
    b.created_at = at.plus(offset);
    b.expires_at = Some(b.created_at.plus(Duration::from_secs(7 * 24 * 3600)));
    b
}

fn profile(key: &SecretKey, name: &str, country: &str, at: Timestamp) -> Message {
    let p = Profile {
        name: name.into(),
        country: country.into(),
        ..Profile::default()
    };
    sign(body_at(key, Content::Profile(p), at, Duration::ZERO), key)
}

/// A petition call with goals: 1,000 letters, five organisations.
fn petition(key: &SecretKey, at: Timestamp) -> Message {
    let c = ActionCall {
        base: alert_content(
            "Free the four leaders of the Eastland Dockworkers' Union",
            &["en"],
        ),
        actions: vec![ActionType::Letter, ActionType::Petition],
        target: "The Presidential Administration of Eastland".into(),
        window_starts_at: None,
        window_ends_at: None,
        deadline: None,
        ilo_conventions: vec!["C087".into()],
        supervisory_body: None,
        goals: vec![
            Goal {
                measure: Measure::Letters,
                target: 1000,
                currency: String::new(),
            },
            Goal {
                measure: Measure::Organisations,
                target: 5,
                currency: String::new(),
            },
        ],
    };
    sign(body_at(key, Content::Call(c), at, Duration::ZERO), key)
}

/// A report by `key` on `target` of `letters` letters, made `offset` after `at`.
fn letters(key: &SecretKey, target: Id, letters: u64, at: Timestamp, offset: Duration) -> Message {
    let r = ActionReport {
        target,
        counts: vec![Count {
            measure: Measure::Letters,
            value: letters,
            currency: String::new(),
        }],
        filings: Vec::new(),
        as_of: None,
        statement: "Letters sent by our members".into(),
        evidence: String::new(),
    };
    sign(body_at(key, Content::Report(r), at, offset), key)
}

async fn accepted(client: &mut Client, m: &Message) {
    match client.publish(m.signed()).await {
        Ok(PublishOutcome::Accepted { .. }) => {}
        other => panic!("{} not accepted: {other:?}", m.body().kind()),
    }
}

/// Each node's `Get` of `id`: whether it is cancelled, and its tally (`None` when the node does
/// not hold it).
async fn tallies(clients: &mut [Client], id: Id) -> Vec<Option<(bool, Tally)>> {
    let mut out = Vec::new();
    for c in clients.iter_mut() {
        out.push(
            c.get(id)
                .await
                .expect("get")
                .map(|state| (state.cancelled, state.tally)),
        );
    }
    out
}

/// Waits (bounded) until every node gives the same tally of `id`, and `wanted` holds of it.
async fn wait_for_one_tally(
    clients: &mut [Client],
    id: Id,
    what: &str,
    wanted: impl Fn(bool, &Tally) -> bool,
) -> (bool, Tally) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let seen = tallies(clients, id).await;
        if let Some(Some((cancelled, first))) = seen.first()
            && seen
                .iter()
                .all(|t| t.as_ref() == Some(&(*cancelled, first.clone())))
            && wanted(*cancelled, first)
        {
            return (*cancelled, first.clone());
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}: {seen:#?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn letters_total(t: &Tally) -> u64 {
    t.total(Measure::Letters, "")
}

#[tokio::test]
async fn reports_at_three_nodes_make_one_tally_everywhere() {
    let mesh = Mesh::start(3, &[(0, 1), (1, 2)]).await;
    let mut clients = Vec::new();
    for n in &mesh.nodes {
        clients.push(n.client().await);
    }
    let (organiser, dockers, teachers, nurses, federation) =
        (org(1), org(2), org(3), org(4), org(5));
    let t0 = Timestamp::now();

    // Node 2 is cut off while the call is published at node 0.
    mesh.links[&(1, 2)].cut();
    mesh.links[&(2, 1)].cut();
    for m in [
        profile(&organiser, "Eastland Solidarity Network", "GB", t0),
        profile(&dockers, "Fictional Dockers' Union", "PT", t0),
        profile(&teachers, "Fictional Teachers' Union", "BR", t0),
        profile(&nurses, "Fictional Nurses' Union", "ZA", t0),
        profile(
            &federation,
            "Global Fictional Dockers' Federation",
            "CH",
            t0,
        ),
    ] {
        accepted(&mut clients[0], &m).await;
    }
    let members: Vec<AuthorKey> = [&dockers, &teachers, &org(6), &org(7)]
        .iter()
        .map(|m| m.public())
        .collect();
    let roster = Roster {
        members: members
            .iter()
            .map(|key| RosterMember {
                key: *key,
                name: "an affiliate".into(),
                country: String::new(),
            })
            .collect(),
    };
    accepted(
        &mut clients[0],
        &sign(
            body_at(&federation, Content::Roster(roster), t0, Duration::ZERO),
            &federation,
        ),
    )
    .await;
    let call = petition(&organiser, t0);
    accepted(&mut clients[0], &call).await;

    // The nurses report at node 2, which does not have the call yet: kept, pending.
    accepted(&mut clients[2], &letters(&nurses, call.id(), 60, t0, MS)).await;
    assert!(clients[2].get(call.id()).await.unwrap().is_none());

    // The dockers report at node 0; the teachers at node 1, and revise their count there.
    accepted(&mut clients[0], &letters(&dockers, call.id(), 300, t0, MS)).await;
    accepted(&mut clients[1], &letters(&teachers, call.id(), 100, t0, MS)).await;
    accepted(
        &mut clients[1],
        &letters(&teachers, call.id(), 250, t0, 10 * MS),
    )
    .await;

    mesh.links[&(1, 2)].heal();
    mesh.links[&(2, 1)].heal();
    let (cancelled, tally) = wait_for_one_tally(
        &mut clients,
        call.id(),
        "the same tally on every node",
        |_, t| t.reporters == 3 && t.countries.len() == 3 && !t.rosters.is_empty(),
    )
    .await;
    assert!(!cancelled);
    // The revision is not counted twice, and the report that came before its call counts.
    assert_eq!(letters_total(&tally), 300 + 250 + 60);
    let by_country: Vec<(&str, u64, u64)> = tally
        .countries
        .iter()
        .map(|c| (c.country.as_str(), c.reporters, c.totals[0].value))
        .collect();
    assert_eq!(
        by_country,
        vec![("BR", 1, 250), ("PT", 1, 300), ("ZA", 1, 60)]
    );
    let line = &tally.rosters[0];
    assert_eq!(
        (
            tally.rosters.len(),
            line.name.as_str(),
            line.reported,
            line.members
        ),
        (1, "Global Fictional Dockers' Federation", 2, 4)
    );
    let progress: Vec<(Measure, u64, u64)> = tally
        .goals
        .iter()
        .map(|g| (g.goal.measure, g.reached, g.percent()))
        .collect();
    assert_eq!(
        progress,
        vec![(Measure::Letters, 610, 61), (Measure::Organisations, 3, 60)]
    );
    let named: Vec<&str> = tally.reports.iter().map(|r| r.name.as_str()).collect();
    assert!(named.contains(&"Fictional Nurses' Union"), "{named:?}");
    // Four reports in effect on each node, one of them revised.
    for (i, node) in mesh.nodes.iter().enumerate() {
        let store = node.server().node().store().clone();
        wait_until(&format!("node {i} to count four reports"), || {
            let n = store.counts().map(|c| c.reports).unwrap_or(0);
            async move { n == 4 }
        })
        .await;
    }
    let http = mesh.nodes[0]
        .server()
        .http_addr()
        .expect("the gateway is on");
    let metrics = crate::http::get(http, "/metrics").await;
    assert!(
        metrics.body.contains("\ntocsin_store_reports 4\n"),
        "{}",
        metrics.body
    );

    // The nurses' key is revoked (published at node 2); a report made with it afterwards is
    // refused at node 0 once the revocation is there, and their earlier report still counts.
    let revoked_from = Timestamp::now().plus(20 * MS);
    let revocation = Revocation {
        revoked_from,
        successor: None,
        reason: "the union's laptop was seized".into(),
    };
    let mut rb = body(&nurses, Content::Revocation(revocation));
    rb.created_at = revoked_from;
    accepted(&mut clients[2], &sign(rb, &nurses)).await;
    let store0 = mesh.nodes[0].server().node().store().clone();
    wait_until("node 0 to hold the revocation", || {
        let held = store0.revocation(&nurses.public()).ok().flatten().is_some();
        async move { held }
    })
    .await;
    let after = letters(&nurses, call.id(), 9000, revoked_from, MS);
    match clients[0].publish(after.signed()).await {
        Err(ClientError::Refused(r)) => assert_eq!(r.reason, Reason::RevokedAuthor),
        other => panic!("a revoked key's report was not refused: {other:?}"),
    }
    let (_, tally) = wait_for_one_tally(
        &mut clients,
        call.id(),
        "the tally after the revocation",
        |_, t| t.reporters == 3,
    )
    .await;
    assert_eq!(letters_total(&tally), 610);

    // The call is cancelled at node 1; the dockers report again at node 2 after the cancel.
    let cancel = Cancel {
        target: call.id(),
        reason: "the four leaders were released".into(),
    };
    accepted(
        &mut clients[1],
        &sign(body(&organiser, Content::Cancel(cancel)), &organiser),
    )
    .await;
    let final_count = letters(&dockers, call.id(), 400, Timestamp::now(), 10 * MS);
    accepted(&mut clients[2], &final_count).await;
    let (cancelled, tally) = wait_for_one_tally(
        &mut clients,
        call.id(),
        "the cancelled call's tally on every node",
        |cancelled, t| cancelled && letters_total(t) == 400 + 250 + 60,
    )
    .await;
    assert!(cancelled);
    assert_eq!(tally.reporters, 3);
    // The goals went with the call's content; the counts stay for its organisers.
    assert!(tally.goals.is_empty());
    for c in clients.iter_mut() {
        let state = c.get(call.id()).await.unwrap().expect("the id is kept");
        assert!(state.message.is_none() && state.current.is_none());
    }
}
