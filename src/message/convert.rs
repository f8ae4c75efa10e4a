//! Conversions between the body's protobuf form and the domain model.
//!
//! Decoding checks structure only (required fields present, enum values known, byte lengths);
//! limits and times are `validate`'s. Encoding is used by authors, once, when they sign.

use prost::Message as _;

use super::model::*;
use super::{AuthorKey, Id, Reason, Rejection, Timestamp};
use crate::proto;
use crate::proto::message_body::Content as PContent;

fn missing(field: &str) -> Rejection {
    Rejection::new(Reason::MissingField, format!("{field} is required"))
}

/// The refusal of an embargo time of zero (optional, but a time when given).
pub(super) const ZERO_EFFECTIVE_AT: &str =
    "effective_at is 0: give a time (ms since 1970), or leave it unset to show the message at once";

/// The field numbers of `MessageBody` kept for content kinds (message.proto).
pub const KIND_FIELDS: std::ops::RangeInclusive<u32> = 10..=99;

/// Decodes body bytes into the domain model. A body that carries no kind this version knows
/// but one field in [`KIND_FIELDS`] is a newer version's kind ([`Content::Unknown`]). A body
/// carries one kind: two fields in [`KIND_FIELDS`] (known kinds or not, or one repeated) are
/// malformed, although protobuf would keep the last of a oneof and say nothing.
pub(super) fn decode_body(bytes: &[u8]) -> Result<Body, Rejection> {
    decode(bytes, true)
}

/// [`decode_body`] for a body a store accepted earlier: one that carries two kinds (accepted
/// before this version refused them) is read as it was then (protobuf's: the last known kind),
/// not taken for damage on disk, nor fetched again and again from peers that hold it.
pub(super) fn decode_stored_body(bytes: &[u8]) -> Result<Body, Rejection> {
    decode(bytes, false)
}

fn decode(bytes: &[u8], one_kind: bool) -> Result<Body, Rejection> {
    let wire = proto::MessageBody::decode(bytes)
        .map_err(|e| Rejection::new(Reason::Malformed, format!("the body does not decode: {e}")))?;
    let kind_field = kind_field(bytes, one_kind)?;
    let unknown = match (&wire.content, kind_field) {
        (None, Some((field, value))) => Some(UnknownKind {
            field,
            value: value.to_vec(),
        }),
        _ => None,
    };
    Body::try_from_parts(wire, unknown)
}

/// The one field in [`KIND_FIELDS`] of a body, with its bytes, if there is one. Two such fields
/// (or one repeated) are malformed, a body carrying one kind (`one_kind`; else the first is
/// kept).
fn kind_field(bytes: &[u8], one_kind: bool) -> Result<Option<(u32, &[u8])>, Rejection> {
    use prost::encoding::{WireType, decode_key, decode_varint, skip_field};
    let malformed = |e: prost::DecodeError| {
        Rejection::new(Reason::Malformed, format!("the body does not decode: {e}"))
    };
    let mut buf = bytes;
    let mut found = None;
    while !buf.is_empty() {
        let (field, wire_type) = decode_key(&mut buf).map_err(malformed)?;
        if KIND_FIELDS.contains(&field) && wire_type == WireType::LengthDelimited {
            let len = decode_varint(&mut buf).map_err(malformed)?;
            let len = usize::try_from(len)
                .ok()
                .filter(|l| *l <= buf.len())
                .ok_or_else(|| Rejection::new(Reason::Malformed, "a field runs past the body"))?;
            if found.is_some() && one_kind {
                return Err(Rejection::new(
                    Reason::Malformed,
                    "the body carries more than one content kind",
                ));
            }
            found.get_or_insert((field, &buf[..len]));
            buf = &buf[len..];
        } else {
            skip_field(wire_type, field, &mut buf, Default::default()).map_err(malformed)?;
        }
    }
    Ok(found)
}

