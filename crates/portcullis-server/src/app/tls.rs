//! Built-in TLS without HTTP (issue 18): the certificates the listener serves, the
//! rustls configuration, and the ACME challenge seam.
//!
//! [`TlsCertificates`] is the one place the listener asks for a certificate
//! (rustls's [`ResolvesServerCert`]). It holds the served certificate, swapped whole
//! on reload or renewal without touching open connections, and the ACME challenges:
//! TLS-ALPN-01 certificates per domain (RFC 8737 §3) and HTTP-01 key authorizations
//! per token (RFC 8555 §8.3), which the ACME client sets and clears and the listeners
//! serve. [`server_config`] is the rustls configuration: TLS 1.2 and 1.3 only, AEAD
//! suites with forward secrecy, ALPN `h2` and `http/1.1` (and `acme-tls/1` with ACME).
//! [`reload`] re-reads certificate files when they change and on SIGHUP.

pub mod reload;

use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, SupportedCipherSuite};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The certificates the TLS listener serves: cheap to clone (an `Arc` inside), shared
/// by the listener, the file reloader and the ACME client.
///
/// A handshake gets the current certificate, whatever name it asks for (one server,
/// one certificate covering its names), except a TLS-ALPN-01 validation (ALPN offers
/// exactly `acme-tls/1`, RFC 8737 §3), which gets the challenge certificate of its SNI
/// name or no certificate at all (the handshake fails).
#[derive(Clone, Default)]
pub struct TlsCertificates {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The served certificate; `None` until the first is loaded or ordered.
    current: arc_swap::ArcSwapOption<CertifiedKey>,
    /// TLS-ALPN-01 certificates by lowercase DNS name.
    alpn_challenges: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    /// HTTP-01 key authorizations by token.
    http_challenges: Mutex<HashMap<String, String>>,
}

impl TlsCertificates {
    /// No certificate yet: handshakes fail until [`Self::set_certificate`].
    pub fn new() -> Self {
        Self::default()
    }

    /// A resolver serving `certificate` from the start.
    pub fn with_certificate(certificate: Arc<CertifiedKey>) -> Self {
        let certificates = Self::new();
        certificates.set_certificate(certificate);
        certificates
    }

    /// Serves `certificate` from the next handshake on; open connections keep theirs.
    pub fn set_certificate(&self, certificate: Arc<CertifiedKey>) {
        self.inner.current.store(Some(certificate));
    }

    /// The certificate served now, if any.
    pub fn certificate(&self) -> Option<Arc<CertifiedKey>> {
        self.inner.current.load_full()
    }

    /// Answers TLS-ALPN-01 validations for `domain` with `certificate` (RFC 8737 §3:
    /// a self-signed certificate with the `acmeIdentifier` extension).
    pub fn set_challenge(&self, domain: &str, certificate: Arc<CertifiedKey>) {
        lock(&self.inner.alpn_challenges).insert(domain.to_ascii_lowercase(), certificate);
    }

    /// Stops answering TLS-ALPN-01 validations for `domain`.
    pub fn clear_challenge(&self, domain: &str) {
        lock(&self.inner.alpn_challenges).remove(&domain.to_ascii_lowercase());
    }

    /// Answers `GET /.well-known/acme-challenge/{token}` on the `redirect_http`
    /// listener with `key_authorization` (RFC 8555 §8.3).
    pub fn set_http_challenge(&self, token: &str, key_authorization: &str) {
        lock(&self.inner.http_challenges).insert(token.to_owned(), key_authorization.to_owned());
    }

    /// Stops answering the HTTP-01 challenge `token`.
    pub fn clear_http_challenge(&self, token: &str) {
        lock(&self.inner.http_challenges).remove(token);
    }

    /// The key authorization for the HTTP-01 challenge `token`, if one is pending.
    pub fn http_challenge(&self, token: &str) -> Option<String> {
        lock(&self.inner.http_challenges).get(token).cloned()
    }

    /// The TLS-ALPN-01 certificate for `domain`, if one is pending.
    fn challenge(&self, domain: &str) -> Option<Arc<CertifiedKey>> {
        lock(&self.inner.alpn_challenges)
            .get(&domain.to_ascii_lowercase())
            .cloned()
    }
}

