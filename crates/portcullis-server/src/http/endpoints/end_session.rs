//! OIDC RP-Initiated Logout 1.0 §2–§3 `end_session_endpoint`, GET and POST.
//!
//! - `id_token_hint` (an id_token we issued; expiry ignored, §2) names the client and
//!   the user; `client_id` may name the client instead; if both, they must agree. A
//!   hint that does not verify is ignored (the user is asked before signing out).
//! - `post_logout_redirect_uri` is followed only when it is an exact entry of that
//!   client's `post_logout_redirect_uris` (§3); `state` is passed back. Otherwise the
//!   signed-out page is shown.
//! - Logout CSRF (§6): without a hint that names the signed-in user, the user is asked
//!   first, with a form whose token is derived from the session cookie (which no other
//!   site can read).

use crate::app::audit;
use crate::app::state::AppState;
use crate::http::browser::{current_session, end_session};
use crate::http::extract::{RequestId, is_form_urlencoded, parse};
use crate::http::interaction::{error_page, see_other, store_error_page};
use crate::http::pages::{Chrome, LogoutConfirmView, SignedOutView, render};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::authorization::request::response_uri;
use portcullis_core::client::authentication::ClientDirectory;
use portcullis_core::secret::SecretDigest;
use portcullis_core::tokens::id_token::verify_id_token_hint;
use portcullis_proto::routes;
use serde::Deserialize;

/// RP-Initiated Logout §2 request parameters, plus our confirmation token.
#[derive(Debug, Default, Deserialize)]
pub struct EndSessionRequest {
    /// An id_token we issued.
    pub id_token_hint: Option<String>,
    /// The client, when there is no hint.
    pub client_id: Option<String>,
    /// Where to send the user afterwards.
    pub post_logout_redirect_uri: Option<String>,
    /// Passed back to the client.
    pub state: Option<String>,
    /// Set by our confirmation form.
    pub csrf_token: Option<String>,
}

impl crate::http::extract::OAuthParams for EndSessionRequest {
    const PARAMETERS: &'static [&'static str] = &[
        "id_token_hint",
        "client_id",
        "post_logout_redirect_uri",
        "state",
        "csrf_token",
    ];
    const MULTI_VALUED: &'static [&'static str] = &[];
}

/// `GET /logout`.
pub async fn end_session_get(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> Response {
    let raw = query.unwrap_or_default();
    logout(&state, &request_id, &jar, raw.as_bytes()).await
}

/// `POST /logout`.
pub async fn end_session_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !is_form_urlencoded(&headers) {
        return invalid(&state, &request_id, "the request must be a form");
    }
    logout(&state, &request_id, &jar, &body).await
}

async fn logout(state: &AppState, request_id: &str, jar: &CookieJar, raw: &[u8]) -> Response {
    let params = match parse::<EndSessionRequest>(raw) {
        Ok(p) => p,
        Err(e) => return invalid(state, request_id, &e.description),
    };
    let keys = state.keys();
    let hint = match params.id_token_hint.as_deref() {
        // An unverifiable hint (garbage, or signed by a key no longer published) is
        // treated as absent: the user is asked, and can still sign out.
        Some(token) => match verify_id_token_hint(&keys.ring, &state.config().issuer, token) {
            Ok(claims) => Some(claims),
            Err(reason) => {
                tracing::info!(request_id, %reason, "id_token_hint ignored");
                None
            }
        },
        None => None,
    };
    let client_id = match (&hint, params.client_id.as_deref()) {
        (Some(h), Some(id)) if h.aud != id => {
            return invalid(
                state,
                request_id,
                "client_id does not match the id_token_hint",
            );
        }
        (Some(h), _) => Some(h.aud.clone()),
        (None, id) => id.map(str::to_owned),
    };
    let client = match &client_id {
        Some(id) => match state.clients().find_client(id).await {
            Ok(c) => c,
            Err(e) => return store_error_page(state, &e, request_id),
        },
        None => None,
    };
    // Only an exact registered entry is ever followed (open redirect otherwise).
    let target = params.post_logout_redirect_uri.as_ref().filter(|uri| {
        client
            .as_ref()
            .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == *uri))
    });
    let now = state.clock().now();
    let session = match current_session(state, jar, now).await {
        Ok(s) => s,
        Err(e) => return store_error_page(state, &e, request_id),
    };
    let session_cookie = jar
        .get(state.cookie_names().session)
        .map(|c| c.value().to_owned());
    let expected_csrf = session_cookie.as_deref().map(logout_csrf);
    let confirmed = match &session {
        None => true,
        Some(s) => {
            hint.as_ref().is_some_and(|h| h.sub == s.user_id)
                || params
                    .csrf_token
                    .as_deref()
                    .zip(expected_csrf.as_deref())
                    .is_some_and(|(a, b)| {
                        aws_lc_rs::constant_time::verify_slices_are_equal(
                            a.as_bytes(),
                            b.as_bytes(),
                        )
                        .is_ok()
                    })
        }
    };
    let logo = state.config().branding.logo_url.as_ref();
    if !confirmed {
        let view = LogoutConfirmView {
            chrome: Chrome::new(&state.config().branding),
            action: routes::END_SESSION,
            csrf_token: expected_csrf.unwrap_or_default(),
            client_name: client
                .as_ref()
                .map(|c| c.client_name.clone().unwrap_or_else(|| c.client_id.clone())),
            client_id: client.as_ref().map(|c| c.client_id.clone()),
            post_logout_redirect_uri: target.cloned(),
            state: params.state.clone(),
        };
        return render(StatusCode::OK, &view, logo, target.map(String::as_str));
    }
    let clear = match end_session(state, jar).await {
        Ok(c) => c,
        Err(e) => return store_error_page(state, &e, request_id),
    };
    if let Some(s) = &session {
        audit::logout(request_id, &s.user_id, client_id.as_deref());
    }
    match target {
        Some(uri) => {
            let mut extra = Vec::new();
            if let Some(s) = params.state.as_deref() {
                extra.push(("state", s));
            }
            see_other(&response_uri(uri, &extra), vec![clear])
        }
        None => {
            let view = SignedOutView {
                chrome: Chrome::new(&state.config().branding),
            };
            let mut response = render(StatusCode::OK, &view, logo, None);
            response.headers_mut().append(header::SET_COOKIE, clear);
            response
        }
    }
}

/// The confirmation form's token: SHA-256 of the session cookie value under a fixed
/// label, base64url. Only this browser knows the cookie (HttpOnly), so no other site
/// can produce it.
fn logout_csrf(session_cookie: &str) -> String {
    let digest = SecretDigest::of(&format!("portcullis logout confirmation:{session_cookie}"));
    URL_SAFE_NO_PAD.encode(digest.as_bytes())
}

fn invalid(state: &AppState, request_id: &str, detail: &str) -> Response {
    error_page(
        state,
        StatusCode::BAD_REQUEST,
        "This sign-out link is not valid",
        &format!("The application sent an invalid sign-out request: {detail}."),
        Some(request_id),
    )
}
