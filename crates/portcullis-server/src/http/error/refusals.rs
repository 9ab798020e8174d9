//! Each endpoint's refusals as [`OAuthError`]s: one `From` impl per failure type of
//! the application layer and of core (the token, device authorization, pushed
//! authorization request, introspection and revocation, and UserInfo endpoints, and
//! client authentication), so `http/error.rs` keeps the wire shape and its
//! constructors. Part of the one wire mapping (CONVENTIONS §2): texts are written here
//! or in the parent module only.

use super::*;

/// The token endpoint's refusals: a DPoP proof's (RFC 9449 §5, §8: with the fresh
/// nonce in `DPoP-Nonce` when nonces are required) or core's.
impl From<&TokenRefusal> for OAuthError {
    fn from(refusal: &TokenRefusal) -> Self {
        match refusal {
            TokenRefusal::Dpop {
                refusal,
                dpop_nonce,
            } => {
                let mut error = Self::dpop_refused(refusal, false);
                error.dpop_nonce.clone_from(dpop_nonce);
                error
            }
            TokenRefusal::Token(error) => Self::from(error),
        }
    }
}

/// A page origin the identified client does not allow: `invalid_request` (400) saying
/// which origin and where to allow it, marked [`CrossOriginRefused`]. Only a caller
/// that is not that page can read it (the browser hides it from the page).
impl From<&OriginNotAllowed> for OAuthError {
    fn from(refused: &OriginNotAllowed) -> Self {
        let mut error = Self::new(ErrorCode::from(refused), refused.to_string());
        error.cross_origin_refused = true;
        error
    }
}

/// RFC 6749 §5.2 through core's code and description; a server-side failure is a
/// [`Fault`].
impl From<&TokenError> for OAuthError {
    fn from(error: &TokenError) -> Self {
        if let TokenErrorReason::OriginNotAllowed(refused) = &error.reason {
            return Self::from(refused);
        }
        let wire = Self::new(ErrorCode::from(error), error.description());
        if error.reason.is_server_side() {
            let context = "token request failed on the server side";
            return wire.with_fault(Fault::error(context, &error.reason));
        }
        wire
    }
}

/// RFC 8628 §3.2: the device authorization endpoint answers errors as the token
/// endpoint does (RFC 6749 §5.2), through the same mapping.
impl From<&DeviceAuthorizationError> for OAuthError {
    fn from(error: &DeviceAuthorizationError) -> Self {
        if let DeviceAuthorizationReason::OriginNotAllowed(refused) = &error.reason {
            return Self::from(refused);
        }
        let wire = Self::new(ErrorCode::from(error), error.description());
        if error.reason.is_server_side() {
            let context = "device authorization failed on the server side";
            return wire.with_fault(Fault::error(context, &error.reason));
        }
        wire
    }
}

/// RFC 9126 §2.3: the pushed authorization request endpoint answers errors as the
/// token endpoint does (RFC 6749 §5.2), through the same mapping; never a redirect.
impl From<&PushedAuthorizationError> for OAuthError {
    fn from(error: &PushedAuthorizationError) -> Self {
        if let PushedAuthorizationReason::OriginNotAllowed(refused) = &error.reason {
            return Self::from(refused);
        }
        let wire = Self::new(ErrorCode::from(error), error.description());
        if error.reason.is_server_side() {
            let context = "pushed authorization request failed on the server side";
            return wire.with_fault(Fault::error(context, &error.reason));
        }
        wire
    }
}

/// The pushed authorization request endpoint's refusals: 429 over the per-address
/// budget, the store's failure, or core's error.
impl From<&PushedAuthorizationFailure> for OAuthError {
    fn from(failure: &PushedAuthorizationFailure) -> Self {
        match failure {
            PushedAuthorizationFailure::Throttled(wait) => {
                Self::too_many_pushed_authorizations(*wait)
            }
            PushedAuthorizationFailure::Store(error) => Self::store_failure(error),
            PushedAuthorizationFailure::Refused(error) => Self::from(error),
        }
    }
}

/// The device authorization endpoint's refusals: 429 over the per-address budget, the
/// store's failure, or core's error.
impl From<&DeviceAuthorizationFailure> for OAuthError {
    fn from(failure: &DeviceAuthorizationFailure) -> Self {
        match failure {
            DeviceAuthorizationFailure::Throttled(wait) => {
                Self::too_many_device_authorizations(*wait)
            }
            DeviceAuthorizationFailure::Store(error) => Self::store_failure(error),
            DeviceAuthorizationFailure::SeveralAuthorizationHeaders => {
                Self::several_authorization_headers()
            }
            DeviceAuthorizationFailure::Refused(error) => Self::from(error),
        }
    }
}

/// Client authentication at introspection and revocation (RFC 6749 §2.3.1): 401
/// `invalid_client` with the Basic challenge or `invalid_request`; the store's failure
/// as [`OAuthError::store_failure`].
impl From<&ClientAuthError> for OAuthError {
    fn from(error: &ClientAuthError) -> Self {
        match &error.failure {
            ClientAuthFailure::Store(store) => Self::store_failure(store),
            ClientAuthFailure::Rejected(_) => {
                Self::new(ErrorCode::from(error), error.description())
            }
        }
    }
}

/// Introspection (RFC 7662 §2.1) and revocation (RFC 7009 §2.1) refusals.
impl From<&InquiryFailure> for OAuthError {
    fn from(failure: &InquiryFailure) -> Self {
        match failure {
            InquiryFailure::ClientAuth(error) => Self::from(error),
            InquiryFailure::MissingToken(inquiry) => {
                let section = match inquiry {
                    Inquiry::Introspection => "RFC 7662 section 2.1",
                    Inquiry::Revocation => "RFC 7009 section 2.1",
                };
                Self::invalid_request(format!("the token parameter is required ({section})"))
            }
            InquiryFailure::OriginNotAllowed(refused) => Self::from(refused),
            InquiryFailure::Store(error) => Self::store_failure(error),
        }
    }
}

/// RFC 6750 §3.1 at UserInfo: `insufficient_scope` (403) names the scope needed;
/// server-side failures get a generic text (the detail is a [`Fault`]); every other
/// refusal says no more than needed to an unauthenticated caller.
impl From<&UserInfoReason> for OAuthError {
    fn from(reason: &UserInfoReason) -> Self {
        if let UserInfoReason::OriginNotAllowed(refused) = reason {
            return Self::from(refused);
        }
        let code = ErrorCode::from(reason);
        match code {
            ErrorCode::InsufficientScope => {
                let mut error = Self::new(code, reason.to_string());
                error.required_scope = Some(REQUIRED_SCOPE);
                error
            }
            ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable => {
                let fault = Fault::error("userinfo failed on the server side", reason);
                Self::new(code, SERVER_ERROR_DESCRIPTION).with_fault(fault)
            }
            _ => match reason {
                UserInfoReason::DpopBoundAsBearer
                | UserInfoReason::NotDpopBound
                | UserInfoReason::DpopKeyMismatch => {
                    Self::new(code, reason.to_string()).at_dpop_resource()
                }
                _ => Self::new(code, "the access token is invalid, expired or revoked"),
            },
        }
    }
}

/// UserInfo's refusals: the DPoP proof's (401, RFC 9449 §7.1) or the token's.
impl From<&UserInfoRefusal> for OAuthError {
    fn from(refusal: &UserInfoRefusal) -> Self {
        match refusal {
            UserInfoRefusal::Dpop(refusal) => Self::dpop_refused(refusal, true),
            UserInfoRefusal::Token(reason) => Self::from(reason),
        }
    }
}
