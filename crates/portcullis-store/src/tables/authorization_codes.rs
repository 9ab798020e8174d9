//! The `authorization_codes` table: a row ([`AuthorizationCodeRecord`]), its columns
//! and SQL, and [`AuthorizationCodeStore`] on [`SqlStore`](crate::SqlStore).

use super::refresh_tokens::{RefreshTokenRecord, bind_refresh_token, refresh_token_columns};
use crate::codec::{digest_bytes, digest_from, from_json, to_json};
use crate::error::classify;
use crate::store::{WriteConnection, sql_store_impl};
use portcullis_core::authorization::code::{AuthorizationCode, AuthorizationCodeStore};
use portcullis_core::pkce::CodeChallenge;
use portcullis_core::secret::SecretDigest;
use portcullis_core::tokens::refresh_token::RefreshToken;
use portcullis_core::{StoreError, UnixTime};

/// One row of `authorization_codes`, column for column.
#[derive(Debug, sqlx::FromRow)]
struct AuthorizationCodeRecord {
    pub code_digest: Vec<u8>,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub redirect_uri_sent: bool,
    pub code_challenge: Option<String>,
    pub scopes: String,
    pub resources: String,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    pub access_token_jti: Option<String>,
    pub access_token_expires_at: Option<i64>,
    pub dpop_jkt: Option<String>,
}

impl AuthorizationCodeRecord {
    /// The row that stores `code`.
    ///
    /// # Errors
    /// [`StoreError::Other`] if a list cannot be serialized as JSON.
    pub fn encode(code: &AuthorizationCode) -> Result<Self, StoreError> {
        Ok(Self {
            code_digest: digest_bytes(&code.code_digest),
            client_id: code.client_id.clone(),
            user_id: code.user_id.clone(),
            redirect_uri: code.redirect_uri.clone(),
            redirect_uri_sent: code.redirect_uri_sent,
            code_challenge: code.code_challenge.as_ref().map(|c| c.as_str().to_owned()),
            scopes: to_json("authorization_codes.scopes", &code.scopes)?,
            resources: to_json("authorization_codes.resources", &code.resources)?,
            nonce: code.nonce.clone(),
            auth_time: code.auth_time,
            created_at: code.created_at,
            expires_at: code.expires_at,
            consumed_at: code.consumed_at,
            access_token_jti: code.access_token_jti.clone(),
            access_token_expires_at: code.access_token_expires_at,
            dpop_jkt: code.dpop_jkt.clone(),
        })
    }

    /// The code this row stores.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column that does not decode.
    pub fn decode(self) -> Result<AuthorizationCode, StoreError> {
        Ok(AuthorizationCode {
            code_digest: digest_from("authorization_codes.code_digest", &self.code_digest)?,
            scopes: from_json("authorization_codes.scopes", &self.scopes)?,
            resources: from_json("authorization_codes.resources", &self.resources)?,
            client_id: self.client_id,
            user_id: self.user_id,
            redirect_uri: self.redirect_uri,
            redirect_uri_sent: self.redirect_uri_sent,
            code_challenge: self
                .code_challenge
                .as_deref()
                .map(CodeChallenge::parse)
                .transpose()
                .map_err(|e| {
                    StoreError::Corrupt(format!("authorization_codes.code_challenge: {e}"))
                })?,
            nonce: self.nonce,
            auth_time: self.auth_time,
            created_at: self.created_at,
            expires_at: self.expires_at,
            consumed_at: self.consumed_at,
            access_token_jti: self.access_token_jti,
            access_token_expires_at: self.access_token_expires_at,
            dpop_jkt: self.dpop_jkt,
        })
    }
}

/// Columns of `authorization_codes`, in [`AuthorizationCodeRecord`] and
/// `bind_code!` order.
macro_rules! code_columns {
    () => {
        "code_digest, client_id, user_id, redirect_uri, redirect_uri_sent, code_challenge, \
         scopes, resources, nonce, auth_time, created_at, expires_at, consumed_at, \
         access_token_jti, access_token_expires_at, dpop_jkt"
    };
}

