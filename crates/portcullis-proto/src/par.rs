//! RFC 9126 §2: the pushed authorization request and its response.

use crate::authorize::AuthorizationRequest;
use serde::{Deserialize, Serialize};

/// RFC 9126 §2.1 pushed authorization request, as read from the form body: the
/// authorization request parameters (RFC 6749 §4.1.1) plus client authentication as
/// at the token endpoint (RFC 6749 §2.3).
///
/// Every member is optional on the wire; empty values have been dropped (RFC 6749
/// §3.1).
#[derive(Clone, Default, Deserialize)]
pub struct PushedAuthorizationRequest {
    /// The authorization request parameters (`client_id` is also the body
    /// authentication's, RFC 6749 §2.3.1).
    #[serde(flatten)]
    pub authorization: AuthorizationRequest,
    /// RFC 6749 §2.3.1 `client_secret` (client_secret_post). Never logged.
    pub client_secret: Option<String>,
    /// RFC 7521 §4.2 `client_assertion_type` (private_key_jwt).
    pub client_assertion_type: Option<String>,
    /// RFC 7521 §4.2 `client_assertion`: a signed JWT (RFC 7523 §2.2). Never logged.
    pub client_assertion: Option<String>,
}

impl PushedAuthorizationRequest {
    /// Every parameter this type reads: [`AuthorizationRequest::PARAMETERS`],
    /// `client_secret`, `client_assertion_type` and `client_assertion`; others are
    /// ignored (RFC 6749 §3.1).
    pub const PARAMETERS: &'static [&'static str] = &[
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "resource",
        "nonce",
        "prompt",
        "max_age",
        "login_hint",
        "response_mode",
        "request",
        "request_uri",
        "dpop_jkt",
        "client_secret",
        "client_assertion_type",
        "client_assertion",
    ];
    /// Parameters that may repeat (RFC 8707 §2).
    pub const MULTI_VALUED: &'static [&'static str] = AuthorizationRequest::MULTI_VALUED;
}

impl std::fmt::Debug for PushedAuthorizationRequest {
    /// Redacts `client_secret` and `client_assertion`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushedAuthorizationRequest")
            .field("authorization", &self.authorization)
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

/// RFC 9126 §2.2 response (201, JSON, `Cache-Control: no-store`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedAuthorizationResponse {
    /// `urn:ietf:params:oauth:request_uri:<reference>`: what the client sends to the
    /// authorization endpoint instead of the request parameters (single use).
    pub request_uri: String,
    /// Seconds until `request_uri` expires.
    pub expires_in: u64,
}

/// RFC 9126 §2.2: the prefix of every `request_uri` this server issues.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_the_authorization_request_parameters_and_client_authentication() {
        let mut expected = AuthorizationRequest::PARAMETERS.to_vec();
        expected.extend(["client_secret", "client_assertion_type", "client_assertion"]);
        assert_eq!(PushedAuthorizationRequest::PARAMETERS, expected.as_slice());
    }
}
