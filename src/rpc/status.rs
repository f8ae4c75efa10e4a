//! The one place that maps errors to gRPC status. Every handler, every stream's end (shutdown,
//! a stalled subscriber, the client's own stream failing) and the layer that sees tonic's own
//! size refusal build their status here.
//!
//! A refusal's reason code travels twice: at the start of the status message (`"too-large: …"`)
//! and alone in the `tocsin-reason` metadata. Internal errors are sanitised: their details (paths,
//! database errors) go to the node's log, never on the wire.

use std::fmt::Display;
use std::time::Duration;

use tonic::metadata::MetadataValue;
use tonic::{Code, Status};
use tracing::error;

use crate::federation::SyncError;
use crate::message::{Id, Reason, Rejection};
use crate::node::{BackupError, NodeError};
use crate::store::StoreError;

/// The metadata key that carries a refusal's reason code alone.
pub const REASON_KEY: &str = "tocsin-reason";

/// The gRPC code for a refusal of this class.
pub fn code_for(reason: Reason) -> Code {
    match reason {
        Reason::RevokedAuthor | Reason::NotAdmitted | Reason::DeniedAuthor | Reason::NotAuthor => {
            Code::PermissionDenied
        }
        Reason::RateLimited => Code::ResourceExhausted,
        Reason::Unavailable => Code::Unavailable,
        Reason::Replayed => Code::AlreadyExists,
        _ => Code::InvalidArgument,
    }
}

/// A refusal as a status: "code: detail", plus the code in metadata.
pub fn refusal(r: &Rejection) -> Status {
    with_reason(Status::new(code_for(r.reason), r.to_string()), r.reason)
}

/// `status` with `reason` in the `tocsin-reason` metadata.
fn with_reason(mut status: Status, reason: Reason) -> Status {
    status
        .metadata_mut()
        .insert(REASON_KEY, MetadataValue::from_static(reason.code()));
    status
}

/// A field of a request (not a message) that cannot be used: its reason code, and which field.
/// `r`'s own detail is kept after the field's name.
pub fn bad_field(field: &str, r: &Rejection) -> Status {
    refusal(&Rejection::new(r.reason, format!("{field}: {}", r.detail)))
}

/// A request that cannot be used as sent (a field of the wrong length, an unknown value).
pub fn malformed_request(detail: impl Display) -> Status {
    refusal(&Rejection::new(Reason::Malformed, detail.to_string()))
}

/// `Get` of an id this node does not hold. Not a refusal: the request was fine.
pub fn not_found(id: &Id) -> Status {
    Status::not_found(format!("no message {id} on this node"))
}

/// A call that ran past the node's `limits.request_timeout`.
pub fn timed_out() -> Status {
    with_reason(
        Status::deadline_exceeded(
            "unavailable: the node took too long to answer; try again later or another node",
        ),
        Reason::Unavailable,
    )
}

/// A stream (or call) ended because the node is shutting down. `resume` is where a subscriber
/// picks up again (`since=N`, read back by [`resume_point`]); a publish stream has none: its
/// client resends what was not answered.
pub fn shutting_down(resume: Option<u64>) -> Status {
    let detail = match resume {
        Some(seq) => format!("the node is shutting down; resume with since={seq}"),
        None => "the node is shutting down; try again shortly or another node (a stream: send again what was not answered)".to_string(),
    };
    refusal(&Rejection::new(Reason::Unavailable, detail))
}

/// A subscription ended because its reader took nothing for `stall` while its queue was full.
pub fn subscription_stalled(resume: u64, stall: Duration) -> Status {
    refusal(&Rejection::new(
        Reason::RateLimited,
        format!(
            "this subscription was ended: it read nothing for {}s while its queue was full; resume with since={resume}",
            stall.as_secs_f64()
        ),
    ))
}

/// A reconciliation session refused because the node serves `cap` at once already.
pub fn reconcile_busy(cap: usize) -> Status {
    refusal(&Rejection::new(
        Reason::RateLimited,
        format!(
            "this node serves at most {cap} reconciliation sessions at once (limits.reconcile_sessions); try again later"
        ),
    ))
}

