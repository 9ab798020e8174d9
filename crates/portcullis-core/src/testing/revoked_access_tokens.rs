//! The `revoked_access_tokens` table in memory: `jti` → `exp`.

use super::MemoryStore;
use crate::UnixTime;
use crate::store::StoreError;
use crate::tokens::access_token::RevokedAccessTokenStore;
use async_trait::async_trait;

#[async_trait]
impl RevokedAccessTokenStore for MemoryStore {
    async fn access_token_revoke(&self, jti: &str, expires_at: UnixTime) -> Result<(), StoreError> {
        self.lock().revoked.insert(jti.to_owned(), expires_at);
        Ok(())
    }

    async fn access_token_is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(self.lock().revoked.contains_key(jti))
    }
}
