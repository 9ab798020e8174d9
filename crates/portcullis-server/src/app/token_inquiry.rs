//! RFC 7662 §2 token introspection and RFC 7009 §2 token revocation, the application
//! step: the caller authenticated exactly as at the token endpoint (core's
//! `authenticate`, RFC 6749 §2.3.1), the required `token` parameter, then core's
//! [`introspect`] or [`revoke`], audited. Which client may see or revoke which token
//! is core's policy. The wire answer is the HTTP layer's.

use crate::app::audit;
use crate::app::state::AppState;
use portcullis_core::client::authentication::{
    AuthenticatedClient, ClientAuthError, ClientAuthFailure, PresentedCredentials, PublicClients,
    authenticate,
};
use portcullis_core::client::origin::{OriginNotAllowed, check_request_origin};
use portcullis_core::introspection::introspect;
use portcullis_core::revocation::revoke;
use portcullis_core::store::StoreError;
use portcullis_proto::introspection::{IntrospectionResponse, TokenInquiry};

/// Which endpoint asks: introspection admits confidential clients only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inquiry {
    /// RFC 7662.
    Introspection,
    /// RFC 7009.
    Revocation,
}

/// Why an introspection or revocation request was refused.
#[derive(Debug, thiserror::Error)]
pub enum InquiryFailure {
    /// Client authentication failed (audited), or the client could not be looked up.
    #[error(transparent)]
    ClientAuth(ClientAuthError),
    /// A browser page at an origin the client does not allow asked to revoke; refused
    /// before anything is revoked ([`portcullis_core::client::origin`]).
    #[error(transparent)]
    OriginNotAllowed(OriginNotAllowed),
    /// No `token` parameter (required: RFC 7662 §2.1, RFC 7009 §2.1).
    #[error("the token parameter is missing")]
    MissingToken(Inquiry),
    /// The database failed.
    #[error("storage failed: {0}")]
    Store(StoreError),
}

/// `POST /introspect` for the single `Authorization` header value `authorization`:
/// the answer about `inquiry.token` (exactly `{"active": false}` for a token the caller
/// may not see, or that is not live).
///
/// # Errors
/// An [`InquiryFailure`].
pub async fn introspection(
    state: &AppState,
    request_id: &str,
    authorization: Option<&str>,
    inquiry: &TokenInquiry,
) -> Result<IntrospectionResponse, InquiryFailure> {
    let now = state.clock().now();
    let asked = Inquiry::Introspection;
    let (client, token) =
        caller_and_token(state, request_id, authorization, inquiry, asked).await?;
    let keys = state.keys();
    let hint = inquiry.token_type_hint.as_deref();
    let (store, issuer) = (state.store().as_ref(), &state.config().issuer);
    introspect(
        &keys.access_tokens,
        store,
        issuer,
        &client,
        token,
        hint,
        now,
    )
    .await
    .map_err(InquiryFailure::Store)
}

/// `POST /revoke` for the single `Authorization` header value `authorization`: revokes
/// `inquiry.token` if it was issued to the caller, and audits what changed (an unknown
/// token, or another client's, changes nothing: RFC 7009 §2.2). A browser `origin`
/// (the `Origin` header, if any) must be one the caller allows.
///
/// # Errors
/// An [`InquiryFailure`].
pub async fn revocation(
    state: &AppState,
    request_id: &str,
    authorization: Option<&str>,
    origin: Option<&str>,
    inquiry: &TokenInquiry,
) -> Result<(), InquiryFailure> {
    let now = state.clock().now();
    let asked = Inquiry::Revocation;
    let (client, token) =
        caller_and_token(state, request_id, authorization, inquiry, asked).await?;
    check_request_origin(client.client(), origin).map_err(InquiryFailure::OriginNotAllowed)?;
    let keys = state.keys();
    let hint = inquiry.token_type_hint.as_deref();
    let (store, issuer) = (state.store().as_ref(), &state.config().issuer);
    let outcome = revoke(
        &keys.access_tokens,
        store,
        issuer,
        &client,
        token,
        hint,
        now,
    )
    .await
    .map_err(InquiryFailure::Store)?;
    audit::token_revoked(request_id, &client.client().client_id, outcome.as_str());
    Ok(())
}

/// The authenticated caller and the `token` parameter.
async fn caller_and_token<'a>(
    state: &AppState,
    request_id: &str,
    authorization: Option<&str>,
    inquiry: &'a TokenInquiry,
    asked: Inquiry,
) -> Result<(AuthenticatedClient, &'a str), InquiryFailure> {
    let client = caller(state, request_id, authorization, inquiry, asked).await?;
    let token = inquiry
        .token
        .as_deref()
        .ok_or(InquiryFailure::MissingToken(asked))?;
    Ok((client, token))
}

/// Authenticates the caller; introspection refuses public clients (RFC 7662 §2.1
/// requires authorization, which a public client's bare `client_id` is not). A
/// rejection is audited.
async fn caller(
    state: &AppState,
    request_id: &str,
    authorization: Option<&str>,
    inquiry: &TokenInquiry,
    asked: Inquiry,
) -> Result<AuthenticatedClient, InquiryFailure> {
    let public_clients = match asked {
        Inquiry::Introspection => PublicClients::Refused,
        Inquiry::Revocation => PublicClients::Allowed,
    };
    let presented = PresentedCredentials {
        authorization,
        client_id: inquiry.client_id.as_deref(),
        client_secret: inquiry.client_secret.as_deref(),
        client_assertion_type: inquiry.client_assertion_type.as_deref(),
        client_assertion: inquiry.client_assertion.as_deref(),
    };
    let result = authenticate(
        state.clients(),
        presented,
        public_clients,
        state.clock().now(),
    )
    .await;
    result.map_err(|error| {
        if let ClientAuthFailure::Rejected(reason) = &error.failure {
            let client_id = error.unverified_client_id.as_deref();
            audit::client_authentication_failed(request_id, client_id, reason.audit_code());
        }
        InquiryFailure::ClientAuth(error)
    })
}
