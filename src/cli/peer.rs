//! `tocsin peer add|list|remove`: edit the peers in a node's config file, keeping its comments
//! (through `peering::edit`, as the running node does); `tocsin peer invite|join`: ask the
//! running local nodes to peer both ways in one step.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::{Failure, NodeUrl};
use crate::config::{Config, TlsMode};
use crate::peering::{ConfigFile, EditError, NewPeer};
use crate::rpc::ClientError;

/// The config file the peer commands edit.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigFileArg {
    /// The node's configuration file (created if absent).
    #[arg(long, value_name = "FILE", default_value = "tocsin.toml")]
    pub config: PathBuf,
}

impl ConfigFileArg {
    /// The file, which must exist (to list or remove peers): or what to give instead.
    fn existing(&self) -> anyhow::Result<()> {
        if self.config.exists() {
            return Ok(());
        }
        Err(Failure::usage(format!(
            "{} does not exist: give the node's configuration file with --config FILE (`tocsin peer add` creates one)",
            self.config.display()
        )))
    }
}

/// `tocsin peer …`
#[derive(Debug, clap::Subcommand)]
pub enum PeerCommand {
    /// Make a one-time invitation for another node to peer with this one, both ways.
    #[command(
        after_help = "Asks the running node (on this machine). Give the line it prints to the other \
        node's operator, who runs `tocsin peer join LINE` there: then each node follows the other \
        and trusts the other's certificate, so embargoed messages flow early both ways.\n\n\
        Example:\n  tocsin peer invite --node https://127.0.0.1:7701 --ca baku-data/tls/ca.crt"
    )]
    Invite {
        /// The name this node will give the joining node [default: the joining node's
        /// node.name].
        #[arg(long)]
        name: Option<String>,
        /// How long the invitation may be used.
        #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration)]
        valid: Duration,
        /// The URL the joining node reaches this node at [default: node.public_url, else
        /// https:// and node.listen].
        #[arg(long, value_name = "URL")]
        address: Option<String>,
        /// The local node.
        #[command(flatten)]
        node: NodeUrl,
    },
    /// Use another node's invitation: peer with it both ways.
    #[command(
        after_help = "Asks the running node (on this machine) to connect to the inviting node, check \
        its certificate against the invitation's fingerprint, and add it as a peer; the inviting \
        node adds this one. Both config files are changed and take effect at once.\n\n\
        Example:\n  tocsin peer join tocsin-invite:1:eyJh… --node https://127.0.0.1:7702 --ca geneva-data/tls/ca.crt"
    )]
    Join {
        /// The line `tocsin peer invite` printed on the other node.
        line: String,
        /// The name this node gives the inviting node [default: its node.name].
        #[arg(long)]
        name: Option<String>,
        /// The URL the inviting node reaches this node at [default: node.public_url, else
        /// https:// and node.listen].
        #[arg(long, value_name = "URL")]
        address: Option<String>,
        /// The local node.
        #[command(flatten)]
        node: NodeUrl,
    },
    /// Follow another node (one way): add it to the config's peers.
    #[command(
        after_help = "To peer both ways, with embargoed messages early, prefer `tocsin peer invite` \
        and `tocsin peer join`.\n\n\
        Example:\n  tocsin peer add geneva https://127.0.0.1:7702 --ca geneva-data/tls/ca.crt --config baku.toml"
    )]
    Add {
        /// A short name for the peer (letters, digits, '-', '_').
        name: String,
        /// The peer's gRPC URL (https://…; http:// only to a loopback address).
        url: String,
        /// The CA certificate that signed the peer's certificate [default: the system's roots].
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// The file.
        #[command(flatten)]
        file: ConfigFileArg,
    },
    /// List the configured peers.
    #[command(after_help = "Example:\n  tocsin peer list --config tocsin.toml")]
    List {
        /// The file.
        #[command(flatten)]
        file: ConfigFileArg,
    },
    /// Stop following a peer.
    #[command(after_help = "Example:\n  tocsin peer remove geneva --config tocsin.toml")]
    Remove {
        /// The peer's name.
        name: String,
        /// The file.
        #[command(flatten)]
        file: ConfigFileArg,
    },
}

/// An edit refused, as a usage error (what the user typed does not fit the file).
fn edit_failure(e: EditError) -> anyhow::Error {
    match e {
        EditError::PeerExists { .. } => {
            Failure::usage(format!("{e}; remove it first or choose another name"))
        }
        EditError::NoSuchPeer { ref path, .. } => {
            let path = path.display().to_string();
            Failure::usage(format!("{e}; see: tocsin peer list --config {path}"))
        }
        EditError::Refused(_) | EditError::Shape { .. } => Failure::usage(e.to_string()),
        EditError::Io { .. } | EditError::Changed { .. } => anyhow::Error::new(e),
    }
}

