//! Atom 1.0 (RFC 4287): `/feed.atom`, one entry per current alert or call, and `/cap.atom`,
//! the index of CAP documents that CAP aggregators poll.
//!
//! Entry ids are stable: `urn:tocsin:message:<original id>` for a message (it keeps its id
//! through updates; `updated` is its latest version's time), `urn:tocsin:cap:<id>` for a CAP
//! document (each version and each cancel is a CAP message of its own).
//!
//! A feed is bounded in bytes (`http.max_feed_kib`): entries go in newest first while they
//! fit, and one that would take the feed past the bound is left out (and counted), so neither
//! many messages nor a few huge ones make a feed that costs a reader megabytes. An entry
//! carries a message's text once (`content`, no `summary` repeating it), and element text is
//! escaped without touching quotes.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use crate::message::Timestamp;

use super::Gateway;
use super::escape::{Esc, EscText};
use super::page::{alert_of, category_label, kind_label};
use super::query::{Selection, pick_language};
use super::snapshot::{CancelNote, Item, Snapshot, Text};
use super::tallies;

fn header(
    out: &mut String,
    gw: &Gateway,
    title: &str,
    self_url: &str,
    html_url: &str,
    sel: &Selection,
    updated: Timestamp,
) {
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"en\">\n\
         <id>{self}</id>\n<title type=\"text\">{title}</title>\n",
        self = Esc(self_url),
        title = Esc(title),
    );
    if sel.is_filtered() {
        let mut parts = Vec::new();
        if !sel.kinds.is_empty() {
            parts.push(format!(
                "kind {}",
                sel.kinds
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
        }
        if !sel.countries.is_empty() {
            parts.push(format!("country {}", sel.countries.join(" or ")));
        }
        if !sel.topics.is_empty() {
            parts.push(format!("topic {}", sel.topics.join(" or ")));
        }
        if !sel.languages.is_empty() {
            parts.push(format!("available in {}", sel.languages.join(" or ")));
        }
        if let Some(a) = sel.authors {
            parts.push(format!("{} authors", a.as_str()));
        }
        let _ = writeln!(
            out,
            "<subtitle type=\"text\">Filtered: {}</subtitle>",
            Esc(&parts.join("; "))
        );
    }
    let _ = write!(
        out,
        "<updated>{}</updated>\n<link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>\n\
         <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>\n\
         <generator version=\"{}\">Tocsin</generator>\n\
         <author><name>Tocsin node {}</name></author>\n",
        updated.to_rfc3339(),
        Esc(self_url),
        Esc(html_url),
        env!("CARGO_PKG_VERSION"),
        gw.node().node_key().short(),
    );
}

/// The end of every feed.
const TAIL: &str = "</feed>\n";

/// Adds the rendered `entries` to `out` while the whole feed stays within the gateway's byte
/// bound, leaving out (and counting) each that would pass it, then closes the feed.
fn finish(gw: &Gateway, mut out: String, entries: impl Iterator<Item = String>) -> String {
    let cap = gw.max_feed_bytes();
    let mut left_out = 0;
    for e in entries {
        if out.len() + e.len() + TAIL.len() <= cap {
            out.push_str(&e);
        } else {
            left_out += 1;
        }
    }
    if left_out > 0 {
        gw.stats()
            .feed_entries_left_out
            .fetch_add(left_out, Ordering::Relaxed);
    }
    out.push_str(TAIL);
    out
}

fn chosen<'a>(texts: &'a [Text<'a>], prefs: &[String]) -> Option<&'a Text<'a>> {
    let tags: Vec<&str> = texts.iter().map(|t| t.info.language.as_str()).collect();
    pick_language(&tags, prefs).and_then(|i| texts.get(i))
}

/// `/feed.atom`.
pub(super) fn feed(
    gw: &Gateway,
    snap: &Snapshot,
    sel: &Selection,
    prefs: &[String],
    now: Timestamp,
) -> String {
    let items = snap.selected(sel, now, gw.max_items()).items;
    let base = gw.base();
    let updated = items
        .iter()
        .map(|i| i.updated(now))
        .max()
        .unwrap_or_default();
    let mut out = String::new();
    header(
        &mut out,
        gw,
        "Tocsin: current alerts and action calls",
        &format!("{base}{}", sel.href("/feed.atom")),
        &format!("{base}{}", sel.href("/")),
        sel,
        updated,
    );
    let entries = items.iter().map(|item| {
        let mut e = String::new();
        entry(&mut e, gw, snap, item, prefs, now);
        e
    });
    finish(gw, out, entries)
}

fn entry(
    out: &mut String,
    gw: &Gateway,
    snap: &Snapshot,
    item: &Item,
    prefs: &[String],
    now: Timestamp,
) {
    let base = gw.base();
    let current = item.current(now);
    let body = current.body();
    let texts = item.texts(now);
    let text = chosen(&texts, prefs);
    let _ = write!(
        out,
        "<entry>\n<id>urn:tocsin:message:{id}</id>\n",
        id = item.id()
    );
    match text {
        Some(t) => {
            let _ = writeln!(
                out,
                "<title type=\"text\" xml:lang=\"{}\">{}</title>",
                Esc(&t.info.language),
                EscText(&t.info.headline)
            );
        }
        None => {
            let _ = writeln!(
                out,
                "<title type=\"text\">{}</title>",
                kind_label(item.kind())
            );
        }
    }
    let _ = write!(
        out,
        "<updated>{}</updated>\n<published>{}</published>\n<author><name>{}</name><uri>urn:tocsin:author:{}</uri></author>\n\
         <link rel=\"alternate\" type=\"text/html\" href=\"{base}/m/{id}\"/>\n\
         <link rel=\"related\" type=\"application/cap+xml\" href=\"{base}/cap/{cur}.xml\"/>\n",
        body.created_at.to_rfc3339(),
        item.original.body().created_at.to_rfc3339(),
        EscText(&snap.names.name(item.original.author())),
        item.original.author().to_hex(),
        base = Esc(base),
        id = item.id(),
        cur = current.id(),
    );
    translators(out, base, snap, item, &texts);
    let _ = writeln!(
        out,
        "<category term=\"{}\" scheme=\"urn:tocsin:kind\" label=\"{}\"/>",
        item.kind(),
        kind_label(item.kind())
    );
    if !snap.trusts(item.original.author()) {
        // Marked, so a reader's client can tell (and hide) what no trusted author signed.
        out.push_str(
            "<category term=\"unverified\" scheme=\"urn:tocsin:author\" label=\"Unverified author\"/>\n",
        );
    }
    if let Some(a) = alert_of(current) {
        let _ = writeln!(
            out,
            "<category term=\"{}\" scheme=\"urn:tocsin:category\" label=\"{}\"/>\n<category term=\"{}\" scheme=\"urn:tocsin:severity\"/>",
            a.category,
            category_label(a.category),
            a.severity
        );
    }
    for c in &body.countries {
        let _ = writeln!(
            out,
            "<category term=\"{}\" scheme=\"urn:iso:std:iso:3166:-1\"/>",
            Esc(c)
        );
    }
    for t in &body.topics {
        let _ = writeln!(
            out,
            "<category term=\"{}\" scheme=\"urn:tocsin:topic\"/>",
            Esc(t)
        );
    }
    if let Some(t) = text {
        // The text once: `content` holds the description and more, so no `summary` repeats it.
        let mut content = t.info.description.clone();
        if !t.info.instruction.is_empty() {
            content.push_str("\n\n");
            content.push_str(&t.info.instruction);
        }
        if let Some(call) = current.body().call() {
            if let Some(d) = call.deadline {
                let _ = write!(content, "\n\nDeadline: {}", d.to_rfc3339());
            }
            if let (Some(s), Some(e)) = (call.window_starts_at, call.window_ends_at) {
                let _ = write!(
                    content,
                    "\nAction window: {} to {}",
                    s.to_rfc3339(),
                    e.to_rfc3339()
                );
            }
            if !call.ilo_conventions.is_empty() {
                let named = crate::ilo::describe_all(&call.ilo_conventions);
                let _ = write!(content, "\nILO conventions: {named}");
            }
        }
        reported(&mut content, item, current);
        let _ = writeln!(
            out,
            "<content type=\"text\" xml:lang=\"{}\">{}</content>",
            Esc(&t.info.language),
            EscText(&content)
        );
    }
    out.push_str("</entry>\n");
}

/// The translations by others of an entry's item: each translator once as a `contributor`
/// (RFC 4287: the entry's author stays the organisation that wrote it), and each language they
/// add as an alternate link to the page in that language, titled with who translated it.
fn translators(out: &mut String, base: &str, snap: &Snapshot, item: &Item, texts: &[Text<'_>]) {
    let mut named = Vec::new();
    for text in texts {
        let Some(t) = text.translator else {
            continue;
        };
        let name = snap.names.name(t.author());
        let lang = &text.info.language;
        let _ = writeln!(
            out,
            "<link rel=\"alternate\" type=\"text/html\" hreflang=\"{lang}\" href=\"{base}/m/{id}?lang={lang}\" title=\"{lang}, translated by {name}\"/>",
            lang = Esc(lang),
            base = Esc(base),
            id = item.id(),
            name = Esc(&name),
        );
        if !named.contains(t.author()) {
            named.push(*t.author());
            contributor(out, &name, t.author());
        }
    }
}

/// An Atom `contributor`: a translator, by name and key.
fn contributor(out: &mut String, name: &str, key: &crate::message::AuthorKey) {
    let _ = writeln!(
        out,
        "<contributor><name>{}</name><uri>urn:tocsin:author:{}</uri></contributor>",
        EscText(name),
        key.to_hex()
    );
}

/// Adds what the organisations reported to an entry's text: a line with the totals and one per
/// goal ("2,150 of 3,000 letters — 71%").
fn reported(content: &mut String, item: &Item, current: &crate::message::Message) {
    let goals = current
        .body()
        .call()
        .map_or(&[][..], |c| c.goals.as_slice());
    let progress = item.tally.progress(goals);
    if let Some(line) = tallies::summary(&item.tally) {
        let _ = write!(content, "\n\n{line}");
    } else if !progress.is_empty() {
        content.push_str("\n\nNo organisation has reported yet.");
    }
    for p in &progress {
        let _ = write!(content, "\nGoal: {}", crate::message::tally::words::goal(p));
    }
}

/// Whether a cancel belongs in a filtered CAP index or calendar: only when its original was
/// shown here and matched its kinds, countries and topics. Its languages are not known any
/// more (the content is gone), so a language filter lets it through: a cancel of something a
/// reader never held is dropped by their reader or calendar, while one held back would leave
/// a withdrawn call in people's calendars.
pub(super) fn cancel_matches(note: &CancelNote, sel: &Selection) -> bool {
    if !sel.is_filtered() {
        return true;
    }
    match &note.shown_as {
        Some((kind, countries, topics)) => {
            (sel.kinds.is_empty() || sel.kinds.contains(kind))
                && (sel.countries.is_empty() || countries.iter().any(|c| sel.countries.contains(c)))
                && (sel.topics.is_empty() || topics.iter().any(|t| sel.topics.contains(t)))
        }
        None => false,
    }
}

/// `/cap.atom`: the CAP document of each current alert or call (its latest version), and of
/// each recent cancel, newest first.
pub(super) fn cap_index(
    gw: &Gateway,
    snap: &Snapshot,
    sel: &Selection,
    prefs: &[String],
    now: Timestamp,
) -> String {
    let base = gw.base();
    let limit = gw.max_items();
    let items = snap.selected(sel, now, limit).items;
    enum E<'a> {
        Item(&'a Item),
        Cancel(&'a CancelNote),
    }
    let mut entries: Vec<(Timestamp, String, E<'_>)> = items
        .iter()
        .map(|i| {
            (
                i.updated(now),
                i.current(now).id().to_hex(),
                E::Item(i.as_ref()),
            )
        })
        .collect();
    // Cancels fill the room the items leave, newest first: fabricated cancels cannot push a
    // current item out of the index either.
    let mut cancels: Vec<_> = snap
        .cancels
        .values()
        .filter(|c| cancel_matches(c, sel))
        .map(|c| {
            (
                c.cancel.body().created_at,
                c.cancel.id().to_hex(),
                E::Cancel(c.as_ref()),
            )
        })
        .collect();
    cancels.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    cancels.truncate(limit.saturating_sub(entries.len()));
    entries.extend(cancels);
    entries.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    let updated = entries.iter().map(|e| e.0).max().unwrap_or_default();
    let mut out = String::new();
    header(
        &mut out,
        gw,
        "Tocsin: CAP 1.2 alerts",
        &format!("{base}{}", sel.href("/cap.atom")),
        &format!("{base}{}", sel.href("/")),
        sel,
        updated,
    );
    let entries = entries.into_iter().map(|(when, cap_id, e)| {
        let mut out = String::new();
        let mut translator = None;
        let (title, lang, author, summary, msg_type) = match e {
            E::Item(item) => {
                let texts = item.texts(now);
                let text = chosen(&texts, prefs);
                translator = text.and_then(|t| t.translator).map(|t| *t.author());
                let current = item.current(now);
                (
                    text.map_or_else(
                        || kind_label(item.kind()).to_string(),
                        |t| t.info.headline.clone(),
                    ),
                    text.map(|t| t.info.language.clone()),
                    snap.names.name(current.author()),
                    text.map(|t| t.info.description.clone()).unwrap_or_default(),
                    if current.id() == item.id() {
                        "Alert"
                    } else {
                        "Update"
                    },
                )
            }
            E::Cancel(note) => (
                format!("Withdrawn by its author: {}", note.target.short()),
                None,
                snap.names.name(note.cancel.author()),
                match &note.cancel.body().content {
                    crate::message::Content::Cancel(c) => c.reason.clone(),
                    _ => String::new(),
                },
                "Cancel",
            ),
        };
        let lang_attr = lang
            .map(|l| format!(" xml:lang=\"{}\"", Esc(&l)))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<entry>\n<id>urn:tocsin:cap:{cap_id}</id>\n<title type=\"text\"{lang_attr}>{}</title>\n\
             <updated>{}</updated>\n<author><name>{}</name></author>\n\
             <link rel=\"alternate\" type=\"application/cap+xml\" href=\"{}/cap/{cap_id}.xml\"/>\n\
             <category term=\"{msg_type}\" scheme=\"urn:oasis:names:tc:emergency:cap:1.2:msgType\"/>\n",
            EscText(&title),
            when.to_rfc3339(),
            EscText(&author),
            Esc(base),
        );
        if let Some(key) = translator {
            // The title and summary are a translator's words.
            contributor(&mut out, &snap.names.name(&key), &key);
        }
        if !summary.is_empty() {
            let _ = writeln!(
                out,
                "<summary type=\"text\"{lang_attr}>{}</summary>",
                EscText(&summary)
            );
        }
        out.push_str("</entry>\n");
        out
    });
    finish(gw, out, entries)
}
