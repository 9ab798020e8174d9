//! OIDC RP-Initiated Logout 1.0 §2–§3 `end_session_endpoint`, GET (query) and POST
//! (form body); what it does is [`crate::app::end_session`]'s.

use crate::app::browser::Browser;
use crate::app::end_session::{EndSession, EndSessionRequest, end_session};
use crate::app::interaction::PageError;
use crate::app::state::AppState;
use crate::http::error::page::error_page;
use crate::http::extract::{RequestId, is_form_urlencoded, parse};
use crate::http::interaction::see_other_setting;
use crate::http::pages::end_session::{confirm_page, signed_out_page};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

impl crate::http::extract::OAuthParams for EndSessionRequest {
    const PARAMETERS: &'static [&'static str] = &[
        "id_token_hint",
        "client_id",
        "post_logout_redirect_uri",
        "state",
        "csrf_token",
    ];
    const MULTI_VALUED: &'static [&'static str] = &[];
}

/// `GET /logout`.
pub async fn end_session_get(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    browser: Browser,
    RawQuery(query): RawQuery,
) -> Response {
    let raw = query.unwrap_or_default();
    logout(&state, &request_id, &browser, raw.as_bytes()).await
}

/// `POST /logout`.
pub async fn end_session_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    browser: Browser,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_form_urlencoded(&headers) {
        let detail = "the request must be a form".to_owned();
        return error_page(&state, PageError::InvalidLogout(detail), &request_id);
    }
    logout(&state, &request_id, &browser, &body).await
}

/// Parses the parameters (query or form), signs out, and answers.
async fn logout(state: &AppState, request_id: &str, browser: &Browser, raw: &[u8]) -> Response {
    let params = match parse::<EndSessionRequest>(raw) {
        Ok(p) => p,
        Err(e) => return error_page(state, PageError::InvalidLogout(e.description), request_id),
    };
    match end_session(state, request_id, browser, params).await {
        EndSession::Confirm(confirmation) => confirm_page(state, confirmation),
        EndSession::SignedOut {
            redirect: Some(uri),
            clear,
        } => see_other_setting(state, &uri, [clear]),
        EndSession::SignedOut {
            redirect: None,
            clear,
        } => signed_out_page(state, clear),
        EndSession::Refused(e) => error_page(state, e, request_id),
    }
}
