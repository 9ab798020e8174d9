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
//!
//! [`UserCodeThrottle`] limits wrong user codes on the device verification page
//! (RFC 8628 §5.1) with the same numbers, per browser and per address, plus a global
//! budget that bounds guessing across the whole space of live codes (docs/security.md
//! has the arithmetic). Unlike logins, it reserves each entry's cells before the look-up
//! and gives them back for a right code, so concurrent entries need no serialising and
//! nothing can reset a streak (see its doc). [`DeviceAuthorizationThrottle`] limits
//! device authorization requests per address.

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
/// key.
fn keys(username: &str, ip: IpAddr) -> [String; 2] {
    [account_key(username), address_key(ip)]
}

/// The address key: an IPv4 address, or an IPv6 address by its /64 (which one client
/// usually holds whole; IPv4-mapped addresses count as IPv4).
fn address_key(ip: IpAddr) -> String {
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
    format!("ip:{address}")
}

fn account_key(username: &str) -> String {
    format!("account:{}", username.to_lowercase())
}

/// Wrong user codes allowed in a row per browser and per address (RFC 8628 §5.1)
/// before entries are throttled to one per [`REPLENISH_SECONDS`].
pub const WRONG_USER_CODES_BEFORE_THROTTLE: u32 = 10;
/// Wrong user-code entries allowed per minute on one node, from everyone together
/// (also the burst). Why: per-browser and per-address limits do not stop an attacker
/// with many addresses; this bounds the guesses against the whole space of live codes
/// (20^8 codes; docs/security.md: at most ~660 guesses in a code's 10 minutes).
pub const GLOBAL_WRONG_USER_CODES_PER_MINUTE: u32 = 60;
/// Device authorization requests allowed per minute from one address (IPv6 by /64),
/// also the burst (why: each request stores a row and a live user code, and anyone
/// holding a public device client's id can make them: a denial of service on the
/// database and on the user-code space).
pub const DEVICE_AUTHORIZATIONS_PER_MINUTE: u32 = 30;

/// User-code entry accounting for one node (RFC 8628 §5.1 "brute forcing the user
/// code"): a browser (its binding cookie) and an address (IPv6 by /64) each have a
/// bucket of [`WRONG_USER_CODES_BEFORE_THROTTLE`] cells that refills one cell per
/// [`REPLENISH_SECONDS`]; everyone together has one of
/// [`GLOBAL_WRONG_USER_CODES_PER_MINUTE`] cells refilling as many per minute.
///
/// Only wrong entries spend cells, and nothing resets a bucket. An entry reserves its
/// cells before the code is looked up ([`UserCodeThrottle::begin`]): the global cell
/// first (if refused, nothing else is touched), then the address's and the browser's
/// (if one is refused, the cells already taken, global included, go back). A right
/// entry, or one whose look-up failed, gives back exactly the cells it took
/// ([`UserCodeThrottle::refund`]); a wrong one keeps them ([`UserCodeThrottle::wrong`]).
/// So a browser or an address gets at most [`WRONG_USER_CODES_BEFORE_THROTTLE`] wrong
/// entries in a row, then one per [`REPLENISH_SECONDS`], however many right codes it
/// enters in between (why no reset: anyone can mint right codes for free at the device
/// authorization endpoint, so a reset on a right code would let one address guess
/// forever and keep the global budget empty). Reserving before the look-up makes the
/// limits exact under concurrency without serialising requests: entries in flight hold
/// their cells. While a budget is spent no code is looked up, right or wrong (else the
/// answer would be an oracle).
///
/// Memory stays bounded without a cache: a bucket is kept only while it is not full,
/// and a key's bucket is created only after the global cell was taken, so at most two
/// keys per global cell spent in the last ten minutes (plus entries in flight) exist.
pub struct UserCodeThrottle {
    buckets: std::sync::Mutex<UserCodeBuckets>,
}

