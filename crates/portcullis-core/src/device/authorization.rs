//! RFC 8628 §3.1–3.2: the device authorization endpoint, and the store operations the
//! verification pages (§3.3) use to find and decide a device authorization.
//!
//! The device (a TV, a CLI) authenticates like at the token endpoint, names the scopes
//! and resources it wants, and receives a `device_code` (256-bit, stored as its
//! SHA-256 digest) to poll with and a short `user_code` the user types at
//! [`routes::DEVICE`]. Scopes and resources are checked here, at the start, against
//! the client's registration, so the consent page shows only what can be granted.

use super::user_code::UserCode;
use super::{DeviceAuthorization, DeviceAuthorizationStatus};
use crate::UnixTime;
use crate::authorization::request::ValidatedAuthorizationRequest;
use crate::client::Client;
use crate::client::authentication::{
    ClientAuthFailure, ClientAuthReason, ClientDirectory, PresentedCredentials, PublicClients,
    authenticate,
};
use crate::client::check_resource_uri;
use crate::client::origin::{OriginNotAllowed, check_request_origin};
use crate::resource::{
    Resource, default_scopes, effective_resources, registered_resources, scope_outside_resources,
};
use crate::scope::parse_scope;
use crate::secret::{DigestKey, RandomUnavailable, SecretDigest, generate_secret};
use crate::store::{Store, StoreError};
use portcullis_proto::ErrorCode;
use portcullis_proto::device::{DeviceAuthorizationRequest, DeviceAuthorizationResponse};
use portcullis_proto::error::echo;
use portcullis_proto::grant::GrantType;
use portcullis_proto::routes;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeSet;
use std::sync::Arc;

/// What the device authorization endpoint needs besides the request: built once at
/// start-up and shared by every request.
pub struct DeviceAuthorizationEndpoint {
    /// Seconds a device code (and its user code) lives: the response's `expires_in`.
    pub device_code_ttl: i64,
    /// Seconds a device waits between polls at first: the response's `interval`
    /// (RFC 8628 §3.2; [`super::DEFAULT_POLL_INTERVAL`] is the RFC's default).
    pub interval: i64,
    /// Where clients are looked up (the server's bounded cache).
    pub clients: Arc<dyn ClientDirectory>,
    /// Where device authorizations are stored.
    pub store: Arc<dyn Store>,
    /// The key of user-code digests ([`UserCode::digest`]).
    pub user_code_key: Arc<DigestKey>,
}

/// A device authorization just created: the secrets to answer with, once.
pub struct IssuedDeviceAuthorization {
    /// The device verification code (256-bit, base64url); only its digest is stored.
    pub device_code: SecretString,
    /// The code the user types.
    pub user_code: UserCode,
    /// Seconds until both codes expire.
    pub expires_in: i64,
    /// Minimum seconds between polls.
    pub interval: i64,
    /// The authenticated client.
    pub client_id: String,
    /// The scopes requested (checked against the client's).
    pub scopes: BTreeSet<String>,
}

impl IssuedDeviceAuthorization {
    /// RFC 8628 §3.2 response body: `verification_uri` is `{issuer}/device`,
    /// `verification_uri_complete` (§3.3.1) adds `?user_code=XXXX-XXXX`.
    pub fn response(&self, issuer: &str) -> DeviceAuthorizationResponse {
        let verification_uri = format!("{issuer}{}", routes::DEVICE);
        let user_code = self.user_code.display();
        DeviceAuthorizationResponse {
            device_code: self.device_code.expose_secret().to_owned(),
            verification_uri_complete: format!("{verification_uri}?user_code={user_code}"),
            verification_uri,
            user_code,
            expires_in: u64::try_from(self.expires_in).unwrap_or(0),
            interval: u64::try_from(self.interval).unwrap_or(0),
        }
    }
}

