//! The browser's cookies on the wire: the session cookie (single sign-on), the
//! browser-binding cookie that ties a pending authorization request and its forms to
//! the browser that started it, and the device cookie of a browser where a user signed
//! in ([`crate::app::device_cookie`]), read into [`Browser`] and written from
//! [`SetCookie`] (what they mean is [`crate::app::browser`]'s).
//!
//! All are `HttpOnly` (no script can read them), `SameSite=Lax` (not sent on
//! cross-site POSTs: CSRF), `Path=/`, and `Secure` with the `__Host-` name prefix when
//! the issuer is https (RFC 6265bis §4.1.3.2: then no subdomain can set or shadow them).

use crate::app::browser::{Browser, SetCookie};
use crate::app::state::{AppState, CookieNames};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use secrecy::ExposeSecret;
use std::convert::Infallible;

impl CookieNames {
    /// A `Set-Cookie` value for `name=value` with our attributes; `max_age` in seconds
    /// (`None`: until the browser closes; `Some(0)`: delete).
    pub fn set_cookie(&self, name: &'static str, value: &str, max_age: Option<i64>) -> HeaderValue {
        let mut text = Cookie::build((name, value.to_owned()))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .build()
            .to_string();
        if let Some(seconds) = max_age {
            text.push_str(&format!("; Max-Age={}", seconds.max(0)));
        }
        // The value is base64url and the name a constant: always a valid header.
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// Reads our cookies from the request ([`Browser`]): the session, the browser binding
/// and the device cookie, by this issuer's names. Never rejects.
impl FromRequestParts<AppState> for Browser {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(read_browser(&parts.headers, state.cookie_names()))
    }
}

/// Our cookies (session, browser binding, device) from a request's `Cookie` headers (RFC 6265 §5.4), by `names`;
/// cookies that do not parse are skipped. The [`Browser`] extractor's work, public so
/// the fuzz target `cookies` reaches it (fuzz/README.md).
pub fn read_browser(headers: &HeaderMap, names: CookieNames) -> Browser {
    let jar = CookieJar::from_headers(headers);
    let value = |name: &str| jar.get(name).map(|c| c.value().to_owned());
    Browser {
        session: value(names.session),
        binding: value(names.browser),
        device: value(names.device),
    }
}

/// The `Set-Cookie` value for `cookie`.
pub fn set_cookie_header(names: CookieNames, cookie: &SetCookie) -> HeaderValue {
    match cookie {
        SetCookie::Session { value, max_age } => {
            names.set_cookie(names.session, value.expose_secret(), Some(*max_age))
        }
        SetCookie::ClearSession => names.set_cookie(names.session, "", Some(0)),
        SetCookie::Binding(value) => names.set_cookie(names.browser, value.expose_secret(), None),
        SetCookie::Device { value, max_age } => {
            names.set_cookie(names.device, value.expose_secret(), Some(*max_age))
        }
    }
}

/// Appends a `Set-Cookie` header for each of `cookies` to a response's headers.
pub fn append_cookies(
    headers: &mut HeaderMap,
    names: CookieNames,
    cookies: impl IntoIterator<Item = SetCookie>,
) {
    for cookie in cookies {
        headers.append(header::SET_COOKIE, set_cookie_header(names, &cookie));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_issuers_get_secure_host_prefixed_cookies() {
        let names = CookieNames::for_issuer("https://id.example.com");
        assert_eq!(names.session, "__Host-portcullis_session");
        assert_eq!(names.browser, "__Host-portcullis_browser");
        assert_eq!(names.device, "__Host-portcullis_device");
        let cookie = names.set_cookie(names.session, "v", Some(60));
        let cookie = cookie.to_str().unwrap();
        for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=60"] {
            assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
        }
        assert!(
            !cookie.contains("Domain"),
            "__Host- cookies have no Domain: {cookie}"
        );
    }

    #[test]
    fn loopback_http_issuers_get_plain_cookies_without_secure() {
        let names = CookieNames::for_issuer("http://127.0.0.1:8080");
        assert_eq!(names.session, "portcullis_session");
        let cookie = names.set_cookie(names.browser, "v", None);
        let cookie = cookie.to_str().unwrap();
        assert!(!cookie.contains("Secure"), "{cookie}");
        assert!(
            !cookie.contains("Max-Age"),
            "a browser-session cookie: {cookie}"
        );
    }
}
