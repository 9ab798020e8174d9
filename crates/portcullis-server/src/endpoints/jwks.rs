//! RFC 7517 §5 JWK Set at `jwks_uri`: public keys only, each with `kid`, `alg`, `use`.

use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// `GET /jwks`. Cached by clients for at most 60 s, so a rotation is seen quickly;
/// resource servers also refetch on an unknown `kid`.
pub async fn jwks_get(State(state): State<AppState>) -> Response {
    let mut response = state.keys().jwks_json.clone().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    response
}
