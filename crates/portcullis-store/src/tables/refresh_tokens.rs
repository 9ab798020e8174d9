//! The `refresh_tokens` table and `family_access_tokens` (the access tokens issued in
//! each refresh token family, revoked with it): a row ([`RefreshTokenRecord`]), the
//! columns and SQL, and [`RefreshTokenStore`] on [`SqlStore`](crate::SqlStore).

use crate::codec::{digest_bytes, digest_from, from_json, to_json};
use crate::error::classify;
use crate::store::{WriteConnection, sql_store_impl};
use portcullis_core::secret::SecretDigest;
use portcullis_core::tokens::refresh_token::{RefreshToken, RefreshTokenStore};
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
);

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
            return Err(StoreError::Other(format!(
                "{what}: the successor is not in the family of the token it replaces"
            )));
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
        if let Some(lock) = DB::LOCK_REFRESH_FAMILY {
            sqlx::query::<DB>(lock)
                .bind(family_id.to_owned())
                .execute(&mut *tx)
                .await
                .map_err(classify(what))?;
        }
        let revoked = sqlx::query::<DB>(REFRESH_FAMILY_REVOKE)
            .bind(family_id.to_owned())
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(classify(what))?;
        sqlx::query::<DB>(REFRESH_FAMILY_REVOKE_ACCESS_TOKENS)
            .bind(family_id.to_owned())
            .execute(&mut *tx)
            .await
            .map_err(classify(what))?;
        tx.commit().await.map_err(classify(what))?;
        Ok(DB::rows_affected(&revoked))
    },
    async fn access_token_family(&self, jti: &str) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar::<DB, String>(ACCESS_TOKEN_FAMILY)
            .bind(jti.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading the family of an access token"))
    },
);
