//! A server-side web app (an OpenID Connect relying party) for the demo public client
//! `demo-app`: signs the user in with the authorization code flow (PKCE S256, `state`,
//! `nonce`, RFC 9207 `iss`), keeps the tokens on the server, and lists the user's
//! orders from the orders API (`orders_api` example) with the access token, refreshing
//! it once when the API answers 401.
//!
//! Run, with `portcullis serve --dev` and the `orders_api` example running:
//! `cargo run -p portcullis --example web_app`, then open <http://127.0.0.1:8081/> and
//! sign in as `demo` (the password is `user_password` in
//! `portcullis-data/dev-credentials.json`).
//!
//! - The tokens live in an in-memory session map on the server, keyed by a random
//!   session id in an `HttpOnly`, `SameSite=Lax` cookie: never in the browser, a URL
//!   or a log line (a script injected into a page cannot read them, and no Referer or
//!   history entry carries them).
//! - A session ends 8 h after sign-in or after 30 min without a request (its refresh
//!   token is then revoked); when the map is full the least recently used session
//!   goes. A started sign-in lasts 10 min; when too many are pending the oldest goes,
//!   so a flood of anonymous `/login` requests cannot lock users out.
//! - `state` stops login CSRF, `nonce` id_token replay, PKCE a stolen code, and the
//!   `iss` check a mix-up between two authorization servers (RFC 9700 §4.4).
//! - The `openidconnect` crate verifies the id_token (signature against the JWKS from
//!   discovery, `iss`, `aud`, `exp`, `nonce`). When a signature does not verify (the
//!   server rotated its id_token key since the app read the JWKS), the app refetches
//!   the discovery document and JWKS once and verifies again.
#![allow(missing_docs)]

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clap::Parser;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient,
    CoreClientAuthMethod, CoreGrantType, CoreIdToken, CoreIdTokenClaims, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm, CoreResponseMode,
    CoreResponseType, CoreSubjectIdentifierType, CoreTokenResponse,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthorizationCode, ClaimsVerificationError, ClientId, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, NonceVerifier,
    OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata, RedirectUrl,
    RefreshToken, Scope, SubjectIdentifier, TokenResponse,
};
use portcullis_resource::{Clock, SystemClock};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

/// The demo web app: signs users in with Portcullis and shows their orders.
#[derive(Debug, Parser)]
struct Args {
    /// The issuer (authorization server) to sign in with.
    #[arg(
        long,
        env = "PORTCULLIS_ISSUER",
        default_value = "http://127.0.0.1:8080"
    )]
    issuer: String,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// The public client this app is registered as.
    #[arg(long, default_value = "demo-app")]
    client_id: String,
    /// Its registered redirect URI (this app's `/callback`).
    #[arg(long, default_value = "http://127.0.0.1:8081/callback")]
    redirect_uri: String,
    /// The orders API's list endpoint.
    #[arg(long, default_value = "http://127.0.0.1:9090/orders")]
    orders_url: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("web_app: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let app = WebApp::discover(WebAppConfig {
        issuer: args.issuer,
        client_id: args.client_id,
        redirect_uri: args.redirect_uri,
        orders_url: args.orders_url,
        scopes: DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        clock: Arc::new(SystemClock),
        limits: Limits::default(),
    })
    .await?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!("web app on http://{}/", listener.local_addr()?);
    axum::serve(listener, router(app)).await?;
    Ok(())
}

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
            session_absolute: Duration::from_secs(8 * 3600),
            session_idle: Duration::from_secs(30 * 60),
            max_sessions: 100_000,
            login_ttl: Duration::from_secs(600),
            max_pending_logins: 10_000,
        }
    }
}

