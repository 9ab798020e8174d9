//! `serve --dev`: demo clients, a demo MCP resource and a demo user for trying
//! Portcullis on a laptop.
//!
//! Loopback issuers only. The generated credentials are kept in
//! `<data dir>/dev-credentials.json` (mode 0600) so every restart prints the same ones
//! and the records are re-created if deleted (idempotent).

pub mod callback;

use crate::app::admin::{AdminError, new_user_id, same_client};
use crate::app::audit;
use crate::app::config::Config;
use portcullis_core::client::{
    ClientRegistration, ClientSecretDigest, ClientSecrets, RecordSource,
};
use portcullis_core::resource::ResourceRegistration;
use portcullis_core::secret::{SecretDigest, generate_secret};
use portcullis_core::user::UserRegistration;
use portcullis_core::{Store, UnixTime};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The demo machine client (client credentials).
pub const DEMO_SERVICE_CLIENT_ID: &str = "demo-service";
/// The demo public client (authorization code + PKCE).
pub const DEMO_APP_CLIENT_ID: &str = "demo-app";
/// The demo command-line client (RFC 8628 device grant; also authorization code + PKCE
/// on a loopback redirect, RFC 8252).
pub const DEMO_CLI_CLIENT_ID: &str = "demo-cli";
/// Redirect URI of the demo command-line client (loopback: any port, RFC 8252 §7.3).
pub const DEMO_CLI_REDIRECT_URI: &str = "http://127.0.0.1/callback";
/// The demo single-page app (`crates/portcullis/examples/spa`, oidc-client-ts): a public
/// client on [`DEMO_SPA_URI`], whose origin (`http://localhost:5173`) is the one it
/// allows for CORS by default (RFC 6454 origin of its redirect URI).
pub const DEMO_SPA_CLIENT_ID: &str = "demo-spa";
/// Redirect URI and post-logout redirect URI of the demo single-page app: the page
/// itself, served on a fixed loopback port (`npm start` in the example, or any static
/// file server on that port). `localhost` rather than `127.0.0.1`, so the page and the
/// default issuer (`http://127.0.0.1:8080`) are different sites, as in production.
pub const DEMO_SPA_URI: &str = "http://localhost:5173/";
/// The demo user.
pub const DEMO_USERNAME: &str = "demo";
/// The API audience the demo clients may request.
pub const DEMO_AUDIENCE: &str = "http://127.0.0.1:9090/orders";
/// The demo MCP server's resource identifier (RFC 8707 §2; the MCP example's
/// address): registered with `dynamic_clients = true` and default scope
/// [`DEMO_MCP_DEFAULT_SCOPE`], so a client that omits `scope` gets it.
pub const DEMO_MCP_RESOURCE: &str = "http://localhost:3001/mcp";
/// The scopes the demo MCP resource defines.
pub const DEMO_MCP_SCOPES: [&str; 2] = ["tools:read", "tools:call"];
/// The demo MCP resource's default scope.
pub const DEMO_MCP_DEFAULT_SCOPE: &str = "tools:read";
/// Second redirect URI of the demo public client (the `login_flow` and `web_app`
/// examples listen there); the first is the issuer's own dev callback page
/// ([`dev_callback_uri`]).
pub const DEMO_REDIRECT_URI: &str = "http://127.0.0.1:8081/callback";
/// The `state` of the banner's authorization URL: the dev callback page fills the
/// banner's PKCE verifier into its curl only for a response carrying this `state`.
pub const DEMO_STATE: &str = "demo-state";
/// File that keeps the generated demo credentials.
pub const DEV_CREDENTIALS_FILE: &str = "dev-credentials.json";

/// The demo credentials, as printed.
#[derive(Debug, Serialize, Deserialize)]
pub struct DevCredentials {
    /// Secret of [`DEMO_SERVICE_CLIENT_ID`].
    pub service_client_secret: String,
    /// Password of [`DEMO_USERNAME`].
    pub user_password: String,
}

/// The PKCE pair (RFC 7636 §4.1) of the banner's authorization URL, made at each
/// start: the dev callback page knows the verifier, so its curl is ready to run.
#[derive(Debug, Clone)]
pub struct DemoPkce {
    /// The `code_verifier` (base64url, 43 characters).
    pub verifier: String,
}

