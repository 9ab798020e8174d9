//! A test-token kit (feature `testing`): an in-process issuer with a generated key,
//! so an API's tests mint access tokens and call their routes through the real
//! [`RequireAccessToken`](crate::RequireAccessToken) layer, with no network and no
//! authorization server.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use portcullis_resource::testing::TestIssuer;
//! use portcullis_resource::dpop::DpopKey;
//!
//! let issuer = TestIssuer::new().with_audience("https://api.example.com");
//! let validator = issuer.validator(issuer.audience());
//!
//! let token = issuer.token().scope("read:orders").sign();
//! assert!(validator.validate_with_scopes(&token, &["read:orders"]).await.is_ok());
//!
//! let expired = issuer.token().expired().sign();
//! assert!(validator.validate(&expired).await.is_err());
//! let elsewhere = issuer.token().audience("https://billing.example.com").sign();
//! assert!(validator.validate(&elsewhere).await.is_err());
//!
//! // A DPoP-bound token and a proof for one request (RFC 9449).
//! let key = DpopKey::generate().unwrap();
//! let bound = issuer.token().dpop_bound(&key).sign();
//! let proof = key.proof("GET", "https://api.example.com/orders", Some(&bound), None).unwrap();
//! # let _ = proof;
//! # }
//! ```
//!
//! Tokens are RFC 9068 JWTs (`typ: at+jwt`, ES256, the issuer's `kid`) and carry
//! `iss`, `aud`, `sub`, `client_id`, `iat`, `exp` (now + 5 min), `jti` and the
//! scopes; each builder method changes one thing so a test names what it breaks.
//! Times come from the wall clock unless [`TokenBuilder::issued_at`] says otherwise
//! (use it with a validator on a fixed [`Clock`]).
//!
//! This module panics on failures that cannot happen with the keys it generates
//! (key generation or signing): it is for tests only.
#![allow(clippy::expect_used)]

use crate::clock::{Clock, SystemClock};
use crate::dpop::DpopKey;
use crate::{KeyStore, Validator, ValidatorBuilder};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// The issuer a [`TestIssuer::new`] uses: `https://issuer.test`.
pub const TEST_ISSUER: &str = "https://issuer.test";
/// The audience tokens name unless [`TestIssuer::with_audience`] or
/// [`TokenBuilder::audience`] say otherwise: `https://api.test`.
pub const TEST_AUDIENCE: &str = "https://api.test";
/// The default `sub`: `test-user`.
pub const TEST_SUBJECT: &str = "test-user";
/// The default `client_id`: `test-client`.
pub const TEST_CLIENT_ID: &str = "test-client";

/// An in-process token issuer: one generated ES256 key, published as a static
/// [`JwkSet`] ([`KeyStore::from_jwks`], no network), that mints access tokens.
#[derive(Clone)]
pub struct TestIssuer {
    issuer: String,
    audience: String,
    kid: String,
    encoding: EncodingKey,
    jwks: JwkSet,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Default for TestIssuer {
    fn default() -> Self {
        Self::new()
    }
}

impl TestIssuer {
    /// An issuer named [`TEST_ISSUER`] with a fresh P-256 key.
    ///
    /// # Panics
    /// If the system random generator fails.
    pub fn new() -> Self {
        Self::with_issuer(TEST_ISSUER)
    }

