//! The backend, written once for both databases: [`SqlStore`] on a [`Backend`]'s
//! pool, the write-transaction helper every multi-statement change starts with
//! ([`WriteConnection`]), and [`sql_store_impl!`], which each table file under
//! `tables/` uses to implement its trait of core for [`SqlStore`].
//!
//! SQLite and PostgreSQL run the same statements (each table's file), through the
//! same row conversion and error mapping ([`crate::error`]); what differs is a
//! [`Backend`]'s few constants and how its pool is opened (`sqlite.rs`, `postgres.rs`).

use crate::error::classify;
use async_trait::async_trait;
use portcullis_core::StoreError;
use portcullis_core::store::{PoolStatus, StoreHealth};
use sqlx::pool::PoolConnection;
use sqlx::{Database, Executor, IntoArguments, Pool, Transaction};

/// A [`Store`](portcullis_core::Store) on an sqlx connection pool. Use the aliases
/// [`SqliteStore`](crate::SqliteStore) and [`PostgresStore`](crate::PostgresStore),
/// or [`connect`](crate::connect), which picks one from the URL.
#[derive(Debug, Clone)]
pub struct SqlStore<DB: Database> {
    pub(crate) pool: Pool<DB>,
}

/// A database Portcullis stores into: [`sqlx::Sqlite`] or [`sqlx::Postgres`]. Sealed.
pub trait Backend: Database + sealed::Sealed {
    /// Opens every write transaction: `BEGIN IMMEDIATE` on SQLite (take the write
    /// lock up front, so two writers queue on `busy_timeout` instead of one failing
    /// with `SQLITE_BUSY` when it upgrades a read lock), plain `BEGIN` on PostgreSQL.
    const BEGIN_WRITE: &'static str;

    /// Deletes `source = 'config'` clients whose id is not in `$1`, a JSON array of
    /// strings, `RETURNING client_id`.
    const DELETE_CONFIG_CLIENTS_EXCEPT: &'static str;

    /// Deletes `source = 'config'` resources whose identifier is not in `$1`, a JSON
    /// array of strings, `RETURNING identifier`.
    const DELETE_CONFIG_RESOURCES_EXCEPT: &'static str;

    /// Deletes `source = 'config'` users whose username is not in `$1`, a JSON array of
    /// strings, `RETURNING username`.
    const DELETE_CONFIG_USERS_EXCEPT: &'static str;

    /// Adds scopes to a consent in one statement, so two grants racing on different
    /// nodes cannot lose each other's scopes: inserts (`$1` user_id, `$2` client_id,
    /// `$3` scopes as a JSON array of strings, `$4` now as created_at and updated_at),
    /// or on an existing (user_id, client_id) sets `scopes` to the union of the stored
    /// and the new array and `updated_at` to `$4`.
    const CONSENT_GRANT: &'static str;

    /// Run first in a transaction that rotates a refresh token or revokes a family
    /// (`$1` = family_id), so that the two serialise per family; `None` where write
    /// transactions are serial anyway (SQLite). Why: on PostgreSQL (READ COMMITTED) a
    /// family revoke that runs while a rotation commits would wait for the old token's
    /// row lock and revoke it, but never see the successor the rotation inserted: a
    /// replayed token would leave a live successor behind (RFC 9700 §4.14.2).
    const LOCK_REFRESH_FAMILY: Option<&'static str>;

    /// Whether a `WITH` clause may hold `UPDATE`/`INSERT … RETURNING` (PostgreSQL) so
    /// that a rotation or a code redemption with its refresh token is one statement,
    /// one round trip, atomic on its own (issue 17: refresh and authorization_code in
    /// at most 3 round trips); `false` on SQLite, which runs them as a write
    /// transaction of several statements (in-process calls, not network round trips).
    const WRITABLE_CTES: bool;

    /// Whether a write transaction's connection dropped while its `BEGIN` is unanswered
    /// is closed instead of returned to the pool (`WriteConnection` in `store.rs`).
    /// `true` on PostgreSQL, where sqlx 0.9.0 would leave it inside a transaction
    /// (transact-rs/sqlx#4393); `false` on SQLite, where sqlx's worker thread itself
    /// rolls back a `BEGIN` whose caller has gone, and closing the one connection of an
    /// in-memory database would lose the database.
    const CLOSE_IF_DROPPED_DURING_BEGIN: bool;

    /// Gives free pages back to the file system, run after each purge
    /// ([`portcullis_core::purge::PurgeStore::reclaim_space`]): SQLite's `PRAGMA
    /// incremental_vacuum(N)` (the database runs `auto_vacuum = INCREMENTAL`), a bounded
    /// number of pages so the write lock is held briefly; `None` on PostgreSQL, whose
    /// autovacuum does this itself.
    const RECLAIM_SPACE: Option<&'static str>;

