//! RFC 6749 §4.4 client credentials, driven by the `oauth2` crate; tokens verified
//! with `jsonwebtoken` against the JWKS fetched over HTTP.

use crate::support::{API, POST_SECRET, SVC_SECRET, TestApp, oauth2_http, verify_access_token};
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};
use portcullis_core::Clock;
use portcullis_core::client::ClientRegistration;
use portcullis_server::app::admin;
use secrecy::ExposeSecret;
use serde_json::json;

#[tokio::test]
async fn oauth2_client_gets_a_token_that_verifies_against_the_jwks() {
    let app = TestApp::start().await;
    let client = BasicClient::new(ClientId::new("svc".into()))
        .set_client_secret(ClientSecret::new(SVC_SECRET.into()))
        .set_token_uri(TokenUrl::new(app.url("/token")).unwrap());
    let http = oauth2_http(app.http.clone());
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("read:orders".into()))
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(token.token_type().as_ref(), "bearer");
    assert_eq!(token.expires_in().unwrap().as_secs(), 900);
    assert!(
        token.refresh_token().is_none(),
        "RFC 6749 §4.4.3: no refresh token"
    );
    assert_eq!(
        token.scopes().unwrap(),
        &vec![Scope::new("read:orders".into())]
    );

    let jwks = app.jwks().await;
    let claims = verify_access_token(token.access_token().secret(), &jwks, &app.base, API);
    let now = app.clock.now();
    assert_eq!(claims["iss"], json!(app.base));
    assert_eq!(claims["sub"], "svc");
    assert_eq!(claims["client_id"], "svc");
    assert_eq!(claims["aud"], API);
    assert_eq!(claims["scope"], "read:orders");
    assert_eq!(claims["iat"], now);
    assert_eq!(claims["exp"], now + 900);
    assert_eq!(
        claims["tenant_id"], "abc-tenant",
        "the client's extra claims"
    );
    assert_eq!(claims["jti"].as_str().unwrap().len(), 36, "a UUID jti");
}

#[tokio::test]
async fn client_secret_post_is_accepted_for_a_client_registered_for_it() {
    let app = TestApp::start().await;
    let client = BasicClient::new(ClientId::new("post-svc".into()))
        .set_client_secret(ClientSecret::new(POST_SECRET.into()))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(TokenUrl::new(app.url("/token")).unwrap());
    let token = client
        .exchange_client_credentials()
        .request_async(&oauth2_http(app.http.clone()))
        .await
        .unwrap();
    let claims = verify_access_token(
        token.access_token().secret(),
        &app.jwks().await,
        &app.base,
        API,
    );
    assert_eq!(claims["client_id"], "post-svc");
}

#[tokio::test]
async fn response_is_not_cacheable_and_omitted_scope_grants_the_non_oidc_scopes() {
    let app = TestApp::start().await;
    let response = app
        .post_token(
            &[("grant_type", "client_credentials")],
            Some(("svc", SVC_SECRET)),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    // "openid" is allowed for svc but names a user; it is not granted by default.
    assert_eq!(body["scope"], "read:orders write:orders");
    assert!(body.get("refresh_token").is_none());
    let claims = verify_access_token(
        body["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        API,
    );
    assert_eq!(claims["scope"], "read:orders write:orders");
}

#[tokio::test]
async fn resources_become_the_audience() {
    let app = TestApp::start().await;
    let response = app
        .post_token(
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://billing.example.com"),
                ("resource", API),
            ],
            Some(("svc", SVC_SECRET)),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let claims = verify_access_token(
        body["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        API,
    );
    assert_eq!(claims["aud"], json!(["https://billing.example.com", API]));
}

#[tokio::test]
async fn a_rotated_secret_keeps_working_only_for_the_grace_window() {
    let app = TestApp::start().await;
    let store = app.app.state().store().clone();
    let now = app.clock.now();
    let registration = ClientRegistration {
        client_id: "rolling".into(),
        grant_types: Some(vec!["client_credentials".into()]),
        audiences: vec![API.into()],
        ..Default::default()
    };
    let (_, old) = admin::create_client(store.as_ref(), registration, true, now, "test")
        .await
        .unwrap();
    let old = old.unwrap().expose_secret().to_owned();
    let status = |secret: String| {
        let app = &app;
        async move {
            app.post_token(
                &[("grant_type", "client_credentials")],
                Some(("rolling", &secret)),
            )
            .await
            .status()
        }
    };
    assert_eq!(status(old.clone()).await, 200);

    let new = admin::rotate_client_secret(store.as_ref(), "rolling", Some(60), now, "test")
        .await
        .unwrap();
    let new = new.expose_secret().to_owned();
    app.app.state().clients().invalidate("rolling");
    assert_eq!(status(new.clone()).await, 200);
    assert_eq!(status(old.clone()).await, 200, "old secret within 60 s");
    app.clock.advance(59);
    assert_eq!(status(old.clone()).await, 200, "old secret at exp - 1 s");
    app.clock.advance(1);
    assert_eq!(status(old.clone()).await, 401, "old secret at exp");
    app.clock.advance(1);
    assert_eq!(status(old.clone()).await, 401, "old secret at exp + 1 s");
    assert_eq!(status(new).await, 200);
}

#[tokio::test]
async fn a_config_clients_secret_is_rotated_in_the_file_not_the_cli() {
    let app = TestApp::start().await;
    let store = app.app.state().store().clone();
    let e = admin::rotate_client_secret(store.as_ref(), "svc", None, app.clock.now(), "test")
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("change its client_secret there"),
        "{e}"
    );
    assert_eq!(
        app.post_token(
            &[("grant_type", "client_credentials")],
            Some(("svc", SVC_SECRET))
        )
        .await
        .status(),
        200
    );
}

#[tokio::test]
async fn basic_and_body_authentication_both_work_for_a_confidential_client() {
    // RFC 6749 section 2.3.1: the server MUST support HTTP Basic for clients issued a
    // password; the body form carries the same secret.
    let app = TestApp::start().await;
    let form = [("grant_type", "client_credentials")];
    assert_eq!(
        app.post_token(&form, Some(("post-svc", POST_SECRET)))
            .await
            .status(),
        200
    );
    let body = [
        ("grant_type", "client_credentials"),
        ("client_id", "svc"),
        ("client_secret", SVC_SECRET),
    ];
    assert_eq!(app.post_token(&body, None).await.status(), 200);
}

#[tokio::test]
async fn access_token_lifetime_comes_from_the_configuration() {
    let dir = tempfile::TempDir::new().unwrap();
    let config =
        crate::support::BASE_CONFIG.replace("access_token_ttl = 900", "access_token_ttl = 120");
    let app = TestApp::start_in(dir, &config).await;
    let response = app
        .post_token(
            &[("grant_type", "client_credentials")],
            Some(("svc", SVC_SECRET)),
        )
        .await;
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 120);
    let claims = verify_access_token(
        body["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        API,
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        120
    );
}
