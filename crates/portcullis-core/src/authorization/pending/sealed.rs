//! A [`PendingAuthorization`] sealed for the browser to carry: AES-256-GCM under a
//! key of its own ([`MasterKey::seal_per_message`]) derived from a key derived from
//! the master key for this use only ([`SEALING_KEY_LABEL`]), base64url. Nothing is stored until the user acts (issue 16:
//! an anonymous `/authorize` must cost the server no storage).
//!
//! What the seal guarantees: only this server (any node with the same master key)
//! made it, nothing in it was changed, and its expiry is the one it was made with
//! ([`open`] refuses it from `expires_at` on). What it does not: that it is used once
//! (the store records its id when it is used,
//! [`super::UsedAuthorizationRequestStore`]) and that it comes from the browser that
//! started it (the caller compares `browser_digest` with the browser's cookie).

use super::{PendingAuthorization, PendingDevice};
use crate::UnixTime;
use crate::authorization::request::{StoredAuthorizationRequest, ValidatedAuthorizationRequest};
use crate::keys::MasterKey;
use crate::secret::SecretDigest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// HKDF `info` of the key that seals pending authorization requests (distinct from
/// every other use of the master key).
pub const SEALING_KEY_LABEL: &[u8] = b"portcullis pending authorization request sealing v1";

/// Longest sealed request made or accepted, in bytes of base64url (why a bound: it is
/// decoded and decrypted before anything else is known about it; and it travels in
/// the login page's URL, which must stay under the 16 KiB request-head limit with the
/// cookies beside it). The longest request validation lets through (2 KiB `state` and
/// `nonce` of characters JSON escapes, a `login_hint`, scopes and resources) seals to
/// under this; [`seal`] refuses to make a longer one.
pub const MAX_SEALED_BYTES: usize = 12 * 1024;

/// Why a sealed request was refused. The pages answer all of them alike ("expired"):
/// telling them apart would help someone probing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealedRequestReason {
    /// Empty, longer than [`MAX_SEALED_BYTES`] or not base64url.
    #[error("the sealed request is not base64url of a plausible length")]
    Malformed,
    /// The seal does not verify: another master key, or changed bytes.
    #[error("the sealed request does not open under this server's key")]
    DoesNotOpen,
    /// It opened but does not decode, or a value breaks its rule (a bug or a key
    /// shared with something else: it was sealed by a key only this server holds).
    #[error("the sealed request does not decode: {0}")]
    Corrupt(String),
    /// `now >= expires_at`.
    #[error("the sealed request has expired")]
    Expired,
}

/// Why a pending request could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The sealed form would be longer than [`MAX_SEALED_BYTES`] (`invalid_request`:
    /// what the client sent is too large to carry through the sign-in pages).
    #[error("the authorization request is too large to carry through sign-in")]
    TooLarge,
    /// The CSPRNG or the cipher failed (a server fault).
    #[error(transparent)]
    Crypto(#[from] crate::keys::KeyRingError),
}

/// Seals `pending` under `key` (the key derived with [`SEALING_KEY_LABEL`]).
///
/// # Errors
/// [`SealError::TooLarge`] past [`MAX_SEALED_BYTES`]; [`SealError::Crypto`] if the
/// CSPRNG or the cipher fails.
pub fn seal(key: &MasterKey, pending: &PendingAuthorization) -> Result<String, SealError> {
    let form = SealedForm::from(pending);
    let json = serde_json::to_vec(&form)
        .map_err(|_| crate::keys::KeyRingError::Crypto("serializing a pending request"))?;
    let sealed = URL_SAFE_NO_PAD.encode(key.seal_per_message(AAD, &json)?);
    if sealed.len() > MAX_SEALED_BYTES {
        return Err(SealError::TooLarge);
    }
    Ok(sealed)
}

