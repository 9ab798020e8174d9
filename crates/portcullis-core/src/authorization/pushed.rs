//! RFC 9126: pushed authorization requests. The client posts its authorization
//! request to the pushed authorization request endpoint (back channel, authenticated
//! as at the token endpoint), which validates it exactly as `/authorize` would
//! ([`super::request`]) and answers with a `request_uri`; the browser then carries only
//! `client_id` and that `request_uri` to `/authorize` ([`redeem`]).
//!
//! The `request_uri` is `urn:ietf:params:oauth:request_uri:` followed by 256 random
//! bits (base64url); the store keeps only the SHA-256 digest of that random part
//! ([`PushedAuthorizationStore`]) and the validated request sealed (AES-256-GCM under a
//! key derived from the master key, [`SEALING_KEY_LABEL`], bound to the digest), so a
//! database reader learns neither the reference nor the request's `state`, `nonce` or
//! `login_hint`. A `request_uri` is redeemed once (one `DELETE … RETURNING`), only by
//! its own client, and only before it expires.

use super::request::{
    AuthorizationError, ErrorPageReason, RedirectError, StoredAuthorizationRequest,
    ValidatedAuthorizationRequest, validate, validate_redirectable,
};
use crate::UnixTime;
use crate::client::Client;
use crate::client::authentication::{
    ClientAuthFailure, ClientAuthReason, ClientDirectory, PresentedCredentials, PublicClients,
    authenticate,
};
use crate::client::origin::{OriginNotAllowed, check_request_origin};
use crate::client::redirect_uri::{RedirectUriReason, match_redirect_uri};
use crate::keys::{KeyRingError, MasterKey};
use crate::secret::{RandomUnavailable, SecretDigest, generate_secret};
use crate::store::StoreError;
use async_trait::async_trait;
use portcullis_proto::ErrorCode;
use portcullis_proto::authorize::AuthorizationRequest;
use portcullis_proto::error::echo;
use portcullis_proto::par::{
    PushedAuthorizationRequest, PushedAuthorizationResponse, REQUEST_URI_PREFIX,
};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// HKDF `info` of the key that seals pushed authorization requests at rest (distinct
/// from every other use of the master key).
pub const SEALING_KEY_LABEL: &[u8] = b"portcullis pushed authorization request sealing v1";

/// Default seconds a `request_uri` lives (RFC 9126 §2.2's example is 60).
pub const DEFAULT_PUSHED_REQUEST_TTL: i64 = 60;

/// Longest `request_uri` lifetime accepted in configuration, in seconds (why a bound:
/// RFC 9126 §2.2 wants a short life; a long-lived reference is a bearer ticket to a
/// validated request).
pub const MAX_PUSHED_REQUEST_TTL: i64 = 600;

/// A pushed authorization request as stored (the `pushed_authorization_requests`
/// table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedAuthorization {
    /// SHA-256 of the random part of the `request_uri` (never the value itself).
    pub request_uri_digest: SecretDigest,
    /// The client that pushed it, the only one that may redeem it.
    pub client_id: String,
    /// The validated request ([`StoredAuthorizationRequest`] JSON), sealed under the
    /// key derived with [`SEALING_KEY_LABEL`], bound to `request_uri_digest`.
    pub sealed_request: Vec<u8>,
    /// Seconds since the epoch.
    pub created_at: UnixTime,
    /// Seconds since the epoch; from then on it is refused.
    pub expires_at: UnixTime,
}

/// The `pushed_authorization_requests` table.
#[async_trait]
pub trait PushedAuthorizationStore: Send + Sync {
    /// Stores a pushed request.
    async fn pushed_authorization_insert(
        &self,
        pushed: &PushedAuthorization,
    ) -> Result<(), StoreError>;

    /// Removes and returns the pushed request with this digest if `client_id` pushed
    /// it: one statement (`DELETE … RETURNING`), so of two redemptions on any nodes
    /// exactly one gets it. Another client's attempt matches no row and leaves it.
    /// Expiry is the caller's to check (an expired row taken is gone either way).
    async fn pushed_authorization_take(
        &self,
        request_uri_digest: &SecretDigest,
        client_id: &str,
    ) -> Result<Option<PushedAuthorization>, StoreError>;
}

/// What the pushed authorization request endpoint needs besides the request.
pub struct PushedAuthorizationEndpoint<'a> {
    /// Where clients are looked up (the server's bounded cache).
    pub clients: &'a dyn ClientDirectory,
    /// Where pushed requests are stored.
    pub store: &'a dyn PushedAuthorizationStore,
    /// The key derived with [`SEALING_KEY_LABEL`].
    pub sealer: &'a MasterKey,
    /// Seconds a `request_uri` lives: the response's `expires_in`.
    pub ttl: i64,
}

