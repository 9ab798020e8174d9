//! Issue 16 (hardening from an outside probe), items 5 and 6: small leaks and
//! input that could never work. One named test per finding; each failed before its fix.

use crate::flow::{
    self, ALICE, ALICE_PASSWORD, AuthRequest, Browser, CODE_TTL, NATIVE, NATIVE_REDIRECT,
    WEB_REDIRECT, location, pkce, redeem_web, redirect_params, token_ok, userinfo,
};
use portcullis_core::clock::Clock;
use serde_json::{Value, json};

/// What `/token` answers for a code that was never issued.
const UNKNOWN_CODE: &str = "the authorization code is invalid";

/// Alice signs in for `web` (PKCE); returns (code, verifier).
async fn web_code(app: &crate::support::TestApp) -> (String, String) {
    let (challenge, verifier) = pkce();
    let (code, _) = Browser::new(app)
        .code(&AuthRequest::web(&challenge), ALICE, ALICE_PASSWORD)
        .await;
    (code, verifier)
}

/// `web`'s code presented by `native` (a public client, so no secret is needed).
async fn redeem_as_native(app: &crate::support::TestApp, code: &str, verifier: &str) -> Value {
    let r = app
        .post_token(
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", NATIVE_REDIRECT),
                ("code_verifier", verifier),
                ("client_id", NATIVE),
            ],
            None,
        )
        .await;
    assert_eq!(r.status(), 400);
    r.json().await.unwrap()
}

/// Issue 16 item 5: another client's code — live, used or expired — gets exactly the
/// answer of a code that was never issued (no liveness oracle for a stolen code), and
/// its replay by another client revokes nothing of the owner's.
#[tokio::test]
async fn rejects_another_clients_code_like_an_unknown_code() {
    let app = flow::start().await;
    let generic = json!({"error": "invalid_grant", "error_description": UNKNOWN_CODE});
    let (_, never_issued) = pkce();
    let unknown = redeem_as_native(&app, &never_issued, "x".repeat(43).as_str()).await;
    assert_eq!(unknown, generic);

    let (code, verifier) = web_code(&app).await;
    assert_eq!(
        redeem_as_native(&app, &code, &verifier).await,
        generic,
        "live"
    );

    let tokens = token_ok(redeem_web(&app, &code, Some(&verifier)).await).await;
    let access_token = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        redeem_as_native(&app, &code, &verifier).await,
        generic,
        "used"
    );
    assert_eq!(
        userinfo(&app, access_token).await.status(),
        200,
        "another client's replay revoked the owner's tokens"
    );

    let (expiring, verifier) = web_code(&app).await;
    app.clock.advance(CODE_TTL);
    assert_eq!(
        redeem_as_native(&app, &expiring, &verifier).await,
        generic,
        "expired"
    );
}

/// Issue 16 item 6: `portcullis token inspect … | head -1` panicked with "Broken
/// pipe" and exit 101. With standard output closed before it writes, the command now
/// ends quietly with status 0.
#[tokio::test]
async fn a_closed_stdout_pipe_ends_token_inspect_quietly() {
    let app = crate::support::TestApp::start().await;
    let token = app.svc_token().await;
    let mut child =
        crate::cli_client::command(&["token", "inspect", "--issuer", &app.base, &token], &[])
            .spawn()
            .unwrap();
    // The reader goes away before the command writes anything (as `head` does after
    // its first line).
    drop(child.stdout.take());
    drop(child.stdin.take());
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

/// Sends a GET of the discovery document with one `X-Filler` header of `size` bytes
/// and returns the status line of the answer, or `None` if the connection closed
/// without one.
async fn status_with_header_of(app: &crate::support::TestApp, size: usize) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "GET /.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(size)
    );
    // The server may answer and close before it has read everything: write aside,
    // and ignore a reset.
    let writer = tokio::spawn(async move {
        let _ = write.write_all(head.as_bytes()).await;
        write
    });
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        read.read_to_end(&mut answer),
    )
    .await
    .unwrap();
    drop(writer.await);
    let text = String::from_utf8_lossy(&answer).into_owned();
    text.lines().next().map(str::to_owned)
}

/// Issue 16 item 5: a 500 KB request header was accepted. A request head over 16 KiB
/// is answered 431 Request Header Fields Too Large (RFC 6585 §5); one of 8 KiB still
/// works.
#[tokio::test]
async fn rejects_a_request_head_over_16_kib_with_431() {
    let app = crate::support::TestApp::start().await;
    assert_eq!(
        status_with_header_of(&app, 8 * 1024).await.as_deref(),
        Some("HTTP/1.1 200 OK")
    );
    assert_eq!(
        status_with_header_of(&app, 17 * 1024).await.as_deref(),
        Some("HTTP/1.1 431 Request Header Fields Too Large")
    );
    let huge = status_with_header_of(&app, 500 * 1024).await;
    assert!(
        huge.as_deref()
            .is_none_or(|line| line == "HTTP/1.1 431 Request Header Fields Too Large"),
        "{huge:?}"
    );
}

