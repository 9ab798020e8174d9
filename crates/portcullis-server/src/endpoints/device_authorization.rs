//! RFC 8628 §3.1–3.2 device authorization endpoint: POST only, form-encoded, client
//! authentication as at the token endpoint; JSON answers with `Cache-Control: no-store`
//! (the body carries the device code), errors through the token endpoint's mapping
//! ([`OAuthError`], RFC 8628 §3.2 → RFC 6749 §5.2).
//!
//! Rate-limited per client address, in a database bucket every node shares
//! ([`crate::throttle::DeviceAuthorizationThrottle`]):
//! each request stores a row and a live user code, and anyone holding a public device
//! client's id can make them. Over the limit: 429 with `Retry-After` and
//! `invalid_request` (RFC 6749 §5.2 has no code for "too many requests"; the status and
//! the header say it), before the client is even looked up.

use crate::audit;
use crate::error::{OAuthError, no_store_json};
use crate::extract::{ClientIp, OAuthForm, RequestId, single_authorization};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::device::authorization::{
    DeviceAuthorizationEndpoint, DeviceAuthorizationReason, device_authorization_request,
};
use portcullis_proto::device::DeviceAuthorizationRequest;

/// `POST /device_authorization`.
pub async fn device_authorization_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OAuthForm(request): OAuthForm<DeviceAuthorizationRequest>,
) -> Response {
    let store = state.store().as_ref();
    let now = state.clock().now();
    match state
        .device_authorization_throttle()
        .check(store, ip, now)
        .await
    {
        Ok(Ok(())) => {}
        Ok(Err(wait)) => {
            audit::device_authorization_refused(
                &request_id,
                request.client_id.as_deref(),
                "invalid_request",
                "throttled",
            );
            return too_many_requests(wait);
        }
        // Not counted: refused like any request the database could not serve.
        Err(e) => return crate::endpoints::revocation::store_failure(&request_id, &e),
    }
    let endpoint = DeviceAuthorizationEndpoint {
        device_code_ttl: state.config().tokens.device_code_ttl,
        interval: state.config().tokens.device_poll_interval,
        clients: state.clients(),
        store: state.store().as_ref(),
    };
    let authorization = match single_authorization(&headers) {
        Ok(authorization) => authorization,
        Err(error) => return error.into_response(),
    };
    match device_authorization_request(&endpoint, authorization, request, now).await {
        Ok(issued) => {
            let scope = issued.scopes.iter().cloned().collect::<Vec<_>>().join(" ");
            audit::device_authorization_issued(&request_id, &issued.client_id, &scope);
            no_store_json(issued.response(&state.config().issuer))
        }
        Err(error) => {
            let wire = OAuthError::from(&error);
            match &error.reason {
                DeviceAuthorizationReason::ClientAuth(reason) => {
                    audit::client_authentication_failed(
                        &request_id,
                        error.unverified_client_id.as_deref(),
                        reason.audit_code(),
                    );
                }
                reason if reason.is_server_side() => {
                    tracing::error!(request_id, error = %reason, "device authorization failed on the server side");
                }
                reason => audit::device_authorization_refused(
                    &request_id,
                    error.unverified_client_id.as_deref(),
                    wire.code.as_str(),
                    &reason.to_string(),
                ),
            }
            wire.into_response()
        }
    }
}

/// 429 `invalid_request` with `Retry-After`: too many device authorization requests
/// from this address.
fn too_many_requests(wait: std::time::Duration) -> Response {
    let mut response =
        OAuthError::invalid_request("too many device authorization requests; retry later")
            .with_status(StatusCode::TOO_MANY_REQUESTS)
            .into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(wait.as_secs().max(1)),
    );
    response
}

/// Any method but POST: 405 with `Allow: POST` (RFC 8628 §3.1: the client makes a POST).
pub async fn device_authorization_method_not_allowed() -> Response {
    let mut error = OAuthError::invalid_request(
        "the device authorization endpoint accepts only POST (RFC 8628 section 3.1)",
    )
    .with_status(StatusCode::METHOD_NOT_ALLOWED);
    error.allow = Some("POST");
    error.into_response()
}
