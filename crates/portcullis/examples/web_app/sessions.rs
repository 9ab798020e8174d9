//! Signed-in sessions. The tokens live here, on the server, under a random id that
//! the session cookie carries: never in the browser, a URL or a log line (a script
//! injected into a page cannot read them, and no Referer or history entry carries
//! them). A session ends a fixed time after sign-in or after a while without a
//! request; its refresh token is then revoked.

use super::app::{WebApp, random_id, seconds};
use openidconnect::SubjectIdentifier;
use secrecy::SecretString;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// A signed-in user's session: the tokens never leave this struct.
pub struct Session {
    pub(super) subject: SubjectIdentifier,
    pub(super) display_name: String,
    pub(super) access_token: SecretString,
    pub(super) refresh_token: Option<SecretString>,
    pub(super) id_token: SecretString,
}

/// A session in the map, with its times (clock seconds).
pub struct SessionSlot {
    /// One lock per session serializes its requests, so two tabs never spend the
    /// same refresh token (a replayed refresh token revokes the whole family, RFC 9700
    /// §4.14.2).
    pub(super) session: tokio::sync::Mutex<Session>,
    signed_in_at: i64,
    last_used_at: AtomicI64,
}

/// What a session cookie leads to.
pub enum Lookup {
    Live(Arc<SessionSlot>),
    /// Timed out, and now removed.
    Ended(Arc<SessionSlot>),
    Missing,
}

impl WebApp {
    /// Keeps `session` under a new random id, returned. Expired sessions go first;
    /// when the map is still full, the least recently used one.
    pub(super) fn open_session(&self, session: Session) -> String {
        let now = self.now();
        let expired = self.sessions.sweep(now, |slot| self.expired(slot, now));
        self.revoker.retire(expired);
        let session_id = random_id();
        let slot = SessionSlot {
            session: tokio::sync::Mutex::new(session),
            signed_in_at: now,
            last_used_at: AtomicI64::new(now),
        };
        self.sessions.insert(session_id.clone(), Arc::new(slot));
        session_id
    }

    /// The session named by the cookie, marked as used now; an expired one is
    /// removed and answered as ended.
    pub(super) fn session(&self, session_id: Option<&str>) -> Lookup {
        let Some(id) = session_id else {
            return Lookup::Missing;
        };
        let Some(slot) = self.sessions.get(id) else {
            return Lookup::Missing;
        };
        let now = self.now();
        if self.expired(&slot, now) {
            // Of two racing requests, the one that removes it ends it.
            return match self.sessions.remove(id) {
                Some(slot) => Lookup::Ended(slot),
                None => Lookup::Missing,
            };
        }
        slot.last_used_at.store(now, Ordering::Relaxed);
        Lookup::Live(slot)
    }

    /// Ends a session: removes it and revokes its refresh token.
    pub(super) async fn end_session(&self, session_id: &str) {
        if let Some(slot) = self.sessions.remove(session_id) {
            let session = slot.session.lock().await;
            self.revoker.revoke(&session).await;
        }
    }

    /// Whether `slot` is past its absolute or idle lifetime at `now`.
    fn expired(&self, slot: &SessionSlot, now: i64) -> bool {
        let limits = &self.config.limits;
        let last_used_at = slot.last_used_at.load(Ordering::Relaxed);
        now.saturating_sub(slot.signed_in_at) >= seconds(limits.session_absolute)
            || now.saturating_sub(last_used_at) >= seconds(limits.session_idle)
    }
}
