//! Registered clients (RFC 6749 §2, RFC 7591 §2 metadata names) and the validation
//! shared by the configuration file and the admin CLI.

pub mod authentication;
pub mod dynamic;
pub mod jwks;
pub mod metadata_document;
pub mod origin;
pub mod profile;
pub mod redirect_uri;
pub mod registration_rules;
mod secrets;

pub use jwks::ClientJwks;
pub use profile::ClientProfile;
pub use secrets::{CLIENT_SECRET_DIGEST_LABEL, ClientSecretDigest, ClientSecrets};

use crate::UnixTime;
use crate::keys::SigningAlgorithm;
use crate::scope::is_scope_token;
use crate::secret::SecretDigest;
use crate::store::StoreError;
use async_trait::async_trait;
use portcullis_proto::grant::{GrantType, TokenEndpointAuthMethod};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use url::Url;

/// Minimum length of a client secret chosen by an operator (characters). Generated
/// secrets are 43 characters of base64url (256 bits).
pub const MIN_CLIENT_SECRET_LEN: usize = 32;

/// Claim names that protocol logic owns; configuration may not set them
/// (RFC 7519 §4.1, RFC 9068 §2.2, OIDC Core §2 and §5.1).
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "scope",
    "cnf",
    "act",
    "may_act",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "c_hash",
    "s_hash",
    "sid",
    "typ",
    "email",
    "email_verified",
    "name",
    "preferred_username",
    "updated_at",
];

/// Where a record came from: config records are re-synchronised at every start
/// (config as code), admin records only change through the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordSource {
    /// Declared in the configuration file.
    Config,
    /// Created with the admin CLI (or `--dev`).
    Admin,
    /// Fetched from the client's own metadata document (its `client_id` is an https
    /// URL, [`metadata_document`]); stored so codes and tokens can refer to it, and
    /// re-read from its URL whenever the cached copy expires. Nobody vetted it.
    MetadataDocument,
    /// Registered by the client itself at the registration endpoint (RFC 7591) and
    /// managed with its registration access token (RFC 7592): [`dynamic`]. Nobody
    /// vetted it; config sync never deletes or overwrites it.
    Dynamic,
}

impl RecordSource {
    /// Storage spelling: `config` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Admin => "admin",
            Self::MetadataDocument => "metadata_document",
            Self::Dynamic => "dynamic",
        }
    }

    /// Parses the storage spelling.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "config" => Some(Self::Config),
            "admin" => Some(Self::Admin),
            "metadata_document" => Some(Self::MetadataDocument),
            "dynamic" => Some(Self::Dynamic),
            _ => None,
        }
    }
}

