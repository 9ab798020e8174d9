//! Grant types (RFC 6749 §4, RFC 8628 §3.4) and client authentication methods
//! (RFC 6749 §2.3.1, RFC 7591 §2 `token_endpoint_auth_method`).

use serde::{Deserialize, Serialize};

/// A grant type a client may be registered for.
///
/// The implicit and password grants are deliberately absent (OAuth 2.1 §10):
/// a request for them is answered `unsupported_grant_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum GrantType {
    /// RFC 6749 §4.1: authorization code (with PKCE, RFC 7636).
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    /// RFC 6749 §4.4: client credentials.
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    /// RFC 6749 §6: refresh token.
    #[serde(rename = "refresh_token")]
    RefreshToken,
    /// RFC 8628 §3.4: device authorization grant.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

impl GrantType {
    /// Every grant type, in a stable order.
    pub const ALL: [GrantType; 4] = [
        GrantType::AuthorizationCode,
        GrantType::ClientCredentials,
        GrantType::RefreshToken,
        GrantType::DeviceCode,
    ];

    /// The wire spelling used in `grant_type` and `grant_types`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }

    /// Parses the wire spelling; `None` for anything else (including `password`).
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == value)
    }
}

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT client assertion (RFC 7521
/// §4.2), the only assertion type accepted.
pub const JWT_BEARER_CLIENT_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuthMethod {
    /// RFC 6749 §2.3.1: HTTP Basic with the form-urlencoded id and secret.
    ClientSecretBasic,
    /// RFC 6749 §2.3.1: `client_id` and `client_secret` in the request body.
    ClientSecretPost,
    /// RFC 7591 §2: a public client; it only names itself with `client_id`.
    None,
    /// RFC 7523 §2.2 and OIDC Core §9: a JWT signed with one of the client's
    /// registered private keys (`client_assertion`), no shared secret.
    PrivateKeyJwt,
}

impl TokenEndpointAuthMethod {
    /// The wire spelling, e.g. `"client_secret_basic"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::ClientSecretBasic,
            Self::ClientSecretPost,
            Self::None,
            Self::PrivateKeyJwt,
        ]
        .into_iter()
        .find(|m| m.as_str() == value)
    }
}
