//! Shared helpers: fictional organisations, message builders, nodes on 127.0.0.1:0.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use tempfile::TempDir;
use tocsin::config::Config;
use tocsin::federation::Target;
use tocsin::message::*;
use tocsin::node::Clock;
use tocsin::rpc::Client;
use tocsin::server::Server;

/// How long any wait in a test may take before it fails.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A fictional organisation with a deterministic key.
pub fn org(n: u8) -> SecretKey {
    SecretKey::from_seed(&[n; 32])
}

/// An alert in English (and more languages if given) by `key`, created now.
pub fn alert(key: &SecretKey, headline: &str) -> Body {
    alert_at(key, headline, Timestamp::now())
}

/// An alert created at `now`.
pub fn alert_at(key: &SecretKey, headline: &str, now: Timestamp) -> Body {
    Body {
        author: key.public(),
        created_at: now,
        expires_at: Some(now.plus(Duration::from_secs(7 * 24 * 3600))),
        topics: vec!["union-rights".into()],
        countries: vec!["AZ".into()],
        effective_at: None,
        content: Content::Alert(alert_content(headline, &["en"])),
    }
}

/// Alert content with one info block per language.
pub fn alert_content(headline: &str, langs: &[&str]) -> Alert {
    Alert {
        status: Status::Actual,
        category: Category::Arrest,
        urgency: Urgency::Immediate,
        severity: Severity::Severe,
        certainty: Certainty::Observed,
        info: langs
            .iter()
            .map(|l| Info {
                language: l.to_string(),
                headline: format!("{headline} [{l}]"),
                description: "The Eastland Dockworkers' Union reports arrests at dawn.".into(),
                instruction: "Write to the Ministry of Labour of Eastland.".into(),
                link: String::new(),
            })
            .collect(),
    }
}

/// A body of another kind by `key`, created now, living a week.
pub fn body(key: &SecretKey, content: Content) -> Body {
    let now = Timestamp::now();
    Body {
        author: key.public(),
        created_at: now,
        expires_at: match content {
            Content::Revocation(_) => None,
            _ => Some(now.plus(Duration::from_secs(7 * 24 * 3600))),
        },
        topics: vec![],
        countries: vec![],
        effective_at: None,
        content,
    }
}

/// Signs a body.
pub fn sign(body: Body, key: &SecretKey) -> Message {
    Message::sign(body, key).expect("signing a test body")
}

/// Lifts the publishing rate limits and the budget of calls per connection, for tests that
/// publish in bulk (the abuse tests set their own).
pub fn unlimited(config: &mut Config) {
    let l = &mut config.limits;
    l.streams_per_connection_per_second = 1_000_000;
    l.streams_per_connection_burst = 1_000_000;
    l.publish_per_connection_per_second = 1_000_000;
    l.publish_per_connection_burst = 1_000_000;
    l.publish_per_author_per_second = 1_000_000;
    l.publish_per_author_burst = 1_000_000;
    l.publish_per_address_per_second = 1_000_000;
    l.publish_per_address_burst = 1_000_000;
    l.publish_per_prefix_per_second = 1_000_000;
    l.publish_per_prefix_burst = 1_000_000;
    l.new_authors_per_minute = 1_000_000;
    l.new_authors_burst = 1_000_000;
}

/// A node on 127.0.0.1:0 in a temporary directory.
pub struct TestNode {
    pub server: Option<Server>,
    pub dir: TempDir,
    pub config: Config,
    /// The node's clock (the system's unless the test gave one); kept across restarts.
    pub clock: Clock,
}

impl TestNode {
    pub async fn start() -> TestNode {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tune: impl FnOnce(&mut Config)) -> TestNode {
        Self::start_with_clock(Clock::system(), tune).await
    }

    /// A node whose clock is `clock`: skewed, or standing still until the test moves it.
    pub async fn start_with_clock(clock: Clock, tune: impl FnOnce(&mut Config)) -> TestNode {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::default();
        config.node.data_dir = dir.path().join("data");
        config.node.listen = "127.0.0.1:0".parse().unwrap();
        unlimited(&mut config);
        // Plaintext on loopback unless a test asks for TLS (tests/it/tls.rs).
        config.tls.mode = tocsin::config::TlsMode::Off;
        config.http.listen = "127.0.0.1:0".parse().unwrap();
        tune(&mut config);
        let server = Server::start_with_clock(config.clone(), clock.clone())
            .await
            .expect("starting a node");
        TestNode {
            server: Some(server),
            dir,
            config,
            clock,
        }
    }

    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("the node is running")
    }

    pub fn url(&self) -> String {
        self.server().url()
    }

    pub async fn client(&self) -> Client {
        Client::connect(&self.url()).await.expect("connecting")
    }

    /// Stops the node gracefully, keeping its directory.
    pub async fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown(Duration::from_secs(10))
                .await
                .expect("clean shutdown");
        }
    }

    /// Starts the node again on the same directory (on a new port).
    pub async fn restart(&mut self) {
        self.stop().await;
        let server = Server::start_with_clock(self.config.clone(), self.clock.clone())
            .await
            .expect("restarting");
        self.server = Some(server);
    }
}

