//! The bounded in-memory map behind sessions and started sign-ins: a moka cache that
//! drops the least recently used entry when full, swept of entries that the app's
//! clock says have expired.
//!
//! Expiry follows the app's `Clock` (tests step it), not moka's own
//! `time_to_live`/`time_to_idle`, which run on moka's clock.

use moka::notification::RemovalCause;
use moka::policy::EvictionPolicy;
use moka::sync::Cache;
use std::sync::atomic::{AtomicI64, Ordering};

/// Values by random id, at most `capacity` of them.
pub struct Bounded<V> {
    cache: Cache<String, V>,
    /// Clock seconds of the last sweep.
    swept_at: AtomicI64,
}

impl<V: Clone + Send + Sync + 'static> Bounded<V> {
    /// A map of at most `capacity` entries (at least one); `evicted` is called with
    /// each value dropped to make room.
    ///
    /// LRU rather than moka's default TinyLFU, which may refuse a new entry: a new
    /// sign-in must never be refused, only push out the least recently used.
    pub fn new(capacity: usize, evicted: impl Fn(V) + Send + Sync + 'static) -> Self {
        let cache = Cache::builder()
            .max_capacity(u64::try_from(capacity.max(1)).unwrap_or(u64::MAX))
            .eviction_policy(EvictionPolicy::lru())
            .eviction_listener(move |_, value, cause| {
                if cause == RemovalCause::Size {
                    evicted(value);
                }
            })
            .build();
        Self {
            cache,
            swept_at: AtomicI64::new(i64::MIN),
        }
    }

    /// Inserts `value` as the most recently used entry. Moka enforces its bound in
    /// maintenance it defers; running it now evicts at once.
    pub fn insert(&self, key: String, value: V) {
        self.cache.insert(key, value);
        self.cache.run_pending_tasks();
    }

    /// The value under `key`, now the most recently used.
    pub fn get(&self, key: &str) -> Option<V> {
        self.cache.get(key)
    }

    /// Removes and returns the value under `key`; `None` if it is gone (so of two
    /// racing removals, one gets it).
    pub fn remove(&self, key: &str) -> Option<V> {
        self.cache.remove(key)
    }

    /// Removes and returns the values `expired` holds for, at most once per
    /// [`SWEEP_INTERVAL_SECS`] of clock time: a sweep reads every entry, and a flood of
    /// requests must not make each of them do so. Between sweeps, expired entries are
    /// the least recently used, so they are the first to be evicted.
    pub fn sweep(&self, now: i64, expired: impl Fn(&V) -> bool) -> Vec<V> {
        let last = self.swept_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) < SWEEP_INTERVAL_SECS
            || self
                .swept_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return Vec::new();
        }
        let keys: Vec<_> = self
            .cache
            .iter()
            .filter(|(_, value)| expired(value))
            .map(|(key, _)| key)
            .collect();
        keys.iter().filter_map(|key| self.remove(key)).collect()
    }

    /// How many entries are held.
    #[cfg(test)]
    pub fn count(&self) -> usize {
        self.cache.run_pending_tasks();
        usize::try_from(self.cache.entry_count()).unwrap_or(usize::MAX)
    }

    /// Every value held.
    #[cfg(test)]
    pub fn values(&self) -> Vec<V> {
        self.cache.iter().map(|(_, value)| value).collect()
    }
}

/// Least clock time between two sweeps of a map.
const SWEEP_INTERVAL_SECS: i64 = 60;
