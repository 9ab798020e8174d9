//! Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"):
//! a browser in which a user signed in successfully carries a signed cookie naming
//! that user, and its sign-in attempts for that user count in a bucket of their own
//! ([`crate::app::throttle::login`]), not in the account's anonymous one.
//!
//! Why: the per-account limit that slows password guessing also lets anyone lock a
//! chosen user out (one wrong guess a minute from anywhere keeps the account locked).
//! With device cookies the attacker locks only the anonymous bucket; the real user,
//! on a browser where they signed in before, still gets in. An attacker cannot make a
//! cookie (it is an HMAC-SHA256, RFC 2104, under a key derived from the master key
//! with HKDF and its own label, [`DEVICE_COOKIE_LABEL`]); a stolen one only opens its
//! own bucket, which locks after as many failures as the account's.
//!
//! The value is `v1.<nonce>.<expires_at>.<tag>`: a 128-bit random nonce (base64url;
//! it names the cookie's bucket), the expiry in seconds since the epoch, and the
//! HMAC over the version, the username's key (RFC 8265 case-mapped, so the cookie is bound to one
//! account without carrying its name), the nonce and the expiry. A cookie that does not
//! parse, is expired, was made for another user or under another key is ignored: the
//! attempt is anonymous. One cookie per browser: the last user who signed in on it.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_core::UnixTime;
use portcullis_core::keys::{KeyRingError, MasterKey};
use portcullis_core::secret::{RandomUnavailable, random_bytes};
use secrecy::SecretString;
use std::fmt;

/// HKDF label of the device cookie key; no other use may share it.
pub const DEVICE_COOKIE_LABEL: &[u8] = b"portcullis device cookie v1";
/// How long a device cookie is valid, in seconds (90 days); each sign-in on the
/// browser issues a new one.
pub const DEVICE_COOKIE_TTL: i64 = 90 * 86_400;

/// Issues and checks device cookies.
pub struct DeviceCookies {
    key: hmac::Key,
}

/// A device cookie that verified for the account signing in: its attempts count in
/// this cookie's own bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedDevice {
    nonce: String,
}

impl TrustedDevice {
    /// The name of this cookie's bucket (its nonce: random, not secret).
    pub fn id(&self) -> &str {
        &self.nonce
    }
}

impl DeviceCookies {
    /// The key derived from `master` under [`DEVICE_COOKIE_LABEL`].
    ///
    /// # Errors
    /// [`KeyRingError::Crypto`] if the derivation fails (it cannot for 32 bytes).
    pub fn derive(master: &MasterKey) -> Result<Self, KeyRingError> {
        Ok(Self {
            key: master.derive_hmac_key(DEVICE_COOKIE_LABEL)?,
        })
    }

    /// A new cookie value for `username`, valid [`DEVICE_COOKIE_TTL`] seconds from
    /// `now`.
    ///
    /// # Errors
    /// [`RandomUnavailable`] if the CSPRNG fails.
    pub fn issue(&self, username: &str, now: UnixTime) -> Result<SecretString, RandomUnavailable> {
        let mut nonce = [0u8; NONCE_BYTES];
        random_bytes(&mut nonce)?;
        let nonce = URL_SAFE_NO_PAD.encode(nonce);
        let expires_at = now.saturating_add(DEVICE_COOKIE_TTL);
        let tag = hmac::sign(&self.key, &signed_bytes(username, &nonce, expires_at));
        Ok(SecretString::from(format!(
            "{VERSION}.{nonce}.{expires_at}.{}",
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        )))
    }

    /// The trusted device an `unverified` cookie value proves for `username` at `now`:
    /// `None` unless it parses, has not expired, and its tag verifies (constant time)
    /// for this username under this key.
    pub fn verify(
        &self,
        unverified: Option<&str>,
        username: &str,
        now: UnixTime,
    ) -> Option<TrustedDevice> {
        let value = unverified.filter(|v| v.len() <= MAX_COOKIE_BYTES)?;
        let mut parts = value.split('.');
        let (version, nonce, expires_at, tag) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || version != VERSION || nonce.len() != NONCE_CHARS {
            return None;
        }
        let expires_at: UnixTime = expires_at.parse().ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        hmac::verify(&self.key, &signed_bytes(username, nonce, expires_at), &tag).ok()?;
        (now < expires_at).then(|| TrustedDevice {
            nonce: nonce.to_owned(),
        })
    }
}

