//! The one mapping from precise reasons to RFC error codes (CONVENTIONS §2, in the
//! manner of rustls, which maps its many precise misbehaviours onto a handful of
//! alerts).
//!
//! Each reason enum stays next to the rule that produces it and says only what went
//! wrong; this file decides which [`ErrorCode`] goes on the wire for each. Every
//! mapping is an exhaustive `match` without a `_` arm, so a new reason does not compile
//! until it is given its code here. The HTTP status and headers of a code are decided
//! by the server, from the code alone.

use crate::authorization::code::IssueCodeError;
use crate::authorization::pushed::{PushedAuthorizationError, PushedAuthorizationReason};
use crate::authorization::request::{AuthorizeReason, ErrorPageReason, RedirectError};
use crate::client::authentication::{ClientAuthError, ClientAuthFailure, ClientAuthReason};
use crate::client::origin::OriginNotAllowed;
use crate::client::redirect_uri::RedirectUriReason;
use crate::device::authorization::{DeviceAuthorizationError, DeviceAuthorizationReason};
use crate::grants::authorization_code::CodeGrantReason;
use crate::grants::client_credentials::ClientCredentialsReason;
use crate::grants::device_code::DeviceGrantReason;
use crate::grants::refresh_token::RefreshGrantReason;
use crate::grants::token_endpoint::{TokenError, TokenErrorReason};
use crate::pkce::PkceReason;
use crate::store::StoreError;
use crate::tokens::access_token::AccessTokenReason;
use crate::tokens::id_token::IdTokenHintReason;
use crate::userinfo::UserInfoReason;
use portcullis_proto::ErrorCode;

/// A database failure: `temporarily_unavailable` when it is unreachable (RFC 6749
/// §4.1.2.1: retry later, 503), `server_error` otherwise.
impl From<&StoreError> for ErrorCode {
    fn from(error: &StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => Self::TemporarilyUnavailable,
            StoreError::Conflict(_)
            | StoreError::NotFound(_)
            | StoreError::Corrupt(_)
            | StoreError::Other(_) => Self::ServerError,
        }
    }
}

// --- Client authentication and redirect URIs ----------------------------------------

/// RFC 6749 §5.2: `invalid_request` for a malformed request (several methods, a
/// mismatched or missing id), `invalid_client` (401) for failed authentication.
impl From<&ClientAuthReason> for ErrorCode {
    fn from(reason: &ClientAuthReason) -> Self {
        match reason {
            ClientAuthReason::MultipleMethods
            | ClientAuthReason::ClientIdMismatch
            | ClientAuthReason::SecretWithoutId => Self::InvalidRequest,
            ClientAuthReason::MalformedBasic
            | ClientAuthReason::Missing
            | ClientAuthReason::UnknownClient
            | ClientAuthReason::WrongSecret
            | ClientAuthReason::MethodNotRegistered { .. }
            | ClientAuthReason::PublicClientRefused
            // RFC 7521 §4.2.1: an invalid assertion is `invalid_client`.
            | ClientAuthReason::Assertion(_) => Self::InvalidClient,
        }
    }
}

/// `invalid_request` or `invalid_client` (from the [`ClientAuthReason`]);
/// `temporarily_unavailable` or `server_error` for store failures.
impl From<&ClientAuthError> for ErrorCode {
    fn from(error: &ClientAuthError) -> Self {
        match &error.failure {
            ClientAuthFailure::Rejected(reason) => reason.into(),
            ClientAuthFailure::Store(store) => store.into(),
        }
    }
}

/// `invalid_request` (400): the request is fine but for where it came from. RFC 6749
/// §5.2 has no code for a refused origin (`unauthorized_client` is about grant types,
/// `invalid_client` about authentication); `invalid_request` ("or is otherwise
/// malformed") is the one a client library shows as a request problem, and RFC 6750
/// §3.1 gives it the same meaning at UserInfo.
impl From<&OriginNotAllowed> for ErrorCode {
    fn from(_: &OriginNotAllowed) -> Self {
        Self::InvalidRequest
    }
}