/// Encodes a body. Protobuf encoding is not canonical, so this runs once, at signing; the
/// bytes it returns are what travels forever after. A newer version's kind is written as the
/// field it came in (this version never authors one; tests build them so).
pub(super) fn encode_body(body: &Body) -> Vec<u8> {
    let mut bytes = proto::MessageBody::from(body).encode_to_vec();
    if let Content::Unknown(u) = &body.content {
        use prost::encoding::{WireType, encode_key, encode_varint};
        encode_key(u.field, WireType::LengthDelimited, &mut bytes);
        encode_varint(u.value.len() as u64, &mut bytes);
        bytes.extend_from_slice(&u.value);
    }
    bytes
}

fn key(bytes: &[u8], field: &str) -> Result<AuthorKey, Rejection> {
    if bytes.is_empty() {
        return Err(missing(field));
    }
    AuthorKey::from_slice(bytes)
        .map_err(|r| Rejection::new(r.reason, format!("{field}: {}", r.detail)))
}

fn reference(bytes: &[u8], field: &str) -> Result<Id, Rejection> {
    if bytes.is_empty() {
        return Err(missing(field));
    }
    Id::from_slice(bytes).ok_or_else(|| {
        Rejection::new(
            Reason::BadReference,
            format!(
                "{field} must be a 32-byte message id, not {} bytes",
                bytes.len()
            ),
        )
    })
}

/// A digest of exactly 32 bytes (a recovery commitment's).
fn digest(bytes: &[u8], field: &str) -> Result<[u8; 32], Rejection> {
    if bytes.is_empty() {
        return Err(missing(field));
    }
    bytes.try_into().map_err(|_| {
        Rejection::new(
            Reason::Malformed,
            format!(
                "{field} must be a 32-byte SHA-256 digest, not {} bytes",
                bytes.len()
            ),
        )
    })
}

fn time(ms: u64, field: &str) -> Result<Timestamp, Rejection> {
    if ms == 0 {
        return Err(missing(field));
    }
    Ok(Timestamp(ms))
}

/// A required enum of a closed set: zero is missing, an unknown number is malformed.
fn closed<T>(n: i32, field: &str, from: fn(i32) -> Option<T>) -> Result<T, Rejection> {
    if n == 0 {
        return Err(missing(field));
    }
    from(n).ok_or_else(|| Rejection::new(Reason::Malformed, format!("{field}: unknown value {n}")))
}

impl TryFrom<proto::MessageBody> for Body {
    type Error = Rejection;

    fn try_from(p: proto::MessageBody) -> Result<Self, Rejection> {
        Body::try_from_parts(p, None)
    }
}

impl Body {
    /// The body from its protobuf form; `unknown` is the newer version's kind found in the
    /// bytes, which stands for the content then.
    fn try_from_parts(
        p: proto::MessageBody,
        unknown: Option<UnknownKind>,
    ) -> Result<Self, Rejection> {
        let author = key(&p.author, "author")?;
        let created_at = time(p.created_at, "created_at")?;
        let content = match (p.content, unknown) {
            (_, Some(u)) => Content::Unknown(u),
            (None, None) => return Err(missing("content (the message kind)")),
            (Some(c), None) => Content::try_from(c)?,
        };
        let kind = content.kind();
        let expires_at = match (kind.is_key_event(), p.expires_at) {
            (true, 0) => None,
            (true, _) => {
                return Err(Rejection::new(
                    Reason::BadLifetime,
                    format!("a {kind} never expires; leave expires_at unset"),
                ));
            }
            (false, ms) => Some(time(ms, "expires_at")?),
        };
        let effective_at = match p.effective_at {
            None => None,
            // Optional, but a time when given: zero is as missing as any other time's zero.
            Some(0) => {
                return Err(Rejection::new(Reason::MissingField, ZERO_EFFECTIVE_AT));
            }
            Some(ms) => Some(Timestamp(ms)),
        };
        Ok(Body {
            author,
            created_at,
            expires_at,
            topics: p.topics,
            countries: p.countries,
            effective_at,
            content,
        })
    }
}

impl TryFrom<PContent> for Content {
    type Error = Rejection;

