//! Metric counters and the process-wide Prometheus recorder (the `metrics` facade),
//! and `[metrics]` resolved. The HTTP side (`GET /metrics`, the request-counting
//! middleware) is in the HTTP layer.
//!
//! Labels are bounded (why: an unbounded label lets any client grow the server's memory
//! and the monitoring system's series without limit): reasons and grant types come from
//! fixed lists.

use crate::app::net::{IpNetwork, parse_networks};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use portcullis_proto::grant::GrantType;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

/// `[metrics]` resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Whether `/metrics` answers at all (default true).
    pub enabled: bool,
    /// Peers allowed to scrape (default loopback: `127.0.0.1/32`, `::1/128`).
    pub allow: Vec<IpNetwork>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow: vec![
                IpNetwork::host(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)),
                IpNetwork::host(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)),
            ],
        }
    }
}

impl MetricsConfig {
    /// Resolves `[metrics]` (`enabled`, `allow`); the message names the key.
    ///
    /// # Errors
    /// A message naming `metrics.allow` and the entry that is not a network.
    pub fn resolve(enabled: Option<bool>, allow: Option<Vec<String>>) -> Result<Self, String> {
        let defaults = Self::default();
        let allow = match allow {
            None => defaults.allow,
            Some(entries) => parse_networks("metrics.allow", &entries)?,
        };
        Ok(Self {
            enabled: enabled.unwrap_or(defaults.enabled),
            allow,
        })
    }

    /// Whether a request from `peer` may read `/metrics`; `forwarded` says whether it
    /// came through a proxy (then never: the peer address is the proxy's).
    pub fn permits(&self, peer: IpAddr, forwarded: bool) -> bool {
        self.enabled && !forwarded && self.allow.iter().any(|net| net.contains(peer))
    }
}

/// Installs the process-wide recorder on first use and returns its handle; `None` if
/// another recorder was installed first (by an embedding program), in which case only
/// the gauges this module writes itself are served.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(HTTP_REQUEST_DURATION.to_owned()),
                    DURATION_BUCKETS_SECONDS,
                )
                .map_err(|e| tracing::warn!(error = %e, "metrics: bad histogram buckets"))
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if let Err(e) = metrics::set_global_recorder(recorder) {
                tracing::warn!(error = %e, "metrics: another recorder is installed; /metrics serves the pool gauges only");
                return None;
            }
            describe();
            // build_recorder() leaves upkeep to us: it drains the histograms' sample
            // buffers, which would otherwise grow while nobody scrapes.
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".to_owned())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "metrics: cannot start the upkeep thread");
            }
            Some(handle)
        })
        .clone()
}

/// The recorder's exposition text followed by the gauges sampled now (`pool`: the
/// database pool of this server's store, `None` when the store has no pool).
pub fn render(pool: Option<portcullis_core::store::PoolStatus>) -> String {
    let mut body = HANDLE
        .get()
        .and_then(Option::as_ref)
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    if !body.is_empty() && !body.ends_with('\n') {
        body.push('\n');
    }
    write_gauges(&mut body, pool);
    body
}

/// Counts a token issued at the token endpoint (called with the audit event).
pub fn token_issued(grant_type: &str) {
    let grant = match GrantType::parse(grant_type) {
        Some(GrantType::AuthorizationCode) => "authorization_code",
        Some(GrantType::ClientCredentials) => "client_credentials",
        Some(GrantType::RefreshToken) => "refresh_token",
        Some(GrantType::DeviceCode) => "device_code",
        None => "other",
    };
    metrics::counter!(TOKENS_ISSUED, "grant_type" => grant).increment(1);
}

/// Counts a failed sign-in (called with the audit event).
pub fn login_failed(reason: &str) {
    let reason = bounded(reason, LOGIN_FAILURE_REASONS);
    metrics::counter!(LOGIN_FAILURES, "reason" => reason).increment(1);
}

/// Counts a refused user code on the device verification page (RFC 8628 §5.1).
pub fn user_code_refused(reason: &str) {
    let reason = bounded(reason, USER_CODE_FAILURE_REASONS);
    metrics::counter!(DEVICE_USER_CODE_FAILURES, "reason" => reason).increment(1);
}

