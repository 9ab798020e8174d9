//! The in-memory key ring: the parsed signing keys per algorithm and the published set.
//!
//! Which key signs is decided by time, at each signature: the newest `next` key whose
//! `activate_at` has passed by this node's clock, else the `active` key. So every node
//! switches to a new key at `activate_at` whether or not its ring has been reloaded
//! since the database promoted it: nodes switch within their clock skew of each other,
//! and none before the publication lead has passed, as long as its clock is within the
//! skew allowance the lead includes (`MAX_CLOCK_SKEW` at the server).
//!
//! A ring never parses, so never signs with, a key that was already `retired` when it
//! was built. A ring built before the database retired a key still holds it as
//! `active`, and signs with it until its next refresh (at most the server's key refresh
//! interval, 10 s): after a staged rotation only while its clock has not reached
//! `activate_at` yet (it is behind the promoting node's), after `--immediately` at all
//! times. Such tokens still verify: a retired key stays published for the longest token
//! lifetime plus [`super::RETIRED_KEY_GRACE`] after it was retired.

use super::error::KeyRingError;
use super::{KeyStatus, MasterKey, SigningAlgorithm, SigningKeyPair, StoredSigningKey};
use crate::UnixTime;
use portcullis_proto::jwk::JwkSet;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Parsed signing keys and the JWK Set, built from the stored keys. Cheap to share:
/// the server swaps in a new ring when keys change and readers never block.
#[derive(Debug)]
pub struct KeyRing {
    /// Per algorithm: the active key first, then `next` keys by `activate_at`.
    signers: BTreeMap<SigningAlgorithm, Vec<Signer>>,
    jwks: JwkSet,
    /// Sorted `kid`s of the stored keys it was built from, to tell whether anything changed.
    fingerprint: Fingerprint,
}

/// A key that signs from `from` on (`None`: the active key, which signs unless a
/// `next` key's time has come).
#[derive(Debug)]
struct Signer {
    from: Option<UnixTime>,
    pair: Arc<SigningKeyPair>,
}

impl KeyRing {
    /// Builds the ring from stored keys at `now`. Private keys already parsed in
    /// `previous` are reused by `kid`, so a refresh decrypts only new keys. Retired
    /// keys are published (until `publish_until`) but never parsed: they cannot sign.
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
        let mut signers: BTreeMap<SigningAlgorithm, Vec<Signer>> = BTreeMap::new();
        let mut keys = Vec::new();
        for key in stored {
            let from = match key.status {
                KeyStatus::Active => None,
                // A `next` key without a time never signs (the schema forbids it).
                KeyStatus::Next => Some(key.activate_at.unwrap_or(UnixTime::MAX)),
                KeyStatus::Retired => {
                    if key.is_published(now) {
                        keys.push(key.public_jwk.clone());
                    }
                    continue;
                }
            };
            let reused = previous.and_then(|p| p.pair(&key.kid));
            let pair = match reused {
                Some(pair) => pair,
                None => {
                    let pkcs8 = master.open(key.kid.as_bytes(), &key.sealed_private_key)?;
                    Arc::new(SigningKeyPair::from_pkcs8(key.alg, &pkcs8)?)
                }
            };
            signers
                .entry(key.alg)
                .or_default()
                .push(Signer { from, pair });
            keys.push(key.public_jwk.clone());
        }
        for alg in SigningAlgorithm::ALL {
            let has_active = signers
                .get(&alg)
                .is_some_and(|list| list.iter().any(|s| s.from.is_none()));
            if !has_active {
                return Err(KeyRingError::NoActiveKey(alg.as_str()));
            }
        }
        for list in signers.values_mut() {
            // `None` (the active key) sorts first.
            list.sort_by(|a, b| a.from.cmp(&b.from).then(a.pair.kid().cmp(b.pair.kid())));
        }
        keys.sort_by(|a, b| a.alg.cmp(&b.alg).then(a.kid.cmp(&b.kid)));
        Ok(Self {
            signers,
            jwks: JwkSet { keys },
            fingerprint: fingerprint(stored, now),
        })
    }

    /// The key that signs new tokens of `alg` at `now`: the newest `next` key whose
    /// `activate_at` is at or before `now`, else the active key.
    ///
    /// # Errors
    /// [`KeyRingError::NoActiveKey`] (not reachable for a ring that [`KeyRing::build`]
    /// accepted, which checks every algorithm).
    pub fn signer(
        &self,
        alg: SigningAlgorithm,
        now: UnixTime,
    ) -> Result<&SigningKeyPair, KeyRingError> {
        self.signers
            .get(&alg)
            .and_then(|list| {
                list.iter()
                    .rev()
                    .find(|s| s.from.is_none_or(|from| from <= now))
            })
            .map(|s| s.pair.as_ref())
            .ok_or(KeyRingError::NoActiveKey(alg.as_str()))
    }

    /// The published JWK Set: next and active keys, and retired keys still within
    /// `publish_until`.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// Whether `stored` (at `now`) would build the same ring: lets a refresher skip work.
    pub fn is_current(&self, stored: &[StoredSigningKey], now: UnixTime) -> bool {
        fingerprint(stored, now) == self.fingerprint
    }

    /// The parsed key pair `kid`, if this ring can sign with it.
    fn pair(&self, kid: &str) -> Option<Arc<SigningKeyPair>> {
        self.signers
            .values()
            .flatten()
            .find(|s| s.pair.kid() == kid)
            .map(|s| Arc::clone(&s.pair))
    }
}

