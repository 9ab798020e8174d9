//! The `clients` table in memory: one map by client_id.

use super::MemoryStore;
use crate::UnixTime;
use crate::client::{Client, ClientSecrets, ClientStore, RecordSource};
use crate::store::StoreError;
use async_trait::async_trait;

#[async_trait]
impl ClientStore for MemoryStore {
    async fn client_get(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        Ok(self.lock().clients.get(client_id).cloned())
    }

    async fn client_list(&self) -> Result<Vec<Client>, StoreError> {
        Ok(self.lock().clients.values().cloned().collect())
    }

    async fn client_insert(&self, client: &Client) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.clients.contains_key(&client.client_id) {
            return Err(StoreError::Conflict(client.client_id.clone()));
        }
        inner
            .clients
            .insert(client.client_id.clone(), client.clone());
        Ok(())
    }

    async fn client_upsert(&self, client: &Client) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let mut client = client.clone();
        if let Some(old) = inner.clients.get(&client.client_id) {
            client.created_at = old.created_at;
        }
        inner.clients.insert(client.client_id.clone(), client);
        Ok(())
    }

    async fn client_delete(&self, client_id: &str) -> Result<bool, StoreError> {
        Ok(self.lock().clients.remove(client_id).is_some())
    }

    async fn client_delete_config_except(
        &self,
        keep: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut inner = self.lock();
        let gone: Vec<String> = inner
            .clients
            .values()
            .filter(|c| c.source == RecordSource::Config && !keep.contains(&c.client_id))
            .map(|c| c.client_id.clone())
            .collect();
        for id in &gone {
            inner.clients.remove(id);
        }
        Ok(gone)
    }

    async fn client_set_secrets(
        &self,
        client_id: &str,
        secrets: &ClientSecrets,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let client = inner
            .clients
            .get_mut(client_id)
            .ok_or_else(|| StoreError::NotFound(client_id.to_owned()))?;
        client.secrets = Some(secrets.clone());
        client.updated_at = now;
        Ok(())
    }
}
