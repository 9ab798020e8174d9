//! RFC 6749 §3.3 scope strings.

use std::collections::BTreeSet;

/// Scopes defined by OpenID Connect Core §5.4 and §11; they describe a user, so they
/// are never granted to a client acting for itself (client credentials).
pub const OIDC_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];

/// Whether `scope` is one of the OpenID Connect user scopes.
pub fn is_oidc_scope(scope: &str) -> bool {
    OIDC_SCOPES.contains(&scope)
}

/// Whether `token` is a valid scope-token: 1*( %x21 / %x23-5B / %x5D-7E ) (RFC 6749 §3.3).
pub fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Splits a space-delimited scope parameter into a set.
///
/// # Errors
/// Returns the first malformed scope-token (RFC 6749 §3.3); empty tokens from
/// doubled spaces are malformed.
pub fn parse_scope(value: &str) -> Result<BTreeSet<String>, String> {
    let mut out = BTreeSet::new();
    for token in value.split(' ') {
        if !is_scope_token(token) {
            return Err(token.to_owned());
        }
        out.insert(token.to_owned());
    }
    Ok(out)
}

/// Joins scopes into the space-delimited wire form; `None` when empty.
pub fn join_scope<'a>(scopes: impl IntoIterator<Item = &'a String>) -> Option<String> {
    let joined = scopes
        .into_iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    (!joined.is_empty()).then_some(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_space_delimited_scopes() {
        let s = parse_scope("read:orders write:orders read:orders").unwrap();
        assert_eq!(
            s.into_iter().collect::<Vec<_>>(),
            ["read:orders", "write:orders"]
        );
    }

    #[test]
    fn rejects_bad_scope_tokens() {
        assert_eq!(parse_scope("a  b").unwrap_err(), "");
        assert_eq!(parse_scope("a \"b\"").unwrap_err(), "\"b\"");
        assert_eq!(parse_scope("a\\b").unwrap_err(), "a\\b");
        assert!(parse_scope("é").is_err());
    }
}
