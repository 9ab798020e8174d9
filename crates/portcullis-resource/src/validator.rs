//! RFC 9068 §4 access-token validation, with the RFC 8725 best practices: explicit
//! typing (§3.11), an algorithm allow-list matched to the key (§3.1), keys only
//! from the configured issuer (§3.10), and exact issuer and audience checks (§3.8,
//! §3.9).

use crate::ValidationError;
use crate::claims::{AccessToken, Claims, TokenSource, WireClaims};
use crate::clock::Clock;
use crate::dpop::{self, DpopProof, DpopProofError, NonceCheck, ProofCheck, StatelessNonces};
use crate::introspection::Introspector;
use crate::jws::CompactJws;
use crate::key_store::KeyStore;
use checks::{ClaimRules, IssuerClaim};
use jsonwebtoken::Algorithm;
use std::sync::Arc;
use std::time::Duration;

mod builder;
mod checks;

pub use builder::ValidatorBuilder;
pub use checks::{JwtCheck, VerifiedJwt};

/// Validates bearer access tokens for one resource (audience) of one issuer.
///
/// For a JWT it checks, in this order, and names the first failure in
/// [`ValidationError`]:
/// 1. the token is at most [`MAX_TOKEN_BYTES`] (before any parsing);
/// 2. header `typ` is `at+jwt` (case-insensitive, `application/` prefix allowed;
///    RFC 9068 §4, RFC 8725 §3.11), so an ID token is not taken for an access token;
/// 3. `alg` is in the allow-list (RFC 8725 §3.1: never `none`, never HMAC);
/// 4. `kid` names a key in the issuer's JWKS ([`KeyStore`]), and `alg` fits that
///    key's type, curve and JWK `alg`;
/// 5. the signature (RFC 7515 §5.2);
/// 6. `iss` equals the issuer exactly (RFC 9068 §4, RFC 8414 §3.3);
/// 7. `aud` contains the audience (RFC 9068 §4, RFC 8707);
/// 8. `exp` (required), then `nbf` and `iat`, against the injected [`Clock`] with
///    the leeway (RFC 7519 §4.1.4–§4.1.6);
/// 9. the binding: a bearer token must not be sender-constrained (`cnf`, RFC 9449
///    §7.2 / RFC 8705 §3); a DPoP token's `cnf.jkt` must be the proof's key (below);
/// 10. the required scopes (RFC 9068 §4, RFC 6750 §3.1 `insufficient_scope`).
///
/// An opaque token (not a JWS) goes to the RFC 7662 introspection client when one
/// is configured, and its answer passes steps 6–10 (`iss` only when present);
/// otherwise it is [`ValidationError::Malformed`].
///
/// # DPoP (RFC 9449)
///
/// [`validate_dpop`](Self::validate_dpop) takes a token presented as
/// `Authorization: DPoP <token>` with its proof. Before step 1 the proof is
/// verified ([`dpop::verify_proof`]: `typ`, `alg` allow-list, signature with the
/// embedded public key, `htm`, `htu`, the nonce when
/// [required](ValidatorBuilder::dpop_nonces), `iat` within
/// [`dpop_max_age`](ValidatorBuilder::dpop_max_age) and the leeway, `ath` =
/// hash of the token); at step 9 the token's `cnf.jkt` must equal the proof key's
/// RFC 7638 thumbprint (§7.1); then the proof's `jti` must be new (§11.1).
///
/// **Replay cache**: the `jti`s of accepted proofs are kept in memory, per
/// `Validator` (its clones share it) and so per process, each for `max_age +
/// leeway` (the time a proof stays acceptable), in a cache bounded by
/// [`dpop_replay_capacity`](ValidatorBuilder::dpop_replay_capacity) (least recently
/// used evicted first). Only proofs bound to a valid token get there, so filling it
/// takes valid tokens. Several instances behind a load balancer do not share it:
/// a proof replayed to another instance within its window is accepted there; use
/// short windows, or nonces with a shared key ([`StatelessNonces::new`]).
///
/// Cheap to clone (an `Arc` inside); `Send + Sync`.
#[derive(Clone)]
pub struct Validator {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: String,
    audience: String,
    required_scopes: Vec<String>,
    algorithms: Vec<Algorithm>,
    leeway: i64,
    clock: Arc<dyn Clock>,
    keys: KeyStore,
    introspection: Option<Introspector>,
    dpop: DpopSettings,
}

