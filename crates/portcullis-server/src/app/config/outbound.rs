//! The `[outbound]` table: the policy of the one guarded door through which the server
//! fetches what a client points it at (CONVENTIONS §14; client ID metadata documents
//! now, `jwks_uri` and back-channel logout later): which private networks it may reach,
//! which extra certificate authorities it trusts, and its time limits. The guards
//! themselves are in [`crate::app::outbound`].

use super::file::FileOutbound;
use crate::app::net::{IpNetwork, parse_networks};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// `[outbound]` resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundSettings {
    /// Networks that may be reached although they are loopback, private, link-local …
    /// ([`crate::app::outbound::address`]); default none.
    pub allow_networks: Vec<IpNetwork>,
    /// PEM files of certificate authorities trusted besides the system's roots (read
    /// at start-up, relative to the working directory).
    pub ca_certificates: Vec<PathBuf>,
    /// Time to establish the TCP connection (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub connect_timeout: Duration,
    /// Time for the whole exchange: resolution, connection, TLS, request and the
    /// complete body (default [`DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
    /// Test hook, no file key: names answered with these addresses instead of asking
    /// the system resolver. The answers still pass the address checks, so a test can
    /// show that a name resolving to 127.0.0.1 is refused.
    pub resolve_overrides: Vec<(String, IpAddr)>,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        Self {
            allow_networks: Vec::new(),
            ca_certificates: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            resolve_overrides: Vec::new(),
        }
    }
}

/// Resolves the `[outbound]` table.
///
/// # Errors
/// A message naming `outbound.allow_networks` (an entry that is not a network) or a
/// timeout out of bounds.
pub(super) fn resolve_outbound(file: FileOutbound) -> Result<OutboundSettings, String> {
    let allow_networks = parse_networks(
        "outbound.allow_networks",
        &file.allow_networks.unwrap_or_default(),
    )?;
    let seconds = |key: &str, value: Option<u64>, default: Duration| {
        let value = value.map_or(default, Duration::from_secs);
        if value.is_zero() || value > MAX_TIMEOUT {
            return Err(format!(
                "outbound.{key} = {}: must be 1 to {} seconds",
                value.as_secs(),
                MAX_TIMEOUT.as_secs()
            ));
        }
        Ok(value)
    };
    Ok(OutboundSettings {
        allow_networks,
        ca_certificates: file
            .ca_certificates
            .unwrap_or_default()
            .into_iter()
            .map(PathBuf::from)
            .collect(),
        connect_timeout: seconds(
            "connect_timeout",
            file.connect_timeout,
            DEFAULT_CONNECT_TIMEOUT,
        )?,
        timeout: seconds("timeout", file.timeout, DEFAULT_TIMEOUT)?,
        resolve_overrides: Vec::new(),
    })
}

/// Default `outbound.connect_timeout`: 3 s. A metadata host that cannot accept a TCP
/// connection in that time is treated as down.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default `outbound.timeout`: 5 s for the whole exchange. The fetch happens while a
/// user waits for the authorization page, and a slow host must not hold a worker.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest value of either timeout.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::config::tests::resolve;

    #[test]
    fn defaults_allow_no_private_network() {
        let c = resolve("", &[]).unwrap();
        assert_eq!(c.outbound, OutboundSettings::default());
        assert!(c.outbound.allow_networks.is_empty());
    }

    #[test]
    fn reads_the_table() {
        let c = resolve(
            "[outbound]\nallow_networks = [\"127.0.0.0/8\"]\nca_certificates = [\"ca.pem\"]\nconnect_timeout = 2\ntimeout = 9\n",
            &[],
        )
        .unwrap();
        assert_eq!(c.outbound.allow_networks.len(), 1);
        assert_eq!(c.outbound.ca_certificates, vec![PathBuf::from("ca.pem")]);
        assert_eq!(c.outbound.connect_timeout, Duration::from_secs(2));
        assert_eq!(c.outbound.timeout, Duration::from_secs(9));
    }

    #[test]
    fn rejects_a_bad_network_or_timeout() {
        let e = resolve("[outbound]\nallow_networks = [\"intranet\"]\n", &[]).unwrap_err();
        assert!(e.message.contains("outbound.allow_networks"), "{e}");
        let e = resolve("[outbound]\ntimeout = 0\n", &[]).unwrap_err();
        assert!(e.message.contains("outbound.timeout"), "{e}");
    }
}
