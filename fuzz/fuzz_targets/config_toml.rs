//! The configuration file (TOML, `deny_unknown_fields` everywhere) parsed and
//! resolved into a `Config` exactly as start-up does, with no environment: listen
//! address, issuer, database URL, trusted proxies, token lifetimes, keys, clients
//! (their metadata validated), users, branding, metrics, DPoP settings.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_server::app::config::{Config, parse_file};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = parse_file(Path::new("fuzz.toml"), text) else {
        return;
    };
    let _ = Config::resolve(Some(("fuzz.toml".to_owned(), file)), &|_| None);
});
