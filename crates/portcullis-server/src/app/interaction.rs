//! The user's side of the authorization code flow (RFC 6749 §4.1.1, OIDC Core
//! §3.1.2.3–3.1.2.5): from a validated request, through the login and consent pages,
//! to the redirect that carries the code; and of a device authorization (RFC 8628
//! §3.3), through the same pages to a recorded decision.
//!
//! The protocol decisions are core's (`next_step`, `device_next_step`, `issue_code`);
//! this module keeps the browser-facing state: the pending request (sealed, in the page
//! URL and forms, with a CSRF token, bound to the browser's cookie; nothing is stored
//! until it ends, see `portcullis_core::authorization::pending`) and the session, and
//! answers with an [`Interaction`], which the HTTP layer turns into a page or a
//! redirect.

use crate::app::audit;
use crate::app::browser::{Browser, SetCookie, fresh_secret};
use crate::app::incident::{Incident, Reported};
use crate::app::state::AppState;
use portcullis_core::UnixTime;
use portcullis_core::authorization::code::issue_code;
use portcullis_core::authorization::decision::{
    Authentication, NextStep, device_next_step, next_step,
};
use portcullis_core::authorization::pending::sealed::{self, SealedRequestReason};
use portcullis_core::authorization::pending::{
    PENDING_AUTHORIZATION_TTL, PendingAuthorization, PendingDevice,
};
use portcullis_core::authorization::request::{
    AuthorizeReason, RedirectError, ValidatedAuthorizationRequest, success_location,
};
use portcullis_core::client::authentication::ClientDirectory;
use portcullis_core::client::{Client, ClientProfile};
use portcullis_core::keys::KeyRingError;
use portcullis_core::secret::SecretDigest;
use portcullis_core::store::StoreError;
use secrecy::ExposeSecret;

/// What the browser is sent next.
pub enum Interaction {
    /// To the login page of the pending request `id` (303 See Other).
    Login {
        /// The pending request, sealed.
        id: String,
        /// Cookies to set (a new browser binding).
        cookies: Vec<SetCookie>,
    },
    /// To the consent page of the pending request `id` (303 See Other).
    Consent {
        /// The pending request, sealed.
        id: String,
        /// Cookies to set (a new browser binding, a new session).
        cookies: Vec<SetCookie>,
    },
    /// To the client's redirect URI (303 See Other): with a code (RFC 6749 §4.1.2) or
    /// an error (§4.1.2.1), and `iss` (RFC 9207).
    Client {
        /// The full redirect URI.
        location: String,
        /// Cookies to set (a new session).
        cookies: Vec<SetCookie>,
    },
    /// A device authorization was decided in this browser (RFC 8628 §3.3).
    DeviceDone(DeviceDone),
    /// An error page instead (never a redirect).
    Refused(PageError),
}

/// How a device authorization ends in the browser (RFC 8628 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceDone {
    /// Approved: the device finishes signing in on its next poll.
    Connected,
    /// Denied: the device gets `access_denied`.
    Denied,
    /// It expired or was answered meanwhile: nothing changed.
    TooLate,
}

/// Why a page cannot go on: each has its own error page (the HTTP layer holds their
/// texts and statuses in one place).
#[derive(Debug)]
pub enum PageError {
    /// The pending request is missing, unknown, expired, or was started in another
    /// browser: the same page for all (why: telling them apart would help someone
    /// probing ids).
    Expired,
    /// The request's client is no longer registered (the login page).
    ClientUnregistered,
    /// The consent form came back without `approve` or `deny`.
    NoDecision,
    /// The signed-in user is not the one the request was started with.
    OtherUser,
    /// An authorization request that cannot be answered at a verified redirect URI
    /// (OIDC Core §3.1.2.6): what is wrong with it.
    InvalidRequest(String),
    /// An invalid sign-out request (RP-Initiated Logout §2): what is wrong with it.
    InvalidLogout(String),
    /// The database failed (unreachable, or another failure).
    Store(StoreError),
    /// The pending request (or the user code it shows) could not be sealed.
    Sealing(KeyRingError),
}

impl From<StoreError> for PageError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// A request too large to seal is the client's mistake (a readable 400 page); a
/// failing cipher is ours.
impl From<sealed::SealError> for PageError {
    fn from(error: sealed::SealError) -> Self {
        match error {
            sealed::SealError::TooLarge => Self::InvalidRequest(error.to_string()),
            sealed::SealError::Crypto(e) => Self::Sealing(e),
        }
    }
}

