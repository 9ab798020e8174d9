//! What a dynamically registered client can do: the code flow with PKCE and a
//! `resource` without `scope` (the MCP path), client credentials for a confidential
//! registration, the consent page (always shown, labelled unverified), how it shows in
//! the store and survives a restart (config sync leaves it alone), and housekeeping of
//! unused clients.

use super::{
    INTERNAL, MCP, assert_error, config, mcp_metadata, register, registered, start_open, start_with,
};
use crate::flow::{ALICE, ALICE_PASSWORD, AuthRequest, Browser, location, pkce};
use crate::support::{TestApp, verify_access_token};
use portcullis_core::Clock;
use portcullis_core::client::RecordSource;
use portcullis_server::app::config::registration::DEFAULT_UNUSED_CLIENT_TTL;
use portcullis_server::app::housekeeping::delete_unused_dynamic_clients;
use portcullis_server::app::registration::create_initial_access_token;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

/// The authorization request a registered public client makes: PKCE, `resource`, no
/// `scope`.
fn request(client: &Value, challenge: &str) -> AuthRequest {
    let redirect = client["redirect_uris"][0].as_str().unwrap();
    AuthRequest::new(client["client_id"].as_str().unwrap(), redirect)
        .set("code_challenge", challenge)
        .set("code_challenge_method", "S256")
        .set("resource", MCP)
}

/// Runs the code flow for `client` as Alice; returns the token response.
pub async fn code_flow(
    app: &TestApp,
    browser: &Browser,
    client: &Value,
) -> (Value, Vec<&'static str>) {
    let (challenge, verifier) = pkce();
    let request = request(client, &challenge);
    let (code, shown) = browser.code(&request, ALICE, ALICE_PASSWORD).await;
    let response = app
        .post_token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", request.get("redirect_uri").unwrap()),
                ("client_id", client["client_id"].as_str().unwrap()),
                ("code_verifier", &verifier),
            ],
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    (response.json().await.unwrap(), shown)
}

