//! The whole system: the `portcullis-resource` examples (`orders_api`, `web_app`,
//! `orders_client_service`) compiled into this binary and served on `127.0.0.1:0`
//! against a running Portcullis. The orders API's validator, the service's token cache
//! and the server share the test's manual clock, so expiry is stepped, not waited for.

/// The orders API with the test-token kit (no authorization server).
mod kit;
#[allow(dead_code)]
#[path = "../../examples/orders_api.rs"]
mod orders_api;
#[allow(dead_code)]
#[path = "../../examples/orders_client_service.rs"]
mod orders_client_service;
#[allow(dead_code)]
#[path = "../../examples/web_app/main.rs"]
mod web_app;

use crate::flow::{ALICE, ALICE_PASSWORD, Browser, location, user_id};
use crate::support::TestApp;
use orders_api::{NewOrder, Orders};
use orders_client_service::{OrdersClient, TokenCache};
use portcullis_core::clock::ManualClock;
use portcullis_core::keys::SigningAlgorithm;
use portcullis_resource::{KeyStore, KeyStoreOptions, Validator};
use portcullis_server::app::keys::{RotationStart, load_master_key, rotate_signing_keys};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;
use tempfile::TempDir;
use web_app::{Limits, WebApp, WebAppConfig};

/// The machine client of these tests.
const SVC: &str = "orders-svc";
const SVC_SECRET: &str = "orders-svc-secret-0123456789abcdefghij";
/// A public web client; its redirect URI `http://127.0.0.1/callback` is loopback, so
/// the web app's ephemeral port matches it (RFC 8252 §7.3).
const WEB: &str = "orders-web";
/// Another API the machine client may get tokens for.
const BILLING: &str = "https://billing.example.com";

/// The server's configuration; `{AUDIENCE}` is the orders API's resource identifier
/// (its ephemeral address), `{TTL}` the access token lifetime.
const CONFIG: &str = r#"
[tokens]
access_token_ttl = {TTL}

[[users]]
username = "alice"
password = "alice-password-1"
name = "Alice Liddell"

[[clients]]
client_id = "orders-svc"
client_secret = "orders-svc-secret-0123456789abcdefghij"
grant_types = ["client_credentials"]
scopes = ["read:orders", "write:orders"]
audiences = ["{AUDIENCE}", "https://billing.example.com"]

[[clients]]
client_id = "orders-web"
client_name = "Orders web app"
redirect_uris = ["http://127.0.0.1/callback"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "offline_access", "read:orders"]
audiences = ["{AUDIENCE}"]
"#;

/// The server's manual clock, as the resource library's clock.
struct SharedClock(Arc<ManualClock>);

impl portcullis_resource::Clock for SharedClock {
    fn now(&self) -> i64 {
        portcullis_core::Clock::now(self.0.as_ref())
    }
}

/// Portcullis and the orders API example in front of it.
struct System {
    app: TestApp,
    /// `http://127.0.0.1:<port>` of the orders API.
    api: String,
    /// Its resource identifier: `<api>/orders`.
    audience: String,
    orders: Arc<Orders>,
    validator: Validator,
}

