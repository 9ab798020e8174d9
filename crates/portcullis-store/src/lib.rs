//! Portcullis storage: the core [`Store`] trait on SQLite (the embedded default) and
//! PostgreSQL (the scale-out path), with sqlx.
//!
//! Both backends run the same SQL through one generic implementation
//! ([`SqlStore`], `store.rs`), written one file per table under `tables/`; each
//! backend has its own migration folder (`migrations/sqlite`, `migrations/postgres`,
//! same file names), applied by [`connect`].

mod codec;
mod deadline;
mod error;
mod postgres;
mod sqlite;
mod store;
mod tables;

pub use postgres::PostgresStore;
pub use sqlite::{SqliteStore, backup_sqlite};
pub use store::{Backend, SqlStore};

use portcullis_core::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Opens the database named by `database_url`, applies pending migrations and returns
/// it as a [`Store`].
///
/// - `sqlite://relative/path.db`, `sqlite:///absolute/path.db`, `sqlite::memory:` →
///   [`SqliteStore::connect`] (creates the file and its directory when
///   [`ConnectOptions::create_if_missing`]);
/// - `postgres://…` or `postgresql://…` → [`PostgresStore::connect`].
///
/// # Errors
/// [`StoreError::Other`] for any other scheme (the message names the accepted ones),
/// a malformed URL or a failed migration; [`StoreError::Unavailable`] if the database
/// cannot be reached or opened. Errors never contain the URL, which may hold a password.
///
/// On PostgreSQL, every call on the returned store fails with
/// [`StoreError::Unavailable`] when it gets no answer within
/// [`ConnectOptions::call_deadline`] (a hung database server). SQLite has no such
/// deadline: its waits are bounded by `busy_timeout` and `acquire_timeout`.
pub async fn connect(
    database_url: &str,
    options: &ConnectOptions,
) -> Result<Arc<dyn Store>, StoreError> {
    match database_url.split_once(':').map(|(scheme, _)| scheme) {
        // No deadline on SQLite (a local file does not hang; `deadline` module docs).
        Some("sqlite") => Ok(Arc::new(SqliteStore::connect(database_url, options).await?)),
        Some("postgres" | "postgresql") => {
            let abandoned = Arc::new(deadline::Abandoned::new());
            let store =
                PostgresStore::connect_abandonable(database_url, options, abandoned.clone())
                    .await?;
            Ok(Arc::new(deadline::Deadline::new(
                store,
                options.call_deadline(),
                abandoned,
            )))
        }
        scheme => Err(StoreError::Other(format!(
            "unsupported database URL{}: use sqlite://path/to/file.db, sqlite::memory:, \
             postgres://… or postgresql://…",
            scheme
                .filter(|s| is_scheme(s))
                .map(|s| format!(" scheme `{s}`"))
                .unwrap_or_default()
        ))),
    }
}

/// Pool settings for [`connect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// Most connections the pool opens. Default 16, which PostgreSQL uses as is;
    /// SQLite caps it at 8 (one writer at a time; more would only queue), and an
    /// in-memory SQLite database always has exactly 1. Zero counts as 1.
    pub max_connections: u32,
    /// How long a query waits for a connection before failing with
    /// [`StoreError::Unavailable`]: for a free one, or for a new one to open (this is
    /// also the connect timeout; sqlx has no separate one), or for the first one at
    /// start-up. Default 3 s. With it, requests waiting on a database that is down
    /// give up instead of piling up.
    pub acquire_timeout: Duration,
    /// PostgreSQL: the server cancels any statement running longer, and ends a
    /// session idle inside a transaction longer (`statement_timeout`,
    /// `idle_in_transaction_session_timeout`, set when each pooled connection opens;
    /// not on the connection that applies migrations at start-up, which may wait for
    /// another node's migration or run long).
    /// SQLite keeps its own 5-second `busy_timeout`. Default 5 s; rounded to whole
    /// milliseconds, at least 1 ms.
    pub statement_timeout: Duration,
    /// SQLite only: create the database file and its parent directory if missing.
    /// Default `true`. A PostgreSQL database must already exist.
    pub create_if_missing: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(5),
            create_if_missing: true,
        }
    }
}

impl ConnectOptions {
    /// The longest any one PostgreSQL store call may take, `acquire_timeout +
    /// statement_timeout`: past it the call fails with [`StoreError::Unavailable`] even
    /// if the database never answers (why: a hung server, which accepts connections or
    /// holds one but never replies, enforces no timeout of its own). Not applied to
    /// SQLite.
    pub fn call_deadline(&self) -> Duration {
        self.acquire_timeout.saturating_add(self.statement_timeout)
    }
}

/// Whether `s` looks like a URL scheme (RFC 3986 §3.1), so it is safe to echo: a
/// string without one (`user:password@host`) is not repeated in the error.
fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && s.len() <= 32
}