/// A reconciliation session refused because the caller's address has one open already.
pub fn reconcile_busy_here() -> Status {
    refusal(&Rejection::new(
        Reason::RateLimited,
        "this address has a reconciliation session with this node open already; finish it first (a peer presenting a certificate is not limited so)",
    ))
}

/// A reconciliation session that used up its bound (`what`: rounds or time).
pub fn reconcile_spent(what: &str) -> Status {
    refusal(&Rejection::new(
        Reason::RateLimited,
        format!("this reconciliation session was ended: it reached {what}; start another to go on"),
    ))
}

/// A negentropy message that cannot be read (or a session's negentropy state refused it).
pub fn bad_negentropy(e: impl Display) -> Status {
    malformed_request(format!("the negentropy message cannot be used: {e}"))
}

/// A request listing more than `max` of `what`.
pub fn too_many(what: &str, sent: usize, max: usize) -> Status {
    malformed_request(format!(
        "{sent} {what} in one request; at most {max}, send the rest in another"
    ))
}

/// Whether a status is tonic's own refusal of a message over the gRPC size limit (made before
/// any handler runs, or when a client stream's next message is read).
pub fn is_over_size_limit(code: Code, message: &str) -> bool {
    code == Code::OutOfRange && (message.contains("too large") || message.contains("too%20large"))
}

/// The words tonic 0.14 answers a request that is not protobuf of the method's type with
/// (`Code::Internal`), as the client reads them and as they stand in the header.
const TONIC_UNDECODABLE: [&str; 2] = [
    "failed to decode Protobuf message",
    "failed%20to%20decode%20Protobuf%20message",
];

/// Whether a status is tonic's own answer to a request that does not decode (made before any
/// handler runs, or when a client stream's next message is read).
pub fn is_undecodable(code: Code, message: &str) -> bool {
    code == Code::Internal && TONIC_UNDECODABLE.iter().any(|w| message.starts_with(w))
}

/// The protocol's refusal of a message over the gRPC size limit: `too-large`, with the same
/// code as a body over the protocol's limit, whatever tonic said.
pub fn over_size_limit() -> Status {
    refusal(&Rejection::new(
        Reason::TooLarge,
        "the message is over this node's gRPC message size limit (limits.max_grpc_message_bytes)",
    ))
}

/// The protocol's refusal of a request that does not decode: `malformed`, as a body that does
/// not decode is, where tonic says INTERNAL.
pub fn undecodable() -> Status {
    malformed_request(
        "the request does not decode as the method's protobuf message (see proto/tocsin.proto)",
    )
}

/// The protocol's refusal for a status tonic made itself (`code`, `message`) before any handler
/// saw the request, if it is one this node answers as a refusal: over the size limit, or not
/// protobuf at all.
pub fn tonic_refusal(code: Code, message: &str) -> Option<Status> {
    if is_over_size_limit(code, message) {
        Some(over_size_limit())
    } else if is_undecodable(code, message) {
        Some(undecodable())
    } else {
        None
    }
}

/// A status that ended a client's stream (the stream of messages it publishes), as this node
/// answers it: tonic's size refusal becomes `too-large`, a message that does not decode
/// `malformed`; anything else is passed on.
pub fn client_stream_error(status: Status) -> Status {
    tonic_refusal(status.code(), status.message()).unwrap_or(status)
}

/// A call to the operator service from anywhere but the node's own machine.
pub fn operator_only() -> Status {
    Status::permission_denied(
        "the operator service answers only on the node's own machine (a loopback address): run the command there",
    )
}

/// A sync request that names no node to reconcile with, or two (`both`).
pub fn sync_target(both: bool) -> Status {
    let what = if both {
        "give either peer (a configured peer's name) or url (a node's gRPC URL), not both"
    } else {
        "give peer (a configured peer's name) or url (a node's gRPC URL, with ca if needed)"
    };
    Status::invalid_argument(what)
}

