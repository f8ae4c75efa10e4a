//! Conversions between protobuf service types and domain types, both ways, so that protobuf
//! types never leak past this module.

use tonic::Status;
use tonic::metadata::MetadataMap;

use super::status;
use crate::message::tally;
use crate::message::{
    AuthorKey, Count, Filing, Filter, Goal, Id, Kind, Measure, Reason, Rejection, SignedMessage,
    SupervisoryBody, Tally, Timestamp,
};
use crate::node::{Backup, NodeInfo, PublishStatus, Published, ReconcileStatus, SubEvent};
use crate::proto;
use crate::store::{KeyCommitment, KeyState, LogId, MessageState};

pub(crate) fn kind_to_proto(k: Kind) -> proto::Kind {
    match k {
        Kind::Alert => proto::Kind::Alert,
        Kind::Call => proto::Kind::Call,
        Kind::Update => proto::Kind::Update,
        Kind::Cancel => proto::Kind::Cancel,
        Kind::Endorsement => proto::Kind::Endorsement,
        Kind::Translation => proto::Kind::Translation,
        Kind::Profile => proto::Kind::Profile,
        Kind::Roster => proto::Kind::Roster,
        Kind::Revocation => proto::Kind::Revocation,
        Kind::Report => proto::Kind::Report,
        Kind::Commitment => proto::Kind::Commitment,
        Kind::Rotation => proto::Kind::Rotation,
        // A newer version's kind has no number in this version's filter.
        Kind::Unknown => proto::Kind::Unspecified,
    }
}

fn kind_from_proto(n: i32) -> Result<Kind, Status> {
    let k = match proto::Kind::try_from(n) {
        Ok(proto::Kind::Alert) => Kind::Alert,
        Ok(proto::Kind::Call) => Kind::Call,
        Ok(proto::Kind::Update) => Kind::Update,
        Ok(proto::Kind::Cancel) => Kind::Cancel,
        Ok(proto::Kind::Endorsement) => Kind::Endorsement,
        Ok(proto::Kind::Translation) => Kind::Translation,
        Ok(proto::Kind::Profile) => Kind::Profile,
        Ok(proto::Kind::Roster) => Kind::Roster,
        Ok(proto::Kind::Revocation) => Kind::Revocation,
        Ok(proto::Kind::Report) => Kind::Report,
        Ok(proto::Kind::Commitment) => Kind::Commitment,
        Ok(proto::Kind::Rotation) => Kind::Rotation,
        Ok(proto::Kind::Unspecified) | Err(_) => {
            return Err(status::malformed_request(format!(
                "filter: unknown kind {n}"
            )));
        }
    };
    Ok(k)
}

/// Bounds on a filter, so one request cannot make the node do unbounded work.
const MAX_FILTER_VALUES: usize = 64;

pub(crate) fn filter_from_proto(f: Option<proto::Filter>) -> Result<Filter, Status> {
    let Some(f) = f else {
        return Ok(Filter::default());
    };
    let total =
        f.authors.len() + f.kinds.len() + f.topics.len() + f.countries.len() + f.languages.len();
    if total > MAX_FILTER_VALUES {
        return Err(status::refusal(&Rejection::new(
            Reason::TooMany,
            format!("a filter may name at most {MAX_FILTER_VALUES} values"),
        )));
    }
    let filter = Filter {
        authors: f
            .authors
            .iter()
            .map(|a| AuthorKey::from_slice(a))
            .collect::<Result<_, Rejection>>()
            .map_err(|r| status::bad_field("filter author", &r))?,
        kinds: f
            .kinds
            .into_iter()
            .map(kind_from_proto)
            .collect::<Result<_, _>>()?,
        topics: f.topics,
        countries: f.countries,
        languages: f.languages,
    };
    crate::message::filter_values(filter).map_err(|r| status::refusal(&r))
}

pub(crate) fn filter_to_proto(f: &Filter) -> proto::Filter {
    proto::Filter {
        authors: f.authors.iter().map(|a| a.as_bytes().to_vec()).collect(),
        kinds: f.kinds.iter().map(|k| kind_to_proto(*k) as i32).collect(),
        topics: f.topics.clone(),
        countries: f.countries.clone(),
        languages: f.languages.clone(),
    }
}

