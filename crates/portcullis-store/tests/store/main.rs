#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Store tests (CONVENTIONS.md §10): one file per table, each an `async fn(Db)` per
//! case, listed at the top of its file with [`store_cases!`], which runs every case on
//! both backends (`<table>::sqlite::<case>`, `<table>::postgres::<case>`). SQLite
//! always runs, on a temporary file; PostgreSQL runs when
//! `PORTCULLIS_TEST_POSTGRES_URL` names a server, each test in a fresh database
//! `portcullis_test_<uuid>` that is dropped afterwards. This file is the harness
//! ([`Db`], [`on_sqlite`], [`on_postgres`]) and the fixtures the tables share.

use portcullis_core::authorization::code::AuthorizationCode;
use portcullis_core::client::{
    Client, ClientProfile, ClientSecretDigest, ClientSecrets, RecordSource,
};
use portcullis_core::device::{DeviceAuthorization, DeviceAuthorizationStatus, DevicePoll};
use portcullis_core::keys::{KeyStatus, SigningAlgorithm, StoredSigningKey};
use portcullis_core::pkce::CodeChallenge;
use portcullis_core::secret::SecretDigest;
use portcullis_core::session::BrowserSession;
use portcullis_core::store::{PurgeCounts, RateKey};
use portcullis_core::tokens::refresh_token::{RefreshToken, family_of_code};
use portcullis_core::user::User;
use portcullis_core::{Store, StoreError};
use portcullis_proto::grant::{GrantType, TokenEndpointAuthMethod};
use portcullis_proto::jwk::Jwk;
use portcullis_store::{ConnectOptions, connect};
use serde_json::{Map, Value, json};
use sqlx::{AssertSqlSafe, Connection};
use std::collections::BTreeSet;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Once};
use std::time::Duration;

/// Runs each listed case, an `async fn(Db)` of the calling file, as a
/// `#[tokio::test]` on each backend: in `mod sqlite` on [`on_sqlite`], in
/// `mod postgres` on [`on_postgres`].
macro_rules! store_cases {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            store_cases!(@on on_sqlite; $($case),*);
        }
        mod postgres {
            store_cases!(@on on_postgres; $($case),*);
        }
    };
    (@on $harness:ident; $($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                crate::$harness(super::$case).await;
            }
        )*
    };
}

mod acme;
mod authorization_codes;
mod client_assertions;
mod clients;
mod connect;
mod consents;
mod device_authorizations;
mod dpop_proofs;
mod dynamic_clients;
mod purge;
mod pushed_authorization_requests;
mod rate_limits;
mod refresh_tokens;
mod resources;
mod revoked_access_tokens;
mod sessions;
mod signing_keys;
mod upgrade;
mod used_authorization_requests;
mod users;

/// A database under test: its store, and its URL to open it again (a second node).
struct Db {
    url: String,
    store: Arc<dyn Store>,
}

impl Db {
    async fn open(url: String) -> Self {
        let store = connect(&url, &ConnectOptions::default()).await.unwrap();
        Self { url, store }
    }

    /// Another store on the same database, as a second process would open it.
    async fn reopen(&self) -> Arc<dyn Store> {
        connect(&self.url, &ConnectOptions::default())
            .await
            .unwrap()
    }

    /// Reads one integer behind the store's back.
    async fn scalar(&self, sql: &'static str) -> i64 {
        if self.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
    }

    /// Runs `sql` behind the store's back (to corrupt a row).
    async fn raw(&self, sql: &'static str) {
        if self.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        }
    }
}

async fn on_sqlite<F, Fut>(case: F)
where
    F: FnOnce(Db) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/portcullis.db", dir.path().display());
    case(Db::open(url).await).await;
}

const POSTGRES_URL_VAR: &str = "PORTCULLIS_TEST_POSTGRES_URL";

