//! RFC 6749 §5.2 (token endpoint) and §4.1.2.1 (authorization endpoint) error codes,
//! plus RFC 8707 §2 `invalid_target` and RFC 6750 §3.1 bearer-token errors.

use serde::{Deserialize, Serialize};

/// An error code as it appears in the `error` member of an error response.
///
/// The HTTP status that goes with each code is decided in one place, in the server's
/// error mapping; see [`ErrorCode::http_status`] for the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// RFC 6749 §5.2: missing, repeated or malformed parameter; wrong content type.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed (401).
    InvalidClient,
    /// RFC 6749 §5.2: the grant (code, refresh token, device code) is invalid.
    InvalidGrant,
    /// RFC 6749 §5.2: the client may not use this grant type.
    UnauthorizedClient,
    /// RFC 6749 §5.2: the server does not support this grant type.
    UnsupportedGrantType,
    /// RFC 6749 §5.2: a requested scope is unknown or not allowed for the client.
    InvalidScope,
    /// RFC 8707 §2: a requested `resource` is not acceptable.
    InvalidTarget,
    /// RFC 6749 §4.1.2.1: the resource owner or server denied the request.
    AccessDenied,
    /// RFC 6749 §4.1.2.1: the `response_type` is not supported.
    UnsupportedResponseType,
    /// RFC 6750 §3.1: the access token is expired, revoked or malformed (401).
    InvalidToken,
    /// RFC 6750 §3.1: the token lacks a required scope (403).
    InsufficientScope,
    /// RFC 6749 §4.1.2.1: an unexpected condition on the server (500).
    ServerError,
    /// RFC 6749 §4.1.2.1: the server is temporarily unable to answer (503).
    TemporarilyUnavailable,
    /// OIDC Core §3.1.2.6: `prompt=none` but the user is not logged in (or `max_age`
    /// asks for a fresh login).
    LoginRequired,
    /// OIDC Core §3.1.2.6: `prompt=none` but the user has not approved these scopes.
    ConsentRequired,
    /// OIDC Core §3.1.2.6: the `request` parameter (request objects) is not supported.
    RequestNotSupported,
    /// OIDC Core §3.1.2.6: the `request_uri` parameter is not supported.
    RequestUriNotSupported,
    /// RFC 8628 §3.5: the user has not yet approved or denied the device request;
    /// poll again after the interval.
    AuthorizationPending,
    /// RFC 8628 §3.5: polling too fast; the interval grew by 5 seconds.
    SlowDown,
    /// RFC 8628 §3.5: the device code expired; start a new device authorization.
    ExpiredToken,
    /// RFC 9449 §5, §7.1: the DPoP proof is missing (where one is required), malformed
    /// or invalid.
    InvalidDpopProof,
    /// RFC 9449 §8: the DPoP proof must carry the server's nonce (sent in the
    /// `DPoP-Nonce` response header).
    UseDpopNonce,
    /// RFC 7591 §3.2.2: a redirect URI in the registration metadata is invalid.
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2: a client metadata field is invalid or not allowed.
    InvalidClientMetadata,
}

impl ErrorCode {
    /// The wire spelling, e.g. `"invalid_client"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
        }
    }

    /// The HTTP status for this code at the token endpoint (RFC 6749 §5.2):
    /// `invalid_client` and `invalid_token` 401, `insufficient_scope` 403,
    /// `server_error` 500, `temporarily_unavailable` 503, everything else 400.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::InsufficientScope => 403,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            _ => 400,
        }
    }
}

/// RFC 6749 §5.2 error response body: `{"error": "...", "error_description": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error code.
    pub error: ErrorCode,
    /// Human-readable text that helps the client developer fix the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// Longest request value quoted in an `error_description`, in characters.
pub const MAX_ECHO_CHARS: usize = 64;

/// Whether `c` may appear in `error_description`: %x20-21 / %x23-5B / %x5D-7E
/// (RFC 6749 §5.2; no `"` and no `\`).
pub fn is_description_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{21}' | '\u{23}'..='\u{5B}' | '\u{5D}'..='\u{7E}')
}

/// Makes text safe for `error_description` (RFC 6749 §5.2): every other character
/// becomes `?`.
pub fn sanitize_description(text: &str) -> String {
    text.chars()
        .map(|c| if is_description_char(c) { c } else { '?' })
        .collect()
}

/// A request value quoted back in an error: at most [`MAX_ECHO_CHARS`] characters
/// (then `...`), characters not allowed in `error_description` replaced by `?`. Keeps
/// error bodies and audit lines short whatever the client sent.
pub fn echo(value: &str) -> String {
    let mut out: String = value.chars().take(MAX_ECHO_CHARS).collect();
    if value.chars().nth(MAX_ECHO_CHARS).is_some() {
        out.push_str("...");
    }
    sanitize_description(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_only_rfc6749_description_characters() {
        assert_eq!(
            sanitize_description("ok: `a` (RFC 6749 section 5.2)"),
            "ok: `a` (RFC 6749 section 5.2)"
        );
        assert_eq!(sanitize_description("é\"<b>\\\n§"), "??<b>???");
    }

    #[test]
    fn echo_bounds_the_length() {
        assert_eq!(echo("abc"), "abc");
        let long = "x".repeat(70);
        assert_eq!(echo(&long), format!("{}...", "x".repeat(64)));
    }
}
