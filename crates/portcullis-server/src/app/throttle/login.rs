//! Login throttling (RFC 9700 §4.16 / NIST SP 800-63B §5.2.2: limit failed
//! authentication attempts): per account, after [`FAILURES_BEFORE_THROTTLE`]
//! failures, one more attempt per [`REPLENISH_SECONDS`] until the failures stop; per
//! client address, after [`ADDRESS_FAILURES_BEFORE_THROTTLE`] failures, one more per
//! [`ADDRESS_REPLENISH_SECONDS`] (100 an hour). Why the address allows more: many
//! people share one address (an office behind NAT), and ten typos among them must not
//! lock them all out; the address limit is against spraying many accounts, the account
//! limit against guessing one.
//!
//! Device cookies (OWASP; [`crate::app::device_cookie`]): an attempt from a browser
//! whose device cookie verifies for the account counts in that cookie's own bucket
//! ([`FAILURES_BEFORE_THROTTLE`] cells as well), not in the account's or the address's:
//! whoever locks an account from elsewhere locks only its anonymous bucket, and the
//! user still signs in on their own browser.
//!
//! Failures are counted in GCRA buckets in the database ([`Store::rate_limit_take`],
//! the `rate_limits` table), shared by every node: ten failures for one account or
//! from one address lock it however the attempts were spread over the nodes (the cost:
//! one transaction per attempt, two for a right password, which gives its cells back).
//! Only failures consume the budget, so a user who signs in correctly is never slowed
//! by others' successes: an attempt reserves a cell of its account's and its address's
//! buckets before the password is verified ([`LoginThrottle::begin`]) and gives them
//! back when it was right ([`LoginThrottle::refund`]). Reserving first makes the limit
//! exact under concurrency, on one node or many: attempts in flight hold their cells.
//! Attempts on one account still run one at a time on a node
//! ([`LoginThrottle::serialize_account`]), so they queue rather than race for the
//! verification permits. Addresses are not serialised (many users share a NAT or a
//! proxy); the login handler reserves while holding a verification permit.

use super::bucket::{REPLENISH_SECONDS, address_key, millis, replenish_ms};
use crate::app::device_cookie::TrustedDevice;
use portcullis_core::store::RateKey;
use portcullis_core::{Store, StoreError, UnixTime};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OwnedMutexGuard;

/// Failures allowed per account (and per device cookie) before attempts are throttled.
pub const FAILURES_BEFORE_THROTTLE: u32 = 10;
/// Failures allowed per client address (IPv6 by /64) before attempts from it are
/// throttled: well above the account's, for offices behind one address.
pub const ADDRESS_FAILURES_BEFORE_THROTTLE: u32 = 100;
/// Once an address is throttled, one attempt per this many seconds (100 an hour).
pub const ADDRESS_REPLENISH_SECONDS: u64 = 36;
/// Most accounts with an attempt slot remembered (per node); beyond it the oldest
/// idle ones are forgotten.
const MAX_ACCOUNT_SLOTS: u64 = 100_000;

/// Failed-login accounting: the buckets are in the database; the per-account attempt
/// slots are per node.
pub struct LoginThrottle {
    in_progress: moka::sync::Cache<String, Arc<tokio::sync::Mutex<()>>>,
}

/// Held while one login attempt is checked, verified and counted: no other attempt on
/// the same account runs meanwhile (on this node).
pub struct AttemptSlot {
    _account: OwnedMutexGuard<()>,
}

/// One login attempt in progress: it holds a cell of its account's and its address's
/// buckets until [`LoginThrottle::refund`] (a right password) or
/// [`LoginThrottle::failed`] (dropping it keeps them, as a failure does).
#[derive(Debug)]
#[must_use = "refund the attempt's cells or count it as failed"]
pub struct LoginAttempt {
    keys: Vec<RateKey>,
    last_allowed: bool,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new()
    }
}

impl LoginThrottle {
    /// A throttle with the documented limits.
    pub fn new() -> Self {
        Self {
            in_progress: moka::sync::Cache::builder()
                .max_capacity(MAX_ACCOUNT_SLOTS)
                .time_to_idle(Duration::from_secs(REPLENISH_SECONDS))
                .build(),
        }
    }

    /// Waits until no other attempt on this account is running on this node, and
    /// returns the slot that keeps it so.
    pub async fn serialize_account(&self, username: &str) -> AttemptSlot {
        let key = account_key(username);
        let lock = self
            .in_progress
            .get_with(key, || Arc::new(tokio::sync::Mutex::new(())));
        AttemptSlot {
            _account: lock.lock_owned().await,
        }
    }

