//! `--dpop` of the binary's OAuth client (RFC 9449) against an in-process server: the
//! CLI generates a key, proves it on every token request, keeps it in the saved token
//! response, refreshes with it, follows the server's nonce (§8), and sends `dpop_jkt`
//! on the browser sign-in (§10). The key's thumbprint is computed here independently
//! (`portcullis_resource::dpop::DpopKey` from the saved PKCS#8) and compared with the
//! `cnf.jkt` the server put in the access token.

use crate::cli_client::{
    assert_one_line_error, command, decide_device, finish, json_out, mode_of, read_stderr_until,
    run, start_device_login_with, stderr_of, stdout_of,
};
use crate::flow::{ALICE, ALICE_PASSWORD, Browser};
use crate::support::{API, TestApp, verify_access_token};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_resource::dpop::DpopKey;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// The public CLI client (device grant and browser sign-in, refreshing) and a machine
/// client; `{dpop}` is replaced by the `[dpop]` table.
const CONFIG: &str = r#"
[tokens]
access_token_ttl = 900
device_poll_interval = 1
session_ttl = 3600

{dpop}

[[users]]
username = "alice"
password = "alice-password-1"

[[clients]]
client_id = "demo-cli"
client_name = "Demo CLI"
token_endpoint_auth_method = "none"
redirect_uris = ["http://127.0.0.1/callback"]
grant_types = ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
scopes = ["openid", "offline_access", "read:orders"]
audiences = ["https://api.example.com"]

[[clients]]
client_id = "svc"
client_secret = "svc-secret-0123456789abcdefghijklmnop"
grant_types = ["client_credentials"]
scopes = ["read:orders"]
audiences = ["https://api.example.com"]
"#;

/// The machine client's secret in [`CONFIG`].
const SVC_SECRET: &str = "svc-secret-0123456789abcdefghijklmnop";

async fn start() -> TestApp {
    TestApp::start_in(TempDir::new().unwrap(), &CONFIG.replace("{dpop}", "")).await
}

/// A server that answers `use_dpop_nonce` to a proof without its nonce (RFC 9449 §8).
async fn start_with_nonces() -> TestApp {
    let config = CONFIG.replace("{dpop}", "[dpop]\nrequire_nonce = true");
    TestApp::start_in(TempDir::new().unwrap(), &config).await
}

/// The key in a saved (or printed) token response, read independently of the CLI.
fn saved_key(response: &Value) -> DpopKey {
    let der = URL_SAFE_NO_PAD
        .decode(response["dpop_key"].as_str().expect("a dpop_key member"))
        .unwrap();
    DpopKey::from_pkcs8_der(&der).unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Asserts a DPoP-bound answer: `token_type` DPoP, and an access token whose
/// `cnf.jkt` is the thumbprint of the key saved beside it. Returns that thumbprint.
async fn assert_bound(app: &TestApp, response: &Value) -> String {
    assert_eq!(response["token_type"], "DPoP", "{response}");
    let jkt = saved_key(response).jkt().to_owned();
    let claims = verify_access_token(
        response["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        API,
    );
    assert_eq!(claims["cnf"]["jkt"], jkt.as_str(), "{claims}");
    jkt
}

/// `token client-credentials --dpop` for `svc`, with `extra` arguments.
async fn client_credentials(app: &TestApp, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "token",
        "client-credentials",
        "--dpop",
        "--issuer",
        &app.base,
        "--client-id",
        "svc",
        "--client-secret-stdin",
        "--resource",
        API,
    ];
    args.extend_from_slice(extra);
    run(&args, &[], Some(SVC_SECRET)).await
}

/// `portcullis login --browser --dpop --save FILE` for `demo-cli`, completed by Alice;
/// returns the authorization URL the CLI printed and the saved file.
async fn browser_login(app: &TestApp, dir: &TempDir) -> (url::Url, PathBuf) {
    let file = dir.path().join("tokens.json");
    let mut child = command(
        &[
            "login",
            "--browser",
            "--no-open",
            "--dpop",
            "--issuer",
            &app.base,
            "--client-id",
            "demo-cli",
            "--scope",
            "openid offline_access read:orders",
            "--save",
            file.to_str().unwrap(),
        ],
        &[],
    )
    .spawn()
    .unwrap();
    drop(child.stdin.take());
    let authorize = format!("{}/authorize?", app.base);
    let (url, stderr) = read_stderr_until(&mut child, |line| {
        let line = line.trim();
        line.starts_with(&authorize).then(|| line.to_owned())
    })
    .await;
    let browser = Browser::new(app);
    let response = browser.get(&url).await;
    let (to, _) = browser.complete(response, ALICE, ALICE_PASSWORD).await;
    assert_eq!(browser.get(&to).await.status(), 200);
    let (status, stdout, stderr) = finish(child, stderr).await;
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("token_type: DPoP"), "{stderr}");
    (url::Url::parse(&url).unwrap(), file)
}

