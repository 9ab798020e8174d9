//! The resource registry's administration: config as code at start-up, and the admin
//! CLI's `resource create|list|delete`.

use crate::app::admin::AdminError;
use crate::app::audit;
use portcullis_core::client::RecordSource;
use portcullis_core::resource::{Resource, ResourceRegistration};
use portcullis_core::store::StoreError;
use portcullis_core::{Store, UnixTime};

/// Config as code: upserts the file's `[[resources]]` (unchanged ones are not
/// rewritten) and deletes config resources no longer in the file.
///
/// # Errors
/// [`AdminError::Conflict`] if a file resource has the identifier of a CLI one;
/// otherwise on a database failure.
pub async fn sync_resources(
    store: &dyn Store,
    resources: &[Resource],
    now: UnixTime,
) -> Result<(), AdminError> {
    for resource in resources {
        let existing = store.resource_get(&resource.identifier).await?;
        if existing
            .as_ref()
            .is_some_and(|e| e.source != RecordSource::Config)
        {
            return Err(AdminError::Conflict(format!(
                "resource `{}` of the configuration file was created with the admin CLI; rename it in the file, or delete the CLI one with `portcullis resource delete {}`",
                resource.identifier, resource.identifier
            )));
        }
        if existing
            .as_ref()
            .is_some_and(|e| same_resource(e, resource))
        {
            continue;
        }
        let mut resource = resource.clone();
        resource.created_at = now;
        resource.updated_at = now;
        store.resource_upsert(&resource).await?;
        let action = if existing.is_some() {
            "updated"
        } else {
            "created"
        };
        audit::resource_changed("config", &resource.identifier, action);
    }
    let keep: Vec<String> = resources.iter().map(|r| r.identifier.clone()).collect();
    for removed in store.resource_delete_config_except(&keep).await? {
        audit::resource_changed("config", &removed, "deleted");
    }
    Ok(())
}

/// Registers a resource (admin CLI, `--dev`) and emits its audit event.
///
/// # Errors
/// [`AdminError::Invalid`] for a bad registration (the message names the key),
/// [`AdminError::Conflict`] if the identifier exists.
pub async fn create_resource(
    store: &dyn Store,
    registration: ResourceRegistration,
    actor: &str,
    now: UnixTime,
) -> Result<Resource, AdminError> {
    let resource = registration
        .validate(RecordSource::Admin, now)
        .map_err(|e| AdminError::Invalid(e.to_string()))?;
    store.resource_insert(&resource).await?;
    audit::resource_changed(actor, &resource.identifier, "created");
    Ok(resource)
}

/// Deletes a resource and emits its audit event; `false` when there was none. One
/// declared in the configuration file comes back at the next start unless it is
/// removed there. Clients that list it in `audiences` keep it: their tokens for it
/// then carry the client's scopes, as for any unregistered audience.
///
/// # Errors
/// The store's.
pub async fn delete_resource(
    store: &dyn Store,
    identifier: &str,
    actor: &str,
) -> Result<bool, StoreError> {
    if !store.resource_delete(identifier).await? {
        return Ok(false);
    }
    audit::resource_changed(actor, identifier, "deleted");
    Ok(true)
}

/// Equal apart from timestamps (and so not worth a write or an audit event).
fn same_resource(a: &Resource, b: &Resource) -> bool {
    let mut b = b.clone();
    b.created_at = a.created_at;
    b.updated_at = a.updated_at;
    *a == b
}
