//! CORS for browser apps (issue 13 item 1, Fetch standard §3.2): per client origin on
//! token, revocation, device authorization and UserInfo (default: the origins of the
//! client's redirect URIs), `*` on the public documents, nothing on `/authorize`, the
//! pages, introspection, `/metrics` and health; never `Access-Control-Allow-Credentials`.
//! A request from an origin its client does not allow is refused before anything
//! happens (a code or refresh token is not spent), and the refusal carries no
//! `Access-Control-Allow-Origin`.

use crate::flow::{AuthRequest, Browser, pkce, token_request};
use crate::support::{TestApp, basic_header};
use portcullis_core::Clock;
use portcullis_core::client::{ClientRegistration, RecordSource};
use reqwest::Response;
use serde_json::Value;
use tempfile::TempDir;

const SPA: &str = "spa";
const SPA_ORIGIN: &str = "https://spa.example.com";
const SPA_REDIRECT: &str = "https://spa.example.com/callback";
/// The SPA's second redirect URI, on a loopback development server.
const SPA_DEV_ORIGIN: &str = "http://localhost:5173";
const EXPLICIT: &str = "explicit";
const EXPLICIT_REDIRECT: &str = "https://login.example.com/cb";
const EXPLICIT_ORIGIN: &str = "https://app.example.com";
const WEB: &str = "web";
const WEB_SECRET: &str = "web-secret-0123456789abcdefghijklmnopq";
const WEB_ORIGIN: &str = "https://web.example.com";
const TV: &str = "tv";
const TV_ORIGIN: &str = "https://tv.example.com";
const FOREIGN: &str = "https://evil.example";
const ALICE: &str = "alice";
const ALICE_PASSWORD: &str = "alice-password-1";

const CONFIG: &str = r#"
[[users]]
username = "alice"
password = "alice-password-1"

[[clients]]
client_id = "spa"
redirect_uris = ["https://spa.example.com/callback", "http://localhost:5173/"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "offline_access"]

[[clients]]
client_id = "explicit"
redirect_uris = ["https://login.example.com/cb"]
allowed_origins = ["https://app.example.com"]
scopes = ["openid"]

[[clients]]
client_id = "web"
client_secret = "web-secret-0123456789abcdefghijklmnopq"
redirect_uris = ["https://web.example.com/callback"]
scopes = ["openid"]

[[clients]]
client_id = "tv"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code"]
allowed_origins = ["https://tv.example.com"]
scopes = ["openid"]
"#;

/// The endpoints with per-client CORS, and the method a page uses on each.
const PER_CLIENT: &[(&str, &str)] = &[
    ("/token", "POST"),
    ("/revoke", "POST"),
    ("/device_authorization", "POST"),
    ("/userinfo", "GET"),
];

async fn start() -> TestApp {
    TestApp::start_in(TempDir::new().unwrap(), CONFIG).await
}

/// A CORS preflight (Fetch §3.2.2) for `method` with the headers a SPA sends.
async fn preflight(app: &TestApp, path: &str, origin: &str, method: &str) -> Response {
    app.http
        .request(reqwest::Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization, content-type, dpop",
        )
        .send()
        .await
        .unwrap()
}

/// A form POST as a page at `origin` would send it.
async fn post_from(app: &TestApp, path: &str, origin: &str, form: &[(&str, &str)]) -> Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    app.http
        .post(app.url(path))
        .header("origin", origin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

fn header<'a>(r: &'a Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).map(|v| v.to_str().unwrap())
}

/// Never `Access-Control-Allow-Credentials` (why: it would let any allowed page send
/// the user's cookies along).
fn assert_no_credentials(r: &Response) {
    assert_eq!(
        header(r, "access-control-allow-credentials"),
        None,
        "{}",
        r.url()
    );
}

/// The CORS headers of an answer a page at `origin` may read.
fn assert_readable_by(r: &Response, origin: &str) {
    assert_eq!(
        header(r, "access-control-allow-origin"),
        Some(origin),
        "{} {}",
        r.status(),
        r.url()
    );
    let vary = header(r, "vary").unwrap_or("").to_ascii_lowercase();
    assert!(vary.contains("origin"), "Vary: {vary}");
    let exposed = header(r, "access-control-expose-headers")
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(
        exposed.contains("dpop-nonce") && exposed.contains("www-authenticate"),
        "exposed: {exposed}"
    );
    assert_no_credentials(r);
}

/// No `Access-Control-Allow-Origin`: the browser hides the answer from the page.
fn assert_hidden(r: &Response) {
    assert_eq!(
        header(r, "access-control-allow-origin"),
        None,
        "{} {}",
        r.status(),
        r.url()
    );
    assert_eq!(header(r, "access-control-expose-headers"), None);
    assert_no_credentials(r);
}

