//! OIDC Core §5.3 UserInfo endpoint, GET and POST, with the access token in the
//! `Authorization` header as `Bearer` (RFC 6750 §2.1) or `DPoP` with a proof (RFC 9449
//! §7.1), or, on a POST, as a bearer token in the `access_token` parameter of a form
//! body (RFC 6750 §2.2), never both and never in the query string (read by
//! [`AccessToken`] and [`DpopHeader`]). Errors per RFC 6750 §3: no token → 401 with a
//! bare `WWW-Authenticate: Bearer` (and a `DPoP` challenge); a bad, expired or revoked
//! token → 401 `invalid_token`; a token without `openid` → 403 `insufficient_scope`;
//! RFC 9449 §7.1: a refused proof, a bound token presented as Bearer → 401 with a
//! `DPoP` challenge (`invalid_dpop_proof` / `invalid_token`); a browser page at an
//! origin the token's client does not allow → 400 `invalid_request` (and no CORS
//! headers).

use crate::app::state::AppState;
use crate::app::userinfo::userinfo;
use crate::http::error::OAuthError;
use crate::http::extract::{AccessToken, DpopHeader, RequestId, RequestOrigin};
use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};

/// `GET /userinfo` and `POST /userinfo`.
pub async fn userinfo_handler(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    method: Method,
    origin: RequestOrigin,
    proof: DpopHeader,
    // Last: it may read the form body (RFC 6750 §2.2).
    AccessToken(presented): AccessToken,
) -> Response {
    let (proof, origin) = (proof.as_proof(), origin.as_deref());
    match userinfo(
        &state,
        &request_id,
        &presented,
        method.as_str(),
        proof,
        origin,
    )
    .await
    {
        Ok(claims) => super::no_store(Json(claims)),
        Err(refusal) => OAuthError::from(&refusal).into_response(),
    }
}
