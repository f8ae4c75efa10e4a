//! Why a TLS handshake on the gRPC port failed, in the node's words: the classifier of the
//! handshake's errors (walking the io::Error to the `rustls::Error` inside), the look at the
//! first bytes that tells plaintext from TLS, and a client certificate verifier that remembers
//! who issued the certificates it refused (an issuer's name, never a client address).

use std::sync::{Arc, Mutex};

use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::HandshakeSignatureValid;
use tokio_rustls::rustls::pki_types::{CertificateDer, UnixTime};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::{
    AlertDescription, CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme,
};

use crate::node::metrics::TlsCause;

/// A failed handshake: its cause, and a detail for the log and `node status` when it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    /// Why.
    pub(crate) cause: TlsCause,
    /// For an untrusted client CA: who issued the certificate, and whom the node trusts.
    pub(crate) detail: Option<String>,
}

impl Refused {
    /// A refusal with no detail.
    pub(crate) fn because(cause: TlsCause) -> Refused {
        Refused {
            cause,
            detail: None,
        }
    }
}

/// The first byte of every TLS record a client opens with (a handshake record).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// What the node answers a client that spoke plaintext to its TLS port: a fatal TLS alert
/// (protocol_version), so a client that reads it can tell the port speaks TLS.
pub(crate) const PLAINTEXT_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 70];

/// Whether the first bytes a client sent open a TLS handshake (anything else is plaintext:
/// HTTP/2's `PRI * HTTP/2.0`, HTTP/1's `GET /`).
pub(crate) fn opens_tls(first: &[u8]) -> bool {
    first.first() == Some(&TLS_HANDSHAKE_RECORD)
}

/// How long a plaintext client is given to read the alert and hang up.
const PLAINTEXT_LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// Answers a client that spoke plaintext to the TLS port: the alert, then the end of our
/// side, then what it sent is read and dropped until it hangs up (briefly). Closing with its
/// bytes unread would reset the connection, and the reset can reach the client before the
/// alert does, leaving it only "transport error" to say.
pub(crate) async fn answer_plaintext(tcp: tokio::net::TcpStream) {
    answer_and_linger(tcp, &PLAINTEXT_ALERT).await;
}

/// What a plaintext port answers a client that opened with TLS: an HTTP/2 GOAWAY
/// (PROTOCOL_ERROR) saying so, bytes no TLS client takes for a record of its own.
pub(crate) fn tls_on_plaintext_answer() -> Vec<u8> {
    let debug = b"this port speaks plaintext HTTP/2 (loopback): use http://";
    let length = 8 + debug.len();
    let mut frame = Vec::with_capacity(9 + length);
    frame.extend_from_slice(&(length as u32).to_be_bytes()[1..]);
    // GOAWAY, no flags, stream 0; last stream 0; PROTOCOL_ERROR.
    frame.extend_from_slice(&[0x07, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    frame.extend_from_slice(debug);
    frame
}

/// Answers a client that spoke TLS to the plaintext port (see [`tls_on_plaintext_answer`]).
pub(crate) async fn answer_tls_on_plaintext(tcp: tokio::net::TcpStream) {
    answer_and_linger(tcp, &tls_on_plaintext_answer()).await;
}

async fn answer_and_linger(mut tcp: tokio::net::TcpStream, answer: &[u8]) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Best effort throughout: the client may be gone already.
    if tcp.write_all(answer).await.is_err() {
        return;
    }
    let _ = tcp.shutdown().await;
    let drain = async {
        let mut sink = [0u8; 1024];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            match tcp.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(PLAINTEXT_LINGER, drain).await;
}

/// The cause of a failed server handshake, from the error tokio-rustls returned.
pub(crate) fn classify(error: &std::io::Error) -> TlsCause {
    use std::io::ErrorKind;
    if let Some(tls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return classify_tls(tls);
    }
    match error.kind() {
        ErrorKind::UnexpectedEof
        | ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe => TlsCause::Closed,
        ErrorKind::TimedOut => TlsCause::Timeout,
        _ => TlsCause::Other,
    }
}

/// The cause of a rustls error met by the server side of a handshake.
pub(crate) fn classify_tls(error: &rustls::Error) -> TlsCause {
    use rustls::Error;
    match error {
        Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer
            | CertificateError::BadSignature
            | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                TlsCause::UntrustedClientCa
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsCause::ClientCertExpired,
            _ => TlsCause::BadClientCert,
        },
        // The client's own verifier refused the node's certificate and said so.
        Error::AlertReceived(
            AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::AccessDenied,
        ) => TlsCause::NodeCertRefused,
        Error::AlertReceived(AlertDescription::CloseNotify) => TlsCause::Closed,
        Error::PeerIncompatible(_)
        | Error::NoApplicationProtocol
        | Error::AlertReceived(
            AlertDescription::ProtocolVersion
            | AlertDescription::HandshakeFailure
            | AlertDescription::NoApplicationProtocol
            | AlertDescription::InsufficientSecurity,
        ) => TlsCause::NoCommonProtocol,
        Error::InvalidMessage(_) => TlsCause::Plaintext,
        _ => TlsCause::Other,
    }
}

/// A client certificate verifier that verifies with `inner` and remembers the issuer of the
/// last certificate it refused, so the log can say who issued it (the address that sent it is
/// never kept).
#[derive(Debug)]
pub(crate) struct NoticingVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    last_refused_issuer: Arc<Mutex<Option<String>>>,
}

