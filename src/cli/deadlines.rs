//! `tocsin deadlines`: what is due among a node's current calls (their deadlines and the ends
//! of their action windows), soonest first, in the reader's time zone.
//!
//! It reads as `follow --until-caught-up` does, with `follow`'s filters: the node's calls from
//! the start of its log to caught up, each verified here; then, as `show` does, each call's
//! state (`Get`), which names its current version (updates applied, withdrawn calls gone).

use std::io::Write;

use anyhow::Context;
use futures::StreamExt;

use super::names::Names;
use super::read::{FilterArgs, preferences};
use super::render::pick_info;
use super::term::{Clock, Style};
use super::{Failure, NodeUrl};
use crate::message::{ActionCall, Content, Filter, Id, Kind, Message, Timestamp};
use crate::rpc::{Client, ClientEvent};

/// How many calls' states are asked for at once.
const CONCURRENT_GETS: usize = 8;

/// `tocsin deadlines`
#[derive(Debug, clap::Args)]
pub struct DeadlinesArgs {
    /// The node.
    #[command(flatten)]
    pub node: NodeUrl,
    /// Which calls (`--kind` may only say call).
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Show headlines in this language when a call has it (repeat in order of preference)
    /// [default: the language of your locale, then English].
    #[arg(long = "lang", value_name = "TAG")]
    pub langs: Vec<String>,
    /// Also list what is already past (oldest first, before what is ahead).
    #[arg(long)]
    pub past: bool,
    /// One JSON object per line, soonest first.
    #[arg(long)]
    pub json: bool,
}

/// What falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum DueKind {
    /// The call's deadline.
    Deadline,
    /// The end of its action window.
    WindowEnd,
}

impl DueKind {
    fn as_str(self) -> &'static str {
        match self {
            DueKind::Deadline => "deadline",
            DueKind::WindowEnd => "window-end",
        }
    }

    fn label(self) -> &'static str {
        match self {
            DueKind::Deadline => "deadline",
            DueKind::WindowEnd => "window ends",
        }
    }
}

/// One current call: its original's id and the version readers see now.
#[derive(Debug, Clone)]
pub(crate) struct CurrentCall {
    /// The original call's id (what `tocsin show` takes).
    pub(crate) id: Id,
    /// The current version: the call, or its latest update in effect.
    pub(crate) current: Message,
}

impl CurrentCall {
    fn call(&self) -> Option<&ActionCall> {
        self.current.body().call()
    }
}

/// One thing due.
#[derive(Debug, Clone)]
pub(crate) struct Due<'a> {
    /// When.
    pub(crate) at: Timestamp,
    /// What.
    pub(crate) kind: DueKind,
    /// Of which call.
    pub(crate) call: &'a CurrentCall,
}

/// What is due among `calls`: each deadline and window end from `now` on (and before it too
/// with `past`), soonest first; ties by call id, then deadline before window end.
pub(crate) fn due(calls: &[CurrentCall], now: Timestamp, past: bool) -> Vec<Due<'_>> {
    let mut out = Vec::new();
    for call in calls {
        let Some(c) = call.call() else { continue };
        for (at, kind) in [
            (c.deadline, DueKind::Deadline),
            (c.window_ends_at, DueKind::WindowEnd),
        ] {
            if let Some(at) = at
                && (past || at >= now)
            {
                out.push(Due { at, kind, call });
            }
        }
    }
    out.sort_by_key(|d| (d.at, d.call.id, d.kind));
    out
}

/// "in 3 days", "tomorrow, in 14 hours", "today, in 5 hours", "2 days ago".
pub(crate) fn relative(clock: &Clock, at: Timestamp) -> String {
    let rel = clock.relative(at);
    match clock.day_word(at) {
        Some(day) if at >= clock.now() => format!("{day}, {rel}"),
        _ => rel,
    }
}

