//! Posting: `post alert|call`, `update`, `cancel`, `endorse`, `profile set`, `roster publish`.
//! Each builds a message, shows what will be signed and asks when a person is at the terminal,
//! then publishes it and says where it went.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use super::client::{print_outcome, publish_one};
use super::compose::{AlertArgs, CallArgs, Draft, finish, warn_unnamed_conventions};
use super::names::Names;
use super::render::{Facts, Reader, headline_of};
use super::term::{self, Clock, Style};
use super::{Failure, NodeUrl, parse_id};
use crate::keyfile;
use crate::message::{
    AuthorKey, Body, Cancel, Content, Endorsement, Id, Kind, Message, Profile, Roster,
    RosterMember, SecretKey, Timestamp, max_lifetime,
};
use crate::rpc::{Client, GetState};

/// `tocsin post …`
#[derive(Debug, clap::Subcommand)]
pub enum PostCommand {
    /// Sign and publish a solidarity alert.
    #[command(
        after_help = "Examples:\n  tocsin post alert --key eastland.key --lang en \\\n    \
        --headline \"Four union leaders arrested in Eastport\" \\\n    \
        --description \"Police detained four leaders of the Eastland Dockworkers' Union.\" \\\n    \
        --category arrest --severity severe --country AZ\n  \
        tocsin post alert --key eastland.key --file config/alert.example.toml\n  \
        tocsin post alert --key eastland.key --file arrest.toml --severity extreme --yes --json\n\n\
        The file carries the fields and one [[info]] block per language; flags given with it\n\
        override its values (a text flag changes the block of its --lang)."
    )]
    Alert(PostAlertArgs),
    /// Sign and publish a coordinated-action call.
    #[command(
        after_help = "Examples:\n  tocsin post call --key eastland.key --lang en \\\n    \
        --headline \"Write to the President of Eastland\" --description \"Demand their release.\" \\\n    \
        --action letter --target \"President of Eastland\" --deadline 2026-12-10T00:00:00Z \\\n    \
        --goal letters=3000 --goal organisations=20 --goal donations=5000:EUR\n  \
        tocsin post call --key eastland.key --file config/call.example.toml\n\n\
        Goals are shown with the progress of the organisations' reports (tocsin report)."
    )]
    Call(PostCallArgs),
}

/// Where to post and how to answer.
#[derive(Debug, Clone, clap::Args)]
pub struct PostOptions {
    /// The secret key file to sign with.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The node.
    #[command(flatten)]
    pub node: NodeUrl,
    /// Print {"id", "seq", "status"} as JSON.
    #[arg(long)]
    pub json: bool,
    /// Do not ask before signing and sending (it only asks at a terminal anyway).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// `tocsin post alert`
#[derive(Debug, clap::Args)]
pub struct PostAlertArgs {
    /// The fields.
    #[command(flatten)]
    pub alert: AlertArgs,
    /// Where and how.
    #[command(flatten)]
    pub opts: PostOptions,
}

/// `tocsin post call`
#[derive(Debug, clap::Args)]
pub struct PostCallArgs {
    /// The fields.
    #[command(flatten)]
    pub call: CallArgs,
    /// Where and how.
    #[command(flatten)]
    pub opts: PostOptions,
}

/// `tocsin update`
#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// The id of the alert or call to update (64 hex digits).
    pub id: String,
    /// What changes; everything else is kept from the current version.
    #[command(flatten)]
    pub call: CallArgs,
    /// Where and how.
    #[command(flatten)]
    pub opts: PostOptions,
}

/// `tocsin cancel`
#[derive(Debug, clap::Args)]
pub struct CancelArgs {
    /// The id of the alert or call to withdraw (64 hex digits).
    pub id: String,
    /// Why it is withdrawn; readers see this instead of the content.
    #[arg(long)]
    pub reason: String,
    /// Where and how.
    #[command(flatten)]
    pub opts: PostOptions,
}

