//! Embargo against real nodes on a manual clock: an embargoed endorsement, cancel, profile and
//! roster change nothing a reader can see before their hour (gRPC `Get` and `Subscribe`,
//! NodeInfo, `tocsin show` and `tocsin export`, the page, message pages, Atom and CAP feeds,
//! their validators, `/metrics`), and everything at the hour; peers have them early.

use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use tocsin::message::*;
use tocsin::node::Clock;
use tocsin::rpc::{Client, ClientEvent, PublishOutcome};

use crate::support::*;

/// A response, read whole: status, ETag, body.
struct Resp {
    status: u16,
    etag: Option<String>,
    body: String,
}

async fn http_get(addr: SocketAddr, path: &str, if_none_match: Option<&str>) -> Resp {
    let headers: Vec<(&str, &str)> = if_none_match
        .map(|t| ("if-none-match", t))
        .into_iter()
        .collect();
    let r = crate::http::get_with(addr, path, &headers).await;
    Resp {
        status: r.status,
        etag: r.header("etag").map(str::to_string),
        body: r.body,
    }
}

/// Runs the `tocsin` binary off the async runtime; its stdout, which must be a success.
async fn cli(args: &[&str]) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"));
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env("TZ", "UTC")
        .env_remove("TOCSIN_NODE")
        .stdin(std::process::Stdio::null());
    let what = args.join(" ");
    let out = within(&what, async {
        tokio::task::spawn_blocking(move || cmd.output().expect("running tocsin"))
            .await
            .expect("the runner")
    })
    .await;
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

async fn publish(c: &mut Client, m: &Message) {
    match c.publish(m.signed()).await.unwrap() {
        PublishOutcome::Accepted { .. } => {}
        other => panic!("expected acceptance, got {other:?}"),
    }
}

/// Everything a subscription from 0 delivers up to its caught-up marker, with the marker.
async fn backfill(c: &mut Client, peer: Option<AuthorKey>) -> (Vec<(u64, Id)>, u64) {
    let mut events = c.subscribe(&Filter::default(), 0, peer).await.unwrap();
    let mut got = Vec::new();
    loop {
        match within("backfill", events.next()).await {
            Some(Ok(ClientEvent::Delivery { seq, message })) => got.push((seq, message.id())),
            Some(Ok(ClientEvent::CaughtUp(seq))) => return (got, seq),
            other => panic!("the subscription ended: {other:?}"),
        }
    }
}