/// A registered client as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    /// RFC 6749 §2.2 client identifier.
    pub client_id: String,
    /// Display name for consent pages; defaults to the client_id.
    pub client_name: Option<String>,
    /// `None` for a public client and a `private_key_jwt` client.
    pub secrets: Option<ClientSecrets>,
    /// How it authenticates at the token endpoint.
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    /// RFC 7591 §2 `jwks`: the public keys of a `private_key_jwt` client (RFC 7523
    /// §2.2); `None` for every other method.
    pub jwks: Option<ClientJwks>,
    /// RFC 7591 §2 `jwks_uri`: the https URL of the public keys of a `private_key_jwt`
    /// client, fetched (and cached) through the server's guarded door; `None` for every
    /// other method and when `jwks` is inline (never both).
    pub jwks_uri: Option<String>,
    /// Exact redirect URIs (RFC 6749 §3.1.2).
    pub redirect_uris: Vec<String>,
    /// Exact post-logout redirect URIs (OIDC RP-Initiated Logout §3).
    pub post_logout_redirect_uris: Vec<String>,
    /// Grants it may use.
    pub grant_types: Vec<GrantType>,
    /// Scopes it may request.
    pub scopes: Vec<String>,
    /// RFC 6749 §3.3 default: granted when a request has no `scope` and no requested
    /// registered resource has `default_scopes` ([`crate::resource::default_scopes`]);
    /// ⊆ `scopes`. Empty (the default): such a request is refused with `invalid_scope`.
    pub default_scopes: Vec<String>,
    /// Resources it may request (RFC 8707); the first is the default `aud`.
    pub audiences: Vec<String>,
    /// First-party client: no consent page.
    pub skip_consent: bool,
    /// Resource servers (RFC 8707 resource URIs) this client serves: besides its own
    /// tokens, it may introspect tokens whose `aud` includes one of them (RFC 7662 §4
    /// leaves the policy to the server).
    pub introspection_audiences: Vec<String>,
    /// Exact web origins (RFC 6454 §6.2) a browser page may call the CORS-enabled
    /// endpoints from for this client; empty means the origins of `redirect_uris`
    /// ([`Client::web_origins`], [`origin`]).
    pub allowed_origins: Vec<String>,
    /// Algorithm of its id_tokens.
    pub id_token_signed_response_alg: SigningAlgorithm,
    /// Extra claims added to its tokens.
    pub claims: Map<String, Value>,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request must carry a DPoP
    /// proof (`invalid_dpop_proof` without one), so all its access tokens are
    /// DPoP-bound. Default `false`: a proof is optional.
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 §6 `require_pushed_authorization_requests`: the authorization endpoint
    /// accepts this client's requests only as a `request_uri` from the pushed
    /// authorization request endpoint. Default `false`.
    pub require_pushed_authorization_requests: bool,
    /// Which rules it is held to ([`profile`]): the default, or the FAPI 2.0 Security
    /// Profile (which forces `dpop_bound_access_tokens` and
    /// `require_pushed_authorization_requests` on).
    pub profile: ClientProfile,
    /// Config file or admin CLI.
    pub source: RecordSource,
    /// Seconds since the epoch.
    pub created_at: UnixTime,
    /// Seconds since the epoch.
    pub updated_at: UnixTime,
}

impl Client {
    /// Whether the client is registered for `grant`.
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether it is a public client (RFC 6749 §2.1: no credentials, authenticates
    /// with `none`): native and browser apps, which must use PKCE.
    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method == TokenEndpointAuthMethod::None
    }

    /// Whether a user's approval is remembered for this client. Not for a client known
    /// only by its metadata document: nobody vetted it, and its document (name,
    /// redirect URIs) can change at any time, so its consent page is shown every time
    /// (issue 14 item 5). Nor for a dynamically registered client: nobody vetted it
    /// either, and it can change its metadata with RFC 7592 at any time.
    pub fn remembers_consent(&self) -> bool {
        !self.is_self_registered()
    }

    /// Whether the client registered itself (a metadata document or RFC 7591): the
    /// consent page labels it unverified and it never skips consent.
    pub fn is_self_registered(&self) -> bool {
        matches!(
            self.source,
            RecordSource::MetadataDocument | RecordSource::Dynamic
        )
    }
}

/// The `clients` table.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// The client with this id, if any.
    async fn client_get(&self, client_id: &str) -> Result<Option<Client>, StoreError>;
    /// Every client, ordered by client_id.
    async fn client_list(&self) -> Result<Vec<Client>, StoreError>;
    /// Inserts a new client. [`StoreError::Conflict`] if the id exists.
    async fn client_insert(&self, client: &Client) -> Result<(), StoreError>;
    /// Inserts or replaces a client by id, keeping the original `created_at`.
    async fn client_upsert(&self, client: &Client) -> Result<(), StoreError>;
    /// Deletes a client; `false` if there was none.
    async fn client_delete(&self, client_id: &str) -> Result<bool, StoreError>;
    /// Deletes clients whose source is `config` and whose id is not in `keep` (config
    /// as code: a client removed from the file is removed). Returns the deleted ids.
    async fn client_delete_config_except(&self, keep: &[String])
    -> Result<Vec<String>, StoreError>;
    /// Replaces a client's secrets in one statement. [`StoreError::NotFound`] if absent.
    async fn client_set_secrets(
        &self,
        client_id: &str,
        secrets: &ClientSecrets,
        now: UnixTime,
    ) -> Result<(), StoreError>;
}

