//! Tests of the message core: one test per rejection code it can give, valid messages of every
//! kind, unknown fields and enum values, filters, and properties (encode/decode, sign/verify,
//! any single-bit change is refused, arbitrary bytes never panic).
//!
//! Every organisation here is fictional. Country codes are those of uninhabited territories
//! (AQ, BV, HM), so no test reads as a claim about a real state.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::time::Duration;

use bytes::Bytes;
use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use proptest::prelude::*;
use prost::Message as _;
use sha2::{Digest as _, Sha256};

use super::convert::{decode_body, encode_body};
use super::*;
use crate::proto;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);
const MS: Duration = Duration::from_millis(1);

/// The receiver's clock in every test: 2026-12-01T09:00:00Z.
const NOW: Timestamp = Timestamp(1_796_115_600_000);

/// The identity point: a small-order key under which `R = identity, s = 0` "verifies" for
/// every message with lenient verification.
const IDENTITY: [u8; 32] = {
    let mut k = [0u8; 32];
    k[0] = 1;
    k
};

/// `(0, -1)`, the point of order 2.
const ORDER_TWO: [u8; 32] = {
    let mut k = [0xFF; 32];
    k[0] = 0xEC;
    k[31] = 0x7F;
    k
};

/// y = 2 is on neither Edwards curve twist we use: no x satisfies the curve equation.
const NOT_A_POINT: [u8; 32] = {
    let mut k = [0u8; 32];
    k[0] = 2;
    k
};

/// The Ed25519 group order L, little-endian.
const GROUP_ORDER: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

// ---------------------------------------------------------------------------------------------
// Fictional authors and valid bodies.

/// The Confederation of Eastland Workers, the author of most test messages.
fn eastland() -> SecretKey {
    SecretKey::from_seed(&[0xE1; 32])
}

/// The Northland Transport Union.
fn northland() -> SecretKey {
    SecretKey::from_seed(&[0x4E; 32])
}

/// The Westland Garment Workers' Union.
fn westland() -> SecretKey {
    SecretKey::from_seed(&[0x57; 32])
}

/// The key the Confederation of Eastland Workers carries on with after a revocation.
fn eastland_successor() -> SecretKey {
    SecretKey::from_seed(&[0xE2; 32])
}

/// The id of an earlier alert that updates, cancels, endorsements and translations name.
fn earlier_alert() -> Id {
    Id::of(b"an earlier alert by the Confederation of Eastland Workers")
}

fn info(language: &str, headline: &str, description: &str) -> Info {
    Info {
        language: language.into(),
        headline: headline.into(),
        description: description.into(),
        instruction: "Write to the Minister of the Interior of Eastland and ask for their release."
            .into(),
        link: "https://eastland-workers.example/arrests?case=4".into(),
    }
}

fn alert() -> Alert {
    Alert {
        status: Status::Actual,
        category: Category::Arrest,
        urgency: Urgency::Immediate,
        severity: Severity::Severe,
        certainty: Certainty::Observed,
        info: vec![
            info(
                "en",
                "Four members of the Confederation of Eastland Workers arrested",
                "Police detained four shop stewards at the Eastport docks at dawn.\n\
                 They have not been charged.",
            ),
            info(
                "fr",
                "Quatre membres de la Confédération des travailleurs d'Eastland arrêtés",
                "La police a arrêté quatre délégués syndicaux aux docks d'Eastport.",
            ),
        ],
    }
}

fn call() -> ActionCall {
    let mut base = alert();
    base.category = Category::UnionBusting;
    base.urgency = Urgency::Expected;
    base.info.truncate(1);
    ActionCall {
        base,
        actions: vec![ActionType::Letter, ActionType::IloObservation],
        target: "the Minister of Labour of the Republic of Eastland".into(),
        window_starts_at: Some(NOW.plus(DAY)),
        window_ends_at: Some(NOW.plus(30 * DAY)),
        deadline: Some(NOW.plus(60 * DAY)),
        ilo_conventions: vec!["C087".into(), "C098".into()],
        supervisory_body: Some(SupervisoryBody::Ceacr),
        goals: vec![
            Goal {
                measure: Measure::Letters,
                target: 3000,
                currency: String::new(),
            },
            Goal {
                measure: Measure::Organisations,
                target: 20,
                currency: String::new(),
            },
        ],
    }
}

/// The content of a valid message of `kind`.
fn content(kind: Kind) -> Content {
    match kind {
        Kind::Alert => Content::Alert(alert()),
        Kind::Call => Content::Call(call()),
        Kind::Update => Content::Update(Update {
            supersedes: earlier_alert(),
            content: UpdateContent::Alert(Alert {
                urgency: Urgency::Past,
                ..alert()
            }),
        }),
        Kind::Cancel => Content::Cancel(Cancel {
            target: earlier_alert(),
            reason: "The four stewards were released without charge.".into(),
        }),
        Kind::Endorsement => Content::Endorsement(Endorsement {
            target: earlier_alert(),
            statement: "The Northland Transport Union stands with the Eastport dockers.".into(),
        }),
        Kind::Translation => Content::Translation(Translation {
            target: earlier_alert(),
            info: vec![info(
                "es",
                "Cuatro miembros de la Confederación de Trabajadores de Eastland detenidos",
                "La policía detuvo a cuatro delegados sindicales en el puerto de Eastport.",
            )],
        }),
        Kind::Profile => Content::Profile(Profile {
            name: "Confederation of Eastland Workers".into(),
            country: "AQ".into(),
            website: "https://eastland-workers.example/".into(),
            description: "The national trade union centre of Eastland, founded 1921.".into(),
        }),
        Kind::Roster => Content::Roster(Roster {
            members: vec![
                RosterMember {
                    key: northland().public(),
                    name: "Northland Transport Union".into(),
                    country: "BV".into(),
                },
                RosterMember {
                    key: westland().public(),
                    name: "Westland Garment Workers' Union".into(),
                    country: String::new(),
                },
            ],
        }),
        Kind::Revocation => Content::Revocation(Revocation {
            revoked_from: NOW.minus(HOUR),
            successor: Some(eastland_successor().public()),
            reason: "The general secretary's laptop was seized.".into(),
        }),
        Kind::Report => Content::Report(ActionReport {
            target: earlier_alert(),
            counts: vec![
                Count {
                    measure: Measure::Letters,
                    value: 340,
                    currency: String::new(),
                },
                Count {
                    measure: Measure::Donations,
                    value: 1200,
                    currency: "EUR".into(),
                },
            ],
            filings: vec![Filing {
                body: SupervisoryBody::Ceacr,
                filed_at: NOW.minus(DAY),
                reference: "observations on C087".into(),
            }],
            as_of: Some(NOW.minus(HOUR)),
            statement: "Our members wrote 340 letters to the Presidential Administration.".into(),
            evidence: "https://northland-transport.example/eastport-letters".into(),
        }),
        Kind::Commitment => Content::Commitment(RecoveryCommitment {
            recovery_digest: recovery_digest(&northland().public()),
        }),
        // Signed by the body's author as the recovery key of Westland's key.
        Kind::Rotation => Content::Rotation(Box::new(Rotation {
            compromised: westland().public(),
            compromised_since: NOW.minus(DAY),
            successor: eastland_successor().public(),
            successor_recovery_digest: recovery_digest(&northland().public()),
            reason: "The general secretary's phone was taken at a checkpoint.".into(),
        })),
        // A newer version's kind, in a field number no kind of this version has.
        Kind::Unknown => Content::Unknown(UnknownKind {
            field: 90,
            value: b"\x0a\x05hello".to_vec(),
        }),
    }
}

/// A valid body of `kind` by the Confederation of Eastland Workers, created five minutes
/// before [`NOW`].
fn body(kind: Kind) -> Body {
    let created_at = NOW.minus(5 * MINUTE);
    Body {
        author: eastland().public(),
        created_at,
        expires_at: (!kind.is_key_event()).then(|| created_at.plus(30 * DAY)),
        topics: vec!["union-rights".into(), "dockers".into()],
        countries: vec!["AQ".into()],
        effective_at: None,
        content: content(kind),
    }
}

/// A valid body of `kind`, changed by `f`.
fn body_with(kind: Kind, f: impl FnOnce(&mut Body)) -> Body {
    let mut b = body(kind);
    f(&mut b);
    b
}

fn alert_mut(b: &mut Body) -> &mut Alert {
    match &mut b.content {
        Content::Alert(a) => a,
        Content::Call(c) => &mut c.base,
        other => panic!("not an alert or call: {other:?}"),
    }
}

fn call_mut(b: &mut Body) -> &mut ActionCall {
    match &mut b.content {
        Content::Call(c) => c,
        other => panic!("not a call: {other:?}"),
    }
}

fn first_info(b: &mut Body) -> &mut Info {
    &mut alert_mut(b).info[0]
}

fn report_mut(b: &mut Body) -> &mut ActionReport {
    match &mut b.content {
        Content::Report(r) => r,
        other => panic!("not a report: {other:?}"),
    }
}

fn count(measure: Measure, value: u64, currency: &str) -> Count {
    Count {
        measure,
        value,
        currency: currency.into(),
    }
}

fn goal(measure: Measure, target: u64, currency: &str) -> Goal {
    Goal {
        measure,
        target,
        currency: currency.into(),
    }
}

/// The bytes of a body of a kind this version does not know, built by hand: the common fields
/// of a valid alert's body (prost's encoding, without its content), then each of `fields` as a
/// length-delimited field `(number, value)`.
fn newer_kind_bytes(fields: &[(u32, &[u8])]) -> Vec<u8> {
    newer_kind_bytes_with(|_| {}, fields)
}

/// [`newer_kind_bytes`] with the common fields changed by `f` first.
fn newer_kind_bytes_with(
    f: impl FnOnce(&mut proto::MessageBody),
    fields: &[(u32, &[u8])],
) -> Vec<u8> {
    use prost::encoding::{WireType, encode_key, encode_varint};
    let mut wire = proto::MessageBody::from(&body(Kind::Alert));
    wire.content = None;
    f(&mut wire);
    let mut bytes = wire.encode_to_vec();
    for (field, value) in fields {
        encode_key(*field, WireType::LengthDelimited, &mut bytes);
        encode_varint(value.len() as u64, &mut bytes);
        bytes.extend_from_slice(value);
    }
    bytes
}

/// What a newer version might carry in its new kind: a nested message (a poll's question and
/// two options), which this version never reads.
const NEWER_KIND_VALUE: &[u8] = b"\x0a\x1bWhich day for the stoppage?\x12\x06Monday\x12\x06Friday";

// ---------------------------------------------------------------------------------------------
// Signing and refusing.

/// Signs a body with its author's key, as an author does.
fn sign(body: Body, key: &SecretKey) -> SignedMessage {
    Message::sign(body, key)
        .expect("the body names the key's author")
        .signed()
        .clone()
}

/// Signs arbitrary body bytes (hand-built protobuf) with the domain prefix.
fn sign_bytes(bytes: Vec<u8>, key: &SecretKey) -> SignedMessage {
    let signature = key.sign(&bytes);
    SignedMessage::new(Bytes::from(bytes), &signature).expect("within the size limit")
}

fn reason<T: Debug>(result: Result<T, Rejection>) -> Reason {
    result.expect_err("expected a refusal").reason
}

/// Why nodes refuse `body` signed by the Confederation of Eastland Workers at [`NOW`], after
/// checking that the author's own `validate` gives the same answer before signing.
fn refusal(body: Body) -> Reason {
    let before = validate(&body, NOW).map_err(|r| r.reason);
    let on_node = reason(Message::open(sign(body, &eastland()), NOW));
    assert_eq!(
        before,
        Err(on_node),
        "validate before signing and Message::open disagree"
    );
    on_node
}