/// A reconciliation the operator asked for that could not start. Answered only to the
/// operator on the node's machine, so the words keep their URLs and paths.
impl From<SyncError> for Status {
    fn from(e: SyncError) -> Status {
        match &e {
            SyncError::UnknownPeer { .. } => Status::not_found(e.to_string()),
            SyncError::Plaintext { .. } | SyncError::Myself(_) => {
                Status::invalid_argument(e.to_string())
            }
            SyncError::Ca(_) => Status::failed_precondition(e.to_string()),
            SyncError::Unreachable { .. } => Status::unavailable(e.to_string()),
        }
    }
}

/// A backup that could not be made. The operator service answers only its operator on the
/// node's machine, so the words keep their details (the paths the operator gave, the system's
/// error): they are what the operator acts on.
impl From<BackupError> for Status {
    fn from(e: BackupError) -> Status {
        match &e {
            BackupError::Target { .. } | BackupError::Store(StoreError::BackupTarget { .. }) => {
                Status::failed_precondition(e.to_string())
            }
            BackupError::Store(StoreError::BackupUnsound { .. }) => {
                error!(error = %e, "a backup did not verify");
                Status::aborted(e.to_string())
            }
            BackupError::Store(s) if s.is_unavailable() => {
                error!(error = %e, "a backup failed");
                Status::unavailable(e.to_string())
            }
            BackupError::Copy { .. } | BackupError::Store(_) => {
                error!(error = %e, "a backup failed");
                Status::internal(e.to_string())
            }
        }
    }
}

impl From<NodeError> for Status {
    fn from(e: NodeError) -> Status {
        match e {
            NodeError::Refused(r) => refusal(&r),
            NodeError::ShuttingDown => shutting_down(None),
            // Every read thread busy for longer than `store.read_wait`: load, not a failure.
            NodeError::Store(crate::store::StoreError::Busy { .. }) => refusal(&Rejection::new(
                Reason::Unavailable,
                "this node is too busy reading its store to answer now; try again shortly or another node",
            )),
            NodeError::Store(e) if e.is_unavailable() => {
                // The detail (paths, free space) is for the operator's log, not the wire; the
                // store logs it once when its writes start failing, not once per call.
                tracing::debug!(error = %e, "the store is unavailable");
                refusal(&Rejection::new(
                    Reason::Unavailable,
                    "this node's store is unavailable now (its disk is full or failing): a message sent was not stored; try again later or another node",
                ))
            }
            NodeError::TooManySubscribers(cap) => {
                refusal(&Rejection::new(Reason::RateLimited, cap.to_string()))
            }
            other => {
                // Details (paths, database errors) stay in the node's log, not on the wire.
                error!(error = %other, "internal error");
                Status::internal(
                    "internal error; the node's operator can see the details in its log",
                )
            }
        }
    }
}

/// The seq a status that ended a subscription says to resume from ("resume with since=N":
/// the node shutting down, or a stalled subscriber ended), if it names one.
pub fn resume_point(message: &str) -> Option<u64> {
    let (_, rest) = message.split_once("resume with since=")?;
    let digits = rest
        .find(|c: char| !c.is_ascii_digit())
        .map_or(rest, |end| &rest[..end]);
    digits.parse().ok()
}

