//! SQLite, the embedded default (DESIGN.md "Storage"): one file in WAL mode, a
//! 5-second `busy_timeout`, foreign keys on, `synchronous = NORMAL`,
//! `auto_vacuum = INCREMENTAL` (housekeeping gives freed pages back, so the file
//! shrinks after a burst of rows), and every write transaction opened with
//! `BEGIN IMMEDIATE`.

use crate::ConnectOptions;
use crate::error::{classify, migration};
use crate::store::{Backend, SqlStore, sealed};
use portcullis_core::StoreError;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    Sqlite, SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions,
    SqliteQueryResult, SqliteSynchronous,
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
        enable_incremental_vacuum(&pool, &filename).await?;
        tracing::info!(path = %filename.display(), "SQLite database ready");
        Ok(Self { pool })
    }
}

/// Copies the SQLite database at `database_url` into a new file `destination` with
/// `VACUUM INTO` (a consistent snapshot, safe while servers write to it: WAL readers
/// do not block writers). The copy is compact, created with mode 0600 (it holds
/// secret digests and the signing keys sealed under the master key, which is not in
/// it) and has the same schema version as the source; it opens like any database.
/// Returns the copy's size in bytes.
///
/// # Errors
/// [`StoreError::Other`] when `destination` already exists (never overwritten), for an
/// in-memory or malformed URL, or when the copy fails (the partial file is removed);
/// [`StoreError::Unavailable`] when the database file is missing or cannot be opened.
pub async fn backup_sqlite(database_url: &str, destination: &Path) -> Result<u64, StoreError> {
    let options = ConnectOptions {
        create_if_missing: false,
        ..ConnectOptions::default()
    };
    let target = SqliteTarget::parse(database_url, &options)?;
    if target.in_memory {
        return Err(StoreError::Other(
            "an in-memory database has nothing to back up".into(),
        ));
    }
    create_private_file(destination)?;
    let copied = async {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(target.options)
            .await
            .map_err(classify("opening the SQLite database to back it up"))?;
        let destination_text = destination
            .to_str()
            .ok_or_else(|| StoreError::Other("the backup file name is not valid UTF-8".into()))?;
        sqlx::query("VACUUM INTO ?")
            .bind(destination_text)
            .execute(&pool)
            .await
            .map_err(classify("backing up the SQLite database (VACUUM INTO)"))?;
        pool.close().await;
        Ok::<(), StoreError>(())
    }
    .await;
    if let Err(e) = copied {
        let _ = std::fs::remove_file(destination);
        return Err(e);
    }
    std::fs::metadata(destination)
        .map(|m| m.len())
        .map_err(|e| StoreError::Other(format!("reading the backup file: {e}")))
}

/// Creates `path` empty with mode 0600 (`VACUUM INTO` accepts an empty file and keeps
/// its mode); refuses an existing one.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    open.open(path).map(drop).map_err(|e| {
        StoreError::Other(if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!(
                "{} already exists; a backup never overwrites a file: choose a new name",
                path.display()
            )
        } else {
            format!("creating the backup file {}: {e}", path.display())
        })
    })
}

impl sealed::Sealed for Sqlite {}

impl Backend for Sqlite {
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    const CLOSE_IF_DROPPED_DURING_BEGIN: bool = false;

    const DELETE_CONFIG_CLIENTS_EXCEPT: &'static str = "DELETE FROM clients \
         WHERE source = 'config' AND client_id NOT IN (SELECT value FROM json_each($1)) \
         RETURNING client_id";

    const DELETE_CONFIG_RESOURCES_EXCEPT: &'static str = "DELETE FROM resources \
         WHERE source = 'config' AND identifier NOT IN (SELECT value FROM json_each($1)) \
         RETURNING identifier";

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

    // SQLite's WITH clause holds only SELECTs.
    const WRITABLE_CTES: bool = false;