/// Why nodes refuse a hand-built protobuf body signed by the Confederation of Eastland Workers.
fn wire_refusal(wire: proto::MessageBody) -> Reason {
    reason(Message::open(
        sign_bytes(wire.encode_to_vec(), &eastland()),
        NOW,
    ))
}

/// The protobuf form of a valid body of `kind`, changed by `f`.
fn wire_with(kind: Kind, f: impl FnOnce(&mut proto::MessageBody)) -> proto::MessageBody {
    let mut wire = proto::MessageBody::from(&body(kind));
    f(&mut wire);
    wire
}

fn wire_alert(w: &mut proto::MessageBody) -> &mut proto::Alert {
    match &mut w.content {
        Some(proto::message_body::Content::Alert(a)) => a,
        other => panic!("not an alert: {other:?}"),
    }
}

fn opens(body: Body) {
    validate(&body, NOW).expect("validate accepts it");
    Message::open(sign(body, &eastland()), NOW).expect("nodes accept it");
}

fn flip_bit(bytes: &mut [u8], bit: usize) {
    bytes[bit / 8] ^= 1 << (bit % 8);
}

// ---------------------------------------------------------------------------------------------
// One test per rejection code the message core gives.

/// Whether the message core itself gives this reason. Exhaustive, so a new reason does not
/// compile until someone decides where it belongs (and, if here, writes its test below).
fn given_by_core(reason: Reason) -> bool {
    match reason {
        Reason::Malformed
        | Reason::TooLarge
        | Reason::TooLong
        | Reason::TooMany
        | Reason::MissingField
        | Reason::BadSignature
        | Reason::BadKey
        | Reason::WeakKey
        | Reason::Expired
        | Reason::FromFuture
        | Reason::BadLifetime
        | Reason::BadTime
        | Reason::BadLanguage
        | Reason::BadLink
        | Reason::BadTopic
        | Reason::BadCountry
        | Reason::BadReference
        | Reason::BadValue
        | Reason::BadCount => true,
        // Node-level: trust policy, revocations, the store and the ingest pipeline.
        Reason::RevokedAuthor
        | Reason::Backdated
        | Reason::RecoveryCommitted
        | Reason::NotAdmitted
        | Reason::DeniedAuthor
        | Reason::NotAuthor
        | Reason::Replayed
        | Reason::RateLimited
        | Reason::Unavailable => false,
    }
}

#[test]
fn the_core_gives_nineteen_codes() {
    let core: Vec<_> = Reason::ALL
        .into_iter()
        .filter(|r| given_by_core(*r))
        .map(Reason::code)
        .collect();
    assert_eq!(
        core,
        [
            "malformed",
            "too-large",
            "too-long",
            "too-many",
            "missing-field",
            "bad-signature",
            "bad-key",
            "weak-key",
            "expired",
            "from-future",
            "bad-lifetime",
            "bad-time",
            "bad-language",
            "bad-link",
            "bad-topic",
            "bad-country",
            "bad-reference",
            "bad-value",
            "bad-count",
        ]
    );
}

#[test]
fn malformed() {
    // Not protobuf at all: an over-long varint.
    let garbage = sign_bytes(vec![0xFF; 16], &eastland());
    assert_eq!(reason(Checked::open(garbage, NOW)), Reason::Malformed);

    // A valid body cut short in the middle of its content.
    let mut cut = encode_body(&body(Kind::Alert));
    cut.truncate(cut.len() - 3);
    assert_eq!(
        reason(Message::open(sign_bytes(cut, &eastland()), NOW)),
        Reason::Malformed
    );

    // A signature that is not 64 bytes.
    let body = Bytes::from(encode_body(&body(Kind::Alert)));
    assert_eq!(
        reason(SignedMessage::new(body.clone(), &[0; 63])),
        Reason::Malformed
    );
    assert_eq!(
        reason(SignedMessage::new(body.clone(), &[0; 65])),
        Reason::Malformed
    );
    assert_eq!(reason(SignedMessage::new(body, &[])), Reason::Malformed);

    // A file that is not a SignedMessage.
    assert_eq!(
        reason(SignedMessage::decode(b"\x0a\xff\xff\xff\xff\x0f")),
        Reason::Malformed
    );

    // A closed enum with a value this version does not know.
    let unknown_status = wire_with(Kind::Alert, |w| wire_alert(w).status = 42);
    assert_eq!(wire_refusal(unknown_status), Reason::Malformed);
    let unknown_urgency = wire_with(Kind::Alert, |w| wire_alert(w).urgency = 42);
    assert_eq!(wire_refusal(unknown_urgency), Reason::Malformed);
}

#[test]
fn too_large() {
    let over = Bytes::from(vec![0u8; limits::MAX_BODY_BYTES + 1]);
    assert_eq!(
        reason(SignedMessage::new(over.clone(), &[0; 64])),
        Reason::TooLarge
    );
    // At the limit is not too large (it is refused later, as garbage).
    let at = Bytes::from(vec![0u8; limits::MAX_BODY_BYTES]);
    SignedMessage::new(at, &[0; 64]).expect("a body at the limit passes the size check");

    // Through the wire form: small enough wrapper, body one byte over.
    let wire = proto::SignedMessage {
        body: over,
        signature: Bytes::from_static(&[0; 64]),
    };
    assert_eq!(
        reason(SignedMessage::decode(&wire.encode_to_vec())),
        Reason::TooLarge
    );
    // Larger than any message could be: refused before decoding.
    let huge = vec![0u8; limits::MAX_BODY_BYTES + 1024];
    assert_eq!(reason(SignedMessage::decode(&huge)), Reason::TooLarge);

    // An author cannot sign a body over the limit either: five 16 KiB descriptions.
    let big = body_with(Kind::Alert, |b| {
        alert_mut(b).info = ["en", "fr", "es", "de", "it"]
            .into_iter()
            .map(|l| Info {
                description: "d".repeat(limits::MAX_DESCRIPTION),
                ..info(l, "A long report", "")
            })
            .collect();
    });
    assert!(
        validate(&big, NOW).is_ok(),
        "every field is within its own limit"
    );
    assert_eq!(reason(Message::sign(big, &eastland())), Reason::TooLarge);
}

#[test]
fn too_long() {
    let at = limits::MAX_HEADLINE;
    opens(body_with(Kind::Alert, |b| {
        first_info(b).headline = "h".repeat(at)
    }));
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| first_info(b).headline = "h".repeat(at + 1))),
        Reason::TooLong
    );
    // Limits are in bytes of UTF-8: 129 two-byte letters are 258 bytes.
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| first_info(b).headline = "ə".repeat(129))),
        Reason::TooLong
    );
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| first_info(b).description =
            "d".repeat(limits::MAX_DESCRIPTION + 1))),
        Reason::TooLong
    );
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| {
            first_info(b).link = format!(
                "https://eastland-workers.example/{}",
                "a".repeat(limits::MAX_LINK)
            )
        })),
        Reason::TooLong
    );
    assert_eq!(
        refusal(body_with(Kind::Call, |b| call_mut(b).target =
            "t".repeat(limits::MAX_NAME + 1))),
        Reason::TooLong
    );
    assert_eq!(
        refusal(body_with(Kind::Cancel, |b| {
            let Content::Cancel(c) = &mut b.content else {
                unreachable!()
            };
            c.reason = "r".repeat(limits::MAX_STATEMENT + 1);
        })),
        Reason::TooLong
    );
}

#[test]
fn too_many() {
    let topics = |n: usize| (0..n).map(|i| format!("topic-{i}")).collect::<Vec<_>>();
    opens(body_with(Kind::Alert, |b| {
        b.topics = topics(limits::MAX_TOPICS)
    }));
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| b.topics = topics(limits::MAX_TOPICS + 1))),
        Reason::TooMany
    );
    assert_eq!(
        refusal(body_with(Kind::Call, |b| call_mut(b).actions =
            vec![ActionType::Letter; limits::MAX_ACTIONS + 1])),
        Reason::TooMany
    );
    let languages = |n: usize| {
        (0..n)
            .map(|i| info(&format!("en-x-{i}"), "Headline", "Description"))
            .collect::<Vec<_>>()
    };
    opens(body_with(Kind::Alert, |b| {
        alert_mut(b).info = languages(limits::MAX_INFO)
    }));
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| alert_mut(b).info =
            languages(limits::MAX_INFO + 1))),
        Reason::TooMany
    );
    // Keys are distinct; the list is counted before anything else about it.
    assert_eq!(
        refusal(body_with(Kind::Roster, |b| {
            b.content = Content::Roster(Roster {
                members: (0..=limits::MAX_ROSTER_MEMBERS)
                    .map(|i| RosterMember {
                        key: SecretKey::from_seed(&Sha256::digest(i.to_le_bytes()).into()).public(),
                        name: String::new(),
                        country: String::new(),
                    })
                    .collect(),
            })
        })),
        Reason::TooMany
    );
}

#[test]
fn missing_field() {
    // Required fields absent from the wire.
    assert_eq!(
        wire_refusal(wire_with(Kind::Alert, |w| w.author.clear())),
        Reason::MissingField
    );
    assert_eq!(
        wire_refusal(wire_with(Kind::Alert, |w| w.created_at = 0)),
        Reason::MissingField
    );
    assert_eq!(
        wire_refusal(wire_with(Kind::Alert, |w| w.expires_at = 0)),
        Reason::MissingField
    );
    assert_eq!(
        wire_refusal(wire_with(Kind::Alert, |w| w.content = None)),
        Reason::MissingField
    );
    assert_eq!(
        wire_refusal(wire_with(Kind::Alert, |w| wire_alert(w).info.clear())),
        Reason::MissingField
    );
    assert_eq!(
        wire_refusal(wire_with(Kind::Alert, |w| wire_alert(w).category = 0)),
        Reason::MissingField
    );
    assert_eq!(
        wire_refusal(wire_with(Kind::Cancel, |w| {
            w.content = Some(proto::message_body::Content::Cancel(proto::Cancel {
                target: Vec::new(),
                reason: String::new(),
            }))
        })),
        Reason::MissingField
    );
    assert_eq!(
        wire_refusal(wire_with(Kind::Update, |w| {
            w.content = Some(proto::message_body::Content::Update(proto::Update {
                supersedes: earlier_alert().0.to_vec(),
                content: None,
            }))
        })),
        Reason::MissingField
    );
    // Required text that is empty or blank.
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| first_info(b).headline = " \t ".into())),
        Reason::MissingField
    );
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| first_info(b)
            .description
            .clear())),
        Reason::MissingField
    );
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| first_info(b).language.clear())),
        Reason::MissingField
    );
    assert_eq!(
        refusal(body_with(Kind::Profile, |b| {
            b.content = Content::Profile(Profile::default())
        })),
        Reason::MissingField
    );
}

/// Regression: `validate` is what an author runs before signing, so it must refuse what
/// every node's decoder refuses, even for a body built by hand rather than decoded.
#[test]
fn validate_refuses_what_decoding_refuses() {
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| b.expires_at = None)),
        Reason::MissingField
    );
    assert_eq!(
        refusal(body_with(Kind::Call, |b| call_mut(b).actions.clear())),
        Reason::MissingField
    );
    assert_eq!(
        refusal(body_with(Kind::Revocation, |b| b.created_at = Timestamp(0))),
        Reason::MissingField
    );
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| b.effective_at = Some(Timestamp(0)))),
        Reason::MissingField
    );
    assert_eq!(
        refusal(body_with(Kind::Revocation, |b| b.expires_at = Some(NOW.plus(DAY)))),
        Reason::BadLifetime
    );
    assert_eq!(
        refusal(body_with(Kind::Revocation, |b| {
            let Content::Revocation(r) = &mut b.content else {
                unreachable!()
            };
            r.revoked_from = Timestamp(0);
        })),
        Reason::MissingField
    );
    // A report's times: zero is no time on the wire, so no decoder reads one back.
    assert_eq!(
        refusal(body_with(Kind::Report, |b| report_mut(b).as_of = Some(Timestamp(0)))),
        Reason::MissingField
    );
    assert_eq!(
        refusal(body_with(Kind::Report, |b| report_mut(b).filings[0]
            .filed_at = Timestamp(0))),
        Reason::MissingField
    );
}

