//! The `used_authorization_requests` table in memory: id digest → expiry.

use super::MemoryStore;
use crate::UnixTime;
use crate::authorization::pending::UsedAuthorizationRequestStore;
use crate::secret::SecretDigest;
use crate::store::StoreError;
use async_trait::async_trait;

#[async_trait]
impl UsedAuthorizationRequestStore for MemoryStore {
    async fn authorization_request_use(
        &self,
        id_digest: &SecretDigest,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if inner.used_requests.contains_key(id_digest.as_bytes()) {
            return Ok(false);
        }
        inner
            .used_requests
            .insert(*id_digest.as_bytes(), expires_at);
        Ok(true)
    }
}
