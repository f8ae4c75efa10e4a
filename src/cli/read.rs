//! Reading: `follow` (a node's feed, for people or for scripts) and `show` (one message with its
//! history, endorsers and the tally of what organisations reported).

use std::collections::HashMap;
use std::io::Write;

use anyhow::Context;
use futures::StreamExt;

use super::names::Names;
use super::render::{Facts, Reader, headline_of, message_json, name_translator};
use super::tally;
use super::term::{Clock, Style};
use super::{Failure, NodeUrl, parse_id};
use crate::message::{
    AuthorKey, Content, Filter, Id, Kind, Message, SignedMessage, is_language_tag,
};
use crate::rpc::{Client, ClientEvent, GetState};

/// Which messages: the filters of `follow` and `export`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct FilterArgs {
    /// Only messages by this author (public key in hex; repeat for several).
    #[arg(long = "author", value_name = "KEY")]
    pub authors: Vec<String>,
    /// Only these kinds: alert, call, update, cancel, endorsement, translation, profile, roster,
    /// revocation, report, commitment, rotation (repeat for several).
    #[arg(long = "kind", value_name = "KIND")]
    pub kinds: Vec<String>,
    /// Only messages with this topic (repeat for several).
    #[arg(long = "topic", value_name = "SLUG")]
    pub topics: Vec<String>,
    /// Only messages concerning this country, ISO 3166-1 alpha-2 (repeat for several).
    #[arg(long = "country", value_name = "CC")]
    pub countries: Vec<String>,
    /// Only messages with text in this language (repeat for several).
    #[arg(long = "only-lang", value_name = "TAG")]
    pub only_langs: Vec<String>,
}

/// `tocsin follow`
#[derive(Debug, clap::Args)]
pub struct FollowArgs {
    /// The node.
    #[command(flatten)]
    pub node: NodeUrl,
    /// Which messages.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Show each message in this language when it has it (repeat in order of preference)
    /// [default: the language of your locale, then English].
    #[arg(long = "lang", value_name = "TAG")]
    pub langs: Vec<String>,
    /// Start after this seq of the node's log (0 is the beginning).
    #[arg(long, default_value_t = 0, value_name = "SEQ")]
    pub since: u64,
    /// One JSON object per line: seq, id, author, kind, times, content, and body and signature
    /// in base64. Messages of a kind this version does not know come as kind "unknown" (the
    /// text output leaves them out).
    #[arg(long)]
    pub json: bool,
    /// Exit once the backlog has been printed, instead of following live.
    #[arg(long)]
    pub until_caught_up: bool,
}

/// `tocsin show`
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The message id (64 hex digits).
    pub id: String,
    /// The node.
    #[command(flatten)]
    pub node: NodeUrl,
    /// Show only the text in this language, or the best match (repeat in order of preference)
    /// [default: every language].
    #[arg(long = "lang", value_name = "TAG")]
    pub langs: Vec<String>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Refuses a language tag that is not BCP-47, saying what to type.
pub(crate) fn check_lang(tag: &str, flag: &str) -> anyhow::Result<String> {
    let tag = tag.trim();
    if tag == "*" || is_language_tag(tag) {
        Ok(tag.to_string())
    } else {
        Err(Failure::usage(format!(
            "{flag} {tag:?} is not a language tag; use a BCP-47 tag like en, fr, az or pt-BR"
        )))
    }
}