/// The app: the OpenID Connect client, the pending logins and the sessions.
pub struct WebApp {
    config: WebAppConfig,
    /// Rebuilt from a fresh discovery document and JWKS when an id_token signature
    /// does not verify (key rotation).
    oidc: RwLock<Arc<OidcClient>>,
    /// When the provider was last refetched (clock seconds); serializes refetches.
    refetched_at: tokio::sync::Mutex<Option<i64>>,
    /// The issuer, as discovery confirmed it.
    issuer: String,
    /// RFC 7009 endpoint, to revoke the refresh token at logout.
    revocation_endpoint: Option<String>,
    /// RFC 9207: the server promises `iss` in authorization responses.
    iss_in_response: bool,
    http: OidcHttp,
    /// Started logins by the id in the login cookie, oldest first.
    pending: Mutex<LruMap<PendingLogin>>,
    /// Signed-in sessions by the id in the session cookie, least recently used
    /// first. One lock per session serializes its requests, so two tabs never spend
    /// the same refresh token (a replayed refresh token revokes the whole family,
    /// RFC 9700 §4.14.2).
    sessions: Mutex<LruMap<SessionSlot>>,
    /// Refresh token grants made, for the tests and the curious.
    refreshes: AtomicU64,
    /// Cookies get `Secure` when the app is served over https.
    secure_cookies: bool,
}

/// The endpoints the app reads from the discovery document.
pub type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

impl WebApp {
    /// Reads the issuer's discovery document and JWKS (OpenID Connect Discovery 1.0).
    ///
    /// # Errors
    /// The issuer is unreachable, or its metadata or a URL is malformed.
    pub async fn discover(config: WebAppConfig) -> anyhow::Result<Arc<Self>> {
        let http = OidcHttp::new()?;
        let (oidc, metadata) = provider(&config, &http).await?;
        let extra = metadata.additional_metadata().clone();
        let issuer = metadata.issuer().as_str().to_owned();
        let secure_cookies = config.redirect_uri.starts_with("https://");
        let pending = LruMap::new(config.limits.max_pending_logins);
        let sessions = LruMap::new(config.limits.max_sessions);
        Ok(Arc::new(Self {
            config,
            oidc: RwLock::new(Arc::new(oidc)),
            refetched_at: tokio::sync::Mutex::new(None),
            issuer,
            revocation_endpoint: extra.revocation_endpoint,
            iss_in_response: extra
                .authorization_response_iss_parameter_supported
                .unwrap_or(false),
            http,
            pending: Mutex::new(pending),
            sessions: Mutex::new(sessions),
            refreshes: AtomicU64::new(0),
            secure_cookies,
        }))
    }

    /// How many refresh token grants the app has made.
    pub fn refresh_count(&self) -> u64 {
        self.refreshes.load(Ordering::SeqCst)
    }

    /// How many sessions and started sign-ins the app holds.
    #[cfg(test)]
    pub fn held(&self) -> (usize, usize) {
        let sessions = self.sessions.lock().map_or(0, |s| s.len());
        let pending = self.pending.lock().map_or(0, |p| p.len());
        (sessions, pending)
    }

    /// Every token the app holds (tests check that none reaches the browser).
    #[cfg(test)]
    pub async fn tokens_held(&self) -> Vec<String> {
        let sessions: Vec<_> = match self.sessions.lock() {
            Ok(map) => map.values().map(|slot| slot.session.clone()).collect(),
            Err(_) => Vec::new(),
        };
        let mut tokens = Vec::new();
        for session in sessions {
            let session = session.lock().await;
            tokens.push(session.access_token.expose_secret().to_owned());
            tokens.push(session.id_token.expose_secret().to_owned());
            if let Some(refresh) = &session.refresh_token {
                tokens.push(refresh.expose_secret().to_owned());
            }
        }
        tokens
    }

    fn now(&self) -> i64 {
        self.config.clock.now()
    }

    /// The current OpenID Connect client (provider metadata and keys).
    fn oidc(&self) -> Arc<OidcClient> {
        self.oidc
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `GET /login`: a fresh `state`, `nonce` and PKCE pair, kept server-side under a
    /// random id in a short-lived cookie; redirects to the authorization endpoint.
    /// Expired sign-ins are dropped first; when the map is still full, the oldest
    /// pending sign-in goes (never refused: a flood of anonymous `/login` requests
    /// only pushes out other unfinished sign-ins).
    fn start_login(&self) -> Result<(String, String), AppError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let oidc = self.oidc();
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
        let login_id = random_id();
        let now = self.now();
        let ttl = seconds(self.config.limits.login_ttl);
        let mut pending = self.pending.lock().map_err(|_| AppError::Internal)?;
        pending.sweep(|p| now.saturating_sub(p.started) >= ttl);
        pending.insert(
            login_id.clone(),
            PendingLogin {
                state,
                nonce,
                verifier,
                started: now,
            },
        );
        Ok((login_id, url.to_string()))
    }

