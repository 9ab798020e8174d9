//! Configuration: the TOML file as written ([`FileConfig`], `deny_unknown_fields`),
//! resolved with environment overrides and defaults into a validated [`Config`].
//!
//! Precedence: environment variable > file > default. Every error names where the
//! value came from (file path or variable), the key, and what is wrong.

use portcullis_core::client::{Client, ClientRegistration, RecordSource, is_loopback};
use portcullis_core::user::UserRegistration;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default database: an SQLite file in `./portcullis-data`, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./portcullis-data/portcullis.db";
/// Default data directory when the database is not an SQLite file.
pub const DEFAULT_DATA_DIR: &str = "./portcullis-data";
/// Name of the master key file inside the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

/// Largest accepted `tokens.access_token_ttl`, in seconds (24 h). A retired signing key
/// rotated by the CLI stays published this long plus a grace.
pub const MAX_ACCESS_TOKEN_TTL: i64 = 86_400;

/// Environment variable overriding `issuer`.
pub const ENV_ISSUER: &str = "PORTCULLIS_ISSUER";
/// Environment variable overriding `listen`.
pub const ENV_LISTEN: &str = "PORTCULLIS_LISTEN";
/// Environment variable overriding `database_url`.
pub const ENV_DATABASE_URL: &str = "PORTCULLIS_DATABASE_URL";
/// Environment variable holding the master key: base64 of 32 bytes.
pub const ENV_MASTER_KEY: &str = "PORTCULLIS_MASTER_KEY";

/// The configuration file, as written. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Issuer identifier: `https://…`, or `http://` on a loopback host.
    pub issuer: Option<String>,
    /// Socket address to listen on, e.g. `127.0.0.1:8080`.
    pub listen: Option<String>,
    /// `sqlite://path` or `postgres://…`.
    pub database_url: Option<String>,
    /// Networks (CIDR, e.g. `10.0.0.0/8`) of the proxies whose `X-Forwarded-For` is
    /// believed; default none (the client address is always the TCP peer).
    pub trusted_proxies: Option<Vec<String>>,
    /// Connection pool and timeouts.
    #[serde(default)]
    pub database: FileDatabase,
    /// Token lifetimes in seconds.
    #[serde(default)]
    pub tokens: FileTokens,
    /// Signing key rotation.
    #[serde(default)]
    pub keys: FileKeys,
    /// Clients upserted at start-up.
    #[serde(default)]
    pub clients: Vec<FileClient>,
    /// Users upserted at start-up.
    #[serde(default)]
    pub users: Vec<FileUser>,
    /// Look of the login, consent and error pages.
    #[serde(default)]
    pub branding: FileBranding,
    /// `GET /metrics` (Prometheus text format).
    #[serde(default)]
    pub metrics: FileMetrics,
}

/// `[metrics]`: who may read `GET /metrics`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileMetrics {
    /// Serve `/metrics`; default true.
    pub enabled: Option<bool>,
    /// Networks (CIDR, e.g. `10.0.0.0/8`) of the peers allowed to scrape; default
    /// `["127.0.0.1/32", "::1/128"]`. Others, and any request carrying a proxy's
    /// forwarding header, get 404.
    pub allow: Option<Vec<String>>,
}

/// `[database]`: the connection pool and its time limits (README "Database outages").
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDatabase {
    /// Most connections per node; default 16, 1 to 1 000 (SQLite uses at most 8).
    pub max_connections: Option<u32>,
    /// Seconds a request waits for a connection, opening one included (the connect
    /// timeout), before it fails with 503; default 3, 1 to 60.
    pub acquire_timeout: Option<u64>,
    /// Seconds PostgreSQL lets one statement run (and a transaction sit idle); default
    /// 5, 1 to 600. On PostgreSQL a store call gets `acquire_timeout +
    /// statement_timeout` in all, whatever the server does, then fails with 503
    /// (SQLite is bounded by `acquire_timeout` and its busy timeout instead).
    pub statement_timeout: Option<u64>,
}

/// `[branding]`: how the pages people see look.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBranding {
    /// Product name in titles and headings; default `Portcullis`. At most 64 characters.
    pub product_name: Option<String>,
    /// Logo image URL (https, or http on a loopback host); allowed by the pages' CSP.
    pub logo_url: Option<String>,
    /// Accent colour of buttons and links, `#rrggbb`; default `#1f5fbf`.
    pub accent_color: Option<String>,
}

