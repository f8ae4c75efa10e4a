//! `tocsin node …`: run a node, and ask one how it is.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tracing::info;

use super::NodeUrl;
use crate::config::Config;
use crate::server::Server;

/// How long shutdown waits for tasks before it flushes and exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// `tocsin node run`
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The configuration file [default: none; embedded defaults, see config/node.example.toml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The data directory [default: ./tocsin-data] (overrides node.data_dir).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The gRPC address [default: 127.0.0.1:7700] (overrides node.listen).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<SocketAddr>,
    /// The web gateway's address [default: 127.0.0.1:7780] (overrides http.listen).
    #[arg(long, value_name = "HOST:PORT")]
    pub http_listen: Option<SocketAddr>,
}

/// `tocsin node init`
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The configuration file [default: none; embedded defaults].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The data directory [default: ./tocsin-data] (overrides node.data_dir).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

pub(crate) fn init(args: InitArgs) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(d) = args.data {
        config.node.data_dir = d;
    }
    let (key, tls) = crate::node::Node::init(&config).context("creating the node's identity")?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "data directory  {} (0700)",
        config.node.data_dir.display()
    )?;
    writeln!(out, "node key        {}", key.public())?;
    match tls {
        Some(t) => {
            writeln!(
                out,
                "TLS certificate {}",
                crate::tls::fingerprint(&t.identity.cert_pem).unwrap_or_default()
            )?;
            if let Some(ca) = t.own_ca {
                let fp = std::fs::read(&ca)
                    .ok()
                    .and_then(|p| crate::tls::fingerprint(&p))
                    .unwrap_or_default();
                writeln!(out, "node CA         {} ({fp})", ca.display())?;
                writeln!(
                    out,
                    "clients elsewhere trust it with: tocsin --ca {}",
                    ca.display()
                )?;
            }
        }
        None => writeln!(out, "TLS             off (plaintext on loopback)")?,
    }
    Ok(())
}

/// `tocsin node status`
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The node.
    #[command(flatten)]
    pub node: NodeUrl,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

fn init_logging() {
    // The default level logs no client addresses or subscriber identities; the transport
    // crates are held at warn because their debug lines carry peer addresses.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,h2=warn,hyper=warn,tower=warn,tonic=warn")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr()) && super::term::colour_allowed(),
        )
        .try_init();
}

pub(crate) async fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging();
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(d) = args.data {
        config.node.data_dir = d;
    }
    if let Some(l) = args.listen {
        config.node.listen = l;
    }
    if let Some(l) = args.http_listen {
        config.http.listen = l;
    }
    let server = Server::start(config).await?;
    wait_for_signal().await;
    info!("shutting down: refusing new work, finishing what is in flight");
    server.shutdown(SHUTDOWN_GRACE).await?;
    info!("stopped cleanly; every accepted message is on disk");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub(crate) async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let mut client = args.node.connect().await?;
    let info = client.info().await.context("asking the node")?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({
            "node_key": info.node_key.to_hex(),
            "version": info.version,
            "head_seq": info.head_seq,
            "messages": info.messages,
            "uptime_seconds": info.uptime.as_secs(),
            "subscribers": info.subscribers,
            "retry_pending": info.retry_pending,
            "peers": info.peers.iter().map(|p| serde_json::json!({
                "name": p.name, "address": p.address, "connected": p.connected,
                "cursor": p.cursor, "head": p.head, "lag": p.head.saturating_sub(p.cursor),
                "last_error": p.last_error, "retry_pending": p.retry_pending,
            })).collect::<Vec<_>>(),
        });
        serde_json::to_writer(&mut out, &v)?;
        writeln!(out)?;
    } else {
        writeln!(out, "node        {}", client.url())?;
        writeln!(out, "node key    {}", info.node_key)?;
        writeln!(out, "version     {}", info.version)?;
        writeln!(
            out,
            "uptime      {}",
            humantime::format_duration(info.uptime)
        )?;
        writeln!(out, "log head    {}", info.head_seq)?;
        writeln!(out, "messages    {}", info.messages)?;
        writeln!(out, "subscribers {}", info.subscribers)?;
        // Refusals that may change (from-future, not-admitted), tried again until they expire.
        writeln!(out, "retrying    {}", info.retry_pending)?;
        if info.peers.is_empty() {
            writeln!(out, "peers       none")?;
        }
        for p in &info.peers {
            let state = if p.connected {
                "connected"
            } else {
                "disconnected"
            };
            writeln!(
                out,
                "peer {:<12} {:<12} cursor {} lag {} retrying {} {}{}",
                p.name,
                state,
                p.cursor,
                p.head.saturating_sub(p.cursor),
                p.retry_pending,
                p.address,
                if p.last_error.is_empty() {
                    String::new()
                } else {
                    format!("  last error: {}", p.last_error)
                }
            )?;
        }
    }
    Ok(())
}
