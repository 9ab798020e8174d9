//! OIDC Core §5.3 UserInfo, the application step: core's [`userinfo`](portcullis_core::userinfo::userinfo)
//! at the clock's `now`, with a refused request logged at info (the reason never reaches
//! an unauthenticated caller: RFC 6750 §3). The wire answer is the HTTP layer's.

use crate::app::state::AppState;
use portcullis_core::userinfo::{UserInfoReason, userinfo as claims_for};
use portcullis_proto::ErrorCode;
use serde_json::{Map, Value};

/// The claims about the user `bearer_token` was issued for; `origin` is the `Origin`
/// header, if any (a browser page's, which the token's client must allow).
///
/// # Errors
/// Core's [`UserInfoReason`]; a refusal other than a missing `openid` scope is logged
/// here with `request_id` (server-side failures are not: the HTTP layer logs them as
/// faults).
pub async fn userinfo(
    state: &AppState,
    request_id: &str,
    bearer_token: &str,
    origin: Option<&str>,
) -> Result<Map<String, Value>, UserInfoReason> {
    let keys = state.keys();
    let now = state.clock().now();
    let issuer = &state.config().issuer;
    let result = claims_for(
        &keys.ring,
        state.store().as_ref(),
        issuer,
        bearer_token,
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
    result
}
