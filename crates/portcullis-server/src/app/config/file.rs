//! The configuration file as written: [`FileConfig`] and its tables, every key
//! optional and every table `deny_unknown_fields` (a misspelt key is an error naming
//! it, never a silent default); [`parse_file`]; and [`ConfigError`], which names where
//! a value came from (the file path or the environment variable), the key, and what is
//! wrong.

use secrecy::SecretString;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::Path;

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

/// A configuration error: where, which key, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ConfigError {
    /// The file path or environment variable the value came from.
    pub origin: String,
    /// The key and the problem.
    pub message: String,
}

/// Where values come from while a file is resolved: the file (named by its origin,
/// `defaults` without one) and the environment, which wins (precedence: environment
/// variable > file > default).
pub(super) struct Sources<'a> {
    /// The file path, or `defaults`.
    pub(super) origin: &'a str,
    /// Looks up an environment variable (`None`: unset or empty).
    pub(super) env: &'a dyn Fn(&str) -> Option<String>,
}

impl Sources<'_> {
    /// `(where, value)`: the variable `var` if it is set, else the file's value.
    pub(super) fn pick(
        &self,
        var: &'static str,
        from_file: Option<String>,
    ) -> Option<(String, String)> {
        match (self.env)(var) {
            Some(v) => Some((var.to_owned(), v)),
            None => from_file.map(|v| (self.origin.to_owned(), v)),
        }
    }

    /// An error about a value from the file (or the defaults).
    pub(super) fn in_file(&self, message: String) -> ConfigError {
        error_at(self.origin, message)
    }
}

/// An error about a value from `origin` (a file path, a variable, or `defaults`).
pub(super) fn error_at(origin: &str, message: String) -> ConfigError {
    ConfigError {
        origin: origin.to_owned(),
        message,
    }
}

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
    /// The resource registry (RFC 8707 resources and their scopes), upserted at
    /// start-up.
    #[serde(default)]
    pub resources: Vec<super::resources::FileResource>,
    /// Look of the login, consent and error pages.
    #[serde(default)]
    pub branding: FileBranding,
    /// `GET /metrics` (Prometheus text format).
    #[serde(default)]
    pub metrics: FileMetrics,
    /// DPoP (RFC 9449): proof window and server nonces.
    #[serde(default)]
    pub dpop: FileDpop,
    /// The authorization endpoint's server-wide policy (RFC 9126 pushed requests).
    #[serde(default)]
    pub authorization: FileAuthorization,
    /// The guarded door for fetches made on a client's behalf.
    #[serde(default)]
    pub outbound: FileOutbound,
    /// Clients that identify themselves (client ID metadata documents).
    #[serde(default)]
    pub registration: FileRegistration,
    /// Built-in TLS (`[tls]`, with `[tls.acme]`); default none (plain HTTP).
    pub tls: Option<super::tls::FileTls>,
}

/// `[authorization]`: server-wide rules of the authorization endpoint.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAuthorization {
    /// RFC 9126 §5: every client must push its authorization requests to `/par` and
    /// send only `client_id` and `request_uri` to `/authorize`; default false.
    pub require_pushed_authorization_requests: Option<bool>,
    /// The `profile` of every `[[clients]]` entry that names none: `default` or
    /// `fapi2` (FAPI 2.0 Security Profile, `docs/fapi2.md`); default `default`.
    pub default_profile: Option<String>,
}

/// `[outbound]`: the policy of fetches made on a client's behalf (CONVENTIONS §14).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOutbound {
    /// Networks (CIDR, e.g. `10.0.0.0/8`) that may be fetched from although they are
    /// loopback, private, link-local or otherwise special-purpose; default none.
    pub allow_networks: Option<Vec<String>>,
    /// PEM files of certificate authorities trusted besides the system's roots.
    pub ca_certificates: Option<Vec<String>>,
    /// Seconds to establish a connection; default 3, 1 to 60.
    pub connect_timeout: Option<u64>,
    /// Seconds for the whole exchange, body included; default 5, 1 to 60.
    pub timeout: Option<u64>,
}

