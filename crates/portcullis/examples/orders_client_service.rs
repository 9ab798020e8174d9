//! A machine client (RFC 6749 §4.4 client credentials) calling the orders API: it gets
//! an access token for `demo-service`, keeps it until shortly before it expires, and
//! calls the API with it; a 401 drops the cached token and retries once.
//!
//! Run, with `portcullis serve --dev` and the `orders_api` example running:
//! `cargo run -p portcullis --example orders_client_service -- --calls 50`
//! It prints how many calls it made and how many tokens it fetched (never a token).
//!
//! The client secret comes from `PORTCULLIS_CLIENT_SECRET`, else from the
//! `service_client_secret` of `./portcullis-data/dev-credentials.json`; never from the
//! command line (other users of the machine can read a process's arguments).
#![allow(missing_docs)]

use anyhow::Context;
use base64::Engine;
use clap::Parser;
use portcullis_resource::{Clock, SystemClock};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Calls the orders API with a cached client credentials token.
#[derive(Debug, Parser)]
struct Args {
    /// The issuer to get tokens from.
    #[arg(
        long,
        env = "PORTCULLIS_ISSUER",
        default_value = "http://127.0.0.1:8080"
    )]
    issuer: String,
    /// This service's client id.
    #[arg(long, default_value = "demo-service")]
    client_id: String,
    /// The orders API's `/orders`.
    #[arg(long, default_value = "http://127.0.0.1:9090/orders")]
    orders_url: String,
    /// How many calls to make (one in five creates an order, the others list them).
    #[arg(long, default_value_t = 20)]
    calls: u32,
    /// Pause between calls, in milliseconds.
    #[arg(long, default_value_t = 0)]
    interval_ms: u64,
    /// Where `serve --dev` keeps the demo credentials (read when
    /// `PORTCULLIS_CLIENT_SECRET` is not set).
    #[arg(long, default_value = "portcullis-data/dev-credentials.json")]
    credentials_file: PathBuf,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orders_client_service: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let secret = client_secret(&args.credentials_file)?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()?;
    let tokens = TokenCache::discover(
        http.clone(),
        &args.issuer,
        &args.client_id,
        secret,
        Some("read:orders write:orders".to_owned()),
        Arc::new(SystemClock),
    )
    .await?;
    let client = OrdersClient::new(http, &args.orders_url, tokens);
    let mut created = 0;
    let mut listed = 0;
    for i in 0..args.calls {
        if i % 5 == 0 {
            client.create_order(&format!("widget {i}"), 1).await?;
            created += 1;
        } else {
            listed = client.list_orders().await?;
        }
        if args.interval_ms > 0 {
            tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
        }
    }
    println!(
        "{} calls to the orders API with {} token(s) fetched ({created} orders created; the last list had {listed})",
        client.calls(),
        client.tokens().fetch_count()
    );
    Ok(())
}

/// The client secret: `PORTCULLIS_CLIENT_SECRET`, else the dev credentials file.
fn client_secret(credentials_file: &std::path::Path) -> anyhow::Result<SecretString> {
    if let Ok(secret) = std::env::var("PORTCULLIS_CLIENT_SECRET") {
        return Ok(SecretString::from(secret));
    }
    #[derive(Deserialize)]
    struct DevCredentials {
        service_client_secret: SecretString,
    }
    let text = std::fs::read_to_string(credentials_file).with_context(|| {
        format!(
            "set PORTCULLIS_CLIENT_SECRET, or run `portcullis serve --dev` here to create {}",
            credentials_file.display()
        )
    })?;
    let credentials: DevCredentials = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a dev credentials file",
            credentials_file.display()
        )
    })?;
    Ok(credentials.service_client_secret)
}

/// A client credentials access token, fetched when needed and reused until shortly
/// before it expires: `min(30 s, 10 % of its lifetime)` before, so a token is never
/// sent in its last seconds (clock skew, request latency) and a short-lived token is
/// still reused.
pub struct TokenCache {
    http: reqwest::Client,
    token_endpoint: String,
    client_id: String,
    client_secret: SecretString,
    scope: Option<String>,
    clock: Arc<dyn Clock>,
    /// One fetch at a time: concurrent callers wait for it instead of each fetching.
    current: tokio::sync::Mutex<Option<CachedToken>>,
    fetches: AtomicU64,
}

struct CachedToken {
    access_token: SecretString,
    /// Fetch a new token from this time on.
    renew_at: i64,
}

