//! The `revoked_access_tokens` table: the revocation list of access tokens by `jti`,
//! its SQL, and [`RevokedAccessTokenStore`] on [`SqlStore`](crate::SqlStore).

use crate::error::classify;
use crate::store::sql_store_impl;
use portcullis_core::tokens::access_token::RevokedAccessTokenStore;
use portcullis_core::{StoreError, UnixTime};

/// `$1` = jti, `$2` = the token's exp. Revoking twice keeps the first row.
const ACCESS_TOKEN_REVOKE: &str = "INSERT INTO revoked_access_tokens (jti, expires_at) \
     VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING";

/// `$1` = jti.
const ACCESS_TOKEN_IS_REVOKED: &str = "SELECT jti FROM revoked_access_tokens WHERE jti = $1";

sql_store_impl!(
    Self,
    /// Puts `jti` (valid until `expires_at`) on the revocation list inside the
    /// caller's transaction on `conn` (a code replay's revocation); idempotent.
    pub(crate) async fn revoke_access_token(
        conn: &mut DB::Connection,
        jti: &str,
        expires_at: UnixTime,
        what: &str,
    ) -> Result<(), StoreError> {
        sqlx::query::<DB>(ACCESS_TOKEN_REVOKE)
            .bind(jti.to_owned())
            .bind(expires_at)
            .execute(&mut *conn)
            .await
            .map_err(classify(what))?;
        Ok(())
    },
);

sql_store_impl!(
    RevokedAccessTokenStore,
    async fn access_token_revoke(&self, jti: &str, expires_at: UnixTime) -> Result<(), StoreError> {
        sqlx::query::<DB>(ACCESS_TOKEN_REVOKE)
            .bind(jti.to_owned())
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(classify("revoking an access token"))?;
        Ok(())
    },
    async fn access_token_is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let found = sqlx::query_scalar::<DB, String>(ACCESS_TOKEN_IS_REVOKED)
            .bind(jti.to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(classify("reading the access token revocation list"))?;
        Ok(found.is_some())
    },
);
