//! The golden store: a store directory written once by the code of the day it was made
//! (`tests/golden-store/`), opened by today's code and read back row by row. What a node wrote
//! to disk must keep opening, and keep meaning the same, whatever the code becomes: the
//! expected values below are written out, not computed by the store.
//!
//! `write_golden_store` (ignored) wrote it; see `tests/golden-store/README.md` for when and how
//! to write it again (never to make this test pass: a store on disk is a contract).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tocsin::message::*;
use tocsin::store::{
    Inserted, Keep, LogId, Origin, Pending, RetryEntry, Seen, Store, StoreConfig, View,
};

/// The time everything in the golden store is stamped from (2027-01-15).
const T0: Timestamp = Timestamp(1_800_000_000_000);
const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 3600);

/// The clock of every insert: a minute after `T0`.
fn inserted_at() -> Timestamp {
    T0.plus(MINUTE)
}

/// The clock of the one retention pass: releases the half-hour embargo, expires the short-lived
/// alert, keeps the one-hour embargo pending.
fn retention_at() -> Timestamp {
    T0.plus(40 * MINUTE)
}

/// The checked-in store directory.
fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden-store/store")
}

fn config(path: PathBuf) -> StoreConfig {
    StoreConfig {
        path,
        cache_bytes: 4 * 1024 * 1024,
        tombstone_keep: 30 * DAY,
        // Small body segments, so the body log has several files.
        segment_bytes: 4096,
        reserve_bytes: 0,
    }
}

/// The fictional authors.
struct Authors {
    /// The Fictional Dockworkers' Union of Eastland: alerts, a call, updates, a cancel,
    /// profiles, embargoed alerts.
    docks: SecretKey,
    /// The Fictional Seafarers' Federation: endorsements, a translation, a peer's alert.
    seafarers: SecretKey,
    /// The Fictional Teachers' Union: its key revoked, handed to `teachers_new`.
    teachers: SecretKey,
    /// The Fictional Teachers' Union's new key, the successor named in the revocation.
    teachers_new: SecretKey,
    /// The Fictional Federation of Westland: a roster.
    federation: SecretKey,
}

fn authors() -> Authors {
    Authors {
        docks: SecretKey::from_seed(&[0x41; 32]),
        seafarers: SecretKey::from_seed(&[0x42; 32]),
        teachers: SecretKey::from_seed(&[0x43; 32]),
        teachers_new: SecretKey::from_seed(&[0x44; 32]),
        federation: SecretKey::from_seed(&[0x45; 32]),
    }
}

fn info(language: &str, headline: &str) -> Info {
    Info {
        language: language.into(),
        headline: headline.into(),
        description: format!("{headline}: the Fictional Dockworkers' Union reports it."),
        instruction: "Write to the Ministry of Labour of Eastland.".into(),
        link: String::new(),
    }
}

fn alert_content(headline: &str, languages: &[&str]) -> Alert {
    Alert {
        status: Status::Actual,
        category: Category::Arrest,
        urgency: Urgency::Immediate,
        severity: Severity::Severe,
        certainty: Certainty::Observed,
        info: languages.iter().map(|l| info(l, headline)).collect(),
    }
}

fn body(author: &SecretKey, created: Timestamp, content: Content) -> Body {
    Body {
        author: author.public(),
        created_at: created,
        expires_at: match content {
            Content::Revocation(_) => None,
            _ => Some(created.plus(DAY)),
        },
        topics: vec![],
        countries: vec![],
        effective_at: None,
        content,
    }
}

fn sign(body: Body, author: &SecretKey) -> Message {
    Message::sign(body, author).expect("signing a golden body")
}

fn alert(author: &SecretKey, created: Timestamp, headline: &str, languages: &[&str]) -> Message {
    let mut b = body(
        author,
        created,
        Content::Alert(alert_content(headline, languages)),
    );
    b.topics = vec!["union-rights".into()];
    b.countries = vec!["AZ".into()];
    sign(b, author)
}

