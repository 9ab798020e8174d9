//! The `client_assertions` table: `private_key_jwt` assertions already used (RFC 7523
//! §3), by digest, its SQL, and [`ClientAssertionStore`] on [`SqlStore`](crate::SqlStore).

use crate::codec::digest_bytes;
use crate::error::classify;
use crate::store::sql_store_impl;
use portcullis_core::client::authentication::assertion::ClientAssertionStore;
use portcullis_core::secret::SecretDigest;
use portcullis_core::{StoreError, UnixTime};

/// `$1` = assertion digest, `$2` = expiry. One statement: of two nodes recording the
/// same assertion at once, exactly one inserts the row (1 row affected), the other none.
const CLIENT_ASSERTION_RECORD: &str = "INSERT INTO client_assertions \
     (assertion_digest, expires_at) VALUES ($1, $2) \
     ON CONFLICT (assertion_digest) DO NOTHING";

sql_store_impl!(
    ClientAssertionStore,
    async fn client_assertion_record(
        &self,
        digest: &SecretDigest,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query::<DB>(CLIENT_ASSERTION_RECORD)
            .bind(digest_bytes(digest))
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(classify("recording a client assertion"))?;
        Ok(DB::rows_affected(&result) == 1)
    },
);
