//! RFC 8414 / OIDC Discovery metadata and the RFC 7517 JWK Set.

use crate::support::TestApp;
use serde_json::{Value, json};

#[tokio::test]
async fn metadata_is_served_at_both_well_known_paths_from_the_route_table() {
    let app = TestApp::start().await;
    let oauth: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let oidc: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(oauth, oidc);
    assert_eq!(oauth["issuer"], json!(app.base));
    assert_eq!(oauth["token_endpoint"], json!(app.url("/token")));
    assert_eq!(oauth["jwks_uri"], json!(app.url("/jwks")));
    assert_eq!(
        oauth["grant_types_supported"],
        json!([
            "authorization_code",
            "client_credentials",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code"
        ])
    );
    // RFC 8628 §4: the device authorization endpoint.
    assert_eq!(
        oauth["device_authorization_endpoint"],
        json!(app.url("/device_authorization"))
    );
    assert_eq!(
        oauth["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none"
        ])
    );
    assert_eq!(
        oauth["authorization_endpoint"],
        json!(app.url("/authorize"))
    );
    assert_eq!(oauth["userinfo_endpoint"], json!(app.url("/userinfo")));
    assert_eq!(oauth["end_session_endpoint"], json!(app.url("/logout")));
    // OAuth 2.1: code only (no implicit, no hybrid), S256 only, iss in responses.
    assert_eq!(oauth["response_types_supported"], json!(["code"]));
    assert_eq!(oauth["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        oauth["authorization_response_iss_parameter_supported"],
        json!(true)
    );
    assert_eq!(
        oauth["id_token_signing_alg_values_supported"],
        json!(["RS256", "ES256"])
    );
    assert_eq!(oauth["subject_types_supported"], json!(["public"]));
    // Refresh tokens (issue 4): OIDC Core §11 offline_access.
    assert!(
        oauth["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("offline_access"))
    );
    // RFC 8414 §2: introspection (RFC 7662) needs a confidential client; revocation
    // (RFC 7009 §2.1) also takes a public client's client_id.
    assert_eq!(
        oauth["introspection_endpoint"],
        json!(app.url("/introspect"))
    );
    assert_eq!(oauth["revocation_endpoint"], json!(app.url("/revoke")));
    assert_eq!(
        oauth["introspection_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt"
        ])
    );
    assert_eq!(
        oauth["revocation_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none"
        ])
    );
    // Every advertised endpoint answers (not 404).
    for key in [
        "token_endpoint",
        "jwks_uri",
        "authorization_endpoint",
        "userinfo_endpoint",
        "end_session_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "device_authorization_endpoint",
        "pushed_authorization_request_endpoint",
    ] {
        let status = app
            .http
            .get(oauth[key].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .status();
        assert_ne!(status, 404, "{key}");
    }
}

#[tokio::test]
async fn jwks_publishes_one_es256_and_one_rs256_public_key() {
    let app = TestApp::start().await;
    let response = app.http.get(app.url("/jwks")).send().await.unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/jwk-set+json"
    );
    let jwks: Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, ["ES256", "RS256"]);
    for key in keys {
        assert_eq!(key["use"], "sig");
        assert!(
            key["kid"].as_str().is_some_and(|k| k.len() == 43),
            "RFC 7638 thumbprint kid"
        );
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                key.get(private).is_none(),
                "private member {private} published"
            );
        }
    }
    // The independent library accepts every key.
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks).unwrap();
    for jwk in &set.keys {
        jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    }
}

#[tokio::test]
async fn unknown_paths_are_404_json() {
    let app = TestApp::start().await;
    let r = app.http.get(app.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn health_endpoints_answer() {
    let app = TestApp::start().await;
    let live = app.http.get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let ready = app.http.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");
    let r = app
        .http
        .get(app.url("/health/live"))
        .header("x-request-id", "forged-by-client")
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(
        id, "forged-by-client",
        "the server always makes its own request id"
    );
    assert_eq!(id.len(), 36, "a UUID");
}
