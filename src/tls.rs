//! TLS identities on disk: a node's own CA and certificate (made on first start), a
//! federation CA that issues node certificates, loading PEM files, and fingerprints.
//!
//! Files are PEM. Secret keys are written 0600 through `keyfile` and refused when others can
//! read them. This module knows rcgen and PEM; `rpc` turns the bytes into tonic's types.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use sha2::{Digest, Sha256};

use crate::keyfile::{self, KeyFileError};

/// Why a TLS identity could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}", path = .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A secret key file is unusable (permissions, existence).
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// Certificate generation or parsing failed.
    #[error("{what}: {detail}")]
    Cert {
        /// What was being done.
        what: String,
        /// The library's message.
        detail: String,
    },
}

fn cert_err(what: &str) -> impl FnOnce(rcgen::Error) -> TlsError + '_ {
    move |e| TlsError::Cert {
        what: what.to_string(),
        detail: e.to_string(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn write_public(path: &Path, pem: &str) -> Result<(), TlsError> {
    fs::write(path, pem).map_err(|source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A certificate chain and its secret key, in PEM.
#[derive(Clone)]
pub struct Identity {
    /// The certificate (chain), PEM.
    pub cert_pem: Vec<u8>,
    /// The secret key, PEM.
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Identity(cert {})",
            fingerprint(&self.cert_pem).unwrap_or_default()
        )
    }
}

impl Identity {
    /// Loads a certificate file and its key file (the key must be private to its owner).
    pub fn load(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
        keyfile::check_private(key)?;
        Ok(Identity {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
        })
    }
}

/// The node's own TLS files under its data directory (`auto` mode).
#[derive(Debug, Clone)]
pub struct NodeTls {
    /// The node's certificate and key.
    pub identity: Identity,
    /// The node's private CA certificate: what clients on other machines trust.
    pub ca_pem: Vec<u8>,
    /// Where the CA certificate is, to tell operators.
    pub ca_path: PathBuf,
}

/// The SHA-256 fingerprint of the first certificate in a PEM, as colon-separated hex.
pub fn fingerprint(pem: &[u8]) -> Option<String> {
    let der = first_der(pem)?;
    let digest = Sha256::digest(&der);
    Some(
        digest
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

fn first_der(pem: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.find("-----BEGIN CERTIFICATE-----")? + "-----BEGIN CERTIFICATE-----".len();
    let end = start + text[start..].find("-----END CERTIFICATE-----")?;
    let b64: String = text[start..end].split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn.push(DnType::OrganizationName, "Tocsin");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// A CA's certificate and key, in PEM.
struct Ca {
    cert_pem: String,
    key: KeyPair,
}

fn new_ca(name: &str) -> Result<Ca, TlsError> {
    let key = KeyPair::generate().map_err(cert_err("generating a CA key"))?;
    let cert = ca_params(name)
        .self_signed(&key)
        .map_err(cert_err("making a CA certificate"))?;
    Ok(Ca {
        cert_pem: cert.pem(),
        key,
    })
}

/// Issues a certificate for a node, usable both as a server and as a client (for peers).
fn issue(ca: &Ca, node_name: &str, names: &[String]) -> Result<Identity, TlsError> {
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, &ca.key)
        .map_err(cert_err("reading the CA certificate"))?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, node_name);
    params.distinguished_name = dn;
    params.subject_alt_names = names
        .iter()
        .map(|n| match n.parse::<IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => n
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(cert_err("a certificate name")),
        })
        .collect::<Result<_, _>>()?;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().map_err(cert_err("generating a node key"))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(cert_err("issuing a node certificate"))?;
    Ok(Identity {
        // The chain: the node's certificate, then its CA's.
        cert_pem: format!("{}{}", cert.pem(), ca.cert_pem).into_bytes(),
        key_pem: key.serialize_pem().into_bytes(),
    })
}

/// The names a node certificate carries: loopback names, the listen address, and any extra.
pub fn default_names(listen: IpAddr, extra: &[String]) -> Vec<String> {
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !listen.is_unspecified() {
        names.push(listen.to_string());
    }
    for n in extra {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    names
}

/// Loads the node's TLS identity from `dir` (`data_dir/tls`), making a private CA and a
/// certificate signed by it on first start.
pub fn ensure_node_tls(dir: &Path, node_name: &str, names: &[String]) -> Result<NodeTls, TlsError> {
    let ca_path = dir.join("ca.crt");
    let cert_path = dir.join("node.crt");
    let key_path = dir.join("node-tls.key");
    if !cert_path.exists() {
        fs::create_dir_all(dir).map_err(|source| TlsError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let ca = new_ca(&format!("{node_name} node CA"))?;
        let id = issue(&ca, node_name, names)?;
        // The CA key is not kept: this CA signs this one certificate, once.
        write_public(&ca_path, &ca.cert_pem)?;
        keyfile::write_private(&key_path, &id.key_pem)?;
        write_public(
            &cert_path,
            std::str::from_utf8(&id.cert_pem).unwrap_or_default(),
        )?;
    }
    Ok(NodeTls {
        identity: Identity::load(&cert_path, &key_path)?,
        ca_pem: read(&ca_path)?,
        ca_path,
    })
}

/// `tocsin ca init`: a federation CA in `dir` (ca.crt public, ca.key 0600).
pub fn create_ca(dir: &Path, name: &str) -> Result<PathBuf, TlsError> {
    fs::create_dir_all(dir).map_err(|source| TlsError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let ca = new_ca(name)?;
    keyfile::write_private(&dir.join("ca.key"), ca.key.serialize_pem().as_bytes())?;
    let cert_path = dir.join("ca.crt");
    write_public(&cert_path, &ca.cert_pem)?;
    Ok(cert_path)
}

/// `tocsin ca issue`: a node certificate from the federation CA in `ca_dir`, written to
/// `out` as NAME.crt (chain) and NAME.key (0600).
pub fn issue_from_ca(
    ca_dir: &Path,
    node_name: &str,
    names: &[String],
    out: &Path,
) -> Result<(PathBuf, PathBuf), TlsError> {
    let key_path = ca_dir.join("ca.key");
    keyfile::check_private(&key_path)?;
    let key_pem = String::from_utf8(read(&key_path)?).unwrap_or_default();
    let cert_pem = String::from_utf8(read(&ca_dir.join("ca.crt"))?).unwrap_or_default();
    let ca = Ca {
        cert_pem,
        key: KeyPair::from_pem(&key_pem).map_err(cert_err("reading the CA key"))?,
    };
    let id = issue(&ca, node_name, names)?;
    fs::create_dir_all(out).map_err(|source| TlsError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let cert_out = out.join(format!("{node_name}.crt"));
    let key_out = out.join(format!("{node_name}.key"));
    keyfile::write_private(&key_out, &id.key_pem)?;
    write_public(
        &cert_out,
        std::str::from_utf8(&id.cert_pem).unwrap_or_default(),
    )?;
    Ok((cert_out, key_out))
}

/// Reads and concatenates PEM files (several trusted CAs in one bundle).
pub fn read_bundle(paths: &[PathBuf]) -> Result<Vec<u8>, TlsError> {
    let mut out = Vec::new();
    for p in paths {
        let mut pem = read(p)?;
        if !pem.ends_with(b"\n") {
            pem.push(b'\n');
        }
        out.extend(pem);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_identity_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let names = default_names("127.0.0.1".parse().unwrap(), &[]);
        let a = ensure_node_tls(&dir.path().join("tls"), "eastland", &names).unwrap();
        let b = ensure_node_tls(&dir.path().join("tls"), "eastland", &names).unwrap();
        assert_eq!(
            fingerprint(&a.identity.cert_pem),
            fingerprint(&b.identity.cert_pem)
        );
        assert!(fingerprint(&a.ca_pem).unwrap().len() == 95);
    }

    #[test]
    fn a_federation_ca_issues_node_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let ca = create_ca(&dir.path().join("ca"), "Global Federation CA").unwrap();
        assert!(ca.exists());
        let (crt, key) = issue_from_ca(
            &dir.path().join("ca"),
            "geneva",
            &["geneva.example".into(), "127.0.0.1".into()],
            &dir.path().join("out"),
        )
        .unwrap();
        Identity::load(&crt, &key).unwrap();
        assert!(
            issue_from_ca(
                &dir.path().join("ca"),
                "geneva",
                &[],
                &dir.path().join("out")
            )
            .is_err()
        );
    }
}
