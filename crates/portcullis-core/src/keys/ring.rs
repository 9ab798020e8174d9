//! The in-memory key ring: the parsed active key per algorithm and the published set.

use super::{KeyStatus, MasterKey, SigningAlgorithm, SigningKeyPair, StoredSigningKey};
use crate::UnixTime;
use portcullis_proto::jwk::JwkSet;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Why the key ring could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    /// A sealed key did not open: the master key differs from the one that sealed it.
    #[error(
        "a signing key in the database cannot be decrypted: the master key (PORTCULLIS_MASTER_KEY or the key file) is not the one it was sealed with"
    )]
    WrongMasterKey,
    /// No active key for an algorithm.
    #[error("no active {0} signing key")]
    NoActiveKey(&'static str),
    /// A cryptographic operation failed.
    #[error("cryptographic operation failed: {0}")]
    Crypto(&'static str),
}

/// Parsed signing keys and the JWK Set, built from the stored keys. Cheap to share:
/// the server swaps in a new ring when keys change and readers never block.
#[derive(Debug)]
pub struct KeyRing {
    active: BTreeMap<SigningAlgorithm, Arc<SigningKeyPair>>,
    jwks: JwkSet,
    /// Sorted `kid`s of the stored keys it was built from, to tell whether anything changed.
    fingerprint: Fingerprint,
}

impl KeyRing {
    /// Builds the ring from stored keys at `now`. Private keys already parsed in
    /// `previous` are reused by `kid`, so a refresh decrypts only new keys.
    ///
    /// # Errors
    /// [`KeyRingError::WrongMasterKey`] if a key does not open;
    /// [`KeyRingError::NoActiveKey`] if an algorithm has no active key.
    pub fn build(
        stored: &[StoredSigningKey],
        master: &MasterKey,
        now: UnixTime,
        previous: Option<&KeyRing>,
    ) -> Result<Self, KeyRingError> {
        let mut active = BTreeMap::new();
        let mut keys = Vec::new();
        for key in stored {
            if key.status == KeyStatus::Active {
                let reused = previous
                    .and_then(|p| p.active.get(&key.alg))
                    .filter(|pair| pair.kid() == key.kid)
                    .cloned();
                let pair = match reused {
                    Some(pair) => pair,
                    None => {
                        let pkcs8 = master.open(key.kid.as_bytes(), &key.sealed_private_key)?;
                        Arc::new(SigningKeyPair::from_pkcs8(key.alg, &pkcs8)?)
                    }
                };
                active.insert(key.alg, pair);
            }
            if key.is_published(now) {
                keys.push(key.public_jwk.clone());
            }
        }
        for alg in SigningAlgorithm::ALL {
            if !active.contains_key(&alg) {
                return Err(KeyRingError::NoActiveKey(alg.as_str()));
            }
        }
        keys.sort_by(|a, b| a.alg.cmp(&b.alg).then(a.kid.cmp(&b.kid)));
        Ok(Self {
            active,
            jwks: JwkSet { keys },
            fingerprint: fingerprint(stored, now),
        })
    }

    /// The key that signs new tokens of `alg`.
    ///
    /// # Errors
    /// [`KeyRingError::NoActiveKey`] (not reachable for a ring that [`KeyRing::build`]
    /// accepted, which checks every algorithm).
    pub fn signer(&self, alg: SigningAlgorithm) -> Result<&SigningKeyPair, KeyRingError> {
        self.active
            .get(&alg)
            .map(Arc::as_ref)
            .ok_or(KeyRingError::NoActiveKey(alg.as_str()))
    }

    /// The published JWK Set: active keys and retired keys still within `publish_until`.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// Whether `stored` (at `now`) would build the same ring: lets a refresher skip work.
    pub fn is_current(&self, stored: &[StoredSigningKey], now: UnixTime) -> bool {
        fingerprint(stored, now) == self.fingerprint
    }
}

/// What decides the ring's contents: the published keys, their status and end of publication.
fn fingerprint(stored: &[StoredSigningKey], now: UnixTime) -> Fingerprint {
    let mut fingerprint: Fingerprint = stored
        .iter()
        .filter(|k| k.is_published(now))
        .map(|k| (k.kid.clone(), k.status.as_str(), k.publish_until))
        .collect();
    fingerprint.sort();
    fingerprint
}

type Fingerprint = Vec<(String, &'static str, Option<UnixTime>)>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate;

    fn ring_keys(master: &MasterKey) -> Vec<StoredSigningKey> {
        SigningAlgorithm::ALL
            .into_iter()
            .map(|alg| generate(alg, master, 1000).unwrap().0)
            .collect()
    }

    #[test]
    fn publishes_active_and_unexpired_retired_keys_only() {
        let (master, _) = MasterKey::generate().unwrap();
        let mut keys = ring_keys(&master);
        let (mut old, _) = generate(SigningAlgorithm::Es256, &master, 900).unwrap();
        old.status = KeyStatus::Retired;
        old.retired_at = Some(1000);
        old.publish_until = Some(2000);
        keys.push(old.clone());
        let ring = KeyRing::build(&keys, &master, 1999, None).unwrap();
        assert_eq!(ring.jwks().keys.len(), 3);
        assert!(ring.jwks().keys.iter().any(|k| k.kid == old.kid));
        let ring = KeyRing::build(&keys, &master, 2000, None).unwrap();
        assert_eq!(ring.jwks().keys.len(), 2);
        assert!(ring.jwks().keys.iter().all(|k| k.kid != old.kid));
        assert_ne!(ring.signer(SigningAlgorithm::Es256).unwrap().kid(), old.kid);
    }

    #[test]
    fn wrong_master_key_is_reported() {
        let (master, _) = MasterKey::generate().unwrap();
        let (other, _) = MasterKey::generate().unwrap();
        let keys = ring_keys(&master);
        assert_eq!(
            KeyRing::build(&keys, &other, 0, None).unwrap_err(),
            KeyRingError::WrongMasterKey
        );
    }

    #[test]
    fn missing_algorithm_is_reported() {
        let (master, _) = MasterKey::generate().unwrap();
        let keys: Vec<_> = ring_keys(&master)
            .into_iter()
            .filter(|k| k.alg == SigningAlgorithm::Es256)
            .collect();
        assert_eq!(
            KeyRing::build(&keys, &master, 0, None).unwrap_err(),
            KeyRingError::NoActiveKey("RS256")
        );
    }

    #[test]
    fn is_current_tracks_changes() {
        let (master, _) = MasterKey::generate().unwrap();
        let mut keys = ring_keys(&master);
        let ring = KeyRing::build(&keys, &master, 0, None).unwrap();
        assert!(ring.is_current(&keys, 0));
        keys.push(generate(SigningAlgorithm::Es256, &master, 0).unwrap().0);
        assert!(!ring.is_current(&keys, 0));
    }
}
