//! RFC 7662 token introspection as a fallback for opaque (non-JWT) access tokens,
//! with a short positive cache.
//!
//! The cache key is the SHA-256 of the token, never the token, so a heap dump or a
//! debug print of the cache does not leak usable tokens. Only `active: true`
//! answers are cached (a token revoked later stays accepted at most `cache_ttl`,
//! and never past its `exp`); the cache is bounded in entries so a flood of
//! distinct tokens cannot grow it without limit. Introspection requests in flight
//! are bounded too (a semaphore), so a flood of distinct opaque tokens cannot turn
//! the resource server into a load generator against the issuer.

use crate::ValidationError;
use crate::claims::{Claims, WireClaims};
use crate::fetch;
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// An RFC 7662 introspection client for opaque access tokens, authenticating with
/// `client_secret_basic` (RFC 6749 §2.3.1). Give it to
/// [`ValidatorBuilder::introspection`](crate::ValidatorBuilder::introspection).
///
/// A token that is not a JWS (no two `.` separators) is sent to the endpoint
/// (`token`, `token_type_hint=access_token`, RFC 7662 §2.1). The answer must be
/// `active: true` (RFC 7662 §2.2), and is then checked like a JWT's claims: `iss`
/// (when present) equals the issuer, `aud` contains the audience, `exp` (required)
/// and `nbf`/`iat` with the leeway, the scopes, and a `token_type` (when present)
/// of `Bearer`/`access_token` (so a refresh token is not accepted as an access
/// token).
///
/// At most [`max_concurrent`](Self::max_concurrent) introspection requests (default
/// 32) are in flight at once; a validation that waits longer than
/// [`queue_timeout`](Self::queue_timeout) (default 1 s) for a slot fails with
/// [`ValidationError::IntrospectionUnavailable`] (503, `Retry-After`). A waiter
/// whose token was answered by an identical request meanwhile takes the cached
/// answer.
pub struct IntrospectionClient {
    endpoint: String,
    client_id: String,
    client_secret: SecretString,
    cache_ttl: Duration,
    cache_capacity: u64,
    timeout: Duration,
    max_bytes: usize,
    max_concurrent: usize,
    queue_timeout: Duration,
    http: Option<reqwest::Client>,
}

impl std::fmt::Debug for IntrospectionClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionClient")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("cache_ttl", &self.cache_ttl)
            .field("cache_capacity", &self.cache_capacity)
            .field("max_concurrent", &self.max_concurrent)
            .field("queue_timeout", &self.queue_timeout)
            .finish_non_exhaustive()
    }
}

impl IntrospectionClient {
    /// A client for the issuer's RFC 7662 `introspection_endpoint`, authenticating
    /// as `client_id` with `client_secret` (client_secret_basic). The endpoint must
    /// be https (http only on loopback), checked by
    /// [`ValidatorBuilder::build`](crate::ValidatorBuilder::build).
    pub fn new(
        introspection_endpoint: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: SecretString,
    ) -> IntrospectionClient {
        IntrospectionClient {
            endpoint: introspection_endpoint.into(),
            client_id: client_id.into(),
            client_secret,
            cache_ttl: Duration::from_secs(30),
            cache_capacity: 10_000,
            timeout: Duration::from_secs(5),
            max_bytes: 64 * 1024,
            max_concurrent: 32,
            queue_timeout: Duration::from_secs(1),
            http: None,
        }
    }

    /// How long an `active: true` answer is reused (default 30 s), never past the
    /// token's `exp`. `Duration::ZERO` disables the cache. A revoked token stays
    /// accepted at most this long: keep it short.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// Most cached answers (default 10 000); least recently used ones go first.
    pub fn cache_capacity(mut self, entries: u64) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// Timeout of one introspection exchange (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Largest introspection answer read (default 64 KiB).
    pub fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Most introspection requests in flight at once (default 32; at least 1).
    pub fn max_concurrent(mut self, requests: usize) -> Self {
        self.max_concurrent = requests.max(1);
        self
    }

    /// How long a validation waits for a free introspection slot before failing
    /// with [`ValidationError::IntrospectionUnavailable`] (default 1 s).
    pub fn queue_timeout(mut self, timeout: Duration) -> Self {
        self.queue_timeout = timeout;
        self
    }

