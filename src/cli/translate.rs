//! `tocsin translate`: another organisation's alert or call in a language its author did not
//! write, published as a `Translation` signed by the translator, from flags, a TOML file, or
//! both. The target is fetched first, so a wrong id, a target that is not an alert or call, or a
//! language the author wrote already is refused before anything is signed.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use super::compose::finish;
use super::post::{PostOptions, about_body, deliver, load_key};
use super::read::check_lang;
use super::render::{Facts, headline_of};
use super::{Failure, parse_id};
use crate::message::{Content, Id, Info, Message, SecretKey, Timestamp, Translation, validate};
use crate::rpc::{Client, GetState};

/// `tocsin translate`
#[derive(Debug, clap::Args)]
pub struct TranslateArgs {
    /// The id of the alert or call to translate (64 hex digits; an update's id stands for its
    /// original).
    pub id: String,
    /// A TOML file with lang, headline, description, instruction and link (see
    /// config/translation.example.toml). Flags given as well override its values.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The language of the translation, as a BCP-47 tag (de, fr, pt-BR).
    #[arg(long, value_name = "TAG")]
    pub lang: Option<String>,
    /// The headline, translated: one line.
    #[arg(long)]
    pub headline: Option<String>,
    /// The description, translated.
    #[arg(long)]
    pub description: Option<String>,
    /// What readers are asked to do, translated.
    #[arg(long)]
    pub instruction: Option<String>,
    /// An https:// link for readers of this language (a page in it, say).
    #[arg(long, value_name = "URL")]
    pub link: Option<String>,
    /// Where and how.
    #[command(flatten)]
    pub opts: PostOptions,
}

/// A translation file: one language's text, named as the flags are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TranslationFile {
    #[serde(alias = "language")]
    lang: Option<String>,
    headline: Option<String>,
    description: Option<String>,
    instruction: Option<String>,
    link: Option<String>,
}

impl TranslationFile {
    fn read(path: &Path) -> anyhow::Result<TranslationFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the translation file {}", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            Failure::usage(format!(
                "{} is not a valid translation file: {}",
                path.display(),
                e.to_string().trim_end()
            ))
        })
    }
}

