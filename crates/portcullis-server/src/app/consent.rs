//! Consent (OIDC Core §3.1.2.4 "Authorization Server Obtains End-User Consent"): the
//! client's name and each scope to approve; `approve` remembers the scopes for this
//! user and client (so the next request for them skips the page, and a request for
//! more shows only the new ones), `deny` sends `access_denied` to the client.
//!
//! For a device authorization (RFC 8628 §3.3) the page also shows the user code to
//! compare with the device's screen (§5.4), always lists every requested scope, and the
//! answer is recorded on the device authorization (which the device's next poll reads)
//! and ends on a page of ours instead of a redirect.

use crate::app::audit;
use crate::app::browser::Browser;
use crate::app::device_verification::open_user_code;
use crate::app::incident::{Incident, Reported};
use crate::app::interaction::{
    DeviceDone, Interaction, PageError, Pending, issue_and_redirect, redirect_error,
};
use crate::app::state::AppState;
use portcullis_core::UnixTime;
use portcullis_core::authorization::pending::PendingDevice;
use portcullis_core::authorization::request::{AuthorizeReason, ValidatedAuthorizationRequest};
use portcullis_core::client::authentication::ClientDirectory;
use portcullis_core::client::{Client, RecordSource};
use portcullis_core::device::DeviceAuthorizationStatus;
use portcullis_core::device::authorization::record_decision;
use portcullis_core::resource::{effective_resources, registered_resources, scope_description};
use portcullis_core::session::BrowserSession;
use portcullis_proto::authorize::consent_form;
use std::collections::BTreeMap;

/// What the consent page shows.
pub struct ConsentPrompt {
    /// The client's display name (plain text; for a metadata document client, the
    /// name its document claims).
    pub client_name: String,
    /// For a client known only by its metadata document: its `client_id` URL's host,
    /// shown prominently and labelled unverified (issue 14 item 5). The document's
    /// `logo_uri` is never fetched or shown: a picture chosen by an unvetted client
    /// would only lend it credibility, and fetching it would be one more request made
    /// at the client's command.
    pub unverified_host: Option<String>,
    /// The client registered itself at the registration endpoint (RFC 7591):
    /// `unverified_host` is then the host (or private-use scheme) of the redirect URI
    /// this request sends the browser back to, or its `client_id` for a device request.
    pub registered_itself: bool,
    /// Who is signed in.
    pub username: String,
    /// The scopes to approve now: what the request will be granted (its `scope`, or
    /// the default it got, RFC 6749 §3.3).
    pub scopes: Vec<String>,
    /// The operator's words for some of them: the requested registered resources'
    /// `scope_descriptions` (scope → text).
    pub scope_descriptions: BTreeMap<String, String>,
    /// The display names of the requested registered resources (the APIs the access
    /// is for), in request order.
    pub resources: Vec<String>,
    /// How many of the requested scopes were approved before.
    pub already_approved: usize,
    /// The pending request id.
    pub request: String,
    /// The pending request's CSRF token.
    pub csrf_token: String,
    /// For a device authorization: the user code (`XXXX-XXXX`) to compare with the
    /// device's screen (RFC 8628 §5.4 remote phishing).
    pub user_code: Option<String>,
    /// The extra CSP `form-action` source ([`Pending::form_target`]).
    pub form_target: Option<String>,
}

/// A consent form as posted.
pub struct ConsentAnswer {
    /// The pending request id.
    pub pending_id: Option<String>,
    /// The form's CSRF token.
    pub csrf_token: Option<String>,
    /// `approve`, `deny` or `switch_account`.
    pub decision: Option<String>,
}

