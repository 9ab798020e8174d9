//! Users (resource owners) and password hashing with argon2id (RFC 9106).
//!
//! Login (issue 3) verifies off the async workers; here we only hash, which runs
//! when the config or the CLI creates a user.

use crate::UnixTime;
use crate::client::{RecordSource, check_claims};
use crate::store::StoreError;
use argon2::password_hash::PasswordHasher;
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};

/// Minimum password length in characters (NIST SP 800-63B §5.1.1.2).
pub const MIN_PASSWORD_LEN: usize = 8;

/// The form of a username that lookups compare: RFC 8265 §3.4.1 (the
/// `UsernameCaseMapped` profile of the PRECIS `IdentifierClass`), its mapping steps in
/// order: width mapping (§3.4.1 rule 1: fullwidth and halfwidth forms to their
/// decomposition), case mapping (rule 3: Unicode `toLowerCase`, Rust's
/// [`str::to_lowercase`]) and normalization (rule 4: NFC). So `Demo`, `DEMO` and
/// `ｄｅｍｏ` are one account; the username as registered stays the display form
/// (`preferred_username`).
///
/// The `IdentifierClass` repertoire itself is not enforced (usernames registered
/// before stay valid); registration refuses spaces and control characters.
pub fn username_key(username: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let width_mapped: String = username
        .chars()
        .flat_map(|c| {
            let mut out = Vec::with_capacity(1);
            if is_width_form(c) {
                unicode_normalization::char::decompose_compatible(c, |d| out.push(d));
            } else {
                out.push(c);
            }
            out
        })
        .collect();
    width_mapped.to_lowercase().nfc().collect()
}

/// Unicode's `<wide>` and `<narrow>` compatibility forms: the Halfwidth and Fullwidth
/// Forms block and the ideographic space.
fn is_width_form(c: char) -> bool {
    matches!(c, '\u{3000}' | '\u{FF00}'..='\u{FFEF}')
}

/// A user as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Stable subject identifier (`sub`), a UUID v7; never reused.
    pub user_id: String,
    /// Login name as registered (the display form); unique by [`username_key`].
    pub username: String,
    /// argon2id PHC string; never the password.
    pub password_hash: String,
    /// OIDC `email` claim.
    pub email: Option<String>,
    /// OIDC `name` claim.
    pub name: Option<String>,
    /// Extra claims for this user's tokens.
    pub claims: Map<String, Value>,
    /// Config file or admin CLI.
    pub source: RecordSource,
    /// When an administrator disabled the account (seconds since the epoch); `None`
    /// while it is enabled. A disabled user cannot sign in, and their grants
    /// (authorization codes, device codes, refresh tokens) are refused with
    /// `invalid_grant`. Kept by [`UserStore::user_upsert`] (config sync does not
    /// re-enable); changed only by [`UserStore::user_set_disabled`].
    pub disabled_at: Option<UnixTime>,
    /// Seconds since the epoch.
    pub created_at: UnixTime,
    /// Seconds since the epoch.
    pub updated_at: UnixTime,
}

/// The `users` table.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// The user whose username has the same [`username_key`] as `username`, if any.
    async fn user_get_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// The user with this id (`sub`), if any.
    async fn user_get(&self, user_id: &str) -> Result<Option<User>, StoreError>;
    /// Every user, ordered by username.
    async fn user_list(&self) -> Result<Vec<User>, StoreError>;
    /// Inserts a new user. [`StoreError::Conflict`] if a username with the same
    /// [`username_key`] exists.
    async fn user_insert(&self, user: &User) -> Result<(), StoreError>;
    /// Inserts or updates a user by [`username_key`] (the username as given becomes
    /// the display form), keeping its `user_id` and `created_at`.
    /// [`StoreError::Conflict`] if `user.user_id` belongs to another username.
    async fn user_upsert(&self, user: &User) -> Result<(), StoreError>;
    /// Deletes a user by [`username_key`], or by exact username a user whose key
    /// clashes (see [`user_keys_backfill`](Self::user_keys_backfill)); `false` if there
    /// was none.
    async fn user_delete(&self, username: &str) -> Result<bool, StoreError>;
    /// Gives every user stored before usernames had a [`username_key`] its key, and
    /// returns the groups of usernames that share one (each sorted, groups in order):
    /// accounts a case-insensitive lookup cannot tell apart. Those keep no key (so
    /// they cannot sign in) until all but one of each group are deleted; `serve`
    /// refuses to start while any is left, naming them (never a silent merge).
    async fn user_keys_backfill(&self) -> Result<Vec<Vec<String>>, StoreError>;
    /// Deletes users whose source is `config` and whose [`username_key`] is not one of
    /// those of `keep` (a
    /// user removed from the file can no longer sign in; their sessions, consents and
    /// tokens go with them). Returns the deleted usernames, sorted.
    async fn user_delete_config_except(&self, keep: &[String]) -> Result<Vec<String>, StoreError>;
    /// Disables the user `user_id` (`Some(time)`) or enables it (`None`); `false` if
    /// there is no such user.
    async fn user_set_disabled(
        &self,
        user_id: &str,
        disabled_at: Option<UnixTime>,
    ) -> Result<bool, StoreError>;
}

