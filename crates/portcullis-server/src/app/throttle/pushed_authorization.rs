//! [`PushedAuthorizationThrottle`] limits pushed authorization requests (RFC 9126 §2)
//! per address, against resource exhaustion (RFC 9126 §7.4 leaves it to the server),
//! in the same database buckets as the other limits.

use super::bucket::take_per_address;
use portcullis_core::{Store, StoreError, UnixTime};
use std::net::IpAddr;
use std::time::Duration;

/// Pushed authorization requests allowed per minute from one address (IPv6 by /64),
/// also the burst (why: each request stores a row for `par_ttl` seconds, and anyone
/// holding a public client's id can push: issue 16's "an anonymous request must not
/// grow the store without bound").
pub const PUSHED_AUTHORIZATIONS_PER_MINUTE: u32 = 60;

/// Pushed authorization requests per address: [`PUSHED_AUTHORIZATIONS_PER_MINUTE`] a
/// minute in a bucket shared by every node. Every request counts, granted or not (a
/// refused one still costs a client look-up and an authentication).
#[derive(Default)]
pub struct PushedAuthorizationThrottle;

impl PushedAuthorizationThrottle {
    /// Counts a request from `ip` at `now`. `Ok(Err(wait))` (at least a second) when
    /// this address has used its budget.
    ///
    /// # Errors
    /// The store's: the request was not counted.
    pub async fn check(
        &self,
        store: &dyn Store,
        ip: IpAddr,
        now: UnixTime,
    ) -> Result<Result<(), Duration>, StoreError> {
        let per_minute = PUSHED_AUTHORIZATIONS_PER_MINUTE;
        take_per_address(store, "pushed_authorization", per_minute, ip, now).await
    }
}
