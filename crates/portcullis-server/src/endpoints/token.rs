//! RFC 6749 §3.2 token endpoint: POST only, form-encoded, JSON answers with
//! `Cache-Control: no-store` (§5.1).

use crate::audit;
use crate::error::{OAuthError, no_store_json};
use crate::extract::{OAuthForm, RequestId, single_authorization};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_core::grants::device_code::DeviceGrantReason;
use portcullis_core::grants::token_endpoint::{TokenEndpoint, TokenErrorReason, token_request};
use portcullis_proto::token::TokenRequest;

/// `POST /token`.
pub async fn token_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    OAuthForm(request): OAuthForm<TokenRequest>,
) -> Response {
    let keys = state.keys();
    let endpoint = TokenEndpoint {
        issuer: &state.config().issuer,
        access_token_ttl: state.config().tokens.access_token_ttl,
        // An id_token lives as long as the access token issued with it.
        id_token_ttl: state.config().tokens.access_token_ttl,
        refresh_token_ttl: state.config().tokens.refresh_token_ttl,
        refresh_token_reuse_grace: state.config().tokens.refresh_token_reuse_grace,
        keys: &keys.ring,
        clients: state.clients(),
        store: state.store().as_ref(),
    };
    let authorization = match single_authorization(&headers) {
        Ok(authorization) => authorization,
        Err(error) => return error.into_response(),
    };
    match token_request(&endpoint, authorization, request, state.clock().now()).await {
        Ok(issued) => {
            audit::token_issued(
                &request_id,
                &issued.client_id,
                &issued.subject,
                issued.grant_type.as_str(),
                &issued.jti,
                issued.response.scope.as_deref(),
            );
            no_store_json(issued.response)
        }
        Err(error) => {
            let wire = OAuthError::from(&error);
            match &error.reason {
                TokenErrorReason::ClientAuth(reason) => {
                    audit::client_authentication_failed(
                        &request_id,
                        error.unverified_client_id.as_deref(),
                        reason.audit_code(),
                    );
                }
                reason if reason.is_server_side() => {
                    tracing::error!(request_id, error = %error.reason, "token request failed on the server side");
                }
                // RFC 8628 §3.5: a device waiting for its user is the normal course of
                // the flow, several times a minute per device: not an audit event.
                TokenErrorReason::DeviceCode(DeviceGrantReason::AuthorizationPending) => {
                    tracing::debug!(
                        request_id,
                        client_id = error.unverified_client_id.as_deref().unwrap_or(""),
                        "device authorization pending"
                    );
                }
                reason => audit::token_refused(
                    &request_id,
                    error.unverified_client_id.as_deref(),
                    wire.code.as_str(),
                    &reason.to_string(),
                ),
            }
            wire.into_response()
        }
    }
}

/// Any method but POST on the token endpoint: 405 with `Allow: POST` (RFC 6749 §3.2).
pub async fn token_method_not_allowed() -> Response {
    let mut error =
        OAuthError::invalid_request("the token endpoint accepts only POST (RFC 6749 section 3.2)")
            .with_status(StatusCode::METHOD_NOT_ALLOWED);
    error.allow = Some("POST");
    error.into_response()
}
