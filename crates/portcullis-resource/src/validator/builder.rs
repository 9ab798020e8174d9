//! [`ValidatorBuilder`]: the settings of a [`Validator`] and their checks at build
//! time (RFC 8414 §2 issuer, an asymmetric `alg` allow-list per RFC 8725 §3.1, the
//! key store's issuer, the DPoP replay cache).

use super::{DpopSettings, Inner, Validator};
use crate::BuildError;
use crate::clock::{Clock, SystemClock};
use crate::dpop::StatelessNonces;
use crate::introspection::IntrospectionClient;
use crate::key_store::{KeyStore, KeyStoreOptions};
use jsonwebtoken::{Algorithm, AlgorithmFamily};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Configures a [`Validator`]; see [`Validator::builder`].
#[must_use]
pub struct ValidatorBuilder {
    pub(super) issuer: String,
    pub(super) audience: String,
    pub(super) required_scopes: Vec<String>,
    pub(super) algorithms: Vec<Algorithm>,
    pub(super) leeway: Duration,
    pub(super) clock: Option<Arc<dyn Clock>>,
    pub(super) keys: Option<KeyStore>,
    pub(super) introspection: Option<IntrospectionClient>,
    pub(super) dpop_max_age: Duration,
    pub(super) dpop_replay_capacity: u64,
    pub(super) dpop_nonces: Option<StatelessNonces>,
}

impl ValidatorBuilder {
    /// Scopes every token must carry (RFC 9068 §4); a token without one of them is
    /// refused with `insufficient_scope` (RFC 6750 §3.1). Calls add up.
    pub fn required_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required_scopes
            .extend(scopes.into_iter().map(Into::into));
        self
    }

    /// The `alg` allow-list (RFC 8725 §3.1), replacing the default ES256, RS256,
    /// PS256, EdDSA. [`build`](Self::build) refuses HMAC algorithms (a resource
    /// server has only public keys: accepting HS* lets anyone sign with the public
    /// key) and an empty list; `none` cannot be named at all.
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algs.into_iter().collect();
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat` (default 60 s; whole seconds).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The source of `now` (default [`SystemClock`]); tests inject a fixed clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Where the issuer's keys come from (default:
    /// `KeyStore::remote(issuer, KeyStoreOptions::default())`). A remote store must
    /// be for the same issuer.
    pub fn keys(mut self, keys: KeyStore) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Validates opaque (non-JWT) tokens through RFC 7662 introspection. Without
    /// it, an opaque token is [`ValidationError::Malformed`].
    pub fn introspection(mut self, client: IntrospectionClient) -> Self {
        self.introspection = Some(client);
        self
    }

    /// How old a DPoP proof's `iat` may be (RFC 9449 §4.3 step 11; default 300 s,
    /// whole seconds). The validator's [`leeway`](Self::leeway) applies to proofs
    /// from the future. Replayed `jti`s are remembered for `max_age + leeway`.
    pub fn dpop_max_age(mut self, max_age: Duration) -> Self {
        self.dpop_max_age = max_age;
        self
    }

    /// How many accepted DPoP proofs the in-memory replay cache holds (default
    /// 100 000, about 100 bytes each); size it for the proofs one process accepts
    /// in `max_age + leeway`. When full, the least recently used entries go first,
    /// and a proof evicted early could be replayed within its window.
    pub fn dpop_replay_capacity(mut self, capacity: u64) -> Self {
        self.dpop_replay_capacity = capacity;
        self
    }

    /// Requires a server nonce in every DPoP proof (RFC 9449 §9): a proof without
    /// one, or with one these nonces do not accept, is refused with
    /// `use_dpop_nonce` and a fresh `DPoP-Nonce` header. Use
    /// [`StatelessNonces::random`] for one process, or [`StatelessNonces::new`]
    /// with a shared secret so every instance accepts the others' nonces.
    pub fn dpop_nonces(mut self, nonces: StatelessNonces) -> Self {
        self.dpop_nonces = Some(nonces);
        self
    }

    /// Checks the configuration and builds the validator.
    ///
    /// # Errors
    /// * [`BuildError::InvalidIssuer`]: not an absolute URL, or it has a query or
    ///   fragment (RFC 8414 §2);
    /// * [`BuildError::InsecureIssuer`]: `http` on a host that is not loopback
    ///   (`127.0.0.0/8`, `[::1]`, `localhost`);
    /// * [`BuildError::EmptyAudience`];
    /// * [`BuildError::NoAlgorithms`], [`BuildError::SymmetricAlgorithm`];
    /// * [`BuildError::KeyStoreIssuerMismatch`];
    /// * [`BuildError::InvalidIntrospectionEndpoint`].
    pub fn build(self) -> Result<Validator, BuildError> {
        let invalid = |reason: &str| BuildError::InvalidIssuer {
            issuer: self.issuer.clone(),
            reason: reason.to_owned(),
        };
        let url = Url::parse(&self.issuer).map_err(|e| invalid(&e.to_string()))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("an issuer has no query or fragment (RFC 8414 §2)"));
        }
        if url.host().is_none() {
            return Err(invalid("no host"));
        }
        if crate::fetch::check_transport(&url).is_err() {
            return Err(BuildError::InsecureIssuer(self.issuer));
        }
        if self.audience.is_empty() {
            return Err(BuildError::EmptyAudience);
        }
        if self.algorithms.is_empty() {
            return Err(BuildError::NoAlgorithms);
        }
        if let Some(alg) = self
            .algorithms
            .iter()
            .find(|alg| alg.family() == AlgorithmFamily::Hmac)
        {
            return Err(BuildError::SymmetricAlgorithm(*alg));
        }
        let keys = match self.keys {
            Some(keys) => {
                if let Some(store_issuer) = keys.issuer()
                    && store_issuer != self.issuer
                {
                    return Err(BuildError::KeyStoreIssuerMismatch {
                        issuer: self.issuer,
                        key_store: store_issuer.to_owned(),
                    });
                }
                keys
            }
            None => KeyStore::remote(self.issuer.clone(), KeyStoreOptions::default()),
        };
        let introspection = match self.introspection {
            Some(client) => Some(
                client
                    .build()
                    .map_err(BuildError::InvalidIntrospectionEndpoint)?,
            ),
            None => None,
        };
        let mut algorithms = self.algorithms;
        algorithms.dedup();
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        let max_age = self.dpop_max_age.as_secs();
        let seen = moka::sync::Cache::builder()
            .max_capacity(self.dpop_replay_capacity)
            .time_to_live(Duration::from_secs(
                max_age.saturating_add(self.leeway.as_secs()).max(1),
            ))
            // LRU, not TinyLFU: a new `jti` must always be admitted, or its replay
            // would look new.
            .eviction_policy(moka::policy::EvictionPolicy::lru())
            .build();
        Ok(Validator {
            inner: Arc::new(Inner {
                issuer: self.issuer,
                audience: self.audience,
                required_scopes: self.required_scopes,
                algorithms,
                leeway,
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                keys,
                introspection,
                dpop: DpopSettings {
                    max_age,
                    seen,
                    nonces: self.dpop_nonces,
                },
            }),
        })
    }
}
