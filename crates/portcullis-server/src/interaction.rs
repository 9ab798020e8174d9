//! The user's side of the authorization code flow (RFC 6749 §4.1.1, OIDC Core
//! §3.1.2.3–3.1.2.5): from a validated request, through the login and consent pages,
//! to the redirect that carries the code; and of a device authorization (RFC 8628
//! §3.3), through the same pages to a recorded decision.
//!
//! The protocol decisions are core's (`next_step`, `device_next_step`, `issue_code`,
//! `record_decision`); this module keeps
//! the browser-facing state: the pending request (its id in the page URL, a CSRF token
//! in each form, both bound to the browser's cookie), the session cookie, and the
//! responses (pages and redirects).

use crate::audit;
use crate::browser::{append_cookies, browser_binding, fresh_secret, has_binding};
use crate::pages::{Chrome, ErrorPageView, render};
use crate::state::AppState;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use portcullis_core::UnixTime;
use portcullis_core::authorization::code::issue_code;
use portcullis_core::authorization::decision::{
    Authentication, NextStep, device_next_step, next_step,
};
use portcullis_core::authorization::pending::{
    PENDING_AUTHORIZATION_TTL, PendingAuthorization, PendingDevice,
};
use portcullis_core::authorization::request::{
    AuthorizeReason, RedirectError, ValidatedAuthorizationRequest, success_location,
};
use portcullis_core::client::Client;
use portcullis_core::secret::SecretDigest;
use portcullis_core::store::StoreError;
use portcullis_proto::routes;
use secrecy::ExposeSecret;
use serde::Deserialize;

/// The `request` query parameter of the login and consent pages.
#[derive(Debug, Deserialize)]
pub struct PendingQuery {
    /// The pending request id.
    pub request: Option<String>,
}

impl crate::extract::OAuthParams for PendingQuery {
    const PARAMETERS: &'static [&'static str] = &["request"];
    const MULTI_VALUED: &'static [&'static str] = &[];
}

/// A pending request loaded for a page, after checking the browser binding.
pub struct Pending {
    /// The id from the URL or form (needed to redirect between pages).
    pub id: String,
    /// Its digest.
    pub digest: SecretDigest,
    /// The stored row.
    pub row: PendingAuthorization,
}

/// Why a page cannot go on with a pending request.
pub enum PendingError {
    /// Missing, unknown, expired, or started in another browser: the same page for all
    /// (why: telling them apart would help someone probing ids).
    Gone,
    /// The database failed.
    Store(StoreError),
}

/// Loads the pending request `id` for this browser.
///
/// # Errors
/// [`PendingError`].
pub async fn load_pending(
    state: &AppState,
    jar: &CookieJar,
    id: Option<&str>,
    now: UnixTime,
) -> Result<Pending, PendingError> {
    let Some(id) = id.filter(|i| !i.is_empty() && i.len() <= 128) else {
        return Err(PendingError::Gone);
    };
    let digest = SecretDigest::of(id);
    let row = state
        .store()
        .pending_authorization_get(&digest, now)
        .await
        .map_err(PendingError::Store)?
        .ok_or(PendingError::Gone)?;
    if !has_binding(state, jar, &row.browser_digest) {
        return Err(PendingError::Gone);
    }
    Ok(Pending {
        id: id.to_owned(),
        digest,
        row,
    })
}

impl Pending {
    /// The extra CSP `form-action` source of this request's pages: the redirect URI's
    /// origin, where the consent form's answer may redirect; none for a device
    /// authorization, which ends on our own page.
    pub fn form_target(&self) -> Option<&str> {
        match self.row.device {
            Some(_) => None,
            None => Some(self.row.request.redirect_uri()),
        }
    }

    /// Whether the form's CSRF token is this request's (constant time).
    pub fn csrf_matches(&self, presented: Option<&str>) -> bool {
        presented.is_some_and(|p| {
            aws_lc_rs::constant_time::verify_slices_are_equal(
                p.as_bytes(),
                self.row.csrf_token.as_bytes(),
            )
            .is_ok()
        })
    }
}

/// The page for a [`PendingError`].
pub fn pending_error_page(state: &AppState, error: PendingError, request_id: &str) -> Response {
    match error {
        PendingError::Gone => error_page(
            state,
            StatusCode::BAD_REQUEST,
            "This sign-in has expired",
            "This sign-in page is no longer valid: it expired, was already used, or was opened in a different browser.",
            Some(request_id),
        ),
        PendingError::Store(e) => store_error_page(state, &e, request_id),
    }
}

