//! The `refresh_tokens` table and `family_access_tokens` (the access tokens issued in
//! each refresh token family, revoked with it): a row ([`RefreshTokenRecord`]), the
//! columns and SQL, and [`RefreshTokenStore`] on [`SqlStore`](crate::SqlStore).

use crate::codec::{digest_bytes, digest_from, from_json, to_json};
use crate::error::classify;
use crate::store::{WriteConnection, sql_store_impl};
use portcullis_core::secret::SecretDigest;
use portcullis_core::tokens::refresh_token::{RefreshFamily, RefreshToken, RefreshTokenStore};
use portcullis_core::{StoreError, UnixTime};

/// One row of `refresh_tokens`, column for column.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct RefreshTokenRecord {
    pub token_digest: Vec<u8>,
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scopes: String,
    pub resources: String,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub rotated_at: Option<i64>,
    pub revoked_at: Option<i64>,
    pub dpop_jkt: Option<String>,
}

impl RefreshTokenRecord {
    /// The row that stores `token`.
    ///
    /// # Errors
    /// [`StoreError::Other`] if a list cannot be serialized as JSON.
    pub fn encode(token: &RefreshToken) -> Result<Self, StoreError> {
        Ok(Self {
            token_digest: digest_bytes(&token.token_digest),
            family_id: token.family_id.clone(),
            client_id: token.client_id.clone(),
            user_id: token.user_id.clone(),
            scopes: to_json("refresh_tokens.scopes", &token.scopes)?,
            resources: to_json("refresh_tokens.resources", &token.resources)?,
            auth_time: token.auth_time,
            created_at: token.created_at,
            expires_at: token.expires_at,
            rotated_at: token.rotated_at,
            revoked_at: token.revoked_at,
            dpop_jkt: token.dpop_jkt.clone(),
        })
    }

    /// The refresh token this row stores.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column that does not decode.
    pub fn decode(self) -> Result<RefreshToken, StoreError> {
        Ok(RefreshToken {
            token_digest: digest_from("refresh_tokens.token_digest", &self.token_digest)?,
            scopes: from_json("refresh_tokens.scopes", &self.scopes)?,
            resources: from_json("refresh_tokens.resources", &self.resources)?,
            family_id: self.family_id,
            client_id: self.client_id,
            user_id: self.user_id,
            auth_time: self.auth_time,
            created_at: self.created_at,
            expires_at: self.expires_at,
            rotated_at: self.rotated_at,
            revoked_at: self.revoked_at,
            dpop_jkt: self.dpop_jkt,
        })
    }
}

/// Columns of `refresh_tokens`, in [`RefreshTokenRecord`] and
/// `bind_refresh_token!` order.
macro_rules! refresh_token_columns {
    () => {
        "token_digest, family_id, client_id, user_id, scopes, resources, auth_time, \
         created_at, expires_at, rotated_at, revoked_at, dpop_jkt"
    };
}
pub(crate) use refresh_token_columns;

/// Binds a [`RefreshTokenRecord`] as `$1`…`$12` of
/// [`REFRESH_TOKEN_INSERT`].
macro_rules! bind_refresh_token {
    ($query:expr, $record:expr) => {{
        let r = $record;
        $query
            .bind(r.token_digest)
            .bind(r.family_id)
            .bind(r.client_id)
            .bind(r.user_id)
            .bind(r.scopes)
            .bind(r.resources)
            .bind(r.auth_time)
            .bind(r.created_at)
            .bind(r.expires_at)
            .bind(r.rotated_at)
            .bind(r.revoked_at)
            .bind(r.dpop_jkt)
    }};
}
pub(crate) use bind_refresh_token;

/// See [`refresh_token_columns`].
const REFRESH_TOKEN_INSERT: &str = concat!(
    "INSERT INTO refresh_tokens (",
    refresh_token_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
);

/// `$1` = token digest; live, rotated, revoked or expired.
const REFRESH_TOKEN_GET: &str = concat!(
    "SELECT ",
    refresh_token_columns!(),
    " FROM refresh_tokens WHERE token_digest = $1"
);