impl System {
    async fn start(access_token_ttl: i64) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}", listener.local_addr().unwrap());
        let audience = format!("{api}/orders");
        let toml = CONFIG
            .replace("{AUDIENCE}", &audience)
            .replace("{TTL}", &access_token_ttl.to_string());
        let app = TestApp::start_in(TempDir::new().unwrap(), &toml).await;
        let validator = Validator::builder(&app.base, &audience)
            .keys(KeyStore::remote(&app.base, KeyStoreOptions::default()))
            .clock(Arc::new(SharedClock(app.clock.clone())))
            .build()
            .unwrap();
        let orders = Arc::new(Orders::default());
        let router = orders_api::router(validator.clone(), orders.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            app,
            api,
            audience,
            orders,
            validator,
        }
    }

    /// A client credentials token for `orders-svc` with `extra` parameters.
    async fn svc_token(&self, extra: &[(&str, &str)]) -> String {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        let r = self.app.post_token(&form, Some((SVC, SVC_SECRET))).await;
        assert_eq!(r.status(), 200);
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// `method /orders` with an optional bearer token.
    async fn call(&self, method: &str, token: Option<&str>) -> reqwest::Response {
        let url = format!("{}/orders", self.api);
        let mut request = match method {
            "GET" => self.app.http.get(url),
            _ => self
                .app
                .http
                .post(url)
                .json(&json!({"item": "tea", "quantity": 2})),
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }

    /// The RFC 9728 metadata URL every challenge names.
    fn metadata_url(&self) -> String {
        format!("{}/.well-known/oauth-protected-resource/orders", self.api)
    }

    /// The web app example for `orders-web`, on its own ephemeral port.
    async fn start_web_app(&self) -> (Arc<WebApp>, String) {
        self.start_web_app_with(Limits::default()).await
    }

    /// The web app with these session and sign-in limits, on the server's clock.
    async fn start_web_app_with(&self, limits: Limits) -> (Arc<WebApp>, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let web = WebApp::discover(WebAppConfig {
            issuer: self.app.base.clone(),
            client_id: WEB.into(),
            redirect_uri: format!("{base}/callback"),
            orders_url: format!("{}/orders", self.api),
            scopes: web_app::DEFAULT_SCOPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            clock: Arc::new(SharedClock(self.app.clock.clone())),
            limits,
        })
        .await
        .unwrap();
        let router = web_app::router(web.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (web, base)
    }

    /// `portcullis keys rotate` for `algorithms`, done on the database; the server
    /// re-reads its keys (every 10 s, here at once), then the publication lead passes
    /// and the new keys sign. Returns the new kids.
    async fn rotate_keys(&self, algorithms: &[SigningAlgorithm]) -> Vec<String> {
        let state = self.app.app.state();
        let master = load_master_key(&state.config().master_key, false).unwrap();
        let lead = state.config().keys.publication_lead;
        let rotations = rotate_signing_keys(
            state.store().as_ref(),
            &master,
            portcullis_core::Clock::now(self.app.clock.as_ref()),
            algorithms,
            RotationStart::After(lead),
            state.config().tokens.access_token_ttl,
            "test",
        )
        .await
        .unwrap();
        assert!(self.app.app.refresh_keys().await.unwrap());
        self.app.clock.advance(lead);
        assert!(self.app.app.refresh_keys().await.unwrap(), "promoted");
        rotations.into_iter().map(|r| r.new_kid).collect()
    }

    /// Refresh tokens in the server's database: (live: neither rotated nor revoked,
    /// revoked).
    async fn refresh_tokens(&self) -> (i64, i64) {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&self.app.database_url())
            .await
            .unwrap();
        let counts: (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(rotated_at IS NULL AND revoked_at IS NULL), 0), \
                    COALESCE(SUM(revoked_at IS NOT NULL), 0) FROM refresh_tokens",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
        counts
    }

    /// Waits (up to 5 s) until `revoked` refresh tokens are revoked (the web app revokes
    /// evicted sessions' tokens in the background).
    async fn wait_for_revoked(&self, revoked: i64) {
        for _ in 0..100 {
            if self.refresh_tokens().await.1 >= revoked {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{:?} refresh tokens (live, revoked)",
            self.refresh_tokens().await
        );
    }
}

fn www_authenticate(r: &reqwest::Response) -> String {
    r.headers()["www-authenticate"].to_str().unwrap().to_owned()
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

// --- the orders API -------------------------------------------------------------------

#[tokio::test]
async fn orders_api_accepts_client_credentials_token() {
    let system = System::start(900).await;
    let token = system.svc_token(&[]).await;

    let r = system.call("GET", Some(&token)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"orders": []}));
    let r = system.call("POST", Some(&token)).await;
    assert_eq!(r.status(), 201);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"id": 1, "item": "tea", "quantity": 2})
    );
    let r = system.call("GET", Some(&token)).await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"orders": [{"id": 1, "item": "tea", "quantity": 2}]})
    );
    // Kept by the token's `sub`: the client itself for client credentials.
    assert_eq!(system.orders.list(SVC).len(), 1);
    assert_eq!(system.validator.key_store().fetch_count(), 1, "keys cached");
}

