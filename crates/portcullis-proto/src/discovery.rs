//! Authorization server metadata (RFC 8414 §2) and OpenID Provider metadata
//! (OpenID Connect Discovery 1.0 §3). One document serves both well-known paths.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The metadata document. Endpoints come from [`crate::routes::ADVERTISED`]; only
/// what works is advertised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerMetadata {
    /// RFC 8414 §2 `issuer`: exactly the `iss` of every token.
    pub issuer: String,
    /// Endpoint URLs keyed by metadata member (`token_endpoint`, `jwks_uri`, …).
    #[serde(flatten)]
    pub endpoints: BTreeMap<String, String>,
    /// RFC 8414 §2 `response_types_supported` (REQUIRED; empty until the
    /// authorization endpoint exists).
    pub response_types_supported: Vec<String>,
    /// RFC 8414 §2 `grant_types_supported`.
    pub grant_types_supported: Vec<String>,
    /// RFC 8414 §2 `token_endpoint_auth_methods_supported`.
    pub token_endpoint_auth_methods_supported: Vec<String>,
}
