//! RFC 7592: read, update and delete with the registration access token, and the
//! initial access tokens of `mode = "initial_access_token"` (from the file and from the
//! CLI's store).

use super::{MCP, mcp_metadata, register, registered, start_open, start_with};
use crate::flow::{ALICE, ALICE_PASSWORD, AuthRequest, Browser, pkce};
use crate::support::TestApp;
use portcullis_core::Clock;
use portcullis_server::app::registration::create_initial_access_token;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

async fn call(
    app: &TestApp,
    method: &str,
    client: &Value,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut request = app
        .http
        .request(
            method.parse().unwrap(),
            client["registration_client_uri"].as_str().unwrap(),
        )
        .bearer_auth(client["registration_access_token"].as_str().unwrap());
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn read_update_and_delete_a_registration() {
    let app = start_open().await;
    let client = registered(&app, &mcp_metadata()).await;
    let id = client["client_id"].as_str().unwrap();
    assert_eq!(
        client["registration_client_uri"],
        app.url(&format!("/register/{id}"))
    );

    // RFC 7592 §2.1: read answers the same information (no secret), no-store.
    let response = call(&app, "GET", &client, None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let read: Value = response.json().await.unwrap();
    assert_eq!(read, client);

    // RFC 7592 §2.2: update replaces the metadata; the new redirect URI works and the
    // old one no longer does.
    let mut update = mcp_metadata();
    update["client_id"] = json!(id);
    update["redirect_uris"] = json!(["https://agent.example.com/callback"]);
    update["client_name"] = json!("Renamed agent");
    update["scope"] = json!("openid tools:read");
    let response = call(&app, "PUT", &client, Some(&update)).await;
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["client_name"], "Renamed agent");
    assert_eq!(
        updated["redirect_uris"],
        json!(["https://agent.example.com/callback"])
    );
    assert_eq!(updated["scope"], "openid tools:read");
    assert_eq!(
        updated["registration_access_token"],
        client["registration_access_token"]
    );
    assert_eq!(
        call(&app, "GET", &client, None)
            .await
            .json::<Value>()
            .await
            .unwrap(),
        updated
    );
    let stored = app
        .app
        .state()
        .store()
        .client_get(id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.client_name.as_deref(), Some("Renamed agent"));
    assert_eq!(stored.scopes, ["openid", "tools:read"]);

    let browser = Browser::new(&app);
    let (challenge, _) = pkce();
    let old = AuthRequest::new(id, "http://127.0.0.1:33418/callback")
        .set("code_challenge", &challenge)
        .set("code_challenge_method", "S256")
        .set("resource", MCP);
    let response = browser.authorize(&old).await;
    assert_eq!(
        response.status(),
        400,
        "an unregistered redirect URI gets the error page"
    );
    let new = old.set("redirect_uri", "https://agent.example.com/callback");
    let (code, _) = browser.code(&new, ALICE, ALICE_PASSWORD).await;
    assert!(!code.is_empty());

    // RFC 7592 §2.3: delete answers 204; afterwards the token and the client are gone.
    let response = call(&app, "DELETE", &client, None).await;
    assert_eq!(response.status(), 204);
    let response = call(&app, "GET", &client, None).await;
    assert_eq!(response.status(), 401);
    assert!(
        app.app
            .state()
            .store()
            .client_get(id)
            .await
            .unwrap()
            .is_none()
    );
    // The code issued before is gone with it.
    let response = app
        .post_token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "https://agent.example.com/callback"),
                ("client_id", id),
                ("code_verifier", "x".repeat(43).as_str()),
            ],
            None,
        )
        .await;
    assert_eq!(response.status(), 401, "unknown client");
}

/// RFC 7592 §2.2: a public client that becomes confidential gets a secret in the
/// update's answer (and only then).
#[tokio::test]
async fn an_update_to_a_secret_method_issues_a_secret_once() {
    let app = start_open().await;
    let client = registered(&app, &mcp_metadata()).await;
    let mut update = mcp_metadata();
    update["client_id"] = client["client_id"].clone();
    update["token_endpoint_auth_method"] = json!("client_secret_post");
    let response = call(&app, "PUT", &client, Some(&update)).await;
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    let secret = updated["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(updated["client_secret_expires_at"], 0);
    // The same update again keeps that secret, and does not show it.
    update["client_secret"] = json!(secret);
    let again: Value = call(&app, "PUT", &client, Some(&update))
        .await
        .json()
        .await
        .unwrap();
    assert!(again.get("client_secret").is_none(), "{again}");
}

#[tokio::test]
async fn initial_access_tokens_from_the_file_and_from_the_cli_are_accepted() {
    // SHA-256("file-token-0123456789abcdefghijklmnopqrstu") in hex.
    let token = "file-token-0123456789abcdefghijklmnopqrstu";
    let digest = portcullis_core::secret::SecretDigest::of(token);
    let hex: String = digest
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let app = start_with(&format!(
        "mode = \"initial_access_token\"\ninitial_access_tokens = [\"{hex}\"]"
    ))
    .await;
    assert_eq!(
        register(&app, &mcp_metadata(), Some(token)).await.status(),
        201
    );

    let store = app.app.state().store().clone();
    let made = create_initial_access_token(store.as_ref(), app.clock.now())
        .await
        .unwrap();
    let response = register(&app, &mcp_metadata(), Some(made.expose_secret())).await;
    assert_eq!(response.status(), 201);
    // The registration endpoint is in the metadata.
    let metadata: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["registration_endpoint"], app.url("/register"));
}