#[tokio::test]
async fn a_registered_public_client_runs_the_code_flow_with_pkce() {
    let app = start_open().await;
    let client = registered(&app, &mcp_metadata()).await;
    // RFC 7591 §3.2.1: a public client gets no secret; the metadata comes back.
    assert!(client["client_id"].as_str().unwrap().starts_with("dcr-"));
    assert!(client.get("client_secret").is_none(), "{client}");
    assert_eq!(client["token_endpoint_auth_method"], "none");
    assert_eq!(
        client["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(client["client_name"], "Example agent");
    assert!(client["client_id_issued_at"].is_i64());
    // Granted: the open resource's scopes and the user scopes (offline_access: it may
    // refresh); never the closed resource's.
    let scope = client["scope"].as_str().unwrap();
    assert!(
        scope.contains("tools:read") && scope.contains("offline_access"),
        "{scope}"
    );
    assert!(!scope.contains("internal:admin"), "{scope}");

    let browser = Browser::new(&app);
    let (tokens, shown) = code_flow(&app, &browser, &client).await;
    assert_eq!(shown, ["login", "consent"]);
    // No `scope` asked: the resource's default_scopes (RFC 6749 §3.3).
    assert_eq!(tokens["scope"], "tools:read");
    let claims = verify_access_token(
        tokens["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        MCP,
    );
    assert_eq!(claims["client_id"], client["client_id"]);

    // Consent is never remembered for a client nobody vetted (issue 14 item 5).
    let (_, shown) = code_flow(&app, &browser, &client).await;
    assert_eq!(shown, ["consent"]);
}

#[tokio::test]
async fn the_consent_page_labels_a_registered_client_unverified() {
    let app = start_open().await;
    let mut metadata = mcp_metadata();
    metadata["client_name"] = json!("Totally Official <b>Bank</b>");
    let client = registered(&app, &metadata).await;
    let browser = Browser::new(&app);
    let response = browser.authorize(&request(&client, &pkce().0)).await;
    let login = browser.page(response).await;
    let response = browser.login(&login, ALICE, ALICE_PASSWORD).await;
    assert!(location(&response).starts_with("/consent?"));
    let page = browser.page(response).await;
    assert!(page.contains("Unverified app."), "{page}");
    assert!(
        page.contains("registered itself with this server"),
        "{page}"
    );
    assert!(
        page.contains(r#"<strong class="host">127.0.0.1</strong>"#),
        "{page}"
    );
    // The name is text only.
    assert!(
        page.contains("Totally Official &#60;b&#62;Bank&#60;/b&#62;"),
        "{page}"
    );
    assert!(!page.contains("<b>Bank"), "{page}");
}

/// A confidential client_credentials client, registered with an initial access token
/// (open registration refuses the grant: `rejects_client_credentials_in_open_registration`).
#[tokio::test]
async fn a_confidential_registration_gets_client_credentials() {
    let app = start_with("mode = \"initial_access_token\"").await;
    let store = app.app.state().store().clone();
    let token = create_initial_access_token(store.as_ref(), app.clock.now())
        .await
        .unwrap();
    let response = register(
        &app,
        &json!({
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
            "client_name": "Agent backend",
        }),
        Some(token.expose_secret()),
    )
    .await;
    assert_eq!(response.status(), 201);
    let client: Value = response.json().await.unwrap();
    let id = client["client_id"].as_str().unwrap();
    let secret = client["client_secret"].as_str().unwrap();
    assert_eq!(secret.len(), 43, "256 bits in base64url");
    assert_eq!(client["client_secret_expires_at"], 0);
    assert_eq!(client["response_types"], json!([]));
    // No user grant: no user scopes.
    assert_eq!(client["scope"], "tools:read tools:call");
    let response = app
        .post_token(
            &[
                ("grant_type", "client_credentials"),
                ("scope", "tools:call"),
                ("resource", MCP),
            ],
            Some((id, secret)),
        )
        .await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let claims = verify_access_token(
        tokens["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        MCP,
    );
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["scope"], "tools:call");
    // The secret is never shown again.
    let read: Value = app
        .http
        .get(client["registration_client_uri"].as_str().unwrap())
        .bearer_auth(client["registration_access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(read.get("client_secret").is_none(), "{read}");
}

/// The store marks it `dynamic` (what `client list` prints), and a restart (which
/// re-applies the configuration file) neither deletes nor changes it.
#[tokio::test]
async fn a_registered_client_is_dynamic_and_survives_config_sync() {
    let app = start_open().await;
    let client = registered(&app, &mcp_metadata()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let stored = app
        .app
        .state()
        .store()
        .client_get(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.source, RecordSource::Dynamic);
    assert!(!stored.skip_consent);
    // Tokens only for the resource open to dynamic clients.
    assert_eq!(stored.audiences, [MCP]);
    assert!(!stored.audiences.iter().any(|a| a == INTERNAL));
    let listed = app.app.state().store().client_list().await.unwrap();
    assert!(
        listed
            .iter()
            .any(|c| c.client_id == id && c.source == RecordSource::Dynamic)
    );

    let dir = app.stop().await;
    let app = TestApp::start_in(dir, &config("mode = \"open\"")).await;
    let again = app
        .app
        .state()
        .store()
        .client_get(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, stored);
    let response = app
        .http
        .get(app.url(&format!("/register/{id}")))
        .bearer_auth(client["registration_access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// `[registration] unused_client_ttl`: housekeeping deletes a client unused that long;
/// a client used in the meantime (its use recorded once a day) stays.
#[tokio::test]
async fn housekeeping_deletes_dynamic_clients_unused_for_the_ttl() {
    let app = start_open().await;
    let unused = registered(&app, &mcp_metadata()).await;
    let used = registered(&app, &mcp_metadata()).await;
    let store = app.app.state().store().clone();
    let ttl = DEFAULT_UNUSED_CLIENT_TTL;

    // Two days before the TTL ends, `used` is looked up (a request names it; it was
    // never cached) and its use is recorded.
    app.clock.advance(ttl - 2 * 86_400);
    let browser = Browser::new(&app);
    let response = browser.authorize(&request(&used, &pkce().0)).await;
    assert_eq!(response.status(), 303);

    // One second before the TTL: nothing goes. (The server's own housekeeping may run
    // at any moment on this clock as well, every 60 s: under load a test can take that
    // long; so the end state is asserted, whoever deleted.)
    app.clock.advance(2 * 86_400 - 1);
    let now = app.clock.now();
    assert!(
        delete_unused_dynamic_clients(store.as_ref(), now, ttl)
            .await
            .unwrap()
            .is_empty()
    );
    let id = unused["client_id"].as_str().unwrap();
    assert!(
        store.client_get(id).await.unwrap().is_some(),
        "kept until the TTL"
    );
    // At the TTL plus one second: the unused one goes, with its registration.
    app.clock.advance(2);
    let now = app.clock.now();
    let deleted = delete_unused_dynamic_clients(store.as_ref(), now, ttl)
        .await
        .unwrap();
    assert!(
        deleted.is_empty() || deleted == [id.to_owned()],
        "{deleted:?}"
    );
    assert!(store.client_get(id).await.unwrap().is_none());
    assert!(store.dynamic_client_get(id).await.unwrap().is_none());
    let used_id = used["client_id"].as_str().unwrap();
    assert!(store.client_get(used_id).await.unwrap().is_some());
}

/// A reviewer finding: open registration gave anyone machine tokens for the open
/// resources (client_credentials: no user, no consent). Refused unless the registrant
/// holds an initial access token; also on an RFC 7592 update.
#[tokio::test]
async fn rejects_client_credentials_in_open_registration() {
    let app = start_open().await;
    let machine = json!({
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic",
    });
    let response = register(&app, &machine, None).await;
    assert_error(
        response,
        400,
        "invalid_client_metadata",
        "client_credentials needs an initial access token",
    )
    .await;
    // Nor by updating a code client into one.
    let client = registered(&app, &mcp_metadata()).await;
    let mut update = client.clone();
    for key in [
        "registration_access_token",
        "registration_client_uri",
        "client_id_issued_at",
    ] {
        update.as_object_mut().unwrap().remove(key);
    }
    update["grant_types"] = json!(["authorization_code", "refresh_token", "client_credentials"]);
    let response = app
        .http
        .put(client["registration_client_uri"].as_str().unwrap())
        .bearer_auth(client["registration_access_token"].as_str().unwrap())
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        400,
        "invalid_client_metadata",
        "client_credentials needs an initial access token",
    )
    .await;
}

/// A reviewer finding: the page named the host of the *first* registered redirect URI,
/// which nobody checked; it names the one this request returns to.
#[tokio::test]
async fn the_consent_page_names_the_host_this_request_returns_to() {
    let app = start_open().await;
    let mut metadata = mcp_metadata();
    metadata["redirect_uris"] = json!([
        "https://yourbank.example/cb",
        "http://127.0.0.1:33418/callback"
    ]);
    let client = registered(&app, &metadata).await;
    let request = AuthRequest::new(
        client["client_id"].as_str().unwrap(),
        "http://127.0.0.1:33418/callback",
    )
    .set("code_challenge", &pkce().0)
    .set("code_challenge_method", "S256")
    .set("resource", MCP);
    let browser = Browser::new(&app);
    let response = browser.authorize(&request).await;
    let login = browser.page(response).await;
    let response = browser.login(&login, ALICE, ALICE_PASSWORD).await;
    let page = browser.page(response).await;
    assert!(
        page.contains(r#"<strong class="host">127.0.0.1</strong>"#),
        "{page}"
    );
    assert!(!page.contains("yourbank.example"), "{page}");
}

/// A reviewer finding: a device-only registered client (no redirect URI) got the
/// consent page without the unverified label, under a name it chose itself.
#[tokio::test]
async fn a_device_only_registered_client_is_labelled_unverified() {
    let app = start_open().await;
    let client = registered(
        &app,
        &json!({
            "grant_types": ["urn:ietf:params:oauth:grant-type:device_code"],
            "token_endpoint_auth_method": "none",
            "client_name": "Microsoft Office",
        }),
    )
    .await;
    let id = client["client_id"].as_str().unwrap();
    let response = app
        .http
        .post(app.url("/device_authorization"))
        .form(&[("client_id", id), ("resource", MCP)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let started: Value = response.json().await.unwrap();
    let browser = Browser::new(&app);
    let page = crate::device::consent_page(&browser, started["user_code"].as_str().unwrap()).await;
    assert!(page.contains("Unverified app."), "{page}");
    assert!(
        page.contains(&format!(r#"<strong class="host">{id}</strong>"#)),
        "{page}"
    );
    assert!(page.contains("a device of your own"), "{page}");
}

/// A reviewer finding: closing a resource to self-registered clients (or deleting it)
/// left the clients that registered while it was open with its audience until they
/// updated or expired. The client directory now holds them to what is open now.
#[tokio::test]
async fn closing_a_resource_narrows_clients_registered_while_it_was_open() {
    let registration = "mode = \"initial_access_token\"";
    let app = start_with(registration).await;
    let store = app.app.state().store().clone();
    let token = create_initial_access_token(store.as_ref(), app.clock.now())
        .await
        .unwrap();
    let response = register(
        &app,
        &json!({
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_basic",
        }),
        Some(token.expose_secret()),
    )
    .await;
    assert_eq!(response.status(), 201);
    let client: Value = response.json().await.unwrap();
    let id = client["client_id"].as_str().unwrap().to_owned();
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    let ask = |scope: &'static str| {
        [
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("resource", MCP),
        ]
    };
    let response = app
        .post_token(&ask("tools:call"), Some((&id, &secret)))
        .await;
    assert_eq!(response.status(), 200);

    // The operator closes the resource (the configuration file, applied at start).
    let dir = app.stop().await;
    let closed = config(registration).replace("dynamic_clients = true", "dynamic_clients = false");
    let app = crate::support::TestApp::start_in(dir, &closed).await;
    let response = app
        .post_token(&ask("tools:call"), Some((&id, &secret)))
        .await;
    let body = assert_error(response, 400, "invalid_target", MCP).await;
    assert!(body.get("access_token").is_none(), "{body}");
    // Without `resource`, the closed resource's scope is not the client's any more.
    let response = app
        .post_token(
            &[
                ("grant_type", "client_credentials"),
                ("scope", "tools:call"),
            ],
            Some((&id, &secret)),
        )
        .await;
    assert_error(response, 400, "invalid_scope", "tools:call").await;
}