impl TokenCache {
    /// A cache for `client_id` at `token_endpoint`.
    pub fn new(
        http: reqwest::Client,
        token_endpoint: &str,
        client_id: &str,
        client_secret: SecretString,
        scope: Option<String>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            http,
            token_endpoint: token_endpoint.to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
            scope,
            clock,
            current: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    /// A cache for `client_id` at the token endpoint named in the issuer's RFC 8414
    /// metadata (whose `issuer` must be `issuer`, RFC 8414 §3.3).
    ///
    /// # Errors
    /// The metadata cannot be fetched or does not match.
    pub async fn discover(
        http: reqwest::Client,
        issuer: &str,
        client_id: &str,
        client_secret: SecretString,
        scope: Option<String>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        #[derive(Deserialize)]
        struct Metadata {
            issuer: String,
            token_endpoint: String,
        }
        let url = format!(
            "{}/.well-known/oauth-authorization-server",
            issuer.trim_end_matches('/')
        );
        let metadata: Metadata = http
            .get(&url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
            .with_context(|| format!("{url}: not authorization server metadata"))?;
        anyhow::ensure!(
            metadata.issuer == issuer,
            "{url} names the issuer {:?}, not {issuer:?}",
            metadata.issuer
        );
        Ok(Self::new(
            http,
            &metadata.token_endpoint,
            client_id,
            client_secret,
            scope,
            clock,
        ))
    }

    /// A token valid for a while yet: the cached one, or a new one.
    ///
    /// # Errors
    /// The token request failed.
    pub async fn access_token(&self) -> anyhow::Result<SecretString> {
        let mut current = self.current.lock().await;
        let now = self.clock.now();
        if let Some(cached) = current.as_ref()
            && now < cached.renew_at
        {
            return Ok(cached.access_token.clone());
        }
        let fetched = self.fetch(now).await?;
        let token = fetched.access_token.clone();
        *current = Some(fetched);
        Ok(token)
    }

    /// Forgets `rejected` (the API refused it), if it is still the cached token: a
    /// late 401 for a token already replaced must not drop its fresh successor.
    pub async fn invalidate(&self, rejected: &SecretString) {
        let mut current = self.current.lock().await;
        if current
            .as_ref()
            .is_some_and(|c| c.access_token.expose_secret() == rejected.expose_secret())
        {
            *current = None;
        }
    }

    /// How many tokens were fetched.
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::SeqCst)
    }

    /// RFC 6749 §4.4.2, authenticated with HTTP Basic (§2.3.1: id and secret
    /// form-urlencoded first).
    async fn fetch(&self, now: i64) -> anyhow::Result<CachedToken> {
        #[derive(Deserialize)]
        struct TokenResponse {
            access_token: SecretString,
            expires_in: Option<i64>,
        }
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &self.scope {
            form.push(("scope", scope));
        }
        let response = self
            .http
            .post(&self.token_endpoint)
            .header(
                reqwest::header::AUTHORIZATION,
                basic_authorization(&self.client_id, &self.client_secret),
            )
            .form(&form)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            // The error body is `{"error", "error_description"}`: no secret in it.
            let body = response.text().await.unwrap_or_default();
            anyhow::bail!("token request refused ({status}): {body}");
        }
        let token: TokenResponse = response.json().await.context("token response")?;
        // RFC 6749 §5.1: expires_in is only RECOMMENDED; without it, assume a minute.
        // Clamped to a day, so a nonsensical value neither overflows nor pins a token.
        let lifetime = token.expires_in.unwrap_or(60).clamp(0, MAX_LIFETIME);
        Ok(CachedToken {
            access_token: token.access_token,
            renew_at: now
                .saturating_add(lifetime)
                .saturating_sub(renewal_margin(lifetime)),
        })
    }
}

/// The longest token lifetime believed (1 day), whatever `expires_in` says.
pub const MAX_LIFETIME: i64 = 86_400;

/// How long before `exp` to fetch a new token: 30 s, or 10 % of the lifetime when that
/// is smaller.
pub fn renewal_margin(lifetime: i64) -> i64 {
    (lifetime / 10).min(30)
}

fn basic_authorization(client_id: &str, secret: &SecretString) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = format!("{}:{}", enc(client_id), enc(secret.expose_secret()));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Calls the orders API with tokens from a [`TokenCache`].
pub struct OrdersClient {
    http: reqwest::Client,
    orders_url: String,
    tokens: TokenCache,
    calls: AtomicU64,
}

impl OrdersClient {
    pub fn new(http: reqwest::Client, orders_url: &str, tokens: TokenCache) -> Self {
        Self {
            http,
            orders_url: orders_url.to_owned(),
            tokens,
            calls: AtomicU64::new(0),
        }
    }

    /// `GET /orders`; returns how many orders there are.
    ///
    /// # Errors
    /// The token request or the API failed.
    pub async fn list_orders(&self) -> anyhow::Result<usize> {
        #[derive(Deserialize)]
        struct OrderList {
            orders: Vec<serde_json::Value>,
        }
        let response = self.send(|http| http.get(&self.orders_url)).await?;
        Ok(response.json::<OrderList>().await?.orders.len())
    }

    /// `POST /orders`; returns the new order's id.
    ///
    /// # Errors
    /// The token request or the API failed.
    pub async fn create_order(&self, item: &str, quantity: u32) -> anyhow::Result<u64> {
        #[derive(Deserialize)]
        struct Created {
            id: u64,
        }
        let body = serde_json::json!({ "item": item, "quantity": quantity });
        let response = self
            .send(|http| http.post(&self.orders_url).json(&body))
            .await?;
        Ok(response.json::<Created>().await?.id)
    }

    /// API calls made (retries included).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// The token cache.
    pub fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    /// Sends with the cached token; on a 401 (the token was revoked, or the clocks
    /// disagree) fetches a new one and retries once.
    async fn send(
        &self,
        request: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::Response> {
        for attempt in 0..2 {
            let token = self.tokens.access_token().await?;
            self.calls.fetch_add(1, Ordering::SeqCst);
            let response = request(&self.http)
                .bearer_auth(token.expose_secret())
                .send()
                .await?;
            if response.status() == reqwest::StatusCode::UNAUTHORIZED && attempt == 0 {
                self.tokens.invalidate(&token).await;
                continue;
            }
            return response
                .error_for_status()
                .map_err(|e| anyhow::anyhow!("orders API: {}", e.without_url()));
        }
        anyhow::bail!("orders API: 401 twice")
    }
}
