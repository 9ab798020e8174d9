//! RFC 8628 device authorization grant, server side: the device authorization
//! endpoint (§3.1–3.2), the verification page and its limits (§3.3, §5.1), the device
//! variant of the login and consent pages (§5.4), and polling the token endpoint
//! (§3.4–3.5). The device is the `oauth2` crate (an independent client); the user is
//! the cookie-keeping [`Browser`] of `flow.rs`. Polling runs on the server's manual
//! clock: the device's "sleep" advances it.

use crate::flow::{ALICE, ALICE_PASSWORD, Browser, location, user_id};
use crate::html::{Form, assert_no_script, elements, html_page};
use crate::support::{API, TestApp, basic_header, oauth2_http, pinned, verify_access_token};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    Client, ClientId, ClientSecret, DeviceAuthorizationUrl, DeviceCodeErrorResponseType,
    EndpointNotSet, EndpointSet, ExtraTokenFields, RequestTokenError, Scope,
    StandardDeviceAuthorizationResponse, StandardRevocableToken, StandardTokenResponse,
    TokenResponse, TokenUrl,
};
use portcullis_core::clock::Clock;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tempfile::TempDir;

/// A public device client (a TV): device grant and refresh tokens.
const TV: &str = "tv";
/// A confidential device client (client_secret_basic).
const CONSOLE: &str = "console";
const CONSOLE_SECRET: &str = "console-secret-0123456789abcdefghijk";
/// A public client without the device grant.
const NATIVE: &str = "native";
/// `[tokens] device_code_ttl`.
const DEVICE_CODE_TTL: i64 = 600;
/// `[tokens] device_poll_interval`.
const INTERVAL: i64 = 1;
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

const CONFIG: &str = r#"
[tokens]
access_token_ttl = 900
device_code_ttl = 600
device_poll_interval = 1
session_ttl = 3600

[[users]]
username = "alice"
password = "alice-password-1"
email = "alice@example.com"
name = "Alice Liddell"