/// `token refresh --from FROM --save SAVE` for `demo-cli`.
async fn refresh(app: &TestApp, from: &Path, save: &Path) -> std::process::Output {
    run(
        &[
            "token",
            "refresh",
            "--issuer",
            &app.base,
            "--client-id",
            "demo-cli",
            "--from",
            from.to_str().unwrap(),
            "--save",
            save.to_str().unwrap(),
        ],
        &[],
        None,
    )
    .await
}

// --- client credentials -------------------------------------------------------------------

#[tokio::test]
async fn cli_client_credentials_with_dpop_gets_a_bound_token() {
    let app = start().await;
    let out = client_credentials(&app, &[]).await;
    let printed = json_out(&out);
    let jkt = assert_bound(&app, &printed).await;
    assert!(
        stderr_of(&out).contains(&format!(
            "token_type: DPoP (bound to the key with thumbprint {jkt})"
        )),
        "{}",
        stderr_of(&out)
    );

    // --save: the key is kept with the token, in a 0600 file.
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("svc.json");
    let out = client_credentials(&app, &["--save", file.to_str().unwrap()]).await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(mode_of(&file), 0o600);
    let saved = read_json(&file);
    let saved_jkt = assert_bound(&app, &saved).await;
    assert_ne!(saved_jkt, jkt, "a fresh key for each --dpop request");

    // `token inspect` shows the binding.
    let out = run(
        &["token", "inspect", "-", "--issuer", &app.base],
        &[],
        Some(saved["access_token"].as_str().unwrap()),
    )
    .await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out)
            .lines()
            .any(|l| l == format!("bound to a DPoP key (RFC 9449): cnf.jkt {saved_jkt}")),
        "{}",
        stdout_of(&out)
    );
}

#[tokio::test]
async fn cli_dpop_nonce_is_used_after_use_dpop_nonce() {
    let app = start_with_nonces().await;
    // A proof without a nonce is refused with use_dpop_nonce (§8)…
    let key = DpopKey::generate().unwrap();
    let proof = key.proof("POST", &app.url("/token"), None, None).unwrap();
    let r = app
        .http
        .post(app.url("/token"))
        .basic_auth("svc", Some(SVC_SECRET))
        .header("DPoP", proof)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().contains_key("dpop-nonce"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "use_dpop_nonce");

    // …and the CLI retries with the server's nonce and gets its token.
    let out = client_credentials(&app, &[]).await;
    let printed = json_out(&out);
    assert_bound(&app, &printed).await;
}

// --- login --------------------------------------------------------------------------------

#[tokio::test]
async fn cli_device_login_with_dpop_saves_a_bound_token_and_its_key() {
    let app = start_with_nonces().await;
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("tokens.json");
    let (child, user_code, stderr, ticker) =
        start_device_login_with(&app, &["--dpop", "--save", file.to_str().unwrap()]).await;
    decide_device(&app, &user_code, true).await;
    let (status, stdout, stderr) = finish(child, stderr).await;
    ticker.abort();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("token_type: DPoP"), "{stderr}");
    assert_eq!(mode_of(&file), 0o600);
    let saved = read_json(&file);
    assert_bound(&app, &saved).await;
    assert!(saved["id_token"].is_string(), "{saved}");
}

