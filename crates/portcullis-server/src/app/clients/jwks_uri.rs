//! The keys of `private_key_jwt` clients registered with `jwks_uri` (RFC 7591 §2, RFC
//! 7523 §2.2): fetched through the guarded door ([`Outbound`]: https, no redirects,
//! address policy, time caps, [`KEY_SET`] size cap), checked as a client JWK Set
//! ([`ClientJwks::parse`]) and cached per client:
//!
//! - a good set for its `Cache-Control: max-age`, clamped to
//!   [[`MIN_CACHE_SECONDS`], [`MAX_CACHE_SECONDS`]];
//! - an assertion naming a `kid` the cached set lacks fetches once more (the client
//!   rotated its keys), at most once per [`REFETCH_COOLDOWN_SECONDS`] per client: a
//!   second unknown `kid` within the cooldown is refused without a fetch (why: else
//!   anyone holding a client_id could make the server fetch the client's URL on every
//!   request, RFC 7523 §3 leaves the rate to the server);
//! - a failed fetch is remembered for [`NEGATIVE_CACHE_SECONDS`] (not fetched again on
//!   every request) and refuses the assertion (401 `invalid_client`); the reason goes to
//!   the log.

use crate::app::outbound::{Accept, Outbound};
use async_trait::async_trait;
use moka::sync::Cache;
use portcullis_core::UnixTime;
use portcullis_core::client::jwks::{KeyRefresh, RemoteClientKeys, RemoteKeysUnavailable};
use portcullis_core::client::{Client, ClientJwks};
use std::sync::Arc;
use url::Url;

/// The fetcher and cache of client key sets. Cheap to clone (the cache is shared).
#[derive(Clone)]
pub struct ClientKeySets {
    outbound: Outbound,
    cache: Cache<String, Arc<CachedKeys>>,
}

/// One client's cached key set (or failure), by `jwks_uri`.
#[derive(Debug)]
struct CachedKeys {
    /// The URL it was fetched from (a changed registration misses the cache).
    uri: String,
    /// The set, or `None` after a failed fetch.
    keys: Option<Arc<ClientJwks>>,
    /// Used until this time (seconds since the epoch).
    until: UnixTime,
    /// When a fetch was last made for an unknown `kid`.
    refetched_at: Option<UnixTime>,
}

impl ClientKeySets {
    /// Key sets fetched through `outbound`.
    pub fn new(outbound: Outbound) -> Self {
        Self {
            outbound,
            cache: Cache::new(CACHE_CAPACITY),
        }
    }

    /// Fetches and checks `uri`'s key set; the cache entry for `client_id`.
    async fn fetch(
        &self,
        client_id: &str,
        uri: &str,
        refetched_at: Option<UnixTime>,
        now: UnixTime,
    ) -> Arc<CachedKeys> {
        let result = match Url::parse(uri) {
            Ok(url) => self
                .outbound
                .fetch(&url, KEY_SET)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let parsed = result.and_then(|fetched| {
            let value: serde_json::Value =
                serde_json::from_slice(&fetched.body).map_err(|e| format!("not JSON: {e}"))?;
            let jwks = ClientJwks::parse(&value)?;
            Ok((jwks, fetched.max_age))
        });
        let entry = match parsed {
            Ok((jwks, max_age)) => CachedKeys {
                uri: uri.to_owned(),
                keys: Some(Arc::new(jwks)),
                until: now.saturating_add(cache_seconds(max_age)),
                refetched_at,
            },
            Err(reason) => {
                tracing::info!(client_id, jwks_uri = uri, %reason, "client jwks_uri not usable");
                CachedKeys {
                    uri: uri.to_owned(),
                    keys: None,
                    until: now.saturating_add(NEGATIVE_CACHE_SECONDS),
                    refetched_at,
                }
            }
        };
        let entry = Arc::new(entry);
        self.cache.insert(client_id.to_owned(), Arc::clone(&entry));
        entry
    }
}

#[async_trait]
impl RemoteClientKeys for ClientKeySets {
    async fn client_keys(
        &self,
        client: &Client,
        refresh: KeyRefresh,
        now: UnixTime,
    ) -> Result<Arc<ClientJwks>, RemoteKeysUnavailable> {
        let Some(uri) = client.jwks_uri.as_deref() else {
            return Err(RemoteKeysUnavailable("no jwks_uri".into()));
        };
        let cached = self
            .cache
            .get(&client.client_id)
            .filter(|entry| entry.uri == uri);
        let entry = match (cached, refresh) {
            (Some(entry), KeyRefresh::Cached) if now < entry.until => entry,
            (Some(entry), KeyRefresh::UnknownKid)
                if entry
                    .refetched_at
                    .is_some_and(|at| now.saturating_sub(at) < REFETCH_COOLDOWN_SECONDS) =>
            {
                tracing::info!(
                    client_id = client.client_id.as_str(),
                    "client jwks_uri not fetched again: unknown kid within the cooldown"
                );
                entry
            }
            (_, KeyRefresh::UnknownKid) => self.fetch(&client.client_id, uri, Some(now), now).await,
            (previous, KeyRefresh::Cached) => {
                let refetched_at = previous.and_then(|p| p.refetched_at);
                self.fetch(&client.client_id, uri, refetched_at, now).await
            }
        };
        entry
            .keys
            .clone()
            .ok_or_else(|| RemoteKeysUnavailable("the last fetch failed".into()))
    }
}

/// How long a fetched key set is used: its `max-age` clamped to
/// [[`MIN_CACHE_SECONDS`], [`MAX_CACHE_SECONDS`]]; without one, [`DEFAULT_CACHE_SECONDS`].
pub fn cache_seconds(max_age: Option<u64>) -> i64 {
    let seconds = max_age.map_or(DEFAULT_CACHE_SECONDS, |s| {
        i64::try_from(s).unwrap_or(i64::MAX)
    });
    seconds.clamp(MIN_CACHE_SECONDS, MAX_CACHE_SECONDS)
}

/// What a key set fetch accepts: JSON of at most 64 KiB (ten RSA-4096 keys fit in a
/// fraction of it; [`portcullis_core::client::jwks::MAX_CLIENT_KEYS`] bounds the set).
pub const KEY_SET: Accept = Accept {
    media_type: "application/json",
    max_bytes: 64 * 1024,
};
/// Shortest time a good key set is used before it is fetched again, in seconds.
pub const MIN_CACHE_SECONDS: i64 = 60;
/// Time a good key set is used without `Cache-Control: max-age`: 5 minutes.
pub const DEFAULT_CACHE_SECONDS: i64 = 300;
/// Longest time a good key set is used: 1 hour (a removed key stops working within it).
pub const MAX_CACHE_SECONDS: i64 = 3600;
/// How long a failed fetch is remembered, in seconds.
pub const NEGATIVE_CACHE_SECONDS: i64 = 30;
/// At most one fetch for an unknown `kid` per client in this many seconds.
pub const REFETCH_COOLDOWN_SECONDS: i64 = 60;
/// Most clients whose key sets are remembered (memory bound).
const CACHE_CAPACITY: u64 = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_lifetime_is_max_age_within_bounds() {
        assert_eq!(cache_seconds(None), DEFAULT_CACHE_SECONDS);
        assert_eq!(cache_seconds(Some(0)), MIN_CACHE_SECONDS);
        assert_eq!(cache_seconds(Some(600)), 600);
        assert_eq!(cache_seconds(Some(u64::MAX)), MAX_CACHE_SECONDS);
    }
}
