//! Certificates as the ACME manager handles them: a chain and key from the CA turned
//! into what rustls serves (`CertifiedKey`) and into the sealed store row, back again,
//! and the RFC 8737 §3 challenge certificate.

use super::error::AcmeError;
use portcullis_core::UnixTime;
use portcullis_core::acme::StoredCertificate;
use portcullis_core::keys::MasterKey;
use rustls::crypto::aws_lc_rs::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use std::sync::Arc;

/// A certificate ready to serve, with what the renewal rule needs.
#[derive(Debug, Clone)]
pub struct Installed {
    /// What the TLS listener serves.
    pub key: Arc<CertifiedKey>,
    /// The leaf's notBefore, Unix seconds.
    pub not_before: UnixTime,
    /// The leaf's notAfter, Unix seconds.
    pub not_after: UnixTime,
    /// The leaf in DER: the jitter's seed, and its identity (a newer row differs).
    pub leaf: Vec<u8>,
}

/// Parses a PEM chain (leaf first) and its PEM private key into an [`Installed`]
/// certificate, checking that the key is one rustls can sign with and that the leaf
/// parses as X.509.
///
/// # Errors
/// [`AcmeError::Certificate`] naming what did not parse.
pub fn parse(chain_pem: &str, key_pem: &str) -> Result<Installed, AcmeError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| AcmeError::Certificate(format!("the chain is not PEM: {e}")))?;
    let leaf = chain
        .first()
        .ok_or_else(|| AcmeError::Certificate("the chain holds no certificate".to_owned()))?
        .to_vec();
    let (not_before, not_after) = validity(&leaf)?;
    let private = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| AcmeError::Certificate(format!("the private key is not PEM: {e}")))?;
    let signing = any_supported_type(&private)
        .map_err(|e| AcmeError::Certificate(format!("unusable private key: {e}")))?;
    Ok(Installed {
        key: Arc::new(CertifiedKey::new(chain, signing)),
        not_before,
        not_after,
        leaf,
    })
}

/// The leaf's validity, Unix seconds.
fn validity(leaf: &[u8]) -> Result<(UnixTime, UnixTime), AcmeError> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf)
        .map_err(|e| AcmeError::Certificate(format!("the leaf is not X.509: {e}")))?;
    let validity = cert.validity();
    Ok((
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    ))
}

/// The store row for a certificate: the chain as is, the key sealed under `sealer`
/// bound to `name` (why: a row copied to another name does not open).
///
/// # Errors
/// [`AcmeError::Certificate`] if the chain does not parse, [`AcmeError::Seal`] if
/// sealing fails.
pub fn seal(
    sealer: &MasterKey,
    name: &str,
    chain_pem: &str,
    key_pem: &str,
    now: UnixTime,
) -> Result<(StoredCertificate, Installed), AcmeError> {
    let installed = parse(chain_pem, key_pem)?;
    let sealed_key = sealer.seal(name.as_bytes(), key_pem.as_bytes())?;
    Ok((
        StoredCertificate {
            name: name.to_owned(),
            chain_pem: chain_pem.to_owned(),
            sealed_key,
            not_before: installed.not_before,
            not_after: installed.not_after,
            updated_at: now,
        },
        installed,
    ))
}

/// Opens a stored row into a certificate to serve.
///
/// # Errors
/// [`AcmeError::Seal`] if the key does not open (another master key),
/// [`AcmeError::Certificate`] if the row does not parse.
pub fn open(sealer: &MasterKey, stored: &StoredCertificate) -> Result<Installed, AcmeError> {
    let key_pem = sealer.open(stored.name.as_bytes(), &stored.sealed_key)?;
    let key_pem = String::from_utf8(key_pem)
        .map_err(|_| AcmeError::Certificate("the stored key is not PEM text".to_owned()))?;
    parse(&stored.chain_pem, &key_pem)
}

/// RFC 8737 §3: the self-signed certificate answering a TLS-ALPN-01 challenge for
/// `domain`: its only SAN is `domain`, and the critical `acmeIdentifier` extension
/// (id-pe-acmeIdentifier, 1.3.6.1.5.5.7.1.31) holds the SHA-256 `digest` of the key
/// authorization. A fresh P-256 key each time (rcgen's default).
///
/// # Errors
/// [`AcmeError::Certificate`] if rcgen cannot build it (`domain` not a DNS name).
pub fn challenge_certificate(domain: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, AcmeError> {
    let failed = |e: rcgen::Error| AcmeError::Certificate(format!("challenge certificate: {e}"));
    let mut params = rcgen::CertificateParams::new(vec![domain.to_owned()]).map_err(failed)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key_pair = rcgen::KeyPair::generate().map_err(failed)?;
    let cert = params.self_signed(&key_pair).map_err(failed)?;
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pair.serialize_der()));
    let signing = any_supported_type(&private)
        .map_err(|e| AcmeError::Certificate(format!("challenge key: {e}")))?;
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.der().clone()],
        signing,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(domain: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![domain.to_owned()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn a_sealed_certificate_opens_only_under_its_name() {
        let master = MasterKey::from_bytes(&[7; 32]).unwrap();
        let (chain, key) = issued("a.example");
        let (stored, installed) = seal(&master, "a.example", &chain, &key, 5).unwrap();
        assert!(
            !stored
                .sealed_key
                .windows(10)
                .any(|w| key.as_bytes().windows(10).any(|k| k == w))
        );
        assert_eq!(stored.not_after, installed.not_after);
        let opened = open(&master, &stored).unwrap();
        assert_eq!(opened.leaf, installed.leaf);
        let moved = StoredCertificate {
            name: "b.example".to_owned(),
            ..stored.clone()
        };
        assert!(matches!(open(&master, &moved), Err(AcmeError::Seal(_))));
        let other = MasterKey::from_bytes(&[8; 32]).unwrap();
        assert!(matches!(open(&other, &stored), Err(AcmeError::Seal(_))));
    }

    #[test]
    fn rejects_a_chain_that_is_not_pem() {
        let (_, key) = issued("a.example");
        assert!(matches!(
            parse("garbage", &key),
            Err(AcmeError::Certificate(_))
        ));
    }

    #[test]
    fn the_challenge_certificate_carries_the_digest_in_a_critical_acme_identifier() {
        let digest = [0xAB_u8; 32];
        let key = challenge_certificate("a.example", &digest).unwrap();
        let der = key.cert.first().unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
        let ext = cert
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
            .unwrap();
        assert!(ext.critical);
        // DER OCTET STRING (0x04, length 32) of the digest.
        assert_eq!(ext.value.get(..2), Some([0x04, 32].as_slice()));
        assert_eq!(ext.value.get(2..), Some(digest.as_slice()));
    }
}
