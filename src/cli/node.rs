//! `tocsin node …`: run a node, and ask one how it is.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use tracing::info;

use super::{Failure, NodeUrl};
use crate::config::Config;
use crate::node::{NodeInfo, PeerStatus, ReconcileStatus};
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
    /// The configuration file [default: none; embedded defaults]. When it does not exist yet,
    /// it is written with the node's name, data directory and addresses (from the flags below),
    /// so that `tocsin node run --config FILE` runs this node, and `tocsin peer invite`/`join`
    /// have a file to add peers to.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The data directory [default: ./tocsin-data] (overrides node.data_dir).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// The node's name in logs, status and peers' configs (a new config file only).
    #[arg(long, value_name = "NAME", requires = "config")]
    pub name: Option<String>,
    /// The gRPC address [default: 127.0.0.1:7700] (a new config file only).
    #[arg(long, value_name = "HOST:PORT", requires = "config")]
    pub listen: Option<SocketAddr>,
    /// The web gateway's address [default: 127.0.0.1:7780] (a new config file only).
    #[arg(long, value_name = "HOST:PORT", requires = "config")]
    pub http_listen: Option<SocketAddr>,
}

/// Writes a new config file for `node init` from its flags: `[node]` and `[http]` only, with
/// what is not given left to the embedded defaults. An existing file is never rewritten: the
/// flags that would change it are refused with what to do instead.
fn write_config(path: &std::path::Path, args: &InitArgs) -> anyhow::Result<bool> {
    let given = args.name.is_some() || args.listen.is_some() || args.http_listen.is_some();
    if path.exists() {
        if given {
            return Err(Failure::usage(format!(
                "{} exists already and node init does not rewrite it: edit its [node] and [http] \
                 sections, or give a new file to --config",
                path.display()
            )));
        }
        return Ok(false);
    }
    let mut doc = toml_edit::DocumentMut::new();
    doc.decor_mut().set_prefix(
        "# A Tocsin node's configuration, written by `tocsin node init`. Every setting and its\n\
         # default: config/node.example.toml. Peers are added by `tocsin peer invite`/`join` or\n\
         # `tocsin peer add`; a running node takes peer changes within seconds.\n",
    );
    let mut node = toml_edit::Table::new();
    if let Some(name) = &args.name {
        node["name"] = toml_edit::value(name.as_str());
    }
    if let Some(data) = &args.data {
        node["data_dir"] = toml_edit::value(data.display().to_string());
    }
    if let Some(listen) = args.listen {
        node["listen"] = toml_edit::value(listen.to_string());
    }
    doc["node"] = toml_edit::Item::Table(node);
    if let Some(listen) = args.http_listen {
        let mut http = toml_edit::Table::new();
        http["listen"] = toml_edit::value(listen.to_string());
        doc["http"] = toml_edit::Item::Table(http);
    }
    let text = doc.to_string();
    // Never write a file the node would refuse at start.
    Config::parse(&text)
        .map_err(|e| Failure::usage(format!("the config would be refused: {e}")))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // create_new: a file that appeared meanwhile is not overwritten.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(true)
}

