//! [`UserCodeThrottle`] limits wrong user codes on the device verification page
//! (RFC 8628 §5.1) with the same numbers as logins, per browser and per address, plus a
//! global budget that bounds guessing across the whole space of live codes
//! (docs/security.md has the arithmetic). Its buckets are in the database, shared by
//! every node. Unlike logins, it reserves each entry's cells before the look-up and
//! gives them back for a right code, so concurrent entries need no serialising and
//! nothing can reset a streak (see its doc).

use super::bucket::{REPLENISH_SECONDS, address_key, millis, replenish_ms};
use portcullis_core::store::RateKey;
use portcullis_core::{Store, StoreError, UnixTime};
use std::net::IpAddr;
use std::time::Duration;

/// Wrong user codes allowed in a row per browser and per address (RFC 8628 §5.1)
/// before entries are throttled to one per [`REPLENISH_SECONDS`].
pub const WRONG_USER_CODES_BEFORE_THROTTLE: u32 = 10;
/// Wrong user-code entries allowed per minute on one node, from everyone together
/// (also the burst). Why: per-browser and per-address limits do not stop an attacker
/// with many addresses; this bounds the guesses against the whole space of live codes
/// (20^8 codes; docs/security.md: at most ~660 guesses in a code's 10 minutes).
pub const GLOBAL_WRONG_USER_CODES_PER_MINUTE: u32 = 60;

/// User-code entry accounting, shared by every node through the database (RFC 8628
/// §5.1 "brute forcing the user code"; DESIGN.md "Storage"): a browser (its binding
/// cookie) and an address (IPv6 by /64) each have a bucket of
/// [`WRONG_USER_CODES_BEFORE_THROTTLE`] cells that refills one cell per
/// [`REPLENISH_SECONDS`]; everyone together has one of
/// [`GLOBAL_WRONG_USER_CODES_PER_MINUTE`] cells refilling as many per minute. The
/// buckets are GCRA rows of the `rate_limits` table ([`Store::rate_limit_take`]), so
/// N nodes share one budget; the cost is one transaction per user-code entry (two for
/// a right one, which gives its cells back).
///
/// Only wrong entries spend cells, and nothing resets a bucket. An entry reserves its
/// cells before the code is looked up ([`UserCodeThrottle::begin`]): the global, the
/// address's and the browser's cell in one transaction, all or none (so an entry the
/// global budget refuses spends nothing of its browser's or address's, and one a
/// browser or address refuses keeps no global cell). A right entry, or one whose
/// look-up failed, gives back exactly the cells it took
/// ([`UserCodeThrottle::refund`]); a wrong one keeps them ([`UserCodeThrottle::wrong`]).
/// So a browser or an address gets at most [`WRONG_USER_CODES_BEFORE_THROTTLE`] wrong
/// entries in a row, then one per [`REPLENISH_SECONDS`], however many right codes it
/// enters in between (why no reset: anyone can mint right codes for free at the device
/// authorization endpoint, so a reset on a right code would let one address guess
/// forever and keep the global budget empty). Reserving before the look-up makes the
/// limits exact under concurrency, on one node or many, without serialising requests:
/// entries in flight hold their cells. While a budget is spent no code is looked up,
/// right or wrong (else the answer would be an oracle).
///
/// Rows stay bounded: a bucket that is full again is deleted by housekeeping
/// ([`Store::purge_expired`]), and a refused entry stores nothing.
pub struct UserCodeThrottle {
    global_per_minute: u32,
}

