//! RFC 6749 §6 refresh tokens with rotation and reuse detection (RFC 9700 §4.14.2):
//! 256-bit random, stored as a SHA-256 digest, bound to the client, the user, the
//! granted scopes and resources. Every token belongs to a *family*: all the tokens
//! descended from one authorization. Using a token rotates it (exactly one successor);
//! presenting a rotated token again revokes the whole family.

use crate::UnixTime;
use crate::secret::SecretDigest;

/// A refresh token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// SHA-256 of the token.
    pub token_digest: SecretDigest,
    /// The family: every token descended from one authorization shares it. For a
    /// family started by an authorization code it is [`family_of_code`] of that code.
    pub family_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user (`sub`).
    pub user_id: String,
    /// Scopes of the original grant, sorted: the most any refresh may ask for.
    pub scopes: Vec<String>,
    /// Resources of the original grant (RFC 8707), the access tokens' `aud`.
    pub resources: Vec<String>,
    /// When the user authenticated (OIDC `auth_time`, kept in refreshed id_tokens).
    pub auth_time: UnixTime,
    /// Seconds since the epoch.
    pub created_at: UnixTime,
    /// Seconds since the epoch; using it at or after this time fails.
    pub expires_at: UnixTime,
    /// When it was used and replaced by its successor; `None` while it is live.
    pub rotated_at: Option<UnixTime>,
    /// When its family was revoked (reuse, revocation, code replay); `None` otherwise.
    pub revoked_at: Option<UnixTime>,
}

/// The family id of the refresh tokens issued from an authorization code: the hex
/// SHA-256 digest of the code, so a replay of the code (RFC 6749 §4.1.2) finds and
/// revokes them without storing anything more on the code.
pub fn family_of_code(code_digest: &SecretDigest) -> String {
    code_digest
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
