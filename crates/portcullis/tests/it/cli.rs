//! The admin CLI against the same database as a running server.

use crate::support::{API, BASE_CONFIG, SVC_SECRET, TestApp, binary, verify_access_token};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Output, Stdio};

pub(crate) fn cli(app: &TestApp, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(binary())
        .args(args)
        .env("PORTCULLIS_DATABASE_URL", app.database_url())
        .env("PORTCULLIS_LISTEN", app.base.trim_start_matches("http://"))
        .env_remove("PORTCULLIS_ISSUER")
        .env_remove("PORTCULLIS_CONFIG")
        .env_remove("PORTCULLIS_MASTER_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

pub(crate) fn json_out(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn assert_usage_error(out: &Output, needle: &str) {
    assert_eq!(
        out.status.code(),
        Some(2),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(needle), "{stderr}");
}

#[tokio::test]
async fn client_create_prints_a_secret_that_works_against_the_running_server() {
    let app = TestApp::start().await;
    let out = cli(
        &app,
        &[
            "client",
            "create",
            "--client-id",
            "reporting",
            "--grant-type",
            "client_credentials",
            "--scope",
            "read:orders",
            "--audience",
            API,
        ],
        None,
    );
    let created = json_out(&out);
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 43, "256-bit base64url");
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");

    let r = app
        .post_token(
            &[("grant_type", "client_credentials")],
            Some(("reporting", &secret)),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    verify_access_token(
        body["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        API,
    );

    let shown = json_out(&cli(&app, &["client", "show", "reporting"], None));
    assert!(
        shown.get("client_secret").is_none(),
        "show never prints a secret"
    );
    assert!(
        !String::from_utf8_lossy(&cli(&app, &["client", "list"], None).stdout).contains(&secret)
    );
    let listed = json_out(&cli(&app, &["client", "list"], None));
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["post-svc", "reporting", "svc", "web"]);

    json_out(&cli(&app, &["client", "delete", "reporting"], None));
    assert_usage_error(
        &cli(&app, &["client", "show", "reporting"], None),
        "no client `reporting`",
    );
}

#[tokio::test]
async fn client_create_takes_device_code_as_the_device_grants_short_name() {
    let app = TestApp::start().await;
    let out = cli(
        &app,
        &[
            "client",
            "create",
            "--client-id",
            "tv",
            "--public",
            "--grant-type",
            "device_code",
            "--scope",
            "openid",
        ],
        None,
    );
    let created = json_out(&out);
    assert_eq!(
        created["grant_types"],
        serde_json::json!(["urn:ietf:params:oauth:grant-type:device_code"]),
        "{created}"
    );
}

#[tokio::test]
async fn rotate_secret_keeps_the_old_one_for_the_requested_time() {
    let app = TestApp::start().await;
    let created = json_out(&cli(
        &app,
        &[
            "client",
            "create",
            "--client-id",
            "rolling",
            "--grant-type",
            "client_credentials",
            "--audience",
            API,
        ],
        None,
    ));
    let old = created["client_secret"].as_str().unwrap().to_owned();
    let out = json_out(&cli(
        &app,
        &[
            "client",
            "rotate-secret",
            "rolling",
            "--keep-old-for",
            "300",
        ],
        None,
    ));
    let new = out["client_secret"].as_str().unwrap().to_owned();
    app.app.state().clients().invalidate("rolling");
    let form = [("grant_type", "client_credentials")];
    assert_eq!(
        app.post_token(&form, Some(("rolling", &new)))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.post_token(&form, Some(("rolling", &old)))
            .await
            .status(),
        200
    );

    json_out(&cli(&app, &["client", "rotate-secret", "rolling"], None));
    app.app.state().clients().invalidate("rolling");
    assert_eq!(
        app.post_token(&form, Some(("rolling", &new)))
            .await
            .status(),
        401,
        "no grace without --keep-old-for"
    );

    // A config client's secret lives in the file: rotating it here would be undone at
    // the next start, reviving the old secret.
    assert_usage_error(
        &cli(&app, &["client", "rotate-secret", "svc"], None),
        "declared in the configuration file",
    );
    assert_eq!(
        app.post_token(&form, Some(("svc", SVC_SECRET)))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn bad_arguments_exit_2_with_one_line_and_write_nothing() {
    let app = TestApp::start().await;
    let before = json_out(&cli(&app, &["client", "list"], None));
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "client",
                "create",
                "--client-id",
                "x",
                "--grant-type",
                "password",
            ],
            "grant_types",
        ),
        (
            &[
                "client",
                "create",
                "--client-id",
                "x",
                "--grant-type",
                "client_credentials",
            ],
            "audiences",
        ),
        (
            &[
                "client",
                "create",
                "--client-id",
                "x",
                "--grant-type",
                "authorization_code",
                "--redirect-uri",
                "http://evil.example.com/cb",
            ],
            "redirect_uris",
        ),
        (
            &[
                "client",
                "create",
                "--client-id",
                "svc",
                "--grant-type",
                "client_credentials",
                "--audience",
                API,
            ],
            "client `svc` already exists",
        ),
        (
            &[
                "client",
                "create",
                "--client-id",
                "bad id",
                "--grant-type",
                "client_credentials",
                "--audience",
                API,
            ],
            "client_id",
        ),
        // Issue 16 item 6: input that could never work, refused naming the rule.
        (
            &[
                "client",
                "create",
                "--client-id",
                "x",
                "--grant-type",
                "authorization_code",
                "--redirect-uri",
                "https://*.example.com/cb",
                "--scope",
                "openid",
            ],
            "wildcards are not supported",
        ),
        (
            &[
                "client",
                "create",
                "--client-id",
                "x",
                "--grant-type",
                "authorization_code",
                "--redirect-uri",
                "https://app.example.com/cb",
            ],
            "`scopes` is empty, but every authorization_code",
        ),
        (
            &[
                "client",
                "create",
                "--client-id",
                "x",
                "--grant-type",
                "client_credentials",
                "--audience",
                API,
                "--scope",
                "openid",
            ],
            "`scopes` has `openid`, a user scope",
        ),
        (&["client", "rotate-secret", "nope"], "no client `nope`"),
        (&["client", "delete", "nope"], "no client `nope`"),
        (&["user", "delete", "nobody"], "no user `nobody`"),
        (&["client", "create", "--client-id", "x"], "--grant-type"),
        (
            &["client", "rotate-secret", "svc", "--keep-old-for", "-5"],
            "'-5'",
        ),
        (&["keys", "rotate", "--alg", "HS256"], "HS256"),
    ];
    for (args, needle) in cases {
        let out = cli(&app, args, None);
        assert_usage_error(&out, needle);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "one line for {args:?}: {stderr}"
        );
        assert!(stderr.starts_with("error: "), "{stderr}");
    }
    let help = Command::new(binary())
        .args(["client", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success(), "--help is not an error");
    assert!(String::from_utf8_lossy(&help.stdout).contains("rotate-secret"));
    assert_eq!(
        json_out(&cli(&app, &["client", "list"], None)),
        before,
        "nothing half-written"
    );
}

#[tokio::test]
async fn user_create_reads_the_password_from_stdin_and_stores_only_a_hash() {
    let app = TestApp::start().await;
    let out = cli(
        &app,
        &[
            "user",
            "create",
            "--username",
            "bob",
            "--email",
            "bob@example.com",
            "--name",
            "Bob",
            "--password-stdin",
        ],
        Some("bob's long password\n"),
    );
    let created = json_out(&out);
    assert_eq!(created["username"], "bob");
    let stored = app
        .app
        .state()
        .store()
        .user_get_by_username("bob")
        .await
        .unwrap()
        .unwrap();
    assert!(stored.password_hash.starts_with("$argon2id$"));
    assert!(portcullis_core::user::verify_password(
        &"bob's long password".to_owned().into(),
        &stored.password_hash
    ));

    assert_usage_error(
        &cli(
            &app,
            &["user", "create", "--username", "carol", "--password-stdin"],
            Some("short\n"),
        ),
        "password",
    );
    assert_usage_error(
        &cli(
            &app,
            &["user", "create", "--username", "bob", "--password-stdin"],
            Some("another long one\n"),
        ),
        "already exists",
    );
    let users = json_out(&cli(&app, &["user", "list"], None));
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bob"]);
    assert!(
        !String::from_utf8_lossy(&cli(&app, &["user", "list"], None).stdout).contains("argon2")
    );
    json_out(&cli(&app, &["user", "delete", "bob"], None));
    assert!(
        app.app
            .state()
            .store()
            .user_get_by_username("bob")
            .await
            .unwrap()
            .is_none()
    );
}

/// `(alg, status)` of every key `keys list` shows.
fn key_stages(app: &TestApp) -> Vec<(String, String)> {
    json_out(&cli(app, &["keys", "list"], None))
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["alg"].as_str().unwrap().to_owned(),
                k["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn count(stages: &[(String, String)], alg: &str, status: &str) -> usize {
    stages
        .iter()
        .filter(|(a, s)| a == alg && s == status)
        .count()
}

#[tokio::test]
async fn keys_rotate_through_the_cli_is_picked_up_by_the_server() {
    let app = TestApp::start().await;
    let before = json_out(&cli(&app, &["keys", "list"], None));
    assert_eq!(before.as_array().unwrap().len(), 2);
    let old_kid = app.svc_token().await;
    let old_kid = jsonwebtoken::decode_header(&old_kid).unwrap().kid.unwrap();
    let rotated = json_out(&cli(&app, &["keys", "rotate", "--alg", "ES256"], None));
    let new_kid = rotated[0]["new_kid"].as_str().unwrap().to_owned();
    assert_eq!(rotated[0]["status"], "next");
    let activate_at = rotated[0]["activate_at"].as_i64().unwrap();
    let stages = key_stages(&app);
    assert_eq!(count(&stages, "ES256", "next"), 1);
    assert_eq!(count(&stages, "ES256", "active"), 1);
    assert_eq!(count(&stages, "RS256", "active"), 1);
    let listed = json_out(&cli(&app, &["keys", "list"], None));
    let next = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == new_kid.as_str())
        .unwrap();
    assert_eq!(next["activate_at"].as_i64(), Some(activate_at));
    assert_eq!(next["published"], true);

    // The server publishes it at its next refresh and signs with it from activate_at.
    app.app.refresh_keys().await.unwrap();
    assert!(app.jwks().await.find(&new_kid).is_some());
    let kid_now = |token: String| jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    app.clock.set(activate_at - 1);
    assert_eq!(kid_now(app.svc_token().await), old_kid);
    app.clock.set(activate_at);
    app.app.refresh_keys().await.unwrap();
    assert_eq!(kid_now(app.svc_token().await), new_kid);
    let stages = key_stages(&app);
    assert_eq!(count(&stages, "ES256", "retired"), 1);
    assert_eq!(count(&stages, "ES256", "active"), 1);
    assert!(app.jwks().await.find(&old_kid).is_some());
    let _ = BASE_CONFIG;
}

#[tokio::test]
async fn keys_rotate_immediately_signs_at_once_and_a_pending_rotation_blocks_another() {
    let app = TestApp::start().await;
    json_out(&cli(&app, &["keys", "rotate"], None));
    let out = cli(&app, &["keys", "rotate", "--alg", "RS256"], None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a rotation of RS256 is pending") && stderr.contains("--immediately"),
        "{stderr}"
    );
    let rotated = json_out(&cli(&app, &["keys", "rotate", "--immediately"], None));
    assert_eq!(rotated.as_array().unwrap().len(), 2);
    assert_eq!(rotated[0]["status"], "active");
    let new_es = rotated[0]["new_kid"].as_str().unwrap().to_owned();
    let stages = key_stages(&app);
    assert_eq!(count(&stages, "ES256", "active"), 1);
    assert_eq!(count(&stages, "ES256", "next"), 0);
    assert_eq!(
        count(&stages, "ES256", "retired"),
        2,
        "the old and the staged key"
    );
    app.app.refresh_keys().await.unwrap();
    let token = app.svc_token().await;
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().kid.unwrap(),
        new_es
    );
}

#[tokio::test]
async fn keys_rotate_refuses_a_master_key_that_does_not_open_the_stored_keys() {
    let app = TestApp::start().await;
    let before = json_out(&cli(&app, &["keys", "list"], None));
    let (_, other) = portcullis_core::keys::MasterKey::generate().unwrap();
    let out = Command::new(binary())
        .args(["keys", "rotate"])
        .env("PORTCULLIS_DATABASE_URL", app.database_url())
        .env("PORTCULLIS_MASTER_KEY", other)
        .env_remove("PORTCULLIS_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot be decrypted"), "{stderr}");
    assert_eq!(
        json_out(&cli(&app, &["keys", "list"], None)),
        before,
        "nothing written"
    );
}

