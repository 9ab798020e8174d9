//! RFC 8628 §3.3 user interaction: the verification page (`verification_uri`) where
//! the user types the code shown on the device, then the login and consent pages
//! (shared with the authorization code flow, [`crate::http::interaction`]).
//!
//! - `GET /device[?user_code=…]`: the form; `verification_uri_complete` (§3.3.1)
//!   pre-fills the code, but the user still submits it and then compares it on the
//!   consent page (§5.4 remote phishing).
//! - `POST /device`: CSRF check (a token derived from the browser-binding cookie, see
//!   [`crate::http::browser::device_form_token`]), the code normalised with
//!   [`UserCode::parse`], rate limits ([`crate::app::throttle::UserCodeThrottle`], §5.1
//!   brute force: wrong codes per browser, per address and per node; a right code is
//!   not counted but resets nothing), one look-up, then a pending request bound to
//!   this browser.
//!
//! An unknown, expired, used or denied code all get the same message (no oracle).
//! Nothing here logs the user code.

use crate::app::audit;
use crate::app::state::AppState;
use crate::http::browser::device_form_token_matches;
use crate::http::browser::{append_cookies, browser_key, current_session, device_form_token};
use crate::http::extract::{ClientIp, PageForm, RequestId};
use crate::http::interaction::{error_page, proceed_device, store_error_page};
use crate::http::pages::{Chrome, DeviceDoneView, DeviceEntryView, render};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::authorization::decision::Authentication;
use portcullis_core::authorization::pending::PendingDevice;
use portcullis_core::device::authorization::{find_by_user_code, pending_request};
use portcullis_core::device::user_code::UserCode;
use portcullis_core::keys::KeyRingError;
use portcullis_core::secret::SecretDigest;
use portcullis_core::store::StoreError;
use portcullis_proto::routes;
use serde::Deserialize;
use std::time::Duration;

/// The query of `GET /device` (RFC 8628 §3.3.1 `verification_uri_complete`).
#[derive(Debug, Deserialize)]
pub struct DeviceQuery {
    /// A user code to pre-fill.
    pub user_code: Option<String>,
}

/// The verification form (the field name `user_code` is a contract).
#[derive(Deserialize)]
pub struct DeviceForm {
    /// CSRF token.
    pub csrf_token: Option<String>,
    /// As typed: any case, with or without the dash or spaces.
    pub user_code: Option<String>,
}

impl crate::http::extract::OAuthParams for DeviceForm {
    const PARAMETERS: &'static [&'static str] = &["csrf_token", "user_code"];
    const MULTI_VALUED: &'static [&'static str] = &[];
}

/// The message for a code that names no device authorization waiting for the user.
/// One message for unknown, expired, used and decided codes (why: telling them apart
/// would tell a guesser which codes exist).
pub const CODE_NOT_VALID: &str =
    "That code is not valid or has expired. Check the code on your device and try again.";

/// `GET /device`.
pub async fn device_get(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    jar: CookieJar,
    query: Result<Query<DeviceQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    // Pre-filled only in normal form: anything else is left for the user to type.
    let user_code = query
        .ok()
        .and_then(|Query(q)| q.user_code)
        .and_then(|c| UserCode::parse(&c))
        .map(|c| c.display())
        .unwrap_or_default();
    entry_page(&state, &jar, &request_id, user_code, None, StatusCode::OK)
}