/// A `request_uri` just issued (the reference is secret until used).
pub struct IssuedRequestUri {
    /// The full `request_uri`.
    pub request_uri: SecretString,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The authenticated client.
    pub client_id: String,
}

impl IssuedRequestUri {
    /// RFC 9126 §2.2 response body.
    pub fn response(&self) -> PushedAuthorizationResponse {
        PushedAuthorizationResponse {
            request_uri: self.request_uri.expose_secret().to_owned(),
            expires_in: u64::try_from(self.expires_in).unwrap_or(0),
        }
    }
}

impl std::fmt::Debug for IssuedRequestUri {
    /// Redacts the `request_uri`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedRequestUri")
            .field("request_uri", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("client_id", &self.client_id)
            .finish()
    }
}

/// Precise reasons a pushed authorization request failed; the wire code is
/// `ErrorCode::from` the reason ([`crate::error_code`]). Always a JSON answer, never a
/// redirect (RFC 9126 §2.3).
#[derive(Debug, thiserror::Error)]
pub enum PushedAuthorizationReason {
    /// Client authentication failed or was malformed (RFC 9126 §2: as at the token
    /// endpoint).
    #[error(transparent)]
    ClientAuth(ClientAuthReason),
    /// A browser page at an origin the client does not allow sent the request.
    #[error(transparent)]
    OriginNotAllowed(OriginNotAllowed),
    /// RFC 9126 §2.1: "The request_uri authorization request parameter is one exception,
    /// and it MUST NOT be provided."
    #[error(
        "request_uri must not be sent to the pushed authorization request endpoint (RFC 9126 section 2.1)"
    )]
    RequestUriNotAllowed,
    /// The redirect URI is missing or not registered (RFC 9126 §2.3: `invalid_request`
    /// here, where `/authorize` shows an error page).
    #[error(transparent)]
    RedirectUri(RedirectUriReason),
    /// FAPI 2.0 §5.3.2.2 item 6: a `fapi2` client's pushed request has no
    /// `redirect_uri` ("shall require the `redirect_uri` parameter in pushed
    /// authorization requests").
    #[error("redirect_uri is required in this client's pushed authorization requests (FAPI 2.0)")]
    RedirectUriRequiredByProfile,
    /// The request breaks an authorization request rule (its `/authorize` code).
    #[error(transparent)]
    Request(super::request::AuthorizeReason),
    /// The database failed.
    #[error("storage failed: {0}")]
    Store(StoreError),
    /// The system CSPRNG failed.
    #[error(transparent)]
    Random(RandomUnavailable),
    /// Sealing the request failed.
    #[error("sealing the pushed request failed: {0}")]
    Seal(KeyRingError),
}

impl PushedAuthorizationReason {
    /// Whether the server, not the client, is at fault: logged as an error with the
    /// detail, answered with a generic description.
    pub fn is_server_side(&self) -> bool {
        matches!(self, Self::Store(_) | Self::Random(_) | Self::Seal(_))
    }
}

/// A failed pushed authorization request: the reason, and the client it concerned
/// (for the audit log).
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct PushedAuthorizationError {
    /// Why it failed.
    pub reason: PushedAuthorizationReason,
    /// The client id as claimed by the request (unverified unless authentication
    /// passed), bounded with [`echo`].
    pub unverified_client_id: Option<String>,
}

impl PushedAuthorizationError {
    /// `error_description`: says what to fix; generic for server-side failures and for
    /// client authentication.
    pub fn description(&self) -> String {
        let client_auth = match &self.reason {
            PushedAuthorizationReason::ClientAuth(reason) => Some(reason),
            _ => None,
        };
        let code = ErrorCode::from(&self.reason);
        crate::grants::token_endpoint::error_description(code, client_auth, &self.reason)
    }
}

