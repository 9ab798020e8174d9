//! RFC 7517 §5 JWK Set at `jwks_uri`: public keys only, each with `kid`, `alg`, `use`.

use crate::state::AppState;
use axum::extract::State;
use axum::response::Response;

/// `Cache-Control` of the JWK Set: [`crate::keys::JWKS_MAX_AGE`] seconds, which the
/// key rotation's publication lead covers.
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=60";

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
