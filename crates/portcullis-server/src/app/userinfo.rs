//! OIDC Core §5.3 UserInfo, the application step: the DPoP proof checked when the token
//! came with the `DPoP` scheme (RFC 9449 §7, [`crate::app::dpop`]), then core's
//! [`userinfo`](portcullis_core::userinfo::userinfo) at the clock's `now`, with a
//! refused request logged at info (the reason never reaches an unauthenticated caller:
//! RFC 6750 §3). The wire answer is the HTTP layer's.

use crate::app::dpop::{DpopRefusal, ProofHeader};
use crate::app::state::AppState;
use portcullis_core::userinfo::{UserInfoReason, userinfo as claims_for};
use portcullis_proto::ErrorCode;
use portcullis_proto::routes;
use serde_json::{Map, Value};

/// The `Authorization` scheme an access token came with (RFC 6750 §2.1, RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScheme {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `Authorization: DPoP <token>`, with a `DPoP` proof header.
    Dpop,
}

/// An access token as presented: its scheme and the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedToken {
    /// The scheme.
    pub scheme: TokenScheme,
    /// The token.
    pub token: String,
}

/// Why a UserInfo request was refused.
#[derive(Debug, thiserror::Error)]
pub enum UserInfoRefusal {
    /// The DPoP proof was refused (RFC 9449 §7.1 `invalid_dpop_proof`).
    #[error(transparent)]
    Dpop(DpopRefusal),
    /// Core refused the token, or failed.
    #[error(transparent)]
    Token(UserInfoReason),
}

/// The claims about the user the presented token was issued for. `method` (`GET` or
/// `POST`) and `proof` (the `DPoP` header) are checked for the DPoP scheme only;
/// `origin` is the `Origin` header, if any (a browser page's, which the token's client
/// must allow).
///
/// # Errors
/// A [`UserInfoRefusal`]; a refusal other than a missing `openid` scope is logged here
/// with `request_id` (server-side failures are not: the HTTP layer logs them as faults).
pub async fn userinfo(
    state: &AppState,
    request_id: &str,
    presented: &PresentedToken,
    method: &str,
    proof: ProofHeader<'_>,
    origin: Option<&str>,
) -> Result<Map<String, Value>, UserInfoRefusal> {
    let store = state.store().as_ref();
    let binding = match presented.scheme {
        TokenScheme::Bearer => None,
        TokenScheme::Dpop => {
            let checked = state
                .dpop()
                .resource_proof(
                    store,
                    state.clock(),
                    method,
                    routes::USERINFO,
                    &presented.token,
                    proof,
                )
                .await;
            match checked {
                Ok(binding) => Some(binding),
                Err(refusal) => {
                    if !matches!(refusal, DpopRefusal::Store(_)) {
                        tracing::info!(request_id, reason = %refusal, "userinfo refused: DPoP proof");
                    }
                    return Err(UserInfoRefusal::Dpop(refusal));
                }
            }
        }
    };
    let keys = state.keys();
    let now = state.clock().now();
    let issuer = &state.config().issuer;
    let result = claims_for(
        &keys.access_tokens,
        store,
        issuer,
        &presented.token,
        binding.as_ref(),
        origin,
        now,
    )
    .await;
    if let Err(reason) = &result {
        let logged = !matches!(
            ErrorCode::from(reason),
            ErrorCode::InsufficientScope
                | ErrorCode::ServerError
                | ErrorCode::TemporarilyUnavailable
        );
        if logged {
            tracing::info!(request_id, reason = %reason, "userinfo refused");
        }
    }
    result.map_err(UserInfoRefusal::Token)
}