fn update(author: &SecretKey, created: Timestamp, original: Id, headline: &str) -> Message {
    let u = Update {
        supersedes: original,
        content: UpdateContent::Alert(alert_content(headline, &["en"])),
    };
    sign(body(author, created, Content::Update(u)), author)
}

fn endorse(author: &SecretKey, created: Timestamp, target: Id, statement: &str) -> Message {
    let e = Endorsement {
        target,
        statement: statement.into(),
    };
    sign(body(author, created, Content::Endorsement(e)), author)
}

fn profile(author: &SecretKey, created: Timestamp, name: &str) -> Message {
    let p = Profile {
        name: name.into(),
        country: "AZ".into(),
        ..Profile::default()
    };
    sign(body(author, created, Content::Profile(p)), author)
}

/// Every message of the golden store, in the order the generator inserted them; the seq each
/// got is in the comment (`#n`).
struct Golden {
    /// #1: an alert in English and French.
    alert: Message,
    /// #2: a call.
    call: Message,
    /// #3: its author's update of `alert`.
    alert_update: Message,
    /// #4: the endorsement of `alert` that counts.
    endorsement: Message,
    /// #5: the same author's second endorsement of `alert`: stored, not counted.
    endorsement_again: Message,
    /// #6: a translation of `alert` into Portuguese by another author.
    translation: Message,
    /// #7: an alert cancelled by #8.
    cancelled: Message,
    /// #8: the cancel of `cancelled`.
    cancel: Message,
    /// #9: a profile, superseded by #10.
    profile_old: Message,
    /// #10: the profile in force.
    profile_new: Message,
    /// #11: a roster of two members.
    roster: Message,
    /// #12: an alert by the teachers made before their key's revocation takes effect.
    teachers_early: Message,
    /// #13: an alert by the teachers made after: withheld by #14.
    teachers_late: Message,
    /// #14: the teachers' revocation of their key, naming their new key.
    revocation: Message,
    /// #15: the successor's update of `teachers_early`.
    successor_update: Message,
    /// #16: an update of an alert that never arrives: a pending reference.
    orphan_update: Message,
    /// The alert `orphan_update` updates; never inserted.
    never_arrives: Message,
    /// #17: an update that arrived before its original, #18.
    early_update: Message,
    /// #18: the original of `early_update`.
    late_original: Message,
    /// #19: an alert under embargo for an hour: still pending.
    embargoed_pending: Message,
    /// #20: an alert under embargo for half an hour: released at #23.
    embargoed_released: Message,
    /// #21: an alert that lives twenty minutes: expired, a tombstone.
    short_lived: Message,
    /// #22: an alert a peer (`eastland-relay`, its seq 7) brought.
    from_peer: Message,
    /// Kept in the retry set: a peer's alert made a day ahead of the clock.
    from_future: Message,
}

