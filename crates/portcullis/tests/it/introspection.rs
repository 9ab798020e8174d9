//! RFC 7662 token introspection: the `oauth2` crate as a resource server and as the
//! owning client, every reason a token is inactive (each answered exactly
//! `{"active": false}`), and one named test per rejection of the request.
//!
//! Policy under test: a client sees its own tokens; a confidential client whose
//! `introspection_audiences` include an access token's `aud` sees that access token
//! too (refresh tokens stay their client's alone); nobody else learns anything.

use crate::flow::{ALICE, API, pkce, user_id};
use crate::lifecycle::{
    self, ACCESS_TTL, Auth, BILLING, BILLING_API_AUTH, NATIVE_AUTH, ORDERS_API, ORDERS_API_AUTH,
    ORDERS_API_SECRET, OTHER_WEB, OTHER_WEB_SECRET, REFRESH_TTL, WEB_AUTH, access_token_of,
    assert_error, assert_rejection, introspect, is_active, native_tokens, post_form, refresh,
    refresh_token_of, scopes, web_tokens,
};
use crate::support::{TestApp, WEB_SECRET, oauth2_http};
use base64::Engine;
use oauth2::basic::{BasicClient, BasicTokenType};
use oauth2::{
    AccessToken, ClientId, ClientSecret, IntrospectionUrl, TokenIntrospectionResponse, TokenUrl,
};
use serde_json::{Value, json};

/// The claims of a JWT, unverified (the server signed it; other tests check that).
fn unverified_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// `orders-api` gets a client credentials token for the API.
async fn orders_api_token(app: &TestApp) -> String {
    let r = post_form(
        app,
        "/token",
        &[("grant_type", "client_credentials")],
        ORDERS_API_AUTH,
    )
    .await;
    access_token_of(&crate::flow::token_ok(r).await)
}

/// Asserts the inactive answer, exactly.
async fn assert_inactive(app: &TestApp, auth: Auth<'_>, token: &str, hint: Option<&str>) {
    let body = introspect(app, auth, token, hint).await;
    assert_eq!(body, json!({"active": false}));
}

// --- active tokens ---------------------------------------------------------------------

#[tokio::test]
async fn oauth2_resource_server_introspects_an_access_token() {
    let app = lifecycle::start().await;
    let tokens = web_tokens(&app).await;
    let at = access_token_of(&tokens);
    let claims = unverified_claims(&at);
    let client = BasicClient::new(ClientId::new(ORDERS_API.into()))
        .set_client_secret(ClientSecret::new(ORDERS_API_SECRET.into()))
        .set_introspection_url(IntrospectionUrl::new(app.url("/introspect")).unwrap());
    let http = oauth2_http(app.http.clone());
    let answer = client
        .introspect(&AccessToken::new(at.clone()))
        .set_token_type_hint("access_token")
        .request_async(&http)
        .await
        .unwrap();
    assert!(answer.active());
    let granted: Vec<&str> = answer
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(granted, ["openid", "read:orders"]);
    assert_eq!(answer.client_id().unwrap().as_str(), "web");
    assert_eq!(answer.sub(), Some(user_id(&app, ALICE).await.as_str()));
    assert!(answer.aud().unwrap().contains(&API.to_owned()));
    assert_eq!(answer.iss(), Some(app.base.as_str()));
    assert_eq!(answer.token_type(), Some(&BasicTokenType::Bearer));
    assert_eq!(answer.exp().unwrap().timestamp(), claims["exp"]);
    assert_eq!(answer.iat().unwrap().timestamp(), claims["iat"]);
    assert_eq!(
        answer.exp().unwrap().timestamp() - answer.iat().unwrap().timestamp(),
        ACCESS_TTL
    );

    // On the wire: RFC 7662 §2.2 member names, `Bearer` spelled as RFC 6750 does.
    let body = introspect(&app, ORDERS_API_AUTH, &at, None).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["aud"], claims["aud"]);
    assert_eq!(body["sub"], claims["sub"]);
    assert_eq!(body["jti"], claims["jti"]);
}