#[test]
fn bad_signature() {
    let key = eastland();
    let body_bytes = encode_body(&body(Kind::Alert));

    // The right domain prefix, as ed25519-dalek computes it directly: accepted.
    let dalek = SigningKey::from_bytes(&key.seed());
    let mut prefixed = SIGNING_DOMAIN.to_vec();
    prefixed.extend_from_slice(&body_bytes);
    let good = dalek.sign(&prefixed).to_bytes();
    assert_eq!(good, key.sign(&body_bytes));
    let signed = SignedMessage::new(Bytes::from(body_bytes.clone()), &good).unwrap();
    Message::open(signed, NOW).expect("a signature over the domain prefix and body verifies");

    // The body alone, without "tocsin/v1/message\0".
    let bare = dalek.sign(&body_bytes).to_bytes();
    let signed = SignedMessage::new(Bytes::from(body_bytes.clone()), &bare).unwrap();
    assert_eq!(reason(Message::open(signed, NOW)), Reason::BadSignature);

    // Another protocol's domain.
    let mut other = b"tocsin/v2/message\0".to_vec();
    other.extend_from_slice(&body_bytes);
    let wrong_domain = dalek.sign(&other).to_bytes();
    let signed = SignedMessage::new(Bytes::from(body_bytes.clone()), &wrong_domain).unwrap();
    assert_eq!(reason(Message::open(signed, NOW)), Reason::BadSignature);

    // Signed by another key than the author's. The cheap checks pass; verification does not.
    let forged = sign_bytes(body_bytes.clone(), &northland());
    let checked = Checked::open(forged.clone(), NOW).expect("the body itself is valid");
    assert_eq!(reason(checked.verify()), Reason::BadSignature);
    assert_eq!(reason(Message::open(forged, NOW)), Reason::BadSignature);

    // All zeros.
    let zeros = SignedMessage::new(Bytes::from(body_bytes.clone()), &[0; 64]).unwrap();
    assert_eq!(reason(Message::open(zeros, NOW)), Reason::BadSignature);

    // Malleated: s + L is the same signature to a lenient verifier, but not canonical.
    let mut malleated = good;
    let mut carry = 0u16;
    for (s, l) in malleated[32..].iter_mut().zip(GROUP_ORDER) {
        let sum = u16::from(*s) + u16::from(l) + carry;
        *s = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "s + L fits in 32 bytes");
    let signed = SignedMessage::new(Bytes::from(body_bytes.clone()), &malleated).unwrap();
    assert_eq!(reason(Message::open(signed, NOW)), Reason::BadSignature);

    // An author cannot sign a body naming another author.
    assert_eq!(
        reason(Message::sign(body(Kind::Alert), &northland())),
        Reason::BadSignature
    );
}

#[test]
fn bad_key() {
    assert_eq!(
        reason(AuthorKey::from_slice(&NOT_A_POINT)),
        Reason::BadKey,
        "y = 2 is not on the curve"
    );
    assert_eq!(
        wire_refusal(wire_with(Kind::Alert, |w| w.author = NOT_A_POINT.to_vec())),
        Reason::BadKey
    );
    assert_eq!(
        wire_refusal(wire_with(Kind::Alert, |w| w.author.truncate(31))),
        Reason::BadKey
    );
    assert_eq!(
        wire_refusal(wire_with(Kind::Alert, |w| w.author.push(0))),
        Reason::BadKey
    );
    assert_eq!(
        wire_refusal(wire_with(Kind::Roster, |w| {
            let Some(proto::message_body::Content::Roster(r)) = &mut w.content else {
                unreachable!()
            };
            r.members[0].key = NOT_A_POINT.to_vec();
        })),
        Reason::BadKey
    );
    assert_eq!(
        wire_refusal(wire_with(Kind::Revocation, |w| {
            let Some(proto::message_body::Content::Revocation(r)) = &mut w.content else {
                unreachable!()
            };
            r.successor = vec![0xAB; 16];
        })),
        Reason::BadKey
    );
    assert_eq!(reason("not hex".parse::<AuthorKey>()), Reason::BadKey);
}

#[test]
fn weak_key() {
    for weak in [IDENTITY, ORDER_TWO, [0u8; 32]] {
        assert!(VerifyingKey::from_bytes(&weak).unwrap().is_weak());
        assert_eq!(reason(AuthorKey::from_slice(&weak)), Reason::WeakKey);
    }

    // A body in the name of the identity point, with the universal forgery R = identity,
    // s = 0. A lenient verifier accepts it; nodes must refuse it before they get that far.
    let mut wire = proto::MessageBody::from(&body(Kind::Alert));
    wire.author = IDENTITY.to_vec();
    let bytes = wire.encode_to_vec();
    let mut forgery = [0u8; 64];
    forgery[..32].copy_from_slice(&IDENTITY);
    let mut covered = SIGNING_DOMAIN.to_vec();
    covered.extend_from_slice(&bytes);
    VerifyingKey::from_bytes(&IDENTITY)
        .unwrap()
        .verify(&covered, &ed25519_dalek::Signature::from_bytes(&forgery))
        .expect("the forgery passes lenient verification");
    let signed = SignedMessage::new(Bytes::from(bytes), &forgery).unwrap();
    assert_eq!(reason(Checked::open(signed.clone(), NOW)), Reason::WeakKey);
    assert_eq!(reason(Message::open(signed, NOW)), Reason::WeakKey);

    // Keys inside bodies are held to the same rule.
    assert_eq!(
        wire_refusal(wire_with(Kind::Roster, |w| {
            let Some(proto::message_body::Content::Roster(r)) = &mut w.content else {
                unreachable!()
            };
            r.members[1].key = ORDER_TWO.to_vec();
        })),
        Reason::WeakKey
    );
    assert_eq!(
        wire_refusal(wire_with(Kind::Revocation, |w| {
            let Some(proto::message_body::Content::Revocation(r)) = &mut w.content else {
                unreachable!()
            };
            r.successor = IDENTITY.to_vec();
        })),
        Reason::WeakKey
    );
}

#[test]
fn expired() {
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| b.expires_at = Some(NOW))),
        Reason::Expired
    );
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| {
            b.created_at = NOW.minus(10 * DAY);
            b.expires_at = Some(NOW.minus(DAY));
        })),
        Reason::Expired
    );
    opens(body_with(Kind::Alert, |b| {
        b.expires_at = Some(NOW.plus(MS))
    }));

    // The same signed message, opened before and after its expiry.
    let signed = sign(body(Kind::Endorsement), &eastland());
    Message::open(signed.clone(), NOW).unwrap();
    assert_eq!(
        reason(Message::open(signed, NOW.plus(31 * DAY))),
        Reason::Expired
    );
}

#[test]
fn from_future() {
    let limit = NOW.plus(limits::MAX_FUTURE_SKEW);
    opens(body_with(Kind::Alert, |b| b.created_at = limit));
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| b.created_at = limit.plus(MS))),
        Reason::FromFuture
    );
    assert_eq!(
        refusal(body_with(Kind::Revocation, |b| b.created_at = NOW.plus(DAY))),
        Reason::FromFuture
    );
}

#[test]
fn a_message_from_the_future_opens_from_valid_from_on() {
    let ahead = body_with(Kind::Alert, |b| b.created_at = NOW.plus(DAY));
    let at = valid_from(&ahead);
    assert_eq!(at, NOW.plus(DAY).minus(limits::MAX_FUTURE_SKEW));
    let signed = sign(ahead, &eastland());
    assert_eq!(
        reason(Message::open(signed.clone(), at.minus(MS))),
        Reason::FromFuture
    );
    Message::open(signed, at).expect("valid from then on");
}

/// Found by the fuzzer (fuzz/, target `open_signed`): a `created_at` after the year 9999 made the
/// from-future refusal panic while writing its detail, since RFC 3339 has four-digit years.
/// The first file is the fuzzer's crash, a damaged golden cancel; the second is the same fault
/// minimised by hand: a revocation created at 10000-01-01T00:00:00Z, with a zero signature
/// (validation comes before verification).
#[test]
fn fuzz_regression_a_created_at_after_the_year_9999_is_refused_without_a_panic() {
    let crash = "0ab8010a2003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531\
                 b8108098fae89fa8f5803418bca934220c756e696f6e2d7269676874732a0241516a740a\
                 2067e9b7b103493ca901ab26091db8d7daa2f3738621c1864a8ce9227aa0646ef8125054\
                 686520666f75722073686f7020737465776172647320776572652072656c656173656420\
                 776974686f7574206368617267652e205468616e6b20796f7520666f7220796f7572206c\
                 6574746572732e12402b1c4a63d9b475320dcbd24020b8ce1b3328731e540484e79ba50d\
                 5f1ddc8664125531b81080e0e0bf9f3418332143deeeb00821eac750caafc82b5d5fff89\
                 0f";
    let minimised = "0a2f0a2003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8\
                     1080b8ff90fdce3992010208011240000000000000000000000000000000000000000000\
                     000000000000000000000000000000000000000000000000000000000000000000000000\
                     00000000000000";
    for file in [crash, minimised] {
        let signed = SignedMessage::decode(&hex::decode(file).unwrap()).unwrap();
        assert_eq!(reason(Message::open(signed, NOW)), Reason::FromFuture);
    }
}

#[test]
fn bad_lifetime() {
    let created = NOW.minus(5 * MINUTE);
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| b.expires_at = Some(b.created_at))),
        Reason::BadLifetime
    );
    opens(body_with(Kind::Alert, |b| {
        b.expires_at = Some(created.plus(180 * DAY))
    }));
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| {
            b.expires_at = Some(created.plus(180 * DAY + MS))
        })),
        Reason::BadLifetime
    );
    // A call must outlive an ILO supervisory cycle.
    opens(body_with(Kind::Call, |b| {
        b.expires_at = Some(created.plus(400 * DAY))
    }));
    assert_eq!(
        refusal(body_with(Kind::Call, |b| {
            b.expires_at = Some(created.plus(400 * DAY + MS))
        })),
        Reason::BadLifetime
    );
    // An update of an alert is held to the alert's limit.
    assert_eq!(
        refusal(body_with(Kind::Update, |b| {
            b.expires_at = Some(created.plus(181 * DAY))
        })),
        Reason::BadLifetime
    );
    // A revocation never expires.
    assert_eq!(
        wire_refusal(wire_with(Kind::Revocation, |w| {
            w.expires_at = NOW.plus(DAY).0
        })),
        Reason::BadLifetime
    );
}

#[test]
fn bad_time() {
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| b.effective_at = b.expires_at)),
        Reason::BadTime
    );
    opens(body_with(Kind::Alert, |b| {
        b.effective_at = b.expires_at.map(|t| t.minus(MS))
    }));
    assert_eq!(
        refusal(body_with(Kind::Call, |b| {
            let c = call_mut(b);
            c.window_starts_at = Some(NOW.plus(2 * DAY));
            c.window_ends_at = Some(NOW.plus(DAY));
        })),
        Reason::BadTime
    );
}

