//! Which destinations the guarded fetcher may connect to (CONVENTIONS §14): every
//! address a name resolves to is checked, and an address in a special-purpose range
//! (RFC 6890 and the IANA special-purpose address registries) is refused unless the
//! operator listed its network in `[outbound] allow_networks`.
//!
//! Why (SSRF, RFC 9700 §4.16 on the AS's own fetches, draft-ietf-oauth-client-id-metadata-document
//! §6 "Server-Side Request Forgery"): a client chooses the URL the server fetches, so without
//! this check anyone could make the server reach its own loopback services, the cloud
//! metadata endpoint (169.254.169.254) or hosts on the internal network.

use crate::app::net::IpNetwork;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The special-purpose range an address was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForbiddenRange {
    /// `127.0.0.0/8`, `::1` (RFC 1122 §3.2.1.3, RFC 4291 §2.5.3).
    Loopback,
    /// `10/8`, `172.16/12`, `192.168/16` (RFC 1918).
    Private,
    /// `169.254/16` (RFC 3927), `fe80::/10` (RFC 4291 §2.5.6): this is where cloud
    /// metadata services answer.
    LinkLocal,
    /// `fc00::/7` (RFC 4193).
    UniqueLocal,
    /// `0.0.0.0/8`, `::` (RFC 1122, RFC 4291 §2.5.2): "this host" on most systems.
    Unspecified,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// `100.64/10` (RFC 6598, carrier-grade NAT).
    SharedAddressSpace,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24` (RFC 5737), `2001:db8::/32`
    /// (RFC 3849).
    Documentation,
    /// `198.18/15` (RFC 2544, benchmarking), `192.0.0/24` (RFC 6890 IETF protocol
    /// assignments), `240/4` (reserved) and `255.255.255.255`.
    Reserved,
}

impl ForbiddenRange {
    /// A short name for logs and error texts.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Loopback => "loopback",
            Self::Private => "private (RFC 1918)",
            Self::LinkLocal => "link-local",
            Self::UniqueLocal => "unique-local (fc00::/7)",
            Self::Unspecified => "unspecified",
            Self::Multicast => "multicast",
            Self::SharedAddressSpace => "shared address space (100.64.0.0/10)",
            Self::Documentation => "documentation",
            Self::Reserved => "reserved",
        }
    }
}

/// Checks one resolved address: `Ok` if it is a public unicast address or inside one of
/// `allow` (the operator's `[outbound] allow_networks`).
///
/// An IPv4-mapped (`::ffff:a.b.c.d`) or IPv4-compatible/NAT64 (`64:ff9b::/96`)
/// IPv6 address is judged as its IPv4 address, so `::ffff:127.0.0.1` is loopback.
///
/// # Errors
/// The [`ForbiddenRange`] the address is in.
pub fn check_address(ip: IpAddr, allow: &[IpNetwork]) -> Result<(), ForbiddenRange> {
    if allow.iter().any(|network| network.contains(ip)) {
        return Ok(());
    }
    match forbidden_range(ip) {
        Some(range) => Err(range),
        None => Ok(()),
    }
}

/// The special-purpose range of `ip`, if any.
fn forbidden_range(ip: IpAddr) -> Option<ForbiddenRange> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<ForbiddenRange> {
    let [a, b, c, _] = ip.octets();
    let range = if ip.is_loopback() {
        ForbiddenRange::Loopback
    } else if ip.is_private() {
        ForbiddenRange::Private
    } else if ip.is_link_local() {
        ForbiddenRange::LinkLocal
    } else if a == 0 {
        ForbiddenRange::Unspecified
    } else if ip.is_multicast() {
        ForbiddenRange::Multicast
    } else if a == 100 && (64..128).contains(&b) {
        ForbiddenRange::SharedAddressSpace
    } else if ip.is_documentation() {
        ForbiddenRange::Documentation
    } else if (a == 198 && (b == 18 || b == 19)) || (a == 192 && b == 0 && c == 0) || a >= 240 {
        ForbiddenRange::Reserved
    } else {
        return None;
    };
    Some(range)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<ForbiddenRange> {
    let first = ip.segments().first().copied().unwrap_or(0);
    let range = if ip.is_loopback() {
        ForbiddenRange::Loopback
    } else if ip.is_unspecified() {
        ForbiddenRange::Unspecified
    } else if ip.is_multicast() {
        ForbiddenRange::Multicast
    } else if first & 0xfe00 == 0xfc00 {
        ForbiddenRange::UniqueLocal
    } else if first & 0xffc0 == 0xfe80 {
        ForbiddenRange::LinkLocal
    } else if first == 0x2001 && ip.segments().get(1).copied() == Some(0x0db8) {
        ForbiddenRange::Documentation
    } else if first & 0xe000 != 0x2000 {
        // Outside 2000::/3, the only global unicast space in use: reserved
        // (including site-local fec0::/10 and the discard prefix 100::/64).
        ForbiddenRange::Reserved
    } else {
        return None;
    };
    Some(range)
}

/// The IPv4 address carried in an IPv4-mapped (`::ffff:0:0/96`), IPv4-compatible
/// (`::/96`, deprecated) or NAT64 (`64:ff9b::/96`, RFC 6052) IPv6 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let segments = ip.segments();
    let [s0, s1, s2, s3, s4, s5, s6, s7] = segments;
    let tail = Ipv4Addr::from((u32::from(s6) << 16) | u32::from(s7));
    let nat64 = s0 == 0x0064 && s1 == 0xff9b && s2 == 0 && s3 == 0 && s4 == 0 && s5 == 0;
    let compatible = s0 == 0 && s1 == 0 && s2 == 0 && s3 == 0 && s4 == 0 && s5 == 0;
    // `::` and `::1` are IPv6's own unspecified and loopback addresses.
    if nat64 || (compatible && u32::from(tail) > 1) {
        return Some(tail);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str) -> ForbiddenRange {
        check_address(ip.parse().unwrap(), &[]).unwrap_err()
    }

    #[test]
    fn refuses_each_special_purpose_range() {
        for (ip, range) in [
            ("127.0.0.1", ForbiddenRange::Loopback),
            ("127.255.0.9", ForbiddenRange::Loopback),
            ("::1", ForbiddenRange::Loopback),
            ("10.1.2.3", ForbiddenRange::Private),
            ("172.16.0.1", ForbiddenRange::Private),
            ("192.168.1.1", ForbiddenRange::Private),
            ("169.254.169.254", ForbiddenRange::LinkLocal),
            ("fe80::1", ForbiddenRange::LinkLocal),
            ("fd00::1", ForbiddenRange::UniqueLocal),
            ("fc00::1", ForbiddenRange::UniqueLocal),
            ("0.0.0.0", ForbiddenRange::Unspecified),
            ("::", ForbiddenRange::Unspecified),
            ("224.0.0.1", ForbiddenRange::Multicast),
            ("ff02::1", ForbiddenRange::Multicast),
            ("100.64.0.1", ForbiddenRange::SharedAddressSpace),
            ("100.127.255.255", ForbiddenRange::SharedAddressSpace),
            ("192.0.2.1", ForbiddenRange::Documentation),
            ("198.51.100.1", ForbiddenRange::Documentation),
            ("203.0.113.1", ForbiddenRange::Documentation),
            ("2001:db8::1", ForbiddenRange::Documentation),
            ("198.18.0.1", ForbiddenRange::Reserved),
            ("240.0.0.1", ForbiddenRange::Reserved),
            ("255.255.255.255", ForbiddenRange::Reserved),
        ] {
            assert_eq!(refused(ip), range, "{ip}");
        }
    }

    #[test]
    fn judges_ipv6_wrapped_ipv4_as_its_ipv4_address() {
        assert_eq!(refused("::ffff:127.0.0.1"), ForbiddenRange::Loopback);
        assert_eq!(refused("::ffff:10.0.0.1"), ForbiddenRange::Private);
        assert_eq!(refused("::ffff:169.254.169.254"), ForbiddenRange::LinkLocal);
        assert_eq!(refused("64:ff9b::a9fe:a9fe"), ForbiddenRange::LinkLocal);
        assert_eq!(refused("::7f00:1"), ForbiddenRange::Loopback);
    }

    #[test]
    fn accepts_public_unicast_addresses() {
        for ip in [
            "93.184.215.14",
            "8.8.8.8",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(check_address(ip.parse().unwrap(), &[]).is_ok(), "{ip}");
        }
    }

    #[test]
    fn allow_networks_lets_a_listed_network_through() {
        let allow = [
            "127.0.0.0/8".parse::<IpNetwork>().unwrap(),
            "fd00::/8".parse().unwrap(),
        ];
        assert!(check_address("127.0.0.1".parse().unwrap(), &allow).is_ok());
        assert!(check_address("::ffff:127.0.0.1".parse().unwrap(), &allow).is_ok());
        assert!(check_address("fd12::1".parse().unwrap(), &allow).is_ok());
        assert_eq!(
            check_address("10.0.0.1".parse().unwrap(), &allow),
            Err(ForbiddenRange::Private)
        );
    }
}
