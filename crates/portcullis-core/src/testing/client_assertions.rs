//! The `client_assertions` table in memory: assertion digest → expiry.

use super::MemoryStore;
use crate::UnixTime;
use crate::client::authentication::assertion::ClientAssertionStore;
use crate::secret::SecretDigest;
use crate::store::StoreError;
use async_trait::async_trait;

#[async_trait]
impl ClientAssertionStore for MemoryStore {
    async fn client_assertion_record(
        &self,
        digest: &SecretDigest,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if inner.client_assertions.contains_key(digest.as_bytes()) {
            return Ok(false);
        }
        inner
            .client_assertions
            .insert(*digest.as_bytes(), expires_at);
        Ok(true)
    }
}