/// Always `invalid_request` (shown on the error page, never redirected).
impl From<&RedirectUriReason> for ErrorCode {
    fn from(reason: &RedirectUriReason) -> Self {
        match reason {
            RedirectUriReason::Missing
            | RedirectUriReason::NoneRegistered
            | RedirectUriReason::NotRegistered => Self::InvalidRequest,
        }
    }
}

// --- The authorization endpoint -----------------------------------------------------

/// RFC 7636 §4.4.1: challenge problems at the authorization endpoint are
/// `invalid_request`. Verifier problems at the token endpoint are `invalid_grant`
/// (§4.6 for a mismatch; a malformed verifier is a wrong one too, and issue 3 lists
/// wrong or missing verifiers as `invalid_grant`).
impl From<&PkceReason> for ErrorCode {
    fn from(reason: &PkceReason) -> Self {
        match reason {
            PkceReason::PlainMethod
            | PkceReason::UnsupportedMethod(_)
            | PkceReason::MissingMethod
            | PkceReason::MethodWithoutChallenge
            | PkceReason::MalformedChallenge => Self::InvalidRequest,
            PkceReason::MalformedVerifier | PkceReason::VerifierMismatch => Self::InvalidGrant,
        }
    }
}

/// `invalid_request`; `temporarily_unavailable` / `server_error` for the store.
impl From<&ErrorPageReason> for ErrorCode {
    fn from(reason: &ErrorPageReason) -> Self {
        match reason {
            ErrorPageReason::MissingClientId
            | ErrorPageReason::UnknownClient(_)
            | ErrorPageReason::RedirectUri(_)
            | ErrorPageReason::PushedRequest(_) => Self::InvalidRequest,
            ErrorPageReason::Store(store) => store.into(),
        }
    }
}

/// The RFC 6749 §4.1.2.1 / RFC 8707 §2 / OIDC Core §3.1.2.6 error code.
impl From<&AuthorizeReason> for ErrorCode {
    fn from(reason: &AuthorizeReason) -> Self {
        match reason {
            AuthorizeReason::Malformed(_)
            | AuthorizeReason::MissingResponseType
            | AuthorizeReason::UnsupportedResponseMode(_)
            | AuthorizeReason::PkceRequired
            | AuthorizeReason::PkceOrNonceRequired
            | AuthorizeReason::StateTooLong
            | AuthorizeReason::StateHasControlCharacter
            | AuthorizeReason::NonceTooLong
            | AuthorizeReason::NonceHasControlCharacter
            | AuthorizeReason::LoginHintTooLong
            | AuthorizeReason::UnsupportedPrompt(_)
            | AuthorizeReason::MalformedPrompt
            | AuthorizeReason::PromptNoneWithOthers
            | AuthorizeReason::MalformedMaxAge(_)
            | AuthorizeReason::MalformedDpopJkt(_)
            | AuthorizeReason::PushedAuthorizationRequired => Self::InvalidRequest,
            AuthorizeReason::Pkce(reason) => reason.into(),
            AuthorizeReason::RequestObject => Self::RequestNotSupported,
            AuthorizeReason::RequestUri => Self::RequestUriNotSupported,
            AuthorizeReason::UnsupportedResponseType(_) => Self::UnsupportedResponseType,
            AuthorizeReason::GrantNotAllowed => Self::UnauthorizedClient,
            AuthorizeReason::MalformedScope(_)
            | AuthorizeReason::ScopeNotAllowed(_)
            | AuthorizeReason::ScopeNotForResource(_)
            | AuthorizeReason::MissingScope => Self::InvalidScope,
            AuthorizeReason::MalformedResource(_) | AuthorizeReason::ResourceNotAllowed(_) => {
                Self::InvalidTarget
            }
            AuthorizeReason::LoginRequired => Self::LoginRequired,
            AuthorizeReason::ConsentRequired => Self::ConsentRequired,
            AuthorizeReason::AccessDenied => Self::AccessDenied,
            AuthorizeReason::ServerError => Self::ServerError,
            AuthorizeReason::TemporarilyUnavailable => Self::TemporarilyUnavailable,
        }
    }
}

