//! RFC 9449 (DPoP) from the client's side: `--dpop` generates a key pair, every token
//! request carries a fresh proof of it (§4), the server's nonce is remembered and sent
//! (§8), and the key is kept with the tokens it binds, in the saved token response
//! (member [`KEY_MEMBER`]), so that `token refresh --from FILE` proves the same key.
//!
//! The key is a secret like the refresh token beside it: the file is written 0600
//! (see `token_file`), and the key never appears in an error or on standard error.

use super::UsageError;
use anyhow::{Context, Result};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_resource::dpop::DpopKey;
use serde_json::{Map, Value};
use std::path::Path;
use std::sync::Mutex;
use url::Url;

/// The member of a saved token response that holds the DPoP private key: base64url
/// (no padding) of its PKCS#8 DER (RFC 5958). Not a member of any RFC 6749 §5.1
/// response; a server's own member of that name is dropped before saving.
pub const KEY_MEMBER: &str = "dpop_key";

/// The `alg` of our proofs (RFC 7518 §3.4).
pub const PROOF_ALG: &str = "ES256";

/// A DPoP key and the latest nonce the server gave (RFC 9449 §8).
pub struct Dpop {
    key: DpopKey,
    nonce: Mutex<Option<String>>,
}

impl Dpop {
    /// A fresh ES256 key (RFC 9449 §4.2; the one algorithm every server that supports
    /// DPoP is likely to accept).
    ///
    /// # Errors
    /// If the system random generator fails.
    pub fn generate() -> Result<Self> {
        let key = DpopKey::generate().context("cannot generate a DPoP key")?;
        Ok(Self::with_key(key))
    }

    /// The key kept in a saved token response (`file` names it in errors): `Ok(None)`
    /// when the response holds none and its token is not DPoP-bound. A DPoP-bound
    /// token (`token_type` DPoP) without its key is refused: the key that could prove
    /// possession is gone, and a request without it can only fail at the server.
    ///
    /// # Errors
    /// A [`UsageError`] for a bound token without a key, or a key that does not parse.
    pub fn from_saved(saved: &Map<String, Value>, file: &Path) -> Result<Option<Self>> {
        let Some(member) = saved.get(KEY_MEMBER) else {
            if is_dpop_token_type(saved) {
                return Err(UsageError(format!(
                    "{} holds a DPoP-bound token (token_type DPoP) but no `{KEY_MEMBER}`: without the key it is bound to, it cannot be used or refreshed; sign in again with --dpop",
                    file.display()
                ))
                .into());
            }
            return Ok(None);
        };
        let key = member
            .as_str()
            .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
            .and_then(|der| DpopKey::from_pkcs8_der(&der).ok())
            .ok_or_else(|| {
                UsageError(format!(
                    "the `{KEY_MEMBER}` in {} is not a DPoP key (base64url PKCS#8 P-256)",
                    file.display()
                ))
            })?;
        Ok(Some(Self::with_key(key)))
    }

    fn with_key(key: DpopKey) -> Self {
        Self {
            key,
            nonce: Mutex::new(None),
        }
    }

    /// RFC 7638 thumbprint of the public key: the `dpop_jkt` authorization request
    /// parameter (RFC 9449 §10) and the `cnf.jkt` of the tokens it binds (§6.1).
    pub fn jkt(&self) -> &str {
        self.key.jkt()
    }

    /// A proof for `htm` on `htu` (RFC 9449 §4.2): a fresh `jti`, `iat` now, and the
    /// latest nonce the server gave, if any.
    ///
    /// # Errors
    /// If signing fails.
    pub fn proof(&self, htm: &str, htu: &Url) -> Result<String> {
        let nonce = self.nonce.lock().ok().and_then(|n| n.clone());
        self.key
            .proof(htm, htu.as_str(), None, nonce.as_deref())
            .context("cannot sign a DPoP proof")
    }

