//! RFC 6749 §4.1.2 authorization codes: 256-bit random, stored as a SHA-256 digest,
//! single use, bound to the client, redirect URI, PKCE challenge, scopes, resources,
//! nonce and auth_time.

use super::request::{AuthorizeReason, ValidatedAuthorizationRequest};
use crate::UnixTime;
use crate::pkce::CodeChallenge;
use crate::secret::{RandomUnavailable, SecretDigest, generate_secret};
use crate::store::StoreError;
use crate::tokens::refresh_token::RefreshToken;
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};

/// Issues a code for `request`, approved by `user_id` who authenticated at
/// `auth_time`, valid for `ttl` seconds from `now`. Returns the code to put in the
/// redirect ([`super::request::success_location`]); only its SHA-256 is stored (why:
/// a database leak must not yield redeemable codes).
///
/// # Errors
/// [`IssueCodeError`]: the CSPRNG or the store failed.
pub async fn issue_code(
    store: &dyn AuthorizationCodeStore,
    request: &ValidatedAuthorizationRequest,
    user_id: &str,
    auth_time: UnixTime,
    ttl: i64,
    now: UnixTime,
) -> Result<SecretString, IssueCodeError> {
    let code = generate_secret()?;
    let record = AuthorizationCode {
        code_digest: SecretDigest::of(code.expose_secret()),
        client_id: request.client_id().to_owned(),
        user_id: user_id.to_owned(),
        redirect_uri: request.redirect_uri().to_owned(),
        redirect_uri_sent: request.redirect_uri_sent(),
        code_challenge: request.code_challenge().cloned(),
        scopes: request.scopes().iter().cloned().collect(),
        resources: request.resources().to_vec(),
        nonce: request.nonce().map(str::to_owned),
        auth_time,
        created_at: now,
        expires_at: now.saturating_add(ttl),
        consumed_at: None,
        access_token_jti: None,
        access_token_expires_at: None,
        dpop_jkt: request.dpop_jkt().map(str::to_owned),
    };
    store.authorization_code_insert(&record).await?;
    Ok(code)
}

/// Why a code could not be issued (a server-side failure).
#[derive(Debug, thiserror::Error)]
pub enum IssueCodeError {
    /// The system CSPRNG failed.
    #[error(transparent)]
    Random(#[from] RandomUnavailable),
    /// The store failed.
    #[error("storage failed: {0}")]
    Store(#[from] StoreError),
}

impl IssueCodeError {
    /// The reason to redirect with ([`super::request::RedirectError::new`]).
    pub fn reason(&self) -> AuthorizeReason {
        match self {
            Self::Store(error) => AuthorizeReason::for_store_error(error),
            Self::Random(_) => AuthorizeReason::ServerError,
        }
    }
}

/// An authorization code as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    /// SHA-256 of the code.
    pub code_digest: SecretDigest,
    /// The client it was issued to.
    pub client_id: String,
    /// The user who approved it (`sub`).
    pub user_id: String,
    /// The redirect URI the code was sent to.
    pub redirect_uri: String,
    /// Whether the authorization request carried `redirect_uri`; if so the token
    /// request must repeat it (RFC 6749 §4.1.3).
    pub redirect_uri_sent: bool,
    /// RFC 7636 §4.3 `code_challenge` (S256), if the request had one.
    pub code_challenge: Option<CodeChallenge>,
    /// Granted scopes, sorted.
    pub scopes: Vec<String>,
    /// Granted resources (RFC 8707), the access token's `aud`.
    pub resources: Vec<String>,
    /// OIDC `nonce`, for the id_token.
    pub nonce: Option<String>,
    /// When the user authenticated (OIDC `auth_time`).
    pub auth_time: UnixTime,
    /// Seconds since the epoch.
    pub created_at: UnixTime,
    /// Seconds since the epoch; redeeming at or after it fails.
    pub expires_at: UnixTime,
    /// When it was redeemed; `None` while unused.
    pub consumed_at: Option<UnixTime>,
    /// `jti` of the access token issued for it (revoked if the code is replayed).
    pub access_token_jti: Option<String>,
    /// `exp` of that access token.
    pub access_token_expires_at: Option<UnixTime>,
    /// RFC 9449 §10: the `dpop_jkt` of the authorization request; the token request
    /// must carry a DPoP proof of this key. `None`: not bound.
    pub dpop_jkt: Option<String>,
}

/// The `authorization_codes` table.
#[async_trait]
pub trait AuthorizationCodeStore: Send + Sync {
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
    /// family, as [`RefreshTokenStore::refresh_token_insert`] does. `true` for exactly
    /// one caller; `false`, nothing written, if it was already used, expired or absent.
    /// An error (say [`StoreError::Conflict`] on the refresh token or the jti) writes
    /// nothing either, so the code can still be redeemed. Why one transaction: with the
    /// refresh token stored on its own, a consume that failed after it (or a crash
    /// between the two) left the code redeemable, and a retry added a second live
    /// refresh token to the family; a losing racer stored one too.
    ///
    /// [`RefreshTokenStore::refresh_token_insert`]: crate::tokens::refresh_token::RefreshTokenStore::refresh_token_insert
    async fn authorization_code_consume(
        &self,
        code_digest: &SecretDigest,
        now: UnixTime,
        first_refresh_token: Option<&RefreshToken>,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<bool, StoreError>;
    /// RFC 6749 §4.1.2 replay: revokes the tokens issued from a consumed code, in one
    /// transaction: its access token's `jti` goes to the revocation list until its
    /// `exp`, and the refresh token family `family_id` (the code's, see
    /// `family_of_code`) is revoked as [`RefreshTokenStore::refresh_family_revoke`]
    /// does (every refresh token of it, every access token recorded in it). Why one
    /// transaction: done in two writes, a crash between them left the family live
    /// after the replay (issue 17). Idempotent; `false`, nothing written, if the code
    /// is absent or was never consumed.
    ///
    /// [`RefreshTokenStore::refresh_family_revoke`]: crate::tokens::refresh_token::RefreshTokenStore::refresh_family_revoke
    async fn authorization_code_revoke_tokens(
        &self,
        code_digest: &SecretDigest,
        family_id: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
}
