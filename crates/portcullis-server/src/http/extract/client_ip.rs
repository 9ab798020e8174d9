//! The client's IP address, for the login and user-code limits and the device
//! authorization rate limit ([`ClientIp`]), and the TCP peer ([`PeerIp`]).
//!
//! Behind a proxy the TCP peer is the proxy. When the peer is inside
//! `trusted_proxies`, the client address is read from `X-Forwarded-For`, walking the
//! list from the right (each proxy appends the address it received the request from)
//! past the addresses of trusted proxies; the first untrusted address is the client.
//! The leftmost entries are never believed on their own: a client can send any
//! `X-Forwarded-For` it likes, and an appending proxy keeps it. A missing or
//! malformed header, or a peer that is not a trusted proxy, gives the peer. `Forwarded`
//! (RFC 7239) and `X-Real-IP` are not read.

use crate::app::net::{IpNetwork, any_contains};
use crate::app::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The client's address: from `X-Forwarded-For` when the peer is a trusted proxy, else
/// the peer ([`PeerIp`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = peer(parts);
        Ok(Self(client_address(
            peer,
            &parts.headers,
            &state.config().trusted_proxies,
        )))
    }
}

/// The TCP peer as our serve loop records it, or `0.0.0.0` when the router runs
/// without our serve loop (tests that call the router directly). Forwarding headers
/// are never read.
#[derive(Debug, Clone, Copy)]
pub struct PeerIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(peer(parts)))
    }
}

fn peer(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// The client address of a request from `peer` with `headers` (see the module
/// documentation).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNetwork]) -> IpAddr {
    if !any_contains(trusted, peer) {
        return peer;
    }
    forwarded_for(headers, trusted).unwrap_or(peer)
}

/// Walks `X-Forwarded-For` (every field line, in order, as one list) from the right:
/// the first address that is not a trusted proxy, or the leftmost if all are. `None`
/// when the header is missing, or when the walk meets an entry that is not an address
/// before it finds the client.
fn forwarded_for(headers: &HeaderMap, trusted: &[IpNetwork]) -> Option<IpAddr> {
    // Split the raw bytes: a client-sent entry with bytes outside visible ASCII must
    // not void the whole header (why: the proxy appends the real address to the same
    // line, and falling back to the peer would count the client as the proxy).
    let mut entries: Vec<&[u8]> = Vec::new();
    for value in headers.get_all(X_FORWARDED_FOR) {
        entries.extend(value.as_bytes().split(|b| *b == b','));
    }
    let mut leftmost = None;
    for entry in entries.iter().rev() {
        let ip = parse_entry(std::str::from_utf8(entry).ok()?)?;
        if !any_contains(trusted, ip) {
            return Some(ip);
        }
        leftmost = Some(ip);
    }
    leftmost
}

/// One `X-Forwarded-For` entry: an address, also with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:4711`) or brackets, as some proxies write it. IPv4-mapped IPv6
/// addresses count as IPv4 (one limit per client, however a proxy writes it).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let ip = entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .and_then(|e| e.parse::<std::net::Ipv6Addr>().ok())
                .map(IpAddr::V6)
        })?;
    Some(ip.to_canonical())
}

