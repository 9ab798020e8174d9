//! An authorization request waiting for the user: kept server-side between
//! `/authorize` and the code, while the login and consent pages are shown.
//!
//! The pages carry its id (256-bit random; only the SHA-256 is stored) and a CSRF
//! token; the row is bound to the browser that started it by the digest of a cookie,
//! so a form posted from another browser (login CSRF, RFC 6749 §10.12) is refused.

use super::request::ValidatedAuthorizationRequest;
use crate::UnixTime;
use crate::secret::SecretDigest;

/// Seconds a user has to log in and approve before the request must be restarted.
pub const PENDING_AUTHORIZATION_TTL: i64 = 600;

/// A pending authorization request, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingAuthorization {
    /// SHA-256 of the id the pages carry.
    pub id_digest: SecretDigest,
    /// The request as validated at `/authorize`.
    pub request: ValidatedAuthorizationRequest,
    /// SHA-256 of the browser-binding cookie of the browser that started it.
    pub browser_digest: SecretDigest,
    /// The CSRF token the forms must echo (random; useless without the browser cookie).
    pub csrf_token: String,
    /// The user who logged in during this request, once they have.
    pub user_id: Option<String>,
    /// When they logged in during this request (seconds since the epoch).
    pub auth_time: Option<UnixTime>,
    /// Set when this is a device authorization (RFC 8628 §3.3) being decided in the
    /// browser rather than a redirect-based request: the pages then end by recording
    /// the decision on the device authorization instead of redirecting with a code.
    pub device: Option<PendingDevice>,
    /// Seconds since the epoch.
    pub created_at: UnixTime,
    /// Seconds since the epoch; after it the request is gone.
    pub expires_at: UnixTime,
}

/// The device authorization a pending request decides (RFC 8628 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingDevice {
    /// The device authorization's `device_code` digest (the exact row to decide).
    pub device_code_digest: SecretDigest,
    /// The user code as the user typed it, normalised and shown `XXXX-XXXX`, for the
    /// consent page to display so the user can compare it with the device's screen
    /// (RFC 8628 §5.4). Kept only for the pending request's ten minutes.
    pub user_code: String,
}
