//! RFC 9449 (DPoP) as data for the protocol: the key a verified proof binds tokens to
//! ([`DpopBinding`]), the check of a `dpop_jkt` value (§10), and the replay record of
//! proofs shared by every node ([`DpopProofStore`], §11.1).
//!
//! Proofs are verified in the server's application layer; core takes the verified
//! binding as an argument and decides what it binds (access tokens: `cnf.jkt`, §6.1;
//! public clients' refresh tokens, §5; codes requested with `dpop_jkt`, §10).

use crate::UnixTime;
use crate::secret::SecretDigest;
use crate::store::StoreError;
use async_trait::async_trait;

/// A DPoP key proven by a verified proof at the token endpoint (RFC 9449 §4.3): the
/// tokens of this request are bound to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopBinding {
    /// RFC 7638 JWK SHA-256 thumbprint of the proof's public key, base64url without
    /// padding (43 characters): the `cnf.jkt` of the access token (§6.1).
    pub jkt: String,
}

/// RFC 9449 §10: whether `value` has the shape of a JWK SHA-256 thumbprint: exactly 43
/// base64url characters (32 bytes, no padding).
pub fn is_jkt(value: &str) -> bool {
    value.len() == JKT_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The replay key of a proof (RFC 9449 §11.1: a `jti` is accepted once per key and
/// `htu`): SHA-256 over the JSON array `[jkt, htu, jti]` (unambiguous whatever the
/// values hold), so the table keeps fixed-size keys and no request data.
pub fn proof_digest(jkt: &str, htu: &str, jti: &str) -> SecretDigest {
    let key = serde_json::json!([jkt, htu, jti]).to_string();
    SecretDigest::of(&key)
}

/// The `dpop_proofs` table: proofs already used, by [`proof_digest`], each kept until
/// its `iat` leaves the acceptance window (`expires_at`).
#[async_trait]
pub trait DpopProofStore: Send + Sync {
    /// Records a proof as used until `expires_at`, in one statement (`INSERT … ON
    /// CONFLICT DO NOTHING`). `true` for exactly one caller across every node: the
    /// first; `false` if it was already recorded (a replay, §11.1).
    async fn dpop_proof_record(
        &self,
        digest: &SecretDigest,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError>;
}

/// Length of a base64url SHA-256 thumbprint without padding.
const JKT_LEN: usize = 43;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thumbprint_is_43_base64url_characters() {
        assert!(is_jkt("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"));
        assert!(!is_jkt("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4"));
        assert!(!is_jkt("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I="));
        assert!(!is_jkt("0ZcOCORZNYy+DWpqq30jZyJGHTN0d2HglBV3uiguA4I"));
        assert!(!is_jkt(""));
    }

    #[test]
    fn the_proof_digest_separates_its_parts() {
        let a = proof_digest("k", "https://a/b", "x");
        assert_eq!(a, proof_digest("k", "https://a/b", "x"));
        assert_ne!(a, proof_digest("k", "https://a/bx", ""));
        assert_ne!(a, proof_digest("k2", "https://a/b", "x"));
    }
}
