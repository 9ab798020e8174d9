//! Test support: an in-memory [`Store`] and a key ring, for core's unit tests and
//! benchmarks (feature `testing`; never built into the server). The SQL stores are the
//! real implementations; this one keeps the same contract in the simplest way (one
//! mutex, so every method is atomic), without persistence.

use crate::UnixTime;
use crate::authorization::code::AuthorizationCode;
use crate::authorization::pending::PendingAuthorization;
use crate::client::{Client, ClientSecrets, RecordSource};
use crate::device::{
    DeviceAuthorization, DeviceAuthorizationStatus, DevicePoll, SLOW_DOWN_INCREMENT,
};
use crate::keys::{
    KeyRing, KeyRingError, KeyStatus, MasterKey, SigningAlgorithm, StoredSigningKey,
};
use crate::secret::SecretDigest;
use crate::session::BrowserSession;
use crate::store::{PurgeCounts, RateKey, Store, StoreError};
use crate::tokens::refresh_token::RefreshToken;
use crate::user::User;
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A key ring with a fresh key per algorithm, built at `now`.
///
/// # Errors
/// [`KeyRingError`] if key generation fails.
pub fn key_ring(now: UnixTime) -> Result<KeyRing, KeyRingError> {
    let (master, _) = MasterKey::generate()?;
    let mut keys = Vec::new();
    for alg in SigningAlgorithm::ALL {
        keys.push(crate::keys::generate(alg, &master, now)?.0);
    }
    KeyRing::build(&keys, &master, now, None)
}

/// An in-memory [`Store`].
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

/// A simulated concurrent redemption: `(jti, exp)` of the other request's token.
type Race = (String, UnixTime);

#[derive(Debug, Default)]
struct Inner {
    clients: BTreeMap<String, Client>,
    users: BTreeMap<String, User>,
    keys: Vec<StoredSigningKey>,
    sessions: BTreeMap<[u8; 32], BrowserSession>,
    pending: BTreeMap<[u8; 32], PendingAuthorization>,
    consents: BTreeMap<(String, String), BTreeSet<String>>,
    codes: BTreeMap<[u8; 32], AuthorizationCode>,
    revoked: BTreeMap<String, UnixTime>,
    refresh_tokens: BTreeMap<[u8; 32], RefreshToken>,
    /// `jti` → (family_id, exp) of the access tokens issued in a refresh token family.
    family_access_tokens: BTreeMap<String, (String, UnixTime)>,
    /// Device authorizations by device code digest.
    devices: BTreeMap<[u8; 32], DeviceAuthorization>,
    /// How many coming device authorization inserts fail with a user code conflict.
    device_insert_conflicts: usize,
    /// Consume the polled device authorization right after the next poll returns.
    consume_after_next_device_poll: Option<UnixTime>,
    /// The next refresh token insert fails with a conflict (checked before any write).
    conflict_on_next_refresh_insert: bool,
    race_after_next_code_get: Option<Race>,
    /// Rate-limit buckets: key → theoretical arrival time (ms); missing: full.
    rate_limits: BTreeMap<String, i64>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The stored code with this digest (for assertions).
    pub fn code(&self, digest: &SecretDigest) -> Option<AuthorizationCode> {
        self.lock().codes.get(digest.as_bytes()).cloned()
    }

    /// Simulates another node redeeming the code right after the next
    /// `authorization_code_get` read it: that read returns the unused code, then the
    /// code is consumed with `(jti, exp)` before the caller's own consume runs.
    pub fn consume_after_next_get(&self, jti: &str, exp: UnixTime) {
        self.lock().race_after_next_code_get = Some((jti.to_owned(), exp));
    }

    /// Makes the next `n` `device_authorization_insert` calls fail with
    /// [`StoreError::Conflict`], as if their user code were taken.
    pub fn conflict_on_next_device_inserts(&self, n: usize) {
        self.lock().device_insert_conflicts = n;
    }

    /// Simulates another poll on another node redeeming a device authorization right
    /// after the next `device_authorization_poll` read it: that poll returns the row
    /// unconsumed, then the row is consumed at `at` before the caller's own consume.
    pub fn consume_device_after_next_poll(&self, at: UnixTime) {
        self.lock().consume_after_next_device_poll = Some(at);
    }

