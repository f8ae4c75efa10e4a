//! `tocsin peer add|list|remove`: edit the peers in a node's config file, keeping its comments.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table, value};

use super::Failure;
use crate::config::Config;

/// The config file the peer commands edit.
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigFile {
    /// The node's configuration file (created if absent).
    #[arg(long, value_name = "FILE", default_value = "tocsin.toml")]
    pub config: PathBuf,
}

/// `tocsin peer …`
#[derive(Debug, clap::Subcommand)]
pub enum PeerCommand {
    /// Follow another node: add it to the config's peers.
    #[command(
        after_help = "Example:\n  tocsin peer add geneva http://127.0.0.1:7701 --config tocsin.toml\n  \
        tocsin node run --config tocsin.toml"
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
        file: ConfigFile,
    },
    /// List the configured peers.
    #[command(after_help = "Example:\n  tocsin peer list --config tocsin.toml")]
    List {
        /// The file.
        #[command(flatten)]
        file: ConfigFile,
    },
    /// Stop following a peer.
    #[command(
        after_help = "Example:\n  tocsin peer remove geneva --config tocsin.toml\n  \
        tocsin node run --config tocsin.toml"
    )]
    Remove {
        /// The peer's name.
        name: String,
        /// The file.
        #[command(flatten)]
        file: ConfigFile,
    },
}

fn load(path: &Path) -> anyhow::Result<DocumentMut> {
    if !path.exists() {
        return Ok(DocumentMut::new());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.parse::<DocumentMut>()
        .with_context(|| format!("{} is not valid TOML", path.display()))
}

fn save(path: &Path, doc: &DocumentMut) -> anyhow::Result<()> {
    let text = doc.to_string();
    // Never write a file the node would refuse at start.
    Config::parse(&text)
        .map_err(|e| Failure::usage(format!("the result would be refused: {e}")))?;
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, &text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

fn peers(doc: &mut DocumentMut) -> anyhow::Result<&mut ArrayOfTables> {
    let item = doc
        .entry("peer")
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    item.as_array_of_tables_mut().ok_or_else(|| {
        Failure::usage("`peer` in the config file must be a list of [[peer]] tables")
    })
}

fn name_of(t: &Table) -> &str {
    t.get("name").and_then(|v| v.as_str()).unwrap_or("")
}

pub(crate) fn run(cmd: PeerCommand) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        PeerCommand::Add {
            name,
            url,
            ca,
            file,
        } => {
            let mut doc = load(&file.config)?;
            let list = peers(&mut doc)?;
            if list.iter().any(|t| name_of(t) == name) {
                return Err(Failure::usage(format!(
                    "a peer named {name:?} is in {} already; remove it first or choose another name",
                    file.config.display()
                )));
            }
            let mut t = Table::new();
            t["name"] = value(name.as_str());
            t["address"] = value(url.as_str());
            if let Some(ca) = &ca {
                t["ca"] = value(ca.display().to_string());
            }
            list.push(t);
            save(&file.config, &doc)?;
            writeln!(
                out,
                "added peer {name} at {url} to {}",
                file.config.display()
            )?;
            writeln!(
                out,
                "(re)start the node with: tocsin node run --config {}",
                file.config.display()
            )?;
        }
        PeerCommand::List { file } => {
            let config = Config::load(Some(&file.config))?;
            if config.peers.is_empty() {
                writeln!(out, "no peers in {}", file.config.display())?;
            }
            for p in config.peers {
                writeln!(out, "{:<16} {}", p.name, p.address)?;
            }
        }
        PeerCommand::Remove { name, file } => {
            if !file.config.exists() {
                return Err(Failure::usage(format!(
                    "{} does not exist",
                    file.config.display()
                )));
            }
            let mut doc = load(&file.config)?;
            let list = peers(&mut doc)?;
            let before = list.len();
            list.retain(|t| name_of(t) != name);
            if list.len() == before {
                return Err(Failure::usage(format!(
                    "no peer named {name:?} in {}; see: tocsin peer list --config {}",
                    file.config.display(),
                    file.config.display()
                )));
            }
            save(&file.config, &doc)?;
            writeln!(out, "removed peer {name} from {}", file.config.display())?;
        }
    }
    out.flush()?;
    Ok(())
}
