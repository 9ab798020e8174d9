//! Application state and start-up: connect, load keys, apply the configuration, and
//! build the per-endpoint contexts (token, device authorization) once.

use crate::app::admin::{AdminError, sync_config};
use crate::app::clients::ClientCache;
use crate::app::config::Config;
use crate::app::keys::{KeyError, KeySnapshot, ensure_signing_keys, load_master_key, refresh_loop};
use crate::app::throttle::{DeviceAuthorizationThrottle, LoginThrottle, UserCodeThrottle};
use arc_swap::ArcSwap;
use bytes::Bytes;
use portcullis_core::client::authentication::ClientDirectory;
use portcullis_core::device::authorization::DeviceAuthorizationEndpoint;
use portcullis_core::grants::token_endpoint::TokenEndpoint;
use portcullis_core::keys::{KeyRing, MasterKey};
use portcullis_core::store::StoreError;
use portcullis_core::{Clock, Store};
use std::sync::Arc;
use tokio::sync::Semaphore;
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
    /// The dummy password hash (for unknown usernames at login) could not be made.
    #[error("preparing the login page: {0}")]
    Login(String),
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
    clients: Arc<ClientCache>,
    token_endpoint: TokenEndpoint,
    device_authorization_endpoint: DeviceAuthorizationEndpoint,
    metadata_json: Bytes,
    stylesheet: Bytes,
    cookie_names: CookieNames,
    throttle: Arc<LoginThrottle>,
    user_code_throttle: Arc<UserCodeThrottle>,
    device_authorization_throttle: Arc<DeviceAuthorizationThrottle>,
    master: Arc<MasterKey>,
    password_slots: Arc<Semaphore>,
    dummy_password_hash: String,
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
    /// The token endpoint's context (RFC 6749 §3.2), built at start-up; sign with
    /// the current [`keys`](Self::keys).
    pub fn token_endpoint(&self) -> &TokenEndpoint {
        &self.inner.token_endpoint
    }
    /// The device authorization endpoint's context (RFC 8628 §3.1), built at start-up.
    pub fn device_authorization_endpoint(&self) -> &DeviceAuthorizationEndpoint {
        &self.inner.device_authorization_endpoint
    }
    /// The metadata document (RFC 8414), serialised once at start-up.
    pub fn metadata_json(&self) -> &Bytes {
        &self.inner.metadata_json
    }
    /// The pages' stylesheet, built once at start-up.
    pub fn stylesheet(&self) -> &Bytes {
        &self.inner.stylesheet
    }
    /// Cookie names and attributes for this issuer.
    pub fn cookie_names(&self) -> CookieNames {
        self.inner.cookie_names
    }
    /// Failed-login accounting.
    pub fn throttle(&self) -> &LoginThrottle {
        &self.inner.throttle
    }
    /// Wrong user-code accounting of the device verification page (RFC 8628 §5.1).
    pub fn user_code_throttle(&self) -> &UserCodeThrottle {
        &self.inner.user_code_throttle
    }
    /// Device authorization requests per address.
    pub fn device_authorization_throttle(&self) -> &DeviceAuthorizationThrottle {
        &self.inner.device_authorization_throttle
    }
    /// The master key, which also seals the user code kept in a pending device
    /// authorization (sealed by the device verification page).
    pub fn master_key(&self) -> &MasterKey {
        &self.inner.master
    }
    /// Permits for concurrent argon2id verifications (one per core).
    pub fn password_slots(&self) -> &Semaphore {
        &self.inner.password_slots
    }
    /// An argon2id hash of a random password, verified when the username is unknown
    /// so that unknown and known usernames take the same time.
    pub fn dummy_password_hash(&self) -> &str {
        &self.inner.dummy_password_hash
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
        if config.metrics.enabled {
            crate::app::metrics::install();
        }
        let store = open_store(&config.database_url, &config.database, true).await?;
        let master = Arc::new(load_master_key(&config.master_key, true)?);
        let now = clock.now();
        let stored = ensure_signing_keys(store.as_ref(), &master, now).await?;
        let ring = KeyRing::build(&stored, &master, now, None).map_err(KeyError::from)?;
        sync_config(store.as_ref(), &config, now).await?;
        let metadata = crate::app::discovery::metadata(&config.issuer);
        let metadata_json = Bytes::from(serde_json::to_vec(&metadata).unwrap_or_default());
        let stylesheet = Bytes::from(crate::app::config::stylesheet(&config.branding));
        let dummy_password_hash = dummy_password_hash().await?;
        let throttle = Arc::new(LoginThrottle::new());
        let user_code_throttle = Arc::new(UserCodeThrottle::new());
        let device_authorization_throttle = Arc::new(DeviceAuthorizationThrottle::new());
        let pruner = {
            let throttle = Arc::clone(&throttle);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
                loop {
                    tick.tick().await;
                    throttle.prune();
                }
            })
        };
        let purger = tokio::spawn(crate::app::housekeeping::purge_loop(
            Arc::clone(&store),
            Arc::clone(&clock),
        ));
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let keys = Arc::new(ArcSwap::from_pointee(KeySnapshot::new(ring)));
        let refresher = tokio::spawn(refresh_loop(
            Arc::clone(&store),
            Arc::clone(&master),
            Arc::clone(&clock),
            Arc::clone(&keys),
        ));
        let config_issuer = config.issuer.clone();
        let clients = Arc::new(ClientCache::new(Arc::clone(&store)));
        let state = AppState {
            inner: Arc::new(Inner {
                token_endpoint: token_endpoint(&config, &clients, &store),
                device_authorization_endpoint: device_authorization_endpoint(
                    &config, &clients, &store,
                ),
                clients,
                config,
                store,
                clock,
                keys,
                metadata_json,
                stylesheet,
                cookie_names: CookieNames::for_issuer(&config_issuer),
                throttle,
                user_code_throttle,
                device_authorization_throttle,
                master: Arc::clone(&master),
                password_slots: Arc::new(Semaphore::new(cores)),
                dummy_password_hash,
            }),
        };
        Ok(Self {
            state,
            master,
            tasks: vec![refresher, pruner, purger],
        })
    }

    /// The shared state.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Re-reads signing keys now instead of waiting for the refresh interval.
    ///
    /// # Errors
    /// [`KeyError`] if the keys cannot be read or opened.
    pub async fn refresh_keys(&self) -> Result<bool, KeyError> {
        let now = self.state.clock().now();
        crate::app::keys::refresh_once(
            self.state.store().as_ref(),
            &self.master,
            now,
            &self.state.inner.keys,
        )
        .await
    }
}

