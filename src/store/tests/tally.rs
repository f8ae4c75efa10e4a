//! Action reports in the store: which reports count in a call's tally as they arrive in any
//! order, are revised, released, withheld, cancelled with their call and expired, and the
//! count of reports in effect that `/metrics` shows.

use super::*;
use crate::message::{ActionReport, Count, Goal, Measure};

/// A petition call by `k` with `goals`.
fn call_with_goals(k: &SecretKey, created: Timestamp, goals: &[(Measure, u64)]) -> Message {
    let mut b = call(k, created).body().clone();
    let Content::Call(c) = &mut b.content else {
        unreachable!("`call` makes a call")
    };
    c.goals = goals
        .iter()
        .map(|(measure, target)| Goal {
            measure: *measure,
            target: *target,
            currency: String::new(),
        })
        .collect();
    sign(b, k)
}

/// An update by `k` of the call `target` that sets new goals.
fn update_goals(
    k: &SecretKey,
    created: Timestamp,
    target: &Message,
    goals: &[(Measure, u64)],
) -> Message {
    let Content::Call(mut c) = call_with_goals(k, created, goals).body().content.clone() else {
        unreachable!("`call_with_goals` makes a call")
    };
    c.base.info[0].headline = "Write to the Minister: the goal is raised".into();
    let u = Update {
        supersedes: target.id(),
        content: UpdateContent::Call(c),
    };
    sign(body(k, created, Content::Update(u)), k)
}

/// A report by `k` on `target` of `letters` letters sent.
fn report(k: &SecretKey, created: Timestamp, target: Id, letters: u64) -> Message {
    report_of(
        k,
        created,
        target,
        vec![Count {
            measure: Measure::Letters,
            value: letters,
            currency: String::new(),
        }],
    )
}

fn report_of(k: &SecretKey, created: Timestamp, target: Id, counts: Vec<Count>) -> Message {
    let r = ActionReport {
        target,
        counts,
        filings: Vec::new(),
        as_of: None,
        statement: "Letters from our members".into(),
        evidence: String::new(),
    };
    sign(body(k, created, Content::Report(r)), k)
}

/// A profile of `k` named `name` in `country`.
fn profile_in(k: &SecretKey, created: Timestamp, name: &str, country: &str) -> Message {
    let p = Profile {
        name: name.into(),
        country: country.into(),
        ..Profile::default()
    };
    sign(body(k, created, Content::Profile(p)), k)
}

/// The tally of `id` as `get` gives it.
fn tally_of(s: &Store, id: &Id) -> Tally {
    s.get(id).unwrap().expect("held").tally
}

fn letters(t: &Tally) -> u64 {
    t.total(Measure::Letters, "")
}

fn reports_in_effect(s: &Store) -> u64 {
    s.counts().unwrap().reports
}

#[tokio::test]
async fn the_latest_report_of_each_author_counts_and_a_revision_replaces_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (organiser, dockers, teachers) = (key(1), key(2), key(3));
    let c = call(&organiser, T0);
    accept(&s, &c).await;
    assert!(tally_of(&s, &c.id()).is_empty());
    accept(&s, &report(&dockers, T0.plus(HOUR), c.id(), 100)).await;
    accept(&s, &report(&teachers, T0.plus(HOUR), c.id(), 40)).await;
    // The revision arrives; then an older one, late: neither adds to what is counted.
    accept(&s, &report(&dockers, T0.plus(3 * HOUR), c.id(), 340)).await;
    accept(&s, &report(&dockers, T0.plus(2 * HOUR), c.id(), 200)).await;
    let t = tally_of(&s, &c.id());
    assert_eq!((letters(&t), t.reporters), (380, 2));
    assert_eq!(t.reports.len(), 2);
    // Four reports are held and in effect; two count.
    assert_eq!(reports_in_effect(&s), 4);

    // Two reports by one author made in the same millisecond: the larger id counts, whatever
    // the order they arrive in.
    let tie_a = report(&teachers, T0.plus(5 * HOUR), c.id(), 50);
    let tie_b = report(&teachers, T0.plus(5 * HOUR), c.id(), 60);
    let (winner, loser) = if tie_a.id() > tie_b.id() {
        (&tie_a, &tie_b)
    } else {
        (&tie_b, &tie_a)
    };
    let expected = 340 + if winner.id() == tie_a.id() { 50 } else { 60 };
    for order in [[winner, loser], [loser, winner]] {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&cfg(dir.path())).unwrap();
        accept(&s, &c).await;
        accept(&s, &report(&dockers, T0.plus(3 * HOUR), c.id(), 340)).await;
        for m in order {
            accept(&s, m).await;
        }
        let t = tally_of(&s, &c.id());
        assert_eq!(letters(&t), expected);
        assert!(t.reports.iter().any(|r| r.id == winner.id()));
    }
}

