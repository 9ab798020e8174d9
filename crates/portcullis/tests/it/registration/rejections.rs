//! One named test per refusal of the registration endpoint (RFC 7591 §3.2.2, RFC 6750
//! §3.1) and of the client configuration endpoint (RFC 7592 §2), pinning status, error
//! code and description.

use super::{assert_error, mcp_metadata, register, registered, start_open, start_with};
use crate::support::TestApp;
use serde_json::{Value, json};

fn with(field: &str, value: Value) -> Value {
    let mut body = mcp_metadata();
    body[field] = value;
    body
}

async fn refused(app: &TestApp, body: Value, error: &str, needle: &str) {
    assert_error(register(app, &body, None).await, 400, error, needle).await;
}

#[tokio::test]
async fn rejects_a_redirect_uri_with_a_fragment() {
    let app = start_open().await;
    let body = with("redirect_uris", json!(["https://agent.example.com/cb#x"]));
    refused(&app, body, "invalid_redirect_uri", "fragment").await;
}

#[tokio::test]
async fn rejects_a_wildcard_redirect_uri() {
    let app = start_open().await;
    let body = with("redirect_uris", json!(["https://*.example.com/cb"]));
    refused(
        &app,
        body,
        "invalid_redirect_uri",
        "wildcards are not supported",
    )
    .await;
}

#[tokio::test]
async fn rejects_plain_http_on_a_non_loopback_host() {
    let app = start_open().await;
    let body = with("redirect_uris", json!(["http://agent.example.com/cb"]));
    refused(
        &app,
        body,
        "invalid_redirect_uri",
        "plain http is allowed only on a loopback host",
    )
    .await;
}

#[tokio::test]
async fn rejects_a_code_client_without_redirect_uris() {
    let app = start_open().await;
    let mut body = mcp_metadata();
    body.as_object_mut().unwrap().remove("redirect_uris");
    refused(&app, body, "invalid_redirect_uri", "needs at least one").await;
}

#[tokio::test]
async fn rejects_the_implicit_grant() {
    let app = start_open().await;
    let body = with("grant_types", json!(["implicit"]));
    refused(
        &app,
        body,
        "invalid_client_metadata",
        "`implicit` is not supported",
    )
    .await;
}

#[tokio::test]
async fn rejects_the_password_grant() {
    let app = start_open().await;
    let body = with("grant_types", json!(["password"]));
    refused(
        &app,
        body,
        "invalid_client_metadata",
        "`password` is not supported",
    )
    .await;
}

#[tokio::test]
async fn rejects_the_token_response_type() {
    let app = start_open().await;
    let body = with("response_types", json!(["code", "token"]));
    refused(
        &app,
        body,
        "invalid_client_metadata",
        "`token` is not supported",
    )
    .await;
}

#[tokio::test]
async fn rejects_an_unsupported_auth_method() {
    let app = start_open().await;
    let body = with("token_endpoint_auth_method", json!("client_secret_jwt"));
    refused(
        &app,
        body,
        "invalid_client_metadata",
        "`client_secret_jwt` is not supported",
    )
    .await;
}

#[tokio::test]
async fn rejects_jwks_uri() {
    let app = start_open().await;
    let mut body = with("token_endpoint_auth_method", json!("private_key_jwt"));
    body["jwks_uri"] = json!("https://agent.example.com/jwks.json");
    refused(
        &app,
        body,
        "invalid_client_metadata",
        "jwks_uri: is not supported",
    )
    .await;
}

#[tokio::test]
async fn rejects_private_key_jwt_without_keys() {
    let app = start_open().await;
    let body = with("token_endpoint_auth_method", json!("private_key_jwt"));
    refused(&app, body, "invalid_client_metadata", "jwks").await;
}

#[tokio::test]
async fn rejects_an_unknown_scope() {
    let app = start_open().await;
    let body = with("scope", json!("tools:read no-such-scope"));
    refused(
        &app,
        body,
        "invalid_client_metadata",
        "`no-such-scope` is not available",
    )
    .await;
}