impl Drop for App {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The token endpoint's context: the issuer and token lifetimes (seconds) of
/// `config`, clients looked up through the cache, the store.
fn token_endpoint(
    config: &Config,
    clients: &Arc<ClientCache>,
    store: &Arc<dyn Store>,
) -> TokenEndpoint {
    let tokens = &config.tokens;
    TokenEndpoint {
        issuer: config.issuer.clone(),
        access_token_ttl: tokens.access_token_ttl,
        // An id_token lives as long as the access token issued with it.
        id_token_ttl: tokens.access_token_ttl,
        refresh_token_ttl: tokens.refresh_token_ttl,
        refresh_token_reuse_grace: tokens.refresh_token_reuse_grace,
        clients: Arc::clone(clients) as Arc<dyn ClientDirectory>,
        store: Arc::clone(store),
    }
}

/// The device authorization endpoint's context: the device code lifetime and first
/// poll interval (seconds) of `config`, clients looked up through the cache, the store.
fn device_authorization_endpoint(
    config: &Config,
    clients: &Arc<ClientCache>,
    store: &Arc<dyn Store>,
) -> DeviceAuthorizationEndpoint {
    DeviceAuthorizationEndpoint {
        device_code_ttl: config.tokens.device_code_ttl,
        interval: config.tokens.device_poll_interval,
        clients: Arc::clone(clients) as Arc<dyn ClientDirectory>,
        store: Arc::clone(store),
    }
}

/// The two cookie names for this issuer.
#[derive(Debug, Clone, Copy)]
pub struct CookieNames {
    /// Holds the session id.
    pub session: &'static str,
    /// Holds the browser-binding value.
    pub browser: &'static str,
    /// Whether cookies get `Secure`.
    pub secure: bool,
}

impl CookieNames {
    /// `__Host-` names and `Secure` for an https issuer; plain names on http loopback.
    pub fn for_issuer(issuer: &str) -> Self {
        if issuer.starts_with("https://") {
            Self {
                session: "__Host-portcullis_session",
                browser: "__Host-portcullis_browser",
                secure: true,
            }
        } else {
            Self {
                session: "portcullis_session",
                browser: "portcullis_browser",
                secure: false,
            }
        }
    }
}

/// Hashes a random password once at start-up (≈ 15 ms, on a blocking thread).
async fn dummy_password_hash() -> Result<String, StartError> {
    let failed = |e: String| StartError::Login(format!("hashing the dummy password: {e}"));
    let password = portcullis_core::secret::generate_secret().map_err(|e| failed(e.to_string()))?;
    tokio::task::spawn_blocking(move || portcullis_core::user::hash_password(&password))
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(failed)
}

/// Opens the store, naming the database (without credentials) on failure. With
/// `create` unset (the admin CLI), a missing SQLite file is an error instead of a new
/// empty database: the CLI was most likely pointed at the wrong place. `database`
/// sizes the pool and bounds each call (README "Database outages").
///
/// # Errors
/// [`StartError::Store`].
pub async fn open_store(
    database_url: &str,
    database: &crate::app::config::DatabaseSettings,
    create: bool,
) -> Result<Arc<dyn Store>, StartError> {
    let fail = |message: String| StartError::Store {
        url: redact_url(database_url),
        source: StoreError::Other(message),
    };
    if !create
        && let Some(path) = crate::app::config::sqlite_path(database_url)
        && !path.exists()
    {
        return Err(fail(format!(
            "{} does not exist; run this command with the configuration and working directory of `portcullis serve` (or set PORTCULLIS_DATABASE_URL)",
            path.display()
        )));
    }
    secure_sqlite_path(database_url, false).map_err(fail)?;
    let options = database.connect_options(create);
    let store = portcullis_store::connect(database_url, &options)
        .await
        .map_err(|source| StartError::Store {
            url: redact_url(database_url),
            source,
        })?;
    secure_sqlite_path(database_url, true).map_err(fail)?;
    Ok(store)
}

/// Removes a password from a database URL for messages.
/// A database URL safe to print: the user and password (everything between `://` and
/// the last `@` before any `?`) become `***`, and the query string, which may carry a
/// `password=` parameter, is cut. Works on URLs that do not parse too (why: a
/// malformed URL is exactly when it gets printed).
pub fn redact_url(database_url: &str) -> String {
    let (base, query) = match database_url.split_once('?') {
        Some((base, _)) => (base, "?..."),
        None => (database_url, ""),
    };
    let Some((scheme, rest)) = base.split_once("://") else {
        return format!("{base}{query}");
    };
    match rest.rfind('@') {
        Some(at) => format!("{scheme}://***{}{query}", rest.get(at..).unwrap_or("")),
        None => format!("{base}{query}"),
    }
}

/// Owner-only SQLite files (they hold secret digests and password hashes).
///
/// Before opening (`after_open` unset): a missing data directory is created 0700 and a
/// missing database file is created empty with mode 0600, so that SQLite, which gives
/// its `-wal` and `-shm` files the mode of the database file, creates those 0600 too.
/// After opening: any of the three files still readable by others (from an older
/// start) is made 0600.
fn secure_sqlite_path(database_url: &str, after_open: bool) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let Some(path) = crate::app::config::sqlite_path(database_url) else {
        return Ok(());
    };
    if after_open {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            let file = std::path::PathBuf::from(file);
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| format!("cannot make {} owner-only: {e}", file.display()))?;
            }
        }
        return Ok(());
    }
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_credentials_even_from_urls_that_do_not_parse() {
        assert_eq!(
            redact_url("postgres://u:hunter2@db:5432/p"),
            "postgres://***@db:5432/p"
        );
        assert_eq!(
            redact_url("postgres://user:hunter2@127.0.0.1:notaport/db"),
            "postgres://***@127.0.0.1:notaport/db"
        );
        assert_eq!(redact_url("postgres://u:p@ss@db/p"), "postgres://***@db/p");
        assert_eq!(
            redact_url("postgres://u:pa/ss@127.0.0.1:1/db"),
            "postgres://***@127.0.0.1:1/db"
        );
        assert_eq!(
            redact_url("postgres://db/p?password=hunter2"),
            "postgres://db/p?..."
        );
        assert_eq!(
            redact_url("postgres://u:x@db/p?sslmode=require"),
            "postgres://***@db/p?..."
        );
        assert_eq!(redact_url("postgres://db/p"), "postgres://db/p");
        assert_eq!(redact_url("sqlite://./data/p.db"), "sqlite://./data/p.db");
    }
}
