//! Reconciliation asked for by the operator, now (`Operator.Sync`, `tocsin sync`): with a
//! configured peer, made and noted exactly as its follower's periodic run (the peer's status,
//! the log, `/metrics`); or with any node by URL, which is offered only what readers may see
//! here.
//!
//! Either way the node connects afresh (the follower's connection may be down: that is often
//! why the operator asks), learns the other node's key, and runs the one initiator
//! (`reconcile.rs`).

use std::path::PathBuf;

use super::reconcile::{Target, reconcile};
use super::{peer_tls, reconcile_with_peer};
use crate::config::is_loopback_url;
use crate::message::AuthorKey;
use crate::node::{Node, ReconcileStatus};
use crate::rpc::{Client, ClientError, ClientTls};

/// Whom to reconcile with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncWith {
    /// A configured peer, by its name in the config: its address and CA from there, offered
    /// what peers may see here.
    Peer(String),
    /// Any node by its gRPC URL, offered what readers may see here.
    Url {
        /// The node's URL.
        url: String,
        /// The CA certificate (PEM) to check its certificate against, a file on this node's
        /// machine; `None`: the node's federation CA (`tls.client_ca`) if it has one, else the
        /// system's roots.
        ca: Option<PathBuf>,
    },
}

/// A reconciliation that ran (to its end or not: `status.error` says).
#[derive(Debug, Clone)]
pub struct Synced {
    /// The peer's name, or the URL.
    pub name: String,
    /// The other node's key.
    pub node_key: AuthorKey,
    /// What it found, fetched and offered.
    pub status: ReconcileStatus,
}

/// Why no reconciliation ran. The words are for the operator on the node's machine (the only
/// one answered), so they keep paths and URLs.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No configured peer has that name.
    #[error("{}", unknown_peer(.name, .configured))]
    UnknownPeer {
        /// The name asked for.
        name: String,
        /// The names in the config.
        configured: Vec<String>,
    },
    /// A URL this node would not follow either: plaintext to another machine.
    #[error("{url}: plaintext (http://) is allowed only to a loopback address; use https://")]
    Plaintext {
        /// The URL asked for.
        url: String,
    },
    /// The CA certificate could not be read.
    #[error("{0}")]
    Ca(String),
    /// The other node could not be reached, or did not say who it is.
    #[error("cannot reconcile with {name}: {source}")]
    Unreachable {
        /// The peer's name or the URL.
        name: String,
        /// Why.
        source: ClientError,
    },
    /// The other node is this one.
    #[error("{0} is this node itself")]
    Myself(String),
}

fn unknown_peer(name: &str, configured: &[String]) -> String {
    if configured.is_empty() {
        format!(
            "no peer is named {name:?}: this node has no configured peers; give a node's URL instead"
        )
    } else {
        format!(
            "no peer is named {name:?}; the configured peers are: {}",
            configured.join(", ")
        )
    }
}

/// Reconciles with `with` now. A configured peer's run is noted in its status and `/metrics`
/// as a periodic run is; a run by URL is noted in the log only.
pub async fn sync(node: &Node, with: SyncWith) -> Result<Synced, SyncError> {
    let me = node.node_key();
    match with {
        SyncWith::Peer(name) => {
            // The peers as the last reload left them.
            let peers = &node.peering().now().peers;
            let Some(peer) = peers.iter().find(|p| p.name == name) else {
                return Err(SyncError::UnknownPeer {
                    name,
                    configured: peers.iter().map(|p| p.name.clone()).collect(),
                });
            };
            let tls = peer_tls(node, peer).map_err(SyncError::Ca)?;
            let (mut client, node_key) = connect(&name, &peer.address, &tls, me).await?;
            let target = Target {
                name,
                node_key,
                // As its follower does: its certificate is checked against peer.ca.
                authenticated: true,
            };
            let status = reconcile_with_peer(node, &mut client, &target, true).await;
            Ok(Synced {
                name: target.name,
                node_key,
                status,
            })
        }
        SyncWith::Url { url, ca } => {
            // Any case: HTTP:// is plaintext to the client too.
            if crate::rpc::is_plaintext_url(&url) && !is_loopback_url(&url) {
                return Err(SyncError::Plaintext { url });
            }
            let ca_path = ca.clone();
            let ca_pem = match ca {
                Some(path) => Some(
                    std::fs::read(&path)
                        .map_err(|e| SyncError::Ca(format!("ca {}: {e}", path.display())))?,
                ),
                None => node.tls().and_then(|t| t.client_ca.clone()),
            };
            let tls = ClientTls {
                ca_pem,
                identity: node.tls().map(|t| t.identity.clone()),
                ca_path,
            };
            let (mut client, node_key) = connect(&url, &url, &tls, me).await?;
            let target = Target {
                name: url,
                node_key,
                // Not a configured peer: whatever it trusts of us, we offer what readers see.
                authenticated: false,
            };
            // Logged by `reconcile` itself, as every run is.
            let status = reconcile(node, &mut client, &target).await;
            Ok(Synced {
                name: target.name,
                node_key,
                status,
            })
        }
    }
}

/// Connects to `address` and learns its node key (this node naming itself, as a follower
/// does); refuses this node itself.
async fn connect(
    name: &str,
    address: &str,
    tls: &ClientTls,
    me: AuthorKey,
) -> Result<(Client, AuthorKey), SyncError> {
    let unreachable = |source| SyncError::Unreachable {
        name: name.to_string(),
        source,
    };
    let mut client = Client::connect_with(address, tls)
        .await
        .map_err(unreachable)?;
    let info = client.info_for(Some(me)).await.map_err(unreachable)?;
    if info.node_key == me {
        return Err(SyncError::Myself(name.to_string()));
    }
    Ok((client, info.node_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_peer_is_answered_with_the_names_to_use() {
        let e = SyncError::UnknownPeer {
            name: "genva".into(),
            configured: vec!["geneva".into(), "baku".into()],
        };
        assert_eq!(
            e.to_string(),
            "no peer is named \"genva\"; the configured peers are: geneva, baku"
        );
        let e = SyncError::UnknownPeer {
            name: "geneva".into(),
            configured: vec![],
        };
        assert!(e.to_string().contains("give a node's URL"), "{e}");
    }
}