/// `tocsin endorse`
#[derive(Debug, clap::Args)]
pub struct EndorseArgs {
    /// The id of the alert or call to endorse (64 hex digits).
    pub id: String,
    /// A statement of support, shown with the endorsement.
    #[arg(long)]
    pub statement: Option<String>,
    /// Where and how.
    #[command(flatten)]
    pub opts: PostOptions,
}

/// `tocsin profile …`
#[derive(Debug, clap::Subcommand)]
pub enum ProfileCommand {
    /// Publish your organisation's name (and country, website, description) under your key.
    #[command(after_help = "Example:\n  tocsin profile set --key eastland.key \
        --name \"Eastland Dockworkers' Union\" \\\n    --country AZ --website https://dockers.example.org \
        --description \"Dockworkers of the port of Eastport since 1921.\"\n\n\
        The latest profile replaces earlier ones. A profile is your own claim; a federation's\n\
        roster that lists your key vouches for it.")]
    Set(ProfileSetArgs),
}

/// `tocsin profile set`
#[derive(Debug, clap::Args)]
pub struct ProfileSetArgs {
    /// The organisation's name.
    #[arg(long)]
    pub name: String,
    /// Its country, ISO 3166-1 alpha-2 (AZ).
    #[arg(long, value_name = "CC")]
    pub country: Option<String>,
    /// Its website (https://).
    #[arg(long, value_name = "URL")]
    pub website: Option<String>,
    /// A few words about it.
    #[arg(long)]
    pub description: Option<String>,
    /// Where and how.
    #[command(flatten)]
    pub opts: PostOptions,
}

/// `tocsin roster …`
#[derive(Debug, clap::Subcommand)]
pub enum RosterCommand {
    /// Publish your federation's list of member organisations' keys, from a TOML file.
    #[command(
        after_help = "Example:\n  tocsin roster publish config/roster.example.toml --key federation.key\n\n\
        The file lists members as [[member]] tables with key (64 hex digits), name and an\n\
        optional country. The latest roster replaces earlier ones; nodes that trust your\n\
        federation admit its members."
    )]
    Publish(RosterPublishArgs),
}

/// `tocsin roster publish`
#[derive(Debug, clap::Args)]
pub struct RosterPublishArgs {
    /// The roster file.
    pub file: PathBuf,
    /// Where and how.
    #[command(flatten)]
    pub opts: PostOptions,
}

pub(super) fn load_key(opts: &PostOptions) -> anyhow::Result<SecretKey> {
    load_key_file(&opts.key)
}

/// Loads an organisation's key, saying how to make one when there is none.
pub(super) fn load_key_file(path: &Path) -> anyhow::Result<SecretKey> {
    keyfile::load(path).with_context(|| loading_key("the key", path))
}

/// What failed when a key file did not load: with how to make one when there is no file (a
/// file that is there but unsafe or damaged says why itself).
pub(super) fn loading_key(what: &str, path: &Path) -> String {
    if path.exists() {
        format!("loading {what} {}", path.display())
    } else {
        format!(
            "loading {what} {} (make one with: tocsin keygen {})",
            path.display(),
            path.display()
        )
    }
}

/// Shows the message and asks, when a person is at the terminal and did not say --yes; then
/// publishes the key's recovery commitment if it is not yet published, the message, and reports.
/// Every command that publishes with a key goes through here.
pub(super) async fn deliver(
    opts: &PostOptions,
    key: &SecretKey,
    client: &mut Client,
    message: &Message,
    facts: &Facts,
) -> anyhow::Result<()> {
    if !opts.yes && term::interactive() {
        let names = Names::load(client).await.unwrap_or_default();
        let clock = Clock::system();
        let reader = Reader {
            style: Style::stderr(),
            clock: &clock,
            names: &names,
            langs: &[],
            full: true,
        };
        let summary = format!(
            "This {} will be signed with {} and sent to {}:\n\n{}\n",
            message.kind(),
            opts.key.display(),
            client.url(),
            reader.entry(None, message, facts)
        );
        term::confirm_or_stop(&summary, "Sign and send?", "send")?;
    }
    // The first thing a key with a recovery key publishes is its commitment to it.
    super::keys::commit_first(&opts.key, key, client, opts.json).await?;
    let outcome = publish_one(client, message.signed()).await?;
    print_outcome(outcome, Some(message.kind()), client.url(), opts.json)
}

