//! Unit tests of the store: every semantic of DESIGN.md that the store carries, and its
//! failure modes (locked, corrupt, closed).

use std::time::Duration;

use super::codec::meta;
use super::commit::MARKER_FILE;
use super::*;
use crate::message::{
    ActionCall, ActionType, Alert, Body, Cancel, Category, Certainty, Content, Endorsement, Filter,
    Info, Kind, Profile, Reason, RecoveryCommitment, Revocation, Roster, RosterMember, Rotation,
    SecretKey, Severity, Status, Translation, Update, UpdateContent, Urgency, recovery_digest,
};

pub(super) const T0: Timestamp = Timestamp(1_800_000_000_000);
pub(super) const HOUR: Duration = Duration::from_secs(3600);
pub(super) const MINUTE: Duration = Duration::from_secs(60);
pub(super) const DAY: Duration = Duration::from_secs(24 * 3600);

pub(super) fn key(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

fn info(lang: &str, headline: &str) -> Info {
    Info {
        language: lang.into(),
        headline: headline.into(),
        description: format!("{headline}: four members of the Fictional Dockers' Union detained"),
        ..Info::default()
    }
}

fn alert_content(langs: &[&str], headline: &str) -> Alert {
    Alert {
        status: Status::Actual,
        category: Category::Arrest,
        urgency: Urgency::Immediate,
        severity: Severity::Severe,
        certainty: Certainty::Observed,
        info: langs.iter().map(|l| info(l, headline)).collect(),
    }
}

/// A body with the common fields filled in.
fn body(k: &SecretKey, created: Timestamp, content: Content) -> Body {
    Body {
        author: k.public(),
        created_at: created,
        expires_at: if content.kind().is_key_event() {
            None
        } else {
            Some(created.plus(DAY))
        },
        topics: vec![],
        countries: vec![],
        effective_at: None,
        content,
    }
}

fn sign(b: Body, k: &SecretKey) -> Message {
    Message::sign(b, k).expect("sign")
}

pub(super) fn alert(
    k: &SecretKey,
    created: Timestamp,
    topics: &[&str],
    countries: &[&str],
    langs: &[&str],
) -> Message {
    let mut b = body(
        k,
        created,
        Content::Alert(alert_content(langs, "Dockers detained")),
    );
    b.topics = topics.iter().map(|s| s.to_string()).collect();
    b.countries = countries.iter().map(|s| s.to_string()).collect();
    sign(b, k)
}

/// An alert by `k` in English under `headline`, made at `created` and valid for a day: the
/// fixture of the tests of other modules too (the read pool, the ingest pipeline).
pub(crate) fn headline_alert(k: &SecretKey, created: Timestamp, headline: &str) -> Message {
    sign(
        body(k, created, Content::Alert(alert_content(&["en"], headline))),
        k,
    )
}

pub(super) fn simple_alert(k: &SecretKey, created: Timestamp) -> Message {
    alert(k, created, &["union-rights"], &["AZ"], &["en"])
}

pub(super) fn call(k: &SecretKey, created: Timestamp) -> Message {
    let c = ActionCall {
        base: alert_content(&["en"], "Write to the Minister"),
        actions: vec![ActionType::Letter],
        target: "The Minister of Labour of Fictionland".into(),
        window_starts_at: None,
        window_ends_at: None,
        deadline: None,
        ilo_conventions: vec!["C087".into()],
        supervisory_body: None,
        goals: Vec::new(),
    };
    sign(body(k, created, Content::Call(c)), k)
}

pub(super) fn update(k: &SecretKey, created: Timestamp, target: Id, headline: &str) -> Message {
    let u = Update {
        supersedes: target,
        content: UpdateContent::Alert(alert_content(&["en"], headline)),
    };
    sign(body(k, created, Content::Update(u)), k)
}

pub(super) fn cancel(k: &SecretKey, created: Timestamp, target: Id, reason: &str) -> Message {
    let c = Cancel {
        target,
        reason: reason.into(),
    };
    sign(body(k, created, Content::Cancel(c)), k)
}

pub(super) fn endorse(k: &SecretKey, created: Timestamp, target: Id, statement: &str) -> Message {
    let e = Endorsement {
        target,
        statement: statement.into(),
    };
    sign(body(k, created, Content::Endorsement(e)), k)
}

pub(super) fn translate(k: &SecretKey, created: Timestamp, target: Id, lang: &str) -> Message {
    let t = Translation {
        target,
        info: vec![info(lang, "Estivadores detidos")],
    };
    sign(body(k, created, Content::Translation(t)), k)
}

pub(super) fn profile(k: &SecretKey, created: Timestamp, name: &str) -> Message {
    let p = Profile {
        name: name.into(),
        ..Profile::default()
    };
    sign(body(k, created, Content::Profile(p)), k)
}

fn roster(k: &SecretKey, created: Timestamp, members: &[&SecretKey]) -> Message {
    let r = Roster {
        members: members
            .iter()
            .map(|m| RosterMember {
                key: m.public(),
                name: "Fictional Union".into(),
                country: String::new(),
            })
            .collect(),
    };
    sign(body(k, created, Content::Roster(r)), k)
}

pub(super) fn revoke(
    k: &SecretKey,
    created: Timestamp,
    from: Timestamp,
    successor: Option<&SecretKey>,
) -> Message {
    let r = Revocation {
        revoked_from: from,
        successor: successor.map(|s| s.public()),
        reason: "laptop seized".into(),
    };
    sign(body(k, created, Content::Revocation(r)), k)
}

/// `k`'s commitment, made at `created`, to the recovery key `recovery`.
pub(super) fn commit(k: &SecretKey, created: Timestamp, recovery: &SecretKey) -> Message {
    let c = RecoveryCommitment {
        recovery_digest: recovery_digest(&recovery.public()),
    };
    sign(body(k, created, Content::Commitment(c)), k)
}

/// A rotation signed by `recovery`, made at `created`: `compromised` is in other hands from
/// `since`; `successor` carries on, committed to `successor_recovery`.
pub(super) fn rotation(
    recovery: &SecretKey,
    created: Timestamp,
    compromised: &SecretKey,
    since: Timestamp,
    successor: &SecretKey,
    successor_recovery: &SecretKey,
) -> Message {
    let r = Rotation {
        compromised: compromised.public(),
        compromised_since: since,
        successor: successor.public(),
        successor_recovery_digest: recovery_digest(&successor_recovery.public()),
        reason: "phone taken at a checkpoint".into(),
    };
    sign(
        body(recovery, created, Content::Rotation(Box::new(r))),
        recovery,
    )
}

pub(super) fn cfg(dir: &std::path::Path) -> StoreConfig {
    StoreConfig {
        path: dir.join("data"),
        cache_bytes: 8 * 1024 * 1024,
        tombstone_keep: 10 * DAY,
        // Small body segments, so that tests cross from one to the next.
        segment_bytes: 16 * 1024,
        ..StoreConfig::default()
    }
}

/// Messages published here (no peer), for `insert_many`.
fn local(msgs: &[Message]) -> Vec<(Message, Origin)> {
    msgs.iter().map(|m| (m.clone(), Origin::Local)).collect()
}

async fn put(s: &Store, m: &Message) -> Inserted {
    s.insert(m, Origin::Local, T0).await.expect("insert")
}

async fn accept(s: &Store, m: &Message) -> u64 {
    match put(s, m).await {
        Inserted::Accepted { seq, .. } => seq,
        other => panic!("expected Accepted, got {other:?}"),
    }
}

fn refused_with(i: Inserted) -> Reason {
    match i {
        Inserted::Refused(r) => r.reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn ids(entries: &[Entry]) -> Vec<Id> {
    entries.iter().map(|e| e.message.id()).collect()
}

fn read_all(s: &Store, filter: &Filter, view: &View) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut since = 0;
    loop {
        let (mut batch, to) = s.read(since, filter, view, 1000).expect("read");
        let done = batch.is_empty() && to >= s.head();
        out.append(&mut batch);
        if done || to == since && to >= s.head() {
            return out;
        }
        since = to;
    }
}

const PEER: View = View::Peer {
    exclude_origin: None,
};

#[tokio::test]
async fn accepts_in_seq_order_and_dedups() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let a = simple_alert(&k, T0);
    let b = simple_alert(&k, T0.plus(HOUR));
    assert_eq!(s.seen(&a.id()).unwrap(), None);
    assert_eq!(accept(&s, &a).await, 1);
    assert_eq!(accept(&s, &b).await, 2);
    assert_eq!(s.head(), 2);
    assert_eq!(
        put(&s, &a).await,
        Inserted::Duplicate {
            seq: 1,
            held: false
        }
    );
    assert_eq!(
        s.seen(&a.id()).unwrap(),
        Some(Seen::Stored {
            seq: 1,
            held: false
        })
    );
    let st = s.get(&a.id()).unwrap().unwrap();
    assert_eq!(st.seq, 1);
    assert_eq!(st.message.unwrap().signed(), a.signed());
    assert_eq!(st.current.unwrap().id(), a.id());
    let (entries, to) = s.read(0, &Filter::default(), &View::Reader, 10).unwrap();
    assert_eq!(ids(&entries), vec![a.id(), b.id()]);
    assert_eq!(to, 2);
    let c = s.counts().unwrap();
    assert_eq!((c.head_seq, c.messages, c.tombstones), (2, 2, 0));
    assert!(c.disk_bytes > 0);
}

#[tokio::test]
async fn everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let a = simple_alert(&k, T0);
    let e = endorse(&key(2), T0, a.id(), "solidarity");
    {
        let s = Store::open(&cfg(dir.path())).unwrap();
        accept(&s, &a).await;
        s.insert(
            &e,
            Origin::Peer {
                peer: "geneva".into(),
                cursor: 41,
            },
            T0,
        )
        .await
        .unwrap();
        s.close().await.unwrap();
    }
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert_eq!(s.head(), 2);
    assert_eq!(s.cursor("geneva").unwrap(), 41);
    assert_eq!(s.cursor("baku").unwrap(), 0);
    // A cursor only moves forward, and an advance past entries that stored nothing is durable.
    s.advance_cursor("geneva", 40).await.unwrap();
    s.advance_cursor("baku", 7).await.unwrap();
    s.close().await.unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert_eq!(s.cursor("geneva").unwrap(), 41);
    assert_eq!(s.cursor("baku").unwrap(), 7);
    let st = s.get(&a.id()).unwrap().unwrap();
    assert_eq!(st.endorsers.len(), 1);
    // The signature still verifies over the bytes read back.
    let m = st.message.unwrap();
    m.author()
        .verify(m.signed().body(), m.signed().signature())
        .unwrap();
    let b = simple_alert(&k, T0.plus(HOUR));
    assert_eq!(accept(&s, &b).await, 3);
}

