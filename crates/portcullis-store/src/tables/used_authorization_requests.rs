//! The `used_authorization_requests` table: pending authorization requests that have
//! ended, by id digest, its SQL, and [`UsedAuthorizationRequestStore`] on
//! [`SqlStore`](crate::SqlStore).

use crate::codec::digest_bytes;
use crate::error::classify;
use crate::store::sql_store_impl;
use portcullis_core::authorization::pending::UsedAuthorizationRequestStore;
use portcullis_core::secret::SecretDigest;
use portcullis_core::{StoreError, UnixTime};

/// `$1` = id digest, `$2` = the request's expiry. One statement: of two submissions
/// of the same form (on one node or two), exactly one inserts the row (1 row
/// affected), the other none.
const AUTHORIZATION_REQUEST_USE: &str = "INSERT INTO used_authorization_requests \
     (id_digest, expires_at) VALUES ($1, $2) ON CONFLICT (id_digest) DO NOTHING";

sql_store_impl!(
    UsedAuthorizationRequestStore,
    async fn authorization_request_use(
        &self,
        id_digest: &SecretDigest,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query::<DB>(AUTHORIZATION_REQUEST_USE)
            .bind(digest_bytes(id_digest))
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(classify("recording a used authorization request"))?;
        Ok(DB::rows_affected(&result) == 1)
    },
);
