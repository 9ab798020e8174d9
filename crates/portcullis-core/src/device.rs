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

/// The result of one poll, from [`crate::Store::device_authorization_poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevicePoll {
    /// The row after the poll was recorded (its `interval` already grown if `too_fast`).
    pub authorization: DeviceAuthorization,
    /// The previous poll was less than the (old) interval ago: answer `slow_down`.
    pub too_fast: bool,
}
