//! Configuration: the TOML file as written ([`FileConfig`], `deny_unknown_fields`),
//! resolved with environment overrides and defaults into a validated [`Config`].
//!
//! Precedence: environment variable > file > default. Every error names where the
//! value came from (file path or variable), the key, and what is wrong.
//!
//! One file per section, each with its resolved type, its `resolve_*`, its defaults and
//! bounds as named constants, and its tests: [`file`](mod@file) (the file as written,
//! parsing, [`ConfigError`]), [`server`] (`listen`, `issuer`, `trusted_proxies`),
//! [`database`], [`tokens`], [`keys`], [`clients`], [`users`], [`resources`], [`branding`],
//! [`metrics`], [`dpop`](mod@dpop), [`outbound`], [`registration`] and
//! [`authorization`] and [`tls`](mod@tls). [`Config::resolve`] calls them in turn.

pub mod authorization;
pub mod branding;
pub mod check;
pub mod clients;
pub mod database;
pub mod dpop;
pub mod file;
pub mod keys;
pub mod metrics;
pub mod outbound;
pub mod registration;
pub mod resources;
pub mod server;
pub mod tls;
pub mod tokens;
pub mod users;

pub use branding::{Branding, DEFAULT_ACCENT_COLOR, stylesheet};
pub use database::{
    DEFAULT_ACQUIRE_TIMEOUT_SECONDS, DEFAULT_DATA_DIR, DEFAULT_DATABASE_URL,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_STATEMENT_TIMEOUT_SECONDS, DatabaseSettings, ENV_DATABASE_URL,
    sqlite_path,
};
pub use dpop::DpopSettings;
pub use file::{
    ConfigError, FileBranding, FileClient, FileConfig, FileDatabase, FileDpop, FileKeys,
    FileMetrics, FileOutbound, FileRegistration, FileTokens, FileUser, parse_file,
};
pub use keys::{
    ENV_MASTER_KEY, ENV_MASTER_KEY_FILE, KeySettings, MASTER_KEY_FILE, MasterKeySource,
};
pub use metrics::MetricsConfig;
pub use outbound::OutboundSettings;
pub use registration::RegistrationSettings;
pub use server::{DEFAULT_LISTEN, ENV_ISSUER, ENV_LISTEN};
pub use tls::{AcmeSettings, CertificateSource, TlsSettings};
pub use tokens::{MAX_ACCESS_TOKEN_TTL, TokenLifetimes};

use crate::app::net::IpNetwork;
use file::Sources;
use portcullis_core::client::{Client, is_loopback};
use portcullis_core::resource::Resource;
use portcullis_core::user::UserRegistration;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

/// The resolved, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Issuer identifier without a trailing slash, e.g. `http://127.0.0.1:8080`.
    pub issuer: String,
    /// Listen address.
    pub listen: SocketAddr,
    /// Database URL.
    pub database_url: String,
    /// Peers whose `X-Forwarded-For` gives the client address (empty: none).
    pub trusted_proxies: Vec<IpNetwork>,
    /// Pool size and time limits of the database connections.
    pub database: DatabaseSettings,
    /// Directory for the SQLite file, the master key file and dev credentials.
    pub data_dir: PathBuf,
    /// Master key source.
    pub master_key: MasterKeySource,
    /// Token lifetimes.
    pub tokens: TokenLifetimes,
    /// Signing key rotation.
    pub keys: KeySettings,
    /// Validated clients from the file (timestamps are set when stored).
    pub clients: Vec<Client>,
    /// Users from the file, checked but not yet hashed (hashing happens at start-up).
    pub users: Vec<UserRegistration>,
    /// Validated `[[resources]]` (timestamps are set when stored).
    pub resources: Vec<Resource>,
    /// Look of the pages.
    pub branding: Branding,
    /// Who may read `/metrics`.
    pub metrics: MetricsConfig,
    /// DPoP proof window and server nonces (RFC 9449).
    pub dpop: DpopSettings,
    /// `[authorization]`.
    pub authorization: authorization::AuthorizationSettings,
    /// The guarded door for fetches made on a client's behalf.
    pub outbound: OutboundSettings,
    /// Clients that identify themselves (client ID metadata documents).
    pub registration: RegistrationSettings,
    /// `[tls]`: built-in TLS (`None`: plain HTTP, for loopback or behind a proxy).
    pub tls: Option<TlsSettings>,
}