/// What decides the ring's contents: the published keys, their stage, activation
/// time and end of publication.
fn fingerprint(stored: &[StoredSigningKey], now: UnixTime) -> Fingerprint {
    let mut fingerprint: Fingerprint = stored
        .iter()
        .filter(|k| k.is_published(now))
        .map(|k| {
            (
                k.kid.clone(),
                k.status.as_str(),
                k.activate_at,
                k.publish_until,
            )
        })
        .collect();
    fingerprint.sort();
    fingerprint
}

type Fingerprint = Vec<(String, &'static str, Option<UnixTime>, Option<UnixTime>)>;

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
        assert_ne!(
            ring.signer(SigningAlgorithm::Es256, 2000).unwrap().kid(),
            old.kid
        );
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

    /// A rotation as staged by `keys rotate`: the active key `old` and a `next` key
    /// activating at 2000.
    fn staged(master: &MasterKey) -> (Vec<StoredSigningKey>, String, String) {
        let mut keys = ring_keys(master);
        let old = keys[0].kid.clone();
        let (mut next, _) = generate(SigningAlgorithm::Es256, master, 1500).unwrap();
        next.status = KeyStatus::Next;
        next.activate_at = Some(2000);
        let new = next.kid.clone();
        keys.push(next);
        (keys, old, new)
    }

    #[test]
    fn a_next_key_is_published_at_once_but_signs_only_from_activate_at() {
        let (master, _) = MasterKey::generate().unwrap();
        let (keys, old, new) = staged(&master);
        let ring = KeyRing::build(&keys, &master, 1500, None).unwrap();
        assert!(ring.jwks().keys.iter().any(|k| k.kid == new), "published");
        assert_eq!(ring.jwks().keys.len(), 3);
        let es = |now| ring.signer(SigningAlgorithm::Es256, now).unwrap().kid();
        assert_eq!(es(1500), old);
        assert_eq!(es(1999), old, "activate_at - 1: the old key still signs");
        assert_eq!(es(2000), new, "activate_at: the new key signs");
        assert_eq!(es(2001), new);
        assert_ne!(
            ring.signer(SigningAlgorithm::Rs256, 2001).unwrap().kid(),
            new,
            "other algorithms keep their key"
        );
    }

    #[test]
    fn a_ring_built_after_the_retirement_never_signs_with_the_retired_key() {
        let (master, _) = MasterKey::generate().unwrap();
        let (mut keys, old, new) = staged(&master);
        // Another node promoted `new` and retired `old`.
        for key in &mut keys {
            if key.kid == old {
                key.status = KeyStatus::Retired;
                key.retired_at = Some(2000);
                key.publish_until = Some(9000);
            } else if key.kid == new {
                key.status = KeyStatus::Active;
            }
        }
        // Even before `activate_at` by this node's clock (skew): the database decides.
        for now in [1000, 1999, 2000, 8999] {
            let ring = KeyRing::build(&keys, &master, now, None).unwrap();
            assert_eq!(
                ring.signer(SigningAlgorithm::Es256, now).unwrap().kid(),
                new
            );
            assert!(
                ring.jwks().keys.iter().any(|k| k.kid == old),
                "still published"
            );
        }
    }

    #[test]
    fn a_refresh_reuses_parsed_keys_and_notices_a_promotion() {
        let (master, _) = MasterKey::generate().unwrap();
        let (mut keys, old, new) = staged(&master);
        let ring = KeyRing::build(&keys, &master, 1500, None).unwrap();
        assert!(ring.is_current(&keys, 1500));
        for key in &mut keys {
            if key.kid == old {
                key.status = KeyStatus::Retired;
                key.retired_at = Some(2000);
                key.publish_until = Some(9000);
            } else if key.kid == new {
                key.status = KeyStatus::Active;
            }
        }
        assert!(!ring.is_current(&keys, 2000));
        // The other master key would fail to open `new`: it must be reused.
        let (other, _) = MasterKey::generate().unwrap();
        let rebuilt = KeyRing::build(&keys, &other, 2000, Some(&ring)).unwrap();
        assert_eq!(
            rebuilt.signer(SigningAlgorithm::Es256, 2000).unwrap().kid(),
            new
        );
    }

    #[test]
    fn a_next_key_alone_is_not_enough() {
        let (master, _) = MasterKey::generate().unwrap();
        let (keys, old, _) = staged(&master);
        let keys: Vec<_> = keys.into_iter().filter(|k| k.kid != old).collect();
        assert_eq!(
            KeyRing::build(&keys, &master, 3000, None).unwrap_err(),
            KeyRingError::NoActiveKey("ES256")
        );
    }
}