/// The error parameters of a 303 to [`WEB_REDIRECT`].
fn web_error(response: &reqwest::Response) -> std::collections::BTreeMap<String, String> {
    assert_eq!(response.status(), 303, "a redirect to the client");
    redirect_params(&location(response), WEB_REDIRECT)
}

/// Issue 16 item 5: a refused `state` (here 3,000 bytes; the probe sent 60 KB) was
/// echoed whole in the error redirect. It is refused with `invalid_request` and not
/// returned.
#[tokio::test]
async fn rejects_a_state_over_2_kib_without_echoing_it() {
    let app = flow::start().await;
    let (challenge, _) = pkce();
    let long = "s".repeat(3000);
    let r = Browser::new(&app)
        .authorize(&AuthRequest::web(&challenge).set("state", &long))
        .await;
    let params = web_error(&r);
    assert_eq!(params["error"], "invalid_request", "{params:?}");
    assert_eq!(
        params["error_description"],
        "state is longer than 2048 bytes"
    );
    assert!(!params.contains_key("state"), "{params:?}");
    assert!(location(&r).len() < 1000, "{}", location(&r));

    // A 2048-byte state is kept, and comes back.
    let (challenge, _) = pkce();
    let fits = "s".repeat(2048);
    let r = Browser::new(&app)
        .authorize(
            &AuthRequest::web(&challenge)
                .set("state", &fits)
                .set("prompt", "none"),
        )
        .await;
    assert_eq!(web_error(&r)["state"], fits);
}