    /// An issuer with this `iss` (an https URL, or http on loopback, as
    /// [`Validator`] requires) and a fresh P-256 key.
    ///
    /// # Panics
    /// If the system random generator fails.
    pub fn with_issuer(issuer: impl Into<String>) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("the system random generator works");
        let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
        let mut id = [0_u8; 8];
        rng.fill(&mut id)
            .expect("the system random generator works");
        let kid = format!("test-{}", URL_SAFE_NO_PAD.encode(id));
        let mut jwk: Jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256)
            .expect("a generated P-256 key has public coordinates");
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk.common.key_algorithm = Some(KeyAlgorithm::ES256);
        Self {
            issuer: issuer.into(),
            audience: TEST_AUDIENCE.to_owned(),
            kid,
            encoding,
            jwks: JwkSet { keys: vec![jwk] },
        }
    }

    /// The audience its tokens name by default (instead of [`TEST_AUDIENCE`]):
    /// the API under test's resource identifier.
    #[must_use]
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// The issuer's `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The audience tokens name unless [`TokenBuilder::audience`] says otherwise.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The issuer's public keys, as its `jwks_uri` would serve them.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// A key store holding the issuer's key; it never fetches.
    pub fn key_store(&self) -> KeyStore {
        KeyStore::from_jwks(self.jwks.clone())
    }

    /// A validator builder for tokens of this issuer meant for `audience`, on
    /// [`key_store`](Self::key_store); add scopes, a clock or DPoP settings, then
    /// `build()`.
    pub fn validator_builder(&self, audience: impl Into<String>) -> ValidatorBuilder {
        Validator::builder(self.issuer.clone(), audience).keys(self.key_store())
    }

    /// A validator for tokens of this issuer meant for `audience`, with the default
    /// settings.
    ///
    /// # Panics
    /// If the issuer is not a valid issuer URL or `audience` is empty (see
    /// [`ValidatorBuilder::build`]).
    pub fn validator(&self, audience: impl Into<String>) -> Validator {
        self.validator_builder(audience)
            .build()
            .expect("a valid issuer and audience")
    }

    /// Starts a token: for the issuer's [`audience`](Self::audience), subject
    /// [`TEST_SUBJECT`], client [`TEST_CLIENT_ID`], no scope, issued now, expiring
    /// in 5 minutes.
    pub fn token(&self) -> TokenBuilder<'_> {
        TokenBuilder {
            issuer: self,
            iss: self.issuer.clone(),
            aud: vec![self.audience.clone()],
            sub: Some(TEST_SUBJECT.to_owned()),
            client_id: Some(TEST_CLIENT_ID.to_owned()),
            scopes: Vec::new(),
            issued_at: None,
            lifetime: Duration::from_secs(300),
            expired: false,
            not_yet_valid: false,
            typ: "at+jwt".to_owned(),
            extra: Map::new(),
        }
    }
}

/// One access token to mint; see [`TestIssuer::token`]. Each method changes one
/// thing; [`sign`](Self::sign) returns the compact JWS.
#[must_use]
#[derive(Debug, Clone)]
pub struct TokenBuilder<'a> {
    issuer: &'a TestIssuer,
    iss: String,
    aud: Vec<String>,
    sub: Option<String>,
    client_id: Option<String>,
    scopes: Vec<String>,
    issued_at: Option<i64>,
    lifetime: Duration,
    expired: bool,
    not_yet_valid: bool,
    typ: String,
    extra: Map<String, Value>,
}

