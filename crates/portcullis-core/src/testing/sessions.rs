//! The `browser_sessions` table in memory: one map by session digest.

use super::{MemoryStore, count};
use crate::UnixTime;
use crate::device::DeviceAuthorizationStatus;
use crate::secret::SecretDigest;
use crate::session::{BrowserSession, SessionStore};
use crate::store::StoreError;
use async_trait::async_trait;

#[async_trait]
impl SessionStore for MemoryStore {
    async fn session_insert(&self, session: &BrowserSession) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let key = *session.session_digest.as_bytes();
        if inner.sessions.contains_key(&key) {
            return Err(StoreError::Conflict("session".into()));
        }
        inner.sessions.insert(key, session.clone());
        Ok(())
    }

    async fn session_get(
        &self,
        session_digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<Option<BrowserSession>, StoreError> {
        Ok(self
            .lock()
            .sessions
            .get(session_digest.as_bytes())
            .filter(|s| now < s.expires_at)
            .cloned())
    }

    async fn session_delete(&self, session_digest: &SecretDigest) -> Result<bool, StoreError> {
        Ok(self
            .lock()
            .sessions
            .remove(session_digest.as_bytes())
            .is_some())
    }

    async fn session_delete_for_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let before = inner.sessions.len();
        inner.sessions.retain(|_, s| s.user_id != user_id);
        Ok(count(before - inner.sessions.len()))
    }

    async fn pending_grants_withdraw(
        &self,
        user_id: Option<&str>,
        client_id: Option<&str>,
        auth_time: Option<UnixTime>,
        since: Option<UnixTime>,
    ) -> Result<u64, StoreError> {
        let matches = |user: &str, client: &str, auth: UnixTime, created: UnixTime| {
            user_id.is_none_or(|u| u == user)
                && client_id.is_none_or(|c| c == client)
                && auth_time.is_none_or(|a| a == auth)
                && since.is_none_or(|t| created >= t)
        };
        let mut inner = self.lock();
        let before = inner.codes.len() + inner.devices.len();
        inner.codes.retain(|_, c| {
            c.consumed_at.is_some() || !matches(&c.user_id, &c.client_id, c.auth_time, c.created_at)
        });
        inner.devices.retain(|_, d| match &d.status {
            DeviceAuthorizationStatus::Approved { user_id, auth_time } => {
                d.consumed_at.is_some() || !matches(user_id, &d.client_id, *auth_time, d.created_at)
            }
            _ => true,
        });
        Ok(count(before - inner.codes.len() - inner.devices.len()))
    }

    async fn session_list(
        &self,
        user_id: Option<&str>,
        now: UnixTime,
    ) -> Result<Vec<BrowserSession>, StoreError> {
        let mut out: Vec<BrowserSession> = self
            .lock()
            .sessions
            .values()
            .filter(|s| now < s.expires_at && user_id.is_none_or(|u| s.user_id == u))
            .cloned()
            .collect();
        out.sort_by_key(|s| s.created_at);
        Ok(out)
    }
}
