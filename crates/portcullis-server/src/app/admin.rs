//! Administrative operations shared by start-up (config as code), `--dev` ([`dev`]) and
//! the admin CLI: they validate with core, write through the store, and emit audit
//! events.

pub mod clients;
pub mod dev;
pub mod resources;
pub mod revocation;
pub mod users;

use crate::app::audit;
use crate::app::config::Config;
pub use crate::app::database::{OpenStoreError, open_store};
use portcullis_core::client::{
    Client, ClientRegistration, ClientSecretDigest, ClientSecrets, RecordSource,
};
use portcullis_core::secret::{DigestKey, SecretDigest, generate_secret};
use portcullis_core::store::StoreError;
use portcullis_core::user::{User, UserRegistration, verify_password};
use portcullis_core::{Store, UnixTime};
use secrecy::{ExposeSecret, SecretString};
use uuid::{NoContext, Timestamp, Uuid};

/// Why an administrative operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The input is invalid (the CLI exits with status 2).
    #[error("{0}")]
    Invalid(String),
    /// The named record does not exist (exit 2).
    #[error("{0}")]
    NotFound(String),
    /// The record already exists (exit 2).
    #[error("{0} already exists")]
    Conflict(String),
    /// The database failed (exit 1).
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::NotFound(m) => Self::NotFound(format!("{m} does not exist")),
            other => Self::Store(other),
        }
    }
}

/// Config as code: upserts the file's clients, users and resources
/// ([`resources::sync_resources`]), and deletes config records that are no longer in
/// the file. Unchanged records are not rewritten. The file's
/// client secrets (chosen by an operator) are stored keyed under `client_secret_key`
/// ([`ClientSecretDigest::Keyed`]), so a row stored bare by an earlier version is
/// rewritten keyed: this is their start-up migration.
///
/// # Errors
/// [`AdminError::Conflict`] if a file client has the id of a CLI client; otherwise on
/// a database failure or a user that cannot be hashed.
pub async fn sync_config(
    store: &dyn Store,
    config: &Config,
    now: UnixTime,
    client_secret_key: &DigestKey,
) -> Result<(), AdminError> {
    for client in &config.clients {
        let mut client = client.clone();
        client.secrets = client.secrets.map(|s| s.keyed(client_secret_key));
        let client = &client;
        let existing = store.client_get(&client.client_id).await?;
        if existing
            .as_ref()
            .is_some_and(|e| e.source != RecordSource::Config)
        {
            return Err(AdminError::Conflict(format!(
                "client `{}` of the configuration file was created with the admin CLI; rename it in the file, or delete the CLI one with `portcullis client delete {}`",
                client.client_id, client.client_id
            )));
        }
        if existing.as_ref().is_some_and(|e| same_client(e, client)) {
            continue;
        }
        let mut client = client.clone();
        client.created_at = now;
        client.updated_at = now;
        store.client_upsert(&client).await?;
        audit::client_changed(
            "config",
            &client.client_id,
            if existing.is_some() {
                "updated"
            } else {
                "created"
            },
        );
    }
    let keep: Vec<String> = config.clients.iter().map(|c| c.client_id.clone()).collect();
    for removed in store.client_delete_config_except(&keep).await? {
        audit::client_changed("config", &removed, "deleted");
    }
    for registration in &config.users {
        let existing = store.user_get_by_username(&registration.username).await?;
        if existing
            .as_ref()
            .is_some_and(|u| u.source != RecordSource::Config)
        {
            return Err(AdminError::Conflict(format!(
                "user `{}` of the configuration file was created with the admin CLI; rename it in the file, or delete the CLI one with `portcullis user delete {}`",
                registration.username, registration.username
            )));
        }
        if let Some(existing) = &existing
            && same_user(existing, registration).await
        {
            continue;
        }
        let user_id = existing
            .as_ref()
            .map_or_else(|| new_user_id(now), |u| u.user_id.clone());
        let password_changed = match &existing {
            Some(existing) => !password_matches(existing, registration).await,
            None => false,
        };
        let user = hash_user(registration.clone(), user_id, RecordSource::Config, now).await?;
        store.user_upsert(&user).await?;
        if password_changed {
            // A new password ends every session and refresh token signed in with the
            // old one (RFC 9700 §4.14).
            let ended = revocation::revoke(
                store,
                &revocation::RevocationSubject::User(user.username.clone()),
                None,
                now,
                "config",
            )
            .await?;
            tracing::info!(username = %user.username, sessions = ended.counts.sessions, refresh_families = ended.counts.refresh_families, "password changed; sessions and refresh tokens ended");
        }
        audit::user_changed(
            "config",
            &user.username,
            if existing.is_some() {
                "updated"
            } else {
                "created"
            },
        );
    }
    let keep: Vec<String> = config.users.iter().map(|u| u.username.clone()).collect();
    for removed in store.user_delete_config_except(&keep).await? {
        audit::user_changed("config", &removed, "deleted");
    }
    resources::sync_resources(store, &config.resources, now).await
}