/// The `error` of a redirected authorization error: its reason's code.
impl From<&RedirectError> for ErrorCode {
    fn from(error: &RedirectError) -> Self {
        Self::from(&error.reason)
    }
}

/// `temporarily_unavailable` when the database is unreachable, else `server_error`
/// (as [`IssueCodeError::reason`] redirects).
impl From<&IssueCodeError> for ErrorCode {
    fn from(error: &IssueCodeError) -> Self {
        match error {
            IssueCodeError::Store(store) => store.into(),
            IssueCodeError::Random(_) => Self::ServerError,
        }
    }
}

// --- The token endpoint -------------------------------------------------------------

/// `invalid_request` for a missing `code`; `invalid_grant` for everything else (RFC
/// 6749 §5.2, RFC 7636 §4.6).
impl From<&CodeGrantReason> for ErrorCode {
    fn from(reason: &CodeGrantReason) -> Self {
        match reason {
            CodeGrantReason::MissingCode => Self::InvalidRequest,
            CodeGrantReason::UnknownCode
            | CodeGrantReason::AlreadyUsed
            | CodeGrantReason::Expired
            | CodeGrantReason::WrongClient
            | CodeGrantReason::RedirectUriMissing
            | CodeGrantReason::RedirectUriMismatch
            | CodeGrantReason::VerifierMissing
            | CodeGrantReason::UnexpectedVerifier
            | CodeGrantReason::Pkce(_)
            | CodeGrantReason::UnknownUser
            | CodeGrantReason::UserDisabled
            // RFC 9449 §10.1: "the authorization server MUST reject the request".
            | CodeGrantReason::DpopKeyMismatch => Self::InvalidGrant,
        }
    }
}

/// `invalid_scope` (RFC 6749 §5.2) or `invalid_target` (RFC 8707 §2).
impl From<&ClientCredentialsReason> for ErrorCode {
    fn from(reason: &ClientCredentialsReason) -> Self {
        match reason {
            ClientCredentialsReason::MalformedScope(_)
            | ClientCredentialsReason::ScopeNotAllowed(_)
            | ClientCredentialsReason::UserScope(_)
            | ClientCredentialsReason::MissingScope
            | ClientCredentialsReason::ScopeNotForResource(_) => Self::InvalidScope,
            ClientCredentialsReason::MalformedResource(_)
            | ClientCredentialsReason::ResourceNotAllowed(_) => Self::InvalidTarget,
        }
    }
}

/// `invalid_request` for a missing token, `invalid_scope` for scope problems,
/// `invalid_target` for resource problems (RFC 8707 §2), `invalid_grant` for
/// everything else (RFC 6749 §5.2).
impl From<&RefreshGrantReason> for ErrorCode {
    fn from(reason: &RefreshGrantReason) -> Self {
        match reason {
            RefreshGrantReason::MissingRefreshToken => Self::InvalidRequest,
            RefreshGrantReason::MalformedScope(_) | RefreshGrantReason::ScopeNotGranted(_) => {
                Self::InvalidScope
            }
            RefreshGrantReason::MalformedResource(_)
            | RefreshGrantReason::ResourceNotGranted(_) => Self::InvalidTarget,
            RefreshGrantReason::UnknownToken
            | RefreshGrantReason::WrongClient
            | RefreshGrantReason::Revoked
            | RefreshGrantReason::ReplayWithinGrace
            | RefreshGrantReason::ReuseDetected
            | RefreshGrantReason::Expired
            | RefreshGrantReason::UnknownUser
            | RefreshGrantReason::UserDisabled
            // RFC 9449 §5: the binding is part of the grant (RFC 6749 §5.2 invalid_grant).
            | RefreshGrantReason::DpopKeyMismatch => Self::InvalidGrant,
        }
    }
}

