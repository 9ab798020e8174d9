//! RFC 7591 §3.2.2 / RFC 7592 §2: the registration endpoint's refusals as
//! [`OAuthError`]s. Part of the one wire mapping (CONVENTIONS §2).

use super::*;
use crate::app::registration::RegistrationFailure;
use portcullis_core::client::dynamic::metadata::MetadataReason;

/// Largest registration body accepted, in bytes (a JSON metadata object; RFC 7591
/// leaves the bound to the server).
pub const MAX_REGISTRATION_BODY_BYTES: usize = 16 * 1024;

impl From<&RegistrationFailure> for OAuthError {
    fn from(failure: &RegistrationFailure) -> Self {
        match failure {
            RegistrationFailure::Off => {
                Self::invalid_request("dynamic client registration is not enabled on this server")
                    .with_status(StatusCode::NOT_FOUND)
            }
            // RFC 6750 §3.1 (RFC 7591 §3, RFC 7592 §2): one answer for missing, wrong
            // and another client's token, so a client id's existence is not revealed.
            RegistrationFailure::InvalidToken => Self::new(
                ErrorCode::InvalidToken,
                "the bearer token is missing, invalid, or not for this client",
            ),
            RegistrationFailure::Throttled(wait) => {
                let mut error = Self::invalid_request("too many registrations; retry later")
                    .with_status(StatusCode::TOO_MANY_REQUESTS);
                error.retry_after = Some(wait.as_secs().max(1));
                error
            }
            RegistrationFailure::Ceiling => Self::new(
                ErrorCode::AccessDenied,
                "this server accepts no more dynamically registered clients",
            )
            .with_status(StatusCode::FORBIDDEN),
            RegistrationFailure::NotJson(problem) => Self::new(
                ErrorCode::InvalidClientMetadata,
                format!("the body is not a JSON object: {problem}"),
            ),
            RegistrationFailure::Metadata(MetadataReason::RedirectUri(problem)) => {
                Self::new(ErrorCode::InvalidRedirectUri, problem.clone())
            }
            RegistrationFailure::Metadata(reason) => {
                Self::new(ErrorCode::InvalidClientMetadata, reason.to_string())
            }
            RegistrationFailure::Random => {
                Self::new(ErrorCode::ServerError, SERVER_ERROR_DESCRIPTION)
                    .with_fault(Fault::error("registration failed", &"the CSPRNG failed"))
            }
            RegistrationFailure::Store(error) => Self::store_failure(error),
        }
    }
}

impl OAuthError {
    /// RFC 7591 §3: the body is not `application/json`.
    pub fn registration_not_json() -> Self {
        Self::new(
            ErrorCode::InvalidClientMetadata,
            "the body must be a JSON object sent as application/json (RFC 7591 §3.1)",
        )
    }

    /// The registration body is over [`MAX_REGISTRATION_BODY_BYTES`] (or unreadable).
    pub fn registration_body_too_large() -> Self {
        Self::new(
            ErrorCode::InvalidClientMetadata,
            format!("the body is larger than {MAX_REGISTRATION_BODY_BYTES} bytes"),
        )
        .with_status(StatusCode::PAYLOAD_TOO_LARGE)
    }
}
