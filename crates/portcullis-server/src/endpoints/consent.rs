//! The consent page (OIDC Core §3.1.2.4 "Authorization Server Obtains End-User
//! Consent"): the client's name and each scope to approve in plain words; `approve`
//! remembers the scopes for this user and client (so the next request for them skips
//! the page, and a request for more shows only the new ones), `deny` sends
//! `access_denied` to the client.
//!
//! For a device authorization (RFC 8628 §3.3) the page also shows the user code to
//! compare with the device's screen (§5.4), always lists every requested scope, and the
//! answer is recorded on the device authorization (which the device's next poll reads)
//! and ends on a page of ours instead of a redirect.

use crate::audit;
use crate::browser::current_session;
use crate::endpoints::device::device_done_page;
use crate::extract::{PageForm, RequestId};
use crate::interaction::{
    Pending, PendingError, PendingQuery, error_page, issue_and_redirect, load_pending, page_url,
    pending_error_page, redirect_error, see_other, store_error_page,
};
use crate::pages::{Chrome, ConsentView, ScopeView, describe_scope, render};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;
use portcullis_core::UnixTime;
use portcullis_core::authorization::pending::PendingDevice;
use portcullis_core::authorization::request::AuthorizeReason;
use portcullis_core::client::authentication::ClientDirectory;
use portcullis_core::device::DeviceAuthorizationStatus;
use portcullis_core::device::authorization::record_decision;
use portcullis_core::session::BrowserSession;
use portcullis_proto::authorize::consent_form;
use portcullis_proto::routes;
use serde::Deserialize;

/// The consent form (`decision` = `approve` | `deny` is a contract).
#[derive(Deserialize)]
pub struct ConsentForm {
    /// Pending request id.
    pub request: Option<String>,
    /// CSRF token.
    pub csrf_token: Option<String>,
    /// `approve` or `deny`.
    pub decision: Option<String>,
}

impl crate::extract::OAuthParams for ConsentForm {
    const PARAMETERS: &'static [&'static str] = &["request", "csrf_token", "decision"];
    const MULTI_VALUED: &'static [&'static str] = &[];
}

/// `GET /consent?request=…`.
pub async fn consent_get(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    jar: CookieJar,
    query: Result<Query<PendingQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let id = query.ok().and_then(|Query(q)| q.request);
    let (pending, session) = match load(&state, &jar, id.as_deref(), &request_id).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    let request = &pending.row.request;
    let client = match state.clients().find_client(request.client_id()).await {
        Ok(Some(c)) => c,
        Ok(None) => return pending_error_page(&state, PendingError::Gone, &request_id),
        Err(e) => return store_error_page(&state, &e, &request_id),
    };
    let approved = match state
        .store()
        .consent_get(&session.user_id, &client.client_id)
        .await
    {
        Ok(a) => a,
        Err(e) => return store_error_page(&state, &e, &request_id),
    };
    // A device authorization shows every scope, however much was approved before
    // (RFC 8628 §5.4: the user must see what the device asks for).
    let to_approve: Vec<&String> = if request.prompt().consent || pending.row.device.is_some() {
        request.scopes().iter().collect()
    } else {
        request
            .scopes()
            .iter()
            .filter(|s| !approved.contains(*s))
            .collect()
    };
    let shown = if to_approve.is_empty() {
        request.scopes().iter().collect()
    } else {
        to_approve
    };
    let already_approved = request.scopes().len().saturating_sub(shown.len());
    let username = match state.store().user_get(&session.user_id).await {
        Ok(Some(u)) => u.username,
        Ok(None) => return pending_error_page(&state, PendingError::Gone, &request_id),
        Err(e) => return store_error_page(&state, &e, &request_id),
    };
    // RFC 8628 §5.4: the code the user typed, to compare with the device's screen.
    let user_code = match pending
        .row
        .device
        .as_ref()
        .map(|d| crate::endpoints::device::open_user_code(&state, d))
        .transpose()
    {
        Ok(code) => code,
        Err(e) => return store_error_page(&state, &e, &request_id),
    };
    let view = ConsentView {
        chrome: Chrome::new(&state.config().branding),
        action: routes::CONSENT,
        client_name: client
            .client_name
            .clone()
            .unwrap_or_else(|| client.client_id.clone()),
        username,
        scopes: shown
            .into_iter()
            .map(|s| ScopeView {
                name: s.clone(),
                description: describe_scope(s),
            })
            .collect(),
        already_approved,
        request: pending.id.clone(),
        csrf_token: pending.row.csrf_token.clone(),
        user_code,
    };
    render(
        StatusCode::OK,
        &view,
        state.config().branding.logo_url.as_ref(),
        pending.form_target(),
    )
}