/// A client as an operator describes it (config file or CLI), before validation.
#[derive(Debug, Default, Clone)]
pub struct ClientRegistration {
    /// Required, 1–255 visible ASCII characters.
    pub client_id: String,
    /// Optional display name.
    pub client_name: Option<String>,
    /// Operator-chosen secret (≥ 32 characters); `None` for a public client, or when
    /// `secret_digest` carries a generated one.
    pub client_secret: Option<SecretString>,
    /// A digest already computed (generated secrets, secrets kept on update).
    pub secret_digest: Option<ClientSecrets>,
    /// Defaults to `client_secret_basic` with a secret, `private_key_jwt` with `jwks`,
    /// `none` without either.
    pub token_endpoint_auth_method: Option<String>,
    /// RFC 7591 §2 `jwks`: an inline RFC 7517 JWK Set of public keys, for
    /// `private_key_jwt` ([`ClientJwks::parse`]).
    pub jwks: Option<Value>,
    /// See [`Client::jwks_uri`]: an absolute https URL without a fragment or user info;
    /// not together with `jwks` (RFC 7591 §2: "MUST NOT both be present").
    pub jwks_uri: Option<String>,
    /// See [`Client::redirect_uris`].
    pub redirect_uris: Vec<String>,
    /// See [`Client::post_logout_redirect_uris`].
    pub post_logout_redirect_uris: Vec<String>,
    /// Defaults to `["authorization_code"]` (RFC 7591 §2).
    pub grant_types: Option<Vec<String>>,
    /// See [`Client::scopes`].
    pub scopes: Vec<String>,
    /// See [`Client::default_scopes`]. Default empty.
    pub default_scopes: Vec<String>,
    /// See [`Client::audiences`].
    pub audiences: Vec<String>,
    /// See [`Client::skip_consent`].
    pub skip_consent: bool,
    /// See [`Client::introspection_audiences`]. Default empty: a client introspects
    /// only its own tokens.
    pub introspection_audiences: Vec<String>,
    /// See [`Client::allowed_origins`]; each checked with
    /// [`origin::check_allowed_origin`].
    pub allowed_origins: Vec<String>,
    /// `RS256` (default) or `ES256`.
    pub id_token_signed_response_alg: Option<String>,
    /// See [`Client::claims`].
    pub claims: Map<String, Value>,
    /// See [`Client::dpop_bound_access_tokens`]. Default `false`.
    pub dpop_bound_access_tokens: bool,
    /// See [`Client::require_pushed_authorization_requests`]. Default `false`.
    pub require_pushed_authorization_requests: bool,
    /// See [`Client::profile`]: `default` or `fapi2`; `None` is `default`.
    pub profile: Option<String>,
}

/// Why a client registration was refused: the metadata field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("client `{client_id}`: `{field}` {problem}")]
pub struct RegistrationError {
    /// The client being registered.
    pub client_id: String,
    /// The offending key, e.g. `client_secret`, `redirect_uris`.
    pub field: &'static str,
    /// What is wrong and what to do.
    pub problem: String,
}