#[tokio::test]
async fn a_report_before_its_call_counts_once_the_call_is_here() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (organiser, dockers) = (key(1), key(2));
    let c = call(&organiser, T0);
    let r = report(&dockers, T0.plus(HOUR), c.id(), 120);
    // Stored and pending its target: nothing to show it on yet.
    accept(&s, &r).await;
    assert!(s.get(&c.id()).unwrap().is_none());
    accept(&s, &c).await;
    let t = tally_of(&s, &c.id());
    assert_eq!((letters(&t), t.reporters), (120, 1));
    // And after a reopen, from the rows alone.
    s.close().await.unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    assert_eq!(letters(&tally_of(&s, &c.id())), 120);
}

#[tokio::test]
async fn a_report_on_anything_but_an_alert_or_call_is_a_bad_reference() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (dockers, teachers) = (key(2), key(3));
    let p = profile(&dockers, T0, "Fictional Dockers' Union");
    let e = endorse(&dockers, T0, simple_alert(&dockers, T0).id(), "");
    accept(&s, &p).await;
    accept(&s, &e).await;
    for target in [p.id(), e.id()] {
        assert_eq!(
            refused_with(put(&s, &report(&teachers, T0.plus(HOUR), target, 5)).await),
            Reason::BadReference
        );
    }
    // On an alert it counts.
    let a = simple_alert(&dockers, T0);
    accept(&s, &a).await;
    accept(&s, &report(&teachers, T0.plus(HOUR), a.id(), 5)).await;
    assert_eq!(letters(&tally_of(&s, &a.id())), 5);
    // A report that came before a profile it names (no node could tell then) counts nowhere.
    let later = profile(&teachers, T0.plus(2 * HOUR), "Fictional Teachers' Union");
    accept(&s, &report(&dockers, T0.plus(3 * HOUR), later.id(), 7)).await;
    accept(&s, &later).await;
    assert!(tally_of(&s, &later.id()).is_empty());
}

#[tokio::test]
async fn an_embargoed_report_counts_from_its_release() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (organiser, dockers) = (key(1), key(2));
    let c = call(&organiser, T0);
    accept(&s, &c).await;
    accept(&s, &report(&dockers, T0.plus(HOUR), c.id(), 100)).await;
    // The revision is under embargo: the first report counts until its release.
    let revision = held_until(
        &report(&dockers, T0.plus(2 * HOUR), c.id(), 900),
        &dockers,
        T0.plus(5 * HOUR),
    );
    accept(&s, &revision).await;
    assert_eq!(letters(&tally_of(&s, &c.id())), 100);
    assert_eq!(reports_in_effect(&s), 1);
    assert_eq!(s.release_due(T0.plus(4 * HOUR)).await.unwrap(), 0);
    assert_eq!(letters(&tally_of(&s, &c.id())), 100);
    assert_eq!(s.release_due(T0.plus(5 * HOUR)).await.unwrap(), 1);
    let t = tally_of(&s, &c.id());
    assert_eq!((letters(&t), t.reporters), (900, 1));
    assert_eq!(reports_in_effect(&s), 2);
}

