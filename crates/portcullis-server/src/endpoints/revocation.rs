//! RFC 7009 §2 token revocation: POST, form-encoded, client authentication (public
//! clients authenticate with `client_id` alone, §2.1). Revoking a refresh token
//! revokes its whole family; revoking an access token puts its `jti` on the
//! revocation list until `exp`. `token_type_hint` is only a hint. An unknown token, or
//! another client's, gets 200 and changes nothing (§2.2: the answer must not tell).

use crate::audit;
use crate::error::OAuthError;
use crate::extract::{OAuthForm, RequestId, single_authorization};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::client::authentication::{
    AuthenticatedClient, ClientAuthFailure, PublicClients, authenticate as client_authentication,
};
use portcullis_core::revocation::revoke;
use portcullis_core::store::StoreError;
use portcullis_proto::ErrorCode;
use portcullis_proto::introspection::TokenInquiry;

/// `POST /revoke`.
pub async fn revocation_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    OAuthForm(inquiry): OAuthForm<TokenInquiry>,
) -> Response {
    let now = state.clock().now();
    let (client, token) = match caller_and_token(
        &state,
        &request_id,
        &headers,
        &inquiry,
        Inquiry::Revocation,
    )
    .await
    {
        Ok(found) => found,
        Err(response) => return response,
    };
    let keys = state.keys();
    match revoke(
        &keys.ring,
        state.store().as_ref(),
        &state.config().issuer,
        &client,
        token,
        inquiry.token_type_hint.as_deref(),
        now,
    )
    .await
    {
        Ok(outcome) => {
            let what = outcome.as_str();
            audit::token_revoked(&request_id, &client.client().client_id, what);
            let mut response = StatusCode::OK.into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(error) => store_failure(&request_id, &error),
    }
}

/// Any method but POST: 405 with `Allow: POST` (RFC 7009 §2.1).
pub async fn revocation_method_not_allowed() -> Response {
    let mut error = OAuthError::invalid_request(
        "the revocation endpoint accepts only POST (RFC 7009 section 2.1)",
    )
    .with_status(StatusCode::METHOD_NOT_ALLOWED);
    error.allow = Some("POST");
    error.into_response()
}

/// Which endpoint asks: introspection admits confidential clients only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Inquiry {
    /// RFC 7662.
    Introspection,
    /// RFC 7009.
    Revocation,
}

/// The authenticated caller and the `token` parameter (required: RFC 7662 §2.1,
/// RFC 7009 §2.1), or the response that refuses the request.
pub(crate) async fn caller_and_token<'a>(
    state: &AppState,
    request_id: &str,
    headers: &HeaderMap,
    inquiry: &'a TokenInquiry,
    endpoint: Inquiry,
) -> Result<(AuthenticatedClient, &'a str), Response> {
    let confidential_only = endpoint == Inquiry::Introspection;
    let client = authenticate(state, request_id, headers, inquiry, confidential_only).await?;
    let Some(token) = inquiry.token.as_deref() else {
        let section = match endpoint {
            Inquiry::Introspection => "RFC 7662 section 2.1",
            Inquiry::Revocation => "RFC 7009 section 2.1",
        };
        return Err(OAuthError::invalid_request(format!(
            "the token parameter is required ({section})"
        ))
        .into_response());
    };
    Ok((client, token))
}

/// Authenticates the caller of introspection or revocation exactly as the token
/// endpoint does (core's `authenticate`, RFC 6749 §2.3.1); `confidential_only` refuses
/// public clients (introspection: RFC 7662 §2.1 requires authorization, which a public
/// client's bare `client_id` is not). Failures are answered (401 `invalid_client` with
/// the Basic challenge, `invalid_request`, or 503/500) and audited.
async fn authenticate(
    state: &AppState,
    request_id: &str,
    headers: &HeaderMap,
    inquiry: &TokenInquiry,
    confidential_only: bool,
) -> Result<AuthenticatedClient, Response> {
    let authorization = single_authorization(headers).map_err(IntoResponse::into_response)?;
    let public_clients = if confidential_only {
        PublicClients::Refused
    } else {
        PublicClients::Allowed
    };
    let result = client_authentication(
        state.clients(),
        authorization,
        inquiry.client_id.as_deref(),
        inquiry.client_secret.as_deref(),
        public_clients,
        state.clock().now(),
    )
    .await;
    result.map_err(|error| match &error.failure {
        ClientAuthFailure::Store(store) => store_failure(request_id, store),
        ClientAuthFailure::Rejected(reason) => {
            audit::client_authentication_failed(
                request_id,
                error.unverified_client_id.as_deref(),
                reason.audit_code(),
            );
            OAuthError::new(ErrorCode::from(&error), error.description()).into_response()
        }
    })
}

/// 503 `temporarily_unavailable` when the database is unreachable, else 500
/// `server_error`; the detail goes to the log only.
pub(crate) fn store_failure(request_id: &str, error: &StoreError) -> Response {
    tracing::error!(request_id, %error, "request failed on the server side");
    match error {
        StoreError::Unavailable(_) => OAuthError::new(
            ErrorCode::TemporarilyUnavailable,
            "the server is temporarily unable to complete the request; retry later",
        ),
        _ => OAuthError::new(
            ErrorCode::ServerError,
            "the server could not complete the request",
        ),
    }
    .into_response()
}