impl ClientRegistration {
    /// Validates the registration and builds the stored form.
    ///
    /// # Errors
    /// [`RegistrationError`] naming the field: a secret shorter than
    /// [`MIN_CLIENT_SECRET_LEN`], an auth method that does not fit the secret or the
    /// keys, `jwks` that [`ClientJwks::parse`] refuses (private key material first), an
    /// unknown grant type, a redirect URI that is not absolute or has a fragment
    /// (RFC 6749 §3.1.2), plain http other than loopback (OAuth 2.1 §2.3.1), a
    /// malformed scope (RFC 6749 §3.3), a `default_scopes` entry not in `scopes`, a redirect URI with a wildcard or scopes no
    /// request could use ([`registration_rules`]), an audience that is not an absolute URI
    /// (RFC 8707 §2), a reserved claim name, `client_credentials` on a public
    /// client or without an audience, `introspection_audiences` on a public client
    /// or that are not absolute URIs (RFC 7662 §2.1, RFC 8707 §2), or an
    /// `allowed_origins` entry that is not an exact origin
    /// ([`origin::check_allowed_origin`]).
    pub fn validate(
        self,
        source: RecordSource,
        now: UnixTime,
    ) -> Result<Client, RegistrationError> {
        let id = self.client_id.clone();
        let err = |field: &'static str, problem: String| RegistrationError {
            client_id: id.clone(),
            field,
            problem,
        };
        if self.client_id.is_empty()
            || self.client_id.len() > 255
            || !self.client_id.bytes().all(|b| (0x21..=0x7E).contains(&b))
        {
            return Err(err(
                "client_id",
                "must be 1 to 255 visible ASCII characters (no spaces)".into(),
            ));
        }
        // Client credentials tokens carry the client_id as `sub`; user subjects are
        // UUIDs, so a UUID-shaped client_id could impersonate a user (RFC 9068 §5).
        if uuid::Uuid::try_parse(&self.client_id).is_ok() {
            return Err(err(
                "client_id",
                "must not be a UUID (user subjects are UUIDs, and client tokens use the client_id as `sub`)".into(),
            ));
        }
        let secrets = match (self.client_secret, self.secret_digest) {
            (Some(secret), _) => {
                let len = secret.expose_secret().chars().count();
                if len < MIN_CLIENT_SECRET_LEN {
                    return Err(err(
                        "client_secret",
                        format!(
                            "is {len} characters; it must be at least {MIN_CLIENT_SECRET_LEN} (generate one with `openssl rand -hex 32`, or let `portcullis client create` generate it)"
                        ),
                    ));
                }
                // Keyed when stored (`sync_config`): the key is the server's.
                Some(ClientSecrets {
                    current: ClientSecretDigest::Sha256(SecretDigest::of(secret.expose_secret())),
                    previous: None,
                })
            }
            (None, digest) => digest,
        };
        let jwks = match &self.jwks {
            Some(value) => Some(ClientJwks::parse(value).map_err(|p| err("jwks", p))?),
            None => None,
        };
        if let Some(uri) = &self.jwks_uri {
            if jwks.is_some() {
                return Err(err(
                    "jwks_uri",
                    "is set together with jwks; register the keys inline or by URL, not both (RFC 7591 §2)".into(),
                ));
            }
            self::jwks::check_jwks_uri(uri).map_err(|p| err("jwks_uri", p))?;
        }
        let keyed = jwks.is_some() || self.jwks_uri.is_some();
        let keys_field = if jwks.is_some() { "jwks" } else { "jwks_uri" };
        let method = match self.token_endpoint_auth_method.as_deref() {
            None if secrets.is_some() => TokenEndpointAuthMethod::ClientSecretBasic,
            None if keyed => TokenEndpointAuthMethod::PrivateKeyJwt,
            None => TokenEndpointAuthMethod::None,
            Some(m) => TokenEndpointAuthMethod::parse(m).ok_or_else(|| {
                err(
                    "token_endpoint_auth_method",
                    format!(
                        "`{m}` is not one of client_secret_basic, client_secret_post, private_key_jwt, none"
                    ),
                )
            })?,
        };
        // RFC 6749 §2.3: one method per client; a key client holds no secret (why: a
        // secret next to the keys would be a second, weaker way in).
        match (method, keyed) {
            (TokenEndpointAuthMethod::PrivateKeyJwt, false) => {
                return Err(err(
                    "jwks",
                    "is required for token_endpoint_auth_method `private_key_jwt` (an inline JWK Set of the client's public keys), or set jwks_uri".into(),
                ));
            }
            (TokenEndpointAuthMethod::PrivateKeyJwt, true) if secrets.is_some() => {
                return Err(err(
                    "client_secret",
                    "is set, but token_endpoint_auth_method is `private_key_jwt`; a key client has no secret: remove one of them".into(),
                ));
            }
            (m, true) if m != TokenEndpointAuthMethod::PrivateKeyJwt => {
                return Err(err(
                    keys_field,
                    format!(
                        "is set, but token_endpoint_auth_method is `{}`; keys are for `private_key_jwt` only",
                        m.as_str()
                    ),
                ));
            }
            _ => {}
        }
        let confidential = method != TokenEndpointAuthMethod::None;
        match (method, secrets.is_some()) {
            (TokenEndpointAuthMethod::None, true) => {
                return Err(err(
                    "token_endpoint_auth_method",
                    "is `none` (public client) but a client_secret is set; remove one of them"
                        .into(),
                ));
            }
            (
                TokenEndpointAuthMethod::ClientSecretBasic
                | TokenEndpointAuthMethod::ClientSecretPost,
                false,
            ) => {
                return Err(err(
                    "client_secret",
                    format!(
                        "is required for token_endpoint_auth_method `{}`",
                        method.as_str()
                    ),
                ));
            }
            _ => {}
        }
        let grant_names = self
            .grant_types
            .unwrap_or_else(|| vec![GrantType::AuthorizationCode.as_str().to_owned()]);
        let mut grant_types = Vec::new();
        for name in &grant_names {
            let grant = GrantType::parse(name).ok_or_else(|| {
                err(
                    "grant_types",
                    format!(
                        "has `{name}`; supported: authorization_code, client_credentials, refresh_token, urn:ietf:params:oauth:grant-type:device_code (implicit and password are not supported)"
                    ),
                )
            })?;
            if !grant_types.contains(&grant) {
                grant_types.push(grant);
            }
        }
        if grant_types.contains(&GrantType::ClientCredentials) {
            if !confidential {
                return Err(err(
                    "grant_types",
                    "has client_credentials, which needs a confidential client (set client_secret or jwks)"
                        .into(),
                ));
            }
            if self.audiences.is_empty() {
                return Err(err(
                    "audiences",
                    "is empty, but client_credentials tokens need an `aud` (RFC 9068 §2.2); list the APIs this client may call".into(),
                ));
            }
        }
        if grant_types.contains(&GrantType::AuthorizationCode) && self.redirect_uris.is_empty() {
            return Err(err(
                "redirect_uris",
                "is empty, but the authorization_code grant needs at least one".into(),
            ));
        }
        for uri in &self.redirect_uris {
            check_redirect_uri(uri).map_err(|p| err("redirect_uris", p))?;
        }
        for uri in &self.post_logout_redirect_uris {
            check_redirect_uri(uri).map_err(|p| err("post_logout_redirect_uris", p))?;
        }
        for scope in &self.scopes {
            if !is_scope_token(scope) {
                return Err(err(
                    "scopes",
                    format!(
                        "has `{scope}`, which is not a scope-token (RFC 6749 §3.3: visible ASCII, no space, `\"` or `\\`)"
                    ),
                ));
            }
        }
        registration_rules::check_scopes(&grant_types, &self.scopes)
            .map_err(|(field, p)| err(field, p))?;
        if let Some(extra) = self
            .default_scopes
            .iter()
            .find(|s| !self.scopes.contains(s))
        {
            return Err(err(
                "default_scopes",
                format!(
                    "has `{extra}`, which is not in `scopes`; default scopes are a subset of scopes"
                ),
            ));
        }
        for audience in &self.audiences {
            check_resource_uri(audience).map_err(|p| err("audiences", p))?;
        }
        // RFC 7662 §2.1: the introspection endpoint requires client authentication, so
        // only a client that holds a secret can ever use these (why: a public client's
        // id is no credential; letting it see other clients' tokens would disclose them
        // to anyone who knows the id).
        if !self.introspection_audiences.is_empty() && !confidential {
            return Err(err(
                "introspection_audiences",
                "is set on a public client, but introspection needs a confidential client (set client_secret or jwks)".into(),
            ));
        }
        for audience in &self.introspection_audiences {
            check_resource_uri(audience).map_err(|p| err("introspection_audiences", p))?;
        }
        for entry in &self.allowed_origins {
            origin::check_allowed_origin(entry).map_err(|p| err("allowed_origins", p))?;
        }
        let profile = match self.profile.as_deref() {
            None => ClientProfile::Default,
            Some(name) => ClientProfile::parse(name)
                .ok_or_else(|| err("profile", format!("`{name}` is not one of default, fapi2")))?,
        };
        let fapi2 = profile == ClientProfile::Fapi2;
        let id_token_signed_response_alg = match self.id_token_signed_response_alg.as_deref() {
            None => profile.default_id_token_algorithm(),
            Some(alg) => SigningAlgorithm::parse(alg).ok_or_else(|| {
                err(
                    "id_token_signed_response_alg",
                    format!("`{alg}` is not one of RS256, ES256"),
                )
            })?,
        };
        check_claims(&self.claims).map_err(|p| err("claims", p))?;
        let client = Client {
            client_id: self.client_id,
            client_name: self.client_name,
            secrets,
            token_endpoint_auth_method: method,
            jwks,
            jwks_uri: self.jwks_uri,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            grant_types,
            scopes: self.scopes,
            default_scopes: self.default_scopes,
            audiences: self.audiences,
            skip_consent: self.skip_consent,
            introspection_audiences: self.introspection_audiences,
            allowed_origins: self.allowed_origins,
            id_token_signed_response_alg,
            claims: self.claims,
            // FAPI 2.0 §5.3.2.1 items 4–5 (DPoP-bound access tokens only) and §5.3.2.2
            // item 3 (requests only through PAR).
            dpop_bound_access_tokens: self.dpop_bound_access_tokens || fapi2,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests
                || fapi2,
            profile,
            source,
            created_at: now,
            updated_at: now,
        };
        self::profile::check_fapi2_registration(&client).map_err(|(field, p)| err(field, p))?;
        Ok(client)
    }
}