    fn try_from(c: PContent) -> Result<Self, Rejection> {
        Ok(match c {
            PContent::Alert(a) => Content::Alert(Alert::try_from(a)?),
            PContent::Call(c) => Content::Call(ActionCall::try_from(c)?),
            PContent::Update(u) => Content::Update(Update {
                supersedes: reference(&u.supersedes, "update.supersedes")?,
                content: match u.content {
                    None => return Err(missing("update.content")),
                    Some(proto::update::Content::Alert(a)) => {
                        UpdateContent::Alert(Alert::try_from(a)?)
                    }
                    Some(proto::update::Content::Call(c)) => {
                        UpdateContent::Call(ActionCall::try_from(c)?)
                    }
                },
            }),
            PContent::Cancel(c) => Content::Cancel(Cancel {
                target: reference(&c.target, "cancel.target")?,
                reason: c.reason,
            }),
            PContent::Endorsement(e) => Content::Endorsement(Endorsement {
                target: reference(&e.target, "endorsement.target")?,
                statement: e.statement,
            }),
            PContent::Translation(t) => {
                if t.info.is_empty() {
                    return Err(missing("translation.info"));
                }
                Content::Translation(Translation {
                    target: reference(&t.target, "translation.target")?,
                    info: t.info.into_iter().map(Info::from).collect(),
                })
            }
            PContent::Profile(p) => {
                if p.name.is_empty() {
                    return Err(missing("profile.name"));
                }
                Content::Profile(Profile {
                    name: p.name,
                    country: p.country,
                    website: p.website,
                    description: p.description,
                })
            }
            PContent::Roster(r) => Content::Roster(Roster {
                members: r
                    .members
                    .into_iter()
                    .map(|m| {
                        Ok(RosterMember {
                            key: key(&m.key, "roster.members.key")?,
                            name: m.name,
                            country: m.country,
                        })
                    })
                    .collect::<Result<_, Rejection>>()?,
            }),
            PContent::Revocation(r) => Content::Revocation(Revocation {
                revoked_from: time(r.revoked_from, "revocation.revoked_from")?,
                successor: if r.successor.is_empty() {
                    None
                } else {
                    Some(key(&r.successor, "revocation.successor")?)
                },
                reason: r.reason,
            }),
            PContent::Commitment(c) => Content::Commitment(RecoveryCommitment {
                recovery_digest: digest(&c.recovery_digest, "commitment.recovery_digest")?,
            }),
            PContent::Rotation(r) => Content::Rotation(Box::new(Rotation {
                compromised: key(&r.compromised, "rotation.compromised")?,
                compromised_since: time(r.compromised_since, "rotation.compromised_since")?,
                successor: key(&r.successor, "rotation.successor")?,
                successor_recovery_digest: digest(
                    &r.successor_recovery_digest,
                    "rotation.successor_recovery_digest",
                )?,
                reason: r.reason,
            })),
            PContent::Report(r) => Content::Report(ActionReport {
                target: reference(&r.target, "report.target")?,
                counts: r
                    .counts
                    .into_iter()
                    .map(|c| {
                        Ok(Count {
                            measure: measure(c.measure, "report.counts.measure")?,
                            value: c.value,
                            currency: c.currency,
                        })
                    })
                    .collect::<Result<_, Rejection>>()?,
                filings: r
                    .filings
                    .into_iter()
                    .map(|f| {
                        Ok(Filing {
                            body: match f.body {
                                0 => return Err(missing("report.filings.body")),
                                n => SupervisoryBody::from_number(n)
                                    .unwrap_or(SupervisoryBody::Other),
                            },
                            filed_at: time(f.filed_at, "report.filings.filed_at")?,
                            reference: f.reference,
                        })
                    })
                    .collect::<Result<_, Rejection>>()?,
                as_of: match r.as_of {
                    None => None,
                    Some(ms) => Some(time(ms, "report.as_of")?),
                },
                statement: r.statement,
                evidence: r.evidence,
            }),
        })
    }
}

