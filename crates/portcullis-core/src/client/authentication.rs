//! RFC 6749 §2.3.1 client authentication at the token endpoint:
//! `client_secret_basic` (HTTP Basic) and `client_secret_post` (body parameters), and
//! `none` for public clients. [`authenticate`] is the one entry point, shared by the
//! token, introspection (RFC 7662 §2.1) and revocation (RFC 7009 §2.1) endpoints, so
//! all three authenticate a client exactly alike.

use super::{Client, ClientStore};
use crate::UnixTime;
use crate::resource::{Resource, ResourceStore};
use crate::secret::DigestKey;
use crate::store::StoreError;
use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::STANDARD};
use portcullis_proto::ErrorCode;
use portcullis_proto::error::echo;
use portcullis_proto::grant::TokenEndpointAuthMethod;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// Where the protocol finds clients and registered resources: the server puts a
/// bounded cache in front of the store; any [`ClientStore`] + [`ResourceStore`] (so any
/// [`Store`](crate::Store)) works directly.
#[async_trait]
pub trait ClientDirectory: Send + Sync {
    /// The client with this id, if registered.
    async fn find_client(&self, client_id: &str) -> Result<Option<Arc<Client>>, StoreError>;

    /// The registered resource with this identifier (exact string, RFC 8707 §2), if any
    /// ([`crate::resource`]).
    async fn find_resource(&self, identifier: &str) -> Result<Option<Arc<Resource>>, StoreError>;

    /// The key of keyed client-secret digests
    /// ([`ClientSecretDigest::Keyed`](super::ClientSecretDigest::Keyed)), if this
    /// directory has one; without it, keyed secrets never match (fail closed).
    fn client_secret_key(&self) -> Option<&DigestKey> {
        None
    }
}

#[async_trait]
impl<S: ClientStore + ResourceStore + ?Sized> ClientDirectory for S {
    async fn find_client(&self, client_id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        Ok(self.client_get(client_id).await?.map(Arc::new))
    }

    async fn find_resource(&self, identifier: &str) -> Result<Option<Arc<Resource>>, StoreError> {
        Ok(self.resource_get(identifier).await?.map(Arc::new))
    }
}

/// Whether an endpoint accepts public clients (`token_endpoint_auth_method = none`,
/// which only name themselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublicClients {
    /// The token endpoint (RFC 6749 §2.1, PKCE protects the code) and revocation (RFC
    /// 7009 §2.1: a public client may revoke its own tokens; holding the token is the
    /// proof).
    Allowed,
    /// Introspection (RFC 7662 §2.1 requires authorization of the caller; a public
    /// client's id is no credential, so anyone could pose as it).
    Refused,
}

/// Authenticates the client of a request to the token, introspection or revocation
/// endpoint from the raw `Authorization` header value (if any) and the body's
/// `client_id` / `client_secret`: [`UnverifiedClientCredentials::parse`], then
/// [`UnverifiedClientCredentials::verify`], then the `public_clients` policy.
///
/// # Errors
/// A [`ClientAuthError`] carrying the claimed client id for the audit log;
/// `ErrorCode::from` gives the wire code ([`crate::error_code`]).
pub async fn authenticate(
    directory: &dyn ClientDirectory,
    authorization: Option<&str>,
    body_client_id: Option<&str>,
    body_client_secret: Option<&str>,
    public_clients: PublicClients,
    now: UnixTime,
) -> Result<AuthenticatedClient, ClientAuthError> {
    let fail = |failure: ClientAuthFailure, claimed: Option<&str>| ClientAuthError {
        failure,
        unverified_client_id: claimed.map(echo),
    };
    let credentials =
        UnverifiedClientCredentials::parse(authorization, body_client_id, body_client_secret)
            .map_err(|reason| fail(ClientAuthFailure::Rejected(reason), body_client_id))?;
    let claimed = Some(credentials.unverified_client_id());
    let client = match credentials.verify(directory, now).await {
        Ok(Ok(client)) => client,
        Ok(Err(reason)) => return Err(fail(ClientAuthFailure::Rejected(reason), claimed)),
        Err(store) => return Err(fail(ClientAuthFailure::Store(store), claimed)),
    };
    if public_clients == PublicClients::Refused && client.client().is_public() {
        let reason = ClientAuthReason::PublicClientRefused;
        return Err(fail(ClientAuthFailure::Rejected(reason), claimed));
    }
    Ok(client)
}

