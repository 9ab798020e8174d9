//! Time is an argument (CONVENTIONS.md §3): the validator reads `now` from an
//! injected [`Clock`], so expiry tests can step over each boundary.

/// The source of the current time for the `exp`, `nbf` and `iat` checks
/// (RFC 7519 §4.1.4–§4.1.6) and for the introspection cache.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> i64;
}

/// The wall clock ([`std::time::SystemTime`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The one place that reads the wall clock (clippy.toml bans it elsewhere).
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> i64 {
        let now = std::time::SystemTime::now();
        match now.duration_since(std::time::UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            // A clock before 1970 is broken; any token then looks "not yet valid".
            Err(_) => 0,
        }
    }
}
