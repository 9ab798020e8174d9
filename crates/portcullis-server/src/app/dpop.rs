//! RFC 9449 DPoP at the authorization server, the application step: a request's proof
//! checked against the endpoint it was sent to ([`portcullis_resource::dpop::verify_proof`],
//! §4.3), its `jti` recorded once across every node (§11.1, the `dpop_proofs` table),
//! and stateless server nonces (§8) that any node accepts from any other.
//!
//! What comes out is core's [`DpopBinding`] (the key the tokens are bound to) or a
//! [`DpopRefusal`]; the HTTP layer reads the `DPoP` header and writes the answer.
//!
//! **Nonces.** The resource library's [`StatelessNonces`] (a MAC of the time window
//! `now / proof_max_age`) under a key derived from the master key
//! ([`MasterKey::derive_hmac_key`], label [`NONCE_KEY_LABEL`]): every node of a cluster
//! shares the master key, so every node accepts every node's nonces, and nothing is
//! stored. The current and the previous window are accepted, so a nonce lives between
//! one and two windows.

use crate::app::config::DpopSettings;
use portcullis_core::dpop::{DpopBinding, proof_digest};
use portcullis_core::keys::{KeyRingError, MasterKey};
use portcullis_core::store::{Store, StoreError};
use portcullis_core::{Clock, UnixTime};
use portcullis_resource::dpop::{
    DpopProofError, NonceCheck, ProofCheck, StatelessNonces, verify_proof,
};
use std::time::Duration;

/// The DPoP checks of this server: its settings, its issuer (the base of every `htu`)
/// and the nonce key. Built once at start-up.
pub struct DpopVerifier {
    settings: DpopSettings,
    issuer: String,
    nonces: StatelessNonces,
}

/// What a request's `DPoP` header held, as the HTTP layer read it (RFC 9449 §4.3 step
/// 1): one proof, none, or an error (several headers, a value that is not text).
pub type ProofHeader<'a> = Result<Option<&'a str>, DpopProofError>;

/// Why a DPoP proof was refused.
#[derive(Debug, thiserror::Error)]
pub enum DpopRefusal {
    /// RFC 9449 §7.1: `Authorization: DPoP` without a `DPoP` proof header.
    #[error("the request uses the DPoP scheme but has no DPoP proof header")]
    Missing,
    /// The proof failed a check of §4.3 (or the nonce check of §8, or was replayed).
    #[error(transparent)]
    Proof(DpopProofError),
    /// The replay record could not be written.
    #[error("storage failed: {0}")]
    Store(StoreError),
}

impl DpopRefusal {
    /// Whether the refusal asks for a (new) server nonce (§8: `use_dpop_nonce`).
    pub fn wants_nonce(&self) -> bool {
        matches!(
            self,
            Self::Proof(DpopProofError::NonceMissing | DpopProofError::NonceMismatch)
        )
    }
}

impl DpopVerifier {
    /// The verifier for `issuer` with `settings`, its nonce key derived from `master`.
    ///
    /// # Errors
    /// [`KeyRingError`] if the key derivation fails.
    pub fn new(
        settings: DpopSettings,
        issuer: &str,
        master: &MasterKey,
    ) -> Result<Self, KeyRingError> {
        let nonce_key = master.derive_hmac_key(NONCE_KEY_LABEL)?;
        let window = Duration::from_secs(settings.proof_max_age);
        Ok(Self {
            nonces: StatelessNonces::from_hmac_key(nonce_key, window),
            settings,
            issuer: issuer.to_owned(),
        })
    }

    /// Whether the token endpoint requires a server nonce (`[dpop] require_nonce`).
    pub fn requires_nonce(&self) -> bool {
        self.settings.require_nonce
    }

    /// Checks the token endpoint's proof (RFC 9449 §5): `htm` POST, `htu` the issuer
    /// followed by `route` (the issuer is the external URL, so this holds behind a
    /// proxy), no `ath` (there is no access token yet), the nonce when
    /// `require_nonce` is on, and the replay record. `Ok(None)` without a proof: the
    /// tokens stay Bearer (core refuses that for a client registered with
    /// `dpop_bound_access_tokens`).
    ///
    /// # Errors
    /// A [`DpopRefusal`].
    pub async fn token_endpoint_proof(
        &self,
        store: &dyn Store,
        clock: &dyn Clock,
        route: &str,
        proof: ProofHeader<'_>,
    ) -> Result<Option<DpopBinding>, DpopRefusal> {
        let Some(proof) = proof.map_err(DpopRefusal::Proof)? else {
            return Ok(None);
        };
        let now = clock.now();
        let accepts = |nonce: &str| self.accepts_nonce(nonce, now);
        let nonce = if self.settings.require_nonce {
            NonceCheck::Accepts(&accepts)
        } else {
            NonceCheck::Ignore
        };
        let expected = Expected {
            method: "POST",
            route,
            access_token: None,
            nonce,
        };
        let binding = self.check(store, now, expected, proof).await?;
        Ok(Some(binding))
    }

