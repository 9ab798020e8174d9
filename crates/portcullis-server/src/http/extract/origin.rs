//! The `Origin` request header (RFC 6454 §7): the origin of the page whose script sent a
//! cross-origin request. Browsers send it on every CORS request; other clients seldom
//! do. Core checks it against the request's client ([`portcullis_core::client::origin`]).

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use std::convert::Infallible;

/// The `Origin` header value, if any. Several headers, or a value that is not visible
/// ASCII, become one string that is no serialised origin (the values joined by `, `,
/// bytes outside ASCII replaced), so no client allows it. Never rejects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestOrigin(pub Option<String>);

impl RequestOrigin {
    /// The origin as core takes it.
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestOrigin {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let values: Vec<String> = parts
            .headers
            .get_all(header::ORIGIN)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        Ok(Self((!values.is_empty()).then(|| values.join(", "))))
    }
}
