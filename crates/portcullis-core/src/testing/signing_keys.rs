//! The `signing_keys` table in memory: one list, oldest first.

use super::MemoryStore;
use crate::UnixTime;
use crate::keys::{KeyStatus, SigningKeyStore, StoredSigningKey};
use crate::store::StoreError;
use async_trait::async_trait;

#[async_trait]
impl SigningKeyStore for MemoryStore {
    async fn signing_keys_list(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        Ok(self.lock().keys.clone())
    }

    async fn signing_key_insert_first(&self, key: &StoredSigningKey) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner
            .keys
            .iter()
            .any(|k| k.alg == key.alg && k.status == KeyStatus::Active)
        {
            return Err(StoreError::Conflict(key.alg.as_str().to_owned()));
        }
        inner.keys.push(key.clone());
        Ok(())
    }

    async fn signing_key_insert_next(
        &self,
        new_keys: &[StoredSigningKey],
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        for new in new_keys {
            if inner
                .keys
                .iter()
                .any(|k| k.kid == new.kid || (k.alg == new.alg && k.status == KeyStatus::Next))
            {
                return Err(StoreError::Conflict(new.alg.as_str().to_owned()));
            }
        }
        for new in new_keys {
            inner.keys.push(StoredSigningKey {
                status: KeyStatus::Next,
                retired_at: None,
                publish_until: None,
                ..new.clone()
            });
        }
        Ok(())
    }

    async fn signing_key_promote(
        &self,
        kid: &str,
        now: UnixTime,
        publish_until: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(alg) = inner
            .keys
            .iter()
            .find(|k| {
                k.kid == kid
                    && k.status == KeyStatus::Next
                    && k.activate_at.is_some_and(|at| at <= now)
            })
            .map(|k| k.alg)
        else {
            return Ok(false);
        };
        for key in inner.keys.iter_mut().filter(|k| k.alg == alg) {
            if key.status == KeyStatus::Active {
                key.status = KeyStatus::Retired;
                key.retired_at = Some(now);
                key.publish_until = Some(publish_until);
            } else if key.kid == kid {
                key.status = KeyStatus::Active;
            }
        }
        Ok(true)
    }

    async fn signing_key_rotate(
        &self,
        new_keys: &[StoredSigningKey],
        now: UnixTime,
        publish_until: UnixTime,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        for new in new_keys {
            for old in inner
                .keys
                .iter_mut()
                .filter(|k| k.alg == new.alg && k.status != KeyStatus::Retired)
            {
                old.status = KeyStatus::Retired;
                old.retired_at = Some(now);
                old.publish_until = Some(publish_until);
            }
            inner.keys.push(new.clone());
        }
        Ok(())
    }

    async fn signing_keys_purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let before = inner.keys.len();
        inner.keys.retain(|k| {
            k.status != KeyStatus::Retired || k.publish_until.is_some_and(|until| now < until)
        });
        Ok(u64::try_from(before - inner.keys.len()).unwrap_or(0))
    }
}
