//! DPoP (RFC 9449) through an independent client (issue 13, "How it is checked"):
//! panva's **oauth4webapi** (npm), run by `tests/browser/dpop.mjs`, makes the token,
//! UserInfo and refresh requests and signs every proof: the code flow with `dpop_jkt`,
//! UserInfo and refresh, client credentials, and the device grant, against a server
//! that requires DPoP nonces (§8), so the library's nonce handling is exercised too.
//! This test plays the person (the login and consent pages, the device approval) with
//! reqwest, and checks what the library got: `token_type` DPoP and access tokens whose
//! `cnf.jkt` is the thumbprint the library computed of its own key.
//!
//! Needs `node` (20+) and `npm ci` in `tests/browser`. Without them the test prints
//! `skipped: …` and passes, unless `PORTCULLIS_REQUIRE_BROWSER=1` (CI, which runs
//! `npm ci` there), when it fails naming what is missing.

use crate::cli_client::decide_device;
use crate::flow::{ALICE, ALICE_PASSWORD, Browser};
use crate::support::{API, TestApp, verify_access_token};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

/// A public client (code flow with a loopback redirect, device grant, refresh), a
/// machine client, Alice, and server nonces at the token endpoint.
const CONFIG: &str = r#"
[tokens]
access_token_ttl = 900
device_poll_interval = 1
session_ttl = 3600

[dpop]
require_nonce = true

[[users]]
username = "alice"
password = "alice-password-1"

[[clients]]
client_id = "public-app"
client_name = "Public App"
token_endpoint_auth_method = "none"
redirect_uris = ["http://127.0.0.1/callback"]
grant_types = ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
scopes = ["openid", "offline_access", "read:orders"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "machine"
client_secret = "machine-secret-0123456789abcdefghijklmnop"
grant_types = ["client_credentials"]
scopes = ["read:orders"]
audiences = ["https://api.example.com"]
"#;

const PUBLIC_CLIENT: &str = "public-app";
const REDIRECT_URI: &str = "http://127.0.0.1/callback";
const MACHINE: &str = "machine";
const MACHINE_SECRET: &str = "machine-secret-0123456789abcdefghijklmnop";
const SCOPE: &str = "openid offline_access read:orders";
/// Longest the whole script may take.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::test]
async fn oauth4webapi_dpop_code_flow_userinfo_refresh_client_credentials_and_device_grant() {
    let Some(node) = node_tools(
        "oauth4webapi_dpop_code_flow_userinfo_refresh_client_credentials_and_device_grant",
    ) else {
        return;
    };
    let app = TestApp::start_in(TempDir::new().unwrap(), CONFIG).await;
    // The server's clock follows real time (a little faster), so that polls one real
    // second apart are not answered `slow_down`.
    let clock = app.clock.clone();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            clock.advance(1);
        }
    });

    let report = tokio::time::timeout(SCRIPT_TIMEOUT, drive(&app, &node))
        .await
        .expect("the oauth4webapi script finished in time");
    ticker.abort();
    println!("oauth4webapi report: {report}");
    assert_eq!(report["ok"], true, "{report}");
    assert!(
        report["dpop_signing_alg_values_supported"]
            .as_array()
            .is_some_and(|algs| algs.iter().any(|a| a == "ES256")),
        "{report}"
    );

    // Code flow: the code was bound with dpop_jkt, and both the first and the refreshed
    // access tokens are bound to the library's key; UserInfo accepted them.
    let code = &report["code"];
    let jkt = code["dpop_jkt"].as_str().unwrap();
    assert_bound(&app, &code["issued"], jkt).await;
    assert_bound(&app, &code["refreshed"], jkt).await;
    assert_ne!(
        code["refreshed"]["refresh_token"],
        code["issued"]["refresh_token"]
    );
    assert_eq!(code["userinfo_sub"], code["sub"]);
    assert_eq!(code["userinfo_after_refresh_sub"], code["sub"]);

    let cc = &report["client_credentials"];
    assert_bound(&app, &cc["issued"], cc["jkt"].as_str().unwrap()).await;
    assert_ne!(cc["jkt"], code["dpop_jkt"], "a key per flow");

    let device = &report["device"];
    assert_bound(&app, &device["issued"], device["jkt"].as_str().unwrap()).await;

    // The server asked for a nonce and the library followed (RFC 9449 §8): the first
    // token request of each flow (a new key, a new DPoP handle) was retried once with
    // it; later requests (the refresh, the next polls) used the nonce it kept.
    let retries = &report["nonce_retries"];
    assert_eq!(retries["authorization_code"], 1, "{report}");
    assert_eq!(retries["client_credentials"], 1, "{report}");
    assert_eq!(retries["device_code"], 1, "{report}");
}