#[tokio::test]
async fn a_revoked_authors_later_reports_are_refused_and_withheld_its_earlier_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (organiser, dockers) = (key(1), key(2));
    let c = call(&organiser, T0);
    accept(&s, &c).await;
    let before = report(&dockers, T0.plus(HOUR), c.id(), 100);
    let after = report(&dockers, T0.plus(3 * HOUR), c.id(), 5000);
    accept(&s, &before).await;
    accept(&s, &after).await;
    assert_eq!(letters(&tally_of(&s, &c.id())), 5000);
    // Revoked from 2h: the report made after is withheld, the one before counts again.
    accept(
        &s,
        &revoke(&dockers, T0.plus(4 * HOUR), T0.plus(2 * HOUR), None),
    )
    .await;
    let t = tally_of(&s, &c.id());
    assert_eq!((letters(&t), t.reporters), (100, 1));
    assert_eq!(reports_in_effect(&s), 1);
    assert_eq!(refused_with(put(&s, &after).await), Reason::RevokedAuthor);
    let late = report(&dockers, T0.plus(5 * HOUR), c.id(), 7000);
    assert_eq!(refused_with(put(&s, &late).await), Reason::RevokedAuthor);
    assert_eq!(letters(&tally_of(&s, &c.id())), 100);
}

#[tokio::test]
async fn a_successors_report_replaces_the_revoked_keys_instead_of_adding_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (organiser, old_key, new_key, federation) = (key(1), key(2), key(3), key(4));
    let c = call(&organiser, T0);
    accept(&s, &c).await;
    accept(&s, &roster(&federation, T0, &[&old_key])).await;
    let mut named = profile(&old_key, T0, "Eastland Gravel Workers")
        .body()
        .clone();
    if let Content::Profile(p) = &mut named.content {
        p.country = "ZA".into();
    }
    accept(&s, &sign(named, &old_key)).await;
    accept(&s, &report(&old_key, T0.plus(HOUR), c.id(), 300)).await;
    accept(
        &s,
        &revoke(
            &old_key,
            T0.plus(2 * HOUR),
            T0.plus(2 * HOUR),
            Some(&new_key),
        ),
    )
    .await;
    // Before the new key reports, the old key's report stands for the organisation.
    assert_eq!(letters(&tally_of(&s, &c.id())), 300);
    accept(&s, &report(&new_key, T0.plus(3 * HOUR), c.id(), 450)).await;
    let t = tally_of(&s, &c.id());
    assert_eq!((letters(&t), t.reporters), (450, 1));
    // The new key has no profile yet: the organisation keeps its name and country.
    assert_eq!(
        (t.reports[0].name.as_str(), t.reports[0].country.as_str()),
        ("Eastland Gravel Workers", "ZA")
    );
    assert_eq!(t.countries[0].country, "ZA");
    // The roster names the old key: its member reported all the same.
    assert_eq!(t.rosters.len(), 1);
    assert_eq!((t.rosters[0].reported, t.rosters[0].members), (1, 1));
}

#[tokio::test]
async fn reports_expire_and_drop_out() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (organiser, dockers, teachers) = (key(1), key(2), key(3));
    let mut long_call = call(&organiser, T0).body().clone();
    long_call.expires_at = Some(T0.plus(30 * DAY));
    let c = sign(long_call, &organiser);
    accept(&s, &c).await;
    // `report` lives a day; this one a week.
    let mut lasting = report(&teachers, T0, c.id(), 40).body().clone();
    lasting.expires_at = Some(T0.plus(7 * DAY));
    accept(&s, &report(&dockers, T0, c.id(), 100)).await;
    accept(&s, &sign(lasting, &teachers)).await;
    assert_eq!(letters(&tally_of(&s, &c.id())), 140);
    s.expire(T0.plus(DAY).plus(HOUR)).await.unwrap();
    let t = tally_of(&s, &c.id());
    assert_eq!((letters(&t), t.reporters), (40, 1));
    assert_eq!(reports_in_effect(&s), 1);
    s.expire(T0.plus(8 * DAY)).await.unwrap();
    assert!(tally_of(&s, &c.id()).is_empty());
    assert_eq!(reports_in_effect(&s), 0);
}

