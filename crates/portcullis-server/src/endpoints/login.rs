//! The login page (OIDC Core §3.1.2.3 "Authorization Server Authenticates End-User").
//!
//! Passwords are verified with argon2id on a blocking thread behind a semaphore sized
//! to the cores (each verification holds ~19 MiB: unbounded, it is a memory DoS); an
//! unknown username is verified against a dummy hash so both cases take the same time
//! (no username oracle). Failures are throttled per account and per IP
//! ([`crate::throttle`]).

use crate::audit;
use crate::browser::{end_session, start_session};
use crate::extract::{ClientIp, PageForm, RequestId};
use crate::interaction::{
    PendingError, PendingQuery, error_page, load_pending, pending_error_page, proceed,
    store_error_page,
};
use crate::pages::{Chrome, LoginView, render};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;
use portcullis_core::authorization::decision::Authentication;
use portcullis_core::client::authentication::ClientDirectory;
use portcullis_core::user::verify_password;
use portcullis_proto::routes;
use secrecy::SecretString;
use serde::Deserialize;
use std::time::Duration;

/// The login form (field names are a contract: `username`, `password`).
#[derive(Deserialize)]
pub struct LoginForm {
    /// Pending request id.
    pub request: Option<String>,
    /// CSRF token.
    pub csrf_token: Option<String>,
    /// As typed; longer than `MAX_USERNAME_BYTES` (1024 bytes) fails like a wrong
    /// password.
    pub username: Option<String>,
    /// Never logged; longer than `MAX_PASSWORD_BYTES` (1024 bytes) fails like a wrong
    /// password (argon2's cost grows with the input).
    pub password: Option<String>,
}

impl crate::extract::OAuthParams for LoginForm {
    const PARAMETERS: &'static [&'static str] = &["request", "csrf_token", "username", "password"];
    const MULTI_VALUED: &'static [&'static str] = &[];
}

/// Longest username accepted on the form, in bytes (longer cannot exist).
const MAX_USERNAME_BYTES: usize = 1024;
/// Longest password accepted, in bytes (argon2 cost grows with input; bound it).
const MAX_PASSWORD_BYTES: usize = 1024;

/// `GET /login?request=…`.
pub async fn login_get(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    jar: CookieJar,
    query: Result<Query<PendingQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let id = query.ok().and_then(|Query(q)| q.request);
    let now = state.clock().now();
    let pending = match load_pending(&state, &jar, id.as_deref(), now).await {
        Ok(p) => p,
        Err(e) => return pending_error_page(&state, e, &request_id),
    };
    let username = pending
        .row
        .request
        .login_hint()
        .unwrap_or_default()
        .to_owned();
    login_page(&state, &pending, username, None, StatusCode::OK).await
}