/// `invalid_request` for a missing code; `authorization_pending`, `slow_down`,
/// `access_denied`, `expired_token` (RFC 8628 §3.5); `invalid_grant` otherwise
/// (RFC 6749 §5.2).
impl From<&DeviceGrantReason> for ErrorCode {
    fn from(reason: &DeviceGrantReason) -> Self {
        match reason {
            DeviceGrantReason::MissingDeviceCode => Self::InvalidRequest,
            DeviceGrantReason::AuthorizationPending => Self::AuthorizationPending,
            DeviceGrantReason::SlowDown { .. } => Self::SlowDown,
            DeviceGrantReason::AccessDenied => Self::AccessDenied,
            DeviceGrantReason::Expired => Self::ExpiredToken,
            DeviceGrantReason::UnknownDeviceCode
            | DeviceGrantReason::WrongClient
            | DeviceGrantReason::AlreadyUsed
            | DeviceGrantReason::UnknownUser
            | DeviceGrantReason::UserDisabled => Self::InvalidGrant,
        }
    }
}

/// The RFC 6749 §5.2 / RFC 8707 §2 / RFC 8628 §3.5 error code of a token request.
impl From<&TokenErrorReason> for ErrorCode {
    fn from(reason: &TokenErrorReason) -> Self {
        match reason {
            TokenErrorReason::MissingGrantType => Self::InvalidRequest,
            TokenErrorReason::PasswordGrant | TokenErrorReason::UnsupportedGrantType(_) => {
                Self::UnsupportedGrantType
            }
            TokenErrorReason::ClientAuth(reason) => reason.into(),
            TokenErrorReason::UnauthorizedClient(_) => Self::UnauthorizedClient,
            // RFC 9449 §5.2: "requests … without a DPoP proof … MUST be rejected"; §7.1
            // names invalid_dpop_proof for a missing proof where one is required.
            TokenErrorReason::DpopProofRequired => Self::InvalidDpopProof,
            TokenErrorReason::OriginNotAllowed(refused) => refused.into(),
            TokenErrorReason::ClientCredentials(reason) => reason.into(),
            TokenErrorReason::AuthorizationCode(reason) => reason.into(),
            TokenErrorReason::RefreshToken(reason) => reason.into(),
            TokenErrorReason::DeviceCode(reason) => reason.into(),
            TokenErrorReason::Store(store) => store.into(),
            TokenErrorReason::Keys(_) | TokenErrorReason::Random(_) => Self::ServerError,
        }
    }
}

/// A failed token request: its reason's code.
impl From<&TokenError> for ErrorCode {
    fn from(error: &TokenError) -> Self {
        Self::from(&error.reason)
    }
}

// --- The device authorization endpoint ----------------------------------------------

/// The RFC 8628 §3.2 / RFC 6749 §5.2 / RFC 8707 §2 error code: `invalid_request` or
/// `invalid_client` for client authentication, `unauthorized_client`,
/// `invalid_scope`, `invalid_target`; `temporarily_unavailable` when the database is
/// unreachable, `server_error` for other server-side failures.
impl From<&DeviceAuthorizationReason> for ErrorCode {
    fn from(reason: &DeviceAuthorizationReason) -> Self {
        match reason {
            DeviceAuthorizationReason::ClientAuth(reason) => reason.into(),
            DeviceAuthorizationReason::UnauthorizedClient => Self::UnauthorizedClient,
            DeviceAuthorizationReason::OriginNotAllowed(refused) => refused.into(),
            DeviceAuthorizationReason::MissingScope
            | DeviceAuthorizationReason::MalformedScope(_)
            | DeviceAuthorizationReason::ScopeNotAllowed(_)
            | DeviceAuthorizationReason::ScopeNotForResource(_) => Self::InvalidScope,
            DeviceAuthorizationReason::MalformedResource(_)
            | DeviceAuthorizationReason::ResourceNotAllowed(_) => Self::InvalidTarget,
            DeviceAuthorizationReason::Store(store) => store.into(),
            DeviceAuthorizationReason::UserCodeCollisions
            | DeviceAuthorizationReason::Random(_) => Self::ServerError,
        }
    }
}

