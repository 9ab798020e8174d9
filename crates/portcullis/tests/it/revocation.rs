//! RFC 7009 token revocation: the `oauth2` crate revoking refresh tokens (the whole
//! family goes) and access tokens (inactive at introspection, 401 at UserInfo), by
//! confidential and public clients; a wrong hint still revokes; an unknown token or
//! another client's gets 200 and changes nothing; one named test per rejection.

use crate::flow::{NATIVE, WEB, token_ok, userinfo};
use crate::lifecycle::{
    self, Auth, NATIVE_AUTH, ORDERS_API_AUTH, OTHER_WEB, OTHER_WEB_SECRET, WEB_AUTH,
    access_token_of, assert_error, assert_invalid_grant, assert_rejection, is_active,
    native_tokens, oauth2_http_tls_alias, post_form, refresh, refresh_token_of, revoke, tls_alias,
    web_tokens,
};
use crate::support::{TestApp, WEB_SECRET};
use oauth2::basic::BasicClient;
use oauth2::{
    AccessToken, ClientId, ClientSecret, RefreshToken, RevocationUrl, StandardRevocableToken,
};
use serde_json::json;

/// Asserts the 200 answer of a revocation (RFC 7009 §2.2), not cacheable.
async fn assert_revoked_ok(r: reqwest::Response) {
    let status = r.status();
    let headers = r.headers().clone();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
}

/// Asserts `at` is dead for a resource server: inactive at introspection, 401 with
/// `invalid_token` at UserInfo.
async fn assert_access_token_dead(app: &TestApp, at: &str) {
    assert!(!is_active(app, ORDERS_API_AUTH, at).await);
    let r = userinfo(app, at).await;
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
}

/// Asserts `at` is live: active at introspection, 200 at UserInfo.
async fn assert_access_token_live(app: &TestApp, at: &str) {
    assert!(is_active(app, ORDERS_API_AUTH, at).await);
    assert_eq!(userinfo(app, at).await.status(), 200);
}

// --- through the oauth2 crate --------------------------------------------------------

#[tokio::test]
async fn oauth2_client_revokes_a_refresh_token_and_its_family() {
    let app = lifecycle::start().await;
    let first = web_tokens(&app).await;
    let rt0 = refresh_token_of(&first);
    let second = token_ok(refresh(&app, WEB_AUTH, &rt0, None).await).await;
    let rt1 = refresh_token_of(&second);
    let client = BasicClient::new(ClientId::new(WEB.into()))
        .set_client_secret(ClientSecret::new(WEB_SECRET.into()))
        .set_revocation_url(RevocationUrl::new(tls_alias(&app, "/revoke")).unwrap());
    let http = oauth2_http_tls_alias(&app);
    client
        .revoke_token(StandardRevocableToken::RefreshToken(RefreshToken::new(
            rt1.clone(),
        )))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();

    assert_invalid_grant(refresh(&app, WEB_AUTH, &rt1, None).await).await;
    assert!(!is_active(&app, WEB_AUTH, &rt1).await);
    // Every access token issued in the family.
    assert_access_token_dead(&app, &access_token_of(&first)).await;
    assert_access_token_dead(&app, &access_token_of(&second)).await;
    // Another authorization of the same user and client is untouched.
    let other = web_tokens(&app).await;
    assert_access_token_live(&app, &access_token_of(&other)).await;
    assert!(is_active(&app, WEB_AUTH, &refresh_token_of(&other)).await);
}

#[tokio::test]
async fn oauth2_public_client_revokes_its_refresh_token_with_its_client_id() {
    let app = lifecycle::start().await;
    let tokens = native_tokens(&app, "openid offline_access").await;
    let rt = refresh_token_of(&tokens);
    // No secret: the crate sends client_id in the body (RFC 7009 §2.1).
    let client = BasicClient::new(ClientId::new(NATIVE.into()))
        .set_revocation_url(RevocationUrl::new(tls_alias(&app, "/revoke")).unwrap());
    let http = oauth2_http_tls_alias(&app);
    client
        .revoke_token(StandardRevocableToken::RefreshToken(RefreshToken::new(
            rt.clone(),
        )))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_invalid_grant(refresh(&app, NATIVE_AUTH, &rt, None).await).await;
    assert_access_token_dead(&app, &access_token_of(&tokens)).await;
}

#[tokio::test]
async fn oauth2_client_revokes_an_access_token() {
    let app = lifecycle::start().await;
    let tokens = web_tokens(&app).await;
    let at = access_token_of(&tokens);
    assert_access_token_live(&app, &at).await;
    let client = BasicClient::new(ClientId::new(WEB.into()))
        .set_client_secret(ClientSecret::new(WEB_SECRET.into()))
        .set_revocation_url(RevocationUrl::new(tls_alias(&app, "/revoke")).unwrap());
    let http = oauth2_http_tls_alias(&app);
    client
        .revoke_token(StandardRevocableToken::AccessToken(AccessToken::new(
            at.clone(),
        )))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_access_token_dead(&app, &at).await;
    assert!(!is_active(&app, WEB_AUTH, &at).await, "for its owner too");
}

#[tokio::test]
async fn revoking_a_retired_refresh_token_revokes_its_family() {
    // The client hands back an old token of the family: the family goes all the same.
    let app = lifecycle::start().await;
    let rt0 = refresh_token_of(&web_tokens(&app).await);
    let second = token_ok(refresh(&app, WEB_AUTH, &rt0, None).await).await;
    let rt1 = refresh_token_of(&second);
    assert_revoked_ok(revoke(&app, WEB_AUTH, &rt0, Some("refresh_token")).await).await;
    assert_invalid_grant(refresh(&app, WEB_AUTH, &rt1, None).await).await;
    assert_access_token_dead(&app, &access_token_of(&second)).await;
}

