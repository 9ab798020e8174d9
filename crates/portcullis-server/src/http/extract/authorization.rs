//! The `Authorization` header, read by extractors only (no handler reads it itself):
//! client credentials at the endpoints that authenticate clients ([`ClientAuthorization`]:
//! token, introspection, revocation, device authorization) and the access token at
//! UserInfo ([`BearerToken`], RFC 6750 §2.1, or §2.2 in a form body). At most one header
//! either way (two would make "which credentials?" ambiguous).

use super::oauth_form::{OAuthForm, OAuthParams, is_form_urlencoded};
use crate::app::device_authorization::SeveralAuthorizationHeaders;
use crate::http::error::{OAuthError, missing_bearer_token};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;

/// The single `Authorization` header value, if any, for core's client authentication
/// (which parses it: RFC 6749 §2.3.1). A value that is not visible ASCII is `""` (it
/// cannot be valid Basic credentials, and parsing says so).
///
/// Never rejects: two or more headers are [`SeveralAuthorizationHeaders`], decided after
/// the form (and, at device authorization, the per-address limit), so the order of
/// checks is the endpoints' own. [`ClientAuthorization::checked`] turns it into the
/// `invalid_request` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuthorization(pub Result<Option<String>, SeveralAuthorizationHeaders>);

impl ClientAuthorization {
    /// The header value, or the `invalid_request` answer for several headers.
    ///
    /// # Errors
    /// [`OAuthError::several_authorization_headers`].
    pub fn checked(self) -> Result<Option<String>, OAuthError> {
        self.0
            .map_err(|SeveralAuthorizationHeaders| OAuthError::several_authorization_headers())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAuthorization {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let value = single(&parts.headers)
            .map(|value| value.map(|v| v.to_str().unwrap_or("").to_owned()))
            .map_err(|_| SeveralAuthorizationHeaders);
        Ok(Self(value))
    }
}

/// The access token of a bearer request: an `Authorization: Bearer` header (RFC 6750
/// §2.1; the scheme is case-insensitive), or the `access_token` parameter of an
/// `application/x-www-form-urlencoded` POST body (§2.2: some OIDC clients send it that
/// way). Never the query string (§2.3 is not supported: URLs end up in logs and
/// `Referer` headers), and never a GET body (§2.2: GET has no body semantics).
///
/// Rejections: 401 with a bare `WWW-Authenticate: Bearer` when there is no bearer
/// credential at all (RFC 6750 §3.1); `invalid_request` when there are several headers,
/// the token is empty, the body repeats `access_token`, or the token comes both in the
/// header and in the body (§2: one method per request; §3.1 `invalid_request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerToken(pub String);

impl<S: Send + Sync> FromRequest<S> for BearerToken {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let from_header = bearer_header(request.headers()).map_err(IntoResponse::into_response)?;
        let in_form = request.method() == Method::POST && is_form_urlencoded(request.headers());
        let from_body = if in_form {
            let OAuthForm(form) = OAuthForm::<BearerForm>::from_request(request, state)
                .await
                .map_err(IntoResponse::into_response)?;
            form.access_token
        } else {
            None
        };
        match (from_header, from_body) {
            (Some(_), Some(_)) => Err(OAuthError::bearer_token_twice().into_response()),
            (Some(token), None) | (None, Some(token)) => Ok(Self(token)),
            (None, None) => Err(missing_bearer_token()),
        }
    }
}

/// The token of an `Authorization: Bearer` header, `None` without a bearer header.
///
/// # Errors
/// `invalid_request` for several headers or an empty token.
fn bearer_header(headers: &HeaderMap) -> Result<Option<String>, OAuthError> {
    let value = single(headers)?;
    let credentials = value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"));
    let Some((_, token)) = credentials else {
        return Ok(None);
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(OAuthError::empty_bearer_token());
    }
    Ok(Some(token.to_owned()))
}

/// RFC 6750 §2.2: the form body of a bearer request. Other parameters are ignored.
#[derive(serde::Deserialize)]
struct BearerForm {
    access_token: Option<String>,
}

impl OAuthParams for BearerForm {
    const PARAMETERS: &'static [&'static str] = &["access_token"];
    const MULTI_VALUED: &'static [&'static str] = &[];
}

/// The `Authorization` header, if any.
///
/// # Errors
/// `invalid_request` when it appears more than once.
fn single(headers: &HeaderMap) -> Result<Option<&HeaderValue>, OAuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(OAuthError::several_authorization_headers());
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{Request, StatusCode};

    async fn bearer(values: &[&str]) -> Result<BearerToken, StatusCode> {
        let mut request = Request::builder();
        for value in values {
            request = request.header(header::AUTHORIZATION, *value);
        }
        let request = request.body(axum::body::Body::empty()).unwrap();
        BearerToken::from_request(request, &())
            .await
            .map_err(|r| r.status())
    }

    #[tokio::test]
    async fn bearer_token_reads_one_header_with_any_case_scheme() {
        let token = bearer(&["bEaReR  abc.def "]).await.unwrap();
        assert_eq!(token.0, "abc.def");
        assert_eq!(bearer(&[]).await.unwrap_err(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            bearer(&["Basic eDp5"]).await.unwrap_err(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            bearer(&["Bearer "]).await.unwrap_err(),
            StatusCode::BAD_REQUEST
        );
        let two = bearer(&["Bearer a", "Bearer b"]).await.unwrap_err();
        assert_eq!(two, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn client_authorization_is_at_most_one_header() {
        let (mut parts, ()) = Request::builder()
            .header(header::AUTHORIZATION, "Basic eDp5")
            .header(header::AUTHORIZATION, "Basic eDp6")
            .body(())
            .unwrap()
            .into_parts();
        let several = ClientAuthorization::from_request_parts(&mut parts, &())
            .await
            .unwrap();
        assert_eq!(
            several.checked(),
            Err(OAuthError::several_authorization_headers())
        );
        let (mut parts, ()) = Request::builder().body(()).unwrap().into_parts();
        let none = ClientAuthorization::from_request_parts(&mut parts, &())
            .await
            .unwrap();
        assert_eq!(none.checked(), Ok(None));
    }
}
