//! RFC 9449 DPoP at the authorization server: every grant binds its access token to
//! the key of a valid proof (`token_type` DPoP, `cnf.jkt`), public clients' refresh
//! tokens are bound to it, `dpop_jkt` binds the code, UserInfo takes `Authorization:
//! DPoP` with a proof carrying `ath`, introspection shows `cnf`, discovery lists the
//! algorithms. Proofs come from `portcullis_resource::dpop::DpopKey` (the client side,
//! independent of the server's checks) and, for each rejection, are built by hand.

use crate::flow::{ALICE, ALICE_PASSWORD, AuthRequest, Browser, location, pkce, redirect_params};
use crate::lifecycle::{Auth, assert_rejection, introspect};
use crate::support::{TestApp, basic_header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use portcullis_core::clock::Clock;
use portcullis_core::secret::generate_secret;
use portcullis_resource::dpop::DpopKey;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tempfile::TempDir;

/// A public native app that refreshes (`offline_access`).
const NATIVE: &str = "native";
const NATIVE_REDIRECT: &str = "http://127.0.0.1/callback";
/// A confidential web app that refreshes.
const WEB: &str = "web";
const WEB_SECRET: &str = "web-secret-0123456789abcdefghijklmnopq";
const WEB_REDIRECT: &str = "https://app.example.com/callback";
/// A machine client.
const SVC: &str = "svc";
const SVC_SECRET: &str = "svc-secret-0123456789abcdefghijklmnop";
/// A machine client registered with `dpop_bound_access_tokens = true`.
const BOUND_SVC: &str = "bound-svc";
const BOUND_SVC_SECRET: &str = "bound-svc-secret-0123456789abcdefghijkl";
/// A public device client that refreshes.
const TV: &str = "tv";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// `[dpop] proof_max_age` of [`CONFIG`], in seconds.
const MAX_AGE: i64 = 300;

/// Users and clients of the DPoP tests; `{dpop}` is replaced by the `[dpop]` table.
const CONFIG: &str = r#"
[tokens]
access_token_ttl = 900
device_poll_interval = 1

{dpop}

[[users]]
username = "alice"
password = "alice-password-1"

[[clients]]
client_id = "native"
redirect_uris = ["http://127.0.0.1/callback"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "offline_access"]
audiences = ["https://api.example.com"]
skip_consent = true

[[clients]]
client_id = "web"
client_secret = "web-secret-0123456789abcdefghijklmnopq"
redirect_uris = ["https://app.example.com/callback"]
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "read:orders"]
audiences = ["https://api.example.com"]
skip_consent = true

[[clients]]
client_id = "svc"
client_secret = "svc-secret-0123456789abcdefghijklmnop"
grant_types = ["client_credentials"]
scopes = ["read:orders"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "bound-svc"
client_secret = "bound-svc-secret-0123456789abcdefghijkl"
grant_types = ["client_credentials"]
scopes = ["read:orders"]
audiences = ["https://api.example.com"]
dpop_bound_access_tokens = true

[[clients]]
client_id = "tv"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
scopes = ["openid", "offline_access"]
audiences = ["https://api.example.com"]
"#;

async fn start() -> TestApp {
    TestApp::start_in(TempDir::new().unwrap(), &CONFIG.replace("{dpop}", "")).await
}

/// A server that requires DPoP nonces at the token endpoint.
async fn start_with_nonces() -> TestApp {
    let config = CONFIG.replace("{dpop}", "[dpop]\nrequire_nonce = true");
    TestApp::start_in(TempDir::new().unwrap(), &config).await
}

// --- proofs -----------------------------------------------------------------------------

/// The server's clock, for `iat`.
fn now(app: &TestApp) -> u64 {
    u64::try_from(app.clock.now()).unwrap()
}

/// A valid proof by `key` for `htm` on our `path`, issued at the server's now.
fn proof(app: &TestApp, key: &DpopKey, htm: &str, path: &str) -> String {
    key.proof_at(now(app), htm, &app.url(path), None, None)
        .unwrap()
}

/// A proof for `POST /token`.
fn token_proof(app: &TestApp, key: &DpopKey) -> String {
    proof(app, key, "POST", "/token")
}

/// A proof for `GET /userinfo` with `ath` for `access_token`.
fn userinfo_proof(app: &TestApp, key: &DpopKey, access_token: &str) -> String {
    key.proof_at(
        now(app),
        "GET",
        &app.url("/userinfo"),
        Some(access_token),
        None,
    )
    .unwrap()
}

/// The claims of a valid token-endpoint proof.
fn claims(app: &TestApp) -> Value {
    json!({
        "jti": random_jti(),
        "htm": "POST",
        "htu": app.url("/token"),
        "iat": now(app),
    })
}

/// A fresh random `jti` for a hand-built proof.
fn random_jti() -> String {
    generate_secret().unwrap().expose_secret().to_owned()
}

/// A compact JWS of `header` and `claims` signed by `key` with ES256 (built by hand,
/// so the header can say anything).
fn es256_jws(key: &DpopKey, header: &Value, claims: &Value) -> String {
    let input = signing_input(header, claims);
    let encoding = EncodingKey::from_ec_der(key.to_pkcs8_der());
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &encoding, Algorithm::ES256).unwrap();
    format!("{input}.{signature}")
}

