//! Clients known by their metadata document (draft-ietf-oauth-client-id-metadata-document-01
//! §4): the document is fetched through the guarded door ([`Outbound`]), checked by
//! core's [`client_from_metadata_document`], stored (codes and tokens refer to clients
//! by foreign key) and cached in memory:
//!
//! - a good document for its `Cache-Control: max-age`, clamped to
//!   [[`MIN_CACHE_SECONDS`], [`MAX_CACHE_SECONDS`]] (§4.3 lets the server bound it:
//!   a host cannot make us fetch on every request, nor pin a stale copy for ever);
//!   after that it is fetched again on the next lookup;
//! - a failure (fetch or document) for [`NEGATIVE_CACHE_SECONDS`], so a broken or
//!   hostile URL is not fetched on every request;
//! - at most [`HOST_FETCHES_PER_WINDOW`] fetches per host every
//!   [`HOST_FETCH_WINDOW_SECONDS`] (a stream of distinct URLs on one host would pass
//!   both caches; this bounds what the server can be made to send one host);
//! - at most [`FETCHES_PER_WINDOW`] fetches in all per window, and
//!   [`CONCURRENT_FETCHES`] at a time (why: anyone can name a document URL at
//!   `/authorize` without credentials, and a wildcard DNS zone has unlimited host names,
//!   so the per-host limit alone does not bound the server's outbound work or the
//!   client rows it stores).
//!
//! A refused or unreachable document makes the client unknown (`Ok(None)`); the reason
//! goes to the log.

use crate::app::outbound::{Accept, Outbound};
use moka::sync::Cache;
use portcullis_core::client::Client;
use portcullis_core::client::metadata_document::{
    client_from_metadata_document, metadata_document_client_limits, metadata_document_url,
};
use portcullis_core::store::StoreError;
use portcullis_core::{Store, UnixTime};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;
use url::Url;

/// The metadata document clients: fetcher, caches and the per-host limit. Cheap to
/// clone (the caches are shared).
#[derive(Clone)]
pub struct MetadataDocuments {
    outbound: Outbound,
    store: Arc<dyn Store>,
    fresh: Cache<String, (Arc<Client>, UnixTime)>,
    failed: Cache<String, UnixTime>,
    host_fetches: Cache<String, Arc<Mutex<(UnixTime, u32)>>>,
    all_fetches: Arc<Mutex<(UnixTime, u32)>>,
    in_flight: Arc<Semaphore>,
}

impl MetadataDocuments {
    /// Documents fetched through `outbound`, stored in `store`.
    pub fn new(outbound: Outbound, store: Arc<dyn Store>) -> Self {
        Self {
            outbound,
            store,
            fresh: Cache::new(CACHE_CAPACITY),
            failed: Cache::new(CACHE_CAPACITY),
            host_fetches: Cache::new(CACHE_CAPACITY),
            all_fetches: Arc::new(Mutex::new((0, 0))),
            in_flight: Arc::new(Semaphore::new(CONCURRENT_FETCHES)),
        }
    }

    /// Whether `client_id` claims to be a metadata document URL (starts with `https://`).
    pub fn claims(client_id: &str) -> bool {
        metadata_document_url(client_id).is_some()
    }

    /// The cached client for `client_id`, if its copy is still fresh at `now`.
    pub fn cached(&self, client_id: &str, now: UnixTime) -> Option<Arc<Client>> {
        self.fresh
            .get(client_id)
            .filter(|(_, until)| now < *until)
            .map(|(client, _)| client)
    }