impl fmt::Debug for DeviceCookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DeviceCookies(..)")
    }
}

/// What the tag covers: the version, the username's key
/// ([`portcullis_core::user::username_key`], RFC 8265 case mapping), the nonce and the
/// expiry, each prefixed by its length (64-bit big-endian), so no two field lists
/// sign the same bytes.
fn signed_bytes(username: &str, nonce: &str, expires_at: UnixTime) -> Vec<u8> {
    let account = portcullis_core::user::username_key(username);
    let mut out = Vec::with_capacity(account.len() + 64);
    for field in [
        VERSION.as_bytes(),
        account.as_bytes(),
        nonce.as_bytes(),
        expires_at.to_string().as_bytes(),
    ] {
        out.extend_from_slice(&u64::try_from(field.len()).unwrap_or(u64::MAX).to_be_bytes());
        out.extend_from_slice(field);
    }
    out
}

/// The value's version field.
const VERSION: &str = "v1";
/// Random bytes in a nonce (128 bits).
const NONCE_BYTES: usize = 16;
/// Characters of a nonce in base64url without padding.
const NONCE_CHARS: usize = 22;
/// Longest value looked at (a cookie can be anything).
const MAX_COOKIE_BYTES: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const NOW: UnixTime = 1_700_000_000;

    fn cookies() -> (DeviceCookies, DeviceCookies) {
        let (a, _) = MasterKey::generate().unwrap();
        let (b, _) = MasterKey::generate().unwrap();
        (
            DeviceCookies::derive(&a).unwrap(),
            DeviceCookies::derive(&b).unwrap(),
        )
    }

    #[test]
    fn a_cookie_verifies_for_its_user_until_it_expires() {
        let (c, _) = cookies();
        let value = c.issue("Alice", NOW).unwrap();
        let value = value.expose_secret();
        let device = c.verify(Some(value), "alice", NOW).unwrap();
        assert_eq!(device.id().len(), NONCE_CHARS);
        assert_eq!(c.verify(Some(value), "ALICE", NOW), Some(device));
        let expires = NOW + DEVICE_COOKIE_TTL;
        assert!(c.verify(Some(value), "alice", expires - 1).is_some());
        assert!(c.verify(Some(value), "alice", expires).is_none());
        // Two sign-ins: two cookies, two buckets.
        let other = c.issue("alice", NOW).unwrap();
        let other = c.verify(Some(other.expose_secret()), "alice", NOW).unwrap();
        assert_ne!(
            other.id(),
            c.verify(Some(value), "alice", NOW).unwrap().id()
        );
    }

    #[test]
    fn forged_device_cookies_verify_for_nobody() {
        let (c, other_key) = cookies();
        let value = c.issue("alice", NOW).unwrap();
        let value = value.expose_secret().to_owned();
        // Another user, another key.
        assert!(c.verify(Some(&value), "bob", NOW).is_none());
        assert!(other_key.verify(Some(&value), "alice", NOW).is_none());
        // A later expiry, another nonce, a changed tag, extra or missing parts.
        let parts: Vec<&str> = value.split('.').collect();
        let later = format!(
            "v1.{}.{}.{}",
            parts[1],
            NOW + 10 * DEVICE_COOKIE_TTL,
            parts[3]
        );
        let other_nonce = format!("v1.{}.{}.{}", "A".repeat(22), parts[2], parts[3]);
        let mut tag = URL_SAFE_NO_PAD.decode(parts[3]).unwrap();
        tag[0] ^= 1;
        let flipped = format!(
            "v1.{}.{}.{}",
            parts[1],
            parts[2],
            URL_SAFE_NO_PAD.encode(tag)
        );
        for forged in [
            later,
            other_nonce,
            flipped,
            format!("{value}.x"),
            format!("v2{}", &value[2..]),
            parts[..3].join("."),
            String::new(),
            "v1.....".into(),
            format!("{value}{}", " ".repeat(300)),
        ] {
            assert!(c.verify(Some(&forged), "alice", NOW).is_none(), "{forged}");
        }
        assert!(c.verify(None, "alice", NOW).is_none());
    }

    #[test]
    fn debug_is_redacted() {
        let (c, _) = cookies();
        assert_eq!(format!("{c:?}"), "DeviceCookies(..)");
    }
}
