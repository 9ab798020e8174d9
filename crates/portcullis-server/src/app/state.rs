//! Application state and start-up: connect, load keys, apply the configuration, and
//! build the per-endpoint contexts (token, device authorization) once.

use crate::app::access_token::CLOCK_SKEW_SECONDS;
use crate::app::admin::{AdminError, sync_config};
use crate::app::clients::ClientCache;
use crate::app::clients::jwks_uri::ClientKeySets;
use crate::app::clients::metadata_documents::MetadataDocuments;
use crate::app::config::Config;
use crate::app::cross_origin::CorsOrigins;
use crate::app::database::{OpenStoreError, open_store};
use crate::app::device_cookie::DeviceCookies;
use crate::app::dpop::DpopVerifier;
use crate::app::dummy_password::DummyPasswordHash;
use crate::app::keyed_digests::{DigestKeys, key_unkeyed_user_codes};
use crate::app::keys::{KeyError, KeySnapshot, ensure_signing_keys, load_master_key, refresh_loop};
use crate::app::outbound::{Outbound, OutboundError};
use crate::app::throttle::{DeviceAuthorizationThrottle, LoginThrottle, UserCodeThrottle};
use arc_swap::ArcSwap;
use bytes::Bytes;
use portcullis_core::authorization::pending::sealed::SEALING_KEY_LABEL;
use portcullis_core::client::authentication::ClientDirectory;
use portcullis_core::client::authentication::assertion::{
    AudiencePolicy, ClientAssertionStore, ClientAssertionVerifier, MAX_ASSERTION_LIFETIME_SECONDS,
};
use portcullis_core::client::jwks::RemoteClientKeys;
use portcullis_core::device::authorization::DeviceAuthorizationEndpoint;
use portcullis_core::grants::token_endpoint::TokenEndpoint;
use portcullis_core::keys::{KeyRing, MasterKey};
use portcullis_core::{Clock, Store, StoreError};
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Why the server could not start. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or migrated (`database {url}: {source}`).
    #[error(transparent)]
    Store(#[from] OpenStoreError),
    /// Keys could not be prepared.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The configuration could not be applied.
    #[error("applying the configuration: {0}")]
    Admin(#[from] AdminError),
    /// Stored user-code digests could not be keyed (the start-up migration).
    #[error("keying stored user-code digests: {0}")]
    KeyedDigests(portcullis_core::StoreError),
    /// The `[outbound]` fetcher could not be built (a CA file).
    #[error(transparent)]
    Outbound(#[from] OutboundError),
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
    cors_origins: CorsOrigins,
    token_endpoint: TokenEndpoint,
    device_authorization_endpoint: DeviceAuthorizationEndpoint,
    metadata_json: ArcSwap<Bytes>,
    stylesheet: Bytes,
    cookie_names: CookieNames,
    throttle: Arc<LoginThrottle>,
    user_code_throttle: Arc<UserCodeThrottle>,
    device_authorization_throttle: Arc<DeviceAuthorizationThrottle>,
    master: Arc<MasterKey>,
    request_sealer: MasterKey,
    pushed_request_sealer: MasterKey,
    digest_keys: DigestKeys,
    device_cookies: DeviceCookies,
    dpop: DpopVerifier,
    password_slots: Arc<Semaphore>,
    dummy_password_hash: DummyPasswordHash,
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

    /// The origins some client allows, for CORS preflights (cached, see
    /// [`CorsOrigins`]).
    pub fn cors_origins(&self) -> &CorsOrigins {
        &self.inner.cors_origins
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
    /// The metadata document (RFC 8414), serialised at start-up and again by
    /// [`Self::refresh_metadata`].
    pub fn metadata_json(&self) -> Bytes {
        Bytes::clone(&self.inner.metadata_json.load())
    }
    /// Rebuilds the metadata document from the registered resources (their scopes go
    /// into `scopes_supported`); called at start-up and after `--dev` seeds its demo
    /// resource. A resource created with the CLI while serving shows at the next start.
    ///
    /// # Errors
    /// The store's, reading the resources.
    pub async fn refresh_metadata(&self) -> Result<(), StoreError> {
        let json = metadata_json(&self.inner.config, self.inner.store.as_ref()).await?;
        self.inner.metadata_json.store(Arc::new(json));
        Ok(())
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
    /// The key that seals pending authorization requests for the browser to carry
    /// (derived from the master key with HKDF, [`SEALING_KEY_LABEL`]).
    pub fn request_sealer(&self) -> &MasterKey {
        &self.inner.request_sealer
    }
    /// The key that seals pushed authorization requests at rest (RFC 9126; derived
    /// from the master key with HKDF, `pushed::SEALING_KEY_LABEL`).
    pub fn pushed_request_sealer(&self) -> &MasterKey {
        &self.inner.pushed_request_sealer
    }
    /// The keys of keyed digests (user codes, operator-chosen client secrets).
    pub fn digest_keys(&self) -> &DigestKeys {
        &self.inner.digest_keys
    }
    /// Device cookies: issued at sign-in, checked by the login throttle.
    pub fn device_cookies(&self) -> &DeviceCookies {
        &self.inner.device_cookies
    }
    /// DPoP proof checks and server nonces (RFC 9449).
    pub fn dpop(&self) -> &DpopVerifier {
        &self.inner.dpop
    }
    /// Permits for concurrent argon2id verifications (one per core).
    pub fn password_slots(&self) -> &Semaphore {
        &self.inner.password_slots
    }
    /// An argon2id hash of a random password, verified when the username is unknown
    /// so that unknown and known usernames take the same time (made in the background
    /// at start-up: [`DummyPasswordHash`]).
    pub fn dummy_password_hash(&self) -> &DummyPasswordHash {
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
        let digest_keys = DigestKeys::derive(&master)?;
        sync_config(store.as_ref(), &config, now, &digest_keys.client_secret).await?;
        let keyed = key_unkeyed_user_codes(store.as_ref(), &digest_keys.user_code)
            .await
            .map_err(StartError::KeyedDigests)?;
        if keyed > 0 {
            tracing::info!(rows = keyed, "keyed the digests of stored user codes");
        }
        let metadata_json = ArcSwap::from_pointee(
            metadata_json(&config, store.as_ref())
                .await
                .map_err(AdminError::from)?,
        );
        let stylesheet = Bytes::from(crate::app::config::stylesheet(&config.branding));
        // Not before the listener opens (issue 17: start-up ≈ 150 ms with it): the
        // first unknown-username login waits for it if it is not ready by then.
        let dummy_password_hash = DummyPasswordHash::new();
        let dummy_hasher = dummy_password_hash.prepare();
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
            config.registration.unused_client_ttl,
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
        let dpop =
            DpopVerifier::new(config.dpop, &config.issuer, &master).map_err(KeyError::from)?;
        let request_sealer = master
            .derive_sealing_key(SEALING_KEY_LABEL)
            .map_err(KeyError::from)?;
        let pushed_request_sealer = master
            .derive_sealing_key(portcullis_core::authorization::pushed::SEALING_KEY_LABEL)
            .map_err(KeyError::from)?;
        let outbound = Outbound::new(&config.outbound)?;
        let metadata_documents = config
            .registration
            .client_id_metadata_documents
            .then(|| MetadataDocuments::new(outbound.clone(), Arc::clone(&store)));
        let key_sets: Arc<dyn RemoteClientKeys> = Arc::new(ClientKeySets::new(outbound));
        let clients = Arc::new(ClientCache::new(
            Arc::clone(&store),
            Arc::clone(&digest_keys.client_secret),
            client_assertions(&config, &store, key_sets),
            Arc::clone(&clock),
            metadata_documents,
        ));
        let state = AppState {
            inner: Arc::new(Inner {
                token_endpoint: token_endpoint(&config, &clients, &store),
                device_authorization_endpoint: device_authorization_endpoint(
                    &config,
                    &clients,
                    &store,
                    &digest_keys,
                ),
                clients,
                cors_origins: CorsOrigins::new(Arc::clone(&store)),
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
                request_sealer,
                pushed_request_sealer,
                digest_keys,
                device_cookies: DeviceCookies::derive(&master).map_err(KeyError::from)?,
                dpop,
                password_slots: Arc::new(Semaphore::new(cores)),
                dummy_password_hash,
            }),
        };
        Ok(Self {
            state,
            master,
            tasks: vec![refresher, pruner, purger, dummy_hasher],
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

/// What checks `private_key_jwt` assertions (RFC 7523 §3): the issuer, the token
/// endpoint URL and the PAR endpoint URL (RFC 9126 §2) as audiences ([`AudiencePolicy::IssuerOrTokenEndpoint`]), the bounded
/// lifetime ([`MAX_ASSERTION_LIFETIME_SECONDS`]), the cluster's clock skew
/// ([`CLOCK_SKEW_SECONDS`]), and the shared `jti` record in the store.
fn client_assertions(
    config: &Config,
    store: &Arc<dyn Store>,
    remote_keys: Arc<dyn RemoteClientKeys>,
) -> ClientAssertionVerifier {
    ClientAssertionVerifier {
        issuer: config.issuer.clone(),
        token_endpoint: format!("{}{}", config.issuer, portcullis_proto::routes::TOKEN),
        pushed_authorization_request_endpoint: format!(
            "{}{}",
            config.issuer,
            portcullis_proto::routes::PUSHED_AUTHORIZATION_REQUEST
        ),
        audience_policy: AudiencePolicy::IssuerOrTokenEndpoint,
        max_lifetime: MAX_ASSERTION_LIFETIME_SECONDS,
        clock_skew: CLOCK_SKEW_SECONDS,
        replay: Arc::clone(store) as Arc<dyn ClientAssertionStore>,
        remote_keys: Some(remote_keys),
    }
}

/// The device authorization endpoint's context: the device code lifetime and first
/// poll interval (seconds) of `config`, clients looked up through the cache, the store,
/// the user-code digest key.
fn device_authorization_endpoint(
    config: &Config,
    clients: &Arc<ClientCache>,
    store: &Arc<dyn Store>,
    keys: &DigestKeys,
) -> DeviceAuthorizationEndpoint {
    DeviceAuthorizationEndpoint {
        device_code_ttl: config.tokens.device_code_ttl,
        interval: config.tokens.device_poll_interval,
        clients: Arc::clone(clients) as Arc<dyn ClientDirectory>,
        store: Arc::clone(store),
        user_code_key: Arc::clone(&keys.user_code),
    }
}

/// The cookie names for this issuer.
#[derive(Debug, Clone, Copy)]
pub struct CookieNames {
    /// Holds the session id.
    pub session: &'static str,
    /// Holds the browser-binding value.
    pub browser: &'static str,
    /// Holds the device cookie ([`crate::app::device_cookie`]).
    pub device: &'static str,
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
                device: "__Host-portcullis_device",
                secure: true,
            }
        } else {
            Self {
                session: "portcullis_session",
                browser: "portcullis_browser",
                device: "portcullis_device",
                secure: false,
            }
        }
    }
}

/// The serialised metadata document for `issuer`, with the scopes of the resources in
/// `store`.
async fn metadata_json(config: &Config, store: &dyn Store) -> Result<Bytes, StoreError> {
    let resources = store.resource_list().await?;
    let metadata = crate::app::discovery::metadata(
        &config.issuer,
        config.authorization.require_pushed_authorization_requests,
        &config.registration,
        &resources,
    );
    Ok(Bytes::from(
        serde_json::to_vec(&metadata).unwrap_or_default(),
    ))
}