pub(crate) fn signed_from_proto(m: proto::SignedMessage) -> Result<SignedMessage, Rejection> {
    SignedMessage::new(m.body, &m.signature)
}

pub(crate) fn published_to_proto(p: &Published) -> proto::PublishReply {
    proto::PublishReply {
        id: p.id.0.to_vec(),
        status: match p.status {
            PublishStatus::Accepted => proto::PublishStatus::Accepted,
            PublishStatus::Duplicate => proto::PublishStatus::Duplicate,
        } as i32,
        seq: p.seq,
        reason: String::new(),
        detail: String::new(),
    }
}

pub(crate) fn refused_to_proto(
    id: Option<crate::message::Id>,
    r: &Rejection,
) -> proto::PublishReply {
    proto::PublishReply {
        id: id.map(|i| i.0.to_vec()).unwrap_or_default(),
        status: proto::PublishStatus::Refused as i32,
        seq: 0,
        reason: r.code().to_string(),
        detail: r.detail.clone(),
    }
}

/// The Subscribe response's header metadata naming the log its seqs belong to (32 hex
/// digits), sent before any event.
pub(crate) const LOG_ID_HEADER: &str = "tocsin-log-id";

/// Says which log a subscription's seqs belong to, in its response's headers.
pub(crate) fn set_log_id_header(headers: &mut MetadataMap, log_id: LogId) {
    // Hex digits are always a valid header value: this cannot fail, and if it did the follower
    // would end the connection for a missing log id rather than follow the wrong log.
    if let Ok(value) = log_id.to_string().parse() {
        headers.insert(LOG_ID_HEADER, value);
    }
}

/// The log a subscription's seqs belong to, from its response's headers (`None` from a node
/// too old to say, or a value that is not a log id).
pub(crate) fn log_id_from_headers(headers: &MetadataMap) -> Option<LogId> {
    LogId::from_hex(headers.get(LOG_ID_HEADER)?.to_str().ok()?)
}

/// A subscription's event; `log_id` is the node's, said with every `CaughtUp`.
pub(crate) fn event_to_proto(e: SubEvent, log_id: LogId) -> proto::SubscribeEvent {
    use proto::subscribe_event::Event;
    let event = match e {
        SubEvent::Delivery(entry) => Event::Delivery(proto::Delivery {
            seq: entry.seq,
            message: Some(entry.message.signed().to_proto()),
        }),
        SubEvent::CaughtUp(seq) | SubEvent::Closing(seq) | SubEvent::Stalled(seq) => {
            Event::CaughtUp(proto::CaughtUp {
                seq,
                log_id: log_id.as_bytes().to_vec(),
            })
        }
    };
    proto::SubscribeEvent { event: Some(event) }
}

pub(crate) fn state_to_proto(s: &MessageState) -> proto::GetReply {
    proto::GetReply {
        message: s.message.as_ref().map(|m| m.signed().to_proto()),
        seq: s.seq,
        current: s.current.as_ref().map(|m| m.signed().to_proto()),
        updates: s.updates.iter().map(|i| i.0.to_vec()).collect(),
        cancelled: s.cancelled,
        cancel_reason: s.cancel_reason.clone(),
        endorsements: s.endorsers.len() as u64,
        endorsers: s
            .endorsers
            .iter()
            .map(|e| proto::Endorser {
                author: e.author.as_bytes().to_vec(),
                statement: e.statement.clone(),
                created_at: e.created_at.as_millis(),
            })
            .collect(),
        translations: s
            .translations
            .iter()
            .map(|m| m.signed().to_proto())
            .collect(),
        tally: (!s.tally.is_empty()).then(|| tally_to_proto(&s.tally)),
        withheld: s.withheld.is_some(),
        withheld_reason: s.withheld.clone().unwrap_or_default(),
        withdrawn: s
            .withdrawn
            .iter()
            .map(|w| proto::WithdrawnVersion {
                id: w.id.0.to_vec(),
                author: w.author.as_bytes().to_vec(),
                created_at: w.created_at.as_millis(),
            })
            .collect(),
    }
}