    /// Starts an attempt on `username` from `ip` at `now`, before the password is
    /// verified: takes a cell from the account's and the address's buckets, both or
    /// neither, or, from a `device` whose cookie verified for `username`, from that
    /// cookie's bucket only. `Ok(Err(wait))` when one is spent (refuse without
    /// verifying; a refused attempt keeps no cell).
    ///
    /// # Errors
    /// The store's: the attempt was not counted (and must not be verified).
    pub async fn begin(
        &self,
        store: &dyn Store,
        username: &str,
        ip: IpAddr,
        device: Option<&TrustedDevice>,
        now: UnixTime,
    ) -> Result<Result<LoginAttempt, Duration>, StoreError> {
        let keys = match device {
            Some(device) => vec![device_key(device)],
            None => login_keys(username, ip).into(),
        };
        match store.rate_limit_take(&keys, millis(now)).await? {
            Ok(left) => {
                // The account's or the address's last cell: a failure locks at once.
                let last_allowed = left.contains(&0);
                Ok(Ok(LoginAttempt { keys, last_allowed }))
            }
            Err(retry_ms) => Ok(Err(
                Duration::from_millis(retry_ms).max(Duration::from_secs(1))
            )),
        }
    }

    /// The password was right, or could not be verified: the attempt does not count,
    /// and its cells go back (only its own: earlier failures stay counted).
    ///
    /// # Errors
    /// The store's: the cells stay taken (the attempt counts as a failure).
    pub async fn refund(
        &self,
        store: &dyn Store,
        attempt: LoginAttempt,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        store.rate_limit_refund(&attempt.keys, millis(now)).await
    }

    /// The attempt failed: it keeps its cells. `Some(wait)` when it took the last cell
    /// of one of its buckets (locked from now on; the wait is the account's refill
    /// period, the longer one).
    pub fn failed(&self, attempt: LoginAttempt) -> Option<Duration> {
        attempt
            .last_allowed
            .then_some(Duration::from_secs(REPLENISH_SECONDS))
    }

    /// An administrator unlocks `username`: its account bucket is full again (failures
    /// from an address or a device cookie stay counted). `false` when it was not
    /// throttled at all.
    ///
    /// # Errors
    /// The store's.
    pub async fn unlock(store: &dyn Store, username: &str) -> Result<bool, StoreError> {
        store
            .rate_limit_clear(&format!("login:{}", account_key(username)))
            .await
    }

    /// Forgets idle attempt slots (keeps memory bounded).
    pub fn prune(&self) {
        self.in_progress.run_pending_tasks();
    }
}

/// The account's login bucket ([`FAILURES_BEFORE_THROTTLE`] cells, one back per
/// [`REPLENISH_SECONDS`]) and the address's ([`ADDRESS_FAILURES_BEFORE_THROTTLE`]
/// cells, one back per [`ADDRESS_REPLENISH_SECONDS`]).
fn login_keys(username: &str, ip: IpAddr) -> [RateKey; 2] {
    let [account, address] = keys(username, ip);
    let address_ms =
        i64::try_from(ADDRESS_REPLENISH_SECONDS.saturating_mul(1000)).unwrap_or(i64::MAX);
    [
        RateKey::new(
            format!("login:{account}"),
            replenish_ms(),
            FAILURES_BEFORE_THROTTLE,
        ),
        RateKey::new(
            format!("login:{address}"),
            address_ms,
            ADDRESS_FAILURES_BEFORE_THROTTLE,
        ),
    ]
}

/// A device cookie's login bucket: as the account's, [`FAILURES_BEFORE_THROTTLE`]
/// cells, one back per [`REPLENISH_SECONDS`].
fn device_key(device: &TrustedDevice) -> RateKey {
    RateKey::new(
        format!("login:device:{}", device.id()),
        replenish_ms(),
        FAILURES_BEFORE_THROTTLE,
    )
}

/// The account key (case-folded: `Alice` and `alice` share a budget) and the address
/// key.
fn keys(username: &str, ip: IpAddr) -> [String; 2] {
    [account_key(username), address_key(ip)]
}