/// The consent page for `pending`.
///
/// # Errors
/// The step to take instead: back to the login page (no session, or the request still
/// needs a login), or an error page.
pub async fn prompt(
    state: &AppState,
    browser: &Browser,
    pending: Pending,
) -> Result<ConsentPrompt, Interaction> {
    let (pending, session) = signed_in(state, browser, pending).await?;
    let refused = |e: PageError| Interaction::Refused(e);
    let request = &pending.row.request;
    let client = match state.clients().find_client(request.client_id()).await {
        Ok(Some(c)) => c,
        Ok(None) => return Err(refused(PageError::Expired)),
        Err(e) => return Err(refused(e.into())),
    };
    let approved = state
        .store()
        .consent_get(&session.user_id, &client.client_id)
        .await
        .map_err(|e| refused(e.into()))?;
    // A device authorization shows every scope, however much was approved before
    // (RFC 8628 §5.4: the user must see what the device asks for); so does a client
    // whose approvals are never remembered.
    let every =
        request.prompt().consent || pending.row.device.is_some() || !client.remembers_consent();
    let to_approve: Vec<&String> = request
        .scopes()
        .iter()
        .filter(|s| every || !approved.contains(*s))
        .collect();
    let shown = if to_approve.is_empty() {
        request.scopes().iter().collect()
    } else {
        to_approve
    };
    let already_approved = request.scopes().len().saturating_sub(shown.len());
    let username = match state.store().user_get(&session.user_id).await {
        Ok(Some(u)) => u.username,
        Ok(None) => return Err(refused(PageError::Expired)),
        Err(e) => return Err(refused(e.into())),
    };
    // RFC 8628 §5.4: the code the user typed, to compare with the device's screen.
    let user_code = pending
        .row
        .device
        .as_ref()
        .map(|d| open_user_code(state, d))
        .transpose()
        .map_err(|e| refused(e.into()))?;
    // The APIs the token will be for: the requested resources, else the client's first
    // audience (what `aud` becomes), so the page names them and describes their scopes.
    let audiences = effective_resources(&client, request.resources());
    let registered = registered_resources(state.clients(), &audiences)
        .await
        .map_err(|e| refused(e.into()))?;
    let scope_descriptions = shown
        .iter()
        .filter_map(|s| scope_description(&registered, s).map(|d| ((*s).clone(), d.to_owned())))
        .collect();
    let resources = registered
        .iter()
        .map(|r| r.name.clone().unwrap_or_else(|| r.identifier.clone()))
        .collect();
    Ok(ConsentPrompt {
        scope_descriptions,
        resources,
        client_name: client
            .client_name
            .clone()
            .unwrap_or_else(|| client.client_id.clone()),
        unverified_host: unverified_host(
            &client,
            pending.row.device.is_none().then(|| request.redirect_uri()),
        ),
        registered_itself: client.source == RecordSource::Dynamic,
        username,
        scopes: shown.into_iter().cloned().collect(),
        already_approved,
        request: pending.id.clone(),
        csrf_token: pending.row.csrf_token.clone(),
        user_code,
        form_target: pending.form_target().map(str::to_owned),
    })
}

/// The user's answer on the consent page: for a redirect-based request, remembers an
/// approval and redirects with a code, or redirects with `access_denied`; for a device
/// authorization, records the decision ([`Decision::device`]).
pub async fn decide(
    state: &AppState,
    request_id: &str,
    browser: &Browser,
    answer: ConsentAnswer,
) -> Reported<Interaction> {
    let now = state.clock().now();
    let id = answer.pending_id.as_deref();
    let pending = match Pending::load(state, browser, id, now) {
        Ok(p) => p,
        Err(e) => return Interaction::Refused(e).into(),
    };
    let (pending, session) = match signed_in(state, browser, pending).await {
        Ok(loaded) => loaded,
        Err(interaction) => return interaction.into(),
    };
    if !pending.csrf_matches(answer.csrf_token.as_deref()) {
        return Interaction::Refused(PageError::Expired).into();
    }
    let approve = match answer.decision.as_deref() {
        Some(consent_form::APPROVE) => true,
        Some(consent_form::DENY) => false,
        Some(consent_form::SWITCH_ACCOUNT) => {
            return switch_account(state, browser, pending).await;
        }
        _ => return Interaction::Refused(PageError::NoDecision).into(),
    };
    // Taken first, in both flows (single use: of a double submission, only one decides).
    match pending.take(state).await {
        Ok(true) => {}
        Ok(false) => return Interaction::Refused(PageError::Expired).into(),
        Err(e) => return Interaction::Refused(e.into()).into(),
    }
    let row = pending.row;
    let decision = Decision {
        state,
        request_id,
        scope: row
            .request
            .scopes()
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(" "),
        request: row.request,
        auth_time: row.auth_time.unwrap_or(session.auth_time),
        user_id: session.user_id,
        approve,
        now,
    };
    match row.device {
        Some(device) => decision.device(device).await,
        None => decision.redirect_based().await,
    }
}

/// "Not you? Switch account": ends this browser's session (the session record and
/// its cookie) and goes back to the login page of the same request, which no longer
/// names who signed in for it. The request is not taken: the next person answers it.
async fn switch_account(
    state: &AppState,
    browser: &Browser,
    pending: Pending,
) -> Reported<Interaction> {
    let clear = match browser.end_session(state).await {
        Ok(clear) => clear,
        Err(e) => return Interaction::Refused(e.into()).into(),
    };
    match pending.without_user(state) {
        Ok(pending) => Interaction::Login {
            id: pending.id,
            cookies: vec![clear],
        }
        .into(),
        Err(e) => Interaction::Refused(e).into(),
    }
}

/// The user's answer to one pending request, already taken from the store.
struct Decision<'a> {
    state: &'a AppState,
    request_id: &'a str,
    request: ValidatedAuthorizationRequest,
    /// The requested scopes, space-separated (for the audit event).
    scope: String,
    /// The user who answered (the session's, checked against the request's).
    user_id: String,
    /// When that user authenticated for this request (OIDC Core §2 `auth_time`).
    auth_time: UnixTime,
    approve: bool,
    now: UnixTime,
}

