//! The `[authorization]` table: server-wide rules of the authorization endpoint.

use super::file::FileAuthorization;
use portcullis_core::client::ClientProfile;

/// `[authorization]` resolved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthorizationSettings {
    /// The profile of a `[[clients]]` entry that names none (default
    /// [`ClientProfile::Default`]; `fapi2` holds every config client to the FAPI 2.0
    /// Security Profile).
    pub default_profile: ClientProfile,
    /// RFC 9126 §5 `require_pushed_authorization_requests`: `/authorize` accepts a
    /// request only as a `request_uri` from the pushed authorization request endpoint,
    /// for every client (default [`DEFAULT_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS`]; a
    /// client can also require it for itself alone, RFC 9126 §6).
    pub require_pushed_authorization_requests: bool,
}

/// Resolves the `[authorization]` table.
///
/// # Errors
/// `authorization.default_profile` that is not `default` or `fapi2`.
pub(super) fn resolve_authorization(
    file: &FileAuthorization,
) -> Result<AuthorizationSettings, String> {
    let default_profile = match file.default_profile.as_deref() {
        None => ClientProfile::Default,
        Some(name) => ClientProfile::parse(name).ok_or_else(|| {
            format!("[authorization]: `default_profile` is `{name}`; use `default` or `fapi2`")
        })?,
    };
    Ok(AuthorizationSettings {
        default_profile,
        require_pushed_authorization_requests: file
            .require_pushed_authorization_requests
            .unwrap_or(DEFAULT_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS),
    })
}

/// Default `authorization.require_pushed_authorization_requests`: off, so clients
/// that do not know PAR keep working; FAPI 2.0 deployments turn it on.
pub const DEFAULT_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS: bool = false;

#[cfg(test)]
mod tests {
    use crate::app::config::tests::resolve;

    #[test]
    fn defaults_to_off_and_reads_the_table() {
        let c = resolve("", &[]).unwrap();
        assert!(!c.authorization.require_pushed_authorization_requests);
        let c = resolve(
            "[authorization]\nrequire_pushed_authorization_requests = true",
            &[],
        )
        .unwrap();
        assert!(c.authorization.require_pushed_authorization_requests);
    }

    #[test]
    fn rejects_an_unknown_key() {
        let e = resolve("[authorization]\nrequire_par = true", &[]).unwrap_err();
        assert!(e.message.contains("require_par"), "{e}");
    }
}
