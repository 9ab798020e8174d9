//! RFC 8628 §3.3 user interaction: the verification page (`verification_uri`) where
//! the user types the code shown on the device ([`crate::app::device_verification`]),
//! then the login and consent pages (shared with the authorization code flow).
//!
//! - `GET /device[?user_code=…]`: the form; `verification_uri_complete` (§3.3.1)
//!   pre-fills the code.
//! - `POST /device`: the entry, checked and rate-limited, then a pending request bound
//!   to this browser.

use crate::app::browser::Browser;
use crate::app::device_verification::{CodeEntry, Verification, entry_form, verify};
use crate::app::state::AppState;
use crate::http::error::page::error_page;
use crate::http::extract::{ClientIp, PageForm, RequestId};
use crate::http::interaction::{interaction_response, with_incidents};
use crate::http::pages::device::entry_page;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

/// The query of `GET /device` (RFC 8628 §3.3.1 `verification_uri_complete`).
#[derive(Debug, Deserialize)]
pub struct DeviceQuery {
    /// A user code to pre-fill.
    pub user_code: Option<String>,
}

/// The verification form (the field name `user_code` is a contract).
#[derive(Deserialize)]
pub struct DeviceForm {
    /// CSRF token.
    pub csrf_token: Option<String>,
    /// As typed: any case, with or without the dash or spaces.
    pub user_code: Option<String>,
}

impl crate::http::extract::OAuthParams for DeviceForm {
    const PARAMETERS: &'static [&'static str] = &["csrf_token", "user_code"];
    const MULTI_VALUED: &'static [&'static str] = &[];
}

/// `GET /device`.
pub async fn device_get(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    browser: Browser,
    query: Result<Query<DeviceQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let user_code = query.ok().and_then(|Query(q)| q.user_code);
    match entry_form(&browser, user_code.as_deref()) {
        Ok(form) => entry_page(&state, form, None),
        Err(e) => error_page(&state, e, &request_id),
    }
}

/// `POST /device`.
pub async fn device_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    ClientIp(ip): ClientIp,
    browser: Browser,
    PageForm(form): PageForm<DeviceForm>,
) -> Response {
    let entry = CodeEntry {
        csrf_token: form.csrf_token,
        user_code: form.user_code,
        ip,
    };
    let reported = verify(&state, &request_id, &browser, entry).await;
    let response = match reported.outcome {
        Verification::Again(form, problem) => entry_page(&state, form, Some(problem)),
        Verification::Found(next) => interaction_response(&state, &request_id, next),
        Verification::Refused(e) => error_page(&state, e, &request_id),
    };
    with_incidents(response, reported.incidents)
}