    /// The client whose `client_id` is a metadata document URL: from the cache (when a
    /// row is `stored`), else fetched, checked, stored (when it changed from `stored`)
    /// and cached. `None` when
    /// `client_id` is not such a URL, or its document is refused, unreachable, recently
    /// failed or over the host's fetch limit.
    ///
    /// # Errors
    /// [`StoreError`] when the checked client cannot be stored.
    pub async fn resolve(
        &self,
        client_id: &str,
        stored: Option<&Client>,
        now: UnixTime,
    ) -> Result<Option<Arc<Client>>, StoreError> {
        let url = match metadata_document_url(client_id) {
            None => return Ok(None),
            Some(Ok(url)) => url,
            Some(Err(reason)) => {
                tracing::info!(client_id, %reason, "client ID metadata document refused");
                return Ok(None);
            }
        };
        // Without a stored row the document is fetched again whatever the cache holds,
        // so the row that codes and tokens refer to exists (it may have been deleted).
        if stored.is_some()
            && let Some(client) = self.cached(client_id, now)
        {
            return Ok(Some(client));
        }
        if self.failed.get(client_id).is_some_and(|until| now < until) {
            return Ok(None);
        }
        // No waiting for a fetch slot: a request that finds them all busy is refused.
        // When a limit refuses the fetch, a client already stored keeps its last checked
        // copy (why: whoever drains the budget with URLs of their own must not make the
        // clients already in use unknown); it is fetched again once the budget allows.
        let Ok(_slot) = self.in_flight.try_acquire() else {
            tracing::info!(
                client_id,
                "client ID metadata document not fetched: all fetch slots busy"
            );
            return Ok(stored.cloned().map(Arc::new));
        };
        if let Some(limit) = self.fetch_limit(&url, now) {
            tracing::info!(client_id, limit, "client ID metadata document not fetched");
            return Ok(stored.cloned().map(Arc::new));
        }
        let fetched = match self.outbound.fetch(&url, DOCUMENT).await {
            Ok(fetched) => fetched,
            Err(reason) => {
                tracing::info!(client_id, %reason, "client ID metadata document not fetched");
                self.remember_failure(client_id, now);
                return Ok(None);
            }
        };
        let limits = metadata_document_client_limits(&self.store.resource_list().await?);
        let client = match client_from_metadata_document(&url, &fetched.body, &limits, now) {
            Ok(client) => client,
            Err(reason) => {
                tracing::info!(client_id, %reason, "client ID metadata document refused");
                self.remember_failure(client_id, now);
                return Ok(None);
            }
        };
        if stored.is_none_or(|s| !same_metadata(s, &client)) {
            self.store.client_upsert(&client).await?;
        }
        let client = Arc::new(client);
        let until = now.saturating_add(cache_seconds(fetched.max_age));
        self.fresh
            .insert(client_id.to_owned(), (Arc::clone(&client), until));
        Ok(Some(client))
    }

    fn remember_failure(&self, client_id: &str, now: UnixTime) {
        self.failed.insert(
            client_id.to_owned(),
            now.saturating_add(NEGATIVE_CACHE_SECONDS),
        );
    }

    /// Counts a fetch against the server's budget and the URL's host's (fixed windows
    /// of [`HOST_FETCH_WINDOW_SECONDS`]); the name of the limit that is spent, if one is.
    fn fetch_limit(&self, url: &Url, now: UnixTime) -> Option<&'static str> {
        // The host's budget first, so that one host's refused attempts do not spend the
        // server's.
        let host = url.host_str().unwrap_or_default().to_owned();
        let window = self
            .host_fetches
            .get_with(host, || Arc::new(Mutex::new((now, 0))));
        if !take(&window, HOST_FETCHES_PER_WINDOW, now) {
            return Some("host fetch limit");
        }
        (!take(&self.all_fetches, FETCHES_PER_WINDOW, now)).then_some("server fetch limit")
    }
}

/// Takes one from a fixed window's budget of `limit` (windows of
/// [`HOST_FETCH_WINDOW_SECONDS`] starting at the first use); `false` when it is spent.
fn take(window: &Mutex<(UnixTime, u32)>, limit: u32, now: UnixTime) -> bool {
    let Ok(mut window) = window.lock() else {
        return false;
    };
    let (started, count) = &mut *window;
    if now.saturating_sub(*started) >= HOST_FETCH_WINDOW_SECONDS {
        *started = now;
        *count = 0;
    }
    if *count >= limit {
        return false;
    }
    *count = count.saturating_add(1);
    true
}