/// `base64url(header).base64url(claims)`.
fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// The proof header of `key` with `alg`.
fn header(key: &DpopKey, alg: &str) -> Value {
    json!({"typ": "dpop+jwt", "alg": alg, "jwk": key.public_jwk()})
}

// --- requests ---------------------------------------------------------------------------

/// POSTs `form` to `/token` with `auth` and the given `DPoP` headers.
async fn token(
    app: &TestApp,
    form: &[(&str, &str)],
    auth: Auth<'_>,
    proofs: &[&str],
) -> reqwest::Response {
    let mut pairs = form.to_vec();
    let mut request = app
        .http
        .post(app.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded");
    match auth {
        Auth::Basic(id, secret) => {
            request = request.header("authorization", basic_header(id, secret))
        }
        Auth::Public(id) => pairs.push(("client_id", id)),
        Auth::Nothing => {}
    }
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    request
        .body(crate::flow::encode(&pairs))
        .send()
        .await
        .unwrap()
}

/// Client credentials for `svc`, with the given proofs.
async fn svc_token(app: &TestApp, proofs: &[&str]) -> reqwest::Response {
    token(
        app,
        &[("grant_type", "client_credentials")],
        Auth::Basic(SVC, SVC_SECRET),
        proofs,
    )
    .await
}

/// Asserts a 200 DPoP token response bound to `key` and returns it: `token_type` DPoP
/// and `cnf.jkt` = the key's thumbprint in the (unverified here) access token.
async fn dpop_token_ok(r: reqwest::Response, key: &DpopKey) -> Value {
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP", "RFC 9449 §5");
    assert_eq!(cnf_of(&body)["jkt"], key.jkt(), "RFC 9449 §6.1");
    body
}

/// The `cnf` claim of a token response's access token.
fn cnf_of(body: &Value) -> Value {
    let token = body["access_token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["cnf"].clone()
}

/// Alice signs in for `native` with `request`'s extra parameters; the code and verifier.
async fn native_code(app: &TestApp, extra: &[(&str, &str)]) -> (String, String) {
    let (challenge, verifier) = pkce();
    let mut request = AuthRequest::new(NATIVE, NATIVE_REDIRECT)
        .set("scope", "openid offline_access")
        .set("code_challenge", &challenge)
        .set("code_challenge_method", "S256");
    for (name, value) in extra {
        request = request.set(name, value);
    }
    let browser = Browser::new(app);
    let (code, _) = browser.code(&request, ALICE, ALICE_PASSWORD).await;
    (code, verifier)
}

/// Redeems a `native` code with the given proofs.
async fn redeem_native(
    app: &TestApp,
    code: &str,
    verifier: &str,
    proofs: &[&str],
) -> reqwest::Response {
    token(
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", NATIVE_REDIRECT),
            ("code_verifier", verifier),
        ],
        Auth::Public(NATIVE),
        proofs,
    )
    .await
}

/// `native`'s DPoP-bound tokens for `key`.
async fn native_tokens(app: &TestApp, key: &DpopKey) -> Value {
    let (code, verifier) = native_code(app, &[]).await;
    let proof = token_proof(app, key);
    dpop_token_ok(redeem_native(app, &code, &verifier, &[&proof]).await, key).await
}

/// A refresh by `auth` with the given proofs.
async fn refresh(
    app: &TestApp,
    auth: Auth<'_>,
    refresh_token: &str,
    proofs: &[&str],
) -> reqwest::Response {
    token(
        app,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
        auth,
        proofs,
    )
    .await
}

/// `GET /userinfo` with `authorization` and the given proofs.
async fn userinfo(app: &TestApp, authorization: &str, proofs: &[&str]) -> reqwest::Response {
    let mut request = app
        .http
        .get(app.url("/userinfo"))
        .header("authorization", authorization);
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    request.send().await.unwrap()
}

/// Asserts a 401 at UserInfo with the `DPoP` challenge for `code`.
async fn assert_dpop_challenge(r: reqwest::Response, code: &str, description: &str) {
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert_eq!(
        challenge,
        format!(r#"DPoP error="{code}", algs="ES256 PS256 RS256 EdDSA""#),
        "RFC 9449 §7.1"
    );
    assert_rejection(r, 401, code, description).await;
}

/// Asserts 400 `invalid_dpop_proof` with `description` at the token endpoint.
async fn assert_invalid_proof(r: reqwest::Response, description: &str) {
    assert!(r.headers().get("dpop-nonce").is_none());
    assert_rejection(r, 400, "invalid_dpop_proof", description).await;
}

// --- every grant binds ------------------------------------------------------------------

#[tokio::test]
async fn code_flow_with_dpop_binds_the_access_and_refresh_tokens_and_userinfo_takes_them() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let (code, verifier) = native_code(&app, &[("dpop_jkt", key.jkt())]).await;
    let proof = token_proof(&app, &key);
    let tokens = dpop_token_ok(redeem_native(&app, &code, &verifier, &[&proof]).await, &key).await;
    let access = tokens["access_token"].as_str().unwrap();

    let r = userinfo(
        &app,
        &format!("DPoP {access}"),
        &[&userinfo_proof(&app, &key, access)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let claims: Value = r.json().await.unwrap();
    assert!(claims["sub"].is_string());

    // The refresh token is bound too (public client, RFC 9449 §5): refreshed with the
    // same key, the new access token is bound again.
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let proof = token_proof(&app, &key);
    let refreshed = dpop_token_ok(
        refresh(&app, Auth::Public(NATIVE), refresh_token, &[&proof]).await,
        &key,
    )
    .await;
    // ... and so is its successor.
    let next = refreshed["refresh_token"].as_str().unwrap();
    let r = refresh(&app, Auth::Public(NATIVE), next, &[]).await;
    assert_rejection(
        r,
        400,
        "invalid_grant",
        "the refresh token is bound to a DPoP key; send a DPoP proof of that key",
    )
    .await;
}

#[tokio::test]
async fn client_credentials_with_a_proof_is_dpop_bound_and_without_stays_bearer() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let proof = token_proof(&app, &key);
    dpop_token_ok(svc_token(&app, &[&proof]).await, &key).await;
    let r = svc_token(&app, &[]).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(cnf_of(&body), Value::Null);
}

#[tokio::test]
async fn device_grant_with_dpop_binds_the_tokens() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let r = app
        .http
        .post(app.url("/device_authorization"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::flow::encode(&[
            ("client_id", TV),
            ("scope", "openid offline_access"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let started: Value = r.json().await.unwrap();
    let browser = Browser::new(&app);
    crate::device::approve(&browser, started["user_code"].as_str().unwrap()).await;
    let device_code = started["device_code"].as_str().unwrap();
    let proof = token_proof(&app, &key);
    let form = [("grant_type", DEVICE_GRANT), ("device_code", device_code)];
    let tokens = dpop_token_ok(token(&app, &form, Auth::Public(TV), &[&proof]).await, &key).await;
    // A public client: the refresh token is bound to the key.
    let other = DpopKey::generate().unwrap();
    let proof = token_proof(&app, &other);
    let r = refresh(
        &app,
        Auth::Public(TV),
        tokens["refresh_token"].as_str().unwrap(),
        &[&proof],
    )
    .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn a_confidential_clients_refresh_token_stays_bound_to_the_client_only() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let (challenge, verifier) = pkce();
    let request = AuthRequest::new(WEB, WEB_REDIRECT)
        .set("scope", "openid read:orders")
        .set("code_challenge", &challenge)
        .set("code_challenge_method", "S256");
    let (code, _) = Browser::new(&app)
        .code(&request, ALICE, ALICE_PASSWORD)
        .await;
    let proof = token_proof(&app, &key);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", WEB_REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let web = Auth::Basic(WEB, WEB_SECRET);
    let tokens = dpop_token_ok(token(&app, &form, web, &[&proof]).await, &key).await;
    // Without a proof: a Bearer access token (the refresh token is the client's).
    let r = refresh(&app, web, tokens["refresh_token"].as_str().unwrap(), &[]).await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer", "{body}");
    // With another key: bound to that key.
    let other = DpopKey::generate().unwrap();
    let proof = token_proof(&app, &other);
    let r = refresh(
        &app,
        web,
        body["refresh_token"].as_str().unwrap(),
        &[&proof],
    )
    .await;
    dpop_token_ok(r, &other).await;
}

#[tokio::test]
async fn introspection_shows_the_dpop_binding() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let proof = token_proof(&app, &key);
    let body = dpop_token_ok(svc_token(&app, &[&proof]).await, &key).await;
    let access = body["access_token"].as_str().unwrap();
    let seen = introspect(&app, Auth::Basic(SVC, SVC_SECRET), access, None).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["token_type"], "DPoP");
    assert_eq!(seen["cnf"], json!({"jkt": key.jkt()}), "RFC 9449 §6.2");
    let bearer = svc_token(&app, &[]).await.json::<Value>().await.unwrap();
    let seen = introspect(
        &app,
        Auth::Basic(SVC, SVC_SECRET),
        bearer["access_token"].as_str().unwrap(),
        None,
    )
    .await;
    assert_eq!(seen["token_type"], "Bearer");
    assert_eq!(seen.get("cnf"), None);
}

#[tokio::test]
async fn discovery_lists_the_dpop_algorithms() {
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
        metadata["dpop_signing_alg_values_supported"],
        json!(["ES256", "PS256", "RS256", "EdDSA"])
    );
}

// --- rejections at the token endpoint ---------------------------------------------------

#[tokio::test]
async fn rejects_a_replayed_proof() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let proof = token_proof(&app, &key);
    dpop_token_ok(svc_token(&app, &[&proof]).await, &key).await;
    let r = svc_token(&app, &[&proof]).await;
    assert_invalid_proof(r, "the DPoP proof was already used (jti)").await;
}

#[tokio::test]
async fn rejects_a_proof_for_another_method() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let proof = proof(&app, &key, "GET", "/token");
    let r = svc_token(&app, &[&proof]).await;
    assert_invalid_proof(r, "the DPoP proof's htm does not match the request method").await;
}

#[tokio::test]
async fn rejects_a_proof_for_another_url() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let proof = proof(&app, &key, "POST", "/introspect");
    let r = svc_token(&app, &[&proof]).await;
    assert_invalid_proof(r, "the DPoP proof's htu does not match the request URL").await;
}