#[tokio::test]
async fn orders_api_rejects_wrong_audience() {
    let system = System::start(900).await;
    let billing = system.svc_token(&[("resource", BILLING)]).await;

    let r = system.call("GET", Some(&billing)).await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        www_authenticate(&r),
        format!(
            "Bearer error=\"invalid_token\", resource_metadata=\"{}\"",
            system.metadata_url()
        )
    );
    assert_eq!(r.text().await.unwrap(), "");
}

#[tokio::test]
async fn orders_api_rejects_missing_scope() {
    let system = System::start(900).await;
    let read_only = system.svc_token(&[("scope", "read:orders")]).await;

    assert_eq!(system.call("GET", Some(&read_only)).await.status(), 200);
    let r = system.call("POST", Some(&read_only)).await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        www_authenticate(&r),
        format!(
            "Bearer error=\"insufficient_scope\", scope=\"write:orders\", resource_metadata=\"{}\"",
            system.metadata_url()
        )
    );
    assert!(system.orders.list(SVC).is_empty(), "nothing created");
}

#[tokio::test]
async fn orders_api_without_token_answers_bare_bearer_challenge() {
    let system = System::start(900).await;
    for method in ["GET", "POST"] {
        let r = system.call(method, None).await;
        assert_eq!(r.status(), 401, "{method}");
        // RFC 6750 §3.1: no error code without bearer authentication; RFC 9728 §5.1
        // adds where to find the metadata.
        assert_eq!(
            www_authenticate(&r),
            format!("Bearer resource_metadata=\"{}\"", system.metadata_url())
        );
    }
    // Another scheme is no bearer authentication either.
    let r = system
        .app
        .http
        .get(format!("{}/orders", system.api))
        .basic_auth(SVC, Some(SVC_SECRET))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(!www_authenticate(&r).contains("error="));
}

#[tokio::test]
async fn orders_api_serves_protected_resource_metadata() {
    let system = System::start(900).await;
    let r = system
        .app
        .http
        .get(system.metadata_url())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({
            "resource": system.audience,
            "authorization_servers": [system.app.base],
            "scopes_supported": ["read:orders", "write:orders"],
            "bearer_methods_supported": ["header"],
            "dpop_signing_alg_values_supported": ["ES256", "PS256", "RS256", "EdDSA"],
            "resource_name": "Demo orders API",
        })
    );
}

#[tokio::test]
async fn rotated_key_validates_after_one_refetch() {
    let system = System::start(900).await;
    let a = system.svc_token(&[]).await;
    system.validator.validate(&a).await.unwrap();
    let keys = system.validator.key_store();
    assert_eq!(keys.fetch_count(), 1);

    let new_kids = system.rotate_keys(&[SigningAlgorithm::Es256]).await;

    let b = system.svc_token(&[]).await;
    assert_eq!(kid(&b), new_kids[0]);
    assert_ne!(kid(&b), kid(&a));
    let validated = system.validator.validate(&b).await.unwrap();
    assert_eq!(validated.subject(), Some(SVC));
    assert_eq!(keys.fetch_count(), 2, "exactly one refetch for the new kid");
    // The retired key is still published, and still held.
    system.validator.validate(&a).await.unwrap();
    assert_eq!(system.call("GET", Some(&b)).await.status(), 200);
    assert_eq!(system.call("GET", Some(&a)).await.status(), 200);
    assert_eq!(keys.fetch_count(), 2);
}

// --- the web app ----------------------------------------------------------------------

/// What the browser saw from the web app: bodies, `Location`s and `Set-Cookie`s.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    /// Records the response's headers and body; returns the body.
    async fn record(&mut self, r: reqwest::Response) -> (reqwest::StatusCode, String) {
        let status = r.status();
        for name in ["location", "set-cookie"] {
            for value in r.headers().get_all(name) {
                self.0.push(value.to_str().unwrap().to_owned());
            }
        }
        let body = r.text().await.unwrap();
        self.0.push(body.clone());
        (status, body)
    }
}