#[test]
fn bad_language() {
    for tag in ["en_GB", "englishlanguage", "e", "en-", "ru-\u{0444}", "12"] {
        let b = body_with(Kind::Alert, |b| first_info(b).language = tag.into());
        assert_eq!(refusal(b), Reason::BadLanguage, "{tag:?}");
    }
    // Two blocks in one language, whatever the case.
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| {
            let a = alert_mut(b);
            a.info[0].language = "pt-BR".into();
            a.info[1].language = "pt-br".into();
        })),
        Reason::BadLanguage
    );
    assert_eq!(
        refusal(body_with(Kind::Translation, |b| {
            let Content::Translation(t) = &mut b.content else {
                unreachable!()
            };
            t.info[0].language = "es_ES".into();
        })),
        Reason::BadLanguage
    );
}

#[test]
fn bad_link() {
    for link in [
        "http://eastland-workers.example/arrests",
        "https://",
        "https://organiser@eastland-workers.example/",
        "https://eastland-workers.example/a b",
        "https://eastland-wörkers.example/",
        "javascript:alert(1)",
        "eastland-workers.example",
    ] {
        let b = body_with(Kind::Alert, |b| first_info(b).link = link.into());
        assert_eq!(refusal(b), Reason::BadLink, "{link:?}");
    }
    assert_eq!(
        refusal(body_with(Kind::Profile, |b| {
            let Content::Profile(p) = &mut b.content else {
                unreachable!()
            };
            p.website = "ftp://eastland-workers.example/".into();
        })),
        Reason::BadLink
    );
    opens(body_with(Kind::Alert, |b| first_info(b).link.clear()));
}

#[test]
fn bad_topic() {
    let long = "a".repeat(limits::MAX_TOPIC_LEN + 1);
    for topic in [
        "Union-Rights",
        "union_rights",
        "union rights",
        "",
        "-union",
        "union-",
        "union--rights",
        "syndicalisme-é",
        long.as_str(),
    ] {
        let b = body_with(Kind::Alert, |b| b.topics = vec![topic.into()]);
        assert_eq!(refusal(b), Reason::BadTopic, "{topic:?}");
    }
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| b.topics =
            vec!["dockers".into(), "dockers".into()])),
        Reason::BadTopic
    );
    opens(body_with(Kind::Alert, |b| {
        b.topics = vec!["a".repeat(limits::MAX_TOPIC_LEN), "c087-2026".into()]
    }));
}

#[test]
fn bad_country() {
    for country in ["UK", "aq", "EU", "AQA", "", "Eastland"] {
        let b = body_with(Kind::Alert, |b| b.countries = vec![country.into()]);
        assert_eq!(refusal(b), Reason::BadCountry, "{country:?}");
    }
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| b.countries =
            vec!["AQ".into(), "BV".into(), "AQ".into()])),
        Reason::BadCountry
    );
    assert_eq!(
        refusal(body_with(Kind::Profile, |b| {
            let Content::Profile(p) = &mut b.content else {
                unreachable!()
            };
            p.country = "Eastland".into();
        })),
        Reason::BadCountry
    );
    assert_eq!(
        refusal(body_with(Kind::Roster, |b| {
            let Content::Roster(r) = &mut b.content else {
                unreachable!()
            };
            r.members[0].country = "bv".into();
        })),
        Reason::BadCountry
    );
}

#[test]
fn bad_reference() {
    use proto::message_body::Content as W;
    let short = earlier_alert().0[..31].to_vec();
    let long = [earlier_alert().0.as_slice(), &[0]].concat();
    assert_eq!(
        wire_refusal(wire_with(Kind::Cancel, |w| {
            w.content = Some(W::Cancel(proto::Cancel {
                target: short.clone(),
                reason: String::new(),
            }))
        })),
        Reason::BadReference
    );
    assert_eq!(
        wire_refusal(wire_with(Kind::Update, |w| {
            let Some(W::Update(u)) = &mut w.content else {
                unreachable!()
            };
            u.supersedes = long.clone();
        })),
        Reason::BadReference
    );
    assert_eq!(
        wire_refusal(wire_with(Kind::Endorsement, |w| {
            w.content = Some(W::Endorsement(proto::Endorsement {
                target: vec![7; 16],
                statement: String::new(),
            }))
        })),
        Reason::BadReference
    );
    assert_eq!(
        wire_refusal(wire_with(Kind::Translation, |w| {
            let Some(W::Translation(t)) = &mut w.content else {
                unreachable!()
            };
            t.target = short.clone();
        })),
        Reason::BadReference
    );
}

#[test]
fn bad_value() {
    for conv in ["87", "C87", "c087", "C0870", "R190", "C08a"] {
        let b = body_with(Kind::Call, |b| {
            call_mut(b).ilo_conventions = vec![conv.into()]
        });
        assert_eq!(refusal(b), Reason::BadValue, "{conv:?}");
    }
    opens(body_with(Kind::Call, |b| {
        call_mut(b).ilo_conventions = vec!["P029".into(), "C190".into()]
    }));
    assert_eq!(
        refusal(body_with(Kind::Call, |b| call_mut(b).ilo_conventions =
            vec!["C087".into(), "C087".into()])),
        Reason::BadValue
    );
    // A headline is one line.
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| first_info(b).headline =
            "Four arrested\nat the docks".into())),
        Reason::BadValue
    );
    // A bidirectional override would make the text read differently from what was signed.
    assert_eq!(
        refusal(body_with(Kind::Alert, |b| first_info(b).description =
            "Released \u{202E}degrahc ton".into())),
        Reason::BadValue
    );
    assert_eq!(
        refusal(body_with(Kind::Cancel, |b| {
            let Content::Cancel(c) = &mut b.content else {
                unreachable!()
            };
            c.reason = "bell \u{7}".into();
        })),
        Reason::BadValue
    );
    assert_eq!(
        refusal(body_with(Kind::Call, |b| call_mut(b).target =
            "the Minister\nof Labour".into())),
        Reason::BadValue
    );
    assert_eq!(
        refusal(body_with(Kind::Roster, |b| {
            let Content::Roster(r) = &mut b.content else {
                unreachable!()
            };
            r.members[1].key = r.members[0].key;
        })),
        Reason::BadValue
    );
    assert_eq!(
        refusal(body_with(Kind::Revocation, |b| {
            let Content::Revocation(r) = &mut b.content else {
                unreachable!()
            };
            r.successor = Some(eastland().public());
        })),
        Reason::BadValue
    );
}

// ---------------------------------------------------------------------------------------------
// Action reports and goals: each refusal on its own.

#[test]
fn the_valid_report_and_call_with_goals_open() {
    opens(body(Kind::Report));
    opens(body(Kind::Call));
    // Filings alone count something; so do counts alone; as_of may be created_at itself.
    opens(body_with(Kind::Report, |b| report_mut(b).counts.clear()));
    opens(body_with(Kind::Report, |b| {
        let r = report_mut(b);
        r.filings.clear();
        r.as_of = None;
    }));
    opens(body_with(Kind::Report, |b| {
        let created_at = b.created_at;
        let r = report_mut(b);
        r.as_of = Some(created_at);
        r.filings[0].filed_at = created_at;
    }));
    // A count of zero says "nothing yet", which is a report too.
    opens(body_with(Kind::Report, |b| {
        report_mut(b).counts = vec![count(Measure::Letters, 0, "")]
    }));
}

#[test]
fn bad_count_a_report_that_counts_nothing() {
    assert_eq!(
        refusal(body_with(Kind::Report, |b| {
            let r = report_mut(b);
            r.counts.clear();
            r.filings.clear();
        })),
        Reason::BadCount
    );
}

#[test]
fn bad_count_observations_given_as_a_count() {
    assert_eq!(
        refusal(body_with(Kind::Report, |b| report_mut(b)
            .counts
            .push(count(Measure::Observations, 3, "")))),
        Reason::BadCount
    );
}

#[test]
fn bad_count_organisations_given_as_a_count() {
    assert_eq!(
        refusal(body_with(Kind::Report, |b| report_mut(b)
            .counts
            .push(count(Measure::Organisations, 12, "")))),
        Reason::BadCount
    );
}

#[test]
fn bad_count_a_measure_counted_twice() {
    assert_eq!(
        refusal(body_with(Kind::Report, |b| report_mut(b)
            .counts
            .push(count(Measure::Letters, 12, "")))),
        Reason::BadCount
    );
}

#[test]
fn bad_count_a_filing_given_twice() {
    // The same body, date and reference again; another reference is another filing.
    let again = |reference: Option<&str>| {
        body_with(Kind::Report, |b| {
            let r = report_mut(b);
            let mut f = r.filings[0].clone();
            if let Some(text) = reference {
                f.reference = text.into();
            }
            r.filings.push(f);
        })
    };
    assert_eq!(refusal(again(None)), Reason::BadCount);
    opens(again(Some("Case No. 4321, second complaint")));
}

#[test]
fn bad_count_a_currency_counted_twice() {
    // Donations in two currencies are two counts…
    opens(body_with(Kind::Report, |b| {
        report_mut(b)
            .counts
            .push(count(Measure::Donations, 800, "USD"))
    }));
    // …but the same currency twice is one count given twice.
    assert_eq!(
        refusal(body_with(Kind::Report, |b| report_mut(b)
            .counts
            .push(count(Measure::Donations, 800, "EUR")))),
        Reason::BadCount
    );
}

#[test]
fn bad_count_donations_without_a_currency() {
    assert_eq!(
        refusal(body_with(Kind::Report, |b| report_mut(b).counts =
            vec![count(Measure::Donations, 1200, "")])),
        Reason::BadCount
    );
}

#[test]
fn bad_count_donations_in_a_currency_that_is_no_code() {
    for currency in ["eur", "EURO", "EU", "E1R", "€", "EÜR"] {
        assert_eq!(
            refusal(body_with(Kind::Report, |b| report_mut(b).counts =
                vec![count(Measure::Donations, 1200, currency)])),
            Reason::BadCount,
            "{currency:?}"
        );
    }
}

#[test]
fn bad_count_a_currency_on_letters() {
    assert_eq!(
        refusal(body_with(Kind::Report, |b| report_mut(b).counts =
            vec![count(Measure::Letters, 340, "EUR")])),
        Reason::BadCount
    );
}

#[test]
fn bad_count_a_count_beyond_the_bound() {
    opens(body_with(Kind::Report, |b| {
        report_mut(b).counts = vec![count(Measure::Signatures, limits::MAX_COUNT, "")]
    }));
    assert_eq!(
        refusal(body_with(Kind::Report, |b| report_mut(b).counts =
            vec![count(Measure::Signatures, limits::MAX_COUNT + 1, "")])),
        Reason::BadCount
    );
    assert_eq!(
        refusal(body_with(Kind::Report, |b| report_mut(b).counts =
            vec![count(Measure::Strikers, u64::MAX, "")])),
        Reason::BadCount
    );
}

#[test]
fn bad_count_a_measure_this_version_does_not_know() {
    let with_count_measure = |n: i32| {
        wire_with(Kind::Report, |w| {
            let Some(proto::message_body::Content::Report(r)) = &mut w.content else {
                unreachable!()
            };
            r.counts[0].measure = n;
        })
    };
    // A new measure is a new protocol version: every node must add up the same things.
    assert_eq!(wire_refusal(with_count_measure(42)), Reason::BadCount);
    assert_eq!(wire_refusal(with_count_measure(-1)), Reason::BadCount);
    // Zero is no measure at all.
    assert_eq!(wire_refusal(with_count_measure(0)), Reason::MissingField);

    let with_goal_measure = |n: i32| {
        wire_with(Kind::Call, |w| {
            let Some(proto::message_body::Content::Call(c)) = &mut w.content else {
                unreachable!()
            };
            c.goals[0].measure = n;
        })
    };
    assert_eq!(wire_refusal(with_goal_measure(42)), Reason::BadCount);
    assert_eq!(wire_refusal(with_goal_measure(0)), Reason::MissingField);
}

#[test]
fn bad_count_a_goal_of_zero() {
    assert_eq!(
        refusal(body_with(Kind::Call, |b| call_mut(b).goals[0].target = 0)),
        Reason::BadCount
    );
}

