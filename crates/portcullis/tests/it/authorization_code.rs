//! RFC 6749 §4.1 with RFC 7636 PKCE, driven by the `oauth2` crate as a confidential
//! client (client_secret_basic), and one named test per rejection of the
//! authorization code at the token endpoint (RFC 6749 §5.2 `invalid_grant`), with the
//! expiry boundary stepped over with the manual clock.

use crate::flow::{
    self, ALICE, ALICE_PASSWORD, API, AuthRequest, Browser, CODE_TTL, NATIVE, NATIVE_REDIRECT,
    STATE, WEB, WEB_POST, WEB_POST_REDIRECT, WEB_POST_SECRET, WEB_REDIRECT, pkce, redeem_native,
    redeem_web, redirect_params, token_ok, user_id, userinfo,
};
use crate::support::{TestApp, WEB_SECRET, oauth2_http, verify_access_token};
use base64::Engine;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl,
    RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// Asserts a 400 `invalid_grant` token error (RFC 6749 §5.2), not cacheable.
async fn assert_invalid_grant(response: reqwest::Response) {
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant", "{body}");
    assert!(body["error_description"].is_string(), "{body}");
    assert!(body.get("access_token").is_none());
}

/// Alice signs in for `web` (PKCE, `openid read:orders`); returns (code, verifier).
async fn web_code(app: &TestApp) -> (String, String) {
    let (challenge, verifier) = pkce();
    let (code, _) = Browser::new(app)
        .code(&AuthRequest::web(&challenge), ALICE, ALICE_PASSWORD)
        .await;
    (code, verifier)
}

/// Alice signs in for `native` (PKCE, `openid profile email`); returns (code, verifier).
async fn native_code(app: &TestApp) -> (String, String) {
    let (challenge, verifier) = pkce();
    let (code, _) = Browser::new(app)
        .code(&AuthRequest::native(&challenge), ALICE, ALICE_PASSWORD)
        .await;
    (code, verifier)
}

/// The claims of a JWT, unverified (signatures are checked by other tests).
fn unverified_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn oauth2_confidential_client_completes_the_code_flow_with_pkce() {
    let app = flow::start().await;
    let client = BasicClient::new(ClientId::new(WEB.into()))
        .set_client_secret(ClientSecret::new(WEB_SECRET.into()))
        .set_auth_uri(AuthUrl::new(app.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(WEB_REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("read:orders".into()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = Browser::new(&app);
    let response = browser.get(url.as_str()).await;
    let (to, shown) = browser.complete(response, ALICE, ALICE_PASSWORD).await;
    assert_eq!(shown, ["login", "consent"]);
    let params = redirect_params(&to, WEB_REDIRECT);
    assert_eq!(&params["state"], state.secret());
    assert_eq!(params["iss"], app.base);

    let http = oauth2_http(
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    );
    let token = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(token.token_type().as_ref(), "bearer");
    assert_eq!(token.expires_in().unwrap().as_secs(), 900);
    if let Some(scopes) = token.scopes() {
        let granted: BTreeSet<&str> = scopes.iter().map(|s| s.as_str()).collect();
        assert_eq!(granted, BTreeSet::from(["openid", "read:orders"]));
    }

    let alice = user_id(&app, ALICE).await;
    let jwks = app.jwks().await;
    let claims = verify_access_token(token.access_token().secret(), &jwks, &app.base, API);
    assert_eq!(claims["sub"], json!(alice));
    assert_eq!(claims["client_id"], json!(WEB));
    let scope: BTreeSet<&str> = claims["scope"].as_str().unwrap().split(' ').collect();
    assert_eq!(scope, BTreeSet::from(["openid", "read:orders"]));

    // The access token works at UserInfo (it has `openid`).
    let r = userinfo(&app, token.access_token().secret()).await;
    assert_eq!(r.status(), 200);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["sub"], json!(alice));
}

#[tokio::test]
async fn code_remembers_the_requested_resource() {
    let app = flow::start().await;
    let (challenge, verifier) = pkce();
    let billing = "https://billing.example.com";
    let request = AuthRequest::web(&challenge).set("resource", billing);
    let (code, _) = Browser::new(&app)
        .code(&request, ALICE, ALICE_PASSWORD)
        .await;
    let token = token_ok(redeem_web(&app, &code, Some(&verifier)).await).await;
    let jwks = app.jwks().await;
    verify_access_token(
        token["access_token"].as_str().unwrap(),
        &jwks,
        &app.base,
        billing,
    );
}

#[tokio::test]
async fn confidential_client_may_use_client_secret_post_when_registered_for_it() {
    let app = flow::start().await;
    let (challenge, verifier) = pkce();
    let request = AuthRequest::new(WEB_POST, WEB_POST_REDIRECT)
        .set("scope", "openid")
        .set("code_challenge", &challenge)
        .set("code_challenge_method", "S256");
    let (code, _) = Browser::new(&app)
        .code(&request, ALICE, ALICE_PASSWORD)
        .await;
    let r = app
        .post_token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", WEB_POST_REDIRECT),
                ("code_verifier", &verifier),
                ("client_id", WEB_POST),
                ("client_secret", WEB_POST_SECRET),
            ],
            None,
        )
        .await;
    let token = token_ok(r).await;
    assert!(token["id_token"].is_string(), "openid was granted");
}

#[tokio::test]
async fn public_client_authenticates_with_its_client_id_only() {
    let app = flow::start().await;
    let (code, verifier) = native_code(&app).await;
    let token = token_ok(redeem_native(&app, &code, &verifier).await).await;
    assert_eq!(token["token_type"], "Bearer");
    assert!(token["id_token"].is_string());
    let claims = unverified_claims(token["id_token"].as_str().unwrap());
    assert_eq!(claims["aud"], json!(NATIVE));
    assert_eq!(claims["nonce"], json!("n-0S6_WzA2Mj"));
}

// --- rejections at the token endpoint ------------------------------------------------

#[tokio::test]
async fn rejects_code_redeemed_by_another_client() {
    let app = flow::start().await;
    let (code, verifier) = native_code(&app).await;
    let r = app
        .post_token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", NATIVE_REDIRECT),
                ("code_verifier", &verifier),
            ],
            Some((WEB, WEB_SECRET)),
        )
        .await;
    assert_invalid_grant(r).await;
}

