//! Housekeeping: records of used authorization requests, sessions, authorization codes, device
//! authorizations and revoked `jti`s are deleted in the background, in small batches (each its own short
//! statement, so requests never wait behind a long delete). Safe on several nodes at
//! once: each batch deletes what is expired at that moment, whoever runs it.
//!
//! While the database is down the loop neither dies nor spins: a failed purge waits
//! for the next interval, and the outage is logged once when it starts and once when
//! it ends ([`OutageLog`]), not every minute.

use portcullis_core::{Clock, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// Seconds between purges.
pub const PURGE_INTERVAL_SECONDS: u64 = 60;
/// Rows deleted per table per statement.
pub const PURGE_BATCH: u32 = 500;
/// Batches per purge before it pauses for [`PURGE_PAUSE`] and goes on (why: the purge
/// must keep up with any rate of anonymous `/authorize` requests, without holding a
/// database connection for long stretches).
const BATCHES_BEFORE_PAUSE: u64 = 20;
/// Pause between runs of [`BATCHES_BEFORE_PAUSE`] batches.
const PURGE_PAUSE: Duration = Duration::from_millis(100);

/// Runs forever: a purge every [`PURGE_INTERVAL_SECONDS`], then the deletion of
/// dynamic clients unused for `unused_client_ttl` seconds
/// ([`delete_unused_dynamic_clients`]).
pub async fn purge_loop(store: Arc<dyn Store>, clock: Arc<dyn Clock>, unused_client_ttl: i64) {
    let mut tick = tokio::time::interval(Duration::from_secs(PURGE_INTERVAL_SECONDS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut outage = OutageLog::new("purging expired rows");
    loop {
        tick.tick().await;
        let (_, mut failure) = purge_once(store.as_ref(), clock.now()).await;
        if failure.is_none() {
            let now = clock.now();
            failure = delete_unused_dynamic_clients(store.as_ref(), now, unused_client_ttl)
                .await
                .err();
        }
        outage.record(failure.as_ref());
    }
}

/// RFC 7591 abuse limit (`[registration] unused_client_ttl`): deletes the dynamically
/// registered clients whose last use (recorded at most once a day) is more than
/// `unused_client_ttl` seconds before `now`, with their codes, tokens and consents.
/// Returns their ids.
///
/// # Errors
/// The store's.
pub async fn delete_unused_dynamic_clients(
    store: &dyn Store,
    now: portcullis_core::UnixTime,
    unused_client_ttl: i64,
) -> Result<Vec<String>, StoreError> {
    let deleted = store
        .dynamic_client_delete_unused(now.saturating_sub(unused_client_ttl))
        .await?;
    if !deleted.is_empty() {
        tracing::info!(
            target: crate::app::audit::TARGET,
            event = "unused_dynamic_clients_deleted",
            count = deleted.len(),
        );
    }
    Ok(deleted)
}

/// Deletes expired rows in batches of [`PURGE_BATCH`] until every table's batch comes
/// back short, pausing briefly every [`BATCHES_BEFORE_PAUSE`] batches. Stops at the
/// first failure, which the caller logs and retries at the next interval. Returns how
/// many rows were deleted, and the failure if any.
pub async fn purge_once(
    store: &dyn Store,
    now: portcullis_core::UnixTime,
) -> (u64, Option<StoreError>) {
    let mut total = 0;
    let mut failure = None;
    for batch in 1u64.. {
        if batch % BATCHES_BEFORE_PAUSE == 0 {
            tokio::time::sleep(PURGE_PAUSE).await;
        }
        match store.purge_expired(now, PURGE_BATCH).await {
            Ok(counts) => {
                total += counts.total();
                let full = [
                    counts.used_authorization_requests,
                    counts.browser_sessions,
                    counts.authorization_codes,
                    counts.revoked_access_tokens,
                    counts.refresh_tokens,
                    counts.family_access_tokens,
                    counts.device_authorizations,
                    counts.rate_limits,
                    counts.dpop_proofs,
                    counts.pushed_authorization_requests,
                    counts.client_assertions,
                ]
                .contains(&u64::from(PURGE_BATCH));
                if !full {
                    break;
                }
                tokio::task::yield_now().await;
            }
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    if total > 0 {
        tracing::debug!(rows = total, "purged expired rows");
    }
    // Give the freed pages back (SQLite's incremental vacuum; PostgreSQL's autovacuum
    // does it itself), so the file shrinks again after a burst of rows.
    if failure.is_none()
        && let Err(error) = store.reclaim_space().await
    {
        failure = Some(error);
    }
    (total, failure)
}

/// Logs a background task's database failures once per outage: a warning at the
/// first failure, debug lines while it lasts, and one line when the task succeeds
/// again (why: a task retrying every few seconds would otherwise flood the log during
/// a long outage and bury what matters).
#[derive(Debug)]
pub struct OutageLog {
    task: &'static str,
    failures: u64,
}

impl OutageLog {
    /// A log for the task named `task` (e.g. "purging expired rows").
    pub fn new(task: &'static str) -> Self {
        Self { task, failures: 0 }
    }

    /// Records one run's outcome: `None` for success, or its failure.
    pub fn record<E: std::fmt::Display + ?Sized>(&mut self, failure: Option<&E>) {
        let task = self.task;
        match failure {
            Some(error) if self.failures == 0 => {
                self.failures = 1;
                tracing::warn!(%error, "{task} failed; retrying quietly until it works again");
            }
            Some(error) => {
                self.failures += 1;
                tracing::debug!(%error, failures = self.failures, "{task} failed again");
            }
            None if self.failures > 0 => {
                tracing::info!(failures = self.failures, "{task} works again");
                self.failures = 0;
            }
            None => {}
        }
    }

    /// Whether the last recorded run failed.
    pub fn failing(&self) -> bool {
        self.failures > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::authorization::pending::UsedAuthorizationRequestStore;
    use portcullis_core::secret::SecretDigest;
    use portcullis_core::testing::MemoryStore;

    #[tokio::test]
    async fn purge_once_deletes_every_expired_row_in_batches_and_keeps_live_ones() {
        let store = MemoryStore::new();
        let expired = PURGE_BATCH * 2 + 7;
        let id = |n: u32| SecretDigest::of(&format!("request-{n}"));
        for n in 0..expired {
            store.authorization_request_use(&id(n), 100).await.unwrap();
        }
        store
            .authorization_request_use(&id(u32::MAX), 101)
            .await
            .unwrap();
        assert_eq!(purge_once(&store, 100).await.0, u64::from(expired));
        assert!(
            !store
                .authorization_request_use(&id(u32::MAX), 101)
                .await
                .unwrap(),
            "the live record is kept"
        );
        assert_eq!(purge_once(&store, 100).await.0, 0);
    }

    #[test]
    fn outage_log_tracks_one_outage_from_first_failure_to_recovery() {
        let mut log = OutageLog::new("test task");
        log.record::<StoreError>(None);
        assert!(!log.failing());
        let down = StoreError::Unavailable("connection refused".into());
        log.record(Some(&down));
        log.record(Some(&down));
        assert!(log.failing());
        assert_eq!(log.failures, 2);
        log.record::<StoreError>(None);
        assert!(!log.failing());
        assert_eq!(log.failures, 0);
    }
}
