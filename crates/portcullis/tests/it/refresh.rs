//! RFC 6749 §6 refresh with rotation and reuse detection (RFC 9700 §4.14.2), driven by
//! the `oauth2` crate, and one named test per rejection of a refresh token at the
//! token endpoint. Which redemptions return a refresh token (OIDC Core §11): the
//! client must have the `refresh_token` grant, and an OpenID request also needs
//! `offline_access` granted or a confidential client. Races and the crash test are in
//! `refresh_race`.

use crate::flow::{
    ALICE, ALICE_PASSWORD, API, AuthRequest, Browser, NATIVE, WEB, pkce, redeem_web, token_ok,
    user_id, userinfo,
};
use crate::lifecycle::{
    self, ACCESS_TTL, Auth, BILLING, NATIVE_AUTH, NO_REFRESH, NO_REFRESH_REDIRECT,
    NO_REFRESH_SECRET, OTHER_WEB, OTHER_WEB_SECRET, REFRESH_TTL, WEB_AUTH, access_token_of,
    assert_rejection, config_with_grace, is_active, native_tokens, no_refresh_request, refresh,
    refresh_token_of, scopes, verify_id_token, web_tokens, web_tokens_for,
};
use crate::support::{TestApp, WEB_SECRET, oauth2_http, verify_access_token};
use oauth2::basic::BasicClient;
use oauth2::{ClientId, ClientSecret, RefreshToken, Scope, TokenResponse, TokenUrl};
use portcullis_core::clock::Clock;
use serde_json::{Value, json};
use tempfile::TempDir;

/// `invalid_grant` for a token of a revoked family.
const REVOKED: &str = "the refresh token has been revoked";
/// `invalid_grant` for a rotated token presented again, after the grace window.
const REUSED: &str =
    "the refresh token was already used; it and every token issued from it are revoked";

/// `invalid_grant` (400) with `description`.
async fn assert_invalid_grant_because(r: reqwest::Response, description: &str) {
    assert_rejection(r, 400, "invalid_grant", description).await;
}

/// Asserts a 200 refresh answer and returns it, after checking the new refresh token
/// is a fresh 256-bit random value, unlike the one presented.
async fn refreshed(r: reqwest::Response, presented: &str) -> Value {
    let token = token_ok(r).await;
    let new = refresh_token_of(&token);
    assert_ne!(new, presented, "rotation: every use returns a new token");
    assert_token_shape(&new);
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], json!(ACCESS_TTL));
    token
}

/// At least 256 bits in URL-safe characters (RFC 6749 §10.10).
fn assert_token_shape(token: &str) {
    assert!(token.len() >= 43, "{token}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{token}"
    );
}

// --- the grant, through the oauth2 crate ---------------------------------------------

#[tokio::test]
async fn oauth2_confidential_client_refreshes_and_rotates() {
    let app = lifecycle::start().await;
    let first = web_tokens(&app).await;
    let rt0 = refresh_token_of(&first);
    assert_token_shape(&rt0);
    let client = BasicClient::new(ClientId::new(WEB.into()))
        .set_client_secret(ClientSecret::new(WEB_SECRET.into()))
        .set_token_uri(TokenUrl::new(app.url("/token")).unwrap());
    let http = oauth2_http(app.http.clone());
    let alice = user_id(&app, ALICE).await;
    let jwks = app.jwks().await;

    let mut presented = rt0.clone();
    let mut seen = vec![rt0];
    for _ in 0..2 {
        app.clock.advance(60);
        let token = client
            .exchange_refresh_token(&RefreshToken::new(presented.clone()))
            .request_async(&http)
            .await
            .unwrap();
        let next = token
            .refresh_token()
            .expect("rotation returns a refresh token")
            .secret()
            .clone();
        assert!(!seen.contains(&next), "a new refresh token every time");
        assert_token_shape(&next);
        assert_eq!(token.expires_in().unwrap().as_secs(), ACCESS_TTL as u64);
        let claims = verify_access_token(token.access_token().secret(), &jwks, &app.base, API);
        assert_eq!(claims["sub"], json!(alice));
        assert_eq!(claims["client_id"], json!(WEB));
        assert_eq!(
            scopes(&claims["scope"]),
            ["openid", "read:orders"],
            "no scope asked: the original grant"
        );
        assert_eq!(
            claims["iat"],
            json!(app.clock.now()),
            "a new token, issued now"
        );
        assert_eq!(
            userinfo(&app, token.access_token().secret()).await.status(),
            200
        );
        seen.push(next.clone());
        presented = next;
    }
}

