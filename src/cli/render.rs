//! Rendering messages for people (text) and for scripts (JSON, one object per message).

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use crate::message::{
    ActionCall, Alert, Content, Info, Message, Timestamp, UpdateContent, language_matches,
};

fn time(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_rfc3339()))
}

fn info_json(info: &[Info]) -> Value {
    info.iter()
        .map(|i| {
            json!({
                "language": i.language, "headline": i.headline, "description": i.description,
                "instruction": i.instruction, "link": i.link,
            })
        })
        .collect()
}

fn alert_json(a: &Alert) -> Value {
    json!({
        "status": a.status.as_str(), "category": a.category.as_str(), "urgency": a.urgency.as_str(),
        "severity": a.severity.as_str(), "certainty": a.certainty.as_str(), "info": info_json(&a.info),
    })
}

fn call_json(c: &ActionCall) -> Value {
    let mut v = alert_json(&c.base);
    let extra = json!({
        "actions": c.actions.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        "target": c.target,
        "window_starts_at": time(c.window_starts_at),
        "window_ends_at": time(c.window_ends_at),
        "deadline": time(c.deadline),
        "ilo_conventions": c.ilo_conventions,
        "supervisory_body": c.supervisory_body.map(|s| s.as_str()),
    });
    if let (Value::Object(base), Value::Object(extra)) = (&mut v, extra) {
        base.extend(extra);
    }
    v
}

fn content_json(content: &Content) -> Value {
    match content {
        Content::Alert(a) => alert_json(a),
        Content::Call(c) => call_json(c),
        Content::Update(u) => json!({
            "supersedes": u.supersedes.to_hex(),
            "kind": u.content.kind().as_str(),
            "content": match &u.content {
                UpdateContent::Alert(a) => alert_json(a),
                UpdateContent::Call(c) => call_json(c),
            },
        }),
        Content::Cancel(c) => json!({ "target": c.target.to_hex(), "reason": c.reason }),
        Content::Endorsement(e) => json!({ "target": e.target.to_hex(), "statement": e.statement }),
        Content::Translation(t) => {
            json!({ "target": t.target.to_hex(), "info": info_json(&t.info) })
        }
        Content::Profile(p) => json!({
            "name": p.name, "country": p.country, "website": p.website, "description": p.description,
        }),
        Content::Roster(r) => json!({
            "members": r.members.iter().map(|m| json!({
                "key": m.key.to_hex(), "name": m.name, "country": m.country,
            })).collect::<Vec<_>>(),
        }),
        Content::Revocation(r) => json!({
            "revoked_from": r.revoked_from.to_rfc3339(),
            "successor": r.successor.map(|k| k.to_hex()),
            "reason": r.reason,
        }),
    }
}

/// One message as a JSON object: `seq` (when known), `id`, `author`, `kind`, the times, the
/// decoded `content`, and `body` and `signature` in base64 so any Ed25519 implementation can
/// check `signature` over `"tocsin/v1/message" || 0x00 || body`.
pub fn message_json(message: &Message, seq: Option<u64>) -> Value {
    let b = message.body();
    let mut v = json!({
        "id": message.id().to_hex(),
        "author": b.author.to_hex(),
        "kind": b.kind().as_str(),
        "created_at": b.created_at.to_rfc3339(),
        "expires_at": time(b.expires_at),
        "effective_at": time(b.effective_at),
        "topics": b.topics,
        "countries": b.countries,
        "content": content_json(&b.content),
        "body": B64.encode(message.signed().body()),
        "signature": B64.encode(message.signed().signature()),
    });
    if let (Some(seq), Value::Object(map)) = (seq, &mut v) {
        map.insert("seq".into(), json!(seq));
    }
    v
}

/// The info block to show for a reader's language preferences (RFC 4647 lookup order): the
/// first preference that matches, else English, else the author's first block.
pub(crate) fn pick_info<'a>(info: &'a [Info], langs: &[String]) -> Option<&'a Info> {
    langs
        .iter()
        .find_map(|l| info.iter().find(|i| language_matches(l, &i.language)))
        .or_else(|| info.iter().find(|i| language_matches("en", &i.language)))
        .or_else(|| info.first())
}

