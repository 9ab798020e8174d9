//! What every grant at the token endpoint shares (RFC 6749 §4): the endpoint's
//! settings ([`TokenEndpoint`], built once at start-up; the signing keys, which rotate,
//! come with each call), a success ([`TokenSuccess`]) and a failure
//! ([`GrantError`]: the grant's own reason, or a server-side failure).
//!
//! The grants import this module and nothing of the dispatcher; only the dispatcher
//! imports the grants, and only it turns their reasons into a token endpoint error.

use crate::client::authentication::ClientDirectory;
use crate::keys::KeyRingError;
use crate::secret::RandomUnavailable;
use crate::store::{Store, StoreError};
use portcullis_proto::grant::GrantType;
use portcullis_proto::token::TokenResponse;
use std::sync::Arc;

/// What the token endpoint needs besides the request and the current signing keys:
/// built once at start-up and shared by every request. The keys are not part of it
/// (they rotate while the server runs): each call takes the current
/// [`KeyRing`](crate::keys::KeyRing).
pub struct TokenEndpoint {
    /// The issuer identifier (`iss`).
    pub issuer: String,
    /// Access token lifetime in seconds.
    pub access_token_ttl: i64,
    /// id_token lifetime in seconds (OIDC Core §2 `exp`).
    pub id_token_ttl: i64,
    /// Refresh token lifetime in seconds (RFC 6749 §6); each rotation starts a fresh
    /// one for the successor.
    pub refresh_token_ttl: i64,
    /// Seconds after a refresh token's rotation during which presenting it again is
    /// refused without revoking its family (RFC 9700 §4.14.2 reuse detection, relaxed
    /// for clients that race themselves); 0: every replay revokes.
    pub refresh_token_reuse_grace: i64,
    /// Where clients are looked up (the server's bounded cache).
    pub clients: Arc<dyn ClientDirectory>,
    /// Authorization codes, device authorizations, refresh tokens, users and the
    /// revocation list (client credentials never touches it).
    pub store: Arc<dyn Store>,
}

/// A successful token request: the response body and what the audit log records.
#[derive(Debug)]
pub struct TokenSuccess {
    /// RFC 6749 §5.1 body.
    pub response: TokenResponse,
    /// The authenticated client.
    pub client_id: String,
    /// `sub` of the access token.
    pub subject: String,
    /// The grant used.
    pub grant_type: GrantType,
    /// `jti` of the access token.
    pub jti: String,
}

/// Why a grant failed: `R`, the grant's own reason (e.g. `CodeGrantReason`), or a
/// failure on the server's side. Each grant returns `GrantError<ItsReason>`; the token
/// endpoint maps it.
#[derive(Debug, thiserror::Error)]
pub enum GrantError<R> {
    /// The grant's rules refused the request.
    #[error(transparent)]
    Refused(R),
    /// The database failed.
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Keys(#[from] KeyRingError),
    /// The system CSPRNG failed (a new refresh token could not be generated).
    #[error(transparent)]
    Random(#[from] RandomUnavailable),
}