    // At most 2,048 pages (8 MiB at the default 4 KiB page size) per purge, a minute
    // apart: the file shrinks steadily without holding the write lock for long.
    const RECLAIM_SPACE: Option<&'static str> = Some("PRAGMA incremental_vacuum(2048)");

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

/// Switches a database made before `auto_vacuum = INCREMENTAL` to it: the pragma set
/// on each connection ([`SqliteTarget::parse`]) applies by itself only to a new
/// database, before its first table; an existing one changes mode only through a
/// `VACUUM` (https://www.sqlite.org/pragma.html#pragma_auto_vacuum), run here once
/// (it rewrites the file, so it takes as long as copying it).
async fn enable_incremental_vacuum(
    pool: &sqlx::SqlitePool,
    filename: &Path,
) -> Result<(), StoreError> {
    let what = "switching the SQLite database to auto_vacuum = INCREMENTAL";
    let mut conn = pool.acquire().await.map_err(classify(what))?;
    let mode: i64 = sqlx::query_scalar("PRAGMA auto_vacuum")
        .fetch_one(&mut *conn)
        .await
        .map_err(classify(what))?;
    if mode == AUTO_VACUUM_INCREMENTAL {
        return Ok(());
    }
    tracing::info!(path = %filename.display(), "enabling incremental auto-vacuum (one VACUUM; runs once)");
    sqlx::raw_sql("PRAGMA auto_vacuum = INCREMENTAL; VACUUM;")
        .execute(&mut *conn)
        .await
        .map_err(classify(what))?;
    Ok(())
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
            .synchronous(SqliteSynchronous::Normal)
            .auto_vacuum(SqliteAutoVacuum::Incremental);
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

/// `PRAGMA auto_vacuum`'s value for INCREMENTAL.
const AUTO_VACUUM_INCREMENTAL: i64 = 2;

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

    async fn auto_vacuum(url: &str) -> i64 {
        let mut conn = sqlx::ConnectOptions::connect(&SqliteConnectOptions::from_str(url).unwrap())
            .await
            .unwrap();
        sqlx::query_scalar::<Sqlite, i64>("PRAGMA auto_vacuum")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_new_database_uses_incremental_auto_vacuum() {
        let (_dir, url, store) = temp_store().await;
        drop(store);
        assert_eq!(auto_vacuum(&url).await, AUTO_VACUUM_INCREMENTAL);
    }

    #[tokio::test]
    async fn an_old_database_is_switched_to_incremental_auto_vacuum() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/old.db", dir.path().display());
        // A database made as before: auto_vacuum NONE, tables and some rows.
        {
            let options = SqliteConnectOptions::from_str(&url)
                .unwrap()
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal);
            let mut conn = sqlx::ConnectOptions::connect(&options).await.unwrap();
            sqlx::raw_sql("CREATE TABLE old (x TEXT); INSERT INTO old VALUES ('a'), ('b');")
                .execute(&mut conn)
                .await
                .unwrap();
        }
        assert_eq!(auto_vacuum(&url).await, 0, "NONE before");
        let store = SqliteStore::connect(&url, &ConnectOptions::default())
            .await
            .unwrap();
        let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM old")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(kept, 2, "the VACUUM keeps the data");
        drop(store);
        assert_eq!(auto_vacuum(&url).await, AUTO_VACUUM_INCREMENTAL);
    }

    #[tokio::test]
    async fn reclaim_space_shrinks_the_file_after_a_purge() {
        use portcullis_core::purge::PurgeStore;
        let (dir, _, store) = temp_store().await;
        let file = dir.path().join("portcullis.db");
        let blob = "x".repeat(4000);
        sqlx::raw_sql("CREATE TABLE filler (x TEXT)")
            .execute(&store.pool)
            .await
            .unwrap();
        for _ in 0..500 {
            sqlx::query("INSERT INTO filler VALUES ($1)")
                .bind(&blob)
                .execute(&store.pool)
                .await
                .unwrap();
        }
        sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&store.pool)
            .await
            .unwrap();
        let full = std::fs::metadata(&file).unwrap().len();
        sqlx::raw_sql("DELETE FROM filler")
            .execute(&store.pool)
            .await
            .unwrap();
        store.reclaim_space().await.unwrap();
        sqlx::raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&store.pool)
            .await
            .unwrap();
        let after = std::fs::metadata(&file).unwrap().len();
        assert!(after < full / 2, "{full} -> {after} bytes");
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
