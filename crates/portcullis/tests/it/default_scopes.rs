//! The resource registry and default scopes (RFC 6749 §3.3, RFC 8707, issue 14): a
//! request without `scope` gets the requested registered resource's `default_scopes`,
//! else the client's `default_scopes`, else `invalid_scope`; a token for registered
//! resources carries only scopes they define. At `/authorize` (a cookie-keeping
//! browser), the device authorization endpoint and the token endpoint; the main cases
//! run on SQLite and on PostgreSQL.

use crate::device::consent_page;
use crate::flow::{ALICE, ALICE_PASSWORD, AuthRequest, Browser, location, pkce, redirect_params};
use crate::html::html_page;
use crate::postgres::with_fresh_database;
use crate::support::{TestApp, pinned, verify_access_token};
use serde_json::{Value, json};
use tempfile::TempDir;

const MCP: &str = "https://mcp.example.com/mcp";
/// A registered resource without default scopes.
const PLAIN: &str = "https://plain.example.com";
/// An audience that is not in the registry.
const LEGACY: &str = "https://api.example.com";
const AGENT: &str = "agent";
const BARE: &str = "bare";
const REDIRECT: &str = "http://127.0.0.1/callback";
const SVC: &str = "svc";
const SVC_SECRET: &str = "svc-secret-0123456789abcdefghijklmnop";
/// A public client whose first (default) audience is the registered MCP resource.
const MCP_FIRST: &str = "mcp-first";
/// A machine client whose first (default) audience is the registered MCP resource.
const SVC_MCP: &str = "svc-mcp";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

const CONFIG: &str = r#"
[tokens]
access_token_ttl = 900
device_poll_interval = 1

[[users]]
username = "alice"
password = "alice-password-1"

[[resources]]
identifier = "https://mcp.example.com/mcp"
name = "Example MCP server"
scopes = ["tools:read", "tools:call"]
default_scopes = ["tools:read"]
dynamic_clients = true
[resources.scope_descriptions]
"tools:read" = "See the list of tools"

[[resources]]
identifier = "https://plain.example.com"
scopes = ["plain:read"]

[[clients]]
client_id = "agent"
token_endpoint_auth_method = "none"
redirect_uris = ["http://127.0.0.1/callback"]
grant_types = ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"]
scopes = ["openid", "tools:read", "tools:call", "read:orders", "plain:read"]
default_scopes = ["openid"]
audiences = ["https://api.example.com", "https://mcp.example.com/mcp", "https://plain.example.com"]

