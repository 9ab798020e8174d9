//! RFC 6749 §4.4 client credentials grant: a client gets an access token for itself.
//!
//! No database write and no slow hash on this path: the client comes from a bounded
//! cache, its secret is checked against a SHA-256 digest, and one ES256 signature
//! makes the token. No refresh token is issued (§4.4.3).

use super::context::{GrantError, TokenEndpoint, TokenSuccess};
use super::user_tokens::token_type;
use crate::UnixTime;
use crate::client::authentication::AuthenticatedClient;
use crate::client::check_resource_uri;
use crate::dpop::DpopBinding;
use crate::keys::KeyRing;
use crate::scope::{is_oidc_scope, join_scope, parse_scope};
use crate::tokens::access_token::{AccessTokenGrant, mint};
use portcullis_proto::error::echo;
use portcullis_proto::grant::GrantType;
use portcullis_proto::token::TokenResponse;
use std::collections::BTreeSet;

/// Why a client credentials request was refused. Quoted values are already bounded
/// with [`echo`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientCredentialsReason {
    /// RFC 6749 §3.3: not a scope-token.
    #[error(
        "scope `{0}` is malformed (RFC 6749 section 3.3: visible ASCII, separated by single spaces)"
    )]
    MalformedScope(String),
    /// The scope is not among the client's allowed scopes.
    #[error("scope `{0}` is not allowed for this client")]
    ScopeNotAllowed(String),
    /// An OpenID Connect user scope: there is no user in this grant.
    #[error("scope `{0}` describes a user, and the client credentials grant has none")]
    UserScope(String),
    /// RFC 8707 §2: not an absolute URI, or has a fragment.
    #[error("resource `{0}` must be an absolute URI without a fragment (RFC 8707 section 2)")]
    MalformedResource(String),
    /// The resource is not among the client's audiences.
    #[error("resource `{0}` is not an audience this client may request")]
    ResourceNotAllowed(String),
}

/// A refusal by this grant's rules, for `?`.
impl From<ClientCredentialsReason> for GrantError<ClientCredentialsReason> {
    fn from(reason: ClientCredentialsReason) -> Self {
        Self::Refused(reason)
    }
}

/// Issues an access token to `client` for itself, signed with `keys` (the current
/// signing keys).
///
/// - `scope` (RFC 6749 §4.4.2): every scope must be allowed for the client; omitted
///   means every allowed scope that is not an OpenID Connect user scope.
/// - `resources` (RFC 8707 §2): each must be one of the client's audiences; none means
///   its first audience. They become `aud`.
/// - `dpop` (RFC 9449 §5): the key of the request's verified DPoP proof; the access
///   token is bound to it (`cnf.jkt`, `token_type` DPoP).
///
/// # Errors
/// [`ClientCredentialsReason`] for scope and resource problems; key failures.
pub fn issue(
    endpoint: &TokenEndpoint,
    keys: &KeyRing,
    authenticated: &AuthenticatedClient,
    scope: Option<&str>,
    resources: &[String],
    dpop: Option<&DpopBinding>,
    now: UnixTime,
) -> Result<TokenSuccess, GrantError<ClientCredentialsReason>> {
    let client = authenticated.client();
    let scopes: BTreeSet<String> = match scope {
        None => client
            .scopes
            .iter()
            .filter(|s| !is_oidc_scope(s))
            .cloned()
            .collect(),
        Some(requested) => {
            let requested = parse_scope(requested)
                .map_err(|bad| ClientCredentialsReason::MalformedScope(echo(&bad)))?;
            for s in &requested {
                // First: a user scope is never granted here, whatever the client lists
                // (registration refuses it on a client without a user grant).
                if is_oidc_scope(s) {
                    return Err(ClientCredentialsReason::UserScope(echo(s)).into());
                }
                if !client.scopes.contains(s) {
                    return Err(ClientCredentialsReason::ScopeNotAllowed(echo(s)).into());
                }
            }
            requested
        }
    };
    let audiences = if resources.is_empty() {
        client.audiences.iter().take(1).cloned().collect::<Vec<_>>()
    } else {
        let mut out: Vec<String> = Vec::with_capacity(resources.len());
        for resource in resources {
            check_resource_uri(resource)
                .map_err(|_| ClientCredentialsReason::MalformedResource(echo(resource)))?;
            if !client.audiences.contains(resource) {
                return Err(ClientCredentialsReason::ResourceNotAllowed(echo(resource)).into());
            }
            if !out.contains(resource) {
                out.push(resource.clone());
            }
        }
        out
    };
    let scope = join_scope(&scopes);
    let issued = mint(
        keys,
        &endpoint.issuer,
        endpoint.access_token_ttl,
        now,
        AccessTokenGrant {
            subject: &client.client_id,
            client_id: &client.client_id,
            audiences,
            scope: scope.clone(),
            extra: client.claims.clone(),
            dpop_jkt: dpop.map(|binding| binding.jkt.as_str()),
        },
    )?;
    Ok(TokenSuccess {
        response: TokenResponse {
            access_token: issued.token,
            token_type: token_type(dpop.is_some()).to_owned(),
            expires_in: u64::try_from(endpoint.access_token_ttl).unwrap_or(0),
            scope,
            refresh_token: None,
            id_token: None,
        },
        client_id: client.client_id.clone(),
        subject: issued.claims.sub,
        grant_type: GrantType::ClientCredentials,
        jti: issued.claims.jti,
    })
}