#[tokio::test]
async fn wrong_token_type_hint_still_revokes() {
    // RFC 7009 §2.1: the hint is only where to look first.
    let app = lifecycle::start().await;
    let tokens = web_tokens(&app).await;
    let rt = refresh_token_of(&tokens);
    assert_revoked_ok(revoke(&app, WEB_AUTH, &rt, Some("access_token")).await).await;
    assert_invalid_grant(refresh(&app, WEB_AUTH, &rt, None).await).await;

    let tokens = web_tokens(&app).await;
    let at = access_token_of(&tokens);
    assert_revoked_ok(revoke(&app, WEB_AUTH, &at, Some("refresh_token")).await).await;
    assert_access_token_dead(&app, &at).await;
}

#[tokio::test]
async fn revoking_twice_answers_200_both_times() {
    let app = lifecycle::start().await;
    let tokens = web_tokens(&app).await;
    for token in [refresh_token_of(&tokens), access_token_of(&tokens)] {
        assert_revoked_ok(revoke(&app, WEB_AUTH, &token, None).await).await;
        assert_revoked_ok(revoke(&app, WEB_AUTH, &token, None).await).await;
    }
}

#[tokio::test]
async fn revoking_an_unknown_token_answers_200() {
    let app = lifecycle::start().await;
    for token in [
        "garbage",
        "q2Lx3tqjZrkxHn0rT0ZJ6c1pD5vY8yW3uH1sN2mB4aE",
        "a.b.c",
    ] {
        assert_revoked_ok(revoke(&app, WEB_AUTH, token, None).await).await;
        assert_revoked_ok(revoke(&app, NATIVE_AUTH, token, Some("refresh_token")).await).await;
    }
}

#[tokio::test]
async fn revoking_another_clients_token_answers_200_and_changes_nothing() {
    let app = lifecycle::start().await;
    let tokens = web_tokens(&app).await;
    let (at, rt) = (access_token_of(&tokens), refresh_token_of(&tokens));
    // Another confidential client, a public client, and the API's resource server (it
    // may introspect the token, not end it).
    for auth in [
        Auth::Basic(OTHER_WEB, OTHER_WEB_SECRET),
        NATIVE_AUTH,
        ORDERS_API_AUTH,
    ] {
        assert_revoked_ok(revoke(&app, auth, &rt, None).await).await;
        assert_revoked_ok(revoke(&app, auth, &at, None).await).await;
    }
    assert_access_token_live(&app, &at).await;
    assert!(is_active(&app, WEB_AUTH, &rt).await);
    token_ok(refresh(&app, WEB_AUTH, &rt, None).await).await;
}

// --- rejections of the request ---------------------------------------------------------

#[tokio::test]
async fn rejects_revocation_without_client_authentication() {
    let app = lifecycle::start().await;
    let tokens = web_tokens(&app).await;
    let rt = refresh_token_of(&tokens);
    let r = post_form(&app, "/revoke", &[("token", rt.as_str())], Auth::Nothing).await;
    assert_rejection(r, 401, "invalid_client", "client authentication is required: use HTTP Basic (client_secret_basic) or client_id and client_secret in the body (client_secret_post)").await;
    assert!(is_active(&app, WEB_AUTH, &rt).await, "nothing revoked");
}

#[tokio::test]
async fn rejects_revocation_by_a_confidential_client_without_its_secret() {
    let app = lifecycle::start().await;
    let tokens = web_tokens(&app).await;
    let rt = refresh_token_of(&tokens);
    let r = revoke(&app, Auth::Public(WEB), &rt, None).await;
    assert_rejection(r, 401, "invalid_client", "client authentication failed").await;
    assert!(is_active(&app, WEB_AUTH, &rt).await, "nothing revoked");
}

#[tokio::test]
async fn rejects_revocation_with_a_wrong_secret() {
    let app = lifecycle::start().await;
    let tokens = web_tokens(&app).await;
    let at = access_token_of(&tokens);
    let r = revoke(
        &app,
        Auth::Basic(WEB, "wrong-secret-0123456789abcdefghijklmn"),
        &at,
        None,
    )
    .await;
    let headers = r.headers().clone();
    assert_rejection(r, 401, "invalid_client", "client authentication failed").await;
    assert_eq!(
        headers["www-authenticate"],
        r#"Basic realm="portcullis", charset="UTF-8""#
    );
    assert_access_token_live(&app, &at).await;
}

#[tokio::test]
async fn rejects_revocation_without_a_token() {
    let app = lifecycle::start().await;
    let r = post_form(
        &app,
        "/revoke",
        &[("token_type_hint", "refresh_token")],
        WEB_AUTH,
    )
    .await;
    assert_rejection(
        r,
        400,
        "invalid_request",
        "the token parameter is required (RFC 7009 section 2.1)",
    )
    .await;
}

#[tokio::test]
async fn rejects_revocation_by_get_with_405() {
    let app = lifecycle::start().await;
    let r = app
        .http
        .get(app.url("/revoke?token=x"))
        .send()
        .await
        .unwrap();
    let allow = r.headers()["allow"].clone();
    let body = assert_error(r, 405, "invalid_request").await;
    assert_eq!(allow, "POST");
    assert_eq!(
        body,
        json!({"error": "invalid_request", "error_description": "the revocation endpoint accepts only POST (RFC 7009 section 2.1)"})
    );
}