/// How long a fetched document is used: its `max-age` clamped to
/// [[`MIN_CACHE_SECONDS`], [`MAX_CACHE_SECONDS`]]; without one, [`MIN_CACHE_SECONDS`].
pub fn cache_seconds(max_age: Option<u64>) -> i64 {
    let seconds = max_age.map_or(MIN_CACHE_SECONDS, |s| i64::try_from(s).unwrap_or(i64::MAX));
    seconds.clamp(MIN_CACHE_SECONDS, MAX_CACHE_SECONDS)
}

/// Whether two clients have the same metadata (timestamps aside).
fn same_metadata(a: &Client, b: &Client) -> bool {
    let mut b = b.clone();
    b.created_at = a.created_at;
    b.updated_at = a.updated_at;
    *a == b
}

/// What a metadata document fetch accepts: JSON of at most 5 KiB (§6.x of the draft
/// suggests 5 kilobytes; a client's metadata fits in far less).
pub const DOCUMENT: Accept = Accept {
    media_type: "application/json",
    max_bytes: 5 * 1024,
};
/// Shortest time a good document is used before it is fetched again, in seconds (also
/// the time without `Cache-Control: max-age`).
pub const MIN_CACHE_SECONDS: i64 = 60;
/// Longest time a good document is used before it is fetched again: 24 hours.
pub const MAX_CACHE_SECONDS: i64 = 24 * 60 * 60;
/// How long a failed fetch or refused document is remembered, in seconds.
pub const NEGATIVE_CACHE_SECONDS: i64 = 30;
/// Fetches per host per window.
pub const HOST_FETCHES_PER_WINDOW: u32 = 10;
/// Fetches in all (every host) per window.
pub const FETCHES_PER_WINDOW: u32 = 120;
/// Fetches at the same time; a lookup that finds none free is refused at once.
pub const CONCURRENT_FETCHES: usize = 8;
/// The window of [`HOST_FETCHES_PER_WINDOW`] and [`FETCHES_PER_WINDOW`], in seconds.
pub const HOST_FETCH_WINDOW_SECONDS: i64 = 60;
/// Most documents, failures and hosts remembered (memory bound).
const CACHE_CAPACITY: u64 = 10_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_fetch_budget_is_spent_then_renewed_each_window() {
        let window = Mutex::new((0, 0));
        let start = 1_000;
        for _ in 0..FETCHES_PER_WINDOW {
            assert!(take(&window, FETCHES_PER_WINDOW, start));
        }
        assert!(!take(&window, FETCHES_PER_WINDOW, start), "spent");
        assert!(
            !take(
                &window,
                FETCHES_PER_WINDOW,
                start + HOST_FETCH_WINDOW_SECONDS - 1
            ),
            "still spent just before the window ends"
        );
        assert!(
            take(
                &window,
                FETCHES_PER_WINDOW,
                start + HOST_FETCH_WINDOW_SECONDS
            ),
            "a new window"
        );
    }

    #[test]
    fn cache_lifetime_is_max_age_within_bounds() {
        assert_eq!(cache_seconds(None), MIN_CACHE_SECONDS);
        assert_eq!(cache_seconds(Some(0)), MIN_CACHE_SECONDS);
        assert_eq!(cache_seconds(Some(5)), MIN_CACHE_SECONDS);
        assert_eq!(cache_seconds(Some(3600)), 3600);
        assert_eq!(cache_seconds(Some(10_000_000)), MAX_CACHE_SECONDS);
        assert_eq!(cache_seconds(Some(u64::MAX)), MAX_CACHE_SECONDS);
    }
}
