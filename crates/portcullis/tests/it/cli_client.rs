//! The OAuth client of the binary (`portcullis login`, `portcullis token …`) run as a
//! child process against an in-process server: the built binary talks to the server
//! over HTTP exactly as it would to any other issuer.
//!
//! The child is a `tokio::process` child: the server runs on the test's runtime, so
//! waiting on the child must not block it.

use crate::flow::{self, ALICE, ALICE_PASSWORD, Browser, NATIVE, location};
use crate::html::{Form, html_page};
use crate::lifecycle;
use crate::support::{API, POST_SECRET, SVC_SECRET, TestApp, binary, verify_access_token};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::process::{Output, Stdio};
use std::time::Duration;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// How long a child may run before the test gives up.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);

/// The binary with `args`, a clean environment for the client's variables, and
/// `env` added; standard input, output and error are pipes.
pub(crate) fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(binary());
    command
        .args(args)
        .env_remove("PORTCULLIS_CLIENT_SECRET")
        .env_remove("PORTCULLIS_REFRESH_TOKEN")
        .env_remove("PORTCULLIS_CONFIG")
        .env_remove("PORTCULLIS_ISSUER")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs the binary to completion with `stdin` as its standard input.
pub(crate) async fn run(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut child = command(args, env).spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    tokio::time::timeout(CHILD_TIMEOUT, child.wait_with_output())
        .await
        .expect("the CLI finished in time")
        .unwrap()
}

