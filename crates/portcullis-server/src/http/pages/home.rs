//! The landing page at `/` for a person who opens the issuer in a browser: what this
//! server is, and links to its metadata (OIDC Discovery 1.0 §4, RFC 8414 §3) and JWK
//! Set (RFC 7517).

use crate::app::state::AppState;
use crate::http::pages::{Chrome, render_page};
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_proto::routes;

/// The landing page.
#[derive(Template)]
#[template(path = "home.html")]
pub struct HomeView {
    /// Layout.
    pub chrome: Chrome,
    /// This server's issuer identifier.
    pub issuer: String,
    /// Path of the OpenID Connect discovery document.
    pub discovery: &'static str,
    /// Path of the RFC 8414 metadata document.
    pub metadata: &'static str,
    /// Path of the JWK Set.
    pub jwks: &'static str,
}

/// 200 with the landing page.
pub fn home_page(state: &AppState) -> Response {
    let view = HomeView {
        chrome: Chrome::new(&state.config().branding),
        issuer: state.config().issuer.clone(),
        discovery: routes::OPENID_CONFIGURATION,
        metadata: routes::OAUTH_AUTHORIZATION_SERVER,
        jwks: routes::JWKS,
    };
    render_page(state, StatusCode::OK, &view, None)
}