/// `$1` = token digest, `$2` = now. Rotation in one conditional statement (DESIGN.md
/// "Storage"): of any number of concurrent uses, exactly one affects the row and gets
/// its family back; the others find it rotated. On PostgreSQL the losers wait on the
/// winner's row lock, then re-check the WHERE on the committed row (READ COMMITTED).
const REFRESH_TOKEN_ROTATE: &str = "UPDATE refresh_tokens SET rotated_at = $2 \
     WHERE token_digest = $1 AND rotated_at IS NULL AND revoked_at IS NULL \
     AND expires_at > $2 RETURNING family_id";

/// The rotation as one statement where the backend allows it
/// ([`Backend::WRITABLE_CTES`](crate::store::Backend::WRITABLE_CTES), PostgreSQL):
/// `$1` = the old token's digest, `$2` = now, `$3`…`$14` = the successor as in
/// [`REFRESH_TOKEN_INSERT`] (`$4` its family), `$15` = the access token's jti, `$16`
/// its exp; answers how many tokens it rotated (0 or 1). One statement is one
/// transaction: all of it or nothing is written, in one round trip.
///
/// `family_lock` takes the same family lock as `LOCK_REFRESH_FAMILY` in `postgres.rs`
/// (class "RFAM", hash of the family id; the test `the_one_statement_rotation_takes
/// _the_family_lock` pins the text), before the UPDATE touches a row: the UPDATE's
/// `WHERE` holds an uncorrelated `EXISTS` over it, a one-time filter the executor
/// evaluates before it scans (a row lock taken first could deadlock with a family
/// revoke that holds the advisory lock and waits for the row). A family revoke that
/// ran first has committed by the time the lock is granted, and READ COMMITTED
/// re-checks the `WHERE` on the row's newest version, so the UPDATE finds the token
/// revoked; a revoke that comes later waits for the lock, and its next statement
/// sees the successor. `family_id = $4` in the `WHERE` refuses a successor of another
/// family (nothing written; the caller tells that case apart).
const REFRESH_TOKEN_ROTATE_ONE_STATEMENT: &str = concat!(
    "WITH family_lock AS (SELECT pg_advisory_xact_lock(1380335949, hashtext($4::text))), ",
    "rotated AS (UPDATE refresh_tokens SET rotated_at = $2 \
     WHERE token_digest = $1 AND rotated_at IS NULL AND revoked_at IS NULL \
     AND expires_at > $2 AND family_id = $4 AND EXISTS (SELECT 1 FROM family_lock) \
     RETURNING family_id), ",
    "successor AS (INSERT INTO refresh_tokens (",
    refresh_token_columns!(),
    ") SELECT $3::bytea, family_id, $5::text, $6::text, $7::text, $8::text, $9::bigint, \
     $10::bigint, $11::bigint, $12::bigint, $13::bigint, $14::text FROM rotated \
     RETURNING family_id), ",
    "access AS (INSERT INTO family_access_tokens (jti, family_id, expires_at) \
     SELECT $15::text, family_id, $16::bigint FROM successor) ",
    "SELECT count(*) FROM rotated"
);

/// `$1` = family_id, `$2` = now: every token of the family not yet revoked.
const REFRESH_FAMILY_REVOKE: &str = "UPDATE refresh_tokens SET revoked_at = $2 \
     WHERE family_id = $1 AND revoked_at IS NULL";

/// `$1` = family_id: the access tokens issued in the family go on the revocation list
/// until their exp; those already on it keep their row.
const REFRESH_FAMILY_REVOKE_ACCESS_TOKENS: &str = "INSERT INTO revoked_access_tokens \
     (jti, expires_at) SELECT jti, expires_at FROM family_access_tokens WHERE family_id = $1 \
     ON CONFLICT (jti) DO NOTHING";

/// `$1` = jti, `$2` = family_id, `$3` = the access token's exp.
const FAMILY_ACCESS_TOKEN_INSERT: &str =
    "INSERT INTO family_access_tokens (jti, family_id, expires_at) VALUES ($1, $2, $3)";

/// `$1` = jti.
const ACCESS_TOKEN_FAMILY: &str = "SELECT family_id FROM family_access_tokens WHERE jti = $1";

