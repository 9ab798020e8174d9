//! The one place that turns an error into an HTTP response (CONVENTIONS §2).
//!
//! RFC 6749 §5.2: JSON `{"error","error_description"}`, `Cache-Control: no-store`,
//! descriptions limited to the characters §5.2 allows; `invalid_client` is 401 and
//! carries `WWW-Authenticate: Basic` (RFC 9110 §15.5.2: every 401 has a challenge);
//! `temporarily_unavailable` is 503 with `Retry-After`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::device::authorization::DeviceAuthorizationError;
use portcullis_core::grants::token_endpoint::TokenError;
use portcullis_proto::error::sanitize_description;
use portcullis_proto::{ErrorCode, ErrorResponse};

/// The challenge of a 401 `invalid_client` (RFC 7617 §2: realm and charset).
pub const BASIC_CHALLENGE: &str = r#"Basic realm="portcullis", charset="UTF-8""#;

/// Seconds a client should wait before retrying after a 503.
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// An OAuth error response ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The RFC error code.
    pub code: ErrorCode,
    /// Text that helps the developer fix the request; never secret material.
    pub description: String,
    /// Overrides the status derived from the code (413, 405).
    pub status: Option<StatusCode>,
    /// Add `Allow` (405).
    pub allow: Option<&'static str>,
    /// For `insufficient_scope`: the scope the bearer endpoint needs (RFC 6750 §3).
    pub required_scope: Option<&'static str>,
}

impl OAuthError {
    /// An error with the default status for its code.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
            status: None,
            allow: None,
            required_scope: None,
        }
    }

    /// `invalid_request` (400).
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// Sets an explicit status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// The status that will be sent.
    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or_else(|| {
            StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
        })
    }
}

impl From<&TokenError> for OAuthError {
    fn from(error: &TokenError) -> Self {
        Self {
            code: ErrorCode::from(error),
            description: error.description(),
            status: None,
            allow: None,
            required_scope: None,
        }
    }
}

/// RFC 8628 §3.2: the device authorization endpoint answers errors as the token
/// endpoint does (RFC 6749 §5.2), through the same mapping.
impl From<&DeviceAuthorizationError> for OAuthError {
    fn from(error: &DeviceAuthorizationError) -> Self {
        Self::new(ErrorCode::from(error), error.description())
    }
}

/// RFC 6750 §3.1: a request to a bearer endpoint without any token gets 401 with a
/// bare `WWW-Authenticate: Bearer` and no error code.
pub fn missing_bearer_token() -> Response {
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    let headers = response.headers_mut();
    headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A 200 JSON answer that carries credentials: `Cache-Control: no-store` and
/// `Pragma: no-cache` (RFC 6749 §5.1; RFC 8628 §3.2 answers the same way).
pub fn no_store_json<T: serde::Serialize>(body: T) -> Response {
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = ErrorResponse {
            error: self.code,
            error_description: Some(sanitize_description(&self.description)),
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        // RFC 9110 §15.5.2: every 401 carries a challenge for the scheme that failed.
        match self.code {
            ErrorCode::InvalidClient => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(BASIC_CHALLENGE),
                );
            }
            // RFC 6750 §3: the bearer challenge names the error (and the scope needed).
            ErrorCode::InvalidToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                );
            }
            ErrorCode::InsufficientScope => {
                let challenge = match self.required_scope {
                    Some(scope) => format!(r#"Bearer error="insufficient_scope", scope="{scope}""#),
                    None => r#"Bearer error="insufficient_scope""#.to_owned(),
                };
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            _ => {}
        }
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        response
    }
}