pub(crate) fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub(crate) fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts exit status 0 and returns standard output as JSON.
pub(crate) fn json_out(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stderr_of(out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Asserts a failure reported as exactly one `error: …` line on standard error
/// containing `needle`, with `code` as the exit status and nothing on standard output.
pub(crate) fn assert_one_line_error(out: &Output, code: i32, needle: &str) {
    let stderr = stderr_of(out);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(needle), "{needle} in {stderr}");
    assert!(out.stdout.is_empty(), "{}", stdout_of(out));
}

/// The last line of standard output (the verdict of `token inspect`).
fn last_line(out: &Output) -> String {
    stdout_of(out).lines().last().unwrap_or_default().to_owned()
}

pub(crate) fn mode_of(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// --- token client-credentials -------------------------------------------------------------

#[tokio::test]
async fn cli_client_credentials_takes_the_issuer_from_portcullis_issuer() {
    let app = TestApp::start().await;
    let args = [
        "token",
        "client-credentials",
        "--client-id",
        "svc",
        "--client-secret-stdin",
        "--scope",
        "read:orders",
        "--resource",
        API,
    ];
    let env = [("PORTCULLIS_ISSUER", app.base.as_str())];
    let out = run(&args, &env, Some(&format!("{SVC_SECRET}\n"))).await;
    let token = json_out(&out);
    assert_eq!(token["scope"], "read:orders");
}

#[tokio::test]
async fn cli_client_credentials_prints_token() {
    let app = TestApp::start().await;
    let args = [
        "token",
        "client-credentials",
        "--issuer",
        &app.base,
        "--client-id",
        "svc",
        "--client-secret-stdin",
        "--scope",
        "read:orders",
        "--resource",
        API,
    ];
    let out = run(&args, &[], Some(&format!("{SVC_SECRET}\n"))).await;
    let token = json_out(&out);
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["scope"], "read:orders");
    let claims = verify_access_token(
        token["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        API,
    );
    assert_eq!(claims["client_id"], "svc");
    assert!(!stderr_of(&out).contains(SVC_SECRET));

    // --save: a 0600 file with the same kind of response, nothing on standard output.
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("svc-token.json");
    let mut saving = args.to_vec();
    saving.extend(["--save", file.to_str().unwrap()]);
    let out = run(&saving, &[], Some(SVC_SECRET)).await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(out.stdout.is_empty(), "{}", stdout_of(&out));
    assert_eq!(mode_of(&file), 0o600);
    let saved: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(saved["token_type"], "Bearer");
    verify_access_token(
        saved["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        API,
    );
}

#[tokio::test]
async fn cli_client_credentials_reads_secret_from_env() {
    let app = TestApp::start().await;
    let out = run(
        &[
            "token",
            "client-credentials",
            "--issuer",
            &app.base,
            "--client-id",
            "post-svc",
            "--auth-method",
            "client_secret_post",
        ],
        &[("PORTCULLIS_CLIENT_SECRET", POST_SECRET)],
        None,
    )
    .await;
    let token = json_out(&out);
    verify_access_token(
        token["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        API,
    );

    // Without a secret anywhere: a usage error that says where a secret comes from.
    let out = run(
        &[
            "token",
            "client-credentials",
            "--issuer",
            &app.base,
            "--client-id",
            "svc",
        ],
        &[],
        None,
    )
    .await;
    assert_one_line_error(&out, 2, "PORTCULLIS_CLIENT_SECRET");
}

#[tokio::test]
async fn cli_client_credentials_bad_secret_exits_nonzero_with_one_line() {
    let app = TestApp::start().await;
    let wrong = "not-the-secret-0123456789abcdefghijklmn";
    let out = run(
        &[
            "token",
            "client-credentials",
            "--issuer",
            &app.base,
            "--client-id",
            "svc",
            "--client-secret-stdin",
        ],
        &[],
        Some(wrong),
    )
    .await;
    assert_one_line_error(&out, 1, "invalid_client");
    assert!(!stderr_of(&out).contains(wrong), "never echo a secret");
}

#[tokio::test]
async fn cli_refuses_http_non_loopback_issuer() {
    // No server: the issuer is refused before any request.
    for args in [
        vec![
            "token",
            "client-credentials",
            "--issuer",
            "http://auth.example.com",
            "--client-id",
            "svc",
        ],
        vec![
            "login",
            "--issuer",
            "http://auth.example.com",
            "--client-id",
            "demo-cli",
        ],
        vec![
            "token",
            "inspect",
            "--issuer",
            "http://auth.example.com",
            "eyJhbGciOiJFUzI1NiJ9.e30.c2ln",
        ],
    ] {
        let out = run(&args, &[("PORTCULLIS_CLIENT_SECRET", SVC_SECRET)], None).await;
        assert_one_line_error(&out, 2, "must use https");
    }
}

#[tokio::test]
async fn cli_refuses_a_different_issuer_in_the_metadata() {
    let app = TestApp::start().await;
    // The server's issuer has no trailing slash: RFC 8414 §3.3 wants an exact match.
    let out = run(
        &[
            "token",
            "client-credentials",
            "--issuer",
            &format!("{}/", app.base),
            "--client-id",
            "svc",
            "--client-secret-stdin",
        ],
        &[],
        Some(SVC_SECRET),
    )
    .await;
    assert_one_line_error(&out, 1, "RFC 8414 §3.3");
}

// --- token inspect -------------------------------------------------------------------------

#[tokio::test]
async fn cli_token_inspect_valid() {
    let app = TestApp::start().await;
    let token = app.svc_token().await;

    let out = run(
        &["token", "inspect", "--issuer", &app.base, "-"],
        &[],
        Some(&format!("{token}\n")),
    )
    .await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    let stdout = stdout_of(&out);
    assert_eq!(last_line(&out), "valid", "{stdout}");
    assert!(stdout.contains("\"typ\": \"at+jwt\""), "{stdout}");
    assert!(stdout.contains("\"client_id\": \"svc\""), "{stdout}");
    assert!(stdout.contains("kind: access token (RFC 9068"), "{stdout}");
    assert!(stdout.contains(&format!("audience: {API}")), "{stdout}");
    assert!(stdout.contains("scope: "), "{stdout}");
    assert!(stdout.contains("\nexpires in "), "{stdout}");
    assert!(
        !stdout.contains("taken from the unverified token"),
        "{stdout}"
    );

    let out = run(
        &["token", "inspect", "--issuer", &app.base, &token],
        &[],
        None,
    )
    .await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(last_line(&out), "valid");
}

#[tokio::test]
async fn cli_token_inspect_refuses_a_plain_http_issuer_named_by_the_token() {
    // Without --issuer the issuer is the token's own `iss`; a token must not point the
    // client at plain http (here the loopback test server): https is required then.
    let app = TestApp::start().await;
    let token = app.svc_token().await;
    let out = run(&["token", "inspect", "-"], &[], Some(&token)).await;
    assert_one_line_error(&out, 2, "not https");
    assert!(stderr_of(&out).contains("--issuer"), "{}", stderr_of(&out));
}

#[tokio::test]
async fn cli_token_inspect_expired() {
    let app = TestApp::start().await;
    // Minted an hour ago (the server's clock set back), with a 900 s lifetime; the CLI
    // reads the real clock.
    app.clock.advance(-3600);
    let token = app.svc_token().await;
    app.clock.advance(3600);

    let out = run(
        &["token", "inspect", "--issuer", &app.base, "-"],
        &[],
        Some(&token),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let verdict = last_line(&out);
    assert!(verdict.starts_with("expired at "), "{verdict}");
    assert!(verdict.ends_with(" s ago)"), "{verdict}");
    let ago: i64 = verdict
        .rsplit_once('(')
        .unwrap()
        .1
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((2690..2800).contains(&ago), "{verdict}");
    assert!(stderr_of(&out).contains("not valid"), "{}", stderr_of(&out));
}

#[tokio::test]
async fn cli_token_inspect_tampered() {
    let app = TestApp::start().await;
    let token = app.svc_token().await;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["scope"] = Value::String("write:orders".into());
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap()),
        parts[2]
    );

    let out = run(
        &["token", "inspect", "--issuer", &app.base, "-"],
        &[],
        Some(&forged),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert_eq!(last_line(&out), "signature invalid");
    assert!(stdout_of(&out).contains("claims (NOT verified):"));

    // A key the issuer does not publish.
    let header = r#"{"alg":"ES256","typ":"at+jwt","kid":"no-such-key"}"#;
    let unknown = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        parts[1],
        parts[2]
    );
    let out = run(
        &["token", "inspect", "--issuer", &app.base, "-"],
        &[],
        Some(&unknown),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        last_line(&out).starts_with("unknown key"),
        "{}",
        stdout_of(&out)
    );
}

// --- token refresh -------------------------------------------------------------------------

#[tokio::test]
async fn cli_token_refresh_rotates() {
    let app = lifecycle::start().await;
    let first = lifecycle::native_tokens(&app, "openid offline_access read:orders").await;
    let rt0 = lifecycle::refresh_token_of(&first);
    let dir = TempDir::new().unwrap();
    let file = dir.path().join("tokens.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&first).unwrap()).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = file.to_str().unwrap();

    let out = run(
        &[
            "token",
            "refresh",
            "--issuer",
            &app.base,
            "--client-id",
            NATIVE,
            "--from",
            path,
            "--save",
            path,
        ],
        &[],
        None,
    )
    .await;
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(out.stdout.is_empty(), "{}", stdout_of(&out));
    assert!(!stderr_of(&out).contains(&rt0));
    let saved: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let rt1 = lifecycle::refresh_token_of(&saved);
    assert_ne!(rt1, rt0, "the file holds the rotated refresh token");
    assert_ne!(saved["access_token"], first["access_token"]);
    assert_eq!(mode_of(&file), 0o600);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary file left behind"
    );

    // The old token is used up (rotation); the saved one works, from the environment too.
    let out = run(
        &[
            "token",
            "refresh",
            "--issuer",
            &app.base,
            "--client-id",
            NATIVE,
        ],
        &[("PORTCULLIS_REFRESH_TOKEN", &rt1)],
        None,
    )
    .await;
    let third = json_out(&out);
    assert_ne!(lifecycle::refresh_token_of(&third), rt1);
    let out = run(
        &[
            "token",
            "refresh",
            "--issuer",
            &app.base,
            "--client-id",
            NATIVE,
            "--refresh-token-stdin",
        ],
        &[],
        Some(&rt0),
    )
    .await;
    assert_one_line_error(&out, 1, "invalid_grant");
}

// --- login: device flow -----------------------------------------------------------------------

/// A public CLI client with the device grant, and Alice.
const DEVICE_CONFIG: &str = r#"
[tokens]
access_token_ttl = 900
device_poll_interval = 1
session_ttl = 3600

[[users]]
username = "alice"
password = "alice-password-1"

[[clients]]
client_id = "demo-cli"
client_name = "Demo CLI"
token_endpoint_auth_method = "none"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
scopes = ["openid", "profile", "offline_access", "read:orders"]
audiences = ["https://api.example.com"]
"#;

/// Reads the child's standard error line by line until `find` returns something;
/// the rest of standard error is collected in the background.
pub(crate) async fn read_stderr_until(
    child: &mut Child,
    find: impl Fn(&str) -> Option<String>,
) -> (String, tokio::task::JoinHandle<String>) {
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut seen = String::new();
    let found = tokio::time::timeout(CHILD_TIMEOUT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            seen.push_str(&line);
            seen.push('\n');
            if let Some(found) = find(&line) {
                return found;
            }
        }
        panic!("the CLI ended without it: {seen}");
    })
    .await
    .expect("the CLI printed it in time");
    let rest = tokio::spawn(async move {
        let mut rest = seen;
        while let Ok(Some(line)) = lines.next_line().await {
            rest.push_str(&line);
            rest.push('\n');
        }
        rest
    });
    (found, rest)
}

/// Waits for the child; returns its exit status, standard output and standard error.
pub(crate) async fn finish(
    mut child: Child,
    stderr: tokio::task::JoinHandle<String>,
) -> (std::process::ExitStatus, String, String) {
    let mut stdout = child.stdout.take().unwrap();
    let status = tokio::time::timeout(CHILD_TIMEOUT, child.wait())
        .await
        .expect("the CLI finished in time")
        .unwrap();
    let mut out = String::new();
    stdout.read_to_string(&mut out).await.unwrap();
    (status, out, stderr.await.unwrap())
}

/// The person: opens `/device`, types `user_code`, signs in as Alice, and approves
/// (or denies).
pub(crate) async fn decide_device(app: &TestApp, user_code: &str, approve: bool) {
    let browser = Browser::new(app);
    let page = html_page(browser.get("/device").await, 200).await;
    let form = Form::find(&page, "/device").expect("a form posting to /device");
    let mut fields = form.hidden.clone();
    fields.push(("user_code".into(), user_code.into()));
    let mut r = browser.post_form("/device", &fields).await;
    assert_eq!(r.status(), 303, "a right code goes on");
    if location(&r).starts_with("/login?") {
        let page = browser.page(r).await;
        r = browser.login(&page, ALICE, ALICE_PASSWORD).await;
    }
    assert!(location(&r).starts_with("/consent?"), "{}", location(&r));
    let page = browser.page(r).await;
    let done = if approve {
        browser.approve(&page).await
    } else {
        browser.deny(&page).await
    };
    assert_eq!(done.status(), 200);
}

/// Starts `portcullis login` (device flow) for `demo-cli` with the server's clock
/// following real time (a little faster), so that polls one real second apart are not
/// answered `slow_down`; returns the child, the user code it shows, the rest of its
/// standard error, and the clock ticker.
async fn start_device_login(
    app: &TestApp,
) -> (
    Child,
    String,
    tokio::task::JoinHandle<String>,
    tokio::task::JoinHandle<()>,
) {
    start_device_login_with(app, &[]).await
}

/// [`start_device_login`] with `extra` arguments.
pub(crate) async fn start_device_login_with(
    app: &TestApp,
    extra: &[&str],
) -> (
    Child,
    String,
    tokio::task::JoinHandle<String>,
    tokio::task::JoinHandle<()>,
) {
    let clock = app.clock.clone();
    let ticker = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            clock.advance(1);
        }
    });
    let mut args = vec![
        "login",
        "--issuer",
        &app.base,
        "--client-id",
        "demo-cli",
        "--scope",
        "openid read:orders",
    ];
    args.extend_from_slice(extra);
    let mut child = command(&args, &[]).spawn().unwrap();
    drop(child.stdin.take());
    let (user_code, stderr) = read_stderr_until(&mut child, |line| {
        line.split_once("enter the code:")
            .map(|(_, code)| code.trim().to_owned())
    })
    .await;
    assert_eq!(user_code.len(), 9, "XXXX-XXXX: {user_code}");
    (child, user_code, stderr, ticker)
}

