//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636 §4.3,
//! RFC 8707 §2): the `/authorize` query through the server's form parser, then
//! core's `validate`: `client_id` lookup, redirect-URI matching (exact, or RFC 8252
//! §7.3 loopback port), scope, resource, PKCE, prompt, `state`/`nonce` bounds, and
//! the error redirect built from the result.
//!
//! Besides "no panic" it checks the matching rule: an accepted redirect URI is one
//! the client registered, or (public client only) an `http` loopback IP-literal one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis_core::authorization::request::{AuthorizationError, validate};
use portcullis_fuzz::{block_on, directory};
use portcullis_proto::authorize::AuthorizationRequest;
use portcullis_server::http::extract::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(params) = parse::<AuthorizationRequest>(data) else {
        return;
    };
    match block_on(validate(directory(), params)) {
        Ok((client, request)) => {
            let uri = request.redirect_uri();
            let registered = client.redirect_uris.iter().any(|r| r == uri);
            let loopback = uri.starts_with("http://127.0.0.1") || uri.starts_with("http://[::1]");
            assert!(
                registered || (client.is_public() && loopback),
                "accepted an unregistered redirect URI {uri:?} for {}",
                client.client_id
            );
            assert!(
                request.scopes().iter().all(|s| client.scopes.contains(s)),
                "granted a scope the client may not request"
            );
        }
        Err(AuthorizationError::Redirect(error)) => {
            let _ = error.location("https://id.example");
            let _ = error.description();
        }
        Err(AuthorizationError::ErrorPage(reason)) => {
            let _ = reason.to_string();
        }
    }
});
