//! RFC 7662 §2 token introspection: POST, form-encoded, client authentication
//! required (`client_secret_basic` or `client_secret_post`; 401 `invalid_client`
//! otherwise). The answer is JSON with `Cache-Control: no-store`; a token the caller
//! may not see, or that is not live, is exactly `{"active": false}`. Which client may
//! see which token is core's policy (`portcullis_core::introspection`); the application
//! step is [`crate::app::token_inquiry::introspection`].

use crate::app::state::AppState;
use crate::app::token_inquiry::introspection;
use crate::http::error::{OAuthError, PostEndpoint};
use crate::http::extract::{ClientAuthorization, OAuthForm, RequestId};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use portcullis_proto::introspection::TokenInquiry;

/// `POST /introspect`.
pub async fn introspection_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    authorization: ClientAuthorization,
    OAuthForm(inquiry): OAuthForm<TokenInquiry>,
) -> Response {
    // After the form: its errors answer first, as they always have.
    let authorization = match authorization.checked() {
        Ok(authorization) => authorization,
        Err(error) => return error.into_response(),
    };
    match introspection(&state, &request_id, authorization.as_deref(), &inquiry).await {
        Ok(answer) => super::no_store(Json(answer)),
        Err(failure) => OAuthError::from(&failure).into_response(),
    }
}

/// Any method but POST: 405 with `Allow: POST` (RFC 7662 §2.1).
pub async fn introspection_method_not_allowed() -> Response {
    OAuthError::method_not_allowed(PostEndpoint::Introspection).into_response()
}