    /// Checks the proof of a request to a protected resource of ours (UserInfo, RFC
    /// 9449 §7): `htm` the request's method, `htu` the issuer followed by `route`, `ath`
    /// the hash of `access_token`, and the replay record. No nonce is required here.
    ///
    /// # Errors
    /// [`DpopRefusal::Missing`] without a proof, else as [`Self::token_endpoint_proof`].
    pub async fn resource_proof(
        &self,
        store: &dyn Store,
        clock: &dyn Clock,
        method: &str,
        route: &str,
        access_token: &str,
        proof: ProofHeader<'_>,
    ) -> Result<DpopBinding, DpopRefusal> {
        let proof = proof
            .map_err(DpopRefusal::Proof)?
            .ok_or(DpopRefusal::Missing)?;
        let now = clock.now();
        let expected = Expected {
            method,
            route,
            access_token: Some(access_token),
            nonce: NonceCheck::Ignore,
        };
        self.check(store, now, expected, proof).await
    }

    /// A fresh nonce for the `DPoP-Nonce` header (RFC 9449 §8): valid on every node
    /// for the rest of this window and the whole next one.
    pub fn nonce(&self, now: UnixTime) -> String {
        self.nonces.current(u64::try_from(now).unwrap_or(0))
    }

    /// Whether `nonce` is one of ours from the current or the previous window: its MAC
    /// verifies (constant time) and its window is one of the two.
    pub fn accepts_nonce(&self, nonce: &str, now: UnixTime) -> bool {
        self.nonces.accepts(nonce, u64::try_from(now).unwrap_or(0))
    }

    /// Verifies one proof (§4.3) and records its `jti` (§11.1).
    async fn check(
        &self,
        store: &dyn Store,
        now: UnixTime,
        expected: Expected<'_>,
        proof: &str,
    ) -> Result<DpopBinding, DpopRefusal> {
        let htu = format!("{}{}", self.issuer, expected.route);
        let check = ProofCheck {
            htm: expected.method,
            htu: &htu,
            access_token: expected.access_token,
            now: u64::try_from(now).unwrap_or(0),
            max_age: self.settings.proof_max_age,
            leeway: PROOF_IAT_LEEWAY,
            nonce: expected.nonce,
        };
        let verified = verify_proof(proof, &check).map_err(DpopRefusal::Proof)?;
        // Kept until no proof with this iat can pass the window again.
        let until = verified
            .iat
            .saturating_add(self.settings.proof_max_age)
            .saturating_add(PROOF_IAT_LEEWAY);
        let expires_at = UnixTime::try_from(until).unwrap_or(UnixTime::MAX);
        let digest = proof_digest(&verified.jkt, &verified.htu, &verified.jti);
        let first = store
            .dpop_proof_record(&digest, expires_at.max(now))
            .await
            .map_err(DpopRefusal::Store)?;
        if !first {
            return Err(DpopRefusal::Proof(DpopProofError::Replayed));
        }
        Ok(DpopBinding { jkt: verified.jkt })
    }
}

/// What a proof must match at one endpoint.
struct Expected<'a> {
    /// The request's method (`htm`).
    method: &'a str,
    /// The endpoint's route path; `htu` is the issuer followed by it.
    route: &'a str,
    /// The access token presented (`ath`), at a resource.
    access_token: Option<&'a str>,
    /// The nonce check.
    nonce: NonceCheck<'a>,
}

/// Seconds a proof's `iat` may lie in the future (clock skew between client and
/// server): 10, what FAPI 2.0 §5.3.2.1 item 13 requires an authorization server to
/// accept ("between 0 and 10 seconds in the future"; at most 60), for every client
/// (the proof is checked before the client is known).
pub const PROOF_IAT_LEEWAY: u64 = 10;

/// HKDF label of the nonce key: distinct from every other key derived from the master
/// key.
pub const NONCE_KEY_LABEL: &[u8] = b"portcullis dpop-nonce v1";

#[cfg(test)]
mod tests {
    use super::*;

    fn verifier(master: &MasterKey) -> DpopVerifier {
        DpopVerifier::new(DpopSettings::default(), "https://id.example", master).unwrap()
    }

    #[test]
    fn a_nonce_is_accepted_in_its_window_and_the_next_only() {
        let (master, _) = MasterKey::generate().unwrap();
        let v = verifier(&master);
        let now = 1_800_000_100;
        let nonce = v.nonce(now);
        assert!(v.accepts_nonce(&nonce, now));
        assert!(v.accepts_nonce(&nonce, now + 300));
        assert!(!v.accepts_nonce(&nonce, now + 600));
        assert!(
            !v.accepts_nonce(&nonce, now - 300),
            "a window from the future"
        );
    }

    #[test]
    fn a_nonce_of_another_master_key_or_garbage_is_refused() {
        let (master, b64) = MasterKey::generate().unwrap();
        let (other, _) = MasterKey::generate().unwrap();
        let now = 1_800_000_000;
        let nonce = verifier(&master).nonce(now);
        assert!(!verifier(&other).accepts_nonce(&nonce, now));
        let same = MasterKey::from_base64(&b64).unwrap();
        assert!(verifier(&same).accepts_nonce(&nonce, now), "another node");
        for garbage in ["", "AAAA", "not base64!", &nonce[1..]] {
            assert!(!verifier(&master).accepts_nonce(garbage, now), "{garbage}");
        }
    }
}