#[tokio::test]
async fn indexed_reads_match_a_full_scan() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let keys = [key(1), key(2), key(3)];
    let topics = ["union-rights", "strike", "safety"];
    let countries = ["AZ", "BR", "PT"];
    let langs = [
        &["en"][..],
        &["pt-BR"][..],
        &["pt", "az"][..],
        &["ptx-test"][..],
    ];
    let mut all = Vec::new();
    for i in 0..60usize {
        let k = &keys[i % 3];
        let t = T0.plus(Duration::from_secs(i as u64));
        let m = if i % 7 == 0 {
            call(k, t)
        } else if i % 11 == 0 {
            profile(k, t, "Fictional Union")
        } else {
            alert(
                k,
                t,
                &[topics[i % 3], topics[(i / 3) % 3]]
                    .iter()
                    .copied()
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>(),
                &[countries[(i / 2) % 3]],
                langs[i % 4],
            )
        };
        all.push(m);
    }
    // The first 20 one transaction each, the rest in groups (an index row lists a group).
    for m in &all[..20] {
        accept(&s, m).await;
    }
    for chunk in all[20..].chunks(7) {
        let out = s.insert_many(local(chunk), T0).await.unwrap();
        assert!(out.iter().all(|i| matches!(i, Inserted::Accepted { .. })));
    }
    // Cancels take messages out of the middle of rows, in one group with new messages.
    let mut group = Vec::new();
    let targets: Vec<(usize, Message)> = [24usize, 23, 41, 5]
        .iter()
        .map(|&i| (i, all[i].clone()))
        .collect();
    for (i, m) in targets {
        let k = &keys[i % 3];
        group.push(cancel(k, T0.plus(HOUR), m.id(), "withdrawn"));
        all.retain(|x| x.id() != m.id());
    }
    group.push(simple_alert(&keys[1], T0.plus(2 * HOUR)));
    for m in &group {
        all.push(m.clone());
    }
    let out = s
        .insert_many(group.into_iter().map(|m| (m, Origin::Local)).collect(), T0)
        .await
        .unwrap();
    assert!(
        out.iter().all(|i| matches!(i, Inserted::Accepted { .. })),
        "{out:?}"
    );
    let filters = vec![
        Filter {
            authors: vec![keys[1].public()],
            ..Filter::default()
        },
        Filter {
            kinds: vec![Kind::Call, Kind::Profile],
            ..Filter::default()
        },
        Filter {
            topics: vec!["strike".into()],
            ..Filter::default()
        },
        Filter {
            topics: vec!["strike".into(), "safety".into()],
            countries: vec!["BR".into()],
            ..Filter::default()
        },
        Filter {
            languages: vec!["pt".into()],
            ..Filter::default()
        },
        Filter {
            languages: vec!["PT-br".into()],
            ..Filter::default()
        },
        Filter {
            languages: vec!["*".into()],
            ..Filter::default()
        },
        Filter {
            languages: vec!["az".into(), "en".into()],
            authors: vec![keys[0].public(), keys[2].public()],
            ..Filter::default()
        },
        Filter {
            countries: vec!["ZZ".into()],
            ..Filter::default()
        },
    ];
    for f in &filters {
        let want: Vec<Id> = all
            .iter()
            .filter(|m| f.matches(m.body()))
            .map(|m| m.id())
            .collect();
        let got = ids(&read_all(&s, f, &View::Reader));
        assert_eq!(got, want, "filter {f:?}");
        // Paged reads give the same.
        let mut paged = Vec::new();
        let mut since = 0;
        loop {
            let (batch, to) = s.read(since, f, &View::Reader, 3).unwrap();
            if batch.is_empty() {
                assert_eq!(to, s.head());
                break;
            }
            assert!(batch.iter().all(|e| e.seq > since && e.seq <= to));
            paged.extend(ids(&batch));
            since = to;
        }
        assert_eq!(paged, want, "paged, filter {f:?}");
    }
    // "pt" matches pt and pt-BR but not ptx-test.
    let pt = read_all(
        &s,
        &Filter {
            languages: vec!["pt".into()],
            ..Filter::default()
        },
        &View::Reader,
    );
    assert!(!pt.is_empty());
    assert!(pt.iter().all(|e| {
        e.message
            .body()
            .info()
            .iter()
            .any(|i| i.language.starts_with("pt") && !i.language.starts_with("ptx"))
    }));
}

#[tokio::test]
async fn peer_view_skips_the_peers_own_messages() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let mut from_geneva = Vec::new();
    for i in 0..5u64 {
        let m = simple_alert(&k, T0.plus(Duration::from_secs(i)));
        let o = Origin::Peer {
            peer: "geneva".into(),
            cursor: 10 + i,
        };
        assert!(matches!(
            s.insert(&m, o, T0).await.unwrap(),
            Inserted::Accepted { .. }
        ));
        from_geneva.push(m.id());
    }
    let local = simple_alert(&k, T0.plus(HOUR));
    accept(&s, &local).await;
    assert_eq!(s.cursor("geneva").unwrap(), 14);
    let to_geneva = View::Peer {
        exclude_origin: Some("geneva".into()),
    };
    let (entries, to) = s.read(0, &Filter::default(), &to_geneva, 10).unwrap();
    assert_eq!(ids(&entries), vec![local.id()]);
    assert_eq!(to, 6);
    let (entries, to) = s.read(0, &Filter::default(), &PEER, 10).unwrap();
    assert_eq!(entries.len(), 6);
    assert_eq!(to, 6);
    // Nothing past the head; nothing to read from the head on.
    assert_eq!(s.read(6, &Filter::default(), &PEER, 10).unwrap().0.len(), 0);
    // A duplicate brought by a peer still moves that peer's cursor.
    let dup = s
        .insert(
            &local,
            Origin::Peer {
                peer: "baku".into(),
                cursor: 99,
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(
        dup,
        Inserted::Duplicate {
            seq: 6,
            held: false
        }
    );
    assert_eq!(s.cursor("baku").unwrap(), 99);
    // A cursor never goes back.
    let m = simple_alert(&k, T0.plus(2 * HOUR));
    s.insert(
        &m,
        Origin::Peer {
            peer: "baku".into(),
            cursor: 5,
        },
        T0,
    )
    .await
    .unwrap();
    assert_eq!(s.cursor("baku").unwrap(), 99);
}

#[tokio::test]
async fn updates_give_the_current_version_and_only_the_author_may() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (k, other) = (key(1), key(2));
    let a = simple_alert(&k, T0);
    accept(&s, &a).await;
    let u1 = update(&k, T0.plus(HOUR), a.id(), "Two released");
    let u2 = update(&k, T0.plus(2 * HOUR), a.id(), "All released");
    // Arrival order differs from creation order: the latest by created_at is current.
    accept(&s, &u2).await;
    accept(&s, &u1).await;
    let forged = update(&other, T0.plus(3 * HOUR), a.id(), "Forged");
    assert_eq!(refused_with(put(&s, &forged).await), Reason::NotAuthor);
    let forged_cancel = cancel(&other, T0.plus(3 * HOUR), a.id(), "forged");
    assert_eq!(
        refused_with(put(&s, &forged_cancel).await),
        Reason::NotAuthor
    );
    let st = s.get(&a.id()).unwrap().unwrap();
    assert_eq!(st.updates, vec![u1.id(), u2.id()]);
    assert_eq!(st.current.unwrap().id(), u2.id());
    assert_eq!(st.message.unwrap().id(), a.id());
    // An update must be of the original's kind, and must name an alert or call.
    let c = call(&k, T0);
    accept(&s, &c).await;
    let wrong_kind = update(&k, T0.plus(HOUR), c.id(), "not a call");
    assert_eq!(
        refused_with(put(&s, &wrong_kind).await),
        Reason::BadReference
    );
    let p = profile(&k, T0, "Fictional Union");
    accept(&s, &p).await;
    assert_eq!(
        refused_with(put(&s, &endorse(&other, T0, p.id(), "")).await),
        Reason::BadReference
    );
}

#[tokio::test]
async fn an_update_before_its_original_takes_effect_when_it_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (k, other) = (key(1), key(2));
    let a = simple_alert(&k, T0);
    let u = update(&k, T0.plus(HOUR), a.id(), "Two released");
    let forged = update(&other, T0.plus(2 * HOUR), a.id(), "Forged");
    accept(&s, &u).await;
    // Before the original is here, nobody can tell the forgery: it is kept, pending.
    accept(&s, &forged).await;
    assert!(s.get(&a.id()).unwrap().is_none());
    accept(&s, &a).await;
    let st = s.get(&a.id()).unwrap().unwrap();
    assert_eq!(st.updates, vec![u.id()]);
    assert_eq!(st.current.unwrap().id(), u.id());
}

#[tokio::test]
async fn a_cancel_withdraws_content_and_keeps_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (k, other) = (key(1), key(2));
    let a = simple_alert(&k, T0);
    accept(&s, &a).await;
    let u = update(&k, T0.plus(HOUR), a.id(), "Names of the detained");
    accept(&s, &u).await;
    let tr = translate(&other, T0.plus(HOUR), a.id(), "pt");
    accept(&s, &tr).await;
    let e = endorse(&other, T0.plus(HOUR), a.id(), "solidarity");
    accept(&s, &e).await;
    let c = cancel(&k, T0.plus(2 * HOUR), a.id(), "it exposed a member");
    accept(&s, &c).await;

    let st = s.get(&a.id()).unwrap().unwrap();
    assert!(st.cancelled);
    assert_eq!(st.cancel_reason, "it exposed a member");
    assert!(st.message.is_none() && st.current.is_none());
    assert!(st.translations.is_empty());
    assert_eq!(st.endorsers.len(), 1);
    // Neither the original, its update nor its translation is served in any view.
    for view in [View::Reader, PEER] {
        let got = ids(&read_all(&s, &Filter::default(), &view));
        assert_eq!(got, vec![e.id(), c.id()], "{view:?}");
        let by_topic = Filter {
            topics: vec!["union-rights".into()],
            ..Filter::default()
        };
        assert!(read_all(&s, &by_topic, &view).is_empty());
    }
    for id in [a.id(), u.id(), tr.id()] {
        assert_eq!(s.seen(&id).unwrap(), Some(Seen::Tombstone));
    }
    // The withdrawn messages cannot be brought back, nor updated or translated.
    assert_eq!(refused_with(put(&s, &a).await), Reason::Replayed);
    assert_eq!(refused_with(put(&s, &u).await), Reason::Replayed);
    let u2 = update(&k, T0.plus(3 * HOUR), a.id(), "again");
    assert_eq!(refused_with(put(&s, &u2).await), Reason::Replayed);
    let tr2 = translate(&other, T0.plus(3 * HOUR), a.id(), "az");
    assert_eq!(refused_with(put(&s, &tr2).await), Reason::Replayed);
    let cnt = s.counts().unwrap();
    assert_eq!((cnt.messages, cnt.tombstones), (2, 3));
}

#[tokio::test]
async fn a_cancel_before_its_original_withdraws_it_on_arrival() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (k, other) = (key(1), key(2));
    let a = simple_alert(&k, T0);
    let b = simple_alert(&k, T0.plus(HOUR));
    let c = cancel(&k, T0.plus(2 * HOUR), a.id(), "mistake");
    let forged = cancel(&other, T0.plus(2 * HOUR), b.id(), "forged");
    accept(&s, &c).await;
    accept(&s, &forged).await;
    accept(&s, &a).await;
    accept(&s, &b).await;
    let st = s.get(&a.id()).unwrap().unwrap();
    assert!(st.cancelled && st.message.is_none());
    assert_eq!(st.cancel_reason, "mistake");
    // The forged cancel had no effect.
    let st = s.get(&b.id()).unwrap().unwrap();
    assert!(!st.cancelled && st.message.is_some());
    let got = ids(&read_all(&s, &Filter::default(), &PEER));
    assert_eq!(got, vec![c.id(), forged.id(), b.id()]);
    assert_eq!(refused_with(put(&s, &a).await), Reason::Replayed);
}

#[tokio::test]
async fn a_cancel_in_one_group_with_its_original_and_update_keeps_the_update_as_withdrawn() {
    // A follower catching up: the original, its update, an update still under embargo and the
    // cancel, in one transaction. The update's reference goes with its content; the store
    // keeps it among the versions the cancel withdrew, for a CAP Cancel to name.
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let a = simple_alert(&k, T0);
    let u = update(&k, T0.plus(HOUR), a.id(), "Two of the four released");
    let held = held_until(
        &update(&k, T0.plus(HOUR), a.id(), "Trial date set"),
        &k,
        T0.plus(2 * DAY),
    );
    let c = cancel(&k, T0.plus(2 * HOUR), a.id(), "names published by mistake");
    let out = s
        .insert_many(local(&[a.clone(), u.clone(), held.clone(), c]), T0)
        .await
        .unwrap();
    assert!(
        out.iter().all(|i| matches!(i, Inserted::Accepted { .. })),
        "{out:?}"
    );
    let named = |s: &Store| -> Vec<WithdrawnVersion> { s.get(&a.id()).unwrap().unwrap().withdrawn };
    let st = s.get(&a.id()).unwrap().unwrap();
    assert!(st.cancelled && st.updates.is_empty());
    // The update readers had seen, by id, author and time; never the one under embargo.
    assert_eq!(
        named(&s),
        vec![WithdrawnVersion {
            id: u.id(),
            author: k.public(),
            created_at: T0.plus(HOUR),
        }]
    );
    assert!(s.check(false).await.unwrap().is_clean());
    // Kept across a restart.
    drop(s);
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert_eq!(named(&s).len(), 1);
    // A message that is not cancelled names none.
    let other = simple_alert(&k, T0.plus(3 * HOUR));
    accept(&s, &other).await;
    assert!(s.get(&other.id()).unwrap().unwrap().withdrawn.is_empty());
    // The list goes when the original's record does.
    s.expire(T0.plus(DAY).plus(3 * HOUR)).await.unwrap();
    assert_eq!(s.inner().unwrap().trees.get(Tree::Withdrawn).len(), 0);
}

