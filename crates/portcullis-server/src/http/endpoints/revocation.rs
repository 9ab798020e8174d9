//! RFC 7009 §2 token revocation: POST, form-encoded, client authentication (public
//! clients authenticate with `client_id` alone, §2.1). Revoking a refresh token
//! revokes its whole family; revoking an access token puts its `jti` on the
//! revocation list until `exp`. `token_type_hint` is only a hint. An unknown token, or
//! another client's, gets 200 and changes nothing (§2.2: the answer must not tell).
//! The application step is [`crate::app::token_inquiry::revocation`].

use crate::app::state::AppState;
use crate::app::token_inquiry::revocation;
use crate::http::error::{OAuthError, PostEndpoint};
use crate::http::extract::{ClientAuthorization, OAuthForm, RequestId, RequestOrigin};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use portcullis_proto::introspection::TokenInquiry;

/// `POST /revoke`.
pub async fn revocation_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    authorization: ClientAuthorization,
    origin: RequestOrigin,
    OAuthForm(inquiry): OAuthForm<TokenInquiry>,
) -> Response {
    // After the form: its errors answer first, as they always have.
    let authorization = match authorization.checked() {
        Ok(authorization) => authorization,
        Err(error) => return error.into_response(),
    };
    let (authorization, origin) = (authorization.as_deref(), origin.as_deref());
    match revocation(&state, &request_id, authorization, origin, &inquiry).await {
        Ok(()) => super::no_store(StatusCode::OK),
        Err(failure) => OAuthError::from(&failure).into_response(),
    }
}

/// Any method but POST: 405 with `Allow: POST` (RFC 7009 §2.1).
pub async fn revocation_method_not_allowed() -> Response {
    OAuthError::method_not_allowed(PostEndpoint::Revocation).into_response()
}
