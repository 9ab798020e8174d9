//! RFC 9068 §4 access-token validation, with the RFC 8725 best practices: explicit
//! typing (§3.11), an algorithm allow-list matched to the key (§3.1), keys only
//! from the configured issuer (§3.10), and exact issuer and audience checks (§3.8,
//! §3.9).

use crate::claims::{AccessToken, Claims, TokenSource, WireClaims};
use crate::clock::{Clock, SystemClock};
use crate::introspection::{IntrospectionClient, Introspector};
use crate::jws::{self, CompactJws};
use crate::key_store::{KeyStore, KeyStoreOptions};
use crate::{BuildError, ValidationError};
use jsonwebtoken::{Algorithm, AlgorithmFamily};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

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
/// 9. the token is not sender-constrained (`cnf`, RFC 9449 §7.1 / RFC 8705 §3);
/// 10. the required scopes (RFC 9068 §4, RFC 6750 §3.1 `insufficient_scope`).
///
/// An opaque token (not a JWS) goes to the RFC 7662 introspection client when one
/// is configured, and its answer passes steps 6–10 (`iss` only when present);
/// otherwise it is [`ValidationError::Malformed`].
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
        let token = self.verify(token).await?;
        self.check_scopes(&token.claims, scopes)?;
        Ok(token)
    }

    async fn verify(&self, token: &str) -> Result<AccessToken, ValidationError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(ValidationError::Oversized {
                len: token.len(),
                max: MAX_TOKEN_BYTES,
            });
        }
        if token.is_empty() {
            return Err(ValidationError::Malformed);
        }
        match CompactJws::split(token) {
            Some(jws) => self.verify_jwt(&jws).await,
            None => self.verify_opaque(token).await,
        }
    }

    async fn verify_jwt(&self, jws: &CompactJws<'_>) -> Result<AccessToken, ValidationError> {
        let inner = &*self.inner;
        let header = jws::unverified_header(jws.header)?;
        match header.unverified_typ {
            Some(ref typ) if jws::is_access_token_typ(typ) => {}
            unverified_typ => {
                return Err(ValidationError::NotAnAccessToken {
                    unverified_typ: unverified_typ.map(jws::clipped),
                });
            }
        }
        if header.has_crit {
            return Err(ValidationError::UnsupportedCriticalHeader);
        }
        let Some(alg) = Algorithm::from_str(&header.unverified_alg)
            .ok()
            .filter(|alg| inner.algorithms.contains(alg))
        else {
            return Err(ValidationError::AlgorithmNotAllowed {
                unverified_alg: jws::clipped(header.unverified_alg),
            });
        };
        let Some(kid) = header.unverified_kid else {
            return Err(ValidationError::MissingKeyId);
        };
        let key = inner.keys.key(&kid).await?;
        if !key.permits(alg) {
            return Err(ValidationError::AlgorithmKeyMismatch);
        }
        // The signature is verified by jsonwebtoken's aws-lc-rs backend, over the
        // signing input exactly as received (RFC 7515 §5.2).
        match jsonwebtoken::crypto::verify(
            jws.signature,
            jws.signing_input.as_bytes(),
            &key.decoding,
            alg,
        ) {
            Ok(true) => {}
            Ok(false) | Err(_) => return Err(ValidationError::BadSignature),
        }
        let payload = jws::decode_payload(jws.payload)?;
        let claims =
            WireClaims::from_jwt_payload(&payload).map_err(|_| ValidationError::Malformed)?;
        let claims = self.check_claims(claims, IssuerClaim::Required)?;
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

    /// Steps 6–9 on the claims (see [`Validator`]).
    fn check_claims(&self, wire: WireClaims, iss: IssuerClaim) -> Result<Claims, ValidationError> {
        let inner = &*self.inner;
        let sender_constrained = wire.is_sender_constrained();
        let iss = match (wire.iss, iss) {
            (Some(value), _) if value == inner.issuer => value,
            // RFC 7662 §2.2: `iss` is optional in an introspection answer; the
            // answer comes from the configured issuer's endpoint.
            (None, IssuerClaim::Optional) => inner.issuer.clone(),
            _ => return Err(ValidationError::WrongIssuer),
        };
        if !wire.aud.contains(&inner.audience) {
            return Err(ValidationError::WrongAudience);
        }
        let Some(exp) = wire.exp else {
            return Err(ValidationError::MissingClaim { claim: "exp" });
        };
        self.check_times(exp, wire.nbf, wire.iat, inner.clock.now())?;
        if sender_constrained {
            return Err(ValidationError::SenderConstrained);
        }
        Ok(Claims {
            iss,
            sub: wire.sub,
            aud: wire.aud,
            exp,
            iat: wire.iat,
            nbf: wire.nbf,
            jti: wire.jti,
            client_id: wire.client_id,
            scope: wire.scope,
            extra: wire.extra,
        })
    }

    /// RFC 7519 §4.1.4–§4.1.6 with the leeway: expired when `now > exp + leeway`
    /// (accepted at exactly the leeway), not yet valid when `nbf > now + leeway`,
    /// issued in the future when `iat > now + leeway`.
    fn check_times(
        &self,
        exp: i64,
        nbf: Option<i64>,
        iat: Option<i64>,
        now: i64,
    ) -> Result<(), ValidationError> {
        let leeway = self.inner.leeway;
        if now > exp.saturating_add(leeway) {
            return Err(ValidationError::Expired);
        }
        if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(ValidationError::NotYetValid);
        }
        if iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
            return Err(ValidationError::IssuedInTheFuture);
        }
        Ok(())
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

#[derive(Clone, Copy)]
enum IssuerClaim {
    Required,
    Optional,
}

/// Configures a [`Validator`]; see [`Validator::builder`].
#[must_use]
pub struct ValidatorBuilder {
    issuer: String,
    audience: String,
    required_scopes: Vec<String>,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    clock: Option<Arc<dyn Clock>>,
    keys: Option<KeyStore>,
    introspection: Option<IntrospectionClient>,
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
        Ok(Validator {
            inner: Arc::new(Inner {
                issuer: self.issuer,
                audience: self.audience,
                required_scopes: self.required_scopes,
                algorithms,
                leeway: i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX),
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
                keys,
                introspection,
            }),
        })
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