#[tokio::test]
async fn the_check_finds_a_withdrawn_row_of_no_cancelled_message_and_a_repair_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let a = simple_alert(&k, T0);
    let u = update(&k, T0.plus(HOUR), a.id(), "Two of the four released");
    accept(&s, &a).await;
    accept(&s, &u).await;
    accept(&s, &cancel(&k, T0.plus(2 * HOUR), a.id(), "mistake")).await;
    let live = simple_alert(&k, T0.plus(HOUR));
    accept(&s, &live).await;
    assert!(s.check(false).await.unwrap().is_clean());
    // Rows naming a message held with its content, and one not held at all.
    let stray = |original: &Id| {
        s.inner().unwrap().trees.get(Tree::Withdrawn).insert(
            codec::withdrawn_key(original, T0.plus(HOUR).0, &u.id()),
            k.public().as_bytes().as_slice(),
        )
    };
    stray(&live.id()).unwrap();
    stray(&Id([7; 32])).unwrap();
    let report = s.check(true).await.unwrap();
    let found = report
        .findings
        .iter()
        .filter(|f| f.what == "withdrawn")
        .count();
    assert_eq!(found, 2, "{report:?}");
    assert!(s.check(false).await.unwrap().is_clean());
    // The cancelled original's own row stays.
    assert_eq!(s.get(&a.id()).unwrap().unwrap().withdrawn.len(), 1);
    assert!(s.get(&live.id()).unwrap().unwrap().withdrawn.is_empty());
}

#[tokio::test]
async fn the_check_finds_an_unreadable_or_falling_newest_row_and_a_repair_mends_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    accept(&s, &simple_alert(&k, T0)).await;
    accept(&s, &simple_alert(&k, T0.plus(HOUR))).await;
    let newest = s.inner().unwrap().trees.get(Tree::Newest).clone();
    assert_eq!(newest.len(), 2);
    assert!(s.check(false).await.unwrap().is_clean());
    // The second row falls below the first, and a third does not decode.
    newest
        .insert(codec::big_endian(2), codec::big_endian(T0.0 - 1).as_slice())
        .unwrap();
    newest
        .insert(codec::big_endian(9), b"?".as_slice())
        .unwrap();
    let report = s.check(true).await.unwrap();
    let found = report
        .findings
        .iter()
        .filter(|f| f.what == "newest")
        .count();
    assert_eq!(found, 2, "{report:?}");
    assert!(s.check(false).await.unwrap().is_clean());
    let rows: Vec<(u64, u64)> = newest
        .iter()
        .map(|kv| {
            let (k, v) = kv.unwrap();
            (codec::read_u64(&k).unwrap(), codec::read_u64(&v).unwrap())
        })
        .collect();
    assert_eq!(
        rows,
        [(1, T0.0), (2, T0.0)],
        "raised to the bound before it"
    );
}

/// A call about `countries` with a deadline, re-signed from [`call`]; an update of `target`
/// when there is one; `edit` changes the call's fields.
fn call_about(
    k: &SecretKey,
    created: Timestamp,
    countries: &[&str],
    target: Option<Id>,
    edit: impl FnOnce(&mut ActionCall),
) -> Message {
    let mut b = call(k, created).body().clone();
    b.countries = countries.iter().map(|c| c.to_string()).collect();
    b.topics = vec!["union-rights".into()];
    if let Content::Call(mut c) = b.content {
        c.deadline = Some(created.plus(HOUR));
        edit(&mut c);
        b.content = match target {
            Some(supersedes) => Content::Update(Update {
                supersedes,
                content: UpdateContent::Call(c),
            }),
            None => Content::Call(c),
        };
    }
    sign(b, k)
}

#[tokio::test]
async fn a_cancel_keeps_what_readers_had_seen_of_the_version_it_withdrew() {
    // A filtered CAP feed and the calendar name a cancel by where its original appeared; the
    // content goes with the cancel, so the store keeps that much of the version readers saw.
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let c = call_about(&k, T0, &["AZ"], None, |_| {});
    accept(&s, &c).await;
    // The current version moves the call to another country and gives it an action window.
    let moved = call_about(&k, T0.plus(HOUR), &["KZ"], Some(c.id()), |c| {
        c.deadline = None;
        c.window_starts_at = Some(T0.plus(2 * HOUR));
        c.window_ends_at = Some(T0.plus(3 * HOUR));
    });
    accept(&s, &moved).await;
    // An update still under embargo was never seen: it is not the version kept.
    let held = call_about(&k, T0.plus(2 * HOUR), &["TJ"], Some(c.id()), |_| {});
    accept(&s, &held_until(&held, &k, T0.plus(DAY))).await;
    assert_eq!(s.get(&c.id()).unwrap().unwrap().shown, None);
    accept(&s, &cancel(&k, T0.plus(3 * HOUR), c.id(), "postponed")).await;
    // Every version readers saw: the original's country and deadline, the update's country
    // and window; nothing of the update under embargo.
    let kept = ShownBeforeCancel {
        countries: vec!["AZ".into(), "KZ".into()],
        topics: vec!["union-rights".into()],
        deadline: true,
        window: true,
    };
    let st = s.get(&c.id()).unwrap().unwrap();
    assert!(st.cancelled && st.message.is_none());
    assert_eq!(st.shown.as_ref(), Some(&kept));
    assert!(s.check(false).await.unwrap().is_clean());
    // Kept across a restart.
    drop(s);
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert_eq!(s.get(&c.id()).unwrap().unwrap().shown, Some(kept));

    // An alert cancelled while under embargo was never seen: nothing is kept of it.
    let secret = held_until(&simple_alert(&k, T0.plus(HOUR)), &k, T0.plus(DAY));
    accept(&s, &secret).await;
    accept(
        &s,
        &cancel(&k, T0.plus(2 * HOUR), secret.id(), "never mind"),
    )
    .await;
    let st = s.get(&secret.id()).unwrap().unwrap();
    assert!(st.cancelled && st.shown.is_none());
    // Nor of one whose cancel came first: it arrives withdrawn.
    let late = simple_alert(&k, T0.plus(2 * HOUR));
    accept(&s, &cancel(&k, T0.plus(3 * HOUR), late.id(), "never mind")).await;
    accept(&s, &late).await;
    let st = s.get(&late.id()).unwrap().unwrap();
    assert!(st.cancelled && st.shown.is_none());

    // The row goes with the original's record.
    assert_eq!(s.inner().unwrap().trees.get(Tree::Shown).len(), 1);
    s.expire(T0.plus(2 * DAY)).await.unwrap();
    assert_eq!(s.inner().unwrap().trees.get(Tree::Shown).len(), 0);
}

#[tokio::test]
async fn the_check_finds_a_shown_row_of_no_cancelled_message_and_a_repair_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let a = simple_alert(&k, T0);
    accept(&s, &a).await;
    accept(&s, &cancel(&k, T0.plus(HOUR), a.id(), "mistake")).await;
    let live = simple_alert(&k, T0.plus(HOUR));
    accept(&s, &live).await;
    assert!(s.check(false).await.unwrap().is_clean());
    let shown = s.inner().unwrap().trees.get(Tree::Shown).clone();
    let row = codec::encode_shown(&ShownBeforeCancel::default());
    shown.insert(live.id().as_bytes(), row.clone()).unwrap();
    shown.insert([7u8; 32], row).unwrap();
    // One that does not decode, under the cancelled original's own key.
    let own = shown.insert(a.id().as_bytes(), vec![9u8]).unwrap();
    assert!(own.is_some());
    let report = s.check(true).await.unwrap();
    let found = report
        .findings
        .iter()
        .filter(|f| f.what == "withdrawn")
        .count();
    assert_eq!(found, 3, "{report:?}");
    assert!(s.check(false).await.unwrap().is_clean());
    assert_eq!(shown.len(), 0);
    assert!(s.get(&a.id()).unwrap().unwrap().shown.is_none());
}

#[test]
fn a_shown_row_round_trips_and_a_cut_one_does_not_decode() {
    let s = ShownBeforeCancel {
        countries: vec!["AZ".into(), "KZ".into()],
        topics: vec!["union-rights".into(), "arrests".into()],
        deadline: true,
        window: false,
    };
    let row = codec::encode_shown(&s);
    assert_eq!(codec::decode_shown(&row), Some(s));
    for cut in 0..row.len() {
        assert_eq!(codec::decode_shown(&row[..cut]), None, "cut at {cut}");
    }
    let mut longer = row.clone();
    longer.push(0);
    assert_eq!(codec::decode_shown(&longer), None);
    let mut bad_events = row;
    bad_events[1] = 4;
    assert_eq!(codec::decode_shown(&bad_events), None);
}

#[tokio::test]
async fn endorsements_are_tallied_once_per_author_even_before_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (k, e1, e2) = (key(1), key(2), key(3));
    let a = call(&k, T0);
    let early = endorse(&e1, T0.plus(HOUR), a.id(), "first");
    accept(&s, &early).await;
    assert_eq!(s.tally(&a.id()).unwrap(), 1);
    accept(&s, &a).await;
    accept(&s, &endorse(&e2, T0.plus(2 * HOUR), a.id(), "second")).await;
    // The same author again: stored and relayed, not counted.
    let again = endorse(&e1, T0.plus(3 * HOUR), a.id(), "first, again");
    accept(&s, &again).await;
    assert_eq!(s.tally(&a.id()).unwrap(), 2);
    let st = s.get(&a.id()).unwrap().unwrap();
    let who: Vec<_> = st
        .endorsers
        .iter()
        .map(|e| (e.author, e.statement.as_str()))
        .collect();
    assert_eq!(who, vec![(e1.public(), "first"), (e2.public(), "second")]);
}

#[tokio::test]
async fn translations_are_shown_with_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (k, t) = (key(1), key(2));
    let a = simple_alert(&k, T0);
    let tr = translate(&t, T0.plus(HOUR), a.id(), "pt-BR");
    accept(&s, &tr).await; // before the original, too
    accept(&s, &a).await;
    let st = s.get(&a.id()).unwrap().unwrap();
    assert_eq!(
        ids(&st
            .translations
            .iter()
            .map(|m| Entry {
                seq: 0,
                message: m.clone()
            })
            .collect::<Vec<_>>()),
        vec![tr.id()]
    );
    assert_eq!(st.current.unwrap().id(), a.id());
}

#[tokio::test]
async fn the_latest_profile_and_roster_win() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (k, m1, m2) = (key(1), key(2), key(3));
    let newer = profile(&k, T0.plus(HOUR), "Fictional Confederation (new name)");
    let older = profile(&k, T0, "Fictional Confederation");
    accept(&s, &newer).await;
    accept(&s, &older).await;
    assert_eq!(s.profile(&k.public()).unwrap().unwrap().id(), newer.id());
    assert!(s.profile(&m1.public()).unwrap().is_none());
    let r1 = roster(&k, T0, &[&m1]);
    let r2 = roster(&k, T0.plus(HOUR), &[&m1, &m2]);
    accept(&s, &r1).await;
    accept(&s, &r2).await;
    assert_eq!(s.roster(&k.public()).unwrap().unwrap().id(), r2.id());
    // When the latest expires, the store serves none rather than an older one it removed.
    s.expire(T0.plus(DAY).plus(HOUR)).await.unwrap();
    assert!(s.profile(&k.public()).unwrap().is_none());
    assert!(s.roster(&k.public()).unwrap().is_none());
}

