//! RFC 8414 §3 and OpenID Connect Discovery 1.0 §4: the metadata document, built at
//! start-up by [`crate::app::discovery::metadata`].

use crate::app::state::AppState;
use axum::extract::State;
use axum::response::Response;

/// `GET /.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
pub async fn metadata_get(State(state): State<AppState>) -> Response {
    super::public_json(
        state.metadata_json(),
        "application/json",
        "public, max-age=300",
    )
}