impl Config {
    /// Reads and resolves a configuration file (or none) with the process environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file or variable, the key, and the problem.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let file = match path {
            None => None,
            Some(path) => {
                let origin = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    origin: origin.clone(),
                    message: format!("cannot read the configuration file: {e}"),
                })?;
                Some((origin, parse_file(path, &text)?))
            }
        };
        Self::resolve(file, &|name| {
            std::env::var(name).ok().filter(|v| !v.is_empty())
        })
    }

    /// Applies environment overrides and defaults to a parsed file, and validates.
    /// `file` is `(origin, parsed)`; `env` looks up a variable.
    ///
    /// # Errors
    /// [`ConfigError`] for the first problem found.
    pub fn resolve(
        file: Option<(String, FileConfig)>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let (origin, file) = file.unwrap_or_else(|| ("defaults".to_owned(), FileConfig::default()));
        let sources = Sources {
            origin: &origin,
            env,
        };
        let in_file = |message| sources.in_file(message);

        let listen = server::resolve_listen(&sources, file.listen)?;
        let issuer = server::resolve_issuer(&sources, file.issuer, listen)?;
        let database_url = database::resolve_database_url(&sources, file.database_url)?;
        let trusted_proxies =
            server::resolve_trusted_proxies(file.trusted_proxies).map_err(in_file)?;
        let data_dir = database::data_dir(&database_url);
        let master_key = keys::resolve_master_key(env, &data_dir);
        let tokens = tokens::resolve_tokens(&file.tokens).map_err(in_file)?;
        let keys = keys::resolve_keys(&file.keys).map_err(in_file)?;
        let database = database::resolve_database(&file.database).map_err(in_file)?;
        let authorization =
            authorization::resolve_authorization(&file.authorization).map_err(in_file)?;
        let clients = clients::resolve_clients(file.clients, authorization.default_profile)
            .map_err(in_file)?;
        let users = users::resolve_users(file.users).map_err(in_file)?;
        let resources = resources::resolve_resources(file.resources).map_err(in_file)?;
        let branding = branding::resolve_branding(file.branding).map_err(in_file)?;
        let metrics = metrics::resolve_metrics(file.metrics).map_err(in_file)?;
        let dpop = dpop::resolve_dpop(&file.dpop).map_err(in_file)?;
        let outbound = outbound::resolve_outbound(file.outbound).map_err(in_file)?;
        let registration =
            registration::resolve_registration(file.registration, authorization.default_profile)
                .map_err(in_file)?;
        let tls = tls::resolve_tls(file.tls, &issuer).map_err(in_file)?;
        Ok(Self {
            issuer,
            listen,
            database_url,
            trusted_proxies,
            database,
            data_dir,
            master_key,
            tokens,
            keys,
            clients,
            users,
            resources,
            branding,
            metrics,
            dpop,
            authorization,
            outbound,
            registration,
            tls,
        })
    }

    /// Whether both the issuer and the listen address are on loopback (required by
    /// `--dev`, whose demo credentials must not be reachable from the network).
    pub fn is_loopback_only(&self) -> bool {
        self.listen.ip().is_loopback() && Url::parse(&self.issuer).is_ok_and(|u| is_loopback(&u))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn resolve(toml_text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let file = parse_file(Path::new("/etc/portcullis.toml"), toml_text)?;
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::resolve(Some(("/etc/portcullis.toml".into(), file)), &move |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    pub(super) const FULL: &str = r#"
issuer = "http://127.0.0.1:18080"
listen = "127.0.0.1:18080"
database_url = "sqlite:///var/lib/portcullis/portcullis.db"

[tokens]
access_token_ttl = 900
refresh_token_ttl = 2592000
authorization_code_ttl = 60
device_code_ttl = 600
device_poll_interval = 5

[[clients]]
client_id = "web"
client_secret = "0123456789abcdef0123456789abcdef"
token_endpoint_auth_method = "client_secret_basic"
redirect_uris = ["https://app.example.com/callback"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "email", "offline_access", "read:orders"]
audiences = ["https://api.example.com"]
post_logout_redirect_uris = ["https://app.example.com/"]
skip_consent = false
id_token_signed_response_alg = "RS256"
claims = { tenant_id = "abc-tenant" }

[[users]]
username = "alice"
password = "correct horse battery staple"
email = "alice@example.com"
name = "Alice Example"
claims = { tenant_id = "abc-tenant" }
"#;

    #[test]
    fn accepts_the_documented_example() {
        let c = resolve(FULL, &[]).unwrap();
        assert_eq!(c.issuer, "http://127.0.0.1:18080");
        assert_eq!(c.listen.port(), 18080);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/portcullis"));
        assert_eq!(c.clients.len(), 1);
        assert_eq!(c.clients[0].claims["tenant_id"], "abc-tenant");
        assert_eq!(c.users.len(), 1);
        assert_eq!(c.tokens, TokenLifetimes::default());
    }

    #[test]
    fn defaults_without_a_file() {
        let c = Config::resolve(None, &|_| None).unwrap();
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.data_dir, PathBuf::from("./portcullis-data"));
        assert!(matches!(c.master_key, MasterKeySource::File(ref p) if p.ends_with("master.key")));
    }

    #[test]
    fn environment_overrides_the_file() {
        let c = resolve(
            FULL,
            &[
                (ENV_ISSUER, "https://id.example.com/"),
                (ENV_LISTEN, "0.0.0.0:9000"),
                (ENV_DATABASE_URL, "postgres://db/p"),
            ],
        )
        .unwrap();
        assert_eq!(c.issuer, "https://id.example.com");
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.database_url, "postgres://db/p");
        assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    }
}