#[tokio::test]
async fn rejects_a_stale_proof() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let stale = now(&app) - u64::try_from(MAX_AGE).unwrap() - 1;
    let proof = key
        .proof_at(stale, "POST", &app.url("/token"), None, None)
        .unwrap();
    let r = svc_token(&app, &[&proof]).await;
    assert_invalid_proof(r, "the DPoP proof is too old (iat)").await;
}

#[tokio::test]
async fn rejects_a_proof_with_alg_none() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let proof = format!("{}.", signing_input(&header(&key, "none"), &claims(&app)));
    let r = svc_token(&app, &[&proof]).await;
    assert_invalid_proof(
        r,
        "the DPoP proof's alg is not one of ES256 PS256 RS256 EdDSA",
    )
    .await;
}

#[tokio::test]
async fn rejects_a_proof_signed_with_hs256() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let input = signing_input(&header(&key, "HS256"), &claims(&app));
    let secret = EncodingKey::from_secret(b"a shared secret is no proof of possession");
    let signature =
        jsonwebtoken::crypto::sign(input.as_bytes(), &secret, Algorithm::HS256).unwrap();
    let proof = format!("{input}.{signature}");
    let r = svc_token(&app, &[&proof]).await;
    assert_invalid_proof(
        r,
        "the DPoP proof's alg is not one of ES256 PS256 RS256 EdDSA",
    )
    .await;
}

