//! The pages' stylesheet, built once at start-up with the configured accent colour.

use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;

/// `GET /assets/portcullis.css`.
pub async fn stylesheet_get(State(state): State<AppState>) -> Response {
    super::public_json(
        state.stylesheet().clone(),
        "text/css; charset=utf-8",
        "public, max-age=3600",
    )
}