async fn assert_origin_refused(r: Response, origin: &str) {
    assert_eq!(r.status(), 400);
    assert_hidden(&r);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(
        description.contains(&format!("origin `{origin}`"))
            && description.contains("allowed_origins"),
        "{description}"
    );
}

/// A code for [`SPA`] (alice signs in and consents), with its verifier.
async fn spa_code(app: &TestApp) -> (String, String) {
    let browser = Browser::new(app);
    let (challenge, verifier) = pkce();
    let request = AuthRequest::new(SPA, SPA_REDIRECT)
        .set("scope", "openid profile offline_access")
        .set("code_challenge", &challenge)
        .set("code_challenge_method", "S256");
    let (code, _) = browser.code(&request, ALICE, ALICE_PASSWORD).await;
    (code, verifier)
}

fn redeem_form<'a>(code: &'a str, verifier: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", SPA_REDIRECT),
        ("code_verifier", verifier),
        ("client_id", SPA),
    ]
}

/// Tokens for [`SPA`], redeemed from its own origin.
async fn spa_tokens(app: &TestApp) -> Value {
    let (code, verifier) = spa_code(app).await;
    let r = post_from(app, "/token", SPA_ORIGIN, &redeem_form(&code, &verifier)).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

#[tokio::test]
async fn preflight_from_a_client_origin_is_answered_on_each_endpoint() {
    let app = start().await;
    for origin in [
        SPA_ORIGIN,
        SPA_DEV_ORIGIN,
        EXPLICIT_ORIGIN,
        WEB_ORIGIN,
        TV_ORIGIN,
    ] {
        for (path, method) in PER_CLIENT {
            let r = preflight(&app, path, origin, method).await;
            assert!(r.status().is_success(), "{path}: {}", r.status());
            assert_eq!(
                header(&r, "access-control-allow-origin"),
                Some(origin),
                "{path}"
            );
            let methods = header(&r, "access-control-allow-methods").unwrap();
            assert!(methods.contains(method), "{path}: {methods}");
            let headers = header(&r, "access-control-allow-headers")
                .unwrap()
                .to_ascii_lowercase();
            for name in ["authorization", "content-type", "dpop"] {
                assert!(headers.contains(name), "{path}: {headers}");
            }
            assert_eq!(header(&r, "access-control-max-age"), Some("600"), "{path}");
            let vary = header(&r, "vary").unwrap().to_ascii_lowercase();
            assert!(vary.contains("origin"), "{path}: {vary}");
            assert_no_credentials(&r);
        }
    }
}

#[tokio::test]
async fn preflight_from_a_foreign_origin_gets_no_allow_origin() {
    let app = start().await;
    // Neither an unknown site, nor a client's origin with another port or scheme, nor
    // the `null` origin of sandboxed pages.
    for origin in [
        FOREIGN,
        "https://spa.example.com:8443",
        "http://spa.example.com",
        "null",
    ] {
        for (path, method) in PER_CLIENT {
            let r = preflight(&app, path, origin, method).await;
            assert_eq!(
                header(&r, "access-control-allow-origin"),
                None,
                "{origin} {path}"
            );
            assert_no_credentials(&r);
        }
    }
}

#[tokio::test]
async fn token_request_from_a_redirect_uri_origin_is_readable() {
    let app = start().await;
    let (code, verifier) = spa_code(&app).await;
    let r = post_from(&app, "/token", SPA_ORIGIN, &redeem_form(&code, &verifier)).await;
    assert_eq!(r.status(), 200);
    assert_readable_by(&r, SPA_ORIGIN);
    let tokens: Value = r.json().await.unwrap();
    // The refresh grant from the second redirect URI's origin (a dev server).
    let refresh = tokens["refresh_token"].as_str().expect("offline_access");
    let r = post_from(
        &app,
        "/token",
        SPA_DEV_ORIGIN,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", SPA),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_readable_by(&r, SPA_DEV_ORIGIN);
}

#[tokio::test]
async fn rejects_a_token_request_from_a_foreign_origin_without_spending_the_code() {
    let app = start().await;
    let (code, verifier) = spa_code(&app).await;
    let r = post_from(&app, "/token", FOREIGN, &redeem_form(&code, &verifier)).await;
    assert_origin_refused(r, FOREIGN).await;
    // The code is intact: the page at the client's origin still redeems it.
    let r = post_from(&app, "/token", SPA_ORIGIN, &redeem_form(&code, &verifier)).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn rejects_a_refresh_from_a_foreign_origin_without_rotating_the_token() {
    let app = start().await;
    let tokens = spa_tokens(&app).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", SPA),
    ];
    let r = post_from(&app, "/token", FOREIGN, &form).await;
    assert_origin_refused(r, FOREIGN).await;
    // Not rotated (a rotated token presented again would revoke the family).
    let r = post_from(&app, "/token", SPA_ORIGIN, &form).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn rejects_a_token_request_from_the_null_origin() {
    let app = start().await;
    let (code, verifier) = spa_code(&app).await;
    let r = post_from(&app, "/token", "null", &redeem_form(&code, &verifier)).await;
    assert_origin_refused(r, "null").await;
}

#[tokio::test]
async fn explicit_allowed_origins_replace_the_redirect_uri_origins() {
    let app = start().await;
    // A bogus code: the client is identified, then the grant fails. From an allowed
    // origin the page reads the grant's error; from the redirect URI's origin (not
    // listed) the request is refused first.
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "not-a-code"),
        ("redirect_uri", EXPLICIT_REDIRECT),
        (
            "code_verifier",
            "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG",
        ),
        ("client_id", EXPLICIT),
    ];
    let r = post_from(&app, "/token", EXPLICIT_ORIGIN, &form).await;
    assert_eq!(r.status(), 400);
    assert_readable_by(&r, EXPLICIT_ORIGIN);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");

    let r = post_from(&app, "/token", "https://login.example.com", &form).await;
    assert_origin_refused(r, "https://login.example.com").await;
}

#[tokio::test]
async fn a_request_without_origin_is_not_a_cors_request() {
    let app = start().await;
    let (code, verifier) = spa_code(&app).await;
    let r = token_request(&app, &redeem_form(&code, &verifier)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "access-control-allow-origin"), None);
}