/// A measure: zero is missing; a number this version does not know is `bad-count` (a new
/// measure is a new protocol version: every node must add up the same things).
fn measure(n: i32, field: &str) -> Result<Measure, Rejection> {
    if n == 0 {
        return Err(missing(field));
    }
    Measure::from_number(n).ok_or_else(|| {
        Rejection::new(
            Reason::BadCount,
            format!("{field}: {n} is not a measure this version counts"),
        )
    })
}

impl TryFrom<proto::Alert> for Alert {
    type Error = Rejection;

    fn try_from(a: proto::Alert) -> Result<Self, Rejection> {
        if a.info.is_empty() {
            return Err(missing("info (at least one language)"));
        }
        Ok(Alert {
            status: closed(a.status, "status", Status::from_number)?,
            // An open set: a category from a later version reads as Other.
            category: match a.category {
                0 => return Err(missing("category")),
                n => Category::from_number(n).unwrap_or(Category::Other),
            },
            urgency: closed(a.urgency, "urgency", Urgency::from_number)?,
            severity: closed(a.severity, "severity", Severity::from_number)?,
            certainty: closed(a.certainty, "certainty", Certainty::from_number)?,
            info: a.info.into_iter().map(Info::from).collect(),
        })
    }
}

impl TryFrom<proto::ActionCall> for ActionCall {
    type Error = Rejection;

    fn try_from(c: proto::ActionCall) -> Result<Self, Rejection> {
        let base = Alert::try_from(c.base.ok_or_else(|| missing("call.base"))?)?;
        if c.actions.is_empty() {
            return Err(missing("call.actions (what is asked)"));
        }
        let actions = c
            .actions
            .into_iter()
            .map(|n| match n {
                0 => Err(missing("call.actions")),
                n => Ok(ActionType::from_number(n).unwrap_or(ActionType::Other)),
            })
            .collect::<Result<_, _>>()?;
        Ok(ActionCall {
            base,
            actions,
            target: c.target,
            window_starts_at: c.window_starts_at.map(Timestamp),
            window_ends_at: c.window_ends_at.map(Timestamp),
            deadline: c.deadline.map(Timestamp),
            ilo_conventions: c.ilo_conventions,
            supervisory_body: match c.supervisory_body {
                0 => None,
                n => Some(SupervisoryBody::from_number(n).unwrap_or(SupervisoryBody::Other)),
            },
            goals: c
                .goals
                .into_iter()
                .map(|g| {
                    Ok(Goal {
                        measure: measure(g.measure, "call.goals.measure")?,
                        target: g.target,
                        currency: g.currency,
                    })
                })
                .collect::<Result<_, Rejection>>()?,
        })
    }
}

impl From<proto::Info> for Info {
    fn from(i: proto::Info) -> Self {
        Info {
            language: i.language,
            headline: i.headline,
            description: i.description,
            instruction: i.instruction,
            link: i.link,
        }
    }
}

impl From<&Info> for proto::Info {
    fn from(i: &Info) -> Self {
        proto::Info {
            language: i.language.clone(),
            headline: i.headline.clone(),
            description: i.description.clone(),
            instruction: i.instruction.clone(),
            link: i.link.clone(),
        }
    }
}

impl From<&Alert> for proto::Alert {
    fn from(a: &Alert) -> Self {
        proto::Alert {
            status: a.status.number(),
            category: a.category.number(),
            urgency: a.urgency.number(),
            severity: a.severity.number(),
            certainty: a.certainty.number(),
            info: a.info.iter().map(proto::Info::from).collect(),
        }
    }
}

impl From<&ActionCall> for proto::ActionCall {
    fn from(c: &ActionCall) -> Self {
        proto::ActionCall {
            base: Some(proto::Alert::from(&c.base)),
            actions: c.actions.iter().map(|a| a.number()).collect(),
            target: c.target.clone(),
            window_starts_at: c.window_starts_at.map(|t| t.0),
            window_ends_at: c.window_ends_at.map(|t| t.0),
            deadline: c.deadline.map(|t| t.0),
            ilo_conventions: c.ilo_conventions.clone(),
            supervisory_body: c.supervisory_body.map_or(0, |s| s.number()),
            goals: c
                .goals
                .iter()
                .map(|g| proto::Goal {
                    measure: g.measure.number(),
                    target: g.target,
                    currency: g.currency.clone(),
                })
                .collect(),
        }
    }
}