fn account_key(username: &str) -> String {
    format!("account:{}", username.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::throttle::testing::{T0, ip};
    use crate::app::throttle::user_code::per_key;
    use portcullis_core::testing::MemoryStore;

    #[tokio::test]
    async fn the_tenth_failure_locks_the_account_from_every_address() {
        let store = MemoryStore::new();
        let t = LoginThrottle::new();
        let at: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "198.51.100.7".parse().unwrap();
        for n in 1..FAILURES_BEFORE_THROTTLE {
            let attempt = t
                .begin(&store, "alice", at, None, T0)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(t.failed(attempt), None, "failure {n}");
        }
        // A right password gives its cells back: the next failure is still the tenth.
        let right = t
            .begin(&store, "alice", at, None, T0)
            .await
            .unwrap()
            .unwrap();
        t.refund(&store, right, T0).await.unwrap();
        let tenth = t
            .begin(&store, "Alice", at, None, T0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            t.failed(tenth),
            Some(Duration::from_secs(REPLENISH_SECONDS))
        );
        assert!(
            t.begin(&store, "alice", other, None, T0)
                .await
                .unwrap()
                .is_err()
        );
        // The address is far from its limit: another account from it goes on.
        assert!(t.begin(&store, "bob", at, None, T0).await.unwrap().is_ok());
        // One attempt back per replenish period.
        let later = T0 + i64::try_from(REPLENISH_SECONDS).unwrap();
        assert!(
            t.begin(&store, "alice", other, None, later - 1)
                .await
                .unwrap()
                .is_err()
        );
        let again = t
            .begin(&store, "alice", other, None, later)
            .await
            .unwrap()
            .unwrap();
        assert!(t.failed(again).is_some());
    }

    #[tokio::test]
    async fn the_hundredth_failure_from_an_address_locks_it() {
        let store = MemoryStore::new();
        let t = LoginThrottle::new();
        let office = ip("192.0.2.1");
        // A hundred typos, a few per person (never ten on one account).
        for n in 1..ADDRESS_FAILURES_BEFORE_THROTTLE {
            let user = format!("user-{}", n % 20);
            let attempt = t
                .begin(&store, &user, office, None, T0)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(t.failed(attempt), None, "failure {n}");
        }
        let last = t
            .begin(&store, "user-0", office, None, T0)
            .await
            .unwrap()
            .unwrap();
        assert!(t.failed(last).is_some(), "the hundredth locks the address");
        let wait = t
            .begin(&store, "someone-else", office, None, T0)
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            wait <= Duration::from_secs(ADDRESS_REPLENISH_SECONDS),
            "{wait:?}"
        );
        // One attempt back per ADDRESS_REPLENISH_SECONDS: 100 an hour.
        let later = T0 + i64::try_from(ADDRESS_REPLENISH_SECONDS).unwrap();
        assert!(
            t.begin(&store, "someone-else", office, None, later)
                .await
                .unwrap()
                .is_ok()
        );
        assert_eq!(
            3600 / ADDRESS_REPLENISH_SECONDS,
            u64::from(ADDRESS_FAILURES_BEFORE_THROTTLE)
        );
    }

    #[tokio::test]
    async fn a_trusted_device_counts_in_its_own_bucket() {
        let store = MemoryStore::new();
        let t = LoginThrottle::new();
        let (master, _) = portcullis_core::keys::MasterKey::generate().unwrap();
        let cookies = crate::app::device_cookie::DeviceCookies::derive(&master).unwrap();
        let trusted = |value: &secrecy::SecretString| {
            use secrecy::ExposeSecret;
            cookies
                .verify(Some(value.expose_secret()), "alice", T0)
                .unwrap()
        };
        let (mine, stolen) = (
            trusted(&cookies.issue("alice", T0).unwrap()),
            trusted(&cookies.issue("alice", T0).unwrap()),
        );
        let attacker = ip("203.0.113.9");
        // A stranger locks the account's anonymous bucket...
        for _ in 0..FAILURES_BEFORE_THROTTLE {
            let attempt = t
                .begin(&store, "alice", attacker, None, T0)
                .await
                .unwrap()
                .unwrap();
            let _ = t.failed(attempt);
        }
        assert!(
            t.begin(&store, "alice", ip("192.0.2.1"), None, T0)
                .await
                .unwrap()
                .is_err()
        );
        // ...not the user's browser.
        assert!(
            t.begin(&store, "alice", attacker, Some(&mine), T0)
                .await
                .unwrap()
                .is_ok()
        );
        // A device cookie's bucket locks after as many failures, and only its own.
        for _ in 0..FAILURES_BEFORE_THROTTLE {
            let attempt = t
                .begin(&store, "alice", attacker, Some(&stolen), T0)
                .await
                .unwrap()
                .unwrap();
            let _ = t.failed(attempt);
        }
        assert!(
            t.begin(&store, "alice", attacker, Some(&stolen), T0)
                .await
                .unwrap()
                .is_err()
        );
        assert!(
            t.begin(&store, "alice", attacker, Some(&mine), T0)
                .await
                .unwrap()
                .is_ok()
        );
    }

    #[test]
    fn login_keys_do_not_collide_with_user_code_keys() {
        let [account, address] = login_keys("alice", ip("192.0.2.1"));
        assert_eq!(account.key, "login:account:alice");
        assert_eq!(address.key, "login:ip:192.0.2.1");
        assert_eq!(
            (account.burst, address.burst),
            (FAILURES_BEFORE_THROTTLE, ADDRESS_FAILURES_BEFORE_THROTTLE)
        );
        assert_ne!(address.key, per_key(address_key(ip("192.0.2.1"))).key);
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