fn commitment_to_proto(c: &KeyCommitment) -> proto::KeyCommitment {
    proto::KeyCommitment {
        id: c.id.0.to_vec(),
        created_at: c.created_at.as_millis(),
        recovery_digest: c.recovery_digest.to_vec(),
        by_rotation: c.by_rotation,
    }
}

pub(crate) fn key_state_to_proto(k: &KeyState) -> proto::GetKeyReply {
    proto::GetKeyReply {
        key: k.key.as_bytes().to_vec(),
        commitment: k.commitment.as_ref().map(commitment_to_proto),
        conflicting: k.conflicting.iter().map(commitment_to_proto).collect(),
        end: k.end.as_ref().map(|e| proto::KeyEnd {
            from: e.from.as_millis(),
            by: e.by.0.to_vec(),
            by_kind: kind_to_proto(e.by_kind).into(),
            rotation: e.rotation.map(|r| r.0.to_vec()).unwrap_or_default(),
            compromised_since: e.compromised_since.map_or(0, |t| t.as_millis()),
            successor: e
                .successor
                .map(|s| s.as_bytes().to_vec())
                .unwrap_or_default(),
            reason: e.reason.clone(),
        }),
        predecessor: k
            .predecessor
            .map(|p| p.as_bytes().to_vec())
            .unwrap_or_default(),
    }
}

fn commitment_from_proto(c: proto::KeyCommitment) -> Result<KeyCommitment, String> {
    Ok(KeyCommitment {
        id: Id::from_slice(&c.id).ok_or("a commitment id is not 32 bytes")?,
        created_at: Timestamp(c.created_at),
        recovery_digest: c
            .recovery_digest
            .as_slice()
            .try_into()
            .map_err(|_| "a recovery digest is not 32 bytes")?,
        by_rotation: c.by_rotation,
    })
}

/// A key's state as a node answers `GetKey` (the client's side of [`key_state_to_proto`]).
pub(crate) fn key_state_from_proto(r: proto::GetKeyReply) -> Result<KeyState, String> {
    let key_of = |raw: &[u8], what: &str| -> Result<Option<AuthorKey>, String> {
        if raw.is_empty() {
            return Ok(None);
        }
        AuthorKey::from_slice(raw)
            .map(Some)
            .map_err(|e| format!("{what}: {}", e.detail))
    };
    let end = match r.end {
        None => None,
        Some(e) => Some(crate::store::KeyEnd {
            from: Timestamp(e.from),
            by: Id::from_slice(&e.by).ok_or("an end's message id is not 32 bytes")?,
            by_kind: kind_from_proto(e.by_kind).map_err(|s| s.message().to_string())?,
            rotation: if e.rotation.is_empty() {
                None
            } else {
                Some(Id::from_slice(&e.rotation).ok_or("a rotation id is not 32 bytes")?)
            },
            compromised_since: (e.compromised_since != 0).then_some(Timestamp(e.compromised_since)),
            successor: key_of(&e.successor, "successor")?,
            reason: e.reason,
        }),
    };
    Ok(KeyState {
        key: key_of(&r.key, "key")?.ok_or("a key state without its key")?,
        commitment: r.commitment.map(commitment_from_proto).transpose()?,
        conflicting: r
            .conflicting
            .into_iter()
            .map(commitment_from_proto)
            .collect::<Result<_, _>>()?,
        end,
        predecessor: key_of(&r.predecessor, "predecessor")?,
    })
}

fn totals_to_proto(totals: &[tally::Total]) -> Vec<proto::Total> {
    totals
        .iter()
        .map(|t| proto::Total {
            measure: t.measure.number(),
            currency: t.currency.clone(),
            value: t.value,
        })
        .collect()
}

