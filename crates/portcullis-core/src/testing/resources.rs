//! The `resources` table in memory: one map by identifier.

use super::MemoryStore;
use crate::client::RecordSource;
use crate::resource::{Resource, ResourceStore};
use crate::store::StoreError;
use async_trait::async_trait;

#[async_trait]
impl ResourceStore for MemoryStore {
    async fn resource_get(&self, identifier: &str) -> Result<Option<Resource>, StoreError> {
        Ok(self.lock().resources.get(identifier).cloned())
    }

    async fn resource_list(&self) -> Result<Vec<Resource>, StoreError> {
        Ok(self.lock().resources.values().cloned().collect())
    }

    async fn resource_insert(&self, resource: &Resource) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.resources.contains_key(&resource.identifier) {
            return Err(StoreError::Conflict(resource.identifier.clone()));
        }
        inner
            .resources
            .insert(resource.identifier.clone(), resource.clone());
        Ok(())
    }

    async fn resource_upsert(&self, resource: &Resource) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let mut resource = resource.clone();
        if let Some(old) = inner.resources.get(&resource.identifier) {
            resource.created_at = old.created_at;
        }
        inner
            .resources
            .insert(resource.identifier.clone(), resource);
        Ok(())
    }

    async fn resource_delete(&self, identifier: &str) -> Result<bool, StoreError> {
        Ok(self.lock().resources.remove(identifier).is_some())
    }

    async fn resource_delete_config_except(
        &self,
        keep: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut inner = self.lock();
        let gone: Vec<String> = inner
            .resources
            .values()
            .filter(|r| r.source == RecordSource::Config && !keep.contains(&r.identifier))
            .map(|r| r.identifier.clone())
            .collect();
        for id in &gone {
            inner.resources.remove(id);
        }
        Ok(gone)
    }
}
