//! Validation: the limits and time rules every node applies, as a function of the body and a time.
//!
//! All nodes must apply exactly the same rules, or their stores diverge: change a limit only
//! with a new protocol version.

use std::collections::HashSet;
use std::time::Duration;

use super::convert::KIND_FIELDS;
use super::country::is_country;
use super::lang::is_well_formed;
use super::model::*;
use super::{Filter, Reason, Rejection, Timestamp};

/// The protocol's limits. Lengths are in bytes of UTF-8.
pub mod limits {
    use std::time::Duration;

    /// The largest body accepted.
    pub const MAX_BODY_BYTES: usize = 64 * 1024;
    /// How far in the future of the receiver's clock created_at may be.
    pub const MAX_FUTURE_SKEW: Duration = Duration::from_secs(10 * 60);
    /// Info blocks per message (languages).
    pub const MAX_INFO: usize = 24;
    /// Topics per message.
    pub const MAX_TOPICS: usize = 16;
    /// Length of one topic slug.
    pub const MAX_TOPIC_LEN: usize = 64;
    /// Countries per message.
    pub const MAX_COUNTRIES: usize = 64;
    /// A headline.
    pub const MAX_HEADLINE: usize = 256;
    /// A description.
    pub const MAX_DESCRIPTION: usize = 16 * 1024;
    /// An instruction.
    pub const MAX_INSTRUCTION: usize = 4 * 1024;
    /// A link.
    pub const MAX_LINK: usize = 2 * 1024;
    /// A name (profile, roster member) or a call's target.
    pub const MAX_NAME: usize = 512;
    /// A reason, statement or profile description.
    pub const MAX_STATEMENT: usize = 4 * 1024;
    /// Requested actions per call.
    pub const MAX_ACTIONS: usize = 12;
    /// ILO conventions cited per call.
    pub const MAX_CONVENTIONS: usize = 32;
    /// Members per roster (the body limit bounds it too).
    pub const MAX_ROSTER_MEMBERS: usize = 1000;
    /// Counts per action report, and goals per call.
    pub const MAX_COUNTS: usize = 32;
    /// Filings per action report.
    pub const MAX_FILINGS: usize = 64;
    /// The largest count or goal: a trillion, beyond any real campaign, so a sum of every
    /// organisation's claims stays far from overflowing (and saturates if it ever could).
    pub const MAX_COUNT: u64 = 1_000_000_000_000;
    /// The largest content of a newer version's kind this node stores and relays unread.
    pub const MAX_UNKNOWN_KIND_BYTES: usize = 32 * 1024;
}

const DAY: Duration = Duration::from_secs(24 * 3600);

/// The longest a message of this kind may live (expires_at - created_at). `None` for a
/// revocation, which never expires.
pub fn max_lifetime(kind: Kind) -> Option<Duration> {
    Some(match kind {
        Kind::Alert => 180 * DAY,
        // ILO supervisory cycles run a year: a call must outlive one.
        Kind::Call => 400 * DAY,
        // An update may be of either; it is held to the longer limit and to its own content's
        // by `validate`.
        Kind::Update => 400 * DAY,
        Kind::Cancel | Kind::Endorsement | Kind::Translation => 400 * DAY,
        // A report counts as long as its call can live.
        Kind::Report => 400 * DAY,
        Kind::Profile | Kind::Roster => 730 * DAY,
        // A newer version's kind: held to the longest lifetime of any kind that expires
        // (its own rule is not known here).
        Kind::Unknown => 730 * DAY,
        Kind::Revocation | Kind::Commitment | Kind::Rotation => return None,
    })
}

/// The earliest time by a receiver's clock at which `body` is not refused `from-future`:
/// `created_at` less the [`limits::MAX_FUTURE_SKEW`] every node allows.
pub fn valid_from(body: &Body) -> Timestamp {
    body.created_at.minus(limits::MAX_FUTURE_SKEW)
}

