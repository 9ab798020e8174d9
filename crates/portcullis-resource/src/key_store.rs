//! The issuer's signing keys (RFC 7517 JWK Set), found through RFC 8414 §3
//! authorization server metadata (falling back to OpenID Connect Discovery 1.0 §4)
//! and held parsed in memory, one [`DecodingKey`] per `kid`.
//!
//! Rotation (RFC 7517 §5, DESIGN.md "Key rotation"): an unknown `kid` triggers one
//! refetch of the JWKS, at most once per cooldown, so a newly published key is
//! picked up without a restart while a stream of garbage `kid`s cannot make the
//! resource server hammer the issuer. Concurrent requests for an unknown `kid` share
//! one fetch. Keys older than the refresh interval are refetched in the background
//! so a key the issuer withdrew stops being trusted.

use crate::ValidationError;
use crate::fetch;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};
use url::Url;
pub(crate) use verification_key::VerificationKey;
use verification_key::usable_keys;

mod verification_key;

/// How a remote [`KeyStore`] fetches: every fetch (metadata and JWKS) is bounded in
/// time and size and must use https (http only on loopback).
#[derive(Debug, Clone)]
pub struct KeyStoreOptions {
    /// Minimum time between two refetches triggered by an unknown `kid` (default
    /// 60 s). Stops garbage `kid`s from turning the resource server into a traffic
    /// amplifier against the issuer.
    pub cooldown: Duration,
    /// Timeout of one HTTP exchange, body included (default 5 s).
    pub timeout: Duration,
    /// Largest metadata document or JWKS accepted (default 256 KiB); reading stops
    /// as soon as a body grows past it.
    pub max_bytes: usize,
    /// The HTTP client to use; by default one that follows no redirect (a 3xx
    /// answer to the metadata or JWKS request is a fetch error: point the store at
    /// the issuer's real URLs instead).
    ///
    /// A client given here must not follow redirects either
    /// (`reqwest::redirect::Policy::none()`): the store refuses an answer that came
    /// from another origin than the URL it asked (scheme, host and port), but only
    /// after the client has followed the redirect there.
    pub http: Option<reqwest::Client>,
    /// Keys older than this are refetched in the background on the next use
    /// (default 10 min), so a key withdrawn from the JWKS stops being trusted; a
    /// failed refresh keeps the old keys.
    pub refresh_interval: Duration,
}

impl Default for KeyStoreOptions {
    fn default() -> Self {
        Self {
            cooldown: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
            max_bytes: 256 * 1024,
            http: None,
            refresh_interval: Duration::from_secs(600),
        }
    }
}

/// The issuer's verification keys, by `kid`. Cheap to clone (an `Arc` inside);
/// clones share the cache and the fetch counter.
///
/// * [`KeyStore::remote`] discovers the `jwks_uri` from the issuer's metadata
///   (RFC 8414 §3, checking the document's `issuer` equals the configured one,
///   RFC 8414 §3.3) on first use and caches the keys.
/// * [`KeyStore::from_jwks`] holds a fixed set (tests, air-gapped deployments) and
///   never fetches.
///
/// Only signature keys usable for an allowed algorithm are kept: EC P-256 (ES256),
/// EC P-384 (ES384), RSA (RS*/PS*) and OKP Ed25519 (EdDSA). Symmetric (`oct`) keys,
/// keys whose `use` is not `sig` or whose `key_ops` lack `verify` (RFC 7517 §4.2,
/// §4.3) and keys without a `kid` are skipped.
#[derive(Clone)]
pub struct KeyStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("issuer", &self.issuer())
            .field("keys", &self.snapshot().map(|s| s.by_kid.len()))
            .field("fetch_count", &self.fetch_count())
            .finish()
    }
}

struct Inner {
    keys: RwLock<Option<Arc<KeySet>>>,
    fetches: AtomicU64,
    remote: Option<Remote>,
}

struct Remote {
    issuer: String,
    options: KeyStoreOptions,
    state: tokio::sync::Mutex<RefreshState>,
    /// Fetch attempts finished (metadata or JWKS): a waiter that sees it change
    /// knows another task fetched for it (single flight).
    attempts: AtomicU64,
    refreshing: AtomicBool,
}

#[derive(Default)]
struct RefreshState {
    http: Option<reqwest::Client>,
    jwks_uri: Option<Url>,
    last_refetch: Option<Instant>,
    last_failure: Option<(Instant, String)>,
}

struct KeySet {
    by_kid: Arc<HashMap<String, Arc<VerificationKey>>>,
    /// When the set should be refetched; `None`: never (static sets).
    refresh_at: Option<Instant>,
}

