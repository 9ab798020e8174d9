//! An authorization request waiting for the user: kept server-side between
//! `/authorize` and the code, while the login and consent pages are shown.
//!
//! The pages carry its id (256-bit random; only the SHA-256 is stored) and a CSRF
//! token; the row is bound to the browser that started it by the digest of a cookie,
//! so a form posted from another browser (login CSRF, RFC 6749 §10.12) is refused.

use super::request::ValidatedAuthorizationRequest;
use crate::UnixTime;
use crate::secret::SecretDigest;
use crate::store::StoreError;
use async_trait::async_trait;

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

/// The `pending_authorizations` table.
#[async_trait]
pub trait PendingAuthorizationStore: Send + Sync {
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
    /// pending request's ten minutes.
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
