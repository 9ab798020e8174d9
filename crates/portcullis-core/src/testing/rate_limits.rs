//! The `rate_limits` table in memory: key → theoretical arrival time (ms).

use super::MemoryStore;
use crate::rate_limit::{RateKey, RateLimitStore};
use crate::store::StoreError;
use async_trait::async_trait;

#[async_trait]
impl RateLimitStore for MemoryStore {
    async fn rate_limit_take(
        &self,
        keys: &[RateKey],
        now_ms: i64,
    ) -> Result<Result<Vec<u32>, u64>, StoreError> {
        let mut inner = self.lock();
        // Work on a copy, kept only if every key allows (all or nothing).
        let mut taken = inner.rate_limits.clone();
        let mut left = Vec::with_capacity(keys.len());
        let mut wait: Option<u64> = None;
        for key in keys {
            match key.check(taken.get(&key.key).copied(), now_ms) {
                Ok((tat, cells)) => {
                    taken.insert(key.key.clone(), tat);
                    left.push(cells);
                }
                Err(retry) => wait = wait.max(Some(retry)),
            }
        }
        if let Some(retry) = wait {
            return Ok(Err(retry));
        }
        inner.rate_limits = taken;
        Ok(Ok(left))
    }

    async fn rate_limit_refund(&self, keys: &[RateKey], now_ms: i64) -> Result<(), StoreError> {
        let mut inner = self.lock();
        for key in keys {
            if let Some(tat) = inner.rate_limits.get_mut(&key.key) {
                *tat = key.refunded(*tat, now_ms);
            }
        }
        Ok(())
    }

    async fn rate_limit_clear(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.lock().rate_limits.remove(key).is_some())
    }
}