#[tokio::test]
async fn reports_of_a_cancelled_call_are_kept_and_still_tallied_for_its_organisers() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (organiser, dockers, teachers) = (key(1), key(2), key(3));
    let c = call_with_goals(&organiser, T0, &[(Measure::Letters, 1000)]);
    accept(&s, &c).await;
    accept(&s, &report(&dockers, T0.plus(HOUR), c.id(), 100)).await;
    accept(
        &s,
        &cancel(&organiser, T0.plus(2 * HOUR), c.id(), "released"),
    )
    .await;
    // A report after the cancel is accepted too: every node holds the same set.
    accept(&s, &report(&teachers, T0.plus(3 * HOUR), c.id(), 30)).await;
    let st = s.get(&c.id()).unwrap().unwrap();
    assert!(st.cancelled && st.message.is_none() && st.current.is_none());
    assert_eq!((letters(&st.tally), st.tally.reporters), (130, 2));
    // The goals were the call's content, withdrawn with it.
    assert!(st.tally.goals.is_empty());
    assert_eq!(reports_in_effect(&s), 2);

    // The cancel first, then the call and a report: the same.
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    accept(
        &s,
        &cancel(&organiser, T0.plus(2 * HOUR), c.id(), "released"),
    )
    .await;
    accept(&s, &report(&teachers, T0.plus(3 * HOUR), c.id(), 30)).await;
    accept(&s, &c).await;
    accept(&s, &report(&dockers, T0.plus(HOUR), c.id(), 100)).await;
    let st = s.get(&c.id()).unwrap().unwrap();
    assert!(st.cancelled);
    assert_eq!((letters(&st.tally), st.tally.reporters), (130, 2));
}

#[tokio::test]
async fn countries_come_from_each_reporters_latest_profile() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (organiser, dockers, teachers, nurses) = (key(1), key(2), key(3), key(4));
    let c = call(&organiser, T0);
    accept(&s, &c).await;
    accept(&s, &profile_in(&dockers, T0, "Fictional Dockers", "PT")).await;
    accept(&s, &profile_in(&teachers, T0, "Fictional Teachers", "PT")).await;
    for (k, n) in [(&dockers, 100), (&teachers, 40), (&nurses, 7)] {
        accept(&s, &report(k, T0.plus(HOUR), c.id(), n)).await;
    }
    let t = tally_of(&s, &c.id());
    let by_country: Vec<_> = t
        .countries
        .iter()
        .map(|c| (c.country.as_str(), c.reporters, c.totals[0].value))
        .collect();
    // Reporters without a country last.
    assert_eq!(by_country, vec![("PT", 2, 140), ("", 1, 7)]);
    let named = t.reports.iter().find(|r| r.author == dockers.public());
    assert_eq!(named.map(|r| r.name.as_str()), Some("Fictional Dockers"));

    // The teachers' new profile moves them.
    accept(
        &s,
        &profile_in(&teachers, T0.plus(2 * HOUR), "Fictional Teachers", "BR"),
    )
    .await;
    let t = tally_of(&s, &c.id());
    let by_country: Vec<_> = t
        .countries
        .iter()
        .map(|c| (c.country.as_str(), c.reporters, c.totals[0].value))
        .collect();
    assert_eq!(by_country, vec![("BR", 1, 40), ("PT", 1, 100), ("", 1, 7)]);
}

