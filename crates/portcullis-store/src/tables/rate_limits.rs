//! The `rate_limits` table: one GCRA bucket per row (its theoretical arrival time), its
//! SQL, and [`RateLimitStore`] on [`SqlStore`](crate::SqlStore).

use crate::error::classify;
use crate::store::{WriteConnection, sql_store_impl};
use portcullis_core::StoreError;
use portcullis_core::rate_limit::{RateKey, RateLimitStore};

/// Takes a cell from one bucket (GCRA): `$1` = key, `$2` = now (ms), `$3` = interval
/// (ms). Stores `max(tat, now) + interval` (a new row: `now + interval`) and returns
/// it; the caller checks it against the burst and rolls back on a refusal. One
/// statement: on PostgreSQL a concurrent take waits for the row lock, then builds on
/// the committed `tat`.
const RATE_LIMIT_TAKE: &str = "INSERT INTO rate_limits (key, tat) VALUES ($1, $2 + $3) \
     ON CONFLICT (key) DO UPDATE SET tat = \
     CASE WHEN rate_limits.tat > $2 THEN rate_limits.tat ELSE $2 END + $3 \
     RETURNING tat";

/// Gives a cell back: `$1` = key, `$2` = now (ms), `$3` = interval (ms);
/// `tat = max(tat − interval, now)`.
const RATE_LIMIT_REFUND: &str = "UPDATE rate_limits SET tat = \
     CASE WHEN tat - $3 > $2 THEN tat - $3 ELSE $2 END WHERE key = $1";

/// `$1` = key: the bucket is full again.
const RATE_LIMIT_CLEAR: &str = "DELETE FROM rate_limits WHERE key = $1";

sql_store_impl!(
    RateLimitStore,
    async fn rate_limit_take(
        &self,
        keys: &[RateKey],
        now_ms: i64,
    ) -> Result<Result<Vec<u32>, u64>, StoreError> {
        let what = "taking rate-limit cells";
        // Rows are locked in key order, so two takes on PostgreSQL cannot deadlock.
        let mut order: Vec<(usize, &RateKey)> = keys.iter().enumerate().collect();
        order.sort_by(|a, b| a.1.key.cmp(&b.1.key));
        let mut left = vec![0_u32; keys.len()];
        let mut wait: Option<u64> = None;
        // Dropping `tx` without a commit rolls back: a refusal takes nothing.
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(what))?;
        let mut tx = conn.begin().await.map_err(classify(what))?;
        for (index, key) in order {
            let (new_tat,): (i64,) = sqlx::query_as::<DB, (i64,)>(RATE_LIMIT_TAKE)
                .bind(key.key.clone())
                .bind(now_ms)
                .bind(key.interval_ms)
                .fetch_one(&mut *tx)
                .await
                .map_err(classify(what))?;
            match key.check_new_tat(new_tat, now_ms) {
                Ok((_, cells)) => {
                    if let Some(slot) = left.get_mut(index) {
                        *slot = cells;
                    }
                }
                Err(retry) => wait = wait.max(Some(retry)),
            }
        }
        if let Some(retry) = wait {
            tx.rollback().await.map_err(classify(what))?;
            return Ok(Err(retry));
        }
        tx.commit().await.map_err(classify(what))?;
        Ok(Ok(left))
    },
    async fn rate_limit_refund(&self, keys: &[RateKey], now_ms: i64) -> Result<(), StoreError> {
        let what = "giving back rate-limit cells";
        let mut order: Vec<&RateKey> = keys.iter().collect();
        order.sort_by(|a, b| a.key.cmp(&b.key));
        let mut conn = WriteConnection::acquire(&self.pool)
            .await
            .map_err(classify(what))?;
        let mut tx = conn.begin().await.map_err(classify(what))?;
        for key in order {
            sqlx::query::<DB>(RATE_LIMIT_REFUND)
                .bind(key.key.clone())
                .bind(now_ms)
                .bind(key.interval_ms)
                .execute(&mut *tx)
                .await
                .map_err(classify(what))?;
        }
        tx.commit().await.map_err(classify(what))?;
        Ok(())
    },
    async fn rate_limit_clear(&self, key: &str) -> Result<bool, StoreError> {
        let result = sqlx::query::<DB>(RATE_LIMIT_CLEAR)
            .bind(key.to_owned())
            .execute(&self.pool)
            .await
            .map_err(classify("clearing a rate-limit bucket"))?;
        Ok(DB::rows_affected(&result) > 0)
    },
);
