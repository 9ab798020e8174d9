//! [`DeviceAuthorizationThrottle`] limits device authorization requests (RFC 8628 §3.1)
//! per address, against resource exhaustion, in the same database buckets as the other
//! limits (one transaction per request).

use super::bucket::take_per_address;
use portcullis_core::{Store, StoreError, UnixTime};
use std::net::IpAddr;
use std::time::Duration;

/// Device authorization requests allowed per minute from one address (IPv6 by /64),
/// also the burst (why: each request stores a row and a live user code, and anyone
/// holding a public device client's id can make them: a denial of service on the
/// database and on the user-code space).
pub const DEVICE_AUTHORIZATIONS_PER_MINUTE: u32 = 30;

/// Device authorization requests per address (resource exhaustion):
/// [`DEVICE_AUTHORIZATIONS_PER_MINUTE`] per minute, all at once if need be, in a
/// database bucket shared by every node (one transaction per request). Every request
/// counts, granted or not (why: each granted one stores a row and a user code anyone
/// could type, and a refused one still costs a client look-up).
#[derive(Default)]
pub struct DeviceAuthorizationThrottle;

impl DeviceAuthorizationThrottle {
    /// A throttle with the documented limit.
    pub fn new() -> Self {
        Self
    }

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
        let per_minute = DEVICE_AUTHORIZATIONS_PER_MINUTE;
        take_per_address(store, "device_authorization", per_minute, ip, now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::throttle::login::{FAILURES_BEFORE_THROTTLE, LoginThrottle};
    use crate::app::throttle::testing::{T0, ip};
    use portcullis_core::testing::MemoryStore;

    #[tokio::test]
    async fn device_authorization_is_rate_limited_per_address() {
        let store = MemoryStore::new();
        let t = DeviceAuthorizationThrottle::new();
        let check = |at: &str, now: UnixTime| {
            let (store, t, at) = (&store, &t, ip(at));
            async move { t.check(store, at, now).await.unwrap() }
        };
        for n in 0..DEVICE_AUTHORIZATIONS_PER_MINUTE {
            assert!(check("2001:db8:1:2::1", T0).await.is_ok(), "request {n}");
        }
        // The same /64, another address: refused for about two seconds (60 s / 30).
        let wait = check("2001:db8:1:2::ffff", T0).await.unwrap_err();
        assert!(
            wait >= Duration::from_secs(1) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        assert!(check("192.0.2.1", T0).await.is_ok());
        assert!(check("2001:db8:1:2::1", T0 + 2).await.is_ok());
        // Its own bucket: the address's login bucket is untouched.
        let login = LoginThrottle::new();
        for _ in 0..FAILURES_BEFORE_THROTTLE {
            let attempt = login
                .begin(&store, "x", ip("2001:db8:1:2::1"), None, T0)
                .await
                .unwrap()
                .unwrap();
            let _ = login.failed(attempt);
        }
    }
}