sql_store_impl!(
    Self,
    /// Stores `record` and records `access_token_jti` (valid until
    /// `access_token_expires_at`) in its family, inside the caller's write transaction
    /// on `conn`: the whole of [`RefreshTokenStore::refresh_token_insert`], and the
    /// second half of a rotation and of a code or device redemption.
    pub(crate) async fn insert_refresh_token(
        conn: &mut DB::Connection,
        record: RefreshTokenRecord,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
        what: &str,
    ) -> Result<(), StoreError> {
        let family_id = record.family_id.clone();
        bind_refresh_token!(sqlx::query::<DB>(REFRESH_TOKEN_INSERT), record)
            .execute(&mut *conn)
            .await
            .map_err(classify(what))?;
        sqlx::query::<DB>(FAMILY_ACCESS_TOKEN_INSERT)
            .bind(access_token_jti.to_owned())
            .bind(family_id)
            .bind(access_token_expires_at)
            .execute(&mut *conn)
            .await
            .map_err(classify(what))?;
        Ok(())
    },
    /// Revokes the family `family_id` inside the caller's write transaction on `conn`
    /// (the whole of [`RefreshTokenStore::refresh_family_revoke`], and the second half
    /// of a code replay's revocation): takes the family lock first
    /// ([`Backend::LOCK_REFRESH_FAMILY`](crate::store::Backend::LOCK_REFRESH_FAMILY)),
    /// so the UPDATE, a statement of its own with a snapshot taken after the lock is
    /// granted, sees every successor a rotation committed; then puts the family's access
    /// tokens on the revocation list. Returns how many refresh tokens were newly revoked.
    pub(crate) async fn revoke_refresh_family(
        conn: &mut DB::Connection,
        family_id: &str,
        now: UnixTime,
        what: &str,
    ) -> Result<u64, StoreError> {
        if let Some(lock) = DB::LOCK_REFRESH_FAMILY {
            sqlx::query::<DB>(lock)
                .bind(family_id.to_owned())
                .execute(&mut *conn)
                .await
                .map_err(classify(what))?;
        }
        let revoked = sqlx::query::<DB>(REFRESH_FAMILY_REVOKE)
            .bind(family_id.to_owned())
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(classify(what))?;
        sqlx::query::<DB>(REFRESH_FAMILY_REVOKE_ACCESS_TOKENS)
            .bind(family_id.to_owned())
            .execute(&mut *conn)
            .await
            .map_err(classify(what))?;
        Ok(DB::rows_affected(&revoked))
    },
    /// [`RefreshTokenStore::refresh_token_rotate`] as
    /// [`REFRESH_TOKEN_ROTATE_ONE_STATEMENT`]: one round trip when the token rotates.
    /// When it does not, a second read tells a successor of another family (an error,
    /// nothing written) from a token that is no longer live (`false`).
    async fn rotate_in_one_statement(
        &self,
        old: &SecretDigest,
        successor: &RefreshToken,
        now: UnixTime,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
        what: &str,
    ) -> Result<bool, StoreError> {
        let record = RefreshTokenRecord::encode(successor)?;
        let query = sqlx::query_scalar::<DB, i64>(REFRESH_TOKEN_ROTATE_ONE_STATEMENT)
            .bind(digest_bytes(old))
            .bind(now);
        let rotated = bind_refresh_token!(query, record)
            .bind(access_token_jti.to_owned())
            .bind(access_token_expires_at)
            .fetch_one(&self.pool)
            .await
            .map_err(classify(what))?;
        if rotated == 1 {
            return Ok(true);
        }
        let live_elsewhere = self.refresh_token_get(old).await?.is_some_and(|t| {
            t.family_id != successor.family_id
                && t.rotated_at.is_none()
                && t.revoked_at.is_none()
                && now < t.expires_at
        });
        if live_elsewhere {
            return Err(not_in_family(what));
        }
        Ok(false)
    },
);

/// `$1` = now, `$2` = user_id or NULL, `$3` = client_id or NULL: the live families
/// (a token neither revoked nor expired), oldest first, with the number of their
/// access tokens not yet expired.
const REFRESH_FAMILY_LIST: &str = "SELECT r.family_id, MIN(r.client_id) AS client_id, \
     MIN(r.user_id) AS user_id, MIN(r.scopes) AS scopes, MIN(r.auth_time) AS auth_time, \
     MIN(r.created_at) AS created_at, MAX(r.created_at) AS last_used_at, \
     (SELECT COUNT(*) FROM family_access_tokens a \
      WHERE a.family_id = r.family_id AND a.expires_at > $1) AS live_access_tokens \
     FROM refresh_tokens r WHERE r.revoked_at IS NULL AND r.expires_at > $1 \
     AND (CAST($2 AS TEXT) IS NULL OR r.user_id = $2) \
     AND (CAST($3 AS TEXT) IS NULL OR r.client_id = $3) \
     GROUP BY r.family_id ORDER BY MIN(r.created_at), r.family_id";