/// Where a step of the flow stands: the request, who is signed in, the pending request
/// the pages are already on, and the cookies already due.
pub struct InteractionContext<'a> {
    /// The services.
    pub state: &'a AppState,
    /// For audit events.
    pub request_id: &'a str,
    /// This browser's cookies.
    pub browser: &'a Browser,
    /// The validated request.
    pub request: ValidatedAuthorizationRequest,
    /// Who is signed in, if anyone.
    pub authentication: Option<Authentication>,
    /// The pending request the pages are on (after the login page), or `None` for a
    /// request that has none yet.
    pub pending: Option<Pending>,
    /// Cookies set earlier in this step (a new session); sent with a redirect.
    pub cookies: Vec<SetCookie>,
}

/// Decides the next step for the request in this browser: a redirect with the code,
/// a redirect with an error, or the login or consent page (creating the pending
/// request, or reusing the context's). A device authorization's pending request goes
/// on as [`proceed_device`].
pub async fn proceed(cx: InteractionContext<'_>, client: &Client) -> Reported<Interaction> {
    if let Some(device) = cx.pending.as_ref().and_then(|p| p.row.device.clone()) {
        return proceed_device(cx, device).await;
    }
    let state = cx.state;
    let now = state.clock().now();
    let approved = match &cx.authentication {
        // Never remembered for this client: every request shows the consent page.
        Some(_) if !client.remembers_consent() => Default::default(),
        Some(a) => match state
            .store()
            .consent_get(&a.user_id, &client.client_id)
            .await
        {
            Ok(scopes) => scopes,
            Err(e) => return redirect_store_error(state, &cx.request, &e, cx.cookies),
        },
        None => Default::default(),
    };
    let step = match next_step(
        &cx.request,
        client,
        cx.authentication.as_ref(),
        &approved,
        now,
    ) {
        Ok(step) => step,
        Err(reason) => {
            // The request ends here, and its pending request with it. If that fails the
            // pending request stays usable, so the client hears of the failure
            // (`temporarily_unavailable` or `server_error`), not of the reason.
            if let Some(p) = &cx.pending {
                match p.take(state).await {
                    Ok(true) => {}
                    // Already ended (a replayed form): the client heard of it once.
                    Ok(false) => return Interaction::Refused(PageError::Expired).into(),
                    Err(e) => return redirect_store_error(state, &cx.request, &e, cx.cookies),
                }
            }
            return redirect_error(state, &cx.request, reason, cx.cookies).into();
        }
    };
    match step {
        NextStep::IssueCode => {
            let Some(auth) = &cx.authentication else {
                let reason = AuthorizeReason::LoginRequired;
                return redirect_error(state, &cx.request, reason, cx.cookies).into();
            };
            if let Some(p) = &cx.pending {
                match p.take(state).await {
                    Ok(true) => {}
                    Ok(false) => return Interaction::Refused(PageError::Expired).into(),
                    Err(e) => return redirect_store_error(state, &cx.request, &e, cx.cookies),
                }
            }
            let (user_id, auth_time) = (auth.user_id.as_str(), auth.auth_time);
            issue_and_redirect(state, cx.request_id, &cx.request, user_id, auth_time)
                .await
                .map(|i| i.with_cookies(cx.cookies))
        }
        NextStep::Login => to_page(cx, None, Page::Login, now).await.into(),
        NextStep::Consent { .. } => to_page(cx, None, Page::Consent, now).await.into(),
    }
}

/// The device variant of [`proceed`] (RFC 8628 §3.3): to the login page without a
/// session, else always to the consent page (core's `device_next_step`), creating the
/// pending request for `device` bound to this browser, or reusing the context's.
pub async fn proceed_device(
    cx: InteractionContext<'_>,
    device: PendingDevice,
) -> Reported<Interaction> {
    let now = cx.state.clock().now();
    let page = match device_next_step(cx.authentication.as_ref(), &cx.request) {
        NextStep::Login => Page::Login,
        _ => Page::Consent,
    };
    to_page(cx, Some(device), page, now).await.into()
}

/// Issues a code for `user_id` (authenticated at `auth_time`) and redirects to the
/// client with it (and `state`, `iss`); on failure, redirects with
/// `temporarily_unavailable` (the database is unreachable) or `server_error`.
pub async fn issue_and_redirect(
    state: &AppState,
    request_id: &str,
    request: &ValidatedAuthorizationRequest,
    user_id: &str,
    auth_time: UnixTime,
) -> Reported<Interaction> {
    let now = state.clock().now();
    let ttl = code_ttl(state, request.client_id()).await;
    let store = state.store().as_ref();
    match issue_code(store, request, user_id, auth_time, ttl, now).await {
        Ok(code) => {
            let scope = request
                .scopes()
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(" ");
            audit::authorization_code_issued(request_id, request.client_id(), user_id, &scope);
            let location = success_location(request, code.expose_secret(), &state.config().issuer);
            Interaction::Client {
                location,
                cookies: Vec::new(),
            }
            .into()
        }
        Err(e) => {
            let incident = Incident::error("issuing an authorization code failed", &e);
            Reported::with(
                redirect_error(state, request, e.reason(), Vec::new()),
                vec![incident],
            )
        }
    }
}

