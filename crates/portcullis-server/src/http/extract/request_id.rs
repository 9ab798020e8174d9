//! The request id set by the request-id middleware (`x-request-id`), for audit events.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use std::convert::Infallible;

/// Header carrying the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// [`REQUEST_ID_HEADER`], as a function for `HeaderName::from_static`.
pub const fn request_id_header() -> &'static str {
    REQUEST_ID_HEADER
}

/// The request id, or `-` when absent (it is always set by our middleware).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let id = parts
            .headers
            .get(REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        Ok(Self(id.to_owned()))
    }
}
