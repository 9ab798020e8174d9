//! A confidential client's secrets at rest (RFC 6749 §2.3.1): their digests, in the
//! form that made each ([`ClientSecretDigest`]), and the constant-time check.

use crate::UnixTime;
use crate::secret::{DigestKey, SecretDigest};

/// HKDF label of the [`DigestKey`] for operator-chosen client secrets
/// ([`ClientSecretDigest::Keyed`]); no other use may share it.
pub const CLIENT_SECRET_DIGEST_LABEL: &[u8] = b"portcullis client secret digest v1";

/// A client secret's digest as kept at rest, naming the function that made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientSecretDigest {
    /// SHA-256 of the secret: generated 256-bit secrets (`client create`,
    /// `rotate-secret`, `--dev`), for which offline guessing is hopeless.
    Sha256(SecretDigest),
    /// HMAC-SHA256 of the SHA-256 under the key labelled
    /// [`CLIENT_SECRET_DIGEST_LABEL`] ([`DigestKey`]): secrets an operator chose (the
    /// configuration file). Why: a chosen secret may be guessable, and a bare digest
    /// lets whoever reads the database test guesses offline.
    Keyed(SecretDigest),
}

impl ClientSecretDigest {
    /// This digest in keyed form: a [`Self::Sha256`] digest is keyed in place
    /// ([`DigestKey::rekey`], no plaintext needed); a keyed one is kept.
    pub fn keyed(self, key: &DigestKey) -> Self {
        match self {
            Self::Sha256(sha256) => Self::Keyed(key.rekey(&sha256)),
            keyed @ Self::Keyed(_) => keyed,
        }
    }

    /// Whether the secret whose SHA-256 is `presented` has this digest, compared in
    /// constant time. A keyed digest never matches without its `key`.
    fn matches(&self, presented: &SecretDigest, key: Option<&DigestKey>) -> bool {
        let (expected, candidate) = match (self, key) {
            (Self::Sha256(expected), _) => (expected, *presented),
            (Self::Keyed(expected), Some(key)) => (expected, key.rekey(presented)),
            (Self::Keyed(_), None) => return false,
        };
        aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), candidate.as_bytes())
            .is_ok()
    }
}

/// The secrets a confidential client may present, as digests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSecrets {
    /// Digest of the current secret.
    pub current: ClientSecretDigest,
    /// After `rotate-secret --keep-old-for`, the previous secret and when it stops working.
    pub previous: Option<(ClientSecretDigest, UnixTime)>,
}

impl ClientSecrets {
    /// Whether `presented` is the current secret, or the previous one before it expires;
    /// `key` checks keyed digests ([`ClientSecretDigest::Keyed`]: without it they never
    /// match). Both digests are always compared (constant time, no early exit that
    /// tells which).
    pub fn accepts(&self, presented: &str, now: UnixTime, key: Option<&DigestKey>) -> bool {
        let presented = SecretDigest::of(presented);
        let current = self.current.matches(&presented, key);
        let previous = self.previous.as_ref().is_some_and(|(digest, expires_at)| {
            digest.matches(&presented, key) & (now < *expires_at)
        });
        current | previous
    }

    /// These secrets with every digest keyed ([`ClientSecretDigest::keyed`]).
    pub fn keyed(&self, key: &DigestKey) -> Self {
        Self {
            current: self.current.keyed(key),
            previous: self
                .previous
                .map(|(digest, expires_at)| (digest.keyed(key), expires_at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ClientRegistration, RecordSource};
    use secrecy::SecretString;

    #[test]
    fn previous_secret_works_until_it_expires() {
        let secrets = ClientSecrets {
            current: ClientSecretDigest::Sha256(SecretDigest::of("new-secret")),
            previous: Some((
                ClientSecretDigest::Sha256(SecretDigest::of("old-secret")),
                100,
            )),
        };
        for secrets in [secrets.clone(), secrets.keyed(&digest_key(1))] {
            let key = Some(&digest_key(1));
            assert!(secrets.accepts("new-secret", 100, key));
            assert!(secrets.accepts("old-secret", 99, key));
            assert!(!secrets.accepts("old-secret", 100, key));
            assert!(!secrets.accepts("old-secret", 101, key));
        }
    }

    fn digest_key(byte: u8) -> DigestKey {
        DigestKey::new(aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            &[byte; 32],
        ))
    }

    #[test]
    fn keyed_client_secrets_hold_no_bare_sha256_and_need_their_key() {
        let chosen = "an operator-chosen secret, 32+ chars";
        let c = ClientRegistration {
            client_id: "svc".into(),
            client_secret: Some(SecretString::from(chosen)),
            grant_types: Some(vec!["client_credentials".into()]),
            audiences: vec!["https://api.example.com".into()],
            scopes: vec!["read:orders".into()],
            ..Default::default()
        };
        let client = c.validate(RecordSource::Config, 0).unwrap();
        let secrets = client.secrets.unwrap().keyed(&digest_key(1));
        let ClientSecretDigest::Keyed(stored) = secrets.current else {
            panic!("not keyed: {secrets:?}");
        };
        assert_ne!(stored, SecretDigest::of(chosen), "a bare SHA-256 is kept");
        assert!(secrets.accepts(chosen, 0, Some(&digest_key(1))));
        // Wrong key, or none: no match.
        assert!(!secrets.accepts(chosen, 0, Some(&digest_key(2))));
        assert!(!secrets.accepts(chosen, 0, None));
        // Keying is idempotent (a migrated row is not keyed twice).
        assert_eq!(secrets.keyed(&digest_key(1)), secrets);
    }
}
