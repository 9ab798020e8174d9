//! The `Authorization` header of endpoints that authenticate clients (token,
//! introspection, revocation): at most one (two would make "which credentials?"
//! ambiguous).

use crate::http::error::OAuthError;
use axum::http::{HeaderMap, header};

/// The single `Authorization` header value, if any. A value that is not visible ASCII
/// is returned as `""` (it cannot be valid Basic credentials, and parsing says so).
///
/// # Errors
/// `invalid_request` when the header appears more than once.
pub fn single_authorization(headers: &HeaderMap) -> Result<Option<&str>, OAuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(OAuthError::invalid_request(
            "send one Authorization header, not several",
        ));
    }
    Ok(first.map(|v| v.to_str().unwrap_or("")))
}