/// `[keys]`: signing key rotation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileKeys {
    /// Seconds between `portcullis keys rotate` and the new key's first signature;
    /// every node publishes the new key meanwhile. Default 120, at least 100 (one
    /// node key refresh, 10 s, plus the JWK Set's `max-age`, 60 s, plus 30 s of clock
    /// skew), at most 86 400.
    pub publication_lead: Option<i64>,
}

/// `[tokens]`: lifetimes in seconds.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTokens {
    /// Access token lifetime; default 900 (15 min), at most 86 400.
    pub access_token_ttl: Option<i64>,
    /// Refresh token lifetime; default 2 592 000 (30 days).
    pub refresh_token_ttl: Option<i64>,
    /// Authorization code lifetime; default 60, at most 600 (RFC 6749 §4.1.2).
    pub authorization_code_ttl: Option<i64>,
    /// Device code and user code lifetime (RFC 8628 §3.2 `expires_in`); default 600,
    /// at most 3 600.
    pub device_code_ttl: Option<i64>,
    /// Minimum seconds between a device's polls of the token endpoint (RFC 8628 §3.2
    /// `interval`); default 5, 1 to 60.
    pub device_poll_interval: Option<i64>,
    /// Browser session (single sign-on) lifetime; default 36 000 (10 h), at most
    /// 2 592 000 (30 days).
    pub session_ttl: Option<i64>,
    /// Seconds after a refresh token's rotation during which presenting it again is
    /// refused without revoking its family (for clients that race themselves);
    /// default 0 (every reuse revokes), at most 60.
    pub refresh_token_reuse_grace: Option<i64>,
}

/// `[[clients]]`: one registered client (RFC 7591 §2 metadata names).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileClient {
    /// Required.
    pub client_id: String,
    /// Display name for consent pages.
    pub client_name: Option<String>,
    /// ≥ 32 characters; omitted means a public client.
    pub client_secret: Option<SecretString>,
    /// `client_secret_basic` (default with a secret), `client_secret_post` or `none`.
    pub token_endpoint_auth_method: Option<String>,
    /// Exact redirect URIs.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Grant types; default `["authorization_code"]`.
    pub grant_types: Option<Vec<String>>,
    /// Scopes the client may request.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Resources it may request; the first is the default `aud`.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Exact post-logout redirect URIs.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// First-party client: skip the consent page.
    #[serde(default)]
    pub skip_consent: bool,
    /// Resource servers this (confidential) client serves: it may introspect tokens
    /// whose `aud` includes one of them.
    #[serde(default)]
    pub introspection_audiences: Vec<String>,
    /// `RS256` (default) or `ES256`.
    pub id_token_signed_response_alg: Option<String>,
    /// Extra claims for its tokens.
    #[serde(default)]
    pub claims: Map<String, Value>,
}

/// `[[users]]`: one user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileUser {
    /// Login name.
    pub username: String,
    /// Hashed with argon2id at start-up; never stored in clear.
    pub password: SecretString,
    /// E-mail address.
    pub email: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Extra claims.
    #[serde(default)]
    pub claims: Map<String, Value>,
}

/// Token lifetimes in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetimes {
    /// Access token lifetime.
    pub access_token_ttl: i64,
    /// Refresh token lifetime.
    pub refresh_token_ttl: i64,
    /// Authorization code lifetime.
    pub authorization_code_ttl: i64,
    /// Device code lifetime.
    pub device_code_ttl: i64,
    /// Seconds a device waits between polls (RFC 8628 §3.2 `interval`).
    pub device_poll_interval: i64,
    /// Browser session lifetime: after it the user logs in again.
    pub session_ttl: i64,
    /// Reuse grace after a refresh token's rotation (0: none).
    pub refresh_token_reuse_grace: i64,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            access_token_ttl: 900,
            refresh_token_ttl: 2_592_000,
            authorization_code_ttl: 60,
            device_code_ttl: 600,
            device_poll_interval: portcullis_core::device::DEFAULT_POLL_INTERVAL,
            session_ttl: 36_000,
            refresh_token_reuse_grace: 0,
        }
    }
}

/// Where the master key comes from.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    /// `PORTCULLIS_MASTER_KEY`: base64 of 32 bytes.
    Env(SecretString),
    /// A file with mode 0600, created if missing.
    File(PathBuf),
}

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
    pub trusted_proxies: Vec<crate::app::net::IpNetwork>,
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
    /// Look of the pages.
    pub branding: Branding,
    /// Who may read `/metrics`.
    pub metrics: crate::app::metrics::MetricsConfig,
}

