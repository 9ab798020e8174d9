//! The resource registry: protected resources (RFC 8707 §2 resource indicators, RFC
//! 9728 protected resources) the operator declares, each with the scopes it defines,
//! the scopes a request without `scope` gets (RFC 6749 §3.3 "pre-defined default
//! value"), and whether self-registered clients may ask for it.
//!
//! Config clients still name the resources they may request in `audiences`; the
//! registry adds what a resource means: its scopes. Self-registered clients (Client ID
//! Metadata Documents, dynamic registration) get their limits from
//! [`self_registered_client_limits`].

use crate::UnixTime;
use crate::client::authentication::ClientDirectory;
use crate::client::{Client, RecordSource, check_resource_uri};
use crate::scope::{is_oidc_scope, is_scope_token};
use crate::store::StoreError;
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// A registered protected resource as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// RFC 8707 §2 resource indicator: an absolute URI without a fragment; the `aud`
    /// of the tokens issued for it.
    pub identifier: String,
    /// Display name (consent page, `resource list`); defaults to the identifier.
    pub name: Option<String>,
    /// The scopes this resource defines (RFC 6749 §3.3 scope-tokens), in the order given.
    pub scopes: Vec<String>,
    /// Granted when a request for this resource has no `scope` (⊆ `scopes`).
    pub default_scopes: Vec<String>,
    /// Whether self-registered clients may request this resource. Default `false`.
    pub dynamic_clients: bool,
    /// Text shown on the consent page per scope (keys ⊆ `scopes`).
    pub scope_descriptions: BTreeMap<String, String>,
    /// Config file or admin CLI.
    pub source: RecordSource,
    /// Seconds since the epoch.
    pub created_at: UnixTime,
    /// Seconds since the epoch.
    pub updated_at: UnixTime,
}

/// The `resources` table.
#[async_trait]
pub trait ResourceStore: Send + Sync {
    /// The resource with this identifier (exact string), if any.
    async fn resource_get(&self, identifier: &str) -> Result<Option<Resource>, StoreError>;
    /// Every resource, ordered by identifier.
    async fn resource_list(&self) -> Result<Vec<Resource>, StoreError>;
    /// Inserts a new resource. [`StoreError::Conflict`] if the identifier exists.
    async fn resource_insert(&self, resource: &Resource) -> Result<(), StoreError>;
    /// Inserts or replaces a resource by identifier, keeping the original `created_at`.
    async fn resource_upsert(&self, resource: &Resource) -> Result<(), StoreError>;
    /// Deletes a resource; `false` if there was none.
    async fn resource_delete(&self, identifier: &str) -> Result<bool, StoreError>;
    /// Deletes resources whose source is `config` and whose identifier is not in
    /// `keep` (config as code). Returns the deleted identifiers, sorted.
    async fn resource_delete_config_except(
        &self,
        keep: &[String],
    ) -> Result<Vec<String>, StoreError>;
}

/// A resource as an operator describes it (config file or CLI), before validation.
#[derive(Debug, Default, Clone)]
pub struct ResourceRegistration {
    /// See [`Resource::identifier`].
    pub identifier: String,
    /// See [`Resource::name`].
    pub name: Option<String>,
    /// See [`Resource::scopes`].
    pub scopes: Vec<String>,
    /// See [`Resource::default_scopes`].
    pub default_scopes: Vec<String>,
    /// See [`Resource::dynamic_clients`].
    pub dynamic_clients: bool,
    /// See [`Resource::scope_descriptions`].
    pub scope_descriptions: BTreeMap<String, String>,
}

/// Why a resource registration was refused: the key and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("resource `{identifier}`: `{field}` {problem}")]
pub struct ResourceRegistrationError {
    /// The resource being registered.
    pub identifier: String,
    /// The offending key, e.g. `default_scopes`.
    pub field: &'static str,
    /// What is wrong and what to do.
    pub problem: String,
}