pub(crate) fn tally_to_proto(t: &Tally) -> proto::Tally {
    proto::Tally {
        totals: totals_to_proto(&t.totals),
        reporters: t.reporters,
        countries: t
            .countries
            .iter()
            .map(|c| proto::CountryTally {
                country: c.country.clone(),
                reporters: c.reporters,
                totals: totals_to_proto(&c.totals),
            })
            .collect(),
        rosters: t
            .rosters
            .iter()
            .map(|r| proto::RosterTally {
                federation: r.federation.as_bytes().to_vec(),
                name: r.name.clone(),
                members: r.members,
                reported: r.reported,
            })
            .collect(),
        goals: t
            .goals
            .iter()
            .map(|g| proto::GoalProgress {
                goal: Some(proto::Goal {
                    measure: g.goal.measure.number(),
                    target: g.goal.target,
                    currency: g.goal.currency.clone(),
                }),
                reached: g.reached,
            })
            .collect(),
        reports: t
            .reports
            .iter()
            .map(|r| proto::ReportSummary {
                author: r.author.as_bytes().to_vec(),
                name: r.name.clone(),
                country: r.country.clone(),
                id: r.id.0.to_vec(),
                created_at: r.created_at.0,
                as_of: r.as_of.0,
                counts: r.counts.iter().map(proto::Count::from).collect(),
                filings: r.filings.iter().map(proto::Filing::from).collect(),
                statement: r.statement.clone(),
                evidence: r.evidence.clone(),
            })
            .collect(),
    }
}

fn totals_from_proto(totals: Vec<proto::Total>) -> Vec<tally::Total> {
    // A measure a newer node counts that this version does not know is left out.
    totals
        .into_iter()
        .filter_map(|t| {
            Some(tally::Total {
                measure: Measure::from_number(t.measure)?,
                currency: t.currency,
                value: t.value,
            })
        })
        .collect()
}

/// A node's tally as the client reads it; what does not convert (a key or id of the wrong
/// length) is an error, a measure this version does not know is left out.
pub(crate) fn tally_from_proto(t: proto::Tally) -> Result<Tally, String> {
    let key = |b: &[u8]| AuthorKey::from_slice(b).map_err(|r| r.detail);
    let goal = |g: proto::Goal| {
        Some(Goal {
            measure: Measure::from_number(g.measure)?,
            target: g.target,
            currency: g.currency,
        })
    };
    Ok(Tally {
        totals: totals_from_proto(t.totals),
        reporters: t.reporters,
        countries: t
            .countries
            .into_iter()
            .map(|c| tally::CountryTally {
                country: c.country,
                reporters: c.reporters,
                totals: totals_from_proto(c.totals),
            })
            .collect(),
        rosters: t
            .rosters
            .into_iter()
            .map(|r| {
                Ok(tally::RosterTally {
                    federation: key(&r.federation)?,
                    name: r.name,
                    members: r.members,
                    reported: r.reported,
                })
            })
            .collect::<Result<_, String>>()?,
        goals: t
            .goals
            .into_iter()
            .filter_map(|g| {
                Some(tally::GoalProgress {
                    goal: goal(g.goal?)?,
                    reached: g.reached,
                })
            })
            .collect(),
        reports: t
            .reports
            .into_iter()
            .map(|r| {
                Ok(tally::ReportSummary {
                    author: key(&r.author)?,
                    name: r.name,
                    country: r.country,
                    id: Id::from_slice(&r.id).ok_or("a report id is not 32 bytes")?,
                    created_at: Timestamp(r.created_at),
                    as_of: Timestamp(r.as_of),
                    counts: r
                        .counts
                        .into_iter()
                        .filter_map(|c| {
                            Some(Count {
                                measure: Measure::from_number(c.measure)?,
                                value: c.value,
                                currency: c.currency,
                            })
                        })
                        .collect(),
                    filings: r
                        .filings
                        .into_iter()
                        .map(|f| Filing {
                            body: SupervisoryBody::from_number(f.body)
                                .unwrap_or(SupervisoryBody::Other),
                            filed_at: Timestamp(f.filed_at),
                            reference: f.reference,
                        })
                        .collect(),
                    statement: r.statement,
                    evidence: r.evidence,
                })
            })
            .collect::<Result<_, String>>()?,
    })
}

