//! The `tocsin` command line: keys, signing, inspecting, posting, following, node operation.
//!
//! Exit codes: 0 success; 1 refused or failed (a refusal prints its reason code); 2 usage error.

mod ca;
mod client;
mod compose;
mod deadlines;
mod demo;
mod ending;
mod have;
mod key_info;
mod keys;
mod names;
mod node;
mod peer;
mod post;
mod read;
mod render;
mod report;
mod sync;
mod tally;
mod term;
mod transfer;
mod translate;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::message::{Id, Message, SignedMessage, Timestamp};

pub use compose::{AlertArgs, CallArgs};
pub use render::{message_json, message_text};

/// Tocsin: sign, relay and follow solidarity alerts and coordinated-action calls.
#[derive(Debug, Parser)]
#[command(
    name = "tocsin",
    version,
    about,
    long_about = None,
    propagate_version = true,
    after_help = "Examples:\n  tocsin demo                                  three nodes, sample alerts crossing them\n  \
        tocsin node run                              a node on 127.0.0.1:7700, data in ./tocsin-data\n  \
        tocsin keygen eastland.key                   your organisation's key and its recovery key\n  \
        tocsin post alert --key eastland.key --file config/alert.example.toml\n  \
        tocsin follow --lang fr                      the feed, in French where there is French\n\n\
        Client commands talk to --node URL (default $TOCSIN_NODE, else https://127.0.0.1:7700)\n\
        and check its certificate against --ca FILE (default $TOCSIN_CA, else\n\
        ./tocsin-data/tls/ca.crt if it exists, else the system's roots), after the command\n\
        or before it: tocsin node status --node https://HOST:7700 --ca NODE-DATA/tls/ca.crt\n\n\
        Exit codes: 0 success; 1 refused or failed (a refusal names its reason code, like\n\
        `refused: expired: …`); 2 usage error (a wrong flag or value). A closed pipe ends quietly."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new organisation key, its recovery key (to move offline), and a pre-signed
    /// revocation.
    #[command(after_help = "Examples:\n  tocsin keygen eastland.key\n  \
        tocsin keygen eastland.key --node https://relay.example.org:7700   commit at once\n  \
        tocsin keygen eastland.key --no-recovery                          no recovery key\n\n\
        Writes eastland.key (0600), eastland.key.recovery (0600: the recovery key; move it\n\
        offline or to trusted people abroad now), eastland.key.recovery.pub (keep it beside the\n\
        key) and eastland.key.revocation. The first message the key publishes commits it to the\n\
        recovery key; if the key is seized, `tocsin rotate` hands its name to a new key.")]
    Keygen(keys::KeygenArgs),
    /// Publish a key's commitment to its recovery key now (otherwise its first post does).
    #[command(
        after_help = "Example:\n  tocsin commit --key eastland.key --node https://relay.example.org:7700\n\n\
        Signs a fresh commitment (nodes refuse one more than 10 minutes old) and notes it in\n\
        eastland.key.committed, so that posts do not publish it again."
    )]
    Commit(keys::CommitArgs),
    /// After a seizure: the recovery key withholds what the key signed from a time and hands
    /// the organisation's name to a successor; what it signed before stays.
    #[command(after_help = "Example:\n  tocsin keygen eastland-2.key\n  \
        tocsin rotate --recovery eastland.key.recovery --since \"2026-05-14 09:30\" \\\n    \
        --successor eastland-2.key --reason \"Phone seized at the border\" --node URL\n\n\
        TIME is RFC 3339 or your local time (TZ). It asks first; without a terminal, give --yes.\n\
        The successor may then update and cancel the old key's alerts and calls.")]
    Rotate(ending::RotateArgs),
    /// What a node knows of a key: its recovery commitment, whether it ends, who carries on.
    #[command(after_help = "Examples:\n  tocsin key eastland.key --node URL\n  \
        tocsin key 3f2a9c01…(64 hex digits) --json")]
    Key(key_info::KeyArgs),
    /// Sign and publish an alert or call to a node.
    #[command(subcommand)]
    Post(Box<post::PostCommand>),
    /// Publish a new version of one of your alerts or calls (only what you give changes).
    #[command(
        after_help = "Examples:\n  tocsin update 70ed23b9…57d5 --key eastland.key --lang en \\\n    \
        --description \"Two of the four were released this morning; two are still held.\"\n  \
        tocsin update 70ed23b9…57d5 --key eastland.key --file arrest-v2.toml\n  \
        tocsin update 70ed23b9…57d5 --key eastland.key --severity moderate --urgency expected\n\n\
        The update starts from the current version: a file or flags change only what they name."
    )]
    Update(Box<post::UpdateArgs>),
    /// Withdraw one of your alerts or calls; relays stop serving its content.
    #[command(
        after_help = "Example:\n  tocsin cancel 70ed23b9…57d5 --key eastland.key \\\n    \
        --reason \"Names were published by mistake; a corrected alert follows.\""
    )]
    Cancel(post::CancelArgs),
    /// Endorse an alert or call (one endorsement per organisation counts).
    #[command(
        after_help = "Example:\n  tocsin endorse 70ed23b9…57d5 --key geneva.key \\\n    \
        --statement \"The Global Dockers' Federation stands with the Eastport four.\""
    )]
    Endorse(post::EndorseArgs),
    /// Report what your organisation has done for an alert or call (cumulative counts).
    #[command(
        after_help = "Examples:\n  tocsin report 70ed23b9…57d5 --key eastland.key --action letters=340\n  \
        tocsin report 70ed23b9…57d5 --key geneva.key --action letters=1200 \\\n    \
        --action donations=1500:EUR --statement \"Sent from 14 branches.\"\n  \
        tocsin report 70ed23b9…57d5 --key geneva.key --filing ceacr:2026-08-30:\"Observation 2026/14\"\n  \
        tocsin report 70ed23b9…57d5 --key geneva.key --file config/report.example.toml\n\n\
        Counts are cumulative: give your whole count to date. Your latest report replaces your\n\
        earlier ones, so a revision never counts twice. Measures: letters, signatures,\n\
        participants, strikers, messages, donations=N:CUR."
    )]
    Report(Box<report::ReportArgs>),
    /// Publish your translation of another organisation's alert or call into a language its
    /// author did not write; readers see it beside the original, under your name.
    #[command(
        after_help = "Examples:\n  tocsin translate 70ed23b9…57d5 --key geneva.key --lang de \\\n    \
        --headline \"Vier Gewerkschafter in Eastport verhaftet\" \\\n    \
        --description \"Die Polizei nahm vier Vorsitzende der Hafenarbeitergewerkschaft fest.\"\n  \
        tocsin translate 70ed23b9…57d5 --key geneva.key --file config/translation.example.toml\n  \
        tocsin translate 70ed23b9…57d5 --key geneva.key --file de.toml --yes --json\n\n\
        The alert or call is fetched first: its headline is shown beside yours before you sign.\n\
        A language its author wrote is refused (the author changes it with `tocsin update`)."
    )]
    Translate(Box<translate::TranslateArgs>),
    /// Publish your organisation's profile (the name readers see).
    #[command(subcommand)]
    Profile(post::ProfileCommand),
    /// Publish a federation's roster of member organisations.
    #[command(subcommand)]
    Roster(post::RosterCommand),
    /// Follow a node's feed: the backlog, then live messages.
    #[command(after_help = "Examples:\n  tocsin follow\n  \
        tocsin follow --country AZ --kind alert --kind call --lang fr --lang en\n  \
        tocsin follow --json --since 120 --until-caught-up\n  \
        tocsin follow --until-caught-up | less -R\n\n\
        Times are shown in your time zone (TZ). Colours only on a terminal, never with NO_COLOR.")]
    Follow(read::FollowArgs),
    /// Show one message with its current version, history, translations, endorsers and the tally of
    /// reported actions against its goals.
    #[command(after_help = "Examples:\n  \
        tocsin show 70ed23b9b6e0bd24b5ac7bc6e2cd34377851a067ac17e1092629d7d69abf57d5\n  \
        tocsin show 70ed23b9…57d5 --lang fr --node https://127.0.0.1:7701 --ca baku-data/tls/ca.crt\n  \
        tocsin show 70ed23b9…57d5 --json")]
    Show(read::ShowArgs),
    /// List what is due among a node's current calls: deadlines and ends of action windows,
    /// soonest first, in your time zone.
    #[command(after_help = "Examples:\n  tocsin deadlines\n  \
        tocsin deadlines --country GE --topic ilo --lang fr\n  \
        tocsin deadlines --past --json\n\n\
        The filters are follow's. Times are shown in your time zone (TZ). Subscribe a calendar\n\
        app to the node's web gateway instead: /calendar.ics, with the same filters.")]
    Deadlines(deadlines::DeadlinesArgs),
    /// Sign a message into a file without sending it.
    #[command(subcommand)]
    Sign(Box<SignCommand>),
    /// Verify a signed message file and print it.
    #[command(
        after_help = "Example:\n  tocsin inspect arrest.msg\n  tocsin inspect --json arrest.msg"
    )]
    Inspect(InspectArgs),
    /// Publish signed message files (from `tocsin sign`) to a node.
    #[command(
        after_help = "Example:\n  tocsin send arrest.msg --node https://127.0.0.1:7700 --ca tocsin-data/tls/ca.crt"
    )]
    Send(client::SendArgs),
    /// Revoke a key: from a time on, its messages are refused and withheld.
    #[command(
        after_help = "Examples:\n  tocsin revoke --revocation eastland.key.revocation --node https://127.0.0.1:7700 --ca tocsin-data/tls/ca.crt\n  \
        tocsin revoke --key eastland.key --successor eastland-2.key --node URL\n\n\
        The pre-signed revocation (from keygen) withholds everything the key signed; it is the\n\
        fallback for a key with no recovery commitment. A key committed to a recovery key is\n\
        ended by `tocsin rotate` instead."
    )]
    Revoke(ending::RevokeArgs),
    /// Save a node's messages to a file, signed bytes untouched.
    #[command(after_help = "Examples:\n  tocsin export --out eastland.tocsin\n  \
        tocsin export --node https://127.0.0.1:7701 --ca baku-data/tls/ca.crt --country AZ --kind alert --out az.tocsin\n  \
        tocsin export --for baku.have --out for-baku.tocsin   only what the node of baku.have lacks\n\n\
        Exports what a reader of the node sees (no embargoed or withdrawn content).")]
    Export(transfer::ExportArgs),
    /// Write a summary of what a node holds (for a node cut off from the network: carry it
    /// to a connected node, whose `tocsin export --for` answers it with what it lacks).
    #[command(after_help = "Examples:\n  tocsin have --out /media/usb/baku.have\n  \
        tocsin have --node https://127.0.0.1:7701 --ca baku-data/tls/ca.crt --out baku.have\n\n\
        About 35 bytes a message: 10,000 messages make ~350 KB. See README, \"Sneakernet\".")]
    Have(have::HaveArgs),
    /// Reconcile the node on this machine with a peer now: each side gets what it lacks.
    #[command(after_help = "Examples:\n  tocsin sync --peer geneva\n  \
        tocsin sync --url https://baku.example.org:7700 --ca baku-ca.crt\n  \
        tocsin sync --peer geneva --node https://127.0.0.1:7701 --node-ca baku-data/tls/ca.crt --json\n\n\
        Run it on the node's machine: the node answers it only there. A configured peer is\n\
        offered what peers may see; a node by URL only what readers may see.")]
    Sync(sync::SyncArgs),
    /// Publish the messages of an export file to a node.
    #[command(
        after_help = "Example:\n  tocsin import eastland.tocsin --node https://127.0.0.1:7702 --ca geneva-data/tls/ca.crt\n\n\
        Every message is verified by the node as if it were new; expired ones are refused."
    )]
    Import(transfer::ImportArgs),
    /// Start three nodes in this process, post sample alerts and calls, watch them cross.
    #[command(after_help = "Examples:\n  tocsin demo\n  tocsin demo --keep\n\n\
        Every organisation and person in the demo is fictional.")]
    Demo(demo::DemoArgs),
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
    #[command(
        after_help = "Examples:\n  tocsin node init --data ./geneva-data\n  tocsin node init --config geneva.toml --name geneva --data geneva-data --listen 127.0.0.1:7702 --http-listen 127.0.0.1:7782\n  tocsin node run --config geneva.toml"
    )]
    Init(node::InitArgs),
    /// Show a node's identity, log head, counts and peers.
    #[command(
        after_help = "Example:\n  tocsin node status --node https://127.0.0.1:7700 --ca tocsin-data/tls/ca.crt"
    )]
    Status(node::StatusArgs),
    /// Verify a stopped node's store (every record, log entry, body and index row); exit 1 if
    /// damaged. --repair drops what cannot be served and rebuilds the indexes.
    #[command(
        after_help = "Examples:\n  tocsin node check --data ./geneva-data\n  tocsin node check --data ./geneva-data --repair\n\n\
        Stop the node first. Dropped messages are asked of the node's peers when it runs again."
    )]
    Check(node::CheckArgs),
    /// Copy a running node's data directory (its key, TLS files and store, consistently) into
    /// a new or empty directory on the node's machine; publishes wait while the store is copied.
    #[command(
        after_help = "Examples:\n  tocsin node backup /srv/backups/geneva-monday\n  tocsin node backup ./geneva-backup --node https://127.0.0.1:7701 --ca baku-data/tls/ca.crt\n\n\
        Run it on the node's machine: the node answers it only there. To restore, start a node on\n\
        the copy: tocsin node run --data /srv/backups/geneva-monday (see README, \"Backups and restoring\")."
    )]
    Backup(node::BackupArgs),
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
        if !(crate::rpc::is_plaintext_url(&self.url) || crate::rpc::is_tls_url(&self.url)) {
            return Err(Failure::usage(format!(
                "--node {:?} must be a URL like https://127.0.0.1:7700",
                self.url
            )));
        }
        let ca_path = self.ca.clone().or_else(|| {
            let local = std::path::Path::new(LOCAL_CA);
            local.exists().then(|| local.to_path_buf())
        });
        let tls = crate::rpc::ClientTls::trusting(ca_path.as_deref()).with_context(|| {
            format!(
                "reading the CA certificate {}",
                ca_path
                    .as_deref()
                    .unwrap_or(std::path::Path::new(""))
                    .display()
            )
        })?;
        // The client's error says what went wrong and what to type instead (`rpc/connect.rs`).
        crate::rpc::Client::connect_with(&self.url, &tls)
            .await
            .with_context(|| format!("connecting to {}", self.url))
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

    /// A refusal or failure the user should read as such (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            code: 1,
        }
    }
}

