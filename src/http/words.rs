//! The gateway's own words in the reader's language: the Project Fluent files under `i18n/`
//! (compiled in, parsed once), country names from CLDR, and times relative to now.
//!
//! A page is rendered in one [`Words`], chosen from the reader's preferences by the same
//! negotiation that picks the content's language (`query::pick_language`), English when none
//! matches. A word a language's file lacks is shown in English. Every string that leaves here
//! is HTML-escaped; values the caller marks as HTML ([`Arg::Html`]) are put in as they are.

use std::borrow::Cow;
use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use icu_experimental::displaynames::{
    DisplayNamesOptions, DisplayNamesPreferences,
    multi::{LanguageDisplayNames, RegionDisplayNames},
};
use icu_locale_core::Locale;
use icu_locale_core::subtags::{Language, Region};
use unic_langid::LanguageIdentifier;

use super::escape::esc;
use super::query::{language_name, pick_language};
use crate::message::Timestamp;

/// Each shipped language: its tag, whether it is written right to left, and its file.
/// English first: it is the fallback for every word and every reader.
const FILES: &[(&str, bool, &str)] = &[
    ("en", false, include_str!("../../i18n/en.ftl")),
    ("fr", false, include_str!("../../i18n/fr.ftl")),
    ("es", false, include_str!("../../i18n/es.ftl")),
    ("pt", false, include_str!("../../i18n/pt.ftl")),
    ("ru", false, include_str!("../../i18n/ru.ftl")),
    ("ar", true, include_str!("../../i18n/ar.ftl")),
    ("tr", false, include_str!("../../i18n/tr.ftl")),
    ("az", false, include_str!("../../i18n/az.ftl")),
];

/// Marks where an HTML value goes in a formatted message, so the message's own text can be
/// escaped around it. Private-use characters: no translation and no escaping produces them.
const HTML_OPEN: char = '\u{E000}';
const HTML_CLOSE: char = '\u{E001}';

/// A value put into a message.
#[derive(Debug, Clone, Copy)]
pub(super) enum Arg<'a> {
    /// A number: plural forms are chosen by it.
    Num(u64),
    /// Text, escaped with the message.
    Text(&'a str),
    /// HTML made by the gateway (a name in `<strong>`, a `<time>`), put in as it is.
    Html(&'a str),
}

/// The words of one language.
pub(super) struct Words {
    /// The language's tag (`en`, `fr`, …): the page's `lang`.
    tag: &'static str,
    /// Written right to left: the page's `dir`.
    rtl: bool,
    bundle: FluentBundle<FluentResource>,
    /// Country names in this language (CLDR); `None` if the data has none for it.
    regions: Option<RegionDisplayNames>,
    /// Language names in this language (CLDR), for "In English." beside a text.
    language_names: Option<LanguageDisplayNames>,
}

impl std::fmt::Debug for Words {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Words").field("tag", &self.tag).finish()
    }
}

/// A shipped file's syntax errors (a test fails on any; the node shows what did parse).
pub(super) fn parse(source: &str) -> (FluentResource, Vec<String>) {
    match FluentResource::try_new(source.to_string()) {
        Ok(resource) => (resource, Vec::new()),
        Err((resource, errors)) => (resource, errors.iter().map(|e| format!("{e:?}")).collect()),
    }
}

impl Words {
    fn build(tag: &'static str, rtl: bool, source: &'static str) -> Words {
        // The tags above are plain language subtags: they parse.
        let langid: LanguageIdentifier = tag.parse().unwrap_or_default();
        let mut bundle = FluentBundle::new_concurrent(vec![langid]);
        // Bidirectional isolation marks would be escaped into the page around every value;
        // the page isolates values itself (`dir="auto"` on names and text).
        bundle.set_use_isolating(false);
        let (resource, _errors) = parse(source);
        // A key defined twice keeps its first definition; the test of the files finds it.
        let _ = bundle.add_resource(resource);
        let prefs = tag
            .parse::<Locale>()
            .ok()
            .map(|locale| DisplayNamesPreferences::from(&locale));
        let regions = prefs.and_then(|prefs| {
            RegionDisplayNames::try_new(prefs, DisplayNamesOptions::default()).ok()
        });
        let language_names = prefs.and_then(|prefs| {
            LanguageDisplayNames::try_new(prefs, DisplayNamesOptions::default()).ok()
        });
        Words {
            tag,
            rtl,
            bundle,
            regions,
            language_names,
        }
    }