/// Registers a new client. When `generate` is set, a 256-bit secret is generated and
/// returned (shown once; only its digest is stored).
///
/// # Errors
/// [`AdminError::Invalid`] for a bad registration, [`AdminError::Conflict`] if the id exists.
pub async fn create_client(
    store: &dyn Store,
    mut registration: ClientRegistration,
    generate: bool,
    now: UnixTime,
    actor: &str,
) -> Result<(Client, Option<SecretString>), AdminError> {
    let secret = if generate {
        let secret = generate_secret().map_err(|e| AdminError::Invalid(e.to_string()))?;
        registration.secret_digest = Some(ClientSecrets {
            current: ClientSecretDigest::Sha256(SecretDigest::of(secret.expose_secret())),
            previous: None,
        });
        Some(secret)
    } else {
        None
    };
    let client = registration
        .validate(RecordSource::Admin, now)
        .map_err(|e| AdminError::Invalid(e.to_string()))?;
    store.client_insert(&client).await?;
    audit::client_changed(actor, &client.client_id, "created");
    Ok((client, secret))
}

/// Generates a new secret for a confidential client created with the CLI (a config
/// client's secret lives in the file). With `keep_old_for` (seconds),
/// the current secret keeps working until `now + keep_old_for`, so a service can roll
/// over without downtime; otherwise it stops at once.
///
/// # Errors
/// [`AdminError::NotFound`], or [`AdminError::Invalid`] for a public or config client.
pub async fn rotate_client_secret(
    store: &dyn Store,
    client_id: &str,
    keep_old_for: Option<i64>,
    now: UnixTime,
    actor: &str,
) -> Result<SecretString, AdminError> {
    let client = store
        .client_get(client_id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no client `{client_id}`")))?;
    if client.source == RecordSource::Config {
        // Why: the next start would restore the file's secret, reviving a leaked one.
        return Err(AdminError::Invalid(format!(
            "client `{client_id}` is declared in the configuration file; change its client_secret there and restart"
        )));
    }
    let Some(current) = client.secrets.as_ref().map(|s| s.current) else {
        return Err(AdminError::Invalid(format!(
            "client `{client_id}` is public (no secret to rotate)"
        )));
    };
    let secret = generate_secret().map_err(|e| AdminError::Invalid(e.to_string()))?;
    let previous = keep_old_for
        .filter(|s| *s > 0)
        .map(|s| (current, now.saturating_add(s)));
    let secrets = ClientSecrets {
        current: ClientSecretDigest::Sha256(SecretDigest::of(secret.expose_secret())),
        previous,
    };
    store.client_set_secrets(client_id, &secrets, now).await?;
    audit::client_changed(actor, client_id, "secret_rotated");
    Ok(secret)
}

/// Deletes a client and emits its audit event; `false` when there was no such client.
/// A client declared in the configuration file comes back at the next start unless
/// it is removed there.
///
/// # Errors
/// The store's.
pub async fn delete_client(
    store: &dyn Store,
    client_id: &str,
    actor: &str,
) -> Result<bool, StoreError> {
    if !store.client_delete(client_id).await? {
        return Ok(false);
    }
    audit::client_changed(actor, client_id, "deleted");
    Ok(true)
}

/// Creates a user (argon2id hashing runs on a blocking thread).
///
/// # Errors
/// [`AdminError::Invalid`] for bad fields, [`AdminError::Conflict`] if the username exists.
pub async fn create_user(
    store: &dyn Store,
    registration: UserRegistration,
    source: RecordSource,
    now: UnixTime,
    actor: &str,
) -> Result<User, AdminError> {
    let user = hash_user(registration, new_user_id(now), source, now).await?;
    store.user_insert(&user).await?;
    audit::user_changed(actor, &user.username, "created");
    Ok(user)
}

/// Deletes a user and emits its audit event; `false` when there was no such user.
///
/// # Errors
/// The store's.
pub async fn delete_user(
    store: &dyn Store,
    username: &str,
    actor: &str,
) -> Result<bool, StoreError> {
    if !store.user_delete(username).await? {
        return Ok(false);
    }
    audit::user_changed(actor, username, "deleted");
    Ok(true)
}

/// A new stable subject identifier: UUID v7 (time-ordered, never reused).
pub fn new_user_id(now: UnixTime) -> String {
    Uuid::new_v7(Timestamp::from_unix(
        NoContext,
        u64::try_from(now).unwrap_or(0),
        0,
    ))
    .to_string()
}

pub(crate) async fn hash_user(
    registration: UserRegistration,
    user_id: String,
    source: RecordSource,
    now: UnixTime,
) -> Result<User, AdminError> {
    tokio::task::spawn_blocking(move || registration.validate(user_id, source, now))
        .await
        .map_err(|e| AdminError::Invalid(format!("password hashing failed: {e}")))?
        .map_err(|e| AdminError::Invalid(e.to_string()))
}

/// Equal apart from timestamps (and so not worth a write or an audit event).
pub(crate) fn same_client(a: &Client, b: &Client) -> bool {
    let mut b = b.clone();
    b.created_at = a.created_at;
    b.updated_at = a.updated_at;
    *a == b
}

async fn same_user(existing: &User, registration: &UserRegistration) -> bool {
    if existing.email != registration.email
        || existing.name != registration.name
        || existing.claims != registration.claims
        || existing.source != RecordSource::Config
    {
        return false;
    }
    password_matches(existing, registration).await
}

/// Whether the registration's password is the stored one (argon2id, on a blocking thread).
async fn password_matches(existing: &User, registration: &UserRegistration) -> bool {
    let password = registration.password.clone();
    let hash = existing.password_hash.clone();
    tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false)
}
