//! Signing in on the login page (OIDC Core §3.1.2.3 "Authorization Server
//! Authenticates End-User").
//!
//! Passwords are verified with argon2id on a blocking thread behind a semaphore sized
//! to the cores (each verification holds ~19 MiB: unbounded, it is a memory DoS); an
//! unknown username is verified against a dummy hash so both cases take the same time
//! (no username oracle). Failures are throttled per account and per IP, or, from a
//! browser whose device cookie verifies for the account, per device cookie
//! ([`crate::app::throttle`], [`crate::app::device_cookie`]). A right password starts a
//! new session, sets a new device cookie, and the flow goes on
//! ([`crate::app::interaction::proceed`]).

use crate::app::audit;
use crate::app::browser::{Browser, SetCookie, start_session};
use crate::app::device_cookie::{DEVICE_COOKIE_TTL, TrustedDevice};
use crate::app::incident::{Incident, Reported};
use crate::app::interaction::{Interaction, InteractionContext, PageError, Pending, proceed};
use crate::app::state::AppState;
use portcullis_core::UnixTime;
use portcullis_core::authorization::decision::Authentication;
use portcullis_core::client::authentication::ClientDirectory;
use portcullis_core::store::StoreError;
use portcullis_core::user::{User, verify_password};
use secrecy::SecretString;
use std::net::IpAddr;
use std::time::Duration;

/// A login form as posted.
pub struct SignInAttempt {
    /// The pending request id.
    pub pending_id: Option<String>,
    /// The form's CSRF token.
    pub csrf_token: Option<String>,
    /// As typed; longer than `MAX_USERNAME_BYTES` (1024 bytes) fails like a wrong
    /// password.
    pub username: String,
    /// Never logged; longer than `MAX_PASSWORD_BYTES` (1024 bytes) fails like a wrong
    /// password (argon2's cost grows with the input).
    pub password: String,
    /// The client's address (for the attempt limits).
    pub ip: IpAddr,
}

/// How a sign-in ended.
pub enum SignIn {
    /// Signed in (a new session, whose cookie the interaction sets), and the flow goes
    /// on.
    Signed(Interaction),
    /// The username or the password was empty: the form again.
    Incomplete(LoginPrompt),
    /// A wrong username or password (or one too long to be right): the form again.
    Wrong(LoginPrompt),
    /// Too many failures for the account or from the address: the form again, to be
    /// sent after the wait.
    Throttled(LoginPrompt, Duration),
    /// An error page instead.
    Refused(PageError),
}

/// What the login page shows for a pending request.
pub struct LoginPrompt {
    /// The client's display name.
    pub client_name: String,
    /// The pending request id.
    pub request: String,
    /// The pending request's CSRF token.
    pub csrf_token: String,
    /// Pre-filled username (`login_hint`, or what was typed).
    pub username: String,
    /// The extra CSP `form-action` source ([`Pending::form_target`]).
    pub form_target: Option<String>,
}

/// The login page for `pending`, with `username` pre-filled.
///
/// # Errors
/// [`PageError::ClientUnregistered`] when the client is gone, [`PageError::Store`].
pub async fn prompt(
    state: &AppState,
    pending: &Pending,
    username: String,
) -> Result<LoginPrompt, PageError> {
    let client = state
        .clients()
        .find_client(pending.row.request.client_id())
        .await?
        .ok_or(PageError::ClientUnregistered)?;
    Ok(LoginPrompt {
        client_name: client
            .client_name
            .clone()
            .unwrap_or_else(|| client.client_id.clone()),
        request: pending.id.clone(),
        csrf_token: pending.row.csrf_token.clone(),
        username,
        form_target: pending.form_target().map(str::to_owned),
    })
}

