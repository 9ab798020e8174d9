//! RFC 9068 JWT access tokens: header `typ: at+jwt`, signed by the active ES256 key.

use crate::UnixTime;
use crate::keys::{KeyRing, KeyRingError, SigningAlgorithm};
use portcullis_proto::claims::{ACCESS_TOKEN_TYP, AccessTokenClaims, Audience};
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
        extra: grant.extra,
    };
    let token = ring
        .signer(SigningAlgorithm::Es256)?
        .sign_jwt(ACCESS_TOKEN_TYP, &claims)?;
    Ok(IssuedAccessToken { token, claims })
}
