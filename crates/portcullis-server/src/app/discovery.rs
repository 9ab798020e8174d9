//! RFC 8414 §3 and OpenID Connect Discovery 1.0 §4: the metadata document, built from
//! the route table the router uses (`portcullis_proto::routes::ADVERTISED`). Serialised
//! once at start-up; the HTTP layer serves it.

use crate::app::config::RegistrationSettings;
use crate::app::config::registration::RegistrationMode;
use portcullis_core::client::jwks::ASSERTION_SIGNING_ALGORITHMS;
use portcullis_core::grants::token_endpoint::SUPPORTED_GRANT_TYPES;
use portcullis_core::resource::Resource;
use portcullis_proto::discovery::ServerMetadata;
use portcullis_proto::grant::TokenEndpointAuthMethod;
use portcullis_proto::routes::ADVERTISED;
use portcullis_resource::dpop::DPOP_ALGS;

/// Builds the metadata for `issuer`. Advertises only what works: endpoints from the
/// route table, grants from the token endpoint's dispatch table, `code` as the only
/// response type (OAuth 2.1: no implicit, no hybrid), `S256` as the only PKCE method;
/// `require_pushed_authorization_requests` from `[authorization]` (RFC 9126 §5);
/// `client_id_metadata_document_supported` when `[registration]
/// client_id_metadata_documents` is on; `registration_endpoint` (RFC 8414 §2, RFC 7591
/// §3) unless `[registration] mode` is off. `scopes_supported` (RFC 8414 §2) is the OpenID
/// Connect scopes, then the scopes of the registered `resources` in registry order,
/// without duplicates.
pub fn metadata(
    issuer: &str,
    require_pushed_authorization_requests: bool,
    registration: &RegistrationSettings,
    resources: &[Resource],
) -> ServerMetadata {
    let mut scopes_supported = strings(&["openid", "profile", "email", "offline_access"]);
    for scope in resources.iter().flat_map(|r| r.scopes.iter()) {
        if !scopes_supported.contains(scope) {
            scopes_supported.push(scope.clone());
        }
    }
    ServerMetadata {
        issuer: issuer.to_owned(),
        endpoints: ADVERTISED
            .iter()
            .map(|e| (e.metadata_name.to_owned(), format!("{issuer}{}", e.path)))
            // RFC 7591 §3: the registration endpoint exists only when registration is on.
            .chain((registration.mode != RegistrationMode::Off).then(|| {
                (
                    "registration_endpoint".to_owned(),
                    format!("{issuer}{}", portcullis_proto::routes::REGISTRATION),
                )
            }))
            .collect(),
        response_types_supported: strings(&["code"]),
        response_modes_supported: strings(&["query"]),
        code_challenge_methods_supported: strings(&["S256"]),
        authorization_response_iss_parameter_supported: true,
        scopes_supported,
        claims_supported: strings(&[
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "name",
            "preferred_username",
            "email",
            "email_verified",
        ]),
        subject_types_supported: strings(&["public"]),
        id_token_signing_alg_values_supported: strings(&["RS256", "ES256"]),
        prompt_values_supported: strings(&["none", "login", "consent"]),
        introspection_endpoint_auth_methods_supported: strings(&[
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ]),
        introspection_endpoint_auth_signing_alg_values_supported: assertion_algorithms(),
        revocation_endpoint_auth_methods_supported: strings(&[
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        ]),
        revocation_endpoint_auth_signing_alg_values_supported: assertion_algorithms(),
        claims_parameter_supported: false,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
        grant_types_supported: SUPPORTED_GRANT_TYPES
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect(),
        token_endpoint_auth_methods_supported: [
            TokenEndpointAuthMethod::ClientSecretBasic,
            TokenEndpointAuthMethod::ClientSecretPost,
            TokenEndpointAuthMethod::PrivateKeyJwt,
            TokenEndpointAuthMethod::None,
        ]
        .iter()
        .map(|m| m.as_str().to_owned())
        .collect(),
        token_endpoint_auth_signing_alg_values_supported: assertion_algorithms(),
        dpop_signing_alg_values_supported: DPOP_ALGS.split(' ').map(str::to_owned).collect(),
        require_pushed_authorization_requests,
        client_id_metadata_document_supported: registration.client_id_metadata_documents,
    }
}

/// RFC 8414 §2 `*_endpoint_auth_signing_alg_values_supported`: the algorithms of
/// `private_key_jwt` assertions (RFC 7523 §2.2).
fn assertion_algorithms() -> Vec<String> {
    ASSERTION_SIGNING_ALGORITHMS
        .iter()
        .map(|alg| format!("{alg:?}"))
        .collect()
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}
