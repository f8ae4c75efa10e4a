//! Peering on the wire: the public `tocsin.v1.Peering` service (a node holding an invitation
//! joins), and the joining side's calls: the inviter's CA learned from a TLS handshake that
//! pins it by the invitation's fingerprint, then `Peering.Join` over a connection that trusts
//! that CA alone. The rules are `peering/`'s; this file converts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio_rustls::rustls;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Response, Status};

use super::client::{Client, ClientTls};
use crate::message::AuthorKey;
use crate::node::Node;
use crate::peering::{self, JoinAnswer, JoinAsk, JoinPlan, PeeringError};
use crate::proto;
use crate::proto::peering_client::PeeringClient;
use crate::proto::peering_server::Peering;

/// The largest `Peering.Join` request taken (its caller is anyone).
pub(crate) const MAX_JOIN_BYTES: usize = 64 * 1024;

/// How long the joining node waits for the inviter to connect and to answer.
const JOIN_TIMEOUT: Duration = Duration::from_secs(15);

impl From<PeeringError> for Status {
    fn from(e: PeeringError) -> Status {
        let code = match &e {
            PeeringError::NoConfigFile | PeeringError::NoTls | PeeringError::OwnCa(_) => {
                Code::FailedPrecondition
            }
            PeeringError::Secret(_) => Code::PermissionDenied,
            PeeringError::AlreadyPeer { .. } => Code::AlreadyExists,
            PeeringError::Invitations(peering::InvitationsError::TooMany) => {
                Code::ResourceExhausted
            }
            PeeringError::Address(_)
            | PeeringError::Name(_)
            | PeeringError::Line(_)
            | PeeringError::Bad(_) => Code::InvalidArgument,
            PeeringError::Invitations(_)
            | PeeringError::Edit(_)
            | PeeringError::Io { .. }
            | PeeringError::Interrupted(_)
            | PeeringError::Random(_) => {
                // Paths and file errors are for the operator's log, not for the caller.
                tracing::warn!(error = %e, "peering failed");
                return Status::internal("this node could not record the peer (see its log)");
            }
        };
        Status::new(code, e.to_string())
    }
}

/// The public peering service of one node.
#[derive(Debug, Clone)]
pub(crate) struct PeeringService {
    node: Node,
}

impl PeeringService {
    /// The service of `node`.
    pub(crate) fn new(node: Node) -> PeeringService {
        PeeringService { node }
    }
}

#[tonic::async_trait]
impl Peering for PeeringService {
    async fn join(
        &self,
        request: Request<proto::PeerJoinRequest>,
    ) -> Result<Response<proto::PeerJoinReply>, Status> {
        let r = request.into_inner();
        let node_key = AuthorKey::from_slice(&r.node_key)
            .map_err(|e| Status::invalid_argument(format!("node_key: {}", e.detail)))?;
        let answer = peering::accept(
            &self.node,
            JoinAsk {
                secret: r.secret,
                name: r.name,
                address: r.address,
                ca_pem: r.ca_pem,
                node_key,
            },
        )
        .await
        .map_err(|e| match e {
            // The caller is anyone: this node's own files and paths are for its log.
            PeeringError::OwnCa(_) => {
                tracing::warn!(error = %e, "a join could not be answered");
                Status::internal("this node cannot take joins now (see its log)")
            }
            other => Status::from(other),
        })?;
        Ok(Response::new(proto::PeerJoinReply {
            name: answer.name,
            ca_pem: answer.ca_pem,
            node_key: answer.node_key.as_bytes().to_vec(),
        }))
    }
}

/// SHA-256 of a certificate's DER, as `tls::fingerprint` writes it.
fn fingerprint_der(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Accepts a server whose chain holds a certificate with the pinned fingerprint and whose own
/// certificate verifies under it (names and dates included), and keeps that certificate.
#[derive(Debug)]
struct PinnedCa {
    fingerprint: String,
    provider: Arc<rustls::crypto::CryptoProvider>,
    found: Mutex<Option<Vec<u8>>>,
}

impl rustls::client::danger::ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let pinned = intermediates
            .iter()
            .find(|c| fingerprint_der(c) == self.fingerprint)
            .ok_or_else(|| {
                rustls::Error::General(
                    "the node's certificate chain holds no CA with the invitation's fingerprint"
                        .into(),
                )
            })?;
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pinned.clone().into_owned())?;
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&self.provider),
        )
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))?;
        let verified =
            verifier.verify_server_cert(end_entity, &[], server_name, ocsp_response, now)?;
        *self
            .found
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(pinned.to_vec());
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn unreachable(address: &str, detail: impl std::fmt::Display) -> PeeringError {
    PeeringError::Address(format!(
        "cannot reach the inviting node at {address}: {detail}"
    ))
}