/// The flags every command that talks to a node takes, which a user may also write before the
/// command (`tocsin --ca F node status`, as `node init` once printed it).
const NODE_FLAGS: [&str; 2] = ["--node", "--ca"];

/// The command line with `--node`/`--ca` given before the command moved after it, where the
/// command's own flags are (they are defined per command; clap's global flags propagate
/// downwards only). Anything else is left as it is, for clap to judge.
pub fn hoist_node_flags(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let mut hoisted = Vec::new();
    let mut at = 1;
    while at < args.len() {
        let Some(arg) = args[at].to_str() else { break };
        let with_value = NODE_FLAGS.contains(&arg);
        let joined = NODE_FLAGS.iter().any(|f| {
            arg.strip_prefix(f)
                .is_some_and(|rest| rest.starts_with('='))
        });
        if with_value && at + 1 < args.len() {
            hoisted.extend(args.drain(at..at + 2));
        } else if joined {
            hoisted.push(args.remove(at));
        } else if arg.starts_with('-') {
            // Another flag before the command (--help, --version): not ours to move.
            at += 1;
        } else {
            break;
        }
    }
    if at >= args.len() {
        // No command: put them back for clap to say so.
        args.splice(1..1, hoisted);
        return args;
    }
    // After the command's own words, but before a `--` that ends the flags.
    let end = args.iter().position(|a| a == "--").unwrap_or(args.len());
    args.splice(end..end, hoisted);
    args
}