impl std::fmt::Debug for IssuedDeviceAuthorization {
    /// Redacts the device code and the user code.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedDeviceAuthorization")
            .field("device_code", &"[redacted]")
            .field("user_code", &self.user_code)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// Precise reasons a device authorization request failed (CONVENTIONS §2); the wire
/// code is `ErrorCode::from` the reason ([`crate::error_code`]). Quoted values are bounded with [`echo`].
#[derive(Debug, thiserror::Error)]
pub enum DeviceAuthorizationReason {
    /// Client authentication failed or was malformed (RFC 8628 §3.1: as at the token
    /// endpoint).
    #[error(transparent)]
    ClientAuth(ClientAuthReason),
    /// The client is not registered for the device grant.
    #[error(
        "this client is not registered for the urn:ietf:params:oauth:grant-type:device_code grant"
    )]
    UnauthorizedClient,
    /// A browser page at an origin the client does not allow sent the request; refused
    /// before a device code is created ([`crate::client::origin`]).
    #[error(transparent)]
    OriginNotAllowed(OriginNotAllowed),
    /// No `scope` (or an empty one) and no default (RFC 6749 §3.3,
    /// [`crate::resource::default_scopes`]): as at `/authorize`, a scope is required (an
    /// empty request would get a token with the user's `sub` without the consent page
    /// showing anything to approve).
    #[error("scope is required: request at least one scope, e.g. openid")]
    MissingScope,
    /// A scope that none of the requested registered resources defines
    /// ([`crate::resource::scope_outside_resources`]).
    #[error("scope `{0}` is not defined by the requested resource")]
    ScopeNotForResource(String),
    /// RFC 6749 §3.3: not a scope-token.
    #[error(
        "scope `{0}` is malformed (RFC 6749 section 3.3: visible ASCII, separated by single spaces)"
    )]
    MalformedScope(String),
    /// The scope is not among the client's allowed scopes.
    #[error("scope `{0}` is not allowed for this client")]
    ScopeNotAllowed(String),
    /// RFC 8707 §2: not an absolute URI, or has a fragment.
    #[error("resource `{0}` must be an absolute URI without a fragment (RFC 8707 section 2)")]
    MalformedResource(String),
    /// The resource is not among the client's audiences.
    #[error("resource `{0}` is not an audience this client may request")]
    ResourceNotAllowed(String),
    /// [`MAX_USER_CODE_DRAWS`] user codes in a row were taken (the store is flooded
    /// with live codes, or the CSPRNG is broken).
    #[error("no free user code was found")]
    UserCodeCollisions,
    /// The database failed.
    #[error("storage failed: {0}")]
    Store(StoreError),
    /// The system CSPRNG failed.
    #[error(transparent)]
    Random(RandomUnavailable),
}

impl DeviceAuthorizationReason {
    /// Whether the server, not the client, is at fault (store, CSPRNG, user code
    /// space): logged as an error with the detail, answered with a generic description.
    pub fn is_server_side(&self) -> bool {
        matches!(
            self,
            Self::Store(_) | Self::Random(_) | Self::UserCodeCollisions
        )
    }
}

/// A failed device authorization request: the reason, and the client it concerned (for
/// the audit log). Mirrors [`crate::grants::token_endpoint::TokenError`].
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct DeviceAuthorizationError {
    /// Why it failed.
    pub reason: DeviceAuthorizationReason,
    /// The client id as claimed by the request (unverified unless authentication
    /// passed), bounded with [`echo`] since it goes to the audit log.
    pub unverified_client_id: Option<String>,
}

impl DeviceAuthorizationError {
    /// `error_description`: says what to fix; generic for server-side failures and for
    /// client authentication (whose detail could tell a caller that a client exists).
    pub fn description(&self) -> String {
        let client_auth = match &self.reason {
            DeviceAuthorizationReason::ClientAuth(reason) => Some(reason),
            _ => None,
        };
        let code = ErrorCode::from(&self.reason);
        crate::grants::token_endpoint::error_description(code, client_auth, &self.reason)
    }
}