pub(crate) fn init(args: InitArgs) -> anyhow::Result<()> {
    let written = match &args.config {
        Some(path) => write_config(path, &args)?,
        None => false,
    };
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(d) = args.data {
        config.node.data_dir = d;
    }
    let (key, tls) = crate::node::Node::init(&config).context("creating the node's identity")?;
    let mut out = std::io::stdout().lock();
    if let Some(path) = args.config.as_ref().filter(|_| written) {
        writeln!(
            out,
            "config file     {} (run it: tocsin node run --config {})",
            path.display(),
            path.display()
        )?;
    }
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
                // `--ca` goes after the subcommand; any command that talks to the node takes it.
                writeln!(
                    out,
                    "clients trust it with: {}",
                    crate::server::trust_command(config.node.listen, &config.tls.names, &ca)
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
    // crates are held at warn because their debug lines carry peer addresses, and h2 at error
    // because it warns once per connection it ends for a protocol abuse (rapid reset): an
    // attacker would write the log. The node's edge counts and logs its refusals once a minute.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,h2=error,hyper=warn,tower=warn,tonic=warn")
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
    // The command line's addresses are held to the same rules as the file's (plaintext only
    // on loopback, among others).
    if args.listen.is_some() || args.http_listen.is_some() {
        config
            .check()
            .map_err(|e| anyhow::anyhow!("with the addresses given on the command line: {e}"))?;
    }
    let server = Server::start(config).await?;
    wait_for_signal(server.node()).await;
    info!("shutting down: refusing new work, finishing what is in flight");
    server.shutdown(SHUTDOWN_GRACE).await?;
    info!("stopped cleanly; every accepted message is on disk");
    Ok(())
}

/// Waits for Ctrl-C or SIGTERM; on SIGHUP, reloads the config file's peers and client CAs
/// (`peering::reload`) and waits on.
async fn wait_for_signal(node: &crate::node::Node) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hangup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return,
                _ = term.recv() => return,
                _ = hangup.recv() => {
                    let reloaded = crate::peering::reload(node).await;
                    crate::peering::log_reload(&reloaded, "SIGHUP");
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = node;
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub(crate) async fn status(args: StatusArgs) -> anyhow::Result<()> {
    let mut client = args.node.connect().await?;
    let info = client.info().await.context("asking the node")?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &status_json(&info))?;
        writeln!(out)?;
    } else {
        write_status(&mut out, client.url(), &info)?;
    }
    Ok(())
}

/// `tocsin node status --json`.
fn status_json(info: &NodeInfo) -> serde_json::Value {
    serde_json::json!({
        "node_key": info.node_key.to_hex(),
        "version": info.version,
        "head_seq": info.head_seq,
        "messages": info.messages,
        "uptime_seconds": info.uptime.as_secs(),
        "subscribers": info.subscribers,
        "retry_pending": info.retry_pending,
        "log_id": info.log_id.map(|l| l.to_string()),
        "opened_head": info.opened_head,
        "peers": info.peers.iter().map(|p| serde_json::json!({
            "name": p.name, "address": p.address, "connected": p.connected,
            "cursor": p.cursor, "head": p.head, "lag": p.head.saturating_sub(p.cursor),
            "last_error": p.last_error, "retry_pending": p.retry_pending,
            "embargo_early": p.embargo_early,
            "log_id": p.log_id.map(|l| l.to_string()), "log_changes": p.log_changes,
            "last_reconcile": p.last_reconcile.as_ref().map(reconcile_json),
        })).collect::<Vec<_>>(),
        "store_problem": info.store_problem,
        "refused_handshakes": info.refused_handshakes.iter().map(|r| serde_json::json!({
            "cause": r.cause, "count": r.count, "last_detail": r.last_detail,
        })).collect::<Vec<_>>(),
    })
}

/// The lines of `tocsin node status` on the TLS handshakes the node refused, by cause:
/// "TLS handshakes refused: 3 client certificate from an untrusted CA (issued by …)".
fn write_refused_handshakes(out: &mut impl Write, info: &NodeInfo) -> std::io::Result<()> {
    use crate::node::metrics::TlsCause;
    for r in &info.refused_handshakes {
        let words: &str = match TlsCause::from_label(&r.cause) {
            Some(cause) => cause.words(),
            None => &r.cause,
        };
        let detail = if r.last_detail.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.last_detail)
        };
        writeln!(out, "TLS handshakes refused: {} {words}{detail}", r.count)?;
    }
    Ok(())
}

