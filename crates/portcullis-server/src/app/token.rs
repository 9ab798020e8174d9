//! RFC 6749 §3.2 token endpoint, the application step: the request's DPoP proof
//! checked ([`crate::app::dpop`], RFC 9449 §5), the endpoint's context (built at
//! start-up) with the current signing keys, core's
//! [`token_request`](portcullis_core::grants::token_endpoint::token_request), and the
//! audit of its outcome ([`audit::token_outcome`]). The wire answer is the HTTP layer's.

use crate::app::audit;
use crate::app::dpop::{DpopRefusal, ProofHeader};
use crate::app::state::AppState;
use portcullis_core::grants::token_endpoint::{self, TokenError, TokenSuccess};
use portcullis_proto::routes;
use portcullis_proto::token::TokenRequest;

/// A token response and, when `[dpop] require_nonce` is on, the nonce for the client's
/// next proof (RFC 9449 §8.2: sent in `DPoP-Nonce`).
#[derive(Debug)]
pub struct Issued {
    /// Core's success.
    pub success: TokenSuccess,
    /// A fresh server nonce, when nonces are required.
    pub dpop_nonce: Option<String>,
}

/// Why a token request was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenRefusal {
    /// The DPoP proof was refused (RFC 9449 §5 `invalid_dpop_proof`, §8
    /// `use_dpop_nonce`); `dpop_nonce` is a fresh nonce when nonces are required.
    #[error("{refusal}")]
    Dpop {
        /// Why.
        refusal: DpopRefusal,
        /// A fresh server nonce, when nonces are required.
        dpop_nonce: Option<String>,
    },
    /// Core refused the request, or failed.
    #[error(transparent)]
    Token(TokenError),
}

/// Handles one token request: `authorization` is the single `Authorization` header
/// value, if any; `proof` the `DPoP` header; `request_id` goes to the audit log.
///
/// # Errors
/// A [`TokenRefusal`]; core's errors are already audited (server-side failures are
/// not: the HTTP layer logs them as faults), a refused proof is logged at info.
pub async fn token_request(
    state: &AppState,
    request_id: &str,
    authorization: Option<&str>,
    proof: ProofHeader<'_>,
    request: TokenRequest,
) -> Result<Issued, TokenRefusal> {
    let dpop = state.dpop();
    let store = state.store().as_ref();
    let fresh_nonce = || {
        dpop.requires_nonce()
            .then(|| dpop.nonce(state.clock().now()))
    };
    let binding = match dpop
        .token_endpoint_proof(store, state.clock(), routes::TOKEN, proof)
        .await
    {
        Ok(binding) => binding,
        Err(refusal) => {
            if !matches!(refusal, DpopRefusal::Store(_)) {
                tracing::info!(request_id, reason = %refusal, "DPoP proof refused at the token endpoint");
            }
            return Err(TokenRefusal::Dpop {
                refusal,
                dpop_nonce: fresh_nonce(),
            });
        }
    };
    let keys = state.keys();
    let endpoint = state.token_endpoint();
    let now = state.clock().now();
    let result = token_endpoint::token_request(
        endpoint,
        &keys.ring,
        authorization,
        request,
        binding.as_ref(),
        now,
    )
    .await;
    audit::token_outcome(request_id, &result);
    match result {
        Ok(success) => Ok(Issued {
            success,
            dpop_nonce: fresh_nonce(),
        }),
        Err(error) => Err(TokenRefusal::Token(error)),
    }
}