[[clients]]
client_id = "tv"
client_name = "Living Room TV"
token_endpoint_auth_method = "none"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
scopes = ["openid", "profile", "offline_access", "read:orders"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "console"
client_name = "Game Console"
client_secret = "console-secret-0123456789abcdefghijk"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code"]
scopes = ["openid", "read:orders"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "native"
client_name = "Native App"
redirect_uris = ["http://127.0.0.1/callback"]
scopes = ["openid"]
audiences = ["https://api.example.com"]
"#;

async fn start() -> TestApp {
    TestApp::start_in(TempDir::new().unwrap(), CONFIG).await
}

// --- the device: oauth2 with an id_token field ------------------------------------------

/// `id_token` (OIDC Core §3.1.3.3), which oauth2's basic token response drops.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

type DeviceTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;
type DeviceClient = Client<
    BasicErrorResponse,
    DeviceTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

fn device_client(app: &TestApp, client_id: &str, secret: Option<&str>) -> DeviceClient {
    let client = Client::new(ClientId::new(client_id.into()))
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(app.url("/device_authorization")).unwrap(),
        )
        .set_token_uri(TokenUrl::new(app.url("/token")).unwrap());
    match secret {
        Some(secret) => client.set_client_secret(ClientSecret::new(secret.into())),
        None => client,
    }
}

/// `tv` starts a device authorization for `scope` with the oauth2 crate.
async fn tv_starts(app: &TestApp, scope: &str) -> StandardDeviceAuthorizationResponse {
    let http = oauth2_http(app.http.clone());
    device_client(app, TV, None)
        .exchange_device_code()
        .add_scopes(scope.split(' ').map(|s| Scope::new(s.into())))
        .request_async(&http)
        .await
        .unwrap()
}

/// POSTs a form to `path` (with HTTP Basic when given).
async fn post(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> reqwest::Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut request = app
        .http
        .post(app.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some((id, secret)) = basic {
        request = request.header("authorization", basic_header(id, secret));
    }
    request.send().await.unwrap()
}

/// A device authorization over plain HTTP; asserts 200 and returns the JSON body.
async fn start_raw(app: &TestApp, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Value {
    let r = post(app, "/device_authorization", form, basic).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store", "RFC 8628 §3.2");
    r.json().await.unwrap()
}

/// One poll of the token endpoint by `tv` (public: `client_id` in the body).
async fn poll(app: &TestApp, device_code: &str) -> reqwest::Response {
    post(
        app,
        "/token",
        &[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", TV),
        ],
        None,
    )
    .await
}

/// Just the `error` member of an error response (the descriptions are core's).
async fn error_of(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    body["error"].as_str().unwrap().to_owned()
}

// --- the user: the verification page ------------------------------------------------------

/// GETs `/device` (or a `verification_uri_complete`) and returns the page and its form.
async fn entry_form(browser: &Browser, url: &str) -> (String, Form) {
    let r = browser.get(url).await;
    let page = html_page(r, 200).await;
    let form = Form::find(&page, "/device").expect("a form posting to /device");
    (page, form)
}

/// Types `user_code` into a fresh verification form and submits it.
async fn enter_code(browser: &Browser, user_code: &str) -> reqwest::Response {
    let (_, form) = entry_form(browser, "/device").await;
    let mut fields = form.hidden.clone();
    fields.push(("user_code".into(), user_code.into()));
    browser.post_form("/device", &fields).await
}

/// Enters `user_code`, signs in as Alice if asked, and returns the consent page.
pub(crate) async fn consent_page(browser: &Browser, user_code: &str) -> String {
    let r = enter_code(browser, user_code).await;
    assert_eq!(r.status(), 303, "a right code goes on");
    let to = location(&r);
    let r = if to.starts_with("/login?") {
        let page = browser.page(r).await;
        browser.login(&page, ALICE, ALICE_PASSWORD).await
    } else {
        r
    };
    assert!(location(&r).starts_with("/consent?"), "{}", location(&r));
    browser.page(r).await
}

/// The whole user side: enter the code, sign in, approve; asserts the success page.
pub(crate) async fn approve(browser: &Browser, user_code: &str) {
    let page = consent_page(browser, user_code).await;
    let done = html_page(browser.approve(&page).await, 200).await;
    assert!(done.contains("Device connected"), "{done}");
}

/// The whole user side, denying.
async fn deny(browser: &Browser, user_code: &str) {
    let page = consent_page(browser, user_code).await;
    let done = html_page(browser.deny(&page).await, 200).await;
    assert!(done.contains("Request denied"), "{done}");
}

fn text_of(page: &str, needle: &str) -> bool {
    page.contains(needle)
}

// --- the flow ------------------------------------------------------------------------------

#[tokio::test]
async fn device_flow_approve_issues_tokens() {
    let app = start().await;
    let details = tv_starts(&app, "openid profile offline_access read:orders").await;
    assert_eq!(details.verification_uri().as_str(), app.url("/device"));
    let user_code = details.user_code().secret().clone();
    assert_eq!(
        details
            .verification_uri_complete()
            .map(|u| u.secret().clone()),
        Some(format!("{}?user_code={user_code}", app.url("/device")))
    );
    assert_eq!(details.interval(), Duration::from_secs(1));
    assert_eq!(details.expires_in(), Duration::from_secs(600));

    // The device polls; during its first wait the user approves in the browser.
    let browser = Arc::new(Browser::new(&app));
    let approved = Arc::new(AtomicBool::new(false));
    let polls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sleep = {
        let (clock, browser, approved, polls) = (
            app.clock.clone(),
            browser.clone(),
            approved.clone(),
            polls.clone(),
        );
        let user_code = user_code.clone();
        move |wait: Duration| {
            clock.advance(i64::try_from(wait.as_secs()).unwrap());
            polls.fetch_add(1, Ordering::SeqCst);
            let (browser, approved, user_code) =
                (browser.clone(), approved.clone(), user_code.clone());
            async move {
                if !approved.swap(true, Ordering::SeqCst) {
                    approve(&browser, &user_code).await;
                }
            }
        }
    };
    let http = oauth2_http(app.http.clone());
    let client = device_client(&app, TV, None);
    let token = client
        .exchange_device_access_token(&details)
        .request_async(&http, sleep, None)
        .await
        .unwrap();
    assert_eq!(
        polls.load(Ordering::SeqCst),
        1,
        "one authorization_pending, then the tokens"
    );

    let alice = user_id(&app, ALICE).await;
    let claims = verify_access_token(
        token.access_token().secret(),
        &app.jwks().await,
        &app.base,
        API,
    );
    assert_eq!(claims["sub"], alice.as_str());
    assert_eq!(claims["client_id"], TV);
    assert_eq!(claims["scope"], "offline_access openid profile read:orders");
    assert!(
        token.refresh_token().is_some(),
        "offline_access + refresh_token grant"
    );

    // OIDC: the id_token, verified with jsonwebtoken against the JWKS.
    let id_token = token.extra_fields().id_token.clone().expect("an id_token");
    let header = jsonwebtoken::decode_header(&id_token).unwrap();
    let jwks = app.jwks().await;
    let key = DecodingKey::from_jwk(jwks.find(&header.kid.unwrap()).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[&app.base]);
    validation.set_audience(&[TV]);
    let id = jsonwebtoken::decode::<Value>(&id_token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(id["sub"], alice.as_str());
    assert_eq!(id["name"], "Alice Liddell", "profile scope");
    assert!(id["auth_time"].as_i64().is_some());

    // The refresh token works (RFC 6749 §6).
    let refreshed = client
        .exchange_refresh_token(token.refresh_token().unwrap())
        .request_async(&http)
        .await
        .unwrap();
    assert!(!refreshed.access_token().secret().is_empty());
}

#[tokio::test]
async fn rejects_authorization_pending_before_approval() {
    let app = start().await;
    let started = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
    let device_code = started["device_code"].as_str().unwrap();
    pinned(
        poll(&app, device_code).await,
        400,
        json!({"error": "authorization_pending", "error_description": PENDING_DESCRIPTION}),
    )
    .await;
    // Still pending after the interval, until the user answers.
    app.clock.advance(INTERVAL);
    assert_eq!(
        error_of(poll(&app, device_code).await, 400).await,
        "authorization_pending"
    );
}

#[tokio::test]
async fn rejects_denied_with_access_denied() {
    let app = start().await;
    let details = tv_starts(&app, "openid read:orders").await;
    deny(&Browser::new(&app), details.user_code().secret()).await;

    // The independent client stops polling with access_denied.
    let http = oauth2_http(app.http.clone());
    let clock = app.clock.clone();
    let result = device_client(&app, TV, None)
        .exchange_device_access_token(&details)
        .request_async(
            &http,
            move |wait: Duration| {
                clock.advance(i64::try_from(wait.as_secs()).unwrap());
                std::future::ready(())
            },
            None,
        )
        .await;
    match result {
        Err(RequestTokenError::ServerResponse(e)) => {
            assert_eq!(e.error(), &DeviceCodeErrorResponseType::AccessDenied);
        }
        other => panic!("expected access_denied, got {other:?}"),
    }
    // On the wire.
    app.clock.advance(60);
    pinned(
        poll(&app, details.device_code().secret()).await,
        400,
        json!({"error": "access_denied", "error_description": DENIED_DESCRIPTION}),
    )
    .await;
}

#[tokio::test]
async fn rejects_expired_device_code_with_expired_token() {
    let app = start().await;
    let started = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
    let device_code = started["device_code"].as_str().unwrap();
    // expires_at = issued + ttl: one second before it still pending, at it expired.
    app.clock.advance(DEVICE_CODE_TTL - 1);
    assert_eq!(
        error_of(poll(&app, device_code).await, 400).await,
        "authorization_pending"
    );
    app.clock.advance(1);
    pinned(
        poll(&app, device_code).await,
        400,
        json!({"error": "expired_token", "error_description": EXPIRED_DESCRIPTION}),
    )
    .await;
    app.clock.advance(1);
    assert_eq!(
        error_of(poll(&app, device_code).await, 400).await,
        "expired_token"
    );
    // And the user can no longer enter its code.
    let browser = Browser::new(&app);
    let r = enter_code(&browser, started["user_code"].as_str().unwrap()).await;
    let page = html_page(r, 200).await;
    assert!(text_of(&page, CODE_NOT_VALID), "{page}");
}

#[tokio::test]
async fn rejects_fast_polling_with_slow_down() {
    let app = start().await;
    let started = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
    let device_code = started["device_code"].as_str().unwrap();
    assert_eq!(started["interval"], INTERVAL);
    assert_eq!(
        error_of(poll(&app, device_code).await, 400).await,
        "authorization_pending"
    );
    // Again within the interval: slow_down, and the interval grows by 5 (RFC 8628 §3.5).
    pinned(
        poll(&app, device_code).await,
        400,
        json!({"error": "slow_down", "error_description": SLOW_DOWN_DESCRIPTION}),
    )
    .await;
    let interval = || async {
        app.app
            .state()
            .store()
            .device_authorization_get(&portcullis_core::secret::SecretDigest::of(device_code))
            .await
            .unwrap()
            .unwrap()
            .interval
    };
    assert_eq!(interval().await, INTERVAL + 5);
    // 5 s later is still within the grown interval (6 s): slow_down again (+5 → 11).
    app.clock.advance(5);
    assert_eq!(
        error_of(poll(&app, device_code).await, 400).await,
        "slow_down"
    );
    assert_eq!(interval().await, INTERVAL + 10);
    // After waiting the whole interval: pending again, and the interval stays.
    app.clock.advance(INTERVAL + 10);
    assert_eq!(
        error_of(poll(&app, device_code).await, 400).await,
        "authorization_pending"
    );
    assert_eq!(interval().await, INTERVAL + 10);
}

#[tokio::test]
async fn rejects_reused_device_code() {
    let app = start().await;
    let started = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
    let device_code = started["device_code"].as_str().unwrap();
    approve(&Browser::new(&app), started["user_code"].as_str().unwrap()).await;
    let r = poll(&app, device_code).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    app.clock.advance(INTERVAL);
    pinned(
        poll(&app, device_code).await,
        400,
        json!({"error": "invalid_grant", "error_description": USED_DESCRIPTION}),
    )
    .await;
}

#[tokio::test]
async fn rejects_device_code_of_another_client() {
    let app = start().await;
    let started = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
    let device_code = started["device_code"].as_str().unwrap();
    approve(&Browser::new(&app), started["user_code"].as_str().unwrap()).await;
    let r = post(
        &app,
        "/token",
        &[("grant_type", DEVICE_GRANT), ("device_code", device_code)],
        Some((CONSOLE, CONSOLE_SECRET)),
    )
    .await;
    pinned(
        r,
        400,
        json!({"error": "invalid_grant", "error_description": UNKNOWN_DESCRIPTION}),
    )
    .await;
    // The rightful client still gets its tokens.
    assert_eq!(poll(&app, device_code).await.status(), 200);
}

#[tokio::test]
async fn rejects_unknown_device_code() {
    let app = start().await;
    pinned(
        poll(
            &app,
            "bm90LWEtZGV2aWNlLWNvZGUtYXQtYWxsLW5vdC1hdC1hbGwtbm9wZQ",
        )
        .await,
        400,
        json!({"error": "invalid_grant", "error_description": UNKNOWN_DESCRIPTION}),
    )
    .await;
}

#[tokio::test]
async fn rejects_missing_device_code() {
    let app = start().await;
    let r = post(
        &app,
        "/token",
        &[("grant_type", DEVICE_GRANT), ("client_id", TV)],
        None,
    )
    .await;
    pinned(
        r,
        400,
        json!({"error": "invalid_request", "error_description": MISSING_DESCRIPTION}),
    )
    .await;
}

#[tokio::test]
async fn rejects_client_without_device_grant() {
    let app = start().await;
    let r = post(
        &app,
        "/device_authorization",
        &[("client_id", NATIVE), ("scope", "openid")],
        None,
    )
    .await;
    pinned(
        r,
        400,
        json!({
            "error": "unauthorized_client",
            "error_description": "this client is not registered for the urn:ietf:params:oauth:grant-type:device_code grant"
        }),
    )
    .await;
}

#[tokio::test]
async fn rejects_unknown_scope_at_device_authorization() {
    let app = start().await;
    let r = post(
        &app,
        "/device_authorization",
        &[("client_id", TV), ("scope", "openid write:orders")],
        None,
    )
    .await;
    pinned(
        r,
        400,
        json!({
            "error": "invalid_scope",
            "error_description": "scope `write:orders` is not allowed for this client"
        }),
    )
    .await;
}

#[tokio::test]
async fn rejects_bad_client_secret_at_device_authorization() {
    let app = start().await;
    let r = post(
        &app,
        "/device_authorization",
        &[("scope", "read:orders")],
        Some((CONSOLE, "wrong-secret-0123456789abcdefghijklmn")),
    )
    .await;
    let headers = pinned(
        r,
        401,
        json!({"error": "invalid_client", "error_description": "client authentication failed"}),
    )
    .await;
    assert_eq!(
        headers["www-authenticate"],
        r#"Basic realm="portcullis", charset="UTF-8""#
    );
    // The right secret, with the oauth2 crate (Basic).
    let http = oauth2_http(app.http.clone());
    let details: StandardDeviceAuthorizationResponse =
        device_client(&app, CONSOLE, Some(CONSOLE_SECRET))
            .exchange_device_code()
            .add_scope(Scope::new("read:orders".into()))
            .request_async(&http)
            .await
            .unwrap();
    assert_eq!(details.user_code().secret().len(), 9, "XXXX-XXXX");
}

#[tokio::test]
async fn rejects_missing_scope_at_device_authorization() {
    let app = start().await;
    let r = post(&app, "/device_authorization", &[("client_id", TV)], None).await;
    pinned(
        r,
        400,
        json!({
            "error": "invalid_scope",
            "error_description": "scope is required: request at least one scope, e.g. openid"
        }),
    )
    .await;
}

#[tokio::test]
async fn rejects_repeated_parameter_at_device_authorization() {
    let app = start().await;
    let r = post(
        &app,
        "/device_authorization",
        &[
            ("client_id", TV),
            ("scope", "openid"),
            ("scope", "read:orders"),
        ],
        None,
    )
    .await;
    pinned(
        r,
        400,
        json!({
            "error": "invalid_request",
            "error_description": "parameter `scope` is repeated; it may appear only once (RFC 6749 section 3.1)"
        }),
    )
    .await;
}

#[tokio::test]
async fn rejects_unknown_public_client_at_device_authorization() {
    let app = start().await;
    let r = post(
        &app,
        "/device_authorization",
        &[("client_id", "nobody"), ("scope", "openid")],
        None,
    )
    .await;
    pinned(
        r,
        401,
        json!({"error": "invalid_client", "error_description": "client authentication failed"}),
    )
    .await;
}

#[tokio::test]
async fn device_authorization_answers_get_with_405() {
    let app = start().await;
    let r = app
        .http
        .get(app.url("/device_authorization"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["allow"], "POST");
    assert_eq!(
        error_of(r, 405).await,
        "invalid_request",
        "RFC 8628 §3.1: POST"
    );
}

#[tokio::test]
async fn device_authorization_response_is_rfc8628_shaped() {
    let app = start().await;
    let body = start_raw(
        &app,
        &[("scope", "openid read:orders")],
        Some((CONSOLE, CONSOLE_SECRET)),
    )
    .await;
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "device_code",
            "expires_in",
            "interval",
            "user_code",
            "verification_uri",
            "verification_uri_complete"
        ]
    );
    assert_eq!(body["device_code"].as_str().unwrap().len(), 43, "256-bit");
    let user_code = body["user_code"].as_str().unwrap();
    let (a, b) = user_code.split_once('-').unwrap();
    for part in [a, b] {
        assert_eq!(part.len(), 4);
        assert!(
            part.chars().all(|c| "BCDFGHJKLMNPQRSTVWXZ".contains(c)),
            "{user_code}"
        );
    }
    assert_eq!(body["verification_uri"], app.url("/device"));
    assert_eq!(body["expires_in"], DEVICE_CODE_TTL);
    assert_eq!(body["interval"], INTERVAL);
}

// --- the pages --------------------------------------------------------------------------------

#[tokio::test]
async fn device_page_prefills_user_code() {
    let app = start().await;
    let started = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
    let user_code = started["user_code"].as_str().unwrap();
    let browser = Browser::new(&app);
    let r = browser
        .get(started["verification_uri_complete"].as_str().unwrap())
        .await;
    let headers = r.headers().clone();
    let page = html_page(r, 200).await;
    assert_no_script(&page);
    // Nothing on the page may post or redirect anywhere but here.
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action 'self';"), "{csp}");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(
        headers
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("portcullis_browser=")),
        "the page binds the browser"
    );
    let form = Form::find(&page, "/device").expect("a form posting to /device");
    assert_eq!(form.method, "post");
    assert!(form.hidden("csrf_token").is_some_and(|t| t.len() >= 43));
    assert!(
        form.inputs
            .iter()
            .any(|(n, t)| n == "user_code" && t == "text")
    );
    let input = elements(&page)
        .into_iter()
        .find(|(tag, a)| tag == "input" && a.get("name").is_some_and(|n| n == "user_code"))
        .unwrap()
        .1;
    assert_eq!(input.get("value").map(String::as_str), Some(user_code));
    assert!(
        elements(&page)
            .iter()
            .any(|(tag, a)| tag == "label" && a.get("for").is_some_and(|f| f == "user_code")),
        "the field has a label"
    );
    assert_eq!(form.buttons.len(), 1, "one submit button");
    // A lower-case or spaced code in the link is shown normalised; junk is not shown.
    let lower = user_code.to_lowercase().replace('-', " ");
    let (page, _) = entry_form(
        &browser,
        &format!("/device?user_code={}", lower.replace(' ', "+")),
    )
    .await;
    assert!(page.contains(&format!("value=\"{user_code}\"")), "{page}");
    let (page, _) = entry_form(&browser, "/device?user_code=%22%3E%3Cscript%3E").await;
    assert_no_script(&page);
}

#[tokio::test]
async fn device_page_normalises_user_code() {
    let app = start().await;
    let started = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
    let user_code = started["user_code"].as_str().unwrap();
    let typed = format!(" {} ", user_code.to_lowercase().replace('-', " "));
    let browser = Browser::new(&app);
    let r = enter_code(&browser, &typed).await;
    assert_eq!(r.status(), 303);
    assert!(
        location(&r).starts_with("/login?request="),
        "{}",
        location(&r)
    );
    // Without the dash at all.
    let other = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
    let compact = other["user_code"].as_str().unwrap().replace('-', "");
    let r = enter_code(&Browser::new(&app), &compact).await;
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn device_page_rejects_wrong_code_without_oracle() {
    let app = start().await;
    let browser = Browser::new(&app);
    // Unknown.
    let unknown = html_page(enter_code(&browser, "BCDF-GHJK").await, 200).await;
    assert!(text_of(&unknown, CODE_NOT_VALID), "{unknown}");
    // Used: approved already.
    let used = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
    let used_code = used["user_code"].as_str().unwrap();
    approve(&Browser::new(&app), used_code).await;
    let page = html_page(enter_code(&browser, used_code).await, 200).await;
    assert!(text_of(&page, CODE_NOT_VALID), "{page}");
    // Denied.
    let denied = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
    let denied_code = denied["user_code"].as_str().unwrap();
    deny(&Browser::new(&app), denied_code).await;
    let page = html_page(enter_code(&browser, denied_code).await, 200).await;
    assert!(text_of(&page, CODE_NOT_VALID), "{page}");
    // Expired.
    let expired = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
    app.clock.advance(DEVICE_CODE_TTL);
    let page = html_page(
        enter_code(&browser, expired["user_code"].as_str().unwrap()).await,
        200,
    )
    .await;
    assert!(text_of(&page, CODE_NOT_VALID), "{page}");
    // Not even the shape of a code: a different hint, nothing looked up.
    let page = html_page(enter_code(&browser, "AEIO-U123").await, 200).await;
    assert!(page.contains("8-letter code"), "{page}");
    assert!(!text_of(&page, CODE_NOT_VALID));
}

#[tokio::test]
async fn device_page_locks_after_ten_wrong_codes() {
    let app = start().await;
    let started = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
    let right = started["user_code"].as_str().unwrap();
    let wrong = if right == "BCDF-GHJK" {
        "BCDF-GHJL"
    } else {
        "BCDF-GHJK"
    };
    let browser = Browser::new(&app);
    for n in 1..10 {
        let page = html_page(enter_code(&browser, wrong).await, 200).await;
        assert!(text_of(&page, CODE_NOT_VALID), "wrong code {n}");
    }
    // The tenth wrong code: the page says to wait (429, Retry-After).
    let r = enter_code(&browser, wrong).await;
    assert_eq!(r.headers()["retry-after"], "60");
    let page = html_page(r, 429).await;
    assert!(page.contains("Too many wrong codes"), "{page}");
    // Now even the right code is not looked up (no oracle while locked) ...
    let r = enter_code(&browser, right).await;
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(r.status(), 429);
    // ... and another browser from the same address is locked too.
    let r = enter_code(&Browser::new(&app), right).await;
    assert_eq!(r.status(), 429);
}

#[tokio::test]
async fn device_page_right_code_does_not_reset_the_wrong_code_limit() {
    let app = start().await;
    let mut mine = Vec::new();
    for _ in 0..3 {
        let started = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
        mine.push(started["user_code"].as_str().unwrap().to_owned());
    }
    let wrong = ["BCDF-GHJK", "BCDF-GHJL", "BCDF-GHJM", "BCDF-GHJN"]
        .into_iter()
        .find(|c| !mine.iter().any(|m| m == c))
        .unwrap();
    let browser = Browser::new(&app);
    for n in 1..10 {
        let page = html_page(enter_code(&browser, wrong).await, 200).await;
        assert!(text_of(&page, CODE_NOT_VALID), "wrong code {n}");
    }
    // Right codes (anyone can mint them) go on, and are not counted ...
    for code in &mine[..2] {
        assert_eq!(enter_code(&browser, code).await.status(), 303);
    }
    // ... but reset nothing: the next wrong code is still the tenth in a row.
    let r = enter_code(&browser, wrong).await;
    assert_eq!(r.headers()["retry-after"], "60");
    let page = html_page(r, 429).await;
    assert!(page.contains("Too many wrong codes"), "{page}");
    // Locked: the last right code is not looked up, from this browser or another.
    assert_eq!(enter_code(&browser, &mine[2]).await.status(), 429);
    assert_eq!(
        enter_code(&Browser::new(&app), &mine[2]).await.status(),
        429
    );
}

#[tokio::test]
async fn device_authorization_is_rate_limited_per_ip() {
    let app = start().await;
    let form = [("client_id", TV), ("scope", "read:orders")];
    for _ in 0..30 {
        start_raw(&app, &form, None).await;
    }
    // The 31st from this address within the minute: 429, whoever the client is.
    let r = post(&app, "/device_authorization", &form, None).await;
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    pinned(
        r,
        429,
        json!({
            "error": "invalid_request",
            "error_description": "too many device authorization requests; retry later",
        }),
    )
    .await;
    let r = post(
        &app,
        "/device_authorization",
        &[("scope", "openid")],
        Some((CONSOLE, CONSOLE_SECRET)),
    )
    .await;
    assert_eq!(r.status(), 429);
}

/// Issue 12: a request with two `Authorization` headers still counts against its
/// address's limit (the limit comes first, as before the extractor existed).
#[tokio::test]
async fn device_authorization_counts_two_authorization_headers_against_the_limit() {
    let app = start().await;
    let form = [("client_id", TV), ("scope", "read:orders")];
    for _ in 0..29 {
        start_raw(&app, &form, None).await;
    }
    let two_headers = || {
        app.http
            .post(app.url("/device_authorization"))
            .header("authorization", "Basic eDp5")
            .header("authorization", "Basic eDp6")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("client_id=tv&scope=read%3Aorders")
            .send()
    };
    let r = two_headers().await.unwrap();
    pinned(
        r,
        400,
        json!({"error": "invalid_request", "error_description": "send one Authorization header, not several"}),
    )
    .await;
    // That was the 30th request of this address: the 31st is refused, headers or not.
    let r = two_headers().await.unwrap();
    assert_eq!(r.status(), 429);
}

#[tokio::test]
async fn device_pending_request_keeps_the_user_code_sealed() {
    let app = start().await;
    let started = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
    let user_code = started["user_code"].as_str().unwrap();
    let browser = Browser::new(&app);
    let r = enter_code(&browser, user_code).await;
    let to = location(&r);
    let id = url::Url::parse(&app.url(&to))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "request")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let compact = user_code.replace('-', "");
    assert!(!id.contains(user_code) && !id.contains(&compact), "{id}");
    let pending = portcullis_core::authorization::pending::sealed::open(
        app.app.state().request_sealer(),
        &id,
        app.clock.now(),
    )
    .unwrap();
    let sealed = pending.device.unwrap().sealed_user_code;
    assert!(
        !sealed.contains(user_code) && !sealed.contains(&compact),
        "{sealed}"
    );
    // The consent page still shows it (opened with the master key).
    assert!(consent_page(&browser, user_code).await.contains(user_code));
}

#[tokio::test]
async fn device_page_rejects_missing_csrf() {
    let app = start().await;
    let started = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
    let user_code = started["user_code"].as_str().unwrap();
    let browser = Browser::new(&app);
    let _ = entry_form(&browser, "/device").await; // the browser has its cookie
    // No token.
    let r = browser
        .post_form("/device", &[("user_code".into(), user_code.into())])
        .await;
    let page = html_page(r, 400).await;
    assert!(page.contains("This form has expired"), "{page}");
    // Another browser's token (a forged cross-site form would not even send our cookie).
    let other = Browser::new(&app);
    let (_, other_form) = entry_form(&other, "/device").await;
    let mut fields = other_form.hidden.clone();
    fields.push(("user_code".into(), user_code.into()));
    assert_eq!(browser.post_form("/device", &fields).await.status(), 400);
    // No cookie at all (a cross-site POST under SameSite=Lax).
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = bare
        .post(app.url("/device"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "csrf_token={}&user_code={user_code}",
            other_form.hidden("csrf_token").unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The code is untouched: the rightful user still gets on.
    assert_eq!(enter_code(&browser, user_code).await.status(), 303);
}

#[tokio::test]
async fn device_consent_shows_user_code_and_client() {
    let app = start().await;
    let started = start_raw(
        &app,
        &[("client_id", TV), ("scope", "openid read:orders")],
        None,
    )
    .await;
    let user_code = started["user_code"].as_str().unwrap();
    let browser = Browser::new(&app);
    let r = enter_code(&browser, user_code).await;
    let login = browser.page(r).await;
    assert!(
        login.contains("Living Room TV"),
        "the login page names the client"
    );
    let r = browser.login(&login, ALICE, ALICE_PASSWORD).await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(to.starts_with("/consent?"), "{to}");
    let page_response = browser.get(&to).await;
    let csp = page_response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("form-action 'self';"),
        "no redirect origin: {csp}"
    );
    let page = html_page(page_response, 200).await;
    assert_no_script(&page);
    assert!(page.contains("Living Room TV"), "{page}");
    assert!(
        page.contains("Confirm this code matches the one on your device"),
        "{page}"
    );
    assert!(page.contains(user_code), "{page}");
    assert!(page.contains("Read your orders"), "scopes in plain words");
    assert!(page.contains("Know who you are"), "{page}");
    let form = Form::find(&page, "/consent").unwrap();
    assert!(form.hidden("csrf_token").is_some());
    let decisions: Vec<&str> = form.buttons.iter().map(|(_, v)| v.as_str()).collect();
    assert_eq!(decisions, ["approve", "deny"]);
    let done = browser.approve(&page).await;
    assert!(
        done.headers().get("location").is_none(),
        "a page, not a redirect"
    );
    let done = html_page(done, 200).await;
    assert!(done.contains("Device connected"), "{done}");
    assert!(done.contains("return to your device"), "{done}");
    // Submitting the same consent form again changes nothing.
    let again = browser.approve(&page).await;
    assert_eq!(again.status(), 400);
}

#[tokio::test]
async fn device_consent_after_expiry_records_nothing() {
    let app = start().await;
    let started = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
    // The user is slow: the code is entered half-way through its life ...
    app.clock.advance(DEVICE_CODE_TTL / 2);
    let browser = Browser::new(&app);
    let page = consent_page(&browser, started["user_code"].as_str().unwrap()).await;
    // ... and the device code expires while the consent page is open (the pending
    // request, 10 minutes from the entry, is still there).
    app.clock.advance(DEVICE_CODE_TTL / 2);
    let r = browser.approve(&page).await;
    assert!(r.headers().get("location").is_none());
    let body = html_page(r, 400).await;
    assert!(body.contains("This code has expired"), "{body}");
    assert!(body.contains("Start again on your device"), "{body}");
    assert_eq!(
        error_of(
            poll(&app, started["device_code"].as_str().unwrap()).await,
            400
        )
        .await,
        "expired_token"
    );
}

#[tokio::test]
async fn device_page_reuses_browser_session() {
    let app = start().await;
    let browser = Browser::new(&app);
    let first = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
    approve(&browser, first["user_code"].as_str().unwrap()).await;
    // Second device: no login page, straight to the consent page (always shown).
    let second = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
    let r = enter_code(&browser, second["user_code"].as_str().unwrap()).await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(to.starts_with("/consent?"), "no second login: {to}");
    let page = browser.page(r).await;
    assert!(page.contains(second["user_code"].as_str().unwrap()));
    let done = html_page(browser.approve(&page).await, 200).await;
    assert!(done.contains("Device connected"));
    let r = poll(&app, second["device_code"].as_str().unwrap()).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let claims = verify_access_token(
        body["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        API,
    );
    assert_eq!(claims["sub"], user_id(&app, ALICE).await.as_str());
}

#[tokio::test]
async fn discovery_advertises_device_authorization() {
    let app = start().await;
    let metadata: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["device_authorization_endpoint"],
        app.url("/device_authorization")
    );
    assert!(
        metadata["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(DEVICE_GRANT)),
        "{metadata}"
    );
}

#[tokio::test]
async fn dev_demo_cli_client_starts_a_device_authorization() {
    let app = start().await;
    let state = app.app.state();
    portcullis_server::app::admin::dev::seed(
        state.store().as_ref(),
        state.config(),
        app.clock.now(),
    )
    .await
    .unwrap();
    let body = start_raw(
        &app,
        &[("client_id", "demo-cli"), ("scope", "openid read:orders")],
        None,
    )
    .await;
    assert!(body["user_code"].as_str().is_some());
}

// Descriptions pinned from core's reasons (RFC 6749 §5.2 characters only).
const PENDING_DESCRIPTION: &str =
    "the user has not yet approved or denied the request; poll again after the interval";
const DENIED_DESCRIPTION: &str = "the user denied the request";
const EXPIRED_DESCRIPTION: &str = "the device code has expired; start a new device authorization";
const SLOW_DOWN_DESCRIPTION: &str =
    "polling too fast: wait at least 6 seconds between requests (the interval grew by 5)";
const USED_DESCRIPTION: &str = "the device code was already used";
/// Unknown and another client's codes alike (no oracle).
const UNKNOWN_DESCRIPTION: &str = "the device code is invalid";
const MISSING_DESCRIPTION: &str = "the device_code parameter is missing";
/// The verification page's message for unknown, expired, used and denied codes.
const CODE_NOT_VALID: &str = "That code is not valid or has expired.";

/// A reviewer finding: `revoke --user` (and a password change) left a device code the
/// user had approved and the device had not yet polled, so the device got fresh tokens
/// after the incident response. The approval is withdrawn with the rest.
#[tokio::test]
async fn rejects_a_device_code_approved_before_revoke_user() {
    let app = start().await;
    let started = start_raw(&app, &[("client_id", TV), ("scope", "read:orders")], None).await;
    let browser = Browser::new(&app);
    approve(&browser, started["user_code"].as_str().unwrap()).await;
    let out = crate::cli::json_out(&crate::cli::cli(
        &app,
        &["revoke", "--user", ALICE, "--output", "json"],
        None,
    ));
    assert_eq!(out["pending_grants"], 1, "{out}");
    let error = error_of(
        poll(&app, started["device_code"].as_str().unwrap()).await,
        400,
    )
    .await;
    assert!(
        error == "invalid_grant" || error == "expired_token",
        "no token after the revocation: {error}"
    );
}
