//! The one place that turns an error into an HTTP response (CONVENTIONS §2): every
//! `error_description` and every 5xx text of the OAuth JSON endpoints is written here,
//! and handlers and extractors get their [`OAuthError`]s from the constructors and
//! `From` impls below (never a literal description of their own).
//!
//! RFC 6749 §5.2: JSON `{"error","error_description"}`, `Cache-Control: no-store`,
//! descriptions limited to the characters §5.2 allows; `invalid_client` is 401 and
//! carries `WWW-Authenticate: Basic` (RFC 9110 §15.5.2: every 401 has a challenge);
//! `temporarily_unavailable` is 503 with `Retry-After`. Server faults travel to the log
//! as [`Fault`]s attached to the response.

pub mod page;
mod refusals;
pub mod registration;

use crate::app::device_authorization::DeviceAuthorizationFailure;
use crate::app::dpop::DpopRefusal;
use crate::app::health::Unready;
use crate::app::pushed_authorization::PushedAuthorizationFailure;
use crate::app::token::TokenRefusal;
use crate::app::token_inquiry::{Inquiry, InquiryFailure};
use crate::app::userinfo::{TokenScheme, UserInfoRefusal};
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::authorization::pushed::{PushedAuthorizationError, PushedAuthorizationReason};
use portcullis_core::client::authentication::{ClientAuthError, ClientAuthFailure};
use portcullis_core::client::origin::OriginNotAllowed;
use portcullis_core::device::authorization::{DeviceAuthorizationError, DeviceAuthorizationReason};
use portcullis_core::grants::token_endpoint::{TokenError, TokenErrorReason};
use portcullis_core::store::StoreError;
use portcullis_core::userinfo::{REQUIRED_SCOPE, UserInfoReason};
use portcullis_proto::error::sanitize_description;
use portcullis_proto::{ErrorCode, ErrorResponse};
use portcullis_resource::dpop::{DPOP_ALGS, DPOP_NONCE};
use serde_json::json;
use std::time::Duration;

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
    /// Overrides the status derived from the code (413, 405, 429, 408).
    pub status: Option<StatusCode>,
    /// Add `Allow` (405).
    pub allow: Option<&'static str>,
    /// For `insufficient_scope`: the scope the bearer endpoint needs (RFC 6750 §3).
    pub required_scope: Option<&'static str>,
    /// `Retry-After` in seconds (429); a 503 without it gets [`RETRY_AFTER_SECONDS`].
    pub retry_after: Option<u64>,
    /// The server fault behind the answer, for the log ([`Fault`]; boxed: rare, and
    /// the error travels in `Result`s).
    pub fault: Option<Box<Fault>>,
    /// RFC 9449 §7.1: the 401 challenge is `DPoP` (with `algs`), not `Bearer`.
    pub dpop_challenge: bool,
    /// RFC 9449 §8: a fresh server nonce for the `DPoP-Nonce` header.
    pub dpop_nonce: Option<String>,
    /// The request came from a page origin its client does not allow: the answer
    /// carries [`CrossOriginRefused`], and the CORS middleware sends no
    /// `Access-Control-Allow-Origin` with it.
    pub cross_origin_refused: bool,
}

/// A response extension: this answer refused a browser page's origin (the identified
/// client does not allow it), so the CORS middleware
/// ([`crate::http::middleware::cors`]) must not let the page read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrossOriginRefused;

