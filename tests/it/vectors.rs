//! Golden vectors for the wire format (`tests/vectors/v1.json`): fixed keys and fixed content
//! give exactly these body bytes, ids and signatures. They are a contract between
//! implementations; a change that breaks them is a new protocol version.
//!
//! The file was written by `write_vectors` below (ignored; it writes only when
//! `TOCSIN_WRITE_VECTORS=1`) and checked in; vectors are only ever added, never changed. `tests/vectors/check_vectors.py` checks it
//! independently of this crate. All organisations are fictional; the country codes are those
//! of uninhabited territories.
//!
//! Beside the vectors every node accepts, `invalid` holds signed messages every node refuses,
//! each with the reason code it must give: the signature is good, so the refusal is the
//! content's alone.

use std::time::Duration;

use prost::Message as _;
use serde::{Deserialize, Serialize};
use tocsin::message::tally::Reported;
use tocsin::message::{
    ActionCall, ActionReport, ActionType, Alert, AuthorKey, Body, Cancel, Category, Certainty,
    Checked, Content, Count, Filing, Id, Info, KIND_FIELDS, Measure, Message, RECOVERY_DOMAIN,
    Reason, RecoveryCommitment, Revocation, Rotation, SIGNING_DOMAIN, SecretKey, Severity,
    SignedMessage, Status, SupervisoryBody, Tally, Timestamp, UnknownKind, Urgency,
    recovery_digest,
};
use tocsin::proto;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/v1.json");

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);
const MINUTE: Duration = Duration::from_secs(60);

/// The file as stored.
#[derive(Debug, Serialize, Deserialize)]
struct VectorFile {
    /// What the file is, for a reader who finds it.
    about: String,
    /// `"tocsin/v1/message" || 0x00`, hex: what every signature covers before the body.
    signing_domain: String,
    vectors: Vec<Vector>,
    /// Signed messages every node refuses, each with its reason code.
    #[serde(default)]
    invalid: Vec<InvalidVector>,
}

/// One vector. Hex is lower case.
#[derive(Debug, Serialize, Deserialize)]
struct Vector {
    name: String,
    /// The content, for people.
    description: String,
    /// The 32-byte Ed25519 seed (RFC 8032 secret key).
    seed: String,
    /// The author's public key, derived from the seed.
    public_key: String,
    /// A time (ms since the epoch) within the message's lifetime, at which it must open.
    valid_at: u64,
    /// The `MessageBody` protobuf bytes.
    body: String,
    /// SHA-256 of `body`.
    id: String,
    /// Ed25519 over `signing_domain || body`.
    signature: String,
    /// The `SignedMessage` protobuf bytes.
    signed_message: String,
    /// The kind a node of this version decodes: "unknown" for a newer version's kind, which it
    /// stores and relays unread.
    kind: String,
    /// The body's field that carries the content (10 to 99).
    content_field: u32,
    /// The recovery public key a digest in the body is of (a commitment's recovery_digest, a
    /// rotation's successor_recovery_digest), so that the digest can be computed anew:
    /// SHA-256(`"tocsin/v1/recovery" || 0x00 || key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    recovery_public_key: Option<String>,
}

/// A signed message every node refuses. Hex is lower case.
#[derive(Debug, Serialize, Deserialize)]
struct InvalidVector {
    name: String,
    /// The content and its one fault, for people.
    description: String,
    /// The 32-byte Ed25519 seed of the signer.
    seed: String,
    /// The signer's public key.
    public_key: String,
    /// A time (ms since the epoch) at which it is refused for its fault (not for its times).
    valid_at: u64,
    /// The `MessageBody` protobuf bytes.
    body: String,
    /// SHA-256 of `body`.
    id: String,
    /// Ed25519 over `signing_domain || body`: good, so the refusal is the content's alone.
    signature: String,
    /// The `SignedMessage` protobuf bytes.
    signed_message: String,
    /// The body's field that carries the content.
    content_field: u32,
    /// The reason code every node refuses it with.
    reason: String,
}

/// A vector's inputs, built through the public API.
struct Case {
    name: &'static str,
    description: &'static str,
    seed: [u8; 32],
    body: Body,
    valid_at: Timestamp,
    /// See [`Vector::content_field`].
    content_field: u32,
    /// See [`Vector::recovery_public_key`].
    recovery: Option<AuthorKey>,
}