#[tokio::test]
async fn a_revocation_refuses_and_withholds_later_messages() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (k, succ, other) = (key(1), key(2), key(3));
    let before = simple_alert(&k, T0);
    let after = simple_alert(&k, T0.plus(2 * HOUR));
    let endorsement_after = endorse(&k, T0.plus(2 * HOUR), before.id(), "");
    accept(&s, &before).await;
    accept(&s, &after).await;
    accept(&s, &endorsement_after).await;
    assert_eq!(s.tally(&before.id()).unwrap(), 1);
    let rev = revoke(&k, T0.plus(3 * HOUR), T0.plus(HOUR), Some(&succ));
    accept(&s, &rev).await;
    assert_eq!(s.revocation(&k.public()).unwrap().unwrap().id(), rev.id());
    assert!(s.revocation(&other.public()).unwrap().is_none());

    // Made after the revocation time: withheld (not served, id kept), and refused.
    let st = s.get(&after.id()).unwrap().unwrap();
    assert!(st.message.is_none() && !st.cancelled);
    assert_eq!(s.seen(&after.id()).unwrap(), Some(Seen::Tombstone));
    assert_eq!(refused_with(put(&s, &after).await), Reason::RevokedAuthor);
    assert_eq!(s.tally(&before.id()).unwrap(), 0);
    let late = simple_alert(&k, T0.plus(4 * HOUR));
    assert_eq!(refused_with(put(&s, &late).await), Reason::RevokedAuthor);
    // Made before: still served.
    assert!(s.get(&before.id()).unwrap().unwrap().message.is_some());
    let served = ids(&read_all(&s, &Filter::default(), &View::Reader));
    assert_eq!(served, vec![before.id(), rev.id()]);
    let by_author = Filter {
        authors: vec![k.public()],
        ..Filter::default()
    };
    assert_eq!(
        ids(&read_all(&s, &by_author, &PEER)),
        vec![before.id(), rev.id()]
    );
    // A revocation is kept forever: retention never removes it.
    s.expire(T0.plus(1000 * DAY)).await.unwrap();
    assert_eq!(s.revocation(&k.public()).unwrap().unwrap().id(), rev.id());

    // The successor may update and cancel what the revoked key published.
    let s2 = {
        drop(s);
        let dir2 = tempfile::tempdir().unwrap();
        let s2 = Store::open(&cfg(dir2.path())).unwrap();
        accept(&s2, &before).await;
        accept(&s2, &rev).await;
        let u = update(&succ, T0.plus(5 * HOUR), before.id(), "from the new key");
        accept(&s2, &u).await;
        assert_eq!(
            s2.get(&before.id()).unwrap().unwrap().current.unwrap().id(),
            u.id()
        );
        let forged = update(&other, T0.plus(5 * HOUR), before.id(), "forged");
        assert_eq!(refused_with(put(&s2, &forged).await), Reason::NotAuthor);
        (s2, dir2)
    };
    drop(s2);
}

#[tokio::test]
async fn the_earliest_revocation_is_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let m = simple_alert(&k, T0.plus(2 * HOUR));
    accept(&s, &m).await;
    let late = revoke(&k, T0.plus(6 * HOUR), T0.plus(5 * HOUR), None);
    let early = revoke(&k, T0.plus(7 * HOUR), T0.plus(HOUR), None);
    accept(&s, &late).await;
    assert!(s.get(&m.id()).unwrap().unwrap().message.is_some());
    accept(&s, &early).await;
    assert!(s.get(&m.id()).unwrap().unwrap().message.is_none());
    assert_eq!(s.revocation(&k.public()).unwrap().unwrap().id(), early.id());
    // A thief's later revocation does not move it back.
    let later = revoke(&k, T0.plus(8 * HOUR), T0.plus(7 * HOUR), None);
    accept(&s, &later).await;
    assert_eq!(s.revocation(&k.public()).unwrap().unwrap().id(), early.id());
}

#[tokio::test]
async fn embargoed_messages_reach_peers_at_once_and_readers_at_their_time() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let open = simple_alert(&k, T0);
    let mut b = body(
        &k,
        T0,
        Content::Alert(alert_content(&["en"], "Strike at dawn")),
    );
    b.topics = vec!["strike".into()];
    b.effective_at = Some(T0.plus(3 * HOUR));
    let embargoed = sign(b, &k);
    accept(&s, &open).await;
    let seq = accept(&s, &embargoed).await;
    assert_eq!(s.next_release().unwrap(), Some(T0.plus(3 * HOUR)));

    assert_eq!(
        ids(&read_all(&s, &Filter::default(), &PEER)),
        vec![open.id(), embargoed.id()]
    );
    assert_eq!(
        ids(&read_all(&s, &Filter::default(), &View::Reader)),
        vec![open.id()]
    );
    // A reader that has caught up holds cursor = head.
    let reader_cursor = s.head();
    assert_eq!(s.release_due(T0.plus(2 * HOUR)).await.unwrap(), 0);
    assert_eq!(s.release_due(T0.plus(3 * HOUR)).await.unwrap(), 1);
    assert_eq!(s.next_release().unwrap(), None);
    let (entries, _) = s
        .read(reader_cursor, &Filter::default(), &View::Reader, 10)
        .unwrap();
    assert_eq!(ids(&entries), vec![embargoed.id()]);
    assert!(entries[0].seq > seq);
    // Through an index as well, and peers do not see it twice.
    let strike = Filter {
        topics: vec!["strike".into()],
        ..Filter::default()
    };
    let got = read_all(&s, &strike, &View::Reader);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].seq, entries[0].seq);
    assert_eq!(read_all(&s, &Filter::default(), &PEER).len(), 2);
    // Releasing again does nothing; and the release survives a reopen.
    assert_eq!(s.release_due(T0.plus(4 * HOUR)).await.unwrap(), 0);
    s.close().await.unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert_eq!(
        ids(&read_all(&s, &Filter::default(), &View::Reader)),
        vec![open.id(), embargoed.id()]
    );
}

/// `m` signed again under embargo until `until`.
pub(super) fn held_until(m: &Message, k: &SecretKey, until: Timestamp) -> Message {
    let mut b = m.body().clone();
    b.effective_at = Some(until);
    sign(b, k)
}

/// What a reader can tell of the store: the readers' head and message count, and the entries
/// of the readers' view.
fn reader_figures(s: &Store) -> (u64, u64, Vec<Id>) {
    let c = s.counts().unwrap();
    (
        c.reader_head_seq,
        c.messages - c.embargoed,
        ids(&read_all(s, &Filter::default(), &View::Reader)),
    )
}

#[tokio::test]
async fn an_embargoed_endorsement_counts_from_its_release() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (k, e1, e2) = (key(1), key(2), key(3));
    let hour = T0.plus(3 * HOUR);
    let a = call(&k, T0);
    accept(&s, &a).await;
    let before = reader_figures(&s);
    let held = held_until(
        &endorse(&e1, T0.plus(HOUR), a.id(), "we strike with you"),
        &e1,
        hour,
    );
    accept(&s, &held).await;
    // Peers have it; readers see no tally, no endorser, no statement, no count, no head.
    assert_eq!(
        ids(&read_all(&s, &Filter::default(), &PEER)),
        vec![a.id(), held.id()]
    );
    assert_eq!(s.tally(&a.id()).unwrap(), 0);
    assert!(s.get(&a.id()).unwrap().unwrap().endorsers.is_empty());
    assert!(s.get(&held.id()).unwrap().is_none());
    assert_eq!(reader_figures(&s), before);
    assert_eq!(s.counts().unwrap().embargoed, 1);
    // Another author's public endorsement counts at once.
    let open = endorse(&e2, T0, a.id(), "solidarity");
    accept(&s, &open).await;
    assert_eq!(s.tally(&a.id()).unwrap(), 1);

    assert_eq!(s.release_due(hour).await.unwrap(), 1);
    assert_eq!(s.tally(&a.id()).unwrap(), 2);
    let st = s.get(&a.id()).unwrap().unwrap();
    let said: Vec<_> = st.endorsers.iter().map(|e| e.statement.as_str()).collect();
    assert_eq!(said, vec!["solidarity", "we strike with you"]);
    let (head, n, seen) = reader_figures(&s);
    assert_eq!(head, s.head(), "the release is what readers see last");
    assert_eq!(n, 3);
    assert_eq!(seen, vec![a.id(), open.id(), held.id()]);
    assert_eq!(s.counts().unwrap().embargoed, 0);
    // It stays so after a reopen, and a second release changes nothing.
    s.close().await.unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert_eq!(s.release_due(hour.plus(HOUR)).await.unwrap(), 0);
    assert_eq!(s.tally(&a.id()).unwrap(), 2);
}

#[tokio::test]
async fn the_first_endorsement_to_take_effect_is_the_one_counted() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (k, e) = (key(1), key(2));
    let hour = T0.plus(3 * HOUR);
    let a = call(&k, T0);
    accept(&s, &a).await;
    // An embargoed endorsement, then a public one by the same author: the public one counts.
    let held = held_until(&endorse(&e, T0.plus(HOUR), a.id(), "at the hour"), &e, hour);
    accept(&s, &held).await;
    let open = endorse(&e, T0.plus(2 * HOUR), a.id(), "now");
    accept(&s, &open).await;
    s.release_due(hour).await.unwrap();
    assert_eq!(s.tally(&a.id()).unwrap(), 1);
    let st = s.get(&a.id()).unwrap().unwrap();
    assert_eq!(st.endorsers.len(), 1);
    assert_eq!(st.endorsers[0].statement, "now");
}

#[tokio::test]
async fn an_embargoed_cancel_withdraws_only_at_its_release() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (k, other) = (key(1), key(2));
    let hour = T0.plus(3 * HOUR);
    let a = simple_alert(&k, T0);
    accept(&s, &a).await;
    let u = update(&k, T0.plus(HOUR), a.id(), "Names of the detained");
    accept(&s, &u).await;
    let before = reader_figures(&s);
    let c = held_until(
        &cancel(&k, T0.plus(HOUR), a.id(), "it exposed a member"),
        &k,
        hour,
    );
    accept(&s, &c).await;
    // The alert stays as it was for readers: content, current version, no reason.
    let st = s.get(&a.id()).unwrap().unwrap();
    assert!(!st.cancelled && st.message.is_some());
    assert_eq!(st.current.unwrap().id(), u.id());
    assert_eq!(st.cancel_reason, "");
    assert!(s.get(&c.id()).unwrap().is_none());
    assert_eq!(reader_figures(&s), before);
    // Meanwhile it can still be updated and translated.
    let u2 = update(&k, T0.plus(2 * HOUR), a.id(), "Two released");
    accept(&s, &u2).await;
    let tr = translate(&other, T0.plus(2 * HOUR), a.id(), "pt");
    accept(&s, &tr).await;
    assert_eq!(
        s.get(&a.id()).unwrap().unwrap().current.unwrap().id(),
        u2.id()
    );

    assert_eq!(s.release_due(hour).await.unwrap(), 1);
    let st = s.get(&a.id()).unwrap().unwrap();
    assert!(st.cancelled && st.message.is_none() && st.current.is_none());
    assert_eq!(st.cancel_reason, "it exposed a member");
    assert!(st.translations.is_empty());
    for id in [a.id(), u.id(), u2.id(), tr.id()] {
        assert_eq!(s.seen(&id).unwrap(), Some(Seen::Tombstone));
    }
    assert_eq!(
        ids(&read_all(&s, &Filter::default(), &View::Reader)),
        vec![c.id()]
    );
}

#[tokio::test]
async fn an_embargoed_cancel_before_its_original_waits_for_its_release() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let hour = T0.plus(3 * HOUR);
    // The original arrives while the cancel is under embargo: it is shown until the hour.
    let a = simple_alert(&k, T0);
    let c = held_until(&cancel(&k, T0.plus(HOUR), a.id(), "mistake"), &k, hour);
    accept(&s, &c).await;
    accept(&s, &a).await;
    let st = s.get(&a.id()).unwrap().unwrap();
    assert!(!st.cancelled && st.message.is_some());
    assert_eq!(
        ids(&read_all(&s, &Filter::default(), &View::Reader)),
        vec![a.id()]
    );
    s.release_due(hour).await.unwrap();
    let st = s.get(&a.id()).unwrap().unwrap();
    assert!(st.cancelled && st.message.is_none());
    assert_eq!(st.cancel_reason, "mistake");
    // The original arrives after the cancel's release: withdrawn on arrival.
    let b = simple_alert(&k, T0.plus(Duration::from_secs(1)));
    let cb = held_until(
        &cancel(&k, T0.plus(HOUR), b.id(), "too late"),
        &k,
        hour.plus(HOUR),
    );
    accept(&s, &cb).await;
    s.release_due(hour.plus(HOUR)).await.unwrap();
    accept(&s, &b).await;
    let st = s.get(&b.id()).unwrap().unwrap();
    assert!(st.cancelled && st.message.is_none());
    assert_eq!(st.cancel_reason, "too late");
}