fn reject(reason: Reason, detail: impl Into<String>) -> Rejection {
    Rejection::new(reason, detail)
}

/// Checks a decoded body against the protocol's limits and time rules at `now`.
pub fn validate(body: &Body, now: Timestamp) -> Result<(), Rejection> {
    check_times(body, now)?;
    check_list(&body.topics, limits::MAX_TOPICS, "topics")?;
    let mut seen = HashSet::new();
    for t in &body.topics {
        if !is_slug(t) {
            return Err(reject(
                Reason::BadTopic,
                format!("topic {t:?} is not a lower-case slug like \"union-rights\""),
            ));
        }
        if !seen.insert(t.as_str()) {
            return Err(reject(Reason::BadTopic, format!("topic {t:?} is repeated")));
        }
    }
    check_list(&body.countries, limits::MAX_COUNTRIES, "countries")?;
    let mut seen = HashSet::new();
    for c in &body.countries {
        check_country(c, "countries")?;
        if !seen.insert(c.as_str()) {
            return Err(reject(
                Reason::BadCountry,
                format!("country {c} is repeated"),
            ));
        }
    }
    match &body.content {
        Content::Alert(a) => check_alert(a),
        Content::Call(c) => check_call(c),
        Content::Update(u) => {
            if let UpdateContent::Alert(_) = u.content {
                check_lifetime(body, Kind::Alert)?;
            }
            match &u.content {
                UpdateContent::Alert(a) => check_alert(a),
                UpdateContent::Call(c) => check_call(c),
            }
        }
        Content::Cancel(c) => check_text(&c.reason, limits::MAX_STATEMENT, "cancel.reason", true),
        Content::Endorsement(e) => check_text(
            &e.statement,
            limits::MAX_STATEMENT,
            "endorsement.statement",
            true,
        ),
        Content::Translation(t) => check_info(&t.info),
        Content::Profile(p) => {
            check_required(&p.name, limits::MAX_NAME, "profile.name")?;
            if !p.country.is_empty() {
                check_country(&p.country, "profile.country")?;
            }
            if !p.website.is_empty() {
                check_link(&p.website, "profile.website")?;
            }
            check_text(
                &p.description,
                limits::MAX_STATEMENT,
                "profile.description",
                true,
            )
        }
        Content::Roster(r) => {
            check_list(&r.members, limits::MAX_ROSTER_MEMBERS, "roster.members")?;
            let mut seen = HashSet::new();
            for m in &r.members {
                if !seen.insert(m.key) {
                    return Err(reject(
                        Reason::BadValue,
                        format!("roster member {} is listed twice", m.key.short()),
                    ));
                }
                check_text(&m.name, limits::MAX_NAME, "roster.members.name", false)?;
                if !m.country.is_empty() {
                    check_country(&m.country, "roster.members.country")?;
                }
            }
            Ok(())
        }
        Content::Revocation(r) => {
            if r.revoked_from.0 == 0 {
                return Err(reject(
                    Reason::MissingField,
                    "revocation.revoked_from is required",
                ));
            }
            if r.successor == Some(body.author) {
                return Err(reject(
                    Reason::BadValue,
                    "a revoked key cannot be its own successor",
                ));
            }
            check_text(&r.reason, limits::MAX_STATEMENT, "revocation.reason", true)
        }
        Content::Report(r) => check_report(r, body.created_at),
        // The digest's length is the decoder's; any 32 bytes may be a recovery key's digest.
        Content::Commitment(_) => Ok(()),
        Content::Rotation(r) => {
            if r.compromised == body.author {
                return Err(reject(
                    Reason::BadValue,
                    "a rotation is signed by the compromised key's recovery key, not the key itself",
                ));
            }
            if r.successor == r.compromised || r.successor == body.author {
                return Err(reject(
                    Reason::BadValue,
                    "the successor must be a new key: neither the compromised key nor the recovery key",
                ));
            }
            if r.successor_recovery_digest == crate::message::recovery_digest(&r.successor) {
                return Err(reject(
                    Reason::BadValue,
                    "the successor's recovery key must be a key of its own, not the successor",
                ));
            }
            check_text(&r.reason, limits::MAX_STATEMENT, "rotation.reason", true)
        }
        Content::Unknown(u) => {
            // Only a body built by hand can break this (the decoder never makes one): its
            // bytes would carry a known kind, or no kind, and read back as something else.
            if !KIND_FIELDS.contains(&u.field) || is_known_kind_field(u.field) {
                return Err(reject(
                    Reason::Malformed,
                    format!(
                        "field {} is not a newer version's kind: those are the content fields \
                         {}..={} this version does not know",
                        u.field,
                        KIND_FIELDS.start(),
                        KIND_FIELDS.end()
                    ),
                ));
            }
            if u.value.len() > limits::MAX_UNKNOWN_KIND_BYTES {
                return Err(reject(
                    Reason::TooLarge,
                    format!(
                        "a kind this node does not know (field {}) is {} bytes; it stores at most {} of one",
                        u.field,
                        u.value.len(),
                        limits::MAX_UNKNOWN_KIND_BYTES
                    ),
                ));
            }
            Ok(())
        }
    }
}