/// One user-code entry in progress: it holds a cell of the global budget and of its
/// address's and browser's budgets until [`UserCodeThrottle::refund`] or
/// [`UserCodeThrottle::wrong`] (dropping it keeps them, as a wrong entry does).
#[derive(Debug)]
#[must_use = "refund the entry's cells or count it as wrong"]
pub struct UserCodeEntry {
    keys: [RateKey; 3],
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
            global_per_minute: per_minute.max(1),
        }
    }

    /// Starts an entry from `browser` (a key for the browser-binding cookie) at `ip`,
    /// at `now`: takes a cell from the global budget and from the address's and the
    /// browser's, all or none. `Ok(Err(wait))` when one is spent (refuse without
    /// looking the code up); a refused entry keeps no cell (why: a refusal must not
    /// spend the user's own budget).
    ///
    /// # Errors
    /// The store's: the entry was not counted (nothing is looked up either).
    pub async fn begin(
        &self,
        store: &dyn Store,
        browser: &str,
        ip: IpAddr,
        now: UnixTime,
    ) -> Result<Result<UserCodeEntry, Duration>, StoreError> {
        let keys = [
            global_key(self.global_per_minute),
            per_key(address_key(ip)),
            per_key(format!("browser:{browser}")),
        ];
        match store.rate_limit_take(&keys, millis(now)).await? {
            Ok(left) => {
                // The address's or the browser's last cell: the page says so at once.
                let last_allowed = left.iter().skip(1).any(|&cells| cells == 0);
                Ok(Ok(UserCodeEntry { keys, last_allowed }))
            }
            Err(retry_ms) => Ok(Err(
                Duration::from_millis(retry_ms).max(Duration::from_secs(1))
            )),
        }
    }

    /// The code was right, or could not be looked up (a store error): the entry does
    /// not count, and every cell it took goes back. Only its own cells: the wrong
    /// entries before it stay counted.
    ///
    /// # Errors
    /// The store's: the cells stay taken (the entry counts as a wrong one).
    pub async fn refund(
        &self,
        store: &dyn Store,
        entry: UserCodeEntry,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        store.rate_limit_refund(&entry.keys, millis(now)).await
    }

    /// The code was wrong (or expired, or used): the entry keeps its cells.
    /// `Some(wait)` when it took the last cell the browser or the address had, so the
    /// page can say so at once.
    pub fn wrong(&self, entry: UserCodeEntry) -> Option<Duration> {
        entry
            .last_allowed
            .then_some(Duration::from_secs(REPLENISH_SECONDS))
    }
}

/// The everyone-together bucket: `per_minute` cells, as many per minute.
fn global_key(per_minute: u32) -> RateKey {
    let per_minute = per_minute.max(1);
    RateKey::new(
        "user_code:global",
        60_000 / i64::from(per_minute),
        per_minute,
    )
}

