//! The `tocsin.v1.Operator` service: what a node's operator asks of it on its own machine
//! (`tocsin node backup`, `tocsin sync`, `tocsin peer invite|join`), answered only to a caller
//! on a loopback address.
//!
//! The node may listen on every address; the operator service must still be out of reach of
//! anyone but a process on the node's machine, whatever the TLS settings (a backup writes
//! where its caller says, and a peer's certificate proves nothing about that). A caller whose
//! address is not loopback, or is not known, is refused before anything is done.

use std::net::SocketAddr;
use std::path::PathBuf;

use tonic::{Request, Response, Status};

use super::convert::{backup_to_proto, synced_to_proto};
use super::status;
use crate::federation::{self, SyncWith};
use crate::node::Node;
use crate::proto;
use crate::proto::operator_server::Operator;

/// The operator service of one node.
#[derive(Debug, Clone)]
pub struct OperatorService {
    node: Node,
}

impl OperatorService {
    /// The operator service of `node`.
    pub fn new(node: Node) -> OperatorService {
        OperatorService { node }
    }
}

/// Whether a caller at `addr` is on the node's machine: a loopback address (127.0.0.0/8, ::1,
/// or 127.0.0.0/8 mapped into IPv6 by a dual-stack listener). An unknown address is not.
pub(crate) fn is_local_caller(addr: Option<SocketAddr>) -> bool {
    addr.is_some_and(|a| a.ip().to_canonical().is_loopback())
}

/// Refuses a caller that is not on the node's machine.
fn local_only<T>(request: &Request<T>) -> Result<(), Status> {
    if is_local_caller(request.remote_addr()) {
        Ok(())
    } else {
        Err(status::operator_only())
    }
}

#[tonic::async_trait]
impl Operator for OperatorService {
    async fn sync(
        &self,
        request: Request<proto::SyncRequest>,
    ) -> Result<Response<proto::SyncReport>, Status> {
        local_only(&request)?;
        let request = request.into_inner();
        let with = match (request.peer.is_empty(), request.url.is_empty()) {
            (false, true) => SyncWith::Peer(request.peer),
            (true, false) => SyncWith::Url {
                url: request.url,
                ca: (!request.ca.is_empty()).then(|| PathBuf::from(request.ca)),
            },
            (false, false) => return Err(status::sync_target(true)),
            (true, true) => return Err(status::sync_target(false)),
        };
        // No timeout: a reconciliation is bounded by the other node's limits and this one's
        // limits.reconcile_rounds, and its caller waits for the counts.
        let synced = federation::sync(&self.node, with).await?;
        Ok(Response::new(synced_to_proto(&synced)))
    }

    async fn backup(
        &self,
        request: Request<proto::BackupRequest>,
    ) -> Result<Response<proto::BackupReply>, Status> {
        local_only(&request)?;
        let dir = request.into_inner().dir;
        if dir.is_empty() {
            return Err(status::malformed_request(
                "dir: the directory to write the backup to is missing",
            ));
        }
        // No timeout: the copy takes as long as the store is large, and its caller waits.
        let backup = self.node.backup(&PathBuf::from(dir)).await?;
        Ok(Response::new(backup_to_proto(&backup)))
    }

    async fn invite(
        &self,
        request: Request<proto::InviteRequest>,
    ) -> Result<Response<proto::InviteReply>, Status> {
        local_only(&request)?;
        let r = request.into_inner();
        let invitation = crate::peering::invite(
            &self.node,
            &r.name,
            std::time::Duration::from_secs(r.valid_seconds),
            &r.address,
        )
        .await?;
        Ok(Response::new(proto::InviteReply {
            line: invitation.line,
            expires_at: invitation.expires_at,
            address: invitation.address,
            ca_fingerprint: invitation.ca_fingerprint,
        }))
    }

    async fn join(
        &self,
        request: Request<proto::JoinRequest>,
    ) -> Result<Response<proto::JoinReply>, Status> {
        local_only(&request)?;
        let r = request.into_inner();
        let plan = crate::peering::plan_join(&self.node, &r.line, &r.name, &r.address).await?;
        let embargo_early = super::peering::join(&self.node, &plan).await?;
        Ok(Response::new(proto::JoinReply {
            peer_name: plan.name,
            peer_address: plan.line.address,
            config_file: plan.config_file.display().to_string(),
            embargo_early,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_callers_are_local() {
        let local = [
            "127.0.0.1:7700",
            "127.1.2.3:40000",
            "[::1]:7700",
            "[::ffff:127.0.0.1]:7700",
        ];
        for addr in local {
            assert!(is_local_caller(Some(addr.parse().unwrap())), "{addr}");
        }
        let remote = [
            "192.0.2.10:7700",
            "10.0.0.1:7700",
            "0.0.0.0:7700",
            "[2001:db8::1]:7700",
            "[::ffff:192.0.2.10]:7700",
            "[::]:7700",
        ];
        for addr in remote {
            assert!(!is_local_caller(Some(addr.parse().unwrap())), "{addr}");
        }
        assert!(!is_local_caller(None), "an unknown address is not local");
    }

    #[test]
    fn a_remote_caller_is_refused_before_anything_is_done() {
        let request = Request::new(proto::BackupRequest { dir: "/x".into() });
        // A request built in a test carries no address: unknown, so refused.
        let refused = local_only(&request).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        assert!(
            refused.message().contains("only on the node's own machine"),
            "{}",
            refused.message()
        );
    }
}
