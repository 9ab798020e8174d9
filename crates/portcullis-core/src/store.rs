//! The storage interface. `portcullis-store` implements it for SQLite and PostgreSQL.
//!
//! Rules every implementation keeps (DESIGN.md "Storage"): each method is atomic;
//! multi-row changes run in one transaction (`BEGIN IMMEDIATE` on SQLite); single use
//! is one conditional statement, never SELECT-then-UPDATE.

use crate::UnixTime;
use crate::authorization::code::AuthorizationCode;
use crate::authorization::pending::PendingAuthorization;
use crate::client::{Client, ClientSecrets};
use crate::device::{DeviceAuthorization, DeviceAuthorizationStatus, DevicePoll};
use crate::keys::{SigningAlgorithm, StoredSigningKey};
use crate::secret::SecretDigest;
use crate::session::BrowserSession;
use crate::tokens::refresh_token::RefreshToken;
use crate::user::User;
use async_trait::async_trait;
use std::collections::BTreeSet;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with the same key exists (client_id, username, active key per alg).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The record to change does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database cannot be reached or timed out: retry later (503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A stored value could not be decoded (a bug or manual tampering).
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// Any other database error.
    #[error("database error: {0}")]
    Other(String),
}

/// Persistent state of the authorization server.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Cheap round trip (`SELECT 1`) for `/health/ready`.
    async fn ping(&self) -> Result<(), StoreError>;

    /// The connection pool right now, for `/metrics`; `None` for a store without a
    /// pool (test doubles).
    fn pool_status(&self) -> Option<PoolStatus> {
        None
    }

    /// The client with this id, if any.
    async fn client_get(&self, client_id: &str) -> Result<Option<Client>, StoreError>;
    /// Every client, ordered by client_id.
    async fn client_list(&self) -> Result<Vec<Client>, StoreError>;
    /// Inserts a new client. [`StoreError::Conflict`] if the id exists.
    async fn client_insert(&self, client: &Client) -> Result<(), StoreError>;
    /// Inserts or replaces a client by id, keeping the original `created_at`.
    async fn client_upsert(&self, client: &Client) -> Result<(), StoreError>;
    /// Deletes a client; `false` if there was none.
    async fn client_delete(&self, client_id: &str) -> Result<bool, StoreError>;
    /// Deletes clients whose source is `config` and whose id is not in `keep` (config
    /// as code: a client removed from the file is removed). Returns the deleted ids.
    async fn client_delete_config_except(&self, keep: &[String])
    -> Result<Vec<String>, StoreError>;
    /// Replaces a client's secrets in one statement. [`StoreError::NotFound`] if absent.
    async fn client_set_secrets(
        &self,
        client_id: &str,
        secrets: &ClientSecrets,
        now: UnixTime,
    ) -> Result<(), StoreError>;

    /// The user with this username, if any.
    async fn user_get_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// Every user, ordered by username.
    async fn user_list(&self) -> Result<Vec<User>, StoreError>;
    /// Inserts a new user. [`StoreError::Conflict`] if the username exists.
    async fn user_insert(&self, user: &User) -> Result<(), StoreError>;
    /// Inserts or updates a user by username, keeping its `user_id` and `created_at`.
    /// [`StoreError::Conflict`] if `user.user_id` belongs to another username.
    async fn user_upsert(&self, user: &User) -> Result<(), StoreError>;
    /// Deletes a user by username; `false` if there was none.
    async fn user_delete(&self, username: &str) -> Result<bool, StoreError>;
    /// Deletes users whose source is `config` and whose username is not in `keep` (a
    /// user removed from the file can no longer sign in; their sessions, consents and
    /// tokens go with them). Returns the deleted usernames, sorted.
    async fn user_delete_config_except(&self, keep: &[String]) -> Result<Vec<String>, StoreError>;

    /// Every stored signing key (active, retired, expired), oldest first.
    async fn signing_keys_list(&self) -> Result<Vec<StoredSigningKey>, StoreError>;
    /// Inserts `key` as the active key of its algorithm, only if that algorithm has
    /// none: [`StoreError::Conflict`] otherwise (two nodes starting at once).
    async fn signing_key_insert_first(&self, key: &StoredSigningKey) -> Result<(), StoreError>;
    /// In one transaction, inserts each of `new_keys` (at most one per algorithm) as
    /// the `next` key of its algorithm, signing from its `activate_at`. All or
    /// nothing; [`StoreError::Conflict`] if an algorithm already has a `next` key (a
    /// rotation is pending).
    async fn signing_key_insert_next(
        &self,
        new_keys: &[StoredSigningKey],
    ) -> Result<(), StoreError>;
    /// Promotes the `next` key `kid` to `active` if its `activate_at` is at or before
    /// `now`, retiring the active key of its algorithm (`retired_at = now`,
    /// `publish_until`), in one transaction. `true` if this call promoted it; `false`
    /// if it is not a due `next` key (another node promoted it first: of nodes racing,
    /// exactly one gets `true`).
    async fn signing_key_promote(
        &self,
        kid: &str,
        now: UnixTime,
        publish_until: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Emergency rotation, in one transaction, for each key of `new_keys` (at most one
    /// per algorithm): retires the active and any `next` key of its algorithm (setting
    /// `retired_at = now` and `publish_until`) and inserts it as active. All or nothing.
    /// Two rotations racing from different nodes: on PostgreSQL the loser gets
    /// [`StoreError::Conflict`] (reload and retry); SQLite serialises them.
    async fn signing_key_rotate(
        &self,
        new_keys: &[StoredSigningKey],
        now: UnixTime,
        publish_until: UnixTime,
    ) -> Result<(), StoreError>;
    /// Deletes retired keys whose `publish_until` is at or before `now`; returns how many.
    async fn signing_keys_purge(&self, now: UnixTime) -> Result<u64, StoreError>;

    /// The user with this id (`sub`), if any.
    async fn user_get(&self, user_id: &str) -> Result<Option<User>, StoreError>;

    /// Stores a new browser session. [`StoreError::Conflict`] if the digest exists.
    async fn session_insert(&self, session: &BrowserSession) -> Result<(), StoreError>;
    /// The session with this digest if it exists and `now < expires_at`.
    async fn session_get(
        &self,
        session_digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<Option<BrowserSession>, StoreError>;
    /// Deletes a session (logout); `false` if there was none.
    async fn session_delete(&self, session_digest: &SecretDigest) -> Result<bool, StoreError>;
    /// Deletes every browser session of `user_id` (their password changed, or an
    /// administrator ends their logins); returns how many rows were deleted. One
    /// statement, so a session inserted afterwards is the only one that survives.
    async fn session_delete_for_user(&self, user_id: &str) -> Result<u64, StoreError>;

    /// Stores a pending authorization request. [`StoreError::Conflict`] if the digest exists.
    async fn pending_authorization_insert(
        &self,
        pending: &PendingAuthorization,
    ) -> Result<(), StoreError>;
    /// The pending request with this digest if it exists and `now < expires_at`.
    async fn pending_authorization_get(
        &self,
        id_digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<Option<PendingAuthorization>, StoreError>;
    /// Records who logged in during the request; `false` if it is gone or expired.
    async fn pending_authorization_set_user(
        &self,
        id_digest: &SecretDigest,
        user_id: &str,
        auth_time: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Deletes the pending request and returns it if it was live (`now < expires_at`):
    /// one statement (`DELETE … RETURNING`), so two submissions cannot both finish it.
    async fn pending_authorization_take(
        &self,
        id_digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<Option<PendingAuthorization>, StoreError>;

    /// The scopes `user_id` has approved for `client_id` (empty if none).
    async fn consent_get(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<BTreeSet<String>, StoreError>;
    /// Adds `scopes` to what `user_id` has approved for `client_id` (a union, atomic).
    async fn consent_grant(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &BTreeSet<String>,
        now: UnixTime,
    ) -> Result<(), StoreError>;

    /// Stores a new authorization code. [`StoreError::Conflict`] if the digest exists.
    async fn authorization_code_insert(&self, code: &AuthorizationCode) -> Result<(), StoreError>;
    /// The code with this digest, consumed or not, expired or not.
    async fn authorization_code_get(
        &self,
        code_digest: &SecretDigest,
    ) -> Result<Option<AuthorizationCode>, StoreError>;
    /// Single use (RFC 6749 §4.1.2), in one transaction: marks the code used,
    /// recording the access token issued for it, with one conditional statement
    /// (`… WHERE consumed_at IS NULL AND expires_at > now`) and, only if that marked
    /// it, stores `first_refresh_token` (when given: the first of its family) and
    /// records `access_token_jti` (valid until `access_token_expires_at`) in that
    /// family, as [`Store::refresh_token_insert`] does. `true` for exactly one caller;
    /// `false`, nothing written, if it was already used, expired or absent. An error
    /// (say [`StoreError::Conflict`] on the refresh token or the jti) writes nothing
    /// either, so the code can still be redeemed. Why one transaction: with the refresh
    /// token stored on its own, a consume that failed after it (or a crash between the
    /// two) left the code redeemable, and a retry added a second live refresh token to
    /// the family; a losing racer stored one too.
    async fn authorization_code_consume(
        &self,
        code_digest: &SecretDigest,
        now: UnixTime,
        first_refresh_token: Option<&RefreshToken>,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<bool, StoreError>;
    /// RFC 6749 §4.1.2 replay: revokes the tokens issued from a consumed code (its
    /// access token's `jti` goes to the revocation list until its `exp`). Idempotent;
    /// `false` if the code is absent or was never consumed.
    async fn authorization_code_revoke_tokens(
        &self,
        code_digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<bool, StoreError>;

    /// Stores the first refresh token of a family on its own (the grants store theirs
    /// with the consume of their code, [`Store::authorization_code_consume`] and
    /// [`Store::device_authorization_consume`]), and records `access_token_jti` (valid until `access_token_expires_at`) as
    /// issued in that family, so revoking the family revokes it. One transaction.
    /// [`StoreError::Conflict`] if the digest exists.
    async fn refresh_token_insert(
        &self,
        token: &RefreshToken,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<(), StoreError>;
    /// The refresh token with this digest, whatever its state.
    async fn refresh_token_get(
        &self,
        token_digest: &SecretDigest,
    ) -> Result<Option<RefreshToken>, StoreError>;
    /// Rotation, in one transaction: marks `old` rotated (`rotated_at = now`) only if it
    /// is live (`rotated_at IS NULL AND revoked_at IS NULL AND expires_at > now`, one
    /// conditional UPDATE), then inserts `successor` (same family) and records
    /// `access_token_jti` in the family. `true` for exactly one of racing callers;
    /// `false` (nothing written) when `old` was not live. [`StoreError::Other`]
    /// (nothing written) if `successor` is not in the family of `old`. Serialised with
    /// [`Store::refresh_family_revoke`] of the same family, so a revoke never misses a
    /// successor committed while it runs.
    async fn refresh_token_rotate(
        &self,
        old: &SecretDigest,
        successor: &RefreshToken,
        now: UnixTime,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Revokes a family in one transaction: every refresh token of it gets
    /// `revoked_at = now` (those already revoked keep theirs), and every access token
    /// recorded in it goes on the revocation list until its `exp`. Returns how many
    /// refresh tokens were newly revoked. Idempotent.
    async fn refresh_family_revoke(
        &self,
        family_id: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError>;
    /// The family an access token was issued in, if it was recorded in one.
    async fn access_token_family(&self, jti: &str) -> Result<Option<String>, StoreError>;

    /// Adds an access token's `jti` to the revocation list until `expires_at`. Idempotent.
    async fn access_token_revoke(&self, jti: &str, expires_at: UnixTime) -> Result<(), StoreError>;
    /// Whether the access token with this `jti` has been revoked.
    async fn access_token_is_revoked(&self, jti: &str) -> Result<bool, StoreError>;

    /// RFC 8628 §3.2: stores a new device authorization. [`StoreError::Conflict`] if
    /// its device code digest or its user code digest is already stored (the caller
    /// draws a new user code and retries).
    async fn device_authorization_insert(
        &self,
        authorization: &DeviceAuthorization,
    ) -> Result<(), StoreError>;
    /// The device authorization with this device code digest, whatever its state.
    async fn device_authorization_get(
        &self,
        device_code_digest: &SecretDigest,
    ) -> Result<Option<DeviceAuthorization>, StoreError>;
    /// RFC 8628 §3.3: the authorization a user code names, only if it is still
    /// waiting for the user (`Pending`, not consumed) and `now < expires_at`.
    async fn device_authorization_find_by_user_code(
        &self,
        user_code_digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<Option<DeviceAuthorization>, StoreError>;
    /// Records the user's decision: `Approved` or `Denied` (never `Pending`), in one
    /// conditional statement (`… WHERE status = 'pending' AND expires_at > now`).
    /// `true` for exactly one caller; `false` if it was decided already, expired or
    /// absent. A `Pending` decision writes nothing and returns `false`.
    async fn device_authorization_decide(
        &self,
        device_code_digest: &SecretDigest,
        decision: &DeviceAuthorizationStatus,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
    /// RFC 8628 §3.5: records a poll by `client_id` at `now` in ONE statement and
    /// returns the row after it: `too_fast` when the previous poll was less than
    /// `interval` seconds ago, in which case `interval` grows by
    /// [`crate::device::SLOW_DOWN_INCREMENT`] in the same statement (so concurrent
    /// polls on several nodes each see and grow it). `last_polled_at = now` either way.
    /// `None` (nothing written) if there is no row with this digest for `client_id`.
    async fn device_authorization_poll(
        &self,
        device_code_digest: &SecretDigest,
        client_id: &str,
        now: UnixTime,
    ) -> Result<Option<DevicePoll>, StoreError>;
    /// Single use (RFC 8628 §3.5 / RFC 6749 §10.5), in one transaction: marks an
    /// approved authorization consumed with one conditional statement (`… WHERE status
    /// = 'approved' AND consumed_at IS NULL AND expires_at > now`) and, only if that
    /// marked it, stores `first_refresh_token` (when given: the first of its family) and
    /// records `access_token_jti` (valid until `access_token_expires_at`) in that
    /// family, as [`Store::refresh_token_insert`] does (without a refresh token there
    /// is no family, and the jti is not recorded). `true` for exactly one caller;
    /// `false`, nothing written, if it was not approved, used, expired or absent. An
    /// error (say [`StoreError::Conflict`] on the refresh token or the jti) writes
    /// nothing either, so the code can still be redeemed. Why one transaction: a refresh
    /// token stored after the consume could fail and burn the approved code with no
    /// tokens issued.
    async fn device_authorization_consume(
        &self,
        device_code_digest: &SecretDigest,
        now: UnixTime,
        first_refresh_token: Option<&RefreshToken>,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<bool, StoreError>;

    /// Deletes rows that can no longer matter at `now` (seconds since the epoch), at
    /// most `limit` rows per table:
    ///
    /// - `pending_authorizations` and `browser_sessions` with `expires_at <= now`;
    /// - `authorization_codes` with `expires_at <= now` whose access token (if the
    ///   code was redeemed) has expired too, `access_token_expires_at <= now`: a
    ///   redeemed code is kept while its token lives, so a replay can still revoke it
    ///   (RFC 6749 §4.1.2);
    /// - `revoked_access_tokens` with `expires_at <= now` (the token is dead anyway);
    /// - `refresh_tokens` with `expires_at <= now`, whatever their state (an expired
    ///   token is refused anyway);
    /// - the family records of access tokens with `expires_at <= now`;
    /// - `device_authorizations` with `expires_at <= now`, whatever their state (a
    ///   dead device code answers `invalid_grant` once purged instead of
    ///   `expired_token`; the refresh tokens it issued live on in their own table);
    /// - `rate_limits` whose bucket is full again, `tat <= now` (in milliseconds: a
    ///   missing row is a full bucket).
    ///
    /// One short statement per table, each its own transaction, so no lock is held
    /// across tables or for long: `limit` is the batch size. Meant to be called
    /// periodically; a count equal to `limit` means that table may have more to purge.
    /// Safe to run on several nodes at once (a row is deleted once).
    async fn purge_expired(&self, now: UnixTime, limit: u32) -> Result<PurgeCounts, StoreError>;

    /// Takes one cell from every bucket in `keys` at `now_ms` (milliseconds since the
    /// epoch), or from none: one transaction (GCRA, a bucket is its theoretical
    /// arrival time `tat`; a missing row is a full bucket). Per key, with `t =
    /// max(tat, now_ms)`: allowed iff `t - now_ms <= interval_ms × (burst − 1)`, and
    /// then `tat = t + interval_ms`. `Ok(Ok(left))`: the cells each key has left after
    /// this take, in the order of `keys`. `Ok(Err(retry_after_ms))`: some bucket is
    /// spent; nothing was taken, and the longest wait of the refusing keys is given.
    /// Why in the database: a limit must hold across nodes (DESIGN.md "Storage").
    async fn rate_limit_take(
        &self,
        keys: &[RateKey],
        now_ms: i64,
    ) -> Result<Result<Vec<u32>, u64>, StoreError>;

    /// Gives back one cell to every bucket in `keys` (taken earlier by
    /// [`Store::rate_limit_take`]): `tat = max(tat − interval_ms, now_ms)`, in one
    /// transaction. A missing row (a full bucket) stays missing.
    async fn rate_limit_refund(&self, keys: &[RateKey], now_ms: i64) -> Result<(), StoreError>;
}

/// One rate-limit bucket ([`Store::rate_limit_take`]): `burst` cells, all available at
/// once, one coming back per `interval_ms` milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateKey {
    /// The bucket's name (at most a few hundred bytes; callers prefix a kind).
    pub key: String,
    /// Milliseconds per cell (at least 1).
    pub interval_ms: i64,
    /// Cells when full (at least 1).
    pub burst: u32,
}

impl RateKey {
    /// A bucket of `burst` cells refilling one per `interval_ms`.
    pub fn new(key: impl Into<String>, interval_ms: i64, burst: u32) -> Self {
        Self {
            key: key.into(),
            interval_ms: interval_ms.max(1),
            burst: burst.max(1),
        }
    }

    /// Takes a cell from a bucket whose stored `tat` is `stored` (`None`: full) at
    /// `now_ms`. `Ok((tat', left))` with the new `tat` and the cells left after it;
    /// `Err(retry_after_ms)` when the bucket is spent. The one GCRA rule every store
    /// applies (the SQL stores compute `tat'` in their upsert and check it here).
    pub fn check(&self, stored: Option<i64>, now_ms: i64) -> Result<(i64, u32), u64> {
        let start = stored.map_or(now_ms, |tat| tat.max(now_ms));
        self.check_new_tat(start.saturating_add(self.interval_ms), now_ms)
    }

    /// [`RateKey::check`] from the `tat` the take would store (`max(tat, now) +
    /// interval`).
    pub fn check_new_tat(&self, new_tat: i64, now_ms: i64) -> Result<(i64, u32), u64> {
        // Allowed iff new_tat − now ≤ interval × burst.
        let capacity = self.interval_ms.saturating_mul(i64::from(self.burst));
        let ahead = new_tat.saturating_sub(now_ms);
        if ahead > capacity {
            return Err(u64::try_from(ahead.saturating_sub(capacity)).unwrap_or(u64::MAX));
        }
        let left = capacity.saturating_sub(ahead) / self.interval_ms.max(1);
        Ok((new_tat, u32::try_from(left).unwrap_or(u32::MAX)))
    }

    /// The `tat` after a refund of one cell at `now_ms`.
    pub fn refunded(&self, tat: i64, now_ms: i64) -> i64 {
        tat.saturating_sub(self.interval_ms).max(now_ms)
    }
}

/// A snapshot of a store's connection pool ([`Store::pool_status`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open now, idle or in use.
    pub open: u32,
    /// Open connections waiting in the pool.
    pub idle: u32,
    /// Most connections the pool opens.
    pub max: u32,
}

impl PoolStatus {
    /// Open connections lent to a task now.
    pub fn in_use(&self) -> u32 {
        self.open.saturating_sub(self.idle)
    }
}

/// How many rows one [`Store::purge_expired`] call deleted, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PurgeCounts {
    /// Expired pending authorization requests, in rows.
    pub pending_authorizations: u64,
    /// Expired browser sessions, in rows.
    pub browser_sessions: u64,
    /// Expired authorization codes whose access token (if any) has expired, in rows.
    pub authorization_codes: u64,
    /// Revocation-list entries of expired access tokens, in rows.
    pub revoked_access_tokens: u64,
    /// Expired refresh tokens (live, rotated or revoked), in rows.
    pub refresh_tokens: u64,
    /// Family records of expired access tokens, in rows.
    pub family_access_tokens: u64,
    /// Expired device authorizations (RFC 8628), in rows.
    pub device_authorizations: u64,
    /// Rate-limit buckets that are full again, in rows.
    pub rate_limits: u64,
}

impl PurgeCounts {
    /// Rows deleted from all tables together.
    pub fn total(&self) -> u64 {
        self.pending_authorizations
            .saturating_add(self.browser_sessions)
            .saturating_add(self.authorization_codes)
            .saturating_add(self.revoked_access_tokens)
            .saturating_add(self.refresh_tokens)
            .saturating_add(self.family_access_tokens)
            .saturating_add(self.device_authorizations)
            .saturating_add(self.rate_limits)
    }
}

/// Algorithms without an active key in `keys`: what start-up must generate.
pub fn algorithms_missing_a_key(keys: &[StoredSigningKey]) -> Vec<SigningAlgorithm> {
    SigningAlgorithm::ALL
        .into_iter()
        .filter(|alg| {
            !keys
                .iter()
                .any(|k| k.alg == *alg && k.status == crate::keys::KeyStatus::Active)
        })
        .collect()
}
