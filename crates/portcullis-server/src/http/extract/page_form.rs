//! `PageForm<T>`: a form posted by a person's browser (login, consent, logout). Parsed
//! with the same rules as [`super::OAuthForm`] (one value per parameter, empty values
//! omitted), but a rejection is an HTML error page, not JSON.

use super::oauth_form::{OAuthParams, is_form_urlencoded, parse};
use crate::app::state::AppState;
use crate::http::error::page::{PageRejection, error_page};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::Response;

/// The parsed form; rejections are HTML pages (400, 413).
#[derive(Debug)]
pub struct PageForm<T>(pub T);

impl<T: OAuthParams> FromRequest<AppState> for PageForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        // Rejections quote no request id.
        let reject = |rejection| error_page(state, rejection, "-");
        if !is_form_urlencoded(req.headers()) {
            return Err(reject(PageRejection::FormFormat));
        }
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            reject(if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                PageRejection::FormTooLarge
            } else {
                PageRejection::FormUnreadable
            })
        })?;
        parse::<T>(&body)
            .map(PageForm)
            .map_err(|e| reject(PageRejection::FormInvalid(e.description)))
    }
}