#[tokio::test]
async fn rejects_confidential_clients_code_redeemed_by_a_public_client() {
    let app = flow::start().await;
    let (code, verifier) = web_code(&app).await;
    let r = app
        .post_token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", WEB_REDIRECT),
                ("code_verifier", &verifier),
                ("client_id", NATIVE),
            ],
            None,
        )
        .await;
    assert_invalid_grant(r).await;
}

#[tokio::test]
async fn rejects_wrong_redirect_uri() {
    let app = flow::start().await;
    let (code, verifier) = web_code(&app).await;
    let r = app
        .post_token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://app.example.com/other"),
                ("code_verifier", &verifier),
            ],
            Some((WEB, WEB_SECRET)),
        )
        .await;
    assert_invalid_grant(r).await;
}

#[tokio::test]
async fn rejects_missing_redirect_uri_when_the_authorization_request_had_one() {
    // RFC 6749 §4.1.3: "REQUIRED, if the redirect_uri parameter was included in the
    // authorization request".
    let app = flow::start().await;
    let (code, verifier) = web_code(&app).await;
    let r = app
        .post_token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &verifier),
            ],
            Some((WEB, WEB_SECRET)),
        )
        .await;
    assert_invalid_grant(r).await;
}

#[tokio::test]
async fn rejects_wrong_code_verifier() {
    let app = flow::start().await;
    let (code, _) = web_code(&app).await;
    let (_, other_verifier) = pkce();
    assert_invalid_grant(redeem_web(&app, &code, Some(&other_verifier)).await).await;
}

#[tokio::test]
async fn rejects_loopback_code_redeemed_with_another_port() {
    // The port may vary at /authorize (RFC 8252 §7.3), but the code is bound to the
    // exact URI it was sent to.
    let app = flow::start().await;
    let (challenge, verifier) = pkce();
    let sent_to = "http://127.0.0.1:53124/callback";
    let request = AuthRequest::native(&challenge).set("redirect_uri", sent_to);
    let (code, _) = Browser::new(&app)
        .code(&request, ALICE, ALICE_PASSWORD)
        .await;
    let r = app
        .post_token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:53125/callback"),
                ("code_verifier", &verifier),
                ("client_id", NATIVE),
            ],
            None,
        )
        .await;
    assert_invalid_grant(r).await;
}

#[tokio::test]
async fn rejects_missing_code_verifier() {
    let app = flow::start().await;
    let (code, _) = web_code(&app).await;
    assert_invalid_grant(redeem_web(&app, &code, None).await).await;
}

#[tokio::test]
async fn rejects_code_verifier_sent_without_a_challenge() {
    // A confidential OpenID request with a nonce may skip PKCE; a verifier at the
    // token endpoint then matches nothing (RFC 9700 §4.8.2: PKCE downgrade).
    let app = flow::start().await;
    let request = AuthRequest::new(WEB, WEB_REDIRECT)
        .set("scope", "openid")
        .set("nonce", "nonce-without-pkce");
    let (code, _) = Browser::new(&app)
        .code(&request, ALICE, ALICE_PASSWORD)
        .await;
    let (_, verifier) = pkce();
    assert_invalid_grant(redeem_web(&app, &code, Some(&verifier)).await).await;
}

#[tokio::test]
async fn rejects_unknown_code() {
    let app = flow::start().await;
    let (_, verifier) = pkce();
    let r = redeem_web(
        &app,
        "q2Lx3tqjZrkxHn0rT0ZJ6c1pD5vY8yW3uH1sN2mB4aE",
        Some(&verifier),
    )
    .await;
    assert_invalid_grant(r).await;
}

