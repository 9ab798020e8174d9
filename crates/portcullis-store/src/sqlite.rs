//! SQLite, the embedded default (DESIGN.md "Storage"): one file in WAL mode, a
//! 5-second `busy_timeout`, foreign keys on, `synchronous = NORMAL`, and every write
//! transaction opened with `BEGIN IMMEDIATE`.

use crate::ConnectOptions;
use crate::error::{classify, migration};
use crate::store::{Backend, SqlStore, sealed};
use portcullis_core::StoreError;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// The [`portcullis_core::Store`] on SQLite.
pub type SqliteStore = SqlStore<Sqlite>;

impl SqlStore<Sqlite> {
    /// Opens (and, with [`ConnectOptions::create_if_missing`], creates along with its
    /// parent directory) the SQLite database at `database_url`, then applies pending
    /// migrations.
    ///
    /// `database_url` is `sqlite://relative/path.db`, `sqlite:///absolute/path.db`
    /// or `sqlite::memory:` (one connection, gone when the store is dropped). The pool
    /// holds at most `min(max_connections, 8)` connections: SQLite runs one writer at a
    /// time, so more would only queue.
    ///
    /// # Errors
    /// [`StoreError::Other`] for a malformed URL or a failed migration;
    /// [`StoreError::Unavailable`] if the directory cannot be created or the file
    /// cannot be opened (missing without `create_if_missing`, locked, unreadable).
    pub async fn connect(database_url: &str, options: &ConnectOptions) -> Result<Self, StoreError> {
        let target = SqliteTarget::parse(database_url, options)?;
        if let Some(dir) = &target.create_dir {
            tokio::fs::create_dir_all(dir).await.map_err(|e| {
                StoreError::Unavailable(format!(
                    "creating the database directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let pool_options = if target.in_memory {
            // The database lives as long as its one connection: never let it go.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new()
                .max_connections(options.max_connections.clamp(1, SQLITE_MAX_CONNECTIONS))
        };
        let filename = target.options.get_filename().to_path_buf();
        let pool = pool_options
            .acquire_timeout(options.acquire_timeout)
            .connect_with(target.options)
            .await
            .map_err(classify(&format!(
                "opening SQLite database {}",
                filename.display()
            )))?;
        MIGRATOR.run(&pool).await.map_err(migration)?;
        tracing::info!(path = %filename.display(), "SQLite database ready");
        Ok(Self { pool })
    }
}

impl sealed::Sealed for Sqlite {}

impl Backend for Sqlite {
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    const CLOSE_IF_DROPPED_DURING_BEGIN: bool = false;

    const DELETE_CONFIG_CLIENTS_EXCEPT: &'static str = "DELETE FROM clients \
         WHERE source = 'config' AND client_id NOT IN (SELECT value FROM json_each($1)) \
         RETURNING client_id";

    const DELETE_CONFIG_USERS_EXCEPT: &'static str = "DELETE FROM users \
         WHERE source = 'config' AND username_key NOT IN (SELECT value FROM json_each($1)) \
         RETURNING username";

    // The upsert's UPDATE runs under the single writer lock: atomic as it stands.
    const CONSENT_GRANT: &'static str = "INSERT INTO consents \
         (user_id, client_id, scopes, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (user_id, client_id) DO UPDATE SET \
         scopes = (SELECT json_group_array(value) FROM (\
             SELECT value FROM json_each(consents.scopes) \
             UNION SELECT value FROM json_each(excluded.scopes) ORDER BY value)), \
         updated_at = excluded.updated_at";

    // BEGIN IMMEDIATE already runs write transactions one at a time.
    const LOCK_REFRESH_FAMILY: Option<&'static str> = None;

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

/// A parsed `sqlite:` URL with Portcullis' settings applied.
#[derive(Debug)]
struct SqliteTarget {
    options: SqliteConnectOptions,
    in_memory: bool,
    /// The file's parent directory, when it must be created if missing.
    create_dir: Option<PathBuf>,
}

impl SqliteTarget {
    fn parse(database_url: &str, options: &ConnectOptions) -> Result<Self, StoreError> {
        let in_memory = is_in_memory(database_url);
        let mut connect = SqliteConnectOptions::from_str(database_url)
            .map_err(|e| StoreError::Other(format!("invalid SQLite database URL: {e}")))?
            .create_if_missing(options.create_if_missing)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Normal);
        if !in_memory {
            connect = connect.journal_mode(SqliteJournalMode::Wal);
        }
        let create_dir = (options.create_if_missing && !in_memory)
            .then(|| connect.get_filename().parent())
            .flatten()
            .filter(|dir| !dir.as_os_str().is_empty())
            .map(Path::to_path_buf);
        Ok(Self {
            options: connect,
            in_memory,
            create_dir,
        })
    }
}

/// `sqlite::memory:`, `sqlite://:memory:` or `mode=memory`.
fn is_in_memory(database_url: &str) -> bool {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .unwrap_or(database_url);
    let (database, params) = rest.split_once('?').unwrap_or((rest, ""));
    database == ":memory:" || params.split('&').any(|param| param == "mode=memory")
}

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a statement waits for another connection's write lock before failing
/// with `SQLITE_BUSY` (mapped to [`StoreError::Unavailable`]).
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Upper bound on the SQLite pool: readers run in parallel under WAL, writers queue.
const SQLITE_MAX_CONNECTIONS: u32 = 8;

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> SqliteTarget {
        SqliteTarget::parse(url, &ConnectOptions::default()).unwrap()
    }

    #[test]
    fn relative_url_is_relative_to_the_working_directory() {
        let t = target("sqlite://portcullis-data/portcullis.db");
        assert_eq!(
            t.options.get_filename(),
            Path::new("portcullis-data/portcullis.db")
        );
        assert_eq!(t.create_dir.as_deref(), Some(Path::new("portcullis-data")));
        assert!(!t.in_memory);
    }

    #[test]
    fn absolute_url_keeps_the_leading_slash() {
        let t = target("sqlite:///var/lib/portcullis/portcullis.db");
        assert_eq!(
            t.options.get_filename(),
            Path::new("/var/lib/portcullis/portcullis.db")
        );
        assert_eq!(
            t.create_dir.as_deref(),
            Some(Path::new("/var/lib/portcullis"))
        );
    }

    #[test]
    fn bare_file_name_has_no_directory_to_create() {
        assert_eq!(target("sqlite://portcullis.db").create_dir, None);
    }

    #[test]
    fn memory_urls_create_nothing() {
        for url in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://x.db?mode=memory",
        ] {
            let t = target(url);
            assert!(t.in_memory, "{url}");
            assert_eq!(t.create_dir, None, "{url}");
        }
    }

    #[test]
    fn without_create_if_missing_no_directory_is_created() {
        let options = ConnectOptions {
            create_if_missing: false,
            ..ConnectOptions::default()
        };
        let t = SqliteTarget::parse("sqlite://a/b.db", &options).unwrap();
        assert_eq!(t.create_dir, None);
    }

    /// A store on a new file; keep the directory alive while using it.
    async fn temp_store() -> (tempfile::TempDir, String, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/portcullis.db", dir.path().display());
        let store = SqliteStore::connect(&url, &ConnectOptions::default())
            .await
            .unwrap();
        (dir, url, store)
    }

    #[tokio::test]
    async fn connections_use_wal_busy_timeout_foreign_keys_and_normal_sync() {
        let (_dir, _, store) = temp_store().await;
        let mut conn = store.pool.acquire().await.unwrap();
        let journal_mode = sqlx::query_scalar::<Sqlite, String>("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(journal_mode, "wal");
        let mut numbers = Vec::new();
        for pragma in [
            "PRAGMA busy_timeout",
            "PRAGMA foreign_keys",
            "PRAGMA synchronous",
        ] {
            numbers.push(
                sqlx::query_scalar::<Sqlite, i64>(pragma)
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap(),
            );
        }
        // busy_timeout in ms; foreign_keys on; synchronous NORMAL = 1
        // (https://www.sqlite.org/pragma.html#pragma_synchronous).
        assert_eq!(numbers, [5_000, 1, 1]);
    }

    #[tokio::test]
    async fn write_transactions_take_the_write_lock_at_begin() {
        let (_dir, url, store) = temp_store().await;
        let writer = store.pool.begin_with(Sqlite::BEGIN_WRITE).await.unwrap();
        // A second BEGIN IMMEDIATE cannot start while the first holds the lock; a
        // deferred BEGIN would have succeeded here and failed later, at its first write.
        let mut other = sqlx::ConnectOptions::connect(
            &SqliteConnectOptions::from_str(&url)
                .unwrap()
                .busy_timeout(Duration::from_millis(50)),
        )
        .await
        .unwrap();
        let second = sqlx::query::<Sqlite>("BEGIN IMMEDIATE")
            .execute(&mut other)
            .await;
        let err = second.unwrap_err();
        assert!(
            matches!(
                crate::error::classify("test")(err),
                StoreError::Unavailable(_)
            ),
            "SQLITE_BUSY maps to Unavailable"
        );
        writer.rollback().await.unwrap();
    }
}