    /// `GET /callback`: checks `state` and `iss`, redeems the code with the PKCE
    /// verifier, verifies the id_token and its nonce, and opens a session.
    async fn finish_login(
        &self,
        login_id: Option<&str>,
        params: CallbackParams,
    ) -> Result<String, AppError> {
        // The pending login is single use, whatever the outcome.
        let pending = login_id.and_then(|id| {
            self.pending
                .lock()
                .ok()
                .and_then(|mut pending| pending.remove(id))
        });
        let Some(pending) = pending else {
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
            Some(iss) if iss != self.issuer.as_str() => {
                return Err(AppError::Login("the response came from another issuer"));
            }
            None if self.iss_in_response => {
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
        let token: CoreTokenResponse = self
            .oidc()
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| AppError::Provider(e.to_string()))?
            .set_pkce_verifier(pending.verifier)
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
        let session = Session {
            subject: claims.subject().clone(),
            display_name: display_name(claims),
            access_token: SecretString::from(token.access_token().secret().clone()),
            refresh_token: token
                .refresh_token()
                .map(|t| SecretString::from(t.secret().clone())),
            id_token: SecretString::from(id_token.to_string()),
        };
        let session_id = random_id();
        let now = self.now();
        let ended = {
            let mut sessions = self.sessions.lock().map_err(|_| AppError::Internal)?;
            // Expired sessions go first; when still full, the least recently used.
            let mut ended = sessions.sweep(|slot| self.expired(slot, now));
            ended.extend(sessions.insert(
                session_id.clone(),
                SessionSlot {
                    session: Arc::new(tokio::sync::Mutex::new(session)),
                    signed_in_at: now,
                    last_used_at: now,
                },
            ));
            ended
        };
        self.retire(ended);
        Ok(session_id)
    }

    /// Whether `slot` is past its absolute or idle lifetime at `now`.
    fn expired(&self, slot: &SessionSlot, now: i64) -> bool {
        let limits = &self.config.limits;
        now.saturating_sub(slot.signed_in_at) >= seconds(limits.session_absolute)
            || now.saturating_sub(slot.last_used_at) >= seconds(limits.session_idle)
    }

    /// The session named by the cookie, marked as used now; an expired one is
    /// removed and answered as ended.
    fn session(&self, session_id: Option<&str>) -> Lookup {
        let Some(id) = session_id else {
            return Lookup::Missing;
        };
        let now = self.now();
        let Ok(mut sessions) = self.sessions.lock() else {
            return Lookup::Missing;
        };
        let expired = match sessions.get(id) {
            Some(slot) => self.expired(slot, now),
            None => return Lookup::Missing,
        };
        if expired {
            return match sessions.remove(id) {
                Some(slot) => Lookup::Ended(slot.session),
                None => Lookup::Missing,
            };
        }
        match sessions.touch(id) {
            Some(slot) => {
                slot.last_used_at = now;
                Lookup::Live(slot.session.clone())
            }
            None => Lookup::Missing,
        }
    }

    fn drop_session(&self, session_id: &str) -> Option<Arc<tokio::sync::Mutex<Session>>> {
        let slot = self.sessions.lock().ok()?.remove(session_id)?;
        Some(slot.session)
    }

    /// Ends a session: removes it and revokes its refresh token.
    async fn end_session(&self, session_id: &str) {
        if let Some(session) = self.drop_session(session_id) {
            let session = session.lock().await;
            self.revoke(&session).await;
        }
    }

    /// Revokes the refresh tokens of sessions that expired or were evicted, in the
    /// background (best effort: the app forgets them either way).
    fn retire(&self, ended: Vec<SessionSlot>) {
        let Some(endpoint) = self.revocation_endpoint.clone() else {
            return;
        };
        if ended.is_empty() {
            return;
        }
        let http = self.http.clone();
        let client_id = self.config.client_id.clone();
        tokio::spawn(async move {
            for slot in ended {
                let session = slot.session.lock().await;
                if let Some(refresh_token) = &session.refresh_token {
                    revoke_refresh_token(&http, &endpoint, &client_id, refresh_token).await;
                }
            }
        });
    }

    /// Verifies an id_token (signature, `iss`, `aud`, `exp`, and `nonce` through
    /// `nonce`). When the signature does not verify, e.g. the server signed with a
    /// key published after the app read the JWKS, refetches the discovery document
    /// and JWKS once and verifies again.
    async fn verify_id_token<'t, N>(
        &self,
        id_token: &'t CoreIdToken,
        nonce: N,
    ) -> Result<&'t CoreIdTokenClaims, String>
    where
        N: NonceVerifier + Copy,
    {
        let oidc = self.oidc();
        let first = match id_token.claims(&oidc.id_token_verifier(), nonce) {
            Ok(claims) => return Ok(claims),
            Err(ClaimsVerificationError::SignatureVerification(e)) => e,
            Err(e) => return Err(e.to_string()),
        };
        let oidc = self
            .refetch_provider(&oidc)
            .await
            .map_err(|e| format!("{first}; refetching the provider's keys failed: {e:#}"))?;
        id_token
            .claims(&oidc.id_token_verifier(), nonce)
            .map_err(|e| e.to_string())
    }