/// The browser signs in to the web app as Alice; returns its session cookie's
/// `Set-Cookie`.
async fn sign_in(browser: &Browser, web: &str, seen: &mut Seen) -> String {
    let r = browser.get(&format!("{web}/login")).await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    seen.record(r).await;
    let authorize = url::Url::parse(&to).unwrap();
    let params: std::collections::HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(params["client_id"], WEB);
    assert_eq!(params["code_challenge_method"], "S256");
    assert!(params.contains_key("state") && params.contains_key("nonce"));
    assert!(params["scope"].contains("offline_access"));

    let r = browser.get(&to).await;
    let (callback, shown) = browser.complete(r, ALICE, ALICE_PASSWORD).await;
    // Login and consent the first time; a browser signed in at the server (or a
    // remembered consent) skips them.
    assert!(shown.first().is_none_or(|p| *p == "login"), "{shown:?}");
    assert!(
        callback.starts_with(&format!("{web}/callback?")),
        "{callback}"
    );

    let r = browser.get(&callback).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/");
    let session_cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{}=", web_app::SESSION_COOKIE)))
        .expect("a session cookie");
    seen.record(r).await;
    session_cookie
}

/// Asserts that no token the web app holds reached the browser.
async fn assert_no_token_seen(web_app: &WebApp, browser: &Browser, seen: &Seen) {
    let tokens = web_app.tokens_held().await;
    assert!(tokens.len() >= 3, "access, refresh and id tokens held");
    let cookies = browser.cookies();
    for token in &tokens {
        assert!(!cookies.contains(token.as_str()), "a token in a cookie");
        for text in &seen.0 {
            assert!(
                !text.contains(token.as_str()),
                "a token sent to the browser"
            );
        }
    }
    for text in seen.0.iter().chain([&cookies]) {
        assert!(!text.contains("eyJ"), "something like a JWT: {text}");
    }
}

#[tokio::test]
async fn web_app_logs_in_and_lists_orders() {
    let system = System::start(900).await;
    let (web_app, web) = system.start_web_app().await;
    let browser = Browser::new(&system.app);
    let mut seen = Seen::default();

    let (status, body) = seen.record(browser.get(&format!("{web}/")).await).await;
    assert_eq!(status, 200);
    assert!(body.contains("href=\"/login\""), "{body}");

    let session_cookie = sign_in(&browser, &web, &mut seen).await;
    assert!(session_cookie.contains("; HttpOnly"), "{session_cookie}");
    // The cookie lasts as long as the session may (8 h after sign-in).
    assert!(
        session_cookie.contains("; Max-Age=28800"),
        "{session_cookie}"
    );
    assert!(
        session_cookie.contains("; SameSite=Lax"),
        "{session_cookie}"
    );

    let alice = user_id(&system.app, ALICE).await;
    for (item, quantity) in [("green tea", 2), ("<script>alert(1)</script>", 1)] {
        let new = NewOrder {
            item: item.into(),
            quantity,
        };
        system.orders.create(&alice, new).unwrap();
    }
    let (status, body) = seen.record(browser.get(&format!("{web}/")).await).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("Signed in as <strong>Alice Liddell</strong>"),
        "{body}"
    );
    assert!(body.contains("<li>#1 2 &times; green tea</li>"), "{body}");
    assert!(
        body.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !body.contains("<script>"),
        "user data is escaped: {body}"
    );
    assert_eq!(web_app.refresh_count(), 0);
    assert_no_token_seen(&web_app, &browser, &seen).await;

    // Logout drops the session (the cookie no longer opens it) and revokes the refresh
    // token (RFC 7009).
    let refresh_token = web_app.tokens_held().await.pop().unwrap();
    let r = browser
        .http
        .post(format!("{web}/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    seen.record(r).await;
    let (_, body) = seen.record(browser.get(&format!("{web}/")).await).await;
    assert!(body.contains("You are not signed in"), "{body}");
    assert!(web_app.tokens_held().await.is_empty());
    let r = system
        .app
        .post_token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &refresh_token),
                ("client_id", WEB),
            ],
            None,
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_grant");
}