/// RFC 8628 §3.1–3.2: handles one device authorization request at `now`.
/// `authorization` is the raw `Authorization` header value, if any; `origin` the
/// `Origin` header (RFC 6454 §7), if any.
///
/// Rules, in order:
/// 1. Client authentication exactly as at the token endpoint (confidential clients
///    authenticate, public clients send `client_id`): `invalid_client` /
///    `invalid_request`; then a browser `origin` the client must allow
///    (`invalid_request`, [`crate::client::origin`]).
/// 2. The client is registered for `urn:ietf:params:oauth:grant-type:device_code`
///    (`unauthorized_client`).
/// 3. `resource` (RFC 8707 §2): absolute URIs without a fragment, each one of the
///    client's audiences (`invalid_target`); duplicates dropped, order kept.
/// 4. `scope`: scope-tokens each allowed for the client (`invalid_scope`); without it,
///    the default as at `/authorize` (the requested registered resources'
///    `default_scopes`, else the client's), else `invalid_scope`; only scopes the
///    requested registered resources define ([`crate::resource`]).
/// 5. A `device_code` (256-bit) and a user code are drawn and stored as digests,
///    `Pending`, expiring `device_code_ttl` seconds after `now`; a user code already
///    taken ([`StoreError::Conflict`]) is drawn again, up to [`MAX_USER_CODE_DRAWS`]
///    times.
///
/// # Errors
/// A [`DeviceAuthorizationError`]; see [`DeviceAuthorizationReason`] for each case.
pub async fn device_authorization_request(
    endpoint: &DeviceAuthorizationEndpoint,
    authorization: Option<&str>,
    origin: Option<&str>,
    request: DeviceAuthorizationRequest,
    now: UnixTime,
) -> Result<IssuedDeviceAuthorization, DeviceAuthorizationError> {
    let presented = PresentedCredentials {
        authorization,
        client_id: request.client_id.as_deref(),
        client_secret: request.client_secret.as_deref(),
        client_assertion_type: request.client_assertion_type.as_deref(),
        client_assertion: request.client_assertion.as_deref(),
    };
    let authenticated = authenticate(
        endpoint.clients.as_ref(),
        presented,
        PublicClients::Allowed,
        now,
    )
    .await
    .map_err(|error| DeviceAuthorizationError {
        reason: match error.failure {
            ClientAuthFailure::Rejected(reason) => DeviceAuthorizationReason::ClientAuth(reason),
            ClientAuthFailure::Store(store) => DeviceAuthorizationReason::Store(store),
        },
        unverified_client_id: error.unverified_client_id,
    })?;
    let client = authenticated.client();
    let created = match check_request_origin(client, origin) {
        Ok(()) => create(endpoint, client, request, now).await,
        Err(refused) => Err(DeviceAuthorizationReason::OriginNotAllowed(refused)),
    };
    created.map_err(|reason| DeviceAuthorizationError {
        reason,
        unverified_client_id: Some(echo(&client.client_id)),
    })
}

/// RFC 8628 §3.3: the device authorization `code` names, if it still waits for the
/// user: `Pending`, not consumed, and `now < expires_at`. `None` otherwise (unknown,
/// expired or decided: the page says "unknown or expired code" for all three).
///
/// # Errors
/// Store failures.
pub async fn find_by_user_code(
    store: &dyn Store,
    key: &DigestKey,
    code: &UserCode,
    now: UnixTime,
) -> Result<Option<DeviceAuthorization>, StoreError> {
    store
        .device_authorization_find_by_user_code(&code.digest(key), now)
        .await
}

/// RFC 8628 §3.3: records the user's decision (`Approved` or `Denied`) on the device
/// authorization with this device code digest, in one conditional statement: `true`
/// for exactly one caller, `false` if it was decided already, expired or is absent
/// (the page then tells the user the code is no longer valid). A `Pending` decision
/// records nothing and returns `false`.
///
/// # Errors
/// Store failures.
pub async fn record_decision(
    store: &dyn Store,
    device_code_digest: &SecretDigest,
    decision: DeviceAuthorizationStatus,
    now: UnixTime,
) -> Result<bool, StoreError> {
    if decision == DeviceAuthorizationStatus::Pending {
        return Ok(false);
    }
    store
        .device_authorization_decide(device_code_digest, &decision, now)
        .await
}

/// The request the pending-authorization row keeps while the user logs in and
/// consents to a device authorization (RFC 8628 §3.3): its client, scopes and
/// resources (`ValidatedAuthorizationRequest::for_device_authorization`: no redirect
/// URI, `state`, `nonce` or PKCE challenge).
pub fn pending_request(authorization: &DeviceAuthorization) -> ValidatedAuthorizationRequest {
    ValidatedAuthorizationRequest::for_device_authorization(
        authorization.client_id.clone(),
        authorization.scopes.clone(),
        authorization.resources.clone(),
    )
}

