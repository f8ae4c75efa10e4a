//! OASIS CAP 1.2 documents: each version of an alert or call (`msgType` Alert or Update, with
//! `references` to the versions before it) and each cancel (`Cancel`, no content).
//!
//! The mapping: `identifier` is the message id (hex), `sender` is `tocsin:` and the author's
//! key (hex), `sent` is created_at, one `info` per language (the author's own, then
//! translations into further languages, marked with their translator), `area` lists the
//! countries as ISO 3166-1 geocodes. What CAP has no element for (the call's actions, target,
//! deadline, ILO conventions, what the organisations reported and the goals…) goes into
//! `parameter`s named `tocsin:…`.

use std::fmt::Write as _;

use crate::message::tally::Tally;
use crate::message::{AuthorKey, Category, Content, Goal, Id, Measure, Status, Timestamp};

use super::Gateway;
use super::escape::Esc;
use super::page::{alert_of, call_of};
use super::snapshot::{CancelNote, Item, Snapshot};

/// CAP's time format: no fractions, and UTC written `-00:00` ("Z" is not allowed).
fn cap_time(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    match s.strip_suffix('Z') {
        Some(head) => format!("{head}-00:00"),
        None => s,
    }
}

fn sender(key: &AuthorKey) -> String {
    format!("tocsin:{}", key.to_hex())
}

/// One `references` triple.
fn reference(author: &AuthorKey, id: &Id, sent: Timestamp) -> String {
    format!("{},{},{}", sender(author), id, cap_time(sent))
}

fn cap_status(s: Status) -> &'static str {
    match s {
        Status::Actual => "Actual",
        Status::Exercise => "Exercise",
        Status::Test => "Test",
    }
}

fn cap_category(c: Category) -> &'static str {
    match c {
        Category::Arrest | Category::Violence => "Security",
        Category::Safety => "Safety",
        _ => "Other",
    }
}

fn event(c: Category) -> &'static str {
    match c {
        Category::Arrest => "Arrest of trade unionists",
        Category::Dismissal => "Dismissal for union activity",
        Category::Strike => "Strike",
        Category::Lockout => "Lockout",
        Category::Violence => "Violence against workers",
        Category::Safety => "Occupational safety and health",
        Category::Legislation => "Legislation affecting workers' rights",
        Category::UnionBusting => "Union busting",
        Category::Other => "Workers' rights",
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn pair(out: &mut String, element: &str, name: &str, value: &str) {
    let _ = write!(
        out,
        "<{element}><valueName>{}</valueName><value>{}</value></{element}>",
        Esc(name),
        Esc(value)
    );
}

fn head(
    out: &mut String,
    id: &Id,
    from: &AuthorKey,
    sent: Timestamp,
    status: &str,
    msg_type: &str,
) {
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">\n\
         <identifier>{id}</identifier>\n<sender>{}</sender>\n<sent>{}</sent>\n<status>{status}</status>\n\
         <msgType>{msg_type}</msgType>\n<scope>Public</scope>\n",
        sender(from),
        cap_time(sent),
    );
}

