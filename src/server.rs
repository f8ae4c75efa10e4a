//! Assembles a running node: the node runtime, its gRPC listener, its background tasks and
//! its federation followers.
//! `tocsin node run` and the integration tests start nodes through this one path.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::Config;
use crate::federation;
use crate::node::Node;
use crate::rpc;

/// A node serving gRPC, started by [`Server::start`] and stopped by [`Server::shutdown`].
#[derive(Debug)]
pub struct Server {
    /// The node.
    node: Node,
    /// The address gRPC listens on (the real port when the config asked for port 0).
    grpc_addr: SocketAddr,
    /// The gRPC server task; it ends once shutdown begins and in-flight calls are done.
    grpc: JoinHandle<Result<(), rpc::ServeError>>,
}

impl Server {
    /// Opens the node, binds its listener and starts serving and the background tasks.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let listen = config.node.listen;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen} (is another node running there?)"))?;
        Server::start_on(config, listener).await
    }

    /// Like [`Server::start`] on a listener bound already (`node.listen` is then ignored), so
    /// that a set of nodes can know each other's addresses before any starts.
    pub async fn start_on(config: Config, listener: TcpListener) -> anyhow::Result<Server> {
        let node = Node::open(config).context("starting the node")?;
        let grpc_addr = listener.local_addr()?;
        node.start_background();
        federation::start(&node);
        let grpc = tokio::spawn(rpc::serve(node.clone(), listener, node.stopped()));
        let scheme = if node.tls().is_some() {
            "https"
        } else {
            "http"
        };
        if let Some(tls) = node.tls() {
            info!(
                fingerprint = %crate::tls::fingerprint(&tls.identity.cert_pem).unwrap_or_default(),
                "TLS certificate (SHA-256 fingerprint)"
            );
            if let Some(ca) = &tls.own_ca {
                info!(
                    ca = %ca.display(),
                    ca_fingerprint = %std::fs::read(ca).ok().and_then(|p| crate::tls::fingerprint(&p)).unwrap_or_default(),
                    "clients on this machine trust it by themselves; elsewhere: tocsin --ca <a copy of this file> (check the fingerprint)"
                );
            }
        }
        info!(
            node_key = %node.node_key(),
            data = %node.data_dir().display(),
            "Tocsin node ready on {scheme}://{grpc_addr}"
        );
        Ok(Server {
            node,
            grpc_addr,
            grpc,
        })
    }

    /// The node.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The gRPC address.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The gRPC URL for clients (https:// unless the node runs plaintext).
    pub fn url(&self) -> String {
        let scheme = if self.node.tls().is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.grpc_addr)
    }

    /// Graceful shutdown: refuse new work, let in-flight calls finish (up to `grace`), close
    /// subscriptions with a status that says where to resume, wait for tasks, flush the store.
    pub async fn shutdown(self, grace: Duration) -> anyhow::Result<()> {
        self.node.begin_shutdown();
        match tokio::time::timeout(grace, self.grpc).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => warn!(error = %e, "the gRPC server stopped with an error"),
            Ok(Err(e)) => warn!(error = %e, "the gRPC server task failed"),
            Err(_) => warn!("calls still open after {grace:?}; closing them"),
        }
        self.node
            .shutdown(grace)
            .await
            .context("flushing the store")?;
        Ok(())
    }
}
