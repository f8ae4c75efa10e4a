//! What a reader asked for: the filters and the chosen language from the query string, and
//! language preferences from `Accept-Language`.
//!
//! Values are checked and put in a canonical order, so that the same selection always has
//! the same links and the same ETag, and nothing a reader typed reaches a page unescaped.

use std::fmt;

use crate::message::{Body, Kind, language_matches};

use super::escape::url_component;

/// At most this many values per filter.
const MAX_VALUES: usize = 16;
/// The longest query string read.
const MAX_QUERY: usize = 2048;
/// At most this many `Accept-Language` preferences are used.
const MAX_PREFERENCES: usize = 8;

/// Filters and the chosen language. Each list narrows; values within one list are
/// alternatives (as in `tocsin follow`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Selection {
    /// ISO 3166-1 alpha-2 codes, upper case.
    pub(super) countries: Vec<String>,
    /// Topic slugs.
    pub(super) topics: Vec<String>,
    /// Alert and/or call.
    pub(super) kinds: Vec<Kind>,
    /// Only items available in one of these languages (lower case).
    pub(super) languages: Vec<String>,
    /// The language to read in, chosen with the switcher; overrides `Accept-Language`.
    pub(super) lang: Option<String>,
    /// One side of the ranking alone (`?authors=trusted|unverified`); `None`: trusted
    /// authors first, then a capped share of unverified ones.
    pub(super) authors: Option<AuthorFilter>,
}

/// Which authors a listing shows, by the trust readers may place in them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AuthorFilter {
    /// Only the allow list, trusted federations and their rosters' members, and authors with
    /// history.
    Trusted,
    /// Only the others, all of them (up to `http.max_items`).
    Unverified,
}

impl AuthorFilter {
    /// The value in a query string.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            AuthorFilter::Trusted => "trusted",
            AuthorFilter::Unverified => "unverified",
        }
    }
}

/// A query the gateway cannot serve, with what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BadQuery(pub(super) String);

impl fmt::Display for BadQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Decodes one `application/x-www-form-urlencoded` component.
fn decode(s: &str) -> Result<String, BadQuery> {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| BadQuery("the query is not valid UTF-8".into()))
}

/// Whether `tag` looks like a language tag (the shape only: letters first, then letters,
/// digits and hyphens). Unknown languages are allowed; they simply match nothing.
pub(super) fn is_language_tag(tag: &str) -> bool {
    (2..=35).contains(&tag.len())
        && tag.as_bytes()[0].is_ascii_alphabetic()
        && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !tag.contains("--")
        && !tag.ends_with('-')
}

fn push_unique<T: PartialEq>(list: &mut Vec<T>, v: T, what: &str) -> Result<(), BadQuery> {
    if !list.contains(&v) {
        if list.len() >= MAX_VALUES {
            return Err(BadQuery(format!("at most {MAX_VALUES} values of {what}")));
        }
        list.push(v);
    }
    Ok(())
}

