//! Client and token credentials from request headers: the `Authorization` header
//! read by the `ClientAuthorization` extractor and parsed as RFC 6749 §2.3.1 Basic
//! credentials (with the body's `client_id`/`client_secret`, or a `private_key_jwt`
//! `client_assertion` whose unverified header and `sub` select the key) by core's
//! `UnverifiedClientCredentials::parse`; the `AccessToken` extractor (RFC 6750 §2.1,
//! §2.2 form body; RFC 9449 §7.1 `DPoP` scheme); the `DPoP` proof header.
//!
//! Input: `Authorization` field lines (`\n`-separated), `\0`, `DPoP` field lines,
//! `\0`, a form body.
#![no_main]

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts};
use http::{HeaderMap, Method, Request};
use libfuzzer_sys::fuzz_target;
use portcullis_core::client::authentication::{PresentedCredentials, UnverifiedClientCredentials};
use portcullis_fuzz::{block_on, header_lines, split_nul};
use portcullis_proto::token::TokenRequest;
use portcullis_server::http::extract::{AccessToken, ClientAuthorization, DpopHeader, parse};

fuzz_target!(|data: &[u8]| {
    let (authorization, rest) = split_nul(data);
    let (dpop, body) = split_nul(rest);
    let mut headers = HeaderMap::new();
    header_lines(&mut headers, "authorization", authorization);
    header_lines(&mut headers, "dpop", dpop);
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );

    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/token")
        .body(Body::from(body.to_vec()))
        .unwrap_or_default();
    *request.headers_mut() = headers;
    let (mut parts, request_body) = request.into_parts();

    let client = block_on(ClientAuthorization::from_request_parts(&mut parts, &()));
    let Ok(client) = client;
    if let (Ok(header), Ok(form)) = (client.checked(), parse::<TokenRequest>(body)) {
        let credentials = UnverifiedClientCredentials::parse(&PresentedCredentials {
            authorization: header.as_deref(),
            client_id: form.client_id.as_deref(),
            client_secret: form.client_secret.as_deref(),
            client_assertion_type: form.client_assertion_type.as_deref(),
            client_assertion: form.client_assertion.as_deref(),
        });
        if let Ok(credentials) = credentials {
            let _ = (credentials.unverified_client_id(), credentials.method());
        }
    }
    let Ok(DpopHeader(_proof)) = block_on(DpopHeader::from_request_parts(&mut parts, &()));
    let request = Request::from_parts(parts, request_body);
    let _ = block_on(AccessToken::from_request(request, &()));
});