/// Rules 2–5 of [`device_authorization_request`], once the client is authenticated.
async fn create(
    endpoint: &DeviceAuthorizationEndpoint,
    client: &Client,
    request: DeviceAuthorizationRequest,
    now: UnixTime,
) -> Result<IssuedDeviceAuthorization, DeviceAuthorizationReason> {
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(DeviceAuthorizationReason::UnauthorizedClient);
    }
    let resources = requested_resources(client, &request.resource)?;
    // The scope rules judge the audience the token will carry (the first audience when
    // no `resource` was sent).
    let effective = effective_resources(client, &resources);
    let registered = registered_resources(endpoint.clients.as_ref(), &effective)
        .await
        .map_err(DeviceAuthorizationReason::Store)?;
    let scopes = requested_scopes(client, request.scope.as_deref(), &effective, &registered)?;
    if let Some(foreign) = scope_outside_resources(&scopes, &effective, &registered) {
        return Err(DeviceAuthorizationReason::ScopeNotForResource(echo(
            foreign,
        )));
    }
    let device_code = generate_secret().map_err(DeviceAuthorizationReason::Random)?;
    let mut record = DeviceAuthorization {
        device_code_digest: SecretDigest::of(device_code.expose_secret()),
        user_code_digest: SecretDigest::of(""),
        client_id: client.client_id.clone(),
        scopes,
        resources,
        status: DeviceAuthorizationStatus::Pending,
        interval: endpoint.interval,
        last_polled_at: None,
        consumed_at: None,
        created_at: now,
        expires_at: now.saturating_add(endpoint.device_code_ttl),
    };
    for _ in 0..MAX_USER_CODE_DRAWS {
        let user_code = UserCode::generate().map_err(DeviceAuthorizationReason::Random)?;
        record.user_code_digest = user_code.digest(&endpoint.user_code_key);
        match endpoint.store.device_authorization_insert(&record).await {
            Ok(()) => {
                return Ok(IssuedDeviceAuthorization {
                    device_code,
                    user_code,
                    expires_in: endpoint.device_code_ttl,
                    interval: endpoint.interval,
                    client_id: record.client_id,
                    scopes: record.scopes,
                });
            }
            // Why draw again rather than fail: a taken user code is expected now and
            // then (34.6 bits, many live codes); the device code is 256-bit and never
            // the cause in practice.
            Err(StoreError::Conflict(_)) => continue,
            Err(other) => return Err(DeviceAuthorizationReason::Store(other)),
        }
    }
    Err(DeviceAuthorizationReason::UserCodeCollisions)
}

/// Rule 4: the requested scopes (else the default of `registered`, the requested
/// registered resources, or the client's), required and each allowed for the client.
fn requested_scopes(
    client: &Client,
    scope: Option<&str>,
    resources: &[String],
    registered: &[Arc<Resource>],
) -> Result<BTreeSet<String>, DeviceAuthorizationReason> {
    let scopes = match scope {
        None => default_scopes(client, resources, registered),
        Some(value) => parse_scope(value)
            .map_err(|bad| DeviceAuthorizationReason::MalformedScope(echo(&bad)))?,
    };
    if scopes.is_empty() {
        return Err(DeviceAuthorizationReason::MissingScope);
    }
    if let Some(denied) = scopes.iter().find(|s| !client.scopes.contains(s)) {
        return Err(DeviceAuthorizationReason::ScopeNotAllowed(echo(denied)));
    }
    Ok(scopes)
}

/// Rule 3: the requested resources, each well-formed and one of the client's
/// audiences; duplicates dropped, order kept.
fn requested_resources(
    client: &Client,
    requested: &[String],
) -> Result<Vec<String>, DeviceAuthorizationReason> {
    let mut resources: Vec<String> = Vec::with_capacity(requested.len());
    for resource in requested {
        if check_resource_uri(resource).is_err() {
            return Err(DeviceAuthorizationReason::MalformedResource(echo(resource)));
        }
        if !client.audiences.contains(resource) {
            return Err(DeviceAuthorizationReason::ResourceNotAllowed(echo(
                resource,
            )));
        }
        if !resources.contains(resource) {
            resources.push(resource.clone());
        }
    }
    Ok(resources)
}

