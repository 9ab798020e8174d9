//! The master key that seals private signing keys at rest (AES-256-GCM, via aws-lc-rs).

use super::error::KeyRingError;
use crate::secret::{DigestKey, random_bytes};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Prk, Salt};
use aws_lc_rs::hmac;
use base64::{Engine, engine::general_purpose::STANDARD};
use std::fmt;

/// Length of the master key in bytes (AES-256).
pub const MASTER_KEY_BYTES: usize = 32;

/// RFC 5869 §2.2 salt of the extraction behind [`MasterKey::derive_hmac_key`]: fixed,
/// naming this use of the master key.
const HKDF_SALT: &[u8] = b"portcullis master key derivation v1";

/// Bytes of the random salt that picks the key of one message
/// ([`MasterKey::seal_per_message`]): 256 bits.
pub const PER_MESSAGE_SALT_BYTES: usize = 32;

/// HKDF `info` prefix of per-message keys (distinct from every derivation label).
const PER_MESSAGE_LABEL: &[u8] = b"portcullis per-message key v1\0";

/// AES-256-GCM key that seals and opens private signing keys, and the root from which
/// other keys are derived ([`MasterKey::derive_hmac_key`], HKDF-SHA256).
pub struct MasterKey {
    key: LessSafeKey,
    /// RFC 5869 §2.2 HKDF-Extract of the key bytes, for [`MasterKey::derive_hmac_key`].
    prk: Prk,
}

/// Why a master key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MasterKeyError {
    /// Not base64 (standard alphabet, padded).
    #[error("is not base64 ({0})")]
    NotBase64(String),
    /// Decoded to the wrong number of bytes.
    #[error(
        "decodes to {0} bytes; it must be exactly 32 (generate one with `openssl rand -base64 32`)"
    )]
    WrongLength(usize),
}

