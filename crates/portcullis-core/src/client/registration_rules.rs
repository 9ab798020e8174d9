//! Registration rules for what a client could never use (issue 16): metadata that
//! parses but describes a client no request of it could ever succeed with. Each
//! refusal names the rule, so the operator knows what to change.

use crate::scope::is_oidc_scope;
use portcullis_proto::grant::GrantType;

/// The scope rules of a registration: a client with a user grant (`authorization_code`
/// or the device grant) lists at least one scope, and a client without a user grant
/// lists no OpenID Connect user scope (`openid`, `profile`, `email`, …).
///
/// Why: every authorization and device request must name at least one scope, each among
/// the client's (RFC 6749 §3.3, [`crate::authorization::request::validate`] rule 6), so a
/// user-grant client without scopes can never get a code; and a client credentials
/// token has no user, so the token endpoint refuses user scopes in it (OIDC Core
/// §3.1.2.1: `openid` asks for an ID token about an end-user).
///
/// # Errors
/// The field (`scopes`) and a sentence naming the rule.
pub fn check_scopes(
    grant_types: &[GrantType],
    scopes: &[String],
) -> Result<(), (&'static str, String)> {
    let user_grant = grant_types
        .iter()
        .any(|g| matches!(g, GrantType::AuthorizationCode | GrantType::DeviceCode));
    if user_grant && scopes.is_empty() {
        return Err((
            "scopes",
            "is empty, but every authorization_code or device request must name at least one scope the client may request (RFC 6749 §3.3); list them, e.g. `openid`".into(),
        ));
    }
    if !user_grant && let Some(scope) = scopes.iter().find(|s| is_oidc_scope(s)) {
        return Err((
            "scopes",
            format!(
                "has `{scope}`, a user scope (OpenID Connect Core §3.1.2.1), but grant_types has no user grant (authorization_code or the device grant): client credentials tokens have no user and never carry it; remove it"
            ),
        ));
    }
    Ok(())
}

/// RFC 6749 §3.1.2.2 / RFC 9700 §4.1.3: redirect URIs are compared as exact strings, so
/// a pattern (`https://*.example.com/cb`) would be stored as a literal URI that no
/// browser ever reaches. A `*` anywhere is refused (a literal one can be sent as
/// `%2A`).
///
/// # Errors
/// A sentence saying that wildcards are not supported and what to do.
pub fn check_no_wildcard(uri: &str) -> Result<(), String> {
    if uri.contains('*') {
        return Err(format!(
            "has `{uri}`, which has a `*`: redirect URIs are compared by exact string (RFC 6749 §3.1.2.2, RFC 9700 §4.1.3), wildcards are not supported; register each URI in full"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn rejects_a_user_grant_client_without_scopes() {
        for grant in [GrantType::AuthorizationCode, GrantType::DeviceCode] {
            let (field, problem) = check_scopes(&[grant], &[]).unwrap_err();
            assert_eq!(field, "scopes");
            assert!(problem.contains("at least one scope"), "{problem}");
        }
        assert!(check_scopes(&[GrantType::AuthorizationCode], &owned(&["openid"])).is_ok());
        // A client credentials client may have none: its tokens carry `aud` only.
        assert!(check_scopes(&[GrantType::ClientCredentials], &[]).is_ok());
    }

    #[test]
    fn rejects_openid_on_a_client_without_a_user_grant() {
        let (_, problem) =
            check_scopes(&[GrantType::ClientCredentials], &owned(&["read", "openid"])).unwrap_err();
        assert!(problem.contains("has `openid`, a user scope"), "{problem}");
        assert!(
            check_scopes(
                &[GrantType::ClientCredentials, GrantType::AuthorizationCode],
                &owned(&["openid", "read"])
            )
            .is_ok()
        );
    }

    #[test]
    fn rejects_wildcards_in_redirect_uris() {
        for uri in [
            "https://*.example.com/cb",
            "https://app.example.com/*",
            "https://app.example.com/cb?x=*",
        ] {
            let problem = check_no_wildcard(uri).unwrap_err();
            assert!(problem.contains("wildcards are not supported"), "{problem}");
        }
        assert!(check_no_wildcard("https://app.example.com/cb%2A").is_ok());
    }
}
