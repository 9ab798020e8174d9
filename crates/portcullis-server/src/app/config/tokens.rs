//! The `[tokens]` table: how long tokens, codes and sessions live, in seconds, each
//! with its default and its bound.

use super::file::FileTokens;

/// Token lifetimes in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenLifetimes {
    /// Access token lifetime.
    pub access_token_ttl: i64,
    /// Refresh token lifetime.
    pub refresh_token_ttl: i64,
    /// Authorization code lifetime.
    pub authorization_code_ttl: i64,
    /// Device code lifetime.
    pub device_code_ttl: i64,
    /// Seconds a device waits between polls (RFC 8628 §3.2 `interval`).
    pub device_poll_interval: i64,
    /// Browser session lifetime: after it the user logs in again.
    pub session_ttl: i64,
    /// Reuse grace after a refresh token's rotation (0: none).
    pub refresh_token_reuse_grace: i64,
    /// Lifetime of a pushed authorization request's `request_uri` (RFC 9126 §2.2).
    pub par_ttl: i64,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            access_token_ttl: DEFAULT_ACCESS_TOKEN_TTL,
            refresh_token_ttl: DEFAULT_REFRESH_TOKEN_TTL,
            authorization_code_ttl: DEFAULT_AUTHORIZATION_CODE_TTL,
            device_code_ttl: DEFAULT_DEVICE_CODE_TTL,
            device_poll_interval: DEFAULT_DEVICE_POLL_INTERVAL,
            session_ttl: DEFAULT_SESSION_TTL,
            refresh_token_reuse_grace: DEFAULT_REFRESH_TOKEN_REUSE_GRACE,
            par_ttl: DEFAULT_PAR_TTL,
        }
    }
}

/// Resolves `[tokens]`: each lifetime between 1 second and its bound, the reuse grace
/// between 0 and [`MAX_REFRESH_TOKEN_REUSE_GRACE`].
///
/// # Errors
/// The first value out of bounds, naming the key (`tokens.…`) and the bounds.
pub(super) fn resolve_tokens(file: &FileTokens) -> Result<TokenLifetimes, String> {
    let d = TokenLifetimes::default();
    let check = |key: &str, value: Option<i64>, default: i64, max: i64| -> Result<i64, String> {
        match value {
            None => Ok(default),
            Some(v) if v >= 1 && v <= max => Ok(v),
            Some(v) => Err(format!(
                "`tokens.{key}` = {v} must be between 1 and {max} seconds"
            )),
        }
    };
    Ok(TokenLifetimes {
        access_token_ttl: check(
            "access_token_ttl",
            file.access_token_ttl,
            d.access_token_ttl,
            MAX_ACCESS_TOKEN_TTL,
        )?,
        refresh_token_ttl: check(
            "refresh_token_ttl",
            file.refresh_token_ttl,
            d.refresh_token_ttl,
            MAX_REFRESH_TOKEN_TTL,
        )?,
        authorization_code_ttl: check(
            "authorization_code_ttl",
            file.authorization_code_ttl,
            d.authorization_code_ttl,
            MAX_AUTHORIZATION_CODE_TTL,
        )?,
        device_code_ttl: check(
            "device_code_ttl",
            file.device_code_ttl,
            d.device_code_ttl,
            MAX_DEVICE_CODE_TTL,
        )?,
        device_poll_interval: check(
            "device_poll_interval",
            file.device_poll_interval,
            d.device_poll_interval,
            MAX_DEVICE_POLL_INTERVAL,
        )?,
        session_ttl: check(
            "session_ttl",
            file.session_ttl,
            d.session_ttl,
            MAX_SESSION_TTL,
        )?,
        par_ttl: check("par_ttl", file.par_ttl, d.par_ttl, MAX_PAR_TTL)?,
        refresh_token_reuse_grace: match file.refresh_token_reuse_grace {
            None => d.refresh_token_reuse_grace,
            Some(v) if (0..=MAX_REFRESH_TOKEN_REUSE_GRACE).contains(&v) => v,
            Some(v) => {
                return Err(format!(
                    "`tokens.refresh_token_reuse_grace` = {v} must be between 0 and {MAX_REFRESH_TOKEN_REUSE_GRACE} seconds"
                ));
            }
        },
    })
}

