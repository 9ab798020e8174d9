//! Browser sessions: the authentication state of a user agent at the authorization
//! server (OIDC Core §3.1.2.3, "authenticate the End-User"). The cookie holds a
//! 256-bit random id; the store keeps only its SHA-256 digest, so a database leak does
//! not hand out live sessions.

use crate::UnixTime;
use crate::secret::SecretDigest;
use crate::store::StoreError;
use async_trait::async_trait;

/// A logged-in browser, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    /// SHA-256 of the cookie value.
    pub session_digest: SecretDigest,
    /// The user (`sub`).
    pub user_id: String,
    /// When the user entered their password (OIDC `auth_time`), seconds since the epoch.
    pub auth_time: UnixTime,
    /// Seconds since the epoch.
    pub created_at: UnixTime,
    /// The session ends at this time (seconds since the epoch), whatever happens.
    pub expires_at: UnixTime,
}

/// The `browser_sessions` table.
#[async_trait]
pub trait SessionStore: Send + Sync {
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
    /// Withdraws what was approved but not yet turned into tokens (incident response,
    /// a password change): deletes the unredeemed authorization codes and the approved,
    /// unconsumed device authorizations (RFC 8628 §3.4) that match every filter given —
    /// `user_id`, `client_id`, `auth_time` (one sign-in), and `since` (created at or
    /// after, seconds since the epoch). Why: revoking a user's tokens must also stop a
    /// code or an approved device code issued a moment before from becoming fresh
    /// tokens after it (a device then polls `invalid_grant`/`expired_token`). Redeemed
    /// codes stay (replay detection). Returns how many rows were withdrawn.
    async fn pending_grants_withdraw(
        &self,
        user_id: Option<&str>,
        client_id: Option<&str>,
        auth_time: Option<UnixTime>,
        since: Option<UnixTime>,
    ) -> Result<u64, StoreError>;
    /// The live sessions (`now < expires_at`), of `user_id` when given, oldest first.
    async fn session_list(
        &self,
        user_id: Option<&str>,
        now: UnixTime,
    ) -> Result<Vec<BrowserSession>, StoreError>;
}
