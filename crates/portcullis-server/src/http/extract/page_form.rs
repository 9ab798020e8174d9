//! `PageForm<T>`: a form posted by a person's browser (login, consent, logout). Parsed
//! with the same rules as [`super::OAuthForm`] (one value per parameter, empty values
//! omitted), but a rejection is an HTML error page, not JSON.

use super::oauth_form::{OAuthParams, is_form_urlencoded, parse};
use crate::app::state::AppState;
use crate::http::interaction::error_page;
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
        let is_form = is_form_urlencoded(req.headers());
        let bad = |message: &str| {
            error_page(
                state,
                StatusCode::BAD_REQUEST,
                "Something went wrong",
                message,
                None,
            )
        };
        if !is_form {
            return Err(bad(
                "The form was sent in a format this page does not accept.",
            ));
        }
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                error_page(
                    state,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "Something went wrong",
                    "The form was too large.",
                    None,
                )
            } else {
                bad("The form could not be read.")
            }
        })?;
        parse::<T>(&body)
            .map(PageForm)
            .map_err(|e| bad(&format!("The form was not valid: {}.", e.description)))
    }
}
