//! High-entropy secrets: generation, SHA-256 digests at rest, constant-time comparison.
//!
//! Authorization codes, refresh tokens, device codes and generated client secrets are
//! 256 bits from the system CSPRNG, base64url without padding (43 characters). They are
//! stored only as SHA-256 digests: a 256-bit random secret needs no slow KDF, and a
//! leaked database row does not reveal a usable secret.
//!
//! Short or human-chosen secrets (device user codes: 34.6 bits; operator-chosen client
//! secrets) are kept as keyed digests instead ([`DigestKey`]): HMAC-SHA256 (RFC 2104)
//! of their SHA-256 digest, under a key derived from the master key. Why: a bare
//! SHA-256 of a 34.6-bit code is reversed by brute force in seconds on a GPU by whoever
//! reads the database; without the key, a stolen row gives nothing to test guesses
//! against.

use aws_lc_rs::{constant_time, digest, hmac, rand};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use secrecy::SecretString;
use std::fmt;

/// Number of random bytes in a generated secret (256 bits).
pub const SECRET_BYTES: usize = 32;

/// Generates a 256-bit random secret, base64url-encoded without padding.
///
/// # Errors
/// [`RandomUnavailable`] if the system CSPRNG fails (never expected in practice).
pub fn generate_secret() -> Result<SecretString, RandomUnavailable> {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::fill(&mut bytes).map_err(|_| RandomUnavailable)?;
    Ok(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
}

/// Fills `out` from the system CSPRNG.
///
/// # Errors
/// [`RandomUnavailable`] if the CSPRNG fails.
pub fn random_bytes(out: &mut [u8]) -> Result<(), RandomUnavailable> {
    rand::fill(out).map_err(|_| RandomUnavailable)
}

/// The system random number generator failed.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomUnavailable;

/// SHA-256 digest of a secret: the only form in which secrets are kept at rest.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    /// Digest of `secret`'s UTF-8 bytes.
    pub fn of(secret: &str) -> Self {
        let d = digest::digest(&digest::SHA256, secret.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Self(out)
    }

    /// Rebuilds a digest read from storage; `None` unless exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }

    /// The 32 digest bytes, for storage.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `presented` hashes to this digest, compared in constant time
    /// (why: a byte-by-byte early exit would let an attacker learn the digest
    /// prefix from response timing).
    pub fn matches(&self, presented: &str) -> bool {
        let candidate = Self::of(presented);
        constant_time::verify_slices_are_equal(&self.0, &candidate.0).is_ok()
    }
}

/// The key of keyed digests (HMAC-SHA256, RFC 2104) for one purpose, derived from the
/// master key with HKDF and a distinct label
/// ([`MasterKey::derive_digest_key`](crate::keys::MasterKey::derive_digest_key)).
///
/// A keyed digest is `HMAC(k, SHA-256(value))`: the inner SHA-256 lets a row stored as
/// a bare SHA-256 digest be keyed in place ([`DigestKey::rekey`]) without the
/// plaintext, so old rows migrate at start-up.
pub struct DigestKey(hmac::Key);

impl DigestKey {
    /// Wraps an HMAC-SHA256 key.
    pub fn new(key: hmac::Key) -> Self {
        Self(key)
    }

    /// The keyed digest of `value`'s UTF-8 bytes: `HMAC(k, SHA-256(value))`.
    pub fn digest(&self, value: &str) -> SecretDigest {
        self.rekey(&SecretDigest::of(value))
    }

    /// The keyed digest of a value whose bare SHA-256 digest is `sha256`:
    /// `HMAC(k, sha256)`, equal to [`DigestKey::digest`] of the value.
    pub fn rekey(&self, sha256: &SecretDigest) -> SecretDigest {
        let tag = hmac::sign(&self.0, sha256.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        SecretDigest(out)
    }

    /// Whether `presented` has the keyed digest `expected`, compared in constant time.
    pub fn matches(&self, expected: &SecretDigest, presented: &str) -> bool {
        let candidate = self.digest(presented);
        constant_time::verify_slices_are_equal(&expected.0, &candidate.0).is_ok()
    }
}

impl fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DigestKey(..)")
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn generated_secrets_are_256_bit_base64url_and_distinct() {
        let a = generate_secret().unwrap();
        let b = generate_secret().unwrap();
        assert_eq!(a.expose_secret().len(), 43);
        assert!(
            a.expose_secret()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn digest_matches_only_the_same_secret() {
        let d = SecretDigest::of("correct horse battery staple, long enough");
        assert!(d.matches("correct horse battery staple, long enough"));
        assert!(!d.matches("correct horse battery staple, long enougH"));
        assert!(!d.matches(""));
    }

    #[test]
    fn sha256_known_answer() {
        // FIPS 180-2 appendix B.1: SHA-256("abc").
        let d = SecretDigest::of("abc");
        let hex: String = d.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    fn key(byte: u8) -> DigestKey {
        DigestKey::new(hmac::Key::new(hmac::HMAC_SHA256, &[byte; 32]))
    }

    #[test]
    fn keyed_digest_is_hmac_of_the_sha256_and_not_the_bare_sha256() {
        let k = key(7);
        let keyed = k.digest("BCDFGHJK");
        assert_ne!(keyed, SecretDigest::of("BCDFGHJK"));
        // HMAC(k, SHA-256(value)), as aws-lc-rs computes it: rekeying the bare digest of
        // an old row gives the same as digesting the value.
        let sha = SecretDigest::of("BCDFGHJK");
        let expected = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &[7; 32]), sha.as_bytes());
        assert_eq!(keyed.as_bytes().as_slice(), expected.as_ref());
        assert_eq!(k.rekey(&sha), keyed);
        assert!(k.matches(&keyed, "BCDFGHJK"));
        assert!(!k.matches(&keyed, "BCDFGHJL"));
    }

    #[test]
    fn wrong_key_digest_does_not_match() {
        let keyed = key(1).digest("an operator-chosen secret of 32 chars");
        assert!(!key(2).matches(&keyed, "an operator-chosen secret of 32 chars"));
        assert_ne!(
            key(2).digest("an operator-chosen secret of 32 chars"),
            keyed
        );
        assert_eq!(format!("{:?}", key(1)), "DigestKey(..)");
    }

    #[test]
    fn debug_does_not_print_the_digest() {
        assert_eq!(format!("{:?}", SecretDigest::of("x")), "SecretDigest(..)");
    }
}