/// Whether `field` carries a kind this version knows: an empty value in it decodes as one.
/// Asked of the generated code, so a kind added to message.proto is known here at once.
fn is_known_kind_field(field: u32) -> bool {
    use prost::Message as _;
    use prost::encoding::{WireType, encode_key, encode_varint};
    let mut bytes = Vec::new();
    encode_key(field, WireType::LengthDelimited, &mut bytes);
    encode_varint(0, &mut bytes);
    crate::proto::MessageBody::decode(bytes.as_slice()).is_ok_and(|b| b.content.is_some())
}

/// A currency: an ISO 4217 code's shape, three upper-case letters, for donations only.
fn check_currency(measure: Measure, currency: &str, field: &str) -> Result<(), Rejection> {
    match (measure, currency.is_empty()) {
        (Measure::Donations, true) => Err(reject(
            Reason::BadCount,
            format!("{field}: donations need a currency (an ISO 4217 code like \"EUR\")"),
        )),
        (Measure::Donations, false) => {
            if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()) {
                Ok(())
            } else {
                Err(reject(
                    Reason::BadCount,
                    format!("{field}: {currency:?} is not an ISO 4217 code like \"EUR\""),
                ))
            }
        }
        (_, false) => Err(reject(
            Reason::BadCount,
            format!("{field}: only donations have a currency, not {measure}"),
        )),
        (_, true) => Ok(()),
    }
}

fn check_count_value(value: u64, field: &str) -> Result<(), Rejection> {
    if value > limits::MAX_COUNT {
        return Err(reject(
            Reason::BadCount,
            format!(
                "{field}: {value} is beyond the bound of {}",
                limits::MAX_COUNT
            ),
        ));
    }
    Ok(())
}

