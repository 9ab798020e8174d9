//! Grants at the token endpoint (RFC 6749 §4), one module each.

pub mod client_credentials;
pub mod token_endpoint;
