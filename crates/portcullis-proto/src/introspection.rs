//! RFC 7662 token introspection and RFC 7009 token revocation: request parameters and
//! the introspection response.

use crate::claims::{Audience, Confirmation};
use serde::{Deserialize, Serialize};

/// RFC 7662 §2.1 / RFC 7009 §2.1 request: the token, a hint, and client credentials in
/// the body (`client_secret_post`) or the `Authorization` header.
#[derive(Clone, Default, Deserialize)]
pub struct TokenInquiry {
    /// The token to introspect or revoke. Never logged.
    pub token: Option<String>,
    /// `access_token` or `refresh_token`: a hint only (RFC 7009 §2.1, RFC 7662 §2.1).
    pub token_type_hint: Option<String>,
    /// Body client authentication.
    pub client_id: Option<String>,
    /// Body client authentication. Never logged.
    pub client_secret: Option<String>,
    /// RFC 7521 §4.2 `client_assertion_type` (private_key_jwt).
    pub client_assertion_type: Option<String>,
    /// RFC 7521 §4.2 `client_assertion`: a signed JWT (RFC 7523 §2.2). Never logged.
    pub client_assertion: Option<String>,
}

impl TokenInquiry {
    /// Every parameter this type reads.
    pub const PARAMETERS: &'static [&'static str] = &[
        "token",
        "token_type_hint",
        "client_id",
        "client_secret",
        "client_assertion_type",
        "client_assertion",
    ];
    /// None may repeat.
    pub const MULTI_VALUED: &'static [&'static str] = &[];
}

impl std::fmt::Debug for TokenInquiry {
    /// Redacts the token and the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenInquiry")
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("token_type_hint", &self.token_type_hint)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("client_assertion_type", &self.client_assertion_type)
            .field(
                "client_assertion",
                &self.client_assertion.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// RFC 7662 §2.2 introspection response. An inactive token is exactly
/// `{"active": false}` (every other member absent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntrospectionResponse {
    /// Whether the token is live and the caller may see it.
    pub active: bool,
    /// Granted scopes, space-delimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issued at, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// `Bearer` for access tokens, `DPoP` for DPoP-bound access tokens (RFC 9449 §6.2),
    /// `refresh_token` for refresh tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// The access token's `jti`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// RFC 9449 §6.2: `{"jkt": …}`, the DPoP key a bound token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

impl IntrospectionResponse {
    /// `{"active": false}`.
    pub fn inactive() -> Self {
        Self::default()
    }
}
