//! PostgreSQL, the scale-out path (DESIGN.md "Storage"): N stateless nodes share one
//! database, so every cross-node rule is a constraint or a single statement.

use crate::ConnectOptions;
use crate::deadline::Abandoned;
use crate::error::{classify, migration};
use crate::store::{Backend, SqlStore, sealed};
use portcullis_core::StoreError;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgQueryResult, Postgres};
use std::str::FromStr;
use std::sync::Arc;

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
    ///
    /// Each pooled connection starts with `statement_timeout` and
    /// `idle_in_transaction_session_timeout` at [`ConnectOptions::statement_timeout`]:
    /// a runaway statement is cancelled, and a transaction left open by a node that
    /// stopped answering (its locks block every other node) is ended by the server.
    /// Migrations run first, on a connection of their own without those limits: waiting
    /// for another node's migration (sqlx's advisory lock) or a slow migration must
    /// not fail the start-up.
    pub async fn connect(database_url: &str, options: &ConnectOptions) -> Result<Self, StoreError> {
        Self::connect_abandonable(database_url, options, Arc::new(Abandoned::new())).await
    }

    /// [`Self::connect`], with a pool that closes rather than reuses a connection a
    /// call abandoned by the deadline may have left inside a transaction (recorded in
    /// `abandoned`; see [`Abandoned`] and transact-rs/sqlx#4393): a backstop behind
    /// [`WriteConnection`](crate::store::WriteConnection), which handles every drop.
    pub(crate) async fn connect_abandonable(
        database_url: &str,
        options: &ConnectOptions,
        abandoned: Arc<Abandoned>,
    ) -> Result<Self, StoreError> {
        // The URL may carry a password: never put it in an error or a log line.
        let connect = PgConnectOptions::from_str(database_url)
            .map_err(|e| StoreError::Other(format!("invalid PostgreSQL database URL: {e}")))?;
        let target = format!(
            "{}:{}/{}",
            connect.get_host(),
            connect.get_port(),
            connect.get_database().unwrap_or_default()
        );
        let connecting = format!("connecting to PostgreSQL at {target}");
        // A pool of one rather than a bare connection: `Migrator::run` on
        // `&mut PgConnection` makes this future not `Send` (a higher-ranked lifetime
        // limitation), which a caller spawning `connect` would trip on.
        let migrating = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(classify(&connecting))?;
        let migrated = MIGRATOR.run(&migrating).await.map_err(migration);
        migrating.close().await;
        migrated?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            // sqlx pings every connection it hands out (a round trip before each
            // statement outside a transaction) and again when it takes one back. The
            // second stays (off the request's path); the first only for a connection
            // idle for PING_IF_IDLE_FOR or more (issue 17: round trips per grant). A
            // connection used within that time answered the release ping; one that died
            // since fails its statement, answered as unavailable, and is closed when the
            // release ping fails.
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE_FOR {
                        sqlx::Connection::ping(connection).await?;
                    }
                    Ok(true)
                })
            })
            .after_release(move |_connection, meta| {
                // Decided before any await: `meta.age` was measured just now.
                let keep = !abandoned.may_be_dirty(meta.age);
                Box::pin(std::future::ready(Ok(keep)))
            })
            .connect_with(connect.options(session_settings(options)))
            .await
            .map_err(classify(&connecting))?;
        tracing::info!(database = %target, "PostgreSQL database ready");
        Ok(Self { pool })
    }
}

/// A pooled connection idle this long is pinged before it is handed out.
const PING_IF_IDLE_FOR: std::time::Duration = std::time::Duration::from_secs(1);

