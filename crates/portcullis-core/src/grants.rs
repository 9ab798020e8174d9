//! Grants at the token endpoint (RFC 6749 §4, RFC 8628 §3.4), one module each.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod refresh_token;
pub mod token_endpoint;
pub(crate) mod user_tokens;

#[cfg(test)]
pub(crate) mod fixture;
