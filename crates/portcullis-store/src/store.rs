//! The [`Store`] implementation, written once for both backends.
//!
//! SQLite and PostgreSQL run the same statements ([`crate::sql`]) through the same
//! row conversion ([`crate::codec`]) and error mapping ([`crate::error`]); what
//! differs is a [`Backend`]'s few constants and how its pool is opened
//! (`sqlite.rs`, `postgres.rs`).

use crate::codec::{
    AuthorizationCodeRecord, ClientRecord, DeviceAuthorizationRecord, PendingAuthorizationRecord,
    RefreshTokenRecord, SessionRecord, SigningKeyRecord, UserRecord, decode_scopes,
    decode_signing_keys, digest_bytes, encode_device_status, encode_scopes, encode_secrets,
    id_list,
};
use crate::error::classify;
use crate::sql::{
    self, bind_client, bind_code, bind_device, bind_new_key, bind_pending, bind_refresh_token,
    bind_session, bind_user,
};
use async_trait::async_trait;
use portcullis_core::authorization::code::AuthorizationCode;
use portcullis_core::authorization::pending::PendingAuthorization;
use portcullis_core::client::{Client, ClientSecrets};
use portcullis_core::device::{
    DeviceAuthorization, DeviceAuthorizationStatus, DevicePoll, SLOW_DOWN_INCREMENT,
};
use portcullis_core::keys::StoredSigningKey;
use portcullis_core::secret::SecretDigest;
use portcullis_core::session::BrowserSession;
use portcullis_core::store::PoolStatus;
use portcullis_core::store::{PurgeCounts, RateKey};
use portcullis_core::tokens::refresh_token::RefreshToken;
use portcullis_core::user::User;
use portcullis_core::{Store, StoreError, UnixTime};
use sqlx::pool::PoolConnection;
use sqlx::{
    ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Transaction, Type,
};
use std::collections::BTreeSet;

/// A [`Store`] on an sqlx connection pool. Use the aliases
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

    /// Whether a write transaction's connection dropped while its `BEGIN` is unanswered
    /// is closed instead of returned to the pool (`WriteConnection` in `store.rs`).
    /// `true` on PostgreSQL, where sqlx 0.9.0 would leave it inside a transaction
    /// (transact-rs/sqlx#4393); `false` on SQLite, where sqlx's worker thread itself
    /// rolls back a `BEGIN` whose caller has gone, and closing the one connection of an
    /// in-memory database would lose the database.
    const CLOSE_IF_DROPPED_DURING_BEGIN: bool;

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

