//! CORS preflights (Fetch standard §3.2.2), the application half: which page origins
//! some client may call the token, revocation, device authorization and UserInfo
//! endpoints from.
//!
//! A preflight carries no client (no body, no credentials), so it is answered for any
//! origin that SOME client allows ([`Client::web_origins`]); the actual request that
//! follows is checked against its own client in core
//! ([`portcullis_core::client::origin`]), and refused there when that client does not
//! allow the origin. Answering a preflight therefore grants nothing by itself.
//!
//! The union of every client's origins is read from the store and kept for
//! [`ORIGIN_SET_TTL`] seconds. Propagation: a client created, changed or deleted by the
//! admin CLI (another process) or on another node is seen by this node's preflights
//! within that time; until then a new origin's preflight gets no
//! `Access-Control-Allow-Origin` (the page can retry), and a removed origin's preflight
//! is still answered (harmless: its actual requests are refused per client, and the
//! client cache sees the change within [`crate::app::clients::CLIENT_CACHE_TTL`]).
//! An unknown origin does not trigger a reload (why: a flood of preflights from made-up
//! origins would otherwise read every client from the database each time).

use portcullis_core::client::Client;
use portcullis_core::{Store, UnixTime};
use std::collections::HashSet;
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::Mutex;

/// Seconds the set of client origins is trusted before it is read again.
pub const ORIGIN_SET_TTL: UnixTime = 5;

/// The origins any client allows, cached for [`ORIGIN_SET_TTL`] seconds.
pub struct CorsOrigins {
    store: Arc<dyn Store>,
    snapshot: RwLock<Option<Snapshot>>,
    /// Held while the set is reloaded, so concurrent preflights read the store once.
    reloading: Mutex<()>,
}

/// The set as last read, and when (seconds since the epoch).
struct Snapshot {
    origins: Arc<HashSet<String>>,
    loaded_at: UnixTime,
}

impl CorsOrigins {
    /// An empty set over `store`; the first call reads it.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            snapshot: RwLock::new(None),
            reloading: Mutex::new(()),
        }
    }

    /// Whether some client allows a page at `origin` (the `Origin` header as sent) at
    /// `now`. When the set cannot be reloaded (the database is down), the last set read
    /// answers, and with none `false`; the failure is logged at warn.
    pub async fn some_client_allows(&self, origin: &str, now: UnixTime) -> bool {
        match self.origins(now).await {
            Some(origins) => origins.contains(origin),
            None => false,
        }
    }

    /// The current set: the cached one while fresh, else reloaded.
    async fn origins(&self, now: UnixTime) -> Option<Arc<HashSet<String>>> {
        if let Some(fresh) = self.fresh(now) {
            return Some(fresh);
        }
        let _one_reload = self.reloading.lock().await;
        // Another task may have reloaded while this one waited.
        if let Some(fresh) = self.fresh(now) {
            return Some(fresh);
        }
        match self.store.client_list().await {
            Ok(clients) => {
                let origins: HashSet<String> =
                    clients.iter().flat_map(Client::web_origins).collect();
                let origins = Arc::new(origins);
                let snapshot = Snapshot {
                    origins: Arc::clone(&origins),
                    loaded_at: now,
                };
                *self
                    .snapshot
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Some(snapshot);
                Some(origins)
            }
            Err(error) => {
                tracing::warn!(%error, "reading client origins for CORS failed; using the last set read");
                self.snapshot
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                    .map(|s| Arc::clone(&s.origins))
            }
        }
    }

    /// The cached set if it was read within [`ORIGIN_SET_TTL`] seconds of `now` (a
    /// clock that stepped back counts as stale).
    fn fresh(&self, now: UnixTime) -> Option<Arc<HashSet<String>>> {
        let snapshot = self.snapshot.read().unwrap_or_else(PoisonError::into_inner);
        snapshot
            .as_ref()
            .filter(|s| s.loaded_at <= now && now - s.loaded_at < ORIGIN_SET_TTL)
            .map(|s| Arc::clone(&s.origins))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::client::{ClientRegistration, RecordSource};
    use portcullis_core::store::ClientStore;
    use portcullis_core::testing::MemoryStore;

    fn spa(id: &str, redirect_uri: &str) -> Client {
        ClientRegistration {
            client_id: id.into(),
            redirect_uris: vec![redirect_uri.into()],
            scopes: vec!["openid".into()],
            ..Default::default()
        }
        .validate(RecordSource::Admin, 0)
        .unwrap()
    }

    #[tokio::test]
    async fn a_new_client_is_seen_once_the_set_is_stale() {
        let store = Arc::new(MemoryStore::new());
        store
            .client_insert(&spa("a", "https://a.example/cb"))
            .await
            .unwrap();
        let origins = CorsOrigins::new(store.clone());
        assert!(origins.some_client_allows("https://a.example", 100).await);
        assert!(!origins.some_client_allows("https://b.example", 100).await);

        store
            .client_insert(&spa("b", "https://b.example/cb"))
            .await
            .unwrap();
        // Within the TTL the cached set answers, even for the unknown origin.
        assert!(
            !origins
                .some_client_allows("https://b.example", 100 + ORIGIN_SET_TTL - 1)
                .await
        );
        assert!(
            origins
                .some_client_allows("https://b.example", 100 + ORIGIN_SET_TTL)
                .await
        );
    }
}
