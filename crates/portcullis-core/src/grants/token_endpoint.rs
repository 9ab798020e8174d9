//! RFC 6749 §3.2 token endpoint: one entry point that authenticates the client and
//! dispatches on `grant_type`. The grants know nothing of it: each returns its own
//! reason ([`GrantError`]), and this module alone maps them to [`TokenErrorReason`]. The server calls [`token_request`] and maps the
//! [`TokenError`] to the wire with `ErrorCode::from` ([`crate::error_code`], RFC 6749
//! §5.2).

pub use super::context::{TokenEndpoint, TokenSuccess};

use super::authorization_code::{self, CodeGrantReason};
use super::client_credentials::{self, ClientCredentialsReason};
use super::context::GrantError;
use super::device_code::{self, DeviceGrantReason};
use super::refresh_token::{self, RefreshGrantReason};
use crate::UnixTime;
use crate::client::authentication::{
    AuthenticatedClient, ClientAuthFailure, ClientAuthReason, PresentedCredentials, PublicClients,
    authenticate,
};
use crate::client::origin::{OriginNotAllowed, check_request_origin};
use crate::dpop::DpopBinding;
use crate::keys::{KeyRing, KeyRingError};
use crate::resource::{effective_resources, registered_resources};
use crate::secret::RandomUnavailable;
use crate::store::StoreError;
use portcullis_proto::ErrorCode;
use portcullis_proto::error::echo;
use portcullis_proto::grant::GrantType;
use portcullis_proto::token::TokenRequest;

/// Grant types the token endpoint implements; discovery advertises exactly these
/// (RFC 8414 §2 `grant_types_supported`).
pub const SUPPORTED_GRANT_TYPES: &[GrantType] = &[
    GrantType::AuthorizationCode,
    GrantType::ClientCredentials,
    GrantType::RefreshToken,
    GrantType::DeviceCode,
];