#[tokio::test]
async fn rejects_a_private_key_in_the_jwk() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let mut header = header(&key, "ES256");
    header["jwk"]["d"] = json!(URL_SAFE_NO_PAD.encode([7_u8; 32]));
    let proof = es256_jws(&key, &header, &claims(&app));
    let r = svc_token(&app, &[&proof]).await;
    assert_invalid_proof(r, "the DPoP proof's jwk contains a private key").await;
}

#[tokio::test]
async fn a_hand_built_proof_passes_so_the_rejections_above_test_one_thing_each() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let proof = es256_jws(&key, &header(&key, "ES256"), &claims(&app));
    dpop_token_ok(svc_token(&app, &[&proof]).await, &key).await;
}

#[tokio::test]
async fn rejects_two_dpop_headers() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let (a, b) = (token_proof(&app, &key), token_proof(&app, &key));
    let r = svc_token(&app, &[&a, &b]).await;
    assert_invalid_proof(r, "more than one DPoP header").await;
}

#[tokio::test]
async fn rejects_a_dpop_bound_client_without_a_proof() {
    let app = start().await;
    let auth = Auth::Basic(BOUND_SVC, BOUND_SVC_SECRET);
    let r = token(&app, &[("grant_type", "client_credentials")], auth, &[]).await;
    assert_invalid_proof(
        r,
        "this client is registered with dpop_bound_access_tokens: every token request needs a DPoP proof header",
    )
    .await;
    let key = DpopKey::generate().unwrap();
    let proof = token_proof(&app, &key);
    let r = token(
        &app,
        &[("grant_type", "client_credentials")],
        auth,
        &[&proof],
    )
    .await;
    dpop_token_ok(r, &key).await;
}

