//! `tocsin demo`: a small federation of three nodes in one process, fictional organisations
//! posting alerts and calls in several languages, reporting what they did for a call (its
//! tally rising against its goals), and each message shown arriving everywhere.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::names::Names;
use super::render::{Facts, Reader};
use super::tally;
use super::term::{Clock, Style};
use crate::config::{Config, PeerConfig};
use crate::message::{
    ActionCall, ActionReport, ActionType, Alert, Body, Category, Certainty, Content, Count,
    Endorsement, Filing, Filter, Goal, Id, Info, Kind, Measure, Message, Profile, Roster,
    RosterMember, SecretKey, Severity, Status, SupervisoryBody, Timestamp, Update, UpdateContent,
    Urgency,
};
use crate::rpc::{Client, ClientEvent, PublishOutcome};
use crate::server::Server;

/// `tocsin demo`
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Keep the three nodes running after the demo (Ctrl-C stops them), to try other commands
    /// against them.
    #[arg(long)]
    pub keep: bool,
}

/// How long one message may take to reach every node before the demo gives up.
const PATIENCE: Duration = Duration::from_secs(20);

const NODES: [&str; 3] = ["baku", "geneva", "saopaulo"];

/// A fictional organisation of the demo.
struct Org {
    key: SecretKey,
    name: &'static str,
    country: &'static str,
    description: &'static str,
    /// The node it posts to.
    home: usize,
}

fn info(language: &str, headline: &str, description: &str, instruction: &str) -> Info {
    Info {
        language: language.into(),
        headline: headline.into(),
        description: description.into(),
        instruction: instruction.into(),
        link: String::new(),
    }
}

fn body(org: &Org, content: Content, now: Timestamp, life_days: u64) -> Body {
    Body {
        author: org.key.public(),
        created_at: now,
        expires_at: Some(now.plus(Duration::from_secs(life_days * 86400))),
        topics: if matches!(content.kind(), Kind::Profile | Kind::Roster) {
            vec![]
        } else {
            vec!["union-rights".into(), "dockworkers".into()]
        },
        countries: if matches!(content.kind(), Kind::Profile | Kind::Roster) {
            vec![]
        } else {
            vec!["AZ".into()]
        },
        effective_at: None,
        content,
    }
}

fn sign(body: Body, org: &Org) -> anyhow::Result<Message> {
    crate::message::validate(&body, body.created_at).context("a demo message is invalid")?;
    Message::sign(body, &org.key).context("signing a demo message")
}

fn arrest_alert() -> Alert {
    Alert {
        status: Status::Exercise,
        category: Category::Arrest,
        urgency: Urgency::Immediate,
        severity: Severity::Severe,
        certainty: Certainty::Observed,
        info: vec![
            info(
                "en",
                "Four leaders of the Eastport dockworkers' union arrested",
                "At dawn today police detained four elected leaders of the Eastland Dockworkers' \
                 Union at their homes in Eastport, two days before a strike ballot. No charges \
                 have been announced.",
                "Write to the Prosecutor General of Eastland demanding their immediate release.",
            ),
            info(
                "fr",
                "Quatre dirigeants du syndicat des dockers d'Eastport arrêtés",
                "À l'aube, la police a arrêté à leur domicile quatre dirigeants élus du syndicat \
                 des dockers d'Eastland, deux jours avant un vote de grève. Aucune accusation n'a \
                 été annoncée.",
                "Écrivez au procureur général d'Eastland pour exiger leur libération immédiate.",
            ),
            info(
                "es",
                "Detenidos cuatro dirigentes del sindicato portuario de Eastport",
                "Al amanecer, la policía detuvo en sus domicilios a cuatro dirigentes electos del \
                 Sindicato de Estibadores de Eastland, dos días antes de una votación de huelga. \
                 No se han anunciado cargos.",
                "Escriba al Fiscal General de Eastland exigiendo su liberación inmediata.",
            ),
            info(
                "az",
                "Eastport liman işçiləri həmkarlar ittifaqının dörd rəhbəri həbs edilib",
                "Bu gün səhər tezdən polis Eastland Liman İşçiləri Həmkarlar İttifaqının dörd \
                 seçilmiş rəhbərini tətil səsverməsindən iki gün əvvəl evlərində saxlayıb. Heç \
                 bir ittiham elan edilməyib.",
                "Eastland Baş Prokuroruna yazaraq onların dərhal azad edilməsini tələb edin.",
            ),
        ],
    }
}