/// An invalid vector's inputs: a body as the wire carries it, which the model may not be able
/// to hold (a digest of 31 bytes).
struct InvalidCase {
    name: &'static str,
    description: &'static str,
    seed: [u8; 32],
    body: proto::MessageBody,
    valid_at: Timestamp,
    content_field: u32,
    reason: Reason,
}

/// 2026-11-20T08:00:00Z: when the first vector was made.
const T0: Timestamp = Timestamp(1_795_161_600_000);

/// Seeds are counting bytes, so anyone can type them: 00 01 … 1f, 20 21 … 3f, and so on.
fn seed(first: u8) -> [u8; 32] {
    std::array::from_fn(|i| first + i as u8)
}

fn eastland_seed() -> [u8; 32] {
    seed(0x00)
}

fn northland_seed() -> [u8; 32] {
    seed(0x20)
}

fn northland_successor_seed() -> [u8; 32] {
    seed(0x40)
}

/// The Confederation of Eastland Workers' recovery key, kept offline.
fn eastland_recovery_seed() -> [u8; 32] {
    seed(0x60)
}

/// The key that carries on for the Confederation of Eastland Workers after the seizure.
fn eastland_successor_seed() -> [u8; 32] {
    seed(0x80)
}

/// The successor's own recovery key.
fn eastland_successor_recovery_seed() -> [u8; 32] {
    seed(0xa0)
}

fn public(seed: [u8; 32]) -> tocsin::message::AuthorKey {
    SecretKey::from_seed(&seed).public()
}

fn alert_two_languages() -> Case {
    let created_at = T0;
    Case {
        name: "alert-two-languages",
        description: "An alert by the Confederation of Eastland Workers (fictional): status \
                      actual, category arrest, urgency immediate, severity severe, certainty \
                      observed; info in English and Spanish with headline, description, \
                      instruction and link; topics union-rights and arrests; country AQ; \
                      created 2026-11-20T08:00:00Z, expires 30 days later; no embargo.",
        seed: eastland_seed(),
        body: Body {
            author: public(eastland_seed()),
            created_at,
            expires_at: Some(created_at.plus(30 * DAY)),
            topics: vec!["union-rights".into(), "arrests".into()],
            countries: vec!["AQ".into()],
            effective_at: None,
            content: Content::Alert(Alert {
                status: Status::Actual,
                category: Category::Arrest,
                urgency: Urgency::Immediate,
                severity: Severity::Severe,
                certainty: Certainty::Observed,
                info: vec![
                    Info {
                        language: "en".into(),
                        headline: "Four members of the Confederation of Eastland Workers \
                                   arrested"
                            .into(),
                        description: "Police detained four shop stewards at the Eastport \
                                      docks at dawn on 20 November.\nThey have not been \
                                      charged and have not seen a lawyer."
                            .into(),
                        instruction: "Write to the Minister of the Interior of Eastland and \
                                      ask for their immediate release."
                            .into(),
                        link: "https://eastland-workers.example/news/eastport-four".into(),
                    },
                    Info {
                        language: "es".into(),
                        headline: "Detenidos cuatro miembros de la Confederación de \
                                   Trabajadores de Eastland"
                            .into(),
                        description: "La policía detuvo al amanecer del 20 de noviembre a \
                                      cuatro delegados sindicales en el puerto de Eastport.\n\
                                      No han sido acusados ni han visto a un abogado."
                            .into(),
                        instruction: "Escriban al Ministro del Interior de Eastland y pidan \
                                      su liberación inmediata."
                            .into(),
                        link: "https://eastland-workers.example/es/noticias/eastport-cuatro".into(),
                    },
                ],
            }),
        },
        valid_at: created_at.plus(HOUR),
        content_field: 10,
        recovery: None,
    }
}