    /// Keeps `nonce` (a `DPoP-Nonce` response header, RFC 9449 §8.1) for the next
    /// proofs. A value that is not `1*NQCHAR` is ignored.
    pub fn remember_nonce(&self, nonce: &str) {
        if !is_nqchar_string(nonce) {
            return;
        }
        if let Ok(mut slot) = self.nonce.lock() {
            *slot = Some(nonce.to_owned());
        }
    }

    /// `response` as it is saved or printed: the server's members, with the key in
    /// [`KEY_MEMBER`].
    pub fn attach(&self, response: &mut Map<String, Value>) {
        response.insert(
            KEY_MEMBER.to_owned(),
            Value::String(URL_SAFE_NO_PAD.encode(self.key.to_pkcs8_der())),
        );
    }
}

/// Whether a token response says `token_type` DPoP (RFC 9449 §5; token types compare
/// case-insensitively, RFC 6749 §5.1).
pub fn is_dpop_token_type(response: &Map<String, Value>) -> bool {
    response
        .get("token_type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("DPoP"))
}

/// RFC 9449 §8.1: `nonce = 1*NQCHAR`, NQCHAR = %x21 / %x23-5B / %x5D-7E.
fn is_nqchar_string(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce.len() <= MAX_NONCE
        && nonce
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

/// Longest nonce kept (a server's nonce is a few dozen characters).
const MAX_NONCE: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn the_saved_key_is_the_same_key() {
        let dpop = Dpop::generate().unwrap();
        let mut saved = map(json!({"access_token": "at", "token_type": "DPoP"}));
        dpop.attach(&mut saved);
        let again = Dpop::from_saved(&saved, Path::new("t.json"))
            .unwrap()
            .unwrap();
        assert_eq!(again.jkt(), dpop.jkt());
        assert_eq!(again.key.to_pkcs8_der(), dpop.key.to_pkcs8_der());
    }

    #[test]
    fn a_bearer_response_without_a_key_has_no_dpop() {
        let saved = map(json!({"access_token": "at", "token_type": "Bearer"}));
        assert!(
            Dpop::from_saved(&saved, Path::new("t.json"))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn rejects_a_dpop_bound_response_without_its_key() {
        for token_type in ["DPoP", "dpop"] {
            let saved = map(json!({"access_token": "at", "token_type": token_type}));
            let e = Dpop::from_saved(&saved, Path::new("t.json")).err().unwrap();
            assert!(e.downcast_ref::<UsageError>().is_some());
            assert!(e.to_string().contains("no `dpop_key`"), "{e}");
        }
    }

    #[test]
    fn rejects_a_key_that_is_not_a_key() {
        for bad in [json!("not base64!"), json!("AAAA"), json!(42)] {
            let saved = map(json!({"token_type": "DPoP", "dpop_key": bad}));
            let e = Dpop::from_saved(&saved, Path::new("t.json")).err().unwrap();
            assert!(e.to_string().contains("is not a DPoP key"), "{e}");
        }
    }

    #[test]
    fn proofs_carry_the_remembered_nonce_and_no_query() {
        let dpop = Dpop::generate().unwrap();
        let htu = Url::parse("http://127.0.0.1:8080/token?x=1").unwrap();
        let claims = |proof: &str| -> Value {
            let payload = proof.split('.').nth(1).unwrap();
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
        };
        let first = claims(&dpop.proof("POST", &htu).unwrap());
        assert_eq!(first["htm"], "POST");
        assert_eq!(first["htu"], "http://127.0.0.1:8080/token");
        assert!(first.get("nonce").is_none());
        dpop.remember_nonce("bad nonce with spaces");
        assert!(
            claims(&dpop.proof("POST", &htu).unwrap())
                .get("nonce")
                .is_none()
        );
        dpop.remember_nonce("n-1");
        let second = claims(&dpop.proof("POST", &htu).unwrap());
        assert_eq!(second["nonce"], "n-1");
        assert_ne!(first["jti"], second["jti"], "a fresh jti each time");
    }
}
