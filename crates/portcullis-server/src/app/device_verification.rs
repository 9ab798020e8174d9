//! RFC 8628 §3.3 user interaction: the verification page (`verification_uri`) where
//! the user types the code shown on the device, then the login and consent pages
//! (shared with the authorization code flow, [`crate::app::interaction`]).
//!
//! - The form: `verification_uri_complete` (§3.3.1) pre-fills the code, but the user
//!   still submits it and then compares it on the consent page (§5.4 remote phishing).
//! - The entry ([`verify`]): CSRF check (a token derived from the browser-binding
//!   cookie, see [`Browser::device_form_token`]), the code normalised with
//!   [`UserCode::parse`], rate limits ([`crate::app::throttle::UserCodeThrottle`], §5.1
//!   brute force: wrong codes per browser, per address and per node; a right code is
//!   not counted but resets nothing), one look-up, then a pending request bound to
//!   this browser.
//!
//! An unknown, expired, used or denied code all get the same answer (no oracle).
//! Nothing here logs the user code.

use crate::app::audit;
use crate::app::browser::{Browser, SetCookie};
use crate::app::incident::{Incident, Reported};
use crate::app::interaction::{Interaction, InteractionContext, PageError, proceed_device};
use crate::app::state::AppState;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::authorization::decision::Authentication;
use portcullis_core::authorization::pending::PendingDevice;
use portcullis_core::device::authorization::{find_by_user_code, pending_request};
use portcullis_core::device::user_code::UserCode;
use portcullis_core::keys::KeyRingError;
use portcullis_core::secret::SecretDigest;
use portcullis_core::store::StoreError;
use std::net::IpAddr;
use std::time::Duration;

/// The verification form to show: a CSRF token for this browser (and the
/// browser-binding cookie to set if it had none) and the code to pre-fill.
pub struct EntryForm {
    /// The form's CSRF token.
    pub csrf_token: String,
    /// The browser-binding cookie to set, if the browser had none.
    pub cookie: Option<SetCookie>,
    /// The code to pre-fill (`XXXX-XXXX`, or what was typed).
    pub user_code: String,
}

/// Why the form is shown again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryProblem {
    /// A cross-site post, or a form older than this browser's cookie: nothing was
    /// looked up, and the code is not shown back.
    FormExpired,
    /// Not the shape of a code: it names nothing, so nothing was looked up or counted.
    NotACode,
    /// No device authorization waits for this code: unknown, expired, used and decided
    /// codes get the same answer (why: telling them apart would tell a guesser which
    /// codes exist).
    NotValid,
    /// Too many wrong codes from this browser or network, or from everyone (§5.1):
    /// try again after the wait.
    Throttled(Duration),
}

/// A code entry as posted.
pub struct CodeEntry {
    /// The form's CSRF token.
    pub csrf_token: Option<String>,
    /// As typed: any case, with or without the dash or spaces.
    pub user_code: Option<String>,
    /// The client's address (for the limits).
    pub ip: IpAddr,
}

/// How a code entry ended.
pub enum Verification {
    /// The form again, and why.
    Again(EntryForm, EntryProblem),
    /// A right code: on to the login or consent page.
    Found(Interaction),
    /// An error page instead.
    Refused(PageError),
}

/// The verification form for this browser, pre-filled with `user_code` when it is a
/// code in normal form (anything else is left for the user to type).
///
/// # Errors
/// [`PageError::Store`] if no randomness is available for a new binding cookie.
pub fn entry_form(browser: &Browser, user_code: Option<&str>) -> Result<EntryForm, PageError> {
    let user_code = user_code
        .and_then(UserCode::parse)
        .map(|c| c.display())
        .unwrap_or_default();
    form(browser, user_code)
}