/// Runs a parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Keygen(args) => keys::keygen(&args),
        Command::Commit(args) => block_on(keys::commit(args)),
        Command::Rotate(args) => block_on(ending::rotate(args)),
        Command::Key(args) => block_on(key_info::key(args)),
        Command::Sign(sign) => match *sign {
            SignCommand::Alert(args) => compose::sign_alert(&args),
            SignCommand::Call(args) => compose::sign_call(&args),
        },
        Command::Inspect(args) => inspect(&args),
        Command::Post(cmd) => block_on(post::post(*cmd)),
        Command::Update(args) => block_on(post::update(*args)),
        Command::Cancel(args) => block_on(post::cancel(args)),
        Command::Endorse(args) => block_on(post::endorse(args)),
        Command::Report(args) => block_on(report::report(*args)),
        Command::Translate(args) => block_on(translate::translate(*args)),
        Command::Profile(cmd) => block_on(post::profile(cmd)),
        Command::Roster(cmd) => block_on(post::roster(cmd)),
        Command::Send(args) => block_on(client::send(args)),
        Command::Revoke(args) => block_on(ending::revoke(args)),
        Command::Follow(args) => block_on(read::follow(args)),
        Command::Show(args) => block_on(read::show(args)),
        Command::Deadlines(args) => block_on(deadlines::deadlines(args)),
        Command::Export(args) => block_on(transfer::export(args)),
        Command::Import(args) => block_on(transfer::import(args)),
        Command::Have(args) => block_on(have::have(args)),
        Command::Sync(args) => block_on(sync::sync(args)),
        Command::Demo(args) => block_on(demo::run(args)),
        Command::Node(NodeCommand::Run(args)) => block_on(node::run(args)),
        Command::Node(NodeCommand::Status(args)) => block_on(node::status(args)),
        Command::Peer(cmd) => peer::run(cmd),
        Command::Ca(cmd) => ca::run(cmd),
        Command::Node(NodeCommand::Init(args)) => node::init(args),
        Command::Node(NodeCommand::Check(args)) => block_on(node::check(args)),
        Command::Node(NodeCommand::Backup(args)) => block_on(node::backup(args)),
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
    if closed_pipe(&err) {
        return ExitCode::SUCCESS;
    }
    let code = err.downcast_ref::<Failure>().map_or(1, |f| f.code);
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{}", error_text(&err));
    let _ = writeln!(stderr);
    ExitCode::from(code)
}