/// Reads a refusal back from a status, if it is one.
pub fn rejection_of(status: &Status) -> Option<Rejection> {
    let code = status.metadata().get(REASON_KEY)?.to_str().ok()?;
    let reason = Reason::from_code(code)?;
    let detail = status
        .message()
        .strip_prefix(code)
        .and_then(|m| m.strip_prefix(": "))
        .unwrap_or(status.message());
    Some(Rejection::new(reason, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_round_trip_through_status() {
        for reason in Reason::ALL {
            let r = Rejection::new(reason, "because");
            let s = refusal(&r);
            assert_eq!(s.code(), code_for(reason));
            assert_eq!(rejection_of(&s), Some(r));
        }
    }

    #[test]
    fn a_store_that_cannot_write_is_unavailable_without_its_path() {
        let full = crate::store::StoreError::Full {
            dir: "/srv/secret/store".into(),
            free: 1024,
            reserve: 64 << 20,
        };
        let s = Status::from(NodeError::Store(full));
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(
            rejection_of(&s).map(|r| r.reason),
            Some(Reason::Unavailable)
        );
        assert!(!s.message().contains("/srv"), "{}", s.message());
        let io = crate::store::StoreError::Io {
            dir: "/srv/secret/store".into(),
            source: std::io::Error::from(std::io::ErrorKind::StorageFull),
        };
        let s = Status::from(NodeError::Store(io));
        assert_eq!(
            rejection_of(&s).map(|r| r.reason),
            Some(Reason::Unavailable)
        );
        assert!(!s.message().contains("/srv"));
    }

    #[test]
    fn a_store_too_busy_to_read_is_unavailable_and_says_so() {
        let busy = crate::store::StoreError::Busy {
            dir: "/srv/secret/store".into(),
            threads: 4,
            waited: Duration::from_secs(10),
        };
        let s = Status::from(NodeError::Store(busy));
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(
            rejection_of(&s).map(|r| r.reason),
            Some(Reason::Unavailable)
        );
        assert!(s.message().contains("busy"), "{}", s.message());
        assert!(!s.message().contains("/srv"), "{}", s.message());
    }

    #[test]
    fn resume_points_are_read_back() {
        assert_eq!(
            resume_point("the node is shutting down; resume with since=42"),
            Some(42)
        );
        assert_eq!(
            resume_point("ended: read nothing for 30s; resume with since=7, or later"),
            Some(7)
        );
        assert_eq!(resume_point("resume with since="), None);
        assert_eq!(resume_point("try again later"), None);
    }

    #[test]
    fn internal_errors_are_sanitised() {
        let corrupt = crate::store::StoreError::Corrupt {
            dir: "/secret/path".into(),
            detail: "db: checksum".into(),
        };
        for e in [
            NodeError::Store(corrupt),
            NodeError::Internal("a verification task failed"),
        ] {
            let s = Status::from(e);
            assert_eq!(s.code(), Code::Internal);
            assert!(!s.message().contains("/secret"), "{}", s.message());
            assert!(!s.message().contains("checksum"), "{}", s.message());
            assert!(rejection_of(&s).is_none());
        }
    }

    #[test]
    fn every_stream_end_carries_its_reason_and_where_to_resume() {
        let s = shutting_down(Some(42));
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(
            rejection_of(&s).map(|r| r.reason),
            Some(Reason::Unavailable)
        );
        assert!(s.message().starts_with("unavailable: "), "{}", s.message());
        assert_eq!(resume_point(s.message()), Some(42));
        let s = shutting_down(None);
        assert_eq!(
            rejection_of(&s).map(|r| r.reason),
            Some(Reason::Unavailable)
        );
        assert_eq!(resume_point(s.message()), None);
        let s = Status::from(NodeError::ShuttingDown);
        assert_eq!(
            rejection_of(&s).map(|r| r.reason),
            Some(Reason::Unavailable)
        );
        let s = subscription_stalled(7, Duration::from_secs(30));
        assert_eq!(
            rejection_of(&s).map(|r| r.reason),
            Some(Reason::RateLimited)
        );
        assert_eq!(resume_point(s.message()), Some(7));
        let s = timed_out();
        assert_eq!(s.code(), Code::DeadlineExceeded);
        assert_eq!(
            rejection_of(&s).map(|r| r.reason),
            Some(Reason::Unavailable)
        );
    }

    #[test]
    fn tonic_size_and_decode_refusals_become_ours() {
        // The words tonic 0.14 uses, as the client reads them and as they stand in the header.
        let tonic_words = "Error, decoded message length too large: found 204870 bytes, the limit is: 65536 bytes";
        let s = client_stream_error(Status::out_of_range(tonic_words));
        assert_eq!(s.code(), code_for(Reason::TooLarge));
        assert!(s.message().starts_with("too-large: "), "{}", s.message());
        assert_eq!(rejection_of(&s).map(|r| r.reason), Some(Reason::TooLarge));
        assert!(is_over_size_limit(
            Code::OutOfRange,
            "decoded%20message%20length%20too%20large"
        ));
        // A request that is not protobuf, as tonic answers it.
        let s = client_stream_error(Status::internal(
            "failed to decode Protobuf message: invalid varint",
        ));
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().starts_with("malformed: "), "{}", s.message());
        assert_eq!(rejection_of(&s).map(|r| r.reason), Some(Reason::Malformed));
        assert!(is_undecodable(
            Code::Internal,
            "failed%20to%20decode%20Protobuf%20message:%20invalid%20varint"
        ));
        // Our own internal errors are not mistaken for it.
        assert!(tonic_refusal(Code::Internal, "internal error; see the node's log").is_none());
        // Anything else is passed on as it is.
        let other = client_stream_error(Status::cancelled("gone"));
        assert_eq!(other.code(), Code::Cancelled);
        assert!(rejection_of(&other).is_none());
    }

    #[test]
    fn backup_errors_say_what_the_operator_can_do() {
        let s = Status::from(BackupError::Target {
            dir: "/srv/backups/monday".into(),
            detail: "it exists and is not empty; give a new or empty directory".into(),
        });
        assert_eq!(s.code(), Code::FailedPrecondition);
        assert!(
            s.message().contains("/srv/backups/monday"),
            "{}",
            s.message()
        );
        let s = Status::from(BackupError::Store(StoreError::BackupTarget {
            dir: "/srv/backups/monday/store".into(),
            detail: "it exists and is not empty".into(),
        }));
        assert_eq!(s.code(), Code::FailedPrecondition);
        let s = Status::from(BackupError::Store(StoreError::BackupUnsound {
            dir: "/srv/backups/monday/store".into(),
            detail: "the copy opens at seq 3".into(),
        }));
        assert_eq!(s.code(), Code::Aborted);
        assert!(
            s.message().contains("take the backup again"),
            "{}",
            s.message()
        );
        let s = Status::from(BackupError::Store(StoreError::Io {
            dir: "/srv/backups/monday/store".into(),
            source: std::io::Error::from(std::io::ErrorKind::StorageFull),
        }));
        assert_eq!(s.code(), Code::Unavailable);
        let s = operator_only();
        assert_eq!(s.code(), Code::PermissionDenied);
        assert!(
            s.message().contains("node's own machine"),
            "{}",
            s.message()
        );
    }

    #[test]
    fn sync_errors_say_what_to_give() {
        let s = Status::from(SyncError::UnknownPeer {
            name: "genva".into(),
            configured: vec!["geneva".into(), "baku".into()],
        });
        assert_eq!(s.code(), Code::NotFound);
        assert!(s.message().contains("geneva, baku"), "{}", s.message());
        for both in [true, false] {
            let s = sync_target(both);
            assert_eq!(s.code(), Code::InvalidArgument);
            assert!(s.message().contains("peer") && s.message().contains("url"));
        }
        assert!(sync_target(true).message().contains("not both"));
        let s = Status::from(SyncError::Plaintext {
            url: "http://192.0.2.7:7700".into(),
        });
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains("https://"), "{}", s.message());
    }

    #[test]
    fn reconciliation_refusals_say_which_bound() {
        let s = reconcile_busy(4);
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert!(
            s.message().contains("limits.reconcile_sessions"),
            "{}",
            s.message()
        );
        let s = bad_negentropy("parse ends prematurely");
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().contains("negentropy"), "{}", s.message());
        let s = too_many("ids", 300, 256);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(rejection_of(&s).map(|r| r.reason), Some(Reason::Malformed));
        let s = reconcile_spent("limits.reconcile_rounds (200)");
        assert_eq!(s.code(), Code::ResourceExhausted);
    }

    #[test]
    fn request_fields_keep_their_reason_code() {
        let bad = Rejection::new(Reason::BadKey, "not 32 bytes");
        let s = bad_field("filter author", &bad);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "bad-key: filter author: not 32 bytes");
        assert_eq!(rejection_of(&s).map(|r| r.reason), Some(Reason::BadKey));
        let s = malformed_request("id must be 32 bytes");
        assert_eq!(rejection_of(&s).map(|r| r.reason), Some(Reason::Malformed));
    }
}