#[tokio::test]
async fn oauth2_public_client_refreshes_with_its_client_id_only() {
    let app = lifecycle::start().await;
    let first = native_tokens(&app, "openid offline_access read:orders").await;
    let rt0 = refresh_token_of(&first);
    // No secret: the crate sends client_id in the body (RFC 6749 §3.2.1).
    let client = BasicClient::new(ClientId::new(NATIVE.into()))
        .set_token_uri(TokenUrl::new(app.url("/token")).unwrap());
    let http = oauth2_http(app.http.clone());
    let token = client
        .exchange_refresh_token(&RefreshToken::new(rt0.clone()))
        .request_async(&http)
        .await
        .unwrap();
    let rt1 = token.refresh_token().unwrap().secret().clone();
    assert_ne!(rt1, rt0);
    let claims = verify_access_token(
        token.access_token().secret(),
        &app.jwks().await,
        &app.base,
        API,
    );
    assert_eq!(claims["client_id"], json!(NATIVE));
    // And the successor works in turn.
    refreshed(refresh(&app, NATIVE_AUTH, &rt1, None).await, &rt1).await;
}

#[tokio::test]
async fn oauth2_client_narrows_the_scope_and_the_original_grant_stays_the_ceiling() {
    let app = lifecycle::start().await;
    let rt0 = refresh_token_of(&web_tokens(&app).await);
    let client = BasicClient::new(ClientId::new(WEB.into()))
        .set_client_secret(ClientSecret::new(WEB_SECRET.into()))
        .set_token_uri(TokenUrl::new(app.url("/token")).unwrap());
    let http = oauth2_http(app.http.clone());
    let jwks = app.jwks().await;
    let narrow = client
        .exchange_refresh_token(&RefreshToken::new(rt0))
        .add_scope(Scope::new("read:orders".into()))
        .request_async(&http)
        .await
        .unwrap();
    let claims = verify_access_token(narrow.access_token().secret(), &jwks, &app.base, API);
    assert_eq!(claims["scope"], "read:orders", "only the narrower scope");
    if let Some(granted) = narrow.scopes() {
        let granted: Vec<&str> = granted.iter().map(|s| s.as_str()).collect();
        assert_eq!(granted, ["read:orders"]);
    }
    // RFC 6749 §6: an omitted scope is the one originally granted, not the last asked.
    let rt1 = narrow.refresh_token().unwrap().secret().clone();
    let full = refreshed(refresh(&app, WEB_AUTH, &rt1, None).await, &rt1).await;
    let claims = verify_access_token(&access_token_of(&full), &jwks, &app.base, API);
    assert_eq!(scopes(&claims["scope"]), ["openid", "read:orders"]);
}

#[tokio::test]
async fn refreshed_id_token_keeps_sub_and_auth_time() {
    let app = lifecycle::start().await;
    let first = web_tokens(&app).await;
    let jwks = app.jwks().await;
    let original = verify_id_token(first["id_token"].as_str().unwrap(), &jwks, &app.base, WEB);
    app.clock.advance(600);
    let rt0 = refresh_token_of(&first);
    let token = refreshed(refresh(&app, WEB_AUTH, &rt0, None).await, &rt0).await;
    let id_token = token["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("openid was granted: a new id_token on refresh; {token}"));
    let claims = verify_id_token(id_token, &jwks, &app.base, WEB);
    assert_eq!(claims["sub"], original["sub"]);
    assert_eq!(claims["sub"], json!(user_id(&app, ALICE).await));
    assert_eq!(
        claims["auth_time"], original["auth_time"],
        "auth_time is the login, not the refresh"
    );
    assert!(claims["auth_time"].is_i64());
    assert_eq!(claims["iat"], json!(app.clock.now()), "a new id_token");
}

#[tokio::test]
async fn refresh_without_openid_returns_no_id_token() {
    let app = lifecycle::start().await;
    let first = web_tokens_for(&app, "read:orders").await;
    assert!(first.get("id_token").is_none());
    let rt0 = refresh_token_of(&first);
    let token = refreshed(refresh(&app, WEB_AUTH, &rt0, None).await, &rt0).await;
    assert!(token.get("id_token").is_none(), "{token}");
}

#[tokio::test]
async fn refresh_keeps_the_resource_of_the_original_grant() {
    let app = lifecycle::start().await;
    let (challenge, verifier) = pkce();
    let request = AuthRequest::web(&challenge).set("resource", BILLING);
    let (code, _) = Browser::new(&app)
        .code(&request, ALICE, ALICE_PASSWORD)
        .await;
    let first = token_ok(redeem_web(&app, &code, Some(&verifier)).await).await;
    let rt0 = refresh_token_of(&first);
    let token = refreshed(refresh(&app, WEB_AUTH, &rt0, None).await, &rt0).await;
    let claims = verify_access_token(
        &access_token_of(&token),
        &app.jwks().await,
        &app.base,
        BILLING,
    );
    assert_eq!(claims["aud"], json!(BILLING));
}

// --- which code redemptions return a refresh token -----------------------------------

#[tokio::test]
async fn confidential_openid_client_gets_a_refresh_token_without_offline_access() {
    let app = lifecycle::start().await;
    let token = web_tokens(&app).await;
    assert_token_shape(&refresh_token_of(&token));
}

#[tokio::test]
async fn public_openid_client_gets_a_refresh_token_only_with_offline_access() {
    let app = lifecycle::start().await;
    let without = native_tokens(&app, "openid profile").await;
    assert!(
        without.get("refresh_token").is_none(),
        "OIDC Core §11: no offline_access, no refresh token for a public client; {without}"
    );
    let with = native_tokens(&app, "openid offline_access").await;
    assert_token_shape(&refresh_token_of(&with));
}

#[tokio::test]
async fn public_client_gets_a_refresh_token_for_a_plain_oauth_request() {
    let app = lifecycle::start().await;
    let token = native_tokens(&app, "read:orders").await;
    assert_token_shape(&refresh_token_of(&token));
}

#[tokio::test]
async fn client_without_the_refresh_grant_gets_no_refresh_token() {
    let app = lifecycle::start().await;
    let (challenge, verifier) = pkce();
    let (code, _) = Browser::new(&app)
        .code(&no_refresh_request(&challenge), ALICE, ALICE_PASSWORD)
        .await;
    let r = lifecycle::post_form(
        &app,
        "/token",
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", NO_REFRESH_REDIRECT),
            ("code_verifier", &verifier),
        ],
        Auth::Basic(NO_REFRESH, NO_REFRESH_SECRET),
    )
    .await;
    let token = token_ok(r).await;
    assert!(token.get("refresh_token").is_none(), "{token}");
}