#[tokio::test]
async fn embargoed_updates_translations_profiles_and_rosters_take_effect_at_release() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (k, t, m) = (key(1), key(2), key(3));
    let hour = T0.plus(3 * HOUR);
    let a = simple_alert(&k, T0);
    accept(&s, &a).await;
    let old_name = profile(&k, T0, "Fictional Confederation");
    accept(&s, &old_name).await;
    let before = reader_figures(&s);
    let u = held_until(
        &update(&k, T0.plus(HOUR), a.id(), "Strike at noon"),
        &k,
        hour,
    );
    let tr = held_until(&translate(&t, T0.plus(HOUR), a.id(), "pt"), &t, hour);
    let new_name = held_until(&profile(&k, T0.plus(HOUR), "New Confederation"), &k, hour);
    let r = held_until(&roster(&k, T0.plus(HOUR), &[&m]), &k, hour);
    for msg in [&u, &tr, &new_name, &r] {
        accept(&s, msg).await;
    }
    let st = s.get(&a.id()).unwrap().unwrap();
    assert!(st.updates.is_empty() && st.translations.is_empty());
    assert_eq!(st.current.unwrap().id(), a.id());
    assert_eq!(s.profile(&k.public()).unwrap().unwrap().id(), old_name.id());
    assert!(s.roster(&k.public()).unwrap().is_none());
    assert_eq!(reader_figures(&s), before);
    assert_eq!(s.counts().unwrap().embargoed, 4);

    assert_eq!(s.release_due(hour).await.unwrap(), 4);
    let st = s.get(&a.id()).unwrap().unwrap();
    assert_eq!(st.updates, vec![u.id()]);
    assert_eq!(st.current.unwrap().id(), u.id());
    assert_eq!(st.translations.len(), 1);
    assert_eq!(s.profile(&k.public()).unwrap().unwrap().id(), new_name.id());
    assert_eq!(s.roster(&k.public()).unwrap().unwrap().id(), r.id());
    assert_eq!(s.counts().unwrap().embargoed, 0);
}

#[tokio::test]
async fn retention_releases_what_is_due_first_and_says_how_many() {
    // A node down through a message's hour and its expiry: the pass that removes what expired
    // releases first (the node counts those releases as the release task's).
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let hour = T0.plus(3 * HOUR);
    accept(&s, &held_until(&simple_alert(&k, T0), &k, hour)).await;
    let early = s.expire(T0.plus(HOUR)).await.unwrap();
    assert_eq!((early.released, early.expired), (0, 0));
    let due = s.expire(hour).await.unwrap();
    assert_eq!((due.released, due.expired), (1, 0));
    assert_eq!(s.counts().unwrap().embargoed, 0);
    assert_eq!(s.expire(hour.plus(HOUR)).await.unwrap().released, 0);
}

#[tokio::test]
async fn what_is_about_a_message_under_embargo_waits_for_its_hour() {
    // An update, a translation and an endorsement sent with no embargo of their own, about an
    // alert under embargo: shown early they would show what it says, or that it exists. They
    // are held back with it, and released just after it; a cancel is not (it withdraws its
    // target before anyone saw it).
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (k, t, e) = (key(1), key(2), key(3));
    let hour = T0.plus(3 * HOUR);
    let a = held_until(&simple_alert(&k, T0), &k, hour);
    accept(&s, &a).await;
    let before = reader_figures(&s);
    let u = update(&k, T0.plus(HOUR), a.id(), "Strike at noon");
    let tr = translate(&t, T0.plus(HOUR), a.id(), "pt");
    let en = endorse(&e, T0.plus(HOUR), a.id(), "with you");
    for msg in [&u, &tr, &en] {
        let got = put(&s, msg).await;
        assert!(
            matches!(got, Inserted::Accepted { held: true, .. }),
            "{:?} was not held back: {got:?}",
            msg.kind()
        );
    }
    assert_eq!(reader_figures(&s), before);
    assert_eq!(s.counts().unwrap().embargoed, 4);
    assert_eq!(
        ids(&read_all(&s, &Filter::default(), &PEER)).len(),
        4,
        "peers see them at once"
    );
    // A copy (a peer relaying it again) is answered as held too, whether the store is
    // asked first or the writer finds it.
    for msg in [&u, &tr, &en] {
        let seq = s.seen(&msg.id()).unwrap();
        assert!(
            matches!(seq, Some(Seen::Stored { held: true, .. })),
            "{seq:?}"
        );
        let got = put(&s, msg).await;
        assert!(
            matches!(got, Inserted::Duplicate { held: true, .. }),
            "{got:?}"
        );
    }
    assert_eq!(s.tally(&a.id()).unwrap(), 0);

    // At the hour the alert comes first; what is about it a millisecond after.
    assert_eq!(s.release_due(hour).await.unwrap(), 1);
    assert_eq!(
        ids(&read_all(&s, &Filter::default(), &View::Reader)),
        vec![a.id()]
    );
    assert_eq!(
        s.release_due(hour.plus(Duration::from_millis(1)))
            .await
            .unwrap(),
        3
    );
    let st = s.get(&a.id()).unwrap().unwrap();
    assert_eq!(st.updates, vec![u.id()]);
    assert_eq!(st.translations.len(), 1);
    assert!(matches!(
        put(&s, &u).await,
        Inserted::Duplicate { held: false, .. }
    ));
    assert_eq!(s.tally(&a.id()).unwrap(), 1);
    assert_eq!(s.counts().unwrap().embargoed, 0);

    // A cancel of a call under embargo is not held back.
    let b = held_until(&call(&k, T0.plus(HOUR)), &k, hour.plus(HOUR));
    accept(&s, &b).await;
    let c = cancel(&k, T0.plus(2 * HOUR), b.id(), "called off");
    assert!(matches!(
        put(&s, &c).await,
        Inserted::Accepted { held: false, .. }
    ));
}

#[tokio::test]
async fn what_is_withdrawn_before_its_release_never_takes_effect() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (k, e) = (key(1), key(2));
    let hour = T0.plus(3 * HOUR);
    let a = call(&k, T0);
    accept(&s, &a).await;
    let held = held_until(&endorse(&e, T0.plus(HOUR), a.id(), "with you"), &e, hour);
    accept(&s, &held).await;
    let name = held_until(&profile(&e, T0.plus(HOUR), "Seized Union"), &e, hour);
    accept(&s, &name).await;
    // The endorser's key is revoked from before both: withheld, and never released. A
    // revocation is never held back, whatever its effective_at says.
    let rev = held_until(
        &revoke(&e, T0.plus(2 * HOUR), T0, None),
        &e,
        hour.plus(HOUR),
    );
    accept(&s, &rev).await;
    assert_eq!(s.revocation(&e.public()).unwrap().unwrap().id(), rev.id());
    assert!(ids(&read_all(&s, &Filter::default(), &View::Reader)).contains(&rev.id()));
    assert_eq!(s.counts().unwrap().embargoed, 0);
    assert_eq!(s.release_due(hour.plus(HOUR)).await.unwrap(), 0);
    assert_eq!(s.tally(&a.id()).unwrap(), 0);
    assert!(s.profile(&e.public()).unwrap().is_none());
    assert_eq!(s.seen(&held.id()).unwrap(), Some(Seen::Tombstone));
}

#[tokio::test]
async fn retention_releases_what_is_due_before_it_expires_anything() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let a = simple_alert(&k, T0);
    accept(&s, &a).await;
    // A cancel due at T0 + 1h that expires at T0 + 2h; the node was down through both.
    let mut b = cancel(&k, T0, a.id(), "withdrawn while we were down")
        .body()
        .clone();
    b.effective_at = Some(T0.plus(HOUR));
    b.expires_at = Some(T0.plus(2 * HOUR));
    let c = sign(b, &k);
    accept(&s, &c).await;
    let st = s.expire(T0.plus(3 * HOUR)).await.unwrap();
    assert_eq!(st.expired, 1);
    let st = s.get(&a.id()).unwrap().unwrap();
    assert!(st.cancelled && st.message.is_none());
    assert_eq!(s.counts().unwrap().embargoed, 0);
}

#[tokio::test]
async fn an_embargo_already_past_on_arrival_is_no_embargo() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let mut b = body(
        &k,
        T0,
        Content::Alert(alert_content(&["en"], "Strike at dawn")),
    );
    b.effective_at = Some(T0);
    let m = sign(b, &k);
    accept(&s, &m).await;
    assert_eq!(
        ids(&read_all(&s, &Filter::default(), &View::Reader)),
        vec![m.id()]
    );
    assert_eq!(s.next_release().unwrap(), None);
}

#[tokio::test]
async fn expiry_removes_messages_and_refuses_replays_until_the_tombstone_goes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (k, e) = (key(1), key(2));
    let a = simple_alert(&k, T0);
    let long = {
        let mut b = body(
            &k,
            T0,
            Content::Alert(alert_content(&["en"], "Long campaign")),
        );
        b.expires_at = Some(T0.plus(30 * DAY));
        b.topics = vec!["union-rights".into()];
        b.countries = vec!["AZ".into()];
        sign(b, &k)
    };
    accept(&s, &a).await;
    accept(&s, &long).await;
    accept(&s, &endorse(&e, T0, a.id(), "")).await;
    assert_eq!(s.tally(&a.id()).unwrap(), 1);

    let after = T0.plus(DAY).plus(HOUR);
    let st = s.expire(after).await.unwrap();
    assert_eq!(
        st,
        ExpireStats {
            expired: 2,
            tombstones_dropped: 0,
            released: 0
        }
    );
    assert!(s.get(&a.id()).unwrap().is_none());
    assert_eq!(s.seen(&a.id()).unwrap(), Some(Seen::Tombstone));
    assert_eq!(s.tally(&a.id()).unwrap(), 0);
    // Index rows went with them.
    for f in [
        Filter::default(),
        Filter {
            authors: vec![k.public()],
            ..Filter::default()
        },
        Filter {
            topics: vec!["union-rights".into()],
            ..Filter::default()
        },
        Filter {
            countries: vec!["AZ".into()],
            ..Filter::default()
        },
        Filter {
            languages: vec!["en".into()],
            ..Filter::default()
        },
        Filter {
            kinds: vec![Kind::Alert],
            ..Filter::default()
        },
    ] {
        assert_eq!(
            ids(&read_all(&s, &f, &View::Reader)),
            vec![long.id()],
            "{f:?}"
        );
    }
    let c = s.counts().unwrap();
    assert_eq!((c.messages, c.tombstones), (1, 2));
    // A replay is refused, even with a clock that would still take it.
    assert_eq!(
        refused_with(s.insert(&a, Origin::Local, T0).await.unwrap()),
        Reason::Replayed
    );
    // Seqs are never handed out twice, even when the newest entries are gone.
    s.close().await.unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert_eq!(s.head(), 3);
    let b = simple_alert(&k, T0.plus(HOUR));
    assert_eq!(accept(&s, &b).await, 4);
    // Tombstones go tombstone_keep after expiry.
    let st = s.expire(T0.plus(11 * DAY).plus(HOUR)).await.unwrap();
    assert_eq!(
        st,
        ExpireStats {
            expired: 1,
            tombstones_dropped: 2,
            released: 0
        }
    );
    assert_eq!(s.seen(&a.id()).unwrap(), None);
    assert_eq!(s.counts().unwrap().tombstones, 1);
}

/// The filter of held ids (`ids.rs`) is built again from the trees on open: records and
/// tombstones are both found after a reopen.
#[tokio::test]
async fn held_ids_are_known_after_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let gone = simple_alert(&k, T0);
    let live = simple_alert(&k, T0.plus(HOUR));
    let never = simple_alert(&k, T0.plus(2 * HOUR));
    {
        let s = Store::open(&cfg(dir.path())).unwrap();
        accept(&s, &gone).await;
        accept(&s, &cancel(&k, T0, gone.id(), "")).await;
        assert_eq!(s.expire(T0.plus(DAY).plus(HOUR)).await.unwrap().expired, 2);
        accept(&s, &live).await;
        s.close().await.unwrap();
    }
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert_eq!(s.seen(&gone.id()).unwrap(), Some(Seen::Tombstone));
    assert_eq!(refused_with(put(&s, &gone).await), Reason::Replayed);
    assert_eq!(
        s.seen(&live.id()).unwrap(),
        Some(Seen::Stored {
            seq: 3,
            held: false
        })
    );
    assert_eq!(
        put(&s, &live).await,
        Inserted::Duplicate {
            seq: 3,
            held: false
        }
    );
    assert_eq!(s.seen(&never.id()).unwrap(), None);
    assert_eq!(accept(&s, &never).await, 4);
}

/// An alert by `k` created at T0 that expires at `at`.
fn expiring_at(k: &SecretKey, n: u64, at: Timestamp) -> Message {
    let mut b = body(
        k,
        T0.plus(Duration::from_secs(n)),
        Content::Alert(alert_content(&["en"], "Dockers detained")),
    );
    b.expires_at = Some(at);
    sign(b, k)
}