impl NoticingVerifier {
    /// `inner`, noticing refusals into `last_refused_issuer`.
    pub(crate) fn wrap(
        inner: Arc<dyn ClientCertVerifier>,
        last_refused_issuer: Arc<Mutex<Option<String>>>,
    ) -> Arc<dyn ClientCertVerifier> {
        Arc::new(NoticingVerifier {
            inner,
            last_refused_issuer,
        })
    }
}

impl ClientCertVerifier for NoticingVerifier {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now);
        if verified.is_err() {
            let issuer = crate::rpc::tls_names::issuer_of(end_entity);
            *self
                .last_refused_issuer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = issuer;
        }
        verified
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error as IoError, ErrorKind};

    fn io(e: rustls::Error) -> IoError {
        IoError::new(ErrorKind::InvalidData, e)
    }

    #[test]
    fn handshake_errors_are_classified_by_their_rustls_cause() {
        let cert = |c| io(rustls::Error::InvalidCertificate(c));
        assert_eq!(
            classify(&cert(CertificateError::UnknownIssuer)),
            TlsCause::UntrustedClientCa
        );
        assert_eq!(
            classify(&cert(CertificateError::BadSignature)),
            TlsCause::UntrustedClientCa
        );
        assert_eq!(
            classify(&cert(CertificateError::Expired)),
            TlsCause::ClientCertExpired
        );
        assert_eq!(
            classify(&cert(CertificateError::NotValidYet)),
            TlsCause::ClientCertExpired
        );
        assert_eq!(
            classify(&cert(CertificateError::Revoked)),
            TlsCause::BadClientCert
        );
        assert_eq!(
            classify(&io(rustls::Error::AlertReceived(
                AlertDescription::UnknownCA
            ))),
            TlsCause::NodeCertRefused
        );
        assert_eq!(
            classify(&io(rustls::Error::NoApplicationProtocol)),
            TlsCause::NoCommonProtocol
        );
        assert_eq!(
            classify(&io(rustls::Error::PeerIncompatible(
                rustls::PeerIncompatible::Tls12NotOffered
            ))),
            TlsCause::NoCommonProtocol
        );
        assert_eq!(
            classify(&IoError::from(ErrorKind::UnexpectedEof)),
            TlsCause::Closed
        );
        assert_eq!(
            classify(&IoError::from(ErrorKind::ConnectionReset)),
            TlsCause::Closed
        );
        assert_eq!(classify(&IoError::other("something else")), TlsCause::Other);
    }

    #[test]
    fn the_plaintext_ports_answer_to_tls_is_a_whole_goaway_frame() {
        let frame = tls_on_plaintext_answer();
        let length = u32::from_be_bytes([0, frame[0], frame[1], frame[2]]) as usize;
        assert_eq!(frame.len(), 9 + length);
        assert_eq!(frame[3], 0x07, "GOAWAY");
        assert!(!opens_tls(&frame) && frame[0] != 0x15);
    }

    #[test]
    fn only_a_handshake_record_opens_tls() {
        assert!(opens_tls(&[0x16, 0x03, 0x01]));
        assert!(!opens_tls(b"PRI * HTTP/2.0"));
        assert!(!opens_tls(b"GET / HTTP/1.1"));
        assert!(!opens_tls(b""));
    }
}
