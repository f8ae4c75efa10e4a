//! The `tocsin` command line: keys, signing, inspecting, posting, following, node operation.
//!
//! Exit codes: 0 success; 1 refused or failed (a refusal prints its reason code); 2 usage error.

mod ca;
mod client;
mod compose;
mod keys;
mod node;
mod peer;
mod render;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::message::{Checked, Message, SignedMessage, Timestamp};

pub use compose::{AlertArgs, CallArgs};
pub use render::{message_json, message_text, message_text_lang};

/// Tocsin: sign, relay and follow solidarity alerts and coordinated-action calls.
#[derive(Debug, Parser)]
#[command(name = "tocsin", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new organisation key (and a pre-signed revocation to keep offline).
    #[command(after_help = "Example:\n  tocsin keygen --out eastland.key\n\n\
        Writes eastland.key (mode 0600) and eastland.key.revocation. Give the revocation to\n\
        trusted people abroad: if the key is seized, any of them can publish it with\n\
        `tocsin revoke`.")]
    Keygen(keys::KeygenArgs),
    /// Sign a message into a file without sending it.
    #[command(subcommand)]
    Sign(Box<SignCommand>),
    /// Verify a signed message file and print it.
    #[command(
        after_help = "Example:\n  tocsin inspect arrest.msg\n  tocsin inspect --json arrest.msg"
    )]
    Inspect(InspectArgs),
    /// Sign and publish an alert or call to a node.
    #[command(subcommand)]
    Post(Box<client::PostCommand>),
    /// Publish signed message files (from `tocsin sign`) to a node.
    #[command(after_help = "Example:\n  tocsin send arrest.msg --node http://127.0.0.1:7700")]
    Send(client::SendArgs),
    /// Publish a key's pre-signed revocation: from its time on, the key's messages are refused.
    #[command(
        after_help = "Example:\n  tocsin revoke --revocation eastland.key.revocation --node http://127.0.0.1:7700"
    )]
    Revoke(client::RevokeArgs),
    /// Follow a node's feed: the backlog, then live messages.
    #[command(
        after_help = "Examples:\n  tocsin follow\n  tocsin follow --country AZ --kind alert --kind call --lang fr\n  tocsin follow --json --since 120 --until-caught-up"
    )]
    Follow(client::FollowArgs),
    /// Show one message with its current version, cancellation and endorsements.
    #[command(
        after_help = "Example:\n  tocsin show 70ed23b9b6e0bd24b5ac7bc6e2cd34377851a067ac17e1092629d7d69abf57d5"
    )]
    Show(client::ShowArgs),
    /// Run a node, or ask one how it is.
    #[command(subcommand)]
    Node(NodeCommand),
    /// Add, list or remove the peers a node follows (edits its config file).
    #[command(subcommand)]
    Peer(peer::PeerCommand),
    /// A federation's certificate authority: create it, issue node certificates.
    #[command(subcommand)]
    Ca(ca::CaCommand),
}

/// `tocsin node …`
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Run a node (embedded defaults: data in ./tocsin-data, gRPC on 127.0.0.1:7700).
    #[command(
        after_help = "Examples:\n  tocsin node run\n  tocsin node run --config config/node.example.toml\n  tocsin node run --data ./geneva-data --listen 127.0.0.1:7701"
    )]
    Run(node::RunArgs),
    /// Create a node's identity (data directory, node key, TLS certificate) without running it.
    #[command(after_help = "Example:\n  tocsin node init --data ./geneva-data")]
    Init(node::InitArgs),
    /// Show a node's identity, log head, counts and peers.
    #[command(after_help = "Example:\n  tocsin node status --node http://127.0.0.1:7700")]
    Status(node::StatusArgs),
}

/// The node a client command talks to.
#[derive(Debug, Clone, clap::Args)]
pub struct NodeUrl {
    /// The node's gRPC URL.
    #[arg(
        long = "node",
        value_name = "URL",
        env = "TOCSIN_NODE",
        default_value = "https://127.0.0.1:7700"
    )]
    pub url: String,
    /// The CA certificate that signed the node's certificate (for https://) [default: the
    /// CA of a node in ./tocsin-data, else the system's roots].
    #[arg(long = "ca", value_name = "FILE", env = "TOCSIN_CA")]
    pub ca: Option<std::path::PathBuf>,
}