/// The header a proxy sets with the client address.
const X_FORWARDED_FOR: &str = "x-forwarded-for";

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(list: &[&str]) -> Vec<IpNetwork> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    const PROXY: &str = "10.0.0.5";

    fn trusted() -> Vec<IpNetwork> {
        nets(&["10.0.0.0/8", "127.0.0.1/32", "fd00::/8"])
    }

    #[test]
    fn one_trusted_proxy_gives_the_address_it_appended() {
        let got = client_address(ip(PROXY), &xff(&["203.0.113.7"]), &trusted());
        assert_eq!(got, ip("203.0.113.7"));
    }

    #[test]
    fn a_chain_of_trusted_proxies_is_skipped_from_the_right() {
        // client → 10.1.1.1 → 10.2.2.2 → (peer) 10.0.0.5
        let headers = xff(&["203.0.113.7, 10.1.1.1, 10.2.2.2"]);
        assert_eq!(
            client_address(ip(PROXY), &headers, &trusted()),
            ip("203.0.113.7")
        );
        // The same list split over several field lines is one list.
        let headers = xff(&["203.0.113.7", "10.1.1.1,10.2.2.2"]);
        assert_eq!(
            client_address(ip(PROXY), &headers, &trusted()),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn spoofed_leftmost_entries_are_ignored() {
        // The client sent `X-Forwarded-For: 198.51.100.1, 10.9.9.9`; the proxy appended
        // the real address.
        let headers = xff(&["198.51.100.1, 10.9.9.9, 203.0.113.7"]);
        assert_eq!(
            client_address(ip(PROXY), &headers, &trusted()),
            ip("203.0.113.7")
        );
        // Garbage to the left of the client is never reached.
        let headers = xff(&["not-an-address, 203.0.113.7, 10.1.1.1"]);
        assert_eq!(
            client_address(ip(PROXY), &headers, &trusted()),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn an_all_trusted_chain_gives_the_leftmost_address() {
        let headers = xff(&["10.3.3.3, 10.2.2.2, 127.0.0.1"]);
        assert_eq!(
            client_address(ip(PROXY), &headers, &trusted()),
            ip("10.3.3.3")
        );
    }

    #[test]
    fn a_missing_or_malformed_header_gives_the_peer() {
        let t = trusted();
        let peer = ip(PROXY);
        assert_eq!(client_address(peer, &HeaderMap::new(), &t), peer);
        for bad in [
            "",
            " ",
            "unknown",
            "203.0.113.7,",
            "203.0.113.7, , 10.1.1.1",
            "203.0.113.7 10.1.1.1",
            "203.0.113.7/32",
            "for=203.0.113.7",
            "10.1.1.1, 203.0.113.999",
        ] {
            assert_eq!(client_address(peer, &xff(&[bad]), &t), peer, "{bad:?}");
        }
        // A value that is not visible ASCII.
        let mut headers = HeaderMap::new();
        headers.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"203.0.113.\xff").unwrap(),
        );
        assert_eq!(client_address(peer, &headers, &t), peer);
        // ... but a client-sent one to the left of the address the proxy appended is
        // never reached: it cannot make the client count as the proxy.
        let mut headers = HeaderMap::new();
        headers.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"\xff\x80, 203.0.113.7").unwrap(),
        );
        assert_eq!(client_address(peer, &headers, &t), ip("203.0.113.7"));
        // One malformed field line spoils the list.
        assert_eq!(
            client_address(peer, &xff(&["203.0.113.7", "junk"]), &t),
            peer
        );
    }

    #[test]
    fn ipv6_addresses_and_ports() {
        let t = trusted();
        let peer = ip("fd00::1");
        assert_eq!(
            client_address(peer, &xff(&["2001:db8::7, fd00::2"]), &t),
            ip("2001:db8::7")
        );
        assert_eq!(
            client_address(peer, &xff(&["[2001:db8::7]:4711"]), &t),
            ip("2001:db8::7")
        );
        assert_eq!(
            client_address(peer, &xff(&["[2001:db8::7]"]), &t),
            ip("2001:db8::7")
        );
        assert_eq!(
            client_address(peer, &xff(&["203.0.113.7:4711"]), &t),
            ip("203.0.113.7")
        );
        // IPv4-mapped entries are their IPv4 address, also when matching proxies.
        assert_eq!(
            client_address(peer, &xff(&["::ffff:203.0.113.7, ::ffff:10.1.1.1"]), &t),
            ip("203.0.113.7")
        );
        // A dual-stack listener's IPv4-mapped peer is matched as IPv4.
        assert_eq!(
            client_address(ip("::ffff:127.0.0.1"), &xff(&["203.0.113.7"]), &t),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn headers_are_ignored_when_the_peer_is_not_trusted() {
        let headers = xff(&["203.0.113.7"]);
        let peer = ip("192.0.2.44");
        assert_eq!(client_address(peer, &headers, &trusted()), peer);
        // No trusted proxies configured (the default): never read.
        assert_eq!(
            client_address(ip("127.0.0.1"), &headers, &[]),
            ip("127.0.0.1")
        );
    }
}
