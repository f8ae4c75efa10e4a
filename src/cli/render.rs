//! Rendering messages for people (text) and for scripts (JSON, one object per message).

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};

use super::names::Names;
use super::term::{Clock, Style};
use crate::ilo;
use crate::message::tally::words::amount;
use crate::message::{
    ActionCall, ActionReport, Alert, AuthorKey, Body, Content, Count, Id, Info, Kind, Message,
    Severity, Status, Timestamp, UpdateContent, language_matches,
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
        "ilo_conventions_named": c.ilo_conventions.iter().map(|code| ilo::describe(code)).collect::<Vec<_>>(),
        "supervisory_body": c.supervisory_body.map(|s| s.as_str()),
        "goals": c.goals.iter().map(|g| {
            let mut v = json!({ "measure": g.measure.as_str(), "target": g.target });
            if !g.currency.is_empty() {
                v["currency"] = json!(g.currency);
            }
            v
        }).collect::<Vec<_>>(),
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
        Content::Commitment(c) => json!({ "recovery_digest": hex::encode(c.recovery_digest) }),
        Content::Rotation(r) => json!({
            "compromised": r.compromised.to_hex(),
            "compromised_since": r.compromised_since.to_rfc3339(),
            "successor": r.successor.to_hex(),
            "successor_recovery_digest": hex::encode(r.successor_recovery_digest),
            "reason": r.reason,
        }),
        Content::Report(r) => json!({
            "target": r.target.to_hex(),
            "counts": r.counts.iter().map(count_json).collect::<Vec<_>>(),
            "filings": r.filings.iter().map(|f| json!({
                "body": f.body.as_str(),
                "filed_at": f.filed_at.to_rfc3339(),
                "reference": f.reference,
            })).collect::<Vec<_>>(),
            "as_of": time(r.as_of),
            "statement": r.statement,
            "evidence": r.evidence,
        }),
        Content::Unknown(u) => json!({ "field": u.field, "bytes": u.value.len() }),
    }
}