impl NodeUrl {
    /// Connects, with a message that says what to check when it fails. For https:// the
    /// node's certificate is checked against `--ca`, else `$TOCSIN_CA`, else the CA of a node
    /// in ./tocsin-data on this machine, else the system's roots.
    pub async fn connect(&self) -> anyhow::Result<crate::rpc::Client> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(Failure::usage(format!(
                "--node {:?} must be a URL like https://127.0.0.1:7700",
                self.url
            )));
        }
        let ca_path = self.ca.clone().or_else(|| {
            let local = std::path::Path::new(LOCAL_CA);
            local.exists().then(|| local.to_path_buf())
        });
        let ca_pem = match &ca_path {
            Some(p) => Some(
                std::fs::read(p)
                    .with_context(|| format!("reading the CA certificate {}", p.display()))?,
            ),
            None => None,
        };
        let tls = crate::rpc::ClientTls {
            ca_pem,
            identity: None,
        };
        crate::rpc::Client::connect_with(&self.url, &tls)
            .await
            .context("is the node running (tocsin node run)? for a node on another machine, pass its CA with --ca FILE")
    }
}

/// Where a node started with the defaults in this directory keeps its CA certificate.
const LOCAL_CA: &str = "tocsin-data/tls/ca.crt";

/// `tocsin sign …`
#[derive(Debug, Subcommand)]
pub enum SignCommand {
    /// Sign a solidarity alert.
    #[command(after_help = compose::ALERT_EXAMPLE)]
    Alert(compose::SignAlertArgs),
    /// Sign a coordinated-action call.
    #[command(after_help = compose::CALL_EXAMPLE)]
    Call(compose::SignCallArgs),
}

/// `tocsin inspect`
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The signed message file (as written by `tocsin sign`).
    pub file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Check the time rules at this RFC 3339 time instead of now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

/// A failure that carries its exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Failure {
    /// What to tell the user.
    pub message: String,
    /// 1 refused/failed, 2 usage.
    pub code: u8,
}

impl Failure {
    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> anyhow::Error {
        Failure {
            message: message.into(),
            code: 2,
        }
        .into()
    }
}

/// Runs a parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keygen(args) => keys::keygen(&args),
        Command::Sign(sign) => match *sign {
            SignCommand::Alert(args) => compose::sign_alert(&args),
            SignCommand::Call(args) => compose::sign_call(&args),
        },
        Command::Inspect(args) => inspect(&args),
        Command::Post(cmd) => block_on(client::post(*cmd)),
        Command::Send(args) => block_on(client::send(args)),
        Command::Revoke(args) => block_on(client::revoke(args)),
        Command::Follow(args) => block_on(client::follow(args)),
        Command::Show(args) => block_on(client::show(args)),
        Command::Node(NodeCommand::Run(args)) => block_on(node::run(args)),
        Command::Node(NodeCommand::Status(args)) => block_on(node::status(args)),
        Command::Peer(cmd) => peer::run(cmd),
        Command::Ca(cmd) => ca::run(cmd),
        Command::Node(NodeCommand::Init(args)) => node::init(args),
    }
}

fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(fut: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(fut)
}

/// Maps the outcome to an exit code, printing the error chain. A closed stdout (`| head`) is a
/// graceful end.
pub fn exit(result: anyhow::Result<()>) -> ExitCode {
    let Err(err) = result else {
        return ExitCode::SUCCESS;
    };
    if err
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    {
        return ExitCode::SUCCESS;
    }
    let code = err.downcast_ref::<Failure>().map_or(1, |f| f.code);
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "error: {err}");
    for cause in err.chain().skip(1) {
        let _ = write!(stderr, "\n  caused by: {cause}");
    }
    let _ = writeln!(stderr);
    ExitCode::from(code)
}

/// Parses an RFC 3339 time or says what to type instead.
pub(crate) fn parse_time(s: &str, flag: &str) -> anyhow::Result<Timestamp> {
    Timestamp::parse_rfc3339(s).ok_or_else(|| {
        Failure::usage(format!(
            "{flag} {s:?} is not a time; write it like 2026-12-01T09:00:00Z"
        ))
    })
}

fn inspect(args: &InspectArgs) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let now = match &args.at {
        Some(t) => parse_time(t, "--at")?,
        None => Timestamp::now(),
    };
    let message = SignedMessage::decode(&bytes)
        .and_then(|s| Checked::open(s, now))
        .and_then(Checked::verify)
        .map_err(|r| {
            anyhow::Error::new(r).context(format!("{} is refused", args.file.display()))
        })?;
    print_message(&message, args.json)
}

fn print_message(message: &Message, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, &message_json(message, None))?;
        writeln!(out)?;
    } else {
        write!(out, "{}", render::message_text(message))?;
    }
    out.flush()?;
    Ok(())
}
