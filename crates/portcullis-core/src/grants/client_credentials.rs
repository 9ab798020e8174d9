//! RFC 6749 §4.4 client credentials grant: a client gets an access token for itself.
//!
//! No database write and no slow hash on this path: the client comes from a bounded
//! cache, its secret is checked against a SHA-256 digest, and one ES256 signature
//! makes the token. No refresh token is issued (§4.4.3).

use super::context::{GrantError, TokenEndpoint, TokenSuccess};
use super::user_tokens::token_type;
use crate::UnixTime;
use crate::client::authentication::AuthenticatedClient;
use crate::client::{Client, check_resource_uri};
use crate::dpop::DpopBinding;
use crate::keys::KeyRing;
use crate::resource::{
    Resource, default_scopes, fits_resources, only_registered, scope_outside_resources,
};
use crate::scope::{is_oidc_scope, join_scope, parse_scope};
use crate::tokens::access_token::{AccessTokenGrant, mint};
use portcullis_proto::error::echo;
use portcullis_proto::grant::GrantType;
use portcullis_proto::token::TokenResponse;
use std::collections::BTreeSet;
use std::sync::Arc;

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
    /// No `scope`, no default ([`crate::resource::default_scopes`]), the requested
    /// resources are all registered, and the client holds none of their scopes.
    #[error("scope is required: request at least one scope")]
    MissingScope,
    /// A scope that none of the requested registered resources defines
    /// ([`crate::resource::scope_outside_resources`]).
    #[error("scope `{0}` is not defined by the requested resource")]
    ScopeNotForResource(String),
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
/// - `resources` (RFC 8707 §2): each must be one of the client's audiences; none means
///   its first audience. They become `aud`. `registered` holds those of them that are
///   registered resources ([`crate::resource::registered_resources`]).
/// - `scope` (RFC 6749 §4.4.2): every scope must be allowed for the client, and, when
///   every requested resource is registered, defined by them
///   ([`scope_outside_resources`]). Omitted (RFC 6749 §3.3 default): the requested
///   registered resources' `default_scopes`, else the client's `default_scopes`, else
///   (as before the registry) every allowed scope that is not an OpenID Connect user
///   scope and fits the requested resources; when that is empty for a request whose
///   resources are all registered, `invalid_scope` (otherwise a scope-less token, as
///   before).
/// - `dpop` (RFC 9449 §5): the key of the request's verified DPoP proof; the access
///   token is bound to it (`cnf.jkt`, `token_type` DPoP).
///
/// # Errors
/// [`ClientCredentialsReason`] for scope and resource problems; key failures.
#[allow(clippy::too_many_arguments)] // the request's parts, each named by its RFC
pub fn issue(
    endpoint: &TokenEndpoint,
    keys: &KeyRing,
    authenticated: &AuthenticatedClient,
    scope: Option<&str>,
    resources: &[String],
    registered: &[Arc<Resource>],
    dpop: Option<&DpopBinding>,
    now: UnixTime,
) -> Result<TokenSuccess, GrantError<ClientCredentialsReason>> {
    let client = authenticated.client();
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
    // Judged against `audiences`: the first audience when no resource was requested.
    let scopes = granted_scopes(client, scope, &audiences, registered)?;
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

/// The scopes of the token: see [`issue`].
fn granted_scopes(
    client: &Client,
    scope: Option<&str>,
    resources: &[String],
    registered: &[Arc<Resource>],
) -> Result<BTreeSet<String>, ClientCredentialsReason> {
    let scopes: BTreeSet<String> = match scope {
        None => {
            let mut defaults = default_scopes(client, resources, registered);
            defaults.retain(|s| !is_oidc_scope(s));
            let scopes = if defaults.is_empty() {
                client
                    .scopes
                    .iter()
                    .filter(|s| !is_oidc_scope(s) && fits_resources(s, resources, registered))
                    .cloned()
                    .collect()
            } else {
                defaults
            };
            // A token for registered resources carries one of their scopes; a client
            // that lists no scope keeps getting scope-less tokens (as before the
            // registry) for its unregistered audiences.
            if scopes.is_empty() && only_registered(resources, registered) {
                return Err(ClientCredentialsReason::MissingScope);
            }
            scopes
        }
        Some(requested) => parse_scope(requested)
            .map_err(|bad| ClientCredentialsReason::MalformedScope(echo(&bad)))?,
    };
    for s in &scopes {
        // First: a user scope is never granted here, whatever the client lists
        // (registration refuses it on a client without a user grant).
        if is_oidc_scope(s) {
            return Err(ClientCredentialsReason::UserScope(echo(s)));
        }
        if !client.scopes.contains(s) {
            return Err(ClientCredentialsReason::ScopeNotAllowed(echo(s)));
        }
    }
    if let Some(foreign) = scope_outside_resources(&scopes, resources, registered) {
        return Err(ClientCredentialsReason::ScopeNotForResource(echo(foreign)));
    }
    Ok(scopes)
}