impl From<&Body> for proto::MessageBody {
    fn from(b: &Body) -> Self {
        let content = content_of(&b.content);
        proto::MessageBody {
            author: b.author.as_bytes().to_vec(),
            created_at: b.created_at.0,
            expires_at: b.expires_at.map_or(0, |t| t.0),
            topics: b.topics.clone(),
            countries: b.countries.clone(),
            effective_at: b.effective_at.map(|t| t.0),
            content,
        }
    }
}

/// A body's content in protobuf form; `None` for a newer version's kind.
fn content_of(content: &Content) -> Option<PContent> {
    Some(match content {
        // A newer version's kind is no field prost knows: `encode_body` writes it.
        Content::Unknown(_) => return None,
        Content::Alert(a) => PContent::Alert(a.into()),
        Content::Call(c) => PContent::Call(c.into()),
        Content::Update(u) => PContent::Update(proto::Update {
            supersedes: u.supersedes.0.to_vec(),
            content: Some(match &u.content {
                UpdateContent::Alert(a) => proto::update::Content::Alert(a.into()),
                UpdateContent::Call(c) => proto::update::Content::Call(c.into()),
            }),
        }),
        Content::Cancel(c) => PContent::Cancel(proto::Cancel {
            target: c.target.0.to_vec(),
            reason: c.reason.clone(),
        }),
        Content::Endorsement(e) => PContent::Endorsement(proto::Endorsement {
            target: e.target.0.to_vec(),
            statement: e.statement.clone(),
        }),
        Content::Translation(t) => PContent::Translation(proto::Translation {
            target: t.target.0.to_vec(),
            info: t.info.iter().map(proto::Info::from).collect(),
        }),
        Content::Profile(p) => PContent::Profile(proto::Profile {
            name: p.name.clone(),
            country: p.country.clone(),
            website: p.website.clone(),
            description: p.description.clone(),
        }),
        Content::Roster(r) => PContent::Roster(proto::Roster {
            members: r
                .members
                .iter()
                .map(|m| proto::RosterMember {
                    key: m.key.as_bytes().to_vec(),
                    name: m.name.clone(),
                    country: m.country.clone(),
                })
                .collect(),
        }),
        Content::Revocation(r) => PContent::Revocation(proto::Revocation {
            revoked_from: r.revoked_from.0,
            successor: r
                .successor
                .map(|k| k.as_bytes().to_vec())
                .unwrap_or_default(),
            reason: r.reason.clone(),
        }),
        Content::Commitment(c) => PContent::Commitment(proto::RecoveryCommitment {
            recovery_digest: c.recovery_digest.to_vec(),
        }),
        Content::Rotation(r) => PContent::Rotation(proto::Rotation {
            compromised: r.compromised.as_bytes().to_vec(),
            compromised_since: r.compromised_since.0,
            successor: r.successor.as_bytes().to_vec(),
            successor_recovery_digest: r.successor_recovery_digest.to_vec(),
            reason: r.reason.clone(),
        }),
        Content::Report(r) => PContent::Report(proto::ActionReport {
            target: r.target.0.to_vec(),
            counts: r.counts.iter().map(proto::Count::from).collect(),
            filings: r.filings.iter().map(proto::Filing::from).collect(),
            as_of: r.as_of.map(|t| t.0),
            statement: r.statement.clone(),
            evidence: r.evidence.clone(),
        }),
    })
}

impl From<&Count> for proto::Count {
    fn from(c: &Count) -> Self {
        proto::Count {
            measure: c.measure.number(),
            value: c.value,
            currency: c.currency.clone(),
        }
    }
}

impl From<&Filing> for proto::Filing {
    fn from(f: &Filing) -> Self {
        proto::Filing {
            body: f.body.number(),
            filed_at: f.filed_at.0,
            reference: f.reference.clone(),
        }
    }
}
