//! Behind a TLS-terminating proxy (docs/operations.md "Deployment"): with
//! `trusted_proxies`, the client address of the per-address limits comes from the
//! proxy's `X-Forwarded-For` (walked from the right); without it the header is
//! ignored; and the issuer never comes from `Host` or `X-Forwarded-Host`.
//!
//! The test server's TCP peer is always 127.0.0.1, so `trusted_proxies =
//! ["127.0.0.1/32"]` makes the test client a trusted proxy.

use crate::flow::{self, ALICE, ALICE_PASSWORD, AuthRequest, BOB, BOB_PASSWORD, Browser, pkce};
use crate::support::{API, BASE_CONFIG, SVC_SECRET, TestApp, basic_header, verify_access_token};
use portcullis_server::app::throttle::ADDRESS_FAILURES_BEFORE_THROTTLE;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use tempfile::TempDir;

const TRUST_LOOPBACK: &str = "trusted_proxies = [\"127.0.0.1/32\"]\n";

async fn start_trusting_loopback(config: &str) -> TestApp {
    TestApp::start_in(
        TempDir::new().unwrap(),
        &format!("{TRUST_LOOPBACK}{config}"),
    )
    .await
}

/// A browser behind a proxy that sends `X-Forwarded-For: forwarded_for`.
fn browser_from(app: &TestApp, forwarded_for: &str) -> Browser {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-forwarded-for",
        HeaderValue::from_str(forwarded_for).unwrap(),
    );
    Browser::with_headers(app, headers)
}

/// Opens a login page in `browser`.
async fn login_page(browser: &Browser) -> String {
    let r = browser.authorize(&AuthRequest::native(&pkce().0)).await;
    browser.page(r).await
}

/// As many failed logins from `browser` as lock an address
/// ([`ADDRESS_FAILURES_BEFORE_THROTTLE`]), each on another (unknown) account so that
/// only the address limit is reached.
async fn address_lockout(browser: &Browser, prefix: &str) -> String {
    let mut page = login_page(browser).await;
    let last = ADDRESS_FAILURES_BEFORE_THROTTLE;
    for attempt in 1..=last {
        let r = browser
            .login(&page, &format!("{prefix}-{attempt}"), "wrong-password")
            .await;
        assert!(
            attempt == last || r.status() == 200,
            "failure {attempt}: {}",
            r.status()
        );
        if r.status() == 200 {
            page = r.text().await.unwrap();
        }
    }
    page
}

#[tokio::test]
async fn forwarded_for_from_a_trusted_proxy_keys_the_address_limit() {
    let app = start_trusting_loopback(flow::CONFIG).await;
    let attacker = browser_from(&app, "203.0.113.7");
    let page = address_lockout(&attacker, "nobody").await;
    let r = attacker.login(&page, BOB, BOB_PASSWORD).await;
    assert_eq!(r.status(), 429, "203.0.113.7 is locked");

    // Prepending another address does not escape: the proxy appended the real one,
    // and the walk starts from the right.
    let spoofing = browser_from(&app, "203.0.113.8, 203.0.113.7");
    let page = login_page(&spoofing).await;
    let r = spoofing.login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status(), 429, "a spoofed leftmost entry is ignored");

    // Another client behind the same proxy is not locked.
    let neighbour = browser_from(&app, "203.0.113.8");
    let page = login_page(&neighbour).await;
    let r = neighbour.login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status(), 303, "203.0.113.8 is not locked");

    // Nor is the proxy itself (no header: the peer, 127.0.0.1).
    let direct = Browser::new(&app);
    let page = login_page(&direct).await;
    let r = direct.login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status(), 303, "127.0.0.1 is not locked");

    // /metrics still refuses anything that came through a proxy.
    let r = attacker.get("/metrics").await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn forwarded_for_is_ignored_without_trusted_proxies() {
    let app = flow::start().await;
    let attacker = browser_from(&app, "203.0.113.7");
    address_lockout(&attacker, "nobody").await;
    // Every request's address is the peer, 127.0.0.1, whatever the header says.
    let other = browser_from(&app, "203.0.113.8");
    let page = login_page(&other).await;
    let r = other.login(&page, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status(), 429, "the header is not believed");
}

#[tokio::test]
async fn issuer_is_not_taken_from_the_host_header() {
    // Even from a trusted proxy, host headers are not read.
    let app = start_trusting_loopback(BASE_CONFIG).await;
    let evil = "evil.example.com";
    let with_hosts = |request: reqwest::RequestBuilder| {
        request
            .header("host", evil)
            .header("x-forwarded-host", evil)
            .header("x-forwarded-proto", "https")
            .header("forwarded", format!("host={evil};proto=https"))
    };
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let r = with_hosts(app.http.get(app.url(path)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let text = r.text().await.unwrap();
        assert!(!text.contains(evil), "{path}: {text}");
        let metadata: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(metadata["issuer"], app.base.as_str(), "{path}");
        assert!(
            metadata["token_endpoint"]
                .as_str()
                .unwrap()
                .starts_with(&app.base),
            "{path}: {metadata}"
        );
    }

    let r = with_hosts(app.http.post(app.url("/token")))
        .header("authorization", basic_header("svc", SVC_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    let claims = verify_access_token(token, &app.jwks().await, &app.base, API);
    assert_eq!(claims["iss"], app.base.as_str());
}