    /// Rediscovers the provider (metadata and JWKS) and replaces the client, unless
    /// another request did so since `used` was read, or the last refetch was less
    /// than [`PROVIDER_REFETCH_COOLDOWN`] ago.
    async fn refetch_provider(&self, used: &Arc<OidcClient>) -> anyhow::Result<Arc<OidcClient>> {
        let mut refetched_at = self.refetched_at.lock().await;
        let current = self.oidc();
        if !Arc::ptr_eq(&current, used) {
            return Ok(current);
        }
        let now = self.now();
        if let Some(at) = *refetched_at
            && now.saturating_sub(at) < seconds(PROVIDER_REFETCH_COOLDOWN)
        {
            anyhow::bail!("the keys were refetched less than {PROVIDER_REFETCH_COOLDOWN:?} ago");
        }
        *refetched_at = Some(now);
        let (oidc, metadata) = provider(&self.config, &self.http).await?;
        anyhow::ensure!(
            metadata.issuer().as_str() == self.issuer,
            "the provider now names another issuer"
        );
        let oidc = Arc::new(oidc);
        *self.oidc.write().unwrap_or_else(PoisonError::into_inner) = oidc.clone();
        Ok(oidc)
    }

    /// The user's orders: one call with the access token; on a 401, one refresh token
    /// grant and one retry.
    async fn orders(&self, session: &mut Session) -> Result<Vec<Order>, AppError> {
        match self.call_orders(&session.access_token).await? {
            OrdersAnswer::Orders(orders) => return Ok(orders),
            OrdersAnswer::Forbidden => return Err(AppError::Forbidden),
            OrdersAnswer::Unauthorized => {}
        }
        self.refresh(session).await?;
        match self.call_orders(&session.access_token).await? {
            OrdersAnswer::Orders(orders) => Ok(orders),
            OrdersAnswer::Forbidden => Err(AppError::Forbidden),
            OrdersAnswer::Unauthorized => Err(AppError::SessionEnded),
        }
    }

