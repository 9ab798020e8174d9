//! The device verification pages (RFC 8628 §3.3): the form where the user types the
//! code shown on the device, and the page that ends a device authorization in the
//! browser.

use crate::app::device_verification::{EntryForm, EntryProblem};
use crate::app::interaction::DeviceDone;
use crate::app::state::AppState;
use crate::http::browser::append_cookies;
use crate::http::pages::{Chrome, render_page};
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use portcullis_proto::routes;

/// The device verification page (RFC 8628 §3.3): one field, `user_code` (a contract),
/// and a CSRF token.
#[derive(Template)]
#[template(path = "device.html")]
pub struct DeviceEntryView {
    /// Layout.
    pub chrome: Chrome,
    /// Where the form posts.
    pub action: &'static str,
    /// CSRF token (derived from the browser-binding cookie).
    pub csrf_token: String,
    /// Pre-filled code (from `verification_uri_complete`, RFC 8628 §3.3.1), or what was
    /// typed.
    pub user_code: String,
    /// Why the last entry failed.
    pub error: Option<String>,
}

/// The end of a device authorization in the browser: connected, denied, or too late.
#[derive(Template)]
#[template(path = "device_done.html")]
pub struct DeviceDoneView {
    /// Layout.
    pub chrome: Chrome,
    /// Short title.
    pub title: String,
    /// What happened.
    pub message: String,
    /// What to do next.
    pub advice: String,
    /// Whether the message reports a problem (announced to screen readers).
    pub alert: bool,
    /// The request id, for support.
    pub request_id: Option<String>,
}

/// The verification form, with the message for `problem` if it is shown again:
/// 400 for an expired form, 429 with `Retry-After` when throttled (RFC 8628 §5.1; the
/// page says the same for every budget), else 200.
pub fn entry_page(state: &AppState, form: EntryForm, problem: Option<EntryProblem>) -> Response {
    let (status, error, retry_after) = problem.map_or((StatusCode::OK, None, None), notice);
    let view = DeviceEntryView {
        chrome: Chrome::new(&state.config().branding),
        action: routes::DEVICE,
        csrf_token: form.csrf_token,
        user_code: form.user_code,
        error,
    };
    let mut response = render_page(state, status, &view, None);
    let headers = response.headers_mut();
    append_cookies(headers, state.cookie_names(), form.cookie);
    if let Some(seconds) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// The page that ends a device authorization in the browser (connected, denied, or too
/// late). CSP `form-action 'self'`: nothing on it redirects elsewhere.
pub fn device_done_page(state: &AppState, done: DeviceDone, request_id: &str) -> Response {
    let (status, title, message, advice) = done_text(done);
    let view = DeviceDoneView {
        chrome: Chrome::new(&state.config().branding),
        title: title.to_owned(),
        message: message.to_owned(),
        advice: advice.to_owned(),
        alert: status != StatusCode::OK,
        request_id: (status != StatusCode::OK).then(|| request_id.to_owned()),
    };
    render_page(state, status, &view, None)
}

/// The status, message and `Retry-After` seconds of the form shown again for `problem`.
fn notice(problem: EntryProblem) -> (StatusCode, Option<String>, Option<u64>) {
    match problem {
        EntryProblem::FormExpired => (StatusCode::BAD_REQUEST, Some(FORM_EXPIRED.to_owned()), None),
        EntryProblem::NotACode => (StatusCode::OK, Some(NOT_A_CODE.to_owned()), None),
        EntryProblem::NotValid => (StatusCode::OK, Some(CODE_NOT_VALID.to_owned()), None),
        EntryProblem::Throttled(wait) => {
            let seconds = wait.as_secs().max(1);
            let message = format!(
                "Too many wrong codes were entered. Wait {seconds} seconds, then check the code on your device and try again."
            );
            (StatusCode::TOO_MANY_REQUESTS, Some(message), Some(seconds))
        }
    }
}

/// The status, title, message and advice of the page that ends a device authorization.
fn done_text(done: DeviceDone) -> (StatusCode, &'static str, &'static str, &'static str) {
    let close = "You can close this window.";
    match done {
        DeviceDone::Connected => (
            StatusCode::OK,
            "Device connected",
            "You can return to your device: it finishes signing in by itself within a few seconds.",
            close,
        ),
        DeviceDone::Denied => (
            StatusCode::OK,
            "Request denied",
            "The device was not connected and gets no access to your account.",
            close,
        ),
        DeviceDone::TooLate => (
            StatusCode::BAD_REQUEST,
            "This code has expired",
            "The request from your device expired or was already answered, so nothing was changed.",
            "Start again on your device to get a new code.",
        ),
    }
}

/// The message for a code that names no device authorization waiting for the user.
/// One message for unknown, expired, used and decided codes (why: telling them apart
/// would tell a guesser which codes exist).
pub const CODE_NOT_VALID: &str =
    "That code is not valid or has expired. Check the code on your device and try again.";
/// The message for a form that came back without this browser's token.
const FORM_EXPIRED: &str = "This form has expired. Enter the code again.";
/// The message for something that is not the shape of a code.
const NOT_A_CODE: &str = "Enter the 8-letter code shown on your device, for example BCDF-GHJK.";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::config::Branding;

    #[test]
    fn the_device_page_has_a_labelled_user_code_field_and_escapes_it() {
        let view = DeviceEntryView {
            chrome: Chrome::new(&Branding::default()),
            action: routes::DEVICE,
            csrf_token: "tok".into(),
            user_code: "\"><script>".into(),
            error: Some("<b>no</b>".into()),
        };
        let html = view.render().unwrap();
        assert!(html.contains(r#"<label for="user_code">"#), "{html}");
        assert!(html.contains(r#"name="user_code""#), "{html}");
        assert!(html.contains(r#"name="csrf_token" value="tok""#), "{html}");
        assert!(
            !html.contains("<script>") && !html.contains("<b>no</b>"),
            "{html}"
        );
    }
}
