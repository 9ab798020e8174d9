//! The `dpop_proofs` table in memory: proof digest → expiry.

use super::MemoryStore;
use crate::UnixTime;
use crate::dpop::DpopProofStore;
use crate::secret::SecretDigest;
use crate::store::StoreError;
use async_trait::async_trait;

#[async_trait]
impl DpopProofStore for MemoryStore {
    async fn dpop_proof_record(
        &self,
        digest: &SecretDigest,
        expires_at: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut inner = self.lock();
        if inner.dpop_proofs.contains_key(digest.as_bytes()) {
            return Ok(false);
        }
        inner.dpop_proofs.insert(*digest.as_bytes(), expires_at);
        Ok(true)
    }
}
