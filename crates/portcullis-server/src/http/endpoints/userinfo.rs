//! OIDC Core §5.3 UserInfo endpoint, GET and POST, with the access token in the
//! `Authorization` header as `Bearer` (RFC 6750 §2.1) or `DPoP` with a proof (RFC 9449
//! §7.1), read by [`AccessToken`] and [`DpopHeader`]. Errors per RFC 6750 §3: no token
//! → 401 with a bare `WWW-Authenticate: Bearer` (and a `DPoP` challenge); a bad,
//! expired or revoked token → 401 `invalid_token`; a token without `openid` → 403
//! `insufficient_scope`; RFC 9449 §7.1: a refused proof, a bound token presented as
//! Bearer → 401 with a `DPoP` challenge (`invalid_dpop_proof` / `invalid_token`).
//! (RFC 6750 §2.2 form-body tokens are not accepted: the header is the one method
//! resource servers must support, and a body token is easier to leak into logs.)

use crate::app::state::AppState;
use crate::app::userinfo::userinfo;
use crate::http::error::OAuthError;
use crate::http::extract::{AccessToken, DpopHeader, RequestId};
use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};

/// `GET /userinfo` and `POST /userinfo`.
pub async fn userinfo_handler(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    method: Method,
    AccessToken(presented): AccessToken,
    proof: DpopHeader,
) -> Response {
    let proof = proof.as_proof();
    match userinfo(&state, &request_id, &presented, method.as_str(), proof).await {
        Ok(claims) => super::no_store(Json(claims)),
        Err(refusal) => OAuthError::from(&refusal).into_response(),
    }
}
