//! Grants at the token endpoint (RFC 6749 §4, RFC 8628 §3.4), one module each.
//!
//! Dependencies run one way: each grant imports [`context`] (the endpoint's settings,
//! the success and the generic [`context::GrantError`]) and returns its own reason;
//! [`token_endpoint`] imports the grants, dispatches on `grant_type` and maps their
//! reasons.

pub mod authorization_code;
pub mod client_credentials;
pub mod context;
pub mod device_code;
pub mod refresh_token;
pub mod token_endpoint;
pub(crate) mod user_tokens;

#[cfg(test)]
pub(crate) mod fixture;
