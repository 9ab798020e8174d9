//! Login throttling (RFC 9700 §4.16 / NIST SP 800-63B §5.2.2: limit failed
//! authentication attempts): per account and per client IP, after at most
//! [`FAILURES_BEFORE_THROTTLE`] failures, one more attempt per
//! [`REPLENISH_SECONDS`] until the failures stop.
//!
//! Failures are counted with governor (GCRA) keyed limiters; only failures consume
//! the budget, so a user who signs in correctly is never slowed by others' successes.
//! Attempts on one account run one at a time ([`LoginThrottle::serialize_account`]):
//! the lock check, the password verification and the failure count happen in order,
//! so concurrent guesses on an account cannot slip in before the tenth failure is
//! counted. Addresses are not serialised (many users share a NAT or a proxy); the
//! login handler checks and counts them while holding a verification permit, which
//! bounds the overrun to the number of permits minus one.
//! Kept per node, in memory, bounded (governor's keys are pruned every minute; the
//! lock table is a bounded cache): with N nodes behind a balancer an attacker gets at
//! most N times the budget. (A later issue moves attempt limits to the database.)

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OwnedMutexGuard;

/// Failures allowed per account and per IP before attempts are throttled.
pub const FAILURES_BEFORE_THROTTLE: u32 = 10;
/// Once throttled, one attempt is allowed per this many seconds.
pub const REPLENISH_SECONDS: u64 = 60;
/// Most keys remembered as locked (per node); beyond it the oldest are forgotten.
const MAX_LOCKED_KEYS: u64 = 100_000;

/// Failed-login accounting for one node.
pub struct LoginThrottle {
    failures: FailureLimiter,
    locked: moka::sync::Cache<String, Instant>,
    in_progress: moka::sync::Cache<String, Arc<tokio::sync::Mutex<()>>>,
    clock: DefaultClock,
}

/// Failures per key; the middleware reports how many remain, so the failure that uses
/// the last one locks the key at once (no further attempt is verified until a failure
/// is allowed again).
type FailureLimiter =
    RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// Held while one login attempt is checked, verified and counted: no other attempt on
/// the same account runs meanwhile.
pub struct AttemptSlot {
    _account: OwnedMutexGuard<()>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new()
    }
}

impl LoginThrottle {
    /// A throttle with the documented limits.
    pub fn new() -> Self {
        // Ten cells: the tenth failure empties the bucket and locks the key; after that,
        // one cell (one attempt) comes back per REPLENISH_SECONDS.
        let burst = NonZeroU32::new(FAILURES_BEFORE_THROTTLE).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(Duration::from_secs(REPLENISH_SECONDS))
            .unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN))
            .allow_burst(burst);
        Self {
            failures: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            locked: moka::sync::Cache::builder()
                .max_capacity(MAX_LOCKED_KEYS)
                .time_to_live(Duration::from_secs(REPLENISH_SECONDS))
                .build(),
            in_progress: moka::sync::Cache::builder()
                .max_capacity(MAX_LOCKED_KEYS)
                .time_to_idle(Duration::from_secs(REPLENISH_SECONDS))
                .build(),
            clock: DefaultClock::default(),
        }
    }

    /// Waits until no other attempt on this account is running, and returns the slot
    /// that keeps it so.
    pub async fn serialize_account(&self, username: &str) -> AttemptSlot {
        let key = account_key(username);
        let lock = self
            .in_progress
            .get_with(key, || Arc::new(tokio::sync::Mutex::new(())));
        AttemptSlot {
            _account: lock.lock_owned().await,
        }
    }

    /// How long this account or address must wait before trying again, if locked.
    pub fn locked_for(&self, username: &str, ip: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        keys(username, ip)
            .iter()
            .filter_map(|key| self.locked.get(key))
            .filter_map(|until| until.checked_duration_since(now))
            .max()
    }

    /// Counts a failed attempt; returns how long to wait if this failure locks the
    /// account or the address.
    pub fn record_failure(&self, username: &str, ip: IpAddr) -> Option<Duration> {
        let mut wait = None;
        for key in keys(username, ip) {
            let delay = match self.failures.check_key(&key) {
                Ok(state) if state.remaining_burst_capacity() > 0 => continue,
                // This failure used the last cell: locked until the next one is back.
                Ok(_) => Duration::from_secs(REPLENISH_SECONDS),
                Err(not_until) => not_until.wait_time_from(self.clock.now()),
            };
            self.locked.insert(key, Instant::now() + delay);
            wait = wait.max(Some(delay));
        }
        wait
    }

    /// Forgets keys whose budget is full again (keeps memory bounded).
    pub fn prune(&self) {
        self.failures.retain_recent();
        self.failures.shrink_to_fit();
        self.locked.run_pending_tasks();
    }
}

/// The account key (case-folded: `Alice` and `alice` share a budget) and the address
/// key (an IPv6 address by its /64, which one client usually holds whole).
fn keys(username: &str, ip: IpAddr) -> [String; 2] {
    let address = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
    };
    [account_key(username), format!("ip:{address}")]
}

fn account_key(username: &str) -> String {
    format!("account:{}", username.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenth_failure_locks_the_account_and_the_address() {
        let t = LoginThrottle::new();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for n in 1..FAILURES_BEFORE_THROTTLE {
            assert_eq!(t.record_failure("alice", ip), None, "failure {n}");
            assert_eq!(t.locked_for("alice", ip), None);
        }
        assert!(t.record_failure("Alice", ip).is_some());
        assert!(
            t.locked_for("alice", "198.51.100.7".parse().unwrap())
                .is_some()
        );
        assert!(t.locked_for("bob", ip).is_some());
        assert!(
            t.locked_for("bob", "198.51.100.7".parse().unwrap())
                .is_none()
        );
    }

    #[tokio::test]
    async fn attempts_on_one_account_run_one_at_a_time() {
        let t = Arc::new(LoginThrottle::new());
        let first = t.serialize_account("alice").await;
        let t2 = Arc::clone(&t);
        let waiter = tokio::spawn(async move {
            let _slot = t2.serialize_account("ALICE").await;
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiter.is_finished(),
            "a second attempt ran while the first held the slot"
        );
        drop(first);
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
        // Another account does not wait.
        let _a = t.serialize_account("alice").await;
        tokio::time::timeout(Duration::from_millis(100), t.serialize_account("bob"))
            .await
            .unwrap();
    }

    #[test]
    fn ipv6_addresses_share_their_64() {
        let [_, a] = keys("x", "2001:db8:1:2:aaaa::1".parse().unwrap());
        let [_, b] = keys("x", "2001:db8:1:2:bbbb::9".parse().unwrap());
        assert_eq!(a, b);
    }
}
