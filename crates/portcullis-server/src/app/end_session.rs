//! OIDC RP-Initiated Logout 1.0 §2–§3: ending the user's session at the
//! `end_session_endpoint`.
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
use crate::app::browser::{Browser, SetCookie};
use crate::app::interaction::PageError;
use crate::app::state::AppState;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::authorization::request::response_uri;
use portcullis_core::client::authentication::ClientDirectory;
use portcullis_core::secret::SecretDigest;
use portcullis_core::tokens::id_token::verify_id_token_hint;
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

/// How a sign-out request ended.
pub enum EndSession {
    /// Not proven to come from the user: ask first.
    Confirm(LogoutConfirmation),
    /// Signed out (the session cookie is cleared): to the client's
    /// `post_logout_redirect_uri` (with `state`) if it named a registered one, else
    /// our signed-out page.
    SignedOut {
        /// The full redirect URI, if any.
        redirect: Option<String>,
        /// Clears the session cookie.
        clear: SetCookie,
    },
    /// An error page instead.
    Refused(PageError),
}

/// What the confirmation form shows and carries through.
pub struct LogoutConfirmation {
    /// The form's token ([`logout_csrf`] of the session cookie).
    pub csrf_token: String,
    /// The client's display name, if known.
    pub client_name: Option<String>,
    /// Carried through.
    pub client_id: Option<String>,
    /// Carried through (already checked against the client's list); also the page's
    /// extra CSP `form-action` source.
    pub post_logout_redirect_uri: Option<String>,
    /// Carried through.
    pub state: Option<String>,
}

/// Answers a sign-out request from this browser.
pub async fn end_session(
    state: &AppState,
    request_id: &str,
    browser: &Browser,
    params: EndSessionRequest,
) -> EndSession {
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
            let detail = "client_id does not match the id_token_hint".to_owned();
            return EndSession::Refused(PageError::InvalidLogout(detail));
        }
        (Some(h), _) => Some(h.aud.clone()),
        (None, id) => id.map(str::to_owned),
    };
    let client = match &client_id {
        Some(id) => match state.clients().find_client(id).await {
            Ok(c) => c,
            Err(e) => return EndSession::Refused(e.into()),
        },
        None => None,
    };
    // Only an exact registered entry is ever followed (open redirect otherwise).
    let target = params.post_logout_redirect_uri.clone().filter(|uri| {
        client
            .as_ref()
            .is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri))
    });
    let now = state.clock().now();
    let session = match browser.session(state, now).await {
        Ok(s) => s,
        Err(e) => return EndSession::Refused(e.into()),
    };
    let expected_csrf = browser.session.as_deref().map(logout_csrf);
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
    if !confirmed {
        return EndSession::Confirm(LogoutConfirmation {
            csrf_token: expected_csrf.unwrap_or_default(),
            client_name: client
                .as_ref()
                .map(|c| c.client_name.clone().unwrap_or_else(|| c.client_id.clone())),
            client_id: client.as_ref().map(|c| c.client_id.clone()),
            post_logout_redirect_uri: target,
            state: params.state,
        });
    }
    let clear = match browser.end_session(state).await {
        Ok(c) => c,
        Err(e) => return EndSession::Refused(e.into()),
    };
    if let Some(s) = &session {
        audit::logout(request_id, &s.user_id, client_id.as_deref());
    }
    let redirect = target.map(|uri| {
        let mut extra = Vec::new();
        if let Some(s) = params.state.as_deref() {
            extra.push(("state", s));
        }
        response_uri(&uri, &extra)
    });
    EndSession::SignedOut { redirect, clear }
}

/// The confirmation form's token: SHA-256 of the session cookie value under a fixed
/// label, base64url. Only this browser knows the cookie (HttpOnly), so no other site
/// can produce it.
fn logout_csrf(session_cookie: &str) -> String {
    let digest = SecretDigest::of(&format!("portcullis logout confirmation:{session_cookie}"));
    URL_SAFE_NO_PAD.encode(digest.as_bytes())
}