/// An error and its causes, one a line; a cause that only repeats the end of the line above
/// (an I/O error a wrapper already quoted) is left out.
fn error_text(err: &anyhow::Error) -> String {
    let mut text = format!("error: {err}");
    let mut last = err.to_string();
    for cause in err.chain().skip(1) {
        let line = cause.to_string();
        if !last.ends_with(&line) {
            text.push_str(&format!("\n  caused by: {line}"));
        }
        last = line;
    }
    text
}

/// Whether the error is stdout closed by its reader, as a write error of its own or inside a
/// JSON writer's (`serde_json` keeps the `io::Error` out of the source chain).
fn closed_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                e.downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            })
            == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// Parses a message id or says what one looks like.
pub(crate) fn parse_id(s: &str) -> anyhow::Result<Id> {
    s.parse().map_err(|_| {
        Failure::usage(format!(
            "{s:?} is not a message id; an id is 64 hex digits, as `tocsin follow` and \
             `tocsin post` print them"
        ))
    })
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
        .and_then(|s| Message::open(s, now))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    /// Standard output after its reader has gone (`| head`).
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(Error::from(ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_cause_that_repeats_the_line_above_is_left_out() {
        let io = Error::from(ErrorKind::NotFound);
        let err = anyhow::Error::new(io)
            .context(format!("nokey.key: {}", Error::from(ErrorKind::NotFound)))
            .context("loading the key nokey.key");
        let text = error_text(&err);
        assert_eq!(text.matches("entity not found").count(), 1, "{text}");
        assert!(text.starts_with("error: loading the key nokey.key\n  caused by: nokey.key"));
    }

    #[test]
    fn a_closed_pipe_ends_text_and_json_output_quietly() {
        let text = writeln!(Closed, "#1 ALERT")
            .map_err(anyhow::Error::from)
            .context("printing the feed");
        assert!(closed_pipe(&text.unwrap_err()));
        let json = serde_json::to_writer(Closed, &serde_json::json!({ "seq": 1 }))
            .map_err(anyhow::Error::from)
            .context("printing the feed");
        assert!(closed_pipe(&json.unwrap_err()));
        assert!(!closed_pipe(&anyhow::anyhow!("refused: expired")));
        assert!(!closed_pipe(&anyhow::Error::from(Error::from(
            ErrorKind::PermissionDenied
        ))));
    }

    /// Every help text of the command tree, long form (doc comments, defaults, examples), by
    /// the command's path.
    fn every_help(command: &mut clap::Command, path: &str, into: &mut Vec<(String, String)>) {
        into.push((path.to_string(), command.render_long_help().to_string()));
        for sub in command.get_subcommands_mut() {
            let path = format!("{path} {}", sub.get_name());
            every_help(sub, &path, into);
        }
    }

    #[test]
    fn node_flags_before_the_command_are_moved_after_it() {
        let moved = |line: &str| -> String {
            let args = line.split(' ').map(std::ffi::OsString::from);
            hoist_node_flags(args)
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            moved("tocsin --ca c.crt node status"),
            "tocsin node status --ca c.crt"
        );
        assert_eq!(
            moved("tocsin --node=https://h:7700 --ca c.crt follow --lang fr"),
            "tocsin follow --lang fr --node=https://h:7700 --ca c.crt"
        );
        assert_eq!(
            moved("tocsin --ca c.crt send -- -odd.msg"),
            "tocsin send --ca c.crt -- -odd.msg"
        );
        assert_eq!(
            moved("tocsin node status --ca c.crt"),
            "tocsin node status --ca c.crt"
        );
        assert_eq!(moved("tocsin --help"), "tocsin --help");
        // Parsed, the moved flags are the command's own.
        use clap::Parser;
        let cli = Cli::try_parse_from(hoist_node_flags(
            "tocsin --ca c.crt --node https://h:7701 node status"
                .split(' ')
                .map(std::ffi::OsString::from),
        ))
        .unwrap();
        let Command::Node(NodeCommand::Status(status)) = cli.command else {
            panic!("not node status");
        };
        assert_eq!(status.node.url, "https://h:7701");
        assert_eq!(status.node.ca, Some(PathBuf::from("c.crt")));
    }

    #[test]
    fn no_help_text_names_a_plaintext_grpc_url() {
        use clap::CommandFactory;
        let mut helps = Vec::new();
        every_help(&mut Cli::command(), "tocsin", &mut helps);
        assert!(helps.len() > 30, "the walk found {} commands", helps.len());
        // The nodes' gRPC ports are TLS; the web gateway's links (http://…:7780) are right.
        let plaintext_grpc = |help: &str| {
            help.match_indices("http://127.0.0.1:77")
                .any(|(at, _)| !help[at..].starts_with("http://127.0.0.1:778"))
                || help.contains("http://localhost")
        };
        for (path, help) in &helps {
            assert!(
                !plaintext_grpc(help),
                "{path}: names a plaintext gRPC URL (the node speaks TLS: https:// and --ca FILE)"
            );
        }
        let top = &helps[0].1;
        assert!(
            top.contains("https://127.0.0.1:7700") && top.contains("--ca FILE"),
            "{top}"
        );
    }
}