    async fn call_orders(&self, access_token: &SecretString) -> Result<OrdersAnswer, AppError> {
        let response = self
            .http
            .0
            .get(&self.config.orders_url)
            .bearer_auth(access_token.expose_secret())
            .send()
            .await
            .map_err(|e| AppError::Api(e.without_url().to_string()))?;
        match response.status() {
            StatusCode::OK => {
                let list: OrderList = response
                    .json()
                    .await
                    .map_err(|e| AppError::Api(e.without_url().to_string()))?;
                Ok(OrdersAnswer::Orders(list.orders))
            }
            StatusCode::UNAUTHORIZED => Ok(OrdersAnswer::Unauthorized),
            StatusCode::FORBIDDEN => Ok(OrdersAnswer::Forbidden),
            other => Err(AppError::Api(format!("the orders API answered {other}"))),
        }
    }

    /// RFC 6749 §6: a new access token (and, with rotation, a new refresh token).
    async fn refresh(&self, session: &mut Session) -> Result<(), AppError> {
        let Some(refresh_token) = &session.refresh_token else {
            return Err(AppError::SessionEnded);
        };
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let refresh_token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let token: CoreTokenResponse = match self
            .oidc()
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
                self.revoke(session).await;
                session.refresh_token = None;
                return Err(AppError::SessionEnded);
            }
            session.id_token = SecretString::from(id_token.to_string());
        }
        Ok(())
    }

    /// RFC 7009: revoke the refresh token (and with it its family) at logout; best
    /// effort, the session is gone either way.
    async fn revoke(&self, session: &Session) {
        if let (Some(endpoint), Some(refresh_token)) =
            (&self.revocation_endpoint, &session.refresh_token)
        {
            revoke_refresh_token(&self.http, endpoint, &self.config.client_id, refresh_token).await;
        }
    }
}

/// RFC 7009 revocation of a refresh token by the public client `client_id`.
async fn revoke_refresh_token(
    http: &OidcHttp,
    endpoint: &str,
    client_id: &str,
    refresh_token: &SecretString,
) {
    let form = [
        ("token", refresh_token.expose_secret()),
        ("token_type_hint", "refresh_token"),
        ("client_id", client_id),
    ];
    match http.0.post(endpoint).form(&form).send().await {
        Ok(response) if response.status().is_success() => {}
        Ok(response) => eprintln!("web_app: revocation answered {}", response.status()),
        Err(e) => eprintln!("web_app: revocation failed: {}", e.without_url()),
    }
}

/// Discovery (OpenID Connect Discovery 1.0, with the JWKS) and the client built on
/// it.
async fn provider(
    config: &WebAppConfig,
    http: &OidcHttp,
) -> anyhow::Result<(OidcClient, Metadata)> {
    let metadata = Metadata::discover_async(IssuerUrl::new(config.issuer.clone())?, http).await?;
    let oidc = CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(config.client_id.clone()),
        None,
    )
    .set_redirect_uri(RedirectUrl::new(config.redirect_uri.clone())?);
    Ok((oidc, metadata))
}

/// The routes: `/`, `/login`, `/callback`, `/logout`.
pub fn router(app: Arc<WebApp>) -> Router {
    Router::new()
        .route("/", get(home_get))
        .route("/login", get(login_get))
        .route("/callback", get(callback_get))
        .route("/logout", post(logout_post))
        .with_state(app)
}

async fn home_get(State(app): State<Arc<WebApp>>, headers: HeaderMap) -> Response {
    let session_id = cookie(&headers, SESSION_COOKIE);
    let session = match app.session(session_id.as_deref()) {
        Lookup::Live(session) => session,
        Lookup::Ended(session) => {
            // Timed out: the refresh token is revoked, the cookie cleared.
            app.revoke(&*session.lock().await).await;
            return session_ended(&app);
        }
        Lookup::Missing => {
            let mut response = page(
                StatusCode::OK,
                "<p>You are not signed in.</p>\n<p><a href=\"/login\">Sign in</a></p>",
            );
            if session_id.is_some() {
                clear_cookie(&mut response, SESSION_COOKIE, app.secure_cookies);
            }
            return response;
        }
    };
    let mut session = session.lock().await;
    match app.orders(&mut session).await {
        Ok(orders) => {
            let mut body = format!(
                "<p>Signed in as <strong>{}</strong>.</p>\n<h2>Your orders</h2>\n",
                escape(&session.display_name)
            );
            if orders.is_empty() {
                body.push_str("<p>No orders yet.</p>\n");
            } else {
                body.push_str("<ul>\n");
                for order in &orders {
                    body.push_str(&format!(
                        "<li>#{} {} &times; {}</li>\n",
                        order.id,
                        order.quantity,
                        escape(&order.item)
                    ));
                }
                body.push_str("</ul>\n");
            }
            body.push_str(LOGOUT_FORM);
            page(StatusCode::OK, &body)
        }
        Err(AppError::SessionEnded) => {
            drop(session);
            if let Some(id) = session_id {
                app.end_session(&id).await;
            }
            session_ended(&app)
        }
        Err(e) => e.into_page(),
    }
}

