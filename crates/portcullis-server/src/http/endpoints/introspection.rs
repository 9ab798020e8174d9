//! RFC 7662 §2 token introspection: POST, form-encoded, client authentication
//! required (`client_secret_basic` or `client_secret_post`; 401 `invalid_client`
//! otherwise). The answer is JSON with `Cache-Control: no-store`; a token the caller
//! may not see, or that is not live, is exactly `{"active": false}`. Which client may
//! see which token is core's policy (`portcullis_core::introspection`).

use super::revocation::Inquiry;
use crate::app::state::AppState;
use crate::http::error::OAuthError;
use crate::http::extract::{OAuthForm, RequestId};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::introspection::introspect;
use portcullis_proto::introspection::TokenInquiry;

/// `POST /introspect`.
pub async fn introspection_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    OAuthForm(inquiry): OAuthForm<TokenInquiry>,
) -> Response {
    let now = state.clock().now();
    let (client, token) = match super::revocation::caller_and_token(
        &state,
        &request_id,
        &headers,
        &inquiry,
        Inquiry::Introspection,
    )
    .await
    {
        Ok(found) => found,
        Err(response) => return response,
    };
    let keys = state.keys();
    match introspect(
        &keys.ring,
        state.store().as_ref(),
        &state.config().issuer,
        &client,
        token,
        inquiry.token_type_hint.as_deref(),
        now,
    )
    .await
    {
        Ok(answer) => {
            let mut response = Json(answer).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => super::revocation::store_failure(&request_id, &error),
    }
}

/// Any method but POST: 405 with `Allow: POST` (RFC 7662 §2.1).
pub async fn introspection_method_not_allowed() -> Response {
    let mut error = OAuthError::invalid_request(
        "the introspection endpoint accepts only POST (RFC 7662 section 2.1)",
    )
    .with_status(StatusCode::METHOD_NOT_ALLOWED);
    error.allow = Some("POST");
    error.into_response()
}