/// Decides the next step for `request` in this browser and answers with it: a
/// redirect with the code, a redirect with an error, or a redirect to the login or
/// consent page (creating the pending request, or reusing `pending`).
#[allow(clippy::too_many_arguments)]
pub async fn proceed(
    state: &AppState,
    jar: &CookieJar,
    request_id: &str,
    client: &Client,
    request: ValidatedAuthorizationRequest,
    authentication: Option<Authentication>,
    pending: Option<Pending>,
    mut cookies: Vec<HeaderValue>,
) -> Response {
    if let Some(device) = pending.as_ref().and_then(|p| p.row.device.clone()) {
        return proceed_device(
            state,
            jar,
            request_id,
            request,
            device,
            authentication,
            pending,
            cookies,
        )
        .await;
    }
    let now = state.clock().now();
    let approved = match &authentication {
        Some(a) => match state
            .store()
            .consent_get(&a.user_id, &client.client_id)
            .await
        {
            Ok(scopes) => scopes,
            Err(e) => return redirect_store_error(state, &request, &e, request_id, cookies),
        },
        None => Default::default(),
    };
    let step = match next_step(&request, client, authentication.as_ref(), &approved, now) {
        Ok(step) => step,
        Err(reason) => {
            if let Some(p) = &pending {
                let _ = state
                    .store()
                    .pending_authorization_take(&p.digest, now)
                    .await;
            }
            return redirect_error(state, &request, reason, cookies);
        }
    };
    match step {
        NextStep::IssueCode => {
            let Some(auth) = authentication else {
                return redirect_error(state, &request, AuthorizeReason::LoginRequired, cookies);
            };
            if let Some(p) = &pending {
                match state
                    .store()
                    .pending_authorization_take(&p.digest, now)
                    .await
                {
                    Ok(Some(_)) => {}
                    Ok(None) => return pending_error_page(state, PendingError::Gone, request_id),
                    Err(e) => {
                        return redirect_store_error(state, &request, &e, request_id, cookies);
                    }
                }
            }
            issue_and_redirect(
                state,
                request_id,
                &request,
                &auth.user_id,
                auth.auth_time,
                cookies,
            )
            .await
        }
        NextStep::Login | NextStep::Consent { .. } => {
            let login = matches!(step, NextStep::Login);
            let page = if login {
                routes::LOGIN
            } else {
                routes::CONSENT
            };
            // The request records a user only once the consent page may be shown for
            // them: at a Login step the existing session does not count (prompt=login,
            // max_age), and the consent page refuses a request without a user.
            let user = authentication.as_ref().filter(|_| !login);
            let id = match pending {
                Some(p) => p.id,
                None => match create_pending(state, jar, request, None, user, now).await {
                    Ok((id, cookie)) => {
                        cookies.extend(cookie);
                        id
                    }
                    Err(e) => return store_error_page(state, &e, request_id),
                },
            };
            see_other(&page_url(page, &id), cookies)
        }
    }
}

/// The device variant of [`proceed`] (RFC 8628 §3.3): to the login page without a
/// session, else always to the consent page (core's `device_next_step`), creating the
/// pending request for `device` bound to this browser, or reusing `pending`.
#[allow(clippy::too_many_arguments)]
pub async fn proceed_device(
    state: &AppState,
    jar: &CookieJar,
    request_id: &str,
    request: ValidatedAuthorizationRequest,
    device: PendingDevice,
    authentication: Option<Authentication>,
    pending: Option<Pending>,
    mut cookies: Vec<HeaderValue>,
) -> Response {
    let now = state.clock().now();
    let login = matches!(
        device_next_step(authentication.as_ref(), &request),
        NextStep::Login
    );
    let page = if login {
        routes::LOGIN
    } else {
        routes::CONSENT
    };
    let user = authentication.as_ref().filter(|_| !login);
    let id = match pending {
        Some(p) => p.id,
        None => match create_pending(state, jar, request, Some(device), user, now).await {
            Ok((id, cookie)) => {
                cookies.extend(cookie);
                id
            }
            Err(e) => return store_error_page(state, &e, request_id),
        },
    };
    see_other(&page_url(page, &id), cookies)
}

/// `page?request=id` (the id is base64url, but encode it anyway).
pub fn page_url(page: &str, id: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("request", id)
        .finish();
    format!("{page}?{query}")
}

