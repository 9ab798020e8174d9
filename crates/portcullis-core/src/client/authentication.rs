//! RFC 6749 §2.3.1 client authentication at the token endpoint:
//! `client_secret_basic` (HTTP Basic) and `client_secret_post` (body parameters).

use super::Client;
use crate::store::StoreError;
use crate::{Store, UnixTime};
use async_trait::async_trait;
use base64::{Engine, engine::general_purpose::STANDARD};
use portcullis_proto::grant::TokenEndpointAuthMethod;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;

/// Where the token endpoint finds clients: the server puts a bounded cache in front of
/// the store; any [`Store`] works directly.
#[async_trait]
pub trait ClientDirectory: Send + Sync {
    /// The client with this id, if registered.
    async fn find_client(&self, client_id: &str) -> Result<Option<Arc<Client>>, StoreError>;
}

#[async_trait]
impl<S: Store + ?Sized> ClientDirectory for S {
    async fn find_client(&self, client_id: &str) -> Result<Option<Arc<Client>>, StoreError> {
        Ok(self.client_get(client_id).await?.map(Arc::new))
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
}

impl ClientAuthReason {
    /// A short stable code for the audit log (the wire text is the same for several of
    /// these, so as not to reveal whether a client exists).
    pub fn code(&self) -> &'static str {
        match self {
            Self::MultipleMethods => "multiple_methods",
            Self::ClientIdMismatch => "client_id_mismatch",
            Self::SecretWithoutId => "secret_without_client_id",
            Self::MalformedBasic => "malformed_basic",
            Self::Missing => "missing_credentials",
            Self::UnknownClient => "unknown_client",
            Self::WrongSecret => "wrong_secret",
            Self::MethodNotRegistered { .. } => "method_not_registered",
        }
    }

    /// `true` for malformed requests (`invalid_request`), `false` for failed
    /// authentication (`invalid_client`).
    pub fn is_malformed_request(&self) -> bool {
        matches!(
            self,
            Self::MultipleMethods | Self::ClientIdMismatch | Self::SecretWithoutId
        )
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
            (Some(secrets), Some(presented)) if secrets.accepts(presented.expose_secret(), now) => {
            }
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
