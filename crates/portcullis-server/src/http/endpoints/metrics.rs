//! `GET /metrics`: counters and gauges in the Prometheus text exposition format
//! (version 0.0.4), for scraping by Prometheus or a compatible agent.
//!
//! Counters and the request histogram go through the `metrics` facade into one
//! process-wide Prometheus recorder, installed once ([`crate::app::metrics::install`]);
//! requests are counted by [`crate::http::middleware::metrics::track`]. The database
//! pool gauges and `portcullis_build_info` are written at scrape time
//! ([`crate::app::metrics::render`]), from this server's own store, so they never mix
//! two servers of one process.
//!
//! Exposure: served on the main listener, but only to peers inside `[metrics] allow`
//! (default loopback) and never to a request that came through a proxy (one carrying
//! `Forwarded`, `X-Forwarded-For` or `X-Real-IP`); everyone else gets the ordinary 404.
//! Why: request and login-failure counts tell an attacker how a deployment is used and
//! whether a password-guessing run is being noticed.

use crate::app::config::MetricsConfig;
use crate::app::state::AppState;
use crate::http::error::not_found;
use crate::http::extract::PeerIp;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;

/// `GET /metrics`: the exposition text, or the ordinary 404 for a peer that may not
/// scrape (so that the endpoint's existence is not disclosed).
pub async fn metrics_get(
    State(state): State<AppState>,
    PeerIp(peer): PeerIp,
    headers: HeaderMap,
) -> Response {
    if !may_scrape(&state.config().metrics, peer, &headers) {
        return not_found();
    }
    let body = crate::app::metrics::render(state.store().pool_status());
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Whether a request from `peer` with `headers` may read `/metrics`: never one that
/// came through a proxy (it carries `Forwarded`, `X-Forwarded-For` or `X-Real-IP`).
pub fn may_scrape(config: &MetricsConfig, peer: IpAddr, headers: &HeaderMap) -> bool {
    let forwarded = FORWARDING_HEADERS.iter().any(|h| headers.contains_key(*h));
    config.permits(peer, forwarded)
}

/// `Content-Type` of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Headers a proxy adds; a request carrying one is not a direct scrape.
const FORWARDING_HEADERS: &[&str] = &["forwarded", "x-forwarded-for", "x-real-ip"];

#[cfg(test)]
mod tests {
    use super::*;

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
}
