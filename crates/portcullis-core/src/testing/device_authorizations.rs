//! The `device_authorizations` table in memory: one map by device code digest.

use super::MemoryStore;
use crate::UnixTime;
use crate::device::{
    DeviceAuthorization, DeviceAuthorizationStatus, DeviceAuthorizationStore, DevicePoll,
    SLOW_DOWN_INCREMENT,
};
use crate::secret::SecretDigest;
use crate::store::StoreError;
use crate::tokens::refresh_token::RefreshToken;
use async_trait::async_trait;

#[async_trait]
impl DeviceAuthorizationStore for MemoryStore {
    async fn device_authorization_insert(
        &self,
        authorization: &DeviceAuthorization,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.device_insert_conflicts > 0 {
            inner.device_insert_conflicts -= 1;
            return Err(StoreError::Conflict("user code (simulated)".into()));
        }
        let key = *authorization.device_code_digest.as_bytes();
        if inner.devices.contains_key(&key) {
            return Err(StoreError::Conflict("device code".into()));
        }
        if inner
            .devices
            .values()
            .any(|d| d.user_code_digest == authorization.user_code_digest)
        {
            return Err(StoreError::Conflict("user code".into()));
        }
        inner.devices.insert(key, authorization.clone());
        Ok(())
    }

    async fn device_authorization_get(
        &self,
        device_code_digest: &SecretDigest,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        Ok(self
            .lock()
            .devices
            .get(device_code_digest.as_bytes())
            .cloned())
    }

    async fn device_authorization_find_by_user_code(
        &self,
        user_code_digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        Ok(self
            .lock()
            .devices
            .values()
            .find(|d| {
                d.user_code_digest == *user_code_digest
                    && d.status == DeviceAuthorizationStatus::Pending
                    && d.consumed_at.is_none()
                    && now < d.expires_at
            })
            .cloned())
    }

    /// Nothing here predates keyed user codes: the memory store is never migrated.
    async fn device_authorization_unkeyed_user_codes(
        &self,
        _limit: u32,
    ) -> Result<Vec<(SecretDigest, SecretDigest)>, StoreError> {
        Ok(Vec::new())
    }

    async fn device_authorization_key_user_code(
        &self,
        _device_code_digest: &SecretDigest,
        _unkeyed: &SecretDigest,
        _keyed: &SecretDigest,
    ) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn device_authorization_decide(
        &self,
        device_code_digest: &SecretDigest,
        decision: &DeviceAuthorizationStatus,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        if *decision == DeviceAuthorizationStatus::Pending {
            return Ok(false);
        }
        let mut inner = self.lock();
        match inner
            .devices
            .get_mut(device_code_digest.as_bytes())
            .filter(|d| d.status == DeviceAuthorizationStatus::Pending && now < d.expires_at)
        {
            Some(device) => {
                device.status = decision.clone();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn device_authorization_poll(
        &self,
        device_code_digest: &SecretDigest,
        client_id: &str,
        now: UnixTime,
    ) -> Result<Option<DevicePoll>, StoreError> {
        let mut inner = self.lock();
        let race = inner.consume_after_next_device_poll.take();
        let Some(device) = inner
            .devices
            .get_mut(device_code_digest.as_bytes())
            .filter(|d| d.client_id == client_id)
        else {
            return Ok(None);
        };
        let too_fast = device
            .last_polled_at
            .is_some_and(|last| now < last.saturating_add(device.interval));
        if too_fast {
            device.interval = device.interval.saturating_add(SLOW_DOWN_INCREMENT);
        }
        device.last_polled_at = Some(now);
        let poll = DevicePoll {
            authorization: device.clone(),
            too_fast,
        };
        if let Some(at) = race {
            device.consumed_at = device.consumed_at.or(Some(at));
        }
        Ok(Some(poll))
    }

    async fn device_authorization_consume(
        &self,
        device_code_digest: &SecretDigest,
        now: UnixTime,
        first_refresh_token: Option<&RefreshToken>,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let redeemable = inner
            .devices
            .get(device_code_digest.as_bytes())
            .is_some_and(|d| {
                matches!(d.status, DeviceAuthorizationStatus::Approved { .. })
                    && d.consumed_at.is_none()
                    && now < d.expires_at
            });
        if !redeemable {
            return Ok(false);
        }
        // The refresh token first: it checks before it writes, so a conflict leaves the
        // store unchanged (the code is not burned), like the SQL transaction.
        if let Some(token) = first_refresh_token {
            inner.insert_refresh_token(token, access_token_jti, access_token_expires_at)?;
        }
        if let Some(device) = inner.devices.get_mut(device_code_digest.as_bytes()) {
            device.consumed_at = Some(now);
        }
        Ok(true)
    }
}
