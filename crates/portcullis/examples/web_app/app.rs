//! The app's state: the provider, the started sign-ins and the sessions.

use super::bounded::Bounded;
use super::config::WebAppConfig;
use super::cookies::CookiePolicy;
use super::oidc_http::OidcHttp;
use super::provider::Provider;
use super::sessions::SessionSlot;
use super::sign_in::PendingLogin;
use super::tokens::Revoker;
use openidconnect::CsrfToken;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The app: the OpenID Connect client, the pending logins and the sessions.
pub struct WebApp {
    pub(super) config: WebAppConfig,
    pub(super) provider: Provider,
    pub(super) http: OidcHttp,
    /// Revokes the refresh tokens of sessions that end.
    pub(super) revoker: Revoker,
    /// Started logins by the id in the login cookie; when full, the oldest goes.
    pub(super) pending: Bounded<Arc<PendingLogin>>,
    /// Signed-in sessions by the id in the session cookie; when full, the least
    /// recently used goes (and its refresh token is revoked).
    pub(super) sessions: Bounded<Arc<SessionSlot>>,
    /// Refresh token grants made, for the tests and the curious.
    pub(super) refreshes: AtomicU64,
    /// `Secure` cookies when the app is served over https.
    pub(super) cookies: CookiePolicy,
}

impl WebApp {
    /// Reads the issuer's discovery document and JWKS (OpenID Connect Discovery 1.0).
    ///
    /// # Errors
    /// The issuer is unreachable, or its metadata or a URL is malformed.
    pub async fn discover(config: WebAppConfig) -> anyhow::Result<Arc<Self>> {
        let http = OidcHttp::new()?;
        let provider = Provider::discover(&config, &http).await?;
        let revoker = Revoker::new(
            http.clone(),
            provider.revocation_endpoint.clone(),
            config.client_id.clone(),
        );
        let evicted = revoker.clone();
        let sessions = Bounded::new(config.limits.max_sessions, move |slot| {
            evicted.retire(vec![slot]);
        });
        Ok(Arc::new(Self {
            pending: Bounded::new(config.limits.max_pending_logins, drop),
            cookies: CookiePolicy {
                secure: config.redirect_uri.starts_with("https://"),
            },
            config,
            provider,
            http,
            revoker,
            sessions,
            refreshes: AtomicU64::new(0),
        }))
    }

    /// How many refresh token grants the app has made.
    pub fn refresh_count(&self) -> u64 {
        self.refreshes.load(Ordering::SeqCst)
    }

    /// How many sessions and started sign-ins the app holds.
    #[cfg(test)]
    pub fn held(&self) -> (usize, usize) {
        (self.sessions.count(), self.pending.count())
    }

    /// Every token the app holds (tests check that none reaches the browser).
    #[cfg(test)]
    pub async fn tokens_held(&self) -> Vec<String> {
        use secrecy::ExposeSecret;
        let mut tokens = Vec::new();
        for slot in self.sessions.values() {
            let session = slot.session.lock().await;
            tokens.push(session.access_token.expose_secret().to_owned());
            tokens.push(session.id_token.expose_secret().to_owned());
            if let Some(refresh) = &session.refresh_token {
                tokens.push(refresh.expose_secret().to_owned());
            }
        }
        tokens
    }

    /// Clock seconds.
    pub(super) fn now(&self) -> i64 {
        self.config.clock.now()
    }
}

/// Whole seconds of `d`, for comparisons with clock times.
pub fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// 256 random bits, base64url: a session or login id.
pub fn random_id() -> String {
    CsrfToken::new_random_len(32).into_secret()
}