/// Checks a login form: the pending request and its CSRF token, the attempt limits,
/// the password; on success ends any earlier session of this browser, starts a new
/// one, records the user on the pending request and goes on with the flow.
pub async fn sign_in(
    state: &AppState,
    request_id: &str,
    browser: &Browser,
    attempt: SignInAttempt,
) -> Reported<SignIn> {
    let now = state.clock().now();
    let id = attempt.pending_id.as_deref();
    let csrf = attempt.csrf_token.as_deref();
    let pending = match Pending::load_for_form(state, browser, id, csrf, now) {
        Ok(p) => p,
        Err(e) => return SignIn::Refused(e).into(),
    };
    let client_id = pending.row.request.client_id().to_owned();
    let SignInAttempt {
        username,
        password,
        ip,
        ..
    } = attempt;
    if username.is_empty() || password.is_empty() {
        return again(state, &pending, username, SignIn::Incomplete)
            .await
            .into();
    }
    if username.len() > MAX_USERNAME_BYTES || password.len() > MAX_PASSWORD_BYTES {
        audit::login_failed(request_id, &client_id, &username, "too_long");
        return again(state, &pending, String::new(), SignIn::Wrong)
            .await
            .into();
    }
    // Attempts on one account run one at a time on this node (they queue rather than
    // race for the verification permits): held until the sign-in is answered.
    // Per account whatever case it is typed in (`Demo` is `demo`, RFC 8265: one
    // limit, not one per spelling).
    let account = portcullis_core::user::username_key(&username);
    let device = state
        .device_cookies()
        .verify(browser.device.as_deref(), &account, now);
    // A browser whose device cookie verified queues on its own (OWASP device cookies):
    // strangers' attempts queued on the account must not delay the user past the
    // request timeout. (A space never occurs in a username, so the names are apart.)
    let queue = device
        .as_ref()
        .map_or_else(|| account.clone(), |d| format!("device {}", d.id()));
    let _account_slot = state.throttle().serialize_account(&queue).await;
    let checked = check(state, &account, password, ip, device.as_ref()).await;
    let incidents = checked.incidents;
    let outcome = match checked.outcome {
        Ok(Verdict::Accepted(user, now)) => {
            let signed = Signed {
                state,
                request_id,
                browser,
                pending,
            };
            return signed.start(user, now).await.after(incidents);
        }
        Ok(Verdict::Throttled(wait)) => {
            audit::login_failed(request_id, &client_id, &username, "throttled");
            let throttled = |prompt| SignIn::Throttled(prompt, wait);
            again(state, &pending, username, throttled).await
        }
        Ok(Verdict::Rejected { reason, lock }) => {
            audit::login_failed(request_id, &client_id, &username, reason);
            match lock {
                Some(wait) => {
                    let throttled = |prompt| SignIn::Throttled(prompt, wait);
                    again(state, &pending, username, throttled).await
                }
                None => again(state, &pending, username, SignIn::Wrong).await,
            }
        }
        Err(e) => SignIn::Refused(PageError::Store(e)),
    };
    Reported::with(outcome, incidents)
}

/// What the password check found.
enum Verdict {
    /// The right password: the user, and the time after the verification.
    Accepted(User, UnixTime),
    /// A failure (`unknown_user`, `wrong_password`, or `user_disabled`: the right
    /// password of an account an administrator disabled); `Some(wait)` when it took
    /// the last allowed attempt of the account or the address.
    Rejected {
        reason: &'static str,
        lock: Option<Duration>,
    },
    /// Refused before verifying: the account or the address is locked.
    Throttled(Duration),
}

/// Reserves the attempt's cells, verifies the password (or the dummy hash for an
/// unknown user) holding a verification permit, and counts the attempt: a failure
/// keeps its cells, a right password gives them back.
///
/// Each attempt reserves a cell of the account's and the address's buckets in the
/// database before it is verified, while a verification permit is held; a right
/// password gives them back. So only failures count, and the limit holds exactly
/// across nodes and concurrent attempts.
async fn check(
    state: &AppState,
    username: &str,
    password: String,
    ip: IpAddr,
    device: Option<&TrustedDevice>,
) -> Reported<Result<Verdict, StoreError>> {
    let user = match state.store().user_get_by_username(username).await {
        Ok(user) => user,
        Err(e) => return Err(e).into(),
    };
    let hash = match &user {
        Some(u) => u.password_hash.clone(),
        None => match state.dummy_password_hash().get().await {
            Ok(dummy) => dummy.to_owned(),
            Err(e) => {
                return Err(StoreError::Other(format!(
                    "hashing the dummy password: {e}"
                )))
                .into();
            }
        },
    };
    let Ok(permit) = state.password_slots().acquire().await else {
        return Err(StoreError::Other(
            "password verification is shut down".into(),
        ))
        .into();
    };
    // The time now, not at the request's start: the slot and the permit can take a while.
    let now = state.clock().now();
    let store = state.store().as_ref();
    let attempt = match state
        .throttle()
        .begin(store, username, ip, device, now)
        .await
    {
        Ok(Ok(attempt)) => attempt,
        Ok(Err(wait)) => return Ok(Verdict::Throttled(wait)).into(),
        Err(e) => return Err(e).into(),
    };
    let mut incidents = Vec::new();
    let Some(verified) = verify_blocking(password, hash).await else {
        drop(permit);
        // Not a failure of the user's: the attempt does not count.
        if let Err(e) = state.throttle().refund(store, attempt, now).await {
            incidents.push(refund_failed(&e));
        }
        let e = StoreError::Other("password verification task failed".into());
        return Reported::with(Err(e), incidents);
    };
    let verdict = match user {
        Some(user) if verified && user.disabled_at.is_some() => {
            // The right password of a disabled account: refused, with the page's usual
            // words (it does not tell whoever holds the password that the account
            // exists); not a guess, so its cells go back.
            if let Err(e) = state.throttle().refund(store, attempt, now).await {
                incidents.push(refund_failed(&e));
            }
            Verdict::Rejected {
                reason: "user_disabled",
                lock: None,
            }
        }
        Some(user) if verified => {
            // If the store fails here, the attempt stays counted as a failure: logged,
            // not shown (the user's sign-in goes on).
            if let Err(e) = state.throttle().refund(store, attempt, now).await {
                incidents.push(refund_failed(&e));
            }
            Verdict::Accepted(user, now)
        }
        other => Verdict::Rejected {
            reason: if other.is_none() {
                "unknown_user"
            } else {
                "wrong_password"
            },
            lock: state.throttle().failed(attempt),
        },
    };
    drop(permit);
    Reported::with(Ok(verdict), incidents)
}