struct DpopSettings {
    max_age: u64,
    /// SHA-256 of (`jkt`, `htu`, `jti`) of every accepted proof, for `max_age +
    /// leeway`.
    seen: moka::sync::Cache<[u8; 32], ()>,
    nonces: Option<StatelessNonces>,
}

/// A request presenting a token with the `DPoP` scheme (RFC 9449 §7.1): its proof
/// and what the proof must match.
#[derive(Debug, Clone, Copy)]
pub struct DpopRequest<'a> {
    /// The value of the request's one `DPoP` header.
    pub proof: &'a str,
    /// The request's method (`htm`).
    pub htm: &'a str,
    /// The request's absolute URL as the client addressed it: behind a reverse
    /// proxy, the external URL (`htu`; query and fragment are ignored).
    pub htu: &'a str,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("issuer", &self.inner.issuer)
            .field("audience", &self.inner.audience)
            .field("required_scopes", &self.inner.required_scopes)
            .field("algorithms", &self.inner.algorithms)
            .field("leeway", &self.inner.leeway)
            .field("keys", &self.inner.keys)
            .field("introspection", &self.inner.introspection.is_some())
            .field("dpop_max_age", &self.inner.dpop.max_age)
            .field("dpop_nonces", &self.inner.dpop.nonces.is_some())
            .finish_non_exhaustive()
    }
}

impl Validator {
    /// Starts a validator for tokens of `issuer` (an https URL, http only on
    /// loopback; compared exactly with `iss`) meant for `audience` (this resource's
    /// identifier, RFC 8707; must be in `aud`).
    pub fn builder(issuer: impl Into<String>, audience: impl Into<String>) -> ValidatorBuilder {
        ValidatorBuilder {
            issuer: issuer.into(),
            audience: audience.into(),
            required_scopes: Vec::new(),
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            leeway: Duration::from_secs(60),
            clock: None,
            keys: None,
            introspection: None,
            dpop_max_age: Duration::from_secs(300),
            dpop_replay_capacity: 100_000,
            dpop_nonces: None,
        }
    }

    /// Validates a bearer token: a JWT access token (RFC 9068 §4, every check listed
    /// on [`Validator`]), or an opaque token through introspection when configured
    /// (RFC 7662). The builder's required scopes must all be granted.
    ///
    /// # Errors
    /// The first failed check, see [`ValidationError`].
    pub async fn validate(&self, token: &str) -> Result<AccessToken, ValidationError> {
        self.validate_scoped::<&str>(token, &[]).await
    }

    /// Same as [`validate`](Self::validate), then requires each of `scopes` too
    /// (RFC 6750 §3.1: [`ValidationError::InsufficientScope`], answered 403).
    ///
    /// # Errors
    /// The first failed check, see [`ValidationError`].
    pub async fn validate_with_scopes(
        &self,
        token: &str,
        scopes: &[&str],
    ) -> Result<AccessToken, ValidationError> {
        self.validate_scoped(token, scopes).await
    }

    /// Validates a DPoP-bound token presented as `Authorization: DPoP <token>` with
    /// its proof (RFC 9449 §7.1): the proof, then every check of
    /// [`validate`](Self::validate), then `cnf.jkt` against the proof's key and the
    /// proof's `jti` against the replay cache (see [`Validator`]). The returned
    /// token carries the verified proof in [`AccessToken::dpop`].
    ///
    /// # Errors
    /// The first failed check: [`ValidationError::InvalidDpopProof`] (RFC 9449
    /// `invalid_dpop_proof`, or `use_dpop_nonce` for a missing or stale nonce),
    /// [`ValidationError::NotDpopBound`], [`ValidationError::DpopKeyMismatch`], or
    /// any token failure of [`validate`](Self::validate).
    pub async fn validate_dpop(
        &self,
        token: &str,
        request: &DpopRequest<'_>,
    ) -> Result<AccessToken, ValidationError> {
        self.validate_presented::<&str>(token, Some(request), &[])
            .await
    }

    /// Same as [`validate_dpop`](Self::validate_dpop), then requires each of
    /// `scopes` too ([`ValidationError::InsufficientScope`], answered 403).
    ///
    /// # Errors
    /// As [`validate_dpop`](Self::validate_dpop).
    pub async fn validate_dpop_with_scopes(
        &self,
        token: &str,
        request: &DpopRequest<'_>,
        scopes: &[&str],
    ) -> Result<AccessToken, ValidationError> {
        self.validate_presented(token, Some(request), scopes).await
    }

