//! `portcullis selftest URL` (issue 18 item 4): the real binary against a running
//! Portcullis (every check passes; plain http on loopback only warns and skips TLS),
//! and against a deliberately misconfigured server (each check fails, named by id).

use crate::cimd::server::{Canned, DocServer, TestCa};
use crate::cli_client::{stderr_of, stdout_of};
use crate::support::{TestApp, WEB_SECRET};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Output;

/// The redirect URI of `web` in the test support's base configuration.
const WEB_REDIRECT: &str = "https://app.example.com/callback";
/// Every check id, in report order.
const ALL_IDS: [&str; 26] = [
    "metadata.fetch",
    "metadata.issuer_matches",
    "metadata.https_endpoints",
    "metadata.required_fields",
    "metadata.pkce_s256",
    "metadata.no_implicit",
    "metadata.grant_types",
    "jwks.fetch",
    "jwks.no_private_members",
    "jwks.kids_unique",
    "jwks.advertised_algs_have_keys",
    "pkce.required",
    "pkce.plain_refused",
    "grant.implicit_refused",
    "redirect_uri.exact_match",
    "iss.advertised",
    "iss.in_error_response",
    "grant.password_refused",
    "headers.token_error_no_store",
    "errors.json_charset",
    "cors.token_endpoint",
    "cors.authorize_endpoint",
    "tls.version",
    "tls.hsts",
    "headers.login_page",
    "errors.html_not_reflected",
];

/// Runs `portcullis selftest` with `args` (JSON output) and the client secret in the
/// environment when given.
async fn selftest(args: &[&str], secret: Option<&str>) -> Output {
    let env: Vec<(&str, &str)> = secret
        .map(|s| vec![("PORTCULLIS_SELFTEST_CLIENT_SECRET", s)])
        .unwrap_or_default();
    selftest_with(args, &env).await
}

/// Runs `portcullis selftest` with `args` (JSON output) and `env` added.
async fn selftest_with(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec!["selftest", "--output", "json"];
    all.extend_from_slice(args);
    let mut command = crate::cli_client::command(&all, &[]);
    command
        .env_remove("PORTCULLIS_SELFTEST_CLIENT_SECRET")
        .envs(env.iter().copied());
    let child = command.spawn().unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("selftest finished in time")
        .unwrap()
}

