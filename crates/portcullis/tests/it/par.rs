//! RFC 9126 pushed authorization requests: the client pushes its request to `/par`
//! (reqwest: neither `oauth2` nor `openidconnect` implements PAR), the browser carries
//! `client_id` and the `request_uri` to `/authorize`, and the `oauth2` crate redeems
//! the code as an independent client. One named test per rejection, pinning status,
//! `error` and the relevant header: JSON at `/par` (§2.3, never a redirect), the HTML
//! error page at `/authorize` for a `request_uri` that cannot be redeemed (§4).

use crate::flow::{
    self, ALICE, ALICE_PASSWORD, API, Browser, SPA, SPA_REDIRECT, STATE, WEB, WEB_REDIRECT,
    location, pkce, redirect_params,
};
use crate::support::{TestApp, WEB_SECRET, basic_header, oauth2_http, verify_access_token};
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, PkceCodeVerifier, RedirectUrl,
    TokenResponse, TokenUrl,
};
use portcullis_core::clock::Clock;
use serde_json::Value;
use tempfile::TempDir;

/// A client that must use PAR (RFC 9126 §6).
const STRICT: &str = "strict";
const STRICT_SECRET: &str = "strict-secret-0123456789abcdefghijklmn";
const STRICT_REDIRECT: &str = "https://strict.example.com/callback";
const STRICT_CLIENT: &str = r#"
[[clients]]
client_id = "strict"
client_secret = "strict-secret-0123456789abcdefghijklmn"
redirect_uris = ["https://strict.example.com/callback"]
scopes = ["openid"]
audiences = ["https://api.example.com"]
require_pushed_authorization_requests = true
"#;
const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

async fn start() -> TestApp {
    let config = format!("{}{STRICT_CLIENT}", flow::CONFIG);
    TestApp::start_in(TempDir::new().unwrap(), &config).await
}

/// The authorization request parameters of `web` (PKCE, `openid read:orders`).
fn web_request(challenge: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("redirect_uri", WEB_REDIRECT.into()),
        ("scope", "openid read:orders".into()),
        ("state", STATE.into()),
        ("code_challenge", challenge.into()),
        ("code_challenge_method", "S256".into()),
    ]
}

/// `POST /par` with `form`, HTTP Basic when `basic` is given.
async fn push(
    app: &TestApp,
    basic: Option<(&str, &str)>,
    form: &[(&str, String)],
) -> reqwest::Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut request = app
        .http
        .post(app.url("/par"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some((id, secret)) = basic {
        request = request.header("authorization", basic_header(id, secret));
    }
    request.send().await.unwrap()
}

/// Pushes `web`'s request (Basic); asserts the 201 answer and returns the `request_uri`.
async fn push_web(app: &TestApp, challenge: &str) -> String {
    let r = push(app, Some((WEB, WEB_SECRET)), &web_request(challenge)).await;
    created(r).await
}

/// Asserts RFC 9126 §2.2's 201 answer; returns the `request_uri`.
async fn created(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["expires_in"], 60, "{body}");
    let uri = body["request_uri"].as_str().unwrap().to_owned();
    let reference = uri.strip_prefix(PREFIX).unwrap();
    // 256 bits, base64url without padding.
    assert_eq!(reference.len(), 43, "{uri}");
    assert!(
        reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    uri
}

/// `GET /authorize?client_id=…&request_uri=…` (plus `extra`).
async fn authorize_pushed(
    browser: &Browser,
    client_id: &str,
    request_uri: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut pairs = vec![("client_id", client_id), ("request_uri", request_uri)];
    pairs.extend_from_slice(extra);
    browser
        .get(&format!("/authorize?{}", flow::encode(&pairs)))
        .await
}

/// Asserts a JSON error at `/par`: `status`, `error`, `no-store`, never a `Location`.
async fn assert_json_error(r: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(r.status(), status);
    assert!(r.headers().get("location").is_none(), "never a redirect");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    body
}

/// Asserts the HTML error page of `/authorize`: 400, no `Location`; returns the text.
async fn assert_error_page(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none(), "never a redirect");
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    r.text().await.unwrap()
}

