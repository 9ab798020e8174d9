//! The `consents` table in memory: approved scopes by (user_id, client_id).

use super::MemoryStore;
use crate::UnixTime;
use crate::authorization::consent::ConsentStore;
use crate::store::StoreError;
use async_trait::async_trait;
use std::collections::BTreeSet;

#[async_trait]
impl ConsentStore for MemoryStore {
    async fn consent_get(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<BTreeSet<String>, StoreError> {
        Ok(self
            .lock()
            .consents
            .get(&(user_id.to_owned(), client_id.to_owned()))
            .cloned()
            .unwrap_or_default())
    }

    async fn consent_grant(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &BTreeSet<String>,
        _now: UnixTime,
    ) -> Result<(), StoreError> {
        self.lock()
            .consents
            .entry((user_id.to_owned(), client_id.to_owned()))
            .or_default()
            .extend(scopes.iter().cloned());
        Ok(())
    }
}
