//! OIDC Core §5.3 UserInfo endpoint, GET and POST, with the access token in the
//! `Authorization: Bearer` header (RFC 6750 §2.1). Errors per RFC 6750 §3: no token →
//! 401 with a bare `WWW-Authenticate: Bearer`; a bad, expired or revoked token → 401
//! `invalid_token`; a token without `openid` → 403 `insufficient_scope`.
//! (RFC 6750 §2.2 form-body tokens are not accepted: the header is the one method
//! resource servers must support, and a body token is easier to leak into logs.)

use crate::error::{OAuthError, missing_bearer_token};
use crate::extract::RequestId;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::userinfo::userinfo;
use portcullis_proto::ErrorCode;

/// `GET /userinfo` and `POST /userinfo`.
pub async fn userinfo_handler(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
) -> Response {
    let token = match bearer_token(&headers) {
        Ok(Some(token)) => token,
        Ok(None) => return missing_bearer_token(),
        Err(error) => return error.into_response(),
    };
    let keys = state.keys();
    let now = state.clock().now();
    match userinfo(
        &keys.ring,
        state.store().as_ref(),
        &state.config().issuer,
        token,
        now,
    )
    .await
    {
        Ok(claims) => {
            let mut response = Json(claims).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(reason) => {
            let code = ErrorCode::from(&reason);
            let mut error = OAuthError::new(code, reason.to_string());
            match code {
                ErrorCode::InsufficientScope => error.required_scope = Some("openid"),
                ErrorCode::ServerError | ErrorCode::TemporarilyUnavailable => {
                    tracing::error!(request_id, error = %reason, "userinfo failed on the server side");
                    error.description = "the server could not complete the request".to_owned();
                }
                _ => {
                    tracing::info!(request_id, reason = %reason, "userinfo refused");
                    // RFC 6750 §3: say no more than needed to an unauthenticated caller.
                    error.description =
                        "the access token is invalid, expired or revoked".to_owned();
                }
            }
            error.into_response()
        }
    }
}

/// The bearer token of the `Authorization` header: `Ok(None)` when there is no bearer
/// credential at all, `invalid_request` when there are several headers or the token
/// is empty.
fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, OAuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(OAuthError::invalid_request(
            "send one Authorization header, not several",
        ));
    }
    let Ok(value) = first.to_str() else {
        return Ok(None);
    };
    let Some((scheme, token)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(OAuthError::invalid_request(
            "the Bearer credentials are empty (RFC 6750 section 2.1)",
        ));
    }
    Ok(Some(token))
}