impl FilterArgs {
    /// The filter, each value checked, with what to type instead when one is wrong.
    pub(crate) fn filter(&self) -> anyhow::Result<Filter> {
        Ok(Filter {
            authors: self
                .authors
                .iter()
                .map(|a| {
                    a.parse::<AuthorKey>().map_err(|e| {
                        Failure::usage(format!(
                            "--author {a:?}: {} (a public key is the 64 hex digits `tocsin keygen` printed)",
                            e.detail
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
            kinds: self
                .kinds
                .iter()
                .map(|k| {
                    Kind::parse(k.trim()).ok_or_else(|| {
                        let all: Vec<_> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                        Failure::usage(format!(
                            "--kind {k:?} is not a kind; use one of: {}",
                            all.join(", ")
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
            topics: self.topics.iter().map(|t| t.trim().to_string()).collect(),
            countries: self
                .countries
                .iter()
                .map(|c| {
                    let c = c.trim().to_ascii_uppercase();
                    if c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()) {
                        Ok(c)
                    } else {
                        Err(Failure::usage(format!(
                            "--country {c:?} is not a country code; use ISO 3166-1 alpha-2, like AZ or FR"
                        )))
                    }
                })
                .collect::<Result<_, _>>()?,
            languages: self
                .only_langs
                .iter()
                .map(|l| check_lang(l, "--only-lang"))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// The reader's language preferences: the flags, else the locale's language (LC_ALL,
/// LC_MESSAGES, LANG), else none (English, then the author's first language, is shown).
pub(crate) fn preferences(flags: &[String]) -> anyhow::Result<Vec<String>> {
    if !flags.is_empty() {
        return flags.iter().map(|l| check_lang(l, "--lang")).collect();
    }
    let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.is_empty());
    Ok(locale
        .and_then(|l| locale_language(&l))
        .into_iter()
        .collect())
}

/// "fr_FR.UTF-8" → "fr-FR"; "C" and "POSIX" name no language.
fn locale_language(locale: &str) -> Option<String> {
    let base = locale.split(['.', '@']).next()?.replace('_', "-");
    if base.is_empty() || base == "C" || base == "POSIX" || !is_language_tag(&base) {
        return None;
    }
    Some(base)
}

/// The running tally of an alert or call in words, against the goals of `shown` (its current
/// version when known).
fn running_tally(state: &GetState, shown: Option<&Message>) -> Option<String> {
    let current = state
        .current
        .clone()
        .and_then(|m| Message::from_store(m).ok());
    tally::running(
        current
            .as_ref()
            .or(shown)
            .map_or(&[][..], |m| m.body().goals()),
        &state.tally,
    )
}

/// What a node says about messages beside their content, asked once per id.
#[derive(Debug, Default)]
struct Known {
    states: HashMap<Id, Option<GetState>>,
}

impl Known {
    async fn state(&mut self, client: &mut Client, id: Id) -> Option<&GetState> {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.states.entry(id) {
            // A reader's extra facts are best effort: the feed goes on without them.
            slot.insert(client.get(id).await.ok().flatten());
        }
        self.states.get(&id).and_then(|s| s.as_ref())
    }

    async fn facts(&mut self, client: &mut Client, m: &Message, langs: &[String]) -> Facts {
        match m.kind() {
            Kind::Alert | Kind::Call => match self.state(client, m.id()).await {
                Some(s) => Facts {
                    endorsements: Some(s.endorsers.len()),
                    updates: s.updates.len(),
                    target_headline: None,
                    tally: running_tally(s, Some(m)),
                },
                None => Facts::default(),
            },
            _ => {
                let Some(target) = m.body().target() else {
                    return Facts::default();
                };
                let state = self.state(client, target).await;
                let shown = state.and_then(|s| {
                    let shown = s.current.clone().or_else(|| s.message.clone())?;
                    Message::from_store(shown).ok()
                });
                Facts {
                    target_headline: shown.as_ref().and_then(|m| headline_of(m, langs)),
                    // A report brings its target's tally as it stands with it.
                    tally: state
                        .filter(|_| m.kind() == Kind::Report)
                        .and_then(|s| running_tally(s, shown.as_ref())),
                    ..Facts::default()
                }
            }
        }
    }

    /// A message's state changes as the feed goes on (endorsements, updates): ask again.
    fn forget(&mut self, id: &Id) {
        self.states.remove(id);
    }
}

/// The keys a message names whose story a reader may need (its author; a rotation's and a
/// revocation's successor and compromised key), asked of the node. A key event that arrives
/// live changes what the node says of the keys it names, so they are asked again (while
/// catching up, the node's answer is already what follows the whole backlog).
async fn learn_keys(names: &mut Names, client: &mut Client, m: &Message, live: bool) {
    let b = m.body();
    let mut keys = vec![b.author];
    match &b.content {
        Content::Rotation(r) => keys.extend([r.compromised, r.successor]),
        Content::Revocation(r) => keys.extend(r.successor),
        _ => {}
    }
    if live && b.kind().is_key_event() {
        keys.iter().for_each(|k| names.forget_key(k));
    }
    for k in &keys {
        names.learn_key(client, k).await;
    }
}

pub(crate) async fn follow(args: FollowArgs) -> anyhow::Result<()> {
    let filter = args.filter.filter()?;
    let langs = preferences(&args.langs)?;
    let mut client = args.node.connect().await?;
    let mut events = client
        .subscribe(&filter, args.since, None)
        .await
        .context("subscribing")?;
    let mut names_loaded = !args.json;
    let mut names = if args.json {
        Names::default()
    } else {
        Names::load(&client).await?
    };
    let mut known = Known::default();
    let mut clock = Clock::system();
    let style = Style::stdout();
    let mut stdout = std::io::stdout().lock();
    let mut live = false;
    while let Some(event) = events.next().await {
        match event.context("following")? {
            ClientEvent::Delivery { seq, message } => {
                // The node verified it, but a reader trusts no relay: verify again here.
                let message = match Message::open_untimed(message) {
                    Ok(m) => m,
                    Err(r) => {
                        eprintln!("#{seq}: skipped a message that does not verify here ({r})");
                        continue;
                    }
                };
                if args.json {
                    let mut v = message_json(&message, Some(seq));
                    if message.kind() == Kind::Translation {
                        // Names only for the kind that needs them: most feeds carry none.
                        if !names_loaded {
                            names = Names::load(&client).await?;
                            names_loaded = true;
                        }
                        names.learn_key(&mut client, message.author()).await;
                        name_translator(&mut v, &message, &names);
                    } else {
                        names.learn(&message);
                    }
                    serde_json::to_writer(&mut stdout, &v)?;
                    writeln!(stdout)?;
                } else if message.kind() == Kind::Unknown {
                    // A newer version's kind: nothing here can be shown of it, so the text
                    // feed says nothing (`--json` carries it, kind "unknown", for scripts).
                    continue;
                } else {
                    names.learn(&message);
                    learn_keys(&mut names, &mut client, &message, live).await;
                    clock.tick();
                    if live && let Some(target) = message.body().target() {
                        known.forget(&target);
                    }
                    let facts = known.facts(&mut client, &message, &langs).await;
                    let reader = Reader {
                        style,
                        clock: &clock,
                        names: &names,
                        langs: &langs,
                        full: false,
                    };
                    writeln!(stdout, "{}", reader.entry(Some(seq), &message, &facts))?;
                }
                stdout.flush()?;
            }
            ClientEvent::CaughtUp(seq) => {
                if args.until_caught_up {
                    return Ok(());
                }
                live = true;
                if !args.json {
                    eprintln!("-- caught up at #{seq}; following live (Ctrl-C to stop) --");
                }
            }
        }
    }
    Err(anyhow::anyhow!(
        "the node closed the subscription; resume with --since and the last seq shown"
    ))
}

pub(crate) async fn show(args: ShowArgs) -> anyhow::Result<()> {
    let id = parse_id(&args.id)?;
    let langs = args
        .langs
        .iter()
        .map(|l| check_lang(l, "--lang"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut client = args.node.connect().await?;
    let state = client.get(id).await.context("asking the node")?.ok_or_else(|| Failure::failed(format!(
            "the node at {} has no message {id}; check the id (tocsin follow shows them), or ask \
             another node with --node URL",
            client.url()
        )))?;
    let decode = |m: &SignedMessage| Message::from_store(m.clone()).ok();
    let message = state.message.as_ref().and_then(decode);
    let current = state.current.as_ref().and_then(decode);
    // The goals of the current version; for a withdrawn call, those the node tallied against.
    let goals = match current.as_ref().or(message.as_ref()) {
        Some(m) => m.body().goals().to_vec(),
        None => state.tally.goals.iter().map(|p| p.goal.clone()).collect(),
    };
    let translations: Vec<Message> = state.translations.iter().filter_map(decode).collect();
    let mut names = Names::default();
    if !args.json || !translations.is_empty() {
        names = Names::load(&client).await?;
        for author in translations.iter().map(|t| *t.author()) {
            names.learn_key(&mut client, &author).await;
        }
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({
            "id": id.to_hex(),
            "seq": state.seq,
            "message": message.as_ref().map(|m| message_json(m, Some(state.seq))),
            "current": current.as_ref().map(|m| message_json(m, None)),
            "updates": state.updates.iter().map(|u| u.to_hex()).collect::<Vec<_>>(),
            "cancelled": state.cancelled,
            "cancel_reason": state.cancel_reason,
            "endorsements": state.endorsers.len(),
            "endorsers": state.endorsers.iter().map(|(a, s, t)| serde_json::json!({
                "author": a.to_hex(), "statement": s, "created_at": t.to_rfc3339(),
            })).collect::<Vec<_>>(),
            "translations": translations.iter().map(|m| {
                let mut v = message_json(m, None);
                name_translator(&mut v, m, &names);
                v
            }).collect::<Vec<_>>(),
            "tally": tally::tally_json(&goals, &state.tally, state.cancelled),
            "withheld": state.withheld.is_some(),
            "withheld_reason": state.withheld.clone().unwrap_or_default(),
        });
        serde_json::to_writer(&mut out, &v)?;
        writeln!(out)?;
        return match &state.withheld {
            Some(why) if message.is_none() => Err(withheld(id, why)),
            _ => Ok(()),
        };
    }
    if let Some(why) = state.withheld.as_ref().filter(|_| message.is_none()) {
        return Err(withheld(id, why));
    }
    // The keys the message names (a rotation's too: whether it is in force), and its
    // endorsers; each asked of the node once.
    if let Some(m) = &message {
        learn_keys(&mut names, &mut client, m, false).await;
    }
    for (endorser, _, _) in &state.endorsers {
        names.learn_key(&mut client, endorser).await;
    }
    let clock = Clock::system();
    let st = Style::stdout();
    let reader = Reader {
        style: st,
        clock: &clock,
        names: &names,
        langs: &langs,
        full: true,
    };
    if state.cancelled {
        let reason = if state.cancel_reason.is_empty() {
            "no reason given".to_string()
        } else {
            state.cancel_reason.clone()
        };
        writeln!(
            out,
            "{} {id}\n    withdrawn by its author: {reason}\n    Its content is no longer served.",
            st.warn("CANCELLED")
        )?;
    } else {
        match (&current, &message) {
            (Some(c), Some(m)) if c.id() != m.id() => {
                writeln!(
                    out,
                    "{}",
                    st.bold(&format!(
                        "Current version ({} of {id}, posted {}):",
                        if state.updates.len() == 1 {
                            "the update".to_string()
                        } else {
                            format!("update {} of {}", state.updates.len(), state.updates.len())
                        },
                        clock.relative(c.body().created_at)
                    ))
                )?;
                let facts = Facts {
                    endorsements: Some(state.endorsers.len()),
                    updates: state.updates.len(),
                    target_headline: headline_of(m, &langs),
                    // Shown in full below.
                    tally: None,
                };
                writeln!(out, "{}", reader.entry(None, c, &facts))?;
            }
            (_, Some(m)) => {
                let facts = Facts {
                    endorsements: matches!(m.kind(), Kind::Alert | Kind::Call)
                        .then_some(state.endorsers.len()),
                    ..Facts::default()
                };
                writeln!(out, "{}", reader.entry(Some(state.seq), m, &facts))?;
                if let Some(target) = m.body().target()
                    && m.kind() == Kind::Update
                {
                    writeln!(
                        out,
                        "This is an update; see the whole story with: tocsin show {target}"
                    )?;
                }
            }
            _ => writeln!(
                out,
                "{id} is stored but not shown yet (under embargo until its release time)"
            )?,
        }
    }
    write!(
        out,
        "{}",
        tally::tally_text(&goals, &state.tally, &names, &clock, st, state.cancelled)
    )?;
    if !state.updates.is_empty() {
        writeln!(out, "{}", st.bold("History:"))?;
        if let Some(m) = &message {
            writeln!(
                out,
                "  {:<9} {}  {}  {}",
                "original",
                m.id().short(),
                clock.when(m.body().created_at),
                headline_of(m, &langs).unwrap_or_default()
            )?;
        }
        for (n, u) in state.updates.iter().enumerate() {
            let update = client
                .get(*u)
                .await
                .ok()
                .flatten()
                .and_then(|s| s.message)
                .and_then(|m| Message::from_store(m).ok());
            match update {
                Some(m) => writeln!(
                    out,
                    "  {:<9} {}  {}  {}",
                    format!("update {}", n + 1),
                    m.id().short(),
                    clock.when(m.body().created_at),
                    headline_of(&m, &langs).unwrap_or_default()
                )?,
                None => writeln!(out, "  {:<9} {}", format!("update {}", n + 1), u.short())?,
            }
        }
    }
    if !translations.is_empty() {
        writeln!(out, "{}", st.bold("Translations by others:"))?;
        for t in &translations {
            for info in t.body().info() {
                writeln!(out, "  [{}] {}", info.language, st.bold(&info.headline))?;
            }
            writeln!(
                out,
                "      translated by {} · {}",
                names.describe(t.author()),
                clock.when(t.body().created_at)
            )?;
        }
    }
    if !state.endorsers.is_empty() {
        writeln!(
            out,
            "{}",
            st.bold(&format!("Endorsed by {}:", state.endorsers.len()))
        )?;
        for (author, statement, at) in &state.endorsers {
            let statement = if statement.is_empty() {
                String::new()
            } else {
                format!(" · \u{201c}{statement}\u{201d}")
            };
            writeln!(
                out,
                "  {} · {}{statement}",
                names.describe(author),
                clock.when(*at)
            )?;
        }
    }
    out.flush()?;
    Ok(())
}

/// A withheld message: not found for readers, as before, but saying why.
fn withheld(id: Id, why: &str) -> anyhow::Error {
    Failure::failed(format!(
        "message {id} is withheld by this node: {why}. Its content is not served."
    ))
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locales_name_languages() {
        assert_eq!(locale_language("fr_FR.UTF-8").as_deref(), Some("fr-FR"));
        assert_eq!(locale_language("az_AZ@latin").as_deref(), Some("az-AZ"));
        assert_eq!(locale_language("C.UTF-8"), None);
        assert_eq!(locale_language("POSIX"), None);
    }

    #[test]
    fn filter_values_are_checked() {
        let bad = |f: FilterArgs| f.filter().unwrap_err().to_string();
        assert!(
            bad(FilterArgs {
                kinds: vec!["alerts".into()],
                ..Default::default()
            })
            .contains("alert, call")
        );
        assert!(
            bad(FilterArgs {
                countries: vec!["Azerbaijan".into()],
                ..Default::default()
            })
            .contains("alpha-2")
        );
        assert!(
            bad(FilterArgs {
                only_langs: vec!["english".into()],
                ..Default::default()
            })
            .contains("BCP-47")
        );
        let ok = FilterArgs {
            countries: vec!["az".into()],
            ..Default::default()
        }
        .filter()
        .unwrap();
        assert_eq!(ok.countries, vec!["AZ"]);
    }
}
