//! Administrative changes to users and their browser sessions: set a password (which
//! ends the rest, RFC 9700 §4.14), unlock a throttled account, list and end sessions.

use super::revocation::{self, Revocation, RevocationSubject, session_id};
use super::{AdminError, hash_user};
use crate::app::audit;
use crate::app::throttle::login::LoginThrottle;
use portcullis_core::client::{RecordSource, check_claims};
use portcullis_core::user::{User, UserRegistration};
use portcullis_core::{Store, UnixTime};
use secrecy::SecretString;
use std::collections::BTreeSet;

/// Sets `username`'s password (argon2id; at least
/// [`MIN_PASSWORD_LEN`](portcullis_core::user::MIN_PASSWORD_LEN) characters), then ends
/// every browser session of theirs and revokes every refresh token family with the
/// access tokens recorded in it ([`revocation::revoke`]): RFC 9700 §4.14, a password
/// change ends what the old password gave. Audited as `user_changed`
/// (`password_set`) and `tokens_revoked`, with `actor`.
///
/// # Errors
/// [`AdminError::NotFound`] for an unknown user, [`AdminError::Invalid`] for a password
/// that is too short or a user declared in the configuration file
/// ([`changeable_here`]); the store's.
pub async fn set_password(
    store: &dyn Store,
    username: &str,
    password: SecretString,
    now: UnixTime,
    actor: &str,
) -> Result<Revocation, AdminError> {
    let existing = get_user(store, username).await?;
    changeable_here(&existing)?;
    let registration = UserRegistration {
        username: existing.username.clone(),
        password,
        email: existing.email.clone(),
        name: existing.name.clone(),
        claims: existing.claims.clone(),
    };
    let mut user = hash_user(registration, existing.user_id.clone(), existing.source, now).await?;
    user.created_at = existing.created_at;
    store.user_upsert(&user).await?;
    audit::user_changed(actor, &user.username, "password_set");
    revocation::revoke(
        store,
        &RevocationSubject::User(user.username.clone()),
        None,
        now,
        actor,
    )
    .await
}

/// A `[[users]]` entry of the configuration file is changed in the file: start-up
/// writes the file's password and profile back over the store (config as code), so a
/// change made here would silently come undone at the next restart (why: a password
/// reset after a phishing must not bring the old password back with the next deploy).
/// A changed password in the file ends the user's sessions and refresh tokens at
/// start-up, as [`set_password`] does.
///
/// # Errors
/// [`AdminError::Invalid`] naming the file for a configured user.
fn changeable_here(user: &User) -> Result<(), AdminError> {
    if user.source == RecordSource::Config {
        return Err(AdminError::Invalid(format!(
            "user `{}` is declared in the configuration file; change it there and restart (start-up ends their sessions and refresh tokens when the password changes)",
            user.username
        )));
    }
    Ok(())
}

/// Disables `username` (`disabled`) or enables it again. Disabling ends every session
/// of theirs and revokes every refresh token family with its access tokens
/// ([`revocation::revoke`]); from then on sign-in is refused (audit reason
/// `user_disabled`) and their grants fail with `invalid_grant`. Enabling revokes
/// nothing. Audited as `user_changed` (`disabled` / `enabled`).
///
/// # Errors
/// [`AdminError::NotFound`] for an unknown user; the store's.
pub async fn set_disabled(
    store: &dyn Store,
    username: &str,
    disabled: bool,
    now: UnixTime,
    actor: &str,
) -> Result<Revocation, AdminError> {
    let user = get_user(store, username).await?;
    let at = disabled.then_some(user.disabled_at.unwrap_or(now));
    store.user_set_disabled(&user.user_id, at).await?;
    audit::user_changed(
        actor,
        &user.username,
        if disabled { "disabled" } else { "enabled" },
    );
    if !disabled {
        return Ok(Revocation {
            counts: revocation::RevocationCounts::default(),
            ended_sessions: Vec::new(),
        });
    }
    revocation::revoke(
        store,
        &RevocationSubject::User(user.username.clone()),
        None,
        now,
        actor,
    )
    .await
}

