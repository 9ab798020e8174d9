//! The one mapping of why a page flow stopped to the HTML error page a person sees:
//! status, title, message, advice, and whether the page quotes the request id (the
//! JSON side of the mapping is [`super`]). Server faults are attached to the response
//! ([`Fault`]) for the fault-logging middleware; the page itself stays generic.

use crate::app::interaction::PageError;
use crate::app::state::AppState;
use crate::http::error::{AttachFault, Fault, RETRY_AFTER_SECONDS};
use crate::http::pages::{Chrome, ErrorPageView, render};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_core::store::StoreError;
use std::borrow::Cow;

/// Why a page cannot be shown: the application's reasons, and the HTTP layer's own.
#[derive(Debug)]
pub enum PageRejection {
    /// A reason of the application's.
    Stopped(PageError),
    /// A posted form in another media type than `application/x-www-form-urlencoded`.
    FormFormat,
    /// A posted form whose body could not be read.
    FormUnreadable,
    /// A posted form over the body limit.
    FormTooLarge,
    /// A posted form that breaks the parameter rules (what is wrong).
    FormInvalid(String),
    /// `POST /authorize` with a body that is not a form.
    AuthorizeNotForm,
}

impl From<PageError> for PageRejection {
    fn from(error: PageError) -> Self {
        Self::Stopped(error)
    }
}

/// The error page for `rejection` (never a redirect), with any server fault attached.
pub fn error_page(
    state: &AppState,
    rejection: impl Into<PageRejection>,
    request_id: &str,
) -> Response {
    let rejection = rejection.into();
    let text = PageText::of(&rejection);
    let reference = text.quotes_request_id.then_some(request_id);
    let response = page(state, text.status, text.title, &text.message, reference);
    match fault(rejection) {
        Some(fault) => fault.attach(response),
        None => response,
    }
}

/// 500 for a redirect whose location is not a valid header value.
pub fn invalid_redirect() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "invalid redirect").into_response()
}

/// What an error page says.
struct PageText {
    status: StatusCode,
    title: &'static str,
    message: Cow<'static, str>,
    quotes_request_id: bool,
}

impl PageText {
    fn of(rejection: &PageRejection) -> Self {
        let text = |status, title, message: Cow<'static, str>, quotes_request_id| Self {
            status,
            title,
            message,
            quotes_request_id,
        };
        let bad = StatusCode::BAD_REQUEST;
        let invalid_link = "This sign-in link is not valid";
        let form = "Something went wrong";
        match rejection {
            PageRejection::Stopped(error) => match error {
                PageError::Expired => text(bad, EXPIRED, EXPIRED_MESSAGE.into(), true),
                PageError::ClientUnregistered => text(bad, EXPIRED, UNREGISTERED.into(), false),
                PageError::NoDecision => text(bad, form, "Choose Allow or Deny.".into(), true),
                PageError::OtherUser => text(bad, OTHER_USER, OTHER_USER_MESSAGE.into(), true),
                PageError::InvalidRequest(detail) => {
                    let message = format!("The application sent an invalid request: {detail}.");
                    text(bad, invalid_link, message.into(), true)
                }
                PageError::InvalidLogout(detail) => {
                    let message =
                        format!("The application sent an invalid sign-out request: {detail}.");
                    text(bad, "This sign-out link is not valid", message.into(), true)
                }
                PageError::Store(e) => {
                    text(store_status(e), OUR_SIDE, OUR_SIDE_MESSAGE.into(), true)
                }
                PageError::Sealing(_) => {
                    let status = StatusCode::INTERNAL_SERVER_ERROR;
                    text(status, OUR_SIDE, OUR_SIDE_MESSAGE.into(), true)
                }
            },
            PageRejection::FormFormat => text(bad, form, FORM_FORMAT.into(), false),
            PageRejection::FormUnreadable => {
                text(bad, form, "The form could not be read.".into(), false)
            }
            PageRejection::FormTooLarge => {
                let status = StatusCode::PAYLOAD_TOO_LARGE;
                text(status, form, "The form was too large.".into(), false)
            }
            PageRejection::FormInvalid(detail) => {
                let message = format!("The form was not valid: {detail}.");
                text(bad, form, message.into(), false)
            }
            PageRejection::AuthorizeNotForm => text(bad, invalid_link, NOT_A_FORM.into(), true),
        }
    }
}

/// The server fault behind `rejection`, if it is one (logged with the request id by
/// the middleware).
fn fault(rejection: PageRejection) -> Option<Fault> {
    match rejection {
        PageRejection::Stopped(PageError::Store(e)) => {
            Some(Fault::error("page request failed on the server side", &e))
        }
        PageRejection::Stopped(PageError::Sealing(e)) => {
            Some(Fault::error("sealing a pending request failed", &e))
        }
        _ => None,
    }
}

/// 503 when the database is unreachable, 500 otherwise.
fn store_status(error: &StoreError) -> StatusCode {
    match error {
        StoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An HTML error page: what happened and what to do (advice by status), with
/// `Retry-After` on a 503.
fn page(
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
    let logo = state.config().branding.logo_url.as_ref();
    let mut response = render(status, &view, logo, None);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    }
    response
}

const EXPIRED: &str = "This sign-in has expired";
const EXPIRED_MESSAGE: &str = "This sign-in page is no longer valid: it expired, was already used, or was opened in a different browser.";
const UNREGISTERED: &str = "The application is no longer registered.";
const OTHER_USER: &str = "You signed in as someone else";
const OTHER_USER_MESSAGE: &str =
    "The account signed in now is not the one this request was started with.";
const OUR_SIDE: &str = "Something went wrong on our side";
const OUR_SIDE_MESSAGE: &str = "The server could not complete this step.";
const FORM_FORMAT: &str = "The form was sent in a format this page does not accept.";
const NOT_A_FORM: &str =
    "The authorization request must be sent as a form (application/x-www-form-urlencoded).";