impl ResourceRegistration {
    /// Validates the registration and builds the stored form.
    ///
    /// # Errors
    /// [`ResourceRegistrationError`] naming the key: an identifier that is not an
    /// absolute URI or has a fragment (RFC 8707 §2); a scope that is not a scope-token
    /// (RFC 6749 §3.3) or is an OpenID Connect user scope (those belong to the server,
    /// not to a resource); a default scope or a described scope the resource does not
    /// list; an empty description.
    pub fn validate(
        self,
        source: RecordSource,
        now: UnixTime,
    ) -> Result<Resource, ResourceRegistrationError> {
        let id = self.identifier.clone();
        let err = |field: &'static str, problem: String| ResourceRegistrationError {
            identifier: id.clone(),
            field,
            problem,
        };
        check_resource_uri(&self.identifier).map_err(|p| err("identifier", p))?;
        let mut scopes: Vec<String> = Vec::with_capacity(self.scopes.len());
        for scope in self.scopes {
            if !is_scope_token(&scope) {
                return Err(err(
                    "scopes",
                    format!(
                        "has `{scope}`, which is not a scope-token (RFC 6749 §3.3: visible ASCII, no space, `\"` or `\\`)"
                    ),
                ));
            }
            if is_oidc_scope(&scope) {
                return Err(err(
                    "scopes",
                    format!(
                        "has `{scope}`, an OpenID Connect user scope; those are the server's, list only the resource's own scopes"
                    ),
                ));
            }
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if let Some(extra) = self.default_scopes.iter().find(|s| !scopes.contains(s)) {
            return Err(err(
                "default_scopes",
                format!(
                    "has `{extra}`, which is not in `scopes`; default scopes are a subset of scopes"
                ),
            ));
        }
        for (scope, text) in &self.scope_descriptions {
            if !scopes.contains(scope) {
                return Err(err(
                    "scope_descriptions",
                    format!("describes `{scope}`, which is not in `scopes`"),
                ));
            }
            if text.trim().is_empty() {
                return Err(err(
                    "scope_descriptions",
                    format!("has an empty description for `{scope}`"),
                ));
            }
        }
        let mut default_scopes: Vec<String> = Vec::with_capacity(self.default_scopes.len());
        for scope in self.default_scopes {
            if !default_scopes.contains(&scope) {
                default_scopes.push(scope);
            }
        }
        Ok(Resource {
            identifier: self.identifier,
            name: self.name.filter(|name| !name.trim().is_empty()),
            scopes,
            default_scopes,
            dynamic_clients: self.dynamic_clients,
            scope_descriptions: self.scope_descriptions,
            source,
            created_at: now,
            updated_at: now,
        })
    }
}

/// What a self-registered client (Client ID Metadata Document, RFC 7591 dynamic
/// registration) may ask for, from [`self_registered_client_limits`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SelfRegisteredClientLimits {
    /// The resources it may request (its `audiences`): identifiers of the registered
    /// resources with `dynamic_clients = true`, in registry order.
    pub resources: Vec<String>,
    /// The scopes it may request (its `scopes`): those resources' scopes, then
    /// `openid profile email`, and `offline_access` when refresh tokens are offered.
    pub scopes: Vec<String>,
}

/// The OpenID Connect scopes every self-registered client may request.
const SELF_REGISTERED_USER_SCOPES: &[&str] = &["openid", "profile", "email"];

/// Limits for a client nobody vetted: only resources the operator opened to
/// self-registered clients (`dynamic_clients = true`), only their scopes, plus the
/// user scopes `openid profile email` and, when `offline_access` is `true` (the
/// client may use refresh tokens), `offline_access`. Why: a client that registered
/// itself must not reach an API its operator did not open to such clients (issue 14).
///
/// `resources` is the whole registry (e.g. [`ResourceStore::resource_list`]); the
/// answer has no duplicates. With no open resource it allows only the user scopes
/// (sign-in), and its tokens carry no API audience.
pub fn self_registered_client_limits(
    resources: &[Resource],
    offline_access: bool,
) -> SelfRegisteredClientLimits {
    let mut limits = SelfRegisteredClientLimits::default();
    for resource in resources.iter().filter(|r| r.dynamic_clients) {
        limits.resources.push(resource.identifier.clone());
        for scope in &resource.scopes {
            if !limits.scopes.contains(scope) {
                limits.scopes.push(scope.clone());
            }
        }
    }
    let user_scopes = SELF_REGISTERED_USER_SCOPES
        .iter()
        .chain(offline_access.then_some(&"offline_access"));
    for scope in user_scopes {
        if !limits.scopes.iter().any(|s| s == scope) {
            limits.scopes.push((*scope).to_owned());
        }
    }
    limits
}

/// A self-registered client held to what is open to such clients *now*: its
/// `audiences` keep only the resources among `open` (those of its audiences that are
/// still registered, looked up by the caller) with `dynamic_clients = true`, and its
/// `scopes` keep only those resources' scopes and the user scopes
/// ([`self_registered_client_limits`]). Why: closing a resource to self-registered
/// clients, or deleting it, must narrow the clients that registered while it was open
/// at once, not when they next update or expire (an operator closes a resource to stop
/// unvetted clients from reaching it). Clients with another source are returned as
/// they are.
pub fn narrow_self_registered(mut client: Client, open: &[Resource]) -> Client {
    if !client.is_self_registered() {
        return client;
    }
    let limits = self_registered_client_limits(open, true);
    client.audiences.retain(|a| limits.resources.contains(a));
    client.scopes.retain(|s| limits.scopes.contains(s));
    client
}