// --- expiry ----------------------------------------------------------------------------

#[tokio::test]
async fn refresh_token_is_accepted_one_second_before_it_expires() {
    let app = lifecycle::start().await;
    let rt0 = refresh_token_of(&web_tokens(&app).await);
    app.clock.advance(REFRESH_TTL - 1);
    refreshed(refresh(&app, WEB_AUTH, &rt0, None).await, &rt0).await;
}

#[tokio::test]
async fn rejects_expired_refresh_token() {
    let app = lifecycle::start().await;
    let rt0 = refresh_token_of(&web_tokens(&app).await);
    // At exactly `refresh_token_ttl` seconds it has expired…
    app.clock.advance(REFRESH_TTL);
    let expired = "the refresh token has expired";
    assert_invalid_grant_because(refresh(&app, WEB_AUTH, &rt0, None).await, expired).await;
    // …and stays expired.
    app.clock.advance(1);
    assert_invalid_grant_because(refresh(&app, WEB_AUTH, &rt0, None).await, expired).await;
}

#[tokio::test]
async fn rotated_refresh_token_gets_a_full_lifetime() {
    // The successor's lifetime starts at the rotation (documented choice: a sliding
    // window of `refresh_token_ttl` of inactivity).
    let app = lifecycle::start().await;
    let rt0 = refresh_token_of(&web_tokens(&app).await);
    app.clock.advance(REFRESH_TTL - 10);
    let rt1 = refresh_token_of(&refreshed(refresh(&app, WEB_AUTH, &rt0, None).await, &rt0).await);
    app.clock.advance(REFRESH_TTL - 1);
    refreshed(refresh(&app, WEB_AUTH, &rt1, None).await, &rt1).await;
}

// --- rejections ------------------------------------------------------------------------

#[tokio::test]
async fn rejects_scope_outside_the_original_grant() {
    let app = lifecycle::start().await;
    let rt0 = refresh_token_of(&web_tokens(&app).await);
    // `profile` is one of web's scopes, but was not granted in this authorization.
    let r = refresh(&app, WEB_AUTH, &rt0, Some("openid profile")).await;
    let description = "scope `profile` was not granted with this refresh token";
    assert_rejection(r, 400, "invalid_scope", description).await;
    // A refused request does not use the token up.
    refreshed(refresh(&app, WEB_AUTH, &rt0, None).await, &rt0).await;
}

