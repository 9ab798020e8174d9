//! RFC 6749 §3.1 / OIDC Core §3.1.2.1 authorization endpoint, GET (query) and POST
//! (form body). Validation is core's; the flow is
//! [`crate::app::authorization_request`] and [`crate::app::interaction`].

use crate::app::authorization_request::{authorize, malformed};
use crate::app::browser::Browser;
use crate::app::state::AppState;
use crate::http::error::page::{PageRejection, error_page};
use crate::http::extract::{RequestId, is_form_urlencoded, parse};
use crate::http::interaction::{respond, see_other};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use portcullis_proto::authorize::AuthorizationRequest;
use portcullis_proto::routes;

impl crate::http::extract::OAuthParams for AuthorizationRequest {
    const PARAMETERS: &'static [&'static str] = AuthorizationRequest::PARAMETERS;
    const MULTI_VALUED: &'static [&'static str] = AuthorizationRequest::MULTI_VALUED;
}

/// `GET /authorize`: a request that does not parse (a repeated parameter) is reported
/// at the redirect URI only when the client and redirect URI are unambiguous.
pub async fn authorize_get(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    browser: Browser,
    RawQuery(query): RawQuery,
) -> Response {
    let raw = query.unwrap_or_default();
    let reported = match parse::<AuthorizationRequest>(raw.as_bytes()) {
        Ok(params) => authorize(&state, &request_id, &browser, params).await,
        Err(error) => malformed(&state, raw.as_bytes(), &error.description)
            .await
            .into(),
    };
    respond(&state, &request_id, reported)
}

/// `POST /authorize` (OIDC Core §3.1.2.1: form-encoded body): answered with a 303 to
/// `GET /authorize` with the same parameters. Why: a cross-site POST carries no
/// `SameSite=Lax` cookie, so answering it directly would lose the user's session (no
/// single sign-on, `prompt=none` always `login_required`) and replace the browser
/// binding of sign-ins open in other tabs; the top-level GET that follows carries them.
pub async fn authorize_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_form_urlencoded(&headers) {
        return error_page(&state, PageRejection::AuthorizeNotForm, &request_id);
    }
    // Re-encoded pair by pair from the exact octets, so the Location is always plain
    // ASCII whatever the body, and `state` reaches GET byte for byte (RFC 6749 §4.1.2).
    let query = crate::app::form::reencoded(&body);
    see_other(&format!("{}?{query}", routes::AUTHORIZE))
}