/// How many user codes [`device_authorization_request`] draws before giving up.
pub const MAX_USER_CODE_DRAWS: usize = 5;

#[cfg(test)]
mod props;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorization::request::{Prompt, StoredAuthorizationRequest};
    use crate::grants::fixture::*;
    use portcullis_proto::ErrorCode;

    fn request(client_id: &str, scope: Option<&str>) -> DeviceAuthorizationRequest {
        DeviceAuthorizationRequest {
            client_id: Some(client_id.into()),
            scope: scope.map(Into::into),
            ..Default::default()
        }
    }

    async fn start(
        f: &Fixture,
        authorization: Option<&str>,
        request: DeviceAuthorizationRequest,
    ) -> Result<IssuedDeviceAuthorization, DeviceAuthorizationError> {
        device_authorization_request(&f.device_endpoint(), authorization, None, request, NOW).await
    }

    async fn rejection(
        f: &Fixture,
        authorization: Option<&str>,
        request: DeviceAuthorizationRequest,
    ) -> (DeviceAuthorizationReason, ErrorCode, String) {
        let error = start(f, authorization, request).await.unwrap_err();
        let (code, description) = (ErrorCode::from(&error), error.description());
        (error.reason, code, description)
    }

    #[tokio::test]
    async fn issues_a_device_code_and_a_user_code_and_stores_only_their_digests() {
        let f = Fixture::new().await;
        let issued = start(
            &f,
            None,
            DeviceAuthorizationRequest {
                resource: vec![API.into(), "https://b.example".into(), API.into()],
                ..request("tv", Some("openid read"))
            },
        )
        .await
        .unwrap();
        assert_eq!(issued.device_code.expose_secret().len(), 43);
        assert_eq!(
            (
                issued.expires_in,
                issued.interval,
                issued.client_id.as_str()
            ),
            (DEVICE_TTL, DEVICE_INTERVAL, "tv")
        );
        let response = issued.response(ISS);
        let shown = issued.user_code.display();
        assert_eq!(response.user_code, shown);
        assert_eq!(response.verification_uri, "https://id.example/device");
        assert_eq!(
            response.verification_uri_complete,
            format!("https://id.example/device?user_code={shown}")
        );
        assert_eq!((response.expires_in, response.interval), (600, 5));
        assert_eq!(response.device_code, issued.device_code.expose_secret());

        let digest = SecretDigest::of(issued.device_code.expose_secret());
        let stored = f.store.device_authorization_get(&digest).await.unwrap();
        assert_eq!(
            stored,
            Some(DeviceAuthorization {
                device_code_digest: digest,
                user_code_digest: issued
                    .user_code
                    .digest(&crate::testing::digest_key(USER_CODE_KEY_BYTE)),
                client_id: "tv".into(),
                scopes: ["openid", "read"].map(String::from).into(),
                // Duplicates dropped, order kept.
                resources: vec![API.into(), "https://b.example".into()],
                status: DeviceAuthorizationStatus::Pending,
                interval: DEVICE_INTERVAL,
                last_polled_at: None,
                consumed_at: None,
                created_at: NOW,
                expires_at: NOW + DEVICE_TTL,
            })
        );
        assert!(!format!("{issued:?}").contains(issued.device_code.expose_secret()));
    }

    #[tokio::test]
    async fn a_confidential_client_authenticates_with_its_secret() {
        let f = Fixture::new().await;
        let issued = start(
            &f,
            Some(&basic("kiosk", SECRET)),
            DeviceAuthorizationRequest {
                scope: Some("openid".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(issued.client_id, "kiosk");
    }

    #[tokio::test]
    async fn rejects_a_confidential_client_without_its_secret() {
        let f = Fixture::new().await;
        let (reason, code, _) = rejection(&f, None, request("kiosk", Some("openid"))).await;
        assert!(
            matches!(reason, DeviceAuthorizationReason::ClientAuth(_)),
            "{reason:?}"
        );
        assert_eq!(code, ErrorCode::InvalidClient);
    }

    #[tokio::test]
    async fn rejects_an_unknown_client() {
        let f = Fixture::new().await;
        let error = start(&f, None, request("nobody", Some("openid")))
            .await
            .unwrap_err();
        assert_eq!(ErrorCode::from(&error), ErrorCode::InvalidClient);
        assert_eq!(error.unverified_client_id.as_deref(), Some("nobody"));
    }

    #[tokio::test]
    async fn rejects_a_malformed_client_authentication() {
        let f = Fixture::new().await;
        // A Basic header and client_secret in the body: two methods at once.
        let (reason, code, _) = rejection(
            &f,
            Some(&basic("kiosk", SECRET)),
            DeviceAuthorizationRequest {
                client_secret: Some(SECRET.into()),
                ..request("kiosk", Some("openid"))
            },
        )
        .await;
        assert_eq!(
            reason.to_string(),
            ClientAuthReason::MultipleMethods.to_string()
        );
        assert_eq!(code, ErrorCode::InvalidRequest);
    }

    #[tokio::test]
    async fn rejects_a_client_without_the_device_grant() {
        let f = Fixture::new().await;
        let (reason, code, description) = rejection(
            &f,
            Some(&web_basic()),
            DeviceAuthorizationRequest {
                scope: Some("openid".into()),
                ..Default::default()
            },
        )
        .await;
        assert!(matches!(
            reason,
            DeviceAuthorizationReason::UnauthorizedClient
        ));
        assert_eq!(code, ErrorCode::UnauthorizedClient);
        assert!(description.contains("device_code grant"), "{description}");
    }

    #[tokio::test]
    async fn rejects_a_missing_scope() {
        let f = Fixture::new().await;
        let (reason, code, _) = rejection(&f, None, request("tv", None)).await;
        assert!(matches!(reason, DeviceAuthorizationReason::MissingScope));
        assert_eq!(code, ErrorCode::InvalidScope);
    }

    #[tokio::test]
    async fn rejects_a_malformed_scope() {
        let f = Fixture::new().await;
        let (reason, code, _) = rejection(&f, None, request("tv", Some("openid  read"))).await;
        assert!(
            matches!(reason, DeviceAuthorizationReason::MalformedScope(ref s) if s.is_empty()),
            "{reason:?}"
        );
        assert_eq!(code, ErrorCode::InvalidScope);
    }

    #[tokio::test]
    async fn rejects_a_scope_the_client_may_not_request() {
        let f = Fixture::new().await;
        let (reason, code, description) =
            rejection(&f, None, request("box", Some("openid write"))).await;
        assert!(
            matches!(reason, DeviceAuthorizationReason::ScopeNotAllowed(ref s) if s == "write"),
            "{reason:?}"
        );
        assert_eq!(code, ErrorCode::InvalidScope);
        assert_eq!(description, "scope `write` is not allowed for this client");
    }

    #[tokio::test]
    async fn rejects_a_malformed_resource() {
        let f = Fixture::new().await;
        let (reason, code, _) = rejection(
            &f,
            None,
            DeviceAuthorizationRequest {
                resource: vec!["https://api.example#frag".into()],
                ..request("tv", Some("read"))
            },
        )
        .await;
        assert!(
            matches!(reason, DeviceAuthorizationReason::MalformedResource(_)),
            "{reason:?}"
        );
        assert_eq!(code, ErrorCode::InvalidTarget);
    }

    #[tokio::test]
    async fn rejects_a_resource_the_client_may_not_request() {
        let f = Fixture::new().await;
        let (reason, code, _) = rejection(
            &f,
            None,
            DeviceAuthorizationRequest {
                resource: vec!["https://other.example".into()],
                ..request("tv", Some("read"))
            },
        )
        .await;
        assert!(
            matches!(reason, DeviceAuthorizationReason::ResourceNotAllowed(_)),
            "{reason:?}"
        );
        assert_eq!(code, ErrorCode::InvalidTarget);
    }

    #[tokio::test]
    async fn draws_another_user_code_when_one_is_taken() {
        let f = Fixture::new().await;
        f.store
            .conflict_on_next_device_inserts(MAX_USER_CODE_DRAWS - 1);
        let issued = start(&f, None, request("tv", Some("read"))).await.unwrap();
        let found = find_by_user_code(
            &*f.store,
            &f.device_endpoint().user_code_key,
            &issued.user_code,
            NOW,
        )
        .await
        .unwrap();
        assert!(found.is_some());
    }

    #[tokio::test]
    async fn rejects_when_every_user_code_drawn_is_taken() {
        let f = Fixture::new().await;
        f.store.conflict_on_next_device_inserts(MAX_USER_CODE_DRAWS);
        let (reason, code, description) = rejection(&f, None, request("tv", Some("read"))).await;
        assert!(matches!(
            reason,
            DeviceAuthorizationReason::UserCodeCollisions
        ));
        assert!(reason.is_server_side());
        assert_eq!(code, ErrorCode::ServerError);
        assert_eq!(description, "the server could not complete the request");
    }

    #[test]
    fn store_failures_map_to_server_side_codes() {
        let unavailable = DeviceAuthorizationError {
            reason: DeviceAuthorizationReason::Store(StoreError::Unavailable("down".into())),
            unverified_client_id: None,
        };
        assert_eq!(
            ErrorCode::from(&unavailable),
            ErrorCode::TemporarilyUnavailable
        );
        assert!(!unavailable.description().contains("down"));
        let other = DeviceAuthorizationReason::Store(StoreError::Other("boom".into()));
        assert_eq!(ErrorCode::from(&other), ErrorCode::ServerError);
        assert!(other.is_server_side());
        assert_eq!(
            ErrorCode::from(&DeviceAuthorizationReason::Random(RandomUnavailable)),
            ErrorCode::ServerError
        );
    }

    #[tokio::test]
    async fn find_by_user_code_finds_a_pending_live_authorization_only() {
        let f = Fixture::new().await;
        let issued = f.start_device("tv", "openid").await;
        let typed = UserCode::parse(&issued.user_code.display().to_lowercase()).unwrap();
        let found = find_by_user_code(
            &*f.store,
            &f.device_endpoint().user_code_key,
            &typed,
            NOW + DEVICE_TTL - 1,
        )
        .await
        .unwrap()
        .unwrap();
        assert_eq!(found.client_id, "tv");
        for late in [NOW + DEVICE_TTL, NOW + DEVICE_TTL + 1] {
            assert_eq!(
                find_by_user_code(&*f.store, &f.device_endpoint().user_code_key, &typed, late)
                    .await
                    .unwrap(),
                None
            );
        }
        f.decide_device(&issued, true).await;
        assert_eq!(
            find_by_user_code(&*f.store, &f.device_endpoint().user_code_key, &typed, NOW)
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn record_decision_decides_once() {
        let f = Fixture::new().await;
        let issued = f.start_device("tv", "openid").await;
        let digest = SecretDigest::of(issued.device_code.expose_secret());
        assert!(
            !record_decision(&*f.store, &digest, DeviceAuthorizationStatus::Pending, NOW)
                .await
                .unwrap()
        );
        assert!(
            record_decision(&*f.store, &digest, DeviceAuthorizationStatus::Denied, NOW)
                .await
                .unwrap()
        );
        let approve = DeviceAuthorizationStatus::Approved {
            user_id: SUB.into(),
            auth_time: NOW,
        };
        assert!(
            !record_decision(&*f.store, &digest, approve, NOW)
                .await
                .unwrap()
        );
        let stored = f.store.device_authorization_get(&digest).await.unwrap();
        assert_eq!(
            stored.map(|d| d.status),
            Some(DeviceAuthorizationStatus::Denied)
        );
    }

    #[tokio::test]
    async fn pending_request_carries_client_scopes_and_resources_only() {
        let f = Fixture::new().await;
        let issued = start(
            &f,
            None,
            DeviceAuthorizationRequest {
                resource: vec![API.into()],
                ..request("tv", Some("openid read"))
            },
        )
        .await
        .unwrap();
        let digest = SecretDigest::of(issued.device_code.expose_secret());
        let stored = f
            .store
            .device_authorization_get(&digest)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            pending_request(&stored),
            ValidatedAuthorizationRequest::from_stored(StoredAuthorizationRequest {
                client_id: "tv".into(),
                redirect_uri: String::new(),
                redirect_uri_sent: false,
                scopes: ["openid", "read"].map(String::from).into(),
                state: None,
                nonce: None,
                code_challenge: None,
                resources: vec![API.into()],
                prompt: Prompt::default(),
                max_age: None,
                login_hint: None,
                dpop_jkt: None,
            })
            .unwrap()
        );
    }
}
