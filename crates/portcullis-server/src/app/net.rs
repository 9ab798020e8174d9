//! IP networks in CIDR notation, as written in the configuration (`[metrics] allow`,
//! `trusted_proxies`).

use std::net::IpAddr;
use std::str::FromStr;

/// An IP network in CIDR notation (`10.0.0.0/8`, `::1/128`); a bare address is one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// The network of the one address `addr` (`/32` or `/128`).
    pub const fn host(addr: IpAddr) -> Self {
        let prefix = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        Self { addr, prefix }
    }

    /// Whether `ip` is inside the network. An IPv4-mapped IPv6 address
    /// (`::ffff:127.0.0.1`, from a dual-stack listener) counts as its IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// CIDR notation: `10.0.0.0/8`, `::1/128`.
impl std::fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for IpNetwork {
    type Err = String;

    /// Parses `address/prefix` or a bare address. Refuses host bits past the prefix
    /// (`10.0.0.1/8`): a typo there would silently allow another network.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match s.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (s, None),
        };
        let addr = address
            .parse::<IpAddr>()
            .map_err(|_| "is not an IP address or network like 10.0.0.0/8".to_owned())?;
        let max: u8 = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("has a prefix length that is not 0 to {max}"))?,
        };
        let network = Self { addr, prefix };
        let base = match addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        };
        if base != addr {
            return Err(format!("has host bits set; write {base}/{prefix}"));
        }
        Ok(network)
    }
}

/// Parses the configuration list `key` of networks; the message names the key and the
/// entry that is not a network.
///
/// # Errors
/// A message like ``"`metrics.allow`: "nope" is not an IP address …"``.
pub fn parse_networks(key: &str, entries: &[String]) -> Result<Vec<IpNetwork>, String> {
    entries
        .iter()
        .map(|entry| {
            entry
                .parse::<IpNetwork>()
                .map_err(|e| format!("`{key}`: {entry:?} {e}"))
        })
        .collect()
}

/// Whether `ip` is inside one of `networks`.
pub fn any_contains(networks: &[IpNetwork], ip: IpAddr) -> bool {
    networks.iter().any(|net| net.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNetwork {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        assert!(net("127.0.0.1/32").contains(ip("127.0.0.1")));
        assert!(!net("127.0.0.1/32").contains(ip("127.0.0.2")));
        assert!(net("10.0.0.0/8").contains(ip("10.255.1.2")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("0.0.0.0/0").contains(ip("203.0.113.9")));
        assert!(!net("0.0.0.0/0").contains(ip("::1")));
        assert!(net("::1/128").contains(ip("::1")));
        assert!(!net("::1/128").contains(ip("::2")));
        assert!(net("fd00::/8").contains(ip("fd12:3456::1")));
        assert!(net("192.168.1.7").contains(ip("192.168.1.7")));
        // A dual-stack listener reports IPv4 peers as IPv4-mapped IPv6.
        assert!(net("127.0.0.1/32").contains(ip("::ffff:127.0.0.1")));
        assert_eq!(IpNetwork::host(ip("::1")), net("::1/128"));
        assert_eq!(IpNetwork::host(ip("10.1.2.3")), net("10.1.2.3/32"));
    }

    #[test]
    fn rejects_malformed_networks() {
        for bad in [
            "",
            "localhost",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/-1",
            "10.0.0.0/",
            "10.0.0.1/8",
        ] {
            assert!(bad.parse::<IpNetwork>().is_err(), "{bad}");
        }
        let e = "10.0.0.1/8".parse::<IpNetwork>().unwrap_err();
        assert!(e.contains("10.0.0.0/8"), "{e}");
    }

    #[test]
    fn parse_networks_names_the_key_and_the_entry() {
        let e =
            parse_networks("trusted_proxies", &["10.0.0.0/8".into(), "proxy".into()]).unwrap_err();
        assert!(
            e.contains("`trusted_proxies`") && e.contains("\"proxy\""),
            "{e}"
        );
        let nets = parse_networks("k", &["10.0.0.0/8".into(), "::1".into()]).unwrap();
        assert!(any_contains(&nets, ip("10.9.9.9")));
        assert!(any_contains(&nets, ip("::1")));
        assert!(!any_contains(&nets, ip("192.0.2.1")));
        assert!(!any_contains(&[], ip("127.0.0.1")));
    }
}