/// The report's checks as id → (status, reason).
fn statuses(out: &Output) -> BTreeMap<String, (String, String)> {
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout_of(out), stderr_of(out)));
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                (
                    c["status"].as_str().unwrap().to_owned(),
                    c["reason"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect()
}

#[tokio::test]
async fn selftest_of_portcullis_passes_every_check_and_never_prints_the_secret() {
    let app = TestApp::start().await;
    let out = selftest(
        &[
            &app.base,
            "--client-id",
            "web",
            "--redirect-uri",
            WEB_REDIRECT,
        ],
        Some(WEB_SECRET),
    )
    .await;
    let checks = statuses(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{checks:#?}\n{}",
        stderr_of(&out)
    );
    let ids: Vec<&str> = checks.keys().map(String::as_str).collect();
    let mut expected = ALL_IDS.to_vec();
    expected.sort_unstable();
    assert_eq!(ids, expected);
    for (id, (status, reason)) in &checks {
        let want = match id.as_str() {
            // http on loopback: a development server, not an error.
            "metadata.https_endpoints" => "warn",
            "tls.version" | "tls.hsts" => "skip",
            _ => "pass",
        };
        assert_eq!(status, want, "{id}: {reason}");
    }
    for stream in [stdout_of(&out), stderr_of(&out)] {
        assert!(
            !stream.contains(WEB_SECRET),
            "the secret is printed: {stream}"
        );
    }
}

#[tokio::test]
async fn selftest_table_output_names_each_check_and_strict_fails_on_a_warning() {
    let app = TestApp::start().await;
    let mut command = crate::cli_client::command(&["selftest", &app.base], &[]);
    command.env_remove("PORTCULLIS_SELFTEST_CLIENT_SECRET");
    let out = command.spawn().unwrap().wait_with_output().await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let table = stdout_of(&out);
    assert!(
        table.starts_with(&format!("selftest of {}\n", app.base)),
        "{table}"
    );
    assert!(table.contains("pass  metadata.issuer_matches"), "{table}");
    assert!(
        table.contains("skip  pkce.required") && table.contains("needs --client-id"),
        "{table}"
    );
    let strict = selftest(&[&app.base, "--strict"], None).await;
    assert_eq!(strict.status.code(), Some(1), "{}", stderr_of(&strict));
    assert!(
        stderr_of(&strict).contains("--strict"),
        "{}",
        stderr_of(&strict)
    );
}

#[tokio::test]
async fn selftest_warns_instead_of_passing_when_no_probe_reaches_the_redirect_uri() {
    // A mistyped client: every probe gets the unknown-client page, which proves nothing
    // about PKCE or redirect matching.
    let app = TestApp::start().await;
    let out = selftest(
        &[
            &app.base,
            "--client-id",
            "nobody",
            "--redirect-uri",
            WEB_REDIRECT,
        ],
        None,
    )
    .await;
    let checks = statuses(&out);
    assert_eq!(out.status.code(), Some(0), "{checks:#?}");
    for id in [
        "pkce.required",
        "pkce.plain_refused",
        "grant.implicit_refused",
        "redirect_uri.exact_match",
    ] {
        let (status, reason) = &checks[id];
        assert_eq!(status, "warn", "{id}: {reason}");
        assert!(reason.contains("check --client-id"), "{id}: {reason}");
    }
    assert_eq!(checks["iss.in_error_response"].0, "skip");
}

#[tokio::test]
async fn selftest_fails_each_check_of_a_misconfigured_server() {
    let base = start_bad_server().await;
    let out = selftest(
        &[&base, "--client-id", "lax", "--redirect-uri", BAD_REDIRECT],
        None,
    )
    .await;
    let checks = statuses(&out);
    assert_eq!(out.status.code(), Some(1), "{checks:#?}");
    for id in [
        "metadata.issuer_matches",
        "metadata.https_endpoints",
        "metadata.pkce_s256",
        "metadata.no_implicit",
        "metadata.grant_types",
        "jwks.no_private_members",
        "jwks.kids_unique",
        "jwks.advertised_algs_have_keys",
        "pkce.required",
        "pkce.plain_refused",
        "grant.implicit_refused",
        "redirect_uri.exact_match",
        "iss.advertised",
        "grant.password_refused",
        "headers.token_error_no_store",
        "errors.json_charset",
        "cors.token_endpoint",
        "cors.authorize_endpoint",
        "headers.login_page",
        "errors.html_not_reflected",
    ] {
        let (status, reason) = &checks[id];
        assert_eq!(status, "fail", "{id}: {reason}");
    }
    assert!(checks["jwks.kids_unique"].1.contains("k1"));
    assert!(checks["jwks.advertised_algs_have_keys"].1.contains("RS256"));
    assert!(
        checks["redirect_uri.exact_match"]
            .1
            .contains("extra path segment")
    );
    assert!(checks["grant.implicit_refused"].1.contains("issued"));
    assert_eq!(checks["metadata.fetch"].0, "pass");
    assert_eq!(checks["tls.version"].0, "skip");
    assert_eq!(checks["tls.hsts"].0, "skip");
    // The made-up password and the crafted values are probes, not secrets; the report
    // never carries the access token the lax server hands out.
    assert!(
        !stdout_of(&out).contains("FAKE-ACCESS-TOKEN"),
        "{}",
        stdout_of(&out)
    );
}

#[tokio::test]
async fn selftest_fails_iss_in_error_response_without_iss() {
    let base = start_bad_server().await;
    let out = selftest(
        &[
            &base,
            "--client-id",
            "noiss",
            "--redirect-uri",
            BAD_REDIRECT,
        ],
        None,
    )
    .await;
    let checks = statuses(&out);
    let (status, reason) = &checks["iss.in_error_response"];
    assert_eq!(status, "fail", "{reason}");
    assert!(reason.contains("without iss"), "{reason}");
    // The same client refuses every PKCE and redirect probe.
    for id in [
        "pkce.required",
        "pkce.plain_refused",
        "redirect_uri.exact_match",
    ] {
        assert_eq!(checks[id].0, "pass", "{id}: {}", checks[id].1);
    }
}

#[tokio::test]
async fn selftest_fails_metadata_required_fields_of_a_sparse_document() {
    let base = start_bad_server().await;
    let sparse = format!("{base}/sparse");
    let out = selftest(&[&sparse], None).await;
    let checks = statuses(&out);
    assert_eq!(out.status.code(), Some(1), "{checks:#?}");
    let (status, reason) = &checks["metadata.required_fields"];
    assert_eq!(status, "fail", "{reason}");
    assert!(reason.contains("response_types_supported"), "{reason}");
    assert_eq!(checks["metadata.issuer_matches"].0, "pass");
    assert_eq!(checks["jwks.fetch"].0, "skip");
}

#[tokio::test]
async fn selftest_fails_metadata_fetch_without_a_document_and_exits_2_when_unreachable() {
    let base = start_bad_server().await;
    let out = selftest(&[&format!("{base}/nothing")], None).await;
    let checks = statuses(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(checks["metadata.fetch"].0, "fail", "{checks:#?}");
    assert_eq!(checks.len(), 1);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let out = selftest(&[&closed], None).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("no answer"), "{}", stderr_of(&out));
}

#[tokio::test]
async fn rejects_selftest_usage_errors_with_exit_2() {
    for (args, needle) in [
        (vec!["ftp://127.0.0.1"], "not an http(s) URL"),
        (vec!["not a url"], "not a URL"),
        (
            vec!["http://127.0.0.1:1", "--client-id", "web"],
            "--redirect-uri",
        ),
    ] {
        let out = selftest(&args, None).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr_of(&out));
        assert!(stderr_of(&out).contains(needle), "{}", stderr_of(&out));
        assert!(out.stdout.is_empty());
    }
}

#[tokio::test]
async fn selftest_fails_tls_hsts_over_https_with_a_short_max_age_and_reports_the_tls_version() {
    // An https issuer whose certificate the platform verifier trusts through
    // SSL_CERT_FILE (rustls-native-certs), sending HSTS for a minute only.
    let ca = TestCa::new();
    let server = DocServer::start(
        &ca,
        Canned::json("{}")
            .status(404)
            .header("Strict-Transport-Security", "max-age=60"),
    )
    .await;
    let issuer = server.url("");
    let document = json!({
        "issuer": issuer,
        "authorization_endpoint": server.url("/authorize"),
        "token_endpoint": server.url("/token"),
        "response_types_supported": ["code"],
    });
    server.answer(
        "/.well-known/oauth-authorization-server",
        Canned::json(&document.to_string()),
    );
    let ca_file = ca.ca_file();
    let out = selftest_with(&[&issuer], &[("SSL_CERT_FILE", ca_file.to_str().unwrap())]).await;
    let checks = statuses(&out);
    assert_eq!(out.status.code(), Some(1), "{checks:#?}");
    let (status, reason) = &checks["tls.version"];
    assert_eq!(status, "pass", "{reason}");
    assert!(reason == "TLS 1.3" || reason == "TLS 1.2", "{reason}");
    let (status, reason) = &checks["tls.hsts"];
    assert_eq!(status, "fail", "{reason}");
    assert!(reason.contains("max-age=60"), "{reason}");
    assert_eq!(checks["metadata.https_endpoints"].0, "pass");
}

/// The registered redirect URI of the misconfigured server's clients.
const BAD_REDIRECT: &str = "https://bad-client.example.com/callback";

/// Starts the misconfigured server on a loopback port; returns its base URL.
async fn start_bad_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = Router::new()
        .route("/.well-known/oauth-authorization-server", get(bad_metadata))
        .route(
            "/.well-known/oauth-authorization-server/sparse",
            get(sparse_metadata),
        )
        .route("/jwks", get(bad_jwks))
        .route("/authorize", any(bad_authorize))
        .route("/token", any(bad_token))
        .with_state(base.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

/// Wrong issuer, plain http off loopback, `plain` PKCE, implicit and password
/// advertised, no RFC 9207 flag, RS256 advertised without an RSA key.
async fn bad_metadata(State(base): State<String>) -> Response {
    axum::Json(json!({
        "issuer": "https://evil.example.com",
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "revocation_endpoint": "http://revoke.example.com/revoke",
        "response_types_supported": ["code", "token"],
        "grant_types_supported": ["authorization_code", "implicit", "password"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
    }))
    .into_response()
}

/// Without `response_types_supported` or `jwks_uri`.
async fn sparse_metadata(State(base): State<String>) -> Response {
    axum::Json(json!({
        "issuer": format!("{base}/sparse"),
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
    }))
    .into_response()
}

/// A private `d` and a duplicate `kid`.
async fn bad_jwks() -> Response {
    let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    let y = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    axum::Json(json!({"keys": [
        {"kty": "EC", "crv": "P-256", "kid": "k1", "x": x, "y": y,
         "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"},
        {"kty": "EC", "crv": "P-256", "kid": "k1", "x": x, "y": y},
    ]}))
    .into_response()
}

/// `lax` accepts anything starting with its redirect URI, without or with `plain`
/// PKCE, and hands out tokens for `response_type=token`; `noiss` refuses with error
/// redirects that lack `iss`; an unknown client gets a page reflecting its id. Every
/// answer allows any origin.
async fn bad_authorize(method: Method, RawQuery(query): RawQuery) -> Response {
    let params: BTreeMap<String, String> =
        form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let text = |name: &str| params.get(name).cloned().unwrap_or_default();
    let (client, redirect) = (text("client_id"), text("redirect_uri"));
    let mut response = if method == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else if client == "noiss" && redirect == BAD_REDIRECT {
        let to = format!(
            "{BAD_REDIRECT}?error=invalid_request&state={}",
            text("state")
        );
        redirect_to(&to)
    } else if client == "lax" && redirect.starts_with(BAD_REDIRECT) {
        if text("response_type") == "token" {
            redirect_to(&format!(
                "{redirect}#access_token=FAKE-ACCESS-TOKEN&token_type=Bearer"
            ))
        } else if redirect != BAD_REDIRECT {
            let separator = if redirect.contains('?') { '&' } else { '?' };
            redirect_to(&format!("{redirect}{separator}code=fake-code"))
        } else {
            redirect_to("/login")
        }
    } else {
        let page = format!("<html><body>Unknown client {client}</body></html>");
        (StatusCode::BAD_REQUEST, axum::response::Html(page)).into_response()
    };
    allow_any_origin(response.headers_mut());
    response
}

/// `invalid_grant` for the password grant (so it is supported), an echoing error for
/// anything else, no `Cache-Control`, and any origin with credentials.
async fn bad_token(method: Method, body: Bytes) -> Response {
    let mut response = if method == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
        let grant = form.get("grant_type").cloned().unwrap_or_default();
        let body = if grant == "password" {
            json!({"error": "invalid_grant", "error_description": "wrong password"})
        } else {
            json!({"error": "unsupported_grant_type", "error_description": format!("grant {grant} is not supported")})
        };
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    };
    allow_any_origin(response.headers_mut());
    response
}

fn redirect_to(location: &str) -> Response {
    // `Location` may hold the crafted redirect URI verbatim: this server is careless.
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn allow_any_origin(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
}