/// Asserts a 303 to the login page (the request was accepted).
fn assert_to_login(r: &reqwest::Response) {
    assert_eq!(r.status(), 303);
    let to = location(r);
    assert!(to.starts_with("/login?"), "{to}");
}

#[tokio::test]
async fn oauth2_client_completes_the_code_flow_through_par() {
    let app = start().await;
    let (challenge, verifier) = pkce();
    let request_uri = push_web(&app, &challenge).await;
    let browser = Browser::new(&app);
    let r = authorize_pushed(&browser, WEB, &request_uri, &[]).await;
    let (to, shown) = browser.complete(r, ALICE, ALICE_PASSWORD).await;
    assert_eq!(shown, ["login", "consent"]);
    let params = redirect_params(&to, WEB_REDIRECT);
    assert_eq!(params["state"], STATE, "the pushed state");
    assert_eq!(params["iss"], app.base);

    let client = BasicClient::new(ClientId::new(WEB.into()))
        .set_client_secret(ClientSecret::new(WEB_SECRET.into()))
        .set_auth_uri(AuthUrl::new(app.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(WEB_REDIRECT.into()).unwrap());
    let http = oauth2_http(
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    );
    let token = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&http)
        .await
        .unwrap();
    let jwks = app.jwks().await;
    let claims = verify_access_token(token.access_token().secret(), &jwks, &app.base, API);
    assert_eq!(claims["client_id"], WEB);
    assert_eq!(claims["scope"], "openid read:orders");
}

#[tokio::test]
async fn front_channel_parameters_beside_a_request_uri_are_ignored() {
    let app = start().await;
    let request_uri = push_web(&app, &pkce().0).await;
    let browser = Browser::new(&app);
    // RFC 9126 §4: only the pushed request counts (a redirect_uri, scope or state
    // added in the browser changes nothing).
    let extra = [
        ("redirect_uri", "https://evil.example/callback"),
        ("state", "forged"),
        ("scope", "openid profile email"),
    ];
    let r = authorize_pushed(&browser, WEB, &request_uri, &extra).await;
    let (to, _) = browser.complete(r, ALICE, ALICE_PASSWORD).await;
    let params = redirect_params(&to, WEB_REDIRECT);
    assert_eq!(params["state"], STATE);
    assert!(params.contains_key("code"));
}

#[tokio::test]
async fn public_client_pushes_with_its_client_id() {
    let app = start().await;
    let form = [
        ("client_id", SPA.to_owned()),
        ("response_type", "code".into()),
        ("redirect_uri", SPA_REDIRECT.into()),
        ("scope", "openid".into()),
        ("code_challenge", pkce().0),
        ("code_challenge_method", "S256".into()),
    ];
    let request_uri = created(push(&app, None, &form).await).await;
    let r = authorize_pushed(&Browser::new(&app), SPA, &request_uri, &[]).await;
    assert_to_login(&r);
}

#[tokio::test]
async fn rejects_a_request_uri_used_twice() {
    let app = start().await;
    let request_uri = push_web(&app, &pkce().0).await;
    let browser = Browser::new(&app);
    assert_to_login(&authorize_pushed(&browser, WEB, &request_uri, &[]).await);
    let page = assert_error_page(authorize_pushed(&browser, WEB, &request_uri, &[]).await).await;
    assert!(page.contains("already used"), "{page}");
}

#[tokio::test]
async fn rejects_an_expired_request_uri() {
    let app = start().await;
    let t0 = app.clock.now();
    let uris = [
        push_web(&app, &pkce().0).await,
        push_web(&app, &pkce().0).await,
        push_web(&app, &pkce().0).await,
    ];
    let browser = Browser::new(&app);
    app.clock.set(t0 + 59);
    assert_to_login(&authorize_pushed(&browser, WEB, &uris[0], &[]).await);
    for (uri, at) in [(&uris[1], t0 + 60), (&uris[2], t0 + 61)] {
        app.clock.set(at);
        let page = assert_error_page(authorize_pushed(&browser, WEB, uri, &[]).await).await;
        assert!(page.contains("expired"), "{page}");
    }
}

