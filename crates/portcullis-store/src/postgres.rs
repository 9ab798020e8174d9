//! PostgreSQL, the scale-out path (DESIGN.md "Storage"): N stateless nodes share one
//! database, so every cross-node rule is a constraint or a single statement.

use crate::ConnectOptions;
use crate::error::{classify, migration};
use crate::store::{Backend, SqlStore, sealed};
use portcullis_core::StoreError;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgQueryResult, Postgres};
use std::str::FromStr;

/// The [`portcullis_core::Store`] on PostgreSQL.
pub type PostgresStore = SqlStore<Postgres>;

impl SqlStore<Postgres> {
    /// Connects to the PostgreSQL database at `database_url`
    /// (`postgres://user[:password]@host[:port]/database[?sslmode=…]`, or the
    /// `postgresql:` spelling), then applies pending migrations. Nodes starting
    /// together are safe: sqlx serialises migrations with an advisory lock. The
    /// database itself must exist; [`ConnectOptions::create_if_missing`] does not
    /// apply here.
    ///
    /// # Errors
    /// [`StoreError::Other`] for a malformed URL or a failed migration;
    /// [`StoreError::Unavailable`] if no connection opens within
    /// [`ConnectOptions::acquire_timeout`].
    pub async fn connect(database_url: &str, options: &ConnectOptions) -> Result<Self, StoreError> {
        // The URL may carry a password: never put it in an error or a log line.
        let connect = PgConnectOptions::from_str(database_url)
            .map_err(|e| StoreError::Other(format!("invalid PostgreSQL database URL: {e}")))?;
        let target = format!(
            "{}:{}/{}",
            connect.get_host(),
            connect.get_port(),
            connect.get_database().unwrap_or_default()
        );
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(classify(&format!("connecting to PostgreSQL at {target}")))?;
        MIGRATOR.run(&pool).await.map_err(migration)?;
        tracing::info!(database = %target, "PostgreSQL database ready");
        Ok(Self { pool })
    }
}

impl sealed::Sealed for Postgres {}

impl Backend for Postgres {
    const BEGIN_WRITE: &'static str = "BEGIN";

    const DELETE_CONFIG_CLIENTS_EXCEPT: &'static str = "DELETE FROM clients \
         WHERE source = 'config' \
         AND client_id NOT IN (SELECT json_array_elements_text($1::json)) \
         RETURNING client_id";

    const DELETE_CONFIG_USERS_EXCEPT: &'static str = "DELETE FROM users \
         WHERE source = 'config' \
         AND username NOT IN (SELECT json_array_elements_text($1::json)) \
         RETURNING username";

    // ON CONFLICT DO UPDATE locks the conflicting row and evaluates the SET on its
    // latest committed version, so concurrent grants queue instead of overwriting
    // each other. `json_agg` of nothing is NULL, hence the COALESCE.
    const CONSENT_GRANT: &'static str = "INSERT INTO consents \
         (user_id, client_id, scopes, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (user_id, client_id) DO UPDATE SET \
         scopes = (SELECT COALESCE(json_agg(scope ORDER BY scope COLLATE \"C\"), '[]')::text FROM (\
             SELECT json_array_elements_text(consents.scopes::json) AS scope \
             UNION SELECT json_array_elements_text(excluded.scopes::json)) AS merged), \
         updated_at = excluded.updated_at";

    // A transaction-scoped advisory lock on (class, hash of the family id), the class
    // being "RFAM" in ASCII: released at commit or rollback. The two-key form never meets sqlx's single-key migration lock;
    // two families whose hashes collide only queue behind each other.
    const LOCK_REFRESH_FAMILY: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(1380335949, hashtext($1))");

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }
}

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");
