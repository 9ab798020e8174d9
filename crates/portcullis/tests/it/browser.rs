//! The authorization code flow in a real browser (issue 3, "How it is checked"):
//! Debian's Chromium, driven by Playwright from `tests/browser/flow.mjs`, goes from a
//! native app's loopback callback (RFC 8252 §7.3) through the login and consent pages
//! to a token. Screenshots of both pages are kept in `target/browser-artifacts/`.
//! `tests/browser/device.mjs` does the user's side of the device grant (RFC 8628 §3.3)
//! while this test plays the device: it starts the authorization and polls for tokens.
//!
//! `tests/browser/spa.mjs` runs the single-page app example (`examples/spa`,
//! oidc-client-ts bundled here with esbuild) through sign-in, UserInfo, refresh and
//! sign-out, and checks that the same page from an unregistered origin is refused by
//! the browser (CORS).
//!
//! Needs `chromium` (env `CHROMIUM` or on `PATH`), `node`, and `npm ci` in
//! `tests/browser` (and in `examples/spa` for the SPA test). Without them the test prints `skipped: …` and passes, unless
//! `PORTCULLIS_REQUIRE_BROWSER=1` (CI), when it fails naming what is missing.

use crate::support::TestApp;
use base64::Engine;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tempfile::TempDir;