#[tokio::test]
async fn web_app_rejects_callback_with_wrong_state() {
    let system = System::start(900).await;
    let (web_app, web) = system.start_web_app().await;
    let browser = Browser::new(&system.app);
    let r = browser.get(&format!("{web}/login")).await;
    let r = browser.get(&location(&r)).await;
    let (callback, _) = browser.complete(r, ALICE, ALICE_PASSWORD).await;
    let mut forged = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" { "forged".into() } else { v };
            (k.into_owned(), v.into_owned())
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(&pairs);

    let r = browser.get(forged.as_str()).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("does not match"));
    // The pending login was single use: the genuine callback no longer works either.
    let r = browser.get(&callback).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("no sign-in in progress"));
    assert!(web_app.tokens_held().await.is_empty(), "no session opened");
}

#[tokio::test]
async fn web_app_refreshes_once_on_401() {
    const TTL: i64 = 120;
    let system = System::start(TTL).await;
    let (web_app, web) = system.start_web_app().await;
    let browser = Browser::new(&system.app);
    let mut seen = Seen::default();
    sign_in(&browser, &web, &mut seen).await;
    let alice = user_id(&system.app, ALICE).await;
    let new = NewOrder {
        item: "green tea".into(),
        quantity: 2,
    };
    system.orders.create(&alice, new).unwrap();
    let (_, body) = seen.record(browser.get(&format!("{web}/")).await).await;
    assert!(body.contains("green tea"), "{body}");
    let before = web_app.tokens_held().await;

    // The access token expires (past the validator's 60 s leeway): the API answers 401.
    system.app.clock.advance(TTL + 61);
    let (status, body) = seen.record(browser.get(&format!("{web}/")).await).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("green tea"), "{body}");
    assert_eq!(web_app.refresh_count(), 1, "one refresh for the one 401");
    let after = web_app.tokens_held().await;
    assert!(
        before.iter().all(|t| !after.contains(t)),
        "new access, refresh (rotated) and id tokens"
    );

    // The new token works: no further refresh.
    let (_, body) = seen.record(browser.get(&format!("{web}/")).await).await;
    assert!(body.contains("green tea"), "{body}");
    assert_eq!(web_app.refresh_count(), 1);
    assert_no_token_seen(&web_app, &browser, &seen).await;
}

/// Alice has one order, `green tea`.
async fn alice_orders_tea(system: &System) {
    let alice = user_id(&system.app, ALICE).await;
    let new = NewOrder {
        item: "green tea".into(),
        quantity: 2,
    };
    system.orders.create(&alice, new).unwrap();
}

/// The web app's home page for `browser`: (status, body).
async fn home(browser: &Browser, web: &str) -> (reqwest::StatusCode, String) {
    let r = browser.get(&format!("{web}/")).await;
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn web_app_refresh_survives_a_signing_key_rotation() {
    const TTL: i64 = 120;
    let system = System::start(TTL).await;
    let (web_app, web) = system.start_web_app().await;
    let browser = Browser::new(&system.app);
    sign_in(&browser, &web, &mut Seen::default()).await;
    alice_orders_tea(&system).await;
    let (_, body) = home(&browser, &web).await;
    assert!(body.contains("green tea"), "{body}");

    // The server rotates its keys (ES256 access tokens, RS256 id_tokens): the app's
    // JWKS, read at start, lacks the key the refreshed id_token is signed with.
    let new_kids = system.rotate_keys(&SigningAlgorithm::ALL).await;
    system.app.clock.advance(TTL + 61);
    let (status, body) = home(&browser, &web).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("green tea"), "{body}");
    assert_eq!(web_app.refresh_count(), 1);
    let held = web_app.tokens_held().await;
    let id_token = &held[1];
    assert!(
        new_kids.contains(&kid(id_token)),
        "the refreshed id_token is signed with a new key"
    );

    // The rotated refresh token was kept: the next refresh works, and no family was
    // revoked.
    system.app.clock.advance(TTL + 61);
    let (status, body) = home(&browser, &web).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("green tea"), "{body}");
    assert_eq!(web_app.refresh_count(), 2);
    assert_eq!(system.refresh_tokens().await, (1, 0), "(live, revoked)");
}

