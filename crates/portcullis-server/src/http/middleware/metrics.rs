//! Request metrics: every request counted by matched route, method and status, and
//! timed (`portcullis_http_requests_total`, `portcullis_http_request_duration_seconds`;
//! served by [`crate::http::endpoints::metrics`]).
//!
//! Labels are bounded (why: an unbounded label lets any client grow the server's memory
//! and the monitoring system's series without limit): `endpoint` is the route template
//! that matched (`unmatched` for none), never the requested path or query; `method` is
//! one of the standard methods or `other`; reasons and grant types come from fixed lists.

use crate::app::metrics::{HTTP_REQUEST_DURATION, HTTP_REQUESTS};
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

/// Middleware: counts every request by matched route, method and status, and times it.
/// Mounted with `Router::layer`, inside routing, so the matched route is known.
pub async fn track(request: Request, next: Next) -> Response {
    let endpoint = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |m| m.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(HTTP_REQUEST_DURATION, "endpoint" => endpoint.clone())
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(HTTP_REQUESTS, "endpoint" => endpoint, "method" => method, "status" => status)
        .increment(1);
    response
}

/// A standard method's name, else `other` (why: extension methods are client-chosen).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// `endpoint` label of a request that matched no route.
const UNMATCHED: &str = "unmatched";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::metrics::{LOGIN_FAILURE_REASONS, bounded};

    #[test]
    fn labels_are_bounded() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
        assert_eq!(
            bounded("wrong_password", LOGIN_FAILURE_REASONS),
            "wrong_password"
        );
        assert_eq!(
            bounded("x".repeat(99).as_str(), LOGIN_FAILURE_REASONS),
            "other"
        );
    }
}
