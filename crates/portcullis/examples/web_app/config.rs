//! What the app is told: its issuer, client, URLs and scopes, and how long sessions and
//! sign-ins last and how many are kept.

use portcullis_resource::Clock;
use std::sync::Arc;
use std::time::Duration;

/// What the app needs to know; every URL is a parameter (tests use ephemeral ports).
#[derive(Clone)]
pub struct WebAppConfig {
    /// The issuer; its discovery document names every endpoint.
    pub issuer: String,
    /// This app's (public) client id.
    pub client_id: String,
    /// This app's `/callback`, as registered.
    pub redirect_uri: String,
    /// The orders API's `GET /orders`.
    pub orders_url: String,
    /// Scopes to ask for: `openid` to sign in, `offline_access` for a refresh token,
    /// `read:orders` for the API.
    pub scopes: Vec<String>,
    /// The time for session and sign-in expiry (tests step it).
    pub clock: Arc<dyn Clock>,
    /// Session and sign-in lifetimes and bounds.
    pub limits: Limits,
}

/// How long sessions and started sign-ins last, and how many are kept.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A session ends this long after sign-in, used or not (default 8 h); also the
    /// session cookie's `Max-Age`.
    pub session_absolute: Duration,
    /// A session ends after this long without a request (default 30 min).
    pub session_idle: Duration,
    /// Most sessions held; when full, the least recently used one ends (default
    /// 100 000).
    pub max_sessions: usize,
    /// How long a started sign-in may take (default 10 min).
    pub login_ttl: Duration,
    /// Most sign-ins in progress; when full, the oldest one is dropped (default
    /// 10 000).
    pub max_pending_logins: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            session_absolute: DEFAULT_SESSION_ABSOLUTE,
            session_idle: DEFAULT_SESSION_IDLE,
            max_sessions: DEFAULT_MAX_SESSIONS,
            login_ttl: DEFAULT_LOGIN_TTL,
            max_pending_logins: DEFAULT_MAX_PENDING_LOGINS,
        }
    }
}

/// `openid` signs in, `profile` gives the name, `offline_access` a refresh token
/// (OIDC Core §11), `read:orders` the API.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "offline_access", "read:orders"];
/// The session cookie.
pub const SESSION_COOKIE: &str = "orders_web_session";
/// The cookie of a login in progress.
pub const LOGIN_COOKIE: &str = "orders_web_login";

const DEFAULT_SESSION_ABSOLUTE: Duration = Duration::from_secs(8 * 3600);
const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
const DEFAULT_MAX_SESSIONS: usize = 100_000;
const DEFAULT_LOGIN_TTL: Duration = Duration::from_secs(600);
const DEFAULT_MAX_PENDING_LOGINS: usize = 10_000;