/// "Your session has ended", clearing the session cookie.
fn session_ended(app: &WebApp) -> Response {
    let mut response = AppError::SessionEnded.into_page();
    clear_cookie(&mut response, SESSION_COOKIE, app.secure_cookies);
    response
}

async fn login_get(State(app): State<Arc<WebApp>>) -> Response {
    match app.start_login() {
        Ok((login_id, url)) => {
            let mut response = redirect(&url);
            set_cookie(
                &mut response,
                LOGIN_COOKIE,
                &login_id,
                Some(app.config.limits.login_ttl),
                app.secure_cookies,
            );
            response
        }
        Err(e) => e.into_page(),
    }
}

async fn callback_get(
    State(app): State<Arc<WebApp>>,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Response {
    let login_id = cookie(&headers, LOGIN_COOKIE);
    let mut response = match app.finish_login(login_id.as_deref(), params).await {
        Ok(session_id) => {
            // The browser's previous session (if any) is replaced: end it rather
            // than leave it in the map, its cookie overwritten.
            if let Some(previous) = cookie(&headers, SESSION_COOKIE) {
                app.end_session(&previous).await;
            }
            let mut response = redirect("/");
            set_cookie(
                &mut response,
                SESSION_COOKIE,
                &session_id,
                Some(app.config.limits.session_absolute),
                app.secure_cookies,
            );
            response
        }
        Err(e) => e.into_page(),
    };
    clear_cookie(&mut response, LOGIN_COOKIE, app.secure_cookies);
    response
}

/// `POST` only: a cross-site link cannot sign the user out (SameSite=Lax cookies are
/// not sent with a cross-site POST).
async fn logout_post(State(app): State<Arc<WebApp>>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        app.end_session(&id).await;
    }
    let mut response = redirect("/");
    clear_cookie(&mut response, SESSION_COOKIE, app.secure_cookies);
    response
}

/// A started login: what the callback must match.
struct PendingLogin {
    state: CsrfToken,
    nonce: Nonce,
    verifier: PkceCodeVerifier,
    /// Clock seconds.
    started: i64,
}

/// A session in the map, with its times (clock seconds).
struct SessionSlot {
    session: Arc<tokio::sync::Mutex<Session>>,
    signed_in_at: i64,
    last_used_at: i64,
}

/// What a session cookie leads to.
enum Lookup {
    Live(Arc<tokio::sync::Mutex<Session>>),
    /// Timed out, and now removed.
    Ended(Arc<tokio::sync::Mutex<Session>>),
    Missing,
}

/// A map bounded in entries, ordered by last use (insertion or [`touch`]): when
/// full, the least recently used entry goes; expired entries are swept from that
/// end. Every operation is O(log n) but the sweep, which stops at the first live
/// entry.
///
/// [`touch`]: LruMap::touch
struct LruMap<V> {
    entries: HashMap<String, (u64, V)>,
    /// Use tick → key, oldest first.
    order: BTreeMap<u64, String>,
    next_tick: u64,
    capacity: usize,
}

