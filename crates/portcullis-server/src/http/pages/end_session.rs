//! The sign-out pages (OIDC RP-Initiated Logout 1.0): the confirmation form, and the
//! page shown after signing out when there is nowhere to redirect.

use crate::app::browser::SetCookie;
use crate::app::end_session::LogoutConfirmation;
use crate::app::state::AppState;
use crate::http::browser::append_cookies;
use crate::http::pages::{Chrome, render_page};
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_proto::routes;

/// Shown after logout when there is nowhere to redirect.
#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOutView {
    /// Layout.
    pub chrome: Chrome,
}

/// Asks before logging out when the request did not prove who sent it.
#[derive(Template)]
#[template(path = "logout_confirm.html")]
pub struct LogoutConfirmView {
    /// Layout.
    pub chrome: Chrome,
    /// Where the form posts.
    pub action: &'static str,
    /// CSRF token.
    pub csrf_token: String,
    /// The client's display name, if known.
    pub client_name: Option<String>,
    /// Carried through.
    pub client_id: Option<String>,
    /// Carried through (already checked against the client's list).
    pub post_logout_redirect_uri: Option<String>,
    /// Carried through.
    pub state: Option<String>,
    /// Where Cancel goes: the landing page, signed in still. Not the client's
    /// `post_logout_redirect_uri`: the client asked to end the session and has ended its
    /// own, so returning there would tell it a logout happened that did not.
    pub cancel: &'static str,
}

/// Asks before signing out; the form may end at the carried redirect URI.
pub fn confirm_page(state: &AppState, confirmation: LogoutConfirmation) -> Response {
    let view = LogoutConfirmView {
        chrome: Chrome::new(&state.config().branding),
        action: routes::END_SESSION,
        csrf_token: confirmation.csrf_token,
        client_name: confirmation.client_name,
        client_id: confirmation.client_id,
        post_logout_redirect_uri: confirmation.post_logout_redirect_uri.clone(),
        state: confirmation.state,
        cancel: routes::HOME,
    };
    let target = confirmation.post_logout_redirect_uri.as_deref();
    render_page(state, StatusCode::OK, &view, target)
}

/// The signed-out page, clearing the session cookie.
pub fn signed_out_page(state: &AppState, clear: SetCookie) -> Response {
    let view = SignedOutView {
        chrome: Chrome::new(&state.config().branding),
    };
    let mut response = render_page(state, StatusCode::OK, &view, None);
    append_cookies(response.headers_mut(), state.cookie_names(), [clear]);
    response
}