#[test]
fn bad_count_a_measure_with_two_goals() {
    assert_eq!(
        refusal(body_with(Kind::Call, |b| call_mut(b).goals.push(goal(
            Measure::Letters,
            5000,
            ""
        )))),
        Reason::BadCount
    );
    // Per currency for donations.
    opens(body_with(Kind::Call, |b| {
        call_mut(b).goals.extend([
            goal(Measure::Donations, 5000, "EUR"),
            goal(Measure::Donations, 5000, "USD"),
        ])
    }));
    assert_eq!(
        refusal(body_with(Kind::Call, |b| call_mut(b).goals.extend([
            goal(Measure::Donations, 5000, "EUR"),
            goal(Measure::Donations, 9000, "EUR"),
        ]))),
        Reason::BadCount
    );
}

#[test]
fn bad_count_goals_follow_the_rules_of_counts() {
    // Beyond the bound, a currency missing or misplaced.
    for bad in [
        goal(Measure::Letters, limits::MAX_COUNT + 1, ""),
        goal(Measure::Donations, 5000, ""),
        goal(Measure::Donations, 5000, "euro"),
        goal(Measure::Signatures, 5000, "EUR"),
    ] {
        assert_eq!(
            refusal(body_with(Kind::Call, |b| call_mut(b).goals = vec![bad.clone()])),
            Reason::BadCount,
            "{bad:?}"
        );
    }
    // Unlike a count, a goal may aim at observations and at organisations.
    opens(body_with(Kind::Call, |b| {
        call_mut(b).goals = vec![
            goal(Measure::Observations, 20, ""),
            goal(Measure::Organisations, 20, ""),
        ]
    }));
}

#[test]
fn bad_count_in_the_goals_of_an_update() {
    let update_with_goals = |goals: Vec<Goal>| {
        body_with(Kind::Update, |b| {
            let Content::Update(u) = &mut b.content else {
                unreachable!()
            };
            u.content = UpdateContent::Call(ActionCall { goals, ..call() });
        })
    };
    opens(update_with_goals(vec![goal(Measure::Letters, 6000, "")]));
    assert_eq!(
        refusal(update_with_goals(vec![goal(Measure::Letters, 0, "")])),
        Reason::BadCount
    );
}

#[test]
fn bad_time_a_report_as_of_after_it_was_made() {
    assert_eq!(
        refusal(body_with(Kind::Report, |b| {
            let later = b.created_at.plus(MS);
            report_mut(b).as_of = Some(later);
        })),
        Reason::BadTime
    );
}

#[test]
fn bad_time_a_filing_after_the_report_was_made() {
    assert_eq!(
        refusal(body_with(Kind::Report, |b| {
            let later = b.created_at.plus(MS);
            report_mut(b).filings[0].filed_at = later;
        })),
        Reason::BadTime
    );
}

#[test]
fn too_many_counts_filings_or_goals() {
    let letters = |n: usize| vec![count(Measure::Letters, 1, ""); n];
    assert_eq!(
        refusal(body_with(Kind::Report, |b| report_mut(b).counts =
            letters(limits::MAX_COUNTS + 1))),
        Reason::TooMany
    );
    let filing = report_mut(&mut body(Kind::Report)).filings[0].clone();
    // Each filing once (another reference is another filing).
    let filings = |n: usize| -> Vec<Filing> {
        (0..n)
            .map(|i| Filing {
                reference: format!("Case No. {i}"),
                ..filing.clone()
            })
            .collect()
    };
    opens(body_with(Kind::Report, |b| {
        report_mut(b).filings = filings(limits::MAX_FILINGS)
    }));
    assert_eq!(
        refusal(body_with(Kind::Report, |b| report_mut(b).filings =
            filings(limits::MAX_FILINGS + 1))),
        Reason::TooMany
    );
    assert_eq!(
        refusal(body_with(Kind::Call, |b| call_mut(b).goals =
            vec![goal(Measure::Letters, 1, ""); limits::MAX_COUNTS + 1])),
        Reason::TooMany
    );
}

#[test]
fn a_report_s_text_target_and_evidence_are_checked() {
    assert_eq!(
        refusal(body_with(Kind::Report, |b| report_mut(b).statement =
            "s".repeat(limits::MAX_STATEMENT + 1))),
        Reason::TooLong
    );
    assert_eq!(
        refusal(body_with(Kind::Report, |b| report_mut(b).filings[0]
            .reference =
            "r".repeat(limits::MAX_NAME + 1))),
        Reason::TooLong
    );
    assert_eq!(
        refusal(body_with(Kind::Report, |b| report_mut(b).evidence =
            "http://northland-transport.example/letters".into())),
        Reason::BadLink
    );
    let with_target = |target: Vec<u8>| {
        wire_with(Kind::Report, |w| {
            let Some(proto::message_body::Content::Report(r)) = &mut w.content else {
                unreachable!()
            };
            r.target = target;
        })
    };
    assert_eq!(wire_refusal(with_target(Vec::new())), Reason::MissingField);
    assert_eq!(wire_refusal(with_target(vec![7; 31])), Reason::BadReference);
    let with_filing_body = wire_with(Kind::Report, |w| {
        let Some(proto::message_body::Content::Report(r)) = &mut w.content else {
            unreachable!()
        };
        r.filings[0].body = 0;
    });
    assert_eq!(wire_refusal(with_filing_body), Reason::MissingField);
    // A report lives as long as its call can.
    opens(body_with(Kind::Report, |b| {
        b.expires_at = Some(b.created_at.plus(400 * DAY))
    }));
    assert_eq!(
        refusal(body_with(Kind::Report, |b| b.expires_at =
            Some(b.created_at.plus(400 * DAY + MS)))),
        Reason::BadLifetime
    );
}

#[test]
fn reports_and_goals_round_trip() {
    let call_with_goals = body_with(Kind::Call, |b| {
        call_mut(b).goals = vec![
            goal(Measure::Letters, 3000, ""),
            goal(Measure::Donations, 5000, "EUR"),
            goal(Measure::Donations, 2000, "USD"),
            goal(Measure::Observations, 20, ""),
            goal(Measure::Organisations, 20, ""),
        ]
    });
    let report = body_with(Kind::Report, |b| {
        report_mut(b).filings.push(Filing {
            body: SupervisoryBody::Cfa,
            filed_at: NOW.minus(2 * DAY),
            reference: String::new(),
        })
    });
    for body in [call_with_goals, report, body(Kind::Report)] {
        let bytes = encode_body(&body);
        assert_eq!(decode_body(&bytes).unwrap(), body);
        let msg = Message::sign(body.clone(), &eastland()).unwrap();
        assert_eq!(msg.signed().body().as_ref(), bytes.as_slice());
        let opened = Message::open(msg.signed().clone(), NOW).unwrap();
        assert_eq!(opened.body(), &body);
        assert_eq!(opened.id(), Id::of(&bytes));
    }
}

// ---------------------------------------------------------------------------------------------
// A newer version's kind: stored and relayed verbatim once its common fields check out.

#[test]
fn a_newer_kind_opens_as_unknown_with_its_bytes_kept() {
    let bytes = newer_kind_bytes(&[(90, NEWER_KIND_VALUE)]);
    let signed = sign_bytes(bytes.clone(), &eastland());
    let msg = Message::open(signed, NOW).expect("a newer kind is accepted");
    assert_eq!(msg.kind(), Kind::Unknown);
    assert_eq!(
        msg.body().content,
        Content::Unknown(UnknownKind {
            field: 90,
            value: NEWER_KIND_VALUE.to_vec(),
        })
    );
    // The common fields are read as for any kind.
    let expected = body(Kind::Alert);
    assert_eq!(msg.body().author, expected.author);
    assert_eq!(msg.body().created_at, expected.created_at);
    assert_eq!(msg.body().expires_at, expected.expires_at);
    assert_eq!(msg.body().topics, expected.topics);
    assert_eq!(msg.body().countries, expected.countries);
    assert_eq!(msg.body().target(), None);
    assert!(msg.body().info().is_empty());
    // Verbatim: the id is over the author's bytes, and they come back out unchanged.
    assert_eq!(msg.signed().body().as_ref(), bytes.as_slice());
    assert_eq!(msg.id(), Id::of(&bytes));
    let again = SignedMessage::decode(&msg.signed().encode_to_vec()).unwrap();
    assert_eq!(again.body().as_ref(), bytes.as_slice());
    let stored = Message::from_store(again).unwrap();
    assert_eq!(stored.body(), msg.body());
    assert_eq!(stored.id(), msg.id());
    // decode(encode(body)) is the body, and here encode gives the very bytes.
    assert_eq!(encode_body(msg.body()), bytes);
    assert_eq!(decode_body(&encode_body(msg.body())).unwrap(), *msg.body());
}

#[test]
fn a_newer_kind_written_before_the_common_fields_is_kept_as_written() {
    use prost::encoding::{WireType, encode_key, encode_varint};
    let mut bytes = Vec::new();
    encode_key(90, WireType::LengthDelimited, &mut bytes);
    encode_varint(NEWER_KIND_VALUE.len() as u64, &mut bytes);
    bytes.extend_from_slice(NEWER_KIND_VALUE);
    let mut wire = proto::MessageBody::from(&body(Kind::Alert));
    wire.content = None;
    bytes.extend_from_slice(&wire.encode_to_vec());

    let msg = Message::open(sign_bytes(bytes.clone(), &eastland()), NOW).unwrap();
    assert_eq!(msg.kind(), Kind::Unknown);
    assert_eq!(msg.signed().body().as_ref(), bytes.as_slice());
    // This version would write the field last: re-encoding would change the id, which is why
    // no node ever re-encodes.
    assert_ne!(encode_body(msg.body()), bytes);
    assert_ne!(Id::of(&encode_body(msg.body())), msg.id());
    assert_eq!(decode_body(&encode_body(msg.body())).unwrap(), *msg.body());
}

#[test]
fn a_newer_kind_may_be_any_free_content_field_and_any_bytes() {
    for field in [22, 23, 55, 90, 99] {
        for value in [NEWER_KIND_VALUE, b"", b"\xff\xff\xff\xff", &[0u8; 300]] {
            let bytes = newer_kind_bytes(&[(field, value)]);
            let msg = Message::open(sign_bytes(bytes, &eastland()), NOW)
                .unwrap_or_else(|r| panic!("field {field}: {r}"));
            assert_eq!(
                msg.body().content,
                Content::Unknown(UnknownKind {
                    field,
                    value: value.to_vec()
                })
            );
        }
    }
    // Unknown fields outside the content range beside it are carried too.
    let mut bytes = newer_kind_bytes(&[(90, NEWER_KIND_VALUE)]);
    bytes.extend_from_slice(&[0xA2, 0x06, 5]);
    bytes.extend_from_slice(b"later");
    let msg = Message::open(sign_bytes(bytes.clone(), &eastland()), NOW).unwrap();
    assert_eq!(msg.kind(), Kind::Unknown);
    assert_eq!(msg.signed().body().as_ref(), bytes.as_slice());
}

