//! An authorization request waiting for the user, between `/authorize` and the code,
//! while the login and consent pages are shown: carried by the browser, not stored.
//!
//! Why not stored: a row per anonymous `GET /authorize` let anyone grow the database
//! without bound (issue 16). The validated request travels sealed instead
//! ([`sealed`]: AES-256-GCM under a key derived from the master key), in the pages'
//! `request` parameter; it holds its own expiry, the digest of the browser-binding
//! cookie of the browser that started it (so a form posted from another browser,
//! login CSRF, RFC 6749 §10.12, is refused) and a CSRF token. The store hears of it
//! only when the user acts: when the request ends (a code, a denial, an error at the
//! client), its random id is recorded as used ([`UsedAuthorizationRequestStore`]),
//! so a form cannot be replayed into a second code.

pub mod sealed;

use super::request::ValidatedAuthorizationRequest;
use crate::UnixTime;
use crate::secret::SecretDigest;
use crate::store::StoreError;
use async_trait::async_trait;

/// Seconds a user has to log in and approve before the request must be restarted.
pub const PENDING_AUTHORIZATION_TTL: i64 = 600;

/// A pending authorization request, as carried (sealed) by the browser.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingAuthorization {
    /// SHA-256 of the request's random id: the key its single use is recorded under.
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
    /// Seconds since the epoch; from then on the request is refused.
    pub expires_at: UnixTime,
}

/// The `used_authorization_requests` table: the ids of pending authorization requests
/// that have ended, kept until the request's own expiry (after which its sealed form
/// is refused anyway, and housekeeping deletes the row).
#[async_trait]
pub trait UsedAuthorizationRequestStore: Send + Sync {
    /// Records the request with this id digest as used, until `expires_at` (seconds
    /// since the epoch). `true` if this call recorded it, `false` if it was already
    /// used: one statement (`INSERT … ON CONFLICT DO NOTHING`), so of two submissions
    /// of the same form (double click, two tabs, a replay) exactly one goes on.
    async fn authorization_request_use(
        &self,
        id_digest: &SecretDigest,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError>;
}

/// The device authorization a pending request decides (RFC 8628 §3.3).
#[derive(Clone, PartialEq, Eq)]
pub struct PendingDevice {
    /// The device authorization's `device_code` digest (the exact row to decide).
    pub device_code_digest: SecretDigest,
    /// The user code the user typed, shown `XXXX-XXXX`, sealed by the server under its
    /// master key (AES-256-GCM, bound to `device_code_digest`) and base64url-encoded:
    /// the consent page opens it to display it, so the user can compare it with the
    /// device's screen (RFC 8628 §5.4). Why sealed: it is the one live secret a
    /// database reader could otherwise type in to approve or deny someone's device
    /// (everything else is stored as a digest). Opaque to core; kept only for the
    /// pending request's ten minutes (inside its own sealed form).
    pub sealed_user_code: String,
}

/// Redacted: logs never show the (sealed) user code.
impl std::fmt::Debug for PendingDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingDevice")
            .field("device_code_digest", &self.device_code_digest)
            .field("sealed_user_code", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_show_the_user_code() {
        let device = PendingDevice {
            device_code_digest: SecretDigest::of("device code"),
            sealed_user_code: "c2VhbGVk".into(),
        };
        let shown = format!("{device:?}");
        assert!(!shown.contains("c2VhbGVk"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
