//! Rate-limit buckets kept in the database (GCRA), so that a limit holds across
//! nodes (DESIGN.md "Storage"): the bucket type [`RateKey`] with the one rule every
//! store applies, and the [`RateLimitStore`] that takes and gives back cells.

use crate::store::StoreError;
use async_trait::async_trait;

/// The `rate_limits` table: one row per bucket that is not full.
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Takes one cell from every bucket in `keys` at `now_ms` (milliseconds since the
    /// epoch), or from none: one transaction (GCRA, a bucket is its theoretical
    /// arrival time `tat`; a missing row is a full bucket). Per key, with `t =
    /// max(tat, now_ms)`: allowed iff `t - now_ms <= interval_ms × (burst − 1)`, and
    /// then `tat = t + interval_ms`. `Ok(Ok(left))`: the cells each key has left after
    /// this take, in the order of `keys`. `Ok(Err(retry_after_ms))`: some bucket is
    /// spent; nothing was taken, and the longest wait of the refusing keys is given.
    /// Why in the database: a limit must hold across nodes (DESIGN.md "Storage").
    async fn rate_limit_take(
        &self,
        keys: &[RateKey],
        now_ms: i64,
    ) -> Result<Result<Vec<u32>, u64>, StoreError>;

    /// Gives back one cell to every bucket in `keys` (taken earlier by
    /// [`RateLimitStore::rate_limit_take`]): `tat = max(tat − interval_ms, now_ms)`, in
    /// one transaction. A missing row (a full bucket) stays missing.
    async fn rate_limit_refund(&self, keys: &[RateKey], now_ms: i64) -> Result<(), StoreError>;

    /// Fills the bucket named `key` again (deletes its row): an administrator unlocks a
    /// throttled account. `false` if it was full already.
    async fn rate_limit_clear(&self, key: &str) -> Result<bool, StoreError>;
}

/// One rate-limit bucket ([`RateLimitStore::rate_limit_take`]): `burst` cells, all
/// available at once, one coming back per `interval_ms` milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateKey {
    /// The bucket's name (at most a few hundred bytes; callers prefix a kind).
    pub key: String,
    /// Milliseconds per cell (at least 1).
    pub interval_ms: i64,
    /// Cells when full (at least 1).
    pub burst: u32,
}

impl RateKey {
    /// A bucket of `burst` cells refilling one per `interval_ms`.
    pub fn new(key: impl Into<String>, interval_ms: i64, burst: u32) -> Self {
        Self {
            key: key.into(),
            interval_ms: interval_ms.max(1),
            burst: burst.max(1),
        }
    }

    /// Takes a cell from a bucket whose stored `tat` is `stored` (`None`: full) at
    /// `now_ms`. `Ok((tat', left))` with the new `tat` and the cells left after it;
    /// `Err(retry_after_ms)` when the bucket is spent. The one GCRA rule every store
    /// applies (the SQL stores compute `tat'` in their upsert and check it here).
    pub fn check(&self, stored: Option<i64>, now_ms: i64) -> Result<(i64, u32), u64> {
        let start = stored.map_or(now_ms, |tat| tat.max(now_ms));
        self.check_new_tat(start.saturating_add(self.interval_ms), now_ms)
    }

    /// [`RateKey::check`] from the `tat` the take would store (`max(tat, now) +
    /// interval`).
    pub fn check_new_tat(&self, new_tat: i64, now_ms: i64) -> Result<(i64, u32), u64> {
        // Allowed iff new_tat − now ≤ interval × burst.
        let capacity = self.interval_ms.saturating_mul(i64::from(self.burst));
        let ahead = new_tat.saturating_sub(now_ms);
        if ahead > capacity {
            return Err(u64::try_from(ahead.saturating_sub(capacity)).unwrap_or(u64::MAX));
        }
        let left = capacity.saturating_sub(ahead) / self.interval_ms.max(1);
        Ok((new_tat, u32::try_from(left).unwrap_or(u32::MAX)))
    }

    /// The `tat` after a refund of one cell at `now_ms`.
    pub fn refunded(&self, tat: i64, now_ms: i64) -> i64 {
        tat.saturating_sub(self.interval_ms).max(now_ms)
    }
}
