//! The server on PostgreSQL (the scale-out path), when `PORTCULLIS_TEST_POSTGRES_URL`
//! is set: tokens, restart, and readiness through a database outage.

use crate::support::{API, BASE_CONFIG, TestApp, verify_access_token};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use std::time::Duration;

/// A fresh database on the test server (see [`with_fresh_database`]).
#[derive(Clone)]
pub struct FreshDatabase {
    admin_url: String,
    name: String,
    /// Its URL, for [`TestApp::start_on`].
    pub url: String,
}

impl FreshDatabase {
    async fn create() -> Option<Self> {
        let Some(admin_url) = std::env::var("PORTCULLIS_TEST_POSTGRES_URL")
            .ok()
            .filter(|v| !v.is_empty())
        else {
            // Straight to the process's stderr: libtest captures eprintln! output.
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr().lock(),
                "skipping PostgreSQL server tests: PORTCULLIS_TEST_POSTGRES_URL is unset"
            );
            return None;
        };
        let name = format!("portcullis_it_{}", uuid_simple());
        let mut admin = PgConnection::connect(&admin_url).await.unwrap();
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&name);
        Some(Self {
            admin_url,
            name,
            url: url.to_string(),
        })
    }

    async fn exec(&self, sql: &str) {
        let mut admin = PgConnection::connect(&self.admin_url).await.unwrap();
        // Test-made names only (portcullis_it_<hex>): nothing from outside reaches this SQL.
        sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
            .execute(&mut admin)
            .await
            .unwrap();
    }

    async fn drop_it(self) {
        self.exec(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .await;
    }
}

/// Runs `case` on a fresh database and drops the database afterwards, also when the
/// case fails (it runs on its own task, so a failed assertion comes back as a value).
/// Skips, with a visible line, when `PORTCULLIS_TEST_POSTGRES_URL` is unset.
pub async fn with_fresh_database<F, Fut>(case: F)
where
    F: FnOnce(FreshDatabase) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let Some(db) = FreshDatabase::create().await else {
        return;
    };
    let outcome = tokio::spawn(case(db.clone())).await;
    db.drop_it().await;
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

fn uuid_simple() -> String {
    let mut b = [0u8; 8];
    portcullis_core::secret::random_bytes(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn ready_status(app: &TestApp) -> (u16, Option<String>) {
    let r = app.http.get(app.url("/health/ready")).send().await.unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), retry)
}

#[tokio::test]
async fn tokens_keys_and_clients_work_and_survive_a_restart_on_postgres() {
    with_fresh_database(|db| async move {
        let app = TestApp::start_on(tempfile::TempDir::new().unwrap(), BASE_CONFIG, &db.url).await;
        let token = app.svc_token().await;
        let first_issuer = app.base.clone();
        verify_access_token(&token, &app.jwks().await, &first_issuer, API);
        let kids_before: Vec<_> = app
            .jwks()
            .await
            .keys
            .iter()
            .map(|k| k.common.key_id.clone())
            .collect();
        let dir = app.stop().await;

        let app = TestApp::start_on(dir, BASE_CONFIG, &db.url).await;
        let kids_after: Vec<_> = app
            .jwks()
            .await
            .keys
            .iter()
            .map(|k| k.common.key_id.clone())
            .collect();
        assert_eq!(kids_before, kids_after);
        verify_access_token(&token, &app.jwks().await, &first_issuer, API);
        drop(app);
    })
    .await;
}

#[tokio::test]
async fn readiness_is_503_while_postgres_refuses_connections_and_recovers_without_restart() {
    with_fresh_database(|db| async move {
        let app = TestApp::start_on(tempfile::TempDir::new().unwrap(), BASE_CONFIG, &db.url).await;
        assert_eq!(ready_status(&app).await.0, 200);

        db.exec(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS false",
            db.name
        ))
        .await;
        db.exec(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
            db.name
        ))
        .await;
        let (status, retry_after) = ready_status(&app).await;
        assert_eq!(status, 503);
        assert_eq!(retry_after.as_deref(), Some("5"));
        // A client not in this node's cache needs the database: 503, retry later.
        let r = app
            .post_token(
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", "post-svc"),
                    ("client_secret", crate::support::POST_SECRET),
                ],
                None,
            )
            .await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "5");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
        assert_eq!(
            app.http
                .get(app.url("/health/live"))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "live stays 200"
        );

        db.exec(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS true",
            db.name
        ))
        .await;
        let mut recovered = false;
        for _ in 0..50 {
            if ready_status(&app).await.0 == 200 {
                recovered = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            recovered,
            "readiness did not recover after the database came back"
        );
        app.svc_token().await;
        drop(app);
    })
    .await;
}
