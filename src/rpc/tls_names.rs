//! Names in TLS failures, for people: the distinguished names of certificates and CAs, read
//! from DER, as both sides of a refused handshake print them.

use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

/// A DER distinguished name as text (`CN=Example Union CA, O=…`), or a placeholder when it
/// does not parse (the bytes came off the wire).
pub(crate) fn name_of(der: &[u8]) -> String {
    match X509Name::from_der(der) {
        Ok((_, name)) => readable(&name),
        Err(_) => "an unreadable name".to_string(),
    }
}

/// The issuer of a DER certificate as text, or `None` when it does not parse.
pub(crate) fn issuer_of(cert: &[u8]) -> Option<String> {
    X509Certificate::from_der(cert)
        .ok()
        .map(|(_, cert)| readable(cert.issuer()))
}

/// The subjects of the certificates in a PEM bundle (the CAs of `tls.client_ca`), joined with
/// " and "; certificates that do not parse are left out.
pub(crate) fn subjects_in_pem(pem: &[u8]) -> String {
    let names: Vec<String> = CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .filter_map(|der| {
            X509Certificate::from_der(&der)
                .ok()
                .map(|(_, cert)| readable(cert.subject()))
        })
        .collect();
    join(&names)
}

/// Names joined for a sentence: "A", "A and B", "A, B and C"; "no CA" when there are none.
pub(crate) fn join(names: &[String]) -> String {
    match names {
        [] => "no CA".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn readable(name: &X509Name<'_>) -> String {
    let text = name.to_string();
    if text.is_empty() {
        "an empty name".to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_made_by_rcgen_is_named_by_its_common_name() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Harbour Workers CA");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            subjects_in_pem(cert.pem().as_bytes()),
            "CN=Harbour Workers CA"
        );
        assert_eq!(
            issuer_of(cert.der()).as_deref(),
            Some("CN=Harbour Workers CA")
        );
        assert_eq!(name_of(b"\x01\x02"), "an unreadable name");
        assert_eq!(
            join(&["A".into(), "B".into(), "C".into()]),
            "A, B and C".to_string()
        );
    }
}