fn check_report(r: &ActionReport, created_at: Timestamp) -> Result<(), Rejection> {
    check_list(&r.counts, limits::MAX_COUNTS, "report.counts")?;
    check_list(&r.filings, limits::MAX_FILINGS, "report.filings")?;
    if r.counts.is_empty() && r.filings.is_empty() {
        return Err(reject(
            Reason::BadCount,
            "a report counts something: give at least one count or filing",
        ));
    }
    let mut seen = HashSet::new();
    for c in &r.counts {
        if !c.measure.countable() {
            return Err(reject(
                Reason::BadCount,
                match c.measure {
                    Measure::Observations => {
                        "observations are reported as filings (body and date), not as a count"
                    }
                    _ => "organisations are what a tally counts; a report does not give them",
                },
            ));
        }
        check_currency(c.measure, &c.currency, "report.counts")?;
        check_count_value(c.value, "report.counts")?;
        if !seen.insert((c.measure, c.currency.as_str())) {
            return Err(reject(
                Reason::BadCount,
                format!(
                    "{} {}is counted twice",
                    c.measure,
                    currency_words(&c.currency)
                ),
            ));
        }
    }
    let mut filed = HashSet::new();
    for f in &r.filings {
        // Each filing once: a tally counts observations filed by their filings.
        if !filed.insert((f.body, f.filed_at, f.reference.as_str())) {
            return Err(reject(
                Reason::BadCount,
                format!(
                    "the filing with {} of {} ({:?}) is given twice",
                    f.body.as_str(),
                    f.filed_at,
                    f.reference
                ),
            ));
        }
        // A zero time never comes out of the decoder; refuse here what it refuses.
        if f.filed_at.0 == 0 {
            return Err(reject(
                Reason::MissingField,
                "report.filings.filed_at is required",
            ));
        }
        if f.filed_at > created_at {
            return Err(reject(
                Reason::BadTime,
                "a filing's date is after the report was made",
            ));
        }
        check_text(
            &f.reference,
            limits::MAX_NAME,
            "report.filings.reference",
            false,
        )?;
    }
    if r.as_of == Some(Timestamp(0)) {
        return Err(reject(Reason::MissingField, "report.as_of is required"));
    }
    if let Some(as_of) = r.as_of
        && as_of > created_at
    {
        return Err(reject(
            Reason::BadTime,
            "a report's as_of is after the report was made",
        ));
    }
    check_text(
        &r.statement,
        limits::MAX_STATEMENT,
        "report.statement",
        true,
    )?;
    if !r.evidence.is_empty() {
        check_link(&r.evidence, "report.evidence")?;
    }
    Ok(())
}

fn check_goals(goals: &[Goal]) -> Result<(), Rejection> {
    check_list(goals, limits::MAX_COUNTS, "call.goals")?;
    let mut seen = HashSet::new();
    for g in goals {
        check_currency(g.measure, &g.currency, "call.goals")?;
        if g.target == 0 {
            return Err(reject(
                Reason::BadCount,
                format!("the goal for {} is zero", g.measure),
            ));
        }
        check_count_value(g.target, "call.goals")?;
        if !seen.insert((g.measure, g.currency.as_str())) {
            return Err(reject(
                Reason::BadCount,
                format!("{} {}has two goals", g.measure, currency_words(&g.currency)),
            ));
        }
    }
    Ok(())
}

/// "in EUR " for a currency, nothing otherwise (for details).
fn currency_words(currency: &str) -> String {
    if currency.is_empty() {
        String::new()
    } else {
        format!("in {currency} ")
    }
}

fn check_times(body: &Body, now: Timestamp) -> Result<(), Rejection> {
    // Zero times and a missing expiry never come out of the decoder, but a body an author
    // builds by hand can hold them: refuse here what every node's decoder refuses.
    if body.created_at.0 == 0 {
        return Err(reject(Reason::MissingField, "created_at is required"));
    }
    if body.effective_at == Some(Timestamp(0)) {
        return Err(reject(
            Reason::MissingField,
            super::convert::ZERO_EFFECTIVE_AT,
        ));
    }
    let kind = body.kind();
    match (kind.is_key_event(), body.expires_at) {
        (true, Some(_)) => {
            return Err(reject(
                Reason::BadLifetime,
                format!("a {kind} never expires; leave expires_at unset"),
            ));
        }
        (true, None) => {}
        (_, None) | (_, Some(Timestamp(0))) => {
            return Err(reject(Reason::MissingField, "expires_at is required"));
        }
        (_, Some(_)) => {}
    }
    let latest = now.plus(limits::MAX_FUTURE_SKEW);
    if body.created_at > latest {
        return Err(reject(
            Reason::FromFuture,
            format!(
                "created_at {} is more than 10 minutes ahead of this node's clock ({})",
                body.created_at, now
            ),
        ));
    }
    let Some(expires_at) = body.expires_at else {
        // A revocation, commitment or rotation (checked above: only they have no expiry) never
        // expires.
        return Ok(());
    };
    check_lifetime(body, body.kind())?;
    if expires_at <= now {
        return Err(reject(
            Reason::Expired,
            format!("expired at {expires_at}; it is now {now}"),
        ));
    }
    if let Some(eff) = body.effective_at
        && eff >= expires_at
    {
        return Err(reject(
            Reason::BadTime,
            "effective_at is not before expires_at: the message would never be shown",
        ));
    }
    Ok(())
}