#[async_trait]
impl<DB> Store for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'r> &'r str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
    for<'a> String: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> Vec<u8>: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> i64: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> bool: Encode<'a, DB> + Decode<'a, DB> + Type<DB>,
    for<'a> Option<String>: Encode<'a, DB>,
    for<'a> Option<Vec<u8>>: Encode<'a, DB>,
    for<'a> Option<i64>: Encode<'a, DB>,
{
    fn pool_status(&self) -> Option<PoolStatus> {
        Some(PoolStatus {
            open: self.pool.size(),
            idle: u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX),
            max: self.pool.options().get_max_connections(),
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query::<DB>(sql::PING)
            .execute(&self.pool)
            .await
            .map_err(classify("ping"))?;
        Ok(())
    }

    async fn client_get(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        sqlx::query_as::<DB, ClientRecord>(sql::CLIENT_GET)
            .bind(client_id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a client"))?
            .map(ClientRecord::decode)
            .transpose()
    }

    async fn client_list(&self) -> Result<Vec<Client>, StoreError> {
        sqlx::query_as::<DB, ClientRecord>(sql::CLIENT_LIST)
            .fetch_all(&self.pool)
            .await
            .map_err(classify("listing clients"))?
            .into_iter()
            .map(ClientRecord::decode)
            .collect()
    }

    async fn client_insert(&self, client: &Client) -> Result<(), StoreError> {
        let record = ClientRecord::encode(client)?;
        bind_client!(sqlx::query::<DB>(sql::CLIENT_INSERT), record)
            .execute(&self.pool)
            .await
            .map_err(classify(&format!("client `{}`", client.client_id)))?;
        Ok(())
    }

    async fn client_upsert(&self, client: &Client) -> Result<(), StoreError> {
        let record = ClientRecord::encode(client)?;
        bind_client!(sqlx::query::<DB>(sql::CLIENT_UPSERT), record)
            .execute(&self.pool)
            .await
            .map_err(classify(&format!("client `{}`", client.client_id)))?;
        Ok(())
    }

    async fn client_delete(&self, client_id: &str) -> Result<bool, StoreError> {
        let result = sqlx::query::<DB>(sql::CLIENT_DELETE)
            .bind(client_id.to_owned())
            .execute(&self.pool)
            .await
            .map_err(classify("deleting a client"))?;
        Ok(DB::rows_affected(&result) > 0)
    }

    async fn client_delete_config_except(
        &self,
        keep: &[String],
    ) -> Result<Vec<String>, StoreError> {
        // One statement: atomic without a transaction. RETURNING has no defined
        // order, so sort for a stable answer.
        let mut deleted = sqlx::query_scalar::<DB, String>(DB::DELETE_CONFIG_CLIENTS_EXCEPT)
            .bind(id_list(keep)?)
            .fetch_all(&self.pool)
            .await
            .map_err(classify("deleting clients removed from the configuration"))?;
        deleted.sort_unstable();
        Ok(deleted)
    }

    async fn user_delete_config_except(&self, keep: &[String]) -> Result<Vec<String>, StoreError> {
        let mut deleted = sqlx::query_scalar::<DB, String>(DB::DELETE_CONFIG_USERS_EXCEPT)
            .bind(id_list(keep)?)
            .fetch_all(&self.pool)
            .await
            .map_err(classify("deleting users removed from the configuration"))?;
        deleted.sort_unstable();
        Ok(deleted)
    }

    async fn client_set_secrets(
        &self,
        client_id: &str,
        secrets: &ClientSecrets,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let (current, previous, previous_expires_at) = encode_secrets(secrets);
        let result = sqlx::query::<DB>(sql::CLIENT_SET_SECRETS)
            .bind(client_id.to_owned())
            .bind(current)
            .bind(previous)
            .bind(previous_expires_at)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(classify("setting client secrets"))?;
        if DB::rows_affected(&result) == 0 {
            return Err(StoreError::NotFound(format!("client `{client_id}`")));
        }
        Ok(())
    }

    async fn user_get_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<DB, UserRecord>(sql::USER_GET_BY_USERNAME)
            .bind(username.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a user"))?
            .map(UserRecord::decode)
            .transpose()
    }

    async fn user_list(&self) -> Result<Vec<User>, StoreError> {
        sqlx::query_as::<DB, UserRecord>(sql::USER_LIST)
            .fetch_all(&self.pool)
            .await
            .map_err(classify("listing users"))?
            .into_iter()
            .map(UserRecord::decode)
            .collect()
    }

    async fn user_insert(&self, user: &User) -> Result<(), StoreError> {
        let record = UserRecord::encode(user)?;
        bind_user!(sqlx::query::<DB>(sql::USER_INSERT), record)
            .execute(&self.pool)
            .await
            .map_err(classify(&user_conflict(user)))?;
        Ok(())
    }

    async fn user_upsert(&self, user: &User) -> Result<(), StoreError> {
        let record = UserRecord::encode(user)?;
        bind_user!(sqlx::query::<DB>(sql::USER_UPSERT), record)
            .execute(&self.pool)
            .await
            .map_err(classify(&user_conflict(user)))?;
        Ok(())
    }

    async fn user_delete(&self, username: &str) -> Result<bool, StoreError> {
        let result = sqlx::query::<DB>(sql::USER_DELETE)
            .bind(username.to_owned())
            .execute(&self.pool)
            .await
            .map_err(classify("deleting a user"))?;
        Ok(DB::rows_affected(&result) > 0)
    }

    async fn signing_keys_list(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        let rows = sqlx::query_as::<DB, SigningKeyRecord>(sql::KEY_LIST)
            .fetch_all(&self.pool)
            .await
            .map_err(classify("listing signing keys"))?;
        decode_signing_keys(rows)
    }

    async fn signing_key_insert_first(&self, key: &StoredSigningKey) -> Result<(), StoreError> {
        let record = SigningKeyRecord::encode(key)?;
        bind_new_key!(sqlx::query::<DB>(sql::KEY_INSERT_ACTIVE), record)
            .execute(&self.pool)
            .await
            .map_err(classify(&key_conflict(key)))?;
        Ok(())
    }

    async fn signing_key_rotate(
        &self,
        new_keys: &[StoredSigningKey],
        now: UnixTime,
        publish_until: UnixTime,
    ) -> Result<(), StoreError> {
        let records = new_keys
            .iter()
            .map(SigningKeyRecord::encode)
            .collect::<Result<Vec<_>, _>>()?;
        let what = new_keys
            .iter()
            .map(key_conflict)
            .collect::<Vec<_>>()
            .join("; ");
        // Dropping `tx` on an early return rolls back, so every old key stays active
        // unless every new one is in.
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(&what))?;
        let mut tx = conn.begin().await.map_err(classify(&what))?;
        for record in records {
            sqlx::query::<DB>(sql::KEY_RETIRE_ACTIVE)
                .bind(record.alg.clone())
                .bind(now)
                .bind(publish_until)
                .execute(&mut *tx)
                .await
                .map_err(classify(&what))?;
            bind_new_key!(sqlx::query::<DB>(sql::KEY_INSERT_ACTIVE), record)
                .execute(&mut *tx)
                .await
                .map_err(classify(&what))?;
        }
        tx.commit().await.map_err(classify(&what))?;
        Ok(())
    }

    async fn signing_key_insert_next(
        &self,
        new_keys: &[StoredSigningKey],
    ) -> Result<(), StoreError> {
        let records = new_keys
            .iter()
            .map(SigningKeyRecord::encode)
            .collect::<Result<Vec<_>, _>>()?;
        let what = new_keys
            .iter()
            .map(|k| {
                format!(
                    "signing key `{}`, or a pending rotation (a next key) of {}",
                    k.kid,
                    k.alg.as_str()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        // Dropping `tx` on an early return rolls back: all or nothing.
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(&what))?;
        let mut tx = conn.begin().await.map_err(classify(&what))?;
        for record in records {
            let activate_at = record.activate_at;
            bind_new_key!(sqlx::query::<DB>(sql::KEY_INSERT_NEXT), record)
                .bind(activate_at)
                .execute(&mut *tx)
                .await
                .map_err(classify(&what))?;
        }
        tx.commit().await.map_err(classify(&what))?;
        Ok(())
    }

    async fn signing_key_promote(
        &self,
        kid: &str,
        now: UnixTime,
        publish_until: UnixTime,
    ) -> Result<bool, StoreError> {
        let what = "promoting a signing key";
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(what))?;
        let mut tx = conn.begin().await.map_err(classify(what))?;
        sqlx::query::<DB>(sql::KEY_RETIRE_FOR_PROMOTION)
            .bind(kid.to_owned())
            .bind(now)
            .bind(publish_until)
            .execute(&mut *tx)
            .await
            .map_err(classify(what))?;
        let promoted = sqlx::query::<DB>(sql::KEY_PROMOTE)
            .bind(kid.to_owned())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(classify(what))?;
        if DB::rows_affected(&promoted) != 1 {
            // Not due, or another node promoted it first: nothing was changed above
            // either (the retire is conditional on the same key being a due `next`).
            return Ok(false);
        }
        tx.commit().await.map_err(classify(what))?;
        Ok(true)
    }

    async fn signing_keys_purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let result = sqlx::query::<DB>(sql::KEY_PURGE)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(classify("purging signing keys"))?;
        Ok(DB::rows_affected(&result))
    }

    async fn user_get(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        sqlx::query_as::<DB, UserRecord>(sql::USER_GET)
            .bind(user_id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a user"))?
            .map(UserRecord::decode)
            .transpose()
    }

    async fn session_insert(&self, session: &BrowserSession) -> Result<(), StoreError> {
        let what = format!("browser session of user `{}`", session.user_id);
        bind_session!(
            sqlx::query::<DB>(sql::SESSION_INSERT),
            SessionRecord::encode(session)
        )
        .execute(&self.pool)
        .await
        .map_err(classify(&what))?;
        Ok(())
    }

    async fn session_get(
        &self,
        session_digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<Option<BrowserSession>, StoreError> {
        sqlx::query_as::<DB, SessionRecord>(sql::SESSION_GET)
            .bind(digest_bytes(session_digest))
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a browser session"))?
            .map(SessionRecord::decode)
            .transpose()
    }

    async fn session_delete(&self, session_digest: &SecretDigest) -> Result<bool, StoreError> {
        let result = sqlx::query::<DB>(sql::SESSION_DELETE)
            .bind(digest_bytes(session_digest))
            .execute(&self.pool)
            .await
            .map_err(classify("deleting a browser session"))?;
        Ok(DB::rows_affected(&result) > 0)
    }

    async fn session_delete_for_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let result = sqlx::query::<DB>(sql::SESSION_DELETE_FOR_USER)
            .bind(user_id.to_owned())
            .execute(&self.pool)
            .await
            .map_err(classify(&format!(
                "deleting the browser sessions of user `{user_id}`"
            )))?;
        Ok(DB::rows_affected(&result))
    }

    async fn pending_authorization_insert(
        &self,
        pending: &PendingAuthorization,
    ) -> Result<(), StoreError> {
        let what = format!(
            "pending authorization request of client `{}`",
            pending.request.client_id()
        );
        let record = PendingAuthorizationRecord::encode(pending)?;
        bind_pending!(sqlx::query::<DB>(sql::PENDING_INSERT), record)
            .execute(&self.pool)
            .await
            .map_err(classify(&what))?;
        Ok(())
    }

    async fn pending_authorization_get(
        &self,
        id_digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        sqlx::query_as::<DB, PendingAuthorizationRecord>(sql::PENDING_GET)
            .bind(digest_bytes(id_digest))
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a pending authorization request"))?
            .map(PendingAuthorizationRecord::decode)
            .transpose()
    }

    async fn pending_authorization_set_user(
        &self,
        id_digest: &SecretDigest,
        user_id: &str,
        auth_time: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query::<DB>(sql::PENDING_SET_USER)
            .bind(digest_bytes(id_digest))
            .bind(user_id.to_owned())
            .bind(auth_time)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(classify(
                "recording the user of a pending authorization request",
            ))?;
        Ok(DB::rows_affected(&result) == 1)
    }

    async fn pending_authorization_take(
        &self,
        id_digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<Option<PendingAuthorization>, StoreError> {
        // fetch_all, not fetch_optional: the DELETE … RETURNING runs to completion
        // whatever the driver does with a half-read result. The primary key makes it
        // at most one row.
        sqlx::query_as::<DB, PendingAuthorizationRecord>(sql::PENDING_TAKE)
            .bind(digest_bytes(id_digest))
            .bind(now)
            .fetch_all(&self.pool)
            .await
            .map_err(classify("taking a pending authorization request"))?
            .into_iter()
            .next()
            .map(PendingAuthorizationRecord::decode)
            .transpose()
    }

    async fn consent_get(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> Result<BTreeSet<String>, StoreError> {
        let scopes = sqlx::query_scalar::<DB, String>(sql::CONSENT_GET)
            .bind(user_id.to_owned())
            .bind(client_id.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a consent"))?;
        scopes.map_or_else(|| Ok(BTreeSet::new()), |text| decode_scopes(&text))
    }

    async fn consent_grant(
        &self,
        user_id: &str,
        client_id: &str,
        scopes: &BTreeSet<String>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        // One statement (see `Backend::CONSENT_GRANT`): a read-union-write in a
        // transaction would lose a concurrent grant under PostgreSQL's READ COMMITTED.
        let what = format!("consent of user `{user_id}` to client `{client_id}`");
        sqlx::query::<DB>(DB::CONSENT_GRANT)
            .bind(user_id.to_owned())
            .bind(client_id.to_owned())
            .bind(encode_scopes(scopes)?)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(classify(&what))?;
        Ok(())
    }

    async fn authorization_code_insert(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        let what = format!(
            "authorization code for client `{}` and user `{}`",
            code.client_id, code.user_id
        );
        let record = AuthorizationCodeRecord::encode(code)?;
        bind_code!(sqlx::query::<DB>(sql::CODE_INSERT), record)
            .execute(&self.pool)
            .await
            .map_err(classify(&what))?;
        Ok(())
    }

    async fn authorization_code_get(
        &self,
        code_digest: &SecretDigest,
    ) -> Result<Option<AuthorizationCode>, StoreError> {
        sqlx::query_as::<DB, AuthorizationCodeRecord>(sql::CODE_GET)
            .bind(digest_bytes(code_digest))
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading an authorization code"))?
            .map(AuthorizationCodeRecord::decode)
            .transpose()
    }

    async fn authorization_code_consume(
        &self,
        code_digest: &SecretDigest,
        now: UnixTime,
        first_refresh_token: Option<&RefreshToken>,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let what = "redeeming an authorization code (and storing its refresh token)";
        let first = first_refresh_token
            .map(|token| RefreshTokenRecord::encode(token).map(|record| (token, record)))
            .transpose()?;
        // Dropping `tx` on an early return rolls back: a lost race, or a refresh token
        // that cannot be stored, leaves the code as it was (redeemable, no token added).
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(what))?;
        let mut tx = conn.begin().await.map_err(classify(what))?;
        // The conditional UPDATE is the single-use decision: on PostgreSQL a racing
        // transaction waits for this row's lock, then finds `consumed_at` set.
        let consumed = sqlx::query::<DB>(sql::CODE_CONSUME)
            .bind(digest_bytes(code_digest))
            .bind(now)
            .bind(access_token_jti.to_owned())
            .bind(access_token_expires_at)
            .execute(&mut *tx)
            .await
            .map_err(classify(what))?;
        if DB::rows_affected(&consumed) != 1 {
            return Ok(false);
        }
        if let Some((token, record)) = first {
            bind_refresh_token!(sqlx::query::<DB>(sql::REFRESH_TOKEN_INSERT), record)
                .execute(&mut *tx)
                .await
                .map_err(classify(what))?;
            sqlx::query::<DB>(sql::FAMILY_ACCESS_TOKEN_INSERT)
                .bind(access_token_jti.to_owned())
                .bind(token.family_id.clone())
                .bind(access_token_expires_at)
                .execute(&mut *tx)
                .await
                .map_err(classify(what))?;
        }
        tx.commit().await.map_err(classify(what))?;
        Ok(true)
    }

    async fn authorization_code_revoke_tokens(
        &self,
        code_digest: &SecretDigest,
        _now: UnixTime,
    ) -> Result<bool, StoreError> {
        // Read, then insert, without a transaction: the consume columns are written
        // once (the consume UPDATE requires `consumed_at IS NULL`), so what the read
        // sees cannot change before the insert, and the insert is idempotent.
        let Some(code) = self.authorization_code_get(code_digest).await? else {
            return Ok(false);
        };
        let (Some(jti), Some(expires_at)) = (code.access_token_jti, code.access_token_expires_at)
        else {
            return Ok(false);
        };
        self.access_token_revoke(&jti, expires_at).await?;
        Ok(true)
    }

    async fn refresh_token_insert(
        &self,
        token: &RefreshToken,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        let what = format!(
            "refresh token for client `{}` and user `{}`, or access token `{access_token_jti}`",
            token.client_id, token.user_id
        );
        let record = RefreshTokenRecord::encode(token)?;
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(&what))?;
        let mut tx = conn.begin().await.map_err(classify(&what))?;
        bind_refresh_token!(sqlx::query::<DB>(sql::REFRESH_TOKEN_INSERT), record)
            .execute(&mut *tx)
            .await
            .map_err(classify(&what))?;
        sqlx::query::<DB>(sql::FAMILY_ACCESS_TOKEN_INSERT)
            .bind(access_token_jti.to_owned())
            .bind(token.family_id.clone())
            .bind(access_token_expires_at)
            .execute(&mut *tx)
            .await
            .map_err(classify(&what))?;
        tx.commit().await.map_err(classify(&what))?;
        Ok(())
    }

    async fn refresh_token_get(
        &self,
        token_digest: &SecretDigest,
    ) -> Result<Option<RefreshToken>, StoreError> {
        sqlx::query_as::<DB, RefreshTokenRecord>(sql::REFRESH_TOKEN_GET)
            .bind(digest_bytes(token_digest))
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a refresh token"))?
            .map(RefreshTokenRecord::decode)
            .transpose()
    }

    async fn refresh_token_rotate(
        &self,
        old: &SecretDigest,
        successor: &RefreshToken,
        now: UnixTime,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let what = format!(
            "rotating a refresh token of client `{}` and user `{}`",
            successor.client_id, successor.user_id
        );
        let record = RefreshTokenRecord::encode(successor)?;
        // Dropping `tx` on an early return rolls back: a refused rotation writes nothing.
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(&what))?;
        let mut tx = conn.begin().await.map_err(classify(&what))?;
        if let Some(lock) = DB::LOCK_REFRESH_FAMILY {
            sqlx::query::<DB>(lock)
                .bind(successor.family_id.clone())
                .execute(&mut *tx)
                .await
                .map_err(classify(&what))?;
        }
        // fetch_all: the UPDATE … RETURNING runs to completion; the primary key makes
        // it at most one row.
        let rotated = sqlx::query_scalar::<DB, String>(sql::REFRESH_TOKEN_ROTATE)
            .bind(digest_bytes(old))
            .bind(now)
            .fetch_all(&mut *tx)
            .await
            .map_err(classify(&what))?;
        let Some(family_id) = rotated.first() else {
            return Ok(false);
        };
        // The family is what reuse detection revokes: a successor outside it would
        // survive a replay of its predecessor.
        if *family_id != successor.family_id {
            return Err(StoreError::Other(format!(
                "{what}: the successor is not in the family of the token it replaces"
            )));
        }
        bind_refresh_token!(sqlx::query::<DB>(sql::REFRESH_TOKEN_INSERT), record)
            .execute(&mut *tx)
            .await
            .map_err(classify(&what))?;
        sqlx::query::<DB>(sql::FAMILY_ACCESS_TOKEN_INSERT)
            .bind(access_token_jti.to_owned())
            .bind(successor.family_id.clone())
            .bind(access_token_expires_at)
            .execute(&mut *tx)
            .await
            .map_err(classify(&what))?;
        tx.commit().await.map_err(classify(&what))?;
        Ok(true)
    }

    async fn refresh_family_revoke(
        &self,
        family_id: &str,
        now: UnixTime,
    ) -> Result<u64, StoreError> {
        let what = "revoking a refresh token family";
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(what))?;
        let mut tx = conn.begin().await.map_err(classify(what))?;
        if let Some(lock) = DB::LOCK_REFRESH_FAMILY {
            sqlx::query::<DB>(lock)
                .bind(family_id.to_owned())
                .execute(&mut *tx)
                .await
                .map_err(classify(what))?;
        }
        let revoked = sqlx::query::<DB>(sql::REFRESH_FAMILY_REVOKE)
            .bind(family_id.to_owned())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(classify(what))?;
        sqlx::query::<DB>(sql::REFRESH_FAMILY_REVOKE_ACCESS_TOKENS)
            .bind(family_id.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(classify(what))?;
        tx.commit().await.map_err(classify(what))?;
        Ok(DB::rows_affected(&revoked))
    }

    async fn access_token_family(&self, jti: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar::<DB, String>(sql::ACCESS_TOKEN_FAMILY)
            .bind(jti.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading the family of an access token"))
    }

    async fn access_token_revoke(&self, jti: &str, expires_at: UnixTime) -> Result<(), StoreError> {
        sqlx::query::<DB>(sql::ACCESS_TOKEN_REVOKE)
            .bind(jti.to_owned())
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(classify("revoking an access token"))?;
        Ok(())
    }

    async fn access_token_is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let found = sqlx::query_scalar::<DB, String>(sql::ACCESS_TOKEN_IS_REVOKED)
            .bind(jti.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading the access token revocation list"))?;
        Ok(found.is_some())
    }

    async fn device_authorization_insert(
        &self,
        authorization: &DeviceAuthorization,
    ) -> Result<(), StoreError> {
        let what = format!(
            "device authorization of client `{}` (device code or user code)",
            authorization.client_id
        );
        let record = DeviceAuthorizationRecord::encode(authorization)?;
        bind_device!(sqlx::query::<DB>(sql::DEVICE_INSERT), record)
            .execute(&self.pool)
            .await
            .map_err(classify(&what))?;
        Ok(())
    }

    async fn device_authorization_get(
        &self,
        device_code_digest: &SecretDigest,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        sqlx::query_as::<DB, DeviceAuthorizationRecord>(sql::DEVICE_GET)
            .bind(digest_bytes(device_code_digest))
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a device authorization"))?
            .map(DeviceAuthorizationRecord::decode)
            .transpose()
    }

    async fn device_authorization_find_by_user_code(
        &self,
        user_code_digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        sqlx::query_as::<DB, DeviceAuthorizationRecord>(sql::DEVICE_FIND_BY_USER_CODE)
            .bind(digest_bytes(user_code_digest))
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a device authorization by user code"))?
            .map(DeviceAuthorizationRecord::decode)
            .transpose()
    }

    async fn device_authorization_decide(
        &self,
        device_code_digest: &SecretDigest,
        decision: &DeviceAuthorizationStatus,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        if *decision == DeviceAuthorizationStatus::Pending {
            return Ok(false);
        }
        let (status, user_id, auth_time) = encode_device_status(decision);
        let result = sqlx::query::<DB>(sql::DEVICE_DECIDE)
            .bind(digest_bytes(device_code_digest))
            .bind(status.to_owned())
            .bind(user_id)
            .bind(auth_time)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(classify("recording the decision on a device authorization"))?;
        Ok(DB::rows_affected(&result) == 1)
    }

    async fn device_authorization_poll(
        &self,
        device_code_digest: &SecretDigest,
        client_id: &str,
        now: UnixTime,
    ) -> Result<Option<DevicePoll>, StoreError> {
        // fetch_all: the UPDATE … RETURNING runs to completion; the primary key makes
        // it at most one row.
        sqlx::query_as::<DB, DeviceAuthorizationRecord>(sql::DEVICE_POLL)
            .bind(digest_bytes(device_code_digest))
            .bind(client_id.to_owned())
            .bind(now)
            .bind(SLOW_DOWN_INCREMENT)
            .fetch_all(&self.pool)
            .await
            .map_err(classify("recording a poll of a device authorization"))?
            .into_iter()
            .next()
            .map(DeviceAuthorizationRecord::decode_poll)
            .transpose()
    }

    async fn device_authorization_consume(
        &self,
        device_code_digest: &SecretDigest,
        now: UnixTime,
        first_refresh_token: Option<&RefreshToken>,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let what = "redeeming a device authorization (and storing its refresh token)";
        let first = first_refresh_token
            .map(|token| RefreshTokenRecord::encode(token).map(|record| (token, record)))
            .transpose()?;
        // Dropping `tx` on an early return rolls back: a lost race, or a refresh token
        // that cannot be stored, leaves the authorization as it was (not burned).
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(what))?;
        let mut tx = conn.begin().await.map_err(classify(what))?;
        // The conditional UPDATE is the single-use decision: on PostgreSQL a racing
        // transaction waits for this row's lock, then finds `consumed_at` set.
        let consumed = sqlx::query::<DB>(sql::DEVICE_CONSUME)
            .bind(digest_bytes(device_code_digest))
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(classify(what))?;
        if DB::rows_affected(&consumed) != 1 {
            return Ok(false);
        }
        if let Some((token, record)) = first {
            bind_refresh_token!(sqlx::query::<DB>(sql::REFRESH_TOKEN_INSERT), record)
                .execute(&mut *tx)
                .await
                .map_err(classify(what))?;
            sqlx::query::<DB>(sql::FAMILY_ACCESS_TOKEN_INSERT)
                .bind(access_token_jti.to_owned())
                .bind(token.family_id.clone())
                .bind(access_token_expires_at)
                .execute(&mut *tx)
                .await
                .map_err(classify(what))?;
        }
        tx.commit().await.map_err(classify(what))?;
        Ok(true)
    }

    async fn purge_expired(&self, now: UnixTime, limit: u32) -> Result<PurgeCounts, StoreError> {
        // Each statement commits on its own: no transaction spans the tables, and
        // none holds its locks longer than one batch takes to delete.
        let purge = |statement: &'static str, what: &'static str| async move {
            let result = sqlx::query::<DB>(statement)
                .bind(now)
                .bind(i64::from(limit))
                .execute(&self.pool)
                .await
                .map_err(classify(what))?;
            Ok::<_, StoreError>(DB::rows_affected(&result))
        };
        Ok(PurgeCounts {
            pending_authorizations: purge(
                sql::PURGE_PENDING,
                "purging expired pending authorization requests",
            )
            .await?,
            browser_sessions: purge(sql::PURGE_SESSIONS, "purging expired browser sessions")
                .await?,
            authorization_codes: purge(sql::PURGE_CODES, "purging expired authorization codes")
                .await?,
            revoked_access_tokens: purge(
                sql::PURGE_REVOKED,
                "purging the revocation list of expired access tokens",
            )
            .await?,
            refresh_tokens: purge(sql::PURGE_REFRESH_TOKENS, "purging expired refresh tokens")
                .await?,
            family_access_tokens: purge(
                sql::PURGE_FAMILY_ACCESS_TOKENS,
                "purging family records of expired access tokens",
            )
            .await?,
            device_authorizations: purge(
                sql::PURGE_DEVICE_AUTHORIZATIONS,
                "purging expired device authorizations",
            )
            .await?,
            rate_limits: purge(sql::PURGE_RATE_LIMITS, "purging full rate-limit buckets").await?,
        })
    }

    async fn rate_limit_take(
        &self,
        keys: &[RateKey],
        now_ms: i64,
    ) -> Result<Result<Vec<u32>, u64>, StoreError> {
        let what = "taking rate-limit cells";
        // Rows are locked in key order, so two takes on PostgreSQL cannot deadlock.
        let mut order: Vec<(usize, &RateKey)> = keys.iter().enumerate().collect();
        order.sort_by(|a, b| a.1.key.cmp(&b.1.key));
        let mut left = vec![0_u32; keys.len()];
        let mut wait: Option<u64> = None;
        // Dropping `tx` without a commit rolls back: a refusal takes nothing.
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(what))?;
        let mut tx = conn.begin().await.map_err(classify(what))?;
        for (index, key) in order {
            let (new_tat,): (i64,) = sqlx::query_as::<DB, (i64,)>(sql::RATE_LIMIT_TAKE)
                .bind(key.key.clone())
                .bind(now_ms)
                .bind(key.interval_ms)
                .fetch_one(&mut *tx)
                .await
                .map_err(classify(what))?;
            match key.check_new_tat(new_tat, now_ms) {
                Ok((_, cells)) => {
                    if let Some(slot) = left.get_mut(index) {
                        *slot = cells;
                    }
                }
                Err(retry) => wait = wait.max(Some(retry)),
            }
        }
        if let Some(retry) = wait {
            tx.rollback().await.map_err(classify(what))?;
            return Ok(Err(retry));
        }
        tx.commit().await.map_err(classify(what))?;
        Ok(Ok(left))
    }

    async fn rate_limit_refund(&self, keys: &[RateKey], now_ms: i64) -> Result<(), StoreError> {
        let what = "giving back rate-limit cells";
        let mut order: Vec<&RateKey> = keys.iter().collect();
        order.sort_by(|a, b| a.key.cmp(&b.key));
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(what))?;
        let mut tx = conn.begin().await.map_err(classify(what))?;
        for key in order {
            sqlx::query::<DB>(sql::RATE_LIMIT_REFUND)
                .bind(key.key.clone())
                .bind(now_ms)
                .bind(key.interval_ms)
                .execute(&mut *tx)
                .await
                .map_err(classify(what))?;
        }
        tx.commit().await.map_err(classify(what))?;
        Ok(())
    }
}

fn user_conflict(user: &User) -> String {
    format!("user `{}` (or user_id `{}`)", user.username, user.user_id)
}

/// What a failed key insert collided with: the same kid, or (the race this index
/// exists for) another node's active key of the same algorithm.
fn key_conflict(key: &StoredSigningKey) -> String {
    format!(
        "signing key `{}`, or another active {} key",
        key.kid,
        key.alg.as_str()
    )
}