#[tokio::test]
async fn cli_device_login_completed_by_scripted_approval() {
    let app = TestApp::start_in(TempDir::new().unwrap(), DEVICE_CONFIG).await;
    let (child, user_code, stderr, ticker) = start_device_login(&app).await;

    decide_device(&app, &user_code, true).await;

    let (status, stdout, stderr) = finish(child, stderr).await;
    ticker.abort();
    assert!(status.success(), "{status:?}: {stderr}");
    assert!(
        stderr.contains(&format!("{}/device", app.base)),
        "the verification URI is shown: {stderr}"
    );
    let token: Value = serde_json::from_str(&stdout).unwrap();
    verify_access_token(
        token["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        API,
    );
    assert_eq!(token["token_type"], "Bearer");
    assert!(token["id_token"].is_string(), "{token}");
    // The one-line summary: who (the id_token's preferred_username, else sub), which
    // scopes, where the tokens went, and why there is no refresh token.
    let summary = stderr.lines().last().unwrap();
    let sub = flow::user_id(&app, ALICE).await;
    assert!(
        summary.starts_with("Signed in as alice ")
            || summary.starts_with(&format!("Signed in as {sub} ")),
        "{summary}"
    );
    assert!(
        summary.contains("with scope \"openid read:orders\""),
        "{summary}"
    );
    assert!(summary.contains("standard output"), "{summary}");
    assert!(
        summary.contains("no refresh token (ask for the offline_access scope"),
        "{summary}"
    );
}

#[tokio::test]
async fn cli_device_login_reports_a_denied_sign_in() {
    let app = TestApp::start_in(TempDir::new().unwrap(), DEVICE_CONFIG).await;
    let (child, user_code, stderr, ticker) = start_device_login(&app).await;

    decide_device(&app, &user_code, false).await;

    let (status, stdout, stderr) = finish(child, stderr).await;
    ticker.abort();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with("error: the sign-in was denied (access_denied"),
        "{stderr}"
    );
}

