//! The `X-Forwarded-For` walk (`client_address`): every field line split at `,`,
//! walked from the right past trusted proxies; entries with ports, brackets,
//! IPv4-mapped IPv6. The answer is always the peer or an address the header names,
//! and an untrusted peer's header is never believed.
//!
//! Input: byte 0 picks the peer; the rest is `X-Forwarded-For` field lines
//! (`\n`-separated).
#![no_main]

use http::HeaderMap;
use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::header_lines;
use portcullis_server::app::net::{IpNetwork, any_contains, parse_networks};
use portcullis_server::http::extract::client_address;
use std::net::IpAddr;
use std::sync::OnceLock;

fn trusted() -> &'static [IpNetwork] {
    static TRUSTED: OnceLock<Vec<IpNetwork>> = OnceLock::new();
    TRUSTED.get_or_init(|| {
        let entries = [
            "10.0.0.0/8".to_owned(),
            "2001:db8::/32".to_owned(),
            "192.0.2.7".to_owned(),
        ];
        parse_networks("trusted_proxies", &entries).unwrap_or_default()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    let peer: IpAddr = match selector % 4 {
        0 => [10, 1, 2, 3].into(),
        1 => [192, 0, 2, 7].into(),
        2 => "2001:db8::1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
        _ => [203, 0, 113, 9].into(),
    };
    let mut headers = HeaderMap::new();
    header_lines(&mut headers, "x-forwarded-for", rest);
    let client = client_address(peer, &headers, trusted());
    if !any_contains(trusted(), peer) {
        assert_eq!(client, peer, "an untrusted peer's header was believed");
    }
});
