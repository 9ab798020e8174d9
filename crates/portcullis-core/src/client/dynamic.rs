//! Dynamically registered clients (RFC 7591, managed per RFC 7592): the registration
//! record kept beside the client row ([`DynamicRegistration`]), its store
//! ([`DynamicClientStore`], the `dynamic_clients` and `initial_access_tokens` tables),
//! and the checks a registration request's metadata must pass ([`metadata`]).
//!
//! Such a client is vetted by nobody: it gets only what self-registered clients get
//! ([`crate::resource::self_registered_client_limits`]), it never skips consent and its
//! consent is never remembered ([`super::Client::remembers_consent`]).

pub mod metadata;

use super::Client;
use crate::UnixTime;
use crate::secret::SecretDigest;
use crate::store::StoreError;
use async_trait::async_trait;
use serde_json::{Map, Value};

/// What the server keeps about a dynamic registration besides the client row.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicRegistration {
    /// The registered client's id.
    pub client_id: String,
    /// RFC 7592 §1: SHA-256 of the registration access token (256 bits of randomness,
    /// so a bare digest suffices: issue 16's rule for generated secrets).
    pub registration_token_digest: SecretDigest,
    /// The client metadata as registered (RFC 7591 §3.2.1: what the read answer
    /// repeats), without credentials.
    pub metadata: Map<String, Value>,
    /// Seconds since the epoch: the last time a request named the client, updated at
    /// most once per [`LAST_USE_GRANULARITY`] (housekeeping deletes clients unused for
    /// `[registration] unused_client_ttl`).
    pub last_used_at: UnixTime,
    /// Seconds since the epoch (RFC 7591 §3.2.1 `client_id_issued_at`).
    pub created_at: UnixTime,
}

/// `last_used_at` is rewritten only when older than this (seconds): one write a day per
/// client at most, so tracking use costs nearly nothing.
pub const LAST_USE_GRANULARITY: i64 = 86_400;

/// The `dynamic_clients` and `initial_access_tokens` tables.
#[async_trait]
pub trait DynamicClientStore: Send + Sync {
    /// Stores a new dynamic client (its `clients` row and its registration) in one
    /// transaction, unless there are already `ceiling` dynamic clients: `Ok(false)`.
    /// [`StoreError::Conflict`] if the id exists.
    async fn dynamic_client_insert(
        &self,
        client: &Client,
        registration: &DynamicRegistration,
        ceiling: u64,
    ) -> Result<bool, StoreError>;
    /// The registration of `client_id`, if it is a dynamic client.
    async fn dynamic_client_get(
        &self,
        client_id: &str,
    ) -> Result<Option<DynamicRegistration>, StoreError>;
    /// Replaces a dynamic client's row and registered metadata in one transaction
    /// (RFC 7592 §2.2); `false` if it is gone.
    async fn dynamic_client_replace(
        &self,
        client: &Client,
        metadata: &Map<String, Value>,
    ) -> Result<bool, StoreError>;
    /// Records a use at `now` if the stored one is older than [`LAST_USE_GRANULARITY`].
    async fn dynamic_client_touch(&self, client_id: &str, now: UnixTime) -> Result<(), StoreError>;
    /// Deletes the dynamic clients last used before `before` (and, by cascade, their
    /// codes, tokens and registrations); returns their ids.
    async fn dynamic_client_delete_unused(
        &self,
        before: UnixTime,
    ) -> Result<Vec<String>, StoreError>;
    /// Stores the SHA-256 of an initial access token (RFC 7591 §3) made with the CLI.
    async fn initial_access_token_insert(
        &self,
        digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<(), StoreError>;
    /// Whether `digest` is a stored initial access token's.
    async fn initial_access_token_exists(&self, digest: &SecretDigest) -> Result<bool, StoreError>;
}