/// RFC 9126 §2: handles one pushed authorization request at `now`. `authorization`
/// is the raw `Authorization` header value, if any; `origin` the `Origin` header.
///
/// Rules, in order:
/// 1. Client authentication exactly as at the token endpoint (confidential clients
///    authenticate, public clients send `client_id`; a body `client_id` must name the
///    authenticated client); then a browser `origin` the client must allow.
/// 2. No `request_uri` (§2.1).
/// 3. A FAPI 2.0 client sends `redirect_uri` (§5.3.2.2 item 6); the redirect URI is
///    registered ([`match_redirect_uri`]), then every other
///    `/authorize` rule ([`validate_redirectable`]); failures are JSON (§2.3).
/// 4. A 256-bit reference is drawn; the request is stored sealed under its digest,
///    expiring `ttl` seconds after `now`.
///
/// # Errors
/// A [`PushedAuthorizationError`].
pub async fn push(
    endpoint: &PushedAuthorizationEndpoint<'_>,
    authorization: Option<&str>,
    origin: Option<&str>,
    request: PushedAuthorizationRequest,
    now: UnixTime,
) -> Result<IssuedRequestUri, PushedAuthorizationError> {
    let presented = PresentedCredentials {
        authorization,
        client_id: request.authorization.client_id.as_deref(),
        client_secret: request.client_secret.as_deref(),
        client_assertion_type: request.client_assertion_type.as_deref(),
        client_assertion: request.client_assertion.as_deref(),
    };
    let authenticated = authenticate(endpoint.clients, presented, PublicClients::Allowed, now)
        .await
        .map_err(|error| PushedAuthorizationError {
            reason: match error.failure {
                ClientAuthFailure::Rejected(reason) => {
                    PushedAuthorizationReason::ClientAuth(reason)
                }
                ClientAuthFailure::Store(store) => PushedAuthorizationReason::Store(store),
            },
            unverified_client_id: error.unverified_client_id,
        })?;
    let client = authenticated.client();
    let stored = match check_request_origin(client, origin) {
        Ok(()) => store(endpoint, client, request.authorization, now).await,
        Err(refused) => Err(PushedAuthorizationReason::OriginNotAllowed(refused)),
    };
    stored.map_err(|reason| PushedAuthorizationError {
        reason,
        unverified_client_id: Some(echo(&client.client_id)),
    })
}

/// Rules 2–4 of [`push`].
async fn store(
    endpoint: &PushedAuthorizationEndpoint<'_>,
    client: &Client,
    params: AuthorizationRequest,
    now: UnixTime,
) -> Result<IssuedRequestUri, PushedAuthorizationReason> {
    if params.request_uri.is_some() {
        return Err(PushedAuthorizationReason::RequestUriNotAllowed);
    }
    if params.redirect_uri.is_none() && client.profile.requires_pushed_redirect_uri() {
        return Err(PushedAuthorizationReason::RedirectUriRequiredByProfile);
    }
    let (redirect_uri, sent) = match_redirect_uri(client, params.redirect_uri.as_deref())
        .map_err(PushedAuthorizationReason::RedirectUri)?;
    // As at `/authorize`: only the client's own audiences are looked up.
    let audiences = crate::resource::effective_resources(client, &params.resource);
    let registered = crate::resource::registered_resources(endpoint.clients, &audiences)
        .await
        .map_err(PushedAuthorizationReason::Store)?;
    let request = validate_redirectable(client, &registered, params, redirect_uri, sent)
        .map_err(PushedAuthorizationReason::Request)?;
    let reference = generate_secret().map_err(PushedAuthorizationReason::Random)?;
    let ttl = client.profile.request_uri_ttl(endpoint.ttl);
    let digest = SecretDigest::of(reference.expose_secret());
    let json = serde_json::to_vec(&StoredAuthorizationRequest::from(&request))
        .map_err(|_| PushedAuthorizationReason::Seal(KeyRingError::Crypto("serializing")))?;
    let sealed_request = endpoint
        .sealer
        .seal_per_message(&aad(&digest), &json)
        .map_err(PushedAuthorizationReason::Seal)?;
    let pushed = PushedAuthorization {
        request_uri_digest: digest,
        client_id: client.client_id.clone(),
        sealed_request,
        created_at: now,
        expires_at: now.saturating_add(ttl),
    };
    endpoint
        .store
        .pushed_authorization_insert(&pushed)
        .await
        .map_err(PushedAuthorizationReason::Store)?;
    Ok(IssuedRequestUri {
        request_uri: SecretString::from(format!(
            "{REQUEST_URI_PREFIX}{}",
            reference.expose_secret()
        )),
        expires_in: ttl,
        client_id: client.client_id.clone(),
    })
}

/// Whether `/authorize` should take this request from a pushed `request_uri`: its
/// `request_uri` has this server's prefix ([`REQUEST_URI_PREFIX`]). Any other
/// `request_uri` (a URL, OIDC Core §6.2) stays `request_uri_not_supported`.
pub fn is_pushed(params: &AuthorizationRequest) -> bool {
    params
        .request_uri
        .as_deref()
        .is_some_and(|uri| uri.starts_with(REQUEST_URI_PREFIX))
}