pub(crate) fn info_to_proto(i: &NodeInfo) -> proto::NodeInfoReply {
    proto::NodeInfoReply {
        node_key: i.node_key.as_bytes().to_vec(),
        version: i.version.to_string(),
        head_seq: i.head_seq,
        messages: i.messages,
        uptime_seconds: i.uptime.as_secs(),
        subscribers: i.subscribers,
        peers: i
            .peers
            .iter()
            .map(|p| proto::PeerStatus {
                name: p.name.clone(),
                address: p.address.clone(),
                connected: p.connected,
                cursor: p.cursor,
                head: p.head,
                last_error: p.last_error.clone(),
                received: p.received,
                retry_pending: p.retry_pending,
                log_id: p.log_id.map(|l| l.as_bytes().to_vec()).unwrap_or_default(),
                log_changes: p.log_changes,
                last_reconcile: p.last_reconcile.as_ref().map(reconcile_status_to_proto),
                embargo_early: p.embargo_early,
            })
            .collect(),
        store_problem: i.store_problem.clone(),
        retry_pending: i.retry_pending,
        log_id: i.log_id.map(|l| l.as_bytes().to_vec()).unwrap_or_default(),
        opened_head: i.opened_head,
        opening_id: i.opening_id,
        embargo_early: i.embargo_early,
        refused_handshakes: i
            .refused_handshakes
            .iter()
            .map(|r| proto::HandshakeRefusals {
                cause: r.cause.clone(),
                count: r.count,
                last_detail: r.last_detail.clone(),
            })
            .collect(),
    }
}

/// A backup made, as the operator service answers it. The log id goes as its 16 bytes.
pub(crate) fn backup_to_proto(b: &Backup) -> proto::BackupReply {
    proto::BackupReply {
        dir: b.dir.display().to_string(),
        head_seq: b.head_seq,
        log_id: b.log_id.map(|l| l.as_bytes().to_vec()).unwrap_or_default(),
        files: b.files,
        bytes: b.bytes,
        paused_millis: u64::try_from(b.paused.as_millis()).unwrap_or(u64::MAX),
        checked: b.checked,
        damaged: b.damaged,
    }
}

/// A backup as the operator service reported it.
pub(crate) fn backup_from_proto(r: proto::BackupReply) -> Backup {
    Backup {
        dir: r.dir.into(),
        head_seq: r.head_seq,
        log_id: LogId::from_slice(&r.log_id),
        files: r.files,
        bytes: r.bytes,
        paused: std::time::Duration::from_millis(r.paused_millis),
        checked: r.checked,
        damaged: r.damaged,
    }
}

/// A reconciliation's status on the wire (`at` in Unix seconds there).
pub(crate) fn reconcile_status_to_proto(r: &ReconcileStatus) -> proto::ReconcileStatus {
    proto::ReconcileStatus {
        at: r.at.0 / 1000,
        we_lacked: r.we_lacked,
        they_lacked: r.they_lacked,
        fetched: r.fetched,
        refused: r.refused,
        already_here: r.already_here,
        offered: r.offered,
        offered_stored: r.offered_stored,
        round_trips: r.round_trips,
        bytes_sent: r.bytes_sent,
        bytes_received: r.bytes_received,
        millis: r.millis,
        compare_millis: r.compare_millis,
        error: r.error.clone(),
    }
}

/// A reconciliation's status read back from the wire.
pub(crate) fn reconcile_status_from_proto(r: proto::ReconcileStatus) -> ReconcileStatus {
    ReconcileStatus {
        at: crate::message::Timestamp(r.at.saturating_mul(1000)),
        we_lacked: r.we_lacked,
        they_lacked: r.they_lacked,
        fetched: r.fetched,
        refused: r.refused,
        already_here: r.already_here,
        offered: r.offered,
        offered_stored: r.offered_stored,
        round_trips: r.round_trips,
        bytes_sent: r.bytes_sent,
        bytes_received: r.bytes_received,
        millis: r.millis,
        compare_millis: r.compare_millis,
        error: r.error,
        // Not on the wire: the error says it.
        unsupported: false,
    }
}

/// A sync's report on the wire.
pub(crate) fn synced_to_proto(s: &crate::federation::Synced) -> proto::SyncReport {
    proto::SyncReport {
        peer: s.name.clone(),
        peer_node_key: s.node_key.as_bytes().to_vec(),
        status: Some(reconcile_status_to_proto(&s.status)),
    }
}
