//! `GET /`: the landing page for a browser (`Accept` naming `text/html`); any other
//! client keeps the JSON 404 that points at the metadata document (RFC 8414 §3).

use crate::app::state::AppState;
use crate::http::pages::home::home_page;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;

/// `GET /`.
pub async fn home_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if wants_html(&headers) {
        home_page(&state)
    } else {
        crate::http::error::not_found()
    }
}

/// Whether any `Accept` header names `text/html` (what browsers send for a page).
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"))
}