/// Default `tokens.access_token_ttl`, in seconds (15 minutes, DESIGN.md "Secrets and
/// tokens"): an access token is a JWT that resource servers accept until it expires
/// without asking us, so its lifetime bounds what a leaked one is worth; refresh
/// tokens keep sessions going meanwhile.
pub const DEFAULT_ACCESS_TOKEN_TTL: i64 = 900;
/// Largest accepted `tokens.access_token_ttl`, in seconds (24 h). A retired signing key
/// rotated by the CLI stays published this long plus a grace.
pub const MAX_ACCESS_TOKEN_TTL: i64 = 86_400;
/// Default `tokens.refresh_token_ttl`, in seconds (30 days): long enough that a user of
/// a regularly used app is not asked to sign in again, short enough that an abandoned
/// token dies (each use rotates it, RFC 9700 §4.14.2, so a live one is fresh anyway).
pub const DEFAULT_REFRESH_TOKEN_TTL: i64 = 2_592_000;
/// Largest accepted `tokens.refresh_token_ttl`, in seconds (365 days).
pub const MAX_REFRESH_TOKEN_TTL: i64 = 31_536_000;
/// Default `tokens.authorization_code_ttl`, in seconds (1 minute): the client redeems a
/// code right after the redirect, and a short life narrows the window for a stolen one
/// (RFC 6749 §4.1.2: "short lived").
pub const DEFAULT_AUTHORIZATION_CODE_TTL: i64 = 60;
/// Largest accepted `tokens.authorization_code_ttl`, in seconds (10 minutes, the most
/// RFC 6749 §4.1.2 recommends).
pub const MAX_AUTHORIZATION_CODE_TTL: i64 = 600;
/// Default `tokens.device_code_ttl`, in seconds (10 minutes, RFC 8628 §3.2
/// `expires_in`): time for a person to find a browser and type the user code; with the
/// user-code attempt limits, docs/security.md bounds the guesses against a live code
/// over this window.
pub const DEFAULT_DEVICE_CODE_TTL: i64 = 600;
/// Largest accepted `tokens.device_code_ttl`, in seconds (1 hour: a longer-lived user
/// code gives guessing more time).
pub const MAX_DEVICE_CODE_TTL: i64 = 3_600;
/// Default `tokens.par_ttl`, in seconds (RFC 9126 §2.2's example: the client sends
/// the browser to `/authorize` right after pushing).
pub const DEFAULT_PAR_TTL: i64 = portcullis_core::authorization::pushed::DEFAULT_PUSHED_REQUEST_TTL;
/// Largest accepted `tokens.par_ttl`, in seconds (10 minutes: a `request_uri` is a
/// reference to a validated request and should be short-lived).
pub const MAX_PAR_TTL: i64 = portcullis_core::authorization::pushed::MAX_PUSHED_REQUEST_TTL;
/// Default `tokens.device_poll_interval`, in seconds: RFC 8628 §3.2's default
/// `interval` (5).
pub const DEFAULT_DEVICE_POLL_INTERVAL: i64 = portcullis_core::device::DEFAULT_POLL_INTERVAL;
/// Largest accepted `tokens.device_poll_interval`, in seconds (a minute: a device that
/// polls more rarely keeps the user waiting after approval).
pub const MAX_DEVICE_POLL_INTERVAL: i64 = 60;
/// Default `tokens.session_ttl`, in seconds (10 hours: a working day of single sign-on
/// before the user logs in again).
pub const DEFAULT_SESSION_TTL: i64 = 36_000;
/// Largest accepted `tokens.session_ttl`, in seconds (30 days).
pub const MAX_SESSION_TTL: i64 = 2_592_000;
/// Default `tokens.refresh_token_reuse_grace`, in seconds: none, so every reuse of a
/// rotated refresh token revokes its family (RFC 9700 §4.14.2).
pub const DEFAULT_REFRESH_TOKEN_REUSE_GRACE: i64 = 0;
/// Largest accepted `tokens.refresh_token_reuse_grace`, in seconds (a minute: enough
/// for a client racing itself; longer gives a thief's replay time without revocation).
pub const MAX_REFRESH_TOKEN_REUSE_GRACE: i64 = 60;

#[cfg(test)]
mod tests {
    use crate::app::config::tests::resolve;

    #[test]
    fn rejects_out_of_range_lifetimes() {
        let e = resolve("[tokens]\naccess_token_ttl = 0", &[]).unwrap_err();
        assert!(e.message.contains("tokens.access_token_ttl"), "{e}");
        let e = resolve("[tokens]\naccess_token_ttl = 86401", &[]).unwrap_err();
        assert!(e.message.contains("between 1 and 86400"), "{e}");
        assert!(resolve("[tokens]\naccess_token_ttl = 86400", &[]).is_ok());
    }

    #[test]
    fn refresh_token_reuse_grace_defaults_to_zero_and_is_bounded() {
        assert_eq!(
            resolve("", &[]).unwrap().tokens.refresh_token_reuse_grace,
            0
        );
        let c = resolve("[tokens]\nrefresh_token_reuse_grace = 5", &[]).unwrap();
        assert_eq!(c.tokens.refresh_token_reuse_grace, 5);
        let e = resolve("[tokens]\nrefresh_token_reuse_grace = 61", &[]).unwrap_err();
        assert!(
            e.message.contains("tokens.refresh_token_reuse_grace"),
            "{e}"
        );
    }

    #[test]
    fn device_poll_interval_defaults_to_five_seconds_and_is_bounded() {
        let c = resolve("", &[]).unwrap();
        assert_eq!(c.tokens.device_poll_interval, 5);
        assert_eq!(c.tokens.device_code_ttl, 600);
        let c = resolve("[tokens]\ndevice_poll_interval = 1", &[]).unwrap();
        assert_eq!(c.tokens.device_poll_interval, 1);
        assert!(resolve("[tokens]\ndevice_poll_interval = 60", &[]).is_ok());
        for bad in [0, 61, -5] {
            let e = resolve(&format!("[tokens]\ndevice_poll_interval = {bad}"), &[]).unwrap_err();
            assert!(e.message.contains("tokens.device_poll_interval"), "{e}");
            assert!(e.message.contains("between 1 and 60"), "{e}");
        }
    }

    #[test]
    fn session_ttl_defaults_to_ten_hours_and_is_bounded() {
        assert_eq!(resolve("", &[]).unwrap().tokens.session_ttl, 36_000);
        let e = resolve("[tokens]\nsession_ttl = 0", &[]).unwrap_err();
        assert!(e.message.contains("tokens.session_ttl"), "{e}");
    }

    #[test]
    fn par_ttl_defaults_to_sixty_seconds_and_is_refused_above_600() {
        assert_eq!(resolve("", &[]).unwrap().tokens.par_ttl, 60);
        let c = resolve("[tokens]\npar_ttl = 600", &[]).unwrap();
        assert_eq!(c.tokens.par_ttl, 600);
        for bad in [0, 601] {
            let e = resolve(&format!("[tokens]\npar_ttl = {bad}"), &[]).unwrap_err();
            assert!(e.message.contains("tokens.par_ttl"), "{e}");
            assert!(e.origin.contains("portcullis.toml"), "{e}");
        }
    }
}