#[tokio::test]
async fn an_unidentified_client_error_is_readable_by_a_known_origin_only() {
    let app = start().await;
    // No client could be identified: the page at an origin some client uses reads the
    // error (`invalid_client`), a foreign page does not.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", "x"),
        ("client_id", "nobody"),
    ];
    let r = post_from(&app, "/token", SPA_ORIGIN, &form).await;
    assert_eq!(r.status(), 401);
    assert_readable_by(&r, SPA_ORIGIN);
    let r = post_from(&app, "/token", FOREIGN, &form).await;
    assert_eq!(r.status(), 401);
    assert_hidden(&r);
}

#[tokio::test]
async fn userinfo_is_readable_by_the_tokens_client_origin_only() {
    let app = start().await;
    let tokens = spa_tokens(&app).await;
    let access = tokens["access_token"].as_str().unwrap();
    let get = |origin: &'static str| {
        app.http
            .get(app.url("/userinfo"))
            .header("origin", origin)
            .bearer_auth(access)
            .send()
    };
    let r = get(SPA_ORIGIN).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_readable_by(&r, SPA_ORIGIN);
    // Another client's origin is not this token's client's.
    let r = get(EXPLICIT_ORIGIN).await.unwrap();
    assert_origin_refused(r, EXPLICIT_ORIGIN).await;
    let r = get(FOREIGN).await.unwrap();
    assert_origin_refused(r, FOREIGN).await;
}

#[tokio::test]
async fn rejects_revocation_from_a_foreign_origin_and_revokes_nothing() {
    let app = start().await;
    let tokens = spa_tokens(&app).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let revoke = [("token", refresh), ("client_id", SPA)];
    let r = post_from(&app, "/revoke", FOREIGN, &revoke).await;
    assert_origin_refused(r, FOREIGN).await;
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", SPA),
    ];
    let r = post_from(&app, "/token", SPA_ORIGIN, &refresh_form).await;
    assert_eq!(r.status(), 200, "still live: {}", r.text().await.unwrap());

    // From the client's own origin, revocation answers readably.
    let r = post_from(
        &app,
        "/revoke",
        SPA_ORIGIN,
        &[("token", "unknown"), ("client_id", SPA)],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_readable_by(&r, SPA_ORIGIN);
}

#[tokio::test]
async fn revocation_by_a_confidential_client_checks_its_origin() {
    let app = start().await;
    let send = |origin: &'static str| {
        app.http
            .post(app.url("/revoke"))
            .header("origin", origin)
            .header("authorization", basic_header(WEB, WEB_SECRET))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("token=unknown")
            .send()
    };
    let r = send(WEB_ORIGIN).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_readable_by(&r, WEB_ORIGIN);
    let r = send(SPA_ORIGIN).await.unwrap();
    assert_origin_refused(r, SPA_ORIGIN).await;
}

#[tokio::test]
async fn device_authorization_checks_the_clients_origin() {
    let app = start().await;
    let form = [("client_id", TV), ("scope", "openid")];
    let r = post_from(&app, "/device_authorization", TV_ORIGIN, &form).await;
    assert_eq!(r.status(), 200);
    assert_readable_by(&r, TV_ORIGIN);
    let r = post_from(&app, "/device_authorization", SPA_ORIGIN, &form).await;
    assert_origin_refused(r, SPA_ORIGIN).await;
}

