//! The storage interface. `portcullis-store` implements it for SQLite and PostgreSQL.
//!
//! Rules every implementation keeps (DESIGN.md "Storage"): each method is atomic;
//! multi-row changes run in one transaction (`BEGIN IMMEDIATE` on SQLite); single use
//! is one conditional statement, never SELECT-then-UPDATE.

use crate::UnixTime;
use crate::client::{Client, ClientSecrets};
use crate::keys::{SigningAlgorithm, StoredSigningKey};
use crate::user::User;
use async_trait::async_trait;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with the same key exists (client_id, username, active key per alg).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The record to change does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database cannot be reached or timed out: retry later (503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A stored value could not be decoded (a bug or manual tampering).
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Other(String),
}

/// Persistent state of the authorization server.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip (`SELECT 1`) for `/health/ready`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The client with this id, if any.
    async fn client_get(&self, client_id: &str) -> Result<Option<Client>, StoreError>;
    /// Every client, ordered by client_id.
    async fn client_list(&self) -> Result<Vec<Client>, StoreError>;
    /// Inserts a new client. [`StoreError::Conflict`] if the id exists.
    async fn client_insert(&self, client: &Client) -> Result<(), StoreError>;
    /// Inserts or replaces a client by id, keeping the original `created_at`.
    async fn client_upsert(&self, client: &Client) -> Result<(), StoreError>;
    /// Deletes a client; `false` if there was none.
    async fn client_delete(&self, client_id: &str) -> Result<bool, StoreError>;
    /// Deletes clients whose source is `config` and whose id is not in `keep` (config
    /// as code: a client removed from the file is removed). Returns the deleted ids.
    async fn client_delete_config_except(&self, keep: &[String])
    -> Result<Vec<String>, StoreError>;
    /// Replaces a client's secrets in one statement. [`StoreError::NotFound`] if absent.
    async fn client_set_secrets(
        &self,
        client_id: &str,
        secrets: &ClientSecrets,
        now: UnixTime,
    ) -> Result<(), StoreError>;

    /// The user with this username, if any.
    async fn user_get_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// Every user, ordered by username.
    async fn user_list(&self) -> Result<Vec<User>, StoreError>;
    /// Inserts a new user. [`StoreError::Conflict`] if the username exists.
    async fn user_insert(&self, user: &User) -> Result<(), StoreError>;
    /// Inserts or updates a user by username, keeping its `user_id` and `created_at`.
    /// [`StoreError::Conflict`] if `user.user_id` belongs to another username.
    async fn user_upsert(&self, user: &User) -> Result<(), StoreError>;
    /// Deletes a user by username; `false` if there was none.
    async fn user_delete(&self, username: &str) -> Result<bool, StoreError>;

    /// Every stored signing key (active, retired, expired), oldest first.
    async fn signing_keys_list(&self) -> Result<Vec<StoredSigningKey>, StoreError>;
    /// Inserts `key` as the active key of its algorithm, only if that algorithm has
    /// none: [`StoreError::Conflict`] otherwise (two nodes starting at once).
    async fn signing_key_insert_first(&self, key: &StoredSigningKey) -> Result<(), StoreError>;
    /// In one transaction, for each key of `new_keys` (at most one per algorithm):
    /// retires the active key of its algorithm (setting `retired_at = now` and
    /// `publish_until`) and inserts it as active. All or nothing.
    /// Two rotations racing from different nodes: on PostgreSQL the loser gets
    /// [`StoreError::Conflict`] (reload and retry); SQLite serialises them.
    async fn signing_key_rotate(
        &self,
        new_keys: &[StoredSigningKey],
        now: UnixTime,
        publish_until: UnixTime,
    ) -> Result<(), StoreError>;
    /// Deletes retired keys whose `publish_until` is at or before `now`; returns how many.
    async fn signing_keys_purge(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// Algorithms without an active key in `keys`: what start-up must generate.
pub fn algorithms_missing_a_key(keys: &[StoredSigningKey]) -> Vec<SigningAlgorithm> {
    SigningAlgorithm::ALL
        .into_iter()
        .filter(|alg| {
            !keys
                .iter()
                .any(|k| k.alg == *alg && k.status == crate::keys::KeyStatus::Active)
        })
        .collect()
}