impl Selection {
    /// Reads a query string. Unknown parameters are ignored; empty values (an untouched form
    /// field) are skipped; a malformed value is refused, naming what is expected.
    pub(super) fn parse(query: Option<&str>) -> Result<Selection, BadQuery> {
        let mut sel = Selection::default();
        let Some(query) = query else {
            return Ok(sel);
        };
        if query.len() > MAX_QUERY {
            return Err(BadQuery("the query is too long".into()));
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode(k)?;
            let value = decode(v)?;
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match key.as_str() {
                "country" => {
                    let c = value.to_ascii_uppercase();
                    if c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                        return Err(BadQuery(
                            "country is a two-letter ISO 3166-1 code such as AZ".into(),
                        ));
                    }
                    push_unique(&mut sel.countries, c, "country")?;
                }
                "topic" => {
                    let t = value.to_ascii_lowercase();
                    if t.len() > 64
                        || !t
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    {
                        return Err(BadQuery(
                            "topic is a slug of letters, digits and hyphens such as union-rights"
                                .into(),
                        ));
                    }
                    push_unique(&mut sel.topics, t, "topic")?;
                }
                "authors" => {
                    sel.authors = Some(match value.to_ascii_lowercase().as_str() {
                        "trusted" => AuthorFilter::Trusted,
                        "unverified" => AuthorFilter::Unverified,
                        _ => return Err(BadQuery("authors is trusted or unverified".into())),
                    });
                }
                "kind" => {
                    let k = match value.to_ascii_lowercase().as_str() {
                        "alert" => Kind::Alert,
                        "call" => Kind::Call,
                        _ => return Err(BadQuery("kind is alert or call".into())),
                    };
                    push_unique(&mut sel.kinds, k, "kind")?;
                }
                "language" | "lang" => {
                    let l = value.to_ascii_lowercase();
                    if !is_language_tag(&l) {
                        return Err(BadQuery(format!(
                            "{key} is a language tag such as fr or pt-BR"
                        )));
                    }
                    if key == "lang" {
                        sel.lang = Some(l);
                    } else {
                        push_unique(&mut sel.languages, l, "language")?;
                    }
                }
                _ => {}
            }
        }
        sel.countries.sort();
        sel.topics.sort();
        sel.kinds.sort();
        sel.languages.sort();
        Ok(sel)
    }

    /// Whether any filter is set (the chosen language is not a filter).
    pub(super) fn is_filtered(&self) -> bool {
        !(self.countries.is_empty()
            && self.topics.is_empty()
            && self.kinds.is_empty()
            && self.languages.is_empty()
            && self.authors.is_none())
    }

    /// The canonical query string (no leading `?`), percent-encoded.
    pub(super) fn to_query(&self) -> String {
        let mut parts = Vec::new();
        if let Some(a) = self.authors {
            parts.push(format!("authors={}", a.as_str()));
        }
        for c in &self.countries {
            parts.push(format!("country={}", url_component(c)));
        }
        for k in &self.kinds {
            parts.push(format!("kind={}", k.as_str()));
        }
        for l in &self.languages {
            parts.push(format!("language={}", url_component(l)));
        }
        for t in &self.topics {
            parts.push(format!("topic={}", url_component(t)));
        }
        if let Some(l) = &self.lang {
            parts.push(format!("lang={}", url_component(l)));
        }
        parts.join("&")
    }

    /// `path` with the canonical query, if any.
    pub(super) fn href(&self, path: &str) -> String {
        let q = self.to_query();
        if q.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{q}")
        }
    }

    /// The same selection reading in another language (`None`: the browser's).
    pub(super) fn with_lang(&self, lang: Option<&str>) -> Selection {
        Selection {
            lang: lang.map(str::to_string),
            ..self.clone()
        }
    }

    /// Only the chosen language, no filters.
    pub(super) fn lang_only(&self) -> Selection {
        Selection {
            lang: self.lang.clone(),
            ..Selection::default()
        }
    }

    /// Whether a message passes the filters: its kind (of the original), the countries and
    /// topics of its current version, and the languages it can be read in (`languages`,
    /// translations included).
    pub(super) fn matches(&self, kind: Kind, current: &Body, languages: &[&str]) -> bool {
        (self.kinds.is_empty() || self.kinds.contains(&kind))
            && (self.countries.is_empty()
                || current.countries.iter().any(|c| self.countries.contains(c)))
            && (self.topics.is_empty() || current.topics.iter().any(|t| self.topics.contains(t)))
            && (self.languages.is_empty()
                || languages
                    .iter()
                    .any(|tag| self.languages.iter().any(|r| language_matches(r, tag))))
    }

    /// The reader's preferences: the chosen language, else `Accept-Language`.
    pub(super) fn preferences(&self, accept_language: Option<&str>) -> Vec<String> {
        match &self.lang {
            Some(l) => vec![l.clone()],
            None => accept_language
                .map(parse_accept_language)
                .unwrap_or_default(),
        }
    }
}

/// The language ranges of an `Accept-Language` header, most preferred first (q=0 and `*`
/// dropped, lower case, at most a few).
pub(super) fn parse_accept_language(header: &str) -> Vec<String> {
    let mut ranges: Vec<(u16, usize, String)> = Vec::new();
    for (i, item) in header.split(',').enumerate().take(32) {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        if tag == "*" || !is_language_tag(&tag) {
            continue;
        }
        let mut q = 1000u16;
        for p in parts {
            if let Some(v) = p.trim().strip_prefix("q=") {
                q = v
                    .trim()
                    .parse::<f32>()
                    .ok()
                    .filter(|q| (0.0..=1.0).contains(q))
                    .map_or(0, |q| (q * 1000.0).round() as u16);
            }
        }
        if q > 0 && !ranges.iter().any(|r| r.2 == tag) {
            ranges.push((q, i, tag));
        }
    }
    ranges.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges
        .into_iter()
        .take(MAX_PREFERENCES)
        .map(|r| r.2)
        .collect()
}