/// The resolved `[keys]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySettings {
    /// Seconds a rotated-in key is published before it signs.
    pub publication_lead: i64,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            publication_lead: crate::app::keys::DEFAULT_PUBLICATION_LEAD,
        }
    }
}

/// The resolved `[database]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseSettings {
    /// Most connections per node.
    pub max_connections: u32,
    /// Longest wait for a connection, opening one included.
    pub acquire_timeout: std::time::Duration,
    /// Longest PostgreSQL statement (and idle time inside a transaction).
    pub statement_timeout: std::time::Duration,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: std::time::Duration::from_secs(DEFAULT_ACQUIRE_TIMEOUT_SECONDS),
            statement_timeout: std::time::Duration::from_secs(DEFAULT_STATEMENT_TIMEOUT_SECONDS),
        }
    }
}

impl DatabaseSettings {
    /// The pool options for `portcullis_store::connect`; `create_if_missing` as given.
    pub fn connect_options(&self, create_if_missing: bool) -> portcullis_store::ConnectOptions {
        portcullis_store::ConnectOptions {
            max_connections: self.max_connections,
            acquire_timeout: self.acquire_timeout,
            statement_timeout: self.statement_timeout,
            create_if_missing,
        }
    }
}

/// Default `database.max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;
/// Default `database.acquire_timeout`, in seconds.
pub const DEFAULT_ACQUIRE_TIMEOUT_SECONDS: u64 = 3;
/// Default `database.statement_timeout`, in seconds.
pub const DEFAULT_STATEMENT_TIMEOUT_SECONDS: u64 = 5;

/// The resolved `[branding]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branding {
    /// Product name shown on every page.
    pub product_name: String,
    /// Logo URL, if any.
    pub logo_url: Option<Url>,
    /// `#rrggbb`.
    pub accent_color: String,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            product_name: "Portcullis".to_owned(),
            logo_url: None,
            accent_color: DEFAULT_ACCENT_COLOR.to_owned(),
        }
    }
}

/// Default accent colour (contrast ratio with white text ≥ 4.5, WCAG 2.1 AA).
pub const DEFAULT_ACCENT_COLOR: &str = "#1f5fbf";

