//! Cookie values (RFC 6265 §5.4): the `Cookie` header lines of a request read into
//! the session and browser-binding values (`read_browser`, the `Browser`
//! extractor's work), then what the server derives from them (binding digest,
//! device form token), for both the `__Host-` (https) and plain (loopback) names.
//!
//! Input: `Cookie` field lines, `\n`-separated; a first byte that is odd picks the
//! https names.
#![no_main]

use http::HeaderMap;
use libfuzzer_sys::fuzz_target;
use portcullis_fuzz::header_lines;
use portcullis_server::app::state::CookieNames;
use portcullis_server::http::browser::read_browser;

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    let issuer = if selector % 2 == 1 {
        "https://id.example"
    } else {
        "http://127.0.0.1:8080"
    };
    let mut headers = HeaderMap::new();
    header_lines(&mut headers, "cookie", rest);
    let browser = read_browser(&headers, CookieNames::for_issuer(issuer));
    let _ = browser.binding();
    let (token, set) = browser.device_form_token().unwrap_or_default();
    if set.is_none() {
        assert!(browser.device_form_token_matches(Some(&token)));
    }
});