impl KeyStore {
    /// Keys of `issuer`, fetched lazily: the first validation discovers the
    /// `jwks_uri` (RFC 8414 §3 `/.well-known/oauth-authorization-server`, then
    /// OpenID Connect Discovery `/.well-known/openid-configuration`) and fetches the
    /// JWKS. Both must be https (http only on loopback).
    pub fn remote(issuer: impl Into<String>, options: KeyStoreOptions) -> KeyStore {
        KeyStore {
            inner: Arc::new(Inner {
                keys: RwLock::new(None),
                fetches: AtomicU64::new(0),
                remote: Some(Remote {
                    issuer: issuer.into(),
                    options,
                    state: tokio::sync::Mutex::new(RefreshState::default()),
                    attempts: AtomicU64::new(0),
                    refreshing: AtomicBool::new(false),
                }),
            }),
        }
    }

    /// A fixed key set that never fetches (tests, air-gapped use). Keys that cannot
    /// verify access tokens are skipped (see [`KeyStore`]).
    pub fn from_jwks(jwks: JwkSet) -> KeyStore {
        let by_kid = usable_keys(jwks.keys.iter());
        KeyStore {
            inner: Arc::new(Inner {
                keys: RwLock::new(Some(Arc::new(KeySet {
                    by_kid: Arc::new(by_kid),
                    refresh_at: None,
                }))),
                fetches: AtomicU64::new(0),
                remote: None,
            }),
        }
    }

