//! `serve --dev` only: `GET /dev/callback`, the demo web app's redirect URI
//! ([`crate::app::admin::dev::callback`]). The router mounts it only with `--dev`.

use crate::app::admin::dev::DemoPkce;
use crate::app::admin::dev::callback::dev_callback;
use crate::app::state::AppState;
use crate::http::pages::dev::dev_callback_page;
use axum::extract::{RawQuery, State};
use axum::response::Response;

/// `GET /dev/callback?code=…&state=…&iss=…` (or `error=…`): the page that shows them.
pub async fn dev_callback_get(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    pkce: DemoPkce,
) -> Response {
    let query = query.unwrap_or_default();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let callback = dev_callback(
        &state.config().issuer,
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        &pkce,
    );
    dev_callback_page(&state, callback)
}
