//! Incident response: end what a user, a client or one browser session holds, now.
//!
//! [`revoke`] ends the matching browser sessions, revokes every matching live refresh
//! token family (RFC 9700 §4.14.2), and with each family the access tokens recorded
//! in it: their `jti` goes on the revocation list until `exp`, so introspection
//! (RFC 7662) and UserInfo refuse them at once.
//!
//! What it can know of: an access token's `jti` is stored only when it was issued
//! together with a refresh token (the `family_access_tokens` table: code, device and
//! refresh grants that return a refresh token). Access tokens issued without one (a
//! code grant that returned no refresh token, `client_credentials`) are stored
//! nowhere, so they stay valid until `exp`; `[tokens] access_token_ttl` bounds that.
//! Resource servers that validate JWTs locally accept every revoked access token until
//! its `exp` (docs/operations.md, "Incident response").
//!
//! A browser session records no client: the families issued in a session are those
//! of its user with the session's `auth_time` (a family keeps the `auth_time` of the
//! sign-in that authorized it). [`Revocation::ended_sessions`] names, per ended
//! session, the clients that had tokens in it: what back-channel logout will notify.

use super::AdminError;
use crate::app::audit;
use portcullis_core::session::BrowserSession;
use portcullis_core::tokens::refresh_token::RefreshFamily;
use portcullis_core::{Store, UnixTime};
use std::collections::BTreeSet;

/// Shortest session id prefix [`find_session`] accepts (hex characters).
pub const MIN_SESSION_ID_PREFIX: usize = 8;

/// Whose sessions and tokens to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationSubject {
    /// A user, by username: every session and refresh family of theirs.
    User(String),
    /// A client, by `client_id`: every refresh family issued to it (browser sessions
    /// belong to users, so none end).
    Client(String),
    /// One browser session, by [`session_id`] (or a unique prefix of at least
    /// [`MIN_SESSION_ID_PREFIX`] characters): it, and the families issued in it.
    Session(String),
}

impl RevocationSubject {
    /// `user:…`, `client:…` or `session:…`, for the audit log.
    pub fn describe(&self) -> String {
        match self {
            Self::User(u) => format!("user:{u}"),
            Self::Client(c) => format!("client:{c}"),
            Self::Session(s) => format!("session:{s}"),
        }
    }
}

/// How much one [`revoke`] ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RevocationCounts {
    /// Browser sessions deleted.
    pub sessions: u64,
    /// Live refresh token families revoked.
    pub refresh_families: u64,
    /// Access tokens not yet expired that were recorded in those families (now on the
    /// revocation list until their `exp`).
    pub access_tokens: u64,
    /// Unredeemed authorization codes and approved, unconsumed device codes withdrawn
    /// (no token will come of them).
    pub pending_grants: u64,
}

/// A browser session [`revoke`] ended: the hook for back-channel logout.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EndedSession {
    /// Its [`session_id`].
    pub session_id: String,
    /// The user (`sub`).
    pub user_id: String,
    /// The clients that had refresh token families issued in it, sorted.
    pub client_ids: Vec<String>,
}

/// What [`revoke`] did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Revocation {
    /// The counts.
    #[serde(flatten)]
    pub counts: RevocationCounts,
    /// The sessions it ended (for back-channel logout).
    pub ended_sessions: Vec<EndedSession>,
}

