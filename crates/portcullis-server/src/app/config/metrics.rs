//! The `[metrics]` table: whether `GET /metrics` answers, and to which peers. (The
//! counters and the recorder are in [`crate::app::metrics`].)

use super::file::FileMetrics;
use crate::app::net::{IpNetwork, parse_networks};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
            enabled: DEFAULT_METRICS_ENABLED,
            allow: vec![
                IpNetwork::host(IpAddr::V4(Ipv4Addr::LOCALHOST)),
                IpNetwork::host(IpAddr::V6(Ipv6Addr::LOCALHOST)),
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

/// Resolves the `[metrics]` table ([`MetricsConfig::resolve`]).
///
/// # Errors
/// A message naming `metrics.allow` and the entry that is not a network.
pub(super) fn resolve_metrics(file: FileMetrics) -> Result<MetricsConfig, String> {
    MetricsConfig::resolve(file.enabled, file.allow)
}

/// Default `metrics.enabled`: on, and (by the default `allow`) readable from loopback
/// only, so an operator gets metrics without exposing them to the network.
pub const DEFAULT_METRICS_ENABLED: bool = true;

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
}