#[tokio::test]
async fn rejects_refresh_token_of_another_client() {
    let app = lifecycle::start().await;
    let rt0 = refresh_token_of(&web_tokens(&app).await);
    let other = Auth::Basic(OTHER_WEB, OTHER_WEB_SECRET);
    let description = "the refresh token is invalid";
    assert_invalid_grant_because(refresh(&app, other, &rt0, None).await, description).await;
    // A public client naming itself cannot use it either.
    let r = refresh(&app, NATIVE_AUTH, &rt0, None).await;
    assert_invalid_grant_because(r, description).await;
    // The other client's attempt neither rotated nor revoked it.
    refreshed(refresh(&app, WEB_AUTH, &rt0, None).await, &rt0).await;
}

#[tokio::test]
async fn rejects_unknown_refresh_token() {
    let app = lifecycle::start().await;
    let r = refresh(
        &app,
        WEB_AUTH,
        "q2Lx3tqjZrkxHn0rT0ZJ6c1pD5vY8yW3uH1sN2mB4aE",
        None,
    )
    .await;
    assert_invalid_grant_because(r, "the refresh token is invalid").await;
}

#[tokio::test]
async fn rejects_an_access_token_presented_as_a_refresh_token() {
    let app = lifecycle::start().await;
    let first = web_tokens(&app).await;
    let r = refresh(&app, WEB_AUTH, &access_token_of(&first), None).await;
    assert_invalid_grant_because(r, "the refresh token is invalid").await;
}

#[tokio::test]
async fn rejects_revoked_refresh_token() {
    let app = lifecycle::start().await;
    let rt0 = refresh_token_of(&web_tokens(&app).await);
    let r = lifecycle::revoke(&app, WEB_AUTH, &rt0, Some("refresh_token")).await;
    assert_eq!(r.status(), 200);
    assert_invalid_grant_because(refresh(&app, WEB_AUTH, &rt0, None).await, REVOKED).await;
}

#[tokio::test]
async fn rejects_reused_refresh_token_and_revokes_the_family() {
    let app = lifecycle::start().await;
    let first = web_tokens(&app).await;
    let rt0 = refresh_token_of(&first);
    let at0 = access_token_of(&first);
    let second = refreshed(refresh(&app, WEB_AUTH, &rt0, None).await, &rt0).await;
    let rt1 = refresh_token_of(&second);
    let at1 = access_token_of(&second);
    let third = refreshed(refresh(&app, WEB_AUTH, &rt1, None).await, &rt1).await;
    let rt2 = refresh_token_of(&third);
    let at2 = access_token_of(&third);
    assert!(is_active(&app, WEB_AUTH, &rt2).await);

    // RFC 9700 §4.14.2: the retired rt0 comes back (an attacker or the victim) …
    assert_invalid_grant_because(refresh(&app, WEB_AUTH, &rt0, None).await, REUSED).await;
    // … so every token of the family is dead: the live refresh token …
    assert_invalid_grant_because(refresh(&app, WEB_AUTH, &rt2, None).await, REVOKED).await;
    for rt in [&rt0, &rt1, &rt2] {
        assert!(!is_active(&app, WEB_AUTH, rt).await);
    }
    // … and the access tokens issued in the family, at introspection and UserInfo.
    for at in [&at0, &at1, &at2] {
        assert!(!is_active(&app, WEB_AUTH, at).await);
        let r = userinfo(&app, at).await;
        assert_eq!(r.status(), 401);
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
    }
}

#[tokio::test]
async fn reuse_within_the_grace_window_is_refused_and_keeps_the_family() {
    let app = TestApp::start_in(TempDir::new().unwrap(), &config_with_grace(30)).await;
    let rt0 = refresh_token_of(&web_tokens(&app).await);
    let second = refreshed(refresh(&app, WEB_AUTH, &rt0, None).await, &rt0).await;
    let rt1 = refresh_token_of(&second);
    app.clock.advance(29);
    let r = refresh(&app, WEB_AUTH, &rt0, None).await;
    let description = "the refresh token was already used; use the one issued in its place";
    assert_invalid_grant_because(r, description).await;
    // Refused, not revoked: the successor and its access token live on.
    assert!(is_active(&app, WEB_AUTH, &access_token_of(&second)).await);
    let third = refreshed(refresh(&app, WEB_AUTH, &rt1, None).await, &rt1).await;
    assert!(is_active(&app, WEB_AUTH, &refresh_token_of(&third)).await);
}

#[tokio::test]
async fn reuse_after_the_grace_window_revokes_the_family() {
    let app = TestApp::start_in(TempDir::new().unwrap(), &config_with_grace(30)).await;
    let rt0 = refresh_token_of(&web_tokens(&app).await);
    let second = refreshed(refresh(&app, WEB_AUTH, &rt0, None).await, &rt0).await;
    let rt1 = refresh_token_of(&second);
    app.clock.advance(31);
    assert_invalid_grant_because(refresh(&app, WEB_AUTH, &rt0, None).await, REUSED).await;
    assert_invalid_grant_because(refresh(&app, WEB_AUTH, &rt1, None).await, REVOKED).await;
    assert!(!is_active(&app, WEB_AUTH, &access_token_of(&second)).await);
}

