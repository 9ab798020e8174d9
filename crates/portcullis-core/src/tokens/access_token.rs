//! RFC 9068 JWT access tokens: header `typ: at+jwt`, signed by the active ES256 key.
//! Our own endpoints (userinfo, introspection, revocation) check one through an
//! [`AccessTokenVerifier`]: the server's runs `portcullis-resource`'s checks, the same
//! code an API runs (one implementation of access-token validation, issue 16).

use super::verify::SignatureReason;
#[cfg(any(test, feature = "testing"))]
use super::verify::verify_signature;
use crate::UnixTime;
use crate::keys::{KeyRing, KeyRingError, SigningAlgorithm};
use crate::store::StoreError;
use async_trait::async_trait;
use portcullis_proto::claims::{ACCESS_TOKEN_TYP, AccessTokenClaims, Audience, Confirmation};
use serde_json::{Map, Value};
use uuid::{NoContext, Timestamp, Uuid};

/// What an access token says: who, for which client, which resources, which scopes.
#[derive(Debug)]
pub struct AccessTokenGrant<'a> {
    /// `sub`: the user id, or the client_id for client credentials (RFC 9068 §2.2).
    pub subject: &'a str,
    /// `client_id`.
    pub client_id: &'a str,
    /// `aud`: the granted resources (RFC 8707 §2.2), at least one.
    pub audiences: Vec<String>,
    /// `scope`, space-delimited; `None` when no scope was granted.
    pub scope: Option<String>,
    /// Extra claims (the client's and user's `claims`), never reserved names.
    pub extra: Map<String, Value>,
    /// RFC 9449 §6.1: the DPoP key the token is bound to (`cnf.jkt`); `None` for a
    /// Bearer token.
    pub dpop_jkt: Option<&'a str>,
}

/// A signed access token and its claims.
#[derive(Debug)]
pub struct IssuedAccessToken {
    /// The compact JWS.
    pub token: String,
    /// The claims it carries (for audit and introspection).
    pub claims: AccessTokenClaims,
}

/// Signs an access token valid from `now` for `ttl` seconds with the active ES256 key.
///
/// # Errors
/// [`KeyRingError`] if signing fails.
pub fn mint(
    ring: &KeyRing,
    issuer: &str,
    ttl: i64,
    now: UnixTime,
    grant: AccessTokenGrant<'_>,
) -> Result<IssuedAccessToken, KeyRingError> {
    let seconds = u64::try_from(now).unwrap_or(0);
    let jti = Uuid::new_v7(Timestamp::from_unix(NoContext, seconds, 0));
    let claims = AccessTokenClaims {
        iss: issuer.to_owned(),
        sub: grant.subject.to_owned(),
        aud: Audience::from_list(grant.audiences),
        exp: now.saturating_add(ttl),
        iat: now,
        jti: jti.to_string(),
        client_id: grant.client_id.to_owned(),
        scope: grant.scope,
        cnf: grant.dpop_jkt.map(|jkt| Confirmation {
            jkt: jkt.to_owned(),
        }),
        extra: grant.extra,
    };
    let token = ring
        .signer(SigningAlgorithm::Es256, now)?
        .sign_jwt(ACCESS_TOKEN_TYP, &claims)?;
    Ok(IssuedAccessToken { token, claims })
}

/// Why an access token presented to us was refused (RFC 6750 §3.1 `invalid_token`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessTokenReason {
    /// Malformed, not ours, wrong `typ` or algorithm, or a bad signature.
    #[error(transparent)]
    Signature(#[from] SignatureReason),
    /// `iss` is not this server's issuer identifier.
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    /// `exp` is at or before `now`.
    #[error("the token has expired")]
    Expired,
    /// Refused by the verifier's other checks (RFC 9068 §4, RFC 8725: `crit`, `nbf`
    /// or `iat` in the future, a missing `exp`, …); the text says which.
    #[error("{0}")]
    Refused(String),
}