fn call_ilo() -> Case {
    let created_at = T0.plus(2 * HOUR);
    Case {
        name: "call-ilo-c087-c098",
        description: "An action call by the Northland Transport Union (fictional): status \
                      actual, category union-busting, urgency expected, severity severe, \
                      certainty observed; info in English; actions letter and \
                      ilo-observation; target the Minister of Labour of the Republic of \
                      Eastland; action window 2026-11-21T08:00:00Z to 2027-08-20T08:00:00Z; \
                      deadline 2027-09-01T00:00:00Z; ILO conventions C087 and C098; \
                      supervisory body CEACR; topics freedom-of-association and ilo; \
                      countries AQ and BV; created 2026-11-20T10:00:00Z, embargoed until \
                      2026-11-20T12:00:00Z, expires 365 days after creation.",
        seed: northland_seed(),
        body: Body {
            author: public(northland_seed()),
            created_at,
            expires_at: Some(created_at.plus(365 * DAY)),
            topics: vec!["freedom-of-association".into(), "ilo".into()],
            countries: vec!["AQ".into(), "BV".into()],
            effective_at: Some(T0.plus(4 * HOUR)),
            content: Content::Call(ActionCall {
                base: Alert {
                    status: Status::Actual,
                    category: Category::UnionBusting,
                    urgency: Urgency::Expected,
                    severity: Severity::Severe,
                    certainty: Certainty::Observed,
                    info: vec![Info {
                        language: "en".into(),
                        headline: "File observations with the CEACR on Eastland's breaches \
                                   of C087 and C098"
                            .into(),
                        description: "Eastland ratified Conventions 87 and 98 but has \
                                      dissolved three dockers' unions this year.\nThe \
                                      Committee of Experts examines Eastland's report at its \
                                      next session."
                            .into(),
                        instruction: "Send your union's observations to the ILO before 1 \
                                      September, and a copy of your letter to the Minister \
                                      of Labour."
                            .into(),
                        link: "https://northland-transport.example/campaigns/eastland-ceacr".into(),
                    }],
                },
                actions: vec![ActionType::Letter, ActionType::IloObservation],
                target: "the Minister of Labour of the Republic of Eastland".into(),
                window_starts_at: Some(T0.plus(DAY)),
                window_ends_at: Some(T0.plus(273 * DAY)),
                deadline: Some(Timestamp::parse_rfc3339("2027-09-01T00:00:00Z").unwrap()),
                ilo_conventions: vec!["C087".into(), "C098".into()],
                supervisory_body: Some(SupervisoryBody::Ceacr),
                goals: Vec::new(),
            }),
        },
        valid_at: T0.plus(5 * HOUR),
        content_field: 11,
        recovery: None,
    }
}

fn cancel_of_the_alert() -> Case {
    let created_at = T0.plus(DAY);
    let alert = Message::sign(
        alert_two_languages().body,
        &SecretKey::from_seed(&eastland_seed()),
    )
    .unwrap();
    Case {
        name: "cancel",
        description: "The Confederation of Eastland Workers (fictional) withdraws its alert \
                      (the vector alert-two-languages, named by its id) with a reason; topic \
                      union-rights; country AQ; created 2026-11-21T08:00:00Z, expires 30 days \
                      later.",
        seed: eastland_seed(),
        body: Body {
            author: public(eastland_seed()),
            created_at,
            expires_at: Some(created_at.plus(30 * DAY)),
            topics: vec!["union-rights".into()],
            countries: vec!["AQ".into()],
            effective_at: None,
            content: Content::Cancel(Cancel {
                target: alert.id(),
                reason: "The four shop stewards were released without charge. Thank you for \
                         your letters."
                    .into(),
            }),
        },
        valid_at: created_at.plus(HOUR),
        content_field: 13,
        recovery: None,
    }
}

fn revocation_with_successor() -> Case {
    let created_at = T0.plus(2 * DAY);
    Case {
        name: "revocation-with-successor",
        description: "The Northland Transport Union (fictional) revokes its key from \
                      2026-11-22T06:00:00Z and names its successor key (seed 40 41 … 5f), \
                      with a reason; no topics or countries; created 2026-11-22T08:00:00Z; no \
                      expiry (a revocation never expires).",
        seed: northland_seed(),
        body: Body {
            author: public(northland_seed()),
            created_at,
            expires_at: None,
            topics: Vec::new(),
            countries: Vec::new(),
            effective_at: None,
            content: Content::Revocation(Revocation {
                revoked_from: created_at.minus(2 * HOUR),
                successor: Some(public(northland_successor_seed())),
                reason: "The union's office was raided and the laptop holding this key was \
                         seized."
                    .into(),
            }),
        },
        valid_at: created_at.plus(HOUR),
        content_field: 18,
        recovery: None,
    }
}

