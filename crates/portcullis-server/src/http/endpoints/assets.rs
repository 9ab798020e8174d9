//! The pages' stylesheet, built once at start-up with the configured accent colour.

use crate::app::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};

/// `GET /assets/portcullis.css`.
pub async fn stylesheet_get(State(state): State<AppState>) -> Response {
    super::public_json(
        state.stylesheet().clone(),
        "text/css; charset=utf-8",
        "public, max-age=3600",
    )
}

/// `GET /favicon.ico`: 204 No Content, cacheable for a day (no icon, no console error).
pub async fn favicon_get() -> Response {
    (
        axum::http::StatusCode::NO_CONTENT,
        [(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("public, max-age=86400"),
        )],
    )
        .into_response()
}
