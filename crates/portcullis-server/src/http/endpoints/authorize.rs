//! RFC 6749 §3.1 / OIDC Core §3.1.2.1 authorization endpoint, GET (query) and POST
//! (form body). Validation is core's; the user's side of the flow is
//! [`crate::http::interaction`].

use crate::app::state::AppState;
use crate::http::browser::current_session;
use crate::http::error::OAuthError;
use crate::http::extract::{RequestId, is_form_urlencoded, parse};
use crate::http::interaction::{error_page, proceed, see_other, store_error_page};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;
use portcullis_core::authorization::decision::Authentication;
use portcullis_core::authorization::request::{
    AuthorizationError, AuthorizeReason, ErrorPageReason, RedirectError, validate,
};
use portcullis_core::client::authentication::ClientDirectory;
use portcullis_core::client::redirect_uri::match_redirect_uri;
use portcullis_proto::authorize::AuthorizationRequest;
use portcullis_proto::routes;

impl crate::http::extract::OAuthParams for AuthorizationRequest {
    const PARAMETERS: &'static [&'static str] = AuthorizationRequest::PARAMETERS;
    const MULTI_VALUED: &'static [&'static str] = AuthorizationRequest::MULTI_VALUED;
}

/// `GET /authorize`.
pub async fn authorize_get(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    authorize(&state, &request_id, &jar, query.as_bytes()).await
}

/// `POST /authorize` (OIDC Core §3.1.2.1: form-encoded body): answered with a 303 to
/// `GET /authorize` with the same parameters. Why: a cross-site POST carries no
/// `SameSite=Lax` cookie, so answering it directly would lose the user's session (no
/// single sign-on, `prompt=none` always `login_required`) and replace the browser
/// binding of sign-ins open in other tabs; the top-level GET that follows carries them.
pub async fn authorize_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_form_urlencoded(&headers) {
        return error_page(
            &state,
            StatusCode::BAD_REQUEST,
            "This sign-in link is not valid",
            "The authorization request must be sent as a form (application/x-www-form-urlencoded).",
            Some(&request_id),
        );
    }
    // Re-encoded pair by pair, so the Location is always plain ASCII whatever the body.
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(url::form_urlencoded::parse(&body))
        .finish();
    see_other(&format!("{}?{query}", routes::AUTHORIZE), Vec::new())
}

async fn authorize(state: &AppState, request_id: &str, jar: &CookieJar, raw: &[u8]) -> Response {
    let params = match parse::<AuthorizationRequest>(raw) {
        Ok(params) => params,
        Err(error) => return malformed(state, request_id, raw, &error).await,
    };
    let (client, request) = match validate(state.clients(), params).await {
        Ok(valid) => valid,
        Err(AuthorizationError::ErrorPage(reason)) => {
            return invalid_request_page(state, request_id, &reason);
        }
        Err(AuthorizationError::Redirect(error)) => {
            tracing::info!(request_id, reason = %error.reason, "authorization request refused");
            return see_other(&error.location(&state.config().issuer), Vec::new());
        }
    };
    let now = state.clock().now();
    let session = match current_session(state, jar, now).await {
        Ok(session) => session,
        Err(e) => return store_error_page(state, &e, request_id),
    };
    let authentication = session.map(|s| Authentication {
        user_id: s.user_id,
        auth_time: s.auth_time,
        during_this_request: false,
    });
    proceed(
        state,
        jar,
        request_id,
        &client,
        request,
        authentication,
        None,
        Vec::new(),
    )
    .await
}

/// A request that failed to parse (a repeated parameter): `invalid_request` at the
/// redirect URI when the client and redirect URI themselves are unambiguous and
/// registered, otherwise an error page (never redirect to an unverified URI).
async fn malformed(state: &AppState, request_id: &str, raw: &[u8], error: &OAuthError) -> Response {
    let single = |name: &str| {
        let mut values = url::form_urlencoded::parse(raw)
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.into_owned());
        let first = values.next();
        if values.next().is_some() { None } else { first }
    };
    let client = match single("client_id") {
        Some(id) => state.clients().find_client(&id).await.ok().flatten(),
        None => None,
    };
    let redirect = client.as_ref().and_then(|c| {
        let requested = single("redirect_uri");
        let repeated = requested.is_none()
            && url::form_urlencoded::parse(raw).any(|(k, v)| k == "redirect_uri" && !v.is_empty());
        if repeated {
            return None;
        }
        match_redirect_uri(c, requested.as_deref()).ok()
    });
    match redirect {
        Some(redirect_uri) => {
            let error = RedirectError {
                redirect_uri: redirect_uri.0,
                state: single("state"),
                reason: AuthorizeReason::Malformed(error.description.clone()),
            };
            see_other(&error.location(&state.config().issuer), Vec::new())
        }
        None => error_page(
            state,
            StatusCode::BAD_REQUEST,
            "This sign-in link is not valid",
            &format!(
                "The application sent an invalid request: {}.",
                error.description
            ),
            Some(request_id),
        ),
    }
}

fn invalid_request_page(state: &AppState, request_id: &str, reason: &ErrorPageReason) -> Response {
    if let ErrorPageReason::Store(e) = reason {
        return store_error_page(state, e, request_id);
    }
    tracing::info!(request_id, %reason, "authorization request refused without redirect");
    error_page(
        state,
        StatusCode::BAD_REQUEST,
        "This sign-in link is not valid",
        &format!("The application sent an invalid request: {reason}."),
        Some(request_id),
    )
}