#[tokio::test]
async fn web_app_ends_the_session_when_a_refreshed_id_token_fails_verification() {
    let system = System::start(900).await;
    let (web_app, web) = system.start_web_app().await;
    let browser = Browser::new(&system.app);
    sign_in(&browser, &web, &mut Seen::default()).await;
    alice_orders_tea(&system).await;
    assert!(home(&browser, &web).await.1.contains("green tea"));

    // The server's clock falls two days behind: the API now refuses the access token
    // (issued in its future), and the id_token of the refresh has already expired by
    // the app's clock (refetching keys cannot help).
    let now = portcullis_core::Clock::now(system.app.clock.as_ref());
    system.app.clock.set(now - 2 * 86_400);
    let r = browser.get(&format!("{web}/")).await;
    let cleared = r.headers().get_all("set-cookie").iter().any(|c| {
        let c = c.to_str().unwrap();
        c.starts_with(&format!("{}=;", web_app::SESSION_COOKIE)) && c.contains("Max-Age=0")
    });
    let body = r.text().await.unwrap();
    assert!(body.contains("Your session has ended"), "{body}");
    assert!(cleared, "the session cookie is cleared");
    assert_eq!(web_app.refresh_count(), 1);
    assert_eq!(web_app.held().0, 0, "session dropped");
    // The new refresh token (kept first, then revoked with its family): none live.
    let (live, revoked) = system.refresh_tokens().await;
    assert_eq!(live, 0);
    assert!(revoked >= 1, "{revoked}");
}

#[tokio::test]
async fn web_app_sessions_time_out_idle_and_absolute() {
    let system = System::start(900).await;
    let limits = Limits {
        session_absolute: Duration::from_secs(3600),
        session_idle: Duration::from_secs(1800),
        ..Limits::default()
    };
    let (web_app, web) = system.start_web_app_with(limits).await;
    let browser = Browser::new(&system.app);
    let cookie = sign_in(&browser, &web, &mut Seen::default()).await;
    assert!(cookie.contains("; Max-Age=3600"), "{cookie}");
    alice_orders_tea(&system).await;

    // Used every 29 min: alive until an hour after sign-in, then ended.
    for _ in 0..2 {
        system.app.clock.advance(29 * 60);
        let (status, body) = home(&browser, &web).await;
        assert_eq!(status, 200);
        assert!(body.contains("green tea"), "{body}");
    }
    system.app.clock.advance(3 * 60);
    let (_, body) = home(&browser, &web).await;
    assert!(body.contains("Your session has ended"), "{body}");
    assert_eq!(web_app.held().0, 0);
    assert_eq!(
        system.refresh_tokens().await.0,
        0,
        "its refresh token revoked"
    );
    let (_, body) = home(&browser, &web).await;
    assert!(body.contains("You are not signed in"), "{body}");

    // Idle: 30 min without a request ends it.
    sign_in(&browser, &web, &mut Seen::default()).await;
    system.app.clock.advance(29 * 60);
    assert!(home(&browser, &web).await.1.contains("green tea"));
    system.app.clock.advance(30 * 60);
    let (_, body) = home(&browser, &web).await;
    assert!(body.contains("Your session has ended"), "{body}");
    assert_eq!(system.refresh_tokens().await.0, 0);
}