/// The translated text from the file (if any) and the flags, which override it field by field;
/// refused, naming the flag and the file key, when the language, headline or description is
/// missing or the whole does not pass the nodes' own checks.
fn compose(args: &TranslateArgs) -> anyhow::Result<Info> {
    let file = match &args.file {
        Some(path) => TranslationFile::read(path)?,
        None => TranslationFile::default(),
    };
    let pick = |flag: &Option<String>, key: &Option<String>| {
        flag.clone()
            .or_else(|| key.clone())
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let info = Info {
        language: pick(&args.lang, &file.lang),
        headline: pick(&args.headline, &file.headline),
        description: pick(&args.description, &file.description),
        instruction: pick(&args.instruction, &file.instruction),
        link: pick(&args.link, &file.link),
    };
    for (field, value) in [
        ("lang", &info.language),
        ("headline", &info.headline),
        ("description", &info.description),
    ] {
        if value.is_empty() {
            return Err(Failure::usage(format!(
                "a translation needs its {field}: give --{field} or `{field} = \"…\"` in --file \
                 (see `tocsin translate --help`)"
            )));
        }
    }
    check_lang(&info.language, "--lang")?;
    Ok(info)
}

/// The original an id names (an update's id names its original), as the node shows it.
struct Target {
    /// The original's id: what a translation names.
    id: Id,
    /// The original as signed.
    original: Message,
    /// Its current version: the languages its author wrote, the headline to recognise it by.
    current: Message,
    /// What the node says of it.
    state: GetState,
}

/// Asks the node for the alert or call to translate, refusing with what to do instead when it
/// is not there, not an alert or call, withdrawn, withheld or not shown yet.
async fn fetch_target(client: &mut Client, id: Id) -> anyhow::Result<Target> {
    let mut asked = id;
    // One step at most: an update names an original, never another update.
    for _ in 0..2 {
        let state = client
            .get(asked)
            .await
            .context("asking the node")?
            .ok_or_else(|| {
                Failure::usage(format!(
                    "the node at {} has no message {asked}; check the id (tocsin follow shows \
                     them), or ask the node it was posted to with --node URL",
                    client.url()
                ))
            })?;
        if state.cancelled {
            return Err(Failure::failed(format!(
                "{} was cancelled by its author ({}); there is nothing to translate",
                asked.short(),
                state.cancel_reason
            ))
            .into());
        }
        if let Some(why) = &state.withheld {
            return Err(Failure::failed(format!(
                "{} is withheld by this node ({why}); there is nothing to translate",
                asked.short()
            ))
            .into());
        }
        let decode = |m: &Option<crate::message::SignedMessage>| {
            m.clone().and_then(|m| Message::from_store(m).ok())
        };
        let Some(message) = decode(&state.message) else {
            return Err(Failure::failed(format!(
                "the node does not show {} yet (is it under embargo?); translate it once it is \
                 released",
                asked.short()
            ))
            .into());
        };
        match &message.body().content {
            Content::Update(u) if asked == id => {
                eprintln!(
                    "note: {} is an update of {}; translating the original",
                    id.short(),
                    u.supersedes.short()
                );
                asked = u.supersedes;
                continue;
            }
            Content::Alert(_) | Content::Call(_) => {}
            _ => {
                return Err(Failure::usage(format!(
                    "{} is {}, not an alert or call; only alerts and calls can be translated",
                    asked.short(),
                    message.kind().with_article()
                )));
            }
        }
        let current = decode(&state.current).unwrap_or_else(|| message.clone());
        return Ok(Target {
            id: asked,
            original: message,
            current,
            state,
        });
    }
    Err(Failure::failed(format!(
        "{} is an update of an update; ask its author which alert or call it belongs to",
        id.short()
    ))
    .into())
}

/// Refuses a language the author wrote already (the page would never show the translation:
/// the author's own text comes first), pointing the author to `update`; notes a language
/// another translator took already (the page shows the first translation of a language).
fn check_language(target: &Target, key: &SecretKey, lang: &str) -> anyhow::Result<()> {
    let same = |i: &Info| i.language.eq_ignore_ascii_case(lang);
    if target.current.body().info().iter().any(same) {
        let by_author = *target.original.author() == key.public();
        let what_instead = if by_author {
            format!(
                "it is your own; change its text with `tocsin update {} --key … --lang {lang} \
                 --description \"…\"`",
                target.id
            )
        } else {
            "translate it into a language it lacks".to_string()
        };
        return Err(Failure::usage(format!(
            "{} is in {lang} already, as its author wrote it; {what_instead}",
            target.id.short()
        )));
    }
    let earlier = target
        .state
        .translations
        .iter()
        .filter_map(|m| Message::from_store(m.clone()).ok())
        .find(|t| t.body().info().iter().any(same));
    if let Some(t) = earlier {
        let whose = if *t.author() == key.public() {
            "this key".to_string()
        } else {
            format!("key {}", t.author().short())
        };
        eprintln!(
            "note: {} has a {lang} translation by {whose} already ({}); the page shows the \
             first translation of a language, the others stay in the log",
            target.id.short(),
            t.id().short()
        );
    }
    if *target.original.author() == key.public() {
        eprintln!(
            "note: {} is your own; a translation by its author is shown as one, an update \
             (`tocsin update {} --lang {lang} …`) makes it part of the alert itself",
            target.id.short(),
            target.id
        );
    }
    Ok(())
}

/// Signs the translation of `target` into `info`'s language, checked with the nodes' rules.
fn sign(key: &SecretKey, target: &Target, info: Info, now: Timestamp) -> anyhow::Result<Message> {
    let content = Content::Translation(Translation {
        target: target.id,
        info: vec![info],
    });
    finish(
        about_body(key, Some(&target.original), content, now),
        key,
        now,
    )
}

pub(crate) async fn translate(args: TranslateArgs) -> anyhow::Result<()> {
    // Everything the user typed is checked before the node is contacted.
    let id = parse_id(&args.id)?;
    let info = compose(&args)?;
    let key = load_key(&args.opts)?;
    let now = Timestamp::now();
    let content = Content::Translation(Translation {
        target: id,
        info: vec![info.clone()],
    });
    validate(&about_body(&key, None, content, now), now)
        .map_err(|r| Failure::usage(format!("this translation would be refused: {r}")))?;
    let mut client = args.opts.node.connect().await?;
    let target = fetch_target(&mut client, id).await?;
    check_language(&target, &key, &info.language)?;
    let message = sign(&key, &target, info, now)?;
    let facts = Facts {
        target_headline: headline_of(&target.current, &[]),
        ..Facts::default()
    };
    deliver(&args.opts, &key, &mut client, &message, &facts).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> TranslateArgs {
        TranslateArgs {
            id: "00".repeat(32),
            file: None,
            lang: None,
            headline: None,
            description: None,
            instruction: None,
            link: None,
            opts: PostOptions {
                key: PathBuf::from("translator.key"),
                node: super::super::NodeUrl {
                    url: "https://127.0.0.1:7700".into(),
                    ca: None,
                },
                json: false,
                yes: true,
            },
        }
    }

    #[test]
    fn a_missing_field_is_named_with_its_flag_and_file_key() {
        let err = compose(&TranslateArgs {
            headline: Some("Vier Gewerkschafter in Eastport verhaftet".into()),
            description: Some("Die Polizei nahm vier Vorsitzende fest.".into()),
            ..args()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("--lang") && err.contains("lang = "), "{err}");
        let err = compose(&TranslateArgs {
            lang: Some("de".into()),
            headline: Some("Vier Gewerkschafter in Eastport verhaftet".into()),
            ..args()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("--description"), "{err}");
        let err = compose(&TranslateArgs {
            lang: Some("deutsch".into()),
            headline: Some("H".into()),
            description: Some("D".into()),
            ..args()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("BCP-47"), "{err}");
    }

    #[test]
    fn flags_override_the_file_field_by_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("de.toml");
        std::fs::write(
            &path,
            "lang = \"de\"\nheadline = \"Vier verhaftet\"\ndescription = \"Die Polizei nahm \
             vier fest.\"\ninstruction = \"Schreiben Sie dem Minister.\"\n",
        )
        .unwrap();
        let info = compose(&TranslateArgs {
            file: Some(path.clone()),
            headline: Some("Vier Gewerkschafter verhaftet".into()),
            ..args()
        })
        .unwrap();
        assert_eq!(info.language, "de");
        assert_eq!(info.headline, "Vier Gewerkschafter verhaftet");
        assert_eq!(info.description, "Die Polizei nahm vier fest.");
        assert_eq!(info.instruction, "Schreiben Sie dem Minister.");
        std::fs::write(&path, "lang = \"de\"\nsummary = \"x\"\n").unwrap();
        let err = compose(&TranslateArgs {
            file: Some(path),
            ..args()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("summary"), "{err}");
    }

    #[test]
    fn the_example_file_is_a_whole_translation() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/translation.example.toml"
        ));
        let info = compose(&TranslateArgs {
            file: Some(path.to_path_buf()),
            ..args()
        })
        .unwrap();
        assert_eq!(info.language, "de");
        assert!(!info.instruction.is_empty() && info.link.starts_with("https://"));
    }
}
