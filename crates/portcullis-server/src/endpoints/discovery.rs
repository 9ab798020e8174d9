//! RFC 8414 §3 and OpenID Connect Discovery 1.0 §4: the metadata document, built from
//! the route table the router uses (`portcullis_proto::routes::ADVERTISED`).

use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;
use portcullis_core::grants::token_endpoint::SUPPORTED_GRANT_TYPES;
use portcullis_proto::discovery::ServerMetadata;
use portcullis_proto::grant::TokenEndpointAuthMethod;
use portcullis_proto::routes::ADVERTISED;

/// Builds the metadata for `issuer`. Advertises only what works: endpoints from the
/// route table, grants from the token endpoint's dispatch table. The OpenID Provider
/// members (`authorization_endpoint`, `subject_types_supported`,
/// `id_token_signing_alg_values_supported`) arrive with id_tokens and `/authorize`.
pub fn metadata(issuer: &str) -> ServerMetadata {
    ServerMetadata {
        issuer: issuer.to_owned(),
        endpoints: ADVERTISED
            .iter()
            .map(|e| (e.metadata_name.to_owned(), format!("{issuer}{}", e.path)))
            .collect(),
        response_types_supported: Vec::new(),
        grant_types_supported: SUPPORTED_GRANT_TYPES
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect(),
        token_endpoint_auth_methods_supported: [
            TokenEndpointAuthMethod::ClientSecretBasic,
            TokenEndpointAuthMethod::ClientSecretPost,
        ]
        .iter()
        .map(|m| m.as_str().to_owned())
        .collect(),
    }
}

/// `GET /.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
pub async fn metadata_get(State(state): State<AppState>) -> Response {
    super::public_json(
        state.metadata_json().clone(),
        "application/json",
        "public, max-age=300",
    )
}