/// The listing for people.
pub(crate) fn text(
    items: &[Due<'_>],
    clock: &Clock,
    names: &Names,
    langs: &[String],
    style: Style,
) -> String {
    let mut out = String::new();
    for d in items {
        let c = d.call.call();
        let headline = pick_info(d.call.current.body().info(), langs)
            .map(|(i, _)| i.headline.clone())
            .unwrap_or_default();
        let when = relative(clock, d.at);
        let when = if d.at < clock.now() {
            style.dim(&when)
        } else if d.at.since(clock.now()) < std::time::Duration::from_secs(48 * 3600) {
            style.warn(&when)
        } else {
            style.bold(&when)
        };
        out.push_str(&format!(
            "{when} · {} · {}\n  {headline}\n",
            clock.local(d.at),
            style.label(d.kind.label()),
        ));
        let mut facts = vec![names.describe(d.call.current.author())];
        if let Some(c) = c
            && !c.target.trim().is_empty()
        {
            facts.push(format!("to {}", c.target.trim()));
        }
        if d.kind == DueKind::WindowEnd
            && let Some(start) = c.and_then(|c| c.window_starts_at)
        {
            facts.push(format!("window opened {}", clock.local(start)));
        }
        facts.push(format!("tocsin show {}", d.call.id));
        out.push_str(&format!("  {}\n", style.dim(&facts.join(" · "))));
    }
    out
}

/// One item as JSON.
pub(crate) fn json(d: &Due<'_>, clock: &Clock, langs: &[String]) -> serde_json::Value {
    let c = d.call.call();
    let info = pick_info(d.call.current.body().info(), langs).map(|(i, _)| i);
    let seconds = |t: Timestamp| {
        let ms = i128::from(t.as_millis()) - i128::from(clock.now().as_millis());
        i64::try_from(ms / 1000).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
    };
    serde_json::json!({
        "due_at": d.at.to_rfc3339(),
        "what": d.kind.as_str(),
        "in_seconds": seconds(d.at),
        "relative": relative(clock, d.at),
        "id": d.call.id.to_hex(),
        "current": d.call.current.id().to_hex(),
        "author": d.call.current.author().to_hex(),
        "headline": info.map(|i| i.headline.clone()),
        "language": info.map(|i| i.language.clone()),
        "target": c.map(|c| c.target.clone()),
        "deadline": c.and_then(|c| c.deadline).map(Timestamp::to_rfc3339),
        "window_starts_at": c.and_then(|c| c.window_starts_at).map(Timestamp::to_rfc3339),
        "window_ends_at": c.and_then(|c| c.window_ends_at).map(Timestamp::to_rfc3339),
        "ilo_conventions": c.map(|c| c.ilo_conventions.clone()).unwrap_or_default(),
    })
}

/// The filter to read calls with: `follow`'s, narrowed to calls (a `--kind` other than call
/// is a usage error: nothing else has deadlines).
fn calls_filter(args: &FilterArgs) -> anyhow::Result<Filter> {
    let mut filter = args.filter()?;
    if let Some(other) = filter.kinds.iter().find(|k| **k != Kind::Call) {
        return Err(Failure::usage(format!(
            "--kind {other}: only calls have deadlines; leave --kind out (or write --kind call)"
        )));
    }
    filter.kinds = vec![Kind::Call];
    Ok(filter)
}

/// The node's current calls that pass `filter`: its backlog of calls, each verified here, then
/// each one's current version as the node states it (updates applied, withdrawn ones left
/// out); the filter's topics, countries and languages are applied again to that version.
async fn current_calls(client: &mut Client, filter: &Filter) -> anyhow::Result<Vec<CurrentCall>> {
    let mut originals = Vec::new();
    let mut events = client
        .subscribe(filter, 0, None)
        .await
        .context("reading the node's calls")?;
    while let Some(event) = events.next().await {
        match event.context("reading the node's calls")? {
            ClientEvent::Delivery { seq, message } => match Message::open_untimed(message) {
                // A reader trusts no relay: verified again here.
                Ok(m) if m.kind() == Kind::Call => originals.push(m),
                Ok(_) => {}
                Err(r) => eprintln!("#{seq}: skipped a message that does not verify here ({r})"),
            },
            ClientEvent::CaughtUp(_) => break,
        }
    }
    let again = Filter {
        authors: Vec::new(),
        kinds: Vec::new(),
        ..filter.clone()
    };
    let states = futures::stream::iter(originals)
        .map(|original| {
            let mut client = client.clone();
            async move {
                let state = client.get(original.id()).await;
                (original, state)
            }
        })
        .buffered(CONCURRENT_GETS);
    let mut calls = Vec::new();
    let mut states = std::pin::pin!(states);
    while let Some((original, state)) = states.next().await {
        let id = original.id();
        let Some(state) = state.with_context(|| format!("asking the node about {id}"))? else {
            continue;
        };
        if state.cancelled {
            continue;
        }
        let current = match state.current.map(Message::open_untimed) {
            Some(Ok(m)) => m,
            Some(Err(r)) => {
                eprintln!(
                    "{id}: its current version does not verify here ({r}); the original is shown"
                );
                original
            }
            None => original,
        };
        // The current version is the call or one of its updates, never another message.
        let belongs = current.id() == id
            || matches!(&current.body().content, Content::Update(u) if u.supersedes == id);
        if belongs && again.matches(current.body()) {
            calls.push(CurrentCall { id, current });
        }
    }
    Ok(calls)
}

/// `tocsin deadlines`.
pub(crate) async fn deadlines(args: DeadlinesArgs) -> anyhow::Result<()> {
    let filter = calls_filter(&args.filter)?;
    let langs = preferences(&args.langs)?;
    let mut client = args.node.connect().await?;
    let calls = current_calls(&mut client, &filter).await?;
    let clock = Clock::system();
    let items = due(&calls, clock.now(), args.past);
    let mut out = std::io::stdout().lock();
    if args.json {
        for d in &items {
            serde_json::to_writer(&mut out, &json(d, &clock, &langs))?;
            writeln!(out)?;
        }
    } else if items.is_empty() {
        writeln!(
            out,
            "Nothing due among the node's current calls{}.",
            if args.past {
                ""
            } else {
                " (--past lists what has passed)"
            }
        )?;
    } else {
        let names = Names::load(&client).await?;
        write!(
            out,
            "{}",
            text(&items, &clock, &names, &langs, Style::stdout())
        )?;
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests;
