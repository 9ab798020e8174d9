//! `client update`: change a registered client's metadata through the same validation
//! as registration ([`ClientRegistration::validate`]).

use super::AdminError;
use crate::app::audit;
use portcullis_core::client::{Client, ClientRegistration, RecordSource};
use portcullis_core::{Store, UnixTime};

/// The fields [`update_client`] changes; `None` keeps the stored value. A list given
/// replaces the stored one (an empty list clears it).
#[derive(Debug, Clone, Default)]
pub struct ClientChanges {
    /// `client_name`; `Some("")` removes it.
    pub client_name: Option<String>,
    /// `redirect_uris`.
    pub redirect_uris: Option<Vec<String>>,
    /// `post_logout_redirect_uris`.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `scopes`.
    pub scopes: Option<Vec<String>>,
    /// `default_scopes`.
    pub default_scopes: Option<Vec<String>>,
    /// `audiences` (RFC 8707 resources).
    pub audiences: Option<Vec<String>>,
    /// `allowed_origins` (CORS).
    pub allowed_origins: Option<Vec<String>>,
    /// `skip_consent`.
    pub skip_consent: Option<bool>,
}

/// Applies `changes` to the client `client_id` created with the CLI or an admin
/// API (a config client's metadata lives in the file; a self-registered one is changed
/// with RFC 7592): the result is validated as a new registration would be, its
/// credentials, source and `created_at` kept. Audited as `client_changed`
/// (`updated`).
///
/// # Errors
/// [`AdminError::NotFound`]; [`AdminError::Invalid`] for a config or dynamic client,
/// or a change registration refuses (the message names the field); the store's.
pub async fn update_client(
    store: &dyn Store,
    client_id: &str,
    changes: ClientChanges,
    now: UnixTime,
    actor: &str,
) -> Result<Client, AdminError> {
    let existing = store
        .client_get(client_id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no client `{client_id}`")))?;
    match existing.source {
        RecordSource::Admin => {}
        RecordSource::Config => {
            return Err(AdminError::Invalid(format!(
                "client `{client_id}` is declared in the configuration file; change it there and restart"
            )));
        }
        other => {
            return Err(AdminError::Invalid(format!(
                "client `{client_id}` is a {} client; it changes itself (RFC 7592)",
                other.as_str()
            )));
        }
    }
    let mut registration = registration_of(&existing);
    if let Some(name) = changes.client_name {
        registration.client_name = (!name.is_empty()).then_some(name);
    }
    let replace = |field: &mut Vec<String>, new: Option<Vec<String>>| {
        if let Some(new) = new {
            *field = new;
        }
    };
    replace(&mut registration.redirect_uris, changes.redirect_uris);
    replace(
        &mut registration.post_logout_redirect_uris,
        changes.post_logout_redirect_uris,
    );
    replace(&mut registration.scopes, changes.scopes);
    replace(&mut registration.default_scopes, changes.default_scopes);
    replace(&mut registration.audiences, changes.audiences);
    replace(&mut registration.allowed_origins, changes.allowed_origins);
    if let Some(skip) = changes.skip_consent {
        registration.skip_consent = skip;
    }
    let mut client = registration
        .validate(RecordSource::Admin, now)
        .map_err(|e| AdminError::Invalid(e.to_string()))?;
    client.created_at = existing.created_at;
    store.client_upsert(&client).await?;
    audit::client_changed(actor, client_id, "updated");
    Ok(client)
}

/// `client` as the registration that would produce it (its secret as the stored
/// digests).
fn registration_of(client: &Client) -> ClientRegistration {
    ClientRegistration {
        client_id: client.client_id.clone(),
        client_name: client.client_name.clone(),
        client_secret: None,
        secret_digest: client.secrets.clone(),
        token_endpoint_auth_method: Some(client.token_endpoint_auth_method.as_str().to_owned()),
        jwks: client.jwks.as_ref().map(|j| j.to_value()),
        jwks_uri: client.jwks_uri.clone(),
        redirect_uris: client.redirect_uris.clone(),
        post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
        grant_types: Some(
            client
                .grant_types
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
        ),
        scopes: client.scopes.clone(),
        default_scopes: client.default_scopes.clone(),
        audiences: client.audiences.clone(),
        skip_consent: client.skip_consent,
        introspection_audiences: client.introspection_audiences.clone(),
        allowed_origins: client.allowed_origins.clone(),
        id_token_signed_response_alg: Some(client.id_token_signed_response_alg.as_str().to_owned()),
        claims: client.claims.clone(),
        dpop_bound_access_tokens: client.dpop_bound_access_tokens,
        require_pushed_authorization_requests: client.require_pushed_authorization_requests,
        profile: Some(client.profile.as_str().to_owned()),
    }
}
