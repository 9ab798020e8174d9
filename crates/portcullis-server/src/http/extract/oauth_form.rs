//! `OAuthForm<T>`: an `application/x-www-form-urlencoded` body read the way RFC 6749
//! asks, with every rejection answered as OAuth JSON (`invalid_request`).
//!
//! - Content type must be `application/x-www-form-urlencoded` (RFC 6749 §3.2).
//! - "Parameters sent without a value MUST be treated as if they were omitted" (§3.1).
//! - "Request and response parameters MUST NOT be included more than once" (§3.1),
//!   except those `T` declares multi-valued (RFC 8707 `resource`).
//! - Bodies over the router's limit (64 KiB) are 413.
//! - A parameter this endpoint reads whose value is not UTF-8 is `invalid_request`
//!   (RFC 6749 Appendix B), never altered.

use crate::http::error::OAuthError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use portcullis_proto::token::TokenRequest;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A request parameter set that `OAuthForm` can build.
pub trait OAuthParams: DeserializeOwned {
    /// Names this type reads; any other parameter is ignored, repeated or not.
    const PARAMETERS: &'static [&'static str];
    /// Names that may repeat; they deserialize as arrays.
    const MULTI_VALUED: &'static [&'static str];
}

impl OAuthParams for TokenRequest {
    const PARAMETERS: &'static [&'static str] = TokenRequest::PARAMETERS;
    const MULTI_VALUED: &'static [&'static str] = TokenRequest::MULTI_VALUED;
}

impl OAuthParams for portcullis_proto::device::DeviceAuthorizationRequest {
    const PARAMETERS: &'static [&'static str] = Self::PARAMETERS;
    const MULTI_VALUED: &'static [&'static str] = Self::MULTI_VALUED;
}

impl OAuthParams for portcullis_proto::introspection::TokenInquiry {
    const PARAMETERS: &'static [&'static str] = Self::PARAMETERS;
    const MULTI_VALUED: &'static [&'static str] = Self::MULTI_VALUED;
}

/// The parsed form. Rejections: [`OAuthError`] `invalid_request` (400), or 413.
#[derive(Debug)]
pub struct OAuthForm<T>(pub T);

impl<S, T> FromRequest<S> for OAuthForm<T>
where
    S: Send + Sync,
    T: OAuthParams,
{
    type Rejection = OAuthError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_form = is_form_urlencoded(req.headers());
        if !is_form {
            return Err(OAuthError::not_form_urlencoded());
        }
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                OAuthError::body_too_large(MAX_BODY_BYTES)
            } else {
                OAuthError::unreadable_body()
            }
        })?;
        parse::<T>(&body).map(OAuthForm)
    }
}