/// The document of one version (`id`: the original's or an update's) of a current item;
/// `None` if readers may not see that version now.
pub(super) fn document(
    gw: &Gateway,
    snap: &Snapshot,
    item: &Item,
    id: &Id,
    now: Timestamp,
) -> Option<String> {
    let version = item.version(id, now)?;
    let alert = alert_of(version)?;
    let body = version.body();
    let is_update = version.id() != item.id();
    let mut out = String::new();
    head(
        &mut out,
        id,
        version.author(),
        body.created_at,
        cap_status(alert.status),
        if is_update { "Update" } else { "Alert" },
    );
    if is_update {
        // The original and every earlier version, oldest first.
        let earlier: Vec<String> = item
            .versions(now)
            .take_while(|v| v.id() != *id)
            .map(|v| reference(v.author(), &v.id(), v.body().created_at))
            .collect();
        let _ = writeln!(out, "<references>{}</references>", Esc(&earlier.join(" ")));
    }
    let call = call_of(version);
    let author_name = snap.names.name(version.author());
    for text in item.texts_of(version, now) {
        let info = text.info;
        out.push_str("<info>\n");
        let _ = write!(
            out,
            "<language>{}</language><category>{}</category><event>{}</event>",
            Esc(&info.language),
            cap_category(alert.category),
            event(alert.category)
        );
        let _ = write!(
            out,
            "<urgency>{}</urgency><severity>{}</severity><certainty>{}</certainty>",
            capitalised(alert.urgency.as_str()),
            capitalised(alert.severity.as_str()),
            capitalised(alert.certainty.as_str())
        );
        pair(&mut out, "eventCode", "tocsin:kind", item.kind().as_str());
        pair(
            &mut out,
            "eventCode",
            "tocsin:category",
            alert.category.as_str(),
        );
        out.push('\n');
        if let Some(e) = body.effective_at {
            let _ = write!(out, "<effective>{}</effective>", cap_time(e));
        }
        if let Some(s) = call.and_then(|c| c.window_starts_at) {
            let _ = write!(out, "<onset>{}</onset>", cap_time(s));
        }
        if let Some(x) = body.expires_at {
            let _ = write!(out, "<expires>{}</expires>", cap_time(x));
        }
        let sender_name = match text.translator {
            Some(t) => format!(
                "{author_name} (translated by {})",
                snap.names.name(t.author())
            ),
            None => author_name.clone(),
        };
        let _ = write!(
            out,
            "\n<senderName>{}</senderName>\n<headline>{}</headline>\n<description>{}</description>\n",
            Esc(&sender_name),
            Esc(&info.headline),
            Esc(&info.description)
        );
        if !info.instruction.is_empty() {
            let _ = writeln!(out, "<instruction>{}</instruction>", Esc(&info.instruction));
        }
        let web = if info.link.is_empty() {
            format!("{}/m/{}", gw.base(), item.id())
        } else {
            info.link.clone()
        };
        let _ = writeln!(out, "<web>{}</web>", Esc(&web));
        if let Some(c) = call {
            if !c.actions.is_empty() {
                let actions: Vec<&str> = c.actions.iter().map(|a| a.as_str()).collect();
                pair(&mut out, "parameter", "tocsin:actions", &actions.join(" "));
            }
            if !c.target.is_empty() {
                pair(&mut out, "parameter", "tocsin:target", &c.target);
            }
            if let Some(d) = c.deadline {
                pair(&mut out, "parameter", "tocsin:deadline", &cap_time(d));
            }
            if let Some(e) = c.window_ends_at {
                pair(&mut out, "parameter", "tocsin:window-ends", &cap_time(e));
            }
            if !c.ilo_conventions.is_empty() {
                pair(
                    &mut out,
                    "parameter",
                    "tocsin:ilo-conventions",
                    &c.ilo_conventions.join(" "),
                );
                // The names for people, beside the codes for machines (kept as on the wire).
                for code in &c.ilo_conventions {
                    pair(
                        &mut out,
                        "parameter",
                        "tocsin:ilo-convention-named",
                        &crate::ilo::describe(code),
                    );
                }
            }
            if let Some(b) = c.supervisory_body {
                pair(&mut out, "parameter", "tocsin:supervisory-body", b.as_str());
            }
        }
        if !body.topics.is_empty() {
            pair(
                &mut out,
                "parameter",
                "tocsin:topics",
                &body.topics.join(" "),
            );
        }
        pair(
            &mut out,
            "parameter",
            "tocsin:endorsements",
            &item.endorsers.len().to_string(),
        );
        tally_parameters(
            &mut out,
            call.map_or(&[], |c| c.goals.as_slice()),
            &item.tally,
        );
        if let Some(t) = text.translator {
            pair(
                &mut out,
                "parameter",
                "tocsin:translated-by",
                &t.author().to_hex(),
            );
            pair(
                &mut out,
                "parameter",
                "tocsin:translation",
                &t.id().to_hex(),
            );
        }
        out.push('\n');
        if !body.countries.is_empty() {
            let _ = write!(
                out,
                "<area><areaDesc>{}</areaDesc>",
                Esc(&body.countries.join(", "))
            );
            for c in &body.countries {
                pair(&mut out, "geocode", "ISO 3166-1 alpha-2", c);
            }
            out.push_str("</area>\n");
        }
        out.push_str("</info>\n");
    }
    out.push_str("</alert>\n");
    Some(out)
}

/// What the organisations reported, as parameters a CAP consumer can read without parsing
/// text: `tocsin:reporting-organisations`, one `tocsin:reported-<measure>` per total (with
/// the currency for donations: `tocsin:reported-donations-eur`), and per goal
/// `tocsin:goal-<measure>` (the target) with `tocsin:goal-<measure>-reached`.
fn tally_parameters(out: &mut String, goals: &[Goal], tally: &Tally) {
    let name = |prefix: &str, measure: Measure, currency: &str| {
        let mut n = format!("tocsin:{prefix}-{}", measure.as_str());
        if !currency.is_empty() {
            n.push('-');
            n.push_str(&currency.to_ascii_lowercase());
        }
        n
    };
    if !tally.is_empty() {
        pair(
            out,
            "parameter",
            "tocsin:reporting-organisations",
            &tally.reporters.to_string(),
        );
    }
    for t in &tally.totals {
        pair(
            out,
            "parameter",
            &name("reported", t.measure, &t.currency),
            &t.value.to_string(),
        );
    }
    for p in tally.progress(goals) {
        let goal = name("goal", p.goal.measure, &p.goal.currency);
        pair(out, "parameter", &goal, &p.goal.target.to_string());
        pair(
            out,
            "parameter",
            &format!("{goal}-reached"),
            &p.reached.to_string(),
        );
    }
}

/// The document of a cancel: who withdrew what, and why; the content is gone.
pub(super) fn cancel_document(note: &CancelNote) -> String {
    let c = &note.cancel;
    let mut out = String::new();
    head(
        &mut out,
        &c.id(),
        c.author(),
        c.body().created_at,
        "Actual",
        "Cancel",
    );
    if let Content::Cancel(cancel) = &c.body().content
        && !cancel.reason.is_empty()
    {
        let _ = writeln!(out, "<note>{}</note>", Esc(&cancel.reason));
    }
    let mut refs = vec![reference(
        &note.target_author,
        &note.target,
        note.target_sent,
    )];
    refs.extend(
        note.updates
            .iter()
            .map(|(id, author, sent)| reference(author, id, *sent)),
    );
    let _ = writeln!(out, "<references>{}</references>", Esc(&refs.join(" ")));
    out.push_str("</alert>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_times_have_no_z() {
        assert_eq!(
            cap_time(Timestamp::parse_rfc3339("2026-12-01T09:00:00Z").unwrap()),
            "2026-12-01T09:00:00-00:00"
        );
        assert_eq!(
            cap_time(Timestamp(1_800_000_000_123)),
            "2027-01-15T08:00:00-00:00"
        );
    }
}