#[tokio::test]
async fn a_client_without_web_redirect_uris_allows_no_origin_by_default() {
    let app = start().await;
    let registration = ClientRegistration {
        client_id: "cli".into(),
        redirect_uris: vec![
            "http://127.0.0.1/callback".into(),
            "com.example.app:/cb".into(),
        ],
        grant_types: Some(vec!["urn:ietf:params:oauth:grant-type:device_code".into()]),
        scopes: vec!["openid".into()],
        ..Default::default()
    };
    let client = registration.validate(RecordSource::Admin, 0).unwrap();
    assert_eq!(client.web_origins(), ["http://127.0.0.1"]);
    app.app
        .state()
        .store()
        .client_insert(&client)
        .await
        .unwrap();
    let form = [("client_id", "cli"), ("scope", "openid")];
    let r = post_from(&app, "/device_authorization", TV_ORIGIN, &form).await;
    assert_origin_refused(r, TV_ORIGIN).await;
}

#[tokio::test]
async fn a_client_added_while_running_is_preflighted_after_the_cache_ttl() {
    let app = start().await;
    let origin = "https://new.example.com";
    // The first preflight reads the set of origins.
    let r = preflight(&app, "/token", origin, "POST").await;
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    // As the admin CLI would, from another process: straight into the store.
    let client = ClientRegistration {
        client_id: "new".into(),
        redirect_uris: vec![format!("{origin}/cb")],
        scopes: vec!["openid".into()],
        ..Default::default()
    }
    .validate(RecordSource::Admin, 0)
    .unwrap();
    app.app
        .state()
        .store()
        .client_insert(&client)
        .await
        .unwrap();
    let ttl = portcullis_server::app::cross_origin::ORIGIN_SET_TTL;
    app.clock.advance(ttl - 1);
    let r = preflight(&app, "/token", origin, "POST").await;
    assert_eq!(
        header(&r, "access-control-allow-origin"),
        None,
        "still cached"
    );
    app.clock.advance(1);
    let r = preflight(&app, "/token", origin, "POST").await;
    assert_eq!(header(&r, "access-control-allow-origin"), Some(origin));
}

#[tokio::test]
async fn discovery_and_jwks_allow_any_origin() {
    let app = start().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/jwks",
    ] {
        for origin in [FOREIGN, SPA_ORIGIN, "null"] {
            let r = app
                .http
                .get(app.url(path))
                .header("origin", origin)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(
                header(&r, "access-control-allow-origin"),
                Some("*"),
                "{path}"
            );
            assert_no_credentials(&r);
            let r = preflight(&app, path, origin, "GET").await;
            assert_eq!(
                header(&r, "access-control-allow-origin"),
                Some("*"),
                "{path}"
            );
            assert!(
                header(&r, "access-control-allow-methods")
                    .unwrap()
                    .contains("GET")
            );
            assert_no_credentials(&r);
        }
    }
}

#[tokio::test]
async fn no_cors_on_authorize_pages_introspection_metrics_or_health() {
    let app = start().await;
    for path in [
        "/authorize",
        "/login",
        "/consent",
        "/device",
        "/logout",
        "/introspect",
        "/metrics",
        "/health/live",
        "/health/ready",
        "/assets/portcullis.css",
    ] {
        let r = app
            .http
            .get(app.url(path))
            .header("origin", SPA_ORIGIN)
            .send()
            .await
            .unwrap();
        assert_hidden(&r);
        let r = post_from(&app, path, SPA_ORIGIN, &[]).await;
        assert_hidden(&r);
        for method in ["GET", "POST"] {
            let r = preflight(&app, path, SPA_ORIGIN, method).await;
            assert_hidden(&r);
            assert!(
                !r.status().is_success(),
                "{path}: a preflight is not answered ({})",
                r.status()
            );
        }
    }
}

#[tokio::test]
async fn dev_demo_spa_is_registered_and_allowed_from_its_page_origin() {
    use portcullis_server::app::admin::dev::{DEMO_SPA_CLIENT_ID, DEMO_SPA_URI, seed};
    let app = start().await;
    let state = app.app.state();
    seed(state.store().as_ref(), state.config(), app.clock.now())
        .await
        .unwrap();
    let spa = state
        .store()
        .client_get(DEMO_SPA_CLIENT_ID)
        .await
        .unwrap()
        .expect("serve --dev registers demo-spa");
    assert!(spa.is_public(), "a browser app keeps no secret");
    assert_eq!(spa.redirect_uris, [DEMO_SPA_URI]);
    assert_eq!(spa.post_logout_redirect_uris, [DEMO_SPA_URI]);
    assert_eq!(spa.web_origins(), ["http://localhost:5173"]);
    assert!(spa.allows_grant(portcullis_proto::grant::GrantType::RefreshToken));
}