/// Checks a code entry: the form's token, the code's shape, the limits, then one
/// look-up; a right code goes on to the login or consent page for a new pending
/// request bound to this browser.
pub async fn verify(
    state: &AppState,
    request_id: &str,
    browser: &Browser,
    entry: CodeEntry,
) -> Reported<Verification> {
    let again = |user_code: String, problem| match form(browser, user_code) {
        Ok(form) => Verification::Again(form, problem),
        Err(e) => Verification::Refused(e),
    };
    let (true, Some(browser_key)) = (
        browser.device_form_token_matches(entry.csrf_token.as_deref()),
        browser.key(),
    ) else {
        return again(String::new(), EntryProblem::FormExpired).into();
    };
    let typed = entry.user_code.unwrap_or_default();
    let Some(code) = UserCode::parse(&typed) else {
        let typed: String = typed.chars().take(MAX_ECHO_CHARS).collect();
        return again(typed, EntryProblem::NotACode).into();
    };
    let now = state.clock().now();
    let store = state.store().as_ref();
    let throttle = state.user_code_throttle();
    let counted = match throttle.begin(store, &browser_key, entry.ip, now).await {
        Ok(Ok(counted)) => counted,
        Ok(Err(wait)) => {
            audit::user_code_refused(request_id, "throttled");
            return again(code.display(), EntryProblem::Throttled(wait)).into();
        }
        Err(e) => return Verification::Refused(e.into()).into(),
    };
    let mut incidents = Vec::new();
    let authorization =
        match find_by_user_code(store, &state.digest_keys().user_code, &code, now).await {
            Ok(Some(authorization)) => authorization,
            Ok(None) => {
                audit::user_code_refused(request_id, "unknown_or_expired");
                let problem = match throttle.wrong(counted) {
                    Some(wait) => EntryProblem::Throttled(wait),
                    None => EntryProblem::NotValid,
                };
                return again(code.display(), problem).into();
            }
            Err(e) => {
                // Not a wrong code: the entry does not count.
                if let Err(refund) = throttle.refund(store, counted, now).await {
                    incidents.push(refund_failed(&refund));
                }
                return Reported::with(Verification::Refused(e.into()), incidents);
            }
        };
    // A right code costs nothing, but restores nothing either: the wrong entries
    // before it stay counted (anyone can mint right codes). If the store fails here
    // the cells stay taken, as for a wrong code: logged, and the page goes on.
    if let Err(refund) = throttle.refund(store, counted, now).await {
        incidents.push(refund_failed(&refund));
    }
    let session = match browser.session(state, now).await {
        Ok(session) => session,
        Err(e) => return Reported::with(Verification::Refused(e.into()), incidents),
    };
    let sealed_user_code =
        match seal_user_code(state, &authorization.device_code_digest, &code.display()) {
            Ok(sealed) => sealed,
            Err(e) => {
                return Reported::with(Verification::Refused(PageError::Sealing(e)), incidents);
            }
        };
    let request = pending_request(&authorization);
    let device = PendingDevice {
        device_code_digest: authorization.device_code_digest,
        sealed_user_code,
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
    let found = proceed_device(cx, device).await;
    found.map(Verification::Found).after(incidents)
}

/// Seals the user code `shown` (`XXXX-XXXX`) for the pending request of the device
/// authorization `device_code_digest`: AES-256-GCM under the master key, bound to that
/// digest, base64url (see [`PendingDevice::sealed_user_code`]).
///
/// # Errors
/// [`KeyRingError::Crypto`] if the CSPRNG or the cipher fails.
pub fn seal_user_code(
    state: &AppState,
    device_code_digest: &SecretDigest,
    shown: &str,
) -> Result<String, KeyRingError> {
    let sealed = state
        .master_key()
        .seal(&user_code_aad(device_code_digest), shown.as_bytes())?;
    Ok(URL_SAFE_NO_PAD.encode(sealed))
}

/// The user code a pending device authorization shows on the consent page (RFC 8628
/// §5.4), opened from [`PendingDevice::sealed_user_code`].
///
/// # Errors
/// [`StoreError::Corrupt`] if it does not open: another master key (changed while the
/// request was pending), another row's value, or tampering.
pub fn open_user_code(state: &AppState, device: &PendingDevice) -> Result<String, StoreError> {
    let corrupt = || {
        StoreError::Corrupt(
            "the pending request's sealed user code does not open under the master key".into(),
        )
    };
    let sealed = URL_SAFE_NO_PAD
        .decode(&device.sealed_user_code)
        .map_err(|_| corrupt())?;
    let plain = state
        .master_key()
        .open(&user_code_aad(&device.device_code_digest), &sealed)
        .map_err(|_| corrupt())?;
    String::from_utf8(plain).map_err(|_| corrupt())
}

/// The form with a CSRF token for this browser and `user_code` pre-filled.
fn form(browser: &Browser, user_code: String) -> Result<EntryForm, PageError> {
    let (csrf_token, cookie) = browser.device_form_token()?;
    Ok(EntryForm {
        csrf_token,
        cookie,
        user_code,
    })
}

fn refund_failed(error: &StoreError) -> Incident {
    Incident::warn("giving back user-code limit cells failed", error)
}

/// The associated data of a sealed user code: a purpose label and the device code
/// digest (why: a sealed value copied into another device's pending request, or
/// anything else sealed under the master key, does not open as its user code).
fn user_code_aad(device_code_digest: &SecretDigest) -> Vec<u8> {
    [
        USER_CODE_AAD_LABEL,
        device_code_digest.as_bytes().as_slice(),
    ]
    .concat()
}

/// Longest typed value shown back in the form, in characters.
const MAX_ECHO_CHARS: usize = 32;
/// The purpose label in [`user_code_aad`].
const USER_CODE_AAD_LABEL: &[u8] = b"portcullis pending device user_code v1\0";