fn release_update(mut a: Alert) -> Alert {
    a.urgency = Urgency::Expected;
    a.info = vec![
        info(
            "en",
            "Two of the four Eastport union leaders released; two still held",
            "Two of the four detained leaders were released this evening without charge. Two \
             remain in custody; their lawyers have not been allowed to see them.",
            "Keep writing to the Prosecutor General of Eastland until all four are free.",
        ),
        info(
            "fr",
            "Deux des quatre dirigeants syndicaux d'Eastport libérés ; deux toujours détenus",
            "Deux des quatre dirigeants arrêtés ont été libérés ce soir sans inculpation. Deux \
             restent en détention ; leurs avocats n'ont pas pu les voir.",
            "Continuez d'écrire au procureur général d'Eastland jusqu'à la libération des quatre.",
        ),
        info(
            "es",
            "Liberados dos de los cuatro dirigentes sindicales de Eastport; dos siguen detenidos",
            "Dos de los cuatro dirigentes detenidos fueron liberados esta tarde sin cargos. Dos \
             siguen bajo custodia; sus abogados no han podido verlos.",
            "Siga escribiendo al Fiscal General de Eastland hasta que los cuatro estén libres.",
        ),
        info(
            "az",
            "Eastport həmkarlar ittifaqının dörd rəhbərindən ikisi azad edilib, ikisi hələ də həbsdədir",
            "Saxlanılan dörd rəhbərdən ikisi bu axşam ittiham irəli sürülmədən azad edilib. İkisi \
             hələ də həbsdədir; vəkillərinə onlarla görüşməyə icazə verilməyib.",
            "Dördü də azad edilənə qədər Eastland Baş Prokuroruna yazmağa davam edin.",
        ),
    ];
    a
}

fn ilo_call(now: Timestamp) -> ActionCall {
    ActionCall {
        base: Alert {
            status: Status::Exercise,
            category: Category::Arrest,
            urgency: Urgency::Expected,
            severity: Severity::Severe,
            certainty: Certainty::Observed,
            info: vec![
                info(
                    "en",
                    "File observations with the ILO on the Eastport arrests",
                    "Eastland has ratified Conventions 87 and 98. Affiliates are asked to send \
                     observations to the ILO Committee of Experts and letters to the Government \
                     of Eastland before the deadline.",
                    "Use the federation's model letter and copy the secretariat.",
                ),
                info(
                    "fr",
                    "Déposez des observations auprès de l'OIT sur les arrestations d'Eastport",
                    "Eastland a ratifié les conventions 87 et 98. Les affiliés sont invités à \
                     envoyer des observations à la Commission d'experts de l'OIT et des lettres \
                     au gouvernement d'Eastland avant la date limite.",
                    "Utilisez la lettre type de la fédération, avec copie au secrétariat.",
                ),
                info(
                    "es",
                    "Presente observaciones ante la OIT sobre las detenciones de Eastport",
                    "Eastland ha ratificado los Convenios 87 y 98. Se pide a las afiliadas que \
                     envíen observaciones a la Comisión de Expertos de la OIT y cartas al \
                     Gobierno de Eastland antes de la fecha límite.",
                    "Utilice la carta modelo de la federación, con copia a la secretaría.",
                ),
            ],
        },
        actions: vec![ActionType::IloObservation, ActionType::Letter],
        target: "Government of Eastland".into(),
        window_starts_at: None,
        window_ends_at: None,
        deadline: Some(now.plus(Duration::from_secs(10 * 86400))),
        ilo_conventions: vec!["C087".into(), "C098".into()],
        supervisory_body: Some(SupervisoryBody::Ceacr),
        goals: vec![
            Goal {
                measure: Measure::Letters,
                target: 500,
                currency: String::new(),
            },
            Goal {
                measure: Measure::Observations,
                target: 3,
                currency: String::new(),
            },
            Goal {
                measure: Measure::Organisations,
                target: 3,
                currency: String::new(),
            },
        ],
    }
}

/// A report on `target`: letters sent so far, and an observation filed with the CEACR if any.
fn report(target: Id, letters: u64, filed: Option<Timestamp>, statement: &str) -> Content {
    Content::Report(ActionReport {
        target,
        counts: vec![Count {
            measure: Measure::Letters,
            value: letters,
            currency: String::new(),
        }],
        filings: filed
            .map(|at| Filing {
                body: SupervisoryBody::Ceacr,
                filed_at: at,
                reference: "Observation on C087, Eastland".into(),
            })
            .into_iter()
            .collect(),
        as_of: None,
        statement: statement.into(),
        evidence: String::new(),
    })
}