impl DemoPkce {
    /// A fresh pair; `None` without randomness.
    pub fn generate() -> Option<Self> {
        let verifier = generate_secret().ok()?;
        Some(Self {
            verifier: verifier.expose_secret().to_owned(),
        })
    }

    /// The S256 `code_challenge` (RFC 7636 §4.2).
    pub fn challenge(&self) -> String {
        portcullis_core::pkce::s256(&self.verifier)
    }
}

/// The demo public client's redirect URI on `issuer`: the dev callback page.
pub fn dev_callback_uri(issuer: &str) -> String {
    format!("{issuer}{}", portcullis_proto::routes::DEV_CALLBACK)
}

/// Why dev seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// The issuer or the listen address is not on loopback.
    #[error(
        "--dev creates demo credentials, so it needs a loopback issuer and listen address (issuer {issuer}, listen {listen}); remove --dev or use 127.0.0.1"
    )]
    NotLoopback {
        /// The configured issuer.
        issuer: String,
        /// The configured listen address.
        listen: String,
    },
    /// The credentials file could not be read or written.
    #[error("{0}")]
    File(String),
    /// Writing the records failed.
    #[error(transparent)]
    Admin(#[from] AdminError),
}

impl DevError {
    /// The refusal for a configuration that is not loopback-only.
    pub fn not_loopback(config: &Config) -> Self {
        Self::NotLoopback {
            issuer: config.issuer.clone(),
            listen: config.listen.to_string(),
        }
    }
}

