//! Fuzz target, structure-aware: `arbitrary` builds a domain `Body` (every kind, a call's goals,
//! action reports with counts and filings, recovery commitments and rotations naming the fixed
//! keys (the author among them) and digests of them or of anything, a newer version's kind in
//! any content field; times
//! near the fixed clock, strings drawn from valid and near-valid samples or arbitrary), and the target
//! checks that `validate` and the wire agree. A body `validate` accepts signs (unless it is over
//! the size limit), opens at the same time, and decodes back to an equal body; a body it
//! refuses is refused when opened from its bytes as well, unless those bytes carry another
//! body (a value the wire cannot represent).

#![no_main]

use std::sync::LazyLock;

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use sha2::{Digest, Sha256};
use tocsin::message::{
    ActionCall, ActionReport, ActionType, Alert, AuthorKey, Body, Cancel, Category, Certainty,
    Checked, Content, Count, Endorsement, Filing, Goal, Id, Info, KIND_FIELDS, Measure, Message,
    Profile, Reason, RecoveryCommitment, Revocation, Roster, RosterMember, Rotation, SecretKey,
    Severity, SignedMessage, Status, SupervisoryBody, Timestamp, Translation, UnknownKind, Update,
    UpdateContent, Urgency, recovery_digest, validate,
};
use tocsin::proto;

/// The receiver's clock: 2026-12-01T09:00:00Z.
const NOW: Timestamp = Timestamp(1_796_115_600_000);

/// The author (index 0) and the other keys a roster or a revocation can name (fictional).
static KEYS: LazyLock<Vec<(SecretKey, AuthorKey)>> = LazyLock::new(|| {
    [0xF2u8, 0x4E, 0x57, 0xE2]
        .iter()
        .map(|&b| {
            let secret = SecretKey::from_seed(&[b; 32]);
            let public = secret.public();
            (secret, public)
        })
        .collect()
});

const LANGUAGES: &[&str] = &[
    "en",
    "es",
    "pt-BR",
    "fr",
    "az",
    "zh-Hant-TW",
    "x-private",
    "en-x-union",
    "EN",
    "en-",
    "e",
];
const COUNTRIES: &[&str] = &["AQ", "BV", "HM", "AZ", "XK", "az", "UK", ""];
const TOPICS: &[&str] = &[
    "union-rights",
    "arrests",
    "garment-sector",
    "a",
    "x1-2",
    "Bad",
    "a--b",
];
const LINKS: &[&str] = &[
    "https://example.org/appeal",
    "https://[::1]:8443/x?y=1#z",
    "http://example.org",
    "https://a b.org",
    "https://user@example.org",
    "https://",
];
const CONVENTIONS: &[&str] = &["C087", "C098", "P029", "C87", "c087", "C0870"];
const CURRENCIES: &[&str] = &["EUR", "USD", "AZN", "eur", "EURO", "E1R", ""];
const TEXTS: &[&str] = &[
    "Four union leaders arrested in Eastport",
    "Police detained four leaders at dawn.\nWrite to the Minister.",
    "tab\there",
    "\u{202E}reversed",
    "bell\u{7}",
    "  ",
    "",
];

/// A string: one of a list of samples, or anything.
#[derive(Debug, Arbitrary)]
enum Text {
    Sample(u8),
    Raw(String),
}

impl Text {
    fn get(&self, samples: &[&str]) -> String {
        match self {
            Text::Sample(i) => samples[usize::from(*i) % samples.len()].to_owned(),
            Text::Raw(s) => s.clone(),
        }
    }
}

/// A count or goal: mostly small, near the protocol's bound, or any number.
#[derive(Debug, Clone, Copy, Arbitrary)]
enum Amount {
    Small(u16),
    NearBound(i8),
    Raw(u64),
}

impl Amount {
    fn get(self) -> u64 {
        match self {
            Amount::Small(n) => u64::from(n),
            Amount::NearBound(d) => 1_000_000_000_000u64.saturating_add_signed(i64::from(d)),
            Amount::Raw(n) => n,
        }
    }
}