#[tokio::test]
async fn rejects_a_refresh_with_another_key() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let tokens = native_tokens(&app, &key).await;
    let other = DpopKey::generate().unwrap();
    let proof = token_proof(&app, &other);
    let r = refresh(
        &app,
        Auth::Public(NATIVE),
        tokens["refresh_token"].as_str().unwrap(),
        &[&proof],
    )
    .await;
    assert_rejection(
        r,
        400,
        "invalid_grant",
        "the refresh token is bound to a DPoP key; send a DPoP proof of that key",
    )
    .await;
    // Refused, not revoked: the holder of the key still refreshes.
    let proof = token_proof(&app, &key);
    let r = refresh(
        &app,
        Auth::Public(NATIVE),
        tokens["refresh_token"].as_str().unwrap(),
        &[&proof],
    )
    .await;
    dpop_token_ok(r, &key).await;
}

#[tokio::test]
async fn rejects_a_public_clients_refresh_without_a_proof() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let tokens = native_tokens(&app, &key).await;
    let r = refresh(
        &app,
        Auth::Public(NATIVE),
        tokens["refresh_token"].as_str().unwrap(),
        &[],
    )
    .await;
    assert_rejection(
        r,
        400,
        "invalid_grant",
        "the refresh token is bound to a DPoP key; send a DPoP proof of that key",
    )
    .await;
}