/// `[registration]`: clients that identify themselves.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRegistration {
    /// Accept `client_id`s that are https URLs of client ID metadata documents
    /// (draft-ietf-oauth-client-id-metadata-document); default true.
    pub client_id_metadata_documents: Option<bool>,
    /// RFC 7591 dynamic registration: `off` (default), `open`, or
    /// `initial_access_token`.
    pub mode: Option<String>,
    /// RFC 7591 §3 initial access tokens accepted in `initial_access_token` mode, as
    /// lowercase hex SHA-256 digests of the tokens (64 characters); default none (the
    /// CLI's `registration token create` stores more in the database).
    pub initial_access_tokens: Option<Vec<String>>,
    /// Most dynamically registered clients at once; default 1000.
    pub max_dynamic_clients: Option<u64>,
    /// Registrations accepted per hour from one address (IPv6 by /64); default 10.
    pub registrations_per_hour: Option<u32>,
    /// Seconds a dynamic client may go unused before housekeeping deletes it; default
    /// 2592000 (30 days).
    pub unused_client_ttl: Option<i64>,
}

/// `[dpop]`: how DPoP proofs are accepted (RFC 9449).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDpop {
    /// Require a server nonce in every proof at the token endpoint (RFC 9449 §8):
    /// a proof without the current one is answered `use_dpop_nonce` with a fresh
    /// `DPoP-Nonce`; default false.
    pub require_nonce: Option<bool>,
    /// Seconds a proof is accepted after its `iat` (and its `jti` remembered against
    /// replay); default 300, 10 to 3 600.
    pub proof_max_age: Option<u64>,
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
    /// Lifetime of a pushed authorization request's `request_uri` (RFC 9126 §2.2
    /// `expires_in`); default 60, at most 600.
    pub par_ttl: Option<i64>,
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
    /// `client_secret_basic` (default with a secret), `client_secret_post`,
    /// `private_key_jwt` (default with `jwks`) or `none`.
    pub token_endpoint_auth_method: Option<String>,
    /// RFC 7591 §2 `jwks`: an inline RFC 7517 JWK Set of the client's **public** keys,
    /// `{ keys = [ { kty = "EC", crv = "P-256", x = "…", y = "…", kid = "…" } ] }`,
    /// for `private_key_jwt` (RFC 7523 §2.2). A private member (`d`, `p`, `q`, `dp`,
    /// `dq`, `qi`, `k`) is a start-up error naming the client.
    pub jwks: Option<Value>,
    /// RFC 7591 §2 `jwks_uri`: the https URL of the client's public keys (fetched
    /// through `[outbound]`, cached), for `private_key_jwt`; not together with `jwks`.
    pub jwks_uri: Option<String>,
    /// Exact redirect URIs.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Grant types; default `["authorization_code"]`.
    pub grant_types: Option<Vec<String>>,
    /// Scopes the client may request.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Scopes a request without `scope` gets when no requested registered resource
    /// has `default_scopes` (RFC 6749 §3.3); a subset of `scopes`; default none.
    #[serde(default)]
    pub default_scopes: Vec<String>,
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
    /// Exact web origins (`https://app.example.com`: scheme, host, port; no path, no
    /// wildcard) a browser page may call the token, revocation, device authorization
    /// and UserInfo endpoints from (CORS). Default: the origins of `redirect_uris`.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// `RS256` (default) or `ES256`.
    pub id_token_signed_response_alg: Option<String>,
    /// Extra claims for its tokens.
    #[serde(default)]
    pub claims: Map<String, Value>,
    /// RFC 9449 §5.2: every token request must carry a DPoP proof, so all its access
    /// tokens are DPoP-bound; default false.
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 §6: `/authorize` accepts this client's requests only as a
    /// `request_uri` from the pushed authorization request endpoint; default false.
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// `default` or `fapi2`: the FAPI 2.0 Security Profile (PAR, PKCE S256,
    /// private_key_jwt, DPoP, https redirect URIs, 60 s codes; `docs/fapi2.md`);
    /// default `[authorization] default_profile`.
    pub profile: Option<String>,
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

#[cfg(test)]
mod tests {
    use crate::app::config::tests::resolve;

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
}