/// The code lifetime for `client_id`: `[tokens] authorization_code_ttl`, at most 60 s
/// for a FAPI 2.0 client (§5.3.2.1 item 11, [`ClientProfile::code_ttl`]). A lookup that
/// fails takes the stricter bound (why: it must not lengthen a FAPI client's code).
async fn code_ttl(state: &AppState, client_id: &str) -> i64 {
    let profile = match state.clients().find_client(client_id).await {
        Ok(Some(client)) => client.profile,
        Ok(None) | Err(_) => ClientProfile::Fapi2,
    };
    profile.code_ttl(state.config().tokens.authorization_code_ttl)
}

/// Redirects to the client with an error (RFC 6749 §4.1.2.1, with `iss`, RFC 9207).
pub fn redirect_error(
    state: &AppState,
    request: &ValidatedAuthorizationRequest,
    reason: AuthorizeReason,
    cookies: Vec<SetCookie>,
) -> Interaction {
    let error = RedirectError {
        redirect_uri: request.redirect_uri().to_owned(),
        state: request.state().map(str::to_owned),
        reason,
    };
    Interaction::Client {
        location: error.location(&state.config().issuer),
        cookies,
    }
}

impl Interaction {
    /// The same step, with `cookies` also set when it redirects to the client.
    fn with_cookies(mut self, extra: Vec<SetCookie>) -> Self {
        if let Self::Client { cookies, .. } = &mut self {
            cookies.extend(extra);
        }
        self
    }
}

/// A pending authorization request opened for a page, after checking its seal, its
/// expiry and the browser binding.
pub struct Pending {
    /// Its sealed form, from the URL or form (needed to redirect between pages).
    pub id: String,
    /// The request it carries.
    pub row: PendingAuthorization,
}

impl Pending {
    /// Opens the pending request `id` (its sealed form) for this browser.
    ///
    /// # Errors
    /// [`PageError::Expired`] when it is missing, does not open under this server's
    /// key, has expired, or is bound to another browser (why one answer: telling them
    /// apart would help someone probing).
    pub fn load(
        state: &AppState,
        browser: &Browser,
        id: Option<&str>,
        now: UnixTime,
    ) -> Result<Self, PageError> {
        let Some(id) = id else {
            return Err(PageError::Expired);
        };
        let row = sealed::open(state.request_sealer(), id, now).map_err(|reason| {
            if let SealedRequestReason::Corrupt(detail) = &reason {
                // Sealed by our key yet not a request: a bug, worth a line in the log.
                tracing::warn!(%detail, "a sealed authorization request opened but does not decode");
            }
            PageError::Expired
        })?;
        if !browser.has_binding(&row.browser_digest) {
            return Err(PageError::Expired);
        }
        Ok(Self {
            id: id.to_owned(),
            row,
        })
    }

    /// Opens the pending request a form was posted for, and checks the form's CSRF
    /// token (a wrong one answers as an expired request).
    ///
    /// # Errors
    /// As [`Pending::load`].
    pub fn load_for_form(
        state: &AppState,
        browser: &Browser,
        id: Option<&str>,
        csrf_token: Option<&str>,
        now: UnixTime,
    ) -> Result<Self, PageError> {
        let pending = Self::load(state, browser, id, now)?;
        if !pending.csrf_matches(csrf_token) {
            return Err(PageError::Expired);
        }
        Ok(pending)
    }

    /// The same request with `user_id`, who logged in at `auth_time`, recorded on it:
    /// sealed anew (the id, the expiry, the binding and the CSRF token stay, so a
    /// replay of the login form still ends in the one use of this request).
    ///
    /// # Errors
    /// [`PageError::Sealing`] if sealing fails.
    pub fn with_user(
        self,
        state: &AppState,
        user_id: &str,
        auth_time: UnixTime,
    ) -> Result<Self, PageError> {
        let row = PendingAuthorization {
            user_id: Some(user_id.to_owned()),
            auth_time: Some(auth_time),
            ..self.row
        };
        let id = sealed::seal(state.request_sealer(), &row).map_err(PageError::from)?;
        Ok(Self { id, row })
    }

