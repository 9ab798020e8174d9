//! An MCP client nobody registered gets a token and calls a tool (issue 14, "How it is
//! checked"): the official MCP TypeScript SDK client (`@modelcontextprotocol/sdk`, run by
//! `tests/mcp/client.mjs`) against the `mcp_server` example (compiled into this binary,
//! served on `127.0.0.1:0`) in front of a running Portcullis. The SDK does everything a
//! real MCP client does: it connects and gets 401, reads `resource_metadata` (RFC 9728
//! §5.1), fetches the protected-resource metadata and then the authorization server's
//! (RFC 8414), identifies itself with a Client ID Metadata Document served by this test
//! over https or registers itself (RFC 7591 dynamic registration), and sends the user to `/authorize` with PKCE (S256) and `resource`
//! (RFC 8707). This test plays the user's browser (a cookie jar through the login and
//! consent forms, with their CSRF fields) and hands the redirect back; the SDK redeems
//! the code and calls `add`.
//!
//! The example's own answers (the challenge, a token for another resource, a missing
//! scope, the metadata paths) are tested with the test-token kit below.
//!
//! Needs `node` (20+) and `npm ci` in `tests/mcp`. Without them the SDK tests print
//! `skipped: …` and pass, unless `PORTCULLIS_REQUIRE_BROWSER=1` (CI, which runs `npm ci`
//! there), when they fail naming what is missing.

#[allow(dead_code)]
#[path = "../../examples/mcp_server.rs"]
mod mcp_server;

use crate::cimd::server::{Canned, DocServer, TestCa};
use crate::flow::{ALICE, ALICE_PASSWORD, Browser};
use crate::postgres::with_fresh_database;
use crate::support::{TestApp, verify_access_token};
use mcp_server::{MCP_SCOPE, McpOptions};
use portcullis_core::clock::ManualClock;
use portcullis_resource::testing::TestIssuer;
use portcullis_resource::{KeyStore, KeyStoreOptions, Validator};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use url::Url;

/// The client's redirect URI (RFC 8252 loopback); the test plays the browser, so
/// nothing listens there.
const REDIRECT: &str = "http://127.0.0.1/callback";
/// Where the test serves the client's metadata document.
const DOCUMENT_PATH: &str = "/mcp-agent/client.json";
/// Longest the whole script may take.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Alice, the `[outbound]` policy that lets the server fetch the test's document
/// (loopback, the test CA), and the MCP server registered as a resource open to
/// self-registered clients with a default scope. `{RESOURCE}` and `{CA}` are filled in.
const CONFIG: &str = r#"
[tokens]
access_token_ttl = 900

[registration]
mode = "open"

[outbound]
allow_networks = ["127.0.0.0/8"]
ca_certificates = ["{CA}"]

[[users]]
username = "alice"
password = "alice-password-1"

[[resources]]
identifier = "{RESOURCE}"
name = "Demo MCP server"
scopes = ["tools:read", "tools:call"]
default_scopes = ["tools:read"]
dynamic_clients = true
[resources.scope_descriptions]
"tools:read" = "Use the demo tools"
"#;

#[tokio::test]
async fn mcp_sdk_client_with_a_metadata_document_and_no_scope_calls_a_tool() {
    let Some(node) =
        node_tools("mcp_sdk_client_with_a_metadata_document_and_no_scope_calls_a_tool")
    else {
        return;
    };
    run_case(&node, None, false, Registration::MetadataDocument).await;
}

#[tokio::test]
async fn mcp_sdk_client_with_a_metadata_document_and_no_scope_calls_a_tool_on_postgres() {
    let Some(node) =
        node_tools("mcp_sdk_client_with_a_metadata_document_and_no_scope_calls_a_tool_on_postgres")
    else {
        return;
    };
    with_fresh_database(|db| async move {
        run_case(&node, Some(&db.url), false, Registration::MetadataDocument).await
    })
    .await;
}

#[tokio::test]
async fn mcp_sdk_client_with_dynamic_registration_and_no_scope_calls_a_tool() {
    let Some(node) =
        node_tools("mcp_sdk_client_with_dynamic_registration_and_no_scope_calls_a_tool")
    else {
        return;
    };
    run_case(&node, None, false, Registration::Dynamic).await;
}

#[tokio::test]
async fn mcp_sdk_client_with_dynamic_registration_and_no_scope_calls_a_tool_on_postgres() {
    let Some(node) = node_tools(
        "mcp_sdk_client_with_dynamic_registration_and_no_scope_calls_a_tool_on_postgres",
    ) else {
        return;
    };
    with_fresh_database(|db| async move {
        run_case(&node, Some(&db.url), false, Registration::Dynamic).await
    })
    .await;
}

