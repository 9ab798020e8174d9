//! OIDC Core §5.3 UserInfo endpoint, GET and POST, with the access token in the
//! `Authorization: Bearer` header (RFC 6750 §2.1) or, on a POST, in the `access_token`
//! parameter of a form body (§2.2), never both and never in the query string (read by
//! [`BearerToken`]). Errors per RFC 6750 §3: no token → 401 with a bare
//! `WWW-Authenticate: Bearer`; a bad, expired or revoked token → 401 `invalid_token`; a
//! token without `openid` → 403 `insufficient_scope`; a browser page at an origin the
//! token's client does not allow → 400 `invalid_request` (and no CORS headers).

use crate::app::state::AppState;
use crate::app::userinfo::userinfo;
use crate::http::error::OAuthError;
use crate::http::extract::{BearerToken, RequestId, RequestOrigin};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

/// `GET /userinfo` and `POST /userinfo`.
pub async fn userinfo_handler(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    origin: RequestOrigin,
    BearerToken(token): BearerToken,
) -> Response {
    match userinfo(&state, &request_id, &token, origin.as_deref()).await {
        Ok(claims) => super::no_store(Json(claims)),
        Err(reason) => OAuthError::from(&reason).into_response(),
    }
}