    /// The same request with nobody recorded on it (the consent page's "Switch
    /// account": whoever signs in next answers it).
    ///
    /// # Errors
    /// [`PageError`] if sealing fails.
    pub fn without_user(self, state: &AppState) -> Result<Self, PageError> {
        let row = PendingAuthorization {
            user_id: None,
            auth_time: None,
            ..self.row
        };
        let id = sealed::seal(state.request_sealer(), &row).map_err(PageError::from)?;
        Ok(Self { id, row })
    }

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

    /// Ends the pending request: records its id as used, until its expiry (single use:
    /// of two submissions, double click, two tabs or a replayed form, only one goes
    /// on). `Ok(false)` when it was already used. The first write to the store a
    /// pending request causes.
    ///
    /// `Ok(false)` too at or after its expiry (checked again here: the page may have
    /// been opened just before it). The used record outlives the expiry by
    /// [`USED_RECORD_GRACE`], so neither a purge between open and take nor a node
    /// whose clock is behind can make a used request new again.
    ///
    /// # Errors
    /// The store's.
    pub async fn take(&self, state: &AppState) -> Result<bool, StoreError> {
        if state.clock().now() >= self.row.expires_at {
            return Ok(false);
        }
        let keep_until = self.row.expires_at.saturating_add(USED_RECORD_GRACE);
        state
            .store()
            .authorization_request_use(&self.row.id_digest, keep_until)
            .await
    }
}

/// One of the pages a pending request is shown on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Page {
    Login,
    Consent,
}

/// To `page` of the context's pending request, creating one for its request (for
/// `device` when set) if it has none.
async fn to_page(
    cx: InteractionContext<'_>,
    device: Option<PendingDevice>,
    page: Page,
    now: UnixTime,
) -> Interaction {
    let mut cookies = cx.cookies;
    let id = match cx.pending {
        Some(p) => p.id,
        None => {
            // The request records a user only once the consent page may be shown for
            // them: at a Login step the existing session does not count (prompt=login,
            // max_age), and the consent page refuses a request without a user.
            let user = cx.authentication.as_ref().filter(|_| page == Page::Consent);
            let new = NewPending {
                request: cx.request,
                device,
                user,
            };
            match new.insert(cx.state, cx.browser, now) {
                Ok((id, cookie)) => {
                    cookies.extend(cookie);
                    id
                }
                Err(e) => return Interaction::Refused(e),
            }
        }
    };
    match page {
        Page::Login => Interaction::Login { id, cookies },
        Page::Consent => Interaction::Consent { id, cookies },
    }
}

/// A pending request to store: the request, the device authorization it decides (if
/// any), and the user the consent page may be shown for (if any).
struct NewPending<'a> {
    request: ValidatedAuthorizationRequest,
    device: Option<PendingDevice>,
    user: Option<&'a Authentication>,
}

impl NewPending<'_> {
    /// Seals it bound to this browser; returns its sealed form and the browser cookie
    /// to set, if the browser had none. Nothing is stored (issue 16: an anonymous
    /// `/authorize` costs the server no storage).
    fn insert(
        self,
        state: &AppState,
        browser: &Browser,
        now: UnixTime,
    ) -> Result<(String, Option<SetCookie>), PageError> {
        let (browser_digest, cookie) = browser.binding()?;
        let id = fresh_secret()?;
        let csrf = fresh_secret()?;
        let row = PendingAuthorization {
            id_digest: SecretDigest::of(id.expose_secret()),
            request: self.request,
            browser_digest,
            csrf_token: csrf.expose_secret().to_owned(),
            user_id: self.user.map(|a| a.user_id.clone()),
            auth_time: self.user.map(|a| a.auth_time),
            device: self.device,
            created_at: now,
            expires_at: now.saturating_add(PENDING_AUTHORIZATION_TTL),
        };
        let sealed = sealed::seal(state.request_sealer(), &row).map_err(PageError::from)?;
        Ok((sealed, cookie))
    }
}

/// A store failure after the redirect URI was verified: `temporarily_unavailable` or
/// `server_error` at the client (RFC 6749 §4.1.2.1), details in the log only.
fn redirect_store_error(
    state: &AppState,
    request: &ValidatedAuthorizationRequest,
    error: &StoreError,
    cookies: Vec<SetCookie>,
) -> Reported<Interaction> {
    let reason = AuthorizeReason::for_store_error(error);
    let incident = Incident::error("authorization request failed on the server side", error);
    Reported::with(
        redirect_error(state, request, reason, cookies),
        vec![incident],
    )
}

/// How long, in seconds, a used request's record outlives the request's expiry: more
/// than the clock difference between nodes and the time between opening a page's
/// request and ending it (why: once purged, a replay of the form would find it unused).
pub const USED_RECORD_GRACE: UnixTime = 300;