/// Whether the `Content-Type` is `application/x-www-form-urlencoded` (parameters such
/// as `charset` allowed, case-insensitive).
pub fn is_form_urlencoded(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Parses a form body into `T` (see the module docs for the rules).
///
/// # Errors
/// `invalid_request` naming a repeated parameter or one of the wrong shape.
pub fn parse<T: OAuthParams>(body: &[u8]) -> Result<T, OAuthError> {
    let mut map = Map::new();
    for (name, value) in crate::app::form::pairs(body) {
        if !T::PARAMETERS.contains(&name.as_ref()) {
            continue;
        }
        // RFC 6749 Appendix B: parameters are UTF-8. Refused rather than altered
        // (why: `state` must come back exactly as sent, RFC 6749 §4.1.2).
        let Ok(value) = value else {
            return Err(OAuthError::not_utf8_parameter(&name));
        };
        if value.is_empty() {
            continue;
        }
        let multi = T::MULTI_VALUED.contains(&name.as_ref());
        match map.get_mut(name.as_ref()) {
            Some(Value::Array(values)) if multi => values.push(Value::String(value)),
            Some(_) => {
                return Err(OAuthError::repeated_parameter(&name));
            }
            None if multi => {
                map.insert(name.into_owned(), Value::Array(vec![Value::String(value)]));
            }
            None => {
                map.insert(name.into_owned(), Value::String(value));
            }
        }
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| OAuthError::malformed_parameters(&e))
}

/// Largest accepted request body in bytes (64 KiB); larger is 413 (the router sets the limit; this
/// extractor names it in its answer).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_omitted_and_resource_repeats() {
        let r: TokenRequest = parse(b"grant_type=client_credentials&scope=&resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb").unwrap();
        assert_eq!(r.grant_type.as_deref(), Some("client_credentials"));
        assert_eq!(r.scope, None);
        assert_eq!(r.resource, vec!["https://a", "https://b"]);
    }

    #[test]
    fn repeated_single_valued_parameters_are_refused() {
        let e =
            parse::<TokenRequest>(b"grant_type=client_credentials&scope=a&scope=b").unwrap_err();
        assert_eq!(e.code, portcullis_proto::ErrorCode::InvalidRequest);
        assert!(
            e.description.contains("`scope` is repeated"),
            "{}",
            e.description
        );
    }

    #[test]
    fn unknown_parameters_are_ignored_even_when_repeated() {
        let r: TokenRequest = parse(b"grant_type=x&foo=bar&foo=baz").unwrap();
        assert_eq!(r.grant_type.as_deref(), Some("x"));
    }

    #[test]
    fn every_single_valued_parameter_is_checked_and_deserializes() {
        for name in TokenRequest::PARAMETERS
            .iter()
            .filter(|n| !TokenRequest::MULTI_VALUED.contains(n))
        {
            let once = format!("{name}=v");
            let r = parse::<TokenRequest>(once.as_bytes()).unwrap();
            let set = [
                r.grant_type,
                r.client_id,
                r.client_secret,
                r.client_assertion_type,
                r.client_assertion,
                r.scope,
                r.code,
                r.redirect_uri,
                r.code_verifier,
                r.refresh_token,
                r.device_code,
            ]
            .into_iter()
            .flatten()
            .filter(|v| v == "v")
            .count();
            assert_eq!(
                set, 1,
                "{name} is not a single-valued field of TokenRequest"
            );
            let twice = format!("{name}=a&{name}=b");
            assert!(
                parse::<TokenRequest>(twice.as_bytes()).is_err(),
                "{name} repeated was accepted"
            );
        }
    }

    #[test]
    fn every_single_valued_device_authorization_parameter_is_checked() {
        use portcullis_proto::device::DeviceAuthorizationRequest as Request;
        for name in Request::PARAMETERS
            .iter()
            .filter(|n| !Request::MULTI_VALUED.contains(n))
        {
            let r = parse::<Request>(format!("{name}=v").as_bytes()).unwrap();
            let set = [
                r.client_id,
                r.client_secret,
                r.client_assertion_type,
                r.client_assertion,
                r.scope,
            ]
            .into_iter()
            .flatten()
            .filter(|v| v == "v")
            .count();
            assert_eq!(set, 1, "{name} is not a single-valued field");
            assert!(
                parse::<Request>(format!("{name}=a&{name}=b").as_bytes()).is_err(),
                "{name} repeated was accepted"
            );
        }
        let r: Request = parse(b"resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb").unwrap();
        assert_eq!(r.resource, vec!["https://a", "https://b"]);
    }

    #[test]
    fn every_single_valued_authorization_parameter_is_checked_and_deserializes() {
        use portcullis_proto::authorize::AuthorizationRequest;
        for name in AuthorizationRequest::PARAMETERS
            .iter()
            .filter(|n| !AuthorizationRequest::MULTI_VALUED.contains(n))
        {
            let once = format!("{name}=v");
            let r = parse::<AuthorizationRequest>(once.as_bytes()).unwrap();
            let value = serde_json::to_value(&r).unwrap();
            assert_eq!(
                value[*name], "v",
                "{name} is not a field of AuthorizationRequest"
            );
            let twice = format!("{name}=a&{name}=b");
            assert!(
                parse::<AuthorizationRequest>(twice.as_bytes()).is_err(),
                "{name} repeated was accepted"
            );
        }
        let r: AuthorizationRequest =
            parse(b"resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb").unwrap();
        assert_eq!(r.resource, vec!["https://a", "https://b"]);
    }
}