/// The audiences a request's token is for, as far as the registry's scope rules go: the
/// client's audiences among `requested` (RFC 8707 §2 `resource` values; others are
/// refused later), else the client's first audience — the `aud` a token gets when the
/// request names no resource (RFC 8707 §2: the server's default). Why: the rules of
/// [`scope_outside_resources`] and [`default_scopes`] must judge the audience the
/// token will actually carry, or a request without `resource` could carry another
/// API's scope to the default audience. Bounded by the client's registration, not by
/// the request.
pub fn effective_resources(client: &Client, requested: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for resource in requested {
        if client.audiences.contains(resource) && !out.contains(resource) {
            out.push(resource.clone());
        }
    }
    if out.is_empty()
        && let Some(first) = client.audiences.first()
    {
        out.push(first.clone());
    }
    out
}

/// The registered resources among `requested` (RFC 8707 `resource` values already
/// checked against the client's audiences), looked up through `directory`, in request
/// order. Unregistered identifiers are skipped.
///
/// # Errors
/// The store failed.
pub async fn registered_resources(
    directory: &dyn ClientDirectory,
    requested: &[String],
) -> Result<Vec<Arc<Resource>>, StoreError> {
    let mut out = Vec::new();
    for identifier in requested {
        if let Some(resource) = directory.find_resource(identifier).await? {
            out.push(resource);
        }
    }
    Ok(out)
}

/// RFC 6749 §3.3 default scopes for a request without `scope`: the `default_scopes` of
/// the requested registered resources (`registered`, from [`registered_resources`]),
/// else the client's `default_scopes`. Only scopes the client may request are kept (a
/// resource's default is not a grant the client's registration lacks), and of the
/// client's, only those that fit the `requested` resources ([`fits_resources`]).
/// Empty when there is no default: the caller answers `invalid_scope` as before.
pub fn default_scopes(
    client: &Client,
    requested: &[String],
    registered: &[Arc<Resource>],
) -> BTreeSet<String> {
    let from_resources: BTreeSet<String> = registered
        .iter()
        .flat_map(|r| r.default_scopes.iter())
        .filter(|s| client.scopes.contains(s))
        .cloned()
        .collect();
    if !from_resources.is_empty() {
        return from_resources;
    }
    client
        .default_scopes
        .iter()
        .filter(|s| fits_resources(s, requested, registered))
        .cloned()
        .collect()
}

/// The first of `scopes` that the requested resources do not define, when every one
/// of `requested` is a registered resource (`registered`): a token whose `aud` is only
/// registered resources carries only their scopes and OpenID Connect user scopes. Why:
/// a scope meant for another API must not travel in a token those APIs accept (RFC
/// 8707 §2 lets the server narrow scopes per resource; RFC 9068 §2.2.3). `None` when
/// every scope fits, when nothing was requested, or when an unregistered audience is
/// among them (then the client's `scopes` govern, as before the registry).
pub fn scope_outside_resources<'a>(
    scopes: &'a BTreeSet<String>,
    requested: &[String],
    registered: &[Arc<Resource>],
) -> Option<&'a String> {
    scopes
        .iter()
        .find(|scope| !fits_resources(scope, requested, registered))
}

/// Whether `scope` may travel in a token for `requested`: see
/// [`scope_outside_resources`].
pub fn fits_resources(scope: &str, requested: &[String], registered: &[Arc<Resource>]) -> bool {
    !only_registered(requested, registered)
        || is_oidc_scope(scope)
        || registered
            .iter()
            .any(|r| r.scopes.iter().any(|s| s == scope))
}

/// Whether some resources were requested and every one is registered (`registered`
/// holds the registered ones among `requested`): then the registry's scopes govern.
pub fn only_registered(requested: &[String], registered: &[Arc<Resource>]) -> bool {
    !requested.is_empty()
        && requested
            .iter()
            .all(|id| registered.iter().any(|r| &r.identifier == id))
}

/// The consent page's text for `scope`: the first requested registered resource
/// that describes it, if any.
pub fn scope_description<'a>(registered: &'a [Arc<Resource>], scope: &str) -> Option<&'a str> {
    registered
        .iter()
        .find_map(|r| r.scope_descriptions.get(scope).map(String::as_str))
}

#[cfg(test)]
mod tests;
