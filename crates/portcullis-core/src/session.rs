//! Browser sessions: the authentication state of a user agent at the authorization
//! server (OIDC Core §3.1.2.3, "authenticate the End-User"). The cookie holds a
//! 256-bit random id; the store keeps only its SHA-256 digest, so a database leak does
//! not hand out live sessions.

use crate::UnixTime;
use crate::secret::SecretDigest;

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