#[test]
fn a_newer_kind_is_held_to_the_common_rules() {
    let with_wire = |f: fn(&mut proto::MessageBody)| {
        let bytes = newer_kind_bytes_with(f, &[(90, NEWER_KIND_VALUE)]);
        reason(Message::open(sign_bytes(bytes, &eastland()), NOW))
    };
    assert_eq!(
        with_wire(|w| w.topics = vec!["Not A Slug".into()]),
        Reason::BadTopic
    );
    assert_eq!(
        with_wire(|w| w.countries = vec!["ZZZ".into()]),
        Reason::BadCountry
    );
    assert_eq!(with_wire(|w| w.expires_at = 0), Reason::MissingField);
    assert_eq!(with_wire(|w| w.author.clear()), Reason::MissingField);
    assert_eq!(
        with_wire(|w| w.expires_at = NOW.minus(MINUTE).0),
        Reason::Expired
    );
    assert_eq!(
        with_wire(|w| w.created_at = NOW.plus(HOUR).0),
        Reason::FromFuture
    );
    // The longest lifetime of any kind that expires: 730 days.
    assert_eq!(
        with_wire(|w| w.expires_at = w.created_at + (730 * DAY).as_millis() as u64 + 1),
        Reason::BadLifetime
    );
    opens_unknown(body_with(Kind::Unknown, |b| {
        b.expires_at = Some(b.created_at.plus(730 * DAY))
    }));
    // Signed by another key than its author's.
    let bytes = newer_kind_bytes(&[(90, NEWER_KIND_VALUE)]);
    assert_eq!(
        reason(Message::open(sign_bytes(bytes, &northland()), NOW)),
        Reason::BadSignature
    );
}

/// Opens a body of a newer kind signed by its author (the [`opens`] of this section).
fn opens_unknown(body: Body) {
    assert_eq!(body.kind(), Kind::Unknown);
    opens(body);
}

#[test]
fn too_large_a_newer_kind_beyond_32_kib() {
    let at = vec![b'x'; limits::MAX_UNKNOWN_KIND_BYTES];
    let msg = Message::open(sign_bytes(newer_kind_bytes(&[(90, &at)]), &eastland()), NOW)
        .expect("at the bound");
    assert_eq!(msg.kind(), Kind::Unknown);
    let over = vec![b'x'; limits::MAX_UNKNOWN_KIND_BYTES + 1];
    assert_eq!(
        reason(Message::open(
            sign_bytes(newer_kind_bytes(&[(90, &over)]), &eastland()),
            NOW
        )),
        Reason::TooLarge
    );
    // The same rule before signing, for a body built in memory.
    assert_eq!(
        refusal(body_with(Kind::Unknown, |b| {
            b.content = Content::Unknown(UnknownKind {
                field: 90,
                value: over.clone(),
            })
        })),
        Reason::TooLarge
    );
}

#[test]
fn malformed_two_newer_kinds_in_one_body() {
    assert_eq!(
        reason(Message::open(
            sign_bytes(
                newer_kind_bytes(&[(90, NEWER_KIND_VALUE), (91, NEWER_KIND_VALUE)]),
                &eastland()
            ),
            NOW
        )),
        Reason::Malformed
    );
    // One field given twice is two contents too.
    assert_eq!(
        reason(Message::open(
            sign_bytes(
                newer_kind_bytes(&[(90, NEWER_KIND_VALUE), (90, b"")]),
                &eastland()
            ),
            NOW
        )),
        Reason::Malformed
    );
    // A known kind beside another kind, known or not, in either order: protobuf would keep
    // the last and say nothing, and the signed bytes would carry a content no reader sees.
    let alert = proto::MessageBody::from(&body(Kind::Alert)).encode_to_vec();
    let call = proto::MessageBody::from(&body(Kind::Call)).encode_to_vec();
    let profile = proto::MessageBody::from(&body(Kind::Profile)).encode_to_vec();
    for bytes in [
        [
            alert.as_slice(),
            &newer_kind_bytes(&[(90, NEWER_KIND_VALUE)]),
        ]
        .concat(),
        newer_kind_bytes(&[(90, NEWER_KIND_VALUE)])
            .into_iter()
            .chain(alert.iter().copied())
            .collect(),
        [alert.as_slice(), &call].concat(),
        [call.as_slice(), &alert].concat(),
        [alert.as_slice(), &profile].concat(),
        [alert.as_slice(), &alert].concat(),
    ] {
        let signed = sign_bytes(bytes, &eastland());
        assert_eq!(
            reason(Message::open(signed.clone(), NOW)),
            Reason::Malformed
        );
        // One a store took before this version refused them is read as then, not taken for
        // damage.
        Message::from_store(signed).expect("read back as before");
    }
    // A length that runs past the body.
    let mut cut = newer_kind_bytes(&[(90, NEWER_KIND_VALUE)]);
    cut.truncate(cut.len() - 1);
    assert_eq!(
        reason(Message::open(sign_bytes(cut, &eastland()), NOW)),
        Reason::Malformed
    );
}

/// Regression: `validate` refused no field number, so a body built by hand as a "newer kind"
/// in a known kind's field (or outside the content fields) signed into bytes that read back as
/// another body.
#[test]
fn malformed_a_newer_kind_in_a_field_that_is_not_free() {
    let in_field = |field: u32| {
        body_with(Kind::Unknown, |b| {
            b.content = Content::Unknown(UnknownKind {
                field,
                value: Vec::new(),
            })
        })
    };
    // 10 (alert) to 21 (rotation) are this version's kinds; 0 to 9 and 100 up are no kinds.
    for field in [0, 1, 9, 10, 11, 18, 19, 20, 21, 100, u32::MAX] {
        assert_eq!(
            reason(validate(&in_field(field), NOW)),
            Reason::Malformed,
            "field {field}"
        );
    }
    for field in [22, 99] {
        opens_unknown(in_field(field));
    }
}

#[test]
fn missing_field_a_body_with_no_kind_at_all() {
    // Nothing after the common fields.
    assert_eq!(
        reason(Message::open(
            sign_bytes(newer_kind_bytes(&[]), &eastland()),
            NOW
        )),
        Reason::MissingField
    );
    // An unknown field outside the content range is an unknown field, not a kind: before it
    // (7 to 9) or beyond it (100 and up).
    for field in [7, 9, 100, 1000] {
        assert_eq!(
            reason(Message::open(
                sign_bytes(newer_kind_bytes(&[(field, NEWER_KIND_VALUE)]), &eastland()),
                NOW
            )),
            Reason::MissingField,
            "field {field}"
        );
    }
    // A content field is length-delimited: a number in the range is no kind.
    let mut varint = newer_kind_bytes(&[]);
    varint.extend_from_slice(&[0xD0, 0x05, 42]); // field 90, varint 42
    assert_eq!(
        reason(Message::open(sign_bytes(varint, &eastland()), NOW)),
        Reason::MissingField
    );
}

#[test]
fn a_kind_filter_never_selects_a_newer_kind() {
    let newer = body(Kind::Unknown);
    assert!(Filter::default().matches(&newer), "no filter: delivered");
    let every_known = Filter {
        kinds: Kind::ALL.to_vec(),
        ..Filter::default()
    };
    assert!(!every_known.matches(&newer));
    assert!(every_known.matches(&body(Kind::Alert)));
    // Nor can one be named: "unknown" is no kind a reader may ask for.
    assert_eq!(Kind::parse("unknown"), None);
    assert!(!Kind::ALL.contains(&Kind::Unknown));
}

// ---------------------------------------------------------------------------------------------
// Valid messages.

#[test]
fn every_kind_signs_opens_verifies_and_round_trips() {
    let key = eastland();
    // A newer version's kind too: this version never authors one, but tests build them so.
    for kind in Kind::ALL.into_iter().chain([Kind::Unknown]) {
        let body = body(kind);
        validate(&body, NOW).unwrap_or_else(|r| panic!("{kind}: {r}"));
        let msg = Message::sign(body.clone(), &key).unwrap();
        assert_eq!(msg.kind(), kind);
        assert_eq!(msg.author(), &key.public());
        let signed = msg.signed().clone();
        assert_eq!(signed.id(), msg.id());
        assert_eq!(
            signed.id().0,
            <[u8; 32]>::from(Sha256::digest(signed.body()))
        );
        key.public()
            .verify(signed.body(), signed.signature())
            .unwrap();

        let checked = Checked::open(signed.clone(), NOW).unwrap();
        assert_eq!(checked.body(), &body);
        assert_eq!(checked.id(), msg.id());
        assert_eq!(checked.signed(), &signed);
        let verified = checked.verify().unwrap();
        assert_eq!(verified.body(), &body, "{kind}");

        let opened = Message::open(signed.clone(), NOW).unwrap();
        assert_eq!(opened.body(), &body);
        assert_eq!(opened.id(), msg.id());

        let wire = SignedMessage::decode(&signed.encode_to_vec()).unwrap();
        assert_eq!(wire, signed);

        let stored = SignedMessage::from_trusted_parts(
            signed.body().clone(),
            *signed.signature(),
            signed.id(),
        );
        let back = Message::from_store(stored).unwrap();
        assert_eq!(back.body(), &body);
        assert_eq!(back.signed(), &signed);
        assert_eq!(back.id(), msg.id());
    }
}

#[test]
fn from_store_applies_no_time_rules() {
    let signed = sign(body(Kind::Alert), &eastland());
    let much_later = NOW.plus(365 * DAY);
    assert_eq!(
        reason(Message::open(signed.clone(), much_later)),
        Reason::Expired
    );
    let back = Message::from_store(signed).unwrap();
    assert_eq!(back.body(), &body(Kind::Alert));
}

#[test]
fn a_revocation_never_expires() {
    let b = body(Kind::Revocation);
    assert_eq!(b.expires_at, None);
    assert_eq!(max_lifetime(Kind::Revocation), None);
    let signed = sign(b.clone(), &eastland());
    let wire = proto::MessageBody::decode(signed.body().as_ref()).unwrap();
    assert_eq!(wire.expires_at, 0, "no expiry on the wire");
    for later in [NOW, NOW.plus(DAY), NOW.plus(10 * 365 * DAY + HOUR)] {
        let msg = Message::open(signed.clone(), later).unwrap();
        assert_eq!(msg.body(), &b);
    }
}

#[test]
fn an_embargoed_message_is_accepted_and_marked() {
    let b = body_with(Kind::Call, |b| b.effective_at = Some(NOW.plus(HOUR)));
    let msg = Message::open(sign(b, &eastland()), NOW).unwrap();
    assert!(msg.body().embargoed_at(NOW));
    assert!(msg.body().embargoed_at(NOW.plus(HOUR).minus(MS)));
    assert!(!msg.body().embargoed_at(NOW.plus(HOUR)));
    assert!(!body(Kind::Call).embargoed_at(NOW));
    // A revocation is a security action: never held back, whatever its effective_at.
    let r = body_with(Kind::Revocation, |b| b.effective_at = Some(NOW.plus(HOUR)));
    assert!(!r.embargoed_at(NOW));
}

#[test]
fn unknown_fields_are_accepted_and_kept() {
    let original = body(Kind::Alert);
    let mut bytes = encode_body(&original);
    // Field 99, varint 42; then field 100, a string, as a later version might add.
    bytes.extend_from_slice(&[0x98, 0x06, 42]);
    bytes.extend_from_slice(&[0xA2, 0x06, 5]);
    bytes.extend_from_slice(b"later");

    let signed = sign_bytes(bytes.clone(), &eastland());
    let msg = Message::open(signed, NOW).expect("unknown fields are accepted");
    assert_eq!(msg.body(), &original);
    assert_eq!(msg.signed().body().as_ref(), bytes.as_slice());
    assert_eq!(msg.id().0, <[u8; 32]>::from(Sha256::digest(&bytes)));
    // Re-encoding the decoded body would drop them and change the id: hence the kept bytes.
    assert_ne!(Id::of(&encode_body(msg.body())), msg.id());

    // They survive the wire form and the store.
    let again = SignedMessage::decode(&msg.signed().encode_to_vec()).unwrap();
    assert_eq!(again.body().as_ref(), bytes.as_slice());
    assert_eq!(again.id(), msg.id());
    let stored = Message::from_store(again).unwrap();
    assert_eq!(stored.id(), msg.id());
}

