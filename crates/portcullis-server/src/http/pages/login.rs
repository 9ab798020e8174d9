//! The login page (OIDC Core §3.1.2.3): the form, and the messages it shows when an
//! attempt failed.

use crate::app::sign_in::LoginPrompt;
use crate::app::state::AppState;
use crate::http::pages::{Chrome, render_page};
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use portcullis_proto::routes;
use std::time::Duration;

/// The login form. Field names `username` and `password` are a contract.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginView {
    /// Layout.
    pub chrome: Chrome,
    /// Where the form posts.
    pub action: &'static str,
    /// The client's display name.
    pub client_name: String,
    /// Pending request id.
    pub request: String,
    /// CSRF token.
    pub csrf_token: String,
    /// Pre-filled username (`login_hint`, or what was typed).
    pub username: String,
    /// Why the last attempt failed.
    pub error: Option<String>,
}

/// The login form for `prompt` (200), with `error` shown above it.
pub fn login_page(state: &AppState, prompt: LoginPrompt, error: Option<String>) -> Response {
    login_page_with(state, prompt, error, StatusCode::OK)
}

/// 429 with `Retry-After`: too many failed attempts for the account or from the
/// network; the form says how long to wait.
pub fn throttled_login_page(state: &AppState, prompt: LoginPrompt, wait: Duration) -> Response {
    let seconds = wait.as_secs().max(1);
    let message = format!(
        "Too many failed sign-in attempts for this account or from your network. Wait {seconds} seconds, then try again."
    );
    let status = StatusCode::TOO_MANY_REQUESTS;
    let mut response = login_page_with(state, prompt, Some(message), status);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

fn login_page_with(
    state: &AppState,
    prompt: LoginPrompt,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let view = LoginView {
        chrome: Chrome::new(&state.config().branding),
        action: routes::LOGIN,
        client_name: prompt.client_name,
        request: prompt.request,
        csrf_token: prompt.csrf_token,
        username: prompt.username,
        error,
    };
    render_page(state, status, &view, prompt.form_target.as_deref())
}

/// Shown when the username or the password was left empty.
pub const ENTER_BOTH: &str = "Enter your username and password.";
/// Shown for a wrong username or password (the same words for both: no oracle).
pub const WRONG_CREDENTIALS: &str = "The username or password is incorrect.";
