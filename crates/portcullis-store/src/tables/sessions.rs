//! The `browser_sessions` table: a row ([`SessionRecord`]), its columns and SQL, and
//! [`SessionStore`] on [`SqlStore`](crate::SqlStore).

use crate::codec::{digest_bytes, digest_from};
use crate::error::classify;
use crate::store::{WriteConnection, sql_store_impl};
use portcullis_core::secret::SecretDigest;
use portcullis_core::session::{BrowserSession, SessionStore};
use portcullis_core::{StoreError, UnixTime};

/// One row of `browser_sessions`, column for column.
#[derive(Debug, sqlx::FromRow)]
struct SessionRecord {
    pub session_digest: Vec<u8>,
    pub user_id: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
}

impl SessionRecord {
    /// The row that stores `session`.
    pub fn encode(session: &BrowserSession) -> Self {
        Self {
            session_digest: digest_bytes(&session.session_digest),
            user_id: session.user_id.clone(),
            auth_time: session.auth_time,
            created_at: session.created_at,
            expires_at: session.expires_at,
        }
    }

    /// The session this row stores.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if the digest is not 32 bytes.
    pub fn decode(self) -> Result<BrowserSession, StoreError> {
        Ok(BrowserSession {
            session_digest: digest_from("browser_sessions.session_digest", &self.session_digest)?,
            user_id: self.user_id,
            auth_time: self.auth_time,
            created_at: self.created_at,
            expires_at: self.expires_at,
        })
    }
}

/// Columns of `browser_sessions`, in [`SessionRecord`] and
/// `bind_session!` order.
macro_rules! session_columns {
    () => {
        "session_digest, user_id, auth_time, created_at, expires_at"
    };
}

/// Binds a [`SessionRecord`] as `$1`…`$5` of [`SESSION_INSERT`].
macro_rules! bind_session {
    ($query:expr, $record:expr) => {{
        let r = $record;
        $query
            .bind(r.session_digest)
            .bind(r.user_id)
            .bind(r.auth_time)
            .bind(r.created_at)
            .bind(r.expires_at)
    }};
}

/// See [`session_columns`].
const SESSION_INSERT: &str = concat!(
    "INSERT INTO browser_sessions (",
    session_columns!(),
    ") VALUES ($1, $2, $3, $4, $5)"
);

/// `$1` = session digest, `$2` = now: only a live session.
const SESSION_GET: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM browser_sessions WHERE session_digest = $1 AND expires_at > $2"
);

/// `$1` = session digest.
const SESSION_DELETE: &str = "DELETE FROM browser_sessions WHERE session_digest = $1";

/// `$1` = user_id: every session of the user (served by `browser_sessions_user_id`).
const SESSION_DELETE_FOR_USER: &str = "DELETE FROM browser_sessions WHERE user_id = $1";

/// `$1` = now, `$2` = user_id or NULL for every user: live sessions, oldest first.
const SESSION_LIST: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM browser_sessions WHERE expires_at > $1 \
     AND (CAST($2 AS TEXT) IS NULL OR user_id = $2) ORDER BY created_at, session_digest"
);

/// `$1` user_id, `$2` client_id, `$3` auth_time, `$4` since (each NULL for any):
/// unredeemed authorization codes.
const PENDING_CODES_WITHDRAW: &str = "DELETE FROM authorization_codes WHERE consumed_at IS NULL \
     AND (CAST($1 AS TEXT) IS NULL OR user_id = $1) \
     AND (CAST($2 AS TEXT) IS NULL OR client_id = $2) \
     AND (CAST($3 AS BIGINT) IS NULL OR auth_time = $3) \
     AND (CAST($4 AS BIGINT) IS NULL OR created_at >= $4)";

/// The same filters: approved, unconsumed device authorizations.
const PENDING_DEVICES_WITHDRAW: &str = "DELETE FROM device_authorizations \
     WHERE consumed_at IS NULL AND status = 'approved' \
     AND (CAST($1 AS TEXT) IS NULL OR user_id = $1) \
     AND (CAST($2 AS TEXT) IS NULL OR client_id = $2) \
     AND (CAST($3 AS BIGINT) IS NULL OR auth_time = $3) \
     AND (CAST($4 AS BIGINT) IS NULL OR created_at >= $4)";

sql_store_impl!(
    SessionStore,
    async fn session_insert(&self, session: &BrowserSession) -> Result<(), StoreError> {
        let what = format!("browser session of user `{}`", session.user_id);
        bind_session!(
            sqlx::query::<DB>(SESSION_INSERT),
            SessionRecord::encode(session)
        )
        .execute(&self.pool)
        .await
        .map_err(classify(&what))?;
        Ok(())
    },
    async fn session_get(
        &self,
        session_digest: &SecretDigest,
        now: UnixTime,
    ) -> Result<Option<BrowserSession>, StoreError> {
        sqlx::query_as::<DB, SessionRecord>(SESSION_GET)
            .bind(digest_bytes(session_digest))
            .bind(now)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a browser session"))?
            .map(SessionRecord::decode)
            .transpose()
    },
    async fn session_delete(&self, session_digest: &SecretDigest) -> Result<bool, StoreError> {
        let result = sqlx::query::<DB>(SESSION_DELETE)
            .bind(digest_bytes(session_digest))
            .execute(&self.pool)
            .await
            .map_err(classify("deleting a browser session"))?;
        Ok(DB::rows_affected(&result) > 0)
    },
    async fn session_delete_for_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let result = sqlx::query::<DB>(SESSION_DELETE_FOR_USER)
            .bind(user_id.to_owned())
            .execute(&self.pool)
            .await
            .map_err(classify(&format!(
                "deleting the browser sessions of user `{user_id}`"
            )))?;
        Ok(DB::rows_affected(&result))
    },
    async fn pending_grants_withdraw(
        &self,
        user_id: Option<&str>,
        client_id: Option<&str>,
        auth_time: Option<UnixTime>,
        since: Option<UnixTime>,
    ) -> Result<u64, StoreError> {
        let what = "withdrawing unredeemed codes and approved device codes";
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(what))?;
        let mut tx = conn.begin().await.map_err(classify(what))?;
        let mut withdrawn = 0;
        for statement in [PENDING_CODES_WITHDRAW, PENDING_DEVICES_WITHDRAW] {
            let result = sqlx::query::<DB>(statement)
                .bind(user_id.map(str::to_owned))
                .bind(client_id.map(str::to_owned))
                .bind(auth_time)
                .bind(since)
                .execute(&mut *tx)
                .await
                .map_err(classify(what))?;
            withdrawn += DB::rows_affected(&result);
        }
        tx.commit().await.map_err(classify(what))?;
        Ok(withdrawn)
    },
    async fn session_list(
        &self,
        user_id: Option<&str>,
        now: UnixTime,
    ) -> Result<Vec<BrowserSession>, StoreError> {
        sqlx::query_as::<DB, SessionRecord>(SESSION_LIST)
            .bind(now)
            .bind(user_id.map(str::to_owned))
            .fetch_all(&self.pool)
            .await
            .map_err(classify("listing browser sessions"))?
            .into_iter()
            .map(SessionRecord::decode)
            .collect()
    },
);