/// Binds three loopback listeners and starts three nodes in a line, each following its
/// neighbours: baku ⇄ geneva ⇄ saopaulo (what reaches saopaulo from baku is relayed by geneva).
async fn start_nodes(dir: &std::path::Path) -> anyhow::Result<Vec<Server>> {
    let mut listeners = Vec::new();
    for _ in NODES {
        listeners.push(
            TcpListener::bind("127.0.0.1:0")
                .await
                .context("binding a loopback port")?,
        );
    }
    let addrs: Vec<_> = listeners
        .iter()
        .map(|l| l.local_addr())
        .collect::<Result<_, _>>()?;
    let mut configs = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let mut config = Config::default();
        config.node.data_dir = dir.join(NODES[i]);
        config.node.listen = *addr;
        config.node.name = NODES[i].into();
        // TLS as in production: each node makes its own CA and certificate; the web gateway
        // on a free port so the demo never collides with a node already running here.
        config.http.listen = "127.0.0.1:0".parse().context("a loopback address")?;
        config.federation.reconnect_min = Duration::from_millis(50);
        config.federation.reconnect_max = Duration::from_millis(500);
        crate::node::Node::init(&config)
            .with_context(|| format!("creating the {} node's identity", NODES[i]))?;
        configs.push(config);
    }
    let mut servers = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let mut config = configs[i].clone();
        for j in [i.wrapping_sub(1), i + 1] {
            if let Some(addr) = addrs.get(j) {
                config.peers.push(PeerConfig {
                    name: NODES[j].into(),
                    address: format!("https://{addr}"),
                    ca: Some(dir.join(NODES[j]).join("tls/ca.crt")),
                });
            }
        }
        servers.push(
            Server::start_on(config, listener)
                .await
                .with_context(|| format!("starting the {} node", NODES[i]))?,
        );
    }
    Ok(servers)
}

/// A client of one demo node, trusting the CA the node made for itself.
async fn connect(server: &Server) -> anyhow::Result<Client> {
    let ca = server.node().tls().and_then(|t| t.own_ca.as_deref());
    let tls =
        crate::rpc::ClientTls::trusting(ca).context("reading a demo node's CA certificate")?;
    Ok(Client::connect_with(&server.url(), &tls).await?)
}

/// A demo node's web address (its gateway listens on a port the system picked).
fn web_url(server: &Server) -> String {
    server.http_addr().map_or_else(
        || "(no web gateway)".to_string(),
        |a| format!("http://{a}/"),
    )
}

/// The `--ca` flag that trusts a demo node, for the commands printed with `--keep`.
fn ca_flag(server: &Server) -> String {
    server
        .node()
        .tls()
        .and_then(|t| t.own_ca.as_ref())
        .map(|p| format!(" --ca {}", p.display()))
        .unwrap_or_default()
}

/// Watches every node's feed and reports (node, id) as each message arrives there.
/// The clients share their connections with the demo's (a `Client` clone is the same channel).
async fn watch(clients: &[Client]) -> anyhow::Result<mpsc::UnboundedReceiver<(usize, Id)>> {
    let (tx, rx) = mpsc::unbounded_channel();
    for (i, c) in clients.iter().enumerate() {
        let mut client = c.clone();
        let mut events = client.subscribe(&Filter::default(), 0, None).await?;
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(Ok(event)) = events.next().await {
                if let ClientEvent::Delivery { message, .. } = event
                    && tx.send((i, message.id())).is_err()
                {
                    return;
                }
            }
        });
    }
    Ok(rx)
}

/// The demo's running state: the nodes, a client per node, and what arrived where.
struct Demo {
    servers: Vec<Server>,
    clients: Vec<Client>,
    arrivals: mpsc::UnboundedReceiver<(usize, Id)>,
    seen: HashMap<Id, [bool; 3]>,
    style: Style,
}

