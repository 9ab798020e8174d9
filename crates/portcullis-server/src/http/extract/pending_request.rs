//! `PendingRequest`: the pending authorization request a page (login, consent) is
//! for, named by its `request` query parameter and bound to this browser. A rejection
//! is the HTML error page: an expired request (missing, unknown, expired, or started
//! in another browser) or a server fault.

use crate::app::browser::Browser;
use crate::app::interaction::Pending;
use crate::app::state::AppState;
use crate::http::error::page::error_page;
use crate::http::extract::RequestId;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::response::Response;
use serde::Deserialize;

/// The loaded pending request.
pub struct PendingRequest(pub Pending);

/// The `request` query parameter of the login and consent pages.
#[derive(Debug, Deserialize)]
struct PendingQuery {
    /// The pending request, sealed.
    request: Option<String>,
}

impl FromRequestParts<AppState> for PendingRequest {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(RequestId(request_id)) = RequestId::from_request_parts(parts, state).await;
        let Ok(browser) = Browser::from_request_parts(parts, state).await;
        // A query that does not parse names no request: the same page as an unknown id.
        let query = Query::<PendingQuery>::from_request_parts(parts, state).await;
        let id = query.ok().and_then(|Query(q)| q.request);
        let now = state.clock().now();
        Pending::load(state, &browser, id.as_deref(), now)
            .map(Self)
            .map_err(|e| error_page(state, e, &request_id))
    }
}
