//! Opening the database a configuration names (`serve` and the admin CLI): the
//! SQLite file owner-only, a missing file refused for the CLI, and the URL printed
//! without credentials in every message; and `portcullis backup` of an SQLite database.

use portcullis_core::{Store, StoreError};
use std::path::Path;
use std::sync::Arc;

/// The database could not be opened or migrated: `database {url}: {source}`.
#[derive(Debug, thiserror::Error)]
#[error("database {url}: {source}")]
pub struct OpenStoreError {
    /// The database URL with any password removed ([`redact_url`]).
    pub url: String,
    /// The failure.
    pub source: StoreError,
}

/// Opens the store, naming the database (without credentials) on failure. With
/// `create` unset (the admin CLI), a missing SQLite file is an error instead of a new
/// empty database: the CLI was most likely pointed at the wrong place. `database`
/// sizes the pool and bounds each call (README "Database outages").
///
/// # Errors
/// [`OpenStoreError`].
pub async fn open_store(
    database_url: &str,
    database: &crate::app::config::DatabaseSettings,
    create: bool,
) -> Result<Arc<dyn Store>, OpenStoreError> {
    let fail = |message: String| OpenStoreError {
        url: redact_url(database_url),
        source: StoreError::Other(message),
    };
    if !create
        && let Some(path) = crate::app::config::sqlite_path(database_url)
        && !path.exists()
    {
        return Err(fail(format!(
            "{} does not exist; run this command with the configuration and working directory of `portcullis serve` (or set PORTCULLIS_DATABASE_URL)",
            path.display()
        )));
    }
    secure_sqlite_path(database_url, false).map_err(fail)?;
    let options = database.connect_options(create);
    let store = portcullis_store::connect(database_url, &options)
        .await
        .map_err(|source| OpenStoreError {
            url: redact_url(database_url),
            source,
        })?;
    secure_sqlite_path(database_url, true).map_err(fail)?;
    check_username_keys(store.as_ref(), create)
        .await
        .map_err(|source| OpenStoreError {
            url: redact_url(database_url),
            source,
        })?;
    Ok(store)
}

/// Why a backup was not made.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The database is PostgreSQL (or in memory): `portcullis backup` copies SQLite
    /// files; PostgreSQL has its own tools (docs/operations.md "Backups").
    #[error(
        "database {0}: `portcullis backup` copies an SQLite database; for PostgreSQL use pg_dump (e.g. `pg_dump --format=custom --file=portcullis.dump \"$DATABASE_URL\"`; docs/operations.md \"Backups\")"
    )]
    NotSqlite(String),
    /// The destination exists: a backup never overwrites a file.
    #[error("{0} already exists; a backup never overwrites a file: choose a new name")]
    Exists(String),
    /// The copy failed (the file exists, the database is missing, …).
    #[error(transparent)]
    Store(#[from] OpenStoreError),
}

/// Backs up the SQLite database at `database_url` into the new file `destination`
/// ([`portcullis_store::backup_sqlite`]: `VACUUM INTO`, safe while servers run; mode
/// 0600; never overwrites). The master key is not in the copy: keep it apart (it opens
/// the signing keys the copy holds). Returns the copy's size in bytes.
///
/// # Errors
/// [`BackupError::NotSqlite`] for PostgreSQL and in-memory URLs; [`BackupError::Exists`];
/// [`BackupError::Store`]
/// when the database file is missing or the copy fails.
pub async fn backup(database_url: &str, destination: &Path) -> Result<u64, BackupError> {
    let fail = |source: StoreError| OpenStoreError {
        url: redact_url(database_url),
        source,
    };
    let Some(path) = crate::app::config::sqlite_path(database_url) else {
        return Err(BackupError::NotSqlite(redact_url(database_url)));
    };
    if destination.exists() {
        return Err(BackupError::Exists(destination.display().to_string()));
    }
    if !path.exists() {
        return Err(fail(StoreError::Other(format!(
            "{} does not exist; run this command with the configuration and working directory of `portcullis serve` (or set PORTCULLIS_DATABASE_URL)",
            path.display()
        )))
        .into());
    }
    Ok(portcullis_store::backup_sqlite(database_url, destination)
        .await
        .map_err(fail)?)
}

