//! RFC 9449 §4.2 client side: an ES256 key pair and the proofs it signs.

use super::{access_token_hash, jwk_thumbprint};
use crate::clock::{Clock, SystemClock};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{CommonParameters, Jwk};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

/// A DPoP key pair (ES256, P-256, generated with aws-lc-rs) that signs proofs
/// (RFC 9449 §4.2) with jsonwebtoken. Used by clients (the CLI keeps one in its
/// token file), by the [`testing`](crate) kit and by tests.
///
/// The private key never appears in `Debug`; [`to_pkcs8_der`](Self::to_pkcs8_der)
/// is the one way out, for storage with owner-only permissions.
#[derive(Clone)]
pub struct DpopKey {
    pkcs8: Vec<u8>,
    encoding: EncodingKey,
    public_jwk: Jwk,
    jkt: String,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey")
            .field("jkt", &self.jkt)
            .finish_non_exhaustive()
    }
}

/// Why a [`DpopKey`] could not be made or could not sign.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DpopKeyError {
    /// The system random generator failed.
    #[error("could not generate a DPoP key")]
    Generate,
    /// The bytes are not a PKCS#8 P-256 private key.
    #[error("not a PKCS#8 DER P-256 private key")]
    InvalidKey,
    /// Signing failed (jsonwebtoken / aws-lc-rs).
    #[error("could not sign a DPoP proof")]
    Sign,
}

impl DpopKey {
    /// A fresh P-256 key pair from the system random generator.
    ///
    /// # Errors
    /// [`DpopKeyError::Generate`] if the random generator fails.
    pub fn generate() -> Result<Self, DpopKeyError> {
        let document =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .map_err(|_| DpopKeyError::Generate)?;
        Self::from_pkcs8_der(document.as_ref())
    }

    /// The key pair stored by [`to_pkcs8_der`](Self::to_pkcs8_der): a PKCS#8 (RFC
    /// 5958) DER P-256 private key.
    ///
    /// # Errors
    /// [`DpopKeyError::InvalidKey`] for anything else.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, DpopKeyError> {
        // Parsing first rejects garbage before jsonwebtoken ever sees it.
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
            .map_err(|_| DpopKeyError::InvalidKey)?;
        let encoding = EncodingKey::from_ec_der(der);
        let mut public_jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256)
            .map_err(|_| DpopKeyError::InvalidKey)?;
        // The proof's `jwk` carries the public key only (RFC 9449 §4.2).
        public_jwk.common = CommonParameters::default();
        let jkt = jwk_thumbprint(&public_jwk).map_err(|_| DpopKeyError::InvalidKey)?;
        Ok(Self {
            pkcs8: der.to_vec(),
            encoding,
            public_jwk,
            jkt,
        })
    }

    /// The private key as PKCS#8 DER, to store (owner-only) and reload with
    /// [`from_pkcs8_der`](Self::from_pkcs8_der). This is a secret.
    pub fn to_pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// RFC 7638 SHA-256 thumbprint of the public key: the `jkt` of bound tokens
    /// (RFC 9449 §6.1) and the `dpop_jkt` authorization request parameter (§10).
    pub fn jkt(&self) -> &str {
        &self.jkt
    }

    /// The public key as a JWK (`kty`, `crv`, `x`, `y`), as put in every proof.
    pub fn public_jwk(&self) -> &Jwk {
        &self.public_jwk
    }

    /// A proof for one request (RFC 9449 §4.2) issued now (the system clock), with a
    /// fresh random `jti`: `htm`/`htu` of the request (`htu` is sent without query
    /// and fragment), `ath` when `access_token` is given (§7.1), and the server's
    /// `nonce` when it asked for one (§8, §9).
    ///
    /// # Errors
    /// [`DpopKeyError::Sign`] or [`DpopKeyError::Generate`] if signing or the random
    /// `jti` fails.
    pub fn proof(
        &self,
        htm: &str,
        htu: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, DpopKeyError> {
        let iat = u64::try_from(SystemClock.now()).unwrap_or(0);
        self.proof_at(iat, htm, htu, access_token, nonce)
    }

    /// [`proof`](Self::proof) with a given `iat` (seconds since the epoch), for
    /// clients with their own clock and for tests.
    ///
    /// # Errors
    /// As [`proof`](Self::proof).
    pub fn proof_at(
        &self,
        iat: u64,
        htm: &str,
        htu: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<String, DpopKeyError> {
        let mut jti = [0_u8; 16];
        SystemRandom::new()
            .fill(&mut jti)
            .map_err(|_| DpopKeyError::Generate)?;
        let htu = strip_query_and_fragment(htu);
        let claims = ProofClaims {
            jti: &URL_SAFE_NO_PAD.encode(jti),
            htm,
            htu,
            iat,
            ath: access_token.map(access_token_hash),
            nonce,
        };
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some("dpop+jwt".to_owned());
        header.jwk = Some(self.public_jwk.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(|_| DpopKeyError::Sign)
    }
}

/// RFC 9449 §4.2: `htu` is the request URI "without query and fragment parts".
fn strip_query_and_fragment(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url.get(..end).unwrap_or(url)
}

#[derive(Serialize)]
struct ProofClaims<'a> {
    jti: &'a str,
    htm: &'a str,
    htu: &'a str,
    iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ath: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
}