/// A failed device authorization request: its reason's code.
impl From<&DeviceAuthorizationError> for ErrorCode {
    fn from(error: &DeviceAuthorizationError) -> Self {
        Self::from(&error.reason)
    }
}

/// RFC 9126 §2.3: errors as at the token endpoint (RFC 6749 §5.2); the authorization
/// request's own rules keep their `/authorize` codes; a `redirect_uri` that is not
/// registered and a nested `request_uri` (§2.1) are `invalid_request`.
impl From<&PushedAuthorizationReason> for ErrorCode {
    fn from(reason: &PushedAuthorizationReason) -> Self {
        match reason {
            PushedAuthorizationReason::ClientAuth(reason) => reason.into(),
            PushedAuthorizationReason::OriginNotAllowed(refused) => refused.into(),
            PushedAuthorizationReason::RequestUriNotAllowed
            | PushedAuthorizationReason::RedirectUriRequiredByProfile => Self::InvalidRequest,
            PushedAuthorizationReason::RedirectUri(reason) => reason.into(),
            PushedAuthorizationReason::Request(reason) => reason.into(),
            PushedAuthorizationReason::Store(store) => store.into(),
            PushedAuthorizationReason::Random(_) | PushedAuthorizationReason::Seal(_) => {
                Self::ServerError
            }
        }
    }
}

/// A failed pushed authorization request: its reason's code.
impl From<&PushedAuthorizationError> for ErrorCode {
    fn from(error: &PushedAuthorizationError) -> Self {
        Self::from(&error.reason)
    }
}

// --- Tokens presented to us ---------------------------------------------------------

/// Always `invalid_token` (401 with `WWW-Authenticate: Bearer`, RFC 6750 §3.1).
impl From<&AccessTokenReason> for ErrorCode {
    fn from(reason: &AccessTokenReason) -> Self {
        match reason {
            AccessTokenReason::Signature(_)
            | AccessTokenReason::WrongIssuer
            | AccessTokenReason::Expired
            | AccessTokenReason::Refused(_) => Self::InvalidToken,
        }
    }
}

/// `invalid_request` (RP-Initiated Logout §2 leaves the response to the OP; the server
/// shows its signed-out page rather than redirecting).
impl From<&IdTokenHintReason> for ErrorCode {
    fn from(reason: &IdTokenHintReason) -> Self {
        match reason {
            IdTokenHintReason::Signature(_) | IdTokenHintReason::WrongIssuer => {
                Self::InvalidRequest
            }
        }
    }
}

/// RFC 6750 §3.1: `invalid_token` (401), `insufficient_scope` (403, with
/// `scope="openid"` in the challenge); store failures `temporarily_unavailable` or
/// `server_error`.
impl From<&UserInfoReason> for ErrorCode {
    fn from(reason: &UserInfoReason) -> Self {
        match reason {
            UserInfoReason::Token(_)
            | UserInfoReason::Revoked
            | UserInfoReason::UnknownUser
            | UserInfoReason::UnknownClient
            // RFC 9449 §7.1: the token is not usable with this scheme.
            | UserInfoReason::DpopBoundAsBearer
            | UserInfoReason::NotDpopBound => Self::InvalidToken,
            UserInfoReason::DpopKeyMismatch => Self::InvalidDpopProof,
            UserInfoReason::MissingOpenidScope => Self::InsufficientScope,
            UserInfoReason::OriginNotAllowed(refused) => refused.into(),
            UserInfoReason::Store(store) => store.into(),
        }
    }
}