impl std::fmt::Debug for TlsCertificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsCertificates")
            .field("loaded", &self.inner.current.load().is_some())
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for TlsCertificates {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if offers_only_acme_tls(&client_hello) {
            // RFC 8737 §3: the validation server sends SNI and offers only acme-tls/1.
            return client_hello
                .server_name()
                .and_then(|name| self.challenge(name));
        }
        self.certificate()
    }
}

/// Whether the ClientHello's ALPN list is exactly `acme-tls/1`.
fn offers_only_acme_tls(client_hello: &ClientHello<'_>) -> bool {
    let Some(mut protocols) = client_hello.alpn() else {
        return false;
    };
    protocols.next() == Some(ACME_TLS_ALPN) && protocols.next().is_none()
}

/// The rustls server configuration of the TLS listener, resolving certificates
/// through `certificates`. With `acme`, ALPN also offers `acme-tls/1`, so that
/// TLS-ALPN-01 validations can complete (the listener then closes such a connection
/// right after the handshake).
///
/// # Errors
/// [`TlsError::Config`] if rustls refuses the protocol versions (never with the
/// built-in provider).
pub fn server_config(
    certificates: &TlsCertificates,
    acme: bool,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(certificates.clone()));
    // Server order, so the first suite of CIPHER_SUITES wins when the client offers it.
    config.ignore_client_order = true;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    if acme {
        config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
    }
    Ok(Arc::new(config))
}

/// aws-lc-rs with only [`CIPHER_SUITES`]; its key exchange groups are the default ones
/// (X25519MLKEM768, X25519, P-256, P-384: all ephemeral).
fn provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: CIPHER_SUITES.to_vec(),
        ..aws_lc_rs::default_provider()
    }
}

/// The cipher suites offered, in order of preference.
///
/// TLS 1.2: only ECDHE with AES-GCM (forward secrecy and AEAD), the suites RFC 9325
/// §4.2 recommends and the FAPI 2.0 Security Profile (§5.2.1, TLS by BCP 195) and BSI
/// TR-02102-2 admit; no CBC, no RSA key transport, and no ChaCha20-Poly1305 (not in
/// TR-02102-2's list). TLS 1.3: the AES-GCM suites (TR-02102-2 lists
/// `TLS_AES_128_GCM_SHA256` and `TLS_AES_256_GCM_SHA384`; ChaCha20 is left out for the
/// same reason).
pub static CIPHER_SUITES: &[SupportedCipherSuite] = &[
    aws_lc_rs::cipher_suite::TLS13_AES_256_GCM_SHA384,
    aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256,
    aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    aws_lc_rs::cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    aws_lc_rs::cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    aws_lc_rs::cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
];

/// Reads a certificate chain (PEM, leaf first) and its private key (PEM: PKCS#8,
/// SEC1 or PKCS#1) from files.
///
/// # Errors
/// [`TlsError`] naming the file that cannot be read or parsed, or a key that does not
/// belong to the leaf certificate.
pub fn load_certified_key(
    certificate: &Path,
    private_key: &Path,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|e| TlsError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    };
    certified_key_from_pem(&read(certificate)?, &read(private_key)?).map_err(|e| match e {
        TlsError::Certificate(message) => TlsError::Read {
            path: certificate.display().to_string(),
            message,
        },
        TlsError::PrivateKey(message) => TlsError::Read {
            path: private_key.display().to_string(),
            message,
        },
        other => other,
    })
}