#[test]
fn admin_commands_create_no_database_or_master_key_when_pointed_at_nothing() {
    let dir = tempfile::TempDir::new().unwrap();
    for args in [&["client", "list"][..], &["keys", "rotate"][..]] {
        let out = Command::new(binary())
            .current_dir(dir.path())
            .args(args)
            .env_remove("PORTCULLIS_DATABASE_URL")
            .env_remove("PORTCULLIS_MASTER_KEY")
            .env_remove("PORTCULLIS_CONFIG")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("does not exist"), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    }
    assert!(
        !dir.path().join("portcullis-data").exists(),
        "nothing created"
    );
}

#[tokio::test]
async fn a_config_client_may_not_take_over_a_cli_client() {
    let app = TestApp::start().await;
    json_out(&cli(
        &app,
        &[
            "client",
            "create",
            "--client-id",
            "reporting",
            "--grant-type",
            "client_credentials",
            "--audience",
            API,
        ],
        None,
    ));
    let dir = app.stop().await;
    let config = format!(
        "{BASE_CONFIG}\n[[clients]]\nclient_id = \"reporting\"\nclient_secret = \"{SVC_SECRET}\"\ngrant_types = [\"client_credentials\"]\naudiences = [\"{API}\"]\n"
    );
    let db = crate::support::database_url(dir.path());
    let config = crate::support::config_for(dir.path(), "http://127.0.0.1:9", &config, &db);
    let clock = std::sync::Arc::new(portcullis_core::clock::SystemClock);
    let Err(e) = portcullis_server::App::start(config, clock).await else {
        panic!("start-up accepted a config client that clashes with a CLI client");
    };
    assert!(
        e.to_string().contains("was created with the admin CLI"),
        "{e}"
    );
}

