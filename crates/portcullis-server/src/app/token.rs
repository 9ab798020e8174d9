//! RFC 6749 §3.2 token endpoint, the application step: the endpoint's context, core's
//! [`token_request`](portcullis_core::grants::token_endpoint::token_request), and the
//! audit of its outcome ([`audit::token_outcome`]). The wire answer is the HTTP layer's.

use crate::app::audit;
use crate::app::state::AppState;
use portcullis_core::grants::token_endpoint::{self, TokenEndpoint, TokenError, TokenSuccess};
use portcullis_proto::token::TokenRequest;

/// Handles one token request: `authorization` is the single `Authorization` header
/// value, if any; `request_id` goes to the audit log.
///
/// # Errors
/// Core's [`TokenError`], already audited (server-side failures are not: the HTTP layer
/// logs them as faults).
pub async fn token_request(
    state: &AppState,
    request_id: &str,
    authorization: Option<&str>,
    request: TokenRequest,
) -> Result<TokenSuccess, TokenError> {
    let keys = state.keys();
    let tokens = &state.config().tokens;
    let endpoint = TokenEndpoint {
        issuer: &state.config().issuer,
        access_token_ttl: tokens.access_token_ttl,
        // An id_token lives as long as the access token issued with it.
        id_token_ttl: tokens.access_token_ttl,
        refresh_token_ttl: tokens.refresh_token_ttl,
        refresh_token_reuse_grace: tokens.refresh_token_reuse_grace,
        keys: &keys.ring,
        clients: state.clients(),
        store: state.store().as_ref(),
    };
    let now = state.clock().now();
    let result = token_endpoint::token_request(&endpoint, authorization, request, now).await;
    audit::token_outcome(request_id, &result);
    result
}