#[tokio::test]
async fn oauth2_client_introspects_its_own_refresh_token() {
    let app = lifecycle::start().await;
    let tokens = web_tokens(&app).await;
    let rt = refresh_token_of(&tokens);
    let client = BasicClient::new(ClientId::new("web".into()))
        .set_client_secret(ClientSecret::new(WEB_SECRET.into()))
        .set_introspection_url(IntrospectionUrl::new(app.url("/introspect")).unwrap());
    let http = oauth2_http(app.http.clone());
    let answer = client
        .introspect(&AccessToken::new(rt.clone()))
        .set_token_type_hint("refresh_token")
        .request_async(&http)
        .await
        .unwrap();
    assert!(answer.active());
    assert_eq!(answer.client_id().unwrap().as_str(), "web");
    assert_eq!(answer.sub(), Some(user_id(&app, ALICE).await.as_str()));
    assert_eq!(answer.iss(), Some(app.base.as_str()));
    assert_eq!(
        answer.exp().unwrap().timestamp() - answer.iat().unwrap().timestamp(),
        REFRESH_TTL
    );

    let body = introspect(&app, WEB_AUTH, &rt, None).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "refresh_token");
    assert_eq!(scopes(&body["scope"]), ["openid", "read:orders"]);
    assert_eq!(body["client_id"], "web");
    for member in ["sub", "iss", "exp", "iat"] {
        assert!(body.get(member).is_some(), "{member} missing: {body}");
    }
}

#[tokio::test]
async fn refresh_token_introspection_names_the_audience_of_its_access_tokens() {
    // The issue's list of members for a live refresh token includes `aud`: the
    // audience the access tokens minted from it get, here web's default audience (no
    // `resource` was asked for).
    let app = lifecycle::start().await;
    let tokens = web_tokens(&app).await;
    let claims = unverified_claims(&access_token_of(&tokens));
    let body = introspect(&app, WEB_AUTH, &refresh_token_of(&tokens), None).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["aud"], claims["aud"], "{body}");
}

#[tokio::test]
async fn client_introspects_its_own_access_token() {
    let app = lifecycle::start().await;
    let at = access_token_of(&web_tokens(&app).await);
    let body = introspect(&app, WEB_AUTH, &at, None).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], "web");
    // A client credentials token: the client is the subject.
    let cc = orders_api_token(&app).await;
    let body = introspect(&app, ORDERS_API_AUTH, &cc, None).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["sub"], ORDERS_API);
    assert_eq!(body["client_id"], ORDERS_API);
    assert_eq!(body["token_type"], "Bearer");
}

#[tokio::test]
async fn resource_server_sees_a_public_clients_token_for_its_audience() {
    let app = lifecycle::start().await;
    let at = access_token_of(&native_tokens(&app, "openid offline_access").await);
    let body = introspect(&app, ORDERS_API_AUTH, &at, None).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], "native");
}

#[tokio::test]
async fn introspection_with_client_secret_post_works() {
    let app = lifecycle::start().await;
    let at = access_token_of(&web_tokens(&app).await);
    let r = post_form(
        &app,
        "/introspect",
        &[
            ("token", at.as_str()),
            ("client_id", ORDERS_API),
            ("client_secret", ORDERS_API_SECRET),
        ],
        Auth::Nothing,
    )
    .await;
    assert_eq!(lifecycle::introspection_body(r).await["active"], true);
}

#[tokio::test]
async fn wrong_token_type_hint_still_finds_the_token() {
    // RFC 7662 §2.1: the hint only says where to look first.
    let app = lifecycle::start().await;
    let tokens = web_tokens(&app).await;
    let at = access_token_of(&tokens);
    let rt = refresh_token_of(&tokens);
    let body = introspect(&app, WEB_AUTH, &at, Some("refresh_token")).await;
    assert_eq!(body["token_type"], "Bearer");
    let body = introspect(&app, WEB_AUTH, &rt, Some("access_token")).await;
    assert_eq!(body["token_type"], "refresh_token");
}

// --- inactive: exactly {"active": false} -------------------------------------------------

#[tokio::test]
async fn garbage_is_inactive() {
    let app = lifecycle::start().await;
    for token in [
        "garbage",
        "q2Lx3tqjZrkxHn0rT0ZJ6c1pD5vY8yW3uH1sN2mB4aE",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "a.b.c",
    ] {
        assert_inactive(&app, ORDERS_API_AUTH, token, None).await;
        assert_inactive(&app, WEB_AUTH, token, Some("refresh_token")).await;
    }
}

#[tokio::test]
async fn access_token_signed_by_another_key_is_inactive() {
    // Same claims, an HMAC "signature" with a key anyone could pick: a forgery.
    let app = lifecycle::start().await;
    let at = access_token_of(&web_tokens(&app).await);
    let claims = unverified_claims(&at);
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header.kid = jsonwebtoken::decode_header(&at).unwrap().kid;
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"attacker-chosen-key"),
    )
    .unwrap();
    assert_inactive(&app, ORDERS_API_AUTH, &forged, None).await;
    assert_inactive(&app, WEB_AUTH, &forged, None).await;
}

