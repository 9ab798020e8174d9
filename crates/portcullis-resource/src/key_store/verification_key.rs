//! One JWK as a verification key: which keys are usable (RFC 7517 §4.2 `use`, §4.3
//! `key_ops`), and which `alg` each may verify (RFC 8725 §3.1).

use crate::jws::CompactJws;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::sync::Arc;

/// A parsed public key with what it may verify.
pub(crate) struct VerificationKey {
    kind: KeyKind,
    /// The JWK's own `alg`, when it names one (RFC 7517 §4.4).
    jwk_alg: Option<Algorithm>,
    decoding: DecodingKey,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    EcP256,
    EcP384,
    Rsa,
    Ed25519,
}

impl VerificationKey {
    /// RFC 8725 §3.1: whether `alg` fits this key: its type and curve (EC P-256 →
    /// ES256, P-384 → ES384, RSA → RS*/PS*, OKP Ed25519 → EdDSA), and the JWK's own
    /// `alg` when present.
    pub(crate) fn permits(&self, alg: Algorithm) -> bool {
        let fits_type = matches!(
            (self.kind, alg),
            (KeyKind::EcP256, Algorithm::ES256)
                | (KeyKind::EcP384, Algorithm::ES384)
                | (
                    KeyKind::Rsa,
                    Algorithm::RS256
                        | Algorithm::RS384
                        | Algorithm::RS512
                        | Algorithm::PS256
                        | Algorithm::PS384
                        | Algorithm::PS512
                )
                | (KeyKind::Ed25519, Algorithm::EdDSA)
        );
        fits_type && self.jwk_alg.is_none_or(|own| own == alg)
    }

    /// Whether `jws` is signed by this key with `alg` (which the caller has checked
    /// with [`Self::permits`]): verified by jsonwebtoken's aws-lc-rs backend over the
    /// signing input exactly as received (RFC 7515 §5.2). A malformed signature is
    /// `false`.
    pub(crate) fn verifies(&self, jws: &CompactJws<'_>, alg: Algorithm) -> bool {
        matches!(
            jsonwebtoken::crypto::verify(
                jws.signature,
                jws.signing_input.as_bytes(),
                &self.decoding,
                alg,
            ),
            Ok(true)
        )
    }

    pub(crate) fn from_jwk(jwk: &Jwk) -> Option<Self> {
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|u| *u != PublicKeyUse::Signature)
        {
            return None;
        }
        if jwk
            .common
            .key_operations
            .as_ref()
            .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
        {
            return None;
        }
        let jwk_alg = match jwk.common.key_algorithm {
            None => None,
            Some(alg) => Some(signature_algorithm(alg)?),
        };
        let kind = match &jwk.algorithm {
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => KeyKind::EcP256,
                EllipticCurve::P384 => KeyKind::EcP384,
                _ => return None,
            },
            AlgorithmParameters::RSA(_) => KeyKind::Rsa,
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                KeyKind::Ed25519
            }
            // `oct` (HMAC secrets) and anything else: never a verification key here.
            _ => return None,
        };
        let decoding = DecodingKey::from_jwk(jwk).ok()?;
        Some(Self {
            kind,
            jwk_alg,
            decoding,
        })
    }
}

/// The JWK `alg` as a signature algorithm; `None` for encryption, HMAC or unknown
/// algorithms (such a key is skipped).
fn signature_algorithm(alg: KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

pub(super) fn usable_keys<'a>(
    jwks: impl Iterator<Item = &'a Jwk>,
) -> HashMap<String, Arc<VerificationKey>> {
    let mut by_kid = HashMap::new();
    for jwk in jwks {
        let Some(kid) = &jwk.common.key_id else {
            continue;
        };
        let Some(key) = VerificationKey::from_jwk(jwk) else {
            tracing::debug!(kid = %kid, "JWK skipped: not a usable signature verification key");
            continue;
        };
        if by_kid.contains_key(kid) {
            // Two keys under one kid: which one signed is ambiguous; keep the first.
            tracing::warn!(kid = %kid, "duplicate kid in the JWKS; keeping the first key");
            continue;
        }
        by_kid.insert(kid.clone(), Arc::new(key));
    }
    by_kid
}