impl MasterKey {
    /// Builds the key from 32 raw bytes.
    ///
    /// # Errors
    /// [`MasterKeyError::WrongLength`] unless exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MasterKeyError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| MasterKeyError::WrongLength(bytes.len()))?;
        if bytes.len() != MASTER_KEY_BYTES {
            return Err(MasterKeyError::WrongLength(bytes.len()));
        }
        let prk = Salt::new(HKDF_SHA256, HKDF_SALT).extract(bytes);
        Ok(Self {
            key: LessSafeKey::new(unbound),
            prk,
        })
    }

    /// Parses base64 of 32 bytes, as in `PORTCULLIS_MASTER_KEY` or the key file.
    ///
    /// # Errors
    /// [`MasterKeyError`] saying what is wrong.
    pub fn from_base64(text: &str) -> Result<Self, MasterKeyError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| MasterKeyError::NotBase64(e.to_string()))?;
        Self::from_bytes(&bytes)
    }

    /// Generates a new random key and returns it with its base64 form (for the key file).
    ///
    /// # Errors
    /// [`KeyRingError::Crypto`] if the CSPRNG fails.
    pub fn generate() -> Result<(Self, String), KeyRingError> {
        let mut bytes = [0u8; MASTER_KEY_BYTES];
        random_bytes(&mut bytes).map_err(|_| KeyRingError::Crypto("random"))?;
        let key = Self::from_bytes(&bytes).map_err(|_| KeyRingError::Crypto("master key"))?;
        Ok((key, STANDARD.encode(bytes)))
    }

    /// Seals `plaintext`, binding it to `aad`: returns nonce ‖ ciphertext ‖ tag.
    /// A fresh random 96-bit nonce per call (why: nonce reuse under GCM leaks the
    /// authentication key and the XOR of plaintexts).
    ///
    /// # Errors
    /// [`KeyRingError::Crypto`] if the CSPRNG or the cipher fails.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeyRingError> {
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce).map_err(|_| KeyRingError::Crypto("random"))?;
        let mut in_out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut in_out,
            )
            .map_err(|_| KeyRingError::Crypto("seal"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&in_out);
        Ok(out)
    }

    /// Seals `plaintext` under a key of its own, for values sealed by the million
    /// (pending authorization requests carried by browsers): a fresh random
    /// [`PER_MESSAGE_SALT_BYTES`]-byte salt, the message key HKDF-SHA256-expanded from
    /// this key with the salt in the `info`, then [`MasterKey::seal`]'s AES-256-GCM
    /// with a random nonce. Returns salt ‖ nonce ‖ ciphertext ‖ tag.
    ///
    /// Why: a random 96-bit GCM nonce under one key is safe for about 2^32 messages
    /// (NIST SP 800-38D §8.3), and anyone can make this server seal a request by
    /// opening `/authorize`; with a key per message, two seals share a key only if two
    /// 256-bit salts collide.
    ///
    /// # Errors
    /// [`KeyRingError::Crypto`] if the CSPRNG, the derivation or the cipher fails.
    pub fn seal_per_message(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KeyRingError> {
        let mut salt = [0u8; PER_MESSAGE_SALT_BYTES];
        random_bytes(&mut salt).map_err(|_| KeyRingError::Crypto("random"))?;
        let sealed = self.message_key(&salt)?.seal(aad, plaintext)?;
        let mut out = salt.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`MasterKey::seal_per_message`] produced with the same `aad`.
    ///
    /// # Errors
    /// [`KeyRingError::WrongMasterKey`] if it is too short or the tag does not verify
    /// (another key, a different `aad`, tampered bytes).
    pub fn open_per_message(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KeyRingError> {
        let (salt, rest) = sealed
            .split_at_checked(PER_MESSAGE_SALT_BYTES)
            .ok_or(KeyRingError::WrongMasterKey)?;
        self.message_key(salt)
            .map_err(|_| KeyRingError::WrongMasterKey)?
            .open(aad, rest)
    }

    /// The AES-256-GCM key of one message: HKDF-Expand of this key's PRK with
    /// [`PER_MESSAGE_LABEL`] ‖ `salt` as the `info`.
    fn message_key(&self, salt: &[u8]) -> Result<Self, KeyRingError> {
        let info = [PER_MESSAGE_LABEL, salt];
        let mut bytes = [0u8; MASTER_KEY_BYTES];
        self.prk
            .expand(&info, HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut bytes))
            .map_err(|_| KeyRingError::Crypto("hkdf"))?;
        Self::from_bytes(&bytes).map_err(|_| KeyRingError::Crypto("hkdf"))
    }

    /// An HMAC-SHA256 key derived from the master key for one purpose (RFC 5869
    /// HKDF-SHA256, `label` as the `info`): distinct labels give independent keys, so a
    /// MAC made for one purpose (say DPoP nonces) is worthless for any other, and the
    /// master key itself never signs anything.
    ///
    /// # Errors
    /// [`KeyRingError::Crypto`] if the expansion fails (it cannot for 32 bytes).
    pub fn derive_hmac_key(&self, label: &[u8]) -> Result<hmac::Key, KeyRingError> {
        let info = [label];
        let okm = self
            .prk
            .expand(&info, hmac::HMAC_SHA256)
            .map_err(|_| KeyRingError::Crypto("hkdf"))?;
        Ok(hmac::Key::from(okm))
    }

    /// An AES-256-GCM key derived from the master key for one purpose (RFC 5869
    /// HKDF-SHA256, `label` as the `info`), with the same [`MasterKey::seal`] and
    /// [`MasterKey::open`]: what it seals opens under no other label and not under the
    /// master key itself (why: a value sealed for the browser, such as a pending
    /// authorization request, must never be accepted where a sealed signing key is,
    /// nor the reverse). Its own derivations are keyed by the derived bytes.
    ///
    /// # Errors
    /// [`KeyRingError::Crypto`] if the expansion fails (it cannot for 32 bytes).
    pub fn derive_sealing_key(&self, label: &[u8]) -> Result<Self, KeyRingError> {
        let info = [label];
        let mut bytes = [0u8; MASTER_KEY_BYTES];
        self.prk
            .expand(&info, HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut bytes))
            .map_err(|_| KeyRingError::Crypto("hkdf"))?;
        Self::from_bytes(&bytes).map_err(|_| KeyRingError::Crypto("hkdf"))
    }

    /// The key of keyed digests for one purpose ([`DigestKey`]): an HMAC-SHA256 key
    /// derived with [`MasterKey::derive_hmac_key`] under `label` (one label per use, so
    /// a user-code digest is worthless as a client-secret digest).
    ///
    /// # Errors
    /// [`KeyRingError::Crypto`] if the expansion fails (it cannot for 32 bytes).
    pub fn derive_digest_key(&self, label: &[u8]) -> Result<DigestKey, KeyRingError> {
        self.derive_hmac_key(label).map(DigestKey::new)
    }

    /// Opens what [`MasterKey::seal`] produced with the same `aad`.
    ///
    /// # Errors
    /// [`KeyRingError::WrongMasterKey`] if the tag does not verify: another master
    /// key, a different `aad`, or tampered bytes.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KeyRingError> {
        let (nonce, ciphertext) = sealed
            .split_at_checked(NONCE_LEN)
            .ok_or(KeyRingError::WrongMasterKey)?;
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| KeyRingError::WrongMasterKey)?;
        let mut in_out = ciphertext.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut in_out)
            .map_err(|_| KeyRingError::WrongMasterKey)?;
        Ok(plain.to_vec())
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips_and_binds_aad() {
        let (key, b64) = MasterKey::generate().unwrap();
        let sealed = key.seal(b"kid-1", b"private key bytes").unwrap();
        assert_eq!(key.open(b"kid-1", &sealed).unwrap(), b"private key bytes");
        assert!(matches!(
            key.open(b"kid-2", &sealed),
            Err(KeyRingError::WrongMasterKey)
        ));
        let same = MasterKey::from_base64(&b64).unwrap();
        assert_eq!(same.open(b"kid-1", &sealed).unwrap(), b"private key bytes");
        let (other, _) = MasterKey::generate().unwrap();
        assert!(matches!(
            other.open(b"kid-1", &sealed),
            Err(KeyRingError::WrongMasterKey)
        ));
    }

    #[test]
    fn derived_keys_depend_on_the_label_and_the_master_key() {
        let (key, b64) = MasterKey::generate().unwrap();
        let same = MasterKey::from_base64(&b64).unwrap();
        let (other, _) = MasterKey::generate().unwrap();
        let tag = |k: &MasterKey, label: &[u8]| {
            hmac::sign(&k.derive_hmac_key(label).unwrap(), b"msg")
                .as_ref()
                .to_vec()
        };
        assert_eq!(tag(&key, b"a"), tag(&same, b"a"));
        assert_ne!(tag(&key, b"a"), tag(&key, b"b"));
        assert_ne!(tag(&key, b"a"), tag(&other, b"a"));
    }

    #[test]
    fn derived_sealing_keys_open_only_their_own_label() {
        let (key, b64) = MasterKey::generate().unwrap();
        let a = key.derive_sealing_key(b"a").unwrap();
        let sealed = a.seal(b"aad", b"request").unwrap();
        let same = MasterKey::from_base64(&b64).unwrap();
        let again = same.derive_sealing_key(b"a").unwrap();
        assert_eq!(again.open(b"aad", &sealed).unwrap(), b"request");
        let b = key.derive_sealing_key(b"b").unwrap();
        assert!(b.open(b"aad", &sealed).is_err());
        assert!(key.open(b"aad", &sealed).is_err());
        let master_sealed = key.seal(b"aad", b"signing key").unwrap();
        assert!(a.open(b"aad", &master_sealed).is_err());
    }

    #[test]
    fn per_message_seals_use_a_key_of_their_own() {
        let (key, b64) = MasterKey::generate().unwrap();
        let a = key.seal_per_message(b"aad", b"request").unwrap();
        let b = key.seal_per_message(b"aad", b"request").unwrap();
        // salt ‖ nonce ‖ ciphertext ‖ tag
        assert_eq!(a.len(), PER_MESSAGE_SALT_BYTES + NONCE_LEN + 7 + 16);
        assert_ne!(a[..PER_MESSAGE_SALT_BYTES], b[..PER_MESSAGE_SALT_BYTES]);
        let same = MasterKey::from_base64(&b64).unwrap();
        assert_eq!(same.open_per_message(b"aad", &a).unwrap(), b"request");
        assert_eq!(same.open_per_message(b"aad", &b).unwrap(), b"request");
        // The message's own key, not the key itself, sealed it: the part after the
        // salt does not open under the key, nor under another message's salt.
        assert!(key.open(b"aad", &a[PER_MESSAGE_SALT_BYTES..]).is_err());
        let mut swapped = b[..PER_MESSAGE_SALT_BYTES].to_vec();
        swapped.extend_from_slice(&a[PER_MESSAGE_SALT_BYTES..]);
        assert!(key.open_per_message(b"aad", &swapped).is_err());
        assert!(key.open_per_message(b"other", &a).is_err());
        assert!(
            key.open_per_message(b"aad", &a[..PER_MESSAGE_SALT_BYTES])
                .is_err()
        );
        let (other, _) = MasterKey::generate().unwrap();
        assert!(other.open_per_message(b"aad", &a).is_err());
    }

    #[test]
    fn tampering_is_detected() {
        let (key, _) = MasterKey::generate().unwrap();
        let mut sealed = key.seal(b"k", b"secret").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(key.open(b"k", &sealed).is_err());
        assert!(key.open(b"k", &sealed[..5]).is_err());
    }

    #[test]
    fn rejects_wrong_lengths_and_bad_base64() {
        assert_eq!(
            MasterKey::from_base64("AAAA").unwrap_err(),
            MasterKeyError::WrongLength(3)
        );
        assert!(matches!(
            MasterKey::from_base64("!!").unwrap_err(),
            MasterKeyError::NotBase64(_)
        ));
    }
}