/// Messages stored together share an expiry row per minute; retention takes from a row only
/// what is due and puts the rest back.
#[tokio::test]
async fn retention_takes_only_what_is_due_from_a_shared_expiry_row() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let minute = {
        let t = T0.plus(DAY).0;
        Timestamp(t - t % codec::EXPIRY_MINUTE)
    };
    let at = |secs: u64| minute.plus(Duration::from_secs(secs));
    let msgs: Vec<Message> = [10, 20, 50, 70]
        .iter()
        .enumerate()
        .map(|(n, secs)| expiring_at(&k, n as u64, at(*secs)))
        .collect();
    s.insert_many(local(&msgs), T0).await.unwrap();
    // Two rows: one for the first minute (three messages), one for the next.
    assert_eq!(s.inner().unwrap().trees.get(Tree::Expiry).len(), 2);
    let expired = |r: ExpireStats| r.expired;
    assert_eq!(expired(s.expire(at(30)).await.unwrap()), 2);
    assert_eq!(expired(s.expire(at(30)).await.unwrap()), 0);
    let held = |s: &Store| {
        msgs.iter()
            .map(|m| s.message(&m.id()).unwrap().is_some())
            .collect::<Vec<_>>()
    };
    assert_eq!(held(&s), [false, false, true, true]);
    assert_eq!(expired(s.expire(at(55)).await.unwrap()), 1);
    assert_eq!(held(&s), [false, false, false, true]);
    assert_eq!(expired(s.expire(at(75)).await.unwrap()), 1);
    assert_eq!(s.inner().unwrap().trees.get(Tree::Expiry).len(), 0);
    for m in &msgs {
        assert_eq!(s.seen(&m.id()).unwrap(), Some(Seen::Tombstone));
    }
}

/// Marks an open store with format `f`, as an older or newer program would have.
fn mark_format(s: &Store, f: u32) {
    let inner = s.inner().unwrap();
    let meta_tree = inner.trees.get(Tree::Meta);
    meta_tree.insert(meta::FORMAT, &f.to_be_bytes()).unwrap();
}

/// The format an open store is marked with.
fn format_of(s: &Store) -> u32 {
    let v = s
        .inner()
        .unwrap()
        .trees
        .get(Tree::Meta)
        .get(meta::FORMAT)
        .unwrap()
        .unwrap();
    u32::from_be_bytes(v.as_ref().try_into().unwrap())
}

/// A format 2 store (an expiry row per message, a log row per seq) is opened as it is and marked
/// with the current format.
#[tokio::test]
async fn a_format_2_store_is_read_and_marked_current() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let a = simple_alert(&k, T0);
    let exp = a.body().expires_at.unwrap().0;
    {
        let s = Store::open(&cfg(dir.path())).unwrap();
        accept(&s, &a).await;
        // Rewrite what format 3 wrote the way format 2 did.
        let inner = s.inner().unwrap();
        let expiry = inner.trees.get(Tree::Expiry);
        expiry.clear().unwrap();
        expiry.insert(codec::time_id(exp, &a.id()), &[]).unwrap();
        mark_format(&s, 2);
        s.close().await.unwrap();
    }
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert_eq!(format_of(&s), codec::FORMAT);
    assert_eq!(s.message(&a.id()).unwrap().unwrap().id(), a.id());
    let st = s.expire(Timestamp(exp)).await.unwrap();
    assert_eq!(st.expired, 1);
    assert_eq!(s.seen(&a.id()).unwrap(), Some(Seen::Tombstone));
}

/// A format 3 store (a log row per seq) is opened as it is and marked current: its rows are
/// read, a withdrawal rewrites the old row it touches, and new seqs go to runs.
#[tokio::test]
async fn a_format_3_store_is_read_and_marked_current() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let msgs: Vec<Message> = (0..5)
        .map(|i| simple_alert(&k, T0.plus(Duration::from_secs(i))))
        .collect();
    {
        let s = Store::open(&cfg(dir.path())).unwrap();
        s.insert_many(local(&msgs), T0).await.unwrap();
        let inner = s.inner().unwrap();
        let log = inner.trees.get(Tree::Log);
        assert_eq!(log.len(), 1, "one row for the transaction's five seqs");
        // Rewrite the log the way format 3 wrote it: one bare entry per seq.
        let entries: Vec<(u64, Vec<u8>)> = s
            .inner()
            .unwrap()
            .log_range(1, 5)
            .unwrap()
            .map(|e| e.map(|(seq, e)| (seq, e.encode())).unwrap())
            .collect();
        assert_eq!(entries.len(), 5);
        log.clear().unwrap();
        for (seq, e) in &entries {
            log.insert(codec::big_endian(*seq), e.as_slice()).unwrap();
        }
        mark_format(&s, 3);
        s.close().await.unwrap();
    }
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert_eq!(format_of(&s), codec::FORMAT);
    assert_eq!(s.head(), 5);
    let everything = |s: &Store| ids(&read_all(s, &Filter::default(), &PEER));
    let msg_ids: Vec<Id> = msgs.iter().map(|m| m.id()).collect();
    assert_eq!(everything(&s), msg_ids);
    // Cancelling the third takes its entry out: its bare row, left empty, goes.
    let c = cancel(&k, T0.plus(HOUR), msgs[2].id(), "released");
    assert_eq!(accept(&s, &c).await, 6);
    let later: Vec<Message> = (0..2)
        .map(|i| simple_alert(&k, T0.plus(Duration::from_secs(100 + i))))
        .collect();
    s.insert_many(local(&later), T0).await.unwrap();
    let mut expected = vec![msg_ids[0], msg_ids[1], msg_ids[3], msg_ids[4], c.id()];
    expected.extend(later.iter().map(|m| m.id()));
    assert_eq!(everything(&s), expected);
    // Rows: the four bare ones left, the cancel's, and one for the two later messages.
    assert_eq!(s.inner().unwrap().trees.get(Tree::Log).len(), 6);
    s.close().await.unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert_eq!(s.head(), 8);
    assert_eq!(everything(&s), expected);
    assert!(s.get(&msgs[2].id()).unwrap().unwrap().cancelled);
    // A store from a newer program is refused as such, and left as it was.
    mark_format(&s, codec::FORMAT + 1);
    s.close().await.unwrap();
    let e = Store::open(&cfg(dir.path())).unwrap_err();
    assert!(
        matches!(e, StoreError::NewerFormat { found, .. } if found == codec::FORMAT + 1),
        "{e}"
    );
    assert!(e.to_string().contains("newer version of tocsin"), "{e}");
}

/// A format 4 store wrote an embargoed message's effects on arrival: opened by this program it
/// is marked current, and its messages still under embargo are released without applying
/// their effects a second time.
#[tokio::test]
async fn a_format_4_store_releases_its_embargoed_messages_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let (k, e) = (key(1), key(2));
    let hour = T0.plus(3 * HOUR);
    let a = call(&k, T0);
    let held = held_until(&endorse(&e, T0.plus(HOUR), a.id(), "at the hour"), &e, hour);
    {
        let s = Store::open(&cfg(dir.path())).unwrap();
        accept(&s, &a).await;
        accept(&s, &held).await;
        // Rewrite the endorsement the way format 4 kept it: counted, not pending.
        let inner = s.inner().unwrap();
        let msgs = inner.trees.get(Tree::Msgs);
        let mut rec =
            codec::Record::decode(&msgs.get(held.id().as_bytes()).unwrap().unwrap()).unwrap();
        assert!(rec.pending());
        rec.flags &= !codec::PENDING;
        msgs.insert(held.id().as_bytes(), rec.encode()).unwrap();
        inner
            .trees
            .get(Tree::Endorse)
            .insert(
                codec::concat(&[a.id().as_bytes(), e.public().as_bytes()]),
                held.id().as_bytes(),
            )
            .unwrap();
        inner
            .trees
            .get(Tree::Tally)
            .insert(a.id().as_bytes(), &codec::big_endian(1))
            .unwrap();
        inner
            .trees
            .get(Tree::Meta)
            .remove(meta::N_EMBARGOED)
            .unwrap();
        drop(inner);
        mark_format(&s, 4);
        s.close().await.unwrap();
    }
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert_eq!(format_of(&s), codec::FORMAT);
    assert_eq!(s.release_due(hour).await.unwrap(), 1);
    assert_eq!(s.tally(&a.id()).unwrap(), 1);
    assert_eq!(s.counts().unwrap().embargoed, 0);
    assert_eq!(
        ids(&read_all(&s, &Filter::default(), &View::Reader)),
        vec![a.id(), held.id()]
    );
}

/// Messages published one transaction at a time join their prefix's last index row, up to
/// `POSTINGS_JOIN_MAX` seqs a row; reads from any seq, withdrawals from the middle of a joined
/// row and a reopen see the same list; a group larger than the limit starts a row of its own.
#[tokio::test]
async fn single_publishes_join_index_rows() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let other = key(2);
    let max = codec::POSTINGS_JOIN_MAX;
    let s = Store::open(&cfg(dir.path())).unwrap();
    let mut mine = Vec::new();
    for i in 0..(2 * max + 3) {
        let m = simple_alert(&k, T0.plus(Duration::from_secs(i as u64)));
        accept(&s, &m).await;
        mine.push(m.id());
        // Another author between them: its seqs are not this prefix's.
        accept(
            &s,
            &simple_alert(&other, T0.plus(Duration::from_secs(i as u64))),
        )
        .await;
    }
    let author_rows = |s: &Store| {
        let prefix = k.public().as_bytes().to_vec();
        s.inner()
            .unwrap()
            .trees
            .get(Tree::IAuthor)
            .scan_prefix(&prefix)
            .count()
    };
    assert_eq!(author_rows(&s), 3, "rows of {max}, {max} and 3");
    let by_me = Filter {
        authors: vec![k.public()],
        ..Filter::default()
    };
    assert_eq!(ids(&read_all(&s, &by_me, &PEER)), mine);
    // From a seq in the middle of a joined row: only what comes after it.
    for since in [1u64, 7, 2 * max as u64 + 1, 3 * max as u64] {
        let (got, _) = s.read(since, &by_me, &PEER, 1000).unwrap();
        let want: Vec<Id> = mine
            .iter()
            .enumerate()
            .filter(|(i, _)| 2 * *i as u64 + 1 > since)
            .map(|(_, id)| *id)
            .collect();
        assert_eq!(ids(&got), want, "since {since}");
    }
    // Withdrawals from the middle of the first two rows.
    for i in [3usize, max + 2] {
        let t = T0.plus(HOUR).plus(Duration::from_secs(i as u64));
        accept(&s, &cancel(&k, t, mine[i], "withdrawn")).await;
    }
    let cancels: Vec<Id> = {
        let all = read_all(&s, &by_me, &PEER);
        all.iter()
            .filter(|e| e.message.body().kind() == Kind::Cancel)
            .map(|e| e.message.id())
            .collect()
    };
    assert_eq!(cancels.len(), 2);
    let mut expected: Vec<Id> = mine
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != max + 2)
        .map(|(_, id)| *id)
        .collect();
    expected.extend(&cancels);
    assert_eq!(ids(&read_all(&s, &by_me, &PEER)), expected);
    // A group larger than the limit starts its own row.
    let big: Vec<Message> = (0..max + 1)
        .map(|i| simple_alert(&k, T0.plus(2 * HOUR).plus(Duration::from_secs(i as u64))))
        .collect();
    let rows_before = author_rows(&s);
    s.insert_many(local(&big), T0).await.unwrap();
    assert_eq!(author_rows(&s), rows_before + 1);
    expected.extend(big.iter().map(|m| m.id()));
    s.close().await.unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert_eq!(ids(&read_all(&s, &by_me, &PEER)), expected);
}

/// A transaction's new seqs go to rows of at most `LOG_ROW_MAX` entries; reads from any seq,
/// lookups of single entries and withdrawals work across them.
#[tokio::test]
async fn log_rows_hold_runs_of_seqs() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let n = codec::LOG_ROW_MAX + 44;
    let msgs: Vec<Message> = (0..n as u64)
        .map(|i| simple_alert(&k, T0.plus(Duration::from_secs(i))))
        .collect();
    s.insert_many(local(&msgs), T0).await.unwrap();
    assert_eq!(s.inner().unwrap().trees.get(Tree::Log).len(), 2);
    let since = |from: u64| {
        let (entries, _) = s.read(from, &Filter::default(), &PEER, 10).unwrap();
        entries.iter().map(|e| e.seq).collect::<Vec<_>>()
    };
    // From inside the first row, across into the second.
    assert_eq!(since(251), (252..262).collect::<Vec<_>>());
    assert_eq!(
        s.inner().unwrap().log_entry(300).unwrap().unwrap().id,
        msgs[299].id()
    );
    assert_eq!(s.inner().unwrap().log_entry(n as u64 + 1).unwrap(), None);
    // Withdraw one in each row: the rows stay, without them.
    for i in [10, 280] {
        accept(&s, &cancel(&k, T0.plus(HOUR), msgs[i].id(), "")).await;
        assert_eq!(s.inner().unwrap().log_entry(i as u64 + 1).unwrap(), None);
    }
    assert_eq!(s.inner().unwrap().trees.get(Tree::Log).len(), 4);
    assert_eq!(since(9), vec![10, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
}

#[tokio::test]
async fn cancelled_ids_become_tombstones_at_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let a = simple_alert(&k, T0);
    accept(&s, &a).await;
    accept(&s, &cancel(&k, T0, a.id(), "")).await;
    let st = s.expire(T0.plus(DAY).plus(HOUR)).await.unwrap();
    assert_eq!(st.expired, 2);
    assert_eq!(s.seen(&a.id()).unwrap(), Some(Seen::Tombstone));
    assert_eq!(refused_with(put(&s, &a).await), Reason::Replayed);
    assert_eq!(
        s.counts().unwrap(),
        Counts {
            messages: 0,
            tombstones: 2,
            ..s.counts().unwrap()
        }
    );
}

