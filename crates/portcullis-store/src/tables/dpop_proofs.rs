//! The `dpop_proofs` table: DPoP proofs already used (RFC 9449 §11.1), by digest, its
//! SQL, and [`DpopProofStore`] on [`SqlStore`](crate::SqlStore).

use crate::codec::digest_bytes;
use crate::error::classify;
use crate::store::sql_store_impl;
use portcullis_core::dpop::DpopProofStore;
use portcullis_core::secret::SecretDigest;
use portcullis_core::{StoreError, UnixTime};

/// `$1` = proof digest, `$2` = expiry. One statement: of two nodes recording the same
/// proof at once, exactly one inserts the row (1 row affected), the other none.
const DPOP_PROOF_RECORD: &str = "INSERT INTO dpop_proofs (proof_digest, expires_at) \
     VALUES ($1, $2) ON CONFLICT (proof_digest) DO NOTHING";

sql_store_impl!(
    DpopProofStore,
    async fn dpop_proof_record(
        &self,
        digest: &SecretDigest,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query::<DB>(DPOP_PROOF_RECORD)
            .bind(digest_bytes(digest))
            .bind(expires_at)
            .execute(&self.pool)
            .await
            .map_err(classify("recording a DPoP proof"))?;
        Ok(DB::rows_affected(&result) == 1)
    },
);
