//! RFC 7591 §3 client registration endpoint (`POST /register`) and RFC 7592 §2 client
//! configuration endpoint (`GET`/`PUT`/`DELETE /register/{client_id}`): JSON in, JSON
//! out with `Cache-Control: no-store`, errors per RFC 7591 §3.2.2 and RFC 6750 §3.1.
//! No CORS: registration is for native and server-side clients. The application step
//! is [`crate::app::registration`].

use crate::app::registration::{delete, read, register, update};
use crate::app::state::AppState;
use crate::http::error::{OAuthError, no_store_json};
use crate::http::extract::{ClientIp, RegistrationBearer, RequestId};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `POST /register`: 201 with the client information response.
pub async fn registration_post(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    ClientIp(ip): ClientIp,
    RegistrationBearer(bearer): RegistrationBearer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match json_body(&headers, body) {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    match register(&state, &request_id, ip, bearer.as_deref(), &body).await {
        Ok(answer) => (StatusCode::CREATED, no_store_json(answer)).into_response(),
        Err(failure) => OAuthError::from(&failure).into_response(),
    }
}

/// `GET /register/{client_id}`: 200 with the client information response.
pub async fn registration_client_get(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    RegistrationBearer(bearer): RegistrationBearer,
) -> Response {
    match read(&state, &client_id, bearer.as_deref()).await {
        Ok(answer) => no_store_json(answer),
        Err(failure) => OAuthError::from(&failure).into_response(),
    }
}

/// `PUT /register/{client_id}`: 200 with the updated client information response.
pub async fn registration_client_put(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    Path(client_id): Path<String>,
    RegistrationBearer(bearer): RegistrationBearer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match json_body(&headers, body) {
        Ok(body) => body,
        Err(error) => return error.into_response(),
    };
    let updated = update(&state, &request_id, &client_id, bearer.as_deref(), &body);
    match updated.await {
        Ok(answer) => no_store_json(answer),
        Err(failure) => OAuthError::from(&failure).into_response(),
    }
}

/// `DELETE /register/{client_id}`: 204.
pub async fn registration_client_delete(
    State(state): State<AppState>,
    RequestId(request_id): RequestId,
    Path(client_id): Path<String>,
    RegistrationBearer(bearer): RegistrationBearer,
) -> Response {
    match delete(&state, &request_id, &client_id, bearer.as_deref()).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(failure) => OAuthError::from(&failure).into_response(),
    }
}

/// The body of an `application/json` request within the registration body limit.
fn json_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, OAuthError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(OAuthError::registration_not_json());
    }
    body.map_err(|_| OAuthError::registration_body_too_large())
}
