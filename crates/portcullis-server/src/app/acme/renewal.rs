//! When a certificate is renewed, how often the store is polled, and how long a failed
//! order waits: pure functions of the stored certificate's validity (RFC 8555 leaves
//! the schedule to the client).
//!
//! **The rule.** A certificate is renewed once fewer than `renew_before` remain, where
//! `renew_before` is the smaller of `[tls.acme] renew_before_days` (default 30) and a
//! third of the certificate's lifetime; then up to [`MAX_JITTER_SECONDS`] (4 h, at most
//! a twelfth of the lifetime) earlier. For a 90-day certificate that is 30 days before
//! expiry, up to 4 h sooner; for a 6-day one, 2 days before; for a Pebble test
//! certificate of 60 s, 20 s before. The third keeps a short certificate from counting
//! as due the moment it is issued (30 days before expiry is before its notBefore).
//!
//! **Jitter** (why: so that deployments renewing on the same schedule do not all ask
//! the CA at the same minute) is derived from the certificate's own bytes, so every
//! node of a cluster computes the same moment and knows when the ordering node may be
//! solving a challenge (the others then poll the store for it every second).

use portcullis_core::UnixTime;
use std::time::Duration;

/// The most a renewal is moved earlier at random: 4 hours.
pub const MAX_JITTER_SECONDS: i64 = 4 * 3600;

/// First wait after a failed order; doubles with each failure up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(60);

/// Longest wait after failed orders: 6 hours (Let's Encrypt allows 5 failed
/// validations per hostname an hour: the doubling stays well under it).
pub const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);

/// Longest wait between two reads of the stored certificate when none is due.
pub const MAX_POLL: Duration = Duration::from_secs(60);

/// The most one order may take, then it counts as failed.
pub const ORDER_DEADLINE: Duration = Duration::from_secs(300);

/// Wait between two reads while a renewal is due or no certificate exists yet: the
/// ordering node may be publishing a challenge for this node to answer.
pub const DUE_POLL: Duration = Duration::from_secs(1);

/// The moment the certificate valid from `not_before` to `not_after` is due for
/// renewal (module docs); `seed` (the certificate's bytes) picks the jitter.
pub fn renew_at(
    not_before: UnixTime,
    not_after: UnixTime,
    renew_before_days: u32,
    seed: &[u8],
) -> UnixTime {
    let lifetime = not_after.saturating_sub(not_before).max(0);
    let by_days = i64::from(renew_before_days).saturating_mul(86_400);
    let renew_before = by_days.min(lifetime / 3);
    let jitter_cap = MAX_JITTER_SECONDS.min(lifetime / 12);
    let jitter = if jitter_cap > 0 {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, seed);
        let mut first = [0u8; 8];
        first.copy_from_slice(digest.as_ref().get(..8).unwrap_or(&[0; 8]));
        // `jitter_cap` > 0 and fits u64; the remainder is below it, so fits i64.
        i64::try_from(u64::from_be_bytes(first) % jitter_cap.unsigned_abs()).unwrap_or(0)
    } else {
        0
    };
    not_after
        .saturating_sub(renew_before)
        .saturating_sub(jitter)
}

/// How long to sleep before the next look at the store: [`DUE_POLL`] when due (or
/// nothing is installed), else until the renewal moment, at most a twentieth of the
/// lifetime (so a peer's new certificate is picked up early in its life) and at most
/// [`MAX_POLL`], at least [`DUE_POLL`].
pub fn next_poll(now: UnixTime, validity: Option<(UnixTime, UnixTime, UnixTime)>) -> Duration {
    let Some((not_before, not_after, renew_at)) = validity else {
        return DUE_POLL;
    };
    if now >= renew_at {
        return DUE_POLL;
    }
    let lifetime = not_after.saturating_sub(not_before).max(0);
    let until = renew_at.saturating_sub(now).min(lifetime / 20).max(1);
    Duration::from_secs(until.unsigned_abs())
        .min(MAX_POLL)
        .max(DUE_POLL)
}

/// Wait after the `failures`-th failed order in a row (1 = first): [`FIRST_BACKOFF`]
/// doubled for each earlier failure, at most [`MAX_BACKOFF`].
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(20);
    FIRST_BACKOFF
        .saturating_mul(1_u32 << doublings)
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn a_90_day_certificate_renews_30_days_before_expiry_with_at_most_4_hours_jitter() {
        for seed in [b"a".as_slice(), b"b", b"c", b"d"] {
            let at = renew_at(0, 90 * DAY, 30, seed);
            assert!(at <= 60 * DAY, "{at}");
            assert!(at > 60 * DAY - MAX_JITTER_SECONDS, "{at}");
        }
        assert_ne!(
            renew_at(0, 90 * DAY, 30, b"a"),
            renew_at(0, 90 * DAY, 30, b"b")
        );
        assert_eq!(
            renew_at(0, 90 * DAY, 30, b"a"),
            renew_at(0, 90 * DAY, 30, b"a")
        );
    }

    #[test]
    fn a_short_certificate_renews_when_a_third_of_its_lifetime_remains() {
        let at = renew_at(1000, 1060, 30, b"pebble");
        assert!((1035..=1040).contains(&at), "{at}: 20 s left, jitter ≤ 5 s");
        let six_days = renew_at(0, 6 * DAY, 30, b"x");
        assert!(
            six_days <= 4 * DAY && six_days > 4 * DAY - 12 * 3600,
            "{six_days}"
        );
    }

    #[test]
    fn a_certificate_is_never_due_before_it_is_valid() {
        assert!(renew_at(500, 530, 30, b"x") > 500);
        assert_eq!(
            renew_at(500, 500, 30, b"x"),
            500,
            "zero lifetime: due at once"
        );
    }

    #[test]
    fn polls_every_second_when_due_and_at_most_a_minute_otherwise() {
        assert_eq!(next_poll(0, None), DUE_POLL);
        assert_eq!(next_poll(100, Some((0, 150, 100))), DUE_POLL);
        assert_eq!(next_poll(0, Some((0, 90 * DAY, 60 * DAY))), MAX_POLL);
        assert_eq!(next_poll(0, Some((0, 60, 40))), Duration::from_secs(3));
        assert_eq!(next_poll(39, Some((0, 60, 40))), Duration::from_secs(1));
    }

    #[test]
    fn backoff_doubles_from_a_minute_up_to_six_hours() {
        assert_eq!(backoff(1), Duration::from_secs(60));
        assert_eq!(backoff(2), Duration::from_secs(120));
        assert_eq!(backoff(5), Duration::from_secs(960));
        assert_eq!(backoff(9), Duration::from_secs(15_360));
        assert_eq!(backoff(10), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
