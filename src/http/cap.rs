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
use super::page::alert_of;
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
    let call = version.body().call();
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

/// One version a cancel withdraws: its id, author and created_at (CAP's `sent`).
pub(super) type Withdrawn = (Id, AuthorKey, Timestamp);

/// The updates a cancel withdraws, oldest first, each once: those the store names (`listed`:
/// the versions its cancel withdrew that readers had seen, kept by the store, and any update it
/// still lists) and those `shown`, the item as this gateway showed it before the cancel, let
/// readers see at `now`. The store's list holds them however they arrived (with the cancel in
/// one batch, before a restart); the item is a second source. Without them a CAP aggregator
/// holding an update as current would be told of the original alone and keep showing it.
pub(super) fn withdrawn_updates(
    listed: Vec<Withdrawn>,
    shown: Option<&Item>,
    now: Timestamp,
) -> Vec<Withdrawn> {
    let mut all = listed;
    if let Some(item) = shown {
        // An update still under embargo was never in a CAP document: an aggregator cannot
        // hold it, and naming it would show readers its id before its time.
        all.extend(
            item.updates
                .iter()
                .filter(|u| !u.body().embargoed_at(now))
                .map(|u| (u.id(), *u.author(), u.body().created_at)),
        );
    }
    all.sort_by_key(|(id, _, sent)| (*sent, *id));
    all.dedup_by_key(|(id, _, _)| *id);
    all
}

/// The document of a cancel: who withdrew what, and why; the content is gone. `references`
/// names the original and every update of it, oldest first: each is a version a CAP aggregator
/// may hold as current.
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
    use crate::message::{
        Alert, Body, Cancel, Certainty, Info, Message, SecretKey, Severity, Update, UpdateContent,
        Urgency,
    };
    use std::time::Duration;

    const HOUR: Duration = Duration::from_secs(3600);

    /// 2026-03-02T09:00:00Z.
    fn start() -> Timestamp {
        Timestamp(1_772_442_000_000)
    }

    fn alert(headline: &str) -> Alert {
        Alert {
            status: Status::Actual,
            category: Category::Arrest,
            urgency: Urgency::Immediate,
            severity: Severity::Severe,
            certainty: Certainty::Observed,
            info: vec![Info {
                language: "en".into(),
                headline: headline.into(),
                description: "Four leaders of the Eastland Dockworkers' Union are held.".into(),
                ..Info::default()
            }],
        }
    }

    fn signed(
        key: &SecretKey,
        content: Content,
        at: Timestamp,
        effective: Option<Timestamp>,
    ) -> Message {
        let body = Body {
            author: key.public(),
            created_at: at,
            expires_at: Some(at.plus(HOUR * 24 * 30)),
            topics: vec![],
            countries: vec!["AZ".into()],
            effective_at: effective,
            content,
        };
        Message::sign(body, key).unwrap()
    }

    fn update(
        key: &SecretKey,
        of: Id,
        headline: &str,
        at: Timestamp,
        effective: Option<Timestamp>,
    ) -> Message {
        let content = Content::Update(Update {
            supersedes: of,
            content: UpdateContent::Alert(alert(headline)),
        });
        signed(key, content, at, effective)
    }

    fn references(doc: &str) -> Vec<String> {
        let start = doc.find("<references>").expect("no references") + "<references>".len();
        let end = doc.find("</references>").expect("no end of references");
        doc[start..end].split(' ').map(str::to_string).collect()
    }

    #[test]
    fn a_cancel_references_the_original_and_every_update_oldest_first() {
        let key = SecretKey::from_seed(&[9; 32]);
        let original = signed(&key, Content::Alert(alert("Four held")), start(), None);
        let first = update(
            &key,
            original.id(),
            "Two released",
            start().plus(HOUR),
            None,
        );
        let second = update(
            &key,
            original.id(),
            "All released",
            start().plus(HOUR * 2),
            None,
        );
        // Still under embargo when the cancel comes: never in a CAP document.
        let held = update(
            &key,
            original.id(),
            "Trial date set",
            start().plus(HOUR * 3),
            Some(start().plus(HOUR * 48)),
        );
        let item = Item {
            seq: 1,
            original: original.clone(),
            // Out of order on purpose: the references are sorted by time sent.
            updates: vec![second.clone(), first.clone(), held.clone()],
            translations: vec![],
            endorsers: vec![],
            tally: Tally::default(),
        };
        let now = start().plus(HOUR * 4);
        let cancel = signed(
            &key,
            Content::Cancel(Cancel {
                target: original.id(),
                reason: "Names were published by mistake.".into(),
            }),
            now,
            None,
        );
        // What the store lists once the cancel is in: no updates (their references went with
        // their content). One it still listed is kept, once.
        let listed = vec![(second.id(), key.public(), second.body().created_at)];
        let updates = withdrawn_updates(listed, Some(&item), now);
        let note = CancelNote {
            cancel,
            target: original.id(),
            target_author: key.public(),
            target_sent: original.body().created_at,
            updates,
            shown_as: None,
            events: Default::default(),
        };
        let doc = cancel_document(&note);
        assert!(doc.contains("<msgType>Cancel</msgType>"), "{doc}");
        let triple = |m: &Message| reference(m.author(), &m.id(), m.body().created_at);
        assert_eq!(
            references(&doc),
            vec![triple(&original), triple(&first), triple(&second)],
            "{doc}"
        );
        assert!(!doc.contains(&held.id().to_hex()), "{doc}");
        assert_eq!(
            triple(&first),
            format!(
                "tocsin:{},{},2026-03-02T10:00:00-00:00",
                key.public().to_hex(),
                first.id()
            )
        );
        // Without the item (a gateway that never showed it), what the store lists is all.
        assert!(withdrawn_updates(vec![], None, now).is_empty());
    }

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
