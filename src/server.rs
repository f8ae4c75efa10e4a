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

/// The data directory a node uses when none is given, where the CLI looks for a CA by itself.
const DEFAULT_DATA_DIR: &str = "tocsin-data";

/// A command that trusts the node's CA `ca` and reaches the node listening on `listen`, as it
/// can be pasted: `tocsin node status --node https://HOST:PORT --ca /abs/path/ca.crt`. A node
/// listening on every address is named by its first `tls.names` (its certificate lists it),
/// else by loopback.
pub fn trust_command(listen: SocketAddr, names: &[String], ca: &std::path::Path) -> String {
    let host = if listen.ip().is_unspecified() {
        names
            .first()
            .cloned()
            .unwrap_or_else(|| "127.0.0.1".to_string())
    } else {
        match listen.ip() {
            std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            v4 => v4.to_string(),
        }
    };
    let ca = std::path::absolute(ca).unwrap_or_else(|_| ca.to_path_buf());
    format!(
        "tocsin node status --node https://{host}:{} --ca {}",
        listen.port(),
        ca.display()
    )
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
        // Reloads the peers and client CAs when the config file changes.
        crate::peering::start(&node);
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
                let command = trust_command(grpc_addr, &node.config().tls.names, ca);
                let fingerprint = std::fs::read(ca)
                    .ok()
                    .and_then(|p| crate::tls::fingerprint(&p))
                    .unwrap_or_default();
                // The CLI finds the CA by itself only in ./tocsin-data of its own working
                // directory: anywhere else, the flags are the way.
                if node.config().node.data_dir == std::path::Path::new(DEFAULT_DATA_DIR) {
                    info!(
                        ca = %ca.display(),
                        ca_fingerprint = %fingerprint,
                        "clients started in this directory trust it by themselves; elsewhere: {command} (with a copy of the CA file; check its fingerprint)"
                    );
                } else {
                    info!(
                        ca = %ca.display(),
                        ca_fingerprint = %fingerprint,
                        "clients trust it with: {command} (elsewhere, with a copy of the CA file; check its fingerprint)"
                    );
                }
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

    /// Graceful shutdown within one grace period overall: refuse new work; let in-flight calls
    /// and page requests finish, the gRPC server and the web gateway at once, until `grace` has
    /// passed (then they are closed); close subscriptions with a status that says where to
    /// resume; wait for the node's tasks with what is left of `grace`; flush the store (always,
    /// however long it takes: what it holds is not given up to a deadline).
    pub async fn shutdown(self, grace: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + grace;
        self.node.begin_shutdown();
        let grpc = finish_by(deadline, self.grpc, "the gRPC server", "calls");
        let http = async {
            if let Some((_, task)) = self.http {
                finish_by(deadline, task, "the web gateway", "HTTP requests").await;
            }
        };
        tokio::join!(grpc, http);
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.node
            .shutdown(left)
            .await
            .context("flushing the store")?;
        Ok(())
    }
}

/// What a server task ends with: nothing, or an error to log.
trait Ending {
    fn problem(self) -> Option<String>;
}

impl Ending for () {
    fn problem(self) -> Option<String> {
        None
    }
}

impl<E: std::fmt::Display> Ending for Result<(), E> {
    fn problem(self) -> Option<String> {
        self.err().map(|e| e.to_string())
    }
}

/// Waits for a server task to finish until `deadline`, then aborts it (closing what it still
/// has open). `what` names the task and `open` what it serves, for the log.
async fn finish_by<T: Ending>(
    deadline: tokio::time::Instant,
    mut task: JoinHandle<T>,
    what: &str,
    open: &str,
) {
    match tokio::time::timeout_at(deadline, &mut task).await {
        Ok(Ok(ending)) => {
            if let Some(e) = ending.problem() {
                warn!(error = %e, "{what} stopped with an error");
            }
        }
        Ok(Err(e)) => warn!(error = %e, "{what} task failed"),
        Err(_) => {
            warn!("{open} still open at the end of the grace period; closing them");
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_servers_share_one_grace_period() {
        // Two servers that never finish by themselves: both are waited for at once, and both
        // are closed when the one deadline passes (with time paused, the clock moves only as
        // the timers say, so the elapsed time is exact).
        let started = tokio::time::Instant::now();
        let grace = Duration::from_secs(10);
        let deadline = started + grace;
        let grpc = tokio::spawn(std::future::pending::<Result<(), std::io::Error>>());
        let http = tokio::spawn(std::future::pending::<()>());
        let (grpc_abort, http_abort) = (grpc.abort_handle(), http.abort_handle());
        tokio::join!(
            finish_by(deadline, grpc, "gRPC", "calls"),
            finish_by(deadline, http, "HTTP", "requests"),
        );
        assert_eq!(started.elapsed(), grace);
        tokio::task::yield_now().await;
        assert!(grpc_abort.is_finished() && http_abort.is_finished());
        // A task that ends in time is not waited for past its end.
        let started = tokio::time::Instant::now();
        let quick = tokio::spawn(async {
            tokio::time::sleep(Duration::from_secs(2)).await;
        });
        finish_by(started + grace, quick, "quick", "calls").await;
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }
}