/// `tokens` (as the script reports them) say `token_type` DPoP (oauth4webapi reports
/// it lower-cased; token types are case-insensitive, RFC 6749 §5.1) and carry an access
/// token for the API whose `cnf.jkt` is `jkt`.
async fn assert_bound(app: &TestApp, tokens: &Value, jkt: &str) {
    assert!(
        tokens["token_type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("DPoP")),
        "{tokens}"
    );
    let claims = verify_access_token(
        tokens["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        API,
    );
    assert_eq!(claims["cnf"]["jkt"], jkt, "{claims}");
}

/// Runs the script, answering its prompts; returns its last line as JSON.
async fn drive(app: &TestApp, node: &Path) -> Value {
    let mut child = Command::new(node)
        .arg("dpop.mjs")
        .current_dir(browser_dir())
        .env("ISSUER", &app.base)
        .env("PUBLIC_CLIENT_ID", PUBLIC_CLIENT)
        .env("REDIRECT_URI", REDIRECT_URI)
        .env("SCOPE", SCOPE)
        .env("MACHINE_CLIENT_ID", MACHINE)
        .env("MACHINE_CLIENT_SECRET", MACHINE_SECRET)
        .env("RESOURCE", API)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("node dpop.mjs starts: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last = Value::Null;
    while let Some(line) = lines.next_line().await.unwrap() {
        eprintln!("dpop.mjs: {line}");
        let message: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("dpop.mjs printed something other than JSON ({e}): {line}"));
        let answer = if let Some(url) = message["authorize"].as_str() {
            // The person signs in and consents; the browser would follow the redirect.
            let browser = Browser::new(app);
            let response = browser.get(url).await;
            let (to, shown) = browser.complete(response, ALICE, ALICE_PASSWORD).await;
            assert_eq!(shown, ["login", "consent"]);
            assert!(to.starts_with(REDIRECT_URI), "{to}");
            to
        } else if let Some(user_code) = message["user_code"].as_str() {
            decide_device(app, user_code, true).await;
            "approved".to_owned()
        } else {
            // The report: nothing more to answer.
            last = message;
            break;
        };
        stdin
            .write_all(format!("{answer}\n").as_bytes())
            .await
            .unwrap();
    }
    drop(stdin);
    let status = child.wait().await.unwrap();
    assert!(status.success() || last["ok"] == false, "{status:?}");
    last
}

/// `node` with oauth4webapi installed, or `None` after printing why `test` is skipped.
/// Panics instead when `PORTCULLIS_REQUIRE_BROWSER=1`.
pub(crate) fn node_tools(test: &str) -> Option<PathBuf> {
    let node = on_path("node");
    let module = browser_dir().join("node_modules").join("oauth4webapi");
    let mut missing = Vec::new();
    if node.is_none() {
        missing.push("node (Node.js 20+)".to_owned());
    }
    if !module.is_dir() {
        missing.push(format!(
            "{} (run `npm ci` in {})",
            module.display(),
            browser_dir().display()
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

pub(crate) fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}