pub(crate) fn run(cmd: PeerCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        PeerCommand::Invite {
            name,
            valid,
            address,
            node,
        } => super::block_on(invite(name, valid, address, node))?,
        PeerCommand::Join {
            line,
            name,
            address,
            node,
        } => super::block_on(join(line, name, address, node))?,
        PeerCommand::Add {
            name,
            url,
            ca,
            file,
        } => {
            let mut edit = ConfigFile::open(&file.config)?;
            edit.add_peer(&NewPeer {
                name: name.clone(),
                address: url.clone(),
                ca,
            })
            .map_err(edit_failure)?;
            let config = edit.save().map_err(edit_failure)?;
            let path = file.config.display();
            writeln!(out, "added peer {name} at {url} to {path}")?;
            writeln!(
                out,
                "a running node picks this up within seconds (or on SIGHUP); to start one: tocsin node run --config {path}"
            )?;
            write_one_way_note(&mut out, &name, &config)?;
        }
        PeerCommand::List { file } => {
            file.existing()?;
            let config = Config::load(Some(&file.config))?;
            if config.peers.is_empty() {
                writeln!(out, "no peers in {}", file.config.display())?;
            }
            for p in config.peers {
                writeln!(out, "{:<16} {}", p.name, p.address)?;
            }
        }
        PeerCommand::Remove { name, file } => {
            file.existing()?;
            let mut edit = ConfigFile::open(&file.config)?;
            let untrusted = edit
                .remove_peer_and_its_trust(&name)
                .map_err(edit_failure)?;
            edit.save().map_err(edit_failure)?;
            writeln!(out, "removed peer {name} from {}", file.config.display())?;
            if let Some(copy) = untrusted {
                writeln!(
                    out,
                    "and its CA copy {} from tls.client_ca: its certificate is no longer trusted",
                    copy.display()
                )?;
            }
            writeln!(
                out,
                "a running node stops following it within seconds (or on SIGHUP)"
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

/// After `peer add`: the peer sends embargoed messages early only if it trusts this node's
/// certificate, and how to make it.
fn write_one_way_note(out: &mut impl Write, name: &str, config: &Config) -> std::io::Result<()> {
    writeln!(
        out,
        "{name} sends this node embargoed messages only at their hour, unless it trusts this node's certificate:"
    )?;
    if config.tls.mode == TlsMode::Auto {
        let ca = config.node.data_dir.join("tls").join("ca.crt");
        let ca = std::path::absolute(&ca).unwrap_or(ca);
        writeln!(
            out,
            "  copy {} to {name}'s machine and list it in {name}'s config:",
            ca.display()
        )?;
        writeln!(out, "    [tls]")?;
        writeln!(out, "    client_ca = [\"<that copy>\"]")?;
    } else {
        writeln!(
            out,
            "  list the CA of this node's certificate in {name}'s tls.client_ca"
        )?;
    }
    writeln!(
        out,
        "  or peer both ways in one step instead: `tocsin peer invite` on {name}, then `tocsin peer join LINE` here"
    )
}

/// The operator service's refusals in words: the node must be this machine's.
fn operator_failure(e: ClientError, url: &str, what: &str) -> anyhow::Error {
    if e.is_unimplemented() {
        return Failure::failed(format!(
            "the node at {url} does not do `tocsin peer {what}` (an older version); use `tocsin peer add` on both nodes"
        ))
        .into();
    }
    if e.is_not_local() && e.to_string().contains("own machine") {
        return Failure::failed(format!(
            "the node at {url} answers `peer {what}` only on its own machine: run it there ({e})"
        ))
        .into();
    }
    match e {
        // The node's own words: no config file, a used or expired invitation, a name taken.
        ClientError::Status { message, .. } => Failure::failed(message).into(),
        other => anyhow::Error::new(other).context(format!("asking the node to {what}")),
    }
}

/// `--address`, if given, checked before the node is contacted (a usage error, as the node
/// would refuse it).
fn check_address(address: Option<&str>) -> anyhow::Result<()> {
    match address {
        Some(a) => {
            crate::peering::check_address(a).map_err(|e| Failure::usage(format!("--address: {e}")))
        }
        None => Ok(()),
    }
}

async fn invite(
    name: Option<String>,
    valid: Duration,
    address: Option<String>,
    node: NodeUrl,
) -> anyhow::Result<()> {
    if valid.is_zero() {
        return Err(Failure::usage("--valid must be longer than 0s"));
    }
    check_address(address.as_deref())?;
    let mut client = node.connect().await?;
    let reply = client
        .invite(
            name.as_deref().unwrap_or(""),
            valid.as_secs().max(1),
            address.as_deref().unwrap_or(""),
        )
        .await
        .map_err(|e| operator_failure(e, &node.url, "invite"))?;
    let until = std::time::UNIX_EPOCH + Duration::from_secs(reply.expires_at);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", reply.line)?;
    out.flush()?;
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "Give this line to the other node's operator, by a channel you both trust; on that node run:\n  \
         tocsin peer join LINE --node <its URL> --ca <its CA>\n\
         It can be used once, until {} (UTC). It points at {} (CA fingerprint {}).",
        humantime::format_rfc3339_seconds(until),
        reply.address,
        reply.ca_fingerprint
    )?;
    Ok(())
}

async fn join(
    line: String,
    name: Option<String>,
    address: Option<String>,
    node: NodeUrl,
) -> anyhow::Result<()> {
    // Checked before the node is contacted: a usage error never depends on the network.
    crate::peering::Line::decode(&line).map_err(|e| Failure::usage(e.to_string()))?;
    if let Some(name) = &name {
        crate::peering::check_name(name).map_err(|e| Failure::usage(e.to_string()))?;
    }
    check_address(address.as_deref())?;
    let mut client = node.connect().await?;
    let reply = client
        .join(
            &line,
            name.as_deref().unwrap_or(""),
            address.as_deref().unwrap_or(""),
        )
        .await
        .map_err(|e| operator_failure(e, &node.url, "join"))?;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "joined {} at {}: each node now follows the other",
        reply.peer_name, reply.peer_address
    )?;
    writeln!(out, "config file changed: {}", reply.config_file)?;
    if reply.embargo_early {
        writeln!(
            out,
            "embargoed messages: early, both ways (each node trusts the other's certificate)"
        )?;
    } else {
        writeln!(
            out,
            "embargoed messages: not yet confirmed early ({} did not show it trusts our certificate); see `tocsin node status` in a few seconds",
            reply.peer_name
        )?;
    }
    Ok(())
}