/// The global bucket and the non-full per-key ones, under one lock (each entry updates
/// them together, so a refusal can give back what it took atomically).
struct UserCodeBuckets {
    global: Gcra,
    /// Browser and address buckets by key; a full bucket is removed.
    keys: std::collections::HashMap<String, Gcra>,
}

/// One user-code entry in progress: it holds a cell of the global budget and of its
/// address's and browser's budgets until [`UserCodeThrottle::refund`] or
/// [`UserCodeThrottle::wrong`] (dropping it keeps them, as a wrong entry does).
#[derive(Debug)]
#[must_use = "refund the entry's cells or count it as wrong"]
pub struct UserCodeEntry {
    keys: [String; 2],
    last_allowed: bool,
}

impl Default for UserCodeThrottle {
    fn default() -> Self {
        Self::new()
    }
}

impl UserCodeThrottle {
    /// A throttle with the documented limits.
    pub fn new() -> Self {
        Self::with_global(GLOBAL_WRONG_USER_CODES_PER_MINUTE)
    }

    /// A throttle whose global budget is `per_minute` wrong entries per minute.
    pub fn with_global(per_minute: u32) -> Self {
        Self {
            buckets: std::sync::Mutex::new(UserCodeBuckets {
                global: Gcra::per_minute(per_minute.max(1)),
                keys: std::collections::HashMap::new(),
            }),
        }
    }

    /// Starts an entry from `browser` (a key for the browser-binding cookie) at `ip`:
    /// takes a cell from the global budget, then from the address's and the browser's.
    /// `Err(wait)` when one is spent (refuse without looking the code up); a refused
    /// entry keeps no cell (why: a refusal must not spend the user's own budget).
    ///
    /// # Errors
    /// How long to wait before the next entry is allowed.
    pub fn begin(&self, browser: &str, ip: IpAddr) -> Result<UserCodeEntry, Duration> {
        self.begin_at(browser, ip, Instant::now())
    }

    /// The code was right, or could not be looked up (a store error): the entry does
    /// not count, and every cell it took goes back. Only its own cells: the wrong
    /// entries before it stay counted.
    pub fn refund(&self, entry: UserCodeEntry) {
        let now = Instant::now();
        let mut guard = self.lock();
        let buckets = &mut *guard;
        buckets.global.refund(now);
        for key in &entry.keys {
            buckets.refund_key(key, now);
        }
    }

    /// The code was wrong (or expired, or used): the entry keeps its cells.
    /// `Some(wait)` when it took the last cell the browser or the address had, so the
    /// page can say so at once.
    pub fn wrong(&self, entry: UserCodeEntry) -> Option<Duration> {
        entry
            .last_allowed
            .then_some(Duration::from_secs(REPLENISH_SECONDS))
    }

    /// Forgets buckets that are full again (keeps memory small).
    pub fn prune(&self) {
        let now = Instant::now();
        self.lock().keys.retain(|_, bucket| !bucket.is_full(now));
    }