#[tokio::test]
async fn web_app_evicts_the_least_recently_used_session_when_full() {
    let system = System::start(900).await;
    let limits = Limits {
        max_sessions: 2,
        ..Limits::default()
    };
    let (web_app, web) = system.start_web_app_with(limits).await;
    alice_orders_tea(&system).await;
    let [a, b, c] = [(); 3].map(|()| Browser::new(&system.app));
    sign_in(&a, &web, &mut Seen::default()).await;
    sign_in(&b, &web, &mut Seen::default()).await;
    assert!(home(&a, &web).await.1.contains("green tea"), "a used last");

    // Full: c's sign-in is not refused; b, the least recently used, goes.
    sign_in(&c, &web, &mut Seen::default()).await;
    assert_eq!(web_app.held().0, 2);
    assert!(home(&b, &web).await.1.contains("You are not signed in"));
    for browser in [&a, &c] {
        assert!(home(browser, &web).await.1.contains("green tea"));
    }
    // b's refresh token is revoked (in the background).
    system.wait_for_revoked(1).await;
    assert_eq!(system.refresh_tokens().await.0, 2);
}

#[tokio::test]
async fn web_app_new_sign_in_replaces_the_browsers_session() {
    let system = System::start(900).await;
    let (web_app, web) = system.start_web_app().await;
    let browser = Browser::new(&system.app);
    alice_orders_tea(&system).await;
    sign_in(&browser, &web, &mut Seen::default()).await;
    sign_in(&browser, &web, &mut Seen::default()).await;
    assert_eq!(web_app.held().0, 1, "the first session was removed");
    assert_eq!(
        system.refresh_tokens().await,
        (1, 1),
        "and its refresh token revoked"
    );
    assert!(home(&browser, &web).await.1.contains("green tea"));
}

#[tokio::test]
async fn web_app_login_flood_pushes_out_the_oldest_pending_login() {
    let system = System::start(900).await;
    let limits = Limits {
        max_pending_logins: 3,
        ..Limits::default()
    };
    let (web_app, web) = system.start_web_app_with(limits).await;
    alice_orders_tea(&system).await;

    // A user starts signing in, then anonymous requests flood `/login`.
    let early = Browser::new(&system.app);
    let r = early.get(&format!("{web}/login")).await;
    let early_authorize = location(&r);
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for _ in 0..10 {
        let r = anonymous.get(format!("{web}/login")).send().await.unwrap();
        assert_eq!(r.status(), 303, "never refused");
    }
    assert_eq!(web_app.held().1, 3, "bounded");

    // A sign-in started now completes; the oldest one was pushed out.
    let browser = Browser::new(&system.app);
    sign_in(&browser, &web, &mut Seen::default()).await;
    assert!(home(&browser, &web).await.1.contains("green tea"));
    let r = early.get(&early_authorize).await;
    let (callback, _) = early.complete(r, ALICE, ALICE_PASSWORD).await;
    let r = early.get(&callback).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("no sign-in in progress"));

    // A pending sign-in expires after 10 min.
    let late = Browser::new(&system.app);
    let r = late.get(&format!("{web}/login")).await;
    let r = late.get(&location(&r)).await;
    let (callback, _) = late.complete(r, ALICE, ALICE_PASSWORD).await;
    system.app.clock.advance(601);
    let r = late.get(&callback).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("took too long"));
    // Expired ones are swept on the next `/login`.
    anonymous.get(format!("{web}/login")).send().await.unwrap();
    assert_eq!(web_app.held().1, 1);
}

// --- the machine client ---------------------------------------------------------------

#[tokio::test]
async fn service_caches_token_until_near_expiry() {
    const TTL: i64 = 300;
    let system = System::start(TTL).await;
    let clock = Arc::new(SharedClock(system.app.clock.clone()));
    let tokens = TokenCache::discover(
        reqwest::Client::new(),
        &system.app.base,
        SVC,
        SecretString::from(SVC_SECRET),
        Some("read:orders write:orders".into()),
        clock,
    )
    .await
    .unwrap();
    let client = OrdersClient::new(
        reqwest::Client::new(),
        &format!("{}/orders", system.api),
        tokens,
    );
    assert_eq!(orders_client_service::renewal_margin(TTL), 30);
    assert_eq!(orders_client_service::renewal_margin(100), 10);

    client.create_order("green tea", 2).await.unwrap();
    for _ in 0..9 {
        assert_eq!(client.list_orders().await.unwrap(), 1);
    }
    assert_eq!(client.calls(), 10);
    assert_eq!(client.tokens().fetch_count(), 1, "one token for ten calls");

    // Renewed 30 s before exp: reused at exp - 31 s, replaced at exp - 30 s.
    system.app.clock.advance(TTL - 31);
    client.list_orders().await.unwrap();
    assert_eq!(client.tokens().fetch_count(), 1, "exp - 31 s: still cached");
    system.app.clock.advance(1);
    client.list_orders().await.unwrap();
    assert_eq!(client.tokens().fetch_count(), 2, "exp - 30 s: a new token");
    for _ in 0..5 {
        client.list_orders().await.unwrap();
    }
    assert_eq!(client.tokens().fetch_count(), 2);
    assert_eq!(client.calls(), 17, "no call needed a retry");
}