#[tokio::test]
async fn an_expired_message_is_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let a = simple_alert(&key(1), T0);
    let r = s.insert(&a, Origin::Local, T0.plus(2 * DAY)).await.unwrap();
    assert_eq!(refused_with(r), Reason::Expired);
    assert_eq!(s.head(), 0);
}

#[tokio::test]
async fn many_inserts_share_flushes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let msgs: Vec<_> = (0..100u64)
        .map(|i| {
            (
                simple_alert(&k, T0.plus(Duration::from_secs(i))),
                Origin::Local,
            )
        })
        .collect();
    let before = s.inner().unwrap().commit.flushes();
    let out = s.insert_many(msgs, T0).await.unwrap();
    assert!(out.iter().all(|o| matches!(o, Inserted::Accepted { .. })));
    assert_eq!(s.inner().unwrap().commit.flushes() - before, 1);
    assert_eq!(s.head(), 100);

    // Concurrent single inserts: every one acknowledged, durable, in the log once.
    let mut rx = s.watch_head();
    let tasks: Vec<_> = (0..64u64)
        .map(|i| {
            let s = s.clone();
            let m = simple_alert(&key(2), T0.plus(Duration::from_secs(i)));
            tokio::spawn(async move { s.insert(&m, Origin::Local, T0).await })
        })
        .collect();
    for t in tasks {
        assert!(matches!(
            t.await.unwrap().unwrap(),
            Inserted::Accepted { .. }
        ));
    }
    assert_eq!(s.head(), 164);
    assert!(rx.has_changed().unwrap());
    assert_eq!(*rx.borrow_and_update(), 164);
    assert_eq!(read_all(&s, &Filter::default(), &PEER).len(), 164);
}

#[tokio::test]
async fn flush_per_message_mode_flushes_each() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open_with(&cfg(dir.path()), CommitMode::PerMessage).unwrap();
    let k = key(1);
    let msgs: Vec<_> = (0..10u64)
        .map(|i| {
            (
                simple_alert(&k, T0.plus(Duration::from_secs(i))),
                Origin::Local,
            )
        })
        .collect();
    let before = s.inner().unwrap().commit.flushes();
    s.insert_many(msgs, T0).await.unwrap();
    assert!(s.inner().unwrap().commit.flushes() - before >= 10);
    assert_eq!(s.head(), 10);
}

#[tokio::test]
async fn a_closed_store_refuses_writes_and_releases_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let other = s.clone();
    s.close().await.unwrap();
    let e = other
        .insert(&simple_alert(&key(1), T0), Origin::Local, T0)
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Closed { .. }), "{e}");
    drop(other);
    Store::open(&cfg(dir.path())).unwrap();
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    let s = Store::open(&c).unwrap();
    let e = Store::open(&c).unwrap_err();
    assert!(
        matches!(&e, StoreError::Locked { dir } if *dir == c.path),
        "{e:?}"
    );
    assert!(e.to_string().contains(&c.path.display().to_string()), "{e}");
    drop(s);
    // Dropping the last handle releases the directory.
    Store::open(&c).unwrap();
}

#[tokio::test]
async fn damaged_directories_are_refused_with_their_name() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    {
        let s = Store::open(&c).unwrap();
        for i in 0..50u64 {
            accept(&s, &simple_alert(&key(1), T0.plus(Duration::from_secs(i)))).await;
        }
        s.close().await.unwrap();
    }
    let named = |e: &StoreError| e.to_string().contains(&c.path.display().to_string());

    // Garbage over the start of sled's log: sled would come up empty; the marker says no.
    let db = c.path.join("db");
    let saved = std::fs::read(&db).unwrap();
    let mut bad = saved.clone();
    for (i, b) in bad.iter_mut().take(64 * 1024).enumerate() {
        *b = (i * 131 % 251) as u8;
    }
    std::fs::write(&db, &bad).unwrap();
    let e = Store::open(&c).unwrap_err();
    assert!(
        matches!(e, StoreError::Corrupt { .. }) && named(&e),
        "{e:?}"
    );
    // Every later open says so too.
    assert!(matches!(
        Store::open(&c).unwrap_err(),
        StoreError::Corrupt { .. }
    ));
    // The snapshot is sound: it was not set aside for sled to rewrite the log from scratch.
    assert!(
        !std::fs::read_dir(&c.path).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("damaged-")),
        "a sound snapshot was set aside"
    );

    // An unreadable marker.
    std::fs::write(c.path.join(MARKER_FILE), b"\x00\x01garbage").unwrap();
    let e = Store::open(&c).unwrap_err();
    assert!(
        matches!(e, StoreError::Corrupt { .. }) && named(&e),
        "{e:?}"
    );

    // A directory of other files is not taken over.
    let foreign = dir.path().join("home");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "hello").unwrap();
    let e = Store::open(&StoreConfig {
        path: foreign.clone(),
        ..c.clone()
    })
    .unwrap_err();
    assert!(matches!(e, StoreError::NotAStore { .. }), "{e:?}");
    assert!(e.to_string().contains(&foreign.display().to_string()));

    // A file where the directory should be.
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let e = Store::open(&StoreConfig {
        path: file.clone(),
        ..c.clone()
    })
    .unwrap_err();
    assert!(matches!(e, StoreError::Io { .. }), "{e:?}");
    assert!(e.to_string().contains(&file.display().to_string()));

    // sled's own config file damaged.
    let d2 = dir.path().join("d2");
    let c2 = StoreConfig {
        path: d2.clone(),
        ..c.clone()
    };
    Store::open(&c2).unwrap().close().await.unwrap();
    std::fs::write(d2.join("conf"), [0xffu8; 100]).unwrap();
    let e = Store::open(&c2).unwrap_err();
    assert!(
        matches!(e, StoreError::Corrupt { .. })
            && e.to_string().contains(&d2.display().to_string()),
        "{e:?}"
    );
}

#[test]
fn codec_round_trips() {
    use super::codec::*;
    let m = simple_alert(&key(1), T0);
    let mut r = Record::new(&m, 7);
    r.release = 9;
    assert_eq!(Record::decode(&r.encode()), Some(r.clone()));
    assert!(r.has_content());
    let c = r.stripped(CANCELLED, Some(Id([3; 32])));
    assert!(!c.has_content());
    assert_eq!(Record::decode(&c.encode()), Some(c));
    let w = r.stripped(WITHHELD, None);
    assert_eq!(Record::decode(&w.encode()), Some(w));
    assert_eq!(Record::decode(&[1, 2, 3]), None);
    let back = decode_body(m.id(), &body_parts(&m).concat()).unwrap();
    assert_eq!(back.signed(), m.signed());
    assert!(decode_body(m.id(), &[0; 10]).is_err());
    let e = LogEntry {
        what: RELEASED,
        embargoed: false,
        id: Id([5; 32]),
        body: None,
        origin: b"geneva".to_vec(),
    };
    assert_eq!(LogEntry::decode(&e.encode()), Some(e));
    let e = LogEntry {
        what: ACCEPTED,
        embargoed: true,
        id: Id([6; 32]),
        body: Some(super::bodies::BodyRef {
            seg: 3,
            off: 4096,
            len: 1140,
        }),
        origin: b"geneva".to_vec(),
    };
    assert_eq!(LogEntry::decode(&e.encode()), Some(e.clone()));
    assert_eq!(LogEntry::decode(&e.encode()[..40]), None);
    // A log row: a run of entries keyed by the first seq (gaps where entries were taken out).
    let entries: Vec<(u64, Vec<u8>)> = [100, 101, 103, 356]
        .iter()
        .map(|s| {
            (
                *s,
                LogEntry {
                    id: Id([*s as u8; 32]),
                    ..e.clone()
                }
                .encode(),
            )
        })
        .collect();
    let row = LogRow::encode(100, &entries);
    let back: Vec<(u64, Vec<u8>)> = LogRow::new(100, &row)
        .map(|x| x.map(|(s, b)| (s, b.to_vec())).unwrap())
        .collect();
    assert_eq!(back, entries);
    assert_eq!(
        LogRow::new(100, &row).find(103),
        Some(Some(&entries[2].1[..]))
    );
    assert_eq!(LogRow::new(100, &row).find(102), Some(None));
    assert_eq!(LogRow::new(100, &row).find(999), Some(None));
    // A row of format 2 or 3 is one bare entry, its seq the key.
    let bare = e.encode();
    assert_eq!(LogRow::new(7, &bare).find(7), Some(Some(&bare[..])));
    assert_eq!(LogRow::new(7, &bare).count(), 1);
    // A cut row is unreadable, not a shorter one.
    let cut = &row[..row.len() - 3];
    assert_eq!(LogRow::new(100, cut).last(), Some(None));
    assert_eq!(LogRow::new(100, cut).find(356), None);
    let v = Revoked {
        from: 5,
        id: Id([1; 32]),
        successor: Some([2; 32]),
        rotation: None,
    };
    assert_eq!(Revoked::decode(&v.encode()), Some(v));
    assert_eq!(
        Marker::parse(&Marker::line("0123456789abcdef0123456789abcdef", 42)),
        Some(("0123456789abcdef0123456789abcdef".into(), 42))
    );
    assert_eq!(Marker::parse("tocsin-store v1 id=zz head=1"), None);
}

/// What a store shows of one id, for comparing two stores.
fn summary(s: &Store, id: &Id) -> String {
    match s.get(id).unwrap() {
        None => format!("{:?}", s.seen(id).unwrap()),
        Some(st) => format!(
            "seq {} held {:?} current {:?} updates {:?} cancelled {} endorsers {:?} translations {:?} tally {}",
            st.seq,
            st.message.map(|m| m.id()),
            st.current.map(|m| m.id()),
            st.updates,
            st.cancelled,
            st.endorsers.iter().map(|e| e.author).collect::<Vec<_>>(),
            st.translations.iter().map(|m| m.id()).collect::<Vec<_>>(),
            s.tally(id).unwrap(),
        ),
    }
}