fn golden() -> Golden {
    let a = authors();
    let at = |s: u64| T0.plus(Duration::from_secs(s));
    let alert1 = alert(&a.docks, at(0), "Dockers detained", &["en", "fr"]);
    let cancelled = alert(&a.docks, at(6), "Posted twice", &["en"]);
    let teachers_early = alert(&a.teachers, at(10), "Teachers locked out", &["en"]);
    let never_arrives = alert(&a.docks, at(0), "Never here", &["en"]);
    let late_original = alert(&a.docks, at(15), "Arrived late", &["en"]);
    let embargoed = |created: u64, minutes: u32, headline: &str| {
        let mut b = body(
            &a.docks,
            at(created),
            Content::Alert(alert_content(headline, &["en"])),
        );
        b.topics = vec!["strike".into()];
        b.effective_at = Some(T0.plus(minutes * MINUTE));
        sign(b, &a.docks)
    };
    let mut short = body(
        &a.docks,
        at(19),
        Content::Alert(alert_content("Picket today only", &["en"])),
    );
    short.expires_at = Some(T0.plus(20 * MINUTE));
    let mut future = body(
        &a.seafarers,
        T0.plus(DAY),
        Content::Alert(alert_content("From tomorrow", &["en"])),
    );
    future.expires_at = Some(T0.plus(2 * DAY));
    Golden {
        call: sign(
            body(
                &a.docks,
                at(1),
                Content::Call(ActionCall {
                    base: alert_content("Write to the Minister", &["en"]),
                    actions: vec![ActionType::Letter],
                    target: "The Minister of Labour of Eastland".into(),
                    window_starts_at: None,
                    window_ends_at: None,
                    deadline: None,
                    ilo_conventions: vec!["C087".into()],
                    supervisory_body: None,
                    goals: Vec::new(),
                }),
            ),
            &a.docks,
        ),
        alert_update: update(&a.docks, at(2), alert1.id(), "Dockers released"),
        endorsement: endorse(&a.seafarers, at(3), alert1.id(), "In solidarity"),
        endorsement_again: endorse(&a.seafarers, at(4), alert1.id(), "Still with you"),
        translation: sign(
            body(
                &a.seafarers,
                at(5),
                Content::Translation(Translation {
                    target: alert1.id(),
                    info: vec![info("pt", "Estivadores detidos")],
                }),
            ),
            &a.seafarers,
        ),
        cancel: sign(
            body(
                &a.docks,
                at(7),
                Content::Cancel(Cancel {
                    target: cancelled.id(),
                    reason: "posted twice".into(),
                }),
            ),
            &a.docks,
        ),
        cancelled,
        profile_old: profile(&a.docks, at(8), "Fictional Dockworkers"),
        profile_new: profile(&a.docks, at(9), "Fictional Dockworkers' Union of Eastland"),
        roster: sign(
            body(
                &a.federation,
                at(10),
                Content::Roster(Roster {
                    members: vec![
                        RosterMember {
                            key: a.docks.public(),
                            name: "Fictional Dockworkers' Union of Eastland".into(),
                            country: "AZ".into(),
                        },
                        RosterMember {
                            key: a.seafarers.public(),
                            name: "Fictional Seafarers' Federation".into(),
                            country: String::new(),
                        },
                    ],
                }),
            ),
            &a.federation,
        ),
        teachers_late: alert(&a.teachers, at(12), "Sent with a seized key", &["en"]),
        revocation: sign(
            body(
                &a.teachers,
                at(13),
                Content::Revocation(Revocation {
                    revoked_from: at(11),
                    successor: Some(a.teachers_new.public()),
                    reason: "laptop seized".into(),
                }),
            ),
            &a.teachers,
        ),
        successor_update: update(
            &a.teachers_new,
            at(14),
            teachers_early.id(),
            "Teachers back at work",
        ),
        teachers_early,
        orphan_update: update(&a.docks, at(15), never_arrives.id(), "Never here either"),
        never_arrives,
        early_update: update(
            &a.docks,
            at(16),
            late_original.id(),
            "Arrived late, updated",
        ),
        late_original,
        embargoed_pending: embargoed(17, 60, "Strike at the top of the hour"),
        embargoed_released: embargoed(18, 30, "Strike at half past"),
        short_lived: sign(short, &a.docks),
        from_peer: alert(&a.seafarers, at(20), "Seafarers detained", &["en"]),
        from_future: sign(future, &a.seafarers),
        alert: alert1,
    }
}

