//! `TestApp` and helpers shared by the integration tests.

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use portcullis_core::clock::{Clock, ManualClock, SystemClock};
use portcullis_server::App;
use portcullis_server::app::config::{Config, parse_file};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;
use tokio::task::JoinHandle;

/// Secret of the `svc` machine client in [`BASE_CONFIG`].
pub const SVC_SECRET: &str = "svc-secret-0123456789abcdefghijklmnop";
/// Secret of the `post-svc` client (client_secret_post).
pub const POST_SECRET: &str = "post-secret-0123456789abcdefghijklmnop";
/// Secret of the `web` client (authorization_code only).
pub const WEB_SECRET: &str = "web-secret-0123456789abcdefghijklmnopq";
/// The default audience of `svc`.
pub const API: &str = "https://api.example.com";

/// Clients for most tests.
pub const BASE_CONFIG: &str = r#"
[tokens]
access_token_ttl = 900

[[clients]]
client_id = "svc"
client_secret = "svc-secret-0123456789abcdefghijklmnop"
grant_types = ["client_credentials"]
scopes = ["read:orders", "write:orders"]
audiences = ["https://api.example.com", "https://billing.example.com"]
claims = { tenant_id = "abc-tenant" }

[[clients]]
client_id = "post-svc"
client_secret = "post-secret-0123456789abcdefghijklmnop"
token_endpoint_auth_method = "client_secret_post"
grant_types = ["client_credentials"]
scopes = ["read:orders"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "web"
client_secret = "web-secret-0123456789abcdefghijklmnopq"
redirect_uris = ["https://app.example.com/callback"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "read:orders"]
audiences = ["https://api.example.com"]
"#;

/// A running server on an ephemeral loopback port.
pub struct TestApp {
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
    pub app: App,
    pub dir: TempDir,
    server: JoinHandle<()>,
}

impl TestApp {
    /// A server with [`BASE_CONFIG`] in a fresh data directory.
    pub async fn start() -> Self {
        Self::start_in(TempDir::new().unwrap(), BASE_CONFIG).await
    }

    /// A server with `toml` in `dir` (reuse a directory to test a restart).
    pub async fn start_in(dir: TempDir, toml: &str) -> Self {
        let db = database_url(dir.path());
        Self::start_on(dir, toml, &db).await
    }

    /// A server with `toml` on the database at `database_url`.
    pub async fn start_on(dir: TempDir, toml: &str, database_url: &str) -> Self {
        Self::start_with(dir, toml, database_url, None).await
    }

    /// A `serve --dev` server: [`BASE_CONFIG`], the demo records seeded, and the dev
    /// callback page mounted with `pkce`. Returns the demo user's password too.
    pub async fn start_dev(pkce: portcullis_server::app::admin::dev::DemoPkce) -> (Self, String) {
        let dir = TempDir::new().unwrap();
        let db = database_url(dir.path());
        let app = Self::start_with(dir, BASE_CONFIG, &db, Some(pkce)).await;
        let state = app.app.state();
        let credentials = portcullis_server::app::admin::dev::seed(
            state.store().as_ref(),
            state.config(),
            app.clock.now(),
        )
        .await
        .unwrap();
        (app, credentials.user_password)
    }

    async fn start_with(
        dir: TempDir,
        toml: &str,
        database_url: &str,
        dev: Option<portcullis_server::app::admin::dev::DemoPkce>,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let config = config_for(dir.path(), &base, toml, database_url);
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let app = App::start(config, clock.clone()).await.unwrap();
        let router = match dev {
            Some(pkce) => app.dev_router(pkce),
            None => app.router(),
        };
        let server = tokio::spawn(async move {
            let limits = portcullis_server::http::serve::ServeLimits::default();
            portcullis_server::http::serve::serve(listener, router, limits, std::future::pending())
                .await
                .unwrap();
        });
        Self {
            base,
            clock,
            http: reqwest::Client::new(),
            app,
            dir,
            server,
        }
    }

    /// Stops the server and returns its data directory.
    pub async fn stop(self) -> TempDir {
        self.server.abort();
        let _ = self.server.await;
        drop(self.app);
        self.dir
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs a form to `/token`, with HTTP Basic credentials when given.
    pub async fn post_token(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> reqwest::Response {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut request = self
            .http
            .post(self.url("/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some((id, secret)) = basic {
            request = request.header("authorization", basic_header(id, secret));
        }
        request.send().await.unwrap()
    }

    /// `svc` gets a client credentials token; asserts 200 and returns the access token.
    pub async fn svc_token(&self) -> String {
        let r = self
            .post_token(
                &[("grant_type", "client_credentials")],
                Some(("svc", SVC_SECRET)),
            )
            .await;
        assert_eq!(r.status(), 200);
        r.json::<serde_json::Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Fetches the JWK Set over HTTP.
    pub async fn jwks(&self) -> JwkSet {
        self.http
            .get(self.url("/jwks"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The URL of the database (SQLite in the data directory unless started on another).
    pub fn database_url(&self) -> String {
        self.app.state().config().database_url.clone()
    }
}

/// `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
pub fn basic_header(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = format!("{}:{}", enc(id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

pub fn database_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("portcullis.db").display())
}

/// Resolves `toml` as if it were a file, with the issuer, database and key file of a test.
pub fn config_for(dir: &Path, issuer: &str, toml: &str, database_url: &str) -> Config {
    let file = parse_file(Path::new("test.toml"), toml).unwrap();
    let issuer = issuer.to_owned();
    let listen = issuer.trim_start_matches("http://").to_owned();
    let db = database_url.to_owned();
    let master_key = dir.join("master.key");
    Config::resolve(Some(("test.toml".into(), file)), &move |name| match name {
        "PORTCULLIS_ISSUER" => Some(issuer.clone()),
        "PORTCULLIS_LISTEN" => Some(listen.clone()),
        "PORTCULLIS_DATABASE_URL" => Some(db.clone()),
        _ => None,
    })
    .map(|mut config| {
        // Keep the key file with the test's data even when the database is PostgreSQL.
        config.master_key = portcullis_server::app::config::MasterKeySource::File(master_key);
        config
    })
    .unwrap()
}

/// Verifies an access token against a JWK Set the way a resource server must
/// (RFC 9068 §4), with jsonwebtoken: signature by `kid`, `typ`, `iss`, `aud`, `exp`.
pub fn verify_access_token(token: &str, jwks: &JwkSet, issuer: &str, audience: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"), "RFC 9068 §2.1 typ");
    assert_eq!(header.alg, Algorithm::ES256);
    let kid = header.kid.expect("kid");
    let jwk = jwks
        .find(&kid)
        .unwrap_or_else(|| panic!("kid {kid} not in the JWKS"));
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

/// An async HTTP client for `oauth2`, on our reqwest 0.13 (oauth2's own reqwest
/// feature pulls an older reqwest).
pub fn oauth2_http(
    client: reqwest::Client,
) -> impl Fn(
    oauth2::HttpRequest,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, reqwest::Error>> + Send>,
> {
    move |request: oauth2::HttpRequest| {
        let client = client.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut builder = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let bytes = response.bytes().await?;
            Ok(builder.body(bytes.to_vec()).unwrap())
        })
    }
}

/// The built `portcullis` binary.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_portcullis"))
}

/// Asserts an OAuth error response (RFC 6749 §5.2): status, `Cache-Control: no-store`,
/// a JSON body equal to `body`; returns the headers.
pub async fn pinned(
    response: reqwest::Response,
    status: u16,
    body: Value,
) -> reqwest::header::HeaderMap {
    assert_eq!(response.status().as_u16(), status);
    let headers = response.headers().clone();
    assert_eq!(headers["cache-control"], "no-store", "RFC 6749 §5.1");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let actual: Value = response.json().await.unwrap();
    assert_eq!(actual, body);
    headers
}