fn report_on_the_call() -> Case {
    let created_at = T0.plus(10 * DAY);
    let call = Message::sign(call_ilo().body, &SecretKey::from_seed(&northland_seed())).unwrap();
    Case {
        name: "report-on-the-call",
        description: "The Confederation of Eastland Workers (fictional) reports on the call (the \
                      vector call-ilo-c087-c098, named by its id): 340 letters and 1200 EUR of \
                      donations so far, as of 2026-11-30T07:00:00Z; one observation filed with \
                      the CEACR on 2026-11-29T08:00:00Z with a reference; a statement and an \
                      evidence link; topic freedom-of-association; country AQ; created \
                      2026-11-30T08:00:00Z, expires 365 days later. A node sums it as 340 \
                      letters, 1200 EUR donations and 1 observation from 1 organisation.",
        seed: eastland_seed(),
        body: Body {
            author: public(eastland_seed()),
            created_at,
            expires_at: Some(created_at.plus(365 * DAY)),
            topics: vec!["freedom-of-association".into()],
            countries: vec!["AQ".into()],
            effective_at: None,
            content: Content::Report(ActionReport {
                target: call.id(),
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
                    filed_at: T0.plus(9 * DAY),
                    reference: "Observations of the CEW on C087 and C098, ref. CEW/2026/14".into(),
                }],
                as_of: Some(created_at.minus(HOUR)),
                statement: "Our members wrote 340 letters to the Minister of Labour, and our \
                            observations are with the Committee of Experts."
                    .into(),
                evidence: "https://eastland-workers.example/campaigns/ceacr-letters".into(),
            }),
        },
        valid_at: created_at.plus(HOUR),
        content_field: 19,
        recovery: None,
    }
}

/// What a newer version might carry in a new kind: a poll's question and two options, as a
/// nested message (field 1 the question, field 2 each option).
const POLL: &[u8] = b"\x0a\x1bWhich day for the stoppage?\x12\x06Monday\x12\x06Friday";

fn unknown_kind() -> Case {
    let created_at = T0.plus(11 * DAY);
    Case {
        name: "unknown-kind-field-90",
        description: "A kind this version does not know, as a newer version would send it: the \
                      Confederation of Eastland Workers (fictional); topic union-rights; country \
                      AQ; created 2026-12-01T08:00:00Z, expires 30 days later; the content in \
                      body field 90 (kept for kinds, used by none), a nested message of a poll \
                      (field 1 \"Which day for the stoppage?\", field 2 \"Monday\" and \"Friday\"). \
                      A node opens it as kind unknown, stores and relays these bytes unread, and \
                      shows nothing of it.",
        seed: eastland_seed(),
        body: Body {
            author: public(eastland_seed()),
            created_at,
            expires_at: Some(created_at.plus(30 * DAY)),
            topics: vec!["union-rights".into()],
            countries: vec!["AQ".into()],
            effective_at: None,
            content: Content::Unknown(UnknownKind {
                field: 90,
                value: POLL.to_vec(),
            }),
        },
        valid_at: created_at.plus(HOUR),
        content_field: 90,
        recovery: None,
    }
}

fn recovery_commitment() -> Case {
    let created_at = T0.minus(DAY);
    Case {
        name: "recovery-commitment",
        description: "The Confederation of Eastland Workers (fictional) commits its key to a \
                      recovery key kept offline (seed 60 61 … 7f): the digest SHA-256(\"tocsin/v1/\
                      recovery\" || 0x00 || recovery public key); no topics or countries; \
                      created 2026-11-19T08:00:00Z, the first message its key published; no \
                      expiry (a commitment never expires).",
        seed: eastland_seed(),
        body: Body {
            author: public(eastland_seed()),
            created_at,
            expires_at: None,
            topics: Vec::new(),
            countries: Vec::new(),
            effective_at: None,
            content: Content::Commitment(RecoveryCommitment {
                recovery_digest: recovery_digest(&public(eastland_recovery_seed())),
            }),
        },
        valid_at: created_at.plus(HOUR),
        content_field: 20,
        recovery: Some(public(eastland_recovery_seed())),
    }
}

/// The rotation of [`rotation_after_seizure`], before it is signed.
fn rotation_content() -> Rotation {
    Rotation {
        compromised: public(eastland_seed()),
        compromised_since: T0.plus(11 * DAY + 10 * MINUTE),
        successor: public(eastland_successor_seed()),
        successor_recovery_digest: recovery_digest(&public(eastland_successor_recovery_seed())),
        reason: "The union's office in Eastport was raided at 08:10 and the laptop holding the \
                 key was seized."
            .into(),
    }
}

