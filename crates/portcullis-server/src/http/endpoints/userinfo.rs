//! OIDC Core §5.3 UserInfo endpoint, GET and POST, with the access token in the
//! `Authorization: Bearer` header (RFC 6750 §2.1, read by [`BearerToken`]). Errors per
//! RFC 6750 §3: no token → 401 with a bare `WWW-Authenticate: Bearer`; a bad, expired
//! or revoked token → 401 `invalid_token`; a token without `openid` → 403
//! `insufficient_scope`.
//! (RFC 6750 §2.2 form-body tokens are not accepted: the header is the one method
//! resource servers must support, and a body token is easier to leak into logs.)

use crate::app::state::AppState;
use crate::app::userinfo::userinfo;
use crate::http::error::OAuthError;
use crate::http::extract::{BearerToken, RequestId};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

/// `GET /userinfo` and `POST /userinfo`.
pub async fn userinfo_handler(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    BearerToken(token): BearerToken,
) -> Response {
    match userinfo(&state, &request_id, &token).await {
        Ok(claims) => super::no_store(Json(claims)),
        Err(reason) => OAuthError::from(&reason).into_response(),
    }
}