/// The profile fields [`update_user`] changes; `None` keeps the stored value, `Some("")`
/// removes an e-mail address or name.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// OIDC `email`.
    pub email: Option<String>,
    /// OIDC `name`.
    pub name: Option<String>,
    /// Extra claims (replace the stored ones; reserved names are refused).
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Changes `username`'s profile, checked as registration checks it (an e-mail address
/// with `@` and no spaces; no reserved claim names). The password, sessions and
/// tokens are left alone (tokens issued from now on carry the new claims). Audited as
/// `user_changed` (`updated`).
///
/// # Errors
/// [`AdminError::NotFound`]; [`AdminError::Invalid`] naming the field; the store's.
pub async fn update_user(
    store: &dyn Store,
    username: &str,
    changes: UserChanges,
    now: UnixTime,
    actor: &str,
) -> Result<User, AdminError> {
    let mut user = get_user(store, username).await?;
    changeable_here(&user)?;
    if let Some(email) = changes.email {
        if !email.is_empty() && (!email.contains('@') || email.chars().any(char::is_whitespace)) {
            return Err(AdminError::Invalid(format!(
                "user `{username}`: `email` `{email}` is not an e-mail address"
            )));
        }
        user.email = (!email.is_empty()).then_some(email);
    }
    if let Some(name) = changes.name {
        user.name = (!name.is_empty()).then_some(name);
    }
    if let Some(claims) = changes.claims {
        check_claims(&claims)
            .map_err(|p| AdminError::Invalid(format!("user `{username}`: `claims` {p}")))?;
        user.claims = claims;
    }
    user.updated_at = now;
    store.user_upsert(&user).await?;
    audit::user_changed(actor, &user.username, "updated");
    Ok(user)
}

/// Unlocks `username` after login throttling: its account's failure bucket is full
/// again ([`LoginThrottle::unlock`]). `false` when it was not throttled. Audited as
/// `user_changed` (`unlocked`).
///
/// # Errors
/// [`AdminError::NotFound`] for an unknown user; the store's.
pub async fn unlock(store: &dyn Store, username: &str, actor: &str) -> Result<bool, AdminError> {
    let user = get_user(store, username).await?;
    let cleared = LoginThrottle::unlock(store, &user.username).await?;
    audit::user_changed(actor, &user.username, "unlocked");
    Ok(cleared)
}

/// A live browser session as administrators see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionView {
    /// [`session_id`]: hex SHA-256 of the cookie.
    pub session_id: String,
    /// The user (`sub`).
    pub user_id: String,
    /// Their username (empty if the user is gone).
    pub username: String,
    /// When they entered their password, seconds since the epoch.
    pub auth_time: UnixTime,
    /// Seconds since the epoch.
    pub created_at: UnixTime,
    /// Seconds since the epoch.
    pub expires_at: UnixTime,
    /// The clients holding a live refresh token family issued in it, sorted.
    pub client_ids: Vec<String>,
}

/// The live sessions, of `username` when given, oldest first.
///
/// # Errors
/// [`AdminError::NotFound`] for an unknown user; the store's.
pub async fn list_sessions(
    store: &dyn Store,
    username: Option<&str>,
    now: UnixTime,
) -> Result<Vec<SessionView>, AdminError> {
    let user = match username {
        Some(u) => Some(get_user(store, u).await?),
        None => None,
    };
    let user_id = user.as_ref().map(|u| u.user_id.as_str());
    let sessions = store.session_list(user_id, now).await?;
    let families = store.refresh_family_list(user_id, None, now).await?;
    let mut out = Vec::with_capacity(sessions.len());
    for s in sessions {
        let username = match &user {
            Some(u) => u.username.clone(),
            None => store
                .user_get(&s.user_id)
                .await?
                .map(|u| u.username)
                .unwrap_or_default(),
        };
        let client_ids: BTreeSet<String> = families
            .iter()
            .filter(|f| f.user_id == s.user_id && f.auth_time == s.auth_time)
            .map(|f| f.client_id.clone())
            .collect();
        out.push(SessionView {
            session_id: session_id(&s),
            user_id: s.user_id,
            username,
            auth_time: s.auth_time,
            created_at: s.created_at,
            expires_at: s.expires_at,
            client_ids: client_ids.into_iter().collect(),
        });
    }
    Ok(out)
}

async fn get_user(store: &dyn Store, username: &str) -> Result<User, AdminError> {
    store
        .user_get_by_username(username)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no user `{username}`")))
}