/// A certificate chain (PEM, leaf first) and its private key (PEM) as one
/// [`CertifiedKey`] (what an ACME order returns, or what files hold).
///
/// # Errors
/// [`TlsError::Certificate`] (no certificate, bad PEM), [`TlsError::PrivateKey`] (no
/// key, bad PEM, unsupported type), [`TlsError::Mismatch`] (the key is not the leaf's).
pub fn certified_key_from_pem(
    chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<Arc<CertifiedKey>, TlsError> {
    let chain = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate(format!("not a PEM certificate chain ({e})")))?;
    if chain.is_empty() {
        return Err(TlsError::Certificate(
            "holds no PEM `CERTIFICATE` block".to_owned(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| TlsError::PrivateKey(format!("holds no PEM private key ({e})")))?;
    let provider = provider();
    let key = CertifiedKey::from_der(chain, key, &provider).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::Mismatch,
        other => TlsError::PrivateKey(other.to_string()),
    })?;
    Ok(Arc::new(key))
}

/// A certificate or configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file that cannot be read or does not hold what it should.
    #[error("{path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The certificate chain is not usable.
    #[error("certificate {0}")]
    Certificate(String),
    /// The private key is not usable.
    #[error("private key: {0}")]
    PrivateKey(String),
    /// The private key does not belong to the leaf certificate.
    #[error("the private key does not belong to the certificate (its public key differs)")]
    Mismatch,
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(rustls::Error),
}

/// The lock's map, even after a panic elsewhere poisoned it (the maps hold no
/// invariant a half-done insert could break).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// ALPN protocol of TLS-ALPN-01 validations (RFC 8737 §6.2).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed(name: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn loads_a_chain_and_its_key() {
        let (cert, key) = self_signed("id.example.com");
        let loaded = certified_key_from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(loaded.cert.len(), 1);
    }

    #[test]
    fn rejects_a_key_of_another_certificate() {
        let (cert, _) = self_signed("id.example.com");
        let (_, other_key) = self_signed("id.example.com");
        let e = certified_key_from_pem(cert.as_bytes(), other_key.as_bytes()).unwrap_err();
        assert!(matches!(e, TlsError::Mismatch), "{e}");
    }

    #[test]
    fn rejects_files_without_pem_blocks_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed("id.example.com");
        let (cert_path, key_path) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert_path, "not pem").unwrap();
        std::fs::write(&key_path, key).unwrap();
        let e = load_certified_key(&cert_path, &key_path).unwrap_err();
        assert!(
            e.to_string().starts_with(&cert_path.display().to_string()),
            "{e}"
        );
        std::fs::write(&cert_path, cert).unwrap();
        std::fs::write(&key_path, "").unwrap();
        let e = load_certified_key(&cert_path, &key_path).unwrap_err();
        assert!(
            e.to_string().starts_with(&key_path.display().to_string()),
            "{e}"
        );
        let e = load_certified_key(&dir.path().join("missing.pem"), &key_path).unwrap_err();
        assert!(e.to_string().contains("missing.pem"), "{e}");
    }

    #[test]
    fn offers_tls12_and_13_with_aead_suites_only() {
        for suite in CIPHER_SUITES {
            let name = format!("{:?}", suite.suite());
            assert!(name.contains("GCM"), "{name}");
            assert!(
                name.starts_with("TLS13_") || name.starts_with("TLS_ECDHE_"),
                "{name}"
            );
        }
        let config = server_config(&TlsCertificates::new(), false).unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
        let config = server_config(&TlsCertificates::new(), true).unwrap();
        assert_eq!(config.alpn_protocols.last().unwrap(), ACME_TLS_ALPN);
    }

    #[test]
    fn challenges_are_set_and_cleared_by_name_and_token() {
        let certificates = TlsCertificates::new();
        assert!(certificates.certificate().is_none());
        let (cert, key) = self_signed("id.example.com");
        let key = certified_key_from_pem(cert.as_bytes(), key.as_bytes()).unwrap();
        certificates.set_challenge("ID.example.com", key.clone());
        assert!(certificates.challenge("id.example.com").is_some());
        certificates.clear_challenge("id.example.com");
        assert!(certificates.challenge("id.example.com").is_none());
        certificates.set_http_challenge("tok", "tok.thumb");
        assert_eq!(
            certificates.http_challenge("tok").as_deref(),
            Some("tok.thumb")
        );
        certificates.clear_http_challenge("tok");
        assert_eq!(certificates.http_challenge("tok"), None);
        certificates.set_certificate(key.clone());
        assert!(Arc::ptr_eq(&certificates.certificate().unwrap(), &key));
    }
}
