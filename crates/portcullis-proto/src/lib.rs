//! Portcullis wire types: what travels over HTTP, spelled as the RFCs spell it.
//!
//! No logic lives here beyond (de)serialisation: requests, responses, claims, JWKs,
//! the metadata document, error codes, and the route table that both the router
//! and the discovery document read.

pub mod authorize;
pub mod claims;
pub mod device;
pub mod discovery;
pub mod error;
pub mod grant;
pub mod introspection;
pub mod jwk;
pub mod par;
pub mod routes;
pub mod token;

pub use error::{ErrorCode, ErrorResponse};