#[tokio::test]
async fn expired_access_token_is_inactive() {
    let app = lifecycle::start().await;
    let at = access_token_of(&web_tokens(&app).await);
    app.clock.advance(ACCESS_TTL - 1);
    assert!(is_active(&app, ORDERS_API_AUTH, &at).await);
    app.clock.advance(1);
    assert_inactive(&app, ORDERS_API_AUTH, &at, None).await;
    app.clock.advance(1);
    assert_inactive(&app, WEB_AUTH, &at, None).await;
}

#[tokio::test]
async fn expired_refresh_token_is_inactive() {
    let app = lifecycle::start().await;
    let rt = refresh_token_of(&web_tokens(&app).await);
    app.clock.advance(REFRESH_TTL - 1);
    assert!(is_active(&app, WEB_AUTH, &rt).await);
    app.clock.advance(1);
    assert_inactive(&app, WEB_AUTH, &rt, None).await;
    app.clock.advance(1);
    assert_inactive(&app, WEB_AUTH, &rt, Some("refresh_token")).await;
}

#[tokio::test]
async fn rotated_refresh_token_is_inactive() {
    let app = lifecycle::start().await;
    let rt0 = refresh_token_of(&web_tokens(&app).await);
    let r = refresh(&app, WEB_AUTH, &rt0, None).await;
    let rt1 = refresh_token_of(&crate::flow::token_ok(r).await);
    assert_inactive(&app, WEB_AUTH, &rt0, Some("refresh_token")).await;
    // Asking did not count as reuse: the successor is still live.
    assert!(is_active(&app, WEB_AUTH, &rt1).await);
}

#[tokio::test]
async fn revoked_tokens_are_inactive() {
    let app = lifecycle::start().await;
    let tokens = web_tokens(&app).await;
    let (at, rt) = (access_token_of(&tokens), refresh_token_of(&tokens));
    let r = lifecycle::revoke(&app, WEB_AUTH, &rt, None).await;
    assert_eq!(r.status(), 200);
    assert_inactive(&app, WEB_AUTH, &rt, None).await;
    // The family's access token went with it.
    assert_inactive(&app, ORDERS_API_AUTH, &at, None).await;
}

#[tokio::test]
async fn another_clients_token_is_inactive() {
    let app = lifecycle::start().await;
    let tokens = web_tokens(&app).await;
    let (at, rt) = (access_token_of(&tokens), refresh_token_of(&tokens));
    let other = Auth::Basic(OTHER_WEB, OTHER_WEB_SECRET);
    assert_inactive(&app, other, &at, None).await;
    assert_inactive(&app, other, &rt, None).await;
    // Refresh tokens are their client's alone: the resource server of their audience
    // sees the access token, not the refresh token (no resource server receives one).
    assert!(is_active(&app, ORDERS_API_AUTH, &at).await);
    assert_inactive(&app, ORDERS_API_AUTH, &rt, Some("refresh_token")).await;
    // Still live for its owner.
    assert!(is_active(&app, WEB_AUTH, &rt).await);
}

#[tokio::test]
async fn resource_server_does_not_see_a_token_for_another_audience() {
    let app = lifecycle::start().await;
    // An API token, seen by the API's resource server, not by billing's.
    let cc = orders_api_token(&app).await;
    assert!(is_active(&app, ORDERS_API_AUTH, &cc).await);
    assert_inactive(&app, BILLING_API_AUTH, &cc, None).await;
    // A billing token of `web`: the other way round.
    let (challenge, verifier) = pkce();
    let request = crate::flow::AuthRequest::web(&challenge).set("resource", BILLING);
    let (code, _) = crate::flow::Browser::new(&app)
        .code(&request, ALICE, crate::flow::ALICE_PASSWORD)
        .await;
    let r = crate::flow::redeem_web(&app, &code, Some(&verifier)).await;
    let at = access_token_of(&crate::flow::token_ok(r).await);
    assert!(is_active(&app, BILLING_API_AUTH, &at).await);
    assert_inactive(&app, ORDERS_API_AUTH, &at, None).await;
}

// --- rejections of the request ---------------------------------------------------------

const BASIC_CHALLENGE: &str = r#"Basic realm="portcullis", charset="UTF-8""#;