#[tokio::test]
async fn rosters_say_how_many_of_their_members_reported() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let organiser = key(1);
    let (federation, other_federation) = (key(50), key(51));
    let members: Vec<SecretKey> = (10..50).map(key).collect();
    let c = call(&organiser, T0);
    accept(&s, &c).await;
    accept(
        &s,
        &profile(&federation, T0, "Global Fictional Dockers' Federation"),
    )
    .await;
    accept(
        &s,
        &roster(&federation, T0, &members.iter().collect::<Vec<_>>()),
    )
    .await;
    // A federation none of whose members reported is not listed.
    accept(&s, &roster(&other_federation, T0, &[&organiser])).await;
    for m in &members[..12] {
        accept(&s, &report(m, T0.plus(HOUR), c.id(), 10)).await;
    }
    // Revisions do not make a member count twice.
    accept(&s, &report(&members[0], T0.plus(2 * HOUR), c.id(), 20)).await;
    let t = tally_of(&s, &c.id());
    assert_eq!(t.rosters.len(), 1);
    let line = &t.rosters[0];
    assert_eq!(
        (line.name.as_str(), line.reported, line.members),
        ("Global Fictional Dockers' Federation", 12, 40)
    );
    assert_eq!(line.federation, federation.public());
    assert_eq!(letters(&t), 130);
}

#[tokio::test]
async fn goal_progress_follows_the_current_versions_goals() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (organiser, dockers, teachers) = (key(1), key(2), key(3));
    let c = call_with_goals(
        &organiser,
        T0,
        &[(Measure::Letters, 500), (Measure::Organisations, 4)],
    );
    accept(&s, &c).await;
    accept(&s, &report(&dockers, T0.plus(HOUR), c.id(), 300)).await;
    accept(&s, &report(&teachers, T0.plus(HOUR), c.id(), 100)).await;
    let progress = |t: &Tally| -> Vec<(Measure, u64, u64, u64)> {
        t.goals
            .iter()
            .map(|g| (g.goal.measure, g.goal.target, g.reached, g.percent()))
            .collect()
    };
    assert_eq!(
        progress(&tally_of(&s, &c.id())),
        vec![
            (Measure::Letters, 500, 400, 80),
            (Measure::Organisations, 4, 2, 50)
        ]
    );
    // The organisers raise the goal: progress is against the new one.
    let raised = update_goals(
        &organiser,
        T0.plus(2 * HOUR),
        &c,
        &[(Measure::Letters, 2000)],
    );
    accept(&s, &raised).await;
    assert_eq!(
        progress(&tally_of(&s, &c.id())),
        vec![(Measure::Letters, 2000, 400, 20)]
    );
    // An update under embargo changes nothing before its release.
    let held = held_until(
        &update_goals(
            &organiser,
            T0.plus(3 * HOUR),
            &c,
            &[(Measure::Letters, 100)],
        ),
        &organiser,
        T0.plus(6 * HOUR),
    );
    accept(&s, &held).await;
    assert_eq!(
        progress(&tally_of(&s, &c.id())),
        vec![(Measure::Letters, 2000, 400, 20)]
    );
    s.release_due(T0.plus(6 * HOUR)).await.unwrap();
    assert_eq!(
        progress(&tally_of(&s, &c.id())),
        vec![(Measure::Letters, 100, 400, 100)]
    );
}

#[tokio::test]
async fn the_check_counts_reports_in_effect_and_a_repair_sets_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(&cfg(dir.path())).unwrap();
    let (organiser, dockers) = (key(1), key(2));
    let c = call(&organiser, T0);
    accept(&s, &c).await;
    accept(&s, &report(&dockers, T0.plus(HOUR), c.id(), 100)).await;
    let embargoed = held_until(
        &report(&dockers, T0.plus(2 * HOUR), c.id(), 200),
        &dockers,
        T0.plus(5 * HOUR),
    );
    accept(&s, &embargoed).await;
    let report = s.check(false).await.unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(reports_in_effect(&s), 1);
    // A count gone wrong is found, and a repair sets it from the records.
    s.inner()
        .unwrap()
        .trees
        .get(Tree::Meta)
        .insert(meta::N_REPORTS, &codec::big_endian(7))
        .unwrap();
    let report = s.check(true).await.unwrap();
    assert!(
        report.findings.iter().any(|f| f.what == "counter"),
        "{report:?}"
    );
    assert_eq!(reports_in_effect(&s), 1);
    assert!(s.check(false).await.unwrap().is_clean());
}
