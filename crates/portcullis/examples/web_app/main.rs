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
//! This file is the whole flow, one handler per route; the rooms beside it:
//!
//! | module | holds |
//! |---|---|
//! | `sign_in` | `/login` and `/callback`: PKCE, `state`, `nonce`, `iss` (RFC 9700 §4.4) |
//! | `sessions` | the tokens, on the server, under a random id in an `HttpOnly`, `SameSite=Lax` cookie; 8 h absolute, 30 min idle |
//! | `bounded` | the moka LRU map behind sessions and sign-ins: a flood of `/login` pushes out only other unfinished sign-ins |
//! | `tokens` | refresh (RFC 6749 §6, rotation kept) and revocation (RFC 7009) when a session ends |
//! | `provider` | discovery and id_token verification; one refetch of the JWKS after a key rotation |
//! | `orders` | the API call, with one refresh and one retry on a 401 |
//! | `pages`, `cookies` | HTML with strict headers (CSP, `no-referrer`, `no-store`); the cookie attributes |
//! | `config`, `app`, `oidc_http` | what the app is told, its state, and the no-redirect HTTP client |
#![allow(missing_docs)]

mod app;
mod bounded;
mod config;
mod cookies;
mod oidc_http;
mod orders;
mod pages;
mod provider;
mod sessions;
mod sign_in;
mod tokens;

pub use app::WebApp;
pub use config::{DEFAULT_SCOPES, Limits, SESSION_COOKIE, WebAppConfig};

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use clap::Parser;
use config::LOGIN_COOKIE;
use pages::{AppError, orders_page, redirect, signed_out_page};
use portcullis_resource::SystemClock;
use sessions::Lookup;
use sign_in::CallbackParams;
use std::net::SocketAddr;
use std::sync::Arc;

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

/// The routes: `/`, `/login`, `/callback`, `/logout`.
pub fn router(app: Arc<WebApp>) -> Router {
    Router::new()
        .route("/", get(home_get))
        .route("/login", get(login_get))
        .route("/callback", get(callback_get))
        .route("/logout", post(logout_post))
        .with_state(app)
}

/// The user's orders, or an invitation to sign in.
async fn home_get(State(app): State<Arc<WebApp>>, jar: CookieJar) -> Response {
    let session_id = cookies::value(&jar, SESSION_COOKIE);
    let slot = match app.session(session_id.as_deref()) {
        Lookup::Live(slot) => slot,
        Lookup::Ended(slot) => {
            // Timed out: the refresh token is revoked, the cookie cleared.
            app.revoker.revoke(&*slot.session.lock().await).await;
            return session_ended(&app, jar);
        }
        Lookup::Missing if session_id.is_some() => {
            return (app.cookies.clear(jar, SESSION_COOKIE), signed_out_page()).into_response();
        }
        Lookup::Missing => return signed_out_page(),
    };
    let mut session = slot.session.lock().await;
    match app.orders(&mut session).await {
        Ok(orders) => orders_page(&session.display_name, &orders),
        Err(AppError::SessionEnded) => {
            drop(session);
            if let Some(id) = session_id {
                app.end_session(&id).await;
            }
            session_ended(&app, jar)
        }
        Err(e) => e.into_response(),
    }
}

/// Starts a sign-in: its id in a short-lived cookie, the browser sent to the
/// authorization endpoint.
async fn login_get(State(app): State<Arc<WebApp>>, jar: CookieJar) -> Response {
    let (login_id, url) = app.start_login();
    let ttl = app.config.limits.login_ttl;
    (
        app.cookies.set(jar, LOGIN_COOKIE, login_id, ttl),
        redirect(&url),
    )
        .into_response()
}

/// Finishes the sign-in this browser started, and opens its session.
async fn callback_get(
    State(app): State<Arc<WebApp>>,
    jar: CookieJar,
    Query(params): Query<CallbackParams>,
) -> Response {
    let login_id = cookies::value(&jar, LOGIN_COOKIE);
    let jar = app.cookies.clear(jar, LOGIN_COOKIE);
    match app.finish_login(login_id.as_deref(), params).await {
        Ok(session_id) => {
            // The browser's previous session (if any) is replaced: end it rather
            // than leave it in the map, its cookie overwritten.
            if let Some(previous) = cookies::value(&jar, SESSION_COOKIE) {
                app.end_session(&previous).await;
            }
            let max_age = app.config.limits.session_absolute;
            let jar = app.cookies.set(jar, SESSION_COOKIE, session_id, max_age);
            (jar, redirect("/")).into_response()
        }
        Err(e) => (jar, e).into_response(),
    }
}

/// `POST` only: a cross-site link cannot sign the user out (SameSite=Lax cookies are
/// not sent with a cross-site POST).
async fn logout_post(State(app): State<Arc<WebApp>>, jar: CookieJar) -> Response {
    if let Some(id) = cookies::value(&jar, SESSION_COOKIE) {
        app.end_session(&id).await;
    }
    (app.cookies.clear(jar, SESSION_COOKIE), redirect("/")).into_response()
}

/// "Your session has ended", clearing the session cookie.
fn session_ended(app: &WebApp, jar: CookieJar) -> Response {
    (
        app.cookies.clear(jar, SESSION_COOKIE),
        AppError::SessionEnded,
    )
        .into_response()
}
