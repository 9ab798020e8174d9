//! The fetcher's name resolution, which is also its address check: reqwest asks this
//! resolver for the addresses of a host and connects only to what it returns, so the
//! addresses checked are the addresses used (no second lookup: DNS rebinding cannot
//! swap in 127.0.0.1 between the check and the connection).

use super::address::{ForbiddenRange, check_address};
use crate::app::net::IpNetwork;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Resolves with the system resolver (or a test override), then refuses the whole
/// answer if any address is in a forbidden range ([`check_address`]).
pub(super) struct CheckedResolver {
    allow_networks: Arc<[IpNetwork]>,
    overrides: Arc<HashMap<String, IpAddr>>,
}

impl CheckedResolver {
    /// `overrides` maps lower-case host names to the one address they resolve to
    /// (tests only, [`crate::app::config::OutboundSettings::resolve_overrides`]).
    pub(super) fn new(
        allow_networks: Arc<[IpNetwork]>,
        overrides: HashMap<String, IpAddr>,
    ) -> Arc<Self> {
        Arc::new(Self {
            allow_networks,
            overrides: Arc::new(overrides),
        })
    }
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let allow = Arc::clone(&self.allow_networks);
        let overridden = self.overrides.get(&host).copied();
        Box::pin(async move {
            let addresses: Vec<SocketAddr> = match overridden {
                Some(ip) => vec![SocketAddr::new(ip, 0)],
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            // Every address, not just the first: the connector may try any of them.
            for address in &addresses {
                let ip = address.ip();
                check_address(ip, &allow).map_err(|range| AddressRefused { ip, range })?;
            }
            let addresses: Addrs = Box::new(addresses.into_iter());
            Ok::<Addrs, Box<dyn std::error::Error + Send + Sync>>(addresses)
        })
    }
}

/// The resolver's refusal, found again in reqwest's error chain by
/// [`super::transport_reason`].
#[derive(Debug, thiserror::Error)]
#[error("{ip} is a {} address", .range.as_str())]
pub(super) struct AddressRefused {
    /// The refused address.
    pub(super) ip: IpAddr,
    /// Its range.
    pub(super) range: ForbiddenRange,
}