/// A configuration error: where, which key, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ConfigError {
    /// The file path or environment variable the value came from.
    pub origin: String,
    /// The key and the problem.
    pub message: String,
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
        let pick = |var: &'static str, from_file: Option<String>| match env(var) {
            Some(v) => Some((var.to_owned(), v)),
            None => from_file.map(|v| (origin.clone(), v)),
        };
        let err = |at: &str, message: String| ConfigError {
            origin: at.to_owned(),
            message,
        };

        let listen = match pick(ENV_LISTEN, file.listen) {
            Some((at, v)) => v.parse::<SocketAddr>().map_err(|e| {
                err(
                    &at,
                    format!("`listen` = {v:?} is not a socket address like 127.0.0.1:8080 ({e})"),
                )
            })?,
            None => DEFAULT_LISTEN
                .parse()
                .map_err(|e| err("defaults", format!("`listen`: {e}")))?,
        };
        let issuer = match pick(ENV_ISSUER, file.issuer) {
            Some((at, v)) => {
                check_issuer(&v).map_err(|m| err(&at, format!("`issuer` = {v:?} {m}")))?
            }
            None if listen.ip().is_loopback() => format!("http://{listen}"),
            None => {
                return Err(err(
                    &origin,
                    format!(
                        "`issuer` is required when listening on a non-loopback address ({listen}); set it to the public https URL"
                    ),
                ));
            }
        };
        let database_url = match pick(ENV_DATABASE_URL, file.database_url) {
            Some((at, v)) => {
                if !(v.starts_with("sqlite:")
                    || v.starts_with("postgres://")
                    || v.starts_with("postgresql://"))
                {
                    return Err(err(
                        &at,
                        "`database_url` must start with sqlite:// or postgres://".to_owned(),
                    ));
                }
                v
            }
            None => DEFAULT_DATABASE_URL.to_owned(),
        };
        let trusted_proxies = match file.trusted_proxies {
            None => Vec::new(),
            Some(entries) => crate::app::net::parse_networks("trusted_proxies", &entries)
                .map_err(|m| err(&origin, m))?,
        };
        let data_dir = sqlite_path(&database_url)
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let master_key = match env(ENV_MASTER_KEY) {
            Some(v) => MasterKeySource::Env(SecretString::from(v)),
            None => MasterKeySource::File(data_dir.join(MASTER_KEY_FILE)),
        };
        let tokens = resolve_tokens(&file.tokens).map_err(|m| err(&origin, m))?;
        let keys = resolve_keys(&file.keys).map_err(|m| err(&origin, m))?;
        let database = resolve_database(&file.database).map_err(|m| err(&origin, m))?;

        let mut seen = BTreeSet::new();
        let mut clients = Vec::with_capacity(file.clients.len());
        for c in file.clients {
            if !seen.insert(c.client_id.clone()) {
                return Err(err(
                    &origin,
                    format!("[[clients]]: client_id `{}` appears twice", c.client_id),
                ));
            }
            let registration = ClientRegistration {
                client_id: c.client_id,
                client_name: c.client_name,
                client_secret: c.client_secret,
                secret_digest: None,
                token_endpoint_auth_method: c.token_endpoint_auth_method,
                redirect_uris: c.redirect_uris,
                post_logout_redirect_uris: c.post_logout_redirect_uris,
                grant_types: c.grant_types,
                scopes: c.scopes,
                audiences: c.audiences,
                skip_consent: c.skip_consent,
                introspection_audiences: c.introspection_audiences,
                id_token_signed_response_alg: c.id_token_signed_response_alg,
                claims: c.claims,
            };
            let client = registration
                .validate(RecordSource::Config, 0)
                .map_err(|e| err(&origin, format!("[[clients]]: {e}")))?;
            clients.push(client);
        }
        let mut seen = BTreeSet::new();
        let mut users = Vec::with_capacity(file.users.len());
        for u in file.users {
            if !seen.insert(u.username.clone()) {
                return Err(err(
                    &origin,
                    format!("[[users]]: username `{}` appears twice", u.username),
                ));
            }
            let registration = UserRegistration {
                username: u.username,
                password: u.password,
                email: u.email,
                name: u.name,
                claims: u.claims,
            };
            registration
                .check()
                .map_err(|e| err(&origin, format!("[[users]]: {e}")))?;
            users.push(registration);
        }
        let branding = resolve_branding(file.branding).map_err(|m| err(&origin, m))?;
        let metrics =
            crate::app::metrics::MetricsConfig::resolve(file.metrics.enabled, file.metrics.allow)
                .map_err(|m| err(&origin, m))?;
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
            branding,
            metrics,
        })
    }

    /// Whether both the issuer and the listen address are on loopback (required by
    /// `--dev`, whose demo credentials must not be reachable from the network).
    pub fn is_loopback_only(&self) -> bool {
        self.listen.ip().is_loopback() && Url::parse(&self.issuer).is_ok_and(|u| is_loopback(&u))
    }
}

/// Parses TOML text; errors carry toml's line, column and key.
///
/// # Errors
/// [`ConfigError`] with the file path as origin.
pub fn parse_file(path: &Path, text: &str) -> Result<FileConfig, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError {
        origin: path.display().to_string(),
        message: format!("invalid configuration: {}", e.to_string().trim_end()),
    })
}

