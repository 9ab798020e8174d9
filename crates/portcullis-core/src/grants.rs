//! Grants at the token endpoint (RFC 6749 §4), one module each.

pub mod authorization_code;
pub mod client_credentials;
pub mod token_endpoint;