    /// How many JWKS fetches were attempted (discovery requests not counted). Tests
    /// assert the refetch behaviour with it.
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::Acquire)
    }

    /// The issuer a remote store fetches keys for; `None` for a static store.
    pub fn issuer(&self) -> Option<&str> {
        self.inner.remote.as_ref().map(|r| r.issuer.as_str())
    }

    /// The `kid`s currently held (for diagnostics).
    pub fn key_ids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self
            .snapshot()
            .map(|s| s.by_kid.keys().cloned().collect())
            .unwrap_or_default();
        kids.sort();
        kids
    }

    /// Fetches the keys now if they were never fetched, e.g. at start-up so a
    /// misconfigured issuer shows at once. A static store always succeeds.
    ///
    /// # Errors
    /// [`ValidationError::KeysUnavailable`] if discovery or the JWKS fetch fails.
    pub async fn preload(&self) -> Result<(), ValidationError> {
        let Some(remote) = &self.inner.remote else {
            return Ok(());
        };
        if self.snapshot().is_some() {
            return Ok(());
        }
        let mut state = remote.state.lock().await;
        if self.snapshot().is_some() {
            return Ok(());
        }
        self.fetch_into(remote, &mut state)
            .await
            .map_err(ValidationError::KeysUnavailable)
    }

    /// The key for `kid` (RFC 7515 §4.1.4), fetching the JWKS when the store is
    /// empty, and refetching it once per cooldown when `kid` is unknown. A `kid`
    /// over [`MAX_KID_BYTES`] bytes, or with characters outside
    /// `A-Z a-z 0-9 - _ . ~ + = :` (or a `..`), never causes a fetch.
    pub(crate) async fn key(&self, kid: &str) -> Result<Arc<VerificationKey>, ValidationError> {
        let unknown = || ValidationError::UnknownKeyId {
            unverified_kid: crate::jws::clipped(kid.to_owned()),
        };
        if kid.len() > MAX_KID_BYTES {
            return Err(unknown());
        }
        let snapshot = self.snapshot();
        if let Some(set) = &snapshot
            && let Some(key) = set.by_kid.get(kid)
        {
            if let Some(refresh_at) = set.refresh_at
                && Instant::now() >= refresh_at
            {
                self.refresh_in_background();
            }
            return Ok(Arc::clone(key));
        }
        let Some(remote) = &self.inner.remote else {
            return Err(unknown());
        };
        if !kid_may_trigger_fetch(kid) {
            return Err(unknown());
        }

        let generation = remote.attempts.load(Ordering::Acquire);
        let mut state = remote.state.lock().await;
        // The key may have arrived while this task waited for the lock.
        if let Some(key) = self.lookup(kid) {
            return Ok(key);
        }
        if remote.attempts.load(Ordering::Acquire) != generation {
            // Another task fetched while this one waited (and the key is still not
            // there): share its outcome instead of fetching again.
            return match self.snapshot() {
                Some(_) => Err(unknown()),
                None => Err(ValidationError::KeysUnavailable(last_failure(&state))),
            };
        }
        let now = Instant::now();
        let had_keys = self.snapshot().is_some();
        if had_keys {
            if state
                .last_refetch
                .is_some_and(|at| now.duration_since(at) < remote.options.cooldown)
            {
                tracing::debug!(kid, "unknown kid; JWKS refetch skipped (cooldown)");
                return Err(unknown());
            }
            state.last_refetch = Some(now);
        } else if let Some((at, reason)) = &state.last_failure
            && now.duration_since(*at) < failure_backoff(&remote.options)
        {
            return Err(ValidationError::KeysUnavailable(reason.clone()));
        }
        match self.fetch_into(remote, &mut state).await {
            Ok(()) => self.lookup(kid).ok_or_else(unknown),
            Err(reason) if had_keys => {
                tracing::warn!(%reason, "JWKS refetch for an unknown kid failed; keeping the old keys");
                Err(unknown())
            }
            Err(reason) => Err(ValidationError::KeysUnavailable(reason)),
        }
    }

    /// The key for `kid` among the keys already held, without fetching (for
    /// [`JwtCheck`](crate::JwtCheck)).
    pub(crate) fn key_in_hand(&self, kid: &str) -> Result<Arc<VerificationKey>, ValidationError> {
        self.lookup(kid)
            .ok_or_else(|| ValidationError::UnknownKeyId {
                unverified_kid: crate::jws::clipped(kid.to_owned()),
            })
    }

    fn snapshot(&self) -> Option<Arc<KeySet>> {
        self.inner
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn lookup(&self, kid: &str) -> Option<Arc<VerificationKey>> {
        self.snapshot()?.by_kid.get(kid).cloned()
    }

    fn store(&self, set: KeySet) {
        *self
            .inner
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(set));
    }

    fn refresh_in_background(&self) {
        let Some(remote) = &self.inner.remote else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if remote.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let store = self.clone();
        runtime.spawn(async move {
            if let Some(remote) = &store.inner.remote {
                let mut state = remote.state.lock().await;
                let stale = store
                    .snapshot()
                    .and_then(|s| s.refresh_at)
                    .is_some_and(|at| Instant::now() >= at);
                if stale && let Err(reason) = store.fetch_into(remote, &mut state).await {
                    tracing::warn!(%reason, "periodic JWKS refresh failed; keeping the old keys");
                    // Retry after the failure backoff, not on every request.
                    if let Some(old) = store.snapshot() {
                        store.store(KeySet {
                            by_kid: Arc::clone(&old.by_kid),
                            refresh_at: Instant::now()
                                .checked_add(failure_backoff(&remote.options)),
                        });
                    }
                }
                remote.refreshing.store(false, Ordering::Release);
            }
        });
    }

    /// One fetch attempt (discovery if needed, then the JWKS); on success the new
    /// set replaces the old one. Called with the refresh lock held.
    async fn fetch_into(&self, remote: &Remote, state: &mut RefreshState) -> Result<(), String> {
        let result = self.fetch_jwks(remote, state).await;
        // Counted once the attempt has finished (keys stored or failure recorded
        // below, before the lock is released), so a waiter that saw the old count
        // knows this attempt's outcome is final.
        remote.attempts.fetch_add(1, Ordering::AcqRel);
        match result {
            Ok(by_kid) => {
                if by_kid.is_empty() {
                    tracing::warn!(issuer = %remote.issuer, "the issuer's JWKS holds no usable signature key");
                }
                self.store(KeySet {
                    by_kid: Arc::new(by_kid),
                    refresh_at: Instant::now().checked_add(remote.options.refresh_interval),
                });
                state.last_failure = None;
                Ok(())
            }
            Err(reason) => {
                tracing::warn!(issuer = %remote.issuer, %reason, "fetching the issuer's keys failed");
                state.last_failure = Some((Instant::now(), reason.clone()));
                // Rediscover next time: the metadata may have moved the jwks_uri.
                state.jwks_uri = None;
                Err(reason)
            }
        }
    }

    async fn fetch_jwks(
        &self,
        remote: &Remote,
        state: &mut RefreshState,
    ) -> Result<HashMap<String, Arc<VerificationKey>>, String> {
        let options = &remote.options;
        let http = match (&state.http, &options.http) {
            (Some(http), _) | (None, Some(http)) => http.clone(),
            (None, None) => fetch::default_client(options.timeout)?,
        };
        state.http = Some(http.clone());
        let jwks_uri = match &state.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let uri = discover(&http, &remote.issuer, options).await?;
                state.jwks_uri = Some(uri.clone());
                uri
            }
        };
        fetch::check_transport(&jwks_uri)?;
        self.inner.fetches.fetch_add(1, Ordering::AcqRel);
        let request = http.get(jwks_uri.clone()).header(
            http::header::ACCEPT,
            "application/jwk-set+json, application/json",
        );
        let body =
            fetch::send_capped(request, &jwks_uri, options.timeout, options.max_bytes).await?;
        let set: LenientJwkSet =
            serde_json::from_slice(&body).map_err(|e| format!("{jwks_uri}: not a JWK Set: {e}"))?;
        let jwks: Vec<Jwk> = set
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value(value).ok())
            .collect();
        Ok(usable_keys(jwks.iter()))
    }
}