#[tokio::test]
async fn rejects_a_scope_of_a_resource_closed_to_dynamic_clients() {
    let app = start_open().await;
    let body = with("scope", json!("internal:admin"));
    refused(
        &app,
        body,
        "invalid_client_metadata",
        "`internal:admin` is not available",
    )
    .await;
}

#[tokio::test]
async fn rejects_a_logo_uri_that_is_not_https() {
    let app = start_open().await;
    let body = with("logo_uri", json!("http://agent.example.com/logo.png"));
    refused(&app, body, "invalid_client_metadata", "logo_uri").await;
}

#[tokio::test]
async fn rejects_a_body_that_is_not_json() {
    let app = start_open().await;
    let response = app
        .http
        .post(app.url("/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        400,
        "invalid_client_metadata",
        "not a JSON object",
    )
    .await;
}

#[tokio::test]
async fn rejects_a_form_body() {
    let app = start_open().await;
    let response = app
        .http
        .post(app.url("/register"))
        .form(&[("redirect_uris", "https://agent.example.com/cb")])
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "invalid_client_metadata", "application/json").await;
}

#[tokio::test]
async fn rejects_an_oversize_body() {
    let app = start_open().await;
    let body = with("client_name", json!("x".repeat(20 * 1024)));
    let response = register(&app, &body, None).await;
    assert_error(
        response,
        413,
        "invalid_client_metadata",
        "larger than 16384 bytes",
    )
    .await;
}

/// `mode = "off"` (the default): the endpoint does not exist (404) and discovery does
/// not name it.
#[tokio::test]
async fn rejects_registration_when_mode_is_off() {
    let app = start_with("").await;
    let response = register(&app, &mcp_metadata(), None).await;
    assert_error(response, 404, "invalid_request", "not enabled").await;
    let metadata: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        metadata.get("registration_endpoint").is_none(),
        "{metadata}"
    );
}

#[tokio::test]
async fn rejects_a_missing_initial_access_token() {
    let app = start_with("mode = \"initial_access_token\"").await;
    let response = register(&app, &mcp_metadata(), None).await;
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_error(response, 401, "invalid_token", "missing, invalid").await;
}

#[tokio::test]
async fn rejects_a_wrong_initial_access_token() {
    // Some other token's digest (any 64 hex characters).
    let digest = "c4dcdf95a3a2ab6d33e6fb4ac2f0b0d4d2d36a6f7d8e9ea0b6b4b1a6f0e0d6f1";
    let app = start_with(&format!(
        "mode = \"initial_access_token\"\ninitial_access_tokens = [\"{digest}\"]"
    ))
    .await;
    let response = register(&app, &mcp_metadata(), Some("wrong-token")).await;
    assert_error(response, 401, "invalid_token", "missing, invalid").await;
}

#[tokio::test]
async fn rejects_registrations_over_the_hourly_budget() {
    let app = start_with("mode = \"open\"\nregistrations_per_hour = 2").await;
    for _ in 0..2 {
        registered(&app, &mcp_metadata()).await;
    }
    let response = register(&app, &mcp_metadata(), None).await;
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1800).contains(&retry), "{retry}");
    assert_error(response, 429, "invalid_request", "too many registrations").await;
    // An hour later the budget is back.
    app.clock.advance(3600);
    registered(&app, &mcp_metadata()).await;
}

#[tokio::test]
async fn rejects_registrations_past_the_ceiling() {
    let app = start_with("mode = \"open\"\nmax_dynamic_clients = 1").await;
    registered(&app, &mcp_metadata()).await;
    let response = register(&app, &mcp_metadata(), None).await;
    assert_error(
        response,
        403,
        "access_denied",
        "no more dynamically registered clients",
    )
    .await;
}

