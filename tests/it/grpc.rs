//! The relay service against a real node: publish, refusals, subscriptions, get, info,
//! health, reflection and graceful shutdown.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tocsin::message::*;
use tocsin::proto;
use tocsin::rpc::{ClientError, ClientEvent, PublishOutcome};

use crate::support::*;

fn refused(result: Result<PublishOutcome, ClientError>) -> Reason {
    match result {
        Err(ClientError::Refused(r)) => r.reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn publish_then_duplicate() {
    let node = TestNode::start().await;
    let mut c = node.client().await;
    let m = sign(alert(&org(1), "Four leaders arrested in Eastport"), &org(1));
    let first = c.publish(m.signed()).await.unwrap();
    assert_eq!(first, PublishOutcome::Accepted { id: m.id(), seq: 1 });
    let again = c.publish(m.signed()).await.unwrap();
    assert_eq!(again, PublishOutcome::Duplicate { id: m.id(), seq: 1 });
    let snap = node.server().node().metrics().snapshot();
    assert_eq!((snap.accepted, snap.duplicate), (1, 1));
}

/// Publishes raw bytes, bypassing every client-side check.
async fn publish_raw(url: &str, body: Vec<u8>, signature: Vec<u8>) -> tonic::Status {
    let mut raw = proto::relay_client::RelayClient::connect(url.to_string())
        .await
        .unwrap();
    raw.publish(proto::SignedMessage {
        body: Bytes::from(body),
        signature: Bytes::from(signature),
    })
    .await
    .expect_err("expected a refusal")
}

fn reason_of(status: &tonic::Status) -> String {
    status
        .metadata()
        .get("tocsin-reason")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_refusal_class_is_answered_with_its_code_and_counted() {
    let node = TestNode::start().await;
    let url = node.url();
    let mut c = node.client().await;
    let key = org(2);
    let now = Timestamp::now();

    // malformed: not protobuf at all, and a short signature
    let s = publish_raw(&url, vec![0xff, 0xff, 0xff], vec![0; 64]).await;
    assert_eq!(
        (s.code(), reason_of(&s).as_str()),
        (tonic::Code::InvalidArgument, "malformed")
    );
    let good = sign(alert(&key, "A"), &key);
    let s = publish_raw(&url, good.signed().body().to_vec(), vec![1; 10]).await;
    assert_eq!(reason_of(&s), "malformed");

    // too-large: a body over 64 KiB (under the gRPC limit)
    let s = publish_raw(&url, vec![0; 70 * 1024], vec![0; 64]).await;
    assert_eq!(reason_of(&s), "too-large");

    // bad-signature: a flipped bit in the body
    let mut body = good.signed().body().to_vec();
    let last = body.len() - 1;
    body[last] ^= 1;
    let s = publish_raw(&url, body, good.signed().signature().to_vec()).await;
    assert_eq!(reason_of(&s), "bad-signature");

    // expired and from-future
    let old = sign(
        alert_at(&key, "B", now.minus(Duration::from_secs(8 * 24 * 3600))),
        &key,
    );
    assert_eq!(refused(c.publish(old.signed()).await), Reason::Expired);
    let future = sign(
        alert_at(&key, "C", now.plus(Duration::from_secs(3600))),
        &key,
    );
    assert_eq!(
        refused(c.publish(future.signed()).await),
        Reason::FromFuture
    );

    // missing-field: a body without content
    let bare = proto::MessageBody {
        author: key.public().as_bytes().to_vec(),
        created_at: now.as_millis(),
        expires_at: now.as_millis() + 1000,
        ..Default::default()
    };
    let bare = prost::Message::encode_to_vec(&bare);
    let sig = key.sign(&bare);
    let s = publish_raw(&url, bare, sig.to_vec()).await;
    assert_eq!(reason_of(&s), "missing-field");

    // not-author: an update of another organisation's alert
    c.publish(good.signed()).await.unwrap();
    let intruder = org(3);
    let forged_update = sign(
        body_with(
            &intruder,
            Content::Update(Update {
                supersedes: good.id(),
                content: UpdateContent::Alert(alert_content("Retracted", &["en"])),
            }),
        ),
        &intruder,
    );
    let r = c.publish(forged_update.signed()).await;
    assert_eq!(refused(r), Reason::NotAuthor);

    // replayed: the original after its author cancelled it
    let cancel = sign(
        body_with(
            &key,
            Content::Cancel(Cancel {
                target: good.id(),
                reason: "exposes a source".into(),
            }),
        ),
        &key,
    );
    assert!(matches!(
        c.publish(cancel.signed()).await.unwrap(),
        PublishOutcome::Accepted { .. }
    ));
    assert_eq!(refused(c.publish(good.signed()).await), Reason::Replayed);

    // revoked-author: a message created after its author's revocation
    let seized = org(4);
    let rev = sign(
        body_with(
            &seized,
            Content::Revocation(Revocation {
                revoked_from: now.minus(Duration::from_secs(60)),
                successor: Some(org(5).public()),
                reason: "phone seized".into(),
            }),
        ),
        &seized,
    );
    c.publish(rev.signed()).await.unwrap();
    let forged = sign(alert(&seized, "Strike is called off"), &seized);
    assert_eq!(
        refused(c.publish(forged.signed()).await),
        Reason::RevokedAuthor
    );

    let m = node.server().node().metrics();
    for (reason, n) in [
        (Reason::Malformed, 2),
        (Reason::TooLarge, 1),
        (Reason::BadSignature, 1),
        (Reason::Expired, 1),
        (Reason::FromFuture, 1),
        (Reason::MissingField, 1),
        (Reason::NotAuthor, 1),
        (Reason::Replayed, 1),
        (Reason::RevokedAuthor, 1),
    ] {
        assert_eq!(m.refused_count(reason), n, "{reason}");
    }
}

/// Publishes `msgs` on one stream; every answer, in order (one per message).
async fn stream_all(
    c: &mut tocsin::rpc::Client,
    msgs: &[SignedMessage],
) -> Vec<Result<PublishOutcome, ClientError>> {
    let replies: Vec<_> = c
        .publish_stream(futures::stream::iter(msgs.to_vec()))
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(replies.len(), msgs.len());
    replies
}

fn body_with(key: &SecretKey, content: Content) -> Body {
    body(key, content)
}

/// Collects deliveries until `n` have arrived.
async fn collect(
    events: &mut (impl futures::Stream<Item = Result<ClientEvent, ClientError>> + Unpin),
    n: usize,
) -> (Vec<(u64, Id)>, Option<u64>) {
    let mut got = Vec::new();
    let mut caught_up = None;
    while got.len() < n {
        match within("deliveries", events.next()).await {
            Some(Ok(ClientEvent::Delivery { seq, message })) => got.push((seq, message.id())),
            Some(Ok(ClientEvent::CaughtUp(s))) => caught_up = Some(s),
            other => panic!("subscription ended: {other:?}"),
        }
    }
    (got, caught_up)
}

#[tokio::test]
async fn backfill_caught_up_then_live_without_gap_or_duplicate() {
    let node = TestNode::start().await;
    let mut c = node.client().await;
    let key = org(6);
    let mut ids = Vec::new();
    for i in 0..50 {
        let m = sign(alert(&key, &format!("Backlog {i}")), &key);
        ids.push(m.id());
        c.publish(m.signed()).await.unwrap();
    }
    let mut sub = node.client().await;
    let mut events = sub.subscribe(&Filter::default(), 0, None).await.unwrap();
    // Publish more while the subscriber is between backfill and live.
    let mut pubc = node.client().await;
    let key2 = key.seed();
    let publisher = tokio::spawn(async move {
        let key = SecretKey::from_seed(&key2);
        let mut ids = Vec::new();
        for i in 0..50 {
            let m = sign(alert(&key, &format!("Live {i}")), &key);
            ids.push(m.id());
            pubc.publish(m.signed()).await.unwrap();
        }
        ids
    });
    let (got, caught_up) = collect(&mut events, 100).await;
    ids.extend(publisher.await.unwrap());
    let seqs: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
    assert_eq!(
        seqs,
        (1..=100).collect::<Vec<_>>(),
        "no gap, no duplicate, in order"
    );
    let got_ids: HashSet<Id> = got.iter().map(|(_, i)| *i).collect();
    assert_eq!(got_ids, ids.iter().copied().collect::<HashSet<_>>());
    let caught_up = caught_up.expect("a caught-up marker");
    assert!((50..=100).contains(&caught_up), "caught up at {caught_up}");
}

#[tokio::test]
async fn resume_from_a_seq() {
    let node = TestNode::start().await;
    let mut c = node.client().await;
    let key = org(7);
    for i in 0..20 {
        c.publish(sign(alert(&key, &format!("Item {i}")), &key).signed())
            .await
            .unwrap();
    }
    let mut events = c.subscribe(&Filter::default(), 12, None).await.unwrap();
    let (got, _) = collect(&mut events, 8).await;
    assert_eq!(
        got.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (13..=20).collect::<Vec<_>>()
    );
    match within("caught up", events.next()).await {
        Some(Ok(ClientEvent::CaughtUp(20))) => {}
        other => panic!("expected caught-up at 20, got {other:?}"),
    }
}

#[tokio::test]
async fn each_filter_selects_what_it_names() {
    let node = TestNode::start().await;
    let mut c = node.client().await;
    let (a, b) = (org(8), org(9));
    let now = Timestamp::now();
    let mut call_body = alert_at(&b, "Call", now);
    call_body.topics = vec!["ilo-ceacr".into()];
    call_body.countries = vec!["BR".into()];
    call_body.content = Content::Call(ActionCall {
        base: alert_content("File observations with the CEACR", &["pt-BR", "es"]),
        actions: vec![ActionType::IloObservation],
        target: "ILO Committee of Experts".into(),
        window_starts_at: None,
        window_ends_at: None,
        deadline: Some(now.plus(Duration::from_secs(3 * 24 * 3600))),
        ilo_conventions: vec!["C087".into()],
        supervisory_body: Some(SupervisoryBody::Ceacr),
        goals: Vec::new(),
    });
    let alert_a = sign(alert(&a, "Arrests"), &a);
    let call_b = sign(call_body, &b);
    let endorse = sign(
        body(
            &a,
            Content::Endorsement(Endorsement {
                target: call_b.id(),
                statement: "We support this call.".into(),
            }),
        ),
        &a,
    );
    for m in [&alert_a, &call_b, &endorse] {
        c.publish(m.signed()).await.unwrap();
    }
    let cases: Vec<(Filter, Vec<Id>)> = vec![
        (
            Filter {
                authors: vec![a.public()],
                ..Default::default()
            },
            vec![alert_a.id(), endorse.id()],
        ),
        (
            Filter {
                kinds: vec![Kind::Call],
                ..Default::default()
            },
            vec![call_b.id()],
        ),
        (
            Filter {
                topics: vec!["ilo-ceacr".into()],
                ..Default::default()
            },
            vec![call_b.id()],
        ),
        (
            Filter {
                countries: vec!["AZ".into()],
                ..Default::default()
            },
            vec![alert_a.id()],
        ),
        (
            Filter {
                languages: vec!["pt".into()],
                ..Default::default()
            },
            vec![call_b.id()],
        ),
        // Written as a message writes them: a country in upper case, a topic in lower case
        // (they matched nothing, without a word).
        (
            Filter {
                countries: vec!["az".into()],
                topics: vec!["Union-Rights".into()],
                ..Default::default()
            },
            vec![alert_a.id()],
        ),
        (
            Filter {
                countries: vec!["br".into()],
                topics: vec!["ILO-CEACR".into()],
                ..Default::default()
            },
            vec![call_b.id()],
        ),
        (
            Filter {
                authors: vec![a.public()],
                kinds: vec![Kind::Endorsement],
                ..Default::default()
            },
            vec![endorse.id()],
        ),
    ];
    for (filter, want) in cases {
        let mut events = c.subscribe(&filter, 0, None).await.unwrap();
        let mut got = Vec::new();
        loop {
            match within("filtered backfill", events.next()).await {
                Some(Ok(ClientEvent::Delivery { message, .. })) => got.push(message.id()),
                Some(Ok(ClientEvent::CaughtUp(_))) => break,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got, want, "{filter:?}");
    }
    // A value no message can carry is refused with the reason a message's would be.
    for (filter, reason) in [
        (
            Filter {
                topics: vec!["union rights".into()],
                ..Default::default()
            },
            Reason::BadTopic,
        ),
        (
            Filter {
                countries: vec!["Azerbaijan".into()],
                ..Default::default()
            },
            Reason::BadCountry,
        ),
        (
            Filter {
                languages: vec!["en_US".into()],
                ..Default::default()
            },
            Reason::BadLanguage,
        ),
    ] {
        match c.subscribe(&filter, 0, None).await {
            Err(ClientError::Refused(r)) => assert_eq!(r.reason, reason, "{filter:?}: {r}"),
            Err(e) => panic!("{filter:?}: {e}"),
            Ok(mut events) => match within("a refusal", events.next()).await {
                Some(Err(ClientError::Refused(r))) => {
                    assert_eq!(r.reason, reason, "{filter:?}: {r}")
                }
                other => panic!("{filter:?} was not refused: {other:?}"),
            },
        }
    }
}

#[tokio::test]
async fn a_slow_subscriber_gets_everything_and_does_not_slow_ingest() {
    let node = TestNode::start_with(|c| c.limits.subscriber_queue = 4).await;
    let key = org(10);
    let mut slow_client = node.client().await;
    // The slow subscriber opens its stream and then reads nothing until ingest is done.
    let mut slow = slow_client
        .subscribe(&Filter::default(), 0, None)
        .await
        .unwrap();
    let mut fast_client = node.client().await;
    let mut fast = fast_client
        .subscribe(&Filter::default(), 0, None)
        .await
        .unwrap();
    let total = 300;
    let fast_task = tokio::spawn(async move { collect(&mut fast, total).await.0 });
    let mut c = node.client().await;
    let mut ids = Vec::new();
    for i in 0..total {
        let m = sign(alert(&key, &format!("Flood {i}")), &key);
        ids.push(m.id());
        let r = within("a publish while a subscriber stalls", c.publish(m.signed())).await;
        assert!(matches!(r, Ok(PublishOutcome::Accepted { .. })));
    }
    let fast_got = within("the fast subscriber", fast_task).await.unwrap();
    assert_eq!(fast_got.len(), total);
    // Now the slow one drains: everything, in order, nothing skipped.
    let (slow_got, _) = collect(&mut slow, total).await;
    assert_eq!(
        slow_got.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (1..=total as u64).collect::<Vec<_>>()
    );
    assert_eq!(slow_got.iter().map(|(_, i)| *i).collect::<Vec<_>>(), ids);
}

#[tokio::test]
async fn get_reports_current_version_cancel_and_endorsements() {
    let node = TestNode::start().await;
    let mut c = node.client().await;
    let (author, friend1, friend2) = (org(11), org(12), org(13));
    let original = sign(alert(&author, "Strike at Northland Mills"), &author);
    c.publish(original.signed()).await.unwrap();
    let update = sign(
        body(
            &author,
            Content::Update(Update {
                supersedes: original.id(),
                content: UpdateContent::Alert(alert_content(
                    "Strike at Northland Mills: day 3",
                    &["en"],
                )),
            }),
        ),
        &author,
    );
    c.publish(update.signed()).await.unwrap();
    for f in [&friend1, &friend2, &friend1] {
        let e = sign(
            body(
                f,
                Content::Endorsement(Endorsement {
                    target: original.id(),
                    statement: "Solidarity.".into(),
                }),
            ),
            f,
        );
        c.publish(e.signed()).await.unwrap();
    }
    let state = c.get(original.id()).await.unwrap().expect("stored");
    assert_eq!(state.seq, 1);
    assert_eq!(state.current.as_ref().map(|m| m.id()), Some(update.id()));
    assert_eq!(state.updates, vec![update.id()]);
    assert_eq!(state.endorsers.len(), 2, "one per endorsing author");
    assert!(!state.cancelled);

    let cancel = sign(
        body(
            &author,
            Content::Cancel(Cancel {
                target: original.id(),
                reason: "names a worker at risk".into(),
            }),
        ),
        &author,
    );
    c.publish(cancel.signed()).await.unwrap();
    let state = c.get(original.id()).await.unwrap().expect("id kept");
    assert!(state.cancelled);
    assert!(state.message.is_none(), "withdrawn content is not served");
    assert_eq!(state.cancel_reason, "names a worker at risk");
    assert!(c.get(Id([7; 32])).await.unwrap().is_none());

    let info = c.info().await.unwrap();
    assert_eq!(info.node_key, node.server().node().node_key());
    assert!(info.head_seq >= 6);
}

/// `Get` carries the tally of a call's action reports: each organisation's latest report, the
/// totals, the goals' progress; and none for a call nobody reported on.
#[tokio::test]
async fn get_returns_the_tally_of_a_calls_reports() {
    let node = TestNode::start().await;
    let mut c = node.client().await;
    let (organiser, dockers, teachers) = (org(21), org(22), org(23));
    let now = Timestamp::now();
    let mut call = alert_at(&organiser, "Write to the Presidential Administration", now);
    call.content = Content::Call(ActionCall {
        base: alert_content("Write to the Presidential Administration", &["en"]),
        actions: vec![ActionType::Letter],
        target: "The Presidential Administration of Eastland".into(),
        window_starts_at: None,
        window_ends_at: None,
        deadline: None,
        ilo_conventions: vec!["C087".into()],
        supervisory_body: None,
        goals: vec![Goal {
            measure: Measure::Letters,
            target: 3000,
            currency: String::new(),
        }],
    });
    let call = sign(call, &organiser);
    c.publish(call.signed()).await.unwrap();
    let state = c.get(call.id()).await.unwrap().expect("stored");
    assert!(state.tally.is_empty() && state.tally.goals.is_empty());

    let report = |k: &SecretKey, n: u64, after: Duration| {
        let mut b = body(
            k,
            Content::Report(ActionReport {
                target: call.id(),
                counts: vec![Count {
                    measure: Measure::Letters,
                    value: n,
                    currency: String::new(),
                }],
                filings: Vec::new(),
                as_of: None,
                statement: String::new(),
                evidence: String::new(),
            }),
        );
        b.created_at = now.plus(after);
        sign(b, k)
    };
    let first = report(&dockers, 300, Duration::from_millis(1));
    let revised = report(&dockers, 340, Duration::from_millis(5));
    let other = report(&teachers, 2000, Duration::from_millis(2));
    for m in [&first, &revised, &other] {
        c.publish(m.signed()).await.unwrap();
    }
    let tally = c.get(call.id()).await.unwrap().expect("stored").tally;
    assert_eq!(tally.total(Measure::Letters, ""), 2340);
    assert_eq!(tally.reporters, 2);
    let counted: Vec<Id> = tally.reports.iter().map(|r| r.id).collect();
    assert_eq!(counted, vec![other.id(), revised.id()], "by created_at");
    assert_eq!(
        (
            tally.goals[0].goal.target,
            tally.goals[0].reached,
            tally.goals[0].percent()
        ),
        (3000, 2340, 78)
    );
    assert_eq!(tally.countries.len(), 1, "neither has a profile");
    assert!(tally.countries[0].country.is_empty());
}

#[tokio::test]
async fn streaming_publish_answers_each_in_order() {
    let node = TestNode::start().await;
    let mut c = node.client().await;
    let key = org(14);
    let mut msgs: Vec<SignedMessage> = (0..40)
        .map(|i| {
            sign(alert(&key, &format!("Bulk {i}")), &key)
                .signed()
                .clone()
        })
        .collect();
    let expired = sign(
        alert_at(
            &key,
            "Old",
            Timestamp::now().minus(Duration::from_secs(30 * 24 * 3600)),
        ),
        &key,
    );
    msgs.insert(10, expired.signed().clone());
    msgs.insert(20, msgs[0].clone());
    let replies = stream_all(&mut c, &msgs).await;
    for (i, r) in replies.iter().enumerate() {
        let r = r.as_ref().unwrap();
        match i {
            10 => {
                assert!(matches!(r, PublishOutcome::Refused(rej) if rej.reason == Reason::Expired))
            }
            20 => assert!(matches!(r, PublishOutcome::Duplicate { .. })),
            _ => {
                let PublishOutcome::Accepted { id, .. } = r else {
                    panic!("{i}: {r:?}")
                };
                assert_eq!(*id, msgs[i].id());
            }
        }
    }
}

#[tokio::test]
async fn health_and_reflection_are_served() {
    let node = TestNode::start().await;
    let channel = tonic::transport::Endpoint::from_shared(node.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let reply = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "tocsin.v1.Relay".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        reply.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );

    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut replies = reflection
        .server_reflection_info(futures::stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let reply = replies.next().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response else {
        panic!("no service list")
    };
    assert!(list.service.iter().any(|s| s.name == "tocsin.v1.Relay"));
}

#[tokio::test]
async fn graceful_shutdown_loses_no_acknowledged_message() {
    let mut node = TestNode::start().await;
    let url = node.url();
    let mut publishers = Vec::new();
    for p in 0..8u8 {
        let url = url.clone();
        publishers.push(tokio::spawn(async move {
            let key = org(100 + p);
            let mut c = tocsin::rpc::Client::connect(&url).await.unwrap();
            let mut acked = Vec::new();
            for i in 0..10_000 {
                let m = sign(alert(&key, &format!("Shutdown race {p}/{i}")), &key);
                match c.publish(m.signed()).await {
                    Ok(PublishOutcome::Accepted { id, .. }) => acked.push(id),
                    Ok(other) => panic!("{other:?}"),
                    Err(_) => break, // unavailable or connection closed: shutdown has begun
                }
            }
            acked
        }));
    }
    // Let the publishers get going, then stop the node under load.
    let store = node.server().node().store().clone();
    wait_until("some messages accepted", || {
        let head = store.head();
        async move { head >= 200 }
    })
    .await;
    drop(store);
    node.stop().await;
    let mut acked = Vec::new();
    for p in publishers {
        acked.extend(within("publishers end", p).await.unwrap());
    }
    assert!(acked.len() >= 200);
    // Reopen the same directory: every acknowledged message is there.
    node.restart().await;
    let mut c = node.client().await;
    for id in &acked {
        assert!(
            c.get(*id).await.unwrap().is_some(),
            "acknowledged {id} was lost"
        );
    }
}

#[tokio::test]
async fn subscriptions_end_with_a_resume_point_on_shutdown() {
    let mut node = TestNode::start().await;
    let mut c = node.client().await;
    let key = org(15);
    c.publish(sign(alert(&key, "Before shutdown"), &key).signed())
        .await
        .unwrap();
    let mut events = c.subscribe(&Filter::default(), 0, None).await.unwrap();
    let (_, _) = collect(&mut events, 1).await;
    node.stop().await;
    let mut ended = false;
    while let Some(e) = within("the stream ends", events.next()).await {
        if let Err(e) = e {
            // A refusal since issue 19 (it carries `tocsin-reason: unavailable`).
            match &e {
                ClientError::Status { code, .. } => assert_eq!(*code, tonic::Code::Unavailable),
                ClientError::Refused(r) => assert_eq!(r.reason, Reason::Unavailable),
                other => panic!("{other:?}"),
            }
            assert!(e.resume_since().is_some(), "{e:?}");
            ended = true;
            break;
        }
    }
    assert!(
        ended,
        "the subscription ended with a status naming where to resume"
    );
}

#[tokio::test]
async fn a_long_stream_is_stored_in_the_order_it_was_sent() {
    // Enough for several batches to be in flight at once (verified while earlier ones flush):
    // the answers come in order and the seqs follow the order of the stream.
    let node = TestNode::start().await;
    let mut c = node.client().await;
    let key = org(15);
    let msgs: Vec<SignedMessage> = (0..700)
        .map(|i| {
            sign(alert(&key, &format!("Rolling strike, day {i}")), &key)
                .signed()
                .clone()
        })
        .collect();
    let replies = stream_all(&mut c, &msgs).await;
    let mut last = 0;
    for (i, r) in replies.iter().enumerate() {
        let PublishOutcome::Accepted { id, seq } = r.as_ref().unwrap() else {
            panic!("{i}: {r:?}")
        };
        assert_eq!(*id, msgs[i].id());
        assert!(*seq > last, "{i}: seq {seq} after {last}");
        last = *seq;
    }
}

/// The reason code of a status, from its `tocsin-reason` metadata.
fn reason_code(status: &tonic::Status) -> Option<String> {
    status
        .metadata()
        .get("tocsin-reason")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Reads a stream to its end: the items before it, and the status it ended with (`None`: it
/// ended without one).
async fn read_to_end<T>(stream: &mut tonic::Streaming<T>) -> (Vec<T>, Option<tonic::Status>) {
    let mut items = Vec::new();
    while let Some(item) = within("the stream ends", stream.next()).await {
        match item {
            Ok(item) => items.push(item),
            Err(status) => return (items, Some(status)),
        }
    }
    (items, None)
}

/// Checks that `status` is a refusal with `code`, its reason code in `tocsin-reason` and at the
/// start of its message.
fn assert_refusal(status: &tonic::Status, code: tonic::Code, reason: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert_eq!(reason_code(status).as_deref(), Some(reason), "{status:?}");
    assert!(
        status.message().starts_with(&format!("{reason}: ")),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_subscription_ended_by_shutdown_carries_its_reason_code() {
    let mut node = TestNode::start().await;
    let key = org(16);
    node.client()
        .await
        .publish(sign(alert(&key, "Dockers' strike, day one"), &key).signed())
        .await
        .unwrap();
    let mut raw = proto::relay_client::RelayClient::connect(node.url())
        .await
        .unwrap();
    let mut events = raw
        .subscribe(proto::SubscribeRequest::default())
        .await
        .unwrap()
        .into_inner();
    within("the first event", events.next())
        .await
        .expect("an event")
        .expect("not an error");
    node.stop().await;
    let (_, status) = read_to_end(&mut events).await;
    let status = status.expect("the subscription ended with a status");
    assert_refusal(&status, tonic::Code::Unavailable, "unavailable");
    assert!(
        tocsin::rpc::status::resume_point(status.message()).is_some(),
        "{}",
        status.message()
    );
}

#[tokio::test]
async fn a_publish_stream_ended_by_shutdown_carries_its_reason_code() {
    let mut node = TestNode::start().await;
    let key = org(17);
    let mut raw = proto::relay_client::RelayClient::connect(node.url())
        .await
        .unwrap();
    // The client's side of the stream stays open: the node ends it.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let first = sign(alert(&key, "Garment workers walk out"), &key);
    tx.send(first.signed().to_proto()).await.unwrap();
    let mut replies = raw
        .publish_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let reply = within("the first answer", replies.next())
        .await
        .expect("an answer")
        .expect("not an error");
    assert_eq!(reply.status, proto::PublishStatus::Accepted as i32);
    let (_, (_, ended)) = tokio::join!(node.stop(), read_to_end(&mut replies));
    drop(tx);
    let status = ended.expect("the stream ended with a status, not silently");
    assert_refusal(&status, tonic::Code::Unavailable, "unavailable");
}

#[tokio::test]
async fn a_message_over_the_grpc_limit_on_a_stream_is_refused_too_large() {
    let node = TestNode::start().await;
    let key = org(18);
    let mut raw = proto::relay_client::RelayClient::connect(node.url())
        .await
        .unwrap()
        .max_encoding_message_size(1 << 20);
    let good = sign(alert(&key, "Bakers' union calls a stoppage"), &key);
    let huge = proto::SignedMessage {
        body: Bytes::from(vec![0u8; 200 * 1024]),
        signature: Bytes::from(vec![0u8; 64]),
    };
    let stream = futures::stream::iter(vec![good.signed().to_proto(), huge]);
    let mut replies = raw.publish_stream(stream).await.unwrap().into_inner();
    let (answered, status) = read_to_end(&mut replies).await;
    assert_eq!(
        answered.len(),
        1,
        "the message before the oversized one was answered"
    );
    assert_eq!(answered[0].status, proto::PublishStatus::Accepted as i32);
    let status = status.expect("the stream ended with a refusal");
    assert_refusal(&status, tonic::Code::InvalidArgument, "too-large");
    assert_eq!(
        node.server()
            .node()
            .metrics()
            .refused_count(Reason::TooLarge),
        1
    );
}

#[tokio::test]
async fn get_key_of_a_key_that_is_not_one_is_refused_bad_key() {
    let node = TestNode::start().await;
    let mut raw = proto::relay_client::RelayClient::connect(node.url())
        .await
        .unwrap();
    // 31 bytes, and 32 that are not a point of the curve: the README's `bad-key`, as a
    // subscription's author filter answers them (it was `malformed`).
    let not_a_point = {
        // y = 2: (y² − 1) / (d·y² + 1) has no square root mod 2^255 − 19.
        let mut y = [0u8; 32];
        y[0] = 2;
        y
    };
    for key in [vec![7u8; 31], not_a_point.to_vec()] {
        let status = raw
            .get_key(proto::GetKeyRequest { key })
            .await
            .expect_err("refused");
        assert_refusal(&status, tonic::Code::InvalidArgument, "bad-key");
        assert!(status.message().starts_with("bad-key: key: "), "{status:?}");
    }
}

/// Each open publish stream may hold a message half-sent: 128 connections of one /24 with 64
/// streams each held 915 MiB. One address has at most four open, a network sixteen.
#[tokio::test]
async fn publish_streams_are_capped_per_address() {
    let node = TestNode::start().await;
    let mut raw = proto::relay_client::RelayClient::connect(node.url())
        .await
        .unwrap();
    let mut open = Vec::new();
    for _ in 0..4 {
        let (tx, rx) = tokio::sync::mpsc::channel::<proto::SignedMessage>(1);
        let replies = raw
            .publish_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .expect("a stream");
        open.push((tx, replies));
    }
    let (_tx, rx) = tokio::sync::mpsc::channel::<proto::SignedMessage>(1);
    let refused = match raw
        .publish_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
    {
        Err(status) => status,
        Ok(replies) => read_to_end(&mut replies.into_inner())
            .await
            .1
            .expect("refused"),
    };
    assert_refusal(&refused, tonic::Code::ResourceExhausted, "rate-limited");
    assert!(
        refused.message().contains("from this address"),
        "{refused:?}"
    );
    // Another address is not touched, and a stream that ends gives its place back.
    let mut other = client_from(&node.url(), "127.0.0.2".parse().unwrap()).await;
    let key = org(19);
    let m = sign(alert(&key, "Tannery workers walk out"), &key);
    let mut replies = other
        .publish_stream(futures::stream::iter(vec![m.signed().to_proto()]))
        .await
        .expect("another address")
        .into_inner();
    assert!(read_to_end(&mut replies).await.0.len() == 1);
    drop(open.pop());
    wait_until("the stream's place to be given back", || {
        let mut raw = raw.clone();
        async move {
            let (_tx, rx) = tokio::sync::mpsc::channel::<proto::SignedMessage>(1);
            raw.publish_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
                .await
                .is_ok()
        }
    })
    .await;
}