/// RFC 8414 §2: the issuer is an https URL with no query or fragment; plain http is
/// accepted only on a loopback host (development). Returns it without a trailing slash.
fn check_issuer(value: &str) -> Result<String, String> {
    let url = Url::parse(value).map_err(|e| format!("is not a URL ({e})"))?;
    // The issuer is compared as a string (RFC 8414 §3.3): what is configured must be
    // exactly what is advertised, so refuse anything the URL parser would rewrite
    // (case, dot segments, default port, surrounding spaces).
    let normalized = url.as_str().trim_end_matches('/');
    if value.trim_end_matches('/') != normalized {
        return Err(format!("is not in normal form; write it as {normalized:?}"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment (RFC 8414 §2)".to_owned());
    }
    if url.path() != "/" {
        // RFC 8414 §3 puts the well-known segment before such a path; not supported yet.
        return Err(
            "must not have a path: serve Portcullis at the root of its own host name".to_owned(),
        );
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err("must use https; plain http is allowed only on a loopback host (127.0.0.1, [::1], localhost)".to_owned());
        }
        other => return Err(format!("has scheme `{other}`; it must be https")),
    }
    Ok(normalized.to_owned())
}

/// Validates `[branding]`: a short product name without control characters, an
/// https (or loopback http) logo URL, and a `#rrggbb` colour (so it can be written into
/// the stylesheet as is).
fn resolve_branding(file: FileBranding) -> Result<Branding, String> {
    let d = Branding::default();
    let product_name = match file.product_name {
        None => d.product_name,
        Some(name)
            if !name.trim().is_empty()
                && name.chars().count() <= 64
                && !name.chars().any(char::is_control) =>
        {
            name
        }
        Some(name) => {
            return Err(format!(
                "`branding.product_name` = {name:?} must be 1 to 64 characters without control characters"
            ));
        }
    };
    let logo_url = match file.logo_url {
        None => None,
        Some(value) => {
            let url = Url::parse(&value)
                .map_err(|e| format!("`branding.logo_url` = {value:?} is not a URL ({e})"))?;
            match url.scheme() {
                "https" => {}
                "http" if is_loopback(&url) => {}
                _ => {
                    return Err(format!(
                        "`branding.logo_url` = {value:?} must be an https URL (http only on a loopback host)"
                    ));
                }
            }
            Some(url)
        }
    };
    let accent_color = match file.accent_color {
        None => d.accent_color,
        Some(c)
            if c.len() == 7
                && c.starts_with('#')
                && c.chars().skip(1).all(|ch| ch.is_ascii_hexdigit()) =>
        {
            c.to_ascii_lowercase()
        }
        Some(c) => {
            return Err(format!(
                "`branding.accent_color` = {c:?} must be a colour like \"#1f5fbf\""
            ));
        }
    };
    Ok(Branding {
        product_name,
        logo_url,
        accent_color,
    })
}

fn resolve_database(file: &FileDatabase) -> Result<DatabaseSettings, String> {
    let d = DatabaseSettings::default();
    let seconds =
        |key: &str, value: Option<u64>, default: std::time::Duration, max: u64| match value {
            None => Ok(default),
            Some(v) if (1..=max).contains(&v) => Ok(std::time::Duration::from_secs(v)),
            Some(v) => Err(format!(
                "`database.{key}` = {v} must be between 1 and {max} seconds"
            )),
        };
    Ok(DatabaseSettings {
        max_connections: match file.max_connections {
            None => d.max_connections,
            Some(v) if (1..=1_000).contains(&v) => v,
            Some(v) => {
                return Err(format!(
                    "`database.max_connections` = {v} must be between 1 and 1000"
                ));
            }
        },
        acquire_timeout: seconds(
            "acquire_timeout",
            file.acquire_timeout,
            d.acquire_timeout,
            60,
        )?,
        statement_timeout: seconds(
            "statement_timeout",
            file.statement_timeout,
            d.statement_timeout,
            600,
        )?,
    })
}

fn resolve_keys(file: &FileKeys) -> Result<KeySettings, String> {
    let min = crate::app::keys::MIN_PUBLICATION_LEAD;
    match file.publication_lead {
        None => Ok(KeySettings::default()),
        Some(v) if (min..=MAX_ACCESS_TOKEN_TTL).contains(&v) => Ok(KeySettings {
            publication_lead: v,
        }),
        Some(v) => Err(format!(
            "`keys.publication_lead` = {v} must be between {min} and {MAX_ACCESS_TOKEN_TTL} seconds (a shorter lead lets a node sign with a key that other nodes or cached JWK Sets do not publish yet; for an emergency use `portcullis keys rotate --immediately`)"
        )),
    }
}

fn resolve_tokens(file: &FileTokens) -> Result<TokenLifetimes, String> {
    let d = TokenLifetimes::default();
    let check = |key: &str, value: Option<i64>, default: i64, max: i64| -> Result<i64, String> {
        match value {
            None => Ok(default),
            Some(v) if v >= 1 && v <= max => Ok(v),
            Some(v) => Err(format!(
                "`tokens.{key}` = {v} must be between 1 and {max} seconds"
            )),
        }
    };
    Ok(TokenLifetimes {
        access_token_ttl: check(
            "access_token_ttl",
            file.access_token_ttl,
            d.access_token_ttl,
            MAX_ACCESS_TOKEN_TTL,
        )?,
        refresh_token_ttl: check(
            "refresh_token_ttl",
            file.refresh_token_ttl,
            d.refresh_token_ttl,
            31_536_000,
        )?,
        authorization_code_ttl: check(
            "authorization_code_ttl",
            file.authorization_code_ttl,
            d.authorization_code_ttl,
            600,
        )?,
        device_code_ttl: check(
            "device_code_ttl",
            file.device_code_ttl,
            d.device_code_ttl,
            3_600,
        )?,
        device_poll_interval: check(
            "device_poll_interval",
            file.device_poll_interval,
            d.device_poll_interval,
            60,
        )?,
        session_ttl: check("session_ttl", file.session_ttl, d.session_ttl, 2_592_000)?,
        refresh_token_reuse_grace: match file.refresh_token_reuse_grace {
            None => d.refresh_token_reuse_grace,
            Some(v) if (0..=60).contains(&v) => v,
            Some(v) => {
                return Err(format!(
                    "`tokens.refresh_token_reuse_grace` = {v} must be between 0 and 60 seconds"
                ));
            }
        },
    })
}

/// The file path of an `sqlite:` URL (`sqlite://rel/path.db`, `sqlite:///abs.db`),
/// percent-decoded as sqlx decodes it (so `my%20dir` is the directory `my dir`).
/// `None` for other URLs, `:memory:`, or a path that is not valid UTF-8 once decoded.
pub fn sqlite_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    Some(PathBuf::from(decoded.as_ref()))
}