fn write_info(out: &mut String, info: &[Info], langs: &[String]) {
    let shown: Vec<&Info> = if langs.is_empty() {
        info.iter().collect()
    } else {
        pick_info(info, langs).into_iter().collect()
    };
    if shown.len() < info.len() {
        let others: Vec<_> = info
            .iter()
            .filter(|i| !shown.iter().any(|s| s.language == i.language))
            .map(|i| i.language.as_str())
            .collect();
        let _ = writeln!(out, "  (also in: {})", others.join(", "));
    }
    for i in shown {
        let _ = writeln!(out, "  [{}] {}", i.language, i.headline);
        for line in i.description.lines() {
            let _ = writeln!(out, "      {line}");
        }
        if !i.instruction.is_empty() {
            let _ = writeln!(out, "      What to do: {}", i.instruction);
        }
        if !i.link.is_empty() {
            let _ = writeln!(out, "      More: {}", i.link);
        }
    }
}

fn write_alert(out: &mut String, a: &Alert, langs: &[String]) {
    let _ = writeln!(
        out,
        "  {} · {} · urgency {} · severity {} · certainty {}",
        a.category, a.status, a.urgency, a.severity, a.certainty
    );
    write_info(out, &a.info, langs);
}

fn write_call(out: &mut String, c: &ActionCall, langs: &[String]) {
    write_alert(out, &c.base, langs);
    let actions: Vec<_> = c.actions.iter().map(|a| a.as_str()).collect();
    let _ = writeln!(out, "  Actions: {}", actions.join(", "));
    if !c.target.is_empty() {
        let _ = writeln!(out, "  Target: {}", c.target);
    }
    if let Some(d) = c.deadline {
        let _ = writeln!(out, "  Deadline: {d}");
    }
    if c.window_starts_at.is_some() || c.window_ends_at.is_some() {
        let show = |t: Option<Timestamp>| t.map_or("…".to_string(), |t| t.to_rfc3339());
        let _ = writeln!(
            out,
            "  Window: {} to {}",
            show(c.window_starts_at),
            show(c.window_ends_at)
        );
    }
    if !c.ilo_conventions.is_empty() {
        let _ = writeln!(out, "  ILO conventions: {}", c.ilo_conventions.join(", "));
    }
    if let Some(b) = c.supervisory_body {
        let _ = writeln!(out, "  Supervisory body: {}", b.as_str().to_uppercase());
    }
}

/// A message for people: a header line, then the content in every language.
pub fn message_text(message: &Message) -> String {
    message_text_lang(message, &[])
}

/// A message for people, showing the info block that best matches `langs` (all when empty).
pub fn message_text_lang(message: &Message, langs: &[String]) -> String {
    let b = message.body();
    let mut out = String::new();
    let _ = writeln!(out, "{} {} (signature verified)", b.kind(), message.id());
    let _ = writeln!(out, "  by {} at {}", b.author, b.created_at);
    if let Some(e) = b.effective_at {
        let _ = writeln!(out, "  embargoed until {e}");
    }
    if let Some(e) = b.expires_at {
        let _ = writeln!(out, "  expires {e}");
    }
    if !b.countries.is_empty() || !b.topics.is_empty() {
        let _ = writeln!(
            out,
            "  countries: {}  topics: {}",
            b.countries.join(" "),
            b.topics.join(" ")
        );
    }
    match &b.content {
        Content::Alert(a) => write_alert(&mut out, a, langs),
        Content::Call(c) => write_call(&mut out, c, langs),
        Content::Update(u) => {
            let _ = writeln!(out, "  supersedes {}", u.supersedes);
            match &u.content {
                UpdateContent::Alert(a) => write_alert(&mut out, a, langs),
                UpdateContent::Call(c) => write_call(&mut out, c, langs),
            }
        }
        Content::Cancel(c) => {
            let _ = writeln!(out, "  withdraws {}: {}", c.target, c.reason);
        }
        Content::Endorsement(e) => {
            let _ = writeln!(out, "  endorses {}: {}", e.target, e.statement);
        }
        Content::Translation(t) => {
            let _ = writeln!(out, "  translates {}", t.target);
            write_info(&mut out, &t.info, langs);
        }
        Content::Profile(p) => {
            let _ = writeln!(out, "  {} ({}) {}", p.name, p.country, p.website);
            if !p.description.is_empty() {
                let _ = writeln!(out, "  {}", p.description);
            }
        }
        Content::Roster(r) => {
            for m in &r.members {
                let _ = writeln!(out, "  member {} {} {}", m.key, m.name, m.country);
            }
        }
        Content::Revocation(r) => {
            let _ = writeln!(out, "  key revoked from {}: {}", r.revoked_from, r.reason);
            if let Some(s) = r.successor {
                let _ = writeln!(out, "  successor key: {s}");
            }
        }
    }
    out
}