/// One count of a report as JSON: measure, value, and currency for donations.
pub(crate) fn count_json(c: &Count) -> Value {
    let mut v = json!({ "measure": c.measure.as_str(), "value": c.value });
    if !c.currency.is_empty() {
        v["currency"] = json!(c.currency);
    }
    v
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

/// Who a key is, for scripts: `{"key", "name", "note"}`, the name as `Names::short_name`
/// gives it (the key's first hex digits when nothing names it) and what readers are told of the
/// key beside it (rotated, revoked, carries on for…), or null.
pub(crate) fn who_json(names: &Names, key: &AuthorKey) -> Value {
    json!({
        "key": key.to_hex(),
        "name": names.short_name(key),
        "note": names.key_note(key),
    })
}

/// Adds to a translation's JSON object who translated it (`translator`, as [`who_json`]) and
/// what (`target`, the original's id); other kinds are left as they are.
pub(crate) fn name_translator(v: &mut Value, m: &Message, names: &Names) {
    if let (Content::Translation(t), Value::Object(map)) = (&m.body().content, v) {
        map.insert("translator".into(), who_json(names, m.author()));
        map.insert("target".into(), json!(t.target.to_hex()));
    }
}

fn write_info(out: &mut String, info: &[Info]) {
    for i in info {
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

fn write_alert(out: &mut String, a: &Alert) {
    let _ = writeln!(
        out,
        "  {} · {} · urgency {} · severity {} · certainty {}",
        a.category, a.status, a.urgency, a.severity, a.certainty
    );
    write_info(out, &a.info);
}

fn write_call(out: &mut String, c: &ActionCall) {
    write_alert(out, &c.base);
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
        let _ = writeln!(
            out,
            "  ILO conventions: {}",
            ilo::describe_all(&c.ilo_conventions)
        );
    }
    if let Some(b) = c.supervisory_body {
        let _ = writeln!(out, "  Supervisory body: {}", b.as_str().to_uppercase());
    }
    if !c.goals.is_empty() {
        let goals: Vec<String> = c
            .goals
            .iter()
            .map(|g| match g.currency.as_str() {
                "" => format!("{} {}", g.target, g.measure.as_str()),
                cur => format!("{} {cur} in {}", g.target, g.measure.as_str()),
            })
            .collect();
        let _ = writeln!(out, "  Goals: {}", goals.join(", "));
    }
}

/// A message for people: a header line, then the content in every language.
pub fn message_text(message: &Message) -> String {
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
        Content::Alert(a) => write_alert(&mut out, a),
        Content::Call(c) => write_call(&mut out, c),
        Content::Update(u) => {
            let _ = writeln!(out, "  supersedes {}", u.supersedes);
            match &u.content {
                UpdateContent::Alert(a) => write_alert(&mut out, a),
                UpdateContent::Call(c) => write_call(&mut out, c),
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
            write_info(&mut out, &t.info);
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
        Content::Commitment(c) => {
            let _ = writeln!(
                out,
                "  commits to a recovery key (digest {})",
                hex::encode(c.recovery_digest)
            );
        }
        Content::Rotation(r) => {
            let _ = writeln!(
                out,
                "  key {} compromised from {}: {}",
                r.compromised, r.compromised_since, r.reason
            );
            let _ = writeln!(out, "  successor key: {}", r.successor);
        }
        Content::Report(r) => {
            let counts: Vec<String> = r
                .counts
                .iter()
                .map(|c| amount(c.measure, &c.currency, c.value))
                .collect();
            let _ = writeln!(out, "  reports on {}: {}", r.target, counts.join(", "));
            for f in &r.filings {
                let _ = writeln!(
                    out,
                    "  observation filed with {} at {} {}",
                    f.body, f.filed_at, f.reference
                );
            }
            if !r.statement.is_empty() {
                let _ = writeln!(out, "  {}", r.statement);
            }
        }
        Content::Unknown(u) => {
            let _ = writeln!(
                out,
                "  a kind this version does not know (field {}, {} bytes)",
                u.field,
                u.value.len()
            );
        }
    }
    out
}

/// The info block for a reader's language preferences, and whether it matched one of them.
/// RFC 4647 lookup: each preference in order, then the same with its last subtag dropped
/// ("pt-BR" finds "pt"), then English, then the author's first block.
pub(crate) fn pick_info<'a>(info: &'a [Info], langs: &[String]) -> Option<(&'a Info, bool)> {
    for pref in langs {
        let mut range = pref.trim();
        loop {
            if let Some(i) = info.iter().find(|i| language_matches(range, &i.language)) {
                return Some((i, true));
            }
            match range.rfind('-') {
                Some(cut) => range = &range[..cut],
                None => break,
            }
        }
    }
    info.iter()
        .find(|i| language_matches("en", &i.language))
        .or_else(|| info.first())
        .map(|i| (i, langs.is_empty()))
}

/// What a node told us about a message beside its own content.
#[derive(Debug, Default, Clone)]
pub(crate) struct Facts {
    /// Endorsing authors, when asked.
    pub endorsements: Option<usize>,
    /// Updates of it.
    pub updates: usize,
    /// The headline of the message this one refers to (update, cancel, endorsement,
    /// translation, report), when known.
    pub target_headline: Option<String>,
    /// The running tally of the reports on it (or, for a report, on its target), in words.
    pub tally: Option<String>,
}

/// How to show messages to a person: styled, in local time, with names, in a chosen language.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    /// Colours (or none).
    pub style: Style,
    /// Local time and now.
    pub clock: &'a Clock,
    /// Authors' names.
    pub names: &'a Names,
    /// Language preferences, best first: the best-matching text is shown. With none, a full
    /// reader shows every language.
    pub langs: &'a [String],
    /// Every detail (show, confirmation), or what a feed needs.
    pub full: bool,
}

/// The headline a reader would recognise a message by, in their language.
pub(crate) fn headline_of(m: &Message, langs: &[String]) -> Option<String> {
    pick_info(m.body().info(), langs).map(|(i, _)| i.headline.clone())
}

fn quote(s: &str) -> String {
    const MAX: usize = 60;
    if s.chars().count() > MAX {
        let cut: String = s.chars().take(MAX - 1).collect();
        format!("\u{201c}{cut}…\u{201d}")
    } else {
        format!("\u{201c}{s}\u{201d}")
    }
}

impl Reader<'_> {
    fn refers(&self, id: &Id, facts: &Facts) -> String {
        let mut s = self.style.bold(&id.short());
        if let Some(h) = &facts.target_headline {
            s.push(' ');
            s.push_str(&quote(h));
        }
        s
    }

    /// One message for people. `seq` is its place in the node's log, when it came from one.
    pub(crate) fn entry(&self, seq: Option<u64>, m: &Message, facts: &Facts) -> String {
        let st = self.style;
        let b = m.body();
        let mut out = String::new();
        let head = match seq {
            Some(s) => format!("#{s} "),
            None => String::new(),
        };
        let kind = st.label(&b.kind().as_str().to_uppercase());
        let mut info_line: Option<String> = None;
        match &b.content {
            Content::Alert(a) => {
                let _ = writeln!(out, "{head}{kind} {}", self.alert_tags(a));
                info_line = self.info(&mut out, &a.info);
            }
            Content::Call(c) => {
                let _ = writeln!(out, "{head}{kind} {}", self.alert_tags(&c.base));
                info_line = self.info(&mut out, &c.base.info);
                self.call(&mut out, c);
            }
            Content::Update(u) => {
                let (tags, info) = match &u.content {
                    UpdateContent::Alert(a) => (self.alert_tags(a), &a.info),
                    UpdateContent::Call(c) => (self.alert_tags(&c.base), &c.base.info),
                };
                let _ = writeln!(
                    out,
                    "{head}{kind} of {} · {tags}",
                    self.refers(&u.supersedes, facts),
                );
                info_line = self.info(&mut out, info);
                if let UpdateContent::Call(c) = &u.content {
                    self.call(&mut out, c);
                }
            }
            Content::Cancel(c) => {
                let kind = st.warn("CANCEL");
                let reason = if c.reason.is_empty() {
                    "no reason given".to_string()
                } else {
                    c.reason.clone()
                };
                let _ = writeln!(
                    out,
                    "{head}{kind} of {}: withdrawn by its author",
                    self.refers(&c.target, facts)
                );
                let _ = writeln!(out, "    Reason: {reason}");
            }
            Content::Endorsement(e) => {
                let kind = st.good("ENDORSEMENT");
                let _ = writeln!(out, "{head}{kind} of {}", self.refers(&e.target, facts));
                if !e.statement.is_empty() {
                    let _ = writeln!(out, "    {}", quote_long(&e.statement));
                }
            }
            Content::Translation(t) => {
                let _ = writeln!(out, "{head}{kind} of {}", self.refers(&t.target, facts));
                info_line = self.info(&mut out, &t.info);
            }
            Content::Profile(p) => {
                let mut line = st.bold(&p.name);
                if !p.country.is_empty() {
                    line.push_str(&format!(" ({})", p.country));
                }
                if !p.website.is_empty() {
                    line.push_str(&format!(" {}", p.website));
                }
                let _ = writeln!(out, "{head}{kind} {line}");
                if !p.description.is_empty() {
                    let _ = writeln!(out, "    {}", p.description);
                }
            }
            Content::Roster(r) => {
                let _ = writeln!(out, "{head}{kind} with {} member(s)", r.members.len());
                let limit = if self.full { usize::MAX } else { 8 };
                for mem in r.members.iter().take(limit) {
                    let country = if mem.country.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", mem.country)
                    };
                    let _ = writeln!(
                        out,
                        "    {}{country} {}",
                        mem.name,
                        st.dim(&mem.key.short())
                    );
                }
                if r.members.len() > limit {
                    let _ = writeln!(out, "    … and {} more", r.members.len() - limit);
                }
            }
            Content::Revocation(r) => {
                let kind = st.alarm("REVOCATION");
                let _ = writeln!(
                    out,
                    "{head}{kind} {}: key {} revoked from {}",
                    st.bold(&self.names.short_name(&b.author)),
                    b.author.short(),
                    self.clock.local(r.revoked_from)
                );
                if !r.reason.is_empty() {
                    let _ = writeln!(out, "    Reason: {}", r.reason);
                }
                if let Some(s) = r.successor {
                    let _ = writeln!(out, "    Successor key: {s}");
                }
            }
            Content::Commitment(_) => {
                let _ = writeln!(
                    out,
                    "{head}{kind} {}: key {} committed to a recovery key kept offline",
                    st.bold(&self.names.short_name(&b.author)),
                    b.author.short()
                );
            }
            Content::Rotation(r) => {
                // Named by the compromised key: whose name is at stake, whoever signs.
                let kind = st.alarm("ROTATION");
                let mut line = format!(
                    "{head}{kind} {}: key {} compromised from {}; carries on as {}",
                    st.bold(&self.names.short_name(&r.compromised)),
                    r.compromised.short(),
                    self.clock.local(r.compromised_since),
                    r.successor.short()
                );
                if !r.reason.is_empty() {
                    line.push_str(&format!(" — {}", r.reason));
                }
                let _ = writeln!(out, "{line}");
            }
            Content::Report(r) => self.report(&mut out, &head, b, r, facts),
            Content::Unknown(u) => {
                let _ = writeln!(
                    out,
                    "{head}{kind}: a kind this version of tocsin does not know (field {}); upgrade to see it",
                    u.field
                );
            }
        }
        if let Some(t) = &facts.tally {
            let label = if b.kind() == Kind::Report {
                "Tally now"
            } else {
                "Tally"
            };
            let _ = writeln!(out, "    {}: {}", st.bold(label), st.good(t));
        }
        if b.kind() == Kind::Profile {
            // The key this name is claimed for, in full: what others put on their rosters.
            let _ = writeln!(out, "    key {}", b.author);
        } else if let Content::Rotation(r) = &b.content {
            // Signed by the recovery key, which has no name of its own: whether it is the one
            // the key committed to is the node's to say.
            let _ = writeln!(
                out,
                "    signed by recovery key {} of {}",
                b.author.short(),
                self.names.describe(&r.compromised)
            );
            // Anyone may sign a "rotation" of any key; only one by the recovery key the key
            // committed to counts, and the node says which that is.
            let why = match self.names.rotation_in_force(&r.compromised) {
                Some(Some(id)) if id == m.id() => None,
                Some(Some(other)) => Some(format!(
                    "another rotation of key {} is in force here ({})",
                    r.compromised.short(),
                    other.short()
                )),
                Some(None) => Some(format!(
                    "this node holds no commitment of key {} to the recovery key that signed \
                     it, so it changes nothing and speaks for no one",
                    r.compromised.short()
                )),
                None => None,
            };
            if let Some(why) = why {
                let _ = writeln!(out, "    {} {why}", st.alarm("NOT IN FORCE:"));
            }
        } else {
            let _ = writeln!(out, "    by {}", self.names.describe(&b.author));
        }
        let mut meta = vec![self.clock.when(b.created_at)];
        if !b.countries.is_empty() {
            meta.push(b.countries.join(" "));
        }
        if !b.topics.is_empty() {
            meta.push(b.topics.join(" "));
        }
        if let Some(l) = info_line {
            meta.push(l);
        }
        if let Some(n) = facts.endorsements {
            let t = match n {
                0 => "no endorsements yet".to_string(),
                1 => "1 endorsement".to_string(),
                n => format!("{n} endorsements"),
            };
            meta.push(if n > 0 { st.good(&t) } else { t });
        }
        match facts.updates {
            0 => {}
            1 => meta.push("updated once".into()),
            n => meta.push(format!("updated {n} times")),
        }
        let _ = writeln!(out, "    {}", st.dim(&meta.join(" · ")));
        let now = self.clock.now();
        if let Some(e) = b.effective_at {
            let when = self.clock.when(e);
            if e > now {
                let _ = writeln!(out, "    {}", st.warn(&format!("embargoed until {when}")));
            } else if self.full {
                let _ = writeln!(out, "    {}", st.dim(&format!("embargo lifted {when}")));
            }
        }
        if self.full
            && let Some(e) = b.expires_at
        {
            let verb = if e > now { "expires" } else { "expired" };
            let _ = writeln!(
                out,
                "    {}",
                st.dim(&format!("{verb} {}", self.clock.when(e)))
            );
        }
        let _ = writeln!(out, "    {}", st.dim(&format!("id {}", m.id())));
        out
    }

    /// A report: who reports how much, for what, as of when.
    fn report(&self, out: &mut String, head: &str, b: &Body, r: &ActionReport, facts: &Facts) {
        let st = self.style;
        let kind = st.label("REPORT");
        let _ = writeln!(out, "{head}{kind} on {}", self.refers(&r.target, facts));
        let counts: Vec<String> = r
            .counts
            .iter()
            .map(|c| amount(c.measure, &c.currency, c.value))
            .collect();
        let who = self.names.short_name(&b.author);
        if !counts.is_empty() {
            let _ = writeln!(
                out,
                "    {who} has done, in all: {}",
                st.bold(&counts.join(", "))
            );
        }
        for f in &r.filings {
            let mut line = format!(
                "    Observation filed with the {} {}",
                f.body.as_str().to_uppercase(),
                self.clock.local(f.filed_at)
            );
            if !f.reference.is_empty() {
                line.push_str(&format!(" ({})", f.reference));
            }
            let _ = writeln!(out, "{line}");
        }
        if let Some(t) = r.as_of.filter(|t| *t != b.created_at) {
            let _ = writeln!(out, "    as of {}", self.clock.when(t));
        }
        if !r.statement.is_empty() {
            let _ = writeln!(out, "    {}", quote_long(&r.statement));
        }
        if !r.evidence.is_empty() {
            let _ = writeln!(out, "    Evidence: {}", r.evidence);
        }
    }

    fn alert_tags(&self, a: &Alert) -> String {
        let st = self.style;
        let severity = format!("severity {}", a.severity);
        let severity = match a.severity {
            Severity::Extreme | Severity::Severe => st.alarm(&severity),
            _ => severity,
        };
        let mut tags = format!(
            "{} · {severity} · urgency {} · certainty {}",
            st.bold(a.category.as_str()),
            a.urgency,
            a.certainty
        );
        match a.status {
            Status::Actual => {}
            Status::Exercise => tags.push_str(&format!(" · {}", st.warn("EXERCISE (a drill)"))),
            Status::Test => tags.push_str(&format!(" · {}", st.warn("TEST (ignore)"))),
        }
        tags
    }

    /// Writes the text; returns a note on languages for the meta line.
    fn info(&self, out: &mut String, info: &[Info]) -> Option<String> {
        let st = self.style;
        if self.full && self.langs.is_empty() {
            for i in info {
                let _ = writeln!(out, "    [{}] {}", i.language, st.bold(&i.headline));
                self.info_body(out, i, "         ");
            }
            let langs: Vec<&str> = info.iter().map(|i| i.language.as_str()).collect();
            return (langs.len() > 1).then(|| format!("in {}", langs.join(", ")));
        }
        let (shown, matched) = pick_info(info, self.langs)?;
        let _ = writeln!(out, "    {}", st.bold(&shown.headline));
        self.info_body(out, shown, "    ");
        let others: Vec<&str> = info
            .iter()
            .filter(|i| i.language != shown.language)
            .map(|i| i.language.as_str())
            .collect();
        let mut note = format!("[{}", shown.language);
        if !matched && !self.langs.is_empty() {
            note.push_str(&format!(" — no {} text", self.langs.join("/")));
        }
        if !others.is_empty() {
            note.push_str(&format!("; also {}", others.join(", ")));
        }
        note.push(']');
        Some(note)
    }

    fn info_body(&self, out: &mut String, i: &Info, indent: &str) {
        for line in i.description.lines() {
            let _ = writeln!(out, "{indent}{line}");
        }
        if !i.instruction.is_empty() {
            let _ = writeln!(out, "{indent}What to do: {}", i.instruction);
        }
        if !i.link.is_empty() {
            let _ = writeln!(out, "{indent}More: {}", i.link);
        }
    }

    fn call(&self, out: &mut String, c: &ActionCall) {
        let st = self.style;
        let actions: Vec<_> = c.actions.iter().map(|a| a.as_str()).collect();
        let mut asks = format!("    Asks: {}", st.bold(&actions.join(", ")));
        if !c.target.is_empty() {
            asks.push_str(&format!(" · Target: {}", c.target));
        }
        let _ = writeln!(out, "{asks}");
        if let Some(d) = c.deadline {
            let text = self.clock.deadline("deadline", d);
            let text = if d >= self.clock.now() {
                st.warn(&text)
            } else {
                st.dim(&text)
            };
            let _ = writeln!(out, "    {text}");
        }
        match (c.window_starts_at, c.window_ends_at) {
            (None, None) => {}
            (s, e) => {
                let show =
                    |t: Option<Timestamp>| t.map_or("…".to_string(), |t| self.clock.local(t));
                let _ = writeln!(out, "    Action window: {} to {}", show(s), show(e));
            }
        }
        let mut ilo = Vec::new();
        if !c.ilo_conventions.is_empty() {
            ilo.push(format!("ILO conventions {}", c.ilo_conventions.join(", ")));
        }
        if let Some(b) = c.supervisory_body {
            ilo.push(format!("before the {}", b.as_str().to_uppercase()));
        }
        if !ilo.is_empty() {
            let _ = writeln!(out, "    {}", ilo.join(" · "));
        }
        named_conventions(out, &c.ilo_conventions);
    }
}