/// `tocsin node status` for a person.
fn write_status(out: &mut impl Write, url: &str, info: &NodeInfo) -> std::io::Result<()> {
    writeln!(out, "node        {url}")?;
    writeln!(out, "node key    {}", info.node_key)?;
    writeln!(out, "version     {}", info.version)?;
    writeln!(
        out,
        "uptime      {}",
        humantime::format_duration(info.uptime)
    )?;
    writeln!(out, "log head    {}", info.head_seq)?;
    // The short id is enough to tell logs apart by eye; --json has the whole id.
    writeln!(
        out,
        "log         {} (head {} when the node started)",
        info.log_id
            .map_or_else(|| "unknown".to_string(), |l| l.short()),
        info.opened_head
    )?;
    writeln!(out, "messages    {}", info.messages)?;
    if info.store_problem.is_empty() {
        writeln!(out, "store       accepting messages")?;
    } else {
        writeln!(out, "store       NOT ACCEPTING: {}", info.store_problem)?;
    }
    writeln!(out, "subscribers {}", info.subscribers)?;
    // Refusals that may change (from-future, not-admitted), tried again until they expire.
    writeln!(out, "retrying    {}", info.retry_pending)?;
    if info.peers.is_empty() {
        writeln!(out, "peers       none")?;
    }
    for peer in &info.peers {
        write_peer(out, peer)?;
    }
    write_refused_handshakes(out, info)?;
    Ok(())
}

/// One peer's lines of `tocsin node status`: its link, and its last reconciliation.
fn write_peer(out: &mut impl Write, p: &PeerStatus) -> std::io::Result<()> {
    let state = if p.connected {
        "connected"
    } else {
        "disconnected"
    };
    writeln!(
        out,
        "peer {:<12} {:<12} cursor {} lag {} received {} retrying {} log {}{} {}{}",
        p.name,
        state,
        p.cursor,
        p.head.saturating_sub(p.cursor),
        // Since this node started, embargoed messages included: what the peer sent ahead of
        // what readers see here.
        p.received,
        p.retry_pending,
        p.log_id
            .map_or_else(|| "unknown".to_string(), |l| l.short()),
        match p.log_changes {
            0 => String::new(),
            1 => " (log changed once)".to_string(),
            n => format!(" (log changed {n} times)"),
        },
        p.address,
        if p.last_error.is_empty() {
            String::new()
        } else {
            format!("  last error: {}", p.last_error)
        }
    )?;
    if p.connected || p.embargo_early {
        writeln!(out, "     {}", embargo_line(p))?;
    }
    if let Some(r) = &p.last_reconcile {
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_millis(r.at.0);
        writeln!(
            out,
            "     reconciled {}: we lacked {}, they lacked {}, fetched {}, refused {}{}",
            humantime::format_rfc3339_seconds(when),
            r.we_lacked,
            r.they_lacked,
            r.fetched,
            r.refused,
            if r.error.is_empty() {
                String::new()
            } else {
                format!("  ended early: {}", r.error)
            }
        )?;
    }
    Ok(())
}

/// Whether a peer sends this node embargoed messages before their hour, and what to do when
/// it does not.
fn embargo_line(p: &PeerStatus) -> String {
    if p.embargo_early {
        "embargoed messages: early".to_string()
    } else {
        format!(
            "embargoed messages: only at their hour ({name} does not trust our certificate: run `tocsin peer invite` there and `tocsin peer join` here, or add DATA/tls/ca.crt to its tls.client_ca)",
            name = p.name
        )
    }
}

/// A reconciliation's counts as JSON, in `tocsin node status --json` and `tocsin sync --json`.
pub(crate) fn reconcile_json(r: &ReconcileStatus) -> serde_json::Value {
    serde_json::json!({
        "at": r.at.0 / 1000, "we_lacked": r.we_lacked, "they_lacked": r.they_lacked,
        "fetched": r.fetched, "refused": r.refused, "already_here": r.already_here,
        "offered": r.offered, "offered_stored": r.offered_stored,
        "round_trips": r.round_trips, "bytes_sent": r.bytes_sent,
        "bytes_received": r.bytes_received, "millis": r.millis, "compare_millis": r.compare_millis, "error": r.error,
    })
}

/// `tocsin node check`
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The configuration file [default: none; embedded defaults].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The data directory [default: ./tocsin-data] (overrides node.data_dir).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Drop what cannot be served (listed to fetch again from peers when the node runs),
    /// rebuild the indexes, keep everything else.
    #[arg(long)]
    pub repair: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Checks (and repairs) a stopped node's store. Exit 1 when damage is found and left.
