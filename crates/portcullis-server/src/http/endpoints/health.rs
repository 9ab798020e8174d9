//! Health endpoints for load balancers and orchestrators.

use crate::app::state::AppState;
use crate::http::error::RETRY_AFTER_SECONDS;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::time::Duration;

/// How long readiness waits for the database before answering 503.
pub const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /health/live`: 200 while the process serves requests.
pub async fn live_get() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /health/ready`: 200 when the database answers within [`READY_TIMEOUT`],
/// else 503 with `Retry-After`.
pub async fn ready_get(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(READY_TIMEOUT, state.store().ping()).await {
        Ok(Ok(())) => Json(json!({"status": "ready"})).into_response(),
        outcome => {
            let reason = match outcome {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_owned(),
            };
            tracing::warn!(%reason, "readiness check failed: database unavailable");
            let mut response = (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "reason": "database unavailable"})),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            response
        }
    }
}
