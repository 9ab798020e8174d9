//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, RFC 7521 §4.2, OIDC
//! Core §9; issue 15 item 1): every check refuses with one generic 401
//! `invalid_client` (the audit log has the precise reason; core's unit tests pin
//! each reason), a client registered for keys cannot use a secret and the reverse,
//! Basic plus an assertion is `invalid_request`, and the method works at the token,
//! introspection, revocation and device authorization endpoints. The independent
//! client is **authlib** (PyPI), run by `tests/authlib/private_key_jwt.py`.

use crate::support::{API, SVC_SECRET, TestApp, binary, pinned, verify_access_token};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portcullis_core::Clock;
use portcullis_proto::grant::JWT_BEARER_CLIENT_ASSERTION_TYPE as JWT_BEARER;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A P-256 test key (PKCS#8 PEM); its public half is `ec-1` in [`CONFIG`].
pub const EC_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgW/oiZSAx4qngv0FE
Y69Rp0Y1ffj6YvHzW63qWPjHb5GhRANCAAS5q90ynelHPrGgtBNiwpeaW64+MGTI
4loeqT8+2U96gWnXzrGQiGTNZJ3oh8+NfigrifrMDSSAiG6fND3OTiiM
-----END PRIVATE KEY-----
";
/// An Ed25519 test key (PKCS#8 PEM); its public half is `ed-1` in [`CONFIG`].
const ED_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJg2pHXLAxi1K9kqS+vIcS7xz3RHmpeprgCvPnYg2mbR
-----END PRIVATE KEY-----
";
/// Another P-256 key, registered nowhere.
const STRANGER_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgia3q9Db+k98wHx6R
0l8EWU9dkLWgXldAZrt42m74UBOhRANCAATl6DBbMNKVwT96hYZM2KY1uH35/VUr
ho0srVr+0sXJSGcGnyrtpeN9fdNWFctBuVLAGp6ddl4pF1fzfxUxRKX+
-----END PRIVATE KEY-----
";

/// The key client `keyed` (its two public keys), and `svc` with a secret.
pub const KEYED_CLIENT: &str = r#"
[[clients]]
client_id = "keyed"
token_endpoint_auth_method = "private_key_jwt"
jwks = { keys = [
  { kty = "EC", crv = "P-256", kid = "ec-1", x = "uavdMp3pRz6xoLQTYsKXmluuPjBkyOJaHqk_PtlPeoE", y = "adfOsZCIZM1kneiHz41-KCuJ-swNJICIbp80Pc5OKIw" },
  { kty = "OKP", crv = "Ed25519", kid = "ed-1", x = "pseaLSB7YmozmgsYCW29d5HRBDantAnLHL-coNEQO4U" },
] }
grant_types = ["client_credentials", "urn:ietf:params:oauth:grant-type:device_code"]
scopes = ["openid", "read:orders"]
audiences = ["https://api.example.com"]
introspection_audiences = ["https://api.example.com"]
"#;

const CONFIG: &str = r#"
[tokens]
access_token_ttl = 900

[[clients]]
client_id = "svc"
client_secret = "svc-secret-0123456789abcdefghijklmnop"
grant_types = ["client_credentials"]
scopes = ["read:orders"]
audiences = ["https://api.example.com"]
"#;

const CC: (&str, &str) = ("grant_type", "client_credentials");
const FAILED: &str = "client authentication failed";
const CHALLENGE: &str = r#"Basic realm="portcullis", charset="UTF-8""#;

async fn start() -> TestApp {
    TestApp::start_in(TempDir::new().unwrap(), &format!("{CONFIG}{KEYED_CLIENT}")).await
}

/// Claims of a valid assertion of `keyed` to the issuer, issued at the server's now.
fn claims(app: &TestApp, jti: &str) -> Value {
    let now = app.clock.now();
    json!({
        "iss": "keyed", "sub": "keyed", "aud": app.base,
        "iat": now, "exp": now + 60, "jti": jti,
    })
}

/// `claims` signed with `pem` (ES256 or EdDSA) under `kid`.
fn sign(pem: &str, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let key = match alg {
        Algorithm::EdDSA => EncodingKey::from_ed_der(&pem_der(pem)),
        _ => EncodingKey::from_ec_der(&pem_der(pem)),
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// The DER inside a PKCS#8 PEM block (jsonwebtoken's PEM reader is not built in).
pub fn pem_der(pem: &str) -> Vec<u8> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

/// `claims` signed with the registered EC key `ec-1`.
fn es256(claims: &Value) -> String {
    sign(EC_PEM, Algorithm::ES256, Some("ec-1"), claims)
}

/// POSTs client credentials with `assertion` (and any `extra` parameters) to `path`.
async fn post(
    app: &TestApp,
    path: &str,
    assertion: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    form.extend_from_slice(extra);
    app.http
        .post(app.url(path))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// Asserts the one generic refusal: 401 `invalid_client` with the Basic challenge.
async fn refused(r: reqwest::Response) {
    let headers = pinned(
        r,
        401,
        json!({"error": "invalid_client", "error_description": FAILED}),
    )
    .await;
    assert_eq!(headers["www-authenticate"], CHALLENGE);
}

/// A token request with `claims` (changed by `edit`) signed by `ec-1` is refused.
async fn refuses_claims(edit: impl FnOnce(&mut Value)) {
    let app = start().await;
    let mut c = claims(&app, "edited");
    edit(&mut c);
    refused(post(&app, "/token", &es256(&c), &[CC]).await).await;
}

#[tokio::test]
async fn private_key_jwt_client_gets_a_token_with_the_issuer_as_audience() {
    let app = start().await;
    let r = post(&app, "/token", &es256(&claims(&app, "one")), &[CC]).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let token = verify_access_token(
        body["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        API,
    );
    assert_eq!(
        (token["sub"].clone(), token["client_id"].clone()),
        (json!("keyed"), json!("keyed"))
    );
}

#[tokio::test]
async fn accepts_the_token_endpoint_url_as_audience_and_an_eddsa_key_without_kid() {
    let app = start().await;
    let mut c = claims(&app, "endpoint");
    c["aud"] = json!(app.url("/token"));
    let r = post(&app, "/token", &es256(&c), &[CC]).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = post(
        &app,
        "/token",
        &sign(ED_PEM, Algorithm::EdDSA, None, &claims(&app, "ed")),
        &[CC, ("client_id", "keyed")],
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn rejects_an_assertion_type_other_than_jwt_bearer() {
    let app = start().await;
    let assertion = es256(&claims(&app, "type"));
    let r = app
        .http
        .post(app.url("/token"))
        .form(&[
            CC,
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            ),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .unwrap();
    refused(r).await;
}

#[tokio::test]
async fn rejects_an_assertion_with_alg_none() {
    use base64::Engine;
    let app = start().await;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": "ec-1"})),
        b64(&claims(&app, "none"))
    );
    refused(post(&app, "/token", &none, &[CC]).await).await;
}

#[tokio::test]
async fn rejects_an_hmac_assertion_keyed_with_the_public_key() {
    // Algorithm confusion: HS256 "signed" with the public key's coordinates as secret.
    let app = start().await;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("ec-1".into());
    let forged = jsonwebtoken::encode(
        &header,
        &claims(&app, "hs"),
        &EncodingKey::from_secret(b"uavdMp3pRz6xoLQTYsKXmluuPjBkyOJaHqk_PtlPeoE"),
    )
    .unwrap();
    refused(post(&app, "/token", &forged, &[CC]).await).await;
}

#[tokio::test]
async fn rejects_an_alg_that_does_not_fit_the_key() {
    // EdDSA under the kid of the EC key (RFC 8725 §3.1): signed with the Ed25519 key.
    let app = start().await;
    let mismatched = sign(ED_PEM, Algorithm::EdDSA, Some("ec-1"), &claims(&app, "mix"));
    refused(post(&app, "/token", &mismatched, &[CC]).await).await;
}

#[tokio::test]
async fn rejects_an_assertion_signed_by_another_key() {
    let app = start().await;
    let foreign = sign(
        STRANGER_PEM,
        Algorithm::ES256,
        Some("ec-1"),
        &claims(&app, "f"),
    );
    refused(post(&app, "/token", &foreign, &[CC]).await).await;
}

#[tokio::test]
async fn rejects_an_unknown_kid() {
    let app = start().await;
    let unknown = sign(EC_PEM, Algorithm::ES256, Some("ec-9"), &claims(&app, "kid"));
    refused(post(&app, "/token", &unknown, &[CC]).await).await;
}

#[tokio::test]
async fn rejects_an_iss_other_than_the_client() {
    refuses_claims(|c| c["iss"] = json!("svc")).await;
}

#[tokio::test]
async fn rejects_an_assertion_without_sub() {
    refuses_claims(|c| {
        c.as_object_mut().unwrap().remove("sub");
    })
    .await;
}

#[tokio::test]
async fn rejects_a_body_client_id_that_differs_from_the_assertion() {
    let app = start().await;
    let r = post(
        &app,
        "/token",
        &es256(&claims(&app, "id")),
        &[CC, ("client_id", "svc")],
    )
    .await;
    refused(r).await;
}

#[tokio::test]
async fn rejects_an_audience_that_is_not_this_server() {
    refuses_claims(|c| c["aud"] = json!("https://other-issuer.example")).await;
}

#[tokio::test]
async fn rejects_an_assertion_without_exp() {
    refuses_claims(|c| {
        c.as_object_mut().unwrap().remove("exp");
    })
    .await;
}

#[tokio::test]
async fn rejects_an_expired_assertion_stepping_over_exp_plus_skew() {
    let app = start().await;
    let now = app.clock.now();
    let skew = portcullis_server::app::access_token::CLOCK_SKEW_SECONDS;
    let mut c = claims(&app, "last-second");
    c["exp"] = json!(now - skew + 1);
    assert_eq!(post(&app, "/token", &es256(&c), &[CC]).await.status(), 200);
    let mut c = claims(&app, "expired");
    c["exp"] = json!(now - skew);
    refused(post(&app, "/token", &es256(&c), &[CC]).await).await;
}

#[tokio::test]
async fn rejects_an_exp_beyond_the_lifetime_bound() {
    use portcullis_core::client::authentication::assertion::MAX_ASSERTION_LIFETIME_SECONDS as MAX;
    let app = start().await;
    let now = app.clock.now();
    let skew = portcullis_server::app::access_token::CLOCK_SKEW_SECONDS;
    let mut c = claims(&app, "longest");
    c["exp"] = json!(now + MAX + skew);
    assert_eq!(post(&app, "/token", &es256(&c), &[CC]).await.status(), 200);
    let mut c = claims(&app, "too-long");
    c["exp"] = json!(now + MAX + skew + 1);
    refused(post(&app, "/token", &es256(&c), &[CC]).await).await;
}

#[tokio::test]
async fn rejects_an_assertion_not_yet_valid() {
    refuses_claims(|c| c["nbf"] = json!(c["iat"].as_i64().unwrap() + 60)).await;
}

#[tokio::test]
async fn rejects_an_assertion_issued_in_the_future() {
    refuses_claims(|c| c["iat"] = json!(c["iat"].as_i64().unwrap() + 60)).await;
}

#[tokio::test]
async fn rejects_an_assertion_without_jti() {
    refuses_claims(|c| {
        c.as_object_mut().unwrap().remove("jti");
    })
    .await;
}

#[tokio::test]
async fn rejects_a_replayed_jti() {
    let app = start().await;
    let assertion = es256(&claims(&app, "once"));
    assert_eq!(post(&app, "/token", &assertion, &[CC]).await.status(), 200);
    refused(post(&app, "/token", &assertion, &[CC]).await).await;
    // A fresh assertion with the same jti is the same replay.
    let mut c = claims(&app, "once");
    c["exp"] = json!(app.clock.now() + 30);
    refused(post(&app, "/token", &es256(&c), &[CC]).await).await;
}

#[tokio::test]
async fn rejects_a_secret_for_a_private_key_jwt_client() {
    let app = start().await;
    let r = app.post_token(&[CC], Some(("keyed", SVC_SECRET))).await;
    refused(r).await;
    let r = app
        .post_token(
            &[CC, ("client_id", "keyed"), ("client_secret", SVC_SECRET)],
            None,
        )
        .await;
    refused(r).await;
    let r = app.post_token(&[CC, ("client_id", "keyed")], None).await;
    refused(r).await;
}

#[tokio::test]
async fn rejects_an_assertion_for_a_secret_client() {
    let app = start().await;
    let mut c = claims(&app, "secret-client");
    c["iss"] = json!("svc");
    c["sub"] = json!("svc");
    refused(post(&app, "/token", &es256(&c), &[CC]).await).await;
}

#[tokio::test]
async fn rejects_basic_and_an_assertion_together() {
    let app = start().await;
    let assertion = es256(&claims(&app, "both"));
    let r = app
        .http
        .post(app.url("/token"))
        .header(
            "authorization",
            crate::support::basic_header("svc", SVC_SECRET),
        )
        .form(&[
            CC,
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .unwrap();
    pinned(
        r,
        400,
        json!({
            "error": "invalid_request",
            "error_description": "use one client authentication method: an Authorization header, client_secret or client_assertion, not several"
        }),
    )
    .await;
}

#[tokio::test]
async fn rejects_client_secret_and_an_assertion_together() {
    let app = start().await;
    let assertion = es256(&claims(&app, "both-body"));
    let r = post(
        &app,
        "/token",
        &assertion,
        &[CC, ("client_secret", SVC_SECRET)],
    )
    .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn private_key_jwt_authenticates_at_introspection_revocation_and_device_authorization() {
    let app = start().await;
    let r = post(&app, "/token", &es256(&claims(&app, "t")), &[CC]).await;
    let token = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = post(
        &app,
        "/introspect",
        &es256(&claims(&app, "i")),
        &[("token", &token)],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
    let r = post(
        &app,
        "/device_authorization",
        &es256(&claims(&app, "d")),
        &[("scope", "openid")],
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = post(
        &app,
        "/revoke",
        &es256(&claims(&app, "r")),
        &[("token", &token)],
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = post(
        &app,
        "/introspect",
        &es256(&claims(&app, "i2")),
        &[("token", &token)],
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["active"], false);
    // A refused assertion at introspection is the same generic 401.
    let mut c = claims(&app, "i3");
    c["aud"] = json!("https://elsewhere.example");
    refused(post(&app, "/introspect", &es256(&c), &[("token", &token)]).await).await;
}

#[tokio::test]
async fn discovery_advertises_private_key_jwt_and_its_algorithms() {
    let app = start().await;
    let metadata: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let algs = json!(["ES256", "PS256", "RS256", "EdDSA"]);
    for endpoint in ["token", "introspection", "revocation"] {
        let methods = &metadata[format!("{endpoint}_endpoint_auth_methods_supported")];
        assert!(
            methods
                .as_array()
                .unwrap()
                .contains(&json!("private_key_jwt")),
            "{endpoint}: {methods}"
        );
        assert_eq!(
            metadata[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")],
            algs,
            "{endpoint}"
        );
    }
}

#[tokio::test]
async fn cli_token_client_credentials_signs_with_a_private_key() {
    let app = start().await;
    let dir = TempDir::new().unwrap();
    let pem = dir.path().join("client.pem");
    std::fs::write(&pem, EC_PEM).unwrap();
    let issuer = app.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(binary())
            .args(["token", "client-credentials", "--issuer", &issuer])
            .args(["--client-id", "keyed", "--kid", "ec-1", "--private-key"])
            .arg(&pem)
            .env_remove("PORTCULLIS_CLIENT_SECRET")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let body: Value = serde_json::from_slice(&output.stdout).unwrap();
    let token = verify_access_token(
        body["access_token"].as_str().unwrap(),
        &app.jwks().await,
        &app.base,
        API,
    );
    assert_eq!(token["client_id"], "keyed");
}

/// authlib's `PrivateKeyJWT` (its defaults: `aud` is the token endpoint URL, a one-hour
/// `exp`, a random `jti`) gets client credentials tokens twice; each verifies.
#[tokio::test]
async fn authlib_private_key_jwt_client_credentials() {
    let Some(python) = python_with_authlib("authlib_private_key_jwt_client_credentials") else {
        return;
    };
    let app = start().await;
    let dir = TempDir::new().unwrap();
    let pem = dir.path().join("client.pem");
    std::fs::write(&pem, EC_PEM).unwrap();
    let script = script_dir().join("private_key_jwt.py");
    let token_endpoint = app.url("/token");
    let output = tokio::process::Command::new(python)
        .arg(&script)
        .env("TOKEN_ENDPOINT", &token_endpoint)
        .env("CLIENT_ID", "keyed")
        .env("KID", "ec-1")
        .env("PRIVATE_KEY_FILE", &pem)
        .env("SCOPE", "read:orders")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "authlib script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let jwks = app.jwks().await;
    for tokens in report["tokens"].as_array().unwrap() {
        let claims = verify_access_token(
            tokens["access_token"].as_str().unwrap(),
            &jwks,
            &app.base,
            API,
        );
        assert_eq!(claims["client_id"], "keyed");
        assert_eq!(claims["scope"], "read:orders");
    }
    assert_eq!(report["tokens"].as_array().unwrap().len(), 2);
}

/// `python3` with authlib importable, or `None` after printing why `test` is skipped:
/// only when python3 itself is missing. A missing authlib fails the test, naming the
/// install command (CI installs it in `.ci/run`).
fn python_with_authlib(test: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let Some(python) = std::env::split_paths(&path)
        .map(|dir| dir.join("python3"))
        .find(|candidate| candidate.is_file())
    else {
        println!("skipped: {test} (python3 is not installed)");
        return None;
    };
    let importable = std::process::Command::new(&python)
        .args(["-c", "import authlib, requests"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        importable,
        "{test}: authlib is not installed (`python3 -m pip install authlib requests`)"
    );
    Some(python)
}

fn script_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/authlib")
}

#[tokio::test]
async fn cli_client_create_registers_a_key_client_and_shows_its_thumbprints() {
    use crate::cli::{cli, json_out};
    let app = start().await;
    let dir = TempDir::new().unwrap();
    let jwks = dir.path().join("keys.json");
    let public = json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "kid": "ec-1",
        "x": "uavdMp3pRz6xoLQTYsKXmluuPjBkyOJaHqk_PtlPeoE",
        "y": "adfOsZCIZM1kneiHz41-KCuJ-swNJICIbp80Pc5OKIw"
    }]});
    std::fs::write(&jwks, public.to_string()).unwrap();
    let jwks_arg = jwks.to_str().unwrap();
    let created = json_out(&cli(
        &app,
        &[
            "client",
            "create",
            "--client-id",
            "cli-keyed",
            "--auth-method",
            "private-key-jwt",
            "--jwks-file",
            jwks_arg,
            "--grant-type",
            "client_credentials",
            "--audience",
            API,
        ],
        None,
    ));
    assert!(
        created.get("client_secret").is_none(),
        "a key client has no secret"
    );
    assert_eq!(created["token_endpoint_auth_method"], "private_key_jwt");
    // RFC 7638 thumbprint of the key (authlib computes the same as its default kid).
    assert_eq!(
        created["jwk_thumbprints"],
        json!(["zsozIdFDNUj1O-atS7CeQP-pPSxRJiMvcujN2nIfJ30"])
    );
    let shown = json_out(&cli(&app, &["client", "show", "cli-keyed"], None));
    assert_eq!(shown["jwk_thumbprints"], created["jwk_thumbprints"]);
    let mut c = claims(&app, "cli-keyed");
    c["iss"] = json!("cli-keyed");
    c["sub"] = json!("cli-keyed");
    assert_eq!(post(&app, "/token", &es256(&c), &[CC]).await.status(), 200);

    // A private member in the file is refused, naming it.
    let mut private = public.clone();
    private["keys"][0]["d"] = json!("W_oiZSAx4qngv0FEY69Rp0Y1ffj6YvHzW63qWPjHb5E");
    std::fs::write(&jwks, private.to_string()).unwrap();
    let out = cli(
        &app,
        &[
            "client",
            "create",
            "--client-id",
            "leaky",
            "--auth-method",
            "private-key-jwt",
            "--jwks-file",
            jwks_arg,
            "--grant-type",
            "client_credentials",
            "--audience",
            API,
        ],
        None,
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("client `leaky`: `jwks` key 0: has the private key member `d`"),
        "{stderr}"
    );
}

/// RFC 9126 §2: the pushed authorization request endpoint authenticates clients as
/// the token endpoint does, so a `private_key_jwt` client pushes with an assertion
/// (and a replayed one is refused there too).
#[tokio::test]
async fn private_key_jwt_authenticates_at_the_pushed_authorization_request_endpoint() {
    let web_client = KEYED_CLIENT
        .replace("client_id = \"keyed\"", "client_id = \"keyed-web\"")
        .replace(
            "grant_types = [\"client_credentials\", \"urn:ietf:params:oauth:grant-type:device_code\"]",
            "grant_types = [\"authorization_code\"]\nredirect_uris = [\"https://keyed.example.com/cb\"]",
        );
    let app = TestApp::start_in(TempDir::new().unwrap(), &format!("{CONFIG}{web_client}")).await;
    let now = app.clock.now();
    let assertion = es256(&json!({
        "iss": "keyed-web", "sub": "keyed-web", "aud": app.base,
        "iat": now, "exp": now + 60, "jti": "par-1",
    }));
    let (challenge, _) = crate::flow::pkce();
    let request = [
        ("response_type", "code"),
        ("client_id", "keyed-web"),
        ("redirect_uri", "https://keyed.example.com/cb"),
        ("scope", "openid"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let r = post(&app, "/par", &assertion, &request).await;
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["request_uri"]
            .as_str()
            .unwrap()
            .starts_with("urn:ietf:params:oauth:request_uri:"),
        "{body}"
    );
    // The same assertion again: its jti is spent.
    refused(post(&app, "/par", &assertion, &request).await).await;
}