/// A failed [`authenticate`]: why, and the client id the request claimed.
#[derive(Debug, thiserror::Error)]
#[error("{failure}")]
pub struct ClientAuthError {
    /// Why it failed.
    pub failure: ClientAuthFailure,
    /// The client id as claimed by the request (unverified), bounded with [`echo`]
    /// since it goes to the audit log.
    pub unverified_client_id: Option<String>,
}

/// Why [`authenticate`] failed: the client's fault, or the store's.
#[derive(Debug, thiserror::Error)]
pub enum ClientAuthFailure {
    /// The credentials were malformed or wrong.
    #[error(transparent)]
    Rejected(ClientAuthReason),
    /// The client could not be looked up.
    #[error("storage failed: {0}")]
    Store(StoreError),
}

impl ClientAuthError {
    /// `error_description`: [`ClientAuthReason::description`], or a generic sentence
    /// for server-side failures (their detail goes to the log only).
    pub fn description(&self) -> String {
        match &self.failure {
            ClientAuthFailure::Rejected(reason) => reason.description(),
            ClientAuthFailure::Store(StoreError::Unavailable(_)) => {
                "the server is temporarily unable to complete the request; retry later".to_owned()
            }
            ClientAuthFailure::Store(_) => "the server could not complete the request".to_owned(),
        }
    }
}

/// Precise reasons client authentication failed. On the wire these are
/// `invalid_request` (malformed request) or `invalid_client` (401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientAuthReason {
    /// Basic header and `client_secret` in the body at once (RFC 6749 §2.3: "MUST NOT
    /// use more than one authentication method in each request").
    #[error(
        "use one client authentication method: an Authorization header or client_secret in the body, not both"
    )]
    MultipleMethods,
    /// Body `client_id` differs from the Basic user name.
    #[error("client_id in the body does not match the client in the Authorization header")]
    ClientIdMismatch,
    /// `client_secret` without `client_id` in the body.
    #[error("client_secret was sent without client_id")]
    SecretWithoutId,
    /// The Basic header is not `Basic base64(urlencoded-id:urlencoded-secret)`.
    #[error(
        "the Authorization header is not valid HTTP Basic credentials (RFC 6749 section 2.3.1)"
    )]
    MalformedBasic,
    /// No credentials at all.
    #[error(
        "client authentication is required: use HTTP Basic (client_secret_basic) or client_id and client_secret in the body (client_secret_post)"
    )]
    Missing,
    /// No client with that id.
    #[error("client authentication failed")]
    UnknownClient,
    /// The secret does not match.
    #[error("client authentication failed")]
    WrongSecret,
    /// The method does not fit the registration: a public client sent a secret, or a
    /// confidential client sent none.
    #[error("this client is registered for {registered}, but authenticated with {used}")]
    MethodNotRegistered {
        /// Registered method.
        registered: &'static str,
        /// Method used in the request.
        used: &'static str,
    },
    /// A public client at an endpoint that needs a confidential one
    /// ([`PublicClients::Refused`]: introspection).
    #[error(
        "this endpoint requires a confidential client: authenticate with client_secret_basic or client_secret_post"
    )]
    PublicClientRefused,
}

impl ClientAuthReason {
    /// A short stable code for the audit log (the wire text is the same for several of
    /// these, so as not to reveal whether a client exists). Not the wire code, which
    /// `ErrorCode::from` gives ([`crate::error_code`]).
    pub fn audit_code(&self) -> &'static str {
        match self {
            Self::MultipleMethods => "multiple_methods",
            Self::ClientIdMismatch => "client_id_mismatch",
            Self::SecretWithoutId => "secret_without_client_id",
            Self::MalformedBasic => "malformed_basic",
            Self::Missing => "missing_credentials",
            Self::UnknownClient => "unknown_client",
            Self::WrongSecret => "wrong_secret",
            Self::MethodNotRegistered { .. } => "method_not_registered",
            Self::PublicClientRefused => "public_client_refused",
        }
    }

    /// `error_description`: the reason, except for a method that does not fit the
    /// registration, which reads like a wrong secret (why: the detail would tell a
    /// caller that the client exists and how it is registered; it goes to the log).
    pub fn description(&self) -> String {
        match self {
            Self::MethodNotRegistered { .. } => Self::WrongSecret.to_string(),
            other => other.to_string(),
        }
    }

    /// `true` for malformed requests (`invalid_request`), `false` for failed
    /// authentication (`invalid_client`).
    pub fn is_malformed_request(&self) -> bool {
        ErrorCode::from(self) == ErrorCode::InvalidRequest
    }
}