#[tokio::test]
async fn browser_login_and_consent_reach_a_token() {
    let Some(tools) = browser_tools("browser_login_and_consent_reach_a_token") else {
        return;
    };
    let artifacts = artifacts_dir();
    for name in ["login.png", "consent.png"] {
        let _ = std::fs::remove_file(artifacts.join(name));
    }
    let app = TestApp::start_in(TempDir::new().unwrap(), CONFIG).await;

    let (report, context) = run_script(
        &tools,
        "flow.mjs",
        &[
            ("ISSUER", app.base.as_str()),
            ("CLIENT_ID", CLIENT_ID),
            ("USERNAME", USERNAME),
            ("PASSWORD", PASSWORD),
        ],
        &artifacts,
    )
    .await;
    assert_eq!(report["ok"], true, "the browser flow failed\n{context}");
    assert_eq!(report["iss"], app.base.as_str(), "RFC 9207 iss");
    assert_eq!(
        report["authorize_status"], 303,
        "/authorize sends the browser to login"
    );
    assert!(
        report["login_headers"]["content_security_policy"]
            .as_str()
            .is_some_and(|csp| csp.contains("default-src 'none'")),
        "the login page carries a strict CSP: {report}"
    );
    assert_eq!(
        report["console_errors"],
        serde_json::json!([]),
        "no console errors or CSP violations"
    );
    assert_eq!(
        report["consent_shown"], true,
        "a first login asks for consent"
    );

    let tokens = &report["token_response"];
    assert!(
        tokens["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{tokens}"
    );
    assert_eq!(tokens["token_type"], "Bearer");
    let id_token = tokens["id_token"].as_str().expect("an id_token for openid");
    let claims = unverified_jwt_payload(id_token);
    assert_eq!(claims["iss"], app.base.as_str());
    let aud = &claims["aud"];
    assert!(
        aud == CLIENT_ID
            || aud
                .as_array()
                .is_some_and(|a| a.contains(&CLIENT_ID.into())),
        "aud {aud}"
    );
    let nonce = report["nonce"]
        .as_str()
        .expect("flow.mjs reports its nonce");
    assert_eq!(claims["nonce"], nonce);
    assert_eq!(claims["name"], NAME, "profile scope");

    assert_screenshots(&artifacts, &["login.png", "consent.png"]);
    println!("screenshots: {}", artifacts.display());
}

#[tokio::test]
async fn browser_device_flow_connects_the_device() {
    let Some(tools) = browser_tools("browser_device_flow_connects_the_device") else {
        return;
    };
    let artifacts = artifacts_dir();
    for name in ["device-entry.png", "device-consent.png", "device-done.png"] {
        let _ = std::fs::remove_file(artifacts.join(name));
    }
    let app = TestApp::start_in(TempDir::new().unwrap(), CONFIG).await;
    // The device: starts the authorization (RFC 8628 §3.1) as a public client.
    let started: Value = app
        .http
        .post(app.url("/device_authorization"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("client_id={DEVICE_CLIENT_ID}&scope=openid+profile"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let device_code = started["device_code"].as_str().expect("a device_code");
    let user_code = started["user_code"].as_str().expect("a user_code");

    let (report, context) = run_script(
        &tools,
        "device.mjs",
        &[
            ("ISSUER", app.base.as_str()),
            (
                "VERIFICATION_URI_COMPLETE",
                started["verification_uri_complete"].as_str().unwrap(),
            ),
            ("USER_CODE", user_code),
            ("USERNAME", USERNAME),
            ("PASSWORD", PASSWORD),
        ],
        &artifacts,
    )
    .await;
    assert_eq!(
        report["ok"], true,
        "the browser device flow failed\n{context}"
    );
    assert_eq!(report["entry_prefilled"], user_code, "RFC 8628 §3.3.1");
    assert_eq!(report["login_shown"], true);
    assert_eq!(report["consent_shows_code"], true, "RFC 8628 §5.4");
    assert_eq!(report["done_title"], "Device connected");
    for page in ["entry_headers", "consent_headers"] {
        let csp = report[page]["content_security_policy"]
            .as_str()
            .unwrap_or("");
        assert!(
            csp.contains("default-src 'none'") && csp.contains("form-action 'self';"),
            "{page}: a strict CSP whose forms post only here: {report}"
        );
    }
    assert_eq!(
        report["console_errors"],
        serde_json::json!([]),
        "no console errors or CSP violations"
    );

    // The device's next poll gets the tokens (RFC 8628 §3.5).
    let response = app
        .http
        .post(app.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id={DEVICE_CLIENT_ID}&device_code={device_code}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    let claims = unverified_jwt_payload(tokens["id_token"].as_str().expect("an id_token"));
    assert_eq!(claims["aud"], DEVICE_CLIENT_ID);
    assert_eq!(claims["name"], NAME);

    assert_screenshots(&artifacts, &["device-entry.png", "device-consent.png"]);
}

#[tokio::test]
async fn browser_spa_example_signs_in_calls_userinfo_refreshes_and_signs_out() {
    let test = "browser_spa_example_signs_in_calls_userinfo_refreshes_and_signs_out";
    let Some(tools) = browser_tools(test) else {
        return;
    };
    let Some(bundle) = spa_bundle(test).await else {
        return;
    };
    let artifacts = artifacts_dir();
    let shots = [
        "spa-start.png",
        "spa-signed-in.png",
        "spa-userinfo.png",
        "spa-refreshed.png",
        "spa-signed-out.png",
        "spa-foreign-origin.png",
    ];
    for name in shots {
        let _ = std::fs::remove_file(artifacts.join(name));
    }
    // The page's origin is registered through its redirect URI (the default
    // allowed_origins): a fixed port, chosen free now.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let page = format!("http://localhost:{port}/");
    let config = format!(
        "{CONFIG}
[[clients]]
client_id = \"{SPA_CLIENT_ID}\"
client_name = \"Single-page App\"
redirect_uris = [\"{page}\"]
post_logout_redirect_uris = [\"{page}\"]
grant_types = [\"authorization_code\", \"refresh_token\"]
scopes = [\"openid\", \"profile\", \"offline_access\"]
"
    );
    let app = TestApp::start_in(TempDir::new().unwrap(), &config).await;

    let port = port.to_string();
    let bundle_dir = bundle.path().to_string_lossy().into_owned();
    let (report, context) = run_script(
        &tools,
        "spa.mjs",
        &[
            ("ISSUER", app.base.as_str()),
            ("CLIENT_ID", SPA_CLIENT_ID),
            ("USERNAME", USERNAME),
            ("PASSWORD", PASSWORD),
            ("SPA_PORT", port.as_str()),
            ("BUNDLE_DIR", bundle_dir.as_str()),
        ],
        &artifacts,
    )
    .await;
    assert_eq!(report["ok"], true, "the SPA flow failed\n{context}");
    assert_eq!(
        report["console_errors"],
        serde_json::json!([]),
        "no console errors"
    );
    assert_eq!(
        report["consent_shown"], true,
        "a first sign-in asks for consent"
    );
    let signed_in = &report["signed_in"];
    assert_eq!(signed_in["name"], NAME, "{report}");
    assert_eq!(signed_in["has_refresh_token"], true, "offline_access");
    assert_eq!(report["userinfo"]["name"], NAME, "UserInfo via CORS");
    assert_eq!(report["userinfo"]["sub"], signed_in["sub"]);
    let refreshed = &report["refreshed"];
    assert_eq!(refreshed["sub"], signed_in["sub"]);
    assert_ne!(
        refreshed["access_token_suffix"], signed_in["access_token_suffix"],
        "a new access token"
    );
    assert_eq!(
        report["token_grants"],
        serde_json::json!(["authorization_code", "refresh_token"]),
        "the refresh used the refresh token (no iframe)"
    );
    assert_eq!(report["signed_out"], "Signed out.");

    // From an origin no client allows, the browser refuses what needs the client's
    // origin, and still shows the public metadata.
    let foreign = &report["foreign"];
    for probe in ["userinfo", "token"] {
        let outcome = foreign[probe].as_str().unwrap_or_default();
        assert!(
            outcome.starts_with("refused: TypeError"),
            "{probe} from a foreign origin: {outcome}"
        );
    }
    assert_eq!(foreign["discovery"], "readable: 200");
    let console = foreign["console"].to_string();
    assert!(
        console.contains("CORS policy"),
        "the browser says why: {console}"
    );

    assert_screenshots(&artifacts, &shots);
    println!("screenshots: {}", artifacts.display());
}

/// Bundles `examples/spa/src/app.js` with the example's esbuild into a fresh directory
/// (never into the source tree), or `None` after printing why `test` is skipped (a
/// failure under `PORTCULLIS_REQUIRE_BROWSER=1`).
async fn spa_bundle(test: &str) -> Option<TempDir> {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/spa");
    // The launcher npm links (a script, or the native binary once esbuild's install
    // script has run).
    let esbuild = example.join("node_modules/.bin/esbuild");
    let oidc = example.join("node_modules/oidc-client-ts");
    if !esbuild.is_file() || !oidc.is_dir() {
        let missing = format!("{} (run `npm ci` in {})", oidc.display(), example.display());
        if std::env::var("PORTCULLIS_REQUIRE_BROWSER").as_deref() == Ok("1") {
            panic!("PORTCULLIS_REQUIRE_BROWSER=1 but {test} cannot run: missing {missing}");
        }
        println!("skipped: {test} (missing {missing})");
        return None;
    }
    let out = TempDir::new().unwrap();
    let output = tokio::process::Command::new(&esbuild)
        .args(["src/app.js", "--bundle", "--format=esm", "--target=es2022"])
        .arg(format!("--outfile={}", out.path().join("app.js").display()))
        .current_dir(&example)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "esbuild failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(out)
}

/// Runs `node <script>` in `tests/browser` with `env` (plus the screenshot directory
/// and the Chromium path), asserts it exited 0, and returns the JSON report it printed
/// last and a context string (exit status, stdout, stderr) for assertion messages.
async fn run_script(
    tools: &BrowserTools,
    script: &str,
    env: &[(&str, &str)],
    artifacts: &Path,
) -> (Value, String) {
    let run = tokio::process::Command::new(&tools.node)
        .arg(script)
        .current_dir(browser_dir())
        .envs(env.iter().copied())
        .env("SCREENSHOT_DIR", artifacts)
        .env("CHROMIUM", &tools.chromium)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(FLOW_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| panic!("node {script} did not finish within {FLOW_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("node {script} starts: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let context = format!(
        "exit {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_else(|| panic!("{script} printed nothing\n{context}"));
    let report: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{script} printed no JSON ({e})\n{context}"));
    println!("browser report of {script}: {line}");
    assert!(output.status.success(), "{context}");
    (report, context)
}

/// Each of `names` in `artifacts` is a non-empty PNG.
fn assert_screenshots(artifacts: &Path, names: &[&str]) {
    for name in names {
        let path = artifacts.join(name);
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("screenshot {} missing: {e}", path.display()));
        assert!(
            bytes.len() > PNG_SIGNATURE.len() && bytes.starts_with(PNG_SIGNATURE),
            "{} is not a non-empty PNG",
            path.display()
        );
    }
}

/// What the test needs from the machine.
struct BrowserTools {
    node: PathBuf,
    chromium: PathBuf,
}

/// The browser, node and the npm packages, or `None` after printing why `test` is
/// skipped. Panics instead when `PORTCULLIS_REQUIRE_BROWSER=1`.
fn browser_tools(test: &str) -> Option<BrowserTools> {
    let chromium = std::env::var_os("CHROMIUM")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| on_path("chromium"));
    let node = on_path("node");
    let modules = browser_dir().join("node_modules").join("playwright-core");
    let mut missing = Vec::new();
    match &chromium {
        Some(path) if path.is_file() => {}
        Some(path) => missing.push(format!("CHROMIUM={} is not a file", path.display())),
        None => missing
            .push("chromium (set CHROMIUM or install it: apt-get install -y chromium)".to_owned()),
    }
    if node.is_none() {
        missing.push("node (Node.js 20+)".to_owned());
    }
    if !modules.is_dir() {
        missing.push(format!(
            "{} (run `npm ci` in {})",
            modules.display(),
            browser_dir().display()
        ));
    }
    if missing.is_empty() {
        return Some(BrowserTools {
            node: node?,
            chromium: chromium?,
        });
    }
    let missing = missing.join("; ");
    if std::env::var("PORTCULLIS_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!("PORTCULLIS_REQUIRE_BROWSER=1 but the browser test cannot run: missing {missing}");
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

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// `target/browser-artifacts` under the workspace root (created).
fn artifacts_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = root.canonicalize().unwrap_or(root);
    let dir = root.join("target/browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The payload of a compact JWS, not verified: the signature is checked by the
/// `openidconnect` tests; this one only reads `iss`, `aud` and `nonce`.
fn unverified_jwt_payload(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a compact JWS");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

const FLOW_TIMEOUT: Duration = Duration::from_secs(60);
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
const CLIENT_ID: &str = "native-app";
const DEVICE_CLIENT_ID: &str = "device-app";
const USERNAME: &str = "browser-user";
const PASSWORD: &str = "browser password 0123";
const NAME: &str = "Browser User";
const SPA_CLIENT_ID: &str = "spa-example";

/// A user, a public (native) client with a loopback redirect URI (any port matches),
/// and a public device client.
const CONFIG: &str = r#"
[[clients]]
client_id = "native-app"
client_name = "Native App"
token_endpoint_auth_method = "none"
redirect_uris = ["http://127.0.0.1/callback"]
grant_types = ["authorization_code"]
scopes = ["openid", "profile", "email"]

[[clients]]
client_id = "device-app"
client_name = "Device App"
token_endpoint_auth_method = "none"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code"]
scopes = ["openid", "profile"]

[[users]]
username = "browser-user"
password = "browser password 0123"
email = "browser-user@example.com"
name = "Browser User"
"#;