/// The gauges sampled at scrape time: the database pool and the build.
fn write_gauges(body: &mut String, pool: Option<portcullis_core::store::PoolStatus>) {
    if let Some(pool) = pool {
        let _ = write!(
            body,
            "# HELP {DB_POOL_CONNECTIONS} Open database connections, by state.\n\
             # TYPE {DB_POOL_CONNECTIONS} gauge\n\
             {DB_POOL_CONNECTIONS}{{state=\"idle\"}} {idle}\n\
             {DB_POOL_CONNECTIONS}{{state=\"in_use\"}} {in_use}\n\
             # HELP {DB_POOL_MAX_CONNECTIONS} Most connections the database pool opens.\n\
             # TYPE {DB_POOL_MAX_CONNECTIONS} gauge\n\
             {DB_POOL_MAX_CONNECTIONS} {max}\n",
            idle = pool.idle,
            in_use = pool.in_use(),
            max = pool.max,
        );
    }
    let _ = write!(
        body,
        "# HELP {BUILD_INFO} The running version (always 1).\n\
         # TYPE {BUILD_INFO} gauge\n\
         {BUILD_INFO}{{version=\"{version}\"}} 1\n",
        version = env!("CARGO_PKG_VERSION"),
    );
}

/// HELP lines of the recorder's metrics.
fn describe() {
    metrics::describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests, by matched route, method and status."
    );
    metrics::describe_histogram!(
        HTTP_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by matched route."
    );
    metrics::describe_counter!(
        TOKENS_ISSUED,
        "Tokens issued at the token endpoint, by grant type."
    );
    metrics::describe_counter!(
        LOGIN_FAILURES,
        "Failed sign-ins on the login page, by reason."
    );
    metrics::describe_counter!(
        DEVICE_USER_CODE_FAILURES,
        "User codes refused on the device verification page, by reason."
    );
}

/// `value` if it is one of `allowed`, else `other`.
pub(crate) fn bounded(value: &str, allowed: &[&'static str]) -> &'static str {
    allowed
        .iter()
        .find(|a| **a == value)
        .copied()
        .unwrap_or("other")
}

/// The process-wide recorder's handle (`None` inside: another recorder won).
static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// How often the histograms' buffers are drained.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Upper bounds of the request duration histogram's buckets, in seconds.
const DURATION_BUCKETS_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Reasons of [`crate::app::audit::login_failed`].
pub(crate) const LOGIN_FAILURE_REASONS: &[&str] =
    &["unknown_user", "wrong_password", "throttled", "too_long"];
/// Reasons of [`crate::app::audit::user_code_refused`].
const USER_CODE_FAILURE_REASONS: &[&str] = &["unknown_or_expired", "throttled"];

/// Counter: HTTP requests by `endpoint`, `method`, `status`.
pub const HTTP_REQUESTS: &str = "portcullis_http_requests_total";
/// Histogram: request duration by `endpoint`, in seconds.
pub const HTTP_REQUEST_DURATION: &str = "portcullis_http_request_duration_seconds";
/// Counter: tokens issued by `grant_type`.
pub const TOKENS_ISSUED: &str = "portcullis_tokens_issued_total";
/// Counter: failed sign-ins by `reason`.
pub const LOGIN_FAILURES: &str = "portcullis_login_failures_total";
/// Counter: refused user codes by `reason`.
pub const DEVICE_USER_CODE_FAILURES: &str = "portcullis_device_user_code_failures_total";
/// Gauge: database connections by `state` (`idle`, `in_use`).
pub const DB_POOL_CONNECTIONS: &str = "portcullis_db_pool_connections";
/// Gauge: the database pool's maximum size.
pub const DB_POOL_MAX_CONNECTIONS: &str = "portcullis_db_pool_max_connections";
/// Gauge: 1, labelled with the `version`.
pub const BUILD_INFO: &str = "portcullis_build_info";
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_names_the_key_of_a_bad_entry() {
        let e = MetricsConfig::resolve(None, Some(vec!["10.0.0.0/8".into(), "nope".into()]))
            .unwrap_err();
        assert!(e.contains("metrics.allow") && e.contains("nope"), "{e}");
        let c = MetricsConfig::resolve(Some(false), Some(vec![])).unwrap();
        assert!(!c.enabled && c.allow.is_empty());
    }

    #[test]
    fn gauges_render_in_the_text_format() {
        let mut body = String::new();
        let pool = portcullis_core::store::PoolStatus {
            open: 3,
            idle: 1,
            max: 8,
        };
        write_gauges(&mut body, Some(pool));
        assert!(body.contains("portcullis_db_pool_connections{state=\"idle\"} 1\n"));
        assert!(body.contains("portcullis_db_pool_connections{state=\"in_use\"} 2\n"));
        assert!(body.contains("portcullis_db_pool_max_connections 8\n"));
        assert!(body.contains("# TYPE portcullis_build_info gauge\n"));
    }
}