    /// The nonce a client must put in its next proof, when nonces are required
    /// ([`ValidatorBuilder::dpop_nonces`]): sent as `DPoP-Nonce` (RFC 9449 §9).
    pub fn dpop_nonce(&self) -> Option<String> {
        let nonces = self.inner.dpop.nonces.as_ref()?;
        Some(nonces.current(self.now_u64()))
    }

    /// The issuer tokens must come from (`iss`, exact).
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// The audience tokens must name (`aud`).
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    /// The scopes every token must carry.
    pub fn required_scopes(&self) -> &[String] {
        &self.inner.required_scopes
    }

    /// The key store this validator reads.
    pub fn key_store(&self) -> &KeyStore {
        &self.inner.keys
    }

    pub(crate) async fn validate_scoped<S: AsRef<str>>(
        &self,
        token: &str,
        scopes: &[S],
    ) -> Result<AccessToken, ValidationError> {
        self.validate_presented(token, None, scopes).await
    }

    /// A token as presented: as a bearer token (`dpop: None`) or with the `DPoP`
    /// scheme and its proof.
    pub(crate) async fn validate_presented<S: AsRef<str>>(
        &self,
        token: &str,
        dpop: Option<&DpopRequest<'_>>,
        scopes: &[S],
    ) -> Result<AccessToken, ValidationError> {
        let proof = match dpop {
            Some(request) => Some(self.verify_proof(token, request)?),
            None => None,
        };
        let mut access = self.verify(token).await?;
        check_binding(&access.claims, proof.as_ref())?;
        if let Some(proof) = &proof {
            self.check_replay(proof)?;
        }
        self.check_scopes(&access.claims, scopes)?;
        access.dpop = proof;
        Ok(access)
    }

    /// RFC 9449 §4.3 / §7.1: the proof for this request and token.
    fn verify_proof(
        &self,
        token: &str,
        request: &DpopRequest<'_>,
    ) -> Result<DpopProof, ValidationError> {
        let now = self.now_u64();
        let settings = &self.inner.dpop;
        let accepts = |nonce: &str| {
            settings
                .nonces
                .as_ref()
                .is_some_and(|nonces| nonces.accepts(nonce, now))
        };
        let check = ProofCheck {
            htm: request.htm,
            htu: request.htu,
            access_token: Some(token),
            now,
            max_age: settings.max_age,
            leeway: u64::try_from(self.inner.leeway).unwrap_or(0),
            nonce: match settings.nonces {
                Some(_) => NonceCheck::Accepts(&accepts),
                None => NonceCheck::Ignore,
            },
        };
        dpop::verify_proof(request.proof, &check).map_err(ValidationError::InvalidDpopProof)
    }

