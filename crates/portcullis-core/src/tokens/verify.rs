//! Verifying a JWT this server signed (RFC 7515 §5.2, RFC 8725 §3.1–3.11): the key
//! is one of ours (by `kid` in the published JWK Set), the algorithm is the key's own
//! (never the header's choice alone), and the `typ` header says what kind of token it
//! is. Signature math is jsonwebtoken's (aws-lc-rs backend); time and issuer checks
//! are the caller's, against `now`.

use crate::keys::KeyRing;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use portcullis_proto::jwk::Jwk;
use serde::de::DeserializeOwned;

/// Why a token's signature layer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureReason {
    /// Not three base64url parts with a JSON header.
    #[error("the token is not a well-formed JWS")]
    Malformed,
    /// The `typ` header is not the expected one (why: an id_token must not pass as an
    /// access token or the reverse, RFC 8725 §3.11).
    #[error("the token has typ `{found}`, expected `{expected}`")]
    WrongType {
        /// The expected `typ`.
        expected: &'static str,
        /// What the header says (bounded).
        found: String,
    },
    /// An algorithm we never sign with (`none`, HS256, …).
    #[error("the token is signed with an algorithm this server does not use")]
    UnsupportedAlgorithm,
    /// No `kid`, or a `kid` that is not in our published JWK Set.
    #[error("the token is not signed by a key of this server")]
    UnknownKey,
    /// The header's `alg` is not the algorithm of the key its `kid` names (why: RFC
    /// 8725 §3.1 algorithm confusion).
    #[error("the token's algorithm does not match its key")]
    AlgorithmMismatch,
    /// The signature does not verify.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// The payload is not the expected claims.
    #[error("the token's claims are malformed")]
    MalformedClaims,
}

/// Verifies the signature of `token` with our published key named by its `kid` and
/// deserialises its claims. Checks nothing about time, issuer or audience.
///
/// # Errors
/// A [`SignatureReason`].
pub(crate) fn verify_signature<T: DeserializeOwned>(
    ring: &KeyRing,
    token: &str,
    expected_typ: &'static str,
) -> Result<T, SignatureReason> {
    // Unverified header: used only to choose among our own keys.
    let unverified_header = decode_header(token).map_err(|_| SignatureReason::Malformed)?;
    let found_typ = unverified_header.typ.as_deref().unwrap_or("");
    if found_typ != expected_typ {
        return Err(SignatureReason::WrongType {
            expected: expected_typ,
            found: portcullis_proto::error::echo(found_typ),
        });
    }
    let alg = unverified_header.alg;
    let alg_name = match alg {
        Algorithm::ES256 => "ES256",
        Algorithm::RS256 => "RS256",
        _ => return Err(SignatureReason::UnsupportedAlgorithm),
    };
    let jwk = unverified_header
        .kid
        .as_deref()
        .and_then(|kid| ring.jwks().keys.iter().find(|k| k.kid == kid))
        .ok_or(SignatureReason::UnknownKey)?;
    if jwk.alg != alg_name {
        return Err(SignatureReason::AlgorithmMismatch);
    }
    let key = decoding_key(jwk).ok_or(SignatureReason::AlgorithmMismatch)?;
    let mut validation = Validation::new(alg);
    // Time, issuer and audience are checked by the caller against `now` (CONVENTIONS
    // §3), not against jsonwebtoken's wall clock.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    validation.leeway = 0;
    decode::<T>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => SignatureReason::BadSignature,
            ErrorKind::Json(_) | ErrorKind::InvalidClaimFormat(_) => {
                SignatureReason::MalformedClaims
            }
            _ => SignatureReason::Malformed,
        })
}

/// The public key of a published JWK, for the key type its `alg` requires.
fn decoding_key(jwk: &Jwk) -> Option<DecodingKey> {
    match (jwk.alg.as_str(), jwk.kty.as_str()) {
        ("ES256", "EC") if jwk.crv.as_deref() == Some("P-256") => {
            DecodingKey::from_ec_components(jwk.x.as_deref()?, jwk.y.as_deref()?).ok()
        }
        ("RS256", "RSA") => {
            DecodingKey::from_rsa_components(jwk.n.as_deref()?, jwk.e.as_deref()?).ok()
        }
        _ => None,
    }
}
