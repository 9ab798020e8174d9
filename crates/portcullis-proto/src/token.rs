//! Token endpoint request and response (RFC 6749 §3.2, §4.4.2, §5.1).

use serde::{Deserialize, Serialize};

/// The parameters of a token request, as read from the form body.
///
/// Every member is optional on the wire; the grant decides which are required.
/// Empty values have already been dropped (RFC 6749 §3.1: "parameters sent without
/// a value MUST be treated as if they were omitted").
#[derive(Clone, Default, Deserialize)]
pub struct TokenRequest {
    /// RFC 6749 §4.4.2 `grant_type`.
    pub grant_type: Option<String>,
    /// RFC 6749 §2.3.1 `client_id` (body authentication or public client).
    pub client_id: Option<String>,
    /// RFC 6749 §2.3.1 `client_secret` (client_secret_post). Never logged.
    pub client_secret: Option<String>,
    /// RFC 7521 §4.2 `client_assertion_type` (private_key_jwt).
    pub client_assertion_type: Option<String>,
    /// RFC 7521 §4.2 `client_assertion`: a signed JWT (RFC 7523 §2.2). Never logged.
    pub client_assertion: Option<String>,
    /// RFC 6749 §3.3 space-delimited `scope`.
    pub scope: Option<String>,
    /// RFC 8707 §2 `resource`; may repeat.
    #[serde(default)]
    pub resource: Vec<String>,
    /// RFC 6749 §4.1.3 `code` (authorization_code grant). Never logged.
    pub code: Option<String>,
    /// RFC 6749 §4.1.3 `redirect_uri`: must equal the one of the authorization request.
    pub redirect_uri: Option<String>,
    /// RFC 7636 §4.5 `code_verifier`. Never logged.
    pub code_verifier: Option<String>,
    /// RFC 6749 §6 `refresh_token` (refresh_token grant). Never logged.
    pub refresh_token: Option<String>,
    /// RFC 8628 §3.4 `device_code` (device grant). Never logged.
    pub device_code: Option<String>,
}

impl TokenRequest {
    /// Every parameter this type reads; others are ignored (RFC 6749 §3.1: "The
    /// authorization server MUST ignore unrecognized request parameters").
    pub const PARAMETERS: &'static [&'static str] = &[
        "grant_type",
        "client_id",
        "client_secret",
        "client_assertion_type",
        "client_assertion",
        "scope",
        "resource",
        "code",
        "redirect_uri",
        "code_verifier",
        "refresh_token",
        "device_code",
    ];

    /// Parameters that may appear more than once (RFC 8707 §2); every other one
    /// repeated is `invalid_request` (RFC 6749 §3.2: "MUST NOT be included more than once").
    pub const MULTI_VALUED: &'static [&'static str] = &["resource"];
}

impl std::fmt::Debug for TokenRequest {
    /// Redacts `client_secret`, so formatting a request never leaks it into a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("grant_type", &self.grant_type)
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
            .field("scope", &self.scope)
            .field("resource", &self.resource)
            .field("code", &self.code.as_ref().map(|_| "[redacted]"))
            .field("redirect_uri", &self.redirect_uri)
            .field(
                "code_verifier",
                &self.code_verifier.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field(
                "device_code",
                &self.device_code.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// RFC 6749 §5.1 successful token response. Sent with `Cache-Control: no-store`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
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

impl std::fmt::Debug for TokenResponse {
    /// Redacts the tokens; shows only their presence, type, lifetime and scope.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("id_token", &self.id_token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_secrets_or_tokens() {
        let request = TokenRequest {
            client_secret: Some("s3cret-value".into()),
            code: Some("code-value".into()),
            code_verifier: Some("verifier-value".into()),
            refresh_token: Some("refresh-value".into()),
            ..Default::default()
        };
        let shown = format!("{request:?}");
        for secret in [
            "s3cret-value",
            "code-value",
            "verifier-value",
            "refresh-value",
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
        let response = TokenResponse {
            access_token: "at-value".into(),
            token_type: "Bearer".into(),
            expires_in: 1,
            scope: None,
            refresh_token: Some("rt-value".into()),
            id_token: Some("id-value".into()),
        };
        let shown = format!("{response:?}");
        for secret in ["at-value", "rt-value", "id-value"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