/// A time: minutes from the fixed clock (so most land near it), or any instant.
#[derive(Debug, Clone, Copy, Arbitrary)]
enum Time {
    Minutes(i32),
    Raw(u64),
}

impl Time {
    fn from(self, base: Timestamp) -> Timestamp {
        match self {
            Time::Minutes(m) => {
                let ms = i64::from(m) * 60_000;
                Timestamp(base.0.saturating_add_signed(ms))
            }
            Time::Raw(ms) => Timestamp(ms),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct InfoShape {
    language: Text,
    headline: Text,
    description: Text,
    instruction: Option<Text>,
    link: Option<Text>,
}

#[derive(Debug, Arbitrary)]
struct AlertShape {
    status: u8,
    category: u8,
    urgency: u8,
    severity: u8,
    certainty: u8,
    info: Vec<InfoShape>,
}

#[derive(Debug, Arbitrary)]
struct CallShape {
    base: AlertShape,
    actions: Vec<u8>,
    target: Text,
    window: Option<(Time, Time)>,
    deadline: Option<Time>,
    conventions: Vec<Text>,
    supervisory_body: Option<u8>,
    /// Measure, target, currency.
    goals: Vec<(u8, Amount, Text)>,
}

#[derive(Debug, Arbitrary)]
struct ReportShape {
    target: [u8; 32],
    /// Measure, value, currency.
    counts: Vec<(u8, Amount, Text)>,
    /// Supervisory body, filed at (from created_at), reference.
    filings: Vec<(u8, Time, Text)>,
    as_of: Option<Time>,
    statement: Text,
    evidence: Option<Text>,
}

/// A recovery digest: of one of the fixed keys (so a rotation's successor may be committed to
/// itself, which validation refuses), or any 32 bytes.
#[derive(Debug, Clone, Copy, Arbitrary)]
enum DigestShape {
    OfKey(u8),
    Raw([u8; 32]),
}

impl DigestShape {
    fn get(self) -> [u8; 32] {
        match self {
            DigestShape::OfKey(n) => recovery_digest(&other_key(n)),
            DigestShape::Raw(bytes) => bytes,
        }
    }
}

#[derive(Debug, Arbitrary)]
struct RotationShape {
    /// One of the fixed keys: the author itself now and then, which validation refuses.
    compromised: u8,
    since: Time,
    /// One of the fixed keys: the compromised key or the author now and then.
    successor: u8,
    successor_recovery_digest: DigestShape,
    reason: Text,
}

#[derive(Debug, Arbitrary)]
enum ContentShape {
    Alert(AlertShape),
    Call(CallShape),
    UpdateAlert([u8; 32], AlertShape),
    UpdateCall([u8; 32], CallShape),
    Cancel([u8; 32], Text),
    Endorsement([u8; 32], Text),
    Translation([u8; 32], Vec<InfoShape>),
    Profile(Text, Text, Text, Text),
    Roster(Vec<(u8, Text, Text)>),
    Revocation(Time, Option<u8>, Text),
    Report(ReportShape),
    Commitment(DigestShape),
    Rotation(RotationShape),
    /// A newer version's kind: a field number (from 10, the known kinds' fields included) and
    /// its bytes.
    Unknown(u8, Vec<u8>),
}

#[derive(Debug, Arbitrary)]
struct Shape {
    created_at: Time,
    /// Relative to `created_at`; `None` leaves `expires_at` unset.
    expires_at: Option<Time>,
    effective_at: Option<Time>,
    topics: Vec<Text>,
    countries: Vec<Text>,
    content: ContentShape,
}

fn pick<T: Copy>(all: &[T], n: u8) -> T {
    all[usize::from(n) % all.len()]
}

/// One of the fixed keys, the author's included.
fn other_key(n: u8) -> AuthorKey {
    KEYS[usize::from(n) % KEYS.len()].1
}

fn info(shapes: &[InfoShape]) -> Vec<Info> {
    shapes
        .iter()
        .map(|i| Info {
            language: i.language.get(LANGUAGES),
            headline: i.headline.get(TEXTS),
            description: i.description.get(TEXTS),
            instruction: i
                .instruction
                .as_ref()
                .map_or_else(String::new, |t| t.get(TEXTS)),
            link: i.link.as_ref().map_or_else(String::new, |t| t.get(LINKS)),
        })
        .collect()
}

fn alert(a: &AlertShape) -> Alert {
    Alert {
        status: pick(Status::ALL, a.status),
        category: pick(Category::ALL, a.category),
        urgency: pick(Urgency::ALL, a.urgency),
        severity: pick(Severity::ALL, a.severity),
        certainty: pick(Certainty::ALL, a.certainty),
        info: info(&a.info),
    }
}

fn call(c: &CallShape, created_at: Timestamp) -> ActionCall {
    ActionCall {
        base: alert(&c.base),
        actions: c
            .actions
            .iter()
            .map(|&n| pick(ActionType::ALL, n))
            .collect(),
        target: c.target.get(TEXTS),
        window_starts_at: c.window.map(|(s, _)| s.from(created_at)),
        window_ends_at: c.window.map(|(_, e)| e.from(created_at)),
        deadline: c.deadline.map(|t| t.from(created_at)),
        ilo_conventions: c.conventions.iter().map(|t| t.get(CONVENTIONS)).collect(),
        supervisory_body: c.supervisory_body.map(|n| pick(SupervisoryBody::ALL, n)),
        goals: c
            .goals
            .iter()
            .map(|(m, target, currency)| Goal {
                measure: pick(Measure::ALL, *m),
                target: target.get(),
                currency: currency.get(CURRENCIES),
            })
            .collect(),
    }
}

fn report(r: &ReportShape, created_at: Timestamp) -> ActionReport {
    ActionReport {
        target: Id(r.target),
        counts: r
            .counts
            .iter()
            .map(|(m, value, currency)| Count {
                measure: pick(Measure::ALL, *m),
                value: value.get(),
                currency: currency.get(CURRENCIES),
            })
            .collect(),
        filings: r
            .filings
            .iter()
            .map(|(body, filed_at, reference)| Filing {
                body: pick(SupervisoryBody::ALL, *body),
                filed_at: filed_at.from(created_at),
                reference: reference.get(TEXTS),
            })
            .collect(),
        as_of: r.as_of.map(|t| t.from(created_at)),
        statement: r.statement.get(TEXTS),
        evidence: r
            .evidence
            .as_ref()
            .map_or_else(String::new, |t| t.get(LINKS)),
    }
}

fn build(shape: &Shape) -> Body {
    let created_at = shape.created_at.from(NOW);
    let content = match &shape.content {
        ContentShape::Alert(a) => Content::Alert(alert(a)),
        ContentShape::Call(c) => Content::Call(call(c, created_at)),
        ContentShape::UpdateAlert(id, a) => Content::Update(Update {
            supersedes: Id(*id),
            content: UpdateContent::Alert(alert(a)),
        }),
        ContentShape::UpdateCall(id, c) => Content::Update(Update {
            supersedes: Id(*id),
            content: UpdateContent::Call(call(c, created_at)),
        }),
        ContentShape::Cancel(id, reason) => Content::Cancel(Cancel {
            target: Id(*id),
            reason: reason.get(TEXTS),
        }),
        ContentShape::Endorsement(id, statement) => Content::Endorsement(Endorsement {
            target: Id(*id),
            statement: statement.get(TEXTS),
        }),
        ContentShape::Translation(id, i) => Content::Translation(Translation {
            target: Id(*id),
            info: info(i),
        }),
        ContentShape::Profile(name, country, website, description) => Content::Profile(Profile {
            name: name.get(TEXTS),
            country: country.get(COUNTRIES),
            website: website.get(LINKS),
            description: description.get(TEXTS),
        }),
        ContentShape::Roster(members) => Content::Roster(Roster {
            members: members
                .iter()
                .map(|(k, name, country)| RosterMember {
                    key: other_key(*k),
                    name: name.get(TEXTS),
                    country: country.get(COUNTRIES),
                })
                .collect(),
        }),
        ContentShape::Revocation(from, successor, reason) => Content::Revocation(Revocation {
            revoked_from: from.from(created_at),
            successor: successor.map(other_key),
            reason: reason.get(TEXTS),
        }),
        ContentShape::Report(r) => Content::Report(report(r, created_at)),
        ContentShape::Commitment(digest) => Content::Commitment(RecoveryCommitment {
            recovery_digest: digest.get(),
        }),
        ContentShape::Rotation(r) => Content::Rotation(Box::new(Rotation {
            compromised: other_key(r.compromised),
            compromised_since: r.since.from(created_at),
            successor: other_key(r.successor),
            successor_recovery_digest: r.successor_recovery_digest.get(),
            reason: r.reason.get(TEXTS),
        })),
        ContentShape::Unknown(field, value) => Content::Unknown(UnknownKind {
            field: KIND_FIELDS.start() + u32::from(*field) % 90,
            value: value.clone(),
        }),
    };
    Body {
        author: KEYS[0].1,
        created_at,
        expires_at: shape.expires_at.map(|t| t.from(created_at)),
        topics: shape.topics.iter().map(|t| t.get(TOPICS)).collect(),
        countries: shape.countries.iter().map(|t| t.get(COUNTRIES)).collect(),
        effective_at: shape.effective_at.map(|t| t.from(created_at)),
        content,
    }
}

/// The body's bytes as an author's encoder writes them: prost's form, and a newer version's
/// kind (no field prost knows) after it.
fn wire_bytes(body: &Body) -> Vec<u8> {
    use prost::encoding::{WireType, encode_key, encode_varint};
    let mut bytes = proto::MessageBody::from(body).encode_to_vec();
    if let Content::Unknown(u) = &body.content {
        encode_key(u.field, WireType::LengthDelimited, &mut bytes);
        encode_varint(u.value.len() as u64, &mut bytes);
        bytes.extend_from_slice(&u.value);
    }
    bytes
}

fuzz_target!(|shape: Shape| {
    let body = build(&shape);
    let (key, _) = &KEYS[0];
    match validate(&body, NOW) {
        Ok(()) => {
            let message = match Message::sign(body.clone(), key) {
                Ok(m) => m,
                // validate bounds each field, not the encoded total: a body of many long fields
                // can pass it and still be over the size limit, which signing reports.
                Err(r) if r.reason == Reason::TooLarge => return,
                Err(r) => panic!("a body that validates does not sign: {r}"),
            };
            let signed = message.signed().clone();
            assert_eq!(
                signed.id().0,
                <[u8; 32]>::from(Sha256::digest(signed.body()))
            );
            let opened = Message::open(signed.clone(), NOW)
                .unwrap_or_else(|r| panic!("a body that validates does not open: {r}"));
            assert_eq!(opened.body(), &body, "the body changed on the wire");
            let stored = Message::from_store(signed).expect("stored message decodes");
            assert_eq!(stored.body(), &body);
        }
        Err(refused) => {
            // Its bytes are refused by every node too, unless they say something else than the
            // body: a value the wire cannot carry, which validate refuses rather than let an
            // author sign what others will read differently (an explicit zero expiry on a
            // revocation encodes as no expiry). The signature is not looked at: validation
            // comes first.
            let bytes = Bytes::from(wire_bytes(&body));
            let Ok(signed) = SignedMessage::new(bytes, &[0; 64]) else {
                return;
            };
            if let Ok(checked) = Checked::open(signed, NOW) {
                assert_ne!(
                    checked.body(),
                    &body,
                    "validate refused a body ({refused}) that opens from its bytes"
                );
            }
        }
    }
});