/// Creates (or re-creates) the demo clients and user and returns their credentials.
///
/// # Errors
/// [`DevError`].
pub async fn seed(
    store: &dyn Store,
    config: &Config,
    now: UnixTime,
) -> Result<DevCredentials, DevError> {
    if !config.is_loopback_only() {
        return Err(DevError::not_loopback(config));
    }
    let path = config.data_dir.join(DEV_CREDENTIALS_FILE);
    let credentials = load_or_create(&path)?;
    let secrets = ClientSecrets {
        current: ClientSecretDigest::Sha256(SecretDigest::of(&credentials.service_client_secret)),
        previous: None,
    };
    let service = ClientRegistration {
        client_id: DEMO_SERVICE_CLIENT_ID.into(),
        client_name: Some("Demo service".into()),
        secret_digest: Some(secrets),
        grant_types: Some(vec!["client_credentials".into()]),
        scopes: vec!["read:orders".into(), "write:orders".into()],
        audiences: vec![DEMO_AUDIENCE.into()],
        // The demo orders API authenticates as this client to introspect its tokens.
        introspection_audiences: vec![DEMO_AUDIENCE.into()],
        ..Default::default()
    };
    let app = ClientRegistration {
        client_id: DEMO_APP_CLIENT_ID.into(),
        client_name: Some("Demo web app".into()),
        token_endpoint_auth_method: Some("none".into()),
        grant_types: Some(vec!["authorization_code".into(), "refresh_token".into()]),
        redirect_uris: vec![dev_callback_uri(&config.issuer), DEMO_REDIRECT_URI.into()],
        scopes: [
            "openid",
            "profile",
            "email",
            "offline_access",
            "read:orders",
            DEMO_MCP_SCOPES[0],
            DEMO_MCP_SCOPES[1],
        ]
        .map(String::from)
        .to_vec(),
        audiences: vec![DEMO_AUDIENCE.into(), DEMO_MCP_RESOURCE.into()],
        ..Default::default()
    };
    let cli = ClientRegistration {
        client_id: DEMO_CLI_CLIENT_ID.into(),
        client_name: Some("Demo command line".into()),
        token_endpoint_auth_method: Some("none".into()),
        grant_types: Some(vec![
            "urn:ietf:params:oauth:grant-type:device_code".into(),
            "authorization_code".into(),
            "refresh_token".into(),
        ]),
        redirect_uris: vec![DEMO_CLI_REDIRECT_URI.into()],
        scopes: [
            "openid",
            "profile",
            "email",
            "offline_access",
            "read:orders",
            DEMO_MCP_SCOPES[0],
            DEMO_MCP_SCOPES[1],
        ]
        .map(String::from)
        .to_vec(),
        audiences: vec![DEMO_AUDIENCE.into(), DEMO_MCP_RESOURCE.into()],
        ..Default::default()
    };
    let spa = ClientRegistration {
        client_id: DEMO_SPA_CLIENT_ID.into(),
        client_name: Some("Demo browser app".into()),
        token_endpoint_auth_method: Some("none".into()),
        grant_types: Some(vec!["authorization_code".into(), "refresh_token".into()]),
        redirect_uris: vec![DEMO_SPA_URI.into()],
        post_logout_redirect_uris: vec![DEMO_SPA_URI.into()],
        scopes: ["openid", "profile", "email", "offline_access"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    };
    for registration in [service, app, cli, spa] {
        let client = registration
            .validate(RecordSource::Admin, now)
            .map_err(|e| AdminError::Invalid(e.to_string()))?;
        let existing = store
            .client_get(&client.client_id)
            .await
            .map_err(AdminError::from)?;
        let unchanged = existing.as_ref().is_some_and(|e| same_client(e, &client));
        if !unchanged {
            store
                .client_upsert(&client)
                .await
                .map_err(AdminError::from)?;
            audit::client_changed("dev", &client.client_id, "upserted");
        }
    }
    seed_mcp_resource(store, now).await?;
    if store
        .user_get_by_username(DEMO_USERNAME)
        .await
        .map_err(AdminError::from)?
        .is_none()
    {
        let registration = UserRegistration {
            username: DEMO_USERNAME.into(),
            password: SecretString::from(credentials.user_password.clone()),
            email: Some("demo@example.com".into()),
            name: Some("Demo User".into()),
            claims: serde_json::Map::new(),
        };
        let user_id = new_user_id(now);
        let user = tokio::task::spawn_blocking(move || {
            registration.validate(user_id, RecordSource::Admin, now)
        })
        .await
        .map_err(|e| DevError::File(e.to_string()))?
        .map_err(|e| AdminError::Invalid(e.to_string()))?;
        store.user_upsert(&user).await.map_err(AdminError::from)?;
        audit::user_changed("dev", DEMO_USERNAME, "created");
    }
    Ok(credentials)
}

/// Registers [`DEMO_MCP_RESOURCE`] (admin source), unless the configuration file
/// declares that identifier itself.
async fn seed_mcp_resource(store: &dyn Store, now: UnixTime) -> Result<(), DevError> {
    let resource = ResourceRegistration {
        identifier: DEMO_MCP_RESOURCE.into(),
        name: Some("Demo MCP server".into()),
        scopes: DEMO_MCP_SCOPES.map(String::from).to_vec(),
        default_scopes: vec![DEMO_MCP_DEFAULT_SCOPE.into()],
        dynamic_clients: true,
        scope_descriptions: [
            (
                DEMO_MCP_SCOPES[0].to_owned(),
                "See the list of tools".to_owned(),
            ),
            (DEMO_MCP_SCOPES[1].to_owned(), "Call the tools".to_owned()),
        ]
        .into(),
    }
    .validate(RecordSource::Admin, now)
    .map_err(|e| AdminError::Invalid(e.to_string()))?;
    let existing = store
        .resource_get(DEMO_MCP_RESOURCE)
        .await
        .map_err(AdminError::from)?;
    let keep = existing.is_some_and(|e| {
        e.source == RecordSource::Config
            || (e.scopes == resource.scopes
                && e.default_scopes == resource.default_scopes
                && e.dynamic_clients
                && e.scope_descriptions == resource.scope_descriptions
                && e.name == resource.name)
    });
    if !keep {
        store
            .resource_upsert(&resource)
            .await
            .map_err(AdminError::from)?;
        audit::resource_changed("dev", DEMO_MCP_RESOURCE, "upserted");
    }
    Ok(())
}

/// The banner `serve --dev` prints: ids, secrets and a ready-to-paste curl.
pub fn banner(config: &Config, credentials: &DevCredentials, pkce: &DemoPkce) -> String {
    let issuer = &config.issuer;
    let secret = &credentials.service_client_secret;
    let password = &credentials.user_password;
    [
        String::new(),
        "Portcullis is running in DEV mode (demo credentials, loopback only; never use in production)".to_owned(),
        format!("  issuer          {issuer}"),
        format!("  metadata        {issuer}/.well-known/oauth-authorization-server"),
        format!(
            "  machine client  client_id={DEMO_SERVICE_CLIENT_ID}  client_secret={secret}  (client_credentials; scopes read:orders write:orders; aud {DEMO_AUDIENCE})"
        ),
        format!(
            "  public client   client_id={DEMO_APP_CLIENT_ID}  (authorization_code + PKCE; redirect_uri {} or {DEMO_REDIRECT_URI})",
            dev_callback_uri(issuer)
        ),
        format!(
            "  cli client      client_id={DEMO_CLI_CLIENT_ID}  (device authorization, RFC 8628; verification page {issuer}{})",
            portcullis_proto::routes::DEVICE
        ),
        format!(
            "  browser app     client_id={DEMO_SPA_CLIENT_ID}  (single-page app, code + PKCE, CORS from http://localhost:5173; redirect_uri {DEMO_SPA_URI})"
        ),
        format!(
            "  MCP resource    {DEMO_MCP_RESOURCE}  (scopes {} {}; default {DEMO_MCP_DEFAULT_SCOPE} when a request omits scope; open to self-registered clients)",
            DEMO_MCP_SCOPES[0], DEMO_MCP_SCOPES[1]
        ),
        format!("  user            username={DEMO_USERNAME}  password={password}"),
        String::new(),
        "Get an access token:".to_owned(),
        format!(
            "  curl -s -u '{DEMO_SERVICE_CLIENT_ID}:{secret}' -d grant_type=client_credentials -d scope=read:orders {issuer}/token"
        ),
        String::new(),
        "Log in from a terminal (device authorization: open the printed URL, sign in as the user above, approve):".to_owned(),
        format!(
            "  portcullis login --issuer {issuer} --client-id {DEMO_CLI_CLIENT_ID} --scope \"openid read:orders\""
        ),
        String::new(),
        "Try a browser app (oidc-client-ts; needs Node.js 20+), from the repository root:".to_owned(),
        "  cd crates/portcullis/examples/spa && npm ci && npm start     # then open http://localhost:5173/".to_owned(),
        String::new(),
        authorization_code_example(issuer, pkce),
    ]
    .join("\n")
}

/// The authorization code example of the banner: an authorization URL with the
/// start's PKCE pair (RFC 7636 §4.1–4.2) that ends on the dev callback page, which
/// shows the code and the curl that redeems it.
fn authorization_code_example(issuer: &str, pkce: &DemoPkce) -> String {
    let redirect_uri = dev_callback_uri(issuer);
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", DEMO_APP_CLIENT_ID)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", "openid profile email")
        .append_pair("state", DEMO_STATE)
        .append_pair("code_challenge", &pkce.challenge())
        .append_pair("code_challenge_method", "S256");
    [
        "Log a user in (authorization code + PKCE): open this URL in a browser, sign in as the user above and approve;".to_owned(),
        format!("the browser then shows {redirect_uri}: the code and a ready-to-run curl that redeems it within a minute"),
        format!(
            "  {issuer}{}?{}",
            portcullis_proto::routes::AUTHORIZE,
            query.finish()
        ),
        String::new(),
    ]
    .join("\n")
}

fn load_or_create(path: &Path) -> Result<DevCredentials, DevError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| {
            DevError::File(format!(
                "{} is not valid ({e}); delete it to regenerate the demo credentials",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let fresh = || {
                generate_secret()
                    .map(|s| s.expose_secret().to_owned())
                    .map_err(|e| DevError::File(e.to_string()))
            };
            let credentials = DevCredentials {
                service_client_secret: fresh()?,
                user_password: fresh()?,
            };
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| DevError::File(format!("cannot create {}: {e}", dir.display())))?;
            }
            let json = serde_json::to_vec_pretty(&credentials)
                .map_err(|e| DevError::File(e.to_string()))?;
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .and_then(|mut f| f.write_all(&json))
                .map_err(|e| DevError::File(format!("cannot write {}: {e}", path.display())))?;
            Ok(credentials)
        }
        Err(e) => Err(DevError::File(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}
