//! Upgrades (issue 18, docs/upgrading.md): a database made by the first release's
//! schema (migration 0001 alone) with a client, a user and a signing key in it is
//! opened by today's `connect`, which applies every later migration; the rows read back
//! as today's records (new columns at their defaults) and the database takes new rows.
//! On both backends.

use super::*;
use portcullis_core::keys::KeyStatus;
use sqlx::migrate::Migrator;
use std::path::PathBuf;
use std::str::FromStr;

#[tokio::test]
async fn sqlite_database_of_the_first_migration_upgrades_to_the_latest() {
    let dir = tempfile::tempdir().unwrap();
    upgrade_from_the_first_migration(format!("sqlite://{}/portcullis.db", dir.path().display()))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_database_of_the_first_migration_upgrades_to_the_latest() {
    let Some(admin_url) = postgres_admin_url() else {
        return;
    };
    on_empty_postgres(&admin_url, upgrade_from_the_first_migration).await;
}

/// The first release's client secret: a bare SHA-256 digest (keyed digests came later).
const LEGACY_SECRET: &str = "a legacy secret of at least 32 characters";

async fn upgrade_from_the_first_migration(url: String) {
    let sqlite = url.starts_with("sqlite:");
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(if sqlite { "sqlite" } else { "postgres" });
    let mut first = Migrator::new(folder.as_path()).await.unwrap();
    let latest = first.migrations.iter().map(|m| m.version).max().unwrap();
    assert!(latest > 1, "there are later migrations to apply");
    first.migrations = first
        .migrations
        .iter()
        .filter(|m| m.version == 1)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    let legacy_key = key("es-1", SigningAlgorithm::Es256, T0);
    let jwk = serde_json::to_string(&legacy_key.public_jwk).unwrap();
    let digest = hex(SecretDigest::of(LEGACY_SECRET).as_bytes());
    let sealed = hex(&legacy_key.sealed_private_key);
    // The first release's rows, written as that release wrote them.
    let (blob, no): (fn(&str) -> String, &str) = if sqlite {
        (|h| format!("X'{h}'"), "0")
    } else {
        (|h| format!("decode('{h}', 'hex')"), "false")
    };
    let rows = format!(
        "INSERT INTO clients VALUES ('legacy', 'Legacy app', {secret}, NULL, NULL, \
         'client_secret_basic', '[\"https://legacy.example/cb\"]', '[]', \
         '[\"authorization_code\",\"refresh_token\"]', '[\"openid\",\"read:orders\"]', \
         '[\"https://api.example\"]', {no}, 'RS256', '{{\"tenant\":\"t1\"}}', 'admin', {T0}, {T1});
         INSERT INTO users VALUES ('0190-alice', 'Alice', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g', \
         'alice@example.com', NULL, '{{}}', 'admin', {T0}, {T1});
         INSERT INTO signing_keys VALUES ('es-1', 'ES256', 'active', '{jwk}', {sealed}, {T0}, NULL, NULL);",
        secret = blob(&digest),
        sealed = blob(&sealed),
        T1 = T0 + 1,
    );
    // Through a one-connection pool: `&Pool` is what the migrator runs on in a spawned
    // task (a `&mut` connection is not `Send` for every lifetime it would need).
    if sqlite {
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        first.run(&pool).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(rows))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .unwrap();
        first.run(&pool).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(rows))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }

    // Today's server opens it: every later migration is applied.
    let db = Db::open(url).await;
    assert_eq!(
        db.scalar("SELECT MAX(version) FROM _sqlx_migrations").await,
        latest
    );
    let client = db.store.client_get("legacy").await.unwrap().unwrap();
    assert_eq!(
        client.secrets.as_ref().map(|s| s.current),
        Some(ClientSecretDigest::Sha256(SecretDigest::of(LEGACY_SECRET)))
    );
    assert_eq!(
        client.token_endpoint_auth_method,
        TokenEndpointAuthMethod::ClientSecretBasic
    );
    assert_eq!(client.redirect_uris, ["https://legacy.example/cb"]);
    assert_eq!(client.scopes, ["openid", "read:orders"]);
    assert_eq!(client.audiences, ["https://api.example"]);
    assert_eq!(client.claims["tenant"], "t1");
    assert_eq!(client.source, RecordSource::Admin);
    assert_eq!((client.created_at, client.updated_at), (T0, T0 + 1));
    // Columns added since: their defaults.
    assert!(client.default_scopes.is_empty());
    assert!(client.jwks.is_none());
    assert!(!client.dpop_bound_access_tokens);
    assert!(!client.require_pushed_authorization_requests);
    assert!(client.allowed_origins.is_empty());
    // Usernames compare without case since migration 0011 (after the start-up backfill).
    assert!(db.store.user_keys_backfill().await.unwrap().is_empty());
    let alice = db
        .store
        .user_get_by_username("alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (alice.user_id.as_str(), alice.username.as_str()),
        ("0190-alice", "Alice")
    );
    let keys = db.store.signing_keys_list().await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].kid, "es-1");
    assert_eq!(keys[0].status, KeyStatus::Active);
    assert_eq!(keys[0].public_jwk, legacy_key.public_jwk);
    assert_eq!(keys[0].sealed_private_key, legacy_key.sealed_private_key);
    // And it takes today's rows.
    let today = full_client("today");
    db.store.client_insert(&today).await.unwrap();
    assert_eq!(db.store.client_get("today").await.unwrap(), Some(today));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