/// The `/metrics` lines a reader could learn an arrival from.
fn store_lines(metrics: &str) -> Vec<String> {
    metrics
        .lines()
        .filter(|l| {
            [
                "tocsin_messages_accepted_total ",
                "tocsin_messages_duplicate_total ",
                "tocsin_store_messages ",
                "tocsin_store_head_seq ",
                "tocsin_ingest_latency_seconds_count ",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(str::to_string)
        .collect()
}

/// What `Get` shows of a message: held, cancelled, the cancel's reason, endorsers' statements.
type State = (bool, bool, String, Vec<String>);

/// What a reader can see of one node, through every surface.
#[derive(Debug)]
struct Seen {
    /// `Get` of each watched id.
    states: Vec<Option<State>>,
    info: (u64, u64),
    subscription: (Vec<(u64, Id)>, u64),
    metrics: Vec<String>,
    /// Status, ETag and body of each watched path.
    pages: Vec<(u16, Option<String>, String)>,
    /// `tocsin show --json` of the watched alerts and calls.
    shown: Vec<String>,
    /// The bytes of a `tocsin export`.
    export: Vec<u8>,
}

struct Watch<'a> {
    node: &'a TestNode,
    ids: Vec<Id>,
    paths: Vec<String>,
    shown: Vec<Id>,
    dir: tempfile::TempDir,
    exports: usize,
}

impl Watch<'_> {
    async fn look(&mut self) -> Seen {
        let mut c = self.node.client().await;
        let mut states = Vec::new();
        for id in &self.ids {
            states.push(c.get(*id).await.unwrap().map(|s| {
                (
                    s.message.is_some(),
                    s.cancelled,
                    s.cancel_reason,
                    s.endorsers.into_iter().map(|(_, st, _)| st).collect(),
                )
            }));
        }
        let info = c.info().await.unwrap();
        let addr = self.node.server().http_addr().expect("the gateway is on");
        let mut pages = Vec::new();
        for p in &self.paths {
            let r = http_get(addr, p, None).await;
            pages.push((r.status, r.etag, r.body));
        }
        let url = self.node.url();
        let mut shown = Vec::new();
        for id in &self.shown {
            shown.push(cli(&["show", &id.to_hex(), "--node", &url, "--json"]).await);
        }
        self.exports += 1;
        let file = self
            .dir
            .path()
            .join(format!("export-{}.tocsin", self.exports));
        cli(&["export", "--node", &url, "--out", file.to_str().unwrap()]).await;
        Seen {
            states,
            info: (info.head_seq, info.messages),
            subscription: backfill(&mut c, None).await,
            metrics: store_lines(&http_get(addr, "/metrics", None).await.body),
            pages,
            shown,
            export: std::fs::read(&file).unwrap(),
        }
    }
}

/// Asserts that a reader sees nothing new, naming the surface that moved (without dumping
/// whole pages).
#[track_caller]
fn unchanged(before: &Seen, now: &Seen, watch: &Watch<'_>) {
    assert_eq!(now.states, before.states, "Get");
    assert_eq!(now.info, before.info, "NodeInfo (head, messages)");
    assert_eq!(now.subscription, before.subscription, "Subscribe from 0");
    assert_eq!(now.metrics, before.metrics, "/metrics");
    for (path, (b, n)) in watch.paths.iter().zip(before.pages.iter().zip(&now.pages)) {
        assert_eq!((n.0, &n.1), (b.0, &b.1), "status and ETag of {path}");
        assert!(n.2 == b.2, "the body of {path} changed");
    }
    for (id, (b, n)) in watch.shown.iter().zip(before.shown.iter().zip(&now.shown)) {
        assert!(n == b, "tocsin show {id} changed");
    }
    assert!(now.export == before.export, "tocsin export changed");
}

fn held_until(mut b: Body, key: &SecretKey, hour: Timestamp) -> Message {
    b.effective_at = Some(hour);
    sign(b, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embargoed_endorsement_cancel_profile_and_roster_show_nothing_before_the_hour() {
    // The clock stands still (at the real time, so the CLI's own checks agree) until moved.
    let start = Timestamp::now();
    let clock = Clock::manual(start);
    let node = TestNode::start_with_clock(clock.clone(), |_| {}).await;
    let mut c = node.client().await;
    let (union, federation, mill) = (org(171), org(172), org(173));

    // What readers see now: an alert, a call, the union's name, a millers' alert under no name.
    let alert = sign(alert_at(&union, "Four dockers detained", start), &union);
    let mut call = alert_at(&union, "Write to the Minister of Labour", start);
    call.content = Content::Call(ActionCall {
        base: alert_content("Write to the Minister of Labour", &["en"]),
        actions: vec![ActionType::Letter],
        target: "Ministry of Labour of Eastland".into(),
        window_starts_at: None,
        window_ends_at: None,
        deadline: None,
        ilo_conventions: vec!["C087".into()],
        supervisory_body: None,
        goals: Vec::new(),
    });
    let call = sign(call, &union);
    let at = |b: Content| {
        let mut b = body(&union, b);
        b.created_at = start;
        b
    };
    let old_name = sign(
        at(Content::Profile(Profile {
            name: "Eastland Dockworkers' Union".into(),
            ..Profile::default()
        })),
        &union,
    );
    let millers = sign(alert_at(&mill, "Mill gates locked", start), &mill);
    for m in [&alert, &call, &old_name, &millers] {
        publish(&mut c, m).await;
    }

    let hour = start.plus(Duration::from_secs(3600));
    let with_author = |mut b: Body, k: &SecretKey| {
        b.author = k.public();
        b
    };
    let endorsement = held_until(
        with_author(
            at(Content::Endorsement(Endorsement {
                target: call.id(),
                statement: "Geneva stands with the Eastport four".into(),
            })),
            &federation,
        ),
        &federation,
        hour,
    );
    let cancel = held_until(
        at(Content::Cancel(Cancel {
            target: alert.id(),
            reason: "names withheld for the members' safety".into(),
        })),
        &union,
        hour,
    );
    // Made after the old name (the latest profile by created_at is the one served; with equal
    // times the larger id would decide).
    let mut renamed = at(Content::Profile(Profile {
        name: "Eastland Port Workers' Union".into(),
        ..Profile::default()
    }));
    renamed.created_at = start.plus(Duration::from_secs(1));
    let new_name = held_until(renamed, &union, hour);
    let roster = held_until(
        with_author(
            at(Content::Roster(Roster {
                members: vec![RosterMember {
                    key: mill.public(),
                    name: "Northland Millers' Association".into(),
                    country: String::new(),
                }],
            })),
            &federation,
        ),
        &federation,
        hour,
    );
    let embargoed = [&endorsement, &cancel, &new_name, &roster];

    let mut watch = Watch {
        node: &node,
        ids: vec![alert.id(), call.id(), endorsement.id(), cancel.id()],
        paths: vec![
            "/".into(),
            "/feed.atom".into(),
            "/cap.atom".into(),
            format!("/m/{}", alert.id()),
            format!("/m/{}", call.id()),
            format!("/cap/{}.xml", alert.id()),
            format!("/cap/{}.xml", cancel.id()),
        ],
        shown: vec![alert.id(), call.id()],
        dir: tempfile::tempdir().unwrap(),
        exports: 0,
    };
    let before = watch.look().await;
    assert!(before.pages[0].2.contains("Four dockers detained"));
    assert!(before.pages[0].2.contains("Eastland Dockworkers"));
    assert!(!before.pages[0].2.contains("Northland Millers"));

    for m in embargoed {
        publish(&mut c, m).await;
    }
    // Peers have them at once (a plaintext node on loopback trusts a peer's word).
    let (peer_view, _) = backfill(&mut c, Some(org(174).public())).await;
    for m in embargoed {
        assert!(peer_view.iter().any(|(_, id)| *id == m.id()), "{m:?}");
    }
    // A copy relayed again is a duplicate, counted nowhere a reader looks either.
    assert!(matches!(
        c.publish(cancel.signed()).await.unwrap(),
        PublishOutcome::Duplicate { .. }
    ));

    // Readers: nothing moved, on any surface, and the validators still match.
    let during = watch.look().await;
    unchanged(&before, &during, &watch);
    let addr = node.server().http_addr().unwrap();
    for (path, (status, etag, _)) in watch.paths.iter().zip(&before.pages) {
        if *status == 200 {
            let tag = etag.as_deref().unwrap();
            assert_eq!(http_get(addr, path, Some(tag)).await.status, 304, "{path}");
        }
    }

    // The hour: everything at once.
    clock.set(hour);
    // The page is made from the durable log only: once it shows the release, every surface
    // has it.
    let addr_now = node.server().http_addr().unwrap();
    wait_until("the release to reach the page", || {
        let fut = http_get(addr_now, "/", None);
        async move { !fut.await.body.contains("Four dockers detained") }
    })
    .await;
    let after = watch.look().await;
    let (a, b) = (&after.states[0], &after.states[1]);
    assert_eq!(
        a.as_ref().map(|s| (s.0, s.1, s.2.as_str())),
        Some((false, true, "names withheld for the members' safety"))
    );
    assert_eq!(
        b.as_ref().map(|s| s.3.clone()),
        Some(vec!["Geneva stands with the Eastport four".to_string()])
    );
    assert!(after.states[2].is_some() && after.states[3].is_some());
    assert_eq!(after.info.0, node.server().node().store().head());
    assert_eq!(
        after.info.1,
        before.info.1 + 4 - 1,
        "four released, one withdrawn"
    );
    assert!(
        after
            .metrics
            .contains(&format!("tocsin_messages_accepted_total {}", 4 + 4)),
        "{:?}",
        after.metrics
    );
    let released: Vec<Id> = after.subscription.0.iter().map(|(_, id)| *id).collect();
    for m in embargoed {
        assert!(released.contains(&m.id()));
    }
    assert!(!released.contains(&alert.id()));
    let page = &after.pages[0].2;
    assert!(!page.contains("Four dockers detained"));
    assert!(page.contains("Eastland Port Workers"), "{page}");
    assert!(page.contains("Northland Millers"), "{page}");
    assert_eq!(after.pages[3].0, 410);
    assert!(after.pages[3].2.contains("names withheld for the members"));
    assert!(
        after.pages[4]
            .2
            .contains("Geneva stands with the Eastport four")
    );
    assert_eq!(after.pages[6].0, 200, "the cancel's CAP document");
    assert!(after.shown[0].contains("\"cancelled\":true"));
    assert!(after.shown[1].contains("Geneva stands with the Eastport four"));
    assert_ne!(after.export, before.export);
    for (path, (status, etag, _)) in watch.paths.iter().zip(&before.pages) {
        if *status == 200 {
            let tag = etag.as_deref().unwrap();
            assert_ne!(http_get(addr, path, Some(tag)).await.status, 304, "{path}");
        }
    }
}

/// NodeInfo gives a peer that proved itself (a client certificate from a trusted CA) the
/// log's real head and count, and anyone else the readers'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_info_tells_only_authenticated_peers_of_embargoed_arrivals() {
    let pki = crate::tls::pki();
    let start = Timestamp::now();
    let node = TestNode::start_with_clock(Clock::manual(start), |c| {
        crate::tls::files(c, &pki, "geneva")
    })
    .await;
    let reader_tls = crate::tls::trusting(&pki.ca);
    let peer_tls = crate::tls::peer_client(&pki, "baku");
    let author = org(175);
    let mut c = Client::connect_with(&node.url(), &reader_tls)
        .await
        .unwrap();
    publish(
        &mut c,
        &sign(alert_at(&author, "Port strike", start), &author),
    )
    .await;
    let mut b = alert_at(&author, "Coordinated release: file with the CEACR", start);
    b.created_at = start.plus(Duration::from_millis(1));
    publish(
        &mut c,
        &held_until(b, &author, start.plus(Duration::from_secs(3600))),
    )
    .await;

    let reader = c.info().await.unwrap();
    assert_eq!((reader.head_seq, reader.messages), (1, 1));
    let mut p = Client::connect_with(&node.url(), &peer_tls).await.unwrap();
    let peer = p.info().await.unwrap();
    assert_eq!((peer.head_seq, peer.messages), (2, 2));
}