/// Binds a [`AuthorizationCodeRecord`] as `$1`…`$16` of [`CODE_INSERT`].
macro_rules! bind_code {
    ($query:expr, $record:expr) => {{
        let r = $record;
        $query
            .bind(r.code_digest)
            .bind(r.client_id)
            .bind(r.user_id)
            .bind(r.redirect_uri)
            .bind(r.redirect_uri_sent)
            .bind(r.code_challenge)
            .bind(r.scopes)
            .bind(r.resources)
            .bind(r.nonce)
            .bind(r.auth_time)
            .bind(r.created_at)
            .bind(r.expires_at)
            .bind(r.consumed_at)
            .bind(r.access_token_jti)
            .bind(r.access_token_expires_at)
            .bind(r.dpop_jkt)
    }};
}

/// See [`code_columns`].
const CODE_INSERT: &str = concat!(
    "INSERT INTO authorization_codes (",
    code_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
);

/// `$1` = code digest; consumed or not, expired or not.
const CODE_GET: &str = concat!(
    "SELECT ",
    code_columns!(),
    " FROM authorization_codes WHERE code_digest = $1"
);

/// `$1` = code digest, `$2` = now, `$3` = access token jti, `$4` = its exp. Single
/// use in one conditional statement (DESIGN.md "Storage"): of any number of
/// concurrent redemptions, exactly one affects a row.
const CODE_CONSUME: &str = "UPDATE authorization_codes \
     SET consumed_at = $2, access_token_jti = $3, access_token_expires_at = $4 \
     WHERE code_digest = $1 AND consumed_at IS NULL AND expires_at > $2";

/// [`CODE_CONSUME`] and the first refresh token of its family as one statement, where
/// the backend allows it ([`Backend::WRITABLE_CTES`](crate::store::Backend::WRITABLE_CTES),
/// PostgreSQL): `$1`…`$4` as there, `$5`…`$16` = the refresh token as in the
/// `refresh_tokens` INSERT; the access token is recorded in the token's family.
/// Answers how many codes it consumed (0 or 1). One statement is one transaction:
/// the inserts run only on a consumed row, and a conflict in either fails the whole
/// statement, the code left redeemable, in one round trip.
const CODE_CONSUME_WITH_REFRESH_TOKEN: &str = concat!(
    "WITH consumed AS (UPDATE authorization_codes \
     SET consumed_at = $2, access_token_jti = $3, access_token_expires_at = $4 \
     WHERE code_digest = $1 AND consumed_at IS NULL AND expires_at > $2 \
     RETURNING code_digest), ",
    "first AS (INSERT INTO refresh_tokens (",
    refresh_token_columns!(),
    ") SELECT $5::bytea, $6::text, $7::text, $8::text, $9::text, $10::text, $11::bigint, \
     $12::bigint, $13::bigint, $14::bigint, $15::bigint, $16::text FROM consumed \
     RETURNING family_id), ",
    "access AS (INSERT INTO family_access_tokens (jti, family_id, expires_at) \
     SELECT $3::text, family_id, $4::bigint FROM first) ",
    "SELECT count(*) FROM consumed"
);

/// `$1` = code digest: the access token recorded when it was consumed; no row if it
/// is absent or unused.
const CODE_ISSUED_ACCESS_TOKEN: &str = "SELECT access_token_jti, access_token_expires_at \
     FROM authorization_codes WHERE code_digest = $1 AND consumed_at IS NOT NULL";