    /// RFC 9449 §11.1: a proof is accepted once. Keyed by key, URL and `jti`, so
    /// one client's `jti` cannot block another's.
    fn check_replay(&self, proof: &DpopProof) -> Result<(), ValidationError> {
        let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        for part in [&proof.jkt, &proof.htu, &proof.jti] {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part.as_bytes());
        }
        let mut key = [0_u8; 32];
        key.copy_from_slice(context.finish().as_ref());
        if self.inner.dpop.seen.entry(key).or_insert(()).is_fresh() {
            Ok(())
        } else {
            Err(ValidationError::InvalidDpopProof(DpopProofError::Replayed))
        }
    }

    fn now_u64(&self) -> u64 {
        u64::try_from(self.inner.clock.now()).unwrap_or(0)
    }

    async fn verify(&self, token: &str) -> Result<AccessToken, ValidationError> {
        checks::check_size(token)?;
        match CompactJws::split(token) {
            Some(jws) => self.verify_jwt(&jws).await,
            None => self.verify_opaque(token).await,
        }
    }

    async fn verify_jwt(&self, jws: &CompactJws<'_>) -> Result<AccessToken, ValidationError> {
        let (alg, kid) = checks::check_header(jws, &self.inner.algorithms)?;
        let key = self.inner.keys.key(&kid).await?;
        let payload = checks::check_signature(jws, &key, alg)?;
        let claims = self.check_claims(checks::wire_claims(&payload)?, IssuerClaim::Required)?;
        Ok(AccessToken::new(claims, TokenSource::Jwt { kid, alg }))
    }

    async fn verify_opaque(&self, token: &str) -> Result<AccessToken, ValidationError> {
        let Some(introspection) = &self.inner.introspection else {
            return Err(ValidationError::Malformed);
        };
        if !is_b64token(token) {
            return Err(ValidationError::Malformed);
        }
        let digest = Introspector::digest(token);
        let from_cache = |now: i64| match introspection.cached(&digest, now) {
            Some(claims) => self
                .check_times(claims.exp, claims.nbf, claims.iat, now)
                .map(|()| Some(AccessToken::new(claims, TokenSource::Introspection))),
            None => Ok(None),
        };
        if let Some(hit) = from_cache(self.inner.clock.now())? {
            return Ok(hit);
        }
        // Bounded concurrency: waits for a slot, or fails as unavailable (503).
        let _slot = introspection.slot().await?;
        // The same token may have been answered while this request waited.
        let now = self.inner.clock.now();
        if let Some(hit) = from_cache(now)? {
            return Ok(hit);
        }
        let answer = introspection.introspect(token).await?;
        let claims = self.check_claims(answer, IssuerClaim::Optional)?;
        introspection.remember(digest, &claims, now);
        Ok(AccessToken::new(claims, TokenSource::Introspection))
    }

    /// Steps 6–8 on the claims (see [`Validator`]), at the clock's `now`.
    fn check_claims(&self, wire: WireClaims, iss: IssuerClaim) -> Result<Claims, ValidationError> {
        let inner = &*self.inner;
        let rules = ClaimRules {
            issuer: &inner.issuer,
            audience: Some(&inner.audience),
            leeway: inner.leeway,
            now: inner.clock.now(),
        };
        checks::check_claims(wire, &rules, iss)
    }

    /// RFC 7519 §4.1.4–§4.1.6 with the leeway ([`checks::check_times`]).
    fn check_times(
        &self,
        exp: i64,
        nbf: Option<i64>,
        iat: Option<i64>,
        now: i64,
    ) -> Result<(), ValidationError> {
        checks::check_times(exp, nbf, iat, now, self.inner.leeway)
    }

    /// RFC 9068 §4 / RFC 6750 §3.1: every required scope (the builder's, then the
    /// call's) must be granted.
    fn check_scopes<S: AsRef<str>>(
        &self,
        claims: &Claims,
        scopes: &[S],
    ) -> Result<(), ValidationError> {
        let required = &self.inner.required_scopes;
        let granted = |s: &str| claims.scope.contains(s);
        if required.iter().all(|s| granted(s)) && scopes.iter().all(|s| granted(s.as_ref())) {
            return Ok(());
        }
        let mut needed: Vec<String> = Vec::with_capacity(required.len() + scopes.len());
        for scope in required
            .iter()
            .map(String::as_str)
            .chain(scopes.iter().map(AsRef::as_ref))
        {
            if !needed.iter().any(|n| n == scope) {
                needed.push(scope.to_owned());
            }
        }
        Err(ValidationError::InsufficientScope { needed })
    }
}

/// Step 9 (see [`Validator`]): RFC 9449 §7.1 / §7.2, RFC 8705 §3.
fn check_binding(claims: &Claims, proof: Option<&DpopProof>) -> Result<(), ValidationError> {
    match (proof, claims.confirmation_jkt()) {
        // A bound token used as a bearer token: whoever stole it lacks the key.
        (None, _) if claims.extra.contains_key("cnf") => Err(ValidationError::SenderConstrained),
        (None, _) => Ok(()),
        (Some(_), None) => Err(ValidationError::NotDpopBound),
        (Some(proof), Some(jkt)) if jkt == proof.jkt => Ok(()),
        (Some(_), Some(_)) => Err(ValidationError::DpopKeyMismatch),
    }
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
pub(crate) fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

/// The default `alg` allow-list: ES256 (Portcullis's access tokens), RS256
/// (common elsewhere, and OIDC's default), PS256, EdDSA.
pub const DEFAULT_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::ES256,
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::EdDSA,
];

/// Largest token accepted (8 KiB); longer ones are refused before any parsing
/// ([`ValidationError::Oversized`]).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;

    #[test]
    fn b64token_grammar() {
        assert!(is_b64token("abc-._~+/=="));
        assert!(!is_b64token("=="));
        assert!(!is_b64token("a b"));
        assert!(!is_b64token("a=b"));
        assert!(!is_b64token("a\"b"));
    }

    #[test]
    fn validator_is_send_sync_and_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Validator>();
        check::<KeyStore>();
    }
}