#[test]
fn an_unknown_category_reads_as_other_but_an_unknown_status_is_malformed() {
    let later_category = wire_with(Kind::Alert, |w| wire_alert(w).category = 42);
    let msg = Message::open(sign_bytes(later_category.encode_to_vec(), &eastland()), NOW)
        .expect("an open set");
    let Content::Alert(a) = &msg.body().content else {
        unreachable!()
    };
    assert_eq!(a.category, Category::Other);

    // Actions and supervisory bodies are open sets too.
    let later_action = wire_with(Kind::Call, |w| {
        let Some(proto::message_body::Content::Call(c)) = &mut w.content else {
            unreachable!()
        };
        c.actions = vec![ActionType::Petition.number(), 42];
        c.supervisory_body = 42;
    });
    let msg = Message::open(sign_bytes(later_action.encode_to_vec(), &eastland()), NOW).unwrap();
    let Content::Call(c) = &msg.body().content else {
        unreachable!()
    };
    assert_eq!(c.actions, [ActionType::Petition, ActionType::Other]);
    assert_eq!(c.supervisory_body, Some(SupervisoryBody::Other));

    let later_status = wire_with(Kind::Alert, |w| wire_alert(w).status = 42);
    assert_eq!(wire_refusal(later_status), Reason::Malformed);
}

// ---------------------------------------------------------------------------------------------
// Filters.

#[test]
fn the_empty_filter_matches_everything() {
    let f = Filter::default();
    assert!(f.is_empty());
    for kind in Kind::ALL {
        assert!(f.matches(&body(kind)), "{kind}");
    }
}

#[test]
fn filter_by_author() {
    let f = Filter {
        authors: vec![northland().public(), eastland().public()],
        ..Filter::default()
    };
    assert!(!f.is_empty());
    assert!(f.matches(&body(Kind::Alert)));
    let by_westland = body_with(Kind::Alert, |b| b.author = westland().public());
    assert!(!f.matches(&by_westland));
}

#[test]
fn filter_by_kind() {
    let f = Filter {
        kinds: vec![Kind::Call, Kind::Cancel],
        ..Filter::default()
    };
    for kind in Kind::ALL {
        assert_eq!(
            f.matches(&body(kind)),
            matches!(kind, Kind::Call | Kind::Cancel),
            "{kind}"
        );
    }
}

#[test]
fn filter_by_topic() {
    let f = Filter {
        topics: vec!["garment-sector".into(), "dockers".into()],
        ..Filter::default()
    };
    assert!(f.matches(&body(Kind::Alert)));
    assert!(!f.matches(&body_with(Kind::Alert, |b| b.topics = vec!["union-rights".into()])));
    assert!(!f.matches(&body_with(Kind::Alert, |b| b.topics.clear())));
    // Topics match exactly, not by prefix.
    assert!(!f.matches(&body_with(Kind::Alert, |b| b.topics = vec!["dockers-strike".into()])));
}

#[test]
fn filter_by_country() {
    let f = Filter {
        countries: vec!["BV".into()],
        ..Filter::default()
    };
    assert!(!f.matches(&body(Kind::Alert)));
    assert!(f.matches(&body_with(Kind::Alert, |b| b.countries =
        vec!["AQ".into(), "BV".into()])));
    assert!(!f.matches(&body_with(Kind::Alert, |b| b.countries.clear())));
}

#[test]
fn filter_by_language() {
    let filter = |ranges: &[&str]| Filter {
        languages: ranges.iter().map(|r| r.to_string()).collect(),
        ..Filter::default()
    };
    let alert = body(Kind::Alert); // en, fr
    assert!(filter(&["fr"]).matches(&alert));
    assert!(filter(&["de", "EN"]).matches(&alert));
    assert!(!filter(&["es"]).matches(&alert));
    // Basic filtering: a range matches its more specific tags, not the other way round.
    let brazilian = body_with(Kind::Alert, |b| first_info(b).language = "pt-BR".into());
    assert!(filter(&["pt"]).matches(&brazilian));
    assert!(filter(&["pt-br"]).matches(&brazilian));
    assert!(!filter(&["pt-PT"]).matches(&brazilian));
    assert!(!filter(&["en-GB"]).matches(&alert));
    // A translation matches by its own languages; updates and calls carry theirs.
    assert!(filter(&["es"]).matches(&body(Kind::Translation)));
    assert!(filter(&["en"]).matches(&body(Kind::Update)));
    assert!(filter(&["en"]).matches(&body(Kind::Call)));
    // Messages without info blocks do not match a language filter, even "*".
    for kind in [
        Kind::Cancel,
        Kind::Endorsement,
        Kind::Profile,
        Kind::Roster,
        Kind::Revocation,
    ] {
        assert!(!filter(&["*"]).matches(&body(kind)), "{kind}");
    }
    assert!(filter(&["*"]).matches(&alert));
}

#[test]
fn filter_dimensions_combine_with_and() {
    let f = Filter {
        authors: vec![eastland().public()],
        kinds: vec![Kind::Alert],
        topics: vec!["dockers".into()],
        countries: vec!["AQ".into()],
        languages: vec!["fr".into()],
    };
    assert!(f.matches(&body(Kind::Alert)));
    assert!(!f.matches(&body(Kind::Call)));
    assert!(!f.matches(&body_with(Kind::Alert, |b| b.author = northland().public())));
    assert!(!f.matches(&body_with(Kind::Alert, |b| b.topics.clear())));
    assert!(!f.matches(&body_with(Kind::Alert, |b| b.countries = vec!["HM".into()])));
    assert!(!f.matches(&body_with(Kind::Alert, |b| alert_mut(b).info.truncate(1))));
}

// ---------------------------------------------------------------------------------------------
// Single-bit changes, exhaustively for one small message.

#[test]
fn every_single_bit_flip_of_a_cancel_is_refused() {
    let signed = sign(body(Kind::Cancel), &eastland());
    let body_bits = signed.body().len() * 8;
    let mut reasons = BTreeSet::new();
    for bit in 0..body_bits + 64 * 8 {
        let mut body = signed.body().to_vec();
        let mut signature = *signed.signature();
        if bit < body_bits {
            flip_bit(&mut body, bit);
        } else {
            flip_bit(&mut signature, bit - body_bits);
        }
        let changed = SignedMessage::new(Bytes::from(body), &signature).unwrap();
        assert_eq!(changed.id() == signed.id(), bit >= body_bits);
        let r = reason(Message::open(changed, NOW));
        if bit >= body_bits {
            assert_eq!(r, Reason::BadSignature, "signature bit {}", bit - body_bits);
        }
        reasons.insert(r);
    }
    // Most flips in the body still decode and fail at the signature; some break the body.
    assert!(reasons.contains(&Reason::BadSignature));
    assert!(reasons.len() > 1, "{reasons:?}");
}

// ---------------------------------------------------------------------------------------------
// Properties.

const LANGUAGES: &[&str] = &["en", "fr", "es", "az", "pt-BR", "sw", "ar", "zh-Hant"];
const COUNTRIES: &[&str] = &["AQ", "BV", "HM", "GS", "TF", "UM"];
const CONVENTIONS: &[&str] = &["C087", "C098", "C029", "P029", "C155", "C190"];

fn slug() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,12}(-[a-z0-9]{1,12}){0,3}"
}

/// One line, not blank, at most 61 characters (244 bytes) of non-control text.
fn headline() -> impl Strategy<Value = String> {
    "[A-Za-z0-9\u{0259}\u{0430}-\u{044F}\u{4E00}-\u{4E80}][\\PC]{0,60}"
}

/// Several lines of text, not blank.
fn description() -> impl Strategy<Value = String> {
    "[A-Za-z\u{00E9}\u{011F}][\\PC\n\t]{0,400}"
}

fn link() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "https://[a-z]{1,12}\\.example(/[a-z0-9._~-]{0,20}){0,3}(\\?[a-z]=[0-9]{1,4})?",
    ]
}

fn infos() -> impl Strategy<Value = Vec<Info>> {
    proptest::sample::subsequence(LANGUAGES, 1..=LANGUAGES.len()).prop_flat_map(|langs| {
        langs
            .into_iter()
            .map(|language| {
                (headline(), description(), "[\\PC\n]{0,80}", link()).prop_map(
                    move |(headline, description, instruction, link)| Info {
                        language: language.into(),
                        headline,
                        description,
                        instruction,
                        link,
                    },
                )
            })
            .collect::<Vec<_>>()
    })
}

fn any_alert() -> impl Strategy<Value = Alert> {
    (
        proptest::sample::select(Status::ALL),
        proptest::sample::select(Category::ALL),
        proptest::sample::select(Urgency::ALL),
        proptest::sample::select(Severity::ALL),
        proptest::sample::select(Certainty::ALL),
        infos(),
    )
        .prop_map(
            |(status, category, urgency, severity, certainty, info)| Alert {
                status,
                category,
                urgency,
                severity,
                certainty,
                info,
            },
        )
}

fn any_call() -> impl Strategy<Value = ActionCall> {
    let hours = || 0u64..=24 * 200;
    (
        any_alert(),
        proptest::collection::vec(
            proptest::sample::select(ActionType::ALL),
            1..=limits::MAX_ACTIONS,
        ),
        "[A-Za-z][A-Za-z ,.'-]{0,80}",
        proptest::option::of((hours(), hours())),
        proptest::option::of(hours()),
        proptest::sample::subsequence(CONVENTIONS, 0..=CONVENTIONS.len()),
        proptest::option::of(proptest::sample::select(SupervisoryBody::ALL)),
        any_goals(),
    )
        .prop_map(
            |(base, actions, target, window, deadline, conventions, supervisory_body, goals)| {
                let at = |h: u64| NOW.plus(Duration::from_secs(h * 3600));
                ActionCall {
                    base,
                    actions,
                    target,
                    window_starts_at: window.map(|(s, _)| at(s)),
                    window_ends_at: window.map(|(s, len)| at(s + len)),
                    deadline: deadline.map(at),
                    ilo_conventions: conventions.into_iter().map(String::from).collect(),
                    supervisory_body,
                    goals,
                }
            },
        )
}

const CURRENCIES: &[&str] = &["EUR", "USD", "AZN", "XOF"];

/// A value a count or goal may have: small ones mostly, and the bound.
fn any_value() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..=100_000, Just(limits::MAX_COUNT)]
}

/// Goals for a call: distinct measures, donations in distinct currencies, none zero.
fn any_goals() -> impl Strategy<Value = Vec<Goal>> {
    (
        proptest::sample::subsequence(Measure::ALL, 0..=Measure::ALL.len()),
        proptest::sample::subsequence(CURRENCIES, 1..=CURRENCIES.len()),
        proptest::collection::vec(any_value().prop_map(|v| v.max(1)), Measure::ALL.len() * 2),
    )
        .prop_map(|(measures, currencies, targets)| {
            let mut targets = targets.into_iter();
            let mut goals = Vec::new();
            for measure in measures {
                let in_currencies: Vec<&str> = match measure {
                    Measure::Donations => currencies.clone(),
                    _ => vec![""],
                };
                for currency in in_currencies {
                    goals.push(goal(measure, targets.next().unwrap_or(1), currency));
                }
            }
            goals
        })
}