/// Under the compact line of codes, one line naming each convention the node's table knows.
fn named_conventions(out: &mut String, codes: &[String]) {
    for convention in codes.iter().filter_map(|code| ilo::convention(code)) {
        let _ = writeln!(out, "      {}", convention.describe());
    }
}

fn quote_long(s: &str) -> String {
    format!("\u{201c}{}\u{201d}", s.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Body, Category, Certainty, SecretKey, Urgency};
    use std::time::Duration;

    #[test]
    fn a_feed_entry_reads_like_a_bulletin() {
        let key = SecretKey::from_seed(&[4; 32]);
        let now = Timestamp::parse_rfc3339("2026-03-04T09:00:00Z").unwrap();
        let mut en = info("en");
        en.instruction = "Write to the Ministry.".into();
        let body = Body {
            author: key.public(),
            created_at: now.minus(Duration::from_secs(2 * 3600)),
            expires_at: Some(now.plus(Duration::from_secs(30 * 86400))),
            topics: vec!["union-rights".into()],
            countries: vec!["AZ".into()],
            effective_at: None,
            content: Content::Alert(Alert {
                status: Status::Actual,
                category: Category::Arrest,
                urgency: Urgency::Immediate,
                severity: Severity::Severe,
                certainty: Certainty::Observed,
                info: vec![en, info("fr")],
            }),
        };
        let m = Message::sign(body, &key).unwrap();
        let clock = Clock::fixed(jiff::tz::TimeZone::fixed(jiff::tz::offset(4)), now);
        let names = Names::default();
        let langs = vec!["fr".to_string()];
        let reader = Reader {
            style: Style::plain(),
            clock: &clock,
            names: &names,
            langs: &langs,
            full: false,
        };
        let facts = Facts {
            endorsements: Some(3),
            ..Facts::default()
        };
        let text = reader.entry(Some(7), &m, &facts);
        let expected = format!(
            "#7 ALERT arrest · severity severe · urgency immediate · certainty observed\n    \
             h-fr\n    d\n    by {} (no profile)\n    \
             Wed 2026-03-04 11:00 +04 (2 hours ago) · AZ · union-rights · [fr; also en] · 3 endorsements\n    \
             id {}\n",
            key.public().short(),
            m.id()
        );
        assert_eq!(text, expected);
        // No French: English is shown, and the reader is told.
        let langs = vec!["de".to_string()];
        let reader = Reader {
            langs: &langs,
            ..reader
        };
        let text = reader.entry(None, &m, &Facts::default());
        assert!(
            text.contains("What to do: Write to the Ministry."),
            "{text}"
        );
        assert!(text.contains("[en — no de text; also fr]"), "{text}");
    }

    fn info(lang: &str) -> Info {
        Info {
            language: lang.into(),
            headline: format!("h-{lang}"),
            description: "d".into(),
            ..Info::default()
        }
    }

    #[test]
    fn language_lookup_falls_back_sensibly() {
        let blocks = vec![info("az"), info("en"), info("pt"), info("fr-CA")];
        let pick = |prefs: &[&str]| {
            let prefs: Vec<String> = prefs.iter().map(|s| s.to_string()).collect();
            pick_info(&blocks, &prefs).map(|(i, m)| (i.language.clone(), m))
        };
        assert_eq!(pick(&["fr"]), Some(("fr-CA".into(), true)));
        assert_eq!(pick(&["pt-BR"]), Some(("pt".into(), true)));
        assert_eq!(pick(&["de", "az"]), Some(("az".into(), true)));
        assert_eq!(pick(&["de"]), Some(("en".into(), false)));
        assert_eq!(pick(&[]), Some(("en".into(), true)));
        let no_en = vec![info("es"), info("az")];
        assert_eq!(
            pick_info(&no_en, &["de".to_string()]).map(|(i, _)| i.language.clone()),
            Some("es".into())
        );
    }
}