/// The OAuth endpoints that accept only POST, for their 405 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostEndpoint {
    /// RFC 6749 §3.2.
    Token,
    /// RFC 7662 §2.1.
    Introspection,
    /// RFC 7009 §2.1.
    Revocation,
    /// RFC 8628 §3.1 (the client makes a POST).
    DeviceAuthorization,
    /// RFC 9126 §2 (the client makes a POST).
    PushedAuthorizationRequest,
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
            retry_after: None,
            fault: None,
            dpop_challenge: false,
            dpop_nonce: None,
            cross_origin_refused: false,
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

    /// Attaches the server fault behind this answer (logged once by the middleware).
    pub fn with_fault(mut self, fault: Fault) -> Self {
        self.fault = Some(Box::new(fault));
        self
    }

    /// The status that will be sent.
    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or_else(|| {
            StatusCode::from_u16(self.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
        })
    }

    /// Any method but POST at `endpoint`: 405 with `Allow: POST`.
    pub fn method_not_allowed(endpoint: PostEndpoint) -> Self {
        let description = match endpoint {
            PostEndpoint::Token => "the token endpoint accepts only POST (RFC 6749 section 3.2)",
            PostEndpoint::Introspection => {
                "the introspection endpoint accepts only POST (RFC 7662 section 2.1)"
            }
            PostEndpoint::Revocation => {
                "the revocation endpoint accepts only POST (RFC 7009 section 2.1)"
            }
            PostEndpoint::DeviceAuthorization => {
                "the device authorization endpoint accepts only POST (RFC 8628 section 3.1)"
            }
            PostEndpoint::PushedAuthorizationRequest => {
                "the pushed authorization request endpoint accepts only POST (RFC 9126 section 2)"
            }
        };
        let mut error =
            Self::invalid_request(description).with_status(StatusCode::METHOD_NOT_ALLOWED);
        error.allow = Some("POST");
        error
    }

    /// More than one `Authorization` header (which credentials would count?).
    pub fn several_authorization_headers() -> Self {
        Self::invalid_request("send one Authorization header, not several")
    }

    /// `Authorization: Bearer` (or `DPoP`) with nothing after the scheme (RFC 6750
    /// §2.1, RFC 9449 §7.1).
    pub fn empty_access_token(scheme: TokenScheme) -> Self {
        Self::invalid_request(match scheme {
            TokenScheme::Bearer => "the Bearer credentials are empty (RFC 6750 section 2.1)",
            TokenScheme::Dpop => "the DPoP credentials are empty (RFC 9449 section 7.1)",
        })
    }

    /// A refused DPoP proof (RFC 9449 §4.3): `invalid_dpop_proof` (§5, §7.1), or
    /// `use_dpop_nonce` (§8) for a missing or stale nonce, with the proof check that
    /// failed as the description (the proof, token and key are never quoted); a
    /// replay-store failure as [`OAuthError::store_failure`]. `at_resource`: 401 with a
    /// `DPoP` challenge (UserInfo, §7.1), else 400 (the token endpoint, §5).
    pub fn dpop_refused(refusal: &DpopRefusal, at_resource: bool) -> Self {
        let error = match refusal {
            DpopRefusal::Store(error) => return Self::store_failure(error),
            DpopRefusal::Missing => Self::new(
                ErrorCode::InvalidDpopProof,
                "the DPoP scheme needs a DPoP proof header (RFC 9449 section 7.1)",
            ),
            DpopRefusal::Proof(proof) => {
                let code = if refusal.wants_nonce() {
                    ErrorCode::UseDpopNonce
                } else {
                    ErrorCode::InvalidDpopProof
                };
                Self::new(code, proof.to_string())
            }
        };
        if at_resource {
            error.at_dpop_resource()
        } else {
            error
        }
    }

    /// 401 with a `DPoP` challenge (RFC 9449 §7.1).
    fn at_dpop_resource(mut self) -> Self {
        self.status = Some(StatusCode::UNAUTHORIZED);
        self.dpop_challenge = true;
        self
    }

    /// A bearer token both in `Authorization` and in the form body (RFC 6750 §2: one
    /// method per request).
    pub fn bearer_token_twice() -> Self {
        Self::invalid_request(
            "send the access token once: in the Authorization header or in the access_token form parameter, not both (RFC 6750 section 2)",
        )
    }

    /// A body that is not `application/x-www-form-urlencoded` (RFC 6749 §3.2).
    pub fn not_form_urlencoded() -> Self {
        Self::invalid_request(
            "the request body must be application/x-www-form-urlencoded (RFC 6749 section 3.2)",
        )
    }

    /// A body over `limit` bytes: 413.
    pub fn body_too_large(limit: usize) -> Self {
        Self::invalid_request(format!("the request body is larger than {limit} bytes"))
            .with_status(StatusCode::PAYLOAD_TOO_LARGE)
    }

    /// A body that could not be read.
    pub fn unreadable_body() -> Self {
        Self::invalid_request("the request body could not be read")
    }

    /// A single-valued parameter sent twice (RFC 6749 §3.1); `name` is quoted bounded.
    pub fn repeated_parameter(name: &str) -> Self {
        Self::invalid_request(format!(
            "parameter `{}` is repeated; it may appear only once (RFC 6749 section 3.1)",
            portcullis_proto::error::echo(name)
        ))
    }

    /// A parameter whose percent-decoded value is not UTF-8 (RFC 6749 Appendix B); the
    /// value is not echoed.
    pub fn not_utf8_parameter(name: &str) -> Self {
        Self::invalid_request(format!(
            "parameter `{}` is not UTF-8 (RFC 6749 appendix B)",
            portcullis_proto::error::echo(name)
        ))
    }

    /// Parameters of the wrong shape for the request type.
    pub fn malformed_parameters(error: &dyn std::fmt::Display) -> Self {
        Self::invalid_request(format!("malformed request parameters: {error}"))
    }

    /// A request that took longer than `limit`: 408.
    pub fn request_timeout(limit: Duration) -> Self {
        let description = if limit.subsec_nanos() == 0 {
            let seconds = limit.as_secs();
            let unit = if seconds == 1 { "second" } else { "seconds" };
            format!("the request took longer than {seconds} {unit}")
        } else {
            format!("the request took longer than {} ms", limit.as_millis())
        };
        Self::invalid_request(description).with_status(StatusCode::REQUEST_TIMEOUT)
    }

    /// 503 `temporarily_unavailable` when the database is unreachable, else 500
    /// `server_error`; the detail goes to the log only (a [`Fault`]).
    pub fn store_failure(error: &StoreError) -> Self {
        let wire = match error {
            StoreError::Unavailable(_) => {
                Self::new(ErrorCode::TemporarilyUnavailable, UNAVAILABLE_DESCRIPTION)
            }
            _ => Self::new(ErrorCode::ServerError, SERVER_ERROR_DESCRIPTION),
        };
        wire.with_fault(Fault::error("request failed on the server side", error))
    }

    /// 429 with `Retry-After` (at least a second): too many device authorization
    /// requests from this address (RFC 6749 §5.2 has no code for "too many requests";
    /// the status and the header say it).
    pub fn too_many_device_authorizations(wait: Duration) -> Self {
        let mut error =
            Self::invalid_request("too many device authorization requests; retry later")
                .with_status(StatusCode::TOO_MANY_REQUESTS);
        error.retry_after = Some(wait.as_secs().max(1));
        error
    }

    /// 429 with `Retry-After` (at least a second): too many pushed authorization
    /// requests from this address (RFC 9126 §7.4 leaves the limit to the server).
    pub fn too_many_pushed_authorizations(wait: Duration) -> Self {
        let mut error =
            Self::invalid_request("too many pushed authorization requests; retry later")
                .with_status(StatusCode::TOO_MANY_REQUESTS);
        error.retry_after = Some(wait.as_secs().max(1));
        error
    }
}