/// `POST /device`.
pub async fn device_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    PageForm(form): PageForm<DeviceForm>,
) -> Response {
    let browser = browser_key(&state, &jar);
    let (true, Some(browser)) = (
        device_form_token_matches(&state, &jar, form.csrf_token.as_deref()),
        browser,
    ) else {
        // A cross-site post, or a form older than this browser's cookie: nothing is
        // looked up; a fresh form is shown (without the posted code).
        return entry_page(
            &state,
            &jar,
            &request_id,
            String::new(),
            Some("This form has expired. Enter the code again.".to_owned()),
            StatusCode::BAD_REQUEST,
        );
    };
    let typed = form.user_code.unwrap_or_default();
    let Some(code) = UserCode::parse(&typed) else {
        // Not the shape of a code: it names nothing, so nothing is looked up or counted.
        let typed: String = typed.chars().take(MAX_ECHO_CHARS).collect();
        return entry_page(
            &state,
            &jar,
            &request_id,
            typed,
            Some("Enter the 8-letter code shown on your device, for example BCDF-GHJK.".to_owned()),
            StatusCode::OK,
        );
    };
    let now = state.clock().now();
    let store = state.store().as_ref();
    let entry = match state
        .user_code_throttle()
        .begin(store, &browser, ip, now)
        .await
    {
        Ok(Ok(entry)) => entry,
        Ok(Err(wait)) => {
            audit::user_code_refused(&request_id, "throttled");
            return throttled_page(&state, &jar, &request_id, code.display(), wait);
        }
        Err(e) => return store_error_page(&state, &e, &request_id),
    };
    let authorization = match find_by_user_code(state.store().as_ref(), &code, now).await {
        Ok(Some(authorization)) => authorization,
        Ok(None) => {
            audit::user_code_refused(&request_id, "unknown_or_expired");
            if let Some(wait) = state.user_code_throttle().wrong(entry) {
                return throttled_page(&state, &jar, &request_id, code.display(), wait);
            }
            return entry_page(
                &state,
                &jar,
                &request_id,
                code.display(),
                Some(CODE_NOT_VALID.to_owned()),
                StatusCode::OK,
            );
        }
        Err(e) => {
            // Not a wrong code: the entry does not count.
            refund_entry(&state, entry, now, &request_id).await;
            return store_error_page(&state, &e, &request_id);
        }
    };
    // A right code costs nothing, but restores nothing either: the wrong entries
    // before it stay counted (anyone can mint right codes).
    refund_entry(&state, entry, now, &request_id).await;
    let session = match current_session(&state, &jar, now).await {
        Ok(session) => session,
        Err(e) => return store_error_page(&state, &e, &request_id),
    };
    let authentication = session.map(|s| Authentication {
        user_id: s.user_id,
        auth_time: s.auth_time,
        during_this_request: false,
    });
    let sealed_user_code =
        match seal_user_code(&state, &authorization.device_code_digest, &code.display()) {
            Ok(sealed) => sealed,
            Err(e) => {
                tracing::error!(request_id, error = %e, "sealing the user code failed");
                return error_page(
                    &state,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on our side",
                    "The server could not complete this step.",
                    Some(&request_id),
                );
            }
        };
    let device = PendingDevice {
        device_code_digest: authorization.device_code_digest,
        sealed_user_code,
    };
    proceed_device(
        &state,
        &jar,
        &request_id,
        pending_request(&authorization),
        device,
        authentication,
        None,
        Vec::new(),
    )
    .await
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
            "pending_authorizations.device_user_code: does not open under the master key".into(),
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

/// The page that ends a device authorization in the browser (connected, denied, or too
/// late), with `status`. CSP `form-action 'self'`: nothing on it redirects elsewhere.
pub fn device_done_page(
    state: &AppState,
    status: StatusCode,
    title: &str,
    message: &str,
    advice: &str,
    request_id: Option<&str>,
) -> Response {
    let view = DeviceDoneView {
        chrome: Chrome::new(&state.config().branding),
        title: title.to_owned(),
        message: message.to_owned(),
        advice: advice.to_owned(),
        alert: status != StatusCode::OK,
        request_id: request_id.map(str::to_owned),
    };
    render(
        status,
        &view,
        state.config().branding.logo_url.as_ref(),
        None,
    )
}

/// The verification form with a CSRF token for this browser (setting the binding
/// cookie if it had none).
/// Gives an entry's cells back (a right code, or a failed look-up). If the store fails
/// here the cells stay taken, as for a wrong code: logged, and the page goes on.
async fn refund_entry(
    state: &AppState,
    entry: crate::app::throttle::UserCodeEntry,
    now: portcullis_core::UnixTime,
    request_id: &str,
) {
    let store = state.store().as_ref();
    if let Err(error) = state.user_code_throttle().refund(store, entry, now).await {
        tracing::warn!(request_id, %error, "giving back user-code limit cells failed");
    }
}

fn entry_page(
    state: &AppState,
    jar: &CookieJar,
    request_id: &str,
    user_code: String,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let (csrf_token, cookie) = match device_form_token(state, jar) {
        Ok(token) => token,
        Err(e) => return store_error_page(state, &e, request_id),
    };
    let view = DeviceEntryView {
        chrome: Chrome::new(&state.config().branding),
        action: routes::DEVICE,
        csrf_token,
        user_code,
        error,
    };
    let mut response = render(
        status,
        &view,
        state.config().branding.logo_url.as_ref(),
        None,
    );
    append_cookies(response.headers_mut(), cookie);
    response
}

/// 429 with `Retry-After`: too many wrong codes from this browser or network, or from
/// everyone (RFC 8628 §5.1). The page says the same in both cases.
fn throttled_page(
    state: &AppState,
    jar: &CookieJar,
    request_id: &str,
    user_code: String,
    wait: Duration,
) -> Response {
    let seconds = wait.as_secs().max(1);
    let message = format!(
        "Too many wrong codes were entered. Wait {seconds} seconds, then check the code on your device and try again."
    );
    let mut response = entry_page(
        state,
        jar,
        request_id,
        user_code,
        Some(message),
        StatusCode::TOO_MANY_REQUESTS,
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
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