pub(crate) async fn check(args: CheckArgs) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(d) = args.data {
        config.node.data_dir = d;
    }
    let dir = config.node.data_dir.join("store");
    // Opening creates a store where there is none: refuse first, rather than check nothing.
    if !dir.join("tocsin-store").exists() {
        return Err(super::Failure::failed(format!(
            "there is no tocsin store in {}; name the node's data directory with --data DIR or --config FILE",
            config.node.data_dir.display()
        ))
        .into());
    }
    let store = crate::store::Store::open(&crate::store::StoreConfig {
        path: dir.clone(),
        cache_bytes: config.store.cache_mb * 1024 * 1024,
        tombstone_keep: config.store.tombstone_keep,
        ..crate::store::StoreConfig::default()
    })
    .map_err(|e| {
        // The hint to stop the node is for a store in use, not for one that is damaged.
        let what = if matches!(e, crate::store::StoreError::Locked { .. }) {
            "opening the store (stop the node first: the check needs it to itself)"
        } else {
            "opening the store"
        };
        anyhow::Error::new(e).context(what)
    })?;
    let report = store
        .check(args.repair)
        .await
        .context("checking the store")?;
    store.close().await.context("closing the store")?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({
            "store": dir.display().to_string(),
            "records": report.records,
            "log_entries": report.log_entries,
            "bodies": report.bodies,
            "index_rows": report.index_rows,
            "clean": report.is_clean(),
            "findings": report.findings.iter().map(|f| serde_json::json!({
                "what": f.what,
                "seq": f.seq,
                "id": f.id.map(|i| i.to_hex()),
                "detail": f.detail,
            })).collect::<Vec<_>>(),
            "repaired": report.repaired,
            "dropped": report.dropped.iter().map(|i| i.to_hex()).collect::<Vec<_>>(),
        });
        serde_json::to_writer(&mut out, &v)?;
        writeln!(out)?;
    } else {
        writeln!(out, "store       {}", dir.display())?;
        writeln!(out, "records     {}", report.records)?;
        writeln!(out, "log entries {}", report.log_entries)?;
        writeln!(out, "bodies      {} (SHA-256 and signature)", report.bodies)?;
        writeln!(out, "index rows  {}", report.index_rows)?;
        if report.is_clean() {
            writeln!(out, "damaged     none")?;
        } else {
            writeln!(out, "damaged     {}", report.findings.len())?;
        }
        for f in &report.findings {
            let seq = f.seq.map(|s| format!(" seq {s}")).unwrap_or_default();
            let id = f.id.map(|i| format!(" id {i}")).unwrap_or_default();
            writeln!(out, "  {}{seq}{id}: {}", f.what, f.detail)?;
        }
        if report.repaired {
            writeln!(
                out,
                "repaired    {} message(s) dropped (the node asks its peers for them when it runs), indexes rebuilt",
                report.dropped.len()
            )?;
            for id in &report.dropped {
                writeln!(out, "  dropped {id}")?;
            }
        }
    }
    if !report.is_clean() && !report.repaired {
        return Err(super::Failure::failed(format!(
            "the store in {} is damaged ({} finding(s)); run `tocsin node check --repair` with the node stopped",
            dir.display(),
            report.findings.len()
        ))
        .into());
    }
    Ok(())
}

/// `tocsin node backup`
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// Where the copy goes: a directory on the node's machine that does not exist yet or is
    /// empty (a relative path is taken from this command's working directory).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The node.
    #[command(flatten)]
    pub node: NodeUrl,
}