fn rotation_after_seizure() -> Case {
    let created_at = T0.plus(11 * DAY + 40 * MINUTE);
    Case {
        name: "rotation-after-seizure",
        description: "The recovery key of the Confederation of Eastland Workers (fictional; seed \
                      60 61 … 7f, the key the vector recovery-commitment commits to) rotates \
                      the union's key: compromised since 2026-12-01T08:10:00Z; successor key \
                      (seed 80 81 … 9f) with its own recovery commitment (the digest of the \
                      key of seed a0 a1 … bf); a reason; no topics or countries; created \
                      2026-12-01T08:40:00Z; no expiry (a rotation never expires).",
        seed: eastland_recovery_seed(),
        body: Body {
            author: public(eastland_recovery_seed()),
            created_at,
            expires_at: None,
            topics: Vec::new(),
            countries: Vec::new(),
            effective_at: None,
            content: Content::Rotation(Box::new(rotation_content())),
        },
        valid_at: created_at.plus(20 * MINUTE),
        content_field: 21,
        recovery: Some(public(eastland_successor_recovery_seed())),
    }
}

fn cases() -> Vec<Case> {
    vec![
        alert_two_languages(),
        call_ilo(),
        cancel_of_the_alert(),
        revocation_with_successor(),
        report_on_the_call(),
        unknown_kind(),
        recovery_commitment(),
        rotation_after_seizure(),
    ]
}

fn rotation_to_the_compromised_key() -> InvalidCase {
    let valid = rotation_after_seizure();
    let mut body = valid.body;
    body.content = Content::Rotation(Box::new(Rotation {
        successor: public(eastland_seed()),
        ..rotation_content()
    }));
    InvalidCase {
        name: "rotation-successor-is-the-compromised-key",
        description: "The rotation of the vector rotation-after-seizure, but naming the \
                      compromised key itself as its successor: the key in a thief's hands \
                      would carry on. Refused bad-value.",
        seed: valid.seed,
        body: proto::MessageBody::from(&body),
        valid_at: valid.valid_at,
        content_field: 21,
        reason: Reason::BadValue,
    }
}

fn commitment_digest_of_31_bytes() -> InvalidCase {
    let valid = recovery_commitment();
    let mut body = proto::MessageBody::from(&valid.body);
    let Some(proto::message_body::Content::Commitment(c)) = &mut body.content else {
        panic!("the vector recovery-commitment is a commitment")
    };
    c.recovery_digest.truncate(31);
    InvalidCase {
        name: "commitment-digest-of-31-bytes",
        description: "The commitment of the vector recovery-commitment with its digest cut to \
                      its first 31 bytes: not a SHA-256 digest. Refused malformed.",
        seed: valid.seed,
        body,
        valid_at: valid.valid_at,
        content_field: 20,
        reason: Reason::Malformed,
    }
}

fn commitment_with_expiry() -> InvalidCase {
    let valid = recovery_commitment();
    let mut body = proto::MessageBody::from(&valid.body);
    body.expires_at = valid.body.created_at.plus(365 * DAY).as_millis();
    InvalidCase {
        name: "commitment-with-expiry",
        description: "The commitment of the vector recovery-commitment with an expiry 365 days \
                      after its creation: a commitment never expires (a recovery key must \
                      outlive any seizure). Refused bad-lifetime.",
        seed: valid.seed,
        body,
        valid_at: valid.valid_at,
        content_field: 20,
        reason: Reason::BadLifetime,
    }
}

fn invalid_cases() -> Vec<InvalidCase> {
    vec![
        rotation_to_the_compromised_key(),
        commitment_digest_of_31_bytes(),
        commitment_with_expiry(),
    ]
}

/// Signs a case through the public API, as an author would.
fn sign(case: &Case) -> Message {
    let key = SecretKey::from_seed(&case.seed);
    assert_eq!(key.seed(), case.seed);
    Message::sign(case.body.clone(), &key).expect("the body names the key's author")
}

fn vector(case: &Case) -> Vector {
    let msg = sign(case);
    Vector {
        name: case.name.into(),
        description: case.description.into(),
        seed: hex::encode(case.seed),
        public_key: msg.author().to_hex(),
        valid_at: case.valid_at.as_millis(),
        body: hex::encode(msg.signed().body()),
        id: msg.id().to_hex(),
        signature: hex::encode(msg.signed().signature()),
        signed_message: hex::encode(msg.signed().encode_to_vec()),
        kind: msg.kind().as_str().into(),
        content_field: case.content_field,
        recovery_public_key: case.recovery.map(|k| k.to_hex()),
    }
}

/// Encodes and signs an invalid case's body as it is: the signature is good.
fn sign_invalid(case: &InvalidCase) -> SignedMessage {
    let key = SecretKey::from_seed(&case.seed);
    let body = case.body.encode_to_vec();
    let signature = key.sign(&body);
    SignedMessage::new(body.into(), &signature).expect("a body under the size limit")
}