#[tokio::test]
async fn rejects_a_code_bound_with_dpop_jkt_redeemed_with_another_key() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let (code, verifier) = native_code(&app, &[("dpop_jkt", key.jkt())]).await;
    let other = DpopKey::generate().unwrap();
    let proof = token_proof(&app, &other);
    let r = redeem_native(&app, &code, &verifier, &[&proof]).await;
    let description = "the authorization code is bound to a DPoP key (dpop_jkt); the DPoP proof must use that key";
    assert_rejection(r, 400, "invalid_grant", description).await;
    // Without any proof: refused alike.
    let r = redeem_native(&app, &code, &verifier, &[]).await;
    assert_rejection(r, 400, "invalid_grant", description).await;
    // The code was not burnt by the refusals: the key's holder redeems it.
    let proof = token_proof(&app, &key);
    dpop_token_ok(redeem_native(&app, &code, &verifier, &[&proof]).await, &key).await;
}

#[tokio::test]
async fn rejects_a_malformed_dpop_jkt_at_the_authorization_endpoint() {
    let app = start().await;
    let (challenge, _) = pkce();
    let request = AuthRequest::new(NATIVE, NATIVE_REDIRECT)
        .set("scope", "openid")
        .set("code_challenge", &challenge)
        .set("code_challenge_method", "S256")
        .set("dpop_jkt", "not-a-thumbprint");
    let r = Browser::new(&app).authorize(&request).await;
    assert_eq!(r.status(), 303);
    let params = redirect_params(&location(&r), NATIVE_REDIRECT);
    assert_eq!(params["error"], "invalid_request");
    assert_eq!(
        params["error_description"],
        "dpop_jkt `not-a-thumbprint` is not a JWK SHA-256 thumbprint (RFC 9449 section 10: 43 base64url characters)"
    );
}

// --- nonces -----------------------------------------------------------------------------

/// The `use_dpop_nonce` answer (RFC 9449 §8): 400 with a fresh `DPoP-Nonce`; the nonce.
async fn assert_use_dpop_nonce(r: reqwest::Response, description: &str) -> String {
    let nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_rejection(r, 400, "use_dpop_nonce", description).await;
    nonce
}

/// A token-endpoint proof carrying `nonce`.
fn nonce_proof(app: &TestApp, key: &DpopKey, nonce: &str) -> String {
    key.proof_at(now(app), "POST", &app.url("/token"), None, Some(nonce))
        .unwrap()
}

#[tokio::test]
async fn rejects_a_proof_without_the_required_nonce_and_hands_one_out() {
    let app = start_with_nonces().await;
    let key = DpopKey::generate().unwrap();
    let proof = token_proof(&app, &key);
    let nonce =
        assert_use_dpop_nonce(svc_token(&app, &[&proof]).await, "a DPoP nonce is required").await;
    let proof = nonce_proof(&app, &key, &nonce);
    let r = svc_token(&app, &[&proof]).await;
    assert!(
        r.headers().get("dpop-nonce").is_some(),
        "RFC 9449 §8.2: a fresh nonce on success"
    );
    dpop_token_ok(r, &key).await;
    // Bearer requests are not affected.
    assert_eq!(svc_token(&app, &[]).await.status(), 200);
}

#[tokio::test]
async fn a_nonce_from_the_previous_window_is_accepted_and_an_older_one_refused() {
    let app = start_with_nonces().await;
    let key = DpopKey::generate().unwrap();
    let proof = token_proof(&app, &key);
    let nonce =
        assert_use_dpop_nonce(svc_token(&app, &[&proof]).await, "a DPoP nonce is required").await;
    app.clock.advance(MAX_AGE);
    let proof = nonce_proof(&app, &key, &nonce);
    dpop_token_ok(svc_token(&app, &[&proof]).await, &key).await;
    app.clock.advance(MAX_AGE);
    let proof = nonce_proof(&app, &key, &nonce);
    assert_use_dpop_nonce(
        svc_token(&app, &[&proof]).await,
        "the DPoP nonce is invalid or expired",
    )
    .await;
}

