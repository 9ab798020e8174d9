//! The database: `database_url` (which backend and where; it also places the data
//! directory) and the `[database]` table (the connection pool and its time limits,
//! README "Database outages").

use super::file::{ConfigError, FileDatabase, Sources, error_at};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The resolved `[database]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseSettings {
    /// Most connections per node.
    pub max_connections: u32,
    /// Longest wait for a connection, opening one included.
    pub acquire_timeout: Duration,
    /// Longest PostgreSQL statement (and idle time inside a transaction).
    pub statement_timeout: Duration,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: Duration::from_secs(DEFAULT_ACQUIRE_TIMEOUT_SECONDS),
            statement_timeout: Duration::from_secs(DEFAULT_STATEMENT_TIMEOUT_SECONDS),
        }
    }
}

impl DatabaseSettings {
    /// The pool options for `portcullis_store::connect`; `create_if_missing` as given.
    pub fn connect_options(&self, create_if_missing: bool) -> portcullis_store::ConnectOptions {
        portcullis_store::ConnectOptions {
            max_connections: self.max_connections,
            acquire_timeout: self.acquire_timeout,
            statement_timeout: self.statement_timeout,
            create_if_missing,
        }
    }
}

/// Resolves `database_url` ([`ENV_DATABASE_URL`] > file > [`DEFAULT_DATABASE_URL`]).
///
/// # Errors
/// A URL that is neither `sqlite:` nor `postgres://`, naming the variable or the file.
pub(super) fn resolve_database_url(
    sources: &Sources<'_>,
    from_file: Option<String>,
) -> Result<String, ConfigError> {
    match sources.pick(ENV_DATABASE_URL, from_file) {
        Some((at, v)) => {
            if !(v.starts_with("sqlite:")
                || v.starts_with("postgres://")
                || v.starts_with("postgresql://"))
            {
                return Err(error_at(
                    &at,
                    "`database_url` must start with sqlite:// or postgres://".to_owned(),
                ));
            }
            Ok(v)
        }
        None => Ok(DEFAULT_DATABASE_URL.to_owned()),
    }
}

/// The data directory (the SQLite file, the master key file, dev credentials): the
/// SQLite file's directory, else [`DEFAULT_DATA_DIR`].
pub(super) fn data_dir(database_url: &str) -> PathBuf {
    sqlite_path(database_url)
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
}

/// Resolves `[database]`; the message names the key and its bounds.
///
/// # Errors
/// A value outside its bounds ([`MAX_MAX_CONNECTIONS`],
/// [`MAX_ACQUIRE_TIMEOUT_SECONDS`], [`MAX_STATEMENT_TIMEOUT_SECONDS`]).
pub(super) fn resolve_database(file: &FileDatabase) -> Result<DatabaseSettings, String> {
    let d = DatabaseSettings::default();
    let seconds = |key: &str, value: Option<u64>, default: Duration, max: u64| match value {
        None => Ok(default),
        Some(v) if (1..=max).contains(&v) => Ok(Duration::from_secs(v)),
        Some(v) => Err(format!(
            "`database.{key}` = {v} must be between 1 and {max} seconds"
        )),
    };
    Ok(DatabaseSettings {
        max_connections: match file.max_connections {
            None => d.max_connections,
            Some(v) if (1..=MAX_MAX_CONNECTIONS).contains(&v) => v,
            Some(v) => {
                return Err(format!(
                    "`database.max_connections` = {v} must be between 1 and {MAX_MAX_CONNECTIONS}"
                ));
            }
        },
        acquire_timeout: seconds(
            "acquire_timeout",
            file.acquire_timeout,
            d.acquire_timeout,
            MAX_ACQUIRE_TIMEOUT_SECONDS,
        )?,
        statement_timeout: seconds(
            "statement_timeout",
            file.statement_timeout,
            d.statement_timeout,
            MAX_STATEMENT_TIMEOUT_SECONDS,
        )?,
    })
}

