//! Server faults to the log: once each, with the request id.

use crate::http::error::Faults;
use crate::http::extract::REQUEST_ID_HEADER;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// Logs the server faults a handler attached to its response ([`crate::http::error::Fault`])
/// once each, with the request id: the one place handlers' faults reach the log
/// (CONVENTIONS §8). The client's answer is not changed (5xx bodies stay generic).
pub async fn log_faults(request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let response = next.run(request).await;
    if let Some(Faults(faults)) = response.extensions().get::<Faults>() {
        for fault in faults {
            if fault.warn {
                tracing::warn!(request_id, error = %fault.error, "{}", fault.context);
            } else {
                tracing::error!(request_id, error = %fault.error, "{}", fault.context);
            }
        }
    }
    response
}