/// Which of `tags` to show for the preferences: RFC 4647 lookup (each range, then shortened
/// one subtag at a time), then English, then the first. `None` only when `tags` is empty.
pub(super) fn pick_language(tags: &[&str], prefs: &[String]) -> Option<usize> {
    for p in prefs {
        for range in lookups(p) {
            if let Some(i) = tags.iter().position(|t| language_matches(range, t)) {
                return Some(i);
            }
        }
    }
    tags.iter()
        .position(|t| language_matches("en", t))
        .or(if tags.is_empty() { None } else { Some(0) })
}

/// A range and the ranges RFC 4647 lookup tries after it, each one subtag shorter (a
/// singleton left at the end is dropped with its extension): "zh-hant-cn-x-a" gives
/// "zh-hant-cn-x-a", "zh-hant-cn", "zh-hant", "zh".
fn lookups(range: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(range), |range| {
        let cut = range.rfind('-')?;
        let mut shorter = &range[..cut];
        if let Some(cut) = shorter.rfind('-')
            && shorter.len() - cut == 2
        {
            shorter = &shorter[..cut];
        }
        Some(shorter)
    })
}

/// The preferences that can change what is shown when every text is in one of `known` (the
/// languages of the texts a view holds, and the page's own): each range cut to the first of
/// its lookups that matches a known tag, ranges that match none left out, repeats too. The
/// language picked for any texts among `known` is the same as for `prefs`, so a view is
/// rendered, cached and validated once for every header that picks alike: a reader cannot
/// make a rendering of their own with a made-up `Accept-Language` or `lang`.
///
/// A first preference that matches nothing is kept as [`NONE_HERE`]: the page says an item is
/// shown in another language than the one a reader asked for first.
pub(super) fn effective_preferences(prefs: &[String], known: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, p) in prefs.iter().enumerate() {
        let useful = lookups(p).find(|range| known.iter().any(|t| language_matches(range, t)));
        match useful.map(str::to_ascii_lowercase) {
            Some(range) if !out.contains(&range) => out.push(range),
            None if i == 0 => out.push(NONE_HERE.to_string()),
            _ => {}
        }
    }
    out
}

/// The first preference when it names no language here (a private-use tag no text is in).
pub(super) const NONE_HERE: &str = "x-none";