#[tokio::test]
async fn one_transaction_for_many_messages_is_the_same_as_one_each() {
    // Every interaction between messages, in an order where each depends on an earlier one:
    // stored one at a time in one store and as a single group in the other, the outcomes,
    // the reads and the state of every id must be the same.
    let (k1, k2, k3, k4, k5) = (key(1), key(2), key(3), key(4), key(5));
    let a = simple_alert(&k1, T0);
    let b = call(&k1, T0.plus(HOUR));
    let c = simple_alert(&k4, T0);
    let msgs = vec![
        a.clone(),
        update(&k1, T0.plus(HOUR), a.id(), "more arrests"),
        update(&k2, T0.plus(HOUR), a.id(), "forged"),
        translate(&k3, T0.plus(HOUR), a.id(), "fr"),
        endorse(&k3, T0.plus(HOUR), a.id(), "we stand with you"),
        endorse(&k3, T0.plus(2 * HOUR), a.id(), "again"),
        endorse(&k2, T0.plus(HOUR), b.id(), "before the call arrives"),
        cancel(&k1, T0.plus(2 * HOUR), b.id(), "called off"),
        b.clone(),
        a.clone(),
        c.clone(),
        simple_alert(&k4, T0.plus(3 * HOUR)),
        revoke(&k4, T0.plus(4 * HOUR), T0.plus(2 * HOUR), Some(&k5)),
        simple_alert(&k4, T0.plus(5 * HOUR)),
        update(&k5, T0.plus(5 * HOUR), c.id(), "from the new key"),
        profile(&k1, T0, "Fictional Dockers' Union"),
        profile(&k1, T0.plus(HOUR), "Fictional Dockers' Union (renamed)"),
        roster(&k1, T0, &[&k2, &k3]),
        cancel(&k1, T0.plus(6 * HOUR), a.id(), "released"),
        translate(&k2, T0.plus(7 * HOUR), a.id(), "es"),
        endorse(&k5, T0.plus(7 * HOUR), c.id(), ""),
    ];
    // Enough messages for the group to take the path that syncs bodies while planning.
    let filler = (0..16).map(|i| simple_alert(&k3, T0.plus(Duration::from_secs(60 + i))));
    let msgs: Vec<Message> = filler.chain(msgs).collect();
    assert!(msgs.len() >= super::writer::OVERLAP_MIN);
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let one = Store::open(&cfg(d1.path())).unwrap();
    let many = Store::open(&cfg(d2.path())).unwrap();
    let mut each = Vec::new();
    for m in &msgs {
        each.push(put(&one, m).await);
    }
    let grouped = many.insert_many(local(&msgs), T0).await.unwrap();
    assert_eq!(each, grouped);
    assert!(
        each.iter()
            .any(|i| matches!(i, Inserted::Refused(r) if r.reason == Reason::NotAuthor))
    );
    assert!(each.iter().any(|i| matches!(i, Inserted::Duplicate { .. })));
    for view in [View::Reader, PEER] {
        let seqs = |s: &Store| {
            read_all(s, &Filter::default(), &view)
                .iter()
                .map(|e| (e.seq, e.message.id()))
                .collect::<Vec<_>>()
        };
        assert_eq!(seqs(&one), seqs(&many));
    }
    let by_author = Filter {
        authors: vec![k4.public()],
        ..Filter::default()
    };
    assert_eq!(
        ids(&read_all(&one, &by_author, &PEER)),
        ids(&read_all(&many, &by_author, &PEER))
    );
    for m in &msgs {
        assert_eq!(
            summary(&one, &m.id()),
            summary(&many, &m.id()),
            "{}",
            m.id()
        );
    }
    for k in [&k1, &k4] {
        let latest = |s: &Store| s.profile(&k.public()).unwrap().map(|m| m.id());
        assert_eq!(latest(&one), latest(&many));
    }
    let counts = |s: &Store| {
        let c = s.counts().unwrap();
        (c.head_seq, c.messages, c.tombstones)
    };
    assert_eq!(counts(&one), counts(&many));
    // And the group's bodies read back the same after a reopen.
    many.close().await.unwrap();
    let many = Store::open(&cfg(d2.path())).unwrap();
    let all = |s: &Store| {
        read_all(s, &Filter::default(), &PEER)
            .iter()
            .map(|e| (e.seq, e.message.signed().clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(all(&one), all(&many));
}

#[tokio::test]
async fn retention_gives_back_body_segments_and_moves_the_few_live_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    let s = Store::open(&c).unwrap();
    let k = key(1);
    let segments = || {
        std::fs::read_dir(c.path.join(bodies::BODIES_DIR))
            .unwrap()
            .count()
    };
    // 300 alerts that live a day, and every 25th one that lives a year: 7 segments of 16 KiB.
    let mut keep = Vec::new();
    let mut batch = Vec::new();
    for i in 0..300u64 {
        let mut b = body(
            &k,
            T0.plus(Duration::from_secs(i)),
            Content::Alert(alert_content(
                &["en", "fr"],
                &format!("Dockers detained ({i})"),
            )),
        );
        if i % 25 == 0 {
            b.expires_at = Some(T0.plus(365 * DAY));
        }
        let m = sign(b, &k);
        if i % 25 == 0 {
            keep.push(m.clone());
        }
        batch.push((m, Origin::Local));
        if batch.len() == 40 {
            s.insert_many(std::mem::take(&mut batch), T0).await.unwrap();
        }
    }
    s.insert_many(batch, T0).await.unwrap();
    let before = (segments(), s.counts().unwrap().disk_bytes);
    assert!(before.0 >= 5, "{before:?}");
    // A cancel frees its original's body too.
    let cancelled = &keep[1];
    accept(&s, &cancel(&k, T0.plus(HOUR), cancelled.id(), "released")).await;

    let st = s.expire(T0.plus(2 * DAY)).await.unwrap();
    assert_eq!(st.expired, 289, "288 alerts and the cancel");
    let after = segments();
    assert!(after <= 3, "{after} segments left of {}", before.0);
    for m in &keep {
        let got = s.get(&m.id()).unwrap().unwrap();
        if m.id() == cancelled.id() {
            assert!(got.message.is_none());
        } else {
            assert_eq!(got.message.unwrap().signed(), m.signed());
        }
    }
    // Reads by the log see the moved bodies; and so does a reopened store.
    assert_eq!(read_all(&s, &Filter::default(), &View::Reader).len(), 11);
    s.close().await.unwrap();
    let s = Store::open(&c).unwrap();
    let held: Vec<Id> = read_all(&s, &Filter::default(), &View::Reader)
        .iter()
        .map(|e| e.message.id())
        .collect();
    assert_eq!(held.len(), 11);
    assert!(
        keep.iter()
            .filter(|m| m.id() != cancelled.id())
            .all(|m| held.contains(&m.id()))
    );
    // Once everything has gone, so has every segment but the one being written.
    s.expire(T0.plus(400 * DAY)).await.unwrap();
    assert_eq!(segments(), 1);
    assert!(read_all(&s, &Filter::default(), &View::Reader).is_empty());
}

#[tokio::test]
async fn a_body_segment_that_vanished_is_reported_not_served_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    let s = Store::open(&c).unwrap();
    let k = key(1);
    for i in 0..100u64 {
        accept(&s, &simple_alert(&k, T0.plus(Duration::from_secs(i)))).await;
    }
    s.close().await.unwrap();
    let bodies_dir = c.path.join(bodies::BODIES_DIR);
    let mut segs: Vec<_> = std::fs::read_dir(&bodies_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    assert!(segs.len() >= 2);
    std::fs::remove_file(&segs[0]).unwrap();
    let e = Store::open(&c).unwrap_err();
    assert!(
        matches!(&e, StoreError::Corrupt { detail, .. } if detail.contains(".seg is missing")),
        "{e}"
    );
}

#[tokio::test]
async fn a_failed_body_write_fails_only_its_group_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let first = simple_alert(&k, T0);
    let lost = simple_alert(&k, T0.plus(MINUTE));
    let after = simple_alert(&k, T0.plus(MINUTE * 2));
    // A group big enough to take the path that syncs bodies while planning.
    let big: Vec<Message> = (0..40u64)
        .map(|i| simple_alert(&k, T0.plus(HOUR + MINUTE * i as u32)))
        .collect();
    {
        let s = Store::open(&cfg(dir.path())).unwrap();
        assert_eq!(accept(&s, &first).await, 1);
        // The disk fills 5 bytes into the next group's bodies.
        s.inner().unwrap().bodies.faults.fail_next_write(5);
        let err = s.insert(&lost, Origin::Local, T0).await.unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        s.inner().unwrap().bodies.faults.fail_next_write(700);
        let err = s.insert_many(local(&big), T0).await.unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        assert_eq!(s.head(), 1, "nothing of the failed groups is in the log");
        // Space is back: later messages are stored, and readable where they are recorded.
        assert_eq!(accept(&s, &after).await, 2);
        assert_eq!(
            accept(&s, &lost).await,
            3,
            "a refused message can come again"
        );
        let outcomes = s.insert_many(local(&big), T0).await.unwrap();
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Inserted::Accepted { .. }))
        );
        s.close().await.unwrap();
    }
    let s = Store::open(&cfg(dir.path())).unwrap();
    let everything = read_all(&s, &Filter::default(), &View::Reader);
    let mut want = vec![first.id(), after.id(), lost.id()];
    want.extend(big.iter().map(Message::id));
    assert_eq!(ids(&everything), want);
    for e in &everything {
        let m = &e.message;
        m.author()
            .verify(m.signed().body(), m.signed().signature())
            .unwrap();
    }
}

#[tokio::test]
async fn a_disk_below_the_reserve_refuses_new_messages_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let a = simple_alert(&k, T0);
    let b = simple_alert(&k, T0.plus(MINUTE));
    {
        let s = Store::open(&cfg(dir.path())).unwrap();
        assert_eq!(accept(&s, &a).await, 1);
        s.close().await.unwrap();
    }
    // No disk has this much free: every new message is refused, before anything is written.
    let huge = StoreConfig {
        reserve_bytes: u64::MAX / 4,
        ..cfg(dir.path())
    };
    {
        let s = Store::open(&huge).unwrap();
        let bodies_before = s.inner().unwrap().bodies.disk_bytes().unwrap();
        let err = s.insert(&b, Origin::Local, T0).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Full { .. }) && err.is_unavailable(),
            "{err}"
        );
        assert!(matches!(s.writable(), Err(StoreError::Full { .. })));
        assert_eq!(s.refused_for_space(), 1, "asking is not refusing");
        // Release and retention with nothing due ask nothing of the disk: they succeed and
        // count no refusal (the node runs release every second; it failed, and was logged and
        // counted, each time).
        for _ in 0..3 {
            assert_eq!(s.release_due(T0).await.unwrap(), 0);
            let stats = s.expire(T0).await.unwrap();
            assert_eq!((stats.expired, stats.tombstones_dropped), (0, 0));
        }
        assert_eq!(s.refused_for_space(), 1);
        assert_eq!(s.head(), 1);
        assert_eq!(
            s.inner().unwrap().bodies.disk_bytes().unwrap(),
            bodies_before
        );
        // What is stored is still read.
        assert_eq!(
            ids(&read_all(&s, &Filter::default(), &View::Reader)),
            [a.id()]
        );
        s.close().await.unwrap();
    }
    let s = Store::open(&cfg(dir.path())).unwrap();
    s.writable().unwrap();
    assert_eq!(accept(&s, &b).await, 2);
}

mod integrity;
mod keys;
mod scale;
mod tally;

/// A follower pipelines its batches: when one fails in the store, those queued behind it are
/// still written, but must not move the peer's cursor past what failed; the follower resumes
/// from the durable cursor, and cursors move again from then on.
#[tokio::test]
async fn after_a_failed_insert_no_later_one_moves_the_peers_cursor_until_it_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let from = |m: &Message, cursor| {
        vec![(
            m.clone(),
            Origin::Peer {
                peer: "geneva".into(),
                cursor,
            },
        )]
    };
    let (a, b, c) = (
        simple_alert(&k, T0),
        simple_alert(&k, T0.plus(HOUR)),
        simple_alert(&k, T0.plus(2 * HOUR)),
    );
    s.inner()
        .unwrap()
        .fail_next_insert
        .store(true, std::sync::atomic::Ordering::Relaxed);
    // (Submitted together they would share the failed transaction: the later one is written
    // once the failure is known, as one queued behind it in another group is.)
    assert!(s.insert_many(from(&a, 5), T0).await.is_err());
    assert!(matches!(
        s.insert_many(from(&b, 9), T0).await.unwrap()[..],
        [Inserted::Accepted { .. }]
    ));
    assert_eq!(s.cursor("geneva").unwrap(), 0, "not past what failed");
    assert_eq!(s.resume_cursor("geneva").unwrap(), 0);
    s.insert_many(from(&a, 5), T0).await.unwrap();
    s.insert_many(from(&c, 12), T0).await.unwrap();
    assert_eq!(s.cursor("geneva").unwrap(), 12);
}

/// sled keeps a failed write's error and fails every later write with it (a disk that filled
/// under its log): the store must reopen itself, not refuse every message until a restart.
#[tokio::test]
async fn a_failed_write_inside_sled_makes_the_store_reopen_itself_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let k = key(1);
    let (a, b, c) = (
        simple_alert(&k, T0),
        simple_alert(&k, T0.plus(HOUR)),
        simple_alert(&k, T0.plus(2 * HOUR)),
    );
    s.insert(&a, Origin::Local, T0).await.unwrap();
    s.inner()
        .unwrap()
        .fail_next_apply
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let failed = s.insert(&b, Origin::Local, T0).await.unwrap_err();
    assert!(failed.is_unavailable(), "{failed}");
    let started = std::time::Instant::now();
    while s.reopened() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the store did not reopen itself"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    while s.writable().is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "not writable");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.insert(&b, Origin::Local, T0).await.unwrap();
    s.insert(&c, Origin::Local, T0).await.unwrap();
    for m in [&a, &b, &c] {
        assert!(s.message(&m.id()).unwrap().is_some());
    }
}
