//! The session's tokens at work: the refresh token grant (RFC 6749 §6) when the
//! access token stops working, and revocation (RFC 7009) when the session ends.

use super::app::WebApp;
use super::oidc_http::OidcHttp;
use super::pages::AppError;
use super::sessions::{Session, SessionSlot};
use openidconnect::core::CoreTokenResponse;
use openidconnect::{Nonce, OAuth2TokenResponse, RefreshToken, TokenResponse};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::sync::atomic::Ordering;

impl WebApp {
    /// RFC 6749 §6: a new access token (and, with rotation, a new refresh token).
    pub(super) async fn refresh(&self, session: &mut Session) -> Result<(), AppError> {
        let Some(refresh_token) = &session.refresh_token else {
            return Err(AppError::SessionEnded);
        };
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let refresh_token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let token: CoreTokenResponse = match self
            .provider
            .client()
            .exchange_refresh_token(&refresh_token)
            .map_err(|e| AppError::Provider(e.to_string()))?
            .request_async(&self.http)
            .await
        {
            Ok(token) => token,
            // invalid_grant: expired, revoked, or the user signed out elsewhere.
            Err(openidconnect::RequestTokenError::ServerResponse(_)) => {
                session.refresh_token = None;
                return Err(AppError::SessionEnded);
            }
            Err(e) => return Err(AppError::Provider(e.to_string())),
        };
        // Keep the new tokens before anything else can fail: with rotation the old
        // refresh token was retired the moment the server answered, and spending it
        // again would be reuse, which revokes the whole family (RFC 9700 §4.14.2).
        session.access_token = SecretString::from(token.access_token().secret().clone());
        if let Some(next) = token.refresh_token() {
            session.refresh_token = Some(SecretString::from(next.secret().clone()));
        }
        // OIDC Core §12.2: a new id_token must be about the same user; it has no nonce.
        if let Some(id_token) = token.id_token() {
            let verified = self
                .verify_id_token(id_token, |_: Option<&Nonce>| Ok(()))
                .await
                .and_then(|claims| {
                    if claims.subject() == &session.subject {
                        Ok(())
                    } else {
                        Err("an id_token for another user".to_owned())
                    }
                });
            if let Err(e) = verified {
                // The tokens cannot be trusted: end the session and revoke the new
                // refresh token (and its family) rather than keep it unattended.
                eprintln!("web_app: refreshed id_token: {e}; ending the session");
                self.revoker.revoke(session).await;
                session.refresh_token = None;
                return Err(AppError::SessionEnded);
            }
            session.id_token = SecretString::from(id_token.to_string());
        }
        Ok(())
    }
}

/// RFC 7009 revocation of sessions' refresh tokens (and with each its family) by the
/// public client; best effort, the session is gone either way.
#[derive(Clone)]
pub struct Revoker {
    http: OidcHttp,
    /// The server's revocation endpoint; without one there is nothing to do.
    endpoint: Option<String>,
    client_id: String,
}

impl Revoker {
    /// Revocation at `endpoint` as the public client `client_id`.
    pub fn new(http: OidcHttp, endpoint: Option<String>, client_id: String) -> Self {
        Self {
            http,
            endpoint,
            client_id,
        }
    }

    /// Revokes the session's refresh token, now (logout, timeout seen by a request).
    pub async fn revoke(&self, session: &Session) {
        let (Some(endpoint), Some(refresh_token)) = (&self.endpoint, &session.refresh_token) else {
            return;
        };
        let form = [
            ("token", refresh_token.expose_secret()),
            ("token_type_hint", "refresh_token"),
            ("client_id", self.client_id.as_str()),
        ];
        match self.http.0.post(endpoint).form(&form).send().await {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => eprintln!("web_app: revocation answered {}", response.status()),
            Err(e) => eprintln!("web_app: revocation failed: {}", e.without_url()),
        }
    }

    /// Revokes the refresh tokens of sessions that expired or were evicted, in the
    /// background.
    pub fn retire(&self, ended: Vec<Arc<SessionSlot>>) {
        if ended.is_empty() || self.endpoint.is_none() {
            return;
        }
        // Eviction calls this from inside moka's maintenance, always on a runtime
        // thread; without a runtime there is nowhere to send the requests.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            eprintln!("web_app: no runtime to revoke ended sessions' refresh tokens");
            return;
        };
        let revoker = self.clone();
        runtime.spawn(async move {
            for slot in ended {
                revoker.revoke(&*slot.session.lock().await).await;
            }
        });
    }
}