impl<V> LruMap<V> {
    fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next_tick: 0,
            capacity: capacity.max(1),
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.values().map(|(_, v)| v)
    }

    fn tick(&mut self) -> u64 {
        let tick = self.next_tick;
        self.next_tick = self.next_tick.saturating_add(1);
        tick
    }

    /// Inserts `value` as the most recent entry; returns what was removed to make
    /// room (a previous value under `key`, then the least recently used entries).
    fn insert(&mut self, key: String, value: V) -> Vec<V> {
        let mut removed: Vec<V> = self.remove(&key).into_iter().collect();
        while self.len() >= self.capacity {
            match self.pop_oldest() {
                Some(old) => removed.push(old),
                None => break,
            }
        }
        let tick = self.tick();
        self.order.insert(tick, key.clone());
        self.entries.insert(key, (tick, value));
        removed
    }

    fn get(&self, key: &str) -> Option<&V> {
        self.entries.get(key).map(|(_, v)| v)
    }

    /// Marks `key` as the most recently used entry.
    fn touch(&mut self, key: &str) -> Option<&mut V> {
        let tick = self.tick();
        let (used, value) = self.entries.get_mut(key)?;
        self.order.remove(used);
        self.order.insert(tick, key.to_owned());
        *used = tick;
        Some(value)
    }

    fn remove(&mut self, key: &str) -> Option<V> {
        let (tick, value) = self.entries.remove(key)?;
        self.order.remove(&tick);
        Some(value)
    }

    fn pop_oldest(&mut self) -> Option<V> {
        let (_, key) = self.order.pop_first()?;
        self.entries.remove(&key).map(|(_, v)| v)
    }

    /// Removes entries from the least recently used end while `expired` holds.
    fn sweep(&mut self, expired: impl Fn(&V) -> bool) -> Vec<V> {
        let mut removed = Vec::new();
        loop {
            let oldest_expired = match self.order.first_key_value() {
                Some((_, key)) => self.entries.get(key).is_none_or(|(_, v)| expired(v)),
                None => false,
            };
            if !oldest_expired {
                return removed;
            }
            removed.extend(self.pop_oldest());
        }
    }
}

/// A signed-in user's session: the tokens never leave this struct.
pub struct Session {
    subject: SubjectIdentifier,
    display_name: String,
    access_token: SecretString,
    refresh_token: Option<SecretString>,
    id_token: SecretString,
}

/// The authorization response (RFC 6749 §4.1.2, RFC 9207).
#[derive(Debug, Deserialize)]
pub struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
}

/// `GET /orders` of the orders API.
#[derive(Debug, Deserialize)]
struct OrderList {
    orders: Vec<Order>,
}

/// One order, as the orders API lists it.
#[derive(Debug, Deserialize)]
struct Order {
    id: u64,
    item: String,
    quantity: u32,
}

enum OrdersAnswer {
    Orders(Vec<Order>),
    Unauthorized,
    Forbidden,
}

/// Why a page could not be shown; the page says little, the log says more (never a
/// token: the errors here carry none).
#[derive(Debug)]
enum AppError {
    /// The callback does not belong to a login this browser started.
    Login(&'static str),
    /// The user (or the server) refused: the `error` of the authorization response.
    Denied(String),
    /// The authorization server failed or answered something unusable.
    Provider(String),
    /// The orders API failed.
    Api(String),
    /// The API refused the token for this operation (403).
    Forbidden,
    /// The tokens no longer work and cannot be refreshed, or the session timed out:
    /// sign in again.
    SessionEnded,
    /// A lock was poisoned.
    Internal,
}

impl AppError {
    fn into_page(self) -> Response {
        match self {
            Self::Login(why) => page(
                StatusCode::BAD_REQUEST,
                &format!(
                    "<p>Sign-in failed: {}.</p>\n<p><a href=\"/login\">Try again</a></p>",
                    escape(why)
                ),
            ),
            Self::Denied(error) => page(
                StatusCode::FORBIDDEN,
                &format!(
                    "<p>Sign-in was not completed ({}).</p>\n<p><a href=\"/\">Home</a></p>",
                    escape(&error)
                ),
            ),
            Self::Provider(detail) => {
                eprintln!("web_app: authorization server: {detail}");
                page(
                    StatusCode::BAD_GATEWAY,
                    "<p>The sign-in service did not answer as expected.</p>",
                )
            }
            Self::Api(detail) => {
                eprintln!("web_app: orders API: {detail}");
                page(
                    StatusCode::BAD_GATEWAY,
                    "<p>The orders service did not answer as expected.</p>",
                )
            }
            Self::Forbidden => page(StatusCode::FORBIDDEN, "<p>You may not see the orders.</p>"),
            Self::SessionEnded => page(
                StatusCode::OK,
                "<p>Your session has ended.</p>\n<p><a href=\"/login\">Sign in again</a></p>",
            ),
            Self::Internal => page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "<p>Something went wrong.</p>",
            ),
        }
    }
}

