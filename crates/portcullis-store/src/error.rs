//! The one mapping from sqlx errors to [`StoreError`], for both backends.

use portcullis_core::StoreError;
use sqlx::error::DatabaseError;
use sqlx::migrate::MigrateError;

/// Maps an sqlx error met while doing `what` (e.g. "inserting client `web`"):
///
/// - unique or primary key violation → [`StoreError::Conflict`] naming `what`;
/// - foreign key violation (a session, consent or code for a user or client that
///   does not exist, or was deleted meanwhile) → [`StoreError::NotFound`] naming `what`;
/// - connection, I/O, TLS, pool timeout or closed pool, a busy or locked SQLite
///   file, a PostgreSQL connection/resource/shutdown error → [`StoreError::Unavailable`];
/// - a value that does not decode into its Rust type → [`StoreError::Corrupt`]
///   naming the column;
/// - anything else → [`StoreError::Other`].
pub(crate) fn classify(what: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |err| match err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what.into()),
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => {
            StoreError::NotFound(format!("{what}: its user or client does not exist"))
        }
        sqlx::Error::Database(db) if is_transient(db.as_ref()) => {
            StoreError::Unavailable(format!("{what}: {db}"))
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(format!("{what}: {err}")),
        sqlx::Error::ColumnDecode { index, source } => {
            StoreError::Corrupt(format!("{what}: column {index}: {source}"))
        }
        sqlx::Error::Decode(source) => StoreError::Corrupt(format!("{what}: {source}")),
        other => StoreError::Other(format!("{what}: {other}")),
    }
}

/// Maps a migration failure: database errors as [`classify`] does, anything else
/// (a checksum mismatch, a migration missing from this binary, a dirty
/// migration) → [`StoreError::Other`] naming the version.
pub(crate) fn migration(err: MigrateError) -> StoreError {
    match err {
        MigrateError::Execute(err) => classify("running migrations")(err),
        MigrateError::ExecuteMigration(err, version) => {
            classify(&format!("running migration {version}"))(err)
        }
        other => StoreError::Other(format!("migrations: {other}")),
    }
}

/// Whether a database error means "try again later" rather than "this request is wrong".
fn is_transient(db: &dyn DatabaseError) -> bool {
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // Primary result code = extended code & 0xff.
        let primary = db
            .code()
            .and_then(|code| code.parse::<i32>().ok())
            .map(|code| code & 0xff);
        return primary.is_some_and(|code| SQLITE_TRANSIENT.contains(&code));
    }
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let code = pg.code();
        return PG_TRANSIENT_PREFIXES
            .iter()
            .any(|prefix| code.starts_with(prefix));
    }
    false
}

/// SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN
/// (<https://www.sqlite.org/rescode.html>).
const SQLITE_TRANSIENT: [i32; 5] = [5, 6, 10, 13, 14];

/// SQLSTATE classes 08 (connection exception), 53 (insufficient resources) and 55
/// (object not in prerequisite state: a database not accepting connections, a lock
/// not available, an object in use), and 57P01–57P05 (admin or crash shutdown, cannot
/// connect now, database dropped, idle session timeout)
/// (<https://www.postgresql.org/docs/current/errcodes-appendix.html>).
const PG_TRANSIENT_PREFIXES: [&str; 4] = ["08", "53", "55", "57P0"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_and_connection_failures_are_unavailable() {
        for err in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        ] {
            assert!(
                matches!(classify("x")(err), StoreError::Unavailable(_)),
                "should be Unavailable"
            );
        }
    }

    #[test]
    fn decode_failures_are_corrupt_naming_the_column() {
        let err = sqlx::Error::ColumnDecode {
            index: "\"grant_types\"".into(),
            source: "mismatched types".into(),
        };
        let StoreError::Corrupt(what) = classify("listing clients")(err) else {
            panic!("should be Corrupt");
        };
        assert_eq!(
            what,
            "listing clients: column \"grant_types\": mismatched types"
        );
    }

    #[test]
    fn anything_else_is_other() {
        assert!(matches!(
            classify("x")(sqlx::Error::RowNotFound),
            StoreError::Other(_)
        ));
        assert!(matches!(
            migration(MigrateError::VersionMissing(1)),
            StoreError::Other(_)
        ));
    }
}