#[tokio::test]
async fn rejects_a_garbage_nonce() {
    let app = start_with_nonces().await;
    let key = DpopKey::generate().unwrap();
    let proof = nonce_proof(&app, &key, "made-up-nonce");
    assert_use_dpop_nonce(
        svc_token(&app, &[&proof]).await,
        "the DPoP nonce is invalid or expired",
    )
    .await;
}

// --- rejections at UserInfo -------------------------------------------------------------

#[tokio::test]
async fn rejects_a_userinfo_proof_without_ath() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let tokens = native_tokens(&app, &key).await;
    let access = tokens["access_token"].as_str().unwrap();
    let proof = proof(&app, &key, "GET", "/userinfo");
    let r = userinfo(&app, &format!("DPoP {access}"), &[&proof]).await;
    assert_dpop_challenge(
        r,
        "invalid_dpop_proof",
        "the DPoP proof has no ath claim for the access token",
    )
    .await;
}

#[tokio::test]
async fn rejects_a_userinfo_proof_for_another_token() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let tokens = native_tokens(&app, &key).await;
    let access = tokens["access_token"].as_str().unwrap();
    let proof = userinfo_proof(&app, &key, "another.access.token");
    let r = userinfo(&app, &format!("DPoP {access}"), &[&proof]).await;
    assert_dpop_challenge(
        r,
        "invalid_dpop_proof",
        "the DPoP proof's ath does not match the access token",
    )
    .await;
}

#[tokio::test]
async fn rejects_a_bound_token_presented_as_bearer() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let tokens = native_tokens(&app, &key).await;
    let access = tokens["access_token"].as_str().unwrap();
    let proof = userinfo_proof(&app, &key, access);
    let r = userinfo(&app, &format!("Bearer {access}"), &[&proof]).await;
    assert_dpop_challenge(
        r,
        "invalid_token",
        "the access token is DPoP-bound; present it with the DPoP scheme and a proof",
    )
    .await;
}

#[tokio::test]
async fn rejects_the_dpop_scheme_without_a_proof() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let tokens = native_tokens(&app, &key).await;
    let access = tokens["access_token"].as_str().unwrap();
    let r = userinfo(&app, &format!("DPoP {access}"), &[]).await;
    assert_dpop_challenge(
        r,
        "invalid_dpop_proof",
        "the DPoP scheme needs a DPoP proof header (RFC 9449 section 7.1)",
    )
    .await;
}

#[tokio::test]
async fn rejects_a_userinfo_proof_by_another_key() {
    let app = start().await;
    let key = DpopKey::generate().unwrap();
    let tokens = native_tokens(&app, &key).await;
    let access = tokens["access_token"].as_str().unwrap();
    let other = DpopKey::generate().unwrap();
    let proof = userinfo_proof(&app, &other, access);
    let r = userinfo(&app, &format!("DPoP {access}"), &[&proof]).await;
    assert_dpop_challenge(
        r,
        "invalid_dpop_proof",
        "the DPoP proof's key does not match the access token's cnf.jkt",
    )
    .await;
}

#[tokio::test]
async fn a_request_without_credentials_gets_both_challenges() {
    let app = start().await;
    let r = app.http.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let challenges: Vec<&str> = r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        challenges,
        ["Bearer", r#"DPoP algs="ES256 PS256 RS256 EdDSA""#]
    );
}

#[tokio::test]
async fn a_bearer_token_still_works_at_userinfo() {
    let app = start().await;
    let (code, verifier) = native_code(&app, &[]).await;
    let body: Value = redeem_native(&app, &code, &verifier, &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(
        userinfo(&app, &format!("Bearer {access}"), &[])
            .await
            .status(),
        200
    );
    // The DPoP scheme with an unbound token is refused.
    let key = DpopKey::generate().unwrap();
    let proof = userinfo_proof(&app, &key, access);
    let r = userinfo(&app, &format!("DPoP {access}"), &[&proof]).await;
    assert_dpop_challenge(
        r,
        "invalid_token",
        "the access token is not DPoP-bound; present it with the Bearer scheme",
    )
    .await;
}