#[tokio::test]
async fn rejects_another_clients_request_uri() {
    let app = start().await;
    let request_uri = push_web(&app, &pkce().0).await;
    let browser = Browser::new(&app);
    assert_error_page(authorize_pushed(&browser, SPA, &request_uri, &[]).await).await;
    // Left to its own client.
    assert_to_login(&authorize_pushed(&browser, WEB, &request_uri, &[]).await);
}

#[tokio::test]
async fn rejects_an_unknown_request_uri() {
    let app = start().await;
    let browser = Browser::new(&app);
    let forged = format!("{PREFIX}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    assert_error_page(authorize_pushed(&browser, WEB, &forged, &[]).await).await;
    // Without client_id (RFC 9126 §4 requires it): the error page too.
    let r = browser
        .get(&format!(
            "/authorize?{}",
            flow::encode(&[("request_uri", &forged)])
        ))
        .await;
    assert_error_page(r).await;
}

#[tokio::test]
async fn rejects_plain_authorize_for_a_client_that_requires_par() {
    let app = start().await;
    let browser = Browser::new(&app);
    let plain = [
        ("response_type", "code"),
        ("client_id", STRICT),
        ("redirect_uri", STRICT_REDIRECT),
        ("scope", "openid"),
        ("state", STATE),
        ("code_challenge", &pkce().0),
        ("code_challenge_method", "S256"),
    ];
    let r = browser
        .get(&format!("/authorize?{}", flow::encode(&plain)))
        .await;
    assert_eq!(r.status(), 303);
    let params = redirect_params(&location(&r), STRICT_REDIRECT);
    assert_eq!(params["error"], "invalid_request", "{params:?}");
    assert!(
        params["error_description"].contains("RFC 9126"),
        "{params:?}"
    );
    assert_eq!(params["state"], STATE);
    assert_eq!(params["iss"], app.base);
    assert!(!params.contains_key("code"));
    // Through PAR it goes on.
    let form: Vec<(&str, String)> = plain
        .iter()
        .filter(|(k, _)| *k != "client_id")
        .map(|(k, v)| (*k, (*v).to_owned()))
        .collect();
    let request_uri = created(push(&app, Some((STRICT, STRICT_SECRET)), &form).await).await;
    assert_to_login(&authorize_pushed(&browser, STRICT, &request_uri, &[]).await);
}

#[tokio::test]
async fn rejects_plain_authorize_when_the_server_requires_par() {
    let config = format!(
        "{}\n[authorization]\nrequire_pushed_authorization_requests = true\n",
        flow::CONFIG
    );
    let app = TestApp::start_in(TempDir::new().unwrap(), &config).await;
    let discovery: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["require_pushed_authorization_requests"], true);
    let (challenge, _) = pkce();
    let browser = Browser::new(&app);
    let r = browser.authorize(&flow::AuthRequest::web(&challenge)).await;
    assert_eq!(r.status(), 303);
    let params = redirect_params(&location(&r), WEB_REDIRECT);
    assert_eq!(params["error"], "invalid_request", "{params:?}");
    assert_eq!(params["state"], STATE);
    let request_uri = push_web(&app, &challenge).await;
    assert_to_login(&authorize_pushed(&browser, WEB, &request_uri, &[]).await);
}

#[tokio::test]
async fn rejects_an_unregistered_redirect_uri_at_par() {
    let app = start().await;
    let mut form = web_request(&pkce().0);
    form[1].1 = "https://evil.example/callback".into();
    let r = push(&app, Some((WEB, WEB_SECRET)), &form).await;
    let body = assert_json_error(r, 400, "invalid_request").await;
    assert!(
        !body.to_string().contains("evil.example/callback?"),
        "{body}"
    );
}

#[tokio::test]
async fn rejects_a_scope_not_allowed_at_par() {
    let app = start().await;
    let mut form = web_request(&pkce().0);
    form[2].1 = "openid admin".into();
    let r = push(&app, Some((WEB, WEB_SECRET)), &form).await;
    assert_json_error(r, 400, "invalid_scope").await;
}

