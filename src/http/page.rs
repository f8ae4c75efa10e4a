//! The HTML a person reads: the page of current alerts and calls, one message in full, and
//! the error pages. Server-rendered, whole without script, readable on a phone; every string that came
//! from a message goes through [`Esc`]; the page's own words are the reader's language's
//! ([`Words`]), and CAP's terms stay in the CAP documents.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::message::{
    ActionCall, ActionType, Alert, Category, Certainty, Content, Id, Kind, Message, Severity,
    Status, SupervisoryBody, Timestamp, UpdateContent, Urgency, language_matches,
};

use super::Gateway;
use super::escape::{Esc, esc};
use super::query::{AuthorFilter, Selection, language_name, pick_language};
use super::snapshot::{Item, NameSource, Snapshot, Text};
use super::tallies;
use super::words::{Arg, Words};
use crate::store::day;

/// The style sheet, served at /style.css (a file of its own, so the page can forbid inline
/// styles and scripts in its Content-Security-Policy).
pub(super) const STYLE: &str = r#":root{--fg:#1a1a1a;--muted:#4a4a4a;--bg:#fff;--line:#d0d0d0;--link:#0a4fb4;--card:#f7f7f5}
*{box-sizing:border-box}
html{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;line-height:1.5;color:var(--fg);background:var(--bg)}
body{margin:0 auto;max-width:50rem;padding:0 1rem 3rem}
a{color:var(--link)}
a:focus-visible,button:focus-visible,select:focus-visible{outline:3px solid #f0a000;outline-offset:2px}
.skip{position:absolute;inset-inline-start:-999px}
.skip:focus{inset-inline-start:1rem;top:1rem;background:#fff;padding:.5rem;z-index:1}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
header.site{border-bottom:4px solid #a40000;padding:1rem 0 .5rem;margin-bottom:1rem}
header.site .brand{margin:0;font-size:1.6rem;font-weight:700}
header.site .brand a{color:inherit;text-decoration:none}
article,.desc,q{overflow-wrap:anywhere}
header.site p.tagline{margin:.25rem 0 0;color:var(--muted)}
nav.langs{margin:.5rem 0;font-size:.95rem}
nav.langs ul{display:inline;list-style:none;padding:0;margin:0}
nav.langs li{display:inline-block;margin-block:0 .3rem;margin-inline:0 .6rem}
nav.langs a[aria-current]{font-weight:700;color:var(--fg);text-decoration:none}
form.filters{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:flex-end;background:var(--card);border:1px solid var(--line);border-radius:.4rem;padding:.75rem;margin:1rem 0}
form.filters label{display:flex;flex-direction:column;font-size:.9rem;font-weight:600}
form.filters select{font:inherit;min-width:8rem;padding:.3rem;border:1px solid #767676;border-radius:.25rem;background:#fff;color:var(--fg)}
form.filters button{font:inherit;padding:.35rem 1rem;border:0;border-radius:.25rem;background:#0a4fb4;color:#fff;cursor:pointer}
.count{color:var(--muted)}
ol.items{list-style:none;padding:0;margin:0}
ol.items>li{border:1px solid var(--line);border-radius:.4rem;padding:.75rem 1rem;margin:0 0 1rem;background:var(--bg)}
.items h2{font-size:1.2rem;margin:.3rem 0}
.tags{margin:0;display:flex;flex-wrap:wrap;gap:.35rem;align-items:center;font-size:.85rem}
.badge{display:inline-block;padding:.05rem .45rem;border-radius:.25rem;font-weight:700;background:#e6e6e6;color:#1a1a1a}
.kind-alert{background:#1a1a1a;color:#fff}
.kind-call{background:#0b4f8a;color:#fff}
.sev-extreme{background:#6b0000;color:#fff}
.sev-severe{background:#a40000;color:#fff}
.sev-moderate{background:#7a4500;color:#fff}
.status{background:#fff3c4;color:#3d2e00;border:1px solid #8a6d00}
.unverified{background:#fff;color:#6b0000;border:1px dashed #6b0000}
.meta,.when,.tally,.lang-note{margin:.2rem 0;font-size:.95rem;color:var(--muted)}
.when strong,.meta strong{color:var(--fg)}
.desc{margin:.4rem 0}
.rel{color:var(--muted)}
details.key{display:inline-block;vertical-align:top}
details.key summary{cursor:pointer}
details.key[open]>.mono{display:block;user-select:all}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:1rem 0}
dl.facts dt{font-weight:700}
dl.facts dd{margin:0}
section.text{border-inline-start:4px solid var(--line);padding-inline-start:1rem;margin:1.5rem 0}
section.text h3{margin:.2rem 0}
.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem;overflow-wrap:anywhere}
.ok{color:#0b6b2e;font-weight:700}
.bad{color:#a40000;font-weight:700}
ul.goals{list-style:none;padding:0;margin:.4rem 0}
ul.goals li{display:flex;flex-wrap:wrap;align-items:center;gap:.2rem .6rem;margin:.2rem 0}
ul.goals progress{width:12rem;max-width:100%;height:1rem;accent-color:#0b6b2e}
.reported{margin:.2rem 0;font-size:.95rem;font-weight:600}
table.reports{border-collapse:collapse;width:100%;margin:.75rem 0;font-size:.95rem}
table.reports caption{text-align:start;font-weight:700;padding:.3rem 0}
table.reports th,table.reports td{border:1px solid var(--line);padding:.3rem .5rem;text-align:start;vertical-align:top;overflow-wrap:anywhere}
.keynote{color:#6b0000}
section.keys li{margin:.3rem 0}
footer{margin-top:2rem;border-top:1px solid var(--line);padding-top:.75rem;font-size:.9rem;color:var(--muted)}
@media (max-width:30rem){dl.facts{grid-template-columns:1fr}dl.facts dd{margin-bottom:.4rem}}
"#;

/// The page's one script, served at /page.js (same origin, so the Content-Security-Policy
/// allows it and still forbids inline scripts). It only adds, beside each time the page shows
/// in UTC, the same time in the reader's own time zone and language; the page says everything
/// without it.
pub(super) const SCRIPT: &str = r#"// Tocsin: each <time datetime> also in the reader's time zone (the page works without this).
"use strict";
for (const t of document.querySelectorAll("time[datetime]")) {
  const at = new Date(t.getAttribute("datetime"));
  if (isNaN(at.getTime()) || at.getTimezoneOffset() === 0) continue;
  const local = document.createElement("span");
  local.className = "local";
  local.textContent = " · " + at.toLocaleString(document.documentElement.lang || undefined,
    { dateStyle: "medium", timeStyle: "short" });
  t.after(local);
}
"#;

/// Ended keys listed on the page at most (the latest first); the rest are counted.
const MAX_KEYS_SHOWN: usize = 50;

/// The mark on an item whose author readers have no reason to trust yet.
fn unverified_badge(w: &Words) -> String {
    format!(
        "<span class=\"badge unverified\">{}</span>",
        w.t("badge-unverified")
    )
}

/// A time for a reader: in UTC inside a `<time>` element (its `datetime` is what a browser
/// or script may show in local time), then how far from now, in the reader's words.
fn when(w: &Words, t: Timestamp, now: Timestamp) -> String {
    format!(
        "{} <span class=\"rel\">({})</span>",
        time(t),
        w.relative(t, now)
    )
}

/// Hex characters of a key shown before the full key is asked for.
const KEY_SHOWN: usize = 12;

/// A key shown short (`a1b2c3d4e5f6…`), the whole key on demand and selectable at once.
/// Flow content: for a list item, a definition or a section, not inside a paragraph.
fn key_html(w: &Words, hex: &str) -> String {
    format!(
        "<details class=\"key\"><summary><span class=\"mono\">{}…</span><span class=\"vh\"> {}</span></summary><span class=\"mono\">{}</span></details>",
        Esc(hex.get(..KEY_SHOWN).unwrap_or(hex)),
        w.t("show-full-key"),
        Esc(hex)
    )
}

/// A key shown short inside a sentence, the whole key as its title.
fn short_key(hex: &str) -> String {
    format!(
        "<span class=\"mono\" title=\"{}\">{}…</span>",
        Esc(hex),
        Esc(hex.get(..KEY_SHOWN).unwrap_or(hex))
    )
}

/// Text as a writer typed it (often hard-wrapped in a TOML file): a blank line separates
/// paragraphs, a single newline inside one is a space. The signed text is not changed.
fn paragraphs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            if !current.is_empty() {
                out.push(current.join(" "));
                current.clear();
            }
        } else {
            current.push(line);
        }
    }
    if !current.is_empty() {
        out.push(current.join(" "));
    }
    out
}

/// Each paragraph of `text` in a `<p>` of `class`, in the text's language.
fn paragraphs_html(text: &str, class: &str, lang: &str) -> String {
    paragraphs(text)
        .iter()
        .map(|p| {
            format!(
                "<p class=\"{class}\" lang=\"{}\" dir=\"auto\">{}</p>",
                Esc(lang),
                Esc(p)
            )
        })
        .collect()
}

/// Countries by name in the reader's language, as HTML.
fn countries_html(w: &Words, codes: &[String]) -> String {
    esc(&codes
        .iter()
        .map(|c| w.country(c))
        .collect::<Vec<_>>()
        .join(", "))
}

/// "2026-12-01 09:00 UTC" inside a `<time>` element.
pub(super) fn time(t: Timestamp) -> String {
    let iso = t.to_rfc3339();
    let human = format!("{} UTC", iso.get(..16).unwrap_or(&iso).replace('T', " "));
    format!("<time datetime=\"{iso}\">{human}</time>")
}

pub(super) fn kind_label(k: Kind) -> &'static str {
    match k {
        Kind::Call => "Action call",
        _ => "Alert",
    }
}

pub(super) fn category_label(c: Category) -> &'static str {
    match c {
        Category::Arrest => "Arrest",
        Category::Dismissal => "Dismissal",
        Category::Strike => "Strike",
        Category::Lockout => "Lockout",
        Category::Violence => "Violence",
        Category::Safety => "Safety",
        Category::Legislation => "Legislation",
        Category::UnionBusting => "Union busting",
        Category::Other => "Other",
    }
}

/// The kind of an item in the reader's words.
fn kind_word(w: &Words, k: Kind) -> String {
    match k {
        Kind::Call => w.t("kind-call"),
        _ => w.t("kind-alert"),
    }
}

/// A category in the reader's words.
fn category_word(w: &Words, c: Category) -> String {
    w.t(&format!("category-{}", c.as_str()))
}

/// An action a call asks for, in the reader's words.
fn action_word(w: &Words, a: ActionType) -> String {
    w.t(&format!("action-{}", a.as_str()))
}

/// The actions a call asks for, in the reader's words.
fn actions_html(w: &Words, call: &ActionCall) -> String {
    call.actions
        .iter()
        .map(|a| action_word(w, *a))
        .collect::<Vec<_>>()
        .join(", ")
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub(super) fn action_label(a: ActionType) -> &'static str {
    match a {
        ActionType::Petition => "Sign a petition",
        ActionType::Letter => "Write a letter",
        ActionType::Protest => "Protest",
        ActionType::Strike => "Solidarity strike",
        ActionType::Boycott => "Boycott",
        ActionType::Donation => "Donate",
        ActionType::IloObservation => "File ILO observations",
        ActionType::SolidarityMessage => "Send a solidarity message",
        ActionType::Other => "Other action",
    }
}

pub(super) fn body_label(b: SupervisoryBody) -> &'static str {
    match b {
        SupervisoryBody::Ceacr => "ILO Committee of Experts (CEACR)",
        SupervisoryBody::Cas => "ILO Conference Committee on the Application of Standards (CAS)",
        SupervisoryBody::Cfa => "ILO Committee on Freedom of Association (CFA)",
        SupervisoryBody::Other => "Another body",
    }
}

/// Each cited convention by name, linked to its NORMLEX page when the node's table knows it;
/// an unknown code is shown as written.
fn conventions_html(codes: &[String]) -> String {
    codes
        .iter()
        .map(|code| match crate::ilo::convention(code) {
            Some(c) => format!(
                "<a href=\"{}\" rel=\"external\">{}</a>",
                Esc(&c.link()),
                esc(&c.describe())
            ),
            None => esc(code),
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

/// The alert fields of a version (a call's included).
pub(super) fn alert_of(m: &Message) -> Option<&Alert> {
    match &m.body().content {
        Content::Alert(a) => Some(a),
        Content::Call(c) => Some(&c.base),
        Content::Update(u) => Some(match &u.content {
            UpdateContent::Alert(a) => a,
            UpdateContent::Call(c) => &c.base,
        }),
        _ => None,
    }
}

/// The first `n` characters, with an ellipsis if cut.
fn excerpt(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", s[..i].trim_end()),
        None => s.to_string(),
    }
}

/// A whole page. `brand_heading`: the site's name is the page's heading (the front page);
/// elsewhere the page's own subject is its one `h1`.
fn layout(w: &Words, title: &str, alternates: &str, main: &str, brand_heading: bool) -> String {
    let (open, close) = if brand_heading {
        ("<h1 class=\"brand\">", "</h1>")
    } else {
        ("<p class=\"brand\">", "</p>")
    };
    let (lang, dir) = (w.tag(), w.dir());
    let skip = w.t("skip-to-content");
    let tagline = w.t("site-tagline");
    format!(
        "<!doctype html>\n<html lang=\"{lang}\" dir=\"{dir}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>{title}</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n\
         <script src=\"/page.js\" defer></script>\n{alternates}</head>\n<body>\n\
         <a class=\"skip\" href=\"#main\">{skip}</a>\n\
         <header class=\"site\">{open}<a href=\"/\">Tocsin</a>{close}\
         <p class=\"tagline\">{tagline}</p></header>\n\
         {main}\n</body>\n</html>\n"
    )
}

/// A status badge for exercises and tests, so that no reader takes a drill for real.
fn status_badge(w: &Words, s: Status) -> String {
    match s {
        Status::Actual => String::new(),
        other => format!(
            "<span class=\"badge status\">{}</span>",
            w.t(&format!("status-{}", other.as_str()))
        ),
    }
}

fn severity_badge(w: &Words, s: Severity) -> String {
    format!(
        "<span class=\"badge sev-{}\">{}</span>",
        s.as_str(),
        w.t(&format!("severity-{}", s.as_str()))
    )
}

/// Deadline and action window of a call, as one line.
fn when_line(w: &Words, call: &ActionCall, now: Timestamp) -> String {
    let mut parts = Vec::new();
    if let Some(d) = call.deadline {
        parts.push(format!(
            "<strong>{}</strong> {}",
            w.t("item-deadline"),
            when(w, d, now)
        ));
    }
    match (call.window_starts_at, call.window_ends_at) {
        (Some(s), Some(e)) => parts.push(format!(
            "<strong>{}</strong> {} – {}",
            w.t("item-window"),
            when(w, s, now),
            when(w, e, now)
        )),
        (Some(s), None) => parts.push(format!(
            "<strong>{}</strong> {}",
            w.t("item-from"),
            when(w, s, now)
        )),
        (None, Some(e)) => parts.push(format!(
            "<strong>{}</strong> {}",
            w.t("item-until"),
            when(w, e, now)
        )),
        (None, None) => {}
    }
    parts.join(" · ")
}

fn tally(w: &Words, n: usize) -> String {
    w.html("endorsements", &[("count", Arg::Num(n as u64))])
}

/// The text to show for the preferences.
fn chosen<'a>(texts: &'a [Text<'a>], prefs: &[String]) -> Option<&'a Text<'a>> {
    let tags: Vec<&str> = texts.iter().map(|t| t.info.language.as_str()).collect();
    pick_language(&tags, prefs).and_then(|i| texts.get(i))
}

/// An `<option>`; `label` is HTML (the reader's words, or text escaped by the caller).
fn option(value: &str, label: &str, selected: bool) -> String {
    format!(
        "<option value=\"{}\"{}>{}</option>",
        Esc(value),
        if selected { " selected" } else { "" },
        label
    )
}

/// The page of current alerts and calls.
pub(super) fn index(
    gw: &Gateway,
    snap: &Snapshot,
    sel: &Selection,
    prefs: &[String],
    now: Timestamp,
) -> String {
    let w = Words::choose(prefs);
    // The values the messages held name (read from the store's indexes, not from every
    // current item).
    let countries: BTreeSet<String> = snap.facets.countries.iter().cloned().collect();
    let topics: BTreeSet<String> = snap.facets.topics.iter().cloned().collect();
    let languages: BTreeSet<String> = snap.facets.languages.iter().cloned().collect();
    let listing = snap.selected(sel, now, gw.max_items());
    let total = listing.total;
    // The page is bounded in bytes as the feeds are (`http.max_feed_kib`): items go in newest
    // first while they fit (the first always), so that long texts cannot make a page of many
    // megabytes for every reader that asks for it.
    let cap = gw.max_feed_bytes();
    let mut items = String::new();
    let mut shown = 0;
    for item in &listing.items {
        let html = item_html(w, snap, item, &item.texts(now), sel, prefs, now);
        if shown > 0 && items.len() + html.len() > cap {
            break;
        }
        items.push_str(&html);
        shown += 1;
    }
    let left_out = listing.items.len() - shown;
    if left_out > 0 {
        gw.stats()
            .feed_entries_left_out
            .fetch_add(left_out as u64, std::sync::atomic::Ordering::Relaxed);
    }

    let mut m = String::new();
    // The language switcher.
    let _ = write!(
        m,
        "<nav class=\"langs\" aria-label=\"{}\"><span id=\"langs-label\">{}</span> <ul aria-labelledby=\"langs-label\">",
        w.t("switcher-label"),
        w.t("read-in")
    );
    let _ = write!(
        m,
        "<li><a href=\"{}\"{}>{}</a></li>",
        Esc(&sel.with_lang(None).href("/")),
        if sel.lang.is_none() {
            " aria-current=\"page\""
        } else {
            ""
        },
        w.t("browser-language")
    );
    let mut lang_choices: BTreeSet<String> = languages.clone();
    lang_choices.extend(sel.lang.clone());
    for tag in lang_choices.iter().take(40) {
        let current = sel.lang.as_deref() == Some(tag.as_str());
        let _ = write!(
            m,
            "<li><a href=\"{}\" lang=\"{}\" hreflang=\"{}\"{}>{}</a></li>",
            Esc(&sel.with_lang(Some(tag)).href("/")),
            Esc(tag),
            Esc(tag),
            if current {
                " aria-current=\"page\""
            } else {
                ""
            },
            Esc(&language_name(tag))
        );
    }
    m.push_str("</ul></nav>\n");

    // The filters: a plain GET form, so they work without script and can be bookmarked.
    let _ = write!(
        m,
        "<form class=\"filters\" method=\"get\" action=\"/\" role=\"search\" aria-label=\"{}\">",
        w.t("filters-label")
    );
    let select = |m: &mut String,
                  name: &str,
                  label: &str,
                  all: &str,
                  opts: Vec<(String, String)>,
                  chosen: &[String]| {
        let _ = write!(
            m,
            "<label for=\"f-{name}\">{label}<select id=\"f-{name}\" name=\"{name}\">{}",
            option("", all, chosen.is_empty())
        );
        let mut seen = BTreeSet::new();
        for (v, l) in &opts {
            seen.insert(v.clone());
            m.push_str(&option(v, l, chosen.contains(v)));
        }
        for c in chosen.iter().filter(|c| !seen.contains(*c)) {
            m.push_str(&option(c, &esc(c), true));
        }
        m.push_str("</select></label>");
    };
    select(
        &mut m,
        "kind",
        &w.t("filter-kind"),
        &w.t("filter-kind-any"),
        vec![
            ("alert".into(), w.t("filter-kind-alert")),
            ("call".into(), w.t("filter-kind-call")),
        ],
        &sel.kinds
            .iter()
            .map(|k| k.as_str().to_string())
            .collect::<Vec<_>>(),
    );
    select(
        &mut m,
        "country",
        &w.t("filter-country"),
        &w.t("filter-country-any"),
        countries
            .iter()
            .map(|c| (c.clone(), esc(&w.country(c))))
            .collect(),
        &sel.countries,
    );
    select(
        &mut m,
        "topic",
        &w.t("filter-topic"),
        &w.t("filter-topic-any"),
        topics.iter().map(|t| (t.clone(), esc(t))).collect(),
        &sel.topics,
    );
    select(
        &mut m,
        "language",
        &w.t("filter-language"),
        &w.t("filter-language-any"),
        languages
            .iter()
            .map(|l| (l.clone(), esc(&language_name(l))))
            .collect(),
        &sel.languages,
    );
    select(
        &mut m,
        "authors",
        &w.t("filter-authors"),
        &w.t("filter-authors-any"),
        vec![
            ("trusted".into(), w.t("filter-authors-trusted")),
            ("unverified".into(), w.t("filter-authors-unverified")),
        ],
        &sel.authors
            .iter()
            .map(|a| a.as_str().to_string())
            .collect::<Vec<_>>(),
    );
    if let Some(l) = &sel.lang {
        let _ = write!(
            m,
            "<input type=\"hidden\" name=\"lang\" value=\"{}\">",
            Esc(l)
        );
    }
    let _ = writeln!(
        m,
        "<button type=\"submit\">{}</button> <a href=\"{}\">{}</a></form>",
        w.t("filter-show"),
        Esc(&sel.lang_only().href("/")),
        w.t("filter-clear")
    );

    m.push_str("<main id=\"main\">\n");
    let counts = |key: &str, shown: usize, total: usize| {
        w.html(
            key,
            &[
                ("shown", Arg::Num(shown as u64)),
                ("total", Arg::Num(total as u64)),
            ],
        )
    };
    let count = match (total, shown) {
        // Too many to count: the listing read back from the newest until it had enough.
        (t, s) if !listing.complete => counts("count-many", s, t),
        (0, _) if sel.is_filtered() => w.t("count-none-filtered"),
        (0, _) => w.t("count-none"),
        (t, s) if s < t && listing.unverified_shown < listing.unverified => {
            counts("count-trusted-first", s, t)
        }
        (t, s) if s < t => counts("count-newest", s, t),
        (t, s) => counts("count-all", s, t),
    };
    let _ = writeln!(m, "<p class=\"count\" role=\"status\">{count}</p>");
    if listing.unverified_shown > 0 || listing.unverified > 0 {
        // Anyone can make a key: say what the mark means, and where the rest are.
        let _ = write!(
            m,
            "<p class=\"lang-note\">{}",
            w.html(
                "unverified-note",
                &[("badge", Arg::Html(&unverified_badge(w)))]
            )
        );
        let hidden = listing.unverified - listing.unverified_shown;
        if hidden > 0 && sel.authors.is_none() {
            let link = format!(
                "<a href=\"{}\">{}</a>",
                Esc(&Selection {
                    authors: Some(AuthorFilter::Unverified),
                    ..sel.clone()
                }
                .href("/")),
                w.t("unverified-show")
            );
            let _ = write!(
                m,
                " {}",
                w.html(
                    if listing.complete {
                        "unverified-hidden"
                    } else {
                        "unverified-hidden-many"
                    },
                    &[
                        ("count", Arg::Num(hidden as u64)),
                        ("link", Arg::Html(&link))
                    ]
                )
            );
        }
        m.push_str("</p>\n");
    }
    if shown > 0 {
        m.push_str("<ol class=\"items\">\n");
        m.push_str(&items);
        m.push_str("</ol>\n");
    }
    m.push_str(&keys_html(w, snap, now));
    m.push_str("</main>\n");
    let _ = write!(
        m,
        "<footer><p>{} <a href=\"{}\">{}</a> · <a href=\"{}\">{}</a> · \
         <a href=\"{}\">{}</a> {} {}</p>{}</footer>",
        w.t("feeds"),
        Esc(&sel.href("/feed.atom")),
        w.t("feed-atom"),
        Esc(&sel.href("/cap.atom")),
        w.t("feed-cap"),
        Esc(&sel.href("/calendar.ics")),
        w.t("feed-calendar"),
        w.t("feed-calendar-note"),
        w.t("feeds-signed"),
        node_key_html(w, gw)
    );

    let alternates = format!(
        "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"{}\" href=\"{}\">\n",
        w.t("feed-title"),
        Esc(&sel.href("/feed.atom"))
    );
    layout(w, &w.t("index-title"), &alternates, &m, true)
}

/// "This node:" and its key, at the foot of a page.
fn node_key_html(w: &Words, gw: &Gateway) -> String {
    format!(
        "<div>{} {}</div>",
        w.t("this-node"),
        key_html(w, &gw.node().node_key().to_hex())
    )
}

/// What readers are told beside an author's name about its key (rotated, revoked, or the new
/// key of an organisation whose old one ended), as HTML; empty when there is nothing to tell.
fn key_note(snap: &Snapshot, author: &crate::message::AuthorKey) -> String {
    // The note is the store's (`store::key_note`), shared with the CLI, and stays English.
    match snap.names.note(author) {
        Some(note) => format!(" <span class=\"keynote\">({})</span>", esc(&note)),
        None => String::new(),
    }
}

/// The section "Keys revoked and rotated": every key that ends here, the latest first, with
/// its organisation's name, since when, who carries on and why; and the keys someone else
/// committed for (a conflicting recovery commitment). Empty when there are none.
fn keys_html(w: &Words, snap: &Snapshot, now: Timestamp) -> String {
    let keys = &snap.keys;
    if keys.ended.is_empty() && keys.conflicted.is_empty() {
        return String::new();
    }
    let mut m = String::new();
    let _ = write!(
        m,
        "<section class=\"keys\" aria-labelledby=\"keys-h\"><h2 id=\"keys-h\">{}</h2>\n<p class=\"lang-note\">{}</p>\n<ul>",
        w.t("keys-heading"),
        w.t("keys-note")
    );
    for state in keys.ended.iter().take(MAX_KEYS_SHOWN) {
        let Some(end) = &state.end else { continue };
        let key = &state.key;
        let _ = write!(
            m,
            "<li><strong dir=\"auto\">{}</strong> {}: ",
            esc(&snap.names.name(key)),
            short_key(&key.to_hex())
        );
        let from = when(w, end.from, now);
        let (key, mark) = if end.rotation.is_some() {
            ("key-rotated", "key-rotated-mark")
        } else {
            ("key-revoked", "key-revoked-mark")
        };
        let mark = format!("<span class=\"keynote\">{}</span>", w.t(mark));
        m.push_str(&w.html(
            key,
            &[("mark", Arg::Html(&mark)), ("time", Arg::Html(&from))],
        ));
        if let Some(since) = end.compromised_since.filter(|t| *t != end.from) {
            // The recovery key speaks only for the time after it was committed to.
            let since = when(w, since, now);
            let _ = write!(
                m,
                " {}",
                w.html("key-compromised", &[("time", Arg::Html(&since))])
            );
        }
        if let Some(successor) = &end.successor {
            let name = format!(
                "<strong dir=\"auto\">{}</strong>",
                esc(&snap.names.name(successor))
            );
            let _ = write!(
                m,
                ". {}",
                w.html(
                    "key-successor",
                    &[
                        ("name", Arg::Html(&name)),
                        ("key", Arg::Html(&short_key(&successor.to_hex())))
                    ]
                )
            );
        }
        m.push('.');
        if !end.reason.is_empty() {
            let reason = format!("<q dir=\"auto\">{}</q>", esc(&end.reason));
            let _ = write!(
                m,
                " {}",
                w.html("key-reason", &[("reason", Arg::Html(&reason))])
            );
        }
        m.push_str(&conflict_html(w, state, now));
        m.push_str("</li>");
    }
    for state in &keys.conflicted {
        let _ = write!(
            m,
            "<li><strong dir=\"auto\">{}</strong> {}:{}</li>",
            esc(&snap.names.name(&state.key)),
            short_key(&state.key.to_hex()),
            conflict_html(w, state, now)
        );
    }
    m.push_str("</ul>\n");
    if keys.ended.len() > MAX_KEYS_SHOWN {
        let more = (keys.ended.len() - MAX_KEYS_SHOWN) as u64;
        let _ = writeln!(
            m,
            "<p class=\"lang-note\">{}</p>",
            w.html("keys-more", &[("count", Arg::Num(more))])
        );
    }
    m.push_str("</section>\n");
    m
}

/// A warning for each conflicting recovery commitment of a key.
fn conflict_html(w: &Words, state: &crate::store::KeyState, now: Timestamp) -> String {
    let mut m = String::new();
    for c in &state.conflicting {
        let at = when(w, c.created_at, now);
        let _ = write!(
            m,
            " <span class=\"bad\">{}</span>",
            w.html("key-conflict", &[("time", Arg::Html(&at))])
        );
    }
    m
}

/// One item of the list: what it is, its headline, who and when, what to do, and for a call
/// what is asked, of whom and by when.
fn item_html(
    w: &Words,
    snap: &Snapshot,
    item: &Item,
    texts: &[Text<'_>],
    sel: &Selection,
    prefs: &[String],
    now: Timestamp,
) -> String {
    let current = item.current(now);
    let body = current.body();
    let short = item.id().short();
    let href = sel.lang_only().href(&format!("/m/{}", item.id()));
    let mut s = String::new();
    let _ = write!(s, "<li><article aria-labelledby=\"h-{short}\">");
    s.push_str("<p class=\"tags\">");
    let _ = write!(
        s,
        "<span class=\"badge kind-{}\">{}</span>",
        item.kind(),
        kind_word(w, item.kind())
    );
    if let Some(a) = alert_of(current) {
        s.push_str(&severity_badge(w, a.severity));
        let _ = write!(s, "<span>{}</span>", category_word(w, a.category));
        s.push_str(&status_badge(w, a.status));
    }
    if !snap.trusts(item.original.author()) {
        s.push_str(&unverified_badge(w));
    }
    s.push_str("</p>");
    let text = chosen(texts, prefs);
    match text {
        Some(t) => {
            let _ = write!(
                s,
                "<h2 id=\"h-{short}\" lang=\"{lang}\" dir=\"auto\"><a href=\"{href}\">{headline}</a></h2>",
                lang = Esc(&t.info.language),
                href = Esc(&href),
                headline = Esc(&t.info.headline),
            );
            let wanted = prefs.first();
            let language = esc(&w.language(&t.info.language));
            if wanted.is_some_and(|w| {
                !language_matches(w.split('-').next().unwrap_or(w), &t.info.language)
            }) {
                let key = if t.translator.is_some() {
                    "item-in-language-translated"
                } else {
                    "item-in-language"
                };
                let _ = write!(
                    s,
                    "<p class=\"lang-note\">{}</p>",
                    w.html(key, &[("language", Arg::Html(&language))])
                );
            } else if let Some(tr) = t.translator {
                let _ = write!(
                    s,
                    "<p class=\"lang-note\">{}</p>",
                    w.html(
                        "item-translated-by",
                        &[("name", Arg::Html(&translator_html(snap, tr)))]
                    )
                );
            }
        }
        None => {
            let _ = write!(
                s,
                "<h2 id=\"h-{short}\"><a href=\"{}\">{}</a></h2>",
                Esc(&href),
                kind_word(w, item.kind())
            );
        }
    }
    let by = format!(
        "<strong dir=\"auto\">{}</strong>{}",
        esc(&snap.names.name(item.original.author())),
        key_note(snap, item.original.author())
    );
    let _ = write!(
        s,
        "<p class=\"meta\">{} · {}",
        w.html("item-by", &[("name", Arg::Html(&by))]),
        when(w, item.original.body().created_at, now)
    );
    if current.id() != item.id() {
        let updated = when(w, body.created_at, now);
        let _ = write!(
            s,
            " · {}",
            w.html("item-updated", &[("time", Arg::Html(&updated))])
        );
    }
    if !body.countries.is_empty() {
        let _ = write!(s, " · {}", countries_html(w, &body.countries));
    }
    s.push_str("</p>");
    if let Some(call) = current.body().call() {
        if !call.actions.is_empty() {
            let _ = write!(
                s,
                "<p class=\"when\"><strong>{}</strong> {}</p>",
                w.t("item-asked"),
                actions_html(w, call)
            );
        }
        if !call.target.is_empty() {
            let _ = write!(
                s,
                "<p class=\"when\"><strong>{}</strong> <span dir=\"auto\">{}</span></p>",
                w.t("item-addressed-to"),
                Esc(&call.target)
            );
        }
        let when = when_line(w, call, now);
        if !when.is_empty() {
            let _ = write!(s, "<p class=\"when\">{when}</p>");
        }
    }
    if let Some(t) = text {
        let flowed = paragraphs(&t.info.description).join(" ");
        let _ = write!(
            s,
            "<p class=\"desc\" lang=\"{}\" dir=\"auto\">{}</p>",
            Esc(&t.info.language),
            Esc(&excerpt(&flowed, 280))
        );
        if !t.info.instruction.is_empty() {
            let _ = write!(
                s,
                "<p class=\"desc todo\"><strong>{}</strong> <span lang=\"{}\" dir=\"auto\">{}</span></p>",
                w.t("item-what-to-do"),
                Esc(&t.info.language),
                Esc(&paragraphs(&t.info.instruction).join(" "))
            );
        }
    }
    s.push_str(&tallies::item_html(
        w,
        &short,
        current.body().call().map_or(&[], |c| c.goals.as_slice()),
        &item.tally,
    ));
    let about = text.map_or_else(|| w.t("this-item"), |t| esc(&t.info.headline));
    let _ = write!(
        s,
        "<p class=\"tally\">{} · <a href=\"{}\">{}<span class=\"vh\"> {}</span></a></p>",
        tally(w, item.endorsers.len()),
        Esc(&href),
        w.t("item-details"),
        w.html("item-details-of", &[("headline", Arg::Html(&about))])
    );
    s.push_str("</article></li>\n");
    s
}

/// The translator of a text, by name as elsewhere on the page, with what readers are told
/// about its key.
fn translator_html(snap: &Snapshot, translator: &Message) -> String {
    format!(
        "<strong dir=\"auto\">{}</strong>{}",
        esc(&snap.names.name(translator.author())),
        key_note(snap, translator.author())
    )
}

/// One alert or call in full.
pub(super) fn detail(
    gw: &Gateway,
    snap: &Snapshot,
    item: &Item,
    sel: &Selection,
    prefs: &[String],
    now: Timestamp,
) -> String {
    let w = Words::choose(prefs);
    let current = item.current(now);
    let body = current.body();
    let texts = item.texts(now);
    let first = chosen(&texts, prefs);
    let (author_name, source) = snap.names.get(item.original.author());
    let mut m = String::new();
    m.push_str("<main id=\"main\">\n<article>\n");
    m.push_str("<p class=\"tags\">");
    let _ = write!(
        m,
        "<span class=\"badge kind-{}\">{}</span>",
        item.kind(),
        kind_word(w, item.kind())
    );
    if let Some(a) = alert_of(current) {
        m.push_str(&severity_badge(w, a.severity));
        let _ = write!(m, "<span>{}</span>", category_word(w, a.category));
        m.push_str(&status_badge(w, a.status));
    }
    let unverified = !snap.trusts(item.original.author());
    if unverified {
        m.push_str(&unverified_badge(w));
    }
    m.push_str("</p>\n");
    let title = first.map_or_else(|| kind_word(w, item.kind()), |t| esc(&t.info.headline));
    match first {
        Some(t) => {
            let _ = writeln!(
                m,
                "<h1 lang=\"{}\" dir=\"auto\">{}</h1>",
                Esc(&t.info.language),
                Esc(&t.info.headline)
            );
        }
        None => {
            let _ = writeln!(m, "<h1>{}</h1>", kind_word(w, item.kind()));
        }
    }

    // The facts, in plain words: what a reader needs to act, not CAP's fields.
    m.push_str("<dl class=\"facts\">");
    let mut fact = |key: &str, v: String| {
        let _ = write!(m, "<dt>{}</dt><dd>{v}</dd>", w.t(key));
    };
    let name_html = format!("<span dir=\"auto\">{}</span>", esc(&author_name));
    let by = match &source {
        NameSource::Profile => name_html,
        NameSource::Roster(fed) => {
            let federation = esc(&snap.names.name(fed));
            w.html(
                "author-roster",
                &[
                    ("name", Arg::Html(&name_html)),
                    ("federation", Arg::Html(&federation)),
                ],
            )
        }
        NameSource::Predecessor(before) => w.html(
            "author-successor",
            &[
                ("name", Arg::Html(&name_html)),
                ("key", Arg::Html(&short_key(&before.to_hex()))),
            ],
        ),
        NameSource::Key => w.t("author-unknown"),
    };
    fact("fact-author", by);
    if let Some(note) = snap.names.note(item.original.author()) {
        fact(
            "fact-key-history",
            format!(
                "<span class=\"keynote\">{}</span>",
                esc(&capitalised(&note))
            ),
        );
    }
    if unverified {
        fact("fact-trust", w.t("trust-unverified"));
    }
    fact("fact-key", key_html(w, &item.original.author().to_hex()));
    if let Some(a) = alert_of(current) {
        fact("fact-category", category_word(w, a.category));
        fact(
            "fact-severity",
            w.t(&format!("severity-{}", a.severity.as_str())),
        );
        // "Unknown" tells a reader nothing: left out. "Actual" is every real message: the
        // badge marks the others.
        if a.urgency != Urgency::Unknown {
            fact(
                "fact-urgency",
                w.t(&format!("urgency-{}", a.urgency.as_str())),
            );
        }
        if a.certainty != Certainty::Unknown {
            fact(
                "fact-certainty",
                w.t(&format!("certainty-{}", a.certainty.as_str())),
            );
        }
    }
    if let Some(call) = current.body().call() {
        if !call.actions.is_empty() {
            fact("fact-actions", actions_html(w, call));
        }
        if !call.target.is_empty() {
            fact(
                "fact-target",
                format!("<span dir=\"auto\">{}</span>", esc(&call.target)),
            );
        }
        if let Some(d) = call.deadline {
            fact("fact-deadline", when(w, d, now));
        }
        if call.window_starts_at.is_some() || call.window_ends_at.is_some() {
            fact(
                "fact-window",
                format!(
                    "{} – {}",
                    call.window_starts_at
                        .map_or("…".into(), |t| when(w, t, now)),
                    call.window_ends_at.map_or("…".into(), |t| when(w, t, now))
                ),
            );
        }
        if !call.ilo_conventions.is_empty() {
            fact("fact-conventions", conventions_html(&call.ilo_conventions));
        }
        if let Some(b) = call.supervisory_body {
            fact("fact-body", w.t(&format!("body-{}", b.as_str())));
        }
    }
    if !body.countries.is_empty() {
        fact("fact-countries", countries_html(w, &body.countries));
    }
    if !body.topics.is_empty() {
        fact("fact-topics", esc(&body.topics.join(", ")));
    }
    fact(
        "fact-published",
        when(w, item.original.body().created_at, now),
    );
    if current.id() != item.id() {
        fact("fact-updated", when(w, body.created_at, now));
    }
    if let Some(e) = body.effective_at {
        fact("fact-embargo", when(w, e, now));
    }
    if let Some(x) = body.expires_at {
        fact("fact-expires", when(w, x, now));
    }
    fact("fact-endorsements", item.endorsers.len().to_string());
    m.push_str("</dl>\n");

    // Every language, the chosen one first.
    let mut order: Vec<&Text<'_>> = texts.iter().collect();
    if let Some(f) = first
        && let Some(pos) = order.iter().position(|t| std::ptr::eq(*t, f))
    {
        let t = order.remove(pos);
        order.insert(0, t);
    }
    let _ = writeln!(
        m,
        "<h2>{}</h2>",
        w.html("texts-heading", &[("count", Arg::Num(order.len() as u64))])
    );
    for t in order {
        let lang = Esc(&t.info.language);
        let language = esc(&language_name(&t.info.language));
        let _ = write!(
            m,
            "<section class=\"text\" lang=\"{lang}\" aria-label=\"{language}\"><div class=\"lang-note\" lang=\"{}\" dir=\"{}\">{language}{}</div>",
            w.tag(),
            w.dir(),
            match t.translator {
                // A translation by another organisation: who made it, as elsewhere.
                Some(tr) => format!(
                    " · {} {}",
                    w.html(
                        "text-translated-by",
                        &[("name", Arg::Html(&translator_html(snap, tr)))]
                    ),
                    key_html(w, &tr.author().to_hex())
                ),
                None => String::new(),
            }
        );
        let _ = write!(
            m,
            "<h3 dir=\"auto\">{}</h3>{}",
            Esc(&t.info.headline),
            paragraphs_html(&t.info.description, "desc", &t.info.language)
        );
        if !t.info.instruction.is_empty() {
            let _ = write!(
                m,
                "<h4 lang=\"{}\" dir=\"{}\">{}</h4>{}",
                w.tag(),
                w.dir(),
                w.t("what-to-do"),
                paragraphs_html(&t.info.instruction, "desc todo", &t.info.language)
            );
        }
        if !t.info.link.is_empty() {
            let _ = write!(
                m,
                "<p><a href=\"{}\" rel=\"nofollow noopener noreferrer\" lang=\"{}\">{}</a> <span class=\"mono\">{}</span></p>",
                Esc(&t.info.link),
                w.tag(),
                w.t("more-information"),
                Esc(&t.info.link)
            );
        }
        m.push_str("</section>\n");
    }

    m.push_str(&tallies::detail_html(
        w,
        snap,
        current.body().call().map_or(&[], |c| c.goals.as_slice()),
        &item.tally,
    ));

    // History.
    let _ = write!(m, "<h2>{}</h2>\n<ol>", w.t("history"));
    let versions: Vec<&Message> = item.versions(now).collect();
    for (i, v) in versions.iter().enumerate() {
        let at = when(w, v.body().created_at, now);
        let name = esc(&snap.names.name(v.author()));
        let _ = write!(
            m,
            "<li>{}{} — <a href=\"/cap/{id}.xml\">CAP</a> <span class=\"mono\">{}</span></li>",
            w.html(
                if i == 0 {
                    "history-published"
                } else {
                    "history-updated"
                },
                &[("time", Arg::Html(&at)), ("name", Arg::Html(&name))]
            ),
            if v.id() == current.id() {
                format!(" {}", w.t("history-current"))
            } else {
                String::new()
            },
            v.id().short(),
            id = v.id()
        );
    }
    m.push_str("</ol>\n");

    // Endorsers.
    let _ = writeln!(
        m,
        "<h2>{}</h2>",
        w.html(
            "endorsements-heading",
            &[("count", Arg::Num(item.endorsers.len() as u64))]
        )
    );
    if item.endorsers.is_empty() {
        let _ = writeln!(m, "<p>{}</p>", w.t("no-endorsements"));
    } else {
        m.push_str("<ul>");
        for e in &item.endorsers {
            let _ = write!(
                m,
                "<li><strong dir=\"auto\">{}</strong> {}, {}",
                esc(&snap.names.name(&e.author)),
                short_key(&e.author.to_hex()),
                when(w, e.created_at, now)
            );
            if !e.statement.is_empty() {
                let _ = write!(m, ": <q dir=\"auto\">{}</q>", Esc(&e.statement));
            }
            m.push_str("</li>");
        }
        m.push_str("</ul>\n");
    }

    // Signatures: checked again now, not only remembered from arrival.
    let _ = write!(
        m,
        "<h2>{}</h2>\n<p>{}</p>\n<ul>",
        w.t("signatures"),
        w.t("signatures-note")
    );
    let signed: Vec<&Message> = versions
        .iter()
        .copied()
        .chain(item.translations(now))
        .collect();
    for v in signed {
        let ok = v
            .author()
            .verify(v.signed().body(), v.signed().signature())
            .is_ok();
        let _ = write!(
            m,
            "<li>{} <span class=\"mono\">{}</span>: {} — {} {}</li>",
            match v.kind() {
                Kind::Translation => w.t("signature-translation"),
                Kind::Update => w.t("signature-update"),
                _ => w.t("signature-original"),
            },
            v.id().short(),
            if ok {
                format!("<span class=\"ok\">{}</span>", w.t("signature-valid"))
            } else {
                format!("<span class=\"bad\">{}</span>", w.t("signature-invalid"))
            },
            w.t("signature-key"),
            key_html(w, &v.author().to_hex())
        );
    }
    m.push_str("</ul>\n");
    let _ = writeln!(
        m,
        "<p><a href=\"/cap/{}.xml\">{}</a> · <a href=\"{}\">{}</a></p>",
        current.id(),
        w.t("cap-document"),
        Esc(&sel.href("/")),
        w.t("all-current")
    );
    m.push_str("</article>\n</main>\n");
    let _ = write!(m, "<footer>{}</footer>", node_key_html(w, gw));
    layout(w, &format!("{title} — Tocsin"), "", &m, false)
}

/// The page of a withdrawn message.
pub(super) fn withdrawn(w: &Words, id: &Id, reason: &str) -> String {
    let mut m = format!(
        "<main id=\"main\"><h1>{}</h1><p>{}</p><p>{} <span class=\"mono\">{id}</span></p>",
        w.t("withdrawn-title"),
        w.t("withdrawn-text"),
        w.t("message-id")
    );
    if !reason.is_empty() {
        let reason = format!("<q dir=\"auto\">{}</q>", esc(reason));
        let _ = write!(
            m,
            "<p>{}</p>",
            w.html("withdrawn-reason", &[("reason", Arg::Html(&reason))])
        );
    }
    let _ = write!(m, "<p><a href=\"/\">{}</a></p></main>", w.t("all-current"));
    layout(
        w,
        &format!("{} — Tocsin", w.t("withdrawn-title")),
        "",
        &m,
        false,
    )
}

/// The page of a message this node withholds because its author's key ended before it was
/// made: who signed it and why it is withheld (the content is not served). `why` is the
/// store's reason, in English.
pub(super) fn withheld(
    w: &Words,
    snap: &Snapshot,
    id: &Id,
    author: &crate::message::AuthorKey,
    why: &str,
) -> String {
    let name = format!(
        "<strong dir=\"auto\">{}</strong>",
        esc(&snap.names.name(author))
    );
    let key = short_key(&author.to_hex());
    let date = snap.names.end(author).map(|e| esc(&day(e.from)));
    let mut args = vec![
        ("name", Arg::Html(&name)),
        ("key", Arg::Html(&key)),
        ("why", Arg::Text(why)),
    ];
    let text = match &date {
        Some(date) => {
            args.push(("date", Arg::Html(date)));
            w.html("withheld-text-since", &args)
        }
        None => w.html("withheld-text", &args),
    };
    let m = format!(
        "<main id=\"main\"><h1>{}</h1><p>{text}</p><p>{}</p><p>{} <span class=\"mono\">{id}</span></p><p><a href=\"/\">{}</a></p></main>",
        w.t("withheld-title"),
        w.t("withheld-not-served"),
        w.t("message-id"),
        w.t("all-current")
    );
    layout(
        w,
        &format!("{} — Tocsin", w.t("withheld-title")),
        "",
        &m,
        false,
    )
}

/// A short page for errors: its title and text are keys of the reader's words; `args` fill
/// the text's values.
pub(super) fn error_page(
    w: &Words,
    title_key: &str,
    text_key: &str,
    args: &[(&str, Arg<'_>)],
) -> String {
    let title = w.t(title_key);
    layout(
        w,
        &format!("{title} — Tocsin"),
        "",
        &format!(
            "<main id=\"main\"><h1>{title}</h1><p>{}</p><p><a href=\"/\">{}</a></p></main>",
            w.html(text_key, args),
            w.t("all-current")
        ),
        false,
    )
}