#[tokio::test]
async fn code_is_accepted_one_second_before_it_expires() {
    let app = flow::start().await;
    let (code, verifier) = web_code(&app).await;
    app.clock.advance(CODE_TTL - 1);
    token_ok(redeem_web(&app, &code, Some(&verifier)).await).await;
}

#[tokio::test]
async fn rejects_expired_code() {
    let app = flow::start().await;
    let (code, verifier) = web_code(&app).await;
    // At exactly `authorization_code_ttl` seconds the code has expired…
    app.clock.advance(CODE_TTL);
    assert_invalid_grant(redeem_web(&app, &code, Some(&verifier)).await).await;
    // …and stays expired.
    app.clock.advance(1);
    assert_invalid_grant(redeem_web(&app, &code, Some(&verifier)).await).await;
}

#[tokio::test]
async fn rejects_replayed_code_and_revokes_the_access_token_issued_from_it() {
    let app = flow::start().await;
    let (code, verifier) = web_code(&app).await;
    let first = token_ok(redeem_web(&app, &code, Some(&verifier)).await).await;
    let access_token = first["access_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, access_token).await.status(), 200);

    // RFC 6749 §4.1.2: a second use is refused, and the tokens of the first revoked.
    assert_invalid_grant(redeem_web(&app, &code, Some(&verifier)).await).await;
    let r = userinfo(&app, access_token).await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test]
async fn code_redeemed_twice_at_once_is_honoured_once() {
    // Single use under concurrency (one conditional UPDATE): of two simultaneous
    // redemptions exactly one gets tokens.
    let app = flow::start().await;
    let (code, verifier) = web_code(&app).await;
    let (a, b) = tokio::join!(
        redeem_web(&app, &code, Some(&verifier)),
        redeem_web(&app, &code, Some(&verifier))
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400]);
    let loser = if a.status() == 400 { a } else { b };
    assert_invalid_grant(loser).await;
}

#[tokio::test]
async fn rejects_replayed_code_through_the_oauth2_crate() {
    let app = flow::start().await;
    let (code, verifier) = web_code(&app).await;
    let client = BasicClient::new(ClientId::new(WEB.into()))
        .set_client_secret(ClientSecret::new(WEB_SECRET.into()))
        .set_token_uri(TokenUrl::new(app.url("/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(WEB_REDIRECT.into()).unwrap());
    let http = oauth2_http(app.http.clone());
    let redeem = || {
        client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .set_pkce_verifier(oauth2::PkceCodeVerifier::new(verifier.clone()))
            .request_async(&http)
    };
    redeem().await.unwrap();
    match redeem().await {
        Err(RequestTokenError::ServerResponse(e)) => {
            assert_eq!(e.error(), &BasicErrorResponseType::InvalidGrant);
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }
}

#[tokio::test]
async fn rejects_confidential_client_without_its_secret() {
    let app = flow::start().await;
    let (code, verifier) = web_code(&app).await;
    let r = app
        .post_token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", WEB_REDIRECT),
                ("code_verifier", &verifier),
                ("client_id", WEB),
            ],
            None,
        )
        .await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

// --- PKCE or nonce for confidential clients (OAuth 2.1 §7.5.1) ----------------------

#[tokio::test]
async fn confidential_client_without_pkce_is_accepted_for_openid_with_a_nonce() {
    let app = flow::start().await;
    let request = AuthRequest::new(WEB, WEB_REDIRECT)
        .set("scope", "openid profile")
        .set("nonce", "nonce-binds-the-code");
    let (code, _) = Browser::new(&app)
        .code(&request, ALICE, ALICE_PASSWORD)
        .await;
    let token = token_ok(redeem_web(&app, &code, None).await).await;
    let claims = unverified_claims(token["id_token"].as_str().unwrap());
    assert_eq!(claims["nonce"], json!("nonce-binds-the-code"));
    assert_eq!(claims["aud"], json!(WEB));
}

#[tokio::test]
async fn rejects_confidential_client_without_pkce_or_nonce() {
    let app = flow::start().await;
    let browser = Browser::new(&app);
    // OpenID without a nonce.
    let r = browser
        .authorize(&AuthRequest::new(WEB, WEB_REDIRECT).set("scope", "openid"))
        .await;
    assert_eq!(r.status(), 303);
    let params = redirect_params(&flow::location(&r), WEB_REDIRECT);
    assert_eq!(params["error"], "invalid_request");
    assert_eq!(params["state"], STATE);
    assert_eq!(params["iss"], app.base);
    // A nonce without OpenID binds nothing.
    let r = browser
        .authorize(
            &AuthRequest::new(WEB, WEB_REDIRECT)
                .set("scope", "read:orders")
                .set("nonce", "n"),
        )
        .await;
    assert_eq!(r.status(), 303);
    let params = redirect_params(&flow::location(&r), WEB_REDIRECT);
    assert_eq!(params["error"], "invalid_request");
    assert_eq!(params["state"], STATE);
    assert_eq!(params["iss"], app.base);
}
