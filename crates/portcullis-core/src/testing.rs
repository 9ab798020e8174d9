//! Test support: an in-memory [`Store`] and a key ring, for core's unit tests and
//! benchmarks (feature `testing`; never built into the server). The SQL stores are the
//! real implementations; this one keeps the same contract in the simplest way (one
//! mutex, so every method is atomic), without persistence.
//!
//! [`MemoryStore`] and its knobs for simulated races are here; its per-table traits
//! are implemented one file per table, as in `portcullis-store`.
//!
//! [`Store`]: crate::Store

mod acme;
mod authorization_codes;
mod client_assertions;
mod clients;
mod consents;
mod device_authorizations;
mod dpop_proofs;
mod dynamic_clients;
mod purge;
mod pushed_authorization_requests;
mod rate_limits;
mod refresh_tokens;
mod resources;
mod revoked_access_tokens;
mod sessions;
mod signing_keys;
mod used_authorization_requests;
mod users;

use crate::UnixTime;
use crate::authorization::code::AuthorizationCode;
use crate::client::Client;
use crate::device::DeviceAuthorization;
use crate::keys::{KeyRing, KeyRingError, MasterKey, SigningAlgorithm, StoredSigningKey};
use crate::secret::SecretDigest;
use crate::session::BrowserSession;
use crate::store::{StoreError, StoreHealth};
use crate::tokens::refresh_token::RefreshToken;
use crate::user::User;
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A key ring with a fresh key per algorithm, built at `now`.
///
/// # Errors
/// [`KeyRingError`] if key generation fails.
pub fn key_ring(now: UnixTime) -> Result<KeyRing, KeyRingError> {
    let (master, _) = MasterKey::generate()?;
    let mut keys = Vec::new();
    for alg in SigningAlgorithm::ALL {
        keys.push(crate::keys::generate(alg, &master, now)?.0);
    }
    KeyRing::build(&keys, &master, now, None)
}

/// A fixed [`DigestKey`](crate::secret::DigestKey) for tests: HMAC-SHA256 under 32
/// bytes of `byte` (different bytes, independent keys).
pub fn digest_key(byte: u8) -> crate::secret::DigestKey {
    crate::secret::DigestKey::new(aws_lc_rs::hmac::Key::new(
        aws_lc_rs::hmac::HMAC_SHA256,
        &[byte; 32],
    ))
}

/// An in-memory [`Store`](crate::Store).
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

/// A simulated concurrent redemption: `(jti, exp)` of the other request's token.
type Race = (String, UnixTime);

#[derive(Debug, Default)]
struct Inner {
    clients: BTreeMap<String, Client>,
    resources: BTreeMap<String, crate::resource::Resource>,
    users: BTreeMap<String, User>,
    keys: Vec<StoredSigningKey>,
    sessions: BTreeMap<[u8; 32], BrowserSession>,
    /// Used pending authorization requests: id digest → expiry.
    used_requests: BTreeMap<[u8; 32], UnixTime>,
    consents: BTreeMap<(String, String), BTreeSet<String>>,
    codes: BTreeMap<[u8; 32], AuthorizationCode>,
    revoked: BTreeMap<String, UnixTime>,
    refresh_tokens: BTreeMap<[u8; 32], RefreshToken>,
    /// `jti` → (family_id, exp) of the access tokens issued in a refresh token family.
    family_access_tokens: BTreeMap<String, (String, UnixTime)>,
    /// Device authorizations by device code digest.
    devices: BTreeMap<[u8; 32], DeviceAuthorization>,
    /// How many coming device authorization inserts fail with a user code conflict.
    device_insert_conflicts: usize,
    /// Consume the polled device authorization right after the next poll returns.
    consume_after_next_device_poll: Option<UnixTime>,
    /// The next refresh token insert fails with a conflict (checked before any write).
    conflict_on_next_refresh_insert: bool,
    race_after_next_code_get: Option<Race>,
    /// Rate-limit buckets: key → theoretical arrival time (ms); missing: full.
    rate_limits: BTreeMap<String, i64>,
    /// Used DPoP proofs: digest → expiry.
    dpop_proofs: BTreeMap<[u8; 32], UnixTime>,
    /// Pushed authorization requests (RFC 9126) by request_uri digest.
    pushed_requests: BTreeMap<[u8; 32], crate::authorization::pushed::PushedAuthorization>,
    client_assertions: BTreeMap<[u8; 32], UnixTime>,
    /// Dynamic client registrations by client_id (RFC 7591).
    dynamic_clients: BTreeMap<String, crate::client::dynamic::DynamicRegistration>,
    /// Initial access token digests.
    initial_access_tokens: BTreeSet<[u8; 32]>,
    /// ACME accounts: directory → sealed credentials.
    acme_accounts: BTreeMap<String, Vec<u8>>,
    /// ACME certificates by name.
    acme_certificates: BTreeMap<String, crate::acme::StoredCertificate>,
    /// ACME leases: name → (holder, expiry).
    acme_leases: BTreeMap<String, (String, UnixTime)>,
    /// Published TLS-ALPN-01 challenges: domain → (digest, expiry).
    acme_challenges: BTreeMap<String, (Vec<u8>, UnixTime)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The stored code with this digest (for assertions).
    pub fn code(&self, digest: &SecretDigest) -> Option<AuthorizationCode> {
        self.lock().codes.get(digest.as_bytes()).cloned()
    }

    /// Simulates another node redeeming the code right after the next
    /// `authorization_code_get` read it: that read returns the unused code, then the
    /// code is consumed with `(jti, exp)` before the caller's own consume runs.
    pub fn consume_after_next_get(&self, jti: &str, exp: UnixTime) {
        self.lock().race_after_next_code_get = Some((jti.to_owned(), exp));
    }

    /// Makes the next `n` `device_authorization_insert` calls fail with
    /// [`StoreError::Conflict`], as if their user code were taken.
    pub fn conflict_on_next_device_inserts(&self, n: usize) {
        self.lock().device_insert_conflicts = n;
    }

    /// Simulates another poll on another node redeeming a device authorization right
    /// after the next `device_authorization_poll` read it: that poll returns the row
    /// unconsumed, then the row is consumed at `at` before the caller's own consume.
    pub fn consume_device_after_next_poll(&self, at: UnixTime) {
        self.lock().consume_after_next_device_poll = Some(at);
    }

    /// Makes the next refresh token insert (on its own, in a rotation or in a code or
    /// device redemption) fail with [`StoreError::Conflict`], writing nothing.
    pub fn conflict_on_next_refresh_insert(&self) {
        self.lock().conflict_on_next_refresh_insert = true;
    }
}

#[async_trait]
impl StoreHealth for MemoryStore {
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