/// A browser's or an address's wrong user codes: a burst of
/// [`WRONG_USER_CODES_BEFORE_THROTTLE`], then one per [`REPLENISH_SECONDS`].
pub(super) fn per_key(name: String) -> RateKey {
    RateKey::new(
        format!("user_code:{name}"),
        replenish_ms(),
        WRONG_USER_CODES_BEFORE_THROTTLE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::throttle::testing::{T0, ip};
    use portcullis_core::store::{PurgeStore, RateLimitStore};
    use portcullis_core::testing::MemoryStore;

    /// A user-code throttle on an in-memory store (the SQL stores run the same
    /// contract in `portcullis-store`'s tests).
    struct Codes {
        store: MemoryStore,
        t: UserCodeThrottle,
    }

    impl Codes {
        fn new(t: UserCodeThrottle) -> Self {
            Self {
                store: MemoryStore::new(),
                t,
            }
        }

        async fn begin_at(
            &self,
            browser: &str,
            at: IpAddr,
            now: UnixTime,
        ) -> Result<UserCodeEntry, Duration> {
            self.t.begin(&self.store, browser, at, now).await.unwrap()
        }

        async fn begin(&self, browser: &str, at: IpAddr) -> Result<UserCodeEntry, Duration> {
            self.begin_at(browser, at, T0).await
        }

        async fn refund(&self, entry: UserCodeEntry) {
            self.t.refund(&self.store, entry, T0).await.unwrap();
        }

        /// Cells a bucket has left (probing takes one, so it is given back).
        async fn cells_left(&self, key: RateKey) -> u32 {
            let keys = [key];
            let left = self
                .store
                .rate_limit_take(&keys, millis(T0))
                .await
                .unwrap()
                .map_or(0, |left| left.first().copied().unwrap_or(0) + 1);
            if left > 0 {
                self.store
                    .rate_limit_refund(&keys, millis(T0))
                    .await
                    .unwrap();
            }
            left
        }
    }

    #[tokio::test]
    async fn the_tenth_wrong_user_code_locks_the_browser_and_the_address() {
        let c = Codes::new(UserCodeThrottle::new());
        for n in 1..WRONG_USER_CODES_BEFORE_THROTTLE {
            let entry = c.begin("b1", ip("192.0.2.1")).await.unwrap();
            assert_eq!(c.t.wrong(entry), None, "wrong entry {n}");
        }
        let tenth = c.begin("b1", ip("192.0.2.1")).await.unwrap();
        assert_eq!(
            c.t.wrong(tenth),
            Some(Duration::from_secs(REPLENISH_SECONDS))
        );
        // The address is locked for another browser, and the browser at another address.
        assert!(c.begin("b2", ip("192.0.2.1")).await.is_err());
        let wait = c.begin("b1", ip("198.51.100.7")).await.unwrap_err();
        assert!(wait <= Duration::from_secs(REPLENISH_SECONDS), "{wait:?}");
        assert!(c.begin("b3", ip("198.51.100.8")).await.is_ok());
    }

    #[tokio::test]
    async fn device_page_right_code_does_not_reset_the_wrong_code_limit() {
        let c = Codes::new(UserCodeThrottle::new());
        let at = ip("192.0.2.1");
        for n in 1..WRONG_USER_CODES_BEFORE_THROTTLE {
            let entry = c.begin("b1", at).await.unwrap();
            assert_eq!(c.t.wrong(entry), None, "wrong entry {n}");
        }
        // Right codes (free to mint) give back only their own cells ...
        for _ in 0..5 {
            let entry = c.begin("b1", at).await.unwrap();
            c.refund(entry).await;
        }
        // ... so the next wrong entry is still the tenth in a row, and locks.
        let tenth = c.begin("b1", at).await.unwrap();
        assert!(c.t.wrong(tenth).is_some());
        assert!(c.begin("b1", at).await.is_err());
        assert!(
            c.begin("fresh browser", at).await.is_err(),
            "the address is locked"
        );
    }

    #[tokio::test]
    async fn refused_entry_does_not_spend_the_users_own_budget() {
        // Refused by the global budget: the victim's own buckets are not touched.
        let c = Codes::new(UserCodeThrottle::with_global(1));
        let spent = c.begin("attacker", ip("203.0.113.1")).await.unwrap();
        assert_eq!(c.t.wrong(spent), None);
        for _ in 0..20 {
            assert!(c.begin("victim", ip("192.0.2.1")).await.is_err());
        }
        let full = WRONG_USER_CODES_BEFORE_THROTTLE;
        assert_eq!(
            c.cells_left(per_key(address_key(ip("192.0.2.1")))).await,
            full
        );
        assert_eq!(c.cells_left(per_key("browser:victim".into())).await, full);
        // Refused by a per-key budget: the global cell (and the address's, when the
        // browser refuses) goes back.
        let c = Codes::new(UserCodeThrottle::with_global(
            WRONG_USER_CODES_BEFORE_THROTTLE + 2,
        ));
        for _ in 0..WRONG_USER_CODES_BEFORE_THROTTLE {
            let entry = c.begin("b1", ip("192.0.2.1")).await.unwrap();
            let _ = c.t.wrong(entry);
        }
        for n in 0..20 {
            // The address is spent; then the browser from a fresh address.
            assert!(c.begin(&format!("b{n}x"), ip("192.0.2.1")).await.is_err());
            assert!(c.begin("b1", ip(&format!("198.51.100.{n}"))).await.is_err());
        }
        for n in 0..20 {
            let fresh = per_key(address_key(ip(&format!("198.51.100.{n}"))));
            assert_eq!(c.cells_left(fresh).await, full);
        }
        // Two global cells are left for everyone else, after 40 refusals.
        for n in 0..2 {
            let entry = c
                .begin(&format!("other{n}"), ip(&format!("203.0.113.{n}")))
                .await
                .unwrap();
            let _ = c.t.wrong(entry);
        }
        assert!(c.begin("other", ip("203.0.113.9")).await.is_err());
    }

    #[tokio::test]
    async fn entries_in_flight_hold_their_cells() {
        let c = Codes::new(UserCodeThrottle::new());
        let at = ip("192.0.2.1");
        let mut in_flight = Vec::new();
        for n in 0..WRONG_USER_CODES_BEFORE_THROTTLE {
            in_flight.push(c.begin(&format!("b{n}"), at).await.unwrap());
        }
        // Ten guesses from one address are being looked up: an eleventh waits.
        assert!(c.begin("b-late", at).await.is_err());
        for entry in in_flight {
            c.refund(entry).await;
        }
        // All right after all: the budget is whole again, and nothing is kept.
        let purged = c.store.purge_expired(T0, 100).await.unwrap();
        assert_eq!(
            purged.rate_limits,
            2 + WRONG_USER_CODES_BEFORE_THROTTLE as u64
        );
        assert!(c.begin("b-late", at).await.is_ok());
    }

    #[tokio::test]
    async fn the_global_budget_counts_wrong_entries_from_everyone() {
        let c = Codes::new(UserCodeThrottle::with_global(5));
        for n in 0..5 {
            let entry = c
                .begin(&format!("b{n}"), ip(&format!("192.0.2.{n}")))
                .await
                .unwrap();
            if n == 2 {
                // A right entry gives its global cell back.
                c.refund(entry).await;
                let entry = c.begin("again", ip("192.0.2.200")).await.unwrap();
                assert_eq!(c.t.wrong(entry), None);
            } else {
                assert_eq!(c.t.wrong(entry), None);
            }
        }
        let wait = c.begin("new", ip("203.0.113.9")).await.unwrap_err();
        assert!(
            wait >= Duration::from_secs(1) && wait <= Duration::from_secs(12),
            "{wait:?}"
        );
    }

    #[tokio::test]
    async fn a_spent_key_gets_one_entry_back_per_replenish_period() {
        let c = Codes::new(UserCodeThrottle::new());
        let at = ip("192.0.2.1");
        for _ in 0..WRONG_USER_CODES_BEFORE_THROTTLE {
            let entry = c.begin_at("b1", at, T0).await.unwrap();
            let _ = c.t.wrong(entry);
        }
        let replenish = i64::try_from(REPLENISH_SECONDS).unwrap();
        let later = T0 + replenish;
        assert!(c.begin_at("b1", at, later - 1).await.is_err());
        let entry = c.begin_at("b1", at, later).await.unwrap();
        assert!(c.t.wrong(entry).is_some(), "the one entry back locks again");
        assert!(c.begin_at("b1", at, later).await.is_err());
    }

    #[test]
    fn the_global_bucket_allows_its_burst_then_one_cell_per_second() {
        let g = global_key(60);
        let start = millis(T0);
        let mut tat = None;
        for _ in 0..60 {
            tat = Some(g.check(tat, start).unwrap().0);
        }
        assert_eq!(g.check(tat, start), Err(1000));
        let next = g.check(tat, start + 1000).unwrap();
        assert_eq!(next.1, 0, "the cell back is the last one");
        assert_eq!(g.check(Some(next.0), start + 1000), Err(1000));
        let refunded = g.refunded(next.0, start + 1000);
        assert!(g.check(Some(refunded), start + 1000).is_ok());
        assert_eq!(refunded, start + 60_000, "one cell back, not a full bucket");
    }
}
