//! RFC 8628 §3.1–3.2 device authorization endpoint: POST only, form-encoded, client
//! authentication as at the token endpoint; JSON answers with `Cache-Control: no-store`
//! (the body carries the device code), errors through the token endpoint's mapping
//! ([`OAuthError`], RFC 8628 §3.2 → RFC 6749 §5.2).
//!
//! Rate-limited per client address, in a database bucket every node shares
//! ([`crate::app::throttle::DeviceAuthorizationThrottle`]), before the client is even
//! looked up: over the limit, 429 with `Retry-After` and `invalid_request`. The
//! application step is [`crate::app::device_authorization::device_authorization`].

use crate::app::device_authorization::device_authorization;
use crate::app::state::AppState;
use crate::http::error::{OAuthError, PostEndpoint, no_store_json};
use crate::http::extract::{ClientAuthorization, ClientIp, OAuthForm, RequestId, RequestOrigin};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use portcullis_proto::device::DeviceAuthorizationRequest;

/// `POST /device_authorization`.
pub async fn device_authorization_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    ClientIp(ip): ClientIp,
    ClientAuthorization(authorization): ClientAuthorization,
    origin: RequestOrigin,
    OAuthForm(request): OAuthForm<DeviceAuthorizationRequest>,
) -> Response {
    let authorization = authorization.as_ref().map(Option::as_deref).map_err(|e| *e);
    let origin = origin.as_deref();
    match device_authorization(&state, &request_id, ip, authorization, origin, request).await {
        Ok(response) => no_store_json(response),
        Err(failure) => OAuthError::from(&failure).into_response(),
    }
}

/// Any method but POST: 405 with `Allow: POST` (RFC 8628 §3.1: the client makes a POST).
pub async fn device_authorization_method_not_allowed() -> Response {
    OAuthError::method_not_allowed(PostEndpoint::DeviceAuthorization).into_response()
}