/// The run-time parameters every connection starts with (PostgreSQL's `options`
/// startup parameter), in milliseconds.
fn session_settings(options: &ConnectOptions) -> [(&'static str, String); 2] {
    let millis = options
        .statement_timeout
        .as_millis()
        .clamp(1, u128::from(u32::MAX));
    [
        ("statement_timeout", millis.to_string()),
        ("idle_in_transaction_session_timeout", millis.to_string()),
    ]
}

impl sealed::Sealed for Postgres {}

impl Backend for Postgres {
    const BEGIN_WRITE: &'static str = "BEGIN";

    const CLOSE_IF_DROPPED_DURING_BEGIN: bool = true;

    const DELETE_CONFIG_CLIENTS_EXCEPT: &'static str = "DELETE FROM clients \
         WHERE source = 'config' \
         AND client_id NOT IN (SELECT json_array_elements_text($1::json)) \
         RETURNING client_id";

    const DELETE_CONFIG_RESOURCES_EXCEPT: &'static str = "DELETE FROM resources \
         WHERE source = 'config' \
         AND identifier NOT IN (SELECT json_array_elements_text($1::json)) \
         RETURNING identifier";

    const DELETE_CONFIG_USERS_EXCEPT: &'static str = "DELETE FROM users \
         WHERE source = 'config' \
         AND username_key NOT IN (SELECT json_array_elements_text($1::json)) \
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

    const WRITABLE_CTES: bool = true;

    // Autovacuum reclaims space on its own.
    const RECLAIM_SPACE: Option<&'static str> = None;

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }
}

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn connections_start_with_the_statement_timeout_in_milliseconds() {
        let options = ConnectOptions {
            statement_timeout: Duration::from_millis(2500),
            ..ConnectOptions::default()
        };
        let connect = PgConnectOptions::new().options(session_settings(&options));
        assert_eq!(
            connect.get_options(),
            Some("-c statement_timeout=2500 -c idle_in_transaction_session_timeout=2500")
        );
    }

    /// A fresh database on `PORTCULLIS_TEST_POSTGRES_URL`'s server (its URL, and an
    /// admin connection that drops it), or `None` when the variable is unset.
    async fn fresh_database() -> Option<(String, FreshDatabase)> {
        let admin_url = std::env::var("PORTCULLIS_TEST_POSTGRES_URL")
            .ok()
            .filter(|v| !v.is_empty())?;
        let name = format!("portcullis_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .unwrap();
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&name);
        Some((url.to_string(), FreshDatabase { admin, name }))
    }

    struct FreshDatabase {
        admin: sqlx::PgConnection,
        name: String,
    }

    impl FreshDatabase {
        async fn drop_it(mut self) {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut self.admin)
            .await;
        }
    }

    /// A TCP proxy that, once armed, holds back everything the server sends after the
    /// client's next `BEGIN`, so a call is dropped with its `BEGIN` in flight.
    struct BeginTrap {
        addr: std::net::SocketAddr,
        armed: Arc<std::sync::atomic::AtomicBool>,
        holding: Arc<tokio::sync::watch::Sender<bool>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl BeginTrap {
        async fn start(target: String) -> Self {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let armed = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let holding = Arc::new(tokio::sync::watch::channel(false).0);
            let (armed2, holding2) = (armed.clone(), holding.clone());
            let task = tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    let outbound = tokio::net::TcpStream::connect(&target).await.unwrap();
                    let (mut from_client, mut to_client) = inbound.into_split();
                    let (mut from_server, mut to_server) = outbound.into_split();
                    let (armed, holding) = (armed2.clone(), holding2.clone());
                    let up = async move {
                        let mut buffer = vec![0u8; 16 * 1024];
                        loop {
                            let n = match from_client.read(&mut buffer).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            let chunk = &buffer[..n];
                            // Set before the BEGIN reaches the server: its answer is held.
                            if chunk.windows(6).any(|w| w == b"BEGIN\0")
                                && armed.swap(false, std::sync::atomic::Ordering::SeqCst)
                            {
                                holding.send_replace(true);
                            }
                            if to_server.write_all(chunk).await.is_err() {
                                return;
                            }
                        }
                    };
                    let mut held = holding2.subscribe();
                    let down = async move {
                        let mut buffer = vec![0u8; 16 * 1024];
                        loop {
                            let n = match from_server.read(&mut buffer).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            if held.wait_for(|h| !*h).await.is_err()
                                || to_client.write_all(&buffer[..n]).await.is_err()
                            {
                                return;
                            }
                        }
                    };
                    tokio::spawn(async move {
                        tokio::select! {
                            () = up => {}
                            () = down => {}
                        }
                    });
                }
            });
            Self {
                addr,
                armed,
                holding,
                task,
            }
        }

        fn arm(&self) {
            self.armed.store(true, std::sync::atomic::Ordering::SeqCst);
        }

        fn release(&self) {
            self.holding.send_replace(false);
        }
    }

    impl Drop for BeginTrap {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    /// transact-rs/sqlx#4393: a call dropped while its `BEGIN` is in flight must not
    /// leave its connection in the pool inside a transaction, where the next
    /// single-statement write would "succeed" and never commit. Here the deadline drops
    /// it ([`WriteConnection`](crate::store::WriteConnection) and [`Abandoned`] each
    /// suffice).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_dropped_during_begin_does_not_swallow_the_next_write() {
        use crate::deadline::Deadline;
        use portcullis_core::store::{RefreshTokenStore, RevokedAccessTokenStore, StoreHealth};
        let Some((url, database)) = fresh_database().await else {
            return;
        };
        let direct = PostgresStore::connect(&url, &ConnectOptions::default())
            .await
            .unwrap();
        let server = url::Url::parse(&url).unwrap();
        let trap = BeginTrap::start(format!(
            "{}:{}",
            server.host_str().unwrap(),
            server.port().unwrap_or(5432)
        ))
        .await;
        let mut through_trap = url::Url::parse(&url).unwrap();
        through_trap.set_host(Some("127.0.0.1")).unwrap();
        through_trap.set_port(Some(trap.addr.port())).unwrap();
        let options = ConnectOptions {
            max_connections: 1,
            ..ConnectOptions::default()
        };
        let abandoned = Arc::new(Abandoned::new());
        let pooled =
            PostgresStore::connect_abandonable(through_trap.as_str(), &options, abandoned.clone())
                .await
                .unwrap();
        let store = Deadline::new(pooled, Duration::from_millis(300), abandoned);
        store.ping().await.unwrap();

        trap.arm();
        let dropped = store.refresh_family_revoke("family", 1_000).await;
        assert!(
            matches!(dropped, Err(StoreError::Unavailable(_))),
            "{dropped:?}"
        );
        trap.release();
        store
            .access_token_revoke("jti-after", 9_999_999_999)
            .await
            .unwrap();
        assert!(
            direct.access_token_is_revoked("jti-after").await.unwrap(),
            "the write after the dropped BEGIN is committed, seen from another connection"
        );

        drop(store);
        direct.pool.close().await;
        database.drop_it().await;
    }

    /// The same when the call is dropped by something other than the deadline (hyper
    /// when the client disconnects, the request timeout): the write-transaction begin
    /// site closes the connection itself. No deadline and no [`Abandoned`] firing here.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_dropped_during_begin_by_its_caller_does_not_swallow_the_next_write() {
        use portcullis_core::store::{RefreshTokenStore, RevokedAccessTokenStore, StoreHealth};
        let Some((url, database)) = fresh_database().await else {
            return;
        };
        let direct = PostgresStore::connect(&url, &ConnectOptions::default())
            .await
            .unwrap();
        let server = url::Url::parse(&url).unwrap();
        let trap = BeginTrap::start(format!(
            "{}:{}",
            server.host_str().unwrap(),
            server.port().unwrap_or(5432)
        ))
        .await;
        let mut through_trap = url::Url::parse(&url).unwrap();
        through_trap.set_host(Some("127.0.0.1")).unwrap();
        through_trap.set_port(Some(trap.addr.port())).unwrap();
        let options = ConnectOptions {
            max_connections: 1,
            ..ConnectOptions::default()
        };
        let store = PostgresStore::connect(through_trap.as_str(), &options)
            .await
            .unwrap();
        store.ping().await.unwrap();

        trap.arm();
        let dropped = tokio::time::timeout(
            Duration::from_millis(300),
            store.refresh_family_revoke("family", 1_000),
        )
        .await;
        assert!(dropped.is_err(), "{dropped:?}");
        trap.release();
        store
            .access_token_revoke("jti-after", 9_999_999_999)
            .await
            .unwrap();
        assert!(
            direct.access_token_is_revoked("jti-after").await.unwrap(),
            "the write after the dropped BEGIN is committed, seen from another connection"
        );

        store.pool.close().await;
        direct.pool.close().await;
        database.drop_it().await;
    }

    /// sqlx's migration lock id for a database name (`generate_lock_id` in
    /// sqlx-postgres): `0x3d32ad9e * crc32(name)`.
    fn migration_lock_id(database: &str) -> i64 {
        let mut crc = 0xFFFF_FFFF_u32;
        for byte in database.bytes() {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        0x3d32_ad9e * i64::from(!crc)
    }

    /// A node waiting longer than `statement_timeout` for another node's migration
    /// still starts: migrations run without the pool's statement timeout.
    #[tokio::test]
    async fn waiting_for_another_nodes_migration_outlasts_the_statement_timeout() {
        let Some((url, database)) = fresh_database().await else {
            return;
        };
        PostgresStore::connect(&url, &ConnectOptions::default())
            .await
            .unwrap()
            .pool
            .close()
            .await;
        let mut other_node = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
            .await
            .unwrap();
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(migration_lock_id(&database.name))
            .execute(&mut other_node)
            .await
            .unwrap();
        let options = ConnectOptions {
            statement_timeout: Duration::from_millis(200),
            ..ConnectOptions::default()
        };
        let starting = tokio::spawn({
            let url = url.clone();
            async move { PostgresStore::connect(&url, &options).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!starting.is_finished(), "waits for the migration lock");
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(migration_lock_id(&database.name))
            .execute(&mut other_node)
            .await
            .unwrap();
        let store = starting.await.unwrap().unwrap();
        let timeout = sqlx::query_scalar::<Postgres, String>("SHOW statement_timeout")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(timeout, "200ms", "the pool still has it");
        store.pool.close().await;
        drop(other_node);
        database.drop_it().await;
    }
}
