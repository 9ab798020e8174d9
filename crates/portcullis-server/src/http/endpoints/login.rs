//! The login page (OIDC Core §3.1.2.3 "Authorization Server Authenticates End-User"):
//! `GET` shows the form for a pending request, `POST` signs in
//! ([`crate::app::sign_in`]: password check, attempt limits, session).

use crate::app::browser::Browser;
use crate::app::sign_in::{SignIn, SignInAttempt, prompt, sign_in};
use crate::app::state::AppState;
use crate::http::error::page::error_page;
use crate::http::extract::{ClientIp, PageForm, PendingRequest, RequestId};
use crate::http::interaction::{interaction_response, with_incidents};
use crate::http::pages::login::{ENTER_BOTH, WRONG_CREDENTIALS, login_page, throttled_login_page};
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

/// The login form (field names are a contract: `username`, `password`).
#[derive(Deserialize)]
pub struct LoginForm {
    /// Pending request id.
    pub request: Option<String>,
    /// CSRF token.
    pub csrf_token: Option<String>,
    /// As typed; longer than 1024 bytes fails like a wrong password.
    pub username: Option<String>,
    /// Never logged; longer than 1024 bytes fails like a wrong password (argon2's cost
    /// grows with the input).
    pub password: Option<String>,
}

impl crate::http::extract::OAuthParams for LoginForm {
    const PARAMETERS: &'static [&'static str] = &["request", "csrf_token", "username", "password"];
    const MULTI_VALUED: &'static [&'static str] = &[];
}

/// `GET /login?request=…`: the form, pre-filled with the request's `login_hint`.
pub async fn login_get(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    PendingRequest(pending): PendingRequest,
) -> Response {
    let username = pending
        .row
        .request
        .login_hint()
        .unwrap_or_default()
        .to_owned();
    match prompt(&state, &pending, username).await {
        Ok(prompt) => login_page(&state, prompt, None),
        Err(e) => error_page(&state, e, &request_id),
    }
}

/// `POST /login`.
pub async fn login_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    ClientIp(ip): ClientIp,
    browser: Browser,
    PageForm(form): PageForm<LoginForm>,
) -> Response {
    let attempt = SignInAttempt {
        pending_id: form.request,
        csrf_token: form.csrf_token,
        username: form.username.unwrap_or_default(),
        password: form.password.unwrap_or_default(),
        ip,
    };
    let reported = sign_in(&state, &request_id, &browser, attempt).await;
    let response = match reported.outcome {
        SignIn::Signed(next) => interaction_response(&state, &request_id, next),
        SignIn::Incomplete(p) => login_page(&state, p, Some(ENTER_BOTH.to_owned())),
        SignIn::Wrong(p) => login_page(&state, p, Some(WRONG_CREDENTIALS.to_owned())),
        SignIn::Throttled(p, wait) => throttled_login_page(&state, p, wait),
        SignIn::Refused(e) => error_page(&state, e, &request_id),
    };
    with_incidents(response, reported.incidents)
}
