//! The gRPC layer: the relay service, health and reflection, the server's hardening, and a
//! typed client. Architecture Invariant: the only module that names tonic (besides the
//! generated code fenced in `proto`).

mod client;
mod connect;
mod convert;
mod edge;
pub mod limits;
mod operator;
mod peering;
mod reconcile;
mod service;
pub mod status;
#[cfg(test)]
mod tests;
mod tls_names;

use std::future::Future;

use tokio::net::TcpListener;
use tonic::transport::Server;
use tracing::info;

use crate::node::Node;
use crate::proto;
use crate::proto::operator_server::OperatorServer;
use crate::proto::peering_server::PeeringServer;
use crate::proto::relay_server::RelayServer;

pub use client::{
    Client, ClientError, ClientEvent, ClientTls, FetchedChunk, GetState, IMPORT_HEADER,
    ItemsListing, PublishOutcome, ReconcileSession,
};
pub(crate) use connect::{is_plaintext_url, is_tls_url};
pub use operator::OperatorService;
pub use reconcile::{FRAME_LIMIT_HEADER, NEGENTROPY_FRAME_LIMIT, RECONCILE_BATCH, agreed_frame};
pub use service::RelayService;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The transport failed.
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Reflection could not be built from the descriptor set.
    #[error("gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The node's TLS material could not be used (the message says which part).
    #[error("{0}")]
    Tls(String),
}

impl From<edge::EdgeError> for ServeError {
    fn from(e: edge::EdgeError) -> ServeError {
        ServeError::Tls(e.to_string())
    }
}

/// Serves the relay, operator, health and reflection services on `listener` until `shutdown` resolves,
/// then stops accepting and lets in-flight calls finish.
///
/// Hardening, all from the config and none left to library defaults: the edge (`edge/`:
/// connect rate and connection caps per address and prefix, a handshake timeout, slots taken
/// only after the handshake with a reserve for authenticated peers, an idle timeout, a budget
/// of new calls per connection), the maximum gRPC message size, HTTP/2 streams per connection,
/// keepalive pings with a timeout, a publishing token bucket per connection, TCP nodelay, and
/// (in the handlers) a timeout on every unary call. Compressed requests are not accepted (no
/// decompression is enabled), so a compression bomb is refused before it is inflated.
pub async fn serve(
    node: Node,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let limits = node.config().limits.clone();
    let conn_limits = limits::ConnectionLimits::new(
        limits.publish_per_connection_per_second,
        limits.publish_per_connection_burst,
    );
    {
        let conn_limits = conn_limits.clone();
        let stopped = node.stopped();
        node.spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            tokio::pin!(stopped);
            loop {
                tokio::select! {
                    _ = tick.tick() => conn_limits.forget_idle(),
                    _ = &mut stopped => return,
                }
            }
        });
    }
    let relay = RelayServer::new(RelayService::new(node.clone(), conn_limits))
        .max_decoding_message_size(limits.max_grpc_message_bytes)
        .max_encoding_message_size(limits.max_grpc_message_bytes);
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<RelayServer<RelayService>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    // Built before anything is served, so bad TLS material stops the start; with the client
    // CAs as the last reload left them, made again at the first handshake after each reload
    // (`peering/`).
    let mut reloads = node.peering().watch();
    let tls = node
        .tls()
        .map(|material| {
            let mut material = material.clone();
            material.client_ca = reloads.borrow_and_update().client_ca_pem.clone();
            edge::Tls::new(&material).map(|tls| tls.following(reloads))
        })
        .transpose()?;
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "gRPC listening");
    }
    let edge = edge::Edge::new(node.clone());
    let reporter = health_reporter.clone();
    let router = Server::builder()
        .layer(limits::tonic_refusals_as_ours(node.clone()))
        .layer(edge::StreamGateLayer::new(edge.clone()))
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .http2_max_pending_accept_reset_streams(Some(64))
        .add_service(health)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(relay)
        // Answered to loopback callers only (see `operator.rs`).
        .add_service(OperatorServer::new(OperatorService::new(node.clone())))
        // Public: a node holding an invitation joins (see `peering.rs`).
        .add_service(
            PeeringServer::new(peering::PeeringService::new(node.clone()))
                // A join carries a secret, a name, an address, a CA and a key: a few KiB.
                .max_decoding_message_size(peering::MAX_JOIN_BYTES),
        );
    let shutdown = async move {
        shutdown.await;
        reporter
            .set_not_serving::<RelayServer<RelayService>>()
            .await;
    };
    // The edge runs the TLS handshake itself (tonic is given the finished TLS stream, whose
    // connection info still carries the client's certificates for `peer_certs`).
    match tls {
        Some(tls) => {
            router
                .serve_with_incoming_shutdown(edge::incoming(edge, listener, tls), shutdown)
                .await?
        }
        None => {
            router
                .serve_with_incoming_shutdown(
                    edge::incoming(edge, listener, edge::Plaintext),
                    shutdown,
                )
                .await?
        }
    }
    Ok(())
}
