//! The gRPC layer: the relay service, health and reflection, the server's hardening, and a
//! typed client. Architecture Invariant: the only module that names tonic (besides the
//! generated code fenced in `proto`).

mod client;
mod convert;
pub mod limits;
mod service;
pub mod status;

use std::future::Future;

use tokio::net::TcpListener;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tracing::info;

use crate::node::Node;
use crate::proto;
use crate::proto::relay_server::RelayServer;

pub use client::{Client, ClientError, ClientEvent, ClientTls, GetState, PublishOutcome};
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
}

/// Serves the relay, health and reflection services on `listener` until `shutdown` resolves,
/// then stops accepting and lets in-flight calls finish.
///
/// Hardening, all from the config and none left to library defaults: the maximum gRPC
/// message size, HTTP/2 streams per connection, keepalive pings with a timeout, a cap on open
/// connections, a publishing token bucket per connection, TCP nodelay, and (in the handlers)
/// a timeout on every unary call. Compressed requests are not accepted
/// (no decompression is enabled), so a compression bomb is refused before it is inflated.
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
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "gRPC listening");
    }
    // A cap on open connections; Nagle off (a relay answers small messages).
    let incoming = limits::capped_incoming(listener, limits.max_connections);
    let reporter = health_reporter.clone();
    let mut builder = Server::builder();
    if let Some(tls) = node.tls() {
        let mut config = ServerTlsConfig::new().identity(Identity::from_pem(
            &tls.identity.cert_pem,
            &tls.identity.key_pem,
        ));
        if let Some(ca) = &tls.client_ca {
            // Optional: readers need no certificate; a peer that presents one from these CAs
            // is authenticated, and one from any other CA fails the handshake.
            config = config
                .client_ca_root(Certificate::from_pem(ca))
                .client_auth_optional(true);
        }
        builder = builder.tls_config(config)?;
    }
    builder
        .layer(limits::oversized_as_too_large(node.clone()))
        .max_concurrent_streams(limits.max_concurrent_streams)
        .http2_keepalive_interval(Some(limits.keepalive_interval))
        .http2_keepalive_timeout(Some(limits.keepalive_timeout))
        .http2_max_pending_accept_reset_streams(Some(64))
        .add_service(health)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(relay)
        .serve_with_incoming_shutdown(incoming, async move {
            shutdown.await;
            reporter
                .set_not_serving::<RelayServer<RelayService>>()
                .await;
        })
        .await?;
    Ok(())
}