/// An action report that counts something, with filings and as_of before any created_at
/// [`any_body`] makes.
fn any_report() -> impl Strategy<Value = ActionReport> {
    let countable: Vec<Measure> = Measure::ALL
        .iter()
        .copied()
        .filter(|m| m.countable() && *m != Measure::Donations)
        .collect();
    let filing = (
        proptest::sample::select(SupervisoryBody::ALL),
        0u64..=24 * 400,
        "[\\PC]{0,40}",
    )
        .prop_map(|(body, hours_before, reference)| Filing {
            body,
            filed_at: NOW.minus(DAY + Duration::from_secs(hours_before * 3600)),
            reference,
        });
    (
        any_id(),
        proptest::sample::subsequence(countable.clone(), 0..=countable.len()),
        proptest::sample::subsequence(CURRENCIES, 0..=CURRENCIES.len()),
        proptest::collection::vec(any_value(), countable.len() + CURRENCIES.len()),
        proptest::collection::vec(filing, 0..4),
        proptest::option::of(0u64..=24 * 30),
        statement(),
        link(),
    )
        .prop_filter(
            "a report counts something",
            |(_, measures, currencies, _, filings, ..)| {
                !(measures.is_empty() && currencies.is_empty() && filings.is_empty())
            },
        )
        .prop_map(
            |(target, measures, currencies, values, filings, as_of, statement, evidence)| {
                let counted = measures
                    .into_iter()
                    .map(|m| (m, ""))
                    .chain(currencies.into_iter().map(|c| (Measure::Donations, c)));
                let counts = counted
                    .zip(values)
                    .map(|((measure, currency), value)| count(measure, value, currency))
                    .collect();
                ActionReport {
                    target,
                    counts,
                    filings,
                    as_of: as_of.map(|hours| NOW.minus(DAY + Duration::from_secs(hours * 3600))),
                    statement,
                    evidence,
                }
            },
        )
}

/// A newer version's kind: a free content field (20 to 99) and any bytes.
fn any_unknown_kind() -> impl Strategy<Value = UnknownKind> {
    (22u32..=99, proptest::collection::vec(any::<u8>(), 0..256))
        .prop_map(|(field, value)| UnknownKind { field, value })
}

fn any_id() -> impl Strategy<Value = Id> {
    any::<[u8; 32]>().prop_map(Id)
}

fn statement() -> impl Strategy<Value = String> {
    "[\\PC\n]{0,120}"
}

/// The content of a message of any kind, valid for an author whose seed is `author`.
fn any_content(author: [u8; 32]) -> impl Strategy<Value = Content> {
    let other_key = move || {
        any::<[u8; 32]>()
            .prop_filter("not the author", move |s| *s != author)
            .prop_map(|s| SecretKey::from_seed(&s).public())
    };
    prop_oneof![
        any_alert().prop_map(Content::Alert),
        any_call().prop_map(Content::Call),
        (any_id(), any_alert()).prop_map(|(supersedes, a)| Content::Update(Update {
            supersedes,
            content: UpdateContent::Alert(a),
        })),
        (any_id(), any_call()).prop_map(|(supersedes, c)| Content::Update(Update {
            supersedes,
            content: UpdateContent::Call(c),
        })),
        (any_id(), statement())
            .prop_map(|(target, reason)| Content::Cancel(Cancel { target, reason })),
        (any_id(), statement()).prop_map(|(target, statement)| Content::Endorsement(Endorsement {
            target,
            statement
        })),
        (any_id(), infos())
            .prop_map(|(target, info)| Content::Translation(Translation { target, info })),
        (
            "[A-Za-z][\\PC]{0,80}",
            prop_oneof![
                Just(String::new()),
                proptest::sample::select(COUNTRIES).prop_map(String::from)
            ],
            link(),
            statement()
        )
            .prop_map(
                |(name, country, website, description)| Content::Profile(Profile {
                    name,
                    country,
                    website,
                    description
                })
            ),
        proptest::collection::btree_map(any::<[u8; 32]>(), "[\\PC]{0,40}", 0..8).prop_map(
            |members| Content::Roster(Roster {
                members: members
                    .into_iter()
                    .map(|(seed, name)| RosterMember {
                        key: SecretKey::from_seed(&seed).public(),
                        name,
                        country: String::new(),
                    })
                    .collect(),
            })
        ),
        (0u64..=1000, proptest::option::of(other_key()), statement()).prop_map(
            |(hours_ago, successor, reason)| Content::Revocation(Revocation {
                revoked_from: NOW.minus(Duration::from_secs(hours_ago * 3600)),
                successor,
                reason,
            })
        ),
        any_report().prop_map(Content::Report),
        any::<[u8; 32]>().prop_map(|recovery_digest| Content::Commitment(RecoveryCommitment {
            recovery_digest
        })),
        (
            other_key(),
            0u64..=1000,
            any::<[u8; 32]>(),
            any::<[u8; 32]>(),
            statement()
        )
            .prop_filter_map(
                "the successor is a new key",
                |(compromised, hours_ago, successor, digest, reason)| {
                    let successor = SecretKey::from_seed(&successor).public();
                    (successor != compromised && digest != recovery_digest(&successor)).then(|| {
                        Content::Rotation(Box::new(Rotation {
                            compromised,
                            compromised_since: NOW.minus(Duration::from_secs(hours_ago * 3600)),
                            successor,
                            successor_recovery_digest: digest,
                            reason,
                        }))
                    })
                }
            ),
        any_unknown_kind().prop_map(Content::Unknown),
    ]
}

/// An author's seed and a valid body of theirs, valid at [`NOW`].
fn any_body() -> impl Strategy<Value = ([u8; 32], Body)> {
    any::<[u8; 32]>().prop_flat_map(|seed| {
        (
            any_content(seed),
            proptest::collection::btree_set(slug(), 0..=limits::MAX_TOPICS),
            proptest::sample::subsequence(COUNTRIES, 0..=COUNTRIES.len()),
            // Created up to a day ago or up to ten minutes ahead.
            0u64..=(DAY + limits::MAX_FUTURE_SKEW).as_millis() as u64,
            // Lives long enough to outlast NOW, and no longer than an alert may.
            (2 * DAY).as_millis() as u64..=(180 * DAY).as_millis() as u64,
            proptest::option::of(any::<proptest::sample::Index>()),
        )
            .prop_map(
                move |(content, topics, countries, created, lifetime, embargo)| {
                    let created_at = Timestamp(NOW.minus(DAY).0 + created);
                    let never_expires = content.kind().is_key_event();
                    let body = Body {
                        author: SecretKey::from_seed(&seed).public(),
                        created_at,
                        expires_at: (!never_expires).then(|| Timestamp(created_at.0 + lifetime)),
                        topics: topics.into_iter().collect(),
                        countries: countries.into_iter().map(String::from).collect(),
                        effective_at: embargo.map(|i| {
                            Timestamp(created_at.0 + 1 + i.index(lifetime as usize - 1) as u64)
                        }),
                        content,
                    };
                    (seed, body)
                },
            )
    })
}

/// Every store on disk holds these numbers (records and the kind index): pinned one by one,
/// so a reordered, renamed or inserted kind cannot move them.
#[test]
fn kind_tags_are_the_numbers_stores_hold() {
    let pinned = [
        (Kind::Alert, 1),
        (Kind::Call, 2),
        (Kind::Update, 3),
        (Kind::Cancel, 4),
        (Kind::Endorsement, 5),
        (Kind::Translation, 6),
        (Kind::Profile, 7),
        (Kind::Roster, 8),
        (Kind::Revocation, 9),
        (Kind::Report, 10),
        (Kind::Unknown, 11),
        (Kind::Commitment, 12),
        (Kind::Rotation, 13),
    ];
    assert_eq!(
        pinned.len(),
        Kind::ALL.len() + 1,
        "a kind without a pinned tag"
    );
    for (kind, tag) in pinned {
        assert_eq!(kind.tag(), tag, "{kind}");
    }
}

#[test]
fn kind_tags_round_trip_and_no_other_byte_is_a_kind() {
    let mut tags = BTreeSet::new();
    for kind in Kind::ALL.into_iter().chain([Kind::Unknown]) {
        assert_eq!(Kind::from_tag(kind.tag()), Some(kind));
        assert!(tags.insert(kind.tag()), "{kind} shares its tag");
    }
    for byte in 0..=u8::MAX {
        if !tags.contains(&byte) {
            assert_eq!(Kind::from_tag(byte), None, "tag {byte}");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn prop_encode_then_decode_is_identity((_, body) in any_body()) {
        validate(&body, NOW).map_err(|r| TestCaseError::fail(r.to_string()))?;
        let bytes = encode_body(&body);
        prop_assert_eq!(decode_body(&bytes).unwrap(), body.clone());
        // The bytes are prost's own encoding of the wire form, so it re-encodes them exactly;
        // a newer version's kind is no field prost knows, so it is written after them.
        let wire = proto::MessageBody::decode(bytes.as_slice()).unwrap();
        let known = wire.encode_to_vec();
        match &body.content {
            Content::Unknown(u) => {
                prop_assert!(bytes.starts_with(&known));
                let mut field = Vec::new();
                prost::encoding::encode_key(
                    u.field,
                    prost::encoding::WireType::LengthDelimited,
                    &mut field,
                );
                prost::encoding::encode_varint(u.value.len() as u64, &mut field);
                field.extend_from_slice(&u.value);
                prop_assert_eq!(&bytes[known.len()..], field.as_slice());
            }
            _ => prop_assert_eq!(known, bytes),
        }
    }

    #[test]
    fn prop_sign_then_open_round_trips((seed, body) in any_body()) {
        let key = SecretKey::from_seed(&seed);
        let msg = Message::sign(body.clone(), &key).unwrap();
        let signed = SignedMessage::decode(&msg.signed().encode_to_vec()).unwrap();
        prop_assert_eq!(&signed, msg.signed());
        let opened = Message::open(signed.clone(), NOW)
            .map_err(|r| TestCaseError::fail(r.to_string()))?;
        prop_assert_eq!(opened.body(), &body);
        prop_assert_eq!(opened.id(), Id::of(signed.body()));
        prop_assert_eq!(opened.author(), &key.public());
        prop_assert!(key.public().verify(signed.body(), signed.signature()).is_ok());
        let stored = Message::from_store(signed).unwrap();
        prop_assert_eq!(stored.body(), &body);
    }

    #[test]
    fn prop_any_single_bit_flip_is_refused(
        (seed, body) in any_body(),
        bit in any::<proptest::sample::Index>(),
    ) {
        let signed = sign(body, &SecretKey::from_seed(&seed));
        let mut bytes = signed.body().to_vec();
        let mut signature = *signed.signature();
        let body_bits = bytes.len() * 8;
        let bit = bit.index(body_bits + 64 * 8);
        if bit < body_bits {
            flip_bit(&mut bytes, bit);
        } else {
            flip_bit(&mut signature, bit - body_bits);
        }
        let changed = SignedMessage::new(Bytes::from(bytes), &signature).unwrap();
        let result = Message::open(changed, NOW);
        prop_assert!(result.is_err(), "bit {} of {} accepted", bit, body_bits + 512);
        if bit >= body_bits {
            prop_assert_eq!(result.unwrap_err().reason, Reason::BadSignature);
        }
    }

    #[test]
    fn prop_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        if let Ok(signed) = SignedMessage::decode(&bytes) {
            let _ = Message::from_store(signed.clone());
            let _ = Message::open(signed, NOW);
        }
    }

    #[test]
    fn prop_open_never_panics(
        body in proptest::collection::vec(any::<u8>(), 0..4096),
        signature in any::<[u8; 64]>(),
    ) {
        let signed = SignedMessage::new(Bytes::from(body), &signature).unwrap();
        let _ = Message::from_store(signed.clone());
        let _ = Checked::open(signed, NOW).map(Checked::verify);
    }

    /// Random bytes rarely get past the first tag; damage to a valid body reaches deeper.
    #[test]
    fn prop_open_never_panics_on_damaged_bodies(
        (seed, body) in any_body(),
        damage in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let signed = sign(body, &SecretKey::from_seed(&seed));
        let mut bytes = signed.body().to_vec();
        for (at, byte) in damage {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let changed = SignedMessage::new(Bytes::from(bytes), signed.signature()).unwrap();
        let _ = Message::from_store(changed.clone());
        let _ = Message::open(changed, NOW);
    }
}