/// A JWK Set read key by key, so one key of an unknown shape does not hide the rest.
#[derive(Deserialize)]
struct LenientJwkSet {
    keys: Vec<serde_json::Value>,
}

/// Finds the `jwks_uri` (RFC 8414 §3; OpenID Connect Discovery 1.0 §4 as fallback)
/// and checks the document's `issuer` is exactly the configured one (RFC 8414
/// §3.3), which stops a metadata document of another issuer from supplying keys.
async fn discover(
    http: &reqwest::Client,
    issuer: &str,
    options: &KeyStoreOptions,
) -> Result<Url, String> {
    let issuer_url = Url::parse(issuer).map_err(|e| format!("issuer {issuer:?}: {e}"))?;
    fetch::check_transport(&issuer_url)?;
    let mut failures = Vec::with_capacity(2);
    for url in metadata_urls(&issuer_url) {
        let request = http
            .get(url.clone())
            .header(http::header::ACCEPT, "application/json");
        let document = match fetch::send_capped(request, &url, options.timeout, options.max_bytes)
            .await
            .and_then(|body| {
                serde_json::from_slice::<MetadataDocument>(&body)
                    .map_err(|e| format!("{url}: not a metadata document: {e}"))
            }) {
            Ok(document) => document,
            Err(reason) => {
                failures.push(reason);
                continue;
            }
        };
        if document.issuer != issuer {
            return Err(format!(
                "{url} names issuer {:?}, not {issuer:?} (RFC 8414 §3.3)",
                document.issuer
            ));
        }
        let Some(jwks_uri) = document.jwks_uri else {
            return Err(format!("{url} has no jwks_uri"));
        };
        let jwks_uri = Url::parse(&jwks_uri).map_err(|e| format!("{url}: jwks_uri: {e}"))?;
        fetch::check_transport(&jwks_uri)?;
        return Ok(jwks_uri);
    }
    Err(failures.join("; "))
}

/// RFC 8414 §3.1: the well-known string goes between the host and the issuer's
/// path; OpenID Connect Discovery 1.0 §4 appends it to the issuer.
fn metadata_urls(issuer: &Url) -> [Url; 2] {
    let path = issuer.path().trim_end_matches('/');
    let mut rfc8414 = issuer.clone();
    rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    let mut oidc = issuer.clone();
    oidc.set_path(&format!("{path}/.well-known/openid-configuration"));
    [rfc8414, oidc]
}

#[derive(Deserialize)]
struct MetadataDocument {
    issuer: String,
    jwks_uri: Option<String>,
}

fn last_failure(state: &RefreshState) -> String {
    state.last_failure.as_ref().map_or_else(
        || "the keys could not be fetched".to_owned(),
        |(_, r)| r.clone(),
    )
}

/// After a failed fetch, the next attempt waits this long (at most 10 s, less with
/// a shorter cooldown).
fn failure_backoff(options: &KeyStoreOptions) -> Duration {
    options.cooldown.min(Duration::from_secs(10))
}

/// A `kid` that may cause a JWKS fetch when unknown: short and made of characters
/// key ids use in practice (thumbprints, UUIDs, names). Anything else (`/`, `\`,
/// `%`, whitespace, `..`) is refused without a fetch: it is not a key this issuer
/// would publish, and it must not reach a path or a log unescaped.
fn kid_may_trigger_fetch(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KID_BYTES
        && !kid.contains("..")
        && kid.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'+' | b'=' | b':')
        })
}

/// Longest `kid` looked up (bytes); longer ones are refused at once.
pub const MAX_KID_BYTES: usize = 256;

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
    fn metadata_urls_follow_rfc8414_and_oidc() {
        let [a, b] = metadata_urls(&Url::parse("https://as.example").unwrap());
        assert_eq!(
            a.as_str(),
            "https://as.example/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            b.as_str(),
            "https://as.example/.well-known/openid-configuration"
        );
        let [a, b] = metadata_urls(&Url::parse("https://as.example/tenant/").unwrap());
        assert_eq!(
            a.as_str(),
            "https://as.example/.well-known/oauth-authorization-server/tenant"
        );
        assert_eq!(
            b.as_str(),
            "https://as.example/tenant/.well-known/openid-configuration"
        );
    }

    #[test]
    fn kid_characters() {
        for ok in [
            "abc",
            "k-1_2",
            "2024-01-01T00:00",
            "Zm9v+/=".trim_end_matches("/="),
            "a.b",
        ] {
            assert!(kid_may_trigger_fetch(ok), "{ok}");
        }
        for bad in ["", "../x", "a/b", "a\\b", "a%2f", "a b", "a\nb", "ü"] {
            assert!(!kid_may_trigger_fetch(bad), "{bad:?}");
        }
        assert!(!kid_may_trigger_fetch(&"a".repeat(MAX_KID_BYTES + 1)));
    }
}