#[tokio::test]
async fn mcp_sdk_client_asks_for_the_scope_the_challenge_names() {
    let Some(node) = node_tools("mcp_sdk_client_asks_for_the_scope_the_challenge_names") else {
        return;
    };
    run_case(&node, None, true, Registration::MetadataDocument).await;
}

/// How the SDK client identifies itself (`REGISTRATION` of client.mjs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Registration {
    /// Its `client_id` is the URL of a metadata document the test serves.
    MetadataDocument,
    /// It registers at `/register` (RFC 7591, `[registration] mode = "open"`).
    Dynamic,
}

/// One flow: Portcullis (SQLite, or PostgreSQL at `database`), the document server, the
/// MCP server (announcing its scope when `scope_hints`), and the SDK client identifying
/// itself as `registration` says.
async fn run_case(
    node: &Path,
    database: Option<&str>,
    scope_hints: bool,
    registration: Registration,
) {
    let mut system = System::start(database, scope_hints).await;
    system.registration = registration;
    let report = tokio::time::timeout(SCRIPT_TIMEOUT, system.drive(node))
        .await
        .expect("the MCP client script finished in time");
    println!("client.mjs report: {report}");
    assert_eq!(report["ok"], true, "{report}");
    system.check(&report, scope_hints).await;
}

/// Portcullis, the https server with the client's metadata document, and the MCP
/// server example on `resource`.
struct System {
    app: TestApp,
    documents: DocServer,
    _ca: TestCa,
    /// The MCP server's endpoint and resource identifier, `http://127.0.0.1:<port>/mcp`.
    resource: String,
    /// The document's URL (the `client_id` of a metadata document client).
    client_id: String,
    /// How the client identifies itself.
    registration: Registration,
}

