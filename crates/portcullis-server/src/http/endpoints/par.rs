//! RFC 9126 §2 pushed authorization request endpoint: POST only, form-encoded, client
//! authentication as at the token endpoint; 201 with a JSON `request_uri` and
//! `Cache-Control: no-store` (§2.2), errors as JSON through the token endpoint's
//! mapping ([`OAuthError`], §2.3: never a redirect). Per-client CORS like the token
//! endpoint (browser apps may push too). The application step is
//! [`crate::app::pushed_authorization::pushed_authorization`].

use crate::app::pushed_authorization::pushed_authorization;
use crate::app::state::AppState;
use crate::http::error::{OAuthError, PostEndpoint, no_store_json};
use crate::http::extract::{ClientAuthorization, ClientIp, OAuthForm, RequestId, RequestOrigin};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_proto::par::PushedAuthorizationRequest;

impl crate::http::extract::OAuthParams for PushedAuthorizationRequest {
    const PARAMETERS: &'static [&'static str] = Self::PARAMETERS;
    const MULTI_VALUED: &'static [&'static str] = Self::MULTI_VALUED;
}

/// `POST /par`.
pub async fn par_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    ClientIp(ip): ClientIp,
    authorization: ClientAuthorization,
    origin: RequestOrigin,
    OAuthForm(request): OAuthForm<PushedAuthorizationRequest>,
) -> Response {
    let authorization = match authorization.checked() {
        Ok(authorization) => authorization,
        Err(error) => return error.into_response(),
    };
    let (authorization, origin) = (authorization.as_deref(), origin.as_deref());
    let pushed = pushed_authorization(&state, &request_id, ip, authorization, origin, request);
    match pushed.await {
        Ok(response) => (StatusCode::CREATED, no_store_json(response)).into_response(),
        Err(failure) => OAuthError::from(&failure).into_response(),
    }
}

/// Any method but POST: 405 with `Allow: POST` (RFC 9126 §2: the client makes a POST).
pub async fn par_method_not_allowed() -> Response {
    OAuthError::method_not_allowed(PostEndpoint::PushedAuthorizationRequest).into_response()
}
