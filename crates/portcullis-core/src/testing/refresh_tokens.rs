//! The `refresh_tokens` and `family_access_tokens` tables in memory.

use super::{Inner, MemoryStore};
use crate::UnixTime;
use crate::secret::SecretDigest;
use crate::store::StoreError;
use crate::tokens::refresh_token::{RefreshFamily, RefreshToken, RefreshTokenStore};
use async_trait::async_trait;
use std::collections::BTreeMap;

#[async_trait]
impl RefreshTokenStore for MemoryStore {
    async fn refresh_token_insert(
        &self,
        token: &RefreshToken,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.insert_refresh_token(token, access_token_jti, access_token_expires_at)
    }

    async fn refresh_token_get(
        &self,
        token_digest: &SecretDigest,
    ) -> Result<Option<RefreshToken>, StoreError> {
        Ok(self
            .lock()
            .refresh_tokens
            .get(token_digest.as_bytes())
            .cloned())
    }

    async fn refresh_token_rotate(
        &self,
        old: &SecretDigest,
        successor: &RefreshToken,
        now: UnixTime,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(family_id) = inner
            .refresh_tokens
            .get(old.as_bytes())
            .filter(|t| t.rotated_at.is_none() && t.revoked_at.is_none() && now < t.expires_at)
            .map(|t| t.family_id.clone())
        else {
            return Ok(false);
        };
        if family_id != successor.family_id {
            return Err(StoreError::Other(
                "the successor is not in the family of the token it replaces".into(),
            ));
        }
        // All checks before any write: a failure leaves the store unchanged.
        inner.insert_refresh_token(successor, access_token_jti, access_token_expires_at)?;
        if let Some(token) = inner.refresh_tokens.get_mut(old.as_bytes()) {
            token.rotated_at = Some(now);
        }
        Ok(true)
    }

    async fn refresh_family_revoke(
        &self,
        family_id: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        Ok(self.lock().revoke_refresh_family(family_id, now))
    }

    async fn access_token_family(&self, jti: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()
            .family_access_tokens
            .get(jti)
            .map(|(family, _)| family.clone()))
    }

    async fn refresh_family_list(
        &self,
        user_id: Option<&str>,
        client_id: Option<&str>,
        now: UnixTime,
    ) -> Result<Vec<RefreshFamily>, StoreError> {
        let inner = self.lock();
        let mut families: BTreeMap<String, RefreshFamily> = BTreeMap::new();
        for t in inner.refresh_tokens.values().filter(|t| {
            t.revoked_at.is_none()
                && now < t.expires_at
                && user_id.is_none_or(|u| t.user_id == u)
                && client_id.is_none_or(|c| t.client_id == c)
        }) {
            let f = families
                .entry(t.family_id.clone())
                .or_insert_with(|| RefreshFamily {
                    family_id: t.family_id.clone(),
                    client_id: t.client_id.clone(),
                    user_id: t.user_id.clone(),
                    scopes: t.scopes.clone(),
                    auth_time: t.auth_time,
                    created_at: t.created_at,
                    last_used_at: t.created_at,
                    live_access_tokens: 0,
                });
            f.created_at = f.created_at.min(t.created_at);
            f.last_used_at = f.last_used_at.max(t.created_at);
        }
        let mut out: Vec<RefreshFamily> = families
            .into_values()
            .map(|mut f| {
                f.live_access_tokens = super::count(
                    inner
                        .family_access_tokens
                        .values()
                        .filter(|(family, exp)| *family == f.family_id && now < *exp)
                        .count(),
                );
                f
            })
            .collect();
        out.sort_by(|a, b| (a.created_at, &a.family_id).cmp(&(b.created_at, &b.family_id)));
        Ok(out)
    }
}

impl Inner {
    /// Revokes every refresh token of `family_id` not yet revoked and puts the family's
    /// access tokens on the revocation list; how many refresh tokens it revoked.
    pub(super) fn revoke_refresh_family(&mut self, family_id: &str, now: UnixTime) -> u64 {
        let mut revoked = 0;
        for token in self
            .refresh_tokens
            .values_mut()
            .filter(|t| t.family_id == family_id && t.revoked_at.is_none())
        {
            token.revoked_at = Some(now);
            revoked += 1;
        }
        let access_tokens: Vec<(String, UnixTime)> = self
            .family_access_tokens
            .iter()
            .filter(|(_, (family, _))| family == family_id)
            .map(|(jti, (_, exp))| (jti.clone(), *exp))
            .collect();
        for (jti, exp) in access_tokens {
            self.revoked.entry(jti).or_insert(exp);
        }
        revoked
    }

