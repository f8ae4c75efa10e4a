//! The HTML a person reads: the page of current alerts and calls, one message in full, and
//! the error pages. Server-rendered, no script, readable on a phone; every string that came
//! from a message goes through [`Esc`].

use std::collections::BTreeSet;
use std::fmt::Write as _;

use crate::message::{
    ActionCall, ActionType, Alert, Category, Content, Id, Kind, Message, Severity, Status,
    SupervisoryBody, Timestamp, UpdateContent, language_matches,
};

use super::Gateway;
use super::escape::{Esc, esc};
use super::query::{AuthorFilter, Selection, language_name, pick_language};
use super::snapshot::{Item, NameSource, Snapshot, Text};
use super::tallies;
use crate::store::day;

/// The style sheet, served at /style.css (a file of its own, so the page can forbid inline
/// styles and scripts in its Content-Security-Policy).
pub(super) const STYLE: &str = r#":root{--fg:#1a1a1a;--muted:#4a4a4a;--bg:#fff;--line:#d0d0d0;--link:#0a4fb4;--card:#f7f7f5}
*{box-sizing:border-box}
html{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;line-height:1.5;color:var(--fg);background:var(--bg)}
body{margin:0 auto;max-width:50rem;padding:0 1rem 3rem}
a{color:var(--link)}
a:focus-visible,button:focus-visible,select:focus-visible{outline:3px solid #f0a000;outline-offset:2px}
.skip{position:absolute;left:-999px}
.skip:focus{left:1rem;top:1rem;background:#fff;padding:.5rem;z-index:1}
.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
header.site{border-bottom:4px solid #a40000;padding:1rem 0 .5rem;margin-bottom:1rem}
header.site .brand{margin:0;font-size:1.6rem;font-weight:700}
header.site .brand a{color:inherit;text-decoration:none}
article,.desc,q{overflow-wrap:anywhere}
header.site p.tagline{margin:.25rem 0 0;color:var(--muted)}
nav.langs{margin:.5rem 0;font-size:.95rem}
nav.langs ul{display:inline;list-style:none;padding:0;margin:0}
nav.langs li{display:inline-block;margin:0 .6rem .3rem 0}
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
.desc{margin:.4rem 0;white-space:pre-line}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:1rem 0}
dl.facts dt{font-weight:700}
dl.facts dd{margin:0}
section.text{border-left:4px solid var(--line);padding-left:1rem;margin:1.5rem 0}
section.text h3{margin:.2rem 0}
.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.85rem;overflow-wrap:anywhere}
.ok{color:#0b6b2e;font-weight:700}
.bad{color:#a40000;font-weight:700}
ul.goals{list-style:none;padding:0;margin:.4rem 0}
ul.goals li{display:flex;flex-wrap:wrap;align-items:center;gap:.2rem .6rem;margin:.2rem 0}
ul.goals progress{width:12rem;max-width:100%;height:1rem;accent-color:#0b6b2e}
.reported{margin:.2rem 0;font-size:.95rem;font-weight:600}
table.reports{border-collapse:collapse;width:100%;margin:.75rem 0;font-size:.95rem}
table.reports caption{text-align:left;font-weight:700;padding:.3rem 0}
table.reports th,table.reports td{border:1px solid var(--line);padding:.3rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
.keynote{color:#6b0000}
section.keys li{margin:.3rem 0}
footer{margin-top:2rem;border-top:1px solid var(--line);padding-top:.75rem;font-size:.9rem;color:var(--muted)}
@media (max-width:30rem){dl.facts{grid-template-columns:1fr}dl.facts dd{margin-bottom:.4rem}}
"#;

/// Ended keys listed on the page at most (the latest first); the rest are counted.
const MAX_KEYS_SHOWN: usize = 50;

/// The mark on an item whose author readers have no reason to trust yet.
const UNVERIFIED_BADGE: &str = "<span class=\"badge unverified\">Unverified author</span>";

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

/// The call fields of a version, if it is a call.
pub(super) fn call_of(m: &Message) -> Option<&ActionCall> {
    match &m.body().content {
        Content::Call(c) => Some(c),
        Content::Update(u) => match &u.content {
            UpdateContent::Call(c) => Some(c),
            UpdateContent::Alert(_) => None,
        },
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
fn layout(title: &str, alternates: &str, main: &str, brand_heading: bool) -> String {
    let (open, close) = if brand_heading {
        ("<h1 class=\"brand\">", "</h1>")
    } else {
        ("<p class=\"brand\">", "</p>")
    };
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <title>{title}</title>\n<link rel=\"stylesheet\" href=\"/style.css\">\n{alternates}</head>\n<body>\n\
         <a class=\"skip\" href=\"#main\">Skip to content</a>\n\
         <header class=\"site\">{open}<a href=\"/\">Tocsin</a>{close}\
         <p class=\"tagline\">Solidarity alerts and action calls, signed by the unions that wrote them.</p></header>\n\
         {main}\n</body>\n</html>\n"
    )
}

/// A status badge for exercises and tests, so that no reader takes a drill for real.
fn status_badge(s: Status) -> String {
    match s {
        Status::Actual => String::new(),
        other => format!(
            "<span class=\"badge status\">{}</span>",
            capitalised(other.as_str())
        ),
    }
}

fn severity_badge(s: Severity) -> String {
    format!(
        "<span class=\"badge sev-{}\">{}</span>",
        s.as_str(),
        capitalised(s.as_str())
    )
}

/// Deadline and action window of a call, as one line.
fn when_line(call: &ActionCall) -> String {
    let mut parts = Vec::new();
    if let Some(d) = call.deadline {
        parts.push(format!("<strong>Deadline:</strong> {}", time(d)));
    }
    match (call.window_starts_at, call.window_ends_at) {
        (Some(s), Some(e)) => parts.push(format!(
            "<strong>Action window:</strong> {} – {}",
            time(s),
            time(e)
        )),
        (Some(s), None) => parts.push(format!("<strong>Action from:</strong> {}", time(s))),
        (None, Some(e)) => parts.push(format!("<strong>Action until:</strong> {}", time(e))),
        (None, None) => {}
    }
    parts.join(" · ")
}

fn tally(n: usize) -> String {
    match n {
        0 => "No endorsements yet".into(),
        1 => "1 endorsement".into(),
        n => format!("{n} endorsements"),
    }
}

/// The text to show for the preferences.
fn chosen<'a>(texts: &'a [Text<'a>], prefs: &[String]) -> Option<&'a Text<'a>> {
    let tags: Vec<&str> = texts.iter().map(|t| t.info.language.as_str()).collect();
    pick_language(&tags, prefs).and_then(|i| texts.get(i))
}

fn option(value: &str, label: &str, selected: bool) -> String {
    format!(
        "<option value=\"{}\"{}>{}</option>",
        Esc(value),
        if selected { " selected" } else { "" },
        Esc(label)
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
    let mut countries = BTreeSet::new();
    let mut topics = BTreeSet::new();
    let mut languages = BTreeSet::new();
    for item in snap.live(now) {
        let current = item.current(now).body();
        countries.extend(current.countries.iter().cloned());
        topics.extend(current.topics.iter().cloned());
        languages.extend(
            item.texts(now)
                .iter()
                .map(|t| t.info.language.to_ascii_lowercase()),
        );
    }
    let listing = snap.selected(sel, now, gw.max_items());
    let (shown, total) = (&listing.items, listing.total);

    let mut m = String::new();
    // The language switcher.
    m.push_str("<nav class=\"langs\" aria-label=\"Reading language\"><span id=\"langs-label\">Read in:</span> <ul aria-labelledby=\"langs-label\">");
    let _ = write!(
        m,
        "<li><a href=\"{}\"{}>your browser's language</a></li>",
        Esc(&sel.with_lang(None).href("/")),
        if sel.lang.is_none() {
            " aria-current=\"page\""
        } else {
            ""
        }
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
    m.push_str("<form class=\"filters\" method=\"get\" action=\"/\" role=\"search\" aria-label=\"Filter alerts and calls\">");
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
            m.push_str(&option(c, c, true));
        }
        m.push_str("</select></label>");
    };
    select(
        &mut m,
        "kind",
        "Kind",
        "Alerts and calls",
        vec![
            ("alert".into(), "Alerts".into()),
            ("call".into(), "Action calls".into()),
        ],
        &sel.kinds
            .iter()
            .map(|k| k.as_str().to_string())
            .collect::<Vec<_>>(),
    );
    select(
        &mut m,
        "country",
        "Country",
        "All countries",
        countries.iter().map(|c| (c.clone(), c.clone())).collect(),
        &sel.countries,
    );
    select(
        &mut m,
        "topic",
        "Topic",
        "All topics",
        topics.iter().map(|t| (t.clone(), t.clone())).collect(),
        &sel.topics,
    );
    select(
        &mut m,
        "language",
        "Available in",
        "Any language",
        languages
            .iter()
            .map(|l| (l.clone(), language_name(l)))
            .collect(),
        &sel.languages,
    );
    select(
        &mut m,
        "authors",
        "Authors",
        "Trusted first",
        vec![
            ("trusted".into(), "Trusted only".into()),
            ("unverified".into(), "Unverified only".into()),
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
        "<button type=\"submit\">Show</button> <a href=\"{}\">Clear filters</a></form>",
        Esc(&sel.lang_only().href("/"))
    );

    m.push_str("<main id=\"main\">\n");
    let count = match (total, shown.len()) {
        (0, _) if sel.is_filtered() => {
            "No current alert or call matches these filters.".to_string()
        }
        (0, _) => "No current alerts or calls.".to_string(),
        (1, _) => "1 current alert or call.".to_string(),
        (t, s) if s < t && listing.unverified_shown < listing.unverified => {
            format!("{s} of {t} current alerts and calls: by trusted authors first.")
        }
        (t, s) if s < t => format!("The {s} newest of {t} current alerts and calls."),
        (t, _) => format!("{t} current alerts and calls, newest first."),
    };
    let _ = writeln!(m, "<p class=\"count\" role=\"status\">{count}</p>");
    if listing.unverified_shown > 0 || listing.unverified > 0 {
        // Anyone can make a key: say what the mark means, and where the rest are.
        let _ = write!(
            m,
            "<p class=\"lang-note\">Items marked <span class=\"badge unverified\">Unverified author</span> are signed by keys this node has no history with and no trusted list names; they come after the others."
        );
        let hidden = listing.unverified - listing.unverified_shown;
        if hidden > 0 && sel.authors.is_none() {
            let _ = write!(
                m,
                " {hidden} more are not shown here: <a href=\"{}\">show items by unverified authors</a>.",
                Esc(&Selection {
                    authors: Some(AuthorFilter::Unverified),
                    ..sel.clone()
                }
                .href("/"))
            );
        }
        m.push_str("</p>\n");
    }
    if !shown.is_empty() {
        m.push_str("<ol class=\"items\">\n");
        for item in shown {
            m.push_str(&item_html(snap, item, &item.texts(now), sel, prefs, now));
        }
        m.push_str("</ol>\n");
    }
    m.push_str(&keys_html(snap));
    m.push_str("</main>\n");
    let _ = write!(
        m,
        "<footer><p>Feeds: <a href=\"{}\">Atom</a> · <a href=\"{}\">CAP 1.2 index</a> · \
         <a href=\"{}\">Calendar</a> (deadlines, for your calendar app). \
         Every item is signed by the organisation that wrote it and verified by this node; \
         its page shows the signature and the author's key.</p>\
         <p>This node: <span class=\"mono\">{}</span></p></footer>",
        Esc(&sel.href("/feed.atom")),
        Esc(&sel.href("/cap.atom")),
        Esc(&sel.href("/calendar.ics")),
        gw.node().node_key().to_hex()
    );

    let alternates = format!(
        "<link rel=\"alternate\" type=\"application/atom+xml\" title=\"Tocsin: current alerts and calls\" href=\"{}\">\n",
        Esc(&sel.href("/feed.atom"))
    );
    layout(
        "Tocsin: current alerts and action calls",
        &alternates,
        &m,
        true,
    )
}

/// What readers are told beside an author's name about its key (rotated, revoked, or the new
/// key of an organisation whose old one ended), as HTML; empty when there is nothing to tell.
fn key_note(snap: &Snapshot, author: &crate::message::AuthorKey) -> String {
    match snap.names.note(author) {
        Some(note) => format!(" <span class=\"keynote\">({})</span>", esc(&note)),
        None => String::new(),
    }
}

/// The section "Keys revoked and rotated": every key that ends here, the latest first, with
/// its organisation's name, since when, who carries on and why; and the keys someone else
/// committed for (a conflicting recovery commitment). Empty when there are none.
fn keys_html(snap: &Snapshot) -> String {
    let keys = &snap.keys;
    if keys.ended.is_empty() && keys.conflicted.is_empty() {
        return String::new();
    }
    let mut m = String::new();
    m.push_str("<section class=\"keys\" aria-labelledby=\"keys-h\"><h2 id=\"keys-h\">Keys revoked and rotated</h2>\n");
    m.push_str("<p class=\"lang-note\">An organisation whose key was seized or lost ends it: what the key signed from the time given is withheld by this node, and what it signed before stands. A key rotated by its recovery key hands the organisation's name on to its successor.</p>\n<ul>");
    for state in keys.ended.iter().take(MAX_KEYS_SHOWN) {
        let Some(end) = &state.end else { continue };
        let key = &state.key;
        let _ = write!(
            m,
            "<li><strong dir=\"auto\">{}</strong> <span class=\"mono\">{}</span>: ",
            esc(&snap.names.name(key)),
            key.short()
        );
        if end.rotation.is_some() {
            let _ = write!(
                m,
                "<span class=\"keynote\">rotated</span> by its recovery key after a compromise; what it signed from {} is withheld",
                time(end.from)
            );
        } else {
            let _ = write!(
                m,
                "<span class=\"keynote\">revoked</span>; what it signed from {} is withheld",
                time(end.from)
            );
        }
        if let Some(since) = end.compromised_since.filter(|t| *t != end.from) {
            // The recovery key speaks only for the time after it was committed to.
            let _ = write!(m, " (the rotation says compromised from {})", time(since));
        }
        if let Some(successor) = &end.successor {
            let _ = write!(
                m,
                ". Carries on as <strong dir=\"auto\">{}</strong> <span class=\"mono\">{}</span>",
                esc(&snap.names.name(successor)),
                successor.short()
            );
        }
        m.push('.');
        if !end.reason.is_empty() {
            let _ = write!(m, " Reason: <q dir=\"auto\">{}</q>", esc(&end.reason));
        }
        m.push_str(&conflict_html(state));
        m.push_str("</li>");
    }
    for state in &keys.conflicted {
        let _ = write!(
            m,
            "<li><strong dir=\"auto\">{}</strong> <span class=\"mono\">{}</span>:{}</li>",
            esc(&snap.names.name(&state.key)),
            state.key.short(),
            conflict_html(state)
        );
    }
    m.push_str("</ul>\n");
    if keys.ended.len() > MAX_KEYS_SHOWN {
        let _ = writeln!(
            m,
            "<p class=\"lang-note\">{} more keys end here (the oldest are not listed).</p>",
            keys.ended.len() - MAX_KEYS_SHOWN
        );
    }
    m.push_str("</section>\n");
    m
}

/// A warning for each conflicting recovery commitment of a key.
fn conflict_html(state: &crate::store::KeyState) -> String {
    let mut m = String::new();
    for c in &state.conflicting {
        let _ = write!(
            m,
            " <span class=\"bad\">Warning: conflicting recovery commitment</span> signed with this key on {}, to a different recovery key than its first: someone other than the organisation may have held the key then.",
            time(c.created_at)
        );
    }
    m
}

/// One item of the list.
fn item_html(
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
        kind_label(item.kind())
    );
    if let Some(a) = alert_of(current) {
        s.push_str(&severity_badge(a.severity));
        let _ = write!(s, "<span>{}</span>", category_label(a.category));
        s.push_str(&status_badge(a.status));
    }
    if !snap.trusts(item.original.author()) {
        s.push_str(UNVERIFIED_BADGE);
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
            if wanted.is_some_and(|w| {
                !language_matches(w.split('-').next().unwrap_or(w), &t.info.language)
            }) {
                let _ = write!(
                    s,
                    "<p class=\"lang-note\">In {}{}.</p>",
                    Esc(&language_name(&t.info.language)),
                    if t.translator.is_some() {
                        ", translated"
                    } else {
                        ""
                    }
                );
            } else if let Some(tr) = t.translator {
                let _ = write!(
                    s,
                    "<p class=\"lang-note\">Translated by {}.</p>",
                    Esc(&snap.names.name(tr.author()))
                );
            }
        }
        None => {
            let _ = write!(
                s,
                "<h2 id=\"h-{short}\"><a href=\"{}\">{}</a></h2>",
                Esc(&href),
                kind_label(item.kind())
            );
        }
    }
    let _ = write!(
        s,
        "<p class=\"meta\">By <strong dir=\"auto\">{}</strong>{} · {}",
        Esc(&snap.names.name(item.original.author())),
        key_note(snap, item.original.author()),
        time(item.original.body().created_at)
    );
    if current.id() != item.id() {
        let _ = write!(s, " · updated {}", time(body.created_at));
    }
    if !body.countries.is_empty() {
        let _ = write!(s, " · {}", Esc(&body.countries.join(", ")));
    }
    s.push_str("</p>");
    if let Some(call) = call_of(current) {
        let when = when_line(call);
        if !when.is_empty() {
            let _ = write!(s, "<p class=\"when\">{when}</p>");
        }
    }
    if let Some(t) = text {
        let _ = write!(
            s,
            "<p class=\"desc\" lang=\"{}\" dir=\"auto\">{}</p>",
            Esc(&t.info.language),
            Esc(&excerpt(&t.info.description, 280))
        );
    }
    s.push_str(&tallies::item_html(
        &short,
        call_of(current).map_or(&[], |c| c.goals.as_slice()),
        &item.tally,
    ));
    let _ = write!(
        s,
        "<p class=\"tally\">{} · <a href=\"{}\">Details<span class=\"vh\"> of {}</span></a></p>",
        tally(item.endorsers.len()),
        Esc(&href),
        Esc(text
            .map(|t| t.info.headline.as_str())
            .unwrap_or("this item"))
    );
    s.push_str("</article></li>\n");
    s
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
        kind_label(item.kind())
    );
    if let Some(a) = alert_of(current) {
        m.push_str(&severity_badge(a.severity));
        let _ = write!(m, "<span>{}</span>", category_label(a.category));
        m.push_str(&status_badge(a.status));
    }
    let unverified = !snap.trusts(item.original.author());
    if unverified {
        m.push_str(UNVERIFIED_BADGE);
    }
    m.push_str("</p>\n");
    let title = first.map_or_else(
        || kind_label(item.kind()).to_string(),
        |t| t.info.headline.clone(),
    );
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
            let _ = writeln!(m, "<h1>{}</h1>", kind_label(item.kind()));
        }
    }

    // The facts.
    m.push_str("<dl class=\"facts\">");
    let mut fact = |k: &str, v: String| {
        let _ = write!(m, "<dt>{k}</dt><dd>{v}</dd>");
    };
    let by = match &source {
        NameSource::Profile => format!("<span dir=\"auto\">{}</span>", esc(&author_name)),
        NameSource::Roster(fed) => format!(
            "<span dir=\"auto\">{}</span> (as named in the roster of {})",
            esc(&author_name),
            esc(&snap.names.name(fed))
        ),
        NameSource::Predecessor(before) => format!(
            "<span dir=\"auto\">{}</span> (its new key: it carries on for <span class=\"mono\">{}</span>)",
            esc(&author_name),
            before.short()
        ),
        NameSource::Key => "an author without a profile on this node".to_string(),
    };
    fact("Author", by);
    if let Some(note) = snap.names.note(item.original.author()) {
        fact(
            "Key history",
            format!(
                "<span class=\"keynote\">{}</span>",
                esc(&capitalised(&note))
            ),
        );
    }
    if unverified {
        fact(
            "Trust",
            "Unverified author: this node has no history with this key, and neither its allow list nor a trusted federation's roster names it. The signature proves only that the key's holder wrote this.".into(),
        );
    }
    fact(
        "Author's key",
        format!(
            "<span class=\"mono\">{}</span>",
            item.original.author().to_hex()
        ),
    );
    if let Some(a) = alert_of(current) {
        fact("Category", category_label(a.category).into());
        fact("Severity", capitalised(a.severity.as_str()));
        fact("Urgency", capitalised(a.urgency.as_str()));
        fact("Certainty", capitalised(a.certainty.as_str()));
        fact("Status", capitalised(a.status.as_str()));
    }
    if let Some(call) = call_of(current) {
        if !call.actions.is_empty() {
            fact(
                "Asked",
                call.actions
                    .iter()
                    .map(|a| action_label(*a))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
        if !call.target.is_empty() {
            fact(
                "Addressed to",
                format!("<span dir=\"auto\">{}</span>", esc(&call.target)),
            );
        }
        if let Some(d) = call.deadline {
            fact("Deadline", time(d));
        }
        if call.window_starts_at.is_some() || call.window_ends_at.is_some() {
            fact(
                "Action window",
                format!(
                    "{} – {}",
                    call.window_starts_at.map_or("…".into(), time),
                    call.window_ends_at.map_or("…".into(), time)
                ),
            );
        }
        if !call.ilo_conventions.is_empty() {
            fact("ILO conventions", conventions_html(&call.ilo_conventions));
        }
        if let Some(b) = call.supervisory_body {
            fact("Supervisory body", body_label(b).into());
        }
    }
    if !body.countries.is_empty() {
        fact("Countries", esc(&body.countries.join(", ")));
    }
    if !body.topics.is_empty() {
        fact("Topics", esc(&body.topics.join(", ")));
    }
    fact("Published", time(item.original.body().created_at));
    if current.id() != item.id() {
        fact("Updated", time(body.created_at));
    }
    if let Some(e) = body.effective_at {
        fact("Embargoed until", time(e));
    }
    if let Some(x) = body.expires_at {
        fact("Expires", time(x));
    }
    fact("Endorsements", item.endorsers.len().to_string());
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
        "<h2>In {} language{}</h2>",
        order.len(),
        if order.len() == 1 { "" } else { "s" }
    );
    for t in order {
        let lang = Esc(&t.info.language);
        let _ = write!(
            m,
            "<section class=\"text\" lang=\"{lang}\" aria-label=\"{}\"><p class=\"lang-note\" lang=\"en\">{}{}</p>",
            Esc(&language_name(&t.info.language)),
            Esc(&language_name(&t.info.language)),
            match t.translator {
                Some(tr) => format!(
                    " · translated by {} (<span class=\"mono\">{}</span>)",
                    esc(&snap.names.name(tr.author())),
                    tr.author().short()
                ),
                None => String::new(),
            }
        );
        let _ = write!(
            m,
            "<h3 dir=\"auto\">{}</h3><p class=\"desc\" dir=\"auto\">{}</p>",
            Esc(&t.info.headline),
            Esc(&t.info.description)
        );
        if !t.info.instruction.is_empty() {
            let _ = write!(
                m,
                "<p class=\"desc\" dir=\"auto\"><strong lang=\"en\">What to do:</strong> {}</p>",
                Esc(&t.info.instruction)
            );
        }
        if !t.info.link.is_empty() {
            let _ = write!(
                m,
                "<p><a href=\"{}\" rel=\"nofollow noopener noreferrer\" lang=\"en\">More information</a> <span class=\"mono\">{}</span></p>",
                Esc(&t.info.link),
                Esc(&t.info.link)
            );
        }
        m.push_str("</section>\n");
    }

    m.push_str(&tallies::detail_html(
        snap,
        call_of(current).map_or(&[], |c| c.goals.as_slice()),
        &item.tally,
    ));

    // History.
    m.push_str("<h2>History</h2>\n<ol>");
    let versions: Vec<&Message> = item.versions(now).collect();
    for (i, v) in versions.iter().enumerate() {
        let _ = write!(
            m,
            "<li>{} {} by {}{} — <a href=\"/cap/{id}.xml\">CAP</a> <span class=\"mono\">{id}</span></li>",
            if i == 0 { "Published" } else { "Updated" },
            time(v.body().created_at),
            esc(&snap.names.name(v.author())),
            if v.id() == current.id() {
                " (current)"
            } else {
                ""
            },
            id = v.id()
        );
    }
    m.push_str("</ol>\n");

    // Endorsers.
    let _ = writeln!(m, "<h2>Endorsements ({})</h2>", item.endorsers.len());
    if item.endorsers.is_empty() {
        m.push_str("<p>No endorsements yet.</p>\n");
    } else {
        m.push_str("<ul>");
        for e in &item.endorsers {
            let _ = write!(
                m,
                "<li><strong dir=\"auto\">{}</strong> <span class=\"mono\">{}</span>, {}",
                esc(&snap.names.name(&e.author)),
                e.author.short(),
                time(e.created_at)
            );
            if !e.statement.is_empty() {
                let _ = write!(m, ": <q dir=\"auto\">{}</q>", Esc(&e.statement));
            }
            m.push_str("</li>");
        }
        m.push_str("</ul>\n");
    }

    // Signatures: checked again now, not only remembered from arrival.
    m.push_str("<h2>Signatures</h2>\n<p>Each version is signed with Ed25519 by its author over <span class=\"mono\">\"tocsin/v1/message\" 0x00 body</span>; its id is the SHA-256 of the signed body. This node verified them strictly on arrival and again for this page.</p>\n<ul>");
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
            "<li>{} <span class=\"mono\">{}</span>: {} — key <span class=\"mono\">{}</span></li>",
            match v.kind() {
                Kind::Translation => "Translation",
                Kind::Update => "Update",
                _ => "Original",
            },
            v.id().short(),
            if ok {
                "<span class=\"ok\">valid signature</span>"
            } else {
                "<span class=\"bad\">signature does NOT verify</span>"
            },
            v.author().to_hex()
        );
    }
    m.push_str("</ul>\n");
    let _ = writeln!(
        m,
        "<p><a href=\"/cap/{}.xml\">This version as a CAP 1.2 document</a> · <a href=\"{}\">All current alerts and calls</a></p>",
        current.id(),
        Esc(&sel.href("/"))
    );
    m.push_str("</article>\n</main>\n");
    let _ = write!(
        m,
        "<footer><p>This node: <span class=\"mono\">{}</span></p></footer>",
        gw.node().node_key().to_hex()
    );
    layout(&format!("{} — Tocsin", esc(&title)), "", &m, false)
}

/// The page of a withdrawn message.
pub(super) fn withdrawn(id: &Id, reason: &str) -> String {
    let mut m = format!(
        "<main id=\"main\"><h1>Withdrawn</h1><p>The author withdrew this message. Its content is no longer served by this node.</p><p>Id: <span class=\"mono\">{id}</span></p>"
    );
    if !reason.is_empty() {
        let _ = write!(
            m,
            "<p>The author's reason: <q dir=\"auto\">{}</q></p>",
            Esc(reason)
        );
    }
    m.push_str("<p><a href=\"/\">All current alerts and calls</a></p></main>");
    layout("Withdrawn — Tocsin", "", &m, false)
}

/// The page of a message this node withholds because its author's key ended before it was
/// made: who signed it and why it is withheld (the content is not served).
pub(super) fn withheld(
    snap: &Snapshot,
    id: &Id,
    author: &crate::message::AuthorKey,
    why: &str,
) -> String {
    let note = snap
        .names
        .end(author)
        .map(|e| format!(" since {}", esc(&day(e.from))))
        .unwrap_or_default();
    let m = format!(
        "<main id=\"main\"><h1>Withheld</h1><p>This message was signed with the key of <strong dir=\"auto\">{}</strong> (<span class=\"mono\">{}</span>), which is no longer in its hands{note}. This node withholds it: {}.</p><p>Its content is not served.</p><p>Id: <span class=\"mono\">{id}</span></p><p><a href=\"/\">All current alerts and calls</a></p></main>",
        esc(&snap.names.name(author)),
        author.short(),
        esc(why)
    );
    layout("Withheld — Tocsin", "", &m, false)
}

/// A short page for errors.
pub(super) fn error_page(title: &str, detail: &str) -> String {
    layout(
        &format!("{} — Tocsin", esc(title)),
        "",
        &format!(
            "<main id=\"main\"><h1>{}</h1><p>{}</p><p><a href=\"/\">All current alerts and calls</a></p></main>",
            Esc(title),
            Esc(detail)
        ),
        false,
    )
}