/// Issues a code for `user_id` and redirects to the client with it (and `state`, `iss`).
pub async fn issue_and_redirect(
    state: &AppState,
    request_id: &str,
    request: &ValidatedAuthorizationRequest,
    user_id: &str,
    auth_time: UnixTime,
    cookies: Vec<HeaderValue>,
) -> Response {
    let now = state.clock().now();
    let ttl = state.config().tokens.authorization_code_ttl;
    match issue_code(
        state.store().as_ref(),
        request,
        user_id,
        auth_time,
        ttl,
        now,
    )
    .await
    {
        Ok(code) => {
            let scope = request
                .scopes()
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(" ");
            audit::authorization_code_issued(request_id, request.client_id(), user_id, &scope);
            let location = success_location(request, code.expose_secret(), &state.config().issuer);
            see_other(&location, cookies)
        }
        Err(e) => {
            tracing::error!(request_id, error = %e, "issuing an authorization code failed");
            // `temporarily_unavailable` when the database is unreachable, else `server_error`.
            redirect_error(state, request, e.reason(), cookies)
        }
    }
}

/// Stores a new pending request bound to this browser (for a device authorization
/// when `device` is set); returns its id and the browser cookie to set, if the browser
/// had none.
async fn create_pending(
    state: &AppState,
    jar: &CookieJar,
    request: ValidatedAuthorizationRequest,
    device: Option<PendingDevice>,
    authentication: Option<&Authentication>,
    now: UnixTime,
) -> Result<(String, Option<HeaderValue>), StoreError> {
    let (browser_digest, cookie) = browser_binding(state, jar)?;
    let id = fresh_secret()?;
    let csrf = fresh_secret()?;
    let row = PendingAuthorization {
        id_digest: SecretDigest::of(id.expose_secret()),
        request,
        browser_digest,
        csrf_token: csrf.expose_secret().to_owned(),
        user_id: authentication.map(|a| a.user_id.clone()),
        auth_time: authentication.map(|a| a.auth_time),
        device,
        created_at: now,
        expires_at: now.saturating_add(PENDING_AUTHORIZATION_TTL),
    };
    state.store().pending_authorization_insert(&row).await?;
    Ok((id.expose_secret().to_owned(), cookie))
}

/// Redirects to the client with an error (RFC 6749 §4.1.2.1, with `iss`, RFC 9207).
pub fn redirect_error(
    state: &AppState,
    request: &ValidatedAuthorizationRequest,
    reason: AuthorizeReason,
    cookies: Vec<HeaderValue>,
) -> Response {
    let error = RedirectError {
        redirect_uri: request.redirect_uri().to_owned(),
        state: request.state().map(str::to_owned),
        reason,
    };
    see_other(&error.location(&state.config().issuer), cookies)
}

/// A store failure after the redirect URI was verified: `temporarily_unavailable` or
/// `server_error` at the client (RFC 6749 §4.1.2.1), details in the log only.
fn redirect_store_error(
    state: &AppState,
    request: &ValidatedAuthorizationRequest,
    error: &StoreError,
    request_id: &str,
    cookies: Vec<HeaderValue>,
) -> Response {
    tracing::error!(request_id, %error, "authorization request failed on the server side");
    redirect_error(
        state,
        request,
        AuthorizeReason::for_store_error(error),
        cookies,
    )
}

/// 303 See Other to `location` (the browser follows with GET, also after a POST),
/// with cookies to set. `Cache-Control: no-store`: the URL may carry a code.
pub fn see_other(location: &str, cookies: Vec<HeaderValue>) -> Response {
    let Ok(value) = HeaderValue::from_str(location) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "invalid redirect").into_response();
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, value);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    append_cookies(headers, cookies);
    response
}

/// An HTML error page (never a redirect).
pub fn error_page(
    state: &AppState,
    status: StatusCode,
    title: &str,
    message: &str,
    request_id: Option<&str>,
) -> Response {
    let advice = if status.is_server_error() {
        "Please try again in a moment. If it keeps happening, contact the administrator and quote the reference below."
    } else {
        "Go back to the application you came from and start signing in again. If it keeps happening, contact the application's developers."
    };
    let view = ErrorPageView {
        chrome: Chrome::new(&state.config().branding),
        title: title.to_owned(),
        message: message.to_owned(),
        advice: advice.to_owned(),
        request_id: request_id.map(str::to_owned),
    };
    let mut response = render(
        status,
        &view,
        state.config().branding.logo_url.as_ref(),
        None,
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(crate::error::RETRY_AFTER_SECONDS),
        );
    }
    response
}

/// The page for a database failure: 503 when it is unreachable, 500 otherwise.
pub fn store_error_page(state: &AppState, error: &StoreError, request_id: &str) -> Response {
    tracing::error!(request_id, %error, "page request failed on the server side");
    let status = match error {
        StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error_page(
        state,
        status,
        "Something went wrong on our side",
        "The server could not complete this step.",
        Some(request_id),
    )
}
