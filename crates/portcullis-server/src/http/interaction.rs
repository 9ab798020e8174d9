//! The HTTP side of the browser flows ([`crate::app::interaction`]): an
//! [`Interaction`] becomes a 303 to one of our pages or to the client, a device page,
//! or an error page, with its cookies; the incidents met on the way are attached as
//! [`Fault`]s.

use crate::app::browser::SetCookie;
use crate::app::incident::{Incident, Reported};
use crate::app::interaction::Interaction;
use crate::app::state::AppState;
use crate::http::browser::append_cookies;
use crate::http::error::page::{error_page, invalid_redirect};
use crate::http::error::{AttachFault, Faults};
use crate::http::pages::device::device_done_page;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis_proto::routes;

/// The response for an interaction step, with its incidents attached.
pub fn respond(state: &AppState, request_id: &str, reported: Reported<Interaction>) -> Response {
    let response = interaction_response(state, request_id, reported.outcome);
    with_incidents(response, reported.incidents)
}

/// The response for `interaction`.
pub fn interaction_response(
    state: &AppState,
    request_id: &str,
    interaction: Interaction,
) -> Response {
    let (location, cookies) = match interaction {
        Interaction::Login { id, cookies } => (page_url(routes::LOGIN, &id), cookies),
        Interaction::Consent { id, cookies } => (page_url(routes::CONSENT, &id), cookies),
        Interaction::Client { location, cookies } => (location, cookies),
        Interaction::DeviceDone(done) => return device_done_page(state, done, request_id),
        Interaction::Refused(error) => return error_page(state, error, request_id),
    };
    see_other_setting(state, &location, cookies)
}

/// [`see_other`] setting `cookies`.
pub fn see_other_setting(
    state: &AppState,
    location: &str,
    cookies: impl IntoIterator<Item = SetCookie>,
) -> Response {
    let mut response = see_other(location);
    if response.status() == StatusCode::SEE_OTHER {
        append_cookies(response.headers_mut(), state.cookie_names(), cookies);
    }
    response
}

/// `response` with `incidents` attached as faults, before any it carries already (the
/// order they happened in).
pub fn with_incidents(mut response: Response, incidents: Vec<Incident>) -> Response {
    if incidents.is_empty() {
        return response;
    }
    let later = response.extensions_mut().remove::<Faults>();
    for incident in incidents {
        response = incident.attach(response);
    }
    for fault in later.map(|Faults(f)| f).unwrap_or_default() {
        response = fault.attach(response);
    }
    response
}

/// `page?request=id` (the id is base64url, but encode it anyway).
pub fn page_url(page: &str, id: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("request", id)
        .finish();
    format!("{page}?{query}")
}

/// 303 See Other to `location` (the browser follows with GET, also after a POST).
/// `Cache-Control: no-store`: the URL may carry a code.
pub fn see_other(location: &str) -> Response {
    let Ok(value) = HeaderValue::from_str(location) else {
        return invalid_redirect();
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, value);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