/// The inviter's CA (PEM), from a TLS handshake with it that succeeds only when its chain
/// holds the CA the invitation pins and its certificate verifies under that CA.
async fn pinned_ca(address: &str, fingerprint: &str) -> Result<Vec<u8>, PeeringError> {
    let uri: tonic::codegen::http::Uri = address
        .parse()
        .map_err(|e| unreachable(address, format!("not a URL: {e}")))?;
    if uri.scheme_str() != Some("https") {
        return Err(unreachable(
            address,
            "an invitation's address must be https://",
        ));
    }
    let host = uri
        .host()
        .ok_or_else(|| unreachable(address, "no host"))?
        .trim_matches(['[', ']'])
        .to_string();
    let port = uri.port_u16().unwrap_or(443);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinnedCa {
        fingerprint: fingerprint.to_string(),
        provider: Arc::clone(&provider),
        found: Mutex::new(None),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PeeringError::Bad(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::clone(&verifier) as _)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = rustls::pki_types::ServerName::try_from(host.clone())
        .map_err(|e| unreachable(address, e))?;
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| unreachable(address, e))?;
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| {
                PeeringError::Bad(format!(
                    "the node at {address} is not the one that made this invitation (its certificate is not from the CA with fingerprint {fingerprint}): {e}"
                ))
            })
    };
    let _tls = tokio::time::timeout(JOIN_TIMEOUT, handshake)
        .await
        .map_err(|_| unreachable(address, "no answer in time"))??;
    let der = verifier
        .found
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
        .ok_or_else(|| PeeringError::Bad("the handshake showed no CA".into()))?;
    Ok(peering::pem_of(&der))
}

/// Joins the inviter of `plan` (joiner's side, `Operator.Join`): learns its pinned CA, calls
/// `Peering.Join` trusting that CA alone, records the inviter here, and says whether
/// embargoed messages now flow early both ways.
///
/// Run in a task of its own: the operator's call may be dropped (Ctrl-C), and the trust given
/// to the inviter before the join is asked must still be taken back if the join does not end
/// in success.
pub(crate) async fn join(node: &Node, plan: &JoinPlan) -> Result<bool, Status> {
    let node = node.clone();
    let plan = plan.clone();
    tokio::spawn(async move { join_detached(&node, &plan).await })
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "a join's task ended abnormally");
            Status::internal("the join failed on this node (see its log)")
        })?
}

async fn join_detached(node: &Node, plan: &JoinPlan) -> Result<bool, Status> {
    let address = &plan.line.address;
    let ca_pem = pinned_ca(address, &plan.line.ca_fingerprint).await?;
    let secret = plan
        .line
        .secret()
        .ok_or_else(|| Status::invalid_argument("the invitation's secret is not 32 bytes"))?;
    let endpoint = Endpoint::from_shared(address.clone())
        .map_err(|e| Status::from(unreachable(address, e)))?
        .connect_timeout(JOIN_TIMEOUT)
        .timeout(JOIN_TIMEOUT)
        .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(&ca_pem)))
        .map_err(|e| Status::from(unreachable(address, e)))?;
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| Status::from(unreachable(address, e)))?;
    peering::trust_inviter(node, plan, &ca_pem).await?;
    // Every way but success takes the trust back: a refusal, a bad answer, a failed record.
    let joined = async {
        let reply = ask_join(channel, node, plan, &secret).await?;
        let answer = JoinAnswer {
            name: reply.name,
            ca_pem: reply.ca_pem,
            node_key: AuthorKey::from_slice(&reply.node_key).map_err(|e| {
                Status::invalid_argument(format!("the inviter's node key: {}", e.detail))
            })?,
        };
        peering::joined(node, plan, &ca_pem, &answer).await?;
        Ok::<_, Status>(())
    }
    .await;
    if let Err(status) = joined {
        peering::untrust_inviter(node, plan).await;
        return Err(status);
    }
    Ok(embargo_early_at(node, address, &ca_pem).await)
}

/// `Peering.Join` on the inviter, with this node's CA, name, address and key.
async fn ask_join(
    channel: tonic::transport::Channel,
    node: &Node,
    plan: &JoinPlan,
    secret: &[u8],
) -> Result<proto::PeerJoinReply, Status> {
    let reply = PeeringClient::new(channel)
        .join(proto::PeerJoinRequest {
            secret: secret.to_vec(),
            name: node.config().node.name.clone(),
            address: plan.address.clone(),
            ca_pem: plan.ca_pem.clone(),
            node_key: node.node_key().as_bytes().to_vec(),
        })
        .await
        // The inviter's refusal (used, expired, unknown, a name taken) as it said it.
        .map_err(|s| {
            Status::new(
                s.code(),
                format!("the inviting node refused: {}", s.message()),
            )
        })?
        .into_inner();
    Ok(reply)
}

/// Whether the node at `address` now authenticates this node's client certificate (it sends
/// embargoed messages early), asked on new connections while its reload reaches its edge
/// (bounded: a few seconds), and whether this node trusts it back (its CA is in the reloaded
/// client CAs).
async fn embargo_early_at(node: &Node, address: &str, ca_pem: &[u8]) -> bool {
    let trusted_here = node
        .peering()
        .now()
        .client_ca_pem
        .is_some_and(|bundle| bundle.windows(ca_pem.len()).any(|w| w == ca_pem));
    if !trusted_here {
        return false;
    }
    let tls = ClientTls {
        ca_pem: Some(ca_pem.to_vec()),
        identity: node.tls().map(|t| t.identity.clone()),
        ca_path: None,
    };
    for _ in 0..20 {
        if let Ok(mut client) = Client::connect_with(address, &tls).await
            && let Ok(info) = client.info_for(Some(node.node_key())).await
            && info.embargo_early
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
