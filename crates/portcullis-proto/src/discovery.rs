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
    /// RFC 8414 §2 `token_endpoint_auth_signing_alg_values_supported`: the JWS
    /// algorithms a `private_key_jwt` assertion may use (never `none`).
    #[serde(default)]
    pub token_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// RFC 8414 §2 `response_modes_supported`: `["query"]`.
    pub response_modes_supported: Vec<String>,
    /// RFC 8414 §2 `code_challenge_methods_supported`: `["S256"]` (RFC 7636 §4.2).
    pub code_challenge_methods_supported: Vec<String>,
    /// RFC 9207 §3: every authorization response carries `iss`.
    pub authorization_response_iss_parameter_supported: bool,
    /// RFC 8414 §2 `scopes_supported`: the OpenID Connect scopes (client scopes are
    /// per client and not listed).
    pub scopes_supported: Vec<String>,
    /// OIDC Discovery §3 `claims_supported`.
    pub claims_supported: Vec<String>,
    /// OIDC Discovery §3 `subject_types_supported`: `["public"]`.
    pub subject_types_supported: Vec<String>,
    /// OIDC Discovery §3 `id_token_signing_alg_values_supported` (RS256 first: OIDC
    /// Core §15.1 requires it).
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// OIDC Discovery §3 `prompt_values_supported`.
    pub prompt_values_supported: Vec<String>,
    /// RFC 8414 §2 `introspection_endpoint_auth_methods_supported` (confidential
    /// clients only).
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// RFC 8414 §2 `introspection_endpoint_auth_signing_alg_values_supported`.
    #[serde(default)]
    pub introspection_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// RFC 8414 §2 `revocation_endpoint_auth_methods_supported` (public clients may
    /// revoke their own tokens, RFC 7009 §2.1).
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// RFC 8414 §2 `revocation_endpoint_auth_signing_alg_values_supported`.
    #[serde(default)]
    pub revocation_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// OIDC Discovery §3: `claims` request parameter not supported.
    pub claims_parameter_supported: bool,
    /// OIDC Discovery §3: request objects not supported.
    pub request_parameter_supported: bool,
    /// OIDC Discovery §3: `request_uri` not supported (its default is `true`, so it is
    /// stated).
    pub request_uri_parameter_supported: bool,
    /// RFC 9449 §5.1 `dpop_signing_alg_values_supported`: the JWS algorithms a DPoP
    /// proof may use.
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// RFC 9126 §5 `require_pushed_authorization_requests`: every client must use
    /// the pushed authorization request endpoint (`[authorization]
    /// require_pushed_authorization_requests`).
    pub require_pushed_authorization_requests: bool,
    /// draft-ietf-oauth-client-id-metadata-document-01 §5: the server accepts https
    /// URLs of client ID metadata documents as `client_id`. Omitted when false.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub client_id_metadata_document_supported: bool,
}
