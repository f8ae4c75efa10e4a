//! The one place that maps errors to gRPC status: reason codes travel in the message and in
//! `tocsin-reason` metadata; internal errors are sanitised.

use tonic::metadata::MetadataValue;
use tonic::{Code, Status};
use tracing::error;

use crate::message::{Reason, Rejection};
use crate::node::NodeError;

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
    let mut status = Status::new(code_for(r.reason), r.to_string());
    status
        .metadata_mut()
        .insert(REASON_KEY, MetadataValue::from_static(r.reason.code()));
    status
}

impl From<NodeError> for Status {
    fn from(e: NodeError) -> Status {
        match e {
            NodeError::Refused(r) => refusal(&r),
            NodeError::ShuttingDown => refusal(&Rejection::new(
                Reason::Unavailable,
                "the node is shutting down; try again shortly or another node",
            )),
            NodeError::Store(e) if e.is_unavailable() => {
                // The detail (paths, free space) is for the operator's log, not the wire.
                if !matches!(e, crate::store::StoreError::Full { .. }) {
                    error!(error = %e, "the store cannot write");
                }
                refusal(&Rejection::new(
                    Reason::Unavailable,
                    "this node cannot store messages now (its disk is full or failing); nothing was stored: try again later or another node",
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
        let s = Status::from(NodeError::Internal("/secret/path/db: checksum".into()));
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("/secret"));
        assert!(rejection_of(&s).is_none());
    }
}
