//! Dynamic client registration (RFC 7591) and management (RFC 7592): one named
//! `rejects_*` test per refusal (`rejections`), the flows a registered client runs
//! (`flows`: code + PKCE, client credentials, consent labelling, config sync,
//! housekeeping), RFC 7592 read/update/delete (`management`), and an independent client
//! (`independent`: oauth4webapi from npm) plus the PostgreSQL path.

mod flows;
mod independent;
mod management;
mod rejections;

use crate::flow;
use crate::support::TestApp;
use serde_json::{Value, json};
use tempfile::TempDir;

/// The resource open to dynamic clients.
pub const MCP: &str = "https://mcp.example.com/mcp";
/// A resource closed to them.
pub const INTERNAL: &str = "https://internal.example.com/";

/// Two resources (one open to dynamic clients, one closed).
const RESOURCES: &str = r#"
[[resources]]
identifier = "https://mcp.example.com/mcp"
name = "Example MCP server"
scopes = ["tools:read", "tools:call"]
default_scopes = ["tools:read"]
dynamic_clients = true

[[resources]]
identifier = "https://internal.example.com/"
scopes = ["internal:admin"]
dynamic_clients = false
"#;

/// The flow tests' users and clients, the resources, and `registration` (the body of
/// the `[registration]` table).
pub fn config(registration: &str) -> String {
    format!(
        "{}{RESOURCES}\n[registration]\n{registration}\n",
        flow::CONFIG
    )
}

/// A server with open registration.
pub async fn start_open() -> TestApp {
    start_with("mode = \"open\"").await
}

/// A server with `[registration]` = `registration`.
pub async fn start_with(registration: &str) -> TestApp {
    TestApp::start_in(TempDir::new().unwrap(), &config(registration)).await
}

/// Metadata like the MCP TypeScript SDK sends: a public code client on loopback.
pub fn mcp_metadata() -> Value {
    json!({
        "redirect_uris": ["http://127.0.0.1:33418/callback"],
        "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "client_name": "Example agent",
    })
}

/// POSTs `body` as JSON to `/register` (with `bearer` as the initial access token).
pub async fn register(app: &TestApp, body: &Value, bearer: Option<&str>) -> reqwest::Response {
    let mut request = app.http.post(app.url("/register")).json(body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// Registers `body`, asserting 201; returns the client information response.
pub async fn registered(app: &TestApp, body: &Value) -> Value {
    let response = register(app, body, None).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// Asserts an RFC 7591 §3.2.2 / RFC 6750 error answer: status, `error`, no-store, and
/// that the description mentions `needle`; returns the body.
pub async fn assert_error(
    response: reqwest::Response,
    status: u16,
    error: &str,
    needle: &str,
) -> Value {
    assert_eq!(response.status(), status);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    let description = body["error_description"].as_str().unwrap_or("");
    assert!(description.contains(needle), "{body}");
    body
}