/// A language's name in itself, for the switcher ("Français"); the tag when unknown.
pub(super) fn language_name(tag: &str) -> String {
    let (primary, region) = match tag.split_once('-') {
        Some((p, r)) => (p, Some(r)),
        None => (tag, None),
    };
    let name = match primary.to_ascii_lowercase().as_str() {
        "ar" => "العربية",
        "az" => "Azərbaycanca",
        "bn" => "বাংলা",
        "ca" => "Català",
        "de" => "Deutsch",
        "el" => "Ελληνικά",
        "en" => "English",
        "es" => "Español",
        "fa" => "فارسی",
        "fr" => "Français",
        "he" => "עברית",
        "hi" => "हिन्दी",
        "id" => "Bahasa Indonesia",
        "it" => "Italiano",
        "ja" => "日本語",
        "ka" => "ქართული",
        "kk" => "Қазақ тілі",
        "ko" => "한국어",
        "nl" => "Nederlands",
        "pl" => "Polski",
        "pt" => "Português",
        "ru" => "Русский",
        "sw" => "Kiswahili",
        "th" => "ไทย",
        "tr" => "Türkçe",
        "uk" => "Українська",
        "ur" => "اردو",
        "vi" => "Tiếng Việt",
        "zh" => "中文",
        _ => return tag.to_string(),
    };
    match region {
        Some(r) => format!("{name} ({})", r.to_ascii_uppercase()),
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_authors_filter_is_checked_and_canonical() {
        let s = Selection::parse(Some("country=az&authors=Unverified")).unwrap();
        assert_eq!(s.authors, Some(AuthorFilter::Unverified));
        assert!(s.is_filtered());
        assert_eq!(s.to_query(), "authors=unverified&country=AZ");
        assert_eq!(s.lang_only().authors, None);
        let err = Selection::parse(Some("authors=friends")).unwrap_err();
        assert!(err.0.contains("trusted or unverified"), "{err}");
    }

    #[test]
    fn queries_are_checked_and_canonical() {
        let s = Selection::parse(Some(
            "topic=union-rights&country=ge&kind=call&country=AZ&lang=FR&x=1&language=&country=az",
        ))
        .unwrap();
        assert_eq!(s.countries, ["AZ", "GE"]);
        assert_eq!(s.kinds, [Kind::Call]);
        assert_eq!(s.lang.as_deref(), Some("fr"));
        assert!(s.languages.is_empty());
        assert_eq!(
            s.to_query(),
            "country=AZ&country=GE&kind=call&topic=union-rights&lang=fr"
        );
        assert_eq!(Selection::parse(Some(&s.to_query())).unwrap(), s);
        assert!(Selection::parse(Some("country=Azerbaijan")).is_err());
        assert!(Selection::parse(Some("kind=profile")).is_err());
        assert!(Selection::parse(Some("topic=%3Cscript%3E")).is_err());
        assert!(Selection::parse(Some("lang=%22%3E")).is_err());
        assert!(Selection::parse(Some("country=%ff")).is_err());
        assert_eq!(Selection::parse(None).unwrap(), Selection::default());
        assert_eq!(
            Selection::parse(Some("topic=strike+fund")).unwrap_err().0,
            "topic is a slug of letters, digits and hyphens such as union-rights"
        );
    }

    #[test]
    fn accept_language_is_ordered_by_quality() {
        assert_eq!(
            parse_accept_language("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7, *;q=0.5"),
            ["fr-ch", "fr", "en", "de"]
        );
        assert_eq!(parse_accept_language("en;q=0.2, az, ru;q=0"), ["az", "en"]);
        assert!(parse_accept_language("<script>").is_empty());
    }

    #[test]
    fn languages_are_looked_up_then_english_then_first() {
        let tags = ["az", "en", "fr-CA"];
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(pick_language(&tags, &p(&["fr"])), Some(2));
        assert_eq!(pick_language(&tags, &p(&["az-Latn-AZ"])), Some(0));
        assert_eq!(pick_language(&tags, &p(&["de", "fr-CA"])), Some(2));
        assert_eq!(pick_language(&tags, &p(&["de"])), Some(1));
        assert_eq!(pick_language(&["az", "ru"], &p(&["de"])), Some(0));
        assert_eq!(pick_language(&[], &p(&["de"])), None);
        assert_eq!(
            lookups("zh-hant-cn-x-a").collect::<Vec<_>>(),
            ["zh-hant-cn-x-a", "zh-hant-cn", "zh-hant", "zh"]
        );
    }

    /// Cut to what can matter, preferences pick what they picked, for every set of texts
    /// among the known languages; made-up ones come to nothing.
    #[test]
    fn effective_preferences_pick_alike() {
        let known = ["az", "en", "fr-ca", "pt-br", "ru", "fr"];
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let headers = [
            p(&["zz-xxxxxxxx"]),
            p(&["fr-ca-x-aa", "de", "fr"]),
            p(&["pt", "az-latn-az", "en"]),
            p(&["de", "qq", "ru-ru", "ru"]),
            p(&["fr", "fr-ca"]),
            p(&[]),
        ];
        let sets: Vec<Vec<&str>> = vec![
            vec!["az", "en", "fr-ca"],
            vec!["fr", "ru"],
            vec!["pt-br", "az"],
            vec!["fr-ca", "fr", "ru"],
            vec!["ru"],
            vec![],
        ];
        for prefs in &headers {
            let cut = effective_preferences(prefs, &known);
            for tags in &sets {
                assert_eq!(
                    pick_language(tags, prefs),
                    pick_language(tags, &cut),
                    "{prefs:?} → {cut:?} on {tags:?}"
                );
            }
        }
        assert_eq!(
            effective_preferences(&p(&["zz-xxxxxxxx", "qq"]), &known),
            [NONE_HERE]
        );
        assert_eq!(
            effective_preferences(&p(&["de", "zz", "fr-ca"]), &known),
            [NONE_HERE, "fr-ca"]
        );
        assert!(effective_preferences(&p(&[]), &known).is_empty());
        assert_eq!(
            effective_preferences(&p(&["fr-ca-x-aa", "fr-CA-x-bb", "de"]), &known),
            ["fr-ca"]
        );
    }

    #[test]
    fn language_names() {
        assert_eq!(language_name("fr"), "Français");
        assert_eq!(language_name("pt-br"), "Português (BR)");
        assert_eq!(language_name("qya"), "qya");
    }
}
