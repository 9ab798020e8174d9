//! RFC 9126 §2 pushed authorization request endpoint, the application step: core's
//! [`push`] with the endpoint's context (the client cache, the store, the sealing key,
//! `[tokens] par_ttl`), and the audit of its outcome. The wire answer is the HTTP
//! layer's (201 JSON, or a JSON error: never a redirect, §2.3).

use crate::app::audit;
use crate::app::state::AppState;
use crate::app::throttle::PushedAuthorizationThrottle;
use portcullis_core::authorization::pushed::{
    IssuedRequestUri, PushedAuthorizationEndpoint, PushedAuthorizationError,
    PushedAuthorizationReason, push,
};
use portcullis_core::store::StoreError;
use portcullis_proto::ErrorCode;
use portcullis_proto::par::{PushedAuthorizationRequest, PushedAuthorizationResponse};
use std::net::IpAddr;
use std::time::Duration;

/// Why a pushed authorization request got no `request_uri`.
#[derive(Debug, thiserror::Error)]
pub enum PushedAuthorizationFailure {
    /// `ip` has used its budget ([`PushedAuthorizationThrottle`]): retry after this long
    /// (at least a second). Checked before the client is looked up.
    #[error("throttled")]
    Throttled(Duration),
    /// The budget could not be checked (the request was not counted).
    #[error("storage failed: {0}")]
    Store(StoreError),
    /// Core refused the request, or failed on the server side (already audited).
    #[error(transparent)]
    Refused(PushedAuthorizationError),
}

/// Handles one pushed authorization request from `ip`: `authorization` is the single
/// `Authorization` header value, if any; `origin` the `Origin` header, if any;
/// `request_id` goes to the audit log.
///
/// # Errors
/// A [`PushedAuthorizationFailure`]: over the address's budget (429), the store's
/// failure counting it, or core's error, already audited (server-side failures are
/// not: the HTTP layer logs them as faults).
pub async fn pushed_authorization(
    state: &AppState,
    request_id: &str,
    ip: IpAddr,
    authorization: Option<&str>,
    origin: Option<&str>,
    request: PushedAuthorizationRequest,
) -> Result<PushedAuthorizationResponse, PushedAuthorizationFailure> {
    let now = state.clock().now();
    if let Err(wait) = PushedAuthorizationThrottle
        .check(state.store().as_ref(), ip, now)
        .await
        .map_err(PushedAuthorizationFailure::Store)?
    {
        tracing::info!(
            target: audit::TARGET,
            event = "pushed_authorization_request",
            outcome = "failure",
            request_id,
            client_id = portcullis_proto::error::echo(
                request.authorization.client_id.as_deref().unwrap_or("")
            ),
            error = "invalid_request",
            reason = "throttled",
        );
        return Err(PushedAuthorizationFailure::Throttled(wait));
    }
    let endpoint = PushedAuthorizationEndpoint {
        clients: state.clients(),
        store: state.store().as_ref(),
        sealer: state.pushed_request_sealer(),
        ttl: state.config().tokens.par_ttl,
    };
    let result = push(&endpoint, authorization, origin, request, now).await;
    outcome(request_id, &result);
    result
        .map(|issued| issued.response())
        .map_err(PushedAuthorizationFailure::Refused)
}

/// Audits a pushed authorization request: the client and its expiry, or why it was
/// refused (server-side failures are logged by the HTTP layer instead).
fn outcome(request_id: &str, result: &Result<IssuedRequestUri, PushedAuthorizationError>) {
    let error = match result {
        Ok(issued) => {
            tracing::info!(
                target: audit::TARGET,
                event = "pushed_authorization_request",
                outcome = "success",
                request_id,
                client_id = issued.client_id,
                expires_in = issued.expires_in,
            );
            return;
        }
        Err(error) => error,
    };
    let client_id = error.unverified_client_id.as_deref();
    match &error.reason {
        PushedAuthorizationReason::ClientAuth(reason) => {
            audit::client_authentication_failed(request_id, client_id, reason.audit_code());
        }
        reason if reason.is_server_side() => {}
        reason => tracing::info!(
            target: audit::TARGET,
            event = "pushed_authorization_request",
            outcome = "failure",
            request_id,
            client_id = client_id.unwrap_or(""),
            error = ErrorCode::from(error).as_str(),
            reason = %reason,
        ),
    }
}
