//! Token endpoint request and response (RFC 6749 §3.2, §4.4.2, §5.1).

use serde::{Deserialize, Serialize};

/// The parameters of a token request, as read from the form body.
///
/// Every member is optional on the wire; the grant decides which are required.
/// Empty values have already been dropped (RFC 6749 §3.1: "parameters sent without
/// a value MUST be treated as if they were omitted").
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenRequest {
    /// RFC 6749 §4.4.2 `grant_type`.
    pub grant_type: Option<String>,
    /// RFC 6749 §2.3.1 `client_id` (body authentication or public client).
    pub client_id: Option<String>,
    /// RFC 6749 §2.3.1 `client_secret` (client_secret_post). Never logged.
    pub client_secret: Option<String>,
    /// RFC 6749 §3.3 space-delimited `scope`.
    pub scope: Option<String>,
    /// RFC 8707 §2 `resource`; may repeat.
    #[serde(default)]
    pub resource: Vec<String>,
}

impl TokenRequest {
    /// Parameters that may appear more than once (RFC 8707 §2); every other one
    /// repeated is `invalid_request` (RFC 6749 §3.2: "MUST NOT be included more than once").
    pub const MULTI_VALUED: &'static [&'static str] = &["resource"];
}

/// RFC 6749 §5.1 successful token response. Sent with `Cache-Control: no-store`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The access token (a JWT per RFC 9068).
    pub access_token: String,
    /// Always `Bearer` (RFC 6750).
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
    /// Granted scope, space-delimited; omitted when nothing was granted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// RFC 6749 §6 refresh token (never for client credentials, §4.4.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// OIDC Core §3.1.3.3 id_token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}
