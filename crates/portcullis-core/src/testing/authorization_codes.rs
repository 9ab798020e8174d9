//! The `authorization_codes` table in memory: one map by code digest.

use super::MemoryStore;
use crate::UnixTime;
use crate::authorization::code::{AuthorizationCode, AuthorizationCodeStore};
use crate::secret::SecretDigest;
use crate::store::StoreError;
use crate::tokens::refresh_token::RefreshToken;
use async_trait::async_trait;

#[async_trait]
impl AuthorizationCodeStore for MemoryStore {
    async fn authorization_code_insert(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let key = *code.code_digest.as_bytes();
        if inner.codes.contains_key(&key) {
            return Err(StoreError::Conflict("authorization code".into()));
        }
        inner.codes.insert(key, code.clone());
        Ok(())
    }

    async fn authorization_code_get(
        &self,
        code_digest: &SecretDigest,
    ) -> Result<Option<AuthorizationCode>, StoreError> {
        let mut inner = self.lock();
        let found = inner.codes.get(code_digest.as_bytes()).cloned();
        if let Some((jti, exp)) = inner.race_after_next_code_get.take()
            && let Some(code) = inner.codes.get_mut(code_digest.as_bytes())
        {
            code.consumed_at = code.consumed_at.or(Some(code.created_at));
            code.access_token_jti = Some(jti);
            code.access_token_expires_at = Some(exp);
        }
        Ok(found)
    }

    async fn authorization_code_consume(
        &self,
        code_digest: &SecretDigest,
        now: UnixTime,
        first_refresh_token: Option<&RefreshToken>,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let redeemable = inner
            .codes
            .get(code_digest.as_bytes())
            .is_some_and(|c| c.consumed_at.is_none() && now < c.expires_at);
        if !redeemable {
            return Ok(false);
        }
        // The refresh token first: it checks before it writes, so a conflict leaves the
        // store unchanged (the code is not burned), like the SQL transaction.
        if let Some(token) = first_refresh_token {
            inner.insert_refresh_token(token, access_token_jti, access_token_expires_at)?;
        }
        if let Some(code) = inner.codes.get_mut(code_digest.as_bytes()) {
            code.consumed_at = Some(now);
            code.access_token_jti = Some(access_token_jti.to_owned());
            code.access_token_expires_at = Some(access_token_expires_at);
        }
        Ok(true)
    }

    async fn authorization_code_revoke_tokens(
        &self,
        code_digest: &SecretDigest,
        family_id: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let Some(code) = inner
            .codes
            .get(code_digest.as_bytes())
            .filter(|c| c.consumed_at.is_some())
            .cloned()
        else {
            return Ok(false);
        };
        if let (Some(jti), Some(exp)) = (code.access_token_jti, code.access_token_expires_at) {
            inner.revoked.insert(jti, exp);
        }
        // Under the same lock: both or neither, like the SQL transaction.
        inner.revoke_refresh_family(family_id, now);
        Ok(true)
    }
}