#[tokio::test]
async fn rejects_introspection_without_client_authentication() {
    let app = lifecycle::start().await;
    let at = access_token_of(&web_tokens(&app).await);
    let r = post_form(
        &app,
        "/introspect",
        &[("token", at.as_str())],
        Auth::Nothing,
    )
    .await;
    assert_rejection(r, 401, "invalid_client", "client authentication is required: use HTTP Basic (client_secret_basic) or client_id and client_secret in the body (client_secret_post)").await;
}

#[tokio::test]
async fn rejects_introspection_by_a_public_client() {
    // RFC 7662 §2.1 requires authorization; a public client's bare client_id is not.
    let app = lifecycle::start().await;
    let tokens = native_tokens(&app, "openid offline_access").await;
    let r = post_form(
        &app,
        "/introspect",
        &[("token", access_token_of(&tokens).as_str())],
        NATIVE_AUTH,
    )
    .await;
    assert_rejection(r, 401, "invalid_client", "this endpoint requires a confidential client: authenticate with client_secret_basic, client_secret_post or private_key_jwt").await;
}

#[tokio::test]
async fn rejects_introspection_with_a_wrong_secret() {
    let app = lifecycle::start().await;
    let r = post_form(
        &app,
        "/introspect",
        &[("token", "anything")],
        Auth::Basic(ORDERS_API, "wrong-secret-0123456789abcdefghijklm"),
    )
    .await;
    let headers = r.headers().clone();
    assert_rejection(r, 401, "invalid_client", "client authentication failed").await;
    assert_eq!(headers["www-authenticate"], BASIC_CHALLENGE);
}

#[tokio::test]
async fn rejects_introspection_without_a_token() {
    let app = lifecycle::start().await;
    let r = post_form(&app, "/introspect", &[], ORDERS_API_AUTH).await;
    assert_rejection(
        r,
        400,
        "invalid_request",
        "the token parameter is required (RFC 7662 section 2.1)",
    )
    .await;
}

#[tokio::test]
async fn rejects_introspection_with_a_repeated_token() {
    let app = lifecycle::start().await;
    let r = post_form(
        &app,
        "/introspect",
        &[("token", "a"), ("token", "b")],
        ORDERS_API_AUTH,
    )
    .await;
    assert_rejection(
        r,
        400,
        "invalid_request",
        "parameter `token` is repeated; it may appear only once (RFC 6749 section 3.1)",
    )
    .await;
}

#[tokio::test]
async fn rejects_introspection_with_a_json_body() {
    let app = lifecycle::start().await;
    let r = app
        .http
        .post(app.url("/introspect"))
        .header(
            "authorization",
            crate::support::basic_header(ORDERS_API, ORDERS_API_SECRET),
        )
        .header("content-type", "application/json")
        .body(r#"{"token":"x"}"#)
        .send()
        .await
        .unwrap();
    assert_rejection(
        r,
        400,
        "invalid_request",
        "the request body must be application/x-www-form-urlencoded (RFC 6749 section 3.2)",
    )
    .await;
}

#[tokio::test]
async fn rejects_introspection_by_get_with_405() {
    let app = lifecycle::start().await;
    let r = app
        .http
        .get(app.url("/introspect?token=x"))
        .send()
        .await
        .unwrap();
    let allow = r.headers()["allow"].clone();
    let body = assert_error(r, 405, "invalid_request").await;
    assert_eq!(allow, "POST");
    assert_eq!(
        body,
        json!({"error": "invalid_request", "error_description": "the introspection endpoint accepts only POST (RFC 7662 section 2.1)"})
    );
}

#[tokio::test]
async fn oauth2_introspection_of_an_expired_token_is_inactive() {
    // The crate's view of the inactive answer, for completeness.
    let app = lifecycle::start().await;
    let at = access_token_of(&web_tokens(&app).await);
    app.clock.advance(ACCESS_TTL);
    let client = BasicClient::new(ClientId::new(ORDERS_API.into()))
        .set_client_secret(ClientSecret::new(ORDERS_API_SECRET.into()))
        .set_introspection_url(IntrospectionUrl::new(app.url("/introspect")).unwrap())
        .set_token_uri(TokenUrl::new(app.url("/token")).unwrap());
    let http = oauth2_http(app.http.clone());
    let answer = client
        .introspect(&AccessToken::new(at))
        .request_async(&http)
        .await
        .unwrap();
    assert!(!answer.active());
    assert!(answer.scopes().is_none() && answer.sub().is_none() && answer.exp().is_none());
}
