//! Issue 16 item 3: short or human-chosen secrets (device user codes, operator-chosen
//! client secrets) are stored as keyed digests, HMAC-SHA256 under a key derived from
//! the master key, and rows stored as bare SHA-256 by an earlier version are keyed at
//! start-up (docs/security.md "Keyed digests").

use crate::support::{SVC_SECRET, TestApp};
use portcullis_core::clock::Clock;
use portcullis_core::device::authorization::find_by_user_code;
use portcullis_core::device::user_code::UserCode;
use portcullis_core::secret::SecretDigest;
use serde_json::Value;
use sqlx::{Connection, SqliteConnection};
use tempfile::TempDir;

/// `svc` (an operator-chosen secret, from the file) and `tv` (a public device client).
const CONFIG: &str = r#"
[[clients]]
client_id = "svc"
client_secret = "svc-secret-0123456789abcdefghijklmnop"
grant_types = ["client_credentials"]
scopes = ["read:orders"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "tv"
token_endpoint_auth_method = "none"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code"]
scopes = ["openid"]
audiences = ["https://api.example.com"]
"#;

/// `tv` starts a device authorization; returns its user code as shown.
async fn start_device(app: &TestApp) -> String {
    let r = app
        .http
        .post(app.url("/device_authorization"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("client_id=tv&scope=openid")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["user_code"].as_str().unwrap().to_owned()
}

/// The SHA-256 of the user code as shown, normalised (what 0004 stored).
fn bare_user_code_digest(shown: &str) -> Vec<u8> {
    SecretDigest::of(&shown.replace('-', ""))
        .as_bytes()
        .to_vec()
}

async fn connect(app_or_url: &str) -> SqliteConnection {
    SqliteConnection::connect(app_or_url).await.unwrap()
}

/// The rows a database reader sees: `(user_code_digest, user_code_keyed)` of every
/// device authorization, and `svc`'s secret digest.
async fn read_rows(url: &str) -> (Vec<(Vec<u8>, bool)>, Vec<u8>) {
    let mut db = connect(url).await;
    let devices: Vec<(Vec<u8>, bool)> =
        sqlx::query_as("SELECT user_code_digest, user_code_keyed FROM device_authorizations")
            .fetch_all(&mut db)
            .await
            .unwrap();
    let (secret,): (Vec<u8>,) =
        sqlx::query_as("SELECT secret_digest FROM clients WHERE client_id = 'svc'")
            .fetch_one(&mut db)
            .await
            .unwrap();
    (devices, secret)
}

async fn svc_gets_a_token(app: &TestApp) -> u16 {
    app.post_token(
        &[("grant_type", "client_credentials")],
        Some(("svc", SVC_SECRET)),
    )
    .await
    .status()
    .as_u16()
}

/// Whether the user code (as shown) finds its device authorization, as the
/// verification page looks it up.
async fn user_code_works(app: &TestApp, shown: &str) -> bool {
    let state = app.app.state();
    let code = UserCode::parse(shown).unwrap();
    find_by_user_code(
        state.store().as_ref(),
        &state.digest_keys().user_code,
        &code,
        app.clock.now(),
    )
    .await
    .unwrap()
    .is_some()
}

#[tokio::test]
async fn a_database_read_shows_no_bare_sha256_of_the_user_code_or_the_client_secret() {
    let app = TestApp::start_in(TempDir::new().unwrap(), CONFIG).await;
    let shown = start_device(&app).await;
    let (devices, secret) = read_rows(&app.database_url()).await;
    assert_eq!(devices.len(), 1);
    let (user_code_digest, keyed) = &devices[0];
    assert!(keyed);
    assert_eq!(user_code_digest.len(), 32);
    assert_ne!(*user_code_digest, bare_user_code_digest(&shown));
    // The keyed digest, and nothing else, is what the server computes.
    let key = &app.app.state().digest_keys().user_code;
    let code = UserCode::parse(&shown).unwrap();
    assert_eq!(*user_code_digest, code.digest(key).as_bytes().to_vec());

    // The operator-chosen secret: a keyed digest (0x01 and 32 bytes), not its SHA-256.
    assert_eq!((secret.len(), secret[0]), (33, 1));
    let bare = SecretDigest::of(SVC_SECRET).as_bytes().to_vec();
    assert_ne!(secret[1..], bare[..]);
    assert!(!secret.windows(32).any(|w| w == bare.as_slice()));
    assert_eq!(svc_gets_a_token(&app).await, 200);
    assert!(user_code_works(&app, &shown).await);
}

#[tokio::test]
async fn an_old_format_row_still_works_after_start_up_migration() {
    let app = TestApp::start_in(TempDir::new().unwrap(), CONFIG).await;
    let shown = start_device(&app).await;
    let url = app.database_url();
    let dir = app.stop().await;

    // Rewrite the rows as the version before keyed digests stored them.
    let bare_secret = SecretDigest::of(SVC_SECRET).as_bytes().to_vec();
    {
        let mut db = connect(&url).await;
        sqlx::query(
            "UPDATE device_authorizations SET user_code_digest = $1, user_code_keyed = FALSE",
        )
        .bind(bare_user_code_digest(&shown))
        .execute(&mut db)
        .await
        .unwrap();
        sqlx::query("UPDATE clients SET secret_digest = $1 WHERE client_id = 'svc'")
            .bind(&bare_secret)
            .execute(&mut db)
            .await
            .unwrap();
    }
    let (devices, secret) = read_rows(&url).await;
    assert_eq!(devices, [(bare_user_code_digest(&shown), false)]);
    assert_eq!(secret, bare_secret);

    // Start-up keys them; the code and the secret work as before.
    let app = TestApp::start_in(dir, CONFIG).await;
    let (devices, secret) = read_rows(&url).await;
    assert_eq!(devices.len(), 1);
    assert!(devices[0].1, "marked keyed");
    assert_ne!(devices[0].0, bare_user_code_digest(&shown));
    assert_eq!((secret.len(), secret[0]), (33, 1));
    assert!(user_code_works(&app, &shown).await);
    assert_eq!(svc_gets_a_token(&app).await, 200);

    // Once: a second start changes nothing.
    let dir = app.stop().await;
    let app = TestApp::start_in(dir, CONFIG).await;
    assert_eq!(read_rows(&url).await, (devices, secret));
    assert!(user_code_works(&app, &shown).await);
    assert_eq!(svc_gets_a_token(&app).await, 200);
}