fn check_lifetime(body: &Body, kind: Kind) -> Result<(), Rejection> {
    let (Some(expires_at), Some(max)) = (body.expires_at, max_lifetime(kind)) else {
        return Ok(());
    };
    if expires_at <= body.created_at {
        return Err(reject(
            Reason::BadLifetime,
            "expires_at must be after created_at",
        ));
    }
    if expires_at.since(body.created_at) > max {
        return Err(reject(
            Reason::BadLifetime,
            format!(
                "{} {kind} may live at most {} days",
                if kind.to_string().starts_with(['a', 'e', 'i', 'o', 'u']) {
                    "an"
                } else {
                    "a"
                },
                max.as_secs() / DAY.as_secs()
            ),
        ));
    }
    Ok(())
}

fn check_alert(a: &Alert) -> Result<(), Rejection> {
    check_info(&a.info)
}

fn check_call(c: &ActionCall) -> Result<(), Rejection> {
    check_alert(&c.base)?;
    if c.actions.is_empty() {
        return Err(reject(
            Reason::MissingField,
            "call.actions (what is asked) is required",
        ));
    }
    check_list(&c.actions, limits::MAX_ACTIONS, "call.actions")?;
    check_text(&c.target, limits::MAX_NAME, "call.target", false)?;
    if let (Some(s), Some(e)) = (c.window_starts_at, c.window_ends_at)
        && e < s
    {
        return Err(reject(
            Reason::BadTime,
            "the action window ends before it starts",
        ));
    }
    check_list(
        &c.ilo_conventions,
        limits::MAX_CONVENTIONS,
        "call.ilo_conventions",
    )?;
    let mut seen = HashSet::new();
    for conv in &c.ilo_conventions {
        let b = conv.as_bytes();
        let shaped =
            b.len() == 4 && (b[0] == b'C' || b[0] == b'P') && b[1..].iter().all(u8::is_ascii_digit);
        if !shaped {
            return Err(reject(
                Reason::BadValue,
                format!(
                    "ILO convention {conv:?} should look like \"C087\" (or \"P029\" for a protocol)"
                ),
            ));
        }
        if !seen.insert(conv.as_str()) {
            return Err(reject(Reason::BadValue, format!("{conv} is cited twice")));
        }
    }
    check_goals(&c.goals)
}

fn check_info(info: &[Info]) -> Result<(), Rejection> {
    if info.is_empty() {
        return Err(reject(
            Reason::MissingField,
            "info (at least one language) is required",
        ));
    }
    check_list(info, limits::MAX_INFO, "info")?;
    let mut langs = HashSet::new();
    for i in info {
        if i.language.is_empty() {
            return Err(reject(Reason::MissingField, "info.language is required"));
        }
        if !is_well_formed(&i.language) {
            return Err(reject(
                Reason::BadLanguage,
                format!(
                    "{:?} is not a BCP-47 language tag like \"en\" or \"pt-BR\"",
                    i.language
                ),
            ));
        }
        if !langs.insert(i.language.to_ascii_lowercase()) {
            return Err(reject(
                Reason::BadLanguage,
                format!("two info blocks are in {}", i.language),
            ));
        }
        check_required(&i.headline, limits::MAX_HEADLINE, "info.headline")?;
        if i.headline.contains(['\n', '\r', '\t']) {
            return Err(reject(Reason::BadValue, "a headline is one line"));
        }
        check_required(&i.description, limits::MAX_DESCRIPTION, "info.description")?;
        check_text(
            &i.instruction,
            limits::MAX_INSTRUCTION,
            "info.instruction",
            true,
        )?;
        if !i.link.is_empty() {
            check_link(&i.link, "info.link")?;
        }
    }
    Ok(())
}