pub(crate) async fn post(cmd: PostCommand) -> anyhow::Result<()> {
    let (opts, draft) = match &cmd {
        PostCommand::Alert(a) => {
            let mut d = Draft::new(Kind::Alert);
            d.apply_alert_args(&a.alert)?;
            (&a.opts, d)
        }
        PostCommand::Call(c) => {
            let mut d = Draft::new(Kind::Call);
            d.apply_call_args(&c.call)?;
            (&c.opts, d)
        }
    };
    let key = load_key(opts)?;
    // Everything the user typed is checked before the node is contacted.
    let message = draft.sign(&key, Timestamp::now())?;
    warn_unnamed_conventions(&message, "posting anyway");
    let mut client = opts.node.connect().await?;
    deliver(opts, &key, &mut client, &message, &Facts::default()).await
}

/// The alert or call an id names, following an update to its original.
pub(super) struct Original {
    /// The original's id.
    pub(super) id: Id,
    /// What the node says of it.
    pub(super) state: GetState,
    /// The original as signed (absent when withdrawn or under embargo).
    pub(super) message: Option<Message>,
    /// The current version (the latest update, or the original).
    pub(super) current: Option<Message>,
}

pub(super) async fn original(client: &mut Client, id: Id) -> anyhow::Result<Original> {
    shown_original(client, id).await?.ok_or_else(|| {
        Failure::failed(format!(
            "the node at {} has no message {id}; check the id (tocsin follow shows them), \
             or ask the node it was posted to with --node URL. A message under embargo is \
             shown at its hour, to its author too; to change one before then, cancel it \
             (tocsin cancel ID) and post it again",
            client.url()
        ))
        .into()
    })
}

/// [`original`], or `None` when the node shows readers no message `id`: none there, or one
/// under embargo (a reader is not told which).
async fn shown_original(client: &mut Client, id: Id) -> anyhow::Result<Option<Original>> {
    let Some(state) = client.get(id).await.context("asking the node")? else {
        return Ok(None);
    };
    let decode = |m: &Option<crate::message::SignedMessage>| {
        m.clone().and_then(|m| Message::from_store(m).ok())
    };
    let message = decode(&state.message);
    if let Some(m) = &message
        && let Content::Update(u) = &m.body().content
    {
        eprintln!(
            "note: {} is an update of {}; acting on the original",
            id.short(),
            u.supersedes.short()
        );
        return Box::pin(original(client, u.supersedes)).await.map(Some);
    }
    if let Some(m) = &message
        && !matches!(m.kind(), Kind::Alert | Kind::Call)
    {
        return Err(Failure::failed(format!(
            "{} is {}; only alerts and calls can be updated, cancelled, endorsed or reported on",
            id.short(),
            m.kind().with_article()
        ))
        .into());
    }
    let current = decode(&state.current).or_else(|| message.clone());
    Ok(Some(Original {
        id,
        state,
        message,
        current,
    }))
}

/// The body of a message about `target` (cancel, endorsement): it carries the target's topics
/// and countries, so followers who filter on them see it too, and lives at least as long.
pub(super) fn about_body(
    key: &SecretKey,
    target: Option<&Message>,
    content: Content,
    now: Timestamp,
) -> Body {
    let kind = content.kind();
    let default = now.plus(Duration::from_secs(30 * 24 * 3600));
    let wanted = target
        .and_then(|t| t.body().expires_at)
        .map_or(default, |e| e.max(default));
    let cap = max_lifetime(kind).map_or(wanted, |m| now.plus(m));
    Body {
        author: key.public(),
        created_at: now,
        expires_at: Some(wanted.min(cap)),
        topics: target.map(|t| t.body().topics.clone()).unwrap_or_default(),
        countries: target
            .map(|t| t.body().countries.clone())
            .unwrap_or_default(),
        effective_at: None,
        content,
    }
}