/// `POST /consent`.
pub async fn consent_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    jar: CookieJar,
    PageForm(form): PageForm<ConsentForm>,
) -> Response {
    let now = state.clock().now();
    let (pending, session) = match load(&state, &jar, form.request.as_deref(), &request_id).await {
        Ok(loaded) => loaded,
        Err(response) => return response,
    };
    if !pending.csrf_matches(form.csrf_token.as_deref()) {
        return pending_error_page(&state, PendingError::Gone, &request_id);
    }
    let approve = match form.decision.as_deref() {
        Some(consent_form::APPROVE) => true,
        Some(consent_form::DENY) => false,
        _ => {
            return error_page(
                &state,
                StatusCode::BAD_REQUEST,
                "Something went wrong",
                "Choose Allow or Deny.",
                Some(&request_id),
            );
        }
    };
    if let Some(device) = pending.row.device.clone() {
        return decide_device(&state, &request_id, pending, &session, device, approve, now).await;
    }
    // Single use: of two submissions (double click, two tabs) only one goes on.
    match state
        .store()
        .pending_authorization_take(&pending.digest, now)
        .await
    {
        Ok(Some(_)) => {}
        Ok(None) => return pending_error_page(&state, PendingError::Gone, &request_id),
        Err(e) => return store_error_page(&state, &e, &request_id),
    }
    let request = pending.row.request;
    let scope = request
        .scopes()
        .iter()
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    if !approve {
        audit::consent_decided(
            &request_id,
            request.client_id(),
            &session.user_id,
            "deny",
            &scope,
        );
        return redirect_error(&state, &request, AuthorizeReason::AccessDenied, Vec::new());
    }
    if let Err(e) = state
        .store()
        .consent_grant(&session.user_id, request.client_id(), request.scopes(), now)
        .await
    {
        return store_error_page(&state, &e, &request_id);
    }
    audit::consent_decided(
        &request_id,
        request.client_id(),
        &session.user_id,
        "approve",
        &scope,
    );
    let auth_time = pending.row.auth_time.unwrap_or(session.auth_time);
    issue_and_redirect(
        &state,
        &request_id,
        &request,
        &session.user_id,
        auth_time,
        Vec::new(),
    )
    .await
}

/// RFC 8628 §3.3: the user's answer to a device authorization. The pending request is
/// taken first (single use: a double submission decides once), then the decision is
/// recorded on the device authorization in one conditional statement (core's
/// `record_decision`); if it was decided or expired meanwhile, nothing changes and the
/// page says so.
async fn decide_device(
    state: &AppState,
    request_id: &str,
    pending: Pending,
    session: &BrowserSession,
    device: PendingDevice,
    approve: bool,
    now: UnixTime,
) -> Response {
    match state
        .store()
        .pending_authorization_take(&pending.digest, now)
        .await
    {
        Ok(Some(_)) => {}
        Ok(None) => return pending_error_page(state, PendingError::Gone, request_id),
        Err(e) => return store_error_page(state, &e, request_id),
    }
    let request = pending.row.request;
    let scope = request
        .scopes()
        .iter()
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    let decision = if approve {
        DeviceAuthorizationStatus::Approved {
            user_id: session.user_id.clone(),
            auth_time: pending.row.auth_time.unwrap_or(session.auth_time),
        }
    } else {
        DeviceAuthorizationStatus::Denied
    };
    match record_decision(
        state.store().as_ref(),
        &device.device_code_digest,
        decision,
        now,
    )
    .await
    {
        Ok(true) => {}
        Ok(false) => {
            return device_done_page(
                state,
                StatusCode::BAD_REQUEST,
                "This code has expired",
                "The request from your device expired or was already answered, so nothing was changed.",
                "Start again on your device to get a new code.",
                Some(request_id),
            );
        }
        Err(e) => return store_error_page(state, &e, request_id),
    }
    let outcome = if approve { "approve" } else { "deny" };
    audit::device_authorization_decided(
        request_id,
        request.client_id(),
        &session.user_id,
        outcome,
        &scope,
    );
    if !approve {
        return device_done_page(
            state,
            StatusCode::OK,
            "Request denied",
            "The device was not connected and gets no access to your account.",
            "You can close this window.",
            None,
        );
    }
    // Remembered for later redirect-based requests of this client; the device already
    // has its answer, so a failure here only costs a consent page next time.
    if let Err(error) = state
        .store()
        .consent_grant(&session.user_id, request.client_id(), request.scopes(), now)
        .await
    {
        tracing::error!(request_id, %error, "remembering the device consent failed");
    }
    device_done_page(
        state,
        StatusCode::OK,
        "Device connected",
        "You can return to your device: it finishes signing in by itself within a few seconds.",
        "You can close this window.",
        None,
    )
}

/// Loads the pending request and this browser's session; the session's user must be
/// the one the request is for. Without a session (it expired, or the user signed out
/// in another tab), or when the request still needs a login (no user recorded yet:
/// `prompt=login` or `max_age` asked for a fresh one), back to the login page.
async fn load(
    state: &AppState,
    jar: &CookieJar,
    id: Option<&str>,
    request_id: &str,
) -> Result<(Pending, BrowserSession), Response> {
    let now = state.clock().now();
    let pending = load_pending(state, jar, id, now)
        .await
        .map_err(|e| pending_error_page(state, e, request_id))?;
    let session = current_session(state, jar, now)
        .await
        .map_err(|e| store_error_page(state, &e, request_id))?;
    let (Some(session), Some(user_id)) = (session, pending.row.user_id.as_ref()) else {
        return Err(see_other(&page_url(routes::LOGIN, &pending.id), Vec::new()));
    };
    if *user_id != session.user_id {
        return Err(error_page(
            state,
            StatusCode::BAD_REQUEST,
            "You signed in as someone else",
            "The account signed in now is not the one this request was started with.",
            Some(request_id),
        ));
    }
    Ok((pending, session))
}
