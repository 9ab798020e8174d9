//! The `pushed_authorization_requests` table in memory: request_uri digest → record.

use super::MemoryStore;
use crate::authorization::pushed::{PushedAuthorization, PushedAuthorizationStore};
use crate::secret::SecretDigest;
use crate::store::StoreError;
use async_trait::async_trait;

#[async_trait]
impl PushedAuthorizationStore for MemoryStore {
    async fn pushed_authorization_insert(
        &self,
        pushed: &PushedAuthorization,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let key = *pushed.request_uri_digest.as_bytes();
        if inner.pushed_requests.contains_key(&key) {
            return Err(StoreError::Conflict("pushed authorization request".into()));
        }
        inner.pushed_requests.insert(key, pushed.clone());
        Ok(())
    }

    async fn pushed_authorization_take(
        &self,
        request_uri_digest: &SecretDigest,
        client_id: &str,
    ) -> Result<Option<PushedAuthorization>, StoreError> {
        let mut inner = self.lock();
        let key = request_uri_digest.as_bytes();
        if inner
            .pushed_requests
            .get(key)
            .is_none_or(|p| p.client_id != client_id)
        {
            return Ok(None);
        }
        Ok(inner.pushed_requests.remove(key))
    }
}