#[tokio::test]
async fn rejects_a_nested_request_uri_at_par() {
    let app = start().await;
    let mut form = web_request(&pkce().0);
    form.push(("request_uri", format!("{PREFIX}nested")));
    let r = push(&app, Some((WEB, WEB_SECRET)), &form).await;
    let body = assert_json_error(r, 400, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("request_uri"),
        "{body}"
    );
}

#[tokio::test]
async fn rejects_an_unauthenticated_confidential_client_at_par() {
    let app = start().await;
    let mut form = web_request(&pkce().0);
    form.push(("client_id", WEB.into()));
    let r = push(&app, None, &form).await;
    assert_json_error(r, 401, "invalid_client").await;
    // A wrong secret over Basic: 401 with the Basic challenge (RFC 6749 §5.2).
    let r = push(
        &app,
        Some((WEB, "wrong-secret-0123456789abcdefghijklmn")),
        &web_request(&pkce().0),
    )
    .await;
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic"),
        "{:?}",
        r.headers()
    );
    assert_json_error(r, 401, "invalid_client").await;
}

#[tokio::test]
async fn rejects_a_body_client_id_of_another_client_at_par() {
    let app = start().await;
    let mut form = web_request(&pkce().0);
    form.push(("client_id", SPA.into()));
    let r = push(&app, Some((WEB, WEB_SECRET)), &form).await;
    assert_json_error(r, 400, "invalid_request").await;
}

#[tokio::test]
async fn rejects_get_at_par() {
    let app = start().await;
    let r = app.http.get(app.url("/par")).send().await.unwrap();
    assert_eq!(r.headers()["allow"], "POST");
    assert_json_error(r, 405, "invalid_request").await;
}

#[tokio::test]
async fn discovery_advertises_the_par_endpoint() {
    let app = start().await;
    let discovery: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        discovery["pushed_authorization_request_endpoint"],
        app.url("/par")
    );
    assert_eq!(discovery["require_pushed_authorization_requests"], false);
}

#[tokio::test]
async fn par_answers_cors_for_a_client_origin_like_the_token_endpoint() {
    let app = start().await;
    let origin = "https://spa.example.com";
    let r = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/par"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], origin);
    assert!(
        r.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    let form = [
        ("client_id", SPA.to_owned()),
        ("response_type", "code".into()),
        ("redirect_uri", SPA_REDIRECT.into()),
        ("scope", "openid".into()),
        ("code_challenge", pkce().0),
        ("code_challenge_method", "S256".into()),
    ];
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&form)
        .finish();
    let r = app
        .http
        .post(app.url("/par"))
        .header("origin", origin)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], origin);
    created(r).await;
    // A page of another origin is refused, and cannot read the answer.
    let r = app
        .http
        .post(app.url("/par"))
        .header("origin", "https://app.example.com")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert_json_error(r, 400, "invalid_request").await;
}

/// Each push stores a row for `par_ttl` seconds and a public client's id is enough
/// to push: 60 a minute per address, then 429 with `Retry-After`, whoever the client.
#[tokio::test]
async fn rejects_pushes_over_the_address_budget() {
    let app = start().await;
    let form = [
        ("client_id", SPA.to_owned()),
        ("response_type", "code".into()),
        ("redirect_uri", SPA_REDIRECT.into()),
        ("scope", "openid".into()),
        ("code_challenge", pkce().0),
        ("code_challenge_method", "S256".into()),
    ];
    for _ in 0..60 {
        created(push(&app, None, &form).await).await;
    }
    let r = push(&app, None, &form).await;
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body = assert_json_error(r, 429, "invalid_request").await;
    assert_eq!(
        body["error_description"],
        "too many pushed authorization requests; retry later"
    );
    let r = push(&app, Some((WEB, WEB_SECRET)), &web_request(&pkce().0)).await;
    assert_eq!(
        r.status(),
        429,
        "a confidential client from the same address too"
    );
}