pub(crate) async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    // The node may run in another working directory: it is sent the path it is to write to.
    let dir = std::path::absolute(&args.dir)
        .with_context(|| format!("resolving {}", args.dir.display()))?;
    if dir.to_str().is_none() {
        return Err(Failure::usage(format!(
            "{} is not valid UTF-8; give a directory whose name is",
            dir.display()
        )));
    }
    let mut client = args.node.connect().await.context(
        "a backup is taken by the running node: start it, or, for a stopped node, copy its data directory (it is consistent while the node is stopped)",
    )?;
    let url = client.url().to_string();
    let backup = client
        .backup(&dir)
        .await
        .map_err(|e| backup_refused(e, &url))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "backup      {}", backup.dir.display())?;
    writeln!(out, "log head    {}", backup.head_seq)?;
    if let Some(log_id) = backup.log_id {
        writeln!(
            out,
            "log id      {log_id} (a node started on the copy starts a new log: its followers read it again from the start)"
        )?;
    }
    writeln!(
        out,
        "copied      {} files, {} bytes",
        backup.files, backup.bytes
    )?;
    writeln!(
        out,
        "publishes   waited {} while the store was copied",
        humantime::format_duration(backup.paused)
    )?;
    if backup.checked {
        writeln!(
            out,
            "verified    the copy opens at the head, every body and signature checked"
        )?;
    } else {
        writeln!(
            out,
            "verified    the copy opens at the head (a large store: for every body and signature, run `tocsin node check --data {}` on a copy of it)",
            backup.dir.display()
        )?;
    }
    if backup.damaged > 0 {
        writeln!(
            out,
            "damaged     {} item(s) in the copy, as in the running store (it is waiting to get them back from its peers)",
            backup.damaged
        )?;
    }
    writeln!(
        out,
        "restore     tocsin node run --data {}",
        backup.dir.display()
    )?;
    Ok(())
}

/// A backup the node refused or could not make, in words that say what to do.
fn backup_refused(e: crate::rpc::ClientError, url: &str) -> anyhow::Error {
    use crate::rpc::ClientError;
    if e.is_not_local() {
        return Failure::failed(format!(
            "the node at {url} answers backups only on its own machine: run `tocsin node backup` there ({e})"
        ))
        .into();
    }
    if e.is_unimplemented() {
        return Failure::failed(format!(
            "the node at {url} does not take backups (an older version): stop it and copy its data directory"
        ))
        .into();
    }
    match e {
        // The node's own words: the target in use, a copy that did not verify, a full disk.
        ClientError::Status { message, .. } => {
            Failure::failed(format!("no backup was made: {message}")).into()
        }
        other => anyhow::Error::new(other).context("asking the node for a backup"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_writes_a_new_config_file_and_never_rewrites_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("geneva.toml");
        let args = |name: Option<&str>| InitArgs {
            config: Some(path.clone()),
            data: Some(PathBuf::from("geneva-data")),
            name: name.map(String::from),
            listen: Some("127.0.0.1:7702".parse().unwrap()),
            http_listen: Some("127.0.0.1:7782".parse().unwrap()),
        };
        assert!(write_config(&path, &args(Some("geneva"))).unwrap());
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.node.name, "geneva");
        assert_eq!(config.node.data_dir, PathBuf::from("geneva-data"));
        assert_eq!(config.node.listen.port(), 7702);
        assert_eq!(config.http.listen.port(), 7782);
        let written = std::fs::read_to_string(&path).unwrap();
        // Flags that would change an existing file are refused, and the file is as it was.
        let refused = write_config(&path, &args(Some("baku"))).unwrap_err();
        assert!(refused.to_string().contains("exists already"), "{refused}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), written);
        // Without them, an existing file is simply used.
        let plain = InitArgs {
            config: Some(path.clone()),
            data: None,
            name: None,
            listen: None,
            http_listen: None,
        };
        assert!(!write_config(&path, &plain).unwrap());
    }

    fn peer(embargo_early: bool) -> PeerStatus {
        PeerStatus {
            name: "geneva".into(),
            address: "https://127.0.0.1:7702".into(),
            connected: true,
            received: 4,
            embargo_early,
            ..PeerStatus::default()
        }
    }

    #[test]
    fn status_says_whether_a_peer_sends_embargoed_messages_early() {
        let mut early = Vec::new();
        write_peer(&mut early, &peer(true)).unwrap();
        let early = String::from_utf8(early).unwrap();
        assert!(early.contains("received 4 "), "{early}");
        assert!(early.contains("embargoed messages: early"), "{early}");
        let mut late = Vec::new();
        write_peer(&mut late, &peer(false)).unwrap();
        let late = String::from_utf8(late).unwrap();
        assert!(
            late.contains("embargoed messages: only at their hour (geneva does not trust our certificate: run `tocsin peer invite` there and `tocsin peer join` here"),
            "{late}"
        );
    }
}
