//! RFC 6749 §2.3.1 client authentication at the token endpoint:
//! `client_secret_basic` (HTTP Basic) and `client_secret_post` (body parameters),
//! `private_key_jwt` (RFC 7523 §2.2, [`assertion`]), and `none` for public clients.
//! [`authenticate`] is the one entry point, shared by the token, introspection (RFC
//! 7662 §2.1), revocation (RFC 7009 §2.1) and device authorization (RFC 8628 §3.1)
//! endpoints, so all of them authenticate a client exactly alike.

pub mod assertion;

use super::{Client, ClientStore};
use crate::UnixTime;
use crate::resource::{Resource, ResourceStore};
use crate::secret::DigestKey;
use crate::store::StoreError;
use assertion::{ClientAssertionReason, ClientAssertionVerifier, UnverifiedAssertion};
use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::STANDARD};
use portcullis_proto::ErrorCode;
use portcullis_proto::error::echo;
use portcullis_proto::grant::{JWT_BEARER_CLIENT_ASSERTION_TYPE, TokenEndpointAuthMethod};
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

    /// What checks `private_key_jwt` assertions ([`assertion`]), if this directory has
    /// it; without it, every assertion is refused (fail closed).
    fn client_assertions(&self) -> Option<&ClientAssertionVerifier> {
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

/// The client credentials a request presents (RFC 6749 §2.3, RFC 7521 §4.2), raw: the
/// `Authorization` header value and the body's parameters, each `None` when absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct PresentedCredentials<'a> {
    /// The raw `Authorization` header value (`Basic …`).
    pub authorization: Option<&'a str>,
    /// The body's `client_id`.
    pub client_id: Option<&'a str>,
    /// The body's `client_secret` (`client_secret_post`).
    pub client_secret: Option<&'a str>,
    /// The body's `client_assertion_type` (`private_key_jwt`).
    pub client_assertion_type: Option<&'a str>,
    /// The body's `client_assertion` (`private_key_jwt`).
    pub client_assertion: Option<&'a str>,
}