/// Precise reasons a token request failed (CONVENTIONS §2: inside, precise; on the
/// wire, the RFC code from [`crate::error_code`]).
#[derive(Debug, thiserror::Error)]
pub enum TokenErrorReason {
    /// No `grant_type` parameter.
    #[error("the grant_type parameter is missing")]
    MissingGrantType,
    /// The password grant, removed by OAuth 2.1 §10.
    #[error(
        "the password grant is not supported (OAuth 2.1 removed it); use authorization_code with PKCE, or the device grant"
    )]
    PasswordGrant,
    /// A grant type this server does not implement.
    #[error("grant_type `{0}` is not supported; supported: {supported}", supported = supported_grant_types())]
    UnsupportedGrantType(String),
    /// Client authentication failed or was malformed.
    #[error(transparent)]
    ClientAuth(#[from] ClientAuthReason),
    /// The client is not registered for this grant.
    #[error("this client is not registered for the {0} grant")]
    UnauthorizedClient(&'static str),
    /// RFC 9449 §5.2: the client is registered with `dpop_bound_access_tokens` and the
    /// request has no DPoP proof.
    #[error(
        "this client is registered with dpop_bound_access_tokens: every token request needs a DPoP proof header"
    )]
    DpopProofRequired,
    /// A browser page at an origin the client does not allow sent the request; refused
    /// before the grant runs, so a code or refresh token is not spent on an answer the
    /// browser would hide from the page ([`crate::client::origin`]).
    #[error(transparent)]
    OriginNotAllowed(#[from] OriginNotAllowed),
    /// A client credentials rule.
    #[error(transparent)]
    ClientCredentials(#[from] ClientCredentialsReason),
    /// An authorization code rule.
    #[error(transparent)]
    AuthorizationCode(#[from] CodeGrantReason),
    /// A refresh token rule.
    #[error(transparent)]
    RefreshToken(#[from] RefreshGrantReason),
    /// A device code rule (RFC 8628 §3.5).
    #[error(transparent)]
    DeviceCode(#[from] DeviceGrantReason),
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

/// A grant's failure as a token endpoint reason: its own reason under the grant's
/// variant, server-side failures as they are. The one place the grants' errors meet.
impl<R> From<GrantError<R>> for TokenErrorReason
where
    TokenErrorReason: From<R>,
{
    fn from(error: GrantError<R>) -> Self {
        match error {
            GrantError::Refused(reason) => reason.into(),
            GrantError::Store(error) => Self::Store(error),
            GrantError::Keys(error) => Self::Keys(error),
            GrantError::Random(error) => Self::Random(error),
        }
    }
}

impl TokenErrorReason {
    /// Whether the server, not the client, is at fault (store, keys, CSPRNG): logged as
    /// an error with the detail, answered with a generic description.
    pub fn is_server_side(&self) -> bool {
        matches!(self, Self::Store(_) | Self::Keys(_) | Self::Random(_))
    }
}

/// A failed token request: the reason, and the client it concerned (for the audit log).
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct TokenError {
    /// Why it failed.
    pub reason: TokenErrorReason,
    /// The client id as claimed by the request (unverified unless authentication
    /// passed), bounded with [`echo`] since it goes to the audit log.
    pub unverified_client_id: Option<String>,
}

impl TokenError {
    /// `error_description`: says what to fix; generic for server-side failures and for
    /// a client that authenticated with a method that does not fit its registration
    /// (the detail would tell a caller that the client exists), whose detail goes to
    /// the log only.
    pub fn description(&self) -> String {
        let client_auth = match &self.reason {
            TokenErrorReason::ClientAuth(reason) => Some(reason),
            _ => None,
        };
        error_description(ErrorCode::from(&self.reason), client_auth, &self.reason)
    }
}

/// `error_description` of an endpoint that authenticates clients (RFC 6749 §5.2):
/// a client-authentication failure's own (deliberately vague) text; generic text for
/// `server_error` and `temporarily_unavailable` (the detail goes to the log only);
/// otherwise `reason`'s text, which says what to fix.
pub(crate) fn error_description(
    code: ErrorCode,
    client_auth: Option<&ClientAuthReason>,
    reason: &dyn std::fmt::Display,
) -> String {
    if let Some(reason) = client_auth {
        return reason.description();
    }
    match code {
        ErrorCode::ServerError => "the server could not complete the request".to_owned(),
        ErrorCode::TemporarilyUnavailable => {
            "the server is temporarily unable to complete the request; retry later".to_owned()
        }
        _ => reason.to_string(),
    }
}

/// Handles one token request at `now`, signing with `keys` (the current signing keys).
/// `authorization` is the raw `Authorization` header value, if any; `origin` the
/// `Origin` header (RFC 6454 §7), if any, which the authenticated client must allow
/// before the grant runs. `dpop` is the key of the request's DPoP proof, verified by
/// the caller (RFC 9449 §4.3): the tokens are bound to it (§5); `None` without a
/// proof, which a client registered with `dpop_bound_access_tokens` is refused (§5.2).
///
/// # Errors
/// A [`TokenError`]; see [`TokenErrorReason`] for each case and [`crate::error_code`]
/// for the wire code.
pub async fn token_request(
    endpoint: &TokenEndpoint,
    keys: &KeyRing,
    authorization: Option<&str>,
    origin: Option<&str>,
    request: TokenRequest,
    dpop: Option<&DpopBinding>,
    now: UnixTime,
) -> Result<TokenSuccess, TokenError> {
    // The claimed client id goes into the error (for the audit log), bounded by
    // `echo`; it is only copied on the failure paths.
    let fail = |reason: TokenErrorReason, claimed: Option<&str>| TokenError {
        reason,
        unverified_client_id: claimed.map(echo),
    };
    let body_client_id = request.client_id.as_deref();
    let grant_type = match request.grant_type.as_deref() {
        None => return Err(fail(TokenErrorReason::MissingGrantType, body_client_id)),
        Some("password") => return Err(fail(TokenErrorReason::PasswordGrant, body_client_id)),
        Some(name) => match GrantType::parse(name).filter(|g| SUPPORTED_GRANT_TYPES.contains(g)) {
            Some(grant) => grant,
            None => {
                let reason = TokenErrorReason::UnsupportedGrantType(echo(name));
                return Err(fail(reason, body_client_id));
            }
        },
    };
    let presented = PresentedCredentials {
        authorization,
        client_id: body_client_id,
        client_secret: request.client_secret.as_deref(),
        client_assertion_type: request.client_assertion_type.as_deref(),
        client_assertion: request.client_assertion.as_deref(),
    };
    let client = authenticate(
        endpoint.clients.as_ref(),
        presented,
        PublicClients::Allowed,
        now,
    )
    .await
    .map_err(|error| TokenError {
        reason: match error.failure {
            ClientAuthFailure::Rejected(reason) => TokenErrorReason::ClientAuth(reason),
            ClientAuthFailure::Store(store) => TokenErrorReason::Store(store),
        },
        unverified_client_id: error.unverified_client_id,
    })?;
    let claimed = Some(client.client().client_id.as_str());
    if let Err(refused) = check_request_origin(client.client(), origin) {
        return Err(fail(refused.into(), claimed));
    }
    if !client.client().allows_grant(grant_type) {
        return Err(fail(
            TokenErrorReason::UnauthorizedClient(grant_type.as_str()),
            claimed,
        ));
    }
    if client.client().dpop_bound_access_tokens && dpop.is_none() {
        return Err(fail(TokenErrorReason::DpopProofRequired, claimed));
    }
    let result = match grant_type {
        GrantType::AuthorizationCode => {
            authorization_code::issue(endpoint, keys, &client, &request, dpop, now)
                .await
                .map_err(TokenErrorReason::from)
        }
        GrantType::ClientCredentials => {
            client_credentials_issue(endpoint, keys, &client, &request, dpop, now).await
        }
        GrantType::RefreshToken => {
            refresh_token::issue(endpoint, keys, &client, &request, dpop, now)
                .await
                .map_err(TokenErrorReason::from)
        }
        GrantType::DeviceCode => device_code::issue(endpoint, keys, &client, &request, dpop, now)
            .await
            .map_err(TokenErrorReason::from),
    };
    result.map_err(|reason| fail(reason, claimed))
}

/// Looks up the registered resources among the request's `resource`s that are the
/// client's audiences (a bounded number), then runs [`client_credentials::issue`].
async fn client_credentials_issue(
    endpoint: &TokenEndpoint,
    keys: &KeyRing,
    client: &AuthenticatedClient,
    request: &TokenRequest,
    dpop: Option<&DpopBinding>,
    now: UnixTime,
) -> Result<TokenSuccess, TokenErrorReason> {
    let audiences = effective_resources(client.client(), &request.resource);
    let registered = registered_resources(endpoint.clients.as_ref(), &audiences)
        .await
        .map_err(TokenErrorReason::Store)?;
    client_credentials::issue(
        endpoint,
        keys,
        client,
        request.scope.as_deref(),
        &request.resource,
        &registered,
        dpop,
        now,
    )
    .map_err(TokenErrorReason::from)
}

/// `authorization_code, client_credentials, refresh_token,
/// urn:ietf:params:oauth:grant-type:device_code`: the list quoted in errors.
fn supported_grant_types() -> String {
    SUPPORTED_GRANT_TYPES
        .iter()
        .map(|g| g.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
