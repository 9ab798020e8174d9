//! RFC 8628: the device authorization grant, its stored state and its user codes.
//!
//! - [`authorization`]: the device authorization endpoint (§3.1–3.2).
//! - [`user_code`]: user codes (§6.1): 8 characters from `BCDFGHJKLMNPQRSTVWXZ`,
//!   shown `XXXX-XXXX`, stored as a SHA-256 digest.
//! - The token-endpoint side (polling, §3.4–3.5) is `grants::device_code`.

pub mod authorization;
pub mod user_code;

use crate::UnixTime;
use crate::secret::SecretDigest;
use crate::store::StoreError;
use crate::tokens::refresh_token::RefreshToken;
use async_trait::async_trait;
use std::collections::BTreeSet;

/// RFC 8628 §3.2 default `interval`: seconds a device waits between polls.
pub const DEFAULT_POLL_INTERVAL: i64 = 5;
/// RFC 8628 §3.5: seconds added to the interval at each `slow_down`.
pub const SLOW_DOWN_INCREMENT: i64 = 5;

/// A device authorization as stored (one row per `device_code`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    /// SHA-256 of the `device_code` (the device's secret; 256-bit random).
    pub device_code_digest: SecretDigest,
    /// SHA-256 of the normalised user code (8 letters, no dash). Unique among stored rows.
    pub user_code_digest: SecretDigest,
    /// The client that asked.
    pub client_id: String,
    /// Scopes requested (already checked against the client's), sorted.
    pub scopes: BTreeSet<String>,
    /// RFC 8707 resources requested (already checked), the tokens' `aud`.
    pub resources: Vec<String>,
    /// Where the user's decision stands.
    pub status: DeviceAuthorizationStatus,
    /// Current minimum seconds between polls; grows by [`SLOW_DOWN_INCREMENT`] at
    /// each `slow_down` (kept in the database, so it holds across nodes).
    pub interval: i64,
    /// When the device last polled (seconds since the epoch); `None` before its first poll.
    pub last_polled_at: Option<UnixTime>,
    /// When the tokens were issued for it (single use); `None` before.
    pub consumed_at: Option<UnixTime>,
    /// Seconds since the epoch.
    pub created_at: UnixTime,
    /// Seconds since the epoch; at or after it the codes are dead (`expired_token`).
    pub expires_at: UnixTime,
}

/// The user's decision on a device authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceAuthorizationStatus {
    /// Waiting for the user (`authorization_pending`).
    Pending,
    /// Approved by `user_id`, who authenticated at `auth_time`.
    Approved {
        /// `sub` of the tokens.
        user_id: String,
        /// OIDC `auth_time` (seconds since the epoch).
        auth_time: UnixTime,
    },
    /// Denied by the user (`access_denied`).
    Denied,
}

/// The result of one poll, from [`DeviceAuthorizationStore::device_authorization_poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePoll {
    /// The row after the poll was recorded (its `interval` already grown if `too_fast`).
    pub authorization: DeviceAuthorization,
    /// The previous poll was less than the (old) interval ago: answer `slow_down`.
    pub too_fast: bool,
}

/// The `device_authorizations` table (RFC 8628).
#[async_trait]
pub trait DeviceAuthorizationStore: Send + Sync {
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
    /// Rows whose user-code digest is still a bare SHA-256 (stored before user codes
    /// were keyed), at most `limit`: `(device code digest, user-code SHA-256)`. The
    /// start-up migration keys them ([`Self::device_authorization_key_user_code`]).
    async fn device_authorization_unkeyed_user_codes(
        &self,
        limit: u32,
    ) -> Result<Vec<(SecretDigest, SecretDigest)>, StoreError>;
    /// Replaces the bare SHA-256 user-code digest `unkeyed` of the row with this device
    /// code digest by its keyed digest `keyed`, and marks the row keyed, in one
    /// conditional statement (`… WHERE user_code_keyed = 0 AND user_code_digest =
    /// unkeyed`): `true` if it did, `false` if the row is gone or keyed already (by
    /// another node), so the migration runs once and may run again.
    async fn device_authorization_key_user_code(
        &self,
        device_code_digest: &SecretDigest,
        unkeyed: &SecretDigest,
        keyed: &SecretDigest,
    ) -> Result<bool, StoreError>;
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
    /// [`SLOW_DOWN_INCREMENT`] in the same statement (so concurrent polls on several
    /// nodes each see and grow it). `last_polled_at = now` either way. `None` (nothing
    /// written) if there is no row with this digest for `client_id`.
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
    /// family, as [`RefreshTokenStore::refresh_token_insert`] does (without a refresh
    /// token there is no family, and the jti is not recorded). `true` for exactly one
    /// caller; `false`, nothing written, if it was not approved, used, expired or
    /// absent. An error (say [`StoreError::Conflict`] on the refresh token or the jti)
    /// writes nothing either, so the code can still be redeemed. Why one transaction: a
    /// refresh token stored after the consume could fail and burn the approved code
    /// with no tokens issued.
    ///
    /// [`RefreshTokenStore::refresh_token_insert`]: crate::tokens::refresh_token::RefreshTokenStore::refresh_token_insert
    async fn device_authorization_consume(
        &self,
        device_code_digest: &SecretDigest,
        now: UnixTime,
        first_refresh_token: Option<&RefreshToken>,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<bool, StoreError>;
}
