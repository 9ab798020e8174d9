//! Application state and start-up: connect, load keys, apply the configuration.

use crate::admin::{AdminError, sync_config};
use crate::clients::ClientCache;
use crate::config::Config;
use crate::endpoints::discovery;
use crate::keys::{KeyError, KeySnapshot, ensure_signing_keys, load_master_key, refresh_loop};
use arc_swap::ArcSwap;
use axum::body::Bytes;
use portcullis_core::keys::{KeyRing, MasterKey};
use portcullis_core::store::StoreError;
use portcullis_core::{Clock, Store};
use portcullis_store::ConnectOptions;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Why the server could not start. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated.
    #[error("database {url}: {source}")]
    Store {
        /// The database URL with any password removed.
        url: String,
        /// The failure.
        source: StoreError,
    },
    /// Keys could not be prepared.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The configuration could not be applied.
    #[error("applying the configuration: {0}")]
    Admin(#[from] AdminError),
}

/// Shared state of the running server. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    keys: Arc<ArcSwap<KeySnapshot>>,
    clients: ClientCache,
    metadata_json: Bytes,
}

impl AppState {
    /// The resolved configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }
    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }
    /// The clock.
    pub fn clock(&self) -> &dyn Clock {
        self.inner.clock.as_ref()
    }
    /// The current keys (lock-free snapshot).
    pub fn keys(&self) -> arc_swap::Guard<Arc<KeySnapshot>> {
        self.inner.keys.load()
    }
    /// The cached client directory.
    pub fn clients(&self) -> &ClientCache {
        &self.inner.clients
    }
    /// The metadata document (RFC 8414), serialised once at start-up.
    pub fn metadata_json(&self) -> &Bytes {
        &self.inner.metadata_json
    }
}

/// A started server: state plus background tasks (key refresh). Dropping it stops them.
pub struct App {
    state: AppState,
    master: Arc<MasterKey>,
    tasks: Vec<JoinHandle<()>>,
}

impl App {
    /// Connects to the database (migrating it), loads or creates the master key and
    /// signing keys, applies the configuration's clients and users, and starts the
    /// key refresh task.
    ///
    /// # Errors
    /// [`StartError`] saying which part failed and why.
    pub async fn start(config: Config, clock: Arc<dyn Clock>) -> Result<Self, StartError> {
        let store = open_store(&config.database_url).await?;
        let master = Arc::new(load_master_key(&config.master_key)?);
        let now = clock.now();
        let stored = ensure_signing_keys(store.as_ref(), &master, now).await?;
        let ring = KeyRing::build(&stored, &master, now, None).map_err(KeyError::from)?;
        sync_config(store.as_ref(), &config, now).await?;
        let metadata = discovery::metadata(&config.issuer);
        let metadata_json = Bytes::from(serde_json::to_vec(&metadata).unwrap_or_default());
        let keys = Arc::new(ArcSwap::from_pointee(KeySnapshot::new(ring)));
        let refresher = tokio::spawn(refresh_loop(
            Arc::clone(&store),
            Arc::clone(&master),
            Arc::clone(&clock),
            Arc::clone(&keys),
        ));
        let state = AppState {
            inner: Arc::new(Inner {
                clients: ClientCache::new(Arc::clone(&store)),
                config,
                store,
                clock,
                keys,
                metadata_json,
            }),
        };
        Ok(Self {
            state,
            master,
            tasks: vec![refresher],
        })
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The master key (for `--dev` seeding and key refresh in tests).
    pub fn master_key(&self) -> &MasterKey {
        &self.master
    }

    /// Re-reads signing keys now instead of waiting for the refresh interval.
    ///
    /// # Errors
    /// [`KeyError`] if the keys cannot be read or opened.
    pub async fn refresh_keys(&self) -> Result<bool, KeyError> {
        let now = self.state.clock().now();
        crate::keys::refresh_once(
            self.state.store().as_ref(),
            &self.master,
            now,
            &self.state.inner.keys,
        )
        .await
    }

    /// The router with every endpoint and middleware.
    pub fn router(&self) -> axum::Router {
        crate::router::router(self.state.clone())
    }
}

impl Drop for App {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Opens the store, naming the database (without credentials) on failure.
///
/// # Errors
/// [`StartError::Store`].
pub async fn open_store(database_url: &str) -> Result<Arc<dyn Store>, StartError> {
    portcullis_store::connect(database_url, &ConnectOptions::default())
        .await
        .map_err(|source| StartError::Store {
            url: redact_url(database_url),
            source,
        })
}

/// Removes a password from a database URL for messages.
pub fn redact_url(database_url: &str) -> String {
    match url::Url::parse(database_url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => database_url.to_owned(),
    }
}
