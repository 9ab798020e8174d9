//! `[tls] redirect_http` (issue 18): a plain-HTTP listener that sends every `GET` and
//! `HEAD` to the same path and query on the https issuer with 308 Permanent Redirect
//! (RFC 9110 §15.4.9), refuses other methods with 400 (a form posted over plain HTTP
//! has already exposed its body; redirecting it would hide the mistake), and answers
//! ACME HTTP-01 challenges (RFC 8555 §8.3) from [`TlsCertificates`].
//!
//! The target is always the configured issuer, never the request's `Host` (why: a
//! forged `Host` would otherwise turn this listener into an open redirector).

use crate::app::tls::TlsCertificates;
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The redirect listener's router: HTTP-01 challenges, then the redirect for
/// everything else. `issuer` is the https issuer, without a trailing slash.
pub fn redirect_router(issuer: &str, certificates: TlsCertificates) -> Router {
    let issuer: std::sync::Arc<str> = issuer.trim_end_matches('/').into();
    Router::new()
        .route(
            "/.well-known/acme-challenge/{token}",
            get(http_challenge_get),
        )
        .with_state(certificates)
        .fallback(move |request: Request| redirect(issuer.clone(), request))
}

/// RFC 8555 §8.3: the key authorization of a pending challenge, as `text/plain`
/// (`application/octet-stream` is also allowed); 404 for any other token.
async fn http_challenge_get(
    State(certificates): State<TlsCertificates>,
    Path(token): Path<String>,
) -> Response {
    match certificates.http_challenge(&token) {
        Some(key_authorization) => {
            ([(header::CONTENT_TYPE, "text/plain")], key_authorization).into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// 308 to the https issuer for `GET` and `HEAD`; 400 otherwise.
async fn redirect(issuer: std::sync::Arc<str>, request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "This server speaks HTTPS only; send the request to the https:// address.\n",
        )
            .into_response();
    }
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    // The request's path already carries the issuer's path (if any): join it to the
    // issuer's origin only, never to the request's Host (no open redirect).
    let origin = url::Url::parse(&issuer)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| issuer.to_string());
    let location = format!("{origin}{path}");
    match HeaderValue::from_str(&location) {
        Ok(location) => (
            StatusCode::PERMANENT_REDIRECT,
            [(header::LOCATION, location)],
        )
            .into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    async fn location_for(issuer: &str, path: &str) -> String {
        let request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let response = redirect(std::sync::Arc::from(issuer), request).await;
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
        response.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// A reviewer finding: under an issuer with a path, the path was doubled
    /// (`/auth/auth/authorize`). The request's path is joined to the issuer's origin.
    #[tokio::test]
    async fn redirects_to_the_issuers_origin_without_doubling_its_path() {
        assert_eq!(
            location_for("https://id.example.com/auth", "/auth/authorize?x=1").await,
            "https://id.example.com/auth/authorize?x=1"
        );
        assert_eq!(
            location_for("https://id.example.com", "/token").await,
            "https://id.example.com/token"
        );
    }
}
