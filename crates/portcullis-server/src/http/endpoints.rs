//! HTTP endpoints, one module per RFC concept. Handlers are named `<endpoint>_<method>`.

pub mod assets;
pub mod authorize;
pub mod consent;
pub mod dev;
pub mod device;
pub mod device_authorization;
pub mod discovery;
pub mod end_session;
pub mod health;
pub mod home;
pub mod introspection;
pub mod jwks;
pub mod login;
pub mod metrics;
pub mod par;
pub mod registration;
pub mod revocation;
pub mod token;
pub mod userinfo;

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// `response` with `Cache-Control: no-store` (a 200 answer about credentials that is not
/// itself a credential: introspection, revocation, UserInfo).
fn no_store(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A pre-serialised public document (JSON, or the stylesheet) with its media type and a `max-age` in seconds.
fn public_json(body: Bytes, content_type: &'static str, cache_control: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(cache_control),
            ),
        ],
        body,
    )
        .into_response()
}
