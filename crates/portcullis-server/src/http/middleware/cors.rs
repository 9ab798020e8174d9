//! CORS (Fetch standard §3.2) for the endpoints browser apps call, on tower-http's
//! [`CorsLayer`], with our per-client check on top.
//!
//! - Public documents (both discovery documents, the JWKS): any origin,
//!   `Access-Control-Allow-Origin: *` ([`public_documents`]): they are public and sent
//!   without credentials.
//! - Token, revocation, device authorization, pushed authorization requests (RFC 9126:
//!   a browser app may push too, authenticating as at the token endpoint) and
//!   UserInfo ([`per_client`]): a preflight
//!   carries no client, so it is answered for any origin that some client allows
//!   ([`crate::app::cross_origin::CorsOrigins`], cached). The actual request is checked
//!   against its own client by core, which refuses a foreign origin before anything
//!   happens; that answer carries [`CrossOriginRefused`], and [`withhold_refused`]
//!   strips the CORS headers from it, so the browser hides it from the page.
//! - Never on `/authorize`, the pages, introspection (confidential clients only),
//!   `/metrics` or health: they get no layer at all.
//!
//! Never `Access-Control-Allow-Credentials` (why: these endpoints take credentials in
//! `Authorization` or the body, never cookies; allowing credentials would let any
//! allowed page send the user's session cookie along). A preflight is cached by the
//! browser for [`PREFLIGHT_MAX_AGE`].

use crate::app::state::AppState;
use crate::http::error::CrossOriginRefused;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

/// How long a browser may reuse a preflight answer: 600 s. Long enough that a page
/// refreshing tokens does not pay a preflight round trip each time (Chromium caps the
/// value at 7200 s, and defaults to 5 s without it); short enough that an origin
/// removed from every client stops being preflighted within minutes. It grants nothing
/// by itself: each actual request is checked against its client.
pub const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// RFC 9449 §4.1: the DPoP proof request header, allowed so browser clients can send it.
pub const DPOP: HeaderName = HeaderName::from_static("dpop");
/// RFC 9449 §8: the server nonce response header, exposed to the page.
pub const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// CORS for the public documents: any origin (`*`), GET and HEAD, no credentials.
pub fn public_documents() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD])
        .max_age(PREFLIGHT_MAX_AGE)
}

/// CORS for an endpoint a browser app calls with its client's credentials or token:
/// `methods`, request headers `Authorization, Content-Type, DPoP`, exposed
/// `DPoP-Nonce, WWW-Authenticate`, `Vary: Origin` (tower-http's default list); the
/// origin allowed when some client allows it (answered from `state`'s cached set).
/// Mount [`withhold_refused`] around it.
pub fn per_client(state: &AppState, methods: &[Method]) -> CorsLayer {
    let state = state.clone();
    let allow_origin = AllowOrigin::async_predicate(move |origin: HeaderValue, _| {
        let state = state.clone();
        async move {
            let Ok(origin) = origin.to_str() else {
                return false;
            };
            let now = state.clock().now();
            state.cors_origins().some_client_allows(origin, now).await
        }
    });
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods(methods.to_vec())
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, DPOP])
        .expose_headers([DPOP_NONCE, header::WWW_AUTHENTICATE])
        .max_age(PREFLIGHT_MAX_AGE)
}

/// The per-client check on top of [`per_client`]: an answer that refused its page's
/// origin ([`CrossOriginRefused`], set by the error mapping) loses
/// `Access-Control-Allow-Origin`, so the browser does not show it to that page. An
/// answer without `Access-Control-Allow-Origin` also loses the
/// `Access-Control-Expose-Headers` tower-http adds to every answer (meaningless
/// without it).
pub async fn withhold_refused(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let refused = response.extensions().get::<CrossOriginRefused>().is_some();
    let headers = response.headers_mut();
    if refused {
        headers.remove(header::ACCESS_CONTROL_ALLOW_ORIGIN);
    }
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        headers.remove(header::ACCESS_CONTROL_EXPOSE_HEADERS);
    }
    response
}