/// Checks an access token this server issued, at `now`: RFC 9068 §4 (`typ: at+jwt`, a
/// key of our published JWK Set by `kid` with its own algorithm, the signature, no
/// `crit`, `iss` exactly `issuer`) and RFC 7519 §4.1.4–§4.1.6 (`exp` after `now`,
/// neither `nbf` nor `iat` in the future). `aud` is the caller's to check.
///
/// The server implements it with `portcullis_resource::JwtCheck` over its key ring's
/// JWK Set, so the server's own endpoints refuse exactly what an API refuses.
pub trait AccessTokenVerifier: Send + Sync {
    /// The claims of `token` if it passes every check.
    ///
    /// # Errors
    /// An [`AccessTokenReason`] (on the wire: RFC 6750 §3.1 `invalid_token`).
    fn verify(
        &self,
        issuer: &str,
        token: &str,
        now: UnixTime,
    ) -> Result<AccessTokenClaims, AccessTokenReason>;
}

/// Core's unit tests verify with the key ring itself ([`verify`]).
#[cfg(any(test, feature = "testing"))]
impl AccessTokenVerifier for KeyRing {
    fn verify(
        &self,
        issuer: &str,
        token: &str,
        now: UnixTime,
    ) -> Result<AccessTokenClaims, AccessTokenReason> {
        verify(self, issuer, token, now)
    }
}

/// For core's tests (the server uses an [`AccessTokenVerifier`] built on
/// `portcullis-resource`): RFC 9068 §4: verifies an access token that this server issued: `typ: at+jwt`,
/// `alg` ES256 or RS256 matching the key that `kid` names in our published JWK Set,
/// the signature, `iss` exactly `issuer`, and `exp > now` with no leeway (we issued it
/// with our own clock). `aud` is not checked here: the caller decides which audiences
/// it serves.
///
/// # Errors
/// An [`AccessTokenReason`].
#[cfg(any(test, feature = "testing"))]
pub fn verify(
    ring: &KeyRing,
    issuer: &str,
    token: &str,
    now: UnixTime,
) -> Result<AccessTokenClaims, AccessTokenReason> {
    let claims: AccessTokenClaims = verify_signature(ring, token, ACCESS_TOKEN_TYP)?;
    if claims.iss != issuer {
        return Err(AccessTokenReason::WrongIssuer);
    }
    if claims.exp <= now {
        return Err(AccessTokenReason::Expired);
    }
    Ok(claims)
}

/// The `revoked_access_tokens` table: the revocation list of access tokens (RFC 7009),
/// by `jti`, each kept until the token's `exp`. Introspection and userinfo consult it.
#[async_trait]
pub trait RevokedAccessTokenStore: Send + Sync {
    /// Adds an access token's `jti` to the revocation list until `expires_at`. Idempotent.
    async fn access_token_revoke(&self, jti: &str, expires_at: UnixTime) -> Result<(), StoreError>;
    /// Whether the access token with this `jti` has been revoked.
    async fn access_token_is_revoked(&self, jti: &str) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::key_ring;
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use portcullis_proto::ErrorCode;
    use serde_json::json;

    const ISS: &str = "https://id.example";
    const NOW: UnixTime = 1_800_000_000;

    fn token(ring: &KeyRing) -> IssuedAccessToken {
        mint(
            ring,
            ISS,
            900,
            NOW,
            AccessTokenGrant {
                subject: "u1",
                client_id: "app",
                audiences: vec!["https://api.example".into()],
                scope: Some("openid".into()),
                extra: Map::new(),
                dpop_jkt: None,
            },
        )
        .unwrap()
    }

