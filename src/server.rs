//! Assembles a running node: the node runtime, its gRPC listener, its web gateway, its
//! background tasks and its federation followers.
//! `tocsin node run` and the integration tests start nodes through this one path.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::Config;
use crate::federation;
use crate::http;
use crate::node::{Clock, Node};
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
    /// The web gateway's address and task (none when `http.enabled` is false); the task ends
    /// once shutdown begins and open requests are done.
    http: Option<(SocketAddr, JoinHandle<()>)>,
}

impl Server {
    /// Opens the node, binds its listener and starts serving and the background tasks.
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        Server::start_with_clock(config, Clock::system()).await
    }

    /// [`Server::start`] with the clock the node reads (see [`Server::start_on_with_clock`]).
    pub async fn start_with_clock(config: Config, clock: Clock) -> anyhow::Result<Server> {
        let listen = config.node.listen;
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen} (is another node running there?)"))?;
        Server::start_on_with_clock(config, listener, clock).await
    }

    /// Like [`Server::start`] on a listener bound already (`node.listen` is then ignored), so
    /// that a set of nodes can know each other's addresses before any starts.
    pub async fn start_on(config: Config, listener: TcpListener) -> anyhow::Result<Server> {
        Server::start_on_with_clock(config, listener, Clock::system()).await
    }

    /// [`Server::start_on`] with the clock the node reads: tests run nodes whose clocks are
    /// skewed, or stand still until moved, to test expiry, embargo and skew without sleeping.
    pub async fn start_on_with_clock(
        config: Config,
        listener: TcpListener,
        clock: Clock,
    ) -> anyhow::Result<Server> {
        let http_listener = if config.http.enabled {
            let listen = config.http.listen;
            let l = TcpListener::bind(listen).await.with_context(|| {
                format!("listening for HTTP on {listen} (is another node running there? see http.listen)")
            })?;
            Some(l)
        } else {
            None
        };
        let node = Node::open_with_clock(config, clock).context("starting the node")?;
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
        let http = match http_listener {
            Some(l) => {
                let addr = l.local_addr()?;
                info!("web gateway on http://{addr}");
                Some((addr, tokio::spawn(http::serve(node.clone(), l))))
            }
            None => None,
        };
        info!(
            node_key = %node.node_key(),
            data = %node.data_dir().display(),
            "Tocsin node ready on {scheme}://{grpc_addr}"
        );
        Ok(Server {
            node,
            grpc_addr,
            grpc,
            http,
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

    /// The web gateway's address (the real port when the config asked for port 0); `None`
    /// when `http.enabled` is false.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|(addr, _)| *addr)
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
        if let Some((_, task)) = self.http {
            match tokio::time::timeout(grace, task).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => warn!(error = %e, "the web gateway task failed"),
                Err(_) => warn!("HTTP requests still open after {grace:?}; closing them"),
            }
        }
        self.node
            .shutdown(grace)
            .await
            .context("flushing the store")?;
        Ok(())
    }
}