#[tokio::test]
async fn rejects_replayed_code_and_revokes_the_refresh_tokens_issued_from_it() {
    // RFC 6749 §4.1.2: a replayed code revokes what was issued from it, refresh tokens
    // and their successors included.
    let app = lifecycle::start().await;
    let (challenge, verifier) = pkce();
    let (code, _) = Browser::new(&app)
        .code(&AuthRequest::web(&challenge), ALICE, ALICE_PASSWORD)
        .await;
    let first = token_ok(redeem_web(&app, &code, Some(&verifier)).await).await;
    let rt0 = refresh_token_of(&first);
    let second = refreshed(refresh(&app, WEB_AUTH, &rt0, None).await, &rt0).await;
    let rt1 = refresh_token_of(&second);
    let r = redeem_web(&app, &code, Some(&verifier)).await;
    let description =
        "the authorization code was already used; the tokens issued from it are revoked";
    assert_invalid_grant_because(r, description).await;
    assert_invalid_grant_because(refresh(&app, WEB_AUTH, &rt1, None).await, REVOKED).await;
    assert!(!is_active(&app, WEB_AUTH, &access_token_of(&second)).await);
}

#[tokio::test]
async fn rejects_refresh_without_a_refresh_token() {
    let app = lifecycle::start().await;
    let r =
        lifecycle::post_form(&app, "/token", &[("grant_type", "refresh_token")], WEB_AUTH).await;
    let description = "the refresh_token parameter is missing";
    assert_rejection(r, 400, "invalid_request", description).await;
}

#[tokio::test]
async fn rejects_refresh_by_a_client_without_the_refresh_grant() {
    let app = lifecycle::start().await;
    let rt0 = refresh_token_of(&web_tokens(&app).await);
    let r = refresh(&app, Auth::Basic(NO_REFRESH, NO_REFRESH_SECRET), &rt0, None).await;
    let description = "this client is not registered for the refresh_token grant";
    assert_rejection(r, 400, "unauthorized_client", description).await;
}

#[tokio::test]
async fn rejects_refresh_by_a_confidential_client_without_its_secret() {
    let app = lifecycle::start().await;
    let rt0 = refresh_token_of(&web_tokens(&app).await);
    let r = refresh(&app, Auth::Public(WEB), &rt0, None).await;
    let headers = r.headers().clone();
    assert_rejection(r, 401, "invalid_client", "client authentication failed").await;
    assert_eq!(
        headers["www-authenticate"],
        r#"Basic realm="portcullis", charset="UTF-8""#
    );
    // Nothing happened to the token.
    refreshed(refresh(&app, WEB_AUTH, &rt0, None).await, &rt0).await;
}

#[tokio::test]
async fn rejects_malformed_scope_on_refresh() {
    let app = lifecycle::start().await;
    let rt0 = refresh_token_of(&web_tokens(&app).await);
    let r = refresh(&app, WEB_AUTH, &rt0, Some("openid read\"orders")).await;
    // The offending scope-token is quoted, with `"` shown as `?` (RFC 6749 §5.2).
    let description = "scope `read?orders` is malformed (RFC 6749 section 3.3: visible ASCII, separated by single spaces)";
    assert_rejection(r, 400, "invalid_scope", description).await;
    refreshed(refresh(&app, WEB_AUTH, &rt0, None).await, &rt0).await;
}

#[tokio::test]
async fn rejects_resource_outside_the_original_grant_on_refresh() {
    let app = lifecycle::start().await;
    let rt0 = refresh_token_of(&web_tokens(&app).await);
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt0.as_str()),
        ("resource", "https://billing.example.com"),
    ];
    let r = lifecycle::post_form(&app, "/token", &form, WEB_AUTH).await;
    let description =
        "resource `https://billing.example.com` was not granted with this refresh token";
    assert_rejection(r, 400, "invalid_target", description).await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt0.as_str()),
        ("resource", "not a uri"),
    ];
    let r = lifecycle::post_form(&app, "/token", &form, WEB_AUTH).await;
    let description =
        "resource `not a uri` must be an absolute URI without a fragment (RFC 8707 section 2)";
    assert_rejection(r, 400, "invalid_target", description).await;
    // Refused requests do not use the token up.
    refreshed(refresh(&app, WEB_AUTH, &rt0, None).await, &rt0).await;
}