impl Demo {
    /// Posts `m` to node `home` and prints it arriving on every node.
    async fn post(&mut self, home: usize, m: &Message, what: &str) -> anyhow::Result<()> {
        let st = self.style;
        let mut out = std::io::stdout();
        writeln!(
            out,
            "\n{} {what}",
            st.label(&format!("{} → {}:", m.kind().as_str(), NODES[home]))
        )?;
        let started = Instant::now();
        match self.clients[home].publish(m.signed()).await? {
            PublishOutcome::Accepted { seq, .. } => {
                writeln!(out, "  accepted as #{seq} at {}", self.servers[home].url())?;
            }
            other => anyhow::bail!("the {} node answered {other:?}", NODES[home]),
        }
        let id = m.id();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if self.seen.get(&id).is_some_and(|s| s.iter().all(|b| *b)) {
                break;
            }
            let next = tokio::time::timeout_at(deadline, self.arrivals.recv())
                .await
                .map_err(|_| {
                    anyhow::anyhow!(
                        "{} did not reach every node within {PATIENCE:?}",
                        id.short()
                    )
                })?
                .context("the watchers stopped")?;
            let (node, got) = next;
            let slot = &mut self.seen.entry(got).or_default()[node];
            if !*slot {
                *slot = true;
                if got == id {
                    let how = if node == home {
                        "stored"
                    } else if node.abs_diff(home) == 1 {
                        "relayed directly"
                    } else {
                        "relayed via geneva"
                    };
                    writeln!(
                        out,
                        "  {} {:<9} +{:>4} ms  {}",
                        st.good("✓"),
                        NODES[node],
                        started.elapsed().as_millis(),
                        st.dim(how)
                    )?;
                }
            }
        }
        out.flush()?;
        Ok(())
    }
}

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let style = Style::stdout();
    let dir = tempfile::Builder::new()
        .prefix("tocsin-demo-")
        .tempdir()
        .context("creating a temporary directory")?;
    let servers = start_nodes(dir.path()).await?;
    let mut out = std::io::stdout();
    writeln!(
        out,
        "{}",
        style.bold("Three Tocsin nodes in a line, each following its neighbours:")
    )?;
    writeln!(out, "  baku ⇄ geneva ⇄ saopaulo")?;
    for (i, s) in servers.iter().enumerate() {
        writeln!(out, "  {:<9} {}  web {}", NODES[i], s.url(), web_url(s))?;
    }
    writeln!(
        out,
        "{}",
        style.dim(
            "Every organisation and person below is fictional; messages are marked as an exercise."
        )
    )?;
    let mut clients = Vec::new();
    for s in &servers {
        clients.push(connect(s).await?);
    }
    let arrivals = watch(&clients).await?;
    let mut demo = Demo {
        servers,
        clients,
        arrivals,
        seen: HashMap::new(),
        style,
    };
    let result = script(&mut demo).await;
    if result.is_ok() && args.keep {
        writeln!(
            out,
            "\n{}",
            style.bold("The nodes stay up. Try, in another terminal:")
        )?;
        let url = |i: usize| format!("{}{}", demo.servers[i].url(), ca_flag(&demo.servers[i]));
        writeln!(
            out,
            "  tocsin follow --node {} --lang es --until-caught-up",
            url(2)
        )?;
        writeln!(out, "  tocsin follow --node {} --lang az", url(0))?;
        writeln!(out, "  tocsin node status --node {}", url(1))?;
        writeln!(out, "The nodes' pages, in a browser:")?;
        for (i, s) in demo.servers.iter().enumerate() {
            writeln!(out, "  {:<9} {}", NODES[i], web_url(s))?;
        }
        writeln!(out, "Ctrl-C stops them and removes their data.")?;
        out.flush()?;
        let _ = tokio::signal::ctrl_c().await;
    }
    for s in demo.servers {
        let _ = s.shutdown(Duration::from_secs(5)).await;
    }
    result
}