/// Authenticates the client of a request to the token, introspection, revocation or
/// device authorization endpoint from the credentials it presents:
/// [`UnverifiedClientCredentials::parse`], then [`UnverifiedClientCredentials::verify`],
/// then the `public_clients` policy.
///
/// # Errors
/// A [`ClientAuthError`] carrying the claimed client id for the audit log;
/// `ErrorCode::from` gives the wire code ([`crate::error_code`]).
pub async fn authenticate(
    directory: &dyn ClientDirectory,
    presented: PresentedCredentials<'_>,
    public_clients: PublicClients,
    now: UnixTime,
) -> Result<AuthenticatedClient, ClientAuthError> {
    let fail = |failure: ClientAuthFailure, claimed: Option<&str>| ClientAuthError {
        failure,
        unverified_client_id: claimed.map(echo),
    };
    let credentials = UnverifiedClientCredentials::parse(&presented)
        .map_err(|reason| fail(ClientAuthFailure::Rejected(reason), presented.client_id))?;
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
    /// Two of a Basic header, `client_secret` and `client_assertion` at once (RFC 6749
    /// §2.3: "MUST NOT use more than one authentication method in each request").
    #[error(
        "use one client authentication method: an Authorization header, client_secret or client_assertion, not several"
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
        "this endpoint requires a confidential client: authenticate with client_secret_basic, client_secret_post or private_key_jwt"
    )]
    PublicClientRefused,
    /// A `private_key_jwt` assertion was refused ([`ClientAssertionReason`] says which
    /// check failed; the wire says only "client authentication failed").
    #[error("client authentication failed")]
    Assertion(ClientAssertionReason),
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
            Self::Assertion(reason) => reason.audit_code(),
        }
    }

    /// `error_description`: the reason, except for a method that does not fit the
    /// registration and a refused assertion, which read like a wrong secret (why: the
    /// detail would tell a caller that the client exists, how it is registered, or
    /// which assertion check to work around; it goes to the log).
    pub fn description(&self) -> String {
        match self {
            Self::MethodNotRegistered { .. } | Self::Assertion(_) => Self::WrongSecret.to_string(),
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
    assertion: Option<UnverifiedAssertion>,
}

impl UnverifiedClientCredentials {
    /// Reads credentials from the `Authorization` header value (if any) and the body's
    /// `client_id` / `client_secret` / `client_assertion_type` / `client_assertion`.
    ///
    /// # Errors
    /// A [`ClientAuthReason`]: several methods at once, a mismatched or missing id,
    /// a malformed Basic header, no credentials, or an assertion whose type is not
    /// jwt-bearer or that does not name its client and key
    /// ([`ClientAuthReason::Assertion`]).
    pub fn parse(presented: &PresentedCredentials<'_>) -> Result<Self, ClientAuthReason> {
        let PresentedCredentials {
            authorization,
            client_id: body_client_id,
            client_secret: body_client_secret,
            ..
        } = *presented;
        if presented.client_assertion.is_some() || presented.client_assertion_type.is_some() {
            return Self::parse_assertion(presented);
        }
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
                assertion: None,
            });
        }
        match (body_client_id, body_client_secret) {
            (Some(id), Some(secret)) => Ok(Self {
                unverified_client_id: id.to_owned(),
                secret: Some(SecretString::from(secret)),
                method: TokenEndpointAuthMethod::ClientSecretPost,
                assertion: None,
            }),
            (Some(id), None) => Ok(Self {
                unverified_client_id: id.to_owned(),
                secret: None,
                method: TokenEndpointAuthMethod::None,
                assertion: None,
            }),
            (None, Some(_)) => Err(ClientAuthReason::SecretWithoutId),
            (None, None) => Err(ClientAuthReason::Missing),
        }
    }

    /// RFC 7521 §4.2 / RFC 7523 §2.2: `client_assertion_type` and `client_assertion`,
    /// alone (no Basic header, no `client_secret`); `client_id`, if sent, is the
    /// assertion's `sub`.
    fn parse_assertion(presented: &PresentedCredentials<'_>) -> Result<Self, ClientAuthReason> {
        if presented.authorization.is_some() || presented.client_secret.is_some() {
            return Err(ClientAuthReason::MultipleMethods);
        }
        let refused = ClientAuthReason::Assertion;
        if presented.client_assertion_type != Some(JWT_BEARER_CLIENT_ASSERTION_TYPE) {
            return Err(refused(ClientAssertionReason::UnsupportedType));
        }
        let Some(token) = presented.client_assertion else {
            return Err(refused(ClientAssertionReason::Missing));
        };
        let assertion = UnverifiedAssertion::select_key(token).map_err(refused)?;
        if presented
            .client_id
            .is_some_and(|id| id != assertion.unverified_client_id)
        {
            return Err(refused(ClientAssertionReason::ClientIdMismatch));
        }
        Ok(Self {
            unverified_client_id: assertion.unverified_client_id.clone(),
            secret: None,
            method: TokenEndpointAuthMethod::PrivateKeyJwt,
            assertion: Some(assertion),
        })
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
        if let Some(assertion) = &self.assertion {
            return assertion.verify(directory, now).await;
        }
        let Some(client) = directory.find_client(&self.unverified_client_id).await? else {
            return Ok(Err(ClientAuthReason::UnknownClient));
        };
        // RFC 6749 §2.3.1: a client issued a password may use HTTP Basic (which the
        // server MUST support) or the body; both carry the same secret. What must match
        // is secret versus none (why: a confidential client falling back to `none`
        // would skip authentication). A `private_key_jwt` client holds no secret and
        // authenticates with an assertion only (`assertion::verify`).
        let fits = match client.token_endpoint_auth_method {
            TokenEndpointAuthMethod::None => self.method == TokenEndpointAuthMethod::None,
            TokenEndpointAuthMethod::ClientSecretBasic
            | TokenEndpointAuthMethod::ClientSecretPost => matches!(
                self.method,
                TokenEndpointAuthMethod::ClientSecretBasic
                    | TokenEndpointAuthMethod::ClientSecretPost
            ),
            TokenEndpointAuthMethod::PrivateKeyJwt => false,
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
/// (and the assertion check it delegates to) constructs it, so a grant that demands it cannot skip authentication.
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
mod tests;
