//! The `serve --dev` callback page: the demo web app's redirect URI on the issuer,
//! showing the authorization response (RFC 6749 §4.1.2 and §4.1.2.1, RFC 9207 `iss`)
//! and the curl that redeems the code. Views only: [`crate::app::admin::dev::callback`]
//! reads the response.

use crate::app::admin::dev::callback::DevCallback;
use crate::app::state::AppState;
use crate::http::pages::{Chrome, render_page};
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

/// The dev callback page (every value escaped by askama).
#[derive(Template)]
#[template(path = "dev_callback.html")]
pub struct DevCallbackView {
    /// Layout.
    pub chrome: Chrome,
    /// What the browser brought back.
    pub callback: DevCallback,
}

/// 200 with the page for `callback`, and the page security headers.
pub fn dev_callback_page(state: &AppState, callback: DevCallback) -> Response {
    let view = DevCallbackView {
        chrome: Chrome::new(&state.config().branding),
        callback,
    };
    render_page(state, StatusCode::OK, &view, None)
}