/// Refuses claim names the protocol owns ([`RESERVED_CLAIMS`]).
///
/// # Errors
/// A sentence naming the first reserved claim found.
pub fn check_claims(claims: &Map<String, Value>) -> Result<(), String> {
    match claims
        .keys()
        .find(|k| RESERVED_CLAIMS.contains(&k.as_str()))
    {
        Some(name) => Err(format!(
            "sets `{name}`, a registered claim that Portcullis sets itself; rename it"
        )),
        None => Ok(()),
    }
}

/// RFC 6749 §3.1.2 / OAuth 2.1 §2.3.1 / RFC 8252 §7: absolute, no fragment; `https`,
/// `http` only on a loopback host, or a private-use scheme containing a dot.
fn check_redirect_uri(uri: &str) -> Result<(), String> {
    registration_rules::check_no_wildcard(uri)?;
    let parsed =
        Url::parse(uri).map_err(|e| format!("has `{uri}`, which is not an absolute URI ({e})"))?;
    if parsed.fragment().is_some() {
        return Err(format!(
            "has `{uri}`, which has a fragment (RFC 6749 §3.1.2 forbids it)"
        ));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&parsed) => Ok(()),
        "http" => Err(format!(
            "has `{uri}`: plain http is allowed only on a loopback host (OAuth 2.1 §2.3.1); use https"
        )),
        scheme if scheme.contains('.') => Ok(()),
        scheme => Err(format!(
            "has `{uri}`: scheme `{scheme}` is neither https nor a private-use scheme in reverse-domain form (RFC 8252 §7.1)"
        )),
    }
}