[[clients]]
client_id = "bare"
token_endpoint_auth_method = "none"
redirect_uris = ["http://127.0.0.1/callback"]
grant_types = ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"]
scopes = ["openid", "read:orders"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "svc"
client_secret = "svc-secret-0123456789abcdefghijklmnop"
grant_types = ["client_credentials"]
scopes = ["tools:read", "tools:call", "read:orders"]
default_scopes = ["read:orders"]
audiences = ["https://api.example.com", "https://mcp.example.com/mcp", "https://plain.example.com"]

[[clients]]
client_id = "mcp-first"
token_endpoint_auth_method = "none"
redirect_uris = ["http://127.0.0.1/callback"]
grant_types = ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"]
scopes = ["openid", "tools:read", "read:orders"]
audiences = ["https://mcp.example.com/mcp", "https://api.example.com"]

[[clients]]
client_id = "svc-mcp"
client_secret = "svc-secret-0123456789abcdefghijklmnop"
grant_types = ["client_credentials"]
scopes = ["tools:read", "read:orders"]
audiences = ["https://mcp.example.com/mcp", "https://api.example.com"]
"#;

async fn start() -> TestApp {
    TestApp::start_in(TempDir::new().unwrap(), CONFIG).await
}

/// The server on the PostgreSQL database at `database_url`.
async fn start_on(database_url: &str) -> TestApp {
    TestApp::start_on(TempDir::new().unwrap(), CONFIG, database_url).await
}

/// An authorization request of `client` with PKCE and no `scope`.
fn no_scope(client: &str, challenge: &str) -> AuthRequest {
    AuthRequest::new(client, REDIRECT)
        .set("code_challenge", challenge)
        .set("code_challenge_method", "S256")
}

/// Signs Alice in and approves; returns the consent page shown and the token response.
async fn authorize_and_redeem(
    app: &TestApp,
    request: AuthRequest,
    verifier: &str,
) -> (String, Value) {
    let browser = Browser::new(app);
    let r = browser.authorize(&request).await;
    assert_eq!(r.status(), 303);
    let login = browser.page(r).await;
    let r = browser.login(&login, ALICE, ALICE_PASSWORD).await;
    assert!(location(&r).starts_with("/consent?"), "{}", location(&r));
    let consent = browser.page(r).await;
    let r = browser.approve(&consent).await;
    let params = redirect_params(&location(&r), REDIRECT);
    let client_id = request.get("client_id").unwrap();
    let r = app
        .post_token(
            &[
                ("grant_type", "authorization_code"),
                ("code", &params["code"]),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
                ("client_id", client_id),
            ],
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    (consent, r.json().await.unwrap())
}

// --- each case on SQLite and on PostgreSQL ------------------------------------------------

/// `case: sqlite_test, postgres_test;`: the case on SQLite, and on a fresh PostgreSQL
/// database when `PORTCULLIS_TEST_POSTGRES_URL` is set (else the second test says it
/// skipped).
macro_rules! on_both_backends {
    ($($case:ident: $sqlite:ident, $postgres:ident;)*) => {$(
        #[tokio::test]
        async fn $sqlite() {
            $case(start().await).await;
        }

        #[tokio::test]
        async fn $postgres() {
            with_fresh_database(|db| async move { $case(start_on(&db.url).await).await }).await;
        }
    )*};
}

on_both_backends! {
    case_authorize_without_scope_gets_the_resource_default_scopes: authorize_without_scope_gets_the_resource_default_scopes, authorize_without_scope_gets_the_resource_default_scopes_on_postgres;
    case_authorize_without_scope_gets_the_client_default_scopes: authorize_without_scope_gets_the_client_default_scopes, authorize_without_scope_gets_the_client_default_scopes_on_postgres;
    case_rejects_authorize_without_scope_or_defaults: rejects_authorize_without_scope_or_defaults, rejects_authorize_without_scope_or_defaults_on_postgres;
    case_rejects_authorize_scope_not_defined_by_the_resource: rejects_authorize_scope_not_defined_by_the_resource, rejects_authorize_scope_not_defined_by_the_resource_on_postgres;
    case_device_authorization_without_scope_gets_the_resource_default_scopes: device_authorization_without_scope_gets_the_resource_default_scopes, device_authorization_without_scope_gets_the_resource_default_scopes_on_postgres;
    case_device_authorization_without_scope_gets_the_client_default_scopes: device_authorization_without_scope_gets_the_client_default_scopes, device_authorization_without_scope_gets_the_client_default_scopes_on_postgres;
    case_rejects_device_authorization_without_scope_or_defaults: rejects_device_authorization_without_scope_or_defaults, rejects_device_authorization_without_scope_or_defaults_on_postgres;
    case_rejects_device_authorization_scope_not_defined_by_the_resource: rejects_device_authorization_scope_not_defined_by_the_resource, rejects_device_authorization_scope_not_defined_by_the_resource_on_postgres;
    case_token_request_without_scope_gets_the_resource_default_scopes: token_request_without_scope_gets_the_resource_default_scopes, token_request_without_scope_gets_the_resource_default_scopes_on_postgres;
    case_token_request_without_scope_gets_the_client_default_scopes: token_request_without_scope_gets_the_client_default_scopes, token_request_without_scope_gets_the_client_default_scopes_on_postgres;
    case_rejects_token_request_without_scope_or_defaults: rejects_token_request_without_scope_or_defaults, rejects_token_request_without_scope_or_defaults_on_postgres;
    case_rejects_token_request_scope_not_defined_by_the_resource: rejects_token_request_scope_not_defined_by_the_resource, rejects_token_request_scope_not_defined_by_the_resource_on_postgres;
}

// --- /authorize ------------------------------------------------------------------------------

async fn case_authorize_without_scope_gets_the_resource_default_scopes(app: TestApp) {
    let (challenge, verifier) = pkce();
    let request = no_scope(AGENT, &challenge).set("resource", MCP);
    let (consent, token) = authorize_and_redeem(&app, request, &verifier).await;
    // The consent page shows what is granted, in the resource's own words.
    assert!(consent.contains("See the list of tools"), "{consent}");
    assert!(consent.contains("<code>tools:read</code>"), "{consent}");
    assert!(
        !consent.contains("tools:call"),
        "only the default: {consent}"
    );
    assert!(consent.contains("Example MCP server"), "{consent}");
    // RFC 6749 §5.1: the granted scope is stated, as it differs from the (absent) request.
    assert_eq!(token["scope"], "tools:read");
    let claims = verify_access_token(
        token["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        MCP,
    );
    assert_eq!(claims["scope"], "tools:read");
}

async fn case_authorize_without_scope_gets_the_client_default_scopes(app: TestApp) {
    let (challenge, verifier) = pkce();
    // A registered resource without defaults: the client's (`openid`) apply.
    let request = no_scope(AGENT, &challenge).set("resource", PLAIN);
    let (_, token) = authorize_and_redeem(&app, request, &verifier).await;
    assert_eq!(token["scope"], "openid");
    assert!(token["id_token"].is_string(), "openid was granted");
}

async fn case_rejects_authorize_without_scope_or_defaults(app: TestApp) {
    let (challenge, _) = pkce();
    let r = Browser::new(&app)
        .authorize(&no_scope(BARE, &challenge))
        .await;
    assert_eq!(r.status(), 303);
    let params = redirect_params(&location(&r), REDIRECT);
    assert_eq!(params["error"], "invalid_scope");
    assert_eq!(
        params["error_description"],
        "scope is required: request at least one scope, e.g. openid"
    );
    assert_eq!(params["iss"], app.base);
}

async fn case_rejects_authorize_scope_not_defined_by_the_resource(app: TestApp) {
    let (challenge, _) = pkce();
    let request = no_scope(AGENT, &challenge)
        .set("resource", MCP)
        .set("scope", "tools:call read:orders");
    let r = Browser::new(&app).authorize(&request).await;
    let params = redirect_params(&location(&r), REDIRECT);
    assert_eq!(params["error"], "invalid_scope");
    assert_eq!(
        params["error_description"],
        "scope `read:orders` is not defined by the requested resource"
    );
}

// --- the device authorization endpoint ----------------------------------------------------

async fn device_authorization(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    app.http
        .post(app.url("/device_authorization"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Starts a device authorization for `form`, approves it as Alice, and returns the
/// consent page and the token response.
async fn device_tokens(app: &TestApp, form: &[(&str, &str)]) -> (String, Value) {
    let r = device_authorization(app, form).await;
    assert_eq!(r.status(), 200);
    let started: Value = r.json().await.unwrap();
    let browser = Browser::new(app);
    let page = consent_page(&browser, started["user_code"].as_str().unwrap()).await;
    let done = html_page(browser.approve(&page).await, 200).await;
    assert!(done.contains("Device connected"), "{done}");
    let r = app
        .post_token(
            &[
                ("grant_type", DEVICE_GRANT),
                ("device_code", started["device_code"].as_str().unwrap()),
                ("client_id", AGENT),
            ],
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    (page, r.json().await.unwrap())
}

async fn case_device_authorization_without_scope_gets_the_resource_default_scopes(app: TestApp) {
    let (page, token) = device_tokens(&app, &[("client_id", AGENT), ("resource", MCP)]).await;
    assert!(page.contains("See the list of tools"), "{page}");
    assert_eq!(token["scope"], "tools:read");
}

async fn case_device_authorization_without_scope_gets_the_client_default_scopes(app: TestApp) {
    let (_, token) = device_tokens(&app, &[("client_id", AGENT)]).await;
    assert_eq!(token["scope"], "openid");
}

async fn case_rejects_device_authorization_without_scope_or_defaults(app: TestApp) {
    let r = device_authorization(&app, &[("client_id", BARE)]).await;
    pinned(
        r,
        400,
        json!({
            "error": "invalid_scope",
            "error_description": "scope is required: request at least one scope, e.g. openid"
        }),
    )
    .await;
}

async fn case_rejects_device_authorization_scope_not_defined_by_the_resource(app: TestApp) {
    let r = device_authorization(
        &app,
        &[
            ("client_id", AGENT),
            ("resource", MCP),
            ("scope", "read:orders"),
        ],
    )
    .await;
    pinned(
        r,
        400,
        json!({
            "error": "invalid_scope",
            "error_description": "scope `read:orders` is not defined by the requested resource"
        }),
    )
    .await;
}

// --- the token endpoint (client credentials) ----------------------------------------------

async fn svc_token(app: &TestApp, form: &[(&str, &str)]) -> reqwest::Response {
    let mut form = form.to_vec();
    form.push(("grant_type", "client_credentials"));
    app.post_token(&form, Some((SVC, SVC_SECRET))).await
}

async fn case_token_request_without_scope_gets_the_resource_default_scopes(app: TestApp) {
    let r = svc_token(&app, &[("resource", MCP)]).await;
    assert_eq!(r.status(), 200);
    let token: Value = r.json().await.unwrap();
    assert_eq!(token["scope"], "tools:read");
    let claims = verify_access_token(
        token["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        MCP,
    );
    assert_eq!(claims["scope"], "tools:read");
}

async fn case_token_request_without_scope_gets_the_client_default_scopes(app: TestApp) {
    // No resource (the first audience, unregistered) and an unregistered one alike.
    for form in [vec![], vec![("resource", LEGACY)]] {
        let r = svc_token(&app, &form).await;
        assert_eq!(r.status(), 200);
        let token: Value = r.json().await.unwrap();
        assert_eq!(token["scope"], "read:orders", "{form:?}");
    }
}

async fn case_rejects_token_request_without_scope_or_defaults(app: TestApp) {
    // PLAIN has no defaults, and svc holds none of its scopes.
    let r = svc_token(&app, &[("resource", PLAIN)]).await;
    pinned(
        r,
        400,
        json!({
            "error": "invalid_scope",
            "error_description": "scope is required: request at least one scope"
        }),
    )
    .await;
}

async fn case_rejects_token_request_scope_not_defined_by_the_resource(app: TestApp) {
    let r = svc_token(
        &app,
        &[("resource", MCP), ("scope", "tools:call read:orders")],
    )
    .await;
    pinned(
        r,
        400,
        json!({
            "error": "invalid_scope",
            "error_description": "scope `read:orders` is not defined by the requested resource"
        }),
    )
    .await;
    // With an unregistered audience beside it, the client's scopes govern (as before).
    let r = svc_token(
        &app,
        &[
            ("resource", MCP),
            ("resource", LEGACY),
            ("scope", "tools:call read:orders"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn discovery_lists_the_registered_resources_scopes() {
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
        metadata["scopes_supported"],
        json!([
            "openid",
            "profile",
            "email",
            "offline_access",
            "tools:read",
            "tools:call",
            "plain:read"
        ])
    );
}

#[tokio::test]
async fn config_resources_are_synced_as_code() {
    let app = start().await;
    let store = app.app.state().store().clone();
    let listed: Vec<String> = store
        .resource_list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.identifier)
        .collect();
    assert_eq!(listed, [MCP, PLAIN]);
    // Restart without PLAIN: it is removed; MCP is kept.
    let dir = app.stop().await;
    let app = TestApp::start_in(
        dir,
        &CONFIG.replace(
            "[[resources]]\nidentifier = \"https://plain.example.com\"\nscopes = [\"plain:read\"]\n",
            "",
        ).replace(", \"https://plain.example.com\"", "").replace(", \"plain:read\"", ""),
    )
    .await;
    let listed: Vec<String> = app
        .app
        .state()
        .store()
        .resource_list()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.identifier)
        .collect();
    assert_eq!(listed, [MCP]);
}

#[tokio::test]
async fn dev_registers_the_demo_mcp_resource_and_discovery_lists_its_scopes() {
    use portcullis_core::clock::Clock;
    use portcullis_server::app::admin::dev::{DEMO_MCP_RESOURCE, seed};
    let app = TestApp::start_in(TempDir::new().unwrap(), "").await;
    let state = app.app.state();
    seed(state.store().as_ref(), state.config(), app.clock.now())
        .await
        .unwrap();
    state.refresh_metadata().await.unwrap();
    let mcp = state
        .store()
        .resource_get(DEMO_MCP_RESOURCE)
        .await
        .unwrap()
        .expect("serve --dev registers the demo MCP resource");
    assert!(mcp.dynamic_clients);
    assert_eq!(mcp.default_scopes, ["tools:read"]);
    let metadata: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["scopes_supported"],
        json!([
            "openid",
            "profile",
            "email",
            "offline_access",
            "tools:read",
            "tools:call"
        ])
    );
    // Seeding again changes nothing (idempotent).
    seed(state.store().as_ref(), state.config(), app.clock.now())
        .await
        .unwrap();
}

// --- no `resource`: the rules judge the default audience -------------------------------------

/// Without `resource` the token's `aud` is the client's first audience (RFC 8707 §2);
/// when that is a registered resource, its defaults apply and its scopes govern, as if
/// it had been requested (a reviewer finding: the rules used to see "no resource").
#[tokio::test]
async fn authorize_without_resource_or_scope_gets_the_default_audience_defaults() {
    let app = start().await;
    let (challenge, verifier) = pkce();
    let (consent, token) =
        authorize_and_redeem(&app, no_scope(MCP_FIRST, &challenge), &verifier).await;
    assert!(consent.contains("Example MCP server"), "{consent}");
    assert_eq!(token["scope"], "tools:read");
    let claims = verify_access_token(
        token["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        MCP,
    );
    assert_eq!(claims["scope"], "tools:read");
}

#[tokio::test]
async fn rejects_authorize_without_resource_a_scope_the_default_audience_does_not_define() {
    let app = start().await;
    let (challenge, _) = pkce();
    let request = no_scope(MCP_FIRST, &challenge).set("scope", "tools:read read:orders");
    let r = Browser::new(&app).authorize(&request).await;
    let params = redirect_params(&location(&r), REDIRECT);
    assert_eq!(params["error"], "invalid_scope");
    assert_eq!(
        params["error_description"],
        "scope `read:orders` is not defined by the requested resource"
    );
    // Naming the other audience makes it fit.
    let request = no_scope(MCP_FIRST, &challenge)
        .set("scope", "read:orders")
        .set("resource", LEGACY);
    let r = Browser::new(&app).authorize(&request).await;
    assert_eq!(r.status(), 303);
    assert!(!location(&r).contains("error="), "{}", location(&r));
}

#[tokio::test]
async fn rejects_device_authorization_without_resource_a_scope_the_default_audience_does_not_define()
 {
    let app = start().await;
    let r = device_authorization(&app, &[("client_id", MCP_FIRST), ("scope", "read:orders")]).await;
    pinned(
        r,
        400,
        json!({
            "error": "invalid_scope",
            "error_description": "scope `read:orders` is not defined by the requested resource"
        }),
    )
    .await;
}

#[tokio::test]
async fn rejects_token_request_without_resource_a_scope_the_default_audience_does_not_define() {
    let app = start().await;
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "read:orders"),
    ];
    let r = app.post_token(&form, Some((SVC_MCP, SVC_SECRET))).await;
    pinned(
        r,
        400,
        json!({
            "error": "invalid_scope",
            "error_description": "scope `read:orders` is not defined by the requested resource"
        }),
    )
    .await;
    // Without `scope`: only the default audience's scopes, not `read:orders`.
    let form = [("grant_type", "client_credentials")];
    let r = app.post_token(&form, Some((SVC_MCP, SVC_SECRET))).await;
    assert_eq!(r.status(), 200);
    let token: Value = r.json().await.unwrap();
    assert_eq!(token["scope"], "tools:read");
}
