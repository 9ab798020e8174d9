//! The consent page (OIDC Core §3.1.2.4 "Authorization Server Obtains End-User
//! Consent"; for a device authorization, RFC 8628 §3.3): `GET` shows what the client
//! asks for, `POST` records the answer ([`crate::app::consent`]).

use crate::app::browser::Browser;
use crate::app::consent::{ConsentAnswer, decide, prompt};
use crate::app::state::AppState;
use crate::http::extract::{PageForm, PendingRequest, RequestId};
use crate::http::interaction::{interaction_response, respond};
use crate::http::pages::consent::consent_page;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

/// The consent form (`decision` = `approve` | `deny` | `switch_account` is a contract).
#[derive(Deserialize)]
pub struct ConsentForm {
    /// Pending request id.
    pub request: Option<String>,
    /// CSRF token.
    pub csrf_token: Option<String>,
    /// `approve`, `deny` or `switch_account`.
    pub decision: Option<String>,
}

impl crate::http::extract::OAuthParams for ConsentForm {
    const PARAMETERS: &'static [&'static str] = &["request", "csrf_token", "decision"];
    const MULTI_VALUED: &'static [&'static str] = &[];
}

/// `GET /consent?request=…`.
pub async fn consent_get(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    browser: Browser,
    PendingRequest(pending): PendingRequest,
) -> Response {
    match prompt(&state, &browser, pending).await {
        Ok(prompt) => consent_page(&state, prompt),
        Err(instead) => interaction_response(&state, &request_id, instead),
    }
}

/// `POST /consent`.
pub async fn consent_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    browser: Browser,
    PageForm(form): PageForm<ConsentForm>,
) -> Response {
    let answer = ConsentAnswer {
        pending_id: form.request,
        csrf_token: form.csrf_token,
        decision: form.decision,
    };
    let reported = decide(&state, &request_id, &browser, answer).await;
    respond(&state, &request_id, reported)
}
