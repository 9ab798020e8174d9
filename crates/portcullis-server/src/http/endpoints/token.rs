//! RFC 6749 §3.2 token endpoint: POST only, form-encoded, JSON answers with
//! `Cache-Control: no-store` (§5.1), and a `DPoP` proof header when the client binds
//! its tokens (RFC 9449 §5; a `DPoP-Nonce` header when nonces are required, §8). The
//! application step is [`crate::app::token::token_request`]; errors go through
//! [`OAuthError`].

use crate::app::state::AppState;
use crate::app::token::token_request;
use crate::http::error::{OAuthError, PostEndpoint, no_store_json, with_dpop_nonce};
use crate::http::extract::{ClientAuthorization, DpopHeader, OAuthForm, RequestId};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use portcullis_proto::token::TokenRequest;

/// `POST /token`.
pub async fn token_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    authorization: ClientAuthorization,
    proof: DpopHeader,
    OAuthForm(request): OAuthForm<TokenRequest>,
) -> Response {
    // After the form: its errors answer first, as they always have.
    let authorization = match authorization.checked() {
        Ok(authorization) => authorization,
        Err(error) => return error.into_response(),
    };
    let proof = proof.as_proof();
    match token_request(
        &state,
        &request_id,
        authorization.as_deref(),
        proof,
        request,
    )
    .await
    {
        Ok(issued) => with_dpop_nonce(no_store_json(issued.success.response), issued.dpop_nonce),
        Err(refusal) => OAuthError::from(&refusal).into_response(),
    }
}

/// Any method but POST on the token endpoint: 405 with `Allow: POST` (RFC 6749 §3.2).
pub async fn token_method_not_allowed() -> Response {
    OAuthError::method_not_allowed(PostEndpoint::Token).into_response()
}