// --- login: browser + loopback redirect ----------------------------------------------------

#[tokio::test]
async fn cli_browser_login_with_loopback_redirect() {
    let app = flow::start().await;
    let mut child = command(
        &[
            "login",
            "--browser",
            "--no-open",
            "--issuer",
            &app.base,
            "--client-id",
            NATIVE,
            "--scope",
            "openid profile",
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
    let request = url::Url::parse(&url).unwrap();
    let param = |name: &str| {
        request
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert!(param("nonce").is_some(), "openid requests carry a nonce");
    let redirect_uri = param("redirect_uri").unwrap();
    assert!(
        redirect_uri.starts_with("http://127.0.0.1:") && redirect_uri.ends_with("/callback"),
        "{redirect_uri}"
    );

    let browser = Browser::new(&app);
    let response = browser.get(&url).await;
    let (to, shown) = browser.complete(response, ALICE, ALICE_PASSWORD).await;
    assert_eq!(shown, ["login", "consent"]);
    assert!(to.starts_with(&redirect_uri), "{to}");

    // A forged response (wrong state) is refused and does not end the wait.
    let forged = format!("{redirect_uri}?code=forged&state=wrong");
    let r = browser.get(&forged).await;
    assert_eq!(r.status(), 400);

    let r = browser.get(&to).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("You can close this window")
    );

    let (status, stdout, stderr) = finish(child, stderr).await;
    assert!(status.success(), "{status:?}: {stderr}");
    let token: Value = serde_json::from_str(&stdout).unwrap();
    verify_access_token(
        token["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        API,
    );
    assert!(token["id_token"].is_string(), "{token}");
}

#[tokio::test]
async fn cli_browser_login_reports_a_denied_sign_in() {
    let app = flow::start().await;
    let mut child = command(
        &[
            "login",
            "--browser",
            "--no-open",
            "--issuer",
            &app.base,
            "--client-id",
            NATIVE,
            "--scope",
            "openid",
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
    let browser = Browser::new(&app);
    let r = browser.get(&url).await;
    let page = browser.page(r).await;
    let r = browser.login(&page, ALICE, ALICE_PASSWORD).await;
    let page = browser.page(r).await;
    let r = browser.deny(&page).await;
    let to = location(&r);
    let r = browser.get(&to).await;
    assert_eq!(r.status(), 200);

    let (status, stdout, stderr) = finish(child, stderr).await;
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with("error: ") && last.contains("access_denied"),
        "{stderr}"
    );
}
