//! RFC 7517 §5 JWK Set at `jwks_uri`: public keys only, each with `kid`, `alg`, `use`.

use crate::app::keys::JWKS_CACHE_CONTROL;
use crate::app::state::AppState;
use axum::extract::State;
use axum::response::Response;

/// `GET /jwks`. Cached by clients for at most 60 s; a rotated key is published at
/// least the publication lead (≥ 100 s) before it signs, so a cache is never behind;
/// resource servers also refetch on an unknown `kid`.
pub async fn jwks_get(State(state): State<AppState>) -> Response {
    super::public_json(
        state.keys().jwks_json.clone(),
        "application/jwk-set+json",
        JWKS_CACHE_CONTROL,
    )
}