#[tokio::test]
async fn keys_rotate_does_not_create_a_master_key_next_to_an_existing_database() {
    // The database exists but its master key is elsewhere (another working directory,
    // or the server got PORTCULLIS_MASTER_KEY): the CLI must not invent a new key.
    let app = TestApp::start().await;
    let source = app.stop().await;
    let elsewhere = tempfile::TempDir::new().unwrap();
    for file in ["portcullis.db", "portcullis.db-wal", "portcullis.db-shm"] {
        let from = source.path().join(file);
        if from.exists() {
            std::fs::copy(&from, elsewhere.path().join(file)).unwrap();
        }
    }
    let out = Command::new(binary())
        .args(["keys", "rotate"])
        .env(
            "PORTCULLIS_DATABASE_URL",
            crate::support::database_url(elsewhere.path()),
        )
        .env_remove("PORTCULLIS_MASTER_KEY")
        .env_remove("PORTCULLIS_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("master key file") && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(
        !elsewhere.path().join("master.key").exists(),
        "no key file invented"
    );
}

#[tokio::test]
async fn client_create_with_allowed_origins_lets_that_page_call_the_token_endpoint() {
    let app = TestApp::start().await;
    let created = json_out(&cli(
        &app,
        &[
            "client",
            "create",
            "--client-id",
            "browser-app",
            "--public",
            "--grant-type",
            "authorization_code",
            "--redirect-uri",
            "https://login.example.com/cb",
            "--scope",
            "openid",
            "--allowed-origin",
            "https://app.example.com",
            "--allowed-origin",
            "http://localhost:5173",
        ],
        None,
    ));
    assert_eq!(
        created["allowed_origins"],
        serde_json::json!(["https://app.example.com", "http://localhost:5173"])
    );
    assert_eq!(created["web_origins"], created["allowed_origins"]);
    // Without the option, the redirect URIs' origins are in effect.
    let listed = json_out(&cli(&app, &["client", "list"], None));
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == "browser-app")
    );

    // The running server answers that page's request with its origin (the client is
    // new to its cache: unknown ids are not cached).
    let r = app
        .http
        .post(app.url("/token"))
        .header("origin", "http://localhost:5173")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=refresh_token&refresh_token=x&client_id=browser-app")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
}