    /// The token with its header replaced (the signature no longer covers it).
    fn with_header(token: &str, header: &serde_json::Value) -> String {
        let (_, rest) = token.split_once('.').unwrap();
        format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()))
    }

    fn kid(ring: &KeyRing, alg: SigningAlgorithm) -> String {
        ring.signer(alg, 0).unwrap().kid().to_owned()
    }

    #[test]
    fn verifies_its_own_token_until_exp() {
        let ring = key_ring(NOW).unwrap();
        let issued = token(&ring);
        let claims = verify(&ring, ISS, &issued.token, NOW + 899).unwrap();
        assert_eq!(claims, issued.claims);
    }

    #[test]
    fn rejects_an_expired_token() {
        let ring = key_ring(NOW).unwrap();
        let issued = token(&ring);
        for now in [NOW + 900, NOW + 901] {
            let e = verify(&ring, ISS, &issued.token, now).unwrap_err();
            assert_eq!(e, AccessTokenReason::Expired);
            assert_eq!(ErrorCode::from(&e), ErrorCode::InvalidToken);
        }
    }

    #[test]
    fn rejects_another_issuer() {
        let ring = key_ring(NOW).unwrap();
        let issued = token(&ring);
        assert_eq!(
            verify(&ring, "https://other.example", &issued.token, NOW).unwrap_err(),
            AccessTokenReason::WrongIssuer
        );
    }

    #[test]
    fn rejects_a_token_signed_by_another_server() {
        let ring = key_ring(NOW).unwrap();
        let other = key_ring(NOW).unwrap();
        assert_eq!(
            verify(&ring, ISS, &token(&other).token, NOW).unwrap_err(),
            SignatureReason::UnknownKey.into()
        );
    }

    #[test]
    fn rejects_a_tampered_signature() {
        let ring = key_ring(NOW).unwrap();
        let issued = token(&ring).token;
        let (signed, signature) = issued.rsplit_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        bytes[0] ^= 1;
        let tampered = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(
            verify(&ring, ISS, &tampered, NOW).unwrap_err(),
            SignatureReason::BadSignature.into()
        );
    }

    #[test]
    fn rejects_tampered_claims() {
        let ring = key_ring(NOW).unwrap();
        let issued = token(&ring).token;
        let parts: Vec<&str> = issued.split('.').collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["sub"] = json!("admin");
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            parts[2]
        );
        assert_eq!(
            verify(&ring, ISS, &forged, NOW).unwrap_err(),
            SignatureReason::BadSignature.into()
        );
    }

    #[test]
    fn rejects_a_wrong_typ() {
        let ring = key_ring(NOW).unwrap();
        let issued = token(&ring).token;
        let es = kid(&ring, SigningAlgorithm::Es256);
        let forged = with_header(&issued, &json!({"alg": "ES256", "typ": "JWT", "kid": es}));
        assert!(matches!(
            verify(&ring, ISS, &forged, NOW).unwrap_err(),
            AccessTokenReason::Signature(SignatureReason::WrongType { .. })
        ));
    }

    #[test]
    fn rejects_an_algorithm_that_does_not_match_the_key() {
        let ring = key_ring(NOW).unwrap();
        let issued = token(&ring).token;
        let rs = kid(&ring, SigningAlgorithm::Rs256);
        let forged = with_header(
            &issued,
            &json!({"alg": "ES256", "typ": "at+jwt", "kid": rs}),
        );
        assert_eq!(
            verify(&ring, ISS, &forged, NOW).unwrap_err(),
            SignatureReason::AlgorithmMismatch.into()
        );
    }

    #[test]
    fn rejects_unsupported_algorithms() {
        let ring = key_ring(NOW).unwrap();
        let issued = token(&ring).token;
        let es = kid(&ring, SigningAlgorithm::Es256);
        let hs = with_header(
            &issued,
            &json!({"alg": "HS256", "typ": "at+jwt", "kid": es}),
        );
        assert_eq!(
            verify(&ring, ISS, &hs, NOW).unwrap_err(),
            SignatureReason::UnsupportedAlgorithm.into()
        );
        let none = with_header(&issued, &json!({"alg": "none", "typ": "at+jwt", "kid": es}));
        assert_eq!(
            verify(&ring, ISS, &none, NOW).unwrap_err(),
            SignatureReason::Malformed.into()
        );
    }

    #[test]
    fn rejects_a_missing_kid() {
        let ring = key_ring(NOW).unwrap();
        let issued = token(&ring).token;
        let forged = with_header(&issued, &json!({"alg": "ES256", "typ": "at+jwt"}));
        assert_eq!(
            verify(&ring, ISS, &forged, NOW).unwrap_err(),
            SignatureReason::UnknownKey.into()
        );
    }

    #[test]
    fn rejects_garbage() {
        let ring = key_ring(NOW).unwrap();
        for bad in ["", "a.b.c", "not a token", "e30.e30"] {
            assert_eq!(
                verify(&ring, ISS, bad, NOW).unwrap_err(),
                SignatureReason::Malformed.into(),
                "{bad}"
            );
        }
    }
}