    /// The words for a reader's preferences (most preferred first), as the content's
    /// language is chosen; English when no shipped language matches.
    pub(super) fn choose(prefs: &[String]) -> &'static Words {
        let all = all();
        let tags: Vec<&str> = all.iter().map(|w| w.tag).collect();
        pick_language(&tags, prefs)
            .and_then(|i| all.get(i))
            .unwrap_or_else(|| english())
    }

    /// The words of the language tagged `tag` exactly, if shipped.
    #[cfg(test)]
    pub(super) fn of(tag: &str) -> Option<&'static Words> {
        all().iter().find(|w| w.tag == tag)
    }

    /// The language's tag.
    pub(super) fn tag(&self) -> &'static str {
        self.tag
    }

    /// `rtl` or `ltr`, for the page's `dir`.
    pub(super) fn dir(&self) -> &'static str {
        if self.rtl { "rtl" } else { "ltr" }
    }

    /// A message without values, escaped.
    pub(super) fn t(&self, key: &str) -> String {
        self.html(key, &[])
    }

    /// A message with values, as HTML: its own text and [`Arg::Text`] escaped, [`Arg::Html`]
    /// as it is. A key this language lacks is read from English; one English lacks too (a
    /// test checks none is used) is shown as the key.
    pub(super) fn html(&self, key: &str, args: &[(&str, Arg<'_>)]) -> String {
        let mut fluent_args = FluentArgs::new();
        let mut html = Vec::new();
        for (name, arg) in args {
            let value = match arg {
                Arg::Num(n) => FluentValue::from(*n),
                Arg::Text(t) => FluentValue::from(*t),
                Arg::Html(h) => {
                    html.push(*h);
                    FluentValue::from(format!("{HTML_OPEN}{}{HTML_CLOSE}", html.len() - 1))
                }
            };
            fluent_args.set(*name, value);
        }
        let formatted = self
            .format(key, &fluent_args)
            .or_else(|| english().format(key, &fluent_args))
            .unwrap_or_else(|| Cow::Owned(key.to_string()));
        let escaped = esc(&formatted);
        if html.is_empty() {
            return escaped;
        }
        let mut out = String::with_capacity(escaped.len());
        let mut rest = escaped.as_str();
        while let Some(start) = rest.find(HTML_OPEN) {
            out.push_str(&rest[..start]);
            let after = &rest[start + HTML_OPEN.len_utf8()..];
            let Some(end) = after.find(HTML_CLOSE) else {
                rest = after;
                continue;
            };
            if let Some(h) = after[..end].parse::<usize>().ok().and_then(|i| html.get(i)) {
                out.push_str(h);
            }
            rest = &after[end + HTML_CLOSE.len_utf8()..];
        }
        out.push_str(rest);
        out
    }

    fn format(&self, key: &str, args: &FluentArgs<'_>) -> Option<Cow<'_, str>> {
        let pattern = self.bundle.get_message(key)?.value()?;
        let mut errors = Vec::new();
        let text = self.bundle.format_pattern(pattern, Some(args), &mut errors);
        // A message that names a value the caller did not give still reads; the test of
        // the files renders every message with its values.
        Some(text)
    }

    /// A country's name in this language from CLDR (`AZ` → "Azerbaïdjan" in French); the
    /// code as given when CLDR has no name for it.
    pub(super) fn country(&self, code: &str) -> String {
        let name = |words: &Words| {
            let region = Region::try_from_str(code).ok()?;
            words.regions.as_ref()?.of(region).map(str::to_string)
        };
        name(self)
            .or_else(|| name(english()))
            .unwrap_or_else(|| code.to_string())
    }

    /// A language's name in this language from CLDR (`en` → "anglais" in French), by its
    /// primary subtag; else its name in itself ([`language_name`]).
    pub(super) fn language(&self, tag: &str) -> String {
        let primary = tag.split('-').next().unwrap_or(tag);
        Language::try_from_str(primary)
            .ok()
            .and_then(|l| self.language_names.as_ref()?.of(l))
            .map_or_else(|| language_name(tag), str::to_string)
    }

    /// When `t` is from `now`, in words ("in 3 days", "2 hours ago"), escaped. Minutes under
    /// an hour, hours under two days, then days; rounded down.
    pub(super) fn relative(&self, t: Timestamp, now: Timestamp) -> String {
        // Timestamps count milliseconds.
        let (seconds, future) = if t.0 >= now.0 {
            ((t.0 - now.0) / 1_000, true)
        } else {
            ((now.0 - t.0) / 1_000, false)
        };
        let (count, unit) = match seconds {
            0..60 => return self.t("time-now"),
            60..3_600 => (seconds / 60, "minutes"),
            3_600..172_800 => (seconds / 3_600, "hours"),
            _ => (seconds / 86_400, "days"),
        };
        let key = if future {
            format!("time-in-{unit}")
        } else {
            format!("time-{unit}-ago")
        };
        self.html(&key, &[("count", Arg::Num(count))])
    }
}

fn all() -> &'static [Words] {
    static ALL: OnceLock<Vec<Words>> = OnceLock::new();
    ALL.get_or_init(|| {
        FILES
            .iter()
            .map(|(tag, rtl, source)| Words::build(tag, *rtl, source))
            .collect()
    })
}

/// The English words (the fallback).
pub(super) fn english() -> &'static Words {
    // FILES starts with English, so `all()` is never empty.
    &all()[0]
}

/// Every shipped language's tag.
pub(super) fn tags() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|(tag, _, _)| *tag)
}

/// Every shipped language's tag.
#[cfg(test)]
pub(super) fn languages() -> impl Iterator<Item = &'static str> {
    tags()
}

#[cfg(test)]
mod tests;