#[tokio::test]
async fn cli_browser_login_with_dpop_sends_dpop_jkt() {
    let app = start().await;
    let dir = TempDir::new().unwrap();
    let (url, file) = browser_login(&app, &dir).await;
    let saved = read_json(&file);
    let jkt = assert_bound(&app, &saved).await;
    let dpop_jkt = url
        .query_pairs()
        .find(|(k, _)| k == "dpop_jkt")
        .map(|(_, v)| v.into_owned());
    assert_eq!(dpop_jkt.as_deref(), Some(jkt.as_str()), "RFC 9449 §10");
    assert_eq!(mode_of(&file), 0o600);
}

// --- refresh ------------------------------------------------------------------------------

#[tokio::test]
async fn cli_token_refresh_with_dpop_reuses_the_saved_key() {
    let app = start().await;
    let dir = TempDir::new().unwrap();
    let (_, file) = browser_login(&app, &dir).await;
    let first = read_json(&file);
    let jkt = assert_bound(&app, &first).await;

    let out = refresh(&app, &file, &file).await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    let second = read_json(&file);
    assert_eq!(assert_bound(&app, &second).await, jkt, "the same key");
    assert_eq!(second["dpop_key"], first["dpop_key"]);
    assert_ne!(second["refresh_token"], first["refresh_token"], "rotated");
    assert_eq!(mode_of(&file), 0o600);

    // The public client's refresh token is bound to that key (RFC 9449 §5): the same
    // file with another key is refused by the server.
    let mut other = second.clone();
    let stranger = DpopKey::generate().unwrap();
    other["dpop_key"] = Value::String(URL_SAFE_NO_PAD.encode(stranger.to_pkcs8_der()));
    let forged = dir.path().join("forged.json");
    std::fs::write(&forged, serde_json::to_vec(&other).unwrap()).unwrap();
    std::fs::set_permissions(&forged, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = refresh(&app, &forged, &dir.path().join("out.json")).await;
    assert_one_line_error(&out, 1, "invalid_grant");

    // The right key still works (the refused attempt did not use the token up).
    let out = refresh(&app, &file, &file).await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(assert_bound(&app, &read_json(&file)).await, jkt);
}

#[tokio::test]
async fn cli_token_refresh_with_dpop_follows_the_nonce() {
    let app = start_with_nonces().await;
    let dir = TempDir::new().unwrap();
    let (_, file) = browser_login(&app, &dir).await;
    let jkt = assert_bound(&app, &read_json(&file)).await;
    let out = refresh(&app, &file, &file).await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(assert_bound(&app, &read_json(&file)).await, jkt);
}

#[tokio::test]
async fn rejects_refresh_of_a_dpop_token_file_without_its_key() {
    let app = start().await;
    let dir = TempDir::new().unwrap();
    let (_, file) = browser_login(&app, &dir).await;
    let mut saved = read_json(&file);
    saved.as_object_mut().unwrap().remove("dpop_key");
    let keyless = dir.path().join("keyless.json");
    std::fs::write(&keyless, serde_json::to_vec(&saved).unwrap()).unwrap();
    std::fs::set_permissions(&keyless, std::fs::Permissions::from_mode(0o600)).unwrap();

    let out = refresh(&app, &keyless, &keyless).await;
    assert_one_line_error(
        &out,
        2,
        "holds a DPoP-bound token (token_type DPoP) but no `dpop_key`",
    );
    // Nothing was sent: the refresh token in the original file still works.
    let out = refresh(&app, &file, &file).await;
    assert!(out.status.success(), "{}", stderr_of(&out));
}
