//! The app's two cookies, the session id and the id of a sign-in in progress, through
//! axum-extra's `CookieJar`.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use std::time::Duration;

/// How the app's cookies are set: `HttpOnly` (no script reads them), `SameSite=Lax`
/// (not sent with cross-site POSTs), `Path=/`, and `Secure` on https.
#[derive(Debug, Clone, Copy)]
pub struct CookiePolicy {
    pub secure: bool,
}

impl CookiePolicy {
    /// `jar` with cookie `name` set to `value` for `max_age`.
    pub fn set(
        self,
        jar: CookieJar,
        name: &'static str,
        value: String,
        max_age: Duration,
    ) -> CookieJar {
        let max_age = time::Duration::try_from(max_age).unwrap_or(time::Duration::MAX);
        let cookie = Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .max_age(max_age);
        jar.add(cookie)
    }

    /// `jar` with cookie `name` emptied and expired, whether the browser sent it or not.
    pub fn clear(self, jar: CookieJar, name: &'static str) -> CookieJar {
        self.set(jar, name, String::new(), Duration::ZERO)
    }
}

/// The value of cookie `name` in the request, if not empty.
pub fn value(jar: &CookieJar, name: &str) -> Option<String> {
    jar.get(name)
        .map(|cookie| cookie.value().to_owned())
        .filter(|value| !value.is_empty())
}