async fn on_postgres<F, Fut>(case: F)
where
    F: FnOnce(Db) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(admin_url) = postgres_admin_url() else {
        return;
    };
    on_empty_postgres(
        &admin_url,
        |url| async move { case(Db::open(url).await).await },
    )
    .await;
}

/// The PostgreSQL server of the tests ([`POSTGRES_URL_VAR`]); `None` (said once on
/// standard error) when unset, and the PostgreSQL cases are skipped.
fn postgres_admin_url() -> Option<String> {
    let url = std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|url| !url.is_empty());
    if url.is_none() {
        static NOTICE: Once = Once::new();
        NOTICE.call_once(|| {
            // Straight to the file descriptor: libtest captures eprintln! of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "skipping PostgreSQL store tests: {POSTGRES_URL_VAR} is unset"
            );
        });
    }
    url
}

/// Runs `case` with the URL of a fresh, empty PostgreSQL database `portcullis_test_<uuid>`
/// on the server `admin_url` names (nothing migrated), dropped afterwards even when the
/// case fails.
async fn on_empty_postgres<F, Fut>(admin_url: &str, case: F)
where
    F: FnOnce(String) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let name = format!("portcullis_test_{}", uuid::Uuid::now_v7().simple());
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .unwrap_or_else(|e| panic!("{POSTGRES_URL_VAR}: cannot connect: {e}"));
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut url = url::Url::parse(admin_url).unwrap();
    url.set_path(&name);
    let url = url.to_string();
    // Run the case on its own task so that a failed assertion still drops the database.
    let outcome = tokio::spawn(case(url)).await;
    let dropped = sqlx::raw_sql(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
    if let Err(e) = dropped {
        let _ = writeln!(
            std::io::stderr(),
            "could not drop test database {name}: {e}"
        );
    }
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

// Fixtures.

/// An arbitrary fixed time (seconds since the epoch).
const T0: i64 = 1_700_000_000;

/// A JWK SHA-256 thumbprint (RFC 9449 §10 `dpop_jkt`, RFC 7638 §3.1's example key).
const JKT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

fn public_client(id: &str, source: RecordSource) -> Client {
    Client {
        client_id: id.into(),
        client_name: None,
        secrets: None,
        token_endpoint_auth_method: TokenEndpointAuthMethod::None,
        jwks: None,
        jwks_uri: None,
        redirect_uris: vec!["http://127.0.0.1:8080/callback".into()],
        post_logout_redirect_uris: vec![],
        grant_types: vec![GrantType::AuthorizationCode],
        scopes: vec!["openid".into()],
        default_scopes: vec![],
        audiences: vec![],
        skip_consent: false,
        introspection_audiences: vec![],
        allowed_origins: vec![],
        id_token_signed_response_alg: SigningAlgorithm::Rs256,
        claims: Map::new(),
        dpop_bound_access_tokens: false,
        require_pushed_authorization_requests: false,
        profile: ClientProfile::Default,
        source,
        created_at: T0,
        updated_at: T0,
    }
}

/// A `private_key_jwt` client with two public keys (RFC 7523 §2.2).
fn key_client(id: &str) -> Client {
    let jwks = json!({ "keys": [
        {
            "kty": "EC", "crv": "P-256", "kid": "ec-1", "use": "sig", "alg": "ES256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
        },
        { "kty": "OKP", "crv": "Ed25519", "kid": "ed-1",
          "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }
    ]});
    Client {
        secrets: None,
        token_endpoint_auth_method: TokenEndpointAuthMethod::PrivateKeyJwt,
        jwks: Some(portcullis_core::client::ClientJwks::parse(&jwks).unwrap()),
        jwks_uri: None,
        grant_types: vec![GrantType::ClientCredentials],
        audiences: vec!["https://api.example".into()],
        ..public_client(id, RecordSource::Admin)
    }
}

/// Every field set, none to its default.
fn full_client(id: &str) -> Client {
    Client {
        client_id: id.into(),
        client_name: Some("Accounting — “Ledger” ✓".into()),
        secrets: Some(ClientSecrets {
            // A keyed current secret and a bare SHA-256 previous one: both forms.
            current: ClientSecretDigest::Keyed(SecretDigest::of(
                "current secret with at least 32 characters",
            )),
            previous: Some((
                ClientSecretDigest::Sha256(SecretDigest::of(
                    "previous secret with at least 32 characters",
                )),
                T0 + 3_600,
            )),
        }),
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretPost,
        jwks: None,
        // Not a valid registration (a secret client), but every column round-trips.
        jwks_uri: Some("https://ledger.example/jwks.json".into()),
        redirect_uris: vec![
            "https://ledger.example/callback".into(),
            "https://ledger.example/other?x=1".into(),
        ],
        post_logout_redirect_uris: vec!["https://ledger.example/bye".into()],
        grant_types: vec![
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
            GrantType::DeviceCode,
        ],
        scopes: vec!["openid".into(), "profile".into(), "ledger:write".into()],
        default_scopes: vec!["openid".into(), "ledger:write".into()],
        audiences: vec![
            "https://api.ledger.example".into(),
            "https://reports.example".into(),
        ],
        skip_consent: true,
        introspection_audiences: vec![
            "https://api.ledger.example".into(),
            "urn:ledger:reports ✓".into(),
        ],
        allowed_origins: vec![
            "https://ledger.example".into(),
            "http://localhost:5173".into(),
        ],
        id_token_signed_response_alg: SigningAlgorithm::Es256,
        claims: claims(),
        dpop_bound_access_tokens: true,
        require_pushed_authorization_requests: true,
        profile: ClientProfile::Fapi2,
        source: RecordSource::Config,
        created_at: T0 - 7,
        updated_at: T0 + 11,
    }
}

fn claims() -> Map<String, Value> {
    json!({
        "tenant": "acme",
        "roles": ["reader", "writer"],
        "level": 3,
        "ratio": 0.5,
        "nested": {"enabled": true, "none": null},
        "unicode": "ünïcødé"
    })
    .as_object()
    .unwrap()
    .clone()
}

fn user(username: &str, user_id: &str, source: RecordSource) -> User {
    User {
        user_id: user_id.into(),
        username: username.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g".into(),
        email: Some(format!("{username}@example.com")),
        name: Some(format!("{username} Example")),
        claims: claims(),
        source,
        disabled_at: None,
        created_at: T0,
        updated_at: T0 + 1,
    }
}

fn key(kid: &str, alg: SigningAlgorithm, created_at: i64) -> StoredSigningKey {
    let public_jwk = match alg {
        SigningAlgorithm::Es256 => Jwk {
            kty: "EC".into(),
            use_: "sig".into(),
            alg: "ES256".into(),
            kid: kid.into(),
            crv: Some("P-256".into()),
            x: Some("f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU".into()),
            y: Some("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0".into()),
            n: None,
            e: None,
        },
        SigningAlgorithm::Rs256 => Jwk {
            kty: "RSA".into(),
            use_: "sig".into(),
            alg: "RS256".into(),
            kid: kid.into(),
            crv: None,
            x: None,
            y: None,
            n: Some("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4".into()),
            e: Some("AQAB".into()),
        },
    };
    StoredSigningKey {
        kid: kid.into(),
        alg,
        status: KeyStatus::Active,
        public_jwk,
        // Not a real sealed key: bytes that would break a text column (NUL, 0xFF).
        sealed_private_key: vec![0, 1, 2, 0xFF, 0xFE, 0, 42],
        created_at,
        activate_at: None,
        retired_at: None,
        publish_until: None,
    }
}

/// A `next` key, as a rotation stages it: published, signing from `activate_at`.
fn next_key(
    kid: &str,
    alg: SigningAlgorithm,
    created_at: i64,
    activate_at: i64,
) -> StoredSigningKey {
    StoredSigningKey {
        status: KeyStatus::Next,
        activate_at: Some(activate_at),
        ..key(kid, alg, created_at)
    }
}

/// Subjects of the users [`with_user`] creates.
const ALICE: &str = "0190-alice";
const BOB: &str = "0190-bob";

/// Stores a user with this `user_id` (the username is derived from it).
async fn with_user(store: &Arc<dyn Store>, user_id: &str) {
    let username = user_id.trim_start_matches("0190-");
    store
        .user_insert(&user(username, user_id, RecordSource::Admin))
        .await
        .unwrap();
}

/// Stores a public client with this id.
async fn with_client(store: &Arc<dyn Store>, client_id: &str) {
    store
        .client_insert(&public_client(client_id, RecordSource::Admin))
        .await
        .unwrap();
}

/// A session of `user_id` whose cookie is `cookie`, live from T0 for an hour.
fn session(cookie: &str, user_id: &str) -> BrowserSession {
    BrowserSession {
        session_digest: SecretDigest::of(cookie),
        user_id: user_id.into(),
        auth_time: T0 - 60,
        created_at: T0 - 60,
        expires_at: T0 + 3_600,
    }
}

/// An unused code `code {name}` of [`ALICE`] for client `web`, valid 60 s from
/// `created_at`.
fn code(name: &str, created_at: i64) -> AuthorizationCode {
    AuthorizationCode {
        code_digest: SecretDigest::of(&format!("code {name}")),
        client_id: "web".into(),
        user_id: ALICE.into(),
        redirect_uri: "http://127.0.0.1:8080/callback".into(),
        redirect_uri_sent: true,
        code_challenge: None,
        scopes: vec![],
        resources: vec![],
        nonce: None,
        auth_time: created_at - 30,
        created_at,
        expires_at: created_at + 60,
        consumed_at: None,
        access_token_jti: None,
        access_token_expires_at: None,
        dpop_jkt: None,
    }
}

/// A live refresh token `refresh {name}` of [`ALICE`] for client `web` in `family`,
/// valid a day from `created_at`.
fn refresh(name: &str, family: &str, created_at: i64) -> RefreshToken {
    RefreshToken {
        token_digest: SecretDigest::of(&format!("refresh {name}")),
        family_id: family.into(),
        client_id: "web".into(),
        user_id: ALICE.into(),
        scopes: vec![],
        resources: vec![],
        auth_time: created_at - 30,
        created_at,
        expires_at: created_at + 86_400,
        rotated_at: None,
        revoked_at: None,
        dpop_jkt: None,
    }
}

/// A pending device authorization `device {name}` (user code `user code {name}`) of
/// client `web` for `openid`, interval 5 s, valid 600 s from `created_at`.
fn device(name: &str, created_at: i64) -> DeviceAuthorization {
    DeviceAuthorization {
        device_code_digest: SecretDigest::of(&format!("device {name}")),
        user_code_digest: SecretDigest::of(&format!("user code {name}")),
        client_id: "web".into(),
        scopes: scopes(&["openid"]),
        resources: vec![],
        status: DeviceAuthorizationStatus::Pending,
        interval: 5,
        last_polled_at: None,
        consumed_at: None,
        created_at,
        expires_at: created_at + 600,
    }
}

/// Approved by [`ALICE`], who logged in at T0 − 30.
fn approved_status() -> DeviceAuthorizationStatus {
    DeviceAuthorizationStatus::Approved {
        user_id: ALICE.into(),
        auth_time: T0 - 30,
    }
}

/// `d`, approved by [`ALICE`].
fn approved(d: DeviceAuthorization) -> DeviceAuthorization {
    DeviceAuthorization {
        status: approved_status(),
        ..d
    }
}

fn scopes(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|&s| s.to_owned()).collect()
}

fn ids(clients: &[Client]) -> Vec<&str> {
    clients.iter().map(|c| c.client_id.as_str()).collect()
}

fn ids_of_keys(keys: &[StoredSigningKey]) -> Vec<&str> {
    keys.iter().map(|k| k.kid.as_str()).collect()
}