/// Why a `request_uri` could not be redeemed at `/authorize`. All are shown on an
/// error page, never redirected: the browser's `redirect_uri` is unknown without the
/// request (RFC 9126 §4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestUriReason {
    /// The reference after the prefix is empty or longer than any this server issues.
    #[error("the request_uri is not one this server issued")]
    Malformed,
    /// No such pushed request for this client: never issued, already used, or pushed
    /// by another client (the three look alike on purpose).
    #[error("the request_uri is unknown or was already used; push the authorization request again")]
    Unknown,
    /// `now >= expires_at`.
    #[error("the request_uri has expired; push the authorization request again")]
    Expired,
    /// The stored request does not open or decode (a changed row, or another master
    /// key).
    #[error("the pushed authorization request could not be read; push it again")]
    Corrupt,
}

/// RFC 9126 §4: the validated request a `request_uri` stands for, taken once from the
/// store. Every other parameter of `params` is ignored except `client_id`, which is
/// required and must name the client that pushed it.
///
/// # Errors
/// [`ErrorPageReason`] (all shown on an error page): no or unknown `client_id`, a
/// [`RequestUriReason`], or a store failure.
pub async fn redeem(
    directory: &dyn ClientDirectory,
    store: &dyn PushedAuthorizationStore,
    sealer: &MasterKey,
    params: &AuthorizationRequest,
    now: UnixTime,
) -> Result<(Arc<Client>, ValidatedAuthorizationRequest), ErrorPageReason> {
    let Some(client_id) = params.client_id.as_deref() else {
        return Err(ErrorPageReason::MissingClientId);
    };
    let client = match directory.find_client(client_id).await {
        Ok(Some(client)) => client,
        Ok(None) => return Err(ErrorPageReason::UnknownClient(echo(client_id))),
        Err(e) => return Err(ErrorPageReason::Store(e)),
    };
    let refused = ErrorPageReason::PushedRequest;
    let reference = params
        .request_uri
        .as_deref()
        .and_then(|uri| uri.strip_prefix(REQUEST_URI_PREFIX))
        .filter(|r| !r.is_empty() && r.len() <= MAX_REFERENCE_CHARS)
        .ok_or(refused(RequestUriReason::Malformed))?;
    let digest = SecretDigest::of(reference);
    let pushed = store
        .pushed_authorization_take(&digest, &client.client_id)
        .await
        .map_err(ErrorPageReason::Store)?
        .ok_or(refused(RequestUriReason::Unknown))?;
    if now >= pushed.expires_at {
        return Err(refused(RequestUriReason::Expired));
    }
    let json = sealer
        .open_per_message(&aad(&digest), &pushed.sealed_request)
        .map_err(|_| refused(RequestUriReason::Corrupt))?;
    let stored: StoredAuthorizationRequest =
        serde_json::from_slice(&json).map_err(|_| refused(RequestUriReason::Corrupt))?;
    let request = ValidatedAuthorizationRequest::from_stored(stored)
        .map_err(|_| refused(RequestUriReason::Corrupt))?;
    if request.client_id() != client.client_id {
        return Err(refused(RequestUriReason::Corrupt));
    }
    Ok((client, request))
}

/// [`validate`] for a request that arrives at `/authorize` without a pushed
/// `request_uri`, then RFC 9126 §6: a client registered with
/// `require_pushed_authorization_requests`, or any client when `required_for_all`
/// (`[authorization] require_pushed_authorization_requests`), is refused with
/// `invalid_request` at its redirect URI. Why a redirect, not an error page: the
/// redirect URI was verified against the registration by exact match (RFC 6749
/// §4.1.2.1 sends every later error to the client), and the client learns why.
///
/// # Errors
/// An [`AuthorizationError`].
pub async fn validate_unpushed(
    directory: &dyn ClientDirectory,
    params: AuthorizationRequest,
    required_for_all: bool,
) -> Result<(Arc<Client>, ValidatedAuthorizationRequest), AuthorizationError> {
    let (client, request) = validate(directory, params).await?;
    if required_for_all || client.require_pushed_authorization_requests {
        return Err(AuthorizationError::Redirect(RedirectError {
            redirect_uri: request.redirect_uri().to_owned(),
            state: request.state().map(str::to_owned),
            reason: super::request::AuthorizeReason::PushedAuthorizationRequired,
        }));
    }
    Ok((client, request))
}

/// Additional data of every seal: names what is sealed and binds it to its digest (a
/// sealed request moved to another row does not open).
fn aad(digest: &SecretDigest) -> Vec<u8> {
    let mut aad = AAD_PREFIX.to_vec();
    aad.extend_from_slice(digest.as_bytes());
    aad
}

/// See [`aad`].
const AAD_PREFIX: &[u8] = b"portcullis pushed authorization request v1\0";

/// Longest reference accepted after the prefix, in characters (the issued ones are 43).
const MAX_REFERENCE_CHARS: usize = 128;

#[cfg(test)]
mod tests;