/// RFC 7592 §2: a wrong, missing or another client's registration access token gets
/// the same 401 on GET, PUT and DELETE, as does an unknown client id.
#[tokio::test]
async fn rejects_a_wrong_registration_token_on_get_put_and_delete() {
    let app = start_open().await;
    let mine = registered(&app, &mcp_metadata()).await;
    let other = registered(&app, &mcp_metadata()).await;
    let uri = mine["registration_client_uri"].as_str().unwrap();
    let mut update = mcp_metadata();
    update["client_id"] = mine["client_id"].clone();
    let other_token = other["registration_access_token"].as_str().unwrap();
    for token in [Some("wrong"), None, Some(other_token)] {
        for method in ["GET", "PUT", "DELETE"] {
            let mut request = app.http.request(method.parse().unwrap(), uri);
            if method == "PUT" {
                request = request.json(&update);
            }
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            assert_error(response, 401, "invalid_token", "missing, invalid").await;
        }
    }
    // Another client's uri with this client's token, and an id that does not exist.
    let mine_token = mine["registration_access_token"].as_str().unwrap();
    for uri in [
        other["registration_client_uri"]
            .as_str()
            .unwrap()
            .to_owned(),
        app.url("/register/dcr-no-such-client"),
    ] {
        let response = app
            .http
            .get(&uri)
            .bearer_auth(mine_token)
            .send()
            .await
            .unwrap();
        assert_error(response, 401, "invalid_token", "missing, invalid").await;
    }
    // The client is still there.
    let response = app
        .http
        .get(uri)
        .bearer_auth(mine_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn rejects_an_update_that_changes_the_client_id() {
    let app = start_open().await;
    let mine = registered(&app, &mcp_metadata()).await;
    let mut update = mcp_metadata();
    update["client_id"] = json!("dcr-someone-else");
    let response = app
        .http
        .put(mine["registration_client_uri"].as_str().unwrap())
        .bearer_auth(mine["registration_access_token"].as_str().unwrap())
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "invalid_client_metadata", "client_id").await;
}

#[tokio::test]
async fn rejects_an_update_that_chooses_the_client_secret() {
    let app = start_open().await;
    let mut body = mcp_metadata();
    body["token_endpoint_auth_method"] = json!("client_secret_basic");
    let mine = registered(&app, &body).await;
    let mut update = body.clone();
    update["client_id"] = mine["client_id"].clone();
    update["client_secret"] = json!("my-own-chosen-secret-0123456789abcdef");
    let response = app
        .http
        .put(mine["registration_client_uri"].as_str().unwrap())
        .bearer_auth(mine["registration_access_token"].as_str().unwrap())
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        400,
        "invalid_client_metadata",
        "not the current secret",
    )
    .await;
}

/// A reviewer finding: `[authorization] default_profile = "fapi2"` did not reach
/// dynamic registrations, so a public client could register in a FAPI 2.0 deployment.
/// Now a registration is held to the default profile (FAPI 2.0 §5.3.2.1 item 3).
#[tokio::test]
async fn rejects_a_public_registration_under_default_profile_fapi2() {
    // No configured clients (the flow tests' public ones would not meet fapi2).
    let toml = format!(
        "{}\n[authorization]\ndefault_profile = \"fapi2\"\n[registration]\nmode = \"open\"\n",
        super::RESOURCES
    );
    let app = TestApp::start_in(tempfile::TempDir::new().unwrap(), &toml).await;
    refused(
        &app,
        mcp_metadata(),
        "invalid_client_metadata",
        "profile `fapi2` supports only confidential clients",
    )
    .await;
    // The other half: a private_key_jwt registration with an https redirect URI is
    // admitted, and stored with the fapi2 profile.
    let mut body = with("token_endpoint_auth_method", json!("private_key_jwt"));
    body["redirect_uris"] = json!(["https://agent.example.com/cb"]);
    body["grant_types"] = json!(["authorization_code"]);
    body["jwks"] = json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "ec-1",
        "x": "uavdMp3pRz6xoLQTYsKXmluuPjBkyOJaHqk_PtlPeoE",
        "y": "adfOsZCIZM1kneiHz41-KCuJ-swNJICIbp80Pc5OKIw"
    }]});
    let response = register(&app, &body, None).await;
    assert_eq!(response.status(), 201);
    let client: Value = response.json().await.unwrap();
    let stored = app
        .app
        .state()
        .store()
        .client_get(client["client_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.profile,
        portcullis_core::client::ClientProfile::Fapi2
    );
}