fn invalid_vector(case: &InvalidCase) -> InvalidVector {
    let signed = sign_invalid(case);
    InvalidVector {
        name: case.name.into(),
        description: case.description.into(),
        seed: hex::encode(case.seed),
        public_key: SecretKey::from_seed(&case.seed).public().to_hex(),
        valid_at: case.valid_at.as_millis(),
        body: hex::encode(signed.body()),
        id: signed.id().to_hex(),
        signature: hex::encode(signed.signature()),
        signed_message: hex::encode(signed.encode_to_vec()),
        content_field: case.content_field,
        reason: case.reason.code().into(),
    }
}

/// The numbers of the body's top-level fields in [`KIND_FIELDS`], read from the bytes alone.
fn content_fields(body: &[u8]) -> Vec<u32> {
    use prost::encoding::{DecodeContext, decode_key, skip_field};
    let mut buf = body;
    let mut out = Vec::new();
    while !buf.is_empty() {
        let (field, wire_type) = decode_key(&mut buf).expect("a field key");
        if KIND_FIELDS.contains(&field) {
            out.push(field);
        }
        skip_field(wire_type, field, &mut buf, DecodeContext::default()).expect("a field");
    }
    out
}

fn read() -> VectorFile {
    let text = std::fs::read_to_string(PATH).unwrap_or_else(|e| panic!("{PATH}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{PATH}: {e}"))
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

#[test]
fn the_file_holds_every_vector_and_the_domain() {
    let file = read();
    assert_eq!(unhex(&file.signing_domain), SIGNING_DOMAIN);
    let names: Vec<_> = file.vectors.iter().map(|v| v.name.as_str()).collect();
    let expected: Vec<_> = cases().iter().map(|c| c.name).collect();
    assert_eq!(names, expected);
    let names: Vec<_> = file.invalid.iter().map(|v| v.name.as_str()).collect();
    let expected: Vec<_> = invalid_cases().iter().map(|c| c.name).collect();
    assert_eq!(names, expected);
}

#[test]
fn rebuilt_vectors_have_the_exact_bytes_id_and_signature() {
    let file = read();
    for (stored, case) in file.vectors.iter().zip(cases()) {
        let msg = sign(&case);
        let name = case.name;
        assert_eq!(stored.seed, hex::encode(case.seed), "{name}: seed");
        assert_eq!(
            stored.public_key,
            msg.author().to_hex(),
            "{name}: public key"
        );
        assert_eq!(
            stored.body,
            hex::encode(msg.signed().body()),
            "{name}: body bytes"
        );
        assert_eq!(stored.id, msg.id().to_hex(), "{name}: id");
        assert_eq!(
            Id::of(&unhex(&stored.body)).to_hex(),
            stored.id,
            "{name}: id is SHA-256 of the stored body"
        );
        assert_eq!(
            stored.signature,
            hex::encode(msg.signed().signature()),
            "{name}: signature"
        );
        assert_eq!(
            stored.signed_message,
            hex::encode(msg.signed().encode_to_vec()),
            "{name}: signed message"
        );
        assert_eq!(
            stored.valid_at,
            case.valid_at.as_millis(),
            "{name}: valid_at"
        );
        assert_eq!(stored.description, case.description, "{name}: description");
        assert_eq!(stored.kind, msg.kind().as_str(), "{name}: kind");
        assert_eq!(
            stored.content_field, case.content_field,
            "{name}: content field"
        );
        assert_eq!(
            stored.recovery_public_key,
            case.recovery.map(|k| k.to_hex()),
            "{name}: recovery public key"
        );
    }
}

#[test]
fn every_vector_opens_within_its_lifetime() {
    for (stored, case) in read().vectors.iter().zip(cases()) {
        let name = case.name;
        let signed = SignedMessage::decode(&unhex(&stored.signed_message))
            .unwrap_or_else(|r| panic!("{name}: {r}"));
        assert_eq!(signed.body().as_ref(), unhex(&stored.body).as_slice());
        assert_eq!(signed.signature().as_slice(), unhex(&stored.signature));
        let valid_at = Timestamp(stored.valid_at);
        let msg = Message::open(signed.clone(), valid_at).unwrap_or_else(|r| panic!("{name}: {r}"));
        assert_eq!(msg.body(), &case.body, "{name}");
        assert_eq!(msg.kind().as_str(), stored.kind, "{name}");
        assert_eq!(
            content_fields(&unhex(&stored.body)),
            [stored.content_field],
            "{name}: one content field"
        );
        assert_eq!(msg.id().to_hex(), stored.id);
        assert_eq!(msg.author().to_hex(), stored.public_key);
        match msg.body().expires_at {
            Some(expires_at) => {
                assert!(
                    Message::open(signed, expires_at).is_err(),
                    "{name}: expired"
                );
            }
            None => {
                Message::open(signed, valid_at.plus(20 * 365 * DAY)).expect("never expires");
            }
        }
    }
}

#[test]
fn the_cancel_names_the_alert_and_the_revocation_its_successor() {
    let file = read();
    let by_name = |n: &str| file.vectors.iter().find(|v| v.name == n).unwrap();
    let alert = by_name("alert-two-languages");
    let cancel = Message::from_store(
        SignedMessage::decode(&unhex(&by_name("cancel").signed_message)).unwrap(),
    )
    .unwrap();
    assert_eq!(cancel.body().target().unwrap().to_hex(), alert.id);
    let revocation = Message::from_store(
        SignedMessage::decode(&unhex(&by_name("revocation-with-successor").signed_message))
            .unwrap(),
    )
    .unwrap();
    let Content::Revocation(r) = &revocation.body().content else {
        panic!("not a revocation")
    };
    assert_eq!(r.successor, Some(public(northland_successor_seed())));
    assert_eq!(
        revocation.author().to_hex(),
        by_name("call-ilo-c087-c098").public_key
    );
}

#[test]
fn the_report_counts_for_the_call_and_the_unknown_kind_is_carried_unread() {
    let file = read();
    let by_name = |n: &str| file.vectors.iter().find(|v| v.name == n).unwrap();
    let open = |n: &str| {
        Message::from_store(SignedMessage::decode(&unhex(&by_name(n).signed_message)).unwrap())
            .unwrap()
    };
    let report = open("report-on-the-call");
    assert_eq!(
        report.body().target().unwrap().to_hex(),
        by_name("call-ilo-c087-c098").id
    );
    // What every node sums from it alone.
    let tally = Tally::of(
        &[Reported {
            message: report,
            name: String::new(),
            country: String::new(),
        }],
        &[],
        &[],
    );
    assert_eq!(tally.reporters, 1);
    assert_eq!(tally.total(Measure::Letters, ""), 340);
    assert_eq!(tally.total(Measure::Donations, "EUR"), 1200);
    assert_eq!(tally.total(Measure::Observations, ""), 1);

    let unknown = open("unknown-kind-field-90");
    assert_eq!(
        unknown.body().content,
        Content::Unknown(UnknownKind {
            field: 90,
            value: POLL.to_vec(),
        })
    );
    assert_eq!(unknown.body().target(), None);
    assert!(unknown.body().info().is_empty());
}

/// SHA-256(`"tocsin/v1/recovery" || 0x00 || key`), computed here rather than by the crate.
fn digest_of(key_hex: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"tocsin/v1/recovery\0");
    h.update(unhex(key_hex));
    h.finalize().into()
}

