//! The `Authorization` header, read by extractors only (no handler reads it itself):
//! client credentials at the endpoints that authenticate clients ([`ClientAuthorization`]:
//! token, introspection, revocation, device authorization) and the access token at
//! UserInfo ([`AccessToken`], RFC 6750 §2.1 or §2.2 in a form body, RFC 9449 §7.1). At
//! most one header either way (two would make "which credentials?" ambiguous). The
//! `DPoP` proof header is read here too ([`DpopHeader`], RFC 9449 §4.1).

use super::oauth_form::{OAuthForm, OAuthParams, is_form_urlencoded};
use crate::app::device_authorization::SeveralAuthorizationHeaders;
use crate::app::dpop::ProofHeader;
use crate::app::userinfo::{PresentedToken, TokenScheme};
use crate::http::error::{OAuthError, missing_access_token};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use portcullis_resource::dpop::{DPOP, DpopProofError, proof_header};
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

/// The access token of a request to a protected resource (UserInfo), with its scheme:
/// an `Authorization: Bearer` or `Authorization: DPoP` header (RFC 6750 §2.1, RFC 9449
/// §7.1; the scheme is case-insensitive), or the `access_token` parameter of an
/// `application/x-www-form-urlencoded` POST body (RFC 6750 §2.2, Bearer only: some OIDC
/// clients send it that way). Never the query string (§2.3 is not supported: URLs end
/// up in logs and `Referer` headers), and never a GET body (§2.2: GET has no body
/// semantics).
///
/// Rejections: 401 with a bare `WWW-Authenticate: Bearer` (and a `DPoP` challenge with
/// the algorithms, RFC 9449 §7.1) when there is no credential at all (RFC 6750 §3.1);
/// `invalid_request` when there are several headers, the token is empty, the body
/// repeats `access_token`, or the token comes both in the header and in the body (§2:
/// one method per request; §3.1 `invalid_request`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken(pub PresentedToken);

impl<S: Send + Sync> FromRequest<S> for AccessToken {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let from_header =
            authorization_token(request.headers()).map_err(IntoResponse::into_response)?;
        let in_form = request.method() == Method::POST && is_form_urlencoded(request.headers());
        let from_body = if in_form {
            let OAuthForm(form) = OAuthForm::<BearerForm>::from_request(request, state)
                .await
                .map_err(IntoResponse::into_response)?;
            form.access_token.map(|token| PresentedToken {
                scheme: TokenScheme::Bearer,
                token,
            })
        } else {
            None
        };
        match (from_header, from_body) {
            (Some(_), Some(_)) => Err(OAuthError::bearer_token_twice().into_response()),
            (Some(token), None) | (None, Some(token)) => Ok(Self(token)),
            (None, None) => Err(missing_access_token()),
        }
    }
}

/// The request's `DPoP` proof header (RFC 9449 §4.1): one, none, or why it cannot be
/// read (several headers, §4.3 step 1). Never rejects: the application decides when a
/// proof is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopHeader(pub Result<Option<String>, DpopProofError>);

impl DpopHeader {
    /// The header as the application reads it.
    pub fn as_proof(&self) -> ProofHeader<'_> {
        self.0.as_ref().map(Option::as_deref).map_err(Clone::clone)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for DpopHeader {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            proof_header(&parts.headers).map(|v| v.map(str::to_owned)),
        ))
    }
}

/// `Bearer` or `DPoP`, in any case; `None` for another scheme.
fn token_scheme(scheme: &str) -> Option<TokenScheme> {
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(TokenScheme::Bearer)
    } else if scheme.eq_ignore_ascii_case(DPOP) {
        Some(TokenScheme::Dpop)
    } else {
        None
    }
}

/// The token of an `Authorization: Bearer` or `Authorization: DPoP` header, `None`
/// without one.
///
/// # Errors
/// `invalid_request` for several headers or an empty token.
fn authorization_token(headers: &HeaderMap) -> Result<Option<PresentedToken>, OAuthError> {
    let value = single(headers)?;
    let credentials = value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .and_then(|(scheme, token)| Some((token_scheme(scheme)?, token)));
    let Some((scheme, token)) = credentials else {
        return Ok(None);
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(OAuthError::empty_access_token(scheme));
    }
    Ok(Some(PresentedToken {
        scheme,
        token: token.to_owned(),
    }))
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

/// The bearer token of an RFC 7591 / RFC 7592 request (the initial access token or the
/// registration access token, RFC 6750 §2.1; the scheme is case-insensitive). `None`
/// when there is no single `Authorization: Bearer` header with a visible-ASCII token:
/// the endpoint then answers `invalid_token` (or, in open mode, registers without one).
/// Never rejects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationBearer(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RegistrationBearer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let token = single(&parts.headers)
            .ok()
            .flatten()
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_owned())
            .filter(|token| !token.is_empty());
        Ok(Self(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{Request, StatusCode};

    async fn bearer(values: &[&str]) -> Result<AccessToken, StatusCode> {
        let mut request = Request::builder();
        for value in values {
            request = request.header(header::AUTHORIZATION, *value);
        }
        let request = request.body(axum::body::Body::empty()).unwrap();
        AccessToken::from_request(request, &())
            .await
            .map_err(|r| r.status())
    }

    #[tokio::test]
    async fn access_token_reads_one_header_with_any_case_scheme() {
        let token = bearer(&["bEaReR  abc.def "]).await.unwrap();
        assert_eq!(token.0.token, "abc.def");
        assert_eq!(token.0.scheme, TokenScheme::Bearer);
        let token = bearer(&["dpop abc.def"]).await.unwrap();
        assert_eq!(token.0.scheme, TokenScheme::Dpop);
        assert_eq!(
            bearer(&["DPoP "]).await.unwrap_err(),
            StatusCode::BAD_REQUEST
        );
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
    async fn dpop_header_is_at_most_one() {
        let read = |values: &'static [&'static str]| async move {
            let mut request = Request::builder();
            for value in values {
                request = request.header("DPoP", *value);
            }
            let (mut parts, ()) = request.body(()).unwrap().into_parts();
            DpopHeader::from_request_parts(&mut parts, &())
                .await
                .unwrap()
        };
        assert_eq!(read(&[]).await.0, Ok(None));
        assert_eq!(read(&["a.b.c"]).await.0, Ok(Some("a.b.c".to_owned())));
        assert_eq!(
            read(&["a.b.c", "d.e.f"]).await.0,
            Err(DpopProofError::NotSingleHeader)
        );
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