    /// The HTTP client to use (default: one that follows no redirect; a 3xx answer
    /// is [`ValidationError::IntrospectionUnavailable`]).
    ///
    /// The client given here must not follow redirects
    /// (`reqwest::redirect::Policy::none()`): on a 307/308 a following client
    /// re-posts the token being checked to the redirect target. The validator
    /// refuses an answer from another origin than the endpoint's (scheme, host and
    /// port), but by then the token has been sent there.
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Checks the endpoint and prepares the client: called by the builder.
    pub(crate) fn build(self) -> Result<Introspector, String> {
        let endpoint = Url::parse(&self.endpoint).map_err(|_| self.endpoint.clone())?;
        fetch::check_transport(&endpoint).map_err(|_| self.endpoint.clone())?;
        // RFC 6749 §2.3.1: id and secret are form-urlencoded before base64.
        let credentials = format!(
            "{}:{}",
            form_urlencoded::byte_serialize(self.client_id.as_bytes()).collect::<String>(),
            form_urlencoded::byte_serialize(self.client_secret.expose_secret().as_bytes())
                .collect::<String>()
        );
        let mut authorization =
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(credentials)))
                .map_err(|_| self.endpoint.clone())?;
        authorization.set_sensitive(true);
        let cache = moka::sync::Cache::builder()
            .max_capacity(self.cache_capacity)
            .time_to_live(self.cache_ttl.max(Duration::from_millis(1)))
            .build();
        Ok(Introspector {
            endpoint,
            authorization,
            cache,
            cache_ttl: i64::try_from(self.cache_ttl.as_secs()).unwrap_or(i64::MAX),
            cache_enabled: !self.cache_ttl.is_zero(),
            timeout: self.timeout,
            max_bytes: self.max_bytes,
            slots: tokio::sync::Semaphore::new(self.max_concurrent.max(1)),
            max_concurrent: self.max_concurrent.max(1),
            queue_timeout: self.queue_timeout,
            given_http: self.http,
            http: tokio::sync::OnceCell::new(),
        })
    }
}

/// A prepared [`IntrospectionClient`] inside a validator.
pub(crate) struct Introspector {
    endpoint: Url,
    authorization: HeaderValue,
    cache: moka::sync::Cache<TokenDigest, Arc<CachedAnswer>>,
    cache_ttl: i64,
    cache_enabled: bool,
    timeout: Duration,
    max_bytes: usize,
    /// One permit per introspection request in flight.
    slots: tokio::sync::Semaphore,
    max_concurrent: usize,
    queue_timeout: Duration,
    given_http: Option<reqwest::Client>,
    http: tokio::sync::OnceCell<reqwest::Client>,
}

/// SHA-256 of a token: the cache key (never the token itself).
pub(crate) type TokenDigest = [u8; 32];

struct CachedAnswer {
    claims: Claims,
    /// Clock seconds after which the entry is not used.
    valid_until: i64,
}

impl Introspector {
    pub(crate) fn digest(token: &str) -> TokenDigest {
        let mut out = [0u8; 32];
        let hash = digest::digest(&digest::SHA256, token.as_bytes());
        out.copy_from_slice(hash.as_ref());
        out
    }

    /// A cached positive answer still within its validity at `now`.
    pub(crate) fn cached(&self, key: &TokenDigest, now: i64) -> Option<Claims> {
        if !self.cache_enabled {
            return None;
        }
        let entry = self.cache.get(key)?;
        if now < entry.valid_until {
            Some(entry.claims.clone())
        } else {
            self.cache.invalidate(key);
            None
        }
    }

    /// Caches a checked, active answer until `min(now + ttl, exp)`.
    pub(crate) fn remember(&self, key: TokenDigest, claims: &Claims, now: i64) {
        if !self.cache_enabled {
            return;
        }
        let valid_until = now.saturating_add(self.cache_ttl).min(claims.exp);
        if valid_until > now {
            self.cache.insert(
                key,
                Arc::new(CachedAnswer {
                    claims: claims.clone(),
                    valid_until,
                }),
            );
        }
    }

    /// Waits at most the queue timeout for one of the introspection slots; hold the
    /// permit across [`introspect`](Self::introspect).
    pub(crate) async fn slot(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ValidationError> {
        match tokio::time::timeout(self.queue_timeout, self.slots.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) | Err(_) => Err(ValidationError::IntrospectionUnavailable(format!(
                "{}: {} introspection requests already in flight for over {:?}",
                self.endpoint, self.max_concurrent, self.queue_timeout
            ))),
        }
    }

    /// RFC 7662 §2.1 request, §2.2 answer: `active` must be `true`, and a
    /// `token_type`, when present, must name an access token.
    pub(crate) async fn introspect(&self, token: &str) -> Result<WireClaims, ValidationError> {
        let http = self
            .http
            .get_or_try_init(|| async {
                match &self.given_http {
                    Some(http) => Ok(http.clone()),
                    None => fetch::default_client(self.timeout),
                }
            })
            .await
            .map_err(|e| ValidationError::IntrospectionUnavailable(e.clone()))?;
        let request = http
            .post(self.endpoint.clone())
            .header(http::header::AUTHORIZATION, self.authorization.clone())
            .header(http::header::ACCEPT, "application/json")
            .form(&[("token", token), ("token_type_hint", "access_token")]);
        let body = fetch::send_capped(request, &self.endpoint, self.timeout, self.max_bytes)
            .await
            .map_err(ValidationError::IntrospectionUnavailable)?;
        let answer: WireClaims = serde_json::from_slice(&body).map_err(|e| {
            ValidationError::IntrospectionUnavailable(format!(
                "{}: not an introspection response: {e}",
                self.endpoint
            ))
        })?;
        if answer.active != Some(true) {
            return Err(ValidationError::Inactive);
        }
        if let Some(token_type) = &answer.token_type
            && !(token_type.eq_ignore_ascii_case("bearer")
                || token_type.eq_ignore_ascii_case("access_token"))
        {
            return Err(ValidationError::NotAnAccessToken {
                unverified_typ: Some(token_type.clone()),
            });
        }
        Ok(answer)
    }
}
