//! Sign-in with the authorization code flow (RFC 6749 §4.1): PKCE S256 (RFC 7636),
//! `state`, `nonce` (OIDC Core §3.1.2.1) and the RFC 9207 `iss` check.
//!
//! `state` stops login CSRF, `nonce` id_token replay, PKCE a stolen code, and the
//! `iss` check a mix-up between two authorization servers (RFC 9700 §4.4). A started
//! sign-in lasts a few minutes and is single use; when too many are pending the
//! oldest goes, so a flood of anonymous `/login` requests cannot lock users out.

use super::app::{WebApp, random_id, seconds};
use super::pages::AppError;
use super::sessions::Session;
use openidconnect::core::{CoreAuthenticationFlow, CoreIdTokenClaims, CoreTokenResponse};
use openidconnect::{
    AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    Scope, TokenResponse,
};
use secrecy::SecretString;
use serde::Deserialize;
use std::sync::Arc;

/// The authorization response (RFC 6749 §4.1.2, RFC 9207).
#[derive(Debug, Deserialize)]
pub struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

/// A started login: what the callback must match.
pub struct PendingLogin {
    state: CsrfToken,
    nonce: Nonce,
    verifier: PkceCodeVerifier,
    /// Clock seconds.
    started: i64,
}

impl WebApp {
    /// `GET /login`: a fresh `state`, `nonce` and PKCE pair, kept server-side under a
    /// random id (returned, for a short-lived cookie) with the authorization endpoint
    /// URL to redirect to. Expired sign-ins are dropped first; when the map is still
    /// full, the oldest pending sign-in goes (never refused: a flood of anonymous
    /// `/login` requests only pushes out other unfinished sign-ins).
    pub(super) fn start_login(&self) -> (String, String) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let oidc = self.provider.client();
        let mut request = oidc
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.config.scopes {
            if scope != "openid" {
                request = request.add_scope(Scope::new(scope.clone()));
            }
        }
        let (url, state, nonce) = request.url();
        let now = self.now();
        let ttl = seconds(self.config.limits.login_ttl);
        self.pending
            .sweep(now, |p| now.saturating_sub(p.started) >= ttl);
        let login_id = random_id();
        let pending = PendingLogin {
            state,
            nonce,
            verifier,
            started: now,
        };
        self.pending.insert(login_id.clone(), Arc::new(pending));
        (login_id, url.to_string())
    }

    /// `GET /callback`: checks `state` and `iss`, redeems the code with the PKCE
    /// verifier, verifies the id_token and its nonce, and opens a session; returns its
    /// id.
    pub(super) async fn finish_login(
        &self,
        login_id: Option<&str>,
        params: CallbackParams,
    ) -> Result<String, AppError> {
        // The pending login is single use, whatever the outcome.
        let Some(pending) = login_id.and_then(|id| self.pending.remove(id)) else {
            return Err(AppError::Login("no sign-in in progress in this browser"));
        };
        if self.now().saturating_sub(pending.started) >= seconds(self.config.limits.login_ttl) {
            return Err(AppError::Login("the sign-in took too long"));
        }
        // Why: a callback with someone else's code (login CSRF) carries another state.
        if params.state.as_deref() != Some(pending.state.secret().as_str()) {
            return Err(AppError::Login("the sign-in response does not match"));
        }
        // Why (RFC 9207): a response from another server (mix-up attack) names it.
        match params.iss.as_deref() {
            Some(iss) if iss != self.provider.issuer.as_str() => {
                return Err(AppError::Login("the response came from another issuer"));
            }
            None if self.provider.iss_in_response => {
                return Err(AppError::Login("the response does not name its issuer"));
            }
            _ => {}
        }
        if let Some(error) = params.error {
            return Err(AppError::Denied(error));
        }
        let Some(code) = params.code else {
            return Err(AppError::Login("the sign-in response has no code"));
        };
        // The verifier is not `Clone` (one per request); the removed entry is ours.
        let verifier = PkceCodeVerifier::new(pending.verifier.secret().clone());
        let token: CoreTokenResponse = self
            .provider
            .client()
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| AppError::Provider(e.to_string()))?
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| AppError::Provider(e.to_string()))?;
        let Some(id_token) = token.id_token() else {
            return Err(AppError::Provider(
                "no id_token in the token response".into(),
            ));
        };
        let claims = self
            .verify_id_token(id_token, &pending.nonce)
            .await
            .map_err(|e| AppError::Provider(format!("id_token: {e}")))?;
        Ok(self.open_session(Session {
            subject: claims.subject().clone(),
            display_name: display_name(claims),
            access_token: SecretString::from(token.access_token().secret().clone()),
            refresh_token: token
                .refresh_token()
                .map(|t| SecretString::from(t.secret().clone())),
            id_token: SecretString::from(id_token.to_string()),
        }))
    }
}

/// The name to greet: `name`, else `preferred_username`, else the subject.
fn display_name(claims: &CoreIdTokenClaims) -> String {
    claims
        .name()
        .and_then(|name| name.get(None))
        .map(|name| name.as_str().to_owned())
        .or_else(|| claims.preferred_username().map(|u| u.as_str().to_owned()))
        .unwrap_or_else(|| claims.subject().as_str().to_owned())
}