/// A right password, before the session: what it goes on with.
struct Signed<'a> {
    state: &'a AppState,
    request_id: &'a str,
    browser: &'a Browser,
    pending: Pending,
}

impl Signed<'_> {
    /// Starts `user`'s session at `now`, records the user on the pending request and
    /// goes on with the flow.
    async fn start(self, user: User, now: UnixTime) -> Reported<SignIn> {
        let Self {
            state,
            request_id,
            browser,
            pending,
        } = self;
        let refused = |e: PageError| Reported::from(SignIn::Refused(e));
        // A new session id on every login (session fixation): the old one is deleted,
        // and the new cookie replaces it.
        if let Err(e) = browser.end_session(state).await {
            return refused(e.into());
        }
        let (session, cookie) = match start_session(state, &user.user_id, now).await {
            Ok(s) => s,
            Err(e) => return refused(e.into()),
        };
        // A new device cookie at each sign-in (OWASP device cookies): this browser's
        // later attempts on this account count in their own bucket.
        let device = match state.device_cookies().issue(&user.username, now) {
            Ok(value) => SetCookie::Device {
                value,
                max_age: DEVICE_COOKIE_TTL,
            },
            Err(e) => return refused(StoreError::Other(e.to_string()).into()),
        };
        // Recorded on the request by sealing it anew (nothing is stored): the consent
        // page it goes on to carries who logged in, and when.
        let pending = match pending.with_user(state, &user.user_id, now) {
            Ok(p) => p,
            Err(e) => return refused(e),
        };
        let client_id = &pending.row.request.client_id();
        audit::login_succeeded(request_id, client_id, &user.user_id);
        let client = match state.clients().find_client(client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return refused(PageError::Expired),
            Err(e) => return refused(e.into()),
        };
        let cx = InteractionContext {
            state,
            request_id,
            browser,
            request: pending.row.request.clone(),
            authentication: Some(Authentication {
                user_id: user.user_id,
                auth_time: session.auth_time,
                during_this_request: true,
            }),
            pending: Some(pending),
            cookies: vec![cookie, device],
        };
        proceed(cx, &client).await.map(SignIn::Signed)
    }
}

/// The login form again for `pending` with `username`, as `outcome` says; an error
/// page if it cannot be shown.
async fn again(
    state: &AppState,
    pending: &Pending,
    username: String,
    outcome: impl FnOnce(LoginPrompt) -> SignIn,
) -> SignIn {
    match prompt(state, pending, username).await {
        Ok(prompt) => outcome(prompt),
        Err(e) => SignIn::Refused(e),
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

fn refund_failed(error: &StoreError) -> Incident {
    Incident::warn(
        "giving back a login attempt's rate-limit cells failed",
        error,
    )
}

/// Longest username accepted on the form, in bytes (longer cannot exist).
const MAX_USERNAME_BYTES: usize = 1024;
/// Longest password accepted, in bytes (argon2 cost grows with input; bound it).
const MAX_PASSWORD_BYTES: usize = 1024;