/// Client credentials as presented, before verification (CONVENTIONS §5: untrusted).
#[derive(Debug)]
pub struct UnverifiedClientCredentials {
    unverified_client_id: String,
    secret: Option<SecretString>,
    method: TokenEndpointAuthMethod,
}

impl UnverifiedClientCredentials {
    /// Reads credentials from the `Authorization` header value (if any) and the body's
    /// `client_id` / `client_secret`.
    ///
    /// # Errors
    /// A [`ClientAuthReason`]: several methods at once, a mismatched or missing id,
    /// a malformed Basic header, or no credentials.
    pub fn parse(
        authorization: Option<&str>,
        body_client_id: Option<&str>,
        body_client_secret: Option<&str>,
    ) -> Result<Self, ClientAuthReason> {
        if let Some(header) = authorization {
            if body_client_secret.is_some() {
                return Err(ClientAuthReason::MultipleMethods);
            }
            let (id, secret) = parse_basic(header)?;
            if body_client_id.is_some_and(|body_id| body_id != id) {
                return Err(ClientAuthReason::ClientIdMismatch);
            }
            return Ok(Self {
                unverified_client_id: id,
                secret: Some(secret),
                method: TokenEndpointAuthMethod::ClientSecretBasic,
            });
        }
        match (body_client_id, body_client_secret) {
            (Some(id), Some(secret)) => Ok(Self {
                unverified_client_id: id.to_owned(),
                secret: Some(SecretString::from(secret)),
                method: TokenEndpointAuthMethod::ClientSecretPost,
            }),
            (Some(id), None) => Ok(Self {
                unverified_client_id: id.to_owned(),
                secret: None,
                method: TokenEndpointAuthMethod::None,
            }),
            (None, Some(_)) => Err(ClientAuthReason::SecretWithoutId),
            (None, None) => Err(ClientAuthReason::Missing),
        }
    }

    /// The client id as claimed; not yet proven.
    pub fn unverified_client_id(&self) -> &str {
        &self.unverified_client_id
    }

    /// The method the request used.
    pub fn method(&self) -> TokenEndpointAuthMethod {
        self.method
    }

    /// Looks the client up and checks the secret in constant time.
    ///
    /// # Errors
    /// [`ClientAuthReason::UnknownClient`], [`ClientAuthReason::WrongSecret`],
    /// [`ClientAuthReason::MethodNotRegistered`]; the outer error is a store failure.
    pub async fn verify(
        &self,
        directory: &dyn ClientDirectory,
        now: UnixTime,
    ) -> Result<Result<AuthenticatedClient, ClientAuthReason>, StoreError> {
        let Some(client) = directory.find_client(&self.unverified_client_id).await? else {
            return Ok(Err(ClientAuthReason::UnknownClient));
        };
        // RFC 6749 §2.3.1: a client issued a password may use HTTP Basic (which the
        // server MUST support) or the body; both carry the same secret. What must match
        // is secret versus none (why: a confidential client falling back to `none`
        // would skip authentication).
        let fits = match client.token_endpoint_auth_method {
            TokenEndpointAuthMethod::None => self.method == TokenEndpointAuthMethod::None,
            TokenEndpointAuthMethod::ClientSecretBasic
            | TokenEndpointAuthMethod::ClientSecretPost => {
                self.method != TokenEndpointAuthMethod::None
            }
        };
        if !fits {
            return Ok(Err(ClientAuthReason::MethodNotRegistered {
                registered: client.token_endpoint_auth_method.as_str(),
                used: self.method.as_str(),
            }));
        }
        match (&client.secrets, &self.secret) {
            (Some(secrets), Some(presented))
                if secrets.accepts(
                    presented.expose_secret(),
                    now,
                    directory.client_secret_key(),
                ) => {}
            (None, None) => {}
            _ => return Ok(Err(ClientAuthReason::WrongSecret)),
        }
        Ok(Ok(AuthenticatedClient {
            client,
            method: self.method,
        }))
    }
}