async fn script(demo: &mut Demo) -> anyhow::Result<()> {
    let orgs = [
        Org {
            key: SecretKey::generate().map_err(|e| anyhow::anyhow!("making a demo key: {e}"))?,
            name: "Eastland Dockworkers' Union",
            country: "AZ",
            description: "Dockworkers of the port of Eastport (fictional).",
            home: 0,
        },
        Org {
            key: SecretKey::generate().map_err(|e| anyhow::anyhow!("making a demo key: {e}"))?,
            name: "Global Dockers' Federation",
            country: "CH",
            description: "An international federation of port workers' unions (fictional).",
            home: 1,
        },
        Org {
            key: SecretKey::generate().map_err(|e| anyhow::anyhow!("making a demo key: {e}"))?,
            name: "Sindicato dos Metalúrgicos do Vale Sul",
            country: "BR",
            description: "Metalworkers of the Vale Sul (fictional).",
            home: 2,
        },
    ];
    let [union, federation, metal] = &orgs;
    let now = Timestamp::now();

    for org in &orgs {
        let profile = Content::Profile(Profile {
            name: org.name.into(),
            country: org.country.into(),
            website: String::new(),
            description: org.description.into(),
        });
        let m = sign(body(org, profile, now, 365), org)?;
        demo.post(org.home, &m, &format!("the profile of {}", org.name))
            .await?;
    }
    let roster = Content::Roster(Roster {
        members: [union, metal]
            .iter()
            .map(|o| RosterMember {
                key: o.key.public(),
                name: o.name.into(),
                country: o.country.into(),
            })
            .collect(),
    });
    let m = sign(body(federation, roster, now, 365), federation)?;
    demo.post(1, &m, "the federation's roster of affiliates")
        .await?;

    let alert = sign(body(union, Content::Alert(arrest_alert()), now, 30), union)?;
    demo.post(
        0,
        &alert,
        "“Four leaders of the Eastport dockworkers' union arrested” (en, fr, es, az)",
    )
    .await?;

    let call = sign(
        body(federation, Content::Call(ilo_call(now)), now, 30),
        federation,
    )?;
    demo.post(
        1,
        &call,
        "“File observations with the ILO on the Eastport arrests” (en, fr, es; deadline in 10 days)",
    )
    .await?;

    let endorsement = Content::Endorsement(Endorsement {
        target: alert.id(),
        statement:
            "Os metalúrgicos do Vale Sul exigem a libertação imediata dos quatro dirigentes.".into(),
    });
    let m = sign(body(metal, endorsement, now, 30), metal)?;
    demo.post(2, &m, "the metalworkers endorse the alert")
        .await?;

    let update = Content::Update(Update {
        supersedes: alert.id(),
        content: UpdateContent::Alert(release_update(arrest_alert())),
    });
    let later = Timestamp::now().max(now.plus(Duration::from_millis(1)));
    let m = sign(body(union, update, later, 30), union)?;
    demo.post(
        0,
        &m,
        "the union updates its alert: two released, two still held",
    )
    .await?;

    // Three organisations report what they did for the call, at three nodes; the union
    // revises its count. Each tally is read from the far node, where the reports were relayed.
    let reports = [
        (
            union,
            120,
            Some(now),
            "Letters from the Eastport branch; our observation is filed.",
        ),
        (metal, 85, None, "Cartas enviadas pelas seções do Vale Sul."),
        (federation, 40, Some(now), ""),
        (
            union,
            210,
            Some(now),
            "Revised: the night shift's letters are in.",
        ),
    ];
    for (n, (org, letters, filed, statement)) in reports.into_iter().enumerate() {
        let at = Timestamp::now().max(now.plus(Duration::from_millis(n as u64 + 2)));
        let m = sign(
            body(org, report(call.id(), letters, filed, statement), at, 30),
            org,
        )?;
        let what = if n == 3 {
            format!("{} revises its report: {letters} letters in all", org.name)
        } else {
            format!("{} reports {letters} letters sent", org.name)
        };
        demo.post(org.home, &m, &what).await?;
        let state = demo.clients[2]
            .get(call.id())
            .await?
            .context("the far node lost the call")?;
        let goals = call.body().goals().to_vec();
        let mut out = std::io::stdout();
        if let Some(line) = tally::running(&goals, &state.tally) {
            writeln!(out, "  {} {line}", demo.style.bold("tally on saopaulo:"))?;
        }
        for p in state.tally.progress(&goals) {
            writeln!(out, "    {}", tally::goal_line(&p))?;
        }
    }

    // What a reader at the far end sees, in Spanish.
    let mut far = demo.clients[2].clone();
    let names = Names::load(&far).await?;
    let clock = Clock::system();
    let langs = vec!["es".to_string()];
    let reader = Reader {
        style: demo.style,
        clock: &clock,
        names: &names,
        langs: &langs,
        full: false,
    };
    let mut out = std::io::stdout();
    writeln!(
        out,
        "\n{}",
        demo.style
            .bold("On saopaulo, a reader who follows in Spanish (tocsin follow --lang es) sees:")
    )?;
    for id in [alert.id(), call.id()] {
        let state = far.get(id).await?.context("the far node lost a message")?;
        let current = state
            .current
            .and_then(|m| Message::from_store(m).ok())
            .context("the far node shows no current version")?;
        let facts = Facts {
            endorsements: Some(state.endorsers.len()),
            updates: state.updates.len(),
            target_headline: None,
            tally: tally::running(current.body().goals(), &state.tally),
        };
        write!(out, "\n{}", reader.entry(None, &current, &facts))?;
    }
    out.flush()?;
    Ok(())
}