    /// A refresh token and the access token issued with it, both or neither:
    /// [`StoreError::Conflict`] if the digest or the `jti` exists.
    pub(super) fn insert_refresh_token(
        &mut self,
        token: &RefreshToken,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        let key = *token.token_digest.as_bytes();
        if std::mem::take(&mut self.conflict_on_next_refresh_insert)
            || self.refresh_tokens.contains_key(&key)
        {
            return Err(StoreError::Conflict("refresh token".into()));
        }
        if self.family_access_tokens.contains_key(access_token_jti) {
            return Err(StoreError::Conflict(format!(
                "access token `{access_token_jti}`"
            )));
        }
        self.refresh_tokens.insert(key, token.clone());
        self.family_access_tokens.insert(
            access_token_jti.to_owned(),
            (token.family_id.clone(), access_token_expires_at),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::purge::PurgeStore;
    use crate::tokens::access_token::RevokedAccessTokenStore;

    fn refresh(name: &str, family: &str) -> RefreshToken {
        RefreshToken {
            token_digest: SecretDigest::of(name),
            family_id: family.into(),
            client_id: "web".into(),
            user_id: "alice".into(),
            scopes: vec!["openid".into()],
            resources: vec![],
            auth_time: 0,
            created_at: 0,
            expires_at: 100,
            rotated_at: None,
            revoked_at: None,
            dpop_jkt: None,
        }
    }

    #[tokio::test]
    async fn refresh_rotation_succeeds_once_and_stops_at_expiry() {
        let store = MemoryStore::new();
        let t0 = refresh("t0", "f");
        store.refresh_token_insert(&t0, "j0", 50).await.unwrap();
        let t1 = refresh("t1", "f");
        assert!(
            store
                .refresh_token_rotate(&t0.token_digest, &t1, 10, "j1", 60)
                .await
                .unwrap()
        );
        let replay = refresh("replay", "f");
        assert!(
            !store
                .refresh_token_rotate(&t0.token_digest, &replay, 11, "jr", 61)
                .await
                .unwrap()
        );
        assert_eq!(
            store.refresh_token_get(&replay.token_digest).await.unwrap(),
            None
        );
        assert_eq!(store.access_token_family("jr").await.unwrap(), None);
        let stored = store.refresh_token_get(&t0.token_digest).await.unwrap();
        assert_eq!(stored.and_then(|t| t.rotated_at), Some(10));
        // At its expires_at, t1 no longer rotates.
        assert!(
            !store
                .refresh_token_rotate(&t1.token_digest, &refresh("t2", "f"), 100, "j2", 150)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn refresh_rotation_into_another_family_writes_nothing() {
        let store = MemoryStore::new();
        let t0 = refresh("t0", "f");
        store.refresh_token_insert(&t0, "j0", 50).await.unwrap();
        let stray = refresh("stray", "g");
        assert!(matches!(
            store
                .refresh_token_rotate(&t0.token_digest, &stray, 10, "j1", 60)
                .await,
            Err(StoreError::Other(_))
        ));
        assert_eq!(
            store.refresh_token_get(&t0.token_digest).await.unwrap(),
            Some(t0)
        );
        assert_eq!(store.access_token_family("j1").await.unwrap(), None);
    }

    #[tokio::test]
    async fn refresh_family_revoke_revokes_its_tokens_and_access_tokens_once() {
        let store = MemoryStore::new();
        let t0 = refresh("t0", "f");
        let g0 = refresh("g0", "g");
        store.refresh_token_insert(&t0, "j0", 50).await.unwrap();
        store.refresh_token_insert(&g0, "jg", 50).await.unwrap();
        store
            .refresh_token_rotate(&t0.token_digest, &refresh("t1", "f"), 10, "j1", 60)
            .await
            .unwrap();
        assert_eq!(store.refresh_family_revoke("f", 20).await.unwrap(), 2);
        assert_eq!(store.refresh_family_revoke("f", 30).await.unwrap(), 0);
        let t1 = store
            .refresh_token_get(&SecretDigest::of("t1"))
            .await
            .unwrap();
        assert_eq!(t1.and_then(|t| t.revoked_at), Some(20));
        assert!(store.access_token_is_revoked("j0").await.unwrap());
        assert!(store.access_token_is_revoked("j1").await.unwrap());
        assert!(!store.access_token_is_revoked("jg").await.unwrap());
        let counts = store.purge_expired(100, 10).await.unwrap();
        assert_eq!((counts.refresh_tokens, counts.family_access_tokens), (3, 3));
    }
}