impl Decision<'_> {
    /// A redirect-based request: denied, or approved (remembered) with a code.
    async fn redirect_based(self) -> Reported<Interaction> {
        let Self {
            state,
            request_id,
            request,
            scope,
            user_id,
            auth_time,
            approve,
            now,
        } = self;
        if !approve {
            audit::consent_decided(request_id, request.client_id(), &user_id, "deny", &scope);
            let reason = AuthorizeReason::AccessDenied;
            return redirect_error(state, &request, reason, Vec::new()).into();
        }
        // Remembered only for a client that remembers consent (not one known only by its
        // metadata document: its next request shows the page again).
        let remembers = match state.clients().find_client(request.client_id()).await {
            Ok(Some(client)) => client.remembers_consent(),
            Ok(None) => false,
            Err(e) => return Interaction::Refused(e.into()).into(),
        };
        if remembers
            && let Err(e) = state
                .store()
                .consent_grant(&user_id, request.client_id(), request.scopes(), now)
                .await
        {
            return Interaction::Refused(e.into()).into();
        }
        audit::consent_decided(request_id, request.client_id(), &user_id, "approve", &scope);
        issue_and_redirect(state, request_id, &request, &user_id, auth_time).await
    }

    /// RFC 8628 §3.3: the user's answer to a device authorization, recorded on it in one
    /// conditional statement (core's `record_decision`); if it was decided or expired
    /// meanwhile, nothing changes and the page says so.
    async fn device(self, device: PendingDevice) -> Reported<Interaction> {
        let Self {
            state,
            request_id,
            request,
            scope,
            user_id,
            auth_time,
            approve,
            now,
        } = self;
        let decision = if approve {
            DeviceAuthorizationStatus::Approved {
                user_id: user_id.clone(),
                auth_time,
            }
        } else {
            DeviceAuthorizationStatus::Denied
        };
        let store = state.store().as_ref();
        match record_decision(store, &device.device_code_digest, decision, now).await {
            Ok(true) => {}
            Ok(false) => return Interaction::DeviceDone(DeviceDone::TooLate).into(),
            Err(e) => return Interaction::Refused(e.into()).into(),
        }
        let outcome = if approve { "approve" } else { "deny" };
        audit::device_authorization_decided(
            request_id,
            request.client_id(),
            &user_id,
            outcome,
            &scope,
        );
        if !approve {
            return Interaction::DeviceDone(DeviceDone::Denied).into();
        }
        // Remembered for later redirect-based requests of this client; the device
        // already has its answer, so a failure here only costs a consent page next time.
        let mut incidents = Vec::new();
        if let Err(e) = store
            .consent_grant(&user_id, request.client_id(), request.scopes(), now)
            .await
        {
            incidents.push(Incident::error("remembering the device consent failed", &e));
        }
        Reported::with(Interaction::DeviceDone(DeviceDone::Connected), incidents)
    }
}

/// What the consent page names an unvetted client by: the host of a metadata document
/// client's `client_id` URL; for a dynamically registered client, the host (or
/// private-use scheme, RFC 8252 §7.1) of the redirect URI **this request** returns to
/// (why: a registrant lists redirect URIs nobody checked, so the first one proves
/// nothing about where this request goes), or its `client_id` for a device request,
/// which returns nowhere. `None` for a client an operator registered.
fn unverified_host(client: &Client, redirect_uri: Option<&str>) -> Option<String> {
    let url = match client.source {
        RecordSource::MetadataDocument => url::Url::parse(&client.client_id).ok()?,
        RecordSource::Dynamic => {
            let Some(url) = redirect_uri.and_then(|uri| url::Url::parse(uri).ok()) else {
                return Some(client.client_id.clone());
            };
            if url.host_str().is_none_or(str::is_empty) {
                return Some(format!("{}:", url.scheme()));
            }
            url
        }
        RecordSource::Config | RecordSource::Admin => return None,
    };
    url.host_str().map(str::to_owned)
}

/// This browser's session for `pending`; the session's user must be the one the
/// request is for. Without a session (it expired, or the user signed out in another
/// tab), or when the request still needs a login (no user recorded yet: `prompt=login`
/// or `max_age` asked for a fresh one), back to the login page.
async fn signed_in(
    state: &AppState,
    browser: &Browser,
    pending: Pending,
) -> Result<(Pending, BrowserSession), Interaction> {
    let now = state.clock().now();
    let session = browser
        .session(state, now)
        .await
        .map_err(|e| Interaction::Refused(e.into()))?;
    let (Some(session), Some(user_id)) = (session, pending.row.user_id.as_ref()) else {
        return Err(Interaction::Login {
            id: pending.id,
            cookies: Vec::new(),
        });
    };
    if *user_id != session.user_id {
        return Err(Interaction::Refused(PageError::OtherUser));
    }
    Ok((pending, session))
}
