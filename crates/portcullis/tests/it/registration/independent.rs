//! An independent client (panva's oauth4webapi from npm, `tests/browser/registration.mjs`)
//! registers itself the way MCP clients do and runs the code flow with PKCE; and the
//! register → read → delete path on PostgreSQL.

use super::{MCP, config, mcp_metadata, registered};
use crate::flow::{ALICE, ALICE_PASSWORD, Browser};
use crate::oauth4webapi::{browser_dir, node_tools};
use crate::postgres::with_fresh_database;
use crate::support::{TestApp, verify_access_token};
use portcullis_core::client::RecordSource;
use serde_json::Value;
use std::process::Stdio;
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

const REDIRECT_URI: &str = "http://127.0.0.1:43110/callback";

#[tokio::test]
async fn oauth4webapi_registers_and_runs_the_code_flow() {
    let Some(node) = node_tools("oauth4webapi_registers_and_runs_the_code_flow") else {
        return;
    };
    let app = TestApp::start_in(TempDir::new().unwrap(), &config("mode = \"open\"")).await;
    let report = tokio::time::timeout(Duration::from_secs(60), drive(&app, &node))
        .await
        .expect("registration.mjs finishes within a minute");
    println!("registration.mjs report: {report}");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["registration_endpoint"], app.url("/register"));
    let registered = &report["registered"];
    assert_eq!(registered["token_endpoint_auth_method"], "none");
    let claims = verify_access_token(
        report["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        MCP,
    );
    assert_eq!(claims["client_id"], registered["client_id"]);
    assert_eq!(report["scope"], "tools:read");
    assert_eq!(report["read_status"], 200);
    assert_eq!(report["read_client_id"], registered["client_id"]);
    assert_eq!(report["delete_status"], 204);
    let id = registered["client_id"].as_str().unwrap();
    assert!(
        app.app
            .state()
            .store()
            .client_get(id)
            .await
            .unwrap()
            .is_none()
    );
}

/// Runs the script, playing the person at its one prompt; returns its last line.
async fn drive(app: &TestApp, node: &std::path::Path) -> Value {
    let mut child = Command::new(node)
        .arg("registration.mjs")
        .current_dir(browser_dir())
        .env("ISSUER", &app.base)
        .env("REDIRECT_URI", REDIRECT_URI)
        .env("RESOURCE", MCP)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("node registration.mjs starts: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last = Value::Null;
    while let Some(line) = lines.next_line().await.unwrap() {
        let message: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!("registration.mjs printed something other than JSON ({e}): {line}")
        });
        let Some(url) = message["authorize"].as_str() else {
            last = message;
            break;
        };
        let browser = Browser::new(app);
        let response = browser.get(url).await;
        let (to, shown) = browser.complete(response, ALICE, ALICE_PASSWORD).await;
        assert_eq!(shown, ["login", "consent"]);
        assert!(to.starts_with(REDIRECT_URI), "{to}");
        stdin.write_all(format!("{to}\n").as_bytes()).await.unwrap();
    }
    drop(stdin);
    let status = child.wait().await.unwrap();
    assert!(status.success() || last["ok"] == false, "{status:?}");
    last
}

#[tokio::test]
async fn postgres_register_read_and_delete() {
    with_fresh_database(|db| async move {
        let app =
            TestApp::start_on(TempDir::new().unwrap(), &config("mode = \"open\""), &db.url).await;
        let client = registered(&app, &mcp_metadata()).await;
        let id = client["client_id"].as_str().unwrap();
        let stored = app
            .app
            .state()
            .store()
            .client_get(id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.source, RecordSource::Dynamic);
        let uri = client["registration_client_uri"].as_str().unwrap();
        let token = client["registration_access_token"].as_str().unwrap();
        let read: Value = app
            .http
            .get(uri)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(read, client);
        let wrong = app.http.get(uri).bearer_auth("wrong").send().await.unwrap();
        assert_eq!(wrong.status(), 401);
        let deleted = app
            .http
            .delete(uri)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        assert!(
            app.app
                .state()
                .store()
                .client_get(id)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            app.app
                .state()
                .store()
                .dynamic_client_get(id)
                .await
                .unwrap()
                .is_none()
        );
        app.stop().await;
    })
    .await;
}
