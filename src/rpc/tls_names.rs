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

/// The DER names of the issuers of the certificates of a chain, as a node's CertificateRequest
/// names the CAs it trusts; certificates that do not parse are left out.
pub(crate) fn raw_issuers(chain: &[CertificateDer<'_>]) -> Vec<Vec<u8>> {
    chain
        .iter()
        .filter_map(|der| {
            X509Certificate::from_der(der)
                .ok()
                .map(|(_, cert)| cert.issuer().as_raw().to_vec())
        })
        .collect()
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

/// The most characters of a name kept: a real CA's name is far shorter.
pub(crate) const NAME_CAP: usize = 200;

fn readable(name: &X509Name<'_>) -> String {
    // Names come off the wire, chosen by whoever made the certificate: they reach the log and
    // `node status` only as one line of visible text.
    let text = printable(&name.to_string(), NAME_CAP);
    if text.is_empty() {
        "an empty name".to_string()
    } else {
        text
    }
}

/// `text` as one line of visible characters, at most `cap` of them (then "…"): control
/// characters (newlines, escape sequences), line and paragraph separators, and the invisible
/// ones that turn or hide text (bidirectional overrides, zero-width characters) each become
/// '?', so text from the wire can neither forge a log line nor hide what it says.
pub(crate) fn printable(text: &str, cap: usize) -> String {
    let invisible = |c: char| {
        c.is_control()
            || matches!(c,
                '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}')
    };
    let mut out: String = text
        .chars()
        .take(cap)
        .map(|c| if invisible(c) { '?' } else { c })
        .collect();
    if text.chars().nth(cap).is_some() {
        out.push('…');
    }
    out
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

    #[test]
    fn a_name_off_the_wire_is_one_line_of_visible_text_capped() {
        assert_eq!(
            printable("CN=Dock CA\nWARN forged line\r\u{1b}[31m", NAME_CAP),
            "CN=Dock CA?WARN forged line??[31m"
        );
        assert_eq!(printable("CN=\u{202E}AC kcoD", NAME_CAP), "CN=?AC kcoD");
        assert_eq!(
            printable("CN=Dock\u{2028}CA\u{200B}", NAME_CAP),
            "CN=Dock?CA?"
        );
        // Letters of any script stay.
        assert_eq!(
            printable("CN=Syndicat des dockers, O=Şirket", NAME_CAP),
            "CN=Syndicat des dockers, O=Şirket"
        );
        let long = "é".repeat(NAME_CAP + 50);
        let capped = printable(&long, NAME_CAP);
        assert_eq!(capped.chars().count(), NAME_CAP + 1);
        assert!(capped.ends_with('…'));
        assert_eq!(
            printable(&"x".repeat(NAME_CAP), NAME_CAP),
            "x".repeat(NAME_CAP)
        );

        // A certificate whose issuer's name carries a newline and an escape sequence.
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "Harbour CA\n2025-01-01T00:00:00Z WARN \u{1b}[2Jforged",
        );
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let issuer = issuer_of(cert.der()).unwrap();
        assert!(issuer.starts_with("CN=Harbour CA"), "{issuer}");
        assert!(!issuer.chars().any(char::is_control), "{issuer:?}");
        let subjects = subjects_in_pem(cert.pem().as_bytes());
        assert!(!subjects.chars().any(char::is_control), "{subjects:?}");
    }
}