fn check_list<T>(items: &[T], max: usize, field: &str) -> Result<(), Rejection> {
    if items.len() > max {
        return Err(reject(
            Reason::TooMany,
            format!("{field} has {} items; the limit is {max}", items.len()),
        ));
    }
    Ok(())
}

fn check_required(s: &str, max: usize, field: &str) -> Result<(), Rejection> {
    if s.trim().is_empty() {
        return Err(reject(Reason::MissingField, format!("{field} is required")));
    }
    check_text(s, max, field, true)
}

/// Length and character checks: no control characters except line breaks and tabs where
/// `multiline`, and no bidirectional overrides that could make a headline read differently
/// from what was signed.
fn check_text(s: &str, max: usize, field: &str, multiline: bool) -> Result<(), Rejection> {
    if s.len() > max {
        return Err(reject(
            Reason::TooLong,
            format!("{field} is {} bytes; the limit is {max}", s.len()),
        ));
    }
    let bad = s.chars().find(|&c| {
        let allowed_ws = multiline && matches!(c, '\n' | '\r' | '\t');
        (c.is_control() && !allowed_ws)
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    });
    if let Some(c) = bad {
        return Err(reject(
            Reason::BadValue,
            format!(
                "{field} contains the control character U+{:04X}",
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// A subscription filter's topics, countries and languages as a message's are written (a topic
/// in lower case, a country in upper case), each checked by the rule a message's value is: a
/// value no message can carry is refused with the message's reason code (`bad-topic`,
/// `bad-country`, `bad-language`), where it would have matched nothing without a word.
pub fn filter_values(mut f: Filter) -> Result<Filter, Rejection> {
    for t in &mut f.topics {
        t.make_ascii_lowercase();
        if !is_slug(t) {
            return Err(reject(
                Reason::BadTopic,
                format!("filter topic {t:?} is not a slug like \"union-rights\""),
            ));
        }
    }
    for c in &mut f.countries {
        c.make_ascii_uppercase();
        check_country(c, "filter country")?;
    }
    for l in &f.languages {
        if !is_well_formed(l) {
            return Err(reject(
                Reason::BadLanguage,
                format!(
                    "filter language {l:?} is not a BCP-47 language tag like \"en\" or \"pt-BR\""
                ),
            ));
        }
    }
    Ok(f)
}

fn check_country(c: &str, field: &str) -> Result<(), Rejection> {
    if !is_country(c) {
        return Err(reject(
            Reason::BadCountry,
            format!("{field}: {c:?} is not an ISO 3166-1 alpha-2 code in upper case, like \"AZ\""),
        ));
    }
    Ok(())
}

fn check_link(link: &str, field: &str) -> Result<(), Rejection> {
    if link.len() > limits::MAX_LINK {
        return Err(reject(
            Reason::TooLong,
            format!(
                "{field} is {} bytes; the limit is {}",
                link.len(),
                limits::MAX_LINK
            ),
        ));
    }
    let rest = link
        .strip_prefix("https://")
        .ok_or_else(|| reject(Reason::BadLink, format!("{field} must start with https://")))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_ok = !host.is_empty()
        && !host.contains('@')
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !host_ok || !link.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(reject(
            Reason::BadLink,
            format!("{field} is not a plain https:// URL (percent-encode spaces and non-ASCII)"),
        ));
    }
    Ok(())
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= limits::MAX_TOPIC_LEN
        && s.split('-').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}