#[test]
fn the_rotation_answers_to_the_commitment_and_commits_its_successor() {
    assert_eq!(RECOVERY_DOMAIN, b"tocsin/v1/recovery\0");
    let file = read();
    let by_name = |n: &str| file.vectors.iter().find(|v| v.name == n).unwrap();
    let open = |n: &str| {
        Message::from_store(SignedMessage::decode(&unhex(&by_name(n).signed_message)).unwrap())
            .unwrap()
    };
    let commitment_vector = by_name("recovery-commitment");
    let commitment = open("recovery-commitment");
    let Content::Commitment(c) = &commitment.body().content else {
        panic!("not a commitment")
    };
    let recovery = commitment_vector.recovery_public_key.as_deref().unwrap();
    assert_eq!(recovery, public(eastland_recovery_seed()).to_hex());
    assert_eq!(c.recovery_digest, digest_of(recovery));
    assert_eq!(
        c.recovery_digest,
        recovery_digest(&AuthorKey::from_slice(&unhex(recovery)).unwrap())
    );

    let rotation_vector = by_name("rotation-after-seizure");
    let rotation = open("rotation-after-seizure");
    let Content::Rotation(r) = &rotation.body().content else {
        panic!("not a rotation")
    };
    // Signed by the key the commitment is to; recovers the commitment's author.
    assert_eq!(digest_of(&rotation_vector.public_key), c.recovery_digest);
    assert_eq!(r.compromised, *commitment.author());
    assert_eq!(r.compromised_since, T0.plus(11 * DAY + 10 * MINUTE));
    assert_eq!(r.successor, public(eastland_successor_seed()));
    let successor_recovery = rotation_vector.recovery_public_key.as_deref().unwrap();
    assert_eq!(r.successor_recovery_digest, digest_of(successor_recovery));
    assert!(r.compromised_since < rotation.body().created_at);
}