/// RFC 6750 §3.1: a request to a bearer endpoint without any token gets 401 with a
/// bare `WWW-Authenticate: Bearer` and no error code, followed by the `DPoP` challenge
/// with the algorithms a proof may use (RFC 9449 §7.1: both schemes are accepted).
pub fn missing_access_token() -> Response {
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    let headers = response.headers_mut();
    headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    headers.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(DPOP_BARE_CHALLENGE),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The answer for a path we do not serve (also for a refused `/metrics` scrape): 404
/// `invalid_request` pointing at the metadata document.
pub fn not_found() -> Response {
    let body = ErrorResponse {
        error: ErrorCode::InvalidRequest,
        error_description: Some(
            "no such endpoint; see /.well-known/oauth-authorization-server".to_owned(),
        ),
    };
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// `/health/ready` when the database does not answer: 503 with `Retry-After` and a
/// fixed body; the detail is a [`Fault`] logged at warn.
pub fn not_ready(reason: &Unready) -> Response {
    let body = json!({"status": "unavailable", "reason": "database unavailable"});
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    Fault::warn("readiness check failed: database unavailable", reason).attach(response)
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

/// RFC 9449 §8.2: `response` with a `DPoP-Nonce` header when `nonce` is given (a
/// successful token response while nonces are required).
pub fn with_dpop_nonce(mut response: Response, nonce: Option<String>) -> Response {
    if let Some(value) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
        response.headers_mut().insert(DPOP_NONCE, value);
    }
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
        let challenge = if self.dpop_challenge {
            dpop_challenge(self.code)
        } else {
            challenge(self.code, self.required_scope)
        };
        if let Some(challenge) = challenge {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(nonce) = self.dpop_nonce.as_deref()
            && let Ok(value) = HeaderValue::from_str(nonce)
        {
            headers.insert(DPOP_NONCE, value);
        }
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
        }
        if self.cross_origin_refused {
            response.extensions_mut().insert(CrossOriginRefused);
        }
        match self.fault {
            Some(fault) => (*fault).attach(response),
            None => response,
        }
    }
}

/// RFC 9110 §15.5.2: every 401 carries a challenge for the scheme that failed.
fn challenge(code: ErrorCode, required_scope: Option<&str>) -> Option<HeaderValue> {
    match code {
        ErrorCode::InvalidClient => Some(HeaderValue::from_static(BASIC_CHALLENGE)),
        // RFC 6750 §3: the bearer challenge names the error (and the scope needed).
        ErrorCode::InvalidToken => {
            Some(HeaderValue::from_static(r#"Bearer error="invalid_token""#))
        }
        ErrorCode::InsufficientScope => {
            let challenge = match required_scope {
                Some(scope) => format!(r#"Bearer error="insufficient_scope", scope="{scope}""#),
                None => r#"Bearer error="insufficient_scope""#.to_owned(),
            };
            HeaderValue::from_str(&challenge).ok()
        }
        _ => None,
    }
}

/// RFC 9449 §7.1: the `DPoP` challenge naming the error and the algorithms a proof may
/// use.
fn dpop_challenge(code: ErrorCode) -> Option<HeaderValue> {
    let challenge = format!(r#"DPoP error="{}", algs="{DPOP_ALGS}""#, code.as_str());
    HeaderValue::from_str(&challenge).ok()
}

/// The bare `DPoP` challenge of a request without credentials (RFC 9449 §7.1).
const DPOP_BARE_CHALLENGE: &str = r#"DPoP algs="ES256 PS256 RS256 EdDSA""#;

/// A fault on the server's side behind a response (a database outage, a key that
/// cannot be opened, a template that fails): the application's [`Incident`] (what was
/// being done and the error, never secret material), carried in the response's
/// extensions to [`crate::http::middleware::log_faults`], which logs it once, with the
/// request id (CONVENTIONS §8: `IntoResponse` has no side effects, handlers do not log).
pub use crate::app::incident::Incident as Fault;

/// Carrying a [`Fault`] on a response.
pub trait AttachFault {
    /// `response` with this fault attached (after any attached before).
    fn attach(self, response: Response) -> Response;
}

impl AttachFault for Fault {
    fn attach(self, mut response: Response) -> Response {
        match response.extensions_mut().get_mut::<Faults>() {
            Some(faults) => faults.0.push(self),
            None => {
                response.extensions_mut().insert(Faults(vec![self]));
            }
        }
        response
    }
}

/// The faults attached to one response, in the order they happened.
#[derive(Debug, Clone, Default)]
pub struct Faults(pub Vec<Fault>);

/// `error_description` of a `server_error` (500): generic, the detail is logged.
const SERVER_ERROR_DESCRIPTION: &str = "the server could not complete the request";
/// `error_description` of a `temporarily_unavailable` (503).
const UNAVAILABLE_DESCRIPTION: &str =
    "the server is temporarily unable to complete the request; retry later";

/// 500 for a page whose template failed to render (the detail goes to the log). Here,
/// not in [`page`], because the page error views themselves render through it.
pub fn template_failed(error: &askama::Error) -> Response {
    let response = (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    Fault::error("page template failed to render", error).attach(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(response: &Response) -> Vec<Fault> {
        response
            .extensions()
            .get::<Faults>()
            .map(|f| f.0.clone())
            .unwrap_or_default()
    }

    #[test]
    fn a_store_failure_is_answered_generically_and_its_detail_is_a_fault() {
        let error = StoreError::Unavailable("pool timed out".to_owned());
        let response = OAuthError::store_failure(&error).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        let logged = faults(&response);
        assert_eq!(logged.len(), 1);
        assert_eq!(logged[0].context, "request failed on the server side");
        assert_eq!(logged[0].error, "database unavailable: pool timed out");
        assert!(!logged[0].warn);
        let other = OAuthError::store_failure(&StoreError::Other("x".to_owned()));
        assert_eq!(other.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(other.description, SERVER_ERROR_DESCRIPTION);
    }

    #[test]
    fn a_client_error_carries_no_fault_and_a_throttle_its_own_retry_after() {
        let response = OAuthError::several_authorization_headers().into_response();
        assert!(faults(&response).is_empty());
        let wait = Duration::from_millis(1_500);
        let response = OAuthError::too_many_device_authorizations(wait).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn the_bare_dpop_challenge_lists_the_supported_algorithms() {
        assert_eq!(DPOP_BARE_CHALLENGE, format!(r#"DPoP algs="{DPOP_ALGS}""#));
    }

    #[test]
    fn method_not_allowed_names_post() {
        let response = OAuthError::method_not_allowed(PostEndpoint::Revocation).into_response();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "POST");
    }
}
