//! Browser state without HTTP: the session (single sign-on) and the browser binding
//! that ties a pending authorization request and its forms to the browser that started
//! it, read from the cookie values a request carried ([`Browser`]) and answered with the
//! cookies to set ([`SetCookie`]), which the HTTP layer writes.
//!
//! Both cookies hold 256-bit random values; the database keeps only their SHA-256
//! digests.

use crate::app::state::AppState;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::UnixTime;
use portcullis_core::secret::{SecretDigest, generate_secret};
use portcullis_core::session::BrowserSession;
use portcullis_core::store::StoreError;
use secrecy::{ExposeSecret, SecretString};

/// The values of our two cookies as this browser sent them (never logged).
#[derive(Clone, Default)]
pub struct Browser {
    /// The session cookie's value, if sent.
    pub session: Option<String>,
    /// The browser-binding cookie's value, if sent.
    pub binding: Option<String>,
    /// The device cookie's value, if sent (unverified: see
    /// [`crate::app::device_cookie`]).
    pub device: Option<String>,
}

/// A cookie to set with the answer.
pub enum SetCookie {
    /// A new session id, kept `max_age` seconds.
    Session {
        /// The id (256-bit random, base64url).
        value: SecretString,
        /// Seconds.
        max_age: i64,
    },
    /// Deletes the session cookie.
    ClearSession,
    /// A new browser-binding value, kept until the browser closes.
    Binding(SecretString),
    /// A new device cookie ([`crate::app::device_cookie`]), kept `max_age` seconds.
    Device {
        /// The signed value.
        value: SecretString,
        /// Seconds.
        max_age: i64,
    },
}

impl Browser {
    /// The binding cookie's value when it is set and not empty.
    fn binding_value(&self) -> Option<&str> {
        self.binding.as_deref().filter(|v| !v.is_empty())
    }

    /// The session of this browser, if its cookie names a live one.
    ///
    /// # Errors
    /// [`StoreError`] if the database fails.
    pub async fn session(
        &self,
        state: &AppState,
        now: UnixTime,
    ) -> Result<Option<BrowserSession>, StoreError> {
        let Some(cookie) = self.session.as_deref() else {
            return Ok(None);
        };
        state
            .store()
            .session_get(&SecretDigest::of(cookie), now)
            .await
    }

    /// Ends this browser's session: deletes it server-side and returns the cookie that
    /// clears it.
    ///
    /// # Errors
    /// [`StoreError`] if the database fails.
    pub async fn end_session(&self, state: &AppState) -> Result<SetCookie, StoreError> {
        if let Some(cookie) = self.session.as_deref() {
            state
                .store()
                .session_delete(&SecretDigest::of(cookie))
                .await?;
        }
        Ok(SetCookie::ClearSession)
    }

    /// This browser's binding value: the cookie's, or a new one with the cookie to
    /// set. Returns its digest.
    ///
    /// # Errors
    /// [`StoreError::Other`] if no randomness is available.
    pub fn binding(&self) -> Result<(SecretDigest, Option<SetCookie>), StoreError> {
        if let Some(value) = self.binding_value() {
            return Ok((SecretDigest::of(value), None));
        }
        let value = fresh_secret()?;
        let digest = SecretDigest::of(value.expose_secret());
        Ok((digest, Some(SetCookie::Binding(value))))
    }

    /// Whether this browser carries the binding whose digest is `expected` (constant
    /// time).
    pub fn has_binding(&self, expected: &SecretDigest) -> bool {
        self.binding.as_deref().is_some_and(|v| expected.matches(v))
    }

    /// The CSRF token of the device verification page's form (RFC 8628 §3.3), and the
    /// browser-binding cookie to set if this browser had none.
    ///
    /// The token is derived from this browser's binding cookie (SHA-256 of a label and
    /// the cookie value), compared in constant time when the form comes back. Why this
    /// and not a stored token: the page has no pending request yet to keep one in, and
    /// only the HttpOnly cookie, which a cross-site page can neither read nor
    /// (SameSite=Lax) send with a POST, makes a token valid: a signed double submit
    /// with no server state.
    ///
    /// # Errors
    /// [`StoreError::Other`] if no randomness is available for a new cookie.
    pub fn device_form_token(&self) -> Result<(String, Option<SetCookie>), StoreError> {
        if let Some(value) = self.binding_value() {
            return Ok((derive_device_form_token(value), None));
        }
        let value = fresh_secret()?;
        let token = derive_device_form_token(value.expose_secret());
        Ok((token, Some(SetCookie::Binding(value))))
    }

    /// Whether `presented` is this browser's device form token (constant time).
    /// `false` without a binding cookie.
    pub fn device_form_token_matches(&self, presented: Option<&str>) -> bool {
        let Some(value) = self.binding_value() else {
            return false;
        };
        let expected = derive_device_form_token(value);
        presented.is_some_and(|p| {
            aws_lc_rs::constant_time::verify_slices_are_equal(p.as_bytes(), expected.as_bytes())
                .is_ok()
        })
    }

    /// A key naming this browser for throttling (the digest of its binding cookie,
    /// never the cookie itself), if it has one.
    pub fn key(&self) -> Option<String> {
        self.binding_value()
            .map(|v| URL_SAFE_NO_PAD.encode(SecretDigest::of(v).as_bytes()))
    }
}

/// A new session for `user_id` authenticated at `now`, and the cookie that carries it.
/// Always a new id (session fixation, OWASP): any earlier session of this browser is
/// ended by the caller ([`Browser::end_session`]).
///
/// # Errors
/// [`StoreError`] if the database fails or no randomness is available.
pub async fn start_session(
    state: &AppState,
    user_id: &str,
    now: UnixTime,
) -> Result<(BrowserSession, SetCookie), StoreError> {
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
    let cookie = SetCookie::Session {
        value: id,
        max_age: ttl,
    };
    Ok((session, cookie))
}

/// A new 256-bit random value (base64url).
///
/// # Errors
/// [`StoreError::Other`] if no randomness is available.
pub fn fresh_secret() -> Result<SecretString, StoreError> {
    generate_secret().map_err(|e| StoreError::Other(e.to_string()))
}

fn derive_device_form_token(binding: &str) -> String {
    let digest = SecretDigest::of(&format!("portcullis device verification form:{binding}"));
    URL_SAFE_NO_PAD.encode(digest.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_form_tokens_depend_on_the_binding_cookie_and_do_not_reveal_it() {
        let a = derive_device_form_token("cookie-a");
        assert_eq!(a, derive_device_form_token("cookie-a"));
        assert_ne!(a, derive_device_form_token("cookie-b"));
        assert!(!a.contains("cookie-a"));
        assert_eq!(a.len(), 43, "base64url of 32 bytes");
    }
}