impl Golden {
    /// The messages inserted one by one, in seq order (#1 to #22), and where each came from.
    fn inserted(&self) -> Vec<(&Message, Origin)> {
        let local = |m| (m, Origin::Local);
        vec![
            local(&self.alert),
            local(&self.call),
            local(&self.alert_update),
            local(&self.endorsement),
            local(&self.endorsement_again),
            local(&self.translation),
            local(&self.cancelled),
            local(&self.cancel),
            local(&self.profile_old),
            local(&self.profile_new),
            local(&self.roster),
            local(&self.teachers_early),
            local(&self.teachers_late),
            local(&self.revocation),
            local(&self.successor_update),
            local(&self.orphan_update),
            local(&self.early_update),
            local(&self.late_original),
            local(&self.embargoed_pending),
            local(&self.embargoed_released),
            local(&self.short_lived),
            (
                &self.from_peer,
                Origin::Peer {
                    peer: "eastland-relay".into(),
                    cursor: 7,
                },
            ),
        ]
    }
}

/// Writes `tests/golden-store/store` again with the code of the day. Run only on purpose (see
/// `tests/golden-store/README.md`): `cargo test --test it -- --ignored write_golden_store`.
#[tokio::test]
#[ignore = "writes the checked-in golden store; run on purpose only"]
async fn write_golden_store() {
    let dir = golden_dir();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("removing the old golden store");
    }
    let g = golden();
    let store = Store::open(&config(dir.clone())).expect("creating the golden store");
    for (n, (message, origin)) in g.inserted().into_iter().enumerate() {
        let outcome = store
            .insert(message, origin, inserted_at())
            .await
            .expect("inserting");
        assert_eq!(
            outcome,
            Inserted::Accepted {
                seq: n as u64 + 1,
                held: false
            },
            "message #{}",
            n + 1
        );
    }
    let kept = RetryEntry {
        message: g.from_future.signed().clone(),
        peer: "eastland-relay".into(),
        reason: Reason::FromFuture,
        not_before: T0.plus(10 * MINUTE),
        expires_at: T0.plus(2 * DAY),
        kept_at: inserted_at(),
        attempts: 0,
    };
    let keep = Keep {
        entries: vec![kept],
        ..Keep::default()
    };
    store
        .submit_keeping(vec![], keep, inserted_at())
        .expect("keeping a refusal")
        .durable()
        .await
        .expect("keeping a refusal durably");
    store
        .advance_cursor("westland-relay", 12)
        .await
        .expect("moving a cursor");
    let stats = store.expire(retention_at()).await.expect("retention");
    assert_eq!(stats.expired, 1);
    store.close().await.expect("closing the golden store");
}

/// A copy of the golden store in a temporary directory (opening it writes to it).
fn copy_of_golden() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("making a directory");
        for entry in std::fs::read_dir(from).expect("listing the golden store") {
            let entry = entry.expect("listing the golden store");
            let target = to.join(entry.file_name());
            if entry.file_type().expect("a file type").is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).expect("copying the golden store");
            }
        }
    }
    let tmp = tempfile::tempdir().expect("a temporary directory");
    copy(&golden_dir(), &tmp.path().join("store"));
    tmp
}

fn filter(tune: impl FnOnce(&mut Filter)) -> Filter {
    let mut f = Filter::default();
    tune(&mut f);
    f
}

/// Every entry of a view under a filter, as (seq, id).
fn read_all(store: &Store, filter: &Filter, view: &View) -> Vec<(u64, Id)> {
    let (entries, _) = store.read(0, filter, view, 1000).expect("reading");
    entries.iter().map(|e| (e.seq, e.message.id())).collect()
}

fn peers() -> View {
    View::Peer {
        exclude_origin: None,
    }
}

/// The signed bytes read back are the author's, byte for byte.
fn assert_same(read: &Message, written: &Message) {
    assert_eq!(read.id(), written.id());
    assert_eq!(read.signed().body(), written.signed().body());
    assert_eq!(read.signed().signature(), written.signed().signature());
}