/// A user as an operator describes it, before validation and hashing.
#[derive(Debug, Clone)]
pub struct UserRegistration {
    /// 1–255 characters, no control characters or spaces.
    pub username: String,
    /// At least [`MIN_PASSWORD_LEN`] characters.
    pub password: SecretString,
    /// Optional e-mail address.
    pub email: Option<String>,
    /// Optional display name.
    pub name: Option<String>,
    /// Extra claims; reserved names are refused.
    pub claims: Map<String, Value>,
}

/// Why a user registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("user `{username}`: `{field}` {problem}")]
pub struct UserRegistrationError {
    /// The user being registered.
    pub username: String,
    /// The offending key.
    pub field: &'static str,
    /// What is wrong.
    pub problem: String,
}

impl UserRegistration {
    /// Checks every field without hashing (cheap: for configuration loading).
    ///
    /// # Errors
    /// [`UserRegistrationError`] naming the field.
    pub fn check(&self) -> Result<(), UserRegistrationError> {
        let err = |field, problem: String| UserRegistrationError {
            username: self.username.clone(),
            field,
            problem,
        };
        if self.username.is_empty()
            || self.username.chars().count() > 255
            || self
                .username
                .chars()
                .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(err(
                "username",
                "must be 1 to 255 characters without spaces".into(),
            ));
        }
        let len = self.password.expose_secret().chars().count();
        if len < MIN_PASSWORD_LEN {
            return Err(err(
                "password",
                format!("is {len} characters; it must be at least {MIN_PASSWORD_LEN}"),
            ));
        }
        if let Some(email) = &self.email
            && (!email.contains('@') || email.chars().any(char::is_whitespace))
        {
            return Err(err("email", format!("`{email}` is not an e-mail address")));
        }
        check_claims(&self.claims).map_err(|p| err("claims", p))
    }

    /// Checks, then hashes the password with argon2id (≈ 15 ms, 19 MiB: call it from
    /// a blocking thread in async code).
    ///
    /// # Errors
    /// [`UserRegistrationError`] naming the field.
    pub fn validate(
        self,
        user_id: String,
        source: RecordSource,
        now: UnixTime,
    ) -> Result<User, UserRegistrationError> {
        self.check()?;
        let password_hash =
            hash_password(&self.password).map_err(|problem| UserRegistrationError {
                username: self.username.clone(),
                field: "password",
                problem,
            })?;
        Ok(User {
            user_id,
            username: self.username,
            password_hash,
            email: self.email,
            name: self.name,
            claims: self.claims,
            source,
            created_at: now,
            updated_at: now,
            disabled_at: None,
        })
    }
}

/// Hashes a password with argon2id and the crate's default (RFC 9106 second
/// recommended) parameters; returns the PHC string.
///
/// # Errors
/// A description if the random salt or hashing fails.
pub fn hash_password(password: &SecretString) -> Result<String, String> {
    let mut salt = [0u8; 16];
    crate::secret::random_bytes(&mut salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password_with_salt(password.expose_secret().as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Verifies a password against a PHC string (constant-time inside argon2).
pub fn verify_password(password: &SecretString, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &hash)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(password: &str) -> UserRegistration {
        UserRegistration {
            username: "alice".into(),
            password: SecretString::from(password),
            email: Some("alice@example.com".into()),
            name: Some("Alice".into()),
            claims: Map::new(),
        }
    }

    /// RFC 8265 §3.4.1 mapping: width, case (Unicode, not ASCII only), NFC.
    #[test]
    fn username_key_maps_width_case_and_normalization() {
        for (typed, key) in [
            ("Demo", "demo"),
            ("DEMO", "demo"),
            ("\u{FF24}\u{FF45}\u{FF4D}\u{FF4F}", "demo"),
            ("ÉLODIE", "élodie"),
            ("E\u{301}lodie", "élodie"),
            ("ΣΟΦΙΑ", "σοφια"),
            ("straße", "straße"),
            ("user@example.com", "user@example.com"),
        ] {
            assert_eq!(username_key(typed), key, "{typed}");
            assert_eq!(username_key(key), key, "idempotent: {key}");
        }
        assert_ne!(username_key("demo"), username_key("dem0"));
    }

    #[test]
    fn hashes_with_argon2id_and_verifies() {
        let user = reg("correct horse battery")
            .validate("u1".into(), RecordSource::Admin, 0)
            .unwrap();
        assert!(user.password_hash.starts_with("$argon2id$"));
        assert!(!user.password_hash.contains("correct horse"));
        assert!(verify_password(
            &SecretString::from("correct horse battery"),
            &user.password_hash
        ));
        assert!(!verify_password(
            &SecretString::from("wrong horse battery"),
            &user.password_hash
        ));
    }

    #[test]
    fn rejects_short_passwords_and_bad_emails() {
        assert_eq!(
            reg("short")
                .validate("u".into(), RecordSource::Admin, 0)
                .unwrap_err()
                .field,
            "password"
        );
        let mut r = reg("long enough password");
        r.email = Some("not-an-email".into());
        assert_eq!(
            r.validate("u".into(), RecordSource::Admin, 0)
                .unwrap_err()
                .field,
            "email"
        );
    }
}