/// The file path of an `sqlite:` URL (`sqlite://rel/path.db`, `sqlite:///abs.db`),
/// percent-decoded as sqlx decodes it (so `my%20dir` is the directory `my dir`).
/// `None` for other URLs, `:memory:`, or a path that is not valid UTF-8 once decoded.
pub fn sqlite_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    Some(PathBuf::from(decoded.as_ref()))
}

/// Default database: an SQLite file in `./portcullis-data`, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./portcullis-data/portcullis.db";
/// Default data directory when the database is not an SQLite file.
pub const DEFAULT_DATA_DIR: &str = "./portcullis-data";
/// Environment variable overriding `database_url`.
pub const ENV_DATABASE_URL: &str = "PORTCULLIS_DATABASE_URL";

/// Default `database.max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 16;
/// Default `database.acquire_timeout`, in seconds.
pub const DEFAULT_ACQUIRE_TIMEOUT_SECONDS: u64 = 3;
/// Default `database.statement_timeout`, in seconds.
pub const DEFAULT_STATEMENT_TIMEOUT_SECONDS: u64 = 5;
/// Largest `database.max_connections` (connections per node; why a bound: a typo such
/// as 100 000 would exhaust the database server's connection slots, which every node
/// shares).
pub const MAX_MAX_CONNECTIONS: u32 = 1_000;
/// Largest `database.acquire_timeout`, in seconds (a minute: a request that waits
/// longer for a connection has long been given up by its client).
pub const MAX_ACQUIRE_TIMEOUT_SECONDS: u64 = 60;
/// Largest `database.statement_timeout`, in seconds (10 minutes: no statement of the
/// server's runs anywhere near that; a longer one is a stuck lock or a runaway query).
pub const MAX_STATEMENT_TIMEOUT_SECONDS: u64 = 600;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::config::tests::resolve;

    #[test]
    fn database_settings_default_to_16_connections_3_and_5_seconds_and_are_bounded() {
        use std::time::Duration;
        let c = resolve("", &[]).unwrap();
        assert_eq!(c.database, DatabaseSettings::default());
        assert_eq!(c.database.max_connections, 16);
        assert_eq!(c.database.acquire_timeout, Duration::from_secs(3));
        assert_eq!(c.database.statement_timeout, Duration::from_secs(5));
        let c = resolve(
            "[database]\nmax_connections = 4\nacquire_timeout = 1\nstatement_timeout = 2",
            &[],
        )
        .unwrap();
        let options = c.database.connect_options(true);
        assert_eq!(options.max_connections, 4);
        assert_eq!(options.acquire_timeout, Duration::from_secs(1));
        assert_eq!(options.statement_timeout, Duration::from_secs(2));
        assert_eq!(options.call_deadline(), Duration::from_secs(3));
        for (bad, key) in [
            ("max_connections = 0", "database.max_connections"),
            ("max_connections = 1001", "database.max_connections"),
            ("acquire_timeout = 0", "database.acquire_timeout"),
            ("acquire_timeout = 61", "database.acquire_timeout"),
            ("statement_timeout = 0", "database.statement_timeout"),
            ("statement_timeout = 601", "database.statement_timeout"),
        ] {
            let e = resolve(&format!("[database]\n{bad}"), &[]).unwrap_err();
            assert!(e.message.contains(key), "{bad}: {e}");
        }
        let e = resolve("[database]\nconnect_timeout = 3", &[]).unwrap_err();
        assert!(e.message.contains("connect_timeout"), "{e}");
    }

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://./d/p.db"),
            Some(PathBuf::from("./d/p.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///var/p.db?mode=rwc"),
            Some(PathBuf::from("/var/p.db"))
        );
        assert_eq!(sqlite_path("postgres://x"), None);
        assert_eq!(
            sqlite_path("sqlite://./my%20dir/p.db"),
            Some(PathBuf::from("./my dir/p.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