impl System {
    async fn start(database: Option<&str>, scope_hints: bool) -> Self {
        let ca = TestCa::new();
        let documents = DocServer::start(&ca, Canned::json("{}").status(404)).await;
        let client_id = documents.url(DOCUMENT_PATH);
        documents.answer(
            DOCUMENT_PATH,
            Canned::json(&document(&client_id).to_string()),
        );

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
        let toml = CONFIG
            .replace("{RESOURCE}", &resource)
            .replace("{CA}", &ca.ca_file().display().to_string());
        let app = match database {
            Some(url) => TestApp::start_on(TempDir::new().unwrap(), &toml, url).await,
            None => TestApp::start_in(TempDir::new().unwrap(), &toml).await,
        };
        // The MCP server judges `exp` by the authorization server's (manual) clock.
        let validator = Validator::builder(&app.base, &resource)
            .keys(KeyStore::remote(&app.base, KeyStoreOptions::default()))
            .clock(Arc::new(SharedClock(app.clock.clone())))
            .build()
            .unwrap();
        let router = mcp_server::router(validator, &McpOptions { scope_hints }).unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            app,
            documents,
            _ca: ca,
            resource,
            client_id,
            registration: Registration::MetadataDocument,
        }
    }

    /// Runs the script, playing the user's browser when it asks; returns its report.
    async fn drive(&self, node: &Path) -> Value {
        let mut child = Command::new(node)
            .arg("client.mjs")
            .current_dir(mcp_dir())
            .env("MCP_URL", &self.resource)
            .env("REDIRECT_URI", REDIRECT)
            .env(
                "REGISTRATION",
                match self.registration {
                    Registration::MetadataDocument => "metadata-document",
                    Registration::Dynamic => "dynamic-registration",
                },
            )
            .env("CLIENT_ID_URL", &self.client_id)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("node client.mjs starts: {e}"));
        let mut stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut report = Value::Null;
        while let Some(line) = lines.next_line().await.unwrap() {
            eprintln!("client.mjs: {line}");
            let message: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
                panic!("client.mjs printed something other than JSON ({e}): {line}")
            });
            let Some(url) = message["authorize"].as_str() else {
                report = message;
                break;
            };
            // The user signs in and approves the unvetted client, as a browser would.
            let browser = Browser::new(&self.app);
            let response = browser.get(url).await;
            let (to, shown) = browser.complete(response, ALICE, ALICE_PASSWORD).await;
            assert_eq!(
                shown,
                ["login", "consent"],
                "an unvetted client is always asked"
            );
            stdin.write_all(format!("{to}\n").as_bytes()).await.unwrap();
        }
        drop(stdin);
        let status = child.wait().await.unwrap();
        assert!(status.success() || report["ok"] == false, "{status:?}");
        report
    }

    /// What the SDK asked for and got.
    async fn check(&self, report: &Value, scope_hints: bool) {
        let client_id = report["client_id"].as_str().unwrap_or_default().to_owned();
        match self.registration {
            Registration::MetadataDocument => {
                assert_eq!(client_id, self.client_id, "{report}");
                assert!(
                    self.documents.hits() >= 1,
                    "the server fetched the document"
                );
            }
            Registration::Dynamic => {
                assert!(client_id.starts_with("dcr-"), "{report}");
                assert_eq!(self.documents.hits(), 0, "no document involved");
                let stored = self
                    .app
                    .app
                    .state()
                    .store()
                    .client_get(&client_id)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(
                    stored.source,
                    portcullis_core::client::RecordSource::Dynamic
                );
            }
        }

        // The authorization request: the document's URL as client_id, PKCE S256, the
        // resource, and a scope only when the MCP server named one.
        let authorize = query(report["authorization_url"].as_str().unwrap());
        assert!(
            report["authorization_url"]
                .as_str()
                .unwrap()
                .starts_with(&self.app.url("/authorize?"))
        );
        assert_eq!(authorize["client_id"], client_id);
        assert_eq!(authorize["code_challenge_method"], "S256");
        assert_eq!(authorize["resource"], self.resource);
        assert_eq!(authorize["redirect_uri"], REDIRECT);
        if scope_hints {
            assert_eq!(authorize.get("scope").map(String::as_str), Some(MCP_SCOPE));
        } else {
            assert_eq!(authorize.get("scope"), None, "no scope: {authorize:?}");
        }
        assert_eq!(report["iss"], self.app.base.as_str(), "RFC 9207 iss");

        // The token: for the MCP server, with the resource's default scope stated.
        let tokens = &report["tokens"];
        assert_eq!(tokens["scope"], MCP_SCOPE, "{tokens}");
        let claims = verify_access_token(
            tokens["access_token"].as_str().unwrap(),
            &self.app.jwks().await,
            &self.app.base,
            &self.resource,
        );
        assert_eq!(claims["client_id"], client_id.as_str(), "{claims}");
        assert_eq!(claims["scope"], MCP_SCOPE, "{claims}");

        // The tool answered.
        assert_eq!(report["tools"], json!(["add"]), "{report}");
        assert_ne!(report["result"]["isError"], true, "{report}");
        assert_eq!(
            report["result"]["content"],
            json!([{"type": "text", "text": "5"}]),
            "{report}"
        );

        self.check_requests(report["requests"].as_array().unwrap(), &client_id);
    }

    /// The SDK's requests, in order: the refused MCP request with its challenge, the
    /// RFC 9728 document named there, RFC 8414 metadata, the token request with
    /// `resource`, then the MCP requests with the token.
    fn check_requests(&self, requests: &[Value], client_id: &str) {
        let first = &requests[0];
        assert_eq!(first["url"], self.resource.as_str(), "{first}");
        assert_eq!(first["status"], 401, "{first}");
        let metadata_url = format!(
            "{}/.well-known/oauth-protected-resource/mcp",
            self.resource.trim_end_matches("/mcp")
        );
        let challenge = first["www_authenticate"].as_str().unwrap();
        assert!(
            challenge.contains(&format!("resource_metadata=\"{metadata_url}\"")),
            "{challenge}"
        );
        let urls: Vec<&str> = requests
            .iter()
            .map(|r| r["url"].as_str().unwrap())
            .collect();
        let at = |url: &str| {
            urls.iter()
                .position(|u| *u == url)
                .unwrap_or_else(|| panic!("the SDK never asked {url}: {urls:?}"))
        };
        let rfc9728 = at(&metadata_url);
        let rfc8414 = at(&self.app.url("/.well-known/oauth-authorization-server"));
        let token = at(&self.app.url("/token"));
        assert!(rfc9728 < rfc8414 && rfc8414 < token, "{urls:?}");
        if self.registration == Registration::Dynamic {
            // RFC 7591 §3: registered after discovery, before the user is sent away.
            let register = at(&self.app.url("/register"));
            assert!(rfc8414 < register && register < token, "{urls:?}");
            assert_eq!(requests[register]["method"], "POST");
            assert_eq!(requests[register]["status"], 201);
        }
        assert_eq!(requests[rfc9728]["status"], 200);
        assert_eq!(requests[rfc8414]["status"], 200);
        let form = &requests[token]["form"];
        assert_eq!(requests[token]["status"], 200, "{form}");
        assert_eq!(form["grant_type"], "authorization_code");
        assert_eq!(form["resource"], self.resource.as_str());
        assert_eq!(form["client_id"], client_id);
        let after: Vec<&Value> = requests[token + 1..].iter().collect();
        assert!(
            after
                .iter()
                .all(|r| r["url"] == self.resource.as_str() && r["status"].as_u64() < Some(300)),
            "with the token every MCP request succeeds: {after:?}"
        );
    }
}

/// The client's metadata document (draft-ietf-oauth-client-id-metadata-document-01 §3).
fn document(client_id: &str) -> Value {
    json!({
        "client_id": client_id,
        "client_name": "Portcullis MCP end-to-end test",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none"
    })
}

