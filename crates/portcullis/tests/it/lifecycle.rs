//! Shared by the token lifecycle tests (`refresh`, `refresh_race`, `introspection`,
//! `revocation`): a configuration whose clients may refresh and introspect, and raw
//! helpers for the three endpoints (`/token` with `grant_type=refresh_token`,
//! `/introspect`, `/revoke`) used on the rejection paths.
//!
//! Which client may see which token at introspection (the policy under test): the
//! client the token was issued to, and, for access tokens, a confidential client
//! whose `introspection_audiences` include the token's `aud`. Everyone else gets
//! `{"active": false}`.

use crate::flow::{
    ALICE, ALICE_PASSWORD, AuthRequest, Browser, NATIVE, WEB, pkce, redeem_native, redeem_web,
    token_ok,
};
use crate::support::{TestApp, WEB_SECRET};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tempfile::TempDir;

/// A confidential resource server for [`crate::support::API`]: it may introspect
/// tokens whose `aud` includes it.
pub const ORDERS_API: &str = "orders-api";
/// Its secret.
pub const ORDERS_API_SECRET: &str = "orders-api-secret-0123456789abcdefghij";
/// A confidential resource server for [`BILLING`] only.
pub const BILLING_API: &str = "billing-api";
/// Its secret.
pub const BILLING_API_SECRET: &str = "billing-api-secret-0123456789abcdefghi";
/// The billing API (an audience of `web`, not of `native`).
pub const BILLING: &str = "https://billing.example.com";

/// A second confidential client with the refresh grant (to present `web`'s tokens).
pub const OTHER_WEB: &str = "other-web";
/// Its secret.
pub const OTHER_WEB_SECRET: &str = "other-web-secret-0123456789abcdefghijk";
/// A confidential client registered for `authorization_code` only (no refresh grant).
pub const NO_REFRESH: &str = "no-refresh";
/// Its secret.
pub const NO_REFRESH_SECRET: &str = "no-refresh-secret-0123456789abcdefghij";
/// Its registered redirect URI.
pub const NO_REFRESH_REDIRECT: &str = "https://norefresh.example.com/callback";

/// `[tokens] refresh_token_ttl` in [`CONFIG`].
pub const REFRESH_TTL: i64 = 86_400;
/// `[tokens] access_token_ttl` in [`CONFIG`].
pub const ACCESS_TTL: i64 = 900;

/// Users as in [`crate::flow::CONFIG`]; `native` and `web` as there (same ids, redirect
/// URIs and secret, so the `flow` helpers work) but with the `refresh_token` grant and
/// `offline_access`; two resource servers; another refreshing client; one without the
/// refresh grant.
pub const CONFIG: &str = r#"
[tokens]
access_token_ttl = 900
authorization_code_ttl = 60
session_ttl = 3600
refresh_token_ttl = 86400

[[users]]
username = "alice"
password = "alice-password-1"
email = "alice@example.com"
name = "Alice Liddell"

[[users]]
username = "bob"
password = "bob-password-123"

