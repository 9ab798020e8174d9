//! The `dynamic_clients` and `initial_access_tokens` tables in memory. Deleting a
//! client here does not cascade to its registration: readers look both up.

use super::MemoryStore;
use crate::UnixTime;
use crate::client::Client;
use crate::client::dynamic::{DynamicClientStore, DynamicRegistration, LAST_USE_GRANULARITY};
use crate::secret::SecretDigest;
use crate::store::StoreError;
use async_trait::async_trait;
use serde_json::{Map, Value};

#[async_trait]
impl DynamicClientStore for MemoryStore {
    async fn dynamic_client_insert(
        &self,
        client: &Client,
        registration: &DynamicRegistration,
        ceiling: u64,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if u64::try_from(inner.dynamic_clients.len()).unwrap_or(u64::MAX) >= ceiling {
            return Ok(false);
        }
        if inner.clients.contains_key(&client.client_id) {
            return Err(StoreError::Conflict(client.client_id.clone()));
        }
        inner
            .clients
            .insert(client.client_id.clone(), client.clone());
        inner
            .dynamic_clients
            .insert(client.client_id.clone(), registration.clone());
        Ok(true)
    }

    async fn dynamic_client_get(
        &self,
        client_id: &str,
    ) -> Result<Option<DynamicRegistration>, StoreError> {
        let inner = self.lock();
        if !inner.clients.contains_key(client_id) {
            return Ok(None);
        }
        Ok(inner.dynamic_clients.get(client_id).cloned())
    }

    async fn dynamic_client_replace(
        &self,
        client: &Client,
        metadata: &Map<String, Value>,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(registration) = inner.dynamic_clients.get_mut(&client.client_id) else {
            return Ok(false);
        };
        registration.metadata = metadata.clone();
        let mut client = client.clone();
        if let Some(old) = inner.clients.get(&client.client_id) {
            client.created_at = old.created_at;
        }
        inner.clients.insert(client.client_id.clone(), client);
        Ok(true)
    }

    async fn dynamic_client_touch(&self, client_id: &str, now: UnixTime) -> Result<(), StoreError> {
        if let Some(registration) = self.lock().dynamic_clients.get_mut(client_id)
            && registration.last_used_at < now.saturating_sub(LAST_USE_GRANULARITY)
        {
            registration.last_used_at = now;
        }
        Ok(())
    }

    async fn dynamic_client_delete_unused(
        &self,
        before: UnixTime,
    ) -> Result<Vec<String>, StoreError> {
        let mut inner = self.lock();
        let gone: Vec<String> = inner
            .dynamic_clients
            .values()
            .filter(|r| r.last_used_at < before)
            .map(|r| r.client_id.clone())
            .collect();
        for id in &gone {
            inner.dynamic_clients.remove(id);
            inner.clients.remove(id);
        }
        Ok(gone)
    }

    async fn initial_access_token_insert(
        &self,
        digest: &SecretDigest,
        _now: UnixTime,
    ) -> Result<(), StoreError> {
        self.lock().initial_access_tokens.insert(*digest.as_bytes());
        Ok(())
    }

    async fn initial_access_token_exists(&self, digest: &SecretDigest) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .initial_access_tokens
            .contains(digest.as_bytes()))
    }
}