/// One row of [`REFRESH_FAMILY_LIST`].
#[derive(Debug, sqlx::FromRow)]
struct RefreshFamilyRecord {
    family_id: String,
    client_id: String,
    user_id: String,
    scopes: String,
    auth_time: i64,
    created_at: i64,
    last_used_at: i64,
    live_access_tokens: i64,
}

impl RefreshFamilyRecord {
    /// The family this row summarises.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] if the scopes do not decode.
    fn decode(self) -> Result<RefreshFamily, StoreError> {
        Ok(RefreshFamily {
            scopes: from_json("refresh_tokens.scopes", &self.scopes)?,
            family_id: self.family_id,
            client_id: self.client_id,
            user_id: self.user_id,
            auth_time: self.auth_time,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            live_access_tokens: u64::try_from(self.live_access_tokens).unwrap_or(0),
        })
    }
}

sql_store_impl!(
    RefreshTokenStore,
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
        Self::insert_refresh_token(
            &mut tx,
            record,
            access_token_jti,
            access_token_expires_at,
            &what,
        )
        .await?;
        tx.commit().await.map_err(classify(&what))?;
        Ok(())
    },
    async fn refresh_token_get(
        &self,
        token_digest: &SecretDigest,
    ) -> Result<Option<RefreshToken>, StoreError> {
        sqlx::query_as::<DB, RefreshTokenRecord>(REFRESH_TOKEN_GET)
            .bind(digest_bytes(token_digest))
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading a refresh token"))?
            .map(RefreshTokenRecord::decode)
            .transpose()
    },
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
        if DB::WRITABLE_CTES {
            return self
                .rotate_in_one_statement(
                    old,
                    successor,
                    now,
                    access_token_jti,
                    access_token_expires_at,
                    &what,
                )
                .await;
        }
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
        let rotated = sqlx::query_scalar::<DB, String>(REFRESH_TOKEN_ROTATE)
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
            return Err(not_in_family(&what));
        }
        Self::insert_refresh_token(
            &mut tx,
            record,
            access_token_jti,
            access_token_expires_at,
            &what,
        )
        .await?;
        tx.commit().await.map_err(classify(&what))?;
        Ok(true)
    },
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
        let revoked = Self::revoke_refresh_family(&mut tx, family_id, now, what).await?;
        tx.commit().await.map_err(classify(what))?;
        Ok(revoked)
    },
    async fn access_token_family(&self, jti: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar::<DB, String>(ACCESS_TOKEN_FAMILY)
            .bind(jti.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading the family of an access token"))
    },
    async fn refresh_family_list(
        &self,
        user_id: Option<&str>,
        client_id: Option<&str>,
        now: UnixTime,
    ) -> Result<Vec<RefreshFamily>, StoreError> {
        sqlx::query_as::<DB, RefreshFamilyRecord>(REFRESH_FAMILY_LIST)
            .bind(now)
            .bind(user_id.map(str::to_owned))
            .bind(client_id.map(str::to_owned))
            .fetch_all(&self.pool)
            .await
            .map_err(classify("listing refresh token families"))?
            .into_iter()
            .map(RefreshFamilyRecord::decode)
            .collect()
    },
);

/// A successor that is not in the family of the token it replaces: the family is what
/// reuse detection revokes, so a successor outside it would survive a replay of its
/// predecessor.
fn not_in_family(what: &str) -> StoreError {
    StoreError::Other(format!(
        "{what}: the successor is not in the family of the token it replaces"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_one_statement_rotation_takes_the_family_lock() {
        // The same lock, on the successor's family id, as every family revoke takes.
        let lock = <sqlx::Postgres as crate::store::Backend>::LOCK_REFRESH_FAMILY.unwrap();
        let call = lock.trim_start_matches("SELECT ").replace("$1", "$4::text");
        assert!(REFRESH_TOKEN_ROTATE_ONE_STATEMENT.contains(&call), "{call}");
        assert!(REFRESH_TOKEN_ROTATE_ONE_STATEMENT.contains("EXISTS (SELECT 1 FROM family_lock)"));
    }
}
