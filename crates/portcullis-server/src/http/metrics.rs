//! `GET /metrics`: counters and gauges in the Prometheus text exposition format
//! (version 0.0.4), for scraping by Prometheus or a compatible agent.
//!
//! Counters and the request histogram go through the `metrics` facade into one
//! process-wide Prometheus recorder, installed once ([`install`]). The database pool
//! gauges and `portcullis_build_info` are written by the handler itself at scrape time,
//! from this server's own store, so they never mix two servers of one process.
//!
//! Exposure: served on the main listener, but only to peers inside `[metrics] allow`
//! (default loopback) and never to a request that came through a proxy (one carrying
//! `Forwarded`, `X-Forwarded-For` or `X-Real-IP`); everyone else gets the ordinary 404.
//! Why: request and login-failure counts tell an attacker how a deployment is used and
//! whether a password-guessing run is being noticed.
//!
//! Labels are bounded (why: an unbounded label lets any client grow the server's memory
//! and the monitoring system's series without limit): `endpoint` is the route template
//! that matched (`unmatched` for none), never the requested path or query; `method` is
//! one of the standard methods or `other`; reasons and grant types come from fixed lists.

use crate::app::config::MetricsConfig;
use crate::app::metrics::{HTTP_REQUEST_DURATION, HTTP_REQUESTS};
use crate::app::state::AppState;
use crate::http::extract::PeerIp;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::time::Instant;

/// `GET /metrics`: the exposition text, or the ordinary 404 for a peer that may not
/// scrape (so that the endpoint's existence is not disclosed).
pub async fn metrics_get(
    State(state): State<AppState>,
    PeerIp(peer): PeerIp,
    headers: HeaderMap,
) -> Response {
    if !may_scrape(&state.config().metrics, peer, &headers) {
        return crate::http::router::not_found().await;
    }
    let body = crate::app::metrics::render(state.store().pool_status());
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

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

/// Whether a request from `peer` with `headers` may read `/metrics`: never one that
/// came through a proxy (it carries `Forwarded`, `X-Forwarded-For` or `X-Real-IP`).
pub fn may_scrape(config: &MetricsConfig, peer: IpAddr, headers: &HeaderMap) -> bool {
    let forwarded = FORWARDING_HEADERS.iter().any(|h| headers.contains_key(*h));
    config.permits(peer, forwarded)
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

/// `Content-Type` of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Headers a proxy adds; a request carrying one is not a direct scrape.
const FORWARDING_HEADERS: &[&str] = &["forwarded", "x-forwarded-for", "x-real-ip"];
/// `endpoint` label of a request that matched no route.
const UNMATCHED: &str = "unmatched";
#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::metrics::{LOGIN_FAILURE_REASONS, bounded};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn defaults_allow_loopback_only() {
        let config = MetricsConfig::default();
        let none = HeaderMap::new();
        assert!(may_scrape(&config, ip("127.0.0.1"), &none));
        assert!(may_scrape(&config, ip("::1"), &none));
        assert!(!may_scrape(&config, ip("192.0.2.1"), &none));
        assert!(!may_scrape(&config, ip("0.0.0.0"), &none));
    }

    #[test]
    fn refuses_requests_through_a_proxy_and_when_disabled() {
        let config = MetricsConfig::default();
        for name in FORWARDING_HEADERS {
            let mut headers = HeaderMap::new();
            headers.insert(*name, HeaderValue::from_static("203.0.113.9"));
            assert!(!may_scrape(&config, ip("127.0.0.1"), &headers), "{name}");
        }
        let disabled = MetricsConfig {
            enabled: false,
            ..MetricsConfig::default()
        };
        assert!(!may_scrape(&disabled, ip("127.0.0.1"), &HeaderMap::new()));
    }

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
