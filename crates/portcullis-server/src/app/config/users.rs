//! The `[[users]]` tables: users registered by configuration, checked at load and
//! upserted at start-up (their passwords are hashed then, not here).

use super::file::FileUser;
use portcullis_core::user::{UserRegistration, username_key};
use std::collections::BTreeSet;

/// Checks each `[[users]]` table into a [`UserRegistration`] (not yet hashed).
///
/// # Errors
/// The first user that is invalid or whose `username` appears twice, named (compared
/// by [`username_key`]: `Demo` and `demo` are the same username, RFC 8265).
pub(super) fn resolve_users(file: Vec<FileUser>) -> Result<Vec<UserRegistration>, String> {
    let mut seen = BTreeSet::new();
    let mut users = Vec::with_capacity(file.len());
    for u in file {
        if !seen.insert(username_key(&u.username)) {
            return Err(format!(
                "[[users]]: username `{}` appears twice (usernames compare without case, RFC 8265)",
                u.username
            ));
        }
        let registration = UserRegistration {
            username: u.username,
            password: u.password,
            email: u.email,
            name: u.name,
            claims: u.claims,
        };
        registration
            .check()
            .map_err(|e| format!("[[users]]: {e}"))?;
        users.push(registration);
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use crate::app::config::tests::{FULL, resolve};

    #[test]
    fn rejects_registered_claim_names() {
        let text = FULL.replace(
            "name = \"Alice Example\"\nclaims = { tenant_id = \"abc-tenant\" }",
            "claims = { exp = 1 }",
        );
        let e = resolve(&text, &[]).unwrap_err();
        assert!(
            e.message.contains("user `alice`: `claims` sets `exp`"),
            "{e}"
        );
    }
}