    /// Makes the next refresh token insert (on its own, in a rotation or in a code or
    /// device redemption) fail with [`StoreError::Conflict`], writing nothing.
    pub fn conflict_on_next_refresh_insert(&self) {
        self.lock().conflict_on_next_refresh_insert = true;
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn client_get(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        Ok(self.lock().clients.get(client_id).cloned())
    }

    async fn client_list(&self) -> Result<Vec<Client>, StoreError> {
        Ok(self.lock().clients.values().cloned().collect())
    }

    async fn client_insert(&self, client: &Client) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.clients.contains_key(&client.client_id) {
            return Err(StoreError::Conflict(client.client_id.clone()));
        }
        inner
            .clients
            .insert(client.client_id.clone(), client.clone());
        Ok(())
    }

    async fn client_upsert(&self, client: &Client) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let mut client = client.clone();
        if let Some(old) = inner.clients.get(&client.client_id) {
            client.created_at = old.created_at;
        }
        inner.clients.insert(client.client_id.clone(), client);
        Ok(())
    }

    async fn client_delete(&self, client_id: &str) -> Result<bool, StoreError> {
        Ok(self.lock().clients.remove(client_id).is_some())
    }

    async fn user_delete_config_except(&self, keep: &[String]) -> Result<Vec<String>, StoreError> {
        let mut inner = self.lock();
        let mut gone: Vec<String> = inner
            .users
            .values()
            .filter(|u| u.source == RecordSource::Config && !keep.contains(&u.username))
            .map(|u| u.username.clone())
            .collect();
        gone.sort_unstable();
        inner.users.retain(|_, u| !gone.contains(&u.username));
        Ok(gone)
    }

    async fn client_delete_config_except(
        &self,
        keep: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut inner = self.lock();
        let gone: Vec<String> = inner
            .clients
            .values()
            .filter(|c| c.source == RecordSource::Config && !keep.contains(&c.client_id))
            .map(|c| c.client_id.clone())
            .collect();
        for id in &gone {
            inner.clients.remove(id);
        }
        Ok(gone)
    }

    async fn client_set_secrets(
        &self,
        client_id: &str,
        secrets: &ClientSecrets,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let client = inner
            .clients
            .get_mut(client_id)
            .ok_or_else(|| StoreError::NotFound(client_id.to_owned()))?;
        client.secrets = Some(secrets.clone());
        client.updated_at = now;
        Ok(())
    }

    async fn user_get_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .lock()
            .users
            .values()
            .find(|u| u.username == username)
            .cloned())
    }

    async fn user_list(&self) -> Result<Vec<User>, StoreError> {
        let mut users: Vec<User> = self.lock().users.values().cloned().collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    async fn user_insert(&self, user: &User) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner
            .users
            .values()
            .any(|u| u.username == user.username || u.user_id == user.user_id)
        {
            return Err(StoreError::Conflict(user.username.clone()));
        }
        inner.users.insert(user.user_id.clone(), user.clone());
        Ok(())
    }

    async fn user_upsert(&self, user: &User) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let existing = inner
            .users
            .values()
            .find(|u| u.username == user.username)
            .cloned();
        let mut user = user.clone();
        match existing {
            Some(old) => {
                user.user_id = old.user_id;
                user.created_at = old.created_at;
            }
            None if inner.users.contains_key(&user.user_id) => {
                return Err(StoreError::Conflict(user.user_id.clone()));
            }
            None => {}
        }
        inner.users.insert(user.user_id.clone(), user);
        Ok(())
    }

    async fn user_delete(&self, username: &str) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        let before = inner.users.len();
        inner.users.retain(|_, u| u.username != username);
        Ok(inner.users.len() != before)
    }

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

    async fn signing_keys_purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        let before = inner.keys.len();
        inner.keys.retain(|k| {
            k.status != KeyStatus::Retired || k.publish_until.is_some_and(|until| now < until)
        });
        Ok(u64::try_from(before - inner.keys.len()).unwrap_or(0))
    }

    async fn user_get(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        Ok(self.lock().users.get(user_id).cloned())
    }

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

    async fn consent_get(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<BTreeSet<String>, StoreError> {
        Ok(self
            .lock()
            .consents
            .get(&(user_id.to_owned(), client_id.to_owned()))
            .cloned()
            .unwrap_or_default())
    }

    async fn consent_grant(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &BTreeSet<String>,
        _now: UnixTime,
    ) -> Result<(), StoreError> {
        self.lock()
            .consents
            .entry((user_id.to_owned(), client_id.to_owned()))
            .or_default()
            .extend(scopes.iter().cloned());
        Ok(())
    }

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
        _now: UnixTime,
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
        Ok(true)
    }

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
        let mut inner = self.lock();
        let mut revoked = 0;
        for token in inner
            .refresh_tokens
            .values_mut()
            .filter(|t| t.family_id == family_id && t.revoked_at.is_none())
        {
            token.revoked_at = Some(now);
            revoked += 1;
        }
        let access_tokens: Vec<(String, UnixTime)> = inner
            .family_access_tokens
            .iter()
            .filter(|(_, (family, _))| family == family_id)
            .map(|(jti, (_, exp))| (jti.clone(), *exp))
            .collect();
        for (jti, exp) in access_tokens {
            inner.revoked.entry(jti).or_insert(exp);
        }
        Ok(revoked)
    }

    async fn access_token_family(&self, jti: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .lock()
            .family_access_tokens
            .get(jti)
            .map(|(family, _)| family.clone()))
    }

    async fn access_token_revoke(&self, jti: &str, expires_at: UnixTime) -> Result<(), StoreError> {
        self.lock().revoked.insert(jti.to_owned(), expires_at);
        Ok(())
    }

    async fn access_token_is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(self.lock().revoked.contains_key(jti))
    }

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

    async fn purge_expired(&self, now: UnixTime, limit: u32) -> Result<PurgeCounts, StoreError> {
        let mut inner = self.lock();
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(PurgeCounts {
            pending_authorizations: purge(&mut inner.pending, limit, |p| p.expires_at <= now),
            browser_sessions: purge(&mut inner.sessions, limit, |s| s.expires_at <= now),
            authorization_codes: purge(&mut inner.codes, limit, |c| {
                c.expires_at <= now && c.access_token_expires_at.is_none_or(|exp| exp <= now)
            }),
            revoked_access_tokens: purge(&mut inner.revoked, limit, |exp| *exp <= now),
            refresh_tokens: purge(&mut inner.refresh_tokens, limit, |t| t.expires_at <= now),
            family_access_tokens: purge(&mut inner.family_access_tokens, limit, |(_, exp)| {
                *exp <= now
            }),
            device_authorizations: purge(&mut inner.devices, limit, |d| d.expires_at <= now),
            rate_limits: purge(&mut inner.rate_limits, limit, |tat| {
                *tat <= now.saturating_mul(1000)
            }),
        })
    }

    async fn rate_limit_take(
        &self,
        keys: &[RateKey],
        now_ms: i64,
    ) -> Result<Result<Vec<u32>, u64>, StoreError> {
        let mut inner = self.lock();
        // Work on a copy, kept only if every key allows (all or nothing).
        let mut taken = inner.rate_limits.clone();
        let mut left = Vec::with_capacity(keys.len());
        let mut wait: Option<u64> = None;
        for key in keys {
            match key.check(taken.get(&key.key).copied(), now_ms) {
                Ok((tat, cells)) => {
                    taken.insert(key.key.clone(), tat);
                    left.push(cells);
                }
                Err(retry) => wait = wait.max(Some(retry)),
            }
        }
        if let Some(retry) = wait {
            return Ok(Err(retry));
        }
        inner.rate_limits = taken;
        Ok(Ok(left))
    }

    async fn rate_limit_refund(&self, keys: &[RateKey], now_ms: i64) -> Result<(), StoreError> {
        let mut inner = self.lock();
        for key in keys {
            if let Some(tat) = inner.rate_limits.get_mut(&key.key) {
                *tat = key.refunded(*tat, now_ms);
            }
        }
        Ok(())
    }
}

impl Inner {
    /// A refresh token and the access token issued with it, both or neither:
    /// [`StoreError::Conflict`] if the digest or the `jti` exists.
    fn insert_refresh_token(
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

/// Removes at most `limit` entries of `map` matching `expired`; returns how many.
fn purge<K: Ord + Clone, V>(
    map: &mut BTreeMap<K, V>,
    limit: usize,
    expired: impl Fn(&V) -> bool,
) -> u64 {
    let gone: Vec<K> = map
        .iter()
        .filter(|(_, v)| expired(v))
        .map(|(k, _)| k.clone())
        .take(limit)
        .collect();
    for key in &gone {
        map.remove(key);
    }
    count(gone.len())
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

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