/// A token endpoint answering `{access_token: "token-<n>", expires_in}` with the
/// `expires_in` of the cell; returns its URL.
async fn fake_token_endpoint(expires_in: Arc<AtomicI64>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let issued = Arc::new(AtomicU64::new(0));
    let router = axum::Router::new().route(
        "/token",
        axum::routing::post(move || async move {
            let n = issued.fetch_add(1, Ordering::SeqCst);
            axum::Json(json!({
                "access_token": format!("token-{n}"),
                "token_type": "Bearer",
                "expires_in": expires_in.load(Ordering::SeqCst),
            }))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

#[tokio::test]
async fn service_clamps_a_huge_or_negative_expires_in() {
    let expires_in = Arc::new(AtomicI64::new(i64::MAX));
    let url = fake_token_endpoint(expires_in.clone()).await;
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let tokens = TokenCache::new(
        reqwest::Client::new(),
        &url,
        SVC,
        SecretString::from(SVC_SECRET),
        None,
        Arc::new(SharedClock(clock.clone())),
    );
    // `now + i64::MAX` would overflow: the lifetime is taken as one day.
    let first = tokens.access_token().await.unwrap();
    assert_eq!(first.expose_secret(), "token-0");
    let max = orders_client_service::MAX_LIFETIME;
    clock.advance(max - 31);
    assert_eq!(
        tokens.access_token().await.unwrap().expose_secret(),
        "token-0"
    );
    clock.advance(1);
    assert_eq!(
        tokens.access_token().await.unwrap().expose_secret(),
        "token-1"
    );
    assert_eq!(tokens.fetch_count(), 2);

    // A negative lifetime is none: every call fetches.
    expires_in.store(-5, Ordering::SeqCst);
    clock.advance(max);
    tokens.access_token().await.unwrap();
    tokens.access_token().await.unwrap();
    assert_eq!(tokens.fetch_count(), 4);
    expires_in.store(i64::MIN, Ordering::SeqCst);
    tokens.access_token().await.unwrap();
    assert_eq!(tokens.fetch_count(), 5);
}

#[tokio::test]
async fn service_late_401_for_a_replaced_token_keeps_the_new_one() {
    const TTL: i64 = 300;
    let system = System::start(TTL).await;
    let clock = Arc::new(SharedClock(system.app.clock.clone()));
    let tokens = TokenCache::discover(
        reqwest::Client::new(),
        &system.app.base,
        SVC,
        SecretString::from(SVC_SECRET),
        None,
        clock,
    )
    .await
    .unwrap();
    let old = tokens.access_token().await.unwrap();
    system.app.clock.advance(TTL - 30);
    let fresh = tokens.access_token().await.unwrap();
    assert_ne!(fresh.expose_secret(), old.expose_secret());
    assert_eq!(tokens.fetch_count(), 2);

    // A request sent with the old token comes back 401 after the renewal.
    tokens.invalidate(&old).await;
    let now = tokens.access_token().await.unwrap();
    assert_eq!(now.expose_secret(), fresh.expose_secret(), "kept");
    assert_eq!(tokens.fetch_count(), 2);
    // A 401 for the cached token does drop it.
    tokens.invalidate(&fresh).await;
    let next = tokens.access_token().await.unwrap();
    assert_ne!(next.expose_secret(), fresh.expose_secret());
    assert_eq!(tokens.fetch_count(), 3);
}