/// Opens what [`seal`] made, if it is still live at `now` (`now < expires_at`).
///
/// # Errors
/// The [`SealedRequestReason`].
pub fn open(
    key: &MasterKey,
    sealed: &str,
    now: UnixTime,
) -> Result<PendingAuthorization, SealedRequestReason> {
    if sealed.is_empty() || sealed.len() > MAX_SEALED_BYTES {
        return Err(SealedRequestReason::Malformed);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(sealed)
        .map_err(|_| SealedRequestReason::Malformed)?;
    let json = key
        .open_per_message(AAD, &bytes)
        .map_err(|_| SealedRequestReason::DoesNotOpen)?;
    let form: SealedForm =
        serde_json::from_slice(&json).map_err(|e| SealedRequestReason::Corrupt(e.to_string()))?;
    if now >= form.expires_at {
        return Err(SealedRequestReason::Expired);
    }
    form.decode()
}

/// Additional data of every seal: names what is sealed, so nothing else sealed under
/// the same key could pass for a pending request.
/// (v2: sealed per message, [`MasterKey::seal_per_message`]; a v1 seal opens no more.)
const AAD: &[u8] = b"portcullis pending authorization request v2\0";

/// The sealed JSON: [`PendingAuthorization`] field for field, digests base64url.
#[derive(Serialize, Deserialize)]
struct SealedForm {
    id: String,
    request: StoredAuthorizationRequest,
    browser: String,
    csrf: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth_time: Option<UnixTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device: Option<SealedDevice>,
    created_at: UnixTime,
    expires_at: UnixTime,
}

/// [`PendingDevice`] in the sealed JSON.
#[derive(Serialize, Deserialize)]
struct SealedDevice {
    device_code_digest: String,
    user_code: String,
}

impl From<&PendingAuthorization> for SealedForm {
    fn from(p: &PendingAuthorization) -> Self {
        let digest = |d: &SecretDigest| URL_SAFE_NO_PAD.encode(d.as_bytes());
        Self {
            id: digest(&p.id_digest),
            request: StoredAuthorizationRequest::from(&p.request),
            browser: digest(&p.browser_digest),
            csrf: p.csrf_token.clone(),
            user_id: p.user_id.clone(),
            auth_time: p.auth_time,
            device: p.device.as_ref().map(|d| SealedDevice {
                device_code_digest: digest(&d.device_code_digest),
                user_code: d.sealed_user_code.clone(),
            }),
            created_at: p.created_at,
            expires_at: p.expires_at,
        }
    }
}

impl SealedForm {
    fn decode(self) -> Result<PendingAuthorization, SealedRequestReason> {
        let digest = |name: &str, text: &str| {
            URL_SAFE_NO_PAD
                .decode(text)
                .ok()
                .and_then(|bytes| SecretDigest::from_bytes(&bytes))
                .ok_or_else(|| SealedRequestReason::Corrupt(format!("{name} is not a digest")))
        };
        let device = match self.device {
            Some(d) => Some(PendingDevice {
                device_code_digest: digest("device_code_digest", &d.device_code_digest)?,
                sealed_user_code: d.user_code,
            }),
            None => None,
        };
        Ok(PendingAuthorization {
            id_digest: digest("id", &self.id)?,
            request: ValidatedAuthorizationRequest::from_stored(self.request)
                .map_err(|e| SealedRequestReason::Corrupt(e.to_string()))?,
            browser_digest: digest("browser", &self.browser)?,
            csrf_token: self.csrf,
            user_id: self.user_id,
            auth_time: self.auth_time,
            device,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorization::pending::PENDING_AUTHORIZATION_TTL;

    const NOW: UnixTime = 1_700_000_000;

    fn key() -> MasterKey {
        let (master, _) = MasterKey::generate().unwrap();
        master.derive_sealing_key(SEALING_KEY_LABEL).unwrap()
    }

    fn pending() -> PendingAuthorization {
        PendingAuthorization {
            id_digest: SecretDigest::of("id"),
            request: ValidatedAuthorizationRequest::for_device_authorization(
                "living-room-tv".into(),
                ["openid"].map(String::from).into(),
                vec!["https://api.example".into()],
            ),
            browser_digest: SecretDigest::of("browser cookie"),
            csrf_token: "csrf-token-of-the-form".into(),
            user_id: Some("user-id-of-alice".into()),
            auth_time: Some(NOW - 5),
            device: Some(PendingDevice {
                device_code_digest: SecretDigest::of("device code"),
                sealed_user_code: "c2VhbGVk".into(),
            }),
            created_at: NOW,
            expires_at: NOW + PENDING_AUTHORIZATION_TTL,
        }
    }

    #[test]
    fn seal_then_open_round_trips_until_the_expiry() {
        let key = key();
        let p = pending();
        let sealed = seal(&key, &p).unwrap();
        let exp = p.expires_at;
        assert_eq!(open(&key, &sealed, exp - 1).unwrap(), p);
        assert_eq!(open(&key, &sealed, exp), Err(SealedRequestReason::Expired));
        assert_eq!(
            open(&key, &sealed, exp + 1),
            Err(SealedRequestReason::Expired)
        );
    }

    #[test]
    fn the_sealed_form_shows_nothing_of_the_request() {
        let sealed = seal(&key(), &pending()).unwrap();
        let bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        // Values of at least 6 bytes: a shorter one could occur in the ciphertext
        // or its base64 by chance (a 2-letter client id did, about one run in four).
        for secret in [
            "csrf-token-of-the-form",
            "user-id-of-alice",
            "living-room-tv",
            "openid",
            "c2VhbGVk",
        ] {
            assert!(!sealed.contains(secret), "{secret} in {sealed}");
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in the sealed bytes"
            );
        }
    }

    #[test]
    fn rejects_a_sealed_request_that_was_changed() {
        let key = key();
        let sealed = seal(&key, &pending()).unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 1;
        let changed = URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(
            open(&key, &changed, NOW),
            Err(SealedRequestReason::DoesNotOpen)
        );
    }

    #[test]
    fn rejects_a_sealed_request_of_another_key() {
        let sealed = seal(&key(), &pending()).unwrap();
        assert_eq!(
            open(&key(), &sealed, NOW),
            Err(SealedRequestReason::DoesNotOpen)
        );
    }

    #[test]
    fn rejects_malformed_sealed_requests() {
        let key = key();
        for bad in ["", "not base64!", "AAAA"] {
            assert!(open(&key, bad, NOW).is_err(), "{bad:?}");
        }
        let long = "A".repeat(MAX_SEALED_BYTES + 1);
        assert_eq!(open(&key, &long, NOW), Err(SealedRequestReason::Malformed));
    }
}
