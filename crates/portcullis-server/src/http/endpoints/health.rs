//! Health endpoints for load balancers and orchestrators; readiness is
//! [`crate::app::health::readiness`].

use crate::app::health::readiness;
use crate::app::state::AppState;
use crate::http::error::not_ready;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// `GET /health/live`: 200 while the process serves requests.
pub async fn live_get() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /health/ready`: 200 when the database answers within
/// [`crate::app::health::READY_TIMEOUT`], else 503 with `Retry-After`.
pub async fn ready_get(State(state): State<AppState>) -> Response {
    match readiness(&state).await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(unready) => not_ready(&unready),
    }
}