    fn begin_at(&self, browser: &str, ip: IpAddr, now: Instant) -> Result<UserCodeEntry, Duration> {
        let keys = [address_key(ip), format!("browser:{browser}")];
        let mut guard = self.lock();
        let buckets = &mut *guard;
        // Global first: when everyone's budget is spent, the user's own is not touched.
        buckets.global.take(now)?;
        let mut last_allowed = false;
        for (taken, key) in keys.iter().enumerate() {
            let bucket = buckets
                .keys
                .entry(key.clone())
                .or_insert_with(Gcra::per_key);
            match bucket.take(now) {
                Ok(()) => last_allowed |= bucket.is_spent(now),
                Err(wait) => {
                    // Refused: give back what this entry took so far.
                    buckets.global.refund(now);
                    for earlier in keys.iter().take(taken) {
                        buckets.refund_key(earlier, now);
                    }
                    return Err(wait);
                }
            }
        }
        Ok(UserCodeEntry { keys, last_allowed })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, UserCodeBuckets> {
        // A poisoned lock only means another thread panicked mid-update; the cell
        // arithmetic is still consistent, so keep counting.
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl UserCodeBuckets {
    /// Gives a key its cell back, forgetting the bucket once it is full.
    fn refund_key(&mut self, key: &str, now: Instant) {
        let full = self.keys.get_mut(key).is_some_and(|bucket| {
            bucket.refund(now);
            bucket.is_full(now)
        });
        if full {
            self.keys.remove(key);
        }
    }
}

/// Device authorization requests per address (resource exhaustion):
/// [`DEVICE_AUTHORIZATIONS_PER_MINUTE`] per minute, all at once if need be. Every
/// request counts, granted or not (why: each granted one stores a row and a user code
/// anyone could type, and a refused one still costs a client look-up).
pub struct DeviceAuthorizationThrottle {
    requests: RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>,
    clock: DefaultClock,
}

impl Default for DeviceAuthorizationThrottle {
    fn default() -> Self {
        Self::new()
    }
}

impl DeviceAuthorizationThrottle {
    /// A throttle with the documented limit.
    pub fn new() -> Self {
        let per_minute =
            NonZeroU32::new(DEVICE_AUTHORIZATIONS_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        Self {
            requests: RateLimiter::keyed(Quota::per_minute(per_minute)),
            clock: DefaultClock::default(),
        }
    }

    /// Counts a request from `ip`.
    ///
    /// # Errors
    /// How long to wait (at least a second) when this address has used its budget.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.requests
            .check_key(&address_key(ip))
            .map_err(|not_until| {
                not_until
                    .wait_time_from(self.clock.now())
                    .max(Duration::from_secs(1))
            })
    }

    /// Forgets addresses whose budget is full again (keeps memory bounded).
    pub fn prune(&self) {
        self.requests.retain_recent();
        self.requests.shrink_to_fit();
    }
}

/// A generic cell rate algorithm bucket that can give a cell back (governor's cannot).
#[derive(Debug, Clone)]
struct Gcra {
    /// Theoretical arrival time of the next cell; `None` before the first.
    tat: Option<Instant>,
    /// Emission interval: one cell per `interval`.
    interval: Duration,
    /// Burst tolerance: `interval × (burst − 1)`.
    tolerance: Duration,
}

impl Gcra {
    /// `burst` cells, all available at once, one coming back per `interval`.
    fn new(interval: Duration, burst: u32) -> Self {
        Self {
            tat: None,
            interval,
            tolerance: interval.saturating_mul(burst.max(1).saturating_sub(1)),
        }
    }

    /// `per_minute` cells per minute, all of them available at once.
    fn per_minute(per_minute: u32) -> Self {
        Self::new(Duration::from_secs(60) / per_minute.max(1), per_minute)
    }

    /// A browser's or an address's wrong user codes: a burst of
    /// [`WRONG_USER_CODES_BEFORE_THROTTLE`], then one per [`REPLENISH_SECONDS`].
    fn per_key() -> Self {
        Self::new(
            Duration::from_secs(REPLENISH_SECONDS),
            WRONG_USER_CODES_BEFORE_THROTTLE,
        )
    }

    /// Takes a cell at `now`, or says how long until one is free.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let tat = self.tat.map_or(now, |t| t.max(now));
        let ahead = tat.saturating_duration_since(now);
        if ahead > self.tolerance {
            return Err((ahead - self.tolerance).max(Duration::from_secs(1)));
        }
        self.tat = Some(tat.checked_add(self.interval).unwrap_or(tat));
        Ok(())
    }

    /// Gives back one cell taken earlier (never more than a full bucket).
    fn refund(&mut self, now: Instant) {
        if let Some(tat) = self.tat {
            self.tat = Some(tat.checked_sub(self.interval).unwrap_or(now).max(now));
        }
    }

    /// Whether no cell is left at `now` (the next take would be refused).
    fn is_spent(&self, now: Instant) -> bool {
        self.tat
            .is_some_and(|tat| tat.saturating_duration_since(now) > self.tolerance)
    }

    /// Whether every cell is available at `now` (the bucket carries no history).
    fn is_full(&self, now: Instant) -> bool {
        self.tat.is_none_or(|tat| tat <= now)
    }
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

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_tenth_wrong_user_code_locks_the_browser_and_the_address() {
        let t = UserCodeThrottle::new();
        for n in 1..WRONG_USER_CODES_BEFORE_THROTTLE {
            let entry = t.begin("b1", ip("192.0.2.1")).unwrap();
            assert_eq!(t.wrong(entry), None, "wrong entry {n}");
        }
        let tenth = t.begin("b1", ip("192.0.2.1")).unwrap();
        assert_eq!(t.wrong(tenth), Some(Duration::from_secs(REPLENISH_SECONDS)));
        // The address is locked for another browser, and the browser at another address.
        assert!(t.begin("b2", ip("192.0.2.1")).is_err());
        let wait = t.begin("b1", ip("198.51.100.7")).unwrap_err();
        assert!(wait <= Duration::from_secs(REPLENISH_SECONDS), "{wait:?}");
        assert!(t.begin("b3", ip("198.51.100.8")).is_ok());
    }

    #[test]
    fn device_page_right_code_does_not_reset_the_wrong_code_limit() {
        let t = UserCodeThrottle::new();
        let at = ip("192.0.2.1");
        for n in 1..WRONG_USER_CODES_BEFORE_THROTTLE {
            let entry = t.begin("b1", at).unwrap();
            assert_eq!(t.wrong(entry), None, "wrong entry {n}");
        }
        // Right codes (free to mint) give back only their own cells ...
        for _ in 0..5 {
            t.refund(t.begin("b1", at).unwrap());
        }
        // ... so the next wrong entry is still the tenth in a row, and locks.
        let tenth = t.begin("b1", at).unwrap();
        assert!(t.wrong(tenth).is_some());
        assert!(t.begin("b1", at).is_err());
        assert!(
            t.begin("fresh browser", at).is_err(),
            "the address is locked"
        );
    }

    #[test]
    fn refused_entry_does_not_spend_the_users_own_budget() {
        // Refused by the global budget: the victim's own buckets are not touched.
        let t = UserCodeThrottle::with_global(1);
        let start = Instant::now();
        let spent = t.begin_at("attacker", ip("203.0.113.1"), start).unwrap();
        assert_eq!(t.wrong(spent), None);
        for _ in 0..20 {
            assert!(t.begin_at("victim", ip("192.0.2.1"), start).is_err());
        }
        {
            let buckets = t.lock();
            assert!(!buckets.keys.contains_key(&address_key(ip("192.0.2.1"))));
            assert!(!buckets.keys.contains_key("browser:victim"));
        }
        // Refused by a per-key budget: the global cell (and the address's, when the
        // browser refuses) goes back.
        let t = UserCodeThrottle::with_global(WRONG_USER_CODES_BEFORE_THROTTLE + 2);
        for _ in 0..WRONG_USER_CODES_BEFORE_THROTTLE {
            let entry = t.begin_at("b1", ip("192.0.2.1"), start).unwrap();
            let _ = t.wrong(entry);
        }
        for n in 0..20 {
            // The address is spent; then the browser from a fresh address.
            assert!(
                t.begin_at(&format!("b{n}x"), ip("192.0.2.1"), start)
                    .is_err()
            );
            assert!(
                t.begin_at("b1", ip(&format!("198.51.100.{n}")), start)
                    .is_err()
            );
        }
        {
            let buckets = t.lock();
            for n in 0..20 {
                let fresh = address_key(ip(&format!("198.51.100.{n}")));
                assert!(buckets.keys.get(&fresh).is_none_or(|b| b.is_full(start)));
            }
        }
        // Two global cells are left for everyone else, after 40 refusals.
        for n in 0..2 {
            let entry = t
                .begin_at(&format!("other{n}"), ip(&format!("203.0.113.{n}")), start)
                .unwrap();
            let _ = t.wrong(entry);
        }
        assert!(t.begin_at("other", ip("203.0.113.9"), start).is_err());
    }

    #[test]
    fn entries_in_flight_hold_their_cells() {
        let t = UserCodeThrottle::new();
        let at = ip("192.0.2.1");
        let in_flight: Vec<UserCodeEntry> = (0..WRONG_USER_CODES_BEFORE_THROTTLE)
            .map(|n| t.begin(&format!("b{n}"), at).unwrap())
            .collect();
        // Ten guesses from one address are being looked up: an eleventh waits.
        assert!(t.begin("b-late", at).is_err());
        for entry in in_flight {
            t.refund(entry);
        }
        // All right after all: the budget is whole again, and nothing is kept.
        assert!(t.lock().keys.is_empty());
        assert!(t.begin("b-late", at).is_ok());
    }

    #[test]
    fn the_global_budget_counts_wrong_entries_from_everyone() {
        let t = UserCodeThrottle::with_global(5);
        for n in 0..5 {
            let entry = t
                .begin(&format!("b{n}"), ip(&format!("192.0.2.{n}")))
                .unwrap();
            if n == 2 {
                // A right entry gives its global cell back.
                t.refund(entry);
                let entry = t.begin("again", ip("192.0.2.200")).unwrap();
                assert_eq!(t.wrong(entry), None);
            } else {
                assert_eq!(t.wrong(entry), None);
            }
        }
        let wait = t.begin("new", ip("203.0.113.9")).unwrap_err();
        assert!(
            wait >= Duration::from_secs(1) && wait <= Duration::from_secs(12),
            "{wait:?}"
        );
    }

    #[test]
    fn a_spent_key_gets_one_entry_back_per_replenish_period() {
        let t = UserCodeThrottle::new();
        let start = Instant::now();
        let at = ip("192.0.2.1");
        for _ in 0..WRONG_USER_CODES_BEFORE_THROTTLE {
            let entry = t.begin_at("b1", at, start).unwrap();
            let _ = t.wrong(entry);
        }
        let later = start + Duration::from_secs(REPLENISH_SECONDS);
        assert!(
            t.begin_at("b1", at, later - Duration::from_secs(1))
                .is_err()
        );
        let entry = t.begin_at("b1", at, later).unwrap();
        assert!(t.wrong(entry).is_some(), "the one entry back locks again");
        assert!(t.begin_at("b1", at, later).is_err());
    }

    #[test]
    fn gcra_allows_its_burst_then_one_cell_per_interval() {
        let start = Instant::now();
        let mut g = Gcra::per_minute(60);
        for _ in 0..60 {
            g.take(start).unwrap();
        }
        assert!(g.is_spent(start));
        assert_eq!(g.take(start), Err(Duration::from_secs(1)));
        g.take(start + Duration::from_secs(1)).unwrap();
        assert!(g.take(start + Duration::from_secs(1)).is_err());
        g.refund(start + Duration::from_secs(1));
        g.take(start + Duration::from_secs(1)).unwrap();
        assert!(!g.is_full(start + Duration::from_secs(60)));
        assert!(g.is_full(start + Duration::from_secs(61)));
    }

    #[test]
    fn device_authorization_is_rate_limited_per_address() {
        let t = DeviceAuthorizationThrottle::new();
        for n in 0..DEVICE_AUTHORIZATIONS_PER_MINUTE {
            assert!(t.check(ip("2001:db8:1:2::1")).is_ok(), "request {n}");
        }
        // The same /64, another address: refused for about two seconds (60 s / 30).
        let wait = t.check(ip("2001:db8:1:2::ffff")).unwrap_err();
        assert!(
            wait >= Duration::from_secs(1) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        assert!(t.check(ip("192.0.2.1")).is_ok());
    }

    #[test]
    fn ipv6_addresses_share_their_64() {
        let [_, a] = keys("x", "2001:db8:1:2:aaaa::1".parse().unwrap());
        let [_, b] = keys("x", "2001:db8:1:2:bbbb::9".parse().unwrap());
        assert_eq!(a, b);
    }
}