/// A client whose credentials were verified. Only [`UnverifiedClientCredentials::verify`]
/// constructs it, so a grant that demands it cannot skip authentication.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    client: Arc<Client>,
    method: TokenEndpointAuthMethod,
}

impl AuthenticatedClient {
    /// The verified client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// How it authenticated (`none` for a public client that only named itself).
    pub fn method(&self) -> TokenEndpointAuthMethod {
        self.method
    }
}

/// RFC 6749 §2.3.1 + RFC 7617: `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn parse_basic(header: &str) -> Result<(String, SecretString), ClientAuthReason> {
    let (scheme, encoded) = header
        .trim()
        .split_once(' ')
        .ok_or(ClientAuthReason::MalformedBasic)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ClientAuthReason::MalformedBasic);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .map_err(|_| ClientAuthReason::MalformedBasic)?;
    let decoded = String::from_utf8(decoded).map_err(|_| ClientAuthReason::MalformedBasic)?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or(ClientAuthReason::MalformedBasic)?;
    let id = form_decode(id);
    let secret = SecretString::from(form_decode(secret));
    if id.is_empty() {
        return Err(ClientAuthReason::MalformedBasic);
    }
    Ok((id, secret))
}

/// application/x-www-form-urlencoded decoding of one component (`+` is a space).
fn form_decode(component: &str) -> String {
    // Percent-decoding with `+` as space; `&` and `=` are ordinary characters here.
    let plus_as_space = component.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ClientRegistration, ClientStore, RecordSource};
    use crate::testing::MemoryStore;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    async fn directory() -> MemoryStore {
        let store = MemoryStore::new();
        for registration in [
            ClientRegistration {
                client_id: "rs".into(),
                client_secret: Some(SecretString::from(SECRET)),
                grant_types: Some(vec![]),
                ..Default::default()
            },
            ClientRegistration {
                client_id: "spa".into(),
                redirect_uris: vec!["https://app.example/cb".into()],
                scopes: vec!["openid".into()],
                ..Default::default()
            },
        ] {
            let client = registration.validate(RecordSource::Config, 0).unwrap();
            store.client_insert(&client).await.unwrap();
        }
        store
    }

    async fn auth(
        authorization: Option<&str>,
        id: Option<&str>,
        secret: Option<&str>,
        public_clients: PublicClients,
    ) -> Result<AuthenticatedClient, ClientAuthError> {
        let store = directory().await;
        authenticate(&store, authorization, id, secret, public_clients, 0).await
    }

    #[tokio::test]
    async fn authenticate_accepts_basic_post_and_public_clients() {
        let header = basic("rs", SECRET);
        for public_clients in [PublicClients::Allowed, PublicClients::Refused] {
            let c = auth(Some(&header), None, None, public_clients)
                .await
                .unwrap();
            assert_eq!(c.method(), TokenEndpointAuthMethod::ClientSecretBasic);
            let c = auth(None, Some("rs"), Some(SECRET), public_clients)
                .await
                .unwrap();
            assert_eq!(c.method(), TokenEndpointAuthMethod::ClientSecretPost);
        }
        let c = auth(None, Some("spa"), None, PublicClients::Allowed)
            .await
            .unwrap();
        assert_eq!(
            (c.client().client_id.as_str(), c.method()),
            ("spa", TokenEndpointAuthMethod::None)
        );
    }

    #[tokio::test]
    async fn rejects_a_public_client_where_a_confidential_one_is_required() {
        let e = auth(None, Some("spa"), None, PublicClients::Refused)
            .await
            .unwrap_err();
        assert!(matches!(
            e.failure,
            ClientAuthFailure::Rejected(ClientAuthReason::PublicClientRefused)
        ));
        assert_eq!(ErrorCode::from(&e), ErrorCode::InvalidClient);
        assert_eq!(e.unverified_client_id.as_deref(), Some("spa"));
    }

    #[tokio::test]
    async fn rejects_a_wrong_secret_with_the_claimed_client_id() {
        let e = auth(
            Some(&basic("rs", "wrong")),
            None,
            None,
            PublicClients::Refused,
        )
        .await
        .unwrap_err();
        assert!(matches!(
            e.failure,
            ClientAuthFailure::Rejected(ClientAuthReason::WrongSecret)
        ));
        assert_eq!(ErrorCode::from(&e), ErrorCode::InvalidClient);
        assert_eq!(e.unverified_client_id.as_deref(), Some("rs"));
    }

    #[tokio::test]
    async fn rejects_an_unregistered_method_with_a_generic_description() {
        // A confidential client naming itself only: the description does not say how
        // it is registered.
        let e = auth(None, Some("rs"), None, PublicClients::Allowed)
            .await
            .unwrap_err();
        assert!(matches!(
            e.failure,
            ClientAuthFailure::Rejected(ClientAuthReason::MethodNotRegistered { .. })
        ));
        assert_eq!(e.description(), "client authentication failed");
        assert_eq!(ErrorCode::from(&e), ErrorCode::InvalidClient);
    }

    #[tokio::test]
    async fn rejects_malformed_credentials_as_invalid_request() {
        let e = auth(
            Some(&basic("rs", SECRET)),
            Some("rs"),
            Some(SECRET),
            PublicClients::Allowed,
        )
        .await
        .unwrap_err();
        assert_eq!(ErrorCode::from(&e), ErrorCode::InvalidRequest);
        let e = auth(None, None, None, PublicClients::Refused)
            .await
            .unwrap_err();
        assert!(matches!(
            e.failure,
            ClientAuthFailure::Rejected(ClientAuthReason::Missing)
        ));
        assert_eq!(
            (ErrorCode::from(&e), e.unverified_client_id),
            (ErrorCode::InvalidClient, None)
        );
    }

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let c = UnverifiedClientCredentials::parse(Some(&basic("my%20app", "s%3Ae+t")), None, None)
            .unwrap();
        assert_eq!(c.unverified_client_id(), "my app");
        assert_eq!(c.secret.unwrap().expose_secret(), "s:e t");
        assert_eq!(c.method, TokenEndpointAuthMethod::ClientSecretBasic);
    }

    #[test]
    fn basic_credentials_keep_ampersands_and_equals_signs() {
        let c = UnverifiedClientCredentials::parse(Some(&basic("svc", "a&b=c%26d")), None, None)
            .unwrap();
        assert_eq!(c.secret.unwrap().expose_secret(), "a&b=c&d");
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let e = UnverifiedClientCredentials::parse(Some(&basic("a", "b")), Some("a"), Some("b"))
            .unwrap_err();
        assert_eq!(e, ClientAuthReason::MultipleMethods);
        assert!(e.is_malformed_request());
    }

    #[test]
    fn mismatched_body_client_id_is_refused() {
        let e = UnverifiedClientCredentials::parse(Some(&basic("a", "b")), Some("c"), None)
            .unwrap_err();
        assert_eq!(e, ClientAuthReason::ClientIdMismatch);
    }

    #[test]
    fn malformed_basic_headers_are_refused() {
        for h in [
            "Bearer abc",
            "Basic !!!",
            "Basic",
            &format!("Basic {}", STANDARD.encode("nocolon")),
            &basic("", "x"),
        ] {
            assert_eq!(
                UnverifiedClientCredentials::parse(Some(h), None, None).unwrap_err(),
                ClientAuthReason::MalformedBasic,
                "{h}"
            );
        }
    }

    #[test]
    fn no_credentials_is_missing() {
        assert_eq!(
            UnverifiedClientCredentials::parse(None, None, None).unwrap_err(),
            ClientAuthReason::Missing
        );
        assert_eq!(
            UnverifiedClientCredentials::parse(None, None, Some("x")).unwrap_err(),
            ClientAuthReason::SecretWithoutId
        );
    }
}
