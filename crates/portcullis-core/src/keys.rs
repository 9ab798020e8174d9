//! Signing keys: generation, encryption at rest, the published JWK Set (RFC 7517),
//! and signing with key pairs held parsed in memory.
//!
//! Access tokens are signed with ES256 by default; id_tokens with RS256 (OpenID
//! Connect Core §15.1 requires RS256 support). Private keys are stored as PKCS#8,
//! sealed with AES-256-GCM under the master key; the key id (`kid`) is the RFC 7638
//! JWK thumbprint, and it is also the AEAD associated data, so a sealed key cannot be
//! moved to another row unnoticed.

mod error;
mod jwk;
mod jws;
mod master_key;
mod ring;

pub use error::KeyRingError;
pub use jwk::thumbprint;
pub use jws::SigningKeyPair;
pub use master_key::{MASTER_KEY_BYTES, MasterKey, MasterKeyError};
pub use ring::KeyRing;

use crate::UnixTime;
use crate::store::StoreError;
use async_trait::async_trait;
use portcullis_proto::jwk::Jwk;

/// A JWS algorithm Portcullis signs with (RFC 7518 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SigningAlgorithm {
    /// ECDSA P-256 with SHA-256; the default for access tokens.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (2048-bit keys); the default for id_tokens.
    Rs256,
}

impl SigningAlgorithm {
    /// Every algorithm; start-up ensures each has an active key.
    pub const ALL: [SigningAlgorithm; 2] = [SigningAlgorithm::Es256, SigningAlgorithm::Rs256];

    /// The JOSE name, `ES256` or `RS256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }

    /// Parses the JOSE name.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == value)
    }
}

/// Life stage of a signing key: `next` → `active` → `retired`.
///
/// Why three stages: with several nodes and resource servers caching the JWK Set, a
/// key must be published everywhere before any node signs with it (a token whose
/// `kid` a resource server has not fetched yet is refused), and must stay published
/// until every token it signed has expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Published at once, signs from `activate_at` on (the publication lead lets
    /// every node and every resource-server cache see it first). At most one per
    /// algorithm. The first node to see `activate_at` passed makes it `active`.
    Next,
    /// Signs new tokens and is published. At most one per algorithm.
    Active,
    /// No longer signs (but a node whose ring predates the retirement may sign with it
    /// until its next refresh); published until `publish_until` so tokens it signed
    /// still verify.
    Retired,
}

impl KeyStatus {
    /// Storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired => "retired",
        }
    }

    /// Parses the storage spelling.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "next" => Some(Self::Next),
            "active" => Some(Self::Active),
            "retired" => Some(Self::Retired),
            _ => None,
        }
    }
}

/// A signing key as stored: public JWK in clear, private key sealed.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSigningKey {
    /// RFC 7638 thumbprint (base64url SHA-256).
    pub kid: String,
    /// Its algorithm.
    pub alg: SigningAlgorithm,
    /// Next, active or retired.
    pub status: KeyStatus,
    /// The public key as published.
    pub public_jwk: Jwk,
    /// AES-256-GCM: 12-byte nonce followed by ciphertext and tag, AAD = `kid`.
    pub sealed_private_key: Vec<u8>,
    /// Seconds since the epoch.
    pub created_at: UnixTime,
    /// When it starts signing (seconds since the epoch): set for a `next` key and kept
    /// when it becomes active; `None` for a key that was active from its creation.
    pub activate_at: Option<UnixTime>,
    /// When it stopped signing.
    pub retired_at: Option<UnixTime>,
    /// Published until then (seconds since the epoch); `None` while next or active.
    pub publish_until: Option<UnixTime>,
}

impl StoredSigningKey {
    /// Whether the JWK Set publishes this key at `now`.
    pub fn is_published(&self, now: UnixTime) -> bool {
        match self.status {
            KeyStatus::Next | KeyStatus::Active => true,
            KeyStatus::Retired => self.publish_until.is_some_and(|until| now < until),
        }
    }
}

/// The `signing_keys` table.
#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Every stored signing key (active, retired, expired), oldest first.
    async fn signing_keys_list(&self) -> Result<Vec<StoredSigningKey>, StoreError>;
    /// Inserts `key` as the active key of its algorithm, only if that algorithm has
    /// none: [`StoreError::Conflict`] otherwise (two nodes starting at once).
    async fn signing_key_insert_first(&self, key: &StoredSigningKey) -> Result<(), StoreError>;
    /// In one transaction, inserts each of `new_keys` (at most one per algorithm) as
    /// the `next` key of its algorithm, signing from its `activate_at`. All or
    /// nothing; [`StoreError::Conflict`] if an algorithm already has a `next` key (a
    /// rotation is pending).
    async fn signing_key_insert_next(
        &self,
        new_keys: &[StoredSigningKey],
    ) -> Result<(), StoreError>;
    /// Promotes the `next` key `kid` to `active` if its `activate_at` is at or before
    /// `now`, retiring the active key of its algorithm (`retired_at = now`,
    /// `publish_until`), in one transaction. `true` if this call promoted it; `false`
    /// if it is not a due `next` key (another node promoted it first: of nodes racing,
    /// exactly one gets `true`).
    async fn signing_key_promote(
        &self,
        kid: &str,
        now: UnixTime,
        publish_until: UnixTime,
    ) -> Result<bool, StoreError>;
    /// Emergency rotation, in one transaction, for each key of `new_keys` (at most one
    /// per algorithm): retires the active and any `next` key of its algorithm (setting
    /// `retired_at = now` and `publish_until`) and inserts it as active. All or nothing.
    /// Two rotations racing from different nodes: on PostgreSQL the loser gets
    /// [`StoreError::Conflict`] (reload and retry); SQLite serialises them.
    async fn signing_key_rotate(
        &self,
        new_keys: &[StoredSigningKey],
        now: UnixTime,
        publish_until: UnixTime,
    ) -> Result<(), StoreError>;
    /// Deletes retired keys whose `publish_until` is at or before `now`; returns how many.
    async fn signing_keys_purge(&self, now: UnixTime) -> Result<u64, StoreError>;
}

/// Algorithms without an active key in `keys`: what start-up must generate.
pub fn algorithms_missing_a_key(keys: &[StoredSigningKey]) -> Vec<SigningAlgorithm> {
    SigningAlgorithm::ALL
        .into_iter()
        .filter(|alg| {
            !keys
                .iter()
                .any(|k| k.alg == *alg && k.status == KeyStatus::Active)
        })
        .collect()
}

/// Generates a new active key for `alg`, sealed under `master` (a rotation turns it
/// into a `next` key with its `activate_at`).
///
/// # Errors
/// [`KeyRingError::Crypto`] if key generation or sealing fails.
pub fn generate(
    alg: SigningAlgorithm,
    master: &MasterKey,
    now: UnixTime,
) -> Result<(StoredSigningKey, SigningKeyPair), KeyRingError> {
    let (pair, pkcs8) = SigningKeyPair::generate(alg)?;
    let sealed = master.seal(pair.kid().as_bytes(), &pkcs8)?;
    let stored = StoredSigningKey {
        kid: pair.kid().to_owned(),
        alg,
        status: KeyStatus::Active,
        public_jwk: pair.public_jwk().clone(),
        sealed_private_key: sealed,
        created_at: now,
        activate_at: None,
        retired_at: None,
        publish_until: None,
    };
    Ok((stored, pair))
}

/// Seconds a retired key stays published beyond the lifetime of the longest token it
/// signed: covers clock skew between nodes and the key ring refresh interval
/// (a node may sign with a just-retired key until its next refresh).
pub const RETIRED_KEY_GRACE: i64 = 120;
