//! The `pending_authorizations` table in memory: one map by id digest.

use super::MemoryStore;
use crate::UnixTime;
use crate::authorization::pending::{PendingAuthorization, PendingAuthorizationStore};
use crate::secret::SecretDigest;
use crate::store::StoreError;
use async_trait::async_trait;

#[async_trait]
impl PendingAuthorizationStore for MemoryStore {
    async fn pending_authorization_insert(
        &self,
        pending: &PendingAuthorization,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let key = *pending.id_digest.as_bytes();
        if inner.pending.contains_key(&key) {
            return Err(StoreError::Conflict("pending authorization".into()));
        }
        inner.pending.insert(key, pending.clone());
        Ok(())
    }

    async fn pending_authorization_get(
        &self,
        id_digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        Ok(self
            .lock()
            .pending
            .get(id_digest.as_bytes())
            .filter(|p| now < p.expires_at)
            .cloned())
    }

    async fn pending_authorization_set_user(
        &self,
        id_digest: &SecretDigest,
        user_id: &str,
        auth_time: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        match inner
            .pending
            .get_mut(id_digest.as_bytes())
            .filter(|p| now < p.expires_at)
        {
            Some(p) => {
                p.user_id = Some(user_id.to_owned());
                p.auth_time = Some(auth_time);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn pending_authorization_take(
        &self,
        id_digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        Ok(self
            .lock()
            .pending
            .remove(id_digest.as_bytes())
            .filter(|p| now < p.expires_at))
    }
}
