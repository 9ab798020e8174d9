//! JWT access token claims (RFC 9068 §2.2) and the JWS header (RFC 7515 §4, RFC 9068 §2.1).

use serde::{Deserialize, Serialize};

/// The `typ` header value of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// The `typ` header value of an id_token (RFC 7519 §5.1).
pub const ID_TOKEN_TYP: &str = "JWT";

/// JOSE header of a signed token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwsHeader {
    /// `ES256` or `RS256`.
    pub alg: String,
    /// `at+jwt` for access tokens, `JWT` for id_tokens.
    pub typ: String,
    /// Key id: the JWK thumbprint (RFC 7638) of the signing key.
    pub kid: String,
}

/// `aud`: one string, or an array when several resources were requested (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience, serialised as a string.
    One(String),
    /// Several audiences, serialised as an array.
    Many(Vec<String>),
}

impl Audience {
    /// Builds the compact form: a string for one audience, an array otherwise.
    pub fn from_list(mut list: Vec<String>) -> Self {
        if list.len() == 1
            && let Some(one) = list.pop()
        {
            return Self::One(one);
        }
        Self::Many(list)
    }
}

/// RFC 9068 §2.2 claims of a JWT access token. Times are seconds since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer identifier, exactly as in the metadata document.
    pub iss: String,
    /// Subject: the user id, or the client_id for client credentials (RFC 9068 §2.2).
    pub sub: String,
    /// The resource servers this token is for (RFC 8707 `resource`).
    pub aud: Audience,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Unique token id (UUID v7), used for revocation.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes, space-delimited (RFC 9068 §2.2.3); absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// RFC 9449 §6.1 / RFC 7800 §3.1 confirmation: `{"jkt": …}` for a DPoP-bound
    /// token; absent for a Bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// Extra claims registered for the client (`claims` in its configuration).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// RFC 7800 §3.1 `cnf` (confirmation) of a sender-constrained token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// RFC 9449 §6.1: base64url (no padding) SHA-256 JWK thumbprint (RFC 7638) of the
    /// DPoP public key the token is bound to.
    pub jkt: String,
}

/// OIDC Core §2 id_token claims. Times are seconds since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer identifier.
    pub iss: String,
    /// The user's stable id (a UUID), never the username.
    pub sub: String,
    /// The client_id of the relying party.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the user last authenticated (OIDC Core §2 `auth_time`).
    pub auth_time: i64,
    /// The authorization request's `nonce`, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// OIDC Core §3.1.3.6: base64url of the left half of SHA-256 of the access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// Scope-driven user claims (OIDC Core §5.4) and the user's configured claims.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}
