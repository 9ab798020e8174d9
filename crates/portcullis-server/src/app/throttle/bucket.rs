//! What the limits share: the refill period after a lock, the address key (IPv6 by
//! /64) and the server clock in milliseconds, as the `rate_limits` buckets count it.

use portcullis_core::store::RateKey;
use portcullis_core::{Store, StoreError, UnixTime};
use std::net::IpAddr;
use std::time::Duration;

/// Once throttled, one attempt is allowed per this many seconds.
pub const REPLENISH_SECONDS: u64 = 60;

/// [`REPLENISH_SECONDS`] in milliseconds (a bucket's refill period per cell).
pub(super) fn replenish_ms() -> i64 {
    i64::try_from(REPLENISH_SECONDS.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// The address key: an IPv4 address, or an IPv6 address by its /64 (which one client
/// usually holds whole; IPv4-mapped addresses count as IPv4).
pub(super) fn address_key(ip: IpAddr) -> String {
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

/// Seconds since the epoch (the server clock) in milliseconds.
pub(super) fn millis(now: UnixTime) -> i64 {
    now.saturating_mul(1000)
}

/// Counts one request of `endpoint` from `ip` at `now` in a bucket of `per_minute`
/// requests a minute (also the burst), shared by every node. `Ok(Err(wait))` (at least
/// a second) when this address has used its budget.
///
/// # Errors
/// The store's: the request was not counted.
pub(super) async fn take_per_address(
    store: &dyn Store,
    endpoint: &str,
    per_minute: u32,
    ip: IpAddr,
    now: UnixTime,
) -> Result<Result<(), Duration>, StoreError> {
    let per_minute = per_minute.max(1);
    let key = RateKey::new(
        format!("{endpoint}:{}", address_key(ip)),
        60_000 / i64::from(per_minute),
        per_minute,
    );
    Ok(store
        .rate_limit_take(&[key], millis(now))
        .await?
        .map(|_| ())
        .map_err(|retry_ms| Duration::from_millis(retry_ms).max(Duration::from_secs(1))))
}

/// Counts one request of `endpoint` from `ip` at `now` in a bucket of `per_hour`
/// requests an hour (also the burst), shared by every node: RFC 7591 registrations
/// ([`crate::app::registration`]). `Ok(Err(wait))` when the budget is used.
///
/// # Errors
/// The store's: the request was not counted.
pub(crate) async fn take_per_hour(
    store: &dyn Store,
    endpoint: &str,
    per_hour: u32,
    ip: IpAddr,
    now: UnixTime,
) -> Result<Result<(), Duration>, StoreError> {
    let per_hour = per_hour.max(1);
    let key = RateKey::new(
        format!("{endpoint}:{}", address_key(ip)),
        3_600_000 / i64::from(per_hour),
        per_hour,
    );
    Ok(store
        .rate_limit_take(&[key], millis(now))
        .await?
        .map(|_| ())
        .map_err(|retry_ms| Duration::from_millis(retry_ms).max(Duration::from_secs(1))))
}
