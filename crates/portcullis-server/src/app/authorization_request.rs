//! RFC 6749 §4.1.1 / OIDC Core §3.1.2.1–3.1.2.2: an authorization request arriving at
//! the authorization endpoint. Validation is core's (`validate`); a valid request goes
//! on with this browser's session ([`crate::app::interaction::proceed`]). Errors go to
//! the client's redirect URI only once it is verified (RFC 6749 §4.1.2.1); otherwise
//! an error page.

use crate::app::browser::Browser;
use crate::app::incident::Reported;
use crate::app::interaction::{Interaction, InteractionContext, PageError, proceed};
use crate::app::state::AppState;
use portcullis_core::authorization::decision::Authentication;
use portcullis_core::authorization::request::{
    AuthorizationError, AuthorizeReason, ErrorPageReason, RedirectError, is_returnable_state,
    validate,
};
use portcullis_core::client::authentication::ClientDirectory;
use portcullis_core::client::redirect_uri::match_redirect_uri;
use portcullis_proto::authorize::AuthorizationRequest;

/// Validates `params` and goes on with the flow for this browser.
pub async fn authorize(
    state: &AppState,
    request_id: &str,
    browser: &Browser,
    params: AuthorizationRequest,
) -> Reported<Interaction> {
    let (client, request) = match validate(state.clients(), params).await {
        Ok(valid) => valid,
        Err(AuthorizationError::ErrorPage(reason)) => {
            return Interaction::Refused(refused_without_redirect(request_id, reason)).into();
        }
        Err(AuthorizationError::Redirect(error)) => {
            tracing::info!(request_id, reason = %error.reason, "authorization request refused");
            let location = error.location(&state.config().issuer);
            return Interaction::Client {
                location,
                cookies: Vec::new(),
            }
            .into();
        }
    };
    let now = state.clock().now();
    let session = match browser.session(state, now).await {
        Ok(session) => session,
        Err(e) => return Interaction::Refused(e.into()).into(),
    };
    let cx = InteractionContext {
        state,
        request_id,
        browser,
        request,
        authentication: session.map(|s| Authentication {
            user_id: s.user_id,
            auth_time: s.auth_time,
            during_this_request: false,
        }),
        pending: None,
        cookies: Vec::new(),
    };
    proceed(cx, &client).await
}

/// A request that failed to parse (`description`: a repeated parameter, say):
/// `invalid_request` at the redirect URI when the client and redirect URI themselves
/// are unambiguous and registered, otherwise an error page (never redirect to an
/// unverified URI). `raw` is the query (or form body) as sent.
pub async fn malformed(state: &AppState, raw: &[u8], description: &str) -> Interaction {
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
                state: returnable_state(raw),
                reason: AuthorizeReason::Malformed(description.to_owned()),
            };
            Interaction::Client {
                location: error.location(&state.config().issuer),
                cookies: Vec::new(),
            }
        }
        None => Interaction::Refused(PageError::InvalidRequest(description.to_owned())),
    }
}

/// The request's one `state`, to return with an error: `None` when it is repeated,
/// refused by [`is_returnable_state`] or not UTF-8 (why: RFC 6749 §4.1.2 returns the exact
/// value received, and a refused 60 KB `state` must not be echoed; issue 16).
fn returnable_state(raw: &[u8]) -> Option<String> {
    let mut values = crate::app::form::pairs(raw)
        .filter(|(name, value)| name == "state" && !matches!(value, Ok(v) if v.is_empty()));
    let (_, first) = values.next()?;
    if values.next().is_some() {
        return None;
    }
    first.ok().filter(|state| is_returnable_state(state))
}

/// The error page for a request whose redirect URI cannot be trusted (OIDC Core
/// §3.1.2.6): a database failure, or what is wrong with the request.
fn refused_without_redirect(request_id: &str, reason: ErrorPageReason) -> PageError {
    if let ErrorPageReason::Store(e) = reason {
        return PageError::Store(e);
    }
    tracing::info!(request_id, %reason, "authorization request refused without redirect");
    PageError::InvalidRequest(reason.to_string())
}