fn warn_other_author(target: Option<&Message>, key: &SecretKey) {
    if let Some(t) = target
        && *t.author() != key.public()
    {
        eprintln!(
            "note: {} was posted by key {}, not by this key ({}); the node will accept this \
             only if this key is that author's successor",
            t.id().short(),
            t.author().short(),
            key.public().short()
        );
    }
}

/// The common start of update, cancel and endorse: the key, a connection, and the message
/// named by `id_text`, refused (exit 1) when its author cancelled it, with `why` saying what
/// that means for this command.
async fn target(
    opts: &PostOptions,
    id_text: &str,
    why: &str,
) -> anyhow::Result<(SecretKey, Client, Original)> {
    let id = parse_id(id_text)?;
    let key = load_key(opts)?;
    let mut client = opts.node.connect().await?;
    let orig = original(&mut client, id).await?;
    if orig.state.cancelled {
        return Err(Failure::failed(format!(
            "{} was cancelled by its author ({}); {why}",
            orig.id.short(),
            orig.state.cancel_reason
        ))
        .into());
    }
    Ok((key, client, orig))
}

/// Signs a message about `orig` (a cancel or an endorsement; `None` for a cancel of one the
/// node does not show) and sends it.
async fn send_about(
    opts: &PostOptions,
    client: &mut Client,
    key: &SecretKey,
    orig: Option<&Original>,
    content: Content,
) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let body = about_body(key, orig.and_then(|o| o.message.as_ref()), content, now);
    let message = finish(body, key, now)?;
    let facts = Facts {
        target_headline: orig
            .and_then(|o| o.current.as_ref())
            .and_then(|m| headline_of(m, &[])),
        ..Facts::default()
    };
    deliver(opts, key, client, &message, &facts).await
}

pub(crate) async fn update(args: UpdateArgs) -> anyhow::Result<()> {
    let (key, mut client, orig) = target(
        &args.opts,
        &args.id,
        "a cancelled message cannot be updated — post a new one instead",
    )
    .await?;
    let now = Timestamp::now();
    let current = orig.current.as_ref().ok_or_else(|| {
        Failure::failed(format!(
            "the node does not show {} yet (is it under embargo?); update it once it is released",
            orig.id.short()
        ))
    })?;
    let mut draft = Draft::from_current(current.body(), now)
        .ok_or_else(|| Failure::failed(format!("{} is not an alert or call", orig.id.short())))?;
    let before = draft.clone();
    draft.apply_call_args(&args.call)?;
    if draft == before {
        return Err(Failure::usage(
            "the update changes nothing; give the fields that change \
             (--lang en --description \"…\") or --file FILE",
        ));
    }
    let message = draft.sign_update(orig.id, &key, now)?;
    warn_other_author(orig.message.as_ref(), &key);
    warn_unnamed_conventions(&message, "posting anyway");
    let facts = Facts {
        target_headline: headline_of(current, &[]),
        ..Facts::default()
    };
    deliver(&args.opts, &key, &mut client, &message, &facts).await
}

pub(crate) async fn cancel(args: CancelArgs) -> anyhow::Result<()> {
    let id = parse_id(&args.id)?;
    let key = load_key(&args.opts)?;
    let mut client = args.opts.node.connect().await?;
    // A call under embargo is shown to no reader before its hour, its author included; a
    // cancel is what keeps it from going out, so it is sent all the same (the node withdraws
    // the call on arrival, or when the call reaches it).
    let orig = shown_original(&mut client, id).await?;
    match &orig {
        Some(o) if o.state.cancelled => {
            return Err(Failure::failed(format!(
                "{} was cancelled by its author ({}); it is cancelled already; nothing was sent",
                o.id.short(),
                o.state.cancel_reason
            ))
            .into());
        }
        Some(o) => warn_other_author(o.message.as_ref(), &key),
        None => eprintln!(
            "note: the node at {} shows no message {id}: if it is under embargo (posted with \
             --effective-at), this cancel withdraws it before its hour; if the id is wrong, it \
             withdraws nothing (tocsin follow shows the ids)",
            client.url()
        ),
    }
    // The original when the node showed one (an update's id names its original).
    let content = Content::Cancel(Cancel {
        target: orig.as_ref().map_or(id, |o| o.id),
        reason: args.reason.clone(),
    });
    send_about(&args.opts, &mut client, &key, orig.as_ref(), content).await
}

