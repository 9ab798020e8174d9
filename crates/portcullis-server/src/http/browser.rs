//! Browser state: the session cookie (single sign-on) and the browser-binding cookie
//! that ties a pending authorization request and its forms to the browser that
//! started it.
//!
//! Both cookies hold 256-bit random values; the database keeps only their SHA-256
//! digests. Both are `HttpOnly` (no script can read them), `SameSite=Lax` (not sent on
//! cross-site POSTs: CSRF), `Path=/`, and `Secure` with the `__Host-` name prefix when
//! the issuer is https (RFC 6265bis §4.1.3.2: then no subdomain can set or shadow them).

use crate::app::state::{AppState, CookieNames};
use axum::http::{HeaderMap, HeaderValue, header};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use portcullis_core::UnixTime;
use portcullis_core::secret::{SecretDigest, generate_secret};
use portcullis_core::session::BrowserSession;
use portcullis_core::store::StoreError;
use secrecy::{ExposeSecret, SecretString};

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

/// The session of this browser, if its cookie names a live one.
///
/// # Errors
/// [`StoreError`] if the database fails.
pub async fn current_session(
    state: &AppState,
    jar: &CookieJar,
    now: UnixTime,
) -> Result<Option<BrowserSession>, StoreError> {
    let Some(cookie) = jar.get(state.cookie_names().session) else {
        return Ok(None);
    };
    state
        .store()
        .session_get(&SecretDigest::of(cookie.value()), now)
        .await
}

/// A new session for `user_id` authenticated at `now`, and the cookie that carries it.
/// Always a new id (session fixation, OWASP): any earlier session of this browser is
/// deleted by the caller.
///
/// # Errors
/// [`StoreError`] if the database fails or no randomness is available.
pub async fn start_session(
    state: &AppState,
    user_id: &str,
    now: UnixTime,
) -> Result<(BrowserSession, HeaderValue), StoreError> {
    let id = fresh_secret()?;
    let ttl = state.config().tokens.session_ttl;
    let session = BrowserSession {
        session_digest: SecretDigest::of(id.expose_secret()),
        user_id: user_id.to_owned(),
        auth_time: now,
        created_at: now,
        expires_at: now.saturating_add(ttl),
    };
    state.store().session_insert(&session).await?;
    let names = state.cookie_names();
    let cookie = names.set_cookie(names.session, id.expose_secret(), Some(ttl));
    Ok((session, cookie))
}

/// Ends this browser's session: deletes it server-side and returns the cookie that
/// clears it.
///
/// # Errors
/// [`StoreError`] if the database fails.
pub async fn end_session(state: &AppState, jar: &CookieJar) -> Result<HeaderValue, StoreError> {
    let names = state.cookie_names();
    if let Some(cookie) = jar.get(names.session) {
        state
            .store()
            .session_delete(&SecretDigest::of(cookie.value()))
            .await?;
    }
    Ok(names.set_cookie(names.session, "", Some(0)))
}

/// This browser's binding value: the cookie's, or a new one with the `Set-Cookie` to
/// send. Returns its digest.
///
/// # Errors
/// [`StoreError::Other`] if no randomness is available.
pub fn browser_binding(
    state: &AppState,
    jar: &CookieJar,
) -> Result<(SecretDigest, Option<HeaderValue>), StoreError> {
    let names = state.cookie_names();
    if let Some(cookie) = jar.get(names.browser).filter(|c| !c.value().is_empty()) {
        return Ok((SecretDigest::of(cookie.value()), None));
    }
    let value = fresh_secret()?;
    let header = names.set_cookie(names.browser, value.expose_secret(), None);
    Ok((SecretDigest::of(value.expose_secret()), Some(header)))
}

/// Whether this browser carries the binding whose digest is `expected` (constant time).
pub fn has_binding(state: &AppState, jar: &CookieJar, expected: &SecretDigest) -> bool {
    jar.get(state.cookie_names().browser)
        .is_some_and(|c| expected.matches(c.value()))
}

/// The CSRF token of the device verification page's form (RFC 8628 §3.3), and the
/// browser-binding cookie to set if this browser had none.
///
/// The token is derived from this browser's binding cookie (SHA-256 of a label and the
/// cookie value), compared in constant time when the form comes back. Why this and not
/// a stored token: the page has no pending request yet to keep one in, and only the
/// HttpOnly cookie, which a cross-site page can neither read nor (SameSite=Lax) send
/// with a POST, makes a token valid: a signed double submit with no server state.
///
/// # Errors
/// [`StoreError::Other`] if no randomness is available for a new cookie.
pub fn device_form_token(
    state: &AppState,
    jar: &CookieJar,
) -> Result<(String, Option<HeaderValue>), StoreError> {
    let names = state.cookie_names();
    if let Some(cookie) = jar.get(names.browser).filter(|c| !c.value().is_empty()) {
        return Ok((derive_device_form_token(cookie.value()), None));
    }
    let value = fresh_secret()?;
    let header = names.set_cookie(names.browser, value.expose_secret(), None);
    Ok((
        derive_device_form_token(value.expose_secret()),
        Some(header),
    ))
}

/// Whether `presented` is this browser's device form token (constant time). `false`
/// without a binding cookie.
pub fn device_form_token_matches(
    state: &AppState,
    jar: &CookieJar,
    presented: Option<&str>,
) -> bool {
    let Some(cookie) = jar
        .get(state.cookie_names().browser)
        .filter(|c| !c.value().is_empty())
    else {
        return false;
    };
    let expected = derive_device_form_token(cookie.value());
    presented.is_some_and(|p| {
        aws_lc_rs::constant_time::verify_slices_are_equal(p.as_bytes(), expected.as_bytes()).is_ok()
    })
}

/// A key naming this browser for throttling (the digest of its binding cookie, never
/// the cookie itself), if it has one.
pub fn browser_key(state: &AppState, jar: &CookieJar) -> Option<String> {
    use base64::Engine;
    jar.get(state.cookie_names().browser)
        .filter(|c| !c.value().is_empty())
        .map(|c| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(SecretDigest::of(c.value()).as_bytes())
        })
}

fn derive_device_form_token(binding: &str) -> String {
    use base64::Engine;
    let digest = SecretDigest::of(&format!("portcullis device verification form:{binding}"));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_bytes())
}

/// Appends `Set-Cookie` headers to a response's headers.
pub fn append_cookies(headers: &mut HeaderMap, cookies: impl IntoIterator<Item = HeaderValue>) {
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
}

/// A new 256-bit random value (base64url).
pub fn fresh_secret() -> Result<SecretString, StoreError> {
    generate_secret().map_err(|e| StoreError::Other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_issuers_get_secure_host_prefixed_cookies() {
        let names = CookieNames::for_issuer("https://id.example.com");
        assert_eq!(names.session, "__Host-portcullis_session");
        assert_eq!(names.browser, "__Host-portcullis_browser");
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
    fn device_form_tokens_depend_on_the_binding_cookie_and_do_not_reveal_it() {
        let a = derive_device_form_token("cookie-a");
        assert_eq!(a, derive_device_form_token("cookie-a"));
        assert_ne!(a, derive_device_form_token("cookie-b"));
        assert!(!a.contains("cookie-a"));
        assert_eq!(a.len(), 43, "base64url of 32 bytes");
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