sql_store_impl!(
    AuthorizationCodeStore,
    async fn authorization_code_insert(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        let what = format!(
            "authorization code for client `{}` and user `{}`",
            code.client_id, code.user_id
        );
        let record = AuthorizationCodeRecord::encode(code)?;
        bind_code!(sqlx::query::<DB>(CODE_INSERT), record)
            .execute(&self.pool)
            .await
            .map_err(classify(&what))?;
        Ok(())
    },
    async fn authorization_code_get(
        &self,
        code_digest: &SecretDigest,
    ) -> Result<Option<AuthorizationCode>, StoreError> {
        sqlx::query_as::<DB, AuthorizationCodeRecord>(CODE_GET)
            .bind(digest_bytes(code_digest))
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading an authorization code"))?
            .map(AuthorizationCodeRecord::decode)
            .transpose()
    },
    async fn authorization_code_consume(
        &self,
        code_digest: &SecretDigest,
        now: UnixTime,
        first_refresh_token: Option<&RefreshToken>,
        access_token_jti: &str,
        access_token_expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let what = "redeeming an authorization code (and storing its refresh token)";
        let Some(first) = first_refresh_token else {
            // One conditional statement is atomic on its own: no transaction to open.
            let consumed = sqlx::query::<DB>(CODE_CONSUME)
                .bind(digest_bytes(code_digest))
                .bind(now)
                .bind(access_token_jti.to_owned())
                .bind(access_token_expires_at)
                .execute(&self.pool)
                .await
                .map_err(classify(what))?;
            return Ok(DB::rows_affected(&consumed) == 1);
        };
        let record = RefreshTokenRecord::encode(first)?;
        if DB::WRITABLE_CTES {
            let query = sqlx::query_scalar::<DB, i64>(CODE_CONSUME_WITH_REFRESH_TOKEN)
                .bind(digest_bytes(code_digest))
                .bind(now)
                .bind(access_token_jti.to_owned())
                .bind(access_token_expires_at);
            let consumed = bind_refresh_token!(query, record)
                .fetch_one(&self.pool)
                .await
                .map_err(classify(what))?;
            return Ok(consumed == 1);
        }
        // Dropping `tx` on an early return rolls back: a lost race, or a refresh token
        // that cannot be stored, leaves the code as it was (redeemable, no token added).
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(what))?;
        let mut tx = conn.begin().await.map_err(classify(what))?;
        // The conditional UPDATE is the single-use decision: on PostgreSQL a racing
        // transaction waits for this row's lock, then finds `consumed_at` set.
        let consumed = sqlx::query::<DB>(CODE_CONSUME)
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
        Self::insert_refresh_token(
            &mut tx,
            record,
            access_token_jti,
            access_token_expires_at,
            what,
        )
        .await?;
        tx.commit().await.map_err(classify(what))?;
        Ok(true)
    },
    async fn authorization_code_revoke_tokens(
        &self,
        code_digest: &SecretDigest,
        family_id: &str,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let what = "revoking the tokens issued from a replayed authorization code";
        // One transaction: a crash (or an error) between the access token and the
        // family left the family live after a replay (issue 17). Dropping `tx` on an
        // early return rolls back.
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(what))?;
        let mut tx = conn.begin().await.map_err(classify(what))?;
        let issued = sqlx::query_as::<DB, (Option<String>, Option<i64>)>(CODE_ISSUED_ACCESS_TOKEN)
            .bind(digest_bytes(code_digest))
            .fetch_optional(&mut *tx)
            .await
            .map_err(classify(what))?;
        let Some((Some(jti), Some(expires_at))) = issued else {
            return Ok(false);
        };
        // The family first: it takes the family's lock before it writes, as every other
        // family revocation does, so the two cannot wait on each other (why: the access
        // token's jti is also a family token, and writing it before the lock is the
        // opposite order of a concurrent family revoke, a deadlock on PostgreSQL).
        Self::revoke_refresh_family(&mut tx, family_id, now, what).await?;
        Self::revoke_access_token(&mut tx, &jti, expires_at, what).await?;
        tx.commit().await.map_err(classify(what))?;
        Ok(true)
    },
);