/// Gives users stored before usernames compared without case their key
/// ([`portcullis_core::user::username_key`], RFC 8265), and refuses to serve while
/// two usernames share one (why: merging `Demo` and `demo` silently would hand one
/// person's account to the other). The admin CLI (`serve` unset) only warns, so that
/// `portcullis user delete <username>` can remove all but one of each group.
async fn check_username_keys(store: &dyn Store, serve: bool) -> Result<(), StoreError> {
    let clashes = store.user_keys_backfill().await?;
    if clashes.is_empty() {
        return Ok(());
    }
    let groups: Vec<String> = clashes
        .iter()
        .map(|names| {
            let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            quoted.join(" and ")
        })
        .collect();
    let message = format!(
        "usernames now compare without case (RFC 8265 UsernameCaseMapped), and these are the same username: {}; delete all but one of each (`portcullis user delete <username>`, or remove them from the configuration) and start again",
        groups.join("; ")
    );
    if serve {
        return Err(StoreError::Other(message));
    }
    tracing::warn!("{message}");
    Ok(())
}

/// Removes a password from a database URL for messages.
/// A database URL safe to print: the user and password (everything between `://` and
/// the last `@` before any `?`) become `***`, and the query string, which may carry a
/// `password=` parameter, is cut. Works on URLs that do not parse too (why: a
/// malformed URL is exactly when it gets printed).
pub fn redact_url(database_url: &str) -> String {
    let (base, query) = match database_url.split_once('?') {
        Some((base, _)) => (base, "?..."),
        None => (database_url, ""),
    };
    let Some((scheme, rest)) = base.split_once("://") else {
        return format!("{base}{query}");
    };
    match rest.rfind('@') {
        Some(at) => format!("{scheme}://***{}{query}", rest.get(at..).unwrap_or("")),
        None => format!("{base}{query}"),
    }
}

/// Owner-only SQLite files (they hold secret digests and password hashes).
///
/// Before opening (`after_open` unset): a missing data directory is created 0700 and a
/// missing database file is created empty with mode 0600, so that SQLite, which gives
/// its `-wal` and `-shm` files the mode of the database file, creates those 0600 too.
/// After opening: any of the three files still readable by others (from an older
/// start) is made 0600.
fn secure_sqlite_path(database_url: &str, after_open: bool) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let Some(path) = crate::app::config::sqlite_path(database_url) else {
        return Ok(());
    };
    if after_open {
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            let file = std::path::PathBuf::from(file);
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| format!("cannot make {} owner-only: {e}", file.display()))?;
            }
        }
        return Ok(());
    }
    if let Some(dir) = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty() && !d.exists())
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_credentials_even_from_urls_that_do_not_parse() {
        assert_eq!(
            redact_url("postgres://u:hunter2@db:5432/p"),
            "postgres://***@db:5432/p"
        );
        assert_eq!(
            redact_url("postgres://user:hunter2@127.0.0.1:notaport/db"),
            "postgres://***@127.0.0.1:notaport/db"
        );
        assert_eq!(redact_url("postgres://u:p@ss@db/p"), "postgres://***@db/p");
        assert_eq!(
            redact_url("postgres://u:pa/ss@127.0.0.1:1/db"),
            "postgres://***@127.0.0.1:1/db"
        );
        assert_eq!(
            redact_url("postgres://db/p?password=hunter2"),
            "postgres://db/p?..."
        );
        assert_eq!(
            redact_url("postgres://u:x@db/p?sslmode=require"),
            "postgres://***@db/p?..."
        );
        assert_eq!(redact_url("postgres://db/p"), "postgres://db/p");
        assert_eq!(redact_url("sqlite://./data/p.db"), "sqlite://./data/p.db");
    }
}