    /// How many rows a statement inserted, updated or deleted.
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

pub(crate) mod sealed {
    /// Only this crate's backends implement [`super::Backend`].
    pub trait Sealed {}
}

/// A pooled connection for one write transaction, opened on it by
/// [`WriteConnection::begin`]: every write transaction starts here, never with
/// `pool.begin_with(DB::BEGIN_WRITE)`.
///
/// Why: sqlx 0.9.0 counts a transaction as open only once the server has answered its
/// `BEGIN`. A future dropped while waiting for that answer (the store's deadline, hyper
/// when the client disconnects, the request timeout, any `select!`) queues no
/// `ROLLBACK`, and its connection went back to the pool inside a transaction, where
/// every later single-statement write would "succeed" and never commit
/// (transact-rs/sqlx#4393, fixed by #4394, unreleased). Here a connection dropped with
/// its `BEGIN` unanswered is closed instead, on backends that need it
/// ([`Backend::CLOSE_IF_DROPPED_DURING_BEGIN`]); the server rolls back the
/// transaction of a session that ends. Once `BEGIN` is answered, sqlx's own
/// [`Transaction`] rolls back on drop as usual.
///
/// Declare it before the transaction, so that the transaction is dropped (and queues
/// its `ROLLBACK`) before the connection is released:
/// `let mut conn = WriteConnection::acquire(&self.pool)…?; let mut tx = conn.begin()…?;`
pub(crate) struct WriteConnection<DB: Backend> {
    conn: PoolConnection<DB>,
    /// `BEGIN` sent and not yet answered.
    beginning: bool,
}

impl<DB: Backend> WriteConnection<DB> {
    /// Checks a connection out of `pool` (waiting at most its `acquire_timeout`).
    pub(crate) async fn acquire(pool: &Pool<DB>) -> Result<Self, sqlx::Error> {
        Ok(Self {
            conn: pool.acquire().await?,
            beginning: false,
        })
    }

    /// Opens a write transaction ([`Backend::BEGIN_WRITE`]) on this connection.
    pub(crate) async fn begin(&mut self) -> Result<Transaction<'_, DB>, sqlx::Error> {
        self.beginning = true;
        let begun = sqlx::Connection::begin_with(&mut *self.conn, DB::BEGIN_WRITE).await;
        // Answered, with a transaction sqlx tracks or an error: nothing hidden is left.
        self.beginning = false;
        begun
    }
}

impl<DB: Backend> Drop for WriteConnection<DB> {
    fn drop(&mut self) {
        if self.beginning && DB::CLOSE_IF_DROPPED_DURING_BEGIN {
            // Dropped inside `begin`, before the answer: the connection may be inside a
            // transaction sqlx does not know about. Its fields are dropped next, and the
            // connection closes instead of going back to the pool.
            self.conn.close_on_drop();
        }
    }
}

/// Implements one of core's per-table traits for [`SqlStore`] on every [`Backend`]:
/// `sql_store_impl!(ClientStore, async fn client_get(…) -> … { … }, …);`. With `Self`
/// in place of the trait it adds the functions to [`SqlStore`] itself (helpers that
/// several tables share). Why a macro: sqlx needs the bounds below on a generic
/// database, `DB: Backend` does not imply them (Rust has no trait aliases), and
/// written out in each table file they would be the same dozen lines twelve times.
macro_rules! sql_store_impl {
    (Self, $($method:tt)*) => {
        $crate::store::sql_store_impl!(@bounded [impl<DB> $crate::store::SqlStore<DB>] $($method)*);
    };
    ($table:ident, $($method:tt)*) => {
        $crate::store::sql_store_impl!(
            @bounded [#[async_trait::async_trait] impl<DB> $table for $crate::store::SqlStore<DB>]
            $($method)*
        );
    };
    (@bounded [$($header:tt)*] $(
        $(#[$attr:meta])* $vis:vis async fn $name:ident $params:tt -> $ret:ty $body:block
    ),+ $(,)?) => {
        $($header)*
        where
            DB: $crate::store::Backend,
            for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
            DB::Arguments: sqlx::IntoArguments<DB>,
            for<'r> &'r str: sqlx::ColumnIndex<DB::Row>,
            usize: sqlx::ColumnIndex<DB::Row>,
            for<'a> String: sqlx::Encode<'a, DB> + sqlx::Decode<'a, DB> + sqlx::Type<DB>,
            for<'a> Vec<u8>: sqlx::Encode<'a, DB> + sqlx::Decode<'a, DB> + sqlx::Type<DB>,
            for<'a> i64: sqlx::Encode<'a, DB> + sqlx::Decode<'a, DB> + sqlx::Type<DB>,
            for<'a> bool: sqlx::Encode<'a, DB> + sqlx::Decode<'a, DB> + sqlx::Type<DB>,
            for<'a> Option<String>: sqlx::Encode<'a, DB>,
            for<'a> Option<Vec<u8>>: sqlx::Encode<'a, DB>,
            for<'a> Option<i64>: sqlx::Encode<'a, DB>,
        {
            $($(#[$attr])* $vis async fn $name $params -> $ret $body)+
        }
    };
}
pub(crate) use sql_store_impl;

#[async_trait]
impl<DB> StoreHealth for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
{
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query::<DB>(PING)
            .execute(&self.pool)
            .await
            .map_err(classify("ping"))?;
        Ok(())
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        Some(PoolStatus {
            open: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        })
    }
}

/// Round trip for readiness checks.
const PING: &str = "SELECT 1";
