//! RFC 6749 §3.2 token endpoint, the application step: the endpoint's context (built at
//! start-up) with the current signing keys, core's
//! [`token_request`](portcullis_core::grants::token_endpoint::token_request), and the
//! audit of its outcome ([`audit::token_outcome`]). The wire answer is the HTTP layer's.

use crate::app::audit;
use crate::app::state::AppState;
use portcullis_core::grants::token_endpoint::{self, TokenError, TokenSuccess};
use portcullis_proto::token::TokenRequest;

/// Handles one token request: `authorization` is the single `Authorization` header
/// value, if any; `origin` the `Origin` header, if any (a browser page's, which the
/// client must allow); `request_id` goes to the audit log.
///
/// # Errors
/// Core's [`TokenError`], already audited (server-side failures are not: the HTTP layer
/// logs them as faults).
pub async fn token_request(
    state: &AppState,
    request_id: &str,
    authorization: Option<&str>,
    origin: Option<&str>,
    request: TokenRequest,
) -> Result<TokenSuccess, TokenError> {
    let keys = state.keys();
    let endpoint = state.token_endpoint();
    let now = state.clock().now();
    let result =
        token_endpoint::token_request(endpoint, &keys.ring, authorization, origin, request, now)
            .await;
    audit::token_outcome(request_id, &result);
    result
}