/// `POST /login`.
pub async fn login_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    PageForm(form): PageForm<LoginForm>,
) -> Response {
    let now = state.clock().now();
    let pending = match load_pending(&state, &jar, form.request.as_deref(), now).await {
        Ok(p) => p,
        Err(e) => return pending_error_page(&state, e, &request_id),
    };
    if !pending.csrf_matches(form.csrf_token.as_deref()) {
        return pending_error_page(&state, PendingError::Gone, &request_id);
    }
    let client_id = pending.row.request.client_id().to_owned();
    let username = form.username.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    if username.is_empty() || password.is_empty() {
        let message = "Enter your username and password.".to_owned();
        return login_page(&state, &pending, username, Some(message), StatusCode::OK).await;
    }
    if username.len() > MAX_USERNAME_BYTES || password.len() > MAX_PASSWORD_BYTES {
        audit::login_failed(&request_id, &client_id, &username, "too_long");
        let message = wrong_credentials();
        return login_page(
            &state,
            &pending,
            String::new(),
            Some(message),
            StatusCode::OK,
        )
        .await;
    }
    // Attempts on one account run one at a time on this node (they queue rather than
    // race for the verification permits). Each attempt reserves a cell of the
    // account's and the address's buckets in the database before it is verified, while
    // a verification permit is held; a right password gives them back. So only failures
    // count, and the limit holds exactly across nodes and concurrent attempts.
    let _account_slot = state.throttle().serialize_account(&username).await;
    let user = match state.store().user_get_by_username(&username).await {
        Ok(user) => user,
        Err(e) => return store_error_page(&state, &e, &request_id),
    };
    let hash = user.as_ref().map_or_else(
        || state.dummy_password_hash().to_owned(),
        |u| u.password_hash.clone(),
    );
    let Ok(permit) = state.password_slots().acquire().await else {
        let e = portcullis_core::StoreError::Other("password verification is shut down".into());
        return store_error_page(&state, &e, &request_id);
    };
    // The time now, not at the request's start: the slot and the permit can take a while.
    let now = state.clock().now();
    let store = state.store().as_ref();
    let attempt = match state.throttle().begin(store, &username, ip, now).await {
        Ok(Ok(attempt)) => attempt,
        Ok(Err(wait)) => {
            drop(permit);
            audit::login_failed(&request_id, &client_id, &username, "throttled");
            return throttled_page(&state, &pending, username, wait).await;
        }
        Err(e) => {
            drop(permit);
            return store_error_page(&state, &e, &request_id);
        }
    };
    let Some(verified) = verify_blocking(password, hash).await else {
        drop(permit);
        // Not a failure of the user's: the attempt does not count.
        refund_attempt(&state, attempt, now, &request_id).await;
        let e = portcullis_core::StoreError::Other("password verification task failed".into());
        return store_error_page(&state, &e, &request_id);
    };
    let accepted = verified && user.is_some();
    let lock = if accepted {
        refund_attempt(&state, attempt, now, &request_id).await;
        None
    } else {
        state.throttle().failed(attempt)
    };
    drop(permit);
    let user = match user {
        Some(user) if accepted => user,
        other => {
            let reason = if other.is_none() {
                "unknown_user"
            } else {
                "wrong_password"
            };
            audit::login_failed(&request_id, &client_id, &username, reason);
            if let Some(wait) = lock {
                return throttled_page(&state, &pending, username, wait).await;
            }
            return login_page(
                &state,
                &pending,
                username,
                Some(wrong_credentials()),
                StatusCode::OK,
            )
            .await;
        }
    };
    // A new session id on every login (session fixation): the old one is deleted, and
    // the new cookie replaces it.
    if let Err(e) = end_session(&state, &jar).await {
        return store_error_page(&state, &e, &request_id);
    }
    let (session, cookie) = match start_session(&state, &user.user_id, now).await {
        Ok(s) => s,
        Err(e) => return store_error_page(&state, &e, &request_id),
    };
    let cookies = vec![cookie];
    match state
        .store()
        .pending_authorization_set_user(&pending.digest, &user.user_id, now, now)
        .await
    {
        Ok(true) => {}
        Ok(false) => return pending_error_page(&state, PendingError::Gone, &request_id),
        Err(e) => return store_error_page(&state, &e, &request_id),
    }
    audit::login_succeeded(&request_id, &client_id, &user.user_id);
    let client = match state.clients().find_client(&client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return pending_error_page(&state, PendingError::Gone, &request_id),
        Err(e) => return store_error_page(&state, &e, &request_id),
    };
    let request = pending.row.request.clone();
    let authentication = Authentication {
        user_id: user.user_id,
        auth_time: session.auth_time,
        during_this_request: true,
    };
    proceed(
        &state,
        &jar,
        &request_id,
        &client,
        request,
        Some(authentication),
        Some(pending),
        cookies,
    )
    .await
}

/// Gives an attempt's cells back (a right password, or one that could not be
/// verified). If the store fails, the attempt stays counted as a failure: logged, not
/// shown (the user's sign-in goes on).
async fn refund_attempt(
    state: &AppState,
    attempt: crate::throttle::LoginAttempt,
    now: portcullis_core::UnixTime,
    request_id: &str,
) {
    if let Err(e) = state
        .throttle()
        .refund(state.store().as_ref(), attempt, now)
        .await
    {
        tracing::warn!(request_id, error = %e, "giving back a login attempt's rate-limit cells failed");
    }
}

/// Verifies on a blocking thread (the caller holds a permit: at most one per core at a
/// time). `None` if the task failed (it cannot panic on input, but a runtime shutdown
/// can cancel it).
async fn verify_blocking(password: String, hash: String) -> Option<bool> {
    tokio::task::spawn_blocking(move || verify_password(&SecretString::from(password), &hash))
        .await
        .ok()
}

fn wrong_credentials() -> String {
    "The username or password is incorrect.".to_owned()
}

async fn throttled_page(
    state: &AppState,
    pending: &crate::interaction::Pending,
    username: String,
    wait: Duration,
) -> Response {
    let seconds = wait.as_secs().max(1);
    let message = format!(
        "Too many failed sign-in attempts for this account or from your network. Wait {seconds} seconds, then try again."
    );
    let mut response = login_page(
        state,
        pending,
        username,
        Some(message),
        StatusCode::TOO_MANY_REQUESTS,
    )
    .await;
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

async fn login_page(
    state: &AppState,
    pending: &crate::interaction::Pending,
    username: String,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let client_name = match state
        .clients()
        .find_client(pending.row.request.client_id())
        .await
    {
        Ok(Some(c)) => c.client_name.clone().unwrap_or_else(|| c.client_id.clone()),
        Ok(None) => {
            return error_page(
                state,
                StatusCode::BAD_REQUEST,
                "This sign-in has expired",
                "The application is no longer registered.",
                None,
            );
        }
        Err(e) => return store_error_page(state, &e, "-"),
    };
    let view = LoginView {
        chrome: Chrome::new(&state.config().branding),
        action: routes::LOGIN,
        client_name,
        request: pending.id.clone(),
        csrf_token: pending.row.csrf_token.clone(),
        username,
        error,
    };
    render(
        status,
        &view,
        state.config().branding.logo_url.as_ref(),
        pending.form_target(),
    )
}