/// The query parameters of `url`, each once.
fn query(url: &str) -> BTreeMap<String, String> {
    let url = Url::parse(url).unwrap();
    let mut params = BTreeMap::new();
    for (name, value) in url.query_pairs() {
        assert!(
            params.insert(name.to_string(), value.to_string()).is_none(),
            "{name} repeated in {url}"
        );
    }
    params
}

/// The authorization server's clock, for the MCP server's validator.
struct SharedClock(Arc<ManualClock>);

impl portcullis_resource::Clock for SharedClock {
    fn now(&self) -> i64 {
        portcullis_core::Clock::now(self.0.as_ref())
    }
}

/// `node` with the MCP SDK installed, or `None` after printing why `test` is skipped.
/// Panics instead when `PORTCULLIS_REQUIRE_BROWSER=1`.
fn node_tools(test: &str) -> Option<PathBuf> {
    let node = on_path("node");
    let module = mcp_dir().join("node_modules/@modelcontextprotocol/sdk");
    let mut missing = Vec::new();
    if node.is_none() {
        missing.push("node (Node.js 20+)".to_owned());
    }
    if !module.is_dir() {
        missing.push(format!(
            "{} (run `npm ci` in {})",
            module.display(),
            mcp_dir().display()
        ));
    }
    if missing.is_empty() {
        return node;
    }
    let missing = missing.join("; ");
    if std::env::var("PORTCULLIS_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!("PORTCULLIS_REQUIRE_BROWSER=1 but {test} cannot run: missing {missing}");
    }
    println!(
        "skipped: {test} (missing {missing}; PORTCULLIS_REQUIRE_BROWSER=1 makes this a failure)"
    );
    None
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn mcp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp")
}

// --- the example's own answers, with the test-token kit (no authorization server) -----

/// The example's router with a validator of a [`TestIssuer`], on `127.0.0.1:0`;
/// returns the issuer and the MCP URL (its resource identifier).
async fn kit_server() -> (TestIssuer, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let issuer = TestIssuer::new().with_audience(&resource);
    let options = McpOptions { scope_hints: true };
    let router = mcp_server::router(issuer.validator(&resource), &options).unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (issuer, resource)
}

/// `initialize` (MCP 2025-11-25 "Lifecycle") as a Streamable HTTP client posts it.
async fn initialize(resource: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(resource)
        .header("accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "portcullis-it", "version": "1"}
            }
        }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// The `Bearer` challenge of `response`.
fn bearer_challenge(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("Bearer"))
        .unwrap_or_else(|| panic!("no Bearer challenge: {:?}", response.headers()))
}

#[tokio::test]
async fn mcp_server_answers_initialize_with_a_valid_token() {
    let (issuer, resource) = kit_server().await;
    let token = issuer.token().scope(MCP_SCOPE).sign();
    let response = initialize(&resource, Some(&token)).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(body.contains("portcullis-demo-mcp"), "{body}");
}

#[tokio::test]
async fn rejects_mcp_request_without_a_token() {
    let (_, resource) = kit_server().await;
    let response = initialize(&resource, None).await;
    assert_eq!(response.status(), 401);
    let metadata = format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        resource.trim_end_matches("/mcp")
    );
    assert_eq!(
        bearer_challenge(&response),
        format!(r#"Bearer scope="tools:read", resource_metadata="{metadata}""#)
    );
}

#[tokio::test]
async fn rejects_mcp_request_with_a_token_for_another_resource() {
    let (issuer, resource) = kit_server().await;
    let token = issuer
        .token()
        .scope(MCP_SCOPE)
        .audience("https://other.example.com/mcp")
        .sign();
    let response = initialize(&resource, Some(&token)).await;
    assert_eq!(response.status(), 401);
    let challenge = bearer_challenge(&response);
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn rejects_mcp_request_without_the_scope() {
    let (issuer, resource) = kit_server().await;
    let token = issuer.token().scope("tools:call").sign();
    let response = initialize(&resource, Some(&token)).await;
    assert_eq!(response.status(), 403);
    let challenge = bearer_challenge(&response);
    assert!(
        challenge.contains(r#"error="insufficient_scope""#)
            && challenge.contains(r#"scope="tools:read""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn mcp_server_serves_its_metadata_at_both_well_known_paths() {
    let (issuer, resource) = kit_server().await;
    let origin = resource.trim_end_matches("/mcp");
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let response = reqwest::get(format!("{origin}{path}")).await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let metadata: Value = response.json().await.unwrap();
        assert_eq!(metadata["resource"], resource.as_str(), "{path}");
        assert_eq!(metadata["authorization_servers"], json!([issuer.issuer()]));
        assert_eq!(metadata["scopes_supported"], json!([MCP_SCOPE]));
    }
}