[[clients]]
client_id = "native"
redirect_uris = ["http://127.0.0.1/callback"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "email", "offline_access", "read:orders"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "web"
client_secret = "web-secret-0123456789abcdefghijklmnopq"
redirect_uris = ["https://app.example.com/callback"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "profile", "email", "offline_access", "read:orders"]
audiences = ["https://api.example.com", "https://billing.example.com"]

[[clients]]
client_id = "other-web"
client_secret = "other-web-secret-0123456789abcdefghijk"
redirect_uris = ["https://other.example.com/callback"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "read:orders"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "no-refresh"
client_secret = "no-refresh-secret-0123456789abcdefghij"
redirect_uris = ["https://norefresh.example.com/callback"]
grant_types = ["authorization_code"]
scopes = ["openid", "read:orders"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "orders-api"
client_secret = "orders-api-secret-0123456789abcdefghij"
grant_types = ["client_credentials"]
scopes = ["read:orders"]
audiences = ["https://api.example.com"]
introspection_audiences = ["https://api.example.com"]

[[clients]]
client_id = "billing-api"
client_secret = "billing-api-secret-0123456789abcdefghi"
grant_types = ["client_credentials"]
scopes = ["read:orders"]
audiences = ["https://billing.example.com"]
introspection_audiences = ["https://billing.example.com"]
"#;

/// [`CONFIG`] with `[tokens] refresh_token_reuse_grace = grace`.
pub fn config_with_grace(grace: i64) -> String {
    CONFIG.replacen(
        "[tokens]\n",
        &format!("[tokens]\nrefresh_token_reuse_grace = {grace}\n"),
        1,
    )
}

/// A server with [`CONFIG`] in a fresh data directory.
pub async fn start() -> TestApp {
    TestApp::start_in(TempDir::new().unwrap(), CONFIG).await
}

/// How a client authenticates at `/token`, `/introspect` and `/revoke`.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// `client_secret_basic`.
    Basic(&'a str, &'a str),
    /// A public client: `client_id` in the body.
    Public(&'a str),
    /// No client authentication at all.
    Nothing,
}

/// `web`, with its secret in a Basic header.
pub const WEB_AUTH: Auth<'static> = Auth::Basic(WEB, WEB_SECRET);
/// `native`, with its client id in the body.
pub const NATIVE_AUTH: Auth<'static> = Auth::Public(NATIVE);
/// The resource server of the API.
pub const ORDERS_API_AUTH: Auth<'static> = Auth::Basic(ORDERS_API, ORDERS_API_SECRET);
/// The resource server of the billing API.
pub const BILLING_API_AUTH: Auth<'static> = Auth::Basic(BILLING_API, BILLING_API_SECRET);

/// POSTs `form` to `path` with `auth`.
pub async fn post_form(
    app: &TestApp,
    path: &str,
    form: &[(&str, &str)],
    auth: Auth<'_>,
) -> reqwest::Response {
    post_form_to(&app.http, &app.base, path, form, auth).await
}

/// POSTs `form` to `base` + `path` with `auth` (for a server in another process).
pub async fn post_form_to(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    form: &[(&str, &str)],
    auth: Auth<'_>,
) -> reqwest::Response {
    let mut pairs = form.to_vec();
    let mut request = http
        .post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded");
    match auth {
        Auth::Basic(id, secret) => {
            request = request.header("authorization", crate::support::basic_header(id, secret));
        }
        Auth::Public(id) => pairs.push(("client_id", id)),
        Auth::Nothing => {}
    }
    request
        .body(crate::flow::encode(&pairs))
        .send()
        .await
        .unwrap()
}

/// `grant_type=refresh_token` at `/token`, with `scope` if given.
pub async fn refresh(
    app: &TestApp,
    auth: Auth<'_>,
    refresh_token: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    post_form(app, "/token", &form, auth).await
}

/// `POST /introspect`; asserts 200, JSON and `no-store`, and returns the body.
pub async fn introspect(app: &TestApp, auth: Auth<'_>, token: &str, hint: Option<&str>) -> Value {
    let mut form = vec![("token", token)];
    if let Some(hint) = hint {
        form.push(("token_type_hint", hint));
    }
    let r = post_form(app, "/introspect", &form, auth).await;
    introspection_body(r).await
}

/// Asserts a 200 introspection answer (JSON, `no-store`) and returns its body.
pub async fn introspection_body(r: reqwest::Response) -> Value {
    let status = r.status();
    let headers = r.headers().clone();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(headers["cache-control"], "no-store", "RFC 7662 §2.2");
    body
}

/// Whether `token` is active for `auth` at introspection; an inactive answer must be
/// exactly `{"active": false}` (RFC 7662 §2.2: nothing more about a token the caller
/// may not see).
pub async fn is_active(app: &TestApp, auth: Auth<'_>, token: &str) -> bool {
    let body = introspect(app, auth, token, None).await;
    if body["active"] == Value::Bool(true) {
        return true;
    }
    assert_eq!(body, serde_json::json!({"active": false}));
    false
}

/// `POST /revoke`.
pub async fn revoke(
    app: &TestApp,
    auth: Auth<'_>,
    token: &str,
    hint: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![("token", token)];
    if let Some(hint) = hint {
        form.push(("token_type_hint", hint));
    }
    post_form(app, "/revoke", &form, auth).await
}

/// Asserts an OAuth error answer (RFC 6749 §5.2): `status`, JSON, `no-store`, `error`
/// = `code` with a description and nothing else; returns the body.
pub async fn assert_error(r: reqwest::Response, status: u16, code: &str) -> Value {
    let actual = r.status().as_u16();
    let headers = r.headers().clone();
    let body: Value = r.json().await.unwrap();
    assert_eq!(actual, status, "{body}");
    assert_eq!(headers["cache-control"], "no-store", "RFC 6749 §5.1");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["error", "error_description"], "{body}");
    body
}

/// Pins a rejection (CONVENTIONS §9): [`assert_error`], and the whole body is exactly
/// `{"error": code, "error_description": description}`.
pub async fn assert_rejection(r: reqwest::Response, status: u16, code: &str, description: &str) {
    let body = assert_error(r, status, code).await;
    assert_eq!(
        body,
        serde_json::json!({"error": code, "error_description": description})
    );
}

/// Asserts 400 `invalid_grant`.
pub async fn assert_invalid_grant(r: reqwest::Response) -> Value {
    assert_error(r, 400, "invalid_grant").await
}

/// Alice signs in for `web` (`openid read:orders`, PKCE) in a new browser and redeems
/// the code: the token response.
pub async fn web_tokens(app: &TestApp) -> Value {
    web_tokens_for(app, "openid read:orders").await
}

/// As [`web_tokens`], with `scope`.
pub async fn web_tokens_for(app: &TestApp, scope: &str) -> Value {
    let (challenge, verifier) = pkce();
    let request = AuthRequest::web(&challenge).set("scope", scope);
    let (code, _) = Browser::new(app)
        .code(&request, ALICE, ALICE_PASSWORD)
        .await;
    token_ok(redeem_web(app, &code, Some(&verifier)).await).await
}

/// Alice signs in for `native` with `scope` (PKCE; a nonce for OpenID requests) in a
/// new browser and redeems the code: the token response.
pub async fn native_tokens(app: &TestApp, scope: &str) -> Value {
    let (challenge, verifier) = pkce();
    let mut request = AuthRequest::native(&challenge).set("scope", scope);
    if !scope.split(' ').any(|s| s == "openid") {
        request = request.remove("nonce");
    }
    let (code, _) = Browser::new(app)
        .code(&request, ALICE, ALICE_PASSWORD)
        .await;
    token_ok(redeem_native(app, &code, &verifier).await).await
}

/// The `refresh_token` of a token response (panics if there is none).
pub fn refresh_token_of(token: &Value) -> String {
    token["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh_token in {token}"))
        .to_owned()
}

/// The `access_token` of a token response.
pub fn access_token_of(token: &Value) -> String {
    token["access_token"].as_str().unwrap().to_owned()
}

/// The space-delimited `scope` as a sorted list.
pub fn scopes(scope: &Value) -> Vec<String> {
    let mut v: Vec<String> = scope
        .as_str()
        .unwrap_or_else(|| panic!("scope is not a string: {scope}"))
        .split(' ')
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

/// Verifies an id_token (RS256 for `web` and `native`) against the JWK Set: signature,
/// `iss`, `aud`; returns its claims.
pub fn verify_id_token(token: &str, jwks: &JwkSet, issuer: &str, audience: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let kid = header.kid.expect("kid");
    let key = DecodingKey::from_jwk(jwks.find(&kid).expect("kid in the JWKS")).unwrap();
    let mut validation = Validation::new(header.alg);
    assert_eq!(header.alg, Algorithm::RS256);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .unwrap()
        .claims
}

/// An authorization request for [`NO_REFRESH`] (`openid read:orders`, PKCE).
pub fn no_refresh_request(challenge: &str) -> AuthRequest {
    AuthRequest::new(NO_REFRESH, NO_REFRESH_REDIRECT)
        .set("scope", "openid read:orders")
        .set("code_challenge", challenge)
        .set("code_challenge_method", "S256")
}

/// The `https://` alias of a URL of our plain-HTTP loopback test server. The `oauth2`
/// crate refuses a revocation URL that is not `https` (RFC 7009 §5: TLS is required);
/// [`oauth2_http_tls_alias`] sends such a request to the real `http://` server.
pub fn tls_alias(app: &TestApp, path: &str) -> String {
    app.url(path).replacen("http://", "https://", 1)
}

/// Like [`crate::support::oauth2_http`], but a request to the [`tls_alias`] of `app`
/// goes to `app` itself over plain HTTP (loopback only).
pub fn oauth2_http_tls_alias(
    app: &TestApp,
) -> impl Fn(
    oauth2::HttpRequest,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<oauth2::HttpResponse, reqwest::Error>> + Send>,
> {
    let plain = crate::support::oauth2_http(app.http.clone());
    let alias = app.base.replacen("http://", "https://", 1);
    let base = app.base.clone();
    move |mut request: oauth2::HttpRequest| {
        let uri = request.uri().to_string();
        if let Some(rest) = uri.strip_prefix(&alias) {
            *request.uri_mut() = format!("{base}{rest}").parse().unwrap();
        }
        plain(request)
    }
}
