//! RFC 7517 §5 JWK Set at `jwks_uri`: public keys only, each with `kid`, `alg`, `use`.

use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;

/// `GET /jwks`. Cached by clients for at most 60 s, so a rotation is seen quickly;
/// resource servers also refetch on an unknown `kid`.
pub async fn jwks_get(State(state): State<AppState>) -> Response {
    super::public_json(
        state.keys().jwks_json.clone(),
        "application/jwk-set+json",
        "public, max-age=60",
    )
}