#[test]
fn invalid_vectors_are_signed_and_refused_with_their_reason() {
    let file = read();
    assert_eq!(file.invalid.len(), invalid_cases().len());
    for (stored, case) in file.invalid.iter().zip(invalid_cases()) {
        let name = case.name;
        let rebuilt = sign_invalid(&case);
        assert_eq!(
            stored.body,
            hex::encode(rebuilt.body()),
            "{name}: body bytes"
        );
        assert_eq!(stored.id, rebuilt.id().to_hex(), "{name}: id");
        assert_eq!(
            Id::of(&unhex(&stored.body)).to_hex(),
            stored.id,
            "{name}: id is SHA-256 of the stored body"
        );
        assert_eq!(
            stored.signature,
            hex::encode(rebuilt.signature()),
            "{name}: signature"
        );
        assert_eq!(
            stored.signed_message,
            hex::encode(rebuilt.encode_to_vec()),
            "{name}: signed message"
        );
        assert_eq!(stored.seed, hex::encode(case.seed), "{name}: seed");
        assert_eq!(stored.valid_at, case.valid_at.as_millis(), "{name}");
        assert_eq!(stored.description, case.description, "{name}");
        assert_eq!(stored.content_field, case.content_field, "{name}");
        assert_eq!(
            content_fields(&unhex(&stored.body)),
            [stored.content_field],
            "{name}: one content field"
        );

        // The signature is good: the refusal is for the content alone.
        let signed = SignedMessage::decode(&unhex(&stored.signed_message))
            .unwrap_or_else(|r| panic!("{name}: {r}"));
        let key = AuthorKey::from_slice(&unhex(&stored.public_key)).unwrap();
        assert_eq!(key, SecretKey::from_seed(&case.seed).public(), "{name}");
        key.verify(signed.body(), signed.signature())
            .unwrap_or_else(|r| panic!("{name}: the signature does not verify: {r}"));

        let valid_at = Timestamp(stored.valid_at);
        let refusal = Checked::open(signed.clone(), valid_at)
            .map(|_| ())
            .expect_err(name);
        assert_eq!(refusal.code(), stored.reason, "{name}: {refusal}");
        assert_eq!(refusal.reason, case.reason, "{name}");
        let refusal = Message::open(signed.clone(), valid_at)
            .map(|_| ())
            .expect_err(name);
        assert_eq!(refusal.code(), stored.reason, "{name}");
        // Not a matter of time: refused at any time.
        let later = Message::open(signed, valid_at.plus(3650 * DAY))
            .map(|_| ())
            .expect_err(name);
        assert_eq!(later.code(), stored.reason, "{name}: ten years on");
    }
}

/// Writes tests/vectors/v1.json. Run it alone, once, when adding a vector:
/// `TOCSIN_WRITE_VECTORS=1 cargo test --test it -- --ignored --exact vectors::write_vectors`.
/// Never run it to "fix" a failing comparison: that means the wire format changed.
#[test]
#[ignore = "writes tests/vectors/v1.json when TOCSIN_WRITE_VECTORS=1"]
fn write_vectors() {
    if std::env::var_os("TOCSIN_WRITE_VECTORS").is_none_or(|v| v != "1") {
        eprintln!("set TOCSIN_WRITE_VECTORS=1 to write {PATH}");
        return;
    }
    let file = VectorFile {
        about: "Tocsin wire format v1 golden vectors. For each: a fixed Ed25519 seed, the \
                MessageBody protobuf bytes (body), id = SHA-256(body), signature = \
                Ed25519(seed, signing_domain || body), and the SignedMessage protobuf \
                (field 1 body, field 2 signature). All hex. Fictional organisations. Also the \
                kind a node decodes (\"unknown\" for a newer version's kind, stored and \
                relayed unread) and the body's field that carries the content."
            .into(),
        signing_domain: hex::encode(SIGNING_DOMAIN),
        vectors: cases().iter().map(vector).collect(),
        invalid: invalid_cases().iter().map(invalid_vector).collect(),
    };
    let mut text = serde_json::to_string_pretty(&file).unwrap();
    text.push('\n');
    std::fs::write(PATH, text).unwrap();
}
