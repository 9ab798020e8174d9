//! The `application/x-www-form-urlencoded` parser of every OAuth endpoint
//! (`OAuthForm<T>` / `parse::<T>`, RFC 6749 §3.1–3.2): token, device authorization,
//! introspection/revocation and authorization request parameter sets. The first
//! byte picks the set; the rest is the body (or the `/authorize` query).
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_proto::authorize::AuthorizationRequest;
use portcullis_proto::device::DeviceAuthorizationRequest;
use portcullis_proto::introspection::TokenInquiry;
use portcullis_proto::token::TokenRequest;
use portcullis_server::http::extract::parse;

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = data.split_first() else {
        return;
    };
    match selector % 4 {
        0 => drop(parse::<TokenRequest>(body)),
        1 => drop(parse::<DeviceAuthorizationRequest>(body)),
        2 => drop(parse::<TokenInquiry>(body)),
        _ => drop(parse::<AuthorizationRequest>(body)),
    }
});