/// Waits for `cond` to hold, polling, failing the test after [`PATIENCE`].
pub async fn wait_until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if cond().await {
            return;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs a future with [`PATIENCE`] as its time limit.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// A TCP proxy on a loopback port, standing for a network link that a test can cut and heal.
pub struct Proxy {
    pub addr: std::net::SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
    target: tokio::sync::watch::Sender<std::net::SocketAddr>,
}

impl Proxy {
    /// Starts a proxy to `target`.
    pub async fn start(target: std::net::SocketAddr) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, cut_rx) = tokio::sync::watch::channel(false);
        let (target, target_rx) = tokio::sync::watch::channel(target);
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if *cut_rx.borrow() {
                    continue; // dropped: the link is down
                }
                let mut cut_rx = cut_rx.clone();
                let target = *target_rx.borrow();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_rx.wait_for(|c| *c) => {}
                    }
                });
            }
        });
        Proxy { addr, cut, target }
    }

    /// Sends new connections to `target` from now on (a node restarted on another port).
    pub fn retarget(&self, target: std::net::SocketAddr) {
        self.target.send_replace(target);
    }

    /// Takes the link down: open connections are closed and new ones dropped.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Brings the link back.
    pub fn heal(&self) {
        self.cut.send_replace(false);
    }
}

/// Nodes joined by links; each link is followed both ways, through a proxy.
pub struct Mesh {
    pub nodes: Vec<TestNode>,
    /// `links[(a, b)]`: the proxy through which node a follows node b.
    pub links: std::collections::HashMap<(usize, usize), Proxy>,
}

impl Mesh {
    /// Starts `n` nodes joined by `edges` (each followed in both directions).
    pub async fn start(n: usize, edges: &[(usize, usize)]) -> Mesh {
        Self::start_with_clocks(edges, (0..n).map(|_| Clock::system()).collect()).await
    }

    /// Starts one node per clock, joined by `edges`: nodes whose clocks disagree.
    pub async fn start_with_clocks(edges: &[(usize, usize)], clocks: Vec<Clock>) -> Mesh {
        let n = clocks.len();
        let mut listeners = Vec::new();
        for _ in 0..n {
            listeners.push(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        let addrs: Vec<_> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        let mut links = std::collections::HashMap::new();
        let mut peers: Vec<Vec<tocsin::config::PeerConfig>> = vec![Vec::new(); n];
        for &(a, b) in edges {
            for (from, to) in [(a, b), (b, a)] {
                let proxy = Proxy::start(addrs[to]).await;
                peers[from].push(tocsin::config::PeerConfig {
                    name: format!("n{to}"),
                    address: format!("http://{}", proxy.addr),
                    ca: None,
                });
                links.insert((from, to), proxy);
            }
        }
        let mut nodes = Vec::new();
        for (i, listener) in listeners.into_iter().enumerate() {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut config = Config::default();
            config.node.data_dir = dir.path().join("data");
            config.node.listen = addrs[i];
            config.http.listen = "127.0.0.1:0".parse().unwrap();
            config.node.name = format!("n{i}");
            config.peers = peers[i].clone();
            config.federation.reconnect_min = Duration::from_millis(50);
            config.federation.reconnect_max = Duration::from_millis(500);
            unlimited(&mut config);
            config.tls.mode = tocsin::config::TlsMode::Off;
            let clock = clocks[i].clone();
            let server = Server::start_on_with_clock(config.clone(), listener, clock.clone())
                .await
                .expect("starting");
            nodes.push(TestNode {
                server: Some(server),
                dir,
                config,
                clock,
            });
        }
        Mesh { nodes, links }
    }

    /// Restarts node `i` on its directory, on a port of its own choosing (the one it had may
    /// be taken by anything on the machine meanwhile), and points the links to it there.
    pub async fn restart(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.config.node.listen = "127.0.0.1:0".parse().unwrap();
        node.restart().await;
        let addr = node.server().grpc_addr();
        for ((_, to), proxy) in &self.links {
            if *to == i {
                proxy.retarget(addr);
            }
        }
    }

    /// Waits until every node stores `n` messages.
    pub async fn wait_all_have(&self, n: u64) {
        for (i, node) in self.nodes.iter().enumerate() {
            let store = node.server().node().store().clone();
            wait_until(&format!("node {i} to hold {n} messages"), || {
                // Stored and durable: the count sees a commit before its flush, the head after.
                let count = store.counts().map(|c| c.messages).unwrap_or(0);
                let head = store.head();
                async move { count >= n && head >= n }
            })
            .await;
        }
    }
}

/// A node running as a child process of the real binary, for tests that kill it.
pub struct ChildNode {
    pub child: std::process::Child,
    pub url: String,
}

impl ChildNode {
    /// Starts `tocsin node run --config <file>` and waits until it listens.
    pub fn start(config_file: &std::path::Path) -> ChildNode {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tocsin"))
            .args(["node", "run", "--config"])
            .arg(config_file)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawning tocsin");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if !sent && let Some(i) = line.find("ready on http://") {
                    let url = line[i + "ready on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let _ = tx.send(url);
                    sent = true;
                }
            }
        });
        let url = rx
            .recv_timeout(PATIENCE)
            .expect("the child node did not start");
        ChildNode { child, url }
    }

    /// SIGKILL: no flush, no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every id a node holds with content: its items in the peer view, listed by `Items` from
/// loopback.
pub async fn held(node: &TestNode) -> BTreeSet<Id> {
    let (items, _) = node
        .client()
        .await
        .items(Some(org(250).public()))
        .await
        .expect("listing items");
    items.into_iter().map(|(_, id)| id).collect()
}

/// The node as the target of a reconciliation from another, as a configured peer named `name`.
pub async fn peer_target(node: &TestNode, name: &str) -> Target {
    Target {
        name: name.to_string(),
        node_key: node.client().await.info().await.unwrap().node_key,
        authenticated: true,
    }
}

/// A relay client whose connection comes from `local` (another loopback address: another
/// source address to the node).
pub async fn client_from(
    url: &str,
    local: std::net::IpAddr,
) -> tocsin::proto::relay_client::RelayClient<tonic::transport::Channel> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())
        .unwrap()
        .local_address(Some(local))
        .connect()
        .await
        .expect("connecting from another loopback address");
    tocsin::proto::relay_client::RelayClient::new(channel).max_decoding_message_size(256 * 1024)
}