/// RFC 8707 §2: a resource is an absolute URI without a fragment.
///
/// # Errors
/// A sentence saying what is wrong with `uri`.
pub fn check_resource_uri(uri: &str) -> Result<(), String> {
    let parsed =
        Url::parse(uri).map_err(|e| format!("has `{uri}`, which is not an absolute URI ({e})"))?;
    if parsed.fragment().is_some() {
        return Err(format!(
            "has `{uri}`, which has a fragment (RFC 8707 §2 forbids it)"
        ));
    }
    Ok(())
}

/// Whether the URL's host is a loopback address or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> ClientRegistration {
        ClientRegistration {
            client_id: "svc".into(),
            client_secret: Some(SecretString::from("0123456789abcdef0123456789abcdef")),
            grant_types: Some(vec!["client_credentials".into()]),
            audiences: vec!["https://api.example.com".into()],
            scopes: vec!["read:orders".into()],
            ..Default::default()
        }
    }

    #[test]
    fn accepts_a_machine_client_with_defaults() {
        let c = machine().validate(RecordSource::Config, 5).unwrap();
        assert_eq!(
            c.token_endpoint_auth_method,
            TokenEndpointAuthMethod::ClientSecretBasic
        );
        assert_eq!(c.grant_types, vec![GrantType::ClientCredentials]);
        assert!(
            c.secrets
                .unwrap()
                .accepts("0123456789abcdef0123456789abcdef", 5, None)
        );
    }

    #[test]
    fn rejects_a_short_secret_naming_the_client() {
        let mut r = machine();
        r.client_secret = Some(SecretString::from("short"));
        let e = r.validate(RecordSource::Config, 0).unwrap_err();
        assert_eq!(e.field, "client_secret");
        assert!(
            e.to_string()
                .starts_with("client `svc`: `client_secret` is 5 characters"),
            "{e}"
        );
    }

    #[test]
    fn rejects_password_and_implicit_grants() {
        for g in ["password", "implicit", "token"] {
            let mut r = machine();
            r.grant_types = Some(vec![g.into()]);
            assert_eq!(
                r.validate(RecordSource::Config, 0).unwrap_err().field,
                "grant_types"
            );
        }
    }

    #[test]
    fn rejects_reserved_claims() {
        let mut r = machine();
        r.claims.insert("aud".into(), Value::String("x".into()));
        assert_eq!(
            r.validate(RecordSource::Config, 0).unwrap_err().field,
            "claims"
        );
    }

    #[test]
    fn rejects_client_credentials_without_audience_or_secret() {
        let mut r = machine();
        r.audiences.clear();
        assert_eq!(
            r.validate(RecordSource::Config, 0).unwrap_err().field,
            "audiences"
        );
        let mut r = machine();
        r.client_secret = None;
        r.token_endpoint_auth_method = Some("none".into());
        assert_eq!(
            r.validate(RecordSource::Config, 0).unwrap_err().field,
            "grant_types"
        );
    }

    #[test]
    fn rejects_a_uuid_shaped_client_id() {
        let mut r = machine();
        r.client_id = "0190f5c2-7a4e-7b3c-9d2e-1f2a3b4c5d6e".into();
        let e = r.validate(RecordSource::Config, 0).unwrap_err();
        assert_eq!(e.field, "client_id");
        assert!(e.problem.contains("UUID"), "{e}");
    }

    #[test]
    fn introspection_audiences_default_to_empty_and_keep_absolute_uris() {
        assert!(
            machine()
                .validate(RecordSource::Config, 0)
                .unwrap()
                .introspection_audiences
                .is_empty()
        );
        let mut r = machine();
        r.introspection_audiences = vec!["https://api.example.com".into()];
        let c = r.validate(RecordSource::Config, 0).unwrap();
        assert_eq!(c.introspection_audiences, ["https://api.example.com"]);
    }

    #[test]
    fn rejects_introspection_audiences_that_are_not_absolute_uris() {
        for bad in ["api", "/orders", "https://api.example.com/#x"] {
            let mut r = machine();
            r.introspection_audiences = vec![bad.into()];
            let e = r.validate(RecordSource::Config, 0).unwrap_err();
            assert_eq!(e.field, "introspection_audiences", "{bad}");
        }
    }

    #[test]
    fn rejects_introspection_audiences_on_a_public_client() {
        let r = ClientRegistration {
            client_id: "spa".into(),
            redirect_uris: vec!["https://app.example.com/cb".into()],
            introspection_audiences: vec!["https://api.example.com".into()],
            scopes: vec!["openid".into()],
            ..Default::default()
        };
        let e = r.validate(RecordSource::Config, 0).unwrap_err();
        assert_eq!(e.field, "introspection_audiences");
        assert!(e.problem.contains("confidential"), "{e}");
    }

    #[test]
    fn redirect_uri_rules() {
        assert!(check_redirect_uri("https://app.example.com/cb").is_ok());
        assert!(check_redirect_uri("http://127.0.0.1/cb").is_ok());
        assert!(check_redirect_uri("http://[::1]:8080/cb").is_ok());
        assert!(check_redirect_uri("com.example.app:/cb").is_ok());
        assert!(check_redirect_uri("http://app.example.com/cb").is_err());
        assert!(check_redirect_uri("https://app.example.com/cb#x").is_err());
        assert!(check_redirect_uri("/cb").is_err());
        assert!(check_redirect_uri("javascript:alert(1)").is_err());
    }
}
