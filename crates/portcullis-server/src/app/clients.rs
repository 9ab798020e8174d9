//! A bounded, short-lived cache of clients in front of the store, so the client
//! credentials path does no database read per request.
//!
//! Propagation: a change made by the admin CLI or another node (delete, secret
//! rotation, new scopes) is seen by this node within [`CLIENT_CACHE_TTL`]. Unknown
//! client ids are not cached, so a newly created client works at once.

use async_trait::async_trait;
use moka::sync::Cache;
use portcullis_core::Store;
use portcullis_core::client::Client;
use portcullis_core::client::authentication::ClientDirectory;
use portcullis_core::client::authentication::assertion::ClientAssertionVerifier;
use portcullis_core::secret::DigestKey;
use portcullis_core::store::StoreError;
use std::sync::Arc;
use std::time::Duration;

/// How long a cached client is trusted before it is read again.
pub const CLIENT_CACHE_TTL: Duration = Duration::from_secs(5);
/// At most this many clients are cached (memory bound).
pub const CLIENT_CACHE_CAPACITY: u64 = 10_000;

/// Store-backed client directory with a bounded TTL cache.
pub struct ClientCache {
    store: Arc<dyn Store>,
    cache: Cache<String, Arc<Client>>,
    secret_key: Arc<DigestKey>,
    assertions: ClientAssertionVerifier,
}

impl ClientCache {
    /// A cache in front of `store`; `secret_key` checks keyed client-secret digests
    /// ([`ClientDirectory::client_secret_key`]), `assertions` checks `private_key_jwt`
    /// assertions ([`ClientDirectory::client_assertions`]).
    pub fn new(
        store: Arc<dyn Store>,
        secret_key: Arc<DigestKey>,
        assertions: ClientAssertionVerifier,
    ) -> Self {
        let cache = Cache::builder()
            .max_capacity(CLIENT_CACHE_CAPACITY)
            .time_to_live(CLIENT_CACHE_TTL)
            .build();
        Self {
            store,
            cache,
            secret_key,
            assertions,
        }
    }

    /// Drops a client from this node's cache (after a local change).
    pub fn invalidate(&self, client_id: &str) {
        self.cache.invalidate(client_id);
    }
}

#[async_trait]
impl ClientDirectory for ClientCache {
    async fn find_client(&self, client_id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        if let Some(client) = self.cache.get(client_id) {
            return Ok(Some(client));
        }
        let Some(client) = self.store.client_get(client_id).await? else {
            return Ok(None);
        };
        let client = Arc::new(client);
        self.cache.insert(client_id.to_owned(), Arc::clone(&client));
        Ok(Some(client))
    }

    fn client_secret_key(&self) -> Option<&DigestKey> {
        Some(&self.secret_key)
    }

    fn client_assertions(&self) -> Option<&ClientAssertionVerifier> {
        Some(&self.assertions)
    }
}