/// Issue 16 item 5: a `state` whose octets are not UTF-8 became U+FFFD (so the client
/// got back another value than it sent). It is refused with `invalid_request` and
/// not returned, at GET and at POST (whose 303 to GET keeps every octet).
#[tokio::test]
async fn rejects_a_state_that_is_not_utf8_without_echoing_it() {
    let app = flow::start().await;
    let (challenge, _) = pkce();
    let query = format!(
        "{}&state=%FFab%FE",
        AuthRequest::web(&challenge).remove("state").encoded()
    );
    let browser = Browser::new(&app);
    let r = browser.get(&format!("/authorize?{query}")).await;
    let params = web_error(&r);
    assert_eq!(params["error"], "invalid_request", "{params:?}");
    assert_eq!(
        params["error_description"],
        "parameter `state` is not UTF-8 (RFC 6749 appendix B)"
    );
    assert!(!params.contains_key("state"), "{params:?}");

    let r = browser
        .http
        .post(app.url("/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        location(&r).ends_with("&state=%FFab%FE"),
        "{}",
        location(&r)
    );
}

/// Issue 16 follow-up: 2 KiB of control characters in `state` (each escaped to six
/// bytes in the sealed request) made the login page's URL longer than the 16 KiB
/// request-head limit, so the browser got a 431 after the redirect. RFC 6749 A.5
/// (`state` is VSCHAR): refused with `invalid_request`, and not echoed.
#[tokio::test]
async fn rejects_a_state_with_control_characters_without_echoing_it() {
    let app = flow::start().await;
    let (challenge, _) = pkce();
    let controls = "\u{1}".repeat(2048);
    let r = Browser::new(&app)
        .authorize(&AuthRequest::web(&challenge).set("state", &controls))
        .await;
    let params = web_error(&r);
    assert_eq!(params["error"], "invalid_request", "{params:?}");
    assert_eq!(
        params["error_description"],
        "state contains a control character (RFC 6749 appendix A.5: state is VSCHAR)"
    );
    assert!(!params.contains_key("state"), "{params:?}");
}

/// Issue 16 follow-up: a request as large as validation lets through (2 KiB `state`
/// and a 255-character `login_hint` of characters JSON escapes, a 2 KiB `nonce`; the
/// whole request URL must itself fit the 16 KiB head) reaches a login page the
/// browser can open, and signs in.
#[tokio::test]
async fn the_largest_valid_request_reaches_a_login_page_that_opens() {
    let app = flow::start().await;
    let (challenge, verifier) = pkce();
    let state = "\"\\".repeat(1024);
    let request = AuthRequest::web(&challenge)
        .set("scope", "openid")
        .set("state", &state)
        .set("nonce", &"n".repeat(2048))
        .set("login_hint", &"\"".repeat(255));
    let browser = Browser::new(&app);
    let r = browser.authorize(&request).await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(to.starts_with("/login?request="), "{to}");
    assert!(to.len() < 13 * 1024, "the login URL is {} bytes", to.len());
    let login = browser.page(r).await;
    let r = browser.login(&login, ALICE, ALICE_PASSWORD).await;
    let consent = browser.page(r).await;
    let r = browser.approve(&consent).await;
    let params = redirect_params(&location(&r), WEB_REDIRECT);
    assert_eq!(params["state"], state);
    token_ok(redeem_web(&app, &params["code"], Some(&verifier)).await).await;
}

/// RFC 6749 §4.1.2: `state` comes back as the exact value received, whatever
/// characters it has.
#[tokio::test]
async fn returns_state_exactly() {
    let app = flow::start().await;
    let (challenge, _) = pkce();
    let state = "é a+b&c=%25/?\u{FFFD}#~";
    let r = Browser::new(&app)
        .authorize(
            &AuthRequest::web(&challenge)
                .set("state", state)
                .set("prompt", "none"),
        )
        .await;
    assert_eq!(web_error(&r)["state"], state);
}

/// `claims` signed by the server's own active ES256 key, under the header `extra` plus
/// `typ: at+jwt` (and the key's `alg` and `kid`).
fn signed_by_the_server(
    app: &crate::support::TestApp,
    extra: serde_json::Value,
    claims: &Value,
) -> String {
    let mut header = extra.as_object().unwrap().clone();
    header.insert("typ".into(), json!("at+jwt"));
    let keys = app.app.state().keys();
    let now = app.clock.now();
    keys.ring
        .signer(portcullis_core::keys::SigningAlgorithm::Es256, now)
        .unwrap()
        .sign_jwt_with_header(header, claims)
        .unwrap()
}

fn payload_of(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The owner's introspection answer for `token` (RFC 7662).
async fn introspected(app: &crate::support::TestApp, token: &str) -> Value {
    let r = app
        .http
        .post(app.url("/introspect"))
        .basic_auth(crate::flow::WEB, Some(crate::support::WEB_SECRET))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Issue 16 item 5: the server's own JWT checks at userinfo and introspection ignored
/// `crit`, a future `nbf` and a future `iat`, which `portcullis-resource` refuses. They
/// now run the same code: each such token, signed with the server's own key, is
/// refused at userinfo (401 `invalid_token`) and inactive at introspection.
#[tokio::test]
async fn rejects_own_tokens_with_crit_or_future_nbf_or_iat_like_an_api() {
    let app = flow::start().await;
    let (code, verifier) = web_code(&app).await;
    let tokens = token_ok(redeem_web(&app, &code, Some(&verifier)).await).await;
    let claims = payload_of(tokens["access_token"].as_str().unwrap());
    let now = app.clock.now();

    // The same claims re-signed with a plain header pass: the test signs correctly.
    let plain = signed_by_the_server(&app, json!({}), &claims);
    assert_eq!(userinfo(&app, &plain).await.status(), 200);
    assert_eq!(introspected(&app, &plain).await["active"], true);

    let mut future_nbf = claims.clone();
    future_nbf["nbf"] = json!(now + 3600);
    let mut future_iat = claims.clone();
    future_iat["iat"] = json!(now + 3600);
    let cases = [
        (
            "crit",
            signed_by_the_server(&app, json!({"crit": ["exp"], "exp": now + 60}), &claims),
        ),
        ("nbf", signed_by_the_server(&app, json!({}), &future_nbf)),
        ("iat", signed_by_the_server(&app, json!({}), &future_iat)),
    ];
    for (what, token) in cases {
        let r = userinfo(&app, &token).await;
        assert_eq!(r.status(), 401, "{what}");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{what}: {challenge}"
        );
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token", "{what}");
        assert_eq!(
            introspected(&app, &token).await,
            json!({"active": false}),
            "{what}"
        );
    }
}

/// Issue 16 item 6: `Demo` and `demo` were two users. Now they are one username, so a
/// database that holds both (made before the change) makes `serve` refuse to start,
/// naming them, rather than merge two people's accounts.
#[tokio::test]
async fn refuses_to_start_while_two_usernames_differ_only_in_case() {
    use sqlx::Connection;
    let app = crate::support::TestApp::start().await;
    let db = app.database_url();
    let dir = app.stop().await;
    let mut conn = sqlx::SqliteConnection::connect(&db).await.unwrap();
    for (id, name) in [("0190-a", "Demo"), ("0190-b", "demo")] {
        sqlx::query(
            "INSERT INTO users (user_id, username, password_hash, claims, source, created_at, updated_at) \
             VALUES ($1, $2, 'x', '{}', 'admin', 0, 0)",
        )
        .bind(id)
        .bind(name)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    drop(conn);
    let config = crate::support::config_for(
        dir.path(),
        "http://127.0.0.1:9",
        crate::support::BASE_CONFIG,
        &db,
    );
    let clock = std::sync::Arc::new(portcullis_core::clock::SystemClock);
    let Err(e) = portcullis_server::App::start(config, clock).await else {
        panic!("serve started with two usernames that differ only in case");
    };
    let message = e.to_string();
    assert!(
        message.contains("these are the same username: `Demo` and `demo`"),
        "{message}"
    );
}