#[tokio::test]
async fn rejects_bad_allowed_origins_in_client_create_with_their_messages() {
    let app = TestApp::start().await;
    let cases = [
        (
            "https://app.example.com/",
            "ends with a slash; an origin has no path: write `https://app.example.com`",
        ),
        (
            "https://app.example.com/app",
            "has a path, query or fragment",
        ),
        ("https://*.example.com", "wildcards are not supported"),
        ("null", "`null`, the origin of sandboxed and file: pages"),
        (
            "http://app.example.com",
            "plain http is allowed only on a loopback host",
        ),
    ];
    for (origin, message) in cases {
        let out = cli(
            &app,
            &[
                "client",
                "create",
                "--client-id",
                "x",
                "--public",
                "--grant-type",
                "authorization_code",
                "--redirect-uri",
                "https://login.example.com/cb",
                "--scope",
                "openid",
                "--allowed-origin",
                origin,
            ],
            None,
        );
        assert_usage_error(&out, "client `x`: `allowed_origins` has");
        assert_usage_error(&out, message);
    }
    let listed = json_out(&cli(&app, &["client", "list"], None));
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == "x")
    );
}

#[tokio::test]
async fn client_create_with_require_pushed_authorization_requests_refuses_plain_authorize() {
    let app = TestApp::start().await;
    let created = json_out(&cli(
        &app,
        &[
            "client",
            "create",
            "--client-id",
            "par-only",
            "--public",
            "--grant-type",
            "authorization_code",
            "--redirect-uri",
            "https://par.example.com/cb",
            "--scope",
            "openid",
            "--require-pushed-authorization-requests",
        ],
        None,
    ));
    assert_eq!(created["require_pushed_authorization_requests"], true);
    // The running server refuses a plain request for it (RFC 9126 §6).
    let query = crate::flow::encode(&[
        ("response_type", "code"),
        ("client_id", "par-only"),
        ("redirect_uri", "https://par.example.com/cb"),
        ("scope", "openid"),
        ("code_challenge", &crate::flow::pkce().0),
        ("code_challenge_method", "S256"),
    ]);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http
        .get(app.url(&format!("/authorize?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let to = crate::flow::location(&r);
    let params = crate::flow::redirect_params(&to, "https://par.example.com/cb");
    assert_eq!(params["error"], "invalid_request", "{to}");
}

#[tokio::test]
async fn resource_create_list_delete_and_a_client_default_scope() {
    let app = TestApp::start_in(tempfile::TempDir::new().unwrap(), BASE_CONFIG).await;
    let mcp = "https://mcp.example.com/mcp";
    let created = json_out(&cli(
        &app,
        &[
            "resource",
            "create",
            "--identifier",
            mcp,
            "--name",
            "Example MCP server",
            "--scope",
            "tools:read",
            "--scope",
            "tools:call",
            "--default-scope",
            "tools:read",
            "--dynamic-clients",
            "--scope-description",
            "tools:read=See the list of tools",
        ],
        None,
    ));
    assert_eq!(created["identifier"], mcp);
    assert_eq!(created["default_scopes"], serde_json::json!(["tools:read"]));
    assert_eq!(created["dynamic_clients"], true);
    assert_eq!(
        created["scope_descriptions"]["tools:read"],
        "See the list of tools"
    );
    assert_eq!(created["source"], "admin");
    // Refused, naming the key; and a duplicate.
    let out = cli(
        &app,
        &[
            "resource",
            "create",
            "--identifier",
            "https://x.example",
            "--scope",
            "a",
            "--default-scope",
            "b",
        ],
        None,
    );
    assert_usage_error(&out, "`default_scopes` has `b`, which is not in `scopes`");
    let out = cli(&app, &["resource", "create", "--identifier", mcp], None);
    assert_usage_error(&out, "already exists");
    // A CLI client with a default scope, for that resource.
    let client = json_out(&cli(
        &app,
        &[
            "client",
            "create",
            "--client-id",
            "agent-svc",
            "--grant-type",
            "client_credentials",
            "--scope",
            "tools:read",
            "--default-scope",
            "tools:read",
            "--audience",
            mcp,
        ],
        None,
    ));
    assert_eq!(client["default_scopes"], serde_json::json!(["tools:read"]));
    let listed = json_out(&cli(&app, &["resource", "list"], None));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let deleted = json_out(&cli(&app, &["resource", "delete", mcp], None));
    assert_eq!(deleted["deleted"], mcp);
    let out = cli(&app, &["resource", "delete", mcp], None);
    assert_usage_error(&out, "no resource");
}

/// `portcullis backup FILE` (issue 18): a consistent copy of the running server's SQLite
/// database, mode 0600, that opens as a database with the same clients; never over an
/// existing file (exit 2, the file untouched).
#[tokio::test]
async fn backup_copies_the_running_servers_database_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::start().await;
    let _ = app.svc_token().await;
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("portcullis-backup.db");
    let out = cli(&app, &["backup", file.to_str().unwrap()], None);
    let printed = json_out(&out);
    assert_eq!(printed["backup"], file.display().to_string());
    let size = std::fs::metadata(&file).unwrap().len();
    assert_eq!(printed["bytes"], size);
    assert!(size > 0);
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the copy holds secret digests and sealed keys");
    let copy = portcullis_store::connect(
        &format!("sqlite://{}", file.display()),
        &portcullis_store::ConnectOptions {
            create_if_missing: false,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let svc = copy.client_get("svc").await.unwrap().unwrap();
    assert_eq!(svc.audiences[0], API);
    drop(copy);
    // Again to the same name: refused, the copy unchanged.
    let before = std::fs::read(&file).unwrap();
    let out = cli(&app, &["backup", file.to_str().unwrap()], None);
    assert_usage_error(&out, "already exists; a backup never overwrites a file");
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

#[test]
fn rejects_backup_of_postgres_naming_pg_dump_without_the_password() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = Command::new(binary())
        .args(["backup", dir.path().join("b.db").to_str().unwrap()])
        .env(
            "PORTCULLIS_DATABASE_URL",
            "postgres://portcullis:s3cret-pw@127.0.0.1:1/portcullis",
        )
        .env_remove("PORTCULLIS_CONFIG")
        .env_remove("PORTCULLIS_ISSUER")
        .output()
        .unwrap();
    assert_usage_error(&out, "for PostgreSQL use pg_dump");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
    assert!(!dir.path().join("b.db").exists(), "nothing written");
}

#[test]
fn completions_and_the_manual_page_are_generated_from_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(binary())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains("portcullis"), "{shell}: {script}");
        assert!(
            script.contains("rotate-secret"),
            "{shell}: subcommands are listed"
        );
    }
    let out = Command::new(binary()).arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(
        page.starts_with(".ie") || page.contains(".TH portcullis"),
        "{page}"
    );
    assert!(page.contains("authorization server"), "{page}");
    let out = Command::new(binary())
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}

/// `portcullis config check` (issue 18 item 3): the resolved configuration with secrets
/// hidden, a warning per unwise setting naming the key; `--strict` turns them into exit
/// status 1; a configuration that does not load is exit status 2.
#[test]
fn config_check_prints_the_resolved_config_and_warns_by_key() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::TempDir::new().unwrap();
    let file = dir.path().join("portcullis.toml");
    std::fs::write(
        &file,
        "issuer = \"https://id.example.com\"\n[tokens]\naccess_token_ttl = 7200\n[[users]]\nusername = \"alice\"\npassword = \"alice-password-1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["config", "check", "--config", file.to_str().unwrap()];
        args.extend_from_slice(extra);
        Command::new(binary())
            .args(&args)
            .env(
                "PORTCULLIS_MASTER_KEY",
                "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
            )
            .env(
                "PORTCULLIS_DATABASE_URL",
                format!("sqlite://{}/db/portcullis.db", dir.path().display()),
            )
            .env_remove("PORTCULLIS_ISSUER")
            .env_remove("PORTCULLIS_CONFIG")
            .env_remove("PORTCULLIS_MASTER_KEY_FILE")
            .output()
            .unwrap()
    };
    let out = run(&[]);
    let printed = json_out(&out);
    let keys: Vec<&str> = printed["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        [
            "configuration file",
            "trusted_proxies",
            "tokens.access_token_ttl"
        ]
    );
    assert_eq!(printed["configuration"]["issuer"], "https://id.example.com");
    assert_eq!(printed["configuration"]["users"][0]["password"], "***");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("alice-password-1"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: tokens.access_token_ttl: is 7200 s, above one hour"),
        "{stderr}"
    );
    assert!(!dir.path().join("db").exists(), "a check creates nothing");
    let out = run(&["--strict"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("3 warning(s) and --strict"));
    std::fs::write(
        &file,
        "issuer = \"https://id.example.com\"\nno_such_key = 1\n",
    )
    .unwrap();
    assert_usage_error(&run(&[]), "no_such_key");
}