/// The stylesheet with the accent colour filled in (validated `#rrggbb` at load).
pub fn stylesheet(branding: &Branding) -> String {
    include_str!("../../templates/style.css").replace("ACCENT", &branding.accent_color)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(toml_text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let file = parse_file(Path::new("/etc/portcullis.toml"), toml_text)?;
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::resolve(Some(("/etc/portcullis.toml".into(), file)), &move |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    const FULL: &str = r#"
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
    fn trusted_proxies_default_to_none_and_name_the_key_of_a_bad_entry() {
        let c = Config::resolve(None, &|_| None).unwrap();
        assert!(c.trusted_proxies.is_empty());
        let c = resolve(
            r#"trusted_proxies = ["10.0.0.0/8", "127.0.0.1/32", "::1"]"#,
            &[],
        )
        .unwrap();
        assert_eq!(c.trusted_proxies.len(), 3);
        assert!(crate::app::net::any_contains(
            &c.trusted_proxies,
            "10.1.2.3".parse().unwrap()
        ));
        let e = resolve(r#"trusted_proxies = ["10.0.0.0/8", "lb.internal"]"#, &[]).unwrap_err();
        assert_eq!(e.origin, "/etc/portcullis.toml");
        assert!(
            e.message.contains("`trusted_proxies`") && e.message.contains("lb.internal"),
            "{e}"
        );
        let e = resolve(r#"trusted_proxies = ["10.0.0.1/8"]"#, &[]).unwrap_err();
        assert!(e.message.contains("10.0.0.0/8"), "{e}");
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

    #[test]
    fn rejects_plain_http_issuer_off_loopback_naming_the_variable() {
        let e = resolve("", &[(ENV_ISSUER, "http://id.example.com")]).unwrap_err();
        assert_eq!(e.origin, ENV_ISSUER);
        assert!(e.message.contains("must use https"), "{e}");
        let e = resolve("issuer = \"ftp://x\"", &[]).unwrap_err();
        assert_eq!(e.origin, "/etc/portcullis.toml");
    }

    #[test]
    fn keys_publication_lead_defaults_and_bounds() {
        let c = resolve("", &[]).unwrap();
        assert_eq!(c.keys.publication_lead, 120);
        let c = resolve("[keys]\npublication_lead = 100", &[]).unwrap();
        assert_eq!(c.keys.publication_lead, 100);
        let e = resolve("[keys]\npublication_lead = 99", &[]).unwrap_err();
        assert!(
            e.message
                .contains("`keys.publication_lead` = 99 must be between 100"),
            "{e}"
        );
        let e = resolve("[keys]\nlead = 100", &[]).unwrap_err();
        assert!(e.message.contains("lead"), "{e}");
    }

    #[test]
    fn rejects_unknown_keys_naming_the_key() {
        let e = resolve("isuer = \"https://x\"", &[]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("/etc/portcullis.toml: invalid configuration"),
            "{e}"
        );
        assert!(e.message.contains("isuer"), "{e}");
        let e = resolve("[tokens]\naccess_ttl = 5", &[]).unwrap_err();
        assert!(e.message.contains("access_ttl"), "{e}");
        let e = resolve("[[clients]]\nclient_id = \"a\"\nsecret = \"x\"", &[]).unwrap_err();
        assert!(e.message.contains("secret"), "{e}");
    }

    #[test]
    fn rejects_a_short_client_secret_naming_the_client() {
        let e = resolve("[[clients]]\nclient_id = \"svc\"\nclient_secret = \"tooshort\"\ngrant_types=[\"client_credentials\"]\naudiences=[\"https://a\"]", &[]).unwrap_err();
        assert!(
            e.message
                .contains("client `svc`: `client_secret` is 8 characters"),
            "{e}"
        );
    }

    #[test]
    fn rejects_registered_claim_names() {
        let text = FULL.replace(
            "claims = { tenant_id = \"abc-tenant\" }\n\n[[users]]",
            "claims = { sub = \"x\" }\n\n[[users]]",
        );
        let e = resolve(&text, &[]).unwrap_err();
        assert!(e.message.contains("`claims` sets `sub`"), "{e}");
        let text = FULL.replace(
            "name = \"Alice Example\"\nclaims = { tenant_id = \"abc-tenant\" }",
            "claims = { exp = 1 }",
        );
        let e = resolve(&text, &[]).unwrap_err();
        assert!(
            e.message.contains("user `alice`: `claims` sets `exp`"),
            "{e}"
        );
    }

    #[test]
    fn rejects_out_of_range_lifetimes_and_duplicates() {
        let e = resolve("[tokens]\naccess_token_ttl = 0", &[]).unwrap_err();
        assert!(e.message.contains("tokens.access_token_ttl"), "{e}");
        let e = resolve("[tokens]\naccess_token_ttl = 86401", &[]).unwrap_err();
        assert!(e.message.contains("between 1 and 86400"), "{e}");
        assert!(resolve("[tokens]\naccess_token_ttl = 86400", &[]).is_ok());
        let dup = "[[clients]]\nclient_id=\"a\"\nredirect_uris=[\"https://a/cb\"]\n[[clients]]\nclient_id=\"a\"\nredirect_uris=[\"https://a/cb\"]";
        assert!(
            resolve(dup, &[])
                .unwrap_err()
                .message
                .contains("appears twice")
        );
    }

    #[test]
    fn rejects_an_issuer_that_is_not_in_normal_form() {
        for bad in [
            "https://id.example.com/.",
            "https://id.example.com/foo/..",
            "HTTPS://ID.example.com",
            " https://id.example.com",
            "https://id.example.com:443",
        ] {
            let e = resolve("", &[(ENV_ISSUER, bad)]).unwrap_err();
            assert!(e.message.contains("normal form"), "{bad}: {e}");
        }
        let e = resolve("", &[(ENV_ISSUER, "https://user:pw@id.example.com")]).unwrap_err();
        assert!(e.message.contains("user name or password"), "{e}");
    }

    #[test]
    fn rejects_an_issuer_with_a_path() {
        let e = resolve("", &[(ENV_ISSUER, "https://id.example.com/auth")]).unwrap_err();
        assert!(e.message.contains("must not have a path"), "{e}");
        assert!(resolve("", &[(ENV_ISSUER, "https://id.example.com/")]).is_ok());
    }

    #[test]
    fn branding_defaults_and_accepts_a_valid_table() {
        assert_eq!(resolve("", &[]).unwrap().branding, Branding::default());
        let c = resolve(
            "[branding]\nproduct_name = \"Acme ID\"\nlogo_url = \"https://cdn.acme.example/logo.svg\"\naccent_color = \"#AA3300\"",
            &[],
        )
        .unwrap();
        assert_eq!(c.branding.product_name, "Acme ID");
        assert_eq!(
            c.branding.logo_url.unwrap().as_str(),
            "https://cdn.acme.example/logo.svg"
        );
        assert_eq!(c.branding.accent_color, "#aa3300");
    }

    #[test]
    fn rejects_bad_branding_naming_the_key() {
        for (toml_text, key) in [
            (
                "[branding]\naccent_color = \"red; } body { display: none\"",
                "branding.accent_color",
            ),
            (
                "[branding]\nlogo_url = \"http://cdn.example/logo.png\"",
                "branding.logo_url",
            ),
            (
                "[branding]\nlogo_url = \"javascript:alert(1)\"",
                "branding.logo_url",
            ),
            ("[branding]\nproduct_name = \"\"", "branding.product_name"),
            ("[branding]\ncolour = \"#000000\"", "colour"),
        ] {
            let e = resolve(toml_text, &[]).unwrap_err();
            assert!(e.message.contains(key), "{toml_text}: {e}");
        }
    }

    #[test]
    fn refresh_token_reuse_grace_defaults_to_zero_and_is_bounded() {
        assert_eq!(
            resolve("", &[]).unwrap().tokens.refresh_token_reuse_grace,
            0
        );
        let c = resolve("[tokens]\nrefresh_token_reuse_grace = 5", &[]).unwrap();
        assert_eq!(c.tokens.refresh_token_reuse_grace, 5);
        let e = resolve("[tokens]\nrefresh_token_reuse_grace = 61", &[]).unwrap_err();
        assert!(
            e.message.contains("tokens.refresh_token_reuse_grace"),
            "{e}"
        );
    }

    #[test]
    fn device_poll_interval_defaults_to_five_seconds_and_is_bounded() {
        let c = resolve("", &[]).unwrap();
        assert_eq!(c.tokens.device_poll_interval, 5);
        assert_eq!(c.tokens.device_code_ttl, 600);
        let c = resolve("[tokens]\ndevice_poll_interval = 1", &[]).unwrap();
        assert_eq!(c.tokens.device_poll_interval, 1);
        assert!(resolve("[tokens]\ndevice_poll_interval = 60", &[]).is_ok());
        for bad in [0, 61, -5] {
            let e = resolve(&format!("[tokens]\ndevice_poll_interval = {bad}"), &[]).unwrap_err();
            assert!(e.message.contains("tokens.device_poll_interval"), "{e}");
            assert!(e.message.contains("between 1 and 60"), "{e}");
        }
    }

    #[test]
    fn database_settings_default_to_16_connections_3_and_5_seconds_and_are_bounded() {
        use std::time::Duration;
        let c = resolve("", &[]).unwrap();
        assert_eq!(c.database, DatabaseSettings::default());
        assert_eq!(c.database.max_connections, 16);
        assert_eq!(c.database.acquire_timeout, Duration::from_secs(3));
        assert_eq!(c.database.statement_timeout, Duration::from_secs(5));
        let c = resolve(
            "[database]\nmax_connections = 4\nacquire_timeout = 1\nstatement_timeout = 2",
            &[],
        )
        .unwrap();
        let options = c.database.connect_options(true);
        assert_eq!(options.max_connections, 4);
        assert_eq!(options.acquire_timeout, Duration::from_secs(1));
        assert_eq!(options.statement_timeout, Duration::from_secs(2));
        assert_eq!(options.call_deadline(), Duration::from_secs(3));
        for (bad, key) in [
            ("max_connections = 0", "database.max_connections"),
            ("max_connections = 1001", "database.max_connections"),
            ("acquire_timeout = 0", "database.acquire_timeout"),
            ("acquire_timeout = 61", "database.acquire_timeout"),
            ("statement_timeout = 0", "database.statement_timeout"),
            ("statement_timeout = 601", "database.statement_timeout"),
        ] {
            let e = resolve(&format!("[database]\n{bad}"), &[]).unwrap_err();
            assert!(e.message.contains(key), "{bad}: {e}");
        }
        let e = resolve("[database]\nconnect_timeout = 3", &[]).unwrap_err();
        assert!(e.message.contains("connect_timeout"), "{e}");
    }

    #[test]
    fn session_ttl_defaults_to_ten_hours_and_is_bounded() {
        assert_eq!(resolve("", &[]).unwrap().tokens.session_ttl, 36_000);
        let e = resolve("[tokens]\nsession_ttl = 0", &[]).unwrap_err();
        assert!(e.message.contains("tokens.session_ttl"), "{e}");
    }

    #[test]
    fn rejects_a_non_loopback_listen_without_issuer() {
        let e = resolve("listen = \"0.0.0.0:8080\"", &[]).unwrap_err();
        assert!(e.message.contains("`issuer` is required"), "{e}");
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://./d/p.db"),
            Some(PathBuf::from("./d/p.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///var/p.db?mode=rwc"),
            Some(PathBuf::from("/var/p.db"))
        );
        assert_eq!(sqlite_path("postgres://x"), None);
        assert_eq!(
            sqlite_path("sqlite://./my%20dir/p.db"),
            Some(PathBuf::from("./my dir/p.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