/// The discovery document with the fields beyond OIDC Discovery that the app reads.
type Metadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// RFC 8414 fields: the revocation endpoint and the RFC 9207 promise.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ExtraMetadata {
    revocation_endpoint: Option<String>,
    authorization_response_iss_parameter_supported: Option<bool>,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

/// The `openidconnect` HTTP client over reqwest 0.13 (the crate's own reqwest feature
/// pulls an older reqwest). It does not follow redirects: the crate's documented guard
/// against SSRF through discovery and token requests.
#[derive(Clone)]
pub struct OidcHttp(reqwest::Client);

impl OidcHttp {
    fn new() -> anyhow::Result<Self> {
        Ok(Self(
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()?,
        ))
    }
}

impl<'c> openidconnect::AsyncHttpClient<'c> for OidcHttp {
    type Error = std::io::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, Self::Error>> + Send + 'c>>;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = self
                .0
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| std::io::Error::other(e.without_url()))?;
            let mut builder = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|e| std::io::Error::other(e.without_url()))?;
            builder.body(bytes.to_vec()).map_err(std::io::Error::other)
        })
    }
}

fn display_name(claims: &CoreIdTokenClaims) -> String {
    claims
        .name()
        .and_then(|name| name.get(None))
        .map(|name| name.as_str().to_owned())
        .or_else(|| claims.preferred_username().map(|u| u.as_str().to_owned()))
        .unwrap_or_else(|| claims.subject().as_str().to_owned())
}

/// Whole seconds of `d`, for comparisons with clock times.
fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// 256 random bits, base64url: a session or login id.
fn random_id() -> String {
    CsrfToken::new_random_len(32).into_secret()
}

/// The value of cookie `name` in the request.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, v)| *n == name && !v.is_empty())
        .map(|(_, v)| v.to_owned())
}

/// `HttpOnly` (no script reads it), `SameSite=Lax` (not sent with cross-site POSTs),
/// `Secure` on https.
fn set_cookie(
    response: &mut Response,
    name: &str,
    value: &str,
    max_age: Option<Duration>,
    secure: bool,
) {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(max_age) = max_age {
        cookie.push_str(&format!("; Max-Age={}", max_age.as_secs()));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(SET_COOKIE, value);
    }
}

fn clear_cookie(response: &mut Response, name: &str, secure: bool) {
    set_cookie(response, name, "", Some(Duration::ZERO), secure);
}

fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, value);
    }
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A minimal HTML page; `body` is already escaped.
fn page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Orders</title></head>\n<body>\n<h1>Orders</h1>\n{body}\n</body>\n</html>\n"
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static("default-src 'none'; form-action 'self'; frame-ancestors 'none'"),
    );
    // Why: the callback URL carries the code; no page leaks its URL to another site.
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    response
}

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `openid` signs in, `profile` gives the name, `offline_access` a refresh token
/// (OIDC Core §11), `read:orders` the API.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "offline_access", "read:orders"];
/// The session cookie.
pub const SESSION_COOKIE: &str = "orders_web_session";
/// The cookie of a login in progress.
pub const LOGIN_COOKIE: &str = "orders_web_login";
/// Least time between two refetches of the provider's metadata and keys.
const PROVIDER_REFETCH_COOLDOWN: Duration = Duration::from_secs(10);
const LOGOUT_FORM: &str =
    "<form method=\"post\" action=\"/logout\"><button type=\"submit\">Sign out</button></form>\n";
