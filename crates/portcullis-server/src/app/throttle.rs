//! Attempt limits, one file per limit: failed logins per account, per address and per
//! device cookie ([`login`]), wrong user codes on the device verification page per browser, per
//! address and globally ([`user_code`], RFC 8628 §5.1), device authorization
//! requests per address ([`device_authorization`]) and pushed authorization requests
//! per address ([`pushed_authorization`]).
//!
//! Every limit counts in GCRA buckets in the database ([`Store::rate_limit_take`],
//! the `rate_limits` table), shared by every node, so a limit holds however the
//! attempts are spread over the nodes; [`bucket`] holds what they share (the refill
//! period after a lock, [`REPLENISH_SECONDS`], and the address key: IPv6 by /64).
//!
//! [`Store::rate_limit_take`]: portcullis_core::store::RateLimitStore::rate_limit_take

pub mod bucket;
pub mod device_authorization;
pub mod login;
pub mod pushed_authorization;
pub mod user_code;

pub use bucket::REPLENISH_SECONDS;
pub use device_authorization::{DEVICE_AUTHORIZATIONS_PER_MINUTE, DeviceAuthorizationThrottle};
pub use login::{
    ADDRESS_FAILURES_BEFORE_THROTTLE, ADDRESS_REPLENISH_SECONDS, AttemptSlot,
    FAILURES_BEFORE_THROTTLE, LoginAttempt, LoginThrottle,
};
pub use pushed_authorization::{PUSHED_AUTHORIZATIONS_PER_MINUTE, PushedAuthorizationThrottle};
pub use user_code::{
    GLOBAL_WRONG_USER_CODES_PER_MINUTE, UserCodeEntry, UserCodeThrottle,
    WRONG_USER_CODES_BEFORE_THROTTLE,
};

/// What the limits' tests share: an address from text and a fixed time.
#[cfg(test)]
mod testing {
    use portcullis_core::UnixTime;
    use std::net::IpAddr;

    pub(super) fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    pub(super) const T0: UnixTime = 1_700_000_000;
}