impl TokenBuilder<'_> {
    /// Adds a granted scope (`scope` claim, RFC 9068 §2.2.3). Calls add up.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Adds several granted scopes.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// The `aud` (replacing the issuer's [`audience`](TestIssuer::audience)); a
    /// token for another API is "wrong audience".
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.aud = vec![audience.into()];
        self
    }

    /// The `sub`.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.sub = Some(subject.into());
        self
    }

    /// The `client_id`.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The `iss` (replacing the issuer's own): a token from a "wrong issuer",
    /// signed with the right key.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.iss = issuer.into();
        self
    }

    /// `iat` (seconds since the epoch) instead of the wall clock; `exp`/`nbf`
    /// follow from it.
    pub fn issued_at(mut self, iat: i64) -> Self {
        self.issued_at = Some(iat);
        self
    }

    /// How long the token lives (`exp - iat`; default 5 minutes).
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// Expired an hour ago (`iat` 2 hours ago, beyond any sensible leeway).
    pub fn expired(mut self) -> Self {
        self.expired = true;
        self
    }

    /// Not valid for another hour (`nbf` = now + 1 hour).
    pub fn not_yet_valid(mut self) -> Self {
        self.not_yet_valid = true;
        self
    }

    /// Bound to `key` (RFC 9449 §6.1 `cnf.jkt`): the resource then requires the
    /// `DPoP` scheme with a proof by that key ([`DpopKey::proof`]).
    pub fn dpop_bound(self, key: &DpopKey) -> Self {
        self.claim("cnf", json!({ "jkt": key.jkt() }))
    }

    /// The JOSE `typ` (default `at+jwt`); e.g. `JWT` to test an ID token taken for
    /// an access token.
    pub fn typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = typ.into();
        self
    }

    /// Any other claim (replacing one of the same name).
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(name.into(), value.into());
        self
    }

    /// The claims as they will be signed.
    pub fn claims(&self) -> Value {
        let now = self.issued_at.unwrap_or_else(|| SystemClock.now());
        let lifetime = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX);
        let iat = if self.expired {
            now.saturating_sub(7200)
        } else {
            now
        };
        let mut claims = Map::new();
        claims.insert("iss".into(), self.iss.clone().into());
        claims.insert("aud".into(), json!(self.aud));
        if let Some(sub) = &self.sub {
            claims.insert("sub".into(), sub.clone().into());
        }
        if let Some(client_id) = &self.client_id {
            claims.insert("client_id".into(), client_id.clone().into());
        }
        claims.insert("iat".into(), iat.into());
        let exp = if self.expired {
            now.saturating_sub(3600)
        } else {
            iat.saturating_add(lifetime)
        };
        claims.insert("exp".into(), exp.into());
        if self.not_yet_valid {
            claims.insert("nbf".into(), now.saturating_add(3600).into());
        }
        let mut jti = [0_u8; 12];
        if SystemRandom::new().fill(&mut jti).is_err() {
            jti = [0; 12];
        }
        claims.insert("jti".into(), URL_SAFE_NO_PAD.encode(jti).into());
        if !self.scopes.is_empty() {
            claims.insert("scope".into(), self.scopes.join(" ").into());
        }
        for (name, value) in &self.extra {
            claims.insert(name.clone(), value.clone());
        }
        Value::Object(claims)
    }

    /// Signs the token with the issuer's key (ES256, `kid`, `typ`).
    ///
    /// # Panics
    /// If signing fails (not with a generated key).
    pub fn sign(self) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.typ = Some(self.typ.clone());
        header.kid = Some(self.issuer.kid.clone());
        jsonwebtoken::encode(&header, &self.claims(), &self.issuer.encoding)
            .expect("signing with a generated P-256 key works")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::ValidationError;

    async fn check(token: String) -> Result<crate::AccessToken, ValidationError> {
        ISSUER.validator(TEST_AUDIENCE).validate(&token).await
    }

    static ISSUER: std::sync::LazyLock<TestIssuer> = std::sync::LazyLock::new(TestIssuer::new);

    #[tokio::test]
    async fn minted_tokens_fail_the_checks_they_name() {
        let t = || ISSUER.token();
        let ok = check(t().scope("read").subject("bob").sign())
            .await
            .unwrap();
        assert_eq!(ok.subject(), Some("bob"));
        assert!(ok.has_scope("read"));
        assert!(matches!(
            check(t().expired().sign()).await,
            Err(ValidationError::Expired)
        ));
        assert!(matches!(
            check(t().not_yet_valid().sign()).await,
            Err(ValidationError::NotYetValid)
        ));
        assert!(matches!(
            check(t().issuer("https://wrong.test").sign()).await,
            Err(ValidationError::WrongIssuer)
        ));
        assert!(matches!(
            check(t().audience("https://other.test").sign()).await,
            Err(ValidationError::WrongAudience)
        ));
        assert!(matches!(
            check(t().typ("JWT").sign()).await,
            Err(ValidationError::NotAnAccessToken { .. })
        ));
        let forged = TestIssuer::new().token().sign();
        assert!(matches!(
            check(forged).await,
            Err(ValidationError::UnknownKeyId { .. })
        ));
        assert!(matches!(
            ISSUER
                .validator(TEST_AUDIENCE)
                .validate_with_scopes(&t().scope("read").sign(), &["write"])
                .await,
            Err(ValidationError::InsufficientScope { .. })
        ));
    }

    #[tokio::test]
    async fn dpop_bound_tokens_need_the_proof() {
        let key = DpopKey::generate().unwrap();
        let token = ISSUER.token().dpop_bound(&key).sign();
        assert!(matches!(
            check(token.clone()).await,
            Err(ValidationError::SenderConstrained)
        ));
        let htu = "https://api.test/orders";
        let proof = key.proof("GET", htu, Some(&token), None).unwrap();
        let request = crate::DpopRequest {
            proof: &proof,
            htm: "GET",
            htu,
        };
        let access = ISSUER
            .validator(TEST_AUDIENCE)
            .validate_dpop(&token, &request)
            .await
            .unwrap();
        assert_eq!(access.confirmation_jkt(), Some(key.jkt()));
    }
}