/// A session's id as administrators see it: the lowercase hex of the SHA-256 digest of
/// its cookie (never the cookie itself), 64 characters.
pub fn session_id(session: &BrowserSession) -> String {
    session
        .session_digest
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The live session whose [`session_id`] is `id` or starts with it.
///
/// # Errors
/// [`AdminError::Invalid`] for a prefix shorter than [`MIN_SESSION_ID_PREFIX`] or one
/// that several sessions share; [`AdminError::NotFound`] when none matches.
pub async fn find_session(
    store: &dyn Store,
    id: &str,
    now: UnixTime,
) -> Result<BrowserSession, AdminError> {
    let id = id.trim().to_ascii_lowercase();
    if id.len() < MIN_SESSION_ID_PREFIX {
        return Err(AdminError::Invalid(format!(
            "a session id needs at least {MIN_SESSION_ID_PREFIX} characters"
        )));
    }
    let mut matching = store
        .session_list(None, now)
        .await?
        .into_iter()
        .filter(|s| session_id(s).starts_with(&id));
    match (matching.next(), matching.next()) {
        (Some(session), None) => Ok(session),
        (Some(_), Some(_)) => Err(AdminError::Invalid(format!(
            "several sessions start with `{id}`; give more of the id"
        ))),
        (None, _) => Err(AdminError::NotFound(format!("no live session `{id}`"))),
    }
}

/// Ends what `subject` holds at `now`: its browser sessions, its live refresh token
/// families and the access tokens recorded in them (module docs). With `issued_after`
/// (seconds since the epoch), only sessions created at or after it, and families with
/// a refresh token issued at or after it (a family an attacker refreshed counts), end;
/// older ones are kept. Audited as `tokens_revoked` with `actor`.
///
/// # Errors
/// [`AdminError::NotFound`] for an unknown user, client or session;
/// [`AdminError::Invalid`] for an ambiguous session prefix; the store's.
pub async fn revoke(
    store: &dyn Store,
    subject: &RevocationSubject,
    issued_after: Option<UnixTime>,
    now: UnixTime,
    actor: &str,
) -> Result<Revocation, AdminError> {
    let after = |t: UnixTime| issued_after.is_none_or(|a| t >= a);
    let (sessions, families, withdraw) = match subject {
        RevocationSubject::User(username) => {
            let user = store
                .user_get_by_username(username)
                .await?
                .ok_or_else(|| AdminError::NotFound(format!("no user `{username}`")))?;
            (
                store.session_list(Some(&user.user_id), now).await?,
                store
                    .refresh_family_list(Some(&user.user_id), None, now)
                    .await?,
                (Some(user.user_id), None, None),
            )
        }
        RevocationSubject::Client(client_id) => {
            if store.client_get(client_id).await?.is_none() {
                return Err(AdminError::NotFound(format!("no client `{client_id}`")));
            }
            (
                Vec::new(),
                store
                    .refresh_family_list(None, Some(client_id), now)
                    .await?,
                (None, Some(client_id.clone()), None),
            )
        }
        RevocationSubject::Session(id) => {
            let session = find_session(store, id, now).await?;
            let families = store
                .refresh_family_list(Some(&session.user_id), None, now)
                .await?
                .into_iter()
                .filter(|f| f.auth_time == session.auth_time)
                .collect();
            let grants = (Some(session.user_id.clone()), None, Some(session.auth_time));
            (vec![session], families, grants)
        }
    };
    // What was approved and not yet redeemed goes first, so no new token comes of it
    // while the rest is revoked.
    let (grant_user, grant_client, grant_auth_time) = withdraw;
    let pending_grants = store
        .pending_grants_withdraw(
            grant_user.as_deref(),
            grant_client.as_deref(),
            grant_auth_time,
            issued_after,
        )
        .await?;
    let sessions: Vec<BrowserSession> = sessions
        .into_iter()
        .filter(|s| after(s.created_at))
        .collect();
    let families: Vec<RefreshFamily> = families
        .into_iter()
        .filter(|f| after(f.last_used_at))
        .collect();
    let mut counts = RevocationCounts {
        pending_grants,
        ..RevocationCounts::default()
    };
    let mut ended_sessions = Vec::with_capacity(sessions.len());
    for session in &sessions {
        if store.session_delete(&session.session_digest).await? {
            counts.sessions = counts.sessions.saturating_add(1);
            ended_sessions.push(ended(session, &families));
        }
    }
    for family in &families {
        if store.refresh_family_revoke(&family.family_id, now).await? > 0 {
            counts.refresh_families = counts.refresh_families.saturating_add(1);
            counts.access_tokens = counts
                .access_tokens
                .saturating_add(family.live_access_tokens);
        }
    }
    audit::tokens_revoked(
        actor,
        &subject.describe(),
        issued_after,
        counts.sessions,
        counts.refresh_families,
        counts.access_tokens,
    );
    Ok(Revocation {
        counts,
        ended_sessions,
    })
}

/// `session` as ended, with the clients of the families issued in it.
fn ended(session: &BrowserSession, families: &[RefreshFamily]) -> EndedSession {
    let client_ids: BTreeSet<&str> = families
        .iter()
        .filter(|f| f.user_id == session.user_id && f.auth_time == session.auth_time)
        .map(|f| f.client_id.as_str())
        .collect();
    EndedSession {
        session_id: session_id(session),
        user_id: session.user_id.clone(),
        client_ids: client_ids.into_iter().map(str::to_owned).collect(),
    }
}