#[tokio::test]
async fn the_golden_store_opens_and_reads_back_every_row() {
    let tmp = copy_of_golden();
    let store = Store::open(&config(tmp.path().join("store"))).expect("opening the golden store");
    let g = golden();
    let a = authors();

    // The marker's head, and what the counters say.
    let counts = store.counts().expect("counts");
    assert_eq!(counts.head_seq, 23);
    assert_eq!(counts.reader_head_seq, 23);
    assert_eq!(counts.messages, 19);
    assert_eq!(counts.embargoed, 1);
    assert_eq!(counts.tombstones, 3);
    assert_eq!(store.head(), 23);
    assert_eq!(store.reader_head().expect("reader head"), 23);

    // Every message by id: held at its seq, or remembered without content, or unknown.
    let held: [(&Message, u64); 19] = [
        (&g.alert, 1),
        (&g.call, 2),
        (&g.alert_update, 3),
        (&g.endorsement, 4),
        (&g.endorsement_again, 5),
        (&g.translation, 6),
        (&g.cancel, 8),
        (&g.profile_old, 9),
        (&g.profile_new, 10),
        (&g.roster, 11),
        (&g.teachers_early, 12),
        (&g.revocation, 14),
        (&g.successor_update, 15),
        (&g.orphan_update, 16),
        (&g.early_update, 17),
        (&g.late_original, 18),
        (&g.embargoed_pending, 19),
        (&g.embargoed_released, 20),
        (&g.from_peer, 22),
    ];
    for (message, seq) in held {
        assert_eq!(
            store.seen(&message.id()).expect("seen"),
            Some(Seen::Stored {
                seq,
                // Only the message still under embargo is held back from readers.
                held: seq == 19,
            }),
            "#{seq}"
        );
        let read = store.message(&message.id()).expect("message");
        assert_same(&read.expect("held with its content"), message);
    }
    for gone in [&g.cancelled, &g.teachers_late, &g.short_lived] {
        assert_eq!(store.seen(&gone.id()).expect("seen"), Some(Seen::Tombstone));
        assert!(store.message(&gone.id()).expect("message").is_none());
    }
    for never in [&g.never_arrives, &g.from_future] {
        assert_eq!(store.seen(&never.id()).expect("seen"), None);
        assert!(store.get(&never.id()).expect("get").is_none());
    }

    // Every seq, in each view.
    let reader_seqs: Vec<(u64, Id)> = [
        (1, &g.alert),
        (2, &g.call),
        (3, &g.alert_update),
        (4, &g.endorsement),
        (5, &g.endorsement_again),
        (6, &g.translation),
        (8, &g.cancel),
        (9, &g.profile_old),
        (10, &g.profile_new),
        (11, &g.roster),
        (12, &g.teachers_early),
        (14, &g.revocation),
        (15, &g.successor_update),
        (16, &g.orphan_update),
        (17, &g.early_update),
        (18, &g.late_original),
        (22, &g.from_peer),
        (23, &g.embargoed_released),
    ]
    .into_iter()
    .map(|(seq, m)| (seq, m.id()))
    .collect();
    let all = Filter::default();
    assert_eq!(read_all(&store, &all, &View::Reader), reader_seqs);
    let peer_seqs: Vec<(u64, Id)> = held.iter().map(|(m, seq)| (*seq, m.id())).collect();
    assert_eq!(read_all(&store, &all, &peers()), peer_seqs);
    let not_eastland = View::Peer {
        exclude_origin: Some("eastland-relay".into()),
    };
    assert_eq!(
        read_all(&store, &all, &not_eastland),
        peer_seqs[..peer_seqs.len() - 1]
    );
    let unauthenticated = View::UnauthenticatedPeer {
        exclude_origin: "eastland-relay".into(),
    };
    assert_eq!(
        read_all(&store, &all, &unauthenticated),
        [&reader_seqs[..16], &reader_seqs[17..]].concat()
    );
    // One entry at a time, each with its bytes.
    for (seq, id) in &peer_seqs {
        let (entries, scanned) = store.read(seq - 1, &all, &peers(), 1).expect("reading");
        assert_eq!((entries.len(), scanned), (1, *seq));
        assert_eq!((entries[0].seq, entries[0].message.id()), (*seq, *id));
        let written = held.iter().find(|(m, _)| m.id() == *id).expect("written");
        assert_same(&entries[0].message, written.0);
    }

    // The indexes.
    let seqs = |f: &Filter, v: &View| -> Vec<u64> {
        read_all(&store, f, v).into_iter().map(|(s, _)| s).collect()
    };
    let by_teachers = filter(|f| f.authors = vec![a.teachers.public()]);
    assert_eq!(seqs(&by_teachers, &View::Reader), vec![12, 14]);
    let by_docks = filter(|f| f.authors = vec![a.docks.public()]);
    assert_eq!(
        seqs(&by_docks, &peers()),
        vec![1, 2, 3, 8, 9, 10, 16, 17, 18, 19, 20]
    );
    let updates = filter(|f| f.kinds = vec![Kind::Update]);
    assert_eq!(seqs(&updates, &View::Reader), vec![3, 15, 16, 17]);
    let by_kind = |kind: Kind| seqs(&filter(|f| f.kinds = vec![kind]), &peers());
    assert_eq!(by_kind(Kind::Alert), vec![1, 12, 18, 19, 20, 22]);
    assert_eq!(by_kind(Kind::Call), vec![2]);
    assert_eq!(by_kind(Kind::Cancel), vec![8]);
    assert_eq!(by_kind(Kind::Endorsement), vec![4, 5]);
    assert_eq!(by_kind(Kind::Translation), vec![6]);
    assert_eq!(by_kind(Kind::Profile), vec![9, 10]);
    assert_eq!(by_kind(Kind::Roster), vec![11]);
    assert_eq!(by_kind(Kind::Revocation), vec![14]);
    let strike = filter(|f| f.topics = vec!["strike".into()]);
    assert_eq!(seqs(&strike, &View::Reader), vec![23]);
    assert_eq!(seqs(&strike, &peers()), vec![19, 20]);
    let rights = filter(|f| f.topics = vec!["union-rights".into()]);
    assert_eq!(seqs(&rights, &View::Reader), vec![1, 12, 18, 22]);
    let eastland = filter(|f| f.countries = vec!["AZ".into()]);
    assert_eq!(seqs(&eastland, &View::Reader), vec![1, 12, 18, 22]);
    let portuguese = filter(|f| f.languages = vec!["pt".into()]);
    assert_eq!(seqs(&portuguese, &View::Reader), vec![6]);
    let french = filter(|f| f.languages = vec!["fr".into()]);
    assert_eq!(seqs(&french, &View::Reader), vec![1]);
    let english = filter(|f| f.languages = vec!["en".into()]);
    assert_eq!(
        seqs(&english, &View::Reader),
        vec![1, 2, 3, 12, 15, 16, 17, 18, 22, 23]
    );

    // The state of each alert and call.
    let state = store.get(&g.alert.id()).expect("get").expect("held");
    assert_same(state.message.as_ref().expect("content"), &g.alert);
    assert_same(state.current.as_ref().expect("current"), &g.alert_update);
    assert_eq!(state.seq, 1);
    assert_eq!(state.kind, Kind::Alert);
    assert_eq!(state.author, a.docks.public());
    assert_eq!(state.created_at, T0);
    assert_eq!(state.updates, vec![g.alert_update.id()]);
    assert!(!state.cancelled);
    assert_eq!(state.cancel_reason, "");
    assert_eq!(state.endorsers.len(), 1);
    assert_eq!(state.endorsers[0].author, a.seafarers.public());
    assert_eq!(state.endorsers[0].statement, "In solidarity");
    assert_eq!(
        state.endorsers[0].created_at,
        T0.plus(Duration::from_secs(3))
    );
    assert_eq!(state.translations.len(), 1);
    assert_same(&state.translations[0], &g.translation);
    assert_eq!(store.tally(&g.alert.id()).expect("tally"), 1);

    let call = store.get(&g.call.id()).expect("get").expect("held");
    assert_same(call.current.as_ref().expect("current"), &g.call);
    assert!(call.updates.is_empty() && call.endorsers.is_empty());
    assert_eq!(store.tally(&g.call.id()).expect("tally"), 0);

    let cancelled = store.get(&g.cancelled.id()).expect("get").expect("known");
    assert!(cancelled.message.is_none() && cancelled.current.is_none());
    assert!(cancelled.cancelled);
    assert_eq!(cancelled.cancel_reason, "posted twice");
    assert_eq!(cancelled.seq, 7);
    assert_eq!(cancelled.kind, Kind::Alert);
    assert_eq!(cancelled.author, a.docks.public());
    assert_eq!(cancelled.created_at, T0.plus(Duration::from_secs(6)));

    let withheld = store
        .get(&g.teachers_late.id())
        .expect("get")
        .expect("known");
    assert!(withheld.message.is_none() && withheld.current.is_none());
    assert!(!withheld.cancelled);
    assert_eq!(withheld.seq, 13);
    assert_eq!(withheld.author, a.teachers.public());

    let early = store
        .get(&g.teachers_early.id())
        .expect("get")
        .expect("held");
    assert_same(
        early.current.as_ref().expect("current"),
        &g.successor_update,
    );
    assert_eq!(early.updates, vec![g.successor_update.id()]);

    let late = store
        .get(&g.late_original.id())
        .expect("get")
        .expect("held");
    assert_eq!(late.seq, 18);
    assert_same(late.current.as_ref().expect("current"), &g.early_update);
    assert_eq!(late.updates, vec![g.early_update.id()]);

    let orphan = store
        .get(&g.orphan_update.id())
        .expect("get")
        .expect("held");
    assert_eq!((orphan.seq, orphan.kind), (16, Kind::Update));

    assert!(store.get(&g.embargoed_pending.id()).expect("get").is_none());
    let released = store
        .get(&g.embargoed_released.id())
        .expect("get")
        .expect("released");
    assert_eq!(released.seq, 20);
    assert!(store.get(&g.short_lived.id()).expect("get").is_none());
    assert_eq!(
        store.next_release().expect("next release"),
        Some(T0.plus(60 * MINUTE))
    );

    // Latest profile and roster, the revocation in force and what it allows.
    let profile = store.profile(&a.docks.public()).expect("profile");
    assert_same(&profile.expect("a profile"), &g.profile_new);
    let roster = store.roster(&a.federation.public()).expect("roster");
    assert_same(&roster.expect("a roster"), &g.roster);
    assert!(
        store
            .profile(&a.seafarers.public())
            .expect("profile")
            .is_none()
    );
    let revocation = store.revocation(&a.teachers.public()).expect("revocation");
    assert_same(&revocation.expect("a revocation"), &g.revocation);
    assert!(
        store
            .revocation(&a.docks.public())
            .expect("revocation")
            .is_none()
    );
    assert!(
        store
            .may_act_for(&a.teachers_new.public(), &a.teachers.public())
            .expect("may act")
    );
    assert!(
        !store
            .may_act_for(&a.seafarers.public(), &a.docks.public())
            .expect("may act")
    );
    assert!(store.holds_author(&a.teachers_new.public()).expect("holds"));
    assert!(store.holds_author(&a.federation.public()).expect("holds"));
    let stranger = SecretKey::from_seed(&[0x46; 32]).public();
    assert!(!store.holds_author(&stranger).expect("holds"));

    // Peer cursors and the retry set.
    assert_eq!(store.cursor("eastland-relay").expect("cursor"), 7);
    assert_eq!(store.cursor("westland-relay").expect("cursor"), 12);
    assert_eq!(store.cursor("northland-relay").expect("cursor"), 0);
    let kept = store.retry_scan(None, 10).expect("retry set");
    assert_eq!(
        kept,
        vec![Pending::Entry(RetryEntry {
            message: g.from_future.signed().clone(),
            peer: "eastland-relay".into(),
            reason: Reason::FromFuture,
            not_before: T0.plus(10 * MINUTE),
            expires_at: T0.plus(2 * DAY),
            kept_at: T0.plus(MINUTE),
            attempts: 0,
        })]
    );
    assert_eq!(
        store
            .retry_due(T0.plus(10 * MINUTE), 10)
            .expect("due")
            .len(),
        1
    );
    let retry = store.retry_counts().expect("retry counts");
    assert_eq!(retry.pending, 1);
    assert_eq!(retry.per_peer, vec![("eastland-relay".to_string(), 1)]);

    // What the key rules keep, in a store from before them: no key has a recovery commitment
    // (none could be stored), the teachers' key ends by its revocation, and their new key is
    // linked back to it (by the opening: the revocation was stored without that link).
    let teachers = store.key_state(&a.teachers.public()).expect("key state");
    assert!(teachers.commitment.is_none() && teachers.conflicting.is_empty());
    let end = teachers.end.expect("the teachers' key ends");
    assert_eq!(end.by, g.revocation.id());
    assert_eq!(end.by_kind, Kind::Revocation);
    assert_eq!((end.rotation, end.compromised_since), (None, None));
    assert_eq!(end.successor, Some(a.teachers_new.public()));
    let teachers_new = store
        .key_state(&a.teachers_new.public())
        .expect("key state");
    assert_eq!(teachers_new.predecessor, Some(a.teachers.public()));
    assert!(teachers_new.commitment.is_none() && teachers_new.end.is_none());
    let docks = store.key_state(&a.docks.public()).expect("key state");
    assert!(docks.commitment.is_none() && docks.end.is_none() && docks.predecessor.is_none());
    let ended: Vec<AuthorKey> = store
        .ended_keys()
        .expect("ended keys")
        .iter()
        .map(|k| k.key)
        .collect();
    assert_eq!(ended, vec![a.teachers.public()]);

    // Nothing damaged, and nothing wanted.
    let report = store.check(false).await.expect("check");
    assert!(report.is_clean(), "{report:?}");
    // A record for each of the 22 inserted but the expired one (a tombstone now).
    assert_eq!(report.records, 21);
    assert_eq!(report.bodies, 19);
    assert!(store.wanted().is_empty());
    assert_eq!(store.integrity().damaged_total, 0);

    // It goes on: the next message takes the next seq, and the half-hour-late release too.
    let next = alert(
        &a.docks,
        T0.plus(2 * MINUTE),
        "After the golden store",
        &["en"],
    );
    assert_eq!(
        store
            .insert(&next, Origin::Local, T0.plus(2 * MINUTE))
            .await
            .expect("insert"),
        Inserted::Accepted {
            seq: 24,
            held: false
        }
    );
    assert_eq!(
        store
            .release_due(T0.plus(60 * MINUTE))
            .await
            .expect("release"),
        1
    );
    assert_eq!(seqs(&strike, &View::Reader), vec![23, 25]);

    // Written before log ids: the open gave it one, and the next open keeps it (with its
    // peers' cursors, which no log of theirs was recorded for).
    let log_id = store.log_id();
    assert_ne!(log_id, LogId::default());
    assert_eq!(store.opened_head(), 23);
    assert_eq!(store.peer_log("eastland-relay").expect("peer log"), None);
    store.close().await.expect("closing");
    let store = Store::open(&config(tmp.path().join("store"))).expect("opening it again");
    assert_eq!(store.log_id(), log_id);
    assert_eq!(store.opened_head(), 25);
    assert_eq!(store.cursor("eastland-relay").expect("cursor"), 7);
    store.close().await.expect("closing");
}