pub(crate) async fn endorse(args: EndorseArgs) -> anyhow::Result<()> {
    let (key, mut client, orig) = target(
        &args.opts,
        &args.id,
        "it was withdrawn; there is nothing to endorse",
    )
    .await?;
    if let Some((_, _, at)) = orig
        .state
        .endorsers
        .iter()
        .find(|(a, _, _)| *a == key.public())
    {
        return Err(Failure::failed(format!(
            "this key endorsed {} already, {}; one endorsement per organisation counts",
            orig.id.short(),
            Clock::system().when(*at)
        ))
        .into());
    }
    let content = Content::Endorsement(Endorsement {
        target: orig.id,
        statement: args.statement.clone().unwrap_or_default(),
    });
    send_about(&args.opts, &mut client, &key, Some(&orig), content).await
}

/// A body that lives as long as its kind may (profiles and rosters are replaced, not expired).
fn long_lived(key: &SecretKey, content: Content, now: Timestamp) -> Body {
    let life = max_lifetime(content.kind()).unwrap_or(Duration::from_secs(365 * 24 * 3600));
    Body {
        author: key.public(),
        created_at: now,
        expires_at: Some(now.plus(life)),
        topics: vec![],
        countries: vec![],
        effective_at: None,
        content,
    }
}

pub(crate) async fn profile(cmd: ProfileCommand) -> anyhow::Result<()> {
    let ProfileCommand::Set(args) = cmd;
    let key = load_key(&args.opts)?;
    let now = Timestamp::now();
    let content = Content::Profile(Profile {
        name: args.name.trim().to_string(),
        country: args
            .country
            .as_deref()
            .map(|c| c.trim().to_ascii_uppercase())
            .unwrap_or_default(),
        website: args.website.clone().unwrap_or_default(),
        description: args.description.clone().unwrap_or_default(),
    });
    let message = finish(long_lived(&key, content, now), &key, now)?;
    let mut client = args.opts.node.connect().await?;
    deliver(&args.opts, &key, &mut client, &message, &Facts::default()).await
}

/// A roster file: `[[member]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterFile {
    #[serde(default)]
    member: Vec<RosterFileMember>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterFileMember {
    key: String,
    name: String,
    country: Option<String>,
}

fn read_roster(path: &Path) -> anyhow::Result<Roster> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the roster {}", path.display()))?;
    let file: RosterFile = toml::from_str(&text).map_err(|e| {
        Failure::usage(format!(
            "{} is not a valid roster file: {}",
            path.display(),
            e.to_string().trim_end()
        ))
    })?;
    if file.member.is_empty() {
        return Err(Failure::usage(format!(
            "{} lists no members; add [[member]] tables with key, name and country",
            path.display()
        )));
    }
    let members = file
        .member
        .iter()
        .enumerate()
        .map(|(n, m)| {
            let key: AuthorKey = m.key.parse().map_err(|e| {
                Failure::usage(format!(
                    "{}: member {} ({}): {e}",
                    path.display(),
                    n + 1,
                    m.name
                ))
            })?;
            Ok(RosterMember {
                key,
                name: m.name.trim().to_string(),
                country: m
                    .country
                    .as_deref()
                    .map(|c| c.trim().to_ascii_uppercase())
                    .unwrap_or_default(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Roster { members })
}

pub(crate) async fn roster(cmd: RosterCommand) -> anyhow::Result<()> {
    let RosterCommand::Publish(args) = cmd;
    let roster = read_roster(&args.file)?;
    let key = load_key(&args.opts)?;
    let now = Timestamp::now();
    let message = finish(long_lived(&key, Content::Roster(roster), now), &key, now)?;
    let mut client = args.opts.node.connect().await?;
    deliver(&args.opts, &key, &mut client, &message, &Facts::default()).await
}
