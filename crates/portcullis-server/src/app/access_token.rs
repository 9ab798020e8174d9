//! Checking the access tokens this server issued, for its own endpoints (userinfo,
//! introspection, revocation): `portcullis-resource`'s [`JwtCheck`] over the key
//! ring's published JWK Set, so the server refuses exactly what an API running
//! `portcullis-resource` refuses (`crit`, `nbf` or `iat` in the future, …): one
//! implementation of access-token validation (issue 16).

use portcullis_core::UnixTime;
use portcullis_core::tokens::access_token::{AccessTokenReason, AccessTokenVerifier};
use portcullis_proto::claims::AccessTokenClaims;
use portcullis_resource::{Algorithm, JwkSet, JwtCheck, KeyStore, ValidationError};

/// The server's [`AccessTokenVerifier`]: the verification keys of one key ring.
#[derive(Debug, Clone)]
pub struct OwnAccessTokens {
    keys: KeyStore,
}

impl OwnAccessTokens {
    /// Parses the published JWK Set `jwks_json` (`{"keys":[…]}`) once; a key that
    /// cannot verify access tokens is skipped ([`KeyStore::from_jwks`]).
    pub fn from_jwks_json(jwks_json: &[u8]) -> Self {
        let jwks = serde_json::from_slice::<JwkSet>(jwks_json).unwrap_or_else(|error| {
            tracing::error!(%error, "the key ring's JWK Set does not parse; access tokens will be refused");
            JwkSet { keys: Vec::new() }
        });
        Self {
            keys: KeyStore::from_jwks(jwks),
        }
    }
}

impl AccessTokenVerifier for OwnAccessTokens {
    /// [`JwtCheck`] with no audience (the caller decides which it serves), the
    /// algorithms this server signs with, and [`CLOCK_SKEW_SECONDS`] of leeway for
    /// `nbf` and `iat`; then `exp` strictly after `now` (RFC 7519 §4.1.4: the token was
    /// issued on our own clock, so its expiry gets no leeway).
    fn verify(
        &self,
        issuer: &str,
        token: &str,
        now: UnixTime,
    ) -> Result<AccessTokenClaims, AccessTokenReason> {
        let check = JwtCheck {
            issuer,
            audience: None,
            algorithms: &ALGORITHMS,
            leeway: CLOCK_SKEW_SECONDS,
            now,
        };
        let verified = check.verify(&self.keys, token).map_err(reason)?;
        if verified.claims.exp <= now {
            return Err(AccessTokenReason::Expired);
        }
        serde_json::from_slice(&verified.payload).map_err(|e| {
            AccessTokenReason::Refused(format!("the token's claims are not ours: {e}"))
        })
    }
}

/// The precise reason, kept for the log (the wire says `invalid_token` for all).
fn reason(error: ValidationError) -> AccessTokenReason {
    match error {
        ValidationError::WrongIssuer => AccessTokenReason::WrongIssuer,
        ValidationError::Expired => AccessTokenReason::Expired,
        other => AccessTokenReason::Refused(other.to_string()),
    }
}

/// The algorithms of this server's keys (access tokens are ES256; RS256 is allowed as
/// before, matched to the key by `kid`).
const ALGORITHMS: [Algorithm; 2] = [Algorithm::ES256, Algorithm::RS256];

/// Leeway for `nbf` and `iat`, in seconds: nodes of a cluster verify each other's
/// tokens, and their clocks (rounded to whole seconds) may differ by a little.
pub const CLOCK_SKEW_SECONDS: i64 = 5;
